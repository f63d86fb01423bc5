//! Unit tests of [`super`]: range decomposition, `!=` expansion, residual fallback.

use super::*;
use crate::flow::field;

#[test]
fn ranges_decompose() {
    // 4-bit field: f < 5 (0101) = 00xx | 0100
    let r = range(RelOp::Lt, 5, 4);
    assert_eq!(r, vec![(0, 0b1100), (0b0100, 0b1111)]);
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

struct NoNames;
impl Names for NoNames {
    fn port_key(&self, _: &str) -> Option<u32> {
        None
    }
    fn address_set(&self, _: &str) -> Option<&[crate::lexer::Int]> {
        None
    }
    fn port_group(&self, _: &str) -> Option<Vec<u32>> {
        None
    }
    fn resident(&self, _: &str) -> bool {
        false
    }
}

fn compiled(text: &str) -> CompiledMatch {
    let t = Symtab::ovn();
    let e = crate::parse_match(text, &t).unwrap().annotate(&t);
    compile_match(&e, &t, &NoNames).unwrap()
}

fn matches(m: &CompiledMatch, p: &Flow) -> bool {
    let mut wc = Mask::default();
    m.conjs.iter().any(|c| c.matches(p, &mut wc))
        && m.residual.as_ref().is_none_or(|r| r.eval(p, &mut wc))
}

#[test]
fn exploding_negations_become_a_residual() {
    // Five 32-bit `!=` terms: 32^5 conjunctions, far past MAX_CONJ.
    let m = compiled("ip4.src != {10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5} && tcp");
    assert!(m.residual.is_some());
    assert_eq!(
        m.conjs.len(),
        1,
        "the single-conjunction terms stay in the classifier"
    );
    let mut p = Flow::default();
    p.set(field::ETH_TYPE, 0x800);
    p.set(field::IP_PROTO, 6);
    p.set(field::IP4_SRC, 0x0a00_0009);
    assert!(matches(&m, &p));
    p.set(field::IP4_SRC, 0x0a00_0003);
    assert!(!matches(&m, &p));
    p.set(field::IP4_SRC, 0x0a00_0009);
    p.set(field::IP_PROTO, 17);
    assert!(!matches(&m, &p));
}

#[test]
fn small_negations_and_ranges_expand() {
    let m = compiled("tcp.dst != 80 && 1000 <= tcp.src <= 2000");
    assert!(m.residual.is_none());
    let mut p = Flow::default();
    p.set(field::ETH_TYPE, 0x800);
    p.set(field::IP_PROTO, 6);
    for (src, dst, want) in [
        (1000, 81, true),
        (2000, 1, true),
        (999, 81, false),
        (2001, 81, false),
        (1500, 80, false),
    ] {
        p.set(field::TP_SRC, src);
        p.set(field::TP_DST, dst);
        assert_eq!(matches(&m, &p), want, "src {src} dst {dst}");
    }
    // An unknown port never matches; `!=` to it always does.
    assert!(compiled("inport == \"nope\"").conjs.is_empty());
    // `inport != "nope"` is no OVN match (nominal fields: equality only); its negated
    // form of the same meaning is.
    assert!(crate::parse_match("inport != \"nope\"", &Symtab::ovn()).is_err());
    assert!(compiled("!(inport != \"nope\")").conjs.is_empty());
}
