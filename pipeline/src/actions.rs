//! The `actions` language: the [`Action`] enum. The parser is in `actions_parse.rs`;
//! [`parse_actions`] is the entry point.
//!
//! Every variant is one OVN action (lib/actions.c, 23.03). Field operands are
//! [`FieldRef`]s into the [`crate::Symtab`]; "result" actions (`reg9[2] = lookup_arp(...)`)
//! carry their destination as `dst`. A `next` with no table means "the next table";
//! a `next` with no pipeline means "this pipeline": the compiler knows both.

pub use crate::actions_parse::parse_actions;
use crate::lexer::Int;
use crate::parser::{FieldRef, Value};
use std::net::IpAddr;

/// Logical pipeline of a `next(pipeline=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pipeline {
    Ingress,
    Egress,
}

/// Which conntrack NAT action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtNatKind {
    /// `ct_dnat`: in the datapath's DNAT zone (routers) or CT zone (switches).
    Dnat,
    /// `ct_snat`: in the SNAT zone.
    Snat,
    /// `ct_dnat_in_czone`: DNAT in the common (single) zone.
    DnatInCzone,
    /// `ct_snat_in_czone`: SNAT in the common zone.
    SnatInCzone,
}

/// Nested actions that build a new packet (or a copy) and run the inner actions on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NestedKind {
    /// `arp { ... }`: turn an IPv4 packet into an ARP request.
    Arp,
    /// `nd_ns { ... }`: turn an IPv6 packet into a neighbour solicitation.
    NdNs,
    /// `nd_na { ... }`: reply to an NS with an NA.
    NdNa,
    /// `nd_na_router { ... }`: same, with the router flag set.
    NdNaRouter,
    /// `icmp4 { ... }`: ICMPv4 destination unreachable built from the packet.
    Icmp4,
    /// `icmp4_error { ... }`: ICMPv4 error quoting the packet (ttl exceeded, frag needed).
    Icmp4Error,
    /// `icmp6 { ... }`
    Icmp6,
    /// `icmp6_error { ... }`
    Icmp6Error,
    /// `tcp_reset { ... }`: answer with a TCP RST.
    TcpReset,
    /// `sctp_abort { ... }`: answer with an SCTP ABORT.
    SctpAbort,
    /// `reject { ... }`: RST for TCP, ABORT for SCTP, ICMP unreachable otherwise.
    Reject,
    /// `clone { ... }`: run the inner actions on a copy, then continue with the original.
    Clone,
    /// `ct_commit { ... }`: commit to conntrack, applying the inner `ct_mark`/`ct_label` sets.
    CtCommit,
}

/// MAC binding table family: ARP (IPv4) or ND (IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacBind {
    Arp,
    Nd,
}

/// A load-balancer backend in `ct_lb`/`ct_lb_mark`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LbBackend {
    pub ip: IpAddr,
    /// 0 = keep the destination port.
    pub port: u16,
}

/// `ct_lb(...; skip_snat)` / `force_snat` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtLbFlag {
    SkipSnat,
    ForceSnat,
}

/// One `name = value` option of `put_dhcp_opts`, `put_dhcpv6_opts`, `put_nd_ra_opts` and
/// `trigger_event`. The value is a constant or a `{...}` set (e.g. `dns_server = {8.8.8.8,
/// 8.8.4.4}`, `classless_static_route = {30.0.0.0/24,10.0.0.10, 0.0.0.0/0,10.0.0.1}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GenOpt {
    pub name: String,
    pub values: Vec<Value>,
}

/// `log(...)` verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogVerdict {
    Allow,
    Drop,
    Reject,
}

/// Transport protocol named in `commit_lb_aff`/`commit_ecmp_nh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

/// One OVN action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `drop;` (only ever the whole action list, as in OVN).
    Drop,
    /// `dst = constant;` A masked integer writes only the masked bits. For `inport`/`outport`
    /// the value is a port name string. `dst` may be an OVN field (`icmp4.frag_mtu`).
    Load {
        dst: FieldRef,
        value: Value,
    },
    /// `dst = src;` (equal widths, or both string fields).
    Move {
        dst: FieldRef,
        src: FieldRef,
    },
    /// `a <-> b;`
    Exchange {
        a: FieldRef,
        b: FieldRef,
    },
    /// `ip.ttl--;`
    DecTtl,
    /// `next;`, `next(N);`, `next(pipeline=egress, table=N);`
    Next {
        pipeline: Option<Pipeline>,
        table: Option<u8>,
    },
    /// `output;`
    Output,
    /// `push(field);` / `pop(field);`
    Push(FieldRef),
    Pop(FieldRef),
    /// `<kind> { ... };` See [`NestedKind`] (includes `clone {}` and `ct_commit {}`).
    /// `ct_commit;` without a block is `Nested { kind: CtCommit, actions: [] }`.
    Nested {
        kind: NestedKind,
        actions: Vec<Action>,
    },
    /// `ct_commit(ct_mark=V[/M], ct_label=V[/M]);` (the old form).
    CtCommitV1 {
        mark: Option<(u32, u32)>,
        label: Option<(u128, u128)>,
    },
    /// `ct_next;`: send through conntrack, continue at the next table.
    CtNext,
    /// `ct_dnat;`, `ct_snat(ip);`, `ct_snat(ip, lo-hi);` ... With no address: un-NAT an
    /// existing connection. `ports` is `(lo, hi)`; `hi` 0 means a single port.
    CtNat {
        kind: CtNatKind,
        ip: Option<IpAddr>,
        ports: Option<(u16, u16)>,
    },
    /// `ct_commit_nat;`: commit and apply the connection's NAT (related traffic).
    CtCommitNat,
    /// `ct_lb;`/`ct_lb_mark;` (no backends: follow the existing connection) or
    /// `ct_lb_mark(backends=a:p,b:p; hash_fields="..."; skip_snat);`
    CtLb {
        mark: bool,
        backends: Vec<LbBackend>,
        hash_fields: Option<String>,
        flag: Option<CtLbFlag>,
    },
    /// `ct_clear;`
    CtClear,
    /// `ct_snat_to_vip;`
    CtSnatToVip,
    /// `get_arp(port, ip);` / `get_nd(port, ip);`: eth.dst from the MAC binding table.
    GetMacBind {
        kind: MacBind,
        port: FieldRef,
        ip: FieldRef,
    },
    /// `put_arp(port, ip, mac);` / `put_nd(port, ip, mac);`
    PutMacBind {
        kind: MacBind,
        port: FieldRef,
        ip: FieldRef,
        mac: FieldRef,
    },
    /// `dst = lookup_arp(port, ip, mac);` / `lookup_nd(...)`; with `mac: None` it is
    /// `lookup_arp_ip(port, ip)` / `lookup_nd_ip(port, ip)`.
    LookupMacBind {
        kind: MacBind,
        dst: FieldRef,
        port: FieldRef,
        ip: FieldRef,
        mac: Option<FieldRef>,
    },
    /// `dst = put_dhcp_opts(...)` (`v6: false`) / `put_dhcpv6_opts(...)` (`v6: true`).
    PutDhcpOpts {
        v6: bool,
        dst: FieldRef,
        options: Vec<GenOpt>,
    },
    /// `dst = put_nd_ra_opts(...)`
    PutNdRaOpts {
        dst: FieldRef,
        options: Vec<GenOpt>,
    },
    /// `dst = dns_lookup();`
    DnsLookup {
        dst: FieldRef,
    },
    /// `dst = check_pkt_larger(len);`
    CheckPktLarger {
        dst: FieldRef,
        len: u32,
    },
    /// `dst = chk_lb_hairpin();`
    ChkLbHairpin {
        dst: FieldRef,
    },
    /// `dst = chk_lb_hairpin_reply();`
    ChkLbHairpinReply {
        dst: FieldRef,
    },
    /// `dst = chk_lb_aff();`
    ChkLbAff {
        dst: FieldRef,
    },
    /// `dst = chk_ecmp_nh_mac();` / `dst = chk_ecmp_nh();`
    ChkEcmpNh {
        dst: FieldRef,
        mac: bool,
    },
    /// `dst = check_in_port_sec();` / `check_out_port_sec()`
    CheckPortSec {
        dst: FieldRef,
        ingress: bool,
    },
    /// `dst = get_fdb(mac);` (dst is usually `outport`)
    GetFdb {
        dst: FieldRef,
        mac: FieldRef,
    },
    /// `put_fdb(port, mac);`
    PutFdb {
        port: FieldRef,
        mac: FieldRef,
    },
    /// `dst = lookup_fdb(port, mac);`
    LookupFdb {
        dst: FieldRef,
        port: FieldRef,
        mac: FieldRef,
    },
    /// `dst = select(id=weight, ...);` (weight defaults to 100)
    Select {
        dst: FieldRef,
        members: Vec<(u16, u16)>,
    },
    /// `commit_lb_aff(vip="ip:port", backend="ip:port", proto=tcp, timeout=N);`
    CommitLbAff {
        vip: String,
        backend: String,
        proto: Option<Proto>,
        timeout: u16,
    },
    /// `commit_ecmp_nh(ipv6=true, proto=tcp);`
    CommitEcmpNh {
        ipv6: bool,
        proto: Proto,
    },
    /// `handle_svc_check(port);`
    HandleSvcCheck {
        port: FieldRef,
    },
    /// `handle_dhcpv6_reply;`
    HandleDhcpv6Reply,
    /// `handle_bfd_msg();`
    HandleBfdMsg,
    /// `bind_vport("vport", parent_port_field);`
    BindVport {
        vport: String,
        parent: FieldRef,
    },
    /// `trigger_event(event = "name", opt = value, ...);`
    TriggerEvent {
        event: String,
        options: Vec<GenOpt>,
    },
    /// `log(verdict=allow, name="...", severity=info, meter="...");`
    Log {
        verdict: LogVerdict,
        name: Option<String>,
        severity: Option<String>,
        meter: Option<String>,
    },
    /// `set_queue(id);`
    SetQueue(u16),
    /// `set_meter(rate[, burst]);` (kbps)
    SetMeter {
        rate: u64,
        burst: u64,
    },
    /// `igmp;`: hand IGMP to the controller for snooping.
    Igmp,
    /// `mld;` (later OVN releases; accepted for forward compatibility)
    Mld,
    /// `fwd_group(liveness=true, childports="a", "b");`
    FwdGroup {
        liveness: bool,
        child_ports: Vec<String>,
    },
    /// `sample(probability=N, collector_set=N, obs_domain=N, obs_point=N);`
    Sample {
        probability: u16,
        collector_set: u32,
        obs_domain: u8,
        obs_point: u32,
    },
    /// `mac_cache_use;` (later OVN releases)
    MacCacheUse,
    /// `ct_commit_to_zone(dnat|snat);` (later OVN releases)
    CtCommitToZone {
        snat: bool,
    },
}

impl Action {
    /// The nested actions, if this action has any.
    pub fn nested(&self) -> &[Action] {
        match self {
            Action::Nested { actions, .. } => actions,
            _ => &[],
        }
    }
}

/// A helper for building constants in tests and tools.
pub fn int_value(value: u128, format: crate::lexer::IntFormat) -> Value {
    Value::Int(Int {
        value,
        mask: None,
        format,
    })
}
