//! Django projects as users clone them, for the adoption tests of both tiers (the wheelhouse
//! and the real package index): a git checkout with its own requirements, Dockerfile, compose
//! file and settings in the shapes public projects have, plus a small app whose own test writes
//! a row and reads it back through the test client.
//!
//! The app's test only passes when the project runs the way its containers did: on PostgreSQL
//! (not the SQLite fallback), with the variables the compose file gave the web container
//! (without `DJANGO_SECURE_SSL_REDIRECT=False` the test client gets a 301, as in issue 10).

use std::fs;
use std::path::Path;
use std::process::Output;

use super::{assert_success, describe, stderr, stdout, TestContext};

pub const MANAGE_PY: &str = "#!/usr/bin/env python\nimport os\nimport sys\n\n\
if __name__ == \"__main__\":\n    os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"mysite.settings\")\n    \
from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n";

/// Settings with everything written in: SQLite, a literal secret.
pub const SETTINGS: &str = "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = \"fixture-only\"\nDEBUG = True\nALLOWED_HOSTS = []\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.sqlite3\", \"NAME\": BASE_DIR / \"db.sqlite3\"}}\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n";

/// `git` in `dir` with the context's environment; must succeed; returns stdout.
pub fn git(ctx: &TestContext, dir: &Path, args: &[&str]) -> String {
    let out = ctx
        .command("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert_success(&out)
}

/// A small Django project in `dir` with `extra` files (which replace the base ones of the same
/// name; a `mysite/settings/` package replaces `mysite/settings.py`), committed to git as a
/// clone would be.
pub fn clone_project(ctx: &TestContext, dir: &Path, extra: &[(&str, &str)]) {
    let package = extra.iter().any(|(f, _)| f.starts_with("mysite/settings/"));
    let mut files = vec![
        ("manage.py", MANAGE_PY),
        ("mysite/__init__.py", ""),
        ("mysite/urls.py", "urlpatterns = []\n"),
        (".gitignore", "__pycache__/\n*.sqlite3\n"),
    ];
    if !package {
        files.push(("mysite/settings.py", SETTINGS));
    }
    files.extend_from_slice(extra);
    for (file, text) in files {
        let path = dir.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    git(ctx, dir, &["init", "-q"]);
    git(ctx, dir, &["add", "-A"]);
    git(
        ctx,
        dir,
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

/// The files pyenvx may create or change in an adopted project.
pub const PYENVX_FILES: [&str; 4] = [
    "pyenvx.toml",
    "pyenvx.lock",
    ".python-version",
    ".gitignore",
];

/// `git status` in an adopted project shows only pyenvx's files, plus `edited` (files the user
/// asked pyenvx to change); `.gitignore` only gained pyenvx's lines. `name` labels failures.
pub fn assert_only_pyenvx_files(ctx: &TestContext, dir: &Path, name: &str, edited: &[&str]) {
    let status = git(
        ctx,
        dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    for line in status.lines() {
        let path = line[3..].trim();
        assert!(
            PYENVX_FILES.contains(&path) || edited.contains(&path),
            "{name}: only pyenvx's files change, not `{line}`:\n{status}"
        );
    }
    // The project's own ignore rules stay; pyenvx only appends its own lines (`.env` when it
    // wrote one: secrets never go to git).
    let mut ours = vec!["+.venv/", "+.pyenvx/"];
    if dir.join(".env").exists() {
        ours.push("+.env");
    }
    let diff = git(ctx, dir, &["diff", "-U0", "--", ".gitignore"]);
    for line in diff.lines().filter(|l| l.starts_with(['+', '-'])) {
        assert!(
            line.starts_with("+++") || line.starts_with("---") || ours.contains(&line),
            "{name}: .gitignore changed beyond pyenvx's lines: {diff}"
        );
    }
}

/// A `notes` app: one model, its migration, a view listing the rows, and a test that writes a
/// row and reads it back through the test client, on PostgreSQL.
pub const NOTES_APP: &[(&str, &str)] = &[
    ("notes/__init__.py", ""),
    ("notes/migrations/__init__.py", ""),
    (
        "notes/models.py",
        "from django.db import models\n\n\nclass Note(models.Model):\n    text = models.CharField(max_length=200)\n",
    ),
    (
        "notes/migrations/0001_initial.py",
        "from django.db import migrations, models\n\n\n\
class Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n    operations = [\n        \
migrations.CreateModel(\n            name=\"Note\",\n            fields=[\n                \
(\"id\", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name=\"ID\")),\n                \
(\"text\", models.CharField(max_length=200)),\n            ],\n        ),\n    ]\n",
    ),
    (
        "notes/views.py",
        "from django.http import HttpResponse\n\nfrom .models import Note\n\n\n\
def index(request):\n    texts = [n.text for n in Note.objects.order_by(\"id\")]\n    \
return HttpResponse(\"\\n\".join(texts), content_type=\"text/plain\")\n",
    ),
    (
        "notes/tests.py",
        "from django.db import connection\nfrom django.test import TestCase\n\nfrom .models import Note\n\n\n\
class NoteTests(TestCase):\n    def test_a_row_comes_back_through_the_view(self):\n        \
self.assertEqual(connection.vendor, \"postgresql\")\n        \
Note.objects.create(text=\"written by the fixture\")\n        \
response = self.client.get(\"/notes/\")\n        \
self.assertEqual(response.status_code, 200)\n        \
self.assertContains(response, \"written by the fixture\")\n",
    ),
    (
        "mysite/urls.py",
        "from django.urls import path\n\nfrom notes import views\n\nurlpatterns = [path(\"notes/\", views.index)]\n",
    ),
];

/// How a fixture's settings read their configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsStyle {
    /// `os.environ`, and `DATABASE_URL` through dj-database-url.
    DjDatabaseUrl,
    /// environs (`env.dj_db_url`).
    Environs,
    /// django-environ (`env.db`).
    DjangoEnviron,
    /// As [`SettingsStyle::DjDatabaseUrl`], with development defaults for the secret and the
    /// redirect (a Heroku-style project: its variables live in the platform's dashboard).
    DjDatabaseUrlWithDefaults,
    /// A literal `DATABASES` dict with `"HOST": "db"`, as the project's compose file runs it.
    Literal,
}

/// The settings of a project running the `notes` app, in `style`. Except the literal one, the
/// secret key must come from the environment and the SSL redirect is on unless the environment
/// turns it off, as production-minded settings have it.
pub fn settings(style: SettingsStyle) -> String {
    if style == SettingsStyle::DjDatabaseUrlWithDefaults {
        return settings(SettingsStyle::DjDatabaseUrl)
            .replace(
                "os.environ[\"DJANGO_SECRET_KEY\"]",
                "os.environ.get(\"DJANGO_SECRET_KEY\", \"dev-only\")",
            )
            .replace(
                "\"DJANGO_SECURE_SSL_REDIRECT\", \"True\"",
                "\"DJANGO_SECURE_SSL_REDIRECT\", \"False\"",
            );
    }
    let head = "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n";
    let config = match style {
        SettingsStyle::DjDatabaseUrl | SettingsStyle::DjDatabaseUrlWithDefaults => "import dj_database_url\n\n\
SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\n\
DEBUG = os.environ.get(\"DJANGO_DEBUG\", \"0\") == \"1\"\n\
SECURE_SSL_REDIRECT = os.environ.get(\"DJANGO_SECURE_SSL_REDIRECT\", \"True\") == \"True\"\n\
DATABASES = {\"default\": dj_database_url.config(default=\"sqlite:///\" + str(BASE_DIR / \"db.sqlite3\"))}\n"
            .to_string(),
        SettingsStyle::Environs => "from environs import Env\n\nenv = Env()\nenv.read_env()\n\n\
SECRET_KEY = env.str(\"DJANGO_SECRET_KEY\")\n\
DEBUG = env.bool(\"DJANGO_DEBUG\", default=False)\n\
SECURE_SSL_REDIRECT = env.bool(\"DJANGO_SECURE_SSL_REDIRECT\", default=True)\n\
DATABASES = {\"default\": env.dj_db_url(\"DATABASE_URL\", default=\"sqlite:///db.sqlite3\")}\n"
            .to_string(),
        SettingsStyle::DjangoEnviron => "import environ\n\nenv = environ.Env()\n\n\
SECRET_KEY = env(\"DJANGO_SECRET_KEY\")\n\
DEBUG = env.bool(\"DJANGO_DEBUG\", default=False)\n\
SECURE_SSL_REDIRECT = env.bool(\"DJANGO_SECURE_SSL_REDIRECT\", default=True)\n\
DATABASES = {\"default\": env.db(\"DATABASE_URL\", default=\"sqlite:///db.sqlite3\")}\n"
            .to_string(),
        SettingsStyle::Literal => "SECRET_KEY = \"django-insecure-fixture\"\nDEBUG = True\n\
DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \
\"NAME\": \"postgres\",\n        \"USER\": \"postgres\",\n        \"PASSWORD\": \"postgres\",\n        \
\"HOST\": \"db\",\n        \"PORT\": 5432,\n    }\n}\n"
            .to_string(),
    };
    format!(
        "{head}{config}\
ALLOWED_HOSTS = [\"localhost\", \"127.0.0.1\"]\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\", \"notes\"]\n\
MIDDLEWARE = [\"django.middleware.security.SecurityMiddleware\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n"
    )
}

/// A compose file as the projects of issue 10 have it: `db` on `image`, a `redis`, and a `web`
/// service built from the project, given the Django variables (a list), a `DATABASE_URL`
/// naming `db`, and variables naming the other services as hosts (which resolve only inside
/// the containers).
pub fn compose(image: &str) -> String {
    format!(
        "services:\n  db:\n    image: {image}\n    environment:\n      POSTGRES_PASSWORD: postgres\n  \
redis:\n    image: redis:7\n  \
web:\n    build: .\n    command: python manage.py runserver 0.0.0.0:8000\n    environment:\n      \
- DJANGO_SECRET_KEY=compose-secret\n      - DJANGO_DEBUG=1\n      - DJANGO_SECURE_SSL_REDIRECT=False\n      \
- DATABASE_URL=postgres://postgres:postgres@db:5432/postgres\n      - POSTGRES_HOST=db\n      \
- CELERY_BROKER_URL=redis://redis:6379/0\n    depends_on:\n      - db\n"
    )
}

/// A Dockerfile on `python:<tag>`.
pub fn dockerfile(tag: &str) -> String {
    format!(
        "FROM python:{tag}\nWORKDIR /app\nCOPY . /app\nRUN pip install -r requirements.txt\n\
CMD [\"python\", \"manage.py\", \"runserver\", \"0.0.0.0:8000\"]\n"
    )
}

/// Runs pyenvx in `dir`; the output, whatever the outcome.
pub fn pyenvx_in(ctx: &TestContext, dir: &Path, args: &[&str]) -> Output {
    ctx.cmd().current_dir(dir).args(args).output().unwrap()
}

/// pyenvx in `dir`, which must succeed; stdout + stderr.
pub fn pyenvx_ok(ctx: &TestContext, dir: &Path, args: &[&str]) -> String {
    let out = pyenvx_in(ctx, dir, args);
    assert_success(&out);
    format!("{}{}", stdout(&out), stderr(&out))
}

/// `pyenvx db down` in `dir` when dropped, so a failing test leaves no server running.
pub struct DbDownOnDrop<'a> {
    pub ctx: &'a TestContext,
    pub dir: std::path::PathBuf,
}

impl Drop for DbDownOnDrop<'_> {
    fn drop(&mut self) {
        if self.dir.join("pyenvx.toml").is_file() {
            let _ = pyenvx_in(self.ctx, &self.dir, &["db", "down"]);
        }
    }
}

/// What [`adopt_and_run_its_tests`] saw.
pub struct Adoption {
    /// `pyenvx init`'s output (the adoption table).
    pub init: String,
    /// `pyenvx db up`'s output.
    pub up: String,
    /// The PostgreSQL major the database runs.
    pub server_major: u32,
}

/// The whole of issue 10's promise for one cloned project in `dir`: `pyenvx init` (with
/// `init_args`) adopts it, `pyenvx db up` starts its database natively, `manage.py migrate`
/// and the project's own `manage.py test` pass through `pyenvx run`, and git shows only
/// pyenvx's files plus `edited`. The database is stopped on the way out.
pub fn adopt_and_run_its_tests(
    ctx: &TestContext,
    dir: &Path,
    init_args: &[&str],
    edited: &[&str],
) -> Adoption {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let _down = DbDownOnDrop {
        ctx,
        dir: dir.to_path_buf(),
    };
    let (init, up, _) = init_up_and_migrate(ctx, dir, init_args, &name);
    let test = pyenvx_in(
        ctx,
        dir,
        &[
            "run",
            "--",
            "python",
            "manage.py",
            "test",
            "notes",
            "-v",
            "2",
        ],
    );
    let text = format!("{}{}", stdout(&test), stderr(&test));
    assert!(
        test.status.success() && text.contains("Ran 1 test") && text.contains("\nOK"),
        "{name}: the project's own tests fail:\n{}",
        describe(&test)
    );
    let version = super::psql(ctx, dir, "SHOW server_version_num");
    let server_major = version
        .parse::<u32>()
        .unwrap_or_else(|_| panic!("{version}"))
        / 10000;
    pyenvx_ok(ctx, dir, &["db", "down"]);
    assert_only_pyenvx_files(ctx, dir, &name, edited);
    Adoption {
        init,
        up,
        server_major,
    }
}

/// The `version` of `[services.db]` in the project's pyenvx.toml.
pub fn db_version(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    let table = &text[text
        .find("[services.db]")
        .unwrap_or_else(|| panic!("no [services.db]: {text}"))..];
    table
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.split('"').next())
        .unwrap_or_else(|| panic!("no version in [services.db]: {text}"))
        .to_string()
}

/// `pyenvx export docker --out docker` in an adopted project: the container files land in
/// `docker/` (the `.dockerignore` at the root, where builders read it), none of the project's
/// files change, and `.env.docker` (0600) carries the variables the web container had, with a
/// fresh secret.
pub fn assert_export_beside(ctx: &TestContext, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let before = git(
        ctx,
        dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    let diff = || git(ctx, dir, &["diff", "--", ".", ":!.gitignore"]);
    let tracked = diff();
    let out = pyenvx_ok(ctx, dir, &["export", "docker", "--out", "docker"]);
    for f in ["Dockerfile", "docker-compose.yml", "requirements.txt"] {
        assert!(
            dir.join("docker").join(f).is_file(),
            "{name}: docker/{f}: {out}"
        );
    }
    let after = git(
        ctx,
        dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    for line in after.lines().filter(|l| !before.lines().any(|b| b == *l)) {
        let path = line[3..].trim();
        assert!(
            path.starts_with("docker/") || [".dockerignore", ".gitignore"].contains(&path),
            "{name}: export touched `{line}`:\n{after}"
        );
    }
    assert_eq!(
        diff(),
        tracked,
        "{name}: export changed the project's files"
    );
    let env = dir.join("docker/.env.docker");
    if env.exists() {
        let mode = fs::metadata(&env).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let text = fs::read_to_string(&env).unwrap();
        assert!(!text.contains("compose-secret"), "{name}: {text}");
    }
}

// Issue 20: settings that build DATABASES from the project's own variables, and where Django
// connects, asked of Django.

/// The `notes` settings tail every issue-20 fixture shares, after its own `DATABASES`.
fn notes_settings_tail() -> &'static str {
    NOTES_SETTINGS_TAIL
}

/// What the `notes` app needs of any settings, after their `DATABASES`.
pub const NOTES_SETTINGS_TAIL: &str = "ALLOWED_HOSTS = [\"localhost\", \"127.0.0.1\"]\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\", \"notes\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n";

/// Settings as in testdriven.io's tutorials: `SQL_ENGINE`, `SQL_DATABASE`, `SQL_USER`,
/// `SQL_PASSWORD`, `SQL_HOST`, `SQL_PORT`, with SQLite as the silent default.
pub fn sql_env_settings() -> String {
    format!(
        "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = os.environ.get(\"SECRET_KEY\")\nDEBUG = bool(int(os.environ.get(\"DEBUG\", 0)))\n\
DATABASES = {{\n    \"default\": {{\n        \
\"ENGINE\": os.environ.get(\"SQL_ENGINE\", \"django.db.backends.sqlite3\"),\n        \
\"NAME\": os.environ.get(\"SQL_DATABASE\", BASE_DIR / \"db.sqlite3\"),\n        \
\"USER\": os.environ.get(\"SQL_USER\", \"user\"),\n        \
\"PASSWORD\": os.environ.get(\"SQL_PASSWORD\", \"password\"),\n        \
\"HOST\": os.environ.get(\"SQL_HOST\", \"localhost\"),\n        \
\"PORT\": os.environ.get(\"SQL_PORT\", \"5432\"),\n    }}\n}}\n{}",
        notes_settings_tail()
    )
}

/// Settings behind a switch: `DB=postgres` selects PostgreSQL from `DB_*`, else SQLite; the
/// secret key must be set.
pub fn db_switch_settings() -> String {
    format!(
        "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDEBUG = os.getenv(\"DEBUG\", \"0\") == \"1\"\n\
if os.getenv(\"DB\") == \"postgres\":\n    DATABASES = {{\n        \"default\": {{\n            \
\"ENGINE\": \"django.db.backends.postgresql\",\n            \"NAME\": os.getenv(\"DB_NAME\"),\n            \
\"USER\": os.getenv(\"DB_USER\"),\n            \"PASSWORD\": os.getenv(\"DB_PASSWORD\"),\n            \
\"HOST\": os.getenv(\"DB_HOST\"),\n            \"PORT\": int(os.getenv(\"DB_PORT\", \"5432\")),\n        }}\n    }}\n\
else:\n    DATABASES = {{\"default\": {{\"ENGINE\": \"django.db.backends.sqlite3\", \"NAME\": BASE_DIR / \"db.sqlite3\"}}}}\n{}",
        notes_settings_tail()
    )
}

/// Settings reading the official image's `POSTGRES_*` names, the host and port with defaults.
pub fn postgres_env_settings() -> String {
    format!(
        "import os\n\nSECRET_KEY = os.environ.get(\"DJANGO_SECRET_KEY\", \"dev\")\nDEBUG = True\n\
DATABASES = {{\n    \"default\": {{\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \
\"NAME\": os.environ.get(\"POSTGRES_DB\", \"postgres\"),\n        \
\"USER\": os.environ.get(\"POSTGRES_USER\", \"postgres\"),\n        \
\"PASSWORD\": os.environ.get(\"POSTGRES_PASSWORD\", \"\"),\n        \
\"HOST\": os.environ.get(\"POSTGRES_HOST\", \"db\"),\n        \
\"PORT\": os.environ.get(\"POSTGRES_PORT\", 5432),\n    }}\n}}\n{}",
        notes_settings_tail()
    )
}

/// Settings that write the whole database in, as tutorials have it for a database on the
/// developer's machine: ENGINE, NAME, USER and PASSWORD literals, HOST `localhost`, and `port`
/// as PORT (`""` leaves it to libpq).
pub fn hard_coded_settings(port: &str) -> String {
    format!(
        "SECRET_KEY = \"django-insecure-fixture\"\nDEBUG = True\n\
DATABASES = {{\n    'default': {{\n        'ENGINE': 'django.db.backends.postgresql',\n        \
'NAME': 'shop',\n        'USER': 'shopper',\n        'PASSWORD': 'S3cret@shop',\n        \
'HOST': 'localhost',\n        'PORT': '{port}',\n    }}\n}}\n{}",
        notes_settings_tail()
    )
}

/// Settings whose cache is Redis at `REDIS_HOST`/`REDIS_PORT` with `REDIS_PASSWORD` (compose's
/// `redis` service by default), the database on `DATABASE_URL`'s PostgreSQL.
pub fn redis_parts_settings() -> String {
    format!(
        "import os\nimport dj_database_url\n\nSECRET_KEY = \"dev\"\nDEBUG = True\n\
DATABASES = {{\"default\": dj_database_url.config(default=\"sqlite:///db.sqlite3\")}}\n\
REDIS_HOST = os.environ.get(\"REDIS_HOST\", \"redis\")\n\
REDIS_PORT = int(os.environ.get(\"REDIS_PORT\", \"6379\"))\n\
CACHES = {{\n    \"default\": {{\n        \"BACKEND\": \"django.core.cache.backends.redis.RedisCache\",\n        \
\"LOCATION\": \"redis://:%s@%s:%d/1\" % (os.environ.get(\"REDIS_PASSWORD\", \"\"), REDIS_HOST, REDIS_PORT),\n    }}\n}}\n{}",
        notes_settings_tail()
    )
}

/// Settings whose cache is the Celery broker's Redis, read from `CELERY_BROKER_URL` (compose's
/// `redis` service by default), the database on `DATABASE_URL`'s PostgreSQL.
pub fn redis_broker_settings() -> String {
    format!(
        "import os\nimport dj_database_url\n\nSECRET_KEY = \"dev\"\nDEBUG = True\n\
DATABASES = {{\"default\": dj_database_url.config(default=\"sqlite:///db.sqlite3\")}}\n\
CELERY_BROKER_URL = os.environ.get(\"CELERY_BROKER_URL\", \"redis://redis:6379/0\")\n\
CACHES = {{\"default\": {{\"BACKEND\": \"django.core.cache.backends.redis.RedisCache\", \
\"LOCATION\": CELERY_BROKER_URL}}}}\n{}",
        notes_settings_tail()
    )
}

/// Settings on SQLite whose file comes from `DATABASE_NAME`, as django-allauth's example has
/// it (its compose file gives `/srv/db/example.db`, a bind mount of `./db`).
pub fn sqlite_name_settings() -> String {
    format!(
        "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = \"dev\"\nDEBUG = True\n\
DATABASES = {{\"default\": {{\"ENGINE\": \"django.db.backends.sqlite3\", \
\"NAME\": os.environ.get(\"DATABASE_NAME\", str(BASE_DIR / \"db\" / \"example.db\"))}}}}\n{}",
        notes_settings_tail()
    )
}

/// Django, asked through `pyenvx run` which server it reaches: the server's own port, database
/// and user (`inet_server_port()`, `current_database()`, `current_user`), which must be those of
/// `pyenvx db url`. `label` names failures.
pub fn assert_django_reaches_pyenvx(ctx: &TestContext, dir: &Path, label: &str) {
    let code = "from django.db import connection as c\n\
with c.cursor() as cur:\n    cur.execute('select inet_server_port(), current_database(), current_user')\n    \
port, name, user = cur.fetchone()\n\
print('DJANGO', c.vendor, port, name, user)\n";
    let out = pyenvx_in(
        ctx,
        dir,
        &["run", "--", "python", "manage.py", "shell", "-c", code],
    );
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("DJANGO "))
        .unwrap_or_else(|| panic!("{label}: Django did not answer:\n{}", describe(&out)));
    let url_out = pyenvx_in(ctx, dir, &["db", "url"]);
    let url = stdout(&url_out).trim().to_string();
    // postgres://user:password@127.0.0.1:port/name
    let rest = url
        .strip_prefix("postgres://")
        .unwrap_or_else(|| panic!("{url}"));
    let (cred, hostpath) = rest.split_once('@').unwrap();
    let user = cred.split(':').next().unwrap();
    let (hostport, name) = hostpath.split_once('/').unwrap();
    let port = hostport.rsplit(':').next().unwrap();
    assert_eq!(
        line,
        format!("DJANGO postgresql {port} {name} {user}"),
        "{label}: Django connects elsewhere than `pyenvx db url` ({url})"
    );
}

/// init, `db up` and `migrate` in an adopted project, then Django asked where it connects:
/// the `notes` migration applied on pyenvx's database. Returns init's, up's and migrate's output.
pub fn adopt_up_migrate(
    ctx: &TestContext,
    dir: &Path,
    init_args: &[&str],
) -> (String, String, String) {
    let label = dir.file_name().unwrap().to_string_lossy().into_owned();
    let _down = DbDownOnDrop {
        ctx,
        dir: dir.to_path_buf(),
    };
    let out = init_up_and_migrate(ctx, dir, init_args, &label);
    assert_django_reaches_pyenvx(ctx, dir, &label);
    out
}

/// `pyenvx init` (adopting), `db up` natively and `manage.py migrate` applying the `notes`
/// migration; their outputs. `label` names failures.
fn init_up_and_migrate(
    ctx: &TestContext,
    dir: &Path,
    init_args: &[&str],
    label: &str,
) -> (String, String, String) {
    let mut args = vec!["init"];
    args.extend_from_slice(init_args);
    let init = pyenvx_ok(ctx, dir, &args);
    assert!(init.contains("Adopting the project"), "{label}: {init}");
    let up = pyenvx_ok(ctx, dir, &["db", "up", "--backend", "native"]);
    let migrate = pyenvx_ok(ctx, dir, &["run", "--", "python", "manage.py", "migrate"]);
    assert!(
        migrate.contains("Applying notes.0001_initial... OK"),
        "{label}: {migrate}"
    );
    (init, up, migrate)
}
