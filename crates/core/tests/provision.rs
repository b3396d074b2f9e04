//! The identity-provider commands (SCIM's dialect: ProvisionUser, EditUser,
//! DeleteUser, EditGroup, RemoveGroup), realm API tokens and their scopes,
//! version tags, and the filter over groups and profiles — one rule a test,
//! each asserting the exact answer.

mod common;

use cohort_core::command::{EditGroup, EditUser, MemberEdit, PutClient, UpdateUser};
use cohort_core::filter::{Filter, GroupField, TextOp, UserField};
use cohort_core::model::GroupSetting;
use cohort_core::{
    Actor, Command, Error, GroupId, KeyHash, Principal, Role, Scope, SettingValue, SystemGroup,
    TokenId, UserId,
};
use common::*;

/// An administrator (the usual SCIM caller in Zulip terms).
fn admin(w: &mut World) -> Actor {
    Actor::User(w.add_user(Role::Administrator))
}

fn provision_named(w: &mut World, user_name: &str, email: &str) -> UserId {
    let mut cmd = provision_cmd(user_name);
    cmd.emails = vec![profile_email(email, true)];
    w.provision(Actor::Operator, cmd)
}

fn edit(id: UserId, edit: EditUser) -> Command {
    Command::EditUser(id, edit)
}

fn members(edits: Vec<MemberEdit>) -> EditGroup {
    EditGroup {
        members: edits,
        ..EditGroup::default()
    }
}

fn u(id: UserId) -> Principal {
    Principal::User(id)
}

fn g(id: GroupId) -> Principal {
    Principal::Group(id)
}

fn is_invalid(e: &Error) -> bool {
    matches!(e, Error::Invalid { .. })
}

// ------------------------------------------------------------ ProvisionUser

#[test]
fn provision_creates_a_member_with_the_profile_as_sent() {
    let mut w = World::new();
    let mut cmd = provision_cmd("ann.lee");
    cmd.display_name = Some("Ann Lee".into());
    cmd.given_name = Some("Ann".into());
    cmd.family_name = Some("Lee".into());
    cmd.external_id = Some("EXT-1".into());
    cmd.emails = vec![
        profile_email("home@example.com", false),
        profile_email("Ann@Example.com", true),
    ];
    let id = w.provision(Actor::Operator, cmd.clone());
    let user = w.user(id);
    assert_eq!(user.role, Role::Member);
    assert!(user.active && !user.is_bot);
    assert_eq!(user.full_name, "Ann Lee");
    assert_eq!(
        user.email.as_deref(),
        Some("Ann@Example.com"),
        "the primary one"
    );
    assert_eq!(user.login_name(), "ann.lee");
    assert_eq!(user.profile.user_name.as_deref(), Some("ann.lee"));
    assert_eq!(user.profile.display_name, cmd.display_name);
    assert_eq!(user.profile.given_name, cmd.given_name);
    assert_eq!(user.profile.family_name, cmd.family_name);
    assert_eq!(user.profile.external_id, cmd.external_id);
    assert_eq!(user.profile.emails, cmd.emails);
    assert!(!user.profile.deleted);
    assert!(w.group(w.sys(SystemGroup::Members)).has_member(id));
}

#[test]
fn provisioned_full_name_comes_from_display_name_then_parts_then_user_name() {
    let mut w = World::new();
    let mut parts = provision_cmd("parts");
    parts.given_name = Some("Grace".into());
    parts.family_name = Some("Hopper".into());
    parts.display_name = Some("   ".into());
    let id = w.provision(Actor::Operator, parts);
    assert_eq!(w.user(id).full_name, "Grace Hopper");

    let mut given_only = provision_cmd("given");
    given_only.given_name = Some("Ada".into());
    let id = w.provision(Actor::Operator, given_only);
    assert_eq!(w.user(id).full_name, "Ada");

    let id = w.provision(Actor::Operator, provision_cmd("just-a-login"));
    assert_eq!(w.user(id).full_name, "just-a-login");

    // Zulip forbids `@` (and `*`, backquotes, …) in full names.
    let mut odd = provision_cmd("odd");
    odd.display_name = Some("a@b".into());
    let id = w.provision(Actor::Operator, odd);
    let user = w.user(id);
    assert!(!user.full_name.contains('@'), "{:?}", user.full_name);
    assert_eq!(user.profile.display_name.as_deref(), Some("a@b"), "as sent");
}

#[test]
fn provisioned_email_is_the_primary_else_the_first() {
    let mut w = World::new();
    let mut cmd = provision_cmd("first");
    cmd.emails = vec![
        profile_email("one@example.com", false),
        profile_email("two@example.com", false),
    ];
    let id = w.provision(Actor::Operator, cmd);
    assert_eq!(w.user(id).email.as_deref(), Some("one@example.com"));
    let id = w.provision(Actor::Operator, provision_cmd("nomail"));
    assert_eq!(w.user(id).email, None);
}

#[test]
fn login_names_are_unique_ignoring_case() {
    let mut w = World::new();
    w.provision(Actor::Operator, provision_cmd("Ann"));
    let e = w.err(
        Actor::Operator,
        Command::ProvisionUser(provision_cmd("ANN")),
    );
    assert_eq!(e, Error::UserNameTaken("ANN".into()));
}

#[test]
fn login_names_are_unique_against_emails_of_users_without_one() {
    let mut w = World::new();
    // The owner has no login name: its email stands in for it.
    let e = w.err(
        Actor::Operator,
        Command::ProvisionUser(provision_cmd("OWNER@example.com")),
    );
    assert_eq!(e, Error::UserNameTaken("OWNER@example.com".into()));
    // Once the owner has a login name of its own, its email is free to use.
    w.exec(
        Actor::Operator,
        edit(
            w.owner,
            EditUser {
                user_name: Some("olive".into()),
                ..EditUser::default()
            },
        ),
    );
    w.provision(Actor::Operator, provision_cmd("OWNER@example.com"));
}

#[test]
fn provision_inactive_creates_a_deactivated_user() {
    let mut w = World::new();
    let mut cmd = provision_cmd("sleeper");
    cmd.active = false;
    let id = w.provision(Actor::Operator, cmd);
    assert!(!w.user(id).active);
    assert!(!w.snap.is_active_user(id));
}

#[test]
fn provision_refuses_bad_profiles() {
    let mut w = World::new();
    let mut bad_email = provision_cmd("x");
    bad_email.emails = vec![profile_email("not an email", true)];
    let e = w.err(Actor::Operator, Command::ProvisionUser(bad_email));
    assert!(matches!(e, Error::EmailInvalid(_)), "{e:?}");

    let mut taken = provision_cmd("y");
    taken.emails = vec![profile_email("Owner@Example.com", true)];
    let e = w.err(Actor::Operator, Command::ProvisionUser(taken));
    assert!(matches!(e, Error::EmailTaken(_)), "{e:?}");

    let mut many = provision_cmd("z");
    many.emails = (0..11)
        .map(|n| profile_email(&format!("z{n}@example.com"), n == 0))
        .collect();
    let e = w.err(Actor::Operator, Command::ProvisionUser(many));
    assert_eq!(e, Error::TooManyItems { max: 10 });

    let mut control = provision_cmd("c");
    control.display_name = Some("bell\u{7}".into());
    assert!(is_invalid(
        &w.err(Actor::Operator, Command::ProvisionUser(control))
    ));
    let e = w.err(
        Actor::Operator,
        Command::ProvisionUser(provision_cmd("tab\tname")),
    );
    assert!(is_invalid(&e), "{e:?}");
    let mut control_id = provision_cmd("d");
    control_id.external_id = Some("id\n".into());
    assert!(is_invalid(
        &w.err(Actor::Operator, Command::ProvisionUser(control_id))
    ));
    assert_eq!(w.snap.user_count(), 1, "nothing was created");
}

#[test]
fn provision_needs_an_administrator() {
    let mut w = World::new();
    let member = w.add_user(Role::Member);
    let e = w.err(
        Actor::User(member),
        Command::ProvisionUser(provision_cmd("m")),
    );
    assert_eq!(e, Error::MustBeAdmin);
}

// ------------------------------------------------------------ EditUser

#[test]
fn edit_user_changes_only_the_fields_it_touches() {
    let mut w = World::new();
    let mut cmd = provision_cmd("bo");
    cmd.display_name = Some("Bo Diddley".into());
    cmd.given_name = Some("Bo".into());
    cmd.external_id = Some("old".into());
    cmd.emails = vec![profile_email("bo@example.com", true)];
    let id = w.provision(Actor::Operator, cmd);
    let before = w.user(id);
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                external_id: Some(Some("new".into())),
                ..EditUser::default()
            },
        ),
    );
    let after = w.user(id);
    assert_eq!(after.profile.external_id.as_deref(), Some("new"));
    let mut expected = (*before).clone();
    expected.profile.external_id = Some("new".into());
    assert_eq!(*after, expected, "nothing else moved");

    // Clearing the display name falls back to the name parts.
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                display_name: Some(None),
                ..EditUser::default()
            },
        ),
    );
    assert_eq!(w.user(id).full_name, "Bo");
    assert_eq!(w.user(id).profile.given_name.as_deref(), Some("Bo"));
}

#[test]
fn edit_user_with_nothing_to_change_commits_nothing() {
    let mut w = World::new();
    let id = provision_named(&mut w, "calm", "calm@example.com");
    let done = w.exec(Actor::Operator, edit(id, EditUser::default()));
    assert!(done.changes.is_empty(), "{:?}", done.changes);
}

#[test]
fn edit_user_is_conditional_on_the_version_tag() {
    let mut w = World::new();
    let id = provision_named(&mut w, "cat", "cat@example.com");
    let before = w.snap.clone();
    let e = w.err(
        Actor::Operator,
        edit(
            id,
            EditUser {
                display_name: Some(Some("Changed".into())),
                expect: Some("stale".into()),
                ..EditUser::default()
            },
        ),
    );
    assert_eq!(e, Error::VersionMismatch("stale".into()));
    assert!(w.snap == before);
    let tag = w.user(id).version_tag();
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                display_name: Some(Some("Changed".into())),
                expect: Some(tag.clone()),
                ..EditUser::default()
            },
        ),
    );
    assert_eq!(w.user(id).full_name, "Changed");
    // The tag moved, so the old one is stale now.
    let e = w.err(Actor::Operator, Command::DeleteUser(id, Some(tag.clone())));
    assert_eq!(e, Error::VersionMismatch(tag));
}

#[test]
fn edit_user_active_deactivates_and_reactivates_with_the_usual_rules() {
    let mut w = World::new();
    let id = provision_named(&mut w, "dee", "dee@example.com");
    let off = EditUser {
        active: Some(false),
        ..EditUser::default()
    };
    let on = EditUser {
        active: Some(true),
        ..EditUser::default()
    };
    w.exec(Actor::Operator, edit(id, off.clone()));
    assert!(!w.user(id).active);
    w.exec(Actor::Operator, edit(id, on));
    assert!(w.user(id).active);
    // The last owner cannot be deactivated, through SCIM either; the whole
    // edit is refused.
    let before = w.snap.clone();
    let e = w.err(
        Actor::Operator,
        edit(
            w.owner,
            EditUser {
                external_id: Some(Some("boss".into())),
                ..off
            },
        ),
    );
    assert_eq!(e, Error::DeactivateLastOwner);
    assert!(w.snap == before);
}

#[test]
fn a_deleted_user_is_gone_for_scim_until_reactivated() {
    let mut w = World::new();
    let id = provision_named(&mut w, "gone", "gone@example.com");
    w.exec(Actor::Operator, Command::DeleteUser(id, None));
    let user = w.user(id);
    assert!(!user.active && user.profile.deleted);
    assert_eq!(
        w.err(Actor::Operator, edit(id, EditUser::default())),
        Error::UserNotFound(id)
    );
    assert_eq!(
        w.err(Actor::Operator, Command::DeleteUser(id, None)),
        Error::UserNotFound(id)
    );
    // Zulip's reactivation brings it back for identity providers too.
    w.exec(w.owner_actor(), Command::ReactivateUser(id));
    let user = w.user(id);
    assert!(user.active && !user.profile.deleted);
    w.exec(Actor::Operator, edit(id, EditUser::default()));
}

#[test]
fn removing_all_emails_keeps_the_users_email() {
    let mut w = World::new();
    let id = provision_named(&mut w, "keep", "keep@example.com");
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                emails: Some(Vec::new()),
                ..EditUser::default()
            },
        ),
    );
    let user = w.user(id);
    assert!(user.profile.emails.is_empty());
    assert_eq!(user.email.as_deref(), Some("keep@example.com"));
}

#[test]
fn edit_user_changes_the_email_to_the_new_primary() {
    let mut w = World::new();
    let id = provision_named(&mut w, "mover", "old@example.com");
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                emails: Some(vec![profile_email("new@example.com", true)]),
                ..EditUser::default()
            },
        ),
    );
    assert_eq!(w.user(id).email.as_deref(), Some("new@example.com"));
    assert_eq!(
        w.snap.user_by_email("new@example.com").map(|u| u.id),
        Some(id)
    );
    assert!(w.snap.user_by_email("old@example.com").is_none());
    // Another user's email is taken.
    let e = w.err(
        Actor::Operator,
        edit(
            id,
            EditUser {
                emails: Some(vec![profile_email("owner@example.com", true)]),
                ..EditUser::default()
            },
        ),
    );
    assert!(matches!(e, Error::EmailTaken(_)), "{e:?}");
}

#[test]
fn edit_user_renames_the_login_name_under_the_uniqueness_rule() {
    let mut w = World::new();
    let a = provision_named(&mut w, "first", "a@example.com");
    provision_named(&mut w, "second", "b@example.com");
    let rename = |name: &str| EditUser {
        user_name: Some(name.into()),
        ..EditUser::default()
    };
    assert_eq!(
        w.err(Actor::Operator, edit(a, rename("SECOND"))),
        Error::UserNameTaken("SECOND".into())
    );
    // A change of case of one's own name is fine.
    w.exec(Actor::Operator, edit(a, rename("First")));
    w.exec(Actor::Operator, edit(a, rename("third")));
    assert_eq!(w.user(a).login_name(), "third");
    assert!(w.snap.user_by_user_name("first").is_none());
    assert_eq!(w.snap.user_by_user_name("THIRD").map(|u| u.id), Some(a));
}

#[test]
fn renaming_through_update_user_keeps_the_display_name_in_step() {
    let mut w = World::new();
    let mut cmd = provision_cmd("ren");
    cmd.display_name = Some("Old Name".into());
    let shown = w.provision(Actor::Operator, cmd);
    let mut cmd = provision_cmd("parts");
    cmd.given_name = Some("Given".into());
    cmd.family_name = Some("Family".into());
    let parts = w.provision(Actor::Operator, cmd);
    for id in [shown, parts] {
        w.exec(
            w.owner_actor(),
            Command::UpdateUser(
                id,
                UpdateUser {
                    full_name: Some("New Name".into()),
                    ..UpdateUser::default()
                },
            ),
        );
        assert_eq!(w.user(id).profile.display_name.as_deref(), Some("New Name"));
        // A later edit of something else keeps the new name.
        w.exec(
            Actor::Operator,
            edit(
                id,
                EditUser {
                    external_id: Some(Some("x".into())),
                    ..EditUser::default()
                },
            ),
        );
        assert_eq!(w.user(id).full_name, "New Name", "user {id}");
    }
}

#[test]
fn changing_the_email_through_update_user_updates_the_primary_profile_email() {
    let mut w = World::new();
    let mut cmd = provision_cmd("em");
    cmd.emails = vec![
        profile_email("other@example.com", false),
        profile_email("primary@example.com", true),
    ];
    let id = w.provision(Actor::Operator, cmd);
    w.exec(
        w.owner_actor(),
        Command::UpdateUser(
            id,
            UpdateUser {
                email: Some("changed@example.com".into()),
                ..UpdateUser::default()
            },
        ),
    );
    let user = w.user(id);
    assert_eq!(user.profile.emails[1].value, "changed@example.com");
    assert_eq!(user.profile.emails[0].value, "other@example.com");
    assert_eq!(
        user.profile.primary_email().unwrap().value,
        "changed@example.com"
    );
}

#[test]
fn edit_user_of_a_user_never_provisioned_starts_from_its_record() {
    let mut w = World::new();
    let id = w.add_user(Role::Member);
    let before = w.user(id);
    w.exec(
        Actor::Operator,
        edit(
            id,
            EditUser {
                external_id: Some(Some("e".into())),
                ..EditUser::default()
            },
        ),
    );
    let after = w.user(id);
    assert_eq!(after.full_name, before.full_name);
    assert_eq!(after.email, before.email);
    assert_eq!(after.login_name(), before.email.as_deref().unwrap());
}

// ------------------------------------------------------------ EditGroup

/// A world with an administrator, three members and a user-defined group
/// `team` holding the first one.
struct Groups {
    w: World,
    admin: Actor,
    m: [UserId; 3],
    team: GroupId,
}

fn groups_world() -> Groups {
    let mut w = World::new();
    let admin = admin(&mut w);
    let m = [
        w.add_user(Role::Member),
        w.add_user(Role::Member),
        w.add_user(Role::Member),
    ];
    let team = w.add_group(admin, "team", &[m[0]]);
    Groups { w, admin, m, team }
}

#[test]
fn edit_group_add_and_remove_that_move_nothing_commit_nothing() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let before = w.group(team);
    let done = w.exec(
        admin,
        Command::EditGroup(
            team,
            members(vec![
                MemberEdit::Add(vec![u(m[0])]),
                MemberEdit::Remove(vec![u(m[1])]),
            ]),
        ),
    );
    assert!(done.changes.is_empty(), "{:?}", done.changes);
    assert_eq!(w.group(team), before);
}

#[test]
fn edit_group_applies_steps_in_order_over_users_and_subgroups() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let sub = w.add_group(admin, "sub", &[m[2]]);
    let other = w.add_group(admin, "other", &[]);
    w.exec(
        admin,
        Command::EditGroup(
            team,
            members(vec![
                MemberEdit::Add(vec![u(m[1]), g(sub), u(m[0])]),
                MemberEdit::Remove(vec![u(m[0]), g(other)]),
            ]),
        ),
    );
    assert_eq!(w.stored_members(team), vec![m[1]]);
    assert_eq!(w.group(team).subgroups, vec![sub]);
    assert_eq!(w.snap.recursive_members(team), vec![m[1], m[2]]);

    w.exec(
        admin,
        Command::EditGroup(
            team,
            members(vec![MemberEdit::Replace(vec![g(other), u(m[2]), u(m[0])])]),
        ),
    );
    assert_eq!(w.stored_members(team), vec![m[0], m[2]]);
    assert_eq!(w.group(team).subgroups, vec![other]);
}

#[test]
fn edit_group_refuses_cycles_and_itself_as_subgroup() {
    let Groups {
        mut w, admin, team, ..
    } = groups_world();
    let inner = w.add_group(admin, "inner", &[]);
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![g(inner)])])),
    );
    let e = w.err(
        admin,
        Command::EditGroup(inner, members(vec![MemberEdit::Add(vec![g(team)])])),
    );
    assert_eq!(e, Error::SubgroupCycle(inner));
    let e = w.err(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Replace(vec![g(team)])])),
    );
    assert_eq!(e, Error::SubgroupCycle(team));
}

#[test]
/// A provider keeps a disabled user's groups: EditGroup (unlike Zulip's
/// ChangeMembers) takes deactivated users, but not users it deleted.
fn edit_group_takes_deactivated_users_but_not_deleted_ones() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    w.exec(admin, Command::DeactivateUser(m[1]));
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![u(m[1])])])),
    );
    assert!(w.stored_members(team).contains(&m[1]));
    w.exec(admin, Command::DeleteUser(m[2], None));
    let e = w.err(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![u(m[2])])])),
    );
    assert_eq!(e, Error::InvalidMember(m[2]));
}

#[test]
fn a_replace_removes_deactivated_members_but_keeps_deleted_ones() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![u(m[1])])])),
    );
    w.exec(admin, Command::DeactivateUser(m[0]));
    w.exec(admin, Command::DeleteUser(m[1], None));
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Replace(vec![u(m[2])])])),
    );
    // m[0] is visible to the provider (inactive) and was not listed: gone.
    // m[1] was deleted by it: its membership stays, for a reactivation.
    assert_eq!(w.stored_members(team), vec![m[1], m[2]]);
    w.exec(admin, Command::ReactivateUser(m[1]));
    assert_eq!(w.snap.direct_members(team), vec![m[1], m[2]]);
}

#[test]
fn edit_group_renames_unless_the_name_is_taken() {
    let Groups {
        mut w, admin, team, ..
    } = groups_world();
    w.add_group(admin, "taken", &[]);
    let rename = |name: &str| EditGroup {
        name: Some(name.into()),
        ..EditGroup::default()
    };
    assert_eq!(
        w.err(admin, Command::EditGroup(team, rename("taken"))),
        Error::NameTaken("taken".into())
    );
    w.exec(admin, Command::EditGroup(team, rename("renamed")));
    assert_eq!(&*w.group(team).name, "renamed");
}

#[test]
fn edit_group_refuses_system_groups_for_every_actor() {
    let mut w = World::new();
    let token = w.add_token("scim", &[Scope::Scim]);
    let members = w.sys(SystemGroup::Members);
    let add_owner = EditGroup {
        external_id: Some(Some("x".into())),
        ..EditGroup::default()
    };
    for actor in [
        w.owner_actor(),
        Actor::Token(token),
        Actor::Platform,
        Actor::Operator,
    ] {
        let e = w.err(actor, Command::EditGroup(members, add_owner.clone()));
        assert_eq!(e, Error::InsufficientPermission, "{actor:?}");
        let e = w.err(actor, Command::RemoveGroup(members, None));
        assert_eq!(e, Error::InsufficientPermission, "{actor:?}");
    }
}

#[test]
fn edit_group_is_conditional_on_the_version_tag() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let tag = w.group(team).version_tag();
    let mut cmd = members(vec![MemberEdit::Add(vec![u(m[1])])]);
    cmd.expect = Some(tag.clone());
    w.exec(admin, Command::EditGroup(team, cmd.clone()));
    let before = w.snap.clone();
    cmd.members = vec![MemberEdit::Add(vec![u(m[2])])];
    assert_eq!(
        w.err(admin, Command::EditGroup(team, cmd)),
        Error::VersionMismatch(tag)
    );
    assert!(w.snap == before);
}

#[test]
fn edit_group_needs_the_right_to_manage_it() {
    let Groups { mut w, m, team, .. } = groups_world();
    let e = w.err(
        Actor::User(m[1]),
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![u(m[1])])])),
    );
    assert_eq!(e, Error::InsufficientPermission);
}

// ------------------------------------------------------------ RemoveGroup

#[test]
fn remove_group_takes_its_edges_in_supergroups_with_it() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let child = w.add_group(admin, "child", &[m[1]]);
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![g(child)])])),
    );
    w.exec(admin, Command::RemoveGroup(child, None));
    assert!(w.snap.group(child).is_none());
    assert!(w.snap.group_by_name("child").is_none());
    assert!(w.group(team).subgroups.is_empty());
    assert_eq!(w.snap.recursive_members(team), vec![m[0]]);
}

#[test]
fn remove_group_is_refused_while_a_setting_names_it() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let managers = w.add_group(admin, "managers", &[m[2]]);
    w.exec(
        admin,
        Command::UpdateGroup(
            team,
            set(GroupSetting::CanManageGroup, SettingValue::Group(managers)),
        ),
    );
    let e = w.err(admin, Command::RemoveGroup(managers, None));
    assert!(matches!(e, Error::GroupInUse(_)), "{e:?}");
    assert!(w.snap.group(managers).is_some());
}

// ------------------------------------------------------------ tokens

#[test]
fn only_operators_create_and_revoke_tokens() {
    let mut w = World::new();
    let scim = w.add_token("scim", &[Scope::Scim]);
    let token = w.snap.realm().token(scim).unwrap().clone();
    assert_eq!(token.scopes, vec![Scope::Scim]);
    assert_eq!(token.revoked_at, None);
    for actor in [w.owner_actor(), Actor::Platform, Actor::Token(scim)] {
        assert_eq!(
            w.err(
                actor,
                Command::CreateToken(token_cmd("other", &[Scope::Scim]))
            ),
            Error::OperatorOnly,
            "{actor:?}"
        );
        assert_eq!(
            w.err(actor, Command::RevokeToken("scim".into())),
            Error::OperatorOnly,
            "{actor:?}"
        );
    }
}

#[test]
fn token_names_are_checked_and_unique_among_live_tokens() {
    let mut w = World::new();
    let first = w.add_token("idp", &[Scope::Scim, Scope::AuditRead, Scope::Scim]);
    assert_eq!(
        w.snap.realm().token(first).unwrap().scopes,
        vec![Scope::Scim, Scope::AuditRead],
        "sorted, each once"
    );
    let create = |name: &str, scopes: &[Scope]| Command::CreateToken(token_cmd(name, scopes));
    assert_eq!(
        w.err(Actor::Operator, create("idp", &[Scope::Events])),
        Error::TokenNameTaken("idp".into())
    );
    assert!(is_invalid(&w.err(Actor::Operator, create("empty", &[]))));
    assert!(is_invalid(
        &w.err(Actor::Operator, create("", &[Scope::Scim]))
    ));
    assert!(is_invalid(
        &w.err(Actor::Operator, create("has space", &[Scope::Scim]))
    ));
    assert_eq!(
        w.err(Actor::Operator, Command::RevokeToken("nope".into())),
        Error::TokenNotFound("nope".into())
    );
    w.exec(Actor::Operator, Command::RevokeToken("idp".into()));
    assert!(w.snap.realm().token(first).unwrap().revoked_at.is_some());
    assert_eq!(
        w.err(Actor::Operator, Command::RevokeToken("idp".into())),
        Error::TokenNotFound("idp".into())
    );
    let second = w.add_token("idp", &[Scope::Scim]);
    assert_ne!(first, second);
    assert_eq!(w.snap.realm().live_token("idp").map(|t| t.id), Some(second));
}

#[test]
fn a_scim_token_provisions_and_edits() {
    let mut w = World::new();
    let token = Actor::Token(w.add_token("scim", &[Scope::Scim]));
    let id = w.provision(token, provision_cmd("via-token"));
    w.exec(
        token,
        edit(
            id,
            EditUser {
                active: Some(false),
                ..EditUser::default()
            },
        ),
    );
    let group = w.add_group(token, "token's", &[w.owner]);
    w.exec(
        token,
        Command::EditGroup(group, members(vec![MemberEdit::Replace(vec![])])),
    );
    w.exec(token, Command::RemoveGroup(group, None));
}

/// One command of each directory kind, Open-gated ones included.
fn directory_commands(w: &World, user: UserId, group: GroupId) -> Vec<Command> {
    vec![
        Command::ProvisionUser(provision_cmd("nobody-new")),
        edit(user, EditUser::default()),
        Command::DeleteUser(user, None),
        Command::EditGroup(group, EditGroup::default()),
        Command::RemoveGroup(group, None),
        Command::CreateGroup(group_cmd("fresh")),
        Command::ChangeMembers(group, add(&[w.owner])),
        Command::DeactivateGroup(group),
        Command::DeactivateUser(user),
        Command::ReactivateUser(user),
        Command::UpdateUser(
            user,
            UpdateUser {
                full_name: Some("Renamed".into()),
                ..UpdateUser::default()
            },
        ),
        Command::SyncFullMembers,
    ]
}

fn refused_without_scim(w: &mut World, token: TokenId) {
    let user = w.add_user(Role::Member);
    let name = format!("target {token}");
    let group = w.add_group(w.owner_actor(), &name, &[]);
    for cmd in directory_commands(w, user, group) {
        let shown = format!("{cmd:?}");
        assert_eq!(
            w.err(Actor::Token(token), cmd),
            Error::MissingScope(Scope::Scim),
            "{shown}"
        );
    }
}

#[test]
fn a_token_without_scim_may_write_nothing() {
    let mut w = World::new();
    let audit = w.add_token("audit", &[Scope::AuditRead, Scope::Events]);
    refused_without_scim(&mut w, audit);
}

#[test]
fn a_revoked_or_unknown_token_may_write_nothing() {
    let mut w = World::new();
    let revoked = w.add_token("old", &[Scope::Scim]);
    w.exec(Actor::Operator, Command::RevokeToken("old".into()));
    refused_without_scim(&mut w, revoked);
    refused_without_scim(&mut w, TokenId(987_654));
}

// ------------------------------------------------------------ version tags

#[test]
fn user_version_tags_follow_the_record() {
    let mut w = World::new();
    let a = provision_named(&mut w, "same", "same@example.com");
    let user = w.user(a);
    assert_eq!(user.version_tag(), (*user).clone().version_tag());
    let tag = |u: &cohort_core::User| u.version_tag();
    let base = tag(&user);
    let changed: Vec<(&str, cohort_core::User)> = vec![
        ("full name", {
            let mut x = (*user).clone();
            x.full_name = "Other".into();
            x
        }),
        ("role", {
            let mut x = (*user).clone();
            x.role = Role::Moderator;
            x
        }),
        ("active", {
            let mut x = (*user).clone();
            x.active = false;
            x
        }),
        ("external id", {
            let mut x = (*user).clone();
            x.profile.external_id = Some("e".into());
            x
        }),
        ("email primary flag", {
            let mut x = (*user).clone();
            x.profile.emails[0].primary = None;
            x
        }),
        ("deleted", {
            let mut x = (*user).clone();
            x.profile.deleted = true;
            x
        }),
        ("can create users", {
            let mut x = (*user).clone();
            x.can_create_users = true;
            x
        }),
    ];
    for (what, other) in changed {
        assert_ne!(tag(&other), base, "{what}");
    }
}

#[test]
fn group_version_tags_follow_the_record_its_settings_and_edges() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let tag = |w: &World| w.group(team).version_tag();
    // The clock stands still: a tag must move with the content alone.
    let mut seen = vec![tag(&w)];
    let steps = vec![
        Command::ChangeMembers(team, add(&[m[1]])),
        Command::UpdateGroup(
            team,
            set(
                GroupSetting::CanJoinGroup,
                SettingValue::Group(w.sys(SystemGroup::Members)),
            ),
        ),
        Command::EditGroup(
            team,
            EditGroup {
                external_id: Some(Some("g".into())),
                ..EditGroup::default()
            },
        ),
        Command::UpdateGroup(
            team,
            cohort_core::command::UpdateGroup {
                description: Some("now described".into()),
                ..Default::default()
            },
        ),
    ];
    for step in steps {
        let shown = format!("{step:?}");
        w.exec(admin, step);
        let now = tag(&w);
        assert!(!seen.contains(&now), "tag did not move after {shown}");
        seen.push(now);
    }
}

#[test]
fn version_tags_are_stable_across_a_replay() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let p = provision_named(&mut w, "replayed", "r@example.com");
    w.exec(
        admin,
        Command::EditGroup(team, members(vec![MemberEdit::Add(vec![u(m[2]), u(p)])])),
    );
    let replayed = w.replay();
    for user in w.snap.users() {
        let again = replayed.user(user.id).unwrap();
        assert_eq!(again.version_tag(), user.version_tag(), "user {}", user.id);
    }
    for group in w.snap.groups() {
        let again = replayed.group(group.id).unwrap();
        assert_eq!(
            again.version_tag(),
            group.version_tag(),
            "group {}",
            group.id
        );
    }
}

// ------------------------------------------------------------ filters

#[test]
fn group_filters_match_text_ignoring_case_and_members() {
    let Groups {
        mut w,
        admin,
        m,
        team,
    } = groups_world();
    let sub = w.add_group(admin, "Sub Team", &[]);
    w.exec(
        admin,
        Command::EditGroup(
            team,
            EditGroup {
                external_id: Some(Some("T-1".into())),
                members: vec![MemberEdit::Add(vec![g(sub)])],
                ..EditGroup::default()
            },
        ),
    );
    let matching = |f: &Filter<GroupField>| -> Vec<GroupId> {
        w.snap
            .groups()
            .filter(|grp| !grp.is_system() && f.matches(&w.snap, &***grp))
            .map(|grp| grp.id)
            .collect()
    };
    let name_is = |value: &str, ignore_case: bool| Filter::Text {
        field: GroupField::Name,
        op: TextOp::Equals,
        value: value.into(),
        ignore_case,
    };
    assert_eq!(matching(&name_is("SUB TEAM", true)), vec![sub]);
    assert!(matching(&name_is("SUB TEAM", false)).is_empty());
    assert_eq!(matching(&name_is("Sub Team", false)), vec![sub]);
    let starts = Filter::Text {
        field: GroupField::Name,
        op: TextOp::StartsWith,
        value: "TEA".into(),
        ignore_case: true,
    };
    assert_eq!(matching(&starts), vec![team]);
    assert_eq!(matching(&Filter::HasMember(u(m[0]))), vec![team]);
    assert!(matching(&Filter::HasMember(u(m[1]))).is_empty());
    assert_eq!(matching(&Filter::HasMember(g(sub))), vec![team]);
    let has_external = Filter::Exists {
        field: GroupField::ExternalId,
        present: true,
    };
    assert_eq!(matching(&has_external), vec![team]);
}

#[test]
fn user_filters_match_login_names_ignoring_case_and_external_ids() {
    let mut w = World::new();
    let mut cmd = provision_cmd("Mixed.Case");
    cmd.external_id = Some("X-9".into());
    let p = w.provision(Actor::Operator, cmd);
    let matching = |f: &Filter<UserField>| -> Vec<UserId> {
        w.snap
            .users()
            .filter(|user| f.matches(&w.snap, &***user))
            .map(|user| user.id)
            .collect()
    };
    let login_is = |value: &str| Filter::Text {
        field: UserField::LoginName,
        op: TextOp::Equals,
        value: value.into(),
        ignore_case: true,
    };
    assert_eq!(matching(&login_is("mixed.case")), vec![p]);
    // Users without a login name are found by the email standing in for it.
    assert_eq!(matching(&login_is("OWNER@EXAMPLE.COM")), vec![w.owner]);
    let has_external = |present| Filter::Exists {
        field: UserField::ExternalId,
        present,
    };
    assert_eq!(matching(&has_external(true)), vec![p]);
    assert_eq!(matching(&has_external(false)), vec![w.owner]);
}

#[test]
fn remove_group_is_not_blocked_by_its_own_settings() {
    let Groups {
        mut w, admin, team, ..
    } = groups_world();
    w.exec(
        admin,
        Command::UpdateGroup(
            team,
            set(GroupSetting::CanMentionGroup, SettingValue::Group(team)),
        ),
    );
    w.exec(admin, Command::RemoveGroup(team, None));
    assert!(w.snap.group(team).is_none());
}

/// A user no provider named shows its email as its `userName`, so a new or
/// changed email may not be another user's login name; a provisioned user's
/// email stands in for nothing and may be.
#[test]
fn an_email_may_not_be_someone_elses_login_name_where_it_stands_in_for_one() {
    let mut w = World::new();
    let admin = admin(&mut w);
    provision_named(&mut w, "ann@x.example", "ann.mail@x.example");
    let e = w.err(
        admin,
        Command::CreateUser(user_cmd("ANN@x.example", "Other Ann", Role::Member)),
    );
    assert_eq!(e, Error::EmailTaken("ANN@x.example".into()));
    let plain = w.add_user(Role::Member);
    let e = w.err(
        admin,
        Command::UpdateUser(
            plain,
            UpdateUser {
                email: Some("ann@x.example".into()),
                ..UpdateUser::default()
            },
        ),
    );
    assert_eq!(e, Error::EmailTaken("ann@x.example".into()));
    // Nor may a key, for a user without an email (an IMKIT client).
    let e = w.err(
        Actor::Platform,
        Command::PutClients(vec![PutClient {
            key: "ann@x.example".into(),
            full_name: None,
            email: None,
            avatar_url: None,
            api_key: KeyHash([3; 32]),
        }]),
    );
    assert_eq!(e, Error::KeyTaken("ann@x.example".into()));
    // A provisioned user's email may equal another's login name.
    provision_named(&mut w, "bob", "ann@x.example");
    check_login_names(&w.snap);
}
