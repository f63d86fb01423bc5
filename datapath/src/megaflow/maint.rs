//! Megaflow cache upkeep, never per packet: eviction when full, idle expiry,
//! revalidation after a new epoch, subtable re-sorting, clearing and iteration.

use pipeline::flow::{Flow, Mask};

use super::{EntryInfo, MegaflowCache, MegaflowId, Subtable, EVICT_SAMPLE};

impl<A> MegaflowCache<A> {
    /// Evicts one entry: among up to 16 live slots from the clock hand, the first with an
    /// epoch other than `epoch`, else the least recently used.
    pub(super) fn evict_one(&mut self, epoch: u64) {
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
    ///
    /// The subtables are kept physically in lookup order (the hot loop walks them
    /// directly), so re-sorting renumbers them: entries and the mask index follow.
    pub fn maintain(&mut self) {
        let mut keep: Vec<(usize, Subtable)> = std::mem::take(&mut self.subtables)
            .into_iter()
            .enumerate()
            .filter(|(_, st)| st.count > 0)
            .collect();
        // Stable: equal hit counts keep their order.
        keep.sort_by_key(|(_, st)| std::cmp::Reverse(st.hits));
        let mut new_of = vec![u32::MAX; keep.iter().map(|(i, _)| i + 1).max().unwrap_or(0)];
        self.by_mask.clear();
        for (new, (old, st)) in keep.into_iter().enumerate() {
            new_of[old] = new as u32;
            self.by_mask.insert(*st.mask, new as u32);
            self.subtables.push(st);
        }
        for e in self.slots.iter_mut().filter_map(|s| s.entry.as_mut()) {
            if let Some(&n) = new_of.get(e.subtable as usize) {
                e.subtable = n;
            }
        }
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
                MegaflowId::new(i, s.gen),
                &e.key,
                &*self.subtables[e.subtable as usize].mask,
                &e.action,
                info,
            ))
        })
    }
}
