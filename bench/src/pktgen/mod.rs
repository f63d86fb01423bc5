//! # pktgen: an AF_XDP traffic generator and sink
//!
//! `southpaw pktgen send|recv|both` (CLI in [`cli`]). The sender builds one template
//! frame ([`packet`]), keeps it in every UMEM chunk, and per packet rewrites only the flow
//! field, a per-flow sequence number and a CLOCK_MONOTONIC timestamp (checksums from
//! precomputed partial sums), in bursts of 64, flat out or paced by a token bucket
//! ([`send`]). The sink ([`recv`]) takes every frame of its queue through southpaw's XDP
//! program and an AF_XDP socket, checks sequence numbers per flow (loss, reordering,
//! duplicates; [`account`]) and measures one-way latency from the stamps (sender and sink
//! share the machine's monotonic clock). `--io packet` swaps in raw AF_PACKET sockets, for
//! comparison or where AF_XDP is unavailable; reports name the I/O used.
//!
//! Not done yet: IPv6, VLANs, multi-queue / multi-core senders, zero-copy-specific tuning.

pub mod account;
pub mod cli;
pub mod io;
pub mod packet;
pub mod recv;
pub mod send;

use std::{ffi::CString, fs::File, os::fd::AsRawFd};

use anyhow::{bail, Context, Result};

/// CLOCK_MONOTONIC in nanoseconds (vDSO: no system call).
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Moves the calling thread into the network namespace `/run/netns/<name>` (as
/// `ip netns exec` does for a whole process). Other threads are unaffected.
pub fn enter_netns(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).with_context(|| format!("opening {path}"))?;
    // SAFETY: `f` is an open namespace descriptor; setns only changes this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("setns into {name}"));
    }
    Ok(())
}

/// Interface index in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name).context("interface name")?;
    // SAFETY: `c` is NUL-terminated.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        bail!("no interface {name} in this network namespace");
    }
    Ok(idx)
}

/// The MAC address of `name` (SIOCGIFHWADDR), in the calling thread's namespace.
pub fn iface_mac(name: &str) -> Result<[u8; 6]> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for SIOCGIFHWADDR");
    }
    // SAFETY: fd is ours from here on.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        bail!("interface name {name} too long");
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for SIOCGIFHWADDR.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("MAC address of {name}"));
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    for (d, p) in mac.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: bad byte {p:?}"))?;
    }
    Ok(mac)
}

/// Formats a MAC address.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
