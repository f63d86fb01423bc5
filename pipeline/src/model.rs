//! The input of a compile: plain rows, after the OVN Southbound tables a chassis needs.
//!
//! The control crate converts its Southbound replica into a [`Model`]; tests write one by
//! hand. Nothing here knows about OVSDB. Datapaths, groups and flows refer to each other by
//! uuid string; ports and multicast groups by logical port name and datapath uuid.

use std::collections::BTreeMap;

pub use crate::actions::Pipeline;

/// Whether a logical datapath is a switch or a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DpKind {
    Switch,
    Router,
}

/// A `Datapath_Binding` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datapath {
    pub uuid: String,
    /// 24-bit tunnel key (1 ..= 0xff_ffff).
    pub tunnel_key: u32,
    /// `external_ids:name` (the NB name), for reports and traces.
    pub name: String,
    pub kind: DpKind,
}

/// A `Logical_Flow` row. Exactly one of `datapath` / `dp_group` is normally set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalFlow {
    pub uuid: String,
    pub datapath: Option<String>,
    pub dp_group: Option<String>,
    pub pipeline: Pipeline,
    pub table_id: u8,
    pub priority: u16,
    pub match_: String,
    pub actions: String,
    /// `external_ids:stage-name`, empty if absent.
    pub stage: String,
}

/// A `Logical_DP_Group` row: a set of datapath uuids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpGroup {
    pub uuid: String,
    pub datapaths: Vec<String>,
}

/// A `Port_Binding` row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBinding {
    pub logical_port: String,
    /// 15-bit port key (< 32768); multicast groups use 32768 and up.
    pub tunnel_key: u32,
    /// Datapath uuid.
    pub datapath: String,
    /// `type`: "" (VIF), "patch", "localnet", "l3gateway", "chassisredirect", "localport",
    /// "virtual", "external", "vtep", ...
    pub kind: String,
    /// `options` (`peer`, `l3gateway-chassis`, `network_name`, ...).
    pub options: BTreeMap<String, String>,
    /// `mac` column: "MAC [IP...]" strings.
    pub mac: Vec<String>,
    /// `port_security` column: "MAC [IP...]" strings.
    pub port_security: Vec<String>,
    /// Name of the chassis the port is bound to, if any.
    pub chassis: Option<String>,
    /// The `tag` column (localnet VLAN or nested container tag).
    pub tag: Option<u16>,
}

/// A `Multicast_Group` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulticastGroup {
    /// Datapath uuid.
    pub datapath: String,
    pub name: String,
    /// 32768 and up.
    pub tunnel_key: u32,
    /// Member logical port names.
    pub ports: Vec<String>,
}

/// A `MAC_Binding` row: `ip` on `logical_port` has `mac`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacBinding {
    pub logical_port: String,
    pub ip: String,
    pub mac: String,
    /// Datapath uuid.
    pub datapath: String,
}

/// An `Address_Set` row (also `$svc_monitor_mac`, which ovn-controller defines from
/// `SB_Global:options:svc_monitor_mac`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSet {
    pub name: String,
    pub addresses: Vec<String>,
}

/// A `Port_Group` row. Northd writes one per datapath named `<dp key>_<name>`; both forms
/// are accepted: members are filtered to the datapath being compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    pub name: String,
    pub ports: Vec<String>,
}

/// A `Chassis` row, for tunnels to ports bound elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chassis {
    pub name: String,
    /// First Geneve encap IP, as text.
    pub encap_ip: String,
}

/// A `Load_Balancer` row, for `chk_lb_hairpin_reply()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBalancer {
    pub name: String,
    /// VIP -> backends, as in the SB (`"10.0.0.10:80" -> "10.0.0.2:80,10.0.0.3:80"`;
    /// IPv6 as `"[fd00::1]:80"`; a VIP without port has backends without ports).
    pub vips: BTreeMap<String, String>,
    /// `"tcp"` (the default when `None`), `"udp"` or `"sctp"`.
    pub protocol: Option<String>,
    /// Datapath uuids: the `datapaths` column plus the members of `datapath_group`.
    pub datapaths: Vec<String>,
    /// `options` (`hairpin_snat_ip`, ...).
    pub options: BTreeMap<String, String>,
}

/// Everything one compile needs.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// This chassis' name (`is_chassis_resident`, local vs remote ports).
    pub chassis: String,
    pub datapaths: Vec<Datapath>,
    pub flows: Vec<LogicalFlow>,
    pub dp_groups: Vec<DpGroup>,
    pub ports: Vec<PortBinding>,
    pub mcast_groups: Vec<MulticastGroup>,
    pub mac_bindings: Vec<MacBinding>,
    pub address_sets: Vec<AddressSet>,
    pub port_groups: Vec<PortGroup>,
    pub chassis_list: Vec<Chassis>,
    /// Chassis_Template_Var values of this chassis, for `^name` templates.
    pub template_vars: std::collections::HashMap<String, String>,
    /// Conntrack zones assigned by the control thread, by ovn-controller's names: the
    /// logical port name for switch ports, `<datapath uuid>_dnat` / `_snat` for routers.
    /// Ports and routers not listed get zones numbered by the compiler from 1 up.
    pub ct_zones: std::collections::HashMap<String, u16>,
    pub load_balancers: Vec<LoadBalancer>,
}
