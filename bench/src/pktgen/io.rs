//! Packet I/O for pktgen: AF_XDP through `datapath`'s backend (the real thing; copy mode
//! on veth) and a raw AF_PACKET socket as a clearly labelled fallback for comparison.
//!
//! AF_XDP transmit keeps the template in every UMEM chunk it has used once (a bitmap says
//! which), so a packet costs only the stamp rewrite. The sink attaches southpaw's XDP
//! program and registers its socket, so every frame of the queue lands in userspace.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::Duration,
};

use anyhow::{Context, Result};
use datapath::{
    afxdp::{AfXdpBackend, AfXdpConfig, PortSpec, ZeroCopy, FRAME_SIZE},
    io::{Backend, Batch, IoMode, BURST},
    xdp::{XdpAttachMode, XdpAttachment},
};

use super::{ifindex, packet::Generator};

/// Which socket family moves the packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoKind {
    /// AF_XDP (copy or zero-copy, whatever the driver offers).
    Xdp,
    /// Raw AF_PACKET socket (fallback, for comparison).
    Packet,
    /// AF_XDP, falling back to AF_PACKET (said so on stderr and in the summary).
    Auto,
}

/// Transmit side.
pub enum TxIo {
    Xdp(Box<XdpTx>),
    Packet(PacketSock),
}

/// AF_XDP transmit state.
pub struct XdpTx {
    backend: AfXdpBackend,
    batch: Batch,
    initialised: Vec<bool>,
    template: Vec<u8>,
    /// Frames the tx ring took last time it was short of room (0: it was not).
    last_room: usize,
}

/// Receive side.
pub enum RxIo {
    Xdp(Box<XdpRx>),
    Packet(PacketSock),
}

/// AF_XDP receive state (the attachment detaches on drop).
pub struct XdpRx {
    backend: AfXdpBackend,
    batch: Batch,
    _att: XdpAttachment,
}

fn mode_label(m: IoMode) -> &'static str {
    match m {
        IoMode::ZeroCopy => "af_xdp(zero-copy)",
        IoMode::Copy => "af_xdp(copy)",
        IoMode::Memory => "memory",
    }
}

impl TxIo {
    /// Opens the transmit path on `ifname`/`queue`.
    pub fn open(kind: IoKind, ifname: &str, queue: u32, template: &[u8]) -> Result<Self> {
        let xdp = || -> Result<Self> {
            let cfg = AfXdpConfig {
                frames: 4096,
                ring_size: 2048,
                fill_per_port: 0,
                zero_copy: ZeroCopy::Auto,
            };
            let backend = AfXdpBackend::open(
                &[PortSpec {
                    ifname: ifname.into(),
                    queue,
                }],
                &cfg,
            )
            .with_context(|| format!("AF_XDP socket on {ifname} queue {queue}"))?;
            Ok(TxIo::Xdp(Box::new(XdpTx {
                backend,
                batch: Batch::new(),
                initialised: vec![false; cfg.frames as usize],
                template: template.to_vec(),
                last_room: 0,
            })))
        };
        open_with_fallback(kind, xdp, || {
            PacketSock::open(ifname, template).map(TxIo::Packet)
        })
    }

    /// "af_xdp(copy)", "af_packet", ...
    pub fn label(&self) -> &'static str {
        match self {
            TxIo::Xdp(x) => mode_label(x.backend.mode()),
            TxIo::Packet(_) => "af_packet",
        }
    }

    /// Stamps and sends up to `n` (<= [`BURST`]) packets with timestamp `ts`; returns how
    /// many left. Stamps of packets that did not leave are unwound in `gen`.
    #[inline]
    pub fn send(&mut self, gen: &mut Generator, n: usize, ts: u64) -> usize {
        match self {
            TxIo::Xdp(x) => x.send(gen, n, ts),
            TxIo::Packet(p) => p.send(gen, n, ts),
        }
    }

    /// Sends one frame built by `f` from the template (end markers); best effort.
    pub fn send_raw(&mut self, f: impl FnOnce(&mut [u8])) -> bool {
        match self {
            TxIo::Xdp(x) => {
                let Some(mut fr) = x.backend.alloc() else {
                    return false;
                };
                if !fr.copy_from(&x.template) {
                    x.backend.free(fr);
                    return false;
                }
                // This chunk no longer holds the plain template.
                if let Some(slot) = x
                    .initialised
                    .get_mut((fr.token() / FRAME_SIZE as u64) as usize)
                {
                    *slot = false;
                }
                f(fr.data_mut());
                let _ = x.batch.push(fr);
                x.backend.tx_burst(0, &mut x.batch) == 1
            }
            TxIo::Packet(p) => {
                let mut buf = p.template.clone();
                f(&mut buf);
                // SAFETY: `buf` is a valid buffer of its length; the socket is bound.
                unsafe { libc::send(p.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) > 0 }
            }
        }
    }

    /// Housekeeping: reclaims completions and kicks pending transmits.
    pub fn maintain(&mut self) {
        if let TxIo::Xdp(x) = self {
            x.backend.maintain();
        }
    }

    /// Device-level transmit drops seen by the backend (AF_XDP ring full).
    pub fn tx_dropped(&self) -> u64 {
        match self {
            TxIo::Xdp(x) => x.backend.stats(0).tx_dropped,
            TxIo::Packet(_) => 0,
        }
    }
}

impl XdpTx {
    #[inline]
    fn send(&mut self, gen: &mut Generator, n: usize, ts: u64) -> usize {
        let len = self.template.len();
        // After a short ring, stamp only about what it took then (plus some), instead of
        // stamping frames that will be dropped and unwound.
        let n = if self.last_room > 0 {
            n.min(self.last_room + 8)
        } else {
            n
        };
        for _ in 0..n.min(BURST) {
            let Some(mut f) = self.backend.alloc() else {
                break;
            };
            if !f.set_len(len) {
                self.backend.free(f);
                break;
            }
            let idx = (f.token() / FRAME_SIZE as u64) as usize;
            if let Some(done) = self.initialised.get_mut(idx) {
                if !*done {
                    f.data_mut().copy_from_slice(&self.template);
                    *done = true;
                }
            }
            gen.stamp(f.data_mut(), ts);
            if let Err(f) = self.batch.push(f) {
                self.backend.free(f);
                gen.unwind(1);
                break;
            }
        }
        let stamped = self.batch.len();
        let queued = self.backend.tx_burst(0, &mut self.batch);
        gen.unwind(stamped - queued);
        if queued < stamped {
            self.last_room = queued.max(1);
            self.backend.maintain();
        } else {
            self.last_room = 0;
        }
        queued
    }
}

impl RxIo {
    /// Opens the receive path: for AF_XDP, attaches the XDP program to `ifname` and
    /// registers the socket of `queue`.
    pub fn open(kind: IoKind, ifname: &str, queue: u32, xdp_mode: XdpAttachMode) -> Result<Self> {
        let xdp = || -> Result<Self> {
            let mut att = XdpAttachment::attach(ifname, xdp_mode)
                .with_context(|| format!("attaching XDP to {ifname}"))?;
            let cfg = AfXdpConfig {
                frames: 8192,
                ring_size: 4096,
                fill_per_port: 4096,
                zero_copy: ZeroCopy::Auto,
            };
            let backend = AfXdpBackend::open(
                &[PortSpec {
                    ifname: ifname.into(),
                    queue,
                }],
                &cfg,
            )
            .with_context(|| format!("AF_XDP socket on {ifname} queue {queue}"))?;
            backend
                .register_sockets(std::slice::from_mut(&mut att))
                .context("registering the AF_XDP socket")?;
            log::info!("sink: XDP {:?} mode on {ifname}", att.mode());
            Ok(RxIo::Xdp(Box::new(XdpRx {
                backend,
                batch: Batch::new(),
                _att: att,
            })))
        };
        open_with_fallback(kind, xdp, || {
            PacketSock::open(ifname, &[]).map(RxIo::Packet)
        })
    }

    pub fn label(&self) -> &'static str {
        match self {
            RxIo::Xdp(x) => mode_label(x.backend.mode()),
            RxIo::Packet(_) => "af_packet",
        }
    }

    /// Hands every frame of one receive burst to `f`; returns how many.
    #[inline]
    pub fn recv(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        match self {
            RxIo::Xdp(x) => {
                let n = x.backend.rx_burst(0, &mut x.batch);
                for fr in x.batch.frames() {
                    f(fr.data());
                }
                x.backend.free_batch(&mut x.batch);
                n
            }
            RxIo::Packet(p) => p.recv(f),
        }
    }

    /// Blocks until frames may be there or `timeout` passes.
    pub fn wait(&mut self, timeout: Duration) {
        match self {
            RxIo::Xdp(x) => x.backend.wait_rx(timeout),
            RxIo::Packet(p) => p.wait(timeout),
        }
    }

    /// Frames the device or socket dropped on receive (AF_XDP: rx ring full etc.).
    pub fn rx_dropped(&self) -> u64 {
        match self {
            RxIo::Xdp(x) => x.backend.stats(0).rx_dropped,
            RxIo::Packet(_) => 0,
        }
    }
}

fn open_with_fallback<T>(
    kind: IoKind,
    xdp: impl FnOnce() -> Result<T>,
    packet: impl FnOnce() -> Result<T>,
) -> Result<T> {
    match kind {
        IoKind::Xdp => xdp(),
        IoKind::Packet => packet(),
        IoKind::Auto => xdp().or_else(|e| {
            eprintln!("pktgen: AF_XDP unavailable ({e:#}); FALLING BACK TO AF_PACKET");
            packet()
        }),
    }
}

/// A raw AF_PACKET socket bound to one interface (`PACKET_QDISC_BYPASS` on transmit, like
/// trafgen), moving [`BURST`] frames per `sendmmsg`/`recvmmsg`.
pub struct PacketSock {
    fd: OwnedFd,
    template: Vec<u8>,
    bufs: Vec<Vec<u8>>,
}

const RX_BUF: usize = 2048;

impl PacketSock {
    /// Opens and binds the socket; a non-empty `template` makes it a sender.
    pub fn open(ifname: &str, template: &[u8]) -> Result<Self> {
        let idx = ifindex(ifname)?;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32) };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("socket(AF_PACKET)");
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = idx as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context(format!("bind AF_PACKET to {ifname}"));
        }
        let one: libc::c_int = 1;
        let big: libc::c_int = 16 << 20;
        // SAFETY: valid option values of the sizes passed; failures are harmless.
        unsafe {
            if !template.is_empty() {
                libc::setsockopt(
                    raw,
                    libc::SOL_PACKET,
                    libc::PACKET_QDISC_BYPASS,
                    (&one as *const libc::c_int).cast(),
                    4,
                );
            }
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&big as *const libc::c_int).cast(),
                4,
            );
        }
        let size = if template.is_empty() {
            RX_BUF
        } else {
            template.len()
        };
        Ok(Self {
            fd,
            template: template.to_vec(),
            bufs: (0..BURST)
                .map(|_| {
                    if template.is_empty() {
                        vec![0; size]
                    } else {
                        template.to_vec()
                    }
                })
                .collect(),
        })
    }

    fn send(&mut self, gen: &mut Generator, n: usize, ts: u64) -> usize {
        let n = n.min(BURST);
        // SAFETY: iovec/mmsghdr are plain data; all-zero is valid.
        let mut iov: [libc::iovec; BURST] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BURST] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let b = &mut self.bufs[i];
            gen.stamp(b, ts);
            iov[i].iov_base = b.as_mut_ptr().cast();
            iov[i].iov_len = b.len();
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `msgs[..n]` point at iovecs and buffers alive for the call.
        let rc = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        let sent = if rc < 0 { 0 } else { rc as usize };
        gen.unwind(n - sent);
        sent
    }

    fn recv(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        // SAFETY: plain data, all-zero valid.
        let mut iov: [libc::iovec; BURST] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BURST] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut addrs: [libc::sockaddr_ll; BURST] = unsafe { std::mem::zeroed() };
        for i in 0..BURST {
            iov[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            iov[i].iov_len = self.bufs[i].len();
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_ll).cast();
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let rc = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                BURST as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc <= 0 {
            return 0;
        }
        let n = rc as usize;
        for i in 0..n {
            if addrs[i].sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let len = (msgs[i].msg_len as usize).min(RX_BUF);
            f(&self.bufs[i][..len]);
        }
        n
    }

    fn wait(&mut self, timeout: Duration) {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    }
}
