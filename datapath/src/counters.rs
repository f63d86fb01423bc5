//! Per-worker packet counters: which cache tier handled each packet, why packets were
//! dropped, and which parse anomalies were seen (packets that were still forwarded).
//!
//! Tiers never overlap (as in OVS dpif-netdev): every received packet is counted in
//! exactly one [`Tier`]. Drops are counted per [`DropReason`], a closed enum with one
//! stable name per reason. A worker owns a [`WorkerCounters`] of plain `u64`s (no atomics
//! on the hot path) and periodically calls [`WorkerCounters::publish`] into a
//! [`SharedCounters`] made of relaxed atomics, which the control thread reads with
//! [`SharedCounters::snapshot`]. Snapshots of several workers add up with
//! [`CounterSnapshot::merge`].

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            /// Every variant, in declaration (and array index) order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// Number of variants: the length of the counter array.
            pub const COUNT: usize = Self::ALL.len();
            /// Stable name, used in `southpaw` stats output.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            /// Index into counter arrays.
            #[inline(always)]
            pub const fn index(self) -> usize { self as usize }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// The cache tier that handled a packet. Exactly one per received packet.
    Tier {
        /// Exact-match cache hit.
        EmcHit = "emc-hit",
        /// Megaflow (tuple-space) cache hit after an EMC miss.
        MegaflowHit = "megaflow-hit",
        /// Missed both caches; the pipeline ran on the slow path.
        Upcall = "upcall",
        /// Missed both caches and could not be handled (slow path refused or failed).
        Lost = "lost",
    }
}

named_enum! {
    /// Why a packet was dropped.
    DropReason {
        /// Shorter than an Ethernet header: nothing to extract.
        RuntFrame = "runt-frame",
        /// Longer than the datapath handles (64 KiB).
        OversizeFrame = "oversize-frame",
        /// The logical pipeline's actions dropped it (`drop;` or no matching flow).
        PipelineDrop = "pipeline-drop",
        /// The pipeline finished without an output port.
        NoOutput = "no-output",
        /// The slow path failed to build actions for it.
        SlowPathError = "slow-path-error",
        /// The megaflow cache was full and insertion failed, and the packet could not be
        /// handled without it.
        CacheFull = "cache-full",
        /// A cached action asked to rewrite a header the packet does not have.
        RewriteMissingHeader = "rewrite-missing-header",
        /// A cached action asked for a rewrite the datapath cannot do in place (SCTP
        /// ports, VLAN push/pop through a field write).
        RewriteUnsupported = "rewrite-unsupported",
        /// Recirculation went deeper than allowed.
        RecirculationLimit = "recirculation-limit",
        /// Larger than the egress MTU and not fragmentable here.
        MtuExceeded = "mtu-exceeded",
        /// The transmit ring or queue had no room.
        TxFull = "tx-full",
        /// The egress port is gone or down.
        PortDown = "port-down",
        /// Tunnel encapsulation/decapsulation failed.
        TunnelError = "tunnel-error",
        /// Conntrack marked it invalid and the pipeline dropped it as such.
        ConntrackInvalid = "conntrack-invalid",
    }
}

named_enum! {
    /// Malformed headers that did not stop forwarding: extraction stopped early and left
    /// the later fields zero, as OVS does.
    Anomaly {
        /// The VLAN tag was cut short; treated as an untagged frame with the outer type.
        VlanTruncated = "vlan-truncated",
        /// IPv4/IPv6 header truncated or inconsistent: no L3 fields.
        L3Malformed = "l3-malformed",
        /// IPv6 extension headers truncated or too many: no L4 fields.
        Ipv6ExtHeaders = "ipv6-ext-headers",
        /// ARP for a hardware/protocol other than Ethernet/IPv4, or short: no ARP fields.
        ArpMalformed = "arp-malformed",
        /// L4 header shorter than its minimum: no L4 fields.
        L4Truncated = "l4-truncated",
        /// Neighbor Discovery options malformed: ND fields left zero.
        NdOptions = "nd-options",
    }
}

/// One worker's counters: plain integers, owned by the worker thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    pub tiers: [u64; Tier::COUNT],
    pub drops: [u64; DropReason::COUNT],
    pub anomalies: [u64; Anomaly::COUNT],
}

impl WorkerCounters {
    pub fn new() -> WorkerCounters {
        WorkerCounters::default()
    }
    #[inline(always)]
    pub fn tier(&mut self, t: Tier) {
        self.tiers[t.index()] += 1;
    }
    #[inline(always)]
    pub fn tier_n(&mut self, t: Tier, n: u64) {
        self.tiers[t.index()] += n;
    }
    #[inline(always)]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r.index()] += 1;
    }
    #[inline(always)]
    pub fn drop_n(&mut self, r: DropReason, n: u64) {
        self.drops[r.index()] += n;
    }
    #[inline(always)]
    pub fn anomaly(&mut self, a: Anomaly) {
        self.anomalies[a.index()] += 1;
    }
    /// Packets received = sum over tiers.
    pub fn received(&self) -> u64 {
        self.tiers.iter().sum()
    }
    /// Stores the current values into `shared` (relaxed: a reader may see a mix of two
    /// publications, each value monotonic).
    pub fn publish(&self, shared: &SharedCounters) {
        for (a, v) in shared.tiers.iter().zip(self.tiers) {
            a.store(v, Ordering::Relaxed);
        }
        for (a, v) in shared.drops.iter().zip(self.drops) {
            a.store(v, Ordering::Relaxed);
        }
        for (a, v) in shared.anomalies.iter().zip(self.anomalies) {
            a.store(v, Ordering::Relaxed);
        }
    }
}

/// A worker's published counters, readable from any thread.
#[derive(Debug, Default)]
pub struct SharedCounters {
    tiers: [AtomicU64; Tier::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
    anomalies: [AtomicU64; Anomaly::COUNT],
}

impl SharedCounters {
    pub fn new() -> SharedCounters {
        SharedCounters::default()
    }
    pub fn snapshot(&self) -> CounterSnapshot {
        let mut s = CounterSnapshot::default();
        for (v, a) in s.0.tiers.iter_mut().zip(&self.tiers) {
            *v = a.load(Ordering::Relaxed);
        }
        for (v, a) in s.0.drops.iter_mut().zip(&self.drops) {
            *v = a.load(Ordering::Relaxed);
        }
        for (v, a) in s.0.anomalies.iter_mut().zip(&self.anomalies) {
            *v = a.load(Ordering::Relaxed);
        }
        s
    }
}

/// A point-in-time copy of counters (one worker's, or merged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot(pub WorkerCounters);

impl CounterSnapshot {
    pub fn tier(&self, t: Tier) -> u64 {
        self.0.tiers[t.index()]
    }
    pub fn drops(&self, r: DropReason) -> u64 {
        self.0.drops[r.index()]
    }
    pub fn anomalies(&self, a: Anomaly) -> u64 {
        self.0.anomalies[a.index()]
    }
    /// Adds another snapshot (e.g. of another worker) into this one.
    pub fn merge(&mut self, o: &CounterSnapshot) {
        for (a, b) in self.0.tiers.iter_mut().zip(o.0.tiers) {
            *a += b;
        }
        for (a, b) in self.0.drops.iter_mut().zip(o.0.drops) {
            *a += b;
        }
        for (a, b) in self.0.anomalies.iter_mut().zip(o.0.anomalies) {
            *a += b;
        }
    }
    /// Every counter as `(group, name, value)`, groups "tier", "drop", "anomaly".
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        let t = Tier::ALL.iter().map(|&x| ("tier", x.name(), self.tier(x)));
        let d = DropReason::ALL
            .iter()
            .map(|&x| ("drop", x.name(), self.drops(x)));
        let a = Anomaly::ALL
            .iter()
            .map(|&x| ("anomaly", x.name(), self.anomalies(x)));
        t.chain(d).chain(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indices_dense() {
        let mut names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
        names.extend(DropReason::ALL.iter().map(|t| t.name()));
        names.extend(Anomaly::ALL.iter().map(|t| t.name()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(Tier::COUNT, 4);
    }

    #[test]
    fn publish_snapshot_merge() {
        let mut w = WorkerCounters::new();
        w.tier(Tier::EmcHit);
        w.tier_n(Tier::MegaflowHit, 3);
        w.tier(Tier::Upcall);
        w.drop(DropReason::RuntFrame);
        w.drop_n(DropReason::TxFull, 2);
        w.anomaly(Anomaly::L4Truncated);
        assert_eq!(w.received(), 5);
        let shared = SharedCounters::new();
        w.publish(&shared);
        let mut s = shared.snapshot();
        assert_eq!(s.tier(Tier::MegaflowHit), 3);
        assert_eq!(s.drops(DropReason::TxFull), 2);
        assert_eq!(s.anomalies(Anomaly::L4Truncated), 1);
        let s2 = s.clone();
        s.merge(&s2);
        assert_eq!(s.tier(Tier::EmcHit), 2);
        let named: Vec<_> = s.iter().filter(|e| e.2 != 0).map(|e| e.1).collect();
        assert_eq!(
            named,
            vec![
                "emc-hit",
                "megaflow-hit",
                "upcall",
                "runt-frame",
                "tx-full",
                "l4-truncated"
            ]
        );
    }
}
