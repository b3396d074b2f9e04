//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`,
//! `/Schemas` answer as `application/scim+json`, are read-only (405 with
//! `Allow`), refuse `filter` (403, §4); unknown resources and endpoints are
//! 404 SCIM errors; `/Bulk` and `/Me` are 501 (advertised as unsupported).

use super::*;

#[track_caller]
fn assert_scim_json(reply: &Reply) {
    assert_eq!(
        reply.header("content-type"),
        Some("application/scim+json"),
        "{:?}",
        reply.headers
    );
}

#[tokio::test]
async fn discovery_documents_answer_as_scim_json() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);

    let spc = scim.get("/ServiceProviderConfig", &[]).await;
    assert_scim_json(&spc);
    let body = spc.ok(200);
    assert_eq!(
        body["schemas"],
        j!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(body["patch"]["supported"], true, "{body}");
    assert_eq!(body["bulk"]["supported"], false, "{body}");
    assert_eq!(body["filter"]["supported"], true, "{body}");
    assert_eq!(body["etag"]["supported"], true, "{body}");

    let types = scim.get("/ResourceTypes", &[]).await;
    assert_scim_json(&types);
    let body = types.ok(200);
    assert_eq!(body["schemas"], j!([LIST_URN]));
    assert_eq!(body["totalResults"], 2, "{body}");
    let names: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User", "Group"]);

    let schemas = scim.get("/Schemas", &[]).await;
    assert_scim_json(&schemas);
    let body = schemas.ok(200);
    let ids: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&USER_URN), "{ids:?}");
    assert!(ids.contains(&GROUP_URN), "{ids:?}");
}

#[tokio::test]
async fn single_resource_type_and_schema_are_served_and_unknown_ones_are_404() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    for name in ["User", "Group"] {
        let reply = scim.get(&format!("/ResourceTypes/{name}"), &[]).await;
        assert_scim_json(&reply);
        let body = reply.ok(200);
        assert_eq!(body["name"], name, "{body}");
        assert_eq!(body["endpoint"], format!("/{name}s"), "{body}");
    }
    for urn in [USER_URN, GROUP_URN] {
        let reply = scim.get(&format!("/Schemas/{urn}"), &[]).await;
        assert_scim_json(&reply);
        let body = reply.ok(200);
        assert_eq!(body["id"], urn, "{body}");
        assert!(body["attributes"].as_array().is_some_and(|a| !a.is_empty()));
    }
    assert_scim_error(&scim.get("/ResourceTypes/Robot", &[]).await, 404, None);
    assert_scim_error(
        &scim.get("/Schemas/urn:example:no:such:schema", &[]).await,
        404,
        None,
    );
}

#[tokio::test]
async fn discovery_endpoints_are_read_only_with_allow_header() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let before = world(&realm).await;
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas",
        &format!("/Schemas/{USER_URN}"),
    ] {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let reply = scim.call(method, path, j!({})).await;
            assert_scim_error(&reply, 405, None);
            assert_eq!(reply.header("allow"), Some("GET"), "{method} {path}");
        }
    }
    assert_eq!(world(&realm).await, before);
}

#[tokio::test]
async fn filter_on_discovery_is_forbidden() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let reply = scim.get(path, &[("filter", "name eq \"User\"")]).await;
        assert_scim_error(&reply, 403, None);
    }
}

#[tokio::test]
async fn unknown_endpoint_under_the_prefix_is_a_scim_404() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    for path in ["/Nope", "/Users/1/extra", "/groups/x/y"] {
        assert_scim_error(&scim.get(path, &[]).await, 404, None);
    }
}

#[tokio::test]
async fn bulk_and_me_are_not_implemented() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let before = world(&realm).await;
    assert_scim_error(&scim.get("/Me", &[]).await, 501, None);
    assert_scim_error(
        &scim
            .post(
                "/Bulk",
                j!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}),
            )
            .await,
        501,
        None,
    );
    assert_eq!(world(&realm).await, before);
}
