//! AF_XDP [`Backend`]: one socket per port (an interface and one of its queues), all
//! sockets of a backend (= one worker) sharing one UMEM, so forwarding between ports is
//! zero-copy in userspace: the received chunk is put on the other socket's tx ring as is.
//!
//! Frame life cycle: a chunk address sits on exactly one of the free stack, a fill ring, the
//! kernel's rx path, a caller-held [`Frame`], a tx ring or the completion ring. `rx_burst`
//! tops each fill ring back up to its share; `tx_burst` and `maintain` reclaim completions.
//!
//! Sockets bind with `XDP_USE_NEED_WAKEUP`; `sendto` / `recvfrom` are issued only when the
//! kernel sets the wakeup flag (always in copy mode for tx). The zero-copy attempt binds
//! every socket with `XDP_ZEROCOPY`; if any refuses, the whole backend is rebuilt in copy
//! mode (sockets sharing a UMEM inherit its mode, so one port cannot differ).
//!
//! Not done yet: multi-buffer (jumbo) frames, unaligned chunks, tx metadata offloads.
//! The XDP program that feeds the sockets is attached separately ([`crate::xdp`]); register
//! each socket with [`crate::xdp::XdpAttachment::register`] after [`AfXdpBackend::open`].

mod ring;
mod socket;

use std::{
    io,
    os::fd::{AsFd, BorrowedFd},
    time::Duration,
};

use crate::io::{Backend, Batch, Frame, IoMode, PortId, PortStats};
use ring::Mmap;
use socket::XskPort;

/// UMEM chunk size (aligned mode: one page per frame).
pub const FRAME_SIZE: usize = 4096;
/// Where the kernel puts received data in a chunk, and fresh frames' headroom.
pub const XDP_HEADROOM: usize = 256;

/// One port of the backend: an interface and the queue this worker serves on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Interface name.
    pub ifname: String,
    /// Queue index (rx and tx) on that interface.
    pub queue: u32,
}

/// Zero-copy policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// Try zero-copy, fall back to copy mode.
    #[default]
    Auto,
    /// Copy mode only.
    Never,
    /// Zero-copy or fail.
    Require,
}

/// Sizing and mode of an [`AfXdpBackend`].
#[derive(Debug, Clone)]
pub struct AfXdpConfig {
    /// UMEM chunks shared by all ports of the backend.
    pub frames: u32,
    /// Entries in each rx, tx, fill and completion ring (power of two).
    pub ring_size: u32,
    /// Chunks kept on each port's fill ring (clamped so half the UMEM stays free).
    pub fill_per_port: u32,
    /// Zero-copy policy.
    pub zero_copy: ZeroCopy,
}

impl Default for AfXdpConfig {
    fn default() -> Self {
        Self {
            frames: 4096,
            ring_size: 2048,
            fill_per_port: 1024,
            zero_copy: ZeroCopy::Auto,
        }
    }
}

/// Errors from opening the backend.
#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    /// Bad configuration.
    #[error("invalid AF_XDP configuration: {0}")]
    Config(String),
    /// A system call failed.
    #[error("{what} on {port}: {source}")]
    Sys {
        /// What was attempted.
        what: &'static str,
        /// Port (`ifname@queue`) or `umem`.
        port: String,
        /// The OS error.
        source: io::Error,
    },
}

/// The AF_XDP backend of one worker. See the module docs.
#[derive(Debug)]
pub struct AfXdpBackend {
    // Field order is drop order: sockets (and their rings) before the UMEM they use.
    ports: Vec<XskPort>,
    umem: Option<Mmap>,
    free: Vec<u64>,
    frames: u32,
    fill_target: u32,
    mode: IoMode,
}

// SAFETY: the backend exclusively owns its UMEM and rings; raw pointers into them are only
// dereferenced through `&mut self`. Frames it handed out are !Send and refer to chunks the
// backend no longer touches, so moving the backend to another thread creates no sharing.
unsafe impl Send for AfXdpBackend {}

impl AfXdpBackend {
    /// Creates the UMEM and binds one socket per port, trying zero-copy first as the
    /// config says. Ports must be distinct (interface, queue) pairs.
    pub fn open(ports: &[PortSpec], cfg: &AfXdpConfig) -> Result<Self, AfXdpError> {
        validate(ports, cfg)?;
        match cfg.zero_copy {
            ZeroCopy::Never => Self::build(ports, cfg, IoMode::Copy),
            ZeroCopy::Require => Self::build(ports, cfg, IoMode::ZeroCopy),
            ZeroCopy::Auto => match Self::build(ports, cfg, IoMode::ZeroCopy) {
                Ok(b) => Ok(b),
                Err(e) => {
                    log::info!("AF_XDP zero-copy unavailable ({e}); using copy mode");
                    Self::build(ports, cfg, IoMode::Copy)
                }
            },
        }
    }

    fn build(specs: &[PortSpec], cfg: &AfXdpConfig, mode: IoMode) -> Result<Self, AfXdpError> {
        let umem = Mmap::anonymous(cfg.frames as usize * FRAME_SIZE).map_err(|source| {
            AfXdpError::Sys {
                what: "mmap UMEM",
                port: "umem".into(),
                source,
            }
        })?;
        let mut ports: Vec<XskPort> = Vec::with_capacity(specs.len());
        for spec in specs {
            let primary = ports.first().map(|p| p.fd());
            let port = XskPort::open(spec, &umem, cfg.ring_size, mode, primary)?;
            ports.push(port);
        }
        let per_port = (cfg.frames / 2) / specs.len() as u32;
        let fill_target = cfg.fill_per_port.min(per_port).min(cfg.ring_size);
        let mut b = Self {
            ports,
            free: (0..cfg.frames as u64)
                .rev()
                .map(|i| i * FRAME_SIZE as u64)
                .collect(),
            umem: Some(umem),
            frames: cfg.frames,
            fill_target,
            mode,
        };
        for i in 0..b.ports.len() {
            b.refill(i);
        }
        Ok(b)
    }

    /// The socket of `port`, to register in the XDP program's XSKMAP.
    pub fn socket_fd(&self, port: PortId) -> Option<BorrowedFd<'_>> {
        self.ports.get(port as usize).map(|p| p.fd())
    }

    /// Registers every port's socket in the XSKMAP of the attachment for its interface
    /// (frames of that queue start flowing to the socket). Every port's interface needs an
    /// attachment in `attachments`.
    pub fn register_sockets(
        &self,
        attachments: &mut [crate::xdp::XdpAttachment],
    ) -> Result<(), crate::xdp::XdpError> {
        for p in &self.ports {
            let att = attachments
                .iter_mut()
                .find(|a| a.ifname() == p.spec.ifname)
                .ok_or_else(|| crate::xdp::XdpError::Map {
                    ifname: p.spec.ifname.clone(),
                    queue: p.spec.queue,
                    reason: "no XDP attachment for this interface".into(),
                })?;
            att.register(p.spec.queue, p.fd())?;
        }
        Ok(())
    }

    /// The (interface, queue) of `port`.
    pub fn port_spec(&self, port: PortId) -> Option<&PortSpec> {
        self.ports.get(port as usize).map(|p| &p.spec)
    }

    fn umem_base(&self) -> *mut u8 {
        self.umem
            .as_ref()
            .map_or(std::ptr::null_mut(), |m| m.as_ptr())
    }

    /// The chunk a frame lives in, if it is one of ours.
    fn chunk_of(&self, frame: &Frame) -> Option<u64> {
        let chunk = frame.token();
        let ours = chunk.is_multiple_of(FRAME_SIZE as u64)
            && chunk < self.frames as u64 * FRAME_SIZE as u64
            && frame.buf_ptr() == self.umem_base().wrapping_add(chunk as usize);
        ours.then_some(chunk)
    }

    fn frame_at(&self, chunk: u64, head: u32, len: u32) -> Frame {
        let buf = self.umem_base().wrapping_add(chunk as usize);
        // SAFETY: `chunk` is a chunk base inside the UMEM (callers mask and bound it) that
        // just left the free stack or the rx ring, so only this frame refers to it; the UMEM
        // is leaked rather than unmapped while frames are out (Drop).
        unsafe {
            Frame::from_raw(
                std::ptr::NonNull::new_unchecked(buf),
                FRAME_SIZE as u32,
                head,
                len,
                chunk,
            )
        }
    }

    /// Tops `port`'s fill ring up to its share from the free stack.
    fn refill(&mut self, port: usize) {
        let p = &mut self.ports[port];
        let want = self.fill_target.saturating_sub(p.in_fill);
        let n = p.fill.free(want).min(want).min(self.free.len() as u32);
        for i in 0..n {
            // `n <= free.len()`: pop cannot fail.
            let addr = self.free.pop().unwrap_or_default();
            p.fill.write(i, addr);
        }
        if n > 0 {
            p.fill.submit(n);
            p.in_fill += n;
        }
    }

    /// Moves completed transmits of `port` back to the free stack.
    fn reclaim(&mut self, port: usize) {
        let p = &mut self.ports[port];
        let n = p.comp.available(u32::MAX);
        for i in 0..n {
            let addr = p.comp.read(i) & !(FRAME_SIZE as u64 - 1);
            self.free.push(addr);
        }
        if n > 0 {
            p.comp.release(n);
            p.in_tx = p.in_tx.saturating_sub(n);
        }
    }
}

fn validate(ports: &[PortSpec], cfg: &AfXdpConfig) -> Result<(), AfXdpError> {
    if ports.is_empty() || ports.len() > PortId::MAX as usize {
        return Err(AfXdpError::Config(format!("{} ports", ports.len())));
    }
    if !cfg.ring_size.is_power_of_two() || cfg.frames < 2 * ports.len() as u32 {
        return Err(AfXdpError::Config(format!(
            "ring_size {} must be a power of two and frames {} at least 2 per port",
            cfg.ring_size, cfg.frames
        )));
    }
    for (i, a) in ports.iter().enumerate() {
        if ports[..i].contains(a) {
            return Err(AfXdpError::Config(format!(
                "{}@{} listed twice",
                a.ifname, a.queue
            )));
        }
    }
    Ok(())
}

impl Drop for AfXdpBackend {
    fn drop(&mut self) {
        let out = self.in_flight();
        self.ports.clear(); // close sockets before the UMEM goes
        if out > 0 {
            log::warn!("AF_XDP backend dropped with {out} frames out; leaking its UMEM");
            if let Some(m) = self.umem.take() {
                m.leak();
            }
        }
    }
}

impl Backend for AfXdpBackend {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    fn port_name(&self, port: PortId) -> &str {
        self.ports
            .get(port as usize)
            .map_or("?", |p| p.name.as_str())
    }

    fn mode(&self) -> IoMode {
        self.mode
    }

    fn rx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize {
        let idx = port as usize;
        let umem_len = self.frames as u64 * FRAME_SIZE as u64;
        let Some(p) = self.ports.get_mut(idx) else {
            return 0;
        };
        let n = p.rx.available(batch.space() as u32);
        let mut got = 0;
        for i in 0..n {
            let d: libc::xdp_desc = self.ports[idx].rx.read(i);
            let chunk = d.addr & !(FRAME_SIZE as u64 - 1);
            let head = (d.addr - chunk) as u32;
            if chunk >= umem_len || head as usize + d.len as usize > FRAME_SIZE {
                // The kernel never does this; count it, recycle the chunk if it is ours,
                // and never hand out a frame that straddles chunks.
                self.ports[idx].stats.rx_dropped += 1;
                if chunk < umem_len {
                    self.free.push(chunk);
                }
                continue;
            }
            let frame = self.frame_at(chunk, head, d.len);
            let p = &mut self.ports[idx];
            p.stats.rx_packets += 1;
            p.stats.rx_bytes += d.len as u64;
            if let Err(f) = batch.push(frame) {
                // Cannot happen (n <= space), but never lose a chunk.
                self.free.push(f.into_token());
            } else {
                got += 1;
            }
        }
        let p = &mut self.ports[idx];
        if n > 0 {
            p.rx.release(n);
            p.in_fill = p.in_fill.saturating_sub(n);
        }
        self.refill(idx);
        let p = &mut self.ports[idx];
        if n == 0 && p.fill.needs_wakeup() {
            p.wake_rx();
        }
        got
    }

    fn tx_burst(&mut self, port: PortId, batch: &mut Batch) -> usize {
        let idx = port as usize;
        if idx >= self.ports.len() {
            self.free_batch(batch);
            return 0;
        }
        self.reclaim(idx);
        let room = self.ports[idx].tx.free(batch.len() as u32);
        let mut queued = 0u32;
        for f in batch.drain() {
            let chunk = self.chunk_of(&f);
            let p = &mut self.ports[idx];
            match chunk {
                Some(chunk) if queued < room => {
                    let desc = libc::xdp_desc {
                        addr: chunk + f.head_offset() as u64,
                        len: f.len() as u32,
                        options: 0,
                    };
                    p.tx.write(queued, desc);
                    queued += 1;
                    p.stats.tx_packets += 1;
                    p.stats.tx_bytes += f.len() as u64;
                    // Ownership passes to the kernel until the completion ring returns it.
                    f.into_token();
                }
                Some(_) => {
                    p.stats.tx_dropped += 1;
                    self.free.push(f.into_token());
                }
                None => {
                    // Another backend's frame: not recyclable here.
                    p.stats.tx_dropped += 1;
                    f.into_token();
                }
            }
        }
        let p = &mut self.ports[idx];
        if queued > 0 {
            p.tx.submit(queued);
            p.in_tx += queued;
            if p.tx.needs_wakeup() {
                p.wake_tx();
            }
        }
        queued as usize
    }

    fn alloc(&mut self) -> Option<Frame> {
        let chunk = self.free.pop()?;
        Some(self.frame_at(chunk, XDP_HEADROOM as u32, 0))
    }

    fn free(&mut self, frame: Frame) {
        // A frame of another backend is not recyclable here: its handle just ends.
        if self.chunk_of(&frame).is_some() {
            self.free.push(frame.into_token());
        }
    }

    fn stats(&self, port: PortId) -> PortStats {
        let Some(p) = self.ports.get(port as usize) else {
            return PortStats::default();
        };
        let mut s = p.stats;
        if let Ok(k) = p.kernel_stats() {
            s.rx_dropped += k.rx_dropped + k.rx_ring_full;
        }
        s
    }

    fn in_flight(&self) -> usize {
        let held: u32 = self.ports.iter().map(|p| p.in_fill + p.in_tx).sum();
        (self.frames as usize).saturating_sub(self.free.len() + held as usize)
    }

    fn maintain(&mut self) {
        for i in 0..self.ports.len() {
            self.reclaim(i);
            let p = &mut self.ports[i];
            if p.tx.pending() > 0 && p.tx.needs_wakeup() {
                p.wake_tx();
            }
            self.refill(i);
        }
    }

    /// Polls the sockets of the first 16 ports (POLLIN); in copy mode the poll also lets
    /// the kernel push pending transmits.
    fn wait_rx(&mut self, timeout: Duration) {
        let mut fds: [libc::pollfd; 16] = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; 16];
        let n = self.ports.len().min(fds.len());
        for (slot, p) in fds.iter_mut().zip(&self.ports) {
            slot.fd = std::os::fd::AsRawFd::as_raw_fd(&p.fd().as_fd());
            slot.events = libc::POLLIN;
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds[..n]` is a valid pollfd array for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, ms) };
    }
}
