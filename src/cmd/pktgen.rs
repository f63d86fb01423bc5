//! `southpaw pktgen`: the AF_XDP traffic generator and sink of `southpaw-bench`
//! (`bench/src/pktgen/`); this module only wires ^C to its stop flag.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

pub use southpaw_bench::pktgen::cli::Args;

/// Runs the generator/sink; the first ^C stops it cleanly (summary still printed).
pub fn run(args: Args) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        log::warn!("cannot install the ^C handler: {e}");
    }
    southpaw_bench::pktgen::cli::run(args, stop)
}
