//! The benchmark topology (`bench/topologies/100x20.sh`, run with this sandbox's
//! `ovn-nbctl`), the local ports a chassis binds, and the timed Northbound changes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use testbed::proc::run;
use testbed::{OvnSandbox, PortSpec};

/// The topology script; `$NBCTL`, `$SWITCHES`, `$PORTS` select the database and size.
pub fn script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/100x20.sh"))
}

/// Size of the topology: `switches` switches on one router, `ports` ports each.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub switches: u32,
    pub ports: u32,
}

/// Writes the topology into `ovn`'s NB DB and waits until northd has put it into the SB.
/// Returns the number of `Logical_Flow` rows.
pub fn build(ovn: &OvnSandbox, size: Size) -> Result<usize> {
    let nbctl = format!("ovn-nbctl --db={} --timeout=600", ovn.nb_remote());
    let mut cmd = ovn.run_dirs().command("sh");
    cmd.arg(script())
        .env("NBCTL", nbctl)
        .env("SWITCHES", size.switches.to_string())
        .env("PORTS", size.ports.to_string());
    run(&mut cmd).context("build the benchmark topology")?;
    ovn.nbctl(&["--timeout=600", "--wait=sb", "sync"])?;
    let rows = ovn.sbctl(&["--bare", "--columns=_uuid", "list", "Logical_Flow"])?;
    Ok(rows.lines().filter(|l| !l.trim().is_empty()).count())
}

/// The port spec of `p<sw>_<port>` as the script writes it.
pub fn port_spec(sw: u32, port: u32) -> PortSpec {
    let net = format!("10.{}.{}", sw / 250, sw % 250);
    PortSpec {
        name: format!("p{sw}_{port}"),
        mac: format!("0a:00:00:{:02x}:{:02x}:{:02x}", sw / 256, sw % 256, port),
        cidr: format!("{net}.{}/24", port + 10),
        gateway: Some(format!("{net}.1")),
    }
}

/// The two ports every chassis binds: the first of the first switch and the first of the
/// last switch (the second of the only switch when there is one).
pub fn local_ports(size: Size) -> Vec<PortSpec> {
    let last = size.switches.saturating_sub(1);
    if last > 0 {
        vec![port_spec(0, 0), port_spec(last, 0)]
    } else {
        vec![
            port_spec(0, 0),
            port_spec(0, 1.min(size.ports.saturating_sub(1))),
        ]
    }
    .into_iter()
    .fold(Vec::new(), |mut v, p| {
        if !v.contains(&p) {
            v.push(p);
        }
        v
    })
}

/// Runs `ovn-nbctl args` and returns its wall-clock time in milliseconds (including the
/// `ovn-nbctl` process start, the same for both forwarding planes).
pub fn timed_nbctl(ovn: &OvnSandbox, args: &[&str]) -> Result<f64> {
    let t = Instant::now();
    ovn.nbctl(args)?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// The latencies of one forwarding plane: `--wait=hv` and `--wait=sb` (northd's share)
/// for adding a port and an ACL, `reps` samples each, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    pub port_hv: Vec<f64>,
    pub port_sb: Vec<f64>,
    pub acl_hv: Vec<f64>,
    pub acl_sb: Vec<f64>,
}

/// Sample `k` of every latency: adds ports `bs<k>` (`--wait=sb`) and `bh<k>`
/// (`--wait=hv`) to `ls0`, then two ACLs on `ls0` the same way. After each change an
/// untimed `--wait=hv sync` lets the chassis catch up, so every timed change starts from a
/// quiet chassis.
pub fn measure_rep(ovn: &OvnSandbox, k: u32, l: &mut Latencies) -> Result<()> {
    for (wait, prefix, out) in [
        ("--wait=sb", "bs", &mut l.port_sb),
        ("--wait=hv", "bh", &mut l.port_hv),
    ] {
        let name = format!("{prefix}{k}");
        // Unique MAC and IP per port (outside the switch subnets, which OVN allows).
        let net = if prefix == "bs" { 200 } else { 201 };
        let addr = format!(
            "0a:00:01:{:02x}:{:02x}:{:02x} 10.{net}.{}.{}",
            net,
            (k / 256) % 256,
            k % 256,
            k / 250 % 256,
            k % 250 + 1
        );
        let args = [
            wait,
            "lsp-add",
            "ls0",
            &name,
            "--",
            "lsp-set-addresses",
            &name,
            &addr,
        ];
        out.push(timed_nbctl(ovn, &args).with_context(|| format!("add port {name}"))?);
        ovn.wait_hv()?;
    }
    for (wait, base, out) in [
        ("--wait=sb", 10_000, &mut l.acl_sb),
        ("--wait=hv", 20_000, &mut l.acl_hv),
    ] {
        let dport = base + k;
        let prio = (1000 + k % 30000).to_string();
        let m = format!("outport == \"p0_0\" && ip4 && tcp.dst == {dport}");
        let args = [wait, "acl-add", "ls0", "to-lport", &prio, &m, "allow"];
        out.push(timed_nbctl(ovn, &args).with_context(|| format!("add ACL {m}"))?);
        ovn.wait_hv()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_match_the_script() {
        let p = port_spec(257, 3);
        assert_eq!(p.name, "p257_3");
        assert_eq!(p.mac, "0a:00:00:01:01:03");
        assert_eq!(p.cidr, "10.1.7.13/24");
        assert_eq!(p.gateway.as_deref(), Some("10.1.7.1"));
    }

    #[test]
    fn local_ports_are_two_distinct_ports() {
        let big = local_ports(Size {
            switches: 100,
            ports: 20,
        });
        assert_eq!(big.len(), 2);
        assert_eq!(big[1].name, "p99_0");
        let one = local_ports(Size {
            switches: 1,
            ports: 2,
        });
        assert_eq!(one.len(), 2);
        assert_eq!(one[1].name, "p0_1");
        let tiny = local_ports(Size {
            switches: 1,
            ports: 1,
        });
        assert_eq!(tiny.len(), 1);
    }
}
