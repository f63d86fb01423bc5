//! Threads committing NAT connections into shared pools and shards while another thread
//! flushes its own zone and sweeps: nothing deadlocks, no port is handed out twice, and
//! every count returns to zero at the end.

mod common;
use common::*;
use conntrack::{ct_state as S, proto, Config, Conntrack, CtArgs, Nat, NatRange};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const WORKERS: u16 = 3;
const PER_WORKER: u16 = 3000;
const EXT: &str = "203.0.113.50";

#[test]
fn nat_commits_from_many_threads() {
    let ct = Arc::new(Conntrack::new(Config {
        shards: 16,
        ..Config::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let maint = {
        let (ct, stop) = (ct.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                for i in 0..50u16 {
                    let p = udp("10.99.0.1", i, "10.99.0.2", 7);
                    let args = CtArgs {
                        zone: 99,
                        commit: true,
                        nat: Some(Nat::Src(NatRange::addr(ip(EXT)).with_ports(1024, 65535))),
                        ..Default::default()
                    };
                    ct.execute(&p, &args, 0);
                }
                ct.expire(0, 200);
                assert!(ct.flush(Some(99)) <= 50);
                assert!(!ct.dump(Some(1)).iter().any(|e| e.zone != 1));
                rounds += 1;
            }
            rounds
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let ct = ct.clone();
            std::thread::spawn(move || {
                let client = format!("10.0.{w}.1");
                let snat = CtArgs {
                    zone: 1,
                    commit: true,
                    nat: Some(Nat::Src(NatRange::addr(ip(EXT)).with_ports(20000, 59999))),
                    ..Default::default()
                };
                let ct_nat = CtArgs {
                    zone: 1,
                    nat: Some(Nat::Existing),
                    ..Default::default()
                };
                let mut ports = Vec::new();
                for i in 0..PER_WORKER {
                    let r = ct.execute(&udp(&client, 1000 + i, "8.8.8.8", 53), &snat, 0);
                    assert_eq!(r.state, S::NEW | S::TRK | S::SNAT, "worker {w} conn {i}");
                    let port = r.nat.expect("translated").sport;
                    let back = udp("8.8.8.8", 53, EXT, port);
                    let r = ct.execute(&back, &ct_nat, 0);
                    assert_eq!(r.state, S::EST | S::RPL | S::TRK | S::SNAT);
                    assert_eq!(r.nat.expect("reverse").dport, 1000 + i);
                    ports.push(port);
                }
                ports
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in workers {
        for p in h.join().expect("worker") {
            assert!(all.insert(p), "port {p} handed out twice");
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(maint.join().expect("maintenance") > 0);
    let n = usize::from(WORKERS * PER_WORKER);
    assert_eq!(ct.zone_len(1), n as u32);
    assert_eq!(ct.nat_ports_in_use(1, proto::UDP, ip(EXT)), n as u32);
    // The maintenance thread flushed its own zone last thing each round.
    assert_eq!(ct.len(), n);
    assert_eq!(ct.flush(None), n);
    assert!(ct.is_empty());
    assert_eq!(ct.nat_ports_in_use(1, proto::UDP, ip(EXT)), 0);
    assert_eq!(ct.nat_ports_in_use(99, proto::UDP, ip(EXT)), 0);
    assert_eq!((ct.zone_len(1), ct.zone_len(99)), (0, 0));
}
