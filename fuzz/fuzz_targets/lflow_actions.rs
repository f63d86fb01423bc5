//! Fuzzes the Logical_Flow `actions` parser: any input must give `Ok` or `Err`, never a
//! panic; printing a parsed program must give text that parses back to the same program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SYMTAB: OnceLock<pipeline::Symtab> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = SYMTAB.get_or_init(pipeline::Symtab::ovn);
    if let Ok(a) = pipeline::parse_actions(text, t) {
        let _ = pipeline::action_prereqs(&a, t);
        let printed = pipeline::actions_display(&a, t).to_string();
        let again = pipeline::parse_actions(&printed, t);
        assert_eq!(again.as_ref(), Ok(&a), "{text:?} printed as {printed:?}");
    }
});
