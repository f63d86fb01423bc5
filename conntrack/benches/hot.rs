//! A plain loop over the hot paths, for `perf stat` (cycles and instructions per
//! operation do not depend on what else the machine runs, unlike wall time):
//!
//! `cargo bench -p conntrack --bench hot --no-run`, then
//! `perf stat -e cycles,instructions <binary> lookup256|lookup4k|lookup1m|tcp4k|commit|commit4k|commit_warm|snat|snat_warm|fill10m`.
//! Prints wall-clock ns per operation too. The lookup, commit and snat modes also come
//! as `<mode>_batch`: the same packets through [`Conntrack::execute_batch`] in bursts of
//! 64, as the datapath receives them.

use conntrack::{proto, Addr, Config, Conntrack, CtArgs, CtResult, Nat, NatRange, PacketMeta};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// CPU time this thread has used: unlike wall time, it leaves out time the scheduler
/// gave to other processes.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn nth_udp(i: u32) -> PacketMeta {
    PacketMeta {
        src: Addr::from_v4_u32(0x0a00_0001 + (i >> 16)),
        dst: Addr::from_v4_u32(0xc0a8_0001),
        proto: proto::UDP,
        sport: (i & 0xffff) as u16,
        dport: 53,
        len: 64,
        ..Default::default()
    }
}

const BURST: usize = 64;

/// Run every packet of `pkts` (repeated to `ops` packets) through the tracker, one by
/// one or in bursts.
fn run(ct: &Conntrack, pkts: &[PacketMeta], args: &CtArgs, ops: u64, batch: bool) {
    if !batch {
        for k in 0..ops {
            black_box(ct.execute(&pkts[(k % pkts.len() as u64) as usize], args, 1));
        }
        return;
    }
    let argv = [*args; BURST];
    let mut out = [CtResult::default(); BURST];
    let mut k = 0u64;
    while k < ops {
        let at = (k % pkts.len() as u64) as usize;
        let m = BURST.min(pkts.len() - at).min((ops - k) as usize);
        ct.execute_batch(&pkts[at..at + m], &argv[..m], 1, &mut out[..m]);
        black_box(&out);
        k += m as u64;
    }
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "lookup4k".into());
    let (what, batch) = match arg.strip_suffix("_batch") {
        Some(w) => (w.to_string(), true),
        None => (arg.clone(), false),
    };
    let commit = CtArgs {
        zone: 1,
        commit: true,
        ..Default::default()
    };
    let look = CtArgs {
        zone: 1,
        ..Default::default()
    };
    let cfg = Config {
        max_connections: 50_000_000,
        ..Config::default()
    };
    let ct = Conntrack::new(cfg);
    let cpu0: Duration;
    let (ops, t) = match what.as_str() {
        "lookup256" | "lookup4k" | "lookup1m" => {
            let n: u32 = match what.as_str() {
                "lookup256" => 256,
                "lookup4k" => 1 << 12,
                _ => 1 << 20,
            };
            for i in 0..n {
                ct.execute(&nth_udp(i), &commit, 0);
            }
            let pkts: Vec<_> = (0..n)
                .map(|i| nth_udp(i.wrapping_mul(2_654_435_761) % n))
                .collect();
            let ops = 20_000_000u64;
            cpu0 = thread_cpu();
            let t = Instant::now();
            run(&ct, &pkts, &look, ops, batch);
            (ops, t.elapsed())
        }
        "tcp4k" => {
            // 4096 established TCP connections, pure ACKs alternating both directions
            // (the criterion bench's established_tcp_ack_lookup).
            let tcp = |src: u32, sp, dst: u32, dp, flags, seq, ack| PacketMeta {
                src: Addr::from_v4_u32(src),
                dst: Addr::from_v4_u32(dst),
                sport: sp,
                dport: dp,
                proto: proto::TCP,
                tcp_flags: flags,
                tcp_seq: seq,
                tcp_ack: ack,
                tcp_win: 65535,
                ..Default::default()
            };
            let (a, s) = (0x0a00_0001, 0x0a00_0002);
            let (syn, ack) = (0x02, 0x10);
            let mut pkts = Vec::new();
            for p in 0..4096u16 {
                ct.execute(&tcp(a, p, s, 80, syn, 100, 0), &commit, 0);
                ct.execute(&tcp(s, 80, a, p, syn | ack, 900, 101), &look, 0);
                ct.execute(&tcp(a, p, s, 80, ack, 101, 901), &commit, 0);
                pkts.push(tcp(a, p, s, 80, ack, 101, 901));
                pkts.push(tcp(s, 80, a, p, ack, 901, 101));
            }
            let ops = 20_000_000u64;
            cpu0 = thread_cpu();
            let t = Instant::now();
            for k in 0..ops {
                black_box(ct.execute(&pkts[(k % pkts.len() as u64) as usize], &look, 1));
            }
            (ops, t.elapsed())
        }
        "commit4k" => {
            // Commits into a small, cache-resident table: 4096 connections, flushed
            // (untimed) between rounds. The cost of the code rather than of memory.
            let pkts: Vec<_> = (0..4096).map(nth_udp).collect();
            let (mut cpu, mut wall) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..500 {
                let (c, t) = (thread_cpu(), Instant::now());
                for p in &pkts {
                    black_box(ct.execute(p, &commit, 0));
                }
                wall += t.elapsed();
                cpu += thread_cpu() - c;
                ct.flush(None);
            }
            // Report only the timed part: shift the CPU origin by the untimed time.
            cpu0 = thread_cpu() - cpu;
            (500 * 4096, wall)
        }
        "commit_warm" => {
            // Steady state: slots and index buckets already exist (filled, then flushed),
            // so no page faults or growth are timed.
            let ops = 2_000_000u32;
            let pkts: Vec<_> = (0..ops).map(nth_udp).collect();
            for p in &pkts {
                ct.execute(p, &commit, 0);
            }
            ct.flush(None);
            cpu0 = thread_cpu();
            let t = Instant::now();
            run(&ct, &pkts, &commit, u64::from(ops), batch);
            (u64::from(ops), t.elapsed())
        }
        "snat_warm" => {
            // Steady-state SNAT commits: slots, index buckets, remote references and
            // port pools already exist (filled, then flushed).
            let args = CtArgs {
                nat: Some(Nat::Src(NatRange {
                    addr_min: Addr::from_v4_u32(0xcb00_7100),
                    addr_max: Addr::from_v4_u32(0xcb00_71ff),
                    port_min: 1024,
                    port_max: 65535,
                })),
                ..commit
            };
            let ops = 2_000_000u32;
            let pkts: Vec<_> = (0..ops).map(nth_udp).collect();
            for p in &pkts {
                ct.execute(p, &args, 0);
            }
            ct.flush(None);
            cpu0 = thread_cpu();
            let t = Instant::now();
            run(&ct, &pkts, &args, u64::from(ops), batch);
            (u64::from(ops), t.elapsed())
        }
        "commit" | "snat" => {
            let args = if what == "snat" {
                CtArgs {
                    nat: Some(Nat::Src(NatRange {
                        addr_min: Addr::from_v4_u32(0xcb00_7100),
                        addr_max: Addr::from_v4_u32(0xcb00_71ff),
                        port_min: 1024,
                        port_max: 65535,
                    })),
                    ..commit
                }
            } else {
                commit
            };
            let ops = 2_000_000u32;
            let pkts: Vec<_> = (0..ops).map(nth_udp).collect();
            cpu0 = thread_cpu();
            let t = Instant::now();
            run(&ct, &pkts, &args, u64::from(ops), batch);
            (u64::from(ops), t.elapsed())
        }
        "fill10m" => {
            // Ten million UDP connections: time per commit and memory per connection.
            let ops = 10_000_000u32;
            cpu0 = thread_cpu();
            let t = Instant::now();
            for i in 0..ops {
                let r = ct.execute(&nth_udp(i), &commit, 0);
                assert!(r.refused.is_none(), "commit {i} refused: {r:?}");
            }
            let el = t.elapsed();
            let m = ct.memory();
            println!(
                "fill10m: {} connections, entry {} B, slab {} MiB, index {} MiB, {} B per connection",
                m.connections,
                m.entry_bytes,
                m.slab_bytes >> 20,
                m.index_bytes >> 20,
                m.per_connection()
            );
            (u64::from(ops), el)
        }
        other => {
            eprintln!(
                "unknown mode {other:?}: lookup256, lookup4k, lookup1m, tcp4k, commit, commit4k, commit_warm, snat, snat_warm or fill10m (lookup*, commit, commit_warm, snat and snat_warm also as <mode>_batch)"
            );
            std::process::exit(2);
        }
    };
    let cpu = thread_cpu() - cpu0;
    println!(
        "{arg}: {ops} ops, {:.1} ns/op wall, {:.1} ns/op thread CPU",
        t.as_nanos() as f64 / ops as f64,
        cpu.as_nanos() as f64 / ops as f64
    );
}
