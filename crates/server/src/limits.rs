//! Rate limits: a token bucket (GCRA, from `governor`) per credential and
//! per client address, checked before a request does anything.
//!
//! - A request that authenticates pays into its credential's bucket: a
//!   user's API key, a realm's platform key, an API token, an admin page
//!   session. The rate is the realm's own (`cohort realm set --rate-limit`)
//!   or the server's (`serve --rate-limit`).
//! - A request that fails to authenticate, or goes to a route that takes
//!   no credential (sign-in pages, probes, 404s), pays into its client
//!   address's bucket (`serve --rate-limit-anonymous`); IPv6 addresses by
//!   their /64, which one host usually holds whole.
//!
//! Faces call [`Limits::admit`] in their authentication extractors and
//! [`Limits::after_failure`] when authentication fails; open handlers take
//! [`ByAddress`]. Each face words the refusal (429) in its own format;
//! [`headers`] adds `Retry-After` and the `X-RateLimit-*` headers Zulip's
//! clients read, to every face's responses alike.

use crate::ops::RequestContext;
use crate::AppState;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use cohort_core::{KeyHash, RateLimit, Realm, RealmId, TokenId, UserId};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server's rates (`serve --rate-limit`, `--rate-limit-anonymous`);
/// `None` turns that limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub per_credential: Option<RateLimit>,
    pub per_address: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_credential: Some(RateLimit {
                requests: 1200,
                per_seconds: 60,
            }),
            per_address: Some(RateLimit {
                requests: 300,
                per_seconds: 60,
            }),
        }
    }
}

/// Read `N/PERIOD` (`200/60s`, `1000/1m`, `50/s`, `5000/1h`) or `off`.
pub fn parse_rate(text: &str) -> Result<Option<RateLimit>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let usage = || format!("{text:?}: expected N/PERIOD such as 200/60s, 1000/1m, 50/s, or off");
    let (requests, period) = text.split_once('/').ok_or_else(usage)?;
    let requests: u32 = requests.trim().parse().map_err(|_| usage())?;
    let period = period.trim();
    let unit_at = period
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(usage)?;
    let (count, unit) = period.split_at(unit_at);
    let count: u32 = if count.is_empty() {
        1
    } else {
        count.parse().map_err(|_| usage())?
    };
    let seconds = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(usage()),
    };
    let limit = RateLimit {
        requests,
        per_seconds: count.checked_mul(seconds).ok_or_else(usage)?,
    };
    cohort_core::validate::rate_limit(limit).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(Some(limit))
}

/// Whose bucket a request pays into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A user's API key (Zulip's face, HTTP Basic on the native API).
    User(UserId),
    /// A realm's IMKIT platform key.
    Platform(RealmId),
    /// A realm API token (SCIM, the native API).
    Token(TokenId),
    /// An admin page session, by the hash of its cookie.
    Session(KeyHash),
}

/// A request let through: what is left of its bucket.
#[derive(Clone, Copy, Debug)]
pub struct Allowance {
    limit: u32,
    remaining: u32,
    /// Until the bucket is full again.
    refilled_in: Duration,
}

/// A request refused.
#[derive(Clone, Copy, Debug)]
pub struct Limited {
    limit: u32,
    retry_after: Duration,
    refilled_in: Duration,
}

impl Limited {
    /// How long until one more request would be let through.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Whole seconds to wait (never 0, so a client that rounds down does
    /// not retry at once).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

type Bucket<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

fn bucket<K: Clone + std::hash::Hash + Eq>(rate: RateLimit) -> Bucket<K> {
    governor::RateLimiter::keyed(quota(rate)).with_middleware::<StateInformationMiddleware>()
}

/// The buckets of one server. Credentials' buckets are kept per rate, so a
/// realm with its own rate has its own limiter.
pub struct Limits {
    rates: RateLimits,
    credentials: RwLock<HashMap<RateLimit, Arc<Bucket<Credential>>>>,
    addresses: Option<(RateLimit, Bucket<IpAddr>)>,
}

fn quota(rate: RateLimit) -> Quota {
    // `validate::rate_limit` (flags, realm settings) keeps both above 0.
    let burst = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(u64::from(rate.per_seconds.max(1)));
    Quota::with_period(period / burst.get())
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl Limits {
    pub fn new(rates: RateLimits) -> Limits {
        Limits {
            rates,
            credentials: RwLock::default(),
            addresses: rates.per_address.map(|rate| (rate, bucket(rate))),
        }
    }

    /// Charge an authenticated request to its credential, at its realm's
    /// rate or the server's.
    pub fn admit(&self, who: Credential, realm: &Realm) -> Result<(), Limited> {
        let Some(rate) = realm.rate_limit.or(self.rates.per_credential) else {
            return Ok(());
        };
        // Checked under the read lock: a request costs no reference count.
        if let Some(bucket) = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rate)
        {
            return record(check(bucket, &who, rate));
        }
        let bucket = self
            .credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(rate)
            .or_insert_with(|| Arc::new(bucket(rate)))
            .clone();
        record(check(&bucket, &who, rate))
    }

    /// Charge a request that takes no credential, or failed to present a
    /// valid one, to its client's address.
    pub fn by_address(&self, client: Option<IpAddr>) -> Result<(), Limited> {
        let Some((rate, bucket)) = &self.addresses else {
            return Ok(());
        };
        record(check(bucket, &address_key(client), *rate))
    }

    /// After authentication failed with `err`: the address pays, and when
    /// its bucket is empty the answer is the face's 429 (`refused`) instead
    /// (so guessing keys is as slow as the anonymous rate).
    pub fn after_failure<E>(&self, parts: &Parts, err: E, refused: fn(&Limited) -> E) -> E {
        match self.by_address(client(parts)) {
            Ok(()) => err,
            Err(limited) => refused(&limited),
        }
    }

    /// Forget buckets that are full again (they hold no information): keeps
    /// memory bounded however many keys and addresses come and go.
    pub fn prune(&self) {
        for bucket in self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
        if let Some((_, bucket)) = &self.addresses {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
    }

    /// Buckets held now (credentials, addresses), for the metrics.
    pub fn held(&self) -> (usize, usize) {
        let credentials = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|b| b.len())
            .sum();
        let addresses = self.addresses.as_ref().map_or(0, |(_, b)| b.len());
        (credentials, addresses)
    }
}

fn check<K: Clone + std::hash::Hash + Eq>(
    bucket: &Bucket<K>,
    key: &K,
    rate: RateLimit,
) -> Result<Allowance, Limited> {
    let per_request = quota(rate).replenish_interval();
    match bucket.check_key(key) {
        Ok(state) => {
            let remaining = state.remaining_burst_capacity();
            Ok(Allowance {
                limit: rate.requests,
                remaining,
                refilled_in: per_request * rate.requests.saturating_sub(remaining),
            })
        }
        Err(not_until) => Err(Limited {
            limit: rate.requests,
            retry_after: not_until.wait_time_from(bucket.clock().now()),
            refilled_in: per_request * rate.requests,
        }),
    }
}

/// The address a bucket is kept for: IPv4 as is, IPv6 by its /64.
fn address_key(client: Option<IpAddr>) -> IpAddr {
    match client {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Some(v4) => v4,
        // Served without `ops::track` (no context): one shared bucket.
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn client(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<RequestContext>()
        .and_then(RequestContext::client)
}

tokio::task_local! {
    /// The outcome of this request's check, for [`headers`].
    static OUTCOME: Cell<Option<Result<Allowance, Limited>>>;
}

fn record(outcome: Result<Allowance, Limited>) -> Result<(), Limited> {
    // Outside `headers` (a router served without the layers) there is no
    // slot; the check still holds.
    let _ = OUTCOME.try_with(|slot| slot.set(Some(outcome)));
    if let Err(limited) = outcome {
        metrics::counter!("cohort_rate_limited_total").increment(1);
        tracing::debug!(
            retry_after_ms = limited.retry_after.as_millis() as u64,
            "rate limited"
        );
    }
    outcome.map(|_| ())
}

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Middleware: after the handler, the limit that applied goes out as
/// Zulip's headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset` as UNIX
/// seconds) and, on a refusal, `Retry-After`.
pub async fn headers(request: Request, next: Next) -> Response {
    let (mut response, outcome) = OUTCOME
        .scope(Cell::new(None), async {
            let response = next.run(request).await;
            (response, OUTCOME.with(Cell::get))
        })
        .await;
    let (limit, remaining, refilled_in) = match outcome {
        None => return response,
        Some(Ok(a)) => (a.limit, a.remaining, a.refilled_in),
        Some(Err(l)) => {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, l.retry_after_secs().into());
            (l.limit, 0, l.refilled_in)
        }
    };
    let reset = SystemTime::now()
        .checked_add(refilled_in)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs_f64().ceil() as u64);
    let headers = response.headers_mut();
    headers.insert(LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(REMAINING.clone(), HeaderValue::from(remaining));
    headers.insert(RESET.clone(), HeaderValue::from(reset));
    response
}

/// For handlers open to anyone: the client's address pays. Refused in the
/// format of the face the path belongs to.
pub struct ByAddress;

impl FromRequestParts<AppState> for ByAddress {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        state
            .limits
            .by_address(client(parts))
            .map(|()| ByAddress)
            .map_err(|limited| crate::too_many_requests(parts.uri.path(), &limited))
    }
}

/// Every minute, forget the buckets that are full again.
pub fn spawn_pruner(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            state.limits.prune();
            let (credentials, addresses) = state.limits.held();
            metrics::gauge!("cohort_rate_limit_buckets", "kind" => "credential")
                .set(credentials as f64);
            metrics::gauge!("cohort_rate_limit_buckets", "kind" => "address").set(addresses as f64);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(requests: u32, per_seconds: u32) -> Option<RateLimit> {
        Some(RateLimit {
            requests,
            per_seconds,
        })
    }

    #[test]
    fn rates_are_read_in_the_forms_the_flags_document() {
        assert_eq!(parse_rate("200/60s"), Ok(rate(200, 60)));
        assert_eq!(parse_rate("1000/1m"), Ok(rate(1000, 60)));
        assert_eq!(parse_rate("50/s"), Ok(rate(50, 1)));
        assert_eq!(parse_rate(" 5000/1h "), Ok(rate(5000, 3600)));
        assert_eq!(parse_rate("OFF"), Ok(None));
        for bad in [
            "",
            "200",
            "0/60s",
            "200/0s",
            "200/60",
            "200/2d",
            "x/1s",
            "1/100000h",
            "-1/1s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_refuses_until_it_refills() {
        let limits = Limits::new(RateLimits {
            per_credential: rate(3, 3600),
            per_address: rate(2, 3600),
        });
        let realm = Realm {
            rate_limit: None,
            ..test_realm()
        };
        let me = Credential::User(UserId(7));
        for _ in 0..3 {
            assert!(limits.admit(me, &realm).is_ok());
        }
        let refused = limits.admit(me, &realm).expect_err("the fourth is refused");
        // One request every 20 minutes refills the bucket.
        assert!(refused.retry_after() > Duration::from_secs(1190));
        assert_eq!(refused.retry_after_secs(), 1200);
        // Another credential has its own bucket.
        assert!(limits.admit(Credential::User(UserId(8)), &realm).is_ok());
        // A realm's own rate replaces the server's.
        let generous = Realm {
            rate_limit: rate(10, 1),
            ..test_realm()
        };
        assert!(limits.admit(me, &generous).is_ok());
        // Addresses: IPv6 by /64, IPv4 each.
        let a: IpAddr = "2001:db8::1".parse().expect("an address");
        let b: IpAddr = "2001:db8::2".parse().expect("an address");
        assert!(limits.by_address(Some(a)).is_ok());
        assert!(limits.by_address(Some(b)).is_ok());
        assert!(limits.by_address(Some(a)).is_err());
        assert!(limits
            .by_address(Some("192.0.2.1".parse().expect("v4")))
            .is_ok());
    }

    #[test]
    fn off_means_unlimited() {
        let limits = Limits::new(RateLimits {
            per_credential: None,
            per_address: None,
        });
        for _ in 0..10_000 {
            assert!(limits
                .admit(Credential::Platform(RealmId(1)), &test_realm())
                .is_ok());
            assert!(limits.by_address(None).is_ok());
        }
        assert_eq!(limits.held(), (0, 0));
    }

    fn test_realm() -> Realm {
        Realm {
            id: RealmId(1),
            name: "r".into(),
            created_at: 0,
            settings: [
                cohort_core::SettingValue::Group(cohort_core::GroupId(2)),
                cohort_core::SettingValue::Group(cohort_core::GroupId(2)),
            ],
            waiting_period_days: 0,
            bots_may_manage_groups: false,
            group_upsert: Default::default(),
            rate_limit: None,
            platform_key: None,
            retired_platform_key: None,
            tokens: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}
