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
