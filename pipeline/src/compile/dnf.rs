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
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conj {
    pub value: Flow,
    pub mask: Mask,
}

impl Conj {
    /// Matches everything.
    pub fn any() -> Conj {
        Conj {
            value: Flow::default(),
            mask: Mask::default(),
        }
    }

    /// Both constraints, or `None` when they contradict.
    pub fn and(&self, o: &Conj) -> Option<Conj> {
        let mut out = *self;
        for i in 0..FLOW_WORDS {
            let both = self.mask.w[i] & o.mask.w[i];
            if (self.value.w[i] ^ o.value.w[i]) & both != 0 {
                return None;
            }
            out.mask.w[i] |= o.mask.w[i];
            out.value.w[i] |= o.value.w[i] & o.mask.w[i];
        }
        Some(out)
    }

    /// Whether `p` matches; ORs the mask into `wc`.
    #[inline]
    pub fn matches(&self, p: &Flow, wc: &mut Mask) -> bool {
        wc.union(&self.mask);
        (0..FLOW_WORDS).all(|i| p.w[i] & self.mask.w[i] == self.value.w[i])
    }

    /// Constrains `slot` bits `mask` (in slot coordinates) to `val`. `false` on conflict.
    pub fn put(&mut self, slot: &Slot, val: u128, mask: u128) -> bool {
        let mut c = Conj::any();
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
                c.mask.w[wi] = (mask as u64) << sh;
                c.value.w[wi] = (val as u64) << sh;
            }
            Storage::Wide(f) => {
                let sh = u32::from(slot.ofs);
                let (v, m) = (
                    val.checked_shl(sh).unwrap_or(0),
                    mask.checked_shl(sh).unwrap_or(0),
                );
                let wi = f.word as usize & (FLOW_WORDS - 1);
                let wj = (wi + 1) & (FLOW_WORDS - 1);
                c.mask.w[wi] = (m >> 64) as u64;
                c.value.w[wi] = (v >> 64) as u64;
                c.mask.w[wj] = m as u64;
                c.value.w[wj] = v as u64;
            }
            Storage::Ovn(_) => return false,
        }
        match self.and(&c) {
            Some(n) => {
                *self = n;
                true
            }
            None => false,
        }
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
pub enum Residual {
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
            Residual::Any(v) => v.iter().any(|c| c.matches(p, wc)),
            Residual::And(v) => v.iter().all(|r| r.eval(p, wc)),
            Residual::Or(v) => v.iter().any(|r| r.eval(p, wc)),
        }
    }

    /// Multiplies out into DNF; `None` beyond `limit` conjunctions.
    pub fn dnf(&self, limit: usize) -> Option<Vec<Conj>> {
        match self {
            Residual::Any(v) => (v.len() <= limit).then(|| v.clone()),
            Residual::Or(v) => {
                let mut out = Vec::new();
                for r in v {
                    out.extend(r.dnf(limit)?);
                    if out.len() > limit {
                        return None;
                    }
                }
                Some(out)
            }
            Residual::And(v) => {
                let mut acc = vec![Conj::any()];
                for r in v {
                    let d = r.dnf(limit)?;
                    let mut next = Vec::with_capacity(acc.len() * d.len().max(1));
                    for a in &acc {
                        for b in &d {
                            if let Some(c) = a.and(b) {
                                next.push(c);
                                if next.len() > limit {
                                    return None;
                                }
                            }
                        }
                    }
                    acc = next;
                    if acc.is_empty() {
                        break;
                    }
                }
                Some(acc)
            }
        }
    }
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
    let r = to_residual(e, false, t, n, 0)?;
    if let Some(conjs) = r.dnf(MAX_CONJ) {
        return Ok(CompiledMatch {
            conjs,
            residual: None,
        });
    }
    // Too big: keep single-conjunction terms of a top-level `&&` in the classifier.
    let mut base = Conj::any();
    let mut rest = Vec::new();
    match r {
        Residual::And(v) => {
            for x in v {
                match &x {
                    Residual::Any(c) if c.len() == 1 => match base.and(&c[0]) {
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

fn konst(b: bool) -> Residual {
    if b {
        Residual::Any(vec![Conj::any()])
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
    let Some(slot) = t.resolve_ref(f) else {
        return Err(format!("{name} is not a field"));
    };
    if matches!(slot.storage, Storage::Ovn(_)) {
        return Err(format!("{name} cannot be matched"));
    }
    let width = slot_width(&slot);
    let consts = constants(values, width, n, name)?;
    let eq = |v: u128, m: u128| {
        let mut c = Conj::any();
        c.put(&slot, v, m).then_some(c)
    };
    Ok(match op {
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

/// Prefix decomposition of `f op c` over a `width`-bit field, as (value, mask) pairs.
fn range(op: RelOp, c: u128, width: u32) -> Vec<(u128, u128)> {
    let full = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    // Normalise to strict `<` or `>`.
    let (less, c) = match op {
        RelOp::Lt => (true, c),
        RelOp::Le if c == full => return vec![(0, 0)],
        RelOp::Le => (true, c + 1),
        RelOp::Gt => (false, c),
        RelOp::Ge if c == 0 => return vec![(0, 0)],
        RelOp::Ge => (false, c - 1),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for b in (0..width.min(128)).rev() {
        let bit = 1u128 << b;
        let above = full & !((bit << 1).wrapping_sub(1)) & if b == 127 { 0 } else { u128::MAX };
        // `f < c`: agree with c above bit b, c has 1 at b and f has 0.
        // `f > c`: agree with c above bit b, c has 0 at b and f has 1.
        if less && c & bit != 0 {
            out.push((c & above, above | bit));
        } else if !less && c & bit == 0 {
            out.push(((c & above) | bit, above | bit));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_decompose() {
        // 4-bit field: f < 5 (0101) = 0xxx | 0100
        let r = range(RelOp::Lt, 5, 4);
        assert_eq!(r, vec![(0, 0b1000), (0b0100, 0b1110)]);
        let r = range(RelOp::Ge, 0, 4);
        assert_eq!(r, vec![(0, 0)]);
        let count = |op, c| {
            (0u128..16)
                .filter(|v| range(op, c, 4).iter().any(|&(x, m)| v & m == x))
                .count()
        };
        assert_eq!(count(RelOp::Gt, 9), 6);
        assert_eq!(count(RelOp::Le, 9), 10);
        assert_eq!(count(RelOp::Lt, 0), 0);
    }
}
