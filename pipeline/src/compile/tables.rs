//! From per-table builders to the executor's layout: per (datapath, pipeline) one
//! [`ClassifierSet`] (a member per table) and one array of entries, and for the whole
//! pipeline one array of ops, laid out in (datapath, pipeline, table) order so that a
//! packet walking a pipeline reads memory mostly forwards. A program shared by several
//! datapaths (a `Logical_DP_Group` flow) is stored once.

use super::dnf::{Conj, Residual};
use super::program::Op;
use crate::actions::Pipeline;
use crate::classifier::{ClassifierBuilder, ClassifierError, ClassifierSet, Part};

/// One table's compiled flows: where they are in its datapath's arrays.
#[derive(Clone, Copy, Debug, Default)]
pub struct Table {
    /// The table holds exactly one conjunction and it matches every packet (`1`, no
    /// residual): (priority, entry). Lookups skip the classifier and read nothing.
    pub(crate) only: Option<(u16, u32)>,
    /// Number of consecutive tables from this one (same datapath and pipeline) that are
    /// trivial and only say `next;`: without tracing the executor skips them at once,
    /// counting them as lookups (they read nothing and change nothing).
    pub(crate) pass: u16,
    /// Its entries are `CompiledDatapath::entries[pipeline][entries_at..][..n_entries]`;
    /// classifier payloads count from `entries_at`.
    pub(crate) entries_at: u32,
    n_entries: u32,
    /// The table's member of its pipeline's classifier set.
    pub(crate) cls: Part,
}

impl Table {
    /// Number of classifier conjunctions.
    pub fn n_conjunctions(&self) -> usize {
        self.cls.n_rules as usize
    }
    /// Number of logical flows.
    pub fn n_flows(&self) -> usize {
        self.n_entries as usize
    }
    /// Number of distinct masks (classifier subtables).
    pub fn n_subtables(&self) -> usize {
        self.cls.n_subtables as usize
    }
    /// Whether lookups skip the classifier (one catch-all flow).
    pub fn is_trivial(&self) -> bool {
        self.only.is_some()
    }
}

/// A compiled logical flow in one table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// Index into [`super::Compiled::flows`].
    pub flow: u32,
    /// Its program is `Compiled::ops[ops_at..][..n_ops]`.
    pub ops_at: u32,
    pub n_ops: u16,
    /// The program is just `next(pipeline, table)`: 0 no, 1 ingress, 2 egress; then the
    /// executor moves on without interpreting it.
    pub next_pipe: u8,
    pub next_table: u8,
    /// Index into `Compiled::residuals`, or [`NO_RESIDUAL`].
    pub residual: u32,
}

pub(crate) const NO_RESIDUAL: u32 = u32::MAX;

/// A flow waiting for the layout.
struct Pending {
    flow: u32,
    /// Index into [`Builders::progs`].
    prog: u32,
    residual: Option<Residual>,
}

/// One table while flows are added.
#[derive(Default)]
struct Tb {
    b: ClassifierBuilder<u32>,
    entries: Vec<Pending>,
    /// The last conjunction inserted, if it had an all-zero mask and no residual.
    last_any: Option<(u16, u32)>,
}

/// Every datapath's tables while flows are added, and the programs.
pub(crate) struct Builders {
    /// [datapath][pipeline][table].
    dps: Vec<[Vec<Tb>; 2]>,
    progs: Vec<Vec<Op>>,
}

/// One datapath's compiled pipelines.
pub(crate) struct Pipes {
    pub tables: [Vec<Table>; 2],
    pub cls: [ClassifierSet<u32>; 2],
    pub entries: [Box<[Entry]>; 2],
}

impl Builders {
    pub fn new(n_datapaths: usize) -> Self {
        Builders {
            dps: (0..n_datapaths).map(|_| [Vec::new(), Vec::new()]).collect(),
            progs: Vec::new(),
        }
    }

    /// Stores a program; the result is shared by every [`Builders::add`] given it.
    pub fn program(&mut self, ops: Vec<Op>) -> u32 {
        self.progs.push(ops);
        (self.progs.len() - 1) as u32
    }

    /// Adds flow `flow` (its conjunctions, residual and program) to table `table` of
    /// datapath `dp`'s pipeline `pi`.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        dp: usize,
        pi: usize,
        table: u8,
        priority: u16,
        flow: u32,
        prog: u32,
        conjs: &[Conj],
        residual: Option<Residual>,
    ) -> Result<(), ClassifierError> {
        let Some(pipes) = self.dps.get_mut(dp) else {
            return Ok(());
        };
        let tables = &mut pipes[pi & 1];
        let ti = usize::from(table);
        if tables.len() <= ti {
            tables.resize_with(ti + 1, Tb::default);
        }
        let tb = &mut tables[ti];
        let ei = tb.entries.len() as u32;
        let plain = residual.is_none();
        tb.entries.push(Pending {
            flow,
            prog,
            residual,
        });
        for c in conjs {
            tb.last_any = (plain && c.mask.iter().all(|w| *w == 0)).then_some((priority, ei));
            tb.b.insert_words(priority, &c.value, &c.mask, ei)?;
        }
        Ok(())
    }

    /// Lays everything out: per datapath its pipes, plus the ops and residuals arrays.
    pub fn finish(self) -> (Vec<Pipes>, Box<[Op]>, Box<[Residual]>) {
        let Builders { dps, mut progs } = self;
        // Where each program went in `ops` (n_ops == u32::MAX: not yet placed).
        let mut placed: Vec<(u32, u32)> = vec![(0, u32::MAX); progs.len()];
        let n_ops: usize = progs.iter().map(Vec::len).sum();
        let mut ops: Vec<Op> = Vec::with_capacity(n_ops);
        let mut residuals = Vec::new();
        let mut out = Vec::with_capacity(dps.len());
        for [ing, eg] in dps {
            let (t0, c0, e0) = pipe(
                ing,
                Pipeline::Ingress,
                &mut progs,
                &mut placed,
                &mut ops,
                &mut residuals,
            );
            let (t1, c1, e1) = pipe(
                eg,
                Pipeline::Egress,
                &mut progs,
                &mut placed,
                &mut ops,
                &mut residuals,
            );
            out.push(Pipes {
                tables: [t0, t1],
                cls: [c0, c1],
                entries: [e0, e1],
            });
        }
        (out, ops.into_boxed_slice(), residuals.into_boxed_slice())
    }
}

/// One pipeline of one datapath.
fn pipe(
    v: Vec<Tb>,
    p: Pipeline,
    progs: &mut [Vec<Op>],
    placed: &mut [(u32, u32)],
    ops: &mut Vec<Op>,
    residuals: &mut Vec<Residual>,
) -> (Vec<Table>, ClassifierSet<u32>, Box<[Entry]>) {
    let n: usize = v.iter().map(|t| t.entries.len()).sum();
    let mut entries = Vec::with_capacity(n);
    let mut tables = Vec::with_capacity(v.len());
    let mut builders = Vec::with_capacity(v.len());
    for (ti, tb) in v.into_iter().enumerate() {
        let only = tb.last_any.filter(|_| tb.b.len() == 1);
        let entries_at = entries.len();
        tables.push(Table {
            only,
            pass: 0,
            entries_at: entries_at as u32,
            n_entries: tb.entries.len() as u32,
            cls: Part::default(),
        });
        for e in tb.entries {
            let pi = e.prog as usize;
            let (at, len) = match placed.get(pi) {
                Some(&(at, len)) if len != u32::MAX => (at, len),
                _ => {
                    let mut prog = progs.get_mut(pi).map(std::mem::take).unwrap_or_default();
                    // Programs longer than u16::MAX ops (never seen) keep their head.
                    prog.truncate(usize::from(u16::MAX));
                    let r = (ops.len() as u32, prog.len() as u32);
                    ops.extend(prog);
                    if let Some(slot) = placed.get_mut(pi) {
                        *slot = r;
                    }
                    r
                }
            };
            let residual = match e.residual {
                Some(r) => {
                    residuals.push(r);
                    (residuals.len() - 1) as u32
                }
                None => NO_RESIDUAL,
            };
            let (next_pipe, next_table) = match ops.get(at as usize..(at + len) as usize) {
                Some([Op::Next { pipeline, table }]) => {
                    (if *pipeline == Pipeline::Egress { 2 } else { 1 }, *table)
                }
                _ => (0, 0),
            };
            entries.push(Entry {
                flow: e.flow,
                ops_at: at,
                n_ops: len as u16,
                next_pipe,
                next_table,
                residual,
            });
        }
        builders.push(tb.b);
        let pipe_code = if p == Pipeline::Egress { 2 } else { 1 };
        let next_only = only
            .and_then(|(_, e)| entries.get(entries_at + e as usize))
            .is_some_and(|e: &Entry| {
                e.next_pipe == pipe_code && usize::from(e.next_table) == ti + 1
            });
        if let Some(t) = tables.last_mut() {
            t.pass = u16::from(next_only);
        }
    }
    // Pass-through runs, counted from the end.
    for ti in (0..tables.len()).rev() {
        if tables[ti].pass != 0 {
            let after = tables.get(ti + 1).map_or(0, |t| t.pass);
            tables[ti].pass = after.saturating_add(1);
        }
    }
    let cls = ClassifierSet::build(builders);
    for (ti, t) in tables.iter_mut().enumerate() {
        t.cls = cls.member_id(ti).unwrap_or_default();
    }
    (tables, cls, entries.into_boxed_slice())
}
