//! Every fixture flow set compiles with no rejection (other than the one flow OVN's own
//! parser rejects too), and every compiled table answers a lookup without panicking.

#[path = "exec_model.rs"]
mod exec_model;

use pipeline::compile::compile;
use pipeline::Symtab;
use std::sync::Arc;

/// Flows ovn-northd 23.03 emits that ovn-controller rejects as well.
const KNOWN_INVALID: &[(&str, &str)] = &[("12-templates-routes", "ip4.src == ^backends")];

#[test]
fn every_fixture_compiles_without_rejections() {
    let symtab = Arc::new(Symtab::ovn());
    let mut total = 0;
    let mut bad = Vec::new();
    for name in exec_model::fixture_names() {
        let m = exec_model::load(&name);
        let c = compile(&m, symtab.clone());
        total += c.n_flows();
        for r in &c.rejected {
            if KNOWN_INVALID
                .iter()
                .any(|(f, t)| *f == name && r.text.contains(t))
            {
                continue;
            }
            bad.push(format!(
                "{name}: {} {:?} {} {}: {} [{}]",
                r.datapath, r.pipeline, r.table, r.priority, r.reason, r.text
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} rejections:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(total > 2500, "only {total} flows compiled");
}
