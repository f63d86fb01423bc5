//! Configuration reaching packets through southpaw: port security drops a spoofed source
//! MAC (and counts it), and a topology change (a drop ACL, then deleting the destination
//! port) applies to a flow already in the megaflow cache as soon as `ovn-nbctl --wait=hv`
//! returns, with no sleep in between.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{send_scapy, Bed, Capture, END, MAGIC};
use testbed::{skip_unless_root, Topology};

fn two_on_one_switch() -> Topology {
    let mut t = Topology::two_switch_router(2);
    t.switches.truncate(1);
    t.switches[0].router_port = None;
    t.router = None;
    t
}

#[test]
fn port_security_drops_a_spoofed_source_mac() {
    skip_unless_root!();
    let bed = Bed::start("southpaw-hv", &two_on_one_switch(), |_| {});
    let [a, b] = &bed.containers[..] else {
        panic!("two containers")
    };
    let (sa, sb) = (a.spec(), b.spec());
    // No IPv6 from port0's kernel: the only port-security drops are the spoofed frames.
    a.netns()
        .run(&["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"])
        .expect("disable IPv6 in port0");

    let udp = |src_mac: &str, tag: &str| {
        format!(
            "Ether(src='{src_mac}',dst='{}')/IP(src='{}',dst='{}')/UDP(sport=4000,dport=4001)\
             /Raw(load=b'{tag}')",
            sb.mac,
            sa.ip(),
            sb.ip()
        )
    };
    let filter = format!("b'{MAGIC}' in d or b'{END}' in d");
    let frames = [
        udp("0a:00:00:00:00:66", MAGIC),
        udp("0a:00:00:00:00:67", MAGIC),
        udp(&sa.mac, END),
    ];

    // Control: without port security the spoofed frames pass.
    let rx = Capture::start(b, &filter, 3);
    send_scapy(a, &frames);
    let got = rx.finish();
    assert_eq!(got.len(), 3, "spoofed frames lost before port security");

    bed.nbctl_wait_hv(&["lsp-set-port-security", &sa.name, &sa.addresses()]);
    let rx = Capture::start(b, &filter, 3);
    send_scapy(a, &frames);
    let got = rx.finish();
    assert_eq!(
        got.len(),
        1,
        "want only the end marker from the real MAC, got {} frames\n{}",
        got.len(),
        bed.sp.log()
    );
    assert_eq!(got[0][6..12], [0x0a, 0, 0, 0, 0, 0x02]);
    let ping = a.ping(sb.ip(), 2).expect("ping");
    assert!(ping.no_loss(), "own MAC refused:\n{}", ping.output);

    // Both spoofed frames, and nothing else, counted as port-security drops.
    let line = bed
        .stats_line(|l| counter(l, "drop:port-security") == Some(2))
        .unwrap_or_else(|| panic!("want 2 port-security drops:\n{}", bed.sp.log()));
    eprintln!("{line}");
}

/// The value of `name=<n>` in a stats line.
fn counter(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

#[test]
fn acl_and_port_deletion_apply_to_cached_flows_once_wait_hv_returns() {
    skip_unless_root!();
    let bed = Bed::start("southpaw-hv", &two_on_one_switch(), |_| {});
    let [a, b] = &bed.containers[..] else {
        panic!("two containers")
    };
    let dst = b.spec().ip().to_string();

    // Warm the cache: these pings are megaflow hits after the first.
    let warm = a.ping(&dst, 3).expect("ping");
    assert!(warm.no_loss(), "{}\n{}", warm.output, bed.sp.log());
    bed.stats_line(|l| l.contains("tier:megaflow-hit=") || l.contains("tier:emc-hit="))
        .unwrap_or_else(|| panic!("the pings never hit a cache:\n{}", bed.sp.log()));

    bed.nbctl_wait_hv(&["acl-add", "ls0", "to-lport", "1001", "ip4 && icmp4", "drop"]);
    let blocked = a.ping(&dst, 1).expect("ping");
    assert_eq!(
        blocked.received, 0,
        "the first ping after the drop ACL passed:\n{}",
        blocked.output
    );

    bed.nbctl_wait_hv(&["acl-del", "ls0"]);
    let again = a.ping(&dst, 1).expect("ping");
    assert!(
        again.no_loss(),
        "ping after removing the ACL:\n{}\n{}",
        again.output,
        bed.sp.log()
    );

    bed.nbctl_wait_hv(&["lsp-del", &b.spec().name]);
    let gone = a.ping(&dst, 1).expect("ping");
    assert_eq!(
        gone.received, 0,
        "ping reached a deleted port:\n{}",
        gone.output
    );
}
