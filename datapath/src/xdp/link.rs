//! XDP attachment through a BPF link (`BPF_LINK_CREATE`), detached with `BPF_LINK_DETACH`.
//!
//! Why not aya's own attach: dropping a link only closes our descriptor, and a child
//! forked by another thread of this process (any `Command::spawn`) can hold a copy of it
//! until it execs, keeping the program attached for a moment after we "detached" it.
//! `BPF_LINK_DETACH` cuts the link from the interface whoever else holds it.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_DETACH: libc::c_long = 34;
/// `enum bpf_attach_type`'s `BPF_XDP`.
const BPF_XDP: u32 = 37;

/// `union bpf_attr` prefix used by the two commands (the kernel zero-extends the rest).
#[repr(C)]
#[derive(Default)]
struct Attr {
    /// link_create: prog_fd; link_detach: link_fd.
    fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _zero: [u64; 4],
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<i64> {
    // SAFETY: `attr` is a live, zero-initialised bpf_attr prefix of the size we pass; the
    // kernel reads at most that many bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            std::mem::size_of::<Attr>() as u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Attaches `prog` to `ifindex` with XDP mode `flags`; the link lives as long as the fd.
pub(super) fn create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr {
        fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
        ..Attr::default()
    };
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the kernel returned a fresh link descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Detaches the link from its interface (even if other descriptors to it exist), then
/// closes it.
pub(super) fn detach(link: OwnedFd) -> io::Result<()> {
    let mut attr = Attr {
        fd: link.as_raw_fd() as u32,
        ..Attr::default()
    };
    bpf(BPF_LINK_DETACH, &mut attr).map(drop)
}
