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

pub mod flow;
