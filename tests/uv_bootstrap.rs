//! Getting uv with no `pip install`: the uv wheel comes from the configured index, is checked
//! against the index's hash, and its binary is unpacked by pyenvx itself.

mod common;

use std::fs;

use common::*;

fn uv_wheel_path() -> String {
    let wheel = wheelhouse_wheels()
        .into_iter()
        .find(|w| w.project == "uv")
        .expect("a uv wheel in the wheelhouse");
    format!("/files/{}", wheel.file_name)
}

/// A sandbox whose uv must be bootstrapped (no `PYENVX_UV`, none on `PATH`).
fn sandbox_without_uv() -> Sandbox {
    let mut sb = Sandbox::new(&["3.12"]);
    sb.ctx.env_remove("PYENVX_UV");
    sb
}

#[test]
fn uv_is_unpacked_from_the_index_wheel() {
    let sb = sandbox_without_uv();
    sb.init_bare("p", "3.12", "5.2");
    let uv = sb.ctx.pyenvx_home().join("tools/uv/bin/uv");
    assert_eq!(sha256_file(&uv), sha256_file(shared_uv()));
    let index = sb.index.as_ref().unwrap();
    assert_eq!(index.server.hits("/simple/uv/"), 1);
    assert_eq!(index.server.hits(&uv_wheel_path()), 1);
    // Nothing left beside the install (no staging directory, no wheel).
    let names: Vec<String> = fs::read_dir(sb.ctx.pyenvx_home().join("tools"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["uv"]);
    let uv_dir: Vec<String> = fs::read_dir(sb.ctx.pyenvx_home().join("tools/uv"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(uv_dir, ["bin"]);

    // The next project reuses it.
    sb.init_bare("q", "3.12", "5.2");
    assert_eq!(index.server.hits(&uv_wheel_path()), 1);
}

#[test]
fn a_uv_wheel_that_does_not_match_the_index_hash_is_refused() {
    let sb = sandbox_without_uv();
    let index = sb.index.as_ref().unwrap();
    index.server.fault(&uv_wheel_path(), Fault::Corrupt);
    let err = sb.fails(
        "p",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--no-startproject",
        ],
    );
    assert!(err.contains("refusing uv-"), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert!(!sb.ctx.pyenvx_home().join("tools/uv").exists());
}
