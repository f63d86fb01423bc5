//! Per-packet cost of the first two cache tiers, on batches of 64 distinct 64-byte
//! Ethernet/IPv4/UDP frames (source ports differ); every figure is per frame.
//!
//! What each row includes:
//! - `extract_udp64`: [`extract_key`] of one frame into the reused [`FlowKey`] (the
//!   worker's form); `(part) extract_into` is the full-clear form for comparison.
//! - `emc_hit_output` and `emc_hit_routed`: the worker's whole EMC-hit path per frame:
//!   [`extract_key`] from the frame's bytes, set the logical datapath and inport as the
//!   worker does, hash the key ([`FlowKey::hash`]), look it up in an 8192-slot EMC (hash,
//!   epoch and the whole 32-word flow compared), check the megaflow entry the EMC names
//!   ([`MegaflowCache::get`]: generation, epoch, hit count), and run its cached
//!   [`DpActs`] the way the worker's `run` does for a single output: rewrite the frame
//!   in place ([`actions::rewrite`]) and queue (port, frame) on a TX list. `output`: an
//!   L2 switch hop (no header change). `routed`: a router hop (eth.src, eth.dst and TTL
//!   written, IPv4 checksum updated incrementally). The frames stay in place from batch
//!   to batch (hot in cache, as in every row here); after the first pass the routed
//!   frames already carry the rewritten values, and the EMC holds entries for those
//!   too, so every frame still hits and the rewrite still runs in full. Not included:
//!   the AF_XDP rings, frame bookkeeping and counters. The setup asserts every frame
//!   hits. `(part) emc_hit_incl_extract` is the older row kept for comparison: extract,
//!   hash and EMC lookup only (no megaflow check, no actions).
//! - `emc_hit_burst64_output`: the same as `emc_hit_output` staged over the burst
//!   (extract + hash + prefetch of the EMC slots for all 64, then lookups and actions).
//! - `megaflow_hit_N_subtables_{first,last}`: [`MegaflowCache::lookup`] of an already
//!   extracted flow with N subtables of 100 entries each, the matching entry in the first
//!   visited subtable or in the last one (the worst case: N-1 subtables miss first).
//!   `megaflow_batch64_*`: the same through `lookup_batch` (subtable by subtable over
//!   the burst, with prefetch), the way a worker would process an rx burst.
//!
//! After criterion, a summary converts ns/packet to cycles using the core clock measured
//! with a chain of dependent adds (no hardware counters in this VM; /proc/cpuinfo's MHz
//! is printed alongside). `cargo bench -p datapath --bench caches -- --summary-only`
//! prints the summary alone; add `--only SUBSTR` to time only matching rows (for
//! profiling with `perf record`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, Criterion, Throughput};
use datapath::actions::{self, ActsRef, DpActs, Step};
use datapath::emc::Emc;
use datapath::extract::{extract, extract_into, extract_key, Layout};
use datapath::io::PortId;
use datapath::key::FlowKey;
use datapath::megaflow::{MegaflowCache, MegaflowId, MAX_BATCH};
use datapath::wire::{checksum, ipv4, udp};
use pipeline::dpaction::DpAction;
use pipeline::flow::{field, word, Flow, Mask};

const BATCH: usize = 64;
const EPOCH: u64 = 1;
const NOW: u64 = 1;
const DP: u64 = 5;
const LPORT: u64 = 3;

/// A 64-byte Ethernet/IPv4/UDP frame from 10.0.0.1:sport to 10.0.0.2:53.
fn frame(sport: u16) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = ipv4::Packet::new_unchecked(&mut b[14..]);
    ip.set_version_and_header_len(20);
    ip.set_total_len(50);
    ip.set_ttl(64);
    ip.set_protocol(17);
    ip.set_src(0x0a00_0001);
    ip.set_dst(0x0a00_0002);
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(&mut b[34..]);
    u.set_src_port(sport);
    u.set_dst_port(53);
    u.set_len(30);
    u.fill_checksum(checksum::pseudo_v4(0x0a00_0001, 0x0a00_0002, 17, 30));
    b
}

fn frames() -> Vec<[u8; 64]> {
    (0..BATCH as u16).map(|i| frame(10_000 + i)).collect()
}

/// Distinct masks: all match in_port and eth_type, then ip4_dst with a prefix of
/// 8 + (i % 25) bits, plus tp_dst when i >= 25.
fn mask(i: usize) -> Mask {
    let mut m = Mask::default();
    m.add(field::IN_PORT);
    m.add(field::ETH_TYPE);
    let plen = 8 + (i % 25) as u32;
    m.add_bits(
        field::IP4_DST,
        (0xffff_ffffu64 << (32 - plen)) & 0xffff_ffff,
    );
    if i >= 25 {
        m.add(field::TP_DST);
        m.add(field::IP_PROTO);
    }
    m
}

/// A cache with `n` subtables of 100 entries each on in_port 2 (never matching the test
/// frames, which arrive on port 1), plus one entry matching every test frame in subtable
/// `hit` (0 = first visited, n-1 = last).
fn megaflow(n: usize, hit: usize, template: &Flow) -> MegaflowCache<u32> {
    let mut c = MegaflowCache::new(1 << 20);
    for s in 0..n {
        let m = mask(s);
        for k in 0..100u64 {
            let mut f = *template;
            f.set(field::IN_PORT, 2);
            f.set(field::IP4_DST, 0x0b00_0000 + (k << 8));
            c.insert(&f, &m, k as u32, 1, 0);
        }
        if s == hit {
            c.insert(template, &m, 7, 1, 0);
        }
    }
    c
}

/// Cached actions: output to backend port 1, after a router hop's rewrites if `routed`.
fn acts(routed: bool) -> ActsRef {
    let mut list = Vec::new();
    if routed {
        let set = |f: pipeline::flow::Field, v: u64| DpAction::Set {
            word: f.word,
            value: v << f.shift,
            mask: f.word_mask(),
        };
        list.push(set(field::ETH_SRC, 0x0200_0000_00aa));
        list.push(set(field::ETH_DST, 0x0200_0000_00bb));
        list.push(set(field::IP_TTL, 63));
    }
    list.push(DpAction::Output {
        dp_key: DP as u32,
        port_key: 9,
        vlan: None,
    });
    let a: DpActs = actions::compile(&list, &|_, _| Some(1), false);
    assert_eq!(a.steps.len(), 1);
    ActsRef::new(a)
}

/// What the EMC-hit path works on: the caches, the reused key and the rx/tx buffers.
struct EmcPath {
    emc: Emc<MegaflowId>,
    mf: MegaflowCache<ActsRef>,
    key: FlowKey,
    lay: Layout,
    rx: Vec<[u8; 64]>,
    tx: Vec<(PortId, u8)>,
    keys: Vec<FlowKey>,
    lays: Vec<Layout>,
    hashes: Vec<u32>,
}

impl EmcPath {
    /// An EMC holding every test frame (before and after the actions), each naming one
    /// megaflow entry (in_port, eth_type, ip4_dst) with the given actions.
    fn new(routed: bool) -> EmcPath {
        let rx = frames();
        let mut mf = MegaflowCache::new(1024);
        let mut emc: Emc<MegaflowId> = Emc::new(8192, 1);
        let mut m = Mask::default();
        m.add(field::DATAPATH);
        m.add(field::INPORT);
        m.add(field::ETH_TYPE);
        m.add(field::IP4_DST);
        let mut key = FlowKey::default();
        let mut lay = Layout::default();
        let mut id = None;
        for p in &rx {
            extract_key(p, 1, &mut key, &mut lay).unwrap();
            key.set_word(word::DP_INPORT, DP << 32 | LPORT);
            let i = *id.get_or_insert_with(|| mf.insert(key.flow(), &m, acts(routed), EPOCH, 0));
            emc.insert(&key, key.hash(), EPOCH, i);
        }
        let mut p = EmcPath {
            emc,
            mf,
            key,
            lay,
            rx,
            tx: Vec::with_capacity(BATCH),
            keys: vec![FlowKey::default(); BATCH],
            lays: vec![Layout::default(); BATCH],
            hashes: vec![0; BATCH],
        };
        assert_eq!(p.run(), BATCH, "every frame hits the EMC");
        if routed {
            // The frames now carry the router's rewrites (TTL 63...): those flows too.
            let i = id.unwrap();
            for f in p.rx.clone() {
                extract_key(&f, 1, &mut p.key, &mut p.lay).unwrap();
                p.key.set_word(word::DP_INPORT, DP << 32 | LPORT);
                let k = p.key;
                p.emc.insert(&k, k.hash(), EPOCH, i);
            }
        }
        assert_eq!(p.run(), BATCH, "every frame hits the EMC");
        assert_eq!(p.burst(), BATCH, "every frame hits the EMC");
        let want: u64 = if routed {
            0x0200_0000_00bb
        } else {
            0x0200_0000_0002
        };
        assert_eq!(&p.rx[0][0..6], &want.to_be_bytes()[2..]);
        p
    }

    /// The cached actions of `id` run on rx buffer `k` (single-output form of the
    /// worker's `run`). Returns 1 if the frame was queued.
    #[inline(always)]
    fn act(&mut self, id: MegaflowId, k: usize, key: &FlowKey, lay: &Layout) -> usize {
        let Some(acts) = self.mf.get(id, EPOCH, NOW) else {
            return 0;
        };
        let Some(Step::Output(out)) = acts.steps.get(acts.last) else {
            return 0;
        };
        if actions::rewrite(out, &mut self.rx[k], key.flow(), lay).is_err() {
            return 0;
        }
        self.tx.push((out.port, k as u8));
        1
    }

    /// One burst, packet by packet. Returns the frames queued.
    fn run(&mut self) -> usize {
        self.tx.clear();
        let mut sent = 0;
        let mut key = std::mem::take(&mut self.key);
        let mut lay = self.lay;
        for k in 0..BATCH {
            if extract_key(black_box(&self.rx[k]), 1, &mut key, &mut lay).is_err() {
                continue;
            }
            key.set_word(word::DP_INPORT, DP << 32 | LPORT);
            let h = key.hash();
            if let Some(id) = self.emc.lookup(&key, h, EPOCH) {
                sent += self.act(id, k, &key, &lay);
            }
        }
        self.key = key;
        self.lay = lay;
        black_box(&self.tx);
        sent
    }

    /// One burst, staged: extract, hash and prefetch all, then look up and act.
    fn burst(&mut self) -> usize {
        self.tx.clear();
        for k in 0..BATCH {
            let key = &mut self.keys[k];
            if extract_key(black_box(&self.rx[k]), 1, key, &mut self.lays[k]).is_err() {
                self.hashes[k] = 0;
                continue;
            }
            key.set_word(word::DP_INPORT, DP << 32 | LPORT);
            self.hashes[k] = key.hash();
            self.emc.prefetch(self.hashes[k]);
        }
        let mut sent = 0;
        let keys = std::mem::take(&mut self.keys);
        for (k, key) in keys.iter().enumerate() {
            if let Some(id) = self.emc.lookup(key, self.hashes[k], EPOCH) {
                let lay = self.lays[k];
                sent += self.act(id, k, key, &lay);
            }
        }
        self.keys = keys;
        black_box(&self.tx);
        sent
    }
}

type Row = (String, u32, Box<dyn FnMut()>);

/// Every row: (name, iterations for the summary, one batch of 64 frames).
fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let fr = frames();
    {
        let fr = fr.clone();
        let mut key = FlowKey::default();
        let mut lay = Layout::default();
        rows.push((
            "extract_udp64".into(),
            200_000,
            Box::new(move || {
                for p in &fr {
                    let _ = black_box(extract_key(black_box(p), 1, &mut key, &mut lay));
                    black_box((&key, &lay));
                }
            }),
        ));
    }
    {
        let fr = fr.clone();
        let mut f = Flow::default();
        let mut lay = Layout::default();
        rows.push((
            "  (part) extract_into (clears 256 B)".into(),
            200_000,
            Box::new(move || {
                for p in &fr {
                    let _ = black_box(extract_into(black_box(p), 1, &mut f, &mut lay));
                    black_box((&f, &lay));
                }
            }),
        ));
    }
    for (name, routed) in [("emc_hit_output", false), ("emc_hit_routed", true)] {
        let mut p = EmcPath::new(routed);
        rows.push((
            name.into(),
            200_000,
            Box::new(move || {
                black_box(p.run());
            }),
        ));
    }
    {
        // The row measured before: extract + hash + EMC lookup, nothing after.
        let mut p = EmcPath::new(false);
        let mut key = FlowKey::default();
        let mut lay = Layout::default();
        let mut one = move || {
            let mut hits = 0;
            for f in p.rx.iter() {
                let _ = extract_key(black_box(f), 1, &mut key, &mut lay);
                key.set_word(word::DP_INPORT, DP << 32 | LPORT);
                hits += p.emc.lookup(&key, key.hash(), EPOCH).is_some() as usize;
            }
            hits
        };
        assert_eq!(one(), BATCH, "every frame hits the EMC");
        rows.push((
            "  (part) emc_hit_incl_extract".into(),
            200_000,
            Box::new(move || {
                black_box(one());
            }),
        ));
    }
    {
        let p = EmcPath::new(false);
        let keys: Vec<FlowKey> =
            p.rx.iter()
                .map(|f| {
                    let mut k = FlowKey::default();
                    extract_key(f, 1, &mut k, &mut Layout::default()).unwrap();
                    k.set_word(word::DP_INPORT, DP << 32 | LPORT);
                    k
                })
                .collect();
        let ks = keys.clone();
        rows.push((
            "  (part) key hash".into(),
            200_000,
            Box::new(move || {
                for k in &ks {
                    black_box(black_box(k).hash());
                }
            }),
        ));
        let hashes: Vec<u32> = keys.iter().map(|k| k.hash()).collect();
        let mut emc = p.emc;
        rows.push((
            "  (part) emc lookup, hash given".into(),
            200_000,
            Box::new(move || {
                for (k, &h) in keys.iter().zip(&hashes) {
                    black_box(emc.lookup(black_box(k), h, EPOCH));
                }
            }),
        ));
    }
    {
        let mut p = EmcPath::new(false);
        rows.push((
            "emc_hit_burst64_output".into(),
            200_000,
            Box::new(move || {
                black_box(p.burst());
            }),
        ));
    }
    let mut tmpl = Flow::default();
    extract(&fr[0], 1, &mut tmpl).unwrap();
    let flows: Vec<Flow> = fr
        .iter()
        .map(|p| {
            let mut f = Flow::default();
            extract(p, 1, &mut f).unwrap();
            f
        })
        .collect();
    for n in [1usize, 10, 50] {
        for (name, hit) in [("first", 0), ("last", n - 1)] {
            if n == 1 && name == "last" {
                continue;
            }
            let iters = if n == 50 { 20_000 } else { 50_000 };
            let mut mc = megaflow(n, hit, &tmpl);
            let fl = flows.clone();
            rows.push((
                format!("megaflow_hit_{n}_subtables_{name}"),
                iters,
                Box::new(move || {
                    for f in &fl {
                        black_box(mc.lookup(black_box(f), 1, 1).map(|x| *x.1));
                    }
                }),
            ));
            let mut mc = megaflow(n, hit, &tmpl);
            let fl = flows.clone();
            let mut out = [None; MAX_BATCH];
            rows.push((
                format!("megaflow_batch64_{n}_subtables_{name}"),
                iters,
                Box::new(move || {
                    black_box(mc.lookup_batch(black_box(&fl), 1, 1, &mut out));
                }),
            ));
        }
    }
    rows
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("caches");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, _, mut f) in rows() {
        if name.starts_with(' ') {
            continue;
        }
        g.bench_function(name, |b| b.iter(&mut f));
    }
    g.finish();
}

criterion_group!(benches, bench);

fn cpu_mhz() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu MHz"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// This thread's CPU time in ns (not counting time other processes ran on this core).
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
    // supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// ns per packet of `f` over `iters` batches: (thread CPU time, wall time), the minimum
/// of 7 rounds (the machine is shared; the minimum is the least disturbed round).
fn time(iters: u32, f: &mut dyn FnMut()) -> (f64, f64) {
    for _ in 0..iters / 10 {
        f();
    }
    let n = (iters / 7).max(1);
    let per = n as f64 * BATCH as f64;
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        let (c, t) = (thread_cpu_ns(), Instant::now());
        for _ in 0..n {
            f();
        }
        best.0 = best.0.min((thread_cpu_ns() - c) as f64 / per);
        best.1 = best.1.min(t.elapsed().as_nanos() as f64 / per);
    }
    best
}

/// Effective core clock in MHz, measured: a chain of dependent register adds runs at one
/// per cycle, so adds per microsecond = MHz.
#[cfg(target_arch = "x86_64")]
fn measured_mhz() -> Option<f64> {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let n: u64 = 20_000_000;
        let c = thread_cpu_ns();
        let mut x: u64 = 0;
        for _ in 0..n {
            // SAFETY: register-only arithmetic, no memory or stack access.
            unsafe {
                std::arch::asm!(
                    "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                    "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                    x = inout(reg) x,
                    options(nomem, nostack, pure)
                )
            };
        }
        black_box(x);
        best = best.min((thread_cpu_ns() - c) as f64 / (n as f64 * 8.0));
    }
    Some(1000.0 / best)
}

#[cfg(not(target_arch = "x86_64"))]
fn measured_mhz() -> Option<f64> {
    None
}

fn summary(only: Option<&str>) {
    let nominal = cpu_mhz().unwrap_or(0.0);
    let mhz = measured_mhz().unwrap_or(nominal);
    println!("cpu MHz: /proc/cpuinfo {nominal:.0}, measured (dependent adds) {mhz:.0}");
    let mut out = Vec::new();
    for (name, iters, mut f) in rows() {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        out.push((name, time(iters, &mut f)));
    }
    println!("\nsummary (cycles = thread-CPU ns * measured GHz):");
    for (name, (cpu, wall)) in out {
        let cyc = cpu * mhz / 1000.0;
        println!("  {name:<40} {cpu:>7.1} ns/pkt cpu ({wall:>7.1} wall)  ~{cyc:>5.0} cycles");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--summary-only` skips criterion (quick cycle estimates).
    if !args.iter().any(|a| a == "--summary-only") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // `cargo test --benches` runs this binary with no `--bench`: skip the slow summary.
    if args.iter().any(|a| a == "--bench") {
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1));
        summary(only.map(String::as_str));
    }
}
