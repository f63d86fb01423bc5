//! A connection entry and the per-protocol state of UDP, ICMP, SCTP and other IP
//! protocols (TCP lives in [`crate::tcp`]).
//!
//! An entry holds both tuples, so either direction resolves to it; the reply tuple is
//! the reverse of the original one unless NAT changed it. Sizes matter here: ten
//! million entries must fit in 2 GiB, so the label is two words (no 16-byte alignment)
//! and flags are bytes.

use crate::config::{Config, Timeouts, NS_PER_SEC};
use crate::nat::PortLease;
use crate::tcp::{TcpConn, TcpUpdate};
use crate::tuple::{proto, Addr, PacketMeta, Tuple};

/// UDP and other connectionless protocols: how much traffic has been seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OtherState {
    First,
    Multiple,
    Bidir,
}

/// SCTP: a coarse association state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SctpState {
    First,
    Established,
    Closed,
}

pub(crate) mod sctp_chunk {
    pub const INIT: u8 = 1;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SctpConn {
    /// Verification tag seen in each direction (0: not yet known).
    vtag: [u32; 2],
    pub state: SctpState,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ProtoState {
    Tcp(TcpConn),
    Other(OtherState),
    /// ICMP echo; the flag says a reply was seen.
    Icmp(bool),
    Sctp(SctpConn),
}

/// Which translation a connection was committed with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum NatKind {
    None,
    Src,
    Dst,
}

pub(crate) const NO_REMOTE: u16 = u16::MAX;

/// One tracked connection. `repr(C)` keeps what a hit touches (flags, mark, original
/// tuple, protocol state, expiry) in the first 96 bytes, NAT details after.
#[repr(C)]
pub(crate) struct Conn {
    pub nat: NatKind,
    pub seen_reply: bool,
    /// The reply tuple has its own index entry in this shard (NAT changed it).
    pub reply_local: bool,
    /// Shard holding the reply tuple's index entry when it is not this entry's shard.
    pub remote: u16,
    /// The translated port (see [`Conn::reply`]); unused without NAT.
    pub nat_port: u16,
    pub mark: u32,
    pub orig: Tuple,
    pub proto: ProtoState,
    /// Nanosecond timestamp after which the entry is dead.
    pub expires: u64,
    pub label: [u64; 2],
    /// The translated address; unused without NAT.
    pub nat_addr: Addr,
    /// The NAT port this connection holds; it goes back to its pool with the entry.
    pub lease: Option<PortLease>,
}

pub(crate) enum Update {
    Valid { new: bool },
    Invalid,
    Reopen,
}

fn is_icmp_echo_request(p: u8, t: u8) -> bool {
    (p == proto::ICMP && t == 8) || (p == proto::ICMPV6 && t == 128)
}
fn is_icmp_echo_reply(p: u8, t: u8) -> bool {
    (p == proto::ICMP && t == 0) || (p == proto::ICMPV6 && t == 129)
}

impl ProtoState {
    /// State for a connection opened by `pkt`, or `None` if `pkt` cannot open one.
    pub fn new(pkt: &PacketMeta, cfg: &Config) -> Option<ProtoState> {
        match pkt.proto {
            proto::TCP => TcpConn::new(pkt, cfg.tcp_liberal).map(ProtoState::Tcp),
            proto::ICMP | proto::ICMPV6 => {
                is_icmp_echo_request(pkt.proto, pkt.icmp_type).then_some(ProtoState::Icmp(false))
            }
            proto::SCTP => match pkt.sctp_chunk {
                sctp_chunk::ABORT | sctp_chunk::SHUTDOWN_COMPLETE => None,
                c => Some(ProtoState::Sctp(SctpConn {
                    vtag: [
                        if c == sctp_chunk::INIT {
                            0
                        } else {
                            pkt.sctp_vtag
                        },
                        0,
                    ],
                    state: SctpState::First,
                })),
            },
            _ => Some(ProtoState::Other(OtherState::First)),
        }
    }

    /// Seconds until expiry in the current state.
    pub fn timeout(&self, t: &Timeouts) -> u32 {
        match self {
            ProtoState::Tcp(c) => c.state().timeout(t),
            ProtoState::Other(OtherState::First) => t.udp_first,
            ProtoState::Other(OtherState::Multiple) => t.udp_single,
            ProtoState::Other(OtherState::Bidir) => t.udp_multiple,
            ProtoState::Icmp(false) => t.icmp_first,
            ProtoState::Icmp(true) => t.icmp_reply,
            ProtoState::Sctp(s) => match s.state {
                SctpState::First => t.sctp_first,
                SctpState::Established => t.sctp_established,
                SctpState::Closed => t.sctp_closed,
            },
        }
    }

    /// Name of the state for dumps (`protoinfo=(state=...)`), TCP and SCTP only.
    pub fn state_name(&self) -> Option<&'static str> {
        match self {
            ProtoState::Tcp(c) => Some(c.state().name()),
            ProtoState::Sctp(s) => Some(match s.state {
                SctpState::First => "COOKIE_WAIT",
                SctpState::Established => "ESTABLISHED",
                SctpState::Closed => "CLOSED",
            }),
            _ => None,
        }
    }

    fn update(&mut self, dir: usize, pkt: &PacketMeta, cfg: &Config) -> Update {
        match self {
            ProtoState::Tcp(c) => match c.update(dir, pkt, cfg.tcp_liberal) {
                TcpUpdate::Valid { new } => Update::Valid { new },
                TcpUpdate::Invalid => Update::Invalid,
                TcpUpdate::Reopen => Update::Reopen,
            },
            ProtoState::Other(s) => {
                if dir == 1 {
                    *s = OtherState::Bidir;
                } else if *s == OtherState::First {
                    *s = OtherState::Multiple;
                }
                Update::Valid { new: false }
            }
            ProtoState::Icmp(replied) => {
                let ok = if dir == 0 {
                    is_icmp_echo_request(pkt.proto, pkt.icmp_type)
                } else {
                    is_icmp_echo_reply(pkt.proto, pkt.icmp_type)
                };
                if !ok {
                    return Update::Invalid;
                }
                *replied |= dir == 1;
                Update::Valid { new: false }
            }
            ProtoState::Sctp(s) => {
                let d = dir & 1;
                let chunk = pkt.sctp_chunk;
                let tag_exempt = matches!(chunk, sctp_chunk::INIT | sctp_chunk::ABORT);
                if s.vtag[d] == 0 && !tag_exempt {
                    s.vtag[d] = pkt.sctp_vtag;
                } else if cfg.sctp_check_vtag && !tag_exempt && s.vtag[d] != pkt.sctp_vtag {
                    return Update::Invalid;
                }
                if s.state == SctpState::Closed && chunk == sctp_chunk::INIT && d == 0 {
                    return Update::Reopen;
                }
                match chunk {
                    sctp_chunk::ABORT | sctp_chunk::SHUTDOWN_COMPLETE => {
                        s.state = SctpState::Closed
                    }
                    _ if d == 1 && s.state == SctpState::First => s.state = SctpState::Established,
                    _ => {}
                }
                Update::Valid { new: false }
            }
        }
    }
}

impl Conn {
    /// Apply a packet travelling in `dir` (0 original, 1 reply) and refresh the expiry.
    pub fn update(&mut self, dir: usize, pkt: &PacketMeta, cfg: &Config, now: u64) -> Update {
        let u = self.proto.update(dir, pkt, cfg);
        if let Update::Valid { .. } = u {
            self.seen_reply |= dir == 1;
            self.refresh(&cfg.timeouts, now);
        }
        u
    }

    pub fn refresh(&mut self, t: &Timeouts, now: u64) {
        self.expires = now.saturating_add(u64::from(self.proto.timeout(t)) * NS_PER_SEC);
    }

    pub fn label(&self) -> u128 {
        (u128::from(self.label[0]) << 64) | u128::from(self.label[1])
    }

    pub fn set_label(&mut self, v: u128) {
        self.label = [(v >> 64) as u64, v as u64];
    }

    /// Tuple of direction `dir`.
    #[inline]
    pub fn tuple(&self, dir: usize) -> Tuple {
        if dir == 0 {
            self.orig
        } else {
            self.reply()
        }
    }

    /// The reply tuple: the reverse of the original one with the translated source
    /// (SNAT) or destination (DNAT) put in. Derived, not stored, to keep entries small.
    #[inline]
    pub fn reply(&self) -> Tuple {
        let mut x = self.orig;
        match self.nat {
            NatKind::None => {}
            NatKind::Src => {
                x.src = self.nat_addr;
                x.sport = self.nat_port;
            }
            NatKind::Dst => {
                x.dst = self.nat_addr;
                x.dport = self.nat_port;
            }
        }
        x.reverse()
    }

    /// Which direction tuple `t` (whose reverse is `rev`) is of this entry.
    #[inline]
    pub fn direction(&self, t: &Tuple, rev: &Tuple) -> Option<usize> {
        if self.orig == *t {
            Some(0)
        } else if self.nat == NatKind::None {
            (self.orig == *rev).then_some(1)
        } else {
            (self.reply() == *t).then_some(1)
        }
    }
}
