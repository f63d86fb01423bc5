//! The contents of the symbol table: OVN 23.03's `ovn_init_symtab` (lib/logical-fields.c)
//! with each field placed on the microflow of [`crate::flow`].

use crate::flow::{field, word, Field};
use crate::symtab::{ct_bits, mlf, OvnField, Storage, Symtab, Write};

const fn f(w: usize, shift: u32, width: u32) -> Field {
    Field::new(w, shift, width)
}

impl Symtab {
    /// The table OVN 23.03's ovn-controller uses (`ovn_init_symtab`).
    pub fn ovn() -> Symtab {
        let mut t = Symtab::empty();
        use Storage::*;
        use Write::*;
        t.string("inport", field::INPORT);
        t.string("outport", field::OUTPORT);

        // Registers: xxreg<k> = words REGS+2k, REGS+2k+1; xreg<k> = word REGS+k;
        // reg<n> = half of word REGS+n/2 (even register high).
        const XX: [&str; 4] = ["xxreg0", "xxreg1", "xxreg2", "xxreg3"];
        const X: [&str; 8] = [
            "xreg0", "xreg1", "xreg2", "xreg3", "xreg4", "xreg5", "xreg6", "xreg7",
        ];
        const R: [&str; 16] = [
            "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9",
            "reg10", "reg11", "reg12", "reg13", "reg14", "reg15",
        ];
        for (k, n) in XX.iter().enumerate() {
            t.field(n, Wide(f(word::REGS + 2 * k, 0, 64)), 128, None, false, Yes);
        }
        for (k, n) in X.iter().enumerate() {
            t.field(n, Narrow(field::xreg(k)), 64, None, false, Yes);
        }
        for (k, n) in R.iter().enumerate() {
            t.field(n, Narrow(field::reg(k)), 32, None, false, Yes);
        }

        t.field("flags", Narrow(field::FLAGS), 32, None, false, Yes);
        let flag_bits: [(&str, u32); 5] = [
            ("flags.loopback", mlf::ALLOW_LOOPBACK),
            ("flags.force_snat_for_dnat", mlf::FORCE_SNAT_FOR_DNAT),
            ("flags.force_snat_for_lb", mlf::FORCE_SNAT_FOR_LB),
            ("flags.skip_snat_for_lb", mlf::SKIP_SNAT_FOR_LB),
            ("flags.use_snat_zone", mlf::USE_SNAT_ZONE),
        ];
        for (n, bit) in flag_bits {
            t.sub(n, "flags", bit as u16, 1, None, Yes);
        }

        t.field("ct_mark", Narrow(field::CT_MARK), 32, None, false, CtCommit);
        t.sub(
            "ct_mark.blocked",
            "ct_mark",
            ct_bits::BLOCKED,
            1,
            None,
            CtCommit,
        );
        t.sub(
            "ct_mark.natted",
            "ct_mark",
            ct_bits::NATTED,
            1,
            None,
            CtCommit,
        );
        t.sub("ct_mark.ecmp_reply_port", "ct_mark", 16, 16, None, CtCommit);
        t.sub(
            "ct_mark.skip_snat",
            "ct_mark",
            ct_bits::LB_SKIP_SNAT,
            1,
            None,
            CtCommit,
        );
        t.sub(
            "ct_mark.force_snat",
            "ct_mark",
            ct_bits::LB_FORCE_SNAT,
            1,
            None,
            CtCommit,
        );
        t.field(
            "ct_label",
            Wide(field::CT_LABEL),
            128,
            None,
            false,
            CtCommit,
        );
        t.sub(
            "ct_label.blocked",
            "ct_label",
            ct_bits::BLOCKED,
            1,
            None,
            CtCommit,
        );
        t.sub(
            "ct_label.natted",
            "ct_label",
            ct_bits::NATTED,
            1,
            None,
            CtCommit,
        );
        t.sub(
            "ct_label.ecmp_reply_eth",
            "ct_label",
            32,
            48,
            None,
            CtCommit,
        );
        t.sub(
            "ct_label.ecmp_reply_port",
            "ct_label",
            80,
            16,
            None,
            CtCommit,
        );
        t.sub("ct_label.label", "ct_label", 96, 32, None, CtCommit);
        t.sub(
            "ct_label.skip_snat",
            "ct_label",
            ct_bits::LB_SKIP_SNAT,
            1,
            None,
            CtCommit,
        );
        t.sub(
            "ct_label.force_snat",
            "ct_label",
            ct_bits::LB_FORCE_SNAT,
            1,
            None,
            CtCommit,
        );

        t.field("ct_state", Narrow(field::CT_STATE), 8, None, false, No);
        for (i, n) in [
            "ct.new", "ct.est", "ct.rel", "ct.rpl", "ct.inv", "ct.trk", "ct.snat", "ct.dnat",
        ]
        .iter()
        .enumerate()
        {
            let pre = if *n == "ct.trk" { None } else { Some("ct.trk") };
            t.sub(n, "ct_state", i as u16, 1, pre, No);
        }

        t.field("eth.src", Narrow(field::ETH_SRC), 48, None, false, Yes);
        t.field("eth.dst", Narrow(field::ETH_DST), 48, None, false, Yes);
        t.field("eth.type", Narrow(field::ETH_TYPE), 16, None, true, No);
        t.pred("eth.bcast", "eth.dst == ff:ff:ff:ff:ff:ff");
        t.sub("eth.mcast", "eth.dst", 40, 1, None, Yes);
        t.pred("eth.mcastv6", "eth.dst[32..47] == 0x3333");

        t.field("vlan.tci", Narrow(field::VLAN_TCI), 16, None, false, Yes);
        t.pred("vlan.present", "vlan.tci[12]");
        t.sub("vlan.pcp", "vlan.tci", 13, 3, Some("vlan.present"), Yes);
        t.sub("vlan.vid", "vlan.tci", 0, 12, Some("vlan.present"), Yes);

        t.pred("ip4", "eth.type == 0x800");
        t.pred("ip6", "eth.type == 0x86dd");
        t.pred("ip", "ip4 || ip6");
        t.field("ip.proto", Narrow(field::IP_PROTO), 8, Some("ip"), true, No);
        t.field("ip.dscp", Narrow(field::IP_DSCP), 6, Some("ip"), false, Yes);
        t.field("ip.ecn", Narrow(field::IP_ECN), 2, Some("ip"), false, Yes);
        t.field("ip.ttl", Narrow(field::IP_TTL), 8, Some("ip"), false, Yes);

        t.field(
            "ip4.src",
            Narrow(field::IP4_SRC),
            32,
            Some("ip4"),
            false,
            Yes,
        );
        t.field(
            "ip4.dst",
            Narrow(field::IP4_DST),
            32,
            Some("ip4"),
            false,
            Yes,
        );
        t.pred("ip4.src_mcast", "ip4.src[28..31] == 0xe");
        t.pred("ip4.mcast", "eth.mcast && ip4.dst[28..31] == 0xe");

        t.pred("icmp4", "ip4 && ip.proto == 1");
        t.field(
            "icmp4.type",
            Narrow(f(word::TP, 48, 8)),
            8,
            Some("icmp4"),
            false,
            Yes,
        );
        t.field(
            "icmp4.code",
            Narrow(f(word::TP, 32, 8)),
            8,
            Some("icmp4"),
            false,
            Yes,
        );
        t.pred("igmp", "ip4 && ip.proto == 2");

        t.field(
            "ip6.src",
            Wide(field::IP6_SRC),
            128,
            Some("ip6"),
            false,
            Yes,
        );
        t.field(
            "ip6.dst",
            Wide(field::IP6_DST),
            128,
            Some("ip6"),
            false,
            Yes,
        );
        t.field(
            "ip6.label",
            Narrow(field::IP6_LABEL),
            20,
            Some("ip6"),
            false,
            Yes,
        );
        t.pred(
            "ip6.mcast_rsvd",
            "ip6.dst[116..127] == 0xff0 && ip6.dst[0..111] == 0x0",
        );
        t.pred(
            "ip6.mcast_all_nodes",
            "ip6.dst == ff01::1 || ip6.dst == ff02::1",
        );
        t.pred(
            "ip6.mcast_all_rtrs",
            "ip6.dst == ff01::2 || ip6.dst == ff02::2 || ip6.dst == ff05::2",
        );
        t.pred("ip6.mcast_sol_node", "ip6.dst == ff02::1:ff00:0000/104");
        t.pred(
            "ip6.mcast_flood",
            "eth.mcastv6 && (ip6.mcast_rsvd || ip6.mcast_all_nodes || ip6.mcast_all_rtrs || ip6.mcast_sol_node)",
        );
        t.pred("ip6.mcast", "eth.mcastv6 && ip6.dst[120..127] == 0xff");

        t.pred("icmp6", "ip6 && ip.proto == 58");
        t.field(
            "icmp6.type",
            Narrow(f(word::TP, 48, 8)),
            8,
            Some("icmp6"),
            true,
            Yes,
        );
        t.field(
            "icmp6.code",
            Narrow(f(word::TP, 32, 8)),
            8,
            Some("icmp6"),
            true,
            Yes,
        );
        t.pred("icmp", "icmp4 || icmp6");

        t.field(
            "ip.frag",
            Narrow(f(word::IP_MISC, 32, 2)),
            2,
            Some("ip"),
            false,
            No,
        );
        t.pred("ip.is_frag", "ip.frag[0]");
        t.pred("ip.later_frag", "ip.frag[1]");
        t.pred("ip.first_frag", "ip.is_frag && !ip.later_frag");

        t.pred("arp", "eth.type == 0x806");
        t.field("arp.op", Narrow(field::ARP_OP), 16, Some("arp"), false, Yes);
        t.field(
            "arp.spa",
            Narrow(field::IP4_SRC),
            32,
            Some("arp"),
            false,
            Yes,
        );
        t.field(
            "arp.sha",
            Narrow(field::ARP_SHA),
            48,
            Some("arp"),
            false,
            Yes,
        );
        t.field(
            "arp.tpa",
            Narrow(field::IP4_DST),
            32,
            Some("arp"),
            false,
            Yes,
        );
        t.field(
            "arp.tha",
            Narrow(field::ARP_THA),
            48,
            Some("arp"),
            false,
            Yes,
        );
        t.pred("rarp", "eth.type == 0x8035");
        t.field(
            "rarp.op",
            Narrow(field::ARP_OP),
            16,
            Some("rarp"),
            false,
            Yes,
        );
        t.field(
            "rarp.spa",
            Narrow(field::IP4_SRC),
            32,
            Some("rarp"),
            false,
            Yes,
        );
        t.field(
            "rarp.sha",
            Narrow(field::ARP_SHA),
            48,
            Some("rarp"),
            false,
            Yes,
        );
        t.field(
            "rarp.tpa",
            Narrow(field::IP4_DST),
            32,
            Some("rarp"),
            false,
            Yes,
        );
        t.field(
            "rarp.tha",
            Narrow(field::ARP_THA),
            48,
            Some("rarp"),
            false,
            Yes,
        );

        t.pred(
            "nd",
            "icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255",
        );
        t.pred(
            "nd_ns",
            "icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255",
        );
        t.pred(
            "nd_na",
            "icmp6.type == 136 && icmp6.code == 0 && ip.ttl == 255",
        );
        t.pred(
            "nd_rs",
            "icmp6.type == 133 && icmp6.code == 0 && ip.ttl == 255",
        );
        t.pred(
            "nd_ra",
            "icmp6.type == 134 && icmp6.code == 0 && ip.ttl == 255",
        );
        t.field(
            "nd.target",
            Wide(field::ND_TARGET),
            128,
            Some("nd"),
            false,
            Yes,
        );
        t.field(
            "nd.sll",
            Narrow(field::ARP_SHA),
            48,
            Some("nd_ns"),
            false,
            Yes,
        );
        t.field(
            "nd.tll",
            Narrow(field::ARP_THA),
            48,
            Some("nd_na"),
            false,
            Yes,
        );
        t.pred(
            "mldv1",
            "ip6.src == fe80::/10 && icmp6.type == {130, 131, 132}",
        );
        t.pred("mldv2", "ip6.dst == ff02::16 && icmp6.type == 143");

        t.pred("tcp", "ip.proto == 6");
        t.field(
            "tcp.src",
            Narrow(field::TP_SRC),
            16,
            Some("tcp"),
            false,
            Yes,
        );
        t.field(
            "tcp.dst",
            Narrow(field::TP_DST),
            16,
            Some("tcp"),
            false,
            Yes,
        );
        t.field(
            "tcp.flags",
            Narrow(f(word::TP, 16, 12)),
            12,
            Some("tcp"),
            false,
            No,
        );
        t.pred("udp", "ip.proto == 17");
        t.field(
            "udp.src",
            Narrow(field::TP_SRC),
            16,
            Some("udp"),
            false,
            Yes,
        );
        t.field(
            "udp.dst",
            Narrow(field::TP_DST),
            16,
            Some("udp"),
            false,
            Yes,
        );
        t.pred("sctp", "ip.proto == 132");
        t.field(
            "sctp.src",
            Narrow(field::TP_SRC),
            16,
            Some("sctp"),
            false,
            Yes,
        );
        t.field(
            "sctp.dst",
            Narrow(field::TP_DST),
            16,
            Some("sctp"),
            false,
            Yes,
        );

        t.field("pkt.mark", Narrow(field::PKT_MARK), 32, None, false, Yes);
        t.ovn_field("icmp4.frag_mtu", OvnField::Icmp4FragMtu, 16);
        t.ovn_field("icmp6.frag_mtu", OvnField::Icmp6FragMtu, 32);

        t.parse_texts();
        t
    }
}
