//! Packets the logical switch answers or floods, through southpaw: ARP for the router's
//! address answered by the pipeline, broadcast flooded to every other port (`_MC_flood`),
//! and unknown unicast flooded only to ports with `unknown` addresses (`_MC_unknown`),
//! as OVN does.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{send_scapy, Bed, Capture, END, MAGIC};
use testbed::{skip_unless_root, Topology};

/// `ls0` alone with three containers `c0-0` .2, `c0-1` .3, `c0-2` .4.
fn three_on_one_switch() -> Topology {
    let mut t = Topology::two_switch_router(3);
    t.switches.truncate(1);
    t.switches[0].router_port = None;
    t.router = None;
    t
}

#[test]
fn arp_for_the_router_is_answered_by_the_pipeline() {
    skip_unless_root!();
    let topo = Topology::two_switch_router(1);
    let bed = Bed::start("southpaw-hv", &topo, |_| {});
    let c = &bed.containers[0];
    let gw = c.spec().gateway.clone().expect("gateway");
    let router_mac = topo.switches[0].router_port.as_ref().unwrap().mac.clone();

    let out = c
        .netns()
        .exec(&["arping", "-c", "2", "-w", "5", "-I", "eth0", &gw])
        .expect("arping");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        out.status.success() && text.contains(&format!("[{router_mac}]")),
        "no ARP reply with the router MAC {router_mac}:\n{text}\nsouthpaw log:\n{}",
        bed.sp.log()
    );

    // The kernel's own resolution (for a ping to the gateway) learns the same MAC.
    let ping = c.ping(&gw, 1).expect("ping the gateway");
    assert!(ping.no_loss(), "{}", ping.output);
    let neigh = c.netns().ip(&["neigh", "show", &gw]).expect("ip neigh");
    assert!(
        neigh.to_lowercase().contains(&router_mac),
        "neighbour entry for {gw}: {neigh}"
    );
}

#[test]
fn broadcast_floods_and_unknown_unicast_needs_an_unknown_port() {
    skip_unless_root!();
    let topo = three_on_one_switch();
    let bed = Bed::start("southpaw-hv", &topo, |_| {});
    let [a, b, c] = &bed.containers[..] else {
        panic!("three containers")
    };
    let src = a.spec().mac.clone();
    let filter = format!("b'{MAGIC}' in d or b'{END}' in d");
    let frame = |dst: &str, tag: &str| {
        format!("Ether(src='{src}',dst='{dst}',type=0x88b5)/Raw(load=b'{tag}'+bytes(40))")
    };
    let end_to = |who: &testbed::Container| frame(&who.spec().mac, END);

    // Broadcast: both other ports get it.
    let rb = Capture::start(b, &filter, 2);
    let rc = Capture::start(c, &filter, 2);
    send_scapy(
        a,
        &[frame("ff:ff:ff:ff:ff:ff", MAGIC), end_to(b), end_to(c)],
    );
    for (name, got) in [("c0-1", rb.finish()), ("c0-2", rc.finish())] {
        assert_eq!(
            got.len(),
            2,
            "{name} got {} frames, want the broadcast and the end marker\n{}",
            got.len(),
            bed.sp.log()
        );
        assert_eq!(
            &got[0][..6],
            &[0xff; 6],
            "{name}: first frame is the broadcast"
        );
    }

    // Unknown unicast with no `unknown` port: dropped (only the end markers arrive).
    let unknown = "0a:00:00:00:00:99";
    let rb = Capture::start(b, &filter, 2);
    let rc = Capture::start(c, &filter, 2);
    send_scapy(a, &[frame(unknown, MAGIC), end_to(b), end_to(c)]);
    for (name, got) in [("c0-1", rb.finish()), ("c0-2", rc.finish())] {
        assert_eq!(
            got.len(),
            1,
            "{name}: unknown unicast was delivered with no unknown port\n{}",
            bed.sp.log()
        );
    }

    // c0-2 also takes unknown addresses: now it (only) gets the unknown unicast.
    let cspec = c.spec();
    bed.nbctl_wait_hv(&[
        "lsp-set-addresses",
        &cspec.name,
        &cspec.addresses(),
        "unknown",
    ]);
    let rb = Capture::start(b, &filter, 2);
    let rc = Capture::start(c, &filter, 2);
    send_scapy(a, &[frame(unknown, MAGIC), end_to(b), end_to(c)]);
    let (gb, gc) = (rb.finish(), rc.finish());
    assert_eq!(gb.len(), 1, "c0-1 (not unknown) got the unknown unicast");
    assert_eq!(
        gc.len(),
        2,
        "c0-2 (unknown) did not get the unknown unicast\n{}",
        bed.sp.log()
    );
    assert_eq!(&gc[0][..6], &[0x0a, 0, 0, 0, 0, 0x99]);
}
