//! `cohort token create|list|revoke`: realm API tokens for machine clients
//! (SCIM provisioning first). A token's secret is generated here, printed
//! once, and only its SHA-256 reaches the engine; creation and revocation go
//! through the engine as `Actor::Operator`, like every other CLI write.

use crate::admin::pick_realm;
use crate::args::{TokenCommand, TokenCreateArgs, TokenListArgs, TokenRevokeArgs};
use crate::setup::open_engine;
use anyhow::{bail, Context as _, Result};
use cohort_core::command::CreateToken;
use cohort_core::{Actor, Command, Millis, RealmId, Reply, Scope, Token};
use cohort_engine::{secrets, Engine, EngineConfig};
use serde_json::json;
use std::collections::HashMap;

/// The token `init` and `serve --demo` issue for the SCIM face.
pub const SCIM_TOKEN_NAME: &str = "scim";

/// A token just created: its secret, shown once.
pub struct NewToken {
    pub token: Token,
    pub secret: String,
}

/// Create a token in `realm` and return it with its secret.
pub async fn issue(
    engine: &Engine,
    realm: RealmId,
    name: &str,
    scopes: Vec<Scope>,
) -> Result<NewToken> {
    let secret = secrets::generate_token();
    let done = engine
        .execute(
            realm,
            Actor::Operator,
            Command::CreateToken(CreateToken {
                name: name.to_string(),
                scopes,
                hash: secrets::hash_key(&secret),
            }),
        )
        .await
        .with_context(|| format!("creating token {name:?}"))?;
    let Reply::Token(id) = done.reply else {
        bail!("unexpected reply {:?}", done.reply)
    };
    let token = done
        .snapshot
        .realm()
        .token(id)
        .cloned()
        .context("the new token is missing from the realm")?;
    Ok(NewToken { token, secret })
}

/// `init` and `serve --demo`: the SCIM token of a new realm.
pub async fn issue_scim(engine: &Engine, realm: RealmId) -> Result<String> {
    Ok(issue(engine, realm, SCIM_TOKEN_NAME, vec![Scope::Scim])
        .await?
        .secret)
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(millis: Millis) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{millis}ms"))
}

fn scope_names(token: &Token) -> Vec<&'static str> {
    token.scopes.iter().map(|s| s.name()).collect()
}

pub async fn token(db: &str, command: TokenCommand) -> Result<()> {
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    match command {
        TokenCommand::Create(args) => create(&engine, args).await,
        TokenCommand::List(args) => list(&engine, args).await,
        TokenCommand::Revoke(args) => revoke(&engine, args).await,
    }
}

async fn create(engine: &Engine, args: TokenCreateArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    let name = match args.name {
        Some(name) => name,
        None => (1..)
            .map(|n| format!("token-{n}"))
            .find(|name| snap.realm().live_token(name).is_none())
            .context("no free token name")?,
    };
    let new = issue(engine, snap.realm_id(), &name, args.scopes).await?;
    let scopes = scope_names(&new.token);
    if args.json {
        println!(
            "{}",
            json!({"name": new.token.name, "token": new.secret, "scopes": scopes,
                   "created_at": rfc3339(new.token.created_at)})
        );
    } else {
        println!(
            "Created token {:?} (scopes {}) in realm {:?}:",
            new.token.name,
            scopes.join(","),
            snap.realm().name
        );
        println!("{}", new.secret);
        println!("It is shown only now; cohort stores its hash.");
    }
    Ok(())
}

async fn list(engine: &Engine, args: TokenListArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    let uses: HashMap<_, _> = engine
        .store()
        .token_uses(snap.realm_id())
        .await
        .context("reading token uses")?
        .into_iter()
        .collect();
    let shown: Vec<&Token> = snap
        .realm()
        .tokens
        .iter()
        .filter(|t| args.all || t.revoked_at.is_none())
        .collect();
    if args.json {
        let out: Vec<_> = shown
            .iter()
            .map(|t| {
                json!({"name": t.name, "scopes": scope_names(t), "created_at": rfc3339(t.created_at),
                       "last_used_at": uses.get(&t.id).map(|at| rfc3339(*at)),
                       "revoked_at": t.revoked_at.map(rfc3339)})
            })
            .collect();
        println!("{}", json!(out));
        return Ok(());
    }
    println!(
        "{:<24}  {:<32}  {:<20}  {:<20}  revoked",
        "name", "scopes", "created", "last used"
    );
    for t in shown {
        let line = format!(
            "{:<24}  {:<32}  {:<20}  {:<20}  {}",
            t.name,
            scope_names(t).join(","),
            rfc3339(t.created_at),
            uses.get(&t.id)
                .map(|at| rfc3339(*at))
                .unwrap_or_else(|| "never".into()),
            t.revoked_at.map(rfc3339).unwrap_or_default()
        );
        println!("{}", line.trim_end());
    }
    Ok(())
}

async fn revoke(engine: &Engine, args: TokenRevokeArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    engine
        .execute(
            snap.realm_id(),
            Actor::Operator,
            Command::RevokeToken(args.name.clone()),
        )
        .await
        .with_context(|| format!("revoking token {:?}", args.name))?;
    println!(
        "Revoked token {:?} in realm {:?}; it stops working now.",
        args.name,
        snap.realm().name
    );
    Ok(())
}
