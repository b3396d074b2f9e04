//! Paging cursors: an opaque string (base64url, no padding) naming where the
//! next page starts, bound to the realm and the query it was issued for.
//!
//! Layout (before base64url): format byte, direction byte, realm id (i64, big
//! endian), the query's digest (16 bytes, `QueryDigest`), the position (its
//! own encoding, `Position`), and a checksum (the first 8 bytes of SHA-256
//! over a domain string and everything before it).
//!
//! The checksum is **integrity, not authentication**: nodes share no secret,
//! so anyone can compute it, and a caller can forge a cursor. That is
//! harmless by construction: a cursor only says where to resume a query the
//! caller is already allowed to run (the endpoint checks the caller and the
//! realm on every page), so a forged one moves within what they may already
//! read. The checksum catches a cursor that was edited or cut short by
//! accident, and the realm and digest catch one replayed against another
//! realm or another query; all are 400 `invalid_cursor` (another realm's with
//! the same message as a damaged one).
//!
//! The position is generic (`Cursor<P: Position>`): an endpoint that pages by
//! something other than `LogPosition` implements `Position` for its own type.
//! Changing the layout means bumping `FORMAT`, so old cursors are refused
//! cleanly instead of misread.

use super::error::NativeError;
use base64::Engine as _;
use cohort_core::{RealmId, Version};
use sha2::{Digest, Sha256};

/// The layout version; bump it when the layout or a position's encoding changes.
const FORMAT: u8 = 1;
const DOMAIN: &[u8] = b"cohort native cursor";
const DIGEST_LEN: usize = 16;
const CHECKSUM_LEN: usize = 8;
const HEADER_LEN: usize = 2 + 8 + DIGEST_LEN;
/// Longer text is refused before decoding (positions are a few bytes).
const MAX_TEXT_LEN: usize = 512;

/// Which way the next page goes from the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A place in a result that a cursor can hold.
pub trait Position: Sized {
    /// Append this position's bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Read a position back from exactly these bytes (`None` if they are not
    /// one, including trailing bytes).
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// A place in a realm's change log: the commit's version and the index of a
/// change inside it (what the history endpoints page by).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition {
    pub version: Version,
    pub index: u32,
}

impl Position for LogPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (version, index) = bytes.split_first_chunk::<8>()?;
        let index: [u8; 4] = index.try_into().ok()?;
        Some(LogPosition {
            version: u64::from_be_bytes(*version),
            index: u32::from_be_bytes(index),
        })
    }
}

/// A digest of a normalised query: the endpoint and its parameters sorted by
/// name and value, without `cursor` and `limit` (a client may change the
/// page size between pages). Values are compared as sent, after decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryDigest([u8; DIGEST_LEN]);

impl QueryDigest {
    pub fn new<'a>(endpoint: &str, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: Vec<(&str, &str)> = params
            .into_iter()
            .filter(|(name, _)| *name != "cursor" && *name != "limit")
            .collect();
        pairs.sort_unstable();
        let mut hash = Sha256::new();
        // Length-prefixed, so no two queries spell the same bytes.
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        field(endpoint.as_bytes());
        for (name, value) in pairs {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        let digest = hash.finalize();
        let mut out = [0u8; DIGEST_LEN];
        out.copy_from_slice(&digest[..DIGEST_LEN]);
        QueryDigest(out)
    }

    /// The digest's bytes, as a cursor carries them.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn bytes(&self) -> [u8; DIGEST_LEN] {
        self.0
    }
}

/// What a cursor is bound to: the caller's realm and the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorScope {
    pub realm: RealmId,
    pub query: QueryDigest,
}

/// A decoded cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor<P> {
    pub position: P,
    pub direction: Direction,
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(bytes)
        .finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

/// A cursor's bytes with their checksum, as text.
pub(crate) fn seal(body: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(body.len() + CHECKSUM_LEN);
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(&checksum(body));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl<P: Position> Cursor<P> {
    pub fn new(position: P, direction: Direction) -> Self {
        Cursor {
            position,
            direction,
        }
    }

    /// The opaque text to hand the client (as `next_cursor`, say).
    pub fn encode(&self, scope: &CursorScope) -> String {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 16 + CHECKSUM_LEN);
        bytes.push(FORMAT);
        bytes.push(match self.direction {
            Direction::Forward => 0,
            Direction::Backward => 1,
        });
        bytes.extend_from_slice(&scope.realm.0.to_be_bytes());
        bytes.extend_from_slice(&scope.query.0);
        self.position.encode(&mut bytes);
        seal(&bytes)
    }

    /// Read a client's cursor back; refused (400 `invalid_cursor`) unless it
    /// is intact and was issued for this realm and this query.
    pub fn decode(text: &str, scope: &CursorScope) -> Result<Self, NativeError> {
        let damaged = || NativeError::invalid_cursor("The cursor is not one this API issued");
        if text.is_empty() || text.len() > MAX_TEXT_LEN {
            return Err(damaged());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| damaged())?;
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(damaged());
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if checksum(body) != sum {
            return Err(damaged());
        }
        if body[0] != FORMAT {
            return Err(NativeError::invalid_cursor(
                "The cursor is from an older version of this API; start the query again",
            ));
        }
        let direction = match body[1] {
            0 => Direction::Forward,
            1 => Direction::Backward,
            _ => return Err(damaged()),
        };
        let realm = body
            .get(2..10)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| RealmId(i64::from_be_bytes(b)))
            .ok_or_else(damaged)?;
        // Another realm's cursor is refused exactly as one never issued:
        // the answer must not tell that it is valid somewhere else.
        if realm != scope.realm {
            return Err(damaged());
        }
        if body[10..HEADER_LEN] != scope.query.0 {
            return Err(NativeError::invalid_cursor(
                "The cursor was issued for another query; send the same parameters as the first page (limit may change)",
            ));
        }
        let position = P::decode(&body[HEADER_LEN..]).ok_or_else(damaged)?;
        Ok(Cursor {
            position,
            direction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::ErrorCode;
    use super::*;

    fn scope(realm: i64, query: &[(&str, &str)]) -> CursorScope {
        CursorScope {
            realm: RealmId(realm),
            query: QueryDigest::new("/audit", query.iter().copied()),
        }
    }

    fn here() -> Cursor<LogPosition> {
        Cursor::new(
            LogPosition {
                version: 12_345_678_901,
                index: 7,
            },
            Direction::Backward,
        )
    }

    #[track_caller]
    fn refused(text: &str, scope: &CursorScope) -> String {
        let err = Cursor::<LogPosition>::decode(text, scope).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidCursor);
        assert_eq!(err.body.param.as_deref(), Some("cursor"));
        err.body.message
    }

    #[test]
    fn round_trips_in_url_safe_text() {
        let s = scope(3, &[("since", "2024-01-01T00:00:00Z")]);
        for cursor in [
            here(),
            Cursor::new(
                LogPosition {
                    version: 0,
                    index: 0,
                },
                Direction::Forward,
            ),
            Cursor::new(
                LogPosition {
                    version: u64::MAX,
                    index: u32::MAX,
                },
                Direction::Forward,
            ),
        ] {
            let text = cursor.encode(&s);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text}"
            );
            assert_eq!(Cursor::decode(&text, &s).unwrap(), cursor);
        }
    }

    #[test]
    fn the_query_digest_ignores_order_cursor_and_limit() {
        let a = QueryDigest::new("/audit", [("since", "a"), ("until", "b"), ("limit", "5")]);
        let b = QueryDigest::new("/audit", [("cursor", "x"), ("until", "b"), ("since", "a")]);
        assert_eq!(a, b);
        assert_ne!(a, QueryDigest::new("/audit", [("since", "a")]));
        assert_ne!(
            a,
            QueryDigest::new("/export", [("since", "a"), ("until", "b")])
        );
        // Length prefixes: moving bytes between name and value changes it.
        assert_ne!(
            QueryDigest::new("/audit", [("ab", "c")]),
            QueryDigest::new("/audit", [("a", "bc")])
        );
    }

    #[test]
    fn another_realm_or_query_is_refused() {
        let mine = scope(3, &[("since", "2024-01-01T00:00:00Z")]);
        let text = here().encode(&mine);
        // Another realm's: the same words as a cursor never issued, so the
        // answer does not say it is valid elsewhere.
        assert_eq!(
            refused(&text, &scope(4, &[("since", "2024-01-01T00:00:00Z")])),
            refused("AAAA", &mine)
        );
        assert!(refused(&text, &scope(3, &[("since", "2025-01-01T00:00:00Z")])).contains("query"));
        assert!(refused(&text, &scope(3, &[])).contains("query"));
    }

    #[test]
    fn any_edit_is_detected() {
        let s = scope(3, &[]);
        let text = here().encode(&s);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text)
            .unwrap();
        // Flip every bit of every byte in turn: each edit is refused.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut edited = bytes.clone();
                edited[i] ^= 1 << bit;
                let edited = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(edited);
                refused(&edited, &s);
            }
        }
        // Cut short, extended, padded, or not base64url at all.
        refused(&text[..text.len() - 2], &s);
        refused(&format!("{text}AA"), &s);
        refused(&format!("{text}="), &s);
        refused(&format!("+{text}"), &s);
        refused("", &s);
        refused("not a cursor!", &s);
        refused(&"A".repeat(MAX_TEXT_LEN + 1), &s);
    }

    #[test]
    fn another_format_is_refused_as_old() {
        let s = scope(3, &[]);
        let mut bytes = vec![FORMAT + 1, 0];
        bytes.extend_from_slice(&3i64.to_be_bytes());
        bytes.extend_from_slice(&s.query.0);
        here().position.encode(&mut bytes);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert!(refused(&text, &s).contains("older version"));
    }

    /// The position type is the endpoint's: any `Position` works.
    #[test]
    fn positions_are_generic() {
        #[derive(Debug, PartialEq)]
        struct ByName(String);
        impl Position for ByName {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.0.as_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                String::from_utf8(bytes.to_vec()).ok().map(ByName)
            }
        }
        let s = scope(9, &[]);
        let cursor = Cursor::new(ByName("Zoë".into()), Direction::Forward);
        assert_eq!(Cursor::decode(&cursor.encode(&s), &s).unwrap(), cursor);
        // A LogPosition cursor is not read as a wrong-length one.
        let short = Cursor::new(ByName("x".into()), Direction::Forward).encode(&s);
        refused(&short, &s);
    }
}
