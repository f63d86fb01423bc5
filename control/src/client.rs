//! One OVSDB connection: blocking request/response calls, monitors, notifications and the
//! inactivity probe.
//!
//! A [`Connection`] owns its socket and is used from one thread. [`Connection::call`] sends a
//! request and reads until the matching response; `echo` requests from the server are answered
//! inline and notifications that arrive meanwhile are queued for [`Connection::poll`].
//!
//! Inactivity probe (as OVS's reconnect FSM): when nothing has been received for the probe
//! interval, we send an `echo`; if still nothing arrives within another interval the
//! connection is declared dead ([`Error::Timeout`]). The default interval is
//! [`DEFAULT_PROBE_INTERVAL`] = 5 s, the OVS library default; ovn-controller uses
//! `ovn-remote-probe-interval` (30 s by default) for the Southbound connection, which callers
//! can mirror with [`Connection::set_probe_interval`].

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde_json::{json, Value};

use crate::datum::Uuid;
use crate::error::{Error, Result};
use crate::jsonrpc::{Decoder, Message, DEFAULT_MAX_MESSAGE};
pub use crate::ops::Condition;
use crate::ops::{check_results, where_json, Op};
use crate::remote::{Remote, Stream};
use crate::schema::DatabaseSchema;
use crate::update::{TableUpdates, UpdateFormat};

/// Default inactivity probe interval.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// Default time allowed for a call's response.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Which monitor method a monitor was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorMethod {
    /// `monitor_cond_since` with `update3` notifications (resumable).
    CondSince,
    /// `monitor_cond` with `update2` notifications.
    Cond,
    /// plain `monitor` with `update` notifications; conditions are not applied.
    Plain,
}

/// What to monitor in one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRequest {
    pub table: String,
    /// Columns to monitor; `None` = all columns of the server's schema.
    pub columns: Option<Vec<String>>,
    /// Rows to monitor: `None` = all rows. The clauses are ORed (`[]` also matches all rows on
    /// ovsdb-server; use `[Condition::Const(false)]` for none).
    pub conditions: Option<Vec<Condition>>,
}

impl MonitorRequest {
    /// All columns and rows of `table`.
    pub fn new(table: &str) -> MonitorRequest {
        MonitorRequest {
            table: table.to_string(),
            columns: None,
            conditions: None,
        }
    }

    /// Restricts the columns.
    pub fn columns(mut self, columns: &[&str]) -> MonitorRequest {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Restricts the rows (clauses are ORed).
    pub fn conditions(mut self, conditions: Vec<Condition>) -> MonitorRequest {
        self.conditions = Some(conditions);
        self
    }

    /// This request reduced to what `schema` has: `None` when the table is unknown, unknown
    /// columns removed (logged). Lets a client written for a newer schema run against an older
    /// server, and ignores whatever the server has that we do not ask for.
    pub fn restrict_to(&self, schema: &DatabaseSchema) -> Option<MonitorRequest> {
        let Some(t) = schema.tables.get(&self.table) else {
            warn!(
                "{}: table {} not in the server's schema, not monitored",
                schema.name, self.table
            );
            return None;
        };
        let mut r = self.clone();
        if let Some(cols) = &mut r.columns {
            cols.retain(|c| {
                let known = t.columns.contains_key(c) || c == "_uuid" || c == "_version";
                if !known {
                    warn!(
                        "{}: column {}.{} not in the server's schema, not monitored",
                        schema.name, self.table, c
                    );
                }
                known
            });
        }
        Some(r)
    }

    fn to_json(&self, with_where: bool) -> Value {
        let mut o = serde_json::Map::new();
        if let Some(c) = &self.columns {
            o.insert("columns".into(), json!(c));
        }
        if let (true, Some(c)) = (with_where, &self.conditions) {
            o.insert("where".into(), where_json(c));
        }
        json!([Value::Object(o)])
    }
}

fn requests_json(requests: &[MonitorRequest], with_where: bool) -> Value {
    Value::Object(
        requests
            .iter()
            .map(|r| (r.table.clone(), r.to_json(with_where)))
            .collect(),
    )
}

/// The reply to a monitor request.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorReply {
    pub method: MonitorMethod,
    /// `monitor_cond_since` only: the server had `last_txn_id` in its history and `updates`
    /// holds only what changed since then. Otherwise `updates` is the full initial content.
    pub found: bool,
    /// `monitor_cond_since` only: the transaction id the updates bring us to (zero/None when
    /// the server keeps no history, e.g. a standalone database).
    pub last_txn_id: Option<Uuid>,
    pub updates: TableUpdates,
}

/// A connection to one OVSDB server.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    remote: String,
    decoder: Decoder,
    next_id: u64,
    pending: VecDeque<(String, Value)>,
    probe_interval: Option<Duration>,
    call_timeout: Duration,
    last_rx: Instant,
    probe_sent: Option<Instant>,
    buf: Vec<u8>,
    /// The last `recv` returned a message, so the decoder may hold another complete one.
    maybe_more: bool,
}

impl Connection {
    /// Connects to `remote`.
    pub fn connect(remote: &Remote, timeout: Duration) -> Result<Connection> {
        let stream = remote.connect(timeout)?;
        Connection::from_stream(stream, &remote.to_string())
    }

    /// Wraps an already connected stream; `name` is used in errors and logs.
    pub fn from_stream(stream: Stream, name: &str) -> Result<Connection> {
        stream
            .set_write_timeout(Some(DEFAULT_CALL_TIMEOUT))
            .map_err(|e| Error::io(format!("{name}: set write timeout"), e))?;
        Ok(Connection {
            stream,
            remote: name.to_string(),
            decoder: Decoder::new(DEFAULT_MAX_MESSAGE),
            next_id: 1,
            pending: VecDeque::new(),
            probe_interval: Some(DEFAULT_PROBE_INTERVAL),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            last_rx: Instant::now(),
            probe_sent: None,
            buf: vec![0; 64 * 1024],
            maybe_more: false,
        })
    }

    /// The remote's name.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The socket, for waiting on several connections at once (see [`crate::session::wait_any`]).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.stream)
    }

    /// True when received bytes or queued notifications wait to be processed, so a caller
    /// must not block on the socket before polling this connection.
    pub fn has_buffered(&self) -> bool {
        !self.pending.is_empty() || self.maybe_more
    }

    /// Sets the inactivity probe interval (`None` disables probing).
    pub fn set_probe_interval(&mut self, interval: Option<Duration>) {
        self.probe_interval = interval.filter(|d| !d.is_zero());
    }

    /// Sets how long a call waits for its response.
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.call_timeout = timeout;
    }

    /// Sets the maximum size of one received message.
    pub fn set_max_message(&mut self, bytes: usize) {
        self.decoder = Decoder::new(bytes);
    }

    fn send(&mut self, msg: &Message) -> Result<()> {
        let bytes = msg.to_bytes();
        self.stream
            .write_all(&bytes)
            .map_err(|e| Error::io(format!("{}: send", self.remote), e))
    }

    /// Reads and returns one message, or `None` when `deadline` passed first. Answers echo
    /// requests and runs the inactivity probe.
    fn recv(&mut self, deadline: Instant) -> Result<Option<Message>> {
        loop {
            match self.decoder.next_message() {
                Ok(Some(m)) => {
                    self.last_rx = Instant::now();
                    self.probe_sent = None;
                    if let Message::Request { method, params, id } = &m {
                        let reply = if method == "echo" {
                            Message::Response {
                                id: id.clone(),
                                result: Ok(params.clone()),
                            }
                        } else {
                            debug!("{}: unexpected request {method}", self.remote);
                            Message::Response {
                                id: id.clone(),
                                result: Err(json!("unknown method")),
                            }
                        };
                        self.send(&reply)?;
                        continue;
                    }
                    self.maybe_more = true;
                    return Ok(Some(m));
                }
                Ok(None) => self.maybe_more = false,
                Err(e) => return Err(Error::Protocol(format!("{}: {e}", self.remote))),
            }
            let now = Instant::now();
            let mut wake = deadline;
            if let Some(p) = self.probe_interval {
                match self.probe_sent {
                    Some(sent) if now >= sent + p => {
                        return Err(Error::Timeout(format!(
                            "{}: no reply to inactivity probe within {p:?}",
                            self.remote
                        )))
                    }
                    Some(sent) => wake = wake.min(sent + p),
                    None if now >= self.last_rx + p => {
                        self.send(&Message::Request {
                            method: "echo".into(),
                            params: json!([]),
                            id: json!("echo"),
                        })?;
                        self.probe_sent = Some(now);
                        wake = wake.min(now + p);
                    }
                    None => wake = wake.min(self.last_rx + p),
                }
            }
            if now >= deadline {
                return Ok(None);
            }
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| Error::io(format!("{}: set read timeout", self.remote), e))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.decoder.feed(&self.buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(Error::io(format!("{}: receive", self.remote), e)),
            }
        }
    }

    /// Sends a request and waits for its response (`Error::Rpc` for an error response).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&Message::Request {
            method: method.into(),
            params,
            id: json!(id),
        })?;
        let deadline = Instant::now() + self.call_timeout;
        loop {
            match self.recv(deadline)? {
                None => {
                    return Err(Error::Timeout(format!(
                        "{}: no response to {method} within {:?}",
                        self.remote, self.call_timeout
                    )))
                }
                Some(Message::Response { id: rid, result }) if rid == json!(id) => {
                    return result.map_err(|error| Error::Rpc {
                        method: method.into(),
                        error,
                    })
                }
                Some(Message::Response { .. }) => {}
                Some(Message::Notification { method, params }) => {
                    self.pending.push_back((method, params))
                }
                Some(Message::Request { .. }) => {}
            }
        }
    }

    /// Waits up to `timeout` for a notification (queued ones first). `Ok(None)` on timeout.
    /// Must be called regularly so echo requests are answered and the probe runs.
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<(String, Value)>> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(Some(n));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv(deadline)? {
                None => return Ok(None),
                Some(Message::Notification { method, params }) => {
                    return Ok(Some((method, params)))
                }
                Some(_) => {}
            }
        }
    }

    /// `list_dbs`.
    pub fn list_dbs(&mut self) -> Result<Vec<String>> {
        let v = self.call("list_dbs", json!([]))?;
        serde_json::from_value(v).map_err(|e| Error::Protocol(format!("list_dbs reply: {e}")))
    }

    /// `get_schema`, raw.
    pub fn get_schema_json(&mut self, db: &str) -> Result<Value> {
        self.call("get_schema", json!([db]))
    }

    /// `get_schema`, parsed.
    pub fn get_schema(&mut self, db: &str) -> Result<DatabaseSchema> {
        DatabaseSchema::from_json(&self.get_schema_json(db)?)
    }

    /// `echo`: a round trip.
    pub fn echo(&mut self) -> Result<()> {
        self.call("echo", json!(["ping"])).map(drop)
    }

    /// `transact`: results per op; the first op error becomes `Error::Rpc`.
    pub fn transact(&mut self, db: &str, ops: Vec<Op>) -> Result<Vec<Value>> {
        let mut params = vec![json!(db)];
        params.extend(ops.into_iter().map(Op::into_json));
        check_results(&self.call("transact", Value::Array(params))?)
    }

    /// `monitor_cond_since` (`last_txn_id` None = start from scratch).
    pub fn monitor_cond_since(
        &mut self,
        db: &str,
        id: &Value,
        requests: &[MonitorRequest],
        last_txn_id: Option<Uuid>,
    ) -> Result<MonitorReply> {
        let last = last_txn_id.unwrap_or(Uuid::ZERO).to_string();
        let v = self.call(
            "monitor_cond_since",
            json!([db, id, requests_json(requests, true), last]),
        )?;
        let bad = || {
            Error::Protocol(format!(
                "{}: bad monitor_cond_since reply: {}",
                self.remote,
                crate::datum::short(&v)
            ))
        };
        let [found, txn, updates] = v.as_array().map(Vec::as_slice).unwrap_or(&[]) else {
            return Err(bad());
        };
        let found = found.as_bool().ok_or_else(bad)?;
        let txn: Uuid = txn.as_str().ok_or_else(bad)?.parse()?;
        Ok(MonitorReply {
            method: MonitorMethod::CondSince,
            found,
            last_txn_id: Some(txn).filter(|u| !u.is_zero()),
            updates: TableUpdates::from_json(updates, UpdateFormat::V2)?,
        })
    }

    /// `monitor_cond`.
    pub fn monitor_cond(
        &mut self,
        db: &str,
        id: &Value,
        requests: &[MonitorRequest],
    ) -> Result<MonitorReply> {
        let v = self.call(
            "monitor_cond",
            json!([db, id, requests_json(requests, true)]),
        )?;
        Ok(MonitorReply {
            method: MonitorMethod::Cond,
            found: false,
            last_txn_id: None,
            updates: TableUpdates::from_json(&v, UpdateFormat::V2)?,
        })
    }

    /// Plain `monitor` (conditions are not sent: the method has none).
    pub fn monitor_plain(
        &mut self,
        db: &str,
        id: &Value,
        requests: &[MonitorRequest],
    ) -> Result<MonitorReply> {
        if requests.iter().any(|r| r.conditions.is_some()) {
            warn!(
                "{}: server only supports plain monitor; conditions ignored",
                self.remote
            );
        }
        let v = self.call("monitor", json!([db, id, requests_json(requests, false)]))?;
        Ok(MonitorReply {
            method: MonitorMethod::Plain,
            found: false,
            last_txn_id: None,
            updates: TableUpdates::from_json(&v, UpdateFormat::V1)?,
        })
    }

    /// The best monitor the server knows: `monitor_cond_since`, else `monitor_cond`, else
    /// `monitor` (each fallback taken only on an "unknown method" error).
    pub fn monitor(
        &mut self,
        db: &str,
        id: &Value,
        requests: &[MonitorRequest],
        last_txn_id: Option<Uuid>,
    ) -> Result<MonitorReply> {
        match self.monitor_cond_since(db, id, requests, last_txn_id) {
            Err(e) if e.is_unknown_method() => {}
            r => return r,
        }
        debug!(
            "{}: monitor_cond_since unknown, trying monitor_cond",
            self.remote
        );
        match self.monitor_cond(db, id, requests) {
            Err(e) if e.is_unknown_method() => {}
            r => return r,
        }
        debug!("{}: monitor_cond unknown, trying monitor", self.remote);
        self.monitor_plain(db, id, requests)
    }

    /// `monitor_cond_change`: replaces the conditions of the given tables (same monitor id).
    /// The rows entering/leaving the condition arrive as update2/update3 notifications.
    pub fn monitor_cond_change(&mut self, id: &Value, requests: &[MonitorRequest]) -> Result<()> {
        let reqs: serde_json::Map<String, Value> = requests
            .iter()
            .map(|r| {
                let conds = r
                    .conditions
                    .clone()
                    .unwrap_or_else(|| vec![Condition::Const(true)]);
                (r.table.clone(), json!([{"where": where_json(&conds)}]))
            })
            .collect();
        self.call("monitor_cond_change", json!([id, id, reqs]))
            .map(drop)
    }

    /// `monitor_cancel`.
    pub fn monitor_cancel(&mut self, id: &Value) -> Result<()> {
        self.call("monitor_cancel", json!([id])).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Connection, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Connection::from_stream(Stream::Unix(a), "pair").unwrap(), b)
    }

    fn read_message(s: &mut UnixStream) -> Message {
        let mut d = Decoder::default();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = d.next_message().unwrap() {
                return m;
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "peer closed");
            d.feed(&buf[..n]);
        }
    }

    #[test]
    fn answers_echo_and_queues_notifications_during_call() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let req = read_message(&mut peer);
            let Message::Request { method, id, .. } = req else {
                panic!("{req:?}")
            };
            assert_eq!(method, "list_dbs");
            // Before answering: an echo request and a notification, split across writes.
            peer.write_all(br#"{"method":"echo","params":["x",1],"id":"e1"}{"method":"upd"#)
                .unwrap();
            peer.write_all(br#"ate2","params":["m",{}],"id":null}"#)
                .unwrap();
            let echo_reply = read_message(&mut peer);
            peer.write_all(
                &Message::Response {
                    id,
                    result: Ok(json!(["A", "B"])),
                }
                .to_bytes(),
            )
            .unwrap();
            (echo_reply, peer)
        });
        assert_eq!(c.list_dbs().unwrap(), vec!["A", "B"]);
        let (echo_reply, _peer) = t.join().unwrap();
        assert_eq!(
            echo_reply,
            Message::Response {
                id: json!("e1"),
                result: Ok(json!(["x", 1]))
            }
        );
        let (m, p) = c.poll(Duration::ZERO).unwrap().unwrap();
        assert_eq!(m, "update2");
        assert_eq!(p, json!(["m", {}]));
        assert!(c.poll(Duration::from_millis(1)).unwrap().is_none());
    }

    #[test]
    fn unknown_method_error_is_recognised_and_garbage_fails() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let _ = read_message(&mut peer);
            let reply = Message::Response {
                id: json!(1),
                result: Err(json!("unknown method")),
            };
            peer.write_all(&reply.to_bytes()).unwrap();
            let _ = read_message(&mut peer);
            peer.write_all(b"}garbage").unwrap();
            peer
        });
        let e = c
            .monitor_cond_since("DB", &json!(1), &[], None)
            .unwrap_err();
        assert!(e.is_unknown_method(), "{e}");
        let e = c.echo().unwrap_err();
        assert!(e.to_string().contains("garbage"), "{e}");
        drop(t.join().unwrap());
    }

    #[test]
    fn closed_peer_is_an_error() {
        let (mut c, peer) = pair();
        drop(peer);
        assert!(c.echo().is_err());
    }
}
