//! What the store suites share: a throwaway PostgreSQL database per run.

#![allow(dead_code)]

use std::process::Command as Process;
use std::sync::atomic::{AtomicU64, Ordering};

fn pg_server() -> String {
    std::env::var("COHORT_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(sql: &str) -> bool {
    Process::new("psql")
        .arg(format!("{}/postgres", pg_server()))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A throwaway PostgreSQL database, dropped with the value.
pub struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// `None` (with a loud message) when PostgreSQL is not reachable; a
    /// panic instead when `CI=true`.
    pub fn create() -> Option<PgDatabase> {
        if !psql("SELECT 1") {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is not reachable at {} and CI=true: the store parity suite must run on it",
                pg_server()
            );
            eprintln!(
                "\n!!!!!!!!\n!!! PostgreSQL is NOT reachable at {}: the PostgreSQL half of this test did NOT run.\n!!!!!!!!\n",
                pg_server()
            );
            return None;
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "cohort_store_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        assert!(
            psql(&format!("CREATE DATABASE {name}")),
            "CREATE DATABASE {name}"
        );
        Some(PgDatabase { name })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", pg_server(), self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// One statement on the database at `url`; its output, unaligned.
pub fn psql_on(url: &str, sql: &str) -> String {
    let out = Process::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
