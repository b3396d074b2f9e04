//! `cohort serve`: refuse plain HTTP on a non-loopback address (unless
//! `--behind-proxy`), load the TLS certificate, bind, (with `--demo`) create
//! and seed a missing database, start the engine and every face, reload the
//! certificate on SIGHUP, and shut down gracefully on SIGINT/SIGTERM
//! (in-flight requests finish, then the last token uses are written).

use crate::args::{LogFormat, ServeArgs};
use crate::{login, setup};
use anyhow::{Context as _, Result};
use cohort_engine::{Engine, EngineConfig};
use cohort_server::listen::Limits;
use cohort_server::proxy::TrustedProxies;
use cohort_server::tls::Tls;
use cohort_server::webhooks::{schedule, WebhookConfig};
use cohort_server::{AppState, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
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

fn site_for(addr: SocketAddr, tls: bool) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", addr.port())
}

/// Plain HTTP is for loopback only, unless a proxy in front of cohort
/// terminates TLS: credentials would otherwise cross the network in clear.
fn check_listen(args: &ServeArgs) -> Result<()> {
    let loopback = args.listen.ip().to_canonical().is_loopback();
    if loopback || args.tls_cert.is_some() || args.behind_proxy {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve plain HTTP on {}, which is not a loopback address: \
         give --tls-cert and --tls-key to serve HTTPS, or --behind-proxy if a \
         reverse proxy in front of cohort terminates TLS",
        args.listen
    )
}

fn limits(args: &ServeArgs) -> Limits {
    Limits {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
        max_headers: usize::try_from(args.max_headers).unwrap_or(usize::MAX),
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
    }
}

pub async fn serve(db: &str, args: ServeArgs) -> Result<()> {
    check_listen(&args)?;
    if args.behind_proxy && args.trusted_proxies.is_empty() {
        tracing::warn!(
            "--behind-proxy without --trusted-proxy: every client will appear to be the proxy"
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            Tls::load(cert, key).map_err(|e| anyhow::anyhow!("TLS: {e}"))?,
        )),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let site = site_for(addr, tls.is_some());

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
            rate_limits: cohort_server::RateLimits {
                per_credential: args.rate_limit.0,
                per_address: args.rate_limit_anonymous.0,
            },
            trusted_proxies: TrustedProxies::new(args.trusted_proxies.clone()),
        },
    );
    let sender =
        cohort_server::webhooks::spawn(engine.clone(), webhooks, state.closing.subscribe())
            .map_err(|e| anyhow::anyhow!(e))?;
    cohort_server::spawn_sign_in_pruner(engine.clone(), state.closing.subscribe());
    cohort_server::spawn_rate_limit_pruner(state.clone());
    // The URL as shown anywhere: its password masked.
    let shown = cohort_store::DbUrl::parse(db)
        .map(|url| url.to_string())
        .unwrap_or_else(|_| "the database".into());
    println!("cohort listening on {site} ({shown}, {realms} realm(s))");
    tracing::info!(%addr, db = %shown, "serving");
    if let Some(tls) = &tls {
        reload_on_hangup(tls.clone());
    }
    let served = cohort_server::run(listener, state, limits(&args), tls, shutdown_signal()).await;
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

/// SIGHUP: re-read the certificate and key. A bad pair is logged (the
/// reason, never the key) and the previous certificate stays in use. The
/// outcome is counted in `cohort_tls_reloads_total{result}` (`Tls::reload`).
fn reload_on_hangup(tls: Arc<Tls>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the certificate will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("reloaded the TLS certificate"),
                Err(err) => {
                    tracing::error!(error = %err, "could not reload the TLS certificate; still serving the previous one");
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = tls;
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
