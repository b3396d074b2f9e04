//! The migration runner's rules, shared by both engines: the migrations are a
//! list of steps per schema version, recorded in `schema_migrations`; a
//! database newer than this build is refused; pending ones run in order.
//! Each engine runs the steps in its own dialect and transactions (see
//! `sqlite::migrate` and `PgStore::migrate`). Once released, a migration is
//! never edited: a change of schema is a new one.

use crate::{Result, StoreError};

/// One step of a migration.
pub(crate) enum Step {
    Sql(&'static str),
    /// Fill `users.email_key` from `users.email` with the core's case rule
    /// (SQL's case folding is not the core's, so this runs in Rust).
    BackfillEmailKeys,
}

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub steps: &'static [Step],
}

/// Highest schema version in `migrations`.
pub(crate) fn known(migrations: &[Migration]) -> i64 {
    migrations.last().map(|m| m.version).unwrap_or(0)
}

/// The migrations a database at `current` still needs, oldest first.
pub(crate) fn pending(migrations: &[Migration], current: i64) -> Result<&[Migration]> {
    let known = known(migrations);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let first = migrations.partition_point(|m| m.version <= current);
    Ok(&migrations[first..])
}

/// Refuse a schema that is not exactly this build's (engines that do not
/// migrate on open).
pub(crate) fn require_current(migrations: &[Migration], found: i64) -> Result<()> {
    let known = known(migrations);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    if found < known {
        return Err(StoreError::SchemaTooOld { found, known });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Migration] = &[
        Migration {
            version: 1,
            name: "a",
            steps: &[],
        },
        Migration {
            version: 2,
            name: "b",
            steps: &[],
        },
    ];

    #[test]
    fn pending_and_refusals() {
        assert_eq!(pending(LIST, 0).unwrap().len(), 2);
        assert_eq!(pending(LIST, 1).unwrap()[0].version, 2);
        assert!(pending(LIST, 2).unwrap().is_empty());
        assert!(matches!(
            pending(LIST, 3),
            Err(StoreError::SchemaTooNew { .. })
        ));
        assert!(matches!(
            require_current(LIST, 1),
            Err(StoreError::SchemaTooOld { .. })
        ));
        assert!(require_current(LIST, 2).is_ok());
    }
}
