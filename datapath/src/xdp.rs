//! Loader for southpaw's XDP program (`datapath/ebpf`, embedded at build time): loads it,
//! attaches it to an interface (native/driver mode where the driver supports it, else
//! generic/SKB mode, and says which), exposes its `XSKS` XSKMAP so AF_XDP sockets can be
//! registered per queue, and detaches on drop.
//!
//! Stale programs: attachment goes through a BPF link when the kernel has them (5.9+), so
//! a crashed southpaw's program disappears with its process. A program left attached the
//! legacy netlink way (older kernel, or `ip link set xdp`) that is named `southpaw_xdp`
//! is detected at attach time and detached first; anybody else's program is left alone
//! and reported as an error.
//!
//! aya loads the object and owns the map; the attachment itself is done here (`link.rs`,
//! `netlink.rs`) so that detaching is immediate even while a forked child still holds a
//! copy of the link descriptor.

mod link;
mod netlink;

use std::{
    ffi::CString,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
};

use aya::{
    maps::{MapData, XskMap},
    programs::{ProgramError, Xdp},
    Ebpf,
};

/// The compiled XDP program (built by `build.rs` from `datapath/ebpf`).
static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("SOUTHPAW_XDP_OBJ"));

/// Name of the program in the object (and in the kernel, truncated to 15 bytes).
pub const PROGRAM_NAME: &str = "southpaw_xdp";
const MAP_NAME: &str = "XSKS";

/// Which XDP attachment modes to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpAttachMode {
    /// Native (driver) mode, falling back to generic (SKB) mode.
    #[default]
    Auto,
    /// Native mode or fail.
    Driver,
    /// Generic mode only.
    Skb,
}

/// The mode the program actually runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedMode {
    /// Native/driver mode.
    Driver,
    /// Generic/SKB mode.
    Skb,
}

/// Errors from loading, attaching or registering.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The interface does not exist.
    #[error("no interface named {0}")]
    NoInterface(String),
    /// The embedded object could not be loaded into the kernel.
    #[error("loading the XDP program: {0}")]
    Load(String),
    /// Attaching failed in every mode tried.
    #[error("attaching XDP to {ifname}: {reason}")]
    Attach {
        /// Interface.
        ifname: String,
        /// Why (one line per mode tried).
        reason: String,
    },
    /// Another program (not southpaw's) is attached.
    #[error("{ifname} already runs XDP program id {id} ({name:?}); not replacing it")]
    Busy {
        /// Interface.
        ifname: String,
        /// Kernel id of the program found.
        id: u32,
        /// Its name.
        name: String,
    },
    /// XSKMAP update failed.
    #[error("XSKMAP update for queue {queue} on {ifname}: {reason}")]
    Map {
        /// Interface.
        ifname: String,
        /// Queue index.
        queue: u32,
        /// Why.
        reason: String,
    },
    /// A netlink query or detach failed.
    #[error("netlink on {ifname}: {source}")]
    Netlink {
        /// Interface.
        ifname: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the program hangs on the interface.
#[derive(Debug)]
enum Hook {
    /// A BPF link (kernel 5.9+): gone when the process dies.
    Link(OwnedFd),
    /// Legacy netlink attachment (mode flags to detach with).
    Netlink { ifindex: u32, flags: u32 },
}

/// southpaw's XDP program attached to one interface. Detached on drop.
pub struct XdpAttachment {
    hook: Option<Hook>,
    xsks: XskMap<MapData>,
    /// Owns the loaded program and map (the kernel keeps them while the hook exists).
    _ebpf: Ebpf,
    ifname: String,
    mode: AttachedMode,
}

impl std::fmt::Debug for XdpAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpAttachment")
            .field("ifname", &self.ifname)
            .field("mode", &self.mode)
            .field("hook", &self.hook)
            .finish()
    }
}

impl XdpAttachment {
    /// Loads the program and attaches it to `ifname`, first detaching a stale southpaw
    /// program left there the netlink way.
    pub fn attach(ifname: &str, want: XdpAttachMode) -> Result<Self, XdpError> {
        let ifindex = ifindex(ifname).ok_or_else(|| XdpError::NoInterface(ifname.into()))?;
        remove_stale(ifname, ifindex)?;

        let mut ebpf = Ebpf::load(XDP_OBJECT).map_err(|e| XdpError::Load(e.to_string()))?;
        let xsks = ebpf
            .take_map(MAP_NAME)
            .ok_or_else(|| XdpError::Load(format!("object has no map {MAP_NAME}")))
            .and_then(|m| XskMap::try_from(m).map_err(|e| XdpError::Load(e.to_string())))?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| XdpError::Load(format!("object has no program {PROGRAM_NAME}")))?
            .try_into()
            .map_err(|e: ProgramError| XdpError::Load(e.to_string()))?;
        prog.load()
            .map_err(|e| XdpError::Load(format!("{e}: {}", verifier_hint(&e))))?;

        let prog_fd = prog
            .fd()
            .map_err(|e| XdpError::Load(e.to_string()))?
            .as_fd()
            .as_raw_fd();
        let tries: &[AttachedMode] = match want {
            XdpAttachMode::Auto => &[AttachedMode::Driver, AttachedMode::Skb],
            XdpAttachMode::Driver => &[AttachedMode::Driver],
            XdpAttachMode::Skb => &[AttachedMode::Skb],
        };
        let mut reasons = Vec::new();
        for &mode in tries {
            let flags = match mode {
                AttachedMode::Driver => netlink::XDP_FLAGS_DRV_MODE,
                AttachedMode::Skb => netlink::XDP_FLAGS_SKB_MODE,
            };
            // SAFETY: `prog_fd` belongs to `ebpf`, alive for this whole function.
            let prog_bfd = unsafe { BorrowedFd::borrow_raw(prog_fd) };
            let hook = match link::create(prog_bfd, ifindex, flags) {
                Ok(fd) => Ok(Hook::Link(fd)),
                // No XDP links on this kernel: the legacy way.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    netlink::attach_xdp(ifindex, prog_fd, flags)
                        .map(|()| Hook::Netlink { ifindex, flags })
                }
                Err(e) => Err(e),
            };
            match hook {
                Ok(hook) => {
                    log::info!("XDP program attached to {ifname} in {mode:?} mode");
                    return Ok(Self {
                        hook: Some(hook),
                        xsks,
                        _ebpf: ebpf,
                        ifname: ifname.to_string(),
                        mode,
                    });
                }
                Err(e) => reasons.push(format!("{mode:?}: {e}")),
            }
        }
        Err(XdpError::Attach {
            ifname: ifname.into(),
            reason: reasons.join("; "),
        })
    }

    /// The mode the program runs in.
    pub fn mode(&self) -> AttachedMode {
        self.mode
    }

    /// The interface.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Redirects frames received on `queue` to the AF_XDP socket `fd` (bound to that
    /// queue of this interface).
    pub fn register(&mut self, queue: u32, fd: BorrowedFd<'_>) -> Result<(), XdpError> {
        self.xsks.set(queue, fd, 0).map_err(|e| XdpError::Map {
            ifname: self.ifname.clone(),
            queue,
            reason: e.to_string(),
        })
    }

    /// Stops redirecting `queue` (its frames go to the kernel stack again).
    pub fn unregister(&mut self, queue: u32) -> Result<(), XdpError> {
        self.xsks.unset(queue).map_err(|e| XdpError::Map {
            ifname: self.ifname.clone(),
            queue,
            reason: e.to_string(),
        })
    }

    /// Detaches now, reporting errors (dropping detaches too, logging them).
    pub fn detach(mut self) -> Result<(), XdpError> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<(), XdpError> {
        let res = match self.hook.take() {
            None => return Ok(()),
            Some(Hook::Link(fd)) => link::detach(fd),
            Some(Hook::Netlink { ifindex, flags }) => netlink::detach_xdp(ifindex, flags),
        };
        res.map_err(|source| XdpError::Netlink {
            ifname: self.ifname.clone(),
            source,
        })
    }
}

impl Drop for XdpAttachment {
    fn drop(&mut self) {
        if let Err(e) = self.detach_inner() {
            log::warn!("{e}");
        }
    }
}

fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

fn verifier_hint(e: &ProgramError) -> &'static str {
    match e {
        ProgramError::LoadError { .. } => "the verifier rejected the program",
        _ => "see the error above",
    }
}

/// Detaches a netlink-attached program named `southpaw_xdp` from `ifindex`; errors out if
/// another program is attached that way.
fn remove_stale(ifname: &str, ifindex: u32) -> Result<(), XdpError> {
    let nl_err = |source| XdpError::Netlink {
        ifname: ifname.into(),
        source,
    };
    let attached = netlink::query_xdp(ifindex).map_err(nl_err)?;
    let Some(found) = attached else { return Ok(()) };
    let name = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == found.prog_id)
        .and_then(|p| p.name_as_str().map(str::to_string))
        .unwrap_or_default();
    // The kernel keeps 15 bytes of a program name.
    let ours = !name.is_empty() && PROGRAM_NAME.starts_with(name.as_str());
    if !ours {
        return Err(XdpError::Busy {
            ifname: ifname.into(),
            id: found.prog_id,
            name,
        });
    }
    log::warn!(
        "detaching stale {name} (id {}) from {ifname}",
        found.prog_id
    );
    match netlink::detach_xdp(ifindex, found.flags) {
        // EBUSY: attached through a live BPF link, i.e. a running process (another
        // southpaw?) owns it; not ours to cut.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(XdpError::Busy {
            ifname: ifname.into(),
            id: found.prog_id,
            name,
        }),
        r => r.map_err(nl_err),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        os::fd::{AsFd, AsRawFd},
        process::Command,
    };

    use super::*;

    fn ip(args: &[&str]) -> std::process::Output {
        Command::new("ip").args(args).output().expect("run ip")
    }

    fn has_xdp(dev: &str) -> bool {
        String::from_utf8_lossy(&ip(&["link", "show", "dev", dev]).stdout).contains("xdp")
    }

    /// A southpaw program left attached the netlink way (as by a crashed run on a kernel
    /// without XDP links) is replaced at attach time, and detached on drop.
    #[test]
    fn stale_netlink_program_is_replaced() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: needs root");
            return;
        }
        let dev = format!("spstale{}", std::process::id() % 100_000);
        let peer = format!("{dev}p");
        let add = ip(&["link", "add", &dev, "type", "veth", "peer", "name", &peer]);
        assert!(
            add.status.success(),
            "{}",
            String::from_utf8_lossy(&add.stderr)
        );
        let idx = ifindex(&dev).expect("veth exists");
        {
            let mut ebpf = Ebpf::load(XDP_OBJECT).expect("load object");
            let prog: &mut Xdp = ebpf
                .program_mut(PROGRAM_NAME)
                .expect("program")
                .try_into()
                .expect("xdp");
            prog.load().expect("verifier");
            let fd = prog.fd().expect("fd").as_fd().as_raw_fd();
            netlink::attach_xdp(idx, fd, netlink::XDP_FLAGS_SKB_MODE).expect("netlink attach");
            // Dropping `ebpf` here leaves the program attached, like a dead process would.
        }
        assert!(has_xdp(&dev), "stale program in place");
        let found = netlink::query_xdp(idx).expect("query").expect("attached");
        let fresh = XdpAttachment::attach(&dev, XdpAttachMode::Skb).expect("replace stale");
        let now = netlink::query_xdp(idx).expect("query").expect("attached");
        assert_ne!(now.prog_id, found.prog_id, "a new program runs");
        drop(fresh);
        let detached = !has_xdp(&dev);
        let _ = ip(&["link", "del", &dev]);
        assert!(detached, "detached on drop");
    }
}
