//! The shared tracker: shards, limits, and the `ct` action's lookup path.
//!
//! A packet's tuple hashes (normalised) to one shard; the shard's lock is held for the
//! lookup and state update only. A NAT reply tuple indexed in another shard costs a
//! second, separate lock (never both at once). Two shard locks are held together only
//! when committing a NAT connection, always in increasing shard order.

use crate::config::Config;
use crate::conn::{Conn, NatKind, Update, NO_REMOTE};
use crate::nat::{Nat, Pools};
use crate::shard::{Hit, PaddedShard, RemoteRef, Shard, Stats};
use crate::tuple::{is_icmp, proto, Addr, PacketMeta, Tuple};
use parking_lot::MutexGuard;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// ct_state bits as OVS numbers them (same values as `pipeline::flow::ct_state`).
pub mod ct_state {
    pub const NEW: u8 = 0x01;
    pub const EST: u8 = 0x02;
    pub const REL: u8 = 0x04;
    pub const RPL: u8 = 0x08;
    pub const INV: u8 = 0x10;
    pub const TRK: u8 = 0x20;
    pub const SNAT: u8 = 0x40;
    pub const DNAT: u8 = 0x80;
}
use ct_state as S;

/// The arguments of one `ct(...)` action.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CtArgs {
    pub zone: u16,
    /// `commit`: create the connection if it is new; update mark/label if it exists.
    pub commit: bool,
    /// `ct_mark` (value, mask) to set on commit.
    pub mark: Option<(u32, u32)>,
    /// `ct_label` (value, mask) to set on commit.
    pub label: Option<(u128, u128)>,
    /// `nat(...)`: translate. `Src`/`Dst` ranges only matter when committing a new
    /// connection; on an existing one every form applies the stored translation.
    pub nat: Option<Nat>,
}

/// New header values the datapath must write. Only fields that differ need writing;
/// for ICMP echo `sport` is the identifier.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rewrite {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
}

/// Why a commit created nothing. The packet still comes back `new|trk`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refused {
    /// The global connection limit is reached.
    TableFull,
    /// The zone's limit is reached.
    ZoneFull,
    /// No NAT address/port left for a unique reply tuple.
    NatExhausted,
    /// The reply tuple belongs to another connection.
    Collision,
}

/// The outcome of a `ct` action.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CtResult {
    /// ct_state bits (see [`ct_state`]).
    pub state: u8,
    pub zone: u16,
    pub mark: u32,
    pub label: u128,
    /// Translation to apply: the packet's addresses and ports (ICMP echo: identifier in
    /// `sport`). For a related ICMP error only `src` and `dst` (outer header) apply.
    pub nat: Option<Rewrite>,
    /// For a related ICMP error: the translation of the embedded packet's tuple.
    pub inner_nat: Option<Rewrite>,
    pub refused: Option<Refused>,
}

impl CtResult {
    pub(crate) fn bits(zone: u16, state: u8) -> CtResult {
        CtResult {
            state,
            zone,
            ..Default::default()
        }
    }
}

#[repr(align(128))]
pub(crate) struct PaddedCount(pub AtomicU64);

const INVALID_STRIPES: usize = 16;

/// What a packet is to the tracker.
pub(crate) enum Kind {
    /// Belongs to a connection by this tuple.
    Conn(Tuple),
    /// ICMP error about the connection of this (reversed inner) tuple.
    Related(Tuple),
    Invalid,
}

/// A connection tracker shared by all worker threads (`Send + Sync`, all methods `&self`).
pub struct Conntrack {
    pub(crate) cfg: Config,
    pub(crate) shards: Box<[PaddedShard]>,
    pub(crate) mask: usize,
    pub(crate) count: AtomicU32,
    pub(crate) zone_count: Box<[AtomicU32]>,
    pub(crate) zone_limit: Box<[AtomicU32]>,
    pub(crate) pools: Pools,
    pub(crate) sweep_next: AtomicUsize,
    /// Invalid packets that reached no entry, striped so floods do not share a line.
    pub(crate) invalid: Box<[PaddedCount]>,
}

fn is_icmp_error(p: u8, t: u8) -> bool {
    match p {
        proto::ICMP => matches!(t, 3 | 4 | 5 | 11 | 12),
        proto::ICMPV6 => matches!(t, 1..=4),
        _ => false,
    }
}

pub(crate) fn classify(pkt: &PacketMeta, zone: u16) -> Kind {
    if pkt.fragment {
        return Kind::Invalid;
    }
    let mut t = Tuple {
        src: pkt.src,
        dst: pkt.dst,
        sport: 0,
        dport: 0,
        proto: pkt.proto,
        zone,
    };
    match pkt.proto {
        proto::TCP | proto::UDP | proto::SCTP => {
            t.sport = pkt.sport;
            t.dport = pkt.dport;
        }
        proto::ICMP | proto::ICMPV6 => {
            let ty = pkt.icmp_type;
            if is_icmp_error(pkt.proto, ty) {
                let Some(i) = pkt.inner else {
                    return Kind::Invalid;
                };
                let inner = Tuple {
                    src: i.src,
                    dst: i.dst,
                    sport: i.sport,
                    dport: if is_icmp(i.proto) { 0 } else { i.dport },
                    proto: i.proto,
                    zone,
                };
                return Kind::Related(inner.reverse());
            }
            let echo = matches!(
                (pkt.proto, ty),
                (proto::ICMP, 0 | 8) | (proto::ICMPV6, 128 | 129)
            );
            if !echo {
                return Kind::Invalid;
            }
            t.sport = pkt.icmp_id;
        }
        _ => {}
    }
    Kind::Conn(t)
}

/// The tuple a packet of direction `dir` must carry after translation.
pub(crate) fn rewrite_for(c: &Conn, dir: usize) -> Rewrite {
    let t = c.tuple(dir ^ 1).reverse();
    Rewrite {
        src: t.src,
        dst: t.dst,
        sport: t.sport,
        dport: t.dport,
    }
}

fn nat_bits(c: &Conn) -> u8 {
    match c.nat() {
        NatKind::None => 0,
        NatKind::Src => S::SNAT,
        NatKind::Dst => S::DNAT,
    }
}

/// Result of resolving a tuple to an entry: the locked shard, slot and direction.
pub(crate) struct Found<'a> {
    pub guard: MutexGuard<'a, Shard>,
    pub shard: usize,
    pub slot: u32,
    pub dir: usize,
}

impl Conntrack {
    pub fn new(mut cfg: Config) -> Conntrack {
        let n = cfg.shards.clamp(1, 4096).next_power_of_two();
        cfg.shards = n;
        // Slot numbers of a shard must fit the index's value bits.
        cfg.max_connections = cfg.max_connections.min(crate::shard::MAX_SLOTS - 1);
        let seed = cfg.hash_seed;
        Conntrack {
            shards: (0..n).map(|_| PaddedShard::new(seed)).collect(),
            mask: n - 1,
            count: AtomicU32::new(0),
            zone_count: (0..65536).map(|_| AtomicU32::new(0)).collect(),
            zone_limit: (0..65536).map(|_| AtomicU32::new(0)).collect(),
            pools: Pools::new(),
            sweep_next: AtomicUsize::new(0),
            invalid: (0..INVALID_STRIPES)
                .map(|_| PaddedCount(AtomicU64::new(0)))
                .collect(),
            cfg,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn count_invalid(&self, pkt: &PacketMeta) {
        let i = usize::from(pkt.src.0[15] ^ pkt.dst.0[15]) % INVALID_STRIPES;
        self.invalid[i].0.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn shard_of(&self, h: u64) -> usize {
        // Low bits: the shard index takes its tag and home bucket from the high half.
        h as usize & self.mask
    }

    /// Live connections in all zones.
    pub fn len(&self) -> usize {
        self.count.load(Relaxed) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live connections in `zone`.
    pub fn zone_len(&self, zone: u16) -> u32 {
        self.zone_count[usize::from(zone)].load(Relaxed)
    }

    /// Set (`Some`, at least 1) or clear (`None`: back to the default) a zone's limit.
    pub fn set_zone_limit(&self, zone: u16, limit: Option<u32>) {
        self.zone_limit[usize::from(zone)].store(limit.map_or(0, |l| l.max(1)), Relaxed);
    }

    /// Counters summed over shards.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for sh in self.shards.iter() {
            s.add(&sh.lock().stats);
        }
        s.invalid += self.invalid.iter().map(|c| c.0.load(Relaxed)).sum::<u64>();
        s
    }

    /// Ports leased from the pool of one NAT address.
    pub fn nat_ports_in_use(&self, zone: u16, proto: u8, addr: Addr) -> u32 {
        self.pools.in_use(zone, proto, addr)
    }

    /// Run one `ct` action on a packet at time `now` (nanoseconds, any fixed origin).
    pub fn execute(&self, pkt: &PacketMeta, args: &CtArgs, now: u64) -> CtResult {
        let mut r = CtResult::default();
        self.execute_into(pkt, args, now, &mut r);
        r
    }

    /// [`Conntrack::execute`], writing the result into `out`.
    #[inline]
    pub(crate) fn execute_into(
        &self,
        pkt: &PacketMeta,
        args: &CtArgs,
        now: u64,
        out: &mut CtResult,
    ) {
        let zone = args.zone;
        match classify(pkt, zone) {
            Kind::Invalid => {
                self.count_invalid(pkt);
                *out = CtResult::bits(zone, S::TRK | S::INV);
            }
            Kind::Related(t) => *out = self.related(pkt, &t, args, now),
            Kind::Conn(t) => {
                let h = t.norm_hash(self.cfg.hash_seed);
                self.execute_conn(pkt, &t, h, args, now, out);
            }
        }
    }

    /// [`Conntrack::execute`] for a packet of a connection with tuple `t`, hash `h`.
    #[inline]
    pub(crate) fn execute_conn(
        &self,
        pkt: &PacketMeta,
        t: &Tuple,
        h: u64,
        args: &CtArgs,
        now: u64,
        out: &mut CtResult,
    ) {
        let si = self.shard_of(h);
        // Start the index bucket's miss before the lock's atomic.
        self.shards[si].prefetch_bucket(h);
        // A reopened or expired entry is removed and the lookup runs again once.
        for _ in 0..2 {
            let g = self.shards[si].lock();
            self.shards[si].publish_hint(&g);
            if args.commit {
                // Overlap the miss on the slot a commit fills with the index probe.
                g.prefetch_free();
            }
            let found = match g.find(t, h) {
                Some(Hit::Local { slot, dir }) => Some(Found {
                    guard: g,
                    shard: si,
                    slot,
                    dir,
                }),
                Some(Hit::Remote(r)) => {
                    drop(g);
                    self.resolve_remote(r, t)
                }
                None => {
                    *out = self.miss_locked(g, *t, h, pkt, args, now);
                    return;
                }
            };
            let Some(mut f) = found else { break };
            if self.hit(&mut f, pkt, args, now, out) {
                return;
            }
            self.remove_found(f);
        }
        *out = self.miss(*t, h, pkt, args, now);
    }

    /// A miss found with the shard lock still held: answer `new`, or commit a plain
    /// connection under the same lock; anything harder goes the slow way.
    fn miss_locked(
        &self,
        mut g: MutexGuard<'_, Shard>,
        t: Tuple,
        h: u64,
        pkt: &PacketMeta,
        args: &CtArgs,
        now: u64,
    ) -> CtResult {
        let Some(ps) = crate::conn::ProtoState::new(pkt, &self.cfg) else {
            drop(g);
            self.count_invalid(pkt);
            return CtResult::bits(args.zone, S::TRK | S::INV);
        };
        if !args.commit {
            return CtResult::bits(args.zone, S::TRK | S::NEW);
        }
        if matches!(args.nat, None | Some(Nat::Existing)) {
            if let Some(r) = self.commit_plain_locked(&mut g, t, h, ps, args, now) {
                return r;
            }
        }
        drop(g);
        self.commit_new(t, h, pkt, args, now)
    }

    /// Resolve `t` to its entry and lock the entry's shard.
    pub(crate) fn find(&self, t: &Tuple, h: u64) -> Option<Found<'_>> {
        let si = self.shard_of(h);
        let g = self.shards[si].lock();
        match g.find(t, h)? {
            Hit::Local { slot, dir } => Some(Found {
                guard: g,
                shard: si,
                slot,
                dir,
            }),
            Hit::Remote(r) => {
                drop(g);
                self.resolve_remote(r, t)
            }
        }
    }

    /// Follow a remote reference to the entry's own shard and check it still holds.
    fn resolve_remote(&self, r: RemoteRef, t: &Tuple) -> Option<Found<'_>> {
        let sj = usize::from(r.shard);
        let g = self.shards.get(sj)?.lock();
        // The slot may hold another connection by now: it must still own this tuple.
        let ok = g.conn(r.slot).is_some_and(|c| c.reply() == *t);
        ok.then_some(Found {
            guard: g,
            shard: sj,
            slot: r.slot,
            dir: 1,
        })
    }

    /// Update a found entry with the packet and write the result to `out`. `false`:
    /// the entry is dead (expired or reopened by a SYN) and must be removed, then the
    /// packet looked up again; `out` is untouched then.
    #[inline]
    pub(crate) fn hit(
        &self,
        f: &mut Found<'_>,
        pkt: &PacketMeta,
        args: &CtArgs,
        now: u64,
        out: &mut CtResult,
    ) -> bool {
        let dir = f.dir;
        let g = &mut *f.guard;
        let Some(c) = g.conn_mut(f.slot) else {
            return false;
        };
        if now >= c.expires {
            g.stats.expired += 1;
            return false;
        }
        let state = match c.update(dir, pkt, &self.cfg, now) {
            Update::Reopen => return false,
            Update::Invalid => S::TRK | S::INV,
            Update::Valid { new } => {
                if args.commit {
                    if let Some((v, m)) = args.mark {
                        c.mark = (c.mark & !m) | (v & m);
                    }
                    if let Some((v, m)) = args.label {
                        c.set_label((c.label() & !m) | (v & m));
                    }
                }
                S::TRK
                    | if dir == 1 {
                        S::EST | S::RPL
                    } else if c.seen_reply() && !new {
                        S::EST
                    } else {
                        S::NEW
                    }
            }
        };
        out.state = state;
        out.zone = args.zone;
        out.mark = c.mark;
        out.label = c.label();
        out.nat = None;
        out.inner_nat = None;
        out.refused = None;
        if state & S::INV != 0 {
            g.stats.invalid += 1;
        } else if args.nat.is_some() && c.nat() != NatKind::None {
            out.state |= nat_bits(c);
            out.nat = Some(rewrite_for(c, dir));
        }
        true
    }

    /// Remove the entry `f` points at, then its remote reference, then release it.
    pub(crate) fn remove_found(&self, f: Found<'_>) {
        let Found {
            mut guard,
            shard,
            slot,
            ..
        } = f;
        let c = guard.remove(slot);
        drop(guard);
        if let Some(c) = c {
            self.release(c, shard, slot);
        }
    }

    /// Drop an entry already taken out of shard `shard`: clear its remote reference,
    /// give back its counts; its NAT lease returns when `c` drops here.
    pub(crate) fn release(&self, c: Conn, shard: usize, slot: u32) {
        if c.remote != NO_REMOTE {
            if let Some(sh) = self.shards.get(usize::from(c.remote)) {
                sh.lock().remove_remote(
                    &c.reply(),
                    RemoteRef {
                        shard: shard as u16,
                        slot,
                    },
                );
            }
        }
        self.count.fetch_sub(1, Relaxed);
        self.zone_count[usize::from(c.zone())].fetch_sub(1, Relaxed);
        drop(c);
    }

    /// No entry for `t`: commit one if asked, otherwise report the packet as new.
    fn miss(&self, t: Tuple, h: u64, pkt: &PacketMeta, args: &CtArgs, now: u64) -> CtResult {
        if crate::conn::ProtoState::new(pkt, &self.cfg).is_none() {
            self.count_invalid(pkt);
            return CtResult::bits(args.zone, S::TRK | S::INV);
        }
        if !args.commit {
            return CtResult::bits(args.zone, S::TRK | S::NEW);
        }
        self.commit_new(t, h, pkt, args, now)
    }

    /// An ICMP error: find the connection its embedded packet belongs to.
    fn related(&self, pkt: &PacketMeta, t: &Tuple, args: &CtArgs, now: u64) -> CtResult {
        let h = t.norm_hash(self.cfg.hash_seed);
        let Some(f) = self.find(t, h) else {
            self.count_invalid(pkt);
            return CtResult::bits(args.zone, S::TRK | S::INV);
        };
        let Some(c) = f.guard.conn(f.slot) else {
            return CtResult::bits(args.zone, S::TRK | S::INV);
        };
        if now >= c.expires {
            drop(f);
            self.count_invalid(pkt);
            return CtResult::bits(args.zone, S::TRK | S::INV);
        }
        let dir = f.dir;
        let mut r = CtResult {
            state: S::TRK | S::REL | if dir == 1 { S::RPL } else { 0 },
            zone: args.zone,
            mark: c.mark,
            label: c.label(),
            ..Default::default()
        };
        if args.nat.is_some() && c.nat() != NatKind::None {
            let w = rewrite_for(c, dir);
            let tup = c.tuple(dir);
            r.state |= nat_bits(c);
            r.nat = Some(Rewrite {
                src: if pkt.src == tup.src { w.src } else { pkt.src },
                dst: w.dst,
                sport: 0,
                dport: 0,
            });
            let back = Tuple {
                src: w.src,
                dst: w.dst,
                sport: w.sport,
                dport: w.dport,
                ..tup
            }
            .reverse();
            r.inner_nat = Some(Rewrite {
                src: back.src,
                dst: back.dst,
                sport: back.sport,
                dport: back.dport,
            });
        }
        r
    }
}
