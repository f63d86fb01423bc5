//! # control: OVSDB client, Southbound and Open_vSwitch DB consumers, chassis duties
//!
//! Owns the control thread's I/O: an RFC 7047 OVSDB client (JSON-RPC over unix/tcp,
//! `monitor_cond_since`/`update3` with fallbacks, `transact`, echo, reconnect with resume),
//! reading configuration from the local Open_vSwitch DB the way ovn-controller does,
//! claiming port bindings, maintaining Chassis/Encap/Chassis_Private rows, and publishing
//! compiled pipeline snapshots to the workers with an epoch.
//!
//! Invariants: a malformed message or a lost connection is logged with context and leads
//! to a reconnect, never to a panic; forwarding keeps the last published pipeline.
//!
//! The OVSDB client, bottom up: [`remote`] (where to connect), [`jsonrpc`] (framing and
//! messages), [`datum`]/[`row`]/[`schema`] (values), [`update`] and [`replica`] (monitor
//! updates and the in-memory copy), [`client`] (one connection: calls, monitors, echo),
//! [`session`] (reconnecting monitor that keeps a replica up to date).
//!
//! The chassis daemon on top of it: [`config`] (what the Open_vSwitch DB's `external_ids`
//! say), [`ovs`] (ovs-vswitchd's and ovn-controller's writes to that DB), [`chassis`]
//! (Chassis/Encap/Chassis_Private rows, claiming port bindings), [`sb`] (what to monitor in
//! the Southbound DB and with which conditions), [`zones`] (conntrack zones persisted in
//! the integration bridge), [`snapshot`] (the immutable SB view the pipeline compiler
//! consumes), [`publish`] (epoch-stamped publication to worker threads), [`dataplane`] (the
//! seam where compiler and workers plug in), [`writeback`] (rate-limited MAC_Binding/FDB
//! writes) and [`daemon`] (the control loop of `southpaw run`).
//!
//! Not done yet: SSL remotes, the `_Server` database (cluster leader/"connected" checks),
//! locks (`lock`/`steal`), client-side condition filtering for servers that only know
//! plain `monitor`.

pub mod client;
pub mod datum;
pub mod error;
pub mod jsonrpc;
pub mod ops;
pub mod remote;
pub mod replica;
pub mod row;
pub mod schema;
pub mod session;
pub mod update;
pub mod wait;

pub use client::{Condition, Connection, MonitorMethod, MonitorReply, MonitorRequest};
pub use datum::{Atom, Datum, Uuid};
pub use error::{Error, Result};
pub use ops::Op;
pub use remote::Remote;
pub use replica::{Change, Changes, Replica};
pub use row::Row;
pub use schema::{ColumnKind, DatabaseSchema};
pub use session::{Event, Session, SessionConfig};

pub mod chassis;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod ovs;
pub mod publish;
pub mod sb;
pub mod snapshot;
pub mod to_model;
pub mod writeback;
pub mod zones;

pub use config::{Config, Overrides};
pub use daemon::{Daemon, DaemonOptions};
pub use dataplane::{Dataplane, SnapshotDataplane};
pub use publish::{Publisher, Subscriber};
pub use snapshot::{ChangedSet, SbSnapshot};
