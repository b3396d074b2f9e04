//! Creating realms and changing their settings.

use super::settings::changed_setting_value;
use super::users::{create_user, sync_full_members};
use super::{Context, CreateRealm, Outcome, Plan, Reply, UpdateRealm};
use crate::change::{Change, RealmPatch};
use crate::error::{Error, Result};
use crate::ids::{Actor, GroupId, Millis, RealmId};
use crate::model::{
    Group, GroupUpsert, Realm, RealmSetting, RetiredKey, Role, SettingDefault, SettingValue,
    SystemGroup,
};
use crate::permission::acting_user;
use crate::snapshot::Snapshot;
use crate::validate;
use std::sync::Arc;

/// The longest a rotated-out platform key keeps working: a week.
pub const MAX_PLATFORM_KEY_GRACE: Millis = 7 * 24 * 3600 * 1000;

/// Create a realm: its eight system groups (nested as Zulip nests them), its
/// settings at Zulip's defaults, and optionally its first owner.
pub fn create_realm(cmd: &CreateRealm, ctx: &mut Context) -> Result<(RealmId, Outcome)> {
    let realm_id = RealmId(ctx.fresh_id()?);
    let mut group_ids = Vec::with_capacity(SystemGroup::ALL.len());
    for _ in SystemGroup::ALL {
        group_ids.push(GroupId(ctx.fresh_id()?));
    }
    let system_id = |which: SystemGroup| group_ids[which.index()];
    let default_of = |setting: RealmSetting| match setting.config().default {
        SettingDefault::System(which) => SettingValue::Group(system_id(which)),
        SettingDefault::GroupCreator => SettingValue::Group(system_id(SystemGroup::Nobody)),
    };
    let realm = Realm {
        id: realm_id,
        name: cmd.name.clone(),
        created_at: ctx.now,
        settings: RealmSetting::ALL.map(default_of),
        waiting_period_days: 0,
        bots_may_manage_groups: false,
        group_upsert: GroupUpsert::default(),
        rate_limit: None,
        platform_key: None,
        retired_platform_key: None,
        tokens: Vec::new(),
        webhooks: Vec::new(),
    };
    let empty = Snapshot::empty(realm.clone());
    let mut plan = Plan::new(&empty, ctx.now);
    plan.push(Change::RealmCreated {
        realm: Box::new(realm),
    })?;
    let nobody = SettingValue::Group(system_id(SystemGroup::Nobody));
    for which in SystemGroup::ALL {
        let id = system_id(which);
        plan.push(Change::GroupCreated {
            group: Box::new(Group {
                id,
                key: Arc::from(which.name()),
                name: Arc::from(which.name()),
                description: which.description().to_string(),
                avatar_url: None,
                system: Some(which),
                deactivated: false,
                creator: None,
                created_at: ctx.now,
                updated_at: ctx.now,
                settings: std::array::from_fn(|_| nobody.clone()),
                members: Vec::new(),
                subgroups: which.direct_subgroup().map(system_id).into_iter().collect(),
                external_id: None,
            }),
        })?;
    }
    if let Some(owner) = &cmd.owner {
        create_user(&mut plan, Actor::Operator, owner, ctx)?;
    }
    Ok((realm_id, plan.finish(Reply::Realm(realm_id))))
}

pub(super) fn update_realm(plan: &mut Plan, actor: Actor, cmd: &UpdateRealm) -> Result<Reply> {
    // The administrator gate ran in `execute`.
    if let Some(user) = acting_user(&plan.snap, actor)? {
        let owner_only = !cmd.settings.is_empty()
            || cmd.waiting_period_days.is_some()
            || cmd.bots_may_manage_groups.is_some()
            || cmd.group_upsert.is_some()
            || cmd.rate_limit.is_some()
            || cmd.platform_key.is_some();
        if owner_only && user.role != Role::Owner {
            return Err(Error::MustBeOwner);
        }
    }
    let realm = plan.snap.realm().clone();
    let mut patch = RealmPatch::default();
    if let Some(name) = &cmd.name {
        let name = validate::realm_name(name)?;
        if name != realm.name {
            patch.name = Some(name);
        }
    }
    if let Some(days) = cmd
        .waiting_period_days
        .filter(|d| *d != realm.waiting_period_days)
    {
        patch.waiting_period_days = Some(days);
    }
    if let Some(flag) = cmd
        .bots_may_manage_groups
        .filter(|f| *f != realm.bots_may_manage_groups)
    {
        patch.bots_may_manage_groups = Some(flag);
    }
    if let Some(mode) = cmd.group_upsert.filter(|m| *m != realm.group_upsert) {
        patch.group_upsert = Some(mode);
    }
    if let Some(limit) = cmd.rate_limit.filter(|l| *l != realm.rate_limit) {
        if let Some(limit) = limit {
            validate::rate_limit(limit)?;
        }
        patch.rate_limit = Some(limit);
    }
    if let Some(key) = cmd.platform_key {
        if !(0..=MAX_PLATFORM_KEY_GRACE).contains(&cmd.platform_key_grace) {
            return Err(Error::Invalid {
                field: "platform_key_grace",
                reason: format!(
                    "a replaced platform key keeps working for 0 to {} seconds",
                    MAX_PLATFORM_KEY_GRACE / 1000
                ),
            });
        }
        patch.platform_key = Some(key);
        // Every rotation retires the key it replaces (with no grace, it ends
        // now), so at most the previous key ever works beside the new one.
        patch.retired_platform_key = realm.platform_key.map(|hash| RetiredKey {
            hash,
            until: plan.at + cmd.platform_key_grace,
        });
    }
    let mut settings = cmd.settings.clone();
    settings.sort_by_key(|(s, _)| *s);
    let mut setting_changes = Vec::new();
    for (setting, update) in &settings {
        let current = realm.setting(*setting);
        if let Some(value) = changed_setting_value(&plan.snap, current, update, &setting.config())?
        {
            setting_changes.push(Change::RealmSettingChanged {
                setting: *setting,
                value,
            });
        }
    }
    let waiting_changed = patch.waiting_period_days.is_some();
    if patch != RealmPatch::default() {
        plan.push(Change::RealmUpdated { patch })?;
    }
    for change in setting_changes {
        plan.push(change)?;
    }
    if waiting_changed {
        sync_full_members(plan)?;
    }
    Ok(Reply::Done)
}
