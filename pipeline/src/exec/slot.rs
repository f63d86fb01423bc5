//! Reading and writing [`Slot`]s of a [`Flow`], recording bits read into the megaflow
//! mask and bits written into the pending-write mask.

use crate::compile::dnf::slot_width;
use crate::flow::{Flow, Mask, FLOW_WORDS};
use crate::symtab::{Slot, Storage};

/// The slot's bits as word masks: (word, shift, mask-in-slot-coordinates) pieces.
#[inline]
fn lim(s: &Slot) -> u128 {
    let w = slot_width(s);
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

/// Reads `s` and marks its bits read.
#[inline]
pub fn read(f: &Flow, s: &Slot, wc: &mut Mask) -> u128 {
    read_bits(f, s, lim(s), wc)
}

/// Reads the bits `m` (slot coordinates) of `s` and marks only those read.
#[inline]
pub fn read_bits(f: &Flow, s: &Slot, m: u128, wc: &mut Mask) -> u128 {
    let m = m & lim(s);
    match s.storage {
        Storage::Narrow(fl) | Storage::Port(fl) => {
            let sh = u32::from(fl.shift) + u32::from(s.ofs);
            if sh >= 64 {
                return 0;
            }
            let wi = fl.word as usize & (FLOW_WORDS - 1);
            let wm = (m as u64) << sh;
            wc.w[wi] |= wm;
            u128::from((f.w[wi] & wm) >> sh)
        }
        Storage::Wide(fl) => {
            let sh = u32::from(s.ofs);
            let wm = m.checked_shl(sh).unwrap_or(0);
            let wi = fl.word as usize & (FLOW_WORDS - 1);
            let wj = (wi + 1) & (FLOW_WORDS - 1);
            wc.w[wi] |= (wm >> 64) as u64;
            wc.w[wj] |= wm as u64;
            let v = (u128::from(f.w[wi]) << 64 | u128::from(f.w[wj])) & wm;
            v >> sh
        }
        Storage::Ovn(_) => 0,
    }
}

/// Writes `v` into bits `m` of `s`, marking them written.
#[inline]
pub fn write(f: &mut Flow, s: &Slot, v: u128, m: u128, written: &mut Mask) {
    let m = m & lim(s);
    let v = v & m;
    match s.storage {
        Storage::Narrow(fl) | Storage::Port(fl) => {
            let sh = u32::from(fl.shift) + u32::from(s.ofs);
            if sh >= 64 {
                return;
            }
            let wi = fl.word as usize & (FLOW_WORDS - 1);
            let wm = (m as u64) << sh;
            f.w[wi] = (f.w[wi] & !wm) | ((v as u64) << sh);
            written.w[wi] |= wm;
        }
        Storage::Wide(fl) => {
            let sh = u32::from(s.ofs);
            let wm = m.checked_shl(sh).unwrap_or(0);
            let wv = v.checked_shl(sh).unwrap_or(0);
            let wi = fl.word as usize & (FLOW_WORDS - 1);
            let wj = (wi + 1) & (FLOW_WORDS - 1);
            f.w[wi] = (f.w[wi] & !((wm >> 64) as u64)) | (wv >> 64) as u64;
            f.w[wj] = (f.w[wj] & !(wm as u64)) | wv as u64;
            written.w[wi] |= (wm >> 64) as u64;
            written.w[wj] |= wm as u64;
        }
        Storage::Ovn(_) => {}
    }
}

/// Full-width mask of a slot.
#[inline]
pub fn full(s: &Slot) -> u128 {
    lim(s)
}
