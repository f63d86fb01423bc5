//! Targeted tests of NAT, limits, sharing between threads and memory per connection.

mod common;
use common::*;
use conntrack::{
    ct_state as S, proto, tcp_flags as F, Config, Conntrack, CtArgs, Nat, NatRange, Refused,
};

const NEW: u8 = S::NEW | S::TRK;
const EST: u8 = S::EST | S::TRK;
const RPL: u8 = S::EST | S::RPL | S::TRK;

fn ct() -> Conntrack {
    Conntrack::new(Config::default())
}

#[test]
fn per_zone_and_global_limits() {
    let ct = Conntrack::new(Config {
        max_connections: 4,
        ..Config::default()
    });
    ct.set_zone_limit(5, Some(2));
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 1, "10.0.0.2", 2), &commit(5), 0)
            .refused,
        None
    );
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 2, "10.0.0.2", 2), &commit(5), 0)
            .refused,
        None
    );
    let r = ct.execute(&udp("10.0.0.1", 3, "10.0.0.2", 2), &commit(5), 0);
    assert_eq!((r.state, r.refused), (NEW, Some(Refused::ZoneFull)));
    assert_eq!(ct.zone_len(5), 2);
    // Established connections in the full zone keep working.
    assert_eq!(
        ct.execute(&udp("10.0.0.2", 2, "10.0.0.1", 1), &lookup(5), 0)
            .state,
        RPL
    );
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 3, "10.0.0.2", 2), &commit(6), 0)
            .refused,
        None
    );
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 4, "10.0.0.2", 2), &commit(6), 0)
            .refused,
        None
    );
    let r = ct.execute(&udp("10.0.0.1", 5, "10.0.0.2", 2), &commit(6), 0);
    assert_eq!(r.refused, Some(Refused::TableFull));
    let st = ct.stats();
    assert_eq!((st.refused_zone, st.refused_full, st.committed), (1, 1, 4));
    assert_eq!(ct.flush(Some(5)), 2);
    assert_eq!(ct.len(), 2);
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 3, "10.0.0.2", 2), &commit(5), 0)
            .refused,
        None
    );
    // When full of dead entries, a commit reclaims room itself.
    let later = 1000 * SEC;
    assert_eq!(
        ct.execute(&udp("10.0.0.1", 9, "10.0.0.2", 2), &commit(7), later)
            .refused,
        None
    );
}

#[test]
fn snat_port_allocation_exhaustion_and_return() {
    let ct = ct();
    let ext = ip("203.0.113.5");
    let nat = Some(Nat::Src(NatRange::addr(ext).with_ports(1000, 1002)));
    let args = CtArgs {
        zone: 2,
        commit: true,
        nat,
        ..Default::default()
    };
    let mut ports = Vec::new();
    for sport in 0..3 {
        let r = ct.execute(
            &tcp("10.0.0.1", 5000 + sport, "8.8.8.8", 443, F::SYN, 1, 0, 0),
            &args,
            0,
        );
        assert_eq!(r.state, NEW | S::SNAT);
        let w = r.nat.expect("rewrite");
        assert_eq!((w.src, w.dst, w.dport), (ext, ip("8.8.8.8"), 443));
        ports.push(w.sport);
    }
    ports.sort();
    assert_eq!(ports, vec![1000, 1001, 1002]);
    assert_eq!(ct.nat_ports_in_use(2, proto::TCP, ext), 3);
    let r = ct.execute(
        &tcp("10.0.0.1", 6000, "8.8.8.8", 443, F::SYN, 1, 0, 0),
        &args,
        0,
    );
    assert_eq!(r.refused, Some(Refused::NatExhausted));
    assert_eq!(ct.stats().nat_exhausted, 1);
    // The reply comes to the translated address and is translated back.
    let p = ports[0];
    let reply = tcp("8.8.8.8", 443, "203.0.113.5", p, F::SYN | F::ACK, 9, 2, 0);
    let r = ct.execute(
        &reply,
        &CtArgs {
            zone: 2,
            nat: Some(Nat::Existing),
            ..Default::default()
        },
        0,
    );
    assert_eq!(r.state, RPL | S::SNAT);
    let w = r.nat.unwrap();
    assert_eq!(
        (w.src, w.sport, w.dst),
        (ip("8.8.8.8"), 443, ip("10.0.0.1"))
    );
    // Without nat in the action, no rewrite is returned.
    assert_eq!(ct.execute(&reply, &lookup(2), 0).nat, None);
    // Flushing gives the ports back.
    assert_eq!(ct.flush(Some(2)), 3);
    assert_eq!(ct.nat_ports_in_use(2, proto::TCP, ext), 0);
    assert_eq!(
        ct.execute(
            &tcp("10.0.0.1", 6000, "8.8.8.8", 443, F::SYN, 1, 0, 0),
            &args,
            0
        )
        .refused,
        None
    );
}

#[test]
fn snat_keeps_port_then_falls_back() {
    let ct = ct();
    let ext = ip("203.0.113.9");
    let args = CtArgs {
        zone: 0,
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ext))),
        ..Default::default()
    };
    let r1 = ct.execute(&udp("10.0.0.1", 7777, "1.1.1.1", 53), &args, 0);
    assert_eq!(r1.nat.unwrap().sport, 7777);
    // Another inside host, same source port, same server: the port must change.
    let r2 = ct.execute(&udp("10.0.0.2", 7777, "1.1.1.1", 53), &args, 0);
    let w = r2.nat.unwrap();
    assert_eq!(w.src, ext);
    assert_ne!(w.sport, 7777);
    assert!(w.sport >= 1024);
    assert_eq!(
        ct.execute(
            &udp("1.1.1.1", 53, "203.0.113.9", w.sport),
            &CtArgs {
                nat: Some(Nat::Existing),
                ..lookup(0)
            },
            0
        )
        .nat
        .unwrap()
        .dst,
        ip("10.0.0.2")
    );
}

#[test]
fn snat_moves_a_colliding_echo_identifier() {
    let ct = ct();
    let ext = ip("203.0.113.9");
    let args = CtArgs {
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ext))),
        ..Default::default()
    };
    let unnat = CtArgs {
        nat: Some(Nat::Existing),
        ..lookup(0)
    };
    // Two inside hosts ping one server with the same identifier.
    let r1 = ct.execute(&echo("10.0.0.1", "1.1.1.1", 7, false), &args, 0);
    assert_eq!(r1.state, NEW | S::SNAT);
    assert_eq!((r1.nat.unwrap().src, r1.nat.unwrap().sport), (ext, 7));
    let r2 = ct.execute(&echo("10.0.0.2", "1.1.1.1", 7, false), &args, 0);
    assert_eq!(r2.state, NEW | S::SNAT, "{r2:?}");
    let w = r2.nat.unwrap();
    assert_eq!(w.src, ext);
    assert_ne!(w.sport, 7, "the identifier must move");
    assert_eq!(ct.nat_ports_in_use(0, proto::ICMP, ext), 1);
    // Replies find their own pinger, identifier translated back.
    let back = ct.execute(&echo("1.1.1.1", "203.0.113.9", w.sport, true), &unnat, 1);
    assert_eq!(back.state, RPL | S::SNAT);
    let b = back.nat.unwrap();
    assert_eq!((b.dst, b.sport), (ip("10.0.0.2"), 7));
    let back = ct.execute(&echo("1.1.1.1", "203.0.113.9", 7, true), &unnat, 1);
    assert_eq!(back.nat.unwrap().dst, ip("10.0.0.1"));
    // The identifier goes back to its pool with the connection.
    assert_eq!(ct.flush(None), 2);
    assert_eq!(ct.nat_ports_in_use(0, proto::ICMP, ext), 0);
}

#[test]
fn dnat_load_balancer_both_directions() {
    let ct = ct();
    let vip = "172.16.0.10";
    let backend = ip("10.1.0.5");
    let args = CtArgs {
        zone: 9,
        commit: true,
        nat: Some(Nat::Dst(NatRange::addr_port(backend, 8080))),
        ..Default::default()
    };
    let r = ct.execute(&syn("10.0.0.1", 33000, vip, 80, 1), &args, 0);
    assert_eq!(r.state, NEW | S::DNAT);
    let w = r.nat.unwrap();
    assert_eq!(
        (w.src, w.sport, w.dst, w.dport),
        (ip("10.0.0.1"), 33000, backend, 8080)
    );
    let ct_nat = CtArgs {
        zone: 9,
        nat: Some(Nat::Existing),
        ..Default::default()
    };
    let r = ct.execute(
        &tcp(
            "10.1.0.5",
            8080,
            "10.0.0.1",
            33000,
            F::SYN | F::ACK,
            50,
            2,
            0,
        ),
        &ct_nat,
        0,
    );
    assert_eq!(r.state, RPL | S::DNAT);
    let w = r.nat.unwrap();
    assert_eq!(
        (w.src, w.sport, w.dst, w.dport),
        (ip(vip), 80, ip("10.0.0.1"), 33000)
    );
    // Later packets of the original direction get the same translation.
    let r = ct.execute(
        &tcp("10.0.0.1", 33000, vip, 80, F::ACK, 2, 51, 0),
        &ct_nat,
        0,
    );
    assert_eq!((r.state, r.nat.unwrap().dst), (EST | S::DNAT, backend));
    let d = ct.dump(Some(9));
    assert_eq!(d[0].to_string(), "tcp,orig=(src=10.0.0.1,dst=172.16.0.10,sport=33000,dport=80),reply=(src=10.1.0.5,dst=10.0.0.1,sport=8080,dport=33000),zone=9,protoinfo=(state=ESTABLISHED)");
    // A router near the backend reports it unreachable, quoting the translated packet;
    // the error goes back to the client with the quote translated back to the VIP.
    let quoted = tcp("10.0.0.1", 33000, "10.1.0.5", 8080, F::ACK, 2, 51, 0);
    let r = ct.execute(&icmp_error("10.1.0.254", "10.0.0.1", &quoted), &ct_nat, 0);
    assert_eq!(r.state, S::REL | S::RPL | S::TRK | S::DNAT);
    let outer = r.nat.unwrap();
    assert_eq!((outer.src, outer.dst), (ip("10.1.0.254"), ip("10.0.0.1")));
    let inner = r.inner_nat.unwrap();
    assert_eq!(
        (inner.src, inner.sport, inner.dst, inner.dport),
        (ip("10.0.0.1"), 33000, ip(vip), 80)
    );
    // The client reports the VIP's reply unreachable: goes to the backend, quote fixed.
    let quoted = tcp(vip, 80, "10.0.0.1", 33000, F::ACK, 51, 2, 0);
    let r = ct.execute(&icmp_error("10.0.0.1", vip, &quoted), &ct_nat, 0);
    assert_eq!(r.state, S::REL | S::TRK | S::DNAT);
    assert_eq!(r.nat.unwrap().dst, backend);
    let inner = r.inner_nat.unwrap();
    assert_eq!(
        (inner.src, inner.sport, inner.dst, inner.dport),
        (backend, 8080, ip("10.0.0.1"), 33000)
    );
}

#[test]
fn nat_across_shards_resolves_and_cleans_up() {
    let ct = Conntrack::new(Config {
        shards: 256,
        ..Config::default()
    });
    let ext = ip("198.51.100.1");
    let args = CtArgs {
        zone: 1,
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ext).with_ports(20000, 29999))),
        ..Default::default()
    };
    let ct_nat = CtArgs {
        zone: 1,
        nat: Some(Nat::Existing),
        ..Default::default()
    };
    let mut replies = Vec::new();
    for i in 0..500u16 {
        let r = ct.execute(&udp("10.0.0.1", 10000 + i, "9.9.9.9", 53), &args, 0);
        replies.push(r.nat.unwrap().sport);
    }
    for (i, p) in replies.iter().enumerate() {
        let r = ct.execute(&udp("9.9.9.9", 53, "198.51.100.1", *p), &ct_nat, 0);
        assert_eq!(r.state, RPL | S::SNAT);
        assert_eq!(r.nat.unwrap().dport, 10000 + i as u16);
    }
    assert_eq!(ct.flush(None), 500);
    assert_eq!(ct.nat_ports_in_use(1, proto::UDP, ext), 0);
    // No stale references: replies to freed ports are unknown now.
    assert_eq!(
        ct.execute(&udp("9.9.9.9", 53, "198.51.100.1", replies[0]), &ct_nat, 0)
            .state,
        NEW
    );
    let m = ct.memory();
    assert_eq!(m.connections, 0);
}

#[test]
fn shared_between_threads() {
    let ct = std::sync::Arc::new(Conntrack::new(Config::default()));
    let handles: Vec<_> = (0..4u16)
        .map(|t| {
            let ct = ct.clone();
            std::thread::spawn(move || {
                for i in 0..2000u16 {
                    let src = format!("10.{t}.0.1");
                    assert_eq!(
                        ct.execute(&udp(&src, i, "10.9.9.9", 80), &commit(0), 0)
                            .state,
                        NEW
                    );
                    assert_eq!(
                        ct.execute(&udp("10.9.9.9", 80, &src, i), &lookup(0), 0)
                            .state,
                        RPL
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    assert_eq!(ct.len(), 8000);
    assert_eq!(ct.dump(None).len(), 8000);
}

#[test]
fn memory_per_connection() {
    // Few shards so the last, partly filled slab chunk of each shard weighs as little as
    // it does in a 10-million-entry table.
    let ct = Conntrack::new(Config {
        shards: 4,
        ..Config::default()
    });
    let n = 200_000u32;
    for i in 0..n {
        let p = udp(
            "10.0.0.1",
            (i % 60000) as u16,
            &format!("10.{}.{}.2", (i / 60000) % 256, 1),
            53,
        );
        assert_eq!(ct.execute(&p, &commit(0), 0).refused, None);
    }
    let m = ct.memory();
    assert_eq!(m.connections, n as usize);
    let per = m.per_connection();
    println!(
        "entry {} B, slab {} B, index {} B, {} B per connection",
        m.entry_bytes, m.slab_bytes, m.index_bytes, per
    );
    println!(
        "PacketMeta {} B, CtResult {} B",
        std::mem::size_of::<conntrack::PacketMeta>(),
        std::mem::size_of::<conntrack::CtResult>()
    );
    // 10 million connections in 2 GiB.
    assert!(per * 10_000_000 <= 2 << 30, "{per} bytes per connection");
}

#[test]
fn nat_ports_return_on_expiry() {
    let ct = Conntrack::new(Config {
        shards: 8,
        ..Config::default()
    });
    let ext = ip("198.51.100.7");
    let args = CtArgs {
        zone: 4,
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ext).with_ports(5000, 5099))),
        ..Default::default()
    };
    let ports: Vec<u16> = (0..100u16)
        .map(|i| {
            let r = ct.execute(&udp("10.0.0.5", 1000 + i, "9.9.9.9", 53), &args, 0);
            r.nat.expect("translated").sport
        })
        .collect();
    assert_eq!(ct.nat_ports_in_use(4, proto::UDP, ext), 100);
    let r = ct.execute(&udp("10.0.0.5", 2000, "9.9.9.9", 53), &args, 0);
    assert_eq!(r.refused, Some(Refused::NatExhausted));
    // UDP first packet: 60 s. Sweep in small steps until everything is gone.
    let later = 61 * SEC;
    for _ in 0..1000 {
        if ct.is_empty() {
            break;
        }
        assert!(ct.expire(later, 16) <= 16);
    }
    assert!(ct.is_empty());
    assert_eq!(ct.nat_ports_in_use(4, proto::UDP, ext), 0);
    let ct_nat = CtArgs {
        zone: 4,
        nat: Some(Nat::Existing),
        ..Default::default()
    };
    for p in ports {
        let r = ct.execute(&udp("9.9.9.9", 53, "198.51.100.7", p), &ct_nat, later);
        assert_eq!((r.state, r.nat), (NEW, None));
    }
    assert!(ct
        .execute(&udp("10.0.0.5", 2000, "9.9.9.9", 53), &args, later)
        .refused
        .is_none());
}

#[test]
fn ipv6_snat() {
    let ct = ct();
    let ext = ip("2001:db8::100");
    let args = CtArgs {
        zone: 0,
        commit: true,
        nat: Some(Nat::Src(NatRange::addr(ext).with_ports(30000, 30010))),
        ..Default::default()
    };
    let r = ct.execute(&syn("fd00::5", 4444, "2001:db8::1", 443, 1), &args, 0);
    assert_eq!(r.state, NEW | S::SNAT);
    let w = r.nat.unwrap();
    assert_eq!(w.src, ext);
    assert!((30000..=30010).contains(&w.sport));
    let back = tcp(
        "2001:db8::1",
        443,
        "2001:db8::100",
        w.sport,
        F::SYN | F::ACK,
        7,
        2,
        0,
    );
    let r = ct.execute(
        &back,
        &CtArgs {
            nat: Some(Nat::Existing),
            ..lookup(0)
        },
        0,
    );
    assert_eq!(r.state, RPL | S::SNAT);
    assert_eq!(
        (r.nat.unwrap().dst, r.nat.unwrap().dport),
        (ip("fd00::5"), 4444)
    );
}

#[test]
fn reverse_of_a_nat_original_tuple_is_refused() {
    let ct = ct();
    // 10.0.0.1:1000 -> 172.16.0.1:80 is DNATed to a backend.
    let lb = CtArgs {
        zone: 0,
        commit: true,
        nat: Some(Nat::Dst(NatRange::addr_port(ip("10.1.0.9"), 8080))),
        ..Default::default()
    };
    ct.execute(&udp("10.0.0.1", 1000, "172.16.0.1", 80), &lb, 0);
    // A connection opened the other way would reuse the first one's original tuple as
    // its reply tuple: two entries would answer to one tuple.
    let r = ct.execute(&udp("172.16.0.1", 80, "10.0.0.1", 1000), &commit(0), 0);
    assert_eq!(r.refused, Some(Refused::Collision));
    assert_eq!(ct.len(), 1);
    assert_eq!(ct.stats().collisions, 1);
}
