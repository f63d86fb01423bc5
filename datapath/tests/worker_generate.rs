//! Packets the pipeline generates (`icmp4 {}`, `tcp_reset {}`, `arp {}`), built by the
//! worker on the in-memory backend: each asserted byte for byte against a packet written
//! here by hand from pinctrl's rules (OVN 23.03), including checksums.

use std::sync::Arc;

use datapath::actions::Cause;
use datapath::dataplane::{DpPublisher, DpSnapshot};
use datapath::io::Backend;
use datapath::mem::MemBackend;
use datapath::worker::{Worker, WorkerConfig, WorkerStats};
use pipeline::compile::compile;
use pipeline::model::*;
use pipeline::Symtab;

const MAC1: [u8; 6] = [0x0a, 0, 0, 0, 0, 1];
const MAC2: [u8; 6] = [0x0a, 0, 0, 0, 0, 2];
const IP1: [u8; 4] = [10, 0, 0, 1];
const IP2: [u8; 4] = [10, 0, 0, 2];
const GW: [u8; 4] = [10, 0, 0, 254];
const UNKNOWN: [u8; 4] = [10, 0, 0, 99];

fn flow(t: u8, prio: u16, pipe: Pipeline, m: &str, a: &str) -> LogicalFlow {
    LogicalFlow {
        uuid: format!("{t}-{prio}-{m}"),
        datapath: Some("dp-ls0".into()),
        dp_group: None,
        pipeline: pipe,
        table_id: t,
        priority: prio,
        match_: m.into(),
        actions: a.into(),
        stage: format!("stage{t}"),
    }
}

fn vif(name: &str, key: u32, mac: &str, ip: &str) -> PortBinding {
    PortBinding {
        logical_port: name.into(),
        tunnel_key: key,
        datapath: "dp-ls0".into(),
        mac: vec![format!("{mac} {ip}")],
        chassis: Some("ch1".into()),
        ..PortBinding::default()
    }
}

/// One switch whose first table answers like a router would: TTL 1 → time exceeded,
/// UDP to port 7 → port unreachable, TCP to port 80 → RST, IPv4 to 10.0.0.99 → ARP
/// request for it; everything else goes to `c2`.
fn model() -> Model {
    use Pipeline::*;
    let back = "outport = inport; flags.loopback = 1; output;";
    Model {
        chassis: "ch1".into(),
        datapaths: vec![Datapath {
            uuid: "dp-ls0".into(),
            tunnel_key: 1,
            name: "ls0".into(),
            kind: DpKind::Switch,
        }],
        flows: vec![
            flow(
                0,
                100,
                Ingress,
                "ip4 && ip.ttl == 1",
                &format!(
                    "icmp4 {{ eth.dst <-> eth.src; ip4.dst <-> ip4.src; ip.ttl = 254; \
                     icmp4.type = 11; icmp4.code = 0; {back} }};"
                ),
            ),
            flow(
                0,
                90,
                Ingress,
                "udp && udp.dst == 7",
                &format!(
                    "icmp4 {{ eth.dst <-> eth.src; ip4.dst <-> ip4.src; ip.ttl = 255; \
                     icmp4.type = 3; icmp4.code = 3; {back} }};"
                ),
            ),
            flow(
                0,
                90,
                Ingress,
                "tcp && tcp.dst == 80",
                &format!("tcp_reset {{ eth.dst <-> eth.src; ip4.dst <-> ip4.src; {back} }};"),
            ),
            flow(
                0,
                80,
                Ingress,
                "ip4.dst == 10.0.0.99",
                "eth.src = 0a:00:00:00:00:fe; ip4.src = 10.0.0.254; \
                 arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.op = 1; outport = \"c2\"; output; };",
            ),
            flow(
                0,
                80,
                Ingress,
                "ip6 && ip6.dst == fd00::99",
                "eth.src = 0a:00:00:00:00:fe; nd_ns { outport = \"c2\"; output; };",
            ),
            flow(
                0,
                85,
                Ingress,
                "nd_ns && nd.target == fd00::fe",
                &format!(
                    "nd_na_router {{ eth.src = 0a:00:00:00:00:fe; ip6.src = fd00::fe; \
                     nd.tll = 0a:00:00:00:00:fe; {back} }};"
                ),
            ),
            flow(
                0,
                90,
                Ingress,
                "ip6 && udp && udp.dst == 9",
                "icmp4 { outport = \"c2\"; output; };",
            ),
            flow(0, 0, Ingress, "1", "outport = \"c2\"; output;"),
            flow(0, 0, Egress, "1", "output;"),
        ],
        ports: vec![
            vif("c1", 1, "0a:00:00:00:00:01", "10.0.0.1"),
            vif("c2", 2, "0a:00:00:00:00:02", "10.0.0.2"),
        ],
        ..Model::default()
    }
}

fn worker() -> (DpPublisher, Worker<MemBackend>) {
    let publisher = DpPublisher::new();
    let sub = publisher.subscribe();
    let cfg = WorkerConfig {
        emc_insert_inv_prob: 1,
        ..WorkerConfig::default()
    };
    let opener = Box::new(|n: &[String]| Ok(MemBackend::new(n.len(), 256)));
    let mut w = Worker::new(sub, opener, cfg, Arc::new(WorkerStats::default()));
    let c = compile(&model(), Arc::new(Symtab::ovn()));
    assert!(c.rejected.is_empty(), "rejected: {:?}", c.rejected);
    let (s, skipped) = DpSnapshot::new(Arc::new(c), [("c1", "veth-c1"), ("c2", "veth-c2")]);
    assert!(skipped.is_empty());
    publisher.publish(Arc::new(s));
    assert!(w.adopt());
    (publisher, w)
}

/// Injects `pkt` on port 0, returns what came out of ports 0 and 1.
fn send(w: &mut Worker<MemBackend>, pkt: &[u8]) -> [Vec<Vec<u8>>; 2] {
    let b = w.backend_mut().expect("backend open");
    assert!(b.inject(0, pkt));
    assert_eq!(w.poll_once(), 1);
    let b = w.backend_mut().expect("backend open");
    let out = [b.take_sent(0), b.take_sent(1)];
    assert_eq!(b.in_flight(), 0, "frame leaked");
    out
}

fn csum(parts: &[&[u8]]) -> [u8; 2] {
    let mut s: u64 = 0;
    for p in parts {
        for c in p.chunks(2) {
            s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    (!(s as u16)).to_be_bytes()
}

/// IPv4 header with a valid checksum.
#[allow(clippy::too_many_arguments)]
fn ip4(
    tos: u8,
    id: u16,
    frag: u16,
    ttl: u8,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    payload: usize,
) -> Vec<u8> {
    let mut h = vec![0x45, tos];
    h.extend_from_slice(&((20 + payload) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[ttl, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum(&[&h]);
    h[10..12].copy_from_slice(&c);
    h
}

fn eth(dst: [u8; 6], src: [u8; 6], ty: u16) -> Vec<u8> {
    let mut p = dst.to_vec();
    p.extend_from_slice(&src);
    p.extend_from_slice(&ty.to_be_bytes());
    p
}

fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Vec<u8> {
    let mut p = src.to_vec();
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

/// UDP from c1 to `dip` with `ttl` (checksum 0, 4 bytes of payload).
fn udp(dip: [u8; 4], dport: u16, ttl: u8) -> Vec<u8> {
    let mut p = eth(MAC2, MAC1, 0x0800);
    p.extend(ip4(0x10, 7, 0x4000, ttl, 17, IP1, dip, 12));
    p.extend_from_slice(&1000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 12, 0, 0]);
    p.extend_from_slice(b"ping");
    p
}

/// The ICMPv4 error OVN sends back to c1 for `orig`.
fn icmp_error(orig: &[u8], ttl: u8, ty: u8, code: u8) -> Vec<u8> {
    let quote = &orig[14..];
    let mut icmp = vec![ty, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quote);
    let c = csum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c);
    let mut p = eth(MAC1, MAC2, 0x0800);
    p.extend(ip4(0, 0, 0x4000, ttl, 1, IP2, IP1, icmp.len()));
    p.extend(icmp);
    p
}

#[test]
fn ttl_one_gets_time_exceeded_quoting_the_whole_packet() {
    let (_p, mut w) = worker();
    let pkt = udp(IP2, 53, 1);
    let [back, fwd] = send(&mut w, &pkt);
    assert!(fwd.is_empty(), "the expired packet is not forwarded");
    assert_eq!(back, vec![icmp_error(&pkt, 254, 11, 0)]);
    // Again from the megaflow cache: same bytes.
    let [back, _] = send(&mut w, &pkt);
    assert_eq!(back, vec![icmp_error(&pkt, 254, 11, 0)]);
}

#[test]
fn udp_to_closed_port_gets_port_unreachable() {
    let (_p, mut w) = worker();
    let pkt = udp(IP2, 7, 64);
    let [back, fwd] = send(&mut w, &pkt);
    assert!(fwd.is_empty());
    assert_eq!(back, vec![icmp_error(&pkt, 255, 3, 3)]);
}

#[test]
fn icmp_quote_is_capped_at_576_bytes() {
    let (_p, mut w) = worker();
    let mut pkt = eth(MAC2, MAC1, 0x0800);
    let payload = 992;
    pkt.extend(ip4(0, 1, 0, 1, 17, IP1, IP2, payload));
    pkt.extend(std::iter::repeat_n(0xab, payload));
    let [back, _] = send(&mut w, &pkt);
    assert_eq!(back.len(), 1);
    let got = &back[0];
    // pinctrl counts the Ethernet header in its 576 bytes.
    assert_eq!(got.len(), 576, "576-byte frame");
    assert_eq!(
        &got[14 + 28..],
        &pkt[14..14 + 534],
        "quote is the first 534 bytes"
    );
    assert_eq!(&got[16..18], &562u16.to_be_bytes());
}

#[test]
fn tcp_syn_gets_rst_ack_of_seq_plus_one() {
    let (_p, mut w) = worker();
    let mut tcp = vec![
        0x9c, 0x40, 0, 80, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0x50, 0x02,
    ];
    tcp.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
    let c = csum(&[&pseudo(IP1, IP2, 6, 20), &tcp]);
    tcp[16..18].copy_from_slice(&c);
    let mut pkt = eth(MAC2, MAC1, 0x0800);
    pkt.extend(ip4(0, 9, 0x4000, 64, 6, IP1, IP2, 20));
    pkt.extend(tcp);

    let mut rst = vec![
        0, 80, 0x9c, 0x40, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x79, 0x50, 0x14,
    ];
    rst.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let c = csum(&[&pseudo(IP2, IP1, 6, 20), &rst]);
    rst[16..18].copy_from_slice(&c);
    let mut want = eth(MAC1, MAC2, 0x0800);
    want.extend(ip4(0, 0, 0x4000, 63, 6, IP2, IP1, 20));
    want.extend(rst);

    let [back, fwd] = send(&mut w, &pkt);
    assert!(fwd.is_empty());
    assert_eq!(back, vec![want]);
}

#[test]
fn unknown_next_hop_gets_an_arp_request() {
    let (_p, mut w) = worker();
    let pkt = udp(UNKNOWN, 53, 64);
    let [back, fwd] = send(&mut w, &pkt);
    assert!(back.is_empty());
    let gw_mac = [0x0a, 0, 0, 0, 0, 0xfe];
    let mut want = eth([0xff; 6], gw_mac, 0x0806);
    want.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    want.extend_from_slice(&gw_mac);
    want.extend_from_slice(&GW);
    want.extend_from_slice(&[0; 6]);
    want.extend_from_slice(&UNKNOWN);
    assert_eq!(fwd, vec![want]);
}

const GW_MAC: [u8; 6] = [0x0a, 0, 0, 0, 0, 0xfe];

fn ip6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = last;
    a
}

/// IPv6 + ICMPv6 with a valid checksum (`body` has a zero checksum field at 2..4).
fn icmp6(src: [u8; 16], dst: [u8; 16], mut body: Vec<u8>) -> Vec<u8> {
    let mut ph = src.to_vec();
    ph.extend_from_slice(&dst);
    ph.extend_from_slice(&(body.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 58]);
    let c = csum(&[&ph, &body]);
    body[2..4].copy_from_slice(&c);
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&[58, 255]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend(body);
    h
}

fn nd_body(ty: u8, flags: [u8; 4], target: [u8; 16], opt: u8, lla: [u8; 6]) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0];
    b.extend_from_slice(&flags);
    b.extend_from_slice(&target);
    b.extend_from_slice(&[opt, 1]);
    b.extend_from_slice(&lla);
    b
}

#[test]
fn unknown_ipv6_next_hop_gets_a_neighbour_solicitation() {
    let (_p, mut w) = worker();
    let mut pkt = eth(MAC2, MAC1, 0x86dd);
    let mut udp = vec![0, 1, 0, 2, 0, 12, 0, 0];
    udp.extend_from_slice(b"ping");
    pkt.extend_from_slice(&[0x60, 0, 0, 0, 0, 12, 17, 64]);
    pkt.extend_from_slice(&ip6(1));
    pkt.extend_from_slice(&ip6(0x99));
    pkt.extend(udp);
    let [back, fwd] = send(&mut w, &pkt);
    assert!(back.is_empty());
    // From fe80::0800:00ff:fe00:00fe (EUI-64 of 0a:00:00:00:00:fe) to ff02::1:ff00:99.
    let mut lla = [0u8; 16];
    lla[..2].copy_from_slice(&[0xfe, 0x80]);
    lla[8..].copy_from_slice(&[0x08, 0, 0, 0xff, 0xfe, 0, 0, 0xfe]);
    let mut sol = [0u8; 16];
    sol[..2].copy_from_slice(&[0xff, 0x02]);
    sol[11..].copy_from_slice(&[1, 0xff, 0, 0, 0x99]);
    let mut want = eth([0x33, 0x33, 0xff, 0, 0, 0x99], GW_MAC, 0x86dd);
    want.extend(icmp6(lla, sol, nd_body(135, [0; 4], ip6(0x99), 1, GW_MAC)));
    assert_eq!(fwd, vec![want]);
}

#[test]
fn solicitation_for_the_router_gets_a_router_advertisement_back() {
    let (_p, mut w) = worker();
    let mut sol = [0u8; 16];
    sol[..2].copy_from_slice(&[0xff, 0x02]);
    sol[11..].copy_from_slice(&[1, 0xff, 0, 0, 0xfe]);
    let mut pkt = eth([0x33, 0x33, 0xff, 0, 0, 0xfe], MAC1, 0x86dd);
    pkt.extend(icmp6(ip6(1), sol, nd_body(135, [0; 4], ip6(0xfe), 1, MAC1)));
    let [back, fwd] = send(&mut w, &pkt);
    assert!(fwd.is_empty());
    let mut want = eth(MAC1, GW_MAC, 0x86dd);
    want.extend(icmp6(
        ip6(0xfe),
        ip6(1),
        nd_body(136, [0xe0, 0, 0, 0], ip6(0xfe), 2, GW_MAC),
    ));
    assert_eq!(back, vec![want]);
}

#[test]
fn icmp4_error_of_an_ipv6_packet_is_a_counted_drop() {
    let (_p, mut w) = worker();
    let mut pkt = eth(MAC2, MAC1, 0x86dd);
    pkt.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
    pkt.extend_from_slice(&ip6(1));
    pkt.extend_from_slice(&ip6(2));
    pkt.extend_from_slice(&[0, 1, 0, 9, 0, 8, 0, 0]);
    let [back, fwd] = send(&mut w, &pkt);
    assert!(back.is_empty() && fwd.is_empty());
    assert_eq!(w.causes()[Cause::GenerateNotIntegrated.index()], 1);
}
