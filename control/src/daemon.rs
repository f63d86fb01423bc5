//! The control loop of `southpaw run`: one thread, two [`Session`]s (the local Open_vSwitch
//! DB and the Southbound DB), polled in turn with [`Session::run_once`].
//!
//! Each step:
//! 1. Open_vSwitch: apply updates; do ovs-vswitchd's writes ([`crate::ovs::vswitchd_ops`]:
//!    ofports, link state, errors, `cur_cfg`), read the configuration and local interfaces.
//! 2. Southbound: (re)connect when the remote or chassis name changes; apply updates.
//! 3. When something changed (or every second): register the chassis, claim/release
//!    bindings, recompute local datapaths and monitor conditions (until stable), allocate
//!    ct zones, build an [`SbSnapshot`] and hand it to the [`Dataplane`] if it differs.
//! 4. When the dataplane has adopted the epoch of a snapshot: acknowledge its `nb_cfg` in
//!    Chassis_Private, set `up=true` on the ports it binds to us and
//!    `external_ids:ovn-installed` on their interfaces.
//!
//! Exit: on the stop flag. By default the Chassis rows and bindings stay (a restart picks
//! them up again; ovn-controller's `exit --restart`); with `cleanup_on_exit` the bindings
//! are released and the Chassis/Chassis_Private rows deleted (ovn-controller's `exit`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};

use crate::chassis::{self, BindingAction};
use crate::config::{Config, Overrides};
use crate::dataplane::Dataplane;
use crate::datum::Uuid;
use crate::ops::{Condition, Op};
use crate::ovs::{self, LocalIface, OfportAlloc};
use crate::replica::Changes;
use crate::sb::{self, LocalView};
use crate::session::{Event, Session, SessionConfig};
use crate::snapshot::SbSnapshot;
use crate::writeback::Writeback;
use crate::zones::{nat_zone_name, Zones};

mod adopt;

/// Options of the daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The Open_vSwitch DB remote; `None` runs standalone (everything from `overrides`).
    pub ovs_remote: Option<String>,
    pub overrides: Overrides,
    /// Release bindings and delete our Chassis rows on exit.
    pub cleanup_on_exit: bool,
    /// Where network devices are looked up (`/sys/class/net`).
    pub sys_class_net: PathBuf,
    /// Longest wait per session per step while nothing is waiting for the dataplane.
    pub poll: Duration,
    /// Longest wait per session per step while a published epoch is not yet adopted, so
    /// its `nb_cfg` is acknowledged promptly (`--wait=hv` latency).
    pub ack_poll: Duration,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            ovs_remote: None,
            overrides: Overrides::default(),
            cleanup_on_exit: false,
            sys_class_net: PathBuf::from("/sys/class/net"),
            poll: Duration::from_millis(50),
            ack_poll: Duration::from_millis(1),
        }
    }
}

/// The daemon state.
pub struct Daemon<D: Dataplane> {
    opts: DaemonOptions,
    ovs: Option<Session>,
    sb: Option<Session>,
    cfg: Option<Config>,
    cfg_error: Option<String>,
    ofports: OfportAlloc,
    zones: Option<Zones>,
    dataplane: D,
    /// MAC_Binding/FDB write-back queue (fed by the datapath, later).
    pub writeback: Writeback,
    view: LocalView,
    applied_conditions: BTreeMap<String, Option<Vec<Condition>>>,
    snapshot: Arc<SbSnapshot>,
    changes: Changes,
    /// The SB replica was loaded from scratch since the last snapshot: build the next one
    /// without sharing rows with the previous.
    full_reload: bool,
    /// Published but not yet adopted.
    pending: Vec<(u64, Arc<SbSnapshot>)>,
    adopted: Arc<SbSnapshot>,
    /// Port bindings this chassis should own, as of the last reconcile.
    wanted: BTreeSet<Uuid>,
    dirty: bool,
    last_full: Instant,
    registered: bool,
}

/// How long a session that [`crate::wait::wait_any`] found ready may do I/O in one step
/// (it returns earlier as soon as a whole update has been applied).
const IO_SLICE: Duration = Duration::from_millis(5);

/// How long a recompile waits for the workers to adopt the previous epoch, so that its
/// acknowledgement is not delayed by the recompile (see `Daemon::await_adoption`).
const ADOPTION_GRACE: Duration = Duration::from_millis(20);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn merge_changes(into: &mut Changes, from: Changes) {
    for (t, rows) in from {
        into.entry(t).or_default().extend(rows);
    }
}

/// Runs `ops` on `s` (if any); logs failures with `what`. True on success.
fn transact(s: &mut Session, ops: Vec<Op>, what: &str) -> bool {
    if ops.is_empty() {
        return true;
    }
    match s.transact(ops) {
        Ok(_) => true,
        Err(e) => {
            warn!("{}: {what} failed: {e}", s.config().db);
            false
        }
    }
}

impl<D: Dataplane> Daemon<D> {
    /// A daemon; nothing connects before the first [`Daemon::step`].
    pub fn new(opts: DaemonOptions, dataplane: D) -> crate::Result<Daemon<D>> {
        let ovs = match &opts.ovs_remote {
            Some(r) => Some(Session::new(SessionConfig::new(
                r,
                "Open_vSwitch",
                ovs::monitors(),
            )?)),
            None => None,
        };
        Ok(Daemon {
            opts,
            ovs,
            sb: None,
            cfg: None,
            cfg_error: None,
            ofports: OfportAlloc::new(),
            zones: None,
            dataplane,
            writeback: Writeback::new(100, 10_000),
            view: LocalView::default(),
            applied_conditions: BTreeMap::new(),
            snapshot: Arc::new(SbSnapshot::default()),
            changes: Changes::new(),
            full_reload: true,
            pending: Vec::new(),
            adopted: Arc::new(SbSnapshot::default()),
            wanted: BTreeSet::new(),
            dirty: true,
            last_full: Instant::now(),
            registered: false,
        })
    }

    /// The last snapshot handed to the dataplane.
    pub fn snapshot(&self) -> &Arc<SbSnapshot> {
        &self.snapshot
    }

    /// The dataplane.
    pub fn dataplane(&self) -> &D {
        &self.dataplane
    }

    /// The current configuration, once known.
    pub fn config(&self) -> Option<&Config> {
        self.cfg.as_ref()
    }

    /// Runs until `stop` is set, then exits as configured.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            self.step();
        }
        self.shutdown();
    }

    /// One round of the loop (blocks at most about `opts.poll`, or `opts.ack_poll` while
    /// an epoch awaits adoption).
    pub fn step(&mut self) {
        let tick = self.last_full.elapsed() >= Duration::from_secs(1);
        if tick {
            self.last_full = Instant::now();
        }
        // Wait for whichever DB speaks first, then serve only those that have work (and all
        // on the once-a-second tick, which also drives their inactivity probes).
        let ready =
            crate::wait::wait_any(&[self.ovs.as_ref(), self.sb.as_ref()], self.poll_interval());
        self.step_ovs(tick, ready[0] || tick);
        self.update_config();
        self.step_sb(ready[1] || tick);
        // Acknowledge what the workers adopted since the last step before a recompile can
        // hold this thread (otherwise `--wait=hv` waits for the next compile too).
        let reconciled = self.dirty || tick;
        if reconciled {
            self.await_adoption(ADOPTION_GRACE);
        }
        self.acknowledge(false);
        if reconciled {
            self.dirty = false;
            self.reconcile();
        }
        self.acknowledge(reconciled);
        if !self.writeback.is_empty() {
            self.flush_writeback();
        }
    }

    /// How long each session may block this step: short while an epoch awaits adoption.
    fn poll_interval(&self) -> Duration {
        if self.pending.is_empty() {
            self.opts.poll
        } else {
            self.opts.ack_poll
        }
    }

    fn step_ovs(&mut self, tick: bool, io: bool) {
        let Some(ovs) = &mut self.ovs else {
            return;
        };
        let mut changed = tick;
        let events = if io {
            ovs.run_once(IO_SLICE)
        } else {
            Vec::new()
        };
        for ev in events {
            match ev {
                Event::Connected { remote, .. } => {
                    info!("connected to Open_vSwitch DB at {remote}");
                    changed = true;
                }
                Event::Updated => changed = true,
                Event::ConnectFailed { .. } | Event::Disconnected { .. } => {}
            }
        }
        if !ovs.is_connected() {
            return;
        }
        let ovs_changes = ovs.take_changes();
        if !ovs_changes.is_empty() {
            changed = true;
            self.dirty = true;
        }
        if changed {
            let ops = ovs::vswitchd_ops(ovs.replica(), &mut self.ofports, &self.opts.sys_class_net);
            if !ops.is_empty() {
                debug!("Open_vSwitch: {} interface/cur_cfg updates", ops.len());
                transact(ovs, ops, "interface state update");
            }
        }
    }

    fn update_config(&mut self) {
        let cfg = match &self.ovs {
            Some(o) if !o.is_connected() && o.replica().len("Open_vSwitch") == 0 => return,
            Some(o) => Config::from_ovs(o.replica(), &self.opts.overrides),
            None => Config::from_external_ids(&BTreeMap::new(), &self.opts.overrides),
        };
        match cfg {
            Err(e) => {
                if self.cfg_error.as_ref() != Some(&e) {
                    warn!("configuration incomplete: {e}");
                    self.cfg_error = Some(e);
                }
            }
            Ok(c) => {
                self.cfg_error = None;
                if self.cfg.as_ref() == Some(&c) {
                    return;
                }
                let restart = self.cfg.as_ref().is_none_or(|o| {
                    o.sb_remote != c.sb_remote
                        || o.system_id != c.system_id
                        || o.monitor_all != c.monitor_all
                });
                info!(
                    "configuration: chassis {}, SB {}, bridge {}, encaps {:?}",
                    c.system_id, c.sb_remote, c.bridge, c.encaps
                );
                if restart {
                    match SessionConfig::new(
                        &c.sb_remote,
                        "OVN_Southbound",
                        sb::monitors(&c.system_id, c.monitor_all),
                    ) {
                        Ok(sc) => {
                            self.sb = Some(Session::new(sc));
                            self.view = LocalView::empty(&c.system_id);
                            self.applied_conditions.clear();
                            self.registered = false;
                        }
                        Err(e) => {
                            warn!("ovn-remote {:?}: {e}", c.sb_remote);
                            self.sb = None;
                        }
                    }
                }
                self.cfg = Some(c);
                self.dirty = true;
            }
        }
    }

    fn step_sb(&mut self, io: bool) {
        let Some(sbs) = &mut self.sb else {
            return;
        };
        let events = if io {
            sbs.run_once(IO_SLICE)
        } else {
            Vec::new()
        };
        for ev in events {
            match ev {
                Event::Connected {
                    remote, resumed, ..
                } => {
                    info!(
                        "connected to Southbound DB at {remote} ({})",
                        if resumed { "resumed" } else { "full load" }
                    );
                    self.full_reload |= !resumed;
                    self.dirty = true;
                }
                Event::Updated => self.dirty = true,
                Event::Disconnected { remote, reason } => {
                    warn!("Southbound DB at {remote} lost ({reason}); forwarding keeps the last pipeline");
                }
                Event::ConnectFailed { .. } => {}
            }
        }
        merge_changes(&mut self.changes, sbs.take_changes());
    }

    /// Local interfaces: the integration bridge's (from the OVS DB) and `--iface`.
    fn local_ifaces(&self, cfg: &Config) -> Vec<LocalIface> {
        let mut v = match &self.ovs {
            Some(o) => ovs::local_ifaces(o.replica(), &cfg.bridge),
            None => Vec::new(),
        };
        for (dev, lport) in &self.opts.overrides.ifaces {
            v.push(LocalIface {
                name: dev.clone(),
                lport: lport.clone(),
                uuid: None,
                ofport: None,
                installed: false,
                encap_ip: None,
            });
        }
        v
    }

    fn reconcile(&mut self) {
        let (Some(cfg), Some(sbs)) = (self.cfg.clone(), self.sb.as_mut()) else {
            return;
        };
        if !sbs.is_connected() {
            return;
        }
        let name = cfg.system_id.clone();
        let ops = chassis::chassis_ops(sbs.replica(), &cfg);
        if !ops.is_empty() && transact(sbs, ops, "chassis registration") && !self.registered {
            info!("chassis {name} registered");
        }
        let Some(ch) = chassis::chassis_uuid(sbs.replica(), &name) else {
            return;
        };
        self.registered = true;
        let ifaces = self.local_ifaces(&cfg);
        let lports: BTreeSet<String> = ifaces.iter().map(|i| i.lport.clone()).collect();
        let Some(sbs) = self.sb.as_mut() else {
            return;
        };
        let actions = chassis::binding_actions(sbs.replica(), ch, &name, &lports);
        self.wanted = sbs
            .replica()
            .rows("Port_Binding")
            .filter(|(_, pb)| chassis::should_claim(sbs.replica(), pb, ch, &name, &lports))
            .map(|(u, _)| *u)
            .collect();
        if !actions.is_empty()
            && transact(sbs, chassis::binding_ops(&actions, ch), "binding update")
        {
            for a in &actions {
                match a {
                    BindingAction::Claim { lport, .. } => info!("port {lport} bound to {name}"),
                    BindingAction::Release { lport, .. } => info!("port {lport} released"),
                }
            }
        }
        let encap_ips: BTreeMap<String, String> = ifaces
            .iter()
            .filter_map(|i| Some((i.lport.clone(), i.encap_ip.clone()?)))
            .collect();
        if !encap_ips.is_empty() {
            let ops = chassis::encap_ops(sbs.replica(), ch, &encap_ips);
            transact(sbs, ops, "port encap update");
        }
        // Conditions depend on the rows they bring: iterate until they stop changing.
        let mut view_changed = false;
        for _ in 0..8 {
            let dps = sb::local_datapaths(sbs.replica(), Some(ch), &name, &lports);
            let view = LocalView {
                chassis_name: name.clone(),
                chassis: Some(ch),
                lports: lports.clone(),
                dp_groups: sb::local_dp_groups(sbs.replica(), &dps),
                datapaths: dps,
            };
            if view == self.view {
                break;
            }
            self.view = view;
            view_changed = true;
            for (table, conds) in sb::conditions(&self.view, cfg.monitor_all) {
                if self.applied_conditions.get(&table) == Some(&conds) {
                    continue;
                }
                if let Err(e) = sbs.set_conditions(&table, conds.clone()) {
                    warn!("SB: updating the monitor of {table} failed: {e}");
                    continue;
                }
                self.applied_conditions.insert(table, conds);
            }
        }
        merge_changes(&mut self.changes, sbs.take_changes());
        let local_ports: BTreeMap<String, (String, Option<i64>)> = ifaces
            .iter()
            .map(|i| (i.lport.clone(), (i.name.clone(), i.ofport)))
            .collect();
        let sb_changes = std::mem::take(&mut self.changes);
        let prev = self.snapshot.clone();
        let sb_same = sb_changes.is_empty() && !view_changed && prev.chassis == Some(ch);
        let snap = if sb_same {
            // No Southbound row changed since the last snapshot (the common case on the
            // once-a-second tick and on Open_vSwitch updates): skip rebuilding and comparing
            // the whole snapshot; only the local ports and zones can differ.
            let zones = self.update_zones(&cfg, &prev, &lports);
            if local_ports == prev.local_ports && zones == prev.ct_zones {
                return;
            }
            let mut snap = (*prev).clone();
            snap.local_ports = local_ports;
            snap.ct_zones = zones;
            snap
        } else {
            let Some(sbs) = self.sb.as_ref() else {
                return;
            };
            // Share unchanged logical flows with the previous snapshot, unless the replica
            // was reloaded from scratch since (then read everything again).
            let reuse = (!std::mem::take(&mut self.full_reload) && prev.chassis == Some(ch))
                .then_some((&*prev, &sb_changes));
            let mut snap =
                SbSnapshot::build_from(sbs.replica(), &name, Some(ch), &self.view.datapaths, reuse);
            snap.local_ports = local_ports;
            snap.ct_zones = self.update_zones(&cfg, &snap, &lports);
            snap
        };
        if snap == *prev {
            return;
        }
        let changed = snap.changed_since(&prev, &sb_changes);
        let snap = Arc::new(snap);
        let epoch = self.dataplane.apply(snap.clone(), &changed);
        let (flows, dps) = snap.local_flow_counts();
        info!(
            "epoch {epoch}: {flows} logical flows on {dps} local datapaths, nb_cfg {}",
            snap.nb_cfg
        );
        self.pending.push((epoch, snap.clone()));
        self.snapshot = snap;
    }

    /// Writes queued MAC_Binding/FDB entries, within the rate limit.
    pub fn flush_writeback(&mut self) {
        let Some(sbs) = self.sb.as_mut().filter(|s| s.is_connected()) else {
            return;
        };
        let ops = self
            .writeback
            .flush_ops(sbs.replica(), Instant::now(), now_ms());
        transact(sbs, ops, "MAC_Binding/FDB write-back");
    }

    /// Cleans up as configured, after the loop.
    pub fn shutdown(&mut self) {
        let Some(cfg) = self.cfg.clone() else {
            return;
        };
        if !self.opts.cleanup_on_exit {
            info!(
                "exiting; chassis {} and its bindings stay registered",
                cfg.system_id
            );
            return;
        }
        if let Some(sbs) = self.sb.as_mut().filter(|s| s.is_connected()) {
            let ops = chassis::cleanup_ops(sbs.replica(), &cfg.system_id);
            if transact(sbs, ops, "chassis cleanup") {
                info!("chassis {} removed, bindings released", cfg.system_id);
            }
        }
    }

    /// The uuid of our chassis, once registered.
    pub fn chassis_uuid(&self) -> Option<Uuid> {
        let cfg = self.cfg.as_ref()?;
        chassis::chassis_uuid(self.sb.as_ref()?.replica(), &cfg.system_id)
    }
}
