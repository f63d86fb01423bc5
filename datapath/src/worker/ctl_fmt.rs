//! Text forms for `southpaw ctl`: a masked microflow in OVN field names (only the fields
//! whose mask is non-zero, `value/mask` where the mask does not cover the whole field, as
//! `ovs-appctl dpctl/dump-flows` prints megaflows) and a summary of compiled datapath
//! actions. Slow path only (allocates).

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use pipeline::compile::Compiled;
use pipeline::flow::{ct_state, field, Field, Flow, Mask, FLOW_WORDS};

use crate::actions::ct::{CtSpec, NatSpec};
use crate::actions::{DpActs, Step};
use crate::dataplane::LocalPort;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dec,
    Hex,
    Mac,
    Ip4,
    /// 128 bits over two words.
    Ip6,
    CtState,
    /// Logical datapath key (named from the compiled pipeline).
    Datapath,
    /// Logical port key of the datapath in the same flow.
    LPort,
}

/// Fields in the order they are printed; the name may be refined by context (see
/// [`name_of`]).
const FIELDS: &[(&str, Field, Kind)] = &[
    ("recirc_id", field::RECIRC_ID, Kind::Dec),
    ("in_port", field::IN_PORT, Kind::Dec),
    ("datapath", field::DATAPATH, Kind::Datapath),
    ("inport", field::INPORT, Kind::LPort),
    ("outport", field::OUTPORT, Kind::LPort),
    ("flags", field::FLAGS, Kind::Hex),
    ("ct_state", field::CT_STATE, Kind::CtState),
    ("ct_zone", field::CT_ZONE, Kind::Dec),
    ("ct_mark", field::CT_MARK, Kind::Hex),
    ("ct_label", field::CT_LABEL, Kind::Hex),
    ("pkt.mark", field::PKT_MARK, Kind::Hex),
    ("tun_id", field::TUN_ID, Kind::Hex),
    ("tun.src", field::TUN_SRC, Kind::Ip4),
    ("tun.dst", field::TUN_DST, Kind::Ip4),
    ("eth.src", field::ETH_SRC, Kind::Mac),
    ("eth.dst", field::ETH_DST, Kind::Mac),
    ("vlan.tci", field::VLAN_TCI, Kind::Hex),
    ("eth.type", field::ETH_TYPE, Kind::Hex),
    ("ip4.src", field::IP4_SRC, Kind::Ip4),
    ("ip4.dst", field::IP4_DST, Kind::Ip4),
    ("ip6.src", field::IP6_SRC, Kind::Ip6),
    ("ip6.dst", field::IP6_DST, Kind::Ip6),
    ("ip.proto", field::IP_PROTO, Kind::Dec),
    ("ip.dscp", field::IP_DSCP, Kind::Dec),
    ("ip.ecn", field::IP_ECN, Kind::Dec),
    ("ip.ttl", field::IP_TTL, Kind::Dec),
    ("ip.frag", field::IP_FRAG, Kind::Hex),
    ("arp.op", field::ARP_OP, Kind::Dec),
    ("tp.src", field::TP_SRC, Kind::Dec),
    ("tp.dst", field::TP_DST, Kind::Dec),
    ("tcp.flags", field::TCP_FLAGS, Kind::Hex),
    ("arp.sha", field::ARP_SHA, Kind::Mac),
    ("arp.tha", field::ARP_THA, Kind::Mac),
    ("nd.target", field::ND_TARGET, Kind::Ip6),
    ("ip6.label", field::IP6_LABEL, Kind::Hex),
    ("pkt_len", field::PKT_LEN, Kind::Dec),
    ("reg0", field::reg(0), Kind::Hex),
    ("reg1", field::reg(1), Kind::Hex),
    ("reg2", field::reg(2), Kind::Hex),
    ("reg3", field::reg(3), Kind::Hex),
    ("reg4", field::reg(4), Kind::Hex),
    ("reg5", field::reg(5), Kind::Hex),
    ("reg6", field::reg(6), Kind::Hex),
    ("reg7", field::reg(7), Kind::Hex),
    ("reg8", field::reg(8), Kind::Hex),
    ("reg9", field::reg(9), Kind::Hex),
    ("reg10", field::reg(10), Kind::Hex),
    ("reg11", field::reg(11), Kind::Hex),
    ("reg12", field::reg(12), Kind::Hex),
    ("reg13", field::reg(13), Kind::Hex),
    ("reg14", field::reg(14), Kind::Hex),
    ("reg15", field::reg(15), Kind::Hex),
];

/// First word of the packet header fields: earlier words are metadata (logical ports,
/// registers, conntrack, tunnel), which a set does not write into the frame.
const HEADER_WORDS: usize = field::ETH_SRC.word as usize;

/// The bits of `f` within its word(s), as a mask on a flow (two words for 128 bits).
fn covered(f: Field, kind: Kind) -> [(usize, u64); 2] {
    if kind == Kind::Ip6 {
        [(f.word as usize, u64::MAX), (f.word as usize + 1, u64::MAX)]
    } else {
        [(f.word as usize, f.word_mask()), (f.word as usize, 0)]
    }
}

/// OVN name of `f` given the (masked) key: ARP addresses, L4 ports by protocol.
fn name_of(name: &'static str, key: &Flow, mask: &Flow) -> &'static str {
    let et = (mask.get(field::ETH_TYPE) == 0xffff).then(|| key.get(field::ETH_TYPE));
    let arp = matches!(et, Some(0x0806 | 0x8035));
    let proto = (mask.get(field::IP_PROTO) == 0xff).then(|| key.get(field::IP_PROTO));
    match (name, arp, proto, et) {
        ("ip4.src", true, _, _) => "arp.spa",
        ("ip4.dst", true, _, _) => "arp.tpa",
        ("tp.src", _, Some(6), _) => "tcp.src",
        ("tp.dst", _, Some(6), _) => "tcp.dst",
        ("tp.src", _, Some(17), _) => "udp.src",
        ("tp.dst", _, Some(17), _) => "udp.dst",
        ("tp.src", _, Some(132), _) => "sctp.src",
        ("tp.dst", _, Some(132), _) => "sctp.dst",
        ("tp.src", _, Some(1), Some(0x0800)) => "icmp4.type",
        ("tp.dst", _, Some(1), Some(0x0800)) => "icmp4.code",
        ("tp.src", _, Some(58), Some(0x86dd)) => "icmp6.type",
        ("tp.dst", _, Some(58), Some(0x86dd)) => "icmp6.code",
        _ => name,
    }
}

fn mac(v: u64) -> String {
    let b = v.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn ct_flags(v: u64) -> String {
    const NAMES: [(u8, &str); 8] = [
        (ct_state::NEW, "new"),
        (ct_state::EST, "est"),
        (ct_state::REL, "rel"),
        (ct_state::RPL, "rpl"),
        (ct_state::INV, "inv"),
        (ct_state::TRK, "trk"),
        (ct_state::SNAT, "snat"),
        (ct_state::DNAT, "dnat"),
    ];
    let set: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| v & u64::from(*b) != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "0".into()
    } else {
        set.join("|")
    }
}

/// Names resolved from the compiled pipeline (absent: keys are printed as numbers).
#[derive(Clone, Copy, Default)]
pub struct Names<'a> {
    pub compiled: Option<&'a Compiled>,
}

impl Names<'_> {
    fn datapath(&self, key: u64) -> Option<String> {
        let c = self.compiled?;
        c.datapath(u32::try_from(key).ok()?).map(|d| d.name.clone())
    }
    fn lport(&self, dp: u64, key: u64) -> Option<String> {
        let c = self.compiled?;
        let k = (u32::try_from(dp).ok()?, u32::try_from(key).ok()?);
        c.ports.get(&k).map(|p| format!("\"{}\"", p.name))
    }
}

/// `name=value[/mask]` for every field of `key` whose `mask` is non-zero, comma separated;
/// mask bits no named field covers are shown as `word<N>=0x.../0x...`.
pub fn format_match(key: &Flow, mask: &Mask, names: Names<'_>) -> String {
    format_in(key, mask, names, None)
}

/// [`format_match`], naming fields (ARP addresses, L4 ports) after the packet `ctx`
/// (masked key and mask) rather than `key`.
fn format_in(key: &Flow, mask: &Mask, names: Names<'_>, ctx: Option<(&Flow, &Flow)>) -> String {
    let m = Flow { w: mask.w };
    let k = key.masked(mask);
    let (ck, cm) = ctx.unwrap_or((&k, &m));
    let mut seen = [0u64; FLOW_WORDS];
    let mut out = Vec::new();
    for &(name, f, kind) in FIELDS {
        for (w, bits) in covered(f, kind) {
            seen[w] |= bits;
        }
        let full_dp = m.get(field::DATAPATH) == 0xffff_ffff;
        let text = if kind == Kind::Ip6 {
            let (v, mm) = (k.get128(f), m.get128(f));
            if mm == 0 {
                continue;
            }
            let a = Ipv6Addr::from(v);
            match prefix128(mm) {
                Some(128) => a.to_string(),
                Some(p) => format!("{a}/{p}"),
                None => format!("{a}/{}", Ipv6Addr::from(mm)),
            }
        } else {
            let (v, mm) = (k.get(f), m.get(f));
            if mm == 0 {
                continue;
            }
            let icmp = name_of(name, ck, cm).starts_with("icmp");
            let full = mm == (f.word_mask() >> f.shift) || (icmp && mm == 0xff);
            let named = match kind {
                Kind::Datapath if full => names.datapath(v),
                Kind::LPort if full && full_dp => names.lport(k.get(field::DATAPATH), v),
                _ => None,
            };
            match (kind, named) {
                (_, Some(n)) => n,
                (Kind::Mac, _) if full => mac(v),
                (Kind::Mac, _) => format!("{}/{}", mac(v), mac(mm)),
                (Kind::Ip4, _) => {
                    let a = Ipv4Addr::from(v as u32);
                    match prefix32(mm as u32) {
                        Some(32) => a.to_string(),
                        Some(p) => format!("{a}/{p}"),
                        None => format!("{a}/{}", Ipv4Addr::from(mm as u32)),
                    }
                }
                (Kind::CtState, _) if full => ct_flags(v),
                (Kind::CtState, _) => format!("{}/{}", ct_flags(v), ct_flags(mm)),
                (Kind::Dec | Kind::Datapath | Kind::LPort, _) if full => v.to_string(),
                (Kind::Hex, _) if full => format!("{v:#x}"),
                _ => format!("{v:#x}/{mm:#x}"),
            }
        };
        out.push(format!("{}={text}", name_of(name, ck, cm)));
    }
    for (i, (&mw, s)) in mask.w.iter().zip(seen).enumerate() {
        let rest = mw & !s;
        if rest != 0 {
            out.push(format!("word{i}={:#x}/{rest:#x}", key.w[i] & rest));
        }
    }
    if out.is_empty() {
        "(any)".into()
    } else {
        out.join(",")
    }
}

fn prefix32(m: u32) -> Option<u32> {
    let p = m.leading_ones();
    (m.checked_shl(p).unwrap_or(0) == 0).then_some(p)
}

fn prefix128(m: u128) -> Option<u32> {
    let p = m.leading_ones();
    (m.checked_shl(p).unwrap_or(0) == 0).then_some(p)
}

/// Name of backend port `i`: the logical port and its netdev.
fn port_name(ports: &[LocalPort], i: usize) -> String {
    match ports.get(i) {
        Some(p) => format!("{}({})", p.lport, p.netdev),
        None => format!("port{i}"),
    }
}

fn ct_text(spec: &CtSpec, recirc: Option<u32>) -> String {
    let mut s = format!("ct(zone={}", spec.zone);
    if spec.commit {
        s.push_str(",commit");
    }
    if let Some((v, m)) = spec.mark {
        let _ = write!(s, ",mark={v:#x}/{m:#x}");
    }
    if let Some((v, m)) = spec.label {
        let _ = write!(s, ",label={v:#x}/{m:#x}");
    }
    match &spec.nat {
        None => {}
        Some(NatSpec::Existing) => s.push_str(",nat"),
        Some(NatSpec::Src(_)) => s.push_str(",nat(src)"),
        Some(NatSpec::Dst(_)) => s.push_str(",nat(dst)"),
        Some(NatSpec::Lb { backends, .. }) => {
            let _ = write!(s, ",lb({} backends)", backends.len());
        }
    }
    s.push(')');
    if let Some(id) = recirc {
        let _ = write!(s, ",recirc({id:#x})");
    }
    s
}

/// `set(field=value,...)` for the header fields written, empty when there are none.
/// Metadata writes (registers, logical ports) are left out: they never reach the frame.
fn sets_text(sets: &[(u8, u64, u64)], names: Names<'_>, ctx: Option<(&Flow, &Mask)>) -> String {
    let (mut v, mut m) = (Flow::default(), Mask::default());
    for &(w, val, mask) in sets {
        if (w as usize) < HEADER_WORDS {
            continue;
        }
        if let (Some(x), Some(y)) = (v.w.get_mut(w as usize), m.w.get_mut(w as usize)) {
            *x = val & mask;
            *y = mask;
        }
    }
    if m.w.iter().all(|&w| w == 0) {
        return String::new();
    }
    let ctx = ctx.map(|(k, mk)| (k.masked(mk), Flow { w: mk.w }));
    let ctx = ctx.as_ref().map(|(k, mk)| (k, mk));
    format!("set({}),", format_in(&v, &m, names, ctx))
}

/// The actions of a megaflow as `ovs-appctl dpctl/dump-flows` summarises them:
/// `set(...),output:PORT`, `ct(...),recirc(ID)`, or `drop(CAUSE)`. `ctx` (the megaflow's
/// key and mask, or the packet) names the written fields (ARP or IPv4, TCP or UDP ...).
pub fn format_actions(
    acts: &DpActs,
    ports: &[LocalPort],
    names: Names<'_>,
    ctx: Option<(&Flow, &Mask)>,
) -> String {
    let mut parts = Vec::new();
    for step in acts.steps.iter() {
        match step {
            Step::Output(o) => parts.push(format!(
                "{}output:{}",
                sets_text(&o.sets, names, ctx),
                port_name(ports, o.port as usize)
            )),
            Step::Ct { out, spec, recirc } => {
                let sets = sets_text(&out.sets, names, ctx);
                parts.push(format!("{sets}{}", ct_text(spec, *recirc)))
            }
            // The generated packet's own fields are not known here: its writes are shown
            // without context.
            Step::Generate(g) => parts.push(format!(
                "{}generate({:?}){{{}}}",
                sets_text(&g.out.sets, names, ctx),
                g.kind,
                format_actions(&g.acts, ports, names, None)
            )),
        }
    }
    if acts.last >= acts.steps.len() {
        let cause = acts.cause.map_or("end-of-actions", |c| c.name());
        parts.push(format!("drop({cause})"));
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_shows_masked_fields_only() {
        let mut k = Flow::default();
        let mut m = Mask::default();
        k.set(field::ETH_TYPE, 0x0800);
        m.add(field::ETH_TYPE);
        k.set(field::IP4_DST, 0x0a00_0102);
        m.add_bits(field::IP4_DST, 0xffff_ff00);
        k.set(field::IP_PROTO, 6);
        m.add(field::IP_PROTO);
        k.set(field::TP_DST, 80);
        m.add(field::TP_DST);
        k.set(field::ETH_SRC, 0x0a0b_0c0d_0e0f);
        m.add(field::RECIRC_ID);
        let s = format_match(&k, &m, Names::default());
        assert_eq!(
            s,
            "recirc_id=0,eth.type=0x800,ip4.dst=10.0.1.0/24,ip.proto=6,tcp.dst=80"
        );
    }

    #[test]
    fn arp_names_partial_masks_and_unnamed_bits() {
        let mut k = Flow::default();
        let mut m = Mask::default();
        k.set(field::ETH_TYPE, 0x0806);
        m.add(field::ETH_TYPE);
        k.set(field::IP4_DST, 0x0a00_0001);
        m.add(field::IP4_DST);
        k.set(field::ETH_DST, 0x0100_0000_0000);
        m.add_bits(field::ETH_DST, 0x0100_0000_0000);
        k.set(field::CT_STATE, u64::from(ct_state::TRK | ct_state::EST));
        m.add(field::CT_STATE);
        k.w[31] = 5;
        m.w[31] = 7;
        let s = format_match(&k, &m, Names::default());
        assert_eq!(
            s,
            "ct_state=est|trk,eth.dst=01:00:00:00:00:00/01:00:00:00:00:00,eth.type=0x806,\
             arp.tpa=10.0.0.1,word31=0x5/0x7"
        );
        assert_eq!(
            format_match(&k, &Mask::default(), Names::default()),
            "(any)"
        );
    }

    #[test]
    fn actions_summary() {
        use crate::actions::{Cause, OutStep};
        use crate::extract::Rewrite;
        let ports = vec![LocalPort {
            netdev: "veth1".into(),
            lport: "p1".into(),
            dp_key: 1,
            port_key: 2,
        }];
        let ttl = Flow {
            w: {
                let mut f = Flow::default();
                f.set(field::IP_TTL, 63);
                f.w
            },
        };
        let out = OutStep {
            port: 0,
            sets: vec![(
                field::IP_TTL.word,
                ttl.w[field::IP_TTL.word as usize],
                field::IP_TTL.word_mask(),
            )]
            .into_boxed_slice(),
            rewrite: Rewrite::default(),
            consts: None,
        };
        let acts = DpActs {
            steps: vec![Step::Output(out)].into_boxed_slice(),
            last: 0,
            cause: None,
        };
        let s = format_actions(&acts, &ports, Names::default(), None);
        assert_eq!(s, "set(ip.ttl=63),output:p1(veth1)");
        let dropped = DpActs {
            steps: Box::new([]),
            last: usize::MAX,
            cause: Some(Cause::PortSecurity),
        };
        assert_eq!(
            format_actions(&dropped, &ports, Names::default(), None),
            "drop(port-security)"
        );
    }
}
