//! `southpaw sandbox` end to end: it prints the flow counts per datapath, its forwarding
//! demo pings (same switch and across the router) lose nothing, and it leaves no process,
//! namespace, veth or directory behind, after `--exit-after-setup` and after SIGTERM.
//!
//! This runs the built binary: `cargo build --bin southpaw` first (same target dir), or set
//! `SOUTHPAW_BIN=/path/to/southpaw`. The test fails with that hint if it cannot find it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use testbed::names::{owner_pid, DIR_PREFIX};
use testbed::netns::list_netns;
use testbed::skip_unless_root;
use testbed::southpaw_bin;

/// Asserts nothing created by process `pid` is left: namespaces, root links, temp
/// directories, or processes whose command line names its directories.
fn assert_nothing_left(pid: u32) {
    let ours = |name: &str| owner_pid(name) == Some(pid);
    let ns: Vec<String> = list_netns()
        .unwrap()
        .into_iter()
        .filter(|n| ours(n))
        .collect();
    assert!(ns.is_empty(), "namespaces left: {ns:?}");
    let links = testbed::proc::run_args("ip", &["-o", "link", "show"]).unwrap();
    let left: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| ours(n))
        .collect();
    assert!(left.is_empty(), "links left: {left:?}");
    let tag = format!("{DIR_PREFIX}{pid}-");
    let dirs: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&tag))
        .collect();
    assert!(dirs.is_empty(), "directories left: {dirs:?}");
    let procs = processes_naming(&tag);
    assert!(procs.is_empty(), "processes left: {procs:?}");
}

/// Command lines of running processes that contain `tag`.
fn processes_naming(tag: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(tag))
        .collect()
}

fn assert_flow_counts(stdout: &str) {
    for dp in ["ls0", "ls1", "lr0"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("datapath {dp}:")))
            .unwrap_or_else(|| panic!("no flow count for {dp} in:\n{stdout}"));
        let n: usize = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad count line {line:?}"));
        assert!(n > 0, "{line}");
    }
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(stdout.contains("control socket: "), "{stdout}");
}

/// The forwarding demo: `ping -c 2` from c0-0 to each of `dsts` answered every packet.
fn assert_demo_pings(stdout: &str, dsts: &[&str]) {
    for dst in dsts {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("ping c0-0 -> {dst} ")))
            .unwrap_or_else(|| panic!("no demo ping to {dst} in:\n{stdout}"));
        assert!(line.contains("2 sent, 2 received, 0% loss"), "{line}");
    }
}

#[test]
fn exit_after_setup_prints_flow_counts_and_cleans_up() {
    skip_unless_root!();
    let child = Command::new(southpaw_bin())
        .args(["sandbox", "--exit-after-setup"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run southpaw");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "southpaw sandbox failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_flow_counts(&stdout);
    assert_demo_pings(&stdout, &["c0-1", "c1-0"]);
    assert!(stdout.contains("c1-1 on ls1"), "{stdout}");
    assert!(stdout.contains("torn down"), "{stdout}");
    assert_nothing_left(pid);
}

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// Starts `southpaw sandbox` and reads its output until it waits for Ctrl-C.
fn start_waiting_sandbox() -> (std::process::Child, Lines) {
    let mut child = Command::new(southpaw_bin())
        .args(["sandbox", "--containers", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run southpaw");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    assert!(
        seen.contains("Press Ctrl-C"),
        "sandbox ended early:\n{seen}"
    );
    assert_flow_counts(&seen);
    // One container per switch: only the ping across the router.
    assert_demo_pings(&seen, &["c1-0"]);
    (child, lines)
}

#[test]
fn sigterm_tears_down() {
    skip_unless_root!();
    let (mut child, lines) = start_waiting_sandbox();
    let pid = child.id();
    // SAFETY: kill() on our own unreaped child's pid.
    let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        rest.iter().any(|l| l.contains("torn down (signal)")),
        "{rest:?}"
    );
    assert_nothing_left(pid);
}

/// SIGKILL leaves no chance to tear down: the daemons die with their parent
/// (`PR_SET_PDEATHSIG`), and the next run removes the namespaces, veths and directories.
#[test]
fn sigkill_leftovers_are_removed_by_the_next_run() {
    skip_unless_root!();
    let (mut child, _lines) = start_waiting_sandbox();
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let tag = format!("{DIR_PREFIX}{pid}-");
    testbed::proc::wait_until(
        "the killed sandbox's daemons to exit",
        std::time::Duration::from_secs(30),
        || Ok(processes_naming(&tag).is_empty().then_some(())),
    )
    .unwrap();
    // Normally the namespaces are still there; a cleanup by another process running in
    // parallel may have removed them already, which is just as good.
    let ours = |n: &String| owner_pid(n) == Some(pid);
    if !list_netns().unwrap().iter().any(ours) {
        eprintln!("note: leftovers of {pid} were already removed by another process");
    }

    let out = Command::new(southpaw_bin())
        .args(["sandbox", "--exit-after-setup", "--containers", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_nothing_left(pid);
}
