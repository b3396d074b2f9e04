//! Webhook endpoints: added, changed, rotated and removed by those who may
//! manage them (`permission::may_manage_webhooks`), recorded in the change log
//! so the audit trail says who pointed the realm's changes where. The
//! secrets come from the caller (the core makes no randomness); what is sent
//! and when is the sender's business (`server/src/webhooks/`).

use super::{CreateWebhook, Plan, Reply, RotateWebhookSecret, UpdateWebhook};
use crate::change::{Change, WebhookPatch};
use crate::error::{Error, Result};
use crate::ids::{Actor, Millis, WebhookId};
use crate::model::{Disabled, Webhook, WebhookSecret};
use crate::permission;
use crate::validate;

/// The longest an old secret may keep signing after a rotation.
pub const MAX_KEEP_OLD_SECRET: Millis = 7 * 24 * 3600 * 1000;

fn managed(plan: &Plan, actor: Actor, id: WebhookId) -> Result<&Webhook> {
    permission::may_manage_webhooks(&plan.snap, actor)?;
    plan.snap
        .realm()
        .webhook(id)
        .ok_or(Error::WebhookNotFound(id))
}

pub(super) fn create_webhook(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateWebhook,
    ctx: &mut super::Context,
) -> Result<Reply> {
    permission::may_manage_webhooks(&plan.snap, actor)?;
    validate::webhook_url(&cmd.url)?;
    validate::webhook_description(&cmd.description)?;
    validate::webhook_types(&cmd.types)?;
    if plan.snap.realm().live_webhooks().count() >= validate::MAX_WEBHOOKS {
        return Err(Error::TooManyWebhooks {
            max: validate::MAX_WEBHOOKS,
        });
    }
    let id = WebhookId(ctx.fresh_id()?);
    plan.push(Change::WebhookCreated {
        webhook: Box::new(Webhook {
            id,
            url: cmd.url.clone(),
            description: cmd.description.clone(),
            types: normalized(&cmd.types),
            secrets: vec![WebhookSecret {
                secret: cmd.secret.clone(),
                created_at: ctx.now,
                expires_at: None,
            }],
            created_at: ctx.now,
            disabled: None,
            removed_at: None,
        }),
    })?;
    Ok(Reply::Webhook(id))
}

fn normalized(types: &[String]) -> Vec<String> {
    let mut types = types.to_vec();
    types.sort_unstable();
    types.dedup();
    types
}

pub(super) fn update_webhook(
    plan: &mut Plan,
    actor: Actor,
    id: WebhookId,
    cmd: &UpdateWebhook,
) -> Result<Reply> {
    let webhook = managed(plan, actor, id)?;
    if let Some(url) = &cmd.url {
        validate::webhook_url(url)?;
    }
    if let Some(description) = &cmd.description {
        validate::webhook_description(description)?;
    }
    if let Some(types) = &cmd.types {
        validate::webhook_types(types)?;
    }
    // Only what differs, so the log and the events name real changes.
    let patch = WebhookPatch {
        url: cmd.url.clone().filter(|u| *u != webhook.url),
        description: cmd
            .description
            .clone()
            .filter(|d| *d != webhook.description),
        types: cmd
            .types
            .as_deref()
            .map(normalized)
            .filter(|t| *t != webhook.types),
        disabled: match (cmd.enabled, &webhook.disabled) {
            (Some(true), Some(_)) => Some(None),
            (Some(false), None) => Some(Some(Disabled {
                at: plan.at,
                reason: "disabled by an administrator".into(),
            })),
            _ => None,
        },
    };
    if patch != WebhookPatch::default() {
        plan.push(Change::WebhookUpdated { id, patch })?;
    }
    Ok(Reply::Webhook(id))
}

/// The sender's decision that an endpoint is gone (it answered 410).
pub(super) fn disable_webhook(
    plan: &mut Plan,
    actor: Actor,
    id: WebhookId,
    reason: &str,
) -> Result<Reply> {
    let webhook = managed(plan, actor, id)?;
    if webhook.disabled.is_none() {
        let patch = WebhookPatch {
            disabled: Some(Some(Disabled {
                at: plan.at,
                reason: reason.to_string(),
            })),
            ..WebhookPatch::default()
        };
        plan.push(Change::WebhookUpdated { id, patch })?;
    }
    Ok(Reply::Webhook(id))
}

pub(super) fn rotate_secret(
    plan: &mut Plan,
    actor: Actor,
    id: WebhookId,
    cmd: &RotateWebhookSecret,
) -> Result<Reply> {
    managed(plan, actor, id)?;
    if !(0..=MAX_KEEP_OLD_SECRET).contains(&cmd.keep_old_for) {
        return Err(Error::Invalid {
            field: "keep_old_for_seconds",
            reason: format!(
                "an old secret keeps signing for 0 to {} seconds",
                MAX_KEEP_OLD_SECRET / 1000
            ),
        });
    }
    let now = plan.at;
    plan.push(Change::WebhookSecretRotated {
        id,
        secret: WebhookSecret {
            secret: cmd.secret.clone(),
            created_at: now,
            expires_at: None,
        },
        old_expire_at: now + cmd.keep_old_for,
    })?;
    Ok(Reply::Webhook(id))
}

pub(super) fn remove_webhook(plan: &mut Plan, actor: Actor, id: WebhookId) -> Result<Reply> {
    managed(plan, actor, id)?;
    plan.push(Change::WebhookRemoved { id })?;
    Ok(Reply::Webhook(id))
}
