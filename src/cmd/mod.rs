//! Subcommands of the `southpaw` binary, one module each.

pub mod compile;
pub mod ctl;
pub mod pktgen;
pub mod run;
pub mod sandbox;
pub mod trace;
