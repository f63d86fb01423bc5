//! Session tests against real ovsdb-server processes: resume after restart, reload,
//! conditional monitoring, garbage servers, fallbacks, the inactivity probe, unknown schema
//! parts.

mod common;
#[path = "common/garbage.rs"]
mod garbage;
#[path = "common/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{init_log, run_until, OvsdbServer, SB_SCHEMA};
use control::{
    Atom, Change, Condition, Event, MonitorMethod, MonitorRequest, Op, Replica, Row, Session,
    SessionConfig, Uuid,
};

const SB: &str = "OVN_Southbound";

fn chassis_names(r: &Replica) -> BTreeSet<String> {
    r.rows("Chassis")
        .map(|(_, row)| row.get_str("name").unwrap().to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn chassis_session(remote: &str) -> Session {
    let mut cfg = SessionConfig::new(
        remote,
        SB,
        vec![
            MonitorRequest::new("Chassis").columns(&["name", "hostname", "encaps", "external_ids"]),
            MonitorRequest::new("Encap").columns(&["type", "ip", "chassis_name"]),
        ],
    )
    .unwrap();
    cfg.backoff_max = Duration::from_millis(400);
    Session::new(cfg)
}

fn connected(events: &[Event]) -> Option<&Event> {
    events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::Connected { .. }))
}

/// Kills and restarts the server under a running session; returns the Connected event of
/// the reconnect and the changes reported after it.
fn restart_cycle(s: &mut OvsdbServer) -> (Event, Vec<(String, Uuid, Change)>) {
    let mut sess = chassis_session(&s.remote());
    run_until(&mut sess, "initial load", |x, _| {
        chassis_names(x.replica()) == names(&["ch1"])
    });
    s.sbctl(&["chassis-add", "ch2", "geneve", "127.0.0.2"]);
    run_until(&mut sess, "ch2", |x, _| {
        chassis_names(x.replica()) == names(&["ch1", "ch2"])
    });
    let _ = sess.take_changes();
    let before_txn = sess.replica().last_txn_id();

    s.stop();
    run_until(&mut sess, "disconnect", |_, ev| {
        ev.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    run_until(&mut sess, "failed reconnect", |_, ev| {
        ev.iter().any(|e| matches!(e, Event::ConnectFailed { .. }))
    });
    assert!(!sess.is_connected());
    // Forwarding state is kept while disconnected.
    assert_eq!(chassis_names(sess.replica()), names(&["ch1", "ch2"]));

    s.start();
    s.sbctl(&["chassis-add", "ch3", "geneve", "127.0.0.3"]);
    let ev = run_until(&mut sess, "reconnect and ch3", |x, ev| {
        connected(ev).is_some() && chassis_names(x.replica()) == names(&["ch1", "ch2", "ch3"])
    });
    let c = connected(&ev).unwrap().clone();
    if let Event::Connected { resumed_from, .. } = &c {
        assert_eq!(*resumed_from, before_txn);
    }
    let encaps: BTreeSet<String> = sess
        .replica()
        .rows("Encap")
        .map(|(_, r)| r.get_str("ip").unwrap().to_string())
        .collect();
    assert_eq!(encaps, names(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]));
    let changes = sess
        .take_changes()
        .into_iter()
        .flat_map(|(t, rows)| rows.into_iter().map(move |(u, c)| (t.clone(), u, c)))
        .collect();
    (c, changes)
}

#[test]
fn restart_resumes_from_last_txn_id_on_clustered_db() {
    init_log();
    let mut s = OvsdbServer::clustered(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    let (c, changes) = restart_cycle(&mut s);
    match c {
        Event::Connected {
            method,
            resumed,
            resumed_from,
            ..
        } => {
            assert_eq!(method, MonitorMethod::CondSince);
            assert!(resumed_from.is_some(), "a clustered db gives txn ids");
            assert!(resumed, "server should have found our last txn id");
        }
        e => panic!("{e:?}"),
    }
    // Only ch3 and its encap changed.
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes.iter().all(|(_, _, c)| *c == Change::Inserted),
        "{changes:?}"
    );
}

#[test]
fn restart_reloads_standalone_db_and_reports_only_differences() {
    init_log();
    let mut s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    let (c, changes) = restart_cycle(&mut s);
    match c {
        Event::Connected {
            resumed,
            resumed_from,
            ..
        } => {
            assert!(!resumed);
            assert_eq!(resumed_from, None, "standalone db has no txn ids");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes.iter().all(|(_, _, c)| *c == Change::Inserted),
        "{changes:?}"
    );
}

#[test]
fn conditional_monitoring_on_port_binding_datapath() {
    init_log();
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let mut cfg = SessionConfig::new(
        &s.remote(),
        SB,
        vec![
            MonitorRequest::new("Datapath_Binding"),
            MonitorRequest::new("Port_Binding")
                .columns(&["logical_port", "datapath", "tunnel_key", "chassis"])
                .conditions(vec![Condition::Const(false)]),
        ],
    )
    .unwrap();
    cfg.backoff_max = Duration::from_millis(400);
    let mut sess = Session::new(cfg);
    run_until(&mut sess, "connect", |x, _| x.is_connected());
    let r = sess
        .transact(vec![
            Op::insert("Datapath_Binding", Row::new().with("tunnel_key", 1i64)).uuid_name("dp1"),
            Op::insert("Datapath_Binding", Row::new().with("tunnel_key", 2i64)).uuid_name("dp2"),
            Op::insert(
                "Port_Binding",
                Row::new()
                    .with("logical_port", "lp1")
                    .with("tunnel_key", 1i64)
                    .with("datapath", Atom::NamedUuid("dp1".into())),
            ),
            Op::insert(
                "Port_Binding",
                Row::new()
                    .with("logical_port", "lp2")
                    .with("tunnel_key", 1i64)
                    .with("datapath", Atom::NamedUuid("dp2".into())),
            ),
        ])
        .unwrap();
    let dp1 = control::ops::inserted_uuid(&r, 0).unwrap();
    let dp2 = control::ops::inserted_uuid(&r, 1).unwrap();
    run_until(&mut sess, "datapaths", |x, _| {
        x.replica().len("Datapath_Binding") == 2
    });
    assert_eq!(
        sess.replica().len("Port_Binding"),
        0,
        "condition false: no port binding"
    );

    let ports = |x: &Session| -> BTreeSet<String> {
        x.replica()
            .rows("Port_Binding")
            .map(|(_, r)| r.get_str("logical_port").unwrap().to_string())
            .collect()
    };
    sess.set_conditions("Port_Binding", Some(vec![Condition::eq("datapath", dp1)]))
        .unwrap();
    run_until(&mut sess, "lp1 only", |x, _| ports(x) == names(&["lp1"]));
    let (_, pb) = sess.replica().rows("Port_Binding").next().unwrap();
    assert_eq!(pb.get_uuid("datapath").unwrap(), dp1);
    assert_eq!(pb.get_opt_uuid("chassis").unwrap(), None);

    sess.set_conditions("Port_Binding", Some(vec![Condition::eq("datapath", dp2)]))
        .unwrap();
    run_until(&mut sess, "lp2 only", |x, _| ports(x) == names(&["lp2"]));
    sess.set_conditions(
        "Port_Binding",
        Some(vec![
            Condition::eq("datapath", dp1),
            Condition::eq("datapath", dp2),
        ]),
    )
    .unwrap();
    run_until(&mut sess, "both", |x, _| ports(x) == names(&["lp1", "lp2"]));
    // A later change to a port outside the condition is not seen; inside it is.
    sess.set_conditions("Port_Binding", Some(vec![Condition::eq("datapath", dp1)]))
        .unwrap();
    run_until(&mut sess, "lp1 again", |x, _| ports(x) == names(&["lp1"]));
    s.sbctl(&["set", "Port_Binding", "lp1", "tunnel_key=5"]);
    run_until(&mut sess, "lp1 tunnel_key", |x, _| {
        x.replica()
            .rows("Port_Binding")
            .any(|(_, r)| r.get_int("tunnel_key").unwrap() == 5)
    });
    assert!(!sess.is_connected() || sess.stats().disconnects == 0);
}

#[test]
fn garbage_server_gives_clear_errors_and_retries() {
    init_log();
    let dir = tempfile::tempdir().unwrap();
    let gsock = dir.path().join("garbage.sock");
    let accepted = garbage::start(&gsock);
    let mut sess = chassis_session(&format!("unix:{}", gsock.display()));
    let ev = run_until(&mut sess, "three failures", |_, ev| {
        ev.iter()
            .filter(|e| matches!(e, Event::ConnectFailed { .. }))
            .count()
            >= 3
    });
    assert!(!sess.is_connected());
    assert!(accepted.load(Ordering::SeqCst) >= 3);
    let reasons: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(reasons[0].contains("invalid JSON"), "{reasons:?}");
    assert!(reasons[1].contains("closed"), "{reasons:?}");
    assert!(reasons[2].contains("not an object"), "{reasons:?}");
    // Backoff grows between attempts.
    let retries: Vec<Duration> = ev
        .iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect();
    assert!(retries.windows(2).all(|w| w[1] >= w[0]), "{retries:?}");
    assert!(retries[1] > retries[0], "{retries:?}");

    // With a real server second in the list, the session gets there.
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    let mut sess = chassis_session(&format!("unix:{},{}", gsock.display(), s.remote()));
    let ev = run_until(&mut sess, "connected to the real server", |x, _| {
        chassis_names(x.replica()) == names(&["ch1"])
    });
    assert!(matches!(ev[0], Event::ConnectFailed { .. }), "{ev:?}");
    assert!(
        matches!(connected(&ev), Some(Event::Connected { remote, .. }) if *remote == s.remote())
    );
}

#[test]
fn falls_back_to_monitor_cond_and_monitor() {
    init_log();
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    for (reject, want) in [
        (&["monitor_cond_since"][..], MonitorMethod::Cond),
        (
            &["monitor_cond_since", "monitor_cond"][..],
            MonitorMethod::Plain,
        ),
    ] {
        let reject: &'static [&'static str] = Box::leak(reject.to_vec().into_boxed_slice());
        let psock = s.dir.path().join(format!("proxy-{}.sock", reject.len()));
        let _p = proxy::Proxy::start(&psock, &s.sock, reject);
        let mut sess = chassis_session(&format!("unix:{}", psock.display()));
        let ev = run_until(&mut sess, "load", |x, _| {
            chassis_names(x.replica()) == names(&["ch1"])
        });
        assert!(
            matches!(connected(&ev), Some(Event::Connected { method, .. }) if *method == want),
            "{ev:?}"
        );
        assert_eq!(sess.method(), Some(want));
        s.sbctl(&[
            "chassis-add",
            &format!("ch{}", reject.len() + 1),
            "geneve",
            "127.0.0.9",
        ]);
        s.sbctl(&["set", "Chassis", "ch1", "external_ids:x=y"]);
        run_until(&mut sess, "update", |x, _| {
            chassis_names(x.replica()).len() == 2
                && x.replica()
                    .rows("Chassis")
                    .any(|(_, r)| r.get_str_map("external_ids").unwrap().get("x") == Some(&"y"))
        });
        s.sbctl(&["chassis-del", &format!("ch{}", reject.len() + 1)]);
        run_until(&mut sess, "delete", |x, _| {
            chassis_names(x.replica()) == names(&["ch1"])
        });
        s.sbctl(&["remove", "Chassis", "ch1", "external_ids", "x"]);
    }
}

#[test]
fn inactivity_probe_detects_a_silent_server() {
    init_log();
    let s = OvsdbServer::standalone(Path::new(SB_SCHEMA));
    let psock = s.dir.path().join("proxy.sock");
    let p = proxy::Proxy::start(&psock, &s.sock, &[]);
    let mut cfg = SessionConfig::new(
        &format!("unix:{}", psock.display()),
        SB,
        vec![MonitorRequest::new("Chassis")],
    )
    .unwrap();
    cfg.probe_interval = Some(Duration::from_millis(200));
    let mut sess = Session::new(cfg);
    run_until(&mut sess, "connect", |x, _| x.is_connected());
    p.silent.store(true, Ordering::SeqCst);
    let ev = run_until(&mut sess, "probe failure", |_, ev| {
        ev.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let reason = ev
        .iter()
        .find_map(|e| match e {
            Event::Disconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("inactivity probe"), "{reason}");
    p.silent.store(false, Ordering::SeqCst);
    run_until(&mut sess, "reconnect", |x, _| x.is_connected());
}

#[test]
fn unknown_schema_parts_are_ignored() {
    init_log();
    // A server schema with an extra table and an extra Chassis column.
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SB_SCHEMA).unwrap()).unwrap();
    schema["tables"]["Chassis"]["columns"]["future_col"] = serde_json::json!({"type": "string"});
    schema["tables"]["Future_Table"] =
        serde_json::json!({"columns": {"x": {"type": "integer"}}, "isRoot": true});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb-extended.ovsschema");
    std::fs::write(&path, schema.to_string()).unwrap();
    let s = OvsdbServer::standalone(&path);
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    // ovn-sbctl knows only its own schema: set the extra column with our client.
    let mut c = control::Connection::connect(
        &control::Remote::parse(&s.remote()).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    c.transact(
        SB,
        vec![Op::update(
            "Chassis",
            vec![Condition::eq("name", "ch1")],
            Row::new().with("future_col", "hello"),
        )],
    )
    .unwrap();

    // We ask for a column and a table the server lacks, plus all columns of Encap.
    let cfg = SessionConfig::new(
        &s.remote(),
        SB,
        vec![
            MonitorRequest::new("Chassis").columns(&["name", "column_from_the_future"]),
            MonitorRequest::new("Table_From_The_Future"),
            MonitorRequest::new("Encap"),
        ],
    )
    .unwrap();
    let mut sess = Session::new(cfg);
    run_until(&mut sess, "load", |x, _| {
        chassis_names(x.replica()) == names(&["ch1"])
    });
    let (_, ch) = sess.replica().rows("Chassis").next().unwrap();
    assert!(ch.get("future_col").is_none(), "not requested");
    assert!(ch.get_str("column_from_the_future").is_err());

    // Monitoring all columns keeps the server's extra column.
    let cfg = SessionConfig::new(&s.remote(), SB, vec![MonitorRequest::new("Chassis")]).unwrap();
    let mut sess = Session::new(cfg);
    run_until(&mut sess, "load all", |x, _| {
        chassis_names(x.replica()) == names(&["ch1"])
    });
    let (_, ch) = sess.replica().rows("Chassis").next().unwrap();
    assert_eq!(ch.get_str("future_col").unwrap(), "hello");
    assert!(sess.replica().rows("Future_Table").next().is_none());
}

#[test]
fn conditions_changed_while_disconnected_reload_instead_of_resume() {
    init_log();
    let mut s = OvsdbServer::clustered(Path::new(SB_SCHEMA));
    s.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"]);
    s.sbctl(&["chassis-add", "ch2", "geneve", "127.0.0.2"]);
    let mut cfg = SessionConfig::new(
        &s.remote(),
        SB,
        vec![MonitorRequest::new("Chassis")
            .columns(&["name"])
            .conditions(vec![Condition::eq("name", "ch1")])],
    )
    .unwrap();
    cfg.backoff_max = Duration::from_millis(400);
    let mut sess = Session::new(cfg);
    run_until(&mut sess, "ch1", |x, _| {
        chassis_names(x.replica()) == names(&["ch1"])
    });
    assert!(sess.replica().last_txn_id().is_some());
    let _ = sess.take_changes();
    s.stop();
    run_until(&mut sess, "disconnect", |x, _| !x.is_connected());
    // ch2 did not change since our last txn id: resuming with the new condition would miss it.
    sess.set_conditions("Chassis", Some(vec![Condition::eq("name", "ch2")]))
        .unwrap();
    assert_eq!(sess.replica().last_txn_id(), None);
    s.start();
    let ev = run_until(&mut sess, "ch2 after reconnect", |x, _| {
        chassis_names(x.replica()) == names(&["ch2"])
    });
    assert!(
        matches!(
            connected(&ev),
            Some(Event::Connected {
                resumed: false,
                resumed_from: None,
                ..
            })
        ),
        "{ev:?}"
    );
    let changes = sess.take_changes();
    assert_eq!(
        changes["Chassis"].len(),
        2,
        "ch1 deleted, ch2 inserted: {changes:?}"
    );
}
