//! Operator commands on an existing database: users, groups, realm settings.

use crate::args::{
    GroupCommand, ListArgs, RealmCommand, RealmKeyCommand, RealmSelector, RealmSetArgs, UserCommand,
};
use crate::setup::{self, open_engine};
use anyhow::{anyhow, bail, Result};
use cohort_core::command::{CreateUser, SettingUpdate, UpdateRealm, UpdateUser};
use cohort_core::{
    Actor, Command, GroupId, RealmId, RealmSetting, Reply, Role, SettingValue, Snapshot,
};
use cohort_engine::{secrets, Engine, EngineConfig};
use serde_json::json;
use std::sync::Arc;

/// The realm `--realm` names, or the only one.
pub fn pick_realm(engine: &Engine, selector: &RealmSelector) -> Result<Arc<Snapshot>> {
    let realms: Vec<Arc<Snapshot>> = engine
        .realm_ids()
        .into_iter()
        .filter_map(|id| engine.snapshot(id))
        .collect();
    match &selector.realm {
        Some(wanted) => realms
            .into_iter()
            .find(|s| s.realm().name == *wanted || s.realm_id().0.to_string() == *wanted)
            .ok_or_else(|| anyhow!("no realm {wanted:?}")),
        None => match realms.len() {
            0 => bail!("the database holds no realm; run `cohort init`"),
            1 => Ok(realms.into_iter().next().expect("one realm")),
            _ => {
                let names: Vec<String> = realms
                    .iter()
                    .map(|s| format!("{} ({})", s.realm().name, s.realm_id()))
                    .collect();
                bail!(
                    "several realms; pick one with --realm: {}",
                    names.join(", ")
                )
            }
        },
    }
}

fn parse_role(text: &str) -> Result<Role> {
    Role::from_name(text).ok_or_else(|| {
        anyhow!("unknown role {text:?}: use owner, administrator, moderator, member or guest")
    })
}

fn user_of(snap: &Snapshot, email: &str) -> Result<cohort_core::UserId> {
    snap.user_by_email(email)
        .map(|u| u.id)
        .ok_or_else(|| anyhow!("no user {email:?} in realm {:?}", snap.realm().name))
}

pub async fn user(db: &str, command: UserCommand) -> Result<()> {
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    match command {
        UserCommand::Add(args) => {
            let snap = pick_realm(&engine, &args.realm)?;
            let key = secrets::generate_key();
            let role = parse_role(&args.role)?;
            let done = engine
                .execute(
                    snap.realm_id(),
                    Actor::Operator,
                    Command::CreateUser(CreateUser {
                        email: Some(args.email.as_str().into()),
                        full_name: args.name.clone(),
                        role,
                        is_bot: args.bot,
                        bot_owner: None,
                        key: args.key.as_deref().map(Into::into),
                        avatar_url: None,
                        api_key: secrets::hash_key(&key),
                        can_create_users: args.can_create_users,
                    }),
                )
                .await?;
            let Reply::User(id) = done.reply else {
                bail!("unexpected reply")
            };
            let user = done
                .snapshot
                .user(id)
                .ok_or_else(|| anyhow!("user vanished"))?;
            if args.json {
                println!(
                    "{}",
                    json!({"user_id": id.0, "email": user.email.as_deref(), "api_key": key, "role": role.name(), "key": &*user.key, "realm_id": snap.realm_id().0})
                );
            } else {
                println!(
                    "Added {} (id {id}, {}) to realm {:?}",
                    args.email,
                    role.name(),
                    snap.realm().name
                );
                println!("  API key: {key}");
            }
        }
        UserCommand::List(args) => {
            let snap = pick_realm(&engine, &args.realm)?;
            list_users(&snap, &args);
        }
        UserCommand::Key(args) => {
            let snap = pick_realm(&engine, &args.realm)?;
            let id = user_of(&snap, &args.email)?;
            let key = secrets::generate_key();
            engine
                .execute(
                    snap.realm_id(),
                    Actor::Operator,
                    Command::UpdateUser(
                        id,
                        UpdateUser {
                            api_key: Some(secrets::hash_key(&key)),
                            ..UpdateUser::default()
                        },
                    ),
                )
                .await?;
            if args.json {
                println!(
                    "{}",
                    json!({"user_id": id.0, "email": args.email, "api_key": key})
                );
            } else {
                println!("New API key for {}: {key}", args.email);
            }
        }
        UserCommand::Set(args) => {
            let snap = pick_realm(&engine, &args.realm)?;
            let id = user_of(&snap, &args.email)?;
            let role = args.role.as_deref().map(parse_role).transpose()?;
            if role.is_some() || args.name.is_some() {
                engine
                    .execute(
                        snap.realm_id(),
                        Actor::Operator,
                        Command::UpdateUser(
                            id,
                            UpdateUser {
                                role,
                                full_name: args.name.clone(),
                                ..UpdateUser::default()
                            },
                        ),
                    )
                    .await?;
            }
            match args.deactivated {
                Some(true) => {
                    engine
                        .execute(
                            snap.realm_id(),
                            Actor::Operator,
                            Command::DeactivateUser(id),
                        )
                        .await?;
                }
                Some(false) => {
                    engine
                        .execute(
                            snap.realm_id(),
                            Actor::Operator,
                            Command::ReactivateUser(id),
                        )
                        .await?;
                }
                None => {}
            }
            println!("Updated {}", args.email);
        }
    }
    Ok(())
}

fn list_users(snap: &Snapshot, args: &ListArgs) {
    if args.json {
        let users: Vec<_> = snap
            .users()
            .map(|u| {
                json!({"user_id": u.id.0, "email": u.email.as_deref(), "full_name": u.full_name, "role": u.role.name(),
                       "is_bot": u.is_bot, "is_active": u.active, "key": &*u.key})
            })
            .collect();
        println!("{}", json!(users));
        return;
    }
    println!(
        "{:>8}  {:<32}  {:<14}  {:<6}  name",
        "id", "email", "role", "active"
    );
    for u in snap.users() {
        let role = if u.is_bot {
            format!("{} (bot)", u.role.name())
        } else {
            u.role.name().to_string()
        };
        println!(
            "{:>8}  {:<32}  {:<14}  {:<6}  {}",
            u.id,
            u.email.as_deref().unwrap_or("-"),
            role,
            u.active,
            u.full_name
        );
    }
}

pub async fn group(db: &str, command: GroupCommand) -> Result<()> {
    let args = match command {
        GroupCommand::List(args) => args,
        GroupCommand::Members(args) => return crate::audit::group_members(db, args).await,
    };
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    if args.json {
        let groups: Vec<_> = snap
            .groups()
            .map(|g| {
                json!({"id": g.id.0, "name": &*g.name, "description": g.description, "key": &*g.key,
                       "is_system_group": g.is_system(), "deactivated": g.deactivated,
                       "members": snap.direct_members(g.id).iter().map(|u| u.0).collect::<Vec<_>>(),
                       "direct_subgroup_ids": g.subgroups.iter().map(|s| s.0).collect::<Vec<_>>()})
            })
            .collect();
        println!("{}", json!(groups));
        return Ok(());
    }
    println!(
        "{:>8}  {:<24}  {:>7}  {:<16}  flags",
        "id", "name", "members", "subgroups"
    );
    for g in snap.groups() {
        let subgroups: Vec<String> = g.subgroups.iter().map(|s| s.to_string()).collect();
        let mut flags = Vec::new();
        if g.is_system() {
            flags.push("system");
        }
        if g.deactivated {
            flags.push("deactivated");
        }
        println!(
            "{:>8}  {:<24}  {:>7}  {:<16}  {}",
            g.id,
            g.name,
            snap.direct_members(g.id).len(),
            subgroups.join(","),
            flags.join(",")
        );
    }
    Ok(())
}

/// A group named on the command line, by name or id.
fn group_value(snap: &Snapshot, text: &str) -> Result<SettingValue> {
    if let Some(group) = snap.group_by_name(text) {
        return Ok(SettingValue::Group(group.id));
    }
    match text.parse::<i64>() {
        Ok(id) if snap.group(GroupId(id)).is_some() => Ok(SettingValue::Group(GroupId(id))),
        _ => bail!("no group {text:?} (use a name like role:administrators, or an id)"),
    }
}

pub async fn realm(db: &str, command: RealmCommand) -> Result<()> {
    match command {
        RealmCommand::Add(args) => setup::realm_add(db, args).await,
        RealmCommand::List(args) => {
            let engine = open_engine(db, false, EngineConfig::default()).await?;
            let realms: Vec<Arc<Snapshot>> = engine
                .realm_ids()
                .into_iter()
                .filter_map(|id| engine.snapshot(id))
                .collect();
            if args.json {
                let out: Vec<_> = realms
                    .iter()
                    .map(|s| json!({"realm_id": s.realm_id().0, "name": s.realm().name, "version": s.version(),
                                    "users": s.user_count(), "groups": s.group_count()}))
                    .collect();
                println!("{}", json!(out));
            } else {
                for s in realms {
                    println!(
                        "{:>8}  {:<24}  version {}  {} users  {} groups",
                        s.realm_id(),
                        s.realm().name,
                        s.version(),
                        s.user_count(),
                        s.group_count()
                    );
                }
            }
            Ok(())
        }
        RealmCommand::Set(args) => realm_set(db, args).await,
        RealmCommand::Key(RealmKeyCommand::Rotate(args)) => {
            let engine = open_engine(db, false, EngineConfig::default()).await?;
            let snap = pick_realm(&engine, &args.realm)?;
            let key = secrets::generate_key();
            // Out of range (over a week) is the core's refusal to word.
            let grace = i64::try_from(args.grace_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let done = update_realm(
                &engine,
                snap.realm_id(),
                UpdateRealm {
                    platform_key: Some(secrets::hash_key(&key)),
                    platform_key_grace: grace,
                    ..UpdateRealm::default()
                },
            )
            .await?;
            let until = done
                .snapshot
                .realm()
                .retired_platform_key
                .map(|old| old.until)
                .filter(|_| grace > 0);
            if args.json {
                println!(
                    "{}",
                    json!({"realm_id": snap.realm_id().0, "platform_key": key,
                           "old_key_until": until.map(crate::tokens::rfc3339)})
                );
            } else {
                println!(
                    "New IMKIT platform key for realm {:?}: {key}",
                    snap.realm().name
                );
                match until {
                    Some(at) => println!(
                        "The old key keeps working until {}.",
                        crate::tokens::rfc3339(at)
                    ),
                    None => println!("The old key stops working now."),
                }
            }
            Ok(())
        }
    }
}

async fn update_realm(
    engine: &Engine,
    realm: RealmId,
    update: UpdateRealm,
) -> Result<cohort_engine::Executed> {
    Ok(engine
        .execute(realm, Actor::Operator, Command::UpdateRealm(update))
        .await?)
}

async fn realm_set(db: &str, args: RealmSetArgs) -> Result<()> {
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let mut settings = Vec::new();
    for (setting, value) in [
        (RealmSetting::CanCreateGroups, &args.can_create_groups),
        (
            RealmSetting::CanManageAllGroups,
            &args.can_manage_all_groups,
        ),
    ] {
        if let Some(text) = value {
            settings.push((
                setting,
                SettingUpdate {
                    new: group_value(&snap, text)?,
                    old: None,
                },
            ));
        }
    }
    update_realm(
        &engine,
        snap.realm_id(),
        UpdateRealm {
            name: args.name.clone(),
            settings,
            waiting_period_days: args.waiting_period_days,
            bots_may_manage_groups: args.bots_may_manage_groups,
            group_upsert: args.group_upsert.map(|mode| match mode {
                crate::args::GroupUpsertArg::Reject => cohort_core::model::GroupUpsert::Reject,
                crate::args::GroupUpsertArg::Update => cohort_core::model::GroupUpsert::Update,
            }),
            rate_limit: args.rate_limit.map(|arg| arg.0),
            ..UpdateRealm::default()
        },
    )
    .await?;
    println!("Updated realm {:?}", snap.realm().name);
    Ok(())
}

/// `cohort check`.
pub async fn check(db: &str, args: crate::args::JsonFlag) -> Result<()> {
    let url = cohort_store::DbUrl::parse(db).map_err(anyhow::Error::msg)?;
    let store = cohort_store::open(&url, false).await?;
    let report = cohort_engine::check_log(store.as_ref()).await?;
    let bad = report.iter().filter(|r| !r.problems.is_empty()).count();
    if args.json {
        let out: Vec<_> = report
            .iter()
            .map(|r| json!({"realm_id": r.realm.0, "version": r.version, "commits": r.commits, "problems": r.problems}))
            .collect();
        println!("{}", json!({"ok": bad == 0, "realms": out}));
    } else {
        for r in &report {
            if r.problems.is_empty() {
                println!(
                    "realm {}: ok ({} commits replayed, version {})",
                    r.realm, r.commits, r.version
                );
            } else {
                println!("realm {}: MISMATCH: {}", r.realm, r.problems.join("; "));
            }
        }
    }
    if bad > 0 {
        bail!("{bad} realm(s) failed the check");
    }
    Ok(())
}

/// `cohort migrate`.
pub async fn migrate(db: &str) -> Result<()> {
    let url = cohort_store::DbUrl::parse(db).map_err(anyhow::Error::msg)?;
    cohort_store::open(&url, true).await?;
    let known = match url {
        cohort_store::DbUrl::Sqlite(_) => cohort_store::sqlite::known_schema_version(),
        cohort_store::DbUrl::Postgres(_) => cohort_store::postgres::known_schema_version(),
    };
    println!("{url}: schema at version {known}");
    Ok(())
}

/// `cohort copy`: replays every realm's change log into the target, so the
/// target's tables and log are built exactly as the source's were, then checks
/// row counts and that both load into identical snapshots.
///
/// Each chunk of commits is one target transaction (`Store::import` moves the
/// realm's version with its rows), so the target's version of a realm says
/// exactly how far its copy got: a rerun resumes from there. A target realm
/// the source lacks, or one whose last commit is not the source's commit of
/// that version, is refused (not a copy of this source).
/// Webhook endpoints carry on in the copy from where the source's sender
/// was: each cursor is set to the source's, or to just before its oldest
/// pending delivery, which the copy then makes again from the log (so
/// nothing is lost and nothing already delivered is sent again). The
/// delivery log itself stays with the source.
async fn resume_webhooks(
    source: &dyn cohort_store::Store,
    target: &dyn cohort_store::Store,
    realms: &[cohort_core::Snapshot],
) -> Result<()> {
    for snapshot in realms {
        for webhook in snapshot.realm().live_webhooks() {
            let Some(mut resume) = source.webhook_cursor(webhook.id).await? else {
                continue;
            };
            if let Some(oldest) = source.pending_deliveries(webhook.id, 1).await?.first() {
                resume = resume.min(oldest.event.0.saturating_sub(1));
            }
            let Some(fresh) = target.webhook_cursor(webhook.id).await? else {
                bail!("webhook {} has no delivery cursor in the copy", webhook.id);
            };
            if !target
                .enqueue_deliveries(webhook.id, fresh, resume, Vec::new())
                .await?
            {
                bail!(
                    "webhook {}'s delivery cursor moved during the copy",
                    webhook.id
                );
            }
        }
    }
    Ok(())
}

pub async fn copy(args: crate::args::CopyArgs) -> Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let from = cohort_store::DbUrl::parse(&args.from).map_err(anyhow::Error::msg)?;
    let to = cohort_store::DbUrl::parse(&args.to).map_err(anyhow::Error::msg)?;
    let source = cohort_store::open(&from, false).await?;
    let target = cohort_store::open(&to, true).await?;
    let expected = source.counts().await?;
    let sources = source.versions().await?;
    let copied: std::collections::HashMap<RealmId, u64> =
        target.versions().await?.into_iter().collect();
    for realm in copied.keys() {
        if !sources.iter().any(|(id, _)| id == realm) {
            bail!("{to} holds realm {realm}, which {from} does not: copy only into an empty database or an interrupted copy of this source");
        }
    }
    for (realm, _) in &sources {
        if let Some(c) = source.checkpoint(*realm).await? {
            bail!("realm {realm}'s log in {from} was pruned (it starts at version {}): cohort copy replays whole logs; copy the database with the engine's own tools instead (the SQLite file, pg_dump)", c.version);
        }
    }
    let mut todo = 0;
    for (realm, version) in &sources {
        let done = copied.get(realm).copied().unwrap_or(0);
        if done > *version {
            bail!("{to} holds realm {realm} at version {done}, newer than the source's {version}: not a copy of {from}");
        }
        if done > 0 {
            let theirs = target.commits(*realm, done - 1, Some(done)).await?;
            let ours = source.commits(*realm, done - 1, Some(done)).await?;
            if theirs != ours {
                bail!("{to} holds a realm {realm} whose log differs from {from} at version {done}: not a copy of this source");
            }
        }
        todo += version - done;
    }
    let bar = ProgressBar::new(todo);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} commits ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if copied.is_empty() {
        bar.set_message(format!("copying {from} to {to}"));
    } else {
        bar.set_message(format!("resuming the copy of {from} to {to}"));
    }
    for (realm, version) in sources {
        let mut after = copied.get(&realm).copied().unwrap_or(0);
        while after < version {
            let up_to = (after + args.chunk).min(version);
            let commits = source.commits(realm, after, Some(up_to)).await?;
            let count = commits.len() as u64;
            target.import(commits).await?;
            bar.inc(count);
            after = up_to;
            if let Some(ms) = args.pause_ms {
                eprintln!("copy: realm {realm} at version {after}");
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
        }
    }
    target.advance_ids(source.next_id().await?).await?;
    bar.finish_with_message("copied");
    let got = target.counts().await?;
    if got != expected {
        bail!("row counts differ after the copy: source {expected:?}, target {got:?}");
    }
    let (a, b) = (source.load().await?, target.load().await?);
    if a != b {
        bail!("the copy does not load into the same directory as the source");
    }
    resume_webhooks(source.as_ref(), target.as_ref(), &a).await?;
    println!(
        "Copied {} realm(s), {} users, {} groups, {} memberships, {} subgroup edges and {} commits; counts and contents verified.",
        got.realms, got.users, got.groups, got.members, got.subgroups, got.commits
    );
    Ok(())
}
