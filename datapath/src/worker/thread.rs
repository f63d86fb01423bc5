//! Worker threads: start one ([`spawn`]) and pin it to a CPU ([`pin_to_core`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{Opener, Worker, WorkerConfig, WorkerStats};
use crate::dataplane::DpSubscriber;
use crate::io::Backend;

/// Pins the calling thread to `core`.
pub fn pin_to_core(core: usize) -> std::io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set`; `core` < CPU_SETSIZE was checked above.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 = this thread; `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Starts a worker thread: builds a [`Worker`] on it with `opener` and runs it until `stop`.
pub fn spawn<B: Backend + 'static>(
    name: String,
    sub: DpSubscriber,
    opener: Opener<B>,
    cfg: WorkerConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(std::thread::JoinHandle<()>, Arc<WorkerStats>)> {
    let (handle, inbox) = super::ctl::channel();
    let stats = Arc::new(WorkerStats {
        ctl: handle,
        ..WorkerStats::default()
    });
    let st = stats.clone();
    let h = std::thread::Builder::new().name(name).spawn(move || {
        if let Some(c) = cfg.core {
            if let Err(e) = pin_to_core(c) {
                log::warn!("worker: cannot pin to core {c}: {e}");
            }
        }
        let mut w = Worker::new(sub, opener, cfg, st);
        w.set_inbox(inbox);
        w.run(&stop);
    })?;
    Ok((h, stats))
}
