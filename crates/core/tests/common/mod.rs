//! Shared helpers for the core's integration tests: a `World` that runs
//! commands the way the engine will (execute, commit, apply) and checks on
//! every accepted command that applying the commit to the old snapshot gives
//! the snapshot the command staged; plus naive re-implementations of the
//! directory's derived facts, used as oracles.

#![allow(dead_code)]

use cohort_core::command::{
    self, ChangeMembers, CreateGroup, CreateRealm, CreateToken, CreateUser, IdSource,
    ProvisionUser, SettingUpdate, UpdateGroup,
};
use cohort_core::model::{Group, GroupSetting, RealmSetting, SettingConfig, User};
use cohort_core::{
    Actor, Change, Command, Commit, Context, Email, Error, GroupId, KeyHash, Millis, ProfileEmail,
    Realm, Reply, Role, Scope, SettingValue, Snapshot, SystemGroup, TokenId, UserId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const DAY: Millis = 86_400_000;
/// 2023-11-14T22:13:20Z, an arbitrary fixed start.
pub const T0: Millis = 1_700_000_000_000;

/// Fresh ids from a counter (the store reserves them in real life).
#[derive(Clone)]
pub struct Counter(pub i64);

impl IdSource for Counter {
    fn next_id(&mut self) -> Option<i64> {
        let id = self.0;
        self.0 += 1;
        Some(id)
    }
}

pub fn user_cmd(email: &str, full_name: &str, role: Role) -> CreateUser {
    CreateUser {
        email: Some(email.into()),
        full_name: full_name.to_string(),
        role,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: KeyHash([7; 32]),
        can_create_users: role.is_admin(),
    }
}

/// SCIM's create of a user with only a login name; callers fill in the rest.
pub fn provision_cmd(user_name: &str) -> ProvisionUser {
    ProvisionUser {
        user_name: user_name.into(),
        display_name: None,
        given_name: None,
        family_name: None,
        emails: Vec::new(),
        external_id: None,
        active: true,
        api_key: KeyHash([9; 32]),
    }
}

/// A profile email of type `work`, primary or not.
pub fn profile_email(value: &str, primary: bool) -> ProfileEmail {
    ProfileEmail {
        value: value.to_string(),
        kind: Some("work".into()),
        primary: Some(primary),
    }
}

pub fn token_cmd(name: &str, scopes: &[Scope]) -> CreateToken {
    CreateToken {
        name: name.to_string(),
        scopes: scopes.to_vec(),
        hash: KeyHash([0x70; 32]),
    }
}

pub fn group_cmd(name: &str) -> CreateGroup {
    CreateGroup {
        name: name.into(),
        description: String::new(),
        members: Vec::new(),
        subgroups: Vec::new(),
        settings: Vec::new(),
        key: None,
        avatar_url: None,
        external_id: None,
    }
}

pub fn add(users: &[UserId]) -> ChangeMembers {
    ChangeMembers {
        add: users.to_vec(),
        ..ChangeMembers::default()
    }
}

pub fn delete(users: &[UserId]) -> ChangeMembers {
    ChangeMembers {
        delete: users.to_vec(),
        ..ChangeMembers::default()
    }
}

pub fn add_subgroups(groups: &[GroupId]) -> ChangeMembers {
    ChangeMembers {
        add_subgroups: groups.to_vec(),
        ..ChangeMembers::default()
    }
}

pub fn delete_subgroups(groups: &[GroupId]) -> ChangeMembers {
    ChangeMembers {
        delete_subgroups: groups.to_vec(),
        ..ChangeMembers::default()
    }
}

pub fn set(setting: GroupSetting, new: SettingValue) -> UpdateGroup {
    UpdateGroup {
        settings: vec![(setting, SettingUpdate { new, old: None })],
        ..UpdateGroup::default()
    }
}

pub fn anon(members: &[UserId], subgroups: &[GroupId]) -> SettingValue {
    SettingValue::Anonymous {
        members: members.to_vec(),
        subgroups: subgroups.to_vec(),
    }
}

/// What an accepted command produced.
#[derive(Debug)]
pub struct Done {
    pub reply: Reply,
    pub changes: Vec<Change>,
}

/// One realm and its change log, driven command by command.
#[derive(Clone)]
pub struct World {
    pub snap: Snapshot,
    pub commits: Vec<Commit>,
    pub ids: Counter,
    pub now: Millis,
    pub owner: UserId,
    /// The realm as `RealmCreated` carried it (what a replay starts from).
    pub origin: Realm,
    serial: u32,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A realm with one owner, created at `T0` by an operator.
    pub fn new() -> World {
        let mut ids = Counter(1);
        let cmd = CreateRealm {
            name: "Test realm".into(),
            owner: Some(user_cmd("owner@example.com", "Olive Owner", Role::Owner)),
        };
        let (realm_id, outcome) = command::create_realm(
            &cmd,
            &mut Context {
                now: T0,
                ids: &mut ids,
            },
        )
        .expect("realm creation succeeds");
        assert_eq!(outcome.reply, Reply::Realm(realm_id));
        let origin = match outcome.changes.first() {
            Some(Change::RealmCreated { realm }) => realm.clone(),
            other => panic!("first change of a new realm is {other:?}"),
        };
        assert_eq!(origin.id, realm_id);
        let commit = Commit {
            realm: realm_id,
            version: 1,
            at: T0,
            actor: Actor::Operator,
            origin: Default::default(),
            changes: outcome.changes.clone(),
        };
        let mut snap = Snapshot::empty((*origin).clone());
        snap.apply(&commit).expect("realm commit applies");
        assert_eq!(snap, outcome.seal(1), "applied and staged realm differ");
        let owner = snap
            .users()
            .find(|u| u.role == Role::Owner)
            .expect("realm has its owner")
            .id;
        let world = World {
            snap,
            commits: vec![commit],
            ids,
            now: T0,
            owner,
            origin: *origin,
            serial: 0,
        };
        check_structure(&world.snap);
        world
    }

    /// Run a command; on success commit it, checking that applying the commit
    /// to the old snapshot equals the command's staged snapshot. On refusal
    /// the snapshot must be untouched.
    pub fn try_exec(&mut self, actor: Actor, cmd: Command) -> Result<Done, Error> {
        let before = self.snap.clone();
        let result = command::execute(
            &self.snap,
            actor,
            &cmd,
            &mut Context {
                now: self.now,
                ids: &mut self.ids,
            },
        );
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                assert_eq!(self.snap, before, "a refused command changed the snapshot");
                return Err(error);
            }
        };
        let version = self.snap.version() + 1;
        let commit = Commit {
            realm: self.snap.realm_id(),
            version,
            at: self.now,
            actor,
            origin: Default::default(),
            changes: outcome.changes.clone(),
        };
        let mut applied = self.snap.clone();
        if let Err(e) = applied.apply(&commit) {
            panic!(
                "commit of {cmd:?} does not apply: {e}\nchanges: {:?}",
                commit.changes
            );
        }
        let done = Done {
            reply: outcome.reply.clone(),
            changes: outcome.changes.clone(),
        };
        let staged = outcome.seal(version);
        assert!(
            applied == staged,
            "applying the commit of {cmd:?} disagrees with the staged snapshot\nchanges: {:?}",
            commit.changes
        );
        assert_eq!(applied.version(), version);
        self.snap = applied;
        self.commits.push(commit);
        check_structure(&self.snap);
        Ok(done)
    }

    #[track_caller]
    pub fn exec(&mut self, actor: Actor, cmd: Command) -> Done {
        let shown = format!("{cmd:?}");
        match self.try_exec(actor, cmd) {
            Ok(done) => done,
            Err(e) => panic!("{shown} by {actor:?} refused: {e:?}"),
        }
    }

    #[track_caller]
    pub fn err(&mut self, actor: Actor, cmd: Command) -> Error {
        let shown = format!("{cmd:?}");
        match self.try_exec(actor, cmd) {
            Ok(done) => panic!("{shown} by {actor:?} accepted: {:?}", done.changes),
            Err(e) => e,
        }
    }

    pub fn owner_actor(&self) -> Actor {
        Actor::User(self.owner)
    }

    pub fn sys(&self, which: SystemGroup) -> GroupId {
        self.snap.system_group_id(which).expect("system group")
    }

    pub fn group(&self, id: GroupId) -> Arc<Group> {
        self.snap.group(id).expect("group exists").clone()
    }

    pub fn user(&self, id: UserId) -> Arc<User> {
        self.snap.user(id).expect("user exists").clone()
    }

    /// Direct members as stored (deactivated users included).
    pub fn stored_members(&self, id: GroupId) -> Vec<UserId> {
        self.group(id).members.clone()
    }

    pub fn next_email(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}@example.com", self.serial)
    }

    /// A human user with `role`, created by an operator.
    pub fn add_user(&mut self, role: Role) -> UserId {
        let email = self.next_email(role.name());
        let cmd = user_cmd(&email, &format!("A {} person", role.name()), role);
        self.create_user(Actor::Operator, cmd)
    }

    /// A bot with role member owned by `owner`, created by an operator.
    pub fn add_bot(&mut self, owner: UserId, role: Role) -> UserId {
        let email = self.next_email("bot");
        let mut cmd = user_cmd(&email, "Some bot", role);
        cmd.is_bot = true;
        cmd.bot_owner = Some(owner);
        self.create_user(Actor::Operator, cmd)
    }

    /// A user provisioned by `actor` (SCIM's create).
    #[track_caller]
    pub fn provision(&mut self, actor: Actor, cmd: ProvisionUser) -> UserId {
        match self.exec(actor, Command::ProvisionUser(cmd)).reply {
            Reply::User(id) => id,
            other => panic!("provision user replied {other:?}"),
        }
    }

    /// A live realm API token with `scopes`, created by an operator.
    #[track_caller]
    pub fn add_token(&mut self, name: &str, scopes: &[Scope]) -> TokenId {
        match self
            .exec(
                Actor::Operator,
                Command::CreateToken(token_cmd(name, scopes)),
            )
            .reply
        {
            Reply::Token(id) => id,
            other => panic!("create token replied {other:?}"),
        }
    }

    #[track_caller]
    pub fn create_user(&mut self, actor: Actor, cmd: CreateUser) -> UserId {
        match self.exec(actor, Command::CreateUser(cmd)).reply {
            Reply::User(id) => id,
            other => panic!("create user replied {other:?}"),
        }
    }

    /// A group with `members`, created by `actor` with default settings.
    #[track_caller]
    pub fn add_group(&mut self, actor: Actor, name: &str, members: &[UserId]) -> GroupId {
        let mut cmd = group_cmd(name);
        cmd.members = members.to_vec();
        self.create_group(actor, cmd)
    }

    #[track_caller]
    pub fn create_group(&mut self, actor: Actor, cmd: CreateGroup) -> GroupId {
        match self.exec(actor, Command::CreateGroup(cmd)).reply {
            Reply::Group(id) => id,
            other => panic!("create group replied {other:?}"),
        }
    }

    pub fn advance_days(&mut self, days: i64) {
        self.now += days * DAY;
    }

    /// Replay the whole log from the realm `RealmCreated` carried.
    pub fn replay(&self) -> Snapshot {
        let mut snap = Snapshot::empty(self.origin.clone());
        for commit in &self.commits {
            snap.apply(commit).expect("replayed commit applies");
        }
        snap
    }
}

// ------------------------------------------------------------------ oracles

/// Every group reachable from `group` (itself included), by fixed point.
pub fn naive_reach(snap: &Snapshot, group: GroupId) -> BTreeSet<GroupId> {
    let mut reach = BTreeSet::from([group]);
    loop {
        let mut grown = reach.clone();
        for id in &reach {
            if let Some(g) = snap.group(*id) {
                grown.extend(g.subgroups.iter().copied());
            }
        }
        if grown.len() == reach.len() {
            return reach;
        }
        reach = grown;
    }
}

/// Active users in `group` directly or through subgroups, sorted.
pub fn naive_recursive_members(snap: &Snapshot, group: GroupId) -> Vec<UserId> {
    let mut out = BTreeSet::new();
    for id in naive_reach(snap, group) {
        if let Some(g) = snap.group(id) {
            for user in &g.members {
                if snap.user(*user).is_some_and(|u| u.active) {
                    out.insert(*user);
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Zulip's evaluation rule (https://zulip.com/api/group-setting-values), from scratch: an active user holds a value if
/// they are a recursive member of it, except guests when the setting does not
/// allow `role:everyone` (no setting here allows `role:internet`).
pub fn naive_holds(
    snap: &Snapshot,
    user: &User,
    value: &SettingValue,
    config: &SettingConfig,
) -> bool {
    if !user.active || (!config.allow_everyone_group && user.role == Role::Guest) {
        return false;
    }
    match value {
        SettingValue::Group(g) => naive_recursive_members(snap, *g).contains(&user.id),
        SettingValue::Anonymous { members, subgroups } => {
            members.contains(&user.id)
                || subgroups
                    .iter()
                    .any(|g| naive_recursive_members(snap, *g).contains(&user.id))
        }
    }
}

/// Whether the subgraph of direct-subgroup edges has no cycle (Kahn).
pub fn acyclic(snap: &Snapshot) -> bool {
    let mut indegree: BTreeMap<GroupId, usize> = snap.groups().map(|g| (g.id, 0)).collect();
    for g in snap.groups() {
        for s in &g.subgroups {
            *indegree.entry(*s).or_default() += 1;
        }
    }
    let mut ready: Vec<GroupId> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(g, _)| *g)
        .collect();
    let mut seen = 0;
    while let Some(id) = ready.pop() {
        seen += 1;
        if let Some(g) = snap.group(id) {
            for s in &g.subgroups {
                let d = indegree.get_mut(s).expect("counted");
                *d -= 1;
                if *d == 0 {
                    ready.push(*s);
                }
            }
        }
    }
    seen == indegree.len()
}

fn strictly_sorted<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}

/// Invariants that hold after every commit whatever the clock says:
/// (1) acyclic subgroups, (3) recursive membership equals the naive fixed
/// point, unique login names, plus the shape of the stored records and the lookup indexes.
pub fn check_structure(snap: &Snapshot) {
    assert!(acyclic(snap), "subgroup graph has a cycle");
    check_login_names(snap);
    let mut names = BTreeSet::new();
    for g in snap.groups() {
        assert!(
            names.insert(g.name.clone()),
            "duplicate group name {:?}",
            g.name
        );
        assert_eq!(
            snap.group_by_name(&g.name).map(|found| found.id),
            Some(g.id),
            "name index"
        );
        assert!(
            strictly_sorted(&g.members),
            "members of {} not sorted",
            g.id
        );
        assert!(
            strictly_sorted(&g.subgroups),
            "subgroups of {} not sorted",
            g.id
        );
        for u in &g.members {
            assert!(
                snap.user(*u).is_some(),
                "group {} lists unknown user {u}",
                g.id
            );
        }
        for s in &g.subgroups {
            assert!(
                snap.group(*s).is_some(),
                "group {} lists unknown subgroup {s}",
                g.id
            );
            assert_ne!(*s, g.id, "group {} is its own subgroup", g.id);
        }
        for value in &g.settings {
            check_value_shape(snap, value);
        }
        let naive = naive_recursive_members(snap, g.id);
        assert_eq!(
            snap.recursive_members(g.id),
            naive,
            "recursive members of {}",
            g.id
        );
        let direct: Vec<UserId> = g
            .members
            .iter()
            .copied()
            .filter(|u| snap.is_active_user(*u))
            .collect();
        assert_eq!(
            snap.direct_members(g.id),
            direct,
            "direct members of {}",
            g.id
        );
        for user in snap.users() {
            assert_eq!(
                snap.is_member(g.id, user.id, false),
                naive.contains(&user.id),
                "is_member({}, {})",
                g.id,
                user.id
            );
            assert_eq!(
                snap.is_member(g.id, user.id, true),
                user.active && g.members.contains(&user.id),
                "is_member({}, {}, direct)",
                g.id,
                user.id
            );
        }
        let below: BTreeSet<GroupId> = naive_reach(snap, g.id)
            .into_iter()
            .filter(|s| *s != g.id)
            .collect();
        assert_eq!(
            snap.recursive_subgroups(g.id),
            below,
            "recursive subgroups of {}",
            g.id
        );
    }
    for value in &snap.realm().settings {
        check_value_shape(snap, value);
    }
    // System groups stay as the realm made them.
    for which in SystemGroup::ALL {
        let g = snap.system_group(which).expect("system group present");
        assert!(!g.deactivated);
        assert_eq!(
            g.subgroups,
            which
                .direct_subgroup()
                .map(|s| snap.system_group_id(s).unwrap())
                .into_iter()
                .collect::<Vec<_>>()
        );
        let nobody = SettingValue::Group(snap.system_group_id(SystemGroup::Nobody).unwrap());
        assert!(
            g.settings.iter().all(|v| *v == nobody),
            "settings of {}",
            which.name()
        );
    }
    assert!(snap
        .group(snap.system_group_id(SystemGroup::Nobody).unwrap())
        .unwrap()
        .members
        .is_empty());
    assert!(snap
        .group(snap.system_group_id(SystemGroup::Internet).unwrap())
        .unwrap()
        .members
        .is_empty());
    let mut emails = BTreeSet::new();
    for u in snap.users() {
        assert!(
            !(u.active && u.profile.deleted),
            "user {} is active but deleted through SCIM",
            u.id
        );
        let Some(email) = &u.email else { continue };
        assert!(
            emails.insert(email.to_lowercase()),
            "duplicate email {email}"
        );
        assert_eq!(
            snap.user_by_email(email).map(|found| found.id),
            Some(u.id),
            "email index"
        );
    }
}

/// Login names are unique under the email case rule among the users that
/// have one, and the login-name index finds each of them.
pub fn check_login_names(snap: &Snapshot) {
    let mut seen = BTreeMap::new();
    for u in snap.users() {
        let Some(name) = &u.profile.user_name else {
            continue;
        };
        if let Some(other) = seen.insert(Email::fold(name), u.id) {
            panic!("users {other} and {} share the login name {name:?}", u.id);
        }
        assert_eq!(
            snap.user_by_user_name(name).map(|found| found.id),
            Some(u.id),
            "login-name index for {name:?}"
        );
    }
}

fn check_value_shape(snap: &Snapshot, value: &SettingValue) {
    match value {
        SettingValue::Group(id) => {
            assert!(
                snap.group(*id).is_some(),
                "setting names unknown group {id}"
            )
        }
        SettingValue::Anonymous { members, subgroups } => {
            assert!(
                strictly_sorted(members) && strictly_sorted(subgroups),
                "unsorted {value:?}"
            );
            assert!(
                members.iter().all(|u| snap.user(*u).is_some()),
                "unknown user in {value:?}"
            );
            assert!(
                subgroups.iter().all(|g| snap.group(*g).is_some()),
                "unknown group in {value:?}"
            );
        }
    }
}

/// (2) Direct membership of every user in the system groups is what their
/// role (and, for members, the waiting period) says at `now`.
pub fn check_system_groups(snap: &Snapshot, now: Millis) {
    for user in snap.users() {
        let expected = command::system_groups_for(snap.realm(), user.role, user.date_joined, now);
        for which in SystemGroup::ALL {
            let group = snap.system_group(which).unwrap();
            assert_eq!(
                group.has_member(user.id),
                expected.contains(&which),
                "user {} ({:?}, joined {}, now {now}, waiting {}d): direct membership in {}",
                user.id,
                user.role,
                user.date_joined,
                snap.realm().waiting_period_days,
                which.name()
            );
        }
    }
}

pub fn active_human_owners(snap: &Snapshot) -> usize {
    snap.users()
        .filter(|u| u.active && !u.is_bot && u.role == Role::Owner)
        .count()
}

/// Zulip's group permission rule read from scratch: may `user` perform an operation on `group`
/// whose specific setting is `setting` (manage-only operations pass
/// `CanManageGroup`)? `None` when the question does not arise (unknown or
/// system group, acting user unknown or inactive).
pub fn may(snap: &Snapshot, user: UserId, group: GroupId, setting: GroupSetting) -> Option<bool> {
    let user = snap.user(user).filter(|u| u.active)?;
    let group = snap.group(group).filter(|g| !g.is_system())?;
    let all = RealmSetting::CanManageAllGroups;
    let manage = GroupSetting::CanManageGroup;
    Some(
        naive_holds(snap, user, snap.realm().setting(all), &all.config())
            || naive_holds(snap, user, group.setting(manage), &manage.config())
            || naive_holds(snap, user, group.setting(setting), &setting.config()),
    )
}
