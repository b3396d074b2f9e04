//! Commands: every write the directory accepts, checked against a snapshot.
//!
//! `execute` is pure: given a snapshot, an actor, a command, the time and a
//! source of fresh ids, it either refuses with a domain `Error` (nothing
//! changes) or returns the `Change`s to commit, the reply, and the snapshot as
//! it will be once those changes commit. Checks run in the order Zulip runs
//! them, so that the first error reported is the one Zulip would report.

use crate::change::{Change, GroupPatch, RealmPatch, UserPatch};
use crate::error::{Error, Objection, Result};
use crate::ids::{Actor, GroupId, KeyHash, Millis, RealmId, UserId};
use crate::model::{
    Group, GroupSetting, GroupUpsert, Principal, Realm, RealmSetting, Role, SettingConfig,
    SettingDefault, SettingValue, SystemGroup, User,
};
use crate::permission::{self, acting_user};
use crate::snapshot::Snapshot;
use crate::validate;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Fresh ids for new users, groups and realms, reserved by the store in advance
/// (see `Command::ids_needed`).
pub trait IdSource {
    fn next_id(&mut self) -> Option<i64>;
}

impl IdSource for std::vec::IntoIter<i64> {
    fn next_id(&mut self) -> Option<i64> {
        self.next()
    }
}

pub struct Context<'a> {
    pub now: Millis,
    pub ids: &'a mut dyn IdSource,
}

impl Context<'_> {
    fn fresh_id(&mut self) -> Result<i64> {
        self.ids
            .next_id()
            .ok_or_else(|| Error::Internal("no reserved id left".into()))
    }
}

/// A permission setting as a client sent it: `{new, old}` in Zulip's PATCH form.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingUpdate {
    pub new: SettingValue,
    pub old: Option<SettingValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateGroup {
    pub name: String,
    pub description: String,
    pub members: Vec<UserId>,
    pub subgroups: Vec<GroupId>,
    /// Values as sent; unset settings take their defaults.
    pub settings: Vec<(GroupSetting, SettingValue)>,
    /// IMKIT `_id`; generated when absent.
    pub key: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<Option<String>>,
    /// Zulip's `deactivated=false`.
    pub reactivate: bool,
    pub settings: Vec<(GroupSetting, SettingUpdate)>,
}

/// Zulip's `POST /user_groups/{id}/members` (and `/subgroups`): each list runs
/// in turn, add → delete → add_subgroups → delete_subgroups, all or nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeMembers {
    pub add: Vec<UserId>,
    pub delete: Vec<UserId>,
    pub add_subgroups: Vec<GroupId>,
    pub delete_subgroups: Vec<GroupId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateUser {
    pub email: Option<String>,
    pub full_name: String,
    pub role: Role,
    pub is_bot: bool,
    pub bot_owner: Option<UserId>,
    pub key: Option<String>,
    pub avatar_url: Option<String>,
    pub api_key: KeyHash,
    pub can_create_users: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateUser {
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub avatar_url: Option<Option<String>>,
    pub can_create_users: Option<bool>,
    pub api_key: Option<KeyHash>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateRealm {
    pub name: Option<String>,
    pub settings: Vec<(RealmSetting, SettingUpdate)>,
    pub waiting_period_days: Option<u32>,
    pub bots_may_manage_groups: Option<bool>,
    pub group_upsert: Option<GroupUpsert>,
    pub platform_key: Option<KeyHash>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateRealm {
    pub name: String,
    pub owner: Option<CreateUser>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreateGroup(CreateGroup),
    UpdateGroup(GroupId, UpdateGroup),
    DeactivateGroup(GroupId),
    ChangeMembers(GroupId, ChangeMembers),
    CreateUser(CreateUser),
    UpdateUser(UserId, UpdateUser),
    DeactivateUser(UserId),
    /// A user deactivating their own account.
    DeactivateSelf,
    ReactivateUser(UserId),
    UpdateRealm(UpdateRealm),
    /// Bring `role:fullmembers` in step with the waiting period (periodic job).
    SyncFullMembers,
}

impl Command {
    /// How many fresh ids the store must reserve before running this command.
    pub fn ids_needed(&self) -> usize {
        match self {
            Command::CreateGroup(_) | Command::CreateUser(_) => 1,
            _ => 0,
        }
    }
}

/// What a successful command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Done,
    Group(GroupId),
    User(UserId),
    Realm(RealmId),
}

/// A command's accepted result: the changes to commit, and the snapshot as it
/// will be once they are (its version still the old one until `seal`).
#[derive(Debug)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub reply: Reply,
    staged: Snapshot,
}

impl Outcome {
    /// The snapshot after the commit that carried these changes at `version`.
    pub fn seal(self, version: crate::ids::Version) -> Snapshot {
        let mut snap = self.staged;
        snap.set_version(version);
        snap
    }
}

/// Changes under construction, applied as they are added so that each later
/// check sees the effect of the earlier steps.
struct Plan {
    snap: Snapshot,
    changes: Vec<Change>,
    at: Millis,
}

impl Plan {
    fn new(snap: &Snapshot, at: Millis) -> Plan {
        Plan {
            snap: snap.clone(),
            changes: Vec::new(),
            at,
        }
    }

    fn push(&mut self, change: Change) -> Result<()> {
        self.snap
            .stage(&change, self.at)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.changes.push(change);
        Ok(())
    }

    fn finish(self, reply: Reply) -> Outcome {
        Outcome {
            changes: self.changes,
            reply,
            staged: self.snap,
        }
    }
}

pub fn execute(
    snap: &Snapshot,
    actor: Actor,
    command: &Command,
    ctx: &mut Context,
) -> Result<Outcome> {
    let mut plan = Plan::new(snap, ctx.now);
    // A user acting must exist and be active whatever the command.
    acting_user(snap, actor)?;
    let reply = match command {
        Command::CreateGroup(cmd) => create_group(&mut plan, actor, cmd, ctx)?,
        Command::UpdateGroup(id, cmd) => update_group(&mut plan, actor, *id, cmd)?,
        Command::DeactivateGroup(id) => deactivate_group(&mut plan, actor, *id)?,
        Command::ChangeMembers(id, cmd) => change_members(&mut plan, actor, *id, cmd)?,
        Command::CreateUser(cmd) => create_user(&mut plan, actor, cmd, ctx)?,
        Command::UpdateUser(id, cmd) => update_user(&mut plan, actor, *id, cmd)?,
        Command::DeactivateUser(id) => deactivate_user(&mut plan, actor, *id)?,
        Command::DeactivateSelf => deactivate_self(&mut plan, actor)?,
        Command::ReactivateUser(id) => reactivate_user(&mut plan, actor, *id)?,
        Command::UpdateRealm(cmd) => update_realm(&mut plan, actor, cmd)?,
        Command::SyncFullMembers => {
            sync_full_members(&mut plan)?;
            Reply::Done
        }
    };
    Ok(plan.finish(reply))
}

// ---------------------------------------------------------------- realms

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
        platform_key: None,
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
            }),
        })?;
    }
    if let Some(owner) = &cmd.owner {
        create_user(&mut plan, Actor::Operator, owner, ctx)?;
    }
    Ok((realm_id, plan.finish(Reply::Realm(realm_id))))
}

fn update_realm(plan: &mut Plan, actor: Actor, cmd: &UpdateRealm) -> Result<Reply> {
    if let Some(user) = acting_user(&plan.snap, actor)? {
        if !user.role.is_admin() {
            return Err(Error::MustBeAdmin);
        }
        let owner_only = !cmd.settings.is_empty()
            || cmd.waiting_period_days.is_some()
            || cmd.bots_may_manage_groups.is_some()
            || cmd.group_upsert.is_some()
            || cmd.platform_key.is_some();
        if owner_only && user.role != Role::Owner {
            return Err(Error::MustBeOwner);
        }
    }
    let realm = plan.snap.realm().clone();
    let mut patch = RealmPatch::default();
    if let Some(name) = &cmd.name {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        if name.chars().count() > 40 || name.contains('\0') {
            return Err(Error::Invalid {
                field: "name",
                reason: "must be at most 40 characters, without NUL".into(),
            });
        }
        if name != realm.name {
            patch.name = Some(name.to_string());
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
    patch.platform_key = cmd.platform_key;
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

// ---------------------------------------------------------------- settings

/// Zulip's canonical form: an anonymous value with one subgroup and no members
/// is that group; an empty one is `role:nobody`. Lists keep the sender's order
/// here (errors name the first bad entry); `sorted` finishes the job.
fn canonical_shape(snap: &Snapshot, value: &SettingValue) -> SettingValue {
    match value {
        SettingValue::Anonymous { members, subgroups } if members.is_empty() => {
            match subgroups.as_slice() {
                [single] => SettingValue::Group(*single),
                [] => match snap.system_group_id(SystemGroup::Nobody) {
                    Some(nobody) => SettingValue::Group(nobody),
                    None => value.clone(),
                },
                _ => value.clone(),
            }
        }
        _ => value.clone(),
    }
}

fn sorted(value: SettingValue) -> SettingValue {
    match value {
        SettingValue::Anonymous {
            mut members,
            mut subgroups,
        } => {
            members.sort_unstable();
            members.dedup();
            subgroups.sort_unstable();
            subgroups.dedup();
            SettingValue::Anonymous { members, subgroups }
        }
        named => named,
    }
}

/// The value as clients see it: deactivated users are left out.
pub fn visible_value(snap: &Snapshot, value: &SettingValue) -> SettingValue {
    match value {
        SettingValue::Group(id) => SettingValue::Group(*id),
        SettingValue::Anonymous { members, subgroups } => SettingValue::Anonymous {
            members: members
                .iter()
                .copied()
                .filter(|u| snap.is_active_user(*u))
                .collect(),
            subgroups: subgroups.clone(),
        },
    }
}

/// Zulip's equality: ids by value, anonymous values as sets; never across forms.
fn same_value(a: &SettingValue, b: &SettingValue) -> bool {
    sorted(a.clone()) == sorted(b.clone())
}

/// Check a new setting value (Zulip's `access_user_group_for_setting`) and return
/// it in canonical, sorted form.
fn checked_setting_value(
    snap: &Snapshot,
    value: &SettingValue,
    config: &SettingConfig,
) -> Result<SettingValue> {
    let value = canonical_shape(snap, value);
    match &value {
        SettingValue::Group(id) => {
            let group = snap.group(*id).ok_or(Error::GroupNotFound(*id))?;
            if group.deactivated {
                return Err(Error::GroupDeactivated(*id));
            }
            let not_allowed = || Error::SettingNotAllowed {
                setting: config.name,
                group: group.name.to_string(),
            };
            if config.require_system_group && !group.is_system() {
                return Err(Error::SystemGroupRequired {
                    setting: config.name,
                });
            }
            match group.system {
                Some(SystemGroup::Internet) if !config.allow_internet_group => {
                    return Err(not_allowed())
                }
                Some(SystemGroup::Nobody) if !config.allow_nobody_group => {
                    return Err(not_allowed())
                }
                Some(SystemGroup::Everyone) if !config.allow_everyone_group => {
                    return Err(not_allowed())
                }
                _ => {}
            }
        }
        SettingValue::Anonymous { members, subgroups } => {
            if config.require_system_group {
                return Err(Error::SystemGroupRequired {
                    setting: config.name,
                });
            }
            validate::id_list(config.name, members)?;
            validate::id_list(config.name, subgroups)?;
            for user in members {
                if !snap.is_active_user(*user) {
                    return Err(Error::InvalidMember(*user));
                }
            }
            for group in subgroups {
                if snap.group(*group).is_none() {
                    return Err(Error::SubgroupNotFound(*group));
                }
            }
            for group in subgroups.iter().collect::<BTreeSet<_>>() {
                if snap.group(*group).is_some_and(|g| g.deactivated) {
                    return Err(Error::GroupDeactivated(*group));
                }
            }
        }
    }
    Ok(sorted(value))
}

/// Zulip's `{new, old}` handling: refuse a stale `old`; `None` when `new` equals
/// the current value (nothing to do, not even validation).
fn changed_setting_value(
    snap: &Snapshot,
    current: &SettingValue,
    update: &SettingUpdate,
    config: &SettingConfig,
) -> Result<Option<SettingValue>> {
    let current = visible_value(snap, current);
    let new = canonical_shape(snap, &update.new);
    if let Some(old) = &update.old {
        if !same_value(&canonical_shape(snap, old), &current) {
            return Err(Error::SettingMismatch {
                setting: config.name,
            });
        }
    }
    if same_value(&new, &current) {
        return Ok(None);
    }
    checked_setting_value(snap, &new, config).map(Some)
}

// ---------------------------------------------------------------- groups

/// The IMKIT key of an object created without one: its id as a string, unless a
/// caller already took that string as a key.
fn default_key(snap: &Snapshot, id: i64, kind: &str) -> Arc<str> {
    let plain = id.to_string();
    if snap.principal(&plain).is_none() {
        return Arc::from(plain);
    }
    let mut n = 0u32;
    loop {
        let candidate = if n == 0 {
            format!("{kind}-{id}")
        } else {
            format!("{kind}-{id}-{n}")
        };
        if snap.principal(&candidate).is_none() {
            return Arc::from(candidate);
        }
        n += 1;
    }
}

fn chosen_key(snap: &Snapshot, key: &str) -> Result<Arc<str>> {
    validate::key(key)?;
    if snap.principal(key).is_some() {
        return Err(Error::KeyTaken(key.to_string()));
    }
    Ok(Arc::from(key))
}

fn create_group(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateGroup,
    ctx: &mut Context,
) -> Result<Reply> {
    let snap = &plan.snap;
    permission::check_can_create_groups(snap, actor)?;
    validate::id_list("members", &cmd.members)?;
    validate::id_list("subgroups", &cmd.subgroups)?;
    for user in &cmd.members {
        if !snap.is_active_user(*user) {
            return Err(Error::InvalidMember(*user));
        }
    }
    validate::group_name(&cmd.name)?;
    validate::description(&cmd.description)?;
    if let Some(url) = &cmd.avatar_url {
        validate::avatar_url(url)?;
    }
    let creator = match actor {
        Actor::User(id) => Some(id),
        _ => None,
    };
    let nobody = snap
        .system_group_id(SystemGroup::Nobody)
        .ok_or_else(|| Error::Internal("realm has no role:nobody".into()))?;
    let mut settings: [Option<SettingValue>; 6] = Default::default();
    let mut given = cmd.settings.clone();
    given.sort_by_key(|(s, _)| *s);
    for (setting, value) in &given {
        settings[setting.index()] = Some(checked_setting_value(snap, value, &setting.config())?);
    }
    if snap.group_by_name(&cmd.name).is_some() {
        return Err(Error::NameTaken(cmd.name.clone()));
    }
    let key = cmd
        .key
        .as_deref()
        .map(|k| chosen_key(snap, k))
        .transpose()?;
    for group in &cmd.subgroups {
        if snap.group(*group).is_none() {
            return Err(Error::SubgroupNotFound(*group));
        }
    }
    for group in cmd.subgroups.iter().collect::<BTreeSet<_>>() {
        if snap.group(*group).is_some_and(|g| g.deactivated) {
            return Err(Error::GroupDeactivated(*group));
        }
    }
    let id = GroupId(ctx.fresh_id()?);
    let settings = GroupSetting::ALL.map(|setting| {
        settings[setting.index()]
            .take()
            .unwrap_or_else(|| match setting.config().default {
                SettingDefault::System(which) => {
                    SettingValue::Group(snap.system_group_id(which).unwrap_or(nobody))
                }
                SettingDefault::GroupCreator => match creator {
                    Some(user) => SettingValue::Anonymous {
                        members: vec![user],
                        subgroups: Vec::new(),
                    },
                    None => SettingValue::Group(nobody),
                },
            })
    });
    let mut members = cmd.members.clone();
    members.sort_unstable();
    members.dedup();
    let mut subgroups = cmd.subgroups.clone();
    subgroups.sort_unstable();
    subgroups.dedup();
    let group = Group {
        id,
        key: key.unwrap_or_else(|| default_key(snap, id.0, "group")),
        name: Arc::from(cmd.name.as_str()),
        description: cmd.description.clone(),
        avatar_url: cmd.avatar_url.clone(),
        system: None,
        deactivated: false,
        creator,
        created_at: ctx.now,
        updated_at: ctx.now,
        settings,
        members,
        subgroups,
    };
    plan.push(Change::GroupCreated {
        group: Box::new(group),
    })?;
    Ok(Reply::Group(id))
}

fn update_group(plan: &mut Plan, actor: Actor, id: GroupId, cmd: &UpdateGroup) -> Result<Reply> {
    let snap = &plan.snap;
    let group =
        permission::group_for_update(snap, actor, id, GroupSetting::CanManageGroup, true)?.clone();
    let mut patch = GroupPatch::default();
    if let Some(name) = cmd.name.as_ref().filter(|n| n.as_str() != &*group.name) {
        validate::group_name(name)?;
        if snap.group_by_name(name).is_some() {
            return Err(Error::NameTaken(name.clone()));
        }
        patch.name = Some(name.clone());
    }
    if let Some(description) = cmd
        .description
        .as_ref()
        .filter(|d| **d != group.description)
    {
        validate::description(description)?;
        patch.description = Some(description.clone());
    }
    if let Some(avatar) = cmd.avatar_url.as_ref().filter(|a| **a != group.avatar_url) {
        if let Some(url) = avatar {
            validate::avatar_url(url)?;
        }
        patch.avatar_url = Some(avatar.clone());
    }
    if cmd.reactivate && group.deactivated {
        patch.deactivated = Some(false);
    }
    let mut settings = cmd.settings.clone();
    settings.sort_by_key(|(s, _)| *s);
    let mut changes = Vec::new();
    for (setting, update) in &settings {
        if let Some(value) =
            changed_setting_value(snap, group.setting(*setting), update, &setting.config())?
        {
            changes.push(Change::GroupSettingChanged {
                id,
                setting: *setting,
                value,
            });
        }
    }
    if !patch.is_empty() {
        plan.push(Change::GroupUpdated { id, patch })?;
    }
    for change in changes {
        plan.push(change)?;
    }
    Ok(Reply::Done)
}

/// Where a group is still referenced (Zulip's `check_user_group_can_be_deactivated`).
pub fn objections(snap: &Snapshot, id: GroupId) -> Vec<Objection> {
    let mut objections = Vec::new();
    let supergroup_ids: Vec<GroupId> = snap
        .groups()
        .filter(|g| !g.deactivated && g.has_subgroup(id))
        .map(|g| g.id)
        .collect();
    if !supergroup_ids.is_empty() {
        objections.push(Objection::Subgroup { supergroup_ids });
    }
    let uses = |value: &SettingValue| value.groups().contains(&id);
    for group in snap.groups().filter(|g| !g.deactivated) {
        let settings: Vec<GroupSetting> = GroupSetting::ALL
            .into_iter()
            .filter(|s| uses(group.setting(*s)))
            .collect();
        if !settings.is_empty() {
            objections.push(Objection::UserGroup {
                group_id: group.id,
                settings,
            });
        }
    }
    let realm_settings: Vec<RealmSetting> = RealmSetting::ALL
        .into_iter()
        .filter(|s| uses(snap.realm().setting(*s)))
        .collect();
    if !realm_settings.is_empty() {
        objections.push(Objection::Realm {
            settings: realm_settings,
        });
    }
    objections
}

fn deactivate_group(plan: &mut Plan, actor: Actor, id: GroupId) -> Result<Reply> {
    permission::group_for_update(&plan.snap, actor, id, GroupSetting::CanManageGroup, false)?;
    let objections = objections(&plan.snap, id);
    if !objections.is_empty() {
        return Err(Error::GroupInUse(objections));
    }
    plan.push(Change::GroupUpdated {
        id,
        patch: GroupPatch {
            deactivated: Some(true),
            ..GroupPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

fn unique(ids: &[UserId]) -> Vec<UserId> {
    let set: BTreeSet<UserId> = ids.iter().copied().collect();
    set.into_iter().collect()
}

fn unique_groups(ids: &[GroupId]) -> Vec<GroupId> {
    let set: BTreeSet<GroupId> = ids.iter().copied().collect();
    set.into_iter().collect()
}

fn change_members(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    cmd: &ChangeMembers,
) -> Result<Reply> {
    validate::id_list("add", &cmd.add)?;
    validate::id_list("delete", &cmd.delete)?;
    validate::id_list("add_subgroups", &cmd.add_subgroups)?;
    validate::id_list("delete_subgroups", &cmd.delete_subgroups)?;
    if !cmd.add.is_empty() {
        add_members(plan, actor, id, &cmd.add)?;
    }
    if !cmd.delete.is_empty() {
        remove_members(plan, actor, id, &cmd.delete)?;
    }
    if !cmd.add_subgroups.is_empty() {
        add_subgroups(plan, actor, id, &cmd.add_subgroups)?;
    }
    if !cmd.delete_subgroups.is_empty() {
        remove_subgroups(plan, actor, id, &cmd.delete_subgroups)?;
    }
    Ok(Reply::Done)
}

fn only_self(actor: Actor, ids: &[UserId]) -> bool {
    matches!((actor, ids), (Actor::User(me), [only]) if me == *only)
}

fn add_members(plan: &mut Plan, actor: Actor, id: GroupId, add: &[UserId]) -> Result<()> {
    let snap = &plan.snap;
    let group = permission::group_for_self_or_other(
        snap,
        actor,
        id,
        only_self(actor, add),
        GroupSetting::CanJoinGroup,
        GroupSetting::CanAddMembersGroup,
    )?;
    for user in add {
        if !snap.is_active_user(*user) {
            return Err(Error::InvalidMember(*user));
        }
    }
    let users = unique(add);
    if let Some(existing) = users.iter().find(|u| group.has_member(**u)) {
        return Err(Error::AlreadyMember(*existing));
    }
    plan.push(Change::MembersAdded { group: id, users })
}

fn remove_members(plan: &mut Plan, actor: Actor, id: GroupId, delete: &[UserId]) -> Result<()> {
    let snap = &plan.snap;
    for user in delete {
        if !snap.is_active_user(*user) {
            return Err(Error::InvalidMember(*user));
        }
    }
    let group = permission::group_for_self_or_other(
        snap,
        actor,
        id,
        only_self(actor, delete),
        GroupSetting::CanLeaveGroup,
        GroupSetting::CanRemoveMembersGroup,
    )?;
    if let Some(missing) = delete.iter().find(|u| !group.has_member(**u)) {
        return Err(Error::NotMember(*missing));
    }
    plan.push(Change::MembersRemoved {
        group: id,
        users: unique(delete),
    })
}

/// The listed groups must exist (first unknown one reported) and be active.
fn check_listed_groups(snap: &Snapshot, listed: &[GroupId]) -> Result<Vec<GroupId>> {
    if let Some(missing) = listed.iter().find(|g| snap.group(**g).is_none()) {
        return Err(Error::SubgroupNotFound(*missing));
    }
    let groups = unique_groups(listed);
    if let Some(inactive) = groups
        .iter()
        .find(|g| snap.group(**g).is_some_and(|g| g.deactivated))
    {
        return Err(Error::GroupDeactivated(*inactive));
    }
    Ok(groups)
}

fn add_subgroups(plan: &mut Plan, actor: Actor, id: GroupId, add: &[GroupId]) -> Result<()> {
    let snap = &plan.snap;
    let group =
        permission::group_for_update(snap, actor, id, GroupSetting::CanAddMembersGroup, true)?;
    let subgroups = check_listed_groups(snap, add)?;
    if let Some(existing) = subgroups.iter().find(|g| group.has_subgroup(**g)) {
        return Err(Error::AlreadySubgroup(*existing));
    }
    if snap.closure_of(subgroups.iter().copied()).contains(&id) {
        return Err(Error::SubgroupCycle(id));
    }
    plan.push(Change::SubgroupsAdded {
        group: id,
        subgroups,
    })
}

fn remove_subgroups(plan: &mut Plan, actor: Actor, id: GroupId, delete: &[GroupId]) -> Result<()> {
    let snap = &plan.snap;
    let group = permission::group_for_update(snap, actor, id, GroupSetting::CanManageGroup, true)?;
    let subgroups = check_listed_groups(snap, delete)?;
    if let Some(missing) = subgroups.iter().find(|g| !group.has_subgroup(**g)) {
        return Err(Error::NotSubgroup(*missing));
    }
    plan.push(Change::SubgroupsRemoved {
        group: id,
        subgroups,
    })
}

// ---------------------------------------------------------------- users

/// The system groups a user with this role belongs to directly.
pub fn system_groups_for(
    realm: &Realm,
    role: Role,
    date_joined: Millis,
    now: Millis,
) -> Vec<SystemGroup> {
    let mut groups = vec![role.system_group()];
    if role == Role::Member {
        let wait = i64::from(realm.waiting_period_days) * 86_400_000;
        if now.saturating_sub(date_joined) >= wait {
            groups.push(SystemGroup::FullMembers);
        }
    }
    groups
}

fn system_membership_changes(
    snap: &Snapshot,
    user: UserId,
    before: &[SystemGroup],
    after: &[SystemGroup],
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for which in before.iter().filter(|g| !after.contains(g)) {
        let group = snap
            .system_group_id(*which)
            .ok_or_else(|| Error::Internal(format!("missing {}", which.name())))?;
        changes.push(Change::MembersRemoved {
            group,
            users: vec![user],
        });
    }
    for which in after.iter().filter(|g| !before.contains(g)) {
        let group = snap
            .system_group_id(*which)
            .ok_or_else(|| Error::Internal(format!("missing {}", which.name())))?;
        changes.push(Change::MembersAdded {
            group,
            users: vec![user],
        });
    }
    Ok(changes)
}

fn create_user(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateUser,
    ctx: &mut Context,
) -> Result<Reply> {
    let snap = &plan.snap;
    if let Some(user) = acting_user(snap, actor)? {
        if !user.role.is_admin() {
            return Err(Error::MustBeAdmin);
        }
        if !user.can_create_users {
            return Err(Error::CannotCreateUsers);
        }
        if cmd.role == Role::Owner && user.role != Role::Owner {
            return Err(Error::MustBeOwner);
        }
    }
    let full_name = validate::full_name(&cmd.full_name)?;
    let email = cmd.email.as_deref().map(validate::email).transpose()?;
    if let Some(email) = &email {
        if snap.user_by_email(email).is_some() {
            return Err(Error::EmailTaken(email.clone()));
        }
    }
    let key = cmd
        .key
        .as_deref()
        .map(|k| chosen_key(snap, k))
        .transpose()?;
    if let Some(url) = &cmd.avatar_url {
        validate::avatar_url(url)?;
    }
    if let Some(owner) = cmd.bot_owner {
        if snap.user(owner).is_none() {
            return Err(Error::UserNotFound(owner));
        }
    }
    let id = UserId(ctx.fresh_id()?);
    let user = User {
        id,
        key: key.unwrap_or_else(|| default_key(snap, id.0, "user")),
        email: email.map(|e| Arc::from(e.as_str())),
        full_name,
        avatar_url: cmd.avatar_url.clone(),
        role: cmd.role,
        is_bot: cmd.is_bot,
        bot_owner: cmd.bot_owner.filter(|_| cmd.is_bot),
        active: true,
        can_create_users: cmd.can_create_users && cmd.role.is_admin(),
        api_key: cmd.api_key,
        date_joined: ctx.now,
        updated_at: ctx.now,
    };
    let groups = system_groups_for(snap.realm(), cmd.role, ctx.now, ctx.now);
    let memberships = system_membership_changes(snap, id, &[], &groups)?;
    plan.push(Change::UserCreated {
        user: Box::new(user),
    })?;
    for change in memberships {
        plan.push(change)?;
    }
    Ok(Reply::User(id))
}

/// Zulip's `access_user_by_id(..., for_admin=True)`.
fn user_for_admin(snap: &Snapshot, actor: Actor, id: UserId) -> Result<Arc<User>> {
    let target = snap.user(id).ok_or(Error::UserNotFound(id))?.clone();
    let actor_user = acting_user(snap, actor)?;
    if !permission::can_admin_user(actor_user.map(|u| &**u), &target) {
        return Err(Error::InsufficientPermission);
    }
    Ok(target)
}

fn active_owner_count(snap: &Snapshot) -> usize {
    snap.users()
        .filter(|u| u.active && u.role == Role::Owner && !u.is_bot)
        .count()
}

fn acting_role(snap: &Snapshot, actor: Actor) -> Result<Option<Role>> {
    Ok(acting_user(snap, actor)?.map(|u| u.role))
}

fn update_user(plan: &mut Plan, actor: Actor, id: UserId, cmd: &UpdateUser) -> Result<Reply> {
    let snap = &plan.snap;
    let target = user_for_admin(snap, actor, id)?;
    let mut patch = UserPatch::default();
    let mut memberships = Vec::new();
    if let Some(role) = cmd.role.filter(|r| *r != target.role) {
        // Roles are for administrators only, even on one's own bots.
        let actor_role = acting_role(snap, actor)?;
        let touches_owner = role == Role::Owner || target.role == Role::Owner;
        if touches_owner && actor_role.is_some_and(|r| r != Role::Owner) {
            return Err(Error::MustBeOwner);
        }
        if actor_role.is_some_and(|r| !r.is_admin()) {
            return Err(Error::MustBeAdmin);
        }
        if target.role == Role::Owner
            && !target.is_bot
            && target.active
            && active_owner_count(snap) <= 1
        {
            return Err(Error::LastOwner);
        }
        let before = system_groups_for(snap.realm(), target.role, target.date_joined, plan.at);
        let after = system_groups_for(snap.realm(), role, target.date_joined, plan.at);
        memberships = system_membership_changes(snap, id, &before, &after)?;
        patch.role = Some(role);
        if !role.is_admin() && target.can_create_users {
            patch.can_create_users = Some(false);
        }
    }
    if let Some(name) = &cmd.full_name {
        let name = validate::full_name(name)?;
        if name != target.full_name {
            patch.full_name = Some(name);
        }
    }
    if let Some(email) = &cmd.email {
        let email = validate::email(email)?;
        if target.email.as_deref() != Some(email.as_str()) {
            if snap.user_by_email(&email).is_some_and(|u| u.id != id) {
                return Err(Error::EmailTaken(email));
            }
            patch.email = Some(email);
        }
    }
    if let Some(avatar) = cmd.avatar_url.as_ref().filter(|a| **a != target.avatar_url) {
        if let Some(url) = avatar {
            validate::avatar_url(url)?;
        }
        patch.avatar_url = Some(avatar.clone());
    }
    if let Some(flag) = cmd.can_create_users {
        let role = patch.role.unwrap_or(target.role);
        let flag = flag && role.is_admin();
        if flag != target.can_create_users {
            patch.can_create_users = Some(flag);
        }
    }
    patch.api_key = cmd.api_key;
    if !patch.is_empty() {
        plan.push(Change::UserUpdated { id, patch })?;
    }
    for change in memberships {
        plan.push(change)?;
    }
    Ok(Reply::Done)
}

fn deactivate_user(plan: &mut Plan, actor: Actor, id: UserId) -> Result<Reply> {
    let snap = &plan.snap;
    let target = snap.user(id).ok_or(Error::UserNotFound(id))?.clone();
    if !target.active {
        return Err(Error::UserDeactivated(id));
    }
    user_for_admin(snap, actor, id)?;
    if target.role == Role::Owner {
        if acting_role(snap, actor)?.is_some_and(|r| r != Role::Owner) {
            return Err(Error::MustBeOwner);
        }
        if !target.is_bot && active_owner_count(snap) <= 1 {
            return Err(Error::DeactivateLastOwner);
        }
    }
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

fn deactivate_self(plan: &mut Plan, actor: Actor) -> Result<Reply> {
    let Some(me) = acting_user(&plan.snap, actor)?.cloned() else {
        return Err(Error::Invalid {
            field: "actor",
            reason: "only a user can deactivate themselves".into(),
        });
    };
    if plan.snap.users().filter(|u| u.active).count() == 1 {
        return Err(Error::DeactivateLastUser { owner: false });
    }
    if me.role == Role::Owner && !me.is_bot && active_owner_count(&plan.snap) <= 1 {
        return Err(Error::DeactivateLastUser { owner: true });
    }
    plan.push(Change::UserUpdated {
        id: me.id,
        patch: UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

fn reactivate_user(plan: &mut Plan, actor: Actor, id: UserId) -> Result<Reply> {
    let target = user_for_admin(&plan.snap, actor, id)?;
    if target.active {
        return Err(Error::UserAlreadyActive(id));
    }
    if let Some(email) = &target.email {
        if plan.snap.user_by_email(email).is_some_and(|u| u.id != id) {
            return Err(Error::EmailTaken(email.to_string()));
        }
    }
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            active: Some(true),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

fn sync_full_members(plan: &mut Plan) -> Result<()> {
    let snap = &plan.snap;
    let Some(full) = snap.system_group(SystemGroup::FullMembers).cloned() else {
        return Err(Error::Internal("realm has no role:fullmembers".into()));
    };
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for user in snap.users() {
        let should = system_groups_for(snap.realm(), user.role, user.date_joined, plan.at)
            .contains(&SystemGroup::FullMembers);
        match (should, full.has_member(user.id)) {
            (true, false) => add.push(user.id),
            (false, true) => remove.push(user.id),
            _ => {}
        }
    }
    if !add.is_empty() {
        plan.push(Change::MembersAdded {
            group: full.id,
            users: add,
        })?;
    }
    if !remove.is_empty() {
        plan.push(Change::MembersRemoved {
            group: full.id,
            users: remove,
        })?;
    }
    Ok(())
}

/// Principals a key names, for faces that address objects by key.
pub fn resolve_key(snap: &Snapshot, key: &str) -> Result<Principal> {
    snap.principal(key)
        .ok_or_else(|| Error::KeyNotFound(key.to_string()))
}
