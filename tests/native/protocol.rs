//! Routing, methods and parameters (`native/mod.rs`, `native/params.rs`,
//! `native/error.rs`): unknown paths under `/cohort/` are 404 in this face's
//! format, a known path with another method is 405 with `Allow`, and an
//! unknown query parameter is 400 `invalid_parameter` naming it.

use super::*;

#[tokio::test]
async fn unknown_paths_are_404_in_this_format() {
    let realm = Realm::new();
    let client = Native::basic(&realm.cohort.base, &realm.owner);
    for path in [
        "/nope", "/realm/", "/realm/1", "/audit/1", "/groups", "", "/",
    ] {
        let reply = client.get(path).await;
        assert_error(&reply, 404, "not_found", None);
    }
    // Anonymous too: a 404 says nothing about the realm.
    let reply = Native::anonymous(&realm.cohort.base).get("/nope").await;
    assert_error(&reply, 404, "not_found", None);
    // And outside v1, still under the face's prefix.
    let reply = reqwest::get(realm.cohort.url("/cohort/v2/realm"))
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
}

#[tokio::test]
async fn another_method_is_405_with_allow() {
    let realm = Realm::new();
    let client = Native::basic(&realm.cohort.base, &realm.owner);
    for path in ["/realm", "/openapi.json"] {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let reply = client.request(method, path).await;
            assert_error(&reply, 405, "method_not_allowed", None);
            assert_eq!(reply.header("allow"), Some("GET"), "{method} {path}");
        }
        let reply = client.request("OPTIONS", path).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert_eq!(reply.header("allow"), Some("GET"), "OPTIONS {path}");
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_400() {
    let realm = Realm::new();
    let client = Native::basic(&realm.cohort.base, &realm.owner);
    let reply = client.get("/realm?verbose=true").await;
    assert_error(&reply, 400, "invalid_parameter", Some("verbose"));
    let reply = client.get("/realm?limit=10").await;
    assert_error(&reply, 400, "invalid_parameter", Some("limit"));
    // Authentication comes first: an anonymous caller learns nothing more.
    let reply = Native::anonymous(&realm.cohort.base)
        .get("/realm?verbose=true")
        .await;
    assert_error(&reply, 401, "unauthorized", None);
}
