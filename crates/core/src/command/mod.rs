//! Commands: every write the directory accepts, checked against a snapshot.
//!
//! `execute` is pure: given a snapshot, an actor, a command, the time and a
//! source of fresh ids, it either refuses with a domain `Error` (nothing
//! changes) or returns the `Change`s to commit, the reply, and the snapshot as
//! it will be once those changes commit. Checks run in the order Zulip runs
//! them, so that the first error reported is the one Zulip would report.

use crate::change::Change;
use crate::error::{Error, Result};
use crate::ids::{Actor, GroupId, KeyHash, Millis, RealmId, TokenId, UserId, WebhookId};
use crate::model::{
    GroupSetting, GroupUpsert, Principal, ProfileEmail, RateLimit, RealmSetting, Role, Scope,
    Secret, SettingValue,
};
use crate::permission::{self, Gate};
use crate::snapshot::Snapshot;
use crate::values::{Checked, Email, GroupName, Key, UserName};

mod groups;
mod keyed;
mod provision;
mod realm;
pub use realm::MAX_PLATFORM_KEY_GRACE;
mod settings;
mod tokens;
mod users;
mod webhooks;

use groups::{change_members, create_group, deactivate_group, update_group, Listable};
use users::{
    create_user, deactivate_self, deactivate_user, reactivate_user, sync_full_members, update_user,
};

pub use groups::objections;
pub use realm::create_realm;
pub use settings::visible_value;
pub use users::system_groups_for;
pub use webhooks::MAX_KEEP_OLD_SECRET;

/// Fresh ids for new users, groups and realms, reserved by the store in advance
/// (see `Command::ids_needed`).
pub trait IdSource {
    fn next_id(&mut self) -> Option<i64>;
}

impl IdSource for std::vec::IntoIter<i64> {
    fn next_id(&mut self) -> Option<i64> {
        self.next()
    }
}

pub struct Context<'a> {
    pub now: Millis,
    pub ids: &'a mut dyn IdSource,
}

impl Context<'_> {
    fn fresh_id(&mut self) -> Result<i64> {
        self.ids
            .next_id()
            .ok_or_else(|| Error::Internal("no reserved id left".into()))
    }
}

/// A permission setting as a client sent it: `{new, old}` in Zulip's PATCH form.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingUpdate {
    pub new: SettingValue,
    pub old: Option<SettingValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateGroup {
    pub name: Checked<GroupName>,
    pub description: String,
    pub members: Vec<UserId>,
    pub subgroups: Vec<GroupId>,
    /// Values as sent; unset settings take their defaults.
    pub settings: Vec<(GroupSetting, SettingValue)>,
    /// IMKIT `_id`; generated when absent.
    pub key: Option<Checked<Key>>,
    pub avatar_url: Option<String>,
    /// SCIM `externalId`.
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateGroup {
    pub name: Option<Checked<GroupName>>,
    pub description: Option<String>,
    pub avatar_url: Option<Option<String>>,
    /// Zulip's `deactivated=false`.
    pub reactivate: bool,
    pub settings: Vec<(GroupSetting, SettingUpdate)>,
}

/// Zulip's `POST /user_groups/{id}/members` (and `/subgroups`): each list runs
/// in turn, add → delete → add_subgroups → delete_subgroups, all or nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeMembers {
    pub add: Vec<UserId>,
    pub delete: Vec<UserId>,
    pub add_subgroups: Vec<GroupId>,
    pub delete_subgroups: Vec<GroupId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateUser {
    pub email: Option<Checked<Email>>,
    pub full_name: String,
    pub role: Role,
    pub is_bot: bool,
    pub bot_owner: Option<UserId>,
    pub key: Option<Checked<Key>>,
    pub avatar_url: Option<String>,
    pub api_key: KeyHash,
    pub can_create_users: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateUser {
    pub full_name: Option<String>,
    pub email: Option<Checked<Email>>,
    pub role: Option<Role>,
    pub avatar_url: Option<Option<String>>,
    pub can_create_users: Option<bool>,
    pub api_key: Option<KeyHash>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateRealm {
    pub name: Option<String>,
    pub settings: Vec<(RealmSetting, SettingUpdate)>,
    pub waiting_period_days: Option<u32>,
    pub bots_may_manage_groups: Option<bool>,
    pub group_upsert: Option<GroupUpsert>,
    /// `Some(None)`: back to the server's default.
    pub rate_limit: Option<Option<RateLimit>>,
    pub platform_key: Option<KeyHash>,
    /// With `platform_key`: how long the replaced key keeps working, in
    /// milliseconds (0 to `realm::MAX_PLATFORM_KEY_GRACE`; 0 ends it now).
    pub platform_key_grace: Millis,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateRealm {
    pub name: String,
    pub owner: Option<CreateUser>,
}

/// Create a group, or (when the realm allows it) update the group with this
/// key: IMKIT's `POST /admin/groups`. Members are client keys.
#[derive(Clone, Debug, PartialEq)]
pub struct PutGroup {
    pub key: Option<Checked<Key>>,
    pub name: Checked<GroupName>,
    pub avatar_url: Option<String>,
    /// The whole list of direct member clients; `None` leaves members as they are.
    pub members: Option<Vec<String>>,
}

/// Create a user with this key, or update the given fields of the existing
/// one: IMKIT's `POST /admin/clients`.
#[derive(Clone, Debug, PartialEq)]
pub struct PutClient {
    pub key: Checked<Key>,
    pub full_name: Option<String>,
    pub email: Option<Checked<Email>>,
    pub avatar_url: Option<String>,
    /// Used only if the client is created (IMKIT clients do not use the Zulip
    /// API until an operator gives them a key).
    pub api_key: KeyHash,
}

/// SCIM's create of a user: named by its login name, a member of the realm.
/// The attributes are kept as sent (see `model::Profile`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionUser {
    pub user_name: Checked<UserName>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<ProfileEmail>,
    pub external_id: Option<String>,
    pub active: bool,
    /// For the Zulip face, should an operator later hand the key out.
    pub api_key: KeyHash,
}

/// SCIM's PUT and PATCH of a user: only the attributes the request touches
/// (`None`: leave as is; `Some(None)`: clear), so a concurrent change to
/// another attribute is kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EditUser {
    pub user_name: Option<Checked<UserName>>,
    pub display_name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub emails: Option<Vec<ProfileEmail>>,
    pub external_id: Option<Option<String>>,
    pub active: Option<bool>,
    /// `If-Match`: the `version_tag` the caller last saw.
    pub expect: Option<String>,
}

/// One step of a group's membership edit; members are users or groups
/// (direct subgroups).
#[derive(Clone, Debug, PartialEq)]
pub enum MemberEdit {
    /// Add those not yet members (the others are no change).
    Add(Vec<Principal>),
    /// Remove those that are members (the others are no change).
    Remove(Vec<Principal>),
    /// Exactly these, afterwards.
    Replace(Vec<Principal>),
}

/// SCIM's PUT and PATCH of a group: name, external id and membership steps,
/// applied in order against the group as it is when the command runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EditGroup {
    pub name: Option<Checked<GroupName>>,
    pub external_id: Option<Option<String>>,
    pub members: Vec<MemberEdit>,
    pub expect: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, which only its creator ever sees.
    pub hash: KeyHash,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateWebhook {
    pub url: String,
    pub description: String,
    /// Event types or families (`group.*`); empty: every type.
    pub types: Vec<String>,
    pub secret: Secret,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub description: Option<String>,
    pub types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RotateWebhookSecret {
    pub secret: Secret,
    /// How long the secrets in use keep signing beside the new one.
    pub keep_old_for: Millis,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreateGroup(CreateGroup),
    UpdateGroup(GroupId, UpdateGroup),
    DeactivateGroup(GroupId),
    ChangeMembers(GroupId, ChangeMembers),
    CreateUser(CreateUser),
    UpdateUser(UserId, UpdateUser),
    DeactivateUser(UserId),
    /// A user deactivating their own account.
    DeactivateSelf,
    ReactivateUser(UserId),
    UpdateRealm(UpdateRealm),
    /// Bring `role:fullmembers` in step with the waiting period (periodic job).
    SyncFullMembers,
    PutGroup(PutGroup),
    /// Remove a group for good (IMKIT's delete); refused while anything uses it.
    DeleteGroup(GroupId),
    /// Upsert clients by key, all or nothing.
    PutClients(Vec<PutClient>),
    ProvisionUser(ProvisionUser),
    /// SCIM's create of a group: as `CreateGroup`, but deactivated users may
    /// be listed (a provider keeps a disabled user's groups).
    ProvisionGroup(CreateGroup),
    EditUser(UserId, EditUser),
    /// SCIM's delete of a user (deactivation); `expect` as in `EditUser`.
    DeleteUser(UserId, Option<String>),
    EditGroup(GroupId, EditGroup),
    /// SCIM's delete of a group; `expect` as in `EditGroup`.
    RemoveGroup(GroupId, Option<String>),
    CreateToken(CreateToken),
    /// Revoke the live token with this name.
    RevokeToken(String),
    CreateWebhook(CreateWebhook),
    UpdateWebhook(WebhookId, UpdateWebhook),
    /// The sender's: the receiver said the endpoint is gone (the reason).
    DisableWebhook(WebhookId, String),
    RotateWebhookSecret(WebhookId, RotateWebhookSecret),
    RemoveWebhook(WebhookId),
}

impl Command {
    /// The caller checks this command starts with (see `permission::Gate`).
    pub fn gate(&self) -> Gate {
        match self {
            Command::CreateGroup(_) | Command::ProvisionGroup(_) => Gate::CreateGroups,
            Command::UpdateGroup(..)
            | Command::ChangeMembers(..)
            | Command::PutGroup(_)
            | Command::DeleteGroup(_)
            | Command::EditGroup(..)
            | Command::RemoveGroup(..) => Gate::GroupEndpoint,
            Command::CreateUser(_)
            | Command::UpdateRealm(_)
            | Command::PutClients(_)
            | Command::ProvisionUser(_)
            | Command::EditUser(..)
            | Command::DeleteUser(..) => Gate::Administrator,
            Command::CreateToken(_) | Command::RevokeToken(_) => Gate::Open,
            Command::CreateWebhook(_)
            | Command::UpdateWebhook(..)
            | Command::DisableWebhook(..)
            | Command::RotateWebhookSecret(..)
            | Command::RemoveWebhook(_) => Gate::Webhooks,
            Command::DeactivateGroup(_)
            | Command::UpdateUser(..)
            | Command::DeactivateUser(_)
            | Command::DeactivateSelf
            | Command::ReactivateUser(_)
            | Command::SyncFullMembers => Gate::Open,
        }
    }

    /// How many fresh ids the store must reserve before running this command.
    pub fn ids_needed(&self) -> usize {
        match self {
            Command::CreateGroup(_)
            | Command::ProvisionGroup(_)
            | Command::CreateUser(_)
            | Command::PutGroup(_)
            | Command::ProvisionUser(_)
            | Command::CreateToken(_)
            | Command::CreateWebhook(_) => 1,
            Command::PutClients(clients) => clients.len(),
            _ => 0,
        }
    }
}

/// What a successful command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Done,
    Group(GroupId),
    User(UserId),
    Realm(RealmId),
    /// One user per input, in input order.
    Users(Vec<UserId>),
    Token(TokenId),
    Webhook(WebhookId),
}

/// A command's accepted result: the changes to commit, and the snapshot as it
/// will be once they are (its version still the old one until `seal`).
#[derive(Debug)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub reply: Reply,
    staged: Snapshot,
}

impl Outcome {
    /// The snapshot after the commit that carried these changes at `version`.
    pub fn seal(self, version: crate::ids::Version) -> Snapshot {
        let mut snap = self.staged;
        snap.set_version(version);
        snap
    }
}

/// Changes under construction, applied as they are added so that each later
/// check sees the effect of the earlier steps.
struct Plan {
    snap: Snapshot,
    changes: Vec<Change>,
    at: Millis,
}

impl Plan {
    fn new(snap: &Snapshot, at: Millis) -> Plan {
        Plan {
            snap: snap.clone(),
            changes: Vec::new(),
            at,
        }
    }

    fn push(&mut self, change: Change) -> Result<()> {
        self.snap
            .stage(&change, self.at)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.changes.push(change);
        Ok(())
    }

    fn finish(self, reply: Reply) -> Outcome {
        Outcome {
            changes: self.changes,
            reply,
            staged: self.snap,
        }
    }
}

pub fn execute(
    snap: &Snapshot,
    actor: Actor,
    command: &Command,
    ctx: &mut Context,
) -> Result<Outcome> {
    let mut plan = Plan::new(snap, ctx.now);
    // A user acting must exist and be active whatever the command, and pass
    // the command's gate before any of its own checks.
    permission::check_gate(snap, actor, command.gate())?;
    let reply = match command {
        Command::CreateGroup(cmd) => create_group(&mut plan, actor, cmd, ctx, Listable::Active)?,
        Command::ProvisionGroup(cmd) => {
            create_group(&mut plan, actor, cmd, ctx, Listable::Provider)?
        }
        Command::UpdateGroup(id, cmd) => update_group(&mut plan, actor, *id, cmd)?,
        Command::DeactivateGroup(id) => deactivate_group(&mut plan, actor, *id)?,
        Command::ChangeMembers(id, cmd) => change_members(&mut plan, actor, *id, cmd)?,
        Command::CreateUser(cmd) => create_user(&mut plan, actor, cmd, ctx)?,
        Command::UpdateUser(id, cmd) => update_user(&mut plan, actor, *id, cmd)?,
        Command::DeactivateUser(id) => deactivate_user(&mut plan, actor, *id)?,
        Command::DeactivateSelf => deactivate_self(&mut plan, actor)?,
        Command::ReactivateUser(id) => reactivate_user(&mut plan, actor, *id)?,
        Command::UpdateRealm(cmd) => realm::update_realm(&mut plan, actor, cmd)?,
        Command::PutGroup(cmd) => keyed::put_group(&mut plan, actor, cmd, ctx)?,
        Command::DeleteGroup(id) => keyed::delete_group(&mut plan, actor, *id)?,
        Command::PutClients(clients) => keyed::put_clients(&mut plan, actor, clients, ctx)?,
        Command::ProvisionUser(cmd) => provision::provision_user(&mut plan, actor, cmd, ctx)?,
        Command::EditUser(id, cmd) => provision::edit_user(&mut plan, actor, *id, cmd)?,
        Command::DeleteUser(id, expect) => provision::delete_user(&mut plan, actor, *id, expect)?,
        Command::EditGroup(id, cmd) => provision::edit_group(&mut plan, actor, *id, cmd)?,
        Command::RemoveGroup(id, expect) => provision::remove_group(&mut plan, actor, *id, expect)?,
        Command::CreateToken(cmd) => tokens::create_token(&mut plan, actor, cmd, ctx)?,
        Command::RevokeToken(name) => tokens::revoke_token(&mut plan, actor, name)?,
        Command::CreateWebhook(cmd) => webhooks::create_webhook(&mut plan, actor, cmd, ctx)?,
        Command::UpdateWebhook(id, cmd) => webhooks::update_webhook(&mut plan, actor, *id, cmd)?,
        Command::DisableWebhook(id, reason) => {
            webhooks::disable_webhook(&mut plan, actor, *id, reason)?
        }
        Command::RotateWebhookSecret(id, cmd) => {
            webhooks::rotate_secret(&mut plan, actor, *id, cmd)?
        }
        Command::RemoveWebhook(id) => webhooks::remove_webhook(&mut plan, actor, *id)?,
        Command::SyncFullMembers => {
            sync_full_members(&mut plan)?;
            Reply::Done
        }
    };
    Ok(plan.finish(reply))
}
