//! Publisher/subscriber epochs with real threads: workers adopt every publication eventually,
//! never go backwards, never see a torn value, and `adopted_by_all` only turns true once
//! every live worker has adopted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use control::Publisher;

/// A value whose two halves must always agree (a torn read would break that).
#[derive(Debug)]
struct Pair(u64, Vec<u64>);

#[test]
fn workers_adopt_monotonically() {
    const WORKERS: usize = 4;
    const ROUNDS: u64 = 2000;
    let p = Arc::new(Publisher::new(Arc::new(Pair(0, vec![0; 16]))));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WORKERS + 1));
    let mut handles = Vec::new();
    for _ in 0..WORKERS {
        let mut sub = p.subscribe();
        let stop = stop.clone();
        let start = start.clone();
        handles.push(std::thread::spawn(move || {
            start.wait();
            let mut last = 0;
            let mut adopted = 0u64;
            while !stop.load(Ordering::Acquire) {
                if sub.poll() {
                    let v = sub.get();
                    assert!(v.1.iter().all(|x| *x == v.0), "torn value {v:?}");
                    assert!(sub.epoch() > last, "epoch went back");
                    assert_eq!(sub.epoch(), v.0, "epoch and value disagree");
                    last = sub.epoch();
                    adopted += 1;
                }
                std::hint::spin_loop();
            }
            sub.poll();
            (sub.epoch(), adopted)
        }));
    }
    start.wait();
    for i in 1..=ROUNDS {
        let e = p.publish(Arc::new(Pair(i, vec![i; 16])));
        assert_eq!(e, i);
    }
    // Every worker reaches the last epoch (awaited condition, no sleep).
    while !p.adopted_by_all(ROUNDS) {
        std::thread::yield_now();
    }
    assert_eq!(p.adopted_min(), ROUNDS);
    // A new publication is not adopted by all until the workers poll again.
    let late = p.subscribe();
    assert_eq!(late.epoch(), ROUNDS);
    stop.store(true, Ordering::Release);
    for h in handles {
        let (epoch, adopted) = h.join().unwrap();
        assert_eq!(epoch, ROUNDS);
        assert!(adopted >= 1);
    }
    // The joined workers' subscribers are dropped: only `late` counts now.
    assert_eq!(p.subscribers(), 1);
    let e = p.publish(Arc::new(Pair(ROUNDS + 1, vec![ROUNDS + 1; 16])));
    assert!(!p.adopted_by_all(e));
    drop(late);
    assert!(p.adopted_by_all(e));
    assert_eq!(p.current().0, ROUNDS + 1);
}
