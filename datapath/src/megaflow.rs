//! The megaflow cache: the second cache tier, a tuple-space search over wildcarded
//! entries, one per worker, no locks.
//!
//! An entry is `(flow & mask, mask, action, epoch, hits, last_used)`, built by the slow
//! path: `mask` holds every flow bit the pipeline read while deciding, so every packet
//! that agrees with the key on those bits gets the same actions. Entries are grouped in
//! one hash table per distinct mask (a *subtable*, see `subtable.rs`: 64-byte groups of 7
//! hashes, probed with one vector compare). A lookup visits the subtables in order; per
//! subtable it hashes only the words the mask covers (up to 4 of them without a loop)
//! and checks one group, and only when a lane's hash matches does it read the entry and
//! compare those words; the first match wins. [`MegaflowCache::lookup_batch`] does the
//! same subtable by subtable over a burst, so the flows' work overlaps.
//!
//! Priority-free by construction: within one epoch, an entry is correct for *every*
//! packet it matches (the pipeline is deterministic and read no bit outside the mask), so
//! when two entries overlap they give the same answer for the packets in the overlap and
//! the visiting order only affects speed. Inserting a key already present under the same
//! mask replaces that entry. Entries from different epochs can disagree, hence:
//!
//! Epochs: each entry records the pipeline epoch it was built under. A lookup never
//! returns an entry from another epoch: it removes such an entry on sight (lazy death, as
//! OPTE) and keeps searching. [`MegaflowCache::revalidate`] re-checks old entries in bulk
//! and re-stamps the ones still valid.
//!
//! Subtable order: by hit count, re-sorted by [`MegaflowCache::maintain`] (call it
//! periodically, e.g. once a second, never per packet), which also frees empty subtables.
//! The subtables are stored in that order (the lookup walks the array); re-sorting
//! renumbers them and updates the entries. Upkeep lives in `maint.rs`.
//!
//! Bounds: at most `max_entries` entries; inserting beyond that evicts one, chosen among
//! a sample of 16 by "stale epoch first, else least recently used" (a clock hand walks the
//! slots). [`MegaflowCache::expire`] removes idle entries. Time is a caller-supplied `u64`
//! (any monotonic unit), sans-IO.
//!
//! Lookups and [`MegaflowCache::get`] do not allocate; insertion may (slow path).
//! Handles are [`MegaflowId`]s with a generation, so a stale handle (e.g. in the EMC)
//! never names a reused slot.

use std::collections::HashMap;
use std::num::NonZeroU32;

use pipeline::flow::{Flow, Mask};

use subtable::{Pos, Subtable};

mod maint;
mod subtable;

/// A handle on a megaflow entry: slot index plus generation. Generations are never 0,
/// so `Option<MegaflowId>` is 8 bytes and comes back in a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MegaflowId {
    idx: u32,
    gen: NonZeroU32,
}

impl Default for MegaflowId {
    fn default() -> Self {
        MegaflowId {
            idx: 0,
            gen: NonZeroU32::MIN,
        }
    }
}

impl MegaflowId {
    fn new(idx: usize, gen: NonZeroU32) -> MegaflowId {
        MegaflowId {
            idx: idx as u32,
            gen,
        }
    }
}

/// Most flows [`MegaflowCache::lookup_batch`] takes at once.
pub const MAX_BATCH: usize = 64;

/// Prefetch hint for the cache line holding `p`.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint with no memory effects; `p` is a valid reference
        // and SSE is part of the x86_64 baseline.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Default bound on entries (as OVS's per-PMD flow table is bounded).
pub const DEFAULT_MAX_ENTRIES: usize = 65_536;
const EVICT_SAMPLE: usize = 16;
struct Entry<A> {
    key: Flow,
    hash: u32,
    subtable: u32,
    epoch: u64,
    hits: u64,
    last_used: u64,
    action: A,
}

struct Slot<A> {
    gen: NonZeroU32,
    entry: Option<Entry<A>>,
}

/// Counters of one megaflow cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MegaflowStats {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    /// Inserts that replaced an entry with the same key and mask.
    pub replaced: u64,
    /// Removed to stay within `max_entries`.
    pub evicted: u64,
    /// Removed by a lookup because their epoch was not the current one.
    pub stale_removed: u64,
    /// Removed by [`MegaflowCache::expire`].
    pub expired: u64,
    /// Removed by [`MegaflowCache::revalidate`] or [`MegaflowCache::remove`].
    pub removed: u64,
}

/// Per-entry information returned by [`MegaflowCache::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub epoch: u64,
    pub hits: u64,
    pub last_used: u64,
}

/// The megaflow cache, generic over the cached action `A` (the datapath stores its
/// compiled datapath actions).
pub struct MegaflowCache<A> {
    slots: Vec<Slot<A>>,
    /// Free slot indices; capacity kept >= `slots.len()` so pushes never allocate.
    free: Vec<u32>,
    /// In lookup order (most hit first after [`Self::maintain`]).
    subtables: Vec<Subtable>,
    by_mask: HashMap<Mask, u32>,
    max_entries: usize,
    len: usize,
    clock: usize,
    stats: MegaflowStats,
}

impl<A> MegaflowCache<A> {
    /// An empty cache holding at most `max_entries` (at least 1) entries.
    pub fn new(max_entries: usize) -> MegaflowCache<A> {
        MegaflowCache {
            slots: Vec::new(),
            free: Vec::new(),
            subtables: Vec::new(),
            by_mask: HashMap::new(),
            max_entries: max_entries.max(1),
            len: 0,
            clock: 0,
            stats: MegaflowStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Number of subtables visited by a lookup (live ones, empty ones until `maintain`).
    pub fn subtable_count(&self) -> usize {
        self.subtables.len()
    }

    pub fn stats(&self) -> MegaflowStats {
        self.stats
    }

    /// Subtable masks in lookup order.
    pub fn subtable_masks(&self) -> impl Iterator<Item = &Mask> + '_ {
        self.subtables.iter().map(|s| &*s.mask)
    }

    /// Finds `flow` in subtable `si`: (position, slot index).
    #[inline(always)]
    fn probe(&self, si: usize, flow: &Flow) -> Option<(Pos, usize)> {
        self.probe_hashed(si, flow, self.subtables[si].hash(flow))
    }

    /// [`Self::probe`] with the subtable hash of `flow` already computed.
    #[inline(always)]
    fn probe_hashed(&self, si: usize, flow: &Flow, h: u32) -> Option<(Pos, usize)> {
        let st = &self.subtables[si];
        let slots = &self.slots;
        st.find(h, |i| {
            matches!(slots.get(i as usize), Some(Slot { entry: Some(e), .. }) if st.matches_fast(flow, &e.key))
        })
        .map(|(pos, i)| (pos, i as usize))
    }

    /// The first subtable, from position `from` of the lookup order on, whose home
    /// group for `flow` holds a lane with the same hash or overflows: (position, hash).
    /// The hot loop of a lookup: per subtable a hash over the mask's words and one
    /// cache line, no slot access, no unpredictable branch.
    #[inline(always)]
    fn scan(&self, flow: &Flow, from: usize) -> Option<(usize, u32)> {
        for (oi, st) in self.subtables.get(from..)?.iter().enumerate() {
            let h = st.hash_fast(flow);
            if st.may_hold(h) {
                return Some((from + oi, h));
            }
        }
        None
    }

    /// The entry matching `flow` built under `epoch`, marking it used at `now`. Entries
    /// of other epochs met on the way are removed.
    #[inline]
    pub fn lookup(&mut self, flow: &Flow, epoch: u64, now: u64) -> Option<(MegaflowId, &A)> {
        let mut from = 0;
        let mut found = None;
        while let Some((oi, h)) = self.scan(flow, from) {
            from = oi + 1;
            let si = oi;
            if let Some((pos, ei)) = self.probe_hashed(si, flow, h) {
                let fresh = matches!(&self.slots[ei].entry, Some(e) if e.epoch == epoch);
                if fresh {
                    self.subtables[si].hits += 1;
                    found = Some(ei);
                    break;
                }
                self.remove_at(si, pos, ei);
                self.stats.stale_removed += 1;
            }
        }
        let Some(ei) = found else {
            self.stats.misses += 1;
            return None;
        };
        self.stats.hits += 1;
        let slot = &mut self.slots[ei];
        let gen = slot.gen;
        let e = slot.entry.as_mut()?;
        e.hits += 1;
        e.last_used = now;
        Some((MegaflowId::new(ei, gen), &e.action))
    }

    /// Looks up a batch of up to [`MAX_BATCH`] flows, subtable by subtable as OVS's
    /// dpcls does: for each subtable, first hash every still-unmatched flow and check its
    /// home group (independent work the CPU overlaps across flows), then probe only the
    /// flows whose group may hold them. `out[k]` receives the hit for `flows[k]` (or `None`); fetch actions with
    /// [`Self::action`]. Returns the bitmap of hits. Same epoch rules as [`Self::lookup`].
    pub fn lookup_batch(
        &mut self,
        flows: &[Flow],
        epoch: u64,
        now: u64,
        out: &mut [Option<MegaflowId>],
    ) -> u64 {
        let n = flows.len().min(out.len()).min(MAX_BATCH);
        for o in out.iter_mut().take(n) {
            *o = None;
        }
        let all = if n == MAX_BATCH {
            u64::MAX
        } else {
            (1u64 << n) - 1
        };
        let mut todo = all;
        let mut hashes = [0u32; MAX_BATCH];
        let mut si = 0;
        while si < self.subtables.len() && todo != 0 {
            // Pass 1: hash and check the home group of every pending flow; no branch
            // but the loop's, so the flows' loads and multiplies overlap.
            let cand = self.subtables[si].scan_batch(&flows[..n], todo, &mut hashes);
            // Pass 2: the (few) flows whose home group may hold them.
            let mut bits = cand;
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let Some((pos, ei)) = self.probe_hashed(si, &flows[k], hashes[k]) else {
                    continue;
                };
                let slot = &mut self.slots[ei];
                match slot.entry.as_mut() {
                    Some(e) if e.epoch == epoch => {
                        e.hits += 1;
                        e.last_used = now;
                        out[k] = Some(MegaflowId::new(ei, slot.gen));
                        todo &= !(1u64 << k);
                        self.subtables[si].hits += 1;
                    }
                    _ => {
                        self.remove_at(si, pos, ei);
                        self.stats.stale_removed += 1;
                    }
                }
            }
            si += 1;
        }
        let hits = all & !todo;
        self.stats.hits += hits.count_ones() as u64;
        self.stats.misses += todo.count_ones() as u64;
        hits
    }

    /// The action of entry `id` if it still exists (no epoch check, no statistics: for
    /// reading the results of [`Self::lookup_batch`]).
    #[inline]
    pub fn action(&self, id: MegaflowId) -> Option<&A> {
        let slot = self.slots.get(id.idx as usize)?;
        if slot.gen != id.gen {
            return None;
        }
        slot.entry.as_ref().map(|e| &e.action)
    }

    /// The action of entry `id` if it still exists and was built under `epoch` (for EMC
    /// hits); counts the hit against the entry.
    #[inline]
    pub fn get(&mut self, id: MegaflowId, epoch: u64, now: u64) -> Option<&A> {
        let slot = self.slots.get_mut(id.idx as usize)?;
        if slot.gen != id.gen {
            return None;
        }
        let e = slot.entry.as_mut()?;
        if e.epoch != epoch {
            return None;
        }
        e.hits += 1;
        e.last_used = now;
        Some(&e.action)
    }

    /// Removes the entry at `pos` of subtable `si`, slot `ei`. No allocation.
    fn remove_at(&mut self, si: usize, pos: Pos, ei: usize) -> Option<A> {
        let slot = &mut self.slots[ei];
        let e = slot.entry.take();
        slot.gen = slot.gen.checked_add(1).unwrap_or(NonZeroU32::MIN);
        if let Some(e) = &e {
            self.subtables[si].remove(pos, e.hash);
        }
        self.free.push(ei as u32);
        self.len -= 1;
        e.map(|e| e.action)
    }

    /// Subtable and position of slot `ei`.
    fn bucket_of(&self, ei: usize) -> Option<(usize, Pos)> {
        let e = self.slots.get(ei)?.entry.as_ref()?;
        let si = e.subtable as usize;
        let (pos, _) = self.subtables[si].find(e.hash, |i| i as usize == ei)?;
        Some((si, pos))
    }

    /// Removes entry `id`, returning its action.
    pub fn remove(&mut self, id: MegaflowId) -> Option<A> {
        if self.slots.get(id.idx as usize)?.gen != id.gen {
            return None;
        }
        let (si, pos) = self.bucket_of(id.idx as usize)?;
        self.stats.removed += 1;
        self.remove_at(si, pos, id.idx as usize)
    }

    /// A new subtable for `mask`, visited last.
    fn add_subtable(&mut self, mask: &Mask) -> u32 {
        self.subtables.push(Subtable::new(mask));
        let si = (self.subtables.len() - 1) as u32;
        self.by_mask.insert(*mask, si);
        si
    }

    /// Inserts `(flow & mask, mask) -> action` built under `epoch` (slow path; may
    /// allocate). Replaces an entry with the same masked key and mask; evicts one entry
    /// first when the cache is full.
    pub fn insert(
        &mut self,
        flow: &Flow,
        mask: &Mask,
        action: A,
        epoch: u64,
        now: u64,
    ) -> MegaflowId {
        let key = flow.masked(mask);
        let si = match self.by_mask.get(mask) {
            Some(&s) => s,
            None => self.add_subtable(mask),
        } as usize;
        self.stats.inserts += 1;
        if let Some((_, ei)) = self.probe(si, &key) {
            let slot = &mut self.slots[ei];
            if let Some(e) = slot.entry.as_mut() {
                e.action = action;
                e.epoch = epoch;
                e.last_used = now;
                e.hits = 0;
                self.stats.replaced += 1;
                return MegaflowId::new(ei, slot.gen);
            }
        }
        if self.len >= self.max_entries {
            self.evict_one(epoch);
        }
        let hash = self.subtables[si].hash(&key);
        let ei = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(Slot {
                    gen: NonZeroU32::MIN,
                    entry: None,
                });
                let n = self.slots.len();
                if self.free.capacity() < n {
                    self.free.reserve(n.next_power_of_two() - self.free.len());
                }
                n - 1
            }
        };
        let slot = &mut self.slots[ei];
        slot.entry = Some(Entry {
            key,
            hash,
            subtable: si as u32,
            epoch,
            hits: 0,
            last_used: now,
            action,
        });
        let id = MegaflowId::new(ei, slot.gen);
        self.len += 1;
        self.subtables[si].add(hash, ei as u32);
        id
    }
}

#[cfg(test)]
mod tests;
