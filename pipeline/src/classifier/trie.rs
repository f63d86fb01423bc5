//! Prefix tries for IP address fields: rule out a subtable reading only as many leading
//! address bits as it takes to fall off the trie (after OVS's classifier tries).
//!
//! For each address field ([`TRIE_FIELDS`]: `ip4.src`, `ip4.dst`, `ip6.src`, `ip6.dst`) the
//! classifier keeps one path-compressed binary trie of every rule prefix on that field,
//! taken from the subtables whose mask on the field is a CIDR prefix. One walk per lookup
//! and field (done lazily, the first time a subtable needs it) yields
//! - `plens`: bit `L - 1` set iff some rule prefix of length `L` equals the packet's first
//!   `L` address bits, and
//! - `maskbits`: how many leading address bits the walk examined.
//!
//! A subtable with prefix length `L` whose bit is clear in `plens` cannot match. Whether a
//! length-`L` prefix equal to the packet's exists depends only on the first `L` bits, and
//! the walk itself only on the first `maskbits`; so unwildcarding the first
//! `min(L, maskbits)` bits is enough for the skip. A packet far from every rule address thus
//! depends on a few address bits instead of all 32 (or 128).
//!
//! Addresses are handled as `u128` with the field's first bit at bit 127 ("top-aligned").

use crate::flow::{word, Flow, Mask};

/// One address field a trie can cover.
#[derive(Clone, Copy, Debug)]
pub(super) struct TrieField {
    /// Its index in [`TRIE_FIELDS`].
    pub(super) index: u8,
    /// Width in bits: 32 or 128.
    pub(super) width: u8,
    /// For 32-bit fields: the word and shift of the field.
    word: usize,
    shift: u32,
}

/// The fields with a trie, in trie-index order.
pub(super) const TRIE_FIELDS: [TrieField; 4] = [
    TrieField {
        index: 0,
        width: 32,
        word: word::IP4,
        shift: 32,
    },
    TrieField {
        index: 1,
        width: 32,
        word: word::IP4,
        shift: 0,
    },
    TrieField {
        index: 2,
        width: 128,
        word: word::IP6_SRC,
        shift: 0,
    },
    TrieField {
        index: 3,
        width: 128,
        word: word::IP6_DST,
        shift: 0,
    },
];

/// Number of trie fields.
pub(super) const N_TRIES: usize = TRIE_FIELDS.len();

/// The first `n` bits (top-aligned); `n` in `0..=128`.
#[inline(always)]
fn top_ones(n: u32) -> u128 {
    if n == 0 {
        0
    } else {
        !0u128 << (128 - n.min(128))
    }
}

impl TrieField {
    /// The field's bits in `w`, top-aligned.
    #[inline(always)]
    pub(super) fn get(&self, w: &[u64; crate::flow::FLOW_WORDS]) -> u128 {
        if self.width == 32 {
            u128::from((w[self.word] >> self.shift) as u32) << 96
        } else {
            (u128::from(w[self.word]) << 64) | u128::from(w[self.word + 1])
        }
    }

    /// The (first) flow word of the field.
    pub(super) fn word(&self) -> usize {
        self.word
    }

    /// ORs the first `n` bits of the field into `wc`.
    #[inline(always)]
    pub(super) fn unwildcard_prefix(&self, wc: &mut Mask, n: u32) {
        let m = top_ones(n);
        if self.width == 32 {
            wc.w[self.word] |= u64::from((m >> 96) as u32) << self.shift;
        } else {
            wc.w[self.word] |= (m >> 64) as u64;
            wc.w[self.word + 1] |= m as u64;
        }
    }

    /// The prefix length of `mask` on this field, if that mask is a non-empty CIDR prefix.
    pub(super) fn prefix_len(&self, mask: &Mask) -> Option<u8> {
        let m = self.get(&mask.w);
        let len = m.leading_ones();
        (len > 0 && m == top_ones(len)).then_some(len as u8)
    }
}

const NONE: u32 = u32::MAX;

/// A path-compressed node: covers address bits `start..end`; `bits` holds the whole path
/// from the root (bits past `end` are zero).
#[derive(Clone, Copy, Debug)]
struct Node {
    bits: u128,
    start: u8,
    end: u8,
    /// Some rule prefix ends exactly at `end`.
    rule: bool,
    /// By the bit at position `end`.
    child: [u32; 2],
    /// Derived by `finish`: the bits `start..end`, ...
    seg: u128,
    /// ... the bit at position `end` (0 when `end` is the field width), ...
    next: u128,
    /// ... and `plens` bit `end - 1` if `rule`.
    plen_bit: u128,
}

impl Node {
    fn new(bits: u128, start: u8, end: u8, rule: bool) -> Node {
        Node {
            bits,
            start,
            end,
            rule,
            child: [NONE; 2],
            seg: 0,
            next: 0,
            plen_bit: 0,
        }
    }

    fn finish(&mut self, width: u8) {
        self.seg = top_ones(u32::from(self.end)) & !top_ones(u32::from(self.start));
        self.next = if self.end < width {
            1u128 << (127 - u32::from(self.end))
        } else {
            0
        };
        self.plen_bit = if self.rule && self.end > 0 {
            1u128 << (self.end - 1)
        } else {
            0
        };
    }
}

/// A built trie. Node 0 is the root, with an empty segment.
pub(super) struct Trie {
    field: TrieField,
    nodes: Box<[Node]>,
}

/// What one walk found; see the module note.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TrieResult {
    pub(super) plens: u128,
    pub(super) maskbits: u8,
}

impl Trie {
    /// Builds the trie of `(address, prefix length)` pairs (lengths in `1..=width`).
    pub(super) fn build(field: TrieField, prefixes: &[(u128, u8)]) -> Trie {
        // Uncompressed first: node = (children, rule).
        let mut raw: Vec<([u32; 2], bool)> = vec![([NONE; 2], false)];
        for &(addr, len) in prefixes {
            let mut n = 0usize;
            for d in 0..u32::from(len.min(field.width)) {
                let b = ((addr >> (127 - d)) & 1) as usize;
                if raw[n].0[b] == NONE {
                    raw.push(([NONE; 2], false));
                    raw[n].0[b] = (raw.len() - 1) as u32;
                }
                n = raw[n].0[b] as usize;
            }
            raw[n].1 = true;
        }
        let mut nodes = vec![Node::new(0, 0, 0, raw[0].1)];
        // (compressed parent, which child, raw node entered, its depth, path bits to it)
        let mut todo: Vec<(usize, usize, usize, u32, u128)> = Vec::new();
        for b in 0..2 {
            if raw[0].0[b] != NONE {
                todo.push((0, b, raw[0].0[b] as usize, 1, (b as u128) << 127));
            }
        }
        while let Some((parent, which, mut r, mut depth, mut bits)) = todo.pop() {
            let start = depth - 1;
            // Follow single-child, non-rule chains.
            loop {
                let (ch, rule) = raw[r];
                let only = match ch {
                    [c, NONE] if c != NONE => Some((c, 0u128)),
                    [NONE, c] if c != NONE => Some((c, 1u128)),
                    _ => None,
                };
                match only {
                    Some((c, bit)) if !rule => {
                        bits |= bit << (127 - depth);
                        depth += 1;
                        r = c as usize;
                    }
                    _ => break,
                }
            }
            let idx = nodes.len();
            nodes.push(Node::new(bits, start as u8, depth as u8, raw[r].1));
            nodes[parent].child[which] = idx as u32;
            for b in 0..2 {
                if raw[r].0[b] != NONE {
                    let child_bits = bits | ((b as u128) << (127 - depth));
                    todo.push((idx, b, raw[r].0[b] as usize, depth + 1, child_bits));
                }
            }
        }
        for n in &mut nodes {
            n.finish(field.width);
        }
        Trie {
            field,
            nodes: nodes.into_boxed_slice(),
        }
    }

    pub(super) fn field(&self) -> &TrieField {
        &self.field
    }

    /// Walks the trie with the packet's address.
    #[inline]
    pub(super) fn lookup(&self, pkt: &Flow) -> TrieResult {
        let addr = self.field.get(&pkt.w);
        let width = self.field.width;
        let mut plens = 0u128;
        let mut i = 0usize;
        loop {
            let Some(n) = self.nodes.get(i) else {
                // Unreachable for a built trie; claim every bit read, match every length.
                return TrieResult {
                    plens: !0,
                    maskbits: width,
                };
            };
            let diff = (addr ^ n.bits) & n.seg;
            if diff != 0 {
                return TrieResult {
                    plens,
                    maskbits: diff.leading_zeros() as u8 + 1,
                };
            }
            plens |= n.plen_bit;
            if n.next == 0 {
                return TrieResult {
                    plens,
                    maskbits: width,
                };
            }
            match n.child[usize::from(addr & n.next != 0)] {
                NONE => {
                    return TrieResult {
                        plens,
                        maskbits: n.end + 1,
                    }
                }
                c => i = c as usize,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip4(a: u32) -> u128 {
        u128::from(a) << 96
    }

    fn pkt_src(a: u32) -> Flow {
        let mut f = Flow::default();
        f.w[word::IP4] = u64::from(a) << 32;
        f
    }

    #[test]
    fn walk_reports_matching_lengths_and_bits_read() {
        let t = Trie::build(
            TRIE_FIELDS[0],
            &[
                (ip4(0x0a00_0000), 8),
                (ip4(0x0a01_0000), 16),
                (ip4(0x0a01_0203), 32),
            ],
        );
        let r = t.lookup(&pkt_src(0x0a01_0203));
        assert_eq!(r.plens, (1 << 7) | (1 << 15) | (1 << 31));
        assert_eq!(r.maskbits, 32);
        // 10.1.9.9: matches /8 and /16, falls off at the first bit where 9 differs from 3.
        let r = t.lookup(&pkt_src(0x0a01_0909));
        assert_eq!(r.plens, (1 << 7) | (1 << 15));
        assert_eq!(r.maskbits, 16 + 5);
        // 192.0.0.1 differs from 10/8 in the first bit.
        let r = t.lookup(&pkt_src(0xc000_0001));
        assert_eq!(r.plens, 0);
        assert_eq!(r.maskbits, 1);
    }

    #[test]
    fn empty_trie_reads_one_bit() {
        let t = Trie::build(TRIE_FIELDS[1], &[]);
        let r = t.lookup(&Flow::default());
        assert_eq!((r.plens, r.maskbits), (0, 1));
    }

    #[test]
    fn prefix_len_accepts_only_cidr_masks() {
        let f = TRIE_FIELDS[0];
        let mut m = Mask::default();
        assert_eq!(f.prefix_len(&m), None);
        f.unwildcard_prefix(&mut m, 24);
        assert_eq!(m.w[word::IP4], 0xffff_ff00_0000_0000);
        assert_eq!(f.prefix_len(&m), Some(24));
        m.w[word::IP4] |= 1 << 32;
        assert_eq!(f.prefix_len(&m), None);
        let v6 = TRIE_FIELDS[3];
        let mut m6 = Mask::default();
        v6.unwildcard_prefix(&mut m6, 72);
        assert_eq!(
            (m6.w[word::IP6_DST], m6.w[word::IP6_DST + 1]),
            (u64::MAX, 0xff00_0000_0000_0000)
        );
        assert_eq!(v6.prefix_len(&m6), Some(72));
    }
}
