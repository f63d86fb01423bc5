//! Classifier lookup cost, in ns per lookup (criterion reports time per iteration; one
//! iteration is one lookup with a fresh wildcard mask).
//!
//! - `exact_ip_1000/{hit,miss}`: one table of 1,000 `ip4 && ip4.dst == X` rules plus a
//!   priority-0 catch-all: two subtables.
//! - `ls_in_30/mixed`: ~30 masks shaped like OVN `ls_in_*` tables (port security, ACL
//!   conntrack states, load balancer VIPs, ARP/ND responder, DHCP, L2 lookup), 1,000+ rules,
//!   packets drawn from the same address pools so lookups end at every depth.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pipeline::classifier::{Classifier, ClassifierBuilder};
use pipeline::flow::{ct_state, field, Field, Flow, Mask};

const N_PKTS: usize = 1024;

/// splitmix64, for reproducible packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rule(b: &mut ClassifierBuilder<u32>, priority: u16, fields: &[(Field, u64, u64)], payload: u32) {
    let (mut v, mut m) = (Flow::default(), Mask::default());
    for &(f, value, bits) in fields {
        v.set(f, value);
        m.add_bits(f, bits);
    }
    b.insert(priority, &v, &m, payload)
        .expect("bench table fits");
}

const ALL: u64 = u64::MAX;

fn exact_ip_1000(tries: bool) -> Classifier<u32> {
    let mut b = ClassifierBuilder::new();
    b.prefix_tries(tries);
    for i in 0..1000u64 {
        rule(
            &mut b,
            100,
            &[
                (field::ETH_TYPE, 0x800, ALL),
                (field::IP4_DST, 0x0a00_0000 + i, ALL),
            ],
            i as u32,
        );
    }
    rule(&mut b, 0, &[], 1000);
    b.build()
}

fn ip_packets(rng: &mut Rng, base: u64, span: u64) -> Vec<Flow> {
    (0..N_PKTS)
        .map(|_| {
            let mut f = Flow::default();
            f.set(field::ETH_TYPE, 0x800);
            f.set(field::IP4_DST, base + rng.below(span));
            f.set(field::IP4_SRC, rng.next() & 0xffff_ffff);
            f.set(field::TP_DST, rng.below(65536));
            f
        })
        .collect()
}

const PORTS: u64 = 64;
fn mac(i: u64) -> u64 {
    0x0a58_0a00_0000 + i
}
fn ip(i: u64) -> u64 {
    0x0a00_0000 + i
}

/// Masks and rules in the shape of the ls_in_* stages of one logical switch, folded into
/// one table so that one lookup crosses ~30 subtables.
fn ls_in_30(tries: bool) -> Classifier<u32> {
    let mut b = ClassifierBuilder::new();
    b.prefix_tries(tries);
    let mut n = 0u32;
    let mut r = |b: &mut ClassifierBuilder<u32>, prio: u16, fields: &[(Field, u64, u64)]| {
        rule(b, prio, fields, n);
        n += 1;
    };
    let ip4 = (field::ETH_TYPE, 0x800, ALL);
    let tcp = (field::IP_PROTO, 6, ALL);
    let udp = (field::IP_PROTO, 17, ALL);
    let arp = (field::ETH_TYPE, 0x806, ALL);
    let ip6 = (field::ETH_TYPE, 0x86dd, ALL);
    let est = ct_state::TRK | ct_state::EST;
    let st = u64::from(
        ct_state::TRK
            | ct_state::EST
            | ct_state::NEW
            | ct_state::INV
            | ct_state::RPL
            | ct_state::REL,
    );
    // port_sec_l2: vlan present, eth.src multicast, per-port address binding, per-port allow.
    r(&mut b, 120, &[(field::VLAN_TCI, 0x1000, 0x1000)]);
    r(&mut b, 119, &[(field::ETH_SRC, 1 << 40, 1 << 40)]);
    for p in 0..PORTS {
        r(
            &mut b,
            118,
            &[(field::INPORT, p, ALL), (field::ETH_SRC, mac(p), ALL)],
        );
        r(&mut b, 117, &[(field::INPORT, p, ALL)]);
    }
    // port_sec_ip: DHCP discover, bound source IP, drop other IP.
    for p in 0..PORTS {
        r(
            &mut b,
            116,
            &[
                (field::INPORT, p, ALL),
                (field::ETH_SRC, mac(p), ALL),
                ip4,
                (field::IP4_SRC, 0, ALL),
                (field::IP4_DST, 0xffff_ffff, ALL),
                udp,
                (field::TP_SRC, 68, ALL),
                (field::TP_DST, 67, ALL),
            ],
        );
        r(
            &mut b,
            115,
            &[
                (field::INPORT, p, ALL),
                (field::ETH_SRC, mac(p), ALL),
                ip4,
                (field::IP4_SRC, ip(p), ALL),
            ],
        );
        r(
            &mut b,
            114,
            &[(field::INPORT, p, ALL), (field::ETH_SRC, mac(p), ALL), ip4],
        );
        r(
            &mut b,
            113,
            &[(field::INPORT, p, ALL), (field::ETH_SRC, mac(p), ALL), ip6],
        );
    }
    // port_sec_nd: ARP with bound sha/spa.
    for p in 0..PORTS {
        r(
            &mut b,
            112,
            &[
                (field::INPORT, p, ALL),
                arp,
                (field::ARP_SHA, mac(p), ALL),
                (field::IP4_SRC, ip(p), ALL),
            ],
        );
        r(&mut b, 111, &[(field::INPORT, p, ALL), arp]);
    }
    // pre_acl / acl: conntrack states and registers.
    r(&mut b, 110, &[ip4, (field::reg(0), 1, 1)]);
    r(
        &mut b,
        109,
        &[(
            field::CT_STATE,
            u64::from(ct_state::TRK | ct_state::INV),
            u64::from(ct_state::TRK | ct_state::INV),
        )],
    );
    r(&mut b, 108, &[(field::CT_STATE, u64::from(est), st)]);
    r(
        &mut b,
        107,
        &[
            (field::CT_STATE, u64::from(est | ct_state::RPL), st),
            (field::CT_LABEL, 0, 1),
        ],
    );
    r(
        &mut b,
        106,
        &[
            (
                field::CT_STATE,
                u64::from(ct_state::TRK | ct_state::NEW),
                st,
            ),
            ip4,
            tcp,
            (field::TP_DST, 22, ALL),
        ],
    );
    for p in 0..PORTS / 4 {
        r(
            &mut b,
            105,
            &[
                (field::OUTPORT, p, ALL),
                ip4,
                (field::IP4_SRC, 0x0a01_0000 + p, 0xffff_ff00),
            ],
        );
        r(
            &mut b,
            104,
            &[(field::INPORT, p, ALL), ip4, tcp, (field::TP_DST, 80, ALL)],
        );
    }
    // lb: VIP:port pairs.
    for v in 0..32 {
        r(
            &mut b,
            103,
            &[
                (
                    field::CT_STATE,
                    u64::from(ct_state::TRK | ct_state::NEW),
                    st,
                ),
                ip4,
                tcp,
                (field::IP4_DST, 0xac1e_0000 + v, ALL),
                (field::TP_DST, 80, ALL),
            ],
        );
        r(&mut b, 102, &[ip4, (field::IP4_DST, 0xac1e_0000 + v, ALL)]);
    }
    // arp_rsp / nd_rsp: ARP requests for each port's address.
    for p in 0..PORTS {
        r(
            &mut b,
            101,
            &[arp, (field::ARP_OP, 1, ALL), (field::IP4_DST, ip(p), ALL)],
        );
        r(
            &mut b,
            100,
            &[
                (field::INPORT, p, ALL),
                arp,
                (field::ARP_OP, 1, ALL),
                (field::IP4_DST, ip(p), ALL),
            ],
        );
    }
    // dhcp_options / dns_lookup.
    for p in 0..PORTS {
        r(
            &mut b,
            99,
            &[
                (field::INPORT, p, ALL),
                (field::ETH_SRC, mac(p), ALL),
                ip4,
                udp,
                (field::TP_SRC, 68, ALL),
                (field::TP_DST, 67, ALL),
            ],
        );
    }
    r(
        &mut b,
        98,
        &[
            ip4,
            udp,
            (field::TP_DST, 53, ALL),
            (field::reg(0), 0x40, 0x40),
        ],
    );
    r(&mut b, 97, &[(field::IP_FRAG, 1, 1)]);
    r(&mut b, 96, &[(field::FLAGS, 1, 1)]);
    // l2_lkup: multicast, unicast MACs, unknown.
    r(&mut b, 70, &[(field::ETH_DST, 1 << 40, 1 << 40)]);
    for p in 0..PORTS {
        r(&mut b, 50, &[(field::ETH_DST, mac(p), ALL)]);
    }
    r(&mut b, 0, &[]);
    b.build()
}

fn ls_packets(rng: &mut Rng) -> Vec<Flow> {
    (0..N_PKTS)
        .map(|_| {
            let (src, dst) = (rng.below(PORTS + 4), rng.below(PORTS + 4));
            let mut f = Flow::default();
            f.set(field::INPORT, src);
            f.set(field::ETH_SRC, mac(src));
            f.set(field::ETH_DST, mac(dst));
            f.set(field::CT_STATE, u64::from(ct_state::TRK | ct_state::EST));
            match rng.below(10) {
                0 => {
                    f.set(field::ETH_TYPE, 0x806);
                    f.set(field::ARP_OP, 1);
                    f.set(field::ARP_SHA, mac(src));
                    f.set(field::IP4_SRC, ip(src));
                    f.set(field::IP4_DST, ip(dst));
                }
                _ => {
                    f.set(field::ETH_TYPE, 0x800);
                    f.set(field::IP_PROTO, 6);
                    f.set(field::IP4_SRC, ip(src));
                    f.set(
                        field::IP4_DST,
                        if rng.below(4) == 0 {
                            0xac1e_0000 + rng.below(40)
                        } else {
                            ip(dst)
                        },
                    );
                    f.set(field::TP_SRC, 1024 + rng.below(60000));
                    f.set(field::TP_DST, [80, 443, 22, 8080][rng.below(4) as usize]);
                }
            }
            f
        })
        .collect()
}

fn bench_lookups(c: &mut Criterion, group: &str, name: &str, cls: &Classifier<u32>, pkts: &[Flow]) {
    let mut g = c.benchmark_group(group);
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % pkts.len();
            let mut wc = Mask::default();
            let r = cls.lookup(black_box(&pkts[i]), &mut wc);
            black_box((r, wc))
        })
    });
    g.finish();
}

/// Mean number of bits a lookup unwildcards: the smaller, the more packets one megaflow
/// covers.
fn mean_wc_bits(cls: &Classifier<u32>, pkts: &[Flow]) -> f64 {
    let total: u32 = pkts
        .iter()
        .map(|p| {
            let mut wc = Mask::default();
            cls.lookup(p, &mut wc);
            wc.w.iter().map(|w| w.count_ones()).sum::<u32>()
        })
        .sum();
    f64::from(total) / pkts.len() as f64
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(1);
    let hits = ip_packets(&mut rng, 0x0a00_0000, 1000);
    let misses = ip_packets(&mut rng, 0x0b00_0000, 1000);
    let ls_pkts = ls_packets(&mut rng);
    for (tries, suffix) in [(true, ""), (false, "_notrie")] {
        let exact = exact_ip_1000(tries);
        let ls = ls_in_30(tries);
        eprintln!(
            "tries {tries}: exact_ip_1000 wc bits: hit {:.1} miss {:.1}; \
             ls_in_30 ({} rules, {} subtables) wc bits {:.1}",
            mean_wc_bits(&exact, &hits),
            mean_wc_bits(&exact, &misses),
            ls.len(),
            ls.n_subtables(),
            mean_wc_bits(&ls, &ls_pkts),
        );
        bench_lookups(c, "exact_ip_1000", &format!("hit{suffix}"), &exact, &hits);
        bench_lookups(
            c,
            "exact_ip_1000",
            &format!("miss{suffix}"),
            &exact,
            &misses,
        );
        bench_lookups(c, "ls_in_30", &format!("mixed{suffix}"), &ls, &ls_pkts);
    }
}

criterion_group!(classifier, benches);
criterion_main!(classifier);
