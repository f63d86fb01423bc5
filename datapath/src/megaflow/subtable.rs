//! One megaflow subtable: the entries sharing one mask, in an open-addressing
//! (linear-probe) table of `(hash, slot index)` buckets, and the precomputed per-word
//! hash keys of the mask's non-zero words.

use pipeline::flow::{Flow, Mask, FLOW_WORDS};

use crate::emc::{finish, word_keys};

pub(super) const MIN_BUCKETS: usize = 8;
pub(super) const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(super) struct Bucket {
    pub(super) hash: u32,
    pub(super) idx: u32,
}

pub(super) const EMPTY_BUCKET: Bucket = Bucket {
    hash: 0,
    idx: EMPTY,
};

/// One masked word of a subtable: word index, mask, and the hash keys for that word.
#[derive(Clone, Copy, Default)]
struct WordSpec {
    i: usize,
    m: u64,
    ka: u64,
    kb: u64,
}

pub(super) struct Subtable {
    /// The mask's non-zero words, in order (the hot part of the lookup).
    words: Box<[WordSpec]>,
    pub(super) buckets: Vec<Bucket>,
    pub(super) count: usize,
    pub(super) hits: u64,
    pub(super) live: bool,
    pub(super) mask: Mask,
}

impl Subtable {
    pub(super) fn new(mask: &Mask) -> Subtable {
        let words: Vec<WordSpec> = mask
            .w
            .iter()
            .enumerate()
            .filter(|(_, &w)| w != 0)
            .map(|(i, &m)| {
                let (ka, kb) = word_keys(i);
                WordSpec { i, m, ka, kb }
            })
            .collect();
        Subtable {
            words: words.into_boxed_slice(),
            buckets: vec![EMPTY_BUCKET; MIN_BUCKETS],
            count: 0,
            hits: 0,
            live: true,
            mask: *mask,
        }
    }

    /// Hash of `flow & mask`: per masked word a keyed product with an odd constant (a
    /// bijection, so no bits are lost), summed, then one folded multiply.
    #[inline(always)]
    pub(super) fn hash(&self, flow: &Flow) -> u32 {
        let mut acc = self.words.len() as u64;
        for ws in self.words.iter() {
            let w = flow.w[ws.i & (FLOW_WORDS - 1)] & ws.m;
            acc = acc.wrapping_add((w ^ ws.ka).wrapping_mul(ws.kb));
        }
        finish(acc)
    }

    /// `flow & mask == key` on the mask's words (the key is zero elsewhere).
    #[inline(always)]
    pub(super) fn matches(&self, flow: &Flow, key: &Flow) -> bool {
        let mut d = 0u64;
        for ws in self.words.iter() {
            let i = ws.i & (FLOW_WORDS - 1);
            d |= (flow.w[i] & ws.m) ^ key.w[i];
        }
        d == 0
    }
}
