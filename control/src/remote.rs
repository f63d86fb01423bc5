//! OVSDB remotes: `unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT` and comma separated lists.
//!
//! The syntax follows ovsdb-server(1) and ovn-controller's `ovn-remote`: the port defaults to
//! 6640, IPv6 addresses are written in brackets (`tcp:[::1]:6641`). Passive remotes
//! (`punix:`, `ptcp:`, `pssl:`) are for servers and are rejected. `ssl:` parses but connecting
//! fails with a clear "ssl not supported yet" error.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default OVSDB port (IANA).
pub const DEFAULT_PORT: u16 = 6640;

/// One active OVSDB remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// `unix:PATH`
    Unix(PathBuf),
    /// `tcp:HOST:PORT`; HOST is an IP literal or a name resolved at connect time.
    Tcp { host: String, port: u16 },
    /// `ssl:HOST:PORT` (parsed, not supported yet).
    Ssl { host: String, port: u16 },
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hostport = |f: &mut fmt::Formatter<'_>, scheme: &str, host: &str, port: u16| {
            if host.contains(':') {
                write!(f, "{scheme}:[{host}]:{port}")
            } else {
                write!(f, "{scheme}:{host}:{port}")
            }
        };
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp { host, port } => hostport(f, "tcp", host, *port),
            Remote::Ssl { host, port } => hostport(f, "ssl", host, *port),
        }
    }
}

fn err(remote: &str, reason: impl Into<String>) -> Error {
    Error::Remote {
        remote: remote.to_string(),
        reason: reason.into(),
    }
}

/// Splits `HOST[:PORT]` where HOST may be `[v6]`.
fn parse_host_port(full: &str, rest: &str) -> Result<(String, u16)> {
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let end = after
            .find(']')
            .ok_or_else(|| err(full, "missing ']' after IPv6 address"))?;
        let host = &after[..end];
        let tail = &after[end + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(err(full, "unexpected text after ']'")),
        };
        (host, port)
    } else if rest.matches(':').count() > 1 {
        // A bare IPv6 address without brackets: no port can be given.
        (rest, None)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(err(full, "empty host"));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| err(full, format!("invalid port {p:?}")))?,
    };
    if rest.starts_with('[') && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(err(full, format!("invalid IPv6 address {host:?}")));
    }
    Ok((host.to_string(), port))
}

impl Remote {
    /// Parses one remote.
    pub fn parse(s: &str) -> Result<Remote> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| err(s, "expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"))?;
        match scheme {
            "unix" => {
                if rest.is_empty() {
                    return Err(err(s, "empty socket path"));
                }
                Ok(Remote::Unix(PathBuf::from(rest)))
            }
            "tcp" => {
                let (host, port) = parse_host_port(s, rest)?;
                Ok(Remote::Tcp { host, port })
            }
            "ssl" => {
                let (host, port) = parse_host_port(s, rest)?;
                Ok(Remote::Ssl { host, port })
            }
            "punix" | "ptcp" | "pssl" => Err(err(
                s,
                "passive remotes (punix:, ptcp:, pssl:) are for servers; a client needs unix:, tcp: or ssl:",
            )),
            other => Err(err(s, format!("unknown remote type {other:?}"))),
        }
    }

    /// Parses a comma separated list of remotes (as in `ovn-remote`). Empty items are skipped;
    /// an empty list is an error.
    pub fn parse_list(s: &str) -> Result<Vec<Remote>> {
        let remotes = s
            .split(',')
            .filter(|item| !item.trim().is_empty())
            .map(Remote::parse)
            .collect::<Result<Vec<_>>>()?;
        if remotes.is_empty() {
            return Err(err(s, "no remote given"));
        }
        Ok(remotes)
    }

    /// Connects with a timeout (TCP connect timeout; unix connects are immediate).
    pub fn connect(&self, timeout: Duration) -> Result<Stream> {
        let ctx = || format!("connecting to {self}");
        match self {
            Remote::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(|e| Error::io(ctx(), e)),
            Remote::Tcp { host, port } => {
                let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                    Ok(ip) => vec![SocketAddr::new(ip, *port)],
                    Err(_) => (host.as_str(), *port)
                        .to_socket_addrs()
                        .map_err(|e| Error::io(format!("resolving {host}"), e))?
                        .collect(),
                };
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            // Small messages (echo, monitor_cond_change) must not wait.
                            let _ = s.set_nodelay(true);
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(Error::io(ctx(), last))
            }
            Remote::Ssl { .. } => Err(err(&self.to_string(), "ssl not supported yet")),
        }
    }
}

/// A connected byte stream to an OVSDB server.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Sets the read timeout (`None` blocks forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    /// Sets the write timeout (`None` blocks forever).
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
        }
    }
}

impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_tcp() {
        assert_eq!(
            Remote::parse("unix:/run/ovn/ovnsb_db.sock").unwrap(),
            Remote::Unix("/run/ovn/ovnsb_db.sock".into())
        );
        assert_eq!(
            Remote::parse("tcp:127.0.0.1:6642").unwrap(),
            Remote::Tcp {
                host: "127.0.0.1".into(),
                port: 6642
            }
        );
        assert_eq!(
            Remote::parse("tcp:[::1]:6641").unwrap(),
            Remote::Tcp {
                host: "::1".into(),
                port: 6641
            }
        );
        assert_eq!(
            Remote::parse("tcp:10.0.0.1").unwrap(),
            Remote::Tcp {
                host: "10.0.0.1".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            Remote::parse("tcp:[::1]:6641").unwrap().to_string(),
            "tcp:[::1]:6641"
        );
    }

    #[test]
    fn ssl_parses_but_does_not_connect() {
        let r = Remote::parse("ssl:192.0.2.1:6642").unwrap();
        let e = r.connect(Duration::from_millis(10)).unwrap_err();
        assert!(e.to_string().contains("ssl not supported yet"), "{e}");
    }

    #[test]
    fn rejects_passive_and_garbage() {
        for bad in [
            "punix:/tmp/x",
            "ptcp:6640",
            "pssl:6640",
            "foo:bar",
            "tcp:",
            "unix:",
            "tcp:1.2.3.4:99999",
            "tcp:[::1",
            "nocolon",
        ] {
            let e = Remote::parse(bad).unwrap_err();
            assert!(matches!(e, Error::Remote { .. }), "{bad}: {e}");
        }
        assert!(Remote::parse("ptcp:6640")
            .unwrap_err()
            .to_string()
            .contains("passive"));
    }

    #[test]
    fn parses_lists() {
        let l = Remote::parse_list("tcp:127.0.0.1:6642, unix:/x ,tcp:[::1]:6642").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], Remote::Unix("/x".into()));
        assert!(Remote::parse_list(" , ").is_err());
        assert!(Remote::parse_list("tcp:1.2.3.4:1,ptcp:1").is_err());
    }
}
