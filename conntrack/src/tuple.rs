//! Connection keys: addresses, the zone-qualified 5-tuple, and the packet metadata the
//! datapath fills in for each `ct` action.
//!
//! A [`Tuple`] names one direction of a connection. ICMP echo uses the identifier in
//! both port slots' place (`sport = id`, `dport = 0`) so request and reply normalise to
//! the same key. Hashing is over the *normalised* tuple (endpoints in sorted order), so a
//! connection without NAT lands in one shard under one index entry for both directions.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the tracker knows by name.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// TCP header flag bits, as in the header's low byte.
pub mod tcp_flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
    pub const URG: u16 = 0x20;
}

/// An IPv4 or IPv6 address. IPv4 is stored v4-mapped (`::ffff:a.b.c.d`), so one type
/// serves both families and compares as 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    pub const fn v4(a: Ipv4Addr) -> Addr {
        let o = a.octets();
        Addr([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, o[0], o[1], o[2], o[3],
        ])
    }
    pub const fn v6(a: Ipv6Addr) -> Addr {
        Addr(a.octets())
    }
    /// From a host-order IPv4 address, as the flow layout stores it.
    pub const fn from_v4_u32(a: u32) -> Addr {
        Addr::v4(Ipv4Addr::from_bits(a))
    }
    pub fn is_v4(&self) -> bool {
        self.0[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    }
    pub fn ip(&self) -> IpAddr {
        if self.is_v4() {
            IpAddr::V4(Ipv4Addr::new(
                self.0[12], self.0[13], self.0[14], self.0[15],
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.0))
        }
    }
    #[inline]
    pub(crate) fn words(&self) -> (u64, u64) {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&self.0[..8]);
        b.copy_from_slice(&self.0[8..]);
        (u64::from_ne_bytes(a), u64::from_ne_bytes(b))
    }
    #[inline]
    pub(crate) fn from_words(a: u64, b: u64) -> Addr {
        let mut x = [0u8; 16];
        x[..8].copy_from_slice(&a.to_ne_bytes());
        x[8..].copy_from_slice(&b.to_ne_bytes());
        Addr(x)
    }
    pub(crate) fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
    pub(crate) fn from_u128(v: u128) -> Addr {
        Addr(v.to_be_bytes())
    }
}

impl From<IpAddr> for Addr {
    fn from(a: IpAddr) -> Addr {
        match a {
            IpAddr::V4(a) => Addr::v4(a),
            IpAddr::V6(a) => Addr::v6(a),
        }
    }
}
impl From<Ipv4Addr> for Addr {
    fn from(a: Ipv4Addr) -> Addr {
        Addr::v4(a)
    }
}
impl From<Ipv6Addr> for Addr {
    fn from(a: Ipv6Addr) -> Addr {
        Addr::v6(a)
    }
}
impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}
impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}

/// One direction of a connection in one zone. For ICMP echo `sport` is the identifier
/// and `dport` is 0; for protocols without ports both are 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Tuple {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub zone: u16,
}

impl Tuple {
    /// The same connection seen from the other end.
    /// ICMP echo keeps its identifier in `sport` both ways.
    #[inline]
    pub fn reverse(&self) -> Tuple {
        let icmp = is_icmp(self.proto);
        Tuple {
            src: self.dst,
            dst: self.src,
            sport: if icmp { self.sport } else { self.dport },
            dport: if icmp { self.dport } else { self.sport },
            proto: self.proto,
            zone: self.zone,
        }
    }

    /// Hash of the normalised tuple (endpoints sorted): a tuple and its reverse hash
    /// alike. `seed` keys the hash against crafted collisions.
    #[inline]
    pub fn norm_hash(&self, seed: u64) -> u64 {
        // Byte-wise order of the addresses is the order of their big-endian values.
        let (s, d) = (self.src.as_u128(), self.dst.as_u128());
        let (lo, hi) = if is_icmp(self.proto) {
            if s <= d {
                ((&self.src, self.sport), (&self.dst, self.dport))
            } else {
                ((&self.dst, self.sport), (&self.src, self.dport))
            }
        } else if s < d || (s == d && self.sport <= self.dport) {
            ((&self.src, self.sport), (&self.dst, self.dport))
        } else {
            ((&self.dst, self.dport), (&self.src, self.sport))
        };
        let (l0, l1) = lo.0.words();
        let (h0, h1) = hi.0.words();
        let meta = (self.zone as u64) << 48
            | (self.proto as u64) << 32
            | (lo.1 as u64) << 16
            | hi.1 as u64;
        let mut h = mix(seed ^ meta, 0x9e37_79b9_7f4a_7c15);
        h = mix(h ^ l0, l1 ^ 0xa076_1d64_78bd_642f);
        h = mix(h ^ h0, h1 ^ 0xe703_7ed1_a0b4_28db);
        h
    }
}

#[inline]
pub(crate) fn is_icmp(p: u8) -> bool {
    p == proto::ICMP || p == proto::ICMPV6
}

/// 64x64->128 multiply-fold: the mixing step of the crate's hashes.
#[inline]
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The tuple of the packet an ICMP error carries. For an embedded ICMP echo, `sport` is
/// the identifier and `dport` 0, as in [`Tuple`].
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct InnerTuple {
    pub src: Addr,
    pub dst: Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// What the datapath extracts from a parsed packet for conntrack. Plain data: fill the
/// fields that apply to the protocol and leave the rest zero.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct PacketMeta {
    pub src: Addr,
    pub dst: Addr,
    /// IP protocol number (see [`proto`]).
    pub proto: u8,
    /// TCP/UDP/SCTP ports.
    pub sport: u16,
    pub dport: u16,
    /// ICMP/ICMPv6 type, code and echo identifier.
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub icmp_id: u16,
    /// TCP flags (see [`tcp_flags`]), sequence, acknowledgement, raw (unscaled) window.
    pub tcp_flags: u16,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_win: u16,
    /// TCP window-scale option of a SYN, if present.
    pub tcp_wscale: Option<u8>,
    /// L4 payload length in bytes (TCP segment data).
    pub payload_len: u32,
    /// SCTP verification tag and the type of the first chunk.
    pub sctp_vtag: u32,
    pub sctp_chunk: u8,
    /// For ICMP errors: the embedded packet's tuple, if the datapath could parse it.
    pub inner: Option<InnerTuple>,
    /// Whole packet length in bytes.
    pub len: u32,
    /// The packet is an IP fragment: fragments are not reassembled and are invalid.
    pub fragment: bool,
}

impl PacketMeta {
    pub fn is_v6(&self) -> bool {
        !self.src.is_v4()
    }
}

/// A small fast hasher for the crate's side maps (keys are not attacker-chosen beyond
/// what the main index already hashes with a seed).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        mix(self.0, 0x9e37_79b9_7f4a_7c15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.0 = mix(self.0 ^ u64::from_le_bytes(b), 0xa076_1d64_78bd_642f);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = mix(self.0 ^ v, 0xa076_1d64_78bd_642f);
    }
}

pub(crate) type FastBuild = std::hash::BuildHasherDefault<FastHasher>;
