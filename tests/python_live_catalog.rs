//! The live list of builds — python-build-standalone's NDJSON index, then the GitHub releases
//! API with each release's SHA256SUMS — served from loopback in the same formats, with the
//! sources pointed at the server by `PYENVX_PYTHON_RELEASES_NDJSON` / `_API`.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

const NDJSON: &str = "/index/python-build-standalone.ndjson";
const API: &str = "/api/releases";

/// A server with a 3.12 release (archive + SHA256SUMS), an NDJSON index and an API answer
/// describing it; the context reads the live list from there.
struct Live {
    ctx: TestContext,
    server: TestServer,
    _mirror: Mirror,
    sums_path: String,
}

impl Live {
    fn new() -> Self {
        let mut ctx = TestContext::new();
        let mirror = Mirror::with_pythons(ctx.root().join("live"), &["3.12"]);
        let server = TestServer::start(mirror.root());
        let entry = mirror.entries().remove(0);
        let url = entry.url_for(&server.url());
        let sums_path = format!(
            "/{}/SHA256SUMS",
            mirror.release_dir().file_name().unwrap().to_str().unwrap()
        );
        let root = mirror.root().to_path_buf();
        fs::create_dir_all(root.join("index")).unwrap();
        fs::write(
            root.join(NDJSON.trim_start_matches('/')),
            format!(
                "{}\n{}\n",
                serde_json::json!({
                    "version": entry.version,
                    "artifacts": [{
                        "platform": "x86_64-unknown-linux-gnu",
                        "variant": "install_only_stripped",
                        "url": url,
                        "archive_format": "tar.gz",
                        "sha256": entry.sha256,
                    }],
                }),
                // Another platform's build: listed upstream, never offered here.
                serde_json::json!({
                    "version": entry.version,
                    "artifacts": [{
                        "url": url.replace("x86_64-unknown-linux-gnu", "aarch64-apple-darwin"),
                        "sha256": entry.sha256,
                    }],
                }),
            ),
        )
        .unwrap();
        // The API's answer: no `digest` on the asset, so the hash must come from SHA256SUMS.
        fs::create_dir_all(root.join("api")).unwrap();
        fs::write(
            root.join(API.trim_start_matches('/')),
            serde_json::json!([{
                "tag_name": mirror.release_dir().file_name().unwrap().to_str().unwrap(),
                "assets": [
                    {"name": entry.file_name, "browser_download_url": url},
                    {"name": "SHA256SUMS", "browser_download_url": format!("{}{sums_path}", server.url())},
                ],
            }])
            .to_string(),
        )
        .unwrap();
        ctx.env(
            "PYENVX_PYTHON_RELEASES_NDJSON",
            format!("{}{NDJSON}", server.url()),
        );
        ctx.env(
            "PYENVX_PYTHON_RELEASES_API",
            format!("{}{API}", server.url()),
        );
        Live {
            ctx,
            server,
            _mirror: mirror,
            sums_path,
        }
    }

    fn cached_list(&self) -> PathBuf {
        fs::read_dir(self.ctx.cache_dir().join("catalogs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("live-")
            })
            .expect("a cached live list")
    }
}

fn installed_312(ctx: &TestContext) -> String {
    let python = ctx
        .pyenvx_home()
        .join("python/cpython-3.12.1-linux-x86_64-gnu/bin/python3");
    let out = ctx
        .command(&python)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .output()
        .unwrap();
    assert_success(&out).trim().to_string()
}

#[test]
fn the_ndjson_index_lists_and_installs_and_is_kept_for_a_day() {
    let live = Live::new();
    let ctx = &live.ctx;

    // Offline before anything was fetched: the message names what is missing.
    let err = assert_failure(&ctx.run(&["--offline", "python", "install", "3.12"]));
    assert!(
        err.contains("offline") && err.contains("no cached list of Python builds"),
        "{err}"
    );

    let listed = assert_success(&ctx.run(&["python", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let downloads: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "download")
        .collect();
    assert_eq!(downloads.len(), 1, "only this platform's build: {listed}");
    assert_eq!(downloads[0]["version"], "3.12.1");

    assert_success(&ctx.run(&["python", "install", "3.12"]));
    assert_eq!(installed_312(ctx), "3.12.1");
    // One fetch served both commands; the API was never needed.
    assert_eq!(live.server.hits(NDJSON), 1);
    assert_eq!(live.server.hits(API), 0);

    // A day later the list is fetched again; with the sources down, the stale copy serves,
    // with a warning.
    let touched = Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(live.cached_list())
        .status()
        .unwrap();
    assert!(touched.success());
    live.server.fault(NDJSON, Fault::Status(503));
    live.server.fault(API, Fault::Status(503));
    let out = ctx.run(&["python", "list", "--json"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("using the cached list of Python builds"),
        "{}",
        stderr(&out)
    );
    assert_eq!(live.server.hits(NDJSON), 2);
    // Offline, the stale copy serves without asking anyone.
    assert_success(&ctx.run(&["--offline", "python", "list"]));
    assert_eq!(live.server.hits(NDJSON), 2);
}

#[test]
fn the_releases_api_and_sha256sums_stand_in_for_the_index() {
    let live = Live::new();
    live.server.fault(NDJSON, Fault::NotFound);
    let out = live.ctx.run(&["python", "install", "3.12"]);
    assert_success(&out);
    assert_eq!(installed_312(&live.ctx), "3.12.1");
    assert_eq!(live.server.hits(API), 1);
    assert_eq!(live.server.hits(&live.sums_path), 1);
}

#[test]
fn both_sources_down_and_nothing_cached_is_one_error_naming_both() {
    let live = Live::new();
    live.server.fault(NDJSON, Fault::NotFound);
    live.server.fault(API, Fault::Status(403));
    let err = assert_failure(&live.ctx.run(&["python", "install", "3.12"]));
    assert!(
        err.contains("cannot fetch the list of Python builds")
            && err.contains(NDJSON)
            && err.contains(API)
            && err.contains("hint:")
            && err.contains("PYENVX_PYTHON_DOWNLOADS_JSON"),
        "{err}"
    );
    assert!(!live
        .ctx
        .pyenvx_home()
        .join("python/cpython-3.12.1-linux-x86_64-gnu")
        .exists());
}
