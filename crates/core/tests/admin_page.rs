//! What the admin page reads from the core: effective members with the
//! chain that puts each there, a user's every group with its chain, and
//! which actions the core would allow (`permission::group_rights`), which
//! must agree with what the commands themselves accept.

mod common;

use cohort_core::command::UpdateGroup;
use cohort_core::model::{SettingValue, SystemGroup};
use cohort_core::permission::{self, GroupRights};
use cohort_core::{Actor, Command, GroupId, GroupSetting, Role, UserId};
use common::*;
use std::sync::Arc;

fn chain(ids: &[GroupId]) -> Arc<[GroupId]> {
    ids.iter().copied().collect()
}

#[test]
fn effective_members_come_with_a_shortest_chain_and_skip_deactivated_users() {
    let mut w = World::new();
    let owner = w.owner_actor();
    let [a, b, c, d] = [0; 4].map(|_| w.add_user(Role::Member));
    let leaf = w.add_group(owner, "leaf", &[a, b]);
    let middle = w.add_group(owner, "middle", &[c]);
    let top = w.add_group(owner, "top", &[d]);
    w.exec(
        owner,
        Command::ChangeMembers(middle, add_subgroups(&[leaf])),
    );
    w.exec(owner, Command::ChangeMembers(top, add_subgroups(&[middle])));
    // `b` is also directly in `middle`: the shorter chain wins.
    w.exec(owner, Command::ChangeMembers(middle, add(&[b])));
    let got = w.snap.members_with_via(top);
    assert_eq!(
        got,
        vec![
            (a, chain(&[middle, leaf])),
            (b, chain(&[middle])),
            (c, chain(&[middle])),
            (d, chain(&[])),
        ]
    );
    // The same users as `recursive_members`.
    let users: Vec<UserId> = got.iter().map(|(u, _)| *u).collect();
    assert_eq!(users, w.snap.recursive_members(top));

    w.exec(owner, Command::DeactivateUser(a));
    let got = w.snap.members_with_via(top);
    assert!(got.iter().all(|(u, _)| *u != a), "{got:?}");
    assert!(w.snap.groups_with_via(a).is_empty());
    // Counting direct members skips the deactivated one, as listing does.
    assert_eq!(w.snap.direct_member_count(leaf), 1);
    assert_eq!(w.snap.direct_members(leaf), vec![b]);
}

#[test]
fn a_users_groups_come_with_the_chain_that_grants_each() {
    let mut w = World::new();
    let owner = w.owner_actor();
    let user = w.add_user(Role::Member);
    let leaf = w.add_group(owner, "leaf", &[user]);
    let middle = w.add_group(owner, "middle", &[]);
    let top = w.add_group(owner, "top", &[]);
    w.exec(
        owner,
        Command::ChangeMembers(middle, add_subgroups(&[leaf])),
    );
    w.exec(owner, Command::ChangeMembers(top, add_subgroups(&[middle])));
    let got = w.snap.groups_with_via(user);
    let find = |g: GroupId| {
        got.iter()
            .find(|(id, _)| *id == g)
            .map(|(_, via)| via.clone())
    };
    assert_eq!(find(leaf), Some(vec![]));
    assert_eq!(find(middle), Some(vec![leaf]));
    assert_eq!(find(top), Some(vec![middle, leaf]));
    // Every group it lists really holds the user, and no other does.
    for g in w.snap.groups() {
        assert_eq!(
            got.iter().any(|(id, _)| *id == g.id),
            w.snap.is_member(g.id, user, false),
            "{}",
            g.name
        );
    }
}

/// Whether each action's command is accepted, each tried on a copy of
/// the world (`me` out of the group to join, in it to leave; `other` in
/// it to be removed, `newcomer` out of it to be added).
fn accepted(w: &World, group: GroupId, me: UserId, other: UserId, newcomer: UserId) -> GroupRights {
    let actor = Actor::User(me);
    let try_on = |w: &World, cmd: Command| w.clone().try_exec(actor, cmd).is_ok();
    let mut inside = w.clone();
    let owner = inside.owner_actor();
    inside.exec(owner, Command::ChangeMembers(group, add(&[me])));
    let describe = UpdateGroup {
        description: Some("changed by the test".into()),
        ..Default::default()
    };
    GroupRights {
        manage: try_on(w, Command::UpdateGroup(group, describe)),
        add_members: try_on(w, Command::ChangeMembers(group, add(&[newcomer]))),
        remove_members: try_on(w, Command::ChangeMembers(group, delete(&[other]))),
        join: try_on(w, Command::ChangeMembers(group, add(&[me]))),
        leave: try_on(&inside, Command::ChangeMembers(group, delete(&[me]))),
    }
}

#[test]
fn the_rights_shown_are_the_rights_the_commands_grant() {
    let mut w = World::new();
    let owner = w.owner_actor();
    let other = w.add_user(Role::Member);
    let newcomer = w.add_user(Role::Member);
    let mut people = vec![w.owner];
    for role in [
        Role::Administrator,
        Role::Moderator,
        Role::Member,
        Role::Guest,
    ] {
        people.push(w.add_user(role));
    }
    people.push(w.add_bot(w.owner, Role::Member));
    let members = w.sys(SystemGroup::Members);
    let open = w.add_group(owner, "open", &[other]);
    w.exec(
        owner,
        Command::UpdateGroup(
            open,
            set(GroupSetting::CanJoinGroup, SettingValue::Group(members)),
        ),
    );
    let moderators = w.sys(SystemGroup::Moderators);
    let shared = w.add_group(owner, "shared", &[other]);
    w.exec(
        owner,
        Command::UpdateGroup(
            shared,
            set(
                GroupSetting::CanAddMembersGroup,
                SettingValue::Group(moderators),
            ),
        ),
    );
    let closed = w.add_group(owner, "closed", &[other]);
    for me in people {
        for group in [open, shared, closed] {
            let mut shown = permission::group_rights(&w.snap, Actor::User(me), group);
            let mut inside = w.clone();
            inside.exec(owner, Command::ChangeMembers(group, add(&[me])));
            shown.leave = permission::group_rights(&inside.snap, Actor::User(me), group).leave;
            let user = w.user(me);
            assert_eq!(
                shown,
                accepted(&w, group, me, other, newcomer),
                "{:?} (bot: {}) on {}",
                user.role,
                user.is_bot,
                w.group(group).name
            );
        }
    }
    // No one manages a system group.
    let shown = permission::group_rights(&w.snap, owner, members);
    assert!(!shown.manage && !shown.add_members && !shown.remove_members);
}
