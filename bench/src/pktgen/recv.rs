//! The sink loop: receive bursts, classify each frame ([`parse`]), account sequence
//! numbers and latency, print a line per second, stop on a duration, a count, the stop flag
//! or shortly after the sender's end marker once nothing more arrives.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::Result;
use datapath::xdp::XdpAttachMode;
use serde_json::json;

use super::{
    account::{Histogram, SeqTracker},
    io::{IoKind, RxIo},
    now_ns,
    packet::{parse, Parsed},
    send::rate,
};

/// Where and how long to listen.
#[derive(Debug, Clone)]
pub struct RecvConfig {
    pub ifname: String,
    pub queue: u32,
    pub io: IoKind,
    pub xdp_mode: XdpAttachMode,
    pub duration: Option<Duration>,
    /// Stop after this many distinct data packets.
    pub count: Option<u64>,
    /// After an end marker, stop once nothing arrived for this long.
    pub linger: Duration,
    pub live: bool,
}

/// Outcome of a sink run.
#[derive(Debug, Clone)]
pub struct RecvReport {
    pub io: &'static str,
    /// From the sender's end marker, if one arrived.
    pub sent: Option<u64>,
    pub seq: SeqTracker,
    /// Frames that were not ours (ARP, IPv6 ND, ...).
    pub other: u64,
    pub rx_dropped: u64,
    /// First to last data packet.
    pub span_ns: u64,
    pub latency: Histogram,
}

impl RecvReport {
    pub fn received(&self) -> u64 {
        self.seq.received
    }

    /// Sent minus distinct received when the total is known, else the gaps seen.
    pub fn lost(&self) -> u64 {
        match self.sent {
            Some(s) => s.saturating_sub(self.seq.unique()),
            None => self.seq.lost,
        }
    }

    pub fn pps(&self) -> f64 {
        rate(self.seq.received.saturating_sub(1), self.span_ns)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let h = &self.latency;
        json!({
            "role": "recv",
            "io": self.io,
            "sent": self.sent,
            "received": self.received(),
            "pps": self.pps().round(),
            "lost": self.lost(),
            "reordered": self.seq.reordered,
            "duplicates": self.seq.duplicates,
            "other": self.other,
            "rx_dropped": self.rx_dropped,
            "duration_s": self.span_ns as f64 / 1e9,
            "latency_ns": {
                "min": if h.count == 0 { 0 } else { h.min },
                "p50": h.percentile(0.50),
                "p90": h.percentile(0.90),
                "p99": h.percentile(0.99),
                "max": h.max,
                "mean": h.mean(),
            },
        })
    }

    pub fn text(&self) -> String {
        let h = &self.latency;
        format!(
            "recv [{}]: sent {} received {} ({:.0} pps) lost {} reordered {} duplicates {} \
             other {} rx_dropped {}\nlatency ns: p50 {} p90 {} p99 {} max {}",
            self.io,
            self.sent.map_or("?".to_string(), |s| s.to_string()),
            self.received(),
            self.pps(),
            self.lost(),
            self.seq.reordered,
            self.seq.duplicates,
            self.other,
            self.rx_dropped,
            h.percentile(0.50),
            h.percentile(0.90),
            h.percentile(0.99),
            h.max
        )
    }
}

/// Runs the sink in the calling thread; `on_ready` is called once the socket receives.
pub fn run_recv(
    cfg: &RecvConfig,
    stop: &AtomicBool,
    on_ready: impl FnOnce(),
) -> Result<RecvReport> {
    let mut rx = RxIo::open(cfg.io, &cfg.ifname, cfg.queue, cfg.xdp_mode)?;
    on_ready();
    let mut seq = SeqTracker::new();
    let mut lat = Histogram::new();
    let mut other = 0u64;
    let mut sent = None;
    let (mut first, mut last) = (0u64, 0u64);
    let start = now_ns();
    let deadline = cfg
        .duration
        .map_or(u64::MAX, |d| start.saturating_add(d.as_nanos() as u64));
    let limit = cfg.count.unwrap_or(u64::MAX);
    let mut next_line = start + 1_000_000_000;
    let mut line_rx = 0u64;
    let mut last_activity = start;
    loop {
        let mut now = 0u64;
        let n = rx.recv(|frame| {
            if now == 0 {
                now = now_ns();
            }
            match parse(frame) {
                Parsed::Data { flow, seq: s, ts } => {
                    seq.record(flow, s);
                    lat.record(now.saturating_sub(ts));
                    if first == 0 {
                        first = now;
                    }
                    last = now;
                }
                Parsed::End { sent: total } => sent = Some(total),
                Parsed::Other => other += 1,
            }
        });
        let now = if now == 0 { now_ns() } else { now };
        if n > 0 {
            last_activity = now;
        }
        let ended = sent.is_some_and(|s| {
            seq.unique() >= s || now.saturating_sub(last_activity) >= cfg.linger.as_nanos() as u64
        });
        if ended || seq.unique() >= limit || now >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        if cfg.live && now >= next_line {
            eprintln!(
                "recv [{}]: {:.0} pps, total {}, lost {}, reordered {}",
                rx.label(),
                rate(seq.received - line_rx, now - next_line + 1_000_000_000),
                seq.received,
                seq.lost,
                seq.reordered
            );
            line_rx = seq.received;
            next_line = now + 1_000_000_000;
        }
        if n == 0 {
            rx.wait(Duration::from_millis(10));
        }
    }
    Ok(RecvReport {
        io: rx.label(),
        sent,
        seq,
        other,
        rx_dropped: rx.rx_dropped(),
        span_ns: last.saturating_sub(first),
        latency: lat,
    })
}
