//! `southpaw trace`: `ovn-trace` with southpaw's compiler and executor. Reads the
//! Southbound DB once, compiles it chassis-agnostically (every port resident, see
//! [`load`]), parses the microflow in `ovn-trace` syntax and runs it, printing the table
//! steps like `ovn-trace --detailed`, or with `--json` the outputs and their final headers.
//!
//! Conntrack is simulated as `ovn-trace` does: each `ct_next` takes the next `--ct` state
//! (default `est|trk`), `ct_lb`/`ct_lb_mark` picks the `--lb-dst` backend if it is one
//! of the VIP's backends (else the first; `ovn-trace` picks at random), `ct_dnat(IP)` and
//! `ct_snat(IP)` rewrite the address and set `dnat`/`snat`. Generated packets (`arp {}`,
//! `icmp4 {}` ...) are followed too.
//!
//! `--batch FILE` (`-` for stdin) traces many microflows with one load and compile: each
//! line is `DATAPATH<TAB>MICROFLOW[<TAB>OPTION]...` with options `--ct=FLAGS`,
//! `--lb-dst=IP[:PORT]`, `--select-id=N`; each output line is one JSON object.
//!
//! Not done: `--select-id` is accepted but the executor always takes the first `select`
//! member; controller actions (`put_dhcp_opts`, `dns_lookup` ...) are shown and the
//! pipeline resumes without their result; Chassis_Template_Var values are not loaded.

mod load;

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pipeline::compile::{compile, Compiled, CompiledDatapath};
use pipeline::dpaction::{DpAction, Nat};
use pipeline::exec::{execute, generated_flow, ExecResult, TraceEvent};
use pipeline::flow::{ct_state, field, Flow, Mask};
use pipeline::microflow::parse_microflow;
use pipeline::trace_fmt::{Drop, Hit, Line, Note, Output, Step, TraceReport};
use pipeline::Symtab;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Southbound remote (e.g. unix:/var/run/ovn/ovnsb_db.sock or tcp:IP:6642).
    #[arg(long, value_name = "REMOTE")]
    db: String,
    /// ct_state for successive ct_next/ct_lb actions (repeatable; `trk` is implied;
    /// after the list runs out: `est,trk`).
    #[arg(long = "ct", value_name = "FLAGS")]
    ct: Vec<String>,
    /// Load-balancer backend to choose, IP or IP:PORT.
    #[arg(long, value_name = "IP[:PORT]")]
    lb_dst: Option<String>,
    /// `select()` member id (accepted; the executor takes the first member).
    #[arg(long, value_name = "N")]
    select_id: Option<u16>,
    /// Print `{"outputs": [...], "drops": [...]}` instead of the table-by-table trace.
    #[arg(long)]
    json: bool,
    /// Trace every `DATAPATH<TAB>MICROFLOW[<TAB>--opt=value]...` line of FILE (`-`:
    /// stdin), one JSON object per output line.
    #[arg(long, value_name = "FILE")]
    batch: Option<String>,
    /// How long to wait for the Southbound contents.
    #[arg(long, default_value = "30")]
    timeout_secs: u64,
    /// Logical switch or router name (or SB uuid prefix).
    datapath: Option<String>,
    /// Microflow in ovn-trace syntax.
    microflow: Option<String>,
}

/// Per-trace options.
#[derive(Clone, Debug, Default)]
pub struct TraceOpts {
    pub ct: Vec<u8>,
    pub lb_dst: Option<(IpAddr, Option<u16>)>,
    pub select_id: Option<u16>,
}

pub fn run(args: Args) -> Result<()> {
    let mut opts = TraceOpts::default();
    for c in &args.ct {
        opts.ct.push(parse_ct(c)?);
    }
    if let Some(l) = &args.lb_dst {
        opts.lb_dst = Some(parse_lb_dst(l)?);
    }
    opts.select_id = args.select_id;
    let single = match (&args.batch, &args.datapath, &args.microflow) {
        (Some(_), None, None) => None,
        (None, Some(d), Some(m)) => Some((d.clone(), m.clone())),
        (None, Some(m), None) => bail!(
            "give DATAPATH and MICROFLOW (finding the datapath from the inport \
             is not supported): {m}"
        ),
        (Some(_), _, _) => bail!("--batch takes no DATAPATH/MICROFLOW arguments"),
        _ => bail!("give DATAPATH and MICROFLOW, or --batch FILE"),
    };
    let sb = load::read_sb(&args.db, Duration::from_secs(args.timeout_secs))?;
    let model = load::snapshot_to_model(&sb);
    let compiled = compile(&model, Arc::new(Symtab::ovn()));
    for r in &compiled.rejected {
        log::debug!(
            "flow not compiled: {} {:?} table {} priority {}: {}",
            r.datapath,
            r.pipeline,
            r.table,
            r.priority,
            r.reason
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some((dp, mf)) = single {
        let rep = trace(&compiled, &dp, &mf, &opts);
        if args.json {
            writeln!(out, "{}", rep.to_json())?;
        } else {
            write!(out, "{}", rep.to_text())?;
        }
        if !rep.errors.is_empty() {
            bail!("{}", rep.errors.join("; "));
        }
        return Ok(());
    }
    let path = args.batch.unwrap_or_default();
    let input: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&path).with_context(|| format!("opening {path}"))?,
        ))
    };
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading {path}"))?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let rep = match batch_line(&line, &opts) {
            Ok((dp, mf, o)) => trace(&compiled, &dp, &mf, &o),
            Err(e) => TraceReport {
                errors: vec![format!("line {}: {e:#}", n + 1)],
                ..TraceReport::default()
            },
        };
        writeln!(out, "{}", rep.to_json())?;
    }
    Ok(())
}

fn batch_line(line: &str, base: &TraceOpts) -> Result<(String, String, TraceOpts)> {
    let mut it = line.split('\t');
    let dp = it.next().unwrap_or_default().to_string();
    let mf = it.next().context("expected DATAPATH<TAB>MICROFLOW")?.to_string();
    let mut o = base.clone();
    let mut ct_given = false;
    for opt in it {
        if let Some(v) = opt.strip_prefix("--ct=") {
            if !ct_given {
                o.ct.clear();
                ct_given = true;
            }
            o.ct.push(parse_ct(v)?);
        } else if let Some(v) = opt.strip_prefix("--lb-dst=") {
            o.lb_dst = Some(parse_lb_dst(v)?);
        } else if let Some(v) = opt.strip_prefix("--select-id=") {
            o.select_id = Some(v.parse().with_context(|| format!("bad select id {v}"))?);
        } else if !opt.is_empty() {
            bail!("unknown option {opt:?}");
        }
    }
    Ok((dp, mf, o))
}

/// `new`, `est,trk`, `+trk+est`, `est|trk`: ct_state bits, with `trk` implied.
pub fn parse_ct(s: &str) -> Result<u8> {
    let mut v = ct_state::TRK;
    for w in s.split([',', '|', '+', ' ']).filter(|w| !w.is_empty()) {
        v |= match w {
            "new" => ct_state::NEW,
            "est" => ct_state::EST,
            "rel" => ct_state::REL,
            "rpl" => ct_state::RPL,
            "inv" => ct_state::INV,
            "trk" => ct_state::TRK,
            "snat" => ct_state::SNAT,
            "dnat" => ct_state::DNAT,
            _ => bail!("unknown ct_state flag {w:?} in {s:?}"),
        };
    }
    Ok(v)
}

fn ct_name(v: u8) -> String {
    let names = [
        (ct_state::NEW, "new"),
        (ct_state::EST, "est"),
        (ct_state::REL, "rel"),
        (ct_state::RPL, "rpl"),
        (ct_state::INV, "inv"),
        (ct_state::TRK, "trk"),
        (ct_state::SNAT, "snat"),
        (ct_state::DNAT, "dnat"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join("|")
}

/// `10.0.0.5`, `10.0.0.5:80`, `[fd00::5]:80`, `fd00::5`.
pub fn parse_lb_dst(s: &str) -> Result<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Ok((sa.ip(), Some(sa.port())));
    }
    bail!("bad --lb-dst {s:?}: expected IP or IP:PORT")
}

/// Traces one microflow. Problems end up in [`TraceReport::errors`].
pub fn trace(c: &Compiled, dp_name: &str, microflow: &str, opts: &TraceOpts) -> TraceReport {
    let mut rep = TraceReport::default();
    let Some(dp) = find_datapath(c, dp_name) else {
        rep.errors.push(format!("unknown datapath \"{dp_name}\""));
        return rep;
    };
    let key = dp.key;
    let m = match parse_microflow(microflow, &c.symtab, &|p| c.port_key(key, p)) {
        Ok(m) => m,
        Err(e) => {
            rep.errors.push(format!("error parsing flow: {e}"));
            return rep;
        }
    };
    let mut flow = m.flow;
    flow.set(field::DATAPATH, u64::from(key));
    rep.microflow = microflow.to_string();
    let mut d = Driver {
        c,
        opts,
        ct_idx: 0,
        runs: 0,
        rep,
        last_dp: dp.name.clone(),
    };
    d.run(flow, 0);
    d.rep
}

fn find_datapath<'c>(c: &'c Compiled, name: &str) -> Option<&'c CompiledDatapath> {
    if let Some(d) = c.datapaths.iter().find(|d| d.name == name) {
        return Some(d);
    }
    let mut it = c
        .datapaths
        .iter()
        .filter(|d| name.len() >= 4 && d.uuid.starts_with(name));
    match (it.next(), it.next()) {
        (Some(d), None) => Some(d),
        _ => None,
    }
}

/// Bound on executor runs per trace (recirculations, controller resumes).
const MAX_RUNS: u32 = 256;
/// Bound on nesting of clones, generated packets and recirculations.
const MAX_NEST: usize = 64;

struct Driver<'c, 'o> {
    c: &'c Compiled,
    opts: &'o TraceOpts,
    ct_idx: usize,
    runs: u32,
    rep: TraceReport,
    last_dp: String,
}

impl Driver<'_, '_> {
    fn note(&mut self, depth: usize, text: String) {
        self.rep.lines.push(Line::Note(Note { depth, text }));
    }

    fn next_ct(&mut self) -> (u8, &'static str) {
        match self.opts.ct.get(self.ct_idx) {
            Some(&v) => {
                self.ct_idx += 1;
                (v, "")
            }
            None => (
                ct_state::EST | ct_state::TRK,
                " /* default (use --ct to customize) */",
            ),
        }
    }

    /// Runs the executor on `flow` and follows its actions.
    fn run(&mut self, flow: Flow, depth: usize) {
        self.runs += 1;
        if self.runs > MAX_RUNS || depth > MAX_NEST {
            self.rep.drops.push(Drop {
                reason: "TooManyRecirculations".into(),
                datapath: self.last_dp.clone(),
            });
            return;
        }
        let mut res = ExecResult::default();
        let mut steps = Vec::new();
        {
            let mut hook = |ev: &TraceEvent<'_>| {
                steps.push(Step {
                    depth,
                    datapath: ev.datapath.name.clone(),
                    pipeline: ev.pipeline,
                    table: ev.table,
                    stage: ev.hit.map(|(_, f)| f.stage.clone()).unwrap_or_default(),
                    hit: ev.hit.map(|(p, f)| Hit {
                        priority: p,
                        match_: f.match_.clone(),
                        actions: f.actions.clone(),
                        uuid: f.uuid.clone(),
                    }),
                });
            };
            execute(self.c, &flow, &mut res, Some(&mut hook));
        }
        if let Some(s) = steps.last() {
            self.last_dp = s.datapath.clone();
        }
        self.rep.lines.extend(steps.into_iter().map(Line::Step));
        self.walk(&res.actions, flow, depth);
    }

    fn port_name(&self, dp_key: u32, port_key: u32) -> String {
        self.c
            .ports
            .get(&(dp_key, port_key))
            .map_or_else(|| format!("(port {port_key})"), |p| p.name.clone())
    }

    fn walk(&mut self, acts: &[DpAction], mut f: Flow, depth: usize) {
        for a in acts {
            match a {
                DpAction::Set { .. } => DpAction::apply_sets(std::slice::from_ref(a), &mut f),
                DpAction::Output {
                    dp_key, port_key, ..
                } => {
                    let port = self.port_name(*dp_key, *port_key);
                    self.note(depth, format!("output(\"{port}\");"));
                    self.rep.outputs.push(Output { port, packet: f });
                }
                DpAction::Tunnel {
                    chassis,
                    dp_key,
                    out_port_key,
                    ..
                } => {
                    let port = self.port_name(*dp_key, *out_port_key);
                    self.note(depth, format!("output(\"{port}\"); /* tunnel to {chassis} */"));
                    self.rep.outputs.push(Output { port, packet: f });
                }
                DpAction::Ct {
                    nat, recirc_id, ..
                } => {
                    let Some(id) = recirc_id else {
                        self.note(depth, "ct_commit;".into());
                        continue;
                    };
                    let (g, text) = self.conntrack(&f, nat.as_ref());
                    self.note(depth, text);
                    let mut g = g;
                    g.set(field::RECIRC_ID, u64::from(*id));
                    self.run(g, depth + 1);
                    return;
                }
                DpAction::CtClear => {
                    f.set(field::CT_STATE, 0);
                    f.set(field::CT_ZONE, 0);
                    f.set(field::CT_MARK, 0);
                    f.set128(field::CT_LABEL, 0);
                }
                DpAction::Clone(v) => {
                    self.note(depth, "clone {".into());
                    self.walk(v, f, depth + 1);
                    self.note(depth, "};".into());
                }
                DpAction::Generate { kind, actions } => {
                    let g = generated_flow(*kind, &f, &mut Mask::default());
                    self.note(depth, format!("{kind:?} {{"));
                    self.walk(actions, g, depth + 1);
                    self.note(depth, "};".into());
                }
                DpAction::Controller { op, resume } => {
                    self.note(depth, format!("controller({op:?});"));
                    if let Some(r) = resume {
                        let mut g = f;
                        g.set(field::RECIRC_ID, u64::from(*r));
                        self.run(g, depth + 1);
                        return;
                    }
                }
                DpAction::Drop(r) => {
                    self.rep.drops.push(Drop {
                        reason: format!("{r:?}"),
                        datapath: self.last_dp.clone(),
                    });
                }
            }
        }
    }

    /// The flow after a conntrack pass, and its description, as `ovn-trace` does it.
    fn conntrack(&mut self, f: &Flow, nat: Option<&Nat>) -> (Flow, String) {
        let mut g = *f;
        let st = |g: &Flow| g.get(field::CT_STATE) as u8;
        let set_ip = |g: &mut Flow, ip: &IpAddr, dst: bool| match (ip, dst) {
            (IpAddr::V4(a), true) => g.set(field::IP4_DST, u64::from(u32::from(*a))),
            (IpAddr::V4(a), false) => g.set(field::IP4_SRC, u64::from(u32::from(*a))),
            (IpAddr::V6(a), true) => g.set128(field::IP6_DST, u128::from(*a)),
            (IpAddr::V6(a), false) => g.set128(field::IP6_SRC, u128::from(*a)),
        };
        let text = match nat {
            None => {
                let (s, c) = self.next_ct();
                g.set(field::CT_STATE, u64::from(s));
                format!("ct_next(ct_state={}{c})", ct_name(s))
            }
            Some(Nat::Existing) => {
                let mut c = "";
                if st(&g) & ct_state::TRK == 0 {
                    let (s, cc) = self.next_ct();
                    c = cc;
                    g.set(field::CT_STATE, u64::from(st(&g) | s));
                }
                format!("ct_nat /* assuming no un-nat entry, so no change */{c}")
            }
            Some(Nat::Dnat { ip, .. }) | Some(Nat::Snat { ip, .. }) => {
                let dst = matches!(nat, Some(Nat::Dnat { .. }));
                set_ip(&mut g, ip, dst);
                let bit = if dst { ct_state::DNAT } else { ct_state::SNAT };
                g.set(field::CT_STATE, u64::from(st(&g) | bit));
                if st(&g) & ct_state::TRK == 0 {
                    let (s, _) = self.next_ct();
                    g.set(field::CT_STATE, u64::from(st(&g) | s));
                }
                format!("ct_{}nat({ip})", if dst { 'd' } else { 's' })
            }
            Some(Nat::Lb { backends, .. }) => {
                let v6 = f.get(field::ETH_TYPE) == 0x86dd;
                let fam: Vec<&(IpAddr, u16)> =
                    backends.iter().filter(|(ip, _)| ip.is_ipv6() == v6).collect();
                let pick = self
                    .opts
                    .lb_dst
                    .and_then(|(ip, _)| fam.iter().find(|(b, _)| *b == ip).copied())
                    .or_else(|| fam.first().copied());
                let mut text = String::from("ct_lb_mark");
                if let Some((ip, port)) = pick {
                    set_ip(&mut g, ip, true);
                    if *port != 0 {
                        g.set(field::TP_DST, u64::from(*port));
                    }
                    g.set(field::CT_STATE, u64::from(st(&g) | ct_state::DNAT));
                    text = format!("ct_lb_mark(backend={ip}:{port})");
                }
                let (s, c) = self.next_ct();
                g.set(field::CT_STATE, u64::from(st(&g) | s));
                text + c
            }
        };
        (g, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_flags_parse_like_ovn_trace() {
        assert_eq!(parse_ct("new").unwrap(), ct_state::NEW | ct_state::TRK);
        assert_eq!(
            parse_ct("est,rpl").unwrap(),
            ct_state::EST | ct_state::RPL | ct_state::TRK
        );
        assert_eq!(
            parse_ct("+trk+est").unwrap(),
            ct_state::EST | ct_state::TRK
        );
        assert!(parse_ct("bogus").is_err());
        assert_eq!(ct_name(ct_state::EST | ct_state::TRK), "est|trk");
    }

    #[test]
    fn lb_dst_and_batch_lines() {
        assert_eq!(
            parse_lb_dst("10.0.0.5:80").unwrap(),
            ("10.0.0.5".parse().unwrap(), Some(80))
        );
        assert_eq!(
            parse_lb_dst("fd00::5").unwrap(),
            ("fd00::5".parse().unwrap(), None)
        );
        assert!(parse_lb_dst("nope").is_err());
        let base = TraceOpts::default();
        let (dp, mf, o) =
            batch_line("sw0\tinport == \"a\"\t--ct=new\t--ct=est\t--lb-dst=10.0.0.5", &base)
                .unwrap();
        assert_eq!((dp.as_str(), mf.as_str()), ("sw0", "inport == \"a\""));
        assert_eq!(o.ct.len(), 2);
        assert!(o.lb_dst.is_some());
        assert!(batch_line("sw0", &base).is_err());
        assert!(batch_line("sw0\tx\t--frob=1", &base).is_err());
    }
}
