//! A connection entry and the per-protocol state of UDP, ICMP, SCTP and other IP
//! protocols (TCP lives in [`crate::tcp`]).
//!
//! An entry stores the original tuple; the reply tuple is derived (the reverse of the
//! original one, with the NAT address and port put in), so either direction resolves to
//! it. Sizes matter here: an entry is exactly two cache lines (128 bytes, aligned), the
//! first holding the packed tuple (with the flag bits in its spare byte), mark, expiry
//! and the NAT port pool, the second the protocol state, label and NAT address. A NAT
//! port is held as (pool, `nat_port`) and given back when the entry drops, as the
//! [`PortLease`] it came from would.

use crate::config::{Config, Timeouts, NS_PER_SEC};
use crate::nat::{PortLease, PortPool};
use crate::tcp::{TcpConn, TcpUpdate};
use crate::tuple::{proto, Addr, PacketMeta, Tuple};
use std::sync::Arc;

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

/// Flag bits kept in the top byte of the entry's [`Key`].
mod flag {
    /// Low two bits: the [`super::NatKind`].
    pub const NAT: u8 = 0x03;
    pub const SEEN_REPLY: u8 = 0x04;
    /// The reply tuple has its own index entry in this shard (NAT changed it).
    pub const REPLY_LOCAL: u8 = 0x08;
}

/// A tuple packed into five words for a fast compare: source and destination address
/// bytes, then ports, zone and protocol, with the entry's flag bits in the top byte.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key([u64; 5]);

const FLAGS_SHIFT: u32 = 56;

impl Key {
    #[inline]
    pub fn of(t: &Tuple) -> Key {
        let (s0, s1) = t.src.words();
        let (d0, d1) = t.dst.words();
        Key([
            s0,
            s1,
            d0,
            d1,
            u64::from(t.sport)
                | u64::from(t.dport) << 16
                | u64::from(t.zone) << 32
                | u64::from(t.proto) << 48,
        ])
    }

    /// Same tuple, flag bits aside.
    #[inline]
    fn same(&self, o: &Key) -> bool {
        let m = (1u64 << FLAGS_SHIFT) - 1;
        ((self.0[0] ^ o.0[0])
            | (self.0[1] ^ o.0[1])
            | (self.0[2] ^ o.0[2])
            | (self.0[3] ^ o.0[3])
            | ((self.0[4] ^ o.0[4]) & m))
            == 0
    }

    #[inline]
    fn tuple(&self) -> Tuple {
        let w = self.0[4];
        Tuple {
            src: Addr::from_words(self.0[0], self.0[1]),
            dst: Addr::from_words(self.0[2], self.0[3]),
            sport: w as u16,
            dport: (w >> 16) as u16,
            zone: (w >> 32) as u16,
            proto: (w >> 48) as u8,
        }
    }

    #[inline]
    fn flags(&self) -> u8 {
        (self.0[4] >> FLAGS_SHIFT) as u8
    }

    #[inline]
    fn set_flags(&mut self, f: u8) {
        self.0[4] = (self.0[4] & ((1u64 << FLAGS_SHIFT) - 1)) | u64::from(f) << FLAGS_SHIFT;
    }
}

/// One tracked connection: two cache lines, aligned. The first holds what a lookup
/// compares (original tuple and flags) plus mark and expiry; the second the protocol
/// state, label and NAT address. 10 million entries take 1.2 GiB.
#[repr(C, align(64))]
pub(crate) struct Conn {
    key: Key,
    pub mark: u32,
    /// The translated port (see [`Conn::reply`]); unused without NAT.
    pub nat_port: u16,
    /// Shard holding the reply tuple's index entry when it is not this entry's shard.
    pub remote: u16,
    /// Nanosecond timestamp after which the entry is dead.
    pub expires: u64,
    /// The pool `nat_port` was leased from: the port goes back when the entry drops.
    pool: Option<Arc<PortPool>>,
    pub proto: ProtoState,
    pub label: [u64; 2],
    /// The translated address; unused without NAT.
    pub nat_addr: Addr,
}

const _: () = assert!(std::mem::size_of::<Conn>() == 128);
const _: () = assert!(std::mem::size_of::<Option<Conn>>() == 128);

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(p) = self.pool.take() {
            p.release(self.nat_port);
        }
    }
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
    /// A fresh entry for `t`, without NAT, mark or label, not yet refreshed.
    pub fn new(t: Tuple, proto: ProtoState) -> Conn {
        Conn {
            key: Key::of(&t),
            mark: 0,
            nat_port: 0,
            remote: NO_REMOTE,
            expires: 0,
            pool: None,
            proto,
            label: [0, 0],
            nat_addr: Addr::default(),
        }
    }

    /// The original-direction tuple.
    #[inline]
    pub fn orig(&self) -> Tuple {
        self.key.tuple()
    }

    #[inline]
    pub fn zone(&self) -> u16 {
        (self.key.0[4] >> 32) as u16
    }

    #[inline]
    fn set_flag(&mut self, f: u8, on: bool) {
        let v = self.key.flags();
        self.key.set_flags(if on { v | f } else { v & !f });
    }

    #[inline]
    pub fn nat(&self) -> NatKind {
        match self.key.flags() & flag::NAT {
            0 => NatKind::None,
            1 => NatKind::Src,
            _ => NatKind::Dst,
        }
    }

    pub fn set_nat(&mut self, k: NatKind) {
        let v = self.key.flags();
        self.key.set_flags((v & !flag::NAT) | k as u8);
    }

    #[inline]
    pub fn seen_reply(&self) -> bool {
        self.key.flags() & flag::SEEN_REPLY != 0
    }

    /// The reply tuple has its own index entry in this shard.
    #[inline]
    pub fn reply_local(&self) -> bool {
        self.key.flags() & flag::REPLY_LOCAL != 0
    }

    pub fn set_reply_local(&mut self, on: bool) {
        self.set_flag(flag::REPLY_LOCAL, on);
    }

    /// Hold `lease` as this entry's translated port; a port held before goes back.
    pub fn set_lease(&mut self, lease: PortLease) {
        if let Some(p) = self.pool.take() {
            p.release(self.nat_port);
        }
        if let Some((pool, port)) = lease.into_parts() {
            self.nat_port = port;
            self.pool = Some(pool);
        }
    }

    /// Apply a packet travelling in `dir` (0 original, 1 reply) and refresh the expiry.
    #[inline]
    pub fn update(&mut self, dir: usize, pkt: &PacketMeta, cfg: &Config, now: u64) -> Update {
        let u = self.proto.update(dir, pkt, cfg);
        if let Update::Valid { .. } = u {
            if dir == 1 {
                self.set_flag(flag::SEEN_REPLY, true);
            }
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
            self.orig()
        } else {
            self.reply()
        }
    }

    /// The reply tuple: the reverse of the original one with the translated source
    /// (SNAT) or destination (DNAT) put in. Derived, not stored, to keep entries small.
    #[inline]
    pub fn reply(&self) -> Tuple {
        let mut x = self.orig();
        match self.nat() {
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

    /// Which direction tuple `t` (packed: `k`) is of this entry.
    #[inline]
    pub fn direction(&self, t: &Tuple, k: &Key) -> Option<usize> {
        if self.key.same(k) {
            Some(0)
        } else if self.nat() == NatKind::None {
            self.key.same(&Key::of(&t.reverse())).then_some(1)
        } else {
            (self.reply() == *t).then_some(1)
        }
    }
}
