//! One shard of the connection table: a slab of entries and a hash index over them.
//!
//! The index ([`crate::index`]) stores a hash tag and a slot number (top bit: which
//! tuple of the entry the index entry stands for) in 8 bytes and compares keys through
//! the slab, so it costs about 11 to 21 bytes per index entry. Hashes are of the
//! normalised tuple, so a connection without NAT has a single index entry that both
//! directions find. A NAT connection has a second entry for
//! its reply tuple: in the index of this shard if the reply tuple hashes here, otherwise
//! as a [`RemoteRef`] (full tuple to slot, shard and generation) in the reply tuple's
//! shard. Slots carry a generation so a stale remote reference is detected.
//!
//! The slab grows in fixed chunks, never by doubling, so a large table wastes at most one
//! chunk per shard.

use crate::conn::Conn;
use crate::index::Index;
use crate::tuple::{FastBuild, Tuple};

const CHUNK: usize = 1024;
const DIR_BIT: u32 = 1 << 31;

struct Slot {
    gen: u32,
    conn: Option<Conn>,
}

/// Where the entry of a reply tuple that hashed to another shard lives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RemoteRef {
    pub shard: u16,
    pub slot: u32,
    pub gen: u32,
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
    chunks: Vec<Vec<Slot>>,
    free: Vec<u32>,
    index: Index,
    remote: std::collections::HashMap<Tuple, RemoteRef, FastBuild>,
    pub live: u32,
    pub sweep_cursor: u32,
    pub stats: Stats,
}

#[inline]
fn slot(chunks: &[Vec<Slot>], i: u32) -> &Slot {
    &chunks[i as usize / CHUNK][i as usize % CHUNK]
}

#[inline]
fn conn_of(chunks: &[Vec<Slot>], v: u32) -> Option<&Conn> {
    slot(chunks, v & !DIR_BIT).conn.as_ref()
}

impl Shard {
    pub fn new(seed: u64) -> Shard {
        Shard {
            seed,
            chunks: Vec::new(),
            free: Vec::new(),
            index: Index::new(),
            remote: std::collections::HashMap::default(),
            live: 0,
            sweep_cursor: 0,
            stats: Stats::default(),
        }
    }

    /// Number of slots ever allocated (live or free).
    pub fn slots(&self) -> u32 {
        self.chunks.iter().map(|c| c.len() as u32).sum()
    }

    /// Find the entry holding tuple `t` (hash `h`): its slot and the direction `t` is.
    #[inline]
    pub fn find(&self, t: &Tuple, h: u64) -> Option<(u32, usize)> {
        let chunks = &self.chunks;
        let rev = t.reverse();
        let mut dir = 0;
        let v = self.index.find(h, |v| {
            match conn_of(chunks, v).and_then(|c| c.direction(t, &rev)) {
                Some(d) => {
                    dir = d;
                    true
                }
                None => false,
            }
        })?;
        Some((v & !DIR_BIT, dir))
    }

    pub fn find_remote(&self, t: &Tuple) -> Option<RemoteRef> {
        if self.remote.is_empty() {
            return None;
        }
        self.remote.get(t).copied()
    }

    /// Is tuple `t` in use here, as an entry's tuple or a remote reference?
    pub fn taken(&self, t: &Tuple, h: u64) -> bool {
        self.find(t, h).is_some() || self.find_remote(t).is_some()
    }

    pub fn conn(&self, s: u32) -> Option<&Conn> {
        self.chunks
            .get(s as usize / CHUNK)?
            .get(s as usize % CHUNK)?
            .conn
            .as_ref()
    }

    pub fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
        self.chunks
            .get_mut(s as usize / CHUNK)?
            .get_mut(s as usize % CHUNK)?
            .conn
            .as_mut()
    }

    pub fn gen(&self, s: u32) -> u32 {
        self.chunks
            .get(s as usize / CHUNK)
            .and_then(|c| c.get(s as usize % CHUNK))
            .map_or(u32::MAX, |x| x.gen)
    }

    /// Store `c` and index it. The reply tuple gets a local index entry when
    /// `c.reply_local`. Returns the slot and its generation.
    pub fn insert(&mut self, c: Conn) -> (u32, u32) {
        let h0 = c.orig.norm_hash(self.seed);
        let h1 = c.reply_local.then(|| c.reply().norm_hash(self.seed));
        let s = match self.free.pop() {
            Some(s) => {
                self.chunks[s as usize / CHUNK][s as usize % CHUNK].conn = Some(c);
                s
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let last = &mut self.chunks[n];
                last.push(Slot {
                    gen: 0,
                    conn: Some(c),
                });
                (n * CHUNK + last.len() - 1) as u32
            }
        };
        self.index.insert(h0, s);
        if let Some(h1) = h1 {
            self.index.insert(h1, s | DIR_BIT);
        }
        self.live += 1;
        (s, self.gen(s))
    }

    /// Unindex and take out the entry in slot `s`; the slot's generation moves on.
    pub fn remove(&mut self, s: u32) -> Option<Conn> {
        let seed = self.seed;
        let (h0, h1) = {
            let c = self.conn(s)?;
            (
                c.orig.norm_hash(seed),
                c.reply_local.then(|| c.reply().norm_hash(seed)),
            )
        };
        for (h, v) in [(Some(h0), s), (h1, s | DIR_BIT)] {
            let Some(h) = h else { continue };
            self.index.remove(h, v);
        }
        let sl = &mut self.chunks[s as usize / CHUNK][s as usize % CHUNK];
        let c = sl.conn.take();
        sl.gen = sl.gen.wrapping_add(1);
        self.free.push(s);
        self.live -= 1;
        c
    }

    pub fn insert_remote(&mut self, t: Tuple, r: RemoteRef) {
        self.remote.insert(t, r);
    }

    /// Drop the remote reference for `t` if it still points at `r`.
    pub fn remove_remote(&mut self, t: &Tuple, r: RemoteRef) {
        if let std::collections::hash_map::Entry::Occupied(e) = self.remote.entry(*t) {
            if *e.get() == r {
                e.remove();
            }
        }
    }

    /// Visit up to `budget` slots from the sweep cursor; return the dead (expired or
    /// matching `kill`) ones to `out` after unindexing them, with their slot and gen.
    pub fn sweep(
        &mut self,
        budget: u32,
        mut dead: impl FnMut(&Conn) -> bool,
        out: &mut Vec<(Conn, RemoteRef)>,
    ) -> u32 {
        let n = self.slots();
        if n == 0 {
            return 0;
        }
        let mut visited = 0;
        let mut s = self.sweep_cursor % n;
        while visited < budget.min(n) {
            let gen = self.gen(s);
            if self.conn(s).is_some_and(&mut dead) {
                if let Some(c) = self.remove(s) {
                    out.push((
                        c,
                        RemoteRef {
                            shard: 0,
                            slot: s,
                            gen,
                        },
                    ));
                }
            }
            visited += 1;
            s = (s + 1) % n;
        }
        self.sweep_cursor = s;
        visited
    }

    /// Index memory of this shard in bytes, remote references and free list included.
    pub fn index_bytes(&self) -> usize {
        self.index.bytes()
            + self.remote.capacity() * (std::mem::size_of::<(Tuple, RemoteRef)>() + 1)
            + self.free.capacity() * 4
    }

    pub fn slab_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<Slot>())
            .sum()
    }

    /// Entries with their slot numbers (for dumps and flushes).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Conn)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, s)| s.conn.as_ref().map(|c| (i as u32, c)))
    }

    pub fn slot_size() -> usize {
        std::mem::size_of::<Slot>()
    }
}
