//! `southpaw ctl` against a live `southpaw run` (issue 6): seed 004 (`ls0` with `port0`,
//! `port1` in namespace containers), a ping through southpaw, then every ctl command:
//! `stats` (both ports moved packets; the tiers add up to what the ports received),
//! `ports`, `dump-megaflows` (the ping's megaflows), `flush` (they are gone),
//! `trace-packet` twice (slow path, then a cache tier), `dump-conntrack`,
//! `flush-conntrack`. Also: a clear error when no southpaw is listening.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root (except the missing-socket test).

#[path = "forward_util/mod.rs"]
mod forward_util;

use std::path::Path;
use std::process::Command;

use forward_util::TIMEOUT;
use serde_json::Value;
use testbed::ovs::add_port_args;
use testbed::proc::wait_until;
use testbed::{skip_unless_root, southpaw_bin, Container, OvnSandbox, OvsDb, Southpaw, Topology};

const CHASSIS: &str = "southpaw-ctl-hv";

/// `southpaw ctl --ctl PATH --json ARGS...`, parsed; panics with stderr on failure.
fn ctl(path: &Path, args: &[&str]) -> Value {
    let out = Command::new(southpaw_bin())
        .args(["ctl", "--json", "--ctl"])
        .arg(path)
        .args(args)
        .output()
        .expect("run southpaw ctl");
    assert!(
        out.status.success(),
        "southpaw ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ctl --json prints JSON");
    assert_eq!(v["ok"], Value::Bool(true), "{v}");
    v
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// An ICMP echo request port0 -> port1 of seed 004, as hex.
fn echo_request_hex() -> String {
    let mut f = vec![0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 28, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let ck = checksum(&ip);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0, 0x77, 0x77, 0, 1];
    let ck = checksum(&icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    f.extend(ip);
    f.extend(icmp);
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[test]
fn missing_socket_is_a_clear_error() {
    let out = Command::new(southpaw_bin())
        .args(["ctl", "--ctl", "/nonexistent/southpaw.ctl", "stats"])
        .output()
        .expect("run southpaw ctl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is southpaw running? no socket at /nonexistent/southpaw.ctl"),
        "{err}"
    );
}

#[test]
fn ctl_commands_on_seed004() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("OVN sandbox");
    let ovs = OvsDb::new().expect("Open_vSwitch DB");
    ovs.set_ovn_host(CHASSIS, &ovn.sb_remote(), "127.0.0.1")
        .expect("set OVN host keys");
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("southpaw.ctl");
    // A stale socket file from a dead southpaw is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("stale socket"));
    let sp = Southpaw::start(
        &ovs,
        &dir.path().join("southpaw.log"),
        &["--ctl", sock.to_str().expect("utf-8 path")],
    );
    wait_until("the control socket", TIMEOUT, || {
        let live = std::os::unix::net::UnixStream::connect(&sock).is_ok();
        Ok(live.then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", sp.log()));

    ovs.vsctl_wait(&["add-br", "br-int"]).expect("add-br");
    let topo = Topology::seed004();
    let specs = topo.switches[0].ports.clone();
    let containers: Vec<Container> = specs
        .iter()
        .map(|s| Container::create(s, None).expect("container"))
        .collect();
    for c in &containers {
        let args = add_port_args("br-int", &c.host().name, c.lport(), &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl_wait(&args).expect("add-port");
    }
    ovn.nbctl(&["ls-add", "ls0"]).unwrap();
    for s in &specs {
        let a = s.addresses();
        ovn.nbctl(&[
            "lsp-add",
            "ls0",
            &s.name,
            "--",
            "lsp-set-addresses",
            &s.name,
            &a,
            "--",
            "lsp-set-port-security",
            &s.name,
            &a,
        ])
        .unwrap();
    }
    ovn.wait_hv()
        .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", sp.log()));

    let ping = containers[0].ping(specs[1].ip(), 3).expect("ping");
    assert!(ping.no_loss(), "{}\n{}", ping.output, sp.log());

    // ports: both, by logical port and netdev.
    let ports = ctl(&sock, &["ports"]);
    let ports = ports["ports"].as_array().expect("ports list").clone();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for (p, c) in ports.iter().zip(&containers) {
        assert_eq!(p["lport"], c.lport(), "{p}");
        assert_eq!(p["netdev"], c.host().name.as_str(), "{p}");
        let xdp = p["xdp"].as_str().unwrap_or("");
        assert!(xdp == "native" || xdp == "skb", "XDP attached: {p}");
    }

    // stats: counters are published every 100 ms; wait until they have settled on the
    // ping (both ports moved packets, every received packet counted in one tier).
    let stats = wait_until("stats to show the ping", TIMEOUT, || {
        let s = ctl(&sock, &["stats"]);
        let rx: u64 = s["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| u(&p["rx_packets"]))
            .sum();
        let tiers: u64 = s["tiers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| u(v))
            .sum();
        let busy = s["ports"].as_array().is_some_and(|ps| {
            ps.iter()
                .all(|p| u(&p["rx_packets"]) >= 3 && u(&p["tx_packets"]) >= 3)
        });
        Ok((busy && tiers == rx && u(&s["received"]) == rx).then_some(s))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", sp.log()));
    assert!(u(&stats["tiers"]["upcall"]) > 0, "{stats}");
    assert!(u(&stats["epoch"]) > 0, "{stats}");
    assert!(stats["conntrack"].is_object(), "{stats}");

    // dump-megaflows: the ping's entries, with their actions.
    let dump = ctl(&sock, &["dump-megaflows"]);
    let flows = dump["megaflows"].as_array().expect("megaflows").clone();
    assert!(!flows.is_empty(), "{dump}");
    // The ping's entries: IPv4 between the two ports (the pipeline reads no L4 field).
    let icmp = |fs: &[Value]| {
        fs.iter()
            .filter(|f| {
                let m = f["match"].as_str().unwrap_or("");
                m.contains("eth.type=0x800") && m.contains("ip4.dst=10.0.0.2")
            })
            .count()
    };
    assert!(icmp(&flows) > 0, "no megaflow for the ping: {dump}");
    assert!(
        flows
            .iter()
            .any(|f| f["actions"].as_str().unwrap_or("").contains("output:port1")),
        "{dump}"
    );

    // flush: says what it removed; the ping's entries are gone (stray traffic from the
    // containers, e.g. IPv6 router solicitations, may install others meanwhile).
    let flushed = ctl(&sock, &["flush"]);
    assert!(u(&flushed["megaflows"]) >= flows.len() as u64, "{flushed}");
    let after = ctl(&sock, &["dump-megaflows"]);
    let after = after["megaflows"].as_array().expect("megaflows").clone();
    assert_eq!(icmp(&after), 0, "{after:?}");
    assert!(after.len() < flows.len(), "{after:?}");

    // trace-packet: slow path first (it installs a megaflow), then a cache tier.
    let hex = echo_request_hex();
    let first = ctl(&sock, &["trace-packet", "--port", "port0", &hex]);
    assert_eq!(first["tier"], "upcall", "{first}");
    assert!(
        first["actions"]
            .as_str()
            .unwrap_or("")
            .contains("output:port1"),
        "{first}"
    );
    let netdev = containers[0].host().name.clone();
    let second = ctl(&sock, &["trace-packet", "--port", &netdev, &hex]);
    let tier = second["tier"].as_str().unwrap_or("");
    assert!(tier == "emc-hit" || tier == "megaflow-hit", "{second}");
    assert_eq!(first["actions"], second["actions"]);
    assert!(second["megaflow"].is_string(), "{second}");

    // The same packet as a microflow (ovn-trace syntax) takes the same actions.
    let micro = "eth.src == 0a:00:00:00:00:01 && eth.dst == 0a:00:00:00:00:02 && \
                 ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 64 && icmp4";
    let third = ctl(&sock, &["trace-packet", "--port", "port0", "--flow", micro]);
    assert_eq!(third["actions"], first["actions"], "{third}");
    assert!(
        third["flow"]
            .as_str()
            .unwrap_or("")
            .contains("icmp4.type=0"),
        "{third}"
    );

    // conntrack: no ACLs here, so the table may be empty, but the commands work.
    let ct = ctl(&sock, &["dump-conntrack"]);
    assert!(ct["connections"].is_array(), "{ct}");
    let ct = ctl(&sock, &["dump-conntrack", "--zone", "1"]);
    assert_eq!(ct["zone"], 1, "{ct}");
    let fl = ctl(&sock, &["flush-conntrack"]);
    assert!(fl["removed"].is_u64(), "{fl}");

    // Bad input is an error answer, not a crash.
    let out = Command::new(southpaw_bin())
        .args(["ctl", "--ctl"])
        .arg(&sock)
        .args(["trace-packet", "--port", "nosuchport", "00"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no local port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let still = ctl(&sock, &["stats"]);
    assert!(u(&still["received"]) >= u(&stats["received"]));
    drop(sp);
    assert!(!sock.exists(), "the socket is removed on exit");
}
