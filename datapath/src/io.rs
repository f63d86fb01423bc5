//! Packet I/O seam: the [`Backend`] trait that keeps the worker loop independent of how
//! frames reach it (AF_XDP in [`crate::afxdp`], in-memory in [`crate::mem`], DPDK later).
//!
//! # Model
//! One backend instance belongs to one worker thread. Its ports are numbered `0..n`
//! ([`PortId`]); for AF_XDP a port is one (interface, rx/tx queue) socket, all sockets of a
//! worker sharing one UMEM so a frame received on one port can be sent on another without a
//! copy. Frames move in batches of up to [`BURST`].
//!
//! # Frame ownership rules
//! - A [`Frame`] is a unique handle to one packet buffer inside the backend's memory (a UMEM
//!   chunk, an arena slot, later an mbuf). It is neither `Clone` nor `Send`.
//! - Frames come from [`Backend::rx_burst`] or [`Backend::alloc`] and must go back to the
//!   *same* backend through exactly one of [`Backend::tx_burst`] (ownership passes to the
//!   device; the buffer is recycled after transmit completes) or [`Backend::free`].
//! - Dropping a `Frame` instead leaks its buffer until the backend is dropped (the memory
//!   stays mapped, so this is never unsound, only wasteful); [`Backend::in_flight`] lets
//!   tests assert that nothing leaked.
//! - Bytes are read and modified in place ([`Frame::data_mut`]); headers are pushed into or
//!   pulled from the headroom ([`Frame::push_head`], [`Frame::pull_head`]).
//! - Multi-output: send the original to one port and [`Backend::clone_frame`] (a copy into
//!   a fresh buffer) to each other port.
//!
//! The per-packet calls here never allocate, lock or log; AF_XDP makes at most one
//! `sendto`/`recvfrom` per burst, and only when the kernel asks for a wakeup.

use std::{marker::PhantomData, ptr::NonNull, time::Duration};

/// Index of a port within one backend instance.
pub type PortId = u16;

/// Largest batch the backends move at once (and the capacity of a [`Batch`]).
pub const BURST: usize = 64;

/// Headroom the in-memory backend and fresh allocations leave in front of the data
/// (AF_XDP frames get the kernel's `XDP_PACKET_HEADROOM`, also 256).
pub const DEFAULT_HEADROOM: usize = 256;

/// A unique handle to one packet buffer in a backend's memory. See the module docs for the
/// ownership rules.
#[derive(Debug)]
pub struct Frame {
    /// Start of the whole buffer (headroom included).
    buf: NonNull<u8>,
    /// Offset of the first packet byte within the buffer.
    head: u32,
    /// Packet length in bytes.
    len: u32,
    /// Size of the whole buffer.
    cap: u32,
    /// Backend bookkeeping (UMEM chunk address, arena slot, mbuf pointer).
    token: u64,
    /// Frames point into single-threaded backend memory: not `Send`, not `Sync`.
    _not_send: PhantomData<*mut u8>,
}

impl Frame {
    /// Builds a frame over backend memory.
    ///
    /// # Safety
    /// `buf..buf+cap` must be valid for reads and writes, not accessed by anyone else (the
    /// kernel included) while this frame exists, and must stay mapped for as long as the
    /// frame or any frame rebuilt from its parts exists (backends leak their memory rather
    /// than unmap it while frames are out). `head + len <= cap` must hold.
    pub unsafe fn from_raw(buf: NonNull<u8>, cap: u32, head: u32, len: u32, token: u64) -> Self {
        debug_assert!(head as u64 + len as u64 <= cap as u64);
        Self {
            buf,
            head,
            len,
            cap,
            token,
            _not_send: PhantomData,
        }
    }

    /// Backend bookkeeping value given to [`Frame::from_raw`].
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Ends the handle and returns its token (backends call this when the buffer goes back
    /// to the pool or to the device).
    pub fn into_token(self) -> u64 {
        self.token
    }

    /// Start of the whole buffer; backends use it to check that a frame is theirs.
    pub fn buf_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }

    /// Offset of the first packet byte from the start of the buffer.
    pub fn head_offset(&self) -> u32 {
        self.head
    }

    /// Packet length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a zero-length frame (fresh from [`Backend::alloc`]).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes free in front of the packet.
    pub fn headroom(&self) -> usize {
        self.head as usize
    }

    /// Bytes free after the packet.
    pub fn tailroom(&self) -> usize {
        (self.cap - self.head - self.len) as usize
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `from_raw`'s contract makes buf..buf+cap valid and exclusively ours;
        // head + len <= cap is kept by every mutator below.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(self.head as usize), self.len()) }
    }

    /// The packet bytes, writable in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` makes this the only live view.
        unsafe {
            std::slice::from_raw_parts_mut(self.buf.as_ptr().add(self.head as usize), self.len())
        }
    }

    /// Grows the packet at the front by `n` bytes taken from the headroom and returns the
    /// new first `n` bytes (uninitialised contents: the caller writes the header). `None`
    /// (frame unchanged) if the headroom is too small.
    pub fn push_head(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        self.head -= n as u32;
        self.len += n as u32;
        Some(&mut self.data_mut()[..n])
    }

    /// Removes `n` bytes from the front of the packet. False (frame unchanged) if the packet
    /// is shorter than `n`.
    pub fn pull_head(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.head += n as u32;
        self.len -= n as u32;
        true
    }

    /// Sets the packet length (shrinking, or growing into the tailroom; grown bytes hold
    /// whatever the buffer held). False (frame unchanged) if it does not fit.
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > (self.cap - self.head) as usize {
            return false;
        }
        self.len = len as u32;
        true
    }

    /// Replaces the packet with `bytes`, keeping the current headroom. False (frame
    /// unchanged) if it does not fit.
    pub fn copy_from(&mut self, bytes: &[u8]) -> bool {
        if !self.set_len(bytes.len()) {
            return false;
        }
        self.data_mut().copy_from_slice(bytes);
        true
    }

    /// Resets the frame to empty with `headroom` bytes in front (clamped to the buffer).
    pub fn reset(&mut self, headroom: usize) {
        self.head = headroom.min(self.cap as usize) as u32;
        self.len = 0;
    }
}

/// A fixed-capacity batch of frames ([`BURST`]); its storage is allocated once.
#[derive(Debug)]
pub struct Batch {
    frames: Vec<Frame>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// An empty batch with room for [`BURST`] frames.
    pub fn new() -> Self {
        Self {
            frames: Vec::with_capacity(BURST),
        }
    }

    /// Number of frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True if no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Room left before the batch is full.
    pub fn space(&self) -> usize {
        BURST.saturating_sub(self.frames.len())
    }

    /// Appends a frame; gives it back if the batch is full (never reallocates).
    pub fn push(&mut self, frame: Frame) -> Result<(), Frame> {
        if self.frames.len() >= BURST {
            return Err(frame);
        }
        self.frames.push(frame);
        Ok(())
    }

    /// Removes the last frame.
    pub fn pop(&mut self) -> Option<Frame> {
        self.frames.pop()
    }

    /// The frames, for in-place inspection or rewriting.
    pub fn frames_mut(&mut self) -> &mut [Frame] {
        &mut self.frames
    }

    /// The frames, read-only.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Takes every frame out, in order, leaving the batch empty (storage kept).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Frame> {
        self.frames.drain(..)
    }
}

/// Per-port counters kept by a backend (single-threaded, read with [`Backend::stats`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    /// Frames handed to the worker by `rx_burst`.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames the device dropped on receive (AF_XDP: kernel's rx_dropped + rx ring full).
    pub rx_dropped: u64,
    /// Frames queued for transmit by `tx_burst`.
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames `tx_burst` could not queue (ring full, or a frame of another backend).
    pub tx_dropped: u64,
}

/// How the AF_XDP sockets are bound (or `Memory` for the test backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// AF_XDP zero-copy: the NIC DMAs straight into the UMEM.
    ZeroCopy,
    /// AF_XDP copy mode: the kernel copies between its buffers and the UMEM.
    Copy,
    /// In-memory test backend.
    Memory,
}

/// Packet I/O for one worker. See the module docs for the model and ownership rules.
pub trait Backend {
    /// Number of ports (ports are `0..port_count()`).
    fn port_count(&self) -> usize;

    /// Human-readable port name (interface and queue for AF_XDP).
    fn port_name(&self, port: PortId) -> &str;

    /// How the backend moves bytes.
    fn mode(&self) -> IoMode;

    /// Appends up to `batch.space()` received frames from `port` to `batch`; returns how
    /// many were appended. An unknown port yields 0.
    fn rx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize;

    /// Queues every frame of `batch` for transmit on `port`, leaving `batch` empty. Frames
    /// that cannot be queued are freed and counted in `tx_dropped`. Returns how many were
    /// queued.
    fn tx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize;

    /// A fresh empty frame with [`DEFAULT_HEADROOM`] (or the device's) in front, for
    /// generated packets; `None` when the pool is exhausted.
    fn alloc(&mut self) -> Option<Frame>;

    /// Returns a frame to the pool.
    fn free(&mut self, frame: Frame);

    /// Frees every frame of `batch`.
    fn free_batch(&mut self, batch: &mut Batch) {
        for f in batch.drain() {
            self.free(f);
        }
    }

    /// A copy of `frame` in a fresh buffer (same headroom), for multi-output.
    fn clone_frame(&mut self, frame: &Frame) -> Option<Frame> {
        let mut copy = self.alloc()?;
        copy.reset(frame.headroom());
        if copy.copy_from(frame.data()) {
            Some(copy)
        } else {
            self.free(copy);
            None
        }
    }

    /// Counters of `port` (zeroes for an unknown port).
    fn stats(&self, port: PortId) -> PortStats;

    /// Frames currently out of the backend's hands (held by the caller, not yet given back
    /// through `tx_burst` or `free`). Zero when nothing leaked.
    fn in_flight(&self) -> usize;

    /// Housekeeping outside the per-packet path: reclaim completed transmits, refill
    /// receive rings, kick the kernel. Workers call it once per loop iteration.
    fn maintain(&mut self) {}

    /// Blocks until some port may have frames to receive or `timeout` passes (a worker
    /// with nothing to do calls this instead of spinning). Default: returns at once.
    fn wait_rx(&mut self, timeout: Duration) {
        let _ = timeout;
    }
}
