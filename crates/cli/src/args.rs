//! The command line. Every flag can also come from a `COHORT_*` environment
//! variable; flags win.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cohort",
    version,
    about = "One directory of users and user groups, served through Zulip's user-groups API \
and IMKIT's admin API, on SQLite or PostgreSQL.",
    long_about = "cohort keeps one directory of users and user groups per realm and serves it \
through two APIs at once: Zulip's user-groups and users API under /api/v1 (the official Zulip \
clients work against it) and IMKIT's admin API under /admin (groups and clients); a group made \
through one is the same group in the other. The directory is stored in an embedded SQLite file \
(the default) or in PostgreSQL, where several `cohort serve` nodes can share one database. \
Reads come from memory; every write is checked by one set of rules, committed durably and \
appended to a per-realm change log before it is acknowledged (`cohort check` replays the log)."
)]
pub struct Cli {
    /// Database URL: sqlite://PATH (the embedded default) or a bare file path,
    /// or postgres://USER:PASSWORD@HOST:PORT/DATABASE.
    #[arg(
        long,
        global = true,
        env = "COHORT_DB",
        default_value = "sqlite://cohort.db"
    )]
    pub db: String,

    /// Log filter (tracing syntax, e.g. `info`, `cohort=debug,info`); defaults to
    /// `info` for `serve` and `warn` for the other commands.
    #[arg(long, global = true, env = "COHORT_LOG")]
    pub log: Option<String>,

    /// Log format.
    #[arg(long, global = true, env = "COHORT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the database, a realm and its owner; print the owner's API key and
    /// the realm's IMKIT platform key; write a zuliprc.
    Init(InitArgs),
    /// Serve every face over HTTP.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage realms (tenants).
    #[command(subcommand)]
    Realm(RealmCommand),
    /// Manage realm API tokens (for SCIM and other machine clients).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage webhook endpoints (signed requests for every change).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Print a one-time link that signs a user in to the admin page (`/ui`);
    /// it works once, within its life.
    LoginLink(LoginLinkArgs),
    /// Read the audit trail: every change, who made it, when and through
    /// which face, with names as they were then (oldest first).
    Audit(AuditArgs),
    /// Who gained and who lost effective membership of each group between
    /// two moments, and the changes responsible.
    AccessReview(AccessReviewArgs),
    /// Write the whole directory as of a moment to a file (CSV or JSON Lines).
    Export(ExportArgs),
    /// Manage the change log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Verify the database: replay each realm's change log from the start and
    /// compare the result with the stored state. Exits non-zero on a mismatch.
    Check(JsonFlag),
    /// Create or upgrade the database schema (PostgreSQL needs this before
    /// `serve`; the embedded SQLite file is migrated when opened).
    Migrate,
    /// Copy a whole database (realms, users, groups, keys, change log) into an
    /// empty one, e.g. from SQLite to PostgreSQL, and verify the copy.
    ///
    /// Resumable: commits are copied in chunks, each in one transaction of the
    /// target, so an interrupted copy leaves every realm at a whole commit.
    /// Run the same command again and it continues from the target's
    /// per-realm versions, after checking that what the target holds is a
    /// prefix of this source's log.
    Copy(CopyArgs),
}

#[derive(Args, Clone)]
pub struct CopyArgs {
    /// Source database URL.
    #[arg(long)]
    pub from: String,
    /// Target database URL: empty, or a copy of this source that was
    /// interrupted (the copy resumes).
    #[arg(long)]
    pub to: String,
    /// Commits per target transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: u64,
    /// Tests only: pause this long after each chunk, announcing it on stderr.
    #[arg(long, env = "COHORT_COPY_PAUSE_MS", hide = true)]
    pub pause_ms: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// Name of the realm (organization) to create.
    #[arg(long, env = "COHORT_REALM_NAME", default_value = "cohort")]
    pub realm_name: String,
    /// The owner's email (their Zulip login).
    #[arg(long, env = "COHORT_OWNER_EMAIL", default_value = "owner@example.com")]
    pub owner_email: String,
    /// The owner's full name.
    #[arg(long, env = "COHORT_OWNER_NAME", default_value = "Owner")]
    pub owner_name: String,
    /// Where to write the zuliprc for the owner.
    #[arg(long, env = "COHORT_ZULIPRC", default_value = "zuliprc")]
    pub zuliprc: PathBuf,
    /// The server URL written into the zuliprc.
    #[arg(long, env = "COHORT_SITE", default_value = "http://127.0.0.1:9991")]
    pub site: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "COHORT_LISTEN", default_value = "127.0.0.1:9991")]
    pub listen: SocketAddr,
    /// On a missing database: create it with a demo realm, users and groups, and
    /// write a zuliprc for its owner.
    #[arg(long, env = "COHORT_DEMO")]
    pub demo: bool,
    /// Where `--demo` writes the owner's zuliprc.
    #[arg(long, env = "COHORT_ZULIPRC", default_value = "zuliprc")]
    pub zuliprc: PathBuf,
    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "COHORT_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// The URL clients reach cohort at, e.g. `https://cohort.example.com`
    /// behind a proxy; SCIM's `meta.location` and `$ref`s are built from it.
    /// Without it, `http://` and the request's `Host` header.
    #[arg(long, env = "COHORT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How long an admin page sign-in lasts, in hours.
    #[arg(long, env = "COHORT_UI_SESSION_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    pub ui_session_hours: u64,
    /// How often to pick up changes other processes committed, in milliseconds.
    #[arg(long, env = "COHORT_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Let webhook requests reach loopback, private and link-local addresses
    /// (refused by default, so an endpoint cannot reach into cohort's network).
    #[arg(long, env = "COHORT_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Waits before retrying a failed webhook delivery, one per retry
    /// (units ms, s, m, h); when they run out the delivery is failed.
    #[arg(long, env = "COHORT_WEBHOOK_RETRY_SCHEDULE", default_value = cohort_server::webhooks::schedule::DEFAULT)]
    pub webhook_retry_schedule: String,
    /// Seconds a webhook request may take (connect, send, answer).
    #[arg(long, env = "COHORT_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,
    /// Requests each credential (API key, platform key, API token, admin
    /// page session) may make: N/PERIOD (`1200/60s`, `50/s`, `5000/1h`; N
    /// may also come at once) or `off`. A realm may set its own
    /// (`cohort realm set --rate-limit`). Past it: 429 in the face's format
    /// with `Retry-After`.
    #[arg(long, env = "COHORT_RATE_LIMIT", default_value = "1200/60s", value_parser = parse_rate)]
    pub rate_limit: RateArg,
    /// Requests each client address may make without a valid credential
    /// (sign-in pages, probes, failed authentications): N/PERIOD or `off`.
    #[arg(long, env = "COHORT_RATE_LIMIT_ANONYMOUS", default_value = "300/60s", value_parser = parse_rate)]
    pub rate_limit_anonymous: RateArg,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key); SIGHUP
    /// re-reads both files.
    #[arg(
        long,
        env = "COHORT_TLS_CERT",
        requires = "tls_key",
        value_name = "PATH"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "COHORT_TLS_KEY",
        requires = "tls_cert",
        value_name = "PATH"
    )]
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy (address or CIDR, e.g. 10.0.0.0/8 or fd00::/8; repeatable)
    /// whose X-Forwarded-For and X-Forwarded-Proto are believed; from any
    /// other peer they are ignored.
    #[arg(long = "trusted-proxy", env = "COHORT_TRUSTED_PROXY", value_delimiter = ',', value_name = "CIDR", value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Allow plain HTTP on a non-loopback address: a reverse proxy in front
    /// terminates TLS (without it, such a --listen needs --tls-cert/--tls-key).
    #[arg(long, env = "COHORT_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// Connections open at once; beyond it new ones wait in the listen
    /// backlog until one closes (keep the open-files limit above it).
    #[arg(long, env = "COHORT_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Largest request head (request line and headers), in bytes; a larger
    /// one is answered 431 and its connection closed.
    #[arg(long, env = "COHORT_MAX_HEADER_BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(8192..=16_777_216))]
    pub max_header_bytes: u64,
    /// Most header fields in a request; more are answered 431.
    #[arg(long, env = "COHORT_MAX_HEADERS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_headers: u64,
    /// Seconds a request's headers (and a TLS handshake) may take to arrive;
    /// an HTTP/1.1 connection waiting longer for its next request is closed.
    #[arg(long, env = "COHORT_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a connection with no request in flight stays open (long
    /// polls and event streams count as in flight).
    #[arg(long, env = "COHORT_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take to arrive, from the end of its headers.
    #[arg(long, env = "COHORT_BODY_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub body_timeout_secs: u64,
}

fn parse_trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    cohort_server::proxy::TrustedProxies::parse_net(text)
}

/// A parsed `--rate-limit` value (`None`: off).
#[derive(Clone, Copy, Debug)]
pub struct RateArg(pub Option<cohort_core::RateLimit>);

fn parse_rate(text: &str) -> Result<RateArg, String> {
    cohort_server::parse_rate(text).map(RateArg)
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; prints their API key.
    Add(UserAddArgs),
    /// List users.
    List(ListArgs),
    /// Replace a user's API key; prints the new key.
    Key(UserKeyArgs),
    /// Change a user's role or name.
    Set(UserSetArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RealmSelector {
    /// Realm id or name (optional when the database holds one realm).
    #[arg(long, env = "COHORT_REALM")]
    pub realm: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    #[arg(long)]
    pub email: String,
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// owner, administrator, moderator, member or guest.
    #[arg(long, default_value = "member")]
    pub role: String,
    /// Create a bot.
    #[arg(long)]
    pub bot: bool,
    /// IMKIT client `_id` (defaults to the user id).
    #[arg(long)]
    pub key: Option<String>,
    /// Grant Zulip's `can_create_users` (administrators only).
    #[arg(long)]
    pub can_create_users: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct UserKeyArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct UserSetArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub role: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Deactivate (true) or reactivate (false) the user.
    #[arg(long)]
    pub deactivated: Option<bool>,
}

#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LoginLinkArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// The user to sign in: an owner, administrator, moderator or member
    /// (guests, deactivated users and bots, unless the realm lets bots
    /// manage groups, may not use the admin page).
    #[arg(long)]
    pub email: String,
    /// How long the link works, in minutes (1 to 1440).
    #[arg(long, default_value_t = crate::login::DEFAULT_MINUTES, allow_negative_numbers = true)]
    pub minutes: i64,
    /// The URL clients reach the server at (as `serve --public-url`); the
    /// link is URL/ui/login/KEY.
    #[arg(long, env = "COHORT_PUBLIC_URL", default_value = crate::login::DEFAULT_URL)]
    pub url: String,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a realm API token; prints its secret once.
    Create(TokenCreateArgs),
    /// List the realm's tokens (never their secrets).
    List(TokenListArgs),
    /// Revoke the live token with this name; it stops working at once.
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// What the token may be used for: scim, audit:read, events or webhooks.
    /// Repeat the flag or separate scopes with commas.
    #[arg(long = "scope", required = true, value_delimiter = ',', value_parser = parse_scope)]
    pub scopes: Vec<cohort_core::Scope>,
    /// Name of the token, unique among the realm's live tokens (default:
    /// token-N).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A scope name as `cohort_core::Scope` spells it.
fn parse_scope(text: &str) -> Result<cohort_core::Scope, String> {
    cohort_core::Scope::from_name(text.trim()).ok_or_else(|| {
        let valid: Vec<&str> = cohort_core::Scope::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scope {text:?}; valid scopes: {}", valid.join(", "))
    })
}

#[derive(Args, Debug, Clone)]
pub struct TokenListArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// Include revoked tokens.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// The token's name.
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its signing secret once.
    Add(WebhookAddArgs),
    /// List the realm's endpoints (never their secrets).
    List(WebhookListArgs),
    /// Remove an endpoint; nothing more is sent to it.
    Remove(WebhookIdArgs),
    /// Make a new signing secret (printed once); the old one keeps signing
    /// beside it for a while, so receivers can switch without a gap.
    RotateSecret(WebhookRotateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct WebhookAddArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// Where to send: an http(s) URL. A running server refuses internal
    /// addresses unless it runs with --webhook-allow-private.
    #[arg(long)]
    pub url: String,
    /// Event types or families to send (`group.member_added`, `group.*`);
    /// repeat or separate with commas. All types when absent.
    #[arg(long = "types", value_delimiter = ',')]
    pub types: Vec<String>,
    #[arg(long, default_value = "")]
    pub description: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WebhookListArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WebhookIdArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// The endpoint's id (`cohort webhook list`).
    pub id: i64,
}

#[derive(Args, Debug, Clone)]
pub struct WebhookRotateArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// The endpoint's id (`cohort webhook list`).
    pub id: i64,
    /// How long the old secret keeps signing, in seconds (at most a week).
    #[arg(long, default_value_t = 24 * 3600)]
    pub keep_old_for_secs: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List groups with their direct members and subgroups.
    List(ListArgs),
    /// A group's members as of a moment (now by default), with the chain of
    /// subgroups that makes each one a member.
    Members(GroupMembersArgs),
}

#[derive(Args, Debug, Clone)]
pub struct GroupMembersArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// The group's name or id.
    pub group: String,
    /// RFC 3339 moment, e.g. 2026-03-01T00:00:00Z (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Include members through subgroups.
    #[arg(long)]
    pub transitive: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// RFC 3339; events at or after this moment.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339; events at or before this moment.
    #[arg(long)]
    pub until: Option<String>,
    /// Who acted: an email or user id (`user:ID`), `token:NAME`, `platform`,
    /// `operator` or `system`.
    #[arg(long)]
    pub actor: Option<String>,
    /// Events naming this group (name or id).
    #[arg(long)]
    pub group: Option<String>,
    /// Events naming this user (email or id), memberships included.
    #[arg(long)]
    pub user: Option<String>,
    /// Event types, comma-separated (`group.member_added,group.renamed`).
    #[arg(long = "type")]
    pub r#type: Vec<String>,
    /// zulip, imkit, scim, native, ui, cli or system.
    #[arg(long)]
    pub face: Option<String>,
    /// Newest first.
    #[arg(long)]
    pub newest: bool,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON object per line, as the native API renders events.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AccessReviewArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// RFC 3339; the earlier moment (the last review).
    #[arg(long)]
    pub from: String,
    /// RFC 3339; the later moment (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Only this group (name or id).
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Delete the log before a moment, keeping a checkpoint of the directory
    /// at that moment: every answer about it or later stays the same; audit
    /// events and as-of answers before it are gone. cohort keeps everything
    /// unless told to prune.
    Prune(PruneArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// RFC 3339 moment; commits made before it go (not after now).
    #[arg(long)]
    pub before: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// RFC 3339 moment (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// csv (one row per effective membership) or jsonl.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// The file to write (written to FILE.partial, then renamed).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum RealmCommand {
    /// Add another realm to the database (its users, groups and ids are its own).
    Add(RealmAddArgs),
    /// List realms.
    List(JsonFlag),
    /// Change realm settings.
    Set(RealmSetArgs),
    /// Replace the realm's IMKIT platform key (`IM-API-KEY`); prints the new key.
    #[command(subcommand)]
    Key(RealmKeyCommand),
}

#[derive(Subcommand, Debug)]
pub enum RealmKeyCommand {
    Rotate(RealmKeyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RealmKeyArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// How long the replaced key keeps working beside the new one, in
    /// seconds (at most a week); 0, the default, ends it at once. A later
    /// rotation ends it too.
    #[arg(long, default_value_t = 0)]
    pub grace_secs: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct JsonFlag {
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RealmAddArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub owner_email: String,
    #[arg(long, default_value = "Owner")]
    pub owner_name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RealmSetArgs {
    #[command(flatten)]
    pub realm: RealmSelector,
    /// Rename the realm.
    #[arg(long)]
    pub name: Option<String>,
    /// Who may create groups: a group name (e.g. role:members) or id.
    #[arg(long)]
    pub can_create_groups: Option<String>,
    /// Who may manage every group: a group name (e.g. role:administrators) or id.
    #[arg(long)]
    pub can_manage_all_groups: Option<String>,
    /// Days before a new member joins role:fullmembers.
    #[arg(long)]
    pub waiting_period_days: Option<u32>,
    /// Let bots use the user-group endpoints (as newer Zulip does).
    #[arg(long)]
    pub bots_may_manage_groups: Option<bool>,
    /// What IMKIT's `POST /admin/groups` does with an existing `_id`: `reject`
    /// (409 GROUP_ALREADY_EXISTS, current IMKIT docs) or `update` (legacy docs).
    #[arg(long, value_enum)]
    pub group_upsert: Option<GroupUpsertArg>,
    /// This realm's own per-credential rate limit (N/PERIOD, e.g. `600/60s`
    /// or `100000/1s`), or `default` for the server's (`serve --rate-limit`).
    #[arg(long, value_parser = parse_realm_rate)]
    pub rate_limit: Option<RealmRateArg>,
}

/// `cohort realm set --rate-limit`: the realm's own rate, or (`None`) the
/// server's.
#[derive(Clone, Copy, Debug)]
pub struct RealmRateArg(pub Option<cohort_core::RateLimit>);

fn parse_realm_rate(text: &str) -> Result<RealmRateArg, String> {
    if text.trim().eq_ignore_ascii_case("default") {
        return Ok(RealmRateArg(None));
    }
    match cohort_server::parse_rate(text)? {
        Some(rate) => Ok(RealmRateArg(Some(rate))),
        None => Err("a realm cannot turn its limit off; give N/PERIOD or `default`".into()),
    }
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum GroupUpsertArg {
    Reject,
    Update,
}

/// A database URL as `Debug` shows it: PostgreSQL passwords masked (the
/// store's `DbUrl` rule), anything unparsable not at all.
fn masked_url(url: &str) -> String {
    cohort_store::DbUrl::parse(url).map_or_else(|_| "…".to_string(), |u| u.to_string())
}

/// Database URLs may hold a password: `Debug` masks it.
impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("db", &masked_url(&self.db))
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("command", &self.command)
            .finish()
    }
}

impl std::fmt::Debug for CopyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyArgs")
            .field("from", &masked_url(&self.from))
            .field("to", &masked_url(&self.to))
            .field("chunk", &self.chunk)
            .field("pause_ms", &self.pause_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_database_passwords() {
        let cli = Cli::parse_from([
            "cohort",
            "--db",
            "postgres://u:pw-Hidden81@db/x?password=pw-Query22",
            "copy",
            "--from",
            "postgres://u:pw-From33@a/x",
            "--to",
            "postgres://u:pw-To44@b/x",
        ]);
        let shown = format!("{cli:?} {cli:#?}");
        for secret in ["pw-Hidden81", "pw-Query22", "pw-From33", "pw-To44"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres://u:***@db/x"), "{shown}");
    }
}
