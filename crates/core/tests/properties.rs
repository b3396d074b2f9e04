//! Property tests: random command sequences by random actors, with the
//! directory's invariants checked after every step.
//!
//! After each step:
//! (1) the subgroup graph is acyclic;
//! (2) direct membership in the system groups matches `system_groups_for`;
//! (3) `recursive_members` (and `is_member`, `direct_members`,
//!     `recursive_subgroups`) match a naive fixed point;
//! (4) applying the commit to the previous snapshot equals the staged one;
//! (5) a refused command leaves the snapshot as it was (and is never an
//!     internal error);
//! plus: login names are unique under the email case rule and nobody deleted
//! through SCIM is active (both in `check_structure`); a token writes only
//! while live with the `scim` scope; at least one active human owner remains, and for group writes by a
//! user the permission decision matches a from-scratch reading of Zulip's permission rule
//! (https://zulip.com/api/group-setting-values, `zerver/lib/user_groups.py`)
//! (accepted ⇒ permitted; `InsufficientPermission` ⇒ not permitted).
//! After the sequence:
//! (6) replaying every commit from `Snapshot::empty(realm)` reproduces the
//!     final snapshot, as does `Snapshot::from_parts` from its records.
//!
//! (1), (3) and (4) are checked by `World::try_exec` on every commit.

mod common;
#[path = "common/gen.rs"]
mod gen;

use cohort_core::command::Command;
use cohort_core::command::MemberEdit;
use cohort_core::model::{GroupSetting, RealmSetting};
use cohort_core::{
    Actor, Error, GroupId, Principal, Role, Scope, SettingValue, Snapshot, SystemGroup, UserId,
};
use common::*;
use gen::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;

// ------------------------------------------------------------------ permission oracle

/// The error Zulip's endpoint gate gives `actor` for `cmd`, naively: guests
/// and (unless the realm allows them) bots are refused every user-group write
/// but deactivation, before any other check.
fn expected_gate(snap: &Snapshot, actor: Actor, cmd: &Command) -> Option<Error> {
    if let Actor::Token(id) = actor {
        // A token may run directory commands only while live and scoped.
        let scoped = snap
            .realm()
            .tokens
            .iter()
            .any(|t| t.id == id && t.revoked_at.is_none() && t.scopes.contains(&Scope::Scim));
        return (!scoped).then_some(Error::MissingScope(Scope::Scim));
    }
    let Actor::User(me) = actor else { return None };
    let me = snap.user(me).filter(|u| u.active)?;
    let gated = matches!(
        cmd,
        Command::CreateGroup(_)
            | Command::UpdateGroup(..)
            | Command::ChangeMembers(..)
            | Command::PutGroup(_)
            | Command::DeleteGroup(_)
            | Command::EditGroup(..)
            | Command::RemoveGroup(..)
    );
    let admin_only = matches!(
        cmd,
        Command::ProvisionUser(_) | Command::EditUser(..) | Command::DeleteUser(..)
    );
    if admin_only && !me.role.is_admin() {
        Some(Error::MustBeAdmin)
    } else if !gated {
        None
    } else if me.role == Role::Guest {
        Some(Error::GuestNotAllowed)
    } else if me.is_bot && !snap.realm().bots_may_manage_groups {
        Some(Error::BotNotAllowed)
    } else {
        None
    }
}

/// Whether Zulip's permission rule lets `actor` run `cmd` (for user actors and group
/// writes touching a single list; `None` otherwise).
fn expected_permission(snap: &Snapshot, actor: Actor, cmd: &Command) -> Option<bool> {
    use GroupSetting::*;
    let Actor::User(me) = actor else { return None };
    match cmd {
        Command::ChangeMembers(g, c) => {
            let lists = [
                !c.add.is_empty(),
                !c.delete.is_empty(),
                !c.add_subgroups.is_empty(),
                !c.delete_subgroups.is_empty(),
            ];
            if lists.iter().filter(|x| **x).count() != 1 {
                return None;
            }
            let only_me = |ids: &[UserId]| ids == [me];
            if !c.add.is_empty() {
                let other = may(snap, me, *g, CanAddMembersGroup)?;
                Some(other || (only_me(&c.add) && may(snap, me, *g, CanJoinGroup)?))
            } else if !c.delete.is_empty() {
                let other = may(snap, me, *g, CanRemoveMembersGroup)?;
                Some(other || (only_me(&c.delete) && may(snap, me, *g, CanLeaveGroup)?))
            } else if !c.add_subgroups.is_empty() {
                may(snap, me, *g, CanAddMembersGroup)
            } else {
                may(snap, me, *g, CanManageGroup)
            }
        }
        Command::UpdateGroup(g, _)
        | Command::DeactivateGroup(g)
        | Command::EditGroup(g, _)
        | Command::RemoveGroup(g, _) => may(snap, me, *g, CanManageGroup),
        _ => None,
    }
}

/// Who may administer users and the realm (https://zulip.com/api/roles-and-permissions). Checked on
/// accepted commands by user actors (refusals may come from other rules).
fn check_administration(
    before: &Snapshot,
    actor: Actor,
    cmd: &Command,
    result: &Result<(), Error>,
    shown: &str,
    stats: &mut Stats,
) {
    let (Actor::User(me), Ok(())) = (actor, result) else {
        return;
    };
    let me = before.user(me).expect("an accepted actor exists");
    let owns_bot = |target: UserId| {
        before
            .user(target)
            .is_some_and(|t| t.bot_owner == Some(me.id))
    };
    match cmd {
        Command::CreateUser(c) => {
            assert!(
                me.role.is_admin() && me.can_create_users,
                "{shown}: created a user"
            );
            assert!(
                c.role != Role::Owner || me.role == Role::Owner,
                "{shown}: created an owner"
            );
            *stats.oracles.entry("administration").or_default() += 1;
        }
        Command::UpdateUser(target, c) => {
            let old_role = before.user(*target).map(|t| t.role);
            if let Some(role) = c.role.filter(|r| Some(*r) != old_role) {
                // Zulip requires an administrator for every role change, even
                // on the actor's own bot.
                assert!(me.role.is_admin(), "{shown}: changed a role");
                if role == Role::Owner || old_role == Some(Role::Owner) {
                    assert_eq!(me.role, Role::Owner, "{shown}: changed ownership");
                }
                *stats.oracles.entry("administration").or_default() += 1;
            }
        }
        Command::DeactivateUser(target) | Command::ReactivateUser(target) => {
            assert!(
                me.role.is_admin() || owns_bot(*target),
                "{shown}: (de)activated a user"
            );
            if matches!(cmd, Command::DeactivateUser(_))
                && before.user(*target).is_some_and(|t| t.role == Role::Owner)
            {
                assert_eq!(me.role, Role::Owner, "{shown}: deactivated an owner");
            }
            *stats.oracles.entry("administration").or_default() += 1;
        }
        Command::ProvisionUser(_) | Command::EditUser(..) | Command::DeleteUser(..) => {
            assert!(me.role.is_admin(), "{shown}: provisioned or edited a user");
            *stats.oracles.entry("administration").or_default() += 1;
        }
        Command::UpdateRealm(c) => {
            assert!(me.role.is_admin(), "{shown}: changed the realm");
            if !c.settings.is_empty()
                || c.waiting_period_days.is_some()
                || c.bots_may_manage_groups.is_some()
            {
                assert_eq!(
                    me.role,
                    Role::Owner,
                    "{shown}: changed owner-only realm settings"
                );
            }
            *stats.oracles.entry("administration").or_default() += 1;
        }
        _ => {}
    }
}

/// Who may read the audit (`permission::may_read_audit`), from scratch: an
/// existing, active, non-bot owner or administrator, or a token that is live
/// and holds `audit:read`; asked of every user and token after each step.
fn check_audit_readers(snap: &Snapshot, stats: &mut Stats) {
    let users = snap.users().map(|u| {
        let may = u.active && !u.is_bot && matches!(u.role, Role::Owner | Role::Administrator);
        (Actor::User(u.id), may)
    });
    let tokens = snap.realm().tokens.iter().map(|t| {
        let may = t.revoked_at.is_none() && t.scopes.contains(&Scope::AuditRead);
        (Actor::Token(t.id), may)
    });
    for (actor, may) in users.chain(tokens).collect::<Vec<_>>() {
        let got = cohort_core::permission::may_read_audit(snap, actor);
        assert_eq!(got.is_ok(), may, "may_read_audit({actor:?}) = {got:?}");
        *stats
            .oracles
            .entry(if may {
                "audit reader: yes"
            } else {
                "audit reader: no"
            })
            .or_default() += 1;
    }
}

/// The only organization owner (https://zulip.com/api/update-user) can neither stop being an
/// owner nor be deactivated; only that case is refused (Zulip's
/// `check_last_owner`: a human owner, and exactly one active human owner).
fn check_last_owner(
    before: &Snapshot,
    cmd: &Command,
    result: &Result<(), Error>,
    shown: &str,
    stats: &mut Stats,
) {
    let (target, refused) = match (cmd, result) {
        (Command::UpdateUser(t, c), _) if c.role.is_some_and(|r| r != Role::Owner) => {
            (*t, result == &Err(Error::LastOwner))
        }
        (Command::DeactivateUser(t), _)
        | (
            Command::EditUser(
                t,
                cohort_core::command::EditUser {
                    active: Some(false),
                    ..
                },
            ),
            _,
        )
        | (Command::DeleteUser(t, _), _) => (*t, result == &Err(Error::DeactivateLastOwner)),
        _ => return,
    };
    let Some(target) = before.user(target) else {
        return;
    };
    if !refused && result.is_err() {
        return;
    }
    let last = target.active
        && target.role == Role::Owner
        && !target.is_bot
        && active_human_owners(before) == 1;
    assert_eq!(
        refused, last,
        "{shown}: last owner is {last}, result {result:?}"
    );
    *stats
        .oracles
        .entry(if refused {
            "last owner: yes"
        } else {
            "last owner: no"
        })
        .or_default() += 1;
}

/// The "in use" rule of deactivation and the subgroup cycle rule, from scratch
/// (https://zulip.com/api/deactivate-user-group, https://zulip.com/api/update-user-group-subgroups).
fn check_in_use_and_cycles(
    before: &Snapshot,
    cmd: &Command,
    result: &Result<(), Error>,
    shown: &str,
    stats: &mut Stats,
) {
    match (cmd, result) {
        (Command::DeactivateGroup(g), Ok(()) | Err(Error::GroupInUse(_))) => {
            let names = |v: &SettingValue| v.groups().contains(g);
            let in_use = before
                .groups()
                .filter(|x| !x.deactivated)
                .any(|x| x.subgroups.contains(g) || x.settings.iter().any(names))
                || before.realm().settings.iter().any(names);
            assert_eq!(
                result.is_err(),
                in_use,
                "{shown}: in use is {in_use}, result {result:?}"
            );
            *stats
                .oracles
                .entry(if in_use { "in use: yes" } else { "in use: no" })
                .or_default() += 1;
        }
        (Command::RemoveGroup(g, _), Ok(()) | Err(Error::GroupInUse(_))) => {
            // Settings of any other group, deactivated or not, or of the
            // realm; supergroups lose the edge instead.
            let names = |v: &SettingValue| v.groups().contains(g);
            let in_use = before
                .groups()
                .filter(|x| x.id != *g)
                .any(|x| x.settings.iter().any(names))
                || before.realm().settings.iter().any(names);
            assert_eq!(
                result.is_err(),
                in_use,
                "{shown}: in use is {in_use}, result {result:?}"
            );
            *stats
                .oracles
                .entry(if in_use {
                    "removal in use: yes"
                } else {
                    "removal in use: no"
                })
                .or_default() += 1;
        }
        (Command::EditGroup(g, c), Ok(()) | Err(Error::SubgroupCycle(_))) => {
            // The subgroups the edit ends with that the group lacked.
            let mut subs: Vec<GroupId> = before
                .group(*g)
                .map(|x| x.subgroups.clone())
                .unwrap_or_default();
            for edit in &c.members {
                let listed = |p: &[Principal]| -> Vec<GroupId> {
                    p.iter()
                        .filter_map(|p| match p {
                            Principal::Group(x) => Some(*x),
                            Principal::User(_) => None,
                        })
                        .collect()
                };
                match edit {
                    MemberEdit::Add(p) => subs.extend(listed(p)),
                    MemberEdit::Remove(p) => subs.retain(|x| !listed(p).contains(x)),
                    MemberEdit::Replace(p) => subs = listed(p),
                }
            }
            let cycle = subs.iter().any(|s| naive_reach(before, *s).contains(g));
            if result.is_ok() || cycle {
                assert_eq!(
                    result,
                    &if cycle {
                        Err(Error::SubgroupCycle(*g))
                    } else {
                        Ok(())
                    },
                    "{shown}: cycle is {cycle}"
                );
                *stats
                    .oracles
                    .entry(if cycle {
                        "edit cycle: yes"
                    } else {
                        "edit cycle: no"
                    })
                    .or_default() += 1;
            }
        }
        (Command::ChangeMembers(g, c), Ok(()) | Err(Error::SubgroupCycle(_)))
            if !c.add_subgroups.is_empty() =>
        {
            let cycle = c
                .add_subgroups
                .iter()
                .any(|s| naive_reach(before, *s).contains(g));
            assert_eq!(
                result.is_err(),
                cycle,
                "{shown}: cycle is {cycle}, result {result:?}"
            );
            if let Err(e) = result {
                assert_eq!(
                    *e,
                    Error::SubgroupCycle(*g),
                    "{shown}: names the supergroup"
                );
            }
            *stats
                .oracles
                .entry(if cycle { "cycle: yes" } else { "cycle: no" })
                .or_default() += 1;
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ the run

/// Per kind of step: (accepted, refused); and how often each error came up.
#[derive(Default, Debug)]
struct Stats {
    outcomes: BTreeMap<&'static str, (usize, usize)>,
    errors: BTreeMap<String, usize>,
    /// How often each oracle had something to say.
    oracles: BTreeMap<&'static str, usize>,
}

fn kind(op: &Op) -> &'static str {
    match op {
        Op::CreateUser { .. } => "create user",
        Op::CreateGroup { .. } => "create group",
        Op::AddMembers(..) => "add members",
        Op::RemoveMembers(..) => "remove members",
        Op::Join(_) => "join",
        Op::Leave(_) => "leave",
        Op::AddThenRemove(..) => "add then remove",
        Op::AddSubgroups(..) => "add subgroups",
        Op::RemoveSubgroups(..) => "remove subgroups",
        Op::Rename(..) => "rename",
        Op::SetGroupSetting { .. } => "group setting",
        Op::DeactivateGroup(_) => "deactivate group",
        Op::ReactivateGroup(_) => "reactivate group",
        Op::SetRole(..) => "role",
        Op::DeactivateUser(_) => "deactivate user",
        Op::ReactivateUser(_) => "reactivate user",
        Op::SetRealmSetting(..) => "realm setting",
        Op::SetWaitingPeriod(_) => "waiting period",
        Op::SetBotsMayManage(_) => "bots may manage",
        Op::Tick(_) => "tick",
        Op::ProvisionUser { .. } => "provision user",
        Op::EditUser { .. } => "edit user",
        Op::DeleteUser(..) => "delete user",
        Op::EditGroup { .. } => "edit group",
        Op::RemoveGroup(..) => "remove group",
    }
}

const KINDS: [&str; 25] = [
    "provision user",
    "edit user",
    "delete user",
    "edit group",
    "remove group",
    "create user",
    "create group",
    "add members",
    "remove members",
    "join",
    "leave",
    "add then remove",
    "add subgroups",
    "remove subgroups",
    "rename",
    "group setting",
    "deactivate group",
    "reactivate group",
    "role",
    "deactivate user",
    "reactivate user",
    "realm setting",
    "waiting period",
    "bots may manage",
    "tick",
];

/// A directory to start from, built through the same command path: one user
/// of each role plus a bot, and three groups with different managers.
fn seeded_world() -> World {
    let mut w = World::new();
    let owner = w.owner_actor();
    let admin = w.add_user(Role::Administrator);
    let moderator = w.add_user(Role::Moderator);
    let m1 = w.add_user(Role::Member);
    let m2 = w.add_user(Role::Member);
    let guest = w.add_user(Role::Guest);
    w.add_bot(m1, Role::Member);
    w.add_group(Actor::User(m1), "team", &[m1, m2]);
    let mut open = group_cmd("open");
    open.members = vec![moderator, guest];
    open.settings = vec![
        (
            GroupSetting::CanJoinGroup,
            SettingValue::Group(w.sys(SystemGroup::Members)),
        ),
        (
            GroupSetting::CanAddMembersGroup,
            anon(&[m2], &[w.sys(SystemGroup::Moderators)]),
        ),
    ];
    w.create_group(owner, open);
    w.add_group(Actor::User(admin), "admins' own", &[admin]);
    w.add_token("idp", &[Scope::Scim]);
    w.add_token("auditor", &[Scope::AuditRead]);
    w
}

fn run(steps: &[(Who, Op)]) {
    run_counting(steps, &mut Stats::default());
}

fn run_counting(steps: &[(Who, Op)], stats: &mut Stats) {
    let mut w = seeded_world();
    for (step, (who, op)) in steps.iter().enumerate() {
        if let Op::Tick(days) = op {
            w.advance_days(*days);
        }
        // The periodic job always runs as the system, whoever the step names.
        let actor = match op {
            Op::Tick(_) => Actor::System,
            _ => actor_of(&w, who, op),
        };
        let cmd = command_of(&mut w, op, actor);
        let before = w.snap.clone();
        let expected = expected_permission(&before, actor, &cmd);
        let gate = expected_gate(&before, actor, &cmd);
        let shown = format!("step {step}: {cmd:?} by {actor:?}");
        let result = w.try_exec(actor, cmd.clone()).map(|_| ());
        // The gate comes first, whatever else is wrong with the command.
        if let Some(gate) = &gate {
            assert_eq!(result, Err(gate.clone()), "{shown}: the endpoint gate");
        }
        match &result {
            Ok(()) => {
                stats.outcomes.entry(kind(op)).or_default().0 += 1;
                if let Some(allowed) = expected {
                    assert!(allowed, "{shown}: accepted without permission");
                }
            }
            Err(error) => {
                stats.outcomes.entry(kind(op)).or_default().1 += 1;
                let name = format!("{error:?}");
                let name = name.split(['(', ' ', '{']).next().unwrap_or_default();
                *stats.errors.entry(name.to_string()).or_default() += 1;
                // (5) refused: nothing moved (try_exec compared the snapshots).
                assert!(w.snap == before, "{shown}: refusal changed the snapshot");
                assert!(!matches!(error, Error::Internal(_)), "{shown}: {error:?}");
                if let Actor::User(id) = actor {
                    match before.user(id) {
                        None => assert_eq!(*error, Error::UserNotFound(id), "{shown}"),
                        Some(u) if !u.active => {
                            assert_eq!(*error, Error::UserDeactivated(id), "{shown}")
                        }
                        Some(_) => {}
                    }
                }
                if *error == Error::InsufficientPermission {
                    if let Some(allowed) = expected {
                        assert!(!allowed, "{shown}: refused although permitted");
                    }
                }
                assert!(
                    !matches!(op, Op::Tick(_)),
                    "{shown}: the periodic job failed: {error:?}"
                );
            }
        }
        if let Some(allowed) = expected {
            *stats
                .oracles
                .entry(if allowed {
                    "group permission: yes"
                } else {
                    "group permission: no"
                })
                .or_default() += 1;
        }
        if let Actor::Token(_) = actor {
            let scoped = gate.is_none();
            if result.is_ok() {
                assert!(scoped, "{shown}: accepted from an unscoped token");
            }
            *stats
                .oracles
                .entry(if scoped {
                    "token scope: yes"
                } else {
                    "token scope: no"
                })
                .or_default() += 1;
        }
        check_administration(&before, actor, &cmd, &result, &shown, stats);
        check_last_owner(&before, &cmd, &result, &shown, stats);
        check_in_use_and_cycles(&before, &cmd, &result, &shown, stats);
        check_audit_readers(&w.snap, stats);
        // (2) needs the clock, so it is checked here rather than in try_exec.
        check_system_groups(&w.snap, w.now);
        assert!(
            active_human_owners(&w.snap) >= 1,
            "{shown}: no active human owner left"
        );
    }
    // (6) the log replays to the same directory, and so do its records.
    assert!(
        w.replay() == w.snap,
        "replay differs from the live snapshot"
    );
    assert_eq!(w.snap.version(), w.commits.len() as u64);
    let rebuilt = Snapshot::from_parts(
        w.snap.realm().clone(),
        w.snap.version(),
        w.snap.users().map(|u| (**u).clone()),
        w.snap.groups().map(|g| (**g).clone()),
    )
    .expect("records rebuild a snapshot");
    assert!(
        rebuilt == w.snap,
        "from_parts differs from the live snapshot"
    );
    check_structure(&rebuilt);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        max_shrink_iters: 2_000,
        // Failing seeds go to tests/properties.proptest-regressions.
        failure_persistence: Some(Box::new(
            FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_command_sequences_keep_the_directory_consistent(steps in steps()) {
        run(&steps);
    }
}

/// Guards the generator itself: over a fixed batch of random sequences every
/// kind of step is accepted at least once and at least a third of all steps
/// are accepted, so
/// the properties are not checked on a directory that never moves.
/// `COHORT_PROP_STATS=1` prints the tallies.
#[test]
fn random_sequences_exercise_every_kind_of_step() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let strategy = steps();
    let mut runner = TestRunner::deterministic();
    let mut stats = Stats::default();
    for _ in 0..48 {
        let steps = strategy
            .new_tree(&mut runner)
            .expect("a sequence")
            .current();
        run_counting(&steps, &mut stats);
    }
    if std::env::var_os("COHORT_PROP_STATS").is_some() {
        eprintln!("{stats:#?}");
    }
    for kind in KINDS {
        let (accepted, _) = stats.outcomes.get(kind).copied().unwrap_or_default();
        assert!(accepted > 0, "{kind}: never accepted ({stats:?})");
    }
    for oracle in [
        "group permission: yes",
        "group permission: no",
        "administration",
        "in use: yes",
        "in use: no",
        "cycle: yes",
        "cycle: no",
        "last owner: yes",
        "last owner: no",
        "removal in use: yes",
        "removal in use: no",
        "edit cycle: yes",
        "edit cycle: no",
        "token scope: yes",
        "token scope: no",
        "audit reader: yes",
        "audit reader: no",
    ] {
        assert!(
            stats.oracles.get(oracle).is_some_and(|n| *n > 0),
            "oracle {oracle:?} never fired ({stats:?})"
        );
    }
    let (accepted, refused) = stats
        .outcomes
        .values()
        .fold((0, 0), |(a, r), (x, y)| (a + x, r + y));
    assert!(
        accepted * 2 >= refused,
        "mostly refused: {accepted} accepted, {refused} refused ({stats:?})"
    );
}

/// A fixed, longer sequence touching every kind of step, so the invariants
/// are also checked on a busy directory.
#[test]
fn a_busy_directory_stays_consistent() {
    let mut steps = Vec::new();
    for round in 0..3usize {
        let p = |n: usize| Pick::At(n + round);
        let g = |n: usize| GroupPick::At(n + round);
        let anyone = |n: usize| Who::User(Pick::At(n + round));
        steps.extend([
            (
                Who::Operator,
                Op::CreateUser {
                    role: Role::Member,
                    bot: false,
                },
            ),
            (
                Who::Operator,
                Op::CreateUser {
                    role: Role::Moderator,
                    bot: false,
                },
            ),
            (
                Who::Operator,
                Op::CreateUser {
                    role: Role::Guest,
                    bot: false,
                },
            ),
            (
                Who::Operator,
                Op::CreateUser {
                    role: Role::Owner,
                    bot: true,
                },
            ),
            (
                Who::Owner,
                Op::CreateGroup {
                    name: round,
                    members: vec![p(1), p(2)],
                    subgroups: vec![],
                    setting: None,
                },
            ),
            (
                Who::Owner,
                Op::CreateGroup {
                    name: round + 3,
                    members: vec![p(3)],
                    subgroups: vec![g(0)],
                    setting: Some((GroupSetting::CanJoinGroup, Val::Group(GroupPick::At(5)))),
                },
            ),
            (anyone(1), Op::Join(g(1))),
            (anyone(2), Op::Leave(g(1))),
            (Who::Owner, Op::AddMembers(g(1), vec![p(1), p(4)])),
            (Who::Owner, Op::AddSubgroups(g(0), vec![g(1)])),
            (Who::Owner, Op::AddSubgroups(g(1), vec![g(0)])),
            (Who::Owner, Op::SetWaitingPeriod(2)),
            (Who::Owner, Op::SetRole(p(2), Role::Member)),
            (Who::System, Op::Tick(3)),
            (Who::Owner, Op::DeactivateUser(p(1))),
            (
                Who::Owner,
                Op::SetGroupSetting {
                    group: g(2),
                    setting: GroupSetting::CanMentionGroup,
                    // p(1) was just deactivated: a setting may not name them.
                    value: Val::Anonymous(vec![p(2), p(4)], vec![g(0), g(1)]),
                    stale_old: false,
                },
            ),
            (Who::Owner, Op::DeactivateGroup(g(3))),
            (Who::Owner, Op::ReactivateUser(p(1))),
            (Who::Owner, Op::RemoveSubgroups(g(0), vec![g(1)])),
            (Who::Owner, Op::RemoveMembers(g(1), vec![p(4)])),
            (Who::Owner, Op::DeactivateGroup(g(1))),
            (Who::Owner, Op::ReactivateGroup(g(1))),
            (Who::Owner, Op::AddThenRemove(g(2), p(0))),
            (
                Who::Owner,
                Op::SetRealmSetting(
                    RealmSetting::CanCreateGroups,
                    Val::Anonymous(vec![p(2)], vec![GroupPick::At(3)]),
                ),
            ),
            (Who::Owner, Op::SetBotsMayManage(round % 2 == 0)),
            (Who::Owner, Op::Rename(g(0), round + 1)),
            (Who::Owner, Op::SetRole(p(0), Role::Guest)),
            (Who::Operator, Op::RemoveMembers(g(0), vec![p(1)])),
        ]);
    }
    let mut stats = Stats::default();
    run_counting(&steps, &mut stats);
    // A sequence whose steps were all refused would check nothing: every
    // kind of step in it must have been accepted at least once, and more
    // steps accepted than refused.
    for (_, op) in &steps {
        let (accepted, _) = stats.outcomes.get(kind(op)).copied().unwrap_or_default();
        assert!(accepted > 0, "{}: never accepted ({stats:?})", kind(op));
    }
    let (accepted, refused) = stats
        .outcomes
        .values()
        .fold((0, 0), |(a, r), (x, y)| (a + x, r + y));
    assert!(
        accepted > refused,
        "mostly refused: {accepted} accepted, {refused} refused ({stats:?})"
    );
}
