//! Chassis configuration, read the way ovn-controller reads it: from the `external_ids` of
//! the local `Open_vSwitch` row (`system-id`, `ovn-remote`, `ovn-encap-type`, `ovn-encap-ip`,
//! `ovn-bridge`, `ovn-bridge-mappings`, `ovn-monitor-all`, `hostname`, ...), with command
//! line overrides for running without an Open_vSwitch database.
//!
//! A missing key is an error that names the key and the flag that can stand in for it.

use std::collections::BTreeMap;

use crate::replica::Replica;

/// Default integration bridge.
pub const DEFAULT_BRIDGE: &str = "br-int";

/// Command line values that override (or, standalone, replace) the database's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--sb REMOTE`.
    pub sb_remote: Option<String>,
    /// `--chassis NAME`.
    pub system_id: Option<String>,
    /// `--encap TYPE:IP`.
    pub encap: Option<(String, String)>,
    /// `--iface NETDEV=LPORT`, repeated.
    pub ifaces: Vec<(String, String)>,
    /// `--hostname`.
    pub hostname: Option<String>,
}

/// One tunnel encapsulation this chassis offers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EncapConfig {
    /// `geneve`, `vxlan` or `stt`.
    pub kind: String,
    pub ip: String,
}

/// The chassis configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Chassis name (`system-id`).
    pub system_id: String,
    pub hostname: String,
    /// Southbound remote(s), comma separated (`ovn-remote`).
    pub sb_remote: String,
    pub encaps: Vec<EncapConfig>,
    /// Integration bridge (`ovn-bridge`).
    pub bridge: String,
    /// `ovn-bridge-mappings` as given (`physnet:bridge,...`).
    pub bridge_mappings: String,
    /// `ovn-monitor-all`: monitor every SB row instead of this chassis' share.
    pub monitor_all: bool,
    /// `ovn-cms-options`.
    pub cms_options: String,
    /// `ovn-bridge-datapath-type`.
    pub datapath_type: String,
    /// `ovn-chassis-mac-mappings`.
    pub chassis_mac_mappings: String,
}

/// The system host name (`/proc/sys/kernel/hostname`), or `localhost`.
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn missing(key: &str, flag: &str) -> String {
    format!(
        "Open_vSwitch external_ids:{key} is not set (set it with `ovs-vsctl set Open_vSwitch . \
         external_ids:{key}=...` or pass {flag})"
    )
}

/// Splits `a,b , c` into trimmed non-empty parts.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Config {
    /// From the `external_ids` of the `Open_vSwitch` row (empty when there is no database)
    /// and the overrides.
    pub fn from_external_ids(ids: &BTreeMap<&str, &str>, ov: &Overrides) -> Result<Config, String> {
        let get = |k: &str| ids.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let system_id = match (&ov.system_id, get("system-id")) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => s.to_string(),
            (None, None) => return Err(missing("system-id", "--chassis NAME")),
        };
        let sb_remote = match (&ov.sb_remote, get("ovn-remote")) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => s.trim_matches('"').to_string(),
            (None, None) => return Err(missing("ovn-remote", "--sb REMOTE")),
        };
        let encaps = match &ov.encap {
            Some((kind, ip)) => vec![EncapConfig {
                kind: kind.clone(),
                ip: ip.clone(),
            }],
            None => {
                let types = list(
                    get("ovn-encap-type")
                        .ok_or_else(|| missing("ovn-encap-type", "--encap TYPE:IP"))?,
                );
                let ips = list(
                    get("ovn-encap-ip")
                        .ok_or_else(|| missing("ovn-encap-ip", "--encap TYPE:IP"))?,
                );
                let mut v = Vec::new();
                for kind in &types {
                    if !matches!(kind.as_str(), "geneve" | "vxlan" | "stt") {
                        return Err(format!(
                            "Open_vSwitch external_ids:ovn-encap-type has unknown type {kind:?} \
                             (geneve, vxlan or stt)"
                        ));
                    }
                    for ip in &ips {
                        v.push(EncapConfig {
                            kind: kind.clone(),
                            ip: ip.clone(),
                        });
                    }
                }
                if v.is_empty() {
                    return Err(missing("ovn-encap-type", "--encap TYPE:IP"));
                }
                v
            }
        };
        let hostname = ov
            .hostname
            .clone()
            .or_else(|| get("hostname").map(str::to_string))
            .unwrap_or_else(system_hostname);
        Ok(Config {
            system_id,
            hostname,
            sb_remote,
            encaps,
            bridge: get("ovn-bridge").unwrap_or(DEFAULT_BRIDGE).to_string(),
            bridge_mappings: get("ovn-bridge-mappings").unwrap_or("").to_string(),
            monitor_all: get("ovn-monitor-all") == Some("true"),
            cms_options: get("ovn-cms-options").unwrap_or("").to_string(),
            datapath_type: get("ovn-bridge-datapath-type").unwrap_or("").to_string(),
            chassis_mac_mappings: get("ovn-chassis-mac-mappings").unwrap_or("").to_string(),
        })
    }

    /// From the replica of the local Open_vSwitch database.
    pub fn from_ovs(ovs: &Replica, ov: &Overrides) -> Result<Config, String> {
        let empty = BTreeMap::new();
        let ids = ovs
            .rows("Open_vSwitch")
            .next()
            .and_then(|(_, r)| r.get_str_map("external_ids").ok())
            .unwrap_or(empty);
        Self::from_external_ids(&ids, ov)
    }
}

/// Parses `TYPE:IP` (`--encap`).
pub fn parse_encap(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((t, ip)) if matches!(t, "geneve" | "vxlan" | "stt") && !ip.is_empty() => {
            Ok((t.to_string(), ip.to_string()))
        }
        _ => Err(format!(
            "--encap {s:?}: expected TYPE:IP, TYPE geneve, vxlan or stt"
        )),
    }
}

/// Parses `NETDEV=LPORT` (`--iface`).
pub fn parse_iface(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((dev, lport)) if !dev.is_empty() && !lport.is_empty() => {
            Ok((dev.to_string(), lport.to_string()))
        }
        _ => Err(format!("--iface {s:?}: expected NETDEV=LPORT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_overrides() {
        let ids: BTreeMap<&str, &str> = [
            ("system-id", "hv1"),
            ("ovn-remote", "\"unix:/x.sock\""),
            ("ovn-encap-type", "geneve,vxlan"),
            ("ovn-encap-ip", "192.0.2.1"),
            ("ovn-monitor-all", "true"),
            ("hostname", "h"),
        ]
        .into();
        let c = Config::from_external_ids(&ids, &Overrides::default()).unwrap();
        assert_eq!(c.sb_remote, "unix:/x.sock");
        assert_eq!(c.encaps.len(), 2);
        assert_eq!(c.bridge, "br-int");
        assert!(c.monitor_all);
        assert_eq!(c.hostname, "h");
        let ov = Overrides {
            system_id: Some("sp".into()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::from_external_ids(&ids, &ov).unwrap().system_id,
            "sp"
        );
        let mut ids2 = ids.clone();
        ids2.remove("ovn-encap-ip");
        let e = Config::from_external_ids(&ids2, &Overrides::default()).unwrap_err();
        assert!(e.contains("ovn-encap-ip") && e.contains("--encap"), "{e}");
        let e = Config::from_external_ids(&BTreeMap::new(), &Overrides::default()).unwrap_err();
        assert!(e.contains("system-id"), "{e}");
        assert!(parse_encap("geneve:1.2.3.4").is_ok());
        assert!(parse_encap("gre:1.2.3.4").is_err());
        assert_eq!(parse_iface("p0=port0").unwrap().1, "port0");
        assert!(parse_iface("p0").is_err());
    }
}
