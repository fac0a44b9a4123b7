//! `carecert` — the operator's binary: `serve`, `init`, `check-config`, `admin …`, `bench …`.
//!
//! Thin: parses the command line, wires the crates together, prints. Errors get context
//! here (anyhow) and leave with a message that says what to do, and a non-zero exit code.
#![forbid(unsafe_code)]

mod admin;
mod bench;
mod bench_scale;
mod ca_cmd;
mod config;
mod init;
mod keystore;
mod notify;
mod paths;
mod reminders;
mod root;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc for every allocation of the process (Rust's and the C libraries': SQLite, aws-lc),
/// configured in `.cargo/config.toml`. Under issuance load glibc's malloc took ~11 % of the
/// server's CPU; see ARCHITECTURE.md, "The allocator".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// carecert: certificate lifecycle platform for a healthcare network.
#[derive(Parser)]
#[command(name = "carecert", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every server-side service in one process (API, OCSP, CRL, admin API).
    Serve(serve::ServeArgs),
    /// Check a configuration file (carecert.toml): every problem with its key, exit 1 if any.
    CheckConfig(config::command::CheckArgs),
    /// Create the CA hierarchy (root, `systems`, `smartcards`, OCSP responders) and an admin token.
    Init(serve::InitArgs),
    /// Write a new one-shot bootstrap token (creates operator accounts and tokens only, once,
    /// within 24 h) to DATA_DIR/admin-token, on the machine that holds the database: for a
    /// deployment that has lost every ca-admin token, or was initialised before operator accounts.
    BootstrapToken(serve::CommonArgs),
    /// Operator and RA commands (talk to a running server's admin API).
    Admin(admin::AdminArgs),
    /// Benchmarks.
    Bench(bench::BenchArgs),
    /// The offline root (run on the offline machine): sign intermediates, pre-sign the ARL and OCSP answers.
    Root(root::RootArgs),
    /// CA key operations on this node's database: request a new intermediate (rotation), import the root's bundle.
    Ca(ca_cmd::CaArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CheckConfig(a) = &cli.command {
        return config::command::run(a);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::serve(a).await,
            Command::Init(a) => serve::init(a).await,
            Command::BootstrapToken(a) => serve::bootstrap_token(a).await,
            Command::Admin(a) => admin::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Root(a) => root::run(a).await,
            Command::Ca(a) => ca_cmd::run(a).await,
            Command::CheckConfig(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod cli_tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
