//! `OvnSandbox` starts NB, SB and northd privately, northd compiles logical flows, and
//! dropping the sandbox leaves no process and no directory behind.

use testbed::proc::pid_alive;
use testbed::{skip_unless_root, OvnSandbox, SandboxOptions};

#[test]
fn northd_produces_logical_flows_and_drop_cleans_up() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start sandbox");
    let dir = ovn.dir().to_path_buf();
    let pids = ovn.pids();
    assert_eq!(pids.len(), 3);
    assert!(ovn
        .sb_remote()
        .starts_with(&format!("unix:{}", dir.display())));

    ovn.nbctl(&["ls-add", "ls0"]).unwrap();
    ovn.wait_sb().unwrap();
    let counts = ovn.lflow_counts().unwrap();
    let n = counts.get("ls0").copied().unwrap_or(0);
    assert!(n > 0, "no logical flows for ls0: {counts:?}");
    let rows = ovn
        .sbctl(&["--bare", "--columns=_uuid", "list", "Logical_Flow"])
        .unwrap();
    assert!(rows.split_whitespace().count() > 0);

    drop(ovn);
    for p in pids {
        assert!(!pid_alive(p), "daemon {p} still running after drop");
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn failing_command_error_names_it() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start sandbox");
    let err = ovn.nbctl(&["lsp-add", "no-such-switch", "p"]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("ovn-nbctl"), "{msg}");
    assert!(msg.contains("no-such-switch"), "{msg}");
}

#[test]
fn tcp_remotes_answer() {
    skip_unless_root!();
    let ovn = OvnSandbox::start_with(SandboxOptions { tcp: true }).expect("start sandbox");
    let sb = ovn.sb_tcp_remote().expect("tcp remote").to_string();
    assert!(sb.starts_with("tcp:127.0.0.1:"), "{sb}");
    let out = testbed::proc::run(
        std::process::Command::new("ovn-sbctl")
            .arg(format!("--db={sb}"))
            .args(["--timeout=30", "list", "SB_Global"]),
    )
    .unwrap();
    assert!(out.contains("_uuid"), "{out}");
}

#[test]
fn ovn_trace_follows_the_pipeline() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("start sandbox");
    testbed::Topology::seed004().apply(&ovn, |_| {}).unwrap();
    let out = ovn
        .trace(&[
            "--minimal",
            "ls0",
            "inport == \"port0\" && eth.src == 0a:00:00:00:00:01 && \
             eth.dst == 0a:00:00:00:00:02 && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && \
             ip.ttl == 64 && icmp4.type == 8",
        ])
        .unwrap();
    assert!(out.contains("output(\"port1\")"), "{out}");
}
