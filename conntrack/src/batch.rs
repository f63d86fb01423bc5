//! Bursts: the `ct` action for many packets at once, with the memory loads of a group
//! of packets started before any of them is processed.
//!
//! In a table much larger than the caches a lookup is two dependent misses (the index
//! bucket, then the entry), each a DRAM access and usually a TLB miss. One at a time
//! they cost several hundred nanoseconds; a group of [`GROUP`] packets overlaps them:
//!
//! 1. classify and hash each packet and prefetch its home index bucket, found through the
//!    index address each shard publishes when locked (no lock; a stale address costs
//!    only a useless prefetch);
//! 2. lock each packet's shard briefly, probe the (now cached) index and prefetch the
//!    entry the first matching tag points at, or the slot a commit would fill;
//! 3. run each packet exactly as [`Conntrack::execute`] does, in order.
//!
//! Results are those of calling `execute` on each packet in turn: the prefetches are
//! hints and change nothing. Phase 2 costs a second lock per packet, which a table that
//! fits in the caches does not win back, so it runs only once the table is large.

use crate::table::{classify, Conntrack, CtArgs, CtResult, Kind};
use crate::tuple::{PacketMeta, Tuple};

/// Packets whose loads are in flight together.
const GROUP: usize = 16;

/// Below this many connections the entries are likely cached: skip phase 2.
const PREFETCH_ENTRIES_FROM: usize = 1 << 16;

impl Conntrack {
    /// Run one `ct` action per packet: `out[i]` gets what `execute(&pkts[i], &args[i],
    /// now)` would return, and packets are processed in order, so the results are
    /// exactly those of the one-by-one calls. Handles the first `min(pkts.len(),
    /// args.len(), out.len())` packets.
    pub fn execute_batch(
        &self,
        pkts: &[PacketMeta],
        args: &[CtArgs],
        now: u64,
        out: &mut [CtResult],
    ) {
        let n = pkts.len().min(args.len()).min(out.len());
        let entries = self.len() >= PREFETCH_ENTRIES_FROM;
        let mut base = 0;
        while base < n {
            let end = (base + GROUP).min(n);
            let mut keys: [Option<(Tuple, u64)>; GROUP] = [None; GROUP];
            for (i, k) in (base..end).zip(keys.iter_mut()) {
                if let Kind::Conn(t) = classify(&pkts[i], args[i].zone) {
                    let h = t.norm_hash(self.cfg.hash_seed);
                    self.shards[self.shard_of(h)].prefetch_bucket(h);
                    *k = Some((t, h));
                }
            }
            for (i, k) in (base..end).zip(keys.iter()) {
                let Some((_, h)) = *k else { continue };
                if !entries {
                    break;
                }
                let sh = &self.shards[self.shard_of(h)];
                let g = sh.lock();
                g.prefetch_for(h, args[i].commit);
                sh.publish_hint(&g);
            }
            for (i, k) in (base..end).zip(keys.iter()) {
                match k {
                    Some((t, h)) => self.execute_conn(&pkts[i], t, *h, &args[i], now, &mut out[i]),
                    None => self.execute_into(&pkts[i], &args[i], now, &mut out[i]),
                }
            }
            base = end;
        }
    }
}
