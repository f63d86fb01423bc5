//! Flow -> packet: write changed microflow header fields back into the frame.
//!
//! The pipeline's datapath actions are a list of [`SetField`]s. Each one updates the
//! [`Flow`] and yields its [`Rewrite`] bit; the union of the bits plus the final flow go
//! to [`apply`], which writes each named field once, using the [`Layout`] from
//! [`super::extract`] instead of parsing again. [`Rewrite::diff`] gives the same bitset
//! from two flows (before/after the pipeline).
//!
//! Bits name flow fields, and what a field means depends on the packet, as in OVS:
//! `IP4_SRC` is `arp.spa` in an ARP packet, `TP_SRC` is the ICMP type, `ARP_SHA` is
//! `nd.sll` in an ND packet. Checksums are updated incrementally (RFC 1624): the IPv4
//! header checksum for TTL/TOS/address changes, TCP/UDP (unless UDP's is zero)
//! pseudo-header checksums for address changes, ICMP/ICMPv6 checksums for type/code and
//! ND fields. A later fragment has no L4 header, so only its IP header changes.
//!
//! Not supported in place: SCTP port rewrites (need a CRC32c recompute), VLAN push/pop,
//! `eth_type` changes. These return [`ApplyError::Unsupported`].

use pipeline::flow::{field, Field, Flow};

use super::{Layout, L3, L4, VLAN_CFI};
use crate::counters::DropReason;
use crate::wire::checksum;
use crate::wire::{icmpv6, ipv4, ipv6, tcp, udp, MacAddr};

/// A set of flow fields to write back (a bitset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rewrite(pub u32);

impl Rewrite {
    pub const NONE: Rewrite = Rewrite(0);
    pub const ETH_SRC: Rewrite = Rewrite(1 << 0);
    pub const ETH_DST: Rewrite = Rewrite(1 << 1);
    pub const VLAN_TCI: Rewrite = Rewrite(1 << 2);
    /// `ip4.src`, or `arp.spa`.
    pub const IP4_SRC: Rewrite = Rewrite(1 << 3);
    /// `ip4.dst`, or `arp.tpa`.
    pub const IP4_DST: Rewrite = Rewrite(1 << 4);
    /// The whole TOS / traffic-class byte (DSCP and ECN).
    pub const IP_TOS: Rewrite = Rewrite(1 << 5);
    /// IPv4 TTL or IPv6 hop limit.
    pub const IP_TTL: Rewrite = Rewrite(1 << 6);
    pub const IP6_SRC: Rewrite = Rewrite(1 << 7);
    pub const IP6_DST: Rewrite = Rewrite(1 << 8);
    pub const IP6_LABEL: Rewrite = Rewrite(1 << 9);
    /// TCP/UDP source port, or ICMP type.
    pub const TP_SRC: Rewrite = Rewrite(1 << 10);
    /// TCP/UDP destination port, or ICMP code.
    pub const TP_DST: Rewrite = Rewrite(1 << 11);
    pub const ARP_OP: Rewrite = Rewrite(1 << 12);
    /// `arp.sha`, or `nd.sll`.
    pub const ARP_SHA: Rewrite = Rewrite(1 << 13);
    /// `arp.tha`, or `nd.tll`.
    pub const ARP_THA: Rewrite = Rewrite(1 << 14);
    pub const ND_TARGET: Rewrite = Rewrite(1 << 15);

    #[inline]
    pub const fn contains(self, o: Rewrite) -> bool {
        self.0 & o.0 == o.0 && o.0 != 0
    }
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    #[inline]
    pub const fn union(self, o: Rewrite) -> Rewrite {
        Rewrite(self.0 | o.0)
    }

    /// True if the mask `touched` has every bit of every field named by `self` (so their
    /// written values do not depend on the packet). [`super::apply`] reads only those
    /// fields of its flow.
    pub fn covered_by(self, touched: &Flow) -> bool {
        TABLE
            .iter()
            .filter(|(bit, _, _)| self.contains(*bit))
            .all(|&(_, f, wide)| {
                let i = f.word as usize;
                if wide {
                    touched.w[i] == u64::MAX && touched.w[i + 1] == u64::MAX
                } else {
                    touched.w[i] & f.word_mask() == f.word_mask()
                }
            })
    }

    /// The fields whose values differ between `old` and `new`.
    pub fn diff(old: &Flow, new: &Flow) -> Rewrite {
        let mut r = Rewrite::NONE;
        for &(bit, f, wide) in TABLE {
            let changed = if wide {
                old.get128(f) != new.get128(f)
            } else {
                old.get(f) != new.get(f)
            };
            if changed {
                r = r.union(bit);
            }
        }
        r
    }
}

impl std::ops::BitOr for Rewrite {
    type Output = Rewrite;
    fn bitor(self, o: Rewrite) -> Rewrite {
        self.union(o)
    }
}

impl std::ops::BitOrAssign for Rewrite {
    fn bitor_assign(&mut self, o: Rewrite) {
        self.0 |= o.0
    }
}

/// (bit, flow field, 128-bit?)
const TABLE: &[(Rewrite, Field, bool)] = &[
    (Rewrite::ETH_SRC, field::ETH_SRC, false),
    (Rewrite::ETH_DST, field::ETH_DST, false),
    (Rewrite::VLAN_TCI, field::VLAN_TCI, false),
    (Rewrite::IP4_SRC, field::IP4_SRC, false),
    (Rewrite::IP4_DST, field::IP4_DST, false),
    (Rewrite::IP_TOS, field::IP_TOS, false),
    (Rewrite::IP_TTL, field::IP_TTL, false),
    (Rewrite::IP6_SRC, field::IP6_SRC, true),
    (Rewrite::IP6_DST, field::IP6_DST, true),
    (Rewrite::IP6_LABEL, field::IP6_LABEL, false),
    (Rewrite::TP_SRC, field::TP_SRC, false),
    (Rewrite::TP_DST, field::TP_DST, false),
    (Rewrite::ARP_OP, field::ARP_OP, false),
    (Rewrite::ARP_SHA, field::ARP_SHA, false),
    (Rewrite::ARP_THA, field::ARP_THA, false),
    (Rewrite::ND_TARGET, field::ND_TARGET, true),
];

/// One header field write, as the pipeline's datapath actions produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetField {
    EthSrc(MacAddr),
    EthDst(MacAddr),
    /// The TCI with [`VLAN_CFI`] set (the packet must already be tagged).
    VlanTci(u16),
    Ip4Src(u32),
    Ip4Dst(u32),
    /// The whole TOS / traffic-class byte.
    IpTos(u8),
    IpDscp(u8),
    IpEcn(u8),
    /// TTL or hop limit.
    IpTtl(u8),
    Ip6Src(u128),
    Ip6Dst(u128),
    Ip6Label(u32),
    TpSrc(u16),
    TpDst(u16),
    IcmpType(u8),
    IcmpCode(u8),
    ArpOp(u16),
    ArpSha(MacAddr),
    ArpTha(MacAddr),
    ArpSpa(u32),
    ArpTpa(u32),
    NdTarget(u128),
    NdSll(MacAddr),
    NdTll(MacAddr),
}

fn mac_u64(m: MacAddr) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

fn u64_mac(v: u64) -> MacAddr {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl SetField {
    /// Writes the value into `flow` and returns the field's [`Rewrite`] bit.
    pub fn write(&self, flow: &mut Flow) -> Rewrite {
        use SetField::*;
        match *self {
            EthSrc(m) => set(flow, field::ETH_SRC, mac_u64(m), Rewrite::ETH_SRC),
            EthDst(m) => set(flow, field::ETH_DST, mac_u64(m), Rewrite::ETH_DST),
            VlanTci(v) => set(flow, field::VLAN_TCI, v as u64, Rewrite::VLAN_TCI),
            Ip4Src(v) | ArpSpa(v) => set(flow, field::IP4_SRC, v as u64, Rewrite::IP4_SRC),
            Ip4Dst(v) | ArpTpa(v) => set(flow, field::IP4_DST, v as u64, Rewrite::IP4_DST),
            IpTos(v) => set(flow, field::IP_TOS, v as u64, Rewrite::IP_TOS),
            IpDscp(v) => set(flow, field::IP_DSCP, v as u64, Rewrite::IP_TOS),
            IpEcn(v) => set(flow, field::IP_ECN, v as u64, Rewrite::IP_TOS),
            IpTtl(v) => set(flow, field::IP_TTL, v as u64, Rewrite::IP_TTL),
            Ip6Src(v) => {
                flow.set128(field::IP6_SRC, v);
                Rewrite::IP6_SRC
            }
            Ip6Dst(v) => {
                flow.set128(field::IP6_DST, v);
                Rewrite::IP6_DST
            }
            Ip6Label(v) => set(flow, field::IP6_LABEL, v as u64, Rewrite::IP6_LABEL),
            TpSrc(v) => set(flow, field::TP_SRC, v as u64, Rewrite::TP_SRC),
            TpDst(v) => set(flow, field::TP_DST, v as u64, Rewrite::TP_DST),
            IcmpType(v) => set(flow, field::TP_SRC, v as u64, Rewrite::TP_SRC),
            IcmpCode(v) => set(flow, field::TP_DST, v as u64, Rewrite::TP_DST),
            ArpOp(v) => set(flow, field::ARP_OP, v as u64, Rewrite::ARP_OP),
            ArpSha(m) | NdSll(m) => set(flow, field::ARP_SHA, mac_u64(m), Rewrite::ARP_SHA),
            ArpTha(m) | NdTll(m) => set(flow, field::ARP_THA, mac_u64(m), Rewrite::ARP_THA),
            NdTarget(v) => {
                flow.set128(field::ND_TARGET, v);
                Rewrite::ND_TARGET
            }
        }
    }
}

fn set(flow: &mut Flow, f: Field, v: u64, r: Rewrite) -> Rewrite {
    flow.set(f, v);
    r
}

/// Why a rewrite could not be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The packet lacks the header the field lives in (or is shorter than the layout says).
    MissingHeader(Rewrite),
    /// The field cannot be rewritten in place.
    Unsupported(Rewrite),
}

impl ApplyError {
    pub fn drop_reason(self) -> DropReason {
        match self {
            ApplyError::MissingHeader(_) => DropReason::RewriteMissingHeader,
            ApplyError::Unsupported(_) => DropReason::RewriteUnsupported,
        }
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::MissingHeader(r) => write!(f, "rewrite {:#x}: header missing", r.0),
            ApplyError::Unsupported(r) => write!(f, "rewrite {:#x}: unsupported in place", r.0),
        }
    }
}

impl std::error::Error for ApplyError {}

const L2_BITS: u32 = Rewrite::ETH_SRC.0 | Rewrite::ETH_DST.0 | Rewrite::VLAN_TCI.0;

/// Writes the fields named by `what` from `flow` into `frame`, whose headers are where
/// `lay` (from [`super::extract`] on this frame) says. Fields are written in a fixed
/// order; on error, fields before the failing one may already be written (the caller
/// drops the packet).
pub fn apply(frame: &mut [u8], lay: &Layout, flow: &Flow, what: Rewrite) -> Result<(), ApplyError> {
    if what.is_empty() {
        return Ok(());
    }
    if what.0 & L2_BITS != 0 {
        apply_l2(frame, lay, flow, what)?;
    }
    let rest = Rewrite(what.0 & !L2_BITS);
    if rest.is_empty() {
        return Ok(());
    }
    match lay.l3 {
        L3::Ipv4 => apply_ipv4(frame, lay, flow, rest),
        L3::Ipv6 => apply_ipv6(frame, lay, flow, rest),
        L3::Arp => apply_arp(frame, lay, flow, rest),
        L3::None => Err(ApplyError::MissingHeader(rest)),
    }
}

fn apply_l2(frame: &mut [u8], lay: &Layout, flow: &Flow, what: Rewrite) -> Result<(), ApplyError> {
    if frame.len() < 14 {
        return Err(ApplyError::MissingHeader(Rewrite(what.0 & L2_BITS)));
    }
    if what.contains(Rewrite::ETH_DST) {
        frame[0..6].copy_from_slice(&u64_mac(flow.get(field::ETH_DST)));
    }
    if what.contains(Rewrite::ETH_SRC) {
        frame[6..12].copy_from_slice(&u64_mac(flow.get(field::ETH_SRC)));
    }
    if what.contains(Rewrite::VLAN_TCI) {
        let tci = flow.get(field::VLAN_TCI) as u16;
        if !lay.vlan || tci & VLAN_CFI == 0 {
            return Err(ApplyError::Unsupported(Rewrite::VLAN_TCI));
        }
        if frame.len() < 18 {
            return Err(ApplyError::MissingHeader(Rewrite::VLAN_TCI));
        }
        frame[14..16].copy_from_slice(&(tci & !VLAN_CFI).to_be_bytes());
    }
    Ok(())
}

/// Splits `frame` at the L3 and L4 offsets: (L3 bytes up to L4, L4 bytes). The L4 part
/// is empty when the layout has no L4 header.
fn split_l3_l4<'a>(
    frame: &'a mut [u8],
    lay: &Layout,
    what: Rewrite,
) -> Result<(&'a mut [u8], &'a mut [u8]), ApplyError> {
    let l3 = lay.l3_off as usize;
    let l4 = if lay.l4 == L4::None {
        frame.len()
    } else {
        lay.l4_off as usize
    };
    if l3 > l4 || l4 > frame.len() {
        return Err(ApplyError::MissingHeader(what));
    }
    let (head, l4b) = frame.split_at_mut(l4);
    Ok((&mut head[l3..], l4b))
}

/// Applies `f` to the L4 checksum (TCP always; UDP unless zero; ICMPv6 always when
/// `icmp6`), for pseudo-header changes.
fn l4_pseudo_update(l4: &mut [u8], kind: L4, f: impl Fn(u16) -> u16) -> Result<(), ApplyError> {
    match kind {
        L4::Tcp => {
            let mut t = tcp::Packet::new_checked(l4)
                .map_err(|_| ApplyError::MissingHeader(Rewrite::NONE))?;
            let c = f(t.checksum());
            t.set_checksum(c);
        }
        L4::Udp => {
            let mut u = udp::Packet::new_checked(l4)
                .map_err(|_| ApplyError::MissingHeader(Rewrite::NONE))?;
            u.update_checksum_with(f);
        }
        L4::Icmp6 => {
            if l4.len() < 8 {
                return Err(ApplyError::MissingHeader(Rewrite::NONE));
            }
            let mut p = icmpv6::Packet::new_unchecked(l4);
            let c = f(p.checksum());
            p.set_checksum(c);
        }
        // No pseudo-header in ICMPv4, IGMP or SCTP (CRC32c over the SCTP packet only).
        _ => {}
    }
    Ok(())
}

fn apply_ipv4(
    frame: &mut [u8],
    lay: &Layout,
    flow: &Flow,
    what: Rewrite,
) -> Result<(), ApplyError> {
    let (l3, l4) = split_l3_l4(frame, lay, what)?;
    if l3.len() < ipv4::MIN_HEADER_LEN {
        return Err(ApplyError::MissingHeader(what));
    }
    let mut ip = ipv4::Packet::new_unchecked(l3);
    let allowed = Rewrite::IP4_SRC.0 | Rewrite::IP4_DST.0 | Rewrite::IP_TOS.0 | Rewrite::IP_TTL.0;
    let l4_bits = Rewrite::TP_SRC.0 | Rewrite::TP_DST.0;
    if what.0 & !(allowed | l4_bits) != 0 {
        return Err(ApplyError::MissingHeader(Rewrite(
            what.0 & !(allowed | l4_bits),
        )));
    }
    if what.contains(Rewrite::IP4_SRC) {
        let (old, new) = (ip.src(), flow.get(field::IP4_SRC) as u32);
        ip.set_src_update_checksum(new);
        l4_pseudo_update(l4, lay.l4, |c| checksum::update32(c, old, new))?;
    }
    if what.contains(Rewrite::IP4_DST) {
        let (old, new) = (ip.dst(), flow.get(field::IP4_DST) as u32);
        ip.set_dst_update_checksum(new);
        l4_pseudo_update(l4, lay.l4, |c| checksum::update32(c, old, new))?;
    }
    if what.contains(Rewrite::IP_TOS) {
        ip.set_tos_update_checksum(flow.get(field::IP_TOS) as u8);
    }
    if what.contains(Rewrite::IP_TTL) {
        ip.set_ttl_update_checksum(flow.get(field::IP_TTL) as u8);
    }
    if what.0 & l4_bits != 0 {
        apply_tp(l4, lay, flow, Rewrite(what.0 & l4_bits))?;
    }
    Ok(())
}

fn apply_ipv6(
    frame: &mut [u8],
    lay: &Layout,
    flow: &Flow,
    what: Rewrite,
) -> Result<(), ApplyError> {
    let (l3, l4) = split_l3_l4(frame, lay, what)?;
    if l3.len() < ipv6::HEADER_LEN {
        return Err(ApplyError::MissingHeader(what));
    }
    let mut ip = ipv6::Packet::new_unchecked(l3);
    let allowed = Rewrite::IP6_SRC.0
        | Rewrite::IP6_DST.0
        | Rewrite::IP_TOS.0
        | Rewrite::IP_TTL.0
        | Rewrite::IP6_LABEL.0;
    let l4_bits = Rewrite::TP_SRC.0
        | Rewrite::TP_DST.0
        | Rewrite::ND_TARGET.0
        | Rewrite::ARP_SHA.0
        | Rewrite::ARP_THA.0;
    if what.0 & !(allowed | l4_bits) != 0 {
        return Err(ApplyError::MissingHeader(Rewrite(
            what.0 & !(allowed | l4_bits),
        )));
    }
    if what.contains(Rewrite::IP6_SRC) {
        let (old, new) = (ip.src(), flow.get128(field::IP6_SRC));
        ip.set_src(new);
        l4_pseudo_update(l4, lay.l4, |c| checksum::update128(c, old, new))?;
    }
    if what.contains(Rewrite::IP6_DST) {
        let (old, new) = (ip.dst(), flow.get128(field::IP6_DST));
        ip.set_dst(new);
        l4_pseudo_update(l4, lay.l4, |c| checksum::update128(c, old, new))?;
    }
    if what.contains(Rewrite::IP_TOS) {
        ip.set_traffic_class(flow.get(field::IP_TOS) as u8);
    }
    if what.contains(Rewrite::IP6_LABEL) {
        let tc = ip.traffic_class();
        ip.set_version_tc_flow(tc, flow.get(field::IP6_LABEL) as u32);
    }
    if what.contains(Rewrite::IP_TTL) {
        ip.set_hop_limit(flow.get(field::IP_TTL) as u8);
    }
    if what.0 & l4_bits != 0 {
        apply_tp(l4, lay, flow, Rewrite(what.0 & l4_bits))?;
    }
    Ok(())
}

/// L4 fields: ports, ICMP type/code, ND target and link-layer addresses.
fn apply_tp(l4: &mut [u8], lay: &Layout, flow: &Flow, what: Rewrite) -> Result<(), ApplyError> {
    let sp = flow.get(field::TP_SRC) as u16;
    let dp = flow.get(field::TP_DST) as u16;
    match lay.l4 {
        L4::Tcp => {
            let mut t =
                tcp::Packet::new_checked(l4).map_err(|_| ApplyError::MissingHeader(what))?;
            if what.0 & !(Rewrite::TP_SRC.0 | Rewrite::TP_DST.0) != 0 {
                return Err(ApplyError::MissingHeader(what));
            }
            if what.contains(Rewrite::TP_SRC) {
                t.set_src_port_update_checksum(sp);
            }
            if what.contains(Rewrite::TP_DST) {
                t.set_dst_port_update_checksum(dp);
            }
        }
        L4::Udp => {
            let mut u =
                udp::Packet::new_checked(l4).map_err(|_| ApplyError::MissingHeader(what))?;
            if what.0 & !(Rewrite::TP_SRC.0 | Rewrite::TP_DST.0) != 0 {
                return Err(ApplyError::MissingHeader(what));
            }
            if what.contains(Rewrite::TP_SRC) {
                u.set_src_port_update_checksum(sp);
            }
            if what.contains(Rewrite::TP_DST) {
                u.set_dst_port_update_checksum(dp);
            }
        }
        L4::Icmp4 | L4::Icmp6 => {
            if l4.len() < 8
                || (lay.l4 == L4::Icmp4 && what.0 & !(Rewrite::TP_SRC.0 | Rewrite::TP_DST.0) != 0)
            {
                return Err(ApplyError::MissingHeader(what));
            }
            let old_tc = u16::from_be_bytes([l4[0], l4[1]]);
            let mut tc = old_tc;
            if what.contains(Rewrite::TP_SRC) {
                tc = (tc & 0x00ff) | ((sp & 0xff) << 8);
            }
            if what.contains(Rewrite::TP_DST) {
                tc = (tc & 0xff00) | (dp & 0xff);
            }
            let mut c = u16::from_be_bytes([l4[2], l4[3]]);
            if tc != old_tc {
                c = checksum::update16(c, old_tc, tc);
            }
            l4[0..2].copy_from_slice(&tc.to_be_bytes());
            if lay.l4 == L4::Icmp6 {
                c = apply_nd(l4, lay, flow, what, c)?;
            }
            l4[2..4].copy_from_slice(&c.to_be_bytes());
        }
        L4::Sctp => return Err(ApplyError::Unsupported(what)),
        L4::Igmp | L4::None => return Err(ApplyError::MissingHeader(what)),
    }
    Ok(())
}

/// ND target / SLL / TLL rewrites; returns the updated ICMPv6 checksum.
fn apply_nd(
    l4: &mut [u8],
    lay: &Layout,
    flow: &Flow,
    what: Rewrite,
    mut c: u16,
) -> Result<u16, ApplyError> {
    if what.contains(Rewrite::ND_TARGET) {
        let p = icmpv6::Packet::new_checked(&*l4)
            .map_err(|_| ApplyError::MissingHeader(Rewrite::ND_TARGET))?;
        let old = p
            .nd_target()
            .ok_or(ApplyError::MissingHeader(Rewrite::ND_TARGET))?;
        let new = flow.get128(field::ND_TARGET);
        c = checksum::update128(c, old, new);
        l4[8..24].copy_from_slice(&new.to_be_bytes());
    }
    for (bit, f, abs) in [
        (Rewrite::ARP_SHA, field::ARP_SHA, lay.nd_sll_off),
        (Rewrite::ARP_THA, field::ARP_THA, lay.nd_tll_off),
    ] {
        if !what.contains(bit) {
            continue;
        }
        let off = (abs as usize)
            .checked_sub(lay.l4_off as usize)
            .filter(|_| abs != 0);
        let off = match off {
            Some(o) if o + 6 <= l4.len() => o,
            _ => return Err(ApplyError::MissingHeader(bit)),
        };
        let mut old = [0u8; 6];
        old.copy_from_slice(&l4[off..off + 6]);
        let new = u64_mac(flow.get(f));
        c = checksum::update48(c, old, new);
        l4[off..off + 6].copy_from_slice(&new);
    }
    Ok(c)
}

fn apply_arp(frame: &mut [u8], lay: &Layout, flow: &Flow, what: Rewrite) -> Result<(), ApplyError> {
    let allowed = Rewrite::IP4_SRC.0
        | Rewrite::IP4_DST.0
        | Rewrite::ARP_OP.0
        | Rewrite::ARP_SHA.0
        | Rewrite::ARP_THA.0;
    if what.0 & !allowed != 0 {
        return Err(ApplyError::MissingHeader(Rewrite(what.0 & !allowed)));
    }
    let d = frame
        .get_mut(lay.l3_off as usize..)
        .ok_or(ApplyError::MissingHeader(what))?;
    let mut a =
        crate::wire::arp::Packet::new_checked(d).map_err(|_| ApplyError::MissingHeader(what))?;
    if what.contains(Rewrite::ARP_OP) {
        a.set_op(flow.get(field::ARP_OP) as u16);
    }
    if what.contains(Rewrite::ARP_SHA) {
        a.set_sha(u64_mac(flow.get(field::ARP_SHA)));
    }
    if what.contains(Rewrite::IP4_SRC) {
        a.set_spa(flow.get(field::IP4_SRC) as u32);
    }
    if what.contains(Rewrite::ARP_THA) {
        a.set_tha(u64_mac(flow.get(field::ARP_THA)));
    }
    if what.contains(Rewrite::IP4_DST) {
        a.set_tpa(flow.get(field::IP4_DST) as u32);
    }
    Ok(())
}
