//! An immutable view of the Southbound state for the pipeline compiler: plain Rust structs
//! (no JSON), built from the SB replica by [`SbSnapshot::build`] and shared as
//! `Arc<SbSnapshot>`. [`ChangedSet`] says which datapaths differ from the previous snapshot
//! so the compiler can recompile only those.
//!
//! Rows with malformed columns are skipped with a warning (they cannot be compiled); a
//! logical flow whose datapath is not local is kept (the compiler decides), its
//! `datapaths` field lists the datapaths it applies to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::datum::Uuid;
use crate::replica::{Change, Changes, Replica};
use crate::row::Row;

/// `Logical_Flow.pipeline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pipeline {
    Ingress,
    Egress,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datapath {
    pub uuid: Uuid,
    pub tunnel_key: u32,
    /// `external_ids:name` (the NB switch/router name).
    pub name: String,
    /// True for logical routers (`external_ids:logical-router` present).
    pub is_router: bool,
    /// True when local to this chassis (see [`crate::sb::local_datapaths`]).
    pub local: bool,
    pub external_ids: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBinding {
    pub uuid: Uuid,
    pub logical_port: String,
    pub datapath: Uuid,
    pub tunnel_key: u32,
    /// `""` (VIF), `patch`, `localnet`, `l3gateway`, `chassisredirect`, ...
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub mac: Vec<String>,
    pub port_security: Vec<String>,
    pub chassis: Option<Uuid>,
    pub parent_port: Option<String>,
    pub tag: Option<u16>,
    pub up: bool,
    pub nat_addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalFlow {
    pub uuid: Uuid,
    pub pipeline: Pipeline,
    pub table_id: u8,
    pub priority: u16,
    pub match_: String,
    pub actions: String,
    /// Exactly one of these is set.
    pub datapath: Option<Uuid>,
    pub dp_group: Option<Uuid>,
    pub controller_meter: Option<String>,
    /// `external_ids:stage-name`, for logs and traces.
    pub stage_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulticastGroup {
    pub uuid: Uuid,
    pub datapath: Uuid,
    pub name: String,
    pub tunnel_key: u32,
    pub ports: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacBinding {
    pub uuid: Uuid,
    pub datapath: Uuid,
    pub logical_port: String,
    pub ip: String,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    pub uuid: Uuid,
    pub name: String,
    /// VIP -> backends, as in the SB (`"10.0.0.10:80" -> "10.0.0.2:80,10.0.0.3:80"`).
    pub vips: BTreeMap<String, String>,
    pub protocol: Option<String>,
    pub datapaths: Vec<Uuid>,
    pub dp_group: Option<Uuid>,
    pub options: BTreeMap<String, String>,
}

/// A `DHCP_Options`/`DHCPv6_Options` row: a supported option name, code and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpOption {
    pub name: String,
    pub code: i64,
    pub kind: String,
}

/// A chassis and its tunnel endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChassisInfo {
    pub uuid: Uuid,
    pub name: String,
    /// (type, ip).
    pub encaps: Vec<(String, String)>,
}

/// The snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SbSnapshot {
    /// Our chassis name and row.
    pub chassis_name: String,
    pub chassis: Option<Uuid>,
    /// `SB_Global.nb_cfg` this snapshot includes.
    pub nb_cfg: i64,
    pub datapaths: BTreeMap<Uuid, Datapath>,
    pub port_bindings: BTreeMap<Uuid, PortBinding>,
    /// Shared with the previous snapshot where the row did not change (see
    /// [`SbSnapshot::build_from`]).
    pub lflows: BTreeMap<Uuid, Arc<LogicalFlow>>,
    pub dp_groups: BTreeMap<Uuid, Vec<Uuid>>,
    pub multicast_groups: BTreeMap<Uuid, MulticastGroup>,
    /// name -> addresses.
    pub address_sets: BTreeMap<String, Vec<String>>,
    /// name -> logical port names.
    pub port_groups: BTreeMap<String, Vec<String>>,
    pub mac_bindings: BTreeMap<Uuid, MacBinding>,
    pub load_balancers: BTreeMap<Uuid, LoadBalancer>,
    pub dhcp_options: Vec<DhcpOption>,
    pub dhcpv6_options: Vec<DhcpOption>,
    pub chassis_rows: BTreeMap<Uuid, ChassisInfo>,
    /// This chassis' template variables (`Chassis_Template_Var.variables`), for `^name`
    /// references in logical flow matches and actions.
    pub template_vars: BTreeMap<String, String>,
    /// Local interfaces: logical port -> (netdev, ofport).
    pub local_ports: BTreeMap<String, (String, Option<i64>)>,
    /// Conntrack zones by name (logical port, `<dp>_dnat`, `<dp>_snat`).
    pub ct_zones: BTreeMap<String, u16>,
}

/// Which datapaths changed between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedSet {
    /// Something global changed (address sets, port groups, load balancers, chassis, local
    /// ports, zones...): recompile everything.
    pub all: bool,
    pub datapaths: BTreeSet<Uuid>,
}

impl ChangedSet {
    pub fn everything() -> ChangedSet {
        ChangedSet {
            all: true,
            datapaths: BTreeSet::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.datapaths.is_empty()
    }
}

fn smap(r: &Row, col: &str) -> BTreeMap<String, String> {
    r.get_str_map(col)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sset(r: &Row, col: &str) -> Vec<String> {
    r.get_str_set(col)
        .unwrap_or_default()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn key_u32(r: &Row, col: &str) -> Option<u32> {
    r.get_int(col).ok().and_then(|k| u32::try_from(k).ok())
}

fn skip(table: &str, u: &Uuid, why: &str) {
    log::warn!("SB {table} {u}: {why}; row skipped");
}

impl SbSnapshot {
    /// Builds the SB part from the replica (local ports and zones are filled by the caller).
    pub fn build(
        sb: &Replica,
        chassis_name: &str,
        chassis: Option<Uuid>,
        local_dps: &BTreeMap<Uuid, i64>,
    ) -> SbSnapshot {
        SbSnapshot::build_from(sb, chassis_name, chassis, local_dps, None)
    }

    fn add_lflow(&mut self, u: &Uuid, r: &Row) {
        match lflow(u, r) {
            Some(f) => {
                self.lflows.insert(*u, Arc::new(f));
            }
            None => skip(
                "Logical_Flow",
                u,
                "bad pipeline, table_id, priority or datapath",
            ),
        }
    }

    /// Like [`SbSnapshot::build`], but when `prev` is the snapshot built from this replica
    /// before `changes` (every row change since, as the replica reported them), unchanged
    /// logical flows are shared with it instead of being read again. The result is equal
    /// to [`SbSnapshot::build`]'s.
    pub fn build_from(
        sb: &Replica,
        chassis_name: &str,
        chassis: Option<Uuid>,
        local_dps: &BTreeMap<Uuid, i64>,
        prev: Option<(&SbSnapshot, &Changes)>,
    ) -> SbSnapshot {
        let mut s = SbSnapshot {
            chassis_name: chassis_name.to_string(),
            chassis,
            nb_cfg: sb
                .rows("SB_Global")
                .next()
                .and_then(|(_, r)| r.get_int("nb_cfg").ok())
                .unwrap_or(0),
            ..SbSnapshot::default()
        };
        for (u, r) in sb.rows("Datapath_Binding") {
            let Some(tunnel_key) = key_u32(r, "tunnel_key") else {
                skip("Datapath_Binding", u, "bad tunnel_key");
                continue;
            };
            let ids = smap(r, "external_ids");
            s.datapaths.insert(
                *u,
                Datapath {
                    uuid: *u,
                    tunnel_key,
                    name: ids.get("name").cloned().unwrap_or_default(),
                    is_router: ids.contains_key("logical-router"),
                    local: local_dps.contains_key(u),
                    external_ids: ids,
                },
            );
        }
        for (u, r) in sb.rows("Port_Binding") {
            let (Ok(dp), Some(tunnel_key), Ok(name)) = (
                r.get_uuid("datapath"),
                key_u32(r, "tunnel_key"),
                r.get_str("logical_port"),
            ) else {
                skip(
                    "Port_Binding",
                    u,
                    "bad datapath, tunnel_key or logical_port",
                );
                continue;
            };
            s.port_bindings.insert(
                *u,
                PortBinding {
                    uuid: *u,
                    logical_port: name.to_string(),
                    datapath: dp,
                    tunnel_key,
                    kind: r.get_str("type").unwrap_or("").to_string(),
                    options: smap(r, "options"),
                    mac: sset(r, "mac"),
                    port_security: sset(r, "port_security"),
                    chassis: r.get_opt_uuid("chassis").ok().flatten(),
                    parent_port: r.get_opt_str("parent_port").ok().flatten().map(Into::into),
                    tag: r
                        .get_opt_int("tag")
                        .ok()
                        .flatten()
                        .and_then(|t| u16::try_from(t).ok()),
                    up: r.get_bool("up").unwrap_or(false),
                    nat_addresses: sset(r, "nat_addresses"),
                },
            );
        }
        let lflow_changes = prev.map(|(p, ch)| (p, ch.get("Logical_Flow")));
        match lflow_changes {
            // Logical flows are most of the snapshot: take the previous snapshot's (shared)
            // and re-read only the rows the replica reports changed.
            Some((p, changed)) => {
                s.lflows = p.lflows.clone();
                for (u, _) in changed.into_iter().flatten() {
                    s.lflows.remove(u);
                    if let Some(r) = sb.row("Logical_Flow", u) {
                        s.add_lflow(u, r);
                    }
                }
            }
            None => {
                for (u, r) in sb.rows("Logical_Flow") {
                    s.add_lflow(u, r);
                }
            }
        }
        for (u, r) in sb.rows("Logical_DP_Group") {
            s.dp_groups
                .insert(*u, r.get_uuid_set("datapaths").unwrap_or_default());
        }
        for (u, r) in sb.rows("Multicast_Group") {
            let (Ok(dp), Some(k), Ok(name)) = (
                r.get_uuid("datapath"),
                key_u32(r, "tunnel_key"),
                r.get_str("name"),
            ) else {
                skip("Multicast_Group", u, "bad datapath, tunnel_key or name");
                continue;
            };
            s.multicast_groups.insert(
                *u,
                MulticastGroup {
                    uuid: *u,
                    datapath: dp,
                    name: name.to_string(),
                    tunnel_key: k,
                    ports: r.get_uuid_set("ports").unwrap_or_default(),
                },
            );
        }
        for (_, r) in sb.rows("Address_Set") {
            if let Ok(n) = r.get_str("name") {
                s.address_sets.insert(n.to_string(), sset(r, "addresses"));
            }
        }
        for (_, r) in sb.rows("Port_Group") {
            if let Ok(n) = r.get_str("name") {
                s.port_groups.insert(n.to_string(), sset(r, "ports"));
            }
        }
        for (u, r) in sb.rows("MAC_Binding") {
            if let Ok(dp) = r.get_uuid("datapath") {
                s.mac_bindings.insert(
                    *u,
                    MacBinding {
                        uuid: *u,
                        datapath: dp,
                        logical_port: r.get_str("logical_port").unwrap_or("").into(),
                        ip: r.get_str("ip").unwrap_or("").into(),
                        mac: r.get_str("mac").unwrap_or("").into(),
                    },
                );
            }
        }
        for (u, r) in sb.rows("Load_Balancer") {
            s.load_balancers.insert(
                *u,
                LoadBalancer {
                    uuid: *u,
                    name: r.get_str("name").unwrap_or("").into(),
                    vips: smap(r, "vips"),
                    protocol: r.get_opt_str("protocol").ok().flatten().map(Into::into),
                    datapaths: r.get_uuid_set("datapaths").unwrap_or_default(),
                    dp_group: r.get_opt_uuid("datapath_group").ok().flatten(),
                    options: smap(r, "options"),
                },
            );
        }
        let dhcp = |t: &str| -> Vec<DhcpOption> {
            sb.rows(t)
                .filter_map(|(_, r)| {
                    Some(DhcpOption {
                        name: r.get_str("name").ok()?.into(),
                        code: r.get_int("code").ok()?,
                        kind: r.get_str("type").ok()?.into(),
                    })
                })
                .collect()
        };
        if let Some((_, r)) = sb
            .rows("Chassis_Template_Var")
            .find(|(_, r)| r.get_str("chassis").ok() == Some(chassis_name))
        {
            s.template_vars = smap(r, "variables");
        }
        s.dhcp_options = dhcp("DHCP_Options");
        s.dhcpv6_options = dhcp("DHCPv6_Options");
        for (u, r) in sb.rows("Chassis") {
            let encaps = r
                .get_uuid_set("encaps")
                .unwrap_or_default()
                .iter()
                .filter_map(|e| sb.row("Encap", e))
                .filter_map(|e| {
                    Some((e.get_str("type").ok()?.into(), e.get_str("ip").ok()?.into()))
                })
                .collect();
            s.chassis_rows.insert(
                *u,
                ChassisInfo {
                    uuid: *u,
                    name: r.get_str("name").unwrap_or("").into(),
                    encaps,
                },
            );
        }
        s
    }

    /// The datapaths a flow applies to.
    pub fn flow_datapaths(&self, f: &LogicalFlow) -> Vec<Uuid> {
        match (f.datapath, f.dp_group) {
            (Some(d), _) => vec![d],
            (None, Some(g)) => self.dp_groups.get(&g).cloned().unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// Number of logical flows on local datapaths, counting a group flow once per local
    /// member, and the number of local datapaths.
    pub fn local_flow_counts(&self) -> (usize, usize) {
        let local: BTreeSet<Uuid> = self
            .datapaths
            .values()
            .filter(|d| d.local)
            .map(|d| d.uuid)
            .collect();
        let n = self
            .lflows
            .values()
            .map(|f| {
                self.flow_datapaths(f)
                    .iter()
                    .filter(|d| local.contains(d))
                    .count()
            })
            .sum();
        (n, local.len())
    }

    /// What changed from `prev` to `self`, given the replica's changed rows.
    pub fn changed_since(&self, prev: &SbSnapshot, changes: &Changes) -> ChangedSet {
        let mut c = ChangedSet::default();
        if self.local_ports != prev.local_ports
            || self.ct_zones != prev.ct_zones
            || self.chassis != prev.chassis
        {
            c.all = true;
        }
        for (table, rows) in changes {
            for (u, ch) in rows {
                let both = |f: &dyn Fn(&SbSnapshot) -> Vec<Uuid>| {
                    let mut v = f(self);
                    if *ch != Change::Inserted {
                        v.extend(f(prev));
                    }
                    v
                };
                let dps: Vec<Uuid> = match table.as_str() {
                    "Logical_Flow" => both(&|s| {
                        s.lflows
                            .get(u)
                            .map(|f| s.flow_datapaths(f))
                            .unwrap_or_default()
                    }),
                    "Port_Binding" => both(&|s| {
                        s.port_bindings
                            .get(u)
                            .map(|p| vec![p.datapath])
                            .unwrap_or_default()
                    }),
                    "Multicast_Group" => both(&|s| {
                        s.multicast_groups
                            .get(u)
                            .map(|m| vec![m.datapath])
                            .unwrap_or_default()
                    }),
                    "MAC_Binding" => both(&|s| {
                        s.mac_bindings
                            .get(u)
                            .map(|m| vec![m.datapath])
                            .unwrap_or_default()
                    }),
                    "Datapath_Binding" => vec![*u],
                    "Logical_DP_Group" => {
                        both(&|s| s.dp_groups.get(u).cloned().unwrap_or_default())
                    }
                    "SB_Global" | "Chassis_Private" | "FDB" | "IGMP_Group"
                    | "Static_MAC_Binding" | "Service_Monitor" | "Meter" | "Meter_Band" | "DNS" => {
                        Vec::new()
                    }
                    _ => {
                        c.all = true;
                        Vec::new()
                    }
                };
                c.datapaths.extend(dps);
            }
        }
        c
    }
}

fn lflow(u: &Uuid, r: &Row) -> Option<LogicalFlow> {
    let pipeline = match r.get_str("pipeline").ok()? {
        "ingress" => Pipeline::Ingress,
        "egress" => Pipeline::Egress,
        _ => return None,
    };
    let datapath = r.get_opt_uuid("logical_datapath").ok().flatten();
    let dp_group = r.get_opt_uuid("logical_dp_group").ok().flatten();
    if datapath.is_none() && dp_group.is_none() {
        return None;
    }
    let ids = r.get_str_map("external_ids").unwrap_or_default();
    Some(LogicalFlow {
        uuid: *u,
        pipeline,
        table_id: u8::try_from(r.get_int("table_id").ok()?).ok()?,
        priority: u16::try_from(r.get_int("priority").ok()?).ok()?,
        match_: r.get_str("match").ok()?.to_string(),
        actions: r.get_str("actions").ok()?.to_string(),
        datapath,
        dp_group,
        controller_meter: r
            .get_opt_str("controller_meter")
            .ok()
            .flatten()
            .map(Into::into),
        stage_name: ids.get("stage-name").map(|s| s.to_string()),
    })
}
