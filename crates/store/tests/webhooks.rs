//! Webhook delivery bookkeeping (migration 6), on both engines: one scenario
//! runs against SQLite and PostgreSQL, checks every answer against what the
//! `Store` trait promises, and the two engines' transcripts must be equal.
//!
//! Covered: the enqueue cursor starts at the version of the commit that
//! created the endpoint (through `import` and `write`), in that commit's
//! transaction (a refused import leaves none); enqueueing is a
//! compare-and-set (a stale `from` writes nothing), keeps deliveries already
//! there as they were; pending deliveries in event order, with a limit;
//! leases (taken, refused to another node until expired, renewed, released);
//! attempts move a delivery's state, retries, schedule and `done_at`, and are
//! kept (a repeated attempt replaces its row, the count never goes back); the
//! log newest first, paged with `before`, filtered by state, attempts oldest
//! first; requeueing (failed ones, delivered ones only on resend, missing
//! ones added, repeats counted once); pruning only finished rows older than
//! the cutoff, with their attempts. Then, on both (PostgreSQL being the one
//! where it matters), two nodes claiming at once from two tasks hold
//! disjoint sets that cover every endpoint, over 20 rounds.
//!
//! PostgreSQL: a fresh database per run on `COHORT_TEST_PG` (see `support`);
//! without it the PostgreSQL half is skipped loudly, or fails when `CI=true`.

mod support;

use cohort_core::model::{GroupUpsert, Secret, WebhookSecret};
use cohort_core::{
    Actor, Change, Commit, Face, GroupId, Millis, Origin, Realm, RealmId, RealmSetting,
    SettingValue, Version, Webhook, WebhookId,
};
use cohort_store::{
    Attempt, AttemptOutcome, DbUrl, Delivery, DeliveryState, EventKey, Job, Store, Target, WriteJob,
};
use std::sync::Arc;
use support::PgDatabase;

const REALM: RealmId = RealmId(1_000);
const W1: WebhookId = WebhookId(1_101);
const W2: WebhookId = WebhookId(1_102);
const W3: WebhookId = WebhookId(1_103);
/// Made by a `Store::write` job.
const W4: WebhookId = WebhookId(1_104);
/// Never created.
const UNKNOWN: WebhookId = WebhookId(1_999);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn open(url: &str) -> Arc<dyn Store> {
    cohort_store::open(&DbUrl::parse(url).expect("a database URL"), true)
        .await
        .expect("open the store")
}

fn commit(version: Version, changes: Vec<Change>) -> Commit {
    Commit {
        realm: REALM,
        version,
        at: 10 * version as Millis,
        actor: Actor::Operator,
        origin: Origin::local(Face::Cli),
        changes,
    }
}

fn realm() -> Realm {
    Realm {
        id: REALM,
        name: "webhooks".into(),
        created_at: 10,
        settings: RealmSetting::ALL.map(|_| SettingValue::Group(GroupId(1_001))),
        waiting_period_days: 0,
        bots_may_manage_groups: false,
        group_upsert: GroupUpsert::default(),
        rate_limit: None,
        platform_key: None,
        retired_platform_key: None,
        tokens: Vec::new(),
        webhooks: Vec::new(),
    }
}

fn webhook(id: WebhookId) -> Change {
    Change::WebhookCreated {
        webhook: Box::new(Webhook {
            id,
            url: format!("https://receiver.example/{id}"),
            description: String::new(),
            types: Vec::new(),
            secrets: vec![WebhookSecret {
                secret: Secret(format!("whsec_{id}")),
                created_at: 10,
                expires_at: None,
            }],
            created_at: 10,
            disabled: None,
            removed_at: None,
        }),
    }
}

/// A write job appending one commit that creates `W4`.
struct AddWebhook {
    known: Version,
}

impl WriteJob for AddWebhook {
    fn target(&self) -> Target {
        Target::Realm {
            id: REALM,
            known: self.known,
        }
    }

    fn ids_needed(&self) -> usize {
        0
    }

    fn run(&mut self, behind: Vec<Commit>, _ids: Vec<i64>) -> Vec<Commit> {
        let last = behind.last().map_or(self.known, |c| c.version);
        vec![commit(last + 1, vec![webhook(W4)])]
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

fn delivery(webhook: WebhookId, event: EventKey, payload: &str) -> Delivery {
    Delivery {
        webhook,
        realm: REALM,
        event,
        kind: "group.member_added".into(),
        lane: 7_000 + event.0 as i64,
        payload: payload.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        retries: 0,
        next_at: 100,
        created_at: 100,
        done_at: None,
    }
}

fn attempt(webhook: WebhookId, event: EventKey, number: u32, at: Millis) -> Attempt {
    Attempt {
        webhook,
        event,
        number,
        at,
        duration_ms: 10 + number,
        status: Some(500),
        error: None,
        response: format!("try {number} of {event:?}"),
    }
}

fn outcome(
    attempt: Attempt,
    state: DeliveryState,
    retries: u32,
    next_at: Millis,
) -> AttemptOutcome {
    AttemptOutcome {
        attempt,
        state,
        retries,
        next_at,
    }
}

/// Every answer the scenario got, in order: equal on both engines.
#[derive(Debug, PartialEq)]
enum Seen {
    Cursor(WebhookId, Option<Version>),
    Enqueued(bool),
    Pending(Vec<Delivery>),
    Claimed(&'static str, Vec<WebhookId>),
    Log(Vec<(Delivery, Vec<Attempt>)>),
    Count(u64),
}

struct Run<'s> {
    store: &'s dyn Store,
    what: &'static str,
    seen: Vec<Seen>,
}

impl Run<'_> {
    async fn cursor(&mut self, webhook: WebhookId) -> Option<Version> {
        let cursor = self.store.webhook_cursor(webhook).await.expect("cursor");
        self.seen.push(Seen::Cursor(webhook, cursor));
        cursor
    }

    async fn enqueue(&mut self, w: WebhookId, from: Version, to: Version, d: &[Delivery]) -> bool {
        let done = self
            .store
            .enqueue_deliveries(w, from, to, d.to_vec())
            .await
            .expect("enqueue");
        self.seen.push(Seen::Enqueued(done));
        done
    }

    async fn pending(&mut self, webhook: WebhookId, limit: usize) -> Vec<Delivery> {
        let pending = self
            .store
            .pending_deliveries(webhook, limit)
            .await
            .expect("pending");
        self.seen.push(Seen::Pending(pending.clone()));
        pending
    }

    async fn claim(
        &mut self,
        node: &'static str,
        webhooks: &[WebhookId],
        now: Millis,
        until: Millis,
    ) -> Vec<WebhookId> {
        let held = self
            .store
            .claim_webhooks(node.into(), webhooks.to_vec(), now, until)
            .await
            .expect("claim");
        self.seen.push(Seen::Claimed(node, held.clone()));
        held
    }

    async fn record(&mut self, outcomes: Vec<AttemptOutcome>) {
        self.store
            .record_attempts(outcomes)
            .await
            .expect("record attempts");
    }

    async fn log(
        &mut self,
        webhook: WebhookId,
        before: Option<EventKey>,
        limit: usize,
        state: Option<DeliveryState>,
    ) -> Vec<(Delivery, Vec<Attempt>)> {
        let log = self
            .store
            .delivery_log(webhook, before, limit, state)
            .await
            .expect("delivery log");
        self.seen.push(Seen::Log(log.clone()));
        log
    }

    async fn requeue(&mut self, deliveries: &[Delivery], resend: bool, now: Millis) -> u64 {
        let queued = self
            .store
            .requeue_deliveries(deliveries.to_vec(), resend, now)
            .await
            .expect("requeue");
        self.seen.push(Seen::Count(queued));
        queued
    }

    async fn prune(&mut self, before: Millis) -> u64 {
        let pruned = self
            .store
            .prune_deliveries(before)
            .await
            .expect("prune deliveries");
        self.seen.push(Seen::Count(pruned));
        pruned
    }

    /// One delivery as the log has it.
    async fn one(&mut self, webhook: WebhookId, event: EventKey) -> (Delivery, Vec<Attempt>) {
        let all = self
            .store
            .delivery_log(webhook, None, usize::MAX, None)
            .await
            .expect("delivery log");
        let found = all.into_iter().find(|(d, _)| d.event == event);
        found.unwrap_or_else(|| panic!("{}: no delivery {event:?} of {webhook}", self.what))
    }
}

fn events(log: &[(Delivery, Vec<Attempt>)]) -> Vec<EventKey> {
    log.iter().map(|(d, _)| d.event).collect()
}

fn keys(deliveries: &[Delivery]) -> Vec<EventKey> {
    deliveries.iter().map(|d| d.event).collect()
}

/// The whole scenario on one store; its transcript.
async fn scenario(store: &dyn Store, what: &'static str) -> Vec<Seen> {
    use DeliveryState::{Delivered, Failed, Pending};
    let mut run = Run {
        store,
        what,
        seen: Vec::new(),
    };

    // ---- endpoints: the cursor starts at the creating commit ----
    store
        .import(vec![
            commit(
                1,
                vec![Change::RealmCreated {
                    realm: Box::new(realm()),
                }],
            ),
            commit(2, vec![webhook(W1)]),
            commit(3, vec![webhook(W2), webhook(W3)]),
        ])
        .await
        .expect("import");
    assert_eq!(run.cursor(W1).await, Some(2), "{what}: W1 starts at v2");
    assert_eq!(run.cursor(W2).await, Some(3), "{what}: W2 starts at v3");
    assert_eq!(run.cursor(W3).await, Some(3), "{what}: W3 starts at v3");
    assert_eq!(run.cursor(UNKNOWN).await, None, "{what}: unknown endpoint");
    // A refused import (a gap in the versions) leaves no endpoint behind.
    let refused = store.import(vec![commit(9, vec![webhook(UNKNOWN)])]).await;
    assert!(refused.is_err(), "{what}: an import with a gap went in");
    assert_eq!(run.cursor(UNKNOWN).await, None, "{what}: half an import");
    // Through the write path: the job's commit is version 4.
    let (jobs, result) = store
        .write(vec![Box::new(AddWebhook { known: 3 }) as Job])
        .await;
    result.expect("write");
    assert_eq!(jobs.len(), 1);
    assert_eq!(run.cursor(W4).await, Some(4), "{what}: W4 starts at v4");

    // ---- enqueue: compare-and-set on the cursor ----
    let first = [
        delivery(W1, (3, 0), "a"),
        delivery(W1, (3, 1), "b"),
        delivery(W1, (4, 0), "c"),
    ];
    assert!(run.enqueue(W1, 2, 4, &first).await, "{what}: first enqueue");
    assert_eq!(run.cursor(W1).await, Some(4));
    // Another node, from the stale cursor: refused, nothing written.
    let stale = [delivery(W1, (5, 0), "stale"), delivery(W1, (2, 0), "stale")];
    assert!(
        !run.enqueue(W1, 2, 5, &stale).await,
        "{what}: stale enqueue"
    );
    assert_eq!(
        run.cursor(W1).await,
        Some(4),
        "{what}: a stale enqueue moved it"
    );
    assert_eq!(
        run.pending(W1, 100).await,
        first.to_vec(),
        "{what}: stale rows"
    );
    // An unknown endpoint has no cursor to move.
    assert!(!run.enqueue(UNKNOWN, 0, 1, &stale).await);
    // Deliveries already there are kept as they were; out of order in, in
    // event order out.
    let second = [
        delivery(W1, (6, 0), "f"),
        delivery(W1, (3, 0), "a, again"),
        delivery(W1, (5, 0), "e"),
    ];
    assert!(
        run.enqueue(W1, 4, 6, &second).await,
        "{what}: second enqueue"
    );
    assert_eq!(run.cursor(W1).await, Some(6));
    // Enqueueing nothing still moves the cursor.
    assert!(run.enqueue(W2, 3, 4, &[]).await);
    assert_eq!(run.cursor(W2).await, Some(4));
    let w1_all = vec![
        first[0].clone(),
        first[1].clone(),
        first[2].clone(),
        second[2].clone(),
        second[0].clone(),
    ];
    assert_eq!(run.pending(W1, 100).await, w1_all, "{what}: pending");
    assert_eq!(
        run.pending(W1, 2).await,
        w1_all[..2].to_vec(),
        "{what}: limit"
    );
    assert_eq!(run.pending(W1, 0).await, Vec::new());
    assert!(run.pending(W3, 10).await.is_empty());

    // ---- leases ----
    let all = [W1, W2, W3];
    assert_eq!(run.claim("a", &[W1, W2], 1_000, 2_000).await, vec![W1, W2]);
    assert_eq!(
        run.claim("b", &all, 1_500, 2_500).await,
        vec![W3],
        "{what}: B took A's leases"
    );
    // A renews W1 (to 2 600), not W2 (until 2 000).
    assert_eq!(run.claim("a", &[W1], 1_600, 2_600).await, vec![W1]);
    // At exactly `until` a lease still holds.
    assert_eq!(run.claim("b", &[W1, W2], 2_000, 3_000).await, Vec::new());
    assert_eq!(
        run.claim("b", &[W1, W2], 2_001, 3_001).await,
        vec![W2],
        "{what}: B cannot take an expired lease"
    );
    assert_eq!(run.claim("a", &all, 2_002, 3_002).await, vec![W1]);
    // A releases: B takes W1 at once; the unknown endpoint is nobody's.
    store.release_webhooks("a".into()).await.expect("release");
    assert_eq!(
        run.claim("b", &[W1, UNKNOWN], 2_003, 3_003).await,
        vec![W1],
        "{what}: a released lease stayed taken"
    );
    // Releasing another node's, or nobody's, changes nothing.
    store.release_webhooks("c".into()).await.expect("release");
    assert_eq!(run.claim("a", &all, 2_004, 3_004).await, Vec::new());
    store.release_webhooks("b".into()).await.expect("release");
    assert_eq!(run.claim("a", &all, 2_005, 3_005).await, all.to_vec());
    assert_eq!(run.claim("a", &[], 2_006, 3_006).await, Vec::new());
    store.release_webhooks("a".into()).await.expect("release");

    // ---- attempts ----
    // (3,0): fails once, then is delivered.
    run.record(vec![outcome(
        attempt(W1, (3, 0), 1, 3_000),
        Pending,
        1,
        4_000,
    )])
    .await;
    let (d, tries) = run.one(W1, (3, 0)).await;
    assert_eq!(
        (d.state, d.attempts, d.retries, d.next_at, d.done_at),
        (Pending, 1, 1, 4_000, None),
        "{what}: after a failed attempt"
    );
    assert_eq!(tries, vec![attempt(W1, (3, 0), 1, 3_000)]);
    let mut ok = attempt(W1, (3, 0), 2, 4_000);
    ok.status = Some(200);
    ok.response = "ok".into();
    run.record(vec![outcome(ok.clone(), Delivered, 1, 4_000)])
        .await;
    // (3,1): no answer, given up.
    let mut timeout = attempt(W1, (3, 1), 1, 3_100);
    timeout.status = None;
    timeout.error = Some("timed out".into());
    timeout.response = String::new();
    // (4,0): two outcomes in one call: the last one counts.
    let mut ok4 = attempt(W1, (4, 0), 2, 3_300);
    ok4.status = Some(204);
    run.record(vec![
        outcome(timeout.clone(), Failed, 5, 3_100),
        outcome(attempt(W1, (4, 0), 1, 3_200), Pending, 1, 3_250),
        outcome(ok4.clone(), Delivered, 1, 3_250),
    ])
    .await;
    // (5,0): attempts 1 and 3 go in, then 2 arrives late, and 3 is
    // recorded again (a retried write): the count stays 3, 3's row is the
    // newer one.
    run.record(vec![
        outcome(attempt(W1, (5, 0), 1, 5_000), Pending, 1, 5_100),
        outcome(attempt(W1, (5, 0), 3, 5_300), Pending, 3, 5_400),
    ])
    .await;
    let mut third = attempt(W1, (5, 0), 3, 5_301);
    third.response = "third, again".into();
    run.record(vec![
        outcome(attempt(W1, (5, 0), 2, 5_200), Pending, 3, 5_400),
        outcome(third.clone(), Pending, 3, 5_400),
    ])
    .await;
    // Nothing to record is fine.
    run.record(Vec::new()).await;

    let full = run.log(W1, None, 100, None).await;
    assert_eq!(
        events(&full),
        vec![(6, 0), (5, 0), (4, 0), (3, 1), (3, 0)],
        "{what}: log order"
    );
    let expect = |event: EventKey| full.iter().find(|(d, _)| d.event == event).unwrap();
    let (d, tries) = expect((3, 0));
    assert_eq!(
        (d.state, d.attempts, d.retries, d.next_at, d.done_at),
        (Delivered, 2, 1, 4_000, Some(4_000)),
        "{what}: delivered"
    );
    assert_eq!(tries, &vec![attempt(W1, (3, 0), 1, 3_000), ok.clone()]);
    assert_eq!(
        d.payload, "a",
        "{what}: a repeated enqueue changed a delivery"
    );
    let (d, tries) = expect((3, 1));
    assert_eq!(
        (d.state, d.attempts, d.retries, d.done_at),
        (Failed, 1, 5, Some(3_100)),
        "{what}: failed"
    );
    assert_eq!(tries, &vec![timeout.clone()]);
    let (d, tries) = expect((4, 0));
    assert_eq!(
        (d.state, d.attempts, d.retries, d.done_at),
        (Delivered, 2, 1, Some(3_300)),
        "{what}: two outcomes at once"
    );
    assert_eq!(tries, &vec![attempt(W1, (4, 0), 1, 3_200), ok4.clone()]);
    let (d, tries) = expect((5, 0));
    assert_eq!(
        (d.state, d.attempts, d.retries, d.next_at, d.done_at),
        (Pending, 3, 3, 5_400, None),
        "{what}: a late attempt moved the count back"
    );
    assert_eq!(
        tries,
        &vec![
            attempt(W1, (5, 0), 1, 5_000),
            attempt(W1, (5, 0), 2, 5_200),
            third.clone()
        ],
        "{what}: attempts oldest first"
    );
    let (d, tries) = expect((6, 0));
    assert_eq!((d, tries), (&second[0], &Vec::new()));
    assert_eq!(
        keys(&run.pending(W1, 10).await),
        vec![(5, 0), (6, 0)],
        "{what}: only pending ones are pending"
    );

    // ---- the log: paging and filtering ----
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = run.log(W1, before, 2, None).await;
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        before = Some(last.event);
        paged.extend(page);
    }
    assert_eq!(paged, full, "{what}: the pages are not the log");
    assert_eq!(
        events(&run.log(W1, Some((5, 0)), 2, None).await),
        vec![(4, 0), (3, 1)],
        "{what}: `before` is exclusive"
    );
    assert_eq!(
        events(&run.log(W1, Some((3, 1)), 10, None).await),
        vec![(3, 0)]
    );
    assert_eq!(
        events(&run.log(W1, Some((3, 0)), 10, None).await),
        Vec::<EventKey>::new()
    );
    assert_eq!(
        events(&run.log(W1, None, 10, Some(Delivered)).await),
        vec![(4, 0), (3, 0)],
        "{what}: delivered ones"
    );
    assert_eq!(
        events(&run.log(W1, Some((4, 0)), 10, Some(Delivered)).await),
        vec![(3, 0)]
    );
    assert_eq!(
        events(&run.log(W1, None, 10, Some(Failed)).await),
        vec![(3, 1)]
    );
    assert_eq!(
        events(&run.log(W1, None, 1, Some(Pending)).await),
        vec![(6, 0)]
    );
    assert!(run.log(W2, None, 10, None).await.is_empty());

    // ---- requeue ----
    // Failed → pending; delivered stays without resend; pending is left
    // alone; missing is added; a repeat is counted once.
    let mut extra = delivery(W1, (7, 0), "g");
    extra.state = Failed;
    extra.attempts = 4;
    extra.retries = 4;
    extra.done_at = Some(1);
    let queued = run
        .requeue(
            &[
                first[1].clone(),
                first[0].clone(),
                second[2].clone(),
                extra.clone(),
                extra.clone(),
            ],
            false,
            9_000,
        )
        .await;
    assert_eq!(queued, 2, "{what}: requeued");
    let (d, tries) = run.one(W1, (3, 1)).await;
    assert_eq!(
        (d.state, d.attempts, d.retries, d.next_at, d.done_at),
        (Pending, 1, 0, 9_000, None),
        "{what}: a failed delivery requeued"
    );
    assert_eq!(
        tries,
        vec![timeout.clone()],
        "{what}: requeue lost attempts"
    );
    let (d, _) = run.one(W1, (3, 0)).await;
    assert_eq!(d.state, Delivered, "{what}: resent without resend");
    let (d, _) = run.one(W1, (5, 0)).await;
    assert_eq!(
        (d.state, d.retries, d.next_at),
        (Pending, 3, 5_400),
        "{what}: a pending delivery was rescheduled"
    );
    let (d, tries) = run.one(W1, (7, 0)).await;
    assert_eq!(
        d,
        Delivery {
            state: Pending,
            retries: 0,
            next_at: 9_000,
            done_at: None,
            ..extra.clone()
        },
        "{what}: a missing delivery requeued"
    );
    assert!(tries.is_empty());
    // Resend: delivered ones too; pending ones still not counted.
    let queued = run
        .requeue(
            &[first[0].clone(), first[2].clone(), first[1].clone()],
            true,
            9_500,
        )
        .await;
    assert_eq!(queued, 2, "{what}: resent");
    for event in [(3, 0), (4, 0)] {
        let (d, tries) = run.one(W1, event).await;
        assert_eq!(
            (d.state, d.attempts, d.retries, d.next_at, d.done_at),
            (Pending, 2, 0, 9_500, None),
            "{what}: {event:?} resent"
        );
        assert_eq!(tries.len(), 2);
    }
    assert_eq!(run.requeue(&[], true, 9_600).await, 0);
    assert_eq!(
        keys(&run.pending(W1, 100).await),
        vec![(3, 0), (3, 1), (4, 0), (5, 0), (6, 0), (7, 0)]
    );

    // ---- prune ----
    let w2 = [
        delivery(W2, (5, 0), "old, delivered"),
        delivery(W2, (5, 1), "failed at the cutoff"),
        delivery(W2, (5, 2), "still pending"),
        delivery(W2, (5, 3), "failed long ago"),
    ];
    assert!(run.enqueue(W2, 4, 5, &w2).await);
    run.record(vec![
        outcome(attempt(W2, (5, 0), 1, 1_000), Delivered, 0, 1_000),
        outcome(attempt(W2, (5, 1), 1, 5_000), Failed, 5, 5_000),
        outcome(attempt(W2, (5, 2), 1, 1_000), Pending, 1, 2_000),
        outcome(attempt(W2, (5, 3), 1, 10), Failed, 5, 10),
    ])
    .await;
    assert_eq!(run.prune(5_000).await, 2, "{what}: pruned");
    assert_eq!(
        events(&run.log(W2, None, 10, None).await),
        vec![(5, 2), (5, 1)],
        "{what}: prune kept the wrong rows"
    );
    // W1's are all pending now: untouched.
    assert_eq!(run.log(W1, None, 100, None).await.len(), 6);
    // The attempts went with them: the same delivery queued again has none.
    assert_eq!(run.requeue(&w2[..1], false, 9_700).await, 1);
    let (_, tries) = run.one(W2, (5, 0)).await;
    assert!(tries.is_empty(), "{what}: pruned attempts remain");
    let (_, tries) = run.one(W2, (5, 1)).await;
    assert_eq!(tries.len(), 1);
    assert_eq!(run.prune(5_000).await, 0);
    assert_eq!(run.prune(i64::MAX).await, 1, "{what}: (5,1) at last");

    // The endpoints' cursors and the directory are where they were.
    for w in [W1, W2, W3, W4] {
        run.cursor(w).await;
    }
    assert_eq!(store.versions().await.expect("versions"), vec![(REALM, 4)]);
    run.seen
}

/// Two nodes claiming the same endpoints at once, from two tasks: the sets
/// held are disjoint and cover them all, round after round.
async fn concurrent_claims(a: Arc<dyn Store>, b: Arc<dyn Store>, what: &str) {
    let ids: Vec<WebhookId> = (0..12).map(|n| WebhookId(2_000 + n)).collect();
    let version = a.versions().await.expect("versions")[0].1;
    a.import(
        ids.iter()
            .enumerate()
            .map(|(n, id)| commit(version + 1 + n as Version, vec![webhook(*id)]))
            .collect(),
    )
    .await
    .expect("import");
    let mut shared = [0usize; 2];
    let mut split = 0;
    for round in 0..20 {
        // Every lease from the round before has expired.
        let now = 100_000 + round * 1_000;
        let until = now + 500;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        // Odd rounds: all at once. Even rounds: a few at a time, the nodes
        // going through them in opposite orders, so they meet mid-way.
        let chunk = if round % 2 == 1 { ids.len() } else { 3 };
        let claim = |store: Arc<dyn Store>, node: &'static str, reverse: bool| {
            let (ids, barrier) = (ids.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut chunks: Vec<Vec<WebhookId>> =
                    ids.chunks(chunk).map(<[_]>::to_vec).collect();
                if reverse {
                    chunks.reverse();
                }
                barrier.wait().await;
                let mut held = Vec::new();
                for chunk in chunks {
                    let got = store
                        .claim_webhooks(node.into(), chunk, now, until)
                        .await
                        .expect("claim");
                    let mut sorted = got.clone();
                    sorted.sort();
                    assert_eq!(got, sorted, "held ids are not sorted");
                    held.extend(got);
                }
                held.sort();
                held
            })
        };
        let (held_a, held_b) = (claim(a.clone(), "a", false), claim(b.clone(), "b", true));
        let (held_a, held_b) = (held_a.await.unwrap(), held_b.await.unwrap());
        if !held_a.is_empty() && !held_b.is_empty() {
            split += 1;
        }
        assert!(
            held_a.iter().all(|w| !held_b.contains(w)),
            "{what}: round {round}: both nodes hold {held_a:?} ∩ {held_b:?}"
        );
        let mut union: Vec<_> = held_a.iter().chain(&held_b).copied().collect();
        union.sort();
        assert_eq!(
            union, ids,
            "{what}: round {round}: an endpoint nobody holds"
        );
        shared[0] += held_a.len();
        shared[1] += held_b.len();
        // Within its lease, the other node still cannot take them.
        let late = b
            .claim_webhooks("b".into(), held_a.clone(), now + 1, until + 1)
            .await
            .expect("claim");
        assert!(
            late.is_empty(),
            "{what}: round {round}: B took A's {late:?}"
        );
    }
    eprintln!(
        "{what}: over 20 rounds node a held {} leases, node b {}; both held some in {split} rounds",
        shared[0], shared[1]
    );
}

/// PostgreSQL: an endpoint whose row another transaction has locked (a node
/// in the middle of claiming it) is skipped at once, not waited for; once
/// the lock goes, it can be claimed.
async fn locked_rows_are_skipped(url: &str, store: &dyn Store) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM webhook_state WHERE webhook_id = {} FOR UPDATE",
            W3.0
        ))
        .await
        .expect("lock W3's row");
    let started = std::time::Instant::now();
    let held = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        store.claim_webhooks("c".into(), vec![W1, W2, W3], 1_000_000, 1_000_500),
    )
    .await
    .expect("a claim waited for a locked row")
    .expect("claim");
    assert_eq!(held, vec![W1, W2], "a locked row was claimed");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    client.batch_execute("ROLLBACK").await.expect("unlock");
    let held = store
        .claim_webhooks("c".into(), vec![W1, W2, W3], 1_000_001, 1_000_501)
        .await
        .expect("claim");
    assert_eq!(held, vec![W1, W2, W3]);
    store.release_webhooks("c".into()).await.expect("release");
    drop(client);
    let _ = driver.await;
}

#[test]
fn webhook_bookkeeping_is_the_same_on_both_engines() {
    assert_eq!(
        cohort_store::sqlite::known_schema_version(),
        cohort_store::postgres::known_schema_version(),
        "the engines' schemas differ in version"
    );
    let rt = rt();
    let dir = tempfile::tempdir().expect("a temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("webhooks.db").display());
    let sqlite = rt.block_on(async {
        let store = open(&sqlite_url).await;
        let seen = scenario(store.as_ref(), "SQLite").await;
        concurrent_claims(store.clone(), store, "SQLite").await;
        seen
    });
    let Some(database) = PgDatabase::create() else {
        return;
    };
    let postgres = rt.block_on(async {
        let store = open(&database.url()).await;
        let seen = scenario(store.as_ref(), "PostgreSQL").await;
        // Two nodes: two stores, two pools, one database.
        let other = open(&database.url()).await;
        locked_rows_are_skipped(&database.url(), store.as_ref()).await;
        concurrent_claims(store, other, "PostgreSQL").await;
        seen
    });
    assert_eq!(sqlite.len(), postgres.len(), "transcripts differ in length");
    for (n, (s, p)) in sqlite.iter().zip(&postgres).enumerate() {
        assert_eq!(s, p, "answer {n} differs between SQLite and PostgreSQL");
    }
    drop(rt);
    drop(database);
}
