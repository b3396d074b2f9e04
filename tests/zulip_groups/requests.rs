//! Routes, methods and parameter encodings shared by every group endpoint.

use super::*;

/// A request with an optional account and a form body, returning the status,
/// the `Allow` header and the body.
async fn raw_request(
    realm: &Realm,
    method: &str,
    path: &str,
    who: Option<&Account>,
) -> (u16, Option<String>, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, realm.cohort.url(&format!("/api/v1{path}")))
        .form(&[("name", "x")]);
    if let Some(who) = who {
        request = request.basic_auth(&who.email, Some(&who.key));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, allow, body)
}

/// Numeric ids match a route: a missing method is a 405 listing the route's
/// methods, with or without credentials; with credentials, a non-integer id
/// is a 404.
#[tokio::test]
async fn routes_and_methods() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "g", &[]).await;
    let before = &realm.all_groups().await;
    let numeric = format!("/user_groups/{gid}");
    let deactivate_path = format!("/user_groups/{gid}/deactivate");
    let members = format!("/user_groups/{gid}/members");
    let subgroups = format!("/user_groups/{gid}/subgroups");
    let one = format!("/user_groups/{gid}/members/{}", realm.member.id);
    let cases: [(&str, &str, &str); 8] = [
        ("DELETE", numeric.as_str(), "PATCH"),
        ("GET", numeric.as_str(), "PATCH"),
        ("GET", deactivate_path.as_str(), "POST"),
        ("DELETE", members.as_str(), "GET, POST"),
        ("PATCH", subgroups.as_str(), "GET, POST"),
        ("POST", one.as_str(), "GET"),
        ("PATCH", "/user_groups/create", "POST"),
        ("POST", "/user_groups", "GET"),
    ];
    for (method, path, allowed) in cases {
        for who in [Some(&realm.owner), None] {
            let (status, allow, body) = raw_request(&realm, method, path, who).await;
            assert_eq!(status, 405, "{method} {path}: {body}");
            assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
            let list: Vec<&str> = allowed.split(", ").collect();
            assert_eq!(
                body,
                j!({"result": "error", "msg": "Method Not Allowed", "allowed_methods": list})
            );
        }
    }
    let member = format!("/user_groups/{gid}/members/abc");
    for (method, path) in [
        ("PATCH", "/user_groups/abc"),
        ("PATCH", "/user_groups/-1"),
        ("POST", "/user_groups/abc/deactivate"),
        ("GET", "/user_groups/abc/members"),
        ("POST", "/user_groups/1x/subgroups"),
        ("GET", member.as_str()),
    ] {
        let (status, _, body) = raw_request(&realm, method, path, Some(&realm.owner)).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(
            body,
            j!({"result": "error", "msg": "Not Found", "code": "BAD_REQUEST"})
        );
    }
    assert_eq!(realm.all_groups().await, *before);
}

/// Zulip's routes use integer converters: a path whose id is not an integer
/// matches no route at all, so it is a 404 whatever the method, and before
/// authentication (Zulip's `zproject/urls.py`; https://zulip.com/api/rest-error-handling).
#[tokio::test]
async fn non_integer_ids_match_no_route() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "g", &[]).await;
    let before = &realm.all_groups().await;
    let member = format!("/user_groups/{gid}/members/abc");
    let cases: [(&str, &str); 7] = [
        ("PATCH", "/user_groups/abc"),
        ("DELETE", "/user_groups/abc"),
        ("DELETE", "/user_groups/-1"),
        ("POST", "/user_groups/abc/deactivate"),
        ("GET", "/user_groups/abc/members"),
        ("POST", "/user_groups/1x/subgroups"),
        ("GET", member.as_str()),
    ];
    for (method, path) in cases {
        for who in [Some(&realm.owner), None] {
            let (status, _, body) = raw_request(&realm, method, path, who).await;
            assert_eq!(
                status,
                404,
                "{method} {path} (authenticated: {}): {body}",
                who.is_some()
            );
        }
    }
    assert_eq!(realm.all_groups().await, *before);
}

/// zulip-js sends PATCH and GET parameters in the query string and POST
/// parameters as multipart form data; all of them work on the group endpoints.
#[tokio::test]
async fn query_string_and_multipart_parameters() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    let gid = realm.create_group(&realm.owner, "js", &[]).await;
    let sub = realm.create_group(&realm.owner, "js-sub", &[]).await;
    let url = |path: String| format!("{}/api/v1{path}", api.base);

    let got = api
        .send(
            api.http
                .patch(url(format!("/user_groups/{gid}")))
                .query(&[("name", "from-query"), ("description", "q")]),
        )
        .await;
    plain_success(&got);
    let g = realm.group(gid).await;
    assert_eq!(
        (g["name"].clone(), g["description"].clone()),
        (j!("from-query"), j!("q"))
    );

    let form = reqwest::multipart::Form::new().text("add", ids(&[realm.member.id]));
    let got = api
        .send(
            api.http
                .post(url(format!("/user_groups/{gid}/members")))
                .multipart(form),
        )
        .await;
    plain_success(&got);
    let form = reqwest::multipart::Form::new().text("add", ids(&[sub]));
    let got = api
        .send(
            api.http
                .post(url(format!("/user_groups/{gid}/subgroups")))
                .multipart(form),
        )
        .await;
    plain_success(&got);
    let g = realm.group(gid).await;
    assert_eq!(g["members"], j!([realm.member.id]));
    assert_eq!(g["direct_subgroup_ids"], j!([sub]));

    // zulip-js does not JSON-encode arrays outside POST: `1,2` is refused.
    let before = &realm.all_groups().await;
    let got = api
        .send(
            api.http
                .post(url(format!("/user_groups/{gid}/members")))
                .query(&[(
                    "delete",
                    format!("{},{}", realm.member.id, realm.member2.id),
                )]),
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "delete is not valid JSON"
    );
}

/// cohort's documented limit: one list parameter holds at most 10,000 ids.
#[tokio::test]
async fn id_lists_over_the_limit_are_refused() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    let before = realm.all_groups().await;
    let too_many: Vec<i64> = (1..=10_001).collect();
    let got = api
        .post(
            "/user_groups/create",
            &[
                ("name", "huge".to_string()),
                ("description", String::new()),
                ("members", json(&too_many)),
            ],
        )
        .await;
    assert_error(
        &got,
        400,
        "BAD_REQUEST",
        "members lists more than 10000 ids.",
    );
    assert_eq!(
        realm.all_groups().await,
        before,
        "the refused create left a trace"
    );
    let group = realm.create_group(&realm.owner, "target", &[]).await;
    let before_members = realm.all_groups().await;
    let got = api
        .post(
            &format!("/user_groups/{group}/members"),
            &[("add", json(&too_many))],
        )
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "add lists more than 10000 ids.");
    assert_eq!(
        realm.all_groups().await,
        before_members,
        "the refused member change left a trace"
    );
}
