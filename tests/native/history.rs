//! The audit trail and time travel over HTTP: every face's writes carry
//! their face, actor and request id; membership as of a moment with `via`
//! paths; access reviews with their causes; exports that parse back to the
//! as-of API; paging, and every bad input the issue names.

use super::*;
use serde_json::{json as j, Value};
use std::time::Duration;

/// `GET {path}?{params}` (the path under `/cohort/v1`), as (status, body).
async fn get(n: &Native, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let mut url = reqwest::Url::parse("http://x/").expect("url");
    url.query_pairs_mut().extend_pairs(params);
    let reply = n
        .get(&format!("{path}?{}", url.query().unwrap_or("")))
        .await;
    (reply.status, reply.body)
}

async fn ok(n: &Native, path: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = get(n, path, params).await;
    assert_eq!(status, 200, "GET {path} {params:?}: {body}");
    body
}

/// A `next` link (an absolute path) or any path with its query.
async fn follow(n: &Native, link: &str) -> Reply {
    n.get(
        link.strip_prefix("/cohort/v1")
            .expect("a link under /cohort/v1"),
    )
    .await
}

/// Every event of a query, following `next` links with pages of `page`.
async fn all_events(n: &Native, params: &[(&str, &str)], page: usize) -> Vec<Value> {
    let limit = page.to_string();
    let mut params: Vec<(&str, &str)> = params.to_vec();
    params.push(("limit", &limit));
    let mut body = ok(n, "/audit", &params).await;
    let mut events = Vec::new();
    loop {
        let page_events = body["events"].as_array().expect("events").clone();
        assert!(page_events.len() <= page);
        events.extend(page_events);
        let Some(next) = body["next"].as_str() else {
            break;
        };
        body = follow(n, next).await.ok(200).clone();
    }
    events
}

#[track_caller]
pub fn assert_code(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
}

/// A moment between two commits: the clock moves on before and after.
pub(super) async fn moment() -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(30)).await;
    time_text(now)
}

fn time_text(ms: i64) -> String {
    // RFC 3339 by hand (UTC, milliseconds) to avoid a date crate in tests.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn member_ids(body: &Value) -> Vec<i64> {
    body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn every_face_is_recorded_with_its_actor_request_id_and_client() {
    let realm = Realm::new();
    let zulip = realm.api(&realm.admin);
    let request = zulip
        .http
        .post(format!("{}/api/v1/user_groups/create", realm.cohort.base))
        .header("x-request-id", "audit-test-zulip-1")
        .form(&[
            ("name", "from zulip".to_string()),
            ("description", "z".to_string()),
            ("members", format!("[{}]", realm.member.id)),
        ]);
    assert_success(&zulip.send(request).await);
    let imkit = reqwest::Client::new()
        .post(format!("{}/admin/groups", realm.cohort.base))
        .header("IM-API-KEY", &realm.platform_key)
        .header("x-request-id", "audit-test-imkit-1")
        .json(&j!({"_id": "from-imkit", "nickname": "from imkit"}))
        .send()
        .await
        .expect("imkit");
    assert_eq!(imkit.status(), 200);
    let scim = reqwest::Client::new()
        .post(format!("{}/scim/v2/Groups", realm.cohort.base))
        .bearer_auth(&realm.scim_token)
        .header("content-type", "application/scim+json")
        .body(j!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "from scim"}).to_string())
        .send()
        .await
        .expect("scim");
    assert_eq!(scim.status(), 201);
    let cli = realm.cohort.cli(&[
        "user",
        "add",
        "--email",
        "cli@test.example",
        "--name",
        "Cli Made",
        "--role",
        "member",
    ]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let events = all_events(&native, &[("type", "group.created")], 1000).await;
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["group"]["name"] == name)
            .unwrap_or_else(|| panic!("no group.created for {name} in {events:?}"))
            .clone()
    };
    let z = find("from zulip");
    assert_eq!(z["actor"]["kind"], "user");
    assert_eq!(z["actor"]["id"], realm.admin.id);
    assert_eq!(z["actor"]["email"], realm.admin.email.as_str());
    assert_eq!(z["actor"]["name"], "Ada Admin");
    assert_eq!(z["actor"]["face"], "zulip");
    assert_eq!(z["request_id"], "audit-test-zulip-1");
    assert_eq!(z["client"], "127.0.0.1");
    let i = find("from imkit");
    assert_eq!(i["actor"]["kind"], "platform");
    assert_eq!(i["actor"]["face"], "imkit");
    assert_eq!(i["request_id"], "audit-test-imkit-1");
    let s = find("from scim");
    assert_eq!(s["actor"]["kind"], "token");
    assert_eq!(s["actor"]["face"], "scim");
    assert!(
        s["actor"]["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{s}"
    );
    assert!(
        s["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "a generated request id: {s}"
    );
    // The Zulip create with a member is also a membership event, with names.
    let added = all_events(
        &native,
        &[
            ("type", "group.member_added"),
            ("user", &realm.member.id.to_string()),
        ],
        1000,
    )
    .await;
    assert!(
        added.iter().any(|e| e["group"]["name"] == "from zulip"
            && e["users"][0]["email"] == realm.member.email.as_str()
            && e["users"][0]["full_name"] == "Mia Member"),
        "{added:?}"
    );
    // The server learns of the CLI's write by polling the database.
    let mut cli_event = None;
    for _ in 0..500 {
        let made = all_events(&native, &[("type", "user.created"), ("face", "cli")], 1000).await;
        cli_event = made
            .into_iter()
            .find(|e| e["users"][0]["email"] == "cli@test.example");
        if cli_event.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cli_event = cli_event.expect("the CLI's user");
    assert_eq!(cli_event["actor"]["kind"], "operator");
    assert_eq!(cli_event["request_id"], Value::Null);
    // Filters by face, by actor.
    let by_admin = all_events(
        &native,
        &[("actor", &format!("user:{}", realm.admin.id))],
        1000,
    )
    .await;
    assert!(!by_admin.is_empty() && by_admin.iter().all(|e| e["actor"]["id"] == realm.admin.id));
    let by_imkit = all_events(&native, &[("face", "imkit")], 1000).await;
    assert!(!by_imkit.is_empty() && by_imkit.iter().all(|e| e["actor"]["face"] == "imkit"));
}

#[tokio::test]
async fn membership_as_of_any_moment_with_names_as_they_were() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.admin);
    let zulip = realm.api(&realm.owner);
    let before_all = "1999-01-01T00:00:00Z";
    let inner = realm
        .create_group(&realm.owner, "inner", &[realm.member.id])
        .await;
    let outer = realm
        .create_group(&realm.owner, "outer", &[realm.member2.id])
        .await;
    let t0 = moment().await;
    assert_success(
        &zulip
            .post(
                &format!("/user_groups/{outer}/subgroups"),
                &[("add", format!("[{inner}]"))],
            )
            .await,
    );
    let t1 = moment().await;
    assert_success(
        &zulip
            .patch(
                &format!("/user_groups/{inner}"),
                &[("name", "inner renamed".into())],
            )
            .await,
    );
    assert_success(
        &zulip
            .post(
                &format!("/user_groups/{inner}/members"),
                &[("delete", format!("[{}]", realm.member.id))],
            )
            .await,
    );
    let t2 = moment().await;

    let at = |t: &str| vec![("as_of", t.to_string())];
    let members = |t: &str, transitive: &str| {
        let mut p = at(t);
        p.push(("transitive", transitive.to_string()));
        p
    };
    let get = |p: Vec<(&'static str, String)>| {
        let native = &native;
        async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ok(native, &format!("/groups/{outer}/members"), &p).await
        }
    };
    // Before the subgroup edge: only the direct member.
    let b = get(members(&t0, "true")).await;
    assert_eq!(member_ids(&b), vec![realm.member2.id]);
    // With it: Mia through "inner", named as it was then.
    let b = get(members(&t1, "true")).await;
    assert_eq!(b["existed"], true);
    let mut ids = member_ids(&b);
    ids.sort();
    let mut want = vec![realm.member.id, realm.member2.id];
    want.sort();
    assert_eq!(ids, want, "{b}");
    let mia = b["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == realm.member.id)
        .unwrap();
    assert_eq!(mia["direct"], false);
    assert_eq!(mia["via"], j!([{"id": inner, "name": "inner"}]));
    assert_eq!(
        get(members(&t1, "false")).await["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // After her removal she is gone; the subgroup's new name shows.
    let b = get(members(&t2, "true")).await;
    assert_eq!(member_ids(&b), vec![realm.member2.id]);
    // Before the realm existed: nothing, and the group did not exist.
    let b = get(members(before_all, "true")).await;
    assert_eq!(b["existed"], false);
    assert_eq!(b["version"], 0);
    assert_eq!(member_ids(&b), Vec::<i64>::new());
    // "Why does Mia have access?" at t1: outer via inner, inner directly.
    let p = at(&t1);
    let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let why = ok(&native, &format!("/users/{}/groups", realm.member.id), &p).await;
    let groups = why["groups"].as_array().unwrap();
    let o = groups
        .iter()
        .find(|g| g["group"]["id"] == outer)
        .expect("outer");
    assert_eq!(o["via"], j!([{"id": inner, "name": "inner"}]));
    let i = groups
        .iter()
        .find(|g| g["group"]["id"] == inner)
        .expect("inner");
    assert_eq!(i["direct"], true);
    // The rename's before and after.
    let renames = all_events(
        &native,
        &[("type", "group.renamed"), ("group", &inner.to_string())],
        10,
    )
    .await;
    assert_eq!(renames.len(), 1);
    assert_eq!(renames[0]["before"], "inner");
    assert_eq!(renames[0]["after"], "inner renamed");
    assert_eq!(renames[0]["field"], "name");
    // The access review between t0 and t2 for outer: Mia came and went, so
    // nothing; between t0 and t1: she gained, through the subgroup edge.
    let review = ok(
        &native,
        "/access-review",
        &[("from", &t0), ("to", &t1), ("group", &outer.to_string())],
    )
    .await;
    let g = &review["groups"][0];
    assert_eq!(g["group"]["id"], outer, "{review}");
    assert_eq!(g["gained"][0]["user"], realm.member.id);
    let named = &review["users"][0];
    assert_eq!(named["id"], realm.member.id, "{review}");
    assert!(
        !named["full_name"].as_str().unwrap_or("").is_empty(),
        "{named}"
    );
    assert_eq!(g["gained"][0]["via"], j!([inner]));
    assert_eq!(review["subgroups"], j!([{"id": inner, "name": "inner"}]));
    let cause = event_named(&review, &g["gained"][0]["because"][0]);
    assert_eq!(cause["actor"]["id"], realm.owner.id);
    assert_eq!(cause["type"], "group.subgroup_added", "{cause}");
    assert_eq!(review["next"], Value::Null);
    let review = ok(&native, "/access-review", &[("from", &t1), ("to", &t2)]).await;
    let lost: Vec<&Value> = review["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["lost"].as_array().is_some_and(|l| !l.is_empty()))
        .collect();
    assert_eq!(lost.len(), 2, "Mia lost inner and outer: {review}");
    for g in lost {
        assert_eq!(g["lost"][0]["user"], realm.member.id);
        assert_eq!(
            event_named(&review, &g["lost"][0]["because"][0])["type"],
            "group.member_removed"
        );
    }
}

/// The event of a review page that an entry's `because` names.
fn event_named<'a>(page: &'a Value, id: &Value) -> &'a Value {
    page["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["id"] == *id))
        .unwrap_or_else(|| panic!("no event {id} on the page: {page}"))
}

#[tokio::test]
async fn access_reviews_page_by_group() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let t0 = moment().await;
    let mut made = Vec::new();
    for name in ["one", "two", "three", "four", "five"] {
        made.push(
            realm
                .create_group(&realm.owner, name, &[realm.member.id])
                .await,
        );
    }
    let t1 = moment().await;
    let whole = ok(&native, "/access-review", &[("from", &t0), ("to", &t1)]).await;
    let reviewed: Vec<i64> = whole["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"]["id"].as_i64().unwrap())
        .collect();
    for id in &made {
        assert!(reviewed.contains(id), "{id} missing from {whole}");
    }
    // Two at a time, following `next`: the same groups, each once, and
    // every page names the events its entries refer to.
    let mut paged = Vec::new();
    let mut url = format!("/access-review?from={t0}&to={t1}&limit=2");
    let mut pages = 0;
    loop {
        let reply = native.get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let page = reply.body.clone();
        pages += 1;
        for g in page["groups"].as_array().unwrap() {
            for e in g["gained"].as_array().unwrap() {
                for id in e["because"].as_array().unwrap() {
                    event_named(&page, id);
                }
            }
            paged.push(g.clone());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert!(page["groups"].as_array().unwrap().len() == 2);
                let link = reply.header("link").expect("a Link header");
                assert!(link.contains("rel=\"next\""), "{link}");
                url = next.trim_start_matches("/cohort/v1").to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, reviewed.len().div_ceil(2));
    assert_eq!(Value::from(paged), whole["groups"]);
    // A cursor is bound to its query.
    let first = ok(
        &native,
        "/access-review",
        &[("from", &t0), ("to", &t1), ("limit", "1")],
    )
    .await;
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    assert_code(
        &get(
            &native,
            "/access-review",
            &[("from", &t0), ("cursor", cursor)],
        )
        .await,
        400,
        "invalid_cursor",
    );
    let mut tampered = cursor.to_string();
    tampered.replace_range(10..11, if &cursor[10..11] == "A" { "B" } else { "A" });
    assert_code(
        &get(
            &native,
            "/access-review",
            &[("from", &t0), ("to", &t1), ("cursor", &tampered)],
        )
        .await,
        400,
        "invalid_cursor",
    );
    assert_code(
        &get(
            &native,
            "/access-review",
            &[("from", &t0), ("to", &t1), ("limit", "0")],
        )
        .await,
        400,
        "invalid_parameter",
    );
}

#[tokio::test]
async fn exports_parse_back_to_the_as_of_api() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let a = realm
        .create_group(
            &realm.owner,
            "alpha, \"quoted\"",
            &[realm.member.id, realm.admin.id],
        )
        .await;
    let b = realm
        .create_group(&realm.owner, "=formula", &[realm.member2.id])
        .await;
    let zulip = realm.api(&realm.owner);
    assert_success(
        &zulip
            .post(
                &format!("/user_groups/{a}/subgroups"),
                &[("add", format!("[{b}]"))],
            )
            .await,
    );
    let t = moment().await;
    realm
        .create_group(&realm.owner, "later", &[realm.member.id])
        .await;

    let reply = native.get(&format!("/export?format=jsonl&as_of={t}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/jsonl"));
    let jsonl = reply.body.as_str().expect("lines of JSON").to_string();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["type"], "export");
    let groups: Vec<&Value> = lines.iter().filter(|l| l["type"] == "group").collect();
    assert!(
        groups.iter().all(|g| g["name"] != "later"),
        "a group made after the moment"
    );
    for g in &groups {
        let id = g["id"].as_i64().unwrap();
        let api = ok(
            &native,
            &format!("/groups/{id}/members"),
            &[("as_of", &t), ("transitive", "true")],
        )
        .await;
        let from_api: Vec<(i64, Vec<i64>)> = api["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_i64().unwrap(),
                    m["via"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v["id"].as_i64().unwrap())
                        .collect(),
                )
            })
            .collect();
        let from_export: Vec<(i64, Vec<i64>)> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_i64().unwrap(),
                    m["via"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(from_export, from_api, "group {id}");
    }
    let reply = native.get(&format!("/export?format=csv&as_of={t}")).await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-disposition")
        .unwrap()
        .contains(".csv"));
    let csv = reply.body.as_str().expect("CSV text").to_string();
    assert!(csv.starts_with("group_id,group_name,"));
    assert!(csv.contains("\"alpha, \"\"quoted\"\"\""), "{csv}");
    assert!(csv.contains("\"'=formula\""), "a formula stays text: {csv}");
    // Rows: one per effective membership (or per empty group).
    let rows = csv.lines().count() - 1;
    let expected: usize = groups
        .iter()
        .map(|g| g["members"].as_array().unwrap().len().max(1))
        .sum();
    assert_eq!(rows, expected);
    // The CLI writes the same bytes.
    let out = realm.cohort.path("export.csv");
    let cli = realm.cohort.cli(&[
        "export",
        "--as-of",
        &t,
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);
}

#[tokio::test]
async fn pages_follow_next_links_and_cursors_are_bound() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    for i in 0..5 {
        realm
            .create_group(&realm.owner, &format!("g{i}"), &[realm.member.id])
            .await;
    }
    let whole = all_events(&native, &[], 1000).await;
    let paged = all_events(&native, &[], 3).await;
    assert_eq!(paged, whole);
    let ids: Vec<&str> = whole.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    let mut newest = all_events(&native, &[("order", "newest")], 4).await;
    newest.reverse();
    assert_eq!(newest, whole);
    // A cursor belongs to its query and realm; an edited one is refused.
    let first = ok(&native, "/audit", &[("limit", "2")]).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    assert_code(
        &get(
            &native,
            "/audit",
            &[("cursor", &cursor), ("type", "group.created")],
        )
        .await,
        400,
        "invalid_cursor",
    );
    assert_code(
        &get(
            &native,
            "/audit",
            &[("cursor", &cursor), ("order", "newest")],
        )
        .await,
        400,
        "invalid_cursor",
    );
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_code(
        &get(&native, "/audit", &[("cursor", &tampered)]).await,
        400,
        "invalid_cursor",
    );
    assert_code(
        &get(&native, "/audit", &[("cursor", "not-a-cursor")]).await,
        400,
        "invalid_cursor",
    );
    // Another realm's admin cannot use it, nor see this realm's ids.
    let other = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "boss@other.example",
        "--json",
    ]);
    let boss = Account {
        id: 0,
        email: other["email"].as_str().expect("email").to_string(),
        key: other["api_key"].as_str().expect("owner key").to_string(),
    };
    let theirs = Native::basic(&realm.cohort.base, &boss);
    // The server learns of the new realm by polling the database.
    for _ in 0..400 {
        if theirs.get("/realm").await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_code(
        &get(&theirs, "/audit", &[("cursor", &cursor)]).await,
        400,
        "invalid_cursor",
    );
    let group = whole
        .iter()
        .find_map(|e| e["group"]["id"].as_i64())
        .unwrap();
    assert_code(
        &get(&theirs, &format!("/groups/{group}/members"), &[]).await,
        404,
        "not_found",
    );
    assert_code(
        &get(&theirs, "/audit", &[("group", &group.to_string())]).await,
        404,
        "not_found",
    );
    assert_code(
        &get(&theirs, &format!("/users/{}/groups", realm.member.id), &[]).await,
        404,
        "not_found",
    );
    let mine = all_events(&theirs, &[], 1000).await;
    assert!(
        mine.iter()
            .all(|e| !ids.contains(&e["id"].as_str().unwrap())),
        "no event of the first realm"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let g = realm
        .create_group(&realm.owner, "g", &[realm.member.id])
        .await;
    let version = realm.cohort.realms()[0]["version"].clone();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let bad: &[Case] = &[
        ("/audit", &[("since", "yesterday")], "invalid_parameter"),
        (
            "/audit",
            &[("since", "2026-13-01T00:00:00Z")],
            "invalid_parameter",
        ),
        (
            "/audit",
            &[("until", "0000-01-01T00:00:00Z")],
            "invalid_parameter",
        ),
        (
            "/audit",
            &[
                ("since", "2026-03-02T00:00:00Z"),
                ("until", "2026-03-01T00:00:00Z"),
            ],
            "invalid_parameter",
        ),
        ("/audit", &[("limit", "0")], "invalid_parameter"),
        ("/audit", &[("limit", "1001")], "invalid_parameter"),
        ("/audit", &[("limit", "ten")], "invalid_parameter"),
        ("/audit", &[("type", "group.exploded")], "invalid_parameter"),
        ("/audit", &[("face", "telnet")], "invalid_parameter"),
        ("/audit", &[("order", "sideways")], "invalid_parameter"),
        ("/audit", &[("actor", "somebody")], "invalid_parameter"),
        ("/audit", &[("grup", "1")], "invalid_parameter"),
        ("/audit", &[("group", "999999")], "not_found"),
        ("/audit", &[("user", "999999")], "not_found"),
        ("/audit", &[("actor", "token:nope")], "not_found"),
        ("/groups/999999/members", &[], "not_found"),
        ("/groups/abc/members", &[], "not_found"),
        ("/users/999999/groups", &[], "not_found"),
        ("/access-review", &[], "invalid_parameter"),
        (
            "/access-review",
            &[
                ("from", "2026-03-02T00:00:00Z"),
                ("to", "2026-03-01T00:00:00Z"),
            ],
            "invalid_parameter",
        ),
        ("/export", &[("format", "xlsx")], "invalid_parameter"),
        ("/export", &[("as_of", "soon")], "invalid_parameter"),
    ];
    for (path, params, code) in bad {
        let got = get(&native, path, params).await;
        let status = if *code == "not_found" { 404 } else { 400 };
        assert_code(&got, status, code);
    }
    let path = format!("/groups/{g}/members");
    for params in [
        [("transitive", "maybe")],
        [("as_of", "2026-02-30T00:00:00Z")],
    ] {
        assert_code(
            &get(&native, &path, &params).await,
            400,
            "invalid_parameter",
        );
    }
    // Callers without the right: members, moderators, guests, bots, and
    // tokens without `audit:read`.
    for who in [&realm.member, &realm.moderator, &realm.guest, &realm.bot] {
        let n = Native::basic(&realm.cohort.base, who);
        for path in [
            "/audit",
            "/access-review?from=2026-01-01T00:00:00Z",
            "/export",
            "/groups/1/members",
        ] {
            let reply = n.get(path).await;
            assert_eq!(reply.status, 403, "{} on {path}: {}", who.email, reply.body);
        }
    }
    let scim_only = Native::bearer(&realm.cohort.base, &realm.scim_token);
    assert_eq!(scim_only.get("/audit").await.status, 403);
    // Nothing was written by any of it.
    assert_eq!(realm.cohort.realms()[0]["version"], version);
    let secret = token(&realm, "auditor", "audit:read").await;
    let auditor = Native::bearer(&realm.cohort.base, &secret);
    assert_eq!(auditor.get("/audit").await.status, 200);
}

#[tokio::test]
async fn the_cli_answers_like_the_api() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let inner = realm
        .create_group(&realm.owner, "inner", &[realm.member.id])
        .await;
    let outer = realm.create_group(&realm.owner, "outer", &[]).await;
    let zulip = realm.api(&realm.owner);
    let t0 = moment().await;
    assert_success(
        &zulip
            .post(
                &format!("/user_groups/{outer}/subgroups"),
                &[("add", format!("[{inner}]"))],
            )
            .await,
    );
    let t1 = moment().await;
    let api = all_events(&native, &[], 1000).await;
    let cli = realm.cohort.cli(&["audit", "--json"]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(cli.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, api);
    let members = realm.cohort.cli_json(&[
        "group",
        "members",
        "outer",
        "--as-of",
        &t1,
        "--transitive",
        "--json",
    ]);
    let from_api = ok(
        &native,
        &format!("/groups/{outer}/members"),
        &[("as_of", &t1), ("transitive", "true")],
    )
    .await;
    assert_eq!(members, from_api);
    let review = realm
        .cohort
        .cli_json(&["access-review", "--from", &t0, "--to", &t1, "--json"]);
    let from_api = ok(&native, "/access-review", &[("from", &t0), ("to", &t1)]).await;
    assert_eq!(review, from_api);
    let text = realm.cohort.cli(&[
        "audit",
        "--group",
        "outer",
        "--type",
        "group.subgroup_added",
    ]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("group.subgroup_added") && text.contains("\"inner\""),
        "{text}"
    );
}

#[tokio::test]
async fn pruning_keeps_later_answers_and_is_itself_audited() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let zulip = realm.api(&realm.owner);
    let team = realm
        .create_group(&realm.owner, "team", &[realm.member.id])
        .await;
    let early = ok(&native, "/audit", &[("limit", "2")]).await;
    let old_cursor = early["next_cursor"].as_str().expect("a cursor").to_string();
    let cut = moment().await;
    assert_success(
        &zulip
            .post(
                &format!("/user_groups/{team}/members"),
                &[("add", format!("[{}]", realm.member2.id))],
            )
            .await,
    );
    let later = moment().await;
    let members = ok(
        &native,
        &format!("/groups/{team}/members"),
        &[("as_of", &later)],
    )
    .await;
    let review = ok(&native, "/access-review", &[("from", &cut), ("to", &later)]).await;
    let kept: Vec<Value> = all_events(&native, &[("since", &cut)], 1000).await;

    // Refused: a moment to come.
    let future = realm
        .cohort
        .cli(&["log", "prune", "--before", "2999-01-01T00:00:00Z"]);
    assert!(!future.status.success());
    let pruned = realm
        .cohort
        .cli_json(&["log", "prune", "--before", &cut, "--json"]);
    assert!(pruned["commits_deleted"].as_u64().unwrap() > 0, "{pruned}");
    // The server learns of it from the log (the prune is a commit).
    let mut record = None;
    for _ in 0..500 {
        let events = all_events(&native, &[("type", "log.pruned")], 10).await;
        if let Some(e) = events.first() {
            record = Some(e.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let record = record.expect("a log.pruned event");
    assert_eq!(record["actor"]["kind"], "operator");
    assert_eq!(record["actor"]["face"], "cli");
    assert_eq!(record["after"], pruned["checkpoint_version"]);
    // Every answer about the cut or later is unchanged.
    assert_eq!(
        ok(
            &native,
            &format!("/groups/{team}/members"),
            &[("as_of", &later)]
        )
        .await,
        members
    );
    assert_eq!(
        ok(&native, "/access-review", &[("from", &cut), ("to", &later)]).await,
        review
    );
    let mut now_kept = all_events(&native, &[("since", &cut)], 1000).await;
    assert_eq!(
        now_kept.pop().map(|e| e["type"].clone()),
        Some(Value::from("log.pruned"))
    );
    assert_eq!(now_kept, kept);
    // What came before is gone, and says so.
    assert_code(
        &get(
            &native,
            &format!("/groups/{team}/members"),
            &[("as_of", "2000-01-01T00:00:00Z")],
        )
        .await,
        400,
        "invalid_parameter",
    );
    assert_code(
        &get(
            &native,
            "/access-review",
            &[("from", "2000-01-01T00:00:00Z")],
        )
        .await,
        400,
        "invalid_parameter",
    );
    assert_code(
        &get(
            &native,
            "/audit",
            &[("limit", "2"), ("cursor", &old_cursor)],
        )
        .await,
        400,
        "invalid_cursor",
    );
    // A pruned database is not copied by replaying its log.
    let copy = realm.cohort.cli(&[
        "copy",
        "--from",
        &realm.cohort.db,
        "--to",
        &format!("sqlite://{}", realm.cohort.path("copy.db").display()),
    ]);
    assert!(!copy.status.success());
    assert!(String::from_utf8_lossy(&copy.stderr).contains("pruned"));
}
