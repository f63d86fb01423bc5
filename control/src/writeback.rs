//! MAC_Binding and FDB write-back from the datapath, rate limited.
//!
//! The datapath learns neighbours (`put_arp`/`put_nd` actions) and MACs (`put_fdb`); those go
//! to the SB as MAC_Binding and FDB rows so that other chassis learn them too. Learning can
//! be driven by traffic, so writes are queued ([`Writeback::push_mac_binding`],
//! [`Writeback::push_fdb`]; a newer entry for the same key replaces a queued one) and flushed
//! by the control thread at most `per_second` entries per second ([`Writeback::flush_ops`]).
//! An entry equal to the row already in the SB is dropped without a write.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::datum::Uuid;
use crate::ops::{Condition, Op};
use crate::replica::Replica;
use crate::row::Row;

/// A learned IP -> MAC binding on a logical port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacBindingEntry {
    pub datapath: Uuid,
    pub logical_port: String,
    pub ip: String,
    pub mac: String,
}

/// A learned MAC on a port of a switch (FDB, by tunnel keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    pub dp_key: i64,
    pub port_key: i64,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Mac(Uuid, String, String),
    Fdb(i64, String),
}

#[derive(Clone, Debug)]
enum Entry {
    Mac(MacBindingEntry),
    Fdb(FdbEntry),
}

/// The queue.
#[derive(Debug)]
pub struct Writeback {
    per_second: usize,
    queue: VecDeque<Key>,
    entries: BTreeMap<Key, Entry>,
    window_start: Option<Instant>,
    sent_in_window: usize,
    /// Entries dropped because the queue was full.
    pub dropped: u64,
    max_queue: usize,
}

impl Writeback {
    /// At most `per_second` writes per second, at most `max_queue` entries waiting.
    pub fn new(per_second: usize, max_queue: usize) -> Writeback {
        Writeback {
            per_second,
            queue: VecDeque::new(),
            entries: BTreeMap::new(),
            window_start: None,
            sent_in_window: 0,
            dropped: 0,
            max_queue,
        }
    }

    fn push(&mut self, k: Key, e: Entry) {
        if self.entries.insert(k.clone(), e).is_none() {
            if self.queue.len() >= self.max_queue {
                self.entries.remove(&k);
                self.dropped += 1;
                return;
            }
            self.queue.push_back(k);
        }
    }

    pub fn push_mac_binding(&mut self, e: MacBindingEntry) {
        let k = Key::Mac(e.datapath, e.logical_port.clone(), e.ip.clone());
        self.push(k, Entry::Mac(e));
    }

    pub fn push_fdb(&mut self, e: FdbEntry) {
        let k = Key::Fdb(e.dp_key, e.mac.clone());
        self.push(k, Entry::Fdb(e));
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Ops for as many queued entries as the rate allows at `now`, against the current SB
    /// rows (`now_ms` is the MAC_Binding timestamp).
    pub fn flush_ops(&mut self, sb: &Replica, now: Instant, now_ms: i64) -> Vec<Op> {
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= Duration::from_secs(1) {
            self.window_start = Some(now);
            self.sent_in_window = 0;
        }
        let mut ops = Vec::new();
        while self.sent_in_window < self.per_second {
            let Some(k) = self.queue.pop_front() else {
                break;
            };
            let Some(e) = self.entries.remove(&k) else {
                continue;
            };
            if let Some(op) = entry_op(sb, &e, now_ms) {
                ops.push(op);
                self.sent_in_window += 1;
            }
        }
        ops
    }
}

fn entry_op(sb: &Replica, e: &Entry, now_ms: i64) -> Option<Op> {
    match e {
        Entry::Mac(m) => {
            let existing = sb.rows("MAC_Binding").find(|(_, r)| {
                r.get_uuid("datapath").ok() == Some(m.datapath)
                    && r.get_str("logical_port").ok() == Some(m.logical_port.as_str())
                    && r.get_str("ip").ok() == Some(m.ip.as_str())
            });
            match existing {
                Some((_, r)) if r.get_str("mac").ok() == Some(m.mac.as_str()) => None,
                Some((u, _)) => Some(Op::update(
                    "MAC_Binding",
                    vec![Condition::uuid(*u)],
                    Row::new()
                        .with("mac", m.mac.as_str())
                        .with("timestamp", now_ms),
                )),
                None => Some(Op::insert(
                    "MAC_Binding",
                    Row::new()
                        .with("datapath", m.datapath)
                        .with("logical_port", m.logical_port.as_str())
                        .with("ip", m.ip.as_str())
                        .with("mac", m.mac.as_str())
                        .with("timestamp", now_ms),
                )),
            }
        }
        Entry::Fdb(f) => {
            let existing = sb.rows("FDB").find(|(_, r)| {
                r.get_int("dp_key").ok() == Some(f.dp_key)
                    && r.get_str("mac").ok() == Some(f.mac.as_str())
            });
            match existing {
                Some((_, r)) if r.get_int("port_key").ok() == Some(f.port_key) => None,
                Some((u, _)) => Some(Op::update(
                    "FDB",
                    vec![Condition::uuid(*u)],
                    Row::new().with("port_key", f.port_key),
                )),
                None => Some(Op::insert(
                    "FDB",
                    Row::new()
                        .with("dp_key", f.dp_key)
                        .with("port_key", f.port_key)
                        .with("mac", f.mac.as_str()),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_and_coalesce() {
        let mut w = Writeback::new(2, 10);
        let sb = Replica::new();
        for i in 0..3 {
            w.push_fdb(FdbEntry {
                dp_key: 1,
                port_key: i,
                mac: format!("0a:00:00:00:00:0{i}"),
            });
        }
        w.push_fdb(FdbEntry {
            dp_key: 1,
            port_key: 9,
            mac: "0a:00:00:00:00:00".into(),
        });
        assert_eq!(w.len(), 3);
        let t = Instant::now();
        assert_eq!(w.flush_ops(&sb, t, 0).len(), 2);
        assert_eq!(w.flush_ops(&sb, t, 0).len(), 0);
        assert_eq!(w.flush_ops(&sb, t + Duration::from_secs(1), 0).len(), 1);
        assert!(w.is_empty());
        let mut small = Writeback::new(1, 1);
        small.push_fdb(FdbEntry {
            dp_key: 1,
            port_key: 1,
            mac: "a".into(),
        });
        small.push_fdb(FdbEntry {
            dp_key: 1,
            port_key: 1,
            mac: "b".into(),
        });
        assert_eq!(small.dropped, 1);
    }
}
