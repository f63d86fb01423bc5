//! Reading `ovn-trace --minimal` output: which ports a packet was output to and the final
//! value of every header field `ovn-trace` can vouch for at that point.
//!
//! `--minimal` prints only what changes the packet, as nested statements:
//! ```text
//! # tcp,reg14=0x1,...                     (the microflow, skipped)
//! ip.ttl--;
//! eth.src = 00:00:00:00:ff:02;
//! ct_next(ct_state=est|trk /* default (use --ct to customize) */) {
//!     arp {
//!         eth.dst = ff:ff:ff:ff:ff:ff;
//!         arp.spa = 0xa000101;
//!         output("sw1-p1");
//!     };
//! };
//! *** no load balancing destination (use --lb-dst)
//! ```
//! The reader starts from the microflow's field values ([`Fields`]) and applies each
//! assignment. A `{ }` block works on a copy (clone, conntrack, `select`). Blocks that make
//! a new packet (`arp`, `nd_ns`, `nd_na`, `icmp4`, `icmp6`, `tcp_reset`, `sctp_abort`)
//! keep only what ovn-sb(5) and `ovn-trace` agree the new packet inherits, plus the
//! block's own assignments; other fields are unknown and not compared.
//! `ct_lb`/`ct_lb_mark` blocks change the destination silently: the caller says which
//! backend it forced with `--lb-dst` ([`parse_minimal`]'s `lb_dst`); without it the
//! destination fields become unknown.
//!
//! Values are compared as numbers ([`value_key`]), so `0xa000101` equals `10.0.1.1`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// Field name → value text, as OVN writes them.
pub type Fields = BTreeMap<String, String>;

/// One output of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    pub port: String,
    /// Fields whose final value is known.
    pub fields: Fields,
}

/// What one `--minimal` trace says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Minimal {
    pub outputs: Vec<Emitted>,
    /// `*** ...` lines (errors and unsupported actions).
    pub errors: Vec<String>,
    /// Statements this reader did not interpret.
    pub unknown: Vec<String>,
}

/// Parses a value as `ovn-trace`/OVN writes it into a comparable number: decimal, `0x`
/// hex, MAC, IPv4, IPv6. Returns `None` for anything else.
pub fn value_key(s: &str) -> Option<u128> {
    let s = s.trim().trim_matches('"');
    if let Some(h) = s.strip_prefix("0x") {
        return u128::from_str_radix(h, 16).ok();
    }
    if let Ok(v) = s.parse::<u128>() {
        return Some(v);
    }
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some(u128::from(u32::from(a)));
    }
    if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
        return Some(u128::from(a));
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 6 && parts.iter().all(|p| p.len() == 2) {
        let mut v = 0u128;
        for p in parts {
            v = v << 8 | u128::from(u8::from_str_radix(p, 16).ok()?);
        }
        return Some(v);
    }
    None
}

/// Which fields a generated packet keeps from the packet it was made from (`ovn-trace`'s
/// `execute_arp`, `execute_icmp4` ... as far as ovn-sb(5) agrees), and what it sets.
fn generated(kind: &str, old: &Fields) -> Fields {
    let mut f = Fields::new();
    let keep = |f: &mut Fields, names: &[&str]| {
        for n in names {
            if let Some(v) = old.get(*n) {
                f.insert((*n).to_string(), v.clone());
            }
        }
    };
    match kind {
        "arp" => {
            keep(&mut f, &["eth.src"]);
            f.insert("eth.type".into(), "0x0806".into());
            f.insert("arp.op".into(), "1".into());
            if let Some(v) = old.get("eth.src") {
                f.insert("arp.sha".into(), v.clone());
            }
            f.insert("arp.tha".into(), "00:00:00:00:00:00".into());
            if let Some(v) = old.get("ip4.src") {
                f.insert("arp.spa".into(), v.clone());
            }
            if let Some(v) = old.get("ip4.dst") {
                f.insert("arp.tpa".into(), v.clone());
            }
        }
        "icmp4" | "tcp_reset" | "sctp_abort" => {
            keep(
                &mut f,
                &[
                    "eth.src", "eth.dst", "ip4.src", "ip4.dst", "ip6.src", "ip6.dst",
                ],
            );
        }
        "icmp6" => keep(&mut f, &["eth.src", "eth.dst", "ip6.src", "ip6.dst"]),
        _ => {}
    }
    f
}

/// The OVN field an OVS-level name in a `ct_dnat(ip4.dst=...)` note refers to.
fn apply_nat_note(name: &str, f: &mut Fields) {
    // "ct_dnat(ip4.dst=10.0.0.5)", "ct_snat(ip6.src=fd00::1)".
    if let Some(open) = name.find('(') {
        let inner = &name[open + 1..];
        if let Some((k, rest)) = inner.split_once('=') {
            let v = rest.split(')').next().unwrap_or("");
            if matches!(k, "ip4.dst" | "ip4.src" | "ip6.dst" | "ip6.src") {
                f.insert(k.to_string(), v.to_string());
            }
        }
    }
}

/// Reads `ovn-trace --minimal` output. `initial`: the microflow's fields. `lb_dst`: the
/// `--lb-dst` backend (IP, optional port) given to `ovn-trace`, applied at every `ct_lb`
/// block of its address family: a bare `ct_lb` (an existing connection) always uses it,
/// one with backends uses it when it is one of them (the caller picks it so) and only
/// once; a second LB with backends on the same path would pick at random, which this
/// reader cannot see.
pub fn parse_minimal(
    text: &str,
    initial: &Fields,
    lb_dst: Option<(&str, Option<u16>)>,
) -> Result<Minimal> {
    let mut out = Minimal::default();
    let mut stack: Vec<Fields> = vec![initial.clone()];
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(cur) = stack.last_mut() else {
            bail!("unbalanced braces at {line:?}");
        };
        if let Some(e) = line.strip_prefix("***") {
            out.errors.push(e.trim().trim_end_matches(';').to_string());
            continue;
        }
        if line == "};" || line == "}" {
            stack.pop();
            if stack.is_empty() {
                bail!("unbalanced braces at {line:?}");
            }
            continue;
        }
        if let Some(head) = line.strip_suffix(" {") {
            let name = head.split(['(', ' ', ':']).next().unwrap_or(head);
            let mut f = match name {
                "arp" | "nd_ns" | "nd_na" | "nd_na_router" | "icmp4" | "icmp6" | "tcp_reset"
                | "sctp_abort" => generated(name, cur),
                _ => cur.clone(),
            };
            if name.starts_with("ct_dnat") || name.starts_with("ct_snat") {
                apply_nat_note(head, &mut f);
            }
            if name.starts_with("ct_lb") {
                let v6 = f.contains_key("ip6.dst");
                let fam_ok = |ip: &str| ip.contains(':') == v6;
                match lb_dst {
                    Some((ip, port)) if fam_ok(ip) => {
                        f.insert(if v6 { "ip6.dst" } else { "ip4.dst" }.into(), ip.into());
                        if let Some(p) = port {
                            for k in ["tcp.dst", "udp.dst", "sctp.dst"] {
                                if f.contains_key(k) {
                                    f.insert(k.into(), p.to_string());
                                }
                            }
                        }
                    }
                    _ => {
                        // Random or unchanged: nothing certain about the destination.
                        for k in ["ip4.dst", "ip6.dst", "tcp.dst", "udp.dst", "sctp.dst"] {
                            f.remove(k);
                        }
                    }
                }
            }
            stack.push(f);
            continue;
        }
        let stmt = line.trim_end_matches(';');
        if let Some(rest) = stmt.strip_prefix("output(") {
            let port = rest.trim_end_matches(')').trim_matches('"').to_string();
            out.outputs.push(Emitted {
                port,
                fields: cur.clone(),
            });
            continue;
        }
        if let Some(field) = stmt.strip_suffix("--") {
            let field = field.trim();
            if let Some(v) = cur.get(field).and_then(|v| value_key(v)) {
                let nv = v.saturating_sub(1);
                cur.insert(field.to_string(), nv.to_string());
            }
            continue;
        }
        if let Some((a, b)) = stmt.split_once(" <-> ") {
            let (va, vb) = (cur.get(a).cloned(), cur.get(b).cloned());
            for (k, v) in [(a, vb), (b, va)] {
                match v {
                    Some(v) => cur.insert(k.to_string(), v),
                    None => cur.remove(k),
                };
            }
            continue;
        }
        if let Some((k, v)) = stmt.split_once(" = ") {
            let k = k.trim();
            if k.contains('(') || k.contains(' ') {
                out.unknown.push(stmt.to_string());
                continue;
            }
            cur.insert(k.to_string(), v.trim().to_string());
            continue;
        }
        // Action notes without a body (`ct_next(...)` with nothing after, `LOG: ...`).
        out.unknown.push(stmt.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[(&str, &str)]) -> Fields {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_compare_as_numbers() {
        assert_eq!(value_key("0xa000101"), value_key("10.0.1.1"));
        assert_eq!(value_key("00:00:00:00:ff:02"), Some(0xff02));
        assert_eq!(value_key("fd00::1"), Some(0xfd00_u128 << 112 | 1));
        assert_eq!(value_key("64"), Some(64));
        assert_eq!(value_key("\"sw0\""), None);
    }

    #[test]
    fn routed_packet_with_ttl_and_macs() {
        let t = "# tcp,reg14=0x1\nip.ttl--;\neth.src = 00:00:00:00:ff:02;\n\
                 eth.dst = 50:54:00:00:01:01;\noutput(\"sw1-p1\");\n";
        let init = fields(&[("ip.ttl", "64"), ("eth.src", "50:54:00:00:00:01")]);
        let m = parse_minimal(t, &init, None).unwrap();
        assert_eq!(m.outputs.len(), 1);
        let o = &m.outputs[0];
        assert_eq!(o.port, "sw1-p1");
        assert_eq!(o.fields["ip.ttl"], "63");
        assert_eq!(o.fields["eth.src"], "00:00:00:00:ff:02");
    }

    #[test]
    fn blocks_copy_and_generate() {
        let t = "ip.ttl--;\narp {\n    eth.dst = ff:ff:ff:ff:ff:ff;\n    arp.spa = 0xa000101;\n\
                 output(\"sw1-p1\");\n};\nclone {\n    eth.dst = 00:00:00:00:00:09;\n\
                 output(\"a\");\n};\noutput(\"b\");\n*** no load balancing destination\n";
        let init = fields(&[
            ("ip.ttl", "64"),
            ("eth.src", "50:54:00:00:00:01"),
            ("eth.dst", "00:00:00:00:ff:01"),
            ("ip4.dst", "10.0.1.106"),
            ("tcp.dst", "80"),
        ]);
        let m = parse_minimal(t, &init, None).unwrap();
        assert_eq!(m.outputs.len(), 3);
        let arp = &m.outputs[0].fields;
        assert_eq!(arp["arp.tpa"], "10.0.1.106");
        assert_eq!(arp["arp.spa"], "0xa000101");
        assert!(!arp.contains_key("tcp.dst"));
        assert!(!arp.contains_key("ip.ttl"));
        assert_eq!(m.outputs[1].fields["eth.dst"], "00:00:00:00:00:09");
        // The clone's change does not leak out.
        assert_eq!(m.outputs[2].fields["eth.dst"], "00:00:00:00:ff:01");
        assert_eq!(m.errors, vec!["no load balancing destination".to_string()]);
    }

    #[test]
    fn conntrack_blocks_nat_and_lb() {
        let t = "ct_lb_mark {\n    ct_dnat(ip4.dst=10.0.0.5) {\n        output(\"p\");\n    };\n\
                 };\nct_lb_mark {\n    output(\"q\");\n};\n";
        let init = fields(&[("ip4.dst", "10.0.0.10"), ("tcp.dst", "80")]);
        let m = parse_minimal(t, &init, Some(("10.0.0.11", Some(8080)))).unwrap();
        assert_eq!(m.outputs[0].fields["ip4.dst"], "10.0.0.5");
        assert_eq!(m.outputs[0].fields["tcp.dst"], "8080");
        assert_eq!(m.outputs[1].fields["ip4.dst"], "10.0.0.11");
        // Without --lb-dst the destination is unknown.
        let m = parse_minimal(t, &init, None).unwrap();
        assert!(!m.outputs[1].fields.contains_key("ip4.dst"));
        // An IPv6 backend does not apply to an IPv4 packet.
        let m = parse_minimal(t, &init, Some(("fd00::1", None))).unwrap();
        assert!(!m.outputs[1].fields.contains_key("ip4.dst"));
        assert!(parse_minimal("};\n", &init, None).is_err());
    }
}
