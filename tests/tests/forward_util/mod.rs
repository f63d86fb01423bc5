//! Shared by the `forward_*` tests: `southpaw run` as a child process, and a TCP exchange
//! between two containers with python3 one-liners.
#![allow(dead_code)]

use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use testbed::proc::wait_until;
use testbed::Southpaw;
use testbed::{Container, OvsDb};

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `southpaw run` arguments for the forwarding tests: a stats line every second.
pub const STATS: &[&str] = &["--stats-interval", "1"];

const PY: &str = "/usr/bin/python3";

/// Runs a one-shot upper-casing TCP echo server in `server` on `ip:port` and a client in
/// `client` that sends "hello from port0" (retrying while the server is not listening
/// yet); returns the reply.
pub fn python_tcp_exchange(
    server: &Container,
    client: &Container,
    ip: &str,
    port: u16,
) -> Result<String> {
    python_tcp_exchange_to(server, client, (ip, port), (ip, port))
}

/// [`python_tcp_exchange`] with the server listening on `listen` and the client
/// connecting to `connect` (a load-balancer VIP in front of it).
pub fn python_tcp_exchange_to(
    server: &Container,
    client: &Container,
    listen: (&str, u16),
    connect: (&str, u16),
) -> Result<String> {
    let (ip, port) = listen;
    let srv = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{ip}',{port}))\ns.listen(1)\ns.settimeout(20)\nc,_=s.accept()\nc.settimeout(10)\n\
         d=c.recv(100)\nc.sendall(d.upper())\nc.close()\n"
    );
    let mut child = server
        .netns()
        .command(&[PY, "-c", &srv])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start the python server")?;
    let (ip, port) = connect;
    let cli = format!(
        "import socket,time\nend=time.time()+15\nwhile True:\n  try:\n    \
         s=socket.create_connection(('{ip}',{port}),timeout=5)\n    break\n  \
         except ConnectionRefusedError:\n    \
         if time.time()>end: raise\n    time.sleep(0.05)\n\
         s.sendall(b'hello from port0')\nprint(s.recv(100).decode())\n"
    );
    let out = client.netns().exec(&[PY, "-c", &cli]);
    let status = child.wait();
    let out = out.context("run the python client")?;
    if !out.status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!(
            "client failed: {}\nserver: {status:?} {err}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A running test bed: OVN sandbox, private Open_vSwitch DB, `southpaw run` and one
/// container per port of a topology, attached to `br-int`. Fields drop in declaration
/// order: containers first, then southpaw, then the databases.
pub struct Bed {
    pub containers: Vec<Container>,
    pub sp: Southpaw,
    _logdir: tempfile::TempDir,
    pub ovs: OvsDb,
    pub ovn: testbed::OvnSandbox,
}

impl Bed {
    /// Starts everything, writes `topo` to the NB DB, then runs `extra` (load balancers,
    /// ACLs...) and waits until southpaw has caught up (`--wait=hv`).
    pub fn start(
        chassis: &str,
        topo: &testbed::Topology,
        extra: impl FnOnce(&testbed::OvnSandbox),
    ) -> Bed {
        let ovn = testbed::OvnSandbox::start().expect("OVN sandbox");
        let ovs = OvsDb::new().expect("Open_vSwitch DB");
        ovs.set_ovn_host(chassis, &ovn.sb_remote(), "127.0.0.1")
            .expect("set OVN host keys");
        let logdir = tempfile::tempdir().expect("tempdir");
        let sp = Southpaw::start(&ovs, &logdir.path().join("southpaw.log"), STATS);
        ovs.vsctl_wait(&["add-br", "br-int"])
            .unwrap_or_else(|e| panic!("add-br: {e:#}\n{}", sp.log()));
        topo.apply(&ovn, |_| {}).expect("write the topology");
        let mut containers = Vec::new();
        for (_, spec) in topo.ports() {
            let c = Container::create(spec, None).expect("container");
            let args = testbed::ovs::add_port_args("br-int", &c.host().name, c.lport(), &[]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ovs.vsctl_wait(&args)
                .unwrap_or_else(|e| panic!("add-port: {e:#}\n{}", sp.log()));
            containers.push(c);
        }
        extra(&ovn);
        let mut bed = Bed {
            containers,
            sp,
            _logdir: logdir,
            ovs,
            ovn,
        };
        bed.ovn
            .wait_hv()
            .unwrap_or_else(|e| panic!("--wait=hv: {e:#}\n{}", bed.sp.log()));
        bed.sp.check_running();
        bed
    }

    /// The container of logical port `name`.
    pub fn port(&self, name: &str) -> &Container {
        self.containers
            .iter()
            .find(|c| c.lport() == name)
            .unwrap_or_else(|| panic!("no container for port {name}"))
    }

    /// Stops southpaw (asserting a clean exit) and returns its last `stats:` line.
    pub fn finish(&mut self) -> String {
        assert!(
            self.sp.terminate(),
            "southpaw did not exit cleanly:\n{}",
            self.sp.log()
        );
        let log = self.sp.log();
        let stats = log
            .lines()
            .rev()
            .find(|l| l.contains("stats:"))
            .unwrap_or_default()
            .to_string();
        eprintln!("{stats}");
        stats
    }
}

/// A child process (a server in a container), killed and reaped on drop.
pub struct Bg(pub Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `python3 -c script` in `c` in the background.
pub fn python_bg(c: &Container, script: &str) -> Bg {
    Bg(c.netns()
        .command(&[PY, "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3"))
}

/// A TCP server on 0.0.0.0:`port` in `c` that answers each connection with `name` and
/// closes it; returns once it is listening.
pub fn name_server(c: &Container, port: u16, name: &str) -> Bg {
    let script = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',{port}))\ns.listen(64)\nwhile True:\n  c,_=s.accept()\n  \
         c.sendall(b'{name}')\n  c.close()\n"
    );
    let bg = python_bg(c, &script);
    wait_listening(c, port);
    bg
}

/// Waits until something in `c` listens on TCP `port`.
pub fn wait_listening(c: &Container, port: u16) {
    let want = format!(":{port} ");
    wait_until("a TCP listener", TIMEOUT, || {
        let out = c.netns().run(&["ss", "-Hltn"])?;
        Ok(out.lines().any(|l| l.contains(&want)).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#} on port {port} in {}", c.lport()));
}

/// Opens `n` TCP connections from `c` to `ip:port`, from source ports `base..base+n`,
/// reads each reply to EOF; returns `(reply, peer address)` per connection, or
/// `("ERR <error>", "")` for one that failed.
pub fn tcp_replies(
    c: &Container,
    ip: &str,
    port: u16,
    n: u16,
    base: u16,
) -> Result<Vec<(String, String)>> {
    let script = format!(
        "import socket\nfor i in range({n}):\n  s=socket.socket()\n  \
         s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n  s.settimeout(5)\n  \
         try:\n    s.bind(('0.0.0.0',{base}+i))\n    s.connect(('{ip}',{port}))\n    \
         peer=s.getpeername()[0]\n    d=b''\n    while True:\n      b=s.recv(100)\n      \
         if not b: break\n      d+=b\n    print(d.decode(),peer)\n  \
         except Exception as e:\n    print('ERR',type(e).__name__)\n  s.close()\n"
    );
    let out = c.netns().exec(&[PY, "-c", &script])?;
    if !out.status.success() {
        bail!("client: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let a = it.next().unwrap_or_default().to_string();
            let b = it.next().unwrap_or_default().to_string();
            if a == "ERR" {
                (format!("ERR {b}"), String::new())
            } else {
                (a, b)
            }
        })
        .collect())
}

/// Helpers of the `forward_flood`, `forward_change` and `forward_identical` tests.
impl Bed {
    /// `ovn-nbctl --wait=hv args...`.
    pub fn nbctl_wait_hv(&self, args: &[&str]) {
        let mut all = vec!["--wait=hv"];
        all.extend_from_slice(args);
        self.ovn
            .nbctl(&all)
            .unwrap_or_else(|e| panic!("ovn-nbctl {args:?}: {e:#}\n{}", self.sp.log()));
    }

    /// Waits for a stats line (southpaw prints one a second) for which `ok` holds.
    pub fn stats_line(&self, ok: impl Fn(&str) -> bool) -> Option<String> {
        self.sp.wait_log_line("stats:", TIMEOUT, ok)
    }
}

/// The payload tag that marks test frames, and the tag of the frame that ends a capture.
pub const MAGIC: &str = "SPTEST";
pub const END: &str = "SPEND";

/// A python3 AF_PACKET receiver on a container's `eth0`: keeps incoming (not outgoing)
/// frames for which the python expression `filter` over `d` (bytes) holds, and stops at the
/// first frame containing [`END`], after `count` kept frames, or when nothing arrived for
/// 10 s.
pub struct Capture {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Capture {
    /// Starts the receiver and returns once its socket is bound.
    pub fn start(c: &Container, filter: &str, count: usize) -> Capture {
        let script = format!(
            "import socket,sys\n\
             s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\n\
             s.bind(('eth0',0))\ns.settimeout(10)\nprint('ready',flush=True)\nn=0\n\
             while n<{count}:\n  try:\n    d,a=s.recvfrom(65535)\n  \
             except socket.timeout:\n    print('timeout',flush=True)\n    break\n  \
             if a[2]==socket.PACKET_OUTGOING: continue\n  \
             if {filter}:\n    print(d.hex(),flush=True)\n    n+=1\n  \
             if b'{END}' in d: break\n"
        );
        let mut child = c
            .netns()
            .command(&[PY, "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the python receiver");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        use std::io::BufRead;
        out.read_line(&mut first).expect("read the receiver");
        assert_eq!(
            first.trim(),
            "ready",
            "receiver in {} did not start",
            c.lport()
        );
        Capture { child, out }
    }

    /// Waits for the receiver to stop; the kept frames in arrival order.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        use std::io::BufRead;
        let mut frames = Vec::new();
        for line in (&mut self.out).lines() {
            let line = line.expect("read the receiver");
            if line == "timeout" {
                continue;
            }
            frames.push(hex_decode(&line));
        }
        let _ = self.child.wait();
        frames
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from the receiver"))
        .collect()
}

/// Sends frames built by scapy expressions (`Ether(...)/IP(...)/...`, `from scapy.all import *`
/// in scope) out of a container's `eth0` through a raw socket, in order.
pub fn send_scapy(c: &Container, frames: &[String]) {
    let script = format!(
        "import socket\nfrom scapy.all import *\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('eth0',0))\n\
         for p in [{}]:\n  s.send(bytes(p))\n",
        frames.join(",\n")
    );
    let out = c
        .netns()
        .exec(&[PY, "-c", &script])
        .expect("run the python sender");
    assert!(
        out.status.success(),
        "sender in {} failed: {}",
        c.lport(),
        String::from_utf8_lossy(&out.stderr)
    );
}
