//! The fsync floor: how many durable one-row commits per second the disk (and
//! each database's commit path) sustains, one after another.

use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// One-row SQLite commits (WAL, synchronous=FULL, as cohort runs it).
pub fn sqlite(dir: &Path, duration: Duration) -> Result<f64> {
    let path = dir.join("fsync-floor.db");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )?;
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        conn.execute("INSERT INTO t (v) VALUES ('x')", [])?;
        commits += 1;
    }
    Ok(commits as f64 / started.elapsed().as_secs_f64())
}

/// One-row PostgreSQL commits (synchronous_commit on), one connection.
pub async fn postgres(url: &str, duration: Duration) -> Result<f64> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute("DROP TABLE IF EXISTS fsync_floor; CREATE TABLE fsync_floor (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)")
        .await?;
    let insert = client
        .prepare("INSERT INTO fsync_floor (v) VALUES ('x')")
        .await?;
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        client.execute(&insert, &[]).await?;
        commits += 1;
    }
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE fsync_floor").await?;
    Ok(rate)
}
