//! Hashing and the two open-addressing tables a subtable uses, stored as regions of one
//! slot array per classifier.
//!
//! - [`add`]/[`finish`]: an FxHash-style multiply-rotate step per masked word, then a
//!   murmur3 `fmix64` finaliser so that every input bit reaches the low bits used for
//!   indexing. The running state (before [`finish`]) is carried from stage to stage, so the
//!   staged indices and the main table share one incremental computation.
//! - Key tables ([`table_insert`]/[`table_find`]): hash → key index, linear probing, load
//!   factor at most 1/2. Each slot keeps the high 32 bits of the hash as a tag, so a probe
//!   touches the key only when the tag matches.
//! - Hash sets ([`set_insert`]/[`set_contains`]): sets of 64-bit hashes (staged-lookup
//!   indices). A false positive (two partial keys with one hash) only makes the lookup
//!   continue to the next stage, which is conservative: it unwildcards more bits, never
//!   fewer than needed.
//!
//! A region is `slots[at..at + mask + 1]` with a power-of-two size; both kinds are built
//! once and never grow after [`super::ClassifierBuilder::build`].
//!
//! [`FastHash`] is the `BuildHasher` of the builder's own maps (and the compiler's): the
//! same multiply-rotate step, much cheaper than SipHash on word arrays, and fine for
//! inputs that are not chosen by an adversary to collide (flow texts come from northd).

use std::hash::{BuildHasherDefault, Hasher};

/// Initial hash state.
pub(super) const BASIS: u64 = 0;

const K: u64 = 0x517c_c1b7_2722_0a95;

/// Folds one masked word into the running state.
#[inline(always)]
pub(super) fn add(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// Finalises a running state into a well-mixed hash.
#[inline(always)]
pub(super) fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Smallest power of two that is at least `2 * n` (and at least 2), so a probe always
/// reaches an empty slot.
pub(super) fn capacity_for(n: usize) -> usize {
    n.saturating_mul(2).max(2).next_power_of_two()
}

const TAG: u64 = 0xffff_ffff_0000_0000;

/// Adds key `index` (< `u32::MAX`) under `hash` to the key table `region` (a slice of
/// `capacity_for(n)` zeroed slots). The caller inserts each key once.
pub(super) fn table_insert(region: &mut [u64], hash: u64, index: u32) {
    let mask = region.len() - 1;
    let slot = (hash & TAG) | (u64::from(index) + 1);
    let mut i = hash as usize & mask;
    while region[i] != 0 {
        i = (i + 1) & mask;
    }
    region[i] = slot;
}

/// The first key index under `hash` in the key table at `slots[at..=at + mask]` for which
/// `eq` holds.
#[inline(always)]
pub(super) fn table_find(
    slots: &[u64],
    at: usize,
    mask: usize,
    hash: u64,
    mut eq: impl FnMut(usize) -> bool,
) -> Option<usize> {
    let tag = hash & TAG;
    let mut i = hash as usize & mask;
    loop {
        let s = *slots.get(at + i)?;
        if s == 0 {
            return None;
        }
        if s & TAG == tag {
            let index = (s & 0xffff_ffff) as usize - 1;
            if eq(index) {
                return Some(index);
            }
        }
        i = (i + 1) & mask;
    }
}

/// Adds `h` to the hash set `region` (duplicates are stored once). 0 marks an empty slot,
/// so a hash of 0 is stored as 1.
pub(super) fn set_insert(region: &mut [u64], h: u64) {
    let mask = region.len() - 1;
    let v = h.max(1);
    let mut i = v as usize & mask;
    loop {
        let s = region[i];
        if s == v {
            return;
        }
        if s == 0 {
            region[i] = v;
            return;
        }
        i = (i + 1) & mask;
    }
}

/// Whether the hash set at `slots[at..=at + mask]` holds `h`.
#[inline(always)]
pub(super) fn set_contains(slots: &[u64], at: usize, mask: usize, h: u64) -> bool {
    let v = h.max(1);
    let mut i = v as usize & mask;
    loop {
        let Some(&s) = slots.get(at + i) else {
            // Unreachable for a built region; "present" is the conservative answer.
            return true;
        };
        if s == v {
            return true;
        }
        if s == 0 {
            return false;
        }
        i = (i + 1) & mask;
    }
}

/// A fast non-cryptographic hasher (see the module note).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        finish(self.0)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = add(self.0, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.0 = add(self.0, u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = add(self.0, u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.0 = add(self.0, u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = add(self.0, u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = add(self.0, i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.0 = add(add(self.0, i as u64), (i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0 = add(self.0, i as u64);
    }
}

/// `BuildHasher` for [`FastHasher`].
pub type FastHash = BuildHasherDefault<FastHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_finds_each_index_and_misses_absent_keys() {
        let mut t = vec![0u64; capacity_for(100)];
        let hashes: Vec<u64> = (0..100u64).map(|k| finish(add(BASIS, k))).collect();
        for (i, &h) in hashes.iter().enumerate() {
            table_insert(&mut t, h, i as u32);
        }
        let mask = t.len() - 1;
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(table_find(&t, 0, mask, h, |j| j == i), Some(i));
        }
        assert_eq!(
            table_find(&t, 0, mask, finish(add(BASIS, 1000)), |_| true),
            None
        );
    }

    #[test]
    fn hash_set_handles_zero_and_duplicates() {
        let mut s = vec![0u64; capacity_for(4)];
        for h in [0, 5, 5, 1 << 40] {
            set_insert(&mut s, h);
        }
        let mask = s.len() - 1;
        assert!(set_contains(&s, 0, mask, 0));
        assert!(set_contains(&s, 0, mask, 5));
        assert!(set_contains(&s, 0, mask, 1 << 40));
        assert!(!set_contains(&s, 0, mask, 6));
    }

    #[test]
    fn regions_at_an_offset() {
        let mut slots = vec![7u64; 3];
        let at = slots.len();
        slots.resize(at + capacity_for(2), 0);
        table_insert(&mut slots[at..], 42, 0);
        let mask = capacity_for(2) - 1;
        assert_eq!(table_find(&slots, at, mask, 42, |_| true), Some(0));
        assert_eq!(table_find(&slots, at, mask, 43, |_| true), None);
    }

    #[test]
    fn finish_spreads_high_bits_into_low_bits() {
        // Two keys that differ only in their top bit must not share low index bits
        // systematically; check a few such pairs land in different 1024-slot buckets.
        let differing = (0..16u64)
            .filter(|&k| {
                let a = finish(add(BASIS, k));
                let b = finish(add(BASIS, k | 1 << 63));
                a & 1023 != b & 1023
            })
            .count();
        assert!(differing >= 14, "{differing}");
    }

    #[test]
    fn fast_hasher_distinguishes_lengths() {
        use std::hash::BuildHasher;
        let b = FastHash::default();
        assert_ne!(b.hash_one("ab"), b.hash_one("ab\0"));
        assert_ne!(b.hash_one(1u64), b.hash_one(2u64));
    }
}
