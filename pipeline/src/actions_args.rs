//! Argument parsers for the `actions` actions with structured arguments: conntrack NAT
//! and load balancing, option lists (`put_dhcp_opts`, `trigger_event`), `log`, `fwd_group`,
//! `commit_lb_aff`, `commit_ecmp_nh`, `sample`. Each is called after its name was consumed.

use crate::actions::*;
use crate::error::ParseError;
use crate::lexer::{Int, IntFormat, Tok};
use crate::parser::{Parser, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) fn u16_arg(p: &mut Parser) -> Result<u16, ParseError> {
    let v = p.small_int()?;
    u16::try_from(v).map_err(|_| p.error_prev("expecting a 16-bit integer"))
}

pub(crate) fn string(p: &mut Parser) -> Result<String, ParseError> {
    match p.peek().clone() {
        Tok::Str(s) => {
            p.advance();
            Ok(s)
        }
        _ => Err(p.error("expecting string")),
    }
}

/// `(f1, f2, ...)` with exactly `n` field arguments.
pub(crate) fn ct_commit_v1(p: &mut Parser) -> Result<Action, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    let (mut mark, mut label) = (None, None);
    while !p.eat(&Tok::RParen) {
        let is_mark = if p.eat_id("ct_mark") {
            true
        } else if p.eat_id("ct_label") {
            false
        } else {
            return Err(p.error("expecting ct_mark or ct_label"));
        };
        p.expect(&Tok::Equals, "`='")?;
        let Tok::Int(i) = p.peek().clone() else {
            return Err(p.error("expecting integer"));
        };
        p.advance();
        if is_mark {
            let m = i.mask.unwrap_or(u32::MAX as u128);
            if i.value > u32::MAX as u128 || m > u32::MAX as u128 {
                return Err(p.error_prev("ct_mark is 32 bits"));
            }
            mark = Some((i.value as u32, m as u32));
        } else {
            label = Some((i.value, i.mask.unwrap_or(u128::MAX)));
        }
        p.eat(&Tok::Comma);
    }
    Ok(Action::CtCommitV1 { mark, label })
}

pub(crate) fn ip_of(i: &Int) -> Option<IpAddr> {
    match i.format {
        IntFormat::Ipv4 if i.mask.is_none() => Some(IpAddr::V4(Ipv4Addr::from(i.value as u32))),
        IntFormat::Ipv6 if i.mask.is_none() => Some(IpAddr::V6(Ipv6Addr::from(i.value))),
        _ => None,
    }
}

pub(crate) fn ct_nat(p: &mut Parser, kind: CtNatKind) -> Result<Action, ParseError> {
    let (mut ip, mut ports) = (None, None);
    if p.eat(&Tok::LParen) {
        let addr = match p.peek() {
            Tok::Int(i) => ip_of(i),
            _ => None,
        };
        let Some(addr) = addr else {
            return Err(p.error("expecting IPv4 or IPv6 address"));
        };
        p.advance();
        ip = Some(addr);
        if p.eat(&Tok::Comma) {
            let lo = u16_arg(p)?;
            if lo == 0 {
                return Err(p.error_prev("range can't be 0"));
            }
            let hi = if p.eat(&Tok::Hyphen) { u16_arg(p)? } else { 0 };
            if hi != 0 && hi <= lo {
                return Err(p.error_prev("range high should be greater than range low"));
            }
            ports = Some((lo, hi));
        }
        p.expect(&Tok::RParen, "`)'")?;
    }
    Ok(Action::CtNat { kind, ip, ports })
}

pub(crate) fn ct_lb(p: &mut Parser, mark: bool) -> Result<Action, ParseError> {
    let mut backends = Vec::new();
    let (mut hash_fields, mut flag) = (None, None);
    if p.eat(&Tok::LParen) && !p.eat(&Tok::RParen) {
        if !p.eat_id("backends") || !p.eat(&Tok::Equals) {
            return Err(p.error("expecting backends"));
        }
        let mut closed = false;
        loop {
            if p.eat(&Tok::Semicolon) {
                break;
            }
            if p.eat(&Tok::RParen) {
                closed = true;
                break;
            }
            let bracket = p.eat(&Tok::LSquare);
            let ip = match p.peek() {
                Tok::Int(i) => ip_of(i).filter(|a| !bracket || a.is_ipv6()),
                _ => None,
            };
            let Some(ip) = ip else {
                return Err(p.error("expecting IP address"));
            };
            p.advance();
            if bracket {
                p.expect(&Tok::RSquare, "`]'")?;
            }
            let mut port = 0;
            if p.eat(&Tok::Colon) {
                if ip.is_ipv6() && !bracket {
                    return Err(
                        p.error_prev("IPv6 address needs square brackets if port is included")
                    );
                }
                port = u16_arg(p)?;
            }
            backends.push(LbBackend { ip, port });
            p.eat(&Tok::Comma);
        }
        if !closed {
            if p.eat_id("hash_fields") {
                p.expect(&Tok::Equals, "`='")?;
                hash_fields = Some(string(p)?);
                p.eat(&Tok::Semicolon);
            }
            if p.eat_id("skip_snat") {
                flag = Some(CtLbFlag::SkipSnat);
            } else if p.eat_id("force_snat") {
                flag = Some(CtLbFlag::ForceSnat);
            }
            p.expect(&Tok::RParen, "`)'")?;
        }
    }
    Ok(Action::CtLb {
        mark,
        backends,
        hash_fields,
        flag,
    })
}

/// `name = constant-or-set` of the option-style actions.
pub(crate) fn gen_opt(p: &mut Parser) -> Result<GenOpt, ParseError> {
    let Tok::Id(name) = p.peek().clone() else {
        return Err(p.error("expecting option name"));
    };
    p.advance();
    p.expect(&Tok::Equals, "`='")?;
    let (values, _) = p.constant_set()?;
    Ok(GenOpt { name, values })
}

pub(crate) fn trigger_event(p: &mut Parser) -> Result<Action, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    if !p.eat_id("event") {
        return Err(p.error("expecting 'event' option"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let event = string(p)?;
    if event != "empty_lb_backends" {
        return Err(p.error_prev("unknown event"));
    }
    p.eat(&Tok::Comma);
    let mut options = Vec::new();
    while !p.eat(&Tok::RParen) {
        let o = gen_opt(p)?;
        if !matches!(o.values.as_slice(), [Value::Str(_)]) {
            return Err(p.error_prev(format!("invalid value for \"{}\" option", o.name)));
        }
        options.push(o);
        p.eat(&Tok::Comma);
    }
    Ok(Action::TriggerEvent { event, options })
}

pub(crate) fn log(p: &mut Parser) -> Result<Action, ParseError> {
    let (mut verdict, mut name, mut severity, mut meter) = (None, None, None, None);
    if p.eat(&Tok::LParen) {
        while !p.eat(&Tok::RParen) {
            if p.eat_id("verdict") {
                p.expect(&Tok::Equals, "`='")?;
                verdict = Some(if p.eat_id("allow") {
                    LogVerdict::Allow
                } else if p.eat_id("drop") {
                    LogVerdict::Drop
                } else if p.eat_id("reject") {
                    LogVerdict::Reject
                } else {
                    return Err(p.error("unknown verdict"));
                });
            } else if p.eat_id("name") {
                p.expect(&Tok::Equals, "`='")?;
                name = Some(string(p)?);
            } else if p.eat_id("severity") {
                p.expect(&Tok::Equals, "`='")?;
                const SEV: [&str; 8] = [
                    "alert",
                    "warning",
                    "notice",
                    "info",
                    "debug",
                    "emergency",
                    "critical",
                    "error",
                ];
                match p.peek().clone() {
                    Tok::Id(s) if SEV.contains(&s.as_str()) => {
                        p.advance();
                        severity = Some(s);
                    }
                    _ => return Err(p.error("unknown severity")),
                }
            } else if p.eat_id("meter") {
                p.expect(&Tok::Equals, "`='")?;
                meter = Some(string(p)?);
            } else {
                return Err(p.error("syntax error in log arguments"));
            }
            p.eat(&Tok::Comma);
        }
    }
    let Some(verdict) = verdict else {
        return Err(p.error_prev("expecting verdict"));
    };
    Ok(Action::Log {
        verdict,
        name,
        severity,
        meter,
    })
}

pub(crate) fn fwd_group(p: &mut Parser) -> Result<Action, ParseError> {
    let (mut liveness, mut child_ports) = (false, Vec::new());
    if p.eat(&Tok::LParen) {
        if p.eat_id("liveness") {
            p.expect(&Tok::Equals, "`='")?;
            liveness = match p.advance() {
                Tok::Id(s) | Tok::Str(s) if s == "true" => true,
                Tok::Id(s) | Tok::Str(s) if s == "false" => false,
                _ => return Err(p.error_prev("expecting true or false")),
            };
            p.expect(&Tok::Comma, "`,'")?;
        }
        if p.eat_id("childports") {
            p.expect(&Tok::Equals, "`='")?;
            while !p.eat(&Tok::RParen) {
                child_ports.push(string(p)?);
                p.eat(&Tok::Comma);
            }
        } else {
            p.expect(&Tok::RParen, "`)'")?;
        }
    }
    Ok(Action::FwdGroup {
        liveness,
        child_ports,
    })
}

pub(crate) fn proto(p: &mut Parser) -> Result<Proto, ParseError> {
    Ok(if p.eat_id("tcp") {
        Proto::Tcp
    } else if p.eat_id("udp") {
        Proto::Udp
    } else if p.eat_id("sctp") {
        Proto::Sctp
    } else {
        return Err(p.error("invalid protocol"));
    })
}

pub(crate) fn commit_lb_aff(p: &mut Parser) -> Result<Action, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    if !p.eat_id("vip") {
        return Err(p.error("expecting vip"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let vip = string(p)?;
    p.expect(&Tok::Comma, "`,'")?;
    if !p.eat_id("backend") {
        return Err(p.error("expecting backend"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let backend = string(p)?;
    p.expect(&Tok::Comma, "`,'")?;
    let mut pr = None;
    if p.eat_id("proto") {
        p.expect(&Tok::Equals, "`='")?;
        pr = Some(proto(p)?);
        p.expect(&Tok::Comma, "`,'")?;
    }
    if !p.eat_id("timeout") {
        return Err(p.error("expecting timeout"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let timeout = u16_arg(p)?;
    p.expect(&Tok::RParen, "`)'")?;
    Ok(Action::CommitLbAff {
        vip,
        backend,
        proto: pr,
        timeout,
    })
}

pub(crate) fn commit_ecmp_nh(p: &mut Parser) -> Result<Action, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    if !p.eat_id("ipv6") {
        return Err(p.error("expecting ipv6"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let ipv6 = match p.advance() {
        Tok::Id(s) | Tok::Str(s) if s == "true" => true,
        Tok::Id(s) | Tok::Str(s) if s == "false" => false,
        _ => return Err(p.error_prev("expecting true or false")),
    };
    p.expect(&Tok::Comma, "`,'")?;
    if !p.eat_id("proto") {
        return Err(p.error("expecting proto"));
    }
    p.expect(&Tok::Equals, "`='")?;
    let proto = proto(p)?;
    p.expect(&Tok::RParen, "`)'")?;
    Ok(Action::CommitEcmpNh { ipv6, proto })
}

pub(crate) fn sample(p: &mut Parser) -> Result<Action, ParseError> {
    p.expect(&Tok::LParen, "`('")?;
    let (mut probability, mut collector_set, mut obs_domain, mut obs_point) =
        (0u64, 0u64, 0u64, 0u64);
    while !p.eat(&Tok::RParen) {
        let Tok::Id(k) = p.advance() else {
            return Err(p.error_prev("expecting sample argument"));
        };
        p.expect(&Tok::Equals, "`='")?;
        let v = p.small_int()?;
        match k.as_str() {
            "probability" => probability = v,
            "collector_set" => collector_set = v,
            "obs_domain" => obs_domain = v,
            "obs_point" => obs_point = v,
            _ => return Err(p.error_prev("unknown sample argument")),
        }
        p.eat(&Tok::Comma);
    }
    if probability == 0
        || probability > 65535
        || obs_domain > 255
        || collector_set > u32::MAX as u64
        || obs_point > u32::MAX as u64
    {
        return Err(p.error_prev("sample argument out of range"));
    }
    Ok(Action::Sample {
        probability: probability as u16,
        collector_set: collector_set as u32,
        obs_domain: obs_domain as u8,
        obs_point: obs_point as u32,
    })
}
