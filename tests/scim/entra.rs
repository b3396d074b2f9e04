//! Microsoft Entra's requests, replayed (Microsoft's "Known issues and resolutions with SCIM 2.0 protocol
//! compliance" and provisioning tutorial): its
//! lookups (`externalId eq`, the `emails[type eq "work"].value eq` form,
//! groups by name without members, the membership probe), its non-RFC PATCH
//! forms (capitalised ops, `"$ref": null`, remove by value array, string
//! booleans, dotted and enterprise-URN keys), Test Connection, and group
//! creation followed by member PATCHes. cohort accepts each (`patch/mod.rs`,
//! `filter/mod.rs`, `compile.rs`).

use super::*;

#[tokio::test]
async fn entra_user_lookups_by_external_id_and_work_email() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("erin").await;
    scim.user("other").await;

    let by_external = scim.filter("/Users", "externalId eq \"ext-erin\"").await;
    assert_eq!(by_external.ids(), vec![id.clone()]);
    // externalId is case-exact.
    let miss = scim.filter("/Users", "externalId eq \"EXT-ERIN\"").await;
    assert_eq!(miss.body["totalResults"], 0);

    let by_email = scim
        .filter(
            "/Users",
            "emails[type eq \"work\"].value eq \"erin@idp.example\"",
        )
        .await;
    assert_eq!(by_email.ids(), vec![id.clone()]);
    let miss = scim
        .filter(
            "/Users",
            "emails[type eq \"work\"].value eq \"nobody@idp.example\"",
        )
        .await;
    assert_eq!(miss.body["totalResults"], 0);
}

#[tokio::test]
async fn entra_group_lookup_by_name_excludes_members() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let u = scim.user("m").await;
    let g = scim.group("Entra Team", &[&u]).await;
    let reply = scim
        .get(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"Entra Team\""),
            ],
        )
        .await;
    assert_eq!(reply.ids(), vec![g.clone()]);
    let group = &reply.body["Resources"][0];
    assert!(group.get("members").is_none(), "{group}");
    assert_eq!(group["displayName"], "Entra Team");
}

#[tokio::test]
async fn entra_membership_probe_answers_one_or_zero() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let inside = scim.user("inside").await;
    let outside = scim.user("outside").await;
    let g = scim.group("Probe", &[&inside]).await;
    let probe = |user: &str| format!("id eq \"{g}\" and members eq \"{user}\"");

    let yes = scim
        .get(
            "/Groups",
            &[("filter", &probe(&inside)), ("attributes", "id")],
        )
        .await;
    assert_eq!(yes.ids(), vec![g.clone()]);
    let only = yes.body["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = only.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "meta", "schemas"], "{only:?}");

    let no = scim
        .get(
            "/Groups",
            &[("filter", &probe(&outside)), ("attributes", "id")],
        )
        .await;
    assert_eq!(no.ok(200)["totalResults"], 0);
    assert_eq!(no.ok(200)["Resources"], j!([]));
}

#[tokio::test]
async fn entra_capitalised_add_with_null_ref_adds_members() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let b = scim.user("b").await;
    let g = scim.group("Caps", &[]).await;
    let reply = scim
        .patch(
            &format!("/Groups/{g}"),
            j!([{"op": "Add", "path": "members", "value": [
                {"$ref": null, "value": a}, {"$ref": null, "value": b}]}]),
        )
        .await;
    reply.ok(200);
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(scim.members(&g).await, want);
}

#[tokio::test]
async fn entra_remove_with_value_array_removes_only_those_members() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let b = scim.user("b").await;
    let c = scim.user("c").await;
    let g = scim.group("Three", &[&a, &b, &c]).await;
    scim.patch(
        &format!("/Groups/{g}"),
        j!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": b}]}]),
    )
    .await
    .ok(200);
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(scim.members(&g).await, want);
    let zulip = realm.group(g.parse().unwrap()).await;
    let mut zulip_members: Vec<String> = zulip["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    zulip_members.sort();
    assert_eq!(zulip_members, want);
}

#[tokio::test]
async fn entra_string_boolean_false_deactivates() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("stringy").await;
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(reply.ok(200)["active"], false);
    assert_eq!(zulip_user(&realm, &id).await["is_active"], false);
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(reply.ok(200)["active"], true);
}

#[tokio::test]
async fn entra_dotted_keys_apply_and_enterprise_keys_are_ignored() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("dotty").await;
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "Add", "value": {
                "name.givenName": "Dorothy",
                "name.familyName": "Dotson",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName": "Boss",
            }}]),
        )
        .await;
    let body = reply.ok(200);
    assert_eq!(body["name"]["givenName"], "Dorothy");
    assert_eq!(body["name"]["familyName"], "Dotson");
    assert!(
        body.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            .is_none(),
        "{body}"
    );
    let again = scim.read(&format!("/Users/{id}")).await;
    assert_eq!(again["name"]["givenName"], "Dorothy");
}

#[tokio::test]
async fn entra_work_email_value_replace() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("mailer").await;
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new.mail@idp.example"}]),
        )
        .await;
    let body = reply.ok(200);
    let emails = body["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{body}");
    assert_eq!(emails[0]["value"], "new.mail@idp.example");
    assert_eq!(emails[0]["type"], "work");
    let found = scim
        .filter(
            "/Users",
            "emails[type eq \"work\"].value eq \"new.mail@idp.example\"",
        )
        .await;
    assert_eq!(found.ids(), [id]);
}

#[tokio::test]
async fn entra_test_connection_with_random_guid_is_an_empty_list() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let before = world(&realm).await;
    let reply = scim
        .filter(
            "/Users",
            "userName eq \"2f7b4c1e-9d3a-4e8b-b6f2-0c5d7a9e1b34\"",
        )
        .await;
    assert_eq!(
        reply.ok(200),
        &j!({"schemas": [LIST_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
    let reply = scim
        .filter(
            "/Groups",
            "displayName eq \"8a1d9e3c-2b7f-4c6a-9e0d-5f3b1a7c2e48\"",
        )
        .await;
    assert_eq!(reply.ok(200)["totalResults"], 0);
    assert_eq!(world(&realm).await, before);
}

#[tokio::test]
async fn entra_group_created_empty_then_members_added_by_patch() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let b = scim.user("b").await;
    let created = scim
        .post(
            "/Groups",
            j!({"schemas": [GROUP_URN], "displayName": "Entra Made", "externalId": "e-grp-1", "members": []}),
        )
        .await;
    let g = created.ok(201)["id"].as_str().unwrap().to_string();
    for user in [&a, &b] {
        scim.patch(
            &format!("/Groups/{g}"),
            j!([{"op": "Add", "path": "members", "value": [{"value": user}]}]),
        )
        .await
        .ok(200);
    }
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(scim.members(&g).await, want);
    let body = scim.read(&format!("/Groups/{g}")).await;
    assert_eq!(body["externalId"], "e-grp-1");
    assert_eq!(
        scim.filter("/Groups", "externalId eq \"e-grp-1\"")
            .await
            .ids(),
        [g]
    );
}
