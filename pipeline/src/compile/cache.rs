//! [`CompileCache`]: what one compile keeps for the next, so that a Southbound change
//! recompiles only the flows it touches (issue: "the control thread recompiles only what a
//! change touches").
//!
//! Per logical flow (by uuid) it keeps the parsed match and actions, valid while the
//! flow's text, pipeline and table and the chassis' template variables are unchanged; and
//! per (flow, datapath) the compiled conjunctions and program together with the names
//! that compile looked up ([`deps`](super::deps)), valid while every one of those names
//! still resolves the same way. Everything else (classifier layout, port tables) is
//! rebuilt from these pieces on every compile. Entries of flows that disappeared are
//! dropped at the end of each compile.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::deps::{still_hold, Dep, Recorder};
use super::dnf::{CompiledMatch, Names};
use super::program::Op;
use crate::actions::Pipeline;
use crate::classifier::FastHash;
use crate::model::LogicalFlow;
use crate::Expr;

/// A parse result: the annotated match and the actions, or the rejection reason.
pub(crate) type Parsed = Result<(Arc<Expr>, Arc<[crate::Action]>), String>;
/// A per-datapath compile result, or the rejection reason.
pub(crate) type Built = Result<(CompiledMatch, Vec<Op>), String>;

/// Reuse counters of the last compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Flows whose parse was reused / redone.
    pub parse_reused: usize,
    pub parsed: usize,
    /// (flow, datapath) compiles reused / redone.
    pub build_reused: usize,
    pub built: usize,
}

/// Compile results kept between compiles; see the module note. Pass the same cache to
/// every [`compile_cached`](super::compile_cached) of one chassis.
#[derive(Default)]
pub struct CompileCache {
    generation: u64,
    templates: u64,
    flows: HashMap<String, CachedFlow, FastHash>,
    stats: CacheStats,
}

pub(crate) struct CachedFlow {
    generation: u64,
    match_: String,
    actions: String,
    pipeline: Pipeline,
    table: u8,
    parsed: Parsed,
    /// By datapath uuid ("" for a result shared by every datapath of a group).
    per_dp: HashMap<Box<str>, (Box<[Dep]>, Built), FastHash>,
}

impl CompileCache {
    /// An empty cache.
    pub fn new() -> CompileCache {
        CompileCache::default()
    }

    /// What the last compile reused.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Starts a compile: a new generation; everything is dropped when the template
    /// variables changed (they are expanded into the texts before parsing).
    pub(crate) fn begin(&mut self, template_vars: &HashMap<String, String>) {
        let mut pairs: Vec<(&String, &String)> = template_vars.iter().collect();
        pairs.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pairs.hash(&mut h);
        let templates = h.finish();
        if templates != self.templates {
            self.flows.clear();
            self.templates = templates;
        }
        self.generation += 1;
        self.stats = CacheStats::default();
    }

    /// Ends a compile: drops the flows it did not see.
    pub(crate) fn end(&mut self) {
        let g = self.generation;
        self.flows.retain(|_, f| f.generation == g);
    }

    /// The parse of `lf`, from the cache or from `parse`.
    pub(crate) fn parsed(&mut self, lf: &LogicalFlow, parse: impl FnOnce() -> Parsed) -> Parsed {
        let g = self.generation;
        if let Some(f) = self.flows.get_mut(lf.uuid.as_str()) {
            if f.match_ == lf.match_
                && f.actions == lf.actions
                && f.pipeline == lf.pipeline
                && f.table == lf.table_id
            {
                f.generation = g;
                self.stats.parse_reused += 1;
                return f.parsed.clone();
            }
        }
        self.stats.parsed += 1;
        let parsed = parse();
        self.flows.insert(
            lf.uuid.clone(),
            CachedFlow {
                generation: g,
                match_: lf.match_.clone(),
                actions: lf.actions.clone(),
                pipeline: lf.pipeline,
                table: lf.table_id,
                parsed: parsed.clone(),
                per_dp: HashMap::default(),
            },
        );
        parsed
    }

    /// The compile of flow `uuid` (already passed to [`Self::parsed`]) for datapath key
    /// `dp` under `names`: reused when every name it looked up still resolves the same.
    pub(crate) fn built(
        &mut self,
        uuid: &str,
        dp: &str,
        names: &dyn Names,
        build: impl FnOnce(&dyn Names) -> Built,
    ) -> Built {
        let Some(f) = self.flows.get_mut(uuid) else {
            self.stats.built += 1;
            return build(names);
        };
        if let Some((deps, b)) = f.per_dp.get(dp) {
            if still_hold(deps, names) {
                self.stats.build_reused += 1;
                return b.clone();
            }
        }
        self.stats.built += 1;
        let rec = Recorder::new(names);
        let b = build(&rec);
        f.per_dp.insert(dp.into(), (rec.into_deps(), b.clone()));
        b
    }
}
