//! Control requests answered by a worker on the in-memory backend: trace (slow path, then
//! a cache tier, nothing sent, no tier counted), dump of the megaflows, flush, errors for
//! bad requests, and requests from another thread served between batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use datapath::counters::Tier;
use datapath::dataplane::{DpPublisher, DpSnapshot, DpSubscriber};
use datapath::mem::MemBackend;
use datapath::worker::ctl::{CtlReply, CtlRequest};
use datapath::worker::{Worker, WorkerConfig, WorkerStats};
use pipeline::compile::compile;
use pipeline::flow::field;
use pipeline::model::*;
use pipeline::Symtab;

fn flow(t: u8, pipe: Pipeline, stage: &str, m: &str, a: &str) -> LogicalFlow {
    LogicalFlow {
        uuid: format!("{stage}-{m}"),
        datapath: Some("dp-ls0".into()),
        dp_group: None,
        pipeline: pipe,
        table_id: t,
        priority: 50,
        match_: m.into(),
        actions: a.into(),
        stage: stage.into(),
    }
}

fn vif(name: &str, key: u32) -> PortBinding {
    PortBinding {
        logical_port: name.into(),
        tunnel_key: key,
        datapath: "dp-ls0".into(),
        chassis: Some("ch1".into()),
        ..PortBinding::default()
    }
}

/// `ls0`: IPv4 to 10.0.0.2 goes to `c2`, everything else is dropped.
fn snapshot() -> Arc<DpSnapshot> {
    use Pipeline::*;
    let m = Model {
        chassis: "ch1".into(),
        datapaths: vec![Datapath {
            uuid: "dp-ls0".into(),
            tunnel_key: 1,
            name: "ls0".into(),
            kind: DpKind::Switch,
        }],
        flows: vec![
            flow(
                0,
                Ingress,
                "ls_in_l2_lkup",
                "ip4.dst == 10.0.0.2",
                "outport = \"c2\"; output;",
            ),
            flow(0, Egress, "ls_out_apply_port_sec", "1", "output;"),
        ],
        ports: vec![vif("c1", 1), vif("c2", 2)],
        ..Model::default()
    };
    let c = compile(&m, Arc::new(Symtab::ovn()));
    assert!(c.rejected.is_empty(), "rejected: {:?}", c.rejected);
    let (s, skipped) = DpSnapshot::new(Arc::new(c), [("c1", "veth-c1"), ("c2", "veth-c2")]);
    assert!(skipped.is_empty());
    Arc::new(s)
}

fn udp_to(dip: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00];
    p.extend_from_slice(&[0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1]);
    p.extend_from_slice(&dip);
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0]);
    p.extend_from_slice(b"ping");
    p
}

fn worker(sub: DpSubscriber) -> Worker<MemBackend> {
    let opener = Box::new(|n: &[String]| Ok(MemBackend::new(n.len(), 64)));
    let cfg = WorkerConfig {
        emc_insert_inv_prob: 1,
        ..WorkerConfig::default()
    };
    Worker::new(sub, opener, cfg, Arc::new(WorkerStats::default()))
}

#[test]
fn trace_dump_flush_on_the_worker_thread() {
    let publisher = DpPublisher::new();
    let sub = publisher.subscribe();
    publisher.publish(snapshot());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // The worker runs on its own thread (it is not `Send`: built there); requests are
    // answered between its batches.
    let (tx, rx) = std::sync::mpsc::channel();
    let (htx, hrx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut w = worker(sub);
        htx.send(w.ctl_handle()).unwrap();
        while !flag.load(Ordering::Relaxed) {
            w.adopt();
            w.poll_once();
            w.serve_ctl();
            std::thread::sleep(Duration::from_millis(1));
        }
        let sent = w.backend_mut().map_or(0, |b| b.take_sent(1).len());
        tx.send((w.counters().received(), sent)).unwrap();
    });
    let ctl = hrx.recv().unwrap();
    let ask = |r: CtlRequest| ctl.request(r, Duration::from_secs(10)).expect("answer");

    let pkt = udp_to([10, 0, 0, 2]);
    let trace = |port| match ask(CtlRequest::Trace {
        port,
        packet: pkt.clone(),
    }) {
        CtlReply::Trace(t) => t,
        other => panic!("{other:?}"),
    };
    // The first trace may race the worker's adoption of the snapshot: wait for it.
    let first = loop {
        match ask(CtlRequest::Trace {
            port: 0,
            packet: pkt.clone(),
        }) {
            CtlReply::Trace(t) => break t,
            CtlReply::Error(e) if e.contains("no pipeline") => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(first.tier, Tier::Upcall, "{first:?}");
    assert_eq!(first.actions, "output:c2(veth-c2)");
    assert!(first.flow.contains("ip4.dst=10.0.0.2"), "{}", first.flow);
    let entry = first.megaflow.clone().expect("a megaflow was installed");
    assert!(entry.contains("ip4.dst=10.0.0.2"), "{entry}");
    let second = trace(0);
    assert_eq!(second.tier, Tier::EmcHit, "{second:?}");
    assert_eq!(second.actions, first.actions);

    let other = match ask(CtlRequest::Trace {
        port: 0,
        packet: udp_to([10, 0, 0, 9]),
    }) {
        CtlReply::Trace(t) => t,
        r => panic!("{r:?}"),
    };
    assert_eq!(other.tier, Tier::Upcall);
    assert!(other.actions.starts_with("drop("), "{}", other.actions);

    let CtlReply::Megaflows { flows, .. } = ask(CtlRequest::DumpMegaflows) else {
        panic!("not a dump");
    };
    assert_eq!(flows.len(), 2, "{flows:?}");
    let hit = flows
        .iter()
        .find(|f| f.matches == entry)
        .expect("traced entry");
    assert_eq!(hit.hits, 1);
    assert!(hit.current);

    match ask(CtlRequest::Trace {
        port: 7,
        packet: pkt.clone(),
    }) {
        CtlReply::Error(e) => assert!(e.contains("no local port 7"), "{e}"),
        r => panic!("{r:?}"),
    }
    match ask(CtlRequest::Trace {
        port: 0,
        packet: vec![1, 2, 3],
    }) {
        CtlReply::Error(e) => assert!(e.contains("runt-frame"), "{e}"),
        r => panic!("{r:?}"),
    }

    assert_eq!(
        ask(CtlRequest::Flush),
        CtlReply::Flushed {
            emc: 2,
            megaflows: 2
        }
    );
    let CtlReply::Megaflows { flows, .. } = ask(CtlRequest::DumpMegaflows) else {
        panic!("not a dump");
    };
    assert!(flows.is_empty(), "{flows:?}");
    assert_eq!(trace(0).tier, Tier::Upcall);

    // A microflow instead of a frame: same decision.
    let mut f = pipeline::flow::Flow::default();
    f.set(field::ETH_TYPE, 0x0800);
    f.set(field::IP4_DST, 0x0a00_0002);
    match ask(CtlRequest::TraceFlow {
        port: 0,
        flow: Box::new(f),
    }) {
        CtlReply::Trace(t) => assert_eq!(t.actions, "output:c2(veth-c2)"),
        r => panic!("{r:?}"),
    }

    stop.store(true, Ordering::Relaxed);
    let (received, sent) = rx.recv().unwrap();
    t.join().unwrap();
    assert_eq!(received, 0, "traced packets are not counted as received");
    assert_eq!(sent, 0, "traced packets are not sent");
}

#[test]
fn handle_without_worker_and_stopped_worker() {
    let stats = WorkerStats::default();
    let e = stats
        .ctl
        .request(CtlRequest::Flush, Duration::from_secs(1))
        .unwrap_err();
    assert!(e.contains("no control requests"), "{e}");
    let publisher = DpPublisher::new();
    let mut w = worker(publisher.subscribe());
    let h = w.ctl_handle();
    drop(w);
    let e = h
        .request(CtlRequest::Flush, Duration::from_secs(1))
        .unwrap_err();
    assert!(e.contains("stopped"), "{e}");
}
