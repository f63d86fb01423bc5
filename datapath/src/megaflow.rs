//! The megaflow cache: the second cache tier, a tuple-space search over wildcarded
//! entries, one per worker, no locks.
//!
//! An entry is `(flow & mask, mask, action, epoch, hits, last_used)`, built by the slow
//! path: `mask` holds every flow bit the pipeline read while deciding, so every packet
//! that agrees with the key on those bits gets the same actions. Entries are grouped in
//! one open-addressing hash table per distinct mask (a *subtable*). A lookup visits the
//! subtables in order, hashes only the words the subtable's mask covers, probes, and
//! compares only those words; the first match wins.
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

use pipeline::flow::{Flow, Mask};

use subtable::{Bucket, Subtable, EMPTY, EMPTY_BUCKET, MIN_BUCKETS};

mod subtable;

/// A handle on a megaflow entry: slot index plus generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MegaflowId {
    idx: u32,
    gen: u32,
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

/// Buckets per entry, at least: a subtable grows past 1/2 load (1/4 measured no faster).
const MAX_LOAD_INV: usize = 2;

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
    gen: u32,
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
    subtables: Vec<Subtable>,
    order: Vec<u32>,
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
            order: Vec::new(),
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
        self.order.len()
    }

    pub fn stats(&self) -> MegaflowStats {
        self.stats
    }

    /// Subtable masks in lookup order.
    pub fn subtable_masks(&self) -> impl Iterator<Item = &Mask> + '_ {
        self.order.iter().map(|&s| &self.subtables[s as usize].mask)
    }

    /// Finds `flow` in subtable `si`: (bucket position, slot index).
    #[inline(always)]
    fn probe(&self, si: usize, flow: &Flow) -> Option<(usize, usize)> {
        self.probe_hashed(si, flow, self.subtables[si].hash(flow))
    }

    /// [`Self::probe`] with the subtable hash of `flow` already computed.
    #[inline(always)]
    fn probe_hashed(&self, si: usize, flow: &Flow, h: u32) -> Option<(usize, usize)> {
        let st = &self.subtables[si];
        let m = st.buckets.len() - 1;
        let mut p = h as usize & m;
        loop {
            let b = st.buckets[p];
            if b.idx == EMPTY {
                return None;
            }
            if b.hash == h {
                if let Some(e) = &self.slots[b.idx as usize].entry {
                    if st.matches(flow, &e.key) {
                        return Some((p, b.idx as usize));
                    }
                }
            }
            p = (p + 1) & m;
        }
    }

    /// The entry matching `flow` built under `epoch`, marking it used at `now`. Entries
    /// of other epochs met on the way are removed.
    #[inline]
    pub fn lookup(&mut self, flow: &Flow, epoch: u64, now: u64) -> Option<(MegaflowId, &A)> {
        let mut oi = 0;
        let mut found = None;
        while oi < self.order.len() {
            let si = self.order[oi] as usize;
            if let Some((pos, ei)) = self.probe(si, flow) {
                let fresh = matches!(&self.slots[ei].entry, Some(e) if e.epoch == epoch);
                if fresh {
                    self.subtables[si].hits += 1;
                    found = Some(ei);
                    break;
                }
                self.remove_at(si, pos, ei);
                self.stats.stale_removed += 1;
            }
            oi += 1;
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
        Some((
            MegaflowId {
                idx: ei as u32,
                gen,
            },
            &e.action,
        ))
    }

    /// Looks up a batch of up to [`MAX_BATCH`] flows, subtable by subtable as OVS's
    /// dpcls does: for each subtable, first hash every still-unmatched flow and prefetch
    /// its bucket, then probe, so the memory latency of one flow's probe overlaps the
    /// others'. `out[k]` receives the hit for `flows[k]` (or `None`); fetch actions with
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
        let mut oi = 0;
        while oi < self.order.len() && todo != 0 {
            let si = self.order[oi] as usize;
            let st = &self.subtables[si];
            let m = st.buckets.len() - 1;
            let mut bits = todo;
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let h = st.hash(&flows[k]);
                hashes[k] = h;
                prefetch(&st.buckets[h as usize & m]);
            }
            let mut bits = todo;
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
                        out[k] = Some(MegaflowId {
                            idx: ei as u32,
                            gen: slot.gen,
                        });
                        todo &= !(1u64 << k);
                        self.subtables[si].hits += 1;
                    }
                    _ => {
                        self.remove_at(si, pos, ei);
                        self.stats.stale_removed += 1;
                    }
                }
            }
            oi += 1;
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

    /// Removes the entry at bucket `pos` of subtable `si`, slot `ei` (backward-shift
    /// deletion keeps the linear-probe table tombstone-free). No allocation.
    fn remove_at(&mut self, si: usize, pos: usize, ei: usize) -> Option<A> {
        let st = &mut self.subtables[si];
        let m = st.buckets.len() - 1;
        let mut i = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & m;
            let b = st.buckets[j];
            if b.idx == EMPTY {
                break;
            }
            let k = b.hash as usize & m;
            if (i.wrapping_sub(k) & m) < (j.wrapping_sub(k) & m) {
                st.buckets[i] = b;
                i = j;
            }
        }
        st.buckets[i] = EMPTY_BUCKET;
        st.count -= 1;
        let slot = &mut self.slots[ei];
        slot.gen = slot.gen.wrapping_add(1);
        let e = slot.entry.take();
        self.free.push(ei as u32);
        self.len -= 1;
        e.map(|e| e.action)
    }

    /// Bucket position of slot `ei` in its subtable.
    fn bucket_of(&self, ei: usize) -> Option<(usize, usize)> {
        let e = self.slots.get(ei)?.entry.as_ref()?;
        let si = e.subtable as usize;
        let st = &self.subtables[si];
        let m = st.buckets.len() - 1;
        let mut p = e.hash as usize & m;
        loop {
            let b = st.buckets[p];
            if b.idx == EMPTY {
                return None;
            }
            if b.idx as usize == ei {
                return Some((si, p));
            }
            p = (p + 1) & m;
        }
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

    fn add_subtable(&mut self, mask: &Mask) -> u32 {
        let st = Subtable::new(mask);
        let si = match self.subtables.iter().position(|s| !s.live) {
            Some(i) => {
                self.subtables[i] = st;
                i as u32
            }
            None => {
                self.subtables.push(st);
                (self.subtables.len() - 1) as u32
            }
        };
        self.order.push(si);
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
                return MegaflowId {
                    idx: ei as u32,
                    gen: slot.gen,
                };
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
                    gen: 0,
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
        let id = MegaflowId {
            idx: ei as u32,
            gen: slot.gen,
        };
        self.len += 1;
        let st = &mut self.subtables[si];
        if (st.count + 1) * MAX_LOAD_INV > st.buckets.len() {
            let mut nb = vec![EMPTY_BUCKET; st.buckets.len() * 2];
            let m = nb.len() - 1;
            for b in st.buckets.iter().filter(|b| b.idx != EMPTY) {
                let mut p = b.hash as usize & m;
                while nb[p].idx != EMPTY {
                    p = (p + 1) & m;
                }
                nb[p] = *b;
            }
            st.buckets = nb;
        }
        let m = st.buckets.len() - 1;
        let mut p = hash as usize & m;
        while st.buckets[p].idx != EMPTY {
            p = (p + 1) & m;
        }
        st.buckets[p] = Bucket {
            hash,
            idx: ei as u32,
        };
        st.count += 1;
        id
    }

    /// Evicts one entry: among up to 16 live slots from the clock hand, the first with an
    /// epoch other than `epoch`, else the least recently used.
    fn evict_one(&mut self, epoch: u64) {
        let n = self.slots.len();
        if n == 0 || self.len == 0 {
            return;
        }
        let mut best: Option<(usize, u64)> = None;
        let mut seen = 0;
        let mut steps = 0;
        while seen < EVICT_SAMPLE && steps < n {
            let i = self.clock % n;
            self.clock = self.clock.wrapping_add(1);
            steps += 1;
            if let Some(e) = &self.slots[i].entry {
                seen += 1;
                if e.epoch != epoch {
                    best = Some((i, 0));
                    break;
                }
                if best.is_none_or(|(_, t)| e.last_used < t) {
                    best = Some((i, e.last_used));
                }
            }
        }
        if let Some((ei, _)) = best {
            if let Some((si, pos)) = self.bucket_of(ei) {
                self.remove_at(si, pos, ei);
                self.stats.evicted += 1;
            }
        }
    }

    /// Removes entries unused for more than `max_idle` (in the caller's time unit).
    /// Returns how many.
    pub fn expire(&mut self, now: u64, max_idle: u64) -> usize {
        let victims: Vec<usize> = (0..self.slots.len())
            .filter(|&i| matches!(&self.slots[i].entry, Some(e) if now.saturating_sub(e.last_used) > max_idle))
            .collect();
        for &ei in &victims {
            if let Some((si, pos)) = self.bucket_of(ei) {
                self.remove_at(si, pos, ei);
            }
        }
        self.stats.expired += victims.len() as u64;
        victims.len()
    }

    /// Re-checks every entry not built under `epoch`: `keep(key, mask, action)` returns
    /// true to keep it (re-stamped with `epoch`; it may update the action) or false to
    /// remove it. Returns (kept, removed).
    pub fn revalidate(
        &mut self,
        epoch: u64,
        mut keep: impl FnMut(&Flow, &Mask, &mut A) -> bool,
    ) -> (usize, usize) {
        let (mut kept, mut removed) = (0, 0);
        for ei in 0..self.slots.len() {
            let Some(e) = self.slots[ei].entry.as_mut() else {
                continue;
            };
            if e.epoch == epoch {
                continue;
            }
            let mask = &self.subtables[e.subtable as usize].mask;
            if keep(&e.key, mask, &mut e.action) {
                e.epoch = epoch;
                kept += 1;
            } else if let Some((si, pos)) = self.bucket_of(ei) {
                self.remove_at(si, pos, ei);
                removed += 1;
            }
        }
        self.stats.removed += removed as u64;
        (kept, removed)
    }

    /// Periodic upkeep (not per packet): frees empty subtables, re-sorts the rest by hits
    /// since the last call (most first), and halves the hit counts so old popularity
    /// fades.
    pub fn maintain(&mut self) {
        for &si in &self.order {
            let st = &mut self.subtables[si as usize];
            if st.count == 0 {
                st.live = false;
                st.buckets = vec![EMPTY_BUCKET; MIN_BUCKETS];
                self.by_mask.remove(&st.mask);
            }
        }
        let subtables = &self.subtables;
        self.order.retain(|&si| subtables[si as usize].live);
        self.order
            .sort_by_key(|&si| std::cmp::Reverse(subtables[si as usize].hits));
        for st in self.subtables.iter_mut() {
            st.hits /= 2;
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        for ei in 0..self.slots.len() {
            if let Some((si, pos)) = self.bucket_of(ei) {
                self.remove_at(si, pos, ei);
            }
        }
        self.maintain();
    }

    /// Every entry: (id, masked key, mask, action, info).
    pub fn iter(&self) -> impl Iterator<Item = (MegaflowId, &Flow, &Mask, &A, EntryInfo)> + '_ {
        self.slots.iter().enumerate().filter_map(move |(i, s)| {
            let e = s.entry.as_ref()?;
            let info = EntryInfo {
                epoch: e.epoch,
                hits: e.hits,
                last_used: e.last_used,
            };
            Some((
                MegaflowId {
                    idx: i as u32,
                    gen: s.gen,
                },
                &e.key,
                &self.subtables[e.subtable as usize].mask,
                &e.action,
                info,
            ))
        })
    }
}

#[cfg(test)]
mod tests;
