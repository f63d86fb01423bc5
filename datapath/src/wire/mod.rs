//! Checked zero-copy header views, in the smoltcp style.
//!
//! Each protocol module has a `Packet<T: AsRef<[u8]>>` (or `Frame`) view over a byte
//! buffer. `new_checked` validates every length the accessors rely on, once; after it
//! succeeded no getter panics (a stated contract: accessors index only inside the checked
//! length). Setters exist for `T: AsMut<[u8]>`. Field offsets live in a private `mod field`.
//! `new_unchecked` skips validation; accessors on such a view may panic on short buffers
//! and are meant for buffers whose length the caller already knows.
//!
//! Errors are the closed [`Error`] enum: every rejection has a reason.
//!
//! Not here yet: owned `Repr` types with `parse`/`emit` for every header (only the pieces
//! the datapath needs: views, setters and checksum helpers), SCTP, IPv6 jumbograms.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

/// Why a header view was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header (or than a length field says).
    Truncated,
    /// The IP version nibble is not the one the view expects.
    BadVersion,
    /// A header-length field is below the minimum or beyond the buffer.
    BadHeaderLength,
    /// A total/payload length field is inconsistent with the header length.
    BadLength,
    /// ARP for a hardware/protocol pair other than Ethernet/IPv4.
    UnsupportedArp,
    /// An option (IPv4, ND, extension header) has a zero or overlong length.
    BadOption,
    /// More IPv6 extension headers than [`ipv6::MAX_EXT_HEADERS`].
    TooManyExtensionHeaders,
}

impl Error {
    /// A stable, short name (for counters and logs).
    pub const fn name(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad-version",
            Error::BadHeaderLength => "bad-header-length",
            Error::BadLength => "bad-length",
            Error::UnsupportedArp => "unsupported-arp",
            Error::BadOption => "bad-option",
            Error::TooManyExtensionHeaders => "too-many-extension-headers",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Error {}

/// A 48-bit Ethernet address.
pub type MacAddr = [u8; 6];

/// IP protocol numbers used by the datapath.
pub mod ip_proto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NONE: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}

// Big-endian accessors shared by the views. Callers guarantee `o + size <= d.len()`.
#[inline(always)]
pub(crate) fn be16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}
#[inline(always)]
pub(crate) fn be32(d: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}
#[inline(always)]
pub(crate) fn be128(d: &[u8], o: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[o..o + 16]);
    u128::from_be_bytes(b)
}
#[inline(always)]
pub(crate) fn mac(d: &[u8], o: usize) -> MacAddr {
    let mut b = [0u8; 6];
    b.copy_from_slice(&d[o..o + 6]);
    b
}
#[inline(always)]
pub(crate) fn put16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_be_bytes());
}
#[inline(always)]
pub(crate) fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_be_bytes());
}
#[inline(always)]
pub(crate) fn put128(d: &mut [u8], o: usize, v: u128) {
    d[o..o + 16].copy_from_slice(&v.to_be_bytes());
}
#[inline(always)]
pub(crate) fn put_mac(d: &mut [u8], o: usize, v: MacAddr) {
    d[o..o + 6].copy_from_slice(&v);
}
