//! Unique names for namespaces, links and temporary directories, and removal of the ones a
//! killed run left behind.
//!
//! Names carry the pid of the process that created them: `sp-<pid base36>-<counter
//! base36><role>` (at most 15 bytes, the Linux interface name limit) and
//! `/tmp/southpaw-<pid>-<kind>-XXXXXX`. A process-wide counter makes them unique between
//! threads, the pid between processes. At first use in a process, [`clean_stale`] removes
//! every such namespace, root-namespace link and directory whose pid is no longer alive; an
//! entry of a live process (a test running in parallel) is never touched.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use anyhow::{Context, Result};

use crate::proc::{pid_alive, run_args};

/// Prefix of every namespace and link this crate creates.
pub const PREFIX: &str = "sp-";
/// Prefix of every temporary directory this crate creates.
pub const DIR_PREFIX: &str = "southpaw-";
/// Linux `IFNAMSIZ - 1`.
pub const IFNAME_MAX: usize = 15;

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEAN: Once = Once::new();

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A fresh name `sp-<pid>-<n><role>`, truncating `role` so that the name fits in 15 bytes.
/// Runs [`clean_stale`] the first time it is called in this process.
pub fn unique_name(role: &str) -> String {
    CLEAN.call_once(|| {
        if let Err(e) = clean_stale() {
            log::warn!("removing stale namespaces/links: {e:#}");
        }
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    name_for(std::process::id(), n, role)
}

fn name_for(pid: u32, n: u32, role: &str) -> String {
    let mut name = format!("{PREFIX}{}-{}", base36(pid), base36(n));
    let room = IFNAME_MAX.saturating_sub(name.len());
    name.extend(
        role.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(room),
    );
    name
}

/// The creating pid encoded in a name made by [`unique_name`], if it is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, tail) = rest.split_once('-')?;
    if pid.is_empty() || tail.is_empty() {
        return None;
    }
    u32::from_str_radix(pid, 36).ok()
}

/// A fresh temporary directory `/tmp/southpaw-<pid>-<kind>-XXXXXX`, removed when the
/// returned value drops.
pub fn temp_dir(kind: &str) -> Result<tempfile::TempDir> {
    CLEAN.call_once(|| {
        if let Err(e) = clean_stale() {
            log::warn!("removing stale namespaces/links: {e:#}");
        }
    });
    tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-{kind}-", std::process::id()))
        .tempdir()
        .context("create temporary directory")
}

fn dir_owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(DIR_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Removes namespaces, root-namespace links and temporary directories created by processes
/// that are no longer alive. Safe to run while other processes use theirs.
pub fn clean_stale() -> Result<()> {
    let mut errors = Vec::new();
    let netns = run_args("ip", &["netns", "list"])?;
    for line in netns.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if owner_pid(name).is_some_and(|p| !pid_alive(p)) {
            log::info!("removing stale namespace {name}");
            // Another process may be removing it at the same time.
            if let Err(e) = run_args("ip", &["netns", "del", name]) {
                if Path::new("/run/netns").join(name).exists() {
                    errors.push(format!("{e:#}"));
                }
            }
        }
    }
    let links = run_args("ip", &["-o", "link", "show"])?;
    for name in link_names(&links) {
        if owner_pid(&name).is_some_and(|p| !pid_alive(p)) {
            log::info!("removing stale link {name}");
            // The peer of a veth goes with it, so the second end may already be gone.
            if let Err(e) = run_args("ip", &["link", "del", &name]) {
                if link_exists(&name) {
                    errors.push(format!("{e:#}"));
                }
            }
        }
    }
    clean_stale_dirs(&std::env::temp_dir());
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", errors.join("; "))
    }
}

fn clean_stale_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if dir_owner_pid(&name).is_some_and(|p| !pid_alive(p)) {
            log::info!("removing stale directory {}", e.path().display());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Interface names from `ip -o link show` output (`3: name@peer: <...>`).
fn link_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let name = l.split(": ").nth(1)?;
            Some(name.split('@').next().unwrap_or(name).to_string())
        })
        .collect()
}

fn link_exists(name: &str) -> bool {
    run_args("ip", &["link", "show", "dev", name]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_roundtrip() {
        let name = name_for(4_194_304, 46_655, "container");
        assert!(name.len() <= IFNAME_MAX, "{name}");
        assert_eq!(owner_pid(&name), Some(4_194_304));
        let short = name_for(7, 0, "c");
        assert_eq!(short, "sp-7-0c");
        assert_eq!(owner_pid(&short), Some(7));
    }

    #[test]
    fn foreign_names_have_no_owner() {
        for n in ["eth0", "sp-", "sp-abc", "spare-1", "sp--x", "sp-!!-1", "lo"] {
            assert_eq!(owner_pid(n), None, "{n}");
        }
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("x");
        let b = unique_name("x");
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a), Some(std::process::id()));
    }

    #[test]
    fn parses_ip_link_output() {
        let text = "1: lo: <LOOPBACK,UP> mtu 65536\n7: sp-1a-3b@sp-1a-3c: <BROADCAST> mtu 1500\n";
        assert_eq!(link_names(text), vec!["lo", "sp-1a-3b"]);
    }

    #[test]
    fn stale_dirs_of_dead_pids_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22, so this pid never exists.
        let dead = tmp.path().join("southpaw-99999999-x-abc");
        let alive = tmp
            .path()
            .join(format!("southpaw-{}-x-abc", std::process::id()));
        std::fs::create_dir(&dead).unwrap();
        std::fs::create_dir(&alive).unwrap();
        clean_stale_dirs(tmp.path());
        assert!(!dead.exists());
        assert!(alive.exists());
    }
}
