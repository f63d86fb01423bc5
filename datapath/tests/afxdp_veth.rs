//! AF_XDP end to end on veth (root only; skipped with a message otherwise): southpaw's XDP
//! program and one AF_XDP socket on each host-side veth end, a forwarding loop in a thread
//! (everything from port A to port B and back), and pings between two namespaces through it.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use common::{has_xdp, is_root, VethPair2};
use datapath::{
    afxdp::{AfXdpBackend, AfXdpConfig, PortSpec, ZeroCopy},
    io::{Backend, Batch, IoMode, PortStats},
    xdp::{XdpAttachMode, XdpAttachment, XdpError},
};

struct Forwarder {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(PortStats, PortStats, usize)>,
}

impl Forwarder {
    fn start(mut backend: AfXdpBackend) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut batch = Batch::new();
            while !flag.load(Ordering::Relaxed) {
                if common::forward_step(&mut backend, &mut batch) == 0 {
                    backend.wait_rx(Duration::from_millis(20));
                }
            }
            (backend.stats(0), backend.stats(1), backend.in_flight())
        });
        Self { stop, handle }
    }

    fn stop(self) -> (PortStats, PortStats, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("forwarder thread panicked")
    }
}

/// Attaches XDP to both host ends, opens the backend and registers its sockets.
fn bring_up(t: &VethPair2, mode: XdpAttachMode) -> (Vec<XdpAttachment>, AfXdpBackend) {
    let mut atts = vec![
        XdpAttachment::attach(&t.host_a, mode).expect("attach XDP to host_a"),
        XdpAttachment::attach(&t.host_b, mode).expect("attach XDP to host_b"),
    ];
    let ports = [
        PortSpec {
            ifname: t.host_a.clone(),
            queue: 0,
        },
        PortSpec {
            ifname: t.host_b.clone(),
            queue: 0,
        },
    ];
    let cfg = AfXdpConfig {
        frames: 1024,
        ring_size: 512,
        fill_per_port: 256,
        ..Default::default()
    };
    let backend = AfXdpBackend::open(&ports, &cfg).expect("open AF_XDP backend");
    backend
        .register_sockets(&mut atts)
        .expect("register sockets in XSKMAPs");
    eprintln!(
        "XDP modes: {:?}/{:?}; AF_XDP mode: {:?}",
        atts[0].mode(),
        atts[1].mode(),
        backend.mode()
    );
    (atts, backend)
}

fn ping_through(mode: XdpAttachMode, tag: u8) {
    if !is_root() {
        eprintln!("skipping: AF_XDP veth test needs root");
        return;
    }
    let t = VethPair2::new(tag);
    let (atts, backend) = bring_up(&t, mode);
    assert!(
        has_xdp(&t.host_a) && has_xdp(&t.host_b),
        "program visible on both ends"
    );
    let fwd = Forwarder::start(backend);

    let out = t.exec(
        &t.ns_a,
        &["ping", "-c", "5", "-i", "0.05", "-W", "2", &t.ip_b],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}");

    // Optional throughput look (reported, never asserted).
    let flood = t.exec(
        &t.ns_a,
        &["ping", "-f", "-c", "20000", "-W", "1", "-q", &t.ip_b],
    );
    eprintln!("ping -f: {}", String::from_utf8_lossy(&flood.stdout).trim());

    let (sa, sb, in_flight) = fwd.stop();
    eprintln!("port A {sa:?}\nport B {sb:?}");
    assert!(
        out.status.success(),
        "ping through southpaw failed:\n{text}"
    );
    assert!(text.contains(" 0% packet loss"), "{text}");
    assert!(
        sa.rx_packets >= 5 && sb.rx_packets >= 5,
        "replies went through the loop"
    );
    assert_eq!(
        sa.rx_packets,
        sb.tx_packets + sb.tx_dropped,
        "A->B accounted"
    );
    assert_eq!(in_flight, 0, "no frame leaked by the loop");

    drop(atts);
    assert!(!has_xdp(&t.host_a), "XDP still attached to {}", t.host_a);
    assert!(!has_xdp(&t.host_b), "XDP still attached to {}", t.host_b);
}

#[test]
fn ping_through_native_or_generic_xdp() {
    ping_through(XdpAttachMode::Auto, 1);
}

#[test]
fn ping_through_generic_xdp() {
    ping_through(XdpAttachMode::Skb, 2);
}

#[test]
fn second_attach_on_a_live_interface_is_refused_and_first_survives() {
    if !is_root() {
        eprintln!("skipping: AF_XDP veth test needs root");
        return;
    }
    let t = VethPair2::new(3);
    let first = XdpAttachment::attach(&t.host_a, XdpAttachMode::Auto).expect("first attach");
    match XdpAttachment::attach(&t.host_a, XdpAttachMode::Auto) {
        Err(XdpError::Busy { name, .. }) => assert!(name.starts_with("southpaw")),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(has_xdp(&t.host_a), "first program still attached");
    first.detach().expect("detach");
    assert!(!has_xdp(&t.host_a));
}

#[test]
fn zero_copy_required_fails_cleanly_on_veth() {
    if !is_root() {
        eprintln!("skipping: AF_XDP veth test needs root");
        return;
    }
    let t = VethPair2::new(4);
    let ports = [PortSpec {
        ifname: t.host_a.clone(),
        queue: 0,
    }];
    let cfg = AfXdpConfig {
        zero_copy: ZeroCopy::Require,
        frames: 64,
        ring_size: 64,
        ..Default::default()
    };
    // veth has no zero-copy support; Auto must fall back, Require must report the bind error.
    match AfXdpBackend::open(&ports, &cfg) {
        Err(e) => {
            eprintln!("zero-copy refused as expected: {e}");
            assert!(e.to_string().contains("bind"), "{e}")
        }
        Ok(b) => assert_eq!(b.mode(), IoMode::ZeroCopy),
    }
    let auto = AfXdpConfig {
        zero_copy: ZeroCopy::Auto,
        ..cfg
    };
    let b = AfXdpBackend::open(&ports, &auto).expect("copy-mode fallback");
    assert!(matches!(b.mode(), IoMode::Copy | IoMode::ZeroCopy));
}
