//! Interpreting one flow's [`Op`]s on a packet copy.

use super::slot::{full, read, write};
use super::{generated_flow, Br, Ctl, Pos, Run, MAX_DEPTH};
use crate::actions::{MacBind, Pipeline};
use crate::compile::program::{CtOp, Op, ZoneKind};
use crate::compile::Compiled;
use crate::dpaction::{ControllerOp, DpAction, DropReason, GenKind, Nat, RecircId};
use crate::flow::{field, word, Mask, FLOW_WORDS};
use crate::model::DpKind;
use crate::symtab::Slot;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn ip_of(v: u128, s: &Slot) -> IpAddr {
    if super::super::compile::dnf::slot_width(s) <= 32 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

impl Run<'_, '_> {
    pub(crate) fn dp_key(&self, pos: Pos) -> u32 {
        self.c.datapaths.get(pos.dp as usize).map_or(0, |d| d.key)
    }

    fn resume(&self, pos: Pos) -> Option<u32> {
        RecircId {
            dp_key: self.dp_key(pos),
            pipeline: pos.pipe,
            table: pos.table.wrapping_add(1),
        }
        .encode()
    }

    /// Runs `ops` (of logical flow `flow`) on `br` at `pos`.
    pub(crate) fn ops(
        &mut self,
        br: &mut Br,
        pos: Pos,
        ops: &[Op],
        flow: u32,
        out: &mut Vec<DpAction>,
    ) -> Ctl {
        let c: &Compiled = self.c;
        let last = ops.len().saturating_sub(1);
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::SetWord { word, value, mask } => {
                    let w = usize::from(*word) & (FLOW_WORDS - 1);
                    br.flow.w[w] = (br.flow.w[w] & !mask) | value;
                    br.written.w[w] |= mask;
                }
                Op::Load { dst, value, mask } => {
                    write(&mut br.flow, dst, *value, *mask, &mut br.written)
                }
                Op::Move { dst, src } => {
                    let v = read(&br.flow, src, &mut self.wc);
                    write(&mut br.flow, dst, v, full(dst), &mut br.written);
                }
                Op::Exchange { a, b } => {
                    let va = read(&br.flow, a, &mut self.wc);
                    let vb = read(&br.flow, b, &mut self.wc);
                    write(&mut br.flow, a, vb, full(a), &mut br.written);
                    write(&mut br.flow, b, va, full(b), &mut br.written);
                }
                Op::DecTtl => {
                    self.wc.add(field::IP_TTL);
                    let ttl = br.flow.get(field::IP_TTL);
                    if ttl <= 1 {
                        return Ctl::End(Some(DropReason::TtlExpired));
                    }
                    br.flow.set(field::IP_TTL, ttl - 1);
                    br.written.add(field::IP_TTL);
                }
                Op::Next { pipeline, table } => {
                    let ctl = Ctl::Next(*pipeline, *table);
                    if i == last {
                        return ctl;
                    }
                    self.copy(br, pos, out, |_| ctl);
                }
                Op::Output => {
                    if i == last {
                        return Ctl::Output;
                    }
                    self.copy(br, pos, out, |_| Ctl::Output);
                }
                Op::FwdGroup { port_key } => {
                    br.flow.set(field::OUTPORT, u64::from(*port_key));
                    br.written.add(field::OUTPORT);
                    if i == last {
                        return Ctl::Output;
                    }
                    self.copy(br, pos, out, |_| Ctl::Output);
                }
                Op::Select {
                    dst,
                    members,
                    pipeline,
                    table,
                } => {
                    // OVN's select group: the chosen bucket loads its id and resubmits
                    // to the next table; the list then carries on with the original.
                    let id = u128::from(self.select_member(&br.flow, members));
                    let ctl = Ctl::Next(*pipeline, *table);
                    if i == last {
                        write(&mut br.flow, dst, id, full(dst), &mut br.written);
                        return ctl;
                    }
                    self.copy(br, pos, out, |b2| {
                        write(&mut b2.flow, dst, id, full(dst), &mut b2.written);
                        ctl
                    });
                }
                Op::Push(s) => {
                    let v = read(&br.flow, s, &mut self.wc);
                    if self.sp < self.stack.len() {
                        self.stack[self.sp] = v;
                        self.sp += 1;
                    }
                }
                Op::Pop(s) => {
                    let v = if self.sp > 0 {
                        self.sp -= 1;
                        self.stack[self.sp]
                    } else {
                        0
                    };
                    write(&mut br.flow, s, v, full(s), &mut br.written);
                }
                Op::Drop => return Ctl::End(Some(DropReason::Explicit)),
                Op::Clone(inner) => {
                    let mut sub = Vec::new();
                    Run::flush(br, out);
                    let mut b2 = br.clone();
                    if self.depth >= MAX_DEPTH {
                        sub.push(DpAction::Drop(DropReason::TooManyResubmits));
                    } else {
                        self.depth += 1;
                        let ctl = self.ops(&mut b2, pos, inner, flow, &mut sub);
                        self.follow(&mut b2, pos, ctl, &mut sub);
                        self.depth -= 1;
                    }
                    out.push(DpAction::Clone(sub));
                }
                Op::Generate { kind, ops: inner } => {
                    self.generate(br, pos, *kind, inner, flow, out)
                }
                Op::Reject(inner) => {
                    self.wc.add(field::ETH_TYPE);
                    let et = br.flow.get(field::ETH_TYPE);
                    self.wc.add(field::IP_PROTO);
                    let kind = match (et, br.flow.get(field::IP_PROTO)) {
                        (0x0800 | 0x86dd, 6) => GenKind::TcpReset,
                        (0x0800 | 0x86dd, 132) => GenKind::SctpAbort,
                        (0x86dd, _) => GenKind::Icmp6Error,
                        _ => GenKind::Icmp4Error,
                    };
                    self.generate(br, pos, kind, inner, flow, out);
                }
                Op::Ct(ct) => {
                    let CtOp {
                        zone,
                        commit,
                        nat,
                        mark,
                        label,
                        nested,
                        recirc,
                    } = &**ct;
                    let zone = self.zone(br, pos, *zone);
                    let (mut mark, mut label) = (*mark, *label);
                    if !nested.is_empty() {
                        // ct_commit { ct_mark.x = ..; ct_label.y = ..; }: run on a scratch copy.
                        let mut scratch = Br {
                            flow: br.flow,
                            written: Mask::default(),
                        };
                        let _ = self.ops(&mut scratch, pos, nested, flow, &mut Vec::new());
                        let m = scratch.written.w[word::CT] & field::CT_MARK.word_mask();
                        if m != 0 {
                            mark = Some((scratch.flow.get(field::CT_MARK) as u32, m as u32));
                        }
                        let lm = (u128::from(scratch.written.w[word::CT_LABEL]) << 64)
                            | u128::from(scratch.written.w[word::CT_LABEL + 1]);
                        if lm != 0 {
                            label = Some((scratch.flow.get128(field::CT_LABEL) & lm, lm));
                        }
                    }
                    Run::flush(br, out);
                    let rid = if *recirc { self.resume(pos) } else { None };
                    out.push(DpAction::Ct {
                        zone,
                        commit: *commit,
                        nat: nat.clone(),
                        mark,
                        label,
                        recirc_id: rid,
                    });
                    if *recirc {
                        return Ctl::End(if rid.is_some() {
                            None
                        } else {
                            Some(DropReason::BadTable)
                        });
                    }
                }
                Op::CtClear => Run::ct_clear(br, out),
                Op::CtSnatToVip => {
                    if let Some(vip) = self.saved_vip(&br.flow) {
                        let zone = self.zone(br, pos, ZoneKind::Snat);
                        Run::flush(br, out);
                        // OVS rewrites the packet in place on `ct(commit,nat)`; the
                        // datapath applies NAT only when recirculating. In the port's
                        // zone the egress `ct(nat)` applies the stored SNAT; in the
                        // switch's own SNAT zone nothing would, so when just `next;`
                        // follows (northd's `ct_snat_to_vip; next;`) we recirculate to
                        // the next table instead.
                        let own_zone = self
                            .c
                            .datapaths
                            .get(pos.dp as usize)
                            .is_some_and(|d| d.kind == DpKind::Switch && d.zones.1 != 0);
                        let then_next = own_zone
                            && matches!(
                                ops.get(i + 1..),
                                Some([Op::Next { pipeline, table }])
                                    if *pipeline == pos.pipe
                                        && *table == pos.table.wrapping_add(1)
                            );
                        let rid = if then_next { self.resume(pos) } else { None };
                        out.push(DpAction::Ct {
                            zone,
                            commit: true,
                            nat: Some(Nat::Snat {
                                ip: vip,
                                ports: None,
                            }),
                            mark: None,
                            label: None,
                            recirc_id: rid,
                        });
                        if rid.is_some() {
                            return Ctl::End(None);
                        }
                    }
                }
                Op::LookupMacBind {
                    kind: _,
                    dst,
                    port,
                    ip,
                    mac,
                } => {
                    let dk = self.dp_key(pos);
                    let p = read(&br.flow, port, &mut self.wc) as u32;
                    let a = read(&br.flow, ip, &mut self.wc);
                    let found = c.mac_bindings.get(&(dk, p, a)).copied();
                    let hit = match (found, mac) {
                        (Some(m), Some(ms)) => read(&br.flow, ms, &mut self.wc) as u64 == m,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    write(
                        &mut br.flow,
                        dst,
                        u128::from(hit),
                        full(dst),
                        &mut br.written,
                    );
                }
                Op::GetMacBind { kind: _, port, ip } => {
                    let dk = self.dp_key(pos);
                    let p = read(&br.flow, port, &mut self.wc) as u32;
                    let a = read(&br.flow, ip, &mut self.wc);
                    let m = c.mac_bindings.get(&(dk, p, a)).copied().unwrap_or(0);
                    br.flow.set(field::ETH_DST, m);
                    br.written.add(field::ETH_DST);
                }
                Op::CheckPortSec { dst, ingress } => {
                    let v = self.port_sec(br, pos, *ingress);
                    write(&mut br.flow, dst, u128::from(v), full(dst), &mut br.written);
                }
                Op::CheckPktLarger { dst, len } => {
                    self.wc.add(field::PKT_LEN);
                    let v = br.flow.get(field::PKT_LEN) > u64::from(*len);
                    write(&mut br.flow, dst, u128::from(v), full(dst), &mut br.written);
                }
                Op::ResultZero { dst } => write(&mut br.flow, dst, 0, full(dst), &mut br.written),
                Op::ChkLbHairpin { dst, reply } => {
                    let v = self.lb_hairpin(&br.flow, pos, *reply);
                    write(&mut br.flow, dst, u128::from(v), full(dst), &mut br.written);
                }
                Op::PutMacBind {
                    kind,
                    port,
                    ip,
                    mac,
                } => {
                    let op = ControllerOp::PutMacBinding {
                        kind: *kind,
                        port_key: read(&br.flow, port, &mut self.wc) as u32,
                        ip: {
                            let v = read(&br.flow, ip, &mut self.wc);
                            match kind {
                                MacBind::Arp => IpAddr::V4(Ipv4Addr::from(v as u32)),
                                MacBind::Nd => ip_of(v, ip),
                            }
                        },
                        mac: read(&br.flow, mac, &mut self.wc) as u64,
                    };
                    out.push(DpAction::Controller { op, resume: None });
                }
                Op::PutFdb { port, mac } => {
                    let op = ControllerOp::PutFdb {
                        port_key: read(&br.flow, port, &mut self.wc) as u32,
                        mac: read(&br.flow, mac, &mut self.wc) as u64,
                    };
                    out.push(DpAction::Controller { op, resume: None });
                }
                Op::BindVport { vport, parent } => {
                    let op = ControllerOp::BindVport {
                        vport: vport.clone(),
                        parent_key: read(&br.flow, parent, &mut self.wc) as u32,
                    };
                    out.push(DpAction::Controller { op, resume: None });
                }
                Op::Pause { action } => {
                    Run::flush(br, out);
                    out.push(DpAction::Controller {
                        op: ControllerOp::Paused {
                            flow,
                            action: *action,
                        },
                        resume: self.resume(pos),
                    });
                    return Ctl::End(None);
                }
                Op::Event { action } => out.push(DpAction::Controller {
                    op: ControllerOp::Event {
                        flow,
                        action: *action,
                    },
                    resume: None,
                }),
                Op::Nop => {}
            }
        }
        Ctl::End(Some(DropReason::EndOfActions))
    }

    /// Runs the continuation `f` on a copy of `br` (for `next`/`output` that are not last:
    /// OVN resubmits and then carries on with the original).
    fn copy(
        &mut self,
        br: &mut Br,
        pos: Pos,
        out: &mut Vec<DpAction>,
        f: impl FnOnce(&mut Br) -> Ctl,
    ) {
        Run::flush(br, out);
        let mut sub = Vec::new();
        let mut b2 = br.clone();
        if self.depth >= MAX_DEPTH {
            sub.push(DpAction::Drop(DropReason::TooManyResubmits));
        } else {
            self.depth += 1;
            let ctl = f(&mut b2);
            self.follow(&mut b2, pos, ctl, &mut sub);
            self.depth -= 1;
        }
        out.push(DpAction::Clone(sub));
    }

    fn generate(
        &mut self,
        br: &mut Br,
        pos: Pos,
        kind: GenKind,
        inner: &[Op],
        flow: u32,
        out: &mut Vec<DpAction>,
    ) {
        Run::flush(br, out);
        let mut sub = Vec::new();
        if self.depth >= MAX_DEPTH {
            sub.push(DpAction::Drop(DropReason::TooManyResubmits));
        } else {
            self.depth += 1;
            let mut b2 = Br {
                flow: generated_flow(kind, &br.flow, &mut self.wc),
                written: Mask::default(),
            };
            let ctl = self.ops(&mut b2, pos, inner, flow, &mut sub);
            self.follow(&mut b2, pos, ctl, &mut sub);
            self.depth -= 1;
        }
        out.push(DpAction::Generate { kind, actions: sub });
    }

    fn zone(&mut self, br: &Br, pos: Pos, z: ZoneKind) -> u16 {
        let Some(dp) = self.c.datapaths.get(pos.dp as usize) else {
            return 0;
        };
        if dp.kind == DpKind::Router {
            return match z {
                ZoneKind::Default => dp.zones.0,
                ZoneKind::Snat => dp.zones.1,
            };
        }
        if z == ZoneKind::Snat && dp.zones.1 != 0 {
            return dp.zones.1;
        }
        let f = if pos.pipe == Pipeline::Ingress {
            field::INPORT
        } else {
            field::OUTPORT
        };
        self.wc.add(f);
        let port = br.flow.get(f) as u32;
        self.c.ports.get(&(dp.key, port)).map_or(0, |p| p.zone)
    }

    /// `check_in_port_sec()` / `check_out_port_sec()`: 1 if the packet violates the port
    /// security of its inport (source) / outport (destination), else 0.
    fn port_sec(&mut self, br: &Br, pos: Pos, ingress: bool) -> bool {
        let dk = self.dp_key(pos);
        let pf = if ingress {
            field::INPORT
        } else {
            field::OUTPORT
        };
        self.wc.add(pf);
        let port = br.flow.get(pf) as u32;
        let Some(p) = self.c.ports.get(&(dk, port)) else {
            return false;
        };
        if p.port_security.is_empty() {
            return false;
        }
        let f = &br.flow;
        let mac_field = if ingress {
            field::ETH_SRC
        } else {
            field::ETH_DST
        };
        self.wc.add(mac_field);
        let mac = f.get(mac_field);
        if !ingress && mac & (1 << 40) != 0 {
            return false; // multicast / broadcast destinations pass
        }
        let Some((_, ips)) = p.port_security.iter().find(|(m, _)| *m == mac) else {
            return true;
        };
        if ips.is_empty() {
            return false;
        }
        self.wc.add(field::ETH_TYPE);
        let ip_ok = |a: u32| ips.iter().any(|&(v, m)| a & m == v & m);
        match f.get(field::ETH_TYPE) {
            0x0800 => {
                let fl = if ingress {
                    field::IP4_SRC
                } else {
                    field::IP4_DST
                };
                self.wc.add(fl);
                let a = f.get(fl) as u32;
                // DHCP discovery from 0.0.0.0 is allowed, as OVN does.
                !(ip_ok(a) || (ingress && a == 0) || (!ingress && a == u32::MAX))
            }
            0x0806 if ingress => {
                self.wc.add(field::ARP_SHA);
                self.wc.add(field::IP4_SRC);
                f.get(field::ARP_SHA) != mac || !ip_ok(f.get(field::IP4_SRC) as u32)
            }
            _ => false,
        }
    }
}
