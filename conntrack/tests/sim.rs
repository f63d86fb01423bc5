//! Seeded simulation: many TCP, UDP and ICMP conversations interleaved through one
//! tracker on a virtual clock, with retransmits, out-of-window segments, resets and idle
//! gaps long enough to expire entries. A model predicts every packet's ct_state and each
//! connection's state and expiry; any disagreement fails with the seed and step.

mod common;
use common::*;
use conntrack::{ct_state as S, tcp_flags as F, Config, Conntrack, PacketMeta, Timeouts};
use std::collections::HashMap;

const NEW: u8 = S::NEW | S::TRK;
const EST: u8 = S::EST | S::TRK;
const RPL: u8 = S::EST | S::RPL | S::TRK;
const INV: u8 = S::INV | S::TRK;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    /// UDP through source NAT to [`SNAT_ADDR`].
    Snat,
}

const SNAT_ADDR: &str = "203.0.113.1";
const SNAT_PORTS: (u16, u16) = (40000, 40999);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Syn,
    SynAck,
    Ack,
    Data,
    FinServer,
    LastAck,
    Done,
}

struct Conv {
    kind: Kind,
    client: String,
    server: String,
    cport: u16,
    sport: u16,
    zone: u16,
    phase: Phase,
    /// Next sequence number of [client, server].
    next: [u32; 2],
    /// Last acknowledgement each side received from its peer.
    acked: [u32; 2],
    last_len: [u32; 2],
    /// Translated source port of a live SNAT conversation.
    nat_port: u16,
    replied: bool,
    /// Model view: entry exists until `expires`.
    exists: bool,
    expires: u64,
    state: &'static str,
}

struct Sim {
    ct: Conntrack,
    rng: Rng,
    now: u64,
    t: Timeouts,
    convs: Vec<Conv>,
    next_port: u16,
    invalid_sent: u64,
    seed: u64,
    step: usize,
    restarts: usize,
    closed: usize,
    snat_bindings: usize,
}

impl Sim {
    fn new(seed: u64, n: usize) -> Sim {
        let mut rng = Rng(seed);
        let convs = (0..n)
            .map(|i| {
                let kind = match rng.below(5) {
                    0 => Kind::Udp,
                    1 => Kind::Icmp,
                    2 => Kind::Snat,
                    _ => Kind::Tcp,
                };
                Conv {
                    kind,
                    client: format!("10.0.{}.{}", i / 200, i % 200 + 1),
                    server: format!("192.168.{}.1", i % 7),
                    cport: 10000 + i as u16,
                    sport: 80,
                    zone: (i % 3) as u16,
                    phase: Phase::Syn,
                    next: [0, 0],
                    acked: [0, 0],
                    last_len: [0, 0],
                    nat_port: 0,
                    replied: false,
                    exists: false,
                    expires: 0,
                    state: "",
                }
            })
            .collect();
        Sim {
            ct: Conntrack::new(Config {
                shards: 16,
                ..Config::default()
            }),
            rng,
            now: 0,
            t: Timeouts::default(),
            convs,
            next_port: 20000,
            invalid_sent: 0,
            seed,
            step: 0,
            restarts: 0,
            closed: 0,
            snat_bindings: 0,
        }
    }

    fn send(&mut self, i: usize, from_client: bool, pkt: PacketMeta, want: u8) {
        let c = &self.convs[i];
        let args = if from_client {
            commit(c.zone)
        } else {
            lookup(c.zone)
        };
        let got = self.ct.execute(&pkt, &args, self.now).state;
        assert_eq!(
            got, want,
            "seed {} step {} conv {} {:?} phase {:?} from_client {from_client}: got {got:#x} want {want:#x}",
            self.seed, self.step, i, c.kind, c.phase
        );
        if want == INV {
            self.invalid_sent += 1;
        }
    }

    fn live(&self, i: usize) -> bool {
        let c = &self.convs[i];
        c.exists && self.now < c.expires
    }

    fn set(&mut self, i: usize, state: &'static str, secs: u32) {
        let now = self.now;
        let c = &mut self.convs[i];
        c.exists = true;
        c.state = state;
        c.expires = now + u64::from(secs) * SEC;
    }

    /// Start over with a fresh client port.
    fn restart(&mut self, i: usize) {
        self.next_port = self.next_port.wrapping_add(1).max(20000);
        let isn = self.rng.next() as u32;
        self.restarts += 1;
        let c = &mut self.convs[i];
        c.cport = self.next_port;
        c.phase = Phase::Syn;
        c.next = [isn, 0];
        c.acked = [0, 0];
        c.replied = false;
        c.exists = false;
    }

    fn tcp_pkt(&self, i: usize, client: bool, flags: u16, len: u32) -> PacketMeta {
        let c = &self.convs[i];
        let (s, d) = if client { (0, 1) } else { (1, 0) };
        let (src, sp, dst, dp) = if client {
            (&c.client, c.cport, &c.server, c.sport)
        } else {
            (&c.server, c.sport, &c.client, c.cport)
        };
        tcp(
            src,
            sp,
            dst,
            dp,
            flags,
            c.next[s],
            if flags & F::ACK != 0 { c.next[d] } else { 0 },
            len,
        )
    }

    fn tcp_step(&mut self, i: usize) {
        let t = self.t;
        let phase = self.convs[i].phase;
        if phase != Phase::Syn && !self.live(i) {
            if phase != Phase::Done {
                // The entry timed out mid-conversation: the next segment opens nothing.
                let client = self.rng.chance(50);
                let p = self.tcp_pkt(i, client, F::ACK, 10);
                self.send(i, client, p, INV);
            }
            self.restart(i);
            return;
        }
        let want = |client: bool| if client { EST } else { RPL };
        match phase {
            Phase::Syn => {
                let p = self.tcp_pkt(i, true, F::SYN, 0);
                self.send(i, true, p, NEW);
                self.convs[i].next[0] = self.convs[i].next[0].wrapping_add(1);
                self.convs[i].next[1] = self.rng.next() as u32;
                self.convs[i].phase = Phase::SynAck;
                self.set(i, "SYN_SENT", t.tcp_syn_sent);
            }
            Phase::SynAck => {
                if self.rng.chance(10) {
                    // Retransmitted SYN: still new.
                    let mut p = self.tcp_pkt(i, true, F::SYN, 0);
                    p.tcp_seq = p.tcp_seq.wrapping_sub(1);
                    self.send(i, true, p, NEW);
                    self.set(i, "SYN_SENT", t.tcp_syn_sent);
                    return;
                }
                let p = self.tcp_pkt(i, false, F::SYN | F::ACK, 0);
                self.send(i, false, p, RPL);
                let c = &mut self.convs[i];
                c.next[1] = c.next[1].wrapping_add(1);
                c.acked[0] = c.next[0];
                c.phase = Phase::Ack;
                self.set(i, "SYN_RECV", t.tcp_syn_recv);
            }
            Phase::Ack => {
                let p = self.tcp_pkt(i, true, F::ACK, 0);
                self.send(i, true, p, EST);
                let c = &mut self.convs[i];
                c.acked[1] = c.next[1];
                c.phase = Phase::Data;
                self.set(i, "ESTABLISHED", t.tcp_established);
            }
            Phase::Data => {
                let client = self.rng.chance(50);
                let (s, d) = if client { (0, 1) } else { (1, 0) };
                let roll = self.rng.below(100);
                if roll < 8 {
                    // Out of window: invalid, changes nothing.
                    let mut p = self.tcp_pkt(i, client, F::ACK, 100);
                    p.tcp_seq = p.tcp_seq.wrapping_add(5_000_000);
                    self.send(i, client, p, INV);
                } else if roll < 16 && self.convs[i].last_len[s] > 0 {
                    // Retransmit the last segment.
                    let len = self.convs[i].last_len[s];
                    let mut p = self.tcp_pkt(i, client, F::ACK | F::PSH, len);
                    p.tcp_seq = p.tcp_seq.wrapping_sub(len);
                    self.send(i, client, p, want(client));
                    self.set(i, "ESTABLISHED", t.tcp_established);
                } else if roll < 19 {
                    let p = self.tcp_pkt(i, client, F::RST, 0);
                    self.send(i, client, p, want(client));
                    self.convs[i].phase = Phase::Done;
                    self.set(i, "CLOSED", t.tcp_close);
                } else if roll < 23 {
                    let p = self.tcp_pkt(i, true, F::ACK | F::FIN, 0);
                    self.send(i, true, p, EST);
                    let c = &mut self.convs[i];
                    c.next[0] = c.next[0].wrapping_add(1);
                    c.acked[1] = c.next[1];
                    c.phase = Phase::FinServer;
                    self.set(i, "FIN_WAIT", t.tcp_fin_wait);
                } else {
                    let room = self.convs[i].acked[s]
                        .wrapping_add(65535)
                        .wrapping_sub(self.convs[i].next[s]);
                    let len = (1 + self.rng.below(1400) as u32).min(room);
                    let p = self.tcp_pkt(i, client, F::ACK | F::PSH, len);
                    self.send(i, client, p, want(client));
                    let c = &mut self.convs[i];
                    c.next[s] = c.next[s].wrapping_add(len);
                    c.last_len[s] = len;
                    c.acked[d] = c.next[d];
                    self.set(i, "ESTABLISHED", t.tcp_established);
                }
            }
            Phase::FinServer => {
                let p = self.tcp_pkt(i, false, F::ACK | F::FIN, 0);
                self.send(i, false, p, RPL);
                let c = &mut self.convs[i];
                c.next[1] = c.next[1].wrapping_add(1);
                c.phase = Phase::LastAck;
                self.set(i, "LAST_ACK", t.tcp_last_ack);
            }
            Phase::LastAck => {
                let p = self.tcp_pkt(i, true, F::ACK, 0);
                self.send(i, true, p, EST);
                self.closed += 1;
                self.convs[i].phase = Phase::Done;
                self.set(i, "TIME_WAIT", t.tcp_time_wait);
            }
            Phase::Done => {}
        }
    }

    fn dgram_step(&mut self, i: usize) {
        let t = self.t;
        let live = self.live(i);
        let client = self.rng.chance(60);
        let c = &self.convs[i];
        let icmp = c.kind == Kind::Icmp;
        let p = match (icmp, client) {
            (false, true) => udp(&c.client, c.cport, &c.server, 53),
            (false, false) => udp(&c.server, 53, &c.client, c.cport),
            (true, true) => echo(&c.client, &c.server, c.cport, false),
            (true, false) => echo(&c.server, &c.client, c.cport, true),
        };
        if !live {
            self.convs[i].exists = false;
            self.convs[i].replied = false;
        }
        if client {
            let replied = live && self.convs[i].replied;
            self.send(i, true, p, if replied { EST } else { NEW });
            let secs = match (icmp, replied) {
                (true, false) => t.icmp_first,
                (true, true) => t.icmp_reply,
                (false, false) => t.udp_first, // udp_single has the same default
                (false, true) => t.udp_multiple,
            };
            self.set(i, "", secs);
        } else if live {
            self.send(i, false, p, RPL);
            self.convs[i].replied = true;
            self.set(i, "", if icmp { t.icmp_reply } else { t.udp_multiple });
        } else {
            // Nothing tracked: an unsolicited UDP packet is new, an echo reply invalid.
            self.send(i, false, p, if icmp { INV } else { NEW });
        }
    }

    fn snat_step(&mut self, i: usize) {
        let t = self.t;
        let live = self.live(i);
        let c = &self.convs[i];
        let zone = c.zone;
        if self.rng.chance(60) {
            let nat =
                conntrack::NatRange::addr(ip(SNAT_ADDR)).with_ports(SNAT_PORTS.0, SNAT_PORTS.1);
            let args = conntrack::CtArgs {
                zone,
                commit: true,
                nat: Some(conntrack::Nat::Src(nat)),
                ..Default::default()
            };
            let p = udp(&c.client, c.cport, &c.server, 53);
            let r = self.ct.execute(&p, &args, self.now);
            let replied = live && c.replied;
            let want = if replied { EST } else { NEW } | S::SNAT;
            let ctx = format!("seed {} step {} conv {i} snat", self.seed, self.step);
            assert_eq!(r.state, want, "{ctx}");
            let w = r.nat.expect("SNAT rewrite");
            assert_eq!(w.src, ip(SNAT_ADDR), "{ctx}");
            assert!((SNAT_PORTS.0..=SNAT_PORTS.1).contains(&w.sport), "{ctx}");
            if live {
                assert_eq!(w.sport, c.nat_port, "{ctx}: translation changed");
            } else {
                // A new binding: no other live conversation of the zone holds the port.
                for (j, o) in self.convs.iter().enumerate() {
                    if j != i && o.kind == Kind::Snat && o.zone == zone && self.live(j) {
                        assert_ne!(o.nat_port, w.sport, "{ctx}: port shared with conv {j}");
                    }
                }
                self.convs[i].replied = false;
                self.snat_bindings += 1;
            }
            self.convs[i].nat_port = w.sport;
            let secs = if replied { t.udp_multiple } else { t.udp_first };
            self.set(i, "", secs);
        } else if live {
            let p = udp(&c.server, 53, SNAT_ADDR, c.nat_port);
            let args = conntrack::CtArgs {
                zone,
                nat: Some(conntrack::Nat::Existing),
                ..Default::default()
            };
            let r = self.ct.execute(&p, &args, self.now);
            assert_eq!(
                r.state,
                RPL | S::SNAT,
                "seed {} step {} conv {i}",
                self.seed,
                self.step
            );
            let w = r.nat.expect("reverse rewrite");
            assert_eq!((w.dst, w.dport), (ip(&c.client), c.cport));
            self.convs[i].replied = true;
            self.set(i, "", t.udp_multiple);
        }
    }

    fn check_dump(&self) {
        let dump = self.ct.dump(None);
        let states: HashMap<(conntrack::Addr, u16, u16), Option<&'static str>> = dump
            .iter()
            .map(|e| ((e.orig.src, e.orig.sport, e.zone), e.state))
            .collect();
        for (i, c) in self.convs.iter().enumerate() {
            if !self.live(i) {
                continue;
            }
            let got = states.get(&(ip(&c.client), c.cport, c.zone));
            let want = if c.kind == Kind::Tcp {
                Some(c.state)
            } else {
                None
            };
            assert_eq!(
                got,
                Some(&want),
                "seed {} step {} conv {i} {:?}",
                self.seed,
                self.step,
                c.kind
            );
        }
    }

    fn run(&mut self, steps: usize) {
        for step in 0..steps {
            self.step = step;
            self.now += self.rng.below(200_000_000);
            if self.rng.chance(1) {
                self.now += (25 + self.rng.below(50)) * SEC;
            }
            let i = self.rng.below(self.convs.len() as u64) as usize;
            match self.convs[i].kind {
                Kind::Tcp => self.tcp_step(i),
                Kind::Snat => self.snat_step(i),
                _ => self.dgram_step(i),
            }
            if step % 97 == 0 {
                self.ct.expire(self.now, 50);
            }
            if step % 1000 == 0 {
                self.check_dump();
            }
        }
        self.check_dump();
        let live = (0..self.convs.len()).filter(|&i| self.live(i)).count();
        assert!(self.ct.len() >= live);
        assert_eq!(
            self.ct.stats().invalid,
            self.invalid_sent,
            "seed {}",
            self.seed
        );
        assert!(self.ct.stats().expired > 0 && self.restarts > 0 && self.closed > 0);
        assert!(self.snat_bindings > 0);
        // Far in the future everything has expired and a full sweep empties the table.
        let end = self.now + 2 * 86400 * SEC;
        for _ in 0..1000 {
            if self.ct.is_empty() {
                break;
            }
            self.ct.expire(end, 10_000);
        }
        assert!(
            self.ct.is_empty(),
            "seed {}: {} left",
            self.seed,
            self.ct.len()
        );
        for zone in 0..3 {
            let left = self
                .ct
                .nat_ports_in_use(zone, conntrack::proto::UDP, ip(SNAT_ADDR));
            assert_eq!(left, 0, "seed {} zone {zone}", self.seed);
        }
    }
}

#[test]
fn seeded_conversations() {
    for seed in [1, 2, 3, 0xdead_beef] {
        let mut sim = Sim::new(seed, 96);
        sim.run(60_000);
        assert!(sim.invalid_sent > 0);
    }
}
