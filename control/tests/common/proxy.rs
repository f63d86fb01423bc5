//! Test helper: a JSON-RPC proxy in front of a real ovsdb-server that can pretend methods are
//! unknown (to exercise fallbacks) and can go silent (to exercise the inactivity probe).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use control::jsonrpc::{Decoder, Message};
use serde_json::json;

pub struct Proxy {
    /// While set, nothing is forwarded in either direction and echo requests go unanswered.
    pub silent: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on `sock`, forwards to the unix socket `server`, answers the methods in
    /// `reject` with the "unknown method" error ovsdb-server gives.
    pub fn start(sock: &Path, server: &Path, reject: &'static [&'static str]) -> Proxy {
        let _ = std::fs::remove_file(sock);
        let listener = UnixListener::bind(sock).expect("bind proxy");
        let silent = Arc::new(AtomicBool::new(false));
        let server = server.to_path_buf();
        let s2 = silent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(upstream) = UnixStream::connect(&server) else {
                    continue;
                };
                let silent = s2.clone();
                std::thread::spawn(move || serve(client, upstream, reject, silent));
            }
        });
        Proxy { silent }
    }
}

fn serve(
    client: UnixStream,
    upstream: UnixStream,
    reject: &'static [&'static str],
    silent: Arc<AtomicBool>,
) {
    let client_w = Arc::new(Mutex::new(client.try_clone().expect("clone")));
    let mut up_w = upstream.try_clone().expect("clone");
    // upstream -> client
    let cw = client_w.clone();
    let silent2 = silent.clone();
    let mut up_r = upstream;
    std::thread::spawn(move || {
        let mut dec = Decoder::default();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = match up_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.feed(&buf[..n]);
            while let Ok(Some(m)) = dec.next_message() {
                if silent2.load(Ordering::SeqCst) {
                    continue;
                }
                if cw.lock().unwrap().write_all(&m.to_bytes()).is_err() {
                    return;
                }
            }
        }
        let _ = cw.lock().unwrap().shutdown(std::net::Shutdown::Both);
    });
    // client -> upstream
    let mut client_r = client;
    let mut dec = Decoder::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match client_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        dec.feed(&buf[..n]);
        while let Ok(Some(m)) = dec.next_message() {
            if silent.load(Ordering::SeqCst) {
                continue;
            }
            if let Message::Request { method, id, .. } = &m {
                if reject.contains(&method.as_str()) {
                    let reply = Message::Response {
                        id: id.clone(),
                        result: Err(json!("unknown method")),
                    };
                    if client_w
                        .lock()
                        .unwrap()
                        .write_all(&reply.to_bytes())
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
            }
            if up_w.write_all(&m.to_bytes()).is_err() {
                return;
            }
        }
    }
    let _ = up_w.shutdown(std::net::Shutdown::Both);
}
