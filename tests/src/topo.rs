//! Logical topologies written to the Northbound DB with `ovn-nbctl`, as an operator would:
//! the seed 004 walkthrough (one switch, two container ports) and a two-switch + router
//! network.
//!
//! ```text
//! seed004:            ls0: port0 0a:00:00:00:00:01 10.0.0.1/24
//!                          port1 0a:00:00:00:00:02 10.0.0.2/24
//!
//! two_switch_router:  ls0 10.0.0.0/24  c0-0 .2, c0-1 .3 ...  --+
//!                                                               lr0 (10.0.0.1, 10.0.1.1)
//!                     ls1 10.0.1.0/24  c1-0 .2, c1-1 .3 ...  --+
//! ```

use anyhow::{bail, Result};

use crate::ovn::OvnSandbox;

/// A container's logical switch port: name, MAC, address with prefix, default gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    pub mac: String,
    /// `10.0.0.2/24`.
    pub cidr: String,
    pub gateway: Option<String>,
}

impl PortSpec {
    /// The address without its prefix length.
    pub fn ip(&self) -> &str {
        self.cidr.split('/').next().unwrap_or(&self.cidr)
    }

    /// `"<mac> <ip>"`, the `lsp-set-addresses` argument.
    pub fn addresses(&self) -> String {
        format!("{} {}", self.mac, self.ip())
    }
}

/// A logical router port facing one switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterPortSpec {
    /// `lrp` name on the router, e.g. `lr0-ls0`.
    pub name: String,
    pub mac: String,
    /// `10.0.0.1/24`.
    pub cidr: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchSpec {
    pub name: String,
    pub ports: Vec<PortSpec>,
    /// Set when the switch is attached to the router.
    pub router_port: Option<RouterPortSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub switches: Vec<SwitchSpec>,
    /// Router name, if the switches' `router_port`s belong to one.
    pub router: Option<String>,
}

impl Topology {
    /// Seed 004: `ls0` with `port0` and `port1`.
    pub fn seed004() -> Topology {
        let port = |i: u8| PortSpec {
            name: format!("port{i}"),
            mac: format!("0a:00:00:00:00:{:02x}", i + 1),
            cidr: format!("10.0.0.{}/24", i + 1),
            gateway: None,
        };
        Topology {
            switches: vec![SwitchSpec {
                name: "ls0".into(),
                ports: vec![port(0), port(1)],
                router_port: None,
            }],
            router: None,
        }
    }

    /// `ls0` (10.0.0.0/24) and `ls1` (10.0.1.0/24), `per_switch` containers each (`c<s>-<i>`,
    /// MAC `0a:00:00:00:0<s>:<i+2>`, address `.<i+2>`, gateway `.1`), joined by router `lr0`
    /// (ports `lr0-ls<s>`, MAC `0a:00:00:00:ff:0<s>`, address `.1`).
    pub fn two_switch_router(per_switch: u8) -> Topology {
        let switches = (0..2u8)
            .map(|s| SwitchSpec {
                name: format!("ls{s}"),
                ports: (0..per_switch)
                    .map(|i| PortSpec {
                        name: format!("c{s}-{i}"),
                        mac: format!("0a:00:00:00:{s:02x}:{:02x}", i.wrapping_add(2)),
                        cidr: format!("10.0.{s}.{}/24", u16::from(i) + 2),
                        gateway: Some(format!("10.0.{s}.1")),
                    })
                    .collect(),
                router_port: Some(RouterPortSpec {
                    name: format!("lr0-ls{s}"),
                    mac: format!("0a:00:00:00:ff:{s:02x}"),
                    cidr: format!("10.0.{s}.1/24"),
                }),
            })
            .collect();
        Topology {
            switches,
            router: Some("lr0".into()),
        }
    }

    /// Every container port with the name of its switch.
    pub fn ports(&self) -> impl Iterator<Item = (&str, &PortSpec)> {
        self.switches
            .iter()
            .flat_map(|s| s.ports.iter().map(move |p| (s.name.as_str(), p)))
    }

    /// Writes the topology with `ovn-nbctl` (`ls-add`, `lsp-add`, `lsp-set-addresses`,
    /// `lr-add`, `lrp-add`, router-type switch ports), reporting each step to `say`, then
    /// waits for northd (`--wait=sb sync`).
    pub fn apply(&self, ovn: &OvnSandbox, mut say: impl FnMut(&str)) -> Result<()> {
        if let Some(lr) = &self.router {
            ovn.nbctl(&["lr-add", lr])?;
            say(&format!("router {lr}"));
        }
        for sw in &self.switches {
            ovn.nbctl(&["ls-add", &sw.name])?;
            say(&format!("switch {}", sw.name));
            for p in &sw.ports {
                ovn.nbctl(&[
                    "lsp-add",
                    &sw.name,
                    &p.name,
                    "--",
                    "lsp-set-addresses",
                    &p.name,
                    &p.addresses(),
                ])?;
                say(&format!(
                    "  port {} on {}: {}",
                    p.name,
                    sw.name,
                    p.addresses()
                ));
            }
            if let Some(rp) = &sw.router_port {
                let Some(lr) = &self.router else {
                    bail!(
                        "switch {} has a router port but the topology no router",
                        sw.name
                    );
                };
                ovn.nbctl(&["lrp-add", lr, &rp.name, &rp.mac, &rp.cidr])?;
                let lsp = format!("{}-{lr}", sw.name);
                ovn.nbctl(&[
                    "lsp-add",
                    &sw.name,
                    &lsp,
                    "--",
                    "lsp-set-type",
                    &lsp,
                    "router",
                    "--",
                    "lsp-set-addresses",
                    &lsp,
                    "router",
                    "--",
                    "lsp-set-options",
                    &lsp,
                    &format!("router-port={}", rp.name),
                ])?;
                say(&format!(
                    "  router port {} {} {} <-> {}",
                    rp.name, rp.mac, rp.cidr, sw.name
                ));
            }
        }
        ovn.wait_sb()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed004_ports() {
        let t = Topology::seed004();
        let ports: Vec<_> = t.ports().map(|(s, p)| (s, p.addresses())).collect();
        assert_eq!(
            ports,
            vec![
                ("ls0", "0a:00:00:00:00:01 10.0.0.1".to_string()),
                ("ls0", "0a:00:00:00:00:02 10.0.0.2".to_string()),
            ]
        );
    }

    #[test]
    fn two_switch_router_addresses() {
        let t = Topology::two_switch_router(2);
        let p: Vec<_> = t.ports().map(|(_, p)| p.clone()).collect();
        assert_eq!(p.len(), 4);
        assert_eq!(p[2].name, "c1-0");
        assert_eq!(p[2].cidr, "10.0.1.2/24");
        assert_eq!(p[2].mac, "0a:00:00:00:01:02");
        assert_eq!(p[2].gateway.as_deref(), Some("10.0.1.1"));
        assert_eq!(p[3].ip(), "10.0.1.3");
        let rp = t.switches[1].router_port.as_ref().unwrap();
        assert_eq!(
            (rp.name.as_str(), rp.cidr.as_str()),
            ("lr0-ls1", "10.0.1.1/24")
        );
    }
}
