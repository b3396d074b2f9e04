//! Who may do what on the user-group endpoints (https://zulip.com/api/roles-and-permissions,
//! https://zulip.com/api/group-setting-values): a
//! role × action matrix under the default settings, the bot switch, the
//! per-group and realm settings that grant more, and the realm-settings
//! endpoint itself. Every refusal must leave the group list untouched.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const GUEST: &str = "Not allowed for guest users";
const BOT: &str = "This endpoint does not accept bot requests.";
const DENIED: &str = "Insufficient permission";

// ------------------------------------------------------------------ helpers

fn ids(list: &[i64]) -> String {
    json(list)
}

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

/// A group created by `who` with explicit subgroups and extra create
/// parameters (settings as plain group-setting values).
async fn create_full(
    realm: &Realm,
    who: &Account,
    name: &str,
    members: &[i64],
    subgroups: &[i64],
    extra: &[(&str, String)],
) -> i64 {
    let mut params = vec![
        ("name", name.to_string()),
        ("description", format!("{name} description")),
        ("members", ids(members)),
    ];
    if !subgroups.is_empty() {
        params.push(("subgroups", ids(subgroups)));
    }
    params.extend(extra.iter().cloned());
    let got = realm.api(who).post("/user_groups/create", &params).await;
    assert_eq!(got.0, 200, "create {name}: {}", got.1);
    got.1["group_id"].as_i64().unwrap()
}

/// `{"new": value}` or `{"new": value, "old": old}`, JSON-encoded for a PATCH.
fn update(new: Value, old: Option<Value>) -> String {
    match old {
        Some(old) => json!({ "new": new, "old": old }).to_string(),
        None => json!({ "new": new }).to_string(),
    }
}

fn anonymous(members: &[i64], subgroups: &[i64]) -> Value {
    json!({ "direct_members": members, "direct_subgroups": subgroups })
}

async fn rename(realm: &Realm, who: &Account, group: i64, name: &str) -> (u16, Value) {
    realm
        .api(who)
        .patch(
            &format!("/user_groups/{group}"),
            &[("name", name.to_string())],
        )
        .await
}

async fn change_members(
    realm: &Realm,
    who: &Account,
    group: i64,
    params: &[(&str, String)],
) -> (u16, Value) {
    realm
        .api(who)
        .post(&format!("/user_groups/{group}/members"), params)
        .await
}

async fn deactivate(realm: &Realm, who: &Account, group: i64) -> (u16, Value) {
    realm
        .api(who)
        .post(&format!("/user_groups/{group}/deactivate"), &[])
        .await
}

async fn patch_realm(realm: &Realm, who: &Account, params: &[(&str, String)]) -> (u16, Value) {
    realm.api(who).patch("/realm", params).await
}

async fn direct_members(realm: &Realm, group: i64) -> Vec<i64> {
    ids_of(&realm.group(group).await["members"])
}

/// A refused request: Zulip's error, and no change to any group.
#[track_caller]
fn assert_refused(got: &(u16, Value), msg: &str) {
    assert_error(got, 400, "BAD_REQUEST", msg);
}

/// Run `request`, expect a refusal with `msg`, and check nothing changed:
/// neither the groups nor any realm's version.
/// The four-argument form names the error code (the status is always 400).
macro_rules! refused {
    ($realm:expr, $msg:expr, $request:expr) => {
        refused!($realm, "BAD_REQUEST", $msg, $request)
    };
    ($realm:expr, $code:expr, $msg:expr, $request:expr) => {{
        let before = $realm.all_groups().await;
        // The realms' versions: a refused request (including `PATCH /realm`,
        // whose settings no read shows) commits nothing.
        let realms_before = $realm.cohort.realms();
        let got = $request.await;
        assert_error(&got, 400, $code, $msg);
        assert_eq!(
            $realm.all_groups().await,
            before,
            "a refused request changed the groups"
        );
        assert_eq!(
            $realm.cohort.realms(),
            realms_before,
            "a refused request committed a change"
        );
        got
    }};
}

/// Poll until the bot may (or may not) use the group endpoints: the server
/// picks up CLI writes by polling the database.
async fn wait_for_bot_access(realm: &Realm, allowed: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = realm.api(&realm.bot).get("/user_groups", &[]).await;
        if (status == 200) == allowed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bot access never became {allowed}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ------------------------------------------------------------------ the matrix

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    List,
    Create,
    Rename,
    ChangeSetting,
    Deactivate,
    Reactivate,
    AddMember,
    RemoveMember,
    JoinSelf,
    LeaveSelf,
    AddSubgroup,
    RemoveSubgroup,
    ReadMembers,
    ReadSubgroups,
    MembershipCheck,
}

const ACTIONS: [Action; 15] = [
    Action::List,
    Action::Create,
    Action::Rename,
    Action::ChangeSetting,
    Action::Deactivate,
    Action::Reactivate,
    Action::AddMember,
    Action::RemoveMember,
    Action::JoinSelf,
    Action::LeaveSelf,
    Action::AddSubgroup,
    Action::RemoveSubgroup,
    Action::ReadMembers,
    Action::ReadSubgroups,
    Action::MembershipCheck,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Granted,
    Refused(&'static str),
}

/// The owner holds `can_manage_all_groups` (default `role:owners`).
fn owner_row(_: Action) -> Expect {
    Expect::Granted
}

/// Administrators, moderators and members (and bots treated as members) with
/// default settings, on a group the owner created: reads, creating (default
/// `can_create_groups` is `role:members`) and leaving (`can_leave_group` is
/// `role:everyone`) pass; every other write needs manage rights.
fn non_manager_row(action: Action) -> Expect {
    use Action::*;
    match action {
        List | Create | LeaveSelf | ReadMembers | ReadSubgroups | MembershipCheck => {
            Expect::Granted
        }
        _ => Expect::Refused(DENIED),
    }
}

/// Guests are turned away by the endpoint gate, except on deactivation, which
/// has no role gate and fails the permission check instead.
fn guest_row(action: Action) -> Expect {
    match action {
        Action::Deactivate => Expect::Refused(DENIED),
        _ => Expect::Refused(GUEST),
    }
}

/// Bots by default (Zulip before PR #39116): the bot gate everywhere except
/// deactivation, which has no role gate in any version
/// (https://zulip.com/api/deactivate-user-group).
fn bot_row(action: Action) -> Expect {
    match action {
        Action::Deactivate => Expect::Refused(DENIED),
        _ => Expect::Refused(BOT),
    }
}

/// The ids every cell works with.
struct Ids {
    /// A group owned by the owner, used as the subgroup to add, remove and read.
    sub: i64,
    nobody: i64,
    member2: i64,
}

/// The owner-created group a cell acts on, prepared for `action`.
async fn prepare(realm: &Realm, ids: &Ids, actor: &Account, action: Action, tag: &str) -> i64 {
    use Action::*;
    let members = match action {
        RemoveMember | ReadMembers | MembershipCheck => vec![ids.member2],
        LeaveSelf => vec![actor.id],
        _ => vec![],
    };
    let subgroups = match action {
        RemoveSubgroup | ReadSubgroups => vec![ids.sub],
        _ => vec![],
    };
    let group = create_full(realm, &realm.owner, tag, &members, &subgroups, &[]).await;
    if action == Reactivate {
        assert_success(&deactivate(realm, &realm.owner, group).await);
    }
    group
}

async fn perform(
    realm: &Realm,
    ids: &Ids,
    actor: &Account,
    action: Action,
    group: i64,
    tag: &str,
) -> (u16, Value) {
    use Action::*;
    let api = realm.api(actor);
    let path = format!("/user_groups/{group}");
    let members = format!("{path}/members");
    let subgroups = format!("{path}/subgroups");
    match action {
        List => api.get("/user_groups", &[]).await,
        Create => {
            api.post(
                "/user_groups/create",
                &[
                    ("name", format!("new-{tag}")),
                    ("description", String::new()),
                    ("members", "[]".into()),
                ],
            )
            .await
        }
        Rename => {
            api.patch(&path, &[("name", format!("renamed-{tag}"))])
                .await
        }
        ChangeSetting => {
            api.patch(
                &path,
                &[("can_mention_group", update(json!(ids.nobody), None))],
            )
            .await
        }
        Deactivate => api.post(&format!("{path}/deactivate"), &[]).await,
        Reactivate => api.patch(&path, &[("deactivated", "false".into())]).await,
        AddMember => {
            api.post(&members, &[("add", self::ids(&[ids.member2]))])
                .await
        }
        RemoveMember => {
            api.post(&members, &[("delete", self::ids(&[ids.member2]))])
                .await
        }
        JoinSelf => api.post(&members, &[("add", self::ids(&[actor.id]))]).await,
        LeaveSelf => {
            api.post(&members, &[("delete", self::ids(&[actor.id]))])
                .await
        }
        AddSubgroup => {
            api.post(&subgroups, &[("add", self::ids(&[ids.sub]))])
                .await
        }
        RemoveSubgroup => {
            api.post(&subgroups, &[("delete", self::ids(&[ids.sub]))])
                .await
        }
        ReadMembers => api.get(&members, &[]).await,
        ReadSubgroups => api.get(&subgroups, &[]).await,
        MembershipCheck => api.get(&format!("{members}/{}", ids.member2), &[]).await,
    }
}

/// The visible effect of a granted action; `Err` describes what is wrong.
async fn check_effect(
    realm: &Realm,
    ids: &Ids,
    actor: &Account,
    action: Action,
    group: i64,
    tag: &str,
    body: &Value,
) -> Result<(), String> {
    use Action::*;
    let g = realm.group(group).await;
    let ok = match action {
        List => body["user_groups"]
            .as_array()
            .is_some_and(|gs| gs.iter().any(|x| x["id"] == group)),
        Create => {
            let created = realm.group(body["group_id"].as_i64().unwrap_or(-1)).await;
            created["name"] == format!("new-{tag}").as_str() && created["creator_id"] == actor.id
        }
        Rename => g["name"] == format!("renamed-{tag}").as_str(),
        ChangeSetting => g["can_mention_group"] == ids.nobody,
        Deactivate => g["deactivated"] == true,
        Reactivate => g["deactivated"] == false,
        AddMember => ids_of(&g["members"]) == vec![ids.member2],
        RemoveMember | LeaveSelf => ids_of(&g["members"]).is_empty(),
        JoinSelf => ids_of(&g["members"]) == vec![actor.id],
        AddSubgroup => ids_of(&g["direct_subgroup_ids"]) == vec![ids.sub],
        RemoveSubgroup => ids_of(&g["direct_subgroup_ids"]).is_empty(),
        ReadMembers => ids_of(&body["members"]) == vec![ids.member2],
        ReadSubgroups => ids_of(&body["subgroups"]) == vec![ids.sub],
        MembershipCheck => body["is_user_group_member"] == true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "effect not visible; response {body}; group now {g}"
        ))
    }
}

async fn run_cell(
    realm: &Realm,
    ids: &Ids,
    actor: &Account,
    action: Action,
    expect: Expect,
    tag: &str,
) -> Result<(), String> {
    let group = prepare(realm, ids, actor, action, tag).await;
    let before = realm.all_groups().await;
    let (status, body) = perform(realm, ids, actor, action, group, tag).await;
    match expect {
        Expect::Granted => {
            if status != 200 || body["result"] != "success" {
                return Err(format!("expected success, got {status} {body}"));
            }
            check_effect(realm, ids, actor, action, group, tag, &body).await
        }
        Expect::Refused(msg) => {
            if status != 400
                || body["result"] != "error"
                || body["code"] != "BAD_REQUEST"
                || body["msg"] != msg
            {
                return Err(format!("expected 400 {msg:?}, got {status} {body}"));
            }
            if realm.all_groups().await != before {
                return Err("the refused request changed the groups".into());
            }
            Ok(())
        }
    }
}

/// Run one role's row; report every failing cell at once.
async fn run_row(realm: &Realm, label: &str, actor: &Account, expect: fn(Action) -> Expect) {
    let ids = Ids {
        sub: create_full(realm, &realm.owner, &format!("{label}-sub"), &[], &[], &[]).await,
        nobody: realm.system_group("role:nobody").await,
        member2: realm.member2.id,
    };
    let mut failures = Vec::new();
    for action in ACTIONS {
        let tag = format!("{label}-{action:?}");
        if let Err(why) = run_cell(realm, &ids, actor, action, expect(action), &tag).await {
            failures.push(format!(
                "{label} × {action:?} ({:?}): {why}",
                expect(action)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn matrix_owner_and_administrator() {
    let realm = Realm::new();
    run_row(&realm, "owner", &realm.owner, owner_row).await;
    run_row(&realm, "administrator", &realm.admin, non_manager_row).await;
}

#[tokio::test]
async fn matrix_moderator_and_member() {
    let realm = Realm::new();
    run_row(&realm, "moderator", &realm.moderator, non_manager_row).await;
    run_row(&realm, "member", &realm.member, non_manager_row).await;
}

#[tokio::test]
async fn matrix_guest() {
    let realm = Realm::new();
    run_row(&realm, "guest", &realm.guest, guest_row).await;
    gate_precedes_parameters(&realm, &realm.guest, GUEST).await;

    // A guest bot: the guest check runs before the bot check.
    let out = realm.cohort.cli_json(&[
        "user",
        "add",
        "--json",
        "--email",
        "guestbot@test.example",
        "--name",
        "Guest Bot",
        "--role",
        "guest",
        "--bot",
    ]);
    let guest_bot = Account {
        id: out["user_id"].as_i64().unwrap(),
        email: out["email"].as_str().unwrap().to_string(),
        key: out["api_key"].as_str().unwrap().to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = realm.api(&guest_bot).get("/users/me", &[]).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "new bot never usable: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    gate_precedes_parameters(&realm, &guest_bot, GUEST).await;
}

/// The guest and bot gates run before parameter parsing: malformed requests
/// still get the gate's message.
async fn gate_precedes_parameters(realm: &Realm, who: &Account, msg: &str) {
    let group = realm
        .create_group(&realm.owner, &format!("gate-{}", who.id), &[])
        .await;
    let api = realm.api(who);
    let path = format!("/user_groups/{group}");
    let bad = || {
        vec![
            ("can_mention_group", "not json".to_string()),
            ("add", "nope".into()),
        ]
    };
    refused!(
        realm,
        msg,
        api.get(
            "/user_groups",
            &[("include_deactivated_groups", "maybe".into())]
        )
    );
    refused!(realm, msg, api.post("/user_groups/create", &bad()));
    refused!(realm, msg, api.patch(&path, &bad()));
    refused!(realm, msg, api.patch(&path, &[]));
    refused!(realm, msg, api.post(&format!("{path}/members"), &bad()));
    refused!(realm, msg, api.post(&format!("{path}/members"), &[]));
    refused!(realm, msg, api.post(&format!("{path}/subgroups"), &bad()));
    refused!(
        realm,
        msg,
        api.get(
            &format!("{path}/members"),
            &[("direct_member_only", "1".into())]
        )
    );
    refused!(
        realm,
        msg,
        api.get(
            &format!("{path}/subgroups"),
            &[("direct_subgroup_only", "1".into())]
        )
    );
    refused!(
        realm,
        msg,
        api.get(
            &format!("{path}/members/{}", realm.member.id),
            &[("direct_member_only", "1".into())]
        )
    );
}

/// Bots are refused by default; once the realm lets bots manage groups (here
/// through the CLI, on the database the server is running on) they are
/// treated like their role (the test bot is a member).
#[tokio::test]
async fn matrix_bot_before_and_after_cli_switch() {
    let realm = Realm::new();
    run_row(&realm, "bot", &realm.bot, bot_row).await;
    gate_precedes_parameters(&realm, &realm.bot, BOT).await;
    let out = realm
        .cohort
        .cli(&["realm", "set", "--bots-may-manage-groups", "true"]);
    assert!(
        out.status.success(),
        "cohort realm set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_bot_access(&realm, true).await;
    run_row(&realm, "bot-enabled", &realm.bot, non_manager_row).await;
}

/// The same switch through `PATCH /realm` (an owner-only realm setting).
#[tokio::test]
async fn bot_switch_through_patch_realm() {
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "bots-here", &[]).await;
    let got = realm.api(&realm.bot).get("/user_groups", &[]).await;
    assert_refused(&got, BOT);

    // Not an administrator (the bot itself is a member): refused.
    for who in [&realm.member, &realm.bot] {
        refused!(
            realm,
            "UNAUTHORIZED_PRINCIPAL",
            "Must be an organization administrator",
            patch_realm(&realm, who, &[("bots_may_manage_groups", "true".into())])
        );
    }
    let got = realm.api(&realm.bot).get("/user_groups", &[]).await;
    assert_refused(&got, BOT);

    assert_success(
        &patch_realm(
            &realm,
            &realm.owner,
            &[("bots_may_manage_groups", "true".into())],
        )
        .await,
    );
    let got = realm.api(&realm.bot).get("/user_groups", &[]).await;
    assert_success(&got);
    // Treated like a member: may create and then manage its own group, may
    // not manage the owner's.
    let own = realm.create_group(&realm.bot, "bot-made", &[]).await;
    assert_success(&rename(&realm, &realm.bot, own, "bot-made-2").await);
    assert_eq!(realm.group(own).await["name"], "bot-made-2");
    refused!(
        realm,
        DENIED,
        rename(&realm, &realm.bot, group, "taken-over")
    );

    assert_success(
        &patch_realm(
            &realm,
            &realm.owner,
            &[("bots_may_manage_groups", "false".into())],
        )
        .await,
    );
    refused!(realm, BOT, rename(&realm, &realm.bot, own, "bot-made-3"));
}

// ------------------------------------------------------------------ group settings

/// `can_join_group` lets its holders add themselves, and only themselves.
#[tokio::test]
async fn group_settings_grant_join_add_remove_and_leave() {
    let realm = Realm::new();
    let (owner, member, member2, moderator, admin) = (
        &realm.owner,
        &realm.member,
        &realm.member2,
        &realm.moderator,
        &realm.admin,
    );
    let members_group = realm.system_group("role:members").await;
    let nobody = realm.system_group("role:nobody").await;

    // --- can_join_group = role:members (set through PATCH with a matching `old`).
    let join = realm.create_group(owner, "joinable", &[]).await;
    refused!(
        realm,
        DENIED,
        change_members(&realm, member, join, &[("add", ids(&[member.id]))])
    );
    assert_success(
        &realm
            .api(owner)
            .patch(
                &format!("/user_groups/{join}"),
                &[(
                    "can_join_group",
                    update(json!(members_group), Some(json!(nobody))),
                )],
            )
            .await,
    );
    assert_eq!(realm.group(join).await["can_join_group"], members_group);
    assert_success(&change_members(&realm, member, join, &[("add", ids(&[member.id]))]).await);
    assert_eq!(direct_members(&realm, join).await, vec![member.id]);
    // Moderators are members too (recursively).
    assert_success(
        &change_members(&realm, moderator, join, &[("add", ids(&[moderator.id]))]).await,
    );
    // Joining is not adding others: alone, or together with oneself.
    refused!(
        realm,
        DENIED,
        change_members(&realm, member, join, &[("add", ids(&[member2.id]))])
    );
    refused!(
        realm,
        DENIED,
        change_members(
            &realm,
            member2,
            join,
            &[("add", ids(&[member2.id, admin.id]))]
        )
    );
    // Guests are stopped by the endpoint gate whatever the setting says.
    refused!(
        realm,
        GUEST,
        change_members(
            &realm,
            &realm.guest,
            join,
            &[("add", ids(&[realm.guest.id]))]
        )
    );

    // --- can_add_members_group: adding others and adding subgroups; not
    // removing, not removing subgroups, not renaming.
    let sub_a = realm.create_group(owner, "sub-a", &[]).await;
    let sub_b = realm.create_group(owner, "sub-b", &[]).await;
    let adders = create_full(
        &realm,
        owner,
        "adders",
        &[],
        &[],
        &[(
            "can_add_members_group",
            anonymous(&[member.id], &[]).to_string(),
        )],
    )
    .await;
    assert_success(&change_members(&realm, member, adders, &[("add", ids(&[member2.id]))]).await);
    assert_success(
        &change_members(&realm, member, adders, &[("add_subgroups", ids(&[sub_a]))]).await,
    );
    assert_success(
        &realm
            .api(member)
            .post(
                &format!("/user_groups/{adders}/subgroups"),
                &[("add", ids(&[sub_b]))],
            )
            .await,
    );
    let g = realm.group(adders).await;
    assert_eq!(ids_of(&g["members"]), vec![member2.id]);
    assert_eq!(ids_of(&g["direct_subgroup_ids"]), vec![sub_a, sub_b]);
    // Adding oneself falls back to can_add_members_group when can_join_group refuses.
    assert_success(&change_members(&realm, member, adders, &[("add", ids(&[member.id]))]).await);
    refused!(
        realm,
        DENIED,
        change_members(&realm, member, adders, &[("delete", ids(&[member2.id]))])
    );
    refused!(
        realm,
        DENIED,
        change_members(
            &realm,
            member,
            adders,
            &[("delete_subgroups", ids(&[sub_a]))]
        )
    );
    refused!(
        realm,
        DENIED,
        realm.api(member).post(
            &format!("/user_groups/{adders}/subgroups"),
            &[("delete", ids(&[sub_b]))]
        )
    );
    refused!(realm, DENIED, rename(&realm, member, adders, "adders-2"));
    // Someone outside the setting may not add.
    refused!(
        realm,
        DENIED,
        change_members(&realm, moderator, adders, &[("add", ids(&[admin.id]))])
    );

    // --- can_remove_members_group = role:members: removing others, not adding.
    let removers = create_full(
        &realm,
        owner,
        "removers",
        &[member2.id, moderator.id],
        &[],
        &[("can_remove_members_group", members_group.to_string())],
    )
    .await;
    assert_success(
        &change_members(&realm, member, removers, &[("delete", ids(&[member2.id]))]).await,
    );
    assert_eq!(direct_members(&realm, removers).await, vec![moderator.id]);
    refused!(
        realm,
        DENIED,
        change_members(&realm, member, removers, &[("add", ids(&[admin.id]))])
    );

    // --- can_leave_group = role:nobody: leaving is blocked; managers may still remove.
    let stay = create_full(
        &realm,
        owner,
        "no-leaving",
        &[member.id, moderator.id],
        &[],
        &[("can_leave_group", nobody.to_string())],
    )
    .await;
    refused!(
        realm,
        DENIED,
        change_members(&realm, member, stay, &[("delete", ids(&[member.id]))])
    );
    assert_success(&change_members(&realm, owner, stay, &[("delete", ids(&[member.id]))]).await);
    assert_eq!(direct_members(&realm, stay).await, vec![moderator.id]);
    // With leaving blocked, removing oneself falls back to can_remove_members_group.
    assert_success(
        &realm
            .api(owner)
            .patch(
                &format!("/user_groups/{stay}"),
                &[(
                    "can_remove_members_group",
                    update(json!(members_group), None),
                )],
            )
            .await,
    );
    assert_success(
        &change_members(&realm, moderator, stay, &[("delete", ids(&[moderator.id]))]).await,
    );
    assert_eq!(direct_members(&realm, stay).await, Vec::<i64>::new());
}

/// `can_manage_group` naming one member lets that member do everything on the
/// group; a group's creator manages it by default.
#[tokio::test]
async fn can_manage_group_grants_everything_on_that_group() {
    let realm = Realm::new();
    let (owner, member, member2) = (&realm.owner, &realm.member, &realm.member2);
    let group = realm.create_group(owner, "managed", &[]).await;
    refused!(
        realm,
        DENIED,
        rename(&realm, member, group, "managed-by-mia")
    );

    let value = anonymous(&[member.id], &[]);
    assert_success(
        &realm
            .api(owner)
            .patch(
                &format!("/user_groups/{group}"),
                &[("can_manage_group", update(value.clone(), None))],
            )
            .await,
    );
    assert_eq!(realm.group(group).await["can_manage_group"], value);

    assert_success(&rename(&realm, member, group, "managed-by-mia").await);
    assert_success(
        &realm
            .api(member)
            .patch(
                &format!("/user_groups/{group}"),
                &[("description", "Mia's now".into())],
            )
            .await,
    );
    assert_success(&change_members(&realm, member, group, &[("add", ids(&[member2.id]))]).await);
    let g = realm.group(group).await;
    assert_eq!(g["name"], "managed-by-mia");
    assert_eq!(g["description"], "Mia's now");
    assert_eq!(ids_of(&g["members"]), vec![member2.id]);
    // Only the named member: member2 is in the group but does not manage it.
    refused!(realm, DENIED, rename(&realm, member2, group, "taken"));
    refused!(realm, DENIED, deactivate(&realm, member2, group));

    assert_success(&deactivate(&realm, member, group).await);
    assert_eq!(realm.group(group).await["deactivated"], true);
    assert_success(
        &realm
            .api(member)
            .patch(
                &format!("/user_groups/{group}"),
                &[("deactivated", "false".into())],
            )
            .await,
    );
    assert_eq!(realm.group(group).await["deactivated"], false);

    // Guests never hold can_manage_group (it does not allow role:everyone),
    // even when listed; deactivation has no guest gate, so this is the
    // permission check speaking.
    let guest = &realm.guest;
    assert_success(
        &realm
            .api(owner)
            .patch(
                &format!("/user_groups/{group}"),
                &[(
                    "can_manage_group",
                    update(anonymous(&[guest.id], &[]), Some(value.clone())),
                )],
            )
            .await,
    );
    refused!(realm, DENIED, deactivate(&realm, guest, group));
    refused!(realm, GUEST, rename(&realm, guest, group, "gus-group"));

    // A member's own group: the default can_manage_group is the creator alone.
    let own = realm.create_group(member2, "max-made", &[]).await;
    assert_eq!(
        realm.group(own).await["can_manage_group"],
        anonymous(&[member2.id], &[])
    );
    assert_success(&rename(&realm, member2, own, "max-made-2").await);
    refused!(realm, DENIED, rename(&realm, member, own, "mia-took-it"));
    refused!(
        realm,
        DENIED,
        rename(&realm, &realm.admin, own, "ada-took-it")
    );
    assert_success(&rename(&realm, owner, own, "owner-renamed").await);
}

// ------------------------------------------------------------------ realm settings

/// `can_manage_all_groups` moved to `role:administrators` lets administrators
/// (and owners, who are administrators) manage every group; `old` is checked,
/// and `role:nobody` is not an allowed value.
#[tokio::test]
async fn realm_can_manage_all_groups() {
    let realm = Realm::new();
    let (owner, admin, moderator) = (&realm.owner, &realm.admin, &realm.moderator);
    let owners = realm.system_group("role:owners").await;
    let admins = realm.system_group("role:administrators").await;
    let moderators = realm.system_group("role:moderators").await;
    let nobody = realm.system_group("role:nobody").await;
    let a = realm.create_group(owner, "owner-a", &[]).await;
    let b = realm.create_group(&realm.member, "member-b", &[]).await;
    refused!(realm, DENIED, rename(&realm, admin, a, "ada-a"));

    // A stale `old` fails and applies nothing.
    let got = refused!(
        realm,
        "EXPECTATION_MISMATCH",
        "'old' value does not match the expected value.",
        patch_realm(
            &realm,
            owner,
            &[(
                "can_manage_all_groups",
                update(json!(admins), Some(json!(moderators))),
            )],
        )
    );
    assert_eq!(got.1["field_name"], "old");
    refused!(realm, DENIED, rename(&realm, admin, a, "ada-a"));

    // role:nobody is not allowed for this setting.
    refused!(
        realm,
        "'can_manage_all_groups' setting cannot be set to 'role:nobody' group.",
        patch_realm(
            &realm,
            owner,
            &[("can_manage_all_groups", update(json!(nobody), None))],
        )
    );
    for (setting, group) in [
        ("can_manage_all_groups", "role:everyone"),
        ("can_manage_all_groups", "role:internet"),
        ("can_create_groups", "role:everyone"),
        ("can_create_groups", "role:internet"),
    ] {
        let id = realm.system_group(group).await;
        refused!(
            realm,
            &format!("'{setting}' setting cannot be set to '{group}' group."),
            patch_realm(&realm, owner, &[(setting, update(json!(id), None))])
        );
    }
    // ... and the owner still manages everything (nothing was applied).
    assert_success(&rename(&realm, owner, b, "member-b-1").await);

    assert_success(
        &patch_realm(
            &realm,
            owner,
            &[(
                "can_manage_all_groups",
                update(json!(admins), Some(json!(owners))),
            )],
        )
        .await,
    );
    assert_success(&rename(&realm, admin, a, "ada-a").await);
    assert_success(&rename(&realm, admin, b, "ada-b").await);
    assert_success(&change_members(&realm, admin, a, &[("add", ids(&[realm.member2.id]))]).await);
    assert_success(&deactivate(&realm, admin, b).await);
    assert_eq!(realm.group(a).await["name"], "ada-a");
    assert_eq!(realm.group(b).await["deactivated"], true);
    assert_success(&rename(&realm, owner, a, "owner-a-again").await);
    refused!(realm, DENIED, rename(&realm, moderator, a, "moe-a"));

    // Back to owners, with the right `old`: administrators lose it again.
    assert_success(
        &patch_realm(
            &realm,
            owner,
            &[(
                "can_manage_all_groups",
                update(json!(owners), Some(json!(admins))),
            )],
        )
        .await,
    );
    refused!(realm, DENIED, rename(&realm, admin, a, "ada-a-2"));
}

/// `can_create_groups = role:administrators`: members and moderators are
/// refused, and the check runs before parameter parsing.
#[tokio::test]
async fn realm_can_create_groups_is_checked_before_parameters() {
    let realm = Realm::new();
    let admins = realm.system_group("role:administrators").await;
    assert_success(
        &patch_realm(
            &realm,
            &realm.owner,
            &[("can_create_groups", update(json!(admins), None))],
        )
        .await,
    );
    let create = |who: &Account, params: Vec<(&'static str, String)>| {
        let api = realm.api(who);
        async move { api.post("/user_groups/create", &params).await }
    };
    let valid = |name: &str| {
        vec![
            ("name", name.to_string()),
            ("description", String::new()),
            ("members", "[]".to_string()),
        ]
    };
    for who in [&realm.member, &realm.moderator] {
        refused!(realm, DENIED, create(who, valid("not-allowed")));
        // Malformed: no name, members not JSON. Still a permission error.
        refused!(
            realm,
            DENIED,
            create(who, vec![("members", "not json".to_string())])
        );
        refused!(realm, DENIED, create(who, vec![]));
    }
    refused!(realm, GUEST, create(&realm.guest, vec![]));
    // An administrator gets the parameter error instead, and can create.
    let got = refused!(
        realm,
        "REQUEST_VARIABLE_MISSING",
        "Missing 'name' argument",
        create(
            &realm.admin,
            vec![("members", "[]".into()), ("description", String::new())],
        )
    );
    assert_eq!(got.1["var_name"], "name");
    let got = create(&realm.admin, valid("admins-only")).await;
    assert_success(&got);
    let id = got.1["group_id"].as_i64().unwrap();
    assert_eq!(realm.group(id).await["creator_id"], realm.admin.id);
    realm.create_group(&realm.owner, "owners-too", &[]).await;
}

/// `PATCH /realm`: administrators only; the group settings are owner-only.
#[tokio::test]
async fn patch_realm_requires_administrator_then_owner() {
    let realm = Realm::new();
    let admins = realm.system_group("role:administrators").await;
    for who in [&realm.member, &realm.moderator, &realm.guest, &realm.bot] {
        for setting in ["can_create_groups", "can_manage_all_groups"] {
            refused!(
                realm,
                "UNAUTHORIZED_PRINCIPAL",
                "Must be an organization administrator",
                patch_realm(&realm, who, &[(setting, update(json!(admins), None))])
            );
        }
    }
    for setting in ["can_create_groups", "can_manage_all_groups"] {
        refused!(
            realm,
            "UNAUTHORIZED_PRINCIPAL",
            "Must be an organization owner",
            patch_realm(
                &realm,
                &realm.admin,
                &[(setting, update(json!(admins), None))],
            )
        );
    }
    // Nothing was applied: members still create, administrators still cannot
    // manage the owner's groups.
    let group = realm
        .create_group(&realm.member, "still-allowed", &[])
        .await;
    let owners_group = realm.create_group(&realm.owner, "owners-group", &[]).await;
    refused!(
        realm,
        DENIED,
        rename(&realm, &realm.admin, owners_group, "x")
    );
    assert_success(&rename(&realm, &realm.member, group, "still-mine").await);
}

/// System groups cannot be changed through the API by anyone, not even the owner.
#[tokio::test]
async fn system_groups_are_immutable() {
    let realm = Realm::new();
    let members = realm.system_group("role:members").await;
    let moderators = realm.system_group("role:moderators").await;
    let admins = realm.system_group("role:administrators").await;
    let owners = realm.system_group("role:owners").await;
    let everyone = realm.system_group("role:everyone").await;
    let nobody = realm.system_group("role:nobody").await;
    let user_group = realm.create_group(&realm.owner, "plain", &[]).await;
    let (m2, mem) = (realm.member2.id, realm.member.id);
    for who in [&realm.owner, &realm.admin, &realm.member] {
        let api = realm.api(who);
        refused!(realm, DENIED, rename(&realm, who, members, "renamed"));
        refused!(
            realm,
            DENIED,
            api.patch(
                &format!("/user_groups/{members}"),
                &[("description", "changed".into())]
            )
        );
        refused!(
            realm,
            DENIED,
            api.patch(
                &format!("/user_groups/{members}"),
                &[("can_mention_group", update(json!(nobody), None))]
            )
        );
        refused!(
            realm,
            DENIED,
            api.patch(
                &format!("/user_groups/{everyone}"),
                &[("deactivated", "false".into())]
            )
        );
        refused!(realm, DENIED, deactivate(&realm, who, nobody));
        refused!(
            realm,
            DENIED,
            change_members(&realm, who, moderators, &[("add", ids(&[m2]))])
        );
        refused!(
            realm,
            DENIED,
            change_members(&realm, who, members, &[("delete", ids(&[mem]))])
        );
        refused!(
            realm,
            DENIED,
            change_members(&realm, who, everyone, &[("delete", ids(&[who.id]))])
        );
        refused!(
            realm,
            DENIED,
            change_members(
                &realm,
                who,
                moderators,
                &[("add_subgroups", ids(&[user_group]))]
            )
        );
        refused!(
            realm,
            DENIED,
            api.post(
                &format!("/user_groups/{admins}/subgroups"),
                &[("delete", ids(&[owners]))]
            )
        );
    }
    // Guests are stopped by the gate first, except on deactivation.
    refused!(realm, GUEST, rename(&realm, &realm.guest, members, "g"));
    refused!(realm, DENIED, deactivate(&realm, &realm.guest, members));
    // They remain usable as subgroups of user groups.
    assert_success(
        &change_members(
            &realm,
            &realm.owner,
            user_group,
            &[("add_subgroups", ids(&[moderators]))],
        )
        .await,
    );
}
