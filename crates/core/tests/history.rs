//! The history index against naive replays of the change log.
//!
//! For random command sequences (the generator the directory's property
//! tests use), at every version:
//! (1) a group's direct and transitive members as of that version equal those
//!     of the snapshot replayed up to it (transitive by fixed point), and a
//!     group the replay does not have is unknown to the history then;
//! (2) every `via` is a valid chain of subgroup edges at that version ending
//!     in a direct membership;
//! (3) a user's groups as of that version equal the groups a naive replay
//!     puts them in, each `via` valid;
//! (4) names, roles and activity as of that version equal the replay's;
//! and for pairs of versions:
//! (5) the access review equals the set difference of two naive replays,
//!     each entry blaming at least one commit in between;
//! and for the audit trail:
//! (6) the candidates of a filtered query, described and matched, are exactly
//!     the brute-force scan of every event, in order.

mod common;
#[path = "common/gen.rs"]
mod gen;

use cohort_core::audit::{self, AuditEvent, AuditQuery, EventKind};
use cohort_core::history::History;
use cohort_core::model::Scope;
use cohort_core::{Actor, Commit, GroupId, Role, Snapshot, UserId, Version};
use common::*;
use gen::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn seeded_world() -> World {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    let m1 = w.add_user(Role::Member);
    let m2 = w.add_user(Role::Member);
    w.add_user(Role::Moderator);
    w.add_user(Role::Guest);
    let team = w.add_group(Actor::User(m1), "team", &[m1, m2]);
    let outer = w.add_group(Actor::User(admin), "outer", &[admin]);
    w.exec(
        w.owner_actor(),
        cohort_core::Command::ChangeMembers(outer, add_subgroups(&[team])),
    );
    w.add_token("idp", &[Scope::Scim]);
    w
}

fn run_world(steps: &[(Who, Op)]) -> World {
    let mut w = seeded_world();
    for (who, op) in steps {
        if let Op::Tick(days) = op {
            w.advance_days(*days);
        }
        let actor = match op {
            Op::Tick(_) => Actor::System,
            _ => actor_of(&w, who, op),
        };
        let cmd = command_of(&mut w, op, actor);
        let _ = w.try_exec(actor, cmd);
    }
    w
}

fn build(commits: &[Commit]) -> History {
    let mut history = History::start(&commits[0]).expect("history starts");
    for commit in &commits[1..] {
        history
            .apply(commit)
            .expect("commit applies to the history");
    }
    history
}

/// The snapshot after each version (index 0: version 1).
fn replays(w: &World) -> Vec<Snapshot> {
    let mut snap = Snapshot::empty(w.origin.clone());
    w.commits
        .iter()
        .map(|c| {
            snap.apply(c).expect("replay");
            snap.clone()
        })
        .collect()
}

fn valid_chain(snap: &Snapshot, top: GroupId, via: &[GroupId], user: UserId) -> bool {
    let mut parent = top;
    for sub in via {
        if !snap.group(parent).is_some_and(|g| g.has_subgroup(*sub)) {
            return false;
        }
        parent = *sub;
    }
    snap.group(parent).is_some_and(|g| g.has_member(user)) && snap.is_active_user(user)
}

fn check_as_of(history: &History, snaps: &[Snapshot]) {
    check_as_of_from(history, snaps, 1);
}

fn check_as_of_from(history: &History, snaps: &[Snapshot], first: Version) {
    let all_groups: BTreeSet<GroupId> = history.group_ids().collect();
    for (i, snap) in snaps.iter().enumerate().skip(first as usize - 1) {
        let v = i as Version + 1;
        for g in &all_groups {
            let direct = history.members(*g, v, false);
            let transitive = history.members(*g, v, true);
            let Some(group) = snap.group(*g) else {
                assert_eq!(direct, None, "group {g} at {v} should not exist");
                assert_eq!(transitive, None);
                continue;
            };
            let direct = direct.expect("group exists in history");
            let ids: Vec<UserId> = direct.iter().map(|m| m.user).collect();
            assert_eq!(ids, snap.direct_members(*g), "direct members of {g} at {v}");
            assert!(direct.iter().all(|m| m.via.is_empty()));
            let transitive = transitive.expect("group exists in history");
            let ids: Vec<UserId> = transitive.iter().map(|m| m.user).collect();
            assert_eq!(
                ids,
                naive_recursive_members(snap, *g),
                "members of {g} at {v}"
            );
            for m in &transitive {
                assert!(
                    valid_chain(snap, *g, &m.via, m.user),
                    "via {:?} of {} in {g} at {v}",
                    m.via,
                    m.user
                );
            }
            let at = history.group_at(*g, v).expect("group known");
            assert_eq!(&*at.name, &*group.name);
            assert_eq!(&*at.description, group.description.as_str());
            assert_eq!(at.deactivated, group.deactivated);
            for setting in cohort_core::model::GroupSetting::ALL {
                assert_eq!(
                    history.group_setting_at(*g, setting, v),
                    Some(group.setting(setting))
                );
            }
        }
        for user in snap.users() {
            let at = history.user_at(user.id, v).expect("user known");
            assert_eq!(&*at.full_name, user.full_name.as_str());
            assert_eq!(at.email.as_deref(), user.email.as_deref());
            assert_eq!(at.role, user.role);
            assert_eq!(at.active, user.active);
            let groups = history.groups_of(user.id, v).expect("user exists");
            let ids: BTreeSet<GroupId> = groups.iter().map(|m| m.group).collect();
            let naive: BTreeSet<GroupId> = snap
                .groups()
                .filter(|g| naive_recursive_members(snap, g.id).contains(&user.id))
                .map(|g| g.id)
                .collect();
            assert_eq!(ids, naive, "groups of {} at {v}", user.id);
            for m in &groups {
                assert!(
                    valid_chain(snap, m.group, &m.via, user.id),
                    "via {:?} of {} up to {} at {v}",
                    m.via,
                    user.id,
                    m.group
                );
            }
        }
    }
}

fn effective(snap: Option<&Snapshot>, g: GroupId) -> BTreeSet<UserId> {
    match snap {
        Some(s) if s.group(g).is_some() => naive_recursive_members(s, g).into_iter().collect(),
        _ => BTreeSet::new(),
    }
}

fn check_review(history: &History, snaps: &[Snapshot], from: Version, to: Version) {
    let at = |v: Version| (v >= 1).then(|| &snaps[v as usize - 1]);
    let review = history.access_review(from, to, None);
    let by_group: BTreeMap<GroupId, _> = review.iter().map(|r| (r.group, r)).collect();
    for g in history.group_ids() {
        let before = effective(at(from), g);
        let after = effective(at(to), g);
        let gained: BTreeSet<UserId> = after.difference(&before).copied().collect();
        let lost: BTreeSet<UserId> = before.difference(&after).copied().collect();
        match by_group.get(&g) {
            None => assert!(
                gained.is_empty() && lost.is_empty(),
                "review {from}..{to} misses group {g}"
            ),
            Some(r) => {
                let got: BTreeSet<UserId> = r.gained.iter().map(|e| e.user).collect();
                assert_eq!(got, gained, "gained in {g} between {from} and {to}");
                let got: BTreeSet<UserId> = r.lost.iter().map(|e| e.user).collect();
                assert_eq!(got, lost, "lost in {g} between {from} and {to}");
                for e in r.gained.iter().chain(&r.lost) {
                    assert!(
                        !e.because.is_empty(),
                        "no cause for {} in {g} between {from} and {to}",
                        e.user
                    );
                    assert!(e.because.iter().all(|v| *v > from && *v <= to));
                }
                let single = history.access_review(from, to, Some(g));
                assert_eq!(single, vec![(*r).clone()]);
            }
        }
    }
    for limit in [1, 2, 5] {
        let (mut pages, mut after) = (Vec::new(), None);
        loop {
            let page = history.access_review_page(from, to, None, after, limit);
            assert!(page.groups.len() <= limit);
            assert!(page.next.is_none() || page.groups.len() == limit);
            pages.extend(page.groups);
            match page.next {
                Some(g) => after = Some(g),
                None => break,
            }
        }
        assert_eq!(pages, review, "pages of {limit} between {from} and {to}");
    }
}

fn check_audit(history: &History, commits: &[Commit]) {
    let all: Vec<AuditEvent> = commits
        .iter()
        .flat_map(|c| audit::describe(history, c))
        .collect();
    for c in commits {
        let events = audit::describe(history, c);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.id.version, c.version);
            assert_eq!(e.id.index as usize, i);
        }
    }
    let some_user = all.iter().find_map(|e| e.users.first().copied());
    let some_group = all.iter().rev().find_map(|e| e.group);
    let queries = [
        AuditQuery {
            to: Version::MAX,
            ..Default::default()
        },
        AuditQuery {
            to: Version::MAX,
            user: some_user,
            ..Default::default()
        },
        AuditQuery {
            to: Version::MAX,
            group: some_group,
            newest_first: true,
            ..Default::default()
        },
        AuditQuery {
            to: Version::MAX,
            user: some_user,
            group: some_group,
            ..Default::default()
        },
        AuditQuery {
            from: 3,
            to: history.version() / 2,
            kinds: EventKind::GroupMemberAdded.bit() | EventKind::GroupSubgroupRemoved.bit(),
            ..Default::default()
        },
        AuditQuery {
            to: Version::MAX,
            actor: Some(Actor::System),
            ..Default::default()
        },
    ];
    for q in queries {
        let mut expected: Vec<&AuditEvent> = all
            .iter()
            .filter(|e| e.id.version >= q.from && e.id.version <= q.to && q.matches(e))
            .collect();
        if q.newest_first {
            expected.reverse();
        }
        let mut got: Vec<AuditEvent> = Vec::new();
        for v in q.candidates(history, None) {
            let mut events: Vec<AuditEvent> = audit::describe(history, &commits[v as usize - 1])
                .into_iter()
                .filter(|e| q.matches(e))
                .collect();
            if q.newest_first {
                events.reverse();
            }
            got.extend(events);
        }
        let got: Vec<&AuditEvent> = got.iter().collect();
        assert_eq!(got, expected, "query {q:?}");
    }
}

/// (7) A history started from a checkpoint at version `base` (after the log
/// before it was pruned) answers every question about later versions as the
/// full history does, and knows nothing earlier.
fn check_checkpoint(full: &History, w: &World, snaps: &[Snapshot], base: Version) {
    let at = w.commits[base as usize - 1].at;
    let mut history = History::from_checkpoint(&snaps[base as usize - 1], at);
    for commit in &w.commits[base as usize..] {
        history
            .apply(commit)
            .expect("commit applies after the checkpoint");
    }
    assert_eq!(history.retained_from(), (base, at));
    assert_eq!(history.version_at(at - 1), None, "before the checkpoint");
    check_as_of_from(&history, snaps, base);
    let n = snaps.len() as Version;
    if base < n {
        assert_eq!(
            history.access_review(base, n, None),
            full.access_review(base, n, None)
        );
    }
    let q = AuditQuery {
        to: Version::MAX,
        ..Default::default()
    };
    let got: Vec<Version> = q.candidates(&history, None).collect();
    let want: Vec<Version> = q.candidates(full, None).filter(|v| *v > base).collect();
    assert_eq!(got, want);
    for v in &got {
        let c = &w.commits[*v as usize - 1];
        assert_eq!(
            audit::describe(&history, c),
            audit::describe(full, c),
            "events of {v}"
        );
    }
}

fn check(w: &World) {
    let history = build(&w.commits);
    let snaps = replays(w);
    assert_eq!(history.version(), w.commits.len() as Version);
    check_as_of(&history, &snaps);
    let n = snaps.len() as Version;
    for (from, to) in [(0, n), (1, n), (n / 3, 2 * n / 3), (n / 2, n), (0, 1)] {
        if from < to {
            check_review(&history, &snaps, from, to);
        }
    }
    check_audit(&history, &w.commits);
    check_checkpoint(&history, w, &snaps, (n / 2).max(1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn history_answers_like_a_naive_replay(steps in steps()) {
        check(&run_world(&steps));
    }
}

#[test]
fn via_paths_and_causes_read_as_a_reviewer_expects() {
    let mut w = seeded_world();
    let owner = w.owner_actor();
    let alice = w.add_user(Role::Member);
    let inner = w.add_group(owner, "inner", &[alice]);
    let v_before = w.commits.len() as Version;
    let top = w.add_group(owner, "top", &[]);
    w.exec(
        owner,
        cohort_core::Command::ChangeMembers(top, add_subgroups(&[inner])),
    );
    let v_after = w.commits.len() as Version;
    let history = build(&w.commits);
    let members = history.members(top, v_after, true).expect("top exists");
    let alice_in_top = members
        .iter()
        .find(|m| m.user == alice)
        .expect("alice reaches top");
    assert_eq!(alice_in_top.via, vec![inner]);
    let groups = history.groups_of(alice, v_after).expect("alice exists");
    assert!(groups
        .iter()
        .any(|m| m.group == top && m.via == vec![inner]));
    assert!(groups.iter().any(|m| m.group == inner && m.via.is_empty()));
    // Before `top` existed she reached nothing through it.
    assert_eq!(history.members(top, v_before, true), None);
    let review = history.access_review(v_before, v_after, Some(top));
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].gained.len(), 1);
    assert_eq!(review[0].gained[0].user, alice);
    // The subgroup edge made her a member, not the group's creation.
    assert_eq!(review[0].gained[0].because, vec![v_after]);
    check(&w);
}
