//! Zulip's user-group endpoints, black-box, against a live `cohort serve`.
//!
//! Every endpoint of `/api/v1/user_groups…` (https://zulip.com/api/get-user-groups
//! and the endpoint pages it links): success paths
//! with the exact response bodies and group objects, and every bad input with
//! Zulip's status, `code` and `msg`, each followed by a check that the refused
//! request left no trace in `GET /user_groups?include_deactivated_groups=true`.
//! Successful writes are checked with the very next read (read-your-writes).

#[path = "../common/mod.rs"]
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

/// The keys of a user group object (https://zulip.com/api/get-user-groups), sorted.
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

/// Assert a 400 `BAD_REQUEST` whose exact text Zulip does not document, and
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

mod create;
mod deactivation;
mod list;
mod members;
mod realms;
mod requests;
mod subgroups;
mod update;
