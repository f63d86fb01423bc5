//! Namespaces and veth pairs go away when their owner panics, and leftovers of a dead
//! process are removed by the stale cleanup.

use std::panic::{catch_unwind, AssertUnwindSafe};

use testbed::names::{clean_stale, PREFIX};
use testbed::netns::{list_netns, root_link_exists};
use testbed::{skip_unless_root, Netns, VethPair};

#[test]
fn drop_during_panic_removes_namespace_and_veth() {
    skip_unless_root!();
    let mut names = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let ns = Netns::new("t").unwrap();
        let mut veth = VethPair::new().unwrap();
        veth.move_a(&ns, Some("eth0")).unwrap();
        names = Some((ns.name().to_string(), veth.b().name.clone()));
        assert!(list_netns().unwrap().contains(&ns.name().to_string()));
        assert!(root_link_exists(&veth.b().name));
        panic!("test panic while holding a namespace");
    }));
    assert!(result.is_err());
    let (ns, link) = names.expect("names recorded before the panic");
    assert!(!list_netns().unwrap().contains(&ns), "{ns} left behind");
    assert!(!root_link_exists(&link), "{link} left behind");
}

#[test]
fn exec_runs_inside_the_namespace() {
    skip_unless_root!();
    let ns = Netns::new("t").unwrap();
    let out = ns.run(&["ip", "-o", "link", "show"]).unwrap();
    // A fresh namespace has only its loopback.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("lo:"), "{out}");
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

#[test]
fn stale_entries_of_dead_pids_are_removed() {
    skip_unless_root!();
    // pid_max is at most 2^22, so this pid never exists; adding our pid keeps parallel
    // runs of this test apart.
    let dead_pid = 90_000_000 + std::process::id();
    let dead = format!("{PREFIX}{}-", base36(dead_pid));
    let ns = format!("{dead}0t");
    let (a, b) = (format!("{dead}1a"), format!("{dead}1b"));
    let ip = |args: &[&str]| testbed::proc::run_args("ip", args).unwrap();
    ip(&["netns", "add", &ns]);
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    // One of our own, alive: must survive.
    let live = Netns::new("live").unwrap();

    clean_stale().unwrap();

    assert_eq!(testbed::names::owner_pid(&ns), Some(dead_pid));
    let list = list_netns().unwrap();
    assert!(!list.contains(&ns), "stale {ns} still there");
    assert!(
        !root_link_exists(&a) && !root_link_exists(&b),
        "stale veth still there"
    );
    assert!(
        list.contains(&live.name().to_string()),
        "live namespace removed"
    );
}
