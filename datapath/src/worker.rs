//! The worker loop: one thread, one backend, its own caches; receives bursts, decides,
//! rewrites, transmits.
//!
//! Per packet, three tiers, fastest first (each packet is counted in exactly one
//! [`Tier`]):
//! 1. **Exact-match cache** ([`crate::emc`]): the whole microflow, hashed once; a hit
//!    names a megaflow entry, which is re-checked (generation + epoch). The microflow is
//!    one [`FlowKey`] reused for every received packet: the extractor rewrites the words
//!    the frame populates, zeroes the ones the previous packet left (so the flow is
//!    always complete and exact), and sums the hash as it goes.
//! 2. **Megaflow cache** ([`crate::megaflow`]): wildcarded entries, one subtable per mask.
//! 3. **Slow path**: the pipeline executor ([`pipeline::exec::execute`]) runs the compiled
//!    logical pipeline; its datapath actions are compiled ([`crate::actions::compile`])
//!    and installed as a megaflow `(flow & mask, mask) → actions`, and the EMC learns it.
//!
//! Before the lookup the worker does what ovn-controller's physical table 0 does: sets the
//! logical `DATAPATH` and `INPORT` from the backend port the packet came in on.
//!
//! Conntrack: a `ct` step sends the packet through the shared [`Conntrack`] and, with a
//! recirculation id, runs the three tiers again on the resulting flow (`recirc_id`,
//! `ct_state`, ... set), at most [`MAX_RECIRC`] times per packet. Tiers count the first
//! pass only (one tier per received packet); recirculated passes are counted apart.
//!
//! Between batches the worker polls its [`DpSubscriber`] (one atomic load when nothing
//! changed). A new snapshot brings a new epoch: EMC and megaflow entries of older epochs
//! are never used again (they die lazily), so no packet taken after adoption is forwarded
//! by a stale rule. If the snapshot's set of local interfaces differs, the backend is
//! closed and reopened (AF_XDP sockets and XDP programs) through the worker's opener, and
//! only then is the epoch reported as adopted.
//!
//! The per-packet path does not allocate, lock, log or make system calls (the backend
//! makes at most one wakeup call per burst); the slow path may allocate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conntrack::Conntrack;
use pipeline::compile::Compiled;
use pipeline::exec::{execute, ExecResult, TraceEvent};
use pipeline::flow::{word, Flow};

use crate::actions::{self, ct, generate, ActsRef, Cause, CauseCounters, Sink, Step};
use crate::counters::{DropReason, SharedCounters, Tier, WorkerCounters};
use crate::dataplane::{DpSnapshot, DpSubscriber};
use crate::emc::Emc;
use crate::extract::{apply, extract_key, Layout, Rewrite};
use crate::io::{Backend, Batch, Frame, PortId, PortStats};
use crate::key::FlowKey;
use crate::megaflow::{MegaflowCache, MegaflowId};

pub mod ctl;
mod ctl_fmt;
mod thread;

pub use thread::{pin_to_core, spawn};

/// Most recirculations (conntrack passes) per packet.
pub const MAX_RECIRC: u32 = 8;

/// Opens a backend whose port `i` is the interface `netdevs[i]`.
pub type Opener<B> = Box<dyn FnMut(&[String]) -> Result<B, String> + Send>;

/// Worker sizing and behaviour.
#[derive(Clone)]
pub struct WorkerConfig {
    pub emc_entries: usize,
    /// EMC insertion probability is 1 / this (1: always).
    pub emc_insert_inv_prob: u32,
    pub megaflow_entries: usize,
    /// Longest wait for packets when idle (also bounds how late a new epoch is adopted).
    pub idle_wait: Duration,
    /// Megaflow entries unused this long are removed.
    pub megaflow_idle: Duration,
    /// Pin the thread to this CPU.
    pub core: Option<usize>,
    /// The connection tracker (shared by all workers); `None`: `ct` steps drop.
    pub conntrack: Option<Arc<Conntrack>>,
    /// Time origin shared by the workers of one tracker (conntrack times are relative to
    /// it).
    pub clock_origin: Instant,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            emc_entries: crate::emc::DEFAULT_ENTRIES,
            emc_insert_inv_prob: crate::emc::DEFAULT_INSERT_INV_PROB,
            megaflow_entries: crate::megaflow::DEFAULT_MAX_ENTRIES,
            idle_wait: Duration::from_millis(5),
            megaflow_idle: Duration::from_secs(10),
            core: None,
            conntrack: None,
            clock_origin: Instant::now(),
        }
    }
}

/// What a worker shows the rest of the process, refreshed about every 100 ms.
#[derive(Default)]
pub struct WorkerStats {
    pub counters: SharedCounters,
    pub causes: [AtomicU64; Cause::COUNT],
    /// Per backend port: (netdev, counters).
    pub ports: Mutex<Vec<(String, PortStats)>>,
    pub megaflows: AtomicU64,
    /// Recirculated passes (after conntrack).
    pub recirculations: AtomicU64,
    /// Last error from opening ports, if any.
    pub error: Mutex<Option<String>>,
    /// The epoch the worker runs.
    pub epoch: AtomicU64,
    /// How the backend moves bytes (`None`: no ports open).
    pub io_mode: Mutex<Option<crate::io::IoMode>>,
    /// Control requests for this worker ([`ctl`]).
    pub ctl: ctl::CtlHandle,
}

impl WorkerStats {
    /// Per-cause drop counts.
    pub fn causes(&self) -> CauseCounters {
        let mut out = [0; Cause::COUNT];
        for (o, c) in out.iter_mut().zip(&self.causes) {
            *o = c.load(Ordering::Relaxed);
        }
        out
    }
}

/// One worker. Not `Send` (it holds frames): build it on its own thread
/// ([`spawn`] does).
pub struct Worker<B: Backend> {
    sub: DpSubscriber,
    opener: Opener<B>,
    backend: Option<B>,
    snap: Arc<DpSnapshot>,
    compiled: Option<Arc<Compiled>>,
    epoch: u64,
    /// Backend port → (datapath key, port key).
    in_map: Vec<(u32, u32)>,
    rx: Batch,
    tx: Vec<Batch>,
    /// The received packet's key, reused for every packet (see [`FlowKey`]).
    key: FlowKey,
    emc: Emc<MegaflowId>,
    mf: MegaflowCache<ActsRef>,
    exec: ExecResult,
    counters: WorkerCounters,
    recircs: u64,
    causes: CauseCounters,
    stats: Arc<WorkerStats>,
    cfg: WorkerConfig,
    start: Instant,
    last_publish: Instant,
    last_maintain: Instant,
    inbox: Option<ctl::CtlInbox>,
}

impl<B: Backend> Worker<B> {
    /// A worker with no ports until the first snapshot arrives.
    pub fn new(
        sub: DpSubscriber,
        opener: Opener<B>,
        cfg: WorkerConfig,
        stats: Arc<WorkerStats>,
    ) -> Self {
        let now = Instant::now();
        Worker {
            sub,
            opener,
            backend: None,
            snap: Arc::new(DpSnapshot::default()),
            compiled: None,
            epoch: 0,
            in_map: Vec::new(),
            rx: Batch::new(),
            tx: Vec::new(),
            key: FlowKey::default(),
            emc: Emc::new(cfg.emc_entries, cfg.emc_insert_inv_prob),
            mf: MegaflowCache::new(cfg.megaflow_entries),
            exec: ExecResult::default(),
            counters: WorkerCounters::new(),
            recircs: 0,
            causes: [0; Cause::COUNT],
            stats,
            start: cfg.clock_origin,
            cfg,
            last_publish: now,
            last_maintain: now,
            inbox: None,
        }
    }

    /// Adopts a newer snapshot if there is one (between batches). True when it did.
    pub fn adopt(&mut self) -> bool {
        let Some((epoch, snap)) = self.sub.poll() else {
            return false;
        };
        let old = self.snap.netdevs();
        let new = snap.netdevs();
        if old != new || self.backend.is_none() {
            self.reopen(&new);
        }
        self.in_map = snap.ports.iter().map(|p| (p.dp_key, p.port_key)).collect();
        self.compiled = snap.compiled.clone();
        self.snap = snap;
        self.epoch = epoch;
        self.stats.epoch.store(epoch, Ordering::Relaxed);
        self.sub.adopted(epoch);
        true
    }

    fn reopen(&mut self, netdevs: &[String]) {
        if let Some(mut b) = self.backend.take() {
            for (i, t) in self.tx.iter_mut().enumerate() {
                b.tx_burst(i as PortId, t);
            }
            b.maintain();
        }
        self.tx.clear();
        self.mf.clear();
        self.emc.clear();
        *lock(&self.stats.io_mode) = None;
        if netdevs.is_empty() {
            return;
        }
        match (self.opener)(netdevs) {
            Ok(b) => {
                self.tx = (0..b.port_count()).map(|_| Batch::new()).collect();
                *lock(&self.stats.error) = None;
                *lock(&self.stats.io_mode) = Some(b.mode());
                log::info!("worker: serving {netdevs:?} ({:?})", b.mode());
                self.backend = Some(b);
            }
            Err(e) => {
                log::error!("worker: {e}");
                *lock(&self.stats.error) = Some(e);
            }
        }
    }

    /// The backend (tests inject and collect through it).
    pub fn backend_mut(&mut self) -> Option<&mut B> {
        self.backend.as_mut()
    }

    /// This worker's counters (exact, unlike [`WorkerStats`]).
    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    /// Per-cause pipeline drop counts.
    pub fn causes(&self) -> &CauseCounters {
        &self.causes
    }

    /// Recirculated passes so far.
    pub fn recirculations(&self) -> u64 {
        self.recircs
    }

    /// Megaflow entries installed.
    pub fn megaflows(&self) -> usize {
        self.mf.len()
    }

    /// The epoch in use.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// One pass over every port: receive a burst, process it, transmit. Returns the number
    /// of packets received.
    pub fn poll_once(&mut self) -> usize {
        let Some(backend) = self.backend.as_mut() else {
            return 0;
        };
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let now = now_ns / 1_000_000;
        let mut total = 0;
        let nports = backend.port_count().min(self.tx.len());
        for port in 0..nports {
            let n = backend.rx_burst(port as PortId, &mut self.rx);
            if n == 0 {
                continue;
            }
            total += n;
            let mut ctx = Ctx {
                compiled: self.compiled.as_deref(),
                epoch: self.epoch,
                now,
                in_map: &self.in_map,
                emc: &mut self.emc,
                mf: &mut self.mf,
                exec: &mut self.exec,
                ct: self.cfg.conntrack.as_deref(),
                now_ns,
                recircs: &mut self.recircs,
            };
            let mut sink = Sink {
                backend,
                tx: &mut self.tx,
                counters: &mut self.counters,
                causes: &mut self.causes,
            };
            for frame in self.rx.drain() {
                ctx.packet(frame, port as PortId, &mut sink, &mut self.key);
            }
        }
        for (i, t) in self.tx.iter_mut().enumerate() {
            if !t.is_empty() {
                backend.tx_burst(i as PortId, t);
            }
        }
        backend.maintain();
        total
    }

    /// Publishes counters and does cache housekeeping when due (never per packet).
    pub fn housekeeping(&mut self, force: bool) {
        let now = Instant::now();
        if force || now.duration_since(self.last_publish) >= Duration::from_millis(100) {
            self.last_publish = now;
            self.counters.publish(&self.stats.counters);
            for (s, c) in self.stats.causes.iter().zip(&self.causes) {
                s.store(*c, Ordering::Relaxed);
            }
            self.stats
                .megaflows
                .store(self.mf.len() as u64, Ordering::Relaxed);
            self.stats
                .recirculations
                .store(self.recircs, Ordering::Relaxed);
            let mut ports = lock(&self.stats.ports);
            ports.clear();
            if let Some(b) = &self.backend {
                for (i, p) in self.snap.ports.iter().enumerate() {
                    ports.push((p.netdev.clone(), b.stats(i as PortId)));
                }
            }
        }
        if now.duration_since(self.last_maintain) >= Duration::from_secs(1) {
            self.last_maintain = now;
            let t = self.start.elapsed().as_millis() as u64;
            self.mf.expire(t, self.cfg.megaflow_idle.as_millis() as u64);
            self.mf.maintain();
            if let Some(ct) = &self.cfg.conntrack {
                ct.expire(self.start.elapsed().as_nanos() as u64, 4096);
            }
        }
    }

    /// Runs until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        self.sub.wake_me();
        while !stop.load(Ordering::Relaxed) {
            self.adopt();
            let n = self.poll_once();
            self.housekeeping(false);
            self.serve_ctl();
            if n == 0 {
                match self.backend.as_mut() {
                    Some(b) => b.wait_rx(self.cfg.idle_wait),
                    None => std::thread::park_timeout(self.cfg.idle_wait * 20),
                }
            }
        }
        self.housekeeping(true);
        if let Some(b) = self.backend.as_mut() {
            for (i, t) in self.tx.iter_mut().enumerate() {
                b.tx_burst(i as PortId, t);
            }
        }
    }
}

/// Everything the per-packet path touches besides the sink.
struct Ctx<'a> {
    compiled: Option<&'a Compiled>,
    epoch: u64,
    now: u64,
    in_map: &'a [(u32, u32)],
    emc: &'a mut Emc<MegaflowId>,
    mf: &'a mut MegaflowCache<ActsRef>,
    exec: &'a mut ExecResult,
    ct: Option<&'a Conntrack>,
    now_ns: u64,
    recircs: &'a mut u64,
}

impl Ctx<'_> {
    #[inline]
    fn packet<B: Backend>(
        &mut self,
        frame: Frame,
        port: PortId,
        sink: &mut Sink<'_, B>,
        key: &mut FlowKey,
    ) {
        let mut lay = Layout::default();
        if let Err(r) = extract_key(frame.data(), u32::from(port), key, &mut lay) {
            sink.counters.tier(Tier::Lost);
            sink.counters.drop(r);
            sink.backend.free(frame);
            return;
        }
        if let Some(a) = lay.anomaly {
            sink.counters.anomaly(a);
        }
        let (Some(compiled), Some(&(dp, lport))) = (self.compiled, self.in_map.get(port as usize))
        else {
            sink.counters.tier(Tier::Lost);
            sink.drop_frame(frame, Cause::NoPipeline);
            return;
        };
        key.set_word(word::DP_INPORT, u64::from(dp) << 32 | u64::from(lport));
        let acts = self.lookup(compiled, key, Some(sink.counters));
        self.run(compiled, &acts, frame, key.flow(), &lay, 0, sink);
    }

    /// The three tiers; counts the tier when `counters` is given (first pass only).
    #[inline]
    fn lookup(
        &mut self,
        compiled: &Compiled,
        key: &FlowKey,
        counters: Option<&mut WorkerCounters>,
    ) -> ActsRef {
        let flow = key.flow();
        let hash = key.hash();
        if let Some(id) = self.emc.lookup(key, hash, self.epoch) {
            if let Some(acts) = self.mf.get(id, self.epoch, self.now) {
                if let Some(c) = counters {
                    c.tier(Tier::EmcHit);
                }
                return acts.clone();
            }
        }
        if let Some((id, acts)) = self.mf.lookup(flow, self.epoch, self.now) {
            let acts = acts.clone();
            self.emc.maybe_insert(key, hash, self.epoch, id);
            if let Some(c) = counters {
                c.tier(Tier::MegaflowHit);
            }
            return acts;
        }
        // Slow path.
        if let Some(c) = counters {
            c.tier(Tier::Upcall);
        }
        let mut port_sec = false;
        let mut hook = |ev: &TraceEvent<'_>| {
            if let Some((_, f)) = ev.hit {
                port_sec = f.stage.contains("port_sec");
            }
        };
        execute(compiled, flow, self.exec, Some(&mut hook));
        let in_map = self.in_map;
        let port_of = |d: u32, k: u32| {
            in_map
                .iter()
                .position(|&(pd, pk)| pd == d && pk == k)
                .map(|i| i as PortId)
        };
        let acts = ActsRef::new(actions::compile(&self.exec.actions, &port_of, port_sec));
        let id = self
            .mf
            .insert(flow, &self.exec.mask, acts.clone(), self.epoch, self.now);
        self.emc.maybe_insert(key, hash, self.epoch, id);
        acts
    }

    /// Runs `acts` on `frame` (whose header fields are `flow`'s).
    #[allow(clippy::too_many_arguments)]
    fn run<B: Backend>(
        &mut self,
        compiled: &Compiled,
        acts: &ActsRef,
        frame: Frame,
        flow: &Flow,
        lay: &Layout,
        depth: u32,
        sink: &mut Sink<'_, B>,
    ) {
        if acts.last >= acts.steps.len() {
            // Nothing takes the packet: run any commits and generated packets, then
            // count the drop.
            self.commits(acts, &frame, flow, lay);
            for step in acts.steps.iter() {
                if let Step::Generate(g) = step {
                    self.generate(compiled, g, &frame, flow, lay, depth, sink);
                }
            }
            sink.drop_frame(frame, acts.cause.unwrap_or(Cause::EndOfActions));
            return;
        }
        let mut frame = Some(frame);
        for (i, step) in acts.steps.iter().enumerate() {
            let Some(cur) = frame.as_ref() else { break };
            if !step.consumes() {
                match step {
                    Step::Ct { out, spec, .. } => self.commit(out, spec, cur, flow, lay),
                    Step::Generate(g) => self.generate(compiled, g, cur, flow, lay, depth, sink),
                    Step::Output(_) => {}
                }
                continue;
            }
            let copy = if i == acts.last {
                frame.take()
            } else {
                let c = sink.backend.clone_frame(cur);
                if c.is_none() {
                    sink.counters.drop(DropReason::TxFull);
                }
                c
            };
            let Some(copy) = copy else { continue };
            match step {
                Step::Output(out) => actions::emit(out, copy, flow, lay, sink),
                Step::Ct {
                    out,
                    spec,
                    recirc: Some(id),
                } => self.recirculate(compiled, out, spec, *id, copy, flow, lay, depth, sink),
                Step::Ct { .. } | Step::Generate(_) => sink.backend.free(copy),
            }
        }
        if let Some(f) = frame {
            sink.backend.free(f);
        }
    }

    /// Builds the packet of a `Generate` step from `frame` and runs its nested actions.
    #[allow(clippy::too_many_arguments)]
    fn generate<B: Backend>(
        &mut self,
        compiled: &Compiled,
        g: &generate::GenStep,
        frame: &Frame,
        flow: &Flow,
        lay: &Layout,
        depth: u32,
        sink: &mut Sink<'_, B>,
    ) {
        if depth >= MAX_RECIRC {
            sink.counters.drop(DropReason::RecirculationLimit);
            return;
        }
        match generate::build(g, frame, flow, lay, &mut *sink.backend) {
            Ok((f, gflow, glay)) => self.run(compiled, &g.acts, f, &gflow, &glay, depth + 1, sink),
            Err(generate::GenError::NoFrame) => sink.counters.drop(DropReason::TxFull),
            Err(generate::GenError::Unsupported) => {
                sink.counters.drop(DropReason::PipelineDrop);
                sink.causes[Cause::GenerateNotIntegrated.index()] += 1;
            }
        }
    }

    fn commits(&mut self, acts: &ActsRef, frame: &Frame, flow: &Flow, lay: &Layout) {
        for step in acts.steps.iter() {
            if let Step::Ct { out, spec, .. } = step {
                self.commit(out, spec, frame, flow, lay);
            }
        }
    }

    /// `ct_commit` without recirculation: conntrack only.
    fn commit(
        &mut self,
        out: &actions::OutStep,
        spec: &ct::CtSpec,
        frame: &Frame,
        flow: &Flow,
        lay: &Layout,
    ) {
        let Some(tracker) = self.ct else { return };
        let mut work = *flow;
        actions::apply_sets(out, &mut work);
        if let Some(m) = ct::meta(frame.data(), lay, &work) {
            tracker.execute(&m, &spec.args(&m, &work), self.now_ns);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn recirculate<B: Backend>(
        &mut self,
        compiled: &Compiled,
        out: &actions::OutStep,
        spec: &ct::CtSpec,
        id: u32,
        mut frame: Frame,
        flow: &Flow,
        lay: &Layout,
        depth: u32,
        sink: &mut Sink<'_, B>,
    ) {
        let Some(tracker) = self.ct else {
            sink.drop_frame(frame, Cause::ConntrackNotIntegrated);
            return;
        };
        if depth >= MAX_RECIRC {
            sink.counters.drop(DropReason::RecirculationLimit);
            sink.backend.free(frame);
            return;
        }
        let mut work = *flow;
        actions::apply_sets(out, &mut work);
        let r = match ct::meta(frame.data(), lay, &work) {
            Some(m) => tracker.execute(&m, &spec.args(&m, &work), self.now_ns),
            None => conntrack::CtResult {
                state: pipeline::flow::ct_state::TRK | pipeline::flow::ct_state::INV,
                zone: spec.zone,
                ..Default::default()
            },
        };
        let next = match ct::recirc_flow(&work, lay, &r, id) {
            Ok(f) => f,
            Err(c) => {
                sink.drop_frame(frame, c);
                return;
            }
        };
        let rw = Rewrite::diff(flow, &next);
        if !rw.is_empty() {
            if let Err(e) = apply(frame.data_mut(), lay, &next, rw) {
                sink.counters.drop(e.drop_reason());
                sink.backend.free(frame);
                return;
            }
        }
        // What the flow key does not carry: the ICMP echo id a NAT leased.
        if let Err(c) = ct::apply_nat_extra(frame.data_mut(), lay, &r) {
            sink.drop_frame(frame, c);
            return;
        }
        *self.recircs += 1;
        let acts = self.lookup(compiled, &FlowKey::from_flow(&next), None);
        self.run(compiled, &acts, frame, &next, lay, depth + 1, sink);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
