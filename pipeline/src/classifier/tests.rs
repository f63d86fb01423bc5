//! Classifier tests: priority order, catch-alls, large sets, staged wildcards, candidate
//! iteration, and the megaflow property on random rule sets.

use super::*;
use crate::flow::{field, Field};

pub(super) fn flow(fields: &[(Field, u64)]) -> Flow {
    let mut f = Flow::default();
    for &(fd, v) in fields {
        f.set(fd, v);
    }
    f
}

pub(super) fn mask(fields: &[Field]) -> Mask {
    let mut m = Mask::default();
    for &fd in fields {
        m.add(fd);
    }
    m
}

/// Inserts a rule matching `fields` exactly.
pub(super) fn add(
    b: &mut ClassifierBuilder<u32>,
    priority: u16,
    fields: &[(Field, u64)],
    payload: u32,
) {
    let names: Vec<Field> = fields.iter().map(|&(f, _)| f).collect();
    b.insert(priority, &flow(fields), &mask(&names), payload)
        .unwrap();
}

#[test]
fn empty_classifier_misses_and_reads_nothing() {
    let cls: Classifier<u32> = ClassifierBuilder::new().build();
    let mut wc = Mask::default();
    assert_eq!(cls.lookup(&flow(&[(field::INPORT, 1)]), &mut wc), None);
    assert_eq!(wc, Mask::default());
    assert!(Classifier::<u32>::empty()
        .lookup(&Flow::default(), &mut wc)
        .is_none());
}

#[test]
fn highest_priority_match_wins() {
    let mut b = ClassifierBuilder::new();
    add(&mut b, 50, &[(field::INPORT, 1)], 1);
    add(
        &mut b,
        100,
        &[(field::INPORT, 1), (field::ETH_TYPE, 0x800)],
        2,
    );
    add(&mut b, 90, &[(field::ETH_TYPE, 0x800)], 3);
    add(&mut b, 0, &[], 4);
    let cls = b.build();
    assert_eq!(cls.n_subtables(), 4);
    let mut wc = Mask::default();
    let ip = flow(&[(field::INPORT, 1), (field::ETH_TYPE, 0x800)]);
    assert_eq!(cls.lookup(&ip, &mut wc), Some((100, 2)));
    let arp = flow(&[(field::INPORT, 1), (field::ETH_TYPE, 0x806)]);
    assert_eq!(cls.lookup(&arp, &mut wc), Some((50, 1)));
    let other = flow(&[(field::INPORT, 2), (field::ETH_TYPE, 0x800)]);
    assert_eq!(cls.lookup(&other, &mut wc), Some((90, 3)));
    let nothing = flow(&[(field::INPORT, 2)]);
    assert_eq!(cls.lookup(&nothing, &mut wc), Some((0, 4)));
}

#[test]
fn catch_all_matches_everything_and_stops_the_search() {
    let mut b = ClassifierBuilder::new();
    add(&mut b, 10, &[], 7);
    add(&mut b, 5, &[(field::IP4_SRC, 0x0a00_0001)], 8);
    let cls = b.build();
    let mut wc = Mask::default();
    let p = flow(&[(field::IP4_SRC, 0x0a00_0001)]);
    assert_eq!(cls.lookup(&p, &mut wc), Some((10, 7)));
    // The lower subtable was cut off by priority: nothing was read.
    assert_eq!(wc, Mask::default());
}

#[test]
fn value_bits_outside_the_mask_are_ignored() {
    let mut b = ClassifierBuilder::new();
    let v = flow(&[(field::INPORT, 3), (field::OUTPORT, 9)]);
    b.insert(1, &v, &mask(&[field::INPORT]), 1u32).unwrap();
    let cls = b.build();
    let mut wc = Mask::default();
    assert_eq!(
        cls.lookup(&flow(&[(field::INPORT, 3)]), &mut wc),
        Some((1, 1))
    );
    assert_eq!(wc, mask(&[field::INPORT]));
}

#[test]
fn address_set_is_one_subtable_and_one_probe() {
    let mut b = ClassifierBuilder::new();
    for i in 0..1000u64 {
        add(
            &mut b,
            100,
            &[(field::ETH_TYPE, 0x800), (field::IP4_SRC, 0x0a00_0000 + i)],
            1,
        );
    }
    let cls = b.build();
    assert_eq!(cls.len(), 1000);
    assert_eq!(cls.n_subtables(), 1);
    let mut compares = 0;
    for i in 0..1000u64 {
        let p = flow(&[(field::ETH_TYPE, 0x800), (field::IP4_SRC, 0x0a00_0000 + i)]);
        let (mut wc, mut stats) = (Mask::default(), LookupStats::default());
        let hit = cls.lookup_with_stats(&p, &mut wc, None, &mut stats);
        assert_eq!(hit.map(|h| (h.priority, h.payload)), Some((100, 1)));
        assert_eq!(stats.subtables_probed, 1);
        compares += stats.key_compares;
    }
    // Tags keep probes from comparing keys that merely share a slot.
    assert_eq!(compares, 1000);
    let miss = flow(&[(field::ETH_TYPE, 0x800), (field::IP4_SRC, 0x0b00_0000)]);
    let mut wc = Mask::default();
    assert_eq!(cls.lookup(&miss, &mut wc), None);
}

#[test]
fn staged_lookup_unwildcards_only_the_stages_examined() {
    let mut b = ClassifierBuilder::new();
    add(
        &mut b,
        100,
        &[
            (field::INPORT, 1),
            (field::ETH_TYPE, 0x800),
            (field::IP4_SRC, 5),
        ],
        1,
    );
    let cls = b.build();

    // Wrong port: only the metadata stage was read.
    let mut wc = Mask::default();
    let mut stats = LookupStats::default();
    let p = flow(&[
        (field::INPORT, 2),
        (field::ETH_TYPE, 0x800),
        (field::IP4_SRC, 5),
    ]);
    assert!(cls
        .lookup_with_stats(&p, &mut wc, None, &mut stats)
        .is_none());
    assert_eq!(stats.stage_misses, 1);
    assert_eq!(wc, mask(&[field::INPORT]));

    // Right port, wrong ethertype: metadata and L2.
    let mut wc = Mask::default();
    let p = flow(&[
        (field::INPORT, 1),
        (field::ETH_TYPE, 0x86dd),
        (field::IP4_SRC, 5),
    ]);
    assert!(cls.lookup(&p, &mut wc).is_none());
    assert_eq!(wc, mask(&[field::INPORT, field::ETH_TYPE]));

    // Right port and ethertype, an address far from the rule's: the prefix trie proves the
    // miss from the first address bit alone.
    let mut wc = Mask::default();
    let far = flow(&[
        (field::INPORT, 1),
        (field::ETH_TYPE, 0x800),
        (field::IP4_SRC, 0xc000_0005),
    ]);
    assert!(cls.lookup(&far, &mut wc).is_none());
    let mut expected = Mask::default();
    expected.add_bits(field::IP4_SRC, 0x8000_0000);
    assert_eq!(wc, expected);

    // 5 vs 6 differ in the second-to-last bit: 31 bits read.
    let mut wc = Mask::default();
    let near = flow(&[
        (field::INPORT, 1),
        (field::ETH_TYPE, 0x800),
        (field::IP4_SRC, 6),
    ]);
    assert!(cls.lookup(&near, &mut wc).is_none());
    let mut expected = Mask::default();
    expected.add_bits(field::IP4_SRC, 0xffff_fffe);
    assert_eq!(wc, expected);

    // Without tries, reaching the last stage reads the whole mask.
    let mut b = ClassifierBuilder::new();
    b.prefix_tries(false);
    add(
        &mut b,
        100,
        &[
            (field::INPORT, 1),
            (field::ETH_TYPE, 0x800),
            (field::IP4_SRC, 5),
        ],
        1,
    );
    let mut wc = Mask::default();
    assert!(b.build().lookup(&far, &mut wc).is_none());
    assert_eq!(wc, mask(&[field::INPORT, field::ETH_TYPE, field::IP4_SRC]));
}

#[test]
fn equal_priorities_follow_insertion_order() {
    // Same (mask, value): the first inserted wins.
    let mut b = ClassifierBuilder::new();
    add(&mut b, 10, &[(field::INPORT, 1)], 1);
    add(&mut b, 10, &[(field::INPORT, 1)], 2);
    // Different masks, equal highest priority: the mask inserted first wins.
    add(&mut b, 20, &[(field::OUTPORT, 1)], 3);
    add(&mut b, 20, &[(field::ETH_TYPE, 0x800)], 4);
    let cls = b.build();
    let mut wc = Mask::default();
    assert_eq!(
        cls.lookup(&flow(&[(field::INPORT, 1)]), &mut wc),
        Some((10, 1))
    );
    let both = flow(&[(field::OUTPORT, 1), (field::ETH_TYPE, 0x800)]);
    assert_eq!(cls.lookup(&both, &mut wc), Some((20, 3)));
}

#[test]
fn lookup_after_walks_all_matches_by_descending_priority() {
    let mut b = ClassifierBuilder::new();
    add(&mut b, 30, &[(field::INPORT, 1)], 1);
    add(&mut b, 30, &[(field::INPORT, 1)], 2);
    add(&mut b, 40, &[(field::ETH_TYPE, 0x800)], 3);
    add(&mut b, 30, &[(field::ETH_TYPE, 0x800)], 4);
    add(&mut b, 35, &[(field::INPORT, 2)], 5);
    add(&mut b, 0, &[], 6);
    let cls = b.build();
    let p = flow(&[(field::INPORT, 1), (field::ETH_TYPE, 0x800)]);
    let mut wc = Mask::default();
    let mut seen = Vec::new();
    let mut after = None;
    while let Some(hit) = cls.lookup_after(&p, &mut wc, after) {
        seen.push((hit.priority, hit.payload));
        after = Some(hit.cursor);
    }
    // The ETH_TYPE subtable (max 40) is probed before the INPORT one (max 35).
    assert_eq!(seen, vec![(40, 3), (30, 4), (30, 1), (30, 2), (0, 6)]);
}

/// splitmix64: a small deterministic generator for the randomized tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
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

/// Small-domain fields from every stage (values in the low 3 bits, so that random packets
/// and rules collide often), plus address fields handled by `random_addr`.
const FIELDS: [Field; 6] = [
    field::INPORT,
    field::reg(0),
    field::CT_STATE,
    field::ETH_TYPE,
    field::ARP_SHA,
    field::TP_DST,
];
const DOMAIN: u64 = 8;

/// Address fields: (word, shift, width). Values vary in their first and last 3 bits, so
/// prefix tries branch both near the root and near the leaves.
const ADDRS: [(usize, u32, u32); 3] = [
    (crate::flow::word::IP4, 32, 32),
    (crate::flow::word::IP4, 0, 32),
    (crate::flow::word::IP6_DST, 0, 128),
];

fn put_addr(w: &mut [u64; FLOW_WORDS], (word, shift, width): (usize, u32, u32), v: u128) {
    if width == 32 {
        let m = 0xffff_ffffu64 << shift;
        w[word] = (w[word] & !m) | ((v as u64) << shift & m);
    } else {
        w[word] = (v >> 64) as u64;
        w[word + 1] = v as u64;
    }
}

fn random_addr(rng: &mut Rng, width: u32) -> u128 {
    (u128::from(rng.below(DOMAIN)) << (width - 3)) | u128::from(rng.below(DOMAIN))
}

pub(super) fn random_packet(rng: &mut Rng) -> Flow {
    let mut f = Flow::default();
    for fd in FIELDS {
        f.set(fd, rng.below(DOMAIN));
    }
    for a in ADDRS {
        let v = random_addr(rng, a.2);
        put_addr(&mut f.w, a, v);
    }
    f
}

fn random_mask(rng: &mut Rng) -> Mask {
    let mut m = Mask::default();
    for fd in FIELDS {
        if rng.below(2) == 0 {
            m.add_bits(fd, rng.below(DOMAIN));
        }
    }
    for a in ADDRS {
        let width = a.2;
        let bits = match rng.below(8) {
            0..=3 => continue,
            // Arbitrary bits of the domain: no trie for this subtable.
            4 => random_addr(rng, width),
            _ => {
                let lens: &[u32] = if width == 32 {
                    &[1, 2, 3, 29, 30, 31, 32]
                } else {
                    &[1, 2, 3, 64, 65, 125, 126, 127, 128]
                };
                let len = lens[rng.below(lens.len() as u64) as usize];
                {
                    let full = !0u128 >> (128 - width);
                    full & !full.checked_shr(len).unwrap_or(0)
                }
            }
        };
        put_addr(&mut m.w, a, bits);
    }
    m
}

pub(super) struct RuleSet {
    pub(super) cls: Classifier<u32>,
    /// Every conjunction: (priority, value, mask, payload).
    pub(super) conjs: Vec<(u16, Flow, Mask, u32)>,
}

pub(super) fn random_rules(rng: &mut Rng) -> RuleSet {
    let pool: Vec<Mask> = (0..1 + rng.below(8)).map(|_| random_mask(rng)).collect();
    let mut b = ClassifierBuilder::new();
    let mut conjs = Vec::new();
    for payload in 0..1 + rng.below(40) as u32 {
        let priority = rng.below(6) as u16;
        for _ in 0..1 + rng.below(2) {
            let m = pool[rng.below(pool.len() as u64) as usize];
            let v = random_packet(rng).masked(&m);
            b.insert(priority, &v, &m, payload).unwrap();
            conjs.push((priority, v, m, payload));
        }
    }
    RuleSet {
        cls: b.build(),
        conjs,
    }
}

fn matches(p: &Flow, v: &Flow, m: &Mask) -> bool {
    p.masked(m) == *v
}

/// A packet equal to `p` on the bits of `wc` and random elsewhere.
fn agreeing(rng: &mut Rng, p: &Flow, wc: &Mask) -> Flow {
    let r = random_packet(rng);
    let mut q = Flow::default();
    for i in 0..FLOW_WORDS {
        q.w[i] = (p.w[i] & wc.w[i]) | (r.w[i] & !wc.w[i]);
    }
    q
}

fn all_candidates(cls: &Classifier<u32>, p: &Flow, wc: &mut Mask) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    let mut after = None;
    while let Some(hit) = cls.lookup_after(p, wc, after) {
        out.push((hit.priority, hit.payload));
        after = Some(hit.cursor);
    }
    out
}

#[test]
fn megaflow_wildcards_are_sound_on_random_rule_sets() {
    let (mut checked, mut hits, mut misses) = (0, 0, 0);
    for seed in 0..200 {
        let mut rng = Rng(seed);
        let rs = random_rules(&mut rng);
        for _ in 0..50 {
            let p = random_packet(&mut rng);
            let mut wc = Mask::default();
            let got = rs.cls.lookup(&p, &mut wc);
            match got {
                Some(_) => hits += 1,
                None => misses += 1,
            }

            // Against a linear scan: the best priority, and a payload that matches at it.
            let best = rs
                .conjs
                .iter()
                .filter(|c| matches(&p, &c.1, &c.2))
                .map(|c| c.0)
                .max();
            assert_eq!(got.map(|g| g.0), best, "seed {seed} packet {p:?}");
            if let Some((prio, payload)) = got {
                assert!(rs
                    .conjs
                    .iter()
                    .any(|c| c.0 == prio && c.3 == payload && matches(&p, &c.1, &c.2)));
            }

            // Every packet agreeing on the wildcarded bits gets the same answer.
            for _ in 0..20 {
                let q = agreeing(&mut rng, &p, &wc);
                let mut wc_q = Mask::default();
                assert_eq!(
                    rs.cls.lookup(&q, &mut wc_q),
                    got,
                    "seed {seed}\np {p:?}\nq {q:?}\nwc {wc:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 200 * 50 * 20);
    // The rule sets are dense enough that both outcomes are common.
    assert!(hits > 1000 && misses > 1000, "hits {hits} misses {misses}");
}

#[test]
fn classifier_can_be_shared_between_workers() {
    fn shareable<X: Send + Sync>() {}
    shareable::<Classifier<u32>>();
    let cls = std::sync::Arc::new({
        let mut b = ClassifierBuilder::new();
        add(&mut b, 1, &[(field::INPORT, 4)], 9);
        b.build()
    });
    let c2 = std::sync::Arc::clone(&cls);
    let got =
        std::thread::spawn(move || c2.lookup(&flow(&[(field::INPORT, 4)]), &mut Mask::default()))
            .join()
            .ok()
            .flatten();
    assert_eq!(got, Some((1, 9)));
}

#[test]
fn candidate_sequences_are_complete_ordered_and_sound() {
    for seed in 1000..1150 {
        let mut rng = Rng(seed);
        let rs = random_rules(&mut rng);
        for _ in 0..30 {
            let p = random_packet(&mut rng);
            let mut wc = Mask::default();
            let seq = all_candidates(&rs.cls, &p, &mut wc);

            // Every matching conjunction exactly once, by descending priority.
            let mut expected: Vec<(u16, u32)> = rs
                .conjs
                .iter()
                .filter(|c| matches(&p, &c.1, &c.2))
                .map(|c| (c.0, c.3))
                .collect();
            let mut sorted = seq.clone();
            sorted.sort_unstable();
            expected.sort_unstable();
            assert_eq!(sorted, expected, "seed {seed}");
            assert!(
                seq.windows(2).all(|w| w[0].0 >= w[1].0),
                "seed {seed}: {seq:?}"
            );
            // The first candidate is what `lookup` returns.
            assert_eq!(
                seq.first().copied(),
                rs.cls.lookup(&p, &mut Mask::default())
            );

            for _ in 0..10 {
                let q = agreeing(&mut rng, &p, &wc);
                assert_eq!(
                    all_candidates(&rs.cls, &q, &mut Mask::default()),
                    seq,
                    "seed {seed}"
                );
            }
        }
    }
}

#[test]
fn stage_of_word_covers_the_layout() {
    use crate::flow::word;
    assert_eq!(STAGE_OF_WORD[word::DP_INPORT], 0);
    assert_eq!(STAGE_OF_WORD[word::REGS + 7], 0);
    assert_eq!(STAGE_OF_WORD[word::TUN_ADDR], 0);
    assert_eq!(STAGE_OF_WORD[word::ETH_DST_TYPE], 1);
    assert_eq!(STAGE_OF_WORD[word::IP6_DST + 1], 2);
    assert_eq!(STAGE_OF_WORD[word::ND_TARGET], 2);
    assert_eq!(STAGE_OF_WORD[word::TP], 3);
}

#[test]
fn prefix_tries_are_sound_on_random_prefix_sets() {
    let src = ADDRS[0];
    let mut skipped = 0;
    for seed in 2000..2300 {
        let mut rng = Rng(seed);
        let mut b = ClassifierBuilder::new();
        let mut conjs = Vec::new();
        for payload in 0..1 + rng.below(12) as u32 {
            let len = [1, 2, 3, 4, 29, 30, 31, 32][rng.below(8) as usize];
            let (mut v, mut m) = (Flow::default(), Mask::default());
            put_addr(
                &mut m.w,
                src,
                u128::from(!u32::MAX.checked_shr(len).unwrap_or(0)),
            );
            put_addr(&mut v.w, src, random_addr(&mut rng, 32));
            let v = v.masked(&m);
            let priority = rng.below(4) as u16;
            b.insert(priority, &v, &m, payload).unwrap();
            conjs.push((priority, v, m, payload));
        }
        let cls = b.build();
        for _ in 0..40 {
            let p = random_packet(&mut rng);
            let mut wc = Mask::default();
            let got = cls.lookup(&p, &mut wc);
            if got.is_none() && wc.w[src.0] != 0xffff_ffff_0000_0000 {
                skipped += 1;
            }
            let best = conjs
                .iter()
                .filter(|c| matches(&p, &c.1, &c.2))
                .map(|c| c.0)
                .max();
            assert_eq!(got.map(|g| g.0), best, "seed {seed}");
            for _ in 0..20 {
                let q = agreeing(&mut rng, &p, &wc);
                assert_eq!(cls.lookup(&q, &mut Mask::default()), got, "seed {seed}");
            }
        }
    }
    // The tries did rule subtables out with fewer than 32 bits read.
    assert!(skipped > 100, "{skipped}");
}

#[test]
fn debug_lists_subtables_in_probe_order() {
    let mut b = ClassifierBuilder::new();
    add(&mut b, 5, &[(field::INPORT, 1)], 1);
    add(&mut b, 9, &[(field::IP4_DST, 1)], 2);
    let text = format!("{:?}", b.build());
    assert!(
        text.starts_with("Classifier { 2 rules, 2 subtables, 1 tries }"),
        "{text}"
    );
    let (max9, max5) = (
        text.find("max     9").unwrap_or(usize::MAX),
        text.find("max     5").unwrap_or(0),
    );
    assert!(max9 < max5, "{text}");
}
