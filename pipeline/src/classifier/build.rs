//! Building a [`Classifier`]: collect conjunctions per mask, then lay every subtable out
//! flat (keys, chains, hash table, staged indices) and sort the subtables by priority.

use std::collections::HashMap;

use super::hash::{self, HashSet, Table};
use super::trie::{Trie, TRIE_FIELDS};
use super::{Classifier, Entry, Stage, Subtable, TrieCheck, STAGE_OF_WORD};
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
    by_mask: HashMap<Mask, usize>,
    subtables: Vec<SubtableBuilder<T>>,
    n_rules: usize,
    prefix_tries: bool,
}

struct SubtableBuilder<T> {
    mask: Mask,
    /// Non-zero mask words in stage order.
    words: Vec<u8>,
    by_key: HashMap<Box<[u64]>, usize>,
    keys: Vec<Box<[u64]>>,
    /// One chain per key, in insertion order until `build` sorts it.
    chains: Vec<Vec<Entry<T>>>,
}

impl<T: Copy> Default for ClassifierBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> ClassifierBuilder<T> {
    pub fn new() -> Self {
        ClassifierBuilder {
            by_mask: HashMap::new(),
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
        if self.n_rules >= MAX_RULES {
            return Err(ClassifierError::TooManyRules);
        }
        let si = match self.by_mask.get(mask) {
            Some(&si) => si,
            None => {
                let si = self.subtables.len();
                self.subtables.push(SubtableBuilder::new(mask));
                self.by_mask.insert(*mask, si);
                si
            }
        };
        let st = &mut self.subtables[si];
        let key: Box<[u64]> = st
            .words
            .iter()
            .map(|&w| value.w[w as usize] & mask.w[w as usize])
            .collect();
        let ci = match st.by_key.get(&key) {
            Some(&ci) => ci,
            None => {
                let ci = st.keys.len();
                st.keys.push(key.clone());
                st.by_key.insert(key, ci);
                st.chains.push(Vec::new());
                ci
            }
        };
        st.chains[ci].push(Entry { priority, payload });
        self.n_rules += 1;
        Ok(())
    }

    /// Lays out the classifier. Subtables are probed in descending order of their highest
    /// priority; among equal ones, the subtable whose mask was inserted first goes first.
    pub fn build(self) -> Classifier<T> {
        let (tries, mut checks) = if self.prefix_tries {
            build_tries(&self.subtables)
        } else {
            (Vec::new(), Vec::new())
        };
        checks.resize_with(self.subtables.len(), Vec::new);
        let mut subtables: Vec<Subtable<T>> = self
            .subtables
            .into_iter()
            .zip(checks)
            .map(|(st, checks)| st.build(checks))
            .collect();
        // Stable: ties keep creation order.
        subtables.sort_by_key(|s| std::cmp::Reverse(s.max_priority));
        Classifier {
            subtables: subtables.into_boxed_slice(),
            tries: tries.into_boxed_slice(),
            n_rules: self.n_rules,
        }
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
            for key in &st.keys {
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
            by_key: HashMap::new(),
            keys: Vec::new(),
            chains: Vec::new(),
        }
    }

    fn build(self, mut trie_checks: Vec<TrieCheck>) -> Subtable<T> {
        trie_checks.sort_by_key(|c| c.at);
        let n_words = self.words.len();
        let word_masks: Box<[u64]> = self
            .words
            .iter()
            .map(|&w| self.mask.w[w as usize])
            .collect();

        // Stage boundaries: the end of every non-empty stage except the last one.
        let mut ends = Vec::new();
        for i in 1..n_words {
            if STAGE_OF_WORD[self.words[i] as usize] != STAGE_OF_WORD[self.words[i - 1] as usize] {
                ends.push(i);
            }
        }

        // Running hash state of every key at every stage end, then the full hash.
        let mut partial: Vec<Vec<u64>> = vec![Vec::with_capacity(self.keys.len()); ends.len()];
        let mut table = Table::with_capacity(self.keys.len());
        for (ki, key) in self.keys.iter().enumerate() {
            let mut h = hash::BASIS;
            let mut stage = 0;
            for (i, &w) in key.iter().enumerate() {
                if stage < ends.len() && ends[stage] == i {
                    partial[stage].push(hash::finish(h));
                    stage += 1;
                }
                h = hash::add(h, w);
            }
            // ki < MAX_RULES < u32::MAX, checked by `insert`.
            table.insert(hash::finish(h), ki as u32);
        }
        let stages: Box<[Stage]> = ends
            .iter()
            .zip(&partial)
            .map(|(&end, hashes)| Stage {
                end: end as u8,
                set: HashSet::from_hashes(hashes),
            })
            .collect();

        let mut keys = Vec::with_capacity(self.keys.len() * n_words);
        let mut chains = Vec::with_capacity(self.keys.len() + 1);
        let mut entries = Vec::with_capacity(self.chains.iter().map(Vec::len).sum());
        let (mut max_priority, mut min_priority) = (0u16, u16::MAX);
        for (key, mut chain) in self.keys.iter().zip(self.chains) {
            keys.extend_from_slice(key);
            // Stable: among equal priorities the first inserted stays first.
            chain.sort_by_key(|e| std::cmp::Reverse(e.priority));
            chains.push(entries.len() as u32);
            for e in &chain {
                max_priority = max_priority.max(e.priority);
                min_priority = min_priority.min(e.priority);
            }
            entries.extend(chain);
        }
        chains.push(entries.len() as u32);

        Subtable {
            mask: Box::new(self.mask),
            words: self.words.into_boxed_slice(),
            word_masks,
            stages,
            trie_checks: trie_checks.into_boxed_slice(),
            table,
            keys: keys.into_boxed_slice(),
            chains: chains.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            max_priority,
            min_priority,
        }
    }
}
