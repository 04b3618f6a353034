//! The real package index: packages Django projects commonly use, added to sandboxes on several
//! Pythons and imported. The index (and certificates, proxies) are whatever this machine's own
//! pip and uv configuration says; these tests name no host.
//!
//! Ignored by default (they need the network); `.ci/run` runs them with
//! `PYENVX_TEST_REAL_INDEX=1 cargo test --test real_index -- --ignored` when the index answers.
//! A package that `uv pip install` cannot install on that interpreter either is reported as
//! skipped, with uv's reason, and never counted as passed.

mod common;

use std::path::PathBuf;
use std::process::Output;
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
        assert_eq!(
            std::env::var("PYENVX_TEST_REAL_INDEX").as_deref(),
            Ok("1"),
            "{GATE} (run through .ci/run, or set it yourself)"
        );
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
