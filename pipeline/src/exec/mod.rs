//! The executor: runs one microflow through the compiled logical pipelines and returns the
//! datapath actions plus the megaflow mask (every bit of the input the outcome depends on).
//!
//! Walk (after OVN's ovn-architecture(7) and controller/physical.c):
//! - start in the ingress pipeline of the datapath `DATAPATH` at table 0, or, for a
//!   recirculated packet (`RECIRC_ID != 0`), where its [`RecircId`] says;
//! - per table: classifier lookup (plus residual checks), then the flow's ops;
//! - ingress `output`: multicast groups (key >= 32768) expand into one egress run per member
//!   (skipping the inport unless `flags.loopback`), remote ports become
//!   [`DpAction::Tunnel`], chassis-redirect ports resident here continue as their
//!   distributed port, else the loopback check and then the egress pipeline;
//!   Entering the egress pipeline clears reg0..reg9 (xxreg0, xxreg1, reg8, reg9) and keeps
//!   `flags`, as physical.c's OFTABLE_CHECK_LOOPBACK priority-0 flow does (ovn-trace
//!   clears `flags` too; OVN does not);
//! - egress `output`: a local VIF or localnet is [`DpAction::Output`]; a patch port
//!   continues in the peer datapath's ingress with inport = peer, and (as physical.c's
//!   patch-port flow: `ct_clear`, zones, flags, outport and reg0..reg9 zeroed) a
//!   [`DpAction::CtClear`] plus reg0..reg9, flags and outport cleared.
//!
//! Bounds: at most [`MAX_LOOKUPS`] table lookups per packet and [`MAX_DEPTH`] nested
//! clones/generated packets; past them the copy is dropped with
//! [`DropReason::TooManyResubmits`].
//!
//! Tracing: pass `Some(&mut |ev: &TraceEvent| ...)`; with `None` the cost is one branch
//! per table.

mod generate;
mod lb;
mod ops;
pub mod slot;

pub use generate::generated_flow;

use crate::actions::Pipeline;
use crate::compile::{Compiled, CompiledDatapath, Entry, FlowInfo, PortKind, NO_RESIDUAL};
use crate::dpaction::{DpAction, DropReason, RecircId};
use crate::flow::{field, Flow, Mask, FLOW_WORDS};

/// Most table lookups for one packet (OVS caps resubmits at 4,096).
pub const MAX_LOOKUPS: u32 = 4096;
/// Most nested clones / generated packets / multicast copies in depth.
pub const MAX_DEPTH: u32 = 64;
/// OVN's logical registers reg0..reg9 (`MFF_N_LOG_REGS`), cleared between pipelines.
pub const N_LOG_REGS: usize = 10;

/// Options for one execution (tools; the datapath uses the defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOpts {
    /// `select()` member to take when it is one of the members (`ovn-trace --select-id`);
    /// otherwise the member is chosen by a hash of the packet's 5-tuple.
    pub select_id: Option<u16>,
}

/// One table visit, for `southpaw trace`.
pub struct TraceEvent<'a> {
    pub datapath: &'a CompiledDatapath,
    pub pipeline: Pipeline,
    pub table: u8,
    /// Priority and flow that matched, or `None` for a miss.
    pub hit: Option<(u16, &'a FlowInfo)>,
    /// The flow as the table saw it.
    pub flow: &'a Flow,
}

/// The executor's output, reusable between packets.
#[derive(Clone, Debug, Default)]
pub struct ExecResult {
    pub actions: Vec<DpAction>,
    /// Megaflow mask: the bits of the input flow the actions depend on.
    pub mask: Mask,
    /// Table lookups done.
    pub lookups: u32,
}

impl ExecResult {
    pub fn clear(&mut self) {
        self.actions.clear();
        self.mask = Mask::default();
        self.lookups = 0;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub dp: u32,
    pub pipe: Pipeline,
    pub table: u8,
}

/// Where an op list leaves the packet.
#[derive(Clone, Copy)]
pub(crate) enum Ctl {
    Next(Pipeline, u8),
    Output,
    /// Stop; emit a drop with this reason (`None`: already handled, e.g. recirculated).
    End(Option<DropReason>),
}

/// A packet copy being processed: its flow and the bits written since the last emitted
/// [`DpAction::Set`].
#[derive(Clone)]
pub(crate) struct Br {
    pub flow: Flow,
    pub written: Mask,
}

pub(crate) struct Run<'c, 't> {
    pub c: &'c Compiled,
    pub wc: Mask,
    pub lookups: u32,
    pub depth: u32,
    pub trace: Option<&'t mut dyn FnMut(&TraceEvent<'_>)>,
    pub stack: [u128; 16],
    pub sp: usize,
    pub opts: ExecOpts,
}

/// Runs `pkt` (with `DATAPATH` and `INPORT` set, or `RECIRC_ID` from an earlier
/// [`DpAction::Ct`]) through the pipeline. Results go to `out` (cleared first).
pub fn execute(
    c: &Compiled,
    pkt: &Flow,
    out: &mut ExecResult,
    trace: Option<&mut dyn FnMut(&TraceEvent<'_>)>,
) {
    execute_with(c, pkt, out, trace, ExecOpts::default())
}

/// [`execute`] with options.
pub fn execute_with(
    c: &Compiled,
    pkt: &Flow,
    out: &mut ExecResult,
    trace: Option<&mut dyn FnMut(&TraceEvent<'_>)>,
    opts: ExecOpts,
) {
    out.clear();
    let mut run = Run {
        c,
        wc: Mask::default(),
        lookups: 0,
        depth: 0,
        trace,
        stack: [0; 16],
        sp: 0,
        opts,
    };
    let mut br = Br {
        flow: *pkt,
        written: Mask::default(),
    };
    run.wc.add(field::RECIRC_ID);
    let rid = pkt.get(field::RECIRC_ID) as u32;
    let start = if rid != 0 {
        RecircId::decode(rid).and_then(|r| {
            let dp = *c.dp_by_key.get(&r.dp_key)?;
            Some(Pos {
                dp,
                pipe: r.pipeline,
                table: r.table,
            })
        })
    } else {
        run.wc.add(field::DATAPATH);
        c.dp_by_key
            .get(&(pkt.get(field::DATAPATH) as u32))
            .map(|&dp| Pos {
                dp,
                pipe: Pipeline::Ingress,
                table: 0,
            })
    };
    match start {
        Some(pos) => run.pipeline(&mut br, pos, &mut out.actions),
        None => out.actions.push(DpAction::Drop(if rid != 0 {
            DropReason::BadRecircId
        } else {
            DropReason::BadTable
        })),
    }
    out.mask = run.wc;
    out.lookups = run.lookups;
}

impl Run<'_, '_> {
    /// Emits the pending writes of `br` as [`DpAction::Set`]s.
    pub(crate) fn flush(br: &mut Br, out: &mut Vec<DpAction>) {
        // Which words were written, without a branch per word; then only those.
        let mut dirty = 0u32;
        for (i, &m) in br.written.w.iter().enumerate() {
            dirty |= u32::from(m != 0) << i;
        }
        out.reserve(dirty.count_ones() as usize);
        while dirty != 0 {
            let i = dirty.trailing_zeros() as usize & (FLOW_WORDS - 1);
            dirty &= dirty - 1;
            let m = br.written.w[i];
            let len = out.len();
            if len == out.capacity() {
                break; // unreachable: reserved above
            }
            // SAFETY: `len < capacity` (checked above), so the slot at `len` is allocated
            // and unused; it is initialised by the write before `set_len` makes it part of
            // the vector. Written in place, the action is not first assembled on the stack
            // and copied (a copy whose wide loads stall on the narrow stores before them).
            unsafe {
                out.as_mut_ptr().add(len).write(DpAction::Set {
                    word: i as u8,
                    value: br.flow.w[i] & m,
                    mask: m,
                });
                out.set_len(len + 1);
            }
        }
        br.written = Mask::default();
    }

    /// Runs tables from `pos` until the packet leaves, is dropped or recirculates.
    pub(crate) fn pipeline(&mut self, br: &mut Br, mut pos: Pos, out: &mut Vec<DpAction>) {
        loop {
            if self.lookups >= MAX_LOOKUPS {
                out.push(DpAction::Drop(DropReason::TooManyResubmits));
                return;
            }
            self.lookups += 1;
            let c = self.c;
            let Some(dp) = c.datapaths.get(pos.dp as usize) else {
                out.push(DpAction::Drop(DropReason::BadTable));
                return;
            };
            let pi = usize::from(pos.pipe == Pipeline::Egress);
            let ti = usize::from(pos.table);
            let table = dp.tables[pi].get(ti);
            if let Some(t) = table {
                let pass = u32::from(t.pass);
                // Pass-through tables (see `Table::pass`): skip them at once when not
                // tracing; the lookup count stays what visiting each would make it.
                if pass > 0 && self.trace.is_none() && self.lookups + pass <= MAX_LOOKUPS {
                    // The last one says `next;` to a table id <= 255: no overflow.
                    self.lookups += pass - 1;
                    pos.table = pos.table.wrapping_add(pass as u8);
                    continue;
                }
            }
            let hit = table.and_then(|t| self.lookup(dp, pi, t, &br.flow));
            if let Some(tr) = self.trace.as_mut() {
                tr(&TraceEvent {
                    datapath: dp,
                    pipeline: pos.pipe,
                    table: pos.table,
                    hit: hit.map(|(p, e)| (p, &c.flows[e.flow as usize])),
                    flow: &br.flow,
                });
            }
            let Some((_, e)) = hit else {
                out.push(DpAction::Drop(DropReason::NoMatch));
                return;
            };
            if e.next_pipe != 0 {
                // The program is just `next`: what `ops` would return.
                pos.pipe = if e.next_pipe == 2 {
                    Pipeline::Egress
                } else {
                    Pipeline::Ingress
                };
                pos.table = e.next_table;
                continue;
            }
            let ops = c
                .ops
                .get(e.ops_at as usize..)
                .and_then(|o| o.get(..e.n_ops as usize))
                .unwrap_or(&[]);
            let ctl = self.ops(br, pos, ops, e.flow, out);
            match ctl {
                Ctl::Next(p, t) => {
                    pos = Pos {
                        dp: pos.dp,
                        pipe: p,
                        table: t,
                    }
                }
                Ctl::Output => match self.output(br, pos, out) {
                    Some(p) => pos = p,
                    None => return,
                },
                Ctl::End(r) => {
                    if let Some(r) = r {
                        out.push(DpAction::Drop(r));
                    }
                    return;
                }
            }
        }
    }

    /// Table `t` of `dp`'s pipeline `pi`: the winning entry, after residual
    /// checks.
    #[inline(always)]
    fn lookup<'c>(
        &mut self,
        dp: &'c CompiledDatapath,
        pi: usize,
        t: &crate::compile::Table,
        f: &Flow,
    ) -> Option<(u16, &'c Entry)> {
        let entries = dp.entries[pi].get(t.entries_at as usize..)?;
        if let Some((prio, e)) = t.only {
            return entries.get(e as usize).map(|e| (prio, e));
        }
        let m = dp.cls[pi].member_at(t.cls);
        let mut after = None;
        loop {
            let h = m.lookup_after(f, &mut self.wc, after)?;
            let e = entries.get(h.payload as usize)?;
            if e.residual == NO_RESIDUAL {
                return Some((h.priority, e));
            }
            match self.c.residuals.get(e.residual as usize) {
                Some(r) if !r.eval(f, &mut self.wc) => after = Some(h.cursor),
                _ => return Some((h.priority, e)),
            }
        }
    }

    /// Continues after an op list ended with `ctl` (used for copies).
    pub(crate) fn follow(&mut self, br: &mut Br, pos: Pos, ctl: Ctl, out: &mut Vec<DpAction>) {
        match ctl {
            Ctl::Next(p, t) => self.pipeline(
                br,
                Pos {
                    dp: pos.dp,
                    pipe: p,
                    table: t,
                },
                out,
            ),
            Ctl::Output => {
                if let Some(p) = self.output(br, pos, out) {
                    self.pipeline(br, p, out)
                }
            }
            Ctl::End(r) => {
                if let Some(r) = r {
                    out.push(DpAction::Drop(r));
                }
            }
        }
    }

    fn set(br: &mut Br, f: crate::flow::Field, v: u64) {
        br.flow.set(f, v);
        br.written.add(f);
    }

    /// `output` from `pos`: where the packet goes next (`None`: it left or was dropped).
    fn output(&mut self, br: &mut Br, pos: Pos, out: &mut Vec<DpAction>) -> Option<Pos> {
        let c = self.c;
        let dp = c.datapaths.get(pos.dp as usize)?;
        self.wc.add(field::OUTPORT);
        let outport = br.flow.get(field::OUTPORT) as u32;
        let egress0 = Pos {
            dp: pos.dp,
            pipe: Pipeline::Egress,
            table: 0,
        };
        if pos.pipe == Pipeline::Ingress {
            self.wc.add(field::INPORT);
            let inport = br.flow.get(field::INPORT) as u32;
            if outport >= 32768 {
                self.multicast(br, dp, outport, inport, egress0, out);
                return None;
            }
            let Some(p) = c.ports.get(&(dp.key, outport)) else {
                out.push(DpAction::Drop(DropReason::UnknownOutport));
                return None;
            };
            let mut outport = outport;
            match &p.kind {
                PortKind::Remote { chassis } => {
                    Run::flush(br, out);
                    out.push(DpAction::Tunnel {
                        chassis: chassis.clone(),
                        dp_key: dp.key,
                        in_port_key: inport,
                        out_port_key: outport,
                    });
                    return None;
                }
                PortKind::ChassisRedirect {
                    distributed,
                    chassis,
                } => match chassis {
                    Some(ch) if *ch != self.local_chassis() => {
                        Run::flush(br, out);
                        out.push(DpAction::Tunnel {
                            chassis: ch.clone(),
                            dp_key: dp.key,
                            in_port_key: inport,
                            out_port_key: outport,
                        });
                        return None;
                    }
                    Some(_) => {
                        outport = *distributed;
                        Run::set(br, field::OUTPORT, u64::from(outport));
                    }
                    None => {
                        out.push(DpAction::Drop(DropReason::Unbound));
                        return None;
                    }
                },
                _ => {}
            }
            if outport == inport && !self.loopback(br) {
                out.push(DpAction::Drop(DropReason::Loopback));
                return None;
            }
            Run::clear_log_regs(br);
            return Some(egress0);
        }
        let Some(p) = c.ports.get(&(dp.key, outport)) else {
            out.push(DpAction::Drop(DropReason::UnknownOutport));
            return None;
        };
        match &p.kind {
            PortKind::Local | PortKind::Localnet { .. } => {
                Run::flush(br, out);
                let vlan = match p.kind {
                    PortKind::Localnet { vlan } => vlan,
                    _ => None,
                };
                out.push(DpAction::Output {
                    dp_key: dp.key,
                    port_key: outport,
                    vlan,
                });
                None
            }
            PortKind::Remote { chassis } => {
                Run::flush(br, out);
                self.wc.add(field::INPORT);
                out.push(DpAction::Tunnel {
                    chassis: chassis.clone(),
                    dp_key: dp.key,
                    in_port_key: br.flow.get(field::INPORT) as u32,
                    out_port_key: outport,
                });
                None
            }
            PortKind::Patch { peer_dp, peer_key } => {
                let Some(&pdp) = c.dp_by_key.get(peer_dp) else {
                    out.push(DpAction::Drop(DropReason::BadTable));
                    return None;
                };
                // physical.c's patch flow: ct_clear, then the peer's ingress metadata
                // with flags, outport and reg0..reg9 zeroed.
                Run::ct_clear(br, out);
                Run::clear_log_regs(br);
                Run::set(br, field::FLAGS, 0);
                Run::set(br, field::OUTPORT, 0);
                Run::set(br, field::DATAPATH, u64::from(*peer_dp));
                Run::set(br, field::INPORT, u64::from(*peer_key));
                Some(Pos {
                    dp: pdp,
                    pipe: Pipeline::Ingress,
                    table: 0,
                })
            }
            PortKind::Unbound => {
                out.push(DpAction::Drop(DropReason::Unbound));
                None
            }
            PortKind::ChassisRedirect { .. } => {
                out.push(DpAction::Drop(DropReason::UnsupportedPort));
                None
            }
        }
    }

    /// Zeroes reg0..reg9, as OVN does on entering an egress pipeline or a patch peer.
    fn clear_log_regs(br: &mut Br) {
        for r in 0..N_LOG_REGS {
            Run::set(br, field::reg(r), 0);
        }
    }

    /// `ct_clear`: zeroes the conntrack fields and tells the datapath.
    pub(crate) fn ct_clear(br: &mut Br, out: &mut Vec<DpAction>) {
        for f in [field::CT_STATE, field::CT_ZONE, field::CT_MARK] {
            Run::set(br, f, 0);
        }
        br.flow.set128(field::CT_LABEL, 0);
        br.written.add128(field::CT_LABEL);
        Run::flush(br, out);
        out.push(DpAction::CtClear);
    }

    fn local_chassis(&self) -> &str {
        &self.c.chassis
    }

    fn loopback(&mut self, br: &Br) -> bool {
        self.wc.add_bits(field::FLAGS, 1);
        br.flow.get(field::FLAGS) & 1 != 0
    }

    fn multicast(
        &mut self,
        br: &mut Br,
        dp: &CompiledDatapath,
        group: u32,
        inport: u32,
        egress0: Pos,
        out: &mut Vec<DpAction>,
    ) {
        let c = self.c;
        let Some(members) = c.mcast.get(&(dp.key, group)) else {
            out.push(DpAction::Drop(DropReason::UnknownOutport));
            return;
        };
        if self.depth >= MAX_DEPTH {
            out.push(DpAction::Drop(DropReason::TooManyResubmits));
            return;
        }
        Run::flush(br, out);
        let loopback = self.loopback(br);
        let mut tunnels: Vec<&str> = Vec::new();
        let mut copies = 0;
        self.depth += 1;
        for &m in members {
            if m == inport && !loopback {
                continue;
            }
            match c.ports.get(&(dp.key, m)).map(|p| &p.kind) {
                Some(PortKind::Remote { chassis }) => {
                    if !tunnels.contains(&chassis.as_str()) {
                        tunnels.push(chassis);
                    }
                    continue;
                }
                Some(PortKind::Unbound) | None => continue,
                _ => {}
            }
            let mut b2 = br.clone();
            Run::set(&mut b2, field::OUTPORT, u64::from(m));
            Run::clear_log_regs(&mut b2);
            let mut sub = Vec::new();
            self.pipeline(&mut b2, egress0, &mut sub);
            out.push(DpAction::Clone(sub));
            copies += 1;
        }
        self.depth -= 1;
        if copies == 0 && tunnels.is_empty() {
            out.push(DpAction::Drop(DropReason::EmptyMulticast));
        }
        for ch in tunnels {
            out.push(DpAction::Tunnel {
                chassis: ch.to_string(),
                dp_key: dp.key,
                in_port_key: inport,
                out_port_key: group,
            });
        }
    }
}
