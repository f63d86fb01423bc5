//! Shared test helpers: a trivial two-port forwarding loop over any [`Backend`], and (for
//! root tests) a veth + network namespace topology built with `ip`, removed on drop.
#![allow(dead_code)] // each test binary uses a subset

use std::process::{Command, Output};

use datapath::io::{Backend, Batch, PortId};

/// One pass: everything received on port 0 goes out port 1 and vice versa, one burst each.
/// Returns the number of frames moved.
pub fn forward_step<B: Backend>(b: &mut B, batch: &mut Batch) -> usize {
    let mut moved = 0;
    for (from, to) in [(0 as PortId, 1 as PortId), (1, 0)] {
        if b.rx_burst(from, batch) > 0 {
            moved += b.tx_burst(to, batch);
        }
    }
    b.maintain();
    moved
}

/// Runs a command, returning its output; panics with the command line if it cannot start.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when running as root (the veth tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Two namespaces, each with one veth whose peer stays in the host namespace:
/// `ns_a:in_a (10.199.<n>.1/24) <-> host_a` and `ns_b:in_b (10.199.<n>.2/24) <-> host_b`.
/// Whatever forwards host_a <-> host_b connects the two namespaces.
pub struct VethPair2 {
    pub ns_a: String,
    pub ns_b: String,
    pub host_a: String,
    pub host_b: String,
    pub ip_a: String,
    pub ip_b: String,
}

impl VethPair2 {
    /// Creates the topology; `tag` keeps names unique across tests in one process.
    pub fn new(tag: u8) -> Self {
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let t = Self {
            ns_a: format!("spxa{id}"),
            ns_b: format!("spxb{id}"),
            host_a: format!("spha{id}"),
            host_b: format!("sphb{id}"),
            ip_a: format!("10.199.{tag}.1"),
            ip_b: format!("10.199.{tag}.2"),
        };
        for (ns, host, ip) in [(&t.ns_a, &t.host_a, &t.ip_a), (&t.ns_b, &t.host_b, &t.ip_b)] {
            let inner = "eth0";
            must(&["ip", "netns", "add", ns]);
            must(&[
                "ip", "link", "add", host, "type", "veth", "peer", "name", inner, "netns", ns,
            ]);
            must(&["ip", "link", "set", host, "up"]);
            must(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{host}.disable_ipv6=1"),
            ]);
            let cidr = format!("{ip}/24");
            must(&["ip", "-n", ns, "addr", "add", &cidr, "dev", inner]);
            must(&["ip", "-n", ns, "link", "set", inner, "up"]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            // AF_XDP frames carry no checksum-offload state: compute checksums in software.
            must(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", inner, "tx", "off",
            ]);
        }
        t
    }

    /// Runs `args` inside namespace `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full)
    }
}

impl Drop for VethPair2 {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end and with it the host peer.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        for host in [&self.host_a, &self.host_b] {
            let _ = Command::new("ip").args(["link", "del", host]).output();
        }
    }
}

/// True if `ip link show dev` reports an XDP program on `dev`.
pub fn has_xdp(dev: &str) -> bool {
    let out = run(&["ip", "link", "show", "dev", dev]);
    assert!(out.status.success(), "ip link show {dev} failed");
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}
