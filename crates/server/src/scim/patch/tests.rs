use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn user() -> Map<String, Value> {
    obj(json!({
        "schemas": [schema::USER],
        "id": "u-1",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs",
        "active": true,
        "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User"}
    }))
}

fn group() -> Map<String, Value> {
    obj(json!({
        "schemas": [schema::GROUP],
        "id": "g-1",
        "displayName": "Eng",
        "members": [{"value": "u1", "type": "User"}, {"value": "U2", "type": "User"}],
        "meta": {"resourceType": "Group"}
    }))
}

fn body(ops: Value) -> Map<String, Value> {
    obj(json!({"schemas": [schema::PATCH_OP], "Operations": ops}))
}

/// Parses and applies `ops` to `doc`.
fn run(doc: &mut Map<String, Value>, res: Resource, ops: Value) -> Result<Vec<String>, ScimError> {
    let ops = parse(&body(ops))?;
    apply(doc, res, &ops)
}

fn err(doc: &mut Map<String, Value>, res: Resource, ops: Value) -> ScimType {
    match run(doc, res, ops) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.scim_type.expect("a scimType"),
    }
}

fn ok(doc: &mut Map<String, Value>, res: Resource, ops: Value) -> Vec<String> {
    match run(doc, res, ops) {
        Ok(ignored) => ignored,
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

fn members(doc: &Map<String, Value>) -> Vec<&str> {
    doc.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default()
}

// --- parse ---

#[test]
fn op_names_any_case_and_unknown_op() {
    let ops = parse(&body(json!([
        {"op": "Add", "path": "displayName", "value": "a"},
        {"op": "REPLACE", "path": "displayName", "value": "b"},
        {"OP": "remove", "PATH": "externalId"}
    ])))
    .unwrap();
    let kinds: Vec<OpKind> = ops.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OpKind::Add, OpKind::Replace, OpKind::Remove]);
    let e = parse(&body(json!([{"op": "delete", "path": "x"}]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = parse(&body(json!([{"path": "x"}]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = parse(&body(json!(["add"]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn schemas_optional_but_checked_and_operations_any_case() {
    let ops = parse(&obj(
        json!({"operations": [{"op": "remove", "path": "externalId"}]}),
    ));
    assert_eq!(ops.unwrap().len(), 1);
    let lower = schema::PATCH_OP.to_lowercase();
    assert!(parse(&obj(
        json!({"schemas": [lower], "Operations": [{"op": "remove", "path": "a"}]})
    ))
    .is_ok());
    for bad_body in [
        json!({"schemas": [schema::USER], "Operations": [{"op": "remove", "path": "a"}]}),
        json!({"schemas": "nope", "Operations": [{"op": "remove", "path": "a"}]}),
        json!({"schemas": [schema::PATCH_OP]}),
        json!({"schemas": [schema::PATCH_OP], "Operations": {}}),
        json!({"schemas": [schema::PATCH_OP], "Operations": []}),
    ] {
        let e = parse(&obj(bad_body)).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }
}

#[test]
fn path_errors_are_invalid_path_and_filter_errors_invalid_filter() {
    let e = parse(&body(json!([{"op": "remove", "path": "name..givenName"}]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert!(e.detail.contains("operation 1"), "{}", e.detail);
    let e = parse(&body(json!([{"op": "remove", "path": "members[value eq"}]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    let e = parse(&body(json!([{"op": "remove", "path": 7}]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    // An empty path is "no path".
    let ops = parse(&body(
        json!([{"op": "replace", "path": "", "value": {"active": false}}]),
    ))
    .unwrap();
    assert!(ops[0].path.is_none());
}

#[test]
fn add_and_replace_need_a_value() {
    for op in ["add", "replace"] {
        let e = parse(&body(json!([{"op": op, "path": "displayName"}]))).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }
}

#[test]
fn limits_are_too_many() {
    let ops: Vec<Value> = (0..=MAX_OPERATIONS)
        .map(|_| json!({"op": "remove", "path": "externalId"}))
        .collect();
    let e = parse(&body(Value::Array(ops))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    let values: Vec<Value> = (0..=MAX_VALUES)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let e = parse(&body(
        json!([{"op": "add", "path": "members", "value": values}]),
    ))
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    // Across operations, and inside a path-less value.
    let half: Vec<Value> = (0..MAX_VALUES / 2 + 1)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let e = parse(&body(json!([
        {"op": "add", "path": "members", "value": half},
        {"op": "add", "value": {"members": half}}
    ])))
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    // apply checks too, for ops built by hand.
    let ops: Vec<Op> = (0..=MAX_OPERATIONS)
        .map(|_| Op {
            kind: OpKind::Remove,
            path: filter::parse_path("externalId").ok(),
            value: None,
        })
        .collect();
    let e = apply(&mut group(), Resource::Group, &ops).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
}

// --- names ---

#[test]
fn names_are_case_insensitive_and_core_urn_qualified() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "replace", "path": "DISPLAYNAME", "value": "A"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "bj"},
            {"op": "replace", "path": "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.GIVENNAME", "value": "B"},
            {"op": "add", "path": "externalid", "value": "ext-1"}
        ]),
    );
    assert_eq!(doc["displayName"], "A");
    assert_eq!(doc["userName"], "bj");
    assert_eq!(doc["name"]["givenName"], "B");
    assert_eq!(doc["externalId"], "ext-1");
    assert!(!doc.contains_key("DISPLAYNAME"));
}

#[test]
fn unknown_and_extension_attributes_are_ignored_and_reported() {
    let mut doc = user();
    let before = doc.clone();
    let ignored = ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "add", "path": "nickName", "value": "Babs"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
             "value": {"schemas": ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], "employeeNumber": "1"}},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
            {"op": "replace", "path": "name.formatted", "value": "Ms B"},
            {"op": "remove", "path": "addresses[type eq \"work\"].locality"},
            {"op": "add", "value": {"title": "Boss"}}
        ]),
    );
    assert_eq!(doc, before);
    assert_eq!(ignored.len(), 6, "{ignored:?}");
    assert!(ignored.contains(&"nickName".to_string()));
    assert!(ignored.contains(&"name.formatted".to_string()));
    assert!(ignored.contains(&"title".to_string()));
    assert!(ignored
        .iter()
        .any(|n| n.ends_with("enterprise:2.0:User:employeeNumber")));
}

// --- mutability ---

#[test]
fn read_only_paths_are_mutability() {
    for path in [
        "groups",
        "meta",
        "id",
        "schemas",
        "meta.lastModified",
        "groups[value eq \"g\"]",
    ] {
        for op in [
            json!({"op": "remove", "path": path}),
            json!({"op": "replace", "path": path, "value": "x"}),
        ] {
            assert_eq!(
                err(&mut user(), Resource::User, json!([op])),
                ScimType::Mutability,
                "{path}"
            );
        }
    }
}

#[test]
fn pathless_read_only_exceptions() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "value": {
            "schemas": ["x"], "meta": {"version": "W/\"1\""}, "id": "u-1", "displayName": "New"
        }}]),
    );
    assert_eq!(doc["id"], "u-1");
    assert_eq!(doc["schemas"], json!([schema::USER]));
    assert_eq!(doc["displayName"], "New");
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "replace", "value": {"id": "u-2"}}]),
    );
    assert_eq!(t, ScimType::Mutability);
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "add", "value": {"groups": [{"value": "g"}]}}]),
    );
    assert_eq!(t, ScimType::Mutability);
}

#[test]
fn removing_required_is_mutability() {
    assert_eq!(
        err(
            &mut user(),
            Resource::User,
            json!([{"op": "remove", "path": "userName"}])
        ),
        ScimType::Mutability
    );
    assert_eq!(
        err(
            &mut group(),
            Resource::Group,
            json!([{"op": "remove", "path": "displayName"}])
        ),
        ScimType::Mutability
    );
    assert_eq!(
        err(
            &mut group(),
            Resource::Group,
            json!([{"op": "replace", "value": {"displayName": null}}])
        ),
        ScimType::Mutability
    );
}

#[test]
fn immutable_member_sub_attribute_of_existing_element() {
    let t = err(
        &mut group(),
        Resource::Group,
        json!([
            {"op": "replace", "path": "members[value eq \"u1\"].type", "value": "Group"}
        ]),
    );
    assert_eq!(t, ScimType::Mutability);
}

// --- path-less ---

#[test]
fn pathless_value_must_be_object_and_keys_are_paths() {
    assert_eq!(
        err(
            &mut user(),
            Resource::User,
            json!([{"op": "add", "value": "x"}])
        ),
        ScimType::InvalidValue
    );
    assert_eq!(
        err(
            &mut user(),
            Resource::User,
            json!([{"op": "add", "value": null}])
        ),
        ScimType::InvalidValue
    );
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "add", "value": {
            "name.familyName": "J",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "D",
            "emails": {"value": "c@example.com"},
            "urn:ietf:params:scim:schemas:core:2.0:User": {"externalId": "e"}
        }}]),
    );
    assert_eq!(
        doc["name"],
        json!({"givenName": "Barbara", "familyName": "J"})
    );
    assert_eq!(doc["displayName"], "D");
    assert_eq!(doc["externalId"], "e");
    assert_eq!(doc["emails"].as_array().map(Vec::len), Some(2));
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "add", "value": {"bad key!": 1}}]),
    );
    assert_eq!(t, ScimType::InvalidPath);
}

#[test]
fn remove_without_path_is_no_target() {
    assert_eq!(
        err(&mut user(), Resource::User, json!([{"op": "remove"}])),
        ScimType::NoTarget
    );
}

// --- add ---

#[test]
fn add_single_complex_and_multi() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "add", "path": "displayName", "value": "X"},
            {"op": "add", "path": "name", "value": {"givenName": "Bab", "middleName": "dropped"}},
            {"op": "add", "path": "emails", "value": [
                {"value": "B@EXAMPLE.COM", "type": "home"},
                {"value": "new@example.com", "type": "home"},
                {"value": "new@example.com"}
            ]},
            {"op": "add", "path": "emails", "value": {"value": "one@example.com"}}
        ]),
    );
    assert_eq!(doc["displayName"], "X");
    assert_eq!(
        doc["name"],
        json!({"givenName": "Bab", "familyName": "Jensen"})
    );
    let emails: Vec<&str> = doc["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["b@example.com", "new@example.com", "one@example.com"]
    );
    // members.value is case-exact: "u2" is not "U2".
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u1"}]}]),
    );
    assert_eq!(members(&doc), ["u1", "U2", "u2"]);
}

#[test]
fn add_value_path_sub_attribute() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "add", "path": "emails[type eq \"work\"].primary", "value": false},
            {"op": "add", "path": "emails[type eq \"home\" and primary eq false].value", "value": "h@example.com"}
        ]),
    );
    assert_eq!(
        doc["emails"],
        json!([
            {"value": "b@example.com", "type": "work", "primary": false},
            {"type": "home", "primary": false, "value": "h@example.com"}
        ])
    );
}

// --- replace ---

#[test]
fn replace_multi_whole_and_filtered() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
    );
    assert_eq!(members(&doc), ["a"]);
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([
            {"op": "replace", "path": "members[value eq \"u1\"]", "value": {"value": "z", "type": "User"}}
        ]),
    );
    assert_eq!(members(&doc), ["z", "U2"]);
    let t = err(
        &mut group(),
        Resource::Group,
        json!([
            {"op": "replace", "path": "members[value eq \"nobody\"]", "value": {"value": "z"}}
        ]),
    );
    assert_eq!(t, ScimType::NoTarget);
}

#[test]
fn replace_complex_keeps_other_sub_attributes_and_absent_is_add() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "path": "name", "value": {"familyName": "J"}}]),
    );
    assert_eq!(
        doc["name"],
        json!({"givenName": "Barbara", "familyName": "J"})
    );
    let mut doc = user();
    doc.remove("displayName");
    doc.remove("name");
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "replace", "path": "displayName", "value": "D"},
            {"op": "replace", "path": "name.givenName", "value": "G"}
        ]),
    );
    assert_eq!(doc["displayName"], "D");
    assert_eq!(doc["name"], json!({"givenName": "G"}));
}

// --- remove ---

#[test]
fn remove_attribute_and_absent_succeeds() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "remove", "path": "displayName"},
            {"op": "remove", "path": "displayName"},
            {"op": "remove", "path": "externalId"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "emails[type eq \"work\"].primary"}
        ]),
    );
    assert!(!doc.contains_key("displayName"));
    assert_eq!(doc["name"], json!({"familyName": "Jensen"}));
    assert_eq!(
        doc["emails"],
        json!([{"value": "b@example.com", "type": "work"}])
    );
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "remove", "path": "name.familyName"}]),
    );
    assert!(
        !doc.contains_key("name"),
        "an emptied complex attribute is unassigned"
    );
}

#[test]
fn remove_multi_filtered_by_value_and_all() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "remove", "path": "members[value eq \"nobody\"]"}
        ]),
    );
    assert_eq!(members(&doc), ["U2"]);
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "remove", "path": "members", "value": [{"value": "U2"}, {"value": "u9"}]}]),
    );
    assert_eq!(members(&doc), ["u1"]);
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "remove", "path": "members"}]),
    );
    assert!(!doc.contains_key("members"));
}

// --- values ---

#[test]
fn booleans_as_strings() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "path": "active", "value": "FALSE"}]),
    );
    assert_eq!(doc["active"], false);
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "path": "active", "value": "True"}]),
    );
    assert_eq!(doc["active"], true);
    for v in [json!("yes"), json!(1), json!({})] {
        let t = err(
            &mut user(),
            Resource::User,
            json!([{"op": "replace", "path": "active", "value": v}]),
        );
        assert_eq!(t, ScimType::InvalidValue);
    }
}

#[test]
fn strings_must_be_strings() {
    for v in [json!(1), json!(true), json!({"a": 1}), json!(["x"])] {
        let t = err(
            &mut user(),
            Resource::User,
            json!([{"op": "replace", "path": "displayName", "value": v}]),
        );
        assert_eq!(t, ScimType::InvalidValue);
    }
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "add", "path": "emails", "value": [{"value": 5}]}]),
    );
    assert_eq!(t, ScimType::InvalidValue);
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "add", "path": "name", "value": "B J"}]),
    );
    assert_eq!(t, ScimType::InvalidValue);
}

#[test]
fn null_and_empty_array_unassign() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([
            {"op": "replace", "path": "displayName", "value": null},
            {"op": "replace", "path": "emails", "value": []},
            {"op": "replace", "value": {"name": null}}
        ]),
    );
    for key in ["displayName", "emails", "name"] {
        assert!(!doc.contains_key(key), "{key}");
    }
}

#[test]
fn unknown_sub_attributes_in_values_are_dropped() {
    let mut doc = group();
    doc.remove("members");
    ok(
        &mut doc,
        Resource::Group,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "u1", "display": "x", "$ref": null, "TYPE": "User"}]}
        ]),
    );
    assert_eq!(doc["members"], json!([{"value": "u1", "type": "User"}]));
}

// --- filters ---

#[test]
fn filter_evaluation() {
    let elem = obj(json!({"value": "Abc@Example.com", "type": "work", "primary": true}));
    let attr = schema::find(schema::USER_ATTRS, "emails").unwrap();
    let t = |f: &str| {
        let Some(expr) = filter::parse_path(&format!("emails[{f}]")).unwrap().filter else {
            panic!()
        };
        eval::check(&expr, attr).unwrap();
        eval::matches(&expr, attr, &elem)
    };
    assert!(t("VALUE eq \"abc@example.com\""));
    assert!(t(
        "value co \"EXAMPLE\" and value sw \"abc\" and value ew \".COM\""
    ));
    assert!(t(
        "value gt \"a\" and value ge \"abc@example.com\" and value lt \"b\" and value le \"b\""
    ));
    assert!(t("primary eq true and not (primary eq false)"));
    assert!(t("primary eq \"True\""));
    assert!(t("type ne \"home\" or type eq \"x\""));
    assert!(t("value pr"));
    assert!(!t("type pr and type eq null"));
    assert!(t("type ne null"));
    // members.value is case-exact.
    let members = schema::find(schema::GROUP_ATTRS, "members").unwrap();
    let m = obj(json!({"value": "U1"}));
    let expr = filter::parse_path("members[value eq \"u1\"]")
        .unwrap()
        .filter
        .unwrap();
    assert!(!eval::matches(&expr, members, &m));
}

#[test]
fn filter_errors() {
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "remove", "path": "emails[display eq \"x\"]"}]),
    );
    assert_eq!(t, ScimType::InvalidFilter);
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "remove", "path": "emails[primary gt true]"}]),
    );
    assert_eq!(t, ScimType::InvalidFilter);
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "remove", "path": "name[givenName eq \"x\"]"}]),
    );
    assert_eq!(t, ScimType::InvalidPath);
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "replace", "path": "displayName.x", "value": "x"}]),
    );
    assert_eq!(t, ScimType::InvalidPath);
}

// --- IdP bodies (reference §11, "PATCH bodies the IdPs send") ---

#[test]
fn okta_deactivate_pathless() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(doc["active"], false);
}

#[test]
fn okta_rename_group_with_id() {
    let mut doc = group();
    let ignored = ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "replace", "value": {"id": "g-1", "displayName": "New"}}]),
    );
    assert_eq!(doc["displayName"], "New");
    assert!(ignored.is_empty());
}

#[test]
fn okta_membership_delta() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u3", "display": "x"}]}
        ]),
    );
    assert_eq!(
        doc["members"],
        json!([{"value": "U2", "type": "User"}, {"value": "u3"}])
    );
}

#[test]
fn okta_full_push() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "replace", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]),
    );
    assert_eq!(doc["members"], json!([{"value": "u1"}, {"value": "u2"}]));
}

#[test]
fn entra_capitalised_add_with_null_ref() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u5"}]}]),
    );
    assert_eq!(members(&doc), ["u1", "U2", "u5"]);
}

#[test]
fn entra_remove_by_value_array_removes_only_those() {
    let mut doc = group();
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1"}]}]),
    );
    assert_eq!(members(&doc), ["U2"]);
}

#[test]
fn entra_false_as_string() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(doc["active"], false);
}

#[test]
fn entra_add_single_value() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "Add", "path": "displayName", "value": "Babs J"}]),
    );
    assert_eq!(doc["displayName"], "Babs J");
}

#[test]
fn entra_dotted_keys_and_enterprise_urn_ignored() {
    let mut doc = user();
    let ignored = ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "value": {
            "displayName": "A",
            "name.givenName": "B",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7"
        }}]),
    );
    assert_eq!(doc["displayName"], "A");
    assert_eq!(doc["name"]["givenName"], "B");
    assert_eq!(doc["name"]["familyName"], "Jensen");
    assert_eq!(
        ignored,
        ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"]
    );
}

#[test]
fn entra_work_email_replace_when_absent_is_added() {
    let mut doc = user();
    doc.remove("emails");
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b"}]),
    );
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "a@b"}]));
    // Present: replaced in place.
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "c@d"}]),
    );
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "c@d"}]));
}

#[test]
fn scim_sanity_fake_member_then_remove_members() {
    let mut doc = group();
    doc.remove("members");
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]}]),
    );
    assert_eq!(members(&doc), ["fake-member-id"]);
    ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "remove", "path": "members"}]),
    );
    assert!(!doc.contains_key("members"));
}

// --- robustness ---

#[test]
fn garbage_never_panics() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ops = ["add", "remove", "replace", "Add", "REMOVE", "bogus"];
    let paths = [
        "members",
        "members[value eq \"u1\"]",
        "members[value eq \"u1\"].value",
        "emails[type eq \"work\"].value",
        "emails[primary eq true]",
        "name",
        "name.givenName",
        "active",
        "displayName",
        "userName",
        "id",
        "meta",
        "groups",
        "emails.value",
        "members[type pr or not(value sw \"U\")].type",
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "x[",
        "]",
        "",
        "emails[nope eq 1]",
        "name[givenName eq \"B\"]",
    ];
    let values = [
        json!(null),
        json!(true),
        json!("False"),
        json!("s"),
        json!(3),
        json!([]),
        json!({}),
        json!([{"value": "u1"}]),
        json!({"value": "u2", "$ref": null}),
        json!([1, "a", null, {"value": 2}]),
        json!({"active": "true", "id": "u-1"}),
        json!({"name.givenName": "x", "emails": [{"value": "q"}], "meta": 1}),
        json!([[{}]]),
    ];
    for _ in 0..3000 {
        let mut list = Vec::new();
        for _ in 0..(next() % 4 + 1) {
            let mut op = Map::new();
            op.insert(
                "op".into(),
                json!(ops[(next() % ops.len() as u64) as usize]),
            );
            if next() % 5 != 0 {
                op.insert(
                    "path".into(),
                    json!(paths[(next() % paths.len() as u64) as usize]),
                );
            }
            if next() % 4 != 0 {
                op.insert(
                    "value".into(),
                    values[(next() % values.len() as u64) as usize].clone(),
                );
            }
            list.push(Value::Object(op));
        }
        let resource = if next() % 2 == 0 {
            Resource::User
        } else {
            Resource::Group
        };
        let mut doc = if resource == Resource::User {
            user()
        } else {
            group()
        };
        let _ = run(&mut doc, resource, Value::Array(list));
    }
}

#[test]
fn bare_core_urn_path_is_the_whole_resource() {
    let mut doc = user();
    ok(
        &mut doc,
        Resource::User,
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User", "value": {"displayName": "X"}}]),
    );
    assert_eq!(doc["displayName"], "X");
    let t = err(
        &mut user(),
        Resource::User,
        json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User"}]),
    );
    assert_eq!(t, ScimType::NoTarget);
    // Another resource's core URN is another schema: ignored.
    let mut doc = group();
    let ignored = ok(
        &mut doc,
        Resource::Group,
        json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "x"}]),
    );
    assert_eq!(ignored.len(), 1);
    assert!(!doc.contains_key("userName"));
}
