//! Chassis duties in the Southbound DB, as ovn-controller does them (controller/chassis.c,
//! controller/binding.c):
//! - [`chassis_ops`]: create or update our `Chassis` row (name = system-id, hostname, one
//!   `Encap` per type x IP with `options:csum=true`, `other_config` as ovn-controller sets
//!   it) and our `Chassis_Private` row (name, chassis reference).
//! - [`binding_actions`]: which `Port_Binding`s this chassis must claim (`chassis` = us) or
//!   release (`chassis` cleared, `up=false`), given the local interfaces:
//!   - VIFs (type `""`) whose `logical_port` or `parent_port` is a local `iface-id`, unless
//!     `requested_chassis` names another chassis;
//!   - `l2gateway`/`l3gateway` whose `options:l2gateway-chassis`/`l3gateway-chassis` is us;
//!   - `chassisredirect` and `external` ports whose HA chassis group (or, for
//!     chassisredirect, gateway chassis list) has us at the highest priority;
//!   - never `localnet`, `patch`, `localport`, `vtep`, `remote`; `virtual` ports are claimed
//!     by the chassis of their virtual parent through pinctrl in ovn-controller: not yet;
//!   - ports bound to us that match none of this are released.
//! - [`cleanup_ops`]: what `--cleanup-on-exit` removes.
//!
//! All functions are pure over the SB [`Replica`]; the daemon runs the transactions.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::datum::{Atom, Datum, Uuid};
use crate::ops::{Condition, Op};
use crate::replica::Replica;
use crate::row::Row;

/// Our Chassis row's uuid, if it exists.
pub fn chassis_uuid(sb: &Replica, name: &str) -> Option<Uuid> {
    sb.rows("Chassis")
        .find(|(_, r)| r.get_str("name").ok() == Some(name))
        .map(|(u, _)| *u)
}

/// Our Chassis_Private row.
pub fn chassis_private<'a>(sb: &'a Replica, name: &str) -> Option<(Uuid, &'a Row)> {
    sb.rows("Chassis_Private")
        .find(|(_, r)| r.get_str("name").ok() == Some(name))
        .map(|(u, r)| (*u, r))
}

/// The `other_config` ovn-controller publishes for its chassis.
pub fn other_config(cfg: &Config) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), v.to_string());
    };
    put("ovn-bridge-mappings", &cfg.bridge_mappings);
    put("datapath-type", &cfg.datapath_type);
    put("iface-types", "afxdp,internal,patch,system");
    put("ovn-cms-options", &cfg.cms_options);
    put("ovn-chassis-mac-mappings", &cfg.chassis_mac_mappings);
    put("is-interconn", "false");
    put("ovn-ct-lb-related", "true");
    put("port-up-notif", "true");
    put("mac-binding-timestamp", "true");
    put("ct-no-masked-label", "true");
    put("ovn-enable-lflow-cache", "true");
    m
}

fn str_map(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The encaps of our chassis row as (type, ip, csum option) triples.
fn current_encaps(sb: &Replica, ch: &Row) -> BTreeSet<(String, String, String)> {
    ch.get_uuid_set("encaps")
        .unwrap_or_default()
        .iter()
        .filter_map(|u| sb.row("Encap", u))
        .map(|e| {
            let csum = e
                .get_str_map("options")
                .ok()
                .and_then(|o| o.get("csum").map(|s| s.to_string()))
                .unwrap_or_default();
            (
                e.get_str("type").unwrap_or("").to_string(),
                e.get_str("ip").unwrap_or("").to_string(),
                csum,
            )
        })
        .collect()
}

/// Ops that create or bring up to date our Chassis and Chassis_Private rows; empty when
/// nothing differs.
pub fn chassis_ops(sb: &Replica, cfg: &Config) -> Vec<Op> {
    let name = cfg.system_id.as_str();
    let want_encaps: BTreeSet<(String, String, String)> = cfg
        .encaps
        .iter()
        .map(|e| (e.kind.clone(), e.ip.clone(), "true".to_string()))
        .collect();
    let oc = other_config(cfg);
    let mut ops = Vec::new();
    let existing = sb
        .rows("Chassis")
        .find(|(_, r)| r.get_str("name").ok() == Some(name));
    let encap_ops = |ops: &mut Vec<Op>| -> Datum {
        let mut names = Vec::new();
        for (i, e) in cfg.encaps.iter().enumerate() {
            let n = format!("encap{i}");
            ops.push(
                Op::insert(
                    "Encap",
                    Row::new()
                        .with("type", e.kind.as_str())
                        .with("ip", e.ip.as_str())
                        .with("chassis_name", name)
                        .with("options", Datum::map([("csum", "true")])),
                )
                .uuid_name(&n),
            );
            names.push(Atom::NamedUuid(n));
        }
        Datum::Set(names.into_iter().collect())
    };
    let chassis_ref: Datum = match existing {
        None => {
            let encaps = encap_ops(&mut ops);
            ops.push(
                Op::insert(
                    "Chassis",
                    Row::new()
                        .with("name", name)
                        .with("hostname", cfg.hostname.as_str())
                        .with("encaps", encaps)
                        .with("other_config", str_map(&oc))
                        .with("external_ids", str_map(&oc)),
                )
                .uuid_name("chassis"),
            );
            Datum::atom(Atom::NamedUuid("chassis".into()))
        }
        Some((u, r)) => {
            let mut row = Row::new();
            if r.get_str("hostname").ok() != Some(cfg.hostname.as_str()) {
                row.set("hostname", Datum::atom(cfg.hostname.as_str()));
            }
            let cur_oc: BTreeMap<String, String> = r
                .get_str_map("other_config")
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if oc.iter().any(|(k, v)| cur_oc.get(k) != Some(v)) {
                let mut merged = cur_oc;
                merged.extend(oc.clone());
                row.set("other_config", str_map(&merged));
            }
            if current_encaps(sb, r) != want_encaps {
                let encaps = encap_ops(&mut ops);
                row.set("encaps", encaps);
            }
            if !row.is_empty() {
                ops.push(Op::update("Chassis", vec![Condition::uuid(*u)], row));
            }
            Datum::atom(*u)
        }
    };
    match chassis_private(sb, name) {
        None => ops.push(Op::insert(
            "Chassis_Private",
            Row::new().with("name", name).with("chassis", chassis_ref),
        )),
        Some((pu, pr)) => {
            let cur = pr.get_opt_uuid("chassis").ok().flatten();
            let stale = match (&chassis_ref, cur) {
                (Datum::Set(s), Some(c)) => !s.contains(&Atom::Uuid(c)),
                _ => true,
            };
            if stale {
                ops.push(Op::update(
                    "Chassis_Private",
                    vec![Condition::uuid(pu)],
                    Row::new().with("chassis", chassis_ref),
                ));
            }
        }
    }
    ops
}

/// Ops that remove our rows (Chassis_Private, Chassis; Encaps go with the Chassis) and
/// release our bindings.
pub fn cleanup_ops(sb: &Replica, name: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    if let Some(ch) = chassis_uuid(sb, name) {
        for (u, pb) in sb.rows("Port_Binding") {
            if pb.get_opt_uuid("chassis").ok().flatten() == Some(ch) {
                ops.push(release_op(*u));
            }
        }
        ops.push(Op::delete("Chassis", vec![Condition::uuid(ch)]));
    }
    ops.push(Op::delete(
        "Chassis_Private",
        vec![Condition::eq("name", name)],
    ));
    ops
}

/// A binding change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingAction {
    Claim { pb: Uuid, lport: String },
    Release { pb: Uuid, lport: String },
}

/// The op of a claim: `chassis` = us (`up` follows once the port forwards).
pub fn claim_op(pb: Uuid, chassis: Uuid) -> Op {
    Op::update(
        "Port_Binding",
        vec![Condition::uuid(pb)],
        Row::new().with("chassis", chassis),
    )
}

/// The op of a release: `chassis` and `encap` cleared, `up=false`.
pub fn release_op(pb: Uuid) -> Op {
    Op::update(
        "Port_Binding",
        vec![Condition::uuid(pb)],
        Row::new()
            .with("chassis", Datum::empty_set())
            .with("encap", Datum::empty_set())
            .with("up", false),
    )
}

/// The op that sets `up`.
pub fn up_op(pb: Uuid, up: bool) -> Op {
    Op::update(
        "Port_Binding",
        vec![Condition::uuid(pb)],
        Row::new().with("up", up),
    )
}

/// The highest-priority chassis among (chassis, priority) pairs, if any.
fn active_chassis(members: impl Iterator<Item = (Option<Uuid>, i64)>) -> Option<Uuid> {
    members
        .filter_map(|(c, p)| c.map(|c| (p, c)))
        .max()
        .map(|(_, c)| c)
}

/// The active chassis of a port's HA chassis group (or gateway chassis list).
fn ha_active(sb: &Replica, pb: &Row) -> Option<Uuid> {
    if let Some(g) = pb.get_opt_uuid("ha_chassis_group").ok().flatten() {
        let group = sb.row("HA_Chassis_Group", &g)?;
        return active_chassis(
            group
                .get_uuid_set("ha_chassis")
                .unwrap_or_default()
                .iter()
                .filter_map(|h| sb.row("HA_Chassis", h))
                .map(|h| {
                    (
                        h.get_opt_uuid("chassis").ok().flatten(),
                        h.get_int("priority").unwrap_or(0),
                    )
                }),
        );
    }
    active_chassis(
        pb.get_uuid_set("gateway_chassis")
            .unwrap_or_default()
            .iter()
            .filter_map(|g| sb.row("Gateway_Chassis", g))
            .map(|g| {
                (
                    g.get_opt_uuid("chassis").ok().flatten(),
                    g.get_int("priority").unwrap_or(0),
                )
            }),
    )
}

/// True when this chassis should own `pb`.
pub fn should_claim(
    sb: &Replica,
    pb: &Row,
    chassis: Uuid,
    chassis_name: &str,
    local_lports: &BTreeSet<String>,
) -> bool {
    let lport = pb.get_str("logical_port").unwrap_or("");
    // Only gateway ports need their options (read lazily: this runs for every binding).
    let opts = || pb.get_str_map("options").unwrap_or_default();
    match pb.get_str("type").unwrap_or("") {
        "" => {
            let parent = pb.get_opt_str("parent_port").ok().flatten();
            let local =
                local_lports.contains(lport) || parent.is_some_and(|p| local_lports.contains(p));
            let requested = pb.get_opt_uuid("requested_chassis").ok().flatten();
            local && requested.is_none_or(|r| r == chassis)
        }
        "l2gateway" => opts().get("l2gateway-chassis") == Some(&chassis_name),
        "l3gateway" => opts().get("l3gateway-chassis") == Some(&chassis_name),
        "chassisredirect" | "external" => ha_active(sb, pb) == Some(chassis),
        _ => false,
    }
}

/// Claims and releases that bring the SB in line with the local interfaces.
pub fn binding_actions(
    sb: &Replica,
    chassis: Uuid,
    chassis_name: &str,
    local_lports: &BTreeSet<String>,
) -> Vec<BindingAction> {
    let mut v = Vec::new();
    for (u, pb) in sb.rows("Port_Binding") {
        let lport = pb.get_str("logical_port").unwrap_or("").to_string();
        let ours = pb.get_opt_uuid("chassis").ok().flatten() == Some(chassis);
        let want = should_claim(sb, pb, chassis, chassis_name, local_lports);
        if want && !ours {
            v.push(BindingAction::Claim { pb: *u, lport });
        } else if !want && ours {
            v.push(BindingAction::Release { pb: *u, lport });
        }
    }
    v
}

/// The ops of binding actions.
pub fn binding_ops(actions: &[BindingAction], chassis: Uuid) -> Vec<Op> {
    actions
        .iter()
        .map(|a| match a {
            BindingAction::Claim { pb, .. } => claim_op(*pb, chassis),
            BindingAction::Release { pb, .. } => release_op(*pb),
        })
        .collect()
}

/// `Chassis_Private.nb_cfg` (and its timestamp, ms since the epoch) update.
pub fn nb_cfg_op(private: Uuid, nb_cfg: i64, now_ms: i64) -> Op {
    Op::update(
        "Chassis_Private",
        vec![Condition::uuid(private)],
        Row::new()
            .with("nb_cfg", nb_cfg)
            .with("nb_cfg_timestamp", now_ms),
    )
}

/// `Port_Binding.encap` for ports whose interface picks a tunnel endpoint
/// (`external_ids:encap-ip`) when the chassis has more than one encap: the ops that set it
/// to the Encap row with that IP (or clear it when the IP matches none), for the ports in
/// `encap_ips` (logical port -> IP) that are bound to `chassis`.
pub fn encap_ops(sb: &Replica, chassis: Uuid, encap_ips: &BTreeMap<String, String>) -> Vec<Op> {
    let Some(ch) = sb.row("Chassis", &chassis) else {
        return Vec::new();
    };
    let encaps = ch.get_uuid_set("encaps").unwrap_or_default();
    if encaps.len() < 2 {
        return Vec::new();
    }
    let mut ops = Vec::new();
    for (u, pb) in sb.rows("Port_Binding") {
        if pb.get_opt_uuid("chassis").ok().flatten() != Some(chassis) {
            continue;
        }
        let Some(ip) = pb
            .get_str("logical_port")
            .ok()
            .and_then(|l| encap_ips.get(l))
        else {
            continue;
        };
        let want = encaps
            .iter()
            .find(|e| sb.row("Encap", e).and_then(|r| r.get_str("ip").ok()) == Some(ip.as_str()))
            .copied();
        if pb.get_opt_uuid("encap").ok().flatten() != want {
            let d = want.map_or_else(Datum::empty_set, Datum::atom);
            ops.push(Op::update(
                "Port_Binding",
                vec![Condition::uuid(*u)],
                Row::new().with("encap", d),
            ));
        }
    }
    ops
}
