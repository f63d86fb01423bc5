//! Ethernet II frames and 802.1Q/802.1ad VLAN tags.

use super::{be16, mac, put16, put_mac, Error, MacAddr};

/// EtherType values the datapath recognises.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
}

mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of an Ethernet II frame (no FCS).
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps without checking; accessors may panic if the buffer is shorter than 14 bytes.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }
    /// Wraps, refusing buffers shorter than the header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Frame { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn dst(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::DST)
    }
    #[inline]
    pub fn src(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::SRC)
    }
    /// The outer EtherType (0x8100 for a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }
    /// Everything after the 14-byte header (starting with a VLAN tag if tagged).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline]
    pub fn set_dst(&mut self, v: MacAddr) {
        put_mac(self.buffer.as_mut(), field::DST, v)
    }
    #[inline]
    pub fn set_src(&mut self, v: MacAddr) {
        put_mac(self.buffer.as_mut(), field::SRC, v)
    }
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, v)
    }
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

mod vfield {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
    pub const PAYLOAD: usize = 4;
}

/// Length of one VLAN tag (TCI + inner EtherType), following the outer EtherType.
pub const VLAN_TAG_LEN: usize = vfield::PAYLOAD;

/// A view of an 802.1Q tag as it follows the outer EtherType: TCI, then the inner EtherType.
#[derive(Debug, Clone)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    pub const fn new_unchecked(buffer: T) -> VlanTag<T> {
        VlanTag { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<VlanTag<T>, Error> {
        if buffer.as_ref().len() < VLAN_TAG_LEN {
            return Err(Error::Truncated);
        }
        Ok(VlanTag { buffer })
    }
    /// Tag control information: PCP (3) | DEI (1) | VID (12).
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), vfield::TCI)
    }
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), vfield::ETHERTYPE)
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[vfield::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline]
    pub fn set_tci(&mut self, v: u16) {
        put16(self.buffer.as_mut(), vfield::TCI, v)
    }
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), vfield::ETHERTYPE, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGGED: [u8; 20] = [
        0x02, 0, 0, 0, 0, 0x02, // dst
        0x02, 0, 0, 0, 0, 0x01, // src
        0x81, 0x00, // 802.1Q
        0xa0, 0x64, // pcp 5, vid 100
        0x08, 0x00, // IPv4
        0x45, 0x00,
    ];

    #[test]
    fn parse_tagged() {
        let f = Frame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(f.dst(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(f.src(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), ethertype::VLAN);
        let t = VlanTag::new_checked(f.payload()).unwrap();
        assert_eq!(t.vid(), 100);
        assert_eq!(t.pcp(), 5);
        assert_eq!(t.ethertype(), ethertype::IPV4);
        assert_eq!(t.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn build() {
        let mut buf = [0u8; 20];
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        f.set_dst([2, 0, 0, 0, 0, 2]);
        f.set_src([2, 0, 0, 0, 0, 1]);
        f.set_ethertype(ethertype::VLAN);
        let mut t = VlanTag::new_checked(f.payload_mut()).unwrap();
        t.set_tci(0xa064);
        t.set_ethertype(ethertype::IPV4);
        buf[18] = 0x45;
        assert_eq!(buf, TAGGED);
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            Frame::new_checked(&TAGGED[..13]).unwrap_err(),
            Error::Truncated
        );
        assert!(Frame::new_checked(&TAGGED[..14])
            .unwrap()
            .payload()
            .is_empty());
        assert_eq!(
            VlanTag::new_checked(&TAGGED[14..17]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(Frame::new_checked(&[][..]).unwrap_err(), Error::Truncated);
    }
}
