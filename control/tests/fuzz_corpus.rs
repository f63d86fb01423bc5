//! Replays the fuzz corpus and any saved crash artifacts of the `ovsdb_decode` fuzz target
//! through the decoder on stable Rust: none may panic.

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn replay_ovsdb_decode_corpus_and_artifacts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = files(&root.join("corpus/ovsdb_decode"));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/ovsdb_decode is empty or missing"
    );
    let artifacts = files(&root.join("artifacts/ovsdb_decode"));
    let mut decoded = 0;
    for f in corpus.iter().chain(&artifacts) {
        let data = std::fs::read(f).unwrap();
        decoded += control::jsonrpc::decode_bytes(&data);
    }
    // The seed corpus holds valid messages: some of them must decode.
    assert!(
        decoded >= corpus.len(),
        "only {decoded} messages from {} files",
        corpus.len()
    );
}

#[test]
fn seed_files_decode_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ovsdb_decode");
    let n = |name: &str| control::jsonrpc::decode_bytes(&std::fs::read(dir.join(name)).unwrap());
    assert_eq!(n("update3_insert_modify.json"), 2);
    assert_eq!(n("list_dbs_echo.json"), 2);
    assert_eq!(n("invalid_utf8.bin"), 0);
    assert_eq!(
        n("strings_with_braces.json"),
        0,
        "first value is not a JSON-RPC message"
    );
}
