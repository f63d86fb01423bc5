//! Control requests that need a worker's private state (its EMC and megaflow cache):
//! dump the megaflows, flush the caches, trace a packet through the live caches.
//!
//! The control side holds a [`CtlHandle`] (in [`super::WorkerStats::ctl`]); a request goes
//! through a bounded channel ([`QUEUE`] deep) that the worker polls between batches, never
//! per packet (one `try_recv` per loop: a few atomic loads when empty), and the answer
//! comes back on a one-slot channel. An idle worker sees a request within its idle wait.
//!
//! A traced packet runs through the same three tiers as a received one and may install a
//! megaflow and an EMC entry, but is never transmitted, not counted in the tiers, and its
//! conntrack steps are not executed (the trace stops at the first recirculation).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use pipeline::flow::{field, Flow};

use super::{Ctx, Worker};
use crate::counters::{Tier, WorkerCounters};
use crate::extract::{extract_into, Layout};
use crate::io::{Backend, PortId};

pub use super::ctl_fmt::{format_actions, format_match, Names};

/// Requests queued per worker before [`CtlHandle::request`] reports the worker busy.
pub const QUEUE: usize = 16;

/// What a worker can be asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtlRequest {
    /// Every megaflow entry (current and stale epochs).
    DumpMegaflows,
    /// Empty the EMC and the megaflow cache.
    Flush,
    /// Run `packet` as if received on backend port `port`, without sending it.
    Trace { port: PortId, packet: Vec<u8> },
    /// The same for a microflow (header fields; the port sets the logical datapath and
    /// inport).
    TraceFlow { port: PortId, flow: Box<Flow> },
}

/// One megaflow entry, formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MegaflowLine {
    /// The masked match, OVN field names (see [`format_match`]).
    pub matches: String,
    pub hits: u64,
    /// Milliseconds since the last hit (or the insertion).
    pub idle_ms: u64,
    pub epoch: u64,
    /// Built under the epoch in use (stale entries die on their next lookup).
    pub current: bool,
    pub actions: String,
}

/// The outcome of a traced packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceReply {
    /// The tier that answered (`upcall`: the slow path ran and installed a megaflow).
    pub tier: Tier,
    pub epoch: u64,
    /// The packet: logical datapath and inport (from the port it came in on), then its
    /// header fields as `ovn-trace` prints them.
    pub flow: String,
    /// The megaflow entry that now covers the packet, if any.
    pub megaflow: Option<String>,
    /// The datapath actions (see [`super::ctl_fmt::format_actions`]).
    pub actions: String,
}

/// A worker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtlReply {
    Megaflows {
        epoch: u64,
        flows: Vec<MegaflowLine>,
    },
    Flushed {
        emc: usize,
        megaflows: usize,
    },
    Trace(TraceReply),
    Error(String),
}

pub(super) struct CtlMsg {
    req: CtlRequest,
    reply: SyncSender<CtlReply>,
}

/// The worker's end of the control channel.
pub struct CtlInbox {
    rx: Receiver<CtlMsg>,
}

/// The control side's end: cheap to share (`&self` methods, `Sync`). The default handle
/// has no worker behind it and answers every request with an error.
#[derive(Default)]
pub struct CtlHandle {
    tx: Option<SyncSender<CtlMsg>>,
}

/// A connected pair.
pub fn channel() -> (CtlHandle, CtlInbox) {
    let (tx, rx) = sync_channel(QUEUE);
    (CtlHandle { tx: Some(tx) }, CtlInbox { rx })
}

impl CtlHandle {
    /// Sends `req` and waits up to `timeout` for the answer.
    pub fn request(&self, req: CtlRequest, timeout: Duration) -> Result<CtlReply, String> {
        let Some(tx) = &self.tx else {
            return Err("this worker takes no control requests".into());
        };
        let (reply, answer) = sync_channel(1);
        match tx.try_send(CtlMsg { req, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(format!("worker busy: {QUEUE} control requests queued"))
            }
            Err(TrySendError::Disconnected(_)) => return Err("worker has stopped".into()),
        }
        answer
            .recv_timeout(timeout)
            .map_err(|_| format!("worker did not answer within {timeout:?}"))
    }
}

impl<B: Backend> Worker<B> {
    /// A new control channel for this worker (replacing any earlier one); requests are
    /// answered by [`Self::serve_ctl`], which [`Self::run`] calls between batches.
    pub fn ctl_handle(&mut self) -> CtlHandle {
        let (h, inbox) = channel();
        self.inbox = Some(inbox);
        h
    }

    pub(super) fn set_inbox(&mut self, inbox: CtlInbox) {
        self.inbox = Some(inbox);
    }

    /// Answers every queued control request (between batches). Returns how many.
    pub fn serve_ctl(&mut self) -> usize {
        let mut n = 0;
        loop {
            let msg = match self.inbox.as_ref().map(|i| i.rx.try_recv()) {
                Some(Ok(m)) => m,
                Some(Err(TryRecvError::Empty)) | None => return n,
                Some(Err(TryRecvError::Disconnected)) => {
                    self.inbox = None;
                    return n;
                }
            };
            let reply = self.answer(msg.req);
            // The requester may have given up waiting; nothing to do then.
            let _ = msg.reply.try_send(reply);
            n += 1;
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn answer(&mut self, req: CtlRequest) -> CtlReply {
        match req {
            CtlRequest::DumpMegaflows => self.dump_megaflows(),
            CtlRequest::Flush => {
                let emc = self.emc.count(self.epoch);
                let megaflows = self.mf.len();
                self.emc.clear();
                self.mf.clear();
                self.stats
                    .megaflows
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                CtlReply::Flushed { emc, megaflows }
            }
            CtlRequest::Trace { port, packet } => {
                let mut flow = Flow::default();
                let mut lay = Layout::default();
                match extract_into(&packet, u32::from(port), &mut flow, &mut lay) {
                    Ok(()) => self.trace_reply(port, flow),
                    Err(r) => CtlReply::Error(format!("packet not parsed: {r}")),
                }
            }
            CtlRequest::TraceFlow { port, mut flow } => {
                flow.set(field::IN_PORT, u64::from(port));
                self.trace_reply(port, *flow)
            }
        }
    }

    fn dump_megaflows(&self) -> CtlReply {
        let now = self.now_ms();
        let names = Names {
            compiled: self.compiled.as_deref(),
        };
        let mut flows: Vec<MegaflowLine> = self
            .mf
            .iter()
            .map(|(_, key, mask, acts, info)| MegaflowLine {
                matches: format_match(key, mask, names),
                hits: info.hits,
                idle_ms: now.saturating_sub(info.last_used),
                epoch: info.epoch,
                current: info.epoch == self.epoch,
                actions: format_actions(acts, &self.snap.ports, names, Some((key, mask))),
            })
            .collect();
        flows.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.matches.cmp(&b.matches)));
        CtlReply::Megaflows {
            epoch: self.epoch,
            flows,
        }
    }

    fn trace_reply(&mut self, port: PortId, flow: Flow) -> CtlReply {
        match self.trace(port, flow) {
            Ok(t) => CtlReply::Trace(t),
            Err(e) => CtlReply::Error(e),
        }
    }

    fn trace(&mut self, port: PortId, mut flow: Flow) -> Result<TraceReply, String> {
        let Some(compiled) = self.compiled.clone() else {
            return Err("no pipeline compiled yet".into());
        };
        let Some(&(dp, lport)) = self.in_map.get(port as usize) else {
            return Err(format!(
                "no local port {port} (this worker has {})",
                self.in_map.len()
            ));
        };
        flow.set(field::DATAPATH, u64::from(dp));
        flow.set(field::INPORT, u64::from(lport));
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let mut scratch = WorkerCounters::new();
        let acts = {
            let mut ctx = Ctx {
                compiled: Some(&compiled),
                epoch: self.epoch,
                now: now_ns / 1_000_000,
                in_map: &self.in_map,
                emc: &mut self.emc,
                mf: &mut self.mf,
                exec: &mut self.exec,
                ct: None,
                now_ns,
                recircs: &mut 0,
            };
            ctx.lookup(
                &compiled,
                &crate::key::FlowKey::from_flow(&flow),
                Some(&mut scratch),
            )
        };
        let tier = Tier::ALL
            .iter()
            .copied()
            .find(|t| scratch.tiers[t.index()] != 0)
            .unwrap_or(Tier::Lost);
        let names = Names {
            compiled: Some(&compiled),
        };
        let entry = self
            .mf
            .iter()
            .find(|(_, key, mask, _, info)| info.epoch == self.epoch && flow.masked(mask) == **key)
            .map(|(_, key, mask, _, _)| (format_match(key, mask, names), *mask));
        let (megaflow, megaflow_mask) = match entry {
            Some((text, mask)) => (Some(text), mask),
            None => (
                None,
                pipeline::flow::Mask {
                    w: [u64::MAX; pipeline::flow::FLOW_WORDS],
                },
            ),
        };
        let mut meta = pipeline::flow::Mask::default();
        meta.add(field::DATAPATH);
        meta.add(field::INPORT);
        let mut text = format_match(&flow, &meta, names);
        for (name, value) in pipeline::trace_fmt::packet_fields(&flow) {
            text.push_str(&format!(",{name}={value}"));
        }
        Ok(TraceReply {
            tier,
            epoch: self.epoch,
            flow: text,
            megaflow,
            actions: format_actions(
                &acts,
                &self.snap.ports,
                names,
                Some((&flow, &megaflow_mask)),
            ),
        })
    }
}
