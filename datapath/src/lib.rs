//! # datapath: packet I/O, workers and flow caches
//!
//! Owns the per-core worker loop (exact-match cache, megaflow cache, slow path into the
//! pipeline executor), the I/O backends behind one trait (AF_XDP; in-memory for tests;
//! DPDK later), the XDP program loader (the program itself lives in `datapath/ebpf`), and
//! checked zero-copy header views used to parse packets into flow keys.
//!
//! Invariants on the per-packet path: no allocation, no lock, no syscall, no log line;
//! every drop is counted under its reason.
//!
//! Not yet: more than one worker (each worker opens queue 0 of every port, so queues must
//! be split before `--workers` > 1 means anything), tunnel encap/decap (a `Tunnel` action
//! is a counted drop), controller actions (DHCP, DNS, MAC learning: counted drops), the
//! DPDK backend, and `sctp_abort {}` packets.

// Parsing, header rewrites, flow caches and counters (dpcache helper).
pub mod counters;
pub mod emc;
pub mod extract;
pub mod huge;
pub mod key;
pub mod megaflow;
pub mod wire;

// Packet I/O: backend trait, AF_XDP and in-memory backends, XDP loader (afxdp helper).
pub mod afxdp;
pub mod io;
pub mod mem;
pub mod xdp;

// Worker loop, action application, snapshot publication (worker helper).
pub mod actions;
pub mod dataplane;
pub mod worker;
