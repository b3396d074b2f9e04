//! Unit tests of `command::execute` and friends, one rule at a time, each
//! asserting the exact `Error` a refusal returns. The rules are Zulip's, as its
//! API documentation (https://zulip.com/api/) and its server code
//! (https://github.com/zulip/zulip, `zerver/views/user_groups.py`,
//! `zerver/lib/user_groups.py`) give them.

mod common;

use cohort_core::change::{GroupPatch, UserPatch};
use cohort_core::command::{
    self, ChangeMembers, Command, SettingUpdate, UpdateGroup, UpdateRealm, UpdateUser,
};
use cohort_core::model::{GroupSetting, RealmSetting, SettingDefault};
use cohort_core::permission;
use cohort_core::{
    Actor, Change, Commit, Error, GroupId, Objection, Reply, Role, SettingValue, SystemGroup,
    UserId,
};
use common::*;

use GroupSetting::*;

// ------------------------------------------------------------ realm creation

#[test]
fn realm_creates_eight_system_groups_in_order_with_ascending_ids() {
    let w = World::new();
    let system: Vec<_> = w.snap.groups().filter(|g| g.is_system()).collect();
    assert_eq!(system.len(), 8);
    assert_eq!(w.snap.group_count(), 8);
    let names: Vec<&str> = system.iter().map(|g| &*g.name).collect();
    assert_eq!(
        names,
        [
            "role:nobody",
            "role:owners",
            "role:administrators",
            "role:moderators",
            "role:fullmembers",
            "role:members",
            "role:everyone",
            "role:internet"
        ]
    );
    for (g, which) in system.iter().zip(SystemGroup::ALL) {
        assert_eq!(g.system, Some(which));
        assert_eq!(g.description, which.description());
        assert_eq!(g.creator, None);
        assert!(!g.deactivated);
    }
    assert!(
        system.windows(2).all(|p| p[0].id < p[1].id),
        "ids ascend in creation order"
    );
    // Every system group setting is role:nobody (https://zulip.com/api/group-setting-values).
    let nobody = SettingValue::Group(w.sys(SystemGroup::Nobody));
    for g in &system {
        assert!(g.settings.iter().all(|v| *v == nobody), "{}", g.name);
    }
}

#[test]
fn system_groups_nest_as_the_role_chain() {
    let w = World::new();
    let chain = [
        SystemGroup::Owners,
        SystemGroup::Administrators,
        SystemGroup::Moderators,
        SystemGroup::FullMembers,
        SystemGroup::Members,
        SystemGroup::Everyone,
        SystemGroup::Internet,
    ];
    assert!(w.group(w.sys(SystemGroup::Nobody)).subgroups.is_empty());
    assert!(w.group(w.sys(SystemGroup::Owners)).subgroups.is_empty());
    for pair in chain.windows(2) {
        assert_eq!(
            w.group(w.sys(pair[1])).subgroups,
            vec![w.sys(pair[0])],
            "{} directly contains {}",
            pair[1].name(),
            pair[0].name()
        );
    }
    // The owner is therefore in every group of the chain, and not in nobody.
    for which in chain {
        assert!(
            w.snap.is_member(w.sys(which), w.owner, false),
            "{}",
            which.name()
        );
    }
    assert!(!w.snap.is_member(w.sys(SystemGroup::Nobody), w.owner, false));
    assert_eq!(
        w.snap
            .recursive_subgroups(w.sys(SystemGroup::Internet))
            .len(),
        6,
        "internet contains everyone … owners"
    );
}

#[test]
fn realm_settings_take_zulip_defaults() {
    let w = World::new();
    let realm = w.snap.realm();
    assert_eq!(
        *realm.setting(RealmSetting::CanCreateGroups),
        SettingValue::Group(w.sys(SystemGroup::Members))
    );
    assert_eq!(
        *realm.setting(RealmSetting::CanManageAllGroups),
        SettingValue::Group(w.sys(SystemGroup::Owners))
    );
    assert_eq!(realm.waiting_period_days, 0);
    assert!(!realm.bots_may_manage_groups);
}

#[test]
fn realm_owner_is_a_direct_member_of_owners_only() {
    let w = World::new();
    let owner = w.user(w.owner);
    assert_eq!(owner.role, Role::Owner);
    assert!(owner.active);
    for which in SystemGroup::ALL {
        assert_eq!(
            w.group(w.sys(which)).members.contains(&w.owner),
            which == SystemGroup::Owners,
            "{}",
            which.name()
        );
    }
    assert_eq!(
        w.snap.direct_members(w.sys(SystemGroup::Owners)),
        vec![w.owner]
    );
}

#[test]
fn realm_without_owner_has_no_users() {
    let mut ids = Counter(100);
    let (realm, outcome) = command::create_realm(
        &command::CreateRealm {
            name: "Empty".into(),
            owner: None,
        },
        &mut cohort_core::Context {
            now: T0,
            ids: &mut ids,
        },
    )
    .unwrap();
    assert_eq!(realm.0, 100);
    let snap = outcome.seal(1);
    assert_eq!(snap.user_count(), 0);
    assert_eq!(snap.group_count(), 8);
    let ids: Vec<i64> = snap.groups().map(|g| g.id.0).collect();
    assert_eq!(ids, (101..=108).collect::<Vec<_>>());
}

// ------------------------------------------------------------ create group

#[test]
fn created_group_takes_default_settings() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let g = w.add_group(Actor::User(member), "Team", &[]);
    let group = w.group(g);
    let creator_only = anon(&[member], &[]);
    assert_eq!(*group.setting(CanManageGroup), creator_only);
    assert_eq!(*group.setting(CanAddMembersGroup), creator_only);
    assert_eq!(
        *group.setting(CanJoinGroup),
        SettingValue::Group(w.sys(SystemGroup::Nobody))
    );
    assert_eq!(
        *group.setting(CanLeaveGroup),
        SettingValue::Group(w.sys(SystemGroup::Everyone))
    );
    assert_eq!(
        *group.setting(CanMentionGroup),
        SettingValue::Group(w.sys(SystemGroup::Everyone))
    );
    assert_eq!(
        *group.setting(CanRemoveMembersGroup),
        SettingValue::Group(w.sys(SystemGroup::Nobody))
    );
    assert_eq!(group.creator, Some(member));
    assert!(!group.is_system());
    assert!(!group.deactivated);
    assert!(
        group.members.is_empty(),
        "the creator is not a member unless listed"
    );
    // The defaults agree with the settings' documented configuration.
    for setting in GroupSetting::ALL {
        let expected = match setting.config().default {
            SettingDefault::GroupCreator => creator_only.clone(),
            SettingDefault::System(which) => SettingValue::Group(w.sys(which)),
        };
        assert_eq!(*group.setting(setting), expected, "{}", setting.name());
    }
}

#[test]
fn group_created_by_operator_defaults_creator_settings_to_nobody() {
    let mut w = World::new();
    let g = w.add_group(Actor::Operator, "Ops", &[]);
    let group = w.group(g);
    assert_eq!(group.creator, None);
    let nobody = SettingValue::Group(w.sys(SystemGroup::Nobody));
    assert_eq!(*group.setting(CanManageGroup), nobody);
    assert_eq!(*group.setting(CanAddMembersGroup), nobody);
}

#[test]
fn created_group_stores_members_and_subgroups_sorted_and_unique() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let sub = w.add_group(Actor::Operator, "Sub", &[]);
    let mut cmd = group_cmd("Team");
    cmd.members = vec![b, a, b];
    cmd.subgroups = vec![sub, w.sys(SystemGroup::Moderators), sub];
    let g = w.create_group(w.owner_actor(), cmd);
    let group = w.group(g);
    assert_eq!(group.members, vec![a.min(b), a.max(b)]);
    let mut subs = vec![sub, w.sys(SystemGroup::Moderators)];
    subs.sort();
    assert_eq!(group.subgroups, subs, "system groups may be subgroups");
    assert!(
        w.snap.is_member(g, w.owner, false),
        "owner is in moderators, hence in the group"
    );
}

#[test]
fn group_name_rules() {
    let mut w = World::new();
    let me = w.owner_actor();
    let try_name =
        |w: &mut World, name: &str| w.try_exec(me, Command::CreateGroup(group_cmd(name)));
    assert_eq!(try_name(&mut w, "").unwrap_err(), Error::NameEmpty);
    assert_eq!(try_name(&mut w, "  \t ").unwrap_err(), Error::NameEmpty);
    assert_eq!(
        try_name(&mut w, &"x".repeat(101)).unwrap_err(),
        Error::NameTooLong { max: 100 }
    );
    assert!(
        try_name(&mut w, &"é".repeat(100)).is_ok(),
        "100 code points are fine"
    );
    for prefix in ["@", "role:", "user:", "stream:", "channel:"] {
        assert_eq!(
            try_name(&mut w, &format!("{prefix}team")).unwrap_err(),
            Error::NameReservedPrefix(prefix)
        );
    }
    assert!(
        try_name(&mut w, "Role:team").is_ok(),
        "prefixes are case-sensitive"
    );
    assert!(try_name(&mut w, " padded ").is_ok());
    assert!(
        w.snap.group_by_name(" padded ").is_some(),
        "stored untrimmed"
    );
    assert!(try_name(&mut w, "Marketing").is_ok());
    assert_eq!(
        try_name(&mut w, "Marketing").unwrap_err(),
        Error::NameTaken("Marketing".into())
    );
    assert!(
        try_name(&mut w, "marketing").is_ok(),
        "names differing in case coexist"
    );
    assert_eq!(
        try_name(&mut w, "role:members").unwrap_err(),
        Error::NameReservedPrefix("role:")
    );
}

#[test]
fn deactivated_group_keeps_its_name_reserved() {
    let mut w = World::new();
    let g = w.add_group(w.owner_actor(), "Old", &[]);
    w.exec(w.owner_actor(), Command::DeactivateGroup(g));
    assert_eq!(
        w.err(w.owner_actor(), Command::CreateGroup(group_cmd("Old"))),
        Error::NameTaken("Old".into())
    );
}

#[test]
fn invalid_members_are_reported_first_in_input_order() {
    let mut w = World::new();
    let ok = w.add_user(Role::Member);
    let gone = w.add_user(Role::Member);
    w.exec(Actor::Operator, Command::DeactivateUser(gone));
    let unknown = UserId(9_999);
    let me = w.owner_actor();
    for (members, first_bad) in [
        (vec![ok, gone, unknown], gone),
        (vec![ok, unknown, gone], unknown),
        (vec![unknown], unknown),
        (vec![gone], gone),
    ] {
        let mut cmd = group_cmd("Team");
        cmd.members = members;
        assert_eq!(
            w.err(me, Command::CreateGroup(cmd)),
            Error::InvalidMember(first_bad)
        );
    }
    // Members are checked before the name, as `zerver/views/user_groups.py` does.
    let mut cmd = group_cmd("");
    cmd.members = vec![unknown];
    assert_eq!(
        w.err(me, Command::CreateGroup(cmd)),
        Error::InvalidMember(unknown)
    );
}

#[test]
fn unknown_and_deactivated_subgroups_are_refused() {
    let mut w = World::new();
    let me = w.owner_actor();
    let old = w.add_group(me, "Old", &[]);
    w.exec(me, Command::DeactivateGroup(old));
    let mut cmd = group_cmd("Team");
    cmd.subgroups = vec![GroupId(9_999)];
    assert_eq!(
        w.err(me, Command::CreateGroup(cmd)),
        Error::SubgroupNotFound(GroupId(9_999))
    );
    let mut cmd = group_cmd("Team");
    cmd.subgroups = vec![old];
    assert_eq!(
        w.err(me, Command::CreateGroup(cmd)),
        Error::GroupDeactivated(old)
    );
    // Unknown ids are reported before deactivated ones.
    let mut cmd = group_cmd("Team");
    cmd.subgroups = vec![old, GroupId(9_999)];
    assert_eq!(
        w.err(me, Command::CreateGroup(cmd)),
        Error::SubgroupNotFound(GroupId(9_999))
    );
    // The name is checked before the subgroups.
    let mut cmd = group_cmd("Old");
    cmd.subgroups = vec![GroupId(9_999)];
    assert_eq!(
        w.err(me, Command::CreateGroup(cmd)),
        Error::NameTaken("Old".into())
    );
}

#[test]
fn guests_and_bots_may_not_create_groups() {
    let mut w = World::new();
    let guest = w.add_user(Role::Guest);
    let bot = w.add_bot(w.owner, Role::Member);
    assert_eq!(
        w.err(Actor::User(guest), Command::CreateGroup(group_cmd("G"))),
        Error::GuestNotAllowed
    );
    assert_eq!(
        w.err(Actor::User(bot), Command::CreateGroup(group_cmd("B"))),
        Error::BotNotAllowed
    );
    w.exec(
        w.owner_actor(),
        Command::UpdateRealm(UpdateRealm {
            bots_may_manage_groups: Some(true),
            ..UpdateRealm::default()
        }),
    );
    let g = w.add_group(Actor::User(bot), "B", &[]);
    assert_eq!(w.group(g).creator, Some(bot));
    assert_eq!(
        w.err(Actor::User(guest), Command::CreateGroup(group_cmd("G"))),
        Error::GuestNotAllowed,
        "guests stay excluded"
    );
}

#[test]
fn can_create_groups_restricts_creation() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let admin = w.add_user(Role::Administrator);
    let guest = w.add_user(Role::Guest);
    let admins = w.sys(SystemGroup::Administrators);
    w.exec(
        w.owner_actor(),
        Command::UpdateRealm(UpdateRealm {
            settings: vec![(
                RealmSetting::CanCreateGroups,
                SettingUpdate {
                    new: SettingValue::Group(admins),
                    old: Some(SettingValue::Group(w.sys(SystemGroup::Members))),
                },
            )],
            ..UpdateRealm::default()
        }),
    );
    assert_eq!(
        w.err(Actor::User(member), Command::CreateGroup(group_cmd("M"))),
        Error::InsufficientPermission
    );
    assert_eq!(
        w.err(Actor::User(guest), Command::CreateGroup(group_cmd("G"))),
        Error::GuestNotAllowed,
        "the guest gate comes before the permission check"
    );
    w.add_group(Actor::User(admin), "A", &[]);
    w.add_group(Actor::Operator, "O", &[]);
    w.add_group(Actor::Platform, "P", &[]);
}

#[test]
fn guests_never_hold_can_create_groups_even_when_listed() {
    let mut w = World::new();
    let guest = w.add_user(Role::Guest);
    // role:everyone is not allowed, but an anonymous value can name a guest.
    w.exec(
        w.owner_actor(),
        Command::UpdateRealm(UpdateRealm {
            settings: vec![(
                RealmSetting::CanCreateGroups,
                SettingUpdate {
                    new: anon(&[guest], &[w.sys(SystemGroup::Members)]),
                    old: None,
                },
            )],
            ..UpdateRealm::default()
        }),
    );
    assert_eq!(
        w.err(Actor::User(guest), Command::CreateGroup(group_cmd("G"))),
        Error::GuestNotAllowed
    );
}

#[test]
fn anonymous_setting_values_are_canonicalised() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let other = w.add_group(w.owner_actor(), "Other", &[]);
    let mut cmd = group_cmd("Team");
    cmd.settings = vec![
        (CanJoinGroup, anon(&[], &[other])),
        (CanAddMembersGroup, anon(&[], &[])),
        (
            CanMentionGroup,
            anon(&[member, w.owner, member], &[other, other]),
        ),
    ];
    let g = w.create_group(w.owner_actor(), cmd);
    let group = w.group(g);
    assert_eq!(*group.setting(CanJoinGroup), SettingValue::Group(other));
    assert_eq!(
        *group.setting(CanAddMembersGroup),
        SettingValue::Group(w.sys(SystemGroup::Nobody))
    );
    let mut people = vec![member, w.owner];
    people.sort();
    assert_eq!(
        *group.setting(CanMentionGroup),
        anon(&people, &[other]),
        "sorted, unique"
    );
}

#[test]
fn setting_values_follow_each_settings_configuration() {
    let mut w = World::new();
    let me = w.owner_actor();
    let everyone = w.sys(SystemGroup::Everyone);
    let internet = w.sys(SystemGroup::Internet);
    let with = |setting, value| {
        let mut cmd = group_cmd("Team");
        cmd.settings = vec![(setting, value)];
        Command::CreateGroup(cmd)
    };
    assert_eq!(
        w.err(me, with(CanManageGroup, SettingValue::Group(everyone))),
        Error::SettingNotAllowed {
            setting: "can_manage_group",
            group: "role:everyone".into()
        }
    );
    assert_eq!(
        w.err(me, with(CanManageGroup, anon(&[], &[everyone]))),
        Error::SettingNotAllowed {
            setting: "can_manage_group",
            group: "role:everyone".into()
        },
        "a lone subgroup is that group"
    );
    for setting in GroupSetting::ALL {
        assert_eq!(
            w.err(me, with(setting, SettingValue::Group(internet))),
            Error::SettingNotAllowed {
                setting: setting.name(),
                group: "role:internet".into()
            }
        );
    }
    for setting in [CanAddMembersGroup, CanJoinGroup, CanRemoveMembersGroup] {
        assert_eq!(
            w.err(me, with(setting, SettingValue::Group(everyone))),
            Error::SettingNotAllowed {
                setting: setting.name(),
                group: "role:everyone".into()
            }
        );
    }
    // can_mention_group and can_leave_group allow role:everyone.
    let mut cmd = group_cmd("Open");
    cmd.settings = vec![
        (CanMentionGroup, SettingValue::Group(everyone)),
        (CanLeaveGroup, SettingValue::Group(everyone)),
    ];
    w.exec(me, Command::CreateGroup(cmd));
}

#[test]
fn invalid_setting_values_are_refused() {
    let mut w = World::new();
    let me = w.owner_actor();
    let gone = w.add_user(Role::Member);
    w.exec(Actor::Operator, Command::DeactivateUser(gone));
    let old = w.add_group(me, "Old", &[]);
    w.exec(me, Command::DeactivateGroup(old));
    let with = |value| {
        let mut cmd = group_cmd("Team");
        cmd.settings = vec![(CanMentionGroup, value)];
        Command::CreateGroup(cmd)
    };
    assert_eq!(
        w.err(me, with(SettingValue::Group(GroupId(9_999)))),
        Error::GroupNotFound(GroupId(9_999))
    );
    assert_eq!(
        w.err(me, with(SettingValue::Group(old))),
        Error::GroupDeactivated(old)
    );
    assert_eq!(
        w.err(me, with(anon(&[gone], &[]))),
        Error::InvalidMember(gone)
    );
    assert_eq!(
        w.err(me, with(anon(&[UserId(9_999)], &[]))),
        Error::InvalidMember(UserId(9_999))
    );
    assert_eq!(
        w.err(me, with(anon(&[w.owner], &[GroupId(9_999)]))),
        Error::SubgroupNotFound(GroupId(9_999))
    );
    assert_eq!(
        w.err(me, with(anon(&[w.owner], &[old]))),
        Error::GroupDeactivated(old)
    );
}

#[test]
fn refused_creation_creates_nothing() {
    let mut w = World::new();
    let before = w.snap.clone();
    let mut cmd = group_cmd("Team");
    cmd.members = vec![w.owner];
    cmd.subgroups = vec![GroupId(9_999)];
    assert_eq!(
        w.err(w.owner_actor(), Command::CreateGroup(cmd)),
        Error::SubgroupNotFound(GroupId(9_999))
    );
    assert_eq!(w.snap, before);
    assert!(w.snap.group_by_name("Team").is_none());
}

#[test]
fn realm_setting_configurations() {
    let mut w = World::new();
    let me = w.owner_actor();
    let realm_set = |setting, new| {
        Command::UpdateRealm(UpdateRealm {
            settings: vec![(setting, SettingUpdate { new, old: None })],
            ..UpdateRealm::default()
        })
    };
    let nobody = w.sys(SystemGroup::Nobody);
    let everyone = w.sys(SystemGroup::Everyone);
    assert_eq!(
        w.err(
            me,
            realm_set(
                RealmSetting::CanManageAllGroups,
                SettingValue::Group(nobody)
            )
        ),
        Error::SettingNotAllowed {
            setting: "can_manage_all_groups",
            group: "role:nobody".into()
        }
    );
    assert_eq!(
        w.err(
            me,
            realm_set(RealmSetting::CanManageAllGroups, anon(&[], &[]))
        ),
        Error::SettingNotAllowed {
            setting: "can_manage_all_groups",
            group: "role:nobody".into()
        },
        "the empty value is role:nobody"
    );
    assert_eq!(
        w.err(
            me,
            realm_set(RealmSetting::CanCreateGroups, SettingValue::Group(everyone))
        ),
        Error::SettingNotAllowed {
            setting: "can_create_groups",
            group: "role:everyone".into()
        }
    );
    w.exec(
        me,
        realm_set(RealmSetting::CanCreateGroups, SettingValue::Group(nobody)),
    );
    assert_eq!(
        w.err(me, Command::CreateGroup(group_cmd("X"))),
        Error::InsufficientPermission,
        "even the owner needs can_create_groups"
    );
}

#[test]
fn realm_updates_need_admins_and_settings_need_owners() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let admin = w.add_user(Role::Administrator);
    let rename = Command::UpdateRealm(UpdateRealm {
        name: Some("New name".into()),
        ..UpdateRealm::default()
    });
    let waiting = Command::UpdateRealm(UpdateRealm {
        waiting_period_days: Some(5),
        ..UpdateRealm::default()
    });
    assert_eq!(
        w.err(Actor::User(member), rename.clone()),
        Error::MustBeAdmin
    );
    assert_eq!(
        w.err(Actor::User(admin), waiting.clone()),
        Error::MustBeOwner
    );
    w.exec(Actor::User(admin), rename);
    assert_eq!(w.snap.realm().name, "New name");
    w.exec(w.owner_actor(), waiting);
    assert_eq!(w.snap.realm().waiting_period_days, 5);
}

// ------------------------------------------------------------ members

#[test]
fn adding_an_existing_member_is_already_member() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[a]);
    assert_eq!(
        w.err(w.owner_actor(), Command::ChangeMembers(g, add(&[b, a]))),
        Error::AlreadyMember(a)
    );
    assert_eq!(w.stored_members(g), vec![a], "all or nothing");
}

#[test]
fn removing_a_non_member_is_not_member() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[a]);
    assert_eq!(
        w.err(w.owner_actor(), Command::ChangeMembers(g, delete(&[a, b]))),
        Error::NotMember(b)
    );
    assert_eq!(w.stored_members(g), vec![a]);
}

#[test]
fn indirect_members_count_as_non_members_for_edits() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let inner = w.add_group(w.owner_actor(), "Inner", &[a]);
    let outer = w.add_group(w.owner_actor(), "Outer", &[]);
    w.exec(
        w.owner_actor(),
        Command::ChangeMembers(outer, add_subgroups(&[inner])),
    );
    assert!(w.snap.is_member(outer, a, false));
    assert!(!w.snap.is_member(outer, a, true));
    assert_eq!(
        w.err(w.owner_actor(), Command::ChangeMembers(outer, delete(&[a]))),
        Error::NotMember(a)
    );
    w.exec(w.owner_actor(), Command::ChangeMembers(outer, add(&[a])));
    assert_eq!(w.stored_members(outer), vec![a]);
}

#[test]
fn duplicate_ids_collapse() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[]);
    let done = w.exec(
        w.owner_actor(),
        Command::ChangeMembers(g, add(&[b, a, b, a])),
    );
    assert_eq!(
        done.changes,
        vec![Change::MembersAdded {
            group: g,
            users: vec![a, b]
        }]
    );
    assert_eq!(w.stored_members(g), vec![a, b]);
    let done = w.exec(w.owner_actor(), Command::ChangeMembers(g, delete(&[b, b])));
    assert_eq!(
        done.changes,
        vec![Change::MembersRemoved {
            group: g,
            users: vec![b]
        }]
    );
    assert_eq!(w.stored_members(g), vec![a]);
}

#[test]
fn add_then_delete_the_same_user_in_one_request() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[]);
    let done = w.exec(
        w.owner_actor(),
        Command::ChangeMembers(
            g,
            ChangeMembers {
                add: vec![a],
                delete: vec![a],
                ..ChangeMembers::default()
            },
        ),
    );
    assert_eq!(done.changes.len(), 2);
    assert!(w.stored_members(g).is_empty());
}

#[test]
fn failure_in_a_later_list_rolls_back_the_earlier_ones() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[]);
    let before = w.snap.clone();
    assert_eq!(
        w.err(
            w.owner_actor(),
            Command::ChangeMembers(
                g,
                ChangeMembers {
                    add: vec![a],
                    add_subgroups: vec![g],
                    ..ChangeMembers::default()
                },
            ),
        ),
        Error::SubgroupCycle(g)
    );
    assert_eq!(w.snap, before);
}

#[test]
fn self_join_follows_can_join_group() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[]);
    // Default can_join_group is role:nobody.
    assert_eq!(
        w.err(Actor::User(a), Command::ChangeMembers(g, add(&[a]))),
        Error::InsufficientPermission
    );
    w.exec(
        w.owner_actor(),
        Command::UpdateGroup(
            g,
            set(
                CanJoinGroup,
                SettingValue::Group(w.sys(SystemGroup::Members)),
            ),
        ),
    );
    w.exec(Actor::User(a), Command::ChangeMembers(g, add(&[a])));
    assert_eq!(w.stored_members(g), vec![a]);
    // Joining is only for oneself.
    assert_eq!(
        w.err(Actor::User(a), Command::ChangeMembers(g, add(&[b]))),
        Error::InsufficientPermission
    );
    assert_eq!(
        w.err(Actor::User(b), Command::ChangeMembers(g, add(&[b, b]))),
        Error::InsufficientPermission,
        "a list that is not exactly [self] is not a self-join"
    );
    // Leaving: can_leave_group defaults to role:everyone, but only for oneself.
    w.exec(w.owner_actor(), Command::ChangeMembers(g, add(&[b])));
    assert_eq!(
        w.err(Actor::User(a), Command::ChangeMembers(g, delete(&[b]))),
        Error::InsufficientPermission
    );
    w.exec(Actor::User(a), Command::ChangeMembers(g, delete(&[a])));
    assert_eq!(w.stored_members(g), vec![b]);
}

#[test]
fn guests_never_hold_settings_that_exclude_everyone() {
    let mut w = World::new();
    let guest = w.add_user(Role::Guest);
    let mut cmd = group_cmd("Team");
    cmd.members = vec![guest];
    cmd.settings = vec![
        (CanAddMembersGroup, anon(&[guest], &[])),
        (CanLeaveGroup, anon(&[guest], &[])),
    ];
    let g = w.create_group(w.owner_actor(), cmd);
    let (group, user) = (w.group(g), w.user(guest));
    let holds = |setting: GroupSetting| {
        permission::holds(&w.snap, &user, group.setting(setting), &setting.config())
    };
    assert!(
        !holds(CanAddMembersGroup),
        "can_add_members_group does not allow role:everyone, so guests never hold it"
    );
    // can_leave_group allows role:everyone, so a listed guest holds it (the
    // endpoint gate still refuses guests on the members endpoint).
    assert!(holds(CanLeaveGroup));
    assert_eq!(
        w.err(
            Actor::User(guest),
            Command::ChangeMembers(g, delete(&[guest]))
        ),
        Error::GuestNotAllowed
    );
}

#[test]
fn members_without_permission_are_refused() {
    let mut w = World::new();
    let creator = w.add_user(Role::Member);
    let stranger = w.add_user(Role::Member);
    let admin = w.add_user(Role::Administrator);
    let g = w.add_group(Actor::User(creator), "Team", &[]);
    for cmd in [
        add(&[creator]),
        delete(&[creator]),
        add_subgroups(&[w.sys(SystemGroup::Members)]),
    ] {
        assert_eq!(
            w.err(Actor::User(stranger), Command::ChangeMembers(g, cmd)),
            Error::InsufficientPermission
        );
    }
    // Administrators are not in can_manage_all_groups (role:owners) by default.
    assert_eq!(
        w.err(
            Actor::User(admin),
            Command::ChangeMembers(g, add(&[stranger]))
        ),
        Error::InsufficientPermission
    );
    // The creator manages the group; the owner manages all groups.
    w.exec(
        Actor::User(creator),
        Command::ChangeMembers(g, add(&[stranger])),
    );
    w.exec(
        w.owner_actor(),
        Command::ChangeMembers(g, delete(&[stranger])),
    );
    // can_add_members_group grants adding, not removing.
    w.exec(
        Actor::User(creator),
        Command::UpdateGroup(g, set(CanAddMembersGroup, anon(&[stranger], &[]))),
    );
    w.exec(
        Actor::User(stranger),
        Command::ChangeMembers(g, add(&[admin])),
    );
    assert_eq!(
        w.err(
            Actor::User(stranger),
            Command::ChangeMembers(g, delete(&[admin]))
        ),
        Error::InsufficientPermission
    );
    w.exec(
        Actor::User(creator),
        Command::UpdateGroup(g, set(CanRemoveMembersGroup, anon(&[stranger], &[]))),
    );
    w.exec(
        Actor::User(stranger),
        Command::ChangeMembers(g, delete(&[admin])),
    );
}

#[test]
fn deactivated_or_unknown_users_are_invalid_members() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let gone = w.add_user(Role::Member);
    let creator = w.add_user(Role::Member);
    let stranger = w.add_user(Role::Member);
    let g = w.add_group(Actor::User(creator), "Team", &[a, gone]);
    w.exec(Actor::Operator, Command::DeactivateUser(gone));
    assert_eq!(
        w.err(
            Actor::User(creator),
            Command::ChangeMembers(g, add(&[UserId(9_999)]))
        ),
        Error::InvalidMember(UserId(9_999))
    );
    assert_eq!(
        w.err(
            Actor::User(creator),
            Command::ChangeMembers(g, delete(&[gone]))
        ),
        Error::InvalidMember(gone)
    );
    // For adds the permission comes first; for deletes the user ids do.
    assert_eq!(
        w.err(
            Actor::User(stranger),
            Command::ChangeMembers(g, add(&[gone]))
        ),
        Error::InsufficientPermission
    );
    assert_eq!(
        w.err(
            Actor::User(stranger),
            Command::ChangeMembers(g, delete(&[gone]))
        ),
        Error::InvalidMember(gone)
    );
}

#[test]
fn system_groups_cannot_be_edited() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let members = w.sys(SystemGroup::Members);
    let sub = w.add_group(Actor::Operator, "Sub", &[]);
    for actor in [w.owner_actor(), Actor::Operator, Actor::Platform] {
        for cmd in [
            Command::ChangeMembers(members, add(&[w.owner])),
            Command::ChangeMembers(members, delete(&[a])),
            Command::ChangeMembers(members, add_subgroups(&[sub])),
            Command::UpdateGroup(
                members,
                UpdateGroup {
                    name: Some("Renamed".into()),
                    ..UpdateGroup::default()
                },
            ),
            Command::DeactivateGroup(members),
        ] {
            assert_eq!(w.err(actor, cmd), Error::InsufficientPermission);
        }
    }
}

#[test]
fn unknown_group_is_group_not_found() {
    let mut w = World::new();
    let nope = GroupId(9_999);
    let me = w.owner_actor();
    assert_eq!(
        w.err(me, Command::ChangeMembers(nope, add(&[w.owner]))),
        Error::GroupNotFound(nope)
    );
    assert_eq!(
        w.err(me, Command::UpdateGroup(nope, UpdateGroup::default())),
        Error::GroupNotFound(nope)
    );
    assert_eq!(
        w.err(me, Command::DeactivateGroup(nope)),
        Error::GroupNotFound(nope)
    );
}

#[test]
fn deactivated_groups_accept_membership_changes() {
    let mut w = World::new();
    let a = w.add_user(Role::Member);
    let g = w.add_group(w.owner_actor(), "Team", &[]);
    w.exec(w.owner_actor(), Command::DeactivateGroup(g));
    w.exec(w.owner_actor(), Command::ChangeMembers(g, add(&[a])));
    assert_eq!(w.stored_members(g), vec![a]);
}

#[test]
fn inactive_or_unknown_actors_are_refused_whatever_the_command() {
    let mut w = World::new();
    let gone = w.add_user(Role::Administrator);
    w.exec(Actor::Operator, Command::DeactivateUser(gone));
    assert_eq!(
        w.err(Actor::User(gone), Command::SyncFullMembers),
        Error::UserDeactivated(gone)
    );
    assert_eq!(
        w.err(Actor::User(gone), Command::CreateGroup(group_cmd("X"))),
        Error::UserDeactivated(gone)
    );
    assert_eq!(
        w.err(
            Actor::User(UserId(9_999)),
            Command::CreateGroup(group_cmd("X"))
        ),
        Error::UserNotFound(UserId(9_999))
    );
}

// ------------------------------------------------------------ subgroups

#[test]
fn subgroup_cycles_are_refused() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_group(me, "A", &[]);
    let b = w.add_group(me, "B", &[]);
    let c = w.add_group(me, "C", &[]);
    w.exec(me, Command::ChangeMembers(b, add_subgroups(&[a])));
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, add_subgroups(&[b]))),
        Error::SubgroupCycle(a)
    );
    // Indirect: a ⊂ b ⊂ c, then c into a.
    w.exec(me, Command::ChangeMembers(c, add_subgroups(&[b])));
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, add_subgroups(&[c]))),
        Error::SubgroupCycle(a)
    );
    // Through a deactivated group too: f ⊃ d with d deactivated (a
    // deactivated supergroup accepts subgroup changes), then f into d.
    let d = w.add_group(me, "D", &[]);
    let f = w.add_group(me, "F", &[]);
    w.exec(me, Command::ChangeMembers(f, add_subgroups(&[d])));
    w.exec(me, Command::DeactivateGroup(f));
    w.exec(me, Command::DeactivateGroup(d));
    w.exec(
        me,
        Command::UpdateGroup(
            f,
            UpdateGroup {
                reactivate: true,
                ..UpdateGroup::default()
            },
        ),
    );
    assert_eq!(
        w.err(me, Command::ChangeMembers(d, add_subgroups(&[f]))),
        Error::SubgroupCycle(d)
    );
}

#[test]
fn a_group_cannot_be_its_own_subgroup() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_group(me, "A", &[]);
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, add_subgroups(&[a]))),
        Error::SubgroupCycle(a)
    );
}

#[test]
fn already_subgroup_and_not_subgroup() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_group(me, "A", &[]);
    let b = w.add_group(me, "B", &[]);
    let c = w.add_group(me, "C", &[]);
    w.exec(me, Command::ChangeMembers(b, add_subgroups(&[a])));
    assert_eq!(
        w.err(me, Command::ChangeMembers(b, add_subgroups(&[c, a]))),
        Error::AlreadySubgroup(a)
    );
    assert_eq!(
        w.err(me, Command::ChangeMembers(b, delete_subgroups(&[a, c]))),
        Error::NotSubgroup(c)
    );
    w.exec(me, Command::ChangeMembers(b, delete_subgroups(&[a])));
    assert!(w.group(b).subgroups.is_empty());
}

#[test]
fn listed_subgroups_must_exist_and_be_active() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_group(me, "A", &[]);
    let old = w.add_group(me, "Old", &[]);
    w.exec(me, Command::DeactivateGroup(old));
    let nope = GroupId(9_999);
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, add_subgroups(&[nope]))),
        Error::SubgroupNotFound(nope)
    );
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, add_subgroups(&[old]))),
        Error::GroupDeactivated(old)
    );
    assert_eq!(
        w.err(me, Command::ChangeMembers(a, delete_subgroups(&[nope]))),
        Error::SubgroupNotFound(nope)
    );
}

#[test]
fn removing_subgroups_needs_manage_permission() {
    let mut w = World::new();
    let creator = w.add_user(Role::Member);
    let helper = w.add_user(Role::Member);
    let g = w.add_group(Actor::User(creator), "Team", &[]);
    let sub = w.add_group(Actor::User(creator), "Sub", &[]);
    w.exec(
        Actor::User(creator),
        Command::UpdateGroup(g, set(CanAddMembersGroup, anon(&[creator, helper], &[]))),
    );
    w.exec(
        Actor::User(helper),
        Command::ChangeMembers(g, add_subgroups(&[sub])),
    );
    assert_eq!(
        w.err(
            Actor::User(helper),
            Command::ChangeMembers(g, delete_subgroups(&[sub]))
        ),
        Error::InsufficientPermission
    );
    w.exec(
        Actor::User(creator),
        Command::ChangeMembers(g, delete_subgroups(&[sub])),
    );
}

// ------------------------------------------------------------ update

#[test]
fn stale_old_value_is_a_setting_mismatch_and_nothing_applies() {
    let mut w = World::new();
    let me = w.owner_actor();
    let g = w.add_group(me, "Team", &[]);
    let before = w.snap.clone();
    let update = UpdateGroup {
        name: Some("Renamed".into()),
        settings: vec![(
            CanJoinGroup,
            SettingUpdate {
                new: SettingValue::Group(w.sys(SystemGroup::Members)),
                old: Some(SettingValue::Group(w.sys(SystemGroup::Everyone))),
            },
        )],
        ..UpdateGroup::default()
    };
    assert_eq!(
        w.err(me, Command::UpdateGroup(g, update)),
        Error::SettingMismatch {
            setting: "can_join_group"
        }
    );
    assert_eq!(w.snap, before);
    // Old values compare as sets, after canonicalisation.
    let update = UpdateGroup {
        settings: vec![
            (
                CanJoinGroup,
                SettingUpdate {
                    new: SettingValue::Group(w.sys(SystemGroup::Members)),
                    old: Some(anon(&[], &[w.sys(SystemGroup::Nobody)])),
                },
            ),
            (
                CanManageGroup,
                SettingUpdate {
                    new: anon(&[w.owner], &[w.sys(SystemGroup::Moderators)]),
                    old: Some(anon(&[w.owner, w.owner], &[])),
                },
            ),
        ],
        ..UpdateGroup::default()
    };
    let done = w.exec(me, Command::UpdateGroup(g, update));
    assert_eq!(done.changes.len(), 2);
    assert_eq!(
        *w.group(g).setting(CanJoinGroup),
        SettingValue::Group(w.sys(SystemGroup::Members))
    );
}

#[test]
fn new_value_equal_to_current_is_a_no_op() {
    let mut w = World::new();
    let me = w.owner_actor();
    let other = w.add_group(me, "Other", &[]);
    let mut cmd = group_cmd("Team");
    cmd.settings = vec![(CanJoinGroup, SettingValue::Group(other))];
    let g = w.create_group(me, cmd);
    let before = w.group(g);
    let update = UpdateGroup {
        name: Some("Team".into()),
        description: Some(String::new()),
        avatar_url: Some(None),
        reactivate: true,
        settings: vec![
            (
                CanManageGroup,
                SettingUpdate {
                    new: anon(&[w.owner], &[]),
                    old: Some(anon(&[w.owner], &[])),
                },
            ),
            (
                CanJoinGroup,
                SettingUpdate {
                    new: anon(&[], &[other]),
                    old: None,
                },
            ),
            (
                CanLeaveGroup,
                SettingUpdate {
                    new: SettingValue::Group(w.sys(SystemGroup::Everyone)),
                    old: None,
                },
            ),
        ],
    };
    let done = w.exec(me, Command::UpdateGroup(g, update));
    assert!(done.changes.is_empty(), "{:?}", done.changes);
    assert_eq!(w.group(g), before);
}

#[test]
fn renames_follow_the_name_rules() {
    let mut w = World::new();
    let me = w.owner_actor();
    let g = w.add_group(me, "Team", &[]);
    w.add_group(me, "Taken", &[]);
    let rename = |name: &str| {
        Command::UpdateGroup(
            g,
            UpdateGroup {
                name: Some(name.into()),
                ..UpdateGroup::default()
            },
        )
    };
    assert_eq!(w.err(me, rename("Taken")), Error::NameTaken("Taken".into()));
    assert_eq!(
        w.err(me, rename("role:x")),
        Error::NameReservedPrefix("role:")
    );
    assert_eq!(w.err(me, rename(" ")), Error::NameEmpty);
    let done = w.exec(me, rename("taken"));
    assert_eq!(
        done.changes,
        vec![Change::GroupUpdated {
            id: g,
            patch: GroupPatch {
                name: Some("taken".into()),
                ..GroupPatch::default()
            }
        }]
    );
    assert_eq!(w.snap.group_by_name("taken").map(|x| x.id), Some(g));
    assert!(
        w.snap.group_by_name("Team").is_none(),
        "the old name is free again"
    );
    w.add_group(me, "Team", &[]);
}

#[test]
fn only_managers_update_groups() {
    let mut w = World::new();
    let creator = w.add_user(Role::Member);
    let helper = w.add_user(Role::Member);
    let mut cmd = group_cmd("Team");
    cmd.settings = vec![
        (CanAddMembersGroup, anon(&[helper], &[])),
        (CanJoinGroup, anon(&[helper], &[])),
    ];
    let g = w.create_group(Actor::User(creator), cmd);
    let rename = Command::UpdateGroup(
        g,
        UpdateGroup {
            description: Some("new".into()),
            ..UpdateGroup::default()
        },
    );
    assert_eq!(
        w.err(Actor::User(helper), rename.clone()),
        Error::InsufficientPermission
    );
    assert_eq!(
        w.err(Actor::User(helper), Command::DeactivateGroup(g)),
        Error::InsufficientPermission
    );
    w.exec(Actor::User(creator), rename);
    // Handing can_manage_group to a group hands it to that group's members.
    let managers = w.add_group(Actor::User(creator), "Managers", &[helper]);
    w.exec(
        Actor::User(creator),
        Command::UpdateGroup(g, set(CanManageGroup, SettingValue::Group(managers))),
    );
    w.exec(Actor::User(helper), Command::DeactivateGroup(g));
    assert_eq!(
        w.err(
            Actor::User(creator),
            Command::UpdateGroup(g, UpdateGroup::default())
        ),
        Error::InsufficientPermission,
        "the creator gave management away"
    );
}

#[test]
fn deactivating_a_group_in_use_lists_objections() {
    let mut w = World::new();
    let me = w.owner_actor();
    let target = w.add_group(me, "Target", &[]);
    let parent = w.add_group(me, "Parent", &[]);
    let other_parent = w.add_group(me, "Other parent", &[]);
    let user_of_setting = w.add_group(me, "User of setting", &[]);
    let dormant = w.add_group(me, "Dormant", &[]);
    w.exec(me, Command::ChangeMembers(parent, add_subgroups(&[target])));
    w.exec(
        me,
        Command::ChangeMembers(other_parent, add_subgroups(&[target])),
    );
    w.exec(
        me,
        Command::UpdateGroup(
            user_of_setting,
            UpdateGroup {
                settings: vec![
                    (
                        CanMentionGroup,
                        SettingUpdate {
                            new: SettingValue::Group(target),
                            old: None,
                        },
                    ),
                    (
                        CanJoinGroup,
                        SettingUpdate {
                            new: anon(&[w.owner], &[target]),
                            old: None,
                        },
                    ),
                ],
                ..UpdateGroup::default()
            },
        ),
    );
    // Uses by deactivated groups do not count.
    w.exec(
        me,
        Command::ChangeMembers(dormant, add_subgroups(&[target])),
    );
    w.exec(
        me,
        Command::UpdateGroup(dormant, set(CanLeaveGroup, SettingValue::Group(target))),
    );
    w.exec(me, Command::DeactivateGroup(dormant));
    w.exec(
        me,
        Command::UpdateRealm(UpdateRealm {
            settings: vec![(
                RealmSetting::CanCreateGroups,
                SettingUpdate {
                    new: anon(&[], &[target, w.sys(SystemGroup::Administrators)]),
                    old: None,
                },
            )],
            ..UpdateRealm::default()
        }),
    );
    let mut supergroups = vec![parent, other_parent];
    supergroups.sort();
    assert_eq!(
        w.err(me, Command::DeactivateGroup(target)),
        Error::GroupInUse(vec![
            Objection::Subgroup {
                supergroup_ids: supergroups
            },
            Objection::UserGroup {
                group_id: user_of_setting,
                settings: vec![CanJoinGroup, CanMentionGroup],
            },
            Objection::Realm {
                settings: vec![RealmSetting::CanCreateGroups]
            },
        ])
    );
    assert!(!w.group(target).deactivated);
}

#[test]
fn a_group_naming_itself_in_a_setting_objects_to_its_own_deactivation() {
    // Zulip's access_user_group_for_deactivation does not exclude the group
    // itself from the user_group objections.
    let mut w = World::new();
    let me = w.owner_actor();
    let g = w.add_group(me, "Self", &[]);
    w.exec(
        me,
        Command::UpdateGroup(g, set(CanManageGroup, SettingValue::Group(g))),
    );
    assert_eq!(
        w.err(me, Command::DeactivateGroup(g)),
        Error::GroupInUse(vec![Objection::UserGroup {
            group_id: g,
            settings: vec![CanManageGroup]
        }])
    );
}

#[test]
fn deactivate_then_reactivate_a_group() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_user(Role::Member);
    let sub = w.add_group(me, "Sub", &[]);
    let g = w.add_group(me, "Team", &[a]);
    w.exec(me, Command::ChangeMembers(g, add_subgroups(&[sub])));
    let done = w.exec(me, Command::DeactivateGroup(g));
    assert_eq!(
        done.changes,
        vec![Change::GroupUpdated {
            id: g,
            patch: GroupPatch {
                deactivated: Some(true),
                ..GroupPatch::default()
            }
        }]
    );
    let group = w.group(g);
    assert!(group.deactivated);
    assert_eq!(group.members, vec![a], "members are kept");
    assert_eq!(group.subgroups, vec![sub], "subgroups are kept");
    assert_eq!(
        w.err(me, Command::DeactivateGroup(g)),
        Error::GroupDeactivated(g)
    );
    let other = w.add_group(me, "Other", &[]);
    assert_eq!(
        w.err(me, Command::ChangeMembers(other, add_subgroups(&[g]))),
        Error::GroupDeactivated(g)
    );
    assert_eq!(
        w.err(
            me,
            Command::UpdateGroup(other, set(CanMentionGroup, SettingValue::Group(g)))
        ),
        Error::GroupDeactivated(g)
    );
    // Deactivated groups can still be renamed and reconfigured (FL 340).
    w.exec(
        me,
        Command::UpdateGroup(
            g,
            UpdateGroup {
                name: Some("Team (old)".into()),
                ..UpdateGroup::default()
            },
        ),
    );
    let done = w.exec(
        me,
        Command::UpdateGroup(
            g,
            UpdateGroup {
                reactivate: true,
                ..UpdateGroup::default()
            },
        ),
    );
    assert_eq!(
        done.changes,
        vec![Change::GroupUpdated {
            id: g,
            patch: GroupPatch {
                deactivated: Some(false),
                ..GroupPatch::default()
            }
        }]
    );
    assert!(!w.group(g).deactivated);
    assert_eq!(w.snap.recursive_members(g), vec![a]);
    w.exec(me, Command::ChangeMembers(other, add_subgroups(&[g])));
}

// ------------------------------------------------------------ users

#[test]
fn role_changes_move_users_between_system_groups() {
    let mut w = World::new();
    let me = w.owner_actor();
    let u = w.add_user(Role::Member);
    let direct = |w: &World, u: UserId| -> Vec<SystemGroup> {
        SystemGroup::ALL
            .into_iter()
            .filter(|s| w.group(w.sys(*s)).members.contains(&u))
            .collect()
    };
    assert_eq!(
        direct(&w, u),
        vec![SystemGroup::FullMembers, SystemGroup::Members]
    );
    let role = |r| {
        Command::UpdateUser(
            u,
            UpdateUser {
                role: Some(r),
                ..UpdateUser::default()
            },
        )
    };
    w.exec(me, role(Role::Moderator));
    assert_eq!(direct(&w, u), vec![SystemGroup::Moderators]);
    assert!(w.snap.is_member(w.sys(SystemGroup::Members), u, false));
    assert!(!w
        .snap
        .is_member(w.sys(SystemGroup::Administrators), u, false));
    w.exec(me, role(Role::Guest));
    assert_eq!(direct(&w, u), vec![SystemGroup::Everyone]);
    assert!(!w.snap.is_member(w.sys(SystemGroup::Members), u, false));
    w.exec(me, role(Role::Administrator));
    assert_eq!(direct(&w, u), vec![SystemGroup::Administrators]);
    w.exec(me, role(Role::Owner));
    assert_eq!(direct(&w, u), vec![SystemGroup::Owners]);
    w.exec(me, role(Role::Member));
    assert_eq!(
        direct(&w, u),
        vec![SystemGroup::FullMembers, SystemGroup::Members]
    );
    assert_eq!(w.user(u).role, Role::Member);
    // Same role again: nothing to do.
    assert!(w.exec(me, role(Role::Member)).changes.is_empty());
    check_system_groups(&w.snap, w.now);
}

#[test]
fn demotion_drops_can_create_users() {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    assert!(w.user(admin).can_create_users);
    let done = w.exec(
        w.owner_actor(),
        Command::UpdateUser(
            admin,
            UpdateUser {
                role: Some(Role::Member),
                ..UpdateUser::default()
            },
        ),
    );
    assert!(matches!(
        &done.changes[0],
        Change::UserUpdated {
            patch: UserPatch {
                can_create_users: Some(false),
                role: Some(Role::Member),
                ..
            },
            ..
        }
    ));
    assert!(!w.user(admin).can_create_users);
}

#[test]
fn the_last_owner_stays_an_owner() {
    let mut w = World::new();
    let owner = w.owner;
    let demote = |u| {
        Command::UpdateUser(
            u,
            UpdateUser {
                role: Some(Role::Administrator),
                ..UpdateUser::default()
            },
        )
    };
    assert_eq!(w.err(Actor::User(owner), demote(owner)), Error::LastOwner);
    assert_eq!(w.err(Actor::Operator, demote(owner)), Error::LastOwner);
    assert_eq!(
        w.err(Actor::User(owner), Command::DeactivateUser(owner)),
        Error::DeactivateLastOwner
    );
    assert_eq!(
        w.err(Actor::Operator, Command::DeactivateUser(owner)),
        Error::DeactivateLastOwner
    );
    // A deactivated second owner does not count.
    let second = w.add_user(Role::Owner);
    w.exec(Actor::Operator, Command::DeactivateUser(second));
    assert_eq!(w.err(Actor::Operator, demote(owner)), Error::LastOwner);
    // An owner bot does not count either.
    w.add_bot(owner, Role::Owner);
    assert_eq!(
        w.err(Actor::Operator, Command::DeactivateUser(owner)),
        Error::DeactivateLastOwner
    );
    // With a second active human owner, either may go.
    w.exec(Actor::Operator, Command::ReactivateUser(second));
    w.exec(Actor::User(second), demote(owner));
    assert_eq!(
        w.err(Actor::User(second), Command::DeactivateUser(second)),
        Error::DeactivateLastOwner
    );
    assert_eq!(active_human_owners(&w.snap), 1);
}

#[test]
fn only_owners_grant_or_take_ownership() {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    let other_admin = w.add_user(Role::Administrator);
    let member = w.add_user(Role::Member);
    let second_owner = w.add_user(Role::Owner);
    let role = |u, r| {
        Command::UpdateUser(
            u,
            UpdateUser {
                role: Some(r),
                ..UpdateUser::default()
            },
        )
    };
    assert_eq!(
        w.err(Actor::User(admin), role(member, Role::Owner)),
        Error::MustBeOwner
    );
    assert_eq!(
        w.err(Actor::User(admin), role(admin, Role::Owner)),
        Error::MustBeOwner
    );
    assert_eq!(
        w.err(Actor::User(admin), role(second_owner, Role::Member)),
        Error::MustBeOwner
    );
    assert_eq!(
        w.err(Actor::User(admin), Command::DeactivateUser(second_owner)),
        Error::MustBeOwner
    );
    // Administrators manage the other roles.
    w.exec(Actor::User(admin), role(member, Role::Moderator));
    w.exec(Actor::User(admin), role(other_admin, Role::Member));
    // Members manage nobody.
    assert_eq!(
        w.err(Actor::User(member), role(admin, Role::Member)),
        Error::InsufficientPermission
    );
    w.exec(w.owner_actor(), role(member, Role::Owner));
    assert_eq!(w.user(member).role, Role::Owner);
}

#[test]
fn creating_users_needs_an_administrator_with_the_permission() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let admin = w.add_user(Role::Administrator);
    let mut cmd = user_cmd(
        "plain-admin@example.com",
        "Plain Admin",
        Role::Administrator,
    );
    cmd.can_create_users = false;
    let plain_admin = w.create_user(Actor::Operator, cmd);
    assert!(!w.user(plain_admin).can_create_users);
    let new = |email: &str, role| Command::CreateUser(user_cmd(email, "New Person", role));
    assert_eq!(
        w.err(Actor::User(member), new("n1@example.com", Role::Member)),
        Error::MustBeAdmin
    );
    assert_eq!(
        w.err(
            Actor::User(plain_admin),
            new("n1@example.com", Role::Member)
        ),
        Error::CannotCreateUsers
    );
    assert_eq!(
        w.err(Actor::User(admin), new("n1@example.com", Role::Owner)),
        Error::MustBeOwner
    );
    let done = w.exec(Actor::User(admin), new("n1@example.com", Role::Member));
    let Reply::User(id) = done.reply else {
        panic!()
    };
    assert_eq!(w.user(id).date_joined, w.now);
    assert_eq!(
        w.err(Actor::User(admin), new("N1@Example.com", Role::Member)),
        Error::EmailTaken("N1@Example.com".into()),
        "emails are unique regardless of case"
    );
    // A member created by an admin with can_create_users does not keep the flag.
    let mut cmd = user_cmd("n2@example.com", "New Person", Role::Member);
    cmd.can_create_users = true;
    let n2 = w.create_user(Actor::User(admin), cmd);
    assert!(!w.user(n2).can_create_users);
}

#[test]
fn deactivated_users_vanish_from_groups_and_come_back() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let inner = w.add_group(me, "Inner", &[a]);
    let outer = w.add_group(me, "Outer", &[a, b]);
    w.exec(me, Command::ChangeMembers(outer, add_subgroups(&[inner])));
    w.exec(
        me,
        Command::UpdateGroup(outer, set(CanMentionGroup, anon(&[a, b], &[]))),
    );
    let members = w.sys(SystemGroup::Members);
    assert!(w.snap.recursive_members(members).contains(&a));
    w.exec(me, Command::DeactivateUser(a));
    assert!(!w.user(a).active);
    assert_eq!(w.snap.direct_members(outer), vec![b]);
    assert_eq!(w.snap.recursive_members(outer), vec![b]);
    assert!(w.snap.direct_members(inner).is_empty());
    assert!(!w.snap.recursive_members(members).contains(&a));
    assert!(!w.snap.is_member(inner, a, true));
    assert!(!w
        .snap
        .value_contains(w.group(outer).setting(CanMentionGroup), a));
    assert_eq!(
        command::visible_value(&w.snap, w.group(outer).setting(CanMentionGroup)),
        anon(&[b], &[]),
        "deactivated users are left out of anonymous values"
    );
    // The records keep them.
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(w.stored_members(outer), both);
    assert_eq!(w.stored_members(inner), vec![a]);
    assert!(w.group(members).members.contains(&a));
    assert_eq!(
        w.err(me, Command::DeactivateUser(a)),
        Error::UserDeactivated(a)
    );
    w.exec(me, Command::ReactivateUser(a));
    assert_eq!(
        w.err(me, Command::ReactivateUser(a)),
        Error::UserAlreadyActive(a)
    );
    assert_eq!(w.snap.direct_members(outer), both);
    assert_eq!(w.snap.recursive_members(inner), vec![a]);
    assert!(w.snap.recursive_members(members).contains(&a));
    assert!(w
        .snap
        .value_contains(w.group(outer).setting(CanMentionGroup), a));
    check_system_groups(&w.snap, w.now);
}

#[test]
fn an_old_value_naming_a_deactivated_user_is_compared_as_clients_see_it() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_user(Role::Member);
    let b = w.add_user(Role::Member);
    let g = w.add_group(me, "Team", &[]);
    w.exec(
        me,
        Command::UpdateGroup(g, set(CanMentionGroup, anon(&[a, b], &[]))),
    );
    w.exec(me, Command::DeactivateUser(a));
    // The client sees {b}; sending that as `old` matches, and as `new` is a no-op.
    let done = w.exec(
        me,
        Command::UpdateGroup(
            g,
            UpdateGroup {
                settings: vec![(
                    CanMentionGroup,
                    SettingUpdate {
                        new: anon(&[b], &[]),
                        old: Some(anon(&[b], &[])),
                    },
                )],
                ..UpdateGroup::default()
            },
        ),
    );
    assert!(done.changes.is_empty());
}

#[test]
fn waiting_period_controls_full_membership() {
    let mut w = World::new();
    let me = w.owner_actor();
    let veteran = w.add_user(Role::Member);
    let full = w.sys(SystemGroup::FullMembers);
    assert!(
        w.group(full).has_member(veteran),
        "waiting period 0: full member at once"
    );
    w.advance_days(1);
    w.exec(
        me,
        Command::UpdateRealm(UpdateRealm {
            waiting_period_days: Some(3),
            ..UpdateRealm::default()
        }),
    );
    // The change re-syncs: the one-day-old veteran is no longer a full member.
    assert!(!w.group(full).has_member(veteran));
    check_system_groups(&w.snap, w.now);
    let newbie = w.add_user(Role::Member);
    let moderator = w.add_user(Role::Moderator);
    assert!(!w.group(full).has_member(newbie));
    assert!(w.group(w.sys(SystemGroup::Members)).has_member(newbie));
    assert!(!w.snap.is_member(full, newbie, false));
    assert!(
        w.snap.is_member(full, moderator, false),
        "moderators count through the chain"
    );
    w.advance_days(4);
    let done = w.exec(Actor::System, Command::SyncFullMembers);
    let mut both = vec![veteran, newbie];
    both.sort();
    assert_eq!(
        done.changes,
        vec![Change::MembersAdded {
            group: full,
            users: both
        }]
    );
    assert!(w.group(full).has_member(newbie));
    check_system_groups(&w.snap, w.now);
    // Nothing more to sync.
    assert!(w
        .exec(Actor::System, Command::SyncFullMembers)
        .changes
        .is_empty());
}

#[test]
fn waiting_period_applies_to_members_changing_role() {
    let mut w = World::new();
    let me = w.owner_actor();
    w.exec(
        me,
        Command::UpdateRealm(UpdateRealm {
            waiting_period_days: Some(3),
            ..UpdateRealm::default()
        }),
    );
    let u = w.add_user(Role::Moderator);
    let role = |r| {
        Command::UpdateUser(
            u,
            UpdateUser {
                role: Some(r),
                ..UpdateUser::default()
            },
        )
    };
    w.exec(me, role(Role::Member));
    assert!(!w.group(w.sys(SystemGroup::FullMembers)).has_member(u));
    w.advance_days(3);
    w.exec(me, role(Role::Guest));
    w.exec(me, role(Role::Member));
    assert!(w.group(w.sys(SystemGroup::FullMembers)).has_member(u));
    check_system_groups(&w.snap, w.now);
}

#[test]
fn the_whole_log_replays() {
    let mut w = World::new();
    let me = w.owner_actor();
    let a = w.add_user(Role::Member);
    let g = w.add_group(me, "Team", &[a]);
    w.exec(
        me,
        Command::UpdateGroup(g, set(CanJoinGroup, anon(&[a], &[]))),
    );
    w.exec(me, Command::DeactivateUser(a));
    w.exec(me, Command::DeactivateGroup(g));
    assert_eq!(w.replay(), w.snap);
    assert_eq!(w.snap.version(), w.commits.len() as u64);
}

#[test]
fn commits_for_another_realm_or_out_of_order_do_not_apply() {
    let w = World::new();
    let mut snap = w.snap.clone();
    let commit = Commit {
        realm: w.snap.realm_id(),
        version: w.snap.version() + 2,
        at: w.now,
        actor: Actor::Operator,
        origin: Default::default(),
        changes: vec![],
    };
    assert!(snap.apply(&commit).is_err());
    let commit = Commit {
        realm: cohort_core::RealmId(w.snap.realm_id().0 + 1),
        version: w.snap.version() + 1,
        ..commit
    };
    assert!(snap.apply(&commit).is_err());
    assert_eq!(snap, w.snap);
}

// ------------------------------------------------------------ regressions

/// Role changes need an administrator, even on one's own bot
/// (https://zulip.com/api/update-user).
#[test]
fn bot_owners_who_are_not_admins_cannot_change_their_bots_role() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let bot = w.add_bot(member, Role::Member);
    let result = w.try_exec(
        Actor::User(member),
        Command::UpdateUser(
            bot,
            UpdateUser {
                role: Some(Role::Administrator),
                ..UpdateUser::default()
            },
        ),
    );
    assert_eq!(result.map(|d| d.changes).unwrap_err(), Error::MustBeAdmin);
    assert_eq!(w.user(bot).role, Role::Member);
}

/// Zulip's last-owner rule counts human owners only; an owner bot may be
/// demoted while one human owner remains.
#[test]
fn an_owner_bot_can_be_demoted_while_a_human_owner_remains() {
    let mut w = World::new();
    let bot = w.add_bot(w.owner, Role::Owner);
    w.exec(
        w.owner_actor(),
        Command::UpdateUser(
            bot,
            UpdateUser {
                role: Some(Role::Member),
                ..UpdateUser::default()
            },
        ),
    );
    assert_eq!(w.user(bot).role, Role::Member);
    assert_eq!(active_human_owners(&w.snap), 1);
}

/// A platform key rotation retires the old key for the grace period asked
/// (at most a week); a later rotation retires the key it replaces, so at
/// most one old key ever works beside the current one.
#[test]
fn platform_key_rotation_keeps_the_old_key_for_its_grace_period() {
    use cohort_core::KeyHash;
    let mut w = World::new();
    let (k1, k2, k3) = (KeyHash([1; 32]), KeyHash([2; 32]), KeyHash([3; 32]));
    let rotate = |key: KeyHash, grace| {
        Command::UpdateRealm(UpdateRealm {
            platform_key: Some(key),
            platform_key_grace: grace,
            ..UpdateRealm::default()
        })
    };
    w.exec(Actor::Operator, rotate(k1, 0));
    let t0 = w.now;
    w.exec(Actor::Operator, rotate(k2, 60_000));
    let realm = w.snap.realm().clone();
    assert!(realm.platform_key_opens(&k2, t0));
    assert!(
        realm.platform_key_opens(&k1, t0 + 59_999),
        "old key in its grace"
    );
    assert!(
        !realm.platform_key_opens(&k1, t0 + 60_000),
        "old key after it"
    );
    assert!(!realm.platform_key_opens(&k3, t0));
    // The next rotation, without grace, ends k2 now and k1 for good.
    w.exec(Actor::Operator, rotate(k3, 0));
    let realm = w.snap.realm().clone();
    assert!(realm.platform_key_opens(&k3, t0));
    assert!(!realm.platform_key_opens(&k2, t0));
    assert!(!realm.platform_key_opens(&k1, t0));
    // Longer than a week, or negative, is refused and changes nothing.
    for grace in [command::MAX_PLATFORM_KEY_GRACE + 1, -1] {
        assert!(matches!(
            w.err(Actor::Operator, rotate(k1, grace)),
            Error::Invalid {
                field: "platform_key_grace",
                ..
            }
        ));
    }
    assert!(w.snap.realm().platform_key_opens(&k3, t0));
    // Only an owner may rotate it (an administrator may not).
    let admin = w.add_user(Role::Administrator);
    assert_eq!(w.err(Actor::User(admin), rotate(k1, 0)), Error::MustBeOwner);
}
