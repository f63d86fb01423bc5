//! Build script: compiles the XDP program in `datapath/ebpf` (nightly, `bpfel-unknown-none`,
//! `bpf-linker`) into OUT_DIR and exports its path as `SOUTHPAW_XDP_OBJ`, which
//! `src/xdp.rs` embeds with `include_bytes_aligned!`. No object file is ever committed.
//!
//! The inner cargo runs with a clean environment: variables the outer cargo sets for
//! build scripts (RUSTC, RUSTFLAGS, CARGO_TARGET_DIR, CARGO_BUILD_TARGET, ...) would
//! otherwise point the nightly BPF build at the host's stable compiler or target.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

const HINT: &str = "run scripts/install-deps (it installs the nightly toolchain with rust-src \
                    and bpf-linker built against LLVM 22)";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ebpf_dir = manifest_dir.join("ebpf");
    for p in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", ebpf_dir.join(p).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = out_dir.join("ebpf-target");

    // The nightly toolchain to build with (a dated one can be pinned here).
    println!("cargo:rerun-if-env-changed=SOUTHPAW_BPF_TOOLCHAIN");
    let toolchain = env::var("SOUTHPAW_BPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    check_tools(&toolchain);

    let mut cmd = Command::new("rustup");
    cmd.current_dir(&ebpf_dir)
        .args(["run", &toolchain, "cargo", "build", "-Z", "build-std=core"])
        .args(["--target", "bpfel-unknown-none", "--release", "--locked"])
        .arg("--target-dir")
        .arg(&target_dir);
    scrub_env(&mut cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run `rustup run {toolchain} cargo` ({e}); {HINT}"));
    if !status.success() {
        panic!(
            "building the XDP program in {} failed ({status}); {HINT}",
            ebpf_dir.display()
        );
    }
    let obj = target_dir.join("bpfel-unknown-none/release/southpaw_xdp");
    if !Path::new(&obj).is_file() {
        panic!(
            "XDP object {} missing after a successful build",
            obj.display()
        );
    }
    println!("cargo:rustc-env=SOUTHPAW_XDP_OBJ={}", obj.display());
}

/// Fails early with a message that names the installer when a tool is missing.
fn check_tools(toolchain: &str) {
    let nightly = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output();
    match nightly {
        Ok(o) if o.status.success() => {}
        _ => panic!("the Rust toolchain `{toolchain}` (nightly) is missing; {HINT}"),
    }
    match Command::new("bpf-linker").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!("bpf-linker is not on PATH; {HINT}"),
    }
}

/// Removes what the outer cargo exports to build scripts that would leak into the
/// inner build (compiler, flags, target dir, target triple, profile settings).
fn scrub_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_NET_OFFLINE")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_NET_");
        let drop = (key.starts_with("CARGO_") && !keep)
            || key.starts_with("RUSTC")
            || key.starts_with("RUSTDOC")
            || matches!(
                key,
                "RUSTFLAGS" | "RUSTUP_TOOLCHAIN" | "TARGET" | "HOST" | "PROFILE"
            )
            || matches!(key, "OPT_LEVEL" | "DEBUG" | "NUM_JOBS" | "OUT_DIR");
        if drop {
            cmd.env_remove(key);
        }
    }
}
