//! IPv4 headers (RFC 791), with options, header checksum compute/verify and RFC 1624
//! incremental updates for the fields the datapath rewrites (TTL, TOS, addresses).

use super::checksum;
use super::{be16, be32, put16, put32, Error};

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const OPTIONS: usize = 20;
}

/// Minimum (option-less) header length.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

/// Flag bits within the 16-bit flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
/// Fragment offset (in 8-byte units) within the same word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
///
/// `new_checked` guarantees: version 4, 20 <= header_len <= total_len <= buffer length.
/// So `header()`, `options()` and `payload()` never panic. Trailing bytes beyond
/// `total_len` (Ethernet padding) are ignored by `payload()`.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }
    /// The checks `new_checked` makes, in order.
    pub fn check_len(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if hl > d.len() {
            return Err(Error::Truncated);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(Error::BadLength);
        }
        if tl > d.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    /// The whole TOS byte: DSCP << 2 | ECN.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 3
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }
    /// True for any fragment (MF set or non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    #[inline]
    pub fn src(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SRC)
    }
    #[inline]
    pub fn dst(&self) -> u32 {
        be32(self.buffer.as_ref(), field::DST)
    }
    /// The header including options.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }
    /// Bytes `header_len..total_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
    /// True if the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.header()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length (bytes, a multiple of 4 in 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v
    }
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v)
    }
    /// Sets flags (DF/MF bits) and fragment offset (bytes, multiple of 8).
    #[inline]
    pub fn set_flags_frag(&mut self, flags: u16, offset_bytes: u16) {
        let v = (flags & (FLAG_DF | FLAG_MF)) | ((offset_bytes >> 3) & OFFSET_MASK);
        put16(self.buffer.as_mut(), field::FLG_OFF, v)
    }
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_src(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SRC, v)
    }
    #[inline]
    pub fn set_dst(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::DST, v)
    }
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }
    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !checksum::data(self.header());
        self.set_checksum(c);
    }
    /// Sets the TTL, updating the checksum incrementally.
    pub fn set_ttl_update_checksum(&mut self, v: u8) {
        let old = be16(self.buffer.as_ref(), field::TTL);
        let new = ((v as u16) << 8) | (old & 0xff);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_ttl(v);
        self.set_checksum(c);
    }
    /// Sets the TOS byte, updating the checksum incrementally.
    pub fn set_tos_update_checksum(&mut self, v: u8) {
        let old = be16(self.buffer.as_ref(), field::VER_IHL);
        let new = (old & 0xff00) | v as u16;
        let c = checksum::update16(self.checksum(), old, new);
        self.set_tos(v);
        self.set_checksum(c);
    }
    /// Sets the source address, updating the header checksum incrementally (the caller
    /// updates any L4 pseudo-header checksum).
    pub fn set_src_update_checksum(&mut self, v: u32) {
        let c = checksum::update32(self.checksum(), self.src(), v);
        self.set_src(v);
        self.set_checksum(c);
    }
    /// Sets the destination address, updating the header checksum incrementally.
    pub fn set_dst_update_checksum(&mut self, v: u32) {
        let c = checksum::update32(self.checksum(), self.dst(), v);
        self.set_dst(v);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, UDP, TTL 64, DF, total 28, plus 8 bytes of UDP and 2 of padding.
    const UDP_PKT: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x14, 0x9b, 10, 0, 0, 1, 10, 0,
        0, 2, //
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, //
        0xee, 0xee,
    ];
    // IHL 6 (4 bytes of options), MF set, offset 128 bytes, TTL 63, TCP.
    const WITH_OPTS: [u8; 32] = [
        0x46, 0x00, 0x00, 0x20, 0x00, 0x01, 0x20, 0x10, 0x3f, 0x06, 0xd7, 0x72, 192, 168, 0, 1,
        192, 168, 0, 2, //
        1, 1, 1, 0, //
        0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn parse() {
        let p = Packet::new_checked(&UDP_PKT[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src(), 0x0a00_0001);
        assert_eq!(p.dst(), 0x0a00_0002);
        assert_eq!(p.payload().len(), 8, "padding excluded");
        assert!(p.verify_checksum());
    }

    #[test]
    fn parse_options_and_fragment() {
        let p = Packet::new_checked(&WITH_OPTS[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 128);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn build() {
        let mut b = [0u8; 32];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(24);
        p.set_total_len(32);
        p.set_ident(1);
        p.set_flags_frag(FLAG_MF, 128);
        p.set_ttl(63);
        p.set_protocol(6);
        p.set_src(0xc0a8_0001);
        p.set_dst(0xc0a8_0002);
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        p.fill_checksum();
        assert_eq!(b, WITH_OPTS);
    }

    #[test]
    fn incremental_updates_keep_checksum_valid() {
        let mut b = WITH_OPTS;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl_update_checksum(1);
        p.set_tos_update_checksum(0xb8);
        p.set_src_update_checksum(0x0102_0304);
        p.set_dst_update_checksum(0xffff_fffe);
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        // Both representations of zero are valid; compare by verifying instead.
        assert!(p.verify_checksum());
        assert!(inc == p.checksum() || (inc ^ p.checksum()) == 0xffff);
        assert_eq!(
            (p.ttl(), p.tos(), p.src(), p.dst()),
            (1, 0xb8, 0x0102_0304, 0xffff_fffe)
        );
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            Packet::new_checked(&UDP_PKT[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut b = UDP_PKT;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadVersion);
        b[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadHeaderLength
        );
        b[0] = 0x4f; // 60-byte header in a 30-byte buffer
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        b[0] = 0x45;
        b[3] = 19; // total < header
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);
        b[3] = 31; // total > buffer
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
    }
}
