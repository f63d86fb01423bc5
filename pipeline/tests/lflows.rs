//! Every Logical_Flow that a real ovn-northd (23.03) produced for the topologies in
//! tests/topologies/ must parse: match and actions, 100%.
//!
//! Fixture format (tests/data/*.lflows, written by tests/topologies/dump-lflows.sh):
//! `datapath<TAB>pipeline<TAB>table<TAB>priority<TAB>match<TAB>actions`, with `\\`, `\t`
//! and `\n` escaped. A sibling `*.templates` file (`name<TAB>value` lines) holds the
//! Chassis_Template_Var values used to expand `^name` templates before parsing.

use pipeline::{expand_templates, parse_actions, parse_match, Symtab};
use std::collections::HashMap;
use std::path::Path;

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// (file, line, match, actions) of every fixture flow.
fn fixtures() -> Vec<(String, usize, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "lflows"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("fixture readable");
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Flows of templated load balancers use `^name`; expand with chassis ch1's values.
        let mut vars = HashMap::new();
        if let Ok(tv) = std::fs::read_to_string(f.with_extension("templates")) {
            for l in tv.lines() {
                if let Some((k, v)) = l.split_once('\t') {
                    vars.insert(k.to_string(), v.to_string());
                }
            }
        }
        let expand = |s: &str| {
            expand_templates(s, &vars)
                .expect("template expansion")
                .into_owned()
        };
        for (i, line) in text.lines().enumerate() {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "{name}:{}: expected 6 columns", i + 1);
            out.push((
                name.clone(),
                i + 1,
                expand(&unescape(cols[4])),
                expand(&unescape(cols[5])),
            ));
        }
    }
    out
}

/// Flows that ovn-northd 23.03 emits but that OVN's own parser rejects too, so
/// ovn-controller skips them: (fixture file, text fragment, why).
const KNOWN_INVALID: &[(&str, &str, &str)] = &[
    (
        "12-templates-routes.lflows",
        "ip4.src == 10.0.0.11:80,10.0.0.12:80",
        "northd puts the whole ^backends template (an ip:port list) into an ip4.src match \
         for distributed-gateway undnat of a templated load balancer",
    ),
    (
        "03-acl.lflows",
        "reg0[7] == 1 && (ip4.dst == 10.0.1.0/24 && !udp)",
        "the ACL negates the nominal predicate udp (expr.c: only tested positively)",
    ),
    (
        "03-acl.lflows",
        "reg0[8] == 1 && (ip4.dst == 10.0.1.0/24 && !udp)",
        "the ACL negates the nominal predicate udp (expr.c: only tested positively)",
    ),
];

fn known_invalid(file: &str, text: &str) -> bool {
    KNOWN_INVALID
        .iter()
        .any(|(f, frag, _)| *f == file && text.contains(frag))
}

#[test]
fn every_real_flow_parses() {
    let t = Symtab::ovn();
    let flows = fixtures();
    assert!(flows.len() > 1000, "only {} fixture flows", flows.len());
    let mut failures = Vec::new();
    let mut rejected_as_expected = 0;
    for (file, line, m, a) in &flows {
        for (what, text, r) in [
            ("match", m, parse_match(m, &t).map(|_| ())),
            ("actions", a, parse_actions(a, &t).map(|_| ())),
        ] {
            match (r, known_invalid(file, text)) {
                (Ok(()), false) => {}
                (Err(_), true) => rejected_as_expected += 1,
                (Ok(()), true) => failures.push(format!(
                    "{file}:{line}: {what}: accepted a known-invalid flow\n    {text}"
                )),
                (Err(e), false) => failures.push(format!("{file}:{line}: {what}: {e}\n    {text}")),
            }
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} flows failed (see stderr)",
        failures.len(),
        flows.len()
    );
    assert_eq!(rejected_as_expected, KNOWN_INVALID.len());
}

#[test]
fn annotated_matches_have_no_predicates() {
    let t = Symtab::ovn();
    for (file, line, m, _) in fixtures() {
        let Ok(e) = parse_match(&m, &t) else { continue };
        let s = format!("{:?}", e.annotate(&t));
        assert!(!s.contains("Predicate"), "{file}:{line}: {s}");
    }
}

#[test]
fn printing_round_trips() {
    let t = Symtab::ovn();
    let mut n = 0;
    for (file, line, m, a) in fixtures() {
        let (Ok(e), Ok(acts)) = (parse_match(&m, &t), parse_actions(&a, &t)) else {
            continue;
        };
        let m2 = e.display(&t).to_string();
        let e2 = parse_match(&m2, &t).unwrap_or_else(|err| panic!("{file}:{line}: {err}\n  {m2}"));
        assert_eq!(e, e2, "{file}:{line}: match round trip\n  {m}\n  {m2}");
        let a2 = pipeline::actions_display(&acts, &t).to_string();
        let acts2 =
            parse_actions(&a2, &t).unwrap_or_else(|err| panic!("{file}:{line}: {err}\n  {a2}"));
        assert_eq!(
            acts, acts2,
            "{file}:{line}: actions round trip\n  {a}\n  {a2}"
        );
        n += 1;
    }
    assert!(n > 1000);
}

#[test]
fn action_prereqs_combine_with_matches() {
    let t = Symtab::ovn();
    let mut with_prereqs = 0;
    for (_, _, m, a) in fixtures() {
        let (Ok(e), Ok(acts)) = (parse_match(&m, &t), parse_actions(&a, &t)) else {
            continue;
        };
        if let Some(p) = pipeline::action_prereqs(&acts, &t) {
            with_prereqs += 1;
            let full = pipeline::Expr::And(vec![e, p]).annotate(&t);
            assert!(!format!("{full:?}").contains("Predicate"));
        }
    }
    // ct_next, ct_commit, arp {}, ip.ttl-- ... are common in real pipelines.
    assert!(with_prereqs > 100, "{with_prereqs}");
}

#[test]
fn unexpanded_templates_are_rejected_with_a_clear_error() {
    let t = Symtab::ovn();
    let e = parse_match("ip4.dst == ^vip", &t).unwrap_err();
    assert_eq!((e.token.as_str(), e.offset), ("^vip", 11));
    assert!(e.message.contains("template"), "{e}");
    let e = parse_actions("ct_lb_mark(backends=^backends);", &t).unwrap_err();
    assert!(e.message.contains("IP address"), "{e}");
}
