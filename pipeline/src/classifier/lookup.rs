//! The lookup: subtables in probe order with the priority cut-off; per subtable, key
//! comparison (one or a few keys) or staged hashing, then the miss path with the prefix
//! tries.

use super::trie::{TrieResult, N_TRIES, TRIE_FIELDS};
use super::{
    hash, Cell, Cursor, Hit, LookupStats, Member, Subtable, TrieCheck, TrieCtx, FLOW_WORDS,
    LINEAR_KEYS, MAX_STAGE_ENDS,
};
use crate::flow::{Flow, Mask};

pub(super) trait Observer {
    fn probe(&mut self);
    fn stage_miss(&mut self);
    fn compare(&mut self);
}

pub(super) struct NoStats;

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

impl TrieCtx {
    #[inline(always)]
    fn new() -> Self {
        TrieCtx {
            done: 0,
            plens: [0; N_TRIES],
            maskbits: [0; N_TRIES],
            field: [0; N_TRIES],
        }
    }
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

/// The packet's bits under a cell.
#[inline(always)]
fn at(pkt: &Flow, c: &Cell) -> u64 {
    pkt.w[c.word as usize & (FLOW_WORDS - 1)] & c.mask
}

/// ORs the masks of `cells[..end]` into `wc`.
#[inline(always)]
fn unwildcard(cells: &[Cell], end: usize, wc: &mut Mask) {
    for c in cells.iter().take(end) {
        wc.w[c.word as usize & (FLOW_WORDS - 1)] |= c.mask;
    }
}

impl<T: Copy> Member<'_, T> {
    #[inline(always)]
    pub(super) fn search<O: Observer>(
        &self,
        pkt: &Flow,
        wc: &mut Mask,
        after: Option<Cursor>,
        obs: &mut O,
    ) -> Option<Hit<T>> {
        let mut best: Option<Hit<T>> = None;
        let mut tries = TrieCtx::new();
        let subtables = self.set.subtables.get(self.range()).unwrap_or(&[]);
        for (si, st) in subtables.iter().enumerate() {
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
            if let Some(ei) = self.find(st, pkt, wc, si, after.as_ref(), &mut tries, obs) {
                let Some(&e) = self.set.entries.get(ei) else {
                    continue;
                };
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

    /// The first entry of `st` matching `pkt` (and after `after`, if given), unwildcarding
    /// the words examined.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn find<O: Observer>(
        &self,
        st: &Subtable,
        pkt: &Flow,
        wc: &mut Mask,
        si: usize,
        after: Option<&Cursor>,
        ctx: &mut TrieCtx,
        obs: &mut O,
    ) -> Option<usize> {
        let n = usize::from(st.n_words);
        let ca = st.cells_at as usize;
        let cells = self.set.cells.get(ca..ca + n)?;
        let (start, end) = if st.n_keys == 1 {
            for c in cells {
                if at(pkt, c) != c.key {
                    if c.last {
                        obs.compare();
                    } else {
                        obs.stage_miss();
                    }
                    self.miss(st, cells, usize::from(c.end), pkt, wc, ctx);
                    return None;
                }
            }
            obs.compare();
            (st.a as usize, st.b as usize)
        } else if st.n_keys <= LINEAR_KEYS {
            self.find_linear(st, cells, pkt, wc, ctx, obs)?
        } else {
            self.find_hashed(st, si, cells, pkt, wc, ctx, obs)?
        };
        unwildcard(cells, n, wc);
        let chain = self.set.entries.get(start..end)?;
        match after {
            None => (!chain.is_empty()).then_some(start),
            Some(c) => (start..end)
                .zip(chain)
                .find(|(ei, e)| c.comes_before(e.priority, si, *ei))
                .map(|(ei, _)| ei),
        }
    }

    /// [`Member::find_hashed`] for a few keys: compares the packet with each key in stage
    /// order. The stage where the longest partial match failed is the first stage for
    /// which no key matches the packet's prefix, where the staged hash lookup stops: the
    /// same words are unwildcarded.
    #[inline(always)]
    fn find_linear<O: Observer>(
        &self,
        st: &Subtable,
        cells: &[Cell],
        pkt: &Flow,
        wc: &mut Mask,
        ctx: &mut TrieCtx,
        obs: &mut O,
    ) -> Option<(usize, usize)> {
        let n = cells.len();
        let ka = st.a as usize;
        let keys = self.set.keys.get(ka..ka + n * usize::from(st.n_keys))?;
        let mut longest = 0;
        for k in 0..usize::from(st.n_keys) {
            let key = keys.get(k * n..k * n + n).unwrap_or(&[]);
            let i = key
                .iter()
                .zip(cells)
                .position(|(&kw, c)| at(pkt, c) != kw)
                .unwrap_or(n);
            if i == n {
                obs.compare();
                let c = st.b as usize + k;
                let chains = &self.set.chains;
                return Some((*chains.get(c)? as usize, *chains.get(c + 1)? as usize));
            }
            longest = longest.max(i);
        }
        let c = cells.get(longest)?;
        if c.last {
            obs.compare();
        } else {
            obs.stage_miss();
        }
        let end = usize::from(c.end);
        self.miss(st, cells, end, pkt, wc, ctx);
        None
    }

    /// The chain (entry range) of the key of multi-key subtable `st` that `pkt` matches,
    /// by staged hashing; `None` (after unwildcarding) when there is none.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn find_hashed<O: Observer>(
        &self,
        st: &Subtable,
        si: usize,
        cells: &[Cell],
        pkt: &Flow,
        wc: &mut Mask,
        ctx: &mut TrieCtx,
        obs: &mut O,
    ) -> Option<(usize, usize)> {
        let set = self.set;
        let cold = &set.cold;
        let sc = cold.sub.get(self.part.subtables_at as usize + si)?;
        let m = cold.multi.get(sc.multi as usize)?;
        let n = cells.len();
        let n_stages = usize::from(st.n_stages).min(MAX_STAGE_ENDS);
        let mut h = hash::BASIS;
        let mut i = 0;
        for s in 0..n_stages {
            let end = usize::from(st.stage_end[s]).min(n);
            while i < end {
                h = hash::add(h, at(pkt, &cells[i]));
                i += 1;
            }
            let (sa, sm) = (m.set_at[s] as usize, m.set_mask[s] as usize);
            if !hash::set_contains(&cold.slots, sa, sm, hash::finish(h)) {
                obs.stage_miss();
                self.miss(st, cells, end, pkt, wc, ctx);
                return None;
            }
        }
        while i < n {
            h = hash::add(h, at(pkt, &cells[i]));
            i += 1;
        }
        let ka = st.a as usize;
        let (ta, tm) = (m.table_at as usize, m.table_mask as usize);
        let found = hash::table_find(&cold.slots, ta, tm, hash::finish(h), |k| {
            obs.compare();
            let key = set.keys.get(ka + k * n..ka + (k + 1) * n).unwrap_or(&[]);
            key.len() == n && key.iter().zip(cells).all(|(&kw, c)| at(pkt, c) == kw)
        });
        let Some(k) = found else {
            self.miss(st, cells, n, pkt, wc, ctx);
            return None;
        };
        let c = st.b as usize + k;
        Some((
            *set.chains.get(c)? as usize,
            *set.chains.get(c + 1)? as usize,
        ))
    }

    /// Unwildcards what proves that no rule of `st` matches, the keys having failed after
    /// `cells[..end]`: those words, or, if the prefix trie of a field among them rules the
    /// subtable out, only the address bits the trie walk read (the absence of a length-`L`
    /// prefix depends on nothing else). Tries are consulted only here, and only for fields
    /// already compared, so a hit never pays for a trie walk.
    #[inline(always)]
    fn miss(
        &self,
        st: &Subtable,
        cells: &[Cell],
        end: usize,
        pkt: &Flow,
        wc: &mut Mask,
        ctx: &mut TrieCtx,
    ) {
        let ruled_out = match st.n_trie {
            0 => false,
            // The common case, without leaving the loop: one check, usually of a trie
            // already walked for this lookup.
            1 => {
                let tc = st.trie0;
                usize::from(tc.at) < end && self.trie_check(tc, pkt, wc, ctx)
            }
            _ => self.trie_rules_out(st, end, pkt, wc, ctx),
        };
        if !ruled_out {
            unwildcard(cells, end, wc);
        }
    }

    /// Whether check `tc` rules its subtable out; if so, unwildcards the trie bits.
    #[inline(always)]
    fn trie_check(&self, tc: TrieCheck, pkt: &Flow, wc: &mut Mask, ctx: &mut TrieCtx) -> bool {
        let t = usize::from(tc.trie) & (N_TRIES - 1);
        if ctx.done & (1 << t) == 0 {
            let Some((r, field)) = self.trie_walk(t, pkt) else {
                return false;
            };
            ctx.plens[t] = r.plens;
            ctx.maskbits[t] = r.maskbits;
            ctx.field[t] = field;
            ctx.done |= 1 << t;
        }
        if tc.plen == 0 || ctx.plens[t] & (1u128 << (tc.plen - 1)) != 0 {
            return false;
        }
        TRIE_FIELDS[usize::from(ctx.field[t]) & (N_TRIES - 1)]
            .unwildcard_prefix(wc, u32::from(ctx.maskbits[t].min(tc.plen)));
        true
    }

    /// Walks this member's trie `t` with the packet's address: the result and the index
    /// of the trie's field.
    #[inline(never)]
    fn trie_walk(&self, t: usize, pkt: &Flow) -> Option<(TrieResult, u8)> {
        let trie = self
            .set
            .cold
            .tries
            .get(self.part.tries_at as usize..)?
            .get(t)?;
        Some((trie.lookup(pkt), trie.field().index))
    }

    /// Runs the trie checks of `st` for fields within its `cells[..end]`. When one rules
    /// the subtable out, unwildcards the trie bits and returns true.
    #[inline(never)]
    fn trie_rules_out(
        &self,
        st: &Subtable,
        end: usize,
        pkt: &Flow,
        wc: &mut Mask,
        ctx: &mut TrieCtx,
    ) -> bool {
        let cold = &self.set.cold;
        let ta = st.trie_at as usize;
        let checks = cold
            .trie_checks
            .get(ta..ta + usize::from(st.n_trie))
            .unwrap_or(&[]);
        for &tc in checks.iter().filter(|tc| (tc.at as usize) < end) {
            if self.trie_check(tc, pkt, wc, ctx) {
                return true;
            }
        }
        false
    }
}
