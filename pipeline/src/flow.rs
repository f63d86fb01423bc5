//! The microflow: every field a logical flow can match or set, packed into a fixed array of
//! 64-bit words, plus a same-shaped mask.
//!
//! One layout serves everyone: the datapath parses a packet into a [`Flow`]; the executor
//! reads and writes fields through [`Field`] and records each bit it read into a [`Mask`];
//! the megaflow cache stores `(flow & mask, mask)`; the exact-match cache hashes the words.
//!
//! Layout rules:
//! - A field never straddles a word, except the 128-bit ones, which take two whole words
//!   (high word first).
//! - `reg0..reg15` are packed two per word with the even register in the high half, so
//!   `xreg<k>` is exactly word `REGS + k` and `xxreg<k>` is words `REGS + 2k, REGS + 2k + 1`
//!   (OVN: `xxreg0` = `reg0` (most significant) .. `reg3`).
//! - ICMP type and code live in `tp_src`/`tp_dst` (as in OVS), ND's source and target
//!   link-layer addresses in `arp_sha`/`arp_tha`, ARP's protocol addresses in
//!   `ip4_src`/`ip4_dst`. The parser sets only the fields the packet has; the rest stay 0.

/// Number of 64-bit words in a flow.
pub const FLOW_WORDS: usize = 32;

/// Word indices.
pub mod word {
    /// datapath (logical datapath tunnel key, 32) | inport (logical port key, 32)
    pub const DP_INPORT: usize = 0;
    /// outport (32) | logical flags `flags.*` (32)
    pub const OUTPORT_FLAGS: usize = 1;
    /// reg0..reg15, two per word, even register in the high half (8 words).
    pub const REGS: usize = 2;
    /// ct_state (8) | ct_zone (16) | spare (8) | ct_mark (32)
    pub const CT: usize = 10;
    /// ct_label, 128 bits: high word then low word.
    pub const CT_LABEL: usize = 11;
    /// recirc_id (32) | pkt_mark (32)
    pub const RECIRC_MARK: usize = 13;
    /// in_port: the datapath port number the packet arrived on (32) | conj/spare (32)
    pub const IN_PORT: usize = 14;
    /// tun_id / VNI (64)
    pub const TUN_ID: usize = 15;
    /// tun_src (32) | tun_dst (32)
    pub const TUN_ADDR: usize = 16;
    /// eth_src (48) | vlan_tci (16)
    pub const ETH_SRC_VLAN: usize = 17;
    /// eth_dst (48) | eth_type (16)
    pub const ETH_DST_TYPE: usize = 18;
    /// ip4_src / arp.spa (32) | ip4_dst / arp.tpa (32)
    pub const IP4: usize = 19;
    /// ip6_src, 128 bits (2 words)
    pub const IP6_SRC: usize = 20;
    /// ip6_dst, 128 bits (2 words)
    pub const IP6_DST: usize = 22;
    /// ip_proto (8) | ip_tos = dscp<<2|ecn (8) | ip_ttl (8) | ip_frag (8) | arp_op (16) | spare (16)
    pub const IP_MISC: usize = 24;
    /// tp_src (16) | tp_dst (16) | tcp_flags (16) | spare (16)
    pub const TP: usize = 25;
    /// arp_sha / nd.sll (48) | spare (16)
    pub const ARP_SHA: usize = 26;
    /// arp_tha / nd.tll (48) | spare (16)
    pub const ARP_THA: usize = 27;
    /// nd.target, 128 bits (2 words)
    pub const ND_TARGET: usize = 28;
    /// ip6_label (20) | spare (12) | pkt_len (16, for check_pkt_larger) | spare (16)
    pub const IP6_LABEL_LEN: usize = 30;
    /// igmp / reserved for later use
    pub const SPARE: usize = 31;
}

/// A physical field of the microflow: `width` bits at bit `shift` of word `word`
/// (bit 0 = least significant). 128-bit fields use `wide` and two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub word: u8,
    pub shift: u8,
    pub width: u8,
}

impl Field {
    pub const fn new(word: usize, shift: u32, width: u32) -> Field {
        Field {
            word: word as u8,
            shift: shift as u8,
            width: width as u8,
        }
    }
    /// The mask of this field within its word (for fields of at most 64 bits).
    pub const fn word_mask(self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            ((1u64 << self.width) - 1) << self.shift
        }
    }
}

/// The named physical fields. 128-bit fields are described by their high word; see
/// [`Flow::get128`].
pub mod field {
    use super::{word as w, Field};
    pub const DATAPATH: Field = Field::new(w::DP_INPORT, 32, 32);
    pub const INPORT: Field = Field::new(w::DP_INPORT, 0, 32);
    pub const OUTPORT: Field = Field::new(w::OUTPORT_FLAGS, 32, 32);
    pub const FLAGS: Field = Field::new(w::OUTPORT_FLAGS, 0, 32);
    pub const CT_STATE: Field = Field::new(w::CT, 56, 8);
    pub const CT_ZONE: Field = Field::new(w::CT, 40, 16);
    pub const CT_MARK: Field = Field::new(w::CT, 0, 32);
    pub const RECIRC_ID: Field = Field::new(w::RECIRC_MARK, 32, 32);
    pub const PKT_MARK: Field = Field::new(w::RECIRC_MARK, 0, 32);
    pub const IN_PORT: Field = Field::new(w::IN_PORT, 32, 32);
    pub const TUN_ID: Field = Field::new(w::TUN_ID, 0, 64);
    pub const TUN_SRC: Field = Field::new(w::TUN_ADDR, 32, 32);
    pub const TUN_DST: Field = Field::new(w::TUN_ADDR, 0, 32);
    pub const ETH_SRC: Field = Field::new(w::ETH_SRC_VLAN, 16, 48);
    pub const VLAN_TCI: Field = Field::new(w::ETH_SRC_VLAN, 0, 16);
    pub const ETH_DST: Field = Field::new(w::ETH_DST_TYPE, 16, 48);
    pub const ETH_TYPE: Field = Field::new(w::ETH_DST_TYPE, 0, 16);
    pub const IP4_SRC: Field = Field::new(w::IP4, 32, 32);
    pub const IP4_DST: Field = Field::new(w::IP4, 0, 32);
    pub const IP_PROTO: Field = Field::new(w::IP_MISC, 56, 8);
    pub const IP_TOS: Field = Field::new(w::IP_MISC, 48, 8);
    pub const IP_DSCP: Field = Field::new(w::IP_MISC, 50, 6);
    pub const IP_ECN: Field = Field::new(w::IP_MISC, 48, 2);
    pub const IP_TTL: Field = Field::new(w::IP_MISC, 40, 8);
    /// bit 0: is a fragment; bit 1: is a later (non-first) fragment (OVS `nw_frag`).
    pub const IP_FRAG: Field = Field::new(w::IP_MISC, 32, 8);
    pub const ARP_OP: Field = Field::new(w::IP_MISC, 16, 16);
    pub const TP_SRC: Field = Field::new(w::TP, 48, 16);
    pub const TP_DST: Field = Field::new(w::TP, 32, 16);
    pub const TCP_FLAGS: Field = Field::new(w::TP, 16, 16);
    pub const ARP_SHA: Field = Field::new(w::ARP_SHA, 16, 48);
    pub const ARP_THA: Field = Field::new(w::ARP_THA, 16, 48);
    pub const IP6_LABEL: Field = Field::new(w::IP6_LABEL_LEN, 44, 20);
    pub const PKT_LEN: Field = Field::new(w::IP6_LABEL_LEN, 16, 16);
    /// 128-bit fields: the high word's descriptor (width 64, word = first word).
    pub const IP6_SRC: Field = Field::new(w::IP6_SRC, 0, 64);
    pub const IP6_DST: Field = Field::new(w::IP6_DST, 0, 64);
    pub const ND_TARGET: Field = Field::new(w::ND_TARGET, 0, 64);
    pub const CT_LABEL: Field = Field::new(w::CT_LABEL, 0, 64);
    /// `reg<n>` for n in 0..16.
    pub const fn reg(n: usize) -> Field {
        Field::new(
            w::REGS + n / 2,
            if n.is_multiple_of(2) { 32 } else { 0 },
            32,
        )
    }
    /// `xreg<n>` for n in 0..8.
    pub const fn xreg(n: usize) -> Field {
        Field::new(w::REGS + n, 0, 64)
    }
}

/// ct_state bits, as OVS numbers them.
pub mod ct_state {
    pub const NEW: u8 = 0x01;
    pub const EST: u8 = 0x02;
    pub const REL: u8 = 0x04;
    pub const RPL: u8 = 0x08;
    pub const INV: u8 = 0x10;
    pub const TRK: u8 = 0x20;
    pub const SNAT: u8 = 0x40;
    pub const DNAT: u8 = 0x80;
}

/// A microflow: header fields and logical metadata of one packet at one point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct Flow {
    pub w: [u64; FLOW_WORDS],
}

/// A bit mask shaped like a [`Flow`]: the bits a lookup depended on.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct Mask {
    pub w: [u64; FLOW_WORDS],
}

impl Default for Flow {
    fn default() -> Self {
        Flow { w: [0; FLOW_WORDS] }
    }
}

impl Default for Mask {
    fn default() -> Self {
        Mask { w: [0; FLOW_WORDS] }
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_map();
        for (i, w) in self.w.iter().enumerate() {
            if *w != 0 {
                l.entry(&i, &format_args!("{w:#018x}"));
            }
        }
        l.finish()
    }
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_map();
        for (i, w) in self.w.iter().enumerate() {
            if *w != 0 {
                l.entry(&i, &format_args!("{w:#018x}"));
            }
        }
        l.finish()
    }
}

impl Flow {
    /// Reads a field of at most 64 bits.
    #[inline]
    pub fn get(&self, f: Field) -> u64 {
        (self.w[f.word as usize] & f.word_mask()) >> f.shift
    }
    /// Writes a field of at most 64 bits; bits of `v` beyond the width are ignored.
    #[inline]
    pub fn set(&mut self, f: Field, v: u64) {
        let m = f.word_mask();
        let w = &mut self.w[f.word as usize];
        *w = (*w & !m) | ((v << f.shift) & m);
    }
    /// Reads a 128-bit field (two words, high first).
    #[inline]
    pub fn get128(&self, f: Field) -> u128 {
        let i = f.word as usize;
        ((self.w[i] as u128) << 64) | self.w[i + 1] as u128
    }
    /// Writes a 128-bit field.
    #[inline]
    pub fn set128(&mut self, f: Field, v: u128) {
        let i = f.word as usize;
        self.w[i] = (v >> 64) as u64;
        self.w[i + 1] = v as u64;
    }
    /// `self & mask`, word by word.
    #[inline]
    pub fn masked(&self, m: &Mask) -> Flow {
        let mut out = Flow::default();
        for i in 0..FLOW_WORDS {
            out.w[i] = self.w[i] & m.w[i];
        }
        out
    }
}

impl Mask {
    /// Marks every bit of `f` (of at most 64 bits) as read.
    #[inline]
    pub fn add(&mut self, f: Field) {
        self.w[f.word as usize] |= f.word_mask();
    }
    /// Marks the given bits (already shifted into field position `0..width`) of `f` as read.
    #[inline]
    pub fn add_bits(&mut self, f: Field, bits: u64) {
        self.w[f.word as usize] |= (bits << f.shift) & f.word_mask();
    }
    /// Marks all 128 bits of a wide field as read.
    #[inline]
    pub fn add128(&mut self, f: Field) {
        self.w[f.word as usize] = u64::MAX;
        self.w[f.word as usize + 1] = u64::MAX;
    }
    /// Marks the given bits of a 128-bit field as read.
    #[inline]
    pub fn add128_bits(&mut self, f: Field, bits: u128) {
        self.w[f.word as usize] |= (bits >> 64) as u64;
        self.w[f.word as usize + 1] |= bits as u64;
    }
    /// Union of two masks.
    #[inline]
    pub fn union(&mut self, o: &Mask) {
        for i in 0..FLOW_WORDS {
            self.w[i] |= o.w[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regs_pack_into_xregs() {
        let mut f = Flow::default();
        f.set(field::reg(0), 0x1111_2222);
        f.set(field::reg(1), 0x3333_4444);
        assert_eq!(f.get(field::xreg(0)), 0x1111_2222_3333_4444);
        f.set(field::reg(15), 7);
        assert_eq!(f.get(field::xreg(7)), 7);
    }

    #[test]
    fn fields_do_not_overlap_neighbours() {
        let mut f = Flow::default();
        f.set(field::ETH_SRC, u64::MAX);
        assert_eq!(f.get(field::VLAN_TCI), 0);
        assert_eq!(f.get(field::ETH_SRC), 0xffff_ffff_ffff);
        f.set(field::IP_DSCP, 0x3f);
        assert_eq!(f.get(field::IP_ECN), 0);
        assert_eq!(f.get(field::IP_TOS), 0xfc);
        f.set128(field::IP6_DST, u128::MAX - 1);
        assert_eq!(f.get128(field::IP6_DST), u128::MAX - 1);
        assert_eq!(f.w[word::IP6_SRC + 1], 0);
    }

    #[test]
    fn mask_records_field_bits() {
        let mut m = Mask::default();
        m.add_bits(field::reg(1), 0b100);
        assert_eq!(m.w[word::REGS], 0b100);
        m.add(field::TP_DST);
        let mut f = Flow::default();
        f.set(field::TP_DST, 80);
        f.set(field::TP_SRC, 1234);
        let g = f.masked(&m);
        assert_eq!(g.get(field::TP_DST), 80);
        assert_eq!(g.get(field::TP_SRC), 0);
    }
}
