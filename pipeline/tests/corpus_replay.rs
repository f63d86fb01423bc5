//! Replays the fuzz corpora and any saved fuzz artifacts (crashes, timeouts) for the
//! logical-flow parsers: every file under ../fuzz/corpus/lflow_*/ and
//! ../fuzz/artifacts/lflow_*/ must parse to `Ok` or `Err` without panicking.

use pipeline::{parse_actions, parse_match, Symtab};
use std::path::{Path, PathBuf};

fn files_under(kind: &str) -> Vec<(String, PathBuf)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for top in [kind, "artifacts"] {
        let dir = if top == kind {
            fuzz.join("corpus")
        } else {
            fuzz.join("artifacts")
        };
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for target in rd.flatten() {
            let name = target.file_name().to_string_lossy().into_owned();
            if !name.starts_with("lflow_") {
                continue;
            }
            let Ok(files) = std::fs::read_dir(target.path()) else {
                continue;
            };
            for f in files.flatten() {
                out.push((name.clone(), f.path()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn fuzz_corpora_and_artifacts_do_not_panic() {
    let t = Symtab::ovn();
    let files = files_under("corpus");
    let (mut matches, mut actions) = (0, 0);
    for (target, path) in &files {
        let bytes = std::fs::read(path).expect("corpus file readable");
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // Feed both parsers either way: a crash input for one is a fine input for the other.
        let m = parse_match(text, &t);
        if let Ok(e) = &m {
            let _ = e.annotate(&t);
        }
        let a = parse_actions(text, &t);
        match target.as_str() {
            "lflow_match" => {
                matches += 1;
                // Seeds are real northd texts: they must be accepted.
                if path.components().any(|c| c.as_os_str() == "corpus") {
                    assert!(m.is_ok(), "{}: {:?}", path.display(), m.err());
                }
            }
            "lflow_actions" => {
                actions += 1;
                if path.components().any(|c| c.as_os_str() == "corpus") {
                    assert!(a.is_ok(), "{}: {:?}", path.display(), a.err());
                }
            }
            _ => {}
        }
    }
    assert!(
        matches >= 20 && actions >= 20,
        "corpora too small: {matches} match, {actions} actions"
    );
}
