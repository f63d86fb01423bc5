//! Test packets: one template per run (Ethernet + IPv4 + UDP, TCP SYN or ICMP echo, then a
//! 16-byte stamp and zero padding), rewritten in place per packet by [`Generator::stamp`]:
//! flow (source port, ICMP ident or source IP), sequence number and timestamp. Checksums are
//! recomputed from precomputed partial sums plus the few 16-bit words that changed, so the
//! per-packet cost does not depend on the packet size.
//!
//! Stamp layout (big endian, at the start of the L4 payload, 2-byte aligned):
//! `magic u16 | flow u16 | seq u32 | timestamp_ns u64`. An end marker uses [`END_MAGIC`]
//! and carries the sender's total in the timestamp field.
//!
//! Sizes are Ethernet frame lengths *including* the 4-byte FCS the device adds (the
//! `pktgen`/RFC 2544 convention): `--size 64` puts 60 bytes on the wire buffer.

use datapath::wire::checksum;

/// First word of a data stamp ("SP").
pub const MAGIC: u16 = 0x5350;
/// First word of an end-of-run marker ("SE").
pub const END_MAGIC: u16 = 0x5345;
/// Stamp length in bytes.
pub const STAMP_LEN: usize = 16;
/// FCS bytes counted in a size but not written.
pub const FCS: usize = 4;
/// Smallest and largest accepted size (frame + FCS).
pub const MIN_SIZE: usize = 64;
pub const MAX_SIZE: usize = 1518;

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const L4_OFF: usize = ETH_LEN + IP_LEN;

/// Transport of the generated packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    /// UDP datagram.
    Udp,
    /// TCP SYN carrying the stamp as data.
    Tcp,
    /// ICMP echo request.
    Icmp,
}

impl Proto {
    fn number(self) -> u8 {
        match self {
            Proto::Udp => 17,
            Proto::Tcp => 6,
            Proto::Icmp => 1,
        }
    }

    fn header_len(self) -> usize {
        match self {
            Proto::Udp | Proto::Icmp => 8,
            Proto::Tcp => 20,
        }
    }

    /// Smallest size (frame + FCS) that holds the headers and the stamp.
    pub fn min_size(self) -> usize {
        (L4_OFF + self.header_len() + STAMP_LEN + FCS).max(MIN_SIZE)
    }
}

/// What varies between flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Vary {
    /// Source port (ICMP: echo identifier) = base + flow.
    Port,
    /// Source IPv4 address = base + flow.
    Ip,
}

/// Everything that shapes the packets.
#[derive(Debug, Clone)]
pub struct PacketSpec {
    pub proto: Proto,
    /// Frame length including FCS.
    pub size: usize,
    /// Number of flows (1..=65536).
    pub flows: u32,
    pub vary: Vary,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
    /// UDP only: send checksum 0 (allowed over IPv4) instead of computing it.
    pub udp_csum_zero: bool,
}

impl Default for PacketSpec {
    fn default() -> Self {
        Self {
            proto: Proto::Udp,
            size: MIN_SIZE,
            flows: 1,
            vary: Vary::Port,
            src_mac: [0x02, 0, 0, 0, 0, 1],
            dst_mac: [0xff; 6],
            src_ip: u32::from_be_bytes([10, 0, 0, 1]),
            dst_ip: u32::from_be_bytes([10, 0, 0, 2]),
            src_port: 1024,
            dst_port: 9,
            udp_csum_zero: false,
        }
    }
}

impl PacketSpec {
    /// Checks sizes and counts; the error says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let min = self.proto.min_size();
        if self.size < min || self.size > MAX_SIZE {
            return Err(format!(
                "size {} out of range for {:?}: {min}..={MAX_SIZE} (frame length including FCS)",
                self.size, self.proto
            ));
        }
        if self.flows == 0 || self.flows > 65536 {
            return Err(format!("flows {} out of range 1..=65536", self.flows));
        }
        Ok(())
    }

    /// Bytes handed to the device per packet.
    pub fn frame_len(&self) -> usize {
        self.size - FCS
    }

    /// Offset of the stamp in the frame.
    pub fn stamp_off(&self) -> usize {
        L4_OFF + self.proto.header_len()
    }
}

/// Builds the template frame for `spec` with flow 0, seq 0, timestamp 0 and valid checksums.
pub fn build_template(spec: &PacketSpec) -> Vec<u8> {
    let len = spec.frame_len();
    let mut p = vec![0u8; len];
    p[0..6].copy_from_slice(&spec.dst_mac);
    p[6..12].copy_from_slice(&spec.src_mac);
    p[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut p[ETH_LEN..L4_OFF];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((len - ETH_LEN) as u16).to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    ip[8] = 64;
    ip[9] = spec.proto.number();
    ip[12..16].copy_from_slice(&spec.src_ip.to_be_bytes());
    ip[16..20].copy_from_slice(&spec.dst_ip.to_be_bytes());
    let l4 = &mut p[L4_OFF..];
    let l4_len = l4.len();
    match spec.proto {
        Proto::Udp => {
            l4[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
            l4[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
            l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        Proto::Tcp => {
            l4[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
            l4[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
            l4[4..8].copy_from_slice(&0x1000_0000u32.to_be_bytes()); // ISN
            l4[12..14].copy_from_slice(&((5u16 << 12) | 0x002).to_be_bytes()); // SYN
            l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
        }
        Proto::Icmp => {
            l4[0] = 8; // echo request
            l4[4..6].copy_from_slice(&spec.src_port.to_be_bytes()); // ident
        }
    }
    let off = spec.stamp_off();
    p[off..off + 2].copy_from_slice(&MAGIC.to_be_bytes());
    let g = Generator::new(spec);
    g.write(&mut p, 0, 0, 0);
    p
}

/// Per-packet rewriter: keeps the per-flow sequence numbers and the partial checksums.
#[derive(Debug, Clone)]
pub struct Generator {
    flows: u32,
    next_flow: u32,
    seqs: Vec<u32>,
    /// Packets stamped (and not unwound).
    total: u64,
    proto: Proto,
    vary: Vary,
    udp_csum_zero: bool,
    src_ip: u32,
    src_port: u16,
    stamp_off: usize,
    /// IPv4 header sum without checksum and (if varied) source address.
    ip_base: u64,
    /// L4 sum (pseudo-header included for UDP/TCP) without checksum, flow field, stamp
    /// fields after the magic, and (if varied) the source address.
    l4_base: u64,
}

impl Generator {
    /// A generator for `spec` (which must have passed [`PacketSpec::validate`]).
    pub fn new(spec: &PacketSpec) -> Self {
        // Sums over a template with every varying field zeroed.
        let len = spec.frame_len();
        let mut p = vec![0u8; len];
        p[ETH_LEN] = 0x45;
        p[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&((len - ETH_LEN) as u16).to_be_bytes());
        p[ETH_LEN + 6] = 0x40;
        p[ETH_LEN + 8] = 64;
        p[ETH_LEN + 9] = spec.proto.number();
        let fixed_src = if spec.vary == Vary::Ip {
            0
        } else {
            spec.src_ip
        };
        p[ETH_LEN + 12..ETH_LEN + 16].copy_from_slice(&fixed_src.to_be_bytes());
        p[ETH_LEN + 16..ETH_LEN + 20].copy_from_slice(&spec.dst_ip.to_be_bytes());
        let ip_base = checksum::sum(&p[ETH_LEN..L4_OFF]);
        let l4_len = len - L4_OFF;
        let l4 = &mut p[L4_OFF..];
        match spec.proto {
            Proto::Udp => {
                l4[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
                l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            }
            Proto::Tcp => {
                l4[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
                l4[4..8].copy_from_slice(&0x1000_0000u32.to_be_bytes());
                l4[12..14].copy_from_slice(&((5u16 << 12) | 0x002).to_be_bytes());
                l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
            }
            Proto::Icmp => l4[0] = 8,
        }
        let off = spec.stamp_off() - L4_OFF;
        l4[off..off + 2].copy_from_slice(&MAGIC.to_be_bytes());
        let mut l4_base = checksum::sum(l4);
        if spec.proto != Proto::Icmp {
            l4_base += checksum::pseudo_v4(fixed_src, spec.dst_ip, spec.proto.number(), 0) as u64
                + l4_len as u64;
        }
        Self {
            flows: spec.flows,
            next_flow: 0,
            seqs: vec![0; spec.flows as usize],
            total: 0,
            proto: spec.proto,
            vary: spec.vary,
            udp_csum_zero: spec.udp_csum_zero,
            src_ip: spec.src_ip,
            src_port: spec.src_port,
            stamp_off: spec.stamp_off(),
            ip_base,
            l4_base,
        }
    }

    /// Packets stamped so far (minus unwound ones).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Rewrites `frame` (a copy of the template) as the next packet, stamped with `ts`.
    /// Flows take turns. Returns false (nothing written) if `frame` is shorter than the
    /// stamp end.
    #[inline]
    pub fn stamp(&mut self, frame: &mut [u8], ts: u64) -> bool {
        if frame.len() < self.stamp_off + STAMP_LEN {
            return false;
        }
        let flow = self.next_flow;
        // `flow < flows == seqs.len()`; get_mut keeps this panic-free anyway.
        let Some(slot) = self.seqs.get_mut(flow as usize) else {
            return false;
        };
        let seq = *slot;
        *slot = seq.wrapping_add(1);
        self.next_flow = if flow + 1 == self.flows { 0 } else { flow + 1 };
        self.total += 1;
        self.write(frame, flow, seq, ts);
        true
    }

    /// Takes back the last `n` stamps (their packets were not sent), so the next packets
    /// reuse those sequence numbers.
    pub fn unwind(&mut self, n: usize) {
        for _ in 0..n.min(self.total as usize) {
            self.next_flow = if self.next_flow == 0 {
                self.flows - 1
            } else {
                self.next_flow - 1
            };
            if let Some(s) = self.seqs.get_mut(self.next_flow as usize) {
                *s = s.wrapping_sub(1);
            }
            self.total -= 1;
        }
    }

    #[inline]
    fn write(&self, p: &mut [u8], flow: u32, seq: u32, ts: u64) {
        let flow16 = flow as u16; // flows <= 65536: flow 65535 is the largest
        let (src_ip, port) = match self.vary {
            Vary::Port => (self.src_ip, self.src_port.wrapping_add(flow16)),
            Vary::Ip => (self.src_ip.wrapping_add(flow), self.src_port),
        };
        let o = self.stamp_off;
        p[o + 2..o + 4].copy_from_slice(&flow16.to_be_bytes());
        p[o + 4..o + 8].copy_from_slice(&seq.to_be_bytes());
        p[o + 8..o + 16].copy_from_slice(&ts.to_be_bytes());
        let stamp_sum = flow16 as u64
            + (seq >> 16) as u64
            + (seq & 0xffff) as u64
            + (ts >> 48)
            + ((ts >> 32) & 0xffff)
            + ((ts >> 16) & 0xffff)
            + (ts & 0xffff);
        let mut l4 = self.l4_base + stamp_sum;
        if self.vary == Vary::Ip {
            p[ETH_LEN + 12..ETH_LEN + 16].copy_from_slice(&src_ip.to_be_bytes());
            let ip_words = (src_ip >> 16) as u64 + (src_ip & 0xffff) as u64;
            let ip_csum = !checksum::fold(self.ip_base + ip_words);
            p[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&ip_csum.to_be_bytes());
            if self.proto != Proto::Icmp {
                l4 += ip_words;
            }
        } else {
            let ip_csum = !checksum::fold(self.ip_base);
            p[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&ip_csum.to_be_bytes());
        }
        // Port (or ICMP ident) field.
        let (port_at, csum_at) = match self.proto {
            Proto::Udp => (L4_OFF, L4_OFF + 6),
            Proto::Tcp => (L4_OFF, L4_OFF + 16),
            Proto::Icmp => (L4_OFF + 4, L4_OFF + 2),
        };
        p[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
        l4 += port as u64;
        let mut csum = !checksum::fold(l4);
        if self.proto == Proto::Udp {
            if self.udp_csum_zero {
                csum = 0;
            } else if csum == 0 {
                csum = 0xffff;
            }
        }
        p[csum_at..csum_at + 2].copy_from_slice(&csum.to_be_bytes());
    }
}

/// What a received frame carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A data packet.
    Data { flow: u16, seq: u32, ts: u64 },
    /// The sender's end marker with its total.
    End { sent: u64 },
    /// Not one of ours.
    Other,
}

/// Finds the stamp in a received Ethernet frame (IPv4 UDP, TCP or ICMP echo request).
pub fn parse(frame: &[u8]) -> Parsed {
    if frame.len() < L4_OFF || frame[12..14] != [0x08, 0x00] {
        return Parsed::Other;
    }
    let ip = &frame[ETH_LEN..];
    let ihl = (ip[0] & 0x0f) as usize * 4;
    if ip[0] >> 4 != 4 || ihl < IP_LEN || ip.len() < ihl {
        return Parsed::Other;
    }
    let l4 = &ip[ihl..];
    let hdr = match ip[9] {
        17 => 8,
        1 if l4.first() == Some(&8) => 8,
        6 if l4.len() >= 20 => (l4[12] >> 4) as usize * 4,
        _ => return Parsed::Other,
    };
    let Some(s) = l4.get(hdr..hdr + STAMP_LEN) else {
        return Parsed::Other;
    };
    let magic = u16::from_be_bytes([s[0], s[1]]);
    let ts = u64::from_be_bytes([s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]]);
    match magic {
        MAGIC => Parsed::Data {
            flow: u16::from_be_bytes([s[2], s[3]]),
            seq: u32::from_be_bytes([s[4], s[5], s[6], s[7]]),
            ts,
        },
        END_MAGIC => Parsed::End { sent: ts },
        _ => Parsed::Other,
    }
}

/// Turns a data frame into an end marker carrying `sent` (checksums left as they are:
/// the sink does not verify them; UDP's is zeroed, which IPv4 allows).
pub fn make_end_marker(frame: &mut [u8], stamp_off: usize, proto: Proto, sent: u64) {
    if frame.len() < stamp_off + STAMP_LEN {
        return;
    }
    frame[stamp_off..stamp_off + 2].copy_from_slice(&END_MAGIC.to_be_bytes());
    frame[stamp_off + 8..stamp_off + 16].copy_from_slice(&sent.to_be_bytes());
    if proto == Proto::Udp {
        frame[L4_OFF + 6..L4_OFF + 8].copy_from_slice(&[0, 0]);
    }
}
