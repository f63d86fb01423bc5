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
        // ICMP echo ids are left as they are (not rewritable in place yet).
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
