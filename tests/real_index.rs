//! The real package index: packages Django projects commonly use, added to sandboxes on several
//! Pythons and imported; and pyenvx's own wheel, built with maturin from the index, installed with
//! pip and `uv tool install`, running the README's first line (as it does after the line's own
//! `cargo install`). The index (and certificates,
//! proxies) are whatever this machine's own pip and uv configuration says; these tests name no
//! host.
//!
//! Ignored by default (they need the network); `.ci/run` runs them with
//! `PYENVX_TEST_REAL_INDEX=1 cargo test --test real_index -- --ignored` when the index answers.
//! A package that `uv pip install` cannot install on that interpreter either is reported as
//! skipped, with uv's reason, and never counted as passed.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use common::*;

/// (requirement, module to import).
const PACKAGES: &[(&str, &str)] = &[
    ("requests", "requests"),
    ("cryptography", "cryptography.fernet"),
    ("lxml", "lxml.etree"),
    ("mypy", "mypy"),
    ("celery[redis]", "celery"),
    ("daphne", "daphne"),
    ("django-allauth", "allauth"),
    ("psycopg[binary]", "psycopg"),
    ("pillow", "PIL.Image"),
    ("djangorestframework", "rest_framework"),
    ("django-environ", "environ"),
    ("whitenoise", "whitenoise"),
    ("gunicorn", "gunicorn"),
    ("django-cors-headers", "corsheaders"),
    ("django-filter", "django_filters"),
    ("django-extensions", "django_extensions"),
    ("django-debug-toolbar", "debug_toolbar"),
    ("django-storages", "storages"),
    ("boto3", "boto3"),
    ("channels", "channels"),
    ("django-crispy-forms", "crispy_forms"),
    ("django-redis", "django_redis"),
    ("sentry-sdk", "sentry_sdk"),
    ("python-dotenv", "dotenv"),
    ("pytest-django", "pytest_django"),
    ("factory-boy", "factory"),
    ("djangorestframework-simplejwt", "rest_framework_simplejwt"),
    ("dj-database-url", "dj_database_url"),
    ("uvicorn", "uvicorn"),
    ("pyyaml", "yaml"),
    ("markdown", "markdown"),
    ("django-model-utils", "model_utils"),
    ("django-taggit", "taggit"),
    ("python-dateutil", "dateutil"),
    ("stripe", "stripe"),
];

/// How many requirements one `pyenvx add` takes at first; a failing batch is retried one by one.
const BATCH: usize = 12;

/// Variables the machine's own network settings live in; the hermetic context drops them.
const NETWORK_ENV: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
];

const GATE: &str = "needs the real package index: PYENVX_TEST_REAL_INDEX=1";

#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn common_packages_on_python_3_10() {
    common_packages("3.10");
}

#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn common_packages_on_python_3_12() {
    common_packages("3.12");
}

#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn common_packages_on_python_3_13() {
    common_packages("3.13");
}

struct Real {
    ctx: TestContext,
    _pythons: (TestServer, Mirror),
}

impl Real {
    fn new(minor: &str) -> Self {
        require_real_index();
        let mut ctx = TestContext::new();
        for name in NETWORK_ENV {
            if let Some(value) = std::env::var_os(name) {
                ctx.env(name, value);
            }
        }
        // One uv cache for the three interpreters: each wheel is fetched once per run.
        let shared_cache = fixtures_dir().join("real-index-cache");
        std::fs::create_dir_all(&shared_cache).unwrap();
        ctx.env("PYENVX_CACHE_DIR", &shared_cache);
        let pythons = ctx.serve_pythons(&[minor]);
        ctx.with_shared_uv();
        ctx.env("PYENVX_DB_PORTS", port_range());
        Real {
            ctx,
            _pythons: pythons,
        }
    }

    fn dir(&self) -> PathBuf {
        self.ctx.work().join("p")
    }

    fn pyenvx(&self, args: &[&str]) -> Output {
        std::fs::create_dir_all(self.dir()).unwrap();
        self.ctx
            .cmd()
            .current_dir(self.dir())
            .args(args)
            .output()
            .unwrap()
    }

    /// `uv pip install --dry-run` of one requirement into the project's `.venv`, as a user
    /// would try it with uv alone: `Err(uv's reason)` when uv cannot install it either.
    fn uv_can_install(&self, requirement: &str) -> Result<(), String> {
        let out = self
            .ctx
            .command(shared_uv())
            .current_dir(self.dir())
            .env("UV_CACHE_DIR", fixtures_dir().join("real-index-cache/uv"))
            .args([
                "pip",
                "install",
                "--dry-run",
                "--color",
                "never",
                "--python",
            ])
            .arg(self.dir().join(".venv/bin/python"))
            .arg(requirement)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            let text = stderr(&out);
            let reason: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(6)
                .collect();
            Err(reason.join(" / "))
        }
    }
}

/// Fails the test unless the run opted in to the network.
fn require_real_index() {
    assert_eq!(
        std::env::var("PYENVX_TEST_REAL_INDEX").as_deref(),
        Ok("1"),
        "{GATE} (run through .ci/run, or set it yourself)"
    );
}

fn common_packages(minor: &str) {
    let started = Instant::now();
    let real = Real::new(minor);
    let out = real.pyenvx(&[
        "init",
        "--python",
        minor,
        "--django",
        "5.2",
        "--no-startproject",
    ]);
    assert_success(&out);

    let mut added: Vec<(&str, &str)> = Vec::new();
    let mut skipped: Vec<(&str, String)> = Vec::new();
    let mut failed: Vec<(&str, String)> = Vec::new();
    for batch in PACKAGES.chunks(BATCH) {
        let mut args = vec!["add"];
        args.extend(batch.iter().map(|(r, _)| *r));
        if real.pyenvx(&args).status.success() {
            added.extend(batch);
            continue;
        }
        for &(requirement, module) in batch {
            let out = real.pyenvx(&["add", requirement]);
            if out.status.success() {
                added.push((requirement, module));
                continue;
            }
            match real.uv_can_install(requirement) {
                Err(reason) => skipped.push((requirement, reason)),
                Ok(()) => failed.push((requirement, format!("pyenvx add: {}", describe(&out)))),
            }
        }
    }

    // Import everything added, in one interpreter, with Django configured (apps such as allauth
    // read settings at import).
    let modules: Vec<&str> = added.iter().map(|(_, m)| *m).collect();
    let script = format!(
        "import importlib, django\n\
         from django.conf import settings\n\
         settings.configure(INSTALLED_APPS=['django.contrib.contenttypes', \
         'django.contrib.auth'])\n\
         django.setup()\n\
         for m in {modules:?}:\n    \
             try:\n        importlib.import_module(m)\n    \
             except Exception as e:\n        print(f'FAILED {{m}}: {{type(e).__name__}}: {{e}}')\n"
    );
    let out = real.pyenvx(&["run", "--", "python", "-c", &script]);
    let text = assert_success(&out);
    for line in text.lines().filter(|l| l.starts_with("FAILED ")) {
        let (module, why) = line["FAILED ".len()..].split_once(": ").unwrap();
        let requirement = added.iter().find(|(_, m)| *m == module).unwrap().0;
        failed.push((requirement, format!("import {module}: {why}")));
    }

    let import_failures = failed
        .iter()
        .filter(|(_, why)| why.starts_with("import "))
        .count();
    let passed = added.len() - import_failures;
    eprintln!(
        "python {minor}: {passed} of {} packages added and imported, {} skipped, {} failed, in {:.0?}",
        PACKAGES.len(),
        skipped.len(),
        failed.len(),
        started.elapsed()
    );
    for (requirement, reason) in &skipped {
        eprintln!("  skipped {requirement}: uv cannot install it either: {reason}");
    }
    assert!(
        failed.is_empty(),
        "python {minor}: {} failed:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|(r, why)| format!("  {r}: {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Issue 10's first project as it was: Django 4.0 pinned (which talks to PostgreSQL through
/// psycopg2 only), environs reading `DATABASE_URL` and the secret, a Dockerfile on 3.10 and a
/// compose file on `postgres:13`. environs and psycopg2 are not in the wheelhouse: this tier.
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn adopts_an_environs_project_on_django_4_0() {
    let real = Real::new("3.10");
    require_pg15();
    open_for_postgres(&real.ctx);
    let dir = real.ctx.work().join("environs");
    clone_project(
        &real.ctx,
        &dir,
        &[
            &[
                (
                    "requirements.txt",
                    "Django==4.0.10\nenvirons[django]>=9\npsycopg2-binary>=2.9\n",
                ),
                ("Dockerfile", &dockerfile("3.10.4-slim")),
                ("docker-compose.yml", &compose("postgres:13")),
                ("mysite/settings.py", &settings(SettingsStyle::Environs)),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let run = adopt_and_run_its_tests(&real.ctx, &dir, &[], &[]);
    assert_export_beside(&real.ctx, &dir);
    assert!(
        run.init.contains("Django 4.0.10") && run.init.contains("PostgreSQL 13 → 15"),
        "{}",
        run.init
    );
    assert_eq!(run.server_major, 15);
    let django = pyenvx_ok(
        &real.ctx,
        &dir,
        &[
            "run",
            "--",
            "python",
            "-c",
            "import django; print(django.get_version())",
        ],
    );
    assert_eq!(django.trim(), "4.0.10");
}

/// A pyproject project reading `DATABASE_URL` through django-environ (`env.db()`), its compose
/// file on `postgres:13`.
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn adopts_a_django_environ_project() {
    let real = Real::new("3.12");
    require_pg15();
    open_for_postgres(&real.ctx);
    let dir = real.ctx.work().join("environ");
    clone_project(
        &real.ctx,
        &dir,
        &[
            &[
                (
                    "pyproject.toml",
                    "[project]\nname = \"environ-site\"\nversion = \"1\"\nrequires-python = \">=3.10\"\n\
                     dependencies = [\"django>=4.2,<5\", \"django-environ>=0.11\", \"psycopg[binary]>=3.1\"]\n",
                ),
                ("compose.yaml", &compose("postgres:13")),
                ("mysite/settings.py", &settings(SettingsStyle::DjangoEnviron)),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let run = adopt_and_run_its_tests(&real.ctx, &dir, &[], &[]);
    assert_export_beside(&real.ctx, &dir);
    assert!(run.init.contains("PostgreSQL 13 → 15"), "{}", run.init);
    assert_eq!(run.server_major, 15);
}

/// A Django 3.2 project on SQLite moved to PostgreSQL with `init --db postgres`: Django before
/// 4.2 imports psycopg2 only, so that is the driver added (psycopg 3 would leave the project
/// unable to connect: "Error loading psycopg2 module").
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn db_postgres_gives_django_3_2_psycopg2() {
    let real = Real::new("3.10");
    require_pg15();
    open_for_postgres(&real.ctx);
    let dir = real.ctx.work().join("old");
    clone_project(
        &real.ctx,
        &dir,
        &[
            &[
                ("runtime.txt", "python-3.10.2\n"),
                ("requirements.txt", "Django==3.2.25\n"),
                (
                    "mysite/settings.py",
                    &settings(SettingsStyle::DjDatabaseUrlWithDefaults),
                ),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let run = adopt_and_run_its_tests(&real.ctx, &dir, &["--db", "postgres"], &[]);
    assert_eq!(run.server_major, 15);
    let toml = std::fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    assert!(
        toml.contains("\"psycopg2-binary\"") && !toml.contains("psycopg["),
        "{toml}"
    );
}

// ---------------------------------------------------------------------------------------------
// pyenvx as a wheel (pyproject.toml: maturin, `bindings = "bin"`), installed the two ways Python
// developers install tools, then the README's first line run with what they installed.

/// The wheel [`built_wheel`] makes, or why it could not: built once per run (a failed build is
/// not tried again by the next test) and shared by the tests that install it.
static WHEEL: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `pip wheel .` of this checkout, as the index would get it: maturin comes from the index (the
/// PEP 517 build's own requirement); `--compatibility pypi` is what `maturin build` reads from
/// pyproject.toml and a PEP 517 build replaces with the native `linux` tag unless told. The
/// `wheel-test` profile (Cargo.toml) and a target directory of its own keep it to a test build's
/// time, apart from the target directory this `cargo test` holds.
fn built_wheel() -> &'static Path {
    match WHEEL.get_or_init(build_wheel) {
        Ok(wheel) => wheel,
        Err(why) => panic!("{why}"),
    }
}

fn build_wheel() -> Result<PathBuf, String> {
    // nextest runs each test in its own process, side by side: one builds while the others wait
    // on the lock, then they take its wheel (one per run: NEXTEST_RUN_ID, else this process).
    let run = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| std::process::id().to_string());
    let out = fixtures_dir().join(format!("wheel-{run}"));
    std::fs::create_dir_all(fixtures_dir()).unwrap();
    let lock = std::fs::File::create(fixtures_dir().join("wheel.lock")).unwrap();
    lock.lock().expect("lock the wheel fixture");
    if let Ok(wheel) = only_wheel(&out) {
        return Ok(wheel);
    }
    // Earlier runs' wheels, and this run's half-built one.
    for entry in std::fs::read_dir(fixtures_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("wheel-")
            && entry.file_name() != "wheel-target"
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let python = pyenv_python("3.12").python();
    std::fs::create_dir_all(&out).unwrap();
    let started = Instant::now();
    let build = Command::new(&python)
        .args(["-m", "pip", "wheel", "--no-deps", "--quiet", "-w"])
        .arg(&out)
        .arg(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", fixtures_dir().join("wheel-target"))
        .env(
            "MATURIN_PEP517_ARGS",
            "--profile wheel-test --compatibility pypi",
        )
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {}: {e}", python.display()))?;
    if !build.status.success() {
        return Err(format!("pip wheel failed\n{}", describe(&build)));
    }
    let wheel = only_wheel(&out)?;
    eprintln!(
        "wheel: {} ({:.1} MB) built in {:.0?}",
        wheel.file_name().unwrap().to_string_lossy(),
        std::fs::metadata(&wheel).unwrap().len() as f64 / 1e6,
        started.elapsed()
    );
    Ok(wheel)
}

/// The one wheel in `dir`.
fn only_wheel(dir: &Path) -> Result<PathBuf, String> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("read {}: {e}", dir.display()))?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    if wheels.len() != 1 {
        return Err(format!(
            "one wheel expected in {}: {wheels:?}",
            dir.display()
        ));
    }
    Ok(wheels.remove(0))
}

/// The README's first line: the install command, then what to run with what it installed.
fn readme_first_line() -> (String, String) {
    let readme = include_str!("../README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .expect("README.md opens with a ```sh block");
    let line = block.lines().next().unwrap();
    let (install, rest) = line
        .split_once(" && ")
        .unwrap_or_else(|| panic!("README's first line installs, then runs: {line}"));
    (install.to_string(), rest.to_string())
}

/// A real-index context for the installed pyenvx: no `PYENVX_UV`, so it finds uv or installs
/// its own as a user's would.
fn installed_context() -> Real {
    let mut real = Real::new("3.12");
    real.ctx.env_remove("PYENVX_UV");
    real
}

/// Runs the README's first line after its install command, with `bin` first on PATH, and
/// returns the project it made.
fn run_readme_line(real: &Real, bin: &Path) -> PathBuf {
    let (_, rest) = readme_first_line();
    let out = real
        .ctx
        .command("sh")
        .args(["-c", &rest])
        .env("PATH", path_with(&[bin]))
        .output()
        .unwrap();
    let text = assert_success(&out);
    assert!(text.contains("System check identified no issues"), "{text}");
    real.ctx.work().join("mysite")
}

fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let mut all: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    all.extend(std::env::split_paths(DEFAULT_PATH));
    std::env::join_paths(all).unwrap()
}

/// `pyenvx --version` of an installed binary: this checkout's version.
fn assert_version(real: &Real, pyenvx: &Path) {
    let out = real.ctx.command(pyenvx).arg("--version").output().unwrap();
    let text = assert_success(&out);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

/// The wheel on the index's terms: both binaries as scripts (executable), no Python code, a
/// platform tag the index accepts for this machine, and this checkout's name and version.
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn wheel_holds_both_binaries_with_index_tags() {
    require_real_index();
    let wheel = built_wheel();
    let version = env!("CARGO_PKG_VERSION");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!("pyenvx-{version}-py3-none-");
    let platform = name
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(".whl"))
        .unwrap_or_else(|| panic!("{name} is not {prefix}PLATFORM.whl"));
    let arch = std::env::consts::ARCH;
    assert!(
        platform.split('.').all(|tag| {
            (tag.starts_with("manylinux_")
                || tag.starts_with("musllinux_")
                || tag.starts_with("manylinux2014_"))
                && tag.ends_with(arch)
        }),
        "{name}: the index takes manylinux/musllinux tags, not {platform}"
    );

    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    let scripts = format!("pyenvx-{version}.data/scripts/");
    for bin in ["pyenvx", "pyenvx-shim"] {
        let entry = zip.by_name(&format!("{scripts}{bin}")).unwrap_or_else(|_| {
            panic!("{name} has no {scripts}{bin}: {names:#?}");
        });
        assert!(
            entry.unix_mode().is_some_and(|m| m & 0o111 != 0),
            "{bin} is not executable in {name}"
        );
    }
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("pyenvx-{version}."))),
        "only scripts and metadata belong in {name}: {names:#?}"
    );
    let mut read = |path: &str| {
        let mut text = String::new();
        zip.by_name(&format!("pyenvx-{version}.dist-info/{path}"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let wheel_file = read("WHEEL");
    assert!(
        wheel_file.contains("Root-Is-Purelib: false"),
        "{wheel_file}"
    );
    let tags: Vec<&str> = wheel_file
        .lines()
        .filter_map(|l| l.strip_prefix("Tag: "))
        .collect();
    let expected: Vec<String> = platform
        .split('.')
        .map(|p| format!("py3-none-{p}"))
        .collect();
    assert_eq!(tags, expected, "{wheel_file}");
    let metadata = read("METADATA");
    for line in [
        "Name: pyenvx".to_string(),
        format!("Version: {version}"),
        "Requires-Python: >=3.8".to_string(),
    ] {
        assert!(
            metadata.lines().any(|l| l == line),
            "{line} not in\n{metadata}"
        );
    }
}

/// The README's install command as written (`cargo install --locked --path .`, in this
/// checkout, with the machine's Cargo and its registry), then the rest of the line with what it
/// installed. Only where it goes is the test's: `CARGO_INSTALL_ROOT` keeps it out of the
/// machine's `~/.cargo/bin`, and the build directory is kept between runs (a first build takes
/// minutes on two cores).
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn cargo_installs_and_the_readme_line_runs() {
    let real = installed_context();
    let (install, _) = readme_first_line();
    assert!(
        install.starts_with("cargo install "),
        "README's install command is not Cargo's: {install}"
    );
    let root = real.ctx.root().join("cargo-root");
    let started = Instant::now();
    let out = Command::new("sh")
        .args(["-c", &install])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_INSTALL_ROOT", &root)
        .env(
            "CARGO_TARGET_DIR",
            fixtures_dir().join("cargo-install-target"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&out);
    eprintln!("{install}: {:.0?}", started.elapsed());
    let bin = root.join("bin");
    assert!(
        is_executable(&bin.join("pyenvx")),
        "no pyenvx in {}",
        bin.display()
    );
    assert_version(&real, &bin.join("pyenvx"));
    run_readme_line(&real, &bin);
}

/// `pip install` of the wheel into a fresh environment (a pyenv CPython's venv, active: its
/// `bin` first on PATH), then the README's first line.
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn pip_installs_the_wheel_and_the_readme_line_runs() {
    let real = installed_context();
    let wheel = built_wheel();
    let venv = real.ctx.root().join("tool-venv");
    let python = pyenv_python("3.12").python();
    assert_success(
        &real
            .ctx
            .command(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .unwrap(),
    );
    let started = Instant::now();
    assert_success(
        &real
            .ctx
            .command(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--no-deps"])
            .arg(wheel)
            .output()
            .unwrap(),
    );
    eprintln!("pip install of the wheel: {:.1?}", started.elapsed());
    let bin = venv.join("bin");
    for exe in ["pyenvx", "pyenvx-shim"] {
        assert!(
            is_executable(&bin.join(exe)),
            "no {exe} in {}",
            bin.display()
        );
    }
    assert_version(&real, &bin.join("pyenvx"));
    run_readme_line(&real, &bin);
}

/// `uv tool install` of the wheel, the way README.md gives Python developers: the tool's bin
/// directory holds links into the tool's environment, where `pyenvx-shim` sits beside `pyenvx`;
/// the README's first line's project runs, and the shims work from that layout.
#[test]
#[ignore = "needs the real package index: PYENVX_TEST_REAL_INDEX=1"]
fn uv_tool_installs_the_wheel_and_the_readme_line_runs() {
    let mut real = installed_context();
    assert!(
        include_str!("../README.md").contains("`uv tool install .`"),
        "README.md names `uv tool install .` as the Python tool's way to install"
    );
    let wheel = built_wheel();
    let tools = real.ctx.root().join("uv-tools");
    let tool_bin = real.ctx.root().join("uv-tool-bin");
    // uv on PATH, as a uv user has it.
    let uv_bin = real.ctx.root().join("uv-bin");
    std::fs::create_dir_all(&uv_bin).unwrap();
    std::os::unix::fs::symlink(shared_uv(), uv_bin.join("uv")).unwrap();
    real.ctx
        .env("UV_TOOL_DIR", &tools)
        .env("UV_TOOL_BIN_DIR", &tool_bin)
        .env("PATH", path_with(&[&tool_bin, &uv_bin]));

    let started = Instant::now();
    let out = real
        .ctx
        .command(uv_bin.join("uv"))
        .args(["tool", "install", "--color", "never", "--python"])
        .arg(pyenv_python("3.12").python())
        .arg(wheel)
        .output()
        .unwrap();
    assert_success(&out);
    eprintln!("uv tool install of the wheel: {:.1?}", started.elapsed());
    let linked = tool_bin.join("pyenvx");
    let target = std::fs::canonicalize(&linked).unwrap();
    assert!(
        target.starts_with(std::fs::canonicalize(&tools).unwrap()),
        "{} should lead into the tool's environment, not {}",
        linked.display(),
        target.display()
    );
    assert!(is_executable(&target.with_file_name("pyenvx-shim")));
    assert_version(&real, &linked);

    let mysite = run_readme_line(&real, &tool_bin);

    // `python` through the shims, from pyenvx as uv installed it.
    let out = real
        .ctx
        .command(&linked)
        .args(["shims", "install"])
        .output()
        .unwrap();
    assert_success(&out);
    let out = real
        .ctx
        .command(real.ctx.pyenvx_home().join("shims/python"))
        .current_dir(&mysite)
        .args(["-c", "import django; print(django.get_version())"])
        .output()
        .unwrap();
    assert!(
        assert_success(&out).starts_with("5.2."),
        "{}",
        describe(&out)
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
