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

/// The filters every snapshot goes through, for this sandbox.
fn filters(sb: &Sandbox) -> Vec<(String, String)> {
    let root = sb.ctx.root().to_string_lossy().into_owned();
    let mut filters = vec![(regex::escape(&root), "[ROOT]".to_string())];
    // The same root as a canonical path (macOS's /private/var, symlinked temporary dirs).
    if let Ok(canonical) = sb.ctx.root().canonicalize() {
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
    let mut settings = insta::Settings::clone_current();
    for (pattern, replacement) in filters(sb) {
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
