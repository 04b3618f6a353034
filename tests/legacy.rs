//! Old projects: Python 2.7 (pyenv's, found on the machine: python-build-standalone has no 2.7)
//! with Django 1.11, resolved by pip 20.3.4 and installed through the store, beside modern
//! projects; and Django 1.11 ↔ 2.2 on 3.7. The wheelhouse is the index (Django 1.11.29 and pytz
//! for 2.7; 2.1.15 and 2.2.28 for 3.6 and 3.7).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;

/// A sandbox that also sees this machine's pyenv installs (its 2.7.18 among them).
fn sandbox_with_pyenv(minors: &[&str]) -> Sandbox {
    pyenv_python("2.7");
    let mut sb = Sandbox::new(minors);
    sb.ctx.with_pyenv_root(pyenv_root());
    sb
}

#[track_caller]
fn assert_failure_output(out: std::process::Output) -> std::process::Output {
    assert_failure(&out);
    out
}

fn run_python(sb: &Sandbox, name: &str, code: &str) -> String {
    sb.ok(name, &["run", "--", "python", "-c", code])
        .trim()
        .to_string()
}

#[test]
fn python_list_and_find_show_a_pyenv_2_7() {
    let py = pyenv_python("2.7");
    let sb = sandbox_with_pyenv(&[]);
    let found = sb.ok("", &["python", "find", "2.7"]);
    assert_eq!(found.trim(), py.python().display().to_string());
    let list = sb.ok("", &["python", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&py.version) && l.contains("pyenv")),
        "{list}"
    );
    // A project that names no Python never lands on 2.7.
    let any = sb.ok("", &["python", "find"]);
    assert!(!any.contains("2.7"), "{any}");
}

#[test]
fn an_old_python_that_is_not_here_is_named_not_a_network_error() {
    // No pyenv, and the live build list unreachable (as in every test): the answer must not
    // depend on it.
    let mut ctx = TestContext::new();
    // Nor a `python2.7` / `python3.5` on PATH, whatever this machine has in /usr/bin.
    let empty = ctx.root().join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    ctx.with_path(&empty);
    for (request, install) in [
        ("2.7", "pyenv install 2.7.18"),
        ("3.5", "pyenv install 3.5.10"),
    ] {
        let out = ctx.run(&["python", "find", request]);
        assert_failure(&out);
        let dir = ctx.work().join(format!("old-{request}"));
        fs::create_dir_all(&dir).unwrap();
        let out = ctx
            .cmd()
            .current_dir(&dir)
            .args(["init", "--python", request, "--django", "1.11"])
            .output()
            .unwrap();
        let err = assert_failure(&out);
        assert!(
            err.contains("python-build-standalone has no builds of Python")
                && err.contains(install),
            "{err}"
        );
        assert!(
            !err.contains("list of Python builds") && !err.contains("127.0.0.1:9"),
            "{err}"
        );
        let err = assert_failure(&ctx.run(&["python", "install", request]));
        assert!(err.contains(install), "{err}");
    }
    // Older than pip 20.3.4 runs on: no `pyenv install` would help.
    let err = assert_failure(&ctx.run(&["python", "install", "3.4"]));
    assert!(
        err.contains("older than pyenvx works with") && !err.contains("pyenv install"),
        "{err}"
    );
}

#[test]
fn a_python_2_7_django_1_11_project_checks_migrates_and_tests() {
    let sb = sandbox_with_pyenv(&[]);
    let started = Instant::now();
    let out = sb.ok("legacy", &["init", "--python", "2.7", "--django", "1.11"]);
    eprintln!("init 2.7 + Django 1.11 (cold): {:?}", started.elapsed());
    assert!(out.contains("Initialized legacy"), "{out}");
    let dir = sb.dir("legacy");
    assert_eq!(read(dir.join(".python-version")).trim(), "2.7");
    let lock = read(dir.join("pyenvx.lock"));
    for needle in [
        "version = \"2.7.18\"",
        "source = \"system\"",
        "Django-1.11.29-py2.py3-none-any.whl",
        "name = \"pytz\"",
        "sha256 = ",
    ] {
        assert!(lock.contains(needle), "lock lacks {needle}:\n{lock}");
    }
    // The classic layout: a Python 2 environment of its own, no user site.
    assert!(dir.join(".venv/lib/python2.7/site-packages").is_dir());
    let prefix = run_python(&sb, "legacy", "import sys; print(sys.prefix)");
    assert_eq!(Path::new(&prefix), dir.join(".venv"));
    assert_eq!(
        run_python(&sb, "legacy", "import django; print(django.get_version())"),
        "1.11.29"
    );
    let check = sb.ok("legacy", &["run", "--", "python", "manage.py", "check"]);
    assert!(
        check.contains("System check identified no issues"),
        "{check}"
    );
    sb.ok(
        "legacy",
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    assert!(dir.join("db.sqlite3").is_file());
    // A test of the project, run by Django's runner on 2.7.
    fs::write(
        dir.join("legacy/tests.py"),
        "from django.test import SimpleTestCase\n\n\nclass Smoke(SimpleTestCase):\n    \
         def test_python_2(self):\n        import sys\n        self.assertEqual(sys.version_info[0], 2)\n",
    )
    .unwrap();
    let tested = sb.ok(
        "legacy",
        &[
            "run",
            "--",
            "python",
            "manage.py",
            "test",
            "legacy",
            "-v",
            "2",
        ],
    );
    assert!(
        tested.contains("test_python_2") && tested.contains("OK"),
        "{tested}"
    );
    // Editors and tools: a standard `bin/python` and `pyvenv.cfg`.
    let cfg = read(dir.join(".venv/pyvenv.cfg"));
    assert!(
        cfg.contains("version = 2.7.18") && cfg.contains("pyenvx = "),
        "{cfg}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&sb.ok("legacy", &["status", "--json"])).unwrap();
    assert_eq!(status["django"], "1.11.29", "{status}");
    assert_eq!(status["synced"], true, "{status}");
    // Hash-pinned requirements, the same as for any project.
    let reqs = sb.ok("legacy", &["export", "requirements"]);
    assert!(
        reqs.contains("django==1.11.29 \\\n    --hash=sha256:")
            && reqs.contains("pytz==2024.2 \\\n    --hash=sha256:"),
        "{reqs}"
    );
}

#[test]
fn sync_locked_rebuilds_a_2_7_venv_from_the_lock() {
    let sb = sandbox_with_pyenv(&[]);
    sb.init_bare("old", "2.7", "1.11");
    let dir = sb.dir("old");
    let lock_before = read(dir.join("pyenvx.lock"));
    fs::remove_dir_all(dir.join(".venv")).unwrap();
    // And from an empty store too: the files come from the lock's URLs, checked by hash.
    fs::remove_dir_all(sb.ctx.pyenvx_home().join("store")).unwrap();
    let started = Instant::now();
    sb.ok("old", &["sync", "--locked"]);
    eprintln!(
        "sync --locked, fresh .venv and store: {:?}",
        started.elapsed()
    );
    assert_eq!(read(dir.join("pyenvx.lock")), lock_before);
    assert_eq!(
        run_python(
            &sb,
            "old",
            "import django, pytz; print(django.get_version())"
        ),
        "1.11.29"
    );
    // Warm: the store holds both, so a fresh .venv is links only.
    fs::remove_dir_all(dir.join(".venv")).unwrap();
    let started = Instant::now();
    sb.ok("old", &["sync", "--locked"]);
    eprintln!(
        "sync --locked, fresh .venv, warm store: {:?}",
        started.elapsed()
    );
    let status: serde_json::Value =
        serde_json::from_str(&sb.ok("old", &["status", "--json"])).unwrap();
    assert_eq!(status["synced"], true, "{status}");
    // A distribution installed by hand, imported once (Python 2 writes `extra_mod.pyc` beside
    // it): sync removes it, and its bytecode with it, or Python 2 would still import it.
    let site = dir.join(".venv/lib/python2.7/site-packages");
    fs::write(site.join("extra_mod.py"), "X = 1\n").unwrap();
    fs::create_dir(site.join("extra-1.0.dist-info")).unwrap();
    fs::write(
        site.join("extra-1.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: extra\nVersion: 1.0\n",
    )
    .unwrap();
    fs::write(
        site.join("extra-1.0.dist-info/RECORD"),
        "extra_mod.py,,\nextra-1.0.dist-info/METADATA,,\nextra-1.0.dist-info/RECORD,,\n",
    )
    .unwrap();
    run_python(&sb, "old", "import extra_mod");
    assert!(site.join("extra_mod.pyc").is_file());
    sb.ok("old", &["sync"]);
    assert!(!site.join("extra_mod.pyc").exists() && !site.join("extra_mod.py").exists());
    let out = sb.run_in("old", &["run", "--", "python", "-c", "import extra_mod"]);
    assert!(stderr(&assert_failure_output(out)).contains("No module named"));
    // A lock that no longer matches pyenvx.toml is refused, as for any project.
    let toml = read(dir.join("pyenvx.toml")).replace("django = \"1.11\"", "django = \"1.8\"");
    fs::write(dir.join("pyenvx.toml"), toml).unwrap();
    let err = sb.fails("old", &["sync", "--locked"]);
    assert!(err.contains("out of date"), "{err}");
}

#[test]
fn pin_django_1_11_and_2_2_back_and_forth_on_3_7() {
    let sb = Sandbox::new(&["3.7"]);
    sb.init_bare("mid", "3.7", "1.11");
    assert_eq!(sb.django_version("mid"), "1.11.29");
    for (pin, want) in [("2.2", "2.2.28"), ("1.11", "1.11.29"), ("2.2", "2.2.28")] {
        let started = Instant::now();
        sb.ok("mid", &["pin", "django", pin]);
        eprintln!("pin django {pin} on 3.7: {:?}", started.elapsed());
        assert_eq!(sb.django_version("mid"), want);
        assert!(read(sb.dir("mid").join("pyenvx.lock")).contains(&format!("version = \"{want}\"")));
    }
}

/// `.venv/bin/python`'s version, asked through the `python` shim from `dir`.
fn shim_python(ctx: &TestContext, dir: &Path) -> String {
    let out = ctx
        .command("python")
        .current_dir(dir)
        .args([
            "-c",
            "import sys; print('%s %d.%d' % (sys.prefix, sys.version_info[0], sys.version_info[1]))",
        ])
        .output()
        .unwrap();
    assert_success(&out).trim().to_string()
}

#[test]
fn a_2_7_and_a_3_13_project_side_by_side_under_shims() {
    let mut sb = sandbox_with_pyenv(&["3.13"]);
    sb.init_bare("old", "2.7", "1.11");
    sb.init_bare("new", "3.13", "5.2");
    assert_success(&sb.ctx.run(&["shims", "install"]));
    let shims = sb.ctx.pyenvx_home().join("shims");
    let path: PathBuf = shims;
    sb.ctx
        .with_path(format!("{}:{DEFAULT_PATH}", path.display()));
    let (old, new) = (sb.dir("old"), sb.dir("new"));
    let sub = old.join("legacy_app");
    fs::create_dir_all(&sub).unwrap();
    for _ in 0..2 {
        assert_eq!(
            shim_python(&sb.ctx, &old),
            format!("{} 2.7", old.join(".venv").display())
        );
        assert_eq!(
            shim_python(&sb.ctx, &sub),
            format!("{} 2.7", old.join(".venv").display())
        );
        assert_eq!(
            shim_python(&sb.ctx, &new),
            format!("{} 3.13", new.join(".venv").display())
        );
    }
    assert_eq!(sb.django_version("old"), "1.11.29");
    assert_eq!(sb.django_version("new"), "5.2.19");
}

/// `docker compose ARGS` in `dir` for the compose project `name`, which must succeed.
#[track_caller]
fn compose_ok(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("COMPOSE_PROJECT_NAME", name)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_success(&out)
}

/// Takes the compose project down (containers, network, built image), even when the test fails.
struct Down<'a>(&'a Path, String);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["compose", "down", "--volumes", "--rmi", "local"])
            .current_dir(self.0)
            .env("COMPOSE_PROJECT_NAME", &self.1)
            .output();
    }
}

#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn export_docker_runs_a_2_7_project_in_python_2_7_slim() {
    require_docker();
    require(
        "docker",
        &["compose", "version"],
        "Docker Compose v2 (`docker compose`)",
    );
    let sb = sandbox_with_pyenv(&[]);
    sb.ok("oldweb", &["init", "--python", "2.7", "--django", "1.11"]);
    let dir = sb.dir("oldweb");
    sb.ok("oldweb", &["export", "docker"]);
    let dockerfile = read(dir.join("Dockerfile"));
    assert!(
        dockerfile.contains("FROM python:2.7-slim\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("Python 2.7.18, Django 1.11.29"),
        "{dockerfile}"
    );
    // The stand-in for python:2.7-slim (no registry here), and the index on this host.
    let image = python_image("2.7");
    sb.ok(
        "oldweb",
        &["export", "docker", "--force", "--base-image", &image.tag],
    );
    fs::write(
        dir.join("docker-compose.override.yml"),
        format!(
            "services:\n  web:\n    build:\n      network: host\n      args:\n        PIP_INDEX_URL: \"{}\"\n",
            sb.index_url()
        ),
    )
    .unwrap();
    let name = format!("pyenvx-legacy-{}", std::process::id());
    let _down = Down(&dir, name.clone());
    let started = Instant::now();
    compose_ok(&dir, &name, &["up", "--wait", "--build", "--quiet-pull"]);
    eprintln!("compose build and up --wait (2.7): {:?}", started.elapsed());
    let check = compose_ok(
        &dir,
        &name,
        &["exec", "-T", "web", "python", "manage.py", "check"],
    );
    assert!(
        check.contains("System check identified no issues"),
        "{check}"
    );
    let version = compose_ok(
        &dir,
        &name,
        &[
            "exec",
            "-T",
            "web",
            "python",
            "-c",
            "import sys, django; print('%d.%d %s' % (sys.version_info[0], sys.version_info[1], django.get_version()))",
        ],
    );
    assert_eq!(version.trim(), "2.7 1.11.29");
    drop(image);
}

#[test]
fn pin_python_2_7_and_back_rebuilds_the_venv_each_way() {
    let sb = sandbox_with_pyenv(&["3.7"]);
    sb.init_bare("port", "3.7", "1.11");
    let modern = sb.python_version("port");
    assert!(modern.starts_with("3.7."), "{modern}");
    sb.ok("port", &["pin", "python", "2.7"]);
    assert_eq!(sb.python_version("port"), "2.7.18");
    assert_eq!(sb.django_version("port"), "1.11.29");
    assert!(sb.dir("port").join(".venv/lib/python2.7/site.py").is_file());
    sb.ok("port", &["pin", "python", "3.7"]);
    assert_eq!(sb.python_version("port"), modern);
    assert_eq!(sb.django_version("port"), "1.11.29");
    assert!(!sb.dir("port").join(".venv/lib/python2.7").exists());
}

/// `tinypkg-1.0.tar.gz`, an sdist with a setuptools `setup.py`, in `dir`.
fn write_sdist(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let file = fs::File::create(dir.join("tinypkg-1.0.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    for (name, body) in [
        (
            "tinypkg-1.0/setup.py",
            "from setuptools import setup\nsetup(name='tinypkg', version='1.0', py_modules=['tinypkg'])\n",
        ),
        ("tinypkg-1.0/tinypkg.py", "X = 1\n"),
        (
            "tinypkg-1.0/PKG-INFO",
            "Metadata-Version: 1.1\nName: tinypkg\nVersion: 1.0\n",
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn a_2_7_project_needs_no_uv() {
    let mut sb = sandbox_with_pyenv(&[]);
    sb.ctx.env_remove("PYENVX_UV");
    sb.ok(
        "old",
        &[
            "init",
            "--python",
            "2.7",
            "--django",
            "1.11",
            "--no-startproject",
        ],
    );
    assert_eq!(sb.django_version("old"), "1.11.29");
    let tools = sb.ctx.pyenvx_home().join("tools");
    assert!(tools.join("pip-legacy/pip-20.3.4/pip").is_dir());
    assert!(
        !tools.join("uv").exists(),
        "uv was installed for a Python 2.7 project"
    );
}

#[test]
fn an_sdist_for_2_7_is_refused_by_name_and_nothing_changes() {
    let sb = sandbox_with_pyenv(&[]);
    sb.init_bare("old", "2.7", "1.11");
    let dir = sb.dir("old");
    write_sdist(&dir.join("wheels"));
    let toml = read(dir.join("pyenvx.toml"));
    let edited = format!(
        "{toml}\n[tool.pyenvx]\nfind-links = [\"{}\"]\n",
        dir.join("wheels").display()
    );
    fs::write(dir.join("pyenvx.toml"), &edited).unwrap();
    sb.ok("old", &["sync"]);
    let lock = read(dir.join("pyenvx.lock"));
    let err = sb.fails("old", &["add", "tinypkg"]);
    assert!(
        err.contains("tinypkg (tinypkg-1.0.tar.gz)") && err.contains("only wheels install"),
        "{err}"
    );
    assert_eq!(read(dir.join("pyenvx.toml")), edited);
    assert_eq!(read(dir.join("pyenvx.lock")), lock);
    assert_eq!(sb.django_version("old"), "1.11.29");
}
