//! [`HugeSlice`]: a fixed-size array for the per-worker caches, backed by transparent huge
//! pages where the kernel allows.
//!
//! The EMC's tables are ~2.2 MB probed at random: with 4 KiB pages each lookup lands on
//! a different page and misses the first-level TLB. Allocated 2 MiB-aligned and marked
//! `MADV_HUGEPAGE`, they take a couple of TLB entries. Where transparent huge pages are
//! off (or on another OS) this is an ordinary allocation. The `madvise` call happens once,
//! at construction; nothing here runs per packet.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Huge page size on x86_64 and aarch64 (with 4 KiB base pages).
const HUGE: usize = 2 << 20;

/// A heap array of `len` `T`s, huge-page aligned when at least one huge page long.
pub struct HugeSlice<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

impl<T: Copy> HugeSlice<T> {
    /// `len` copies of `fill`.
    pub fn new(len: usize, fill: T) -> HugeSlice<T> {
        let len = len.max(1);
        let Ok(plain) = Layout::array::<T>(len) else {
            panic!("HugeSlice of {len} elements overflows");
        };
        let layout = if plain.size() >= HUGE / 2 {
            let size = plain.size().div_ceil(HUGE) * HUGE;
            Layout::from_size_align(size, HUGE.max(plain.align())).unwrap_or(plain)
        } else {
            plain
        };
        assert!(layout.size() > 0, "HugeSlice of a zero-sized type");
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout);
        };
        #[cfg(target_os = "linux")]
        if layout.align() == HUGE {
            // SAFETY: the range is the allocation just made, huge-page aligned and a
            // multiple of the huge page size; MADV_HUGEPAGE only changes how the kernel
            // backs it. Failure (THP disabled) is harmless and ignored.
            unsafe {
                libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE);
            }
        }
        for i in 0..len {
            // SAFETY: `i < len` and the allocation holds `len` `T`s (`layout` is at least
            // `plain`); writing initializes element `i`.
            unsafe { ptr.as_ptr().add(i).write(fill) };
        }
        HugeSlice { ptr, len, layout }
    }
}

impl<T: Copy> Deref for HugeSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialized `T`s owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly `self.layout`; `T: Copy` needs no drop.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

// SAFETY: a `HugeSlice<T>` owns its elements like a `Box<[T]>`.
unsafe impl<T: Copy + Send> Send for HugeSlice<T> {}
// SAFETY: shared access only hands out `&[T]`.
unsafe impl<T: Copy + Sync> Sync for HugeSlice<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_huge() {
        let mut s = HugeSlice::new(10, 7u32);
        assert_eq!(&s[..], &[7; 10]);
        s[3] = 1;
        assert_eq!(s.iter().sum::<u32>(), 64);
        let big = HugeSlice::new(300_000, 1u64);
        assert_eq!(big.len(), 300_000);
        assert_eq!(big.as_ptr() as usize % HUGE, 0, "huge-page aligned");
        assert_eq!(big.iter().sum::<u64>(), 300_000);
    }
}
