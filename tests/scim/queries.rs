//! Queries (RFC 7644 §3.4.2, §3.4.3, §3.9; `search.rs`, `compile.rs`,
//! `filter/mod.rs`): filter operators, logic and grouping, case-insensitive
//! attribute names, sorting, attribute selection, `count=0`, `/.search` on
//! each endpoint and at the root, and `invalidFilter` for anything the
//! grammar or the attribute table refuses (unknown attributes, unquoted
//! values).

use super::*;

/// Users q-alpha … q-delta, created in that order; their ids.
async fn alphabet(scim: &Scim) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ["q-alpha", "q-bravo", "q-charlie", "q-delta"] {
        ids.push(scim.user(name).await);
    }
    ids
}

/// The userNames a filter finds among the q- users, in answer order.
async fn names(scim: &Scim, filter: &str) -> Vec<String> {
    let reply = scim
        .filter("/Users", &format!("userName sw \"q-\" and ({filter})"))
        .await;
    reply.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["userName"]
                .as_str()
                .unwrap()
                .trim_end_matches("@idp.example")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn filter_operators_logic_and_grouping() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let ids = alphabet(&scim).await;
    let cases: &[(&str, &[&str])] = &[
        ("userName eq \"q-bravo@idp.example\"", &["q-bravo"]),
        (
            "userName ne \"q-bravo@idp.example\"",
            &["q-alpha", "q-charlie", "q-delta"],
        ),
        ("userName co \"ar\"", &["q-charlie"]),
        ("userName sw \"q-d\"", &["q-delta"]),
        ("userName ew \"ta@idp.example\"", &["q-delta"]),
        (
            "userName pr",
            &["q-alpha", "q-bravo", "q-charlie", "q-delta"],
        ),
        ("userName gt \"q-c\"", &["q-charlie", "q-delta"]),
        ("userName lt \"q-c\"", &["q-alpha", "q-bravo"]),
        (
            "userName ge \"q-charlie@idp.example\"",
            &["q-charlie", "q-delta"],
        ),
        (
            "userName le \"q-bravo@idp.example\"",
            &["q-alpha", "q-bravo"],
        ),
        (
            "userName eq \"q-alpha@idp.example\" or userName eq \"q-delta@idp.example\"",
            &["q-alpha", "q-delta"],
        ),
        (
            "not (userName eq \"q-alpha@idp.example\" or userName eq \"q-delta@idp.example\")",
            &["q-bravo", "q-charlie"],
        ),
        (
            "(name.givenName co \"h\" and name.givenName co \"l\") or userName eq \"q-bravo@idp.example\"",
            &["q-alpha", "q-bravo", "q-charlie"],
        ),
        (
            "name.givenName co \"r\" and (name.givenName co \"l\" or name.givenName co \"v\")",
            &["q-bravo", "q-charlie"],
        ),
        ("name.givenName eq \"q-charlie\"", &["q-charlie"]),
        (
            "active eq true",
            &["q-alpha", "q-bravo", "q-charlie", "q-delta"],
        ),
        ("active eq false", &[]),
        // Attribute names and operators in any case; userName case-insensitive.
        ("USERNAME EQ \"Q-ALPHA@IDP.EXAMPLE\"", &["q-alpha"]),
        ("username Sw \"q-b\"", &["q-bravo"]),
        ("Name.GivenName eq \"q-delta\"", &["q-delta"]),
    ];
    for (filter, want) in cases {
        assert_eq!(&names(&scim, filter).await, want, "{filter}");
    }

    // meta.created: the later users are created after the earlier ones.
    let created = scim.read(&format!("/Users/{}", ids[2])).await["meta"]["created"]
        .as_str()
        .unwrap()
        .to_string();
    let later = names(&scim, &format!("meta.created ge \"{created}\"")).await;
    assert!(
        later.starts_with(&["q-charlie".to_string()]) && later.contains(&"q-delta".to_string()),
        "{later:?}"
    );
    assert!(!later.contains(&"q-alpha".to_string()), "{later:?}");
    let earlier = names(&scim, &format!("meta.created lt \"{created}\"")).await;
    assert!(earlier.contains(&"q-alpha".to_string()), "{earlier:?}");
    assert!(!earlier.contains(&"q-charlie".to_string()), "{earlier:?}");
    assert_eq!(
        names(&scim, "meta.created gt \"2000-01-01T00:00:00Z\"")
            .await
            .len(),
        4
    );
    assert!(names(&scim, "meta.created lt \"2000-01-01T00:00:00Z\"")
        .await
        .is_empty());
}

#[tokio::test]
async fn sort_by_user_name_descending() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    alphabet(&scim).await;
    let reply = scim
        .get(
            "/Users",
            &[
                ("filter", "userName sw \"q-\""),
                ("sortBy", "userName"),
                ("sortOrder", "descending"),
            ],
        )
        .await;
    let got: Vec<&str> = reply.ok(200)["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "q-delta@idp.example",
            "q-charlie@idp.example",
            "q-bravo@idp.example",
            "q-alpha@idp.example"
        ]
    );
    let reply = scim
        .get(
            "/Users",
            &[
                ("filter", "userName sw \"q-\""),
                ("sortby", "USERNAME"),
                ("sortOrder", "ascending"),
            ],
        )
        .await;
    assert_eq!(
        reply.ok(200)["Resources"][0]["userName"],
        "q-alpha@idp.example"
    );
}

#[tokio::test]
async fn attributes_and_excluded_attributes_select_what_is_returned() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("selected").await;
    let reply = scim
        .get(&format!("/Users/{id}"), &[("attributes", "userName")])
        .await;
    let body = reply.ok(200);
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "meta", "schemas", "userName"], "{body}");
    // meta is returned whole, as ever.
    assert_eq!(body["meta"]["resourceType"], "User", "{body}");
    assert_eq!(
        body["meta"]["version"],
        reply.header("etag").unwrap(),
        "{body}"
    );

    let list = scim
        .get(
            "/Users",
            &[
                ("filter", "userName eq \"selected@idp.example\""),
                ("attributes", "username"),
            ],
        )
        .await;
    let keys: Vec<String> = list.ok(200)["Resources"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");

    let reply = scim
        .get(&format!("/Users/{id}"), &[("excludedAttributes", "emails")])
        .await;
    let body = reply.ok(200);
    assert!(body.get("emails").is_none(), "{body}");
    assert_eq!(body["userName"], "selected@idp.example");
    assert_eq!(body["name"]["givenName"], "selected");
}

#[tokio::test]
async fn count_zero_gives_only_the_total() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    alphabet(&scim).await;
    let reply = scim
        .get(
            "/Users",
            &[("filter", "userName sw \"q-\""), ("count", "0")],
        )
        .await;
    assert_eq!(
        reply.ok(200),
        &j!({"schemas": [LIST_URN], "totalResults": 4, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    alphabet(&scim).await;
    let before = world(&realm).await;
    for (endpoint, filter) in [
        ("/Users", "userName eq"),
        ("/Users", "userName xx \"a\""),
        ("/Users", "(userName eq \"a\""),
        ("/Users", "userName eq \"a\" and"),
        ("/Users", "not userName eq \"a\""),
        // Unknown attributes are refused, not matched against nothing.
        ("/Users", "favouriteColour eq \"blue\""),
        ("/Users", "name.middleName eq \"x\""),
        ("/Groups", "userName eq \"x\""),
        // Unquoted values.
        ("/Users", "externalId eq jyoung"),
        ("/Users", "userName eq q-alpha@idp.example"),
        // Ordering a boolean.
        ("/Users", "active gt true"),
    ] {
        let reply = scim.get(endpoint, &[("filter", filter)]).await;
        assert_scim_error(&reply, 400, Some("invalidFilter"));
        let body = scim
            .post(
                &format!("{endpoint}/.search"),
                j!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter}),
            )
            .await;
        assert_scim_error(&body, 400, Some("invalidFilter"));
    }
    assert_eq!(world(&realm).await, before);
}

#[tokio::test]
async fn search_endpoints_take_the_query_in_the_body() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let ids = alphabet(&scim).await;
    let g = scim.group("q-group", &[&ids[0]]).await;
    let search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

    let users = scim
        .post(
            "/Users/.search",
            j!({
                "schemas": [search],
                "filter": "userName sw \"q-\"",
                "attributes": ["userName"],
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 2,
                "count": 2,
            }),
        )
        .await;
    let body = users.ok(200);
    assert_eq!(body["totalResults"], 4);
    assert_eq!(body["startIndex"], 2);
    let got: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["q-charlie@idp.example", "q-bravo@idp.example"]);
    assert!(body["Resources"][0].get("emails").is_none());

    let groups = scim
        .post(
            "/Groups/.search",
            j!({"schemas": [search], "filter": "displayName eq \"q-group\"", "excludedAttributes": ["members"]}),
        )
        .await;
    assert_eq!(groups.ids(), vec![g.clone()]);
    assert!(groups.body["Resources"][0].get("members").is_none());

    // The root searches users and groups together.
    let root = scim
        .post(
            "/.search",
            j!({"schemas": [search], "filter": "displayName sw \"q-\"", "count": 100}),
        )
        .await;
    let body = root.ok(200);
    let mut found: Vec<(String, String)> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["meta"]["resourceType"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let mut want: Vec<(String, String)> = ids
        .iter()
        .map(|i| ("User".to_string(), i.clone()))
        .collect();
    want.push(("Group".to_string(), g.clone()));
    want.sort();
    assert_eq!(found, want, "{body}");
    assert_eq!(body["totalResults"], 5);
    // A search body without the SearchRequest schema is refused.
    let bad = scim
        .post(
            "/Users/.search",
            j!({"schemas": [USER_URN], "filter": "userName pr"}),
        )
        .await;
    assert_scim_error(&bad, 400, Some("invalidSyntax"));
}
