//! What the control thread hands the workers: a [`DpSnapshot`] (the compiled pipeline plus
//! the local port map) published with an epoch through a [`DpPublisher`], and the AF_XDP
//! port opener ([`XdpOpener`]) the workers use when the set of local interfaces changes.
//!
//! Publication (as `control::publish`, with one difference): the current value sits in an
//! `ArcSwap` and the latest epoch in an `AtomicU64`; a worker with nothing new does one
//! Acquire load per loop. A worker reports an epoch as *adopted* only after it has
//! reconfigured its ports for it ([`DpSubscriber::adopted`]), so when
//! [`DpPublisher::adopted_min`] reaches an epoch, every packet any worker takes from then on
//! is forwarded by that epoch's rules (`--wait=hv` semantics).
//!
//! The datapath does not depend on `control`: the binary converts `SbSnapshot` into a
//! [`DpSnapshot`] (see `src/dataplane.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;

use arc_swap::ArcSwap;
use pipeline::compile::{Compiled, PortKind};

use crate::afxdp::{AfXdpBackend, AfXdpConfig, PortSpec};
use crate::xdp::{XdpAttachMode, XdpAttachment};

/// A local interface bound to a logical port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPort {
    /// Kernel interface name (the backend port is opened on it).
    pub netdev: String,
    /// Logical port name.
    pub lport: String,
    /// Logical datapath tunnel key.
    pub dp_key: u32,
    /// Logical port tunnel key.
    pub port_key: u32,
}

/// One published state: what every worker forwards by.
#[derive(Default)]
pub struct DpSnapshot {
    /// The compiled pipeline (`None`: nothing compiled yet, every packet is dropped).
    pub compiled: Option<Arc<Compiled>>,
    /// Local ports, sorted by netdev, one per netdev. Backend port `i` of a worker serves
    /// `ports[i]`.
    pub ports: Vec<LocalPort>,
}

impl DpSnapshot {
    /// Builds the port map from `(logical port, netdev)` pairs: a pair whose logical port is
    /// not a port of `compiled` bound to this chassis is left out (and returned in the
    /// second value, for a log line).
    pub fn new<'a>(
        compiled: Arc<Compiled>,
        local: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (DpSnapshot, Vec<String>) {
        let by_name: HashMap<&str, (u32, u32)> = compiled
            .ports
            .iter()
            .filter(|(_, p)| p.kind == PortKind::Local)
            .map(|(&(d, k), p)| (p.name.as_str(), (d, k)))
            .collect();
        let mut ports = Vec::new();
        let mut skipped = Vec::new();
        for (lport, netdev) in local {
            match by_name.get(lport) {
                Some(&(dp_key, port_key)) => ports.push(LocalPort {
                    netdev: netdev.to_string(),
                    lport: lport.to_string(),
                    dp_key,
                    port_key,
                }),
                None => skipped.push(lport.to_string()),
            }
        }
        ports.sort_by(|a, b| a.netdev.cmp(&b.netdev));
        ports.dedup_by(|a, b| a.netdev == b.netdev);
        (
            DpSnapshot {
                compiled: Some(compiled),
                ports,
            },
            skipped,
        )
    }

    /// The netdevs, in backend port order.
    pub fn netdevs(&self) -> Vec<String> {
        self.ports.iter().map(|p| p.netdev.clone()).collect()
    }
}

struct Shared {
    current: ArcSwap<(u64, Arc<DpSnapshot>)>,
    epoch: AtomicU64,
    slots: Mutex<Vec<Arc<AtomicU64>>>,
    threads: Mutex<Vec<Thread>>,
}

/// The control thread's side.
pub struct DpPublisher {
    shared: Arc<Shared>,
}

/// A worker's side.
pub struct DpSubscriber {
    shared: Arc<Shared>,
    seen: u64,
    slot: Arc<AtomicU64>,
}

impl Default for DpPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl DpPublisher {
    /// Epoch 0 holds an empty snapshot.
    pub fn new() -> DpPublisher {
        DpPublisher {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee((0, Arc::new(DpSnapshot::default()))),
                epoch: AtomicU64::new(0),
                slots: Mutex::new(Vec::new()),
                threads: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Publishes `snap`, wakes idle workers, returns the new epoch.
    pub fn publish(&self, snap: Arc<DpSnapshot>) -> u64 {
        let epoch = self.shared.epoch.load(Ordering::Relaxed) + 1;
        self.shared.current.store(Arc::new((epoch, snap)));
        self.shared.epoch.store(epoch, Ordering::Release);
        for t in lock(&self.shared.threads).iter() {
            t.unpark();
        }
        epoch
    }

    /// The last published epoch.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// A subscriber that has adopted nothing yet (epoch 0).
    pub fn subscribe(&self) -> DpSubscriber {
        let slot = Arc::new(AtomicU64::new(0));
        lock(&self.shared.slots).push(slot.clone());
        DpSubscriber {
            shared: self.shared.clone(),
            seen: 0,
            slot,
        }
    }

    /// The smallest epoch adopted by the live subscribers (the published epoch when there
    /// are none).
    pub fn adopted_min(&self) -> u64 {
        let mut slots = lock(&self.shared.slots);
        slots.retain(|s| s.load(Ordering::Acquire) != u64::MAX);
        slots
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .min()
            .unwrap_or_else(|| self.epoch())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DpSubscriber {
    /// The newer snapshot, if one was published since the last call (one atomic load when
    /// nothing changed). Call [`Self::adopted`] once it is in use.
    #[inline]
    pub fn poll(&mut self) -> Option<(u64, Arc<DpSnapshot>)> {
        if self.shared.epoch.load(Ordering::Acquire) == self.seen {
            return None;
        }
        let cur = self.shared.current.load_full();
        if cur.0 == self.seen {
            return None;
        }
        self.seen = cur.0;
        Some((cur.0, cur.1.clone()))
    }

    /// Reports `epoch` as in use by this worker.
    pub fn adopted(&self, epoch: u64) {
        self.slot.store(epoch, Ordering::Release);
    }

    /// Registers the calling thread to be unparked on each publication.
    pub fn wake_me(&self) {
        lock(&self.shared.threads).push(std::thread::current());
    }
}

impl Drop for DpSubscriber {
    fn drop(&mut self) {
        self.slot.store(u64::MAX, Ordering::Release);
    }
}

/// Opens AF_XDP backends for a worker: one socket per interface (queue 0), fed by
/// southpaw's XDP program. The programs stay attached across reopenings (only those of
/// interfaces that left the set are detached), so adding a port does not detach and
/// reattach XDP on the others; they are detached when the opener is dropped.
pub struct XdpOpener {
    mode: XdpAttachMode,
    cfg: AfXdpConfig,
    attachments: Vec<XdpAttachment>,
}

impl XdpOpener {
    pub fn new(mode: XdpAttachMode, cfg: AfXdpConfig) -> XdpOpener {
        XdpOpener {
            mode,
            cfg,
            attachments: Vec::new(),
        }
    }

    /// A backend whose port `i` is `netdevs[i]` (the previous backend must be closed).
    pub fn open(&mut self, netdevs: &[String]) -> Result<AfXdpBackend, String> {
        self.attachments
            .retain(|a| netdevs.iter().any(|n| n == a.ifname()));
        for n in netdevs {
            if !self.attachments.iter().any(|a| a.ifname() == n) {
                let a = XdpAttachment::attach(n, self.mode)
                    .map_err(|e| format!("attach XDP to {n}: {e}"))?;
                self.attachments.push(a);
            }
        }
        let specs: Vec<PortSpec> = netdevs
            .iter()
            .map(|n| PortSpec {
                ifname: n.clone(),
                queue: 0,
            })
            .collect();
        let backend = AfXdpBackend::open(&specs, &self.cfg)
            .map_err(|e| format!("open AF_XDP on {netdevs:?}: {e}"))?;
        backend
            .register_sockets(&mut self.attachments)
            .map_err(|e| format!("register AF_XDP sockets: {e}"))?;
        Ok(backend)
    }
}
