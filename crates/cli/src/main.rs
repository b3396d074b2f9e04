//! `cohort`: the command-line front door. Every subcommand that changes the
//! directory goes through the same engine (and so the same rules and change
//! log) as the HTTP faces; a running server picks those changes up from the log.
//!
//! Layout: `args.rs` (the command line), `serve.rs` (`serve`, including
//! `--demo`), `setup.rs` (`init`, `realm add`, the demo seed, `zuliprc`),
//! `admin.rs` (`user …`, `group …`, `realm set/list`, `check`, `migrate`, `copy`),
//! `tokens.rs` (`token …`, and the SCIM token `init` and `serve --demo` issue),
//! `webhooks.rs` (`webhook …`), `audit.rs` (`audit`, `access-review`,
//! `export`, `log prune`), `login.rs` (`login-link`, and the admin page link
//! `serve --demo` prints).

mod admin;
mod args;
mod audit;
mod login;
mod serve;
mod setup;
mod tokens;
mod webhooks;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    serve::init_logging(cli.log.as_deref().unwrap_or(default_log), cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Init(args) => setup::init(&cli.db, args).await,
            Command::Serve(args) => serve::serve(&cli.db, args).await,
            Command::User(args) => admin::user(&cli.db, args).await,
            Command::Group(args) => admin::group(&cli.db, args).await,
            Command::Realm(args) => admin::realm(&cli.db, args).await,
            Command::Token(args) => tokens::token(&cli.db, args).await,
            Command::Webhook(args) => webhooks::webhook(&cli.db, args).await,
            Command::LoginLink(args) => login::login_link(&cli.db, args).await,
            Command::Audit(args) => audit::audit(&cli.db, args).await,
            Command::AccessReview(args) => audit::access_review(&cli.db, args).await,
            Command::Export(args) => audit::export(&cli.db, args).await,
            Command::Log(args::LogCommand::Prune(args)) => audit::prune(&cli.db, args).await,
            Command::Check(args) => admin::check(&cli.db, args).await,
            Command::Migrate => admin::migrate(&cli.db).await,
            Command::Copy(args) => admin::copy(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
