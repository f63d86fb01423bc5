//! # conntrack: southpaw's own connection tracker
//!
//! A sans-IO library: time is an argument, there are no threads or syscalls. It owns
//! connection tracking by zone (5-tuple or ICMP id/type plus zone, both directions found
//! by one lookup), the per-protocol state machines (TCP with sequence windows, UDP, ICMP,
//! SCTP, other IP), NAT with port (and ICMP echo identifier) allocation handed out as
//! RAII handles, load-balancer backend selection, and limits (global and per zone).
//!
//! Invariants: a full table refuses new connections and counts them; established
//! connections keep working. Expiry is incremental, never a stop-the-world sweep.
//!
//! ## Entry point
//! [`Conntrack::execute`] runs one OVS-style `ct(zone=, commit, exec(set mark/label),
//! nat(...))` action for a packet described by a [`PacketMeta`] and returns a
//! [`CtResult`]: ct_state bits, mark, label and the NAT rewrite to apply. As in OVS, only
//! a commit creates an entry; a lookup of an unknown connection is `new|trk`.
//!
//! ```
//! use conntrack::{ct_state, tcp_flags, Addr, Config, Conntrack, CtArgs, Nat, NatRange, PacketMeta};
//!
//! let ct = Conntrack::new(Config::default());
//! let client: Addr = "10.0.0.1".parse::<std::net::IpAddr>().unwrap().into();
//! let vip: Addr = "172.16.0.10".parse::<std::net::IpAddr>().unwrap().into();
//! let backend: Addr = "10.1.0.5".parse::<std::net::IpAddr>().unwrap().into();
//! let syn = PacketMeta {
//!     src: client, dst: vip, proto: 6, sport: 40000, dport: 80,
//!     tcp_flags: tcp_flags::SYN, tcp_seq: 1, tcp_win: 65535, ..Default::default()
//! };
//! // ct(commit, zone=5, nat(dst=10.1.0.5:8080)) on the first packet.
//! let lb = CtArgs {
//!     zone: 5, commit: true,
//!     nat: Some(Nat::Dst(NatRange::addr_port(backend, 8080))), ..Default::default()
//! };
//! let r = ct.execute(&syn, &lb, 0);
//! assert_eq!(r.state, ct_state::NEW | ct_state::TRK | ct_state::DNAT);
//! let w = r.nat.unwrap(); // the datapath writes these into the packet
//! assert_eq!((w.dst, w.dport), (backend, 8080));
//! // The backend's answer, through ct(zone=5, nat): translated back to the VIP.
//! let synack = PacketMeta {
//!     src: backend, dst: client, proto: 6, sport: 8080, dport: 40000,
//!     tcp_flags: tcp_flags::SYN | tcp_flags::ACK, tcp_seq: 7, tcp_ack: 2, tcp_win: 65535,
//!     ..Default::default()
//! };
//! let r = ct.execute(&synack, &CtArgs { zone: 5, nat: Some(Nat::Existing), ..Default::default() }, 1);
//! assert_eq!(r.state, ct_state::EST | ct_state::RPL | ct_state::TRK | ct_state::DNAT);
//! assert_eq!((r.nat.unwrap().src, r.nat.unwrap().sport), (vip, 80));
//! ```
//!
//! ## Concurrency
//! One [`Conntrack`] is shared by all worker threads (`Send + Sync`, every method takes
//! `&self`). The table is split into N shards (default 64, a power of two) chosen by the
//! hash of the *normalised* tuple, each a slab plus hash index behind its own
//! `parking_lot::Mutex`, padded to its own cache lines. A lookup locks one shard for the
//! hash probe and the state update (tens of nanoseconds); there is no global lock. The
//! only shared atomics are the connection counts touched on commit and removal. A NAT
//! reply tuple that hashes to another shard is found through a remote reference indexed
//! there (second, separate lock); a NAT commit locks two shards in increasing order. We
//! chose sharded locks over lock-free reads because every hit writes (TCP windows,
//! expiry), so readers would need per-entry locks anyway.
//!
//! ## Bursts
//! In a table much larger than the caches, a lookup is two dependent DRAM (and TLB)
//! misses: the index bucket, then the entry. [`Conntrack::execute_batch`] takes a burst
//! and, 16 packets at a time, prefetches every index bucket (through an index address
//! each shard publishes, without its lock), then every entry (a short lock per packet),
//! then runs the packets in order; the results are exactly those of `execute` one by one.
//!
//! ## Memory
//! An entry is two aligned cache lines (128 bytes): the packed original tuple with the
//! flag bits, mark, expiry and NAT port pool in the first (what a lookup compares), the
//! protocol state, label and NAT address in the second. The reply tuple is derived from
//! the original one and the NAT binding, not stored. Each shard indexes entries and
//! remote references with one open-addressing table of 8-byte (hash tag, value) pairs at
//! most 3/4 full, and grows its slab in 1024-entry chunks rather than by doubling. Ten
//! million connections take about 141 bytes each (1.3 GiB; `benches/hot.rs fill10m`).
//!
//! ## Expiry
//! Each entry stores its expiry time. A lookup that meets an expired entry removes it
//! and treats the packet as new; [`Conntrack::expire`] sweeps a bounded number of slots
//! per call, round robin over shards, to reclaim memory and limit room. A commit that
//! finds the table full runs a small sweep before refusing.
//!
//! ## Costs
//! `benches/hot.rs` reports thread CPU per operation (wall time on a shared machine
//! misleads). On the 2-vCPU development VM under load: an established lookup costs about
//! 45 ns with the table in cache (256 entries) and 65 ns at 4096 entries; at a million
//! entries about 0.5 us one by one (two dependent misses, each with a TLB walk) and
//! 0.13 us per packet in bursts. A commit costs about 90 ns in cache and 0.3 to 0.4 us
//! into a table of two million (0.15 to 0.3 us in bursts); an SNAT commit 0.7 to 0.9 us.
//!
//! ## Not yet
//! IP fragments are reported invalid (no reassembly); no ALGs (FTP/TFTP); TCP window
//! tracking ignores SACK; timeout policies are per tracker, not per zone. A dump copies
//! each shard while holding its lock. The global and per-zone connection counts are
//! shared atomics touched on every commit and removal. NAT port pools (8 KiB each) are
//! kept once created. Entries and indexes live on 4 KiB pages: huge pages would cut
//! the TLB part of a miss (measured: about a quarter off a burst at a million entries).
//! The remote-reference slab and the index grow by doubling (a copy under the shard
//! lock).

mod batch;
mod commit;
pub mod config;
mod conn;
mod dump;
mod index;
pub mod lb;
pub mod nat;
mod shard;
mod table;
pub mod tcp;
pub mod tuple;

pub use config::{Config, Timeouts, NS_PER_SEC};
pub use conn::NatKind;
pub use dump::{CtEntry, MemStats};
pub use lb::{select_backend, AffinityKey, Backend, HashFields, LbAffinity, LbHashInput};
pub use nat::{Nat, NatRange, PortLease};
pub use shard::Stats;
pub use table::{ct_state, Conntrack, CtArgs, CtResult, Refused, Rewrite};
pub use tuple::{proto, tcp_flags, Addr, InnerTuple, PacketMeta, Tuple};

#[cfg(test)]
mod tests {
    #[test]
    fn conntrack_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Conntrack>();
        check::<super::LbAffinity>();
    }
}
