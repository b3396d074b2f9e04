//! Entry points for the fuzz targets in `fuzz/` (and the corpus replay test
//! below): one function per parser family, taking the raw bytes a client
//! could send and running them through the face's real parsing code.
//!
//! Built only with the `fuzzing` feature (the fuzz crate enables it) or in
//! this crate's own tests, so nothing here widens the normal build's API.
//! Each function panics when a parser panics **or** when a cheap property
//! of its answer fails (a re-rendered SCIM filter parses back to the same
//! tree, a cursor that decodes re-encodes to the same text, an accepted
//! webhook URL names no internal address, …): a panic is what the fuzzer
//! reports as a crash. Nothing here does I/O or keeps state that grows; the
//! one shared value is a small fixed directory built once (`fixture`).

use crate::native::cursor::{self, Cursor, CursorScope, Direction, LogPosition, QueryDigest};
use crate::native::params::{self as native_params, Query};
use crate::native::review::ReviewPosition;
use crate::scim::schema::Resource;
use crate::scim::{compile, filter, input, patch, resource, search};
use crate::zulip::params::Params;
use cohort_core::command::{self, CreateGroup, CreateRealm, CreateUser, IdSource, ProvisionUser};
use cohort_core::{
    Actor, Command, Context, KeyHash, ProfileEmail, RealmId, Reply, Role, Snapshot, UserId,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The base URL SCIM documents are rendered with.
const BASE: &str = "https://cohort.example/scim/v2";

/// Longest error message accepted for an input of `n` bytes: messages may
/// quote the input (escaped), never grow beyond that.
fn message_bound(n: usize) -> usize {
    512 + 10 * n
}

// ---------------------------------------------------------------------------
// The fixed directory some parsers need (SCIM filters are compiled against
// one, PATCH is applied to a real group's and user's documents).

struct Counter(i64);

impl IdSource for Counter {
    fn next_id(&mut self) -> Option<i64> {
        self.0 += 1;
        Some(self.0)
    }
}

struct Fixture {
    snap: Arc<Snapshot>,
    group: cohort_core::GroupId,
    user: UserId,
}

fn person(email: &str, name: &str, role: Role) -> CreateUser {
    CreateUser {
        email: Some(email.into()),
        full_name: name.to_string(),
        role,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: KeyHash([7; 32]),
        can_create_users: role.is_admin(),
    }
}

fn build_fixture() -> Fixture {
    const T0: i64 = 1_700_000_000_000;
    let mut ids = Counter(0);
    let mut ctx = Context {
        now: T0,
        ids: &mut ids,
    };
    let (_, outcome) = command::create_realm(
        &CreateRealm {
            name: "Fuzz realm".into(),
            owner: Some(person("owner@example.com", "Olive Owner", Role::Owner)),
        },
        &mut ctx,
    )
    .expect("the fixture's realm is valid");
    let mut snap = outcome.seal(1);
    let mut run = |snap: &mut Snapshot, cmd: Command| -> Reply {
        let outcome = command::execute(snap, Actor::Operator, &cmd, &mut ctx)
            .expect("the fixture's commands are valid");
        let reply = outcome.reply.clone();
        *snap = outcome.seal(snap.version() + 1);
        reply
    };
    let Reply::User(ann) = run(
        &mut snap,
        Command::CreateUser(person("ann@example.com", "Ann Lee", Role::Member)),
    ) else {
        unreachable!("CreateUser answers a user")
    };
    let Reply::User(user) = run(
        &mut snap,
        Command::ProvisionUser(ProvisionUser {
            user_name: "jyoung@example.com".into(),
            display_name: Some("Jo Young".into()),
            given_name: Some("Jo".into()),
            family_name: Some("Young".into()),
            emails: vec![ProfileEmail {
                value: "jyoung@example.com".into(),
                kind: Some("work".into()),
                primary: Some(true),
            }],
            external_id: Some("00u1abcd".into()),
            active: true,
            api_key: KeyHash([9; 32]),
        }),
    ) else {
        unreachable!("ProvisionUser answers a user")
    };
    let Reply::Group(group) = run(
        &mut snap,
        Command::CreateGroup(CreateGroup {
            name: "Engineering".into(),
            description: "Builders".into(),
            members: vec![ann, user],
            subgroups: Vec::new(),
            settings: Vec::new(),
            key: None,
            avatar_url: None,
            external_id: Some("eng-1".into()),
        }),
    ) else {
        unreachable!("CreateGroup answers a group")
    };
    Fixture {
        snap: Arc::new(snap),
        group,
        user,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

/// Input as text, for parsers that only ever see `&str` (query strings and
/// JSON values are text by the time they reach them).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

// ---------------------------------------------------------------------------
// Zulip

/// `application/x-www-form-urlencoded` decoding (`form.rs`, every face's
/// query strings and Zulip's bodies).
pub fn zulip_form(data: &[u8]) {
    let ours = crate::form::decode(data);
    // The lossy decoder of the `url` crate splits and decodes the same way;
    // ours must agree with it whenever the result is UTF-8, and refuse only
    // when it is not.
    let lossy: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    match &ours {
        Ok(pairs) => {
            assert_eq!(pairs, &lossy, "form::decode disagrees with form_urlencoded");
            // Decoding never makes text longer.
            let out: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
            assert!(out <= data.len());
            // Encoding the pairs again decodes to the same pairs.
            let again: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let back = crate::form::decode(again.as_bytes()).expect("re-encoded form is UTF-8");
            assert_eq!(&back, pairs, "re-encoded form decodes differently");
        }
        Err(_) => assert!(
            lossy
                .iter()
                .any(|(n, v)| n.contains('\u{fffd}') || v.contains('\u{fffd}')),
            "form::decode refused a form that decodes to UTF-8"
        ),
    }
    // The same bytes as a Zulip body (form and JSON) and as a query string.
    let _ = Params::from_bytes("application/x-www-form-urlencoded", data, b"");
    let _ = Params::from_bytes("application/json", data, b"");
    let _ = Params::from_bytes("", b"", data);
}

/// Zulip parameters as the first byte says (JSON body, form body or query
/// string) from the rest.
fn zulip_params(data: &[u8]) -> Option<Params> {
    let (mode, rest) = data.split_first()?;
    match mode % 3 {
        0 => Params::from_bytes("application/json", rest, b""),
        1 => Params::from_bytes("application/x-www-form-urlencoded", rest, b""),
        _ => Params::from_bytes("", b"", rest),
    }
    .ok()
}

/// Zulip's typed, JSON-valued parameters (`zulip/params.rs`): every
/// accessor on every name sent.
pub fn zulip_json_params(data: &[u8]) {
    let Some(params) = zulip_params(data) else {
        return;
    };
    let names = params.names();
    for name in names.iter().take(64) {
        let raw_len = params.raw(name).map_or(0, str::len);
        let bound = message_bound(name.len() + raw_len);
        let check = |err: crate::zulip::error::ZulipError| {
            assert!(err.msg.len() <= bound, "error message too long");
        };
        let _ = params.json(name).map_err(check);
        let _ = params.bool(name).map_err(check);
        let _ = params.int(name).map_err(check);
        match params.int_list(name) {
            Ok(Some(list)) => assert!(list.len() <= raw_len),
            Ok(None) => {}
            Err(err) => check(err),
        }
        let _ = params.user_ids(name).map_err(check);
        let _ = params.group_ids(name).map_err(check);
        let _ = params.setting_value(name).map_err(check);
        let _ = params.setting_update(name).map_err(check);
    }
    if names.len() <= 64 {
        // Every name was read, so none is reported as ignored.
        assert_eq!(params.ignored(), Vec::<String>::new());
    }
}

/// `POST /register`'s and `GET /events`' parameters, and the SSE stream's
/// `Last-Event-ID`.
pub fn event_queue_params(data: &[u8]) {
    if let Some(params) = zulip_params(data) {
        if let Ok(registration) = crate::zulip::events::handlers::Registration::parse(&params) {
            let kinds = registration.wants.kinds.as_ref().map_or(0, Vec::len);
            assert!(kinds <= data.len());
        }
        if let Ok(poll) = crate::zulip::events::handlers::Poll::parse(&params) {
            assert!(poll.queue_id.len() <= data.len());
        }
    }
    if let Some(text) = text(data) {
        let realm = RealmId(7);
        if let Ok(id) = crate::native::stream::parse_event_id(realm, text) {
            let again = format!("{}-{}-{}", realm.0, id.version, id.index);
            let back = crate::native::stream::parse_event_id(realm, &again)
                .expect("a formatted event id parses");
            assert_eq!(back, id);
        }
    }
}

// ---------------------------------------------------------------------------
// IMKIT

/// IMKIT's `q` (`imkit/query.rs`), compiled and run over the fixture's users.
pub fn imkit_query(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    match crate::imkit::query::compile(text) {
        Ok(filter) => {
            assert!(text.len() <= cohort_core::validate::MAX_QUERY_BYTES);
            let snap = &fixture().snap;
            for user in snap.users() {
                let _ = filter.matches(snap, &**user);
            }
        }
        Err(crate::imkit::query::QueryError(detail)) => {
            assert!(detail.len() <= message_bound(text.len()));
        }
    }
}

// ---------------------------------------------------------------------------
// SCIM

/// Renders a filter so that it parses back to the same tree: parentheses
/// only where precedence needs them, so the text nests no deeper than the
/// original did.
fn render_filter(expr: &filter::Expr, out: &mut String) {
    use filter::Expr;
    let group = |e: &Expr, out: &mut String| {
        out.push('(');
        render_filter(e, out);
        out.push(')');
    };
    match expr {
        Expr::Present(path) => out.push_str(&format!("{path} pr")),
        Expr::Compare(path, op, lit) => {
            out.push_str(&format!("{path} {} {}", op.as_str(), render_literal(lit)))
        }
        Expr::And(a, b) => {
            // `and` binds tighter than `or` and associates to the left.
            match **a {
                Expr::Or(..) => group(a, out),
                _ => render_filter(a, out),
            }
            out.push_str(" and ");
            match **b {
                Expr::Or(..) | Expr::And(..) => group(b, out),
                _ => render_filter(b, out),
            }
        }
        Expr::Or(a, b) => {
            render_filter(a, out);
            out.push_str(" or ");
            match **b {
                Expr::Or(..) => group(b, out),
                _ => render_filter(b, out),
            }
        }
        Expr::Not(inner) => {
            out.push_str("not ");
            group(inner, out);
        }
        Expr::ValuePath { attr, filter, then } => {
            out.push_str(&format!("{attr}["));
            render_filter(filter, out);
            out.push(']');
            if let Some(then) = then {
                out.push_str(&format!(".{} {}", then.sub, render_test(&then.test)));
            }
        }
    }
}

fn render_test(test: &filter::Test) -> String {
    match test {
        filter::Test::Present => "pr".into(),
        filter::Test::Compare(op, lit) => format!("{} {}", op.as_str(), render_literal(lit)),
    }
}

fn render_literal(lit: &filter::Literal) -> String {
    match lit {
        filter::Literal::Str(s) => Value::String(s.clone()).to_string(),
        filter::Literal::Num(n) => n.to_string(),
        filter::Literal::Bool(b) => b.to_string(),
        filter::Literal::Null => "null".into(),
    }
}

fn render_path(path: &filter::PatchPath) -> String {
    let mut out = path.attr.to_string();
    if let Some(f) = &path.filter {
        out.push('[');
        render_filter(f, &mut out);
        out.push(']');
    }
    if let Some(sub) = &path.sub {
        out.push('.');
        out.push_str(sub);
    }
    out
}

/// SCIM filters, PATCH paths and attribute lists (`scim/filter/`), and a
/// `GET /Users` and `/Groups` with the text as `filter`, run against the
/// fixture (compiled, matched, sorted, rendered).
pub fn scim_filter(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let fits = |s: &str| s.len() <= filter::MAX_TEXT_LEN;
    if let Ok(expr) = filter::parse_filter(text) {
        let mut again = String::new();
        render_filter(&expr, &mut again);
        if fits(&again) {
            assert_eq!(
                filter::parse_filter(&again).as_ref(),
                Ok(&expr),
                "re-rendered filter {again:?} parses differently"
            );
        }
    }
    if let Ok(path) = filter::parse_path(text) {
        let again = render_path(&path);
        if fits(&again) {
            assert_eq!(
                filter::parse_path(&again).as_ref(),
                Ok(&path),
                "re-rendered path {again:?} parses differently"
            );
        }
    }
    if let Ok(list) = filter::parse_attribute_list(text) {
        let again = list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        if fits(&again) {
            assert_eq!(filter::parse_attribute_list(&again).as_ref(), Ok(&list));
        }
    }
    let snap = &fixture().snap;
    let params = HashMap::from([
        ("filter".to_string(), text.to_string()),
        ("sortBy".to_string(), "userName".to_string()),
    ]);
    if let Ok(query) = search::ListQuery::from_params(Resource::User, &params) {
        if let Ok(page) = search::users(snap, BASE, &query) {
            let total = page["totalResults"].as_u64().unwrap_or(u64::MAX);
            assert!(total <= snap.users().count() as u64);
        }
    }
    // Groups as `GET /Groups` filters them (its pages go through the
    // server's caches, which need a running server).
    if let Ok(expr) = filter::parse_filter(text) {
        if let Ok(compiled) = compile::groups(snap, &expr) {
            for group in snap.groups() {
                let _ = compiled.matches(snap, &**group);
            }
        }
    }
}

/// A SCIM PATCH body (`scim/patch/`) parsed, applied to the fixture's group
/// and user documents, and read back as the PUT body the face turns into a
/// command.
pub fn scim_patch(data: &[u8]) {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = patch::parse(&body) else {
        return;
    };
    let fx = fixture();
    let snap = &fx.snap;
    if let Some(group) = snap.group(fx.group) {
        let before = resource::group_doc(group, snap, BASE, true);
        let mut after = before.clone();
        if patch::apply(&mut after, Resource::Group, &ops).is_ok() {
            assert!(ops.len() <= patch::MAX_OPERATIONS);
            let _ = input::group(snap, &after);
        }
    }
    if let Some(user) = snap.user(fx.user) {
        let before = resource::user_doc(user, snap, BASE, true);
        let mut after = before.clone();
        if patch::apply(&mut after, Resource::User, &ops).is_ok() {
            assert!(ops.len() <= patch::MAX_OPERATIONS);
            let _ = input::user(&after);
        }
    }
}

// ---------------------------------------------------------------------------
// The native API

fn scope() -> CursorScope {
    CursorScope {
        realm: RealmId(7),
        query: QueryDigest::new("/audit", [("since", "2024-01-01T00:00:00Z")]),
    }
}

fn roundtrip<P: cursor::Position + PartialEq + std::fmt::Debug>(text: &str, scope: &CursorScope) {
    if let Ok(found) = Cursor::<P>::decode(text, scope) {
        assert_eq!(
            found.encode(scope),
            text,
            "a decoded cursor re-encodes differently"
        );
        let again = Cursor::<P>::decode(&found.encode(scope), scope).expect("re-encoded");
        assert_eq!(again, found);
    }
}

/// Audit paging cursors (`native/cursor.rs`), for both positions the API
/// pages by. The first byte chooses: cursor text as a client sends it, or
/// (so the fuzzer gets past the checksum) raw cursor bytes sealed with a
/// valid checksum.
pub fn audit_cursor(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let scope = scope();
    let text = if mode % 2 == 0 {
        match text(rest) {
            Some(text) => text.to_string(),
            None => return,
        }
    } else {
        // The scope's header, so realm and digest checks can pass.
        let mut body = rest.to_vec();
        if mode & 2 != 0 {
            let mut head = vec![1u8, mode >> 7];
            head.extend_from_slice(&scope.realm.0.to_be_bytes());
            head.extend_from_slice(&scope.query.bytes());
            head.extend_from_slice(rest);
            body = head;
        }
        cursor::seal(&body)
    };
    roundtrip::<LogPosition>(&text, &scope);
    roundtrip::<ReviewPosition>(&text, &scope);
    // A cursor made for any position is read back as that position.
    if let Some(chunk) = rest.first_chunk::<12>() {
        let position = LogPosition {
            version: u64::from_be_bytes(chunk[..8].try_into().unwrap_or_default()),
            index: u32::from_be_bytes(chunk[8..].try_into().unwrap_or_default()),
        };
        let direction = if mode & 1 == 0 {
            Direction::Forward
        } else {
            Direction::Backward
        };
        let made = Cursor::new(position, direction).encode(&scope);
        assert_eq!(
            Cursor::<LogPosition>::decode(&made, &scope).ok(),
            Some(Cursor::new(position, direction))
        );
    }
}

/// The native API's query strings (`native/params.rs`): strict parsing,
/// timestamps, `limit`, cursors, and the next page's URL.
pub fn native_query(data: &[u8]) {
    let Some(raw) = text(data) else {
        return;
    };
    const ALLOWED: &[&str] = &[
        "since", "until", "as_of", "limit", "cursor", "user", "group",
    ];
    let Ok(query) = Query::parse(Some(raw), ALLOWED) else {
        return;
    };
    for name in ["since", "until", "as_of"] {
        if let Ok(Some(millis)) = query.timestamp(name) {
            assert!((0..=native_params::LATEST).contains(&millis));
            let shown = native_params::format_timestamp(millis);
            let back = native_params::parse_timestamp(name, &shown).expect("formatted parses");
            assert_eq!(back, millis, "{shown} is not {millis}");
        }
    }
    if let Ok(limit) = query.limit() {
        assert!((1..=native_params::MAX_LIMIT).contains(&limit));
    }
    let scope = query.cursor_scope("/audit", RealmId(7));
    let _ = query.cursor::<LogPosition>(&scope);
    // The next page's URL carries the same query (and the new cursor).
    let next = native_params::next_url("audit", &query, "abc-_");
    let (_, query_string) = next.split_once('?').expect("next_url has a query");
    let decoded = crate::form::decode(query_string.as_bytes()).expect("next_url is UTF-8");
    let mut expected: Vec<(&str, &str)> = query.pairs().filter(|(n, _)| *n != "cursor").collect();
    expected.push(("cursor", "abc-_"));
    let got: Vec<(&str, &str)> = decoded
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, expected, "next_url changes the query");
}

// ---------------------------------------------------------------------------
// Webhooks

/// Webhook endpoint URLs (`webhooks/guard.rs`): what is refused when saved,
/// checked against the guard's own address rules.
pub fn webhook_url(data: &[u8]) {
    use crate::webhooks::guard;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    // An IPv4 address is internal exactly when its IPv6-mapped form is.
    if let Some(octets) = data.first_chunk::<4>() {
        let v4 = Ipv4Addr::from(*octets);
        assert_eq!(
            guard::is_internal(IpAddr::V4(v4)),
            guard::is_internal(IpAddr::V6(v4.to_ipv6_mapped()))
        );
    }
    if let Some(octets) = data.first_chunk::<16>() {
        let _ = guard::is_internal(IpAddr::V6(Ipv6Addr::from(*octets)));
    }
    let Some(text) = text(data) else {
        return;
    };
    let strict = guard::refusal(text, false);
    let open = guard::refusal(text, true);
    let parsed = url::Url::parse(text);
    // With private addresses allowed, only URLs that do not parse are refused.
    assert_eq!(open.is_none(), parsed.is_ok());
    if strict.is_none() {
        let url = parsed.expect("an accepted URL parses");
        match url.host() {
            Some(url::Host::Ipv4(ip)) => assert!(!guard::is_internal(IpAddr::V4(ip)), "{url}"),
            Some(url::Host::Ipv6(ip)) => assert!(!guard::is_internal(IpAddr::V6(ip)), "{url}"),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                assert!(
                    name != "localhost" && !name.ends_with(".localhost"),
                    "{url}"
                );
            }
            None => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The admin page

/// The admin page's posted forms (`ui/form.rs`) and the query strings of its
/// lists and histories (`ui/groups.rs`, `ui/group.rs`, `ui/history.rs`), with
/// their `{id}~{value}` page positions (`ui/index.rs`).
pub fn ui_form(data: &[u8]) {
    let posted = crate::ui::form::Posted::parse(data);
    for name in ["members", "subgroups", "users", "groups"] {
        if let Ok(ids) = posted.ids(name) {
            assert!(ids.len() <= posted.all(name).count());
        }
    }
    let _ = posted.get("csrf");
    let Some(raw) = text(data) else {
        return;
    };
    let _ = crate::ui::groups::View::parse(Some(raw));
    let _ = crate::ui::group::View::parse(Some(raw));
    let _ = crate::ui::history::parse(Some(raw));
    if let Some((id, value)) = crate::ui::index::cursor::parse(raw) {
        let again = crate::ui::index::cursor::make(id, value);
        assert_eq!(crate::ui::index::cursor::parse(&again), Some((id, value)));
    }
}

/// A target's name (its directory under `fuzz/corpus/`) and function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("zulip_form", zulip_form),
    ("zulip_json_params", zulip_json_params),
    ("event_queue_params", event_queue_params),
    ("imkit_query", imkit_query),
    ("scim_filter", scim_filter),
    ("scim_patch", scim_patch),
    ("audit_cursor", audit_cursor),
    ("native_query", native_query),
    ("webhook_url", webhook_url),
    ("ui_form", ui_form),
];

#[cfg(test)]
mod tests {
    use super::TARGETS;
    use std::path::PathBuf;

    /// Replays every committed corpus file through its target, without
    /// sanitizers, so the ordinary test suite keeps every input that once
    /// mattered (and every crash found, once fixed) passing.
    #[test]
    fn corpus_replays() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()));
            let mut replayed = 0;
            for entry in entries {
                let path = entry.expect("corpus entry").path();
                if path.is_file() {
                    let data = std::fs::read(&path).expect("corpus file reads");
                    target(&data);
                    replayed += 1;
                }
            }
            assert!(replayed > 0, "corpus directory {} is empty", dir.display());
        }
    }

    /// Every fuzz target in `fuzz/fuzz_targets/` is replayed here, and
    /// every target here has its fuzz target.
    #[test]
    fn every_fuzz_target_is_listed() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .expect("fuzz/fuzz_targets exists")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                Some(name.strip_suffix(".rs")?.to_string())
            })
            .collect();
        found.sort();
        let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn fixture_is_built() {
        let fx = super::fixture();
        assert!(fx.snap.group(fx.group).is_some());
        assert!(fx.snap.user(fx.user).is_some());
    }
}
