//! Printing parsed expressions and actions back in OVN syntax, for traces, error reports
//! and round-trip tests. Output re-parses to the same tree (`tests/lflows.rs` checks this
//! on every fixture flow), though spacing and some spellings differ from ovn-northd's.

use crate::actions::*;
use crate::expr::{Expr, RelOp};
use crate::lexer::{Int, IntFormat};
use crate::parser::{FieldRef, Value};
use crate::symtab::Symtab;
use std::fmt::{self, Display, Formatter, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `expr.display(&symtab)` prints a match expression.
pub struct ExprDisplay<'a>(&'a Expr, &'a Symtab);

/// `actions_display(&actions, &symtab)` prints an action list.
pub struct ActionsDisplay<'a>(&'a [Action], &'a Symtab);

impl Expr {
    /// A printable view of this expression (symbol names need the table).
    pub fn display<'a>(&'a self, t: &'a Symtab) -> ExprDisplay<'a> {
        ExprDisplay(self, t)
    }
}

/// A printable view of an action list.
pub fn actions_display<'a>(a: &'a [Action], t: &'a Symtab) -> ActionsDisplay<'a> {
    ActionsDisplay(a, t)
}

impl Display for ExprDisplay<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        expr(f, self.0, self.1)
    }
}

impl Display for ActionsDisplay<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        actions(f, self.0, self.1)
    }
}

fn expr(f: &mut Formatter<'_>, e: &Expr, t: &Symtab) -> fmt::Result {
    match e {
        Expr::Bool(b) => write!(f, "{}", u8::from(*b)),
        Expr::Predicate(id) => write!(f, "{}", t.get(*id).name),
        Expr::ChassisResident(p) => {
            f.write_str("is_chassis_resident(")?;
            string(f, p)?;
            f.write_str(")")
        }
        Expr::Cmp {
            field: fr,
            op,
            values,
        } => {
            field(f, fr, t)?;
            let op = match op {
                RelOp::Eq => "==",
                RelOp::Ne => "!=",
                RelOp::Lt => "<",
                RelOp::Le => "<=",
                RelOp::Gt => ">",
                RelOp::Ge => ">=",
            };
            write!(f, " {op} ")?;
            value_set(f, values)
        }
        Expr::Not(inner) => {
            f.write_str("!(")?;
            expr(f, inner, t)?;
            f.write_str(")")
        }
        Expr::And(v) | Expr::Or(v) => {
            let sep = if matches!(e, Expr::And(_)) {
                " && "
            } else {
                " || "
            };
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                if matches!(x, Expr::And(_) | Expr::Or(_)) {
                    f.write_str("(")?;
                    expr(f, x, t)?;
                    f.write_str(")")?;
                } else {
                    expr(f, x, t)?;
                }
            }
            Ok(())
        }
    }
}

fn field(f: &mut Formatter<'_>, r: &FieldRef, t: &Symtab) -> fmt::Result {
    let s = t.get(r.sym);
    f.write_str(s.name)?;
    if r.n_bits == s.width || s.width == 0 {
        Ok(())
    } else if r.n_bits == 1 {
        write!(f, "[{}]", r.ofs)
    } else {
        write!(
            f,
            "[{}..{}]",
            r.ofs,
            u32::from(r.ofs) + u32::from(r.n_bits) - 1
        )
    }
}

fn string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn value_set(f: &mut Formatter<'_>, v: &[Value]) -> fmt::Result {
    if v.len() == 1 {
        return value(f, &v[0]);
    }
    f.write_str("{")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        value(f, x)?;
    }
    f.write_str("}")
}

fn value(f: &mut Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::Int(i) => int(f, i),
        Value::Str(s) => string(f, s),
        Value::AddrSet(s) => write!(f, "${s}"),
        Value::PortGroup(s) => write!(f, "@{s}"),
    }
}

fn plain(f: &mut Formatter<'_>, v: u128, fmt_: IntFormat) -> fmt::Result {
    match fmt_ {
        IntFormat::Decimal => write!(f, "{v}"),
        IntFormat::Hex => write!(f, "{v:#x}"),
        IntFormat::Ipv4 => write!(f, "{}", Ipv4Addr::from(v as u32)),
        IntFormat::Ipv6 => write!(f, "{}", Ipv6Addr::from(v)),
        IntFormat::Ethernet => {
            let b = (v as u64).to_be_bytes();
            write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[2], b[3], b[4], b[5], b[6], b[7]
            )
        }
    }
}

fn int(f: &mut Formatter<'_>, i: &Int) -> fmt::Result {
    plain(f, i.value, i.format)?;
    let Some(m) = i.mask else { return Ok(()) };
    let width = match i.format {
        IntFormat::Ipv4 => 32,
        IntFormat::Ipv6 => 128,
        _ => 0,
    };
    if width > 0 {
        let ones = m.count_ones();
        if crate::lexer::prefix_mask(ones, width) == m {
            return write!(f, "/{ones}");
        }
    }
    f.write_char('/')?;
    plain(f, m, i.format)
}

fn ip(f: &mut Formatter<'_>, a: &IpAddr) -> fmt::Result {
    write!(f, "{a}")
}

fn opts(f: &mut Formatter<'_>, o: &[GenOpt]) -> fmt::Result {
    for (i, x) in o.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{} = ", x.name)?;
        if x.values.len() == 1 {
            value(f, &x.values[0])?;
        } else {
            value_set(f, &x.values)?;
        }
    }
    Ok(())
}

fn fields(f: &mut Formatter<'_>, name: &str, v: &[&FieldRef], t: &Symtab) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        field(f, x, t)?;
    }
    f.write_str(")")
}

fn actions(f: &mut Formatter<'_>, a: &[Action], t: &Symtab) -> fmt::Result {
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        action(f, x, t)?;
        f.write_char(';')?;
    }
    Ok(())
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Sctp => "sctp",
    }
}

fn action(f: &mut Formatter<'_>, a: &Action, t: &Symtab) -> fmt::Result {
    let dst_eq = |f: &mut Formatter<'_>, d: &FieldRef| -> fmt::Result {
        field(f, d, t)?;
        f.write_str(" = ")
    };
    match a {
        Action::Drop => f.write_str("drop"),
        Action::Load { dst, value: v } => {
            dst_eq(f, dst)?;
            value(f, v)
        }
        Action::Move { dst, src } => {
            dst_eq(f, dst)?;
            field(f, src, t)
        }
        Action::Exchange { a, b } => {
            field(f, a, t)?;
            f.write_str(" <-> ")?;
            field(f, b, t)
        }
        Action::DecTtl => f.write_str("ip.ttl--"),
        Action::Next { pipeline, table } => match (pipeline, table) {
            (None, None) => f.write_str("next"),
            (None, Some(n)) => write!(f, "next({n})"),
            (Some(p), n) => {
                let p = if *p == Pipeline::Ingress { "ingress" } else { "egress" };
                match n {
                    Some(n) => write!(f, "next(pipeline={p}, table={n})"),
                    None => write!(f, "next(pipeline={p})"),
                }
            }
        },
        Action::Output => f.write_str("output"),
        Action::Push(x) => fields(f, "push", &[x], t),
        Action::Pop(x) => fields(f, "pop", &[x], t),
        Action::Nested { kind, actions: inner } => {
            let name = match kind {
                NestedKind::Arp => "arp",
                NestedKind::NdNs => "nd_ns",
                NestedKind::NdNa => "nd_na",
                NestedKind::NdNaRouter => "nd_na_router",
                NestedKind::Icmp4 => "icmp4",
                NestedKind::Icmp4Error => "icmp4_error",
                NestedKind::Icmp6 => "icmp6",
                NestedKind::Icmp6Error => "icmp6_error",
                NestedKind::TcpReset => "tcp_reset",
                NestedKind::SctpAbort => "sctp_abort",
                NestedKind::Reject => "reject",
                NestedKind::Clone => "clone",
                NestedKind::CtCommit => "ct_commit",
            };
            write!(f, "{name} {{ ")?;
            actions(f, inner, t)?;
            f.write_str(" }")
        }
        Action::CtCommitV1 { mark, label } => {
            f.write_str("ct_commit(")?;
            if let Some((v, m)) = mark {
                write!(f, "ct_mark={v:#x}/{m:#x}")?;
            }
            if let Some((v, m)) = label {
                if mark.is_some() {
                    f.write_str(", ")?;
                }
                write!(f, "ct_label={v:#x}/{m:#x}")?;
            }
            f.write_str(")")
        }
        Action::CtNext => f.write_str("ct_next"),
        Action::CtNat { kind, ip: addr, ports } => {
            f.write_str(match kind {
                CtNatKind::Dnat => "ct_dnat",
                CtNatKind::Snat => "ct_snat",
                CtNatKind::DnatInCzone => "ct_dnat_in_czone",
                CtNatKind::SnatInCzone => "ct_snat_in_czone",
            })?;
            if let Some(a) = addr {
                f.write_str("(")?;
                ip(f, a)?;
                match ports {
                    Some((lo, 0)) => write!(f, ",{lo}")?,
                    Some((lo, hi)) => write!(f, ",{lo}-{hi}")?,
                    None => {}
                }
                f.write_str(")")?;
            }
            Ok(())
        }
        Action::CtCommitNat => f.write_str("ct_commit_nat"),
        Action::CtLb { mark, backends, hash_fields, flag } => {
            f.write_str(if *mark { "ct_lb_mark" } else { "ct_lb" })?;
            if backends.is_empty() {
                return Ok(());
            }
            f.write_str("(backends=")?;
            for (i, b) in backends.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                match (b.ip, b.port) {
                    (a, 0) => ip(f, &a)?,
                    (IpAddr::V6(a), p) => write!(f, "[{a}]:{p}")?,
                    (a, p) => write!(f, "{a}:{p}")?,
                }
            }
            if let Some(h) = hash_fields {
                f.write_str("; hash_fields=")?;
                string(f, h)?;
            }
            match flag {
                Some(CtLbFlag::SkipSnat) => f.write_str("; skip_snat")?,
                Some(CtLbFlag::ForceSnat) => f.write_str("; force_snat")?,
                None => {}
            }
            f.write_str(")")
        }
        Action::CtClear => f.write_str("ct_clear"),
        Action::CtSnatToVip => f.write_str("ct_snat_to_vip"),
        Action::GetMacBind { kind, port, ip } => {
            let n = if *kind == MacBind::Arp { "get_arp" } else { "get_nd" };
            fields(f, n, &[port, ip], t)
        }
        Action::PutMacBind { kind, port, ip, mac } => {
            let n = if *kind == MacBind::Arp { "put_arp" } else { "put_nd" };
            fields(f, n, &[port, ip, mac], t)
        }
        Action::LookupMacBind { kind, dst, port, ip, mac } => {
            dst_eq(f, dst)?;
            match (kind, mac) {
                (MacBind::Arp, Some(m)) => fields(f, "lookup_arp", &[port, ip, m], t),
                (MacBind::Nd, Some(m)) => fields(f, "lookup_nd", &[port, ip, m], t),
                (MacBind::Arp, None) => fields(f, "lookup_arp_ip", &[port, ip], t),
                (MacBind::Nd, None) => fields(f, "lookup_nd_ip", &[port, ip], t),
            }
        }
        Action::PutDhcpOpts { v6, dst, options } => {
            dst_eq(f, dst)?;
            f.write_str(if *v6 { "put_dhcpv6_opts(" } else { "put_dhcp_opts(" })?;
            opts(f, options)?;
            f.write_str(")")
        }
        Action::PutNdRaOpts { dst, options } => {
            dst_eq(f, dst)?;
            f.write_str("put_nd_ra_opts(")?;
            opts(f, options)?;
            f.write_str(")")
        }
        Action::DnsLookup { dst } => dst_eq(f, dst).and_then(|_| f.write_str("dns_lookup()")),
        Action::CheckPktLarger { dst, len } => dst_eq(f, dst).and_then(|_| write!(f, "check_pkt_larger({len})")),
        Action::ChkLbHairpin { dst } => dst_eq(f, dst).and_then(|_| f.write_str("chk_lb_hairpin()")),
        Action::ChkLbHairpinReply { dst } => dst_eq(f, dst).and_then(|_| f.write_str("chk_lb_hairpin_reply()")),
        Action::ChkLbAff { dst } => dst_eq(f, dst).and_then(|_| f.write_str("chk_lb_aff()")),
        Action::ChkEcmpNh { dst, mac } => {
            dst_eq(f, dst)?;
            f.write_str(if *mac { "chk_ecmp_nh_mac()" } else { "chk_ecmp_nh()" })
        }
        Action::CheckPortSec { dst, ingress } => {
            dst_eq(f, dst)?;
            f.write_str(if *ingress { "check_in_port_sec()" } else { "check_out_port_sec()" })
        }
        Action::GetFdb { dst, mac } => dst_eq(f, dst).and_then(|_| fields(f, "get_fdb", &[mac], t)),
        Action::PutFdb { port, mac } => fields(f, "put_fdb", &[port, mac], t),
        Action::LookupFdb { dst, port, mac } => dst_eq(f, dst).and_then(|_| fields(f, "lookup_fdb", &[port, mac], t)),
        Action::Select { dst, members } => {
            dst_eq(f, dst)?;
            f.write_str("select(")?;
            for (i, (id, w)) in members.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{id}={w}")?;
            }
            f.write_str(")")
        }
        Action::CommitLbAff { vip, backend, proto, timeout } => {
            f.write_str("commit_lb_aff(vip = ")?;
            string(f, vip)?;
            f.write_str(", backend = ")?;
            string(f, backend)?;
            if let Some(p) = proto {
                write!(f, ", proto = {}", proto_name(*p))?;
            }
            write!(f, ", timeout = {timeout})")
        }
        Action::CommitEcmpNh { ipv6, proto } => {
            write!(f, "commit_ecmp_nh(ipv6 = {ipv6}, proto = {})", proto_name(*proto))
        }
        Action::HandleSvcCheck { port } => fields(f, "handle_svc_check", &[port], t),
        Action::HandleDhcpv6Reply => f.write_str("handle_dhcpv6_reply"),
        Action::HandleBfdMsg => f.write_str("handle_bfd_msg()"),
        Action::BindVport { vport, parent } => {
            f.write_str("bind_vport(")?;
            string(f, vport)?;
            f.write_str(", ")?;
            field(f, parent, t)?;
            f.write_str(")")
        }
        Action::TriggerEvent { event, options } => {
            f.write_str("trigger_event(event = ")?;
            string(f, event)?;
            if !options.is_empty() {
                f.write_str(", ")?;
                opts(f, options)?;
            }
            f.write_str(")")
        }
        Action::Log { verdict, name, severity, meter } => {
            let v = match verdict {
                LogVerdict::Allow => "allow",
                LogVerdict::Drop => "drop",
                LogVerdict::Reject => "reject",
            };
            write!(f, "log(verdict={v}")?;
            if let Some(n) = name {
                f.write_str(", name=")?;
                string(f, n)?;
            }
            if let Some(s) = severity {
                write!(f, ", severity={s}")?;
            }
            if let Some(m) = meter {
                f.write_str(", meter=")?;
                string(f, m)?;
            }
            f.write_str(")")
        }
        Action::SetQueue(q) => write!(f, "set_queue({q})"),
        Action::SetMeter { rate, burst: 0 } => write!(f, "set_meter({rate})"),
        Action::SetMeter { rate, burst } => write!(f, "set_meter({rate}, {burst})"),
        Action::Igmp => f.write_str("igmp"),
        Action::Mld => f.write_str("mld"),
        Action::FwdGroup { liveness, child_ports } => {
            write!(f, "fwd_group(liveness={liveness}, childports=")?;
            for (i, p) in child_ports.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                string(f, p)?;
            }
            f.write_str(")")
        }
        Action::Sample { probability, collector_set, obs_domain, obs_point } => write!(
            f,
            "sample(probability={probability}, collector_set={collector_set}, obs_domain={obs_domain}, obs_point={obs_point})"
        ),
        Action::MacCacheUse => f.write_str("mac_cache_use"),
        Action::CtCommitToZone { snat } => {
            write!(f, "ct_commit_to_zone({})", if *snat { "snat" } else { "dnat" })
        }
    }
}
