//! Microflows in `ovn-trace` syntax: `inport == "vm1" && eth.src == 00:00:00:00:00:01 &&
//! ip4.dst == 10.0.0.2 && ip.ttl == 64 && tcp.dst == 80` → one [`Flow`].
//!
//! As `ovn-trace` does (OVN lib/expr.c `expr_parse_microflow`): the text is a `match`
//! expression; it is annotated (predicates expanded, prerequisites added) and must then pin
//! down one packet: a conjunction of `field == constant`. Fields the text leaves out are 0
//! (there are no other defaults: without `ip.ttl == 64` the TTL is 0). Prerequisites are
//! satisfied by what the text says (`tcp.dst == 80 && ip4` needs `eth.type == 0x800 ||
//! eth.type == 0x86dd`, and `ip4` already picked the first); a disjunction with more than
//! one possible branch is *ambiguous* (`tcp.dst == 80` alone: IPv4 or IPv6?), a
//! constraint that contradicts another is *contradictory*. Both are errors, as in OVN.
//! `is_chassis_resident()` is taken as true (as `ovn-trace` does).
//!
//! What this does not do: expand address sets or port groups (`$as`, `@pg`): they are
//! rejected with an error. Logical port names are turned into tunnel keys by a caller's
//! lookup function; the datapath word is left to the caller.

use crate::error::ParseError;
use crate::expr::{parse_match, Expr, RelOp};
use crate::flow::{Field, Flow, Mask};
use crate::lexer::Int;
use crate::parser::Value;
use crate::symtab::{Slot, Storage, Symtab};

/// A parsed microflow: the flow and the bits the text fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Microflow {
    pub flow: Flow,
    /// Bits the microflow constrained (all others are 0 in `flow`).
    pub known: Mask,
}

/// Parses `text` into a microflow. `lookup_port` maps a logical port name to its tunnel
/// key (for `inport`/`outport`). Errors carry the offset and token of a syntax error; an
/// ambiguous or contradictory microflow is only found out at the end, so those errors
/// point at the end of the input and name the constraint in the message.
pub fn parse_microflow(
    text: &str,
    symtab: &Symtab,
    lookup_port: &dyn Fn(&str) -> Option<u32>,
) -> Result<Microflow, ParseError> {
    let e = parse_match(text, symtab)?;
    resolve(e.annotate(symtab), symtab, lookup_port).map_err(|message| ParseError {
        offset: text.len(),
        token: String::new(),
        message,
    })
}

/// Turns an annotated expression into the one flow it describes.
fn resolve(
    e: Expr,
    symtab: &Symtab,
    lookup_port: &dyn Fn(&str) -> Option<u32>,
) -> Result<Microflow, String> {
    let mut st = State {
        flow: Flow::default(),
        known: Flow::default(),
        t: symtab,
        lookup_port,
    };
    let mut pending = Vec::new();
    flatten(e, &mut pending);
    // Apply equalities, resolve disjunctions that have one possible branch, repeat until
    // nothing changes. Each round removes at least one term or stops, so this ends.
    loop {
        let mut changed = false;
        let mut rest = Vec::new();
        for term in std::mem::take(&mut pending) {
            match st.step(term)? {
                Step::Done => changed = true,
                Step::Expand(v) => {
                    changed = true;
                    for x in v {
                        flatten(x, &mut rest);
                    }
                }
                Step::Keep(t) => rest.push(t),
            }
        }
        pending = rest;
        if pending.is_empty() {
            break;
        }
        if !changed {
            let shown = pending[0].display(symtab).to_string();
            return Err(format!("constraints are ambiguous: {shown}"));
        }
    }
    Ok(Microflow {
        flow: st.flow,
        known: Mask { w: st.known.w },
    })
}

fn flatten(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(v) => v.into_iter().for_each(|x| flatten(x, out)),
        Expr::Bool(true) | Expr::ChassisResident(_) => {}
        e => out.push(e),
    }
}

enum Step {
    /// The term is satisfied (or was applied).
    Done,
    /// The term is equivalent to this conjunction (one possible branch of an `||`).
    Expand(Vec<Expr>),
    /// Not decided yet.
    Keep(Expr),
}

struct State<'a> {
    flow: Flow,
    /// The bits fixed so far, laid out like a flow (a mask kept as a `Flow` for its
    /// accessors).
    known: Flow,
    t: &'a Symtab,
    lookup_port: &'a dyn Fn(&str) -> Option<u32>,
}

/// A resolved constant: value and mask, both already shifted into the slot.
#[derive(Clone, Copy)]
struct Bits {
    value: u128,
    mask: u128,
}

impl State<'_> {
    fn step(&mut self, term: Expr) -> Result<Step, String> {
        match &term {
            Expr::Bool(false) => Err("constraints are contradictory".into()),
            Expr::Cmp {
                field,
                op: RelOp::Eq,
                values,
            } if values.len() == 1 => {
                let slot = self.slot(field)?;
                let b = self.bits(&slot, &values[0], field.sym)?;
                self.apply(&slot, b, &term)?;
                Ok(Step::Done)
            }
            Expr::Or(branches) => {
                let mut open = Vec::new();
                for b in branches {
                    match self.eval(b)? {
                        Some(true) => return Ok(Step::Done),
                        Some(false) => {}
                        None => open.push(b),
                    }
                }
                match open.len() {
                    0 => Err(format!(
                        "constraints are contradictory: {}",
                        term.display(self.t)
                    )),
                    1 => Ok(Step::Expand(vec![open[0].clone()])),
                    _ => Ok(Step::Keep(term)),
                }
            }
            _ => match self.eval(&term)? {
                Some(true) => Ok(Step::Done),
                Some(false) => Err(format!(
                    "constraints are contradictory: {}",
                    term.display(self.t)
                )),
                None => Ok(Step::Keep(term)),
            },
        }
    }

    fn slot(&self, f: &crate::parser::FieldRef) -> Result<Slot, String> {
        let s = self
            .t
            .resolve_ref(f)
            .ok_or_else(|| format!("{} cannot be part of a microflow", self.t.get(f.sym).name))?;
        if let Storage::Ovn(_) = s.storage {
            return Err(format!("{} is not a packet field", self.t.get(f.sym).name));
        }
        Ok(s)
    }

    /// The value `v` placed at the slot's bit offset.
    fn bits(&self, slot: &Slot, v: &Value, sym: crate::symtab::SymId) -> Result<Bits, String> {
        let width_mask = |n: u16| {
            if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            }
        };
        match v {
            Value::Int(Int { value, mask, .. }) => {
                let m = mask.unwrap_or(u128::MAX) & width_mask(slot.n_bits);
                Ok(Bits {
                    value: (value & m) << slot.ofs,
                    mask: m << slot.ofs,
                })
            }
            Value::Str(name) => {
                let key = (self.lookup_port)(name)
                    .ok_or_else(|| format!("unknown logical port \"{name}\""))?;
                Ok(Bits {
                    value: u128::from(key),
                    mask: u128::from(u32::MAX),
                })
            }
            Value::AddrSet(n) => Err(format!(
                "address set ${n} in microflow for {} is not supported",
                self.t.get(sym).name
            )),
            Value::PortGroup(n) => Err(format!(
                "port group @{n} in microflow for {} is not supported",
                self.t.get(sym).name
            )),
        }
    }

    fn storage_field(slot: &Slot) -> (Field, bool) {
        match slot.storage {
            Storage::Narrow(f) | Storage::Port(f) => (f, false),
            Storage::Wide(f) => (f, true),
            // Rejected by `slot()`.
            Storage::Ovn(_) => (Field::new(0, 0, 0), false),
        }
    }

    fn read(&self, slot: &Slot) -> (u128, u128) {
        let (f, wide) = Self::storage_field(slot);
        if wide {
            (self.flow.get128(f), self.known.get128(f))
        } else {
            (u128::from(self.flow.get(f)), u128::from(self.known.get(f)))
        }
    }

    fn apply(&mut self, slot: &Slot, b: Bits, term: &Expr) -> Result<(), String> {
        let (val, known) = self.read(slot);
        let both = known & b.mask;
        if (val ^ b.value) & both != 0 {
            return Err(format!(
                "constraints are contradictory: {}",
                term.display(self.t)
            ));
        }
        let (f, wide) = Self::storage_field(slot);
        let nv = (val & !b.mask) | b.value;
        let nk = known | b.mask;
        if wide {
            self.flow.set128(f, nv);
            self.known.set128(f, nk);
        } else {
            self.flow.set(f, nv as u64);
            self.known.set(f, nk as u64);
        }
        Ok(())
    }

    /// Three-valued evaluation against the bits fixed so far: `None` if undecided.
    fn eval(&self, e: &Expr) -> Result<Option<bool>, String> {
        Ok(match e {
            Expr::Bool(b) => Some(*b),
            Expr::ChassisResident(_) => Some(true),
            Expr::Predicate(_) => None,
            Expr::Not(x) => self.eval(x)?.map(|b| !b),
            Expr::And(v) => {
                let mut all = Some(true);
                for x in v {
                    match self.eval(x)? {
                        Some(false) => return Ok(Some(false)),
                        Some(true) => {}
                        None => all = None,
                    }
                }
                all
            }
            Expr::Or(v) => {
                let mut any = Some(false);
                for x in v {
                    match self.eval(x)? {
                        Some(true) => return Ok(Some(true)),
                        Some(false) => {}
                        None => any = None,
                    }
                }
                any
            }
            Expr::Cmp { field, op, values } => {
                let slot = self.slot(field)?;
                let (val, known) = self.read(&slot);
                let mut eq_any = Some(false);
                for v in values {
                    let b = self.bits(&slot, v, field.sym)?;
                    if (val ^ b.value) & known & b.mask != 0 {
                        continue; // differs on a known bit
                    }
                    if b.mask & !known != 0 {
                        eq_any = None; // depends on bits not fixed yet
                    } else {
                        eq_any = Some(true);
                        break;
                    }
                }
                match op {
                    RelOp::Eq => eq_any,
                    RelOp::Ne => eq_any.map(|b| !b),
                    _ => {
                        // Ordered comparison of a whole (unmasked) value.
                        let all = if slot.n_bits >= 128 {
                            u128::MAX
                        } else {
                            ((1u128 << slot.n_bits) - 1) << slot.ofs
                        };
                        if known & all != all {
                            return Ok(None);
                        }
                        let Some(Value::Int(i)) = values.first() else {
                            return Ok(None);
                        };
                        let x = (val & all) >> slot.ofs;
                        let c = i.value;
                        Some(match op {
                            RelOp::Lt => x < c,
                            RelOp::Le => x <= c,
                            RelOp::Gt => x > c,
                            _ => x >= c,
                        })
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::field;

    fn ports(name: &str) -> Option<u32> {
        match name {
            "vm1" => Some(1),
            "vm2" => Some(2),
            _ => None,
        }
    }

    fn parse(s: &str) -> Result<Microflow, ParseError> {
        parse_microflow(s, &Symtab::ovn(), &ports)
    }

    #[test]
    fn tcp_microflow_sets_fields_and_prereqs() {
        let m = parse(
            "inport == \"vm1\" && eth.src == 00:00:00:00:00:01 && eth.dst == 00:00:00:00:00:02 \
             && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 64 && tcp.dst == 80",
        )
        .unwrap();
        let f = m.flow;
        assert_eq!(f.get(field::INPORT), 1);
        assert_eq!(f.get(field::ETH_SRC), 1);
        assert_eq!(f.get(field::ETH_DST), 2);
        assert_eq!(f.get(field::ETH_TYPE), 0x800);
        assert_eq!(f.get(field::IP_PROTO), 6);
        assert_eq!(f.get(field::IP4_SRC), 0x0a00_0001);
        assert_eq!(f.get(field::IP4_DST), 0x0a00_0002);
        assert_eq!(f.get(field::IP_TTL), 64);
        assert_eq!(f.get(field::TP_DST), 80);
        // Unspecified fields stay 0: no default TTL, ports, etc.
        assert_eq!(f.get(field::TP_SRC), 0);
        assert_eq!(f.get(field::OUTPORT), 0);
    }

    #[test]
    fn no_defaults_for_unspecified_fields() {
        let m = parse("inport == \"vm1\" && ip4").unwrap();
        assert_eq!(m.flow.get(field::IP_TTL), 0);
        assert_eq!(m.flow.get(field::ETH_TYPE), 0x800);
        assert_eq!(m.known.w[crate::flow::word::IP_MISC], 0);
    }

    #[test]
    fn ipv6_nd_and_arp() {
        let m = parse(
            "inport == \"vm2\" && eth.dst == 33:33:ff:00:00:01 && ip6.src == fe80::1 && \
             ip6.dst == ff02::1:ff00:1 && nd_ns && nd.target == fd00::1",
        )
        .unwrap();
        let f = m.flow;
        assert_eq!(f.get(field::ETH_TYPE), 0x86dd);
        assert_eq!(f.get(field::IP_PROTO), 58);
        assert_eq!(f.get(field::IP_TTL), 255);
        assert_eq!(f.get(field::TP_SRC), 135);
        assert_eq!(f.get128(field::ND_TARGET), 0xfd00_u128 << 112 | 1);
        let m = parse("arp.op == 1 && arp.spa == 10.0.0.1 && arp.tpa == 10.0.0.254").unwrap();
        assert_eq!(m.flow.get(field::ETH_TYPE), 0x806);
        assert_eq!(m.flow.get(field::ARP_OP), 1);
        assert_eq!(m.flow.get(field::IP4_DST), 0x0a00_00fe);
    }

    #[test]
    fn ambiguous_and_contradictory() {
        let e = parse("tcp.dst == 80").unwrap_err();
        assert!(e.message.contains("ambiguous"), "{e}");
        // Found only at the end: the error points there.
        assert_eq!(e.offset, "tcp.dst == 80".len());
        let e = parse("ip4 && ip6").unwrap_err();
        assert!(e.message.contains("contradictory"), "{e}");
        let e = parse("ip4 && tcp.dst == {80, 443}").unwrap_err();
        assert!(e.message.contains("ambiguous"), "{e}");
        let e = parse("inport == \"nope\"").unwrap_err();
        assert!(e.message.contains("unknown logical port"), "{e}");
        let e = parse("ip4 && ip.proto == 17 && tcp.dst == 1").unwrap_err();
        assert!(e.message.contains("contradictory"), "{e}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("ip4 && ip4.src == 1.2.3").unwrap_err();
        assert!(e.offset >= 7, "{e}");
        let e = parse("inport == \"vm1\" && bogus == 1").unwrap_err();
        assert_eq!((e.offset, e.token.as_str()), (19, "bogus"));
    }

    #[test]
    fn negations_and_subfields_check_against_known_bits() {
        let m = parse("ip4 && ip.ttl == 5 && ip.ttl != 4 && reg0[3] == 1").unwrap();
        assert_eq!(m.flow.get(field::reg(0)), 8);
        assert!(parse("ip4 && ip.ttl == 5 && ip.ttl != 5").is_err());
        let m = parse("ip4 && ip4.dst == 10.0.0.0/8 && ip4.dst[0..7] == 7").unwrap();
        assert_eq!(m.flow.get(field::IP4_DST), 0x0a00_0007);
    }
}
