//! Extraction and rewrite tests on literal packets built with the wire views.

use pipeline::flow::{field, word, Flow};

use super::*;
use crate::wire::checksum;
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6, tcp, udp};

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const IP_A: u32 = 0x0a00_0001;
const IP_B: u32 = 0x0a00_0002;
const IP6_A: u128 = 0xfd00_0000_0000_0000_0000_0000_0000_000a;
const IP6_B: u128 = 0xfd00_0000_0000_0000_0000_0000_0000_000b;

fn eth(buf: &mut [u8], ty: u16, vlan: Option<u16>) -> usize {
    buf[0..6].copy_from_slice(&MAC_B);
    buf[6..12].copy_from_slice(&MAC_A);
    match vlan {
        Some(tci) => {
            buf[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            buf[14..16].copy_from_slice(&tci.to_be_bytes());
            buf[16..18].copy_from_slice(&ty.to_be_bytes());
            18
        }
        None => {
            buf[12..14].copy_from_slice(&ty.to_be_bytes());
            14
        }
    }
}

fn ip4(buf: &mut [u8], proto: u8, l4_len: usize) -> usize {
    let mut ip = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip.set_version_and_header_len(20);
    ip.set_tos(0x2e);
    ip.set_total_len((20 + l4_len) as u16);
    ip.set_ident(7);
    ip.set_flags_frag(ipv4::FLAG_DF, 0);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src(IP_A);
    ip.set_dst(IP_B);
    ip.fill_checksum();
    20
}

/// A 64-byte Ethernet/IPv4/UDP frame (22 bytes of UDP payload), checksums valid.
pub(crate) fn udp4_frame() -> [u8; 64] {
    let mut b = [0u8; 64];
    let o = eth(&mut b, 0x0800, None);
    let l4 = 64 - o - 20;
    let o2 = o + ip4(&mut b[o..], 17, l4);
    let mut u = udp::Packet::new_unchecked(&mut b[o2..]);
    u.set_src_port(1234);
    u.set_dst_port(53);
    u.set_len(l4 as u16);
    u.fill_checksum(checksum::pseudo_v4(IP_A, IP_B, 17, l4 as u32));
    b
}

fn tcp4_vlan_frame() -> Vec<u8> {
    let mut b = vec![0u8; 18 + 20 + 20 + 4];
    let o = eth(&mut b, 0x0800, Some(0x2064));
    let o2 = o + ip4(&mut b[o..], 6, 24);
    let mut t = tcp::Packet::new_unchecked(&mut b[o2..]);
    t.set_src_port(40000);
    t.set_dst_port(80);
    t.set_seq(1);
    t.set_header_len_flags(20, tcp::flags::SYN | tcp::flags::ACK);
    t.set_window(1000);
    t.fill_checksum(checksum::pseudo_v4(IP_A, IP_B, 6, 24));
    b
}

fn icmp4_frame() -> Vec<u8> {
    let mut b = vec![0u8; 14 + 20 + 12];
    let o = eth(&mut b, 0x0800, None);
    let o2 = o + ip4(&mut b[o..], 1, 12);
    let mut p = icmpv4::Packet::new_unchecked(&mut b[o2..]);
    p.set_msg_type(8);
    p.set_echo_ident(9);
    p.fill_checksum();
    b
}

fn arp_frame() -> Vec<u8> {
    let mut b = vec![0u8; 14 + 28];
    let o = eth(&mut b, 0x0806, None);
    let mut a = crate::wire::arp::Packet::new_unchecked(&mut b[o..]);
    a.set_ethernet_ipv4();
    a.set_op(1);
    a.set_sha(MAC_A);
    a.set_spa(IP_A);
    a.set_tpa(IP_B);
    b
}

fn ip6_hdr(b: &mut [u8], next: u8, plen: usize) {
    let mut ip = ipv6::Packet::new_unchecked(&mut b[..]);
    ip.set_version_tc_flow(0xb8, 0xabcde);
    ip.set_payload_len(plen as u16);
    ip.set_next_header(next);
    ip.set_hop_limit(255);
    ip.set_src(IP6_A);
    ip.set_dst(IP6_B);
}

/// IPv6 with a hop-by-hop header, then UDP.
fn udp6_frame() -> Vec<u8> {
    let mut b = vec![0u8; 14 + 40 + 8 + 12];
    let o = eth(&mut b, 0x86dd, None);
    ip6_hdr(&mut b[o..], 0, 20);
    b[o + 40..o + 48].copy_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    let mut u = udp::Packet::new_unchecked(&mut b[o + 48..]);
    u.set_src_port(546);
    u.set_dst_port(547);
    u.set_len(12);
    u.fill_checksum(checksum::pseudo_v6(IP6_A, IP6_B, 17, 12));
    b
}

/// Neighbor solicitation for IP6_B with SLL = MAC_A.
fn ns_frame() -> Vec<u8> {
    let mut b = vec![0u8; 14 + 40 + 32];
    let o = eth(&mut b, 0x86dd, None);
    ip6_hdr(&mut b[o..], 58, 32);
    let l4 = &mut b[o + 40..];
    l4[0] = icmpv6::types::NEIGHBOR_SOLICIT;
    l4[8..24].copy_from_slice(&IP6_B.to_be_bytes());
    l4[24..26].copy_from_slice(&[1, 1]);
    l4[26..32].copy_from_slice(&MAC_A);
    icmpv6::Packet::new_unchecked(l4).fill_checksum(checksum::pseudo_v6(IP6_A, IP6_B, 58, 32));
    b
}

fn mac(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

#[test]
fn udp4() {
    let b = udp4_frame();
    let mut f = Flow::default();
    let lay = extract(&b, 3, &mut f).unwrap();
    assert_eq!(f.get(field::IN_PORT), 3);
    assert_eq!(f.get(field::ETH_SRC), mac(MAC_A));
    assert_eq!(f.get(field::ETH_DST), mac(MAC_B));
    assert_eq!(f.get(field::ETH_TYPE), 0x0800);
    assert_eq!(f.get(field::VLAN_TCI), 0);
    assert_eq!(
        (f.get(field::IP4_SRC), f.get(field::IP4_DST)),
        (IP_A as u64, IP_B as u64)
    );
    assert_eq!(
        (
            f.get(field::IP_PROTO),
            f.get(field::IP_TOS),
            f.get(field::IP_TTL)
        ),
        (17, 0x2e, 64)
    );
    assert_eq!(f.get(field::IP_FRAG), 0);
    assert_eq!((f.get(field::TP_SRC), f.get(field::TP_DST)), (1234, 53));
    assert_eq!(f.get(field::PKT_LEN), 64);
    assert_eq!(
        lay,
        Layout {
            l3: L3::Ipv4,
            l4: L4::Udp,
            l3_off: 14,
            l4_off: 34,
            ..Layout::default()
        }
    );
    // Nothing else is set.
    let mut g = Flow::default();
    for fl in [
        field::IN_PORT,
        field::ETH_SRC,
        field::ETH_DST,
        field::ETH_TYPE,
        field::IP4_SRC,
        field::IP4_DST,
        field::IP_PROTO,
        field::IP_TOS,
        field::IP_TTL,
        field::TP_SRC,
        field::TP_DST,
        field::PKT_LEN,
    ] {
        g.set(fl, f.get(fl));
    }
    assert_eq!(f, g);
}

#[test]
fn tcp4_vlan() {
    let b = tcp4_vlan_frame();
    let mut f = Flow::default();
    let lay = extract(&b, 1, &mut f).unwrap();
    assert!(lay.vlan);
    assert_eq!(f.get(field::VLAN_TCI), 0x2064 | VLAN_CFI as u64);
    assert_eq!(f.get(field::ETH_TYPE), 0x0800);
    assert_eq!((f.get(field::TP_SRC), f.get(field::TP_DST)), (40000, 80));
    assert_eq!(
        f.get(field::TCP_FLAGS),
        (tcp::flags::SYN | tcp::flags::ACK) as u64
    );
    assert_eq!((lay.l3_off, lay.l4_off, lay.l4), (18, 38, L4::Tcp));
}

#[test]
fn icmp_arp() {
    let mut f = Flow::default();
    let lay = extract(&icmp4_frame(), 1, &mut f).unwrap();
    assert_eq!(
        (lay.l4, f.get(field::TP_SRC), f.get(field::TP_DST)),
        (L4::Icmp4, 8, 0)
    );
    let lay = extract(&arp_frame(), 1, &mut f).unwrap();
    assert_eq!(lay.l3, L3::Arp);
    assert_eq!(f.get(field::ETH_TYPE), 0x0806);
    assert_eq!(f.get(field::ARP_OP), 1);
    assert_eq!(
        (f.get(field::IP4_SRC), f.get(field::IP4_DST)),
        (IP_A as u64, IP_B as u64)
    );
    assert_eq!(
        (f.get(field::ARP_SHA), f.get(field::ARP_THA)),
        (mac(MAC_A), 0)
    );
    assert_eq!(f.get(field::IP_PROTO), 0);
}

#[test]
fn ipv6_udp_and_nd() {
    let mut f = Flow::default();
    let lay = extract(&udp6_frame(), 1, &mut f).unwrap();
    assert_eq!((lay.l3, lay.l4, lay.l4_off), (L3::Ipv6, L4::Udp, 14 + 48));
    assert_eq!(
        (f.get128(field::IP6_SRC), f.get128(field::IP6_DST)),
        (IP6_A, IP6_B)
    );
    assert_eq!(
        (
            f.get(field::IP_PROTO),
            f.get(field::IP_TOS),
            f.get(field::IP_TTL)
        ),
        (17, 0xb8, 255)
    );
    assert_eq!(f.get(field::IP6_LABEL), 0xabcde);
    assert_eq!((f.get(field::TP_SRC), f.get(field::TP_DST)), (546, 547));
    let lay = extract(&ns_frame(), 1, &mut f).unwrap();
    assert_eq!(
        (lay.l4, lay.nd_sll_off, lay.nd_tll_off),
        (L4::Icmp6, 14 + 40 + 26, 0)
    );
    assert_eq!((f.get(field::TP_SRC), f.get(field::TP_DST)), (135, 0));
    assert_eq!(f.get128(field::ND_TARGET), IP6_B);
    assert_eq!(
        (f.get(field::ARP_SHA), f.get(field::ARP_THA)),
        (mac(MAC_A), 0)
    );
}

#[test]
fn nd_bad_option_clears_nd_fields() {
    let mut b = ns_frame();
    b[14 + 40 + 25] = 0; // zero-length option
    let mut f = Flow::default();
    let lay = extract(&b, 1, &mut f).unwrap();
    assert_eq!(lay.anomaly, Some(crate::counters::Anomaly::NdOptions));
    assert_eq!(f.get128(field::ND_TARGET), 0);
    assert_eq!(f.get(field::ARP_SHA), 0);
    assert_eq!(f.get(field::TP_SRC), 135, "type/code still extracted");
}

#[test]
fn fragments() {
    let mut b = udp4_frame().to_vec();
    // First fragment: MF set, offset 0 -> L4 parsed.
    ipv4::Packet::new_unchecked(&mut b[14..]).set_flags_frag(ipv4::FLAG_MF, 0);
    let mut f = Flow::default();
    extract(&b, 1, &mut f).unwrap();
    assert_eq!(f.get(field::IP_FRAG), FRAG_ANY as u64);
    assert_eq!(f.get(field::TP_DST), 53);
    // Later fragment -> no L4.
    ipv4::Packet::new_unchecked(&mut b[14..]).set_flags_frag(0, 1480);
    let lay = extract(&b, 1, &mut f).unwrap();
    assert_eq!(f.get(field::IP_FRAG), (FRAG_ANY | FRAG_LATER) as u64);
    assert_eq!((f.w[word::TP], lay.l4), (0, L4::None));
    assert_eq!(f.get(field::IP_PROTO), 17);
}

#[test]
fn truncation_is_partial_extraction() {
    let b = udp4_frame();
    let mut f = Flow::default();
    assert_eq!(extract(&b[..13], 5, &mut f), Err(DropReason::RuntFrame));
    assert_eq!(f.get(field::IN_PORT), 5);
    // Only the Ethernet header: L2 fields, anomaly for IPv4.
    let lay = extract(&b[..20], 1, &mut f).unwrap();
    assert_eq!(lay.anomaly, Some(crate::counters::Anomaly::L3Malformed));
    assert_eq!((f.get(field::ETH_TYPE), f.get(field::IP4_SRC)), (0x0800, 0));
    // IPv4 says total 50, cut the UDP header: IPv4 total_len > bytes -> no L3.
    let lay = extract(&b[..40], 1, &mut f).unwrap();
    assert_eq!(
        (lay.l3, lay.anomaly),
        (L3::None, Some(crate::counters::Anomaly::L3Malformed))
    );
    // Shrink total_len so the UDP header is cut: L3 set, L4 zero.
    let mut c = b;
    ipv4::Packet::new_unchecked(&mut c[14..]).set_total_len(24);
    let lay = extract(&c, 1, &mut f).unwrap();
    assert_eq!(
        (lay.l3, lay.l4, lay.anomaly),
        (
            L3::Ipv4,
            L4::None,
            Some(crate::counters::Anomaly::L4Truncated)
        )
    );
    assert_eq!((f.get(field::IP4_DST), f.w[word::TP]), (IP_B as u64, 0));
    // A VLAN tag cut short.
    let t = tcp4_vlan_frame();
    let lay = extract(&t[..16], 1, &mut f).unwrap();
    assert_eq!(lay.anomaly, Some(crate::counters::Anomaly::VlanTruncated));
    assert_eq!(f.get(field::ETH_TYPE), 0x8100);
    // 802.3 length field.
    let mut l = b;
    l[12..14].copy_from_slice(&46u16.to_be_bytes());
    extract(&l, 1, &mut f).unwrap();
    assert_eq!(
        (f.get(field::ETH_TYPE), f.get(field::IP4_SRC)),
        (ETH_TYPE_NONE as u64, 0)
    );
}

fn verify_l3_l4(b: &[u8]) {
    let mut f = Flow::default();
    let lay = extract(b, 0, &mut f).unwrap();
    let l4 = &b[lay.l4_off as usize..];
    match lay.l3 {
        L3::Ipv4 => {
            let ip = ipv4::Packet::new_checked(&b[lay.l3_off as usize..]).unwrap();
            assert!(ip.verify_checksum(), "ipv4 header checksum");
            let len = ip.payload().len() as u32;
            let ps = checksum::pseudo_v4(ip.src(), ip.dst(), ip.protocol(), len);
            let l4 = ip.payload();
            match lay.l4 {
                L4::Udp => assert!(
                    udp::Packet::new_checked(l4).unwrap().verify_checksum(ps),
                    "udp"
                ),
                L4::Tcp => assert!(
                    tcp::Packet::new_checked(l4).unwrap().verify_checksum(ps),
                    "tcp"
                ),
                L4::Icmp4 => assert!(
                    icmpv4::Packet::new_checked(l4).unwrap().verify_checksum(),
                    "icmp"
                ),
                _ => {}
            }
        }
        L3::Ipv6 => {
            let ip = ipv6::Packet::new_checked(&b[lay.l3_off as usize..]).unwrap();
            let ps = checksum::pseudo_v6(
                ip.src(),
                ip.dst(),
                f.get(field::IP_PROTO) as u8,
                l4.len() as u32,
            );
            match lay.l4 {
                L4::Udp => assert!(
                    udp::Packet::new_checked(l4).unwrap().verify_checksum(ps),
                    "udp6"
                ),
                L4::Icmp6 => assert!(
                    icmpv6::Packet::new_checked(l4).unwrap().verify_checksum(ps),
                    "icmp6"
                ),
                _ => {}
            }
        }
        _ => {}
    }
}

/// extract -> set fields -> apply -> extract gives the modified flow; checksums verify.
fn round_trip(mut b: Vec<u8>, sets: &[SetField]) {
    verify_l3_l4(&b);
    let mut f = Flow::default();
    let lay = extract(&b, 7, &mut f).unwrap();
    let mut want = f;
    let mut bits = Rewrite::NONE;
    for s in sets {
        bits |= s.write(&mut want);
    }
    assert_eq!(
        Rewrite::diff(&f, &want),
        bits,
        "diff agrees with SetField bits for {sets:?}"
    );
    apply(&mut b, &lay, &want, bits).unwrap();
    let mut g = Flow::default();
    extract(&b, 7, &mut g).unwrap();
    assert_eq!(g, want, "{sets:?}");
    verify_l3_l4(&b);
}

#[test]
fn rewrite_round_trips() {
    use SetField::*;
    round_trip(
        udp4_frame().to_vec(),
        &[
            EthSrc([2, 1, 1, 1, 1, 1]),
            EthDst([2, 2, 2, 2, 2, 2]),
            Ip4Src(0xc0a8_0101),
            Ip4Dst(0x0808_0808),
            IpTtl(63),
            IpDscp(10),
            TpSrc(4321),
            TpDst(5353),
        ],
    );
    round_trip(
        tcp4_vlan_frame(),
        &[
            VlanTci(0x3005 | VLAN_CFI),
            Ip4Dst(0x0102_0304),
            TpDst(8080),
            IpEcn(3),
        ],
    );
    round_trip(
        icmp4_frame(),
        &[IcmpType(0), Ip4Src(IP_B), Ip4Dst(IP_A), IpTtl(1)],
    );
    round_trip(
        arp_frame(),
        &[
            ArpOp(2),
            ArpSha(MAC_B),
            ArpTha(MAC_A),
            ArpSpa(IP_B),
            ArpTpa(IP_A),
            EthDst(MAC_A),
        ],
    );
    round_trip(
        udp6_frame(),
        &[
            Ip6Src(IP6_B),
            Ip6Dst(IP6_A),
            IpTtl(1),
            Ip6Label(7),
            IpTos(0),
            TpSrc(1),
        ],
    );
    round_trip(
        ns_frame(),
        &[
            IcmpType(136),
            NdTarget(IP6_A),
            NdSll([2, 9, 9, 9, 9, 9]),
            Ip6Src(IP6_B),
        ],
    );
}

#[test]
fn rewrite_errors() {
    use SetField::*;
    let mut b = udp4_frame().to_vec();
    let mut f = Flow::default();
    let lay = extract(&b, 0, &mut f).unwrap();
    let bits = Ip6Src(1).write(&mut f);
    assert_eq!(
        apply(&mut b, &lay, &f, bits),
        Err(ApplyError::MissingHeader(Rewrite::IP6_SRC))
    );
    let bits = VlanTci(0x1005).write(&mut f);
    assert_eq!(
        apply(&mut b, &lay, &f, bits).unwrap_err().drop_reason(),
        DropReason::RewriteUnsupported
    );
    let mut n = ns_frame();
    let lay = extract(&n, 0, &mut f).unwrap();
    let bits = NdTll(MAC_A).write(&mut f);
    assert_eq!(
        apply(&mut n, &lay, &f, bits),
        Err(ApplyError::MissingHeader(Rewrite::ARP_THA))
    );
    // A layout from another frame never makes apply panic.
    let lay6 = extract(&ns_frame(), 0, &mut f).unwrap();
    let mut short = udp4_frame()[..40].to_vec();
    let _ = apply(&mut short, &lay6, &f, Rewrite(0xffff));
}

/// xorshift64*: deterministic pseudo-random bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut df = udp4_frame().to_vec();
    df[20] |= 0x40;
    let templates = [
        udp4_frame().to_vec(),
        df,
        tcp4_vlan_frame(),
        icmp4_frame(),
        arp_frame(),
        udp6_frame(),
        ns_frame(),
    ];
    let mut f = Flow::default();
    let mut key = crate::key::FlowKey::default();
    let mut klay = Layout::default();
    let mut parsed_l4 = 0;
    for i in 0..200_000u32 {
        let mut b: Vec<u8> = if i % 2 == 0 {
            let n = (r.next() % 160) as usize;
            (0..n).map(|_| r.next() as u8).collect()
        } else {
            // Mutate a valid packet: flip a few bytes and maybe truncate.
            let mut t = templates[(r.next() % templates.len() as u64) as usize].clone();
            for _ in 0..(r.next() % 4 + 1) {
                let k = (r.next() as usize) % t.len();
                t[k] = r.next() as u8;
            }
            let cut = (r.next() as usize) % (t.len() + 1);
            if r.next().is_multiple_of(3) {
                t.truncate(cut);
            }
            t
        };
        let want = extract(&b, 0, &mut f);
        // The UDP/IPv4 fast path agrees with the general parser.
        let mut g = Flow::default();
        let mut glay = Layout::default();
        let general = extract_general_into(&b, 0, &mut g, &mut glay);
        assert_eq!(general.map(|()| glay), want, "{b:02x?}");
        assert_eq!(g, f, "{b:02x?}");
        // The reused-key form gives the same flow and layout whatever came before.
        let got = extract_key(&b, 0, &mut key, &mut klay);
        assert_eq!(got.map(|()| klay), want);
        assert_eq!(key.flow(), &f);
        assert_eq!(
            crate::key::nonzero_map(&f) & !key.map(),
            0,
            "map covers the flow"
        );
        if let Ok(lay) = want {
            if lay.l4 != L4::None {
                parsed_l4 += 1;
            }
            let mut g = f;
            g.w[word::ETH_SRC_VLAN] ^= r.next();
            g.w[word::IP4] ^= r.next();
            g.w[word::TP] ^= r.next();
            g.w[word::ND_TARGET] ^= r.next();
            let _ = apply(&mut b, &lay, &g, Rewrite((r.next() & 0xffff) as u32));
        }
    }
    assert!(
        parsed_l4 > 10_000,
        "mutations reached L4 parsing: {parsed_l4}"
    );
}

#[test]
fn layout_is_small_and_oversize_refused() {
    assert!(std::mem::size_of::<Result<Layout, DropReason>>() <= 16);
    let big = vec![0u8; MAX_FRAME_LEN + 1];
    let mut f = Flow::default();
    assert_eq!(extract(&big, 1, &mut f), Err(DropReason::OversizeFrame));
    assert!(extract(&big[..MAX_FRAME_LEN], 1, &mut f).is_ok());
    assert_eq!(f.get(field::PKT_LEN), MAX_FRAME_LEN as u64);
}
