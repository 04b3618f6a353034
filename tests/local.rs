//! Local directory requirements: `add ./libs/pkg` locks the path relative to the project root
//! and installs from the directory; `add --editable` keeps it editable across syncs with edits
//! live; an editable installed by hand survives a sync; the hashed export refuses directories.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `localpkg 0.1` in `dir`, module text from `localpkg.py` there, with an in-tree backend that
/// builds wheels and PEP 660 editables itself (`requires = []`: no index needed).
fn write_localpkg(dir: &Path, text: &str) {
    write_package(dir, "localpkg", text)
}

fn lock_entry(lock: &str, name: &str) -> String {
    let start = lock
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("{name} is not in the lock:\n{lock}"));
    let end = lock[start..]
        .find("[[package]]")
        .map_or(lock.len(), |e| start + e);
    lock[start..end].to_string()
}

const IMPORT: [&str; 5] = [
    "run",
    "--",
    "python",
    "-c",
    "import localpkg; print(localpkg.WHERE, localpkg.__file__)",
];

#[test]
fn a_local_directory_is_locked_relative_to_the_project_and_moves_with_it() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    write_localpkg(&sb.dir("p/libs/pkg"), "built");
    sb.ok("p", &["add", "./libs/pkg"]);

    let config = read(sb.dir("p/pyenvx.toml"));
    assert!(config.contains("localpkg @ file:./libs/pkg"), "{config}");
    let lock = read(sb.dir("p/pyenvx.lock"));
    let entry = lock_entry(&lock, "localpkg");
    assert!(entry.contains("path = \"libs/pkg\""), "{entry}");
    assert!(!entry.contains("editable"), "{entry}");
    assert!(!lock.contains(&sb.dir("p").display().to_string()), "{lock}");
    let out = sb.ok("p", &IMPORT);
    // Installed (built into site-packages), not pointing at the source.
    assert!(
        out.contains("built") && out.contains("site-packages"),
        "{out}"
    );
    assert!(sb.ok("p", &["status"]).contains("in sync"));
    // A second sync leaves it installed.
    sb.ok("p", &["sync"]);
    assert!(sb.ok("p", &IMPORT).contains("built"));

    // A clone elsewhere: the same lock installs from the directory at its new place.
    fs::rename(sb.dir("p"), sb.dir("moved")).unwrap();
    fs::remove_dir_all(sb.dir("moved/.venv")).unwrap();
    sb.ok("moved", &["sync", "--locked"]);
    assert_eq!(read(sb.dir("moved/pyenvx.lock")), lock);
    let out = sb.ok("moved", &IMPORT);
    assert!(
        out.contains("built") && out.contains("site-packages"),
        "{out}"
    );

    // pip cannot hash-pin a directory: the export names it.
    let err = sb.fails("moved", &["export", "requirements"]);
    assert!(err.contains("localpkg @ libs/pkg"), "{err}");
    assert!(err.contains("cannot hash-pin"), "{err}");
}

#[test]
fn an_editable_directory_shows_edits_without_a_sync_and_stays_editable() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let src = sb.dir("p/libs/pkg");
    write_localpkg(&src, "first");
    sb.ok("p", &["add", "--editable", "./libs/pkg"]);
    let config = read(sb.dir("p/pyenvx.toml"));
    assert!(config.contains("editable = [\"localpkg\"]"), "{config}");
    let entry = lock_entry(&read(sb.dir("p/pyenvx.lock")), "localpkg");
    assert!(entry.contains("editable = true"), "{entry}");
    assert!(sb.ok("p", &IMPORT).contains("first"));

    fs::write(src.join("localpkg.py"), "WHERE = 'edited'\n").unwrap();
    let out = sb.ok("p", &IMPORT);
    assert!(out.contains("edited") && out.contains("libs/pkg"), "{out}");

    // Syncs keep it editable: still the source, not a copy.
    sb.ok("p", &["sync"]);
    sb.ok("p", &["sync", "--locked"]);
    fs::write(src.join("localpkg.py"), "WHERE = 'again'\n").unwrap();
    assert!(sb.ok("p", &IMPORT).contains("again"));
    assert!(sb.ok("p", &["status"]).contains("in sync"));

    let err = sb.fails("p", &["export", "requirements"]);
    assert!(err.contains("localpkg @ libs/pkg (editable)"), "{err}");

    // `add` without the flag makes it a plain install again.
    sb.ok("p", &["add", "./libs/pkg"]);
    let out = sb.ok("p", &IMPORT);
    assert!(out.contains("site-packages"), "{out}");
    assert!(!read(sb.dir("p/pyenvx.toml")).contains("editable"));
}

/// `-e ./path` in a requirements file adds the directory editable, as `add --editable` does;
/// the path is relative to where `add` runs (as pip and uv read it), not to the file.
#[test]
fn an_editable_line_in_a_requirements_file_adds_the_directory_editable() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let src = sb.dir("p/libs/pkg");
    write_localpkg(&src, "first");
    fs::create_dir_all(sb.dir("p/requirements")).unwrap();
    fs::write(sb.dir("p/requirements/dev.txt"), "idna\n-e ./libs/pkg\n").unwrap();
    sb.ok("p", &["add", "-r", "requirements/dev.txt"]);
    let config = read(sb.dir("p/pyenvx.toml"));
    assert!(config.contains("localpkg @ file:./libs/pkg"), "{config}");
    assert!(config.contains("editable = [\"localpkg\"]"), "{config}");
    let lock = read(sb.dir("p/pyenvx.lock"));
    assert!(
        lock_entry(&lock, "localpkg").contains("editable = true"),
        "{lock}"
    );
    assert!(lock.contains("name = \"idna\""), "{lock}");
    // Editable: edits show without a sync, and a sync keeps it so.
    fs::write(src.join("localpkg.py"), "WHERE = 'edited'\n").unwrap();
    let out = sb.ok("p", &IMPORT);
    assert!(out.contains("edited") && out.contains("libs/pkg"), "{out}");
    sb.ok("p", &["sync"]);
    assert!(sb.ok("p", &["status"]).contains("in sync"));
}

#[test]
fn an_editable_installed_by_hand_survives_a_sync() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let src = sb.ctx.root().join("elsewhere/pkg");
    write_localpkg(&src, "by hand");
    let out = sb
        .ctx
        .command(shared_uv())
        .args(["pip", "install", "--offline", "--no-index", "--python"])
        .arg(sb.dir("p/.venv/bin/python"))
        .arg("-e")
        .arg(&src)
        .env("UV_CACHE_DIR", sb.ctx.root().join("uv-cache"))
        .output()
        .unwrap();
    assert_success(&out);
    let status = sb.ok("p", &["status"]);
    assert!(status.contains("editable  localpkg==0.1"), "{status}");
    assert!(!status.contains("unlocked"), "{status}");
    sb.ok("p", &["sync"]);
    let out = sb.ok("p", &IMPORT);
    assert!(out.contains("by hand"), "{out}");
}

#[test]
fn an_editable_installed_by_hand_over_a_locked_release_survives_a_sync() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    sb.ok("p", &["add", "idna"]);
    // A working copy of a locked dependency, installed editable over the locked wheel.
    let src = sb.ctx.root().join("fork/idna");
    write_package(&src, "idna", "the fork");
    let out = sb
        .ctx
        .command(shared_uv())
        .args(["pip", "install", "--offline", "--no-index", "--python"])
        .arg(sb.dir("p/.venv/bin/python"))
        .arg("-e")
        .arg(&src)
        .env("UV_CACHE_DIR", sb.ctx.root().join("uv-cache"))
        .output()
        .unwrap();
    assert_success(&out);
    sb.ok("p", &["sync"]);
    let import = [
        "run",
        "--",
        "python",
        "-c",
        "import idna; print(idna.WHERE)",
    ];
    assert!(sb.ok("p", &import).contains("the fork"));
    let status = sb.ok("p", &["status"]);
    assert!(status.contains("editable  idna==0.1"), "{status}");
    assert!(!status.contains("missing"), "{status}");
    // Uninstalled, the locked release comes back at the next sync.
    let out = sb
        .ctx
        .command(shared_uv())
        .args(["pip", "uninstall", "--python"])
        .arg(sb.dir("p/.venv/bin/python"))
        .arg("idna")
        .env("UV_CACHE_DIR", sb.ctx.root().join("uv-cache"))
        .output()
        .unwrap();
    assert_success(&out);
    sb.ok("p", &["sync"]);
    let out = sb.ok(
        "p",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import idna; print(idna.__version__)",
        ],
    );
    assert!(out.contains("3.10"), "{out}");
}

#[test]
fn editable_takes_local_directories_only() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let err = sb.fails("p", &["add", "--editable", "idna"]);
    assert!(err.contains("not a local directory"), "{err}");
    let err = sb.fails("p", &["add", "./nothing/here"]);
    assert!(err.contains("pyproject.toml"), "{err}");
}
