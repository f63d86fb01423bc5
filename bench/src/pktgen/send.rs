//! The sender loop: bursts of up to 64 stamped packets, flat out or paced by a token
//! bucket (credit = elapsed time x rate minus packets sent), until a duration, a count or
//! a stop flag; then it drains the transmit ring and sends end markers carrying the total.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{bail, Result};
use datapath::io::BURST;
use serde_json::json;

use super::{
    io::{IoKind, TxIo},
    now_ns,
    packet::{build_template, make_end_marker, Generator, PacketSpec},
};

/// What to send where.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub ifname: String,
    pub queue: u32,
    pub io: IoKind,
    pub spec: PacketSpec,
    /// Packets per second; 0 = flat out.
    pub rate: u64,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    /// Print a line per second on stderr.
    pub live: bool,
    /// End markers to send after the run (0 = none).
    pub end_markers: u32,
}

/// Outcome of a send run.
#[derive(Debug, Clone)]
pub struct SendReport {
    pub io: &'static str,
    pub sent: u64,
    pub elapsed_ns: u64,
    /// Frames the backend could not queue (retried, not lost).
    pub tx_ring_full: u64,
}

impl SendReport {
    pub fn pps(&self) -> f64 {
        rate(self.sent, self.elapsed_ns)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "role": "send",
            "io": self.io,
            "sent": self.sent,
            "pps": self.pps().round(),
            "duration_s": self.elapsed_ns as f64 / 1e9,
            "tx_ring_full": self.tx_ring_full,
        })
    }

    pub fn text(&self) -> String {
        format!(
            "send [{}]: {} packets in {:.3} s = {:.0} pps (tx ring full {} times)",
            self.io,
            self.sent,
            self.elapsed_ns as f64 / 1e9,
            self.pps(),
            self.tx_ring_full
        )
    }
}

pub(crate) fn rate(n: u64, ns: u64) -> f64 {
    if ns == 0 {
        0.0
    } else {
        n as f64 * 1e9 / ns as f64
    }
}

/// Runs the sender in the calling thread (which must already be in the right namespace).
pub fn run_send(cfg: &SendConfig, stop: &AtomicBool) -> Result<SendReport> {
    if let Err(e) = cfg.spec.validate() {
        bail!("{e}");
    }
    let template = build_template(&cfg.spec);
    let mut tx = TxIo::open(cfg.io, &cfg.ifname, cfg.queue, &template)?;
    let mut gen = Generator::new(&cfg.spec);
    let limit = cfg.count.unwrap_or(u64::MAX);
    let start = now_ns();
    let deadline = cfg
        .duration
        .map_or(u64::MAX, |d| start.saturating_add(d.as_nanos() as u64));
    let mut next_line = start + 1_000_000_000;
    let mut line_sent = 0u64;
    let mut now = start;
    loop {
        let sent = gen.total();
        if sent >= limit || now >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        let mut n = (BURST as u64).min(limit - sent);
        if cfg.rate > 0 {
            let allowed = ((now - start) as u128 * cfg.rate as u128 / 1_000_000_000) as u64;
            let credit = allowed.saturating_sub(sent);
            if credit == 0 {
                let due = start + ((sent + 1) as u128 * 1_000_000_000 / cfg.rate as u128) as u64;
                let wait = due.saturating_sub(now);
                if wait > 50_000 {
                    std::thread::sleep(Duration::from_nanos(wait - 20_000));
                } else {
                    std::hint::spin_loop();
                }
                now = now_ns();
                continue;
            }
            n = n.min(credit);
        }
        tx.send(&mut gen, n as usize, now);
        now = now_ns();
        if cfg.live && now >= next_line {
            let total = gen.total();
            eprintln!(
                "send [{}]: {:.0} pps, total {}",
                tx.label(),
                rate(total - line_sent, now - next_line + 1_000_000_000),
                total
            );
            line_sent = total;
            next_line = now + 1_000_000_000;
        }
    }
    let elapsed_ns = now_ns() - start;
    // Let the kernel finish the transmit ring (copy mode sends inside our wakeups).
    let drain_until = now_ns() + 20_000_000;
    while now_ns() < drain_until {
        tx.maintain();
        std::thread::yield_now();
    }
    let total = gen.total();
    let proto = cfg.spec.proto;
    let off = cfg.spec.stamp_off();
    for _ in 0..cfg.end_markers {
        tx.send_raw(|f| make_end_marker(f, off, proto, total));
        tx.maintain();
    }
    Ok(SendReport {
        io: tx.label(),
        sent: total,
        elapsed_ns,
        tx_ring_full: tx.tx_dropped(),
    })
}
