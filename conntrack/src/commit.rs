//! Committing new connections: limits, NAT address and port choice, and insertion of
//! both tuples so the reply tuple is unique in its zone.

use crate::conn::{Conn, NatKind, ProtoState};
use crate::nat::{Nat, NatRange, EPHEMERAL_PORTS};
use crate::shard::{RemoteRef, Shard};
use crate::table::{ct_state as S, rewrite_for, Conntrack, CtArgs, CtResult, Refused, Rewrite};

/// What a successful commit reports: mark, label, original-direction rewrite, NAT kind.
type Committed = (u32, u128, Rewrite, NatKind);
use crate::tuple::{is_icmp, proto, PacketMeta, Tuple};
use std::sync::atomic::Ordering::Relaxed;

/// Why an insertion did not happen.
enum InsertErr {
    /// The reply tuple is in use: try another port.
    Taken,
    /// Another thread committed this very connection first.
    Exists,
}

/// NAT tries this many leased ports before giving up on a connection.
const NAT_ATTEMPTS: usize = 16;

impl Conntrack {
    fn reserve(&self, zone: u16) -> Result<(), Refused> {
        let n = self.count.fetch_add(1, Relaxed);
        if n >= self.cfg.max_connections {
            self.count.fetch_sub(1, Relaxed);
            return Err(Refused::TableFull);
        }
        let z = usize::from(zone);
        let lim = match self.zone_limit[z].load(Relaxed) {
            0 => self.cfg.default_zone_limit,
            l => l,
        };
        let zc = self.zone_count[z].fetch_add(1, Relaxed);
        if lim != 0 && zc >= lim {
            self.zone_count[z].fetch_sub(1, Relaxed);
            self.count.fetch_sub(1, Relaxed);
            return Err(Refused::ZoneFull);
        }
        Ok(())
    }

    fn unreserve(&self, zone: u16) {
        self.count.fetch_sub(1, Relaxed);
        self.zone_count[usize::from(zone)].fetch_sub(1, Relaxed);
    }

    fn refuse(&self, h: u64, zone: u16, why: Refused) -> CtResult {
        let mut g = self.shards[self.shard_of(h)].lock();
        match why {
            Refused::TableFull => g.stats.refused_full += 1,
            Refused::ZoneFull => g.stats.refused_zone += 1,
            Refused::NatExhausted => g.stats.nat_exhausted += 1,
            Refused::Collision => g.stats.collisions += 1,
        }
        CtResult {
            refused: Some(why),
            ..CtResult::bits(zone, S::TRK | S::NEW)
        }
    }

    fn new_conn(&self, t: Tuple, proto_state: ProtoState, args: &CtArgs, now: u64) -> Conn {
        let mut c = Conn::new(t, proto_state);
        if let Some((v, m)) = args.mark {
            c.mark = v & m;
        }
        if let Some((v, m)) = args.label {
            c.set_label(v & m);
        }
        c.refresh(&self.cfg.timeouts, now);
        c
    }

    /// Commit a connection without NAT into shard `g`, whose lock the caller took for
    /// the lookup that missed. `None` when limits say no: the caller then takes the
    /// slow path, which may reclaim expired entries (it must not hold a lock for that).
    pub(crate) fn commit_plain_locked(
        &self,
        g: &mut Shard,
        t: Tuple,
        h: u64,
        proto_state: ProtoState,
        args: &CtArgs,
        now: u64,
    ) -> Option<CtResult> {
        self.reserve(args.zone).ok()?;
        if g.taken(&t.reverse(), h) {
            self.unreserve(args.zone);
            g.stats.collisions += 1;
            return Some(CtResult {
                refused: Some(Refused::Collision),
                ..CtResult::bits(args.zone, S::TRK | S::NEW)
            });
        }
        let c = self.new_conn(t, proto_state, args, now);
        let (mark, label) = (c.mark, c.label());
        g.insert(c);
        g.stats.committed += 1;
        Some(CtResult {
            state: S::TRK | S::NEW,
            zone: args.zone,
            mark,
            label,
            ..Default::default()
        })
    }

    pub(crate) fn commit_new(
        &self,
        t: Tuple,
        h: u64,
        pkt: &PacketMeta,
        args: &CtArgs,
        now: u64,
    ) -> CtResult {
        let zone = args.zone;
        let Some(proto_state) = ProtoState::new(pkt, &self.cfg) else {
            return CtResult::bits(zone, S::TRK | S::INV);
        };
        if let Err(why) = self.reserve(zone) {
            // Dead entries may be holding the room: reclaim a little and retry once.
            self.expire(now, 256);
            if self.reserve(zone).is_err() {
                return self.refuse(h, zone, why);
            }
        }
        let c = self.new_conn(t, proto_state, args, now);
        let done = match args.nat {
            Some(Nat::Src(r)) => self.insert_nat(c, h, NatKind::Src, &r),
            Some(Nat::Dst(r)) => self.insert_nat(c, h, NatKind::Dst, &r),
            _ => self.insert(c, h).map_err(|e| match e {
                InsertErr::Taken => Err(Refused::Collision),
                InsertErr::Exists => Ok(()),
            }),
        };
        match done {
            Ok((mark, label, rewrite, kind)) => {
                let mut r = CtResult {
                    state: S::TRK | S::NEW,
                    zone,
                    mark,
                    label,
                    ..Default::default()
                };
                if args.nat.is_some() && kind != NatKind::None {
                    r.state |= if kind == NatKind::Src {
                        S::SNAT
                    } else {
                        S::DNAT
                    };
                    r.nat = Some(rewrite);
                }
                r
            }
            Err(Ok(())) => {
                // Lost a race with a commit of the same connection: run as a hit once.
                // (No retry loop: a reference left by a removal under way elsewhere
                // would otherwise keep us spinning.)
                self.unreserve(zone);
                let hit_args = CtArgs {
                    nat: args.nat.map(|_| Nat::Existing),
                    ..*args
                };
                if let Some(mut f) = self.find(&t, h) {
                    let mut r = CtResult::default();
                    if self.hit(&mut f, pkt, &hit_args, now, &mut r) {
                        return r;
                    }
                }
                self.refuse(h, zone, Refused::Collision)
            }
            Err(Err(why)) => {
                self.unreserve(zone);
                self.refuse(h, zone, why)
            }
        }
    }

    /// Choose the translated reply tuple and insert. On success returns mark, label,
    /// the rewrite for the original direction and the NAT kind.
    fn insert_nat(
        &self,
        mut c: Conn,
        h: u64,
        kind: NatKind,
        range: &NatRange,
    ) -> Result<Committed, Result<(), Refused>> {
        let t = c.orig();
        let ported = matches!(t.proto, proto::TCP | proto::UDP | proto::SCTP);
        // An ICMP echo identifier takes a port's place on the source side only.
        let id_nat = is_icmp(t.proto) && kind == NatKind::Src;
        let addr = range.pick_addr(h);
        c.set_nat(kind);
        let kept_port = if kind == NatKind::Src {
            t.sport
        } else {
            t.dport
        };
        c.nat_addr = addr;
        let fixed = !ported || range.keeps_port() || range.port_min == range.port_max;
        if fixed {
            let port = (ported && !range.keeps_port()).then_some(range.port_min);
            c.nat_port = port.unwrap_or(kept_port);
            match self.insert_parts(c, h) {
                Ok(v) => return Ok(v),
                Err((InsertErr::Exists, _)) => return Err(Ok(())),
                Err((InsertErr::Taken, back)) => {
                    // SNAT may move the source port (or echo identifier) elsewhere.
                    let movable = (ported && range.keeps_port()) || id_nat;
                    if !(movable && kind == NatKind::Src) {
                        return Err(Err(Refused::NatExhausted));
                    }
                    c = back;
                }
            }
        }
        let (min, max) = if range.keeps_port() || !ported {
            EPHEMERAL_PORTS
        } else {
            (range.port_min, range.port_max)
        };
        for _ in 0..NAT_ATTEMPTS {
            let Some(lease) = self.pools.lease(t.zone, t.proto, addr, min, max) else {
                break;
            };
            c.set_lease(lease);
            match self.insert_parts(c, h) {
                Ok(v) => return Ok(v),
                Err((InsertErr::Exists, _)) => return Err(Ok(())),
                Err((InsertErr::Taken, back)) => c = back,
            }
        }
        Err(Err(Refused::NatExhausted))
    }

    /// Insert a NAT connection (any reply tuple); hands the entry back when refused.
    #[allow(clippy::result_large_err)]
    fn insert_parts(&self, mut c: Conn, h: u64) -> Result<Committed, (InsertErr, Conn)> {
        let info = |c: &Conn| (c.mark, c.label(), rewrite_for(c, 0), c.nat());
        let reply = c.reply();
        let orig = c.orig();
        if reply == orig.reverse() {
            // The translation changed nothing: one index entry serves both ways.
            let v = info(&c);
            self.insert_keep(c, h)?;
            return Ok(v);
        }
        let hr = reply.norm_hash(self.cfg.hash_seed);
        let (si, sr) = (self.shard_of(h), self.shard_of(hr));
        // The reply tuple's bucket is a fresh miss: start it before taking the locks.
        self.shards[sr].prefetch_bucket(hr);
        if si == sr {
            let mut g = self.shards[si].lock();
            if g.taken(&orig, h) {
                return Err((InsertErr::Exists, c));
            }
            if g.taken(&reply, hr) {
                return Err((InsertErr::Taken, c));
            }
            c.set_reply_local(true);
            let v = info(&c);
            g.insert(c);
            g.stats.committed += 1;
            return Ok(v);
        }
        // Two shards: lock in increasing order.
        let (first, second) = if si < sr { (si, sr) } else { (sr, si) };
        let mut g1 = self.shards[first].lock();
        let mut g2 = self.shards[second].lock();
        let (gi, gr) = if si < sr {
            (&mut *g1, &mut *g2)
        } else {
            (&mut *g2, &mut *g1)
        };
        // So is the remote reference it will write.
        gr.prefetch_free_stub();
        if gi.taken(&orig, h) {
            return Err((InsertErr::Exists, c));
        }
        if gr.taken(&reply, hr) {
            return Err((InsertErr::Taken, c));
        }
        c.remote = sr as u16;
        let v = info(&c);
        let slot = gi.insert(c);
        gi.stats.committed += 1;
        gr.insert_remote(
            reply,
            RemoteRef {
                shard: si as u16,
                slot,
            },
        );
        Ok(v)
    }

    /// Insert an entry whose reply tuple is the reverse of its original one.
    fn insert(&self, c: Conn, h: u64) -> Result<Committed, InsertErr> {
        let v = (c.mark, c.label(), rewrite_for(&c, 0), c.nat());
        self.insert_keep(c, h).map(|()| v).map_err(|(e, _)| e)
    }

    // The entry comes back on failure for another try; boxing it would allocate.
    #[allow(clippy::result_large_err)]
    fn insert_keep(&self, c: Conn, h: u64) -> Result<(), (InsertErr, Conn)> {
        let mut g = self.shards[self.shard_of(h)].lock();
        let orig = c.orig();
        if g.taken(&orig, h) {
            return Err((InsertErr::Exists, c));
        }
        if g.taken(&orig.reverse(), h) {
            return Err((InsertErr::Taken, c));
        }
        g.insert(c);
        g.stats.committed += 1;
        Ok(())
    }
}
