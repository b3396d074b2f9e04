//! The users endpoints a group administrator needs (https://zulip.com/api/get-users
//! and the pages it links):
//! listing and looking up users, creating them, changing roles and names, and
//! deactivation/reactivation with their effect on group membership.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const SYSTEM_GROUPS: [&str; 8] = [
    "role:nobody",
    "role:owners",
    "role:administrators",
    "role:moderators",
    "role:fullmembers",
    "role:members",
    "role:everyone",
    "role:internet",
];

// ------------------------------------------------------------------ helpers

fn ids_of(value: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    out.sort_unstable();
    out
}

/// `YYYY-MM-DDTHH:MM+00:00`, Zulip's minute-precision `date_joined`.
fn is_minute_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 22
        && text.ends_with("+00:00")
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
}

fn is_gravatar_url(value: &Value) -> bool {
    let Some(url) = value.as_str() else {
        return false;
    };
    let Some(rest) = url.strip_prefix("https://secure.gravatar.com/avatar/") else {
        return false;
    };
    let hash = rest.split('?').next().unwrap_or("");
    hash.len() == 32 && hash.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Every field of Zulip's user object, with the values this account must have.
#[track_caller]
fn assert_user(user: &Value, id: i64, email: &str, name: &str, role: i64, bot: bool) {
    assert_eq!(user["user_id"], id, "{user}");
    assert_eq!(user["email"], email, "{user}");
    assert_eq!(user["delivery_email"], email, "{user}");
    assert_eq!(user["full_name"], name, "{user}");
    assert!(
        is_minute_timestamp(user["date_joined"].as_str().unwrap_or("")),
        "date_joined: {user}"
    );
    assert_eq!(user["is_active"], true, "{user}");
    assert_eq!(user["is_owner"], role == 100, "{user}");
    assert_eq!(user["is_admin"], role <= 200, "{user}");
    assert_eq!(user["is_guest"], role == 600, "{user}");
    assert_eq!(user["is_bot"], bot, "{user}");
    assert_eq!(user["role"], role, "{user}");
    assert!(user["timezone"].is_string(), "timezone: {user}");
    assert!(user.get("avatar_url").is_some(), "avatar_url: {user}");
    assert!(user["avatar_version"].is_i64(), "avatar_version: {user}");
    assert_eq!(user["is_imported_stub"], false, "{user}");
    if bot {
        assert!(user["bot_type"].is_i64(), "bot_type: {user}");
        let owner = &user["bot_owner_id"];
        assert!(
            user.get("bot_owner_id").is_some() && (owner.is_null() || owner.is_i64()),
            "bot_owner_id: {user}"
        );
    } else {
        // Current code omits it for humans; the OpenAPI examples show null.
        assert!(user["bot_type"].is_null(), "bot_type on a human: {user}");
    }
}

/// The direct members of each system group, by name.
async fn system_members(realm: &Realm) -> Vec<(String, Vec<i64>)> {
    let (status, body) = realm.api(&realm.owner).get("/user_groups", &[]).await;
    assert_eq!(status, 200, "GET /user_groups: {body}");
    body["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["is_system_group"] == true)
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                ids_of(&g["members"]),
            )
        })
        .collect()
}

/// `user` is a direct member of exactly the `expected` system groups.
#[track_caller]
fn assert_direct_system_groups(groups: &[(String, Vec<i64>)], user: i64, expected: &[&str]) {
    assert_eq!(groups.len(), SYSTEM_GROUPS.len(), "{groups:?}");
    let got: Vec<&str> = groups
        .iter()
        .filter(|(_, members)| members.contains(&user))
        .map(|(name, _)| name.as_str())
        .collect();
    let mut want = expected.to_vec();
    want.sort_unstable();
    let mut got_sorted = got.clone();
    got_sorted.sort_unstable();
    assert_eq!(got_sorted, want, "system groups of user {user}");
}

async fn list_users(realm: &Realm, who: &Account, params: &[(&str, String)]) -> Vec<Value> {
    let got = realm.api(who).get("/users", params).await;
    assert_success(&got);
    got.1["members"].as_array().unwrap().clone()
}

fn find(users: &[Value], id: i64) -> Value {
    users
        .iter()
        .find(|u| u["user_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("user {id} not listed"))
}

/// `GET /user_groups/{id}/members`, sorted.
async fn group_members(realm: &Realm, group: i64, direct_only: bool) -> Vec<i64> {
    let got = realm
        .api(&realm.owner)
        .get(
            &format!("/user_groups/{group}/members"),
            &[("direct_member_only", direct_only.to_string())],
        )
        .await;
    assert_success(&got);
    ids_of(&got.1["members"])
}

async fn set_role(realm: &Realm, who: &Account, user: i64, role: i64) -> (u16, Value) {
    realm
        .api(who)
        .patch(&format!("/users/{user}"), &[("role", role.to_string())])
        .await
}

// ------------------------------------------------------------------ reading

#[tokio::test]
async fn list_users_returns_every_user_with_zulips_fields() {
    let realm = Realm::new();
    let accounts = [
        (&realm.owner, "Olivia Owner", 100, false),
        (&realm.admin, "Ada Admin", 200, false),
        (&realm.moderator, "Moe Moderator", 300, false),
        (&realm.member, "Mia Member", 400, false),
        (&realm.member2, "Max Member", 400, false),
        (&realm.guest, "Gus Guest", 600, false),
        (&realm.bot, "Bob Bot", 400, true),
    ];
    // Anyone may list, guests and bots included.
    for who in [&realm.member, &realm.guest, &realm.bot] {
        let users = list_users(&realm, who, &[]).await;
        assert_eq!(users.len(), accounts.len(), "{users:?}");
        for (account, name, role, bot) in accounts {
            let user = find(&users, account.id);
            assert_user(&user, account.id, &account.email, name, role, bot);
            // client_gravatar defaults to true: no URL for gravatar users.
            assert!(user["avatar_url"].is_null(), "{user}");
        }
    }
    let users = list_users(
        &realm,
        &realm.member,
        &[("client_gravatar", "false".into())],
    )
    .await;
    for user in &users {
        assert!(is_gravatar_url(&user["avatar_url"]), "{user}");
    }

    // user_ids narrows the list.
    let wanted = [realm.admin.id, realm.guest.id, realm.bot.id];
    let users = list_users(&realm, &realm.member, &[("user_ids", json(wanted))]).await;
    let mut got: Vec<i64> = users
        .iter()
        .map(|u| u["user_id"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = wanted.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);

    // user_ids is bounded like every id list: 10,000 ids, not one more.
    let at_limit = vec![realm.admin.id; 10_000];
    let users = list_users(&realm, &realm.member, &[("user_ids", json(&at_limit))]).await;
    assert_eq!(users.len(), 10_000);
    let over = vec![realm.admin.id; 10_001];
    assert_error(
        &realm
            .api(&realm.member)
            .get("/users", &[("user_ids", json(&over))])
            .await,
        400,
        "BAD_REQUEST",
        "user_ids lists more than 10000 ids.",
    );

    // Deactivated users stay in the list, marked inactive.
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{}", realm.member2.id), &[])
            .await,
    );
    let users = list_users(&realm, &realm.member, &[]).await;
    assert_eq!(users.len(), accounts.len());
    assert_eq!(find(&users, realm.member2.id)["is_active"], false);
    assert_eq!(find(&users, realm.member.id)["is_active"], true);
}

#[tokio::test]
async fn single_user_lookups_and_me() {
    let realm = Realm::new();
    let api = realm.api(&realm.member);

    let got = api.get(&format!("/users/{}", realm.admin.id), &[]).await;
    assert_success(&got);
    assert_user(
        &got.1["user"],
        realm.admin.id,
        &realm.admin.email,
        "Ada Admin",
        200,
        false,
    );
    assert!(got.1["user"]["avatar_url"].is_null());
    let got = api
        .get(
            &format!("/users/{}", realm.admin.id),
            &[("client_gravatar", "false".into())],
        )
        .await;
    assert!(is_gravatar_url(&got.1["user"]["avatar_url"]), "{}", got.1);

    let got = api.get(&format!("/users/{}", realm.guest.email), &[]).await;
    assert_success(&got);
    assert_user(
        &got.1["user"],
        realm.guest.id,
        &realm.guest.email,
        "Gus Guest",
        600,
        false,
    );
    let got = api.get(&format!("/users/{}", realm.bot.id), &[]).await;
    assert_success(&got);
    assert_user(
        &got.1["user"],
        realm.bot.id,
        &realm.bot.email,
        "Bob Bot",
        400,
        true,
    );

    // /users/me: the caller's own fields at the top level, gravatar URL included.
    let got = api.get("/users/me", &[]).await;
    assert_success(&got);
    let me = &got.1;
    assert_user(
        me,
        realm.member.id,
        &realm.member.email,
        "Mia Member",
        400,
        false,
    );
    assert!(me.get("user").is_none(), "{me}");
    assert!(me["max_message_id"].is_i64(), "{me}");
    assert!(is_gravatar_url(&me["avatar_url"]), "{me}");
    let got = realm.api(&realm.bot).get("/users/me", &[]).await;
    assert_success(&got);
    assert_eq!(got.1["user_id"], realm.bot.id);
    assert_eq!(got.1["is_bot"], true);

    // Unknown users.
    for path in ["/users/999999", "/users/nobody@test.example"] {
        let got = api.get(path, &[]).await;
        assert_error(&got, 400, "BAD_REQUEST", "No such user");
    }

    // Another realm's user, by id and by email, once the server knows that realm.
    let other = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--json",
        "--name",
        "Other",
        "--owner-email",
        "stranger@other.example",
        "--owner-name",
        "Sam Stranger",
    ]);
    let stranger = Account {
        id: 0,
        email: "stranger@other.example".into(),
        key: other["api_key"].as_str().unwrap().to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let stranger_id = loop {
        let (status, body) = realm.api(&stranger).get("/users/me", &[]).await;
        if status == 200 {
            break body["user_id"].as_i64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the server never picked up the new realm: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for path in [
        format!("/users/{stranger_id}"),
        "/users/stranger@other.example".to_string(),
    ] {
        let got = api.get(&path, &[]).await;
        assert_error(&got, 400, "BAD_REQUEST", "No such user");
    }
    // ... and the stranger cannot see this realm's users either.
    let got = realm
        .api(&stranger)
        .get(&format!("/users/{}", realm.member.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "No such user");
    let users = list_users(&realm, &realm.member, &[]).await;
    assert!(users.iter().all(|u| u["user_id"] != stranger_id));
}

// ------------------------------------------------------------------ creating

#[tokio::test]
async fn create_users() {
    let realm = Realm::new();
    let owner = realm.api(&realm.owner);
    let form = |email: &str, name: &str| {
        vec![
            ("email", email.to_string()),
            ("password", "correct horse battery staple".to_string()),
            ("full_name", name.to_string()),
        ]
    };
    let count = || async { list_users(&realm, &realm.owner, &[]).await.len() };
    let before = count().await;

    // The owner made by `cohort init` holds can_create_users.
    let got = owner
        .post("/users", &form("newbie@test.example", "New User"))
        .await;
    assert_success(&got);
    let id = got.1["user_id"].as_i64().expect("user_id");
    let user = owner.get(&format!("/users/{id}"), &[]).await.1["user"].clone();
    assert_user(&user, id, "newbie@test.example", "New User", 400, false);
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, id, &["role:members", "role:fullmembers"]);
    let members = realm.system_group("role:members").await;
    let got = owner
        .get(&format!("/user_groups/{members}/members/{id}"), &[])
        .await;
    assert_eq!(got.1["is_user_group_member"], true, "{}", got.1);
    assert_eq!(count().await, before + 1);
    let before = before + 1;

    // Names are stored trimmed.
    let got = owner
        .post("/users", &form("spaced@test.example", "  Spaced Name  "))
        .await;
    assert_success(&got);
    let spaced = got.1["user_id"].as_i64().unwrap();
    let user = owner.get(&format!("/users/{spaced}"), &[]).await;
    assert_eq!(user.1["user"]["full_name"], "Spaced Name");
    let before = before + 1;

    // An administrator granted can_create_users (an operator's decision).
    let out = realm.cohort.cli_json(&[
        "user",
        "add",
        "--json",
        "--email",
        "creator@test.example",
        "--name",
        "Cora Creator",
        "--role",
        "administrator",
        "--can-create-users",
    ]);
    let creator = Account {
        id: out["user_id"].as_i64().unwrap(),
        email: out["email"].as_str().unwrap().to_string(),
        key: out["api_key"].as_str().unwrap().to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = realm.api(&creator).get("/users/me", &[]).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "new admin never usable: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = realm
        .api(&creator)
        .post("/users", &form("cora-made@test.example", "Cora's Hire"))
        .await;
    assert_success(&got);
    let before = before + 2;

    // An administrator without can_create_users.
    let got = realm
        .api(&realm.admin)
        .post("/users", &form("a@test.example", "Ada's Friend"))
        .await;
    assert_error(
        &got,
        400,
        "BAD_REQUEST",
        "User not authorized to create users",
    );
    // Not an administrator at all.
    for who in [&realm.moderator, &realm.member, &realm.guest, &realm.bot] {
        let got = realm
            .api(who)
            .post("/users", &form("b@test.example", "Someone Else"))
            .await;
        assert_error(
            &got,
            400,
            "UNAUTHORIZED_PRINCIPAL",
            "Must be an organization administrator",
        );
    }

    // Duplicate emails, compared case-insensitively.
    for email in [
        "newbie@test.example",
        "NEWBIE@Test.Example",
        "member@test.example",
        "Member@TEST.example",
    ] {
        let got = owner.post("/users", &form(email, "Duplicate Person")).await;
        assert_error(&got, 400, "BAD_REQUEST", "Email is already in use.");
    }

    // A deactivated user's address stays taken.
    assert_success(
        &owner
            .delete(&format!("/users/{}", realm.member2.id), &[])
            .await,
    );
    let got = owner
        .post("/users", &form("member2@test.example", "Max Again"))
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "Email is already in use.");

    // An invalid address. Zulip's view reports a form failure as
    // "Bad name or username" (https://zulip.com/api/create-user lists both).
    let got = owner
        .post("/users", &form("not-an-email", "Valid Name"))
        .await;
    assert_eq!(got.0, 400, "{}", got.1);
    assert_eq!(got.1["code"], "BAD_REQUEST", "{}", got.1);
    let msg = got.1["msg"].as_str().unwrap_or("");
    assert!(
        msg == "Bad name or username"
            || msg == "Email 'not-an-email' not allowed in this organization",
        "{}",
        got.1
    );

    // A missing password.
    let got = owner
        .post(
            "/users",
            &[
                ("email", "nopass@test.example".to_string()),
                ("full_name", "No Password".to_string()),
            ],
        )
        .await;
    assert_error(
        &got,
        400,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'password' argument",
    );
    assert_eq!(got.1["var_name"], "password");

    // Bad names.
    for (name, msg) in [
        ("A", "Name too short!"),
        ("  ", "Name too short!"),
        ("Bad*Name", "Invalid characters in name!"),
        ("Mention @me", "Invalid characters in name!"),
    ] {
        let got = owner
            .post("/users", &form("named@test.example", name))
            .await;
        assert_error(&got, 400, "BAD_REQUEST", msg);
    }

    assert_eq!(count().await, before, "a refused request created a user");
}

// ------------------------------------------------------------------ updating

#[tokio::test]
async fn role_changes_move_users_between_system_groups() {
    let realm = Realm::new();
    let (owner, admin, member) = (&realm.owner, &realm.admin, &realm.member);
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, member.id, &["role:members", "role:fullmembers"]);
    assert_direct_system_groups(&groups, owner.id, &["role:owners"]);
    assert_direct_system_groups(&groups, realm.guest.id, &["role:everyone"]);

    // The only owner cannot stop being one.
    let got = set_role(&realm, owner, owner.id, 200).await;
    assert_error(
        &got,
        400,
        "BAD_REQUEST",
        "The owner permission cannot be removed from the only organization owner.",
    );
    for (role, expected) in [
        (300, &["role:moderators"][..]),
        (200, &["role:administrators"]),
        (600, &["role:everyone"]),
        (400, &["role:members", "role:fullmembers"]),
        (100, &["role:owners"]),
    ] {
        assert_success(&set_role(&realm, owner, member.id, role).await);
        let groups = system_members(&realm).await;
        assert_direct_system_groups(&groups, member.id, expected);
        let user = realm
            .api(owner)
            .get(&format!("/users/{}", member.id), &[])
            .await;
        assert_eq!(user.1["user"]["role"], role, "{}", user.1);
    }
    // Two owners now: the original one may step down.
    assert_success(&set_role(&realm, owner, owner.id, 200).await);
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, owner.id, &["role:administrators"]);
    assert_direct_system_groups(&groups, member.id, &["role:owners"]);
    // Recursive membership follows: an owner is a member of role:members.
    let members = realm.system_group("role:members").await;
    let got = realm
        .api(admin)
        .get(
            &format!("/user_groups/{members}/members/{}", member.id),
            &[],
        )
        .await;
    assert_eq!(got.1["is_user_group_member"], true, "{}", got.1);

    // Full name.
    let m2 = realm.member2.id;
    assert_success(
        &realm
            .api(admin)
            .patch(
                &format!("/users/{m2}"),
                &[("full_name", "Max Renamed".into())],
            )
            .await,
    );
    let user = realm.api(admin).get(&format!("/users/{m2}"), &[]).await;
    assert_eq!(user.1["user"]["full_name"], "Max Renamed");

    // Invalid role value.
    let got = set_role(&realm, member, m2, 250).await;
    assert_error(&got, 400, "BAD_REQUEST", "Invalid role");

    // Non-administrators may change nobody, themselves included.
    for who in [&realm.moderator, &realm.member2, &realm.guest] {
        let got = realm
            .api(who)
            .patch(&format!("/users/{m2}"), &[("full_name", "Hijacked".into())])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "Insufficient permission");
        let got = set_role(&realm, who, who.id, 200).await;
        assert_error(&got, 400, "BAD_REQUEST", "Insufficient permission");
    }
    let user = realm.api(admin).get(&format!("/users/{m2}"), &[]).await;
    assert_eq!(user.1["user"]["full_name"], "Max Renamed");
    assert_eq!(user.1["user"]["role"], 400);

    // An administrator (the former owner, now role 200) may change roles,
    // but not to or from owner.
    assert_success(&set_role(&realm, owner, m2, 300).await);
    for (target, role) in [(m2, 100), (member.id, 200)] {
        let got = set_role(&realm, admin, target, role).await;
        assert_error(
            &got,
            400,
            "UNAUTHORIZED_PRINCIPAL",
            "Must be an organization owner",
        );
    }
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, m2, &["role:moderators"]);
    assert_direct_system_groups(&groups, member.id, &["role:owners"]);

    // A role changed while deactivated takes effect on reactivation.
    let api = realm.api(member);
    assert_success(&api.delete(&format!("/users/{m2}"), &[]).await);
    assert_success(&set_role(&realm, member, m2, 600).await);
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, m2, &[]);
    assert_success(&api.post(&format!("/users/{m2}/reactivate"), &[]).await);
    let groups = system_members(&realm).await;
    assert_direct_system_groups(&groups, m2, &["role:everyone"]);
}

// ------------------------------------------------------------------ deactivation

#[tokio::test]
async fn deactivation_hides_memberships_until_reactivation() {
    let realm = Realm::new();
    let (owner, admin, member, member2) =
        (&realm.owner, &realm.admin, &realm.member, &realm.member2);
    let api = realm.api(owner);
    // A group with both as members and as an anonymous setting value.
    let both =
        serde_json::json!({"direct_members": [member.id, member2.id], "direct_subgroups": []});
    let got = api
        .post(
            "/user_groups/create",
            &[
                ("name", "team".to_string()),
                ("description", String::new()),
                ("members", json([member.id, member2.id])),
                ("can_mention_group", both.to_string()),
            ],
        )
        .await;
    assert_success(&got);
    let group = got.1["group_id"].as_i64().unwrap();
    let members = realm.system_group("role:members").await;
    let fullmembers = realm.system_group("role:fullmembers").await;
    assert_success(
        &realm
            .api(admin)
            .delete(&format!("/users/{}", member.id), &[])
            .await,
    );
    assert_eq!(
        ids_of(&realm.group(group).await["members"]),
        vec![member2.id]
    );
    assert_eq!(group_members(&realm, group, true).await, vec![member2.id]);
    assert_eq!(
        realm.group(group).await["can_mention_group"],
        serde_json::json!({"direct_members": [member2.id], "direct_subgroups": []})
    );
    assert!(!ids_of(&realm.group(members).await["members"]).contains(&member.id));
    assert!(!ids_of(&realm.group(fullmembers).await["members"]).contains(&member.id));
    assert!(!group_members(&realm, members, false)
        .await
        .contains(&member.id));
    let got = api
        .get(&format!("/user_groups/{group}/members/{}", member.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "User is deactivated");
    let user = api.get(&format!("/users/{}", member.id), &[]).await;
    assert_eq!(user.1["user"]["is_active"], false, "{}", user.1);

    // The account can no longer authenticate.
    let got = realm.api(member).get("/users/me", &[]).await;
    assert_error(&got, 401, "UNAUTHORIZED", "Account is deactivated");
    let got = realm.api(member).get("/user_groups", &[]).await;
    assert_error(&got, 401, "UNAUTHORIZED", "Account is deactivated");

    // Deactivating again.
    let got = api.delete(&format!("/users/{}", member.id), &[]).await;
    assert_error(&got, 400, "BAD_REQUEST", "User is deactivated");

    // Reactivation brings the memberships back.
    assert_success(
        &api.post(&format!("/users/{}/reactivate", member.id), &[])
            .await,
    );
    assert_eq!(
        ids_of(&realm.group(group).await["members"]),
        vec![member.id, member2.id]
    );
    assert_eq!(
        group_members(&realm, group, true).await,
        vec![member.id, member2.id]
    );
    assert_eq!(realm.group(group).await["can_mention_group"], both);
    assert!(ids_of(&realm.group(members).await["members"]).contains(&member.id));
    assert!(ids_of(&realm.group(fullmembers).await["members"]).contains(&member.id));
    assert!(group_members(&realm, members, false)
        .await
        .contains(&member.id));
    let got = realm.api(member).get("/users/me", &[]).await;
    assert_success(&got);
    assert_eq!(got.1["is_active"], true);

    let got = api
        .post(&format!("/users/{}/reactivate", member.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "User is already active.");

    // The only owner.
    let got = api.delete(&format!("/users/{}", owner.id), &[]).await;
    assert_error(
        &got,
        400,
        "BAD_REQUEST",
        "Cannot deactivate the only organization owner",
    );
    let got = realm
        .api(admin)
        .delete(&format!("/users/{}", owner.id), &[])
        .await;
    assert_error(
        &got,
        400,
        "UNAUTHORIZED_PRINCIPAL",
        "Must be an organization owner",
    );
    // Bots are not deactivated through this endpoint; unknown users are unknown.
    for target in [realm.bot.id, 999_999] {
        let got = api.delete(&format!("/users/{target}"), &[]).await;
        assert_error(&got, 400, "BAD_REQUEST", "No such user");
    }
    let got = api.post("/users/999999/reactivate", &[]).await;
    assert_error(&got, 400, "BAD_REQUEST", "No such user");
    // Non-administrators may deactivate nobody.
    let got = realm
        .api(member)
        .delete(&format!("/users/{}", member2.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "Insufficient permission");

    // Nothing in the refusals changed anyone.
    let users = list_users(&realm, owner, &[]).await;
    assert!(users.iter().all(|u| u["is_active"] == true), "{users:?}");
    assert_eq!(
        ids_of(&realm.group(group).await["members"]),
        vec![member.id, member2.id]
    );
}

/// Reactivation is for administrators: anyone else is refused, and the
/// refusal commits nothing.
#[tokio::test]
async fn reactivation_needs_an_administrator() {
    let realm = Realm::new();
    let target = realm.member2.id;
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{target}"), &[])
            .await,
    );
    let before = realm.cohort.realms();
    for who in [&realm.moderator, &realm.member, &realm.guest, &realm.bot] {
        let got = realm
            .api(who)
            .post(&format!("/users/{target}/reactivate"), &[])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "Insufficient permission");
        assert_eq!(
            realm.cohort.realms(),
            before,
            "a refused reactivation committed"
        );
    }
    let user = realm
        .api(&realm.owner)
        .get(&format!("/users/{target}"), &[])
        .await;
    assert_eq!(user.1["user"]["is_active"], false, "{}", user.1);
    assert_success(
        &realm
            .api(&realm.admin)
            .post(&format!("/users/{target}/reactivate"), &[])
            .await,
    );
    let user = realm
        .api(&realm.owner)
        .get(&format!("/users/{target}"), &[])
        .await;
    assert_eq!(user.1["user"]["is_active"], true, "{}", user.1);
}

/// `DELETE /users/me` (https://zulip.com/api/deactivate-own-user): self-deactivation, refused for the
/// only owner with `CANNOT_DEACTIVATE_LAST_USER`.
#[tokio::test]
async fn deactivating_oneself() {
    let realm = Realm::new();
    let got = realm.api(&realm.owner).delete("/users/me", &[]).await;
    assert_error(
        &got,
        400,
        "CANNOT_DEACTIVATE_LAST_USER",
        "Cannot deactivate the only organization owner.",
    );
    assert_eq!(got.1["is_last_owner"], true, "{}", got.1);
    assert!(got.1["entity"].is_string(), "{}", got.1);

    let group = realm
        .create_group(&realm.owner, "mine", &[realm.member.id])
        .await;
    assert_success(&realm.api(&realm.member).delete("/users/me", &[]).await);
    let got = realm.api(&realm.member).get("/users/me", &[]).await;
    assert_error(&got, 401, "UNAUTHORIZED", "Account is deactivated");
    assert_eq!(group_members(&realm, group, true).await, Vec::<i64>::new());
}
