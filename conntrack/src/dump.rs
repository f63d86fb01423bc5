//! Maintenance: incremental expiry, flush, dumps in `ovs-appctl dpctl/dump-conntrack`
//! style, and memory accounting.

use crate::conn::{Conn, NatKind};
use crate::shard::Shard;
use crate::table::Conntrack;
use crate::tuple::{is_icmp, proto, Tuple};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

/// One connection as a displayable record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntry {
    pub orig: Tuple,
    pub reply: Tuple,
    pub zone: u16,
    pub mark: u32,
    pub label: u128,
    /// `protoinfo` state name (TCP and SCTP).
    pub state: Option<&'static str>,
    /// Nanosecond timestamp at which the entry expires.
    pub expires: u64,
    pub nat: NatKind,
}

impl CtEntry {
    fn of(c: &Conn) -> CtEntry {
        CtEntry {
            orig: c.orig(),
            reply: c.reply(),
            zone: c.zone(),
            mark: c.mark,
            label: c.label(),
            state: c.proto.state_name(),
            expires: c.expires,
            nat: c.nat(),
        }
    }
}

fn proto_name(p: u8, v6: bool) -> Option<&'static str> {
    Some(match (p, v6) {
        (proto::TCP, false) => "tcp",
        (proto::TCP, true) => "tcp6",
        (proto::UDP, false) => "udp",
        (proto::UDP, true) => "udp6",
        (proto::SCTP, false) => "sctp",
        (proto::SCTP, true) => "sctp6",
        (proto::ICMP, _) => "icmp",
        (proto::ICMPV6, _) => "icmpv6",
        _ => return None,
    })
}

fn fmt_tuple(f: &mut fmt::Formatter<'_>, t: &Tuple, reply: bool) -> fmt::Result {
    write!(f, "(src={},dst={}", t.src, t.dst)?;
    if is_icmp(t.proto) {
        let (req, rep) = if t.proto == proto::ICMP {
            (8, 0)
        } else {
            (128, 129)
        };
        write!(
            f,
            ",id={},type={},code=0)",
            t.sport,
            if reply { rep } else { req }
        )
    } else if matches!(t.proto, proto::TCP | proto::UDP | proto::SCTP) {
        write!(f, ",sport={},dport={})", t.sport, t.dport)
    } else {
        write!(f, ")")
    }
}

impl fmt::Display for CtEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match proto_name(self.orig.proto, !self.orig.src.is_v4()) {
            Some(n) => write!(f, "{n},orig=")?,
            None => write!(f, "proto={},orig=", self.orig.proto)?,
        }
        fmt_tuple(f, &self.orig, false)?;
        write!(f, ",reply=")?;
        fmt_tuple(f, &self.reply, true)?;
        if self.zone != 0 {
            write!(f, ",zone={}", self.zone)?;
        }
        if self.mark != 0 {
            write!(f, ",mark={}", self.mark)?;
        }
        if self.label != 0 {
            write!(f, ",labels={:#x}", self.label)?;
        }
        if let Some(s) = self.state {
            write!(f, ",protoinfo=(state={s})")?;
        }
        Ok(())
    }
}

/// Memory used by the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemStats {
    pub connections: usize,
    /// Bytes of one slab slot (entry plus generation).
    pub entry_bytes: usize,
    pub slab_bytes: usize,
    pub index_bytes: usize,
}

impl MemStats {
    pub fn per_connection(&self) -> usize {
        (self.slab_bytes + self.index_bytes)
            .checked_div(self.connections)
            .unwrap_or(0)
    }
}

impl Conntrack {
    /// Sweep at most `budget` slots (spread over shards, resuming where the last call
    /// stopped) for expired entries and remove them. Returns how many were removed.
    /// Expired entries are also ignored and removed when a lookup meets them, so this
    /// only reclaims memory and limit room; call it from a maintenance loop. A return of
    /// 0 does not mean nothing is left to expire, only that this call's share of slots
    /// held none.
    pub fn expire(&self, now: u64, budget: usize) -> usize {
        let n = self.shards.len();
        let mut left = budget as u32;
        let mut removed = 0;
        let mut dead = Vec::new();
        for _ in 0..n {
            if left == 0 {
                break;
            }
            let si = self.sweep_next.fetch_add(1, Relaxed) % n;
            let mut g = self.shards[si].lock();
            let before = dead.len();
            left = left.saturating_sub(g.sweep(left, |c| now >= c.expires, &mut dead));
            g.stats.expired += (dead.len() - before) as u64;
            drop(g);
            removed += self.release_all(si, &mut dead);
        }
        removed
    }

    /// Remove all connections, or those of one zone. Returns how many were removed.
    pub fn flush(&self, zone: Option<u16>) -> usize {
        let mut removed = 0;
        let mut dead = Vec::new();
        for si in 0..self.shards.len() {
            let mut g = self.shards[si].lock();
            let all = g.slots();
            g.sweep_cursor = 0;
            g.sweep(all, |c| zone.is_none_or(|z| c.zone() == z), &mut dead);
            drop(g);
            removed += self.release_all(si, &mut dead);
        }
        removed
    }

    fn release_all(&self, si: usize, dead: &mut Vec<(Conn, u32)>) -> usize {
        let n = dead.len();
        for (c, slot) in dead.drain(..) {
            self.release(c, si, slot);
        }
        n
    }

    /// Snapshot of the connections (of one zone, or all), shard by shard.
    pub fn dump(&self, zone: Option<u16>) -> Vec<CtEntry> {
        let mut out = Vec::new();
        for sh in self.shards.iter() {
            let g = sh.lock();
            out.extend(
                g.iter()
                    .map(|(_, c)| c)
                    .filter(|c| zone.is_none_or(|z| c.zone() == z))
                    .map(CtEntry::of),
            );
        }
        out
    }

    pub fn memory(&self) -> MemStats {
        let mut m = MemStats {
            connections: self.len(),
            entry_bytes: Shard::slot_size(),
            slab_bytes: 0,
            index_bytes: 0,
        };
        for sh in self.shards.iter() {
            let g = sh.lock();
            m.slab_bytes += g.slab_bytes();
            m.index_bytes += g.index_bytes();
        }
        m
    }
}
