//! Who may do what: Zulip's permission model as pure functions over a snapshot.
//! Every face and the CLI reach these through `command::execute`, which runs a
//! command's `Gate` before anything else. A face may also run the gate itself
//! before it reads a request's parameters (Zulip checks the caller first), and
//! must run `Gate::GroupEndpoint` before serving group reads; either way the
//! rule is this module's, and a face that forgets it can do no more than the
//! core allows.

use crate::error::{Error, Result};
use crate::ids::{Actor, GroupId};
use crate::model::{
    Group, GroupSetting, RealmSetting, Role, Scope, SettingConfig, SettingValue, SystemGroup, User,
};
use crate::snapshot::Snapshot;
use std::sync::Arc;

/// Whether `user` holds a permission whose value is `value`.
pub fn holds(snap: &Snapshot, user: &User, value: &SettingValue, config: &SettingConfig) -> bool {
    if !user.active {
        return false;
    }
    if config.allow_internet_group
        && matches!(value, SettingValue::Group(id) if Some(*id) == snap.system_group_id(SystemGroup::Internet))
    {
        return true;
    }
    if !config.allow_everyone_group && user.role == Role::Guest {
        return false;
    }
    snap.value_contains(value, user.id)
}

pub fn holds_realm_setting(snap: &Snapshot, user: &User, setting: RealmSetting) -> bool {
    holds(snap, user, snap.realm().setting(setting), &setting.config())
}

/// The checks Zulip makes on the caller before it looks at a request's
/// parameters (its view decorators). Only users are gated: the IMKIT platform,
/// operators and the system pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Nothing before the command's own checks (group deactivation, where
    /// Zulip's permission check itself refuses guests; users' own accounts).
    Open,
    /// The user-group endpoints, reads included: guests are refused, and bots
    /// unless the realm lets them manage groups.
    GroupEndpoint,
    /// Creating a group: the endpoint gate, then `can_create_groups`.
    CreateGroups,
    /// Organization administrators only (creating users, realm settings).
    Administrator,
    /// Webhook endpoints: the command checks `may_manage_webhooks`; a token
    /// needs `webhooks` rather than `scim`.
    Webhooks,
}

/// Run `gate` for `actor`. A token passes the user gates but, for any
/// command, must be live and hold the `scim` scope, the one scope that writes
/// the directory (token commands themselves are for operators only), or
/// `webhooks` for the webhook commands.
pub fn check_gate(snap: &Snapshot, actor: Actor, gate: Gate) -> Result<()> {
    if let Actor::Token(_) = actor {
        let scope = if gate == Gate::Webhooks {
            Scope::Webhooks
        } else {
            Scope::Scim
        };
        return require_scope(snap, actor, scope);
    }
    let Some(user) = acting_user(snap, actor)? else {
        return Ok(());
    };
    match gate {
        Gate::Open | Gate::Webhooks => Ok(()),
        Gate::GroupEndpoint => group_api_gate(snap, user),
        Gate::CreateGroups => {
            group_api_gate(snap, user)?;
            if !holds_realm_setting(snap, user, RealmSetting::CanCreateGroups) {
                return Err(Error::InsufficientPermission);
            }
            Ok(())
        }
        Gate::Administrator if user.role.is_admin() => Ok(()),
        Gate::Administrator => Err(Error::MustBeAdmin),
    }
}

fn group_api_gate(snap: &Snapshot, user: &User) -> Result<()> {
    if user.role == Role::Guest {
        return Err(Error::GuestNotAllowed);
    }
    if user.is_bot && !snap.realm().bots_may_manage_groups {
        return Err(Error::BotNotAllowed);
    }
    Ok(())
}

/// A token acting must be live and hold `scope`; other actors are governed by
/// the gates and the permission settings instead.
pub fn require_scope(snap: &Snapshot, actor: Actor, scope: Scope) -> Result<()> {
    match actor {
        Actor::Token(id) => match snap.realm().token(id) {
            Some(token) if token.has_scope(scope) => Ok(()),
            _ => Err(Error::MissingScope(scope)),
        },
        _ => Ok(()),
    }
}

/// Who may sign in to the admin page (and be issued a login link): active
/// users the group endpoints serve, so guests are refused and bots unless
/// the realm lets them manage groups, as on the API. Checked again on every
/// page, so a deactivation or a role change takes effect at once.
pub fn may_use_admin_page(snap: &Snapshot, user: crate::ids::UserId) -> Result<()> {
    check_gate(snap, Actor::User(user), Gate::GroupEndpoint)
}

/// Who may read the audit trail (the native admin API under `/cohort/v1`:
/// the realm, its history, memberships as of a time, access reviews, exports).
/// Active owners and administrators that are not bots; a token that is live
/// and holds `audit:read`; operators (the CLI) and the system. Everyone else
/// is refused: moderators, members and guests (`MustBeAdmin`), bots of any
/// role (`BotNotAllowed`: an audit reader answers for what they read, a bot
/// answers to its owner), deactivated users, and the IMKIT platform key,
/// whose rights are its own face's (`AuditNotAllowed`).
pub fn may_read_audit(snap: &Snapshot, actor: Actor) -> Result<()> {
    admin_reader(snap, actor, Scope::AuditRead)
}

/// Who may hold the realm's event stream open (`GET /cohort/v1/stream`): it
/// carries the same events as the audit trail, so the same people as
/// `may_read_audit`, except that a token needs the `events` scope.
pub fn may_follow_events(snap: &Snapshot, actor: Actor) -> Result<()> {
    admin_reader(snap, actor, Scope::Events)
}

/// Who may list, add, change and remove webhook endpoints and read their
/// delivery logs: an endpoint receives every change it asks for, so the same
/// people as `may_read_audit`, except that a token needs `webhooks`.
pub fn may_manage_webhooks(snap: &Snapshot, actor: Actor) -> Result<()> {
    admin_reader(snap, actor, Scope::Webhooks)
}

/// Active, human owners and administrators, operators, the system, and live
/// tokens holding `scope`.
fn admin_reader(snap: &Snapshot, actor: Actor, scope: Scope) -> Result<()> {
    match actor {
        Actor::Token(_) => require_scope(snap, actor, scope),
        Actor::Platform => Err(Error::AuditNotAllowed),
        Actor::Operator | Actor::System => Ok(()),
        Actor::User(_) => {
            let Some(user) = acting_user(snap, actor)? else {
                return Err(Error::AuditNotAllowed);
            };
            if user.is_bot {
                return Err(Error::BotNotAllowed);
            }
            if !user.role.is_admin() {
                return Err(Error::MustBeAdmin);
            }
            Ok(())
        }
    }
}

/// The actor's user record, for actors that are users; `Ok(None)` for the
/// platform, operators and the system, which pass every permission check.
pub fn acting_user(snap: &Snapshot, actor: Actor) -> Result<Option<&Arc<User>>> {
    match actor {
        Actor::User(id) => match snap.user(id) {
            Some(user) if user.active => Ok(Some(user)),
            Some(_) => Err(Error::UserDeactivated(id)),
            None => Err(Error::UserNotFound(id)),
        },
        Actor::Platform | Actor::Token(_) | Actor::Operator | Actor::System => Ok(None),
    }
}

/// Zulip's `access_user_group_for_update`: the group must exist (and be active
/// unless `allow_deactivated`), must not be a system group, and the actor must
/// manage all groups, manage this group, or hold `setting` on it.
pub fn group_for_update(
    snap: &Snapshot,
    actor: Actor,
    group: GroupId,
    setting: GroupSetting,
    allow_deactivated: bool,
) -> Result<&Arc<Group>> {
    let found = snap.group(group).ok_or(Error::GroupNotFound(group))?;
    if !allow_deactivated && found.deactivated {
        return Err(Error::GroupDeactivated(group));
    }
    if found.is_system() {
        return Err(Error::InsufficientPermission);
    }
    let Some(user) = acting_user(snap, actor)? else {
        return Ok(found);
    };
    if holds_realm_setting(snap, user, RealmSetting::CanManageAllGroups) {
        return Ok(found);
    }
    let manage = GroupSetting::CanManageGroup;
    if holds(snap, user, found.setting(manage), &manage.config()) {
        return Ok(found);
    }
    if setting != manage && holds(snap, user, found.setting(setting), &setting.config()) {
        return Ok(found);
    }
    Err(Error::InsufficientPermission)
}

/// Like `group_for_update`, but a lone self-targeted change first tries the
/// self-service setting (join/leave) and then the general one.
pub fn group_for_self_or_other(
    snap: &Snapshot,
    actor: Actor,
    group: GroupId,
    targets_only_self: bool,
    self_setting: GroupSetting,
    other_setting: GroupSetting,
) -> Result<&Arc<Group>> {
    if targets_only_self {
        if let Ok(found) = group_for_update(snap, actor, group, self_setting, true) {
            return Ok(found);
        }
    }
    group_for_update(snap, actor, group, other_setting, true)
}

/// What `actor` may do to `group`, for a face that offers only the actions
/// the core would allow (the admin page). Each flag is the check the
/// command itself makes, so showing a button and accepting its form never
/// disagree; the command still checks again when it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupRights {
    /// Rename, describe, change settings, deactivate and reactivate, remove
    /// subgroups.
    pub manage: bool,
    /// Add other users, and add subgroups.
    pub add_members: bool,
    /// Remove other users.
    pub remove_members: bool,
    /// Add oneself.
    pub join: bool,
    /// Remove oneself.
    pub leave: bool,
}

pub fn group_rights(snap: &Snapshot, actor: Actor, group: GroupId) -> GroupRights {
    if check_gate(snap, actor, Gate::GroupEndpoint).is_err() {
        return GroupRights::default();
    }
    let may = |setting| group_for_update(snap, actor, group, setting, true).is_ok();
    let may_self =
        |own, other| group_for_self_or_other(snap, actor, group, true, own, other).is_ok();
    GroupRights {
        manage: may(GroupSetting::CanManageGroup),
        add_members: may(GroupSetting::CanAddMembersGroup),
        remove_members: may(GroupSetting::CanRemoveMembersGroup),
        join: may_self(GroupSetting::CanJoinGroup, GroupSetting::CanAddMembersGroup),
        leave: may_self(
            GroupSetting::CanLeaveGroup,
            GroupSetting::CanRemoveMembersGroup,
        ),
    }
}

/// Whether `actor` may create groups (the command's gate).
pub fn may_create_groups(snap: &Snapshot, actor: Actor) -> bool {
    check_gate(snap, actor, Gate::CreateGroups).is_ok()
}

/// Administrative access to a user record (Zulip's `access_user_by_id` with
/// `for_admin`): bots' owners and administrators.
pub fn can_admin_user(actor: Option<&User>, target: &User) -> bool {
    match actor {
        None => true,
        Some(actor) => target.bot_owner == Some(actor.id) || actor.role.is_admin(),
    }
}
