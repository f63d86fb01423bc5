//! Randomised robustness: mutate real flow texts (byte flips, token deletion, duplication,
//! truncation, splicing) with a fixed-seed generator and check the parsers never panic and
//! that errors point inside the input. Deterministic: same seed, same inputs.

use pipeline::{parse_actions, parse_match, Symtab};
use std::path::Path;

/// xorshift64*: small, deterministic, good enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const PIECES: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "..",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "&&",
    "||",
    ";",
    "=",
    "<->",
    "--",
    ",",
    ":",
    "/",
    "\"",
    "$",
    "@",
    "^",
    "0x",
    "::",
    "1",
    "0",
    "255",
    "99999999999999999999",
    "reg0",
    "xxreg0",
    "ip4.src",
    "inport",
    "next",
    "ct_commit",
    "ct_lb_mark",
    "backends=",
    "/*",
    "*/",
    "1.2.3.4",
    "fe80::1",
    "00:11:22:33:44:55",
    "{ ",
    "}; ",
    "drop;",
    "ip.ttl--",
    "\\",
    "é",
];

fn mutate(rng: &mut Rng, s: &str, other: &str) -> String {
    let mut b: Vec<u8> = s.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = (rng.next() & 0x7f) as u8;
            }
            1 if !b.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => {
                let p = PIECES[rng.below(PIECES.len())];
                b.splice(at..at, p.bytes());
            }
            3 => b.truncate(at),
            4 => {
                let o = other.as_bytes();
                let from = rng.below(o.len() + 1);
                b.splice(at..at, o[from..].iter().copied());
            }
            _ => {
                let end = (at + rng.below(16)).min(b.len());
                let dup: Vec<u8> = b[at..end].to_vec();
                b.splice(at..at, dup);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn real_texts() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/data")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("fixture");
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() == 6 {
                out.push(cols[4].to_string());
                out.push(cols[5].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn mutated_real_flows_never_panic() {
    let t = Symtab::ovn();
    let texts = real_texts();
    assert!(texts.len() > 500);
    let mut rng = Rng(0x5eed_0f50_u64 | 1);
    let (mut ok, mut err) = (0usize, 0usize);
    for round in 0..20_000 {
        let s = &texts[rng.below(texts.len())];
        let o = &texts[rng.below(texts.len())];
        let m = mutate(&mut rng, s, o);
        for r in [
            parse_match(&m, &t).map(|_| ()),
            parse_actions(&m, &t).map(|_| ()),
        ] {
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    err += 1;
                    assert!(
                        e.offset <= m.len(),
                        "round {round}: offset {} past end of {m:?}",
                        e.offset
                    );
                    assert!(!e.message.is_empty());
                }
            }
        }
        if let Ok(e) = parse_match(&m, &t) {
            let _ = e.annotate(&t);
            let p = e.display(&t).to_string();
            assert_eq!(
                parse_match(&p, &t).as_ref(),
                Ok(&e),
                "{m:?} printed as {p:?}"
            );
        }
        if let Ok(a) = parse_actions(&m, &t) {
            let p = pipeline::actions_display(&a, &t).to_string();
            assert_eq!(
                parse_actions(&p, &t).as_ref(),
                Ok(&a),
                "{m:?} printed as {p:?}"
            );
        }
    }
    // Both outcomes must occur, or the mutator is not exercising the parsers.
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let t = Symtab::ovn();
    let m = format!("{}ip4{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_match(&m, &t).is_err());
    let a = format!("{}next;{}", "clone { ".repeat(10_000), " };".repeat(10_000));
    assert!(parse_actions(&a, &t).is_err());
    let n = format!("{}ip4", "!".repeat(10_000));
    assert!(parse_match(&n, &t).is_err());
}
