//! Southbound snapshot → [`pipeline::model::Model`], the compiler's input.
//!
//! A straight copy of the rows the compiler reads; names are resolved here (chassis uuid
//! to chassis name, multicast group member uuids to port names). `$svc_monitor_mac`, which
//! ovn-controller defines from `SB_Global:options:svc_monitor_mac`, is added as an address
//! set when [`svc_monitor_mac`] finds it.

use crate::replica::Replica;
use crate::snapshot::{Pipeline as SbPipeline, SbSnapshot};
use pipeline::model as m;
use std::collections::HashMap;

/// `SB_Global:options:svc_monitor_mac`, if set.
pub fn svc_monitor_mac(sb: &Replica) -> Option<String> {
    let (_, r) = sb.rows("SB_Global").next()?;
    let opts = r.get_str_map("options").ok()?;
    opts.get("svc_monitor_mac").map(|s| s.to_string())
}

/// Converts a snapshot. Every datapath is included (local or not); `svc_mac` is the
/// service monitor MAC (see [`svc_monitor_mac`]).
pub fn to_model(s: &SbSnapshot, svc_mac: Option<&str>) -> m::Model {
    let chassis_names: HashMap<_, _> = s
        .chassis_rows
        .values()
        .map(|c| (c.uuid, c.name.clone()))
        .collect();
    let port_names: HashMap<_, _> = s
        .port_bindings
        .values()
        .map(|p| (p.uuid, p.logical_port.clone()))
        .collect();
    let datapaths = s
        .datapaths
        .values()
        .map(|d| m::Datapath {
            uuid: d.uuid.to_string(),
            tunnel_key: d.tunnel_key,
            name: if d.name.is_empty() {
                d.uuid.to_string()
            } else {
                d.name.clone()
            },
            kind: if d.is_router {
                m::DpKind::Router
            } else {
                m::DpKind::Switch
            },
        })
        .collect();
    let flows = s
        .lflows
        .values()
        .map(|f| m::LogicalFlow {
            uuid: f.uuid.to_string(),
            datapath: f.datapath.map(|u| u.to_string()),
            dp_group: f.dp_group.map(|u| u.to_string()),
            pipeline: match f.pipeline {
                SbPipeline::Ingress => m::Pipeline::Ingress,
                SbPipeline::Egress => m::Pipeline::Egress,
            },
            table_id: f.table_id,
            priority: f.priority,
            match_: f.match_.clone(),
            actions: f.actions.clone(),
            stage: f.stage_name.clone().unwrap_or_default(),
        })
        .collect();
    let dp_groups = s
        .dp_groups
        .iter()
        .map(|(u, v)| m::DpGroup {
            uuid: u.to_string(),
            datapaths: v.iter().map(|d| d.to_string()).collect(),
        })
        .collect();
    let ports = s
        .port_bindings
        .values()
        .map(|p| m::PortBinding {
            logical_port: p.logical_port.clone(),
            tunnel_key: p.tunnel_key,
            datapath: p.datapath.to_string(),
            kind: p.kind.clone(),
            options: p.options.clone(),
            mac: p.mac.clone(),
            port_security: p.port_security.clone(),
            chassis: p.chassis.and_then(|c| chassis_names.get(&c).cloned()),
            tag: p.tag,
        })
        .collect();
    let mcast_groups = s
        .multicast_groups
        .values()
        .map(|g| m::MulticastGroup {
            datapath: g.datapath.to_string(),
            name: g.name.clone(),
            tunnel_key: g.tunnel_key,
            ports: g
                .ports
                .iter()
                .filter_map(|u| port_names.get(u).cloned())
                .collect(),
        })
        .collect();
    let mac_bindings = s
        .mac_bindings
        .values()
        .map(|b| m::MacBinding {
            logical_port: b.logical_port.clone(),
            ip: b.ip.clone(),
            mac: b.mac.clone(),
            datapath: b.datapath.to_string(),
        })
        .collect();
    let mut address_sets: Vec<m::AddressSet> = s
        .address_sets
        .iter()
        .map(|(n, a)| m::AddressSet {
            name: n.clone(),
            addresses: a.clone(),
        })
        .collect();
    if let Some(mac) = svc_mac {
        if !s.address_sets.contains_key("svc_monitor_mac") {
            address_sets.push(m::AddressSet {
                name: "svc_monitor_mac".into(),
                addresses: vec![mac.to_string()],
            });
        }
    }
    let port_groups = s
        .port_groups
        .iter()
        .map(|(n, p)| m::PortGroup {
            name: n.clone(),
            ports: p.clone(),
        })
        .collect();
    let chassis_list = s
        .chassis_rows
        .values()
        .map(|c| m::Chassis {
            name: c.name.clone(),
            encap_ip: c
                .encaps
                .iter()
                .find(|(t, _)| t == "geneve")
                .or(c.encaps.first())
                .map(|(_, ip)| ip.clone())
                .unwrap_or_default(),
        })
        .collect();
    let load_balancers = s
        .load_balancers
        .values()
        .map(|lb| {
            let group = lb.dp_group.and_then(|g| s.dp_groups.get(&g));
            m::LoadBalancer {
                name: lb.name.clone(),
                vips: lb.vips.clone(),
                protocol: lb.protocol.clone(),
                datapaths: lb
                    .datapaths
                    .iter()
                    .chain(group.into_iter().flatten())
                    .map(|u| u.to_string())
                    .collect(),
                options: lb.options.clone(),
            }
        })
        .collect();
    m::Model {
        chassis: s.chassis_name.clone(),
        datapaths,
        flows,
        dp_groups,
        ports,
        mcast_groups,
        mac_bindings,
        address_sets,
        port_groups,
        chassis_list,
        template_vars: s
            .template_vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ct_zones: s.ct_zones.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        load_balancers,
    }
}
