//! The scenarios and the two planes they run through. A plane is started on a fresh
//! [`OvnSandbox`] per topology and stopped before the next one starts, so only one
//! forwarding plane (and one busy-polling core) exists at a time.
//!
//! OVS: [`OvsPeer`] (ovs-vswitchd netdev datapath + ovn-controller) with AF_XDP ports
//! (`type=afxdp`, `options:n_rxq=1`) and `other_config:pmd-cpu-mask=0x2` (one PMD thread,
//! core 1). southpaw: `southpaw run` ([`plane::start_southpaw`]), one worker, which pins
//! itself to the last CPU (core 1 on this 2-core machine).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use southpaw_bench::cp::plane;
use testbed::proc::run;
use testbed::{
    Container, Netns, OvnSandbox, OvsPeer, PeerOptions, PortKind, PortSpec, Topology, VethPair,
};

use crate::traffic::{self, Endpoint, Pktgen};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The load balancer of `conntrack-lb-64b-pps`: a UDP VIP on `ls0` (ClusterIP style: the
/// VIP is no port's address) ...
const LB_VIP: &str = "10.0.0.100";
/// ... and its backends, all addresses of `port1` (its own and three more), so that the one
/// sink on `port1` counts every delivered packet whichever backend the LB picked.
const LB_BACKENDS: [&str; 4] = ["10.0.0.2", "10.0.0.11", "10.0.0.12", "10.0.0.13"];
/// pktgen's UDP destination port (its default) and the VIP's port.
const LB_PORT: u16 = 9;
/// Flows (source ports) of the LB scenario, so that the LB spreads them over the backends.
const LB_FLOWS: u32 = 64;

/// One scenario's number on one plane, with a remark for the table when there is one.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub scenario: Scenario,
    pub value: f64,
    pub note: Option<String>,
}

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
    ConntrackLb,
    Tcp1,
    Tcp8,
}

impl Scenario {
    pub const ALL: &'static [Scenario] = &[
        Scenario::L2,
        Scenario::L2Flows,
        Scenario::L3,
        Scenario::Conntrack,
        Scenario::ConntrackLb,
        Scenario::Tcp1,
        Scenario::Tcp8,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::L2 => "l2-64b-pps",
            Scenario::L2Flows => "l2-64b-10k-flows-pps",
            Scenario::L3 => "l3-64b-pps",
            Scenario::Conntrack => "conntrack-64b-pps",
            Scenario::ConntrackLb => "conntrack-lb-64b-pps",
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
            Up::Southpaw { plane, .. } => plane.containers(),
        }
    }

    /// The backends the load balancer picked for connections to `vip`: the reply source
    /// of every conntrack entry whose original destination is `vip`, from the plane's own
    /// conntrack (`ovs-appctl dpctl/dump-conntrack`; `southpaw ctl dump-conntrack`; both
    /// print entries in the same `udp,orig=(...),reply=(...)` form).
    fn lb_backends(&self, bin: &Path, vip: &str) -> Result<BTreeSet<String>> {
        let text = match self {
            Up::Ovs { _peer, .. } => _peer.appctl(&["dpctl/dump-conntrack"])?,
            Up::Southpaw { plane, .. } => {
                let plane::Plane::Southpaw { sp, .. } = plane.as_ref() else {
                    anyhow::bail!("southpaw plane without its process");
                };
                let mut cmd = Command::new(bin);
                cmd.args(["--log", "warn", "ctl", "--ctl"])
                    .arg(sp.ctl_path())
                    .args(["--json", "dump-conntrack"])
                    .stdin(Stdio::null());
                let v: serde_json::Value = serde_json::from_str(&run(&mut cmd)?)
                    .context("southpaw ctl dump-conntrack --json")?;
                v["connections"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e["entry"].as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            }
        };
        Ok(backends_of(&text, vip))
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
) -> Result<Vec<Measurement>> {
    let who = match kind {
        Kind::Ovs => "ovn-controller + ovs-vswitchd (AF_XDP, 1 PMD)",
        Kind::Southpaw => "southpaw run",
    };
    eprintln!("== {who} ==");
    let mut out = Vec::new();
    let mut put = |scenario, value, note| {
        out.push(Measurement {
            scenario,
            value,
            note,
        })
    };
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
            put(s, v, None);
        }
        let stateful = [Scenario::Conntrack, Scenario::ConntrackLb];
        if stateful.iter().any(|s| scenarios.contains(s)) {
            ovn.nbctl(&[
                "--wait=hv",
                "acl-add",
                "ls0",
                "to-lport",
                "1000",
                "ip4 && udp",
                "allow-related",
            ])?;
        }
        if scenarios.contains(&Scenario::Conntrack) {
            warm_up(&l2(1))?;
            put(Scenario::Conntrack, pps(Scenario::Conntrack, &l2(1))?, None);
        }
        if scenarios.contains(&Scenario::ConntrackLb) {
            add_load_balancer(&ovn, &ports[1])?;
            let to = Endpoint {
                ip: LB_VIP,
                ..Endpoint::of(&c[1])
            };
            let p = Pktgen { to, ..l2(LB_FLOWS) };
            warm_up(&p)?;
            let v = pps(Scenario::ConntrackLb, &p)?;
            let used = up.lb_backends(bin, LB_VIP)?;
            eprintln!(
                "{}: backends in conntrack: {used:?}",
                Scenario::ConntrackLb.name()
            );
            let note = if used.is_empty() {
                eprintln!("WARNING: the load balancer did not act on this plane: row invalid");
                "NO conntrack entry to the VIP: LB not applied, row invalid".to_string()
            } else {
                format!("{}/{} backends used", used.len(), LB_BACKENDS.len())
            };
            put(Scenario::ConntrackLb, v, Some(note));
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
        put(Scenario::L3, pps(Scenario::L3, &p)?, None);
        up.check_running()?;
    }
    Ok(out)
}

/// The load balancer of `conntrack-lb-64b-pps` on `ls0`: `backend`'s port gets the extra
/// backend addresses, then `lb0` (UDP, [`LB_VIP`] to [`LB_BACKENDS`]) is attached to the
/// switch, `--wait=hv`.
fn add_load_balancer(ovn: &OvnSandbox, backend: &PortSpec) -> Result<()> {
    let addresses = std::iter::once(backend.mac.as_str())
        .chain(LB_BACKENDS)
        .collect::<Vec<_>>()
        .join(" ");
    anyhow::ensure!(
        LB_BACKENDS.contains(&backend.ip()),
        "{} is not among the LB backends",
        backend.ip()
    );
    ovn.nbctl(&["lsp-set-addresses", &backend.name, &addresses])?;
    let vip = format!("{LB_VIP}:{LB_PORT}");
    let backends = LB_BACKENDS
        .iter()
        .map(|b| format!("{b}:{LB_PORT}"))
        .collect::<Vec<_>>()
        .join(",");
    ovn.nbctl(&["lb-add", "lb0", &vip, &backends, "udp"])?;
    ovn.nbctl(&["--wait=hv", "ls-lb-add", "ls0", "lb0"])?;
    Ok(())
}

/// The reply-direction source addresses (the backends after DNAT) of the conntrack entries
/// in `text` whose original destination is `vip`.
fn backends_of(text: &str, vip: &str) -> BTreeSet<String> {
    let to_vip = format!(",dst={vip},");
    text.lines()
        .filter_map(|l| {
            let (orig, reply) = l.split_once("reply=(")?;
            if !orig.contains(&to_vip) {
                return None;
            }
            let src = reply.strip_prefix("src=")?;
            let end = src.find([',', ')'])?;
            Some(src[..end].to_string())
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_conntrack_dumps() {
        let text = "udp,orig=(src=10.0.0.1,dst=10.0.0.100,sport=1024,dport=9),\
                    reply=(src=10.0.0.11,dst=10.0.0.1,sport=9,dport=1024),zone=1,mark=2\n\
                    udp,orig=(src=10.0.0.1,dst=10.0.0.100,sport=1025,dport=9),\
                    reply=(src=10.0.0.2,dst=10.0.0.1,sport=9,dport=1025),zone=1\n\
                    udp,orig=(src=10.0.0.1,dst=10.0.0.11,sport=1024,dport=9),\
                    reply=(src=10.0.0.11,dst=10.0.0.1,sport=9,dport=1024),zone=2\n\
                    udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1024,dport=9),\
                    reply=(src=10.0.0.2,dst=10.0.0.1,sport=9,dport=1024)";
        let got: Vec<String> = backends_of(text, "10.0.0.100").into_iter().collect();
        assert_eq!(got, ["10.0.0.11", "10.0.0.2"]);
        assert!(backends_of(text, "10.0.0.10").is_empty());
    }
}
