//! In-memory [`Backend`] for deterministic tests: per-port queues of injected packets on the
//! receive side, per-port lists of sent packets on the transmit side, frames carved from one
//! arena exactly like UMEM chunks. Optionally writes what was sent as pcap.
//!
//! `inject` and `take_sent` allocate (they are the test's side of the wire); `rx_burst`,
//! `tx_burst`, `alloc` and `free` only copy into or out of arena frames.

use std::{
    collections::VecDeque,
    io::{self, Write},
    path::Path,
    ptr::NonNull,
};

use crate::io::{Backend, Batch, Frame, IoMode, PortId, PortStats, DEFAULT_HEADROOM};

/// Size of one arena frame (same as an AF_XDP chunk).
pub const MEM_FRAME_SIZE: usize = 4096;

#[derive(Debug, Default)]
struct MemPort {
    name: String,
    rx: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    stats: PortStats,
}

/// The in-memory backend. See the module docs.
#[derive(Debug)]
pub struct MemBackend {
    /// `nframes * MEM_FRAME_SIZE` bytes, owned through a raw pointer so frames may alias it.
    arena: NonNull<u8>,
    nframes: usize,
    free: Vec<u32>,
    ports: Vec<MemPort>,
}

impl MemBackend {
    /// A backend with `ports` ports (named `mem0`, `mem1`, ...) and `nframes` frames.
    pub fn new(ports: usize, nframes: usize) -> Self {
        let arena: Box<[u8]> = vec![0u8; nframes * MEM_FRAME_SIZE].into_boxed_slice();
        let raw = Box::into_raw(arena) as *mut u8;
        // SAFETY: `Box::into_raw` never returns null (a zero-length box is dangling, not null).
        let arena = unsafe { NonNull::new_unchecked(raw) };
        Self {
            arena,
            nframes,
            free: (0..nframes as u32).rev().collect(),
            ports: (0..ports)
                .map(|i| MemPort {
                    name: format!("mem{i}"),
                    ..MemPort::default()
                })
                .collect(),
        }
    }

    /// Queues `packet` to be received on `port`. False if the port does not exist.
    pub fn inject(&mut self, port: PortId, packet: &[u8]) -> bool {
        match self.ports.get_mut(port as usize) {
            Some(p) => {
                p.rx.push_back(packet.to_vec());
                true
            }
            None => false,
        }
    }

    /// Packets sent on `port` since the last call, in order.
    pub fn take_sent(&mut self, port: PortId) -> Vec<Vec<u8>> {
        self.ports
            .get_mut(port as usize)
            .map(|p| std::mem::take(&mut p.sent))
            .unwrap_or_default()
    }

    /// Packets injected on `port` and not yet received.
    pub fn pending_rx(&self, port: PortId) -> usize {
        self.ports.get(port as usize).map_or(0, |p| p.rx.len())
    }

    /// Writes the packets sent on `port` so far (not yet taken) as a pcap file.
    pub fn write_pcap(&self, port: PortId, path: &Path) -> io::Result<()> {
        let port = self
            .ports
            .get(port as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such port"))?;
        let mut out = io::BufWriter::new(std::fs::File::create(path)?);
        write_pcap(&mut out, &port.sent)?;
        out.flush()
    }

    fn slot_ptr(&self, slot: u32) -> NonNull<u8> {
        // SAFETY: callers pass slot < nframes, so the offset stays inside the arena.
        unsafe { self.arena.add(slot as usize * MEM_FRAME_SIZE) }
    }

    fn owns(&self, frame: &Frame) -> bool {
        let slot = frame.token() as usize;
        slot < self.nframes && frame.buf_ptr() == self.slot_ptr(slot as u32).as_ptr()
    }

    fn take_slot(&mut self) -> Option<Frame> {
        let slot = self.free.pop()?;
        // SAFETY: the slot was on the free list, so no other frame refers to it; the arena
        // is only freed in Drop when no frame is out, else leaked.
        Some(unsafe {
            Frame::from_raw(
                self.slot_ptr(slot),
                MEM_FRAME_SIZE as u32,
                DEFAULT_HEADROOM as u32,
                0,
                slot as u64,
            )
        })
    }
}

impl Drop for MemBackend {
    fn drop(&mut self) {
        if self.free.len() != self.nframes {
            // Frames are still out and point into the arena: leak it rather than free it.
            log::warn!(
                "MemBackend dropped with {} frames out; leaking its arena",
                self.in_flight()
            );
            return;
        }
        let slice =
            std::ptr::slice_from_raw_parts_mut(self.arena.as_ptr(), self.nframes * MEM_FRAME_SIZE);
        // SAFETY: the pointer came from `Box::into_raw` of a slice of this length and no
        // frame refers to it any more.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl Backend for MemBackend {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    fn port_name(&self, port: PortId) -> &str {
        self.ports
            .get(port as usize)
            .map_or("?", |p| p.name.as_str())
    }

    fn mode(&self) -> IoMode {
        IoMode::Memory
    }

    fn rx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize {
        let mut n = 0;
        while batch.space() > 0 {
            let Some(p) = self.ports.get_mut(port as usize) else {
                break;
            };
            let Some(pkt) = p.rx.pop_front() else { break };
            let Some(mut frame) = self.take_slot() else {
                // Out of frames: leave the packet queued, like a full fill ring.
                self.ports[port as usize].rx.push_front(pkt);
                break;
            };
            let p = &mut self.ports[port as usize];
            if !frame.copy_from(&pkt) {
                p.stats.rx_dropped += 1;
                self.free(frame);
                continue;
            }
            p.stats.rx_packets += 1;
            p.stats.rx_bytes += pkt.len() as u64;
            // Cannot fail: space() > 0 was checked above.
            if let Err(f) = batch.push(frame) {
                self.free(f);
                break;
            }
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize {
        let mut n = 0;
        for f in batch.drain() {
            let own = self.owns(&f);
            match self.ports.get_mut(port as usize) {
                Some(p) if own => {
                    p.stats.tx_packets += 1;
                    p.stats.tx_bytes += f.len() as u64;
                    p.sent.push(f.data().to_vec());
                    n += 1;
                }
                Some(p) => {
                    p.stats.tx_dropped += 1;
                }
                None => {}
            }
            if own {
                self.free(f);
            } else {
                // Not ours: cannot recycle it here; forgetting it is the only safe move.
                f.into_token();
            }
        }
        n
    }

    fn alloc(&mut self) -> Option<Frame> {
        self.take_slot()
    }

    fn free(&mut self, frame: Frame) {
        if self.owns(&frame) {
            self.free.push(frame.token() as u32);
        } else {
            frame.into_token();
        }
    }

    fn stats(&self, port: PortId) -> PortStats {
        self.ports
            .get(port as usize)
            .map_or_else(PortStats::default, |p| p.stats)
    }

    fn in_flight(&self) -> usize {
        self.nframes - self.free.len()
    }
}

/// Writes `packets` as a pcap (microsecond, Ethernet) stream with zero timestamps.
pub fn write_pcap<W: Write>(out: &mut W, packets: &[Vec<u8>]) -> io::Result<()> {
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
    for p in packets {
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&(p.len() as u32).to_le_bytes())?;
        out.write_all(&(p.len() as u32).to_le_bytes())?;
        out.write_all(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_modify_tx_roundtrip() {
        let mut b = MemBackend::new(2, 8);
        assert!(b.inject(0, &[1, 2, 3, 4]));
        let mut batch = Batch::new();
        assert_eq!(b.rx_burst(0, &mut batch), 1);
        batch.frames_mut()[0].data_mut()[0] = 9;
        let hdr = batch.frames_mut()[0].push_head(2).expect("headroom");
        hdr.copy_from_slice(&[7, 7]);
        assert_eq!(b.tx_burst(1, &mut batch), 1);
        assert!(batch.is_empty());
        assert_eq!(b.take_sent(1), vec![vec![7, 7, 9, 2, 3, 4]]);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.stats(0).rx_packets, 1);
        assert_eq!(b.stats(1).tx_bytes, 6);
    }

    #[test]
    fn pool_exhaustion_and_clone() {
        let mut b = MemBackend::new(1, 2);
        let mut f = b.alloc().expect("frame");
        assert!(f.copy_from(b"abc"));
        let c = b.clone_frame(&f).expect("clone");
        assert_eq!(c.data(), b"abc");
        assert!(b.alloc().is_none());
        assert!(b.clone_frame(&f).is_none());
        f.data_mut()[0] = b'x';
        assert_eq!(c.data(), b"abc");
        b.free(f);
        b.free(c);
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn frame_bounds_are_checked() {
        let mut b = MemBackend::new(1, 1);
        let mut f = b.alloc().expect("frame");
        assert!(f.push_head(DEFAULT_HEADROOM + 1).is_none());
        assert!(!f.pull_head(1));
        assert!(!f.set_len(MEM_FRAME_SIZE));
        assert!(f.set_len(MEM_FRAME_SIZE - DEFAULT_HEADROOM));
        assert_eq!(f.tailroom(), 0);
        b.free(f);
    }

    #[test]
    fn full_pool_keeps_packets_queued() {
        let mut b = MemBackend::new(1, 1);
        b.inject(0, b"one");
        b.inject(0, b"two");
        let mut batch = Batch::new();
        assert_eq!(b.rx_burst(0, &mut batch), 1);
        assert_eq!(b.pending_rx(0), 1);
        b.free_batch(&mut batch);
        assert_eq!(b.rx_burst(0, &mut batch), 1);
        assert_eq!(batch.frames()[0].data(), b"two");
        b.free_batch(&mut batch);
    }

    #[test]
    fn pcap_has_header_and_records() {
        let mut out = Vec::new();
        write_pcap(&mut out, &[vec![0xaa; 3]]).expect("write to vec");
        assert_eq!(out.len(), 24 + 16 + 3);
        assert_eq!(&out[..4], &0xa1b2_c3d4u32.to_le_bytes());
    }
}
