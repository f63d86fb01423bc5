//! The shapes the parsers produce for representative OVN texts: what the compiler will see.

use pipeline::actions::*;
use pipeline::symtab::{Kind, Storage};
use pipeline::{flow, parse_actions, parse_match, Action, Expr, IntFormat, RelOp, Symtab, Value};
use std::net::IpAddr;

fn acts(s: &str) -> Vec<Action> {
    let t = Symtab::ovn();
    parse_actions(s, &t).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn name(t: &Symtab, f: &pipeline::FieldRef) -> &'static str {
    t.get(f.sym).name
}

#[test]
fn assignments_moves_exchanges() {
    let t = Symtab::ovn();
    let a = parse_actions("eth.dst <-> eth.src; reg0[0..15] = 0x10/0xff; outport = \"p1\"; xxreg0 = ip6.dst; ip.ttl--; next;", &t).unwrap();
    assert_eq!(a.len(), 6);
    let Action::Exchange { a: x, b: y } = &a[0] else {
        panic!("{:?}", a[0])
    };
    assert_eq!((name(&t, x), name(&t, y)), ("eth.dst", "eth.src"));
    let Action::Load {
        dst,
        value: Value::Int(i),
    } = &a[1]
    else {
        panic!("{:?}", a[1])
    };
    assert_eq!(
        (dst.ofs, dst.n_bits, i.value, i.mask),
        (0, 16, 0x10, Some(0xff))
    );
    assert!(matches!(&a[2], Action::Load { value: Value::Str(s), .. } if s == "p1"));
    assert!(matches!(&a[3], Action::Move { .. }));
    assert_eq!(a[4], Action::DecTtl);
    assert_eq!(
        a[5],
        Action::Next {
            pipeline: None,
            table: None
        }
    );
}

#[test]
fn drop_alone_and_empty() {
    assert_eq!(acts("drop;"), vec![Action::Drop]);
    assert_eq!(acts("/* drop */"), vec![]);
    let t = Symtab::ovn();
    assert!(parse_actions("drop; next;", &t).is_err());
}

#[test]
fn next_forms() {
    assert_eq!(
        acts("next(3);")[0],
        Action::Next {
            pipeline: None,
            table: Some(3)
        }
    );
    assert_eq!(
        acts("next(pipeline=egress, table=5);")[0],
        Action::Next {
            pipeline: Some(Pipeline::Egress),
            table: Some(5)
        }
    );
}

#[test]
fn conntrack_actions() {
    let a = acts("ct_commit { ct_mark.blocked = 0; ct_label.label = reg3; }; ct_snat(172.16.0.2,10000-20000); ct_dnat; ct_lb_mark(backends=10.0.0.11:8080,10.0.0.12:8080; hash_fields=\"ip_src,ip_dst\"; skip_snat);");
    let Action::Nested {
        kind: NestedKind::CtCommit,
        actions,
    } = &a[0]
    else {
        panic!("{:?}", a[0])
    };
    assert_eq!(actions.len(), 2);
    let ip: IpAddr = "172.16.0.2".parse().unwrap();
    assert_eq!(
        a[1],
        Action::CtNat {
            kind: CtNatKind::Snat,
            ip: Some(ip),
            ports: Some((10000, 20000))
        }
    );
    assert_eq!(
        a[2],
        Action::CtNat {
            kind: CtNatKind::Dnat,
            ip: None,
            ports: None
        }
    );
    let Action::CtLb {
        mark: true,
        backends,
        hash_fields,
        flag,
    } = &a[3]
    else {
        panic!("{:?}", a[3])
    };
    assert_eq!(backends.len(), 2);
    assert_eq!(backends[1].port, 8080);
    assert_eq!(hash_fields.as_deref(), Some("ip_src,ip_dst"));
    assert_eq!(*flag, Some(CtLbFlag::SkipSnat));
    let a = acts("ct_lb_mark(backends=[aef0::11]:80,[aef0::12]:80);");
    assert!(
        matches!(&a[0], Action::CtLb { backends, .. } if backends[0].ip.is_ipv6() && backends[0].port == 80)
    );
    // ct_mark may only be written inside ct_commit.
    let t = Symtab::ovn();
    let e = parse_actions("ct_mark.blocked = 1;", &t).unwrap_err();
    assert!(e.message.contains("ct_commit"), "{e}");
}

#[test]
fn result_actions() {
    let t = Symtab::ovn();
    let a = parse_actions("reg9[2] = lookup_arp(inport, arp.spa, arp.sha); reg0[3] = put_dhcp_opts(offerip = 10.0.0.13, dns_server = {8.8.8.8,8.8.4.4}, domain_name = \"ovn.org\"); outport = get_fdb(eth.dst); REGBIT = 1;".replace("REGBIT", "reg0[1]").as_str(), &t).unwrap();
    let Action::LookupMacBind {
        kind: MacBind::Arp,
        dst,
        port,
        ip,
        mac: Some(mac),
    } = &a[0]
    else {
        panic!("{:?}", a[0])
    };
    assert_eq!((name(&t, dst), dst.ofs, dst.n_bits), ("reg9", 2, 1));
    assert_eq!(
        (name(&t, port), name(&t, ip), name(&t, mac)),
        ("inport", "arp.spa", "arp.sha")
    );
    let Action::PutDhcpOpts {
        v6: false, options, ..
    } = &a[1]
    else {
        panic!("{:?}", a[1])
    };
    assert_eq!(options.len(), 3);
    assert_eq!(options[1].values.len(), 2);
    assert!(matches!(&a[2], Action::GetFdb { .. }));
    // Result actions need a 1-bit destination.
    assert!(parse_actions("reg0 = lookup_arp(inport, arp.spa, arp.sha);", &t).is_err());
}

#[test]
fn nested_packet_actions() {
    let a = acts("icmp4_error { eth.dst = 00:00:00:00:ff:02; icmp4.type = 3; icmp4.frag_mtu = 1400; next(pipeline=ingress, table=0); };");
    let Action::Nested {
        kind: NestedKind::Icmp4Error,
        actions,
    } = &a[0]
    else {
        panic!("{:?}", a[0])
    };
    assert_eq!(actions.len(), 4);
    let t = Symtab::ovn();
    let Action::Load { dst, .. } = &actions[2] else {
        panic!()
    };
    assert_eq!(
        t.resolve(dst.sym, dst.ofs, dst.n_bits).map(|s| s.storage),
        Some(Storage::Ovn(pipeline::symtab::OvnField::Icmp4FragMtu))
    );
}

#[test]
fn misc_actions() {
    let a = acts("log(name=\"rej\", severity=alert, verdict=reject, meter=\"m\"); set_meter(1000, 200); set_queue(5); trigger_event(event = \"empty_lb_backends\", meter = \"\", vip = \"10.0.0.40:80\", protocol = \"tcp\", load_balancer = \"x\"); bind_vport(\"vip\", inport); reg8[0..15] = select(0=50, 1=50); commit_lb_aff(vip = \"10.0.0.10:80\", backend = \"10.0.0.11:8080\", proto = tcp, timeout = 60);");
    assert!(
        matches!(&a[0], Action::Log { verdict: LogVerdict::Reject, name: Some(n), .. } if n == "rej")
    );
    assert_eq!(
        a[1],
        Action::SetMeter {
            rate: 1000,
            burst: 200
        }
    );
    assert_eq!(a[2], Action::SetQueue(5));
    assert!(matches!(&a[3], Action::TriggerEvent { options, .. } if options.len() == 4));
    assert!(matches!(&a[4], Action::BindVport { vport, .. } if vport == "vip"));
    assert!(matches!(&a[5], Action::Select { members, .. } if members == &vec![(0, 50), (1, 50)]));
    assert!(matches!(
        &a[6],
        Action::CommitLbAff {
            proto: Some(Proto::Tcp),
            timeout: 60,
            ..
        }
    ));
}

#[test]
fn match_values_and_sets() {
    let t = Symtab::ovn();
    let e = parse_match("inport == @pg_web && ip4.src == $pg_db_ip4 && ip4.dst == 10.0.0.0/24 && eth.src == {00:00:00:00:00:01, 00:00:00:00:00:02}", &t).unwrap();
    let Expr::And(v) = e else { panic!() };
    assert!(
        matches!(&v[0], Expr::Cmp { values, .. } if values == &vec![Value::PortGroup("pg_web".into())])
    );
    assert!(
        matches!(&v[1], Expr::Cmp { values, .. } if values == &vec![Value::AddrSet("pg_db_ip4".into())])
    );
    let Expr::Cmp {
        values,
        op: RelOp::Eq,
        ..
    } = &v[2]
    else {
        panic!()
    };
    assert!(
        matches!(&values[0], Value::Int(i) if i.format == IntFormat::Ipv4 && i.mask == Some(0xffff_ff00))
    );
    let Expr::Cmp { values, .. } = &v[3] else {
        panic!()
    };
    assert_eq!(values.len(), 2);
    let e = parse_match("is_chassis_resident(\"cr-lr0-public\")", &t).unwrap();
    assert_eq!(e, Expr::ChassisResident("cr-lr0-public".into()));
}

#[test]
fn symtab_maps_fields_onto_the_microflow() {
    let t = Symtab::ovn();
    let slot = |n: &str| {
        let id = t.lookup(n).unwrap_or_else(|| panic!("{n}"));
        t.resolve(id, 0, t.get(id).width).unwrap()
    };
    assert_eq!(
        slot("tcp.dst").storage,
        Storage::Narrow(flow::field::TP_DST)
    );
    assert_eq!(
        slot("arp.tpa").storage,
        Storage::Narrow(flow::field::IP4_DST)
    );
    assert_eq!(slot("ip6.src").storage, Storage::Wide(flow::field::IP6_SRC));
    assert_eq!(slot("inport").storage, Storage::Port(flow::field::INPORT));
    assert_eq!(slot("ct.trk").ofs, 5);
    assert_eq!(slot("flags.loopback").ofs, 0);
    assert_eq!(slot("vlan.vid").n_bits, 12);
    assert!(matches!(
        t.get(t.lookup("nd_ns").unwrap()).kind,
        Kind::Predicate { .. }
    ));
    assert_eq!(t.get(t.lookup("tcp.dst").unwrap()).prereq_text, Some("tcp"));
    assert_eq!(
        t.get(t.lookup("ct.new").unwrap()).prereq_text,
        Some("ct.trk")
    );
}
