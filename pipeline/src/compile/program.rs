//! Action lists to programs: every field reference resolved to a [`Slot`] of the microflow,
//! every port name to a key, every `next` to a (pipeline, table). The executor interprets
//! the closed enum [`Op`] directly.

use super::dnf::{slot_width, Names};
use crate::actions::{Action, CtNatKind, MacBind, NestedKind, Pipeline};
use crate::dpaction::{GenKind, Nat};
use crate::parser::{FieldRef, Value};
use crate::symtab::{Slot, Storage, Symtab};

/// One compiled action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `w[word] = (w[word] & !mask) | value`: a load into a field within one word
    /// (`value` already shifted into place and within `mask`).
    SetWord {
        word: u8,
        value: u64,
        mask: u64,
    },
    /// Write `value` into the bits `mask` of `dst` (slot coordinates).
    Load {
        dst: Slot,
        value: u128,
        mask: u128,
    },
    Move {
        dst: Slot,
        src: Slot,
    },
    Exchange {
        a: Slot,
        b: Slot,
    },
    DecTtl,
    Next {
        pipeline: Pipeline,
        table: u8,
    },
    Output,
    Push(Slot),
    Pop(Slot),
    Drop,
    /// Run the ops on a copy, then continue.
    Clone(Box<[Op]>),
    /// A generated packet; its ops run on [`crate::exec::generated_flow`] of the packet.
    Generate {
        kind: GenKind,
        ops: Box<[Op]>,
    },
    /// `reject {}`: TCP RST, SCTP ABORT or ICMP unreachable, chosen from the packet.
    Reject(Box<[Op]>),
    /// Conntrack (boxed: rare and large).
    Ct(Box<CtOp>),
    CtClear,
    /// `ct_snat_to_vip`: commit in the SNAT zone with the source NATed to the VIP the
    /// packet was sent to (saved by northd in reg1 / xxreg1), then continue; nothing if
    /// no VIP was saved (ovn-controller's OFTABLE_CT_SNAT_HAIRPIN flows).
    CtSnatToVip,
    /// `dst = lookup_arp(port, ip[, mac])`: 1 if the MAC binding exists (and matches).
    LookupMacBind {
        kind: MacBind,
        dst: Slot,
        port: Slot,
        ip: Slot,
        mac: Option<Slot>,
    },
    /// `get_arp(port, ip)`: eth.dst = binding or 00:00:00:00:00:00.
    GetMacBind {
        kind: MacBind,
        port: Slot,
        ip: Slot,
    },
    /// `dst = check_in_port_sec()` (ingress) / `check_out_port_sec()`.
    CheckPortSec {
        dst: Slot,
        ingress: bool,
    },
    /// `dst = check_pkt_larger(len)`.
    CheckPktLarger {
        dst: Slot,
        len: u32,
    },
    /// A result action whose answer is always 0 here (affinity, FDB, ECMP next hop).
    ResultZero {
        dst: Slot,
    },
    /// `dst = chk_lb_hairpin()` (`reply`: `chk_lb_hairpin_reply()`): 1 if a load balancer
    /// sent the packet back to its own source. See the executor for the exact test.
    ChkLbHairpin {
        dst: Slot,
        reply: bool,
    },
    /// `dst = select(id=weight, ...)`: OVN's select group; the bucket writes its id to
    /// `dst` and resubmits to the next table (`pipeline`, `table`).
    Select {
        dst: Slot,
        members: Box<[(u16, u16)]>,
        pipeline: Pipeline,
        table: u8,
    },
    PutMacBind {
        kind: MacBind,
        port: Slot,
        ip: Slot,
        mac: Slot,
    },
    PutFdb {
        port: Slot,
        mac: Slot,
    },
    BindVport {
        vport: String,
        parent: Slot,
    },
    /// Hand the packet to the controller and stop (it resumes at the next table).
    Pause {
        action: u16,
    },
    /// Record an event for the controller and continue.
    Event {
        action: u16,
    },
    /// `fwd_group`: outport = first child; output.
    FwdGroup {
        port_key: u32,
    },
    /// Accepted and ignored (`set_queue`, `set_meter`, `mac_cache_use`).
    Nop,
}

/// A conntrack step. `nested` (for `ct_commit { }`) sets ct_mark/ct_label; `recirc` says
/// whether to resume at the next table afterwards (else continue inline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtOp {
    pub zone: ZoneKind,
    pub commit: bool,
    pub nat: Option<Nat>,
    pub mark: Option<(u32, u32)>,
    pub label: Option<(u128, u128)>,
    pub nested: Box<[Op]>,
    pub recirc: bool,
}

/// Which conntrack zone an action uses; the executor picks the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// Switch: the inport's zone (ingress) or outport's (egress). Router: its DNAT zone.
    Default,
    /// Router SNAT zone (switch: as Default).
    Snat,
}

pub(crate) struct Ctx<'a> {
    pub t: &'a Symtab,
    pub n: &'a dyn Names,
    pub pipeline: Pipeline,
    pub table: u8,
}

fn slot(c: &Ctx, f: &FieldRef) -> Result<Slot, String> {
    c.t.resolve_ref(f)
        .ok_or_else(|| format!("{} is not a field", c.t.get(f.sym).name))
}

fn full(s: &Slot) -> u128 {
    let w = slot_width(s);
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

/// Compiles a top-level action list.
pub(crate) fn compile_actions(c: &Ctx, acts: &[Action]) -> Result<Vec<Op>, String> {
    list(c, acts, true)
}

fn list(c: &Ctx, acts: &[Action], top: bool) -> Result<Vec<Op>, String> {
    let mut out = Vec::with_capacity(acts.len());
    for (i, a) in acts.iter().enumerate() {
        let idx = if top { i as u16 } else { u16::MAX };
        out.push(one(c, a, idx)?);
    }
    Ok(out)
}

fn next_table(c: &Ctx) -> Result<u8, String> {
    c.table
        .checked_add(1)
        .ok_or_else(|| "next beyond table 255".to_string())
}

fn ct(zone: ZoneKind, commit: bool, nat: Option<Nat>, recirc: bool) -> Op {
    Op::Ct(Box::new(CtOp {
        zone,
        commit,
        nat,
        mark: None,
        label: None,
        nested: Box::new([]),
        recirc,
    }))
}

/// A load of `value` into bits `mask` (slot coordinates) of `dst`, as one word update
/// where the slot lies within one word (what `exec::slot::write` would do).
fn load(dst: Slot, value: u128, mask: u128) -> Op {
    match dst.storage {
        Storage::Narrow(fl) | Storage::Port(fl) => {
            let sh = u32::from(fl.shift) + u32::from(dst.ofs);
            if sh >= 64 {
                return Op::Nop;
            }
            let m = mask & full(&dst);
            let wm = (m as u64) << sh;
            Op::SetWord {
                word: fl.word & (crate::flow::FLOW_WORDS as u8 - 1),
                value: ((value & m) as u64) << sh,
                mask: wm,
            }
        }
        _ => Op::Load {
            dst,
            value: value & mask,
            mask,
        },
    }
}

fn one(c: &Ctx, a: &Action, idx: u16) -> Result<Op, String> {
    Ok(match a {
        Action::Drop => Op::Drop,
        Action::Load { dst, value } => {
            let s = slot(c, dst)?;
            let (value, mask) = match value {
                Value::Int(i) => (i.value, i.mask.unwrap_or(u128::MAX) & full(&s)),
                // An unknown port loads 0, as ovn-controller does.
                Value::Str(p) => (u128::from(c.n.port_key(p).unwrap_or(0)), full(&s)),
                _ => return Err("cannot load a set".into()),
            };
            if matches!(s.storage, Storage::Ovn(_)) {
                return Ok(Op::Nop);
            }
            load(s, value, mask)
        }
        Action::Move { dst, src } => Op::Move {
            dst: slot(c, dst)?,
            src: slot(c, src)?,
        },
        Action::Exchange { a, b } => Op::Exchange {
            a: slot(c, a)?,
            b: slot(c, b)?,
        },
        Action::DecTtl => Op::DecTtl,
        Action::Next { pipeline, table } => Op::Next {
            pipeline: pipeline.unwrap_or(c.pipeline),
            table: match table {
                Some(t) => *t,
                None => next_table(c)?,
            },
        },
        Action::Output => Op::Output,
        Action::Push(f) => Op::Push(slot(c, f)?),
        Action::Pop(f) => Op::Pop(slot(c, f)?),
        Action::Nested { kind, actions } => nested(c, *kind, actions)?,
        Action::CtCommitV1 { mark, label } => Op::Ct(Box::new(CtOp {
            zone: ZoneKind::Default,
            commit: true,
            nat: None,
            mark: *mark,
            label: *label,
            nested: Box::new([]),
            recirc: false,
        })),
        Action::CtNext => ct(ZoneKind::Default, false, None, true),
        Action::CtNat { kind, ip, ports } => {
            let zone = match kind {
                CtNatKind::Snat => ZoneKind::Snat,
                _ => ZoneKind::Default,
            };
            let nat = match (kind, ip) {
                (_, None) => Nat::Existing,
                (CtNatKind::Dnat | CtNatKind::DnatInCzone, Some(ip)) => Nat::Dnat {
                    ip: *ip,
                    ports: *ports,
                },
                (_, Some(ip)) => Nat::Snat {
                    ip: *ip,
                    ports: *ports,
                },
            };
            ct(zone, ip.is_some(), Some(nat), true)
        }
        Action::CtCommitNat => ct(ZoneKind::Default, true, Some(Nat::Existing), true),
        Action::CtLb {
            backends,
            hash_fields,
            ..
        } => {
            if backends.is_empty() {
                ct(ZoneKind::Default, false, Some(Nat::Existing), true)
            } else {
                let b = backends.iter().map(|b| (b.ip, b.port)).collect();
                ct(
                    ZoneKind::Default,
                    true,
                    Some(Nat::Lb {
                        backends: b,
                        hash_fields: hash_fields.clone(),
                    }),
                    true,
                )
            }
        }
        Action::CtClear => Op::CtClear,
        Action::CtSnatToVip => Op::CtSnatToVip,
        Action::CtCommitToZone { snat } => {
            let z = if *snat {
                ZoneKind::Snat
            } else {
                ZoneKind::Default
            };
            ct(z, true, None, false)
        }
        Action::GetMacBind { kind, port, ip } => Op::GetMacBind {
            kind: *kind,
            port: slot(c, port)?,
            ip: slot(c, ip)?,
        },
        Action::PutMacBind {
            kind,
            port,
            ip,
            mac,
        } => Op::PutMacBind {
            kind: *kind,
            port: slot(c, port)?,
            ip: slot(c, ip)?,
            mac: slot(c, mac)?,
        },
        Action::LookupMacBind {
            kind,
            dst,
            port,
            ip,
            mac,
        } => Op::LookupMacBind {
            kind: *kind,
            dst: slot(c, dst)?,
            port: slot(c, port)?,
            ip: slot(c, ip)?,
            mac: mac.as_ref().map(|m| slot(c, m)).transpose()?,
        },
        Action::CheckPortSec { dst, ingress } => Op::CheckPortSec {
            dst: slot(c, dst)?,
            ingress: *ingress,
        },
        Action::CheckPktLarger { dst, len } => Op::CheckPktLarger {
            dst: slot(c, dst)?,
            len: *len,
        },
        Action::ChkLbHairpin { dst } => Op::ChkLbHairpin {
            dst: slot(c, dst)?,
            reply: false,
        },
        Action::ChkLbHairpinReply { dst } => Op::ChkLbHairpin {
            dst: slot(c, dst)?,
            reply: true,
        },
        Action::ChkLbAff { dst }
        | Action::ChkEcmpNh { dst, .. }
        | Action::LookupFdb { dst, .. }
        | Action::GetFdb { dst, .. } => Op::ResultZero { dst: slot(c, dst)? },
        Action::Select { dst, members } => Op::Select {
            dst: slot(c, dst)?,
            members: members.clone().into_boxed_slice(),
            pipeline: c.pipeline,
            table: next_table(c)?,
        },
        Action::PutFdb { port, mac } => Op::PutFdb {
            port: slot(c, port)?,
            mac: slot(c, mac)?,
        },
        Action::BindVport { vport, parent } => Op::BindVport {
            vport: vport.clone(),
            parent: slot(c, parent)?,
        },
        Action::PutDhcpOpts { .. }
        | Action::PutNdRaOpts { .. }
        | Action::DnsLookup { .. }
        | Action::HandleSvcCheck { .. }
        | Action::HandleDhcpv6Reply
        | Action::HandleBfdMsg
        | Action::Igmp
        | Action::Mld => Op::Pause { action: idx },
        Action::TriggerEvent { .. }
        | Action::Log { .. }
        | Action::Sample { .. }
        | Action::CommitLbAff { .. }
        | Action::CommitEcmpNh { .. } => Op::Event { action: idx },
        Action::SetQueue(_) | Action::SetMeter { .. } | Action::MacCacheUse => Op::Nop,
        Action::FwdGroup { child_ports, .. } => Op::FwdGroup {
            port_key: child_ports
                .first()
                .and_then(|p| c.n.port_key(p))
                .unwrap_or(0),
        },
    })
}

fn nested(c: &Ctx, kind: NestedKind, acts: &[Action]) -> Result<Op, String> {
    let ops = list(c, acts, false)?.into_boxed_slice();
    let g = |k| Op::Generate {
        kind: k,
        ops: ops.clone(),
    };
    Ok(match kind {
        NestedKind::Clone => Op::Clone(ops),
        NestedKind::CtCommit => Op::Ct(Box::new(CtOp {
            zone: ZoneKind::Default,
            commit: true,
            nat: None,
            mark: None,
            label: None,
            nested: ops,
            recirc: false,
        })),
        NestedKind::Arp => g(GenKind::ArpRequest),
        NestedKind::NdNs => g(GenKind::NdNs),
        NestedKind::NdNa => g(GenKind::NdNa { router: false }),
        NestedKind::NdNaRouter => g(GenKind::NdNa { router: true }),
        NestedKind::Icmp4 | NestedKind::Icmp4Error => g(GenKind::Icmp4Error),
        NestedKind::Icmp6 | NestedKind::Icmp6Error => g(GenKind::Icmp6Error),
        NestedKind::TcpReset => g(GenKind::TcpReset),
        NestedKind::SctpAbort => g(GenKind::SctpAbort),
        NestedKind::Reject => Op::Reject(ops),
    })
}
