//! Zulip's user-group endpoints, black-box, against a live `cohort serve`.
//!
//! Every endpoint of `/api/v1/user_groups…` (reference:
//! `zulip-user-groups.md`, sections 2, 3, 5, 6, 9, 10 and 11): success paths
//! with the exact response bodies and group objects, and every bad input with
//! Zulip's status, `code` and `msg`, each followed by a check that the refused
//! request left no trace in `GET /user_groups?include_deactivated_groups=true`.
//! Successful writes are checked with the very next read (read-your-writes).

mod common;

use common::*;
use serde_json::{json as j, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Reply = (u16, Value);
type Param = (&'static str, String);

/// The six per-group permission settings, in Zulip's (alphabetical) order.
const SETTINGS: [&str; 6] = [
    "can_add_members_group",
    "can_join_group",
    "can_leave_group",
    "can_manage_group",
    "can_mention_group",
    "can_remove_members_group",
];

/// The keys of a user group object (section 5.1), sorted.
const GROUP_KEYS: [&str; 15] = [
    "can_add_members_group",
    "can_join_group",
    "can_leave_group",
    "can_manage_group",
    "can_mention_group",
    "can_remove_members_group",
    "creator_id",
    "date_created",
    "deactivated",
    "description",
    "direct_subgroup_ids",
    "id",
    "is_system_group",
    "members",
    "name",
];

/// Assert a Zulip error and that the realm's groups are exactly as before.
macro_rules! refused {
    ($realm:expr, $before:expr, $got:expr, $status:expr, $code:expr, $msg:expr) => {{
        let got: Reply = $got;
        assert_error(&got, $status, $code, $msg);
        assert!(
            got.1.get("ignored_parameters_unsupported").is_none(),
            "error bodies never list ignored parameters: {}",
            got.1
        );
        assert_eq!(
            $realm.all_groups().await,
            *$before,
            "the refused request ({}) left a trace",
            $msg
        );
        got
    }};
}

/// Assert a 400 `BAD_REQUEST` whose exact text the reference leaves open, and
/// that nothing changed.
macro_rules! refused_any_msg {
    ($realm:expr, $before:expr, $got:expr) => {{
        let got: Reply = $got;
        assert_eq!(got.0, 400, "{}", got.1);
        assert_eq!(got.1["result"], "error", "{}", got.1);
        assert_eq!(got.1["code"], "BAD_REQUEST", "{}", got.1);
        assert_eq!(
            $realm.all_groups().await,
            *$before,
            "a refused request left a trace"
        );
        got
    }};
}

/// Assert the plain success body `{"result": "success", "msg": ""}`.
#[track_caller]
fn plain_success(got: &Reply) {
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1, j!({"result": "success", "msg": ""}));
}

fn p(name: &'static str, value: impl Into<String>) -> Param {
    (name, value.into())
}

fn ids(list: &[i64]) -> String {
    json(list)
}

fn anon(members: &[i64], subgroups: &[i64]) -> Value {
    j!({"direct_members": members, "direct_subgroups": subgroups})
}

/// A `{new, old}` group-setting update.
fn upd(new: Value, old: Option<Value>) -> String {
    match old {
        Some(old) => json(j!({"new": new, "old": old})),
        None => json(j!({"new": new})),
    }
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An object's keys, sorted (whatever serde_json's map ordering is).
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn int_list(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// The system groups' ids.
struct Sys {
    nobody: i64,
    owners: i64,
    administrators: i64,
    moderators: i64,
    fullmembers: i64,
    members: i64,
    everyone: i64,
    internet: i64,
}

async fn sys(realm: &Realm) -> Sys {
    Sys {
        nobody: realm.system_group("role:nobody").await,
        owners: realm.system_group("role:owners").await,
        administrators: realm.system_group("role:administrators").await,
        moderators: realm.system_group("role:moderators").await,
        fullmembers: realm.system_group("role:fullmembers").await,
        members: realm.system_group("role:members").await,
        everyone: realm.system_group("role:everyone").await,
        internet: realm.system_group("role:internet").await,
    }
}

fn create_params(name: &str, members: &[i64]) -> Vec<Param> {
    vec![
        p("name", name),
        p("description", format!("{name} description")),
        p("members", ids(members)),
    ]
}

async fn create(realm: &Realm, who: &Account, params: &[Param]) -> Reply {
    realm.api(who).post("/user_groups/create", params).await
}

async fn patch(realm: &Realm, gid: i64, params: &[Param]) -> Reply {
    realm
        .api(&realm.owner)
        .patch(&format!("/user_groups/{gid}"), params)
        .await
}

async fn deactivate(realm: &Realm, gid: i64) -> Reply {
    realm
        .api(&realm.owner)
        .post(&format!("/user_groups/{gid}/deactivate"), &[])
        .await
}

async fn change_members(realm: &Realm, gid: i64, params: &[Param]) -> Reply {
    realm
        .api(&realm.owner)
        .post(&format!("/user_groups/{gid}/members"), params)
        .await
}

async fn change_subgroups(realm: &Realm, gid: i64, params: &[Param]) -> Reply {
    realm
        .api(&realm.owner)
        .post(&format!("/user_groups/{gid}/subgroups"), params)
        .await
}

/// `GET /user_groups/{gid}/members`, sorted (the order is not guaranteed).
async fn members_of(realm: &Realm, gid: i64, direct_only: bool) -> Vec<i64> {
    let got = realm
        .api(&realm.member)
        .get(
            &format!("/user_groups/{gid}/members"),
            &[p("direct_member_only", direct_only.to_string())],
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(keys(&got.1), ["members", "msg", "result"], "{}", got.1);
    sorted(int_list(&got.1["members"]))
}

/// `GET /user_groups/{gid}/subgroups`, sorted.
async fn subgroups_of(realm: &Realm, gid: i64, direct_only: bool) -> Vec<i64> {
    let got = realm
        .api(&realm.member)
        .get(
            &format!("/user_groups/{gid}/subgroups"),
            &[p("direct_subgroup_only", direct_only.to_string())],
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(keys(&got.1), ["msg", "result", "subgroups"], "{}", got.1);
    sorted(int_list(&got.1["subgroups"]))
}

/// `GET /user_groups/{gid}/members/{uid}`.
async fn is_member(realm: &Realm, gid: i64, uid: i64, direct_only: bool) -> bool {
    let got = realm
        .api(&realm.member)
        .get(
            &format!("/user_groups/{gid}/members/{uid}"),
            &[p("direct_member_only", direct_only.to_string())],
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        keys(&got.1),
        ["is_user_group_member", "msg", "result"],
        "{}",
        got.1
    );
    got.1["is_user_group_member"].as_bool().unwrap()
}

/// Ids of the groups `GET /user_groups` lists (without deactivated ones).
async fn listed_ids(realm: &Realm, who: &Account) -> Vec<i64> {
    let got = realm.api(who).get("/user_groups", &[]).await;
    assert_success(&got);
    got.1["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect()
}

/// Add a user through the CLI (the server is running) and wait until the
/// server has picked it up.
async fn add_user(realm: &Realm, email: &str, name: &str) -> Account {
    let out = realm.cohort.cli_json(&[
        "user", "add", "--json", "--realm", "Test", "--email", email, "--name", name, "--role",
        "member",
    ]);
    let account = Account {
        id: out["user_id"].as_i64().unwrap(),
        email: out["email"].as_str().unwrap().to_string(),
        key: out["api_key"].as_str().unwrap().to_string(),
    };
    let api = realm.api(&realm.owner);
    for _ in 0..400 {
        if api.get(&format!("/users/{}", account.id), &[]).await.0 == 200 {
            return account;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never saw user {email}");
}

async fn deactivate_user(realm: &Realm, id: i64) {
    let got = realm
        .api(&realm.owner)
        .delete(&format!("/users/{id}"), &[])
        .await;
    plain_success(&got);
}

/// A second realm in the same database: its owner's account and its groups.
async fn other_realm(realm: &Realm) -> (Account, Vec<Value>) {
    let out = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    let users = realm
        .cohort
        .cli_json(&["user", "list", "--json", "--realm", "Other"]);
    let owner = Account {
        id: users[0]["user_id"].as_i64().unwrap(),
        email: out["email"].as_str().unwrap().to_string(),
        key: out["api_key"].as_str().unwrap().to_string(),
    };
    let api = realm.api(&owner);
    for _ in 0..400 {
        let (status, body) = api.get("/user_groups", &[]).await;
        if status == 200 {
            return (owner, body["user_groups"].as_array().unwrap().clone());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never saw the second realm");
}

// ====================================================================== GET /user_groups

#[tokio::test]
async fn list_shows_the_system_groups_sorted_by_id() {
    let realm = Realm::new();
    let got = realm.api(&realm.member).get("/user_groups", &[]).await;
    assert_success(&got);
    assert_eq!(keys(&got.1), ["msg", "result", "user_groups"]);
    let groups = got.1["user_groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        8,
        "a fresh realm has exactly the system groups"
    );
    let gids: Vec<i64> = groups.iter().map(|g| g["id"].as_i64().unwrap()).collect();
    assert!(
        gids.windows(2).all(|w| w[0] < w[1]),
        "sorted by id: {gids:?}"
    );

    let id = |i: usize| gids[i];
    let nobody = id(0);
    let plain_members = sorted(vec![realm.member.id, realm.member2.id, realm.bot.id]);
    let expected = [
        ("role:nobody", "Nobody", vec![], vec![]),
        (
            "role:owners",
            "Owners of this organization",
            vec![realm.owner.id],
            vec![],
        ),
        (
            "role:administrators",
            "Administrators of this organization, including owners",
            vec![realm.admin.id],
            vec![id(1)],
        ),
        (
            "role:moderators",
            "Moderators of this organization, including administrators",
            vec![realm.moderator.id],
            vec![id(2)],
        ),
        (
            "role:fullmembers",
            "Members of this organization, not including new accounts and guests",
            plain_members.clone(),
            vec![id(3)],
        ),
        (
            "role:members",
            "Members of this organization, not including guests",
            plain_members.clone(),
            vec![id(4)],
        ),
        (
            "role:everyone",
            "Everyone in this organization, including guests",
            vec![realm.guest.id],
            vec![id(5)],
        ),
        (
            "role:internet",
            "Everyone on the Internet",
            vec![],
            vec![id(6)],
        ),
    ];
    for (i, (name, description, members, subgroups)) in expected.into_iter().enumerate() {
        assert_eq!(
            groups[i],
            j!({
                "id": id(i),
                "name": name,
                "creator_id": null,
                "date_created": null,
                "description": description,
                "members": members,
                "direct_subgroup_ids": subgroups,
                "is_system_group": true,
                "can_add_members_group": nobody,
                "can_join_group": nobody,
                "can_leave_group": nobody,
                "can_manage_group": nobody,
                "can_mention_group": nobody,
                "can_remove_members_group": nobody,
                "deactivated": false,
            }),
            "system group {name}"
        );
        assert_eq!(
            keys(&groups[i]),
            GROUP_KEYS,
            "exactly the documented fields"
        );
    }

    // Unknown parameters are listed on success, sorted; `client` never is.
    let got = realm
        .api(&realm.owner)
        .get(
            "/user_groups",
            &[p("zz", "1"), p("aa", "2"), p("client", "test")],
        )
        .await;
    assert_success(&got);
    assert_eq!(got.1["ignored_parameters_unsupported"], j!(["aa", "zz"]));
    assert_eq!(got.1["user_groups"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn list_includes_deactivated_groups_only_when_asked() {
    let realm = Realm::new();
    let a = realm.create_group(&realm.owner, "alpha", &[]).await;
    let b = realm.create_group(&realm.owner, "beta", &[]).await;
    let c = realm.create_group(&realm.owner, "gamma", &[]).await;
    plain_success(&deactivate(&realm, b).await);

    let api = realm.api(&realm.member);
    let list = |v: &Value| -> Vec<(i64, bool)> {
        v["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["is_system_group"] == false)
            .map(|g| {
                (
                    g["id"].as_i64().unwrap(),
                    g["deactivated"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let default = api.get("/user_groups", &[]).await;
    assert_success(&default);
    assert_eq!(list(&default.1), [(a, false), (c, false)]);
    let off = api
        .get("/user_groups", &[p("include_deactivated_groups", "false")])
        .await;
    assert_success(&off);
    assert_eq!(off.1, default.1);
    let on = api
        .get("/user_groups", &[p("include_deactivated_groups", "true")])
        .await;
    assert_success(&on);
    assert_eq!(list(&on.1), [(a, false), (b, true), (c, false)]);
    let all: Vec<i64> = on.1["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted by id: {all:?}");
    assert_eq!(all.len(), 11);

    // Booleans are JSON literals; nothing else passes.
    for bad in ["1", "0", "\"true\"", "null", "[]"] {
        let got = api
            .get("/user_groups", &[p("include_deactivated_groups", bad)])
            .await;
        assert_error(
            &got,
            400,
            "BAD_REQUEST",
            "include_deactivated_groups is not a boolean",
        );
    }
    for bad in ["True", "yes", ""] {
        let got = api
            .get("/user_groups", &[p("include_deactivated_groups", bad)])
            .await;
        assert_error(
            &got,
            400,
            "BAD_REQUEST",
            "include_deactivated_groups is not valid JSON",
        );
    }
}

// ====================================================================== POST /user_groups/create

#[tokio::test]
async fn create_uses_the_documented_defaults() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let start = now_secs();
    let got = create(
        &realm,
        &realm.member,
        &[
            p("name", "Backend"),
            p("description", "Backend team"),
            p("members", ids(&[realm.bot.id, realm.member2.id])),
        ],
    )
    .await;
    let end = now_secs();
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().expect("group_id");
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "group_id": gid}),
        "exactly the documented body"
    );
    assert!(gid > s.internet, "a fresh id: {gid}");

    // Read-your-writes: the very next list shows it, last (highest id).
    let listed = realm.api(&realm.member2).get("/user_groups", &[]).await;
    let groups = listed.1["user_groups"].as_array().unwrap();
    let group = groups.last().unwrap().clone();
    assert_eq!(group["id"], gid);
    let created = group["date_created"].as_i64().expect("date_created");
    assert!(
        (start - 1..=end + 1).contains(&created),
        "date_created {created} outside [{start}, {end}]"
    );
    let creator_only = anon(&[realm.member.id], &[]);
    assert_eq!(
        group,
        j!({
            "id": gid,
            "name": "Backend",
            "creator_id": realm.member.id,
            "date_created": created,
            "description": "Backend team",
            // The creator is not a member unless listed; members sorted.
            "members": sorted(vec![realm.bot.id, realm.member2.id]),
            "direct_subgroup_ids": [],
            "is_system_group": false,
            "can_add_members_group": creator_only,
            "can_join_group": s.nobody,
            "can_leave_group": s.everyone,
            "can_manage_group": creator_only,
            "can_mention_group": s.everyone,
            "can_remove_members_group": s.nobody,
            "deactivated": false,
        })
    );
    assert_eq!(keys(&group), GROUP_KEYS);

    // Empty members and empty description are allowed; a second group gets a
    // higher id and its own creator.
    let got = create(
        &realm,
        &realm.admin,
        &[p("name", "empty"), p("description", ""), p("members", "[]")],
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let empty = got.1["group_id"].as_i64().unwrap();
    assert!(empty > gid);
    let g = realm.group(empty).await;
    assert_eq!(g["members"], j!([]));
    assert_eq!(g["description"], "");
    assert_eq!(g["creator_id"], realm.admin.id);
    assert_eq!(g["can_manage_group"], anon(&[realm.admin.id], &[]));
    assert_eq!(g["can_add_members_group"], anon(&[realm.admin.id], &[]));

    // Unknown parameters are reported next to group_id.
    let got = create(
        &realm,
        &realm.owner,
        &[
            p("name", "extra"),
            p("description", ""),
            p("members", "[]"),
            p("color", "red"),
            p("group_id", "5"),
        ],
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let extra = got.1["group_id"].as_i64().unwrap();
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "group_id": extra,
            "ignored_parameters_unsupported": ["color", "group_id"]})
    );
}

#[tokio::test]
async fn create_with_explicit_settings_and_subgroups() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let base = realm.create_group(&realm.owner, "base", &[]).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    assert!(m < m2);

    let mut params = create_params("explicit", &[m]);
    params.extend([
        // A plain group id.
        p("can_manage_group", s.moderators.to_string()),
        // An anonymous group: members deduplicated and sorted.
        p("can_add_members_group", json(anon(&[m2, m, m2], &[base]))),
        // No members and one subgroup: that group.
        p("can_join_group", json(anon(&[], &[base]))),
        // Empty: role:nobody.
        p("can_leave_group", json(anon(&[], &[]))),
        p("can_mention_group", s.nobody.to_string()),
        p(
            "can_remove_members_group",
            json(anon(&[realm.admin.id], &[s.moderators, base])),
        ),
        // System groups may be subgroups; duplicates collapse; sorted.
        p("subgroups", ids(&[base, s.members, base])),
    ]);
    let got = create(&realm, &realm.member, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().unwrap();
    assert_eq!(got.1, j!({"result": "success", "msg": "", "group_id": gid}));
    let g = realm.group(gid).await;
    assert_eq!(g["members"], j!([m]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.members, base]));
    assert_eq!(g["can_manage_group"], s.moderators);
    assert_eq!(g["can_add_members_group"], anon(&[m, m2], &[base]));
    assert_eq!(g["can_join_group"], base);
    assert_eq!(g["can_leave_group"], s.nobody);
    assert_eq!(g["can_mention_group"], s.nobody);
    assert_eq!(
        g["can_remove_members_group"],
        anon(&[realm.admin.id], &[s.moderators, base])
    );
    assert_eq!(g["creator_id"], m);

    // role:everyone is allowed where the setting allows it, role:nobody everywhere.
    let mut params = create_params("everyone-ok", &[]);
    params.extend([
        p("can_leave_group", s.everyone.to_string()),
        p("can_mention_group", s.everyone.to_string()),
        p("can_manage_group", s.nobody.to_string()),
        p("can_add_members_group", s.nobody.to_string()),
        p("can_join_group", s.members.to_string()),
        p("can_remove_members_group", s.owners.to_string()),
    ]);
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_leave_group"], s.everyone);
    assert_eq!(g["can_mention_group"], s.everyone);
    assert_eq!(g["can_manage_group"], s.nobody);
    assert_eq!(g["can_add_members_group"], s.nobody);
    assert_eq!(g["can_join_group"], s.members);
    assert_eq!(g["can_remove_members_group"], s.owners);

    // Only a plain id is checked against the setting's allowed system groups:
    // an anonymous value may hold role:everyone or role:internet next to users.
    let mut params = create_params("anonymous-everyone", &[]);
    params.extend([
        p("can_manage_group", json(anon(&[m], &[s.everyone]))),
        p("can_add_members_group", json(anon(&[m], &[s.internet]))),
    ]);
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_manage_group"], anon(&[m], &[s.everyone]));
    assert_eq!(g["can_add_members_group"], anon(&[m], &[s.internet]));

    // Canonicalisation looks at the lists as sent: the same subgroup twice is
    // not "one subgroup", so the value stays an (deduplicated) object.
    let mut params = create_params("twice", &[]);
    params.push(p("can_mention_group", json(anon(&[], &[base, base]))));
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_mention_group"], anon(&[], &[base]));

    // Subgroups on create need no permission on the new group: a group whose
    // managers are nobody still gets its subgroups.
    let mut params = create_params("nested-at-birth", &[]);
    params.extend([
        p("can_manage_group", s.nobody.to_string()),
        p("can_add_members_group", s.nobody.to_string()),
        p("subgroups", ids(&[base])),
    ]);
    let got = create(&realm, &realm.member2, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let nested = got.1["group_id"].as_i64().unwrap();
    assert_eq!(subgroups_of(&realm, nested, true).await, [base]);
}

#[tokio::test]
async fn create_refuses_missing_and_malformed_parameters() {
    let realm = Realm::new();
    let before = &realm.all_groups().await;
    let full = create_params("g", &[realm.member.id]);

    for missing in ["name", "description", "members"] {
        let params: Vec<Param> = full
            .iter()
            .filter(|(n, _)| *n != missing)
            .cloned()
            .collect();
        let got = refused!(
            realm,
            before,
            create(&realm, &realm.owner, &params).await,
            400,
            "REQUEST_VARIABLE_MISSING",
            &format!("Missing '{missing}' argument")
        );
        assert_eq!(got.1["var_name"], missing, "{}", got.1);
    }

    let with = |name: &'static str, value: &str| -> Vec<Param> {
        let mut params: Vec<Param> = full.iter().filter(|(n, _)| *n != name).cloned().collect();
        params.push(p(name, value));
        params
    };
    let cases: &[(&'static str, &str, &str)] = &[
        ("members", "[1,2", "members is not valid JSON"),
        ("members", "abc", "members is not valid JSON"),
        ("members", "1,2", "members is not valid JSON"),
        ("members", "", "members is not valid JSON"),
        ("members", "[1.5]", "members[0] is not an integer"),
        ("members", "[1, \"2\"]", "members[1] is not an integer"),
        ("members", "[[1]]", "members[0] is not an integer"),
        ("members", "true", "members is not a list"),
        ("members", "7", "members is not a list"),
        ("members", "\"[1]\"", "members is not a list"),
        ("members", "{\"a\": 1}", "members is not a list"),
        ("subgroups", "[1", "subgroups is not valid JSON"),
        ("subgroups", "[\"x\"]", "subgroups[0] is not an integer"),
        ("subgroups", "false", "subgroups is not a list"),
        (
            "can_manage_group",
            "{",
            "can_manage_group is not valid JSON",
        ),
        (
            "can_mention_group",
            "abc",
            "can_mention_group is not valid JSON",
        ),
    ];
    for (name, value, msg) in cases {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &with(name, value)).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    // Only the first bad parameter is reported, in Zulip's declared
    // (alphabetical) order: the six settings, description, members, name,
    // subgroups.
    let order_cases: Vec<(Vec<Param>, &str)> = vec![
        (
            vec![p("description", ""), p("members", "[1")],
            "members is not valid JSON",
        ),
        (
            vec![p("name", "g"), p("members", "[1")],
            "Missing 'description' argument",
        ),
        (
            vec![
                p("description", ""),
                p("members", "[]"),
                p("subgroups", "[x"),
            ],
            "Missing 'name' argument",
        ),
        (
            vec![p("name", "g"), p("can_remove_members_group", "{")],
            "can_remove_members_group is not valid JSON",
        ),
        (
            vec![
                p("name", "g"),
                p("description", ""),
                p("members", "[]"),
                p("can_mention_group", "{"),
                p("can_join_group", "x"),
            ],
            "can_join_group is not valid JSON",
        ),
    ];
    for (params, msg) in &order_cases {
        let got = create(&realm, &realm.owner, params).await;
        let code = if msg.starts_with("Missing") {
            "REQUEST_VARIABLE_MISSING"
        } else {
            "BAD_REQUEST"
        };
        refused!(realm, before, got, 400, code, msg);
    }

    // Wrongly shaped group-setting values: 400 BAD_REQUEST (exact text is
    // UNCONFIRMED in the reference).
    for value in [
        "true",
        "\"5\"",
        "[5]",
        "1.5",
        "{\"direct_members\": []}",
        "{\"direct_subgroups\": []}",
        "{\"direct_members\": [\"x\"], \"direct_subgroups\": []}",
    ] {
        refused_any_msg!(
            realm,
            before,
            create(&realm, &realm.owner, &with("can_manage_group", value)).await
        );
    }
}

#[tokio::test]
async fn create_refuses_bad_member_ids() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    deactivate_user(&realm, gone.id).await;
    let (_, other_groups) = other_realm(&realm).await;
    let users = realm
        .cohort
        .cli_json(&["user", "list", "--json", "--realm", "Other"]);
    let stranger = users[0]["user_id"].as_i64().unwrap();
    assert!(!other_groups.is_empty());
    let before = &realm.all_groups().await;

    let cases: Vec<(Vec<i64>, i64)> = vec![
        (vec![-1], -1),
        (vec![0], 0),
        (vec![i64::MAX], i64::MAX),
        (vec![99_999], 99_999),
        // The first bad id is named.
        (vec![realm.member.id, 99_998, 99_999], 99_998),
        // A group id is not a user id.
        (vec![s.members], s.members),
        (vec![realm.member.id, gone.id], gone.id),
        (vec![stranger], stranger),
    ];
    for (members, bad) in cases {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params("g", &members)).await,
            400,
            "BAD_REQUEST",
            &format!("Invalid user ID: {bad}")
        );
    }
    // Beyond 64 bits: refused (the reference gives no text for it).
    for raw in ["[99999999999999999999]", "[-99999999999999999999]"] {
        let mut params = create_params("g", &[]);
        params[2] = p("members", raw);
        refused_any_msg!(realm, before, create(&realm, &realm.owner, &params).await);
    }

    // Members are checked before the name (check 5 before 6).
    let got = create(
        &realm,
        &realm.owner,
        &[
            p("name", " "),
            p("description", ""),
            p("members", ids(&[gone.id])),
        ],
    )
    .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", gone.id)
    );

    // Duplicates collapse; guests and bots may be members.
    let (m, m2) = (realm.member.id, realm.member2.id);
    let got = create(
        &realm,
        &realm.owner,
        &create_params("dups", &[m2, m, m2, m, realm.guest.id, realm.bot.id]),
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().unwrap();
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2, realm.guest.id, realm.bot.id])
    );
}

#[tokio::test]
async fn create_validates_names() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let existing = realm.create_group(&realm.owner, "Marketing", &[]).await;
    let retired = realm.create_group(&realm.owner, "Retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let before = &realm.all_groups().await;

    let bad: Vec<(String, String)> = vec![
        ("".into(), "User group name can't be empty!".into()),
        ("   ".into(), "User group name can't be empty!".into()),
        ("\t\n ".into(), "User group name can't be empty!".into()),
        (
            "a".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "é".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "😀".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "@team".into(),
            "User group name cannot start with '@'.".into(),
        ),
        ("@".into(), "User group name cannot start with '@'.".into()),
        (
            "role:admins".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "role:nobody".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "user:42".into(),
            "User group name cannot start with 'user:'.".into(),
        ),
        (
            "stream:general".into(),
            "User group name cannot start with 'stream:'.".into(),
        ),
        (
            "channel:general".into(),
            "User group name cannot start with 'channel:'.".into(),
        ),
        (
            "Marketing".into(),
            "User group 'Marketing' already exists.".into(),
        ),
        // Names of deactivated groups stay reserved.
        (
            "Retired".into(),
            "User group 'Retired' already exists.".into(),
        ),
        // cohort's text (the reference does not cover NUL in names).
        (
            "nul\0name".into(),
            "name contains NULL (0x00) characters.".into(),
        ),
    ];
    for (name, msg) in &bad {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params(name, &[])).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }

    // Order: an invalid setting is reported before a taken name (checks 9, 10),
    // a taken name before an unknown subgroup (10, 11).
    let mut params = create_params("Marketing", &[]);
    params.push(p("can_manage_group", s.everyone.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "'can_manage_group' setting cannot be set to 'role:everyone' group."
    );
    let mut params = create_params("Marketing", &[]);
    params.push(p("subgroups", ids(&[99_999])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group 'Marketing' already exists."
    );
    // A name error comes before a setting error (checks 8, 9).
    let mut params = create_params("@x", &[]);
    params.push(p("can_manage_group", s.everyone.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group name cannot start with '@'."
    );

    // Accepted: exactly 100 characters (multi-byte ones count once), another
    // case of a taken name, prefixes in another case or elsewhere in the name,
    // surrounding whitespace (stored as given).
    let good = [
        "a".repeat(100),
        "é".repeat(100),
        "😀".repeat(100),
        "日本語".repeat(33) + "x",
        "marketing".to_string(),
        "MARKETING".to_string(),
        "Role:admins".to_string(),
        "roles".to_string(),
        "team@example".to_string(),
        "User:1".to_string(),
        " Marketing ".to_string(),
        "\"quoted\"".to_string(),
        // Exact, byte-wise uniqueness: NFC and NFD spellings are two names.
        "caf\u{e9}".to_string(),
        "cafe\u{301}".to_string(),
    ];
    for name in &good {
        let got = create(&realm, &realm.owner, &create_params(name, &[])).await;
        assert_eq!(got.0, 200, "{name:?}: {}", got.1);
        let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
        assert_eq!(g["name"], name.as_str(), "stored exactly as sent");
    }
    assert_eq!(realm.group(existing).await["name"], "Marketing");
}

#[tokio::test]
async fn create_validates_descriptions() {
    let realm = Realm::new();
    let before = &realm.all_groups().await;
    for text in ["x".repeat(10_001), "é".repeat(10_001)] {
        refused!(
            realm,
            before,
            create(
                &realm,
                &realm.owner,
                &[p("name", "g"), p("description", text), p("members", "[]")]
            )
            .await,
            400,
            "BAD_REQUEST",
            "description is too long (limit: 10000 characters)."
        );
    }
    refused!(
        realm,
        before,
        create(
            &realm,
            &realm.owner,
            &[p("name", "g"), p("description", "a\0b"), p("members", "[]")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "description contains NULL (0x00) characters."
    );
    for (name, text) in [
        ("ascii", "x".repeat(10_000)),
        ("multibyte", "é".repeat(10_000)),
        ("newlines", "  line one\nline two  ".to_string()),
    ] {
        let got = create(
            &realm,
            &realm.owner,
            &[
                p("name", name),
                p("description", text.clone()),
                p("members", "[]"),
            ],
        )
        .await;
        assert_eq!(got.0, 200, "{}", got.1);
        let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
        assert_eq!(g["description"], text.as_str(), "stored as sent");
    }
}

#[tokio::test]
async fn create_validates_setting_values() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    deactivate_user(&realm, gone.id).await;
    let before = &realm.all_groups().await;

    let with = |setting: &'static str, value: Value| -> Vec<Param> {
        let mut params = create_params("g", &[]);
        params.push(p(setting, json(value)));
        params
    };
    let refusals_for_all: Vec<(Value, String)> = vec![
        (j!(99_999), "Invalid user group".into()),
        (j!(-3), "Invalid user group".into()),
        // A user id is not a group id.
        (j!(realm.member.id), "Invalid user group".into()),
        (j!(retired), "User group is deactivated.".into()),
        (
            j!(s.internet),
            "'{}' setting cannot be set to 'role:internet' group.".into(),
        ),
        (anon(&[99_999], &[]), "Invalid user ID: 99999".into()),
        (
            anon(&[realm.member.id, gone.id], &[]),
            format!("Invalid user ID: {}", gone.id),
        ),
        (
            anon(&[realm.member.id], &[99_999]),
            "Invalid user group ID: 99999".into(),
        ),
        (
            anon(&[realm.member.id], &[retired]),
            "User group is deactivated.".into(),
        ),
        // Canonicalised to the deactivated group itself.
        (anon(&[], &[retired]), "User group is deactivated.".into()),
        (anon(&[], &[99_999]), "Invalid user group".into()),
    ];
    for setting in SETTINGS {
        for (value, msg) in &refusals_for_all {
            let msg = msg.replace("{}", setting);
            refused!(
                realm,
                before,
                create(&realm, &realm.owner, &with(setting, value.clone())).await,
                400,
                "BAD_REQUEST",
                &msg
            );
        }
    }
    // role:everyone is refused where the setting does not allow it, whether
    // sent as an id or as an anonymous value holding only it.
    for setting in [
        "can_add_members_group",
        "can_join_group",
        "can_manage_group",
        "can_remove_members_group",
    ] {
        for value in [j!(s.everyone), anon(&[], &[s.everyone])] {
            refused!(
                realm,
                before,
                create(&realm, &realm.owner, &with(setting, value)).await,
                400,
                "BAD_REQUEST",
                &format!("'{setting}' setting cannot be set to 'role:everyone' group.")
            );
        }
    }

    // Subgroups: unknown ids (first one named), deactivated groups.
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[s.members, 99_998, 99_999])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "Invalid user group ID: 99998"
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[realm.member.id])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {}", realm.member.id)
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[retired])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
}

// ====================================================================== PATCH /user_groups/{id}

#[tokio::test]
async fn update_name_and_description() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "old-name", &[]).await;
    let other = realm.create_group(&realm.owner, "taken", &[]).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let original = realm.group(gid).await;

    let got = patch(&realm, gid, &[p("name", "new-name")]).await;
    plain_success(&got);
    let g = realm.group(gid).await;
    assert_eq!(g["name"], "new-name");
    assert_eq!(g["description"], original["description"]);
    assert_eq!(g["date_created"], original["date_created"]);
    assert_eq!(g["creator_id"], original["creator_id"]);

    plain_success(&patch(&realm, gid, &[p("description", "Line 1\nLine 2")]).await);
    assert_eq!(realm.group(gid).await["description"], "Line 1\nLine 2");
    plain_success(&patch(&realm, gid, &[p("description", "")]).await);
    assert_eq!(realm.group(gid).await["description"], "");

    // Both at once; the same values again are a no-op success.
    let both = [p("name", "Both"), p("description", "both changed")];
    plain_success(&patch(&realm, gid, &both).await);
    plain_success(&patch(&realm, gid, &both).await);
    let g = realm.group(gid).await;
    assert_eq!(
        (g["name"].clone(), g["description"].clone()),
        (j!("Both"), j!("both changed"))
    );

    // Another case of a taken name is a different name.
    plain_success(&patch(&realm, gid, &[p("name", "TAKEN")]).await);
    assert_eq!(realm.group(gid).await["name"], "TAKEN");
    plain_success(&patch(&realm, gid, &[p("name", "é".repeat(100))]).await);
    assert_eq!(realm.group(gid).await["name"], "é".repeat(100));

    // The Python client's update_user_group() also sends group_id.
    let got = patch(
        &realm,
        gid,
        &[p("group_id", gid.to_string()), p("name", "from-python")],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["group_id"]})
    );
    assert_eq!(realm.group(gid).await["name"], "from-python");

    // Refused names and descriptions.
    let before = &realm.all_groups().await;
    let bad: Vec<(String, String)> = vec![
        ("".into(), "User group name can't be empty!".into()),
        ("  ".into(), "User group name can't be empty!".into()),
        (
            "x".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "@here".into(),
            "User group name cannot start with '@'.".into(),
        ),
        (
            "role:x".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "user:x".into(),
            "User group name cannot start with 'user:'.".into(),
        ),
        (
            "stream:x".into(),
            "User group name cannot start with 'stream:'.".into(),
        ),
        (
            "channel:x".into(),
            "User group name cannot start with 'channel:'.".into(),
        ),
        ("taken".into(), "User group 'taken' already exists.".into()),
        (
            "retired".into(),
            "User group 'retired' already exists.".into(),
        ),
        ("a\0".into(), "name contains NULL (0x00) characters.".into()),
    ];
    for (name, msg) in &bad {
        refused!(
            realm,
            before,
            patch(
                &realm,
                gid,
                &[p("name", name.as_str()), p("description", "changed")]
            )
            .await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p("name", "fine"), p("description", "d".repeat(10_001))]
        )
        .await,
        400,
        "BAD_REQUEST",
        "description is too long (limit: 10000 characters)."
    );
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("description", "a\0b")]).await,
        400,
        "BAD_REQUEST",
        "description contains NULL (0x00) characters."
    );
    // A deactivated group may be renamed; its old name is then free.
    plain_success(&patch(&realm, retired, &[p("name", "retired-2")]).await);
    plain_success(&patch(&realm, other, &[p("name", "retired")]).await);
    assert_eq!(realm.group(retired).await["name"], "retired-2");
    assert_eq!(realm.group(other).await["name"], "retired");
}

#[tokio::test]
async fn update_each_setting_with_new_and_old() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let gid = realm.create_group(&realm.member, "settings", &[]).await;
    let helper = realm.create_group(&realm.owner, "helper", &[]).await;

    for setting in SETTINGS {
        let current = realm.group(gid).await[setting].clone();
        // An id, with the right `old`.
        let got = patch(
            &realm,
            gid,
            &[p(setting, upd(j!(s.moderators), Some(current)))],
        )
        .await;
        plain_success(&got);
        assert_eq!(realm.group(gid).await[setting], s.moderators, "{setting}");

        // An anonymous value, sorted on output; `old` as an id.
        let value = anon(&[m2, m], &[helper, s.moderators]);
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(value, Some(j!(s.moderators))))],
            )
            .await,
        );
        assert_eq!(
            realm.group(gid).await[setting],
            anon(&[m, m2], &[s.moderators, helper]),
            "{setting}"
        );

        // `old` compares as sets.
        let old = anon(&[m2, m, m], &[helper, s.moderators]);
        let value = anon(&[realm.admin.id], &[]);
        plain_success(&patch(&realm, gid, &[p(setting, upd(value.clone(), Some(old)))]).await);
        assert_eq!(realm.group(gid).await[setting], value, "{setting}");

        // Canonicalisation: one subgroup and no members is that group.
        plain_success(&patch(&realm, gid, &[p(setting, upd(anon(&[], &[helper]), None))]).await);
        assert_eq!(realm.group(gid).await[setting], helper, "{setting}");
        // An old value in the one-subgroup object form matches the id.
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(anon(&[], &[]), Some(anon(&[], &[helper]))))],
            )
            .await,
        );
        assert_eq!(realm.group(gid).await[setting], s.nobody, "{setting}");

        // An empty object as `old` is role:nobody.
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(j!(s.nobody), Some(anon(&[], &[]))))],
            )
            .await,
        );
        // `new` equal to the current value: success, nothing changes.
        let before = realm.all_groups().await;
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(j!(s.nobody), Some(j!(s.nobody))))],
            )
            .await,
        );
        assert_eq!(realm.all_groups().await, before);

        // A stale `old`: EXPECTATION_MISMATCH, nothing applied, not even the name.
        for stale in [
            j!(s.moderators),
            anon(&[m], &[]),
            anon(&[m, m2], &[s.nobody]),
        ] {
            let got = refused!(
                realm,
                &before,
                patch(
                    &realm,
                    gid,
                    &[
                        p("name", "renamed"),
                        p("description", "changed"),
                        p(setting, upd(j!(s.members), Some(stale))),
                    ],
                )
                .await,
                400,
                "EXPECTATION_MISMATCH",
                "'old' value does not match the expected value."
            );
            assert_eq!(got.1["field_name"], "old", "{}", got.1);
        }
    }

    // Mismatch in one setting rolls back a valid change of another.
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p(
                    "can_add_members_group",
                    upd(j!(s.members), Some(j!(s.nobody)))
                ),
                p(
                    "can_remove_members_group",
                    upd(j!(s.members), Some(j!(s.owners)))
                ),
            ],
        )
        .await,
        400,
        "EXPECTATION_MISMATCH",
        "'old' value does not match the expected value."
    );
    assert_eq!(got.1["field_name"], "old");
    // An invalid `new` in a later setting rolls back earlier ones too.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("name", "renamed"),
                p("can_add_members_group", upd(j!(s.members), None)),
                p("can_manage_group", upd(j!(s.everyone), None)),
            ],
        )
        .await,
        400,
        "BAD_REQUEST",
        "'can_manage_group' setting cannot be set to 'role:everyone' group."
    );
    // Processing order: the name first, then settings alphabetically.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("name", "helper"),
                p(
                    "can_add_members_group",
                    upd(j!(s.members), Some(j!(s.owners)))
                ),
            ],
        )
        .await,
        400,
        "BAD_REQUEST",
        "User group 'helper' already exists."
    );
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("can_manage_group", upd(j!(s.everyone), None)),
                p("can_join_group", upd(j!(s.members), Some(j!(s.owners)))),
            ],
        )
        .await,
        400,
        "EXPECTATION_MISMATCH",
        "'old' value does not match the expected value."
    );

    // Invalid `new` values, and malformed updates.
    let bad_new: Vec<(&str, Value, String)> = vec![
        ("can_mention_group", j!(99_999), "Invalid user group".into()),
        (
            "can_mention_group",
            j!(s.internet),
            "'can_mention_group' setting cannot be set to 'role:internet' group.".into(),
        ),
        (
            "can_leave_group",
            j!(s.internet),
            "'can_leave_group' setting cannot be set to 'role:internet' group.".into(),
        ),
        (
            "can_add_members_group",
            j!(s.everyone),
            "'can_add_members_group' setting cannot be set to 'role:everyone' group.".into(),
        ),
        (
            "can_join_group",
            anon(&[], &[s.everyone]),
            "'can_join_group' setting cannot be set to 'role:everyone' group.".into(),
        ),
        (
            "can_remove_members_group",
            anon(&[99_999], &[]),
            "Invalid user ID: 99999".into(),
        ),
        (
            "can_manage_group",
            anon(&[m], &[99_999]),
            "Invalid user group ID: 99999".into(),
        ),
    ];
    for (setting, new, msg) in bad_new {
        refused!(
            realm,
            before,
            patch(&realm, gid, &[p(setting, upd(new, None))]).await,
            400,
            "BAD_REQUEST",
            &msg
        );
    }
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p(
                "can_manage_group",
                json(j!({"new": s.members, "older": 1}))
            )]
        )
        .await,
        400,
        "BAD_REQUEST",
        "Argument \"older\" at can_manage_group is unexpected"
    );
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("can_manage_group", "{\"new\": 1")]).await,
        400,
        "BAD_REQUEST",
        "can_manage_group is not valid JSON"
    );
    // A bare value (accepted only before FL 260) and a missing `new`: 400
    // BAD_REQUEST, text UNCONFIRMED.
    for raw in [
        s.members.to_string(),
        json(anon(&[m], &[])),
        json(j!({"old": s.nobody})),
        "[1]".to_string(),
    ] {
        refused_any_msg!(
            realm,
            before,
            patch(&realm, gid, &[p("can_manage_group", raw)]).await
        );
    }
}

#[tokio::test]
async fn update_refusals_leave_no_trace() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gid = realm.create_group(&realm.owner, "target", &[]).await;
    let before = &realm.all_groups().await;

    refused!(
        realm,
        before,
        patch(&realm, gid, &[]).await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    // Only unread parameters are still no data.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p("group_id", gid.to_string()), p("color", "red")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    for system in [s.nobody, s.owners, s.members, s.internet] {
        refused!(
            realm,
            before,
            patch(&realm, system, &[p("description", "mine now")]).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
        refused!(
            realm,
            before,
            patch(
                &realm,
                system,
                &[p("can_mention_group", upd(j!(s.members), None))]
            )
            .await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    for unknown in [
        "99999".to_string(),
        "0".to_string(),
        realm.member.id.to_string(),
        "99999999999999999999".to_string(),
    ] {
        let got = realm
            .api(&realm.owner)
            .patch(&format!("/user_groups/{unknown}"), &[p("name", "x")])
            .await;
        refused!(realm, before, got, 400, "BAD_REQUEST", "Invalid user group");
    }
    for path in ["abc", "-1", "1.5", "1e3", "%201"] {
        let got = realm
            .api(&realm.owner)
            .patch(&format!("/user_groups/{path}"), &[p("name", "x")])
            .await;
        refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");
    }
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("deactivated", "1")]).await,
        400,
        "BAD_REQUEST",
        "deactivated is not a boolean"
    );
    // Parameters are parsed in Zulip's declared order (settings
    // alphabetically, then deactivated), all before the group is looked up.
    refused!(
        realm,
        before,
        patch(
            &realm,
            99_999,
            &[p("deactivated", "1"), p("can_remove_members_group", "{")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "can_remove_members_group is not valid JSON"
    );
    refused!(
        realm,
        before,
        patch(
            &realm,
            99_999,
            &[p("can_mention_group", "{"), p("can_leave_group", "x")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "can_leave_group is not valid JSON"
    );
    refused!(
        realm,
        before,
        patch(&realm, 99_999, &[p("deactivated", "yes")]).await,
        400,
        "BAD_REQUEST",
        "deactivated is not valid JSON"
    );
    // "No new data" comes before the group lookup too.
    refused!(
        realm,
        before,
        patch(&realm, 99_999, &[]).await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    // Someone who may not manage the group.
    let got = realm
        .api(&realm.member)
        .patch(&format!("/user_groups/{gid}"), &[p("name", "mine")])
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "Insufficient permission"
    );
}

// ====================================================================== deactivation

#[tokio::test]
async fn deactivate_reactivate_and_no_delete() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gid = realm
        .create_group(&realm.owner, "team", &[realm.member.id])
        .await;
    let live = realm.create_group(&realm.owner, "live", &[]).await;

    // DELETE is gone: 405 listing PATCH, nothing changed.
    let before = &realm.all_groups().await;
    let response = reqwest::Client::new()
        .delete(realm.cohort.url(&format!("/api/v1/user_groups/{gid}")))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "PATCH");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        j!({"result": "error", "msg": "Method Not Allowed", "allowed_methods": ["PATCH"]})
    );
    let got = realm
        .api(&realm.owner)
        .delete(&format!("/user_groups/{gid}"), &[])
        .await;
    assert_eq!(got.0, 405);
    assert_eq!(got.1["allowed_methods"], j!(["PATCH"]));
    assert!(got.1.get("code").is_none(), "405 has no code: {}", got.1);
    assert_eq!(realm.all_groups().await, *before);

    // Refusals before the group is deactivated.
    for system in [s.nobody, s.everyone, s.internet] {
        refused!(
            realm,
            before,
            deactivate(&realm, system).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    for unknown in [99_999, realm.member.id] {
        refused!(
            realm,
            before,
            deactivate(&realm, unknown).await,
            400,
            "BAD_REQUEST",
            "Invalid user group"
        );
    }
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/abc/deactivate", &[])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");

    // Deactivate: plain success (it reads no parameters), visible at once.
    let got = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{gid}/deactivate"),
            &[p("deactivated", "true")],
        )
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["deactivated"]})
    );
    assert!(!listed_ids(&realm, &realm.member).await.contains(&gid));
    let g = realm.group(gid).await;
    assert_eq!(g["deactivated"], true);
    assert_eq!(g["members"], j!([realm.member.id]), "members are kept");
    assert!(listed_ids(&realm, &realm.member).await.contains(&live));

    let before = &realm.all_groups().await;
    refused!(
        realm,
        before,
        deactivate(&realm, gid).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
    // Reads of a deactivated group are refused.
    for path in [
        "members",
        "subgroups",
        &format!("members/{}", realm.member.id),
    ] {
        let got = realm
            .api(&realm.member)
            .get(&format!("/user_groups/{gid}/{path}"), &[])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "User group is deactivated.");
    }
    // It cannot be used as a subgroup or a setting value.
    refused!(
        realm,
        before,
        change_subgroups(&realm, live, &[p("add", ids(&[gid]))]).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
    refused!(
        realm,
        before,
        patch(&realm, live, &[p("can_mention_group", upd(j!(gid), None))]).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );

    // But it can still be edited: description, settings, members, subgroups.
    plain_success(&patch(&realm, gid, &[p("description", "resting")]).await);
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("can_mention_group", upd(j!(s.nobody), None))],
        )
        .await,
    );
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[realm.member2.id]))]).await);
    plain_success(&change_subgroups(&realm, gid, &[p("add", ids(&[live]))]).await);
    let g = realm.group(gid).await;
    assert_eq!(g["description"], "resting");
    assert_eq!(g["can_mention_group"], s.nobody);
    assert_eq!(
        g["members"],
        j!(sorted(vec![realm.member.id, realm.member2.id]))
    );
    assert_eq!(g["direct_subgroup_ids"], j!([live]));
    assert_eq!(g["deactivated"], true);

    // `deactivated=true` through PATCH is accepted and does nothing.
    plain_success(&patch(&realm, live, &[p("deactivated", "true")]).await);
    assert_eq!(realm.group(live).await["deactivated"], false);
    // `deactivated=false` on an active group: nothing to do, success.
    plain_success(&patch(&realm, live, &[p("deactivated", "false")]).await);
    assert_eq!(realm.group(live).await["deactivated"], false);

    // Reactivate with `deactivated=false`, together with a rename.
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("deactivated", "false"), p("name", "team-again")],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(g["deactivated"], false);
    assert_eq!(g["name"], "team-again");
    assert!(listed_ids(&realm, &realm.member).await.contains(&gid));
    assert_eq!(
        members_of(&realm, gid, true).await,
        sorted(vec![realm.member.id, realm.member2.id])
    );
}

#[tokio::test]
async fn deactivate_refuses_groups_in_use() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let g = realm.create_group(&realm.owner, "used", &[]).await;
    let sup1 = realm.create_group(&realm.owner, "sup1", &[]).await;
    let sup2 = realm.create_group(&realm.owner, "sup2", &[]).await;
    let user = realm.create_group(&realm.owner, "user", &[]).await;
    let selfish = realm.create_group(&realm.owner, "selfish", &[]).await;
    let in_use = "Cannot deactivate user group in use.";
    let code = "CANNOT_DEACTIVATE_GROUP_IN_USE";

    // As a subgroup of active groups.
    plain_success(&change_subgroups(&realm, sup2, &[p("add", ids(&[g]))]).await);
    plain_success(&change_subgroups(&realm, sup1, &[p("add", ids(&[g]))]).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    let mut objections = got.1["objections"].clone();
    let mut supers = int_list(&objections[0]["supergroup_ids"]);
    supers.sort_unstable();
    objections[0]["supergroup_ids"] = j!(supers);
    assert_eq!(
        objections,
        j!([{"type": "subgroup", "supergroup_ids": [sup1, sup2]}])
    );
    // A deactivated supergroup does not count.
    plain_success(&deactivate(&realm, sup2).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "subgroup", "supergroup_ids": [sup1]}])
    );
    plain_success(&change_subgroups(&realm, sup1, &[p("delete", ids(&[g]))]).await);

    // As (part of) another group's setting values.
    plain_success(
        &patch(
            &realm,
            user,
            &[
                p("can_mention_group", upd(j!(g), None)),
                p(
                    "can_join_group",
                    upd(anon(&[realm.member.id], &[g, s.moderators]), None),
                ),
            ],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "user_group", "group_id": user,
             "settings": ["can_join_group", "can_mention_group"]}])
    );
    plain_success(
        &patch(
            &realm,
            user,
            &[
                p("can_mention_group", upd(j!(s.everyone), None)),
                p("can_join_group", upd(j!(s.nobody), None)),
            ],
        )
        .await,
    );

    // As a realm setting.
    let api = realm.api(&realm.owner);
    plain_success(
        &api.patch("/realm", &[p("can_create_groups", upd(j!(g), None))])
            .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "realm", "settings": ["can_create_groups"]}])
    );
    plain_success(
        &api.patch(
            "/realm",
            &[p(
                "can_manage_all_groups",
                upd(anon(&[realm.owner.id], &[g]), None),
            )],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "realm", "settings": ["can_create_groups", "can_manage_all_groups"]}])
    );

    // All three kinds at once (order not asserted).
    plain_success(&change_subgroups(&realm, sup1, &[p("add", ids(&[g]))]).await);
    plain_success(&patch(&realm, user, &[p("can_manage_group", upd(j!(g), None))]).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    let mut found: Vec<String> = got.1["objections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    found.sort();
    let mut expected: Vec<String> = [
        j!({"type": "subgroup", "supergroup_ids": [sup1]}),
        j!({"type": "user_group", "group_id": user, "settings": ["can_manage_group"]}),
        j!({"type": "realm", "settings": ["can_create_groups", "can_manage_all_groups"]}),
    ]
    .iter()
    .map(|o| o.to_string())
    .collect();
    expected.sort();
    assert_eq!(found, expected);

    // A group whose own setting names it is in use by itself.
    plain_success(
        &patch(
            &realm,
            selfish,
            &[
                p("can_mention_group", upd(j!(selfish), None)),
                p(
                    "can_remove_members_group",
                    upd(anon(&[realm.member.id], &[selfish]), None),
                ),
            ],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, selfish).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "user_group", "group_id": selfish,
             "settings": ["can_mention_group", "can_remove_members_group"]}])
    );

    // Once nothing uses it, it deactivates. A setting of a deactivated group
    // does not count.
    plain_success(&change_subgroups(&realm, sup1, &[p("delete", ids(&[g]))]).await);
    plain_success(&deactivate(&realm, user).await);
    plain_success(
        &api.patch(
            "/realm",
            &[
                p("can_create_groups", upd(j!(s.members), Some(j!(g)))),
                p("can_manage_all_groups", upd(j!(s.owners), None)),
            ],
        )
        .await,
    );
    plain_success(&deactivate(&realm, g).await);
    assert_eq!(realm.group(g).await["deactivated"], true);
}

// ====================================================================== POST /user_groups/{id}/members

#[tokio::test]
async fn change_members_adds_and_deletes() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2, bot, guest) = (
        realm.member.id,
        realm.member2.id,
        realm.bot.id,
        realm.guest.id,
    );
    let gid = realm.create_group(&realm.owner, "team", &[m2]).await;
    let sub = realm.create_group(&realm.owner, "sub", &[]).await;

    // add: duplicates collapse; bots and guests may be members; sorted.
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[bot, m, bot, guest]))]).await);
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2, bot, guest])
    );
    assert_eq!(
        members_of(&realm, gid, true).await,
        sorted(vec![m, m2, bot, guest])
    );

    // delete.
    plain_success(&change_members(&realm, gid, &[p("delete", ids(&[guest, bot, guest]))]).await);
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2])
    );

    // add_subgroups / delete_subgroups through /members; system groups allowed.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[p("add_subgroups", ids(&[sub, s.moderators]))],
        )
        .await,
    );
    assert_eq!(
        realm.group(gid).await["direct_subgroup_ids"],
        j!([s.moderators, sub])
    );
    plain_success(
        &change_members(&realm, gid, &[p("delete_subgroups", ids(&[s.moderators]))]).await,
    );
    assert_eq!(realm.group(gid).await["direct_subgroup_ids"], j!([sub]));

    // All four in one request.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[
                p("add", ids(&[guest])),
                p("delete", ids(&[m2])),
                p("add_subgroups", ids(&[s.administrators])),
                p("delete_subgroups", ids(&[sub])),
            ],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(int_list(&g["members"]), sorted(vec![m, guest]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.administrators]));

    // add runs before delete: adding and deleting the same user succeeds and
    // leaves them out; likewise for subgroups.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[
                p("add", ids(&[m2])),
                p("delete", ids(&[m2])),
                p("add_subgroups", ids(&[sub])),
                p("delete_subgroups", ids(&[sub])),
            ],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(int_list(&g["members"]), sorted(vec![m, guest]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.administrators]));

    // A user who is only an indirect member may be added directly.
    assert!(is_member(&realm, gid, realm.admin.id, false).await);
    assert!(!is_member(&realm, gid, realm.admin.id, true).await);
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[realm.admin.id]))]).await);
    assert!(is_member(&realm, gid, realm.admin.id, true).await);

    // Empty lists next to a non-empty one are fine; unknown params are listed.
    let got = change_members(
        &realm,
        gid,
        &[
            p("add", "[]"),
            p("delete", ids(&[realm.admin.id])),
            p("subgroups", "[]"),
        ],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["subgroups"]})
    );
    assert!(!is_member(&realm, gid, realm.admin.id, true).await);
}

#[tokio::test]
async fn change_members_refusals_roll_back() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    let gid = realm
        .create_group(&realm.owner, "team", &[m, gone.id])
        .await;
    let sub = realm
        .create_group(&realm.owner, "sub", &[realm.moderator.id])
        .await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    deactivate_user(&realm, gone.id).await;
    plain_success(&change_members(&realm, gid, &[p("add_subgroups", ids(&[sub]))]).await);
    let before = &realm.all_groups().await;
    let nothing = "Nothing to do. Specify at least one of \"add\", \"delete\", \"add_subgroups\" or \"delete_subgroups\".";

    refused!(
        realm,
        before,
        change_members(&realm, gid, &[]).await,
        400,
        "BAD_REQUEST",
        nothing
    );
    refused!(
        realm,
        before,
        change_members(
            &realm,
            gid,
            &[
                p("add", "[]"),
                p("delete", "[]"),
                p("add_subgroups", "[]"),
                p("delete_subgroups", "[]"),
            ]
        )
        .await,
        400,
        "BAD_REQUEST",
        nothing
    );
    refused!(
        realm,
        before,
        change_members(&realm, gid, &[p("subgroups", ids(&[sub]))]).await,
        400,
        "BAD_REQUEST",
        nothing
    );

    let cases: Vec<(Vec<Param>, String)> = vec![
        (
            vec![p("add", ids(&[m2, m]))],
            format!("User {m} is already a member of this group"),
        ),
        (
            vec![p("delete", ids(&[m, m2]))],
            format!("There is no member '{m2}' in this user group"),
        ),
        // An indirect member (through `sub`) is not a member for delete.
        (
            vec![p("delete", ids(&[realm.moderator.id]))],
            format!(
                "There is no member '{}' in this user group",
                realm.moderator.id
            ),
        ),
        (
            vec![p("add", ids(&[gone.id]))],
            format!("Invalid user ID: {}", gone.id),
        ),
        // A deactivated direct member cannot be removed either.
        (
            vec![p("delete", ids(&[gone.id]))],
            format!("Invalid user ID: {}", gone.id),
        ),
        (
            vec![p("add", ids(&[99_999]))],
            "Invalid user ID: 99999".into(),
        ),
        (vec![p("add", ids(&[-1]))], "Invalid user ID: -1".into()),
        (
            vec![p("delete", ids(&[99_999]))],
            "Invalid user ID: 99999".into(),
        ),
        (
            vec![p("add", ids(&[s.members]))],
            format!("Invalid user ID: {}", s.members),
        ),
        // The second operation fails: the first is rolled back.
        (
            vec![p("add", ids(&[m2])), p("delete", ids(&[realm.admin.id]))],
            format!("There is no member '{}' in this user group", realm.admin.id),
        ),
        (
            vec![p("add", ids(&[m2])), p("add_subgroups", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            vec![
                p("add", ids(&[m2])),
                p("delete", ids(&[m])),
                p("add_subgroups", ids(&[s.owners])),
                p("delete_subgroups", ids(&[s.members])),
            ],
            format!("User group {} is not a subgroup of this group.", s.members),
        ),
        (
            vec![p("delete", ids(&[m])), p("add_subgroups", ids(&[sub]))],
            format!("User group {sub} is already a subgroup of this group."),
        ),
        (
            vec![p("add", ids(&[m2])), p("add_subgroups", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            vec![p("add_subgroups", ids(&[gid]))],
            format!("User group {gid} is already a subgroup of one of the passed subgroups."),
        ),
        (vec![p("add", "[1,")], "add is not valid JSON".into()),
        (
            vec![p("delete", "[\"1\"]")],
            "delete[0] is not an integer".into(),
        ),
        (
            vec![p("add_subgroups", "{}")],
            "add_subgroups is not a list".into(),
        ),
        (
            vec![p("delete_subgroups", "[1.5]")],
            "delete_subgroups[0] is not an integer".into(),
        ),
    ];
    for (params, msg) in &cases {
        refused!(
            realm,
            before,
            change_members(&realm, gid, params).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }

    // Parse order: add, add_subgroups, delete, delete_subgroups; all before
    // the group is looked up.
    refused!(
        realm,
        before,
        change_members(
            &realm,
            99_999,
            &[
                p("delete", "x"),
                p("add_subgroups", "[\"a\"]"),
                p("delete_subgroups", "1")
            ]
        )
        .await,
        400,
        "BAD_REQUEST",
        "add_subgroups[0] is not an integer"
    );
    refused!(
        realm,
        before,
        change_members(
            &realm,
            99_999,
            &[p("delete_subgroups", "1"), p("delete", "x")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "delete is not valid JSON"
    );

    // The group itself: system, unknown, not numeric.
    for system in [s.members, s.nobody] {
        refused!(
            realm,
            before,
            change_members(&realm, system, &[p("add", ids(&[m2]))]).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    refused!(
        realm,
        before,
        change_members(&realm, 99_999, &[p("add", ids(&[m2]))]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/x/members", &[p("add", ids(&[m2]))])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");

    // Users to delete are checked before the group is looked up.
    for group in [99_999, s.members] {
        refused!(
            realm,
            before,
            change_members(&realm, group, &[p("delete", ids(&[99_998]))]).await,
            400,
            "BAD_REQUEST",
            "Invalid user ID: 99998"
        );
    }
    // Nothing to do is reported before the group is looked up.
    refused!(
        realm,
        before,
        change_members(&realm, 99_999, &[p("add", "[]")]).await,
        400,
        "BAD_REQUEST",
        nothing
    );
    // Adding: permission first, then the user ids.
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("add", ids(&[99_999]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "Insufficient permission"
    );

    // Deleting a deactivated user is refused before permissions are checked.
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("delete", ids(&[gone.id]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", gone.id)
    );
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("delete", ids(&[m]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "Insufficient permission"
    );
}

// ====================================================================== GET members / is-member

#[tokio::test]
async fn members_reads_direct_and_recursive() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let top = realm.create_group(&realm.owner, "top", &[m]).await;
    let mid = realm.create_group(&realm.owner, "mid", &[m2, m]).await;
    let low = realm
        .create_group(&realm.owner, "low", &[realm.bot.id])
        .await;
    plain_success(&change_subgroups(&realm, top, &[p("add", ids(&[mid]))]).await);
    plain_success(&change_subgroups(&realm, mid, &[p("add", ids(&[low, s.administrators]))]).await);

    assert_eq!(members_of(&realm, top, true).await, [m]);
    let all = sorted(vec![m, m2, realm.bot.id, realm.admin.id, realm.owner.id]);
    assert_eq!(members_of(&realm, top, false).await, all);
    // The default is recursive.
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{top}/members"), &[])
        .await;
    assert_success(&got);
    assert_eq!(sorted(int_list(&got.1["members"])), all);
    assert_eq!(members_of(&realm, low, false).await, [realm.bot.id]);

    // System groups: direct and recursive.
    assert_eq!(
        members_of(&realm, s.members, true).await,
        sorted(vec![m, m2, realm.bot.id])
    );
    assert_eq!(
        members_of(&realm, s.members, false).await,
        sorted(vec![
            m,
            m2,
            realm.bot.id,
            realm.owner.id,
            realm.admin.id,
            realm.moderator.id
        ])
    );
    assert_eq!(
        members_of(&realm, s.internet, true).await,
        Vec::<i64>::new()
    );
    assert_eq!(members_of(&realm, s.internet, false).await.len(), 7);
    assert_eq!(members_of(&realm, s.nobody, false).await, Vec::<i64>::new());

    // The membership check.
    assert!(is_member(&realm, top, m, true).await);
    assert!(!is_member(&realm, top, m2, true).await);
    assert!(is_member(&realm, top, m2, false).await);
    assert!(is_member(&realm, top, realm.owner.id, false).await);
    assert!(!is_member(&realm, top, realm.guest.id, false).await);
    assert!(!is_member(&realm, top, realm.moderator.id, false).await);
    // Bots are valid targets.
    assert!(is_member(&realm, low, realm.bot.id, true).await);
    assert!(is_member(&realm, top, realm.bot.id, false).await);
    assert!(!is_member(&realm, top, realm.bot.id, true).await);
    assert!(is_member(&realm, s.everyone, realm.guest.id, true).await);
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{top}/members/{m}"), &[])
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "is_user_group_member": true}),
        "recursive by default"
    );

    // Unread parameters are listed.
    let got = realm
        .api(&realm.member)
        .get(
            &format!("/user_groups/{top}/members"),
            &[
                p("direct_subgroup_only", "true"),
                p("direct_member_only", "true"),
            ],
        )
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "members": [m],
            "ignored_parameters_unsupported": ["direct_subgroup_only"]})
    );

    // Refusals.
    let api = realm.api(&realm.member);
    let cases: Vec<(String, &str)> = vec![
        (format!("/user_groups/{top}/members/99999"), "No such user"),
        (
            format!("/user_groups/{top}/members/{}", s.members),
            "No such user",
        ),
        (
            format!("/user_groups/99999/members/{m}"),
            "Invalid user group",
        ),
        (
            format!("/user_groups/{m}/members/{m}"),
            "Invalid user group",
        ),
        (
            "/user_groups/99999/members".to_string(),
            "Invalid user group",
        ),
        (format!("/user_groups/{m}/members"), "Invalid user group"),
        // The group is checked before the user.
        (
            "/user_groups/99999/members/99999".to_string(),
            "Invalid user group",
        ),
    ];
    for (path, msg) in cases {
        assert_error(&api.get(&path, &[]).await, 400, "BAD_REQUEST", msg);
    }
    for path in [
        format!("/user_groups/{top}/members/abc"),
        format!("/user_groups/{top}/members/-1"),
        "/user_groups/abc/members".to_string(),
    ] {
        assert_error(&api.get(&path, &[]).await, 404, "BAD_REQUEST", "Not Found");
    }
    for path in [
        format!("/user_groups/{top}/members"),
        format!("/user_groups/{top}/members/{m}"),
        // The flag is parsed before the group is looked up.
        "/user_groups/99999/members".to_string(),
        "/user_groups/99999/members/99999".to_string(),
    ] {
        assert_error(
            &api.get(&path, &[p("direct_member_only", "1")]).await,
            400,
            "BAD_REQUEST",
            "direct_member_only is not a boolean",
        );
    }
}

#[tokio::test]
async fn deactivated_users_are_invisible_in_groups() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let m = realm.member.id;
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    let gid = realm
        .create_group(&realm.owner, "team", &[m, gone.id])
        .await;
    let sub = realm.create_group(&realm.owner, "sub", &[gone.id]).await;
    plain_success(&change_subgroups(&realm, gid, &[p("add", ids(&[sub]))]).await);
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("can_mention_group", upd(anon(&[gone.id, m], &[]), None))],
        )
        .await,
    );
    assert!(members_of(&realm, s.members, true).await.contains(&gone.id));

    deactivate_user(&realm, gone.id).await;
    // Read-your-writes: the next reads already leave the user out.
    let g = realm.group(gid).await;
    assert_eq!(g["members"], j!([m]));
    assert_eq!(g["can_mention_group"], anon(&[m], &[]));
    assert_eq!(realm.group(sub).await["members"], j!([]));
    assert_eq!(members_of(&realm, gid, true).await, [m]);
    assert_eq!(members_of(&realm, gid, false).await, [m]);
    assert!(!members_of(&realm, s.members, true).await.contains(&gone.id));
    assert!(!members_of(&realm, s.internet, false)
        .await
        .contains(&gone.id));
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{gid}/members/{}", gone.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "User is deactivated");

    // `old` compares against the visible value.
    plain_success(
        &patch(
            &realm,
            gid,
            &[p(
                "can_mention_group",
                upd(anon(&[m, realm.member2.id], &[]), Some(anon(&[m], &[]))),
            )],
        )
        .await,
    );
    assert_eq!(
        realm.group(gid).await["can_mention_group"],
        anon(&[m, realm.member2.id], &[])
    );

    // Reactivation restores the memberships.
    plain_success(
        &realm
            .api(&realm.owner)
            .post(&format!("/users/{}/reactivate", gone.id), &[])
            .await,
    );
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, gone.id])
    );
    assert_eq!(realm.group(sub).await["members"], j!([gone.id]));
    assert!(is_member(&realm, gid, gone.id, true).await);
    assert!(members_of(&realm, s.members, true).await.contains(&gone.id));
}

// ====================================================================== subgroups

#[tokio::test]
async fn change_subgroups_adds_and_deletes() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let d = realm.create_group(&realm.owner, "d", &[]).await;

    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[d]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([d]));
    // Several at once, duplicates collapse, output sorted; system groups allowed.
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[c, b, c, s.owners]))]).await);
    assert_eq!(
        realm.group(a).await["direct_subgroup_ids"],
        j!([s.owners, b, c, d])
    );
    assert_eq!(subgroups_of(&realm, a, true).await, [s.owners, b, c, d]);

    plain_success(&change_subgroups(&realm, a, &[p("delete", ids(&[c, s.owners]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([b, d]));

    // add then delete in one request.
    plain_success(
        &change_subgroups(&realm, a, &[p("add", ids(&[c])), p("delete", ids(&[b, c]))]).await,
    );
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([d]));

    // A diamond is not a cycle.
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[d]))]).await);
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[b]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([b, d]));

    // Unknown parameters are listed.
    let got = change_subgroups(
        &realm,
        c,
        &[p("add", ids(&[s.members])), p("subgroups", "[]")],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["subgroups"]})
    );
    assert_eq!(realm.group(c).await["direct_subgroup_ids"], j!([s.members]));
}

#[tokio::test]
async fn change_subgroups_refusals() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let free = realm.create_group(&realm.owner, "free", &[]).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    // a ⊂ b ⊂ c.
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[a]))]).await);
    plain_success(&change_subgroups(&realm, c, &[p("add", ids(&[b]))]).await);
    let before = &realm.all_groups().await;
    let cycle = |sup: i64| {
        format!("User group {sup} is already a subgroup of one of the passed subgroups.")
    };

    let cases: Vec<(i64, Vec<Param>, String)> = vec![
        (
            a,
            vec![],
            "Nothing to do. Specify at least one of \"add\" or \"delete\".".into(),
        ),
        (
            a,
            vec![p("add", "[]"), p("delete", "[]")],
            "Nothing to do. Specify at least one of \"add\" or \"delete\".".into(),
        ),
        // Cycles: direct, through two levels, and the group itself.
        (a, vec![p("add", ids(&[b]))], cycle(a)),
        (a, vec![p("add", ids(&[c]))], cycle(a)),
        (b, vec![p("add", ids(&[free, c]))], cycle(b)),
        (free, vec![p("add", ids(&[free]))], cycle(free)),
        (
            b,
            vec![p("add", ids(&[a]))],
            format!("User group {a} is already a subgroup of this group."),
        ),
        (
            a,
            vec![p("delete", ids(&[free]))],
            format!("User group {free} is not a subgroup of this group."),
        ),
        // Only direct subgroups can be deleted.
        (
            c,
            vec![p("delete", ids(&[a]))],
            format!("User group {a} is not a subgroup of this group."),
        ),
        (
            a,
            vec![p("add", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            a,
            vec![p("delete", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            a,
            vec![p("add", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            a,
            vec![p("add", ids(&[free, 99_998, 99_999]))],
            "Invalid user group ID: 99998".into(),
        ),
        (
            a,
            vec![p("delete", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            a,
            vec![p("add", ids(&[realm.member.id]))],
            format!("Invalid user group ID: {}", realm.member.id),
        ),
        // add runs first and is rolled back when delete fails.
        (
            a,
            vec![p("add", ids(&[free])), p("delete", ids(&[s.members]))],
            format!("User group {} is not a subgroup of this group.", s.members),
        ),
        // System groups are never the supergroup.
        (
            s.members,
            vec![p("add", ids(&[free]))],
            "Insufficient permission".into(),
        ),
        (
            s.moderators,
            vec![p("delete", ids(&[s.administrators]))],
            "Insufficient permission".into(),
        ),
        (
            99_999,
            vec![p("add", ids(&[free]))],
            "Invalid user group".into(),
        ),
        (a, vec![p("add", "[1")], "add is not valid JSON".into()),
        (a, vec![p("delete", "7")], "delete is not a list".into()),
        (
            a,
            vec![p("add", "[true]")],
            "add[0] is not an integer".into(),
        ),
    ];
    for (gid, params, msg) in &cases {
        refused!(
            realm,
            before,
            change_subgroups(&realm, *gid, params).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/x/subgroups", &[p("add", ids(&[free]))])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");
    // Parse order (add, delete) and nothing-to-do, before the group lookup.
    refused!(
        realm,
        before,
        change_subgroups(&realm, 99_999, &[p("delete", "x"), p("add", "{}")]).await,
        400,
        "BAD_REQUEST",
        "add is not a list"
    );
    refused!(
        realm,
        before,
        change_subgroups(&realm, 99_999, &[p("add", "[]")]).await,
        400,
        "BAD_REQUEST",
        "Nothing to do. Specify at least one of \"add\" or \"delete\"."
    );
}

#[tokio::test]
async fn subgroups_reads_direct_and_recursive() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let d = realm.create_group(&realm.owner, "d", &[]).await;
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[b, d]))]).await);
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[c, d, s.moderators]))]).await);

    assert_eq!(subgroups_of(&realm, a, true).await, [b, d]);
    assert_eq!(
        subgroups_of(&realm, a, false).await,
        sorted(vec![b, c, d, s.moderators, s.administrators, s.owners])
    );
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{a}/subgroups"), &[])
        .await;
    assert_success(&got);
    assert_eq!(
        sorted(int_list(&got.1["subgroups"])),
        sorted(vec![b, c, d, s.moderators, s.administrators, s.owners]),
        "recursive by default, the group itself excluded, each once"
    );
    assert_eq!(subgroups_of(&realm, c, false).await, Vec::<i64>::new());
    assert_eq!(
        subgroups_of(&realm, s.administrators, true).await,
        [s.owners]
    );
    assert_eq!(
        subgroups_of(&realm, s.internet, false).await,
        [
            s.owners,
            s.administrators,
            s.moderators,
            s.fullmembers,
            s.members,
            s.everyone
        ]
    );
    assert_eq!(
        subgroups_of(&realm, s.nobody, false).await,
        Vec::<i64>::new()
    );

    let api = realm.api(&realm.member);
    assert_error(
        &api.get("/user_groups/99999/subgroups", &[]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    assert_error(
        &api.get(
            &format!("/user_groups/{a}/subgroups"),
            &[p("direct_subgroup_only", "yes")],
        )
        .await,
        400,
        "BAD_REQUEST",
        "direct_subgroup_only is not valid JSON",
    );
    assert_error(
        &api.get(
            &format!("/user_groups/{a}/subgroups"),
            &[p("direct_subgroup_only", "1")],
        )
        .await,
        400,
        "BAD_REQUEST",
        "direct_subgroup_only is not a boolean",
    );
}

// ====================================================================== realms and consistency

#[tokio::test]
async fn another_realms_ids_are_unknown_here() {
    let realm = Realm::new();
    let mine = realm.create_group(&realm.owner, "mine", &[]).await;
    let (stranger, their_groups) = other_realm(&realm).await;
    let theirs = their_groups[0]["id"].as_i64().unwrap();
    let their_members = realm
        .cohort
        .cli_json(&["user", "list", "--json", "--realm", "Other"]);
    assert_eq!(their_members[0]["user_id"], stranger.id);
    // The other realm sees only its own groups, and we only ours.
    assert_eq!(their_groups.len(), 8);
    let ours = listed_ids(&realm, &realm.owner).await;
    assert!(ours.contains(&mine));
    assert!(their_groups
        .iter()
        .all(|g| !ours.contains(&g["id"].as_i64().unwrap())));
    let before = &realm.all_groups().await;

    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &create_params("g", &[stranger.id])).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", stranger.id)
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[theirs])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {theirs}")
    );
    let mut params = create_params("g", &[]);
    params.push(p("can_mention_group", theirs.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        patch(&realm, theirs, &[p("name", "hijacked")]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        deactivate(&realm, theirs).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        change_members(&realm, mine, &[p("add", ids(&[stranger.id]))]).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", stranger.id)
    );
    refused!(
        realm,
        before,
        change_subgroups(&realm, mine, &[p("add", ids(&[theirs]))]).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {theirs}")
    );
    let api = realm.api(&realm.member);
    assert_error(
        &api.get(&format!("/user_groups/{theirs}/members"), &[])
            .await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    assert_error(
        &api.get(&format!("/user_groups/{mine}/members/{}", stranger.id), &[])
            .await,
        400,
        "BAD_REQUEST",
        "No such user",
    );
    // Their realm is untouched too.
    let (_, body) = realm.api(&stranger).get("/user_groups", &[]).await;
    assert_eq!(body["user_groups"].as_array().unwrap(), &their_groups);
}

#[tokio::test]
async fn every_write_is_visible_to_the_next_read() {
    let realm = Realm::new();
    let writer = realm.api(&realm.owner);
    let reader = realm.api(&realm.member2);
    for i in 0..15 {
        let name = format!("ryw-{i}");
        let got = writer
            .post(
                "/user_groups/create",
                &[
                    p("name", name.as_str()),
                    p("description", ""),
                    p("members", "[]"),
                ],
            )
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        let gid = got.1["group_id"].as_i64().unwrap();
        let listed = reader.get("/user_groups", &[]).await.1;
        assert!(
            listed["user_groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["id"] == gid && g["name"] == name.as_str()),
            "round {i}: created group missing"
        );

        plain_success(
            &writer
                .patch(
                    &format!("/user_groups/{gid}"),
                    &[p("name", format!("{name}-x"))],
                )
                .await,
        );
        let listed = reader.get("/user_groups", &[]).await.1;
        assert!(
            listed["user_groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["id"] == gid && g["name"] == format!("{name}-x").as_str()),
            "round {i}: rename not visible"
        );

        plain_success(
            &writer
                .post(
                    &format!("/user_groups/{gid}/members"),
                    &[p("add", ids(&[realm.member.id]))],
                )
                .await,
        );
        let got = reader
            .get(
                &format!("/user_groups/{gid}/members/{}", realm.member.id),
                &[],
            )
            .await;
        assert_eq!(got.1["is_user_group_member"], true, "round {i}: {}", got.1);

        plain_success(
            &writer
                .post(&format!("/user_groups/{gid}/deactivate"), &[])
                .await,
        );
        let got = reader
            .get(&format!("/user_groups/{gid}/members"), &[])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "User group is deactivated.");
    }
}

/// Zulip checks `name.strip() == ""` in Python, whose whitespace includes the
/// ASCII information separators U+001C..U+001F (Rust's `trim` does not strip
/// them).
#[tokio::test]
async fn names_of_python_whitespace_only_are_empty() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "sep", &[]).await;
    let before = &realm.all_groups().await;
    for name in ["\u{1c}", "\u{1d}\u{1e}", " \u{1f} ", "\u{85}\u{a0}\u{3000}"] {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params(name, &[])).await,
            400,
            "BAD_REQUEST",
            "User group name can't be empty!"
        );
        refused!(
            realm,
            before,
            patch(&realm, gid, &[p("name", name)]).await,
            400,
            "BAD_REQUEST",
            "User group name can't be empty!"
        );
    }
}

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
/// authentication (reference 1.1, 2.1, 3.4).
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
    let group = realm.create_group(&realm.owner, "target", &[]).await;
    let before_members = realm.all_groups().await;
    let got = api
        .post(
            &format!("/user_groups/{group}/members"),
            &[("add", json(&too_many))],
        )
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "add lists more than 10000 ids.");
    assert_eq!(realm.all_groups().await, before_members);
    assert_ne!(before, before_members);
}
