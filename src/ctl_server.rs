//! The control server behind `southpaw ctl`: a unix stream socket (default
//! `$OVS_RUNDIR/southpaw.ctl`, else `/var/run/southpaw/southpaw.ctl`; `--ctl PATH`).
//!
//! Protocol: one JSON object per line each way. A request is `{"cmd": NAME, ...args}`; the
//! answer is `{"ok": true, ...}` or `{"ok": false, "error": "..."}`. Commands: `ports`,
//! `stats`, `dump-megaflows`, `flush`, `trace-packet` (`port`: logical port or netdev,
//! `hex`: the frame, or `flow`: a microflow in `ovn-trace` syntax), `dump-conntrack` and `flush-conntrack` (optional `zone`). The text
//! forms are the client's business (`src/cmd/ctl.rs`); the JSON answer is what
//! `southpaw ctl --json` prints.
//!
//! One thread accepts; each connection gets its own thread. Counters are read from the
//! workers' shared statistics; cache dumps, flushes and traces go to the worker as
//! [`CtlRequest`]s, answered between two of its batches. The XDP mode of each port is
//! what the kernel reports (`ip -d -j link`).
//!
//! Not yet: with several workers, `trace-packet` asks the first only (one worker serves
//! every port for now); no authentication beyond the socket file's permissions.
//!
//! At start a socket file nobody answers on is removed; one a live southpaw answers on is
//! left alone and [`CtlServer::start`] fails. Dropping the server removes its socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use datapath::actions::Cause;
use datapath::counters::{Anomaly, DropReason, Tier};
use datapath::dataplane::DpSnapshot;
use datapath::io::{IoMode, PortId};
use datapath::worker::ctl::{CtlReply, CtlRequest};
use datapath::xdp::XdpAttachMode;
use pipeline::flow::Flow;
use pipeline::microflow::parse_microflow;
use serde_json::{json, Map, Value};

use crate::dataplane::{totals, DpView};

/// How long a worker may take to answer one request.
const WORKER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line accepted.
const MAX_LINE: u64 = 1 << 20;

/// The default socket path: `$OVS_RUNDIR/southpaw.ctl`, else
/// `/var/run/southpaw/southpaw.ctl`.
pub fn default_path() -> PathBuf {
    match std::env::var_os("OVS_RUNDIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("southpaw.ctl"),
        _ => PathBuf::from("/var/run/southpaw/southpaw.ctl"),
    }
}

/// A running control server; stops and removes its socket on drop.
pub struct CtlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CtlServer {
    /// Binds `path` (removing a stale socket) and starts serving `view`.
    pub fn start(path: &Path, view: Arc<DpView>) -> Result<CtlServer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create the directory of {}", path.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!(
                    "{} is in use by a running southpaw (pass --ctl PATH)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("remove the stale socket {}", path.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sp-ctl".into())
            .spawn(move || serve(listener, &view, &flag))
            .context("start the control server thread")?;
        Ok(CtlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept() with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Accepts connections until `stop`; each is served on its own thread, so a client that
/// sends nothing delays no other.
fn serve(listener: UnixListener, view: &Arc<DpView>, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let s = match conn {
            Ok(s) => s,
            Err(e) => {
                log::warn!("ctl: accept: {e}");
                continue;
            }
        };
        let view = view.clone();
        let spawned = std::thread::Builder::new()
            .name("sp-ctl-conn".into())
            .spawn(move || {
                if let Err(e) = session(s, &view) {
                    log::debug!("ctl: connection ended: {e}");
                }
            });
        if let Err(e) = spawned {
            log::warn!("ctl: cannot start a connection thread: {e}");
        }
    }
}

/// Answers request lines until the client closes the connection.
fn session(stream: UnixStream, view: &DpView) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream).take(MAX_LINE);
    let mut line = String::new();
    loop {
        line.clear();
        reader.set_limit(MAX_LINE);
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(req) => handle(&req, view).unwrap_or_else(|e| fail(&format!("{e:#}"))),
            Err(e) => fail(&format!("bad request (one JSON object per line): {e}")),
        };
        let mut text = answer.to_string();
        text.push('\n');
        out.write_all(text.as_bytes())?;
    }
}

fn fail(msg: &str) -> Value {
    json!({"ok": false, "error": msg})
}

fn ok(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("ok".into(), Value::Bool(true));
    }
    v
}

/// Answers one request.
pub fn handle(req: &Value, view: &DpView) -> Result<Value> {
    let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or_default();
    let zone = match req.get("zone") {
        None | Some(Value::Null) => None,
        Some(z) => Some(
            z.as_u64()
                .and_then(|z| u16::try_from(z).ok())
                .context("zone must be a number 0..65535")?,
        ),
    };
    Ok(ok(match cmd {
        "ports" => json!({"ports": ports(view)}),
        "stats" => stats(view),
        "dump-megaflows" => dump_megaflows(view)?,
        "flush" => flush(view)?,
        "trace-packet" => {
            let port = req.get("port").and_then(Value::as_str).unwrap_or_default();
            let hex = req.get("hex").and_then(Value::as_str).unwrap_or_default();
            let flow = req.get("flow").and_then(Value::as_str);
            trace(view, port, hex, flow)?
        }
        "dump-conntrack" => dump_conntrack(view, zone)?,
        "flush-conntrack" => {
            let ct = view
                .conntrack
                .as_ref()
                .context("no conntrack in this dataplane")?;
            json!({"removed": ct.flush(zone), "zone": zone})
        }
        "" => bail!("request has no \"cmd\""),
        other => bail!("unknown command {other:?}"),
    }))
}

fn xdp_mode_name(m: XdpAttachMode) -> &'static str {
    match m {
        XdpAttachMode::Auto => "auto",
        XdpAttachMode::Driver => "native",
        XdpAttachMode::Skb => "skb",
    }
}

/// The XDP mode the kernel reports for `netdev` (`ip -d -j link show`): `native`, `skb`,
/// `hw`, `none`; `None` when it cannot be asked.
fn attached_xdp(netdev: &str) -> Option<&'static str> {
    let out = std::process::Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", netdev])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let link = v.get(0)?;
    // IFLA_XDP_ATTACHED: 1 driver, 2 generic (skb), 3 hardware, 4 several.
    Some(
        match link
            .get("xdp")
            .and_then(|x| x.get("mode"))
            .and_then(Value::as_u64)
        {
            None | Some(0) => "none",
            Some(1) => "native",
            Some(2) => "skb",
            Some(3) => "hw",
            Some(_) => "multi",
        },
    )
}

fn ports(view: &DpView) -> Vec<Value> {
    let (_, snap) = view.snapshot();
    let (_, stats) = totals(&view.stats);
    let io = view
        .stats
        .first()
        .and_then(|s| *s.io_mode.lock().unwrap_or_else(|e| e.into_inner()));
    let io = match io {
        Some(IoMode::ZeroCopy) => "zero-copy",
        Some(IoMode::Copy) => "copy",
        Some(IoMode::Memory) => "memory",
        None => "closed",
    };
    snap.ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let st = stats
                .iter()
                .find(|(n, _)| *n == p.netdev)
                .map(|(_, s)| *s)
                .unwrap_or_default();
            json!({
                "lport": p.lport,
                "netdev": p.netdev,
                "dp_port": i,
                "xdp": attached_xdp(&p.netdev).unwrap_or("unknown"),
                "xdp_requested": xdp_mode_name(view.xdp_mode),
                "io": io,
                "rx_packets": st.rx_packets,
                "rx_bytes": st.rx_bytes,
                "rx_dropped": st.rx_dropped,
                "tx_packets": st.tx_packets,
                "tx_bytes": st.tx_bytes,
                "tx_dropped": st.tx_dropped,
            })
        })
        .collect()
}

fn named<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, v: impl Fn(T) -> u64) -> Value {
    let mut m = Map::new();
    for &x in all {
        m.insert(name(x).into(), json!(v(x)));
    }
    Value::Object(m)
}

fn stats(view: &DpView) -> Value {
    let (c, _) = totals(&view.stats);
    let (published, _) = view.snapshot();
    let load = |f: &dyn Fn(&datapath::worker::WorkerStats) -> u64| -> u64 {
        view.stats.iter().map(|s| f(s)).sum()
    };
    let epoch = view
        .stats
        .iter()
        .map(|s| s.epoch.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    let mut causes = [0u64; Cause::COUNT];
    for s in &view.stats {
        for (a, b) in causes.iter_mut().zip(s.causes()) {
            *a += b;
        }
    }
    let ct = view.conntrack.as_ref().map(|ct| {
        let s = ct.stats();
        json!({
            "connections": ct.len(),
            "committed": s.committed,
            "refused_full": s.refused_full,
            "refused_zone": s.refused_zone,
            "nat_exhausted": s.nat_exhausted,
            "collisions": s.collisions,
            "invalid": s.invalid,
            "expired": s.expired,
        })
    });
    let errors: Vec<String> = view
        .stats
        .iter()
        .filter_map(|s| s.error.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .collect();
    json!({
        "epoch": epoch,
        "published_epoch": published,
        "workers": view.stats.len(),
        "received": c.0.received(),
        "tiers": named(Tier::ALL, Tier::name, |t| c.tier(t)),
        "drops": named(DropReason::ALL, DropReason::name, |r| c.drops(r)),
        "causes": named(Cause::ALL, Cause::name, |x| causes[x.index()]),
        "anomalies": named(Anomaly::ALL, Anomaly::name, |a| c.anomalies(a)),
        "recirculations": load(&|s| s.recirculations.load(Ordering::Relaxed)),
        "megaflows": load(&|s| s.megaflows.load(Ordering::Relaxed)),
        "ports": ports(view),
        "conntrack": ct,
        "errors": errors,
    })
}

/// Sends `req` to every worker.
fn ask_all(view: &DpView, req: &CtlRequest) -> Result<Vec<CtlReply>> {
    if view.stats.is_empty() {
        bail!("no worker is running");
    }
    view.stats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            match s.ctl.request(req.clone(), WORKER_TIMEOUT) {
                Ok(CtlReply::Error(e)) | Err(e) => Err(e),
                Ok(r) => Ok(r),
            }
            .map_err(|e| anyhow::anyhow!("worker {i}: {e}"))
        })
        .collect()
}

fn dump_megaflows(view: &DpView) -> Result<Value> {
    let mut flows = Vec::new();
    let mut epochs = Vec::new();
    for (w, r) in ask_all(view, &CtlRequest::DumpMegaflows)?
        .into_iter()
        .enumerate()
    {
        let CtlReply::Megaflows { epoch, flows: f } = r else {
            bail!("worker {w}: unexpected answer {r:?}");
        };
        epochs.push(epoch);
        flows.extend(f.into_iter().map(|m| {
            json!({
                "worker": w,
                "match": m.matches,
                "hits": m.hits,
                "idle_ms": m.idle_ms,
                "epoch": m.epoch,
                "current": m.current,
                "actions": m.actions,
            })
        }));
    }
    Ok(json!({"epochs": epochs, "megaflows": flows}))
}

fn flush(view: &DpView) -> Result<Value> {
    let (mut emc, mut mf) = (0, 0);
    for (w, r) in ask_all(view, &CtlRequest::Flush)?.into_iter().enumerate() {
        let CtlReply::Flushed { emc: e, megaflows } = r else {
            bail!("worker {w}: unexpected answer {r:?}");
        };
        emc += e;
        mf += megaflows;
    }
    Ok(json!({"emc": emc, "megaflows": mf}))
}

/// Parses hex bytes; spaces, colons and a leading `0x` are ignored.
pub fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits ({})", digits.len());
    }
    digits
        .chunks(2)
        .map(|p| {
            let t = std::str::from_utf8(p).unwrap_or("??");
            u8::from_str_radix(t, 16).with_context(|| format!("bad hex byte {t:?}"))
        })
        .collect()
}

fn trace(view: &DpView, port: &str, hex: &str, microflow: Option<&str>) -> Result<Value> {
    let (_, snap) = view.snapshot();
    let Some(i) = snap
        .ports
        .iter()
        .position(|p| p.lport == port || p.netdev == port)
    else {
        let known: Vec<&str> = snap.ports.iter().map(|p| p.lport.as_str()).collect();
        bail!("no local port {port:?} (local ports: {known:?})");
    };
    let port_id = PortId::try_from(i).context("port number out of range")?;
    // One worker serves every port for now.
    let worker = view.stats.first().context("no worker is running")?;
    let req = match microflow {
        Some(text) => CtlRequest::TraceFlow {
            port: port_id,
            flow: Box::new(parse_flow(&snap, i, text)?),
        },
        None => {
            let packet = parse_hex(hex)?;
            if packet.is_empty() {
                bail!("trace-packet needs the frame as hex bytes, or a microflow");
            }
            CtlRequest::Trace {
                port: port_id,
                packet,
            }
        }
    };
    match worker.ctl.request(req, WORKER_TIMEOUT) {
        Ok(CtlReply::Trace(t)) => Ok(json!({
            "port": snap.ports[i].lport,
            "netdev": snap.ports[i].netdev,
            "tier": t.tier.name(),
            "epoch": t.epoch,
            "flow": t.flow,
            "megaflow": t.megaflow,
            "actions": t.actions,
        })),
        Ok(CtlReply::Error(e)) | Err(e) => bail!("{e}"),
        Ok(r) => bail!("unexpected answer {r:?}"),
    }
}

/// A microflow in `ovn-trace` syntax, logical port names resolved in the datapath of
/// local port `i`.
fn parse_flow(snap: &DpSnapshot, i: usize, text: &str) -> Result<Flow> {
    let compiled = snap.compiled.as_ref().context("no pipeline compiled yet")?;
    let dp = snap.ports[i].dp_key;
    let lookup = |name: &str| {
        compiled
            .ports
            .iter()
            .find(|((d, _), p)| *d == dp && p.name == name)
            .map(|((_, k), _)| *k)
    };
    let m = parse_microflow(text, &compiled.symtab, &lookup)
        .map_err(|e| anyhow::anyhow!("microflow: {e}"))?;
    Ok(m.flow)
}

fn dump_conntrack(view: &DpView, zone: Option<u16>) -> Result<Value> {
    let ct = view
        .conntrack
        .as_ref()
        .context("no conntrack in this dataplane")?;
    let now = view.clock_origin.elapsed().as_nanos() as u64;
    let entries: Vec<Value> = ct
        .dump(zone)
        .iter()
        .map(|e| {
            json!({
                "entry": e.to_string(),
                "zone": e.zone,
                "expires_in_ms": e.expires.saturating_sub(now) / 1_000_000,
            })
        })
        .collect();
    Ok(json!({"zone": zone, "connections": entries}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing() {
        assert_eq!(
            parse_hex("0x0a0B:ff 01").unwrap(),
            vec![0x0a, 0x0b, 0xff, 0x01]
        );
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("").unwrap().is_empty());
    }
}
