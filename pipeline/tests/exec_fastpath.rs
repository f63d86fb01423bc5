//! The executor's fast paths (skipping pass-through `next;` tables, entries that only say
//! `next`) are only taken without tracing: a traced run must give the same actions, mask
//! and lookup count as an untraced one, and visit every table the count says.

mod exec_model;

use pipeline::compile::compile;
use pipeline::exec::{execute, ExecResult, TraceEvent};
use pipeline::flow::{field, Flow};
use pipeline::Symtab;
use std::sync::Arc;

#[test]
fn traced_and_untraced_runs_agree() {
    for learned in [true, false] {
        let m = exec_model::router_model(learned);
        let c = compile(&m, Arc::new(Symtab::ovn()));
        let dp = c
            .datapaths
            .iter()
            .find(|d| d.name == "sw0")
            .map_or(0, |d| d.key);
        let mut n_checked = 0;
        for (dst, et, proto, ttl) in [
            (0x0a00_010b, 0x0800, 1, 64),
            (0x0a00_010b, 0x0800, 6, 1),
            (0x0a00_0001, 0x0800, 17, 64),
            (0x0a00_0201, 0x0800, 1, 64),
            (0, 0x0806, 0, 0),
            (0, 0x86dd, 58, 255),
        ] {
            let mut f = Flow::default();
            f.set(field::DATAPATH, u64::from(dp));
            f.set(field::INPORT, 1);
            f.set(field::ETH_SRC, 0x5054_0000_0001);
            f.set(field::ETH_DST, 0x0000_0000_ff01);
            f.set(field::ETH_TYPE, et);
            f.set(field::IP4_SRC, 0x0a00_0014);
            f.set(field::IP4_DST, dst);
            f.set(field::IP_PROTO, proto);
            f.set(field::IP_TTL, ttl);
            f.set(field::ARP_OP, 1);
            let (mut plain, mut traced) = (ExecResult::default(), ExecResult::default());
            execute(&c, &f, &mut plain, None);
            let mut visits = 0u32;
            let mut tr = |_: &TraceEvent<'_>| visits += 1;
            execute(&c, &f, &mut traced, Some(&mut tr));
            assert_eq!(
                format!("{:?}", plain.actions),
                format!("{:?}", traced.actions)
            );
            assert_eq!(plain.mask, traced.mask);
            assert_eq!(plain.lookups, traced.lookups);
            assert_eq!(visits, traced.lookups);
            n_checked += 1;
        }
        assert_eq!(n_checked, 6);
    }
}
