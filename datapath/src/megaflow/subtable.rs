//! One megaflow subtable: the entries sharing one mask, their hash table, and the
//! precomputed list of the mask's non-zero words.
//!
//! The table is an array of 64-byte groups (one cache line each) of 7 lanes: the 32-bit
//! subtable hash and the slot index of each entry. An entry lives in its home group
//! (`hash & (groups - 1)`) or, when that is full, in the next group with a free lane;
//! each group counts the entries that passed it that way (`overflow`, as F14 does). A
//! lookup compares all 7 hashes of the home group at once (no per-lane branch) and moves
//! on only if the group's `overflow` is non-zero, so a miss costs one cache line and no
//! unpredictable branch. Removal just frees the lane and decrements the overflow counts
//! along the way, so no tombstones and no shifting. The table doubles when it holds more
//! than 3 entries per group on average (~43% of the lanes; about 1.5% of the groups are
//! then full).
//!
//! The hash of a flow for this subtable sums `(w[i] & m[i]) * k[i]` over the mask's
//! non-zero words only (odd `k[i]`, so each word's contribution is a bijection of its
//! masked value), then folds the sum to 32 bits.

use pipeline::flow::{Flow, Mask, FLOW_WORDS};

use crate::emc::{fold_mul, word_mul};

/// Word `i` of `flow`; `i` comes from a subtable's word list, always below
/// [`FLOW_WORDS`].
#[inline(always)]
fn word(flow: &Flow, i: u8) -> u64 {
    debug_assert!((i as usize) < FLOW_WORDS);
    // SAFETY: every index stored in `Subtable::wi` is a word index of a `Mask`
    // (`0..FLOW_WORDS`, see `Subtable::new`), or 0 in unused places.
    unsafe { *flow.w.get_unchecked(i as usize) }
}

/// Lanes (entries) per group.
const LANES: usize = 7;
/// [`Group::lanes_with`] bits of the real lanes (two per lane).
const LANE_BITS: u32 = (1 << (2 * LANES)) - 1;
/// Slot index of a free lane.
pub(super) const EMPTY: u32 = u32::MAX;
/// The table grows past this many entries per group on average.
const MAX_PER_GROUP: usize = 3;

/// One cache line of the table.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Group {
    /// Hash of the entry in each lane; lane 7 does not exist and stays 0.
    hash: [u32; 8],
    /// Slot index of the entry in each lane, [`EMPTY`] if the lane is free.
    idx: [u32; LANES],
    /// Entries stored after this group whose home group is this one or an earlier one
    /// on their probe path: a lookup continues past this group only if non-zero.
    overflow: u32,
}

const EMPTY_GROUP: Group = Group {
    hash: [0; 8],
    idx: [EMPTY; LANES],
    overflow: 0,
};

impl Group {
    /// Bitmap of the lanes whose hash is `h` (free lanes have hash 0 and may match; the
    /// caller skips [`EMPTY`] indices): two vector compares, no branch.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn lanes_with(&self, h: u32) -> u32 {
        use std::arch::x86_64::*;
        // SAFETY: `hash` is the first 32 bytes of a 64-byte-aligned group, so both
        // 16-byte aligned loads are in bounds and aligned; SSE2 is part of the x86_64
        // baseline.
        let m = unsafe {
            let p = self.hash.as_ptr().cast::<__m128i>();
            let k = _mm_set1_epi32(h as i32);
            let a = _mm_cmpeq_epi32(_mm_load_si128(p), k);
            let b = _mm_cmpeq_epi32(_mm_load_si128(p.add(1)), k);
            _mm_movemask_epi8(_mm_packs_epi32(a, b)) as u32
        };
        m & LANE_BITS
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn lanes_with(&self, h: u32) -> u32 {
        let mut m = 0u32;
        for (l, &x) in self.hash.iter().enumerate() {
            m |= ((x == h) as u32 * 3) << (2 * l);
        }
        m & LANE_BITS
    }
}

/// Where an entry sits in its subtable: group and lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    group: u32,
    lane: u32,
}

/// One masked word: word index, mask, and the hash multiplier of that word.
#[derive(Clone, Copy, Default)]
struct WordSpec {
    m: u64,
    k: u64,
    i: usize,
}

/// Mask words handled without a loop (most masks have at most this many).
const INLINE: usize = 4;

/// 128 bytes, the fields a lookup reads in the first 104.
#[repr(C, align(64))]
pub(super) struct Subtable {
    /// The first [`INLINE`] non-zero words of the mask: mask, multiplier and index (mask
    /// and multiplier 0 in unused places, which then add nothing). Fixed-size so the hot
    /// loop has no inner loop.
    wm: [u64; INLINE],
    wk: [u64; INLINE],
    /// A power of two of groups.
    groups: Box<[Group]>,
    /// The mask's non-zero words after the first [`INLINE`].
    extra: Box<[WordSpec]>,
    wi: [u8; INLINE],
    /// Number of non-zero words of the mask.
    nwords: u32,
    pub(super) count: usize,
    pub(super) hits: u64,
    /// The mask (boxed: only the slow path reads it, and the hot fields above stay in
    /// two cache lines).
    pub(super) mask: Box<Mask>,
}

impl Subtable {
    pub(super) fn new(mask: &Mask) -> Subtable {
        let words: Vec<WordSpec> = mask
            .w
            .iter()
            .enumerate()
            .filter(|(_, &w)| w != 0)
            .map(|(i, &m)| WordSpec {
                i,
                m,
                k: word_mul(i),
            })
            .collect();
        let (mut wi, mut wm, mut wk) = ([0; INLINE], [0; INLINE], [0; INLINE]);
        for (j, ws) in words.iter().take(INLINE).enumerate() {
            wi[j] = ws.i as u8;
            wm[j] = ws.m;
            wk[j] = ws.k;
        }
        Subtable {
            wi,
            wm,
            wk,
            extra: words.iter().skip(INLINE).copied().collect(),
            nwords: words.len() as u32,
            groups: vec![EMPTY_GROUP].into_boxed_slice(),
            count: 0,
            hits: 0,
            mask: Box::new(*mask),
        }
    }

    /// Hash of `flow & mask`.
    #[inline(always)]
    pub(super) fn hash(&self, flow: &Flow) -> u32 {
        let mut acc = 0u64;
        for j in 0..INLINE {
            let w = word(flow, self.wi[j]) & self.wm[j];
            acc = acc.wrapping_add(w.wrapping_mul(self.wk[j]));
        }
        for ws in self.extra.iter() {
            let w = flow.w[ws.i & (FLOW_WORDS - 1)] & ws.m;
            acc = acc.wrapping_add(w.wrapping_mul(ws.k));
        }
        // The products carry information upwards only: a 64x64->128 multiply folded
        // (high half XOR low half) brings every bit down.
        fold_mul(acc, 0x94d0_49bb_1331_11eb) as u32
    }

    /// [`Self::hash`] knowing that the mask has exactly `N` (1..=[`INLINE`]) words: no
    /// unused places, no extra words.
    #[inline(always)]
    fn hash_n<const N: usize>(&self, flow: &Flow) -> u32 {
        let mut acc = 0u64;
        for j in 0..N.min(INLINE) {
            let w = word(flow, self.wi[j]) & self.wm[j];
            acc = acc.wrapping_add(w.wrapping_mul(self.wk[j]));
        }
        fold_mul(acc, 0x94d0_49bb_1331_11eb) as u32
    }

    /// [`Self::hash`] through the variant for this mask's word count (equal results).
    #[inline(always)]
    pub(super) fn hash_fast(&self, flow: &Flow) -> u32 {
        // Unused places add 0, so up to 3 words take the 3-word form.
        if self.nwords <= 3 {
            self.hash_n::<3>(flow)
        } else if self.nwords as usize <= INLINE {
            self.hash_n::<4>(flow)
        } else {
            self.hash(flow)
        }
    }

    /// Hashes every flow of `todo` (a bitmap over `flows`) into `hashes`; returns the
    /// bitmap of those whose home group may hold them ([`Self::may_hold`]). The word
    /// count is resolved once, outside the loop over flows.
    pub(super) fn scan_batch(&self, flows: &[Flow], todo: u64, hashes: &mut [u32]) -> u64 {
        match self.nwords {
            0 | 1 => self.scan_batch_with(flows, todo, hashes, Self::hash_n::<1>),
            2 => self.scan_batch_with(flows, todo, hashes, Self::hash_n::<2>),
            3 => self.scan_batch_with(flows, todo, hashes, Self::hash_n::<3>),
            4 => self.scan_batch_with(flows, todo, hashes, Self::hash_n::<4>),
            _ => self.scan_batch_with(flows, todo, hashes, Self::hash),
        }
    }

    #[inline(always)]
    fn scan_batch_with(
        &self,
        flows: &[Flow],
        todo: u64,
        hashes: &mut [u32],
        hash: impl Fn(&Self, &Flow) -> u32,
    ) -> u64 {
        let mut cand = 0u64;
        let mut bits = todo;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (Some(f), Some(slot)) = (flows.get(k), hashes.get_mut(k)) else {
                continue;
            };
            let h = hash(self, f);
            *slot = h;
            cand |= (self.may_hold(h) as u64) << k;
        }
        cand
    }

    /// [`Self::matches`] knowing the mask has exactly `N` (1..=[`INLINE`]) words.
    #[inline(always)]
    fn matches_n<const N: usize>(&self, flow: &Flow, key: &Flow) -> bool {
        let mut d = 0u64;
        for j in 0..N.min(INLINE) {
            d |= (word(flow, self.wi[j]) ^ word(key, self.wi[j])) & self.wm[j];
        }
        d == 0
    }

    /// [`Self::matches`] through the variant for this mask's word count.
    #[inline(always)]
    pub(super) fn matches_fast(&self, flow: &Flow, key: &Flow) -> bool {
        if self.nwords <= 3 {
            self.matches_n::<3>(flow, key)
        } else if self.nwords as usize <= INLINE {
            self.matches_n::<4>(flow, key)
        } else {
            self.matches(flow, key)
        }
    }

    /// `flow & mask == key` on the mask's words (`key` is masked, zero elsewhere).
    #[inline(always)]
    pub(super) fn matches(&self, flow: &Flow, key: &Flow) -> bool {
        let mut d = 0u64;
        for j in 0..INLINE {
            d |= (word(flow, self.wi[j]) ^ word(key, self.wi[j])) & self.wm[j];
        }
        for ws in self.extra.iter() {
            let i = ws.i & (FLOW_WORDS - 1);
            d |= (flow.w[i] ^ key.w[i]) & ws.m;
        }
        d == 0
    }

    /// False if no entry can have hash `h` (its home group has no such lane and no
    /// overflow): the fast miss.
    #[inline(always)]
    pub(super) fn may_hold(&self, h: u32) -> bool {
        let g = h as usize & (self.groups.len() - 1);
        debug_assert!(self.groups.len().is_power_of_two());
        // SAFETY: `groups` always holds a power of two (at least 1) of groups (`new`,
        // `add`), so `h & (len - 1)` is in bounds.
        let grp = unsafe { self.groups.get_unchecked(g) };
        (grp.lanes_with(h) != 0) | (grp.overflow != 0)
    }

    /// The entry with hash `h` for which `is_it(slot index)` holds: its position and
    /// slot index.
    #[inline(always)]
    pub(super) fn find(&self, h: u32, mut is_it: impl FnMut(u32) -> bool) -> Option<(Pos, u32)> {
        let gm = self.groups.len() - 1;
        let mut g = h as usize & gm;
        // Bounded by the number of groups even if every overflow count were non-zero.
        for _ in 0..self.groups.len() {
            let grp = &self.groups[g];
            let mut m = grp.lanes_with(h);
            while m != 0 {
                let l = m.trailing_zeros() as usize / 2;
                m &= !(3 << (2 * l));
                if let Some(&idx) = grp.idx.get(l) {
                    if idx != EMPTY && is_it(idx) {
                        return Some((
                            Pos {
                                group: g as u32,
                                lane: l as u32,
                            },
                            idx,
                        ));
                    }
                }
            }
            if grp.overflow == 0 {
                return None;
            }
            g = (g + 1) & gm;
        }
        None
    }

    /// Adds the entry `(h, idx)`, growing the table first if needed (slow path).
    pub(super) fn add(&mut self, h: u32, idx: u32) {
        if (self.count + 1) > self.groups.len() * MAX_PER_GROUP {
            let bigger = vec![EMPTY_GROUP; self.groups.len() * 2].into_boxed_slice();
            let old = std::mem::replace(&mut self.groups, bigger);
            for grp in &old {
                for (l, &i) in grp.idx.iter().enumerate() {
                    if i != EMPTY {
                        self.place(grp.hash[l], i);
                    }
                }
            }
        }
        self.place(h, idx);
        self.count += 1;
    }

    /// Puts `(h, idx)` in the first free lane from its home group on. The table is never
    /// full (at most 3 of 7 lanes per group on average), so this ends.
    fn place(&mut self, h: u32, idx: u32) {
        let gm = self.groups.len() - 1;
        let mut g = h as usize & gm;
        loop {
            let grp = &mut self.groups[g];
            if let Some(l) = grp.idx.iter().position(|&i| i == EMPTY) {
                grp.hash[l] = h;
                grp.idx[l] = idx;
                return;
            }
            grp.overflow += 1;
            g = (g + 1) & gm;
        }
    }

    /// Removes the entry at `pos`, whose hash is `h`.
    pub(super) fn remove(&mut self, pos: Pos, h: u32) {
        let gm = self.groups.len() - 1;
        let target = pos.group as usize & gm;
        let mut g = h as usize & gm;
        while g != target {
            let o = &mut self.groups[g].overflow;
            *o = o.saturating_sub(1);
            g = (g + 1) & gm;
        }
        let grp = &mut self.groups[target];
        if let Some(i) = grp.idx.get_mut(pos.lane as usize) {
            *i = EMPTY;
            grp.hash[pos.lane as usize] = 0;
        }
        self.count = self.count.saturating_sub(1);
    }

    /// Number of groups (tests).
    #[cfg(test)]
    pub(super) fn groups(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_overflow_and_remove() {
        let mut st = Subtable::new(&Mask::default());
        // 40 entries with the same hash: they fill their home group and spill over.
        for i in 0..40u32 {
            st.add(0x1234_5670, i);
        }
        assert_eq!(st.count, 40);
        for i in 0..40u32 {
            assert!(st.find(0x1234_5670, |x| x == i).is_some(), "entry {i}");
        }
        // Remove every other one; the rest stay reachable, the removed ones are gone.
        for i in (0..40u32).step_by(2) {
            let (pos, _) = st.find(0x1234_5670, |x| x == i).unwrap();
            st.remove(pos, 0x1234_5670);
        }
        for i in 0..40u32 {
            assert_eq!(st.find(0x1234_5670, |x| x == i).is_some(), i % 2 == 1);
        }
        // Removing the rest leaves no overflow behind: a miss stops at the home group.
        for i in (1..40u32).step_by(2) {
            let (pos, _) = st.find(0x1234_5670, |x| x == i).unwrap();
            st.remove(pos, 0x1234_5670);
        }
        assert!(st
            .groups
            .iter()
            .all(|g| g.overflow == 0 && g.idx == [EMPTY; LANES]));
    }

    #[test]
    fn layout() {
        assert_eq!(std::mem::size_of::<Subtable>(), 128);
        assert_eq!(std::mem::size_of::<Group>(), 64);
    }

    #[test]
    fn grows_and_keeps_entries() {
        let mut st = Subtable::new(&Mask::default());
        for i in 0..1000u32 {
            st.add(i.wrapping_mul(0x9e37_79b9), i);
        }
        assert!(st.groups() * MAX_PER_GROUP >= 1000);
        for i in 0..1000u32 {
            let h = i.wrapping_mul(0x9e37_79b9);
            assert_eq!(st.find(h, |x| x == i).map(|(_, x)| x), Some(i));
        }
        // Hash 0 matches free lanes too; they are skipped.
        assert!(st.find(0, |_| true).is_some_and(|(_, x)| x == 0));
        assert!(st.find(7, |_| true).is_none());
    }
}
