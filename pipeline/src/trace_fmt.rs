//! Output of `southpaw trace`: a [`TraceReport`] (table steps, outputs, drops) printed as
//! text that reads like `ovn-trace --detailed`, or as one JSON object.
//!
//! JSON shape (one line):
//! ```text
//! {"outputs": [{"port": "vm2", "packet": {"eth.src": "00:00:00:00:00:01", ...}}],
//!  "drops": [{"reason": "NoMatch", "datapath": "sw0"}], "errors": []}
//! ```
//! `packet` holds every header field the packet has, named as OVN names them
//! ([`packet_fields`]); values are written as `ovn-trace` writes them: MACs lower-case
//! colon hex, IPv4 dotted, IPv6 per RFC 5952, integers decimal.
//!
//! Nothing here runs the pipeline; the caller fills the report.

use crate::actions::Pipeline;
use crate::flow::{field, Flow};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One table visit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Nesting depth (clones, conntrack recirculations, generated packets).
    pub depth: usize,
    pub datapath: String,
    pub pipeline: Pipeline,
    /// Logical port names (empty if unknown; `outport` only shown for egress).
    pub inport: String,
    pub outport: String,
    pub table: u8,
    pub stage: String,
    /// `None`: no flow matched (implicit drop).
    pub hit: Option<Hit>,
}

/// The flow a table visit matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub priority: u16,
    pub match_: String,
    pub actions: String,
    pub uuid: String,
}

/// A line of commentary between steps (`ct_next(ct_state=est|trk)`, `output to "vm2"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub depth: usize,
    pub text: String,
}

/// Either a table visit or a note, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Step(Step),
    Note(Note),
}

/// A packet that left the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub port: String,
    pub packet: Flow,
}

/// A packet copy that was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drop {
    pub reason: String,
    pub datapath: String,
}

/// Everything one trace produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceReport {
    /// The microflow as parsed (first line of the text form).
    pub microflow: String,
    pub lines: Vec<Line>,
    pub outputs: Vec<Output>,
    pub drops: Vec<Drop>,
    /// Problems (unparsable microflow, unknown datapath ...). Non-empty means no trace.
    pub errors: Vec<String>,
}

fn mac(v: u64) -> String {
    let b = v.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn ip4(v: u64) -> String {
    Ipv4Addr::from(v as u32).to_string()
}

fn ip6(v: u128) -> String {
    // std formats IPv6 per RFC 5952 (lower case, longest zero run compressed).
    Ipv6Addr::from(v).to_string()
}

/// The header fields `f` has, by OVN name, formatted as `ovn-trace` prints them.
pub fn packet_fields(f: &Flow) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let d = |x: u64| x.to_string();
    v.push(("eth.src", mac(f.get(field::ETH_SRC))));
    v.push(("eth.dst", mac(f.get(field::ETH_DST))));
    let et = f.get(field::ETH_TYPE);
    v.push(("eth.type", format!("0x{et:04x}")));
    let tci = f.get(field::VLAN_TCI);
    if tci & 0x1000 != 0 {
        v.push(("vlan.vid", d(tci & 0xfff)));
        v.push(("vlan.pcp", d(tci >> 13)));
    }
    match et {
        0x0806 | 0x8035 => {
            v.push(("arp.op", d(f.get(field::ARP_OP))));
            v.push(("arp.spa", ip4(f.get(field::IP4_SRC))));
            v.push(("arp.tpa", ip4(f.get(field::IP4_DST))));
            v.push(("arp.sha", mac(f.get(field::ARP_SHA))));
            v.push(("arp.tha", mac(f.get(field::ARP_THA))));
        }
        0x0800 | 0x86dd => {
            if et == 0x0800 {
                v.push(("ip4.src", ip4(f.get(field::IP4_SRC))));
                v.push(("ip4.dst", ip4(f.get(field::IP4_DST))));
            } else {
                v.push(("ip6.src", ip6(f.get128(field::IP6_SRC))));
                v.push(("ip6.dst", ip6(f.get128(field::IP6_DST))));
            }
            let proto = f.get(field::IP_PROTO);
            v.push(("ip.proto", d(proto)));
            v.push(("ip.ttl", d(f.get(field::IP_TTL))));
            v.push(("ip.dscp", d(f.get(field::IP_DSCP))));
            v.push(("ip.ecn", d(f.get(field::IP_ECN))));
            let (s, t) = (f.get(field::TP_SRC), f.get(field::TP_DST));
            match (proto, et) {
                (6, _) => {
                    v.push(("tcp.src", d(s)));
                    v.push(("tcp.dst", d(t)));
                }
                (17, _) => {
                    v.push(("udp.src", d(s)));
                    v.push(("udp.dst", d(t)));
                }
                (132, _) => {
                    v.push(("sctp.src", d(s)));
                    v.push(("sctp.dst", d(t)));
                }
                (1, 0x0800) => {
                    v.push(("icmp4.type", d(s)));
                    v.push(("icmp4.code", d(t)));
                }
                (58, 0x86dd) => {
                    v.push(("icmp6.type", d(s)));
                    v.push(("icmp6.code", d(t)));
                    if s == 135 || s == 136 {
                        v.push(("nd.target", ip6(f.get128(field::ND_TARGET))));
                        if s == 135 {
                            v.push(("nd.sll", mac(f.get(field::ARP_SHA))));
                        } else {
                            v.push(("nd.tll", mac(f.get(field::ARP_THA))));
                        }
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
    v
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn pipeline_name(p: Pipeline) -> &'static str {
    match p {
        Pipeline::Ingress => "ingress",
        Pipeline::Egress => "egress",
    }
}

impl TraceReport {
    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        let mut o = String::from("{\"outputs\": [");
        for (i, out) in self.outputs.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            let _ = write!(o, "{{\"port\": {}, \"packet\": {{", json_str(&out.port));
            for (j, (k, v)) in packet_fields(&out.packet).iter().enumerate() {
                if j > 0 {
                    o.push_str(", ");
                }
                let _ = write!(o, "{}: {}", json_str(k), json_str(v));
            }
            o.push_str("}}");
        }
        o.push_str("], \"drops\": [");
        for (i, d) in self.drops.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            let _ = write!(
                o,
                "{{\"reason\": {}, \"datapath\": {}}}",
                json_str(&d.reason),
                json_str(&d.datapath)
            );
        }
        o.push_str("], \"errors\": [");
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            o.push_str(&json_str(e));
        }
        o.push_str("]}");
        o
    }

    /// The detailed text form, like `ovn-trace --detailed`.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        for e in &self.errors {
            let _ = writeln!(o, "error: {e}");
        }
        if !self.microflow.is_empty() {
            let _ = writeln!(o, "# {}", self.microflow);
        }
        let mut last: Option<(usize, &str, Pipeline, &str, &str)> = None;
        for l in &self.lines {
            match l {
                Line::Note(n) => {
                    let _ = writeln!(o, "{}{}", indent(n.depth), n.text);
                    last = None;
                }
                Line::Step(s) => {
                    let ind = indent(s.depth);
                    let key = (
                        s.depth,
                        s.datapath.as_str(),
                        s.pipeline,
                        s.inport.as_str(),
                        if s.pipeline == Pipeline::Egress {
                            s.outport.as_str()
                        } else {
                            ""
                        },
                    );
                    if last != Some(key) {
                        let mut title = format!(
                            "{}(dp=\"{}\", inport=\"{}\"",
                            pipeline_name(s.pipeline),
                            s.datapath,
                            s.inport
                        );
                        if s.pipeline == Pipeline::Egress {
                            let _ = write!(title, ", outport=\"{}\"", s.outport);
                        }
                        title.push(')');
                        let _ = writeln!(o, "\n{ind}{title}");
                        let _ = writeln!(o, "{ind}{}", "-".repeat(title.len()));
                        last = Some(key);
                    }
                    let stage = if s.stage.is_empty() { "-" } else { &s.stage };
                    match &s.hit {
                        Some(h) => {
                            let _ = writeln!(
                                o,
                                "{ind}{}. {} ({}): {}, priority {}, uuid {}",
                                s.table,
                                stage,
                                pipeline_name(s.pipeline),
                                h.match_,
                                h.priority,
                                h.uuid.get(..8).unwrap_or(&h.uuid)
                            );
                            let _ = writeln!(o, "{ind}    {}", h.actions);
                        }
                        None => {
                            let _ = writeln!(
                                o,
                                "{ind}{}. {} ({}): no match (implicit drop)",
                                s.table,
                                stage,
                                pipeline_name(s.pipeline)
                            );
                        }
                    }
                }
            }
        }
        if !self.outputs.is_empty() || !self.drops.is_empty() {
            o.push_str("\n# Result\n");
        }
        for out in &self.outputs {
            let fields: Vec<String> = packet_fields(&out.packet)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(o, "output(\"{}\"): {}", out.port, fields.join(", "));
        }
        for d in &self.drops {
            let _ = writeln!(o, "drop in \"{}\": {}", d.datapath, d.reason);
        }
        o
    }
}

fn indent(depth: usize) -> String {
    "    ".repeat(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_flow() -> Flow {
        let mut f = Flow::default();
        f.set(field::ETH_SRC, 0x0000_0000_0001);
        f.set(field::ETH_DST, 0x0a0b_0c0d_0e0f);
        f.set(field::ETH_TYPE, 0x0800);
        f.set(field::IP4_SRC, 0x0a00_0001);
        f.set(field::IP4_DST, 0x0a00_0102);
        f.set(field::IP_PROTO, 6);
        f.set(field::IP_TTL, 63);
        f.set(field::TP_SRC, 1234);
        f.set(field::TP_DST, 80);
        f
    }

    #[test]
    fn packet_fields_follow_ovn_names_and_formats() {
        let p = packet_fields(&tcp_flow());
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("eth.src"), Some("00:00:00:00:00:01"));
        assert_eq!(get("eth.dst"), Some("0a:0b:0c:0d:0e:0f"));
        assert_eq!(get("ip4.dst"), Some("10.0.1.2"));
        assert_eq!(get("ip.ttl"), Some("63"));
        assert_eq!(get("tcp.dst"), Some("80"));
        assert_eq!(get("udp.dst"), None);
        assert_eq!(get("arp.op"), None);

        let mut f = Flow::default();
        f.set(field::ETH_TYPE, 0x86dd);
        f.set(field::IP_PROTO, 58);
        f.set(field::TP_SRC, 135);
        f.set128(field::ND_TARGET, 0xfd00_u128 << 112 | 0x11);
        f.set128(field::IP6_DST, 0xff02_u128 << 112 | 0x1_ff00_0011);
        let p = packet_fields(&f);
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("nd.target"), Some("fd00::11"));
        assert_eq!(get("ip6.dst"), Some("ff02::1:ff00:11"));
        assert_eq!(get("icmp6.type"), Some("135"));
        assert_eq!(get("nd.sll"), Some("00:00:00:00:00:00"));
    }

    #[test]
    fn json_has_outputs_drops_and_escapes() {
        let r = TraceReport {
            outputs: vec![Output {
                port: "vm\"2".into(),
                packet: tcp_flow(),
            }],
            drops: vec![Drop {
                reason: "NoMatch".into(),
                datapath: "sw0".into(),
            }],
            ..TraceReport::default()
        };
        let j = r.to_json();
        assert!(
            j.starts_with("{\"outputs\": [{\"port\": \"vm\\\"2\", \"packet\": {"),
            "{j}"
        );
        assert!(j.contains("\"tcp.dst\": \"80\""), "{j}");
        assert!(
            j.contains("\"drops\": [{\"reason\": \"NoMatch\", \"datapath\": \"sw0\"}]"),
            "{j}"
        );
        assert!(!j.contains('\n'));
    }

    #[test]
    fn text_lists_steps_and_result() {
        let r = TraceReport {
            microflow: "inport == \"vm1\"".into(),
            lines: vec![
                Line::Step(Step {
                    depth: 0,
                    datapath: "sw0".into(),
                    pipeline: Pipeline::Ingress,
                    inport: "vm1".into(),
                    outport: String::new(),
                    table: 0,
                    stage: "ls_in_check_port_sec".into(),
                    hit: Some(Hit {
                        priority: 50,
                        match_: "1".into(),
                        actions: "next;".into(),
                        uuid: "0123456789abcdef".into(),
                    }),
                }),
                Line::Step(Step {
                    depth: 0,
                    datapath: "sw0".into(),
                    pipeline: Pipeline::Ingress,
                    inport: "vm1".into(),
                    outport: String::new(),
                    table: 1,
                    stage: "ls_in_apply_port_sec".into(),
                    hit: None,
                }),
            ],
            drops: vec![Drop {
                reason: "NoMatch".into(),
                datapath: "sw0".into(),
            }],
            ..TraceReport::default()
        };
        let t = r.to_text();
        assert!(
            t.contains("ingress(dp=\"sw0\", inport=\"vm1\")\n---"),
            "{t}"
        );
        // One header for consecutive steps of the same pipeline.
        assert_eq!(t.matches("ingress(").count(), 1, "{t}");
        assert!(
            t.contains("0. ls_in_check_port_sec (ingress): 1, priority 50, uuid 01234567"),
            "{t}"
        );
        assert!(
            t.contains("1. ls_in_apply_port_sec (ingress): no match"),
            "{t}"
        );
        assert!(t.contains("drop in \"sw0\": NoMatch"), "{t}");
    }
}
