//! The worker loop on the in-memory backend with a hand-written seed 004 switch (`ls0`,
//! two VIFs with port security): flooding, unicast, cache tiers, port-security drops and
//! epoch changes, each asserted on the frames that come out and on the counters.

use std::sync::Arc;

use conntrack::Conntrack;
use datapath::actions::Cause;
use datapath::counters::{DropReason, Tier};
use datapath::dataplane::{DpPublisher, DpSnapshot};
use datapath::io::Backend;
use datapath::mem::MemBackend;
use datapath::worker::{Worker, WorkerConfig, WorkerStats};
use pipeline::compile::compile;
use pipeline::model::*;
use pipeline::Symtab;

const MAC1: [u8; 6] = [0x0a, 0, 0, 0, 0, 1];
const MAC2: [u8; 6] = [0x0a, 0, 0, 0, 0, 2];
const IP1: [u8; 4] = [10, 0, 0, 1];
const IP2: [u8; 4] = [10, 0, 0, 2];

fn flow(t: u8, prio: u16, pipe: Pipeline, stage: &str, m: &str, a: &str) -> LogicalFlow {
    LogicalFlow {
        uuid: format!("{stage}-{prio}-{m}"),
        datapath: Some("dp-ls0".into()),
        dp_group: None,
        pipeline: pipe,
        table_id: t,
        priority: prio,
        match_: m.into(),
        actions: a.into(),
        stage: stage.into(),
    }
}

fn vif(name: &str, key: u32, mac: &str, ip: &str) -> PortBinding {
    PortBinding {
        logical_port: name.into(),
        tunnel_key: key,
        datapath: "dp-ls0".into(),
        mac: vec![format!("{mac} {ip}")],
        port_security: vec![format!("{mac} {ip}")],
        chassis: Some("ch1".into()),
        ..PortBinding::default()
    }
}

/// Seed 004's `ls0` with `c1` and `c2`; `c2_unicast` is the action of the L2 lookup flow
/// for c2's MAC.
fn model(c2_unicast: &str) -> Model {
    use Pipeline::*;
    let mut m = base(c2_unicast);
    // No ACLs: no conntrack.
    m.flows
        .retain(|f| f.pipeline != Ingress || !(f.table_id == 2 || f.table_id == 3));
    m.flows
        .push(flow(2, 0, Ingress, "ls_in_pre_stateful", "1", "next;"));
    m.flows.push(flow(3, 0, Ingress, "ls_in_acl", "1", "next;"));
    m
}

/// [`model`] plus a stateful ACL: IPv4 from `c1` starts connections, IPv4 towards `c1` is
/// allowed only as part of one (as `allow-related` from c1).
fn stateful_model() -> Model {
    use Pipeline::*;
    let mut m = base("outport = \"c2\"; output;");
    // Conntrack zones are per logical port: the ingress pipeline tracks in the inport's
    // zone, the egress one in the outport's, and a connection is committed in both (as
    // OVN's ls_in_stateful and ls_out_stateful do).
    m.flows.retain(|f| f.pipeline != Egress);
    m.flows.extend([
        flow(
            3,
            100,
            Ingress,
            "ls_in_acl",
            "ip4 && ct.est && !ct.new && !ct.inv",
            "next;",
        ),
        flow(
            3,
            90,
            Ingress,
            "ls_in_acl",
            "ip4 && ct.new && inport == \"c1\"",
            "ct_commit; next;",
        ),
        flow(3, 80, Ingress, "ls_in_acl", "arp", "next;"),
        flow(3, 0, Ingress, "ls_in_acl", "1", "drop;"),
        flow(0, 100, Egress, "ls_out_pre_stateful", "ip4", "ct_next;"),
        flow(0, 0, Egress, "ls_out_pre_stateful", "1", "next;"),
        flow(
            1,
            100,
            Egress,
            "ls_out_stateful",
            "ip4 && ct.new",
            "ct_commit; next;",
        ),
        flow(1, 0, Egress, "ls_out_stateful", "1", "next;"),
        flow(2, 0, Egress, "ls_out_apply_port_sec", "1", "output;"),
    ]);
    m
}

fn base(c2_unicast: &str) -> Model {
    use Pipeline::*;
    Model {
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
                50,
                Ingress,
                "ls_in_check_port_sec",
                "1",
                "reg0[15] = check_in_port_sec(); next;",
            ),
            flow(
                1,
                50,
                Ingress,
                "ls_in_apply_port_sec",
                "reg0[15] == 1",
                "drop;",
            ),
            flow(1, 0, Ingress, "ls_in_apply_port_sec", "1", "next;"),
            flow(2, 100, Ingress, "ls_in_pre_stateful", "ip4", "ct_next;"),
            flow(2, 0, Ingress, "ls_in_pre_stateful", "1", "next;"),
            flow(
                4,
                70,
                Ingress,
                "ls_in_l2_lkup",
                "eth.mcast",
                "outport = \"_MC_flood\"; output;",
            ),
            flow(
                4,
                50,
                Ingress,
                "ls_in_l2_lkup",
                "eth.dst == 0a:00:00:00:00:01",
                "outport = \"c1\"; output;",
            ),
            flow(
                4,
                50,
                Ingress,
                "ls_in_l2_lkup",
                "eth.dst == 0a:00:00:00:00:02",
                c2_unicast,
            ),
            flow(0, 0, Egress, "ls_out_apply_port_sec", "1", "output;"),
        ],
        ports: vec![
            vif("c1", 1, "0a:00:00:00:00:01", "10.0.0.1"),
            vif("c2", 2, "0a:00:00:00:00:02", "10.0.0.2"),
        ],
        mcast_groups: vec![MulticastGroup {
            datapath: "dp-ls0".into(),
            name: "_MC_flood".into(),
            tunnel_key: 32768,
            ports: vec!["c1".into(), "c2".into()],
        }],
        ..Model::default()
    }
}

fn snapshot(m: &Model) -> Arc<DpSnapshot> {
    let c = compile(m, Arc::new(Symtab::ovn()));
    assert!(c.rejected.is_empty(), "rejected: {:?}", c.rejected);
    let (s, skipped) = DpSnapshot::new(Arc::new(c), [("c1", "veth-c1"), ("c2", "veth-c2")]);
    assert!(skipped.is_empty());
    Arc::new(s)
}

fn arp_request(src: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0xff; 6];
    p.extend_from_slice(&src);
    p.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&tpa);
    p.resize(60, 0);
    p
}

fn udp(src: [u8; 6], dst: [u8; 6], sip: [u8; 4], dip: [u8; 4], sport: u16) -> Vec<u8> {
    let mut p = dst.to_vec();
    p.extend_from_slice(&src);
    p.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&sip);
    ip.extend_from_slice(&dip);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&[0x00, 0x35, 0, 12, 0, 0]);
    p.extend_from_slice(b"ping");
    p
}

struct Rig {
    publisher: DpPublisher,
    worker: Worker<MemBackend>,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(&model("outport = \"c2\"; output;"))
    }

    fn with(m: &Model) -> Rig {
        let publisher = DpPublisher::new();
        let sub = publisher.subscribe();
        let cfg = WorkerConfig {
            emc_insert_inv_prob: 1,
            conntrack: Some(Arc::new(Conntrack::new(conntrack::Config::default()))),
            ..WorkerConfig::default()
        };
        let opener = Box::new(|n: &[String]| Ok(MemBackend::new(n.len(), 256)));
        let worker = Worker::new(sub, opener, cfg, Arc::new(WorkerStats::default()));
        let mut rig = Rig { publisher, worker };
        rig.publish(m);
        rig
    }

    fn publish(&mut self, m: &Model) -> u64 {
        let e = self.publisher.publish(snapshot(m));
        assert_eq!(
            self.publisher.adopted_min(),
            e - 1,
            "not adopted before the worker polls"
        );
        assert!(self.worker.adopt());
        assert_eq!(self.publisher.adopted_min(), e);
        e
    }

    /// Injects `pkt` on `port`, runs one pass, returns what came out of ports 0 and 1.
    fn send(&mut self, port: u16, pkt: &[u8]) -> [Vec<Vec<u8>>; 2] {
        let b = self.worker.backend_mut().expect("backend open");
        assert!(b.inject(port, pkt));
        assert_eq!(self.worker.poll_once(), 1);
        let b = self.worker.backend_mut().expect("backend open");
        let out = [b.take_sent(0), b.take_sent(1)];
        assert_eq!(b.in_flight(), 0, "frame leaked");
        out
    }

    fn tier(&self, t: Tier) -> u64 {
        self.worker.counters().tiers[t.index()]
    }
}

#[test]
fn arp_broadcast_floods_to_the_other_port_only() {
    let mut r = Rig::new();
    let pkt = arp_request(MAC1, IP1, IP2);
    let [p0, p1] = r.send(0, &pkt);
    assert!(p0.is_empty(), "not sent back to the inport");
    assert_eq!(p1, vec![pkt.clone()]);
    assert_eq!(r.tier(Tier::Upcall), 1);
    // From the other side too.
    let pkt2 = arp_request(MAC2, IP2, IP1);
    let [p0, p1] = r.send(1, &pkt2);
    assert_eq!(p0, vec![pkt2]);
    assert!(p1.is_empty());
}

#[test]
fn unicast_goes_to_one_port_and_second_packet_hits_the_emc() {
    let mut r = Rig::new();
    let pkt = udp(MAC1, MAC2, IP1, IP2, 1000);
    let [p0, p1] = r.send(0, &pkt);
    assert!(p0.is_empty());
    assert_eq!(p1, vec![pkt.clone()]);
    assert_eq!(r.tier(Tier::Upcall), 1);
    assert_eq!(r.worker.megaflows(), 1);

    let [_, p1] = r.send(0, &pkt);
    assert_eq!(p1, vec![pkt.clone()]);
    assert_eq!(r.tier(Tier::EmcHit), 1);
    assert_eq!(r.tier(Tier::Upcall), 1);

    // Another source port: a new microflow (EMC miss) covered by the same megaflow, as
    // the switch never looked at L4.
    let other = udp(MAC1, MAC2, IP1, IP2, 2000);
    let [_, p1] = r.send(0, &other);
    assert_eq!(p1, vec![other]);
    assert_eq!(r.tier(Tier::MegaflowHit), 1);
    assert_eq!(r.tier(Tier::Upcall), 1);
    assert_eq!(r.worker.megaflows(), 1);
}

#[test]
fn spoofed_source_mac_is_dropped_for_port_security() {
    let mut r = Rig::new();
    let spoof = [0x0a, 0, 0, 0, 0, 0x66];
    let [p0, p1] = r.send(0, &udp(spoof, MAC2, IP1, IP2, 1000));
    assert!(p0.is_empty() && p1.is_empty());
    assert_eq!(r.worker.causes()[Cause::PortSecurity.index()], 1);
    assert_eq!(
        r.worker.counters().drops[DropReason::PipelineDrop.index()],
        1
    );
    // Spoofed IP with the right MAC: also port security.
    let [p0, p1] = r.send(0, &udp(MAC1, MAC2, [10, 0, 0, 99], IP2, 1000));
    assert!(p0.is_empty() && p1.is_empty());
    assert_eq!(r.worker.causes()[Cause::PortSecurity.index()], 2);
    // The genuine packet still passes.
    let [_, p1] = r.send(0, &udp(MAC1, MAC2, IP1, IP2, 1000));
    assert_eq!(p1.len(), 1);
}

#[test]
fn new_epoch_stops_using_cached_flows() {
    let mut r = Rig::new();
    let pkt = udp(MAC1, MAC2, IP1, IP2, 1000);
    r.send(0, &pkt);
    let [_, p1] = r.send(0, &pkt);
    assert_eq!(p1.len(), 1);
    assert_eq!(r.tier(Tier::EmcHit), 1);

    r.publish(&model("drop;"));
    let [p0, p1] = r.send(0, &pkt);
    assert!(
        p0.is_empty() && p1.is_empty(),
        "forwarded by a stale cache entry"
    );
    assert_eq!(
        r.tier(Tier::Upcall),
        2,
        "the new epoch went to the slow path"
    );
    assert_eq!(r.tier(Tier::EmcHit), 1);
    assert_eq!(r.worker.causes()[Cause::Explicit.index()], 1);

    // And back: forwarding resumes under the third epoch.
    r.publish(&model("outport = \"c2\"; output;"));
    let [_, p1] = r.send(0, &pkt);
    assert_eq!(p1, vec![pkt]);
    assert_eq!(r.tier(Tier::Upcall), 3);
}

#[test]
fn packets_before_any_pipeline_or_runts_are_counted_drops() {
    let publisher = DpPublisher::new();
    let sub = publisher.subscribe();
    let opener = Box::new(|n: &[String]| Ok(MemBackend::new(n.len(), 64)));
    let mut w = Worker::new(
        sub,
        opener,
        WorkerConfig::default(),
        Arc::new(WorkerStats::default()),
    );
    assert_eq!(w.poll_once(), 0, "no ports before the first snapshot");
    publisher.publish(snapshot(&model("drop;")));
    assert!(w.adopt());
    let b = w.backend_mut().expect("backend");
    assert_eq!(b.port_count(), 2);
    assert!(b.inject(0, &[0u8; 10]));
    assert_eq!(w.poll_once(), 1);
    assert_eq!(w.counters().drops[DropReason::RuntFrame.index()], 1);
    assert_eq!(w.counters().tiers[Tier::Lost.index()], 1);
    assert_eq!(w.backend_mut().expect("backend").in_flight(), 0);
}

#[test]
fn stateful_acl_allows_replies_only_after_the_connection_started() {
    let mut r = Rig::with(&stateful_model());
    let reply = udp(MAC2, MAC1, IP2, IP1, 53);
    let [p0, p1] = r.send(1, &reply);
    assert!(
        p0.is_empty() && p1.is_empty(),
        "unsolicited packet towards c1 passed"
    );
    assert_eq!(r.worker.causes()[Cause::Explicit.index()], 1);

    // c1 -> c2 (dst port 53 from sport 1000): new, committed, forwarded.
    let req = udp(MAC1, MAC2, IP1, IP2, 1000);
    let [_, p1] = r.send(0, &req);
    assert_eq!(p1, vec![req.clone()]);
    // The reply of that connection (53 -> 1000) is established and passes.
    let mut back = udp(MAC2, MAC1, IP2, IP1, 53);
    back[36..38].copy_from_slice(&1000u16.to_be_bytes());
    let [p0, _] = r.send(1, &back);
    assert_eq!(p0, vec![back.clone()]);
    assert_eq!(
        r.worker.recirculations(),
        5,
        "conntrack once for the refused packet (ingress), twice for the others"
    );
    // ARP is not sent to conntrack.
    let [_, p1] = r.send(0, &arp_request(MAC1, IP1, IP2));
    assert_eq!(p1.len(), 1);
    assert_eq!(r.worker.recirculations(), 5);
    // A second reply is established too, now served from the caches.
    let upcalls = r.tier(Tier::Upcall);
    let [p0, _] = r.send(1, &back);
    assert_eq!(p0, vec![back]);
    assert_eq!(r.tier(Tier::Upcall), upcalls);
}
