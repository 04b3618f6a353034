//! Checks the package-index fixture: the PEP 503 pages it serves, and that real uv and pip
//! resolve and download from it (Django 6 skipped on Python 3.11 via `data-requires-python`).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use common::*;

fn py311() -> std::path::PathBuf {
    pyenv_python("3.11").python()
}

fn py312() -> std::path::PathBuf {
    pyenv_python("3.12").python()
}

/// `http_get` with only the content type kept from the headers.
fn get(server: &TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let (status, headers, body) = http_get(server, path);
    let content_type = headers
        .into_iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v)
        .unwrap_or_default();
    (status, content_type, body)
}

fn django_wheels() -> Vec<Wheel> {
    let wheels: Vec<Wheel> = wheelhouse_wheels()
        .into_iter()
        .filter(|w| w.project == "django")
        .collect();
    assert!(wheels.len() >= 2, "the wheelhouse has Django wheels");
    wheels
}

#[test]
fn names_are_normalized_per_pep_503() {
    assert_eq!(normalize_name("Django"), "django");
    assert_eq!(normalize_name("psycopg_binary"), "psycopg-binary");
    assert_eq!(normalize_name("Foo.._-Bar"), "foo-bar");
    assert_eq!(normalize_name("typing_extensions"), "typing-extensions");
    assert_eq!(
        html_escape("<3.13,>=3.10 & \"x\""),
        "&lt;3.13,&gt;=3.10 &amp; &quot;x&quot;"
    );
}

#[test]
fn requires_python_is_read_from_wheel_metadata() {
    assert_eq!(
        wheel_requires_python("Django==6.1.3").as_deref(),
        Some(">=3.12")
    );
    assert_eq!(
        wheel_requires_python("django-5.2.19-py3-none-any.whl").as_deref(),
        Some(">=3.10")
    );
    assert_eq!(
        wheel_requires_python("django==4.2.30").as_deref(),
        Some(">=3.8")
    );
}

#[test]
fn simple_pages_list_wheels_with_hashes_and_requires_python() {
    let started = Instant::now();
    let index = package_index();
    eprintln!(
        "[timing] package_index() ready in {:.1?} ({})",
        started.elapsed(),
        index.display()
    );
    let served = serve_index();
    assert!(served.simple_url().starts_with("http://127.0.0.1:"));
    assert!(served.simple_url().ends_with("/simple/"));
    // CI clones into another folder with its own copy of shared/ beside it, so the expected
    // place is derived from the checkout, never a fixed path.
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/wheelhouse");
    assert_eq!(
        ServedIndex::find_links_dir(),
        std::fs::canonicalize(&beside).unwrap()
    );

    let (status, content_type, body) = get(&served.server, "/simple/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let root = String::from_utf8(body).unwrap();
    for project in ["django", "psycopg-binary", "typing-extensions", "uv", "pip"] {
        assert!(
            root.contains(&format!("<a href=\"{project}/\">{project}</a>")),
            "{project} missing from /simple/:\n{root}"
        );
    }

    let (status, content_type, body) = get(&served.server, "/simple/django/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(body).unwrap();
    let wheels = django_wheels();
    let anchors: Vec<&str> = page.lines().filter(|l| l.contains("<a ")).collect();
    assert_eq!(anchors.len(), wheels.len(), "one anchor per wheel:\n{page}");
    for wheel in &wheels {
        // Django sets Requires-Python from 2.0 on; 1.11.29 (py2.py3) sets none, and its anchor
        // then carries no attribute.
        let requires = wheel_requires_python(&wheel.file_name);
        let major: u32 = wheel.version.split('.').next().unwrap().parse().unwrap();
        assert_eq!(
            requires.is_some(),
            major >= 2,
            "Django {} Requires-Python: {requires:?}",
            wheel.version
        );
        let attr = requires
            .map(|rp| {
                format!(
                    " data-requires-python=\"{}\"",
                    rp.replace('>', "&gt;").replace('<', "&lt;")
                )
            })
            .unwrap_or_default();
        let expected = format!(
            "<a href=\"../../files/{f}#sha256={sha}\"{attr}>{f}</a>",
            f = wheel.file_name,
            sha = wheel.sha256,
        );
        assert!(page.contains(&expected), "missing {expected} in:\n{page}");
        assert_eq!(
            sha256_file(&index.join("files").join(&wheel.file_name)),
            wheel.sha256
        );
        if wheel.version.starts_with("6.") {
            assert!(
                page.contains(&format!(
                    "{}#sha256={}\" data-requires-python=\"&gt;=3.12\"",
                    wheel.file_name, wheel.sha256
                )),
                "Django {} must require Python >= 3.12",
                wheel.version
            );
        }
    }

    // The relative href resolves to a served file.
    let small = wheelhouse_wheels()
        .into_iter()
        .find(|w| w.project == "sqlparse")
        .unwrap();
    let (status, _, body) = get(&served.server, &format!("/files/{}", small.file_name));
    assert_eq!(status, 200);
    assert_eq!(sha256_bytes(&body), small.sha256);
    assert_eq!(get(&served.server, "/simple/no-such-project/").0, 404);
}

/// `uv pip compile` of `django` against the served index with `python`; returns the pins.
fn uv_compile(ctx: &TestContext, served: &ServedIndex, python: &Path) -> Vec<String> {
    let started = Instant::now();
    let mut child = ctx
        .command(shared_uv())
        .args(["pip", "compile", "-", "--no-config", "--python"])
        .arg(python)
        .args(["--index-url", &served.simple_url(), "--quiet"])
        .env("UV_CACHE_DIR", ctx.root().join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn uv");
    child.stdin.take().unwrap().write_all(b"django\n").unwrap();
    let output = child.wait_with_output().unwrap();
    eprintln!(
        "[timing] uv pip compile django (python {}) took {:.1?}",
        python.display(),
        started.elapsed()
    );
    let out = assert_success(&output);
    out.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn uv_resolves_django_by_requires_python() {
    let mut ctx = TestContext::new();
    let served = ctx.with_index();
    ctx.with_shared_uv();
    assert_eq!(
        ctx.env_value("PYENVX_INDEX_URL").unwrap(),
        served.simple_url().as_str()
    );
    let uv = shared_uv();
    assert_eq!(
        Path::new(ctx.env_value("PYENVX_UV").unwrap()),
        uv,
        "with_shared_uv sets PYENVX_UV"
    );
    let version = assert_success(&ctx.command(uv).arg("--version").output().unwrap());
    assert!(version.starts_with("uv 0.13.9"), "{version}");

    let pins = uv_compile(&ctx, &served, &py311());
    assert!(
        pins.contains(&"django==5.2.19".to_string()),
        "Python 3.11 must get the newest Django that supports it: {pins:?}"
    );
    assert!(pins.iter().any(|p| p.starts_with("asgiref==")), "{pins:?}");
    assert!(pins.iter().any(|p| p.starts_with("sqlparse==")), "{pins:?}");

    let pins = uv_compile(&ctx, &served, &py312());
    assert!(pins.contains(&"django==6.1.3".to_string()), "{pins:?}");

    // Resolution reads the pages; it never needs the Django 6 wheels on 3.11.
    assert!(served.server.hits("/simple/django/") >= 1);
}

#[test]
fn pip_downloads_from_the_index() {
    let ctx = TestContext::new();
    let served = serve_index();
    let dest = ctx.root().join("downloads");
    let started = Instant::now();
    let output = ctx
        .command(py312())
        .args(["-m", "pip", "download", "--no-deps", "--no-cache-dir"])
        .args(["--disable-pip-version-check", "--no-input"])
        .args(["--index-url", &served.simple_url(), "django==4.2.30", "-d"])
        .arg(&dest)
        .output()
        .expect("spawn pip");
    assert_success(&output);
    eprintln!(
        "[timing] pip download django==4.2.30 took {:.1?}",
        started.elapsed()
    );
    let wheel = wheelhouse_wheels()
        .into_iter()
        .find(|w| w.project == "django" && w.version == "4.2.30")
        .unwrap();
    assert_eq!(sha256_file(&dest.join(&wheel.file_name)), wheel.sha256);
    assert_eq!(
        served.server.hits(&format!("/files/{}", wheel.file_name)),
        1
    );
}
