//! `southpaw ctl`: asks a running `southpaw run` (or sandbox) over its control socket
//! ([`crate::ctl_server`]) and prints the answer as text, or as the server's JSON with
//! `--json`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::ctl_server::default_path;

#[derive(clap::Args)]
pub struct Args {
    /// Control socket of the running southpaw (default: $OVS_RUNDIR/southpaw.ctl, else
    /// /var/run/southpaw/southpaw.ctl).
    #[arg(long, value_name = "PATH", global = true)]
    ctl: Option<PathBuf>,
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Local ports: logical port, netdev, datapath port, XDP mode, rx/tx counters.
    Ports,
    /// Cache tiers, drops per reason and cause, ports, recirculations, epoch, megaflows,
    /// conntrack.
    Stats,
    /// Every megaflow: masked match (OVN field names), cache hits (the packet that
    /// installed it is not counted), time since last use, actions.
    DumpMegaflows,
    /// Empty the exact-match and megaflow caches.
    Flush,
    /// Run a frame through the live caches and pipeline without sending it.
    TracePacket {
        /// Input port: logical port name or netdev.
        #[arg(long, value_name = "LPORT_OR_NETDEV")]
        port: String,
        /// A microflow in `ovn-trace` syntax instead of a frame, e.g.
        /// 'eth.src == 0a:00:00:00:00:02 && eth.dst == 0a:00:00:00:00:03 && ip4.src ==
        /// 10.0.0.2 && ip4.dst == 10.0.0.3 && ip.ttl == 64 && icmp4'.
        #[arg(long, value_name = "MICROFLOW", conflicts_with = "hex")]
        flow: Option<String>,
        /// The Ethernet frame as hex bytes (spaces and colons allowed).
        #[arg(required_unless_present = "flow")]
        hex: Vec<String>,
    },
    /// Conntrack entries (all zones, or one).
    DumpConntrack {
        #[arg(long)]
        zone: Option<u16>,
    },
    /// Remove conntrack entries (all zones, or one).
    FlushConntrack {
        #[arg(long)]
        zone: Option<u16>,
    },
}

pub fn run(args: Args) -> Result<()> {
    let req = match &args.command {
        Command::Ports => json!({"cmd": "ports"}),
        Command::Stats => json!({"cmd": "stats"}),
        Command::DumpMegaflows => json!({"cmd": "dump-megaflows"}),
        Command::Flush => json!({"cmd": "flush"}),
        Command::TracePacket { port, flow, hex } => {
            json!({"cmd": "trace-packet", "port": port, "hex": hex.join(""), "flow": flow})
        }
        Command::DumpConntrack { zone } => json!({"cmd": "dump-conntrack", "zone": zone}),
        Command::FlushConntrack { zone } => json!({"cmd": "flush-conntrack", "zone": zone}),
    };
    let path = args.ctl.clone().unwrap_or_else(default_path);
    let answer = request(&path, &req)?;
    if answer.get("ok").and_then(Value::as_bool) != Some(true) {
        let e = answer.get("error").and_then(Value::as_str).unwrap_or("?");
        bail!("{e}");
    }
    let text = if args.json {
        serde_json::to_string_pretty(&answer)?
    } else {
        render(&args.command, &answer)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end())?;
    Ok(())
}

/// One request, one answer.
pub fn request(path: &std::path::Path, req: &Value) -> Result<Value> {
    if !path.exists() {
        bail!(
            "is southpaw running? no socket at {} (or pass --ctl PATH)",
            path.display()
        );
    }
    let mut s = UnixStream::connect(path).with_context(|| {
        format!(
            "is southpaw running? cannot connect to {} (stale socket?)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = req.to_string();
    line.push('\n');
    s.write_all(line.as_bytes()).context("send the request")?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .context("read the answer")?;
    if answer.is_empty() {
        bail!("southpaw closed the connection without answering");
    }
    serde_json::from_str(&answer).context("the answer is not JSON")
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn render_ports(out: &mut String, ports: &[Value]) {
    use std::fmt::Write;
    if ports.is_empty() {
        out.push_str("no local ports\n");
    }
    for p in ports {
        let _ = writeln!(
            out,
            "port {}: {} (netdev {}, xdp {}, {})\n  rx: {} packets {} bytes {} dropped\n  \
             tx: {} packets {} bytes {} dropped",
            u(p, "dp_port"),
            s(p, "lport"),
            s(p, "netdev"),
            s(p, "xdp"),
            s(p, "io"),
            u(p, "rx_packets"),
            u(p, "rx_bytes"),
            u(p, "rx_dropped"),
            u(p, "tx_packets"),
            u(p, "tx_bytes"),
            u(p, "tx_dropped"),
        );
    }
}

/// `name: value` for the non-zero members of object `v[k]`.
fn nonzero(out: &mut String, title: &str, v: &Value, k: &str) {
    use std::fmt::Write;
    let Some(m) = v.get(k).and_then(Value::as_object) else {
        return;
    };
    let set: Vec<(&String, u64)> = m
        .iter()
        .filter_map(|(n, x)| x.as_u64().filter(|&x| x != 0).map(|x| (n, x)))
        .collect();
    if set.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title}:");
    for (n, x) in set {
        let _ = writeln!(out, "  {n}: {x}");
    }
}

fn render(cmd: &Command, a: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match cmd {
        Command::Ports => render_ports(&mut out, list(a, "ports")),
        Command::Stats => {
            let _ = writeln!(
                out,
                "epoch {} (published {}), {} worker(s), {} megaflows",
                u(a, "epoch"),
                u(a, "published_epoch"),
                u(a, "workers"),
                u(a, "megaflows")
            );
            let _ = writeln!(out, "received: {}", u(a, "received"));
            let _ = writeln!(out, "tiers:");
            if let Some(t) = a.get("tiers").and_then(Value::as_object) {
                for (n, x) in t {
                    let _ = writeln!(out, "  {n}: {}", x.as_u64().unwrap_or(0));
                }
            }
            nonzero(&mut out, "drops", a, "drops");
            nonzero(&mut out, "drop causes", a, "causes");
            nonzero(&mut out, "anomalies", a, "anomalies");
            let _ = writeln!(out, "recirculations: {}", u(a, "recirculations"));
            match a.get("conntrack").filter(|c| !c.is_null()) {
                Some(ct) => {
                    let _ = writeln!(
                        out,
                        "conntrack: {} connections, {} committed, {} invalid, {} expired, \
                         {} refused",
                        u(ct, "connections"),
                        u(ct, "committed"),
                        u(ct, "invalid"),
                        u(ct, "expired"),
                        u(ct, "refused_full") + u(ct, "refused_zone") + u(ct, "nat_exhausted")
                    );
                }
                None => out.push_str("conntrack: none\n"),
            }
            for e in list(a, "errors") {
                let _ = writeln!(out, "error: {}", e.as_str().unwrap_or(""));
            }
            render_ports(&mut out, list(a, "ports"));
        }
        Command::DumpMegaflows => {
            let flows = list(a, "megaflows");
            for m in flows {
                let stale = if m.get("current").and_then(Value::as_bool) == Some(false) {
                    format!(" (stale, epoch {})", u(m, "epoch"))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{}, hits:{}, used:{:.3}s{stale}, actions:{}",
                    s(m, "match"),
                    u(m, "hits"),
                    u(m, "idle_ms") as f64 / 1000.0,
                    s(m, "actions")
                );
            }
            if flows.is_empty() {
                out.push_str("no megaflows\n");
            }
        }
        Command::Flush => {
            let _ = writeln!(
                out,
                "flushed {} megaflows and {} exact-match entries",
                u(a, "megaflows"),
                u(a, "emc")
            );
        }
        Command::TracePacket { .. } => {
            let _ = writeln!(
                out,
                "port {} ({}), epoch {}\nflow: {}\ntier: {}\nmegaflow: {}\nactions: {}",
                s(a, "port"),
                s(a, "netdev"),
                u(a, "epoch"),
                s(a, "flow"),
                s(a, "tier"),
                a.get("megaflow")
                    .and_then(Value::as_str)
                    .unwrap_or("(none)"),
                s(a, "actions")
            );
        }
        Command::DumpConntrack { .. } => {
            let conns = list(a, "connections");
            for c in conns {
                let _ = writeln!(
                    out,
                    "{}, expires in {}s",
                    s(c, "entry"),
                    u(c, "expires_in_ms") / 1000
                );
            }
            if conns.is_empty() {
                out.push_str("no connections\n");
            }
        }
        Command::FlushConntrack { .. } => {
            let _ = writeln!(out, "removed {} connections", u(a, "removed"));
        }
    }
    out
}
