//! [`FlowKey`]: a microflow plus a bitmap of the words that may be non-zero (OVS's
//! miniflow map, kept next to the full [`Flow`] instead of packing the words).
//!
//! The packet fast path only touches the populated words: the extractor records which
//! words it wrote ([`crate::extract::extract_key`]) and adds each word's hash term as it
//! writes it, so the EMC hash ([`FlowKey::hash`]) is one final mix. A 64-byte UDP/IPv4
//! frame populates 8 of the 32 words (9 once the worker sets the logical datapath and
//! port).
//!
//! Invariant (the fields are crate-private; only the extractor and the methods here write
//! them): every word outside `map` is zero, and `acc` is the sum of the words' terms, so
//! `key.flow()` is always a complete, valid [`Flow`] for the megaflow cache and the slow
//! path. A worker reuses one `FlowKey` for every packet: the extractor overwrites the
//! words of the new map and zeroes only the words the previous packet had and this one
//! does not (usually none), instead of clearing 256 bytes per packet.
//!
//! The hash is a function of the flow alone (a zero word contributes nothing), so two
//! keys holding equal flows hash equally whatever their maps.

#[cfg(doc)]
use pipeline::flow::word;
use pipeline::flow::{Field, Flow, FLOW_WORDS};

use crate::emc::{finish, word_mul};

/// Per-word odd multipliers of the key hash ([`word_mul`]).
const KB: [u64; FLOW_WORDS] = {
    let mut k = [0u64; FLOW_WORDS];
    let mut i = 0;
    while i < FLOW_WORDS {
        k[i] = word_mul(i);
        i += 1;
    }
    k
};

/// The hash term of word `i` holding `w`: a bijection of `w` (odd multiplier) that maps
/// 0 to 0.
#[inline(always)]
pub(crate) fn term(i: usize, w: u64) -> u64 {
    w.wrapping_mul(KB[i & (FLOW_WORDS - 1)])
}

/// A flow and the set of its words that may be non-zero (bit `i` = word `i`).
///
/// It also carries the running sum of the hash terms of its words, so that
/// [`FlowKey::hash`] is one final mix: the extractor adds each word's term as it writes it,
/// [`FlowKey::set`] swaps the old word's term for the new one.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowKey {
    pub(crate) flow: Flow,
    pub(crate) map: u32,
    /// `sum of term(i, flow.w[i])` over all words (wrapping).
    pub(crate) acc: u64,
}

impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FlowKey {{ map: {:#010x}, flow: {:?} }}",
            self.map, self.flow
        )
    }
}

impl FlowKey {
    /// The key of `flow`, with the exact map of its non-zero words.
    pub fn from_flow(flow: &Flow) -> FlowKey {
        FlowKey {
            flow: *flow,
            map: nonzero_map(flow),
            acc: flow_acc(flow),
        }
    }

    /// The full flow (zero outside the map).
    #[inline(always)]
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Words that may be non-zero.
    #[inline(always)]
    pub fn map(&self) -> u32 {
        self.map
    }

    /// Writes a field of at most 64 bits (as [`Flow::set`]) and adds its word to the map.
    #[inline(always)]
    pub fn set(&mut self, f: Field, v: u64) {
        let i = f.word as usize & (FLOW_WORDS - 1);
        let old = self.flow.w[i];
        self.flow.set(f, v);
        self.acc = self
            .acc
            .wrapping_add(term(i, self.flow.w[i]))
            .wrapping_sub(term(i, old));
        self.map |= 1 << i;
    }

    /// Writes the whole word `i` (e.g. [`word::DP_INPORT`]: datapath and inport at once)
    /// and adds it to the map.
    #[inline(always)]
    pub fn set_word(&mut self, i: usize, v: u64) {
        let i = i & (FLOW_WORDS - 1);
        let old = std::mem::replace(&mut self.flow.w[i], v);
        self.acc = self.acc.wrapping_add(term(i, v)).wrapping_sub(term(i, old));
        self.map |= 1 << i;
    }

    /// The EMC hash, equal to [`crate::emc::flow_hash`] of the flow: the final mix of the
    /// term sum kept up to date by the writers (no pass over the words).
    #[inline(always)]
    pub fn hash(&self) -> u32 {
        finish(self.acc)
    }

    /// Zeroes the words of the map outside `keep`, and sets the map to `keep` and the
    /// term sum to `acc` (the extractor's last step: `keep` is what it wrote, `acc` the
    /// sum of their terms).
    #[inline(always)]
    pub(crate) fn retain(&mut self, keep: u32, acc: u64) {
        self.acc = acc;
        let mut stale = self.map & !keep;
        while stale != 0 {
            let i = stale.trailing_zeros() as usize;
            stale &= stale - 1;
            self.flow.w[i & (FLOW_WORDS - 1)] = 0;
        }
        self.map = keep;
    }
}

/// `sum of term(i, flow.w[i])` over all words.
#[inline]
pub(crate) fn flow_acc(flow: &Flow) -> u64 {
    let mut acc = 0u64;
    for (i, &w) in flow.w.iter().enumerate() {
        acc = acc.wrapping_add(term(i, w));
    }
    acc
}

/// Bitmap of the non-zero words of `flow`.
#[inline]
pub fn nonzero_map(flow: &Flow) -> u32 {
    let mut m = 0u32;
    for (i, &w) in flow.w.iter().enumerate() {
        m |= ((w != 0) as u32) << i;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::flow::field;

    #[test]
    fn hash_ignores_map_and_matches_flow_hash() {
        let mut f = Flow::default();
        f.set(field::IP4_SRC, 0x0a00_0001);
        f.set(field::TP_DST, 53);
        let exact = FlowKey::from_flow(&f);
        assert_eq!(exact.map(), 1 << 19 | 1 << 25);
        let wide = FlowKey {
            map: u32::MAX,
            ..exact
        };
        assert_eq!(exact.hash(), wide.hash());
        assert_eq!(exact.hash(), crate::emc::flow_hash(&f));
    }

    #[test]
    fn set_and_retain_keep_the_invariant() {
        let mut k = FlowKey::default();
        k.set(field::TP_SRC, 7);
        k.set(field::IP4_DST, 9);
        assert_eq!(k.map(), nonzero_map(k.flow()));
        assert_eq!(k.hash(), crate::emc::flow_hash(k.flow()));
        let mut only = *k.flow();
        only.w[25] = 0;
        k.retain(1 << 19, flow_acc(&only));
        assert_eq!(k.hash(), crate::emc::flow_hash(k.flow()));
        assert_eq!(k.flow().get(field::TP_SRC), 0, "dropped word zeroed");
        assert_eq!(k.flow().get(field::IP4_DST), 9);
        assert_eq!(k.map(), 1 << 19);
        k.set_word(0, 0x5_0000_0003);
        k.set_word(0, 0x6_0000_0003);
        assert_eq!(k.flow().get(field::DATAPATH), 6);
        assert_eq!(k.hash(), crate::emc::flow_hash(k.flow()));
        assert_eq!(k.map(), 1 << 19 | 1);
    }
}
