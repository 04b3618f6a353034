//! Checks the test-support fixtures themselves (archives, server, catalog, context), without
//! depending on what the pyenvx binary does.

mod common;

use std::fs::{self, File};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Extracts a `.tar.gz` with the tar crate (permissions and symlinks preserved).
fn extract(archive: &Path, dest: &Path) {
    let gz = flate2::read::GzDecoder::new(File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    tar.set_preserve_permissions(true);
    tar.unpack(dest).unwrap();
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn all_archives_build_and_hash_correctly() {
    for minor in FIXTURE_MINORS {
        let started = Instant::now();
        let archive = pbs_archive(minor);
        let elapsed = started.elapsed();
        assert_eq!(archive.minor, minor);
        assert_eq!(archive.version, full_version(minor));
        assert!(archive.version.starts_with(&format!("{minor}.")));
        assert_eq!(
            archive.file_name,
            format!(
                "cpython-{}+20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz",
                archive.version
            )
        );
        assert_eq!(fs::metadata(&archive.path).unwrap().len(), archive.size);
        assert_eq!(
            sha256_file(&archive.path),
            archive.sha256,
            "{minor}: recorded hash is the file's"
        );
        eprintln!(
            "{}: {:.1} MiB, ready in {elapsed:.1?}",
            archive.file_name,
            archive.size as f64 / (1024.0 * 1024.0)
        );
    }
}

#[test]
fn archive_has_pbs_layout_and_runs_relocated() {
    let archive = pbs_archive("3.12");
    let tmp = tempfile::tempdir().unwrap();
    extract(&archive.path, tmp.path());

    let top: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["python"], "a single top-level python/ folder");
    let py = tmp.path().join("python");
    assert!(py.join("bin/python3.12").is_file());
    assert_eq!(
        fs::read_link(py.join("bin/python3")).unwrap(),
        Path::new("python3.12")
    );
    assert!(
        fs::symlink_metadata(py.join("bin/python")).is_err(),
        "no bin/python, like pre-2024 PBS"
    );
    assert!(py.join("include/python3.12/Python.h").is_file());
    assert!(fs::symlink_metadata(py.join("lib/libpython3.12.so"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(py.join("lib/libpython3.12.so.1.0").is_file());

    let stdlib = py.join("lib/python3.12");
    assert!(stdlib.join("os.py").is_file());
    for gone in [
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "__pycache__",
        "json/__pycache__",
    ] {
        assert!(!stdlib.join(gone).exists(), "{gone} must not be shipped");
    }
    let mut site: Vec<String> = fs::read_dir(stdlib.join("site-packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    site.sort();
    assert_eq!(site.len(), 2, "only pip and its dist-info: {site:?}");
    assert_eq!(site[0], "pip");
    assert!(site[1].starts_with("pip-") && site[1].ends_with(".dist-info"));

    let sysconfig = fs::read_dir(&stdlib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("_sysconfigdata_")
        })
        .expect("sysconfigdata");
    let text = fs::read_to_string(sysconfig).unwrap();
    assert!(text.contains("'prefix': '/install'"), "PBS build prefix");
    let source_root = pyenv_root().display().to_string();
    assert!(
        !text.contains(&source_root),
        "the pyenv prefix leaked into sysconfigdata"
    );
    let makefile =
        fs::read_to_string(stdlib.join("config-3.12-x86_64-linux-gnu/Makefile")).unwrap();
    assert!(makefile.contains("prefix=\t\t/install") || makefile.contains("/install"));
    assert!(
        !makefile.contains(&source_root),
        "the pyenv prefix leaked into the Makefile"
    );
    assert!(fs::read_to_string(py.join("bin/pip3"))
        .unwrap()
        .starts_with("#!/bin/sh\n\"exec\""));

    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(py.join(p)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("bin/python3.12"), 0o755);
    assert_eq!(mode("lib/python3.12/os.py"), 0o644);

    let out = Command::new(py.join("bin/python3.12"))
        .args([
            "-c",
            "import sys, json, ssl, sqlite3; print(json.dumps([sys.version, sys.prefix]))",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (version, prefix): (String, String) = serde_json::from_slice(&out.stdout).unwrap();
    assert!(version.starts_with("3.12.1"), "{version}");
    assert_eq!(
        Path::new(&prefix),
        py,
        "prefix follows the extracted location, not /install"
    );

    let out = Command::new(py.join("bin/python3"))
        .args(["-m", "pip", "--version"])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip runs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn malicious_archives_contain_their_hostile_entry() {
    for kind in Malicious::ALL {
        let (path, sha) = malicious_archive(kind);
        assert_eq!(sha256_file(&path), sha);
        let gz = flate2::read::GzDecoder::new(File::open(&path).unwrap());
        let mut tar = tar::Archive::new(gz);
        let entries: Vec<(String, String)> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                (String::from_utf8_lossy(&e.path_bytes()).into_owned(), link)
            })
            .collect();
        let has = |name: &str, link: &str| entries.iter().any(|(n, l)| n == name && l == link);
        match kind {
            Malicious::ParentTraversal => {
                assert!(has("python/../../pyenvx-fixture-parent-escape", ""))
            }
            Malicious::AbsolutePath => assert!(has(ABSOLUTE_ESCAPE_TARGET, "")),
            Malicious::SymlinkAbsolute => assert!(has("python/bin/evil", "/etc/passwd")),
            Malicious::SymlinkParent => assert!(has("python/lib/evil", "../../outside")),
            Malicious::SymlinkThenWrite => {
                assert!(has("python/escape", "../.."));
                assert!(has("python/escape/pyenvx-fixture-symlink-write", ""));
            }
        }
        assert!(
            has("python/bin/python3.12", ""),
            "{kind:?} looks like a PBS archive: {entries:?}"
        );
    }
}

#[test]
fn server_serves_files_and_injects_faults() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = Mirror::with_pythons(tmp.path().join("mirror"), &["3.12"]);
    let archive = pbs_archive("3.12");
    let server = TestServer::start(mirror.root());
    let path = release_url_path(&archive.file_name);
    assert!(path.contains("%2B20990101"), "{path}");

    let (status, headers, body) = http_get(&server, &path);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), archive.size.to_string());
    assert_eq!(header(&headers, "content-type"), "application/gzip");
    assert_eq!(sha256_bytes(&body), archive.sha256);

    let (status, _, body) = http_get(&server, "/20990101/SHA256SUMS");
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!("{}  {}\n", archive.sha256, archive.file_name)
    );

    server.fault(&path, Fault::Truncate(1000));
    let (status, headers, body) = http_get(&server, &path);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-length"),
        archive.size.to_string(),
        "full length announced"
    );
    assert_eq!(body.len(), 1000);

    server.fault(&path, Fault::Corrupt);
    let (_, _, body) = http_get(&server, &path);
    assert_eq!(body.len() as u64, archive.size);
    assert_ne!(sha256_bytes(&body), archive.sha256);

    // Decoded paths name the same resource.
    server.fault(&path.replace("%2B", "+"), Fault::NotFound);
    assert_eq!(http_get(&server, &path).0, 404);
    server.fault_times(&path, Fault::Status(503), 1);
    assert_eq!(http_get(&server, &path).0, 503);
    assert_eq!(http_get(&server, &path).0, 200, "fault_times expires");

    assert_eq!(http_get(&server, "/20990101/nope.tar.gz").0, 404);
    assert_eq!(http_get(&server, "/../etc/passwd").0, 404);
    assert_eq!(server.hits(&path), 6);
    assert_eq!(server.hits(&path.replace("%2B", "+")), 6);
}

#[test]
fn server_handles_connections_concurrently() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("slow.bin"), vec![7u8; 4000]).unwrap();
    fs::write(tmp.path().join("fast.bin"), b"fast").unwrap();
    let server = TestServer::start(tmp.path());
    server.fault(
        "/slow.bin",
        Fault::Throttle {
            bytes_per_sec: 2000,
        },
    );

    let started = Instant::now();
    let slow = std::thread::scope(|s| {
        let slow = s.spawn(|| http_get(&server, "/slow.bin"));
        std::thread::sleep(Duration::from_millis(100));
        let (status, _, body) = http_get(&server, "/fast.bin");
        assert_eq!((status, body.as_slice()), (200, &b"fast"[..]));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "fast request not stuck behind the slow one"
        );
        slow.join().unwrap()
    });
    assert_eq!(slow.2.len(), 4000);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "throttled: {:?}",
        started.elapsed()
    );
}

#[test]
fn catalog_matches_uv_format() {
    let tmp = tempfile::tempdir().unwrap();
    let mut mirror = Mirror::with_pythons(tmp.path().join("mirror"), &["3.12", "3.13"]);
    let a312 = pbs_archive("3.12");

    let path = mirror.write_catalog("http://127.0.0.1:9");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);
    let entry = &json["cpython-3.12.1-linux-x86_64-gnu"];
    assert_eq!(
        entry["url"],
        "http://127.0.0.1:9/20990101/cpython-3.12.1%2B20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz"
    );
    assert_eq!(entry["sha256"], a312.sha256.as_str());
    assert_eq!(entry["name"], "cpython");
    assert_eq!(
        entry["arch"],
        serde_json::json!({"family": "x86_64", "variant": null})
    );
    assert_eq!(
        (entry["os"].as_str(), entry["libc"].as_str()),
        (Some("linux"), Some("gnu"))
    );
    assert_eq!(
        (
            entry["major"].as_u64(),
            entry["minor"].as_u64(),
            entry["patch"].as_u64()
        ),
        (Some(3), Some(12), Some(1))
    );
    assert_eq!(entry["prerelease"], "");
    assert!(entry["variant"].is_null());
    assert_eq!(entry["build"], RELEASE_TAG);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.find("cpython-3.13.0").unwrap() < text.find("cpython-3.12.1").unwrap(),
        "newest first"
    );

    // GitHub base for mirror-rewrite tests, and per-entry overrides.
    let mut entries = mirror.entries();
    entries[0].sha256 = "0".repeat(64);
    entries[1].url = Some("http://example.invalid/x.tar.gz".into());
    let text = catalog_json(&entries, GITHUB_DOWNLOAD_BASE);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["cpython-3.12.1-linux-x86_64-gnu"]["url"],
        format!("{GITHUB_DOWNLOAD_BASE}/20990101/cpython-3.12.1%2B20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz")
    );
    assert_eq!(
        json["cpython-3.12.1-linux-x86_64-gnu"]["sha256"],
        "0".repeat(64)
    );
    assert_eq!(
        json["cpython-3.13.0-linux-x86_64-gnu"]["url"],
        "http://example.invalid/x.tar.gz"
    );

    // Arbitrary files (e.g. hostile archives) under a made-up version, pre-releases included.
    let (evil, evil_sha) = malicious_archive(Malicious::ParentTraversal);
    mirror.add_file("3.14.0rc1", &evil);
    assert!(mirror.archive_path("3.14.0rc1").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&catalog_json(&mirror.entries(), "http://h")).unwrap();
    let rc = &json["cpython-3.14.0rc1-linux-x86_64-gnu"];
    assert_eq!(
        (
            rc["minor"].as_u64(),
            rc["patch"].as_u64(),
            rc["prerelease"].as_str()
        ),
        (Some(14), Some(0), Some("rc1"))
    );
    assert_eq!(rc["sha256"], evil_sha.as_str());
    assert!(mirror.file_url().starts_with("file:///"));
    let sums = fs::read_to_string(mirror.release_dir().join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 3);
}

#[test]
fn test_context_is_hermetic() {
    let mut ctx = TestContext::new();
    ctx.with_catalog("/some/catalog.json");
    let out = ctx.command("/usr/bin/env").output().unwrap();
    let env = assert_success(&out);
    let vars: std::collections::BTreeMap<&str, &str> =
        env.lines().filter_map(|l| l.split_once('=')).collect();
    let root = ctx.root().to_str().unwrap();
    assert_eq!(vars["HOME"], ctx.home().to_str().unwrap());
    assert_eq!(vars["PYENVX_HOME"], ctx.pyenvx_home().to_str().unwrap());
    assert_eq!(vars["PYENVX_CACHE_DIR"], ctx.cache_dir().to_str().unwrap());
    assert_eq!(vars["PYENV_ROOT"], format!("{root}/no-pyenv"));
    assert_eq!(vars["PATH"], DEFAULT_PATH);
    assert_eq!(vars["NO_COLOR"], "1");
    assert_eq!(vars["PYENVX_PYTHON_DOWNLOADS_JSON"], "/some/catalog.json");
    for (key, value) in &vars {
        assert!(
            !key.starts_with("UV_") && *key != "VIRTUAL_ENV" && *key != "PYENV_VERSION",
            "{key} leaked"
        );
        if key.starts_with("XDG_") || *key == "TMPDIR" {
            assert!(
                value.starts_with(root),
                "{key}={value} outside the test root"
            );
        }
    }
    let pwd = ctx.command("/bin/pwd").output().unwrap();
    assert_eq!(assert_success(&pwd).trim(), ctx.work().to_str().unwrap());
    assert!(fs::read_dir(format!("{root}/no-pyenv"))
        .unwrap()
        .next()
        .is_none());
    assert_failure(&ctx.command("/bin/false").output().unwrap());
}
