//! `southpaw run` configuration errors: standalone without the needed flags fails at once
//! with a message naming them; with an Open_vSwitch DB that lacks `system-id` it keeps
//! running (ovs-vswitchd's duties do not need it), says which key is missing, and picks the
//! configuration up as soon as it is set.
//!
//! Runs the built binary (`cargo build --bin southpaw` first, or set `SOUTHPAW_BIN`).

use std::process::{Command, Stdio};
use std::time::Duration;

use testbed::proc::wait_until;
use testbed::southpaw_bin;
use testbed::{skip_unless_root, OvnSandbox, OvsDb};

#[test]
fn standalone_needs_flags() {
    let out = Command::new(southpaw_bin())
        .args(["run", "--db", "none", "--sb", "unix:/nonexistent"])
        .output()
        .expect("run southpaw");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--chassis") && err.contains("--encap"),
        "{err}"
    );
    let out = Command::new(southpaw_bin())
        .args(["run", "--db", "none", "--encap", "gre:1.2.3.4"])
        .output()
        .expect("run southpaw");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TYPE:IP"));
}

#[test]
fn missing_key_is_named_then_picked_up() {
    skip_unless_root!();
    let ovn = OvnSandbox::start().expect("OVN sandbox");
    let ovs = OvsDb::new().expect("Open_vSwitch DB");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("southpaw.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(southpaw_bin())
        .args(["run", "--db", &ovs.remote(), "--workers", "0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start southpaw");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let t = Duration::from_secs(30);
    let r = wait_until("the missing-key message", t, || {
        Ok(read()
            .contains("external_ids:system-id is not set")
            .then_some(()))
    });
    // Still does ovs-vswitchd's part: a waiting add-br returns.
    let addbr = ovs.vsctl_wait(&["add-br", "br-int"]);
    ovs.set_ovn_host("late-hv", &ovn.sb_remote(), "127.0.0.1")
        .unwrap();
    let registered = wait_until("chassis late-hv", t, || {
        Ok(ovn.chassis_uuid("late-hv")?.map(|_| ()))
    });
    // SAFETY: kill() on the pid of our own unreaped child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    r.unwrap_or_else(|e| panic!("{e:#}\n{}", read()));
    addbr.unwrap_or_else(|e| panic!("{e:#}\n{}", read()));
    registered.unwrap_or_else(|e| panic!("{e:#}\n{}", read()));
    assert!(status.success(), "exit {status}\n{}", read());
}
