//! Done-means test for `southpaw run` (issue 4): southpaw is the only chassis of a private
//! OVN, run as the built binary against a private Open_vSwitch DB, and the seed 004
//! walkthrough is done with the real tools and no `--no-wait`:
//! `ovs-vsctl add-br`/`add-port` return (southpaw sets `cur_cfg`), `ovn-nbctl --wait=hv sync`
//! returns (southpaw acknowledges `nb_cfg`), `ovn-sbctl show` lists the chassis with both
//! ports, `del-port` releases a binding, a restart of the SB server is survived, and the ct
//! zones in br-int survive a restart of southpaw.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root (namespaces, veths).

use std::time::Duration;

use testbed::ovs::add_port_args;
use testbed::proc::wait_until;
use testbed::Southpaw;
use testbed::{skip_unless_root, Container, OvnSandbox, OvsDb, Topology};

const CHASSIS: &str = "southpaw-hv";
const TIMEOUT: Duration = Duration::from_secs(30);

fn zone(ovs: &OvsDb, lport: &str) -> String {
    ovs.vsctl(&[
        "get",
        "Bridge",
        "br-int",
        &format!("external_ids:ct-zone-{lport}"),
    ])
    .expect("ct zone key in br-int")
    .trim()
    .trim_matches('"')
    .to_string()
}

fn bound_chassis(ovn: &OvnSandbox, lport: &str) -> String {
    ovn.sbctl(&[
        "--bare",
        "--columns=chassis",
        "find",
        "Port_Binding",
        &format!("logical_port={lport}"),
    ])
    .expect("ovn-sbctl find")
    .trim()
    .to_string()
}

#[test]
fn seed004_walkthrough_with_southpaw_run() {
    skip_unless_root!();
    let mut ovn = OvnSandbox::start().expect("OVN sandbox");
    let ovs = OvsDb::new().expect("Open_vSwitch DB");
    ovs.set_ovn_host(CHASSIS, &ovn.sb_remote(), "127.0.0.1")
        .expect("set OVN host keys");
    let logdir = tempfile::tempdir().expect("tempdir");
    let log = logdir.path().join("southpaw.log");
    let mut sp = Southpaw::start(&ovs, &log, &["--workers", "2"]);

    // Seed 004, with waiting: these return only once southpaw wrote cur_cfg.
    ovs.vsctl_wait(&["add-br", "br-int"])
        .unwrap_or_else(|e| panic!("add-br: {e:#}\n{}", sp.log()));
    let topo = Topology::seed004();
    let specs: Vec<_> = topo.switches[0].ports.clone();
    let containers: Vec<Container> = specs
        .iter()
        .map(|s| Container::create(s, None).expect("container"))
        .collect();
    for c in &containers {
        let args = add_port_args("br-int", &c.host().name, c.lport(), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl_wait(&args)
            .unwrap_or_else(|e| panic!("add-port: {e:#}\n{}", sp.log()));
        let ofport = ovs
            .vsctl(&["get", "Interface", &c.host().name, "ofport"])
            .unwrap();
        assert!(ofport.trim().parse::<i64>().unwrap() > 0, "ofport {ofport}");
        let link = ovs
            .vsctl(&["get", "Interface", &c.host().name, "link_state"])
            .unwrap();
        assert_eq!(link.trim(), "up");
    }
    ovn.nbctl(&["ls-add", "ls0"]).unwrap();
    for s in &specs {
        ovn.nbctl(&[
            "lsp-add",
            "ls0",
            &s.name,
            "--",
            "lsp-set-addresses",
            &s.name,
            &s.addresses(),
        ])
        .unwrap();
    }
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));
    sp.check_running();

    let ch = ovn.chassis_uuid(CHASSIS).unwrap().expect("chassis row");
    let show = ovn.sbctl(&["show"]).unwrap();
    assert!(show.contains(&format!("Chassis {CHASSIS}")), "{show}");
    for s in &specs {
        assert!(show.contains(&format!("Port_Binding {}", s.name)), "{show}");
        assert_eq!(bound_chassis(&ovn, &s.name), ch);
    }
    assert!(
        show.contains("geneve") && show.contains("127.0.0.1"),
        "{show}"
    );
    // The ports are up (port-up-notif) and installed.
    for (s, c) in specs.iter().zip(&containers) {
        wait_until(&format!("{} up in the NB", s.name), TIMEOUT, || {
            Ok((ovn.nbctl(&["lsp-get-up", &s.name])?.trim() == "up").then_some(()))
        })
        .unwrap();
        let installed = ovs
            .vsctl(&[
                "get",
                "Interface",
                &c.host().name,
                "external_ids:ovn-installed",
            ])
            .unwrap();
        assert_eq!(installed.trim(), "\"true\"");
    }
    let zone0 = zone(&ovs, "port0");
    let zone1 = zone(&ovs, "port1");
    assert_ne!(zone0, zone1);

    // del-port releases port1.
    ovs.vsctl_wait(&["del-port", "br-int", &containers[1].host().name])
        .unwrap();
    wait_until("port1 released", TIMEOUT, || {
        Ok(bound_chassis(&ovn, "port1").is_empty().then_some(()))
    })
    .unwrap();
    assert_eq!(bound_chassis(&ovn, "port0"), ch);

    // The SB server restarts: southpaw reconnects and --wait=hv works again.
    ovn.restart_sb().expect("restart SB");
    ovn.nbctl(&["lsp-set-addresses", "port1", "0a:00:00:00:00:22 10.0.0.22"])
        .unwrap();
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv after SB restart: {e:#}\n{}", sp.log()));
    sp.check_running();
    assert!(
        sp.log().contains("connected to Southbound DB"),
        "{}",
        sp.log()
    );

    // ct zones survive a southpaw restart (SIGTERM exits cleanly and keeps the chassis).
    assert!(
        sp.terminate(),
        "southpaw did not exit cleanly:\n{}",
        sp.log()
    );
    assert_eq!(
        ovn.chassis_uuid(CHASSIS).unwrap().as_deref(),
        Some(ch.as_str())
    );
    let mut sp = Southpaw::start(&ovs, &log, &["--workers", "2"]);
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv after southpaw restart: {e:#}\n{}", sp.log()));
    sp.check_running();
    assert_eq!(zone(&ovs, "port0"), zone0);
    assert_eq!(bound_chassis(&ovn, "port0"), ch);
    let log = sp.log();
    eprintln!("southpaw log:\n{log}");
    for what in ["chassis", "port port0 bound", "nb_cfg", "acknowledged"] {
        assert!(log.contains(what), "log lacks {what:?}:\n{log}");
    }
}
