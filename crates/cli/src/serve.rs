//! `cohort serve`: bind, (with `--demo`) create and seed a missing database,
//! start the engine and every face, and shut down gracefully on SIGINT/SIGTERM
//! (in-flight requests finish, then the last token uses are written).

use crate::args::{LogFormat, ServeArgs};
use crate::{login, setup};
use anyhow::{Context as _, Result};
use cohort_engine::{Engine, EngineConfig};
use cohort_server::webhooks::{schedule, WebhookConfig};
use cohort_server::{AppState, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// The demo realm's owner, the one `--demo` prints an admin page link for.
const DEMO_OWNER: &str = "desdemona@example.com";

/// tokio-postgres logs every statement with its parameters at `debug`:
/// webhook signing secrets and CSRF tokens are among them. Whatever the
/// filter asks (`trace` included), that crate logs at `info` at most.
const QUIET_DATABASE_DRIVER: &str = "tokio_postgres=info";

pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            QUIET_DATABASE_DRIVER
                .parse()
                .expect("a fixed, valid directive"),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn site_for(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

pub async fn serve(db: &str, args: ServeArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let site = site_for(addr);

    let config = EngineConfig {
        poll_interval: Duration::from_millis(args.poll_ms.max(10)),
        ..EngineConfig::default()
    };
    // Before the engine starts, so its start-up gauges are recorded.
    cohort_server::install_metrics();
    // `--demo` may create the database; it seeds one that holds no realm yet.
    let engine = setup::open_engine(db, args.demo, config).await?;
    if args.demo && engine.realm_ids().is_empty() {
        let mut created =
            setup::create_realm(&engine, "Zulip Dev", DEMO_OWNER, "Desdemona").await?;
        created.scim_token =
            Some(crate::tokens::issue_scim(&engine, created.realm.realm_id()).await?);
        let owner = created
            .realm
            .user_by_email(&created.owner_email)
            .map(|u| u.id)
            .context("demo owner missing")?;
        setup::seed_demo(&engine, created.realm.realm_id(), owner).await?;
        setup::write_zuliprc(
            &args.zuliprc,
            &created.owner_email,
            &created.owner_api_key,
            &site,
        )?;
        setup::print_new_realm(&created, db, Some(&args.zuliprc), &site, false);
        println!(
            "Try: curl -sSu {}:{} {site}/api/v1/user_groups",
            created.owner_email, created.owner_api_key
        );
    } else if args.demo {
        println!("{db} exists; serving it as it is (its owner's credentials are in the zuliprc written when it was created).");
    }
    if args.demo {
        // Behind a proxy the link must name the URL browsers reach.
        demo_login_link(&engine, args.public_url.as_deref().unwrap_or(&site)).await;
    }
    if engine.realm_ids().is_empty() {
        tracing::warn!("the database holds no realm yet; create one with `cohort realm add`");
    }
    let realms = engine.realm_ids().len();
    let webhooks = WebhookConfig {
        allow_private: args.webhook_allow_private,
        schedule: schedule::parse(&args.webhook_retry_schedule)
            .map_err(|e| anyhow::anyhow!("--webhook-retry-schedule: {e}"))?,
        timeout: Duration::from_secs(args.webhook_timeout_secs.clamp(1, 300)),
        node: Some(node_name(addr)),
        ..WebhookConfig::default()
    };
    let state = AppState::new(
        engine.clone(),
        ServerConfig {
            max_body_bytes: args.max_body_bytes,
            public_url: args.public_url.clone(),
            webhooks: webhooks.clone(),
            ui_session: Duration::from_secs(args.ui_session_hours.saturating_mul(3600)),
        },
    );
    let sender =
        cohort_server::webhooks::spawn(engine.clone(), webhooks, state.closing.subscribe())
            .map_err(|e| anyhow::anyhow!(e))?;
    cohort_server::spawn_sign_in_pruner(engine.clone(), state.closing.subscribe());
    // The URL as shown anywhere: its password masked.
    let shown = cohort_store::DbUrl::parse(db)
        .map(|url| url.to_string())
        .unwrap_or_else(|_| "the database".into());
    println!("cohort listening on {site} ({shown}, {realms} realm(s))");
    tracing::info!(%addr, db = %shown, "serving");
    let served = cohort_server::run(listener, state, shutdown_signal()).await;
    // Requests in flight to receivers finish (bounded by their timeout) and
    // are recorded, so none is sent twice for want of a record.
    if let Err(err) = sender.await {
        tracing::warn!(error = %err, "the webhook sender stopped abnormally");
    }
    // Token uses noted since the last periodic flush would otherwise be lost.
    if let Err(err) = engine.flush_token_uses().await {
        tracing::warn!(error = %err, "could not record the last token uses");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// `--demo`: a one-time admin page link for the demo owner, new on every
/// start (also on an existing demo database). A database without that owner
/// (or where they may not sign in) gets a warning, not a refusal to serve.
async fn demo_login_link(engine: &Engine, site: &str) {
    let owner = engine.realm_ids().into_iter().find_map(|realm| {
        let snap = engine.snapshot(realm)?;
        let user = snap.user_by_email(DEMO_OWNER)?;
        Some((realm, user.id))
    });
    let Some((realm, owner)) = owner else {
        tracing::warn!("no {DEMO_OWNER} in the database: no admin page link to print");
        return;
    };
    match login::issue_login_link(engine, realm, owner, login::DEFAULT_MINUTES).await {
        Ok(key) => println!(
            "admin page: sign in at {} (one-time, {} minutes)",
            login::link_url(site, &key),
            login::DEFAULT_MINUTES
        ),
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "no admin page link for the demo owner")
        }
    }
}

/// This process among the nodes: the host and the address it listens on.
fn node_name(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{addr}")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
