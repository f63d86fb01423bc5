//! Fuzzes the Logical_Flow `match` parser: any input must give `Ok` or `Err`, never a
//! panic; a parsed expression must survive `annotate`, and printing it must give text
//! that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SYMTAB: OnceLock<pipeline::Symtab> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = SYMTAB.get_or_init(pipeline::Symtab::ovn);
    if let Ok(e) = pipeline::parse_match(text, t) {
        let _ = e.annotate(t);
        let printed = e.display(t).to_string();
        let again = pipeline::parse_match(&printed, t);
        assert_eq!(again.as_ref(), Ok(&e), "{text:?} printed as {printed:?}");
    }
});
