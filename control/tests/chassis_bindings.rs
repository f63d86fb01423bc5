//! Binding decisions, local datapaths, monitor conditions and snapshot change sets over SB
//! replicas built from update2 notifications (no server): which ports this chassis claims
//! (VIF, requested-chassis, l3gateway, chassisredirect via HA group and gateway chassis,
//! external, localnet/patch/localport never), and which it releases.

use std::collections::BTreeSet;
use std::path::Path;

use control::chassis::{binding_actions, should_claim, BindingAction};
use control::sb::{conditions, local_datapaths, LocalView};
use control::schema::DatabaseSchema;
use control::{Condition, Replica, SbSnapshot, Uuid};
use serde_json::{json, Value};

fn u(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

fn uu(n: u32) -> Uuid {
    u(n).parse().unwrap()
}

fn replica(tables: Value) -> Replica {
    let text = std::fs::read_to_string(Path::new("/usr/share/ovn/ovn-sb.ovsschema")).unwrap();
    let schema = DatabaseSchema::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
    let mut r = Replica::new();
    r.set_schema(schema);
    let mut updates = serde_json::Map::new();
    for (t, rows) in tables.as_object().unwrap() {
        let mut m = serde_json::Map::new();
        for (id, row) in rows.as_object().unwrap() {
            m.insert(id.clone(), json!({"initial": row}));
        }
        updates.insert(t.clone(), Value::Object(m));
    }
    r.apply_notification("update2", &json!(["x", updates]))
        .unwrap();
    r
}

const US: u32 = 1;
const OTHER: u32 = 2;

fn pb(name: &str, dp: u32, key: i64, kind: &str, extra: Value) -> Value {
    let mut v =
        json!({"logical_port": name, "datapath": ["uuid", u(dp)], "tunnel_key": key, "type": kind});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn sb() -> Replica {
    replica(json!({
        "Chassis": {
            u(US): {"name": "hv1"},
            u(OTHER): {"name": "hv2"}
        },
        "Datapath_Binding": {
            u(10): {"tunnel_key": 1, "external_ids": ["map", [["name", "ls0"]]]},
            u(11): {"tunnel_key": 2, "external_ids": ["map", [["name", "lr0"], ["logical-router", "x"]]]},
            u(12): {"tunnel_key": 3, "external_ids": ["map", [["name", "ls-far"]]]},
            u(13): {"tunnel_key": 4, "external_ids": ["map", [["name", "gw-router"]]]}
        },
        "HA_Chassis": {
            u(30): {"chassis": ["uuid", u(US)], "priority": 20},
            u(31): {"chassis": ["uuid", u(OTHER)], "priority": 10},
            u(32): {"chassis": ["uuid", u(OTHER)], "priority": 30}
        },
        "HA_Chassis_Group": {
            u(40): {"name": "g-us", "ha_chassis": ["set", [["uuid", u(30)], ["uuid", u(31)]]]},
            u(41): {"name": "g-other", "ha_chassis": ["set", [["uuid", u(30)], ["uuid", u(32)]]]}
        },
        "Gateway_Chassis": {
            u(50): {"name": "gc", "chassis": ["uuid", u(US)], "priority": 5}
        },
        "Port_Binding": {
            u(100): pb("vif0", 10, 1, "", json!({})),
            u(101): pb("vif-req-other", 10, 2, "", json!({"requested_chassis": ["uuid", u(OTHER)]})),
            u(102): pb("child", 10, 3, "", json!({"parent_port": "vif0", "tag": 7})),
            u(103): pb("ls0-lr0", 10, 4, "patch", json!({"options": ["map", [["peer", "lr0-ls0"]]]})),
            u(104): pb("lr0-ls0", 11, 1, "patch", json!({"options": ["map", [["peer", "ls0-lr0"]]]})),
            u(105): pb("cr-lr0", 11, 2, "chassisredirect", json!({"ha_chassis_group": ["uuid", u(40)]})),
            u(106): pb("cr-other", 11, 3, "chassisredirect", json!({"ha_chassis_group": ["uuid", u(41)]})),
            u(107): pb("cr-gc", 11, 4, "chassisredirect", json!({"gateway_chassis": ["set", [["uuid", u(50)]]]})),
            u(108): pb("gw-port", 13, 1, "l3gateway", json!({"options": ["map", [["l3gateway-chassis", "hv1"]]]})),
            u(109): pb("ext", 12, 1, "external", json!({"ha_chassis_group": ["uuid", u(41)]})),
            u(110): pb("ln", 10, 5, "localnet", json!({})),
            u(111): pb("lp", 10, 6, "localport", json!({})),
            u(112): pb("stale", 12, 2, "", json!({"chassis": ["uuid", u(US)]})),
            u(113): pb("far-vif", 12, 3, "", json!({"chassis": ["uuid", u(OTHER)]}))
        },
        "Logical_Flow": {
            u(200): {"logical_datapath": ["uuid", u(10)], "pipeline": "ingress", "table_id": 0, "priority": 100, "match": "1", "actions": "next;"},
            u(201): {"logical_dp_group": ["uuid", u(60)], "pipeline": "egress", "table_id": 1, "priority": 0, "match": "1", "actions": "output;"}
        },
        "Chassis_Template_Var": {
            u(80): {"chassis": "hv1", "variables": ["map", [["VIP", "10.0.0.10"]]]},
            u(81): {"chassis": "hv2", "variables": ["map", [["VIP", "10.0.0.20"]]]}
        },
        "Logical_DP_Group": {
            u(60): {"datapaths": ["set", [["uuid", u(10)], ["uuid", u(12)]]]}
        }
    }))
}

fn lports(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn which_ports_are_claimed() {
    let r = sb();
    let local = lports(&["vif0", "vif-req-other", "ln", "lp"]);
    let claim = |id: u32| {
        should_claim(
            &r,
            r.row("Port_Binding", &uu(id)).unwrap(),
            uu(US),
            "hv1",
            &local,
        )
    };
    assert!(claim(100), "local VIF");
    assert!(!claim(101), "requested elsewhere");
    assert!(claim(102), "container port of a local VIF");
    assert!(!claim(103) && !claim(104), "patch");
    assert!(
        claim(105),
        "chassisredirect, we are highest in the HA group"
    );
    assert!(!claim(106), "chassisredirect, another chassis is higher");
    assert!(claim(107), "chassisredirect via gateway chassis");
    assert!(claim(108), "l3gateway for us");
    assert!(!claim(109), "external, other chassis active");
    assert!(!claim(110) && !claim(111), "localnet, localport");
    let acts = binding_actions(&r, uu(US), "hv1", &local);
    let claimed: BTreeSet<&str> = acts
        .iter()
        .filter_map(|a| match a {
            BindingAction::Claim { lport, .. } => Some(lport.as_str()),
            _ => None,
        })
        .collect();
    let released: Vec<&str> = acts
        .iter()
        .filter_map(|a| match a {
            BindingAction::Release { lport, .. } => Some(lport.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        claimed,
        ["vif0", "child", "cr-lr0", "cr-gc", "gw-port"].into()
    );
    assert_eq!(released, vec!["stale"]);
}

#[test]
fn local_datapaths_follow_patch_ports() {
    let r = sb();
    let dps = local_datapaths(&r, Some(uu(US)), "hv1", &lports(&["vif0"]));
    // ls0 (vif0), lr0 (patch peer, and cr-lr0), gw-router (l3gateway), ls-far ("stale" is
    // still bound to us until released).
    let keys: BTreeSet<i64> = dps.values().copied().collect();
    assert_eq!(keys, [1, 2, 3, 4].into());
    // hv2: far-vif (ls-far), cr-other (lr0, highest in g-other), ls0 through the patch.
    let hv2 = local_datapaths(&r, Some(uu(OTHER)), "hv2", &lports(&[]));
    assert_eq!(
        hv2.keys().copied().collect::<Vec<_>>(),
        vec![uu(10), uu(11), uu(12)]
    );
    assert!(local_datapaths(&r, Some(uu(99)), "hv9", &lports(&[])).is_empty());

    let view = LocalView {
        chassis_name: "hv1".into(),
        chassis: Some(uu(US)),
        lports: lports(&["vif0"]),
        datapaths: dps.clone(),
        dp_groups: [uu(60)].into(),
    };
    let c = conditions(&view, false);
    let lf = c["Logical_Flow"].as_ref().unwrap();
    assert!(lf.contains(&Condition::eq("logical_datapath", uu(10))));
    assert!(lf.contains(&Condition::eq("logical_dp_group", uu(60))));
    let pbc = c["Port_Binding"].as_ref().unwrap();
    assert!(pbc.contains(&Condition::eq("logical_port", "vif0")));
    assert!(pbc.contains(&Condition::eq("chassis", uu(US))));
    assert_eq!(
        c["Chassis_Private"],
        Some(vec![Condition::eq("name", "hv1")])
    );
    assert_eq!(
        c["Chassis_Template_Var"],
        Some(vec![Condition::eq("chassis", "hv1")])
    );
    let empty = conditions(&LocalView::empty("hv1"), false);
    assert_eq!(empty["Logical_Flow"], Some(vec![Condition::Const(false)]));
    assert!(conditions(&view, true).values().all(Option::is_none));
}

#[test]
fn snapshot_and_changed_datapaths() {
    let r = sb();
    let dps = local_datapaths(&r, Some(uu(US)), "hv1", &lports(&["vif0"]));
    let s = SbSnapshot::build(&r, "hv1", Some(uu(US)), &dps);
    assert_eq!(s.datapaths.len(), 4);
    assert!(s.datapaths[&uu(11)].is_router);
    assert_eq!(s.port_bindings[&uu(102)].tag, Some(7));
    assert_eq!(
        s.port_bindings[&uu(102)].parent_port.as_deref(),
        Some("vif0")
    );
    assert_eq!(s.lflows.len(), 2);
    assert_eq!(s.template_vars["VIP"], "10.0.0.10");
    assert_eq!(s.flow_datapaths(&s.lflows[&uu(201)]), vec![uu(10), uu(12)]);
    // ls0: one own flow + one group flow; ls-far: the group flow.
    assert_eq!(s.local_flow_counts(), (3, 4));
    let mut r2 = r;
    r2.take_changes();
    r2.apply_notification(
        "update2",
        &json!(["x", {"Logical_Flow": {u(200): {"modify": {"priority": 90}}}}]),
    )
    .unwrap();
    let changes = r2.take_changes();
    let s2 = SbSnapshot::build(&r2, "hv1", Some(uu(US)), &dps);
    let c = s2.changed_since(&s, &changes);
    assert!(!c.all);
    assert_eq!(c.datapaths, [uu(10)].into());
    assert_eq!(s2.lflows[&uu(200)].priority, 90);

    // Built from the previous snapshot and the changes: equal, unchanged flows shared.
    let s2i = SbSnapshot::build_from(&r2, "hv1", Some(uu(US)), &dps, Some((&s, &changes)));
    assert_eq!(s2i, s2);
    assert!(std::sync::Arc::ptr_eq(
        &s2i.lflows[&uu(201)],
        &s.lflows[&uu(201)]
    ));
    // A deleted flow disappears.
    let mut r3 = r2;
    r3.apply_notification(
        "update2",
        &json!(["x", {"Logical_Flow": {u(201): {"delete": null}}}]),
    )
    .unwrap();
    let changes = r3.take_changes();
    let s3i = SbSnapshot::build_from(&r3, "hv1", Some(uu(US)), &dps, Some((&s2i, &changes)));
    assert_eq!(s3i, SbSnapshot::build(&r3, "hv1", Some(uu(US)), &dps));
    assert!(!s3i.lflows.contains_key(&uu(201)));
}

#[test]
fn port_encap_follows_encap_ip() {
    let r = replica(json!({
        "Encap": {
            u(70): {"type": "geneve", "ip": "192.0.2.1", "chassis_name": "hv1"},
            u(71): {"type": "geneve", "ip": "192.0.2.2", "chassis_name": "hv1"}
        },
        "Chassis": {u(US): {"name": "hv1", "encaps": ["set", [["uuid", u(70)], ["uuid", u(71)]]]}},
        "Datapath_Binding": {u(10): {"tunnel_key": 1}},
        "Port_Binding": {
            u(100): pb("a", 10, 1, "", json!({"chassis": ["uuid", u(US)]})),
            u(101): pb("b", 10, 2, "", json!({"chassis": ["uuid", u(US)], "encap": ["uuid", u(71)]}))
        }
    }));
    let ips = [
        ("a".to_string(), "192.0.2.2".to_string()),
        ("b".to_string(), "192.0.2.2".to_string()),
    ]
    .into();
    let ops = control::chassis::encap_ops(&r, uu(US), &ips);
    assert_eq!(ops.len(), 1, "only a changes");
    let j = ops[0].to_json();
    assert_eq!(j["row"]["encap"], json!(["uuid", u(71)]));
    assert_eq!(j["where"], json!([["_uuid", "==", ["uuid", u(100)]]]));
}
