//! # southpaw-bench: benchmarks
//!
//! Criterion micro-benchmarks (`cargo bench -p southpaw-bench`) and the side-by-side
//! comparison against ovn-controller + ovs-vswitchd (`bench/compare`).
pub mod pktgen;
