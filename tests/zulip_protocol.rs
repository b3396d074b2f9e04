//! Zulip's protocol around the endpoints: authentication, encodings, envelopes,
//! unknown routes and methods, size limits, and the server settings.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::Value;

async fn raw_auth(realm: &Realm, header: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().get(realm.cohort.url("/api/v1/user_groups"));
    if let Some(h) = header {
        request = request.header("authorization", h);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap(), challenge)
}

fn basic(user: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"))
    )
}

#[tokio::test]
async fn authentication_failures_use_zulips_messages() {
    let realm = Realm::new();
    let owner = &realm.owner;
    let cases: Vec<(Option<String>, u16, &str, &str)> = vec![
        (
            None,
            401,
            "UNAUTHORIZED",
            "Not logged in: API authentication or user session required",
        ),
        (
            Some("Bearer abc".into()),
            400,
            "BAD_REQUEST",
            "This endpoint requires HTTP basic authentication.",
        ),
        (
            Some("Basic !!!notbase64".into()),
            401,
            "UNAUTHORIZED",
            "Invalid authorization header for basic auth",
        ),
        (
            Some("Basic a b".into()),
            401,
            "UNAUTHORIZED",
            "Invalid authorization header for basic auth",
        ),
        (
            Some(basic(&owner.email, "short")),
            401,
            "UNAUTHORIZED",
            "Malformed API key",
        ),
        (
            Some(basic(&owner.email, &"x".repeat(32))),
            401,
            "UNAUTHORIZED",
            "Invalid API key",
        ),
        (
            Some(basic("someone@else.example", &owner.key)),
            401,
            "UNAUTHORIZED",
            "Invalid API key",
        ),
        // Another user's email with this key.
        (
            Some(basic(&realm.admin.email, &owner.key)),
            401,
            "UNAUTHORIZED",
            "Invalid API key",
        ),
    ];
    for (header, status, code, msg) in cases {
        let (got, body, challenge) = raw_auth(&realm, header.as_deref()).await;
        assert_eq!(got, status, "{header:?}: {body}");
        assert_eq!(body["code"], code, "{header:?}");
        assert_eq!(body["msg"], msg, "{header:?}");
        assert_eq!(
            challenge.is_some(),
            status == 401,
            "{header:?}: WWW-Authenticate"
        );
    }
    // The email is matched case-insensitively, with whitespace trimmed.
    let upper = basic(&format!(" {} ", owner.email.to_uppercase()), &owner.key);
    let (status, body, _) = raw_auth(&realm, Some(&upper)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn deactivated_users_cannot_authenticate() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    assert_success(
        &api.delete(&format!("/users/{}", realm.member.id), &[])
            .await,
    );
    let got = realm.api(&realm.member).get("/user_groups", &[]).await;
    assert_error(&got, 401, "UNAUTHORIZED", "Account is deactivated");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    let got = api.get("/no/such/endpoint", &[]).await;
    assert_error(&got, 404, "BAD_REQUEST", "Not Found");
    // A non-numeric id matches no route.
    let got = api.patch("/user_groups/abc", &[("name", "x".into())]).await;
    assert_error(&got, 404, "BAD_REQUEST", "Not Found");
    let got = api.patch("/user_groups/-5", &[("name", "x".into())]).await;
    assert_error(&got, 404, "BAD_REQUEST", "Not Found");

    // The removed DELETE route: 405, no code, allowed methods, even without credentials.
    let response = reqwest::Client::new()
        .delete(realm.cohort.url("/api/v1/user_groups/5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "PATCH");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"result": "error", "msg": "Method Not Allowed", "allowed_methods": ["PATCH"]})
    );

    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            realm.cohort.url("/api/v1/user_groups/5/members"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn server_settings_needs_no_credentials() {
    let realm = Realm::new();
    let body: Value = reqwest::get(realm.cohort.url("/api/v1/server_settings"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"], "success");
    assert!(body["zulip_version"].as_str().unwrap().contains("cohort"));
    assert_eq!(body["zulip_feature_level"], 458);
}

#[tokio::test]
async fn parameters_come_from_body_query_multipart_or_json() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    let members = format!("[{}]", realm.member.id);

    // Query string on a POST.
    let got = api
        .send(
            api.http
                .post(format!("{}/api/v1/user_groups/create", api.base))
                .query(&[
                    ("name", "from-query"),
                    ("description", ""),
                    ("members", &members),
                ]),
        )
        .await;
    assert_success(&got);

    // Multipart, as zulip-js sends POSTs.
    let form = reqwest::multipart::Form::new()
        .text("name", "from-multipart")
        .text("description", "d")
        .text("members", members.clone());
    let got = api
        .send(
            api.http
                .post(format!("{}/api/v1/user_groups/create", api.base))
                .multipart(form),
        )
        .await;
    assert_success(&got);

    // A JSON body: strings raw, lists as JSON.
    let got = api
        .raw(
            "POST",
            "/user_groups/create",
            "application/json",
            serde_json::to_vec(&serde_json::json!({"name": "from-json", "description": "d", "members": [realm.member.id]}))
                .unwrap(),
        )
        .await;
    assert_success(&got);
    let names: Vec<String> = realm.all_groups().await["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    for name in ["from-query", "from-multipart", "from-json"] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing from {names:?}"
        );
    }

    // Body wins over query for the same name.
    let got = api
        .send(
            api.http
                .post(format!("{}/api/v1/user_groups/create", api.base))
                .query(&[("name", "query-name")])
                .form(&[
                    ("name", "body-name"),
                    ("description", ""),
                    ("members", "[]"),
                ]),
        )
        .await;
    assert_success(&got);
    assert!(realm.all_groups().await.to_string().contains("body-name"));
}

#[tokio::test]
async fn unknown_parameters_are_reported_on_success_only() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    let got = api
        .get(
            "/user_groups",
            &[
                ("bogus", "1".into()),
                ("another", "2".into()),
                ("client", "x".into()),
            ],
        )
        .await;
    assert_success(&got);
    assert_eq!(
        got.1["ignored_parameters_unsupported"],
        serde_json::json!(["another", "bogus"])
    );
    let got = api.get("/user_groups", &[]).await;
    assert!(got.1.get("ignored_parameters_unsupported").is_none());
    let got = api
        .post("/user_groups/create", &[("bogus", "1".into())])
        .await;
    assert_eq!(got.0, 400);
    assert!(got.1.get("ignored_parameters_unsupported").is_none());
}

#[tokio::test]
async fn malformed_bodies_and_oversized_requests() {
    let realm = Realm::with_server_args(&["--max-body-bytes", "4096"]);
    let api = realm.api(&realm.owner);
    let before = realm.all_groups().await;

    let got = api
        .raw(
            "POST",
            "/user_groups/create",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "Malformed JSON");

    let got = api
        .raw(
            "POST",
            "/user_groups/create",
            "application/x-www-form-urlencoded",
            b"name=%ff%fe&description=&members=[]".to_vec(),
        )
        .await;
    assert_error(
        &got,
        400,
        "BAD_REQUEST",
        "Request parameters are not valid UTF-8",
    );

    let big = format!("name=big&description={}&members=[]", "a".repeat(10_000));
    let got = api
        .raw(
            "POST",
            "/user_groups/create",
            "application/x-www-form-urlencoded",
            big.into_bytes(),
        )
        .await;
    assert_error(&got, 413, "BAD_REQUEST", "Request body too large");

    assert_eq!(
        realm.all_groups().await,
        before,
        "a refused request changed something"
    );
}

#[tokio::test]
async fn operations_endpoints() {
    let realm = Realm::new();
    let health: Value = reqwest::get(realm.cohort.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = reqwest::get(realm.cohort.url("/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    // Generate some traffic, then look for it in the metrics.
    realm.api(&realm.owner).get("/user_groups", &[]).await;
    let response = reqwest::get(realm.cohort.url("/metrics")).await.unwrap();
    assert!(response.headers().get("x-request-id").is_some());
    let text = response.text().await.unwrap();
    assert!(text.contains("cohort_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/user_groups\""), "{text}");
    assert!(
        text.contains("cohort_http_request_duration_seconds"),
        "{text}"
    );
    assert!(text.contains("cohort_snapshot_version"), "{text}");
    // A client's request id is echoed back.
    let response = reqwest::Client::new()
        .get(realm.cohort.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}
