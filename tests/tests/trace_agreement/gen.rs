//! Microflows for the trace agreement test, generated from the NB config of a running
//! topology: hosts (VIF addresses), router ports, localnet ports, LB VIPs and NAT
//! addresses, read with `ovn-nbctl --format=json list ...`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;
use testbed::ovn_trace::Fields;
use testbed::OvnSandbox;

/// One generated microflow.
#[derive(Clone, Debug)]
pub struct Case {
    /// What kind of packet, for grouping disagreements.
    pub class: String,
    pub datapath: String,
    /// `field == value` pairs (besides inport), in order.
    pub fields: Vec<(String, String)>,
    /// Extra predicates (`nd_ns`), not fields.
    pub preds: Vec<String>,
    pub inport: String,
    pub ct_new: bool,
    pub lb_dst: Option<(String, Option<u16>)>,
}

impl Case {
    pub fn microflow(&self) -> String {
        let mut parts = vec![format!("inport == \"{}\"", self.inport)];
        parts.extend(self.preds.iter().cloned());
        for (k, v) in &self.fields {
            parts.push(format!("{k} == {v}"));
        }
        parts.join(" && ")
    }

    /// Fields the packet starts with, including what the predicates imply.
    pub fn initial(&self) -> Fields {
        let mut f: Fields = self.fields.iter().cloned().collect();
        let has = |p: &str| self.fields.iter().any(|(k, _)| k.starts_with(p));
        if has("ip4.") || has("icmp4.") {
            f.insert("eth.type".into(), "0x0800".into());
        }
        if has("ip6.") || has("icmp6.") || has("nd.") {
            f.insert("eth.type".into(), "0x86dd".into());
        }
        if has("arp.") {
            f.insert("eth.type".into(), "0x0806".into());
        }
        for (p, n) in [
            ("tcp.", "6"),
            ("udp.", "17"),
            ("icmp4.", "1"),
            ("icmp6.", "58"),
        ] {
            if has(p) {
                f.insert("ip.proto".into(), n.into());
            }
        }
        if self.preds.iter().any(|p| p == "nd_ns") {
            f.insert("ip.proto".into(), "58".into());
            f.insert("icmp6.type".into(), "135".into());
            f.insert("icmp6.code".into(), "0".into());
            f.insert("ip.ttl".into(), "255".into());
        }
        f
    }

    pub fn options(&self) -> Vec<String> {
        let mut o = Vec::new();
        if self.ct_new {
            for _ in 0..6 {
                o.push("--ct=new".to_string());
            }
        }
        if let Some((ip, port)) = &self.lb_dst {
            o.push(match port {
                Some(p) if ip.contains(':') => format!("--lb-dst=[{ip}]:{p}"),
                Some(p) => format!("--lb-dst={ip}:{p}"),
                None => format!("--lb-dst={ip}"),
            });
        }
        o.push("--select-id=1".to_string());
        o
    }
}

// ---- NB config -------------------------------------------------------------------------

fn nb_rows(sb: &OvnSandbox, table: &str, cols: &str) -> Result<Vec<BTreeMap<String, Value>>> {
    let out = sb.nbctl(&["--format=json", &format!("--columns={cols}"), "list", table])?;
    let j: Value = serde_json::from_str(&out).with_context(|| format!("{table} json"))?;
    let heads: Vec<String> = j["headings"]
        .as_array()
        .context("headings")?
        .iter()
        .map(|h| h.as_str().unwrap_or("").to_string())
        .collect();
    let mut rows = Vec::new();
    for r in j["data"].as_array().context("data")? {
        let r = r.as_array().context("row")?;
        rows.push(heads.iter().cloned().zip(r.iter().cloned()).collect());
    }
    Ok(rows)
}

fn atoms(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "set" => a[1]
            .as_array()
            .map(|x| x.iter().flat_map(atoms).collect())
            .unwrap_or_default(),
        Value::Array(a) if a.len() == 2 && a[0] == "uuid" => {
            vec![a[1].as_str().unwrap_or("").to_string()]
        }
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

fn map(v: &Value) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Value::Array(a) = v {
        if a.len() == 2 && a[0] == "map" {
            for kv in a[1].as_array().into_iter().flatten() {
                if let Some(kv) = kv.as_array() {
                    m.insert(
                        atoms(&kv[0]).concat(),
                        atoms(kv.get(1).unwrap_or(&Value::Null)).concat(),
                    );
                }
            }
        }
    }
    m
}

/// A host on a switch: port, MAC, addresses.
#[derive(Clone, Debug)]
struct Host {
    port: String,
    mac: String,
    ip4: Vec<String>,
    ip6: Vec<String>,
}

/// A router port attached to a switch.
#[derive(Clone, Debug)]
struct Gw {
    mac: String,
    ip4: Vec<String>,
    ip6: Vec<String>,
    router: String,
}

#[derive(Default, Debug)]
pub struct Net {
    /// switch → hosts, gateways, localnet ports, LB VIPs (vip, backends)
    hosts: BTreeMap<String, Vec<Host>>,
    gws: BTreeMap<String, Vec<Gw>>,
    localnets: BTreeMap<String, Vec<String>>,
    lbs: BTreeMap<String, Vec<(String, Vec<String>, String)>>,
    /// router → NAT external IPs
    nat: BTreeMap<String, Vec<String>>,
    router_lbs: BTreeMap<String, Vec<(String, Vec<String>, String)>>,
    /// Router ports that no switch port attaches to (patch ports without a peer).
    pub peerless_lrps: std::collections::BTreeSet<String>,
}

fn split_ips(words: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for w in words {
        let ip = w.split('/').next().unwrap_or(w);
        if ip.parse::<std::net::Ipv4Addr>().is_ok() {
            v4.push(ip.to_string());
        } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
            v6.push(ip.to_string());
        }
    }
    (v4, v6)
}

pub fn read_net(sb: &OvnSandbox) -> Result<Net> {
    let mut net = Net::default();
    let lsps = nb_rows(
        sb,
        "Logical_Switch_Port",
        "_uuid,name,type,addresses,options",
    )?;
    let lrps = nb_rows(sb, "Logical_Router_Port", "_uuid,name,mac,networks")?;
    let lbs = nb_rows(sb, "Load_Balancer", "_uuid,name,vips,protocol")?;
    let lb_by_uuid: BTreeMap<String, (BTreeMap<String, String>, String)> = lbs
        .iter()
        .map(|r| {
            (
                atoms(&r["_uuid"]).concat(),
                (map(&r["vips"]), atoms(&r["protocol"]).concat()),
            )
        })
        .collect();
    let lb_list = |uuids: &[String]| {
        let mut v = Vec::new();
        for u in uuids {
            if let Some((vips, proto)) = lb_by_uuid.get(u) {
                for (vip, backends) in vips {
                    let b: Vec<String> = backends
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    let proto = if proto.is_empty() { "tcp" } else { proto };
                    v.push((vip.clone(), b, proto.to_string()));
                }
            }
        }
        v
    };
    let lrp_by_name: BTreeMap<String, &BTreeMap<String, Value>> = lrps
        .iter()
        .map(|r| (atoms(&r["name"]).concat(), r))
        .collect();
    let routers = nb_rows(sb, "Logical_Router", "name,ports,nat,load_balancer")?;
    let nats = nb_rows(sb, "NAT", "_uuid,external_ip")?;
    let nat_ip: BTreeMap<String, String> = nats
        .iter()
        .map(|r| {
            (
                atoms(&r["_uuid"]).concat(),
                atoms(&r["external_ip"]).concat(),
            )
        })
        .collect();
    let mut lrp_router = BTreeMap::new();
    for r in &routers {
        let name = atoms(&r["name"]).concat();
        let lrp_uuids = atoms(&r["ports"]);
        for l in &lrps {
            if lrp_uuids.contains(&atoms(&l["_uuid"]).concat()) {
                lrp_router.insert(atoms(&l["name"]).concat(), name.clone());
                net.peerless_lrps.insert(atoms(&l["name"]).concat());
            }
        }
        let ips: Vec<String> = atoms(&r["nat"])
            .iter()
            .filter_map(|u| nat_ip.get(u).cloned())
            .collect();
        net.nat.insert(name.clone(), ips);
        net.router_lbs
            .insert(name.clone(), lb_list(&atoms(&r["load_balancer"])));
    }
    let lsp_by_uuid: BTreeMap<String, &BTreeMap<String, Value>> = lsps
        .iter()
        .map(|r| (atoms(&r["_uuid"]).concat(), r))
        .collect();
    for s in nb_rows(sb, "Logical_Switch", "name,ports,load_balancer")? {
        let sw = atoms(&s["name"]).concat();
        net.lbs
            .insert(sw.clone(), lb_list(&atoms(&s["load_balancer"])));
        for u in atoms(&s["ports"]) {
            let Some(p) = lsp_by_uuid.get(&u) else {
                continue;
            };
            let name = atoms(&p["name"]).concat();
            let ty = atoms(&p["type"]).concat();
            let opts = map(&p["options"]);
            match ty.as_str() {
                "router" => {
                    let Some(rp) = opts.get("router-port") else {
                        continue;
                    };
                    net.peerless_lrps.remove(rp);
                    let Some(l) = lrp_by_name.get(rp) else {
                        continue;
                    };
                    let nets = atoms(&l["networks"]);
                    let words: Vec<&str> = nets.iter().map(String::as_str).collect();
                    let (ip4, ip6) = split_ips(&words);
                    net.gws.entry(sw.clone()).or_default().push(Gw {
                        mac: atoms(&l["mac"]).concat(),
                        ip4,
                        ip6,
                        router: lrp_router.get(rp).cloned().unwrap_or_default(),
                    });
                }
                "localnet" => net.localnets.entry(sw.clone()).or_default().push(name),
                "" => {
                    for a in atoms(&p["addresses"]) {
                        let w: Vec<&str> = a.split_whitespace().collect();
                        if w.len() < 2 || w[0].split(':').count() != 6 {
                            continue;
                        }
                        let (ip4, ip6) = split_ips(&w[1..]);
                        net.hosts.entry(sw.clone()).or_default().push(Host {
                            port: name.clone(),
                            mac: w[0].to_string(),
                            ip4,
                            ip6,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    Ok(net)
}

// ---- microflow generation ---------------------------------------------------------------

fn sol_node(ip6: &str) -> (String, String) {
    let a: std::net::Ipv6Addr = ip6.parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
    let o = a.octets();
    (
        format!("33:33:ff:{:02x}:{:02x}:{:02x}", o[13], o[14], o[15]),
        format!("ff02::1:ff{:02x}:{:02x}{:02x}", o[13], o[14], o[15]),
    )
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A destination seen from one source: MAC to send to and IPs behind it.
struct Dst {
    what: &'static str,
    mac: String,
    ip4: Vec<String>,
    ip6: Vec<String>,
    /// On-link (ARP/ND make sense).
    onlink: bool,
}

pub fn gen_cases(net: &Net) -> Vec<Case> {
    let mut cases = Vec::new();
    for (sw, hosts) in &net.hosts {
        let gws = net.gws.get(sw).cloned().unwrap_or_default();
        let mut sources: Vec<Host> = hosts.iter().take(6).cloned().collect();
        // An external host behind each localnet port, in the first gateway's subnet.
        for ln in net.localnets.get(sw).into_iter().flatten() {
            let ip4 = gws
                .first()
                .and_then(|g| g.ip4.first())
                .map(|ip| {
                    let mut o: Vec<&str> = ip.split('.').collect();
                    o[3] = "200";
                    o.join(".")
                })
                .unwrap_or_else(|| "192.168.1.200".into());
            sources.push(Host {
                port: ln.clone(),
                mac: "00:00:00:00:aa:01".into(),
                ip4: vec![ip4],
                ip6: vec![],
            });
        }
        for src in &sources {
            let mut dsts = Vec::new();
            for h in hosts.iter().filter(|h| h.port != src.port) {
                dsts.push(Dst {
                    what: "host",
                    mac: h.mac.clone(),
                    ip4: h.ip4.clone(),
                    ip6: h.ip6.clone(),
                    onlink: true,
                });
            }
            dsts.push(Dst {
                what: "unknown-mac",
                mac: "00:00:00:00:99:99".into(),
                ip4: vec![],
                ip6: vec![],
                onlink: true,
            });
            for g in &gws {
                dsts.push(Dst {
                    what: "router-ip",
                    mac: g.mac.clone(),
                    ip4: g.ip4.clone(),
                    ip6: g.ip6.clone(),
                    onlink: true,
                });
                // Hosts of other switches behind the same router.
                let mut remote = Dst {
                    what: "routed",
                    mac: g.mac.clone(),
                    // Default route, static and ECMP routes, policy drop, discard route.
                    ip4: [
                        "8.8.8.8",
                        "172.16.0.5",
                        "172.17.0.5",
                        "172.18.0.5",
                        "10.9.9.9",
                        "192.0.2.5",
                    ]
                    .map(String::from)
                    .to_vec(),
                    ip6: vec!["cafe::5".into()],
                    onlink: false,
                };
                for (osw, ogws) in &net.gws {
                    if osw == sw || !ogws.iter().any(|o| o.router == g.router) {
                        continue;
                    }
                    for h in net.hosts.get(osw).into_iter().flatten() {
                        remote.ip4.extend(h.ip4.iter().cloned());
                        remote.ip6.extend(h.ip6.iter().cloned());
                    }
                    for og in ogws.iter().filter(|o| o.router == g.router) {
                        remote.ip4.extend(og.ip4.iter().cloned());
                    }
                }
                let nat = net.nat.get(&g.router).into_iter().flatten();
                let (n4, n6) = split_ips(&nat.map(String::as_str).collect::<Vec<_>>());
                remote.ip4.extend(n4);
                remote.ip6.extend(n6);
                dsts.push(remote);
            }
            // Unknown on-link IP.
            if let Some(ip) = src.ip4.first() {
                let mut o: Vec<&str> = ip.split('.').collect();
                o[3] = "99";
                dsts.push(Dst {
                    what: "unknown-ip",
                    mac: gws
                        .first()
                        .map_or("00:00:00:00:99:99".into(), |g| g.mac.clone()),
                    ip4: vec![o.join(".")],
                    ip6: vec![],
                    onlink: true,
                });
            }
            for d in &dsts {
                host_cases(sw, src, d, &mut cases);
            }
            // Spoofed source MAC.
            if let (Some(s4), Some(d)) = (src.ip4.first(), dsts.first()) {
                let mut c = base(sw, src, "spoofed-mac");
                c.fields = vec![
                    kv("eth.src", "00:00:00:00:00:ee"),
                    kv("eth.dst", &d.mac),
                    kv("ip4.src", s4),
                    kv(
                        "ip4.dst",
                        d.ip4.first().map_or("10.0.0.250", |s| s.as_str()),
                    ),
                    kv("ip.ttl", "64"),
                    kv("icmp4.type", "8"),
                    kv("icmp4.code", "0"),
                ];
                cases.push(c);
            }
            // Load-balancer VIPs (switch LBs, and router LBs through the gateway).
            let mut vips: Vec<(String, Vec<String>, String, String)> = Vec::new();
            let gw_mac = gws.first().map(|g| g.mac.clone());
            for (vip, b, p) in net.lbs.get(sw).into_iter().flatten() {
                let mac = gw_mac.clone().unwrap_or_else(|| "00:00:00:00:99:98".into());
                vips.push((vip.clone(), b.clone(), p.clone(), mac));
            }
            for g in &gws {
                for (vip, b, p) in net.router_lbs.get(&g.router).into_iter().flatten() {
                    vips.push((vip.clone(), b.clone(), p.clone(), g.mac.clone()));
                }
            }
            for (vip, backends, proto, mac) in vips {
                lb_cases(sw, src, &vip, &backends, &proto, &mac, &mut cases);
            }
        }
    }
    cases
}

fn base(sw: &str, src: &Host, class: &str) -> Case {
    Case {
        class: class.to_string(),
        datapath: sw.to_string(),
        fields: Vec::new(),
        preds: Vec::new(),
        inport: src.port.clone(),
        ct_new: false,
        lb_dst: None,
    }
}

fn host_cases(sw: &str, src: &Host, d: &Dst, out: &mut Vec<Case>) {
    let sm = &src.mac;
    if let Some(s4) = src.ip4.first() {
        let ips: Vec<&String> = if d.ip4.is_empty() && d.what == "unknown-mac" {
            Vec::new()
        } else {
            d.ip4.iter().collect()
        };
        for ip in ips {
            if d.onlink {
                let mut c = base(sw, src, &format!("arp-request {}", d.what));
                c.fields = vec![
                    kv("eth.src", sm),
                    kv("eth.dst", "ff:ff:ff:ff:ff:ff"),
                    kv("arp.op", "1"),
                    kv("arp.sha", sm),
                    kv("arp.spa", s4),
                    kv("arp.tha", "00:00:00:00:00:00"),
                    kv("arp.tpa", ip),
                ];
                out.push(c);
            }
            let l3 = |c: &mut Case| {
                c.fields = vec![
                    kv("eth.src", sm),
                    kv("eth.dst", &d.mac),
                    kv("ip4.src", s4),
                    kv("ip4.dst", ip),
                    kv("ip.ttl", "64"),
                ];
            };
            for ct_new in [false, true] {
                let ct = if ct_new { " ct=new" } else { "" };
                let mut c = base(sw, src, &format!("icmp4-echo {}{ct}", d.what));
                l3(&mut c);
                c.fields.push(kv("icmp4.type", "8"));
                c.fields.push(kv("icmp4.code", "0"));
                c.ct_new = ct_new;
                out.push(c);
                for (proto, port) in [
                    ("tcp", "80"),
                    ("tcp", "22"),
                    ("tcp", "5000"),
                    ("udp", "53"),
                    ("sctp", "9000"),
                ] {
                    let mut c = base(sw, src, &format!("{proto}4 {}{ct}", d.what));
                    l3(&mut c);
                    c.fields.push(kv(&format!("{proto}.src"), "33333"));
                    c.fields.push(kv(&format!("{proto}.dst"), port));
                    c.ct_new = ct_new;
                    out.push(c);
                }
            }
        }
        if d.what == "unknown-mac" {
            // Unicast to an unknown MAC: flooded to `unknown` ports or dropped.
            let mut c = base(sw, src, "tcp4 unknown-mac");
            c.fields = vec![
                kv("eth.src", sm),
                kv("eth.dst", &d.mac),
                kv("ip4.src", s4),
                kv("ip4.dst", "10.0.0.250"),
                kv("ip.ttl", "64"),
                kv("tcp.src", "33333"),
                kv("tcp.dst", "80"),
            ];
            out.push(c);
        }
    }
    if let Some(s6) = src.ip6.first() {
        for ip in &d.ip6 {
            if d.onlink {
                let (mac, sol) = sol_node(ip);
                let mut c = base(sw, src, &format!("nd-ns {}", d.what));
                c.preds = vec!["nd_ns".into()];
                c.fields = vec![
                    kv("eth.src", sm),
                    kv("eth.dst", &mac),
                    kv("ip6.src", s6),
                    kv("ip6.dst", &sol),
                    kv("nd.target", ip),
                    kv("nd.sll", sm),
                ];
                out.push(c);
            }
            for ct_new in [false, true] {
                let ct = if ct_new { " ct=new" } else { "" };
                let mut c = base(sw, src, &format!("icmp6-echo {}{ct}", d.what));
                c.fields = vec![
                    kv("eth.src", sm),
                    kv("eth.dst", &d.mac),
                    kv("ip6.src", s6),
                    kv("ip6.dst", ip),
                    kv("ip.ttl", "64"),
                    kv("icmp6.type", "128"),
                    kv("icmp6.code", "0"),
                ];
                c.ct_new = ct_new;
                out.push(c);
                let mut c = base(sw, src, &format!("tcp6 {}{ct}", d.what));
                c.fields = vec![
                    kv("eth.src", sm),
                    kv("eth.dst", &d.mac),
                    kv("ip6.src", s6),
                    kv("ip6.dst", ip),
                    kv("ip.ttl", "64"),
                    kv("tcp.src", "33333"),
                    kv("tcp.dst", "80"),
                ];
                c.ct_new = ct_new;
                out.push(c);
            }
        }
    }
}

fn split_hostport(s: &str) -> (String, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once(']').unwrap_or((rest, ""));
        return (ip.to_string(), port.trim_start_matches(':').parse().ok());
    }
    match s.rsplit_once(':') {
        Some((ip, p)) if !ip.contains(':') => (ip.to_string(), p.parse().ok()),
        _ => (s.to_string(), None),
    }
}

fn lb_cases(
    sw: &str,
    src: &Host,
    vip: &str,
    backends: &[String],
    proto: &str,
    mac: &str,
    out: &mut Vec<Case>,
) {
    let (vip_ip, vip_port) = split_hostport(vip);
    let v6 = vip_ip.contains(':');
    let sip = if v6 { src.ip6.first() } else { src.ip4.first() };
    let Some(sip) = sip else {
        return;
    };
    let proto = if vip_port.is_none() { "tcp" } else { proto };
    let dport = vip_port.unwrap_or(80).to_string();
    let lb_dst = backends.first().map(|b| split_hostport(b));
    for ct_new in [false, true] {
        let mut c = base(
            sw,
            src,
            &format!("lb-vip {proto}{}", if ct_new { " ct=new" } else { "" }),
        );
        let (s, d) = if v6 {
            ("ip6.src", "ip6.dst")
        } else {
            ("ip4.src", "ip4.dst")
        };
        c.fields = vec![
            kv("eth.src", &src.mac),
            kv("eth.dst", mac),
            kv(s, sip),
            kv(d, &vip_ip),
            kv("ip.ttl", "64"),
            kv(&format!("{proto}.src"), "33333"),
            kv(&format!("{proto}.dst"), &dport),
        ];
        c.ct_new = ct_new;
        c.lb_dst = lb_dst.clone();
        out.push(c);
    }
}
