//! # southpaw-bench: benchmarks
//!
//! Criterion micro-benchmarks (`cargo bench -p southpaw-bench`) and the side-by-side
//! comparison against ovn-controller + ovs-vswitchd (`bench/compare`). The library holds
//! what the binaries and tests share: [`pktgen`] (the AF_XDP generator and sink behind
//! `southpaw pktgen`) and [`cp`] (the control-plane benchmark of `cp_bench` and `compare`).
pub mod cp;
pub mod pktgen;
