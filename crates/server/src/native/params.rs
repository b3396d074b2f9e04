//! Query parameters of the native API, parsed the same way by every endpoint.
//!
//! Strict on purpose: an audit query that silently ignored a misspelt
//! `untill` would answer a wider question than the one asked, so an unknown
//! or repeated parameter is 400 `invalid_parameter` naming it. A handler
//! lists the parameters it takes:
//!
//! ```ignore
//! let query = Query::parse(raw.as_deref(), &["since", "until", "limit", "cursor"])?;
//! let since = query.timestamp("since")?;
//! let until = query.timestamp("until")?;
//! ensure_ordered(("since", since), ("until", until))?;
//! let limit = query.limit()?;
//! let scope = query.cursor_scope("/audit", auditor.snapshot.realm_id());
//! let cursor = query.cursor::<LogPosition>(&scope)?;
//! ```
//!
//! Timestamps are RFC 3339 (`2024-05-01T12:00:00Z`, any offset, any fraction
//! of a second) between 1970 and 9999, read as milliseconds since the epoch
//! (finer fractions are cut, not rounded). `limit` is 1 to 1000, 100 when
//! absent. Cursors are `cursor.rs`'s.

use super::cursor::{Cursor, CursorScope, Position, QueryDigest};
use super::error::NativeError;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use cohort_core::{Millis, RealmId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `limit` when the client sends none.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 1000;

/// 9999-12-31T23:59:59.999Z, the latest timestamp accepted.
pub const LATEST: Millis = 253_402_300_799_999;

/// A decoded query string: each parameter once, all of them known.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decode `raw` (the query string without `?`), refusing parameters not
    /// in `allowed`, repeated ones, and bytes that are not UTF-8.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Query, NativeError> {
        let pairs = crate::form::decode(raw.unwrap_or("").as_bytes()).map_err(|_| {
            NativeError::new(
                super::error::ErrorCode::InvalidParameter,
                "The query string is not valid UTF-8 once percent-decoded",
            )
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                let known = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("this endpoint takes {}", allowed.join(", "))
                };
                return Err(NativeError::invalid_parameter(
                    name,
                    format!("Unknown parameter {name:?}: {known}"),
                ));
            }
            if pairs[..i].iter().any(|(seen, _)| seen == name) {
                return Err(NativeError::invalid_parameter(
                    name,
                    format!("{name} is given more than once"),
                ));
            }
        }
        Ok(Query { pairs })
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter as sent (decoded), in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// An RFC 3339 timestamp parameter, as milliseconds since the epoch.
    pub fn timestamp(&self, name: &str) -> Result<Option<Millis>, NativeError> {
        self.get(name).map(|v| parse_timestamp(name, v)).transpose()
    }

    /// `limit`: 1 to `MAX_LIMIT`, `DEFAULT_LIMIT` when absent.
    pub fn limit(&self) -> Result<u32, NativeError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => parse_limit(text),
        }
    }

    /// What a cursor for this query is bound to: the realm, the endpoint and
    /// every parameter but `cursor` and `limit`.
    pub fn cursor_scope(&self, endpoint: &str, realm: RealmId) -> CursorScope {
        CursorScope {
            realm,
            query: QueryDigest::new(endpoint, self.pairs()),
        }
    }

    /// The `cursor` parameter, decoded against `scope`.
    pub fn cursor<P: Position>(
        &self,
        scope: &CursorScope,
    ) -> Result<Option<Cursor<P>>, NativeError> {
        self.get("cursor")
            .map(|text| Cursor::decode(text, scope))
            .transpose()
    }
}

/// An RFC 3339 timestamp from 1970 to 9999, as milliseconds since the epoch.
pub fn parse_timestamp(name: &str, value: &str) -> Result<Millis, NativeError> {
    let refuse = |why: &str| {
        NativeError::invalid_parameter(
            name,
            format!("{name} must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z ({why})"),
        )
    };
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| refuse("not one"))?;
    let millis = at.unix_timestamp_nanos().div_euclid(1_000_000);
    // RFC 3339 years stop at 9999, but an offset can still move the instant
    // past the end of 9999 UTC, or before 1970.
    if !(0..=i128::from(LATEST)).contains(&millis) {
        return Err(refuse("it must lie between 1970 and 9999"));
    }
    Millis::try_from(millis).map_err(|_| refuse("out of range"))
}

/// Milliseconds since the epoch as RFC 3339 in UTC, to the millisecond
/// (`2024-05-01T12:00:00.000Z`), for responses.
pub fn format_timestamp(millis: Millis) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// `limit` as sent: decimal digits only, 1 to `MAX_LIMIT`.
pub fn parse_limit(text: &str) -> Result<u32, NativeError> {
    let refuse = || {
        NativeError::invalid_parameter(
            "limit",
            format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
        )
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(refuse()),
    }
}

/// A range's end must not come before its start (`until` ≥ `since`, `to` ≥
/// `from`); either may be open. The later parameter is named.
pub fn ensure_ordered(
    (start_name, start): (&str, Option<Millis>),
    (end_name, end): (&str, Option<Millis>),
) -> Result<(), NativeError> {
    match (start, end) {
        (Some(start), Some(end)) if end < start => Err(NativeError::invalid_parameter(
            end_name,
            format!("{end_name} must not be before {start_name}"),
        )),
        _ => Ok(()),
    }
}

/// The same query on `endpoint` with the next page's cursor (relative to
/// the host).
pub fn next_url(endpoint: &str, params: &Query, cursor: &str) -> String {
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut url = format!("{}/{endpoint}?", super::PREFIX);
    for (name, value) in params.pairs().filter(|(n, _)| *n != "cursor") {
        url.push_str(&format!("{}={}&", encode(name), encode(value)));
    }
    url.push_str(&format!("cursor={}", encode(cursor)));
    url
}

/// A page's response with its next page in a `Link` header (RFC 8288).
pub fn with_next_link(mut response: Response, next: Option<&str>) -> Response {
    if let Some(link) =
        next.and_then(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok())
    {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::super::cursor::{Direction, LogPosition};
    use super::super::error::ErrorCode;
    use super::*;

    #[track_caller]
    fn invalid<T: std::fmt::Debug>(result: Result<T, NativeError>, param: &str) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter, "{err:?}");
        assert_eq!(err.body.param.as_deref(), Some(param), "{err:?}");
        err.body.message
    }

    #[test]
    fn timestamps_in_rfc_3339() {
        let ok = |v: &str| parse_timestamp("since", v).unwrap();
        assert_eq!(ok("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ok("2023-11-14T22:13:20Z"), 1_700_000_000_000);
        assert_eq!(ok("2023-11-14T22:13:20.123Z"), 1_700_000_000_123);
        // Finer fractions are cut, not rounded.
        assert_eq!(ok("2023-11-14T22:13:20.123999Z"), 1_700_000_000_123);
        assert_eq!(ok("2023-11-15T00:13:20+02:00"), 1_700_000_000_000);
        assert_eq!(ok("2023-11-14t22:13:20z"), 1_700_000_000_000);
        // RFC 3339 lets a space stand for the `T` (§5.6, NOTE).
        assert_eq!(ok("2023-11-14 22:13:20Z"), 1_700_000_000_000);
        assert_eq!(ok("9999-12-31T23:59:59.999Z"), 253_402_300_799_999);
    }

    #[test]
    fn bad_or_out_of_range_timestamps_name_the_parameter() {
        for value in [
            "",
            "yesterday",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "1700000000000",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",
        ] {
            let msg = invalid(parse_timestamp("as_of", value), "as_of");
            assert!(msg.contains("as_of"), "{value}: {msg}");
        }
    }

    #[test]
    fn formats_back_what_it_parses() {
        for text in ["1970-01-01T00:00:00.000Z", "2023-11-14T22:13:20.123Z"] {
            assert_eq!(format_timestamp(parse_timestamp("at", text).unwrap()), text);
        }
    }

    #[test]
    fn limit_is_one_to_a_thousand() {
        let q = |raw: &str| Query::parse(Some(raw), &["limit"]).unwrap();
        assert_eq!(q("").limit().unwrap(), DEFAULT_LIMIT);
        assert_eq!(q("limit=1").limit().unwrap(), 1);
        assert_eq!(q("limit=1000").limit().unwrap(), 1000);
        assert_eq!(q("limit=0042").limit().unwrap(), 42);
        for raw in [
            "limit=0",
            "limit=1001",
            "limit=",
            "limit=-1",
            "limit=+5",
            "limit=1.5",
            "limit=ten",
            "limit=%2010",
            "limit=99999999999999999999",
        ] {
            invalid(q(raw).limit(), "limit");
        }
    }

    #[test]
    fn unknown_or_repeated_parameters_are_refused() {
        let allowed = ["since", "until"];
        let msg = invalid(Query::parse(Some("since=a&untill=b"), &allowed), "untill");
        assert!(msg.contains("since, until"), "{msg}");
        invalid(Query::parse(Some("since=a&since=b"), &allowed), "since");
        invalid(Query::parse(Some("x"), &[]), "x");
        let err = Query::parse(Some("since=%ff"), &allowed).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
        assert!(Query::parse(None, &[]).is_ok());
        assert!(Query::parse(Some(""), &[]).is_ok());
    }

    #[test]
    fn values_are_percent_decoded() {
        let q = Query::parse(Some("since=2024-01-01T00%3A00%3A00%2B01%3A00"), &["since"]).unwrap();
        assert_eq!(q.get("since"), Some("2024-01-01T00:00:00+01:00"));
        assert_eq!(q.timestamp("since").unwrap(), Some(1_704_063_600_000));
        assert_eq!(q.timestamp("until").unwrap(), None);
    }

    #[test]
    fn ranges_must_not_run_backwards() {
        let since = ("since", Some(10));
        assert!(ensure_ordered(since, ("until", Some(10))).is_ok());
        assert!(ensure_ordered(since, ("until", None)).is_ok());
        assert!(ensure_ordered(("since", None), ("until", Some(1))).is_ok());
        let msg = invalid(ensure_ordered(since, ("until", Some(9))), "until");
        assert!(msg.contains("since"), "{msg}");
    }

    #[test]
    fn cursors_continue_the_same_query_only() {
        let allowed = ["since", "until", "limit", "cursor"];
        let first = Query::parse(Some("until=b&since=a&limit=10"), &allowed).unwrap();
        let realm = RealmId(5);
        let scope = first.cursor_scope("/audit", realm);
        assert_eq!(first.cursor::<LogPosition>(&scope).unwrap(), None);
        let position = LogPosition {
            version: 42,
            index: 3,
        };
        let text = Cursor::new(position, Direction::Forward).encode(&scope);

        // Same parameters in another order and another limit: accepted.
        let next = Query::parse(
            Some(&format!("since=a&cursor={text}&until=b&limit=50")),
            &allowed,
        )
        .unwrap();
        let scope = next.cursor_scope("/audit", realm);
        let cursor = next.cursor::<LogPosition>(&scope).unwrap().unwrap();
        assert_eq!(cursor.position, position);

        // Another query, endpoint or realm: refused.
        let other =
            Query::parse(Some(&format!("since=z&cursor={text}&until=b")), &allowed).unwrap();
        for scope in [
            other.cursor_scope("/audit", realm),
            next.cursor_scope("/export", realm),
            next.cursor_scope("/audit", RealmId(6)),
        ] {
            let err = next.cursor::<LogPosition>(&scope).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidCursor);
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        }
    }
}
