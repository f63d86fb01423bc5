//! A reconnecting monitor session: keeps a [`Replica`] of the monitored tables of one database
//! up to date across server restarts.
//!
//! Threading: none of its own. The owner (the control thread) calls [`Session::run_once`] in
//! its loop with a timeout; it does the I/O for at most that long and returns the events that
//! happened. Between calls nothing is read, so it should be called at least every probe
//! interval. Reading rows is [`Session::replica`]; what changed is [`Session::take_changes`].
//!
//! Connecting: remotes are tried in order (the next one after each failure), with exponential
//! backoff from `backoff_min` (100 ms) doubling to `backoff_max` (8 s). On each connect the
//! schema is fetched (monitor requests are restricted to what the server has), then the
//! monitor is created with `monitor_cond_since` and the last transaction id seen: if the
//! server answers `found=true` only the diff is applied, otherwise the replica is reloaded
//! (and the consumer sees exactly the rows that differ). Servers without
//! `monitor_cond_since` get `monitor_cond` or `monitor`.
//!
//! A malformed or unexpected message, an update that does not apply, a missing probe reply:
//! logged with context (the first 200 bytes of the message), the connection is dropped, the
//! next connect does a full reload. Nothing here panics on server input.
//!
//! ```no_run
//! use std::time::Duration;
//! use control::{Change, Condition, Event, MonitorRequest, Session, SessionConfig};
//! let cfg = SessionConfig::new(
//!     "tcp:127.0.0.1:6642,tcp:[::1]:6642",
//!     "OVN_Southbound",
//!     vec![
//!         MonitorRequest::new("Chassis").columns(&["name", "encaps"]),
//!         MonitorRequest::new("Port_Binding").conditions(vec![Condition::Const(false)]),
//!     ],
//! )?;
//! let mut sb = Session::new(cfg);
//! loop {
//!     for ev in sb.run_once(Duration::from_millis(100)) {
//!         if let Event::Disconnected { reason, .. } = ev {
//!             log::warn!("SB lost: {reason}");
//!         }
//!     }
//!     for (table, rows) in sb.take_changes() {
//!         for (uuid, change) in rows {
//!             match (change, sb.replica().row(&table, &uuid)) {
//!                 (Change::Deleted, _) => { /* forget uuid */ }
//!                 (_, Some(row)) => { let _name = row.get_str("name"); }
//!                 (_, None) => {}
//!             }
//!         }
//!     }
//! #   break;
//! }
//! # Ok::<(), control::Error>(())
//! ```

use std::time::{Duration, Instant};

use log::{info, warn};
use serde_json::{json, Value};

use crate::client::{
    Connection, MonitorMethod, MonitorRequest, DEFAULT_CALL_TIMEOUT, DEFAULT_PROBE_INTERVAL,
};
use crate::error::{Error, Result};
use crate::jsonrpc::{excerpt, DEFAULT_MAX_MESSAGE};
use crate::ops::{Condition, Op};
use crate::remote::Remote;
use crate::replica::{Changes, Replica};
pub use crate::wait::WaitHint;

/// Configuration of a [`Session`].
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Tried in order, the next after each failure (an `ovn-remote` list).
    pub remotes: Vec<Remote>,
    /// Database name, e.g. `OVN_Southbound`.
    pub db: String,
    /// Tables to monitor.
    pub monitors: Vec<MonitorRequest>,
    /// Inactivity probe interval; `None` disables it. Default 5 s.
    pub probe_interval: Option<Duration>,
    /// First reconnect delay. Default 100 ms.
    pub backoff_min: Duration,
    /// Largest reconnect delay. Default 8 s.
    pub backoff_max: Duration,
    /// TCP connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for each call's response. Default 30 s.
    pub call_timeout: Duration,
    /// Largest message accepted. Default 64 MiB.
    pub max_message: usize,
}

impl SessionConfig {
    /// Defaults for `remotes` (comma separated list), `db` and `monitors`.
    pub fn new(remotes: &str, db: &str, monitors: Vec<MonitorRequest>) -> Result<SessionConfig> {
        Ok(SessionConfig {
            remotes: Remote::parse_list(remotes)?,
            db: db.to_string(),
            monitors,
            probe_interval: Some(DEFAULT_PROBE_INTERVAL),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(5),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
        })
    }
}

/// Something that happened in [`Session::run_once`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Connected and monitoring; `resumed` when the server knew our last transaction id and
    /// sent only the difference (`resumed_from` is the id we asked for, if any).
    Connected {
        remote: String,
        method: MonitorMethod,
        resumed: bool,
        resumed_from: Option<crate::datum::Uuid>,
    },
    /// The replica changed: call [`Session::take_changes`].
    Updated,
    /// A connection attempt failed; the next is in `retry_in`.
    ConnectFailed {
        remote: String,
        reason: String,
        retry_in: Duration,
    },
    /// An established connection was lost.
    Disconnected { remote: String, reason: String },
}

/// Counters, for tests and `southpaw` status output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub connects: u64,
    pub connect_failures: u64,
    pub disconnects: u64,
    /// Connects that resumed from the last transaction id (`found=true`).
    pub resumes: u64,
    /// Connects that loaded the full contents.
    pub reloads: u64,
    pub updates: u64,
}

/// The session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    conn: Option<(Connection, MonitorMethod)>,
    replica: Replica,
    next_remote: usize,
    backoff: Duration,
    next_attempt: Instant,
    monitor_id: Value,
    events: Vec<Event>,
    stats: SessionStats,
}

impl Session {
    /// A session; the first connection attempt happens in the first `run_once`.
    pub fn new(cfg: SessionConfig) -> Session {
        let monitor_id = json!(cfg.db);
        Session {
            backoff: cfg.backoff_min,
            cfg,
            conn: None,
            replica: Replica::new(),
            next_remote: 0,
            next_attempt: Instant::now(),
            monitor_id,
            events: Vec::new(),
            stats: SessionStats::default(),
        }
    }

    /// The replica (rows of the monitored tables).
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Rows changed since the previous call.
    pub fn take_changes(&mut self) -> Changes {
        self.replica.take_changes()
    }

    /// True while connected and monitoring.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The monitor method in use, if connected.
    pub fn method(&self) -> Option<MonitorMethod> {
        self.conn.as_ref().map(|(_, m)| *m)
    }

    /// What [`wait_any`] waits for: `Ready` when `run_once` has work without waiting,
    /// `Fd` to wait for the socket (at most until the given instant: probes, reconnects).
    pub fn wait_hint(&self) -> WaitHint {
        if !self.events.is_empty() {
            return WaitHint::Ready;
        }
        match &self.conn {
            Some((c, _)) if c.has_buffered() => WaitHint::Ready,
            Some((c, _)) => WaitHint::Fd(c.raw_fd()),
            None => WaitHint::Until(self.next_attempt),
        }
    }

    /// Does I/O for at most `timeout` (less when events happen) and returns the events.
    pub fn run_once(&mut self, timeout: Duration) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.events.is_empty() {
                return std::mem::take(&mut self.events);
            }
            let now = Instant::now();
            match &mut self.conn {
                None => {
                    if now >= self.next_attempt {
                        self.try_connect();
                        continue;
                    }
                    if now >= deadline {
                        return Vec::new();
                    }
                    std::thread::sleep(self.next_attempt.min(deadline) - now);
                }
                Some((conn, _)) => {
                    let wait = deadline.saturating_duration_since(now);
                    match conn.poll(wait) {
                        Ok(Some((method, params))) => self.handle_notification(&method, &params),
                        Ok(None) => return Vec::new(),
                        Err(e) => self.drop_connection(e.to_string()),
                    }
                    if self.events.is_empty() && Instant::now() >= deadline {
                        return Vec::new();
                    }
                }
            }
        }
    }

    fn handle_notification(&mut self, method: &str, params: &Value) {
        let ours = params.get(0) == Some(&self.monitor_id);
        match method {
            "update" | "update2" | "update3" if ours => {
                match self.replica.apply_notification(method, params) {
                    Ok(_) => {
                        self.stats.updates += 1;
                        if self.replica.has_changes() && !self.events.contains(&Event::Updated) {
                            self.events.push(Event::Updated);
                        }
                    }
                    Err(e) => {
                        warn!(
                            "{}: {method} does not apply ({e}); message starts {:?}",
                            self.cfg.db,
                            excerpt(params.to_string().as_bytes())
                        );
                        self.replica.set_last_txn_id(None);
                        self.drop_connection(format!("{method} does not apply: {e}"));
                    }
                }
            }
            "monitor_canceled" if ours => {
                self.replica.set_last_txn_id(None);
                self.drop_connection("server canceled the monitor".into());
            }
            _ => log::debug!("{}: ignoring notification {method}", self.cfg.db),
        }
    }

    fn drop_connection(&mut self, reason: String) {
        if let Some((conn, _)) = self.conn.take() {
            warn!(
                "{}: connection to {} lost: {reason}",
                self.cfg.db,
                conn.remote()
            );
            self.stats.disconnects += 1;
            self.events.push(Event::Disconnected {
                remote: conn.remote().to_string(),
                reason,
            });
            self.next_attempt = Instant::now() + self.cfg.backoff_min;
            self.backoff = (self.cfg.backoff_min * 2).min(self.cfg.backoff_max);
        }
    }

    fn try_connect(&mut self) {
        if self.cfg.remotes.is_empty() {
            self.next_attempt = Instant::now() + self.cfg.backoff_max;
            return;
        }
        let remote = self.cfg.remotes[self.next_remote % self.cfg.remotes.len()].clone();
        match self.establish(&remote) {
            Ok(()) => {
                self.backoff = self.cfg.backoff_min;
            }
            Err(e) => {
                let retry_in = self.backoff;
                warn!(
                    "{}: connecting to {remote} failed: {e}; retry in {retry_in:?}",
                    self.cfg.db
                );
                if matches!(e, Error::Protocol(_)) {
                    self.replica.set_last_txn_id(None);
                }
                self.stats.connect_failures += 1;
                self.events.push(Event::ConnectFailed {
                    remote: remote.to_string(),
                    reason: e.to_string(),
                    retry_in,
                });
                self.next_remote = self.next_remote.wrapping_add(1);
                self.next_attempt = Instant::now() + retry_in;
                self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
            }
        }
    }

    fn establish(&mut self, remote: &Remote) -> Result<()> {
        let mut conn = Connection::connect(remote, self.cfg.connect_timeout)?;
        conn.set_probe_interval(self.cfg.probe_interval);
        conn.set_call_timeout(self.cfg.call_timeout);
        conn.set_max_message(self.cfg.max_message);
        let schema = conn.get_schema(&self.cfg.db)?;
        let requests: Vec<MonitorRequest> = self
            .cfg
            .monitors
            .iter()
            .filter_map(|r| r.restrict_to(&schema))
            .collect();
        self.replica.set_schema(schema);
        for r in &requests {
            let cols: Option<Vec<&str>> = r
                .columns
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect());
            self.replica.set_monitored(&r.table, cols.as_deref());
        }
        let since = self.replica.last_txn_id();
        let reply = conn.monitor(&self.cfg.db, &self.monitor_id, &requests, since)?;
        let resumed = reply.found && since.is_some();
        if resumed {
            self.replica.apply(&reply.updates)?;
            self.stats.resumes += 1;
        } else {
            self.replica.begin_reload();
            self.replica.apply(&reply.updates)?;
            self.replica.finish_reload();
            self.stats.reloads += 1;
        }
        self.replica.set_last_txn_id(reply.last_txn_id);
        info!(
            "{}: connected to {remote} ({:?}, {})",
            self.cfg.db,
            reply.method,
            if resumed { "resumed" } else { "full load" }
        );
        self.stats.connects += 1;
        self.events.push(Event::Connected {
            remote: remote.to_string(),
            method: reply.method,
            resumed,
            resumed_from: since,
        });
        if self.replica.has_changes() {
            self.events.push(Event::Updated);
        }
        self.conn = Some((conn, reply.method));
        Ok(())
    }

    /// Applies notifications already received (after a call that may have queued some).
    fn drain(&mut self) {
        while let Some((conn, _)) = &mut self.conn {
            match conn.poll(Duration::ZERO) {
                Ok(Some((m, p))) => self.handle_notification(&m, &p),
                Ok(None) => break,
                Err(e) => self.drop_connection(e.to_string()),
            }
        }
    }

    fn fail_call(&mut self, e: &Error) {
        if !matches!(e, Error::Rpc { .. }) {
            self.drop_connection(e.to_string());
        }
    }

    /// Runs a transaction on the monitored database. Notifications that arrived before the
    /// reply are applied before returning (whether the server sends the monitor update for
    /// our own change before its reply is up to the server: await the row, do not assume it).
    /// A transport error drops the connection (reported by the next
    /// `run_once`); an error answer from the server does not.
    pub fn transact(&mut self, ops: Vec<Op>) -> Result<Vec<Value>> {
        let db = self.cfg.db.clone();
        let Some((conn, _)) = &mut self.conn else {
            return Err(Error::NotConnected);
        };
        let r = conn.transact(&db, ops);
        if let Err(e) = &r {
            self.fail_call(e);
        }
        self.drain();
        r
    }

    /// Changes the row conditions of a monitored table (`None` = all rows). Takes effect at
    /// once when connected (`monitor_cond_change`) and is kept for later reconnects. If the
    /// change cannot be confirmed the transaction id is forgotten, so that the next connect
    /// reloads with the new conditions instead of resuming.
    pub fn set_conditions(
        &mut self,
        table: &str,
        conditions: Option<Vec<Condition>>,
    ) -> Result<()> {
        let Some(req) = self.cfg.monitors.iter_mut().find(|r| r.table == table) else {
            return Err(Error::Protocol(format!("table {table} is not monitored")));
        };
        req.conditions = conditions;
        let req = req.clone();
        let known = self.replica.schema().and_then(|s| req.restrict_to(s));
        let id = self.monitor_id.clone();
        let Some((conn, method)) = &mut self.conn else {
            self.replica.set_last_txn_id(None);
            return Ok(());
        };
        let Some(req) = known else {
            return Ok(());
        };
        if *method == MonitorMethod::Plain {
            return Ok(());
        }
        let r = conn.monitor_cond_change(&id, &[req]);
        if let Err(e) = &r {
            self.replica.set_last_txn_id(None);
            self.fail_call(e);
        }
        self.drain();
        r
    }
}
