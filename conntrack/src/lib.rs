//! # conntrack: southpaw's own connection tracker
//!
//! A sans-IO library: time is an argument, there are no threads or syscalls. It owns
//! connection tracking by zone (5-tuple or ICMP id/type plus zone, both directions found
//! by one lookup), the per-protocol state machines (TCP with sequence windows, UDP, ICMP,
//! SCTP, other IP), NAT with port allocation handed out as RAII handles, load-balancer
//! backend selection, and limits (global and per zone).
//!
//! Invariants: a full table refuses new connections and counts them; established
//! connections keep working. Expiry is incremental, never a stop-the-world sweep.
