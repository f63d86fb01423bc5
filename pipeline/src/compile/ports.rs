//! Port, multicast-group and MAC-binding tables for the executor, from the model's rows.

use super::{ip_key, parse_addr, parse_mac, PortInfo, PortKind};
use crate::classifier::FastHash;
use crate::model::Model;
use std::collections::HashMap;
use std::net::IpAddr;

pub(crate) type PortTables = (
    HashMap<(u32, u32), PortInfo, FastHash>,
    HashMap<(u32, u32), Vec<u32>, FastHash>,
    HashMap<(u32, u32, u128), u64, FastHash>,
);

pub(crate) fn port_tables(
    model: &Model,
    dp_index: &HashMap<&str, usize>,
    alloc_zone: &mut dyn FnMut(&str) -> u16,
) -> PortTables {
    let dp_key = |uuid: &str| dp_index.get(uuid).map(|&i| model.datapaths[i].tunnel_key);
    let by_name: HashMap<&str, &crate::model::PortBinding> = model
        .ports
        .iter()
        .map(|p| (p.logical_port.as_str(), p))
        .collect();
    let mut ports = HashMap::default();
    let mut sorted: Vec<_> = model.ports.iter().collect();
    sorted.sort_by(|a, b| a.logical_port.cmp(&b.logical_port));
    for p in sorted {
        let Some(dk) = dp_key(&p.datapath) else {
            continue;
        };
        let kind = match p.kind.as_str() {
            "patch" => match p
                .options
                .get("peer")
                .and_then(|n| by_name.get(n.as_str()))
                .and_then(|peer| Some((dp_key(&peer.datapath)?, peer.tunnel_key)))
            {
                Some((peer_dp, peer_key)) => PortKind::Patch { peer_dp, peer_key },
                None => PortKind::Unbound,
            },
            "localnet" => PortKind::Localnet { vlan: p.tag },
            "chassisredirect" => PortKind::ChassisRedirect {
                distributed: p
                    .options
                    .get("distributed-port")
                    .and_then(|n| by_name.get(n.as_str()))
                    .map_or(0, |d| d.tunnel_key),
                chassis: p.chassis.clone(),
            },
            "l3gateway" => {
                let ch = p.options.get("l3gateway-chassis").or(p.chassis.as_ref());
                match (
                    ch,
                    p.options
                        .get("peer")
                        .and_then(|n| by_name.get(n.as_str()))
                        .and_then(|peer| Some((dp_key(&peer.datapath)?, peer.tunnel_key))),
                ) {
                    (Some(c), Some((peer_dp, peer_key))) if *c == model.chassis => {
                        PortKind::Patch { peer_dp, peer_key }
                    }
                    (Some(c), _) => PortKind::Remote { chassis: c.clone() },
                    _ => PortKind::Unbound,
                }
            }
            _ => match &p.chassis {
                Some(c) if *c == model.chassis => PortKind::Local,
                Some(c) => PortKind::Remote { chassis: c.clone() },
                None if p.kind == "localport" => PortKind::Local,
                None => PortKind::Unbound,
            },
        };
        let port_security = p
            .port_security
            .iter()
            .filter_map(|s| {
                let mut it = s.split_whitespace();
                let mac = parse_mac(it.next()?)?;
                let ips = it
                    .filter_map(parse_addr)
                    .filter(|i| i.value >> 32 == 0 && i.mask.is_none_or(|m| m >> 32 == 0))
                    .map(|i| (i.value as u32, i.mask.map_or(u32::MAX, |m| m as u32)))
                    .collect();
                Some((mac, ips))
            })
            .collect();
        ports.insert(
            (dk, p.tunnel_key),
            PortInfo {
                name: p.logical_port.clone(),
                kind,
                zone: alloc_zone(&p.logical_port),
                port_security,
            },
        );
    }
    let mut mcast = HashMap::default();
    for m in &model.mcast_groups {
        let Some(dk) = dp_key(&m.datapath) else {
            continue;
        };
        let keys = m
            .ports
            .iter()
            .filter_map(|n| by_name.get(n.as_str()))
            .map(|p| p.tunnel_key)
            .collect();
        mcast.insert((dk, m.tunnel_key), keys);
    }
    let mut mac_bindings = HashMap::default();
    for b in &model.mac_bindings {
        let (Some(dk), Some(p), Ok(ip), Some(mac)) = (
            dp_key(&b.datapath),
            by_name.get(b.logical_port.as_str()),
            b.ip.parse::<IpAddr>(),
            parse_mac(&b.mac),
        ) else {
            continue;
        };
        mac_bindings.insert((dk, p.tunnel_key, ip_key(ip)), mac);
    }
    (ports, mcast, mac_bindings)
}
