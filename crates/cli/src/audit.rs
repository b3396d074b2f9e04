//! The audit commands: `cohort audit`, `cohort group members`, `cohort
//! access-review` and `cohort export`. They answer from the same history and
//! render the same JSON as the native API (`/cohort/v1`), reading the
//! database directly, so they work with no server running.

use crate::admin::pick_realm;
use crate::args::{AccessReviewArgs, AuditArgs, ExportArgs, GroupMembersArgs, PruneArgs};
use crate::setup::open_engine;
use anyhow::{anyhow, bail, Context, Result};
use cohort_core::audit::{AuditQuery, EventKind};
use cohort_core::history::History;
use cohort_core::{Actor, Face, GroupId, Millis, Snapshot, UserId};
use cohort_engine::{Engine, EngineConfig};
use cohort_server::native::export_writer::{self, Format};
use cohort_server::native::params::{format_timestamp, parse_timestamp};
use cohort_server::native::{memberships, review, views};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

fn moment(name: &str, text: &Option<String>) -> Result<Option<Millis>> {
    text.as_deref()
        .map(|t| {
            parse_timestamp(name, t)
                .map_err(|e| anyhow!("--{}: {}", name.replace('_', "-"), e.body.message))
        })
        .transpose()
}

fn group_named(snap: &Snapshot, history: &History, wanted: &str) -> Result<GroupId> {
    if let Some(g) = snap.group_by_name(wanted) {
        return Ok(g.id);
    }
    match wanted.parse::<i64>().map(GroupId) {
        Ok(id) if history.group(id).is_some() => Ok(id),
        _ => bail!("no group {wanted:?} in realm {}", snap.realm().name),
    }
}

fn user_named(snap: &Snapshot, history: &History, wanted: &str) -> Result<UserId> {
    if let Some(u) = snap.user_by_email(wanted) {
        return Ok(u.id);
    }
    match wanted.parse::<i64>().map(UserId) {
        Ok(id) if history.user(id).is_some() => Ok(id),
        _ => bail!("no user {wanted:?} in realm {}", snap.realm().name),
    }
}

async fn open(db: &str) -> Result<Arc<Engine>> {
    open_engine(db, false, EngineConfig::default()).await
}

pub async fn audit(db: &str, args: AuditArgs) -> Result<()> {
    let engine = open(db).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let realm = snap.realm_id();
    let since = moment("since", &args.since)?;
    let until = moment("until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            bail!("--until must not be before --since");
        }
    }
    let history = engine.history(realm).await?;
    let mut query = AuditQuery {
        from: since.map_or(1, |t| history.first_version_from(t)),
        to: until.map_or(history.version(), |t| history.version_at(t).unwrap_or(0)),
        newest_first: args.newest,
        ..AuditQuery::default()
    };
    query.group = args
        .group
        .as_deref()
        .map(|g| group_named(&snap, &history, g))
        .transpose()?;
    query.user = args
        .user
        .as_deref()
        .map(|u| user_named(&snap, &history, u))
        .transpose()?;
    query.actor = match args.actor.as_deref() {
        None => None,
        Some("platform") => Some(Actor::Platform),
        Some("operator") => Some(Actor::Operator),
        Some("system") => Some(Actor::System),
        Some(other) => match other.strip_prefix("token:") {
            Some(name) => Some(Actor::Token(
                snap.realm()
                    .tokens
                    .iter()
                    .rev()
                    .find(|t| t.name == name)
                    .map(|t| t.id)
                    .ok_or_else(|| anyhow!("no token {name:?}"))?,
            )),
            None => Some(Actor::User(user_named(
                &snap,
                &history,
                other.strip_prefix("user:").unwrap_or(other),
            )?)),
        },
    };
    query.face = args
        .face
        .as_deref()
        .map(|f| {
            Face::parse(f)
                .ok_or_else(|| anyhow!("--face: zulip, imkit, scim, native, ui, cli or system"))
        })
        .transpose()?;
    for list in &args.r#type {
        query.kinds |= EventKind::bits_of(list).map_err(|name| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            anyhow!("unknown event type {name:?}; known: {}", known.join(", "))
        })?;
    }
    drop(history);
    let mut after = None;
    let mut left = args.limit.unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    while left > 0 {
        let (history, page) = engine.audit(realm, &query, after, left.min(1000)).await?;
        for record in &page.records {
            let view = views::event_view(&history, record);
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&view)?)?;
            } else {
                writeln!(out, "{}", event_line(&view))?;
            }
        }
        left -= page.records.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}

/// One event on one line: time, type, actor (face), what, before → after.
fn event_line(e: &views::EventView) -> String {
    let mut what = Vec::new();
    if let Some(g) = &e.group {
        what.push(format!("group {:?} ({})", g.name, g.id));
    }
    for u in &e.users {
        what.push(format!(
            "user {} ({})",
            u.email.as_deref().unwrap_or(&u.full_name),
            u.id
        ));
    }
    for g in &e.subgroups {
        what.push(format!("subgroup {:?} ({})", g.name, g.id));
    }
    if let Some(t) = &e.token {
        what.push(format!("token {:?}", t.name));
    }
    let mut line = format!(
        "{}  {:<26} {} [{}]  {}",
        e.time,
        e.kind,
        e.actor.email.as_deref().unwrap_or(&e.actor.name),
        e.actor.face,
        what.join(", ")
    );
    if let Some(field) = e.field {
        let show =
            |v: &Option<serde_json::Value>| v.as_ref().map_or("-".to_string(), |v| v.to_string());
        line.push_str(&format!(
            "  {field}: {} -> {}",
            show(&e.before),
            show(&e.after)
        ));
    }
    line
}

pub async fn group_members(db: &str, args: GroupMembersArgs) -> Result<()> {
    let engine = open(db).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let history = engine.history(snap.realm_id()).await?;
    let id = group_named(&snap, &history, &args.group)?;
    let (v, at) = version_of(&history, "as_of", moment("as_of", &args.as_of)?)?;
    let view = memberships::group_members_view(&history, id, v, at, args.transitive);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    if !view.existed {
        println!(
            "group {:?} did not exist at {}",
            view.group.name, view.as_of
        );
        return Ok(());
    }
    println!(
        "{} members of {:?} at {} (version {})",
        view.members.len(),
        view.group.name,
        view.as_of,
        view.version
    );
    for m in &view.members {
        let via: Vec<&str> = m.via.iter().map(|g| &*g.name).collect();
        let how = if m.direct {
            "direct".to_string()
        } else {
            format!("via {}", via.join(" > "))
        };
        println!(
            "{:>8}  {:<32}  {:<13}  {}",
            m.id,
            m.email.as_deref().unwrap_or(&m.full_name),
            m.role,
            how
        );
    }
    Ok(())
}

/// The version current at `at` (now when absent), and that moment as text;
/// refused before a pruned log's checkpoint, as on the API.
fn version_of(history: &History, param: &str, at: Option<Millis>) -> Result<(u64, String)> {
    match at {
        Some(t) => Ok((
            memberships::moment(history, param, t).map_err(|e| anyhow!(e.body.message))?,
            format_timestamp(t),
        )),
        None => {
            let v = history.version();
            Ok((v, format_timestamp(history.commit(v).map_or(0, |c| c.at))))
        }
    }
}

pub async fn access_review(db: &str, args: AccessReviewArgs) -> Result<()> {
    let engine = open(db).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let realm = snap.realm_id();
    let from = moment("from", &Some(args.from.clone()))?.context("--from is required")?;
    let to = moment("to", &args.to)?;
    if to.is_some_and(|t| t < from) {
        bail!("--to must not be before --from");
    }
    let history = engine.history(realm).await?;
    let group = args
        .group
        .as_deref()
        .map(|g| group_named(&snap, &history, g))
        .transpose()?;
    let (from_v, _) = version_of(&history, "from", Some(from))?;
    let (to_v, _) = version_of(&history, "to", to)?;
    let to_at = to.unwrap_or_else(|| history.commit(to_v).map_or(from, |c| c.at.max(from)));
    drop(history);
    // One page holding every group: the command line has no page size.
    let (history, page, causes) = engine
        .access_review(realm, (from_v, to_v), group, (None, usize::MAX))
        .await?;
    let view = review::access_review_view(&history, page, &causes, (from, from_v), (to_at, to_v));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!(
        "access review {} .. {} (versions {}..{})",
        view.from, view.to, view.from_version, view.to_version
    );
    let names: HashMap<i64, &str> = view.subgroups.iter().map(|g| (g.id, &*g.name)).collect();
    let users: HashMap<i64, &views::UserRef> = view.users.iter().map(|u| (u.id, u)).collect();
    let events: HashMap<&str, &views::EventView> =
        view.events.iter().map(|e| (e.id.as_str(), e)).collect();
    for g in &view.groups {
        println!("{:?} ({})", g.group.name, g.group.id);
        for (sign, entries) in [("+", &g.gained), ("-", &g.lost)] {
            for e in entries.iter() {
                let via: Vec<&str> = e
                    .via
                    .iter()
                    .map(|g| names.get(&g.0).copied().unwrap_or("?"))
                    .collect();
                let because: Vec<String> = e
                    .because
                    .iter()
                    .filter_map(|id| events.get(id.to_string().as_str()))
                    .map(|c| {
                        format!(
                            "{} {} by {} [{}]",
                            c.time,
                            c.kind,
                            c.actor.email.as_deref().unwrap_or(&c.actor.name),
                            c.actor.face
                        )
                    })
                    .collect();
                println!(
                    "  {sign} {} ({}){}  because {}",
                    users
                        .get(&e.user)
                        .map_or("?", |u| u.email.as_deref().unwrap_or(&u.full_name)),
                    e.user,
                    if via.is_empty() {
                        String::new()
                    } else {
                        format!(" via {}", via.join(" > "))
                    },
                    because.join("; ")
                );
            }
        }
    }
    Ok(())
}

pub async fn export(db: &str, args: ExportArgs) -> Result<()> {
    let engine = open(db).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let format =
        Format::parse(&args.format).ok_or_else(|| anyhow!("--format must be csv or jsonl"))?;
    let history = engine.history(snap.realm_id()).await?;
    let at = moment("as_of", &args.as_of)?;
    let (v, _) = version_of(&history, "as_of", at)?;
    let at = at.unwrap_or_else(|| history.commit(v).map_or(0, |c| c.at));
    let tmp = std::path::PathBuf::from(format!("{}.partial", args.out.display()));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut file = std::io::BufWriter::new(file);
    let written = std::cell::Cell::new(0usize);
    // Drawn only on a terminal (indicatif hides itself otherwise).
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "exporting [{bar:40}] {pos}/{len} groups, {msg} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    export_writer::write(
        &history,
        v,
        at,
        format,
        |chunk| {
            written.set(written.get() + chunk.len());
            file.write_all(&chunk)
        },
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("{:.1} MB", written.get() as f64 / 1e6));
        },
    )?;
    file.flush()?;
    file.get_ref().sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &args.out)?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} ({} bytes, version {v})",
        args.out.display(),
        written.get()
    );
    Ok(())
}

pub async fn prune(db: &str, args: PruneArgs) -> Result<()> {
    let engine = open(db).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let before = moment("before", &Some(args.before.clone()))?.context("--before is required")?;
    if before > cohort_engine::now_millis() {
        bail!("--before is in the future; prune only what has happened");
    }
    let done = engine.prune_log(snap.realm_id(), before).await?;
    let (checkpoint, deleted) = done.map_or((None, 0), |p| (Some(p.checkpoint), p.commits_deleted));
    if args.json {
        println!(
            "{}",
            serde_json::json!({"realm": snap.realm_id().0, "checkpoint_version": checkpoint, "commits_deleted": deleted})
        );
    } else {
        match checkpoint {
            Some(v) => println!(
                "pruned {deleted} commits of realm {:?}; its history now starts at version {v} ({})",
                snap.realm().name,
                args.before
            ),
            None => println!("nothing to prune: realm {:?} keeps no commit older than that", snap.realm().name),
        }
    }
    Ok(())
}
