//! NAT: translation ranges, and NAT ports handed out as RAII leases.
//!
//! A port pool covers the whole 16-bit port space of one (zone, protocol, NAT address)
//! with a bitmap. A connection that needs a translated port takes a [`PortLease`] from
//! the pool; the lease is stored in the connection entry and gives the port back when
//! the entry is dropped, whatever removed it (expiry, flush, reset, reopen). Because a
//! leased port is unique per (zone, protocol, address), the reply tuple it produces is
//! unique in the zone. Translations that keep the original port are checked against the
//! connection index instead. An ICMP echo identifier plays the source port's part: SNAT
//! keeps it when the translated tuple is free and otherwise leases another one from the
//! pool of (zone, ICMP, address), as Linux does (so two inside hosts can ping the same
//! server with the same identifier through one address).
//!
//! Lock order: a pool's lock is a leaf; it is taken with or without a shard lock held,
//! and nothing is locked while holding it. The map of pools is locked only to find (or
//! create) a pool and lease from it, never with a shard lock held. Pools are created on
//! first use and kept (one 8 KiB bitmap per NAT address in use).

use crate::tuple::{mix, Addr, FastBuild};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// A range of addresses and ports to translate to, as in OVS `nat(src=A-B:P-Q)`.
/// A port range of `0..=0` means "keep the port" (SNAT falls back to
/// [`EPHEMERAL_PORTS`] if the original port is taken).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NatRange {
    pub addr_min: Addr,
    pub addr_max: Addr,
    pub port_min: u16,
    pub port_max: u16,
}

impl NatRange {
    /// One address, ports kept.
    pub fn addr(a: Addr) -> NatRange {
        NatRange {
            addr_min: a,
            addr_max: a,
            port_min: 0,
            port_max: 0,
        }
    }
    /// One address and one port (a load-balancer backend).
    pub fn addr_port(a: Addr, port: u16) -> NatRange {
        NatRange {
            addr_min: a,
            addr_max: a,
            port_min: port,
            port_max: port,
        }
    }
    pub fn with_ports(mut self, min: u16, max: u16) -> NatRange {
        self.port_min = min;
        self.port_max = max;
        self
    }
    pub(crate) fn keeps_port(&self) -> bool {
        self.port_min == 0 && self.port_max == 0
    }
    /// The address for a connection whose tuple hashed to `h`.
    pub(crate) fn pick_addr(&self, h: u64) -> Addr {
        let (lo, hi) = (self.addr_min.as_u128(), self.addr_max.as_u128());
        if hi <= lo {
            return self.addr_min;
        }
        let span = hi - lo + 1;
        Addr::from_u128(lo + (u128::from(mix(h, 0x2d35_8dcc_aa6c_78a5)) % span))
    }
}

/// Ports (and ICMP echo identifiers) SNAT falls back to when the original one is taken.
pub const EPHEMERAL_PORTS: (u16, u16) = (1024, 65535);

/// The NAT part of a `ct` action.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Nat {
    /// `ct(nat)`: apply the translation an existing connection was committed with.
    Existing,
    /// `ct(commit, nat(src=...))`: source NAT for a new connection.
    Src(NatRange),
    /// `ct(commit, nat(dst=...))`: destination NAT for a new connection.
    Dst(NatRange),
}

const WORDS: usize = 65536 / 64;

struct PoolBits {
    used: Box<[u64; WORDS]>,
    cursor: u16,
    in_use: u32,
}

/// Ports of one (zone, protocol, address).
pub struct PortPool {
    bits: Mutex<PoolBits>,
}

/// A NAT port held by a connection; dropping it returns the port to its pool.
///
/// A connection entry keeps the pool and the port apart (the port is also its
/// translated port) and gives the port back when it drops, as the lease would.
pub struct PortLease {
    /// `None` only once the parts were handed over ([`PortLease::into_parts`]).
    pool: Option<Arc<PortPool>>,
    port: u16,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool and the port, for an owner that returns the port itself
    /// ([`PortPool::release`]). `None` only for a lease already taken apart.
    pub(crate) fn into_parts(mut self) -> Option<(Arc<PortPool>, u16)> {
        Some((self.pool.take()?, self.port))
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Some(p) = self.pool.take() {
            p.release(self.port);
        }
    }
}

impl std::fmt::Debug for PortLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortLease({})", self.port)
    }
}

impl PortPool {
    fn new() -> PortPool {
        PortPool {
            bits: Mutex::new(PoolBits {
                used: Box::new([0; WORDS]),
                cursor: 0,
                in_use: 0,
            }),
        }
    }

    /// Give back a port leased from this pool (a no-op if it is not leased).
    pub(crate) fn release(&self, port: u16) {
        let mut b = self.bits.lock();
        let (w, bit) = (usize::from(port) / 64, port % 64);
        if b.used[w] & (1 << bit) != 0 {
            b.used[w] &= !(1u64 << bit);
            b.in_use -= 1;
        }
    }

    /// Ports currently leased.
    pub fn in_use(&self) -> u32 {
        self.bits.lock().in_use
    }

    /// Lease a free port in `min..=max`, searching on from where the last lease ended so
    /// a released port is not reused at once.
    pub fn lease(self: &Arc<Self>, min: u16, max: u16) -> Option<PortLease> {
        if max < min {
            return None;
        }
        let mut b = self.bits.lock();
        let span = u32::from(max - min) + 1;
        let start = if (min..=max).contains(&b.cursor) {
            b.cursor
        } else {
            min
        };
        let mut p = u32::from(start);
        let mut seen = 0u32;
        while seen < span {
            let (w, bit) = (p as usize / 64, p % 64);
            if bit == 0 && b.used[w] == u64::MAX && p + 63 <= u32::from(max) {
                seen += 64;
                p += 64;
            } else if b.used[w] & (1 << bit) == 0 {
                b.used[w] |= 1 << bit;
                b.in_use += 1;
                b.cursor = if p as u16 == max { min } else { p as u16 + 1 };
                return Some(PortLease {
                    pool: Some(Arc::clone(self)),
                    port: p as u16,
                });
            } else {
                seen += 1;
                p += 1;
            }
            if p > u32::from(max) {
                p = u32::from(min);
            }
        }
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PoolKey {
    zone: u16,
    proto: u8,
    addr: Addr,
}

const POOL_SHARDS: usize = 16;

/// All port pools, sharded by key so NAT setups on different addresses do not contend.
pub(crate) struct Pools {
    maps: Vec<Mutex<HashMap<PoolKey, Arc<PortPool>, FastBuild>>>,
}

impl Pools {
    pub fn new() -> Pools {
        Pools {
            maps: (0..POOL_SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }

    fn map(&self, key: &PoolKey) -> &Mutex<HashMap<PoolKey, Arc<PortPool>, FastBuild>> {
        let (a, b) = key.addr.words();
        let h = mix(
            a ^ u64::from(key.zone) << 8 ^ u64::from(key.proto),
            b ^ 0x9e37_79b9_7f4a_7c15,
        );
        &self.maps[h as usize % POOL_SHARDS]
    }

    /// Lease a port in `min..=max` from the pool of (zone, protocol, address), creating
    /// the pool on first use.
    pub fn lease(&self, zone: u16, proto: u8, addr: Addr, min: u16, max: u16) -> Option<PortLease> {
        let key = PoolKey { zone, proto, addr };
        let mut m = self.map(&key).lock();
        m.entry(key)
            .or_insert_with(|| Arc::new(PortPool::new()))
            .lease(min, max)
    }

    /// Ports leased on one address, for tests and stats.
    pub fn in_use(&self, zone: u16, proto: u8, addr: Addr) -> u32 {
        let key = PoolKey { zone, proto, addr };
        let m = self.map(&key).lock();
        m.get(&key).map_or(0, |p| p.in_use())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_exhaust_and_return() {
        let pool = Arc::new(PortPool::new());
        let a: Vec<_> = (0..10).map(|_| pool.lease(100, 109).unwrap()).collect();
        let mut ports: Vec<u16> = a.iter().map(|l| l.port()).collect();
        ports.sort();
        assert_eq!(ports, (100..110).collect::<Vec<_>>());
        assert!(pool.lease(100, 109).is_none());
        assert_eq!(pool.in_use(), 10);
        drop(a);
        assert_eq!(pool.in_use(), 0);
        assert!(pool.lease(100, 109).is_some());
    }

    #[test]
    fn full_range_skips_words() {
        let pool = Arc::new(PortPool::new());
        let held: Vec<_> = (0..65536).map(|_| pool.lease(0, 65535).unwrap()).collect();
        assert!(pool.lease(0, 65535).is_none());
        assert_eq!(held.len(), 65536);
    }

    #[test]
    fn pick_addr_stays_in_range() {
        let r = NatRange {
            addr_min: Addr::v4("10.0.0.10".parse().unwrap()),
            addr_max: Addr::v4("10.0.0.13".parse().unwrap()),
            port_min: 0,
            port_max: 0,
        };
        for h in 0..100u64 {
            let a = r.pick_addr(h);
            assert!(a >= r.addr_min && a <= r.addr_max, "{a}");
        }
    }
}
