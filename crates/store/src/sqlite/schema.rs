//! SQLite schema migrations, embedded. Each runs in its own transaction and is
//! recorded in `schema_migrations`; once released, a migration is never edited.

use crate::migrations::{Migration, Step};

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        steps: &[Step::Sql(INITIAL)],
    },
    Migration {
        version: 2,
        name: "email key",
        steps: &[
            Step::Sql(EMAIL_KEY_COLUMN),
            Step::BackfillEmailKeys,
            Step::Sql(EMAIL_KEY_INDEX),
        ],
    },
    Migration {
        version: 3,
        name: "identity providers",
        steps: &[Step::Sql(IDENTITY_PROVIDERS)],
    },
    Migration {
        version: 4,
        name: "commit origins",
        steps: &[Step::Sql(COMMIT_ORIGINS)],
    },
    Migration {
        version: 5,
        name: "log checkpoints",
        steps: &[Step::Sql(LOG_CHECKPOINTS)],
    },
    Migration {
        version: 6,
        name: "webhook deliveries",
        steps: &[Step::Sql(WEBHOOK_DELIVERIES)],
    },
    Migration {
        version: 7,
        name: "admin page sign-ins",
        steps: &[Step::Sql(UI_SIGN_INS)],
    },
];

// The admin page's sign-in state (bookkeeping outside the change log, see
// the store's `sessions` module): one-time login links and browser sessions,
// each keyed by the SHA-256 of its secret (`KeyHash`, 32 bytes), never the
// secret itself. `used_at` is set once, by the conditional update that
// redeems a link. Both are pruned by `expires_at`.
const UI_SIGN_INS: &str = r#"
CREATE TABLE ui_login_links (
    hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
    realm_id   INTEGER NOT NULL REFERENCES realms (id),
    user_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX ui_login_links_expires ON ui_login_links (expires_at);
CREATE TABLE ui_sessions (
    hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
    realm_id   INTEGER NOT NULL REFERENCES realms (id),
    user_id    INTEGER NOT NULL,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
"#;

// Webhook deliveries (bookkeeping outside the change log, see the store's
// `webhooks` module): per endpoint, how far the log has been enqueued and
// which node holds the sending lease; one row per event and endpoint, with
// the exact body sent; one row per attempt. `state`: pending, delivered or
// failed.
const WEBHOOK_DELIVERIES: &str = r#"
CREATE TABLE webhook_state (
    webhook_id       INTEGER PRIMARY KEY,
    realm_id         INTEGER NOT NULL REFERENCES realms (id),
    enqueued_through INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE webhook_deliveries (
    webhook_id INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    realm_id   INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    lane       INTEGER NOT NULL,
    payload    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    retries    INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    done_at    INTEGER,
    PRIMARY KEY (webhook_id, version, idx)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, version, idx)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at)
    WHERE done_at IS NOT NULL;
CREATE TABLE webhook_attempts (
    webhook_id  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    response    TEXT    NOT NULL,
    PRIMARY KEY (webhook_id, version, idx, attempt)
) WITHOUT ROWID;
"#;

// `cohort log prune`: a realm's whole state at a version (the core's realm,
// users and groups, as JSON), from which its history starts once the log up
// to that version is deleted. Only the newest checkpoint is kept.
const LOG_CHECKPOINTS: &str = r#"
CREATE TABLE checkpoints (
    realm_id INTEGER NOT NULL REFERENCES realms (id),
    version  INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    state    TEXT    NOT NULL,
    PRIMARY KEY (realm_id, version)
) WITHOUT ROWID;
"#;

// Where each commit came from: the face (`Face::as_str`), the request id the
// caller saw and the client's address. Rows from before stay NULL and read
// back with the face their actor implies.
const COMMIT_ORIGINS: &str = r#"
ALTER TABLE changes ADD COLUMN face TEXT;
ALTER TABLE changes ADD COLUMN request_id TEXT;
ALTER TABLE changes ADD COLUMN client_addr TEXT;
"#;

// SCIM: a user's provider profile (the core's `Profile`, as JSON) with its
// login name's folded key under a unique index, a group's external id, and
// when each realm API token was last used (bookkeeping outside the change
// log: it is not directory state, and `cohort check` does not compare it).
const IDENTITY_PROVIDERS: &str = r#"
ALTER TABLE users ADD COLUMN profile TEXT;
ALTER TABLE users ADD COLUMN user_name_key TEXT;
CREATE UNIQUE INDEX users_realm_user_name ON users (realm_id, user_name_key);
ALTER TABLE groups ADD COLUMN external_id TEXT;
CREATE TABLE token_uses (
    token_id     INTEGER PRIMARY KEY,
    realm_id     INTEGER NOT NULL REFERENCES realms (id),
    last_used_at INTEGER NOT NULL
);
"#;

// `COLLATE NOCASE` folds ASCII only, so "É@x" and "é@x" were two users here
// but one in the core's email index; the key column holds the core's rule.
const EMAIL_KEY_COLUMN: &str = "ALTER TABLE users ADD COLUMN email_key TEXT;";
const EMAIL_KEY_INDEX: &str = r#"
DROP INDEX users_realm_email;
CREATE UNIQUE INDEX users_realm_email ON users (realm_id, email_key);
"#;

const INITIAL: &str = r#"
-- One id space for realms, users and groups, so an id never means two things
-- and another realm's ids are simply unknown.
CREATE TABLE ids (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    next_id   INTEGER NOT NULL
);
INSERT INTO ids (singleton, next_id) VALUES (1, 1);

CREATE TABLE realms (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    -- Version of the last commit in this realm's change log.
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- Settings and hashed keys: the core's `Realm` record as JSON.
    data       TEXT    NOT NULL
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    realm_id         INTEGER NOT NULL REFERENCES realms (id),
    key              TEXT    NOT NULL,
    email            TEXT,
    full_name        TEXT    NOT NULL,
    avatar_url       TEXT,
    role             INTEGER NOT NULL,
    is_bot           INTEGER NOT NULL,
    bot_owner_id     INTEGER,
    active           INTEGER NOT NULL,
    can_create_users INTEGER NOT NULL,
    -- SHA-256 of the API key, hex; the key itself is never stored.
    api_key_hash     TEXT    NOT NULL UNIQUE,
    date_joined      INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_realm_key ON users (realm_id, key);
CREATE UNIQUE INDEX users_realm_email ON users (realm_id, email COLLATE NOCASE);

CREATE TABLE groups (
    id                       INTEGER PRIMARY KEY,
    realm_id                 INTEGER NOT NULL REFERENCES realms (id),
    key                      TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    description              TEXT    NOT NULL,
    avatar_url               TEXT,
    system_kind              TEXT,
    deactivated              INTEGER NOT NULL,
    creator_id               INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    -- Permission settings: a group id or an anonymous group, as JSON.
    can_add_members_group    TEXT    NOT NULL,
    can_join_group           TEXT    NOT NULL,
    can_leave_group          TEXT    NOT NULL,
    can_manage_group         TEXT    NOT NULL,
    can_mention_group        TEXT    NOT NULL,
    can_remove_members_group TEXT    NOT NULL
);
CREATE UNIQUE INDEX groups_realm_name ON groups (realm_id, name);
CREATE UNIQUE INDEX groups_realm_key ON groups (realm_id, key);

-- Direct edges only; transitive membership is computed in memory.
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id),
    user_id  INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE TABLE group_subgroups (
    group_id    INTEGER NOT NULL REFERENCES groups (id),
    subgroup_id INTEGER NOT NULL REFERENCES groups (id),
    PRIMARY KEY (group_id, subgroup_id)
) WITHOUT ROWID;

-- The change log: one row per commit, its changes as a JSON array.
CREATE TABLE changes (
    realm_id INTEGER NOT NULL REFERENCES realms (id),
    version  INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    changes  TEXT    NOT NULL,
    PRIMARY KEY (realm_id, version)
) WITHOUT ROWID;
"#;
