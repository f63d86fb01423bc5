//! One AF_XDP socket: creation, UMEM registration (first socket) or sharing (the others),
//! ring setup and mapping, bind, wakeups and kernel statistics. Plain `libc` calls, no
//! libxdp, so no default XDP program is ever loaded behind our back.

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use super::{
    ring::{ring_len, ConsRing, Mmap, ProdRing},
    AfXdpError, PortSpec, FRAME_SIZE,
};
use crate::io::{IoMode, PortStats};

/// A bound AF_XDP socket with its four rings.
#[derive(Debug)]
pub(super) struct XskPort {
    // Rings first: they are unmapped before the socket closes.
    pub(super) rx: ConsRing<libc::xdp_desc>,
    pub(super) tx: ProdRing<libc::xdp_desc>,
    pub(super) fill: ProdRing<u64>,
    pub(super) comp: ConsRing<u64>,
    fd: OwnedFd,
    pub(super) spec: PortSpec,
    pub(super) name: String,
    pub(super) stats: PortStats,
    /// Chunks currently on the fill ring or in the kernel's rx path.
    pub(super) in_fill: u32,
    /// Chunks currently on the tx ring or waiting on the completion ring.
    pub(super) in_tx: u32,
}

fn sys<'a>(what: &'static str, port: &'a str) -> impl FnOnce(io::Error) -> AfXdpError + 'a {
    move |source| AfXdpError::Sys {
        what,
        port: port.to_string(),
        source,
    }
}

fn setsockopt<T>(fd: BorrowedFd<'_>, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt<T: Copy>(fd: BorrowedFd<'_>, opt: libc::c_int, init: T) -> io::Result<T> {
    let mut val = init;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a live `T` and `len` its size; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            opt,
            (&mut val as *mut T).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(val)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn zeroed_offsets() -> libc::xdp_mmap_offsets {
    let r = libc::xdp_ring_offset {
        producer: 0,
        consumer: 0,
        desc: 0,
        flags: 0,
    };
    libc::xdp_mmap_offsets {
        rx: r,
        tx: r,
        fr: r,
        cr: r,
    }
}

fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

impl XskPort {
    /// Opens and binds a socket for `spec`. `primary` is the first socket of the backend
    /// (None: this one registers the UMEM and picks the bind mode).
    pub(super) fn open(
        spec: &PortSpec,
        umem: &Mmap,
        ring_size: u32,
        mode: IoMode,
        primary: Option<BorrowedFd<'_>>,
    ) -> Result<Self, AfXdpError> {
        let name = format!("{}@{}", spec.ifname, spec.queue);
        let ifindex = ifindex(&spec.ifname).map_err(sys("if_nametoindex", &name))?;
        // SAFETY: plain socket(2); the result is checked before being owned.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(sys("socket(AF_XDP)", &name)(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let b = fd.as_fd();

        if primary.is_none() {
            let reg = libc::xdp_umem_reg {
                addr: umem.as_ptr() as u64,
                len: umem.len() as u64,
                chunk_size: FRAME_SIZE as u32,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(b, libc::XDP_UMEM_REG, &reg).map_err(sys("XDP_UMEM_REG", &name))?;
        }
        for opt in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
            libc::XDP_TX_RING,
        ] {
            setsockopt(b, opt, &ring_size).map_err(sys("ring size setsockopt", &name))?;
        }
        let off = getsockopt(b, libc::XDP_MMAP_OFFSETS, zeroed_offsets())
            .map_err(sys("XDP_MMAP_OFFSETS", &name))?;

        let map = |o: &libc::xdp_ring_offset, len: usize, pgoff: u64| {
            Mmap::ring(b, len, pgoff).map(|m| (m, *o))
        };
        let rx_len = ring_len::<libc::xdp_desc>(&off.rx, ring_size);
        let tx_len = ring_len::<libc::xdp_desc>(&off.tx, ring_size);
        let fr_len = ring_len::<u64>(&off.fr, ring_size);
        let cr_len = ring_len::<u64>(&off.cr, ring_size);
        let (rx_m, rx_o) =
            map(&off.rx, rx_len, libc::XDP_PGOFF_RX_RING as u64).map_err(sys("mmap rx", &name))?;
        let (tx_m, tx_o) =
            map(&off.tx, tx_len, libc::XDP_PGOFF_TX_RING as u64).map_err(sys("mmap tx", &name))?;
        let (fr_m, fr_o) = map(&off.fr, fr_len, libc::XDP_UMEM_PGOFF_FILL_RING)
            .map_err(sys("mmap fill", &name))?;
        let (cr_m, cr_o) = map(&off.cr, cr_len, libc::XDP_UMEM_PGOFF_COMPLETION_RING)
            .map_err(sys("mmap completion", &name))?;
        // SAFETY: each mapping was made for its ring at the offsets the kernel reported,
        // with `ring_size` (a power of two, checked by the caller) entries.
        let (rx, tx, fill, comp) = unsafe {
            (
                ConsRing::new(rx_m, &rx_o, ring_size),
                ProdRing::new(tx_m, &tx_o, ring_size),
                ProdRing::new(fr_m, &fr_o, ring_size),
                ConsRing::new(cr_m, &cr_o, ring_size),
            )
        };

        let (flags, shared_fd) = match primary {
            // Sockets sharing a UMEM inherit its bind mode and may not pass flags.
            Some(p) => (libc::XDP_SHARED_UMEM, p.as_raw_fd() as u32),
            None => {
                let m = if mode == IoMode::ZeroCopy {
                    libc::XDP_ZEROCOPY
                } else {
                    libc::XDP_COPY
                };
                (m | libc::XDP_USE_NEED_WAKEUP, 0)
            }
        };
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: spec.queue,
            sxdp_shared_umem_fd: shared_fd,
        };
        // SAFETY: `sa` is a valid sockaddr_xdp and we pass its exact size.
        let rc = unsafe {
            libc::bind(
                b.as_raw_fd(),
                (&sa as *const libc::sockaddr_xdp).cast(),
                size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(sys("bind", &name)(io::Error::last_os_error()));
        }
        Ok(Self {
            rx,
            tx,
            fill,
            comp,
            fd,
            spec: spec.clone(),
            name,
            stats: PortStats::default(),
            in_fill: 0,
            in_tx: 0,
        })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Kicks the kernel to process the tx ring (errors are transient: ENOBUFS, EAGAIN,
    /// EBUSY, ENETDOWN; the next kick retries).
    pub(super) fn wake_tx(&self) {
        // SAFETY: zero-length sendto on our own socket, as the AF_XDP ABI prescribes.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
    }

    /// Kicks the kernel to pick up fill ring entries.
    pub(super) fn wake_rx(&self) {
        // SAFETY: zero-length recvfrom on our own socket, as the AF_XDP ABI prescribes.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// The kernel's per-socket counters (a syscall: not for the per-packet path).
    pub(super) fn kernel_stats(&self) -> io::Result<libc::xdp_statistics> {
        let zero = libc::xdp_statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: 0,
            rx_fill_ring_empty_descs: 0,
            tx_ring_empty_descs: 0,
        };
        getsockopt(self.fd.as_fd(), libc::XDP_STATISTICS, zero)
    }
}
