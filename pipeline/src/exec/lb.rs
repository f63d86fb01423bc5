//! The load-balancing result actions: `select()` (ECMP and friends) and
//! `chk_lb_hairpin()` / `chk_lb_hairpin_reply()`.
//!
//! `select`: OVN encodes it as an OpenFlow select group hashing the packet
//! (`selection_method=dp_hash`); we hash the 5-tuple and pick a member by weight, unless
//! [`super::ExecOpts::select_id`] names a member (`ovn-trace --select-id`).
//!
//! Hairpin: ovn-controller (lflow.c, `add_lb_vip_hairpin_flows`) sets the bit for a
//! packet DNATed by a load balancer whose new destination is its own source, recognising
//! the VIP by the original destination northd saved before `ct_lb_mark` (reg1 for IPv4,
//! xxreg1 for IPv6; the VIP port in reg2[0..15]). We test exactly that from the flow:
//! `ct_state.dnat`, `ip.src == ip.dst` and a saved VIP. The reply check is 1 when the
//! packet comes from a backend `(ip.src, ip.proto, tp.src)` of a load balancer on this
//! datapath and goes to that VIP's hairpin SNAT address (`ip.dst`), looked up in
//! [`crate::compile::Compiled`]'s precomputed set: OVN learns such a flow from the first
//! hairpinned packet, the stateless set answers the same for every hairpin reply. As a
//! fallback we also follow `ovn-trace` (the request test, plus VIP port == `tp.dst`).
//!
//! `ct_snat_to_vip` SNATs to that saved VIP (ovn-controller's `hairpin_snat_ip` load
//! balancer option is not in the model, so it is not honoured).

use super::{Pos, Run};
use crate::flow::{ct_state, field, Flow};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// 5-tuple hash for `select` (FNV-1a over the words; stable across runs).
fn hash_words(words: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Run<'_, '_> {
    /// The `select` member id for `f`: `--select-id` if it names a member, else by
    /// weight over a 5-tuple hash (all bits read go into the megaflow mask).
    pub(crate) fn select_member(&mut self, f: &Flow, members: &[(u16, u16)]) -> u16 {
        if let Some(id) = self.opts.select_id {
            if members.iter().any(|m| m.0 == id) {
                return id;
            }
        }
        let total: u64 = members.iter().map(|m| u64::from(m.1)).sum();
        if members.len() < 2 || total == 0 {
            return members.first().map_or(0, |m| m.0);
        }
        self.wc.add(field::ETH_TYPE);
        let h = match f.get(field::ETH_TYPE) {
            0x0800 | 0x86dd => {
                let v6 = f.get(field::ETH_TYPE) == 0x86dd;
                let (s, d) = if v6 {
                    self.wc.add128(field::IP6_SRC);
                    self.wc.add128(field::IP6_DST);
                    (f.get128(field::IP6_SRC), f.get128(field::IP6_DST))
                } else {
                    self.wc.add(field::IP4_SRC);
                    self.wc.add(field::IP4_DST);
                    (
                        u128::from(f.get(field::IP4_SRC)),
                        u128::from(f.get(field::IP4_DST)),
                    )
                };
                for fl in [field::IP_PROTO, field::TP_SRC, field::TP_DST] {
                    self.wc.add(fl);
                }
                hash_words(&[
                    (s >> 64) as u64,
                    s as u64,
                    (d >> 64) as u64,
                    d as u64,
                    f.get(field::IP_PROTO),
                    f.get(field::TP_SRC) << 16 | f.get(field::TP_DST),
                ])
            }
            _ => 0,
        };
        let mut x = h % total;
        for &(id, w) in members {
            if x < u64::from(w) {
                return id;
            }
            x -= u64::from(w);
        }
        members[0].0
    }

    /// The VIP northd saved before `ct_lb_mark` (reg1 for IPv4, xxreg1 for IPv6), if any.
    pub(crate) fn saved_vip(&mut self, f: &Flow) -> Option<IpAddr> {
        self.wc.add(field::ETH_TYPE);
        match f.get(field::ETH_TYPE) {
            0x0800 => {
                self.wc.add(field::reg(1));
                let v = f.get(field::reg(1)) as u32;
                (v != 0).then(|| IpAddr::V4(Ipv4Addr::from(v)))
            }
            0x86dd => {
                self.wc.add(field::xreg(2));
                self.wc.add(field::xreg(3));
                let v = u128::from(f.get(field::xreg(2))) << 64 | u128::from(f.get(field::xreg(3)));
                (v != 0).then(|| IpAddr::V6(Ipv6Addr::from(v)))
            }
            _ => None,
        }
    }

    /// `chk_lb_hairpin()` (`reply` false) or `chk_lb_hairpin_reply()` on `f`.
    pub(crate) fn lb_hairpin(&mut self, f: &Flow, pos: Pos, reply: bool) -> bool {
        if reply && self.lb_reply_known(f, pos) {
            return true;
        }
        self.wc.add_bits(field::CT_STATE, u64::from(ct_state::DNAT));
        if f.get(field::CT_STATE) as u8 & ct_state::DNAT == 0 {
            return false;
        }
        self.wc.add(field::ETH_TYPE);
        let (same, vip) = match f.get(field::ETH_TYPE) {
            0x0800 => {
                self.wc.add(field::IP4_SRC);
                self.wc.add(field::IP4_DST);
                self.wc.add(field::reg(1));
                (
                    f.get(field::IP4_SRC) == f.get(field::IP4_DST),
                    f.get(field::reg(1)) != 0,
                )
            }
            0x86dd => {
                self.wc.add128(field::IP6_SRC);
                self.wc.add128(field::IP6_DST);
                self.wc.add(field::xreg(2));
                self.wc.add(field::xreg(3));
                (
                    f.get128(field::IP6_SRC) == f.get128(field::IP6_DST),
                    f.get(field::xreg(2)) | f.get(field::xreg(3)) != 0,
                )
            }
            _ => return false,
        };
        if !same || !vip {
            return false;
        }
        if !reply {
            return true;
        }
        self.wc.add_bits(field::reg(2), 0xffff);
        self.wc.add(field::TP_DST);
        f.get(field::reg(2)) & 0xffff == f.get(field::TP_DST)
    }

    /// Whether `f` goes from a load-balancer backend to its VIP's hairpin SNAT address on
    /// datapath `pos.dp` (no bits read when no load balancer is configured).
    fn lb_reply_known(&mut self, f: &Flow, pos: Pos) -> bool {
        if self.c.lb_reply.is_empty() {
            return false;
        }
        let dp = self.dp_key(pos);
        self.wc.add(field::ETH_TYPE);
        let (v6, src, dst) = match f.get(field::ETH_TYPE) {
            0x0800 => {
                self.wc.add(field::IP4_SRC);
                self.wc.add(field::IP4_DST);
                (
                    false,
                    u128::from(f.get(field::IP4_SRC)),
                    u128::from(f.get(field::IP4_DST)),
                )
            }
            0x86dd => {
                self.wc.add128(field::IP6_SRC);
                self.wc.add128(field::IP6_DST);
                (true, f.get128(field::IP6_SRC), f.get128(field::IP6_DST))
            }
            _ => return false,
        };
        self.wc.add(field::IP_PROTO);
        self.wc.add(field::TP_SRC);
        let proto = f.get(field::IP_PROTO) as u8;
        let port = f.get(field::TP_SRC) as u16;
        let set = &self.c.lb_reply;
        set.contains(&(dp, v6, dst, proto, src, port))
            || set.contains(&(dp, v6, dst, proto, src, 0))
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::compile;
    use crate::dpaction::DpAction;
    use crate::exec::{execute, ExecResult};
    use crate::flow::{field, Flow};
    use crate::model::{Datapath, DpKind, LoadBalancer, LogicalFlow, Model, PortBinding};
    use crate::{actions::Pipeline, Symtab};
    use std::sync::Arc;

    /// Switch `ls` (key 1) with ports p0 (1) and p1 (2) and `lb` 10.0.0.100:80 ->
    /// 10.0.0.1:8080: a packet the reply check recognises is dropped, others go to p1.
    fn compiled() -> crate::compile::Compiled {
        let mut m = Model {
            chassis: "ch".into(),
            ..Model::default()
        };
        m.datapaths.push(Datapath {
            uuid: "dp".into(),
            tunnel_key: 1,
            name: "ls".into(),
            kind: DpKind::Switch,
        });
        for (name, key) in [("p0", 1), ("p1", 2)] {
            m.ports.push(PortBinding {
                logical_port: name.into(),
                tunnel_key: key,
                datapath: "dp".into(),
                chassis: Some("ch".into()),
                ..PortBinding::default()
            });
        }
        let flows = [
            (
                Pipeline::Ingress,
                0,
                1,
                "ip",
                "reg0[12] = chk_lb_hairpin_reply(); next;",
            ),
            (Pipeline::Ingress, 1, 10, "reg0[12] == 1", "drop;"),
            (Pipeline::Ingress, 1, 0, "1", "outport = \"p1\"; output;"),
            (Pipeline::Egress, 0, 0, "1", "output;"),
        ];
        for (n, (pipeline, table_id, priority, match_, actions)) in flows.into_iter().enumerate() {
            m.flows.push(LogicalFlow {
                uuid: format!("{n:08}-0000-0000-0000-000000000000"),
                datapath: Some("dp".into()),
                dp_group: None,
                pipeline,
                table_id,
                priority,
                match_: match_.into(),
                actions: actions.into(),
                stage: String::new(),
            });
        }
        let mut lb = LoadBalancer {
            name: "lb".into(),
            datapaths: vec!["dp".into()],
            ..LoadBalancer::default()
        };
        lb.vips
            .insert("10.0.0.100:80".into(), "10.0.0.1:8080".into());
        m.load_balancers.push(lb);
        compile(&m, Arc::new(Symtab::ovn()))
    }

    fn tcp(src: (u32, u16), dst: (u32, u16)) -> Flow {
        let mut f = Flow::default();
        f.set(field::DATAPATH, 1);
        f.set(field::INPORT, 1);
        f.set(field::ETH_TYPE, 0x0800);
        f.set(field::IP_PROTO, 6);
        f.set(field::IP4_SRC, u64::from(src.0));
        f.set(field::TP_SRC, u64::from(src.1));
        f.set(field::IP4_DST, u64::from(dst.0));
        f.set(field::TP_DST, u64::from(dst.1));
        f
    }

    #[test]
    fn reply_from_a_backend_to_its_vip_is_recognised() {
        let c = compiled();
        assert!(c.rejected.is_empty(), "{:?}", c.rejected);
        let (backend, vip, client) = (0x0a00_0001, 0x0a00_0064, 0x0a00_0001);
        let mut r = ExecResult::default();
        execute(&c, &tcp((backend, 8080), (vip, 21000)), &mut r, None);
        assert!(
            matches!(r.actions.last(), Some(DpAction::Drop(_))),
            "{:?}",
            r.actions
        );
        for bit in [
            field::IP4_SRC,
            field::IP4_DST,
            field::IP_PROTO,
            field::TP_SRC,
        ] {
            assert_eq!(
                r.mask.w[bit.word as usize] & bit.word_mask(),
                bit.word_mask(),
                "mask {:?}",
                r.mask
            );
        }
        // Wrong backend port, or not to the VIP: not a hairpin reply.
        for f in [
            tcp((backend, 8081), (vip, 21000)),
            tcp((backend, 8080), (client, 21000)),
        ] {
            execute(&c, &f, &mut r, None);
            assert!(
                matches!(r.actions.last(), Some(DpAction::Output { port_key: 2, .. })),
                "{:?}",
                r.actions
            );
        }
    }
}
