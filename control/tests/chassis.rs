//! The chassis daemon against real `ovsdb-server`s (a Southbound DB seeded by hand, no
//! northd, and a local Open_vSwitch DB changed with `ovs-vsctl --no-wait`): chassis
//! registration, binding claim and release, ovs-vswitchd's write-back, nb_cfg
//! acknowledgement after adoption, conditional monitoring, and ct zones that survive a
//! restart of the daemon.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{init_log, wait_for, OvsdbServer, SB_SCHEMA, VSWITCH_SCHEMA, WAIT};
use control::ops::inserted_uuid;
use control::{Connection, Daemon, DaemonOptions, Datum, Op, Remote, Row, SnapshotDataplane, Uuid};

fn remote(s: &OvsdbServer) -> String {
    format!("unix:{}", s.sock.display())
}

fn vsctl(ovs: &OvsdbServer, args: &[&str]) -> String {
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={}", remote(ovs)))
        .arg("--no-wait")
        .arg("--timeout=30")
        .args(args)
        .output()
        .expect("run ovs-vsctl");
    assert!(
        out.status.success(),
        "ovs-vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sb_transact(sb: &OvsdbServer, ops: Vec<Op>) -> Vec<serde_json::Value> {
    let mut c = Connection::connect(&Remote::parse(&remote(sb)).unwrap(), WAIT).unwrap();
    c.transact("OVN_Southbound", ops).unwrap()
}

/// SB with SB_Global, one switch datapath `ls0` (key 1) with ports `port0`, `port1`, one
/// logical flow; a second datapath `ls9` nobody uses, with one flow.
fn seed_sb(sb: &OvsdbServer) -> (Uuid, Uuid) {
    let r = sb_transact(
        sb,
        vec![
            Op::insert("SB_Global", Row::new().with("nb_cfg", 1)),
            Op::insert(
                "Datapath_Binding",
                Row::new()
                    .with("tunnel_key", 1)
                    .with("external_ids", Datum::map([("name", "ls0")])),
            )
            .uuid_name("dp"),
            Op::insert(
                "Datapath_Binding",
                Row::new()
                    .with("tunnel_key", 9)
                    .with("external_ids", Datum::map([("name", "ls9")])),
            )
            .uuid_name("dp9"),
            Op::insert(
                "Port_Binding",
                Row::new()
                    .with("logical_port", "port0")
                    .with("tunnel_key", 1)
                    .with("datapath", control::Atom::NamedUuid("dp".into())),
            ),
            Op::insert(
                "Port_Binding",
                Row::new()
                    .with("logical_port", "port1")
                    .with("tunnel_key", 2)
                    .with("datapath", control::Atom::NamedUuid("dp".into())),
            ),
            Op::insert(
                "Logical_Flow",
                Row::new()
                    .with("logical_datapath", control::Atom::NamedUuid("dp".into()))
                    .with("pipeline", "ingress")
                    .with("table_id", 0)
                    .with("priority", 100)
                    .with("match", "eth.src[40]")
                    .with("actions", "drop;"),
            ),
            Op::insert(
                "Logical_Flow",
                Row::new()
                    .with("logical_datapath", control::Atom::NamedUuid("dp9".into()))
                    .with("pipeline", "ingress")
                    .with("table_id", 0)
                    .with("priority", 100)
                    .with("match", "1")
                    .with("actions", "drop;"),
            ),
        ],
    );
    (inserted_uuid(&r, 1).unwrap(), inserted_uuid(&r, 2).unwrap())
}

fn daemon(ovs: &OvsdbServer, sys: &Path) -> Daemon<SnapshotDataplane> {
    let opts = DaemonOptions {
        ovs_remote: Some(remote(ovs)),
        sys_class_net: sys.to_path_buf(),
        poll: Duration::from_millis(20),
        ..DaemonOptions::default()
    };
    Daemon::new(opts, SnapshotDataplane::new(2).unwrap()).unwrap()
}

fn step_until(
    d: &mut Daemon<SnapshotDataplane>,
    what: &str,
    mut cond: impl FnMut(&mut Daemon<SnapshotDataplane>) -> bool,
) {
    let start = std::time::Instant::now();
    while !cond(d) {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        d.step();
    }
}

fn sb_get(sb: &OvsdbServer, table: &str, col: &str, cond: &str) -> String {
    let out = Command::new("ovn-sbctl")
        .arg(format!("--db={}", remote(sb)))
        .args(["--bare", &format!("--columns={col}"), "find", table, cond])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn claim_release_ack_and_zones() {
    init_log();
    let sb = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let ovs = OvsdbServer::standalone(Path::new(VSWITCH_SCHEMA));
    let (dp, dp9) = seed_sb(&sb);
    // A fake /sys/class/net with one device: p0 up.
    let sys = tempfile::tempdir().unwrap();
    let p0 = sys.path().join("p0");
    std::fs::create_dir(&p0).unwrap();
    for (f, v) in [
        ("operstate", "up"),
        ("flags", "0x1003"),
        ("ifindex", "42"),
        ("address", "0a:00:00:00:00:01"),
    ] {
        std::fs::write(p0.join(f), v).unwrap();
    }
    vsctl(&ovs, &["init"]);
    vsctl(
        &ovs,
        &[
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:system-id=hv1",
            &format!("external_ids:ovn-remote=\"{}\"", remote(&sb)),
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=192.0.2.1",
            "external_ids:hostname=host1",
        ],
    );
    vsctl(&ovs, &["add-br", "br-int"]);
    vsctl(
        &ovs,
        &[
            "add-port",
            "br-int",
            "p0",
            "--",
            "set",
            "interface",
            "p0",
            "external-ids:iface-id=port0",
        ],
    );
    vsctl(
        &ovs,
        &[
            "add-port",
            "br-int",
            "gone",
            "--",
            "set",
            "interface",
            "gone",
            "external-ids:iface-id=port1",
        ],
    );

    let mut d = daemon(&ovs, sys.path());
    step_until(&mut d, "port0 and port1 claimed", |_| {
        let ch = sb_get(&sb, "Chassis", "_uuid", "name=hv1");
        !ch.is_empty()
            && sb_get(&sb, "Port_Binding", "chassis", "logical_port=port0") == ch
            && sb_get(&sb, "Port_Binding", "chassis", "logical_port=port1") == ch
    });
    assert_eq!(sb_get(&sb, "Chassis", "hostname", "name=hv1"), "host1");
    assert_eq!(sb_get(&sb, "Encap", "options", "ip=192.0.2.1"), "csum=true");
    assert_eq!(sb_get(&sb, "Encap", "type", "chassis_name=hv1"), "geneve");
    assert!(!sb_get(&sb, "Chassis_Private", "_uuid", "name=hv1").is_empty());
    // ovs-vswitchd's part.
    assert_eq!(vsctl(&ovs, &["get", "Interface", "p0", "ofport"]), "1");
    assert_eq!(vsctl(&ovs, &["get", "Interface", "p0", "link_state"]), "up");
    assert_eq!(vsctl(&ovs, &["get", "Interface", "p0", "ifindex"]), "42");
    assert_eq!(vsctl(&ovs, &["get", "Interface", "gone", "ofport"]), "-1");
    assert_eq!(
        vsctl(&ovs, &["get", "Interface", "gone", "error"]),
        "\"could not open network device gone (No such device)\""
    );
    assert_eq!(
        vsctl(&ovs, &["get", "Interface", "br-int", "ofport"]),
        "65534"
    );
    // Conditional monitoring: ls0 is local, ls9 is not, and its flow was not sent.
    step_until(&mut d, "snapshot with ls0 flows", |d| {
        d.snapshot().lflows.values().any(|f| f.datapath == Some(dp))
    });
    let snap = d.snapshot().clone();
    assert!(snap.datapaths[&dp].local);
    assert!(!snap.datapaths[&dp9].local);
    assert!(
        snap.lflows.values().all(|f| f.datapath != Some(dp9)),
        "ls9 flow monitored"
    );
    assert_eq!(snap.local_flow_counts(), (1, 1));
    // Adoption: up=true, ovn-installed, nb_cfg acknowledged.
    step_until(&mut d, "port0 up and installed, nb_cfg 1 acked", |_| {
        sb_get(&sb, "Port_Binding", "up", "logical_port=port0") == "true"
            && vsctl(
                &ovs,
                &["get", "Interface", "p0", "external_ids:ovn-installed"],
            ) == "\"true\""
            && sb_get(&sb, "Chassis_Private", "nb_cfg", "name=hv1") == "1"
    });
    sb_transact(
        &sb,
        vec![Op::update(
            "SB_Global",
            vec![],
            Row::new().with("nb_cfg", 5),
        )],
    );
    step_until(&mut d, "nb_cfg 5 acked", |_| {
        sb_get(&sb, "Chassis_Private", "nb_cfg", "name=hv1") == "5"
    });
    assert!(d
        .dataplane()
        .publisher()
        .adopted_by_all(d.dataplane().publisher().epoch()));
    // ct zones in br-int.
    let zone0 = vsctl(
        &ovs,
        &["get", "Bridge", "br-int", "external_ids:ct-zone-port0"],
    );
    let zone1 = vsctl(
        &ovs,
        &["get", "Bridge", "br-int", "external_ids:ct-zone-port1"],
    );
    assert_ne!(zone0, zone1);
    // cur_cfg follows next_cfg.
    let next: i64 = vsctl(&ovs, &["get", "Open_vSwitch", ".", "next_cfg"])
        .parse()
        .unwrap();
    step_until(&mut d, "cur_cfg = next_cfg", |_| {
        vsctl(&ovs, &["get", "Open_vSwitch", ".", "cur_cfg"]) == next.to_string()
    });
    // Removing the interface releases the binding and frees its zone.
    vsctl(&ovs, &["del-port", "br-int", "gone"]);
    step_until(&mut d, "port1 released", |_| {
        sb_get(&sb, "Port_Binding", "chassis", "logical_port=port1").is_empty()
    });
    assert_eq!(
        sb_get(&sb, "Port_Binding", "up", "logical_port=port1"),
        "false"
    );
    step_until(&mut d, "ct-zone-port1 removed", |_| {
        !vsctl(&ovs, &["get", "Bridge", "br-int", "external_ids"]).contains("ct-zone-port1")
    });
    // A new daemon (restart) keeps port0's zone, even with a new port taking the lowest
    // free zone first.
    drop(d);
    vsctl(
        &ovs,
        &[
            "add-port",
            "br-int",
            "p2",
            "--",
            "set",
            "interface",
            "p2",
            "external-ids:iface-id=port2",
        ],
    );
    let mut d = daemon(&ovs, sys.path());
    step_until(&mut d, "zone for port2", |d| {
        d.snapshot().ct_zones.contains_key("port2")
    });
    assert_eq!(
        vsctl(
            &ovs,
            &["get", "Bridge", "br-int", "external_ids:ct-zone-port0"]
        ),
        zone0
    );
    assert_eq!(
        d.snapshot().ct_zones["port0"].to_string(),
        zone0.trim_matches('"')
    );
    // port0 stays claimed across the restart (no release/claim flap).
    let ch = sb_get(&sb, "Chassis", "_uuid", "name=hv1");
    assert_eq!(
        sb_get(&sb, "Port_Binding", "chassis", "logical_port=port0"),
        ch
    );
    wait_for("nothing", || true);
}

#[test]
fn standalone_cleanup_on_exit() {
    init_log();
    let sb = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    seed_sb(&sb);
    let opts = DaemonOptions {
        ovs_remote: None,
        overrides: control::Overrides {
            sb_remote: Some(remote(&sb)),
            system_id: Some("solo".into()),
            encap: Some(("geneve".into(), "192.0.2.7".into())),
            ifaces: vec![("dev0".into(), "port0".into())],
            hostname: Some("h".into()),
        },
        cleanup_on_exit: true,
        poll: Duration::from_millis(20),
        ..DaemonOptions::default()
    };
    let mut d = Daemon::new(opts, SnapshotDataplane::new(0).unwrap()).unwrap();
    step_until(&mut d, "port0 claimed by solo", |_| {
        let ch = sb_get(&sb, "Chassis", "_uuid", "name=solo");
        !ch.is_empty() && sb_get(&sb, "Port_Binding", "chassis", "logical_port=port0") == ch
    });
    step_until(&mut d, "nb_cfg acked with no workers", |_| {
        sb_get(&sb, "Chassis_Private", "nb_cfg", "name=solo") == "1"
    });
    d.shutdown();
    assert!(sb_get(&sb, "Chassis", "_uuid", "name=solo").is_empty());
    assert!(sb_get(&sb, "Chassis_Private", "_uuid", "name=solo").is_empty());
    assert!(sb_get(&sb, "Port_Binding", "chassis", "logical_port=port0").is_empty());
}
