//! Network namespaces and veth pairs with unique names, removed on drop (also while a test
//! panics, since drop runs during unwinding).
//!
//! Everything goes through `ip`, `ip netns exec` and `ethtool`; nothing here enters a
//! namespace in-process, so it is safe from any thread.

use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

use crate::names::unique_name;
use crate::proc::{output, run, run_args};

/// A named network namespace (`/run/netns/<name>`) with `lo` up; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `sp-<pid>-<n><role>`.
    pub fn new(role: &str) -> Result<Netns> {
        let name = unique_name(role);
        run_args("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` for `ip netns exec <ns> argv...`.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Runs `argv` inside the namespace; returns the output whatever the exit status.
    pub fn exec(&self, argv: &[&str]) -> Result<Output> {
        output(&mut self.command(argv))
    }

    /// Runs `argv` inside the namespace; a non-zero exit is an error. Returns stdout.
    pub fn run(&self, argv: &[&str]) -> Result<String> {
        run(&mut self.command(argv))
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        run(&mut cmd)
    }

    /// Whether the namespace still exists.
    pub fn exists(name: &str) -> bool {
        std::path::Path::new("/run/netns").join(name).exists()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_args("ip", &["netns", "del", &self.name]) {
            log::warn!("{e:#}");
        }
    }
}

/// Where one end of a veth pair is now: its namespace (`None` = the root one) and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub netns: Option<String>,
    pub name: String,
}

impl End {
    fn ip(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("ip");
        if let Some(ns) = &self.netns {
            cmd.args(["-n", ns]);
        }
        cmd.args(args);
        run(&mut cmd)
    }

    /// Sets the MAC address (`aa:bb:cc:dd:ee:ff`).
    pub fn set_mac(&self, mac: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", &self.name, "address", mac])
            .map(drop)
    }

    /// Adds an address in CIDR form (`10.0.0.2/24`).
    pub fn add_addr(&self, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", &self.name]).map(drop)
    }

    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        self.ip(&["link", "set", "dev", &self.name, "mtu", &mtu.to_string()])
            .map(drop)
    }

    pub fn up(&self) -> Result<()> {
        self.ip(&["link", "set", "dev", &self.name, "up"]).map(drop)
    }

    /// Turns off TX checksum offload (`ethtool -K <dev> tx off`), so packets leave with
    /// complete checksums: a veth otherwise hands partial checksums to whoever reads the raw
    /// frames (AF_XDP, a userspace datapath), and the receiver drops them.
    pub fn tx_checksum_off(&self) -> Result<()> {
        let mut cmd = Command::new("ip");
        match &self.netns {
            Some(ns) => cmd.args(["netns", "exec", ns, "ethtool"]),
            None => cmd.arg("ethtool"),
        };
        cmd.args(["-K", &self.name, "tx", "off"]);
        run(&mut cmd).map(drop)
    }

    /// The MAC address the kernel reports.
    pub fn mac(&self) -> Result<String> {
        let text = self.ip(&["-o", "link", "show", "dev", &self.name])?;
        text.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_string)
            .with_context(|| format!("no link/ether in `{}`", text.trim()))
    }
}

/// A veth pair `a`/`b`; both ends can be moved into namespaces and renamed. Deleted on drop
/// (deleting either end removes both; a pair inside a deleted namespace is already gone).
#[derive(Debug)]
pub struct VethPair {
    a: End,
    b: End,
}

impl VethPair {
    /// Creates a pair in the root namespace with unique names `...a` and `...b`.
    pub fn new() -> Result<VethPair> {
        let a = unique_name("a");
        let b = unique_name("b");
        run_args(
            "ip",
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
        )?;
        Ok(VethPair {
            a: End {
                netns: None,
                name: a,
            },
            b: End {
                netns: None,
                name: b,
            },
        })
    }

    pub fn a(&self) -> &End {
        &self.a
    }

    pub fn b(&self) -> &End {
        &self.b
    }

    /// Moves end `a` into `ns`, renaming it to `new_name` if given (e.g. `eth0`).
    pub fn move_a(&mut self, ns: &Netns, new_name: Option<&str>) -> Result<()> {
        move_end(&mut self.a, ns, new_name)
    }

    /// Moves end `b` into `ns`, renaming it to `new_name` if given.
    pub fn move_b(&mut self, ns: &Netns, new_name: Option<&str>) -> Result<()> {
        move_end(&mut self.b, ns, new_name)
    }
}

fn move_end(end: &mut End, ns: &Netns, new_name: Option<&str>) -> Result<()> {
    if end.netns.is_some() {
        bail!("{} is already in namespace {:?}", end.name, end.netns);
    }
    end.ip(&["link", "set", "dev", &end.name, "netns", ns.name()])?;
    end.netns = Some(ns.name().to_string());
    if let Some(new) = new_name {
        end.ip(&["link", "set", "dev", &end.name, "name", new])?;
        end.name = new.to_string();
    }
    Ok(())
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for end in [&self.a, &self.b] {
            if let Some(ns) = &end.netns {
                if !Netns::exists(ns) {
                    // The namespace and every link in it are gone.
                    return;
                }
            }
            if end.ip(&["link", "del", "dev", &end.name]).is_ok() {
                return;
            }
        }
        log::warn!("could not delete veth pair {}/{}", self.a.name, self.b.name);
    }
}

/// All namespace names (`ip netns list`).
pub fn list_netns() -> Result<Vec<String>> {
    Ok(run_args("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// Whether a link of this name exists in the root namespace.
pub fn root_link_exists(name: &str) -> bool {
    run_args("ip", &["link", "show", "dev", name]).is_ok()
}
