//! Data sets for the benchmarks, written straight through the store (not
//! through HTTP): commits are built in bulk, imported in large transactions,
//! and form a valid change log (`cohort check` replays them).

use anyhow::{bail, Result};
use cohort_core::change::{Change, Commit};
use cohort_core::command::{self, Context, CreateRealm, CreateUser, UpdateRealm};
use cohort_core::model::{Group, GroupSetting, Role, SettingValue, SystemGroup, User};
use cohort_core::{Actor, Command, GroupId, RealmId, UserId};
use cohort_engine::secrets;
use cohort_store::Store;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Size {
    /// For smoke runs: a few hundred users.
    Tiny,
    /// The seed documents' example: a handful of users, three groups.
    Small,
    /// 10,000 users; 1,000 groups × 50 members; 3 levels of subgroups.
    Medium,
    /// 100,000 users; 10,000 groups × 100 members; subgroup chains 10 deep
    /// (plus one 10-deep chain of 10,000 members per level reaching every user).
    Large,
    /// 1,000,000 users; 100,000 groups × 100 members (10,000,000 edges).
    Huge,
    /// The SCIM comparison: 1,000 users; 100 flat groups × 20 members (small
    /// enough to load into the peer over HTTP).
    Scim,
}

#[derive(Clone, Copy)]
enum Shape {
    /// Units of 10 groups: one top, three middles, six leaves (3 levels).
    Tree3,
    /// Units of `n` groups nested in a chain `n` deep.
    Chains(usize),
}

struct Spec {
    users: usize,
    groups: usize,
    members: usize,
    shape: Shape,
    /// A chain of (depth, members per level) reaching many users.
    reach: Option<(usize, usize)>,
}

fn spec(size: Size) -> Spec {
    match size {
        Size::Tiny => Spec {
            users: 300,
            groups: 40,
            members: 10,
            shape: Shape::Chains(5),
            reach: Some((3, 100)),
        },
        Size::Small => Spec {
            users: 8,
            groups: 3,
            members: 2,
            shape: Shape::Chains(1),
            reach: None,
        },
        Size::Medium => Spec {
            users: 10_000,
            groups: 1_000,
            members: 50,
            shape: Shape::Tree3,
            reach: None,
        },
        Size::Large => Spec {
            users: 100_000,
            groups: 10_000,
            members: 100,
            shape: Shape::Chains(10),
            reach: Some((10, 10_000)),
        },
        Size::Scim => Spec {
            users: 1_000,
            groups: 100,
            members: 20,
            shape: Shape::Chains(1),
            reach: None,
        },
        Size::Huge => Spec {
            users: 1_000_000,
            groups: 100_000,
            members: 100,
            shape: Shape::Chains(10),
            reach: None,
        },
    }
}

/// Fresh ids, continuing the store's sequence.
struct Ids(i64);

impl command::IdSource for Ids {
    fn next_id(&mut self) -> Option<i64> {
        self.0 += 1;
        Some(self.0 - 1)
    }
}

impl Ids {
    fn take(&mut self) -> i64 {
        self.0 += 1;
        self.0 - 1
    }
}

/// Commits under construction for one realm, imported in batches.
struct Log<'s> {
    store: &'s dyn Store,
    realm: RealmId,
    version: u64,
    at: i64,
    pending: Vec<Commit>,
    pending_changes: usize,
}

impl Log<'_> {
    async fn push(&mut self, changes: Vec<Change>) -> Result<()> {
        self.version += 1;
        self.pending_changes += changes.len();
        self.pending.push(Commit {
            realm: self.realm,
            version: self.version,
            at: self.at,
            actor: Actor::Operator,
            origin: cohort_core::Origin::local(cohort_core::Face::Cli),
            changes,
        });
        if self.pending_changes >= 20_000 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.store.import(std::mem::take(&mut self.pending)).await?;
            self.pending_changes = 0;
        }
        Ok(())
    }
}

/// `count` distinct picks out of `of`, spread with a stride coprime to `of`.
fn spread(seed: usize, count: usize, of: usize) -> impl Iterator<Item = usize> {
    let stride = [97usize, 89, 83, 79]
        .into_iter()
        .find(|p| !of.is_multiple_of(*p))
        .unwrap_or(1);
    let start = seed.wrapping_mul(7919) % of.max(1);
    (0..count.min(of)).map(move |j| (start + j * stride) % of)
}

/// A generated user's API key (well-formed, so the user can sign in).
pub fn user_key(id: i64) -> String {
    format!("benchuser{id:023}")
}

pub async fn generate(store: &dyn Store, size: Size) -> Result<Value> {
    generate_at(store, size, cohort_engine::now_millis()).await
}

/// [`generate`] with every commit, user and group dated `now` (the audit
/// scenario back-dates the data set to a year ago, then adds its history).
pub async fn generate_at(store: &dyn Store, size: Size, now: i64) -> Result<Value> {
    if store.counts().await?.realms > 0 {
        bail!("the benchmark database must be empty");
    }
    let spec = spec(size);
    let mut ids = Ids(store.next_id().await?);
    let owner_key = secrets::generate_key();
    let platform_key = secrets::generate_key();

    // The realm and its owner, through the core (so they are exactly what
    // `cohort init` makes), then the platform key.
    let create = CreateRealm {
        name: format!("bench-{size:?}").to_lowercase(),
        owner: Some(CreateUser {
            email: Some("owner@bench.example".into()),
            full_name: "Bench Owner".into(),
            role: Role::Owner,
            is_bot: false,
            bot_owner: None,
            key: None,
            avatar_url: None,
            api_key: secrets::hash_key(&owner_key),
            can_create_users: true,
        }),
    };
    let mut ctx = Context { now, ids: &mut ids };
    let (realm, outcome) = command::create_realm(&create, &mut ctx)?;
    let first = outcome.changes.clone();
    let snap = outcome.seal(1);
    let keyed = command::execute(
        &snap,
        Actor::Operator,
        &Command::UpdateRealm(UpdateRealm {
            platform_key: Some(secrets::hash_key(&platform_key)),
            ..UpdateRealm::default()
        }),
        &mut Context { now, ids: &mut ids },
    )?;
    let system = |which: SystemGroup| {
        snap.system_group_id(which)
            .ok_or_else(|| anyhow::anyhow!("no {which:?}"))
    };
    let (members_group, full_group, nobody, everyone) = (
        system(SystemGroup::Members)?,
        system(SystemGroup::FullMembers)?,
        system(SystemGroup::Nobody)?,
        system(SystemGroup::Everyone)?,
    );
    let owner = snap
        .user_by_email("owner@bench.example")
        .map(|u| u.id)
        .ok_or_else(|| anyhow::anyhow!("no owner"))?;
    let mut log = Log {
        store,
        realm,
        version: 0,
        at: now,
        pending: Vec::new(),
        pending_changes: 0,
    };
    log.push(first).await?;
    log.push(keyed.changes).await?;

    // Users, in chunks, each joining role:members and role:fullmembers.
    let mut users = Vec::with_capacity(spec.users);
    for chunk in 0..spec.users.div_ceil(5_000) {
        let mut changes = Vec::with_capacity(5_002);
        let mut chunk_ids = Vec::with_capacity(5_000);
        for i in chunk * 5_000..((chunk + 1) * 5_000).min(spec.users) {
            let id = UserId(ids.take());
            chunk_ids.push(id);
            changes.push(Change::UserCreated {
                user: Box::new(User {
                    id,
                    key: Arc::from(id.0.to_string()),
                    email: Some(Arc::from(format!("user{i}@bench.example"))),
                    full_name: format!("User {i}"),
                    avatar_url: None,
                    role: Role::Member,
                    is_bot: false,
                    bot_owner: None,
                    active: true,
                    can_create_users: false,
                    api_key: secrets::hash_key(&user_key(id.0)),
                    date_joined: now,
                    updated_at: now,
                    profile: Default::default(),
                }),
            });
        }
        changes.push(Change::MembersAdded {
            group: members_group,
            users: chunk_ids.clone(),
        });
        changes.push(Change::MembersAdded {
            group: full_group,
            users: chunk_ids.clone(),
        });
        users.extend(chunk_ids);
        log.push(changes).await?;
    }

    let creator_only = SettingValue::Anonymous {
        members: vec![owner],
        subgroups: vec![],
    };
    let settings = |setting: GroupSetting| match setting {
        GroupSetting::CanAddMembersGroup | GroupSetting::CanManageGroup => creator_only.clone(),
        GroupSetting::CanLeaveGroup | GroupSetting::CanMentionGroup => {
            SettingValue::Group(everyone)
        }
        GroupSetting::CanJoinGroup | GroupSetting::CanRemoveMembersGroup => {
            SettingValue::Group(nobody)
        }
    };
    let make_group = |id: GroupId, name: String, members: Vec<UserId>, subgroups: Vec<GroupId>| {
        let mut members = members;
        members.sort_unstable();
        members.dedup();
        Change::GroupCreated {
            group: Box::new(Group {
                id,
                key: Arc::from(id.0.to_string()),
                name: Arc::from(name),
                description: "Benchmark group".into(),
                avatar_url: None,
                system: None,
                deactivated: false,
                creator: Some(owner),
                created_at: now,
                updated_at: now,
                settings: GroupSetting::ALL.map(settings),
                members,
                subgroups,
                external_id: None,
            }),
        }
    };

    // Groups in units whose members are created before the groups that
    // contain them (the deepest first).
    let unit = match spec.shape {
        Shape::Tree3 => 10,
        Shape::Chains(depth) => depth,
    };
    let mut group_ids = Vec::with_capacity(spec.groups);
    let mut changes = Vec::new();
    let mut tops = Vec::new();
    for base in (0..spec.groups).step_by(unit) {
        let count = unit.min(spec.groups - base);
        let members_of = |g: usize| {
            spread(g, spec.members, users.len())
                .map(|i| users[i])
                .collect::<Vec<_>>()
        };
        let mut made: Vec<GroupId> = Vec::with_capacity(count);
        match spec.shape {
            Shape::Chains(_) => {
                // Deepest first; each one contains the one made before it.
                for k in (0..count).rev() {
                    let id = GroupId(ids.take());
                    let subgroups = made.last().copied().into_iter().collect();
                    changes.push(make_group(
                        id,
                        format!("group-{}", base + k),
                        members_of(base + k),
                        subgroups,
                    ));
                    made.push(id);
                }
                tops.push(*made.last().unwrap_or(&GroupId(0)));
            }
            Shape::Tree3 => {
                // Leaves (6), then middles (3, two leaves each), then the top.
                let mut level = Vec::new();
                for k in 4..count {
                    let id = GroupId(ids.take());
                    changes.push(make_group(
                        id,
                        format!("group-{}", base + k),
                        members_of(base + k),
                        vec![],
                    ));
                    level.push(id);
                    made.push(id);
                }
                let mut middles = Vec::new();
                for k in 1..count.min(4) {
                    let id = GroupId(ids.take());
                    let subgroups: Vec<GroupId> =
                        level.iter().skip((k - 1) * 2).take(2).copied().collect();
                    changes.push(make_group(
                        id,
                        format!("group-{}", base + k),
                        members_of(base + k),
                        subgroups,
                    ));
                    middles.push(id);
                    made.push(id);
                }
                let id = GroupId(ids.take());
                changes.push(make_group(
                    id,
                    format!("group-{base}"),
                    members_of(base),
                    middles,
                ));
                made.push(id);
                tops.push(id);
            }
        }
        group_ids.extend(made);
        if changes.len() >= 500 {
            log.push(std::mem::take(&mut changes)).await?;
        }
    }
    if !changes.is_empty() {
        log.push(std::mem::take(&mut changes)).await?;
    }

    // One chain reaching many users (the transitive-members scenario).
    let mut reach_top = None;
    if let Some((depth, per_level)) = spec.reach {
        let mut below: Option<GroupId> = None;
        for level in (0..depth).rev() {
            let id = GroupId(ids.take());
            let members: Vec<UserId> = (0..per_level)
                .map(|j| users[(level * per_level + j) % users.len()])
                .collect();
            changes.push(make_group(
                id,
                format!("reach-{level}"),
                members,
                below.into_iter().collect(),
            ));
            below = Some(id);
        }
        log.push(std::mem::take(&mut changes)).await?;
        reach_top = below;
    }
    log.flush().await?;
    store.advance_ids(ids.0).await?;

    let edges = store.counts().await?.members;
    Ok(json!({
        "size": format!("{size:?}").to_lowercase(),
        "realm_id": realm.0,
        "email": "owner@bench.example",
        "api_key": owner_key,
        "platform_key": platform_key,
        "users": users.len() + 1,
        "groups": group_ids.len() + spec.reach.map(|r| r.0).unwrap_or(0),
        "edges": edges,
        "group_ids": group_ids.iter().take(64).map(|g| g.0).collect::<Vec<_>>(),
        "top_group_ids": tops.iter().take(64).map(|g| g.0).collect::<Vec<_>>(),
        "user_ids": users.iter().take(256).map(|u| u.0).collect::<Vec<_>>(),
        "reach_top": reach_top.map(|g| g.0),
    }))
}

/// A small deterministic generator (splitmix64), so a history is the same
/// for the same arguments.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub const DAY_MILLIS: i64 = 86_400_000;

/// A year (or `days`) of history on a generated realm: `changes` commits of
/// one change each, dated evenly from `end - days` to `end`, appended through
/// the same import path as [`generate`]. Almost all add one non-member to, or
/// remove one member from, a user-defined `group-*` group (add or remove with
/// even odds, so groups keep their size); one in 1,000 renames a group and
/// one in 1,000 removes a subgroup edge of the data set or puts a removed one
/// back (so the subgroup graph stays a part of the original one, without
/// cycles). Every change is valid against the state it follows, so
/// `cohort check` replays the log clean. The data set itself should be dated
/// before `end - days` (`generate_at`).
///
/// Returns a sample of the groups and users it touched (for random requests)
/// and the span.
pub async fn history(
    store: &dyn Store,
    realm: RealmId,
    changes: usize,
    days: u32,
    end: i64,
) -> Result<Value> {
    let snapshot = store
        .load()
        .await?
        .into_iter()
        .find(|s| s.realm_id() == realm)
        .ok_or_else(|| anyhow::anyhow!("no realm {realm}"))?;
    let mut groups: Vec<(GroupId, String, Vec<UserId>)> = snapshot
        .groups()
        .filter(|g| !g.is_system() && g.name.starts_with("group-"))
        .map(|g| (g.id, g.name.to_string(), g.members.clone()))
        .collect();
    groups.sort_by_key(|g| g.0);
    let in_pool: std::collections::HashSet<GroupId> = groups.iter().map(|g| g.0).collect();
    let mut present: Vec<(GroupId, GroupId)> = groups
        .iter()
        .flat_map(|(id, _, _)| {
            snapshot
                .group(*id)
                .map(|g| g.subgroups.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|s| in_pool.contains(s))
                .map(move |s| (*id, s))
        })
        .collect();
    let mut removed: Vec<(GroupId, GroupId)> = Vec::new();
    let mut users: Vec<UserId> = snapshot
        .users()
        .filter(|u| u.role == Role::Member && !u.is_bot)
        .map(|u| u.id)
        .collect();
    users.sort_unstable();
    if groups.is_empty() || users.len() < 2 {
        bail!("the data set has no user-defined groups to change");
    }
    let version = store
        .versions()
        .await?
        .into_iter()
        .find(|(r, _)| *r == realm)
        .map(|(_, v)| v)
        .ok_or_else(|| anyhow::anyhow!("no version for realm {realm}"))?;
    let start = end - i64::from(days) * DAY_MILLIS;
    let mut log = Log {
        store,
        realm,
        version,
        at: start,
        pending: Vec::new(),
        pending_changes: 0,
    };
    let mut rng = Rng(0x00c0_4a7e ^ changes as u64);
    let (mut added, mut dropped, mut renames, mut edges) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..changes {
        // Evenly over the span, the last one at `end`.
        log.at = start + ((i as i128 + 1) * i128::from(end - start) / changes as i128) as i64;
        let roll = rng.below(1_000);
        let change = if roll == 0 {
            // A rename starts a new import batch: the stores write the
            // `updated_at` of groups whose members changed once at the end
            // of a batch, which would put back an earlier member change's
            // time over the rename's (both stores' `persist_all`; `cohort
            // check` then reports the group).
            log.flush().await?;
            let g = rng.below(groups.len());
            renames += 1;
            let base = groups[g].1.split('~').next().unwrap_or("group").to_string();
            let name = format!("{base}~{renames}");
            groups[g].1 = name.clone();
            Change::GroupUpdated {
                id: groups[g].0,
                patch: cohort_core::change::GroupPatch {
                    name: Some(name),
                    ..Default::default()
                },
            }
        } else if roll == 1 && !(present.is_empty() && removed.is_empty()) {
            edges += 1;
            if present.is_empty() || (!removed.is_empty() && rng.below(2) == 0) {
                let (group, sub) = removed.swap_remove(rng.below(removed.len()));
                present.push((group, sub));
                Change::SubgroupsAdded {
                    group,
                    subgroups: vec![sub],
                }
            } else {
                let (group, sub) = present.swap_remove(rng.below(present.len()));
                removed.push((group, sub));
                Change::SubgroupsRemoved {
                    group,
                    subgroups: vec![sub],
                }
            }
        } else {
            let g = rng.below(groups.len());
            let members = &mut groups[g].2;
            if members.len() > 1 && (rng.below(2) == 0 || members.len() + 1 >= users.len()) {
                let user = members.swap_remove(rng.below(members.len()));
                dropped += 1;
                Change::MembersRemoved {
                    group: groups[g].0,
                    users: vec![user],
                }
            } else {
                let user = loop {
                    let candidate = users[rng.below(users.len())];
                    if !members.contains(&candidate) {
                        break candidate;
                    }
                };
                members.push(user);
                added += 1;
                Change::MembersAdded {
                    group: groups[g].0,
                    users: vec![user],
                }
            }
        };
        log.push(vec![change]).await?;
    }
    log.flush().await?;
    let sample = |n: usize, of: usize| -> Vec<usize> {
        let mut r = Rng(0x005a_3b1e ^ of as u64);
        (0..n.min(of)).map(|_| r.below(of)).collect()
    };
    Ok(json!({
        "changes": changes,
        "from": start,
        "to": end,
        "members_added": added,
        "members_removed": dropped,
        "renames": renames,
        "subgroup_edits": edges,
        "group_ids": sample(4_096, groups.len()).into_iter().map(|i| groups[i].0 .0).collect::<Vec<_>>(),
        "user_ids": sample(4_096, users.len()).into_iter().map(|i| users[i].0).collect::<Vec<_>>(),
    }))
}
