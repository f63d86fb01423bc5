//! Datapath actions in the form a worker runs them: the executor's [`DpAction`] list is
//! compiled once on the slow path into [`DpActs`] (stored in the megaflow entry), and
//! [`run`] applies that to each packet of the flow.
//!
//! Compilation flattens the list: every `Set` the executor emits is a constant, so the
//! header fields a packet carries at each `Output` are fully known up front. Each
//! [`OutStep`] holds the merged writes in effect at that output (per word: value, mask),
//! the [`Rewrite`] bits they touch, and the backend port resolved from the logical
//! (datapath, port) pair through the worker's port map. `Clone` lists become more
//! outputs with their own writes.
//!
//! At run time: every output but the last gets a copy of the untouched frame, the last
//! gets the frame itself; each copy is rewritten in place (incremental checksums, see
//! [`crate::extract::apply`]) and pushed onto its port's TX batch. No allocation.
//!
//! Conntrack ([`Step::Ct`], see [`ct`]): the packet (with the writes in effect) goes
//! through the shared [`conntrack::Conntrack`]; with a recirculation id the worker then
//! runs the cache lookup again on the flow with the `ct_*` fields and `recirc_id` filled
//! in (NAT rewrites applied to flow and frame); without one (`ct_commit`) it only commits
//! and the list continues. A worker without a conntrack counts such packets as
//! [`Cause::ConntrackNotIntegrated`].
//!
//! Generated packets ([`Step::Generate`], see [`generate`]): ICMP errors, TCP RST, ARP
//! requests and ND NS/NA are built into a fresh frame and run through their own
//! compiled nested list.
//!
//! Not integrated yet, each a counted [`Cause`]: Geneve tunnels to other chassis, SCTP
//! ABORT generation, controller actions that pause the packet, VLAN push for localnet.
//! Event-only controller actions (`put_arp`, `log`, ...) let the packet continue (their
//! side effect is skipped).

pub mod ct;
pub mod generate;

use pipeline::dpaction::{ControllerOp, DpAction, DropReason as PDrop};
use pipeline::flow::{Flow, FLOW_WORDS};
use std::rc::Rc;

use crate::counters::{DropReason, WorkerCounters};
use crate::extract::{apply, ApplyError, Layout, Rewrite};
use crate::io::{Backend, Batch, Frame, PortId};

/// Why a packet copy produced no output: the pipeline's reasons, made more specific
/// where the datapath can tell, plus what the datapath does not support yet. Counted per
/// worker next to [`WorkerCounters`] (where all of these are `pipeline-drop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cause {
    NoMatch,
    Explicit,
    /// An explicit drop in a port-security stage (`*_port_sec*`).
    PortSecurity,
    EndOfActions,
    Loopback,
    UnknownOutport,
    TooManyResubmits,
    BadTable,
    UnsupportedPort,
    BadRecircId,
    TtlExpired,
    Unbound,
    /// A multicast group with no member other than the inport.
    EmptyMulticast,
    /// `ct_next`/`ct_lb`/NAT on a worker that has no conntrack.
    ConntrackNotIntegrated,
    /// A NAT the datapath cannot write in place (ICMP ids, IPv6 ports, ...).
    NatUnsupported,
    /// Output to a port on another chassis: Geneve not wired in yet.
    TunnelNotIntegrated,
    /// A packet the pipeline builds that the datapath does not build (SCTP ABORT)
    /// or cannot build from this original (see [`generate`]).
    GenerateNotIntegrated,
    /// A controller action that holds the packet (DHCP, DNS, ...).
    ControllerNotIntegrated,
    /// Localnet output with a VLAN tag to push.
    VlanPushNotSupported,
    /// Output to a local port this worker has no backend port for.
    NoLocalPort,
    /// No compiled pipeline published yet, or the input port has no logical binding.
    NoPipeline,
}

impl Cause {
    /// Every cause, in index order.
    pub const ALL: &'static [Cause] = &[
        Cause::NoMatch,
        Cause::Explicit,
        Cause::PortSecurity,
        Cause::EndOfActions,
        Cause::Loopback,
        Cause::UnknownOutport,
        Cause::TooManyResubmits,
        Cause::BadTable,
        Cause::UnsupportedPort,
        Cause::BadRecircId,
        Cause::TtlExpired,
        Cause::Unbound,
        Cause::EmptyMulticast,
        Cause::ConntrackNotIntegrated,
        Cause::NatUnsupported,
        Cause::TunnelNotIntegrated,
        Cause::GenerateNotIntegrated,
        Cause::ControllerNotIntegrated,
        Cause::VlanPushNotSupported,
        Cause::NoLocalPort,
        Cause::NoPipeline,
    ];
    /// Number of causes.
    pub const COUNT: usize = Self::ALL.len();

    /// Stable name for stats output.
    pub const fn name(self) -> &'static str {
        match self {
            Cause::NoMatch => "no-match",
            Cause::Explicit => "explicit-drop",
            Cause::PortSecurity => "port-security",
            Cause::EndOfActions => "end-of-actions",
            Cause::Loopback => "loopback",
            Cause::UnknownOutport => "unknown-outport",
            Cause::TooManyResubmits => "too-many-resubmits",
            Cause::BadTable => "bad-table",
            Cause::UnsupportedPort => "unsupported-port",
            Cause::BadRecircId => "bad-recirc-id",
            Cause::TtlExpired => "ttl-expired",
            Cause::Unbound => "unbound",
            Cause::EmptyMulticast => "empty-multicast",
            Cause::ConntrackNotIntegrated => "conntrack-not-integrated",
            Cause::NatUnsupported => "nat-unsupported",
            Cause::TunnelNotIntegrated => "tunnel-not-integrated",
            Cause::GenerateNotIntegrated => "generate-not-integrated",
            Cause::ControllerNotIntegrated => "controller-not-integrated",
            Cause::VlanPushNotSupported => "vlan-push-not-supported",
            Cause::NoLocalPort => "no-local-port",
            Cause::NoPipeline => "no-pipeline",
        }
    }

    /// Index into [`CauseCounters`].
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    fn from_pipeline(r: PDrop, port_sec: bool) -> Cause {
        match r {
            PDrop::NoMatch => Cause::NoMatch,
            PDrop::Explicit if port_sec => Cause::PortSecurity,
            PDrop::Explicit => Cause::Explicit,
            PDrop::EndOfActions => Cause::EndOfActions,
            PDrop::Loopback => Cause::Loopback,
            PDrop::UnknownOutport => Cause::UnknownOutport,
            PDrop::TooManyResubmits => Cause::TooManyResubmits,
            PDrop::BadTable => Cause::BadTable,
            PDrop::UnsupportedPort => Cause::UnsupportedPort,
            PDrop::BadRecircId => Cause::BadRecircId,
            PDrop::TtlExpired => Cause::TtlExpired,
            PDrop::Unbound => Cause::Unbound,
            PDrop::EmptyMulticast => Cause::EmptyMulticast,
        }
    }
}

/// Per-cause drop counters of one worker.
pub type CauseCounters = [u64; Cause::COUNT];

/// One output: where, and the header writes in effect there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutStep {
    pub port: PortId,
    /// `(word, value, mask)`, one per written word.
    pub sets: Box<[(u8, u64, u64)]>,
    /// Header fields `sets` touch (empty: the frame goes out unchanged).
    pub rewrite: Rewrite,
    /// The written values when `sets` cover every bit of every field in `rewrite` (the
    /// usual case: whole MACs, TTL, addresses): then the new header values do not
    /// depend on the packet and [`rewrite`] applies them without copying the flow.
    /// `None` when a field is only partly written (e.g. DSCP without ECN).
    pub consts: Option<Box<Flow>>,
}

/// One thing to do with (a copy of) the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Transmit a copy.
    Output(OutStep),
    /// Conntrack; `recirc: Some` consumes a copy and recirculates it, `None` commits and
    /// continues. `out.port` is unused.
    Ct {
        out: OutStep,
        spec: ct::CtSpec,
        recirc: Option<u32>,
    },
    /// Build a new packet from (a view of) this one and run the nested actions on it;
    /// the original is not consumed. See [`generate`].
    Generate(Box<generate::GenStep>),
}

impl Step {
    /// True if the step takes a copy of the frame (the last such step takes the frame).
    pub fn consumes(&self) -> bool {
        !matches!(self, Step::Ct { recirc: None, .. } | Step::Generate(_))
    }
}

/// Compiled actions of one megaflow (shared with the worker's run loop by `Rc`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpActs {
    pub steps: Box<[Step]>,
    /// Index of the last step that consumes the frame (`usize::MAX`: none).
    pub last: usize,
    /// The first reason a copy went nowhere; counted when no step consumes the frame.
    pub cause: Option<Cause>,
}

/// What the megaflow cache stores.
pub type ActsRef = Rc<DpActs>;

/// Compiles the executor's list. `port_of(dp_key, port_key)` maps a local logical port to
/// the worker's backend port; `port_sec` says the last table that matched was a
/// port-security stage (refines an explicit drop into [`Cause::PortSecurity`]).
pub fn compile(
    list: &[DpAction],
    port_of: &dyn Fn(u32, u32) -> Option<PortId>,
    port_sec: bool,
) -> DpActs {
    let mut c = Compiler {
        port_of,
        port_sec,
        steps: Vec::new(),
        cause: None,
    };
    c.list(list, [(0, 0); FLOW_WORDS]);
    let last = c
        .steps
        .iter()
        .rposition(Step::consumes)
        .unwrap_or(usize::MAX);
    DpActs {
        steps: c.steps.into_boxed_slice(),
        last,
        cause: c.cause,
    }
}

struct Compiler<'a> {
    port_of: &'a dyn Fn(u32, u32) -> Option<PortId>,
    port_sec: bool,
    steps: Vec<Step>,
    cause: Option<Cause>,
}

impl Compiler<'_> {
    fn note(&mut self, c: Cause) {
        self.cause.get_or_insert(c);
    }

    fn list(&mut self, list: &[DpAction], mut sets: [(u64, u64); FLOW_WORDS]) {
        for a in list {
            match a {
                DpAction::Set { word, value, mask } => {
                    if let Some(s) = sets.get_mut(*word as usize) {
                        s.0 = (s.0 & !mask) | (value & mask);
                        s.1 |= mask;
                    }
                }
                DpAction::Output {
                    dp_key,
                    port_key,
                    vlan,
                } => {
                    if vlan.is_some() {
                        self.note(Cause::VlanPushNotSupported);
                        continue;
                    }
                    let Some(port) = (self.port_of)(*dp_key, *port_key) else {
                        self.note(Cause::NoLocalPort);
                        continue;
                    };
                    self.steps.push(Step::Output(out_step(port, &sets)));
                }
                DpAction::Tunnel { .. } => self.note(Cause::TunnelNotIntegrated),
                DpAction::Ct {
                    zone,
                    commit,
                    nat,
                    mark,
                    label,
                    recirc_id,
                } => {
                    let spec = ct::CtSpec::new(*zone, *commit, nat.as_ref(), *mark, *label);
                    self.steps.push(Step::Ct {
                        out: out_step(0, &sets),
                        spec,
                        recirc: *recirc_id,
                    });
                    if recirc_id.is_some() {
                        return;
                    }
                }
                DpAction::CtClear => {}
                DpAction::Clone(inner) => self.list(inner, sets),
                DpAction::Generate { kind, actions } => {
                    let acts = compile(actions, self.port_of, self.port_sec);
                    self.steps.push(Step::Generate(Box::new(generate::GenStep {
                        kind: *kind,
                        out: out_step(0, &sets),
                        acts: ActsRef::new(acts),
                    })));
                }
                DpAction::Controller { op, resume } => {
                    let holds = resume.is_some() || matches!(op, ControllerOp::Paused { .. });
                    if holds {
                        self.note(Cause::ControllerNotIntegrated);
                        return;
                    }
                }
                DpAction::Drop(r) => {
                    let c = Cause::from_pipeline(*r, self.port_sec);
                    self.note(c);
                    return;
                }
            }
        }
    }
}

fn out_step(port: PortId, sets: &[(u64, u64); FLOW_WORDS]) -> OutStep {
    let mut touched = Flow::default();
    let mut list = Vec::new();
    for (i, &(v, m)) in sets.iter().enumerate() {
        if m != 0 {
            touched.w[i] = m;
            list.push((i as u8, v, m));
        }
    }
    let rewrite = Rewrite::diff(&Flow::default(), &touched);
    let consts = (!rewrite.is_empty() && rewrite.covered_by(&touched)).then(|| {
        let mut c = Flow::default();
        for &(i, v, m) in &list {
            c.w[i as usize] = v & m;
        }
        Box::new(c)
    });
    OutStep {
        port,
        sets: list.into_boxed_slice(),
        rewrite,
        consts,
    }
}

/// Where [`run`] puts frames and counts.
pub struct Sink<'a, B: Backend> {
    pub backend: &'a mut B,
    /// One TX batch per backend port; a full batch is sent at once.
    pub tx: &'a mut [Batch],
    pub counters: &'a mut WorkerCounters,
    pub causes: &'a mut CauseCounters,
}

impl<B: Backend> Sink<'_, B> {
    #[inline]
    pub fn send(&mut self, port: PortId, frame: Frame) {
        let Some(batch) = self.tx.get_mut(port as usize) else {
            self.counters.drop(DropReason::PortDown);
            self.backend.free(frame);
            return;
        };
        if let Err(frame) = batch.push(frame) {
            self.backend.tx_burst(port, batch);
            if let Err(frame) = batch.push(frame) {
                self.counters.drop(DropReason::TxFull);
                self.backend.free(frame);
            }
        }
    }

    /// Frees `frame`, counting `cause`.
    #[inline]
    pub fn drop_frame(&mut self, frame: Frame, cause: Cause) {
        self.counters.drop(DropReason::PipelineDrop);
        self.causes[cause.index()] += 1;
        self.backend.free(frame);
    }
}

/// Applies the writes of `step` to `work` (a copy of the packet's flow).
#[inline]
pub fn apply_sets(step: &OutStep, work: &mut Flow) {
    for &(w, v, m) in step.sets.iter() {
        if let Some(x) = work.w.get_mut(w as usize) {
            *x = (*x & !m) | (v & m);
        }
    }
}

/// Rewrites `frame` (parsed as `flow`) for `step` and queues it on the step's port.
#[inline]
pub fn emit<B: Backend>(
    step: &OutStep,
    mut frame: Frame,
    flow: &Flow,
    lay: &Layout,
    sink: &mut Sink<'_, B>,
) {
    if let Err(e) = rewrite(step, frame.data_mut(), flow, lay) {
        sink.counters.drop(e.drop_reason());
        sink.backend.free(frame);
        return;
    }
    sink.send(step.port, frame);
}

/// The frame side of [`emit`]: rewrites `data` (parsed as `flow`, headers where `lay`
/// says) with the writes of `step`, checksums updated. Nothing to do when `step` writes
/// no header field.
#[inline]
pub fn rewrite(
    step: &OutStep,
    data: &mut [u8],
    flow: &Flow,
    lay: &Layout,
) -> Result<(), ApplyError> {
    if step.rewrite.is_empty() {
        return Ok(());
    }
    // `apply` reads only the fields named by `step.rewrite`: fully written, they are
    // the constants.
    if let Some(c) = &step.consts {
        return apply(data, lay, c, step.rewrite);
    }
    let mut work = *flow;
    apply_sets(step, &mut work);
    apply(data, lay, &work, step.rewrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract;
    use crate::wire::{checksum, ipv4, udp};
    use pipeline::flow::{field, Field};

    fn udp4() -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let mut ip = ipv4::Packet::new_unchecked(&mut b[14..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len(50);
        ip.set_ttl(64);
        ip.set_tos(0x1d);
        ip.set_protocol(17);
        ip.set_src(0x0a00_0001);
        ip.set_dst(0x0a00_0002);
        ip.fill_checksum();
        let mut u = udp::Packet::new_unchecked(&mut b[34..]);
        u.set_src_port(1000);
        u.set_dst_port(53);
        u.set_len(30);
        u.fill_checksum(checksum::pseudo_v4(0x0a00_0001, 0x0a00_0002, 17, 30));
        b
    }

    fn set(f: Field, v: u64) -> DpAction {
        DpAction::Set {
            word: f.word,
            value: v << f.shift,
            mask: f.word_mask(),
        }
    }

    fn step(list: &[DpAction]) -> OutStep {
        let acts = compile(list, &|_, _| Some(3), false);
        match &acts.steps[0] {
            Step::Output(o) => o.clone(),
            s => panic!("{s:?}"),
        }
    }

    /// `rewrite` with precomputed constants writes the same bytes as through a copy of
    /// the flow; a partly written field gets no constants.
    #[test]
    fn constant_rewrites_match_the_flow_path() {
        let out = DpAction::Output {
            dp_key: 1,
            port_key: 2,
            vlan: None,
        };
        let full = step(&[
            set(field::ETH_SRC, 0x0200_0000_00aa),
            set(field::IP_TTL, 63),
            set(field::IP4_DST, 0x0a00_0009),
            out.clone(),
        ]);
        assert!(full.consts.is_some());
        let partial = step(&[set(field::IP_DSCP, 0x2e), out]);
        assert!(partial.consts.is_none(), "DSCP leaves ECN to the packet");
        for s in [full, partial] {
            let (mut a, mut b) = (udp4(), udp4());
            let mut f = Flow::default();
            let lay = extract(&a, 1, &mut f).unwrap();
            rewrite(&s, &mut a, &f, &lay).unwrap();
            let slow = OutStep {
                consts: None,
                ..s.clone()
            };
            rewrite(&slow, &mut b, &f, &lay).unwrap();
            assert_eq!(a, b);
            assert_ne!(a, udp4(), "something was written");
            let mut g = Flow::default();
            extract(&a, 1, &mut g).unwrap();
            let mut want = f;
            apply_sets(&s, &mut want);
            assert_eq!(g, want, "the frame reads back as the written flow");
        }
    }
}
