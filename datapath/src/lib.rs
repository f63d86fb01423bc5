//! # datapath: packet I/O, workers and flow caches
//!
//! Owns the per-core worker loop (exact-match cache, megaflow cache, slow path into the
//! pipeline executor), the I/O backends behind one trait (AF_XDP; in-memory for tests;
//! DPDK later), the XDP program loader (the program itself lives in `datapath/ebpf`), and
//! checked zero-copy header views used to parse packets into flow keys.
//!
//! Invariants on the per-packet path: no allocation, no lock, no syscall, no log line;
//! every drop is counted under its reason.
