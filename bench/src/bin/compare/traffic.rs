//! The traffic of every data-plane scenario: `southpaw pktgen both` (sender and sink in one
//! process, pinned to core 0) between two container namespaces, and `iperf3` (server and
//! client pinned to core 0). Each returns the one number the comparison needs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use testbed::proc::{run, wait_until};
use testbed::{Container, Netns};

/// One end of a flow: the namespace and the interface inside it, plus its addresses.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub netns: &'a str,
    pub dev: &'a str,
    pub ip: &'a str,
}

impl<'a> Endpoint<'a> {
    pub fn of(c: &'a Container) -> Endpoint<'a> {
        Endpoint {
            netns: c.netns().name(),
            dev: &c.inner().name,
            ip: c.spec().ip(),
        }
    }
}

/// What a pktgen run is asked to do.
#[derive(Clone, Copy)]
pub struct Pktgen<'a> {
    pub bin: &'a Path,
    pub from: Endpoint<'a>,
    pub to: Endpoint<'a>,
    /// Destination MAC of the frames (the peer's, or the router port's across a router).
    pub dst_mac: &'a str,
    pub flows: u32,
    pub secs: u32,
}

/// Runs `southpaw pktgen both` flat out with 64-byte UDP and returns the sink's delivered
/// packets per second (and the sender's rate, for the log).
pub fn pktgen_pps(p: &Pktgen) -> Result<(f64, f64)> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .arg(p.bin)
        .args(["--log", "warn", "pktgen", "both"])
        .args(["--tx-dev", p.from.dev, "--tx-netns", p.from.netns])
        .args(["--rx-dev", p.to.dev, "--rx-netns", p.to.netns])
        .args([
            "--dst-mac",
            p.dst_mac,
            "--src-ip",
            p.from.ip,
            "--dst-ip",
            p.to.ip,
        ])
        .args(["--size", "64", "--flows", &p.flows.to_string()])
        .args(["--duration", &p.secs.to_string()])
        // A bound for the sink when the end markers are lost (it would wait for them).
        .args(["--rx-duration", &(p.secs + 5).to_string()])
        .args(["--json", "--quiet"])
        .stdin(Stdio::null());
    let text = run(&mut cmd).context("southpaw pktgen both")?;
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("pktgen printed no JSON: {text}"))?;
    let (Some(rx), Some(tx)) = (v["recv"]["pps"].as_f64(), v["send"]["pps"].as_f64()) else {
        bail!("pktgen JSON lacks recv.pps/send.pps: {v}");
    };
    Ok((rx, tx))
}

/// `iperf3 -s -1` in `server`'s namespace, `iperf3 -c` from `client`'s for `secs` seconds
/// with `streams` parallel streams, both pinned to core 0. Returns the received Gbit/s.
pub fn iperf_gbps(
    client: &Netns,
    server: &Netns,
    server_ip: &str,
    streams: u32,
    secs: u32,
) -> Result<f64> {
    let mut srv = server
        .command(&["taskset", "-c", "0", "iperf3", "-s", "-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start iperf3 -s")?;
    let listening = wait_until("iperf3 -s to listen", Duration::from_secs(10), || {
        if let Some(status) = srv.try_wait()? {
            bail!("iperf3 -s exited early ({status})");
        }
        let out = server.run(&["ss", "-Hltn", "sport = :5201"])?;
        Ok((!out.trim().is_empty()).then_some(()))
    });
    let result = listening.and_then(|()| {
        client
            .exec(&[
                "taskset",
                "-c",
                "0",
                "iperf3",
                "-c",
                server_ip,
                "-t",
                &secs.to_string(),
                "-P",
                &streams.to_string(),
                "-J",
            ])
            .context("run iperf3 -c")
    });
    let _ = srv.kill();
    let _ = srv.wait();
    let out = result?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("iperf3 -c {server_ip} failed ({}): {text}", out.status);
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("iperf3 JSON: {text}"))?;
    let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() else {
        bail!("iperf3 JSON lacks end.sum_received.bits_per_second");
    };
    Ok(bps / 1e9)
}
