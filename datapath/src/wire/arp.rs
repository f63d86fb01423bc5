//! ARP for Ethernet/IPv4 (RFC 826). Other hardware/protocol pairs are refused.

use super::{be16, be32, mac, put16, put32, put_mac, Error, MacAddr};

pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OP: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const END: usize = 28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::END;

/// A read/write view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    /// Wraps, requiring 28 bytes and htype 1 / ptype 0x0800 / hlen 6 / plen 4.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let d = buffer.as_ref();
        if d.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if be16(d, field::HTYPE) != 1
            || be16(d, field::PTYPE) != 0x0800
            || d[field::HLEN] != 6
            || d[field::PLEN] != 4
        {
            return Err(Error::UnsupportedArp);
        }
        Ok(Packet { buffer })
    }
    #[inline]
    pub fn op(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OP)
    }
    #[inline]
    pub fn sha(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::SHA)
    }
    #[inline]
    pub fn spa(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SPA)
    }
    #[inline]
    pub fn tha(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::THA)
    }
    #[inline]
    pub fn tpa(&self) -> u32 {
        be32(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the fixed Ethernet/IPv4 preamble (htype, ptype, hlen, plen).
    pub fn set_ethernet_ipv4(&mut self) {
        let d = self.buffer.as_mut();
        put16(d, field::HTYPE, 1);
        put16(d, field::PTYPE, 0x0800);
        d[field::HLEN] = 6;
        d[field::PLEN] = 4;
    }
    #[inline]
    pub fn set_op(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::OP, v)
    }
    #[inline]
    pub fn set_sha(&mut self, v: MacAddr) {
        put_mac(self.buffer.as_mut(), field::SHA, v)
    }
    #[inline]
    pub fn set_spa(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SPA, v)
    }
    #[inline]
    pub fn set_tha(&mut self, v: MacAddr) {
        put_mac(self.buffer.as_mut(), field::THA, v)
    }
    #[inline]
    pub fn set_tpa(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::TPA, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0, 1, 8, 0, 6, 4, 0, 1, // eth/ipv4 request
        0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1, // sha spa
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // tha tpa
    ];

    #[test]
    fn parse() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.op(), OP_REQUEST);
        assert_eq!(p.sha(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(p.spa(), 0x0a00_0001);
        assert_eq!(p.tha(), [0; 6]);
        assert_eq!(p.tpa(), 0x0a00_0002);
    }

    #[test]
    fn build() {
        let mut b = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_ethernet_ipv4();
        p.set_op(OP_REQUEST);
        p.set_sha([2, 0, 0, 0, 0, 1]);
        p.set_spa(0x0a00_0001);
        p.set_tpa(0x0a00_0002);
        assert_eq!(b, REQUEST);
    }

    #[test]
    fn impossible() {
        assert_eq!(
            Packet::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut b = REQUEST;
        b[4] = 8;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::UnsupportedArp
        );
    }
}
