//! Hashing and the two open-addressing tables a subtable uses.
//!
//! - [`add`]/[`finish`]: an FxHash-style multiply-rotate step per masked word, then a
//!   murmur3 `fmix64` finaliser so that every input bit reaches the low bits used for
//!   indexing. The running state (before [`finish`]) is carried from stage to stage, so the
//!   staged indices and the main table share one incremental computation.
//! - [`Table`]: hash → bucket index, linear probing, load factor at most 1/2. Each slot keeps
//!   the high 32 bits of the hash as a tag, so a probe touches the bucket's key only when the
//!   tag matches.
//! - [`HashSet`]: a set of 64-bit hashes (a staged-lookup index). A false positive (two
//!   partial keys with one hash) only makes the lookup continue to the next stage, which is
//!   conservative: it unwildcards more bits, never fewer than needed.
//!
//! Both tables are built once and never grow after [`super::ClassifierBuilder::build`].

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
fn capacity_for(n: usize) -> usize {
    n.saturating_mul(2).max(2).next_power_of_two()
}

/// Hash → bucket index. A slot is `tag << 32 | (index + 1)`; 0 means empty.
pub(super) struct Table {
    slots: Box<[u64]>,
    mask: usize,
}

impl Table {
    pub(super) fn with_capacity(n: usize) -> Table {
        let cap = capacity_for(n);
        Table {
            slots: vec![0; cap].into_boxed_slice(),
            mask: cap - 1,
        }
    }

    /// Adds bucket `index` (< `u32::MAX`) under `hash`. The caller inserts each key once.
    pub(super) fn insert(&mut self, hash: u64, index: u32) {
        let slot = (hash & 0xffff_ffff_0000_0000) | (u64::from(index) + 1);
        let mut i = hash as usize & self.mask;
        while self.slots[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = slot;
    }

    /// The first bucket under `hash` for which `eq` holds.
    #[inline(always)]
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
        let tag = hash & 0xffff_ffff_0000_0000;
        let mut i = hash as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & 0xffff_ffff_0000_0000 == tag {
                let index = (s & 0xffff_ffff) as usize - 1;
                if eq(index) {
                    return Some(index);
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// A set of hashes. 0 marks an empty slot, so a hash of 0 is stored as 1.
pub(super) struct HashSet {
    slots: Box<[u64]>,
    mask: usize,
}

impl HashSet {
    /// Builds the set of `hashes` (duplicates are stored once).
    pub(super) fn from_hashes(hashes: &[u64]) -> HashSet {
        let cap = capacity_for(hashes.len());
        let mut set = HashSet {
            slots: vec![0; cap].into_boxed_slice(),
            mask: cap - 1,
        };
        for &h in hashes {
            let v = h.max(1);
            let mut i = v as usize & set.mask;
            loop {
                let s = set.slots[i];
                if s == v {
                    break;
                }
                if s == 0 {
                    set.slots[i] = v;
                    break;
                }
                i = (i + 1) & set.mask;
            }
        }
        set
    }

    #[inline(always)]
    pub(super) fn contains(&self, h: u64) -> bool {
        let v = h.max(1);
        let mut i = v as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == v {
                return true;
            }
            if s == 0 {
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_finds_each_index_and_misses_absent_keys() {
        let mut t = Table::with_capacity(100);
        let hashes: Vec<u64> = (0..100u64).map(|k| finish(add(BASIS, k))).collect();
        for (i, &h) in hashes.iter().enumerate() {
            t.insert(h, i as u32);
        }
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(t.find(h, |j| j == i), Some(i));
        }
        assert_eq!(t.find(finish(add(BASIS, 1000)), |_| true), None);
    }

    #[test]
    fn hash_set_handles_zero_and_duplicates() {
        let s = HashSet::from_hashes(&[0, 5, 5, 1 << 40]);
        assert!(s.contains(0));
        assert!(s.contains(5));
        assert!(s.contains(1 << 40));
        assert!(!s.contains(6));
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
}
