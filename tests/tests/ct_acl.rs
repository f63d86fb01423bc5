//! Issue 6, stateful ACLs through southpaw's conntrack: seed 004 (`ls0`, `port0`,
//! `port1`) with `to-lport` ACLs on `port1`: TCP to 7777 `allow-related`, any other IPv4
//! to `port1` dropped.
//!
//! - A TCP connection from port0 to port1:7777 carries data both ways (port1's replies
//!   pass as established), stays open while an unrelated ACL is added
//!   (`--wait=hv acl-add`, so southpaw recompiles), and still carries data after.
//! - A new connection in the denied direction (port0 to port1:8888, where port1 listens)
//!   never completes.
//!
//! Runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN`. Needs root.

#[path = "forward_util/mod.rs"]
mod forward_util;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use forward_util::{python_bg, wait_listening, Bed, Bg};
use testbed::{skip_unless_root, Topology};

const CHASSIS: &str = "southpaw-hv";

#[test]
fn established_tcp_survives_an_acl_change_and_denied_direction_is_dropped() {
    skip_unless_root!();
    let topo = Topology::seed004();
    let mut bed = Bed::start(CHASSIS, &topo, |ovn| {
        ovn.nbctl(&[
            "acl-add",
            "ls0",
            "to-lport",
            "1000",
            "outport == \"port1\" && tcp.dst == 7777",
            "allow-related",
        ])
        .unwrap();
        ovn.nbctl(&[
            "acl-add",
            "ls0",
            "to-lport",
            "900",
            "outport == \"port1\" && ip4",
            "drop",
        ])
        .unwrap();
    });
    let server_ip = topo.switches[0].ports[1].ip().to_string();

    // port1: an upper-casing echo server on 7777 (one connection, many messages), and a
    // listener on 8888 that the drop ACL hides.
    let _echo = python_bg(
        bed.port("port1"),
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',7777))\ns.listen(1)\nc,_=s.accept()\nwhile True:\n  d=c.recv(100)\n  \
         if not d: break\n  c.sendall(d.upper())\n",
    );
    let _hidden = python_bg(
        bed.port("port1"),
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',8888))\ns.listen(1)\nwhile True: s.accept()[0].close()\n",
    );
    wait_listening(bed.port("port1"), 7777);
    wait_listening(bed.port("port1"), 8888);

    // port0: sends "one", prints the answer, waits for a line on stdin, sends "two".
    let client = format!(
        "import socket,sys\ns=socket.create_connection(('{server_ip}',7777),timeout=10)\n\
         s.settimeout(10)\ns.sendall(b'one')\nprint(s.recv(100).decode(),flush=True)\n\
         sys.stdin.readline()\ns.sendall(b'two')\nprint(s.recv(100).decode(),flush=True)\n"
    );
    let mut child = Bg(bed
        .port("port0")
        .netns()
        .command(&["/usr/bin/python3", "-c", &client])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the client"));
    let mut out = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first reply");
    assert_eq!(
        line.trim(),
        "ONE",
        "no answer through allow-related:\n{}",
        bed.sp.log()
    );

    // An unrelated ACL while the connection is open; --wait=hv: southpaw has it.
    bed.ovn
        .nbctl(&[
            "--wait=hv",
            "acl-add",
            "ls0",
            "to-lport",
            "800",
            "outport == \"port1\" && udp.dst == 9999",
            "drop",
        ])
        .unwrap_or_else(|e| panic!("acl-add: {e:#}\n{}", bed.sp.log()));
    bed.sp.check_running();

    let mut stdin = child.0.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("signal the client");
    line.clear();
    out.read_line(&mut line).expect("second reply");
    assert_eq!(
        line.trim(),
        "TWO",
        "the established stream stopped after the ACL change:\n{}",
        bed.sp.log()
    );
    let status = child.0.wait().expect("client exit");
    assert!(status.success(), "client failed: {status}");

    // The denied direction: port1 listens on 8888, but the SYN must not reach it.
    let denied = bed
        .port("port0")
        .netns()
        .exec(&[
            "/usr/bin/python3",
            "-c",
            &format!(
                "import socket\ntry:\n  socket.create_connection(('{server_ip}',8888),timeout=3)\n  \
                 print('connected')\nexcept OSError as e:\n  print('failed',type(e).__name__)\n"
            ),
        ])
        .expect("run the denied client");
    let denied = String::from_utf8_lossy(&denied.stdout);
    assert!(
        denied.starts_with("failed"),
        "a new connection to port1:8888 passed the drop ACL: {denied}"
    );

    let stats = bed.finish();
    assert!(stats.contains("drop:end-of-actions="), "{stats}");
}
