//! TCP state tracking with sequence-window checks.
//!
//! Each end of a connection (a [`Peer`]) keeps the lowest sequence number it may still
//! send (`seqlo`), the highest the other end has allowed it to send (`seqhi`), its
//! largest advertised window and its window scale. A segment is in window when its last
//! octet fits under `seqhi`, it starts no more than one window behind `seqlo`, and its
//! acknowledgement is within one window of what the other end sent. This is the scheme
//! of the pf packet filter that OVS's userspace conntrack and Linux follow; this is our
//! own rendering of it.
//!
//! Peer states are ordered, so "at least CLOSING" comparisons mean "has sent a FIN".
//! A reset moves both peers to [`TcpPeerState::Closed`] beyond every other state.

use crate::config::Timeouts;
use crate::tuple::{tcp_flags as F, PacketMeta};

/// State of one end, in increasing order of progress.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
#[repr(u8)]
pub enum TcpPeerState {
    #[default]
    Listen = 0,
    SynSent = 1,
    Established = 2,
    /// Sent a FIN.
    Closing = 3,
    /// Its FIN was acknowledged.
    FinWait2 = 4,
    /// Reset seen.
    Closed = 5,
}

/// Connection state as shown in dumps and used for timeouts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpState {
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Closed,
}

impl TcpState {
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Closed => "CLOSED",
        }
    }
    pub(crate) fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            TcpState::SynSent => t.tcp_syn_sent,
            TcpState::SynRecv => t.tcp_syn_recv,
            TcpState::Established => t.tcp_established,
            TcpState::FinWait | TcpState::CloseWait => t.tcp_fin_wait,
            TcpState::LastAck => t.tcp_last_ack,
            TcpState::TimeWait => t.tcp_time_wait,
            TcpState::Closed => t.tcp_close,
        }
    }
}

const WSCALE_SEEN: u8 = 0x80;
const WSCALE_MASK: u8 = 0x0f;
const MAX_WSCALE: u8 = 14;
/// Slack for acknowledgements: one maximal window plus one segment.
const MAX_ACK_WINDOW: i64 = 65535 + 1500;

/// One end of a TCP connection.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Peer {
    seqlo: u32,
    seqhi: u32,
    max_win: u32,
    wscale: u8,
    pub state: TcpPeerState,
}

/// Both ends: `[0]` is the originator, `[1]` the responder.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct TcpConn {
    pub peer: [Peer; 2],
}

/// What a segment does to a tracked connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpUpdate {
    /// In window, connection moves on; the flag says the handshake has not completed
    /// in this direction yet (a retransmitted SYN), so the packet is still `new`.
    Valid {
        new: bool,
    },
    Invalid,
    /// A SYN on a closed connection: the old entry must go and a new one may start.
    Reopen,
}

#[inline]
fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}
#[inline]
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Flag combinations no TCP ever sends.
pub fn invalid_flags(flags: u16) -> bool {
    if flags & F::SYN != 0 {
        if flags & (F::RST | F::FIN) != 0 {
            return true;
        }
    } else if flags & (F::ACK | F::RST) == 0 {
        return true;
    }
    flags & F::ACK == 0 && flags & (F::FIN | F::PSH | F::URG) != 0
}

fn seg_end(pkt: &PacketMeta) -> u32 {
    let mut end = pkt.tcp_seq.wrapping_add(pkt.payload_len);
    if pkt.tcp_flags & F::SYN != 0 {
        end = end.wrapping_add(1);
    }
    if pkt.tcp_flags & F::FIN != 0 {
        end = end.wrapping_add(1);
    }
    end
}

fn wscale_of(pkt: &PacketMeta) -> u8 {
    match pkt.tcp_wscale {
        Some(w) => WSCALE_SEEN | w.min(MAX_WSCALE),
        None => 0,
    }
}

impl TcpConn {
    /// Start tracking from the first packet. `None` if it cannot open a connection:
    /// only a bare SYN can, unless `liberal` allows picking up a connection mid-stream.
    pub fn new(pkt: &PacketMeta, liberal: bool) -> Option<TcpConn> {
        let flags = pkt.tcp_flags;
        if invalid_flags(flags) {
            return None;
        }
        let syn_only = flags & (F::SYN | F::ACK) == F::SYN;
        if !syn_only && (!liberal || flags & F::RST != 0) {
            return None;
        }
        let mut c = TcpConn::default();
        let src = &mut c.peer[0];
        let end = seg_end(pkt);
        src.seqlo = pkt.tcp_seq;
        src.seqhi = end.wrapping_add(1);
        src.max_win = u32::from(pkt.tcp_win).max(1);
        if syn_only {
            src.wscale = wscale_of(pkt);
            src.state = TcpPeerState::SynSent;
        } else {
            // Picked up mid-stream: both ends are taken as established, windows
            // unknown until each side has spoken.
            src.state = TcpPeerState::Established;
            src.seqlo = end;
            c.peer[1].state = TcpPeerState::Established;
        }
        c.peer[1].seqhi = 1;
        c.peer[1].max_win = 1;
        Some(c)
    }

    pub fn state(&self) -> TcpState {
        let (o, r) = (self.peer[0].state, self.peer[1].state);
        use TcpPeerState as P;
        if o == P::Closed || r == P::Closed {
            TcpState::Closed
        } else if o >= P::FinWait2 && r >= P::FinWait2 {
            TcpState::TimeWait
        } else if o >= P::Closing && r >= P::Closing {
            TcpState::LastAck
        } else if o < P::Established || r < P::Established {
            if r < P::SynSent {
                TcpState::SynSent
            } else {
                TcpState::SynRecv
            }
        } else if o >= P::Closing {
            TcpState::FinWait
        } else if r >= P::Closing {
            TcpState::CloseWait
        } else {
            TcpState::Established
        }
    }

    /// Apply a segment travelling in direction `dir` (0 = original, 1 = reply).
    pub fn update(&mut self, dir: usize, pkt: &PacketMeta, liberal: bool) -> TcpUpdate {
        let flags = pkt.tcp_flags;
        if invalid_flags(flags) {
            return TcpUpdate::Invalid;
        }
        let si = dir & 1;
        let [p0, p1] = &mut self.peer;
        let (src, dst) = if si == 0 { (p0, p1) } else { (p1, p0) };

        if flags & (F::SYN | F::ACK) == F::SYN {
            if src.state >= TcpPeerState::FinWait2 && dst.state >= TcpPeerState::FinWait2 {
                return TcpUpdate::Reopen;
            }
            if src.state <= TcpPeerState::SynSent && si == 0 {
                src.state = TcpPeerState::SynSent;
                return TcpUpdate::Valid { new: true };
            }
        }

        let (mut sws, mut dws) = (0u8, 0u8);
        if src.wscale & WSCALE_SEEN != 0 && dst.wscale & WSCALE_SEEN != 0 {
            sws = src.wscale & WSCALE_MASK;
            dws = dst.wscale & WSCALE_MASK;
        }
        let mut win = u32::from(pkt.tcp_win);
        let mut seq = pkt.tcp_seq;
        let orig_seq = seq;
        let mut end = seg_end(pkt);

        if src.state < TcpPeerState::SynSent {
            // First segment from this end (the SYN-ACK, or a pickup's reply side).
            if flags & F::SYN != 0 && dst.wscale & WSCALE_SEEN != 0 {
                src.wscale = wscale_of(pkt);
                if src.wscale & WSCALE_SEEN != 0 {
                    sws = src.wscale & WSCALE_MASK;
                    dws = dst.wscale & WSCALE_MASK;
                    // A SYN's window is never scaled.
                    win = win.div_ceil(1 << sws);
                } else {
                    dst.max_win <<= dst.wscale & WSCALE_MASK;
                    dst.wscale = 0;
                }
            }
            src.seqlo = seq;
            src.state = TcpPeerState::SynSent;
            let reach = end.wrapping_add((dst.max_win << dws).max(1));
            if src.seqhi == 1 || seq_geq(reach, src.seqhi) {
                src.seqhi = reach;
            }
            if win > src.max_win {
                src.max_win = win;
            }
        }

        let mut ack = pkt.tcp_ack;
        if flags & F::ACK == 0
            || (ack == 0 && flags & (F::ACK | F::RST) == (F::ACK | F::RST))
            || dst.state < TcpPeerState::SynSent
        {
            // Nothing to check the acknowledgement against.
            ack = dst.seqlo;
        }
        if seq == end {
            // No data: only the acknowledgement matters.
            seq = src.seqlo;
            end = seq;
        }

        let ackskew = i64::from(dst.seqlo.wrapping_sub(ack) as i32);
        let back = dst.max_win.checked_shl(u32::from(dws)).unwrap_or(u32::MAX);
        let in_window = seq_geq(src.seqhi, end)
            && seq_geq(seq, src.seqlo.wrapping_sub(back))
            && ackskew >= -MAX_ACK_WINDOW
            && ackskew <= (MAX_ACK_WINDOW << sws)
            && (flags & F::RST == 0
                || orig_seq == src.seqlo
                || orig_seq == src.seqlo.wrapping_add(1)
                || orig_seq.wrapping_add(1) == src.seqlo);
        let loose = !in_window
            && (dst.state < TcpPeerState::SynSent
                || dst.state >= TcpPeerState::FinWait2
                || src.state >= TcpPeerState::FinWait2)
            && seq_geq(src.seqhi.wrapping_add(MAX_ACK_WINDOW as u32), end)
            && seq_geq(seq, src.seqlo.wrapping_sub(MAX_ACK_WINDOW as u32));

        if !(in_window || loose || liberal) {
            return TcpUpdate::Invalid;
        }
        if win > src.max_win {
            src.max_win = win;
        }
        if seq_gt(end, src.seqlo) {
            src.seqlo = end;
        }
        if flags & F::ACK != 0 {
            let reach = ack.wrapping_add((win << sws).max(1));
            if seq_geq(reach, dst.seqhi) {
                dst.seqhi = reach;
            }
        }
        if flags & F::SYN != 0 && src.state < TcpPeerState::SynSent {
            src.state = TcpPeerState::SynSent;
        }
        if flags & F::FIN != 0 && src.state < TcpPeerState::Closing {
            src.state = TcpPeerState::Closing;
        }
        if flags & F::ACK != 0 {
            if dst.state == TcpPeerState::SynSent {
                dst.state = TcpPeerState::Established;
            } else if dst.state == TcpPeerState::Closing {
                dst.state = TcpPeerState::FinWait2;
            }
        }
        if flags & F::RST != 0 {
            src.state = TcpPeerState::Closed;
            dst.state = TcpPeerState::Closed;
        }
        TcpUpdate::Valid { new: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u16, seq: u32, ack: u32, len: u32) -> PacketMeta {
        PacketMeta {
            tcp_flags: flags,
            tcp_seq: seq,
            tcp_ack: ack,
            tcp_win: 65535,
            payload_len: len,
            ..Default::default()
        }
    }

    #[test]
    fn flags() {
        assert!(invalid_flags(F::SYN | F::FIN));
        assert!(invalid_flags(F::SYN | F::RST));
        assert!(invalid_flags(0));
        assert!(invalid_flags(F::FIN));
        assert!(!invalid_flags(F::SYN));
        assert!(!invalid_flags(F::RST));
        assert!(!invalid_flags(F::ACK | F::FIN));
    }

    #[test]
    fn handshake_data_close() {
        let mut c = TcpConn::new(&seg(F::SYN, 100, 0, 0), false).unwrap();
        assert_eq!(c.state(), TcpState::SynSent);
        assert_eq!(
            c.update(1, &seg(F::SYN | F::ACK, 5000, 101, 0), false),
            TcpUpdate::Valid { new: false }
        );
        assert_eq!(c.state(), TcpState::SynRecv);
        assert_eq!(
            c.update(0, &seg(F::ACK, 101, 5001, 0), false),
            TcpUpdate::Valid { new: false }
        );
        assert_eq!(c.state(), TcpState::Established);
        assert!(matches!(
            c.update(0, &seg(F::ACK | F::PSH, 101, 5001, 100), false),
            TcpUpdate::Valid { .. }
        ));
        // Far beyond the window the responder advertised.
        assert_eq!(
            c.update(0, &seg(F::ACK, 101 + 10_000_000, 5001, 100), false),
            TcpUpdate::Invalid
        );
        assert!(matches!(
            c.update(0, &seg(F::ACK | F::FIN, 201, 5001, 0), false),
            TcpUpdate::Valid { .. }
        ));
        assert_eq!(c.state(), TcpState::FinWait);
        assert!(matches!(
            c.update(1, &seg(F::ACK | F::FIN, 5001, 202, 0), false),
            TcpUpdate::Valid { .. }
        ));
        // The first FIN is acked by the second: LAST_ACK until the last ACK.
        assert_eq!(c.state(), TcpState::LastAck);
        assert!(matches!(
            c.update(0, &seg(F::ACK, 202, 5002, 0), false),
            TcpUpdate::Valid { .. }
        ));
        assert_eq!(c.state(), TcpState::TimeWait);
        assert_eq!(
            c.update(0, &seg(F::SYN, 9000, 0, 0), false),
            TcpUpdate::Reopen
        );
    }

    #[test]
    fn rst_closes_and_needs_exact_seq() {
        let mut c = TcpConn::new(&seg(F::SYN, 100, 0, 0), false).unwrap();
        c.update(1, &seg(F::SYN | F::ACK, 5000, 101, 0), false);
        c.update(0, &seg(F::ACK, 101, 5001, 0), false);
        assert_eq!(
            c.update(1, &seg(F::RST, 5000 + 30000, 0, 0), false),
            TcpUpdate::Invalid
        );
        assert!(matches!(
            c.update(1, &seg(F::RST, 5001, 0, 0), false),
            TcpUpdate::Valid { .. }
        ));
        assert_eq!(c.state(), TcpState::Closed);
    }

    fn win(mut p: PacketMeta, w: u16, ws: Option<u8>) -> PacketMeta {
        p.tcp_win = w;
        p.tcp_wscale = ws;
        p
    }

    /// Handshake where the responder advertises a 1000-byte window field, with or
    /// without window scaling (shift 7) on both SYNs; then the originator sends data
    /// 100 kB ahead, which only the scaled window allows.
    fn far_segment_with(ws: Option<u8>) -> TcpUpdate {
        let mut c = TcpConn::new(&win(seg(F::SYN, 100, 0, 0), 1000, ws), false).unwrap();
        c.update(1, &win(seg(F::SYN | F::ACK, 5000, 101, 0), 1000, ws), false);
        c.update(0, &win(seg(F::ACK, 101, 5001, 0), 1000, None), false);
        c.update(1, &win(seg(F::ACK, 5001, 101, 0), 1000, None), false);
        c.update(
            0,
            &win(seg(F::ACK, 101 + 100_000, 5001, 100), 1000, None),
            false,
        )
    }

    #[test]
    fn window_scaling_widens_the_window() {
        assert_eq!(far_segment_with(Some(7)), TcpUpdate::Valid { new: false });
        assert_eq!(far_segment_with(None), TcpUpdate::Invalid);
    }

    #[test]
    fn pickup_only_when_liberal() {
        assert!(TcpConn::new(&seg(F::ACK, 100, 5, 10), false).is_none());
        let c = TcpConn::new(&seg(F::ACK, 100, 5, 10), true).unwrap();
        assert_eq!(c.state(), TcpState::Established);
    }
}
