//! UDP headers (RFC 768). Checksums take the pseudo-header sum from
//! [`checksum::pseudo_v4`]/[`checksum::pseudo_v6`] so one view serves both families.

use super::checksum;
use super::{be16, put16, Error};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of a UDP datagram.
///
/// `new_checked` guarantees 8 header bytes (as OVS's flow extraction does); it does not
/// require the length field to match the buffer: see [`Packet::check_length_field`].
/// `payload()` is clamped to the buffer and never panics.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }
    /// Stricter check: 8 <= length field <= buffer length.
    pub fn check_length_field(&self) -> Result<(), Error> {
        let l = self.len() as usize;
        if l < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if l > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
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
    /// The length field (header + payload).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// The datagram as the length field bounds it, clamped to the buffer.
    fn datagram(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        let l = (self.len() as usize).clamp(HEADER_LEN, d.len());
        &d[..l]
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }
    /// Verifies the checksum given the pseudo-header sum. A zero checksum means "none"
    /// (legal over IPv4 only; the caller decides).
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::combine(&[pseudo, checksum::data(self.datagram())]) == 0xffff
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
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    /// Computes and stores the checksum (0 is sent as 0xffff).
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo, checksum::data(self.datagram())]);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
    /// Rewrites a port, updating a present checksum incrementally.
    pub fn set_src_port_update_checksum(&mut self, v: u16) {
        let old = self.src_port();
        self.set_src_port(v);
        self.update_checksum16(old, v);
    }
    pub fn set_dst_port_update_checksum(&mut self, v: u16) {
        let old = self.dst_port();
        self.set_dst_port(v);
        self.update_checksum16(old, v);
    }
    /// Applies an incremental update unless the checksum is absent (0).
    pub fn update_checksum16(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        if c != 0 {
            let n = checksum::update16(c, old, new);
            self.set_checksum(if n == 0 { 0xffff } else { n });
        }
    }
    /// Applies a precomputed checksum transform `f` unless the checksum is absent (0).
    pub fn update_checksum_with(&mut self, f: impl FnOnce(u16) -> u16) {
        let c = self.checksum();
        if c != 0 {
            let n = f(c);
            self.set_checksum(if n == 0 { 0xffff } else { n });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // smoltcp's UDP test vector: 192.168.1.1 -> 192.168.1.2.
    const BYTES: [u8; 12] = [
        0xbf, 0x00, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x4d, 0xaa, 0x00, 0x00, 0xff,
    ];
    const SRC: u32 = 0xc0a8_0101;
    const DST: u32 = 0xc0a8_0102;

    #[test]
    fn parse() {
        let p = Packet::new_checked(&BYTES[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (48896, 53, 12, 0x124d)
        );
        assert_eq!(p.payload(), &[0xaa, 0, 0, 0xff]);
        assert!(p.verify_checksum(checksum::pseudo_v4(SRC, DST, 17, 12)));
        assert!(p.check_length_field().is_ok());
    }

    #[test]
    fn build() {
        let mut b = [0u8; 12];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(48896);
        p.set_dst_port(53);
        p.set_len(12);
        b[8..].copy_from_slice(&[0xaa, 0, 0, 0xff]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(checksum::pseudo_v4(SRC, DST, 17, 12));
        assert_eq!(b, BYTES);
    }

    #[test]
    fn port_rewrite_keeps_checksum() {
        let mut b = BYTES;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port_update_checksum(1);
        p.set_dst_port_update_checksum(0xffff);
        assert!(p.verify_checksum(checksum::pseudo_v4(SRC, DST, 17, 12)));
        // An absent checksum stays absent.
        p.set_checksum(0);
        p.set_src_port_update_checksum(7);
        assert_eq!(p.checksum(), 0);
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            Packet::new_checked(&BYTES[..7]).unwrap_err(),
            Error::Truncated
        );
        let p = Packet::new_checked(&BYTES[..10]).unwrap();
        assert_eq!(p.check_length_field().unwrap_err(), Error::Truncated);
        assert_eq!(p.payload(), &[0xaa, 0]);
        let mut b = BYTES;
        b[5] = 3;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.check_length_field().unwrap_err(), Error::BadLength);
        assert!(p.payload().is_empty());
    }
}
