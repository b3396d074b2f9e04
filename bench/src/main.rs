//! `cohort-bench`: builds realistic directories, runs every load of the
//! benchmark plan against a real `cohort serve`, measures the floors in the
//! same run, and writes `BENCHMARKS.md`. `bench/run.sh` installs the load tools
//! and calls `cohort-bench run`.
//!
//! Layout: `generate.rs` (data sets through the store), `floor.rs` (the
//! same-bytes server), `fsync.rs` (durable-commit floors), `load.rs` (oha, wrk,
//! or a built-in client), `writes.rs` (write load and the write-then-read
//! pair), `run/` (the plan and the report, one
//! module per scenario).

mod floor;
mod fsync;
mod generate;
mod hostile;
mod load;
mod run;
mod writes;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cohort-bench", about = "cohort's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole plan and write the report.
    Run(run::RunArgs),
    /// Fill an empty database with a data set; prints its credentials as JSON.
    Generate {
        #[arg(long, value_enum)]
        size: generate::Size,
        #[arg(long)]
        db: String,
    },
    /// Serve one file's bytes for every request (the same-bytes floor).
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        body: PathBuf,
    },
    /// Park every request until `POST /trigger`, then answer all with one
    /// file's bytes (the long-poll floor).
    PollFloor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        body: PathBuf,
    },
    /// The built-in load client (JSON results on stdout).
    Load {
        #[arg(long)]
        url: String,
        /// One request header, `Name: value`.
        #[arg(long)]
        header: Option<String>,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 3000)]
        millis: u64,
    },
    /// Concurrent member add/remove clients (JSON results on stdout).
    Writes {
        #[arg(long)]
        base: String,
        #[arg(long)]
        auth: String,
        #[arg(long, value_delimiter = ',')]
        groups: Vec<i64>,
        #[arg(long, value_delimiter = ',')]
        users: Vec<i64>,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 3000)]
        millis: u64,
    },
    /// SCIM PATCH clients toggling `group=user` pairs (JSON results on stdout).
    ScimPatch {
        /// The server's `.../Groups` URL.
        #[arg(long)]
        base: String,
        #[arg(long)]
        auth: String,
        #[arg(long, value_delimiter = ',')]
        pairs: Vec<String>,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 3000)]
        millis: u64,
    },
    /// GET each URL of a file (one a line) in turn on one keep-alive
    /// connection (JSON latencies on stdout).
    Sequential {
        #[arg(long)]
        urls: PathBuf,
        /// One request header, `Name: value`.
        #[arg(long)]
        header: Option<String>,
    },
    /// A million hostile requests against every face, with valid writes in
    /// between; fails unless cohort came through whole (JSON report).
    Hostile(hostile::HostileArgs),
    /// Write-then-read pairs (JSON results on stdout).
    Pair {
        #[arg(long)]
        base: String,
        #[arg(long)]
        auth: String,
        #[arg(long)]
        group: i64,
        /// Candidates; the first who is not a member is used.
        #[arg(long, value_delimiter = ',')]
        users: Vec<i64>,
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run::run(args).await,
        Command::Hostile(args) => hostile::hostile(args).await,
        Command::Generate { size, db } => {
            let url = cohort_store::DbUrl::parse(&db).map_err(anyhow::Error::msg)?;
            let store = cohort_store::open(&url, true).await?;
            println!("{}", generate::generate(store.as_ref(), size).await?);
            Ok(())
        }
        Command::Floor { listen, body } => floor::serve(listen, std::fs::read(body)?.into()).await,
        Command::PollFloor { listen, body } => {
            floor::serve_long_polls(listen, std::fs::read(body)?.into()).await
        }
        Command::Load {
            url,
            header,
            connections,
            millis,
        } => {
            println!(
                "{}",
                load::builtin(url, header, connections, Duration::from_millis(millis)).await?
            );
            Ok(())
        }
        Command::Writes {
            base,
            auth,
            groups,
            users,
            clients,
            millis,
        } => {
            println!(
                "{}",
                writes::members(
                    base,
                    auth,
                    groups,
                    users,
                    clients,
                    Duration::from_millis(millis)
                )
                .await?
            );
            Ok(())
        }
        Command::ScimPatch {
            base,
            auth,
            pairs,
            clients,
            millis,
        } => {
            println!(
                "{}",
                run::scim::patch_load(base, auth, pairs, clients, Duration::from_millis(millis))
                    .await?
            );
            Ok(())
        }
        Command::Sequential { urls, header } => {
            println!("{}", run::sequential::sequential(urls, header).await?);
            Ok(())
        }
        Command::Pair {
            base,
            auth,
            group,
            users,
            iterations,
        } => {
            println!(
                "{}",
                writes::pair(base, auth, group, users, iterations).await?
            );
            Ok(())
        }
    }
}
