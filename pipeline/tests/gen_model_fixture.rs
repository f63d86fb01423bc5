//! The compile benchmark's real-topology fixture, `benches/data/100x20.model.gz`: a
//! [`Model`] read from the Southbound DB that a real ovn-northd writes for
//! `bench/topologies/100x20.sh` (one router, 100 switches x 20 ports, port security on
//! every port, one port-group ACL), converted by `control::to_model` exactly as
//! `southpaw compile --db` does. Regenerate (needs ovsdb-server, ovn-northd, ovn-nbctl):
//!
//! ```text
//! cargo test -p pipeline --test gen_model_fixture -- --ignored
//! ```
//!
//! (`SWITCHES`/`PORTS` in the environment change the size; `FIXTURE_OUT` the output path.)
//! A chassis `ch1` advertising what southpaw's chassis advertises is registered first, so
//! northd emits the same flow forms it emits for a southpaw host.

#[path = "exec_model.rs"]
mod exec_model;
#[path = "model_text.rs"]
mod model_text;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use control::{Event, SbSnapshot, Session, SessionConfig};
use testbed::OvnSandbox;

fn read_sb(remote: &str) -> (SbSnapshot, Option<String>) {
    let cfg = SessionConfig::new(remote, "OVN_Southbound", control::sb::monitors("", true))
        .expect("SB session config");
    let mut s = Session::new(cfg);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = Instant::now();
        assert!(now < deadline, "no Southbound contents from {remote}");
        for ev in s.run_once(deadline - now) {
            if let Event::Connected { .. } = ev {
                let snap = SbSnapshot::build(s.replica(), "", None, &BTreeMap::new());
                return (snap, control::to_model::svc_monitor_mac(s.replica()));
            }
        }
    }
}

#[test]
#[ignore = "builds the 100x20 topology with a real ovn-northd; run to regenerate the fixture"]
fn dump_100x20_model() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ovn = OvnSandbox::start().expect("start NB, SB and northd");
    ovn.sbctl(&["chassis-add", "ch1", "geneve", "127.0.0.1"])
        .expect("chassis-add");
    ovn.sbctl(&[
        "set",
        "Chassis",
        "ch1",
        "other_config:port-up-notif=true",
        "other_config:ct-no-masked-label=true",
        "other_config:mac-binding-timestamp=true",
        "other_config:ovn-ct-lb-related=true",
    ])
    .expect("chassis features");
    let mut cmd = ovn.run_dirs().command("sh");
    cmd.arg(repo.join("bench/topologies/100x20.sh")).env(
        "NBCTL",
        format!("ovn-nbctl --db={} --timeout=600", ovn.nb_remote()),
    );
    testbed::proc::run(&mut cmd).expect("topology script");
    ovn.nbctl(&["--timeout=600", "--wait=sb", "sync"])
        .expect("northd sync");

    let (snap, svc) = read_sb(&ovn.sb_remote());
    let model = control::to_model::to_model(&snap, svc.as_deref());
    let text = model_text::write(&model);
    let out = std::env::var_os("FIXTURE_OUT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/100x20.model.gz"),
        PathBuf::from,
    );
    std::fs::create_dir_all(out.parent().expect("output dir")).expect("mkdir");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(text.as_bytes()).expect("gzip");
    std::fs::write(&out, gz.finish().expect("gzip")).expect("write fixture");
    eprintln!(
        "{}: {} datapaths, {} flows, {} ports -> {}",
        out.display(),
        model.datapaths.len(),
        model.flows.len(),
        model.ports.len(),
        text.len()
    );
}

#[test]
fn model_text_round_trips() {
    let mut m = exec_model::router_model(true);
    m.template_vars.insert("A\tB".into(), "x\ny\\".into());
    m.ct_zones.insert("p1".into(), 7);
    if let Some(p) = m.ports.first_mut() {
        p.options.insert("peer".into(), "a\x1fb\x1ec".into());
        p.tag = Some(42);
    }
    let text = model_text::write(&m);
    let back = model_text::read(&text).expect("read back");
    assert_eq!(model_text::write(&back), text);
    assert_eq!(format!("{:?}", back.flows), format!("{:?}", m.flows));
    assert_eq!(format!("{:?}", back.ports), format!("{:?}", m.ports));
    assert_eq!(back.template_vars, m.template_vars);
    assert_eq!(back.ct_zones, m.ct_zones);
}
