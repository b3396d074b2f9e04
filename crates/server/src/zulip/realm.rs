//! `PATCH /api/v1/realm` (the group-governing settings) and
//! `GET /api/v1/server_settings`.

use super::auth::ZulipUser;
use super::envelope::success;
use super::error::ZulipError;
use super::params::Params;
use super::{ZulipResult, FEATURE_LEVEL, ZULIP_VERSION};
use crate::limits::ByAddress;
use crate::AppState;
use axum::extract::State;
use cohort_core::command::UpdateRealm;
use cohort_core::permission::Gate;
use cohort_core::{Command, RealmSetting};
use serde_json::json;

/// `GET /server_settings`: unauthenticated; the Python client reads
/// `zulip_version` and `zulip_feature_level` from it when it starts.
pub async fn server_settings(_: ByAddress, params: Params) -> ZulipResult {
    Ok(success(
        &params,
        json!({
            "zulip_version": ZULIP_VERSION,
            "zulip_feature_level": FEATURE_LEVEL,
            "zulip_merge_base": "",
            "push_notifications_enabled": false,
            "is_incompatible": false,
            "email_auth_enabled": false,
            "require_email_format_usernames": true,
            "authentication_methods": {
                "password": false, "dev": false, "email": false, "ldap": false,
                "remoteuser": false, "github": false, "azuread": false, "gitlab": false,
                "google": false, "apple": false, "saml": false, "openid connect": false,
            },
            "external_authentication_methods": [],
            "realm_web_public_access_enabled": false,
        }),
    ))
}

/// `PATCH /realm`: `can_create_groups`, `can_manage_all_groups` (`{new, old}`),
/// `waiting_period_threshold`, `name`, and cohort's `bots_may_manage_groups`.
pub async fn update_realm(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    caller.gate(Gate::Administrator)?;
    let mut settings = Vec::new();
    for setting in RealmSetting::ALL {
        if let Some(update) = params.setting_update(setting.name())? {
            settings.push((setting, update));
        }
    }
    let name = params.string("name");
    let waiting_period_days = match params.int("waiting_period_threshold")? {
        None => None,
        Some(days) => Some(u32::try_from(days).map_err(|_| {
            ZulipError::bad_request("waiting_period_threshold is not a non-negative integer")
        })?),
    };
    let bots_may_manage_groups = params.bool("bots_may_manage_groups")?;
    let command = Command::UpdateRealm(UpdateRealm {
        name,
        settings,
        waiting_period_days,
        bots_may_manage_groups,
        ..UpdateRealm::default()
    });
    caller.execute(&state, command).await?;
    Ok(success(&params, json!({})))
}
