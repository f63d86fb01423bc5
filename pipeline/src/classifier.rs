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
//! ## Layout and sets
//! A [`ClassifierSet`] holds many classifiers (the compiler builds one set per logical
//! datapath and pipeline, one member per table) in a handful of flat arrays shared by all
//! of them: a subtable is a small record of offsets, so building and dropping a set costs a
//! few allocations, not a few per mask, and consecutive tables' data lie next to each
//! other, as a packet walks them. A lookup touches the subtable records (two per cache
//! line), their *cells* (mask word, word index and, for a single-key subtable, the key
//! word, side by side) and the entries. Hash regions, tries and masks are in a cold part.
//! A subtable with a single key (the common case in OVN tables) has no hash regions at
//! all: the lookup compares the packet with that key word by word in stage order, which
//! unwildcards exactly what the staged hash lookup would (without its rare false
//! positives); so does a subtable with a few keys, comparing each. A [`Classifier`] is a
//! set of one.
//!
//! Hot path: `lookup` and `lookup_after` allocate nothing, take no lock and never panic.
//! A built [`Classifier`] or [`ClassifierSet`] is immutable; share it between workers
//! behind an `Arc`.

mod build;
mod hash;
mod lookup;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_set;
mod trie;

pub use build::{ClassifierBuilder, ClassifierError, MAX_RULES};
pub use hash::{FastHash, FastHasher};

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

/// Most stage boundaries a subtable has (one fewer than the number of stages).
const MAX_STAGE_ENDS: usize = 3;

/// Subtables with at most this many keys are searched by comparing every key (cheaper
/// than hashing for a few keys); larger ones by staged hashing.
const LINEAR_KEYS: u16 = 6;

/// Many classifiers in shared arrays (see the module note): built by
/// [`ClassifierSet::build`], read through [`ClassifierSet::member`].
pub struct ClassifierSet<T> {
    parts: Box<[Part]>,
    /// Member `p`'s subtables, in probe order, are `subtables[p.subtables_at..]
    /// [..p.n_subtables]`.
    subtables: Box<[Subtable]>,
    /// Subtable `s`'s non-zero mask words, in stage order, are `cells[s.cells_at..]
    /// [..s.n_words]`.
    cells: Box<[Cell]>,
    /// Keys of multi-key subtables (see [`Subtable::a`]).
    keys: Box<[u64]>,
    /// Chain starts of multi-key subtables (see [`Subtable::b`]).
    chains: Box<[u32]>,
    entries: Box<[Entry<T>]>,
    cold: Box<Cold>,
}

/// Where one member of a set is (see [`ClassifierSet::member_id`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Part {
    subtables_at: u32,
    pub(crate) n_subtables: u32,
    /// Its tries are `cold.tries[tries_at..][..n_tries]` ([`TrieCheck::trie`] counts
    /// from `tries_at`).
    tries_at: u32,
    n_tries: u32,
    pub(crate) n_rules: u32,
}

/// What lookups rarely need.
#[derive(Default)]
struct Cold {
    /// Per subtable, like [`ClassifierSet::subtables`].
    sub: Box<[SubCold]>,
    multi: Box<[Multi]>,
    /// Key tables and stage sets (see `hash.rs`).
    slots: Box<[u64]>,
    /// `trie_checks[s.trie_at..][..s.n_trie]`, by ascending `at`.
    trie_checks: Box<[TrieCheck]>,
    /// `masks[sub.mask]`, for tracing.
    masks: Box<[Mask]>,
    tries: Box<[trie::Trie]>,
}

/// A subtable whose mask on a trie field is a CIDR prefix, its field's stage starting at
/// `cells[at]`: when the subtable misses, ask trie `trie` (of its member) whether any rule
/// prefix of length `plen` matches; if none does, fewer bits need unwildcarding.
#[derive(Clone, Copy, Debug, Default)]
struct TrieCheck {
    trie: u8,
    plen: u8,
    at: u8,
}

/// Per-lookup trie walks, done at most once per trie.
struct TrieCtx {
    /// Bit `t`: trie `t` was walked.
    done: u8,
    /// Per trie: the walk's `plens`, `maskbits`, and the index of its field in
    /// `trie::TRIE_FIELDS`.
    plens: [u128; trie::N_TRIES],
    maskbits: [u8; trie::N_TRIES],
    field: [u8; trie::N_TRIES],
}

/// One non-zero mask word of a subtable: `pkt.w[word] & mask`, and for a single-key
/// subtable the key's word (else 0).
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    mask: u64,
    key: u64,
    word: u8,
    /// Where the cell's stage ends (an index into the subtable's cells: the number of
    /// cells a miss here unwildcards).
    end: u8,
    /// Whether the cell is in the subtable's last stage (a miss is a key miss, not a
    /// stage miss).
    last: bool,
}

/// All rules with one mask: the hot part (offsets into the set's arrays).
#[derive(Clone, Copy, Debug, Default)]
struct Subtable {
    max_priority: u16,
    min_priority: u16,
    n_words: u8,
    /// Number of stage boundaries: every stage but the last non-empty one ends at
    /// `stage_end[i]` (an index into the subtable's cells).
    n_stages: u8,
    stage_end: [u8; MAX_STAGE_ENDS],
    /// Number of prefix-trie checks, at `cold.trie_checks[trie_at..]`.
    n_trie: u8,
    /// The first of them (the only one, but for a subtable matching prefixes of two
    /// address fields).
    trie0: TrieCheck,
    /// Number of keys, saturated at `u16::MAX` (only 1 and "at most [`LINEAR_KEYS`]"
    /// matter to the lookup).
    n_keys: u16,
    cells_at: u32,
    /// One key: its chain is `entries[a..b]`. Several: key `k` is
    /// `keys[a + k * n_words..][..n_words]`, its chain `entries[chains[b + k]..
    /// chains[b + k + 1]]`.
    a: u32,
    b: u32,
    trie_at: u32,
}

/// The cold part of a subtable.
#[derive(Clone, Copy, Debug, Default)]
struct SubCold {
    n_keys: u32,
    /// Index into [`Cold::multi`] (multi-key subtables).
    multi: u32,
    mask: u32,
}

/// A subtable with several keys: where its key table and stage sets are.
#[derive(Clone, Copy, Debug, Default)]
struct Multi {
    table_at: u32,
    table_mask: u32,
    set_at: [u32; MAX_STAGE_ENDS],
    set_mask: [u32; MAX_STAGE_ENDS],
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

/// Work done by one lookup, for tests, benchmarks and tracing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Subtables whose hash (or first stage index) was probed.
    pub subtables_probed: u32,
    /// Probes that ended early in a stage index.
    pub stage_misses: u32,
    /// Full key comparisons (hash table slots whose tag matched; for a subtable searched
    /// by comparing its keys, reaching its last stage).
    pub key_compares: u32,
}

/// One classifier of a [`ClassifierSet`].
#[derive(Clone, Copy)]
pub struct Member<'a, T> {
    set: &'a ClassifierSet<T>,
    part: Part,
}

impl<T: Copy> ClassifierSet<T> {
    /// A set without members.
    pub fn empty() -> Self {
        ClassifierSet {
            parts: Box::new([]),
            subtables: Box::new([]),
            cells: Box::new([]),
            keys: Box::new([]),
            chains: Box::new([]),
            entries: Box::new([]),
            cold: Box::default(),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Member `i` (in the order the builders were given).
    #[inline(always)]
    pub fn member(&self, i: usize) -> Option<Member<'_, T>> {
        let part = *self.parts.get(i)?;
        Some(Member { set: self, part })
    }

    /// Where member `i` is: keep it to reach the member later without indexing
    /// ([`ClassifierSet::member_at`]).
    pub fn member_id(&self, i: usize) -> Option<Part> {
        self.parts.get(i).copied()
    }

    /// The member `part` (from [`ClassifierSet::member_id`] of this set; a foreign one
    /// gives some member or an empty one, never a panic).
    #[inline(always)]
    pub fn member_at(&self, part: Part) -> Member<'_, T> {
        Member { set: self, part }
    }
}

impl<'a, T: Copy> Member<'a, T> {
    /// Number of conjunctions inserted.
    pub fn len(&self) -> usize {
        self.part.n_rules as usize
    }

    pub fn is_empty(&self) -> bool {
        self.part.n_rules == 0
    }

    /// Number of distinct masks.
    pub fn n_subtables(&self) -> usize {
        self.part.n_subtables as usize
    }

    fn range(&self) -> std::ops::Range<usize> {
        let at = self.part.subtables_at as usize;
        at..at + self.part.n_subtables as usize
    }

    /// The masks in probe order, with their highest priority (for tracing and tests).
    pub fn masks(&self) -> impl Iterator<Item = (&'a Mask, u16)> + 'a {
        let set = self.set;
        let r = self.range();
        let hot = set.subtables.get(r.clone()).unwrap_or(&[]);
        let cold = set.cold.sub.get(r).unwrap_or(&[]);
        hot.iter()
            .zip(cold.iter())
            .filter_map(move |(s, c)| Some((set.cold.masks.get(c.mask as usize)?, s.max_priority)))
    }

    /// The highest-priority rule matching `pkt`, as `(priority, payload)`. ORs into `wc`
    /// every bit the answer depended on (see the module note).
    #[inline]
    pub fn lookup(&self, pkt: &Flow, wc: &mut Mask) -> Option<(u16, T)> {
        self.search(pkt, wc, None, &mut lookup::NoStats)
            .map(|h| (h.priority, h.payload))
    }

    /// The first matching rule strictly after `after` in candidate order (the best one
    /// when `after` is `None`). Repeated calls walk all matching rules by descending
    /// priority; see the module note on residual conditions.
    #[inline]
    pub fn lookup_after(&self, pkt: &Flow, wc: &mut Mask, after: Option<Cursor>) -> Option<Hit<T>> {
        match after {
            None => self.search(pkt, wc, None, &mut lookup::NoStats),
            after => self.search(pkt, wc, after, &mut lookup::NoStats),
        }
    }

    /// [`Member::lookup_after`], counting the work done into `stats`.
    pub fn lookup_with_stats(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        after: Option<Cursor>,
        stats: &mut LookupStats,
    ) -> Option<Hit<T>> {
        self.search(pkt, wc, after, stats)
    }
}

impl<T: Copy> std::fmt::Debug for Member<'_, T> {
    /// A summary: rule count, tries, and each subtable's highest priority, key count and
    /// mask, in probe order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Classifier {{ {} rules, {} subtables, {} tries }}",
            self.part.n_rules, self.part.n_subtables, self.part.n_tries
        )?;
        let r = self.range();
        let hot = self.set.subtables.get(r.clone()).unwrap_or(&[]);
        let cold = self.set.cold.sub.get(r).unwrap_or(&[]);
        for (st, sc) in hot.iter().zip(cold.iter()) {
            writeln!(
                f,
                "  max {:5} min {:5} keys {:6} mask {:?}",
                st.max_priority,
                st.min_priority,
                sc.n_keys,
                self.set
                    .cold
                    .masks
                    .get(sc.mask as usize)
                    .copied()
                    .unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

/// A compiled table: immutable, built by [`ClassifierBuilder::build`] (a
/// [`ClassifierSet`] of one).
pub struct Classifier<T> {
    set: ClassifierSet<T>,
}

impl<T: Copy> Classifier<T> {
    /// An empty classifier: every lookup misses and reads nothing.
    pub fn empty() -> Self {
        Classifier {
            set: ClassifierSet::empty(),
        }
    }

    #[inline(always)]
    fn view(&self) -> Member<'_, T> {
        self.set.member(0).unwrap_or(Member {
            set: &self.set,
            part: Part::default(),
        })
    }

    /// Number of conjunctions inserted.
    pub fn len(&self) -> usize {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        self.view().is_empty()
    }

    /// Number of distinct masks.
    pub fn n_subtables(&self) -> usize {
        self.view().n_subtables()
    }

    /// The masks in probe order, with their highest priority (for tracing and tests).
    pub fn masks(&self) -> impl Iterator<Item = (&Mask, u16)> + '_ {
        self.view().masks()
    }

    /// See [`Member::lookup`].
    #[inline]
    pub fn lookup(&self, pkt: &Flow, wc: &mut Mask) -> Option<(u16, T)> {
        self.view().lookup(pkt, wc)
    }

    /// See [`Member::lookup_after`].
    #[inline]
    pub fn lookup_after(&self, pkt: &Flow, wc: &mut Mask, after: Option<Cursor>) -> Option<Hit<T>> {
        self.view().lookup_after(pkt, wc, after)
    }

    /// See [`Member::lookup_with_stats`].
    pub fn lookup_with_stats(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        after: Option<Cursor>,
        stats: &mut LookupStats,
    ) -> Option<Hit<T>> {
        self.view().lookup_with_stats(pkt, wc, after, stats)
    }
}

impl<T: Copy> std::fmt::Debug for Classifier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view().fmt(f)
    }
}
