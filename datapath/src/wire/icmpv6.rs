//! ICMPv6 (RFC 4443), Neighbor Discovery (RFC 4861: RS, RA, NS, NA with source/target
//! link-layer address options) and a minimal MLD (RFC 2710/3810) view.

use super::checksum;
use super::{be128, be16, be32, mac, put128, put16, put32, put_mac, Error, MacAddr};

pub mod types {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const MLD2_REPORT: u8 = 143;
}

/// ND option types.
pub mod nd_opt {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const MTU: u8 = 5;
}

/// NA flag bits (in the first byte after the checksum).
pub mod na_flags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const BODY: usize = 4;
    /// NS/NA target, MLDv1 multicast address.
    pub const ADDR: usize = 8;
    pub const ADDR_END: usize = 24;
    /// RS options start after 4 reserved bytes.
    pub const RS_OPTS: usize = 8;
    pub const RA_HOP_LIMIT: usize = 4;
    pub const RA_FLAGS: usize = 5;
    pub const RA_LIFETIME: usize = 6;
    pub const RA_REACHABLE: usize = 8;
    pub const RA_RETRANS: usize = 12;
    pub const RA_OPTS: usize = 16;
}

pub const HEADER_LEN: usize = field::ADDR;

/// A read/write view of an ICMPv6 message. `new_checked` guarantees 8 bytes, plus 24
/// for NS, NA and MLDv1 messages and 16 for RA, so the type-specific accessors of those
/// messages never panic.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Minimum length for a message type.
fn min_len(ty: u8) -> usize {
    match ty {
        types::NEIGHBOR_SOLICIT
        | types::NEIGHBOR_ADVERT
        | types::MLD_QUERY
        | types::MLD_REPORT
        | types::MLD_DONE => field::ADDR_END,
        types::ROUTER_ADVERT => field::RA_OPTS,
        _ => HEADER_LEN,
    }
}

/// Link-layer address options found in an ND message: (offset of the address within the
/// ICMPv6 message, address).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NdLinkAddrs {
    pub sll: Option<(usize, MacAddr)>,
    pub tll: Option<(usize, MacAddr)>,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let d = buffer.as_ref();
        if d.len() < HEADER_LEN || d.len() < min_len(d[field::TYPE]) {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// The 4 bytes after the checksum (echo id/seq, MTU, NA flags, ...).
    #[inline]
    pub fn body_word(&self) -> u32 {
        be32(self.buffer.as_ref(), field::BODY)
    }
    #[inline]
    pub fn is_nd_ns_na(&self) -> bool {
        matches!(
            self.msg_type(),
            types::NEIGHBOR_SOLICIT | types::NEIGHBOR_ADVERT
        )
    }
    /// NS/NA target address; `None` for other types.
    #[inline]
    pub fn nd_target(&self) -> Option<u128> {
        self.is_nd_ns_na()
            .then(|| be128(self.buffer.as_ref(), field::ADDR))
    }
    /// NA flags byte (R, S, O); 0 for other types.
    #[inline]
    pub fn na_flags(&self) -> u8 {
        if self.msg_type() == types::NEIGHBOR_ADVERT {
            self.buffer.as_ref()[field::BODY]
        } else {
            0
        }
    }
    /// MLDv1 multicast address; `None` for other types.
    #[inline]
    pub fn mld_address(&self) -> Option<u128> {
        matches!(
            self.msg_type(),
            types::MLD_QUERY | types::MLD_REPORT | types::MLD_DONE
        )
        .then(|| be128(self.buffer.as_ref(), field::ADDR))
    }
    /// RA fields: (current hop limit, flags, router lifetime, reachable, retrans timer).
    pub fn ra_fields(&self) -> Option<(u8, u8, u16, u32, u32)> {
        let d = self.buffer.as_ref();
        (self.msg_type() == types::ROUTER_ADVERT).then(|| {
            (
                d[field::RA_HOP_LIMIT],
                d[field::RA_FLAGS],
                be16(d, field::RA_LIFETIME),
                be32(d, field::RA_REACHABLE),
                be32(d, field::RA_RETRANS),
            )
        })
    }
    /// Offset where ND options start for RS/RA/NS/NA; `None` for other types.
    pub fn nd_options_offset(&self) -> Option<usize> {
        match self.msg_type() {
            types::ROUTER_SOLICIT => Some(field::RS_OPTS),
            types::ROUTER_ADVERT => Some(field::RA_OPTS),
            types::NEIGHBOR_SOLICIT | types::NEIGHBOR_ADVERT => Some(field::ADDR_END),
            _ => None,
        }
    }
    /// Iterates ND options as `(offset, type, whole option bytes)`.
    pub fn nd_options(&self) -> NdOptions<'_> {
        let d = self.buffer.as_ref();
        let off = self.nd_options_offset().unwrap_or(d.len()).min(d.len());
        NdOptions {
            data: d,
            off,
            failed: false,
        }
    }
    /// Source/target link-layer address options, as OVS reads them: options of 8 bytes
    /// only; a zero-length option or a repeated SLL/TLL is an error.
    pub fn nd_link_addrs(&self) -> Result<NdLinkAddrs, Error> {
        let mut out = NdLinkAddrs::default();
        for opt in self.nd_options() {
            let (off, ty, bytes) = opt?;
            if bytes.len() != 8 {
                continue;
            }
            let slot = match ty {
                nd_opt::SOURCE_LLADDR => &mut out.sll,
                nd_opt::TARGET_LLADDR => &mut out.tll,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::BadOption);
            }
            *slot = Some((off + 2, mac(bytes, 2)));
        }
        Ok(out)
    }
    /// Verifies the checksum (the caller passes the IPv6 pseudo-header sum).
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]) == 0xffff
    }
}

/// Iterator over ND options; yields one `Err` and stops on a malformed option.
pub struct NdOptions<'a> {
    data: &'a [u8],
    off: usize,
    failed: bool,
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<(usize, u8, &'a [u8]), Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.off >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.off..];
        if rest.len() < 2 {
            self.failed = true;
            return Some(Err(Error::Truncated));
        }
        let len = rest[1] as usize * 8;
        if len == 0 {
            self.failed = true;
            return Some(Err(Error::BadOption));
        }
        if len > rest.len() {
            self.failed = true;
            return Some(Err(Error::Truncated));
        }
        let off = self.off;
        self.off += len;
        Some(Ok((off, rest[0], &rest[..len])))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v)
    }
    #[inline]
    pub fn set_body_word(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::BODY, v)
    }
    /// Writes the NS/NA target or MLDv1 address (the caller made the buffer >= 24 bytes).
    #[inline]
    pub fn set_addr(&mut self, v: u128) {
        put128(self.buffer.as_mut(), field::ADDR, v)
    }
    /// Writes a link-layer address at an offset returned by [`Packet::nd_link_addrs`].
    #[inline]
    pub fn set_lladdr_at(&mut self, off: usize, v: MacAddr) {
        put_mac(self.buffer.as_mut(), off, v)
    }
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0001;
    const DST: u128 = 0xff02_0000_0000_0000_0000_0001_ff00_0002;
    const TARGET: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0002;

    /// NS for TARGET with an SLL option 02:00:00:00:00:01.
    fn ns() -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0] = types::NEIGHBOR_SOLICIT;
        b[8..24].copy_from_slice(&TARGET.to_be_bytes());
        b[24..32].copy_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
        b
    }

    #[test]
    fn parse_ns() {
        let mut b = ns();
        let pseudo = checksum::pseudo_v6(SRC, DST, 58, 32);
        Packet::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum(pseudo);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_target(), Some(TARGET));
        let ll = p.nd_link_addrs().unwrap();
        assert_eq!(ll.sll, Some((26, [2, 0, 0, 0, 0, 1])));
        assert_eq!(ll.tll, None);
        assert!(p.verify_checksum(pseudo));
        assert!(!p.verify_checksum(checksum::pseudo_v6(SRC, DST + 1, 58, 32)));
    }

    #[test]
    fn build_na_and_rewrite_tll() {
        let mut b = [0u8; 32];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_msg_type(types::NEIGHBOR_ADVERT);
        p.set_body_word(((na_flags::SOLICITED | na_flags::OVERRIDE) as u32) << 24);
        p.set_addr(TARGET);
        b[24..26].copy_from_slice(&[nd_opt::TARGET_LLADDR, 1]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        let off = p.nd_link_addrs().unwrap().tll.unwrap().0;
        p.set_lladdr_at(off, [2, 0, 0, 0, 0, 9]);
        assert_eq!(p.na_flags(), 0x60);
        assert_eq!(&b[24..32], &[2, 1, 2, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn rs_ra_mld() {
        let rs = [133u8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 7];
        let p = Packet::new_checked(&rs[..]).unwrap();
        assert_eq!(
            p.nd_link_addrs().unwrap().sll,
            Some((10, [2, 0, 0, 0, 0, 7]))
        );
        assert_eq!(p.nd_target(), None);
        let mut ra = [0u8; 24];
        ra[0] = 134;
        ra[4] = 64;
        ra[6..8].copy_from_slice(&1800u16.to_be_bytes());
        ra[16..24].copy_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        let p = Packet::new_checked(&ra[..]).unwrap();
        assert_eq!(p.ra_fields(), Some((64, 0, 1800, 0, 0)));
        let opts: Vec<_> = p.nd_options().map(|o| o.unwrap().1).collect();
        assert_eq!(opts, vec![nd_opt::MTU]);
        let mut mld = [0u8; 24];
        mld[0] = types::MLD_REPORT;
        mld[8..24].copy_from_slice(&DST.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&mld[..]).unwrap().mld_address(),
            Some(DST)
        );
    }

    #[test]
    fn impossible_lengths_and_options() {
        let b = ns();
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..23]).unwrap_err(), Error::Truncated);
        let mut z = ns();
        z[25] = 0; // zero-length option
        assert_eq!(
            Packet::new_checked(&z[..])
                .unwrap()
                .nd_link_addrs()
                .unwrap_err(),
            Error::BadOption
        );
        let mut long = ns();
        long[25] = 2; // claims 16 bytes, has 8
        assert_eq!(
            Packet::new_checked(&long[..])
                .unwrap()
                .nd_link_addrs()
                .unwrap_err(),
            Error::Truncated
        );
        let mut dup = [0u8; 40];
        dup[..32].copy_from_slice(&ns());
        dup[32..].copy_from_slice(&[1, 1, 2, 0, 0, 0, 0, 3]);
        assert_eq!(
            Packet::new_checked(&dup[..])
                .unwrap()
                .nd_link_addrs()
                .unwrap_err(),
            Error::BadOption
        );
    }
}
