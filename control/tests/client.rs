//! Connection-level tests against a real ovsdb-server with the OVN Southbound schema.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{OvsdbServer, SB_SCHEMA};
use control::ops::{inserted_uuid, Mutation};
use control::{
    Atom, ColumnKind, Condition, Connection, Datum, Error, MonitorMethod, MonitorRequest, Op,
    Remote, Replica, Row,
};
use serde_json::json;

fn connect(s: &OvsdbServer) -> Connection {
    Connection::connect(&Remote::parse(&s.remote()).unwrap(), Duration::from_secs(5)).unwrap()
}

const SB: &str = "OVN_Southbound";

#[test]
fn list_dbs_and_schema() {
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let mut c = connect(&s);
    let dbs = c.list_dbs().unwrap();
    assert!(dbs.contains(&SB.to_string()), "{dbs:?}");
    let schema = c.get_schema(SB).unwrap();
    assert_eq!(schema.name, SB);
    assert_eq!(
        schema.column_kind("Chassis", "name"),
        Some(ColumnKind::Scalar)
    );
    assert_eq!(
        schema.column_kind("Chassis", "encaps"),
        Some(ColumnKind::Set)
    );
    assert_eq!(
        schema.column_kind("Chassis", "external_ids"),
        Some(ColumnKind::Map)
    );
    assert_eq!(
        schema.column_kind("Port_Binding", "chassis"),
        Some(ColumnKind::Optional)
    );
    assert!(schema.tables.contains_key("Logical_Flow"));
    c.echo().unwrap();
    let e = c.get_schema("No_Such_DB").unwrap_err();
    assert!(matches!(e, Error::Rpc { .. }), "{e}");
}

fn chassis_row(c: &mut Connection, name: &str) -> Option<Row> {
    let r = c
        .transact(
            SB,
            vec![Op::select(
                "Chassis",
                vec![Condition::eq("name", name)],
                None,
            )],
        )
        .unwrap();
    let rows = r[0]["rows"].as_array().unwrap();
    rows.first().map(|v| Row::from_json(v).unwrap())
}

#[test]
fn transact_insert_update_mutate_delete() {
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let mut c = connect(&s);
    let r = c
        .transact(
            SB,
            vec![
                Op::comment("southpaw test"),
                Op::insert(
                    "Encap",
                    Row::new()
                        .with("type", "geneve")
                        .with("ip", "127.0.0.1")
                        .with("chassis_name", "ch1"),
                )
                .uuid_name("encap"),
                Op::insert(
                    "Chassis",
                    Row::new()
                        .with("name", "ch1")
                        .with("hostname", "host1")
                        .with("encaps", Atom::NamedUuid("encap".into())),
                )
                .uuid_name("ch"),
            ],
        )
        .unwrap();
    let encap = inserted_uuid(&r, 1).expect("encap uuid");
    let chassis = inserted_uuid(&r, 2).expect("chassis uuid");
    let row = chassis_row(&mut c, "ch1").unwrap();
    assert_eq!(row.get_uuid("_uuid").unwrap(), chassis);
    assert_eq!(row.get_uuid_set("encaps").unwrap(), vec![encap]);
    assert_eq!(row.get_str("hostname").unwrap(), "host1");
    assert!(s.sbctl(&["show"]).contains("Chassis ch1"));

    c.transact(
        SB,
        vec![Op::update(
            "Chassis",
            vec![Condition::uuid(chassis)],
            Row::new().with("hostname", "host2"),
        )],
    )
    .unwrap();
    c.transact(
        SB,
        vec![Op::mutate(
            "Chassis",
            vec![Condition::eq("name", "ch1")],
            vec![Mutation::new(
                "external_ids",
                "insert",
                Datum::map([("k", "v")]),
            )],
        )],
    )
    .unwrap();
    let row = chassis_row(&mut c, "ch1").unwrap();
    assert_eq!(row.get_str("hostname").unwrap(), "host2");
    assert_eq!(
        row.get_str_map("external_ids").unwrap().get("k"),
        Some(&"v")
    );
    // wait succeeds when the condition holds.
    c.transact(
        SB,
        vec![Op::wait(
            "Encap",
            vec![Condition::uuid(encap)],
            &["ip"],
            true,
            vec![Row::new().with("ip", "127.0.0.1")],
            Some(0),
        )],
    )
    .unwrap();

    // A duplicate name violates the index: an Rpc error naming the op.
    let e = c
        .transact(
            SB,
            vec![Op::insert(
                "Chassis",
                Row::new().with("name", "ch1").with("encaps", encap),
            )],
        )
        .unwrap_err();
    assert!(e.to_string().contains("constraint violation"), "{e}");

    let r = c
        .transact(
            SB,
            vec![Op::delete("Chassis", vec![Condition::eq("name", "ch1")])],
        )
        .unwrap();
    assert_eq!(r[0]["count"], 1);
    assert!(chassis_row(&mut c, "ch1").is_none());
    // The Encap is not a root table: garbage collected with its last reference.
    let r = c
        .transact(SB, vec![Op::select("Encap", vec![], None)])
        .unwrap();
    assert_eq!(r[0]["rows"].as_array().unwrap().len(), 0);
}

fn poll_apply(
    c: &mut Connection,
    replica: &mut Replica,
    what: &str,
    cond: impl Fn(&Replica) -> bool,
) -> Vec<String> {
    let mut methods = vec![];
    let start = std::time::Instant::now();
    while !cond(replica) {
        assert!(
            start.elapsed() < common::WAIT,
            "timed out waiting for {what}"
        );
        if let Some((m, p)) = c.poll(Duration::from_millis(200)).unwrap() {
            replica.apply_notification(&m, &p).unwrap();
            methods.push(m);
        }
    }
    methods
}

fn chassis_names(r: &Replica) -> Vec<String> {
    r.rows("Chassis")
        .map(|(_, row)| row.get_str("name").unwrap().to_string())
        .collect()
}

#[test]
fn monitor_cond_since_update3_from_sbctl() {
    let s = OvsdbServer::clustered(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch0", "geneve", "127.0.0.2"]);
    let mut c = connect(&s);
    let schema = c.get_schema(SB).unwrap();
    let mut replica = Replica::new();
    replica.set_schema(schema);
    replica.set_monitored("Chassis", Some(&["name", "encaps", "external_ids"]));
    let id = json!("m1");
    let reqs = [
        MonitorRequest::new("Chassis").columns(&["name", "encaps", "external_ids"]),
        MonitorRequest::new("Encap").columns(&["type", "ip", "chassis_name"]),
    ];
    let reply = c.monitor(SB, &id, &reqs, None).unwrap();
    assert_eq!(reply.method, MonitorMethod::CondSince);
    assert!(!reply.found);
    let first_txn = reply.last_txn_id.expect("clustered db has txn ids");
    replica.apply(&reply.updates).unwrap();
    assert_eq!(chassis_names(&replica), vec!["ch0"]);
    // Only the requested columns arrive; the empty external_ids (omitted by the server as a
    // default value) is filled in.
    let (_, row) = replica.rows("Chassis").next().unwrap();
    assert!(row.get("hostname").is_none());
    assert_eq!(row.len(), 3);
    assert!(row.get_str_map("external_ids").unwrap().is_empty());

    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    let methods = poll_apply(&mut c, &mut replica, "ch1", |r| {
        chassis_names(r).contains(&"ch1".to_string())
    });
    assert!(methods.iter().all(|m| m == "update3"), "{methods:?}");
    assert_ne!(replica.last_txn_id(), Some(first_txn));
    let ch1 = replica
        .rows("Chassis")
        .find(|(_, r)| r.get_str("name").unwrap() == "ch1")
        .unwrap()
        .1
        .clone();
    let encap = replica
        .row("Encap", &ch1.get_uuid("encaps").unwrap())
        .expect("encap replicated");
    assert_eq!(encap.get_str("ip").unwrap(), "127.0.0.1");
    assert_eq!(encap.get_str("type").unwrap(), "geneve");

    // Map diff semantics on a real update: set then change a key.
    s.sbctl(&[
        "set",
        "Chassis",
        "ch1",
        "external_ids:a=1",
        "external_ids:b=2",
    ]);
    poll_apply(&mut c, &mut replica, "external_ids a,b", |r| {
        r.rows("Chassis")
            .any(|(_, row)| row.get_str_map("external_ids").unwrap().len() == 2)
    });
    s.sbctl(&["remove", "Chassis", "ch1", "external_ids", "a"]);
    s.sbctl(&["set", "Chassis", "ch1", "external_ids:b=3"]);
    poll_apply(&mut c, &mut replica, "external_ids b=3", |r| {
        r.rows("Chassis").any(|(_, row)| {
            let m = row.get_str_map("external_ids").unwrap();
            m.len() == 1 && m.get("b") == Some(&"3")
        })
    });

    s.sbctl(&["chassis-del", "ch0"]);
    poll_apply(&mut c, &mut replica, "ch0 deleted", |r| {
        chassis_names(r) == vec!["ch1"]
    });
    poll_apply(&mut c, &mut replica, "ch0 encap gone", |r| {
        r.len("Encap") == 1
    });

    // Resuming from the current id on a new connection: found, nothing missed.
    let last = replica.last_txn_id();
    s.sbctl(&["chassis-add", "ch2", "geneve", "127.0.0.3"]);
    let mut c2 = connect(&s);
    let reply = c2.monitor(SB, &id, &reqs, last).unwrap();
    assert!(reply.found, "server should know txn {last:?}");
    replica.apply(&reply.updates).unwrap();
    replica.set_last_txn_id(reply.last_txn_id);
    let mut names = chassis_names(&replica);
    names.sort();
    assert_eq!(names, vec!["ch1", "ch2"]);
}

#[test]
fn standalone_server_cannot_resume() {
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let mut c = connect(&s);
    let reply = c
        .monitor(SB, &json!(1), &[MonitorRequest::new("Chassis")], None)
        .unwrap();
    assert_eq!(reply.method, MonitorMethod::CondSince);
    assert_eq!(reply.last_txn_id, None);
    let some: control::Uuid = "01234567-89ab-cdef-0123-456789abcdef".parse().unwrap();
    let mut c = connect(&s);
    let reply = c
        .monitor(SB, &json!(1), &[MonitorRequest::new("Chassis")], Some(some))
        .unwrap();
    assert!(!reply.found);
}
