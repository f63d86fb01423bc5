//! IGMP (RFC 2236 v1/v2 and the fixed part of RFC 3376 v3 reports), minimal: enough for
//! the datapath to classify and for `igmp` snooping to read group addresses later.

use super::checksum;
use super::{be16, be32, put16, put32, Error};

pub mod types {
    pub const MEMBERSHIP_QUERY: u8 = 0x11;
    pub const V1_REPORT: u8 = 0x12;
    pub const V2_REPORT: u8 = 0x16;
    pub const LEAVE_GROUP: u8 = 0x17;
    pub const V3_REPORT: u8 = 0x22;
}

mod field {
    pub const TYPE: usize = 0;
    pub const MAX_RESP: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// Group address (v1/v2/query); for v3 reports: reserved (2) | number of records (2).
    pub const GROUP: usize = 4;
    pub const END: usize = 8;
}

pub const HEADER_LEN: usize = field::END;

/// A read/write view of an IGMP message. `new_checked` guarantees 8 bytes.
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
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    #[inline]
    pub fn max_resp(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_RESP]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Group address of queries and v1/v2 reports/leaves; `None` for v3 reports.
    #[inline]
    pub fn group(&self) -> Option<u32> {
        (self.msg_type() != types::V3_REPORT).then(|| be32(self.buffer.as_ref(), field::GROUP))
    }
    /// Number of group records of a v3 report.
    #[inline]
    pub fn v3_num_records(&self) -> Option<u16> {
        (self.msg_type() == types::V3_REPORT).then(|| be16(self.buffer.as_ref(), field::GROUP + 2))
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }
    pub fn set_max_resp(&mut self, v: u8) {
        self.buffer.as_mut()[field::MAX_RESP] = v
    }
    pub fn set_group(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::GROUP, v)
    }
    pub fn fill_checksum(&mut self) {
        put16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let c = !checksum::data(self.buffer.as_ref());
        put16(self.buffer.as_mut(), field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // v2 report for 239.1.2.3: checksum = !(0x1600 + 0xef01 + 0x0203) = !0x0705 (folded).
    const REPORT: [u8; 8] = [0x16, 0, 0xf8, 0xfa, 239, 1, 2, 3];

    #[test]
    fn parse_build() {
        let p = Packet::new_checked(&REPORT[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.group(), p.v3_num_records()),
            (0x16, Some(0xef01_0203), None)
        );
        assert!(p.verify_checksum());
        let mut b = [0u8; 8];
        let mut q = Packet::new_checked(&mut b[..]).unwrap();
        q.set_msg_type(types::V2_REPORT);
        q.set_group(0xef01_0203);
        q.fill_checksum();
        assert_eq!(b, REPORT);
        let v3 = [0x22, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(
            Packet::new_checked(&v3[..]).unwrap().v3_num_records(),
            Some(2)
        );
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            Packet::new_checked(&REPORT[..7]).unwrap_err(),
            Error::Truncated
        );
    }
}
