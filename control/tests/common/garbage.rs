//! Test helper: a unix socket server that answers every connection with garbage bytes.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Starts the garbage server; returns a counter of accepted connections.
pub fn start(sock: &Path) -> Arc<AtomicU64> {
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).expect("bind garbage server");
    let accepted = Arc::new(AtomicU64::new(0));
    let a2 = accepted.clone();
    std::thread::spawn(move || {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let n = a2.fetch_add(1, Ordering::SeqCst);
            // Alternate: random bytes; a truncated JSON value; valid JSON that is no message.
            let bytes: Vec<u8> = match n % 3 {
                0 => (0..4096)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 24) as u8 | 0x80
                    })
                    .collect(),
                1 => br#"{"id":1,"result":{"name":"OVN_Southbound","tables":{"#.to_vec(),
                _ => br#"[1,2,3]{"id":1}"#.to_vec(),
            };
            // Read the client's first request so that closing does not reset the connection.
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let _ = conn.write_all(&bytes);
            // Dropping the connection closes it.
        }
    });
    accepted
}
