//! Megaflow cache tests: wildcard semantics, epochs, eviction, ordering, deletion.

use pipeline::flow::{field, Field, Flow, Mask};

use super::*;

fn flow(dst: u32, sport: u16, in_port: u32) -> Flow {
    let mut f = Flow::default();
    f.set(field::IN_PORT, in_port as u64);
    f.set(field::ETH_TYPE, 0x0800);
    f.set(field::IP4_SRC, 0x0a00_0001);
    f.set(field::IP4_DST, dst as u64);
    f.set(field::IP_PROTO, 17);
    f.set(field::TP_SRC, sport as u64);
    f.set(field::TP_DST, 53);
    f
}

fn mask_of(fields: &[(Field, u64)]) -> Mask {
    let mut m = Mask::default();
    for &(f, bits) in fields {
        m.add_bits(f, bits);
    }
    m
}

#[test]
fn slash24_wildcard() {
    let mut c: MegaflowCache<&str> = MegaflowCache::new(100);
    let m = mask_of(&[(field::ETH_TYPE, 0xffff), (field::IP4_DST, 0xffff_ff00)]);
    c.insert(&flow(0x0a01_0203, 1, 1), &m, "to-net", 1, 0);
    for (dst, sport, port) in [
        (0x0a01_0203, 1, 1),
        (0x0a01_02c8, 999, 7),
        (0x0a01_0200, 0, 0),
        (0x0a01_02ff, 65535, 3),
    ] {
        assert_eq!(
            c.lookup(&flow(dst, sport, port), 1, 1).map(|x| *x.1),
            Some("to-net"),
            "{dst:#x}"
        );
    }
    assert!(c.lookup(&flow(0x0a01_0303, 1, 1), 1, 1).is_none());
    let mut v6 = flow(0x0a01_0203, 1, 1);
    v6.set(field::ETH_TYPE, 0x86dd);
    assert!(c.lookup(&v6, 1, 1).is_none());
    assert_eq!(c.stats().hits, 4);
    assert_eq!(c.stats().misses, 2);
}

#[test]
fn several_subtables_and_replace() {
    let mut c: MegaflowCache<u32> = MegaflowCache::new(100);
    let by_port = mask_of(&[(field::IN_PORT, 0xffff_ffff)]);
    let by_dst = mask_of(&[(field::IP4_DST, 0xffff_ffff), (field::TP_SRC, 0xffff)]);
    c.insert(&flow(1, 1, 5), &by_port, 10, 1, 0);
    c.insert(&flow(2, 7, 6), &by_dst, 20, 1, 0);
    assert_eq!(c.subtable_count(), 2);
    assert_eq!(c.lookup(&flow(99, 99, 5), 1, 0).map(|x| *x.1), Some(10));
    assert_eq!(c.lookup(&flow(2, 7, 9), 1, 0).map(|x| *x.1), Some(20));
    assert!(c.lookup(&flow(2, 8, 9), 1, 0).is_none());
    // Same key and mask: replaced, not duplicated.
    let id = c.insert(&flow(1, 2, 5), &by_port, 11, 1, 0);
    assert_eq!(c.len(), 2);
    assert_eq!(c.stats().replaced, 1);
    assert_eq!(c.get(id, 1, 0), Some(&11));
}

#[test]
fn epochs_are_never_mixed() {
    let mut c: MegaflowCache<u32> = MegaflowCache::new(100);
    let m = mask_of(&[(field::IP4_DST, 0xffff_ffff)]);
    let id = c.insert(&flow(1, 0, 0), &m, 1, 1, 0);
    c.insert(&flow(2, 0, 0), &m, 2, 1, 0);
    c.insert(&flow(3, 0, 0), &m, 3, 1, 0);
    assert_eq!(c.get(id, 1, 0), Some(&1));
    assert_eq!(c.get(id, 2, 0), None, "handle from an old epoch");
    // Epoch 2: a lookup meeting the old entry removes it and misses.
    assert!(c.lookup(&flow(1, 0, 0), 2, 0).is_none());
    assert_eq!((c.len(), c.stats().stale_removed), (2, 1));
    assert_eq!(c.get(id, 1, 0), None, "removed entry's handle is dead");
    // Revalidation keeps entry 2 (changing its action), drops entry 3.
    let (kept, removed) = c.revalidate(2, |_, _, a| {
        *a *= 10;
        *a == 20
    });
    assert_eq!((kept, removed), (1, 1));
    assert_eq!(c.lookup(&flow(2, 0, 0), 2, 0).map(|x| *x.1), Some(20));
    assert!(c.lookup(&flow(3, 0, 0), 2, 0).is_none());
    assert_eq!(c.len(), 1);
}

#[test]
fn eviction_bounds_and_lru() {
    let mut c: MegaflowCache<u32> = MegaflowCache::new(100);
    let m = mask_of(&[(field::IP4_DST, 0xffff_ffff)]);
    c.insert(&flow(0, 0, 0), &m, 0, 1, 0);
    for i in 1..1000u32 {
        // Keep entry 0 hot: used at every step.
        assert!(
            c.lookup(&flow(0, 0, 0), 1, i as u64).is_some(),
            "hot entry evicted at {i}"
        );
        c.insert(&flow(i, 0, 0), &m, i, 1, i as u64);
        assert!(c.len() <= 100);
    }
    assert_eq!(c.len(), 100);
    assert_eq!(c.stats().evicted, 900);
    // Every entry left is still findable (the tables stayed consistent).
    let ids: Vec<_> = c
        .iter()
        .map(|(_, k, _, a, _)| (k.get(field::IP4_DST) as u32, *a))
        .collect();
    for (dst, a) in ids {
        assert_eq!(c.lookup(&flow(dst, 5, 5), 1, 2000).map(|x| *x.1), Some(a));
    }
    assert_eq!(c.expire(3000, 500), 100);
    assert!(c.is_empty());
}

#[test]
fn maintain_resorts_by_hits_and_frees_empty() {
    let mut c: MegaflowCache<u32> = MegaflowCache::new(100);
    let masks = [
        mask_of(&[(field::IN_PORT, 0xffff_ffff)]),
        mask_of(&[(field::IP4_DST, 0xffff_ffff)]),
        mask_of(&[(field::TP_SRC, 0xffff)]),
    ];
    c.insert(&flow(0, 0, 1), &masks[0], 0, 1, 0);
    c.insert(&flow(2, 0, 0), &masks[1], 1, 1, 0);
    let id = c.insert(&flow(0, 3, 0), &masks[2], 2, 1, 0);
    assert_eq!(
        c.subtable_masks().copied().collect::<Vec<_>>(),
        masks.to_vec()
    );
    for _ in 0..10 {
        assert_eq!(c.lookup(&flow(9, 3, 9), 1, 0).map(|x| *x.1), Some(2));
    }
    for _ in 0..5 {
        assert_eq!(c.lookup(&flow(2, 9, 9), 1, 0).map(|x| *x.1), Some(1));
    }
    // Not re-sorted per packet.
    assert_eq!(c.subtable_masks().next(), Some(&masks[0]));
    c.maintain();
    assert_eq!(
        c.subtable_masks().copied().collect::<Vec<_>>(),
        vec![masks[2], masks[1], masks[0]]
    );
    c.remove(id);
    c.maintain();
    assert_eq!(c.subtable_count(), 2);
    // A new mask reuses the freed subtable slot and works.
    c.insert(&flow(0, 4, 0), &masks[2], 4, 1, 0);
    assert_eq!(c.lookup(&flow(7, 4, 7), 1, 0).map(|x| *x.1), Some(4));
}

#[test]
fn random_insert_remove_matches_model() {
    // Many entries in one subtable, removed in pseudo-random order: backward-shift
    // deletion must keep every remaining entry reachable.
    let mut c: MegaflowCache<u32> = MegaflowCache::new(10_000);
    let m = mask_of(&[(field::IP4_DST, 0xffff_ffff)]);
    let mut ids = Vec::new();
    for i in 0..2000u32 {
        ids.push((i, c.insert(&flow(i, 0, 0), &m, i, 1, 0)));
    }
    let mut x = 12345u64;
    let mut live: Vec<bool> = vec![true; 2000];
    for _ in 0..1500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % 2000) as usize;
        let removed = c.remove(ids[k].1);
        assert_eq!(removed.is_some(), live[k]);
        live[k] = false;
    }
    for (i, alive) in live.iter().enumerate() {
        let got = c.lookup(&flow(i as u32, 1, 1), 1, 0).map(|x| *x.1);
        assert_eq!(got, alive.then_some(i as u32), "entry {i}");
    }
    assert_eq!(c.len(), live.iter().filter(|&&l| l).count());
}

#[test]
fn match_all_mask() {
    let mut c: MegaflowCache<u8> = MegaflowCache::new(4);
    c.insert(&flow(1, 1, 1), &Mask::default(), 9, 1, 0);
    assert_eq!(c.lookup(&Flow::default(), 1, 0).map(|x| *x.1), Some(9));
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.subtable_count(), 0);
}

#[test]
fn batch_lookup_agrees_with_single() {
    let mut c: MegaflowCache<u32> = MegaflowCache::new(1000);
    let masks = [
        mask_of(&[(field::IN_PORT, 0xffff_ffff)]),
        mask_of(&[(field::IP4_DST, 0xffff_ff00)]),
        mask_of(&[(field::TP_SRC, 0xffff), (field::IP4_DST, 0xffff_ffff)]),
    ];
    c.insert(&flow(0, 0, 1), &masks[0], 100, 1, 0);
    for i in 0..20u32 {
        c.insert(&flow(i << 8, 0, 0), &masks[1], i, 1, 0);
        c.insert(&flow(0x0900_0000 + i, 7, 0), &masks[2], 1000 + i, 1, 0);
    }
    // One stale entry (epoch 0) that the batch must skip and remove.
    c.insert(&flow(0x0800_0000, 0, 0), &masks[1], 7, 0, 0);
    let flows: Vec<Flow> = (0..64u32)
        .map(|k| match k % 4 {
            0 => flow(0x0700_0000, 0, 1),
            1 => flow(((k % 20) << 8) | 5, 3, 9),
            2 => flow(0x0900_0000 + k % 20, 7, 9),
            _ => flow(0x0800_0001, 0, 9),
        })
        .collect();
    let mut out = [None; MAX_BATCH];
    let hits = c.lookup_batch(&flows, 1, 5, &mut out);
    assert_eq!(c.stats().stale_removed, 1);
    for (k, f) in flows.iter().enumerate() {
        let single = c.lookup(f, 1, 5).map(|x| *x.1);
        let batch = out[k].and_then(|id| c.action(id).copied());
        assert_eq!(batch, single, "flow {k}");
        assert_eq!(hits >> k & 1 == 1, single.is_some());
    }
    assert_eq!(hits.count_ones(), 48);
    // Short batches and short output slices are fine.
    assert_eq!(c.lookup_batch(&flows[..3], 1, 5, &mut out[..2]), 0b11);
}
