//! The scenarios and the two planes they run through. A plane is started on a fresh
//! [`OvnSandbox`] per topology and stopped before the next one starts, so only one
//! forwarding plane (and one busy-polling core) exists at a time.
//!
//! OVS: [`OvsPeer`] (ovs-vswitchd netdev datapath + ovn-controller) with AF_XDP ports
//! (`type=afxdp`, `options:n_rxq=1`) and `other_config:pmd-cpu-mask=0x2` (one PMD thread,
//! core 1). southpaw: `southpaw run` ([`plane::start_southpaw`]), one worker, which pins
//! itself to the last CPU (core 1 on this 2-core machine).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use testbed::{
    Container, Netns, OvnSandbox, OvsPeer, PeerOptions, PortKind, PortSpec, Topology, VethPair,
};

use crate::plane;
use crate::traffic::{self, Endpoint, Pktgen};

const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ovs,
    Southpaw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    L2,
    L2Flows,
    L3,
    Conntrack,
    Tcp1,
    Tcp8,
}

impl Scenario {
    pub const ALL: &'static [Scenario] = &[
        Scenario::L2,
        Scenario::L2Flows,
        Scenario::L3,
        Scenario::Conntrack,
        Scenario::Tcp1,
        Scenario::Tcp8,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::L2 => "l2-64b-pps",
            Scenario::L2Flows => "l2-64b-10k-flows-pps",
            Scenario::L3 => "l3-64b-pps",
            Scenario::Conntrack => "conntrack-64b-pps",
            Scenario::Tcp1 => "tcp-1-stream",
            Scenario::Tcp8 => "tcp-8-streams",
        }
    }

    pub fn metric(self) -> &'static str {
        match self {
            Scenario::Tcp1 | Scenario::Tcp8 => "iperf3 received",
            _ => "delivered pps at the sink",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Scenario::Tcp1 | Scenario::Tcp8 => "Gbit/s",
            _ => "pps",
        }
    }
}

/// A started plane with its containers; dropping it stops everything (containers first).
enum Up {
    Ovs {
        containers: Vec<Container>,
        _peer: Box<OvsPeer>,
    },
    Southpaw {
        plane: Box<plane::Plane>,
        _log_dir: tempfile::TempDir,
    },
}

impl Up {
    fn start(kind: Kind, ovn: &OvnSandbox, ports: &[PortSpec], bin: &Path) -> Result<Up> {
        match kind {
            Kind::Ovs => {
                let opts = PeerOptions {
                    system_id: plane::OVS_CHASSIS.into(),
                    port_kind: PortKind::Afxdp,
                    ..PeerOptions::default()
                };
                let mut peer =
                    OvsPeer::start_with(ovn, opts).context("start ovn-controller + ovs")?;
                peer.db()
                    .vsctl(&["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x2"])?;
                let mut containers = Vec::new();
                for p in ports {
                    let c = peer.attach_timeout(ovn, p, TIMEOUT)?;
                    peer.db()
                        .vsctl(&["set", "Interface", &c.host().name, "options:n_rxq=1"])?;
                    containers.push(c);
                }
                ovn.wait_hv()?;
                peer.check_running()?;
                Ok(Up::Ovs {
                    containers,
                    _peer: Box::new(peer),
                })
            }
            Kind::Southpaw => {
                let dir = testbed::names::temp_dir("compare")?;
                let log = dir.path().join("southpaw-run.log");
                let (plane, _) = plane::start_southpaw(ovn, ports, bin, &log)?;
                Ok(Up::Southpaw {
                    plane: Box::new(plane),
                    _log_dir: dir,
                })
            }
        }
    }

    fn containers(&self) -> &[Container] {
        match self {
            Up::Ovs { containers, .. } => containers,
            Up::Southpaw { plane, .. } => match plane.as_ref() {
                plane::Plane::Southpaw { _containers, .. } => _containers,
                plane::Plane::Ovs { .. } => &[],
            },
        }
    }

    fn check_running(&mut self) -> Result<()> {
        match self {
            Up::Ovs { _peer, .. } => _peer.check_running(),
            Up::Southpaw { plane, .. } => plane.check_running(),
        }
    }
}

/// Runs `scenarios` through one plane; returns one number per scenario.
pub fn measure(
    kind: Kind,
    bin: &Path,
    scenarios: &[Scenario],
    secs: u32,
) -> Result<Vec<(Scenario, f64)>> {
    let who = match kind {
        Kind::Ovs => "ovn-controller + ovs-vswitchd (AF_XDP, 1 PMD)",
        Kind::Southpaw => "southpaw run",
    };
    eprintln!("== {who} ==");
    let mut out = Vec::new();
    let on_seed = |s: &Scenario| !matches!(s, Scenario::L3);
    if scenarios.iter().any(on_seed) {
        let ovn = OvnSandbox::start()?;
        let topo = Topology::seed004();
        topo.apply(&ovn, |_| ())?;
        let ports = topo.switches[0].ports.clone();
        let mut up = Up::start(kind, &ovn, &ports, bin).with_context(|| format!("start {who}"))?;
        let c = up.containers();
        anyhow::ensure!(c.len() == 2, "expected two containers, have {}", c.len());
        let l2 = |flows| Pktgen {
            bin,
            from: Endpoint::of(&c[0]),
            to: Endpoint::of(&c[1]),
            dst_mac: &ports[1].mac,
            flows,
            secs,
        };
        warm_up(&l2(1))?;
        for &s in scenarios {
            let v = match s {
                Scenario::L2 => pps(s, &l2(1))?,
                Scenario::L2Flows => pps(s, &l2(10_000))?,
                Scenario::Tcp1 | Scenario::Tcp8 => {
                    let streams = if s == Scenario::Tcp1 { 1 } else { 8 };
                    let g = traffic::iperf_gbps(
                        c[0].netns(),
                        c[1].netns(),
                        ports[1].ip(),
                        streams,
                        secs,
                    )
                    .with_context(|| s.name())?;
                    eprintln!("{}: {g:.2} Gbit/s", s.name());
                    g
                }
                _ => continue,
            };
            out.push((s, v));
        }
        if scenarios.contains(&Scenario::Conntrack) {
            ovn.nbctl(&[
                "--wait=hv",
                "acl-add",
                "ls0",
                "to-lport",
                "1000",
                "ip4 && udp",
                "allow-related",
            ])?;
            out.push((Scenario::Conntrack, pps(Scenario::Conntrack, &l2(1))?));
        }
        up.check_running()?;
    }
    if scenarios.contains(&Scenario::L3) {
        let ovn = OvnSandbox::start()?;
        let topo = Topology::two_switch_router(1);
        topo.apply(&ovn, |_| ())?;
        let ports: Vec<PortSpec> = topo.ports().map(|(_, p)| p.clone()).collect();
        let router_mac = topo.switches[0]
            .router_port
            .as_ref()
            .map(|r| r.mac.clone())
            .context("two_switch_router has no router port")?;
        let mut up = Up::start(kind, &ovn, &ports, bin).with_context(|| format!("start {who}"))?;
        let c = up.containers();
        anyhow::ensure!(c.len() == 2, "expected two containers, have {}", c.len());
        let p = Pktgen {
            bin,
            from: Endpoint::of(&c[0]),
            to: Endpoint::of(&c[1]),
            dst_mac: &router_mac,
            flows: 1,
            secs,
        };
        warm_up(&p)?;
        out.push((Scenario::L3, pps(Scenario::L3, &p)?));
        up.check_running()?;
    }
    Ok(out)
}

/// One untimed second of the same traffic right after the plane started (first-packet
/// upcalls, XDP program loads, caches), so the first measurement does not pay for them.
fn warm_up(p: &Pktgen) -> Result<()> {
    let once = Pktgen { secs: 1, ..*p };
    traffic::pktgen_pps(&once).context("warm-up")?;
    Ok(())
}

fn pps(s: Scenario, p: &Pktgen) -> Result<f64> {
    let (rx, tx) = traffic::pktgen_pps(p).with_context(|| s.name())?;
    eprintln!("{}: sent {tx:.0} pps, delivered {rx:.0} pps", s.name());
    Ok(rx)
}

/// The same pktgen over a bare veth pair between two namespaces: the machine's limit.
pub fn ceiling(bin: &Path, secs: u32) -> Result<f64> {
    let a = Netns::new("cmpa")?;
    let b = Netns::new("cmpb")?;
    let mut pair = VethPair::new()?;
    pair.move_a(&a, Some("cmpa0"))?;
    pair.move_b(&b, Some("cmpb0"))?;
    pair.a().up()?;
    pair.b().up()?;
    let mac = pair.b().mac()?;
    let p = Pktgen {
        bin,
        from: Endpoint {
            netns: a.name(),
            dev: "cmpa0",
            ip: "10.0.0.1",
        },
        to: Endpoint {
            netns: b.name(),
            dev: "cmpb0",
            ip: "10.0.0.2",
        },
        dst_mac: &mac,
        flows: 1,
        secs,
    };
    let (rx, tx) = traffic::pktgen_pps(&p).context("ceiling")?;
    eprintln!("ceiling: sent {tx:.0} pps, delivered {rx:.0} pps");
    drop(pair);
    Ok(rx)
}
