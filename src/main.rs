//! `southpaw`: one binary, one subcommand per job. Each subcommand lives in its own module
//! under `src/cmd/`; this file only parses the command line and dispatches.

mod cmd;
mod ctl_server;
mod dataplane;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "southpaw",
    version,
    about = "A Rust forwarding plane for OVN hosts"
)]
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
    /// The chassis daemon, in place of ovn-controller + ovs-vswitchd: reads the local
    /// Open_vSwitch DB and the Southbound DB, registers the chassis, claims ports, compiles
    /// the logical pipeline and forwards packets on the bound interfaces over AF_XDP.
    Run(cmd::run::Args),
    /// Trace a microflow through the Southbound logical pipeline with southpaw's compiler
    /// and executor (same inputs as ovn-trace).
    Trace(cmd::trace::Args),
    /// Compile every logical datapath of the Southbound DB and report flows, rejections
    /// and compile time (exit status 1 if any flow was rejected).
    Compile(cmd::compile::Args),
    /// AF_XDP traffic generator and sink (send, recv, both): rate, loss, reordering and
    /// latency percentiles.
    Pktgen(cmd::pktgen::Args),
    /// Ask a running southpaw over its control socket: ports, stats, megaflows, cache
    /// flush, packet traces through the live caches, conntrack.
    Ctl(cmd::ctl::Args),
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
        Command::Run(args) => cmd::run::run(args),
        Command::Trace(args) => cmd::trace::run(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Pktgen(args) => cmd::pktgen::run(args),
        Command::Ctl(args) => cmd::ctl::run(args),
    };
    if let Err(e) = result {
        eprintln!("southpaw: {e:#}");
        std::process::exit(1);
    }
}
