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
            DbUrl::Postgres(url) => {
                // postgres://user:secret@host/db → postgres://user:***@host/db
                match (url.find("://"), url.rfind('@')) {
                    (Some(scheme), Some(at)) if at > scheme => {
                        let creds = &url[scheme + 3..at];
                        match creds.split_once(':') {
                            Some((user, _)) => {
                                write!(f, "{}{}:***{}", &url[..scheme + 3], user, &url[at..])
                            }
                            None => f.write_str(url),
                        }
                    }
                    _ => f.write_str(url),
                }
            }
        }
    }
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
}
