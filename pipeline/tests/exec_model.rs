//! Shared by the `exec_*` tests: turns a fixture (tests/data/*.lflows, flows only) into a
//! [`Model`]. The fixtures carry no Port_Binding rows, so ports are inferred: every string
//! literal in a single-datapath flow names a port of that datapath (keys 1, 2, ... in order
//! of first appearance), `_MC_*` names are multicast groups, `$sets` and `@groups` are
//! declared empty (`$svc_monitor_mac` holds one MAC). Tests that execute packets replace
//! the inferred ports with hand-written bindings.
#![allow(dead_code)]

use pipeline::model::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub fn unescape(s: &str) -> String {
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

pub fn fixture_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/data")
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".lflows").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

fn strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('"') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('"') else { break };
        out.push(after[..j].to_string());
        rest = &after[j + 1..];
    }
    out
}

fn sigils(s: &str, c: char) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in s.match_indices(c) {
        let name: String = s[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// Loads fixture `name` (without extension) as a model on chassis "ch1".
pub fn load(name: &str) -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = std::fs::read_to_string(dir.join(format!("{name}.lflows"))).expect("fixture");
    let mut m = Model {
        chassis: "ch1".into(),
        ..Model::default()
    };
    if let Ok(tv) = std::fs::read_to_string(dir.join(format!("{name}.templates"))) {
        for l in tv.lines() {
            if let Some((k, v)) = l.split_once('\t') {
                m.template_vars.insert(k.into(), v.into());
            }
        }
    }
    let mut dps: Vec<String> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut ports: BTreeMap<String, String> = BTreeMap::new();
    let mut port_order: Vec<String> = Vec::new();
    let mut mcs: Vec<(String, String)> = Vec::new();
    let mut sets: Vec<String> = Vec::new();
    let mut pgs: Vec<String> = Vec::new();
    let mut routers: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 6, "{name}:{}", i + 1);
        let (mat, act) = (unescape(c[4]), unescape(c[5]));
        let members: Vec<&str> = c[0].split(',').collect();
        for d in &members {
            if !dps.iter().any(|x| x == d) {
                dps.push(d.to_string());
            }
        }
        if act.contains("ip.ttl--") || act.contains("dec_ttl") {
            for d in &members {
                routers.push(d.to_string());
            }
        }
        let (dp, group) = if members.len() == 1 {
            (Some(format!("dp-{}", c[0])), None)
        } else {
            if !groups.iter().any(|g| g == c[0]) {
                groups.push(c[0].to_string());
            }
            (None, Some(format!("grp-{}", c[0])))
        };
        for s in strings(&mat).into_iter().chain(strings(&act)) {
            if s.starts_with("_MC_") {
                for d in &members {
                    if !mcs.iter().any(|(a, b)| a == d && *b == s) {
                        mcs.push((d.to_string(), s.clone()));
                    }
                }
            } else if members.len() == 1 && !ports.contains_key(&s) {
                ports.insert(s.clone(), c[0].to_string());
                port_order.push(s);
            }
        }
        sets.extend(sigils(&mat, '$'));
        pgs.extend(sigils(&mat, '@'));
        m.flows.push(LogicalFlow {
            uuid: format!("{name}:{}", i + 1),
            datapath: dp,
            dp_group: group,
            pipeline: if c[1] == "egress" {
                Pipeline::Egress
            } else {
                Pipeline::Ingress
            },
            table_id: c[2].parse().expect("table"),
            priority: c[3].parse().expect("priority"),
            match_: mat,
            actions: act,
            stage: String::new(),
        });
    }
    for (i, d) in dps.iter().enumerate() {
        m.datapaths.push(Datapath {
            uuid: format!("dp-{d}"),
            tunnel_key: i as u32 + 1,
            name: d.clone(),
            kind: if routers.contains(d) {
                DpKind::Router
            } else {
                DpKind::Switch
            },
        });
    }
    for g in groups {
        m.dp_groups.push(DpGroup {
            uuid: format!("grp-{g}"),
            datapaths: g.split(',').map(|d| format!("dp-{d}")).collect(),
        });
    }
    let mut next_key: HashMap<String, u32> = HashMap::new();
    for p in port_order {
        let d = &ports[&p];
        let k = next_key.entry(d.clone()).or_insert(0);
        *k += 1;
        m.ports.push(PortBinding {
            logical_port: p.clone(),
            tunnel_key: *k,
            datapath: format!("dp-{d}"),
            chassis: Some("ch1".into()),
            ..PortBinding::default()
        });
    }
    for (i, (d, n)) in mcs.into_iter().enumerate() {
        m.mcast_groups.push(MulticastGroup {
            datapath: format!("dp-{d}"),
            name: n,
            tunnel_key: 32768 + i as u32,
            ports: Vec::new(),
        });
    }
    sets.sort();
    sets.dedup();
    for s in sets {
        let addresses = if s == "svc_monitor_mac" {
            vec!["0a:00:00:00:00:fe".to_string()]
        } else {
            Vec::new()
        };
        m.address_sets.push(AddressSet { name: s, addresses });
    }
    pgs.sort();
    pgs.dedup();
    for p in pgs {
        m.port_groups.push(PortGroup {
            name: p,
            ports: Vec::new(),
        });
    }
    m
}

/// Replaces the inferred ports of datapath `dp` (NB name) with `ports`
/// (name, key, type, options, port security) and `_MC_flood`/`_MC_unknown` groups.
/// (name, key, type, options, port security) of one hand-written port.
pub type PortSpec<'a> = (
    &'a str,
    u32,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [&'a str],
);

pub fn set_ports(m: &mut Model, dp: &str, ports: &[PortSpec]) {
    let uuid = format!("dp-{dp}");
    m.ports.retain(|p| p.datapath != uuid);
    m.mcast_groups.retain(|g| g.datapath != uuid);
    for (name, key, kind, opts, ps) in ports {
        m.ports.push(PortBinding {
            logical_port: name.to_string(),
            tunnel_key: *key,
            datapath: uuid.clone(),
            kind: kind.to_string(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port_security: ps.iter().map(|s| s.to_string()).collect(),
            chassis: if kind.is_empty() {
                Some("ch1".into())
            } else {
                None
            },
            ..PortBinding::default()
        });
    }
    let all: Vec<String> = ports.iter().map(|p| p.0.to_string()).collect();
    for (name, key) in [
        ("_MC_flood", 32768),
        ("_MC_unknown", 32769),
        ("_MC_mrouter_flood", 32770),
        ("_MC_mrouter_static", 32771),
        ("_MC_static", 32772),
        ("_MC_flood_l2", 32773),
    ] {
        m.mcast_groups.push(MulticastGroup {
            datapath: uuid.clone(),
            name: name.into(),
            tunnel_key: key,
            ports: if name == "_MC_flood" || name == "_MC_flood_l2" {
                all.clone()
            } else {
                Vec::new()
            },
        });
    }
}

/// Fixture 02 (sw0 - lr0 - sw1) with its ports bound on ch1 (VIFs key 1, router ports
/// key 2 on the switches), and a MAC binding for 10.0.1.11 when `learned`.
pub fn router_model(learned: bool) -> Model {
    let mut m = load("02-router");
    let peer = |p: &'static str| -> &'static [(&'static str, &'static str)] {
        match p {
            "sw0-lr0" => &[("peer", "lr0-sw0")],
            "sw1-lr0" => &[("peer", "lr0-sw1")],
            "lr0-sw0" => &[("peer", "sw0-lr0")],
            _ => &[("peer", "sw1-lr0")],
        }
    };
    set_ports(
        &mut m,
        "sw0",
        &[
            ("sw0-p1", 1, "", &[], &[]),
            ("sw0-lr0", 2, "patch", peer("sw0-lr0"), &[]),
        ],
    );
    set_ports(
        &mut m,
        "sw1",
        &[
            ("sw1-p1", 1, "", &[], &[]),
            ("sw1-lr0", 2, "patch", peer("sw1-lr0"), &[]),
        ],
    );
    set_ports(
        &mut m,
        "lr0",
        &[
            ("lr0-sw0", 1, "patch", peer("lr0-sw0"), &[]),
            ("lr0-sw1", 2, "patch", peer("lr0-sw1"), &[]),
        ],
    );
    if learned {
        m.mac_bindings.push(MacBinding {
            logical_port: "lr0-sw1".into(),
            ip: "10.0.1.11".into(),
            mac: "50:54:00:00:01:01".into(),
            datapath: "dp-lr0".into(),
        });
    }
    m
}

/// `n` renamed copies of `m` (datapaths, ports, groups and the names inside flows get a
/// `-<i>` suffix), for compile benchmarks.
pub fn replicate(m: &Model, n: usize) -> Model {
    let mut out = Model {
        chassis: m.chassis.clone(),
        template_vars: m.template_vars.clone(),
        address_sets: m.address_sets.clone(),
        port_groups: m.port_groups.clone(),
        ..Model::default()
    };
    let names: Vec<String> = m.ports.iter().map(|p| p.logical_port.clone()).collect();
    for i in 0..n {
        let ren = |s: &str| format!("{s}-{i}");
        let ren_text = |t: &str| {
            let mut t = t.to_string();
            for p in &names {
                t = t.replace(&format!("\"{p}\""), &format!("\"{p}-{i}\""));
            }
            t
        };
        for d in &m.datapaths {
            out.datapaths.push(Datapath {
                uuid: ren(&d.uuid),
                tunnel_key: d.tunnel_key + (i * m.datapaths.len()) as u32,
                name: ren(&d.name),
                kind: d.kind,
            });
        }
        for g in &m.dp_groups {
            out.dp_groups.push(DpGroup {
                uuid: ren(&g.uuid),
                datapaths: g.datapaths.iter().map(|d| ren(d)).collect(),
            });
        }
        for f in &m.flows {
            out.flows.push(LogicalFlow {
                uuid: ren(&f.uuid),
                datapath: f.datapath.as_deref().map(ren),
                dp_group: f.dp_group.as_deref().map(ren),
                match_: ren_text(&f.match_),
                actions: ren_text(&f.actions),
                ..f.clone()
            });
        }
        for p in &m.ports {
            let mut q = p.clone();
            q.logical_port = ren(&p.logical_port);
            q.datapath = ren(&p.datapath);
            if let Some(peer) = q.options.get_mut("peer") {
                *peer = ren(peer);
            }
            out.ports.push(q);
        }
        for g in &m.mcast_groups {
            let mut q = g.clone();
            q.datapath = ren(&g.datapath);
            q.ports = g.ports.iter().map(|p| ren(p)).collect();
            out.mcast_groups.push(q);
        }
        for b in &m.mac_bindings {
            let mut q = b.clone();
            q.logical_port = ren(&b.logical_port);
            q.datapath = ren(&b.datapath);
            out.mac_bindings.push(q);
        }
    }
    out
}
