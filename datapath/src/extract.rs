//! Packet -> microflow: [`extract`] parses a frame into a [`Flow`] (the layout of
//! `pipeline::flow`), and [`apply`] writes changed flow fields back into the frame with
//! checksum updates.
//!
//! Extraction follows OVS's `miniflow_extract`: it takes what the packet has and stops at
//! the first malformed header, leaving later fields zero, and the packet is still
//! forwarded. Each early stop is reported as an [`Anomaly`] in the returned [`Layout`] so
//! the worker can count it. Only a frame shorter than an Ethernet header is refused
//! ([`DropReason::RuntFrame`]). Specifically, as in OVS:
//! - One VLAN tag (802.1Q or 802.1ad) is parsed (OVS `vlan-limit=1`); `vlan_tci` gets the
//!   tag with bit 12 (CFI/DEI) forced to 1 as "tag present", as OVS and OVN's
//!   `vlan.present` use it. A second tag leaves `eth_type` = 0x8100 and no L3 fields.
//! - 802.3 length frames get `eth_type` 0x05ff (OVS `FLOW_DL_TYPE_NONE`); LLC/SNAP is
//!   not parsed (OVS parses SNAP; not needed by OVN).
//! - IPv4 needs version 4, 20 <= IHL*4 <= total length <= bytes present; otherwise no L3
//!   fields. Ethernet padding past the total length is ignored for L4.
//! - IPv6 needs version 6 and the payload length present. If the extension headers are
//!   malformed, only the addresses are set (OVS pushes label/tos/ttl/proto after the
//!   walk).
//! - `ip_frag`: bit 0 any fragment, bit 1 later fragment; later fragments get no L4.
//! - TCP needs 20 bytes and a data offset within the segment, UDP 8, SCTP 12, ICMP/IGMP 8.
//!   ICMP type/code go to `tp_src`/`tp_dst`. `tcp_flags` is the low 12 bits.
//! - ND (NS/NA with code 0): target, then SLL/TLL options of length 8; a zero-length or
//!   repeated option clears target, SLL and TLL (OVS's `invalid:` path).
//! - ARP/RARP: only Ethernet/IPv4; `arp_op` keeps all 16 bits (OVS keeps the low 8).
//!
//! Not extracted: MPLS, NSH, GRE/Geneve inner headers (the `geneve` crate decapsulates
//! first), IGMP group addresses, SCTP checksums.
//!
//! No allocation, no panics on any input (a randomized test feeds random and mutated
//! frames).

use pipeline::flow::{word, Flow, FLOW_WORDS};

use crate::counters::{Anomaly, DropReason};
use crate::key::{term, FlowKey};
use crate::wire::ethernet::ethertype;
use crate::wire::{arp, icmpv6, ip_proto, ipv4, ipv6, tcp};

mod apply;
#[cfg(test)]
mod tests;

pub use apply::{apply, ApplyError, Rewrite, SetField};

/// OVS's "VLAN tag present" bit within `vlan_tci`.
pub const VLAN_CFI: u16 = 0x1000;
/// `eth_type` of an 802.3 (length) frame.
pub const ETH_TYPE_NONE: u16 = 0x05ff;
/// Longest frame [`extract`] accepts (so that every offset fits a `u16` and `pkt_len`
/// is exact).
pub const MAX_FRAME_LEN: usize = 0xffff;
/// `ip_frag` bits.
pub const FRAG_ANY: u8 = 1;
pub const FRAG_LATER: u8 = 2;

/// The network header found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L3 {
    #[default]
    None,
    Ipv4,
    Ipv6,
    Arp,
}

/// The transport header found (and long enough to have its fields extracted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4 {
    #[default]
    None,
    Tcp,
    Udp,
    Sctp,
    Icmp4,
    Icmp6,
    Igmp,
}

/// Where the headers are in the frame, as found by [`extract`]; [`apply`] uses it to
/// rewrite without parsing again. Offsets are from the start of the frame. 12 bytes, so
/// `Result<Layout, DropReason>` comes back in registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub vlan: bool,
    pub l3: L3,
    pub l4: L4,
    /// Offset of the L3 header (valid when `l3 != None`).
    pub l3_off: u16,
    /// Offset of the L4 header (valid when `l4 != None`).
    pub l4_off: u16,
    /// Offset of the ND SLL/TLL address bytes; 0 when absent.
    pub nd_sll_off: u16,
    pub nd_tll_off: u16,
    /// The first malformed header that stopped extraction early, if any.
    pub anomaly: Option<Anomaly>,
}

#[inline(always)]
fn mac48(d: &[u8], o: usize) -> u64 {
    let b = &d[o..o + 6];
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

#[inline(always)]
fn be16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

/// Parses `frame` into `flow`, which is cleared first (set tunnel and logical metadata
/// after this call). `in_port` is the datapath port number the frame arrived on.
///
/// Returns the header [`Layout`], or [`DropReason::RuntFrame`] for a frame shorter than
/// 14 bytes, [`DropReason::OversizeFrame`] beyond [`MAX_FRAME_LEN`] (the flow then holds
/// only `in_port`). See [`extract_into`] for the hot-path form.
#[inline]
pub fn extract(frame: &[u8], in_port: u32, flow: &mut Flow) -> Result<Layout, DropReason> {
    let mut lay = Layout::default();
    extract_into(frame, in_port, flow, &mut lay).map(|()| lay)
}

/// [`extract`] writing the layout into `lay` (reset first). Faster in a batch loop: the
/// layout is stored field by field where the caller keeps it, instead of being assembled
/// on the stack and copied.
#[inline]
pub fn extract_into(
    frame: &[u8],
    in_port: u32,
    flow: &mut Flow,
    lay: &mut Layout,
) -> Result<(), DropReason> {
    *flow = Flow::default();
    *lay = Layout::default();
    extract_words(
        frame,
        in_port,
        &mut Out {
            w: &mut flow.w,
            map: 0,
            acc: 0,
        },
        lay,
    )
}

/// [`extract_into`] for the packet fast path: parses into `key`, which the caller reuses
/// from packet to packet. Writes the words the frame populates, zeroes only the words
/// the previous packet populated and this one does not, and sets `key.map()` to the
/// words written (the result is the same flow [`extract_into`] gives).
#[inline(always)]
pub fn extract_key(
    frame: &[u8],
    in_port: u32,
    key: &mut FlowKey,
    lay: &mut Layout,
) -> Result<(), DropReason> {
    *lay = Layout::default();
    let mut o = Out {
        w: &mut key.flow.w,
        map: 0,
        acc: 0,
    };
    let r = extract_words(frame, in_port, &mut o, lay);
    let (map, acc) = (o.map, o.acc);
    key.retain(map, acc);
    r
}

/// [`extract_into`] without the fast path (tests compare the two).
#[cfg(test)]
pub(crate) fn extract_general_into(
    frame: &[u8],
    in_port: u32,
    flow: &mut Flow,
    lay: &mut Layout,
) -> Result<(), DropReason> {
    *flow = Flow::default();
    *lay = Layout::default();
    let mut o = Out {
        w: &mut flow.w,
        map: 0,
        acc: 0,
    };
    extract_general(frame, in_port, &mut o, lay)
}

/// The words being written, the map of those written so far and the sum of their hash
/// terms (see [`FlowKey`]).
struct Out<'a> {
    w: &'a mut [u64; FLOW_WORDS],
    map: u32,
    acc: u64,
}

impl Out<'_> {
    /// Writes word `i` (not written before in this extraction).
    #[inline(always)]
    fn put(&mut self, i: usize, v: u64) {
        self.w[i] = v;
        self.map |= 1 << i;
        self.acc = self.acc.wrapping_add(term(i, v));
    }

    /// Sets `bits` in word `i` (already written in this extraction).
    #[inline(always)]
    fn or(&mut self, i: usize, bits: u64) {
        let old = self.w[i];
        let new = old | bits;
        self.w[i] = new;
        self.acc = self
            .acc
            .wrapping_add(term(i, new))
            .wrapping_sub(term(i, old));
    }
}

/// The parser proper: the common case ([`extract_udp4`]) first, else the general
/// parser. Writes every word it populates (each at most once with `put`, which
/// overwrites), never reads a word it did not write.
#[inline(always)]
fn extract_words(
    frame: &[u8],
    in_port: u32,
    o: &mut Out<'_>,
    lay: &mut Layout,
) -> Result<(), DropReason> {
    if extract_udp4(frame, in_port, o, lay) {
        return Ok(());
    }
    extract_general(frame, in_port, o, lay)
}

/// The fast path for the most common frame: untagged Ethernet, IPv4 without options,
/// not a fragment, UDP with its 8-byte header inside the IP total length. Fixed offsets
/// and one bounds check; it writes exactly what [`extract_general`] writes for such a
/// frame (a test compares the two on random and mutated frames) and returns false,
/// having written nothing, for any other frame.
#[inline(always)]
fn extract_udp4(frame: &[u8], in_port: u32, o: &mut Out<'_>, lay: &mut Layout) -> bool {
    let len = frame.len();
    let Some(b) = frame.first_chunk::<42>() else {
        return false;
    };
    let tl = u16::from_be_bytes([b[16], b[17]]) as usize;
    let frag = u16::from_be_bytes([b[20], b[21]]) & (ipv4::FLAG_MF | ipv4::OFFSET_MASK);
    if b[12..15] != [0x08, 0x00, 0x45]
        || b[23] != ip_proto::UDP
        || frag != 0
        || tl < 28
        || tl > len - 14
        || len > MAX_FRAME_LEN
    {
        return false;
    }
    lay.l3 = L3::Ipv4;
    lay.l3_off = 14;
    lay.l4 = L4::Udp;
    lay.l4_off = 34;
    o.put(word::IN_PORT, (in_port as u64) << 32);
    o.put(word::IP6_LABEL_LEN, (len as u64) << 16);
    o.put(word::ETH_SRC_VLAN, mac48(b, 6) << 16);
    o.put(
        word::ETH_DST_TYPE,
        (mac48(b, 0) << 16) | ethertype::IPV4 as u64,
    );
    let addrs = [b[26], b[27], b[28], b[29], b[30], b[31], b[32], b[33]];
    o.put(word::IP4, u64::from_be_bytes(addrs));
    o.put(word::IP_MISC, ip_misc(ip_proto::UDP, b[15], b[22], 0));
    let ports = u32::from_be_bytes([b[34], b[35], b[36], b[37]]);
    o.put(word::TP, (ports as u64) << 32);
    true
}

/// Every frame: Ethernet (one VLAN tag), IPv4, IPv6, ARP, then L4 (see the module doc).
#[inline(always)]
fn extract_general(
    frame: &[u8],
    in_port: u32,
    o: &mut Out<'_>,
    lay: &mut Layout,
) -> Result<(), DropReason> {
    o.put(word::IN_PORT, (in_port as u64) << 32);
    let len = frame.len();
    if len < 14 {
        return Err(DropReason::RuntFrame);
    }
    if len > MAX_FRAME_LEN {
        return Err(DropReason::OversizeFrame);
    }
    o.put(word::IP6_LABEL_LEN, (len as u64) << 16);
    let dst = mac48(frame, 0);
    let src = mac48(frame, 6);
    let mut ty = be16(frame, 12);
    let mut off = 14usize;
    let mut tci = 0u16;
    if ty == ethertype::VLAN || ty == ethertype::QINQ {
        if len < off + 4 {
            lay.anomaly = Some(Anomaly::VlanTruncated);
            o.put(word::ETH_SRC_VLAN, src << 16);
            o.put(word::ETH_DST_TYPE, (dst << 16) | ty as u64);
            return Ok(());
        }
        tci = be16(frame, off) | VLAN_CFI;
        ty = be16(frame, off + 2);
        off += 4;
        lay.vlan = true;
    }
    if ty < 0x0600 {
        ty = ETH_TYPE_NONE;
    }
    o.put(word::ETH_SRC_VLAN, (src << 16) | tci as u64);
    o.put(word::ETH_DST_TYPE, (dst << 16) | ty as u64);
    lay.l3_off = off as u16;
    let rest = &frame[off..];
    match ty {
        ethertype::IPV4 => extract_ipv4(rest, off, o, lay),
        ethertype::IPV6 => extract_ipv6(rest, off, o, lay),
        ethertype::ARP | ethertype::RARP => extract_arp(rest, o, lay),
        _ => {}
    }
    Ok(())
}

#[inline(always)]
fn ip_misc(proto: u8, tos: u8, ttl: u8, frag: u8) -> u64 {
    ((proto as u64) << 56) | ((tos as u64) << 48) | ((ttl as u64) << 40) | ((frag as u64) << 32)
}

#[inline(always)]
fn extract_ipv4(d: &[u8], off: usize, o: &mut Out<'_>, lay: &mut Layout) {
    let ip = match ipv4::Packet::new_checked(d) {
        Ok(ip) => ip,
        Err(_) => {
            lay.anomaly = Some(Anomaly::L3Malformed);
            return;
        }
    };
    lay.l3 = L3::Ipv4;
    o.put(word::IP4, ((ip.src() as u64) << 32) | ip.dst() as u64);
    let mut frag = 0u8;
    if ip.is_fragment() {
        frag = FRAG_ANY;
        if ip.frag_offset() != 0 {
            frag |= FRAG_LATER;
        }
    }
    let proto = ip.protocol();
    o.put(word::IP_MISC, ip_misc(proto, ip.tos(), ip.ttl(), frag));
    if frag & FRAG_LATER != 0 {
        return;
    }
    let hl = ip.header_len();
    extract_l4(proto, ip.payload(), off + hl, false, o, lay);
}

#[inline]
fn extract_ipv6(d: &[u8], off: usize, o: &mut Out<'_>, lay: &mut Layout) {
    let ip = match ipv6::Packet::new_checked(d) {
        Ok(ip) => ip,
        Err(_) => {
            lay.anomaly = Some(Anomaly::L3Malformed);
            return;
        }
    };
    lay.l3 = L3::Ipv6;
    let s = ip.src();
    let t = ip.dst();
    o.put(word::IP6_SRC, (s >> 64) as u64);
    o.put(word::IP6_SRC + 1, s as u64);
    o.put(word::IP6_DST, (t >> 64) as u64);
    o.put(word::IP6_DST + 1, t as u64);
    let payload = ip.payload();
    let ext = match ipv6::walk_extension_headers(ip.next_header(), payload) {
        Ok(e) => e,
        Err(_) => {
            lay.anomaly = Some(Anomaly::Ipv6ExtHeaders);
            return;
        }
    };
    let mut frag = 0u8;
    if ext.fragment {
        frag = FRAG_ANY;
        if ext.later_fragment {
            frag |= FRAG_LATER;
        }
    }
    o.put(
        word::IP_MISC,
        ip_misc(ext.protocol, ip.traffic_class(), ip.hop_limit(), frag),
    );
    o.or(word::IP6_LABEL_LEN, (ip.flow_label() as u64) << 44);
    if frag & FRAG_LATER != 0 {
        return;
    }
    let l4 = &payload[ext.offset..];
    extract_l4(
        ext.protocol,
        l4,
        off + ipv6::HEADER_LEN + ext.offset,
        true,
        o,
        lay,
    );
}

#[inline(always)]
fn tp(src: u16, dst: u16, flags: u16) -> u64 {
    ((src as u64) << 48) | ((dst as u64) << 32) | ((flags as u64) << 16)
}

#[inline(always)]
fn extract_l4(proto: u8, d: &[u8], off: usize, v6: bool, o: &mut Out<'_>, lay: &mut Layout) {
    lay.l4_off = off as u16;
    let (kind, min) = match (proto, v6) {
        (ip_proto::TCP, _) => (L4::Tcp, tcp::MIN_HEADER_LEN),
        (ip_proto::UDP, _) => (L4::Udp, 8),
        (ip_proto::SCTP, _) => (L4::Sctp, 12),
        (ip_proto::ICMP, false) => (L4::Icmp4, 8),
        (ip_proto::IGMP, false) => (L4::Igmp, 8),
        (ip_proto::ICMPV6, true) => (L4::Icmp6, 8),
        _ => return,
    };
    if d.len() < min {
        lay.anomaly = Some(Anomaly::L4Truncated);
        return;
    }
    match kind {
        L4::Tcp => match tcp::Packet::new_checked(d) {
            Ok(t) => o.put(word::TP, tp(t.src_port(), t.dst_port(), t.flags())),
            Err(_) => {
                lay.anomaly = Some(Anomaly::L4Truncated);
                return;
            }
        },
        L4::Udp | L4::Sctp => o.put(word::TP, tp(be16(d, 0), be16(d, 2), 0)),
        L4::Icmp4 | L4::Igmp => o.put(word::TP, tp(d[0] as u16, d[1] as u16, 0)),
        L4::Icmp6 => {
            o.put(word::TP, tp(d[0] as u16, d[1] as u16, 0));
            extract_nd(d, off, o, lay);
        }
        L4::None => {}
    }
    lay.l4 = kind;
}

#[inline]
fn extract_nd(d: &[u8], off: usize, o: &mut Out<'_>, lay: &mut Layout) {
    let ty = d[0];
    if d[1] != 0 || !(ty == icmpv6::types::NEIGHBOR_SOLICIT || ty == icmpv6::types::NEIGHBOR_ADVERT)
    {
        return;
    }
    let p = match icmpv6::Packet::new_checked(d) {
        Ok(p) => p,
        Err(_) => {
            lay.anomaly = Some(Anomaly::NdOptions);
            return;
        }
    };
    let ll = match p.nd_link_addrs() {
        Ok(ll) => ll,
        Err(_) => {
            lay.anomaly = Some(Anomaly::NdOptions);
            return;
        }
    };
    let t = p.nd_target().unwrap_or(0);
    o.put(word::ND_TARGET, (t >> 64) as u64);
    o.put(word::ND_TARGET + 1, t as u64);
    if let Some((at, m)) = ll.sll {
        o.put(word::ARP_SHA, mac48(&m, 0) << 16);
        lay.nd_sll_off = (off + at) as u16;
    }
    if let Some((at, m)) = ll.tll {
        o.put(word::ARP_THA, mac48(&m, 0) << 16);
        lay.nd_tll_off = (off + at) as u16;
    }
}

#[inline]
fn extract_arp(d: &[u8], o: &mut Out<'_>, lay: &mut Layout) {
    let a = match arp::Packet::new_checked(d) {
        Ok(a) => a,
        Err(_) => {
            lay.anomaly = Some(Anomaly::ArpMalformed);
            return;
        }
    };
    lay.l3 = L3::Arp;
    o.put(word::IP4, ((a.spa() as u64) << 32) | a.tpa() as u64);
    o.put(word::IP_MISC, (a.op() as u64) << 16);
    o.put(word::ARP_SHA, mac48(&a.sha(), 0) << 16);
    o.put(word::ARP_THA, mac48(&a.tha(), 0) << 16);
}
