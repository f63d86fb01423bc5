//! The trace driver: runs the executor on a microflow and follows its datapath actions the
//! way `ovn-trace` would, simulating conntrack (see the parent module's note), collecting
//! table steps, outputs and drops into a [`TraceReport`].

use std::net::IpAddr;

use pipeline::compile::Compiled;
use pipeline::dpaction::{DpAction, Nat};
use pipeline::exec::{execute_with, generated_flow, ExecOpts, ExecResult, TraceEvent};
use pipeline::flow::{ct_state, field, Flow, Mask};
use pipeline::trace_fmt::{Drop, Hit, Line, Note, Output, Step, TraceReport};

use super::TraceOpts;

pub(super) fn ct_name(v: u8) -> String {
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

/// Bound on executor runs per trace (recirculations, controller resumes).
const MAX_RUNS: u32 = 256;
/// Bound on nesting of clones, generated packets and recirculations.
const MAX_NEST: usize = 64;

pub(super) struct Driver<'c, 'o> {
    c: &'c Compiled,
    opts: &'o TraceOpts,
    ct_idx: usize,
    runs: u32,
    rep: TraceReport,
    last_dp: String,
    /// Whether the last flow hit in the current run has a bare `ct_lb`/`ct_lb_mark` (no
    /// backends): the executor emits it as [`Nat::Existing`] like `ct_dnat;`, but
    /// `ovn-trace` treats it differently (see [`Driver::conntrack`]).
    last_bare_lb: bool,
    /// `--lb-dst` not yet used by a `ct_lb` with backends (`ovn-trace` uses it once).
    lb_dst: Option<(IpAddr, Option<u16>)>,
}

impl<'c, 'o> Driver<'c, 'o> {
    /// A driver for one trace that starts in datapath `dp_name`.
    pub(super) fn new(
        c: &'c Compiled,
        opts: &'o TraceOpts,
        rep: TraceReport,
        dp_name: &str,
    ) -> Self {
        Driver {
            c,
            opts,
            ct_idx: 0,
            runs: 0,
            rep,
            last_dp: dp_name.to_string(),
            last_bare_lb: false,
            lb_dst: opts.lb_dst,
        }
    }

    /// The report so far.
    pub(super) fn into_report(self) -> TraceReport {
        self.rep
    }

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
    pub(super) fn run(&mut self, flow: Flow, depth: usize) {
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
        let mut bare_lb = false;
        let c = self.c;
        {
            let mut hook = |ev: &TraceEvent<'_>| {
                bare_lb = ev.hit.is_some_and(|(_, f)| {
                    f.parsed.iter().any(
                        |a| matches!(a, pipeline::Action::CtLb { backends, .. } if backends.is_empty()),
                    )
                });
                let port = |f| {
                    let key = ev.flow.get(f) as u32;
                    c.ports
                        .get(&(ev.datapath.key, key))
                        .map_or_else(String::new, |p| p.name.clone())
                };
                steps.push(Step {
                    depth,
                    datapath: ev.datapath.name.clone(),
                    pipeline: ev.pipeline,
                    inport: port(field::INPORT),
                    outport: port(field::OUTPORT),
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
            let eo = ExecOpts {
                select_id: self.opts.select_id,
            };
            execute_with(self.c, &flow, &mut res, Some(&mut hook), eo);
        }
        if let Some(s) = steps.last() {
            self.last_dp = s.datapath.clone();
        }
        self.last_bare_lb = bare_lb;
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
                    self.note(
                        depth,
                        format!("output(\"{port}\"); /* tunnel to {chassis} */"),
                    );
                    self.rep.outputs.push(Output { port, packet: f });
                }
                DpAction::Ct { nat, recirc_id, .. } => {
                    let Some(id) = recirc_id else {
                        // Not applied to the packet, as in `ovn-trace` (it only notes the
                        // `ct_snat_to_vip` NAT too).
                        let text = match nat {
                            Some(Nat::Snat { ip, .. }) => format!("ct_commit(nat(src={ip}));"),
                            _ => "ct_commit;".into(),
                        };
                        self.note(depth, text);
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
            Some(Nat::Existing) if self.last_bare_lb => {
                // `ovn-trace`: a bare `ct_lb` uses `--lb-dst` (if of the packet's family)
                // as the existing connection's destination, and always takes the next
                // ct state.
                let v6 = f.get(field::ETH_TYPE) == 0x86dd;
                let mut text = String::from("ct_lb_mark");
                if let Some((ip, port)) = self.lb_dst.filter(|(ip, _)| ip.is_ipv6() == v6) {
                    set_ip(&mut g, &ip, true);
                    if let Some(p) = port.filter(|p| *p != 0) {
                        g.set(field::TP_DST, u64::from(p));
                    }
                    g.set(field::CT_STATE, u64::from(st(&g) | ct_state::DNAT));
                    text = format!("ct_lb_mark(--lb-dst {ip})");
                }
                let (s, c) = self.next_ct();
                g.set(field::CT_STATE, u64::from(st(&g) | s));
                text + c
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
                let fam: Vec<&(IpAddr, u16)> = backends
                    .iter()
                    .filter(|(ip, _)| ip.is_ipv6() == v6)
                    .collect();
                let forced = self
                    .lb_dst
                    .and_then(|(ip, _)| fam.iter().find(|(b, _)| *b == ip).copied());
                if forced.is_some() {
                    self.lb_dst = None;
                }
                let pick = forced.or_else(|| fam.first().copied());
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
    use super::super::*;
    use pipeline::actions::Pipeline;
    use pipeline::model::{Datapath, DpKind, LogicalFlow, Model, PortBinding};

    type Lf<'a> = (u8, u16, &'a str, &'a str);

    /// One switch `sw` with ports `p1` (key 1) and `p2` (key 2), and the given ingress
    /// flows (table, priority, match, actions); egress table 0 outputs.
    fn compiled(flows: &[Lf]) -> Compiled {
        compiled_eg(flows, &[(0, 0, "1", "output;")])
    }

    /// [`compiled`] with the given egress flows.
    fn compiled_eg(flows: &[Lf], egress: &[Lf]) -> Compiled {
        let mut m = Model {
            chassis: load::TRACE_CHASSIS.into(),
            ..Model::default()
        };
        m.datapaths.push(Datapath {
            uuid: "dp-sw".into(),
            tunnel_key: 1,
            name: "sw".into(),
            kind: DpKind::Switch,
        });
        for (name, key) in [("p1", 1), ("p2", 2)] {
            m.ports.push(PortBinding {
                logical_port: name.into(),
                tunnel_key: key,
                datapath: "dp-sw".into(),
                chassis: Some(load::TRACE_CHASSIS.into()),
                ..PortBinding::default()
            });
        }
        let mut add = |pipeline, table_id, priority, m_: &str, a: &str| {
            let n = m.flows.len();
            m.flows.push(LogicalFlow {
                uuid: format!("{n:08}-0000-0000-0000-000000000000"),
                datapath: Some("dp-sw".into()),
                dp_group: None,
                pipeline,
                table_id,
                priority,
                match_: m_.into(),
                actions: a.into(),
                stage: format!("stage{table_id}"),
            });
        };
        for (t, p, mt, a) in flows {
            add(Pipeline::Ingress, *t, *p, mt, a);
        }
        for (t, p, mt, a) in egress {
            add(Pipeline::Egress, *t, *p, mt, a);
        }
        compile(&m, Arc::new(Symtab::ovn()))
    }

    const TCP: &str = "inport == \"p1\" && eth.src == 00:00:00:00:00:01 && \
                       eth.dst == 00:00:00:00:00:02 && ip4.src == 10.0.0.1 && \
                       ip4.dst == 10.0.0.10 && ip.ttl == 64 && tcp.dst == 80";

    #[test]
    fn ct_next_takes_ct_options_then_defaults_to_established() {
        let c = compiled(&[
            (0, 0, "1", "ct_next;"),
            (1, 10, "ct.new", "outport = \"p2\"; output;"),
            (1, 10, "ct.est", "drop;"),
        ]);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(r.outputs.is_empty(), "{}", r.to_text());
        assert_eq!(r.drops.len(), 1, "{}", r.to_text());
        let opts = TraceOpts {
            ct: vec![parse_ct("new").unwrap()],
            ..TraceOpts::default()
        };
        let r = trace(&c, "sw", TCP, &opts);
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        assert_eq!(r.outputs[0].port, "p2");
        assert!(r.to_text().contains("ct_next(ct_state=new|trk)"));
    }

    #[test]
    fn ct_lb_uses_lb_dst_backend() {
        let c = compiled(&[
            (
                0,
                0,
                "1",
                "ct_lb_mark(backends=10.0.0.2:8080,10.0.0.3:8080);",
            ),
            (1, 0, "1", "outport = \"p2\"; output;"),
        ]);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let opts = TraceOpts {
            lb_dst: Some(parse_lb_dst("10.0.0.3:8080").unwrap()),
            ..TraceOpts::default()
        };
        let r = trace(&c, "sw", TCP, &opts);
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        let p = r.outputs[0].packet;
        assert_eq!(p.get(field::IP4_DST), 0x0a00_0003);
        assert_eq!(p.get(field::TP_DST), 8080);
        let j = r.to_json();
        assert!(j.contains("\"ip4.dst\": \"10.0.0.3\""), "{j}");
        // Without --lb-dst: the first backend.
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert_eq!(r.outputs[0].packet.get(field::IP4_DST), 0x0a00_0002);
    }

    #[test]
    fn select_continues_to_the_next_table_with_the_select_id_member() {
        let c = compiled(&[
            (0, 0, "1", "reg8[16..31] = select(1=50, 2=50);"),
            (1, 10, "reg8[16..31] == 2", "outport = \"p2\"; output;"),
            (1, 0, "1", "drop;"),
        ]);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let pick = |id| TraceOpts {
            select_id: Some(id),
            ..TraceOpts::default()
        };
        let r = trace(&c, "sw", TCP, &pick(2));
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        assert_eq!(r.outputs[0].port, "p2");
        let r = trace(&c, "sw", TCP, &pick(1));
        assert!(r.outputs.is_empty(), "{}", r.to_text());
        assert_eq!(r.drops[0].reason, "Explicit", "{}", r.to_text());
        // Not a member: the hash picks one, and the packet still reaches table 1.
        let r = trace(&c, "sw", TCP, &pick(9));
        assert_eq!(r.outputs.len() + r.drops.len(), 1, "{}", r.to_text());
        assert!(!r.to_text().contains("EndOfActions"), "{}", r.to_text());
    }

    #[test]
    fn egress_sees_reg0_to_reg9_cleared_and_flags_kept() {
        let c = compiled_eg(
            &[(
                0,
                0,
                "1",
                "reg0 = 5; reg9 = 7; flags.loopback = 1; outport = \"p2\"; output;",
            )],
            &[
                (0, 20, "reg0 != 0 || reg9 != 0", "drop;"),
                (0, 10, "flags.loopback == 1", "output;"),
                (0, 0, "1", "drop;"),
            ],
        );
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        assert_eq!(r.outputs[0].port, "p2");
    }

    #[test]
    fn chk_lb_hairpin_is_set_when_the_lb_sends_the_packet_back_to_its_source() {
        // As northd: save the VIP in reg1, then ct_lb_mark; later check hairpin.
        let flows = |t0: &str| {
            compiled(&[
                (0, 0, "1", t0),
                (1, 0, "1", "reg0[6] = chk_lb_hairpin(); next;"),
                (
                    2,
                    10,
                    "reg0[6] == 1",
                    "flags.loopback = 1; outport = \"p1\"; output;",
                ),
                (2, 0, "1", "outport = \"p2\"; output;"),
            ])
        };
        let c = flows("reg1 = ip4.dst; reg2[0..15] = tcp.dst; ct_lb_mark(backends=10.0.0.1:80);");
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        assert_eq!(r.outputs[0].port, "p1", "hairpin: {}", r.to_text());
        let c = flows("reg1 = ip4.dst; reg2[0..15] = tcp.dst; ct_lb_mark(backends=10.0.0.2:80);");
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert_eq!(r.outputs[0].port, "p2", "not a hairpin: {}", r.to_text());
    }

    #[test]
    fn ct_snat_to_vip_commits_with_the_saved_vip_as_source() {
        let c = compiled(&[
            (
                0,
                0,
                "1",
                "reg1 = ip4.dst; ct_lb_mark(backends=10.0.0.1:80);",
            ),
            (1, 0, "1", "ct_snat_to_vip; next;"),
            (2, 0, "1", "outport = \"p2\"; output;"),
        ]);
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let r = trace(&c, "sw", TCP, &TraceOpts::default());
        assert_eq!(r.outputs.len(), 1, "{}", r.to_text());
        assert!(
            r.to_text().contains("ct_commit(nat(src=10.0.0.10));"),
            "{}",
            r.to_text()
        );
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let c = compiled(&[(0, 0, "1", "outport = \"p2\"; output;")]);
        let r = trace(&c, "nope", TCP, &TraceOpts::default());
        assert!(r.errors[0].contains("unknown datapath"), "{:?}", r.errors);
        let r = trace(&c, "sw", "tcp.dst == 80", &TraceOpts::default());
        assert!(r.errors[0].contains("ambiguous"), "{:?}", r.errors);
        let r = trace(&c, "", TCP, &TraceOpts::default());
        assert_eq!(r.outputs.len(), 1, "inport's datapath: {:?}", r.errors);
        assert!(r.to_json().contains("\"errors\": []"));
    }
}
