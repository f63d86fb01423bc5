//! Targeted tests: one behaviour each, asserting complete `ct` outcomes.

mod common;
use common::*;
use conntrack::{ct_state as S, proto, tcp_flags as F, Config, Conntrack, CtArgs};

const NEW: u8 = S::NEW | S::TRK;
const EST: u8 = S::EST | S::TRK;
const RPL: u8 = S::EST | S::RPL | S::TRK;
const INV: u8 = S::INV | S::TRK;

fn ct() -> Conntrack {
    Conntrack::new(Config::default())
}

/// Client 10.0.0.1:40000 -> server 10.0.0.2:80 through the handshake, in `zone`.
fn handshake(ct: &Conntrack, zone: u16, sport: u16) {
    let c = "10.0.0.1";
    let s = "10.0.0.2";
    assert_eq!(
        ct.execute(&syn(c, sport, s, 80, 1000), &commit(zone), 0)
            .state,
        NEW
    );
    assert_eq!(
        ct.execute(
            &tcp(s, 80, c, sport, F::SYN | F::ACK, 5000, 1001, 0),
            &lookup(zone),
            0
        )
        .state,
        RPL
    );
    assert_eq!(
        ct.execute(
            &tcp(c, sport, s, 80, F::ACK, 1001, 5001, 0),
            &commit(zone),
            0
        )
        .state,
        EST
    );
}

#[test]
fn lookup_without_commit_creates_nothing() {
    let ct = ct();
    let r = ct.execute(&syn("10.0.0.1", 1, "10.0.0.2", 80, 7), &lookup(0), 0);
    assert_eq!(r.state, NEW);
    assert_eq!(r.refused, None);
    assert!(ct.is_empty());
    assert_eq!(
        ct.execute(&syn("10.0.0.1", 1, "10.0.0.2", 80, 7), &lookup(0), 0)
            .state,
        NEW
    );
}

#[test]
fn tcp_handshake_data_close_and_dump() {
    let ct = ct();
    handshake(&ct, 7, 40000);
    assert_eq!(ct.len(), 1);
    let d = ct.dump(Some(7));
    assert_eq!(
        d[0].to_string(),
        "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=80),\
         reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=40000),zone=7,protoinfo=(state=ESTABLISHED)"
    );
    assert!(ct.dump(Some(8)).is_empty());
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    assert_eq!(
        ct.execute(
            &tcp(c, 40000, s, 80, F::ACK | F::PSH, 1001, 5001, 500),
            &lookup(7),
            1
        )
        .state,
        EST
    );
    assert_eq!(
        ct.execute(&tcp(s, 80, c, 40000, F::ACK, 5001, 1501, 0), &lookup(7), 1)
            .state,
        RPL
    );
    assert_eq!(
        ct.execute(
            &tcp(c, 40000, s, 80, F::ACK | F::FIN, 1501, 5001, 0),
            &lookup(7),
            2
        )
        .state,
        EST
    );
    assert_eq!(ct.dump(None)[0].state, Some("FIN_WAIT"));
    assert_eq!(
        ct.execute(
            &tcp(s, 80, c, 40000, F::ACK | F::FIN, 5001, 1502, 0),
            &lookup(7),
            2
        )
        .state,
        RPL
    );
    assert_eq!(ct.dump(None)[0].state, Some("LAST_ACK"));
    assert_eq!(
        ct.execute(&tcp(c, 40000, s, 80, F::ACK, 1502, 5002, 0), &lookup(7), 2)
            .state,
        EST
    );
    assert_eq!(ct.dump(None)[0].state, Some("TIME_WAIT"));
    // TIME_WAIT lasts 30 s by default.
    assert_eq!(ct.expire(2 + 29 * SEC, 1000), 0);
    assert_eq!(ct.expire(2 + 31 * SEC, 1000), 1);
    assert!(ct.is_empty());
}

#[test]
fn syn_sent_and_syn_recv_states() {
    let ct = ct();
    ct.execute(&syn("10.0.0.1", 5, "10.0.0.2", 80, 1), &commit(0), 0);
    assert_eq!(ct.dump(None)[0].state, Some("SYN_SENT"));
    // Retransmitted SYN is still new.
    assert_eq!(
        ct.execute(&syn("10.0.0.1", 5, "10.0.0.2", 80, 1), &commit(0), 0)
            .state,
        NEW
    );
    ct.execute(
        &tcp("10.0.0.2", 80, "10.0.0.1", 5, F::SYN | F::ACK, 99, 2, 0),
        &lookup(0),
        0,
    );
    assert_eq!(ct.dump(None)[0].state, Some("SYN_RECV"));
    // SYN_SENT/SYN_RECV expire after 30 s.
    assert_eq!(ct.expire(31 * SEC, 100), 1);
}

#[test]
fn tcp_invalid_packets() {
    let ct = ct();
    assert_eq!(
        ct.execute(
            &tcp("10.0.0.1", 1, "10.0.0.2", 2, F::SYN | F::FIN, 1, 0, 0),
            &commit(0),
            0
        )
        .state,
        INV
    );
    // A non-SYN cannot open a connection unless the tracker is liberal.
    assert_eq!(
        ct.execute(
            &tcp("10.0.0.1", 1, "10.0.0.2", 2, F::ACK, 1, 1, 10),
            &commit(0),
            0
        )
        .state,
        INV
    );
    assert!(ct.is_empty());
    handshake(&ct, 0, 40000);
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    // Far outside the window, and an RST with a wrong sequence number.
    assert_eq!(
        ct.execute(
            &tcp(c, 40000, s, 80, F::ACK, 1001 + 5_000_000, 5001, 10),
            &lookup(0),
            1
        )
        .state,
        INV
    );
    assert_eq!(
        ct.execute(
            &tcp(s, 80, c, 40000, F::RST, 5001 + 100_000, 0, 0),
            &lookup(0),
            1
        )
        .state,
        INV
    );
    assert_eq!(ct.dump(None)[0].state, Some("ESTABLISHED"));
    assert_eq!(ct.stats().invalid, 4);
    // An exact RST closes.
    assert_eq!(
        ct.execute(&tcp(s, 80, c, 40000, F::RST, 5001, 0, 0), &lookup(0), 1)
            .state,
        RPL
    );
    assert_eq!(ct.dump(None)[0].state, Some("CLOSED"));
}

#[test]
fn liberal_picks_up_mid_stream() {
    let ct = Conntrack::new(Config {
        tcp_liberal: true,
        ..Config::default()
    });
    let r = ct.execute(
        &tcp("10.0.0.1", 1, "10.0.0.2", 2, F::ACK, 100, 1, 10),
        &commit(0),
        0,
    );
    assert_eq!(r.state, NEW);
    assert_eq!(ct.dump(None)[0].state, Some("ESTABLISHED"));
    assert_eq!(
        ct.execute(
            &tcp("10.0.0.2", 2, "10.0.0.1", 1, F::ACK, 1, 110, 0),
            &lookup(0),
            0
        )
        .state,
        RPL
    );
}

#[test]
fn tcp_reopen_after_close() {
    let ct = ct();
    handshake(&ct, 0, 41000);
    let (c, s) = ("10.0.0.1", "10.0.0.2");
    ct.execute(
        &tcp(c, 41000, s, 80, F::ACK | F::FIN, 1001, 5001, 0),
        &lookup(0),
        0,
    );
    ct.execute(
        &tcp(s, 80, c, 41000, F::ACK | F::FIN, 5001, 1002, 0),
        &lookup(0),
        0,
    );
    ct.execute(&tcp(c, 41000, s, 80, F::ACK, 1002, 5002, 0), &lookup(0), 0);
    let r = ct.execute(&syn(c, 41000, s, 80, 777_777), &commit(0).with_mark(3), 1);
    assert_eq!(r.state, NEW);
    assert_eq!(ct.len(), 1);
    assert_eq!(ct.dump(None)[0].state, Some("SYN_SENT"));
    assert_eq!(ct.dump(None)[0].mark, 3);
}

#[test]
fn udp_first_multiple_replied_and_timeouts() {
    let ct = ct();
    let (a, b) = ("10.0.0.1", "10.0.0.9");
    assert_eq!(ct.execute(&udp(a, 53000, b, 53), &commit(1), 0).state, NEW);
    assert_eq!(
        ct.execute(&udp(a, 53000, b, 53), &commit(1), SEC).state,
        NEW
    );
    // Unreplied: expires 60 s after the last packet.
    assert_eq!(
        ct.execute(&udp(a, 53000, b, 53), &lookup(1), 60 * SEC)
            .state,
        NEW
    );
    assert_eq!(
        ct.execute(&udp(b, 53, a, 53000), &lookup(1), 60 * SEC)
            .state,
        RPL
    );
    assert_eq!(
        ct.execute(&udp(a, 53000, b, 53), &lookup(1), 61 * SEC)
            .state,
        EST
    );
    // Replied: 30 s.
    assert_eq!(
        ct.execute(&udp(a, 53000, b, 53), &lookup(1), 92 * SEC)
            .state,
        NEW
    );
    assert!(
        ct.is_empty(),
        "a lookup that meets an expired entry removes it"
    );
    assert_eq!(ct.stats().expired, 1);
}

#[test]
fn icmp_echo_and_direction_checks() {
    let ct = ct();
    assert_eq!(
        ct.execute(&echo("10.0.0.1", "10.0.0.2", 9, false), &commit(0), 0)
            .state,
        NEW
    );
    assert_eq!(
        ct.execute(&echo("10.0.0.2", "10.0.0.1", 9, true), &lookup(0), 0)
            .state,
        RPL
    );
    assert_eq!(
        ct.execute(&echo("10.0.0.1", "10.0.0.2", 9, false), &lookup(0), 0)
            .state,
        EST
    );
    // A request travelling in the reply direction is not part of this exchange.
    assert_eq!(
        ct.execute(&echo("10.0.0.2", "10.0.0.1", 9, false), &lookup(0), 0)
            .state,
        INV
    );
    // A reply that opens nothing.
    assert_eq!(
        ct.execute(&echo("10.0.0.3", "10.0.0.1", 9, true), &commit(0), 0)
            .state,
        INV
    );
    let d = ct.dump(None);
    assert_eq!(d[0].to_string(), "icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=9,type=8,code=0),reply=(src=10.0.0.2,dst=10.0.0.1,id=9,type=0,code=0)");
    // ICMPv6 too.
    assert_eq!(
        ct.execute(&echo("fd00::1", "fd00::2", 4, false), &commit(0), 0)
            .state,
        NEW
    );
    assert_eq!(
        ct.execute(&echo("fd00::2", "fd00::1", 4, true), &lookup(0), 0)
            .state,
        RPL
    );
}

#[test]
fn icmp_errors_relate_to_their_connection() {
    let ct = ct();
    let out = udp("10.0.0.1", 5000, "192.168.1.1", 53);
    ct.execute(&out, &commit(3).with_mark(0x42), 0);
    // A router on the way reports the destination unreachable to the client.
    let r = ct.execute(&icmp_error("10.0.0.254", "10.0.0.1", &out), &lookup(3), 0);
    assert_eq!(r.state, S::REL | S::RPL | S::TRK);
    assert_eq!(r.mark, 0x42);
    // Same error in another zone, or about another flow: invalid.
    assert_eq!(
        ct.execute(&icmp_error("10.0.0.254", "10.0.0.1", &out), &lookup(4), 0)
            .state,
        INV
    );
    let other = udp("10.0.0.1", 5001, "192.168.1.1", 53);
    assert_eq!(
        ct.execute(&icmp_error("10.0.0.254", "10.0.0.1", &other), &lookup(3), 0)
            .state,
        INV
    );
    // Errors about the reply direction travel the original way.
    let back = udp("192.168.1.1", 53, "10.0.0.1", 5000);
    assert_eq!(
        ct.execute(&icmp_error("10.0.0.1", "192.168.1.1", &back), &lookup(3), 0)
            .state,
        S::REL | S::TRK
    );
}

#[test]
fn mark_and_label_set_on_commit_with_masks() {
    let ct = ct();
    let p = udp("10.0.0.1", 1, "10.0.0.2", 2);
    let args = CtArgs {
        zone: 0,
        commit: true,
        mark: Some((0xab, 0x0f)),
        label: Some((1 << 100 | 5, u128::MAX)),
        nat: None,
    };
    let r = ct.execute(&p, &args, 0);
    assert_eq!((r.mark, r.label), (0x0b, 1 << 100 | 5));
    let r = ct.execute(
        &p,
        &CtArgs {
            mark: Some((0x30, 0xf0)),
            label: None,
            ..args
        },
        0,
    );
    assert_eq!((r.mark, r.label), (0x3b, 1 << 100 | 5));
    let r = ct.execute(&udp("10.0.0.2", 2, "10.0.0.1", 1), &lookup(0), 0);
    assert_eq!((r.state, r.mark, r.label), (RPL, 0x3b, 1 << 100 | 5));
    assert!(ct.dump(None)[0]
        .to_string()
        .ends_with(",mark=59,labels=0x10000000000000000000000005"));
}

#[test]
fn expire_is_bounded_per_call() {
    let ct = Conntrack::new(Config {
        shards: 4,
        ..Config::default()
    });
    for i in 0..1000u16 {
        ct.execute(&udp("10.0.0.1", i, "10.0.0.2", 1), &commit(0), 0);
    }
    let later = 61 * SEC;
    let mut calls = 0;
    let mut removed = 0;
    while !ct.is_empty() {
        let n = ct.expire(later, 64);
        assert!(n <= 64);
        removed += n;
        calls += 1;
        assert!(calls < 100, "expiry made no progress");
    }
    assert_eq!(removed, 1000);
    assert!(calls >= 1000 / 64);
    assert_eq!(ct.stats().expired, 1000);
}

#[test]
fn ipv6_and_other_protocols() {
    let ct = ct();
    let r = ct.execute(&syn("fd00::1", 1000, "fd00::2", 22, 5), &commit(0), 0);
    assert_eq!(r.state, NEW);
    assert!(ct.dump(None)[0]
        .to_string()
        .starts_with("tcp6,orig=(src=fd00::1,dst=fd00::2,sport=1000,dport=22)"));
    let gre = conntrack::PacketMeta {
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        proto: 47,
        ..Default::default()
    };
    assert_eq!(ct.execute(&gre, &commit(0), 0).state, NEW);
    let back = conntrack::PacketMeta {
        src: ip("10.0.0.2"),
        dst: ip("10.0.0.1"),
        proto: 47,
        ..Default::default()
    };
    assert_eq!(ct.execute(&back, &lookup(0), 0).state, RPL);
    let frag = conntrack::PacketMeta {
        fragment: true,
        ..gre
    };
    assert_eq!(ct.execute(&frag, &lookup(0), 0).state, INV);
}

#[test]
fn sctp_tracks_vtags() {
    let ct = ct();
    let sctp =
        |src: &str, dst: &str, sp: u16, dp: u16, chunk: u8, vtag: u32| conntrack::PacketMeta {
            src: ip(src),
            dst: ip(dst),
            proto: proto::SCTP,
            sport: sp,
            dport: dp,
            sctp_chunk: chunk,
            sctp_vtag: vtag,
            ..Default::default()
        };
    assert_eq!(
        ct.execute(&sctp("10.0.0.1", "10.0.0.2", 5, 6, 1, 0), &commit(0), 0)
            .state,
        NEW
    );
    assert_eq!(
        ct.execute(&sctp("10.0.0.2", "10.0.0.1", 6, 5, 2, 111), &lookup(0), 0)
            .state,
        RPL
    );
    assert_eq!(
        ct.execute(&sctp("10.0.0.1", "10.0.0.2", 5, 6, 0, 222), &lookup(0), 0)
            .state,
        EST
    );
    assert_eq!(ct.dump(None)[0].state, Some("ESTABLISHED"));
    assert_eq!(
        ct.execute(&sctp("10.0.0.1", "10.0.0.2", 5, 6, 0, 999), &lookup(0), 0)
            .state,
        INV
    );
    assert_eq!(
        ct.execute(&sctp("10.0.0.2", "10.0.0.1", 6, 5, 6, 0), &lookup(0), 0)
            .state,
        RPL
    );
    assert_eq!(ct.dump(None)[0].state, Some("CLOSED"));
}

trait WithMark {
    fn with_mark(self, m: u32) -> Self;
}
impl WithMark for CtArgs {
    fn with_mark(mut self, m: u32) -> Self {
        self.mark = Some((m, u32::MAX));
        self
    }
}

#[test]
fn icmp_error_about_an_echo() {
    let ct = ct();
    let req = echo("10.0.0.1", "10.9.9.9", 77, false);
    ct.execute(&req, &commit(0), 0);
    let r = ct.execute(&icmp_error("10.0.0.254", "10.0.0.1", &req), &lookup(0), 0);
    assert_eq!(r.state, S::REL | S::RPL | S::TRK);
    let other = echo("10.0.0.1", "10.9.9.9", 78, false);
    assert_eq!(
        ct.execute(&icmp_error("10.0.0.254", "10.0.0.1", &other), &lookup(0), 0)
            .state,
        INV
    );
    // An error without a parsable quote is invalid.
    let mut bare = icmp_error("10.0.0.254", "10.0.0.1", &req);
    bare.inner = None;
    assert_eq!(ct.execute(&bare, &lookup(0), 0).state, INV);
}
