//! Subcommands of the `southpaw` binary, one module each.

pub mod sandbox;
