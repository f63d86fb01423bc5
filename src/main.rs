//! `southpaw`: one binary, one subcommand per job. Each subcommand lives in its own module
//! under `src/cmd/`; this file only parses the command line and dispatches.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "southpaw", version, about = "A Rust forwarding plane for OVN hosts")]
struct Cli {
    /// Log level filter (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a private OVN (NB, SB, northd, local Open_vSwitch DB) in a temporary directory,
    /// build the seed walkthrough topology with namespace containers, and run southpaw on it.
    Sandbox(cmd::sandbox::Args),
}

fn main() {
    let cli = Cli::parse();
    env_logger::Builder::new()
        .parse_filters(&cli.log)
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .init();
    let result = match cli.command {
        Command::Sandbox(args) => cmd::sandbox::run(args),
    };
    if let Err(e) = result {
        eprintln!("southpaw: {e:#}");
        std::process::exit(1);
    }
}
