//! Minimal rtnetlink for XDP housekeeping: which program an interface runs (RTM_GETLINK,
//! IFLA_XDP) and detaching a netlink-attached program (RTM_SETLINK, IFLA_XDP_FD = -1).
//! Only used at attach time, never on the packet path.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const XDP_ATTACHED_DRV: u8 = 1;
const XDP_ATTACHED_SKB: u8 = 2;
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
pub(super) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(super) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// The XDP program found on an interface.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attached {
    /// Kernel program id.
    pub(super) prog_id: u32,
    /// Mode flags to pass when detaching.
    pub(super) flags: u32,
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2), result checked before being owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Builds nlmsghdr + ifinfomsg for `ifindex`, then `attrs`.
fn message(kind: u16, flags: u16, ifindex: u32, attrs: &[u8]) -> Vec<u8> {
    let hdr = size_of::<libc::nlmsghdr>();
    let ifi = size_of::<libc::ifinfomsg>();
    let total = hdr + ifi + attrs.len();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
                                              // ifinfomsg: family(u8) pad(u8) type(u16) index(i32) flags(u32) change(u32)
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(attrs);
    m
}

fn roundtrip(msg: &[u8]) -> io::Result<Vec<u8>> {
    let fd = socket()?;
    // SAFETY: `msg` is a valid buffer of its length; a null address sends to the kernel.
    let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    // SAFETY: `buf` is writable for its whole length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// Iterates (type, payload) over netlink attributes in `b`.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16_at(b, 0)? as usize;
        let kind = u16_at(b, 2)? & !NLA_F_NESTED;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

/// Errors carried in an NLMSG_ERROR reply (0 = ack).
fn check_error(reply: &[u8]) -> io::Result<()> {
    let hdr = size_of::<libc::nlmsghdr>();
    if u16_at(reply, 4) == Some(libc::NLMSG_ERROR as u16) {
        let code = u32_at(reply, hdr).unwrap_or(0) as i32;
        if code != 0 {
            return Err(io::Error::from_raw_os_error(-code));
        }
    }
    Ok(())
}

/// The XDP program attached to `ifindex`, if any.
pub(super) fn query_xdp(ifindex: u32) -> io::Result<Option<Attached>> {
    let reply = roundtrip(&message(
        libc::RTM_GETLINK,
        libc::NLM_F_REQUEST as u16,
        ifindex,
        &[],
    ))?;
    check_error(&reply)?;
    let start = size_of::<libc::nlmsghdr>() + size_of::<libc::ifinfomsg>();
    let total = (u32_at(&reply, 0).unwrap_or(0) as usize).min(reply.len());
    let body = reply.get(start..total).unwrap_or(&[]);
    let Some((_, xdp)) = attrs(body).find(|(k, _)| *k == IFLA_XDP) else {
        return Ok(None);
    };
    let mut mode = 0u8;
    let mut prog_id = 0u32;
    for (k, v) in attrs(xdp) {
        match k {
            IFLA_XDP_ATTACHED => mode = v.first().copied().unwrap_or(0),
            IFLA_XDP_PROG_ID => prog_id = u32_at(v, 0).unwrap_or(0),
            _ => {}
        }
    }
    let flags = match mode {
        XDP_ATTACHED_DRV => XDP_FLAGS_DRV_MODE,
        XDP_ATTACHED_SKB => XDP_FLAGS_SKB_MODE,
        _ => 0,
    };
    Ok((mode != 0 && prog_id != 0).then_some(Attached { prog_id, flags }))
}

/// Detaches the netlink-attached XDP program of `ifindex` in the mode `flags` names.
pub(super) fn detach_xdp(ifindex: u32, flags: u32) -> io::Result<()> {
    set_xdp_fd(ifindex, -1, flags)
}

/// Attaches program `fd` the legacy netlink way (kernels without XDP links; tests also use
/// it to fake a program left behind by a crashed run). Fails if a program is attached.
pub(super) fn attach_xdp(ifindex: u32, fd: i32, flags: u32) -> io::Result<()> {
    set_xdp_fd(ifindex, fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST)
}

fn set_xdp_fd(ifindex: u32, fd: i32, flags: u32) -> io::Result<()> {
    let mut inner = Vec::new();
    push_attr(&mut inner, IFLA_XDP_FD, &fd.to_ne_bytes());
    push_attr(&mut inner, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    let mut outer = Vec::new();
    push_attr(&mut outer, IFLA_XDP | NLA_F_NESTED, &inner);
    let req = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    check_error(&roundtrip(&message(
        libc::RTM_SETLINK,
        req,
        ifindex,
        &outer,
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_walks_and_stops_on_garbage() {
        let mut b = Vec::new();
        push_attr(&mut b, 7, &[1, 2, 3]);
        push_attr(&mut b, 9, &5u32.to_ne_bytes());
        b.extend_from_slice(&[0xff, 0xff, 0, 0]); // length past the end
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(
            got,
            vec![(7, vec![1, 2, 3]), (9, 5u32.to_ne_bytes().to_vec())]
        );
    }

    #[test]
    fn query_on_loopback_finds_no_program() {
        // lo (index 1) exists in every network namespace and never runs southpaw's XDP.
        match query_xdp(1) {
            Ok(found) => assert!(found.is_none(), "unexpected XDP on lo: {found:?}"),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}"),
        }
    }
}
