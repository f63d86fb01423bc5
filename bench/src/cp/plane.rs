//! The two forwarding planes under test, each the only chassis of its own [`OvnSandbox`]:
//! ovn-controller + ovs-vswitchd ([`OvsPeer`]) and `southpaw run` (a child process against
//! a private Open_vSwitch DB). Both are started the same way and timed the same way:
//!
//! *first full pipeline* = from before the first daemon of the plane starts (its
//! Open_vSwitch DB included) until `ovn-nbctl --wait=hv sync` returns after the local ports
//! were plugged and bound: the first `nb_cfg` acknowledgement that covers the full topology.
//! ovn-controller acknowledges once ovs-vswitchd has the OpenFlow flows; southpaw once its
//! worker adopted the compiled snapshot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testbed::ovs::add_port_args;
use testbed::proc::{run, wait_until};
use testbed::{Container, OvnSandbox, OvsDb, OvsPeer, PeerOptions, PortKind, PortSpec};

use super::report::median;

const TIMEOUT: Duration = Duration::from_secs(120);
pub const OVS_CHASSIS: &str = "bench-ovs";
pub const SP_CHASSIS: &str = "bench-southpaw";

/// A started plane with its local ports; dropping it stops everything.
pub enum Plane {
    Ovs {
        // Containers go before the peer whose namespace holds their host sides.
        containers: Vec<Container>,
        peer: Box<OvsPeer>,
    },
    Southpaw {
        containers: Vec<Container>,
        sp: SouthpawProc,
        _ovs: Box<OvsDb>,
    },
}

/// Starts ovn-controller + ovs-vswitchd, binds `ports`, waits for the first full pipeline.
/// Returns the plane and the elapsed milliseconds.
pub fn start_ovs(ovn: &OvnSandbox, ports: &[PortSpec]) -> Result<(Plane, f64)> {
    let t0 = Instant::now();
    let opts = PeerOptions {
        system_id: OVS_CHASSIS.into(),
        // No traffic is sent: plain system ports avoid AF_XDP setup cost and limits.
        port_kind: PortKind::System,
        ..PeerOptions::default()
    };
    let mut peer = OvsPeer::start_with(ovn, opts).context("start ovn-controller + ovs")?;
    let mut containers = Vec::new();
    for p in ports {
        containers.push(peer.attach_timeout(ovn, p, TIMEOUT)?);
    }
    ovn.nbctl(&["--timeout=120", "--wait=hv", "sync"])
        .context("first --wait=hv sync with ovn-controller")?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    peer.check_running()?;
    Ok((
        Plane::Ovs {
            containers,
            peer: Box::new(peer),
        },
        ms,
    ))
}

/// Starts `southpaw run` on a fresh Open_vSwitch DB, creates br-int, plugs and binds
/// `ports`, waits for the first full pipeline.
pub fn start_southpaw(
    ovn: &OvnSandbox,
    ports: &[PortSpec],
    bin: &Path,
    log: &Path,
) -> Result<(Plane, f64)> {
    let t0 = Instant::now();
    let ovs = OvsDb::new()?;
    ovs.set_ovn_host(SP_CHASSIS, &ovn.sb_remote(), "127.0.0.1")?;
    let mut sp = SouthpawProc::start(bin, &ovs, log)?;
    let fail = |e: anyhow::Error, sp: &SouthpawProc| e.context(format!("log:\n{}", sp.tail()));
    ovs.vsctl_wait(&["add-br", "br-int"])
        .map_err(|e| fail(e, &sp))?;
    let chassis = wait_until("southpaw's Chassis row", TIMEOUT, || {
        sp.check_running()?;
        ovn.chassis_uuid(SP_CHASSIS)
    })
    .map_err(|e| fail(e, &sp))?;
    let mut containers = Vec::new();
    for p in ports {
        let c = Container::create(p, None)?;
        let args = add_port_args("br-int", &c.host().name, &p.name, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl_wait(&args).map_err(|e| fail(e, &sp))?;
        ovn.wait_port_bound(&p.name, &chassis, TIMEOUT)
            .map_err(|e| fail(e, &sp))?;
        containers.push(c);
    }
    ovn.nbctl(&["--timeout=120", "--wait=hv", "sync"])
        .map_err(|e| fail(e, &sp))
        .context("first --wait=hv sync with southpaw")?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    sp.check_running()?;
    Ok((
        Plane::Southpaw {
            containers,
            sp,
            _ovs: Box::new(ovs),
        },
        ms,
    ))
}

impl Plane {
    /// The containers bound to this plane, in the order of the ports it was started with.
    pub fn containers(&self) -> &[Container] {
        match self {
            Plane::Ovs { containers, .. } | Plane::Southpaw { containers, .. } => containers,
        }
    }

    /// Errors (with the log) if a daemon of the plane has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self {
            Plane::Ovs { peer, .. } => peer.check_running(),
            Plane::Southpaw { sp, .. } => sp.check_running(),
        }
    }
}

/// OpenFlow flows in the peer's br-int (`ovs-ofctl dump-flows br-int`).
pub fn ovs_openflow_flows(peer: &OvsPeer) -> Result<usize> {
    let mut cmd = peer.db().run_dirs().command("ovs-ofctl");
    cmd.args(["dump-flows", "br-int"]);
    let out = run(&mut cmd)?;
    Ok(out.lines().filter(|l| l.contains("actions=")).count())
}

/// `ovn-appctl -t <ovn-controller ctl> args...`.
fn controller_appctl(peer: &OvsPeer, args: &[&str]) -> Result<String> {
    let dir = peer.db().dir();
    let ctl = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("ovn-controller.") && n.ends_with(".ctl")
        })
        .with_context(|| format!("no ovn-controller.*.ctl in {}", dir.display()))?;
    let mut cmd = peer.db().run_dirs().command("ovn-appctl");
    cmd.arg("-t").arg(ctl).args(args);
    run(&mut cmd)
}

/// ovn-controller's full flow generation time: `lflow-cache/flush` (drops every cached
/// expression and match and forces a full recompute), then the `flow-generation` stopwatch
/// maximum since a reset (whole-millisecond resolution). Median of `reps`.
pub fn ovs_full_compile_ms(ovn: &OvnSandbox, peer: &OvsPeer, reps: u32) -> Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..reps.max(1) {
        controller_appctl(peer, &["stopwatch/reset", "flow-generation"])?;
        controller_appctl(peer, &["lflow-cache/flush"])?;
        ovn.nbctl(&["--timeout=120", "--wait=hv", "sync"])?;
        let out = controller_appctl(peer, &["stopwatch/show", "flow-generation"])?;
        samples.push(stopwatch_max(&out).with_context(|| format!("stopwatch/show: {out}"))?);
    }
    Ok(median(&samples))
}

/// The `Maximum: N msec` of `stopwatch/show` output.
pub fn stopwatch_max(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Maximum:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// What `southpaw compile --json` reports.
#[derive(Clone, Debug, Default)]
pub struct SpCompile {
    pub compile_ms: f64,
    pub flows: usize,
    pub rejected: usize,
}

/// `southpaw compile --db <sb> --chassis <chassis> --json`, `reps` times: median
/// `compile_ms` (the compile alone, not the SB read), flows and rejected of the last run.
/// Exit status 1 (some flows rejected) still counts: the JSON is read either way.
pub fn southpaw_compile(bin: &Path, ovn: &OvnSandbox, reps: u32) -> Result<SpCompile> {
    let mut samples = Vec::new();
    let mut last = SpCompile::default();
    for _ in 0..reps.max(1) {
        let out = Command::new(bin)
            .args(["compile", "--db", &ovn.sb_remote(), "--chassis", SP_CHASSIS])
            .args(["--json", "--timeout", "60"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {} compile", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.trim()).with_context(|| {
            format!(
                "southpaw compile ({}) printed no JSON: {text} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let Some(ms) = v["compile_ms"].as_f64() else {
            bail!("southpaw compile JSON has no compile_ms: {v}");
        };
        samples.push(ms);
        last = SpCompile {
            compile_ms: ms,
            flows: v["flows"].as_u64().unwrap_or(0) as usize,
            rejected: v["rejected"].as_array().map_or(0, Vec::len),
        };
    }
    last.compile_ms = median(&samples);
    Ok(last)
}

/// The southpaw binary: `--southpaw`, else `$SOUTHPAW_BIN`, else `southpaw` next to this
/// executable (same target directory and profile).
pub fn southpaw_bin(arg: Option<PathBuf>) -> Result<PathBuf> {
    let bin = match arg.or_else(|| std::env::var_os("SOUTHPAW_BIN").map(PathBuf::from)) {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("southpaw"))
            .context("executable has no directory")?,
    };
    if !bin.exists() {
        bail!(
            "{} not found: `cargo build --release --bin southpaw` (same CARGO_TARGET_DIR), \
             or pass --southpaw / set SOUTHPAW_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// `southpaw run --db <ovs> --ctl <log>.ctl` as a child process (its control socket next to
/// its log, so that several runs never share the default path); SIGTERM and reap on drop.
pub struct SouthpawProc {
    child: Option<Child>,
    log: PathBuf,
    ctl: PathBuf,
}

impl SouthpawProc {
    fn start(bin: &Path, ovs: &OvsDb, log: &Path) -> Result<SouthpawProc> {
        let file = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let ctl = log.with_extension("ctl");
        let child = Command::new(bin)
            .args(["run", "--db", &ovs.remote()])
            .arg("--ctl")
            .arg(&ctl)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("start {} run", bin.display()))?;
        Ok(SouthpawProc {
            child: Some(child),
            log: log.to_path_buf(),
            ctl,
        })
    }

    /// The control socket for `southpaw ctl --ctl PATH`.
    pub fn ctl_path(&self) -> &Path {
        &self.ctl
    }

    /// The last 30 lines of its log.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn check_running(&mut self) -> Result<()> {
        let Some(c) = self.child.as_mut() else {
            bail!("southpaw was stopped");
        };
        if let Some(status) = c.try_wait()? {
            bail!("southpaw exited ({status}); log:\n{}", self.tail());
        }
        Ok(())
    }
}

impl Drop for SouthpawProc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill() on the pid of our own unreaped child: it cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let exited = wait_until("southpaw to exit", Duration::from_secs(10), || {
            Ok(child.try_wait()?)
        });
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stopwatch_maximum() {
        let text = "Statistics for 'flow-generation'\n  Total samples: 6\n  \
                    Maximum: 452 msec\n  Minimum: 0 msec\n";
        assert_eq!(stopwatch_max(text), Some(452.0));
        assert_eq!(stopwatch_max("nothing"), None);
    }
}
