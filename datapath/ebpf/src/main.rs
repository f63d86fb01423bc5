//! # southpaw_xdp: the XDP half of southpaw's AF_XDP datapath
//!
//! For every frame, look up the frame's rx queue index in the `XSKS` XSKMAP and redirect
//! the frame to the AF_XDP socket bound to that queue. If no socket is registered for the
//! queue, the frame is passed to the kernel stack (`XDP_PASS`), so an interface without
//! a southpaw worker on some queue keeps working as before.
//!
//! Invariants: no packet parsing, no other maps, no loops (trivially verifier-friendly).
//! The userspace loader (`datapath/src/xdp.rs`) finds the program by the name
//! `southpaw_xdp` and the map by the name `XSKS`.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::XskMap,
    programs::XdpContext,
};

/// Maximum rx queue index (exclusive) that can carry an AF_XDP socket.
const MAX_QUEUES: u32 = 64;

/// rx queue index -> AF_XDP socket fd (set by userspace).
#[map]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[xdp]
pub fn southpaw_xdp(ctx: XdpContext) -> u32 {
    // SAFETY: `ctx.ctx` is the kernel-provided `xdp_md` pointer, valid for the whole
    // program invocation; reading `rx_queue_index` is a plain context load.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    // The low bits of the flags are the action returned when the lookup fails.
    XSKS.redirect(queue, xdp_action::XDP_PASS as u64)
        .unwrap_or(xdp_action::XDP_PASS)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
