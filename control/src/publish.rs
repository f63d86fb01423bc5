//! Publication of immutable snapshots from the control thread to N worker threads, with an
//! epoch.
//!
//! The control thread owns a [`Publisher<T>`] and calls [`Publisher::publish`] with a new
//! `Arc<T>`; each worker owns a [`Subscriber<T>`] and calls [`Subscriber::poll`] between
//! batches. Design:
//! - The current value lives in an [`arc_swap::ArcSwap`] holding `(epoch, Arc<T>)`: storing it
//!   never waits for readers, and a reader never blocks the writer (a recompile never blocks
//!   forwarding, forwarding never blocks a recompile).
//! - A separate `AtomicU64` holds the latest epoch, stored (Release) after the value. A
//!   subscriber with nothing new does one Acquire load of it and compares with its own epoch;
//!   only when it differs does it load the value, and then it reports the epoch found inside
//!   the value (which may be newer than the one it saw: never older).
//! - Each subscriber has a slot (`AtomicU64`) with the epoch it adopted; the publisher reads
//!   the slots in [`Publisher::adopted_by_all`]. A dropped subscriber's slot reads as
//!   `u64::MAX` so it never holds acknowledgements back.
//!
//! Epochs start at 1 for the first publication; 0 means "nothing adopted yet".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

/// An epoch-stamped value.
#[derive(Debug)]
struct Published<T> {
    epoch: u64,
    value: Arc<T>,
}

#[derive(Debug)]
struct Shared<T> {
    current: ArcSwap<Published<T>>,
    epoch: AtomicU64,
}

/// The writing side (one, on the control thread).
#[derive(Debug)]
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
    /// Adopted epoch per subscriber; only touched on subscribe and in `adopted_*` (control
    /// thread), never by the workers' fast path.
    slots: Mutex<Vec<Arc<AtomicU64>>>,
}

/// The reading side (one per worker).
#[derive(Debug)]
pub struct Subscriber<T> {
    shared: Arc<Shared<T>>,
    current: Arc<T>,
    epoch: u64,
    slot: Arc<AtomicU64>,
}

impl<T> Publisher<T> {
    /// A publisher whose epoch 0 value is `initial` (adopted by every subscriber at start).
    pub fn new(initial: Arc<T>) -> Publisher<T> {
        Publisher {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(Published {
                    epoch: 0,
                    value: initial,
                }),
                epoch: AtomicU64::new(0),
            }),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// Publishes `value`; returns its epoch (previous + 1).
    pub fn publish(&self, value: Arc<T>) -> u64 {
        let epoch = self.shared.epoch.load(Ordering::Relaxed) + 1;
        self.shared
            .current
            .store(Arc::new(Published { epoch, value }));
        self.shared.epoch.store(epoch, Ordering::Release);
        epoch
    }

    /// The epoch of the last publication.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// The last published value.
    pub fn current(&self) -> Arc<T> {
        self.shared.current.load().value.clone()
    }

    /// A new subscriber, starting at the current value.
    pub fn subscribe(&self) -> Subscriber<T> {
        let cur = self.shared.current.load_full();
        let slot = Arc::new(AtomicU64::new(cur.epoch));
        self.lock_slots().push(slot.clone());
        Subscriber {
            shared: self.shared.clone(),
            current: cur.value.clone(),
            epoch: cur.epoch,
            slot,
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<Arc<AtomicU64>>> {
        // A poisoned lock only means a panic elsewhere while pushing; the Vec is still valid.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The smallest epoch adopted by the live subscribers (`u64::MAX` when there are none).
    pub fn adopted_min(&self) -> u64 {
        let mut slots = self.lock_slots();
        slots.retain(|s| s.load(Ordering::Acquire) != u64::MAX);
        slots
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// True when every live subscriber has adopted `epoch` or a later one.
    pub fn adopted_by_all(&self, epoch: u64) -> bool {
        self.adopted_min() >= epoch
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        let mut slots = self.lock_slots();
        slots.retain(|s| s.load(Ordering::Acquire) != u64::MAX);
        slots.len()
    }
}

impl<T> Subscriber<T> {
    /// Adopts the latest value if there is one; true when it changed. With nothing new this
    /// is one atomic load.
    #[inline]
    pub fn poll(&mut self) -> bool {
        if self.shared.epoch.load(Ordering::Acquire) == self.epoch {
            return false;
        }
        let p = self.shared.current.load_full();
        if p.epoch == self.epoch {
            return false;
        }
        self.current = p.value.clone();
        self.epoch = p.epoch;
        self.slot.store(p.epoch, Ordering::Release);
        true
    }

    /// The adopted value.
    #[inline]
    pub fn get(&self) -> &Arc<T> {
        &self.current
    }

    /// The adopted epoch.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl<T> Drop for Subscriber<T> {
    fn drop(&mut self) {
        self.slot.store(u64::MAX, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_and_adoption() {
        let p = Publisher::new(Arc::new(0u32));
        assert!(p.adopted_by_all(0));
        let mut a = p.subscribe();
        let mut b = p.subscribe();
        assert!(!a.poll());
        let e1 = p.publish(Arc::new(1));
        assert_eq!(e1, 1);
        assert!(!p.adopted_by_all(e1));
        assert!(a.poll());
        assert_eq!(**a.get(), 1);
        assert!(!p.adopted_by_all(e1));
        let e2 = p.publish(Arc::new(2));
        assert!(b.poll());
        assert_eq!((b.epoch(), **b.get()), (e2, 2));
        assert_eq!(p.adopted_min(), e1);
        drop(a);
        assert!(p.adopted_by_all(e2));
        assert_eq!(p.subscribers(), 1);
    }
}
