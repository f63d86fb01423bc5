//! One shard of the connection table: a slab of entries and a hash index over them.
//!
//! The index ([`crate::index`]) stores a hash tag and a 32-bit value in 8 bytes and
//! compares keys through the slab. The value is a slot number with two flag bits: which
//! tuple of the entry the index entry stands for ([`DIR_BIT`]), and whether it names a
//! remote reference instead of an entry ([`REMOTE_BIT`]). Hashes are of the normalised
//! tuple, so a connection without NAT has a single index entry that both directions
//! find. A NAT connection has a second entry for its reply tuple: in the index of this
//! shard if the reply tuple hashes here, otherwise as a remote reference (reply tuple
//! to shard and slot of the entry) kept in the reply tuple's shard, in a small slab of
//! its own and indexed by the same index, so every lookup is one probe sequence.
//!
//! Entries are two aligned cache lines ([`Conn`]); the slab grows in fixed chunks, never
//! by doubling, so a large table wastes at most one chunk per shard.

use crate::conn::{Conn, Key};
use crate::index::{bucket_addr, Index};
use crate::tuple::Tuple;
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const CHUNK: usize = 1024;
/// Index value flag: the index entry stands for the entry's reply tuple.
const DIR_BIT: u32 = 1 << 31;
/// Index value flag: the value is a remote reference's number, not an entry's slot.
const REMOTE_BIT: u32 = 1 << 30;
/// Slot numbers stay below this (the flags take the top two bits).
pub(crate) const MAX_SLOTS: u32 = REMOTE_BIT;
const NUM: u32 = REMOTE_BIT - 1;

/// Where the entry of a reply tuple that hashed to another shard lives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RemoteRef {
    pub shard: u16,
    pub slot: u32,
}

/// A remote reference as stored: the reply tuple it answers for and where to go.
/// A free one has `to.shard == FREE`.
struct Stub {
    tuple: Tuple,
    to: RemoteRef,
}

const FREE: u16 = u16::MAX;

/// What a tuple resolves to in one shard.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hit {
    /// An entry of this shard, and which of its tuples matched.
    Local { slot: u32, dir: usize },
    /// The reply tuple of an entry in another shard.
    Remote(RemoteRef),
}

/// Counters kept per shard (under its lock) and summed on read.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Connections committed.
    pub committed: u64,
    /// Commits refused because the table was full.
    pub refused_full: u64,
    /// Commits refused because the zone was at its limit.
    pub refused_zone: u64,
    /// Commits refused because no NAT port or tuple was free.
    pub nat_exhausted: u64,
    /// Commits refused because the reply tuple was already in use.
    pub collisions: u64,
    /// Packets found invalid.
    pub invalid: u64,
    /// Entries removed because they expired.
    pub expired: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, o: &Stats) {
        self.committed += o.committed;
        self.refused_full += o.refused_full;
        self.refused_zone += o.refused_zone;
        self.nat_exhausted += o.nat_exhausted;
        self.collisions += o.collisions;
        self.invalid += o.invalid;
        self.expired += o.expired;
    }
}

pub(crate) struct Shard {
    seed: u64,
    chunks: Vec<Vec<Option<Conn>>>,
    free: Vec<u32>,
    index: Index,
    stubs: Vec<Stub>,
    stub_free: Vec<u32>,
    pub live: u32,
    pub sweep_cursor: u32,
    pub stats: Stats,
}

/// Hint the CPU to load the cache line at `p`. Never faults, whatever `p` is.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache; it does not access memory in the
    // language's sense and never faults, so any address (even dangling) is fine.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Shard {
    pub fn new(seed: u64) -> Shard {
        Shard {
            seed,
            chunks: Vec::new(),
            free: Vec::new(),
            index: Index::new(),
            stubs: Vec::new(),
            stub_free: Vec::new(),
            live: 0,
            sweep_cursor: 0,
            stats: Stats::default(),
        }
    }

    /// Number of slots ever allocated (live or free).
    pub fn slots(&self) -> u32 {
        self.chunks.iter().map(|c| c.len() as u32).sum()
    }

    #[inline]
    fn entry(&self, s: u32) -> Option<&Conn> {
        self.chunks
            .get(s as usize / CHUNK)?
            .get(s as usize % CHUNK)?
            .as_ref()
    }

    /// Find what tuple `t` (hash `h`) names here: an entry (with the direction `t` is
    /// of it) or a remote reference.
    #[inline]
    pub fn find(&self, t: &Tuple, h: u64) -> Option<Hit> {
        let k = Key::of(t);
        let mut dir = 0;
        let v = self.index.find(h, |v| {
            if v & REMOTE_BIT != 0 {
                return self
                    .stubs
                    .get((v & NUM) as usize)
                    .is_some_and(|s| s.tuple == *t);
            }
            match self.entry(v & NUM).and_then(|c| c.direction(t, &k)) {
                Some(d) => {
                    dir = d;
                    true
                }
                None => false,
            }
        })?;
        Some(if v & REMOTE_BIT != 0 {
            Hit::Remote(self.stubs[(v & NUM) as usize].to)
        } else {
            Hit::Local { slot: v & NUM, dir }
        })
    }

    /// Is tuple `t` in use here, as an entry's tuple or a remote reference?
    #[inline]
    pub fn taken(&self, t: &Tuple, h: u64) -> bool {
        self.find(t, h).is_some()
    }

    pub fn conn(&self, s: u32) -> Option<&Conn> {
        self.entry(s)
    }

    pub fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
        self.chunks
            .get_mut(s as usize / CHUNK)?
            .get_mut(s as usize % CHUNK)?
            .as_mut()
    }

    /// Store `c` and index it. The reply tuple gets a local index entry when
    /// `c.reply_local()`. Returns the slot.
    pub fn insert(&mut self, c: Conn) -> u32 {
        let h0 = c.orig().norm_hash(self.seed);
        let h1 = c.reply_local().then(|| c.reply().norm_hash(self.seed));
        let s = match self.free.pop() {
            Some(s) => {
                self.chunks[s as usize / CHUNK][s as usize % CHUNK] = Some(c);
                s
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let last = &mut self.chunks[n];
                last.push(Some(c));
                (n * CHUNK + last.len() - 1) as u32
            }
        };
        self.index.insert(h0, s);
        if let Some(h1) = h1 {
            self.index.insert(h1, s | DIR_BIT);
        }
        self.live += 1;
        s
    }

    /// Unindex and take out the entry in slot `s`.
    pub fn remove(&mut self, s: u32) -> Option<Conn> {
        let seed = self.seed;
        let (h0, h1) = {
            let c = self.conn(s)?;
            (
                c.orig().norm_hash(seed),
                c.reply_local().then(|| c.reply().norm_hash(seed)),
            )
        };
        self.index.remove(h0, s);
        if let Some(h1) = h1 {
            self.index.remove(h1, s | DIR_BIT);
        }
        let c = self.chunks[s as usize / CHUNK][s as usize % CHUNK].take();
        self.free.push(s);
        self.live -= 1;
        c
    }

    /// Index remote reference `r` under reply tuple `t`.
    pub fn insert_remote(&mut self, t: Tuple, r: RemoteRef) {
        let stub = Stub { tuple: t, to: r };
        let i = match self.stub_free.pop() {
            Some(i) => {
                self.stubs[i as usize] = stub;
                i
            }
            None => {
                self.stubs.push(stub);
                (self.stubs.len() - 1) as u32
            }
        };
        self.index.insert(t.norm_hash(self.seed), i | REMOTE_BIT);
    }

    /// Drop the remote reference for `t` if it still points at `r`.
    pub fn remove_remote(&mut self, t: &Tuple, r: RemoteRef) {
        let h = t.norm_hash(self.seed);
        let stubs = &self.stubs;
        let found = self.index.find(h, |v| {
            v & REMOTE_BIT != 0
                && stubs
                    .get((v & NUM) as usize)
                    .is_some_and(|s| s.tuple == *t && s.to == r)
        });
        if let Some(v) = found {
            self.index.remove(h, v);
            self.stubs[(v & NUM) as usize].to.shard = FREE;
            self.stub_free.push(v & NUM);
        }
    }

    /// Visit up to `budget` slots from the sweep cursor; return the dead (expired or
    /// matching `kill`) ones to `out` after unindexing them, with their slots.
    pub fn sweep(
        &mut self,
        budget: u32,
        mut dead: impl FnMut(&Conn) -> bool,
        out: &mut Vec<(Conn, u32)>,
    ) -> u32 {
        let n = self.slots();
        if n == 0 {
            return 0;
        }
        let mut visited = 0;
        let mut s = self.sweep_cursor % n;
        while visited < budget.min(n) {
            if self.conn(s).is_some_and(&mut dead) {
                if let Some(c) = self.remove(s) {
                    out.push((c, s));
                }
            }
            visited += 1;
            s = (s + 1) % n;
        }
        self.sweep_cursor = s;
        visited
    }

    /// Start loading what a lookup of hash `h` will read: the entry of the first index
    /// entry whose tag matches (if any), and the slot a commit would fill.
    #[inline]
    pub fn prefetch_for(&self, h: u64, commit: bool) {
        if let Some(v) = self.index.first_tag_match(h) {
            if v & REMOTE_BIT == 0 {
                let s = (v & NUM) as usize;
                if let Some(e) = self.chunks.get(s / CHUNK).and_then(|c| c.get(s % CHUNK)) {
                    let p = (e as *const Option<Conn>).cast::<u8>();
                    prefetch(p);
                    prefetch(p.wrapping_add(64));
                }
            }
        }
        if commit {
            self.prefetch_free();
        }
    }

    /// Start loading the slot the next insertion fills (it is written whole).
    #[inline]
    pub fn prefetch_free(&self) {
        let p = match self.free.last() {
            Some(&s) => match self.chunks.get(s as usize / CHUNK) {
                Some(c) => c.as_ptr().wrapping_add(s as usize % CHUNK),
                None => return,
            },
            None => match self.chunks.last() {
                Some(c) if c.len() < CHUNK => c.as_ptr().wrapping_add(c.len()),
                _ => return,
            },
        };
        prefetch(p.cast());
        prefetch(p.cast::<u8>().wrapping_add(64));
    }

    /// Start loading the remote reference slot the next [`Shard::insert_remote`] fills.
    #[inline]
    pub fn prefetch_free_stub(&self) {
        let i = self
            .stub_free
            .last()
            .map_or(self.stubs.len(), |&i| i as usize);
        prefetch(self.stubs.as_ptr().wrapping_add(i).cast());
    }

    /// The index table's address and mask, for prefetching without the lock.
    pub fn index_hint(&self) -> (usize, usize) {
        self.index.raw()
    }

    /// Index memory of this shard in bytes, remote references and free lists included.
    pub fn index_bytes(&self) -> usize {
        self.index.bytes()
            + self.stubs.capacity() * std::mem::size_of::<Stub>()
            + (self.free.capacity() + self.stub_free.capacity()) * 4
    }

    pub fn slab_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<Option<Conn>>())
            .sum()
    }

    /// Entries with their slot numbers (for dumps and flushes).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Conn)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|c| (i as u32, c)))
    }

    pub fn slot_size() -> usize {
        std::mem::size_of::<Option<Conn>>()
    }
}

/// A shard behind its lock, with where its index table is (for prefetches made
/// without the lock; published by each lookup that holds the lock), padded to its own
/// cache lines.
#[repr(align(128))]
pub(crate) struct PaddedShard {
    lock: Mutex<Shard>,
    hint_base: AtomicUsize,
    hint_mask: AtomicUsize,
}

impl PaddedShard {
    pub fn new(seed: u64) -> PaddedShard {
        PaddedShard {
            lock: Mutex::new(Shard::new(seed)),
            hint_base: AtomicUsize::new(0),
            hint_mask: AtomicUsize::new(0),
        }
    }

    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, Shard> {
        self.lock.lock()
    }

    /// Publish where the index of `g` (this shard, locked) is now.
    #[inline]
    pub fn publish_hint(&self, g: &Shard) {
        let (b, m) = g.index_hint();
        if self.hint_base.load(Relaxed) != b {
            self.hint_base.store(b, Relaxed);
            self.hint_mask.store(m, Relaxed);
        }
    }

    /// Start loading the home index bucket of hash `h` without the lock.
    #[inline]
    pub fn prefetch_bucket(&self, h: u64) {
        let b = self.hint_base.load(Relaxed);
        if b != 0 {
            prefetch(bucket_addr(b, self.hint_mask.load(Relaxed), h) as *const u8);
        }
    }
}
