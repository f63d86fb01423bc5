//! The daemon's write-back side: conntrack zone allocation (persisted in the integration
//! bridge), and what it acknowledges once the dataplane adopted an epoch (`nb_cfg`,
//! Port_Binding `up`, Interface `ovn-installed`).

use super::*;

impl<D: Dataplane> Daemon<D> {
    /// Allocates zones for local ports and local router datapaths; persists them in the
    /// integration bridge (when there is an OVS DB).
    pub(super) fn update_zones(
        &mut self,
        cfg: &Config,
        snap: &SbSnapshot,
        lports: &BTreeSet<String>,
    ) -> BTreeMap<String, u16> {
        let mut needed: BTreeSet<String> = lports.clone();
        for pb in snap.port_bindings.values() {
            let local_dp = snap.datapaths.get(&pb.datapath).is_some_and(|d| d.local);
            if pb.chassis == snap.chassis && pb.chassis.is_some()
                || local_dp && pb.kind == "localnet"
            {
                needed.insert(pb.logical_port.clone());
            }
        }
        for dp in snap.datapaths.values().filter(|d| d.local && d.is_router) {
            needed.insert(nat_zone_name(&dp.uuid.to_string(), "dnat"));
            needed.insert(nat_zone_name(&dp.uuid.to_string(), "snat"));
        }
        let bridge = self
            .ovs
            .as_ref()
            .filter(|o| o.is_connected())
            .and_then(|o| ovs::bridge(o.replica(), &cfg.bridge))
            .map(|(u, r)| {
                let ids: Vec<(String, String)> = r
                    .get_str_map("external_ids")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (u, ids)
            });
        let ids_ref = |ids: &[(String, String)]| -> Vec<(String, String)> { ids.to_vec() };
        let zones = self.zones.get_or_insert_with(|| match &bridge {
            Some((_, ids)) => {
                let z = Zones::load(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if !z.all().is_empty() {
                    info!(
                        "reloaded {} ct zones from bridge {}",
                        z.all().len(),
                        cfg.bridge
                    );
                }
                z
            }
            None => Zones::new(),
        });
        let mut edits = zones.update(&needed);
        if let (Some((bu, ids)), Some(o)) = (&bridge, self.ovs.as_mut()) {
            let ids = ids_ref(ids);
            let fix = zones.reconcile(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            edits.set.extend(fix.set);
            edits.remove.extend(fix.remove);
            edits.remove.retain(|k| !edits.set.contains_key(k));
            transact(
                o,
                ovs::bridge_ids_ops(*bu, &edits.set, &edits.remove),
                "ct zone update",
            );
        }
        zones.all().clone()
    }

    /// Waits (at most `grace`) until the workers adopted every published epoch. Workers
    /// adopt between batches, typically within microseconds; a short wait here lets the
    /// acknowledgement go out before the next compile occupies this thread.
    pub(super) fn await_adoption(&self, grace: Duration) {
        let Some((last, _)) = self.pending.last() else {
            return;
        };
        let deadline = Instant::now() + grace;
        while self.dataplane.adopted() < *last && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Acts on what the dataplane has adopted: nb_cfg, `up`, `ovn-installed`.
    /// `force`: also when no new epoch was adopted (state may have changed under us).
    pub(super) fn acknowledge(&mut self, force: bool) {
        let adopted = self.dataplane.adopted();
        let new = self.pending.iter().rposition(|(e, _)| *e <= adopted);
        if let Some(i) = new {
            self.adopted = self.pending[i].1.clone();
            self.pending.drain(..=i);
        }
        if new.is_some() || force {
            self.write_adopted_state();
        }
    }

    pub(super) fn write_adopted_state(&mut self) {
        let snap = self.adopted.clone();
        let (Some(sbs), Some(ch)) = (self.sb.as_mut(), snap.chassis) else {
            return;
        };
        if !sbs.is_connected() {
            return;
        }
        let mut ops = Vec::new();
        let mut up_ports = BTreeSet::new();
        let wanted = &self.wanted;
        let bound = snap
            .port_bindings
            .values()
            .filter(|p| p.chassis == Some(ch) && wanted.contains(&p.uuid));
        for pb in bound {
            up_ports.insert(pb.logical_port.clone());
            let cur = sbs.replica().row("Port_Binding", &pb.uuid);
            let still_ours = cur.and_then(|r| r.get_opt_uuid("chassis").ok().flatten()) == Some(ch);
            let is_up = cur.and_then(|r| r.get_bool("up").ok()) == Some(true);
            if still_ours && !is_up {
                ops.push(chassis::up_op(pb.uuid, true));
            }
        }
        let private = chassis::chassis_private(sbs.replica(), &snap.chassis_name)
            .map(|(u, r)| (u, r.get_int("nb_cfg").unwrap_or(0)));
        let mut acked = None;
        if let Some((pu, cur)) = private {
            if cur != snap.nb_cfg {
                ops.push(chassis::nb_cfg_op(pu, snap.nb_cfg, now_ms()));
                acked = Some(snap.nb_cfg);
            }
        }
        if transact(sbs, ops, "nb_cfg/up update") {
            if let Some(n) = acked {
                info!("nb_cfg {n} acknowledged");
            }
        }
        let Some(cfg) = self.cfg.clone() else {
            return;
        };
        let ifaces = self.local_ifaces(&cfg);
        let Some(o) = self.ovs.as_mut().filter(|o| o.is_connected()) else {
            return;
        };
        let ops: Vec<Op> = ifaces
            .iter()
            .filter_map(|i| {
                let want = up_ports.contains(&i.lport);
                (i.uuid.is_some() && want != i.installed)
                    .then(|| ovs::set_installed_op(i.uuid.unwrap_or_default(), want))
            })
            .collect();
        transact(o, ops, "ovn-installed update");
    }
}
