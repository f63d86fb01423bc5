//! The `match` language: the [`Expr`] tree, its parser ([`parse_match`]) and
//! [`Expr::annotate`], which expands predicates and adds prerequisites so that a compiler
//! sees only comparisons of stored fields.
//!
//! Grammar (OVN lib/expr.c):
//! ```text
//! expr    := not ( ('&&' not)* | ('||' not)* )      -- mixing && and || needs parentheses
//! not     := '!' primary | primary                    -- operand of ! must be atomic
//! primary := '(' expr ')' | 'is_chassis_resident' '(' STRING ')'
//!          | field [relop set]                        -- bare 1-bit field means `!= 0`
//!          | set relop field [relop set]              -- `0 < tcp.dst < 1024`
//!          | '0' | '1'                                 -- literal booleans
//! set     := constant | '{' constant (','? constant)* '}'
//! ```

use crate::error::ParseError;
use crate::lexer::{Int, IntFormat, Tok};
use crate::parser::{FieldRef, Parser, Value};
use crate::symtab::{Kind, SymId, Symtab};

/// Relational operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl RelOp {
    /// The operator with its operands swapped (`c < f` is `f > c`).
    pub fn turn(self) -> RelOp {
        match self {
            RelOp::Lt => RelOp::Gt,
            RelOp::Le => RelOp::Ge,
            RelOp::Gt => RelOp::Lt,
            RelOp::Ge => RelOp::Le,
            o => o,
        }
    }
}

/// A parsed `match` expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `1` / `0`, and the result of folding.
    Bool(bool),
    /// `field op value` for one value, or for a set: with `==` the field equals any member,
    /// with `!=` it equals none; with `<`, `<=`, `>`, `>=` the set holds exactly one integer.
    /// `field` is never a predicate. Masked integers compare only the masked bits.
    Cmp {
        field: FieldRef,
        op: RelOp,
        values: Vec<Value>,
    },
    /// A predicate symbol (`ip4`, `tcp`, `nd_ns`, ...) used as a Boolean. Expanded by
    /// [`Expr::annotate`] into its definition.
    Predicate(crate::symtab::SymId),
    /// `is_chassis_resident("port")`: true on the chassis where that port is bound.
    ChassisResident(String),
    Not(Box<Expr>),
    /// All must hold (two or more terms).
    And(Vec<Expr>),
    /// Any must hold (two or more terms).
    Or(Vec<Expr>),
}

/// Parses a Logical_Flow `match` column.
pub fn parse_match(input: &str, symtab: &Symtab) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input, symtab)?;
    let e = parse_expr(&mut p)?;
    if *p.peek() != Tok::End {
        return Err(p.error("syntax error: expecting end of input"));
    }
    Ok(e)
}

fn parse_expr(p: &mut Parser) -> Result<Expr, ParseError> {
    let first = parse_not(p)?;
    let op = p.peek().clone();
    if op != Tok::And && op != Tok::Or {
        return Ok(first);
    }
    let mut terms = vec![first];
    while p.eat(&op) {
        terms.push(parse_not(p)?);
    }
    if matches!(p.peek(), Tok::And | Tok::Or) {
        return Err(p.error("&& and || must be parenthesized when used together"));
    }
    Ok(if op == Tok::And {
        Expr::And(terms)
    } else {
        Expr::Or(terms)
    })
}

fn parse_not(p: &mut Parser) -> Result<Expr, ParseError> {
    if p.eat(&Tok::Not) {
        p.not = !p.not;
        let r = parse_primary(p);
        p.not = !p.not;
        let (e, atomic) = r?;
        if !atomic {
            return Err(p.error_prev("missing parentheses around operand of !"));
        }
        return Ok(Expr::Not(Box::new(e)));
    }
    Ok(parse_primary(p)?.0)
}

fn relop(t: &Tok) -> Option<RelOp> {
    Some(match t {
        Tok::Eq => RelOp::Eq,
        Tok::Ne => RelOp::Ne,
        Tok::Lt => RelOp::Lt,
        Tok::Le => RelOp::Le,
        Tok::Gt => RelOp::Gt,
        Tok::Ge => RelOp::Ge,
        _ => return None,
    })
}

/// Returns the expression and whether it is "atomic" (may follow `!`).
fn parse_primary(p: &mut Parser) -> Result<(Expr, bool), ParseError> {
    if p.eat(&Tok::LParen) {
        p.enter()?;
        let e = parse_expr(p)?;
        p.leave();
        p.expect(&Tok::RParen, "`)'")?;
        return Ok((e, true));
    }
    match p.peek() {
        Tok::Template(_) => Err(p.error("unexpanded template")),
        Tok::Id(name) => {
            if *p.peek_at(1) == Tok::LParen {
                if name != "is_chassis_resident" {
                    return Err(p.error("unknown function in match"));
                }
                p.advance();
                p.advance();
                if !matches!(p.peek(), Tok::Str(_)) {
                    return Err(p.error("expecting string"));
                }
                let Tok::Str(port) = p.advance() else {
                    return Err(p.error_prev("expecting string"));
                };
                p.expect(&Tok::RParen, "`)'")?;
                return Ok((Expr::ChassisResident(port), true));
            }
            let f = p.field()?;
            let Some(op) = relop(p.peek()) else {
                let s = p.symtab.get(f.sym);
                if f.n_bits == 0 || *p.peek() == Tok::Equals {
                    return Err(p.error("expecting relational operator"));
                }
                if f.n_bits > 1 && !p.not {
                    return Err(p.error_prev(
                        "explicit `!= 0' is required for inequality test of multibit field against 0",
                    ));
                }
                if matches!(s.kind, Kind::Predicate { .. }) {
                    check_nominal_pred(p, f.sym, true)?;
                    return Ok((Expr::Predicate(f.sym), true));
                }
                return Ok((cmp_zero(f, RelOp::Ne), true));
            };
            p.advance();
            let (values, _) = p.constant_set()?;
            Ok((make_cmp(p, f, op, values)?, false))
        }
        _ => {
            let (c1, curly) = p.constant_set()?;
            if relop(p.peek()).is_none() && !curly && c1.len() == 1 {
                if let Value::Int(Int {
                    value,
                    mask: None,
                    format: IntFormat::Decimal,
                }) = c1[0]
                {
                    if value <= 1 {
                        return Ok((Expr::Bool(value == 1), true));
                    }
                }
            }
            let Some(r1) = relop(p.peek()) else {
                return Err(p.error("expecting relational operator"));
            };
            p.advance();
            let f = p.field()?;
            let Some(r2) = relop(p.peek()) else {
                return Ok((make_cmp(p, f, r1.turn(), c1)?, false));
            };
            p.advance();
            let (c2, _) = p.constant_set()?;
            let lt = |r| matches!(r, RelOp::Lt | RelOp::Le);
            let gt = |r| matches!(r, RelOp::Gt | RelOp::Ge);
            if !((lt(r1) && lt(r2)) || (gt(r1) && gt(r2))) {
                return Err(p.error_prev(
                    "range expressions must have the form `x < field < y' or `x > field > y'",
                ));
            }
            let e1 = make_cmp(p, f, r1.turn(), c1)?;
            let e2 = make_cmp(p, f, r2, c2)?;
            Ok((Expr::And(vec![e1, e2]), false))
        }
    }
}

/// Whether predicate `sym` is of OVN's nominal level: its expansion tests a nominal field
/// (`eth.type`, `ip.proto`, a string) or a nominal predicate (expr.c `expr_get_level`).
fn pred_nominal(t: &Symtab, sym: SymId, depth: u32) -> bool {
    fn walk(t: &Symtab, e: &Expr, depth: u32) -> bool {
        match e {
            Expr::Cmp { field, .. } => {
                let s = t.get(field.sym);
                match s.kind {
                    Kind::Predicate { .. } => pred_nominal(t, field.sym, depth + 1),
                    _ => s.nominal,
                }
            }
            Expr::Predicate(s) => pred_nominal(t, *s, depth + 1),
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| walk(t, e, depth)),
            Expr::Not(e) => walk(t, e, depth),
            _ => false,
        }
    }
    if depth > 16 {
        return false;
    }
    match &t.get(sym).kind {
        Kind::Predicate { expansion, .. } => walk(t, expansion, depth),
        _ => false,
    }
}

/// OVN rejects a nominal predicate tested negatively (`!udp`, `ip4 == 0`): expr.c
/// "Nominal predicate %s may only be tested positively". `positive` is the test's sense
/// before enclosing `!`s.
fn check_nominal_pred(p: &Parser, sym: SymId, positive: bool) -> Result<(), ParseError> {
    if positive != p.not || !pred_nominal(p.symtab, sym, 0) {
        return Ok(());
    }
    let n = p.symtab.get(sym).name;
    Err(p.error_prev(format!(
        "nominal predicate {n} may only be tested positively, e.g. `{n}' or `{n} == 1' \
         but not `!{n}' or `{n} == 0'"
    )))
}

fn cmp_zero(f: FieldRef, op: RelOp) -> Expr {
    let zero = Int {
        value: 0,
        mask: None,
        format: IntFormat::Hex,
    };
    Expr::Cmp {
        field: f,
        op,
        values: vec![Value::Int(zero)],
    }
}

fn make_cmp(p: &Parser, f: FieldRef, op: RelOp, values: Vec<Value>) -> Result<Expr, ParseError> {
    let s = p.symtab.get(f.sym);
    if matches!(s.kind, Kind::Ovn(_)) {
        return Err(p.error_prev(format!(
            "field {} can only be assigned, not matched",
            s.name
        )));
    }
    for v in &values {
        if !matches!(v, Value::AddrSet(_)) {
            p.check_value(&f, v)?;
        } else if f.n_bits == 0 {
            return Err(p.error_prev(format!("{} requires a string value", s.name)));
        }
    }
    if !matches!(op, RelOp::Eq | RelOp::Ne) {
        if s.nominal {
            return Err(p.error_prev(format!(
                "only == and != are allowed with nominal field {}",
                s.name
            )));
        }
        if values.len() != 1 || !matches!(&values[0], Value::Int(Int { mask: None, .. })) {
            return Err(p.error_prev("only == and != are allowed with sets and masked values"));
        }
    }
    if s.nominal && !matches!(s.kind, Kind::Predicate { .. }) {
        // OVN (expr.c make_cmp): a nominal field may only be tested for equality,
        // taking enclosing `!`s into account (`!(inport != "a")` is fine, `inport != "a"`
        // is not).
        let want = if p.not { RelOp::Ne } else { RelOp::Eq };
        if op != want {
            return Err(p.error_prev(format!(
                "nominal field {} may only be tested for equality (taking enclosing `!' \
                 operators into account)",
                s.name
            )));
        }
    }
    if let Kind::Predicate { .. } = s.kind {
        // `ip4 == 1`, `tcp != 0` ...: a predicate compared with a 1-bit constant.
        let truth = match (&values[..], op) {
            (
                [Value::Int(Int {
                    value, mask: None, ..
                })],
                RelOp::Eq,
            ) => *value == 1,
            (
                [Value::Int(Int {
                    value, mask: None, ..
                })],
                RelOp::Ne,
            ) => *value == 0,
            _ => {
                return Err(p.error_prev("a predicate can only be compared with == or != to 0 or 1"))
            }
        };
        let e = Expr::Predicate(f.sym);
        check_nominal_pred(p, f.sym, truth)?;
        return Ok(if truth { e } else { Expr::Not(Box::new(e)) });
    }
    Ok(Expr::Cmp {
        field: f,
        op,
        values,
    })
}

impl Expr {
    /// Expands every predicate into its definition and conjoins the prerequisites of every
    /// field referenced (recursively), as OVN's `expr_annotate` does. The result contains
    /// no [`Expr::Predicate`]. `ct.est` becomes `ct_state[1] && ct_state[5]`, `tcp.dst == 80`
    /// becomes `tcp.dst == 80 && ip.proto == 6 && (eth.type == 0x800 || eth.type == 0x86dd)`.
    ///
    /// Negation follows OVN: `!` is first pushed down to the comparisons (De Morgan;
    /// `!(f == {a, b})` is `f != {a, b}`, `!(f < c)` is `f >= c`), and only then are the
    /// prerequisites added, so they stay positive: `!(tcp.dst == 80)` means
    /// `tcp.dst != 80 && tcp`, which a UDP packet does not match. A negated predicate
    /// negates its whole expansion: `!tcp` matches every packet that is not TCP.
    pub fn annotate(&self, symtab: &Symtab) -> Expr {
        self.annotate_depth(symtab, 0)
    }

    fn annotate_depth(&self, t: &Symtab, depth: usize) -> Expr {
        if depth > 16 {
            return Expr::Bool(false);
        }
        match self {
            Expr::Bool(_) | Expr::ChassisResident(_) => self.clone(),
            Expr::Predicate(id) => match &t.get(*id).kind {
                Kind::Predicate { expansion, .. } => expansion.annotate_depth(t, depth + 1),
                _ => Expr::Bool(false),
            },
            Expr::Cmp { field, .. } => match &t.get(field.sym).prereq {
                Some(pre) => Expr::And(vec![self.clone(), pre.annotate_depth(t, depth + 1)]),
                None => self.clone(),
            },
            Expr::Not(e) => match &**e {
                Expr::Predicate(_) => Expr::Not(Box::new(e.annotate_depth(t, depth))),
                Expr::ChassisResident(_) => self.clone(),
                inner => inner.negated().annotate_depth(t, depth),
            },
            Expr::And(v) => Expr::And(v.iter().map(|e| e.annotate_depth(t, depth)).collect()),
            Expr::Or(v) => Expr::Or(v.iter().map(|e| e.annotate_depth(t, depth)).collect()),
        }
    }

    /// The negation of `self` with `!` moved one level down (De Morgan; comparisons
    /// inverted; double negation removed). Predicates and chassis tests stay wrapped.
    pub fn negated(&self) -> Expr {
        let not = |e: &Expr| match e {
            Expr::Not(x) => (**x).clone(),
            x => Expr::Not(Box::new(x.clone())),
        };
        match self {
            Expr::Bool(b) => Expr::Bool(!b),
            Expr::Cmp { field, op, values } => {
                let op = match op {
                    RelOp::Eq => RelOp::Ne,
                    RelOp::Ne => RelOp::Eq,
                    RelOp::Lt => RelOp::Ge,
                    RelOp::Le => RelOp::Gt,
                    RelOp::Gt => RelOp::Le,
                    RelOp::Ge => RelOp::Lt,
                };
                Expr::Cmp {
                    field: *field,
                    op,
                    values: values.clone(),
                }
            }
            Expr::Not(x) => (**x).clone(),
            Expr::And(v) => Expr::Or(v.iter().map(not).collect()),
            Expr::Or(v) => Expr::And(v.iter().map(not).collect()),
            e @ (Expr::Predicate(_) | Expr::ChassisResident(_)) => Expr::Not(Box::new(e.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Symtab {
        Symtab::ovn()
    }

    #[test]
    fn and_or_not() {
        let t = t();
        let e = parse_match("inport == \"p1\" && (ip4 || !eth.mcast) && reg0[3]", &t).unwrap();
        let Expr::And(v) = e else { panic!("not and") };
        assert_eq!(v.len(), 3);
        assert!(matches!(&v[1], Expr::Or(o) if o.len() == 2));
        assert!(matches!(
            &v[2],
            Expr::Cmp {
                op: RelOp::Ne,
                field: FieldRef {
                    ofs: 3,
                    n_bits: 1,
                    ..
                },
                ..
            }
        ));
        assert!(parse_match("ip4 && tcp || udp", &t).is_err());
        assert!(parse_match("!ip4.src == 1.2.3.4", &t).is_err());
    }

    #[test]
    fn sets_ranges_and_booleans() {
        let t = t();
        let e = parse_match("tcp.dst == {80, 443}", &t).unwrap();
        assert!(matches!(e, Expr::Cmp { ref values, .. } if values.len() == 2));
        let e = parse_match("1000 <= tcp.dst <= 2000", &t).unwrap();
        assert!(matches!(e, Expr::And(ref v) if v.len() == 2));
        assert_eq!(parse_match("1", &t).unwrap(), Expr::Bool(true));
        assert_eq!(parse_match("0", &t).unwrap(), Expr::Bool(false));
        assert!(parse_match("reg0", &t).is_err());
        assert!(parse_match("!reg0", &t).is_ok());
    }

    #[test]
    fn errors_name_the_token() {
        let t = t();
        let e = parse_match("ip4 && foo.bar == 1", &t).unwrap_err();
        assert_eq!((e.offset, e.token.as_str()), (7, "foo.bar"));
        let e = parse_match("reg0[40] == 1", &t).unwrap_err();
        assert!(e.message.contains("32-bit"), "{e}");
        assert!(parse_match("ip4.src == 1.2.3.4 extra", &t).is_err());
        assert!(parse_match("eth.type[0..3] == 1", &t).is_err());
    }

    #[test]
    fn annotate_expands_predicates_and_prereqs() {
        let t = t();
        let e = parse_match("tcp.dst == 80", &t).unwrap().annotate(&t);
        let s = format!("{e:?}");
        assert!(!s.contains("Predicate"), "{s}");
        let Expr::And(v) = e else { panic!("no prereq") };
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn negation_keeps_prereqs_positive() {
        let t = t();
        let e = parse_match("!(tcp.dst == 80)", &t).unwrap().annotate(&t);
        let Expr::And(v) = &e else { panic!("{e:?}") };
        assert!(matches!(&v[0], Expr::Cmp { op: RelOp::Ne, .. }), "{e:?}");
        assert!(!matches!(&v[1], Expr::Not(_)), "{e:?}");
        // De Morgan over a conjunction, with sets and ranges inverted.
        let e = parse_match("!(tcp.dst == {80, 443} && tcp.src < 1024)", &t).unwrap();
        let Expr::Or(v) = e.annotate(&t) else {
            panic!()
        };
        assert!(matches!(&v[0], Expr::And(w) if matches!(&w[0], Expr::Cmp { op: RelOp::Ne, .. })));
        assert!(matches!(&v[1], Expr::And(w) if matches!(&w[0], Expr::Cmp { op: RelOp::Ge, .. })));
        // A negated predicate negates the whole expansion.
        let e = parse_match("!ip4.mcast", &t).unwrap().annotate(&t);
        assert!(matches!(e, Expr::Not(_)), "{e:?}");
    }

    #[test]
    fn nominal_fields_and_predicates_only_test_positively() {
        // OVN's expr.c: `eth.type`/`ip.proto`/strings only for equality (counting
        // enclosing `!`s), and predicates over them only positively.
        let t = t();
        for bad in [
            "!udp",
            "ip4 && !tcp",
            "udp == 0",
            "!(udp == 1)",
            "!(ip4 || ip6)",
            "inport != \"a\"",
            "!(outport == \"a\")",
            "ip.proto != 17",
        ] {
            let e = parse_match(bad, &t).unwrap_err();
            assert!(e.message.contains("nominal"), "{bad}: {e}");
        }
        for good in [
            "udp",
            "udp == 1",
            "!(udp == 0)",
            "!(inport != \"a\")",
            "!ip4.mcast",
            "!eth.bcast && tcp",
        ] {
            assert!(parse_match(good, &t).is_ok(), "{good}");
        }
    }
}
