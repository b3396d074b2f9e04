//! PostgreSQL scenarios' shared scratch database, and the PostgreSQL write
//! scenario: member add/remove under 64 clients against one node.

use super::writes::write_load;
use super::{basic, Plan};
use crate::generate::{self, Size};
use anyhow::Result;
use serde_json::Value;

/// A database created for one scenario on the PostgreSQL server `server` (no
/// database part), filled with a data set; dropped by [`Scratch::drop`].
pub(super) struct Scratch {
    client: tokio_postgres::Client,
    database: String,
    /// The database's URL, for `cohort --db`.
    pub(super) url: String,
    pub(super) info: Value,
    /// Basic credentials of the data set's owner.
    pub(super) auth: String,
}

impl Scratch {
    pub(super) async fn create(server: &str, tag: &str, size: Size) -> Result<Scratch> {
        let database = format!("cohort_bench{tag}_{}", std::process::id());
        let admin = format!("{server}/postgres");
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        // One statement each: CREATE DATABASE cannot run in a transaction block.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
            .await?;
        client
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await?;
        let url = format!("{server}/{database}");
        let info = {
            let store = cohort_store::open(
                &cohort_store::DbUrl::parse(&url).map_err(anyhow::Error::msg)?,
                true,
            )
            .await?;
            generate::generate(store.as_ref(), size).await?
        };
        let auth = basic(
            info["email"].as_str().unwrap_or(""),
            info["api_key"].as_str().unwrap_or(""),
        );
        Ok(Scratch {
            client,
            database,
            url,
            info,
            auth,
        })
    }

    /// Drop the database (after every node on it has stopped).
    pub(super) async fn drop(self) -> Result<()> {
        self.client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .await?;
        Ok(())
    }
}

/// 64 clients adding and removing members on one node; (ops/s, p50, p99).
pub(super) async fn pg_writes(plan: &Plan, server: &str, size: Size) -> Result<(f64, f64, f64)> {
    let scratch = Scratch::create(server, "", size).await?;
    let node = plan.cohort(&scratch.url, "warn")?;
    let measured = write_load(plan, &node, &scratch.auth, &scratch.info)?;
    drop(node);
    scratch.drop().await?;
    Ok(measured)
}
