//! Database URLs: `sqlite://path` (or a bare path) and `postgres://…`.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbUrl {
    pub fn parse(text: &str) -> Result<DbUrl, String> {
        if let Some(rest) = text.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://cohort.db".into());
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(rest)));
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            if !rest.is_empty() {
                return Ok(DbUrl::Sqlite(PathBuf::from(rest)));
            }
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(text.to_string()));
        }
        if text.contains("://") {
            return Err(format!(
                "unsupported database URL {text:?}: use sqlite://PATH or postgres://…"
            ));
        }
        if text.is_empty() {
            return Err("empty database URL".into());
        }
        Ok(DbUrl::Sqlite(PathBuf::from(text)))
    }
}

/// Shown in logs: PostgreSQL passwords are masked.
impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DbUrl::Postgres(url) => f.write_str(&mask_postgres(url)),
        }
    }
}

/// `postgres://user:secret@host/db?password=secret&x=1` →
/// `postgres://user:***@host/db?password=***&x=1`: both places libpq takes a
/// password from.
fn mask_postgres(url: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (url, None),
    };
    let mut out = match (main.find("://"), main.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match main[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &main[..scheme + 3], user, &main[at..]),
            None => main.to_string(),
        },
        _ => main.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        assert_eq!(
            DbUrl::parse("sqlite://a.db").unwrap(),
            DbUrl::Sqlite("a.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DbUrl::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(DbUrl::parse("a.db").unwrap(), DbUrl::Sqlite("a.db".into()));
        assert!(DbUrl::parse("mysql://x").is_err());
        let pg = DbUrl::parse("postgres://bob:hunter2@localhost/db").unwrap();
        assert_eq!(pg.to_string(), "postgres://bob:***@localhost/db");
    }

    #[test]
    fn masks_password_query_parameters() {
        let pg = DbUrl::parse("postgres://bob@localhost/db?password=hunter2").unwrap();
        assert_eq!(pg.to_string(), "postgres://bob@localhost/db?password=***");
        let pg = DbUrl::parse(
            "postgresql://bob:s3cret@localhost/db?sslmode=disable&password=hunter2&application_name=x",
        )
        .unwrap();
        let shown = format!("{pg:?}");
        assert_eq!(
            shown,
            "postgresql://bob:***@localhost/db?sslmode=disable&password=***&application_name=x"
        );
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"));
        // Nothing to hide: shown as given.
        let pg = DbUrl::parse("postgres://localhost/db?sslmode=disable").unwrap();
        assert_eq!(pg.to_string(), "postgres://localhost/db?sslmode=disable");
    }
}
