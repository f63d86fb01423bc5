//! Building a [`Classifier`]: collect conjunctions per mask (keys stored flat, indexed by
//! an open-addressing table), then lay every subtable out in the classifier's shared
//! arrays (keys, chains, entries, hash regions) and sort the subtables by priority.

use std::collections::HashMap;

use super::hash::{self, FastHash};
use super::trie::{Trie, TRIE_FIELDS};
use super::{
    Cell, Classifier, ClassifierSet, Cold, Entry, Multi, Part, SubCold, Subtable, TrieCheck,
    LINEAR_KEYS, MAX_STAGE_ENDS, STAGE_OF_WORD,
};
use crate::flow::{Flow, Mask, FLOW_WORDS};

/// Most (mask, value) pairs and most rules a classifier holds: indices are `u32`.
pub const MAX_RULES: usize = u32::MAX as usize - 1;

/// Why a conjunction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClassifierError {
    #[error("classifier holds too many rules (limit {MAX_RULES})")]
    TooManyRules,
}

/// Collects conjunctions; [`ClassifierBuilder::build`] turns them into a [`Classifier`].
pub struct ClassifierBuilder<T> {
    by_mask: HashMap<Mask, usize, FastHash>,
    /// The subtable of the last insert (consecutive inserts usually share a mask).
    last: Option<usize>,
    subtables: Vec<SubtableBuilder<T>>,
    n_rules: usize,
    prefix_tries: bool,
}

struct SubtableBuilder<T> {
    mask: Mask,
    /// Non-zero mask words in stage order.
    words: Vec<u8>,
    /// Key `k` is `keys[k * words.len()..][..words.len()]`.
    keys: Vec<u64>,
    /// Full hash of each key (as the lookup computes it).
    hashes: Vec<u64>,
    /// Open-addressing index over the keys: key index + 1, 0 = empty; power-of-two size.
    index: Vec<u32>,
    /// (key, priority, payload) in insertion order.
    rules: Vec<(u32, u16, T)>,
}

impl<T: Copy> Default for ClassifierBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> ClassifierBuilder<T> {
    pub fn new() -> Self {
        ClassifierBuilder {
            by_mask: HashMap::default(),
            last: None,
            subtables: Vec::new(),
            n_rules: 0,
            prefix_tries: true,
        }
    }

    /// Whether to build prefix tries for the IP address fields (default: yes). Without
    /// them, lookups are a little cheaper and megaflows depend on more address bits.
    pub fn prefix_tries(&mut self, on: bool) -> &mut Self {
        self.prefix_tries = on;
        self
    }

    /// Number of conjunctions inserted so far.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Adds one conjunction: a packet `p` matches it when `p & mask == value & mask`.
    /// Bits of `value` outside `mask` are ignored. A flow whose match is a disjunction is
    /// inserted once per conjunction with the same `payload`; an all-zero `mask` matches
    /// every packet.
    pub fn insert(
        &mut self,
        priority: u16,
        value: &Flow,
        mask: &Mask,
        payload: T,
    ) -> Result<(), ClassifierError> {
        self.insert_words(priority, &value.w, &mask.w, payload)
    }

    /// [`ClassifierBuilder::insert`] on plain word arrays.
    pub fn insert_words(
        &mut self,
        priority: u16,
        value: &[u64; FLOW_WORDS],
        mask: &[u64; FLOW_WORDS],
        payload: T,
    ) -> Result<(), ClassifierError> {
        if self.n_rules >= MAX_RULES {
            return Err(ClassifierError::TooManyRules);
        }
        let si = match self.last {
            Some(si) if self.subtables.get(si).is_some_and(|s| s.mask.w == *mask) => si,
            _ => {
                let m = Mask { w: *mask };
                let si = match self.by_mask.get(&m) {
                    Some(&si) => si,
                    None => {
                        let si = self.subtables.len();
                        self.subtables.push(SubtableBuilder::new(&m));
                        self.by_mask.insert(m, si);
                        si
                    }
                };
                self.last = Some(si);
                si
            }
        };
        let st = &mut self.subtables[si];
        let ki = st.key_index(value);
        st.rules.push((ki, priority, payload));
        self.n_rules += 1;
        Ok(())
    }

    /// Lays out the classifier. Subtables are probed in descending order of their highest
    /// priority; among equal ones, the subtable whose mask was inserted first goes first.
    pub fn build(self) -> Classifier<T> {
        Classifier {
            set: ClassifierSet::build(vec![self]),
        }
    }
}

impl<T: Copy> ClassifierSet<T> {
    /// Lays out one member per builder, in order, in shared arrays (see
    /// [`ClassifierBuilder::build`] for each member's probe order).
    pub fn build(builders: Vec<ClassifierBuilder<T>>) -> ClassifierSet<T> {
        let n_sub: usize = builders.iter().map(|b| b.subtables.len()).sum();
        let n_cells: usize = builders
            .iter()
            .flat_map(|b| b.subtables.iter())
            .map(|s| s.words.len())
            .sum();
        let n_rules: usize = builders.iter().map(|b| b.n_rules).sum();
        let mut l = Layout {
            cells: Vec::with_capacity(n_cells),
            entries: Vec::with_capacity(n_rules),
            multi: Vec::new(),
            keys: Vec::new(),
            chains: Vec::new(),
            slots: Vec::new(),
            trie_checks: Vec::new(),
            masks: Vec::with_capacity(n_sub),
        };
        let mut parts = Vec::with_capacity(builders.len());
        let mut subtables: Vec<(Subtable, SubCold)> = Vec::with_capacity(n_sub);
        let mut tries = Vec::new();
        for b in builders {
            let (t, mut checks) = if b.prefix_tries {
                build_tries(&b.subtables)
            } else {
                (Vec::new(), Vec::new())
            };
            checks.resize_with(b.subtables.len(), Vec::new);
            let part = Part {
                subtables_at: subtables.len() as u32,
                n_subtables: b.subtables.len() as u32,
                tries_at: tries.len() as u32,
                n_tries: t.len() as u32,
                n_rules: b.n_rules as u32,
            };
            tries.extend(t);
            let at = subtables.len();
            subtables.extend(
                b.subtables
                    .into_iter()
                    .zip(checks)
                    .map(|(st, checks)| st.lay_out(checks, &mut l)),
            );
            // Stable: ties keep creation order.
            subtables[at..].sort_by_key(|s| std::cmp::Reverse(s.0.max_priority));
            parts.push(part);
        }
        let (hot, sub): (Vec<Subtable>, Vec<SubCold>) = subtables.into_iter().unzip();
        ClassifierSet {
            parts: parts.into_boxed_slice(),
            subtables: hot.into_boxed_slice(),
            cells: l.cells.into_boxed_slice(),
            keys: l.keys.into_boxed_slice(),
            chains: l.chains.into_boxed_slice(),
            entries: l.entries.into_boxed_slice(),
            cold: Box::new(Cold {
                sub: sub.into_boxed_slice(),
                multi: l.multi.into_boxed_slice(),
                slots: l.slots.into_boxed_slice(),
                trie_checks: l.trie_checks.into_boxed_slice(),
                masks: l.masks.into_boxed_slice(),
                tries: tries.into_boxed_slice(),
            }),
        }
    }
}

/// The set's shared arrays while they are filled.
struct Layout<T> {
    cells: Vec<Cell>,
    entries: Vec<Entry<T>>,
    multi: Vec<Multi>,
    keys: Vec<u64>,
    chains: Vec<u32>,
    slots: Vec<u64>,
    trie_checks: Vec<TrieCheck>,
    masks: Vec<Mask>,
}

impl<T> Layout<T> {
    /// A zeroed hash region for `n` items: (offset, mask).
    fn region(&mut self, n: usize) -> (u32, u32) {
        let cap = hash::capacity_for(n);
        let at = self.slots.len();
        self.slots.resize(at + cap, 0);
        (at as u32, (cap - 1) as u32)
    }
}

/// One trie per address field that some subtable matches with a CIDR prefix, holding every
/// such subtable's prefixes; and each subtable's checks.
fn build_tries<T>(subtables: &[SubtableBuilder<T>]) -> (Vec<Trie>, Vec<Vec<TrieCheck>>) {
    let mut tries = Vec::new();
    let mut checks = vec![Vec::new(); subtables.len()];
    for field in TRIE_FIELDS {
        let mut prefixes = Vec::new();
        let stage = STAGE_OF_WORD[field.word()];
        for (si, st) in subtables.iter().enumerate() {
            let Some(plen) = field.prefix_len(&st.mask) else {
                continue;
            };
            let Some(at) = st
                .words
                .iter()
                .position(|&w| STAGE_OF_WORD[w as usize] == stage)
            else {
                continue;
            };
            checks[si].push(TrieCheck {
                trie: tries.len() as u8,
                plen,
                at: at as u8,
            });
            let n = st.words.len();
            for key in st.keys.chunks_exact(n.max(1)).take(st.hashes.len()) {
                let mut value = Flow::default();
                for (&w, &k) in st.words.iter().zip(key.iter()) {
                    value.w[w as usize] = k;
                }
                prefixes.push((field.get(&value.w), plen));
            }
        }
        if !prefixes.is_empty() {
            tries.push(Trie::build(field, &prefixes));
        }
    }
    (tries, checks)
}

impl<T: Copy> SubtableBuilder<T> {
    fn new(mask: &Mask) -> Self {
        let mut words: Vec<u8> = (0..FLOW_WORDS)
            .filter(|&i| mask.w[i] != 0)
            .map(|i| i as u8)
            .collect();
        // Stable: word order within a stage is kept.
        words.sort_by_key(|&w| STAGE_OF_WORD[w as usize]);
        SubtableBuilder {
            mask: *mask,
            words,
            keys: Vec::new(),
            hashes: Vec::new(),
            index: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// The index of `value`'s key, added if new.
    fn key_index(&mut self, value: &[u64; FLOW_WORDS]) -> u32 {
        let n = self.words.len();
        let mut key = [0u64; FLOW_WORDS];
        let mut h = hash::BASIS;
        for (i, &w) in self.words.iter().enumerate() {
            let k =
                value[w as usize & (FLOW_WORDS - 1)] & self.mask.w[w as usize & (FLOW_WORDS - 1)];
            key[i] = k;
            h = hash::add(h, k);
        }
        let key = &key[..n];
        let h = hash::finish(h);
        if self.index.len() < hash::capacity_for(self.hashes.len() + 1) {
            self.grow();
        }
        let mask = self.index.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match self.index[i] {
                0 => break,
                e => {
                    let k = e as usize - 1;
                    if self.hashes[k] == h && self.keys[k * n..(k + 1) * n] == *key {
                        return k as u32;
                    }
                }
            }
            i = (i + 1) & mask;
        }
        let k = self.hashes.len();
        self.index[i] = k as u32 + 1;
        self.hashes.push(h);
        self.keys.extend_from_slice(key);
        k as u32
    }

    fn grow(&mut self) {
        let cap = hash::capacity_for(self.hashes.len() + 1).max(8);
        self.index = vec![0; cap];
        let mask = cap - 1;
        for (k, &h) in self.hashes.iter().enumerate() {
            let mut i = h as usize & mask;
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = k as u32 + 1;
        }
    }

    /// Appends this subtable to `l` and returns its records.
    fn lay_out(
        mut self,
        mut trie_checks: Vec<TrieCheck>,
        l: &mut Layout<T>,
    ) -> (Subtable, SubCold) {
        trie_checks.sort_by_key(|c| c.at);
        let n = self.words.len();
        let n_keys = self.hashes.len();
        let single = n_keys == 1;
        // A subtable has at most four checks (one per trie field); more would be kept as
        // none, which only costs precision.
        let n_trie = u8::try_from(trie_checks.len()).unwrap_or(0);
        let mut st = Subtable {
            n_words: n as u8,
            cells_at: l.cells.len() as u32,
            n_keys: u16::try_from(n_keys).unwrap_or(u16::MAX),
            a: l.entries.len() as u32,
            n_trie,
            trie0: trie_checks.first().copied().unwrap_or_default(),
            trie_at: l.trie_checks.len() as u32,
            min_priority: u16::MAX,
            ..Subtable::default()
        };
        let mut sc = SubCold {
            n_keys: n_keys as u32,
            multi: 0,
            mask: l.masks.len() as u32,
        };
        // Stage boundaries: the end of every non-empty stage except the last one.
        let mut ends = [0u8; MAX_STAGE_ENDS];
        let mut n_ends = 0;
        for i in 1..n {
            if STAGE_OF_WORD[self.words[i] as usize] != STAGE_OF_WORD[self.words[i - 1] as usize]
                && n_ends < MAX_STAGE_ENDS
            {
                ends[n_ends] = i as u8;
                n_ends += 1;
            }
        }
        for (i, &w) in self.words.iter().enumerate() {
            let stage_end = ends[..n_ends].iter().copied().find(|&e| usize::from(e) > i);
            l.cells.push(Cell {
                mask: self.mask.w[w as usize],
                key: if single { self.keys[i] } else { 0 },
                word: w,
                end: stage_end.unwrap_or(n as u8),
                last: stage_end.is_none(),
            });
        }
        if n_trie > 0 {
            l.trie_checks.extend(trie_checks);
        }
        l.masks.push(self.mask);

        st.n_stages = n_ends as u8;
        st.stage_end = ends;

        // Chains: rules grouped by key (stable), each by descending priority (stable, so
        // among equal priorities the first inserted stays first).
        self.rules
            .sort_by_key(|&(k, p, _)| (k, std::cmp::Reverse(p)));
        for &(_, p, _) in &self.rules {
            st.max_priority = st.max_priority.max(p);
            st.min_priority = st.min_priority.min(p);
        }
        if !single {
            st.a = l.keys.len() as u32;
            st.b = l.chains.len() as u32;
            l.keys.extend_from_slice(&self.keys);
            let base = l.entries.len();
            let mut r = 0;
            for k in 0..n_keys {
                l.chains.push((base + r) as u32);
                while r < self.rules.len() && self.rules[r].0 as usize == k {
                    r += 1;
                }
            }
            l.chains.push((base + r) as u32);
            if st.n_keys > LINEAR_KEYS {
                sc.multi = l.multi.len() as u32;
                let m = self.hash_regions(n_ends, &ends, l);
                l.multi.push(m);
            }
        }
        l.entries.extend(
            self.rules
                .iter()
                .map(|&(_, priority, payload)| Entry { priority, payload }),
        );
        if single {
            st.b = l.entries.len() as u32;
        }
        (st, sc)
    }

    /// The key table and stage sets of a subtable searched by hashing.
    fn hash_regions(&self, n_ends: usize, ends: &[u8; MAX_STAGE_ENDS], l: &mut Layout<T>) -> Multi {
        let n = self.words.len();
        let n_keys = self.hashes.len();
        let mut m = Multi::default();
        // Running hash state of every key at every stage end, then the full hash.
        (m.table_at, m.table_mask) = l.region(n_keys);
        for s in 0..n_ends {
            (m.set_at[s], m.set_mask[s]) = l.region(n_keys);
        }
        for (ki, key) in self.keys.chunks_exact(n.max(1)).take(n_keys).enumerate() {
            let mut h = hash::BASIS;
            let mut stage = 0;
            for (i, &w) in key[..n].iter().enumerate() {
                if stage < n_ends && usize::from(ends[stage]) == i {
                    let (sa, sm) = (m.set_at[stage] as usize, m.set_mask[stage] as usize);
                    hash::set_insert(&mut l.slots[sa..=sa + sm], hash::finish(h));
                    stage += 1;
                }
                h = hash::add(h, w);
            }
            let (ta, tm) = (m.table_at as usize, m.table_mask as usize);
            // ki < MAX_RULES < u32::MAX, checked by `insert`.
            hash::table_insert(&mut l.slots[ta..=ta + tm], hash::finish(h), ki as u32);
        }
        m
    }
}
