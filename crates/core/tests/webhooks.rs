//! Webhook endpoints in the core: who may manage them, what is a valid
//! endpoint, and what rotating, disabling and removing leave behind.

mod common;

use cohort_core::command::{CreateWebhook, RotateWebhookSecret, UpdateWebhook};
use cohort_core::model::Secret;
use cohort_core::{Actor, Command, Error, Reply, Role, Scope, WebhookId};
use common::*;

fn secret(n: u8) -> Secret {
    Secret(format!("whsec_{}", "A".repeat(40 + n as usize)))
}

fn create(url: &str, types: &[&str]) -> Command {
    Command::CreateWebhook(CreateWebhook {
        url: url.into(),
        description: String::new(),
        types: types.iter().map(|t| t.to_string()).collect(),
        secret: secret(0),
    })
}

fn made(w: &mut World, actor: Actor, cmd: Command) -> WebhookId {
    match w.exec(actor, cmd).reply {
        Reply::Webhook(id) => id,
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn admins_operators_and_webhook_tokens_manage_endpoints_others_do_not() {
    let mut w = World::new();
    let admin = w.add_user(Role::Administrator);
    let owner = w.owner;
    let bot = w.add_bot(owner, Role::Administrator);
    let hooks = w.add_token("hooks", &[Scope::Webhooks]);
    let auditor = w.add_token("auditor", &[Scope::AuditRead, Scope::Events]);
    for actor in [
        w.owner_actor(),
        Actor::User(admin),
        Actor::Token(hooks),
        Actor::Operator,
    ] {
        made(&mut w, actor, create("https://hooks.example.com/x", &[]));
    }
    for role in [Role::Moderator, Role::Member, Role::Guest] {
        let user = w.add_user(role);
        let err = w.err(
            Actor::User(user),
            create("https://hooks.example.com/x", &[]),
        );
        assert_eq!(err, Error::MustBeAdmin, "{role:?}");
    }
    assert_eq!(
        w.err(Actor::User(bot), create("https://hooks.example.com/x", &[])),
        Error::BotNotAllowed
    );
    assert_eq!(
        w.err(
            Actor::Token(auditor),
            create("https://hooks.example.com/x", &[])
        ),
        Error::MissingScope(Scope::Webhooks)
    );
    assert_eq!(
        w.err(Actor::Platform, create("https://hooks.example.com/x", &[])),
        Error::AuditNotAllowed
    );
    // Changing one takes the same right.
    let id = w.snap.realm().live_webhooks().next().unwrap().id;
    let member = w.add_user(Role::Member);
    assert_eq!(
        w.err(Actor::User(member), Command::RemoveWebhook(id)),
        Error::MustBeAdmin
    );
    assert_eq!(w.snap.realm().live_webhooks().count(), 4);
}

#[test]
fn urls_types_and_the_endpoint_limit_are_checked() {
    let mut w = World::new();
    let op = Actor::Operator;
    for bad in [
        "ftp://example.com/x",
        "javascript:alert(1)",
        "https://",
        "https://:443/x",
        "https://user:pass@example.com/x",
        "https://example.com/a b",
        "https://example.com/x#frag",
        "example.com/x",
    ] {
        assert!(
            matches!(
                w.err(op, create(bad, &[])),
                Error::Invalid { field: "url", .. }
            ),
            "{bad}"
        );
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    assert!(matches!(
        w.err(op, create(&long, &[])),
        Error::TooLong { field: "url", .. }
    ));
    for bad in ["group.nope", "*", "group*", "nothing.*", "group.*.*"] {
        assert!(
            matches!(
                w.err(op, create("https://e.com/", &[bad])),
                Error::Invalid { field: "types", .. }
            ),
            "{bad}"
        );
    }
    let id = made(
        &mut w,
        op,
        create("HTTPS://e.com/", &["group.*", "user.created", "group.*"]),
    );
    let webhook = w.snap.realm().webhook(id).unwrap().clone();
    assert_eq!(
        webhook.types,
        ["group.*", "user.created"],
        "sorted, once each"
    );
    assert!(webhook.wants("group.member_added") && webhook.wants("user.created"));
    assert!(!webhook.wants("user.renamed") && !webhook.wants("token.created"));
    for _ in 1..cohort_core::validate::MAX_WEBHOOKS {
        made(&mut w, op, create("https://e.com/", &[]));
    }
    assert_eq!(
        w.err(op, create("https://e.com/", &[])),
        Error::TooManyWebhooks {
            max: cohort_core::validate::MAX_WEBHOOKS
        }
    );
    // A removed endpoint frees its place.
    w.exec(op, Command::RemoveWebhook(id));
    made(&mut w, op, create("https://e.com/", &[]));
}

#[test]
fn rotation_keeps_old_secrets_signing_until_they_expire() {
    let mut w = World::new();
    let op = Actor::Operator;
    let id = made(&mut w, op, create("https://e.com/", &[]));
    let rotate = |n: u8, keep: i64| {
        Command::RotateWebhookSecret(
            id,
            RotateWebhookSecret {
                secret: secret(n),
                keep_old_for: keep,
            },
        )
    };
    w.exec(op, rotate(1, 60_000));
    let webhook = w.snap.realm().webhook(id).unwrap().clone();
    let now = webhook.secrets[0].created_at;
    let signing: Vec<&Secret> = webhook.signing_secrets(now).collect();
    assert_eq!(signing, [&secret(1), &secret(0)]);
    let later: Vec<&Secret> = webhook.signing_secrets(now + 60_000).collect();
    assert_eq!(later, [&secret(1)], "the old one expired");
    // A second rotation with no overlap leaves only the newest.
    w.exec(op, rotate(2, 0));
    let webhook = w.snap.realm().webhook(id).unwrap().clone();
    assert_eq!(
        webhook.signing_secrets(now + 1).collect::<Vec<_>>(),
        [&secret(2)]
    );
    assert!(matches!(
        w.err(op, rotate(3, 8 * 24 * 3600 * 1000)),
        Error::Invalid {
            field: "keep_old_for_seconds",
            ..
        }
    ));
    assert!(matches!(w.err(op, rotate(3, -1)), Error::Invalid { .. }));
    // Secrets never show in Debug output.
    assert!(!format!("{webhook:?}").contains("AAAA"));
}

#[test]
fn disable_enable_update_and_remove() {
    let mut w = World::new();
    let op = Actor::Operator;
    let id = made(&mut w, op, create("https://e.com/", &[]));
    w.exec(
        Actor::System,
        Command::DisableWebhook(id, "the receiver answered 410 Gone".into()),
    );
    let disabled = w
        .snap
        .realm()
        .webhook(id)
        .unwrap()
        .disabled
        .clone()
        .unwrap();
    assert!(disabled.reason.contains("410"));
    let update = |enabled: Option<bool>, url: Option<&str>| {
        Command::UpdateWebhook(
            id,
            UpdateWebhook {
                url: url.map(Into::into),
                enabled,
                ..UpdateWebhook::default()
            },
        )
    };
    // Unchanged values commit nothing.
    assert!(w
        .exec(op, update(Some(false), Some("https://e.com/")))
        .changes
        .is_empty());
    w.exec(op, update(Some(true), Some("https://f.com/")));
    let webhook = w.snap.realm().webhook(id).unwrap().clone();
    assert!(webhook.disabled.is_none());
    assert_eq!(webhook.url, "https://f.com/");
    assert!(matches!(
        w.err(op, update(None, Some("gopher://x"))),
        Error::Invalid { .. }
    ));
    w.exec(op, Command::RemoveWebhook(id));
    assert!(w.snap.realm().webhook(id).is_none());
    assert_eq!(
        w.err(op, Command::RemoveWebhook(id)),
        Error::WebhookNotFound(id)
    );
    assert_eq!(
        w.err(op, update(Some(true), None)),
        Error::WebhookNotFound(id)
    );
    // The log replays to the same realm record.
    assert_eq!(w.replay().realm(), w.snap.realm());
}
