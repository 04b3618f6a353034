//! Builds a statically linked copy of the shim launcher (`shims/`) for pyenvx to carry.
//!
//! Every `python` typed through a shim pays for the launcher's start: measured here, 0.8 ms of
//! which about 0.2 ms is the dynamic loader mapping libc and libgcc_s. A static launcher skips
//! that. Cargo cannot link one binary of a package statically (the flag is codegen-wide and
//! would also reach proc-macros), so this script compiles the launcher's two source files with
//! rustc itself — it has no dependencies — and pyenvx embeds the result.
//!
//! Only for glibc Linux targets whose C library has a static archive; anywhere else, or if
//! anything here fails, pyenvx falls back to the `pyenvx-shim` binary beside it and the build
//! goes on (with a warning). `PYENVX_DYNAMIC_SHIM=1` skips it.

use std::env;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=shims/src");
    println!("cargo::rerun-if-env-changed=PYENVX_DYNAMIC_SHIM");
    println!("cargo::rustc-check-cfg=cfg(pyenvx_static_shim)");
    if env::var_os("PYENVX_DYNAMIC_SHIM").is_some_and(|v| v == "1") {
        return;
    }
    let target = env::var("TARGET").unwrap_or_default();
    if !(target.ends_with("-linux-gnu")
        && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux"))
    {
        return;
    }
    match build(&target) {
        Ok(exe) => {
            let bytes = std::fs::read(&exe).unwrap_or_default();
            // Identifies this launcher in `$PYENVX_HOME/shims`, so a rehash compares a few
            // bytes instead of reading the installed copy.
            let mut hasher = DefaultHasher::new();
            hasher.write(&bytes);
            println!("cargo::rustc-cfg=pyenvx_static_shim");
            println!(
                "cargo::rustc-env=PYENVX_STATIC_SHIM_ID={}-{:016x}",
                bytes.len(),
                hasher.finish()
            );
            println!("cargo::rustc-env=PYENVX_STATIC_SHIM_PATH={}", exe.display());
        }
        Err(why) => {
            println!("cargo::warning=pyenvx will use the dynamically linked pyenvx-shim: {why}")
        }
    }
}

fn build(target: &str) -> Result<PathBuf, String> {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let libc = Command::new(&cc)
        .arg("-print-file-name=libc.a")
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    let libc = String::from_utf8_lossy(&libc.stdout).trim().to_string();
    if !Path::new(&libc).is_absolute() || !Path::new(&libc).is_file() {
        return Err("the C library has no static archive (libc.a)".into());
    }

    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("static-shim");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let shims = Path::new(env!("CARGO_MANIFEST_DIR")).join("shims/src");
    let common = |cmd: &mut Command| {
        cmd.args(["--edition", "2021", "--target", target])
            .args(["-C", "opt-level=3", "-C", "target-feature=+crt-static"])
            .args(["--cap-lints", "allow"]);
        if let Ok(linker) = env::var("RUSTC_LINKER") {
            cmd.arg("-C").arg(format!("linker={linker}"));
        }
    };
    let mut lib = Command::new(&rustc);
    common(&mut lib);
    lib.args(["--crate-type", "rlib", "--crate-name", "pyenvx_shim"])
        .arg("--out-dir")
        .arg(&out)
        .arg(shims.join("lib.rs"));
    run(lib)?;

    let exe = out.join("pyenvx-shim");
    let mut bin = Command::new(&rustc);
    common(&mut bin);
    bin.args(["--crate-type", "bin", "--crate-name", "pyenvx_shim_static"])
        .args(["-C", "strip=symbols"])
        .arg("--extern")
        .arg(format!(
            "pyenvx_shim={}",
            out.join("libpyenvx_shim.rlib").display()
        ))
        .arg("-o")
        .arg(&exe)
        .arg(shims.join("main.rs"));
    run(bin)?;

    // Called by its own name it must answer, exit 2, and say what it is: proof that it runs.
    if env::var("HOST").ok().as_deref() == Some(target) {
        let check = Command::new(&exe)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("the static launcher does not start: {e}"))?;
        if check.status.code() != Some(2) {
            return Err(format!("the static launcher misbehaves ({})", check.status));
        }
    }
    Ok(exe)
}

fn run(mut cmd: Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "rustc failed: {}",
            stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("")
        ))
    }
}
