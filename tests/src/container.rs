//! A "container": a network namespace whose `eth0` is one end of a veth pair, configured
//! from a [`PortSpec`] (MAC, address, default route, TX checksum offload off). The other end
//! is the host side that a forwarding plane (OVS, southpaw) attaches to.

use anyhow::{Context, Result};

use crate::netns::{End, Netns, VethPair};
use crate::topo::PortSpec;

/// Name of the container side of the veth pair inside its namespace.
pub const CONTAINER_IFNAME: &str = "eth0";

#[derive(Debug)]
pub struct Container {
    spec: PortSpec,
    // Field order is drop order: the pair goes before the namespace.
    veth: VethPair,
    netns: Netns,
}

impl Container {
    /// Creates the namespace and veth pair; the host side stays in the root namespace, or is
    /// moved into `host_ns` if given, and is set up.
    pub fn create(spec: &PortSpec, host_ns: Option<&Netns>) -> Result<Container> {
        let netns = Netns::new("c")?;
        let mut veth = VethPair::new()?;
        let what = || format!("container for port {}", spec.name);
        veth.move_a(&netns, Some(CONTAINER_IFNAME))
            .with_context(what)?;
        if let Some(ns) = host_ns {
            veth.move_b(ns, None).with_context(what)?;
        }
        let c = Container {
            spec: spec.clone(),
            veth,
            netns,
        };
        let inner = c.veth.a();
        inner.set_mac(&spec.mac).with_context(what)?;
        inner.add_addr(&spec.cidr).with_context(what)?;
        inner.tx_checksum_off().with_context(what)?;
        inner.up().with_context(what)?;
        c.veth.b().up().with_context(what)?;
        if let Some(gw) = &spec.gateway {
            c.netns
                .ip(&["route", "add", "default", "via", gw])
                .with_context(what)?;
        }
        Ok(c)
    }

    pub fn spec(&self) -> &PortSpec {
        &self.spec
    }

    /// Logical port name (`external-ids:iface-id`).
    pub fn lport(&self) -> &str {
        &self.spec.name
    }

    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// The container's `eth0`.
    pub fn inner(&self) -> &End {
        self.veth.a()
    }

    /// The host side (its name is what `ovs-vsctl add-port` takes).
    pub fn host(&self) -> &End {
        self.veth.b()
    }

    /// `ping -i 0.2 -c <count> -W 2 <dst>` from inside the container.
    pub fn ping(&self, dst: &str, count: u32) -> Result<Ping> {
        let count = count.to_string();
        let out = self
            .netns
            .exec(&["ping", "-n", "-i", "0.2", "-c", &count, "-W", "2", dst])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Ping::parse(&text).with_context(|| format!("ping output from {}:\n{text}", self.lport()))
    }
}

/// The summary line of `ping`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    pub transmitted: u32,
    pub received: u32,
    /// Full output, for assertion messages.
    pub output: String,
}

impl Ping {
    /// Parses `N packets transmitted, M received, ...`.
    pub fn parse(text: &str) -> Option<Ping> {
        let line = text.lines().find(|l| l.contains("packets transmitted"))?;
        let mut nums = line
            .split(',')
            .map(|part| part.split_whitespace().next().and_then(|n| n.parse().ok()));
        let transmitted = nums.next()??;
        let received = nums.next()??;
        Some(Ping {
            transmitted,
            received,
            output: text.to_string(),
        })
    }

    /// Every packet answered.
    pub fn no_loss(&self) -> bool {
        self.transmitted > 0 && self.received == self.transmitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ping_summary() {
        let ok = "--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 2030ms\n";
        let p = Ping::parse(ok).unwrap();
        assert_eq!((p.transmitted, p.received), (3, 3));
        assert!(p.no_loss());
        let lossy = "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms";
        let p = Ping::parse(lossy).unwrap();
        assert_eq!(p.received, 0);
        assert!(!p.no_loss());
        assert_eq!(Ping::parse("connect: Network is unreachable"), None);
    }
}
