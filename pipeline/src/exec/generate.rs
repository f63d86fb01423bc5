//! The packets that `arp {}`, `nd_ns {}`, `nd_na {}`, `icmp4 {}`, `tcp_reset {}` ... make:
//! the initial flow of the new packet, as ovn-sb(5) defines it, before the nested actions
//! run. The datapath builds the same packet with [`generated_flow`], then applies the
//! nested [`crate::dpaction::DpAction::Set`]s.

use crate::dpaction::GenKind;
use crate::flow::{field, word, Flow, Mask};

const ETH_BCAST: u64 = 0xffff_ffff_ffff;

/// The new packet's flow, built from `f`. Every field copied from `f` into another
/// position is marked read in `wc` (the megaflow then depends on it).
pub fn generated_flow(kind: GenKind, f: &Flow, wc: &mut Mask) -> Flow {
    let mut g = *f;
    // Headers above L2 that no generated packet keeps as such.
    let l4_clear = |g: &mut Flow| {
        g.w[word::TP] = 0;
        g.w[word::ARP_SHA] = 0;
        g.w[word::ARP_THA] = 0;
        g.set(field::IP_FRAG, 0);
    };
    match kind {
        GenKind::ArpRequest => {
            wc.add(field::ETH_SRC);
            l4_clear(&mut g);
            g.w[word::IP_MISC] = 0;
            g.set(field::ETH_DST, ETH_BCAST);
            g.set(field::ETH_TYPE, 0x0806);
            g.set(field::ARP_OP, 1);
            g.set(field::ARP_SHA, f.get(field::ETH_SRC));
            // arp.spa / arp.tpa share storage with ip4.src / ip4.dst: kept.
        }
        GenKind::NdNs => {
            wc.add(field::ETH_SRC);
            wc.add128(field::IP6_DST);
            let dst = f.get128(field::IP6_DST);
            l4_clear(&mut g);
            g.set128(field::ND_TARGET, dst);
            let sol = 0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | (dst & 0xff_ffff);
            g.set128(field::IP6_DST, sol);
            g.set(field::ETH_DST, 0x3333_ff00_0000 | (dst as u64 & 0xff_ffff));
            g.set(field::IP_PROTO, 58);
            g.set(field::IP_TTL, 255);
            g.set(field::TP_SRC, 135);
            g.set(field::TP_DST, 0);
            g.set(field::ARP_SHA, f.get(field::ETH_SRC));
        }
        GenKind::NdNa { .. } => {
            wc.add(field::ETH_SRC);
            wc.add128(field::IP6_SRC);
            let target = f.get128(field::ND_TARGET);
            l4_clear(&mut g);
            g.set128(field::ND_TARGET, target);
            g.set(field::ETH_DST, f.get(field::ETH_SRC));
            g.set128(field::IP6_DST, f.get128(field::IP6_SRC));
            g.set(field::IP_PROTO, 58);
            g.set(field::IP_TTL, 255);
            g.set(field::TP_SRC, 136);
            g.set(field::TP_DST, 0);
        }
        GenKind::Icmp4Error => {
            l4_clear(&mut g);
            g.set(field::IP_PROTO, 1);
            g.set(field::IP_TTL, 255);
            g.set(field::TP_SRC, 3);
            g.set(field::TP_DST, 1);
        }
        GenKind::Icmp6Error => {
            l4_clear(&mut g);
            g.set(field::IP_PROTO, 58);
            g.set(field::IP_TTL, 255);
            g.set(field::TP_SRC, 1);
            g.set(field::TP_DST, 1);
        }
        GenKind::TcpReset => {
            // pinctrl builds the RST with the ports swapped (the nested actions swap the
            // addresses), IP TTL 63, flags RST|ACK.
            wc.add(field::TP_SRC);
            wc.add(field::TP_DST);
            g.set(field::TP_SRC, f.get(field::TP_DST));
            g.set(field::TP_DST, f.get(field::TP_SRC));
            g.set(field::IP_TTL, 63);
            g.set(field::TCP_FLAGS, 0x014);
        }
        GenKind::SctpAbort => {}
    }
    g
}
