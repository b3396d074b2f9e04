//! The caller gates (`permission::Gate`) are the core's own: every command that
//! Zulip gates refuses guests and bots through `execute` alone, with no face in
//! front of it, and before any check of the command's own.

mod common;

use cohort_core::command::{Command, PutClient, PutGroup, UpdateGroup, UpdateRealm};
use cohort_core::model::GroupSetting;
use cohort_core::permission::{check_gate, Gate};
use cohort_core::{Actor, Error, GroupId, KeyHash, Role, SystemGroup, UserId};
use common::*;

/// A realm with a group `target` that everyone may manage, a guest and a bot
/// (an owner, so only the bot gate stands in its way) in it, and a
/// second group to use as a subgroup and a third to delete.
struct Setup {
    w: World,
    guest: UserId,
    bot: UserId,
    member: UserId,
    target: GroupId,
    other: GroupId,
    spare: GroupId,
}

fn setup() -> Setup {
    let mut w = World::new();
    let guest = w.add_user(Role::Guest);
    let member = w.add_user(Role::Member);
    let bot = w.add_bot(w.owner, Role::Owner);
    let owner = w.owner_actor();
    let target = w.add_group(owner, "target", &[guest, bot, member]);
    let other = w.add_group(owner, "other", &[]);
    let spare = w.add_group(owner, "spare", &[]);
    let everyone = cohort_core::SettingValue::Group(w.sys(SystemGroup::Everyone));
    for setting in GroupSetting::ALL {
        let value = if setting.config().allow_everyone_group {
            everyone.clone()
        } else {
            anon(&[guest, bot, member], &[])
        };
        w.exec(owner, Command::UpdateGroup(target, set(setting, value)));
    }
    Setup {
        w,
        guest,
        bot,
        member,
        target,
        other,
        spare,
    }
}

/// Every gated group command, aimed at `target` (and `other` as a subgroup),
/// as `actor` would send it.
fn gated_commands(s: &Setup, actor: UserId) -> Vec<Command> {
    let rename = UpdateGroup {
        name: Some("renamed".into()),
        ..UpdateGroup::default()
    };
    let setting = set(
        GroupSetting::CanMentionGroup,
        cohort_core::SettingValue::Group(s.w.sys(SystemGroup::Members)),
    );
    vec![
        Command::UpdateGroup(s.target, rename),
        Command::UpdateGroup(s.target, setting),
        Command::ChangeMembers(s.target, add(&[s.w.owner])),
        Command::ChangeMembers(s.target, delete(&[actor])),
        Command::ChangeMembers(s.target, delete(&[s.member])),
        Command::ChangeMembers(s.target, add_subgroups(&[s.other])),
        Command::CreateGroup(group_cmd("new")),
        Command::PutGroup(PutGroup {
            key: None,
            name: "keyed".into(),
            avatar_url: None,
            members: None,
        }),
        Command::DeleteGroup(s.spare),
    ]
}

#[test]
fn guests_are_refused_on_every_group_command_by_the_core() {
    let mut s = setup();
    let guest = s.guest;
    for cmd in gated_commands(&s, guest) {
        let shown = format!("{cmd:?}");
        assert_eq!(
            s.w.err(Actor::User(guest), cmd),
            Error::GuestNotAllowed,
            "{shown}"
        );
    }
}

#[test]
fn bots_are_refused_until_the_realm_lets_them_manage_groups() {
    let mut s = setup();
    let bot = s.bot;
    for cmd in gated_commands(&s, bot) {
        let shown = format!("{cmd:?}");
        assert_eq!(
            s.w.err(Actor::User(bot), cmd),
            Error::BotNotAllowed,
            "{shown}"
        );
    }
    let owner = s.w.owner_actor();
    s.w.exec(
        owner,
        Command::UpdateRealm(UpdateRealm {
            bots_may_manage_groups: Some(true),
            ..UpdateRealm::default()
        }),
    );
    // The same commands now pass the gate (the bot is an owner and
    // holds every setting of `target`), so each one is accepted.
    for cmd in gated_commands(&s, bot) {
        let shown = format!("{cmd:?}");
        if let Err(e) = s.w.try_exec(Actor::User(bot), cmd) {
            panic!("{shown} refused after the realm allowed bots: {e:?}");
        }
    }
}

#[test]
fn the_gate_comes_before_the_commands_own_checks() {
    let mut s = setup();
    let (guest, bot) = (Actor::User(s.guest), Actor::User(s.bot));
    let missing = GroupId(999_999);
    let nothing = UpdateGroup::default();
    for (actor, expected) in [(guest, Error::GuestNotAllowed), (bot, Error::BotNotAllowed)] {
        assert_eq!(
            s.w.err(actor, Command::UpdateGroup(missing, nothing.clone())),
            expected
        );
        assert_eq!(
            s.w.err(
                actor,
                Command::ChangeMembers(missing, add(&[UserId(999_999)]))
            ),
            expected
        );
    }
}

#[test]
fn deactivation_is_exempt_from_the_gate_as_in_zulip() {
    let mut s = setup();
    // A guest reaches the permission check itself, which refuses guests for
    // settings that exclude role:everyone.
    assert_eq!(
        s.w.err(Actor::User(s.guest), Command::DeactivateGroup(s.other)),
        Error::InsufficientPermission
    );
    // A bot owner deactivates without the realm's bot flag.
    let bot = Actor::User(s.bot);
    s.w.exec(bot, Command::DeactivateGroup(s.other));
}

#[test]
fn administrator_commands_refuse_others_in_the_core() {
    let mut s = setup();
    let member = Actor::User(s.member);
    assert_eq!(
        s.w.err(
            member,
            Command::UpdateRealm(UpdateRealm {
                name: Some("Mine".into()),
                ..UpdateRealm::default()
            })
        ),
        Error::MustBeAdmin
    );
    assert_eq!(
        s.w.err(
            member,
            Command::CreateUser(user_cmd("x@example.com", "Some One", Role::Member))
        ),
        Error::MustBeAdmin
    );
    assert_eq!(
        s.w.err(
            member,
            Command::PutClients(vec![PutClient {
                key: "client-1".into(),
                full_name: None,
                email: None,
                avatar_url: None,
                api_key: KeyHash([1; 32]),
            }])
        ),
        Error::MustBeAdmin
    );
}

#[test]
fn only_users_are_gated() {
    let s = setup();
    for actor in [Actor::Platform, Actor::Operator, Actor::System] {
        for gate in [
            Gate::Open,
            Gate::GroupEndpoint,
            Gate::CreateGroups,
            Gate::Administrator,
        ] {
            assert_eq!(check_gate(&s.w.snap, actor, gate), Ok(()), "{actor:?}");
        }
    }
    assert_eq!(
        check_gate(&s.w.snap, Actor::User(s.guest), Gate::Open),
        Ok(())
    );
    assert_eq!(
        check_gate(&s.w.snap, Actor::User(s.guest), Gate::GroupEndpoint),
        Err(Error::GuestNotAllowed)
    );
}
