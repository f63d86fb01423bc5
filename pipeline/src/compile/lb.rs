//! Load balancers compiled into the `chk_lb_hairpin_reply()` lookup set.
//!
//! ovn-controller (lflow.c, `add_lb_vip_hairpin_reply_action` and friends) sets the reply
//! bit for a packet from a backend `(ip, proto, port)` of a VIP back to the hairpin SNAT
//! address (the VIP, or `options:hairpin_snat_ip`) on a datapath the load balancer is
//! applied to. OVN learns those flows from the first hairpinned packet; we precompute the
//! same keys statelessly: the answer is the same for any reply whose request was
//! hairpinned, which is what `chk_lb_hairpin_reply()` is asked about.

use super::LbReplyKey;
use crate::model::Model;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// IP protocol number of a `Load_Balancer:protocol` value (`None`: tcp).
fn proto_num(p: Option<&str>) -> Option<u8> {
    match p.unwrap_or("tcp") {
        "" | "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        _ => None,
    }
}

/// `"10.0.0.1:80"`, `"10.0.0.1"`, `"[fd00::1]:80"` or `"fd00::1"` → (address, port; 0 when
/// absent).
pub(crate) fn parse_ip_port(s: &str) -> Option<(IpAddr, u16)> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, 0));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        return Some((ip.parse().ok()?, port.parse().ok()?));
    }
    let (ip, port) = s.rsplit_once(':')?;
    Some((
        ip.parse::<std::net::Ipv4Addr>().ok()?.into(),
        port.parse().ok()?,
    ))
}

/// The address as the flow stores it (IPv4 in the low 32 bits) and whether it is IPv6.
fn ip_word(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// Uuids of the datapaths some load balancer is applied to.
pub(crate) fn lb_datapaths(model: &Model) -> HashSet<&str> {
    model
        .load_balancers
        .iter()
        .flat_map(|lb| lb.datapaths.iter().map(String::as_str))
        .collect()
}

/// Every `(datapath key, IPv6?, hairpin destination, proto, backend ip, backend port)` for
/// which `chk_lb_hairpin_reply()` is 1. Unparseable VIPs and backends are skipped.
pub(crate) fn reply_keys(model: &Model) -> HashSet<LbReplyKey> {
    let dp_keys: HashMap<&str, u32> = model
        .datapaths
        .iter()
        .map(|d| (d.uuid.as_str(), d.tunnel_key))
        .collect();
    let mut out = HashSet::new();
    for lb in &model.load_balancers {
        let Some(proto) = proto_num(lb.protocol.as_deref()) else {
            continue;
        };
        let snat_ips: Vec<IpAddr> = lb
            .options
            .get("hairpin_snat_ip")
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let dps: Vec<u32> = lb
            .datapaths
            .iter()
            .filter_map(|u| dp_keys.get(u.as_str()).copied())
            .collect();
        for (vip, backends) in &lb.vips {
            let Some((vip_ip, _)) = parse_ip_port(vip) else {
                continue;
            };
            // The hairpin source is `hairpin_snat_ip` of the VIP's family, else the VIP.
            let mut dsts: Vec<IpAddr> = snat_ips
                .iter()
                .copied()
                .filter(|a| a.is_ipv4() == vip_ip.is_ipv4())
                .collect();
            if dsts.is_empty() {
                dsts.push(vip_ip);
            }
            for b in backends.split(',').filter(|b| !b.trim().is_empty()) {
                // `ip:port:service-monitor-ip` style suffixes are not in the SB vips.
                let Some((bip, bport)) = parse_ip_port(b) else {
                    continue;
                };
                if bip.is_ipv4() != vip_ip.is_ipv4() {
                    continue;
                }
                let (v6, bw) = ip_word(bip);
                for &dst in &dsts {
                    let (_, dw) = ip_word(dst);
                    for &dp in &dps {
                        out.insert((dp, v6, dw, proto, bw, bport));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Datapath, DpKind, LoadBalancer};

    #[test]
    fn parses_vip_forms() {
        assert_eq!(
            parse_ip_port("10.0.0.1:80"),
            Some(("10.0.0.1".parse().unwrap(), 80))
        );
        assert_eq!(
            parse_ip_port("[fd00::1]:8080"),
            Some(("fd00::1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_ip_port("fd00::1"),
            Some(("fd00::1".parse().unwrap(), 0))
        );
        assert_eq!(parse_ip_port("nonsense:x"), None);
    }

    #[test]
    fn keys_per_backend_and_snat_ip() {
        let mut m = Model::default();
        m.datapaths.push(Datapath {
            uuid: "dp".into(),
            tunnel_key: 7,
            name: "ls".into(),
            kind: DpKind::Switch,
        });
        let mut lb = LoadBalancer {
            name: "lb".into(),
            datapaths: vec!["dp".into(), "missing".into()],
            ..LoadBalancer::default()
        };
        lb.vips
            .insert("10.0.0.100:80".into(), "10.0.0.1:8080,bad".into());
        m.load_balancers.push(lb.clone());
        let k = reply_keys(&m);
        assert_eq!(k.len(), 1);
        assert!(k.contains(&(7, false, 0x0a00_0064, 6, 0x0a00_0001, 8080)));

        lb.protocol = Some("udp".into());
        lb.options
            .insert("hairpin_snat_ip".into(), "169.254.0.1 fd00::9".into());
        m.load_balancers = vec![lb];
        let k = reply_keys(&m);
        assert_eq!(k.len(), 1);
        assert!(k.contains(&(7, false, 0xa9fe_0001, 17, 0x0a00_0001, 8080)));
    }
}
