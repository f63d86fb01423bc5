//! Tracker configuration: limits, shard count, TCP strictness and the timeout policy.
//!
//! Defaults reproduce Open vSwitch's default userspace timeout policy as it is applied
//! to connection states (OVS maps its internal timers onto policy attributes; the
//! effective seconds are kept here under our state names).

/// Nanoseconds per second: timestamps passed to the tracker are nanoseconds.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Per-state timeouts in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// First SYN seen, no answer yet.
    pub tcp_syn_sent: u32,
    /// Handshake under way (SYN-ACK seen, not yet established both ways).
    pub tcp_syn_recv: u32,
    pub tcp_established: u32,
    /// One side has sent FIN (FIN_WAIT / CLOSE_WAIT).
    pub tcp_fin_wait: u32,
    /// Both sides have sent FIN, not both acknowledged (LAST_ACK).
    pub tcp_last_ack: u32,
    /// Both FINs acknowledged (TIME_WAIT).
    pub tcp_time_wait: u32,
    /// Reset (CLOSED).
    pub tcp_close: u32,
    /// UDP and other protocols: one packet seen.
    pub udp_first: u32,
    /// Several packets, one direction only.
    pub udp_single: u32,
    /// Packets seen both ways.
    pub udp_multiple: u32,
    pub icmp_first: u32,
    pub icmp_reply: u32,
    pub sctp_first: u32,
    pub sctp_established: u32,
    pub sctp_closed: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_sent: 30,
            tcp_syn_recv: 30,
            tcp_established: 24 * 60 * 60,
            tcp_fin_wait: 15 * 60,
            tcp_last_ack: 45,
            tcp_time_wait: 30,
            tcp_close: 30,
            udp_first: 60,
            udp_single: 60,
            udp_multiple: 30,
            icmp_first: 60,
            icmp_reply: 30,
            sctp_first: 30,
            sctp_established: 24 * 60 * 60,
            sctp_closed: 10,
        }
    }
}

/// Construction-time settings of a [`crate::Conntrack`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Most connections in all zones together; new commits beyond it are refused.
    pub max_connections: u32,
    /// Limit for zones without their own (0 = unlimited), as OVS's default zone limit.
    pub default_zone_limit: u32,
    /// Number of shards, rounded up to a power of two (at least 1, at most 4096).
    pub shards: usize,
    /// Accept TCP segments outside the tracked windows and pick up connections
    /// mid-stream (no SYN seen). Flag combinations that are never valid stay invalid.
    pub tcp_liberal: bool,
    /// Check the SCTP verification tag of each direction against the first one seen.
    pub sctp_check_vtag: bool,
    /// Hash seed: give each process a random one to resist crafted collisions.
    pub hash_seed: u64,
    pub timeouts: Timeouts,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 3_000_000,
            default_zone_limit: 0,
            shards: 64,
            tcp_liberal: false,
            sctp_check_vtag: true,
            hash_seed: 0x5eed_0fc0_77ac_c0de,
            timeouts: Timeouts::default(),
        }
    }
}
