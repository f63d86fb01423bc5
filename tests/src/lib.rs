//! # testbed: real OVN and OVS processes, namespaces and veth pairs
//!
//! Used by every integration test and benchmark, and by `southpaw sandbox`. It starts the
//! real daemons from the Debian packages in private temporary directories (never
//! `/var/run`), creates uniquely named namespaces and veth pairs, and cleans all of it up on
//! drop, also when a test panics; leftovers of a killed run are removed at the next start.
//!
//! Pieces:
//! - [`OvnSandbox`]: NB and SB `ovsdb-server` + `ovn-northd` ([`ovn`]).
//! - [`OvsDb`]: a local `Open_vSwitch` database, as a host has ([`ovs`]).
//! - [`Netns`], [`VethPair`]: namespaces and veth pairs ([`netns`]); names are
//!   `sp-<pid>-<n><role>` ([`names`]).
//! - [`Container`]: a namespace whose `eth0` is configured from a [`PortSpec`].
//! - [`OvsPeer`]: stock `ovs-vswitchd` (userspace datapath, AF_XDP ports) + `ovn-controller`
//!   in their own namespace: the comparison peer ([`peer`]).
//! - [`Topology`]: seed 004 and the two-switch + router network, written with `ovn-nbctl`.
//!
//! Running the tests (root; `cargo build --bin southpaw` first, because `sandbox_cli`
//! runs the binary from the same target directory, or set `SOUTHPAW_BIN`):
//!
//! ```text
//! cargo build --bin southpaw && cargo test -p testbed
//! ```
//!
//! All of it needs root (namespaces, veths, AF_XDP); tests start with [`skip_unless_root!`].
//! Daemons die with the thread that created them (see [`proc`]), so keep a sandbox in the
//! thread that made it.

pub mod container;
pub mod names;
pub mod netns;
pub mod ovn;
pub mod ovn_trace;
pub mod ovs;
pub mod peer;
pub mod proc;
pub mod southpaw;
pub mod topo;

pub use container::{Container, Ping};
pub use netns::{Netns, VethPair};
pub use ovn::{OvnSandbox, SandboxOptions};
pub use ovs::OvsDb;
pub use peer::{OvsPeer, PeerOptions, PortKind};
pub use proc::is_root;
pub use southpaw::{southpaw_bin, Southpaw};
pub use topo::{PortSpec, Topology};

/// Returns from the calling test (after saying why) unless running as root.
#[macro_export]
macro_rules! skip_unless_root {
    () => {
        if !$crate::is_root() {
            eprintln!("skipped: needs root (network namespaces, veth pairs, AF_XDP)");
            return;
        }
    };
}
