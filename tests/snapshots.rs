//! What users read, pinned: the output of the main commands as insta snapshots
//! (`tests/snapshots/`), so that a change in wording, order or layout shows in review as a diff
//! of a `.snap` file rather than slipping past assertions that look for a few words.
//!
//! Everything that differs between runs or machines is redacted before the comparison: the
//! test's temporary root, loopback ports and timings. Review a change with `cargo insta review`
//! (or rerun with `INSTA_UPDATE=always` and read the diff of the `.snap` files).

mod common;

use std::fs;

use common::*;

/// The filters every snapshot goes through, for a test whose temporary root is `root`.
fn filters(root_path: &std::path::Path) -> Vec<(String, String)> {
    let root = root_path.to_string_lossy().into_owned();
    let mut filters = vec![(regex::escape(&root), "[ROOT]".to_string())];
    // The same root as a canonical path (macOS's /private/var, symlinked temporary dirs).
    if let Ok(canonical) = root_path.canonicalize() {
        let canonical = canonical.to_string_lossy().into_owned();
        if canonical != root {
            filters.push((regex::escape(&canonical), "[ROOT]".to_string()));
        }
    }
    filters.extend([
        (
            r"127\.0\.0\.1:\d+".to_string(),
            "127.0.0.1:[PORT]".to_string(),
        ),
        (r"\bin \d+ ms\b".to_string(), "in [TIME] ms".to_string()),
        (r"\bin \d+\.\d+s\b".to_string(), "in [TIME]s".to_string()),
    ]);
    filters
}

/// Compare `text` with the snapshot `name`, after [`filters`].
fn check(sb: &Sandbox, name: &str, text: &str) {
    check_in(sb.ctx.root(), name, text);
}

/// [`check`] for a test whose temporary root is `root`.
fn check_in(root: &std::path::Path, name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    // The machine's pyenv, wherever the test machine keeps it.
    settings.add_filter(&regex::escape(&pyenv_root().to_string_lossy()), "[PYENV]");
    for (pattern, replacement) in filters(root) {
        settings.add_filter(&pattern, replacement);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn init_status_and_python_list() {
    let sb = Sandbox::new(&["3.12"]);
    let init = sb.ok("shop", &["init", "--python", "3.12", "--django", "5.2"]);
    check(&sb, "init", &init);
    check(&sb, "status_in_sync", &sb.ok("shop", &["status"]));

    // The one system interpreter `python list` finds is this machine's pyenv 3.12 (the one the
    // managed build was made from), on a PATH of its own, so the listing is the same anywhere.
    let bin = sb.ctx.root().join("system-bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(pyenv_python("3.12").python(), bin.join("python3")).unwrap();
    let out = sb
        .ctx
        .cmd()
        .current_dir(sb.dir("shop"))
        .env("PATH", &bin)
        .args(["python", "list"])
        .output()
        .unwrap();
    check(&sb, "python_list", &assert_success(&out));
}

#[test]
fn errors_with_their_hints() {
    let sb = Sandbox::new(&["3.12"]);
    check(&sb, "error_no_project", &sb.fails("nowhere", &["sync"]));
    fs::create_dir_all(sb.dir("broken")).unwrap();
    fs::write(
        sb.dir("broken").join("pyenvx.toml"),
        "[project]\nname = \"b\"\npython = \"3.12\"\ndjango = 5.2\n",
    )
    .unwrap();
    check(&sb, "error_bad_config", &sb.fails("broken", &["sync"]));
    check(
        &sb,
        "error_bad_python_request",
        &sb.fails("nowhere", &["python", "install", "3.x"]),
    );
}

/// Each message that once misled (issue 21) says what is true, in one line, with a hint that
/// works.
#[test]
fn errors_that_say_what_is_true() {
    let mut sb = Sandbox::new(&["3.12"]);
    // Before anything is installed: pyenv's 3.11 is found, and it is not pyenvx's to remove.
    let pyenv_311 = pyenv_python("3.11");
    sb.ctx.with_pyenv_root(pyenv_root());
    let err = sb.fails("nowhere", &["python", "uninstall", "3.11"]);
    // The patch is whatever pyenv built on the test machine.
    check(
        &sb,
        "error_uninstall_pyenvs_python",
        &err.replace(&pyenv_311.version, "3.11.[PATCH]"),
    );
    check(
        &sb,
        "error_python_find_nonexistent",
        &sb.fails("nowhere", &["python", "find", "3.99"]),
    );
    sb.init_bare("shop", "3.12", "5.2");
    check(
        &sb,
        "error_add_unknown_package",
        &sb.fails("shop", &["add", "nonexistent-pkg"]),
    );
    check(
        &sb,
        "error_pin_django_past_newest",
        &sb.fails("shop", &["pin", "django", "9"]),
    );
    check(
        &sb,
        "error_run_without_command",
        &sb.fails("shop", &["run"]),
    );

    // A directory with files and no project: init says what it adds, and adds it.
    let notes = sb.dir("notes");
    fs::create_dir_all(notes.join("drafts")).unwrap();
    fs::write(notes.join("todo.txt"), "buy milk\n").unwrap();
    let out = sb.ok("notes", &["init", "--python", "3.12", "--django", "5.2"]);
    check(&sb, "init_into_a_non_empty_directory", &out);
    assert_eq!(read(notes.join("todo.txt")), "buy milk\n");
}

#[test]
fn db_restore_without_a_terminal() {
    let db = NativePg::new();
    let dir = db.django("shop");
    db.ok(&dir, &["db", "up"]);
    db.ok(
        &dir,
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    let dump = db.ctx.root().join("shop.dump");
    db.ok(&dir, &["db", "dump", dump.to_str().unwrap()]);
    // stdin is not a terminal (the test's is null): nothing asked, nothing restored.
    let err = db.fails(&dir, &["db", "restore", dump.to_str().unwrap()]);
    check_in(db.ctx.root(), "error_db_restore_without_a_terminal", &err);
}
