//! The seam between the control thread and the forwarding side.
//!
//! The daemon hands every new [`SbSnapshot`] to a [`Dataplane`]: the pipeline compiler
//! compiles the changed datapaths and publishes the result to the workers with an epoch
//! (see [`crate::publish`]); [`Dataplane::adopted`] says which epoch every worker runs. The
//! daemon acknowledges `nb_cfg` and marks ports `up`/`ovn-installed` only once the epoch
//! that includes them is adopted.
//!
//! [`SnapshotDataplane`] is the stand-in used until the compiler exists: it publishes the
//! snapshot itself to `n` placeholder worker threads that adopt each new epoch when woken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::publish::Publisher;
use crate::snapshot::{ChangedSet, SbSnapshot};

/// What the control thread drives.
pub trait Dataplane {
    /// Takes a new snapshot (`changed` says what differs from the previous one) and returns
    /// the epoch under which the result is published. Must not block on the workers.
    fn apply(&mut self, snapshot: Arc<SbSnapshot>, changed: &ChangedSet) -> u64;

    /// The newest epoch every worker has adopted.
    fn adopted(&self) -> u64;
}

/// Publishes snapshots to placeholder workers (threads that only adopt).
#[derive(Debug)]
pub struct SnapshotDataplane {
    publisher: Arc<Publisher<SbSnapshot>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl SnapshotDataplane {
    /// With `workers` placeholder worker threads (0: every epoch counts as adopted at once).
    pub fn new(workers: usize) -> std::io::Result<SnapshotDataplane> {
        let publisher = Arc::new(Publisher::new(Arc::new(SbSnapshot::default())));
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for i in 0..workers {
            let mut sub = publisher.subscribe();
            let stop = stop.clone();
            let h = std::thread::Builder::new()
                .name(format!("sp-worker{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        if sub.poll() {
                            log::debug!("worker {i} adopted epoch {}", sub.epoch());
                        }
                        std::thread::park();
                    }
                })?;
            handles.push(h);
        }
        Ok(SnapshotDataplane {
            publisher,
            stop,
            workers: handles,
        })
    }

    /// The publisher (e.g. to subscribe real workers).
    pub fn publisher(&self) -> &Arc<Publisher<SbSnapshot>> {
        &self.publisher
    }
}

impl Dataplane for SnapshotDataplane {
    fn apply(&mut self, snapshot: Arc<SbSnapshot>, _changed: &ChangedSet) -> u64 {
        let e = self.publisher.publish(snapshot);
        for w in &self.workers {
            w.thread().unpark();
        }
        e
    }

    fn adopted(&self) -> u64 {
        self.publisher.adopted_min().min(self.publisher.epoch())
    }
}

impl Drop for SnapshotDataplane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}
