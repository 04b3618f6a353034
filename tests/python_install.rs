//! `pyenvx python install|list|find|uninstall|pin` against a local python-build-standalone
//! mirror built from this machine's interpreters.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const KEY_312: &str = "cpython-3.12.1-linux-x86_64-gnu";

fn pythons_dir(ctx: &TestContext) -> PathBuf {
    ctx.pyenvx_home().join("python")
}

/// Names in the python dir, without lock files; what "nothing is left installed" checks.
fn installed_entries(ctx: &TestContext) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(pythons_dir(ctx))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn run_python(ctx: &TestContext, exe: &Path, code: &str) -> String {
    let out = ctx.command(exe).args(["-c", code]).output().unwrap();
    assert_success(&out).trim().to_string()
}

#[test]
fn install_then_run_the_interpreter() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    let out = ctx.run(&["python", "install", "3.12"]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("Installed cpython-3.12.1"), "{err}");

    let dir = pythons_dir(&ctx).join(KEY_312);
    // `bin/python` is missing from the archive and must be added.
    let python = dir.join("bin/python");
    assert!(python.exists());
    assert_eq!(
        run_python(&ctx, &python, "import sys; print(sys.version.split()[0])"),
        "3.12.1"
    );
    // Build-time `/install` paths now point at the real location, so compiling extensions works.
    let include = run_python(
        &ctx,
        &python,
        "import sysconfig; print(sysconfig.get_paths()['include'])",
    );
    assert_eq!(include, format!("{}/include/python3.12", dir.display()));
    // The minor-version link environments point at.
    let link = pythons_dir(&ctx).join("cpython-3.12-linux-x86_64-gnu");
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(KEY_312));
    // The verified archive is cached for reuse.
    assert!(ctx
        .cache_dir()
        .join("downloads")
        .join(pbs_archive("3.12").file_name.clone())
        .is_file());
    assert_eq!(
        server.hits(&release_url_path(&pbs_archive("3.12").file_name)),
        1
    );

    // `find` now prints the managed interpreter.
    let found = assert_success(&ctx.run(&["python", "find", "3.12"]));
    assert_eq!(
        found.trim(),
        dir.join("bin/python3.12").display().to_string()
    );

    // Installing again is a no-op that says so.
    let again = success_stderr(&ctx.run(&["python", "install", "3.12"]));
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(
        server.hits(&release_url_path(&pbs_archive("3.12").file_name)),
        1
    );
}

/// The status lines of a successful run (`assert_success` returns stdout, the data).
fn success_stderr(out: &std::process::Output) -> String {
    assert_success(out);
    stderr(out)
}

#[test]
fn two_versions_in_one_command() {
    let mut ctx = TestContext::new();
    let (_server, _mirror) = ctx.serve_pythons(&["3.12", "3.13"]);
    assert_success(&ctx.run(&["python", "install", "3.12", "cpython@3.13"]));
    for (key, exe, version) in [
        (KEY_312, "python3.12", "3.12.1"),
        ("cpython-3.13.0-linux-x86_64-gnu", "python3.13", "3.13.0"),
    ] {
        let exe = pythons_dir(&ctx).join(key).join("bin").join(exe);
        assert_eq!(
            run_python(
                &ctx,
                &exe,
                "import platform; print(platform.python_version())"
            ),
            version
        );
    }
    let json = assert_success(&ctx.run(&["python", "list", "--installed", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let managed: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "managed")
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(managed, ["3.13.0", "3.12.1"]);
}

#[test]
fn hash_mismatch_installs_nothing_and_names_both_hashes() {
    let mut ctx = TestContext::new();
    let mirror = Mirror::with_pythons(ctx.root().join("mirror"), &["3.12"]);
    let server = TestServer::start(mirror.root());
    let wrong = "0".repeat(64);
    let mut entries = mirror.entries();
    entries[0].sha256 = wrong.clone();
    let bad_catalog = ctx.root().join("bad-catalog.json");
    write_catalog(&bad_catalog, &entries, &server.url());
    ctx.with_catalog(&bad_catalog);

    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    let archive = pbs_archive("3.12");
    assert!(err.contains("hash mismatch"), "{err}");
    assert!(
        err.contains(&wrong) && err.contains(&archive.sha256),
        "{err}"
    );
    assert!(err.contains(&server.url()), "the URL is named: {err}");
    assert!(
        installed_entries(&ctx).is_empty(),
        "{:?}",
        installed_entries(&ctx)
    );
    assert!(!ctx
        .cache_dir()
        .join("downloads")
        .join(&archive.file_name)
        .exists());

    // With the right catalog the next attempt starts clean and succeeds.
    ctx.with_catalog(mirror.write_catalog(&server.url()));
    assert_success(&ctx.run(&["python", "install", "3.12"]));
}

#[test]
fn truncated_body_installs_nothing_then_retry_works() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    let path = release_url_path(&pbs_archive("3.12").file_name);
    server.fault(&path, Fault::Truncate(2_000_000));
    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    assert!(
        err.contains("download failed") && err.contains("ended after"),
        "{err}"
    );
    assert!(
        installed_entries(&ctx).is_empty(),
        "{:?}",
        installed_entries(&ctx)
    );
    server.clear_fault(&path);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
}

#[test]
fn corrupt_body_is_caught() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    server.fault(
        &release_url_path(&pbs_archive("3.12").file_name),
        Fault::Corrupt,
    );
    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    assert!(
        err.contains("corrupt archive") || err.contains("hash mismatch"),
        "{err}"
    );
    assert!(installed_entries(&ctx).is_empty());
}

#[test]
fn not_found_names_the_url() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    server.fault(
        &release_url_path(&pbs_archive("3.12").file_name),
        Fault::NotFound,
    );
    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    assert!(err.contains("404"), "{err}");
    assert!(err.contains(&server.url()), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(installed_entries(&ctx).is_empty());
}

#[test]
fn archives_escaping_their_root_are_refused() {
    for kind in Malicious::ALL {
        let mut ctx = TestContext::new();
        let mut mirror = Mirror::new(ctx.root().join("mirror"));
        let (archive, _sha) = malicious_archive(kind);
        mirror.add_file("3.12.1", &archive);
        ctx.with_catalog(mirror.write_catalog(&mirror.file_url()));
        eprintln!("archive kind: {kind:?}");
        let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
        assert!(err.contains("escapes its root"), "{kind:?}: {err}");
        assert!(
            installed_entries(&ctx).is_empty(),
            "{kind:?}: {:?}",
            installed_entries(&ctx)
        );
        // Nothing landed next to the python dir, in the home, or at the absolute target.
        assert!(
            !ctx.pyenvx_home().join(PARENT_ESCAPE_NAME).exists(),
            "{kind:?}"
        );
        assert!(!ctx.root().join(PARENT_ESCAPE_NAME).exists(), "{kind:?}");
        assert!(!Path::new(ABSOLUTE_ESCAPE_TARGET).exists(), "{kind:?}");
    }
}

#[test]
fn kill_during_install_then_clean_retry() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    let path = release_url_path(&pbs_archive("3.12").file_name);
    server.fault(
        &path,
        Fault::Throttle {
            bytes_per_sec: 2_000_000,
        },
    );
    let mut child = ctx
        .cmd()
        .args(["python", "install", "3.12"])
        .spawn()
        .unwrap();
    // Wait until extraction is under way: the staging directory has python files in it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let staging = installed_entries(&ctx)
            .into_iter()
            .find(|n| n.starts_with(".tmp-"));
        if let Some(s) = staging {
            if pythons_dir(&ctx).join(s).join("python/lib").exists() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "install never started extracting"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no destructor, no cleanup.
    unsafe_kill9(child.id());
    child.wait().unwrap();
    assert!(
        !pythons_dir(&ctx).join(KEY_312).exists(),
        "a half install must not be visible"
    );

    server.clear_fault(&path);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    let leftovers: Vec<String> = installed_entries(&ctx)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left behind: {leftovers:?}"
    );
    let partials: Vec<_> = fs::read_dir(ctx.cache_dir().join("downloads"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    // A killed download may leave its partial file; it must never be mistaken for the archive.
    let _ = partials;
    let python = pythons_dir(&ctx).join(KEY_312).join("bin/python");
    assert_eq!(run_python(&ctx, &python, "print(1 + 1)"), "2");
}

fn unsafe_kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn concurrent_installs_download_once() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    let path = release_url_path(&pbs_archive("3.12").file_name);
    // Slow enough that the second process certainly arrives while the first holds the lock.
    server.fault(
        &path,
        Fault::Throttle {
            bytes_per_sec: 20_000_000,
        },
    );
    let a = ctx
        .cmd()
        .args(["python", "install", "3.12"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let b = ctx
        .cmd()
        .args(["python", "install", "3.12"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_success(&a);
    assert_success(&b);
    assert_eq!(
        server.hits(&path),
        1,
        "the second process must reuse the first one's install"
    );
    let python = pythons_dir(&ctx).join(KEY_312).join("bin/python");
    assert_eq!(run_python(&ctx, &python, "print('ok')"), "ok");
}

#[test]
fn offline_with_and_without_cache() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    // Nothing cached: the error names the missing archive.
    let err = assert_failure(&ctx.run(&["--offline", "python", "install", "3.12"]));
    let file_name = &pbs_archive("3.12").file_name;
    assert!(
        err.contains("offline") && err.contains(file_name.as_str()),
        "{err}"
    );
    assert_eq!(server.total_hits(), 0, "offline must not touch the network");

    // Cached: install, uninstall, then reinstall offline from the verified cache.
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    assert_success(&ctx.run(&["python", "uninstall", "3.12"]));
    let hits = server.total_hits();
    ctx.env("PYENVX_OFFLINE", "1");
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    assert_eq!(server.total_hits(), hits);
    assert!(pythons_dir(&ctx).join(KEY_312).join("bin/python").exists());
}

#[test]
fn a_tampered_cache_is_reverified_and_replaced() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    assert_success(&ctx.run(&["python", "uninstall", "3.12"]));
    let cached = ctx
        .cache_dir()
        .join("downloads")
        .join(&pbs_archive("3.12").file_name);
    fs::write(&cached, b"not an archive").unwrap();
    let err = success_stderr(&ctx.run(&["python", "install", "3.12"]));
    assert!(err.contains("discarded the cached archive"), "{err}");
    assert_eq!(
        server.hits(&release_url_path(&pbs_archive("3.12").file_name)),
        2
    );
}

#[test]
fn mirror_prefix_over_file_url() {
    let mut ctx = TestContext::new();
    let mirror = Mirror::with_pythons(ctx.root().join("mirror"), &["3.12"]);
    // The catalog carries real GitHub URLs; the mirror setting must redirect every one.
    ctx.with_catalog(mirror.write_catalog(GITHUB_DOWNLOAD_BASE));
    ctx.env("PYENVX_PYTHON_MIRROR", mirror.file_url());
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    let python = pythons_dir(&ctx).join(KEY_312).join("bin/python");
    assert_eq!(run_python(&ctx, &python, "print('mirrored')"), "mirrored");
    let list = assert_success(&ctx.run(&["python", "list", "--json"]));
    assert!(
        !list.contains("github.com"),
        "listed URLs are mirrored too: {list}"
    );
}

#[test]
fn uninstall_removes_install_and_minor_link() {
    let mut ctx = TestContext::new();
    let (_server, _mirror) = ctx.serve_pythons(&["3.12"]);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    let err = success_stderr(&ctx.run(&["python", "uninstall", "3.12.1"]));
    assert!(err.contains("Uninstalled cpython-3.12.1"), "{err}");
    assert!(
        installed_entries(&ctx).is_empty(),
        "{:?}",
        installed_entries(&ctx)
    );
    let err = assert_failure(&ctx.run(&["python", "uninstall", "3.12"]));
    assert!(err.contains("no managed Python matches"), "{err}");
}

#[test]
fn find_honours_the_preference_between_managed_and_pyenv() {
    let mut ctx = TestContext::new();
    let (_server, _mirror) = ctx.serve_pythons(&["3.12"]);
    ctx.with_pyenv_root(pyenv_root());
    let pyenv_312 = pyenv_python("3.12").version;
    assert_success(&ctx.run(&["python", "install", "3.12"]));

    let managed = assert_success(&ctx.run(&["python", "find", "3.12"]));
    assert!(
        managed
            .trim()
            .starts_with(&pythons_dir(&ctx).display().to_string()),
        "{managed}"
    );

    ctx.env("PYENVX_PYTHON_PREFERENCE", "system");
    let system = assert_success(&ctx.run(&["python", "find", "3.12"]));
    assert_eq!(
        system.trim(),
        format!("{}/{pyenv_312}/bin/python3", pyenv_versions_dir().display())
    );

    // A version only pyenv has is found under `managed` too, with no download.
    ctx.env("PYENVX_PYTHON_PREFERENCE", "managed");
    let found_310 = assert_success(&ctx.run(&["python", "find", "3.10"]));
    assert!(
        found_310
            .trim()
            .starts_with(&format!("{}/3.10.", pyenv_versions_dir().display())),
        "{found_310}"
    );

    ctx.env("PYENVX_PYTHON_PREFERENCE", "only-managed");
    let err = assert_failure(&ctx.run(&["python", "find", "3.10"]));
    assert!(
        err.contains("no Python interpreter matches `3.10`") && err.contains("hint:"),
        "{err}"
    );

    ctx.env("PYENVX_PYTHON_PREFERENCE", "sideways");
    let err = assert_failure(&ctx.run(&["python", "find", "3.12"]));
    assert!(err.contains("PYENVX_PYTHON_PREFERENCE"), "{err}");
}

#[test]
fn malformed_catalog_names_line_and_column() {
    let mut ctx = TestContext::new();
    let catalog = ctx.root().join("broken.json");
    fs::write(
        &catalog,
        "{\n  \"cpython-3.12.1-linux-x86_64-gnu\": {\n    \"name\": \"cpython\",,\n  }\n}\n",
    )
    .unwrap();
    ctx.with_catalog(&catalog);
    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    assert!(err.contains("malformed Python downloads catalog"), "{err}");
    assert!(
        err.contains("broken.json") && err.contains("line 3 column"),
        "{err}"
    );
}

#[test]
fn requests_and_global_pin() {
    let mut ctx = TestContext::new();
    let (_server, _mirror) = ctx.serve_pythons(&["3.11", "3.12", "3.13"]);
    // A PEP 440 range picks the newest match.
    assert_success(&ctx.run(&["python", "install", ">=3.11,<3.13"]));
    assert!(pythons_dir(&ctx).join(KEY_312).exists());
    assert!(!pythons_dir(&ctx)
        .join("cpython-3.13.0-linux-x86_64-gnu")
        .exists());
    // Unknown version: the hint lists what exists.
    let err = assert_failure(&ctx.run(&["python", "install", "3.9"]));
    assert!(
        err.contains("no downloadable Python matches `3.9`") && err.contains("3.12"),
        "{err}"
    );
    // The global pin is what a bare install and find use.
    assert_success(&ctx.run(&["python", "pin", "--global", "3.13"]));
    assert_eq!(
        assert_success(&ctx.run(&["python", "pin", "--global"])).trim(),
        "3.13"
    );
    assert_success(&ctx.run(&["python", "install"]));
    let found = assert_success(&ctx.run(&["python", "find"]));
    assert!(found.contains("cpython-3.13.0"), "{found}");
    let err = assert_failure(&ctx.run(&["python", "pin", "3.12"]));
    assert!(err.contains("--global"), "{err}");
}

#[test]
fn reinstall_moves_the_minor_link() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    assert_success(&ctx.run(&["python", "install", "3.12", "--reinstall"]));
    let link = pythons_dir(&ctx).join("cpython-3.12-linux-x86_64-gnu");
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(KEY_312));
    // The reinstall reused the verified cache.
    assert_eq!(
        server.hits(&release_url_path(&pbs_archive("3.12").file_name)),
        1
    );
}

#[test]
fn list_shows_what_is_here_when_the_build_list_is_out_of_reach() {
    let mut ctx = TestContext::new();
    let (_server, _mirror) = ctx.serve_pythons(&["3.12"]);
    assert_success(&ctx.run(&["python", "install", "3.12"]));
    ctx.with_pyenv_root(pyenv_root());
    // A catalog URL on a port nothing listens on: the list of downloads cannot be had.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/catalog.json", closed.local_addr().unwrap());
    drop(closed);
    ctx.with_catalog(&url);
    let out = ctx.run(&["python", "list"]);
    let listed = assert_success(&out);
    assert!(listed.contains(KEY_312), "{listed}");
    assert!(
        listed.contains(&format!("{}/3.1", pyenv_versions_dir().display())),
        "{listed}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains(&url) && err.contains("installed and found"),
        "{err}"
    );
    let json = assert_success(&ctx.run(&["python", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["source"] != "download"));
}

/// A server that accepts and never answers, or answers and then stalls mid-body, is an error
/// naming the URL within `PYENVX_HTTP_TIMEOUT`; `python list` then warns and still lists.
#[test]
fn a_stalled_server_times_out_naming_the_url() {
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    ctx.env("PYENVX_HTTP_TIMEOUT", "1");
    let path = release_url_path(&pbs_archive("3.12").file_name);
    for fault in [Fault::Stall, Fault::StallAfter(300_000)] {
        server.fault(&path, fault.clone());
        let started = Instant::now();
        let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(15), "{fault:?}: took {took:?}");
        assert!(
            err.contains(&server.url()) && err.contains("sent nothing for 1 s"),
            "{fault:?}: {err}"
        );
        assert!(installed_entries(&ctx).is_empty(), "{fault:?}");
    }
    server.clear_fault(&path);

    // The catalog itself on a stalled server: `list` warns and exits 0.
    let catalog = "/stalled-catalog.json";
    server.fault(catalog, Fault::Stall);
    let url = format!("{}{catalog}", server.url());
    ctx.with_catalog(&url);
    let started = Instant::now();
    let out = ctx.run(&["python", "list"]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains(&url) && err.contains("sent nothing"),
        "{err}"
    );
}
