//! A [`Model`] as plain text, so a Southbound DB can be captured once (by
//! `tests/gen_model_fixture.rs`, from a real ovn-northd) and compiled later without OVN
//! (the `compile/real_100x20` bench). Shared by that test and the bench via `#[path]`.
//!
//! One record per line, fields separated by TAB; list items by `\x1f`, map entries as
//! `key\x1evalue` list items. In every string, `\`, TAB, newline, `\x1e` and `\x1f` are
//! escaped as `\\`, `\t`, `\n`, `\r` and `\u`. Record kinds:
//! `chassis NAME`, `dp UUID KEY NAME S|R`, `lf UUID DP|- GROUP|- I|E TABLE PRIO MATCH
//! ACTIONS STAGE`, `grp UUID DPS`, `pb NAME KEY DP TYPE OPTIONS MACS PORTSEC CHASSIS|-
//! TAG|-`, `mc DP NAME KEY PORTS`, `mb PORT IP MAC DP`, `as NAME ADDRS`, `pg NAME PORTS`,
//! `ch NAME IP`, `tv NAME VALUE`, `zone NAME N`, `lb NAME VIPS PROTO|- DPS OPTIONS`.
#![allow(dead_code)]

use pipeline::model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const LIST: char = '\x1f';
const KV: char = '\x1e';

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            KV => o.push_str("\\r"),
            LIST => o.push_str("\\u"),
            c => o.push(c),
        }
    }
    o
}

fn unesc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            o.push(c);
            continue;
        }
        match it.next() {
            Some('t') => o.push('\t'),
            Some('n') => o.push('\n'),
            Some('r') => o.push(KV),
            Some('u') => o.push(LIST),
            Some(c) => o.push(c),
            None => o.push('\\'),
        }
    }
    o
}

fn list<'a>(v: impl IntoIterator<Item = &'a String>) -> String {
    v.into_iter()
        .map(|s| esc(s))
        .collect::<Vec<_>>()
        .join("\x1f")
}

fn map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{}{KV}{}", esc(k), esc(v)))
        .collect::<Vec<_>>()
        .join("\x1f")
}

fn opt(o: &Option<String>) -> String {
    o.as_deref().map_or("-".into(), esc)
}

/// The model as text (records in model order; template vars and zones sorted).
pub fn write(m: &Model) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "chassis\t{}", esc(&m.chassis));
    for d in &m.datapaths {
        let k = if d.kind == DpKind::Router { "R" } else { "S" };
        let _ = writeln!(
            o,
            "dp\t{}\t{}\t{}\t{k}",
            esc(&d.uuid),
            d.tunnel_key,
            esc(&d.name)
        );
    }
    for f in &m.flows {
        let p = if f.pipeline == Pipeline::Egress {
            "E"
        } else {
            "I"
        };
        let _ = writeln!(
            o,
            "lf\t{}\t{}\t{}\t{p}\t{}\t{}\t{}\t{}\t{}",
            esc(&f.uuid),
            opt(&f.datapath),
            opt(&f.dp_group),
            f.table_id,
            f.priority,
            esc(&f.match_),
            esc(&f.actions),
            esc(&f.stage)
        );
    }
    for g in &m.dp_groups {
        let _ = writeln!(o, "grp\t{}\t{}", esc(&g.uuid), list(&g.datapaths));
    }
    for p in &m.ports {
        let _ = writeln!(
            o,
            "pb\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            esc(&p.logical_port),
            p.tunnel_key,
            esc(&p.datapath),
            esc(&p.kind),
            map(&p.options),
            list(&p.mac),
            list(&p.port_security),
            opt(&p.chassis),
            p.tag.map_or("-".into(), |t| t.to_string())
        );
    }
    for g in &m.mcast_groups {
        let _ = writeln!(
            o,
            "mc\t{}\t{}\t{}\t{}",
            esc(&g.datapath),
            esc(&g.name),
            g.tunnel_key,
            list(&g.ports)
        );
    }
    for b in &m.mac_bindings {
        let _ = writeln!(
            o,
            "mb\t{}\t{}\t{}\t{}",
            esc(&b.logical_port),
            esc(&b.ip),
            esc(&b.mac),
            esc(&b.datapath)
        );
    }
    for a in &m.address_sets {
        let _ = writeln!(o, "as\t{}\t{}", esc(&a.name), list(&a.addresses));
    }
    for g in &m.port_groups {
        let _ = writeln!(o, "pg\t{}\t{}", esc(&g.name), list(&g.ports));
    }
    for c in &m.chassis_list {
        let _ = writeln!(o, "ch\t{}\t{}", esc(&c.name), esc(&c.encap_ip));
    }
    let tv: BTreeMap<_, _> = m.template_vars.iter().collect();
    for (k, v) in tv {
        let _ = writeln!(o, "tv\t{}\t{}", esc(k), esc(v));
    }
    let zones: BTreeMap<_, _> = m.ct_zones.iter().collect();
    for (k, v) in zones {
        let _ = writeln!(o, "zone\t{}\t{v}", esc(k));
    }
    for lb in &m.load_balancers {
        let _ = writeln!(
            o,
            "lb\t{}\t{}\t{}\t{}\t{}",
            esc(&lb.name),
            map(&lb.vips),
            opt(&lb.protocol),
            list(&lb.datapaths),
            map(&lb.options)
        );
    }
    o
}

fn read_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(LIST).map(unesc).collect()
}

fn read_map(s: &str) -> BTreeMap<String, String> {
    read_list_raw(s)
        .filter_map(|kv| kv.split_once(KV).map(|(k, v)| (unesc(k), unesc(v))))
        .collect()
}

fn read_list_raw(s: &str) -> impl Iterator<Item = &str> {
    s.split(LIST).filter(|x| !x.is_empty())
}

fn read_opt(s: &str) -> Option<String> {
    (s != "-").then(|| unesc(s))
}

fn num<T: std::str::FromStr>(s: &str, what: &str, line: usize) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("line {line}: bad {what} {s:?}"))
}

/// Parses [`write`]'s output.
pub fn read(text: &str) -> Result<Model, String> {
    let mut m = Model::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let c: Vec<&str> = line.split('\t').collect();
        let want = |k: usize| {
            if c.len() == k {
                Ok(())
            } else {
                Err(format!("line {n}: {} fields, want {k}", c.len()))
            }
        };
        match c[0] {
            "chassis" => {
                want(2)?;
                m.chassis = unesc(c[1]);
            }
            "dp" => {
                want(5)?;
                m.datapaths.push(Datapath {
                    uuid: unesc(c[1]),
                    tunnel_key: num(c[2], "key", n)?,
                    name: unesc(c[3]),
                    kind: if c[4] == "R" {
                        DpKind::Router
                    } else {
                        DpKind::Switch
                    },
                });
            }
            "lf" => {
                want(10)?;
                m.flows.push(LogicalFlow {
                    uuid: unesc(c[1]),
                    datapath: read_opt(c[2]),
                    dp_group: read_opt(c[3]),
                    pipeline: if c[4] == "E" {
                        Pipeline::Egress
                    } else {
                        Pipeline::Ingress
                    },
                    table_id: num(c[5], "table", n)?,
                    priority: num(c[6], "priority", n)?,
                    match_: unesc(c[7]),
                    actions: unesc(c[8]),
                    stage: unesc(c[9]),
                });
            }
            "grp" => {
                want(3)?;
                m.dp_groups.push(DpGroup {
                    uuid: unesc(c[1]),
                    datapaths: read_list(c[2]),
                });
            }
            "pb" => {
                want(10)?;
                m.ports.push(PortBinding {
                    logical_port: unesc(c[1]),
                    tunnel_key: num(c[2], "key", n)?,
                    datapath: unesc(c[3]),
                    kind: unesc(c[4]),
                    options: read_map(c[5]),
                    mac: read_list(c[6]),
                    port_security: read_list(c[7]),
                    chassis: read_opt(c[8]),
                    tag: if c[9] == "-" {
                        None
                    } else {
                        Some(num(c[9], "tag", n)?)
                    },
                });
            }
            "mc" => {
                want(5)?;
                m.mcast_groups.push(MulticastGroup {
                    datapath: unesc(c[1]),
                    name: unesc(c[2]),
                    tunnel_key: num(c[3], "key", n)?,
                    ports: read_list(c[4]),
                });
            }
            "mb" => {
                want(5)?;
                m.mac_bindings.push(MacBinding {
                    logical_port: unesc(c[1]),
                    ip: unesc(c[2]),
                    mac: unesc(c[3]),
                    datapath: unesc(c[4]),
                });
            }
            "as" => {
                want(3)?;
                m.address_sets.push(AddressSet {
                    name: unesc(c[1]),
                    addresses: read_list(c[2]),
                });
            }
            "pg" => {
                want(3)?;
                m.port_groups.push(PortGroup {
                    name: unesc(c[1]),
                    ports: read_list(c[2]),
                });
            }
            "ch" => {
                want(3)?;
                m.chassis_list.push(Chassis {
                    name: unesc(c[1]),
                    encap_ip: unesc(c[2]),
                });
            }
            "tv" => {
                want(3)?;
                m.template_vars.insert(unesc(c[1]), unesc(c[2]));
            }
            "zone" => {
                want(3)?;
                m.ct_zones.insert(unesc(c[1]), num(c[2], "zone", n)?);
            }
            "lb" => {
                want(6)?;
                m.load_balancers.push(LoadBalancer {
                    name: unesc(c[1]),
                    vips: read_map(c[2]),
                    protocol: read_opt(c[3]),
                    datapaths: read_list(c[4]),
                    options: read_map(c[5]),
                });
            }
            "" => {}
            k => return Err(format!("line {n}: unknown record {k:?}")),
        }
    }
    Ok(m)
}
