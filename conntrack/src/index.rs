//! The per-shard hash index: open addressing with linear probing over 8-byte entries.
//!
//! An entry is the high 32 bits of the key's hash (its *tag*) and a 32-bit value (see
//! [`crate::shard`]: a slot or remote-reference number and two flag bits). The home bucket is taken from the tag, so an entry
//! can be moved without knowing its key: deletion shifts entries back (no tombstones)
//! and growth never looks at the keys. A probe reads consecutive entries, eight to a
//! cache line, and compares tags before looking at the slab, so a hit costs one index
//! cache line and one entry.
//! Load stays at most 3/4.

const EMPTY: u64 = u64::MAX;

pub(crate) struct Index {
    tab: Box<[u64]>,
    mask: usize,
    len: usize,
}

#[inline]
fn tag(h: u64) -> u64 {
    h >> 32
}

impl Index {
    pub fn new() -> Index {
        Index {
            tab: Box::new([]),
            mask: 0,
            len: 0,
        }
    }

    #[inline]
    fn home(&self, tag: u64) -> usize {
        tag as usize & self.mask
    }

    /// The value whose tag matches `h` and for which `eq` holds.
    #[inline]
    pub fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.tab.is_empty() {
            return None;
        }
        let t = tag(h);
        let mut i = self.home(t);
        loop {
            let e = self.tab[i];
            if e == EMPTY {
                return None;
            }
            if e >> 32 == t && eq(e as u32) {
                return Some(e as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The first value whose tag matches `h`, keys unchecked (for prefetching).
    #[inline]
    pub fn first_tag_match(&self, h: u64) -> Option<u32> {
        if self.tab.is_empty() {
            return None;
        }
        let t = tag(h);
        let mut i = self.home(t);
        loop {
            let e = self.tab[i];
            if e == EMPTY {
                return None;
            }
            if e >> 32 == t {
                return Some(e as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The table's address and mask: where the home bucket of a hash is, for a
    /// prefetch by a thread that does not hold the lock (see [`bucket_addr`]).
    pub fn raw(&self) -> (usize, usize) {
        (self.tab.as_ptr() as usize, self.mask)
    }

    /// Add `v` under hash `h`.
    pub fn insert(&mut self, h: u64, v: u32) {
        if (self.len + 1) * 4 > self.tab.len() * 3 {
            self.grow();
        }
        self.place(tag(h) << 32 | u64::from(v));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mut i = self.home(e >> 32);
        while self.tab[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.tab[i] = e;
    }

    fn grow(&mut self) {
        let cap = (self.tab.len() * 2).max(16);
        let old = std::mem::replace(&mut self.tab, vec![EMPTY; cap].into_boxed_slice());
        self.mask = cap - 1;
        for e in old.iter().copied().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Remove the entry holding `v` under hash `h`. Returns whether it was there.
    pub fn remove(&mut self, h: u64, v: u32) -> bool {
        if self.tab.is_empty() {
            return false;
        }
        let want = tag(h) << 32 | u64::from(v);
        let mut i = self.home(tag(h));
        loop {
            let e = self.tab[i];
            if e == EMPTY {
                return false;
            }
            if e == want {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: pull later entries of the run into the hole unless that would
        // put them before their home bucket.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let e = self.tab[j];
            if e == EMPTY {
                break;
            }
            let k = self.home(e >> 32);
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.tab[i] = e;
                i = j;
            }
        }
        self.tab[i] = EMPTY;
        self.len -= 1;
        true
    }

    pub fn bytes(&self) -> usize {
        self.tab.len() * std::mem::size_of::<u64>()
    }
}

/// The address of the home bucket of hash `h` in a table whose [`Index::raw`] was
/// `(base, mask)`. Only for prefetching: the table may be gone by now.
#[inline]
pub(crate) fn bucket_addr(base: usize, mask: usize, h: u64) -> usize {
    base.wrapping_add((tag(h) as usize & mask) * std::mem::size_of::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: u32) -> u64 {
        // Many collisions in the home bits to exercise long runs and wrap-around.
        (u64::from(v % 7) << 32) | u64::from(v)
    }

    #[test]
    fn insert_find_remove_with_collisions() {
        let mut ix = Index::new();
        for v in 0..200 {
            ix.insert(h(v), v);
        }
        for v in 0..200 {
            assert_eq!(ix.find(h(v), |x| x == v), Some(v));
        }
        for v in (0..200).step_by(3) {
            assert!(ix.remove(h(v), v));
            assert!(!ix.remove(h(v), v));
        }
        for v in 0..200 {
            let want = (v % 3 != 0).then_some(v);
            assert_eq!(ix.find(h(v), |x| x == v), want, "{v}");
        }
        assert_eq!(ix.len, 200 - 67);
    }

    #[test]
    fn wraps_around_the_end() {
        let mut ix = Index::new();
        let top = |v: u32| (u64::from(u32::MAX) << 32) | u64::from(v);
        for v in 0..10 {
            ix.insert(top(v), v);
        }
        assert!(ix.remove(top(0), 0));
        for v in 1..10 {
            assert_eq!(ix.find(top(v), |x| x == v), Some(v));
        }
    }
}
