//! Packet builders and a seeded random source shared by the integration tests.
#![allow(dead_code)]
// `tcp()` mirrors the header fields one to one; a builder would hide what a test sends.
#![allow(clippy::too_many_arguments)]

use conntrack::{proto, tcp_flags as F, Addr, CtArgs, InnerTuple, PacketMeta};

pub const SEC: u64 = conntrack::NS_PER_SEC;

pub fn ip(s: &str) -> Addr {
    Addr::from(s.parse::<std::net::IpAddr>().expect("test address"))
}

pub fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u16,
    seq: u32,
    ack: u32,
    len: u32,
) -> PacketMeta {
    PacketMeta {
        src: ip(src),
        dst: ip(dst),
        proto: proto::TCP,
        sport,
        dport,
        tcp_flags: flags,
        tcp_seq: seq,
        tcp_ack: ack,
        tcp_win: 65535,
        payload_len: len,
        len: 54 + len,
        ..Default::default()
    }
}

pub fn syn(src: &str, sport: u16, dst: &str, dport: u16, seq: u32) -> PacketMeta {
    tcp(src, sport, dst, dport, F::SYN, seq, 0, 0)
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> PacketMeta {
    PacketMeta {
        src: ip(src),
        dst: ip(dst),
        proto: proto::UDP,
        sport,
        dport,
        len: 60,
        ..Default::default()
    }
}

pub fn echo(src: &str, dst: &str, id: u16, reply: bool) -> PacketMeta {
    let v6 = src.contains(':');
    let (p, t) = match (v6, reply) {
        (false, false) => (proto::ICMP, 8),
        (false, true) => (proto::ICMP, 0),
        (true, false) => (proto::ICMPV6, 128),
        (true, true) => (proto::ICMPV6, 129),
    };
    PacketMeta {
        src: ip(src),
        dst: ip(dst),
        proto: p,
        icmp_type: t,
        icmp_id: id,
        len: 98,
        ..Default::default()
    }
}

/// ICMP destination unreachable from `src` to `dst` quoting `inner`.
pub fn icmp_error(src: &str, dst: &str, inner: &PacketMeta) -> PacketMeta {
    PacketMeta {
        src: ip(src),
        dst: ip(dst),
        proto: proto::ICMP,
        icmp_type: 3,
        icmp_code: 1,
        inner: Some(InnerTuple {
            src: inner.src,
            dst: inner.dst,
            proto: inner.proto,
            sport: if inner.proto == proto::ICMP {
                inner.icmp_id
            } else {
                inner.sport
            },
            dport: inner.dport,
        }),
        len: 70,
        ..Default::default()
    }
}

pub fn commit(zone: u16) -> CtArgs {
    CtArgs {
        zone,
        commit: true,
        ..Default::default()
    }
}

pub fn lookup(zone: u16) -> CtArgs {
    CtArgs {
        zone,
        ..Default::default()
    }
}

/// SplitMix64: a seeded, reproducible random source.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
