//! Parser for the `actions` language (OVN lib/actions.c `parse_actions`): a list of
//! `action;` items, where `drop;` alone is the empty program. Assignments and
//! "result = function(args)" forms are recognised by the token after the first identifier
//! (`=`, `<->` or `[`), everything else by the action's name.

use crate::actions::*;
use crate::actions_args::*;
use crate::error::ParseError;
use crate::lexer::Tok;
use crate::parser::{FieldRef, Parser, Value};
use crate::symtab::{Kind, Symtab, Write};

/// Parses a Logical_Flow `actions` column.
pub fn parse_actions(input: &str, symtab: &Symtab) -> Result<Vec<Action>, ParseError> {
    let mut p = Parser::new(input, symtab)?;
    let v = list(&mut p, &Tok::End, false)?;
    Ok(v)
}

/// Parses actions up to and including `end` (`}` for nested blocks, End at top level).
fn list(p: &mut Parser, end: &Tok, in_ct_commit: bool) -> Result<Vec<Action>, ParseError> {
    if p.is_id("drop") && *p.peek_at(1) == Tok::Semicolon {
        p.advance();
        p.advance();
        if !p.eat(end) {
            return Err(p.error("`drop;' must be the only action"));
        }
        return Ok(vec![Action::Drop]);
    }
    let mut out = Vec::new();
    while !p.eat(end) {
        if *p.peek() == Tok::End {
            return Err(p.error("unexpected end of input (missing `}'?)"));
        }
        out.push(action(p, in_ct_commit)?);
        p.expect(&Tok::Semicolon, "`;'")?;
    }
    Ok(out)
}

fn action(p: &mut Parser, in_ct_commit: bool) -> Result<Action, ParseError> {
    match p.peek() {
        Tok::Id(_) => {}
        Tok::Template(_) => return Err(p.error("unexpanded template")),
        _ => return Err(p.error("syntax error: expecting action")),
    }
    if matches!(p.peek_at(1), Tok::Equals | Tok::Exchange | Tok::LSquare) {
        return set_action(p, in_ct_commit);
    }
    let Tok::Id(name) = p.advance() else {
        return Err(p.error_prev("syntax error: expecting action"));
    };
    let a = match name.as_str() {
        "next" => next(p)?,
        "output" => Action::Output,
        "ip.ttl" => {
            p.expect(&Tok::Decrement, "`--'")?;
            Action::DecTtl
        }
        "push" | "pop" => {
            p.expect(&Tok::LParen, "`('")?;
            let f = p.field()?;
            p.expect(&Tok::RParen, "`)'")?;
            if name == "push" {
                Action::Push(f)
            } else {
                check_write(p, &f, in_ct_commit)?;
                Action::Pop(f)
            }
        }
        "ct_next" => Action::CtNext,
        "ct_commit" => match p.peek() {
            Tok::LCurly => nested(p, NestedKind::CtCommit, true)?,
            Tok::LParen => ct_commit_v1(p)?,
            _ => Action::Nested {
                kind: NestedKind::CtCommit,
                actions: Vec::new(),
            },
        },
        "ct_dnat" => ct_nat(p, CtNatKind::Dnat)?,
        "ct_snat" => ct_nat(p, CtNatKind::Snat)?,
        "ct_dnat_in_czone" => ct_nat(p, CtNatKind::DnatInCzone)?,
        "ct_snat_in_czone" => ct_nat(p, CtNatKind::SnatInCzone)?,
        "ct_lb" => ct_lb(p, false)?,
        "ct_lb_mark" => ct_lb(p, true)?,
        "ct_clear" => Action::CtClear,
        "ct_commit_nat" => Action::CtCommitNat,
        "ct_snat_to_vip" => Action::CtSnatToVip,
        "clone" => nested(p, NestedKind::Clone, in_ct_commit)?,
        "arp" => nested(p, NestedKind::Arp, false)?,
        "icmp4" => nested(p, NestedKind::Icmp4, false)?,
        "icmp4_error" => nested(p, NestedKind::Icmp4Error, false)?,
        "icmp6" => nested(p, NestedKind::Icmp6, false)?,
        "icmp6_error" => nested(p, NestedKind::Icmp6Error, false)?,
        "tcp_reset" => nested(p, NestedKind::TcpReset, false)?,
        "sctp_abort" => nested(p, NestedKind::SctpAbort, false)?,
        "nd_na" => nested(p, NestedKind::NdNa, false)?,
        "nd_na_router" => nested(p, NestedKind::NdNaRouter, false)?,
        "nd_ns" => nested(p, NestedKind::NdNs, false)?,
        "reject" => nested(p, NestedKind::Reject, false)?,
        "igmp" => Action::Igmp,
        "mld" => Action::Mld,
        "get_arp" | "get_nd" => {
            let kind = if name == "get_arp" {
                MacBind::Arp
            } else {
                MacBind::Nd
            };
            let args = field_args(p, 2)?;
            Action::GetMacBind {
                kind,
                port: args[0],
                ip: args[1],
            }
        }
        "put_arp" | "put_nd" => {
            let kind = if name == "put_arp" {
                MacBind::Arp
            } else {
                MacBind::Nd
            };
            let args = field_args(p, 3)?;
            Action::PutMacBind {
                kind,
                port: args[0],
                ip: args[1],
                mac: args[2],
            }
        }
        "put_fdb" => {
            let args = field_args(p, 2)?;
            Action::PutFdb {
                port: args[0],
                mac: args[1],
            }
        }
        "handle_svc_check" => {
            let args = field_args(p, 1)?;
            Action::HandleSvcCheck { port: args[0] }
        }
        "handle_dhcpv6_reply" => Action::HandleDhcpv6Reply,
        "handle_bfd_msg" => {
            if p.eat(&Tok::LParen) {
                p.expect(&Tok::RParen, "`)'")?;
            }
            Action::HandleBfdMsg
        }
        "set_queue" => {
            p.expect(&Tok::LParen, "`('")?;
            let q = p.small_int()?;
            p.expect(&Tok::RParen, "`)'")?;
            if q > 0xf000 {
                return Err(p.error_prev("queue id out of range"));
            }
            Action::SetQueue(q as u16)
        }
        "set_meter" => {
            p.expect(&Tok::LParen, "`('")?;
            let rate = p.small_int()?;
            let burst = if p.eat(&Tok::Comma) {
                p.small_int()?
            } else {
                0
            };
            p.expect(&Tok::RParen, "`)'")?;
            if rate == 0 {
                return Err(p.error_prev("set_meter rate must be positive"));
            }
            Action::SetMeter { rate, burst }
        }
        "log" => log(p)?,
        "trigger_event" => trigger_event(p)?,
        "bind_vport" => {
            p.expect(&Tok::LParen, "`('")?;
            let vport = string(p)?;
            p.expect(&Tok::Comma, "`,'")?;
            let parent = p.field()?;
            p.expect(&Tok::RParen, "`)'")?;
            Action::BindVport { vport, parent }
        }
        "fwd_group" => fwd_group(p)?,
        "commit_lb_aff" => commit_lb_aff(p)?,
        "commit_ecmp_nh" => commit_ecmp_nh(p)?,
        "sample" => sample(p)?,
        "mac_cache_use" => Action::MacCacheUse,
        "ct_commit_to_zone" => {
            p.expect(&Tok::LParen, "`('")?;
            let snat = if p.eat_id("snat") {
                true
            } else if p.eat_id("dnat") {
                false
            } else {
                return Err(p.error("expecting `snat' or `dnat'"));
            };
            p.expect(&Tok::RParen, "`)'")?;
            Action::CtCommitToZone { snat }
        }
        _ => return Err(p.error_prev("syntax error: expecting action")),
    };
    Ok(a)
}

fn check_write(p: &Parser, f: &FieldRef, in_ct_commit: bool) -> Result<(), ParseError> {
    let s = p.symtab.get(f.sym);
    let ok = match s.write {
        Write::Yes => true,
        Write::CtCommit => in_ct_commit,
        Write::No => false,
    };
    if ok && !matches!(s.kind, Kind::Predicate { .. }) {
        Ok(())
    } else if s.write == Write::CtCommit {
        Err(p.error_prev(format!(
            "field {} can only be modified inside ct_commit",
            s.name
        )))
    } else {
        Err(p.error_prev(format!("field {} is not modifiable", s.name)))
    }
}

/// `lhs = ...` and `lhs <-> rhs`.
fn set_action(p: &mut Parser, in_ct_commit: bool) -> Result<Action, ParseError> {
    let dst = p.field()?;
    check_write(p, &dst, in_ct_commit)?;
    if p.eat(&Tok::Exchange) {
        let b = p.field()?;
        check_write(p, &b, in_ct_commit)?;
        check_widths(p, &dst, &b)?;
        return Ok(Action::Exchange { a: dst, b });
    }
    p.expect(&Tok::Equals, "`=' or `<->'")?;
    if let (Tok::Id(func), Tok::LParen) = (p.peek(), p.peek_at(1)) {
        let func = func.clone();
        if let Some(a) = result_action(p, &func, dst)? {
            return Ok(a);
        }
    }
    if let Tok::Id(_) = p.peek() {
        let src = p.field()?;
        if matches!(
            p.symtab.get(src.sym).kind,
            Kind::Predicate { .. } | Kind::Ovn(_)
        ) {
            return Err(p.error_prev("source of an assignment must be a field"));
        }
        check_widths(p, &dst, &src)?;
        return Ok(Action::Move { dst, src });
    }
    let value = p.constant()?;
    if matches!(value, Value::AddrSet(_) | Value::PortGroup(_)) {
        return Err(p.error_prev("expecting a single constant"));
    }
    p.check_value(&dst, &value)?;
    Ok(Action::Load { dst, value })
}

fn check_widths(p: &Parser, a: &FieldRef, b: &FieldRef) -> Result<(), ParseError> {
    if a.n_bits != b.n_bits {
        let (sa, sb) = (p.symtab.get(a.sym).name, p.symtab.get(b.sym).name);
        return Err(p.error_prev(format!(
            "cannot assign {}-bit {sb} to {}-bit {sa} (widths must match)",
            b.n_bits, a.n_bits
        )));
    }
    Ok(())
}

/// The `dst = function(...)` actions. Returns `None` if `func` is not one of them.
fn result_action(p: &mut Parser, func: &str, dst: FieldRef) -> Result<Option<Action>, ParseError> {
    let one_bit = |p: &Parser| -> Result<(), ParseError> {
        if dst.n_bits != 1 {
            return Err(p.error(format!("{func} requires a 1-bit destination")));
        }
        Ok(())
    };
    let a = match func {
        "put_dhcp_opts" | "put_dhcpv6_opts" | "put_nd_ra_opts" => {
            one_bit(p)?;
            p.advance();
            p.advance();
            let mut options = Vec::new();
            while !p.eat(&Tok::RParen) {
                options.push(gen_opt(p)?);
                p.eat(&Tok::Comma);
            }
            match func {
                "put_nd_ra_opts" => Action::PutNdRaOpts { dst, options },
                f => Action::PutDhcpOpts {
                    v6: f == "put_dhcpv6_opts",
                    dst,
                    options,
                },
            }
        }
        "lookup_arp" | "lookup_nd" | "lookup_arp_ip" | "lookup_nd_ip" => {
            one_bit(p)?;
            p.advance();
            let kind = if func.starts_with("lookup_arp") {
                MacBind::Arp
            } else {
                MacBind::Nd
            };
            let n = if func.ends_with("_ip") { 2 } else { 3 };
            let args = field_args(p, n)?;
            Action::LookupMacBind {
                kind,
                dst,
                port: args[0],
                ip: args[1],
                mac: args.get(2).copied(),
            }
        }
        "lookup_fdb" => {
            one_bit(p)?;
            p.advance();
            let args = field_args(p, 2)?;
            Action::LookupFdb {
                dst,
                port: args[0],
                mac: args[1],
            }
        }
        "get_fdb" => {
            p.advance();
            let args = field_args(p, 1)?;
            Action::GetFdb { dst, mac: args[0] }
        }
        "check_pkt_larger" => {
            one_bit(p)?;
            p.advance();
            p.advance();
            let len = p.small_int()?;
            p.expect(&Tok::RParen, "`)'")?;
            let len = u32::try_from(len).map_err(|_| p.error_prev("packet length too large"))?;
            Action::CheckPktLarger { dst, len }
        }
        "select" => {
            if dst.n_bits < 16 {
                return Err(p.error("select requires a destination of at least 16 bits"));
            }
            p.advance();
            p.advance();
            let mut members = Vec::new();
            while !p.eat(&Tok::RParen) {
                let id = u16_arg(p)?;
                let w = if p.eat(&Tok::Equals) {
                    u16_arg(p)?
                } else {
                    100
                };
                if w == 0 {
                    return Err(p.error_prev("weight can't be 0"));
                }
                members.push((id, w));
                p.eat(&Tok::Comma);
            }
            if members.is_empty() {
                return Err(p.error_prev("select needs at least one member"));
            }
            Action::Select { dst, members }
        }
        "dns_lookup"
        | "chk_lb_hairpin"
        | "chk_lb_hairpin_reply"
        | "chk_lb_aff"
        | "chk_ecmp_nh_mac"
        | "chk_ecmp_nh"
        | "check_in_port_sec"
        | "check_out_port_sec" => {
            one_bit(p)?;
            p.advance();
            p.advance();
            if !p.eat(&Tok::RParen) {
                return Err(p.error(format!("{func} doesn't take any parameters")));
            }
            match func {
                "dns_lookup" => Action::DnsLookup { dst },
                "chk_lb_hairpin" => Action::ChkLbHairpin { dst },
                "chk_lb_hairpin_reply" => Action::ChkLbHairpinReply { dst },
                "chk_lb_aff" => Action::ChkLbAff { dst },
                "chk_ecmp_nh_mac" => Action::ChkEcmpNh { dst, mac: true },
                "chk_ecmp_nh" => Action::ChkEcmpNh { dst, mac: false },
                "check_in_port_sec" => Action::CheckPortSec { dst, ingress: true },
                _ => Action::CheckPortSec {
                    dst,
                    ingress: false,
                },
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(a))
}

fn field_args(p: &mut Parser, n: usize) -> Result<Vec<FieldRef>, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            p.expect(&Tok::Comma, "`,'")?;
        }
        let f = p.field()?;
        if matches!(p.symtab.get(f.sym).kind, Kind::Predicate { .. }) {
            return Err(p.error_prev("expecting a field, not a predicate"));
        }
        v.push(f);
    }
    p.expect(&Tok::RParen, "`)'")?;
    Ok(v)
}

fn nested(p: &mut Parser, kind: NestedKind, ct_commit: bool) -> Result<Action, ParseError> {
    p.expect(&Tok::LCurly, "`{'")?;
    p.enter()?;
    let actions = list(p, &Tok::RCurly, ct_commit)?;
    p.leave();
    Ok(Action::Nested { kind, actions })
}

fn next(p: &mut Parser) -> Result<Action, ParseError> {
    let mut pipeline = None;
    let mut table = None;
    if p.eat(&Tok::LParen) {
        if matches!(p.peek(), Tok::Int(_)) {
            table = Some(table_no(p)?);
        } else {
            loop {
                if p.eat_id("pipeline") {
                    p.expect(&Tok::Equals, "`='")?;
                    pipeline = Some(if p.eat_id("ingress") {
                        Pipeline::Ingress
                    } else if p.eat_id("egress") {
                        Pipeline::Egress
                    } else {
                        return Err(p.error("expecting \"ingress\" or \"egress\""));
                    });
                } else if p.eat_id("table") {
                    p.expect(&Tok::Equals, "`='")?;
                    table = Some(table_no(p)?);
                } else {
                    return Err(p.error("expecting \"pipeline\" or \"table\""));
                }
                if !p.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        p.expect(&Tok::RParen, "`)'")?;
    }
    Ok(Action::Next { pipeline, table })
}

fn table_no(p: &mut Parser) -> Result<u8, ParseError> {
    let v = p.small_int()?;
    u8::try_from(v).map_err(|_| p.error_prev("table number out of range"))
}
