//! Waiting on several OVSDB sessions at once: the daemon follows the local Open_vSwitch DB
//! and the Southbound DB, and must react to whichever speaks first instead of blocking on
//! one while the other's update waits (that wait is pure `--wait=hv` latency).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::session::Session;

/// What a session needs before its next `run_once` has work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitHint {
    /// Work is queued: do not wait.
    Ready,
    /// Wait for this socket to become readable.
    Fd(RawFd),
    /// Not connected: the next connection attempt is due then.
    Until(Instant),
}

/// Blocks until one of `sessions` has something to do or `timeout` passed, and says which
/// have (`true`: call its `run_once` now). Returns at once when one is
/// [`WaitHint::Ready`]. Never fails: a `poll(2)` error wakes every session (each session's
/// own I/O reports real socket errors).
pub fn wait_any(sessions: &[Option<&Session>], timeout: Duration) -> Vec<bool> {
    let now = Instant::now();
    let hints: Vec<Option<WaitHint>> = sessions.iter().map(|s| s.map(Session::wait_hint)).collect();
    let mut ready: Vec<bool> = hints
        .iter()
        .map(|h| match h {
            Some(WaitHint::Ready) => true,
            Some(WaitHint::Until(t)) => *t <= now,
            _ => false,
        })
        .collect();
    if ready.iter().any(|r| *r) {
        return ready;
    }
    let mut deadline = now + timeout;
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(sessions.len());
    let mut owner: Vec<usize> = Vec::with_capacity(sessions.len());
    for (i, h) in hints.iter().enumerate() {
        match h {
            Some(WaitHint::Fd(fd)) => {
                fds.push(libc::pollfd {
                    fd: *fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                owner.push(i);
            }
            Some(WaitHint::Until(t)) => deadline = deadline.min(*t),
            _ => {}
        }
    }
    let wait = deadline.saturating_duration_since(now);
    let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
    if fds.is_empty() {
        std::thread::sleep(wait);
    } else {
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structures that
        // lives for the duration of the call; the fds belong to connections borrowed above.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        for (p, &i) in fds.iter().zip(&owner) {
            ready[i] = n < 0 || p.revents != 0;
        }
    }
    let now = Instant::now();
    for (r, h) in ready.iter_mut().zip(&hints) {
        if let Some(WaitHint::Until(t)) = h {
            *r |= *t <= now;
        }
    }
    ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionConfig;

    #[test]
    fn returns_when_a_session_connects_not_after_the_timeout() {
        // No remote can be reached; the session's next attempt is due now, so waiting
        // must not take the whole (long) timeout.
        let s = Session::new(SessionConfig::new("unix:/nonexistent/sock", "X", vec![]).unwrap());
        assert_eq!(
            wait_any(&[Some(&s), None], Duration::from_secs(30)),
            [true, false]
        );
    }
}
