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
//! `select()` takes the `--select-id` member if it is one, else the executor's 5-tuple
//! hash (`ovn-trace` picks at random).
//!
//! Not done: controller actions (`put_dhcp_opts`, `dns_lookup` ...) are shown and the
//! pipeline resumes without their result; Chassis_Template_Var values are not loaded. In
//! the text form, the outputs of one executor run (and the notes about its clones and
//! generated packets) come after all of that run's table steps, not interleaved with
//! them as in `ovn-trace`: the executor reports table visits as it goes but its datapath
//! actions only at the end.

mod driver;
mod load;

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pipeline::compile::{compile, Compiled, CompiledDatapath};
use pipeline::flow::{ct_state, field};
use pipeline::microflow::parse_microflow;
use pipeline::trace_fmt::TraceReport;
use pipeline::Symtab;

use driver::Driver;

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
    /// `select()` member id to take (else: by the executor's 5-tuple hash).
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
    /// Logical switch or router name (or SB uuid prefix); may be left out when the
    /// microflow says `inport == "NAME"`.
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
    // One positional argument is the microflow; the datapath is then the inport's.
    let single = match (&args.batch, &args.datapath, &args.microflow) {
        (Some(_), None, None) => None,
        (None, Some(d), Some(m)) => Some((d.clone(), m.clone())),
        (None, Some(m), None) => Some((String::new(), m.clone())),
        (Some(_), _, _) => bail!("--batch takes no DATAPATH/MICROFLOW arguments"),
        _ => bail!("give [DATAPATH] MICROFLOW, or --batch FILE"),
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
    let mf = it
        .next()
        .context("expected DATAPATH<TAB>MICROFLOW")?
        .to_string();
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
    let found = if dp_name.is_empty() {
        inport_datapath(c, microflow)
    } else {
        find_datapath(c, dp_name)
    };
    let Some(dp) = found else {
        if dp_name.is_empty() {
            rep.errors
                .push("no DATAPATH given and the microflow names no known inport".into());
            return rep;
        }
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
    let mut d = Driver::new(c, opts, rep, &dp.name);
    d.run(flow, 0);
    d.into_report()
}

/// The datapath of the port named by `inport == "NAME"` in `microflow` (as `ovn-trace`
/// finds it when no datapath is given).
fn inport_datapath<'c>(c: &'c Compiled, microflow: &str) -> Option<&'c CompiledDatapath> {
    let e = pipeline::parse_match(microflow, &c.symtab).ok()?;
    let inport = c.symtab.lookup("inport")?;
    let mut stack = vec![&e];
    while let Some(e) = stack.pop() {
        match e {
            pipeline::Expr::And(v) => stack.extend(v.iter()),
            pipeline::Expr::Cmp { field, values, .. } if field.sym == inport => {
                if let Some(pipeline::Value::Str(name)) = values.first() {
                    let (dp, _) = c.ports.iter().find(|(_, p)| p.name == *name)?.0;
                    return c.datapath(*dp);
                }
            }
            _ => {}
        }
    }
    None
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
        assert_eq!(parse_ct("+trk+est").unwrap(), ct_state::EST | ct_state::TRK);
        assert!(parse_ct("bogus").is_err());
        assert_eq!(driver::ct_name(ct_state::EST | ct_state::TRK), "est|trk");
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
        let (dp, mf, o) = batch_line(
            "sw0\tinport == \"a\"\t--ct=new\t--ct=est\t--lb-dst=10.0.0.5",
            &base,
        )
        .unwrap();
        assert_eq!((dp.as_str(), mf.as_str()), ("sw0", "inport == \"a\""));
        assert_eq!(o.ct.len(), 2);
        assert!(o.lb_dst.is_some());
        assert!(batch_line("sw0", &base).is_err());
        assert!(batch_line("sw0\tx\t--frob=1", &base).is_err());
    }
}
