//! IPv6 fixed headers (RFC 8200) and a bounded walk over the extension headers the
//! datapath must skip to find the upper-layer protocol: hop-by-hop, routing, fragment,
//! destination options and AH.

use super::ip_proto;
use super::{be128, be16, be32, put128, put16, put32, Error};

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const PAYLOAD: usize = 40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Most extension headers [`walk_extension_headers`] skips before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

/// A read/write view of an IPv6 packet.
///
/// `new_checked` guarantees version 6 and `40 + payload_len <= buffer length`.
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
        if d.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = Packet { buffer };
        if p.version() != 6 {
            return Err(Error::BadVersion);
        }
        if HEADER_LEN + p.payload_len() as usize > p.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) as u8
    }
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    #[inline]
    pub fn src(&self) -> u128 {
        be128(self.buffer.as_ref(), field::SRC)
    }
    #[inline]
    pub fn dst(&self) -> u128 {
        be128(self.buffer.as_ref(), field::DST)
    }
    /// Bytes `40..40 + payload_len` (extension headers included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..field::PAYLOAD + self.payload_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes version 6, traffic class and flow label.
    pub fn set_version_tc_flow(&mut self, tc: u8, label: u32) {
        let v = (6u32 << 28) | ((tc as u32) << 20) | (label & 0x000f_ffff);
        put32(self.buffer.as_mut(), field::VER_TC_FLOW, v)
    }
    pub fn set_traffic_class(&mut self, tc: u8) {
        let label = self.flow_label();
        self.set_version_tc_flow(tc, label)
    }
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v)
    }
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }
    #[inline]
    pub fn set_src(&mut self, v: u128) {
        put128(self.buffer.as_mut(), field::SRC, v)
    }
    #[inline]
    pub fn set_dst(&mut self, v: u128) {
        put128(self.buffer.as_mut(), field::DST, v)
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let n = self.payload_len() as usize;
        &mut self.buffer.as_mut()[field::PAYLOAD..field::PAYLOAD + n]
    }
}

/// Where the upper layer starts after the extension headers, and what fragmentation says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExtHeaders {
    /// The upper-layer protocol (or the fragment header's next header for a later fragment).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub offset: usize,
    /// A fragment header was present.
    pub fragment: bool,
    /// The fragment offset is non-zero: no upper-layer header follows.
    pub later_fragment: bool,
}

/// Walks extension headers starting with `next_header` over `payload` (the bytes after
/// the fixed header). Stops at the first non-extension protocol, at a later fragment, or
/// at "no next header" (59). At most [`MAX_EXT_HEADERS`] headers are skipped.
pub fn walk_extension_headers(mut next_header: u8, payload: &[u8]) -> Result<ExtHeaders, Error> {
    let mut off = 0usize;
    let mut out = ExtHeaders::default();
    for _ in 0..MAX_EXT_HEADERS {
        let len = match next_header {
            ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS => {
                if payload.len() < off + 2 {
                    return Err(Error::Truncated);
                }
                (payload[off + 1] as usize + 1) * 8
            }
            ip_proto::AH => {
                if payload.len() < off + 2 {
                    return Err(Error::Truncated);
                }
                (payload[off + 1] as usize + 2) * 4
            }
            ip_proto::FRAGMENT => 8,
            _ => {
                out.protocol = next_header;
                out.offset = off;
                return Ok(out);
            }
        };
        if payload.len() < off + len {
            return Err(Error::Truncated);
        }
        let nh = payload[off];
        if next_header == ip_proto::FRAGMENT {
            out.fragment = true;
            let offlg = be16(payload, off + 2);
            if offlg & 0xfff8 != 0 {
                out.later_fragment = true;
                out.protocol = nh;
                out.offset = off + len;
                return Ok(out);
            }
        }
        next_header = nh;
        off += len;
    }
    match next_header {
        ip_proto::HOPOPTS
        | ip_proto::ROUTING
        | ip_proto::DSTOPTS
        | ip_proto::AH
        | ip_proto::FRAGMENT => Err(Error::TooManyExtensionHeaders),
        _ => {
            out.protocol = next_header;
            out.offset = off;
            Ok(out)
        }
    }
}

/// Fragment header fields, for callers that need the identification.
pub fn fragment_ident(frag_header: &[u8]) -> Result<u32, Error> {
    if frag_header.len() < 8 {
        return Err(Error::Truncated);
    }
    Ok(be32(frag_header, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0001;
    const DST: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

    /// tc 0xb8, label 0x12345, hop-by-hop(PadN) -> fragment(first, M) -> UDP.
    fn packet() -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..8].copy_from_slice(&[0x6b, 0x81, 0x23, 0x45, 0x00, 24, 0, 64]);
        b[8..24].copy_from_slice(&SRC.to_be_bytes());
        b[24..40].copy_from_slice(&DST.to_be_bytes());
        b[40..48].copy_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
        b[48..56].copy_from_slice(&[17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
        b[56..64].copy_from_slice(&[0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        b
    }

    #[test]
    fn parse_and_walk() {
        let b = packet();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 24);
        assert_eq!(p.next_header(), 0);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!((p.src(), p.dst()), (SRC, DST));
        let e = walk_extension_headers(p.next_header(), p.payload()).unwrap();
        assert_eq!(
            e,
            ExtHeaders {
                protocol: 17,
                offset: 16,
                fragment: true,
                later_fragment: false
            }
        );
        assert_eq!(fragment_ident(&p.payload()[8..]).unwrap(), 0xdead_beef);
    }

    #[test]
    fn later_fragment_stops_walk() {
        let mut b = packet();
        b[50..52].copy_from_slice(&0x0010u16.to_be_bytes()); // offset 2*8, no M
        let p = Packet::new_checked(&b[..]).unwrap();
        let e = walk_extension_headers(p.next_header(), p.payload()).unwrap();
        assert!(e.fragment && e.later_fragment);
        assert_eq!((e.protocol, e.offset), (17, 16));
    }

    #[test]
    fn build() {
        let mut b = [0u8; 64];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(0xb8, 0x12345);
        p.set_payload_len(24);
        p.set_next_header(0);
        p.set_hop_limit(64);
        p.set_src(SRC);
        p.set_dst(DST);
        p.payload_mut()[..8].copy_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
        p.payload_mut()[8..16].copy_from_slice(&[17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
        p.payload_mut()[16..].copy_from_slice(&[0x12, 0x34, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        assert_eq!(b, packet());
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_traffic_class(0x04);
        assert_eq!((p.traffic_class(), p.flow_label()), (0x04, 0x12345));
    }

    #[test]
    fn impossible_lengths() {
        let b = packet();
        assert_eq!(Packet::new_checked(&b[..39]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..63]).unwrap_err(), Error::Truncated);
        let mut v4 = b;
        v4[0] = 0x45;
        assert_eq!(Packet::new_checked(&v4[..]).unwrap_err(), Error::BadVersion);
        // Hop-by-hop claiming 16 bytes in an 8-byte payload.
        assert_eq!(
            walk_extension_headers(0, &[17, 1, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            walk_extension_headers(0, &[17]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            walk_extension_headers(44, &[17, 0, 0]).unwrap_err(),
            Error::Truncated
        );
        // A chain of nine destination-options headers exceeds the bound.
        let chain = [60u8, 0, 0, 0, 0, 0, 0, 0].repeat(9);
        assert_eq!(
            walk_extension_headers(60, &chain).unwrap_err(),
            Error::TooManyExtensionHeaders
        );
        assert_eq!(walk_extension_headers(59, &[]).unwrap().protocol, 59);
    }
}
