//! The random command generator shared by the property tests and the store
//! parity suite: proptest strategies for steps (who acts, what they do) and
//! the translation of a step into a `Command` and an `Actor` against the
//! current snapshot. Included with `#[path]`; the including crate root
//! provides `common` (the core's test helpers) and `may` (the permission
//! oracle, which `Who::Permitted` consults to find a permitted actor).

#![allow(dead_code)]

use super::common::*;
use super::may;
use cohort_core::command::{
    visible_value, ChangeMembers, Command, CreateGroup, EditGroup, EditUser, MemberEdit,
    SettingUpdate, UpdateGroup, UpdateRealm, UpdateUser,
};
use cohort_core::model::{GroupSetting, RealmSetting};
use cohort_core::{
    Actor, GroupId, Principal, ProfileEmail, Role, Scope, SettingValue, Snapshot, UserId,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ------------------------------------------------------------------ steps

/// A user, resolved against the snapshot when the step runs.
#[derive(Clone, Debug)]
pub enum Pick {
    /// Among the users the step is most likely to make sense for (current
    /// members for a removal, deactivated users for a reactivation, active
    /// users otherwise); any user when there are none.
    Likely(Index),
    /// Any user of the realm.
    Anyone(Index),
    /// Position `n` among all users (modulo their number), for fixed sequences.
    At(usize),
    /// An id no realm object has.
    Unknown,
}

/// A group, resolved like `Pick`.
#[derive(Clone, Debug)]
pub enum GroupPick {
    /// Among the groups the step is most likely to make sense for (current
    /// subgroups for a removal, deactivated groups for a reactivation,
    /// user-defined groups otherwise).
    Likely(Index),
    /// Any group, system groups included.
    Any(Index),
    /// Position `n` among user-defined groups (any group if there are none).
    At(usize),
    Unknown,
}

#[derive(Clone, Debug)]
pub enum Who {
    /// An active human owner (in `can_manage_all_groups` by default).
    Owner,
    Operator,
    System,
    /// A user holding some right over the step's target group (any active
    /// user when nobody does or the step has no target group).
    Permitted(Index),
    /// Any user, active or not, or an unknown id.
    User(Pick),
    /// A live realm API token with (`true`) or without the `scim` scope; an
    /// operator when the realm has no such token.
    Token(bool),
}

/// What a SCIM request sends as a user's emails.
#[derive(Clone, Debug)]
pub enum Emails {
    None,
    /// An address nobody has.
    Fresh,
    /// Some user's address (taken unless it is the target's own).
    Taken(Pick),
    Invalid,
}

/// A conditional write's `expect`.
#[derive(Clone, Debug)]
pub enum Expect {
    None,
    /// The record's current version tag.
    Current,
    Stale,
}

/// One membership step of an `EditGroup`: 0 add, 1 remove, 2 replace.
#[derive(Clone, Debug)]
pub struct MemberStep {
    pub kind: u8,
    pub users: Vec<Pick>,
    pub groups: Vec<GroupPick>,
}

#[derive(Clone, Debug)]
pub enum Val {
    Group(GroupPick),
    Anonymous(Vec<Pick>, Vec<GroupPick>),
}

#[derive(Clone, Debug)]
pub enum Op {
    CreateUser {
        role: Role,
        bot: bool,
    },
    CreateGroup {
        name: usize,
        members: Vec<Pick>,
        subgroups: Vec<GroupPick>,
        setting: Option<(GroupSetting, Val)>,
    },
    AddMembers(GroupPick, Vec<Pick>),
    RemoveMembers(GroupPick, Vec<Pick>),
    /// The actor adds themself (a self-join when the actor is a user).
    Join(GroupPick),
    /// The actor removes themself.
    Leave(GroupPick),
    AddThenRemove(GroupPick, Pick),
    AddSubgroups(GroupPick, Vec<GroupPick>),
    RemoveSubgroups(GroupPick, Vec<GroupPick>),
    Rename(GroupPick, usize),
    SetGroupSetting {
        group: GroupPick,
        setting: GroupSetting,
        value: Val,
        stale_old: bool,
    },
    DeactivateGroup(GroupPick),
    ReactivateGroup(GroupPick),
    SetRole(Pick, Role),
    DeactivateUser(Pick),
    ReactivateUser(Pick),
    SetRealmSetting(RealmSetting, Val),
    SetWaitingPeriod(u32),
    SetBotsMayManage(bool),
    /// Time passes by this many days, then the periodic job runs.
    Tick(i64),
    ProvisionUser {
        name: usize,
        display: Option<usize>,
        emails: Emails,
        active: bool,
    },
    EditUser {
        user: Pick,
        name: Option<usize>,
        display: Option<Option<usize>>,
        emails: Option<Emails>,
        active: Option<bool>,
        expect: Expect,
    },
    DeleteUser(Pick, Expect),
    EditGroup {
        group: GroupPick,
        name: Option<usize>,
        steps: Vec<MemberStep>,
        expect: Expect,
    },
    RemoveGroup(GroupPick, Expect),
}

/// SCIM login names: equal under the email case rule in pairs, two that
/// are the emails of users the worlds start with, and one that a later
/// `CreateUser` step may give as an email.
pub const USER_NAMES: [&str; 8] = [
    "P20@example.com",
    "ann",
    "ANN",
    "bob",
    "Carol",
    "carol",
    "member3@example.com",
    "SEED2@example.com",
];

/// SCIM display names, one of them not a valid Zulip full name as it is.
pub const DISPLAY_NAMES: [&str; 4] = ["Ann Lee", "a@b", "  ", "Zed"];

pub const NAMES: [&str; 9] = [
    "alpha", "beta", "gamma", "Alpha", "delta", "epsilon", "zeta", "role:x", " ",
];

// ------------------------------------------------------------------ strategies

pub fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        14 => any::<Index>().prop_map(Pick::Likely),
        5 => any::<Index>().prop_map(Pick::Anyone),
        1 => Just(Pick::Unknown),
    ]
}

pub fn group_pick() -> impl Strategy<Value = GroupPick> {
    prop_oneof![
        14 => any::<Index>().prop_map(GroupPick::Likely),
        5 => any::<Index>().prop_map(GroupPick::Any),
        1 => Just(GroupPick::Unknown),
    ]
}

pub fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        1 => Just(Role::Owner),
        2 => Just(Role::Administrator),
        2 => Just(Role::Moderator),
        5 => Just(Role::Member),
        2 => Just(Role::Guest),
    ]
}

pub fn group_setting() -> impl Strategy<Value = GroupSetting> {
    proptest::sample::select(GroupSetting::ALL.to_vec())
}

pub fn value() -> impl Strategy<Value = Val> {
    prop_oneof![
        group_pick().prop_map(Val::Group),
        (
            proptest::collection::vec(pick(), 0..3),
            proptest::collection::vec(group_pick(), 0..3)
        )
            .prop_map(|(m, s)| Val::Anonymous(m, s)),
    ]
}

pub fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::Owner),
        1 => Just(Who::Operator),
        1 => Just(Who::System),
        5 => any::<Index>().prop_map(Who::Permitted),
        2 => pick().prop_map(Who::User),
        2 => Just(Who::Token(true)),
        1 => Just(Who::Token(false)),
    ]
}

pub fn emails() -> impl Strategy<Value = Emails> {
    prop_oneof![
        2 => Just(Emails::None),
        5 => Just(Emails::Fresh),
        2 => pick().prop_map(Emails::Taken),
        1 => Just(Emails::Invalid),
    ]
}

pub fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        6 => Just(Expect::None),
        3 => Just(Expect::Current),
        1 => Just(Expect::Stale),
    ]
}

pub fn member_step() -> impl Strategy<Value = MemberStep> {
    (
        0u8..3,
        proptest::collection::vec(pick(), 0..3),
        proptest::collection::vec(group_pick(), 0..2),
    )
        .prop_map(|(kind, users, groups)| MemberStep {
            kind,
            users,
            groups,
        })
}

/// The identity-provider steps (SCIM's dialect).
pub fn scim_op() -> impl Strategy<Value = Op> {
    let name = || proptest::option::weighted(0.3, 0..USER_NAMES.len());
    prop_oneof![
        3 => (
            0..USER_NAMES.len(),
            proptest::option::of(0..DISPLAY_NAMES.len()),
            emails(),
            proptest::bool::weighted(0.85),
        )
            .prop_map(|(name, display, emails, active)| Op::ProvisionUser {
                name,
                display,
                emails,
                active,
            }),
        3 => (
            pick(),
            name(),
            proptest::option::weighted(0.4, proptest::option::of(0..DISPLAY_NAMES.len())),
            proptest::option::weighted(0.3, emails()),
            proptest::option::weighted(0.3, any::<bool>()),
            expect(),
        )
            .prop_map(|(user, name, display, emails, active, expect)| Op::EditUser {
                user,
                name,
                display,
                emails,
                active,
                expect,
            }),
        1 => (pick(), expect()).prop_map(|(u, e)| Op::DeleteUser(u, e)),
        4 => (
            group_pick(),
            proptest::option::weighted(0.2, 0..NAMES.len()),
            proptest::collection::vec(member_step(), 0..3),
            expect(),
        )
            .prop_map(|(group, name, steps, expect)| Op::EditGroup {
                group,
                name,
                steps,
                expect,
            }),
        1 => (group_pick(), expect()).prop_map(|(g, e)| Op::RemoveGroup(g, e)),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    let users = || proptest::collection::vec(pick(), 1..3);
    let groups = || proptest::collection::vec(group_pick(), 1..3);
    prop_oneof![
        3 => (role(), proptest::bool::weighted(0.15))
            .prop_map(|(role, bot)| Op::CreateUser { role, bot }),
        3 => (
            0..NAMES.len(),
            proptest::collection::vec(pick(), 0..3),
            proptest::collection::vec(group_pick(), 0..2),
            proptest::option::weighted(0.3, (group_setting(), value())),
        )
            .prop_map(|(name, members, subgroups, setting)| {
                Op::CreateGroup { name, members, subgroups, setting }
            }),
        4 => (group_pick(), users()).prop_map(|(g, u)| Op::AddMembers(g, u)),
        3 => (group_pick(), users()).prop_map(|(g, u)| Op::RemoveMembers(g, u)),
        2 => group_pick().prop_map(Op::Join),
        2 => group_pick().prop_map(Op::Leave),
        1 => (group_pick(), pick()).prop_map(|(g, u)| Op::AddThenRemove(g, u)),
        3 => (group_pick(), groups()).prop_map(|(g, s)| Op::AddSubgroups(g, s)),
        2 => (group_pick(), groups()).prop_map(|(g, s)| Op::RemoveSubgroups(g, s)),
        1 => (group_pick(), 0..NAMES.len()).prop_map(|(g, n)| Op::Rename(g, n)),
        4 => (group_pick(), group_setting(), value(), proptest::bool::weighted(0.1))
            .prop_map(|(group, setting, value, stale_old)| {
                Op::SetGroupSetting { group, setting, value, stale_old }
            }),
        2 => group_pick().prop_map(Op::DeactivateGroup),
        1 => group_pick().prop_map(Op::ReactivateGroup),
        3 => (pick(), role()).prop_map(|(u, r)| Op::SetRole(u, r)),
        2 => pick().prop_map(Op::DeactivateUser),
        1 => pick().prop_map(Op::ReactivateUser),
        1 => (proptest::sample::select(RealmSetting::ALL.to_vec()), value())
            .prop_map(|(s, v)| Op::SetRealmSetting(s, v)),
        1 => (0u32..5).prop_map(Op::SetWaitingPeriod),
        1 => any::<bool>().prop_map(Op::SetBotsMayManage),
        2 => (0i64..4).prop_map(Op::Tick),
    ]
}

pub fn steps() -> impl Strategy<Value = Vec<(Who, Op)>> {
    let any_op = prop_oneof![4 => op(), 1 => scim_op()];
    proptest::collection::vec((who(), any_op), 1..60)
}

// ------------------------------------------------------------------ resolving

pub const UNKNOWN_USER: UserId = UserId(1_000_000_007);
pub const UNKNOWN_GROUP: GroupId = GroupId(1_000_000_009);

pub fn choose<T: Copy>(items: &[T], i: &Index) -> Option<T> {
    (!items.is_empty()).then(|| items[i.index(items.len())])
}

pub fn active_users(snap: &Snapshot) -> Vec<UserId> {
    snap.users().filter(|u| u.active).map(|u| u.id).collect()
}

/// Resolve a user pick, `likely` being the step's preferred candidates.
pub fn user_in(snap: &Snapshot, p: &Pick, likely: &[UserId]) -> UserId {
    let all: Vec<UserId> = snap.users().map(|u| u.id).collect();
    let found = match p {
        Pick::Likely(i) => choose(likely, i).or_else(|| choose(&all, i)),
        Pick::Anyone(i) => choose(&all, i),
        Pick::At(n) => (!all.is_empty()).then(|| all[n % all.len()]),
        Pick::Unknown => None,
    };
    found.unwrap_or(UNKNOWN_USER)
}

pub fn users_in(snap: &Snapshot, ps: &[Pick], likely: &[UserId]) -> Vec<UserId> {
    ps.iter().map(|p| user_in(snap, p, likely)).collect()
}

pub fn user_defined(snap: &Snapshot) -> Vec<GroupId> {
    snap.groups()
        .filter(|g| !g.is_system())
        .map(|g| g.id)
        .collect()
}

/// Resolve a group pick, `likely` being the step's preferred candidates.
pub fn group_in(snap: &Snapshot, p: &GroupPick, likely: &[GroupId]) -> GroupId {
    let all: Vec<GroupId> = snap.groups().map(|g| g.id).collect();
    let defined = user_defined(snap);
    let found = match p {
        GroupPick::Likely(i) => choose(likely, i)
            .or_else(|| choose(&defined, i))
            .or_else(|| choose(&all, i)),
        GroupPick::Any(i) => choose(&all, i),
        GroupPick::At(n) if !defined.is_empty() => Some(defined[n % defined.len()]),
        GroupPick::At(n) => Some(all[n % all.len()]),
        GroupPick::Unknown => None,
    };
    found.unwrap_or(UNKNOWN_GROUP)
}

pub fn groups_in(snap: &Snapshot, ps: &[GroupPick], likely: &[GroupId]) -> Vec<GroupId> {
    ps.iter().map(|p| group_in(snap, p, likely)).collect()
}

pub fn value_of(snap: &Snapshot, v: &Val) -> SettingValue {
    let active = active_users(snap);
    let defined = user_defined(snap);
    match v {
        Val::Group(g) => SettingValue::Group(group_in(snap, g, &defined)),
        Val::Anonymous(m, s) => SettingValue::Anonymous {
            members: users_in(snap, m, &active),
            subgroups: groups_in(snap, s, &defined),
        },
    }
}

/// The group a step targets, if any.
pub fn target_group(snap: &Snapshot, op: &Op) -> Option<GroupId> {
    let defined = |keep: &dyn Fn(&cohort_core::Group) -> bool| -> Vec<GroupId> {
        snap.groups()
            .filter(|g| !g.is_system() && keep(g))
            .map(|g| g.id)
            .collect()
    };
    match op {
        Op::RemoveMembers(g, _) | Op::Leave(g) => {
            Some(group_in(snap, g, &defined(&|g| !g.members.is_empty())))
        }
        Op::RemoveSubgroups(g, _) => {
            Some(group_in(snap, g, &defined(&|g| !g.subgroups.is_empty())))
        }
        Op::ReactivateGroup(g) => Some(group_in(snap, g, &defined(&|g| g.deactivated))),
        Op::EditGroup { group: g, .. } => Some(group_in(snap, g, &defined(&|g| !g.deactivated))),
        Op::RemoveGroup(g, _) => Some(group_in(snap, g, &defined(&|_| true))),
        Op::AddMembers(g, _)
        | Op::Join(g)
        | Op::AddThenRemove(g, _)
        | Op::AddSubgroups(g, _)
        | Op::Rename(g, _)
        | Op::SetGroupSetting { group: g, .. }
        | Op::DeactivateGroup(g) => Some(group_in(snap, g, &defined(&|_| true))),
        _ => None,
    }
}

/// The setting Zulip checks for a step, after the two manage rights.
pub fn step_setting(op: &Op) -> GroupSetting {
    match op {
        Op::AddMembers(..) | Op::AddThenRemove(..) | Op::AddSubgroups(..) => {
            GroupSetting::CanAddMembersGroup
        }
        Op::RemoveMembers(..) => GroupSetting::CanRemoveMembersGroup,
        Op::Join(_) => GroupSetting::CanJoinGroup,
        Op::Leave(_) => GroupSetting::CanLeaveGroup,
        _ => GroupSetting::CanManageGroup,
    }
}

/// Active users whom Zulip's permission rule lets take the step on its target group, or
/// who may create groups when there is no target.
pub fn permitted_users(snap: &Snapshot, op: &Op) -> Vec<UserId> {
    let users = snap.users().filter(|u| u.active);
    match target_group(snap, op) {
        Some(group) => users
            .filter(|u| may(snap, u.id, group, step_setting(op)) == Some(true))
            .map(|u| u.id)
            .collect(),
        None => {
            let create = RealmSetting::CanCreateGroups;
            users
                .filter(|u| naive_holds(snap, u, snap.realm().setting(create), &create.config()))
                .map(|u| u.id)
                .collect()
        }
    }
}

pub fn actor_of(w: &World, who: &Who, op: &Op) -> Actor {
    let snap = &w.snap;
    match who {
        Who::Owner => {
            let owner = snap
                .users()
                .find(|u| u.active && !u.is_bot && u.role == Role::Owner)
                .expect("an active human owner");
            Actor::User(owner.id)
        }
        Who::Operator => Actor::Operator,
        Who::System => Actor::System,
        Who::Permitted(i) => {
            let permitted = permitted_users(snap, op);
            let found = choose(&permitted, i).or_else(|| choose(&active_users(snap), i));
            Actor::User(found.unwrap_or(UNKNOWN_USER))
        }
        Who::User(p) => Actor::User(user_in(snap, p, &active_users(snap))),
        Who::Token(scim) => snap
            .realm()
            .tokens
            .iter()
            .find(|t| t.revoked_at.is_none() && t.has_scope(Scope::Scim) == *scim)
            .map_or(Actor::Operator, |t| Actor::Token(t.id)),
    }
}

/// Users an identity provider can still address: not deleted through SCIM.
pub fn provisionable(snap: &Snapshot) -> Vec<UserId> {
    snap.users()
        .filter(|u| !u.profile.deleted)
        .map(|u| u.id)
        .collect()
}

fn profile_emails(snap: &Snapshot, emails: &Emails, fresh: &str) -> Vec<ProfileEmail> {
    let value = match emails {
        Emails::None => return Vec::new(),
        Emails::Fresh => fresh.to_string(),
        Emails::Taken(p) => {
            let with_email: Vec<UserId> = snap
                .users()
                .filter(|u| u.email.is_some())
                .map(|u| u.id)
                .collect();
            match snap
                .user(user_in(snap, p, &with_email))
                .and_then(|u| u.email.clone())
            {
                Some(email) => email.to_uppercase(),
                None => fresh.to_string(),
            }
        }
        Emails::Invalid => "not an email".to_string(),
    };
    vec![ProfileEmail {
        value,
        kind: Some("work".into()),
        primary: Some(true),
    }]
}

fn expected_tag(tag: Option<String>, expect: &Expect) -> Option<String> {
    match expect {
        Expect::None => None,
        Expect::Current => tag,
        Expect::Stale => Some("0000000000000000".into()),
    }
}

/// The command a step stands for, resolved against the current snapshot.
pub fn command_of(w: &mut World, op: &Op, actor: Actor) -> Command {
    let email = matches!(op, Op::CreateUser { .. }).then(|| w.next_email("p"));
    let fresh = w.next_email("scim");
    let snap = &w.snap;
    let active = active_users(snap);
    let target = target_group(snap, op).unwrap_or(UNKNOWN_GROUP);
    let (members, subgroups) = snap
        .group(target)
        .map(|g| (g.members.clone(), g.subgroups.clone()))
        .unwrap_or_default();
    // Who "themself" is for join/leave steps run by non-user actors.
    let me = match actor {
        Actor::User(id) => id,
        _ if active.is_empty() => UNKNOWN_USER,
        _ => active[target.0.unsigned_abs() as usize % active.len()],
    };
    let defined = user_defined(snap);
    match op {
        Op::CreateUser { role, bot } => {
            let mut cmd = user_cmd(&email.expect("an email"), "Prop Person", *role);
            if *bot {
                cmd.is_bot = true;
                cmd.bot_owner = Some(w.owner);
            }
            Command::CreateUser(cmd)
        }
        Op::CreateGroup {
            name,
            members,
            subgroups,
            setting,
        } => Command::CreateGroup(CreateGroup {
            members: users_in(snap, members, &active),
            subgroups: groups_in(snap, subgroups, &defined),
            settings: setting
                .iter()
                .map(|(s, v)| (*s, value_of(snap, v)))
                .collect(),
            ..group_cmd(NAMES[*name])
        }),
        Op::AddMembers(_, users) => {
            Command::ChangeMembers(target, add(&users_in(snap, users, &active)))
        }
        Op::RemoveMembers(_, users) => {
            Command::ChangeMembers(target, delete(&users_in(snap, users, &members)))
        }
        Op::Join(_) => Command::ChangeMembers(target, add(&[me])),
        Op::Leave(_) => Command::ChangeMembers(target, delete(&[me])),
        Op::AddThenRemove(_, user) => {
            let outside: Vec<UserId> = active
                .iter()
                .copied()
                .filter(|u| !members.contains(u))
                .collect();
            let user = user_in(snap, user, &outside);
            Command::ChangeMembers(
                target,
                ChangeMembers {
                    add: vec![user],
                    delete: vec![user],
                    ..ChangeMembers::default()
                },
            )
        }
        Op::AddSubgroups(_, subs) => {
            Command::ChangeMembers(target, add_subgroups(&groups_in(snap, subs, &defined)))
        }
        Op::RemoveSubgroups(_, subs) => {
            Command::ChangeMembers(target, delete_subgroups(&groups_in(snap, subs, &subgroups)))
        }
        Op::Rename(_, name) => Command::UpdateGroup(
            target,
            UpdateGroup {
                name: Some(NAMES[*name].into()),
                ..UpdateGroup::default()
            },
        ),
        Op::SetGroupSetting {
            setting,
            value,
            stale_old,
            ..
        } => {
            let old = match (stale_old, snap.group(target)) {
                // A value that cannot be current: it names an unknown user.
                (true, _) => Some(SettingValue::Anonymous {
                    members: vec![UNKNOWN_USER],
                    subgroups: vec![],
                }),
                (false, Some(g)) => Some(visible_value(snap, g.setting(*setting))),
                (false, None) => None,
            };
            Command::UpdateGroup(
                target,
                UpdateGroup {
                    settings: vec![(
                        *setting,
                        SettingUpdate {
                            new: value_of(snap, value),
                            old,
                        },
                    )],
                    ..UpdateGroup::default()
                },
            )
        }
        Op::DeactivateGroup(_) => Command::DeactivateGroup(target),
        Op::ReactivateGroup(_) => Command::UpdateGroup(
            target,
            UpdateGroup {
                reactivate: true,
                ..UpdateGroup::default()
            },
        ),
        Op::SetRole(u, role) => Command::UpdateUser(
            user_in(snap, u, &active),
            UpdateUser {
                role: Some(*role),
                ..UpdateUser::default()
            },
        ),
        Op::DeactivateUser(u) => Command::DeactivateUser(user_in(snap, u, &active)),
        Op::ReactivateUser(u) => {
            let inactive: Vec<UserId> = snap.users().filter(|x| !x.active).map(|x| x.id).collect();
            Command::ReactivateUser(user_in(snap, u, &inactive))
        }
        Op::SetRealmSetting(setting, v) => Command::UpdateRealm(UpdateRealm {
            settings: vec![(
                *setting,
                SettingUpdate {
                    new: value_of(snap, v),
                    old: None,
                },
            )],
            ..UpdateRealm::default()
        }),
        Op::SetWaitingPeriod(days) => Command::UpdateRealm(UpdateRealm {
            waiting_period_days: Some(*days),
            ..UpdateRealm::default()
        }),
        Op::SetBotsMayManage(flag) => Command::UpdateRealm(UpdateRealm {
            bots_may_manage_groups: Some(*flag),
            ..UpdateRealm::default()
        }),
        Op::Tick(_) => Command::SyncFullMembers,
        Op::ProvisionUser {
            name,
            display,
            emails,
            active,
        } => {
            let mut cmd = provision_cmd(USER_NAMES[*name]);
            cmd.display_name = display.map(|d| DISPLAY_NAMES[d].to_string());
            cmd.given_name = Some("Given".into());
            cmd.emails = profile_emails(snap, emails, &fresh);
            cmd.active = *active;
            Command::ProvisionUser(cmd)
        }
        Op::EditUser {
            user,
            name,
            display,
            emails,
            active,
            expect,
        } => {
            let id = user_in(snap, user, &provisionable(snap));
            Command::EditUser(
                id,
                EditUser {
                    user_name: name.map(|n| USER_NAMES[n].into()),
                    display_name: display.map(|d| d.map(|d| DISPLAY_NAMES[d].to_string())),
                    emails: emails.as_ref().map(|e| profile_emails(snap, e, &fresh)),
                    active: *active,
                    expect: expected_tag(snap.user(id).map(|u| u.version_tag()), expect),
                    ..EditUser::default()
                },
            )
        }
        Op::DeleteUser(user, expect) => {
            let alive: Vec<UserId> = provisionable(snap)
                .into_iter()
                .filter(|u| snap.is_active_user(*u))
                .collect();
            let id = user_in(snap, user, &alive);
            let tag = snap.user(id).map(|u| u.version_tag());
            Command::DeleteUser(id, expected_tag(tag, expect))
        }
        Op::EditGroup {
            name,
            steps,
            expect,
            ..
        } => {
            let edits = steps
                .iter()
                .map(|step| {
                    let likely_users = match step.kind {
                        1 => &members,
                        _ => &active,
                    };
                    let likely_groups = match step.kind {
                        1 => &subgroups,
                        _ => &defined,
                    };
                    let listed: Vec<Principal> = users_in(snap, &step.users, likely_users)
                        .into_iter()
                        .map(Principal::User)
                        .chain(
                            groups_in(snap, &step.groups, likely_groups)
                                .into_iter()
                                .map(Principal::Group),
                        )
                        .collect();
                    match step.kind {
                        0 => MemberEdit::Add(listed),
                        1 => MemberEdit::Remove(listed),
                        _ => MemberEdit::Replace(listed),
                    }
                })
                .collect();
            Command::EditGroup(
                target,
                EditGroup {
                    name: name.map(|n| NAMES[n].into()),
                    members: edits,
                    expect: expected_tag(snap.group(target).map(|g| g.version_tag()), expect),
                    ..EditGroup::default()
                },
            )
        }
        Op::RemoveGroup(_, expect) => Command::RemoveGroup(
            target,
            expected_tag(snap.group(target).map(|g| g.version_tag()), expect),
        ),
    }
}
