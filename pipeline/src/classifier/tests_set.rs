//! Classifier sets and the key-comparison search: members answer as separate
//! classifiers, and few or many keys unwildcard the same stages.

use super::tests::{add, flow, mask, random_packet, random_rules, Rng, RuleSet};
use super::*;
use crate::flow::field;

/// The same conjunctions in a fresh builder.
fn rebuild(conjs: &[(u16, Flow, Mask, u32)], tries: bool) -> ClassifierBuilder<u32> {
    let mut b = ClassifierBuilder::new();
    b.prefix_tries(tries);
    for (p, v, m, x) in conjs {
        b.insert(*p, v, m, *x).unwrap();
    }
    b
}

#[test]
fn set_members_answer_as_separate_classifiers() {
    let mut rng = Rng(7);
    let sets: Vec<RuleSet> = (0..6).map(|_| random_rules(&mut rng)).collect();
    let set = ClassifierSet::build(sets.iter().map(|rs| rebuild(&rs.conjs, true)).collect());
    assert_eq!(set.len(), sets.len());
    assert!(set.member(sets.len()).is_none());
    for _ in 0..500 {
        let p = random_packet(&mut rng);
        for (i, rs) in sets.iter().enumerate() {
            let m = set.member(i).unwrap();
            assert_eq!(m.len(), rs.cls.len());
            assert_eq!(m.n_subtables(), rs.cls.n_subtables());
            let (mut wa, mut wb) = (Mask::default(), Mask::default());
            let (mut after_a, mut after_b) = (None, None);
            loop {
                let a = m.lookup_after(&p, &mut wa, after_a);
                let b = rs.cls.lookup_after(&p, &mut wb, after_b);
                assert_eq!(
                    a.map(|h| (h.priority, h.payload)),
                    b.map(|h| (h.priority, h.payload))
                );
                assert_eq!(wa, wb);
                match (a, b) {
                    (Some(a), Some(b)) => (after_a, after_b) = (Some(a.cursor), Some(b.cursor)),
                    _ => break,
                }
            }
            let id = set.member_id(i).unwrap();
            assert_eq!(
                set.member_at(id).lookup(&p, &mut wa),
                rs.cls.lookup(&p, &mut wb)
            );
        }
    }
}

#[test]
fn few_and_many_keys_unwildcard_the_same_stages() {
    // One mask (metadata, L2 and L3 stages), N keys: up to LINEAR_KEYS keys are compared
    // one by one, more are hashed. A miss must unwildcard the same stages either way:
    // the ones up to the first where no key matches the packet's prefix.
    let fields = [field::INPORT, field::ETH_TYPE, field::IP4_SRC];
    for n_keys in [2u64, 3, 6, 7, 12] {
        let mut b = ClassifierBuilder::new();
        b.prefix_tries(false);
        for k in 0..n_keys {
            add(
                &mut b,
                10,
                &[
                    (field::INPORT, k % 3),
                    (field::ETH_TYPE, 0x800 + k % 2),
                    (field::IP4_SRC, k),
                ],
                k as u32,
            );
        }
        let cls = b.build();
        let cases = [
            // No key has inport 9: metadata only.
            ((9, 0x800, 0), mask(&[field::INPORT])),
            // inport 0 exists, eth.type 0x999 does not: metadata and L2.
            ((0, 0x999, 0), mask(&[field::INPORT, field::ETH_TYPE])),
            // Prefix matches key 0 (inport 0, 0x800), address does not: everything.
            ((0, 0x800, 1000), mask(&fields)),
        ];
        for ((i, e, a), want) in cases {
            let p = flow(&[
                (field::INPORT, i),
                (field::ETH_TYPE, e),
                (field::IP4_SRC, a),
            ]);
            let mut wc = Mask::default();
            assert_eq!(cls.lookup(&p, &mut wc), None, "{n_keys} keys");
            assert_eq!(wc, want, "{n_keys} keys, packet {i} {e:#x} {a}");
        }
        let p = flow(&[
            (field::INPORT, 1),
            (field::ETH_TYPE, 0x801),
            (field::IP4_SRC, 1),
        ]);
        let mut wc = Mask::default();
        assert_eq!(cls.lookup(&p, &mut wc), Some((10, 1)), "{n_keys} keys");
        assert_eq!(wc, mask(&fields));
    }
}
