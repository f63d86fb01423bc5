//! TCP headers (RFC 9293): ports, flags, data offset, checksum with a caller-supplied
//! pseudo-header sum, and incremental port rewrites.

use super::checksum;
use super::{be16, be32, put16, put32, Error};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

pub const MIN_HEADER_LEN: usize = field::OPTIONS;

/// TCP flag bits as OVS's `tcp_flags` numbers them (low 12 bits of the offset/flags word).
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
}

/// A read/write view of a TCP segment.
///
/// `new_checked` guarantees `20 <= header_len <= buffer length` (as OVS requires before it
/// extracts TCP fields).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let d = buffer.as_ref();
        if d.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = Packet { buffer };
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if hl > p.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    #[inline]
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::OFF_FLAGS] >> 4) as usize) * 4
    }
    /// The 12 flag bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x0fff
    }
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// Verifies the checksum over the whole buffer (the caller passes exactly the segment).
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v)
    }
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v)
    }
    #[inline]
    pub fn set_seq(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ, v)
    }
    #[inline]
    pub fn set_ack(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK, v)
    }
    /// Sets data offset (header length in bytes) and flags together.
    pub fn set_header_len_flags(&mut self, header_len: usize, fl: u16) {
        let v = (((header_len / 4) as u16) << 12) | (fl & 0x0fff);
        put16(self.buffer.as_mut(), field::OFF_FLAGS, v)
    }
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WINDOW, v)
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::URGENT, v)
    }
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(c);
    }
    pub fn set_src_port_update_checksum(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.src_port(), v);
        self.set_src_port(v);
        self.set_checksum(c);
    }
    pub fn set_dst_port_update_checksum(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.dst_port(), v);
        self.set_dst_port(v);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u32 = 0x0a00_0001;
    const DST: u32 = 0x0a00_0002;

    /// A SYN with a 4-byte MSS option, no payload, checksum left for `build` to fill.
    fn syn() -> [u8; 24] {
        [
            0x30, 0x39, 0x00, 0x50, // 12345 -> 80
            0, 0, 0, 1, 0, 0, 0, 0, // seq 1, ack 0
            0x60, 0x02, 0x72, 0x10, // off 6, SYN, window 29200
            0, 0, 0, 0, // checksum, urgent
            2, 4, 0x05, 0xb4, // MSS 1460
        ]
    }

    #[test]
    fn parse_build_verify() {
        let mut b = syn();
        let pseudo = checksum::pseudo_v4(SRC, DST, 6, 24);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(pseudo);
        assert_eq!(
            (p.src_port(), p.dst_port(), p.seq(), p.ack()),
            (12345, 80, 1, 0)
        );
        assert_eq!(
            (p.header_len(), p.flags(), p.window()),
            (24, flags::SYN, 29200)
        );
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(pseudo));
        let mut b2 = [0u8; 24];
        let mut q = Packet::new_unchecked(&mut b2[..]);
        q.set_src_port(12345);
        q.set_dst_port(80);
        q.set_seq(1);
        q.set_header_len_flags(24, flags::SYN);
        q.set_window(29200);
        b2[20..].copy_from_slice(&[2, 4, 5, 0xb4]);
        let mut q = Packet::new_checked(&mut b2[..]).unwrap();
        q.fill_checksum(pseudo);
        q.set_dst_port_update_checksum(8080);
        q.set_src_port_update_checksum(1);
        assert!(q.verify_checksum(pseudo));
        q.set_dst_port_update_checksum(80);
        q.set_src_port_update_checksum(12345);
        assert_eq!(b, b2);
    }

    #[test]
    fn impossible_lengths() {
        let b = syn();
        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..22]).unwrap_err(), Error::Truncated);
        let mut b = syn();
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadHeaderLength
        );
    }
}
