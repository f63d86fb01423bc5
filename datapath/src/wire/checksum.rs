//! The Internet checksum (RFC 1071): full computation, pseudo-headers for TCP/UDP/ICMPv6,
//! and incremental updates (RFC 1624, `HC' = ~(~HC + ~m + m')`) for header rewrites.
//!
//! Sums are carried unfolded in a `u64` and folded once. Incremental helpers take the
//! checksum field as stored (already complemented) and 16-bit-aligned old/new values.

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// not yet folded or complemented.
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [odd] = chunks.remainder() {
        acc += (*odd as u64) << 8;
    }
    acc
}

/// Folds a 64-bit partial sum to 16 bits (ones'-complement addition of all 16-bit parts).
#[inline]
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Folded ones'-complement sum of `data` (not complemented).
#[inline]
pub fn data(data: &[u8]) -> u16 {
    fold(sum(data))
}

/// Ones'-complement addition of several folded sums.
#[inline]
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| p as u64).sum())
}

/// Folded sum of the IPv4 pseudo-header.
#[inline]
pub fn pseudo_v4(src: u32, dst: u32, proto: u8, len: u32) -> u16 {
    fold(
        (src >> 16) as u64
            + (src & 0xffff) as u64
            + (dst >> 16) as u64
            + (dst & 0xffff) as u64
            + proto as u64
            + (len >> 16) as u64
            + (len & 0xffff) as u64,
    )
}

#[inline]
fn sum128(v: u128) -> u64 {
    let mut s = 0u64;
    for i in 0..8 {
        s += ((v >> (16 * i)) & 0xffff) as u64;
    }
    s
}

/// Folded sum of the IPv6 pseudo-header (RFC 8200 §8.1).
#[inline]
pub fn pseudo_v6(src: u128, dst: u128, proto: u8, len: u32) -> u16 {
    fold(sum128(src) + sum128(dst) + proto as u64 + (len >> 16) as u64 + (len & 0xffff) as u64)
}

/// RFC 1624 eqn. 3 for one 16-bit word: the stored checksum after `old` became `new`.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(!csum as u64 + !old as u64 + new as u64)
}

/// Incremental update for a 32-bit field (two aligned 16-bit words).
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let s = !csum as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(s)
}

/// Incremental update for a 128-bit field (eight aligned 16-bit words).
#[inline]
pub fn update128(csum: u16, old: u128, new: u128) -> u16 {
    let s = !csum as u64 + sum128(!old) + sum128(new);
    !fold(s)
}

/// Incremental update for a 48-bit field (a MAC address at an even offset).
#[inline]
pub fn update48(csum: u16, old: [u8; 6], new: [u8; 6]) -> u16 {
    let mut s = !csum as u64;
    for i in 0..3 {
        let o = u16::from_be_bytes([old[2 * i], old[2 * i + 1]]);
        let n = u16::from_be_bytes([new[2 * i], new[2 * i + 1]]);
        s += !o as u64 + n as u64;
    }
    !fold(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1071 §3 example bytes: sum = 0xddf2.
    const RFC1071: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    #[test]
    fn rfc1071_example() {
        assert_eq!(data(&RFC1071), 0xddf2);
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        for n in 0..RFC1071.len() {
            let mut padded = RFC1071[..n].to_vec();
            padded.push(0);
            if padded.len() % 2 == 1 {
                padded.push(0);
            }
            assert_eq!(data(&RFC1071[..n]), data(&padded), "len {n}");
        }
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[1, 2, 3, 4, 5]), fold(0x0102 + 0x0304 + 0x0500));
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut buf = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c0 = !data(&buf);
        // Change the address 10.0.0.2 -> 192.168.7.9.
        let new = u32::from_be_bytes([192, 168, 7, 9]);
        let c1 = update32(c0, u32::from_be_bytes([10, 0, 0, 2]), new);
        buf[16..20].copy_from_slice(&new.to_be_bytes());
        assert_eq!(c1, !data(&buf));
        // TTL 64 -> 63 (word ttl|proto).
        let c2 = update16(c1, 0x4001, 0x3f01);
        buf[8] = 0x3f;
        assert_eq!(c2, !data(&buf));
        // A 48-bit change on an even offset.
        let c3 = update48(c2, [10, 0, 0, 1, 192, 168], [1, 2, 3, 4, 5, 6]);
        buf[12..18].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(c3, !data(&buf));
        let old = u128::from_be_bytes([7; 16]);
        let new = u128::from_be_bytes([0xfe; 16]);
        let mut b16 = [7u8; 16];
        let c = !data(&b16);
        b16 = [0xfe; 16];
        assert_eq!(update128(c, old, new), !data(&b16));
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_v4(0x0a00_0001, 0x0a00_0002, 17, 12);
        assert_eq!(v4, fold(0x0a00 + 1 + 0x0a00 + 2 + 17 + 12));
        let v6 = pseudo_v6(1, 2, 58, 32);
        assert_eq!(v6, 1 + 2 + 58 + 32);
    }
}
