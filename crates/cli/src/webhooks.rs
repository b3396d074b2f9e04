//! `cohort webhook add|list|remove|rotate-secret`: webhook endpoints from the
//! command line, through the engine as `Actor::Operator` like every CLI
//! write (a running server picks the change up from the database). The
//! signing secret is generated here and printed once.

use crate::admin::pick_realm;
use crate::args::{
    WebhookAddArgs, WebhookCommand, WebhookIdArgs, WebhookListArgs, WebhookRotateArgs,
};
use crate::setup::open_engine;
use crate::tokens::rfc3339;
use anyhow::{bail, Context as _, Result};
use cohort_core::command::{CreateWebhook, RotateWebhookSecret};
use cohort_core::{Actor, Command, Reply, Webhook, WebhookId};
use cohort_engine::{secrets, Engine, EngineConfig};
use serde_json::{json, Value};

pub async fn webhook(db: &str, command: WebhookCommand) -> Result<()> {
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    match command {
        WebhookCommand::Add(args) => add(&engine, args).await,
        WebhookCommand::List(args) => list(&engine, args),
        WebhookCommand::Remove(args) => remove(&engine, args).await,
        WebhookCommand::RotateSecret(args) => rotate(&engine, args).await,
    }
}

fn summary(w: &Webhook) -> Value {
    json!({
        "id": w.id.0,
        "url": w.url,
        "description": w.description,
        "types": w.types,
        "enabled": w.disabled.is_none(),
        "disabled_reason": w.disabled.as_ref().map(|d| &d.reason),
        "created_at": rfc3339(w.created_at),
    })
}

async fn add(engine: &Engine, args: WebhookAddArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    let secret = secrets::generate_webhook_secret();
    let command = Command::CreateWebhook(CreateWebhook {
        url: args.url.clone(),
        description: args.description,
        types: args.types.iter().map(|t| t.trim().to_string()).collect(),
        secret: secret.clone(),
    });
    let done = engine
        .execute(snap.realm_id(), Actor::Operator, command)
        .await
        .with_context(|| format!("adding a webhook to {}", args.url))?;
    let Reply::Webhook(id) = done.reply else {
        bail!("unexpected reply {:?}", done.reply)
    };
    let webhook = done
        .snapshot
        .realm()
        .webhook(id)
        .context("the new endpoint is missing from the realm")?;
    if args.json {
        let mut out = summary(webhook);
        out["secret"] = json!(secret.0);
        println!("{out}");
    } else {
        println!(
            "Added webhook {} → {} in realm {:?}; its signing secret:",
            id,
            webhook.url,
            snap.realm().name
        );
        println!("{}", secret.0);
        println!("It is shown only now (`cohort webhook rotate-secret {id}` makes a new one).");
    }
    Ok(())
}

fn list(engine: &Engine, args: WebhookListArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    let webhooks: Vec<&Webhook> = snap.realm().live_webhooks().collect();
    if args.json {
        let out: Vec<Value> = webhooks.iter().map(|w| summary(w)).collect();
        println!("{}", json!(out));
        return Ok(());
    }
    println!("{:<8}  {:<8}  {:<40}  types", "id", "state", "url");
    for w in webhooks {
        let state = if w.disabled.is_some() {
            "disabled"
        } else {
            "enabled"
        };
        let types = if w.types.is_empty() {
            "all".to_string()
        } else {
            w.types.join(",")
        };
        println!("{:<8}  {:<8}  {:<40}  {types}", w.id.0, state, w.url);
    }
    Ok(())
}

async fn remove(engine: &Engine, args: WebhookIdArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    engine
        .execute(
            snap.realm_id(),
            Actor::Operator,
            Command::RemoveWebhook(WebhookId(args.id)),
        )
        .await
        .with_context(|| format!("removing webhook {}", args.id))?;
    println!("Removed webhook {}; nothing more is sent to it.", args.id);
    Ok(())
}

async fn rotate(engine: &Engine, args: WebhookRotateArgs) -> Result<()> {
    let snap = pick_realm(engine, &args.realm)?;
    let secret = secrets::generate_webhook_secret();
    let command = Command::RotateWebhookSecret(
        WebhookId(args.id),
        RotateWebhookSecret {
            secret: secret.clone(),
            keep_old_for: args.keep_old_for_secs.saturating_mul(1000),
        },
    );
    engine
        .execute(snap.realm_id(), Actor::Operator, command)
        .await
        .with_context(|| format!("rotating the secret of webhook {}", args.id))?;
    if args.json {
        println!(
            "{}",
            json!({"id": args.id, "secret": secret.0, "old_secrets_sign_for_secs": args.keep_old_for_secs})
        );
    } else {
        println!("New signing secret of webhook {}:", args.id);
        println!("{}", secret.0);
        println!(
            "The previous secret keeps signing beside it for {} s.",
            args.keep_old_for_secs
        );
    }
    Ok(())
}
