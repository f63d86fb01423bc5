//! Datapath actions: what the executor tells the datapath to do with one packet.
//!
//! The list is applied in order to a working copy of the packet's [`Flow`]:
//! - [`DpAction::Set`] writes `value` into the bits `mask` of word `word` (header rewrites
//!   and logical metadata alike; the datapath writes header words back into the packet and
//!   keeps metadata words for a recirculation). The executor emits the pending writes just
//!   before each action that observes the packet (output, tunnel, conntrack, controller,
//!   generate), so every `Set` value depends only on bits recorded in the megaflow mask.
//! - [`DpAction::Clone`] runs its list on a copy; the outer list continues unchanged.
//! - [`DpAction::Ct`] with `recirc_id: Some(id)` ends its list: the datapath runs conntrack
//!   on the (rewritten) packet, fills `ct_state`/`ct_zone`/`ct_mark`/`ct_label`, sets
//!   `recirc_id` = `id` and runs the executor again with that flow. Without `recirc_id`
//!   (`ct_commit`) it only commits and the list continues.
//!
//! Recirculation ids encode where to resume: see [`RecircId`].

use crate::actions::{MacBind, Pipeline};
use crate::flow::Flow;
use std::net::IpAddr;

/// Where a recirculated packet resumes: `datapath key << 8 | egress << 7 | table`.
/// Datapath keys are at most 24 bits and OVN tables fewer than 128, so this is exact;
/// 0 means "not recirculated" (the datapath key is never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecircId {
    pub dp_key: u32,
    pub pipeline: Pipeline,
    pub table: u8,
}

impl RecircId {
    /// The 32-bit encoding. `None` if the key or table does not fit.
    pub fn encode(self) -> Option<u32> {
        if self.dp_key == 0 || self.dp_key > 0xff_ffff || self.table > 127 {
            return None;
        }
        let p = u32::from(self.pipeline == Pipeline::Egress);
        Some(self.dp_key << 8 | p << 7 | u32::from(self.table))
    }
    /// Decodes a non-zero recirculation id.
    pub fn decode(id: u32) -> Option<RecircId> {
        if id >> 8 == 0 {
            return None;
        }
        Some(RecircId {
            dp_key: id >> 8,
            pipeline: if id & 0x80 != 0 {
                Pipeline::Egress
            } else {
                Pipeline::Ingress
            },
            table: (id & 0x7f) as u8,
        })
    }
}

/// NAT requested from conntrack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nat {
    /// `ct(nat)`: apply the NAT of an existing connection (un-NAT).
    Existing,
    /// Destination NAT to `ip` (and port range), on commit.
    Dnat {
        ip: IpAddr,
        ports: Option<(u16, u16)>,
    },
    /// Source NAT.
    Snat {
        ip: IpAddr,
        ports: Option<(u16, u16)>,
    },
    /// Load balancing: pick one backend (hash of `hash_fields`, default 5-tuple).
    Lb {
        backends: Vec<(IpAddr, u16)>,
        hash_fields: Option<String>,
    },
}

/// The packets the pipeline makes (OVN builds them in pinctrl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenKind {
    /// ARP request from an IPv4 packet (`arp {}`).
    ArpRequest,
    /// IPv6 neighbour solicitation (`nd_ns {}`).
    NdNs,
    /// Neighbour advertisement (`nd_na {}`), `router` for `nd_na_router {}`.
    NdNa { router: bool },
    /// ICMPv4 error quoting the packet (`icmp4 {}`, `icmp4_error {}`).
    Icmp4Error,
    /// ICMPv6 error (`icmp6 {}`, `icmp6_error {}`).
    Icmp6Error,
    /// TCP RST (`tcp_reset {}`).
    TcpReset,
    /// SCTP ABORT (`sctp_abort {}`).
    SctpAbort,
}

/// Work for the control thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerOp {
    /// Learn a MAC binding (`put_arp`, `put_nd`).
    PutMacBinding {
        kind: MacBind,
        port_key: u32,
        ip: IpAddr,
        mac: u64,
    },
    /// Learn an FDB entry (`put_fdb`).
    PutFdb { port_key: u32, mac: u64 },
    /// `bind_vport`: claim a virtual port.
    BindVport { vport: String, parent_key: u32 },
    /// An action the control thread carries out on the packet itself and then resumes
    /// the pipeline (`put_dhcp_opts`, `dns_lookup`, `put_nd_ra_opts`, `handle_svc_check`,
    /// `igmp`, ...): `flow` indexes [`crate::compile::Compiled::flows`], `action` is the
    /// position of the action in that flow's top-level action list.
    Paused { flow: u32, action: u16 },
    /// Event-only actions (`trigger_event`, `log`, `sample`): recorded, packet continues.
    Event { flow: u32, action: u16 },
}

/// Why the pipeline dropped a packet (or one copy of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No flow matched in a table (OVN: implicit drop).
    NoMatch,
    /// An explicit `drop;`.
    Explicit,
    /// Actions ended without `next` or `output`.
    EndOfActions,
    /// `output` back to the inport without `flags.loopback`.
    Loopback,
    /// `outport` names no known port or group.
    UnknownOutport,
    /// Too many tables or patch-port hops (OVN caps resubmits).
    TooManyResubmits,
    /// `next` beyond the last table or into an unknown datapath.
    BadTable,
    /// A port type this executor does not forward to.
    UnsupportedPort,
    /// A recirculated packet whose recirculation id names no table.
    BadRecircId,
    /// `ip.ttl--` on a packet whose TTL is 0 or 1.
    TtlExpired,
    /// `outport` is bound to no chassis.
    Unbound,
    /// A multicast group with no member to send to (other than the inport).
    EmptyMulticast,
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpAction {
    /// Write `value & mask` into word `word` of the working flow.
    Set { word: u8, value: u64, mask: u64 },
    /// Send to a port bound on this chassis (logical port key and datapath key; the
    /// datapath maps them to its own port). `localnet` ports are output the same way,
    /// with `vlan` the tag to push if any.
    Output {
        dp_key: u32,
        port_key: u32,
        vlan: Option<u16>,
    },
    /// Send to a port bound on another chassis (Geneve: VNI = datapath key, option
    /// carries `in_port_key`/`out_port_key`).
    Tunnel {
        chassis: String,
        dp_key: u32,
        in_port_key: u32,
        out_port_key: u32,
    },
    /// Send through conntrack; see the module note.
    Ct {
        zone: u16,
        commit: bool,
        nat: Option<Nat>,
        /// `(value, mask)` to set in ct_mark on commit.
        mark: Option<(u32, u32)>,
        label: Option<(u128, u128)>,
        recirc_id: Option<u32>,
    },
    /// Clear the conntrack fields (`ct_clear`).
    CtClear,
    /// Apply `actions` to a copy of the packet.
    Clone(Vec<DpAction>),
    /// A new packet built from this one (see [`GenKind`] and
    /// [`crate::exec::generated_flow`]) and then processed by `actions`.
    Generate {
        kind: GenKind,
        actions: Vec<DpAction>,
    },
    /// Hand to the control thread. `resume` (a recirc id) says where the pipeline
    /// continues once the controller is done (`None`: the packet continues here).
    Controller {
        op: ControllerOp,
        resume: Option<u32>,
    },
    /// This copy of the packet goes nowhere.
    Drop(DropReason),
}

impl DpAction {
    /// Applies a list of [`DpAction::Set`]s (only those, at this level) to `flow`.
    pub fn apply_sets(actions: &[DpAction], flow: &mut Flow) {
        for a in actions {
            if let DpAction::Set { word, value, mask } = *a {
                if let Some(w) = flow.w.get_mut(word as usize) {
                    *w = (*w & !mask) | (value & mask);
                }
            }
        }
    }
}
