//! The real dataplane behind `southpaw run`: [`control::Dataplane`] implemented by
//! compiling each Southbound snapshot (`to_model` + the pipeline compiler, on the control
//! thread) and publishing it with the local port map to AF_XDP worker threads
//! ([`datapath::worker`]). `adopted()` is the smallest epoch every worker runs, so the
//! daemon acknowledges `nb_cfg` only once forwarding follows the new rules.
//!
//! One [`Conntrack`] is shared by the workers. [`DpView`] is what `southpaw ctl` sees of
//! all this (through the control server).
//!
//! Compiles are incremental at the flow level: a [`CompileCache`] keeps each flow's parse
//! and per-datapath compile while its text and the names it looked up are unchanged; the
//! classifiers and port tables are still rebuilt whole on every snapshot.
//!
//! Not yet: more than one
//! worker sharing ports (each worker opens queue 0 of every local interface, so only one
//! worker is started whatever `--workers` says).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use conntrack::Conntrack;
use control::{ChangedSet, Dataplane, SbSnapshot};
use datapath::afxdp::AfXdpConfig;
use datapath::counters::CounterSnapshot;
use datapath::dataplane::{DpPublisher, DpSnapshot, XdpOpener};
use datapath::io::PortStats;
use datapath::worker::{self, WorkerConfig, WorkerStats};
use datapath::xdp::XdpAttachMode;
use pipeline::compile::CompileCache;
use pipeline::Symtab;

/// Compiles snapshots and feeds AF_XDP workers.
pub struct XdpDataplane {
    publisher: DpPublisher,
    symtab: Arc<Symtab>,
    /// What the previous compile can lend the next (see `pipeline::compile::CompileCache`).
    cache: CompileCache,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    stats: Vec<Arc<WorkerStats>>,
    view: Arc<DpView>,
}

/// What the control server ([`crate::ctl_server`]) reads: the workers' shared statistics
/// and control handles, the conntrack, and the last published snapshot.
pub struct DpView {
    pub stats: Vec<Arc<WorkerStats>>,
    pub conntrack: Option<Arc<Conntrack>>,
    /// Conntrack and worker times are nanoseconds since this instant.
    pub clock_origin: Instant,
    /// The XDP attach mode asked for.
    pub xdp_mode: XdpAttachMode,
    /// (epoch, snapshot) last published.
    pub snapshot: Mutex<(u64, Arc<DpSnapshot>)>,
}

impl DpView {
    /// The last published snapshot and its epoch.
    pub fn snapshot(&self) -> (u64, Arc<DpSnapshot>) {
        let g = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        (g.0, g.1.clone())
    }
}

impl XdpDataplane {
    /// Starts one worker thread (pinned to the last CPU when there are several).
    pub fn new(xdp_mode: XdpAttachMode) -> std::io::Result<XdpDataplane> {
        let publisher = DpPublisher::new();
        let stop = Arc::new(AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Liberal TCP tracking: connections that predate southpaw (or a restart of it) are
        // picked up mid-stream instead of being marked invalid.
        let tracker = Arc::new(Conntrack::new(conntrack::Config {
            tcp_liberal: true,
            ..conntrack::Config::default()
        }));
        let cfg = WorkerConfig {
            core: (cpus > 1).then_some(cpus - 1),
            conntrack: Some(tracker.clone()),
            ..WorkerConfig::default()
        };
        let clock_origin = cfg.clock_origin;
        let mut xdp = XdpOpener::new(xdp_mode, AfXdpConfig::default());
        let opener = Box::new(move |netdevs: &[String]| xdp.open(netdevs));
        let (h, st) = worker::spawn(
            "sp-worker0".into(),
            publisher.subscribe(),
            opener,
            cfg,
            stop.clone(),
        )?;
        let view = Arc::new(DpView {
            stats: vec![st.clone()],
            conntrack: Some(tracker),
            clock_origin,
            xdp_mode,
            snapshot: Mutex::new((0, Arc::new(DpSnapshot::default()))),
        });
        Ok(XdpDataplane {
            publisher,
            symtab: Arc::new(Symtab::ovn()),
            cache: CompileCache::new(),
            stop,
            workers: vec![h],
            stats: vec![st],
            view,
        })
    }

    /// What the control server reads (shared; stays valid after the dataplane moves).
    pub fn view(&self) -> Arc<DpView> {
        self.view.clone()
    }

    /// Shared statistics of the workers (for periodic reports).
    pub fn stats(&self) -> Vec<Arc<WorkerStats>> {
        self.stats.clone()
    }
}

/// Sums the workers' counters and per-port statistics.
pub fn totals(stats: &[Arc<WorkerStats>]) -> (CounterSnapshot, Vec<(String, PortStats)>) {
    let mut c = CounterSnapshot::default();
    let mut ports: Vec<(String, PortStats)> = Vec::new();
    for s in stats {
        c.merge(&s.counters.snapshot());
        let p = s.ports.lock().unwrap_or_else(|e| e.into_inner());
        for (name, st) in p.iter() {
            match ports.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => {
                    t.rx_packets += st.rx_packets;
                    t.tx_packets += st.tx_packets;
                    t.rx_dropped += st.rx_dropped;
                    t.tx_dropped += st.tx_dropped;
                    t.rx_bytes += st.rx_bytes;
                    t.tx_bytes += st.tx_bytes;
                }
                None => ports.push((name.clone(), *st)),
            }
        }
    }
    (c, ports)
}

impl Dataplane for XdpDataplane {
    fn apply(&mut self, snapshot: Arc<SbSnapshot>, _changed: &ChangedSet) -> u64 {
        let t = Instant::now();
        let model = control::to_model::to_model(&snapshot, None);
        let t_model = t.elapsed();
        let compiled = Arc::new(pipeline::compile::compile_cached(
            &model,
            self.symtab.clone(),
            &mut self.cache,
        ));
        let local = snapshot
            .local_ports
            .iter()
            .map(|(lport, (netdev, _))| (lport.as_str(), netdev.as_str()));
        let t_compile = t.elapsed();
        let (snap, skipped) = DpSnapshot::new(compiled.clone(), local);
        log::debug!(
            "dataplane: model {t_model:?}, compile {:?}, snapshot {:?}",
            t_compile - t_model,
            t.elapsed() - t_compile
        );
        if !skipped.is_empty() {
            log::debug!("local interfaces with no local binding yet: {skipped:?}");
        }
        let snap = Arc::new(snap);
        let epoch = self.publisher.publish(snap.clone());
        *self.view.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = (epoch, snap);
        log::info!(
            "dataplane: epoch {epoch}: {} flows compiled ({} rejected) in {:?} ({} flow compiles reused, {} redone)",
            compiled.n_flows(),
            compiled.rejected.len(),
            t.elapsed(),
            self.cache.stats().build_reused,
            self.cache.stats().built,
        );
        epoch
    }

    fn adopted(&self) -> u64 {
        self.publisher.adopted_min().min(self.publisher.epoch())
    }
}

impl Drop for XdpDataplane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}
