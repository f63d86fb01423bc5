//! Match expressions to bit matches: an annotated [`Expr`] (names already resolvable) is
//! put in negation normal form (`!` only on comparisons, which are then inverted), each
//! comparison becomes a disjunction of [`Conj`]unctions of bit matches over the [`Flow`]
//! (as OVN's lib/expr.c does: `!=` is "some masked bit differs", `<`/`>` are prefix
//! decompositions, sets are one conjunction per member), and the tree is multiplied out
//! into disjunctive normal form.
//!
//! Size guard: if the DNF would exceed [`MAX_CONJ`] conjunctions, the part of a top-level
//! `&&` that is a single conjunction goes to the classifier and the rest stays a
//! [`Residual`] tree evaluated at run time ([`Residual::eval`] records every bit it reads).

use crate::expr::{Expr, RelOp};
use crate::flow::{Flow, Mask, FLOW_WORDS};
use crate::parser::{FieldRef, Value};
use crate::symtab::{Slot, Storage, Symtab};

/// Most conjunctions one flow may expand to before the residual fallback.
pub const MAX_CONJ: usize = 4096;

/// One conjunction of bit matches: a packet `p` matches when `p & mask == value`.
/// Plain word arrays (not the 64-byte aligned [`Flow`]/[`Mask`]) so that vectors of them
/// allocate cheaply; see [`Conj::flow`] and [`Conj::mask`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conj {
    pub value: [u64; FLOW_WORDS],
    pub mask: [u64; FLOW_WORDS],
}

impl Conj {
    /// Matches everything.
    pub fn any() -> Conj {
        Conj {
            value: [0; FLOW_WORDS],
            mask: [0; FLOW_WORDS],
        }
    }

    /// The value as a [`Flow`].
    pub fn flow(&self) -> Flow {
        Flow { w: self.value }
    }

    /// The mask as a [`Mask`].
    pub fn mask(&self) -> Mask {
        Mask { w: self.mask }
    }

    /// Both constraints, or `None` when they contradict.
    pub fn and(&self, o: &Conj) -> Option<Conj> {
        let mut out = *self;
        for i in 0..FLOW_WORDS {
            let both = self.mask[i] & o.mask[i];
            if (self.value[i] ^ o.value[i]) & both != 0 {
                return None;
            }
            out.mask[i] |= o.mask[i];
            out.value[i] |= o.value[i] & o.mask[i];
        }
        Some(out)
    }

    /// Whether `p` matches; ORs the mask into `wc`.
    #[inline]
    pub fn matches(&self, p: &Flow, wc: &mut Mask) -> bool {
        for i in 0..FLOW_WORDS {
            wc.w[i] |= self.mask[i];
        }
        (0..FLOW_WORDS).all(|i| p.w[i] & self.mask[i] == self.value[i])
    }

    /// Constrains `slot` bits `mask` (in slot coordinates) to `val`. `false` on conflict.
    pub fn put(&mut self, slot: &Slot, val: u128, mask: u128) -> bool {
        let width = slot_width(slot);
        let lim = if width >= 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        let (val, mask) = (val & mask & lim, mask & lim);
        match slot.storage {
            Storage::Narrow(f) | Storage::Port(f) => {
                let sh = u32::from(f.shift) + u32::from(slot.ofs);
                if sh >= 64 {
                    return false;
                }
                let wi = f.word as usize & (FLOW_WORDS - 1);
                self.put_word(wi, (val as u64) << sh, (mask as u64) << sh)
            }
            Storage::Wide(f) => {
                let sh = u32::from(slot.ofs);
                let (v, m) = (
                    val.checked_shl(sh).unwrap_or(0),
                    mask.checked_shl(sh).unwrap_or(0),
                );
                let wi = f.word as usize & (FLOW_WORDS - 1);
                let wj = (wi + 1) & (FLOW_WORDS - 1);
                self.put_word(wi, (v >> 64) as u64, (m >> 64) as u64)
                    && self.put_word(wj, v as u64, m as u64)
            }
            Storage::Ovn(_) => false,
        }
    }

    /// Constrains word `i` bits `m` to `v`; `false` (and unchanged) on conflict.
    #[inline]
    fn put_word(&mut self, i: usize, v: u64, m: u64) -> bool {
        if (self.value[i] ^ v) & self.mask[i] & m != 0 {
            return false;
        }
        self.mask[i] |= m;
        self.value[i] |= v & m;
        true
    }

    /// Whether `self && o` is satisfiable.
    #[inline]
    pub fn compatible(&self, o: &Conj) -> bool {
        let mut bad = 0;
        for i in 0..FLOW_WORDS {
            bad |= (self.value[i] ^ o.value[i]) & self.mask[i] & o.mask[i];
        }
        bad == 0
    }

    /// `self &= o` for a compatible `o`.
    #[inline]
    fn merge(&mut self, o: &Conj) {
        for i in 0..FLOW_WORDS {
            self.mask[i] |= o.mask[i];
            self.value[i] |= o.value[i] & o.mask[i];
        }
    }

    /// `self &= o` in place; `false` on conflict (then `self` is unspecified).
    #[inline]
    pub fn and_assign(&mut self, o: &Conj) -> bool {
        let mut bad = 0;
        for i in 0..FLOW_WORDS {
            bad |= (self.value[i] ^ o.value[i]) & self.mask[i] & o.mask[i];
            self.mask[i] |= o.mask[i];
            self.value[i] |= o.value[i] & o.mask[i];
        }
        bad == 0
    }
}

/// Width of a slot in bits (string fields hold a 32-bit port key).
pub fn slot_width(s: &Slot) -> u32 {
    match s.storage {
        Storage::Port(f) if s.n_bits == 0 => u32::from(f.width),
        _ => u32::from(s.n_bits),
    }
}

/// What the compiler needs to turn names into numbers, for one datapath.
pub trait Names {
    /// Key of logical port or multicast group `name` on this datapath.
    fn port_key(&self, name: &str) -> Option<u32>;
    /// Members of address set `name`, or `None` if unknown.
    fn address_set(&self, name: &str) -> Option<&[crate::lexer::Int]>;
    /// Keys of the members of port group `name` on this datapath, or `None` if unknown.
    fn port_group(&self, name: &str) -> Option<Vec<u32>>;
    /// Whether `port` is bound to this chassis.
    fn resident(&self, port: &str) -> bool;
}

/// A match tree kept for run-time evaluation (or as an intermediate form).
#[derive(Clone, Debug, PartialEq, Eq)]
// `One` is the common leaf; boxing it would cost an allocation per comparison compiled.
#[allow(clippy::large_enum_variant)]
pub enum Residual {
    /// This conjunction (the common leaf: `field == constant`).
    One(Conj),
    /// Any of these conjunctions.
    Any(Vec<Conj>),
    And(Vec<Residual>),
    Or(Vec<Residual>),
}

impl std::fmt::Debug for Conj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conj({:?} / {:?})", self.value, self.mask)
    }
}

impl Residual {
    /// Evaluates against `p`, ORing every bit examined into `wc`.
    pub fn eval(&self, p: &Flow, wc: &mut Mask) -> bool {
        match self {
            Residual::One(c) => c.matches(p, wc),
            Residual::Any(v) => v.iter().any(|c| c.matches(p, wc)),
            Residual::And(v) => v.iter().all(|r| r.eval(p, wc)),
            Residual::Or(v) => v.iter().any(|r| r.eval(p, wc)),
        }
    }

    /// Multiplies out into DNF; `None` beyond `limit` conjunctions.
    pub fn dnf(&self, limit: usize) -> Option<Vec<Conj>> {
        let mut acc = vec![Conj::any()];
        self.and_into(&mut acc, limit)?;
        Some(acc)
    }

    /// `acc := acc && self`, multiplied out in place.
    fn and_into(&self, acc: &mut Vec<Conj>, limit: usize) -> Option<()> {
        match self {
            Residual::One(c) => {
                // The common case: one more constraint on every conjunction, no copies.
                acc.retain_mut(|a| a.and_assign(c));
                Some(())
            }
            Residual::Any(v) if v.len() == 1 => {
                acc.retain_mut(|a| a.and_assign(&v[0]));
                Some(())
            }
            Residual::And(v) => {
                for r in v {
                    r.and_into(acc, limit)?;
                    if acc.is_empty() {
                        break;
                    }
                }
                Some(())
            }
            Residual::Any(v) => cross(acc, v, limit),
            Residual::Or(v) => {
                let mut alts = Vec::new();
                for r in v {
                    let mut a = vec![Conj::any()];
                    r.and_into(&mut a, limit)?;
                    alts.extend(a);
                    if alts.len() > limit {
                        return None;
                    }
                }
                cross(acc, &alts, limit)
            }
        }
    }
}

/// `acc := acc && (d[0] || d[1] || ...)`.
fn cross(acc: &mut Vec<Conj>, d: &[Conj], limit: usize) -> Option<()> {
    if acc.len().saturating_mul(d.len()) > limit.saturating_mul(4) {
        return None;
    }
    let mut next = Vec::with_capacity(acc.len() * d.len());
    for a in acc.iter() {
        for b in d {
            // Most pairs of a cross product conflict (`eth.type == 0x800` against
            // `0x86dd`): test before copying 512 bytes.
            if a.compatible(b) {
                let mut c = *a;
                c.merge(b);
                next.push(c);
            }
        }
    }
    if next.len() > limit {
        return None;
    }
    *acc = next;
    Some(())
}

/// A compiled match: conjunctions for the classifier, each with an optional residual
/// that must also hold.
#[derive(Clone, Debug)]
pub struct CompiledMatch {
    pub conjs: Vec<Conj>,
    pub residual: Option<Residual>,
}

/// Compiles an annotated expression. Errors name the problem (unknown address set ...).
pub fn compile_match(e: &Expr, t: &Symtab, n: &dyn Names) -> Result<CompiledMatch, String> {
    // Fast path: multiply out straight from the expression, no intermediate tree.
    let mut acc = vec![Conj::any()];
    if expr_into(e, false, t, n, &mut acc, 0)?.is_some() {
        return Ok(CompiledMatch {
            conjs: acc,
            residual: None,
        });
    }
    let r = to_residual(e, false, t, n, 0)?;
    // Too big: keep single-conjunction terms of a top-level `&&` in the classifier.
    let mut base = Conj::any();
    let mut rest = Vec::new();
    match r {
        Residual::And(v) => {
            for x in v {
                let single = match &x {
                    Residual::One(c) => Some(c),
                    Residual::Any(c) if c.len() == 1 => c.first(),
                    _ => None,
                };
                match single {
                    Some(c) => match base.and(c) {
                        Some(b) => base = b,
                        None => {
                            return Ok(CompiledMatch {
                                conjs: Vec::new(),
                                residual: None,
                            })
                        }
                    },
                    _ => rest.push(x),
                }
            }
        }
        other => rest.push(other),
    }
    let residual = if rest.len() == 1 {
        rest.pop()
    } else {
        Some(Residual::And(rest))
    };
    Ok(CompiledMatch {
        conjs: vec![base],
        residual,
    })
}

/// `acc := acc && (neg ? !e : e)`, multiplied out. `Ok(None)` when it would exceed
/// [`MAX_CONJ`] conjunctions.
fn expr_into(
    e: &Expr,
    neg: bool,
    t: &Symtab,
    n: &dyn Names,
    acc: &mut Vec<Conj>,
    depth: usize,
) -> Result<Option<()>, String> {
    if depth > 64 {
        return Err("match nested too deeply".into());
    }
    match e {
        Expr::Bool(b) => {
            if *b == neg {
                acc.clear();
            }
        }
        Expr::ChassisResident(p) => {
            if n.resident(p) == neg {
                acc.clear();
            }
        }
        Expr::Predicate(_) => {
            let a = e.annotate(t);
            if matches!(a, Expr::Predicate(_)) {
                return Err("unexpanded predicate".into());
            }
            return expr_into(&a, neg, t, n, acc, depth + 1);
        }
        Expr::Not(x) => return expr_into(x, !neg, t, n, acc, depth + 1),
        Expr::And(v) | Expr::Or(v) => {
            if matches!(e, Expr::And(_)) != neg {
                for x in v {
                    if expr_into(x, neg, t, n, acc, depth + 1)?.is_none() {
                        return Ok(None);
                    }
                    if acc.is_empty() {
                        break;
                    }
                }
            } else if acc.len() == 1 {
                // `c && (x || y ...)` as `(c && x) || (c && y) ...`: the same conjunctions
                // in the same order as the cross product below, but branches that
                // contradict `c` die at once instead of being multiplied out first (a
                // negated `ip.later_frag` would otherwise expand `eth.type != 0x800 &&
                // eth.type != 0x86dd` into 256 conjunctions, all to be discarded).
                let base = acc[0];
                let mut out = Vec::new();
                for x in v {
                    if let Some((field, values)) = simple_eq(x, neg) {
                        let (slot, full) = eq_slot(field, t)?;
                        for val in values {
                            if let Some((c, m)) = const_of(val, full, n) {
                                let mut conj = base;
                                if conj.put(&slot, c, m) {
                                    out.push(conj);
                                }
                            }
                        }
                    } else {
                        let mut a = vec![base];
                        if expr_into(x, neg, t, n, &mut a, depth + 1)?.is_none() {
                            return Ok(None);
                        }
                        out.extend(a);
                    }
                    if out.len() > MAX_CONJ {
                        return Ok(None);
                    }
                }
                *acc = out;
            } else {
                let mut alts = Vec::new();
                for x in v {
                    if let Some((field, values)) = simple_eq(x, neg) {
                        // The common `f == c` branch: its conjunctions directly.
                        let (slot, full) = eq_slot(field, t)?;
                        for val in values {
                            if let Some((c, m)) = const_of(val, full, n) {
                                let mut conj = Conj::any();
                                if conj.put(&slot, c, m) {
                                    alts.push(conj);
                                }
                            }
                        }
                    } else {
                        let mut a = vec![Conj::any()];
                        if expr_into(x, neg, t, n, &mut a, depth + 1)?.is_none() {
                            return Ok(None);
                        }
                        alts.extend(a);
                    }
                    if alts.len() > MAX_CONJ {
                        return Ok(None);
                    }
                }
                return Ok(cross(acc, &alts, MAX_CONJ));
            }
        }
        Expr::Cmp { field, op, values } => {
            if let Some((field, values)) = simple_eq(e, neg) {
                return eq_into(field, values, t, n, acc);
            }
            let op = if neg { invert(*op) } else { *op };
            return Ok(cmp(field, op, values, t, n)?.and_into(acc, MAX_CONJ));
        }
    }
    Ok(Some(()))
}

fn konst(b: bool) -> Residual {
    if b {
        Residual::One(Conj::any())
    } else {
        Residual::Any(Vec::new())
    }
}

fn to_residual(
    e: &Expr,
    neg: bool,
    t: &Symtab,
    n: &dyn Names,
    depth: usize,
) -> Result<Residual, String> {
    if depth > 64 {
        return Err("match nested too deeply".into());
    }
    Ok(match e {
        Expr::Bool(b) => konst(*b != neg),
        Expr::ChassisResident(p) => konst(n.resident(p) != neg),
        Expr::Predicate(_) => {
            let a = e.annotate(t);
            if matches!(a, Expr::Predicate(_)) {
                return Err("unexpanded predicate".into());
            }
            to_residual(&a, neg, t, n, depth + 1)?
        }
        Expr::Not(x) => to_residual(x, !neg, t, n, depth + 1)?,
        Expr::And(v) | Expr::Or(v) => {
            let kids = v
                .iter()
                .map(|x| to_residual(x, neg, t, n, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(e, Expr::And(_)) != neg {
                Residual::And(kids)
            } else {
                Residual::Or(kids)
            }
        }
        Expr::Cmp { field, op, values } => {
            let op = if neg { invert(*op) } else { *op };
            cmp(field, op, values, t, n)?
        }
    })
}

fn invert(op: RelOp) -> RelOp {
    match op {
        RelOp::Eq => RelOp::Ne,
        RelOp::Ne => RelOp::Eq,
        RelOp::Lt => RelOp::Ge,
        RelOp::Le => RelOp::Gt,
        RelOp::Gt => RelOp::Le,
        RelOp::Ge => RelOp::Lt,
    }
}

/// The constants of a comparison as (value, mask) pairs in slot coordinates.
fn constants(
    values: &[Value],
    width: u32,
    n: &dyn Names,
    sym: &str,
) -> Result<Vec<(u128, u128)>, String> {
    let full = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match v {
            Value::Int(i) => out.push((i.value, i.mask.unwrap_or(full) & full)),
            Value::Str(s) => {
                // An unknown port never matches: no constant (OVN drops the term too).
                if let Some(k) = n.port_key(s) {
                    out.push((u128::from(k), full));
                }
            }
            Value::AddrSet(name) => {
                let Some(set) = n.address_set(name) else {
                    return Err(format!("unknown address set ${name}"));
                };
                for i in set {
                    // Members too wide for the field (IPv6 in an IPv4 match) are skipped.
                    if width < 128 && i.value >> width != 0 {
                        continue;
                    }
                    out.push((i.value, i.mask.unwrap_or(full) & full));
                }
            }
            Value::PortGroup(name) => {
                let Some(keys) = n.port_group(name) else {
                    return Err(format!("unknown port group @{name} (in {sym})"));
                };
                out.extend(keys.into_iter().map(|k| (u128::from(k), full)));
            }
        }
    }
    Ok(out)
}

fn cmp(
    f: &FieldRef,
    op: RelOp,
    values: &[Value],
    t: &Symtab,
    n: &dyn Names,
) -> Result<Residual, String> {
    let name = t.get(f.sym).name;
    let slot = matchable_slot(f, t)?;
    let width = slot_width(&slot);
    let consts = constants(values, width, n, name)?;
    let eq = |v: u128, m: u128| {
        let mut c = Conj::any();
        c.put(&slot, v, m).then_some(c)
    };
    Ok(match op {
        RelOp::Eq if consts.len() == 1 => match eq(consts[0].0, consts[0].1) {
            Some(c) => Residual::One(c),
            None => Residual::Any(Vec::new()),
        },
        RelOp::Eq => Residual::Any(consts.iter().filter_map(|&(v, m)| eq(v, m)).collect()),
        RelOp::Ne => {
            // Differs from every member: for each, some masked bit differs.
            let per = consts
                .iter()
                .map(|&(v, m)| {
                    let mut alts = Vec::new();
                    for b in 0..width.min(128) {
                        let bit = 1u128 << b;
                        if m & bit != 0 {
                            alts.extend(eq(!v & bit, bit));
                        }
                    }
                    Residual::Any(alts)
                })
                .collect::<Vec<_>>();
            Residual::And(per)
        }
        RelOp::Lt | RelOp::Le | RelOp::Gt | RelOp::Ge => {
            let [(c, m)] = consts[..] else {
                return Err(format!("{name}: ordering needs exactly one constant"));
            };
            let full = if width >= 128 {
                u128::MAX
            } else {
                (1u128 << width) - 1
            };
            if m != full {
                return Err(format!("{name}: ordering against a masked constant"));
            }
            Residual::Any(
                range(op, c, width)
                    .into_iter()
                    .filter_map(|(v, m)| eq(v, m))
                    .collect(),
            )
        }
    })
}

#[path = "dnf_eq.rs"]
mod eq;
use eq::{const_of, eq_into, eq_slot, matchable_slot, range, simple_eq};

#[cfg(test)]
#[path = "dnf_tests.rs"]
mod tests;
