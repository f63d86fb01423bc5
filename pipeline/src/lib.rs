//! # pipeline: the OVN logical-flow language, compiled and executed
//!
//! A sans-IO library: no threads, no sockets, no clock. It owns
//! - the lexer and parsers for Logical_Flow `match` expressions and `actions` programs,
//!   following OVN's symbol table (fields, subfields, predicates and their prerequisites);
//! - the compiler that turns each (logical datapath, pipeline, table) into a classifier
//!   that finds the highest-priority matching flow without scanning every flow, and each
//!   action program into a closed-enum program;
//! - the executor that runs one microflow (headers + logical metadata) through ingress and
//!   egress pipelines, across patch ports, recording every field it read so the datapath
//!   can cache the outcome as a megaflow (key + mask).
//!
//! Invariants: parsing and compiling never panic on any input; a flow that fails is
//! skipped and reported with its table, priority, uuid and text.
//!
//! Compiles can be incremental at the flow level ([`compile::compile_cached`]); the
//! classifier layout is still rebuilt whole on every call.
//!
//! Not yet: incremental classifier layout, FDB and
//! `chk_lb_aff`/`chk_ecmp_nh` state (those checks answer 0), port-range tries in the
//! classifier, and re-sorting subtables by hit count.
//!
//! Parsing entry points: [`parse_match`] and [`parse_actions`], both taking a [`Symtab`]
//! (build once with [`Symtab::ovn`]). Errors are [`ParseError`]s naming offset and token.
//! [`Expr::annotate`] expands predicates and adds field prerequisites; [`action_prereqs`]
//! gives what an action list adds to its match; [`Expr::display`] and [`actions_display`]
//! print trees back in OVN syntax.

pub mod actions;
mod actions_args;
mod actions_parse;
pub mod classifier;
pub mod compile;
pub mod dpaction;
pub mod error;
pub mod exec;
pub mod expr;
pub mod flow;
pub mod format;
pub mod lexer;
pub mod microflow;
pub mod model;
mod parser;
pub mod prereqs;
pub mod symtab;
mod symtab_ovn;
pub mod trace_fmt;

pub use actions::{parse_actions, Action};
pub use error::ParseError;
pub use expr::{parse_match, Expr, RelOp};
pub use format::actions_display;
pub use lexer::{expand_templates, Int, IntFormat};
pub use parser::{FieldRef, Value};
pub use prereqs::action_prereqs;
pub use symtab::{Slot, Storage, SymId, Symtab};
