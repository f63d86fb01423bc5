//! The local Open_vSwitch database: what southpaw reads from it and what it writes back in
//! place of ovs-vswitchd and ovn-controller.
//!
//! Read: the `Open_vSwitch` row (configuration, see [`crate::config`]), and the
//! Bridge/Port/Interface rows; interfaces of the integration bridge with
//! `external_ids:iface-id` are the local logical ports ([`local_ifaces`]).
//!
//! Written, as ovs-vswitchd would ([`vswitchd_ops`]): every Interface's `ofport` (stable:
//! `ofport_request` if set, else the number it already had, else the lowest free; the
//! bridge's own internal port is 65534), `link_state`/`admin_state`/`ifindex`/`mac_in_use`
//! from `/sys/class/net/DEV`, `error` when the device does not exist (then `ofport` is -1),
//! and finally `Open_vSwitch.cur_cfg = next_cfg`, which is what `ovs-vsctl` (without
//! `--no-wait`) waits for. As ovn-controller would: `external_ids:ovn-installed` on
//! interfaces whose port forwards, and the `ct-zone-*` keys of the integration bridge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::client::MonitorRequest;
use crate::datum::{Datum, Uuid};
use crate::ops::{Condition, Mutation, Op};
use crate::replica::Replica;
use crate::row::Row;

/// OpenFlow port number of a bridge's own internal port (`OFPP_LOCAL`).
pub const OFPP_LOCAL: i64 = 65534;
/// Largest ordinary OpenFlow port number.
pub const OFPP_MAX: i64 = 65279;

/// The Open_vSwitch tables and columns southpaw monitors.
pub fn monitors() -> Vec<MonitorRequest> {
    vec![
        MonitorRequest::new("Open_vSwitch").columns(&[
            "external_ids",
            "next_cfg",
            "cur_cfg",
            "bridges",
        ]),
        MonitorRequest::new("Bridge").columns(&["name", "ports", "external_ids", "datapath_type"]),
        MonitorRequest::new("Port").columns(&["name", "interfaces"]),
        MonitorRequest::new("Interface").columns(&[
            "name",
            "type",
            "external_ids",
            "ofport",
            "ofport_request",
            "error",
            "link_state",
            "admin_state",
            "ifindex",
            "mac_in_use",
        ]),
    ]
}

/// A local interface bound to a logical port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalIface {
    /// Network device name.
    pub name: String,
    /// Logical port (`external_ids:iface-id`).
    pub lport: String,
    /// Interface row, when it comes from the database (not `--iface`).
    pub uuid: Option<Uuid>,
    pub ofport: Option<i64>,
    /// `external_ids:ovn-installed` is "true".
    pub installed: bool,
    /// `external_ids:encap-ip`: the tunnel endpoint this port uses, when the chassis has
    /// several.
    pub encap_ip: Option<String>,
}

/// The `_uuid` and row of the bridge named `name`.
pub fn bridge<'a>(ovs: &'a Replica, name: &str) -> Option<(Uuid, &'a Row)> {
    ovs.rows("Bridge")
        .find(|(_, r)| r.get_str("name").ok() == Some(name))
        .map(|(u, r)| (*u, r))
}

/// Interface uuids of a bridge.
fn bridge_ifaces(ovs: &Replica, br: &Row) -> Vec<Uuid> {
    let mut v = Vec::new();
    for p in br.get_uuid_set("ports").unwrap_or_default() {
        if let Some(port) = ovs.row("Port", &p) {
            v.extend(port.get_uuid_set("interfaces").unwrap_or_default());
        }
    }
    v
}

/// Interfaces of `bridge` with an `iface-id`, sorted by logical port.
pub fn local_ifaces(ovs: &Replica, bridge_name: &str) -> Vec<LocalIface> {
    let Some((_, br)) = bridge(ovs, bridge_name) else {
        return Vec::new();
    };
    let mut v: Vec<LocalIface> = bridge_ifaces(ovs, br)
        .into_iter()
        .filter_map(|u| {
            let r = ovs.row("Interface", &u)?;
            let ids = r.get_str_map("external_ids").ok()?;
            let lport = ids.get("iface-id").filter(|s| !s.is_empty())?;
            Some(LocalIface {
                name: r.get_str("name").ok()?.to_string(),
                lport: lport.to_string(),
                uuid: Some(u),
                ofport: r.get_opt_int("ofport").ok().flatten(),
                installed: ids.get("ovn-installed") == Some(&"true"),
                encap_ip: ids.get("encap-ip").map(|s| s.to_string()),
            })
        })
        .collect();
    v.sort_by(|a, b| a.lport.cmp(&b.lport).then(a.name.cmp(&b.name)));
    v
}

/// What `/sys/class/net/<dev>` says about a network device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetdevState {
    pub exists: bool,
    /// "up" or "down".
    pub link_state: &'static str,
    pub admin_state: &'static str,
    pub ifindex: Option<i64>,
    pub mac: Option<String>,
}

/// Reads the device's state from `sysfs` (`root` is normally `/sys/class/net`).
pub fn netdev_state(root: &Path, dev: &str) -> NetdevState {
    // A name with a slash or dots could escape the directory: such a device cannot exist.
    if dev.is_empty() || dev.contains('/') || dev == "." || dev == ".." {
        return NetdevState::default();
    }
    let dir = root.join(dev);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
    let Ok(oper) = read("operstate") else {
        return NetdevState {
            link_state: "down",
            admin_state: "down",
            ..NetdevState::default()
        };
    };
    let flags = read("flags")
        .ok()
        .and_then(|f| i64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    NetdevState {
        exists: true,
        // "unknown" is what tun/tap and some virtual devices report while they carry traffic.
        link_state: if oper == "up" || oper == "unknown" && flags & 1 != 0 {
            "up"
        } else {
            "down"
        },
        admin_state: if flags & 1 != 0 { "up" } else { "down" },
        ifindex: read("ifindex").ok().and_then(|s| s.parse().ok()),
        mac: read("address").ok(),
    }
}

/// OpenFlow port numbers per bridge, kept stable while southpaw runs.
#[derive(Clone, Debug, Default)]
pub struct OfportAlloc {
    /// (bridge, interface name) -> ofport.
    ports: BTreeMap<(String, String), i64>,
}

impl OfportAlloc {
    pub fn new() -> OfportAlloc {
        OfportAlloc::default()
    }

    /// The ofport of interface `iface` on `bridge`: the one it has, `request` if that is
    /// free, `previous` (the database's) if free, else the lowest free number.
    pub fn assign(
        &mut self,
        bridge: &str,
        iface: &str,
        request: Option<i64>,
        previous: Option<i64>,
    ) -> i64 {
        let key = (bridge.to_string(), iface.to_string());
        if iface == bridge {
            self.ports.insert(key, OFPP_LOCAL);
            return OFPP_LOCAL;
        }
        let taken = |p: i64, me: &(String, String), ports: &BTreeMap<_, i64>| {
            ports
                .iter()
                .any(|((b, i), q)| *q == p && b == &me.0 && i != &me.1)
        };
        if let Some(&p) = self.ports.get(&key) {
            if request.is_none_or(|r| r == p) {
                return p;
            }
        }
        for cand in [request, previous].into_iter().flatten() {
            if (1..=OFPP_MAX).contains(&cand) && !taken(cand, &key, &self.ports) {
                self.ports.insert(key, cand);
                return cand;
            }
        }
        let used: BTreeSet<i64> = self
            .ports
            .iter()
            .filter(|((b, i), _)| b == bridge && i != iface)
            .map(|(_, p)| *p)
            .collect();
        let p = (1..=OFPP_MAX).find(|p| !used.contains(p)).unwrap_or(-1);
        self.ports.insert(key, p);
        p
    }

    /// Forgets interfaces not in `present` (bridge, name).
    pub fn retain(&mut self, present: &BTreeSet<(String, String)>) {
        self.ports.retain(|k, _| present.contains(k));
    }
}

/// The Interface column values ovs-vswitchd would write for one interface.
fn iface_row(r: &Row, bridge: &str, alloc: &mut OfportAlloc, sys: &Path) -> Option<Row> {
    let name = r.get_str("name").ok()?;
    let kind = r.get_str("type").unwrap_or("");
    let st = netdev_state(sys, name);
    let internal = kind == "internal" || name == bridge;
    let want_error: Option<String>;
    let want_ofport;
    if st.exists || internal || kind == "patch" {
        want_error = None;
        want_ofport = alloc.assign(
            bridge,
            name,
            r.get_opt_int("ofport_request").ok().flatten(),
            r.get_opt_int("ofport").ok().flatten().filter(|p| *p > 0),
        );
    } else {
        want_error = Some(format!(
            "could not open network device {name} (No such device)"
        ));
        want_ofport = -1;
    }
    let mut row = Row::new();
    let mut changed = false;
    let mut put = |col: &str, want: Datum| {
        if r.get(col) != Some(&want) {
            changed = true;
        }
        row.set(col, want);
    };
    put("ofport", Datum::atom(want_ofport));
    put(
        "error",
        want_error.map_or_else(Datum::empty_set, |e| Datum::atom(e.as_str())),
    );
    put("link_state", Datum::atom(st.link_state));
    put("admin_state", Datum::atom(st.admin_state));
    put(
        "ifindex",
        st.ifindex.map_or_else(Datum::empty_set, Datum::atom),
    );
    put(
        "mac_in_use",
        st.mac
            .map_or_else(Datum::empty_set, |m| Datum::atom(m.as_str())),
    );
    changed.then_some(row)
}

/// Transaction ops that do ovs-vswitchd's part for every bridge's interfaces and then set
/// `cur_cfg = next_cfg`; empty when everything is already up to date.
pub fn vswitchd_ops(ovs: &Replica, alloc: &mut OfportAlloc, sys: &Path) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut present = BTreeSet::new();
    for (_, br) in ovs.rows("Bridge") {
        let Ok(bname) = br.get_str("name") else {
            continue;
        };
        for iu in bridge_ifaces(ovs, br) {
            let Some(r) = ovs.row("Interface", &iu) else {
                continue;
            };
            if let Ok(n) = r.get_str("name") {
                present.insert((bname.to_string(), n.to_string()));
            }
            if let Some(row) = iface_row(r, bname, alloc, sys) {
                ops.push(Op::update("Interface", vec![Condition::uuid(iu)], row));
            }
        }
    }
    alloc.retain(&present);
    if let Some((u, o)) = ovs.rows("Open_vSwitch").next() {
        let next = o.get_int("next_cfg").unwrap_or(0);
        if o.get_int("cur_cfg").unwrap_or(0) != next {
            ops.push(Op::update(
                "Open_vSwitch",
                vec![Condition::uuid(*u)],
                Row::new().with("cur_cfg", next),
            ));
        }
    }
    ops
}

/// Sets or removes `external_ids:ovn-installed="true"` on an Interface.
pub fn set_installed_op(iface: Uuid, installed: bool) -> Op {
    let m = if installed {
        vec![
            Mutation::new("external_ids", "delete", Datum::set(["ovn-installed"])),
            Mutation::new(
                "external_ids",
                "insert",
                Datum::map([("ovn-installed", "true")]),
            ),
        ]
    } else {
        vec![Mutation::new(
            "external_ids",
            "delete",
            Datum::set(["ovn-installed"]),
        )]
    };
    Op::mutate("Interface", vec![Condition::uuid(iface)], m)
}

/// Edits a bridge's `external_ids`: removes `remove` keys, then sets `set`.
pub fn bridge_ids_ops(
    bridge: Uuid,
    set: &BTreeMap<String, String>,
    remove: &BTreeSet<String>,
) -> Vec<Op> {
    let mut del: Vec<&str> = remove.iter().map(String::as_str).collect();
    del.extend(set.keys().map(String::as_str));
    let mut m = Vec::new();
    if !del.is_empty() {
        m.push(Mutation::new("external_ids", "delete", Datum::set(del)));
    }
    if !set.is_empty() {
        m.push(Mutation::new(
            "external_ids",
            "insert",
            Datum::map(set.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ));
    }
    if m.is_empty() {
        return Vec::new();
    }
    vec![Op::mutate("Bridge", vec![Condition::uuid(bridge)], m)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofports_are_stable() {
        let mut a = OfportAlloc::new();
        assert_eq!(a.assign("br", "br", None, None), OFPP_LOCAL);
        assert_eq!(a.assign("br", "p0", None, None), 1);
        assert_eq!(a.assign("br", "p1", None, Some(7)), 7);
        assert_eq!(a.assign("br", "p2", Some(7), None), 2);
        assert_eq!(a.assign("br", "p0", None, None), 1);
        assert_eq!(a.assign("other", "x", None, None), 1);
        a.retain(&[("br".to_string(), "p1".to_string())].into());
        assert_eq!(a.assign("br", "p3", None, None), 1);
    }

    #[test]
    fn missing_netdev() {
        let dir = std::env::temp_dir();
        let st = netdev_state(&dir, "no-such-device-here");
        assert!(!st.exists);
        assert_eq!(st.link_state, "down");
        assert!(!netdev_state(Path::new("/sys/class/net"), "../x").exists);
    }
}
