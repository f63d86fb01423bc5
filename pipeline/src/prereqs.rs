//! Prerequisites that an action list adds to its flow's match, as OVN's `ovnacts_parse`
//! reports them: a flow `match: 1, actions: ct_next;` really matches `1 && ip`.
//!
//! Rules (lib/actions.c, 23.03): every field an action names contributes that field's
//! prerequisite (`tcp.dst = 80` needs `tcp`); `ip.ttl--`, `ct_next`, `ct_commit`, the
//! `ct_*nat*` and `ct_lb*` actions need `ip`; `arp {}`, `icmp4 {}`, `icmp4_error {}` need
//! `ip4`; `nd_ns {}`, `icmp6 {}`, `icmp6_error {}` and `put_nd_ra_opts` need `ip6`;
//! `nd_na {}`/`nd_na_router {}` need `nd_ns`; `tcp_reset {}` needs `tcp`, `sctp_abort {}`
//! needs `sctp`, `dns_lookup` needs `udp`. Nested blocks that carry their own prerequisite
//! hide their inner actions' prerequisites; `clone {}` and `reject {}` pass them through.

use crate::actions::{Action, NestedKind};
use crate::expr::Expr;
use crate::parser::FieldRef;
use crate::symtab::Symtab;

/// The conjunction of the prerequisites of `actions` (not yet annotated), or `None`.
/// Combine with the match as `Expr::And(vec![m, p]).annotate(symtab)`.
pub fn action_prereqs(actions: &[Action], t: &Symtab) -> Option<Expr> {
    let mut terms = Vec::new();
    collect(actions, t, &mut terms);
    terms.dedup();
    match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(Expr::And(terms)),
    }
}

fn pred(t: &Symtab, name: &str, out: &mut Vec<Expr>) {
    if let Some(id) = t.lookup(name) {
        let e = Expr::Predicate(id);
        if !out.contains(&e) {
            out.push(e);
        }
    }
}

fn field(t: &Symtab, f: &FieldRef, out: &mut Vec<Expr>) {
    if let Some(p) = &t.get(f.sym).prereq {
        if !out.contains(p.as_ref()) {
            out.push((**p).clone());
        }
    }
}

fn collect(actions: &[Action], t: &Symtab, out: &mut Vec<Expr>) {
    for a in actions {
        match a {
            Action::Load { dst, .. } => field(t, dst, out),
            Action::Move { dst, src } => {
                field(t, dst, out);
                field(t, src, out);
            }
            Action::Exchange { a, b } => {
                field(t, a, out);
                field(t, b, out);
            }
            Action::Push(f) | Action::Pop(f) => field(t, f, out),
            Action::DecTtl
            | Action::CtNext
            | Action::CtCommitV1 { .. }
            | Action::CtNat { .. }
            | Action::CtCommitNat
            | Action::CtLb { .. } => pred(t, "ip", out),
            Action::Nested {
                kind,
                actions: inner,
            } => {
                let p = match kind {
                    NestedKind::Clone | NestedKind::Reject => {
                        collect(inner, t, out);
                        continue;
                    }
                    NestedKind::CtCommit => "ip",
                    NestedKind::Arp | NestedKind::Icmp4 | NestedKind::Icmp4Error => "ip4",
                    NestedKind::Icmp6 | NestedKind::Icmp6Error | NestedKind::NdNs => "ip6",
                    NestedKind::NdNa | NestedKind::NdNaRouter => "nd_ns",
                    NestedKind::TcpReset => "tcp",
                    NestedKind::SctpAbort => "sctp",
                };
                pred(t, p, out);
            }
            Action::GetMacBind { port, ip, .. } => {
                field(t, port, out);
                field(t, ip, out);
            }
            Action::PutMacBind { port, ip, mac, .. } => {
                field(t, port, out);
                field(t, ip, out);
                field(t, mac, out);
            }
            Action::LookupMacBind {
                dst, port, ip, mac, ..
            } => {
                field(t, dst, out);
                field(t, port, out);
                field(t, ip, out);
                if let Some(m) = mac {
                    field(t, m, out);
                }
            }
            Action::PutNdRaOpts { dst, .. } => {
                field(t, dst, out);
                pred(t, "ip6", out);
            }
            Action::DnsLookup { dst } => {
                field(t, dst, out);
                pred(t, "udp", out);
            }
            Action::PutDhcpOpts { dst, .. }
            | Action::CheckPktLarger { dst, .. }
            | Action::ChkLbHairpin { dst }
            | Action::ChkLbHairpinReply { dst }
            | Action::ChkLbAff { dst }
            | Action::ChkEcmpNh { dst, .. }
            | Action::CheckPortSec { dst, .. }
            | Action::Select { dst, .. } => field(t, dst, out),
            Action::GetFdb { dst, mac } => {
                field(t, dst, out);
                field(t, mac, out);
            }
            Action::PutFdb { port, mac } => {
                field(t, port, out);
                field(t, mac, out);
            }
            Action::LookupFdb { dst, port, mac } => {
                field(t, dst, out);
                field(t, port, out);
                field(t, mac, out);
            }
            Action::HandleSvcCheck { port } => field(t, port, out),
            Action::BindVport { parent, .. } => field(t, parent, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_actions;

    #[test]
    fn conntrack_and_fields_add_prereqs() {
        let t = Symtab::ovn();
        let a = parse_actions("ct_next;", &t).unwrap();
        assert_eq!(
            action_prereqs(&a, &t),
            Some(Expr::Predicate(t.lookup("ip").unwrap()))
        );
        let a = parse_actions("tcp.dst = 80; next;", &t).unwrap();
        assert_eq!(
            action_prereqs(&a, &t),
            Some(Expr::Predicate(t.lookup("tcp").unwrap()))
        );
        let a = parse_actions(
            "arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.op = 1; output; };",
            &t,
        )
        .unwrap();
        assert_eq!(
            action_prereqs(&a, &t),
            Some(Expr::Predicate(t.lookup("ip4").unwrap()))
        );
        let a = parse_actions("next;", &t).unwrap();
        assert_eq!(action_prereqs(&a, &t), None);
    }
}
