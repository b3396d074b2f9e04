//! Who may read the audit trail (`permission::may_read_audit`, the rule the
//! native admin API's every endpoint runs): active owners and administrators
//! that are not bots, live tokens with `audit:read`, operators and the
//! system; nobody else.

mod common;

use cohort_core::permission::may_read_audit;
use cohort_core::{Actor, Command, Error, Role, Scope, UserId};
use common::*;

#[test]
fn owners_and_administrators_may_read_the_audit() {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    assert_eq!(may_read_audit(&w.snap, w.owner_actor()), Ok(()));
    assert_eq!(may_read_audit(&w.snap, Actor::User(admin)), Ok(()));
}

#[test]
fn other_roles_are_refused() {
    let mut w = World::new();
    for role in [Role::Moderator, Role::Member, Role::Guest] {
        let user = w.add_user(role);
        assert_eq!(
            may_read_audit(&w.snap, Actor::User(user)),
            Err(Error::MustBeAdmin),
            "{role:?}"
        );
    }
}

#[test]
fn bots_are_refused_whatever_their_role() {
    let mut w = World::new();
    let owner = w.owner;
    for role in Role::ALL {
        let bot = w.add_bot(owner, role);
        assert_eq!(
            may_read_audit(&w.snap, Actor::User(bot)),
            Err(Error::BotNotAllowed),
            "{role:?} bot"
        );
    }
}

#[test]
fn deactivated_and_unknown_users_are_refused() {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    w.exec(Actor::Operator, Command::DeactivateUser(admin));
    assert_eq!(
        may_read_audit(&w.snap, Actor::User(admin)),
        Err(Error::UserDeactivated(admin))
    );
    let nobody = UserId(999_999);
    assert_eq!(
        may_read_audit(&w.snap, Actor::User(nobody)),
        Err(Error::UserNotFound(nobody))
    );
}

#[test]
fn tokens_need_a_live_audit_read_scope() {
    let mut w = World::new();
    let auditor = w.add_token("auditor", &[Scope::AuditRead]);
    let both = w.add_token("both", &[Scope::Scim, Scope::AuditRead]);
    let scim = w.add_token("idp", &[Scope::Scim]);
    let events = w.add_token("events", &[Scope::Events, Scope::Webhooks]);
    assert_eq!(may_read_audit(&w.snap, Actor::Token(auditor)), Ok(()));
    assert_eq!(may_read_audit(&w.snap, Actor::Token(both)), Ok(()));
    for token in [scim, events] {
        assert_eq!(
            may_read_audit(&w.snap, Actor::Token(token)),
            Err(Error::MissingScope(Scope::AuditRead))
        );
    }
    w.exec(Actor::Operator, Command::RevokeToken("auditor".into()));
    assert_eq!(
        may_read_audit(&w.snap, Actor::Token(auditor)),
        Err(Error::MissingScope(Scope::AuditRead))
    );
    // A token id this realm never issued.
    assert_eq!(
        may_read_audit(&w.snap, Actor::Token(cohort_core::TokenId(999_999))),
        Err(Error::MissingScope(Scope::AuditRead))
    );
}

#[test]
fn the_platform_key_is_refused_operators_and_the_system_pass() {
    let w = World::new();
    assert_eq!(
        may_read_audit(&w.snap, Actor::Platform),
        Err(Error::AuditNotAllowed)
    );
    assert_eq!(may_read_audit(&w.snap, Actor::Operator), Ok(()));
    assert_eq!(may_read_audit(&w.snap, Actor::System), Ok(()));
}

/// The event stream's rule is the audit's, with the `events` scope for
/// tokens: an `audit:read` token cannot hold a stream, nor an `events`
/// token read the audit.
#[test]
fn following_events_takes_admins_or_the_events_scope() {
    use cohort_core::permission::may_follow_events;
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    let member = w.add_user(Role::Member);
    let owner = w.owner;
    let bot = w.add_bot(owner, Role::Administrator);
    let events = w.add_token("dashboard", &[Scope::Events]);
    let auditor = w.add_token("auditor", &[Scope::AuditRead]);
    assert_eq!(may_follow_events(&w.snap, w.owner_actor()), Ok(()));
    assert_eq!(may_follow_events(&w.snap, Actor::User(admin)), Ok(()));
    assert_eq!(may_follow_events(&w.snap, Actor::Token(events)), Ok(()));
    assert_eq!(
        may_follow_events(&w.snap, Actor::Token(auditor)),
        Err(Error::MissingScope(Scope::Events))
    );
    assert_eq!(
        may_follow_events(&w.snap, Actor::User(member)),
        Err(Error::MustBeAdmin)
    );
    assert_eq!(
        may_follow_events(&w.snap, Actor::User(bot)),
        Err(Error::BotNotAllowed)
    );
    assert_eq!(
        may_follow_events(&w.snap, Actor::Platform),
        Err(Error::AuditNotAllowed)
    );
}
