//! The common comparisons without intermediate trees: `field == constant(s)` straight
//! into the conjunctions being built, and the prefix decomposition of `<`/`>`.

use super::{invert, slot_width, Conj, Names, MAX_CONJ};
use crate::expr::{Expr, RelOp};
use crate::parser::{FieldRef, Value};
use crate::symtab::{Slot, Storage, Symtab};

/// `e` (negated if `neg`) as `field == constants` with integer or port-name constants
/// only: the common comparison, compiled without building a [`Residual`].
pub(super) fn simple_eq(e: &Expr, neg: bool) -> Option<(&FieldRef, &[Value])> {
    match e {
        Expr::Cmp { field, op, values }
            if (if neg { invert(*op) } else { *op }) == RelOp::Eq
                && values
                    .iter()
                    .all(|v| matches!(v, Value::Int(_) | Value::Str(_))) =>
        {
            Some((field, values))
        }
        _ => None,
    }
}

/// The slot of a field a match may compare (errors name the field).
pub(super) fn matchable_slot(f: &FieldRef, t: &Symtab) -> Result<Slot, String> {
    let name = t.get(f.sym).name;
    let Some(slot) = t.resolve_ref(f) else {
        return Err(format!("{name} is not a field"));
    };
    if matches!(slot.storage, Storage::Ovn(_)) {
        return Err(format!("{name} cannot be matched"));
    }
    Ok(slot)
}

/// The slot of a compared field and its all-ones value (errors as [`cmp`] gives them).
pub(super) fn eq_slot(f: &FieldRef, t: &Symtab) -> Result<(Slot, u128), String> {
    let slot = matchable_slot(f, t)?;
    let width = slot_width(&slot);
    let full = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    Ok((slot, full))
}

/// One integer or port-name constant as (value, mask), as [`constants`] gives it; `None`
/// for an unknown port (which never matches).
pub(super) fn const_of(v: &Value, full: u128, n: &dyn Names) -> Option<(u128, u128)> {
    match v {
        Value::Int(i) => Some((i.value, i.mask.unwrap_or(full) & full)),
        Value::Str(s) => n.port_key(s).map(|k| (u128::from(k), full)),
        _ => None,
    }
}

/// `acc := acc && field == (values[0] || values[1] || ...)` for [`simple_eq`]
/// comparisons: what `cmp(..).and_into(acc)` does, without the intermediate conjunctions.
pub(super) fn eq_into(
    field: &FieldRef,
    values: &[Value],
    t: &Symtab,
    n: &dyn Names,
    acc: &mut Vec<Conj>,
) -> Result<Option<()>, String> {
    let (slot, full) = eq_slot(field, t)?;
    let consts = values.iter().filter_map(|v| const_of(v, full, n));
    let mut one = consts.clone();
    match (one.next(), one.next()) {
        (None, _) => acc.clear(),
        (Some((c, m)), None) => acc.retain_mut(|a| a.put(&slot, c, m)),
        _ => {
            // A set: every conjunction times every member (as `cross` does, same limits).
            let d = consts.clone().count();
            if acc.len().saturating_mul(d) > MAX_CONJ.saturating_mul(4) {
                return Ok(None);
            }
            let mut next = Vec::with_capacity(acc.len() * d);
            for a in acc.iter() {
                for (c, m) in consts.clone() {
                    let mut x = *a;
                    if x.put(&slot, c, m) {
                        next.push(x);
                    }
                }
            }
            if next.len() > MAX_CONJ {
                return Ok(None);
            }
            *acc = next;
        }
    }
    Ok(Some(()))
}

/// Prefix decomposition of `f op c` over a `width`-bit field, as (value, mask) pairs.
pub(super) fn range(op: RelOp, c: u128, width: u32) -> Vec<(u128, u128)> {
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
        let above = full & !((bit << 1).wrapping_sub(1));
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
