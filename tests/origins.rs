//! Every write lands in the change log with where it came from
//! (docs/ARCHITECTURE.md, "The change log"): the face, the actor, the
//! request id the caller saw in `x-request-id` (at most 128 bytes of it) and
//! the client's address; CLI writes name the CLI and no request. The log is
//! read straight from the database (`sqlite3` or `psql`), and a `cohort
//! copy` of it keeps every origin.

mod common;

use common::*;
use serde_json::json;

/// The log row of the commit a request with this id made:
/// `actor|face|request_id|client_addr`.
fn row_for_request(cohort: &Cohort, request_id: &str) -> String {
    cohort.sql(&format!(
        "SELECT actor || '|' || face || '|' || request_id || '|' || COALESCE(client_addr, '')
         FROM changes WHERE request_id = '{request_id}'"
    ))
}

/// `version|actor|face|request_id|client_addr` for every commit, in order.
const LOG: &str = "SELECT version || '|' || actor || '|' || COALESCE(face, '-') || '|' ||
        COALESCE(request_id, '-') || '|' || COALESCE(client_addr, '-')
     FROM changes ORDER BY realm_id, version";

fn response_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn each_face_records_its_origin() {
    let realm = Realm::new();
    let base = &realm.cohort.base;
    let http = reqwest::Client::new();
    let owner = &realm.owner;

    // Zulip, with the caller's request id.
    let response = http
        .post(format!("{base}/api/v1/user_groups/create"))
        .basic_auth(&owner.email, Some(&owner.key))
        .header("x-request-id", "zulip-origin-1")
        .form(&[
            ("name", "from zulip"),
            ("description", ""),
            ("members", "[]"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response_id(&response), "zulip-origin-1");
    assert_eq!(
        row_for_request(&realm.cohort, "zulip-origin-1"),
        format!(
            r#"{{"kind":"user","id":{}}}|zulip|zulip-origin-1|127.0.0.1"#,
            owner.id
        )
    );

    // Zulip, with an over-long request id: the caller gets it back whole,
    // the log keeps its first 128 bytes.
    let long = format!("long-{}", "x".repeat(300));
    let response = http
        .post(format!("{base}/api/v1/user_groups/create"))
        .basic_auth(&owner.email, Some(&owner.key))
        .header("x-request-id", &long)
        .form(&[("name", "long id"), ("description", ""), ("members", "[]")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response_id(&response), long);
    let kept = &long[..128];
    assert_eq!(
        row_for_request(&realm.cohort, kept),
        format!(
            r#"{{"kind":"user","id":{}}}|zulip|{kept}|127.0.0.1"#,
            owner.id
        )
    );

    // IMKIT, with no request id of its own: the one cohort made and sent
    // back is the one logged.
    let response = http
        .post(format!("{base}/admin/groups"))
        .header("IM-API-KEY", &realm.platform_key)
        .json(&json!({"_id": "from-imkit", "nickname": "From IMKIT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let id = response_id(&response);
    assert!(!id.is_empty());
    assert_eq!(
        row_for_request(&realm.cohort, &id),
        format!(r#"{{"kind":"platform"}}|imkit|{id}|127.0.0.1"#)
    );

    // SCIM, as the realm's token.
    let response = http
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(&realm.scim_token)
        .header("content-type", "application/scim+json")
        .header("x-request-id", "scim-origin-1")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "idp.user@idp.example",
                "name": {"givenName": "Idp", "familyName": "User"},
                "emails": [{"value": "idp.user@idp.example", "primary": true}],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let row = row_for_request(&realm.cohort, "scim-origin-1");
    assert!(
        row.starts_with(r#"{"kind":"token","id":"#)
            && row.ends_with("}|scim|scim-origin-1|127.0.0.1"),
        "{row}"
    );

    // A request that writes nothing leaves no row (a read with an id).
    let response = http
        .get(format!("{base}/api/v1/user_groups"))
        .basic_auth(&owner.email, Some(&owner.key))
        .header("x-request-id", "just-reading")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(row_for_request(&realm.cohort, "just-reading"), "");

    // The CLI, while the server runs: the operator, no request.
    realm
        .cohort
        .add_user("cli.user@test.example", "Cli User", "member", false);
    let log = realm.cohort.sql(LOG);
    let last = log.lines().last().unwrap();
    assert!(last.ends_with(r#"|{"kind":"operator"}|cli|-|-"#), "{last}");
    // Every commit names its face: the realm's creation and the users
    // `init` and the harness made are the CLI's too.
    assert!(!log.contains("|-|-|-"), "{log}");
    let first = log.lines().next().unwrap();
    assert_eq!(first, r#"1|{"kind":"operator"}|cli|-|-"#);

    // A copy keeps every origin.
    let copy = format!(
        "sqlite://{}",
        realm.cohort.path("copy.db").to_str().unwrap()
    );
    let out = realm
        .cohort
        .cli(&["copy", "--from", &realm.cohort.db, "--to", &copy]);
    assert!(
        out.status.success(),
        "copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sql(&copy, LOG), realm.cohort.sql(LOG), "the copy's log");
}
