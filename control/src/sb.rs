//! What southpaw monitors in the Southbound DB, and the conditions that restrict it to
//! this chassis' share (ovn-controller's `update_sb_monitors`).
//!
//! Local datapaths ([`local_datapaths`]): those of ports this chassis owns or should own
//! (see [`crate::chassis::should_claim`]) and of its `localport`s, then everything
//! reachable from them through `patch` and `l3gateway` ports (`options:peer`).
//!
//! Conditions ([`conditions`]), when `ovn-monitor-all` is off:
//! - Port_Binding: `chassis`/`requested_chassis` is us, `logical_port`/`parent_port` is a
//!   local iface-id, `options` includes `l2gateway-chassis`/`l3gateway-chassis` = us, type
//!   `patch`/`chassisredirect`/`external` (to find peers and HA duties), or `datapath` is
//!   local;
//! - Logical_Flow: `logical_datapath` is local, or `logical_dp_group` is a group holding a
//!   local datapath;
//! - Logical_DP_Group: `datapaths` includes a local datapath;
//! - MAC_Binding, Multicast_Group, IGMP_Group, Static_MAC_Binding: `datapath` is local;
//!   FDB: `dp_key` is a local datapath's tunnel key; DNS: `datapaths` includes one;
//! - Chassis_Private, Chassis_Template_Var: `name`/`chassis` is us; IP_Multicast:
//!   `datapath` is local.
//!
//! Everything else is monitored whole (small tables, needed to build tunnels and resolve
//! references). With no local datapath the conditional tables match nothing but the
//! clauses about us.

use std::collections::{BTreeMap, BTreeSet};

use crate::client::MonitorRequest;
use crate::datum::{Datum, Uuid};
use crate::ops::Condition;
use crate::replica::Replica;

/// Tables monitored whole.
pub const FULL_TABLES: &[&str] = &[
    "SB_Global",
    "Chassis",
    "Encap",
    "Datapath_Binding",
    "Address_Set",
    "Port_Group",
    "Load_Balancer",
    "DHCP_Options",
    "DHCPv6_Options",
    "Meter",
    "Meter_Band",
    "Service_Monitor",
    "HA_Chassis_Group",
    "HA_Chassis",
    "Gateway_Chassis",
];

/// Tables monitored with conditions.
pub const CONDITIONAL_TABLES: &[&str] = &[
    "Chassis_Private",
    "Port_Binding",
    "Logical_Flow",
    "Logical_DP_Group",
    "Multicast_Group",
    "MAC_Binding",
    "FDB",
    "DNS",
    "IGMP_Group",
    "Static_MAC_Binding",
    "IP_Multicast",
    "Chassis_Template_Var",
];

/// The monitor requests, with the conditions of an empty local view (or none with
/// `monitor_all`).
pub fn monitors(chassis_name: &str, monitor_all: bool) -> Vec<MonitorRequest> {
    let mut v: Vec<MonitorRequest> = FULL_TABLES.iter().map(|t| MonitorRequest::new(t)).collect();
    let conds = conditions(&LocalView::empty(chassis_name), monitor_all);
    for t in CONDITIONAL_TABLES {
        let mut r = MonitorRequest::new(t);
        r.conditions = conds.get(*t).cloned().flatten();
        v.push(r);
    }
    v
}

/// What the conditions depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalView {
    pub chassis_name: String,
    pub chassis: Option<Uuid>,
    /// Local `iface-id`s.
    pub lports: BTreeSet<String>,
    /// Local datapaths (uuid -> tunnel key).
    pub datapaths: BTreeMap<Uuid, i64>,
    /// Logical_DP_Group rows that include a local datapath.
    pub dp_groups: BTreeSet<Uuid>,
}

impl LocalView {
    pub fn empty(chassis_name: &str) -> LocalView {
        LocalView {
            chassis_name: chassis_name.to_string(),
            ..LocalView::default()
        }
    }
}

/// Local datapaths: see the module note.
pub fn local_datapaths(
    sb: &Replica,
    chassis: Option<Uuid>,
    chassis_name: &str,
    lports: &BTreeSet<String>,
) -> BTreeMap<Uuid, i64> {
    let mut seeds = BTreeSet::new();
    let mut by_name = BTreeMap::new();
    for (_, pb) in sb.rows("Port_Binding") {
        let Ok(dp) = pb.get_uuid("datapath") else {
            continue;
        };
        let name = pb.get_str("logical_port").unwrap_or("");
        by_name.insert(name.to_string(), (dp, pb));
        let bound_here = chassis.is_some_and(|c| {
            pb.get_opt_uuid("chassis").ok().flatten() == Some(c)
                || crate::chassis::should_claim(sb, pb, c, chassis_name, lports)
        });
        let localport = pb.get_str("type").ok() == Some("localport") && lports.contains(name);
        if bound_here || localport {
            seeds.insert(dp);
        }
    }
    // Walk patch/l3gateway peers from the seeds.
    let mut local = BTreeSet::new();
    let mut todo: Vec<Uuid> = seeds.into_iter().collect();
    while let Some(dp) = todo.pop() {
        if !local.insert(dp) {
            continue;
        }
        for (pdp, pb) in by_name.values() {
            if *pdp != dp || !matches!(pb.get_str("type"), Ok("patch") | Ok("l3gateway")) {
                continue;
            }
            let opts = pb.get_str_map("options").unwrap_or_default();
            if let Some((peer_dp, _)) = opts.get("peer").and_then(|p| by_name.get(*p)) {
                todo.push(*peer_dp);
            }
        }
    }
    local
        .into_iter()
        .map(|dp| {
            let key = sb
                .row("Datapath_Binding", &dp)
                .and_then(|r| r.get_int("tunnel_key").ok())
                .unwrap_or(0);
            (dp, key)
        })
        .collect()
}

/// Logical_DP_Group rows that include one of `datapaths`.
pub fn local_dp_groups(sb: &Replica, datapaths: &BTreeMap<Uuid, i64>) -> BTreeSet<Uuid> {
    sb.rows("Logical_DP_Group")
        .filter(|(_, g)| {
            g.get_uuid_set("datapaths")
                .unwrap_or_default()
                .iter()
                .any(|d| datapaths.contains_key(d))
        })
        .map(|(u, _)| *u)
        .collect()
}

/// Conditions per conditional table (`None` = all rows).
pub fn conditions(v: &LocalView, monitor_all: bool) -> BTreeMap<String, Option<Vec<Condition>>> {
    let mut m: BTreeMap<String, Option<Vec<Condition>>> = BTreeMap::new();
    if monitor_all {
        for t in CONDITIONAL_TABLES {
            m.insert(t.to_string(), None);
        }
        return m;
    }
    let dps = || v.datapaths.keys().copied();
    let mut pb = vec![
        Condition::eq("type", "patch"),
        Condition::eq("type", "chassisredirect"),
        Condition::eq("type", "external"),
        Condition::new(
            "options",
            "includes",
            Datum::map([("l2gateway-chassis", v.chassis_name.as_str())]),
        ),
        Condition::new(
            "options",
            "includes",
            Datum::map([("l3gateway-chassis", v.chassis_name.as_str())]),
        ),
    ];
    if let Some(c) = v.chassis {
        pb.push(Condition::eq("chassis", c));
        pb.push(Condition::eq("requested_chassis", c));
    }
    for l in &v.lports {
        pb.push(Condition::eq("logical_port", l.as_str()));
        pb.push(Condition::eq("parent_port", l.as_str()));
    }
    pb.extend(dps().map(|d| Condition::eq("datapath", d)));
    let or_false = |mut c: Vec<Condition>| {
        if c.is_empty() {
            c.push(Condition::Const(false));
        }
        Some(c)
    };
    let mut lf: Vec<Condition> = dps()
        .map(|d| Condition::eq("logical_datapath", d))
        .collect();
    lf.extend(
        v.dp_groups
            .iter()
            .map(|g| Condition::eq("logical_dp_group", *g)),
    );
    let includes = |col: &str| -> Vec<Condition> {
        dps()
            .map(|d| Condition::new(col, "includes", Datum::set([d])))
            .collect()
    };
    let by_dp = || -> Vec<Condition> { dps().map(|d| Condition::eq("datapath", d)).collect() };
    m.insert("Port_Binding".into(), Some(pb));
    m.insert("Logical_Flow".into(), or_false(lf));
    m.insert("Logical_DP_Group".into(), or_false(includes("datapaths")));
    m.insert("DNS".into(), or_false(includes("datapaths")));
    for t in [
        "Multicast_Group",
        "MAC_Binding",
        "IGMP_Group",
        "Static_MAC_Binding",
        "IP_Multicast",
    ] {
        m.insert(t.into(), or_false(by_dp()));
    }
    m.insert(
        "FDB".into(),
        or_false(
            v.datapaths
                .values()
                .map(|k| Condition::eq("dp_key", *k))
                .collect(),
        ),
    );
    m.insert(
        "Chassis_Private".into(),
        Some(vec![Condition::eq("name", v.chassis_name.as_str())]),
    );
    m.insert(
        "Chassis_Template_Var".into(),
        Some(vec![Condition::eq("chassis", v.chassis_name.as_str())]),
    );
    m
}
