//! Packets the pipeline generates (`icmp4 {}`, `tcp_reset {}`, `arp {}`, `icmp6 {}`):
//! [`build`] writes the new packet into a fresh frame from the backend and returns it with
//! its flow and layout, ready for the nested actions ([`GenStep::acts`]).
//!
//! The bytes follow what ovn-controller's pinctrl (OVN 23.03) hands back to OVS, before
//! the nested actions run:
//! - ICMPv4 error: IPv4 with tos 0, id 0, DF, TTL 255; ICMP type/code from the generated
//!   flow (3/1), 4 zero bytes, then the original IP packet (header and payload, as long
//!   as its total length says and the frame holds) up to 534 bytes (576-byte datagram).
//! - ICMPv6 error: traffic class and flow label 0, hop limit 255, type/code from the
//!   generated flow (1/1), 4 zero bytes, then the original IPv6 packet up to 1218 bytes.
//! - TCP RST: IPv4 (tos 0, id 0, DF) or IPv6, TTL/hop limit 63; ports swapped, seq 0,
//!   ack = original seq + 1, flags RST|ACK, window 0, no options.
//! - ARP request: the generated flow's Ethernet addresses, `sha` = `eth.src`,
//!   `spa`/`tpa` = the original `ip4.src`/`ip4.dst`, `tha` = 0; no padding.
//! - ND NS (OVS `compose_nd_ns`): from `eth.src` and its EUI-64 link-local address to the
//!   solicited-node group of the original `ip6.dst` (the target), hop limit 255, with a
//!   source link-layer address option.
//! - ND NA (`compose_nd_na`): from the original `eth.dst` and `nd.target` back to
//!   `eth.src`/`ip6.src`; flags S|O (|R for `nd_na_router`), target link-layer address
//!   option = the original `eth.dst`.
//!
//! Ethernet addresses and IP addresses are the flow's (the nested actions swap them); a
//! VLAN tag of the original is kept for ICMP errors and ARP (pinctrl pushes none on RST
//! and ND). The new frame is then parsed with
//! [`crate::extract::extract_into`], so the flow's header words are exactly the bytes'.
//!
//! Not built yet (returns [`GenError::Unsupported`]): `sctp_abort`.
//! No heap allocation: one frame from the backend (two when the writes in effect must be
//! applied to the original first).

use pipeline::dpaction::GenKind;
use pipeline::exec::generated_flow;
use pipeline::flow::{field, word, Flow, Mask};

use super::{ActsRef, OutStep};
use crate::extract::{apply, extract_into, Layout, L3, L4};
use crate::io::{Backend, Frame};
use crate::wire::checksum;

/// A `Generate` action compiled: the writes in effect on the original packet, what to
/// build, and the compiled nested actions run on the new packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenStep {
    pub kind: GenKind,
    /// Writes in effect on the original when the packet is generated (`out.port` unused).
    pub out: OutStep,
    pub acts: ActsRef,
}

/// Why no packet was generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenError {
    /// The backend had no free frame (or the writes could not be applied).
    NoFrame,
    /// The original is not the packet this kind needs (ICMP error of a non-IP packet,
    /// RST of a non-TCP one, ...), or the kind is not built yet.
    Unsupported,
}

/// Largest original IPv4 bytes quoted (576 - 14 - 20 - 8).
const ICMP4_QUOTE_MAX: usize = 534;
/// Largest original IPv6 bytes quoted (1280 - 14 - 40 - 8).
const ICMP6_QUOTE_MAX: usize = 1218;
const IP_DF: u16 = 0x4000;
const VLAN_CFI: u16 = 0x1000;

/// Builds the packet `step` describes from `frame` (parsed as `flow`, layout `lay`).
/// Returns the new frame, its flow (logical metadata of the generated flow, header words
/// parsed from the new bytes) and layout. The caller owns the frame.
pub fn build<B: Backend>(
    step: &GenStep,
    frame: &Frame,
    flow: &Flow,
    lay: &Layout,
    backend: &mut B,
) -> Result<(Frame, Flow, Layout), GenError> {
    let mut work = *flow;
    super::apply_sets(&step.out, &mut work);
    // The quoted original must carry the writes in effect (OVS commits them before the
    // packet reaches the controller).
    let rewritten = if step.out.rewrite.is_empty() {
        None
    } else {
        let mut c = backend.clone_frame(frame).ok_or(GenError::NoFrame)?;
        if apply(c.data_mut(), lay, &work, step.out.rewrite).is_err() {
            backend.free(c);
            return Err(GenError::Unsupported);
        }
        Some(c)
    };
    let src = rewritten.as_ref().unwrap_or(frame);
    let r = build_from(step.kind, src.data(), &work, lay, backend);
    if let Some(c) = rewritten {
        backend.free(c);
    }
    r
}

fn build_from<B: Backend>(
    kind: GenKind,
    orig: &[u8],
    work: &Flow,
    lay: &Layout,
    backend: &mut B,
) -> Result<(Frame, Flow, Layout), GenError> {
    let mut wc = Mask::default();
    let g = generated_flow(kind, work, &mut wc);
    let mut out = backend.alloc().ok_or(GenError::NoFrame)?;
    let len = match write(kind, orig, work, &g, lay, &mut out) {
        Some(n) => n,
        None => {
            backend.free(out);
            return Err(GenError::Unsupported);
        }
    };
    if !out.set_len(len) {
        backend.free(out);
        return Err(GenError::NoFrame);
    }
    let mut parsed = Flow::default();
    let mut glay = Layout::default();
    let in_port = (work.w[word::IN_PORT] >> 32) as u32;
    if extract_into(out.data(), in_port, &mut parsed, &mut glay).is_err() {
        backend.free(out);
        return Err(GenError::Unsupported);
    }
    // Logical metadata from the generated flow, headers from the bytes.
    let mut f = g;
    f.w[word::ETH_SRC_VLAN..=word::IP6_LABEL_LEN]
        .copy_from_slice(&parsed.w[word::ETH_SRC_VLAN..=word::IP6_LABEL_LEN]);
    Ok((out, f, glay))
}

/// Writes the packet into `out`'s buffer (grown to its tailroom first); returns its
/// length, `None` if the original does not fit the kind or the buffer is too small.
fn write(
    kind: GenKind,
    orig: &[u8],
    work: &Flow,
    g: &Flow,
    lay: &Layout,
    out: &mut Frame,
) -> Option<usize> {
    let room = out.tailroom();
    if !out.set_len(room) {
        return None;
    }
    let buf = out.data_mut();
    let l3 = lay.l3_off as usize;
    match (kind, lay.l3) {
        (GenKind::Icmp4Error, L3::Ipv4) => {
            let ip = orig.get(l3..)?;
            let tot = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            if tot < 20 {
                return None;
            }
            let q = tot.min(ip.len()).min(ICMP4_QUOTE_MAX);
            let at = eth(buf, g, 0x0800)?;
            let icmp_len = 8 + q;
            ipv4(buf.get_mut(at..at + 20)?, g, 1, 255, icmp_len);
            let ic = buf.get_mut(at + 20..at + 20 + icmp_len)?;
            ic[0] = g.get(field::TP_SRC) as u8;
            ic[1] = g.get(field::TP_DST) as u8;
            ic[2..8].fill(0);
            ic[8..].copy_from_slice(&ip[..q]);
            let c = !checksum::data(ic);
            ic[2..4].copy_from_slice(&c.to_be_bytes());
            Some(at + 20 + icmp_len)
        }
        (GenKind::Icmp6Error, L3::Ipv6) => {
            let ip = orig.get(l3..)?;
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let q = (40 + plen).min(ip.len()).min(ICMP6_QUOTE_MAX);
            let at = eth(buf, g, 0x86dd)?;
            let icmp_len = 8 + q;
            ipv6(buf.get_mut(at..at + 40)?, g, 58, 255, icmp_len);
            let ic = buf.get_mut(at + 40..at + 40 + icmp_len)?;
            ic[0] = g.get(field::TP_SRC) as u8;
            ic[1] = g.get(field::TP_DST) as u8;
            ic[2..8].fill(0);
            ic[8..].copy_from_slice(&ip[..q]);
            let ph = checksum::pseudo_v6(
                g.get128(field::IP6_SRC),
                g.get128(field::IP6_DST),
                58,
                icmp_len as u32,
            );
            let c = !checksum::combine(&[ph, checksum::data(ic)]);
            ic[2..4].copy_from_slice(&c.to_be_bytes());
            Some(at + 40 + icmp_len)
        }
        (GenKind::TcpReset, L3::Ipv4 | L3::Ipv6) if lay.l4 == L4::Tcp => {
            let th = orig.get(lay.l4_off as usize..)?;
            let seq = u32::from_be_bytes([*th.get(4)?, *th.get(5)?, *th.get(6)?, *th.get(7)?]);
            let v6 = lay.l3 == L3::Ipv6;
            // pinctrl pushes no VLAN tag on a RST.
            let ty = if v6 { 0x86dd } else { 0x0800 };
            let at = eth_to(buf, g.get(field::ETH_DST), g.get(field::ETH_SRC), 0, ty)?;
            let hl = if v6 { 40 } else { 20 };
            let ph = if v6 {
                ipv6(buf.get_mut(at..at + 40)?, g, 6, 63, 20);
                checksum::pseudo_v6(g.get128(field::IP6_SRC), g.get128(field::IP6_DST), 6, 20)
            } else {
                ipv4(buf.get_mut(at..at + 20)?, g, 6, 63, 20);
                checksum::pseudo_v4(
                    g.get(field::IP4_SRC) as u32,
                    g.get(field::IP4_DST) as u32,
                    6,
                    20,
                )
            };
            let t = buf.get_mut(at + hl..at + hl + 20)?;
            t.fill(0);
            t[0..2].copy_from_slice(&(work.get(field::TP_DST) as u16).to_be_bytes());
            t[2..4].copy_from_slice(&(work.get(field::TP_SRC) as u16).to_be_bytes());
            t[8..12].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
            t[12..14].copy_from_slice(&(5u16 << 12 | 0x14).to_be_bytes());
            let c = !checksum::combine(&[ph, checksum::data(t)]);
            t[16..18].copy_from_slice(&c.to_be_bytes());
            Some(at + hl + 20)
        }
        (GenKind::ArpRequest, L3::Ipv4) => {
            let at = eth(buf, g, 0x0806)?;
            let a = buf.get_mut(at..at + 28)?;
            a[0..8].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
            a[8..14].copy_from_slice(&mac(g.get(field::ARP_SHA)));
            a[14..18].copy_from_slice(&(work.get(field::IP4_SRC) as u32).to_be_bytes());
            a[18..24].fill(0);
            a[24..28].copy_from_slice(&(work.get(field::IP4_DST) as u32).to_be_bytes());
            Some(at + 28)
        }
        (GenKind::NdNs, L3::Ipv6) => {
            // OVS compose_nd_ns: to the target's solicited-node group, from the link-local
            // address of eth.src, with a source link-layer address option.
            let src_mac = work.get(field::ETH_SRC);
            let target = work.get128(field::IP6_DST);
            let sol = 0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | (target & 0xff_ffff);
            let at = eth_to(
                buf,
                0x3333_ff00_0000 | (target as u64 & 0xff_ffff),
                src_mac,
                0,
                0x86dd,
            )?;
            nd(
                buf,
                at,
                link_local(src_mac),
                sol,
                135,
                0,
                target,
                1,
                src_mac,
            )
        }
        (GenKind::NdNa { router }, L3::Ipv6) => {
            // OVS compose_nd_na: back to the sender, from the target, with a target
            // link-layer address option of the original eth.dst.
            let (src_mac, dst_mac) = (work.get(field::ETH_DST), work.get(field::ETH_SRC));
            let target = work.get128(field::ND_TARGET);
            let flags = 0x6000_0000 | if router { 0x8000_0000 } else { 0 };
            let at = eth_to(buf, dst_mac, src_mac, 0, 0x86dd)?;
            let dst = work.get128(field::IP6_SRC);
            nd(buf, at, target, dst, 136, flags, target, 2, src_mac)
        }
        _ => None,
    }
}

/// IPv6 + ICMPv6 neighbour discovery message with one link-layer address option (86
/// bytes from `at` = 14); returns the frame length.
#[allow(clippy::too_many_arguments)]
fn nd(
    buf: &mut [u8],
    at: usize,
    src: u128,
    dst: u128,
    ty: u8,
    flags: u32,
    target: u128,
    opt: u8,
    lla: u64,
) -> Option<usize> {
    let h = buf.get_mut(at..at + 40)?;
    h.fill(0);
    h[0] = 0x60;
    h[4..6].copy_from_slice(&32u16.to_be_bytes());
    h[6] = 58;
    h[7] = 255;
    h[8..24].copy_from_slice(&src.to_be_bytes());
    h[24..40].copy_from_slice(&dst.to_be_bytes());
    let m = buf.get_mut(at + 40..at + 72)?;
    m.fill(0);
    m[0] = ty;
    m[4..8].copy_from_slice(&flags.to_be_bytes());
    m[8..24].copy_from_slice(&target.to_be_bytes());
    m[24] = opt;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac(lla));
    let ph = checksum::pseudo_v6(src, dst, 58, 32);
    let c = !checksum::combine(&[ph, checksum::data(m)]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Some(at + 72)
}

/// The EUI-64 link-local address of `mac` (fe80::/64, universal/local bit flipped).
fn link_local(mac48: u64) -> u128 {
    let m = mac(mac48);
    let iid = u64::from_be_bytes([m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    0xfe80u128 << 112 | u128::from(iid)
}

fn mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Ethernet header (with the flow's VLAN tag if it has one); returns the L3 offset.
fn eth(buf: &mut [u8], g: &Flow, ty: u16) -> Option<usize> {
    eth_to(
        buf,
        g.get(field::ETH_DST),
        g.get(field::ETH_SRC),
        g.get(field::VLAN_TCI) as u16,
        ty,
    )
}

/// Ethernet header with explicit addresses; `tci` with the CFI bit set adds a VLAN tag.
fn eth_to(buf: &mut [u8], dst: u64, src: u64, tci: u16, ty: u16) -> Option<usize> {
    let h = buf.get_mut(..18)?;
    h[0..6].copy_from_slice(&mac(dst));
    h[6..12].copy_from_slice(&mac(src));
    if tci & VLAN_CFI != 0 {
        h[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        h[14..16].copy_from_slice(&(tci & !VLAN_CFI).to_be_bytes());
        h[16..18].copy_from_slice(&ty.to_be_bytes());
        Some(18)
    } else {
        h[12..14].copy_from_slice(&ty.to_be_bytes());
        Some(14)
    }
}

/// IPv4 header as pinctrl composes it: tos 0, id 0, DF.
fn ipv4(h: &mut [u8], g: &Flow, proto: u8, ttl: u8, payload: usize) {
    h.fill(0);
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
    h[6..8].copy_from_slice(&IP_DF.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&(g.get(field::IP4_SRC) as u32).to_be_bytes());
    h[16..20].copy_from_slice(&(g.get(field::IP4_DST) as u32).to_be_bytes());
    let c = !checksum::data(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// IPv6 header: traffic class and flow label 0.
fn ipv6(h: &mut [u8], g: &Flow, next: u8, hlim: u8, payload: usize) {
    h.fill(0);
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    h[6] = next;
    h[7] = hlim;
    h[8..24].copy_from_slice(&g.get128(field::IP6_SRC).to_be_bytes());
    h[24..40].copy_from_slice(&g.get128(field::IP6_DST).to_be_bytes());
}
