//! `cohort login-link`: a one-time link into the admin page for one user,
//! and the issuing that `serve --demo` reuses for its owner. The link's key
//! is generated here and shown once; only its SHA-256 goes into the store
//! (`Store::create_login_link`, outside the change log), where the server
//! redeems it once. Who may have one is the core's rule,
//! `permission::may_use_admin_page`.

use crate::admin::pick_realm;
use crate::args::LoginLinkArgs;
use crate::setup::open_engine;
use anyhow::{anyhow, bail, Context as _, Result};
use cohort_core::{permission, RealmId, UserId};
use cohort_engine::{now_millis, secrets, Engine, EngineConfig};
use cohort_store::LoginLink;

/// How long a link lives unless told otherwise, in minutes.
pub const DEFAULT_MINUTES: i64 = 15;
/// The longest life a link may be given: a day.
pub const MAX_MINUTES: i64 = 24 * 60;
/// Where `login-link` says the server is unless told (`serve`'s default).
pub const DEFAULT_URL: &str = "http://127.0.0.1:9991";

/// Issue a link for `user` of `realm`, good for `minutes` (1 to a day):
/// refused unless the user may use the admin page. Returns the key, which
/// goes after `/ui/login/` in the link.
pub async fn issue_login_link(
    engine: &Engine,
    realm: RealmId,
    user: UserId,
    minutes: i64,
) -> Result<String> {
    check_minutes(minutes)?;
    let snap = engine
        .snapshot(realm)
        .with_context(|| format!("no realm {realm}"))?;
    permission::may_use_admin_page(&snap, user).map_err(|e| {
        let who = snap
            .user(user)
            .and_then(|u| u.email.as_deref().map(str::to_string))
            .unwrap_or_else(|| format!("user {user}"));
        anyhow!("{who} may not use the admin page: {e}")
    })?;
    let key = secrets::generate_key();
    let now = now_millis();
    engine
        .store()
        .create_login_link(LoginLink {
            hash: secrets::hash_key(&key),
            realm,
            user,
            created_at: now,
            expires_at: now + minutes * 60_000,
        })
        .await
        .context("storing the login link")?;
    Ok(key)
}

/// A link's life must be 1 minute to a day.
fn check_minutes(minutes: i64) -> Result<()> {
    if !(1..=MAX_MINUTES).contains(&minutes) {
        bail!("--minutes must be from 1 to {MAX_MINUTES} (a day), not {minutes}");
    }
    Ok(())
}

/// The link a key opens, on the server at `url`.
pub fn link_url(url: &str, key: &str) -> String {
    format!("{}/ui/login/{key}", url.trim_end_matches('/'))
}

/// `cohort login-link`: prints the link, and nothing else, on stdout.
pub async fn login_link(db: &str, args: LoginLinkArgs) -> Result<()> {
    // Before opening anything, so a typo costs nothing.
    check_minutes(args.minutes)?;
    let engine = open_engine(db, false, EngineConfig::default()).await?;
    let snap = pick_realm(&engine, &args.realm)?;
    let user = snap.user_by_email(&args.email).with_context(|| {
        format!(
            "no user with email {:?} in realm {:?}",
            args.email,
            snap.realm().name
        )
    })?;
    let key = issue_login_link(&engine, snap.realm_id(), user.id, args.minutes).await?;
    println!("{}", link_url(&args.url, &key));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_one_slash() {
        assert_eq!(link_url("http://h:1/", "abc"), "http://h:1/ui/login/abc");
        assert_eq!(link_url("http://h:1", "abc"), "http://h:1/ui/login/abc");
    }
}
