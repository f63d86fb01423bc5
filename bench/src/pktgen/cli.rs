//! Command line of `southpaw pktgen` (the root binary flattens [`Args`] into a
//! subcommand) and the glue that runs sender and sink, each in its own thread and network
//! namespace, and prints the reports (text, or JSON with `--json`).

use std::{
    net::Ipv4Addr,
    sync::{atomic::AtomicBool, mpsc, Arc},
    thread,
    time::Duration,
};

use anyhow::{anyhow, Context, Result};
use clap::{Args as ClapArgs, Subcommand};
use datapath::xdp::XdpAttachMode;

use super::{
    enter_netns, fmt_mac, iface_mac,
    io::IoKind,
    packet::{PacketSpec, Proto, Vary},
    parse_mac,
    recv::{run_recv, RecvConfig, RecvReport},
    send::{run_send, SendConfig, SendReport},
};

/// `southpaw pktgen`: AF_XDP traffic generator and sink.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Generate traffic on an interface.
    Send(SendArgs),
    /// Count, check and time the traffic arriving on an interface.
    Recv(RecvArgs),
    /// Sink and sender in one process, each in its own thread (and namespace).
    Both(BothArgs),
}

/// Where a side runs.
#[derive(Debug, Clone, ClapArgs)]
pub struct Place {
    /// Interface.
    #[arg(long)]
    pub dev: String,
    /// Queue index.
    #[arg(long, default_value_t = 0)]
    pub queue: u32,
    /// Enter this network namespace (/run/netns/NAME) first.
    #[arg(long)]
    pub netns: Option<String>,
}

/// Packet and pacing options of the sender.
#[derive(Debug, Clone, ClapArgs)]
pub struct Traffic {
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    pub proto: Proto,
    /// Frame size including the 4-byte FCS (64..=1518; TCP needs >= 74 for the stamp).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Number of distinct flows (1..=65536), sent round robin.
    #[arg(long, default_value_t = 1)]
    pub flows: u32,
    /// What varies between flows.
    #[arg(long, value_enum, default_value_t = Vary::Port)]
    pub vary: Vary,
    /// Source MAC (default: the interface's).
    #[arg(long, value_parser = parse_mac)]
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC.
    #[arg(long, value_parser = parse_mac, default_value = "ff:ff:ff:ff:ff:ff")]
    pub dst_mac: [u8; 6],
    #[arg(long, default_value = "10.0.0.1")]
    pub src_ip: Ipv4Addr,
    #[arg(long, default_value = "10.0.0.2")]
    pub dst_ip: Ipv4Addr,
    #[arg(long, default_value_t = 1024)]
    pub sport: u16,
    #[arg(long, default_value_t = 9)]
    pub dport: u16,
    /// Send UDP checksum 0 (legal over IPv4) instead of computing it.
    #[arg(long)]
    pub udp_csum_zero: bool,
    /// Target rate in packets per second (0 = flat out).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Stop after this many packets.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds (default 10 unless --count is given).
    #[arg(long)]
    pub duration: Option<f64>,
    /// End markers sent after the run (tell the sink the total).
    #[arg(long, default_value_t = 3)]
    pub end_markers: u32,
}

/// Common output and I/O options.
#[derive(Debug, Clone, ClapArgs)]
pub struct Common {
    /// Socket family.
    #[arg(long, value_enum, default_value_t = IoKind::Xdp)]
    pub io: IoKind,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No per-second lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, ClapArgs)]
pub struct SendArgs {
    #[command(flatten)]
    pub at: Place,
    #[command(flatten)]
    pub traffic: Traffic,
    #[command(flatten)]
    pub common: Common,
}

/// Sink options.
#[derive(Debug, Clone, ClapArgs)]
pub struct Sink {
    /// XDP attach mode of the sink's program.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// Stop after this many seconds (default: run until the sender's end marker or ^C).
    #[arg(long)]
    pub rx_duration: Option<f64>,
    /// Stop after this many distinct packets.
    #[arg(long)]
    pub rx_count: Option<u64>,
    /// After the end marker, stop once idle for this many milliseconds.
    #[arg(long, default_value_t = 200)]
    pub linger_ms: u64,
}

#[derive(Debug, ClapArgs)]
pub struct RecvArgs {
    #[command(flatten)]
    pub at: Place,
    #[command(flatten)]
    pub sink: Sink,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, ClapArgs)]
pub struct BothArgs {
    /// Sender interface.
    #[arg(long)]
    pub tx_dev: String,
    #[arg(long)]
    pub tx_netns: Option<String>,
    /// Sink interface.
    #[arg(long)]
    pub rx_dev: String,
    #[arg(long)]
    pub rx_netns: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub queue: u32,
    #[command(flatten)]
    pub traffic: Traffic,
    #[command(flatten)]
    pub sink: Sink,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum XdpModeArg {
    Auto,
    Driver,
    Skb,
}

impl From<XdpModeArg> for XdpAttachMode {
    fn from(m: XdpModeArg) -> Self {
        match m {
            XdpModeArg::Auto => XdpAttachMode::Auto,
            XdpModeArg::Driver => XdpAttachMode::Driver,
            XdpModeArg::Skb => XdpAttachMode::Skb,
        }
    }
}

fn secs(s: Option<f64>) -> Result<Option<Duration>> {
    s.map(|v| Duration::try_from_secs_f64(v).map_err(|e| anyhow!("duration {v}: {e}")))
        .transpose()
}

/// Builds the sender configuration; reads the interface MAC (so call it inside the
/// sender's namespace).
pub fn send_config(dev: &str, queue: u32, t: &Traffic, c: &Common) -> Result<SendConfig> {
    let src_mac = match t.src_mac {
        Some(m) => m,
        None => iface_mac(dev)?,
    };
    let duration = match (secs(t.duration)?, t.count) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let spec = PacketSpec {
        proto: t.proto,
        size: t.size,
        flows: t.flows,
        vary: t.vary,
        src_mac,
        dst_mac: t.dst_mac,
        src_ip: t.src_ip.into(),
        dst_ip: t.dst_ip.into(),
        src_port: t.sport,
        dst_port: t.dport,
        udp_csum_zero: t.udp_csum_zero,
    };
    spec.validate().map_err(|e| anyhow!(e))?;
    log::info!(
        "pktgen send on {dev}: {:?} size {} flows {} {} -> {}",
        spec.proto,
        spec.size,
        spec.flows,
        fmt_mac(&src_mac),
        fmt_mac(&spec.dst_mac)
    );
    Ok(SendConfig {
        ifname: dev.into(),
        queue,
        io: c.io,
        spec,
        rate: t.rate,
        duration,
        count: t.count,
        live: !c.quiet,
        end_markers: t.end_markers,
    })
}

/// Builds the sink configuration.
pub fn recv_config(dev: &str, queue: u32, s: &Sink, c: &Common) -> Result<RecvConfig> {
    Ok(RecvConfig {
        ifname: dev.into(),
        queue,
        io: c.io,
        xdp_mode: s.xdp_mode.into(),
        duration: secs(s.rx_duration)?,
        count: s.rx_count,
        linger: Duration::from_millis(s.linger_ms),
        live: !c.quiet,
    })
}

fn print_send(r: &SendReport, json: bool) {
    if json {
        println!("{}", r.to_json());
    } else {
        println!("{}", r.text());
    }
}

fn print_recv(r: &RecvReport, json: bool) {
    if json {
        println!("{}", r.to_json());
    } else {
        println!("{}", r.text());
    }
}

/// Runs `southpaw pktgen` until done or `stop` is set (the caller wires ^C to it).
pub fn run(args: Args, stop: Arc<AtomicBool>) -> Result<()> {
    match args.mode {
        Mode::Send(a) => {
            if let Some(ns) = &a.at.netns {
                enter_netns(ns)?;
            }
            let cfg = send_config(&a.at.dev, a.at.queue, &a.traffic, &a.common)?;
            let r = run_send(&cfg, &stop)?;
            print_send(&r, a.common.json);
        }
        Mode::Recv(a) => {
            if let Some(ns) = &a.at.netns {
                enter_netns(ns)?;
            }
            let cfg = recv_config(&a.at.dev, a.at.queue, &a.sink, &a.common)?;
            let r = run_recv(&cfg, &stop, || {})?;
            print_recv(&r, a.common.json);
        }
        Mode::Both(a) => {
            let (ready_tx, ready_rx) = mpsc::channel();
            let rcfg = recv_config(&a.rx_dev, a.queue, &a.sink, &a.common)?;
            let rx_ns = a.rx_netns.clone();
            let rstop = stop.clone();
            let sink = thread::spawn(move || -> Result<RecvReport> {
                if let Some(ns) = &rx_ns {
                    enter_netns(ns)?;
                }
                run_recv(&rcfg, &rstop, || {
                    let _ = ready_tx.send(());
                })
            });
            if ready_rx.recv().is_err() {
                return Err(sink
                    .join()
                    .map_err(|_| anyhow!("sink thread panicked"))?
                    .err()
                    .unwrap_or_else(|| anyhow!("sink stopped before it was ready")));
            }
            let sender = {
                let (dev, queue, t, c) = (
                    a.tx_dev.clone(),
                    a.queue,
                    a.traffic.clone(),
                    a.common.clone(),
                );
                let ns = a.tx_netns.clone();
                let stop = stop.clone();
                thread::spawn(move || -> Result<SendReport> {
                    if let Some(ns) = &ns {
                        enter_netns(ns)?;
                    }
                    let cfg = send_config(&dev, queue, &t, &c)?;
                    run_send(&cfg, &stop)
                })
            };
            let s = sender
                .join()
                .map_err(|_| anyhow!("sender thread panicked"))?;
            if s.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let r = sink.join().map_err(|_| anyhow!("sink thread panicked"))?;
            let s = s.context("sender")?;
            let r = r.context("sink")?;
            if a.common.json {
                println!(
                    "{}",
                    serde_json::json!({ "send": s.to_json(), "recv": r.to_json() })
                );
            } else {
                println!("{}\n{}", s.text(), r.text());
            }
        }
    }
    Ok(())
}
