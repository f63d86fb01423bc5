//! The per-table classifier: finds the highest-priority rule matching a microflow without
//! scanning every rule, and records in a [`Mask`] every bit the answer depended on.
//!
//! One classifier serves one (logical datapath, pipeline, table). The compiler turns each
//! logical flow's match into a disjunction of *conjunctions*, each a `(value, mask)` bit
//! match over the [`Flow`] words, and inserts every conjunction with the flow's priority
//! and a payload `T` (say, an index into the compiled action programs). A packet `p`
//! matches a conjunction when `p & mask == value & mask`.
//!
//! ## Tuple-space search (after OVS `lib/classifier.c`)
//! - One *subtable* per distinct mask; in it, a hash table from masked value to a *chain*:
//!   the rules with that exact (mask, value), by descending priority. A set of 1,000
//!   addresses with one mask is one subtable and costs one hash probe, not 1,000 compares.
//! - Subtables are probed in descending order of their highest priority; the lookup stops
//!   as soon as the next subtable's highest priority is `<=` the best match so far.
//! - An all-zero mask is an ordinary subtable with a single key (a priority-only catch-all).
//!
//! ## Megaflow wildcards
//! [`Classifier::lookup`] ORs into `wc` every bit it read. The contract, tested on random
//! rule sets: if `lookup(p)` returns `r` and leaves `wc`, then every `q` with
//! `q & wc == p & wc` also gets `r`. Subtables skipped by the priority cut-off add nothing.
//!
//! A probed subtable does not always add its whole mask: the *staged lookup* of OVS splits
//! its words into stages (metadata, L2, L3, L4; see [`STAGE_OF_WORD`]) and keeps, for every
//! stage but the last, the set of hashes of the key prefixes up to that stage. If a
//! packet's prefix is not in the set no rule of the subtable can match, and only the
//! words of the stages examined so far are unwildcarded. So a rule on `inport == "a" &&
//! ip4.src == X` does not make every packet from another port depend on `ip4.src`.
//!
//! When a subtable whose mask on `ip4.src`, `ip4.dst`, `ip6.src` or `ip6.dst` is a CIDR
//! prefix misses, a *prefix trie* of all rule prefixes on that field (see `trie.rs`) may
//! prove the miss from the first few address bits alone; then only those are unwildcarded.
//! So a packet from an address far from every rule's depends on a few leading bits, not on
//! the whole address. Disable with [`ClassifierBuilder::prefix_tries`]. (OVS's port-range
//! tries are not implemented.)
//!
//! ## Equal priorities
//! OVN leaves overlapping flows of equal priority undefined. Here the winner is fixed by
//! the insertion sequence: the rule in the earliest subtable in probe order (subtables sort
//! by highest priority, ties by the order their mask was first inserted), and within one
//! (mask, value) the first inserted.
//!
//! ## Residual conditions: [`Classifier::lookup_after`]
//! A condition the compiler cannot (or does not want to) express as bit matches, such as
//! the cross product of two large sets, is left to the caller: insert the bit-match part
//! it can express (possibly an all-zero mask) with a payload that says "check the rest".
//! [`Classifier::lookup_after`] then yields candidates one at a time in descending
//! priority order (the order [`Classifier::lookup`] would pick them in); when a residual
//! check fails, pass the returned [`Cursor`] back in to get the next one:
//!
//! ```
//! # use pipeline::classifier::ClassifierBuilder;
//! # use pipeline::flow::{Flow, Mask};
//! # let mut b = ClassifierBuilder::new();
//! # b.insert(10, &Flow::default(), &Mask::default(), 1u32).unwrap();
//! # let cls = b.build();
//! # let (pkt, mut wc) = (Flow::default(), Mask::default());
//! # let residual_ok = |_: u32, _: &mut Mask| true;
//! let mut after = None;
//! let winner = loop {
//!     let Some(hit) = cls.lookup_after(&pkt, &mut wc, after) else { break None };
//!     // The residual check must add the bits it reads to `wc` too.
//!     if residual_ok(hit.payload, &mut wc) {
//!         break Some(hit.payload);
//!     }
//!     after = Some(hit.cursor);
//! };
//! # assert_eq!(winner, Some(1));
//! ```
//!
//! The wildcard contract holds for the whole sequence: a packet agreeing with `pkt` on
//! `wc` sees the same candidates in the same order.
//!
//! Hot path: `lookup` and `lookup_after` allocate nothing, take no lock and never panic.
//! A built [`Classifier`] is immutable; share it between workers behind an `Arc`.

mod build;
mod hash;
#[cfg(test)]
mod tests;
mod trie;

pub use build::{ClassifierBuilder, ClassifierError, MAX_RULES};

use crate::flow::{Flow, Mask, FLOW_WORDS};

/// Staged-lookup stage of each flow word: 0 metadata (logical ports, flags, registers,
/// conntrack, tunnel), 1 L2, 2 L3 (IPv4/IPv6 addresses and misc, ARP/ND, IPv6 label),
/// 3 L4 (ports, TCP flags, spare).
pub const STAGE_OF_WORD: [u8; FLOW_WORDS] = {
    use crate::flow::word as w;
    let mut s = [0u8; FLOW_WORDS];
    s[w::ETH_SRC_VLAN] = 1;
    s[w::ETH_DST_TYPE] = 1;
    let mut i = w::IP4;
    while i < FLOW_WORDS {
        s[i] = 2;
        i += 1;
    }
    s[w::TP] = 3;
    s[w::SPARE] = 3;
    s
};

// Word indices are masked with `FLOW_WORDS - 1` on the hot path instead of bounds-checked.
const _: () = assert!(FLOW_WORDS.is_power_of_two());

/// A compiled table: immutable, built by [`ClassifierBuilder::build`].
pub struct Classifier<T> {
    subtables: Box<[Subtable<T>]>,
    /// Prefix tries, indexed by [`TrieCheck::trie`] (at most [`trie::N_TRIES`]).
    tries: Box<[trie::Trie]>,
    n_rules: usize,
}

impl<T> std::fmt::Debug for Classifier<T> {
    /// A summary: rule count, tries, and each subtable's highest priority, key count and
    /// mask, in probe order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Classifier {{ {} rules, {} subtables, {} tries }}",
            self.n_rules,
            self.subtables.len(),
            self.tries.len()
        )?;
        for st in self.subtables.iter() {
            writeln!(
                f,
                "  max {:5} min {:5} keys {:6} mask {:?}",
                st.max_priority,
                st.min_priority,
                st.chains.len().saturating_sub(1),
                st.mask
            )?;
        }
        Ok(())
    }
}

/// A subtable whose mask on a trie field is a CIDR prefix, its field's stage starting at
/// `words[at]`: when the subtable misses, ask trie `trie` whether any rule prefix of length
/// `plen` matches; if none does, fewer bits need unwildcarding.
#[derive(Clone, Copy, Debug)]
struct TrieCheck {
    trie: u8,
    plen: u8,
    at: u8,
}

/// Per-lookup trie walks, done at most once per trie.
struct TrieCtx {
    results: [Option<trie::TrieResult>; trie::N_TRIES],
}

impl TrieCtx {
    #[inline(always)]
    fn new() -> Self {
        TrieCtx {
            results: [None; trie::N_TRIES],
        }
    }
}

/// All rules with one mask.
struct Subtable<T> {
    /// Cold (tracing only): boxed to keep the hot fields of consecutive subtables close.
    mask: Box<Mask>,
    /// Indices of the non-zero mask words, in stage order.
    words: Box<[u8]>,
    /// `mask.w[words[i]]`.
    word_masks: Box<[u64]>,
    /// Every stage but the last non-empty one: where it ends in `words`, and the set of
    /// key-prefix hashes up to there.
    stages: Box<[Stage]>,
    /// Prefix-trie checks, by ascending `at`.
    trie_checks: Box<[TrieCheck]>,
    /// Hash of the full key → key index.
    table: hash::Table,
    /// Key `k` is `keys[k * words.len()..][..words.len()]`.
    keys: Box<[u64]>,
    /// Key `k`'s chain is `entries[chains[k]..chains[k + 1]]`, by descending priority.
    chains: Box<[u32]>,
    entries: Box<[Entry<T>]>,
    max_priority: u16,
    min_priority: u16,
}

struct Stage {
    end: u8,
    set: hash::HashSet,
}

#[derive(Clone, Copy)]
struct Entry<T> {
    priority: u16,
    payload: T,
}

/// A matching rule, as returned by [`Classifier::lookup_after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit<T> {
    pub priority: u16,
    pub payload: T,
    /// Where this rule sits in the candidate order; pass it back to get the next one.
    pub cursor: Cursor,
}

/// A position in a classifier's total candidate order: priority descending, then subtable
/// probe order, then position in the chain. Only meaningful for the classifier that
/// produced it (a foreign cursor gives a valid but arbitrary continuation, never a panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    priority: u16,
    subtable: u32,
    entry: u32,
}

impl Cursor {
    /// Whether `self` comes strictly before the rule at (`priority`, `subtable`, `entry`).
    #[inline(always)]
    fn comes_before(&self, priority: u16, subtable: usize, entry: usize) -> bool {
        priority < self.priority
            || (priority == self.priority
                && (subtable > self.subtable as usize
                    || (subtable == self.subtable as usize && entry > self.entry as usize)))
    }
}

/// Work done by one lookup, for tests, benchmarks and tracing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Subtables whose hash (or first stage index) was probed.
    pub subtables_probed: u32,
    /// Probes that ended early in a stage index.
    pub stage_misses: u32,
    /// Full key comparisons (hash table slots whose tag matched).
    pub key_compares: u32,
}

trait Observer {
    fn probe(&mut self);
    fn stage_miss(&mut self);
    fn compare(&mut self);
}

struct NoStats;

impl Observer for NoStats {
    #[inline(always)]
    fn probe(&mut self) {}
    #[inline(always)]
    fn stage_miss(&mut self) {}
    #[inline(always)]
    fn compare(&mut self) {}
}

impl Observer for LookupStats {
    fn probe(&mut self) {
        self.subtables_probed += 1;
    }
    fn stage_miss(&mut self) {
        self.stage_misses += 1;
    }
    fn compare(&mut self) {
        self.key_compares += 1;
    }
}

impl<T: Copy> Classifier<T> {
    /// An empty classifier: every lookup misses and reads nothing.
    pub fn empty() -> Self {
        Classifier {
            subtables: Box::new([]),
            tries: Box::new([]),
            n_rules: 0,
        }
    }

    /// Number of conjunctions inserted.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of distinct masks.
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// The masks in probe order, with their highest priority (for tracing and tests).
    pub fn masks(&self) -> impl Iterator<Item = (&Mask, u16)> + '_ {
        self.subtables.iter().map(|s| (&*s.mask, s.max_priority))
    }

    /// The highest-priority rule matching `pkt`, as `(priority, payload)`. ORs into `wc`
    /// every bit the answer depended on (see the module note).
    #[inline]
    pub fn lookup(&self, pkt: &Flow, wc: &mut Mask) -> Option<(u16, T)> {
        self.search(pkt, wc, None, &mut NoStats)
            .map(|h| (h.priority, h.payload))
    }

    /// The first matching rule strictly after `after` in candidate order (the best one
    /// when `after` is `None`). Repeated calls walk all matching rules by descending
    /// priority; see the module note on residual conditions.
    #[inline]
    pub fn lookup_after(&self, pkt: &Flow, wc: &mut Mask, after: Option<Cursor>) -> Option<Hit<T>> {
        self.search(pkt, wc, after, &mut NoStats)
    }

    /// [`Classifier::lookup_after`], counting the work done into `stats`.
    pub fn lookup_with_stats(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        after: Option<Cursor>,
        stats: &mut LookupStats,
    ) -> Option<Hit<T>> {
        self.search(pkt, wc, after, stats)
    }

    #[inline(always)]
    fn search<O: Observer>(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        after: Option<Cursor>,
        obs: &mut O,
    ) -> Option<Hit<T>> {
        let mut best: Option<Hit<T>> = None;
        let mut tries = TrieCtx::new();
        for (si, st) in self.subtables.iter().enumerate() {
            if let Some(b) = &best {
                // Later subtables can only tie (and ties go to the earlier subtable) or lose.
                if st.max_priority <= b.priority {
                    break;
                }
            }
            if let Some(c) = &after {
                // Every rule of this subtable comes at or before the cursor.
                if st.min_priority > c.priority
                    || (si < c.subtable as usize && st.min_priority >= c.priority)
                {
                    continue;
                }
            }
            obs.probe();
            if let Some(ei) = st.find(pkt, wc, si, after.as_ref(), (&self.tries, &mut tries), obs) {
                let e = st.entries[ei];
                if best.as_ref().is_none_or(|b| e.priority > b.priority) {
                    best = Some(Hit {
                        priority: e.priority,
                        payload: e.payload,
                        cursor: Cursor {
                            priority: e.priority,
                            subtable: si as u32,
                            entry: ei as u32,
                        },
                    });
                }
            }
        }
        best
    }
}

impl<T: Copy> Subtable<T> {
    /// The first entry matching `pkt` (and after `after`, if given), unwildcarding the
    /// words examined.
    #[inline(always)]
    fn find<O: Observer>(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        si: usize,
        after: Option<&Cursor>,
        (tries, ctx): (&[trie::Trie], &mut TrieCtx),
        obs: &mut O,
    ) -> Option<usize> {
        let n = self.words.len();
        let mut h = hash::BASIS;
        let mut i = 0;
        for stage in self.stages.iter() {
            let end = stage.end as usize;
            while i < end {
                h = hash::add(
                    h,
                    pkt.w[self.words[i] as usize & (FLOW_WORDS - 1)] & self.word_masks[i],
                );
                i += 1;
            }
            if !stage.set.contains(hash::finish(h)) {
                obs.stage_miss();
                self.miss(end, pkt, wc, tries, ctx);
                return None;
            }
        }
        while i < n {
            h = hash::add(
                h,
                pkt.w[self.words[i] as usize & (FLOW_WORDS - 1)] & self.word_masks[i],
            );
            i += 1;
        }

        let Some(k) = self.table.find(hash::finish(h), |k| {
            obs.compare();
            let key = self.keys.get(k * n..(k + 1) * n).unwrap_or(&[]);
            key.len() == n
                && key
                    .iter()
                    .zip(self.words.iter().zip(self.word_masks.iter()))
                    .all(|(&kw, (&w, &m))| pkt.w[w as usize & (FLOW_WORDS - 1)] & m == kw)
        }) else {
            self.miss(n, pkt, wc, tries, ctx);
            return None;
        };
        self.unwildcard(wc, n);
        let start = *self.chains.get(k)? as usize;
        let end = *self.chains.get(k + 1)? as usize;
        let chain = self.entries.get(start..end)?;
        match after {
            None => (!chain.is_empty()).then_some(start),
            Some(c) => (start..end)
                .zip(chain)
                .find(|(ei, e)| c.comes_before(e.priority, si, *ei))
                .map(|(ei, _)| ei),
        }
    }

    /// Unwildcards what proves that no rule of this subtable matches, the hashes having
    /// failed after `words[..end]`: those words, or, if the prefix trie of a field among
    /// them rules the subtable out, only the address bits the trie walk read (the absence
    /// of a length-`L` prefix depends on nothing else). Tries are consulted only here, and
    /// only for fields already hashed, so a hit never pays for a trie walk.
    #[inline(always)]
    fn miss(&self, end: usize, pkt: &Flow, wc: &mut Mask, tries: &[trie::Trie], ctx: &mut TrieCtx) {
        if self.trie_checks.is_empty() || !self.trie_rules_out(end, pkt, wc, tries, ctx) {
            self.unwildcard(wc, end);
        }
    }

    /// Runs the trie checks of fields within `words[..end]`. When one rules the subtable
    /// out, unwildcards the trie bits and returns true.
    #[inline(never)]
    fn trie_rules_out(
        &self,
        end: usize,
        pkt: &Flow,
        wc: &mut Mask,
        tries: &[trie::Trie],
        ctx: &mut TrieCtx,
    ) -> bool {
        for tc in self.trie_checks.iter().filter(|tc| (tc.at as usize) < end) {
            let t = tc.trie as usize;
            let (Some(trie), Some(slot)) = (tries.get(t), ctx.results.get_mut(t)) else {
                continue;
            };
            let r = *slot.get_or_insert_with(|| trie.lookup(pkt));
            if tc.plen == 0 || r.plens & (1u128 << (tc.plen - 1)) != 0 {
                continue;
            }
            trie.field()
                .unwildcard_prefix(wc, u32::from(r.maskbits.min(tc.plen)));
            return true;
        }
        false
    }

    /// ORs the mask of `words[..end]` into `wc`.
    #[inline(always)]
    fn unwildcard(&self, wc: &mut Mask, end: usize) {
        for (&w, &m) in self.words.iter().zip(self.word_masks.iter()).take(end) {
            wc.w[w as usize & (FLOW_WORDS - 1)] |= m;
        }
    }
}
