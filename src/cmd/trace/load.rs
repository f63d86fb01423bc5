//! Loading for `southpaw trace`: one Southbound read (every table, no conditions) turned
//! into the compiler's [`Model`], adjusted to be chassis-agnostic the way `ovn-trace` is.
//!
//! The SB → model conversion here is private and minimal (datapaths, flows, groups, ports,
//! multicast groups, MAC bindings, address sets, port groups, chassis); when
//! `control::to_model` lands it should replace [`snapshot_to_model`].
//!
//! Chassis-agnostic: `ovn-trace` has no chassis, treats every existing port as resident
//! (`is_chassis_resident()` is true) and outputs to every port. So every port binding is
//! bound to [`TRACE_CHASSIS`] and `l3gateway` ports name it as their gateway chassis.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use control::{Event, SbSnapshot, Session, SessionConfig};
use pipeline::actions::Pipeline;
use pipeline::model::{
    AddressSet, Chassis, Datapath, DpGroup, DpKind, LogicalFlow, MacBinding, Model, MulticastGroup,
    PortBinding, PortGroup,
};

/// The chassis name a trace pretends to be.
pub const TRACE_CHASSIS: &str = "southpaw-trace";

/// Connects to the SB at `remote`, waits for the initial contents (bounded by `timeout`)
/// and returns the snapshot.
pub fn read_sb(remote: &str, timeout: Duration) -> Result<SbSnapshot> {
    let monitors = control::sb::monitors(TRACE_CHASSIS, true);
    let cfg = SessionConfig::new(remote, "OVN_Southbound", monitors)
        .with_context(|| format!("SB remote {remote}"))?;
    let mut s = Session::new(cfg);
    let deadline = Instant::now() + timeout;
    let mut last_err = String::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!("no Southbound contents from {remote} within {timeout:?} {last_err}");
        }
        for ev in s.run_once(deadline - now) {
            match ev {
                Event::Connected { .. } => {
                    return Ok(SbSnapshot::build(
                        s.replica(),
                        TRACE_CHASSIS,
                        None,
                        &BTreeMap::new(),
                    ));
                }
                Event::ConnectFailed { reason, .. } | Event::Disconnected { reason, .. } => {
                    last_err = format!("(last error: {reason})");
                }
                Event::Updated => {}
            }
        }
    }
}

/// The compiler's model of `sb`, every port resident on [`TRACE_CHASSIS`].
pub fn snapshot_to_model(sb: &SbSnapshot) -> Model {
    let dp_uuid = |u: &control::Uuid| u.to_string();
    let mut m = Model {
        chassis: TRACE_CHASSIS.to_string(),
        ..Model::default()
    };
    for d in sb.datapaths.values() {
        m.datapaths.push(Datapath {
            uuid: dp_uuid(&d.uuid),
            tunnel_key: d.tunnel_key,
            name: if d.name.is_empty() {
                d.uuid.to_string()
            } else {
                d.name.clone()
            },
            kind: if d.is_router {
                DpKind::Router
            } else {
                DpKind::Switch
            },
        });
    }
    for f in sb.lflows.values() {
        m.flows.push(LogicalFlow {
            uuid: f.uuid.to_string(),
            datapath: f.datapath.as_ref().map(dp_uuid),
            dp_group: f.dp_group.as_ref().map(dp_uuid),
            pipeline: match f.pipeline {
                control::snapshot::Pipeline::Ingress => Pipeline::Ingress,
                control::snapshot::Pipeline::Egress => Pipeline::Egress,
            },
            table_id: f.table_id,
            priority: f.priority,
            match_: f.match_.clone(),
            actions: f.actions.clone(),
            stage: f.stage_name.clone().unwrap_or_default(),
        });
    }
    for (u, dps) in &sb.dp_groups {
        m.dp_groups.push(DpGroup {
            uuid: u.to_string(),
            datapaths: dps.iter().map(dp_uuid).collect(),
        });
    }
    let mut port_names = BTreeMap::new();
    for p in sb.port_bindings.values() {
        port_names.insert(p.uuid, p.logical_port.clone());
        let mut options = p.options.clone();
        if p.kind == "l3gateway" {
            options.insert("l3gateway-chassis".into(), TRACE_CHASSIS.into());
        }
        m.ports.push(PortBinding {
            logical_port: p.logical_port.clone(),
            tunnel_key: p.tunnel_key,
            datapath: dp_uuid(&p.datapath),
            kind: p.kind.clone(),
            options,
            mac: p.mac.clone(),
            port_security: p.port_security.clone(),
            chassis: Some(TRACE_CHASSIS.to_string()),
            tag: p.tag,
        });
    }
    for g in sb.multicast_groups.values() {
        m.mcast_groups.push(MulticastGroup {
            datapath: dp_uuid(&g.datapath),
            name: g.name.clone(),
            tunnel_key: g.tunnel_key,
            ports: g
                .ports
                .iter()
                .filter_map(|u| port_names.get(u).cloned())
                .collect(),
        });
    }
    for b in sb.mac_bindings.values() {
        m.mac_bindings.push(MacBinding {
            logical_port: b.logical_port.clone(),
            ip: b.ip.clone(),
            mac: b.mac.clone(),
            datapath: dp_uuid(&b.datapath),
        });
    }
    for (name, addrs) in &sb.address_sets {
        m.address_sets.push(AddressSet {
            name: name.clone(),
            addresses: addrs.clone(),
        });
    }
    for (name, ports) in &sb.port_groups {
        m.port_groups.push(PortGroup {
            name: name.clone(),
            ports: ports.clone(),
        });
    }
    for c in sb.chassis_rows.values() {
        m.chassis_list.push(Chassis {
            name: c.name.clone(),
            encap_ip: c.encaps.first().map(|e| e.1.clone()).unwrap_or_default(),
        });
    }
    m
}
