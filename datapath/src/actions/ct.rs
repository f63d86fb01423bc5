//! Conntrack glue: the `ct` step of a compiled action list, turned into a
//! [`conntrack::Conntrack::execute`] call and back into a recirculated flow.
//!
//! - [`CtSpec`] is the executor's `DpAction::Ct` with NAT converted once, on the slow
//!   path. A load balancer (`ct_lb`) picks its backend per packet with
//!   [`conntrack::select_backend`] and commits with DNAT to it; for an existing connection
//!   conntrack applies the stored translation whatever is asked.
//! - [`meta`] reads what conntrack needs from the flow (addresses, ports, flags, ICMP type)
//!   and from the frame (TCP sequence numbers and window, echo id, payload length).
//! - [`recirc_flow`] fills `ct_state`, `ct_zone`, `ct_mark`, `ct_label`, `recirc_id` and
//!   the NAT translation into the flow the pipeline continues with.
//! - [`apply_nat_extra`] writes the part of a NAT translation the flow has no field for
//!   into the frame: the ICMP echo identifier, which SNAT changes when two inside hosts
//!   ping the same destination with the same identifier.
//!
//! Non-IP packets do not reach conntrack: they come back `trk|inv`, as OVS reports them.

use conntrack::{
    select_backend, Addr, CtArgs, CtResult, HashFields, LbHashInput, Nat as CNat, NatRange,
    PacketMeta,
};
use pipeline::dpaction::Nat;
use pipeline::flow::{field, Flow};

use super::Cause;
use crate::extract::{Layout, L3, L4};
use crate::wire::checksum;

/// NAT of a `ct` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatSpec {
    Existing,
    Src(NatRange),
    Dst(NatRange),
    Lb {
        backends: Box<[(Addr, u16)]>,
        fields: HashFields,
    },
}

/// A `ct(...)` as the datapath runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtSpec {
    pub zone: u16,
    pub commit: bool,
    pub mark: Option<(u32, u32)>,
    pub label: Option<(u128, u128)>,
    pub nat: Option<NatSpec>,
}

fn range(ip: std::net::IpAddr, ports: Option<(u16, u16)>) -> NatRange {
    let r = NatRange::addr(ip.into());
    match ports {
        Some((a, b)) => r.with_ports(a, b),
        None => r,
    }
}

impl CtSpec {
    /// Converts the executor's arguments (slow path).
    pub fn new(
        zone: u16,
        commit: bool,
        nat: Option<&Nat>,
        mark: Option<(u32, u32)>,
        label: Option<(u128, u128)>,
    ) -> CtSpec {
        let nat = nat.map(|n| match n {
            Nat::Existing => NatSpec::Existing,
            Nat::Snat { ip, ports } => NatSpec::Src(range(*ip, *ports)),
            Nat::Dnat { ip, ports } => NatSpec::Dst(range(*ip, *ports)),
            Nat::Lb {
                backends,
                hash_fields,
            } => NatSpec::Lb {
                backends: backends.iter().map(|(ip, p)| ((*ip).into(), *p)).collect(),
                fields: hash_fields
                    .as_deref()
                    .and_then(|f| HashFields::parse(f).ok())
                    .unwrap_or_default(),
            },
        });
        CtSpec {
            zone,
            commit,
            mark,
            label,
            nat,
        }
    }

    /// The conntrack arguments for packet `m` (picks the LB backend).
    #[inline]
    pub fn args(&self, m: &PacketMeta, flow: &Flow) -> CtArgs {
        let mut a = CtArgs {
            zone: self.zone,
            commit: self.commit,
            mark: self.mark,
            label: self.label,
            nat: None,
        };
        a.nat = match &self.nat {
            None => None,
            Some(NatSpec::Existing) => Some(CNat::Existing),
            Some(NatSpec::Src(r)) => Some(CNat::Src(*r)),
            Some(NatSpec::Dst(r)) => Some(CNat::Dst(*r)),
            Some(NatSpec::Lb { backends, fields }) => {
                let input = LbHashInput {
                    eth_src: mac(flow.get(field::ETH_SRC)),
                    eth_dst: mac(flow.get(field::ETH_DST)),
                    ip_src: m.src,
                    ip_dst: m.dst,
                    tp_src: m.sport,
                    tp_dst: m.dport,
                    ip_proto: m.proto,
                };
                a.commit = true;
                select_backend(&input, *fields, backends)
                    .map(|(_, &(ip, port))| CNat::Dst(NatRange::addr_port(ip, port)))
            }
        };
        a
    }
}

fn mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn be16(d: &[u8], o: usize) -> u16 {
    d.get(o..o + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

fn be32(d: &[u8], o: usize) -> u32 {
    d.get(o..o + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn v4(a: u64) -> Addr {
    std::net::Ipv4Addr::from(a as u32).into()
}

/// What conntrack needs about the packet whose bytes are `frame` (parsed with `lay`) and
/// whose current fields are `flow`. `None` for a non-IP packet.
#[inline]
pub fn meta(frame: &[u8], lay: &Layout, flow: &Flow) -> Option<PacketMeta> {
    let mut m = PacketMeta {
        proto: flow.get(field::IP_PROTO) as u8,
        len: frame.len() as u32,
        fragment: flow.get(field::IP_FRAG) & 1 != 0,
        ..PacketMeta::default()
    };
    let l3 = lay.l3_off as usize;
    let ip_end = match lay.l3 {
        L3::Ipv4 => {
            m.src = v4(flow.get(field::IP4_SRC));
            m.dst = v4(flow.get(field::IP4_DST));
            l3 + be16(frame, l3 + 2) as usize
        }
        L3::Ipv6 => {
            m.src = std::net::Ipv6Addr::from(flow.get128(field::IP6_SRC)).into();
            m.dst = std::net::Ipv6Addr::from(flow.get128(field::IP6_DST)).into();
            l3 + 40 + be16(frame, l3 + 4) as usize
        }
        _ => return None,
    };
    let l4 = lay.l4_off as usize;
    match lay.l4 {
        L4::Tcp => {
            m.sport = flow.get(field::TP_SRC) as u16;
            m.dport = flow.get(field::TP_DST) as u16;
            m.tcp_flags = flow.get(field::TCP_FLAGS) as u16;
            m.tcp_seq = be32(frame, l4 + 4);
            m.tcp_ack = be32(frame, l4 + 8);
            m.tcp_win = be16(frame, l4 + 14);
            let doff = frame.get(l4 + 12).map_or(20, |b| usize::from(b >> 4) * 4);
            m.payload_len = ip_end.saturating_sub(l4 + doff) as u32;
        }
        L4::Udp | L4::Sctp => {
            m.sport = flow.get(field::TP_SRC) as u16;
            m.dport = flow.get(field::TP_DST) as u16;
        }
        L4::Icmp4 | L4::Icmp6 => {
            m.icmp_type = flow.get(field::TP_SRC) as u8;
            m.icmp_code = flow.get(field::TP_DST) as u8;
            m.icmp_id = be16(frame, l4 + 4);
        }
        _ => {}
    }
    Some(m)
}

/// The flow a recirculated packet continues with: `work` (the packet's fields at the
/// `ct` step) with the conntrack result and NAT filled in, and `recirc_id` = `id`.
#[inline]
pub fn recirc_flow(work: &Flow, lay: &Layout, r: &CtResult, id: u32) -> Result<Flow, Cause> {
    let mut f = *work;
    f.set(field::CT_STATE, u64::from(r.state));
    f.set(field::CT_ZONE, u64::from(r.zone));
    f.set(field::CT_MARK, u64::from(r.mark));
    f.set128(field::CT_LABEL, r.label);
    f.set(field::RECIRC_ID, u64::from(id));
    if let Some(w) = r.nat {
        match lay.l3 {
            L3::Ipv4 => {
                f.set(field::IP4_SRC, u64::from(u32::from_be_bytes(tail4(&w.src))));
                f.set(field::IP4_DST, u64::from(u32::from_be_bytes(tail4(&w.dst))));
            }
            L3::Ipv6 => {
                f.set128(field::IP6_SRC, u128::from_be_bytes(w.src.0));
                f.set128(field::IP6_DST, u128::from_be_bytes(w.dst.0));
            }
            _ => return Err(Cause::NatUnsupported),
        }
        // The flow has no field for an ICMP echo id: see `apply_nat_extra`.
        if matches!(lay.l4, L4::Tcp | L4::Udp) {
            f.set(field::TP_SRC, u64::from(w.sport));
            f.set(field::TP_DST, u64::from(w.dport));
        }
    }
    Ok(f)
}

fn tail4(a: &Addr) -> [u8; 4] {
    [a.0[12], a.0[13], a.0[14], a.0[15]]
}

/// Writes into `frame` the part of `r`'s NAT translation that [`recirc_flow`] cannot put
/// in the flow: the identifier of an ICMP or ICMPv6 echo request or reply (conntrack
/// reports it as `sport`), with an incremental checksum update. Call it on the frame
/// after the flow's rewrites were applied (the order does not matter for the checksum).
/// Anything else, including ICMP errors (`rel`: their identifiers are inside the
/// embedded packet), is left alone.
pub fn apply_nat_extra(frame: &mut [u8], lay: &Layout, r: &CtResult) -> Result<(), Cause> {
    let Some(w) = r.nat else { return Ok(()) };
    if r.state & conntrack::ct_state::REL != 0 {
        return Ok(());
    }
    let echo = match lay.l4 {
        L4::Icmp4 => [0, 8],
        L4::Icmp6 => [128, 129],
        _ => return Ok(()),
    };
    let l4 = lay.l4_off as usize;
    let Some(h) = frame.get_mut(l4..l4 + 8) else {
        return Err(Cause::NatUnsupported);
    };
    if !echo.contains(&h[0]) {
        return Ok(());
    }
    let old = u16::from_be_bytes([h[4], h[5]]);
    if old != w.sport {
        let c = checksum::update16(u16::from_be_bytes([h[2], h[3]]), old, w.sport);
        h[2..4].copy_from_slice(&c.to_be_bytes());
        h[4..6].copy_from_slice(&w.sport.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{apply, extract, Rewrite};
    use crate::wire::{icmpv4, icmpv6, ipv4, ipv6};
    use conntrack::{ct_state, Config, Conntrack};
    use std::net::IpAddr;

    const INSIDE_A: &str = "10.0.0.1";
    const INSIDE_B: &str = "10.0.0.2";
    const SERVER: &str = "192.0.2.9";
    const EXT: &str = "203.0.113.1";
    const INSIDE6_A: &str = "fd00::1";
    const INSIDE6_B: &str = "fd00::2";
    const SERVER6: &str = "2001:db8::9";
    const EXT6: &str = "2001:db8:1::1";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An Ethernet frame carrying an ICMP (v4 or v6, by the addresses) echo message.
    fn echo(src: &str, dst: &str, reply: bool, id: u16) -> Vec<u8> {
        let payload = b"southpaw-ping!!!";
        let mut b = vec![0u8; 14];
        b[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xb]);
        b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xa]);
        let l4_len = 8 + payload.len();
        match (ip(src), ip(dst)) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
                b.resize(14 + 20 + l4_len, 0);
                let mut p = ipv4::Packet::new_unchecked(&mut b[14..34]);
                p.set_version_and_header_len(20);
                p.set_total_len((20 + l4_len) as u16);
                p.set_ttl(64);
                p.set_protocol(1);
                p.set_src(s.to_bits());
                p.set_dst(d.to_bits());
                p.fill_checksum();
                let mut m = icmpv4::Packet::new_unchecked(&mut b[34..]);
                m.set_msg_type(if reply { 0 } else { 8 });
                m.set_echo_ident(id);
                m.set_echo_seq(1);
                b[42..].copy_from_slice(payload);
                icmpv4::Packet::new_unchecked(&mut b[34..]).fill_checksum();
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                b[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
                b.resize(14 + 40 + l4_len, 0);
                let mut p = ipv6::Packet::new_unchecked(&mut b[14..54]);
                p.set_version_tc_flow(0, 0);
                p.set_payload_len(l4_len as u16);
                p.set_next_header(58);
                p.set_hop_limit(64);
                p.set_src(s.to_bits());
                p.set_dst(d.to_bits());
                b[54] = if reply { 129 } else { 128 };
                b[58..60].copy_from_slice(&id.to_be_bytes());
                b[60..62].copy_from_slice(&1u16.to_be_bytes());
                b[62..].copy_from_slice(payload);
                let ps = checksum::pseudo_v6(s.to_bits(), d.to_bits(), 58, l4_len as u32);
                icmpv6::Packet::new_unchecked(&mut b[54..]).fill_checksum(ps);
            }
            _ => unreachable!("one family per frame"),
        }
        b
    }

    /// Runs `frame` through a `ct` step as the worker does (flow rewrites, then the
    /// extras) and checks the result's checksums; returns ct_state and (src, dst, id).
    fn ct_step(ct: &Conntrack, spec: &CtSpec, frame: &mut [u8]) -> (u8, IpAddr, IpAddr, u16) {
        let mut flow = Flow::default();
        let lay = extract(frame, 1, &mut flow).unwrap();
        let m = meta(frame, &lay, &flow).unwrap();
        let r = ct.execute(&m, &spec.args(&m, &flow), 1);
        let next = recirc_flow(&flow, &lay, &r, 7).unwrap();
        apply(frame, &lay, &next, Rewrite::diff(&flow, &next)).unwrap();
        apply_nat_extra(frame, &lay, &r).unwrap();
        let l4 = lay.l4_off as usize;
        let id = u16::from_be_bytes([frame[l4 + 4], frame[l4 + 5]]);
        let (src, dst) = match lay.l3 {
            L3::Ipv4 => {
                let p = ipv4::Packet::new_checked(&frame[14..]).unwrap();
                assert!(p.verify_checksum(), "IPv4 header checksum");
                assert!(icmpv4::Packet::new_checked(&frame[l4..])
                    .unwrap()
                    .verify_checksum());
                (
                    IpAddr::from(p.src().to_be_bytes()),
                    IpAddr::from(p.dst().to_be_bytes()),
                )
            }
            _ => {
                let p = ipv6::Packet::new_checked(&frame[14..]).unwrap();
                let (s, d) = (p.src(), p.dst());
                let ps = checksum::pseudo_v6(s, d, 58, (frame.len() - l4) as u32);
                let icmp = icmpv6::Packet::new_checked(&frame[l4..]).unwrap();
                assert!(icmp.verify_checksum(ps), "ICMPv6 checksum");
                (IpAddr::from(s.to_be_bytes()), IpAddr::from(d.to_be_bytes()))
            }
        };
        (r.state, src, dst, id)
    }

    fn snat_to(ext: &str) -> CtSpec {
        CtSpec::new(
            1,
            true,
            Some(&Nat::Snat {
                ip: ip(ext),
                ports: None,
            }),
            None,
            None,
        )
    }

    fn unnat() -> CtSpec {
        CtSpec::new(1, false, Some(&Nat::Existing), None, None)
    }

    /// Two inside hosts ping one server with the same identifier through one SNAT
    /// address: the second gets another identifier, written into its frame, and the
    /// server's reply to it is translated back, identifier included.
    fn colliding_echo_ids(a: &str, b: &str, server: &str, ext: &str) {
        let ct = Conntrack::new(Config::default());
        let new_snat = ct_state::NEW | ct_state::TRK | ct_state::SNAT;
        let (st, src, dst, id_a) = ct_step(&ct, &snat_to(ext), &mut echo(a, server, false, 7));
        assert_eq!((st, src, dst, id_a), (new_snat, ip(ext), ip(server), 7));
        let (st, src, dst, id_b) = ct_step(&ct, &snat_to(ext), &mut echo(b, server, false, 7));
        assert_eq!((st, src, dst), (new_snat, ip(ext), ip(server)));
        assert_ne!(id_b, 7, "the second ping must get its own identifier");

        let rpl = ct_state::EST | ct_state::RPL | ct_state::TRK | ct_state::SNAT;
        let back = ct_step(&ct, &unnat(), &mut echo(server, ext, true, id_b));
        assert_eq!(back, (rpl, ip(server), ip(b), 7));
        let back = ct_step(&ct, &unnat(), &mut echo(server, ext, true, 7));
        assert_eq!(back, (rpl, ip(server), ip(a), 7));
    }

    #[test]
    fn snat_rewrites_icmp_echo_id_v4() {
        colliding_echo_ids(INSIDE_A, INSIDE_B, SERVER, EXT);
    }

    #[test]
    fn snat_rewrites_icmp_echo_id_v6() {
        colliding_echo_ids(INSIDE6_A, INSIDE6_B, SERVER6, EXT6);
    }

    #[test]
    fn icmp_errors_and_other_protocols_are_left_alone() {
        let mut frame = echo(SERVER, INSIDE_A, true, 9);
        let mut flow = Flow::default();
        let lay = extract(&frame, 1, &mut flow).unwrap();
        let before = frame.clone();
        let w = conntrack::Rewrite {
            src: ip(SERVER).into(),
            dst: ip(INSIDE_A).into(),
            sport: 1234,
            dport: 0,
        };
        let related = CtResult {
            state: ct_state::REL | ct_state::TRK,
            nat: Some(w),
            ..Default::default()
        };
        apply_nat_extra(&mut frame, &lay, &related).unwrap();
        assert_eq!(
            frame, before,
            "an ICMP error's identifiers are the embedded packet's"
        );
        let plain = CtResult {
            state: ct_state::EST | ct_state::TRK,
            ..Default::default()
        };
        apply_nat_extra(&mut frame, &lay, &plain).unwrap();
        assert_eq!(frame, before, "no translation, nothing to write");
        let est = CtResult {
            nat: Some(w),
            ..plain
        };
        apply_nat_extra(&mut frame, &lay, &est).unwrap();
        assert_eq!(u16::from_be_bytes([frame[38], frame[39]]), 1234);
        assert!(icmpv4::Packet::new_checked(&frame[34..])
            .unwrap()
            .verify_checksum());
    }
}
