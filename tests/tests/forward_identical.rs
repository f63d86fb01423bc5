//! Byte-identical forwarding: the same fixed frames (ARP requests, ICMP echo, UDP, TCP SYN,
//! a broadcast; within `ls0` and across `lr0`) sent from `c0-0` through stock OVS +
//! ovn-controller ([`OvsPeer`]) and through `southpaw run`, each on its own OVN sandbox
//! with the same topology, must arrive with the same bytes at the same receivers:
//! `c0-1` (same switch), `c1-0` (behind the router), and `c0-0` itself for what the
//! pipeline answers (ARP replies, the router's echo reply).
//!
//! Every frame is fixed (scapy with explicit fields; IP id 1), so nothing may differ.
//! Left out: frames that make the pipeline build a new packet through the controller
//! (TTL expiry, unreachable ports), which southpaw does not generate yet.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use forward_util::{send_scapy, Bed, Capture, MAGIC};
use testbed::{skip_unless_root, Container, OvnSandbox, OvsPeer, Topology};

/// The frames, as scapy expressions, from `c0-0` (0a:00:00:00:00:02, 10.0.0.2).
fn frames() -> Vec<String> {
    let me = "src='0a:00:00:00:00:02'";
    let to_c01 =
        "Ether(src='0a:00:00:00:00:02',dst='0a:00:00:00:00:03')/IP(src='10.0.0.2',dst='10.0.0.3'";
    let to_lr =
        "Ether(src='0a:00:00:00:00:02',dst='0a:00:00:00:ff:00')/IP(src='10.0.0.2',dst='10.0.1.2'";
    let tag = |i: u32| format!("Raw(load=b'{MAGIC}{i:03}'+bytes(range({})))", 10 + i);
    let arp = |tpa: &str, i: u32| {
        format!(
            "Ether({me},dst='ff:ff:ff:ff:ff:ff')/ARP(op=1,hwsrc='0a:00:00:00:00:02',\
             psrc='10.0.0.2',pdst='{tpa}')/Padding(load=b'{MAGIC}{i:03}'+bytes(9))"
        )
    };
    vec![
        // Answered by the switch's ARP responder and by the router.
        arp("10.0.0.3", 0),
        arp("10.0.0.1", 1),
        // Nobody owns it: flooded to c0-1 (and the router, which ignores it).
        arp("10.0.0.99", 2),
        format!("{to_c01},id=1)/ICMP(type=8,id=7,seq=1)/{}", tag(3)),
        format!("{to_c01},id=1,tos=0x10)/ICMP(type=8,id=7,seq=2)/{}", tag(4)),
        format!("{to_c01},id=1,ttl=3)/UDP(sport=1234,dport=5678)/{}", tag(5)),
        format!("{to_c01},id=1)/UDP(sport=53,dport=53)/{}", tag(6)),
        format!(
            "{to_c01},id=1)/TCP(sport=40000,dport=80,flags='S',seq=1000)/{}",
            tag(7)
        ),
        format!(
            "{to_c01},id=1)/TCP(sport=40001,dport=22,flags='S',seq=2000,\
             options=[('MSS',1460),('WScale',7),('SAckOK',b'')])/{}",
            tag(8)
        ),
        format!(
            "Ether({me},dst='ff:ff:ff:ff:ff:ff')/IP(src='10.0.0.2',dst='255.255.255.255',id=1)\
             /UDP(sport=68,dport=9999)/{}",
            tag(9)
        ),
        format!("{to_lr},id=1)/ICMP(type=8,id=9,seq=1)/{}", tag(10)),
        format!("{to_lr},id=1,ttl=5)/ICMP(type=8,id=9,seq=2)/{}", tag(11)),
        format!("{to_lr},id=1)/UDP(sport=1000,dport=2000)/{}", tag(12)),
        format!(
            "{to_lr},id=1,tos=0xb8)/UDP(sport=1001,dport=2001)/{}",
            tag(13)
        ),
        format!(
            "{to_lr},id=1)/TCP(sport=40002,dport=443,flags='S',seq=3000)/{}",
            tag(14)
        ),
        format!(
            "{to_lr},id=1,flags='DF')/TCP(sport=40003,dport=8080,flags='S',seq=4000)/{}",
            tag(15)
        ),
        // The router's own address: an echo reply built in place.
        format!(
            "Ether({me},dst='0a:00:00:00:ff:00')/IP(src='10.0.0.2',dst='10.0.0.1',id=1)\
             /ICMP(type=8,id=11,seq=1)/{}",
            tag(16)
        ),
        format!("{to_c01},id=1)/ICMP(type=8,id=7,seq=3)/{}", tag(17)),
        format!("{to_lr},id=1)/ICMP(type=8,id=9,seq=3)/{}", tag(18)),
        format!("{to_c01},id=1)/UDP(sport=1234,dport=5678)/{}", tag(19)),
        // IPv4 multicast: flooded within the switch.
        format!(
            "Ether({me},dst='01:00:5e:00:00:fb')/IP(src='10.0.0.2',dst='224.0.0.251',id=1,ttl=1)\
             /UDP(sport=5353,dport=5353)/{}",
            tag(20)
        ),
        // IPv6 link-local unicast, and a neighbour solicitation to its solicited-node
        // multicast group (flooded).
        format!(
            "Ether({me},dst='0a:00:00:00:00:03')/IPv6(src='fe80::2',dst='fe80::3')\
             /UDP(sport=546,dport=547)/{}",
            tag(25)
        ),
        format!(
            "Ether({me},dst='33:33:ff:00:00:03')/IPv6(src='fe80::2',dst='ff02::1:ff00:3')\
             /ICMPv6ND_NS(tgt='fe80::3')/ICMPv6NDOptSrcLLAddr(lladdr='0a:00:00:00:00:02')\
             /Raw(load=b'{MAGIC}026')"
        ),
        // A VLAN-tagged frame from a VIF: dropped by port security (ls_in_port_sec_l2).
        format!(
            "Ether({me},dst='0a:00:00:00:00:03')/Dot1Q(vlan=5)\
             /IP(src='10.0.0.2',dst='10.0.0.3',id=1)/UDP(sport=7,dport=7)/{}",
            tag(21)
        ),
    ]
}

/// Frames the pipeline answers with a packet it builds (`icmp4 {}`, `tcp_reset {}`): TTL
/// expiry in the router, UDP and TCP to the router's own address. Each adds one frame at
/// `c0-0`.
fn generating_frames() -> Vec<String> {
    let me = "src='0a:00:00:00:00:02'";
    let tag = |i: u32| format!("Raw(load=b'{MAGIC}{i:03}'+bytes(range({})))", 10 + i);
    let to_router = |dst: &str| {
        format!("Ether({me},dst='0a:00:00:00:ff:00')/IP(src='10.0.0.2',dst='{dst}',id=1")
    };
    vec![
        format!(
            "{},ttl=1)/UDP(sport=1,dport=2)/{}",
            to_router("10.0.1.2"),
            tag(22)
        ),
        format!(
            "{})/UDP(sport=1,dport=2)/{}",
            to_router("10.0.0.1"),
            tag(23)
        ),
        format!(
            "{})/TCP(sport=1,dport=2,flags='S')/{}",
            to_router("10.0.0.1"),
            tag(24)
        ),
    ]
}

/// What `c0-0` keeps: ARP replies, and IPv4 from the router's address 10.0.0.1.
const SELF_FILTER: &str = "(d[12:14]==b'\\x08\\x06' and d[20:22]==b'\\x00\\x02') or \
                           (d[12:14]==b'\\x08\\x00' and d[26:30]==bytes([10,0,0,1]))";
/// How many frames each receiver expects: `c0-0` two ARP replies and the router's echo
/// reply; `c0-1` tags 2-9, 17, 19, 20, 25 and 26 (not the VLAN-tagged 21); `c1-0` tags
/// 10-15 and 18. A receiver stops at its count (so frames that the datapath delivers out
/// of order, as OVS does after an upcall, are still seen), or after 10 s without one.
const COUNTS: [usize; 3] = [3, 13, 7];

/// Sends `frames` from `cs[0]` and returns what `c0-0`, `c0-1` and `c1-0` kept (at most
/// `counts` each), sorted.
fn exchange(cs: &[&Container], frames: &[String], counts: [usize; 3]) -> [Vec<Vec<u8>>; 3] {
    let tagged = format!("b'{MAGIC}' in d");
    let r0 = Capture::start(cs[0], SELF_FILTER, counts[0]);
    let r1 = Capture::start(cs[1], &tagged, counts[1]);
    let r2 = Capture::start(cs[2], &tagged, counts[2]);
    send_scapy(cs[0], frames);
    let mut out = [r0.finish(), r1.finish(), r2.finish()];
    for v in &mut out {
        v.sort();
    }
    out
}

fn hexdump(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect()
}

#[test]
fn same_frames_arrive_byte_identical_through_ovs_and_southpaw() {
    skip_unless_root!();
    compare(&frames(), COUNTS);
}

/// Packets the pipeline builds (`icmp4 {}`, `tcp_reset {}`): ovn-controller's pinctrl and
/// southpaw's datapath (`datapath/src/actions/generate.rs`) must make the same bytes.
///
/// Covers ICMP time exceeded, port unreachable and the TCP RST (built with TTL 63 and
/// ports swapped as pinctrl does, then decremented by the router's `ip.ttl--`).
#[test]
fn generated_packets_arrive_byte_identical_through_ovs_and_southpaw() {
    skip_unless_root!();
    let mut all = frames();
    all.extend(generating_frames());
    let extra = generating_frames().len();
    compare(&all, [COUNTS[0] + extra, COUNTS[1], COUNTS[2]]);
}

/// Runs `frames` through the OVS peer, then through southpaw, and asserts that each
/// receiver got the same bytes (and, on the peer, `counts` frames).
fn compare(frames: &[String], counts: [usize; 3]) {
    let topo = Topology::two_switch_router(2);
    let ports: Vec<_> = topo.ports().map(|(_, p)| p.clone()).collect();
    // c0-0, c0-1, c1-0.
    let pick = [0usize, 1, 2];

    let peer_got = {
        let ovn = OvnSandbox::start().expect("OVN sandbox for the peer");
        topo.apply(&ovn, |_| {}).expect("write the topology");
        let mut peer = OvsPeer::start(&ovn).expect("start the OVS peer");
        let cs: Vec<Container> = ports
            .iter()
            .map(|p| peer.attach(&ovn, p).expect("attach"))
            .collect();
        ovn.wait_hv().expect("--wait=hv");
        exchange(&pick.map(|i| &cs[i]), frames, counts)
    };

    let bed = Bed::start("southpaw-hv", &topo, |_| {});
    let sp_got = exchange(&pick.map(|i| &bed.containers[i]), frames, counts);

    for (i, name) in ["c0-0", "c0-1", "c1-0"].iter().enumerate() {
        assert_eq!(
            peer_got[i].len(),
            counts[i],
            "the OVS peer delivered another count to {name}:\n{}",
            hexdump(&peer_got[i])
        );
        assert_eq!(
            hexdump(&sp_got[i]),
            hexdump(&peer_got[i]),
            "frames at {name} differ (left southpaw, right OVS)\nsouthpaw log:\n{}",
            bed.sp.log()
        );
    }
}
