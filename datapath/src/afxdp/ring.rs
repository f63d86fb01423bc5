//! The four AF_XDP rings (rx, tx, fill, completion) as mmapped single-producer /
//! single-consumer queues shared with the kernel, and the anonymous UMEM mapping.
//!
//! Index arithmetic follows the kernel's: `producer` and `consumer` are free-running u32
//! counters, a slot is `index & (size - 1)`. We publish with release stores and read the
//! kernel's counter with acquire loads, and cache both to touch shared cache lines only
//! when the cached view runs out.

use std::{
    ffi::c_void,
    io,
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, Ordering},
};

/// An `mmap`ed region, unmapped on drop unless leaked.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of `fd` at `pgoff` (a ring), shared with the kernel.
    pub(crate) fn ring(fd: BorrowedFd<'_>, len: usize, pgoff: u64) -> io::Result<Self> {
        // SAFETY: plain mmap of a socket-provided region; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Self::checked(p, len)
    }

    /// Maps `len` bytes of zeroed anonymous memory (a UMEM).
    pub(crate) fn anonymous(len: usize) -> io::Result<Self> {
        // SAFETY: anonymous private mapping, result checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(p, len)
    }

    fn checked(p: *mut c_void, len: usize) -> io::Result<Self> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p)
            .map(|ptr| Self { ptr, len })
            .ok_or_else(io::Error::last_os_error)
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Never unmaps the region (frames may still point into it).
    pub(crate) fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped exactly once.
        unsafe { libc::munmap(self.ptr.as_ptr(), self.len) };
    }
}

/// Pointers into one mapped ring.
#[derive(Debug)]
struct RingPtrs<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
}

impl<T> RingPtrs<T> {
    /// # Safety
    /// `map` must be a ring mapping laid out by `off` with `size` (a power of two) entries of
    /// `T`; the returned pointers are valid while `map` is.
    unsafe fn new(map: &Mmap, off: &libc::xdp_ring_offset, size: u32) -> Self {
        let base = map.as_ptr();
        // SAFETY: offsets come from XDP_MMAP_OFFSETS for this very mapping.
        unsafe {
            Self {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                descs: base.add(off.desc as usize).cast(),
                mask: size - 1,
                size,
            }
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: valid, aligned u32 in the live mapping (RingPtrs::new contract).
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }

    fn flags(&self) -> u32 {
        // SAFETY: as above.
        unsafe { &*self.flags }.load(Ordering::Relaxed)
    }
}

/// Mapped ring size in bytes for `size` entries of `T` at `off`.
pub(crate) fn ring_len<T>(off: &libc::xdp_ring_offset, size: u32) -> usize {
    off.desc as usize + size as usize * std::mem::size_of::<T>()
}

/// A ring we produce into (fill, tx).
#[derive(Debug)]
pub(crate) struct ProdRing<T> {
    p: RingPtrs<T>,
    cached_prod: u32,
    cached_cons: u32,
    _map: Mmap,
}

impl<T: Copy> ProdRing<T> {
    /// # Safety
    /// As [`RingPtrs::new`]; the ring must be one the kernel consumes.
    pub(crate) unsafe fn new(map: Mmap, off: &libc::xdp_ring_offset, size: u32) -> Self {
        // SAFETY: forwarded contract.
        let p = unsafe { RingPtrs::new(&map, off, size) };
        let cached_prod = p.producer().load(Ordering::Relaxed);
        let cached_cons = p.consumer().load(Ordering::Acquire);
        Self {
            p,
            cached_prod,
            cached_cons,
            _map: map,
        }
    }

    /// Free slots, at least `want` if possible (refreshes the kernel's consumer only when
    /// the cached view has fewer).
    pub(crate) fn free(&mut self, want: u32) -> u32 {
        let free = self.p.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.p.consumer().load(Ordering::Acquire);
        self.p.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Writes entry `i` past the producer (`i < free()`), not yet visible.
    pub(crate) fn write(&mut self, i: u32, v: T) {
        let slot = self.cached_prod.wrapping_add(i) & self.p.mask;
        // SAFETY: slot <= mask < size: inside the descriptor array; the slot is free
        // (caller checked `free`), so the kernel is not reading it.
        unsafe { self.p.descs.add(slot as usize).write_volatile(v) };
    }

    /// Publishes `n` written entries.
    pub(crate) fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.p.producer().store(self.cached_prod, Ordering::Release);
    }

    /// Entries submitted but not yet consumed by the kernel.
    pub(crate) fn pending(&mut self) -> u32 {
        self.cached_cons = self.p.consumer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// The kernel asked to be woken (need_wakeup mode).
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.p.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring we consume from (rx, completion).
#[derive(Debug)]
pub(crate) struct ConsRing<T> {
    p: RingPtrs<T>,
    cached_prod: u32,
    cached_cons: u32,
    _map: Mmap,
}

impl<T: Copy> ConsRing<T> {
    /// # Safety
    /// As [`RingPtrs::new`]; the ring must be one the kernel produces into.
    pub(crate) unsafe fn new(map: Mmap, off: &libc::xdp_ring_offset, size: u32) -> Self {
        // SAFETY: forwarded contract.
        let p = unsafe { RingPtrs::new(&map, off, size) };
        let cached_prod = p.producer().load(Ordering::Acquire);
        let cached_cons = p.consumer().load(Ordering::Relaxed);
        Self {
            p,
            cached_prod,
            cached_cons,
            _map: map,
        }
    }

    /// Entries ready to read, at most `max`.
    pub(crate) fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            self.cached_prod = self.p.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// Reads entry `i` past the consumer (`i < available()`).
    pub(crate) fn read(&self, i: u32) -> T {
        let slot = self.cached_cons.wrapping_add(i) & self.p.mask;
        // SAFETY: slot inside the array; the kernel published it (acquire in `available`)
        // and will not touch it until we release it.
        unsafe { self.p.descs.add(slot as usize).read_volatile() }
    }

    /// Gives `n` read entries back to the kernel.
    pub(crate) fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.p.consumer().store(self.cached_cons, Ordering::Release);
    }
}
