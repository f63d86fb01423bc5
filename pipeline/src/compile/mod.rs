//! The compiler: a [`Model`] (Southbound rows) becomes a [`Compiled`] pipeline: for each
//! logical datapath, pipeline and table, a [`Classifier`] over the flows' matches and a
//! program ([`Op`]s) per flow, plus the port, multicast, MAC binding and zone tables the
//! executor needs.
//!
//! Per flow: expand templates, parse match and actions once (shared by every datapath of a
//! `Logical_DP_Group`), annotate the match, then per datapath resolve names (ports, address
//! sets, port groups, `is_chassis_resident`) and compile to bit-match conjunctions
//! ([`dnf`]) and ops ([`program`]). A flow that fails anywhere is skipped and recorded as
//! a [`Rejection`]; nothing panics on bad input.
//!
//! [`compile_cached`] does the same with a [`CompileCache`] that keeps each flow's parse and
//! per-datapath compile from the previous call, redoing only flows whose text changed or
//! whose looked-up names ([`deps`]) now resolve differently.

mod cache;
mod deps;
pub mod dnf;
mod lb;
mod ports;
pub mod program;
mod tables;

use crate::actions::Pipeline;
use crate::classifier::{ClassifierSet, FastHash};
use crate::lexer::{tokenize, Int, Tok};
use crate::model::{DpKind, Model};
use crate::symtab::Symtab;
use crate::{expand_templates, parse_actions, parse_match};
use dnf::{compile_match, Names, Residual};
use program::{compile_actions, Op};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

pub use cache::{CacheStats, CompileCache};
pub use program::ZoneKind;
pub use tables::Table;
pub(crate) use tables::{Entry, NO_RESIDUAL};

/// A flow that was not compiled, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub uuid: String,
    /// Datapath name (or uuid if it has no name).
    pub datapath: String,
    pub pipeline: Pipeline,
    pub table: u8,
    pub priority: u16,
    pub reason: String,
    /// `match` and `actions` as given.
    pub text: String,
}

/// A logical flow as compiled, for traces and controller actions.
#[derive(Clone, Debug)]
pub struct FlowInfo {
    pub uuid: String,
    pub pipeline: Pipeline,
    pub table: u8,
    pub priority: u16,
    pub match_: String,
    pub actions: String,
    pub stage: String,
    /// The parsed actions (for the controller's paused actions).
    pub parsed: Arc<[crate::Action]>,
}

/// A compiled logical datapath.
pub struct CompiledDatapath {
    pub key: u32,
    pub name: String,
    pub uuid: String,
    pub kind: DpKind,
    /// Ingress tables then egress tables, indexed by table id.
    pub tables: [Vec<Table>; 2],
    /// Per pipeline: the classifiers, one member per table.
    pub(crate) cls: [ClassifierSet<u32>; 2],
    /// Per pipeline: every table's entries (see [`Table`]).
    pub(crate) entries: [Box<[Entry]>; 2],
    /// Router conntrack zones (DNAT, SNAT); switches use per-port zones, and their SNAT
    /// zone (0: none assigned, use the port's) only for `ct_snat_to_vip`.
    pub zones: (u16, u16),
}

/// How the executor treats a port at `output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A VIF (or localport, virtual, external ...) bound here.
    Local,
    /// Bound on another chassis.
    Remote { chassis: String },
    /// A VIF bound nowhere: output is dropped.
    Unbound,
    /// Patch: continue in the peer datapath.
    Patch { peer_dp: u32, peer_key: u32 },
    /// Localnet: physical network, optional VLAN.
    Localnet { vlan: Option<u16> },
    /// Chassis-redirect: to `distributed` (the real router port) where resident.
    ChassisRedirect {
        distributed: u32,
        chassis: Option<String>,
    },
}

/// A port as the executor sees it.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub name: String,
    pub kind: PortKind,
    pub zone: u16,
    /// Port security entries: (MAC, IPv4 addresses (with prefix masks)).
    pub port_security: Vec<(u64, Vec<(u32, u32)>)>,
}

/// The compiled pipeline: immutable, shared by workers.
pub struct Compiled {
    pub datapaths: Vec<CompiledDatapath>,
    pub(crate) dp_by_key: HashMap<u32, u32, FastHash>,
    pub flows: Vec<FlowInfo>,
    pub rejected: Vec<Rejection>,
    /// (datapath key, port key) → port.
    pub ports: HashMap<(u32, u32), PortInfo, FastHash>,
    /// (datapath key, group key) → member port keys.
    pub mcast: HashMap<(u32, u32), Vec<u32>, FastHash>,
    /// (datapath key, port key, IP) → MAC.
    pub mac_bindings: HashMap<(u32, u32, u128), u64, FastHash>,
    pub symtab: Arc<Symtab>,
    /// The local chassis name.
    pub chassis: String,
    /// Every flow's program; entries refer to ranges (see `tables.rs`).
    pub(crate) ops: Box<[Op]>,
    /// Residual conditions of entries (see [`dnf`]).
    pub(crate) residuals: Box<[Residual]>,
    /// Keys for which `chk_lb_hairpin_reply()` is 1 (see [`LbReplyKey`]).
    pub(crate) lb_reply: HashSet<LbReplyKey>,
}

/// (datapath key, IPv6?, `ip.dst` = hairpin SNAT address, `ip.proto`, `ip.src` = backend,
/// `tp.src` = backend port or 0 for a port-less VIP). IPv4 addresses in the low 32 bits.
pub(crate) type LbReplyKey = (u32, bool, u128, u8, u128, u16);

impl Compiled {
    /// The datapath with tunnel key `key`.
    pub fn datapath(&self, key: u32) -> Option<&CompiledDatapath> {
        self.dp_by_key
            .get(&key)
            .and_then(|&i| self.datapaths.get(i as usize))
    }
    /// Total logical flows compiled (a group flow counts once per datapath).
    pub fn n_flows(&self) -> usize {
        self.datapaths
            .iter()
            .flat_map(|d| d.tables.iter().flatten())
            .map(|t| t.n_flows())
            .sum()
    }
    /// Key of port `name` on datapath `dp_key` (ports and multicast groups are not indexed
    /// by name for the hot path; this is for tools and tests).
    pub fn port_key(&self, dp_key: u32, name: &str) -> Option<u32> {
        self.ports
            .iter()
            .find(|((d, _), p)| *d == dp_key && p.name == name)
            .map(|((_, k), _)| *k)
    }
}

/// Parses "MAC" text (`aa:bb:cc:dd:ee:ff`).
pub fn parse_mac(s: &str) -> Option<u64> {
    let mut v = 0u64;
    let mut n = 0;
    for p in s.split(':') {
        v = v << 8 | u64::from(u8::from_str_radix(p, 16).ok()?);
        n += 1;
    }
    (n == 6).then_some(v)
}

pub(crate) fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Parses one address-set member with the match lexer (so `10.0.0.0/8`, MACs, IPv6 work).
pub(crate) fn parse_addr(s: &str) -> Option<Int> {
    let toks = tokenize(s).ok()?;
    match (toks.first().map(|t| &t.tok), toks.get(1).map(|t| &t.tok)) {
        (Some(Tok::Int(i)), Some(Tok::End)) => Some(*i),
        _ => None,
    }
}

struct Global<'m> {
    /// port name → (datapath uuid, key)
    ports: HashMap<&'m str, (&'m str, u32)>,
    /// (datapath uuid, mc name) → key
    mc: HashMap<(&'m str, &'m str), u32>,
    addr_sets: HashMap<&'m str, Vec<Int>>,
    port_groups: HashMap<&'m str, &'m [String]>,
    resident: HashSet<&'m str>,
}

struct DpNames<'g, 'm> {
    g: &'g Global<'m>,
    dp_uuid: &'m str,
    dp_key: u32,
}

impl Names for DpNames<'_, '_> {
    fn port_key(&self, name: &str) -> Option<u32> {
        if let Some(&(dp, k)) = self.g.ports.get(name) {
            return (dp == self.dp_uuid).then_some(k);
        }
        if let Some(&k) = self.g.mc.get(&(self.dp_uuid, name)) {
            return Some(k);
        }
        // "none" is northd's name for "no port" (key 0), e.g. after `get_fdb`.
        (name == "none").then_some(0)
    }
    fn address_set(&self, name: &str) -> Option<&[Int]> {
        self.g.addr_sets.get(name).map(|v| &v[..])
    }
    fn port_group(&self, name: &str) -> Option<Vec<u32>> {
        let per_dp = format!("{}_{}", self.dp_key, name);
        let members = self
            .g
            .port_groups
            .get(per_dp.as_str())
            .or_else(|| self.g.port_groups.get(name))?;
        Some(members.iter().filter_map(|p| self.port_key(p)).collect())
    }
    fn resident(&self, port: &str) -> bool {
        self.g.resident.contains(port)
    }
}

/// Compiles a whole model. Never fails: problems are [`Compiled::rejected`].
pub fn compile(model: &Model, symtab: Arc<Symtab>) -> Compiled {
    compile_inner(model, symtab, None)
}

/// Like [`compile`], but reuses what `cache` kept from the previous compile of the same
/// chassis: only flows whose text changed, or whose names (ports, address sets, port
/// groups, residency) resolve differently, are parsed and compiled again. The result is
/// the same as [`compile`]'s.
pub fn compile_cached(model: &Model, symtab: Arc<Symtab>, cache: &mut CompileCache) -> Compiled {
    cache.begin(&model.template_vars);
    let c = compile_inner(model, symtab, Some(&mut *cache));
    cache.end();
    c
}

fn compile_inner(
    model: &Model,
    symtab: Arc<Symtab>,
    mut cache: Option<&mut CompileCache>,
) -> Compiled {
    let g = global(model);
    let mut rejected = Vec::new();
    let dp_index: HashMap<&str, usize> = model
        .datapaths
        .iter()
        .enumerate()
        .map(|(i, d)| (d.uuid.as_str(), i))
        .collect();
    let groups: HashMap<&str, &[String]> = model
        .dp_groups
        .iter()
        .map(|g| (g.uuid.as_str(), &g.datapaths[..]))
        .collect();

    // Zones the model does not assign are numbered after the highest assigned one.
    let mut zone_next: u16 = model
        .ct_zones
        .values()
        .max()
        .map_or(1, |m| m.saturating_add(1));
    let mut alloc_zone = |name: &str| {
        if let Some(z) = model.ct_zones.get(name) {
            return *z;
        }
        let z = zone_next;
        zone_next = zone_next.wrapping_add(1).max(1);
        z
    };
    let mut builders = tables::Builders::new(model.datapaths.len());
    let mut act_cache: HashMap<&str, Arc<[crate::Action]>, FastHash> = HashMap::default();
    let mut flows = Vec::with_capacity(model.flows.len());
    let dp_name = |uuid: &str| {
        dp_index
            .get(uuid)
            .map_or(uuid.to_string(), |&i| model.datapaths[i].name.clone())
    };

    for lf in &model.flows {
        let targets: &[String] = match (&lf.datapath, &lf.dp_group) {
            (Some(d), _) => std::slice::from_ref(d),
            (None, Some(gu)) => groups.get(gu.as_str()).copied().unwrap_or(&[]),
            (None, None) => &[],
        };
        let reject = |rejected: &mut Vec<Rejection>, dp: &str, reason: String| {
            rejected.push(Rejection {
                uuid: lf.uuid.clone(),
                datapath: dp_name(dp),
                pipeline: lf.pipeline,
                table: lf.table_id,
                priority: lf.priority,
                reason,
                text: format!("match: {} actions: {}", lf.match_, lf.actions),
            })
        };
        let first = targets.first().map_or("", String::as_str);
        let mut parse = || {
            let m = expand_templates(&lf.match_, &model.template_vars)
                .map_err(|e| format!("match: {e}"))?;
            let a = expand_templates(&lf.actions, &model.template_vars)
                .map_err(|e| format!("actions: {e}"))?;
            let m = parse_match(&m, &symtab).map_err(|e| format!("match: {e}"))?;
            // Many flows share an action text (`next;`, `output;` ...): parse it once.
            let a = match a {
                Cow::Borrowed(text) => match act_cache.get(text) {
                    Some(a) => Arc::clone(a),
                    None => {
                        let a: Arc<[crate::Action]> = parse_actions(text, &symtab)
                            .map_err(|e| format!("actions: {e}"))?
                            .into();
                        act_cache.insert(text, Arc::clone(&a));
                        a
                    }
                },
                Cow::Owned(text) => parse_actions(&text, &symtab)
                    .map_err(|e| format!("actions: {e}"))?
                    .into(),
            };
            Ok::<_, String>((Arc::new(m.annotate(&symtab)), a))
        };
        let parsed = match cache.as_deref_mut() {
            Some(c) => c.parsed(lf, parse),
            None => parse(),
        };
        let (expr, acts) = match parsed {
            Ok(x) => x,
            Err(e) => {
                reject(&mut rejected, first, e);
                continue;
            }
        };
        let fi = flows.len() as u32;
        flows.push(FlowInfo {
            uuid: lf.uuid.clone(),
            pipeline: lf.pipeline,
            table: lf.table_id,
            priority: lf.priority,
            match_: lf.match_.clone(),
            actions: lf.actions.clone(),
            stage: lf.stage.clone(),
            parsed: acts.clone(),
        });
        let pi = usize::from(lf.pipeline == Pipeline::Egress);
        // Without string literals (port names) or port groups, the result does not depend
        // on the datapath: compile once for every member of a group.
        let dp_free =
            targets.len() > 1 && !lf.match_.contains(['"', '@']) && !lf.actions.contains('"');
        let mut shared: Option<(dnf::CompiledMatch, u32)> = None;
        for dp in targets {
            let dp = dp.as_str();
            let Some(&di) = dp_index.get(dp) else {
                reject(&mut rejected, dp, "unknown datapath".into());
                continue;
            };
            let added = if let Some((m, prog)) = &shared {
                builders.add(
                    di,
                    pi,
                    lf.table_id,
                    lf.priority,
                    fi,
                    *prog,
                    &m.conjs,
                    m.residual.clone(),
                )
            } else {
                let names = DpNames {
                    g: &g,
                    dp_uuid: model.datapaths[di].uuid.as_str(),
                    dp_key: model.datapaths[di].tunnel_key,
                };
                let build = |n: &dyn Names| {
                    let m = compile_match(&expr, &symtab, n).map_err(|e| format!("match: {e}"))?;
                    let ctx = program::Ctx {
                        t: &symtab,
                        n,
                        pipeline: lf.pipeline,
                        table: lf.table_id,
                    };
                    let ops = compile_actions(&ctx, &acts).map_err(|e| format!("actions: {e}"))?;
                    Ok((m, ops))
                };
                let built = match cache.as_deref_mut() {
                    Some(c) => c.built(&lf.uuid, if dp_free { "" } else { dp }, &names, build),
                    None => build(&names),
                };
                let (m, prog) = match built {
                    Ok((m, ops)) => (m, builders.program(ops)),
                    Err(e) => {
                        reject(&mut rejected, dp, e);
                        continue;
                    }
                };
                let r = builders.add(
                    di,
                    pi,
                    lf.table_id,
                    lf.priority,
                    fi,
                    prog,
                    &m.conjs,
                    m.residual.clone(),
                );
                if dp_free {
                    shared = Some((m, prog));
                }
                r
            };
            if let Err(e) = added {
                reject(&mut rejected, dp, e.to_string());
            }
        }
    }

    let (pipes, ops, residuals) = builders.finish();
    let mut datapaths = Vec::with_capacity(model.datapaths.len());
    let mut dp_by_key = HashMap::default();
    for (i, (d, p)) in model.datapaths.iter().zip(pipes).enumerate() {
        let zones = if d.kind == DpKind::Router {
            (
                alloc_zone(&format!("{}_dnat", d.uuid)),
                alloc_zone(&format!("{}_snat", d.uuid)),
            )
        } else {
            // ovn-controller gives every local datapath a SNAT zone (ct-zone.c); a
            // switch uses it for `ct_snat_to_vip` / `ct_snat` (numbered below if it has
            // a load balancer and the model assigns none).
            (
                0,
                model
                    .ct_zones
                    .get(&format!("{}_snat", d.uuid))
                    .copied()
                    .unwrap_or(0),
            )
        };
        dp_by_key.insert(d.tunnel_key, i as u32);
        datapaths.push(CompiledDatapath {
            key: d.tunnel_key,
            name: d.name.clone(),
            uuid: d.uuid.clone(),
            kind: d.kind,
            tables: p.tables,
            cls: p.cls,
            entries: p.entries,
            zones,
        });
    }

    let (ports, mcast, mac_bindings) = ports::port_tables(model, &dp_index, &mut alloc_zone);
    // A switch with a load balancer needs its SNAT zone for hairpin (`ct_snat_to_vip`,
    // `ct_snat`): the port's zone already holds the load balancer's DNAT entry. Numbered
    // here, after the ports, when the control thread assigns zones (the daemon) but not
    // this one. Models without zones (`southpaw trace`) keep the port's zone, where
    // `ct_snat_to_vip` is only noted, as `ovn-trace` does.
    let lb_dps = lb::lb_datapaths(model);
    for d in &mut datapaths {
        if d.kind == DpKind::Switch
            && d.zones.1 == 0
            && !model.ct_zones.is_empty()
            && lb_dps.contains(d.uuid.as_str())
        {
            d.zones.1 = alloc_zone(&format!("{}_snat", d.uuid));
        }
    }
    Compiled {
        datapaths,
        dp_by_key,
        flows,
        rejected,
        ports,
        mcast,
        mac_bindings,
        symtab,
        chassis: model.chassis.clone(),
        ops,
        residuals,
        lb_reply: lb::reply_keys(model),
    }
}

fn global(model: &Model) -> Global<'_> {
    let mut ports = HashMap::new();
    let mut resident = HashSet::new();
    for p in &model.ports {
        ports.insert(p.logical_port.as_str(), (p.datapath.as_str(), p.tunnel_key));
        if p.chassis.as_deref() == Some(model.chassis.as_str()) && !model.chassis.is_empty() {
            resident.insert(p.logical_port.as_str());
        }
    }
    let mc = model
        .mcast_groups
        .iter()
        .map(|m| ((m.datapath.as_str(), m.name.as_str()), m.tunnel_key))
        .collect();
    let addr_sets = model
        .address_sets
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.addresses.iter().filter_map(|s| parse_addr(s)).collect(),
            )
        })
        .collect();
    let port_groups = model
        .port_groups
        .iter()
        .map(|p| (p.name.as_str(), &p.ports[..]))
        .collect();
    Global {
        ports,
        mc,
        addr_sets,
        port_groups,
        resident,
    }
}

// Workers share one compiled pipeline behind an `Arc`.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Compiled>();
};
