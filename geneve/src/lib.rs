//! # geneve: tunnel encapsulations between chassis
//!
//! Owns the wire formats and encap/decap of Geneve (OVN's default, carrying the logical
//! datapath, ingress and egress port keys in its option), VXLAN and STT. Checked zero-copy
//! views over byte slices; building a tunnel header writes into a caller's buffer.
//!
//! Not yet: everything. Tunnels come after the single-chassis datapath forwards.
