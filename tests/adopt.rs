//! `pyenvx init` in a Django project that already exists (cloned, not created): it reads the
//! project's own files for its Python, Django and database, and writes only pyenvx's files.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const MANAGE_PY: &str = "#!/usr/bin/env python\nimport os\nimport sys\n\n\
if __name__ == \"__main__\":\n    os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"mysite.settings\")\n    \
from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n";

const SETTINGS: &str = "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = \"fixture-only\"\nDEBUG = True\nALLOWED_HOSTS = []\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.sqlite3\", \"NAME\": BASE_DIR / \"db.sqlite3\"}}\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n";

/// A small Django project with `extra` files, committed to git as a clone would be.
fn clone_project(sb: &Sandbox, name: &str, extra: &[(&str, &str)]) {
    let dir = sb.dir(name);
    fs::create_dir_all(dir.join("mysite")).unwrap();
    let mut files = vec![
        ("manage.py", MANAGE_PY),
        ("mysite/__init__.py", ""),
        ("mysite/settings.py", SETTINGS),
        ("mysite/urls.py", "urlpatterns = []\n"),
        (".gitignore", "__pycache__/\n*.sqlite3\n"),
    ];
    files.extend_from_slice(extra);
    for (file, text) in files {
        fs::write(dir.join(file), text).unwrap();
    }
    git(sb, &dir, &["init", "-q"]);
    git(sb, &dir, &["add", "-A"]);
    git(
        sb,
        &dir,
        &[
            "-c",
            "user.name=fixture",
            "-c",
            "user.email=fixture@example.invalid",
            "commit",
            "-qm",
            "the project as cloned",
        ],
    );
}

fn git(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let out = sb
        .ctx
        .command("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert_success(&out)
}

/// `pyenvx init` adopts the project; `manage.py check` passes; git sees only pyenvx's files.
fn adopt_and_check(sb: &Sandbox, name: &str) -> String {
    let out = sb.ok(name, &["init"]);
    assert!(out.contains("Adopting the project"), "{out}");
    let check = sb.ok(name, &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{name}: {check}");
    let dir = sb.dir(name);
    let status = git(
        sb,
        &dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    for line in status.lines() {
        let path = line[3..].trim();
        assert!(
            [
                "pyenvx.toml",
                "pyenvx.lock",
                ".python-version",
                ".gitignore"
            ]
            .contains(&path),
            "{name}: only pyenvx's files change, not `{line}`:\n{status}"
        );
    }
    // The project's own ignore rules stay; pyenvx only appends its own lines.
    let diff = git(sb, &dir, &["diff", "-U0", "--", ".gitignore"]);
    for line in diff.lines().filter(|l| l.starts_with(['+', '-'])) {
        assert!(
            line.starts_with("+++")
                || line.starts_with("---")
                || line == "+.venv/"
                || line == "+.pyenvx/",
            "{name}: .gitignore changed beyond pyenvx's lines: {diff}"
        );
    }
    out
}

#[test]
fn a_cloned_project_with_dockerfile_and_compose() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    clone_project(
        &sb,
        "clone",
        &[
            ("requirements.txt", "Django==4.0.10\n"),
            (
                "Dockerfile",
                "FROM python:3.10.4-slim\nCOPY . /app\nCMD [\"python\", \"manage.py\", \"runserver\"]\n",
            ),
            (
                "docker-compose.yml",
                "services:\n  db:\n    image: postgres:13\n    environment:\n      POSTGRES_PASSWORD: x\n  web:\n    build: .\n",
            ),
        ],
    );
    let out = adopt_and_check(&sb, "clone");
    for row in [
        "requirements.txt",
        "Django 4.0.10",
        "Dockerfile",
        "Python 3.10 (FROM python:3.10.4-slim)",
        "docker-compose.yml",
        "PostgreSQL 13",
    ] {
        assert!(out.contains(row), "the report names `{row}`: {out}");
    }
    let toml = read(sb.dir("clone").join("pyenvx.toml"));
    assert!(toml.contains("python = \"3.10\""), "{toml}");
    assert!(toml.contains("django = \"4.0.10\""), "{toml}");
    assert!(
        toml.contains("[services.db]") && toml.contains("version = \"13\""),
        "{toml}"
    );
    assert_eq!(sb.python_version("clone"), "3.10.13");
    assert_eq!(sb.django_version("clone"), "4.0.10");
}

#[test]
fn pipfile_pyproject_and_runtime_txt_projects() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    clone_project(
        &sb,
        "pipenv",
        &[(
            "Pipfile",
            "[[source]]\nurl = \"https://pypi.example.invalid/simple\"\nname = \"pypi\"\n\n\
             [packages]\ndjango = \"==4.2.30\"\nsqlparse = \"*\"\n\n[requires]\npython_version = \"3.12\"\n",
        )],
    );
    let out = adopt_and_check(&sb, "pipenv");
    assert!(
        out.contains("Pipfile") && out.contains("Django 4.2.30, Python 3.12"),
        "{out}"
    );
    assert_eq!(sb.python_version("pipenv"), "3.12.1");
    assert_eq!(sb.django_version("pipenv"), "4.2.30");

    // requires-python allows both: the newest on offer Django 5.2 supports.
    clone_project(
        &sb,
        "modern",
        &[(
            "pyproject.toml",
            "[project]\nname = \"modern\"\nversion = \"1\"\nrequires-python = \">=3.10\"\n\
             dependencies = [\"django>=5.2,<6\"]\n",
        )],
    );
    adopt_and_check(&sb, "modern");
    assert_eq!(sb.python_version("modern"), "3.12.1");
    assert_eq!(sb.django_version("modern"), "5.2.19");
    let toml = read(sb.dir("modern").join("pyenvx.toml"));
    assert!(toml.contains("django = \">=5.2, <6\""), "{toml}");

    // runtime.txt names the Python; Django 3.2 supports 3.10 from 3.2.9 on.
    clone_project(
        &sb,
        "heroku",
        &[
            ("runtime.txt", "python-3.10.2\n"),
            ("requirements.txt", "Django==3.2.25\n"),
        ],
    );
    let out = adopt_and_check(&sb, "heroku");
    assert!(
        out.contains("runtime.txt") && out.contains("python-3.10.2"),
        "{out}"
    );
    assert_eq!(sb.python_version("heroku"), "3.10.13");
    assert_eq!(sb.django_version("heroku"), "3.2.25");
}

#[test]
fn conflicting_sources_are_reported_not_guessed() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    clone_project(
        &sb,
        "torn",
        &[
            ("runtime.txt", "python-3.12.1\n"),
            ("Dockerfile", "FROM python:3.10-slim\n"),
            ("requirements.txt", "Django==4.2.30\n"),
        ],
    );
    let err = sb.fails("torn", &["init"]);
    assert!(
        err.contains("3.12 in runtime.txt") && err.contains("3.10 in Dockerfile"),
        "{err}"
    );
    assert!(err.contains("--python"), "{err}");
    assert!(!sb.dir("torn").join("pyenvx.toml").exists());
    // The user settles it.
    sb.ok("torn", &["init", "--python", "3.12"]);
    assert_eq!(sb.django_version("torn"), "4.2.30");
}
