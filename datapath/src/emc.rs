//! The exact-match cache (EMC): the first cache tier, one per worker, no locks.
//!
//! Keyed on the whole microflow as [`crate::extract::extract_key`] produced it, held as a
//! [`FlowKey`] (the flow plus the map of its possibly non-zero words). The flow is hashed
//! once per packet ([`FlowKey::hash`]: the extractor sums the words' terms as it writes
//! them; equal to [`flow_hash`] of the full flow); the cache is a fixed array of `2^k`
//! slots probed at two positions (`hash` and `hash >> 16`), like OVS's EMC. A slot holds the 32-bit hash (a cheap signature
//! checked first), the pipeline epoch it was filled under, and a small `Copy` handle,
//! normally a [`crate::megaflow::MegaflowId`] naming the megaflow entry whose actions to
//! run; the keys live in a side array. A hit needs the whole flow equal. The arrays are
//! huge-page backed where the kernel allows ([`crate::huge`]).
//!
//! A hit requires the slot's epoch to equal the caller's current epoch, so publishing a
//! new pipeline (new epoch) invalidates the whole EMC at no cost. The megaflow entry a
//! handle names may since have been evicted; the caller checks with
//! [`crate::megaflow::MegaflowCache::get`] (generation + epoch) and treats failure as a
//! miss.
//!
//! Insertion is probabilistic ([`Emc::maybe_insert`], 1 in `insert_inv_prob`, default 100
//! as OVS's `emc-insert-inv-prob`) so that a flood of short flows does not thrash the
//! cache; the victim is a slot holding the same key, else a stale or empty slot, else the
//! way with the lower stored hash (pseudo-random, as OVS).
//!
//! No allocation after [`Emc::new`]; lookups and insertions never panic.

use pipeline::flow::Flow;

use crate::huge::HugeSlice;
use crate::key::{flow_acc, FlowKey};

/// Default number of slots (as OVS: 8192).
pub const DEFAULT_ENTRIES: usize = 8192;
/// Default insertion inverse probability (as OVS: 1 in 100).
pub const DEFAULT_INSERT_INV_PROB: u32 = 100;

/// An epoch no slot is ever valid for (marks empty slots).
const EMPTY_EPOCH: u64 = u64::MAX;

// Random odd constants (from a SplitMix64 stream) keying the hash.
const K: [u64; 22] = [
    0x9e37_79b9_7f4a_7c15,
    0xbf58_476d_1ce4_e5b9,
    0x94d0_49bb_1331_11eb,
    0xd6e8_feb8_6659_fd93,
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
    0x1d8e_4e27_c47d_124f,
    0x2d35_8dcc_aa6c_78a5,
    0x8bb8_4b93_962e_acc9,
    0x4b33_a62e_d433_d4a3,
    0x4d5a_2da5_1de1_aa47,
    0xa076_1d64_78bd_6431,
    0x7f4a_7c15_9e37_79b9,
    0x1ce4_e5b9_bf58_476d,
    0x1331_11eb_94d0_49bb,
    0x6659_fd93_d6e8_feb8,
    0x78bd_642f_a076_1d64,
    0xa0b4_28db_e703_7ed1,
    0x9c88_c6e3_8ebc_6af0,
    0x7537_4cc3_5899_65cc,
];

/// 64x64 -> 128 multiply, high half XOR low half (the wyhash/folded-multiply mix).
#[inline(always)]
pub(crate) fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The odd hash multiplier of flow word `i`: a word `w` contributes `w * word_mul(i)`
/// (wrapping) to a summed accumulator (the EMC key hash; the megaflow subtables
/// precompute theirs).
pub(crate) const fn word_mul(i: usize) -> u64 {
    (K[i % K.len()].rotate_left((i as u32 * 7) % 64) ^ K[(i + 7) % K.len()]) | 1
}

/// Final avalanche of a summed accumulator to 32 bits.
#[inline(always)]
pub(crate) fn finish(acc: u64) -> u32 {
    let h = fold_mul(acc ^ K[3], K[5]);
    (h ^ (h >> 32)) as u32
}

/// Word-by-word equality written to vectorize (no early exit, no `memcmp` call).
#[inline(always)]
pub(crate) fn flow_eq(a: &Flow, b: &Flow) -> bool {
    let mut d = 0u64;
    for i in 0..pipeline::flow::FLOW_WORDS {
        d |= a.w[i] ^ b.w[i];
    }
    d == 0
}

/// The EMC hash of a whole flow: `finish` of the sum over all 32 words of `w * kb[i]`
/// (an odd per-word multiplier, so every bit of every word counts and a zero word adds
/// nothing). Equal to [`FlowKey::hash`] of any key holding this flow; the fast path
/// computes it over the populated words only.
#[inline]
pub fn flow_hash(flow: &Flow) -> u32 {
    finish(flow_acc(flow))
}

#[derive(Clone, Copy)]
struct Slot<H> {
    hash: u32,
    epoch: u64,
    handle: H,
}

/// Hit/miss/insert counts of one EMC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmcStats {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    pub insert_skipped: u64,
}

/// The exact-match cache. `H` is the handle stored per entry.
pub struct Emc<H: Copy> {
    slots: HugeSlice<Slot<H>>,
    keys: HugeSlice<Flow>,
    mask: usize,
    rng: u64,
    insert_inv_prob: u32,
    stats: EmcStats,
}

impl<H: Copy + Default> Emc<H> {
    /// A cache of `entries` slots (rounded up to a power of two, at least 2, at most
    /// 2^16) inserting with probability `1 / insert_inv_prob` (0 disables insertion, 1
    /// always inserts).
    pub fn new(entries: usize, insert_inv_prob: u32) -> Emc<H> {
        let n = entries.clamp(2, 1 << 16).next_power_of_two();
        Emc {
            slots: HugeSlice::new(
                n,
                Slot {
                    hash: 0,
                    epoch: EMPTY_EPOCH,
                    handle: H::default(),
                },
            ),
            keys: HugeSlice::new(n, Flow::default()),
            mask: n - 1,
            rng: 0x853c_49e6_748f_ea9b,
            insert_inv_prob,
            stats: EmcStats::default(),
        }
    }
}

impl<H: Copy> Emc<H> {
    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    pub fn stats(&self) -> EmcStats {
        self.stats
    }

    /// Changes the insertion inverse probability.
    pub fn set_insert_inv_prob(&mut self, p: u32) {
        self.insert_inv_prob = p;
    }

    #[inline(always)]
    fn ways(&self, hash: u32) -> [usize; 2] {
        [hash as usize & self.mask, (hash >> 16) as usize & self.mask]
    }

    /// Hints the CPU to fetch both candidate slots and keys for `hash` (call for packet
    /// `k + n` of a burst while handling packet `k`, or for a whole burst before the
    /// lookups).
    #[inline(always)]
    pub fn prefetch(&self, hash: u32) {
        for i in self.ways(hash) {
            crate::megaflow::prefetch(&self.slots[i]);
            crate::megaflow::prefetch(&self.keys[i]);
        }
    }

    /// The handle stored for exactly `key`'s flow under `epoch`, if any. `hash` must be
    /// `key.hash()`. The whole flows are compared (32 words, vectorized, no early exit;
    /// both are zero outside their maps, so this is also the comparison of the words of
    /// the two maps).
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey, hash: u32, epoch: u64) -> Option<H> {
        for i in self.ways(hash) {
            let s = &self.slots[i];
            if s.hash == hash && s.epoch == epoch && flow_eq(&self.keys[i], &key.flow) {
                self.stats.hits += 1;
                return Some(s.handle);
            }
        }
        self.stats.misses += 1;
        None
    }

    /// Inserts with probability `1 / insert_inv_prob` (see [`Emc::new`]). Returns whether
    /// it inserted.
    #[inline]
    pub fn maybe_insert(&mut self, key: &FlowKey, hash: u32, epoch: u64, handle: H) -> bool {
        let p = self.insert_inv_prob;
        if p == 0 {
            self.stats.insert_skipped += 1;
            return false;
        }
        if p > 1 {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if !self.rng.is_multiple_of(p as u64) {
                self.stats.insert_skipped += 1;
                return false;
            }
        }
        self.insert(key, hash, epoch, handle);
        true
    }

    /// Inserts unconditionally.
    pub fn insert(&mut self, key: &FlowKey, hash: u32, epoch: u64, handle: H) {
        let [a, b] = self.ways(hash);
        let same = |i: usize| self.slots[i].hash == hash && flow_eq(&self.keys[i], &key.flow);
        let victim = if same(a) {
            a
        } else if same(b) {
            b
        } else if self.slots[a].epoch != epoch {
            a
        } else if self.slots[b].epoch != epoch {
            b
        } else if self.slots[a].hash <= self.slots[b].hash {
            a
        } else {
            b
        };
        self.slots[victim] = Slot {
            hash,
            epoch,
            handle,
        };
        self.keys[victim] = key.flow;
        self.stats.inserts += 1;
    }

    /// Empties every slot.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.epoch = EMPTY_EPOCH;
        }
    }

    /// Slots valid under `epoch` (walks the whole table; for stats and tests).
    pub fn count(&self, epoch: u64) -> usize {
        self.slots.iter().filter(|s| s.epoch == epoch).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::flow::field;

    fn flow(n: u64) -> FlowKey {
        let mut f = FlowKey::default();
        f.set(field::IP4_SRC, 0x0a00_0000 | n);
        f.set(field::TP_DST, 80);
        f
    }

    fn flow_hash(k: &FlowKey) -> u32 {
        let h = k.hash();
        assert_eq!(h, super::flow_hash(k.flow()));
        h
    }

    #[test]
    fn hit_miss_and_epoch() {
        let mut e: Emc<u32> = Emc::new(64, 1);
        let f = flow(1);
        let h = flow_hash(&f);
        assert_eq!(e.lookup(&f, h, 5), None);
        e.insert(&f, h, 5, 42);
        assert_eq!(e.lookup(&f, h, 5), Some(42));
        assert_eq!(e.lookup(&f, h, 6), None, "another epoch never hits");
        let g = flow(2);
        assert_eq!(e.lookup(&g, flow_hash(&g), 5), None);
        // Same hash, different key: a forged hash must not hit.
        assert_eq!(e.lookup(&g, h, 5), None);
        // Re-inserting the same key updates in place.
        e.insert(&f, h, 5, 43);
        assert_eq!(e.lookup(&f, h, 5), Some(43));
        assert_eq!(e.count(5), 1);
        e.clear();
        assert_eq!(e.lookup(&f, h, 5), None);
        assert_eq!(e.stats().hits, 2);
    }

    #[test]
    fn keys_compare_over_both_maps() {
        let mut e: Emc<u32> = Emc::new(64, 1);
        let f = flow(1);
        e.insert(&f, flow_hash(&f), 1, 7);
        // The same flow under a wider map hits.
        let mut wide = f;
        wide.set(field::PKT_MARK, 0);
        assert_ne!(wide.map(), f.map());
        assert_eq!(e.lookup(&wide, flow_hash(&wide), 1), Some(7));
        // A flow equal to the key on the lookup's own map but not on the stored one
        // (tp_dst, which only the stored map has) must miss, even with the stored hash.
        let mut narrow = FlowKey::default();
        narrow.set(field::IP4_SRC, 0x0a00_0001);
        assert_eq!(e.lookup(&narrow, flow_hash(&f), 1), None);
    }

    #[test]
    fn word_multipliers_are_distinct_and_odd() {
        let m: Vec<u64> = (0..pipeline::flow::FLOW_WORDS).map(word_mul).collect();
        for (i, a) in m.iter().enumerate() {
            assert_eq!(a & 1, 1);
            assert!(m[i + 1..].iter().all(|b| b != a), "word {i}");
        }
    }

    #[test]
    fn hash_uses_every_word() {
        let base = Flow::default();
        let h0 = super::flow_hash(&base);
        for i in 0..pipeline::flow::FLOW_WORDS {
            for bit in [0, 17, 63] {
                let mut f = base;
                f.w[i] ^= 1 << bit;
                assert_ne!(super::flow_hash(&f), h0, "word {i} bit {bit}");
                assert_ne!(FlowKey::from_flow(&f).hash(), h0);
            }
        }
    }

    #[test]
    fn hash_spreads_sequential_flows() {
        // 4096 flows differing in one address into 8192 two-way slots. An ideal random
        // hash keeps ~3790 (simulated); a hash that clusters sequential keys keeps far
        // fewer.
        let mut e: Emc<u32> = Emc::new(8192, 1);
        for n in 0..4096u64 {
            let f = flow(n);
            e.insert(&f, flow_hash(&f), 1, n as u32);
        }
        let kept = (0..4096u64).filter(|&n| {
            let f = flow(n);
            e.lookup(&f, flow_hash(&f), 1) == Some(n as u32)
        });
        let kept = kept.count();
        assert!(kept > 3650, "{kept}");
    }

    #[test]
    fn probabilistic_insert() {
        let mut e: Emc<u32> = Emc::new(8192, 100);
        let mut inserted = 0;
        for n in 0..10_000u64 {
            let f = flow(n);
            if e.maybe_insert(&f, flow_hash(&f), 1, 0) {
                inserted += 1;
            }
        }
        assert!((50..200).contains(&inserted), "about 1 in 100: {inserted}");
        let mut never: Emc<u32> = Emc::new(16, 0);
        assert!(!never.maybe_insert(&flow(1), 0, 1, 0));
        assert_eq!(never.count(1), 0);
    }

    #[test]
    fn victim_prefers_stale_slots() {
        // Two slots only: both ways of every hash cover the whole table.
        let mut e: Emc<u32> = Emc::new(2, 1);
        let two_way = |f: &FlowKey| {
            let h = flow_hash(f);
            h & 1 != (h >> 16) & 1
        };
        let mut fl = (0..1000).map(flow).filter(two_way);
        let (a, b, c) = (fl.next().unwrap(), fl.next().unwrap(), fl.next().unwrap());
        e.insert(&a, flow_hash(&a), 1, 1);
        e.insert(&b, flow_hash(&b), 2, 2);
        // Under epoch 2, `a`'s slot is stale: `c` must replace it, not `b`.
        e.insert(&c, flow_hash(&c), 2, 3);
        assert_eq!(e.lookup(&b, flow_hash(&b), 2), Some(2));
        assert_eq!(e.lookup(&c, flow_hash(&c), 2), Some(3));
    }
}
