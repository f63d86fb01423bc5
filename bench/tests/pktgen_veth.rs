//! pktgen end to end over a veth pair between two namespaces (root only; skipped with a
//! message otherwise): a sink thread and a sender thread, each moved into its namespace,
//! a fixed number of packets at a fixed rate; the sink must see every packet exactly once,
//! in order, with plausible latency percentiles. No timing thresholds: the rate only
//! keeps the veth from overflowing.

use std::{
    sync::{atomic::AtomicBool, mpsc, Arc},
    thread,
    time::Duration,
};

use datapath::xdp::XdpAttachMode;
use southpaw_bench::pktgen::{
    enter_netns,
    io::IoKind,
    packet::{PacketSpec, Proto, Vary},
    recv::{run_recv, RecvConfig, RecvReport},
    send::{run_send, SendConfig, SendReport},
};
use testbed::netns::{Netns, VethPair};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

struct Topo {
    tx_ns: Netns,
    rx_ns: Netns,
    _veth: VethPair,
}

fn topo() -> Topo {
    let tx_ns = Netns::new("ptx").expect("tx namespace");
    let rx_ns = Netns::new("prx").expect("rx namespace");
    let mut veth = VethPair::new().expect("veth pair");
    veth.move_a(&tx_ns, Some("eth0")).expect("move a");
    veth.move_b(&rx_ns, Some("eth0")).expect("move b");
    veth.a().up().expect("a up");
    veth.b().up().expect("b up");
    Topo {
        tx_ns,
        rx_ns,
        _veth: veth,
    }
}

fn run_pair(
    t: &Topo,
    io: IoKind,
    spec: PacketSpec,
    count: u64,
    rate: u64,
) -> (SendReport, RecvReport) {
    let stop = Arc::new(AtomicBool::new(false));
    let rcfg = RecvConfig {
        ifname: "eth0".into(),
        queue: 0,
        io,
        xdp_mode: XdpAttachMode::Auto,
        // A hang guard only: the sink normally stops at the sender's end marker.
        duration: Some(Duration::from_secs(60)),
        count: None,
        linger: Duration::from_millis(500),
        live: true,
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let rx_ns = t.rx_ns.name().to_string();
    let rstop = stop.clone();
    let sink = thread::spawn(move || {
        enter_netns(&rx_ns).expect("enter rx namespace");
        run_recv(&rcfg, &rstop, || ready_tx.send(()).expect("signal ready"))
    });
    ready_rx.recv().expect("sink came up");
    let scfg = SendConfig {
        ifname: "eth0".into(),
        queue: 0,
        io,
        spec,
        rate,
        duration: None,
        count: Some(count),
        live: true,
        end_markers: 3,
    };
    let tx_ns = t.tx_ns.name().to_string();
    let sstop = stop.clone();
    let sender = thread::spawn(move || {
        enter_netns(&tx_ns).expect("enter tx namespace");
        run_send(&scfg, &sstop)
    });
    let s = sender.join().expect("sender thread").expect("sender");
    let r = sink.join().expect("sink thread").expect("sink");
    eprintln!("{}\n{}", s.text(), r.text());
    (s, r)
}

fn assert_clean(s: &SendReport, r: &RecvReport, count: u64) {
    assert_eq!(s.sent, count, "sender sent everything");
    assert_eq!(r.sent, Some(count), "end marker arrived with the total");
    assert_eq!(r.received(), count, "sink received every packet");
    assert_eq!(r.lost(), 0);
    assert_eq!(r.seq.reordered, 0);
    assert_eq!(r.seq.duplicates, 0);
    let h = &r.latency;
    assert_eq!(h.count, count);
    let (p50, p90, p99) = (h.percentile(0.5), h.percentile(0.9), h.percentile(0.99));
    assert!(h.min > 0, "latency min {}", h.min);
    assert!(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= h.max);
    let json = r.to_json();
    assert_eq!(json["received"], count);
    assert_eq!(json["latency_ns"]["max"], h.max);
}

#[test]
fn afxdp_udp_10k_at_10kpps_arrives_complete_and_in_order() {
    if !is_root() {
        eprintln!("skipping: pktgen veth test needs root");
        return;
    }
    let t = topo();
    let spec = PacketSpec {
        flows: 16,
        ..PacketSpec::default()
    };
    let (s, r) = run_pair(&t, IoKind::Xdp, spec, 10_000, 10_000);
    assert!(r.io.starts_with("af_xdp"), "{}", r.io);
    assert!(s.io.starts_with("af_xdp"), "{}", s.io);
    assert_clean(&s, &r, 10_000);
}

#[test]
fn af_packet_tcp_syn_multi_ip_flows_arrive_complete() {
    if !is_root() {
        eprintln!("skipping: pktgen veth test needs root");
        return;
    }
    let t = topo();
    let spec = PacketSpec {
        proto: Proto::Tcp,
        size: 128,
        flows: 4,
        vary: Vary::Ip,
        ..PacketSpec::default()
    };
    let (s, r) = run_pair(&t, IoKind::Packet, spec, 2_000, 10_000);
    assert_eq!((s.io, r.io), ("af_packet", "af_packet"));
    assert_clean(&s, &r, 2_000);
}
