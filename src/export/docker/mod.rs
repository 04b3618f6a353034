//! `pyenvx export docker`: a `Dockerfile`, `docker-compose.yml` and `.dockerignore` that
//! reproduce the sandbox in containers, plus the hashed `requirements.txt` the Dockerfile
//! installs and, with a database, the `.env.docker` holding its secrets.
//!
//! Decisions and why:
//! * The base image is the official `python:X.Y-slim` of the locked interpreter's minor: the
//!   locked wheels carry `cpXY` tags, so any other minor could not install them.
//!   That holds for old projects too: a Python 2.7 lock gets `python:2.7-slim` (the last of
//!   those images, whose pip 20 reads the same hashed requirements), and 3.5 `python:3.5-slim`.
//! * Requirements are installed hash-checked, in their own layer, before the code is copied: a
//!   code change rebuilds in seconds, and the image holds exactly the locked files.
//! * The build context is always the project root (the code is there); `--out` only says where
//!   the files go, so `COPY` paths and the compose `build:` are relative to the root. An `--out`
//!   outside the project points `build.context` back at it; the requirements, which a build
//!   can only copy from its context, then go to the project's `.pyenvx/export/` (named contexts
//!   would avoid that, but older engines' BuildKit refuses them).
//!   `.dockerignore` goes to the root whatever `--out` says: builders read it only there.
//! * `db` runs the image and major of `[services.db]`, on the official image's contract
//!   (`POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`, data at `/var/lib/postgresql/data`,
//!   18+: `/var/lib/postgresql`), healthy only once `pg_isready` succeeds over TCP — the
//!   image's first-run initialisation listens on the Unix socket only, so a TCP check cannot
//!   pass before the database exists.
//! * A MariaDB `db` lets the project's user create and drop Django's test databases
//!   (`test_<name>`, `test_<name>_1`, …): the official image grants `MARIADB_USER` its own
//!   database only, so the compose file carries an init SQL (an inline `configs:` entry, one
//!   file to keep) that the image's entrypoint runs as root on its first start. Those databases
//!   and no more, unlike `db up`'s `*.*`: see [`mariadb_test_grant`].
//! * Secrets never appear in the compose file: both services read `.env.docker`, created once
//!   (mode 0600, a fresh password, listed in `.gitignore` and `.dockerignore`) and never
//!   replaced, not even by `--force`, because the data volume keeps the credentials it was
//!   initialised with.
//! * Host ports bind 127.0.0.1 only; `WEB_PORT` picks another host port than 8000.
//! * A file without pyenvx's header is the user's (an adopted project's own `Dockerfile` or
//!   `requirements.txt`) and is never replaced, not even by `--force`: the user wrote it, and
//!   `--out` puts the export beside it. A `.dockerignore` of theirs is used, since builders
//!   read it from the root alone, with the lines of [`SECRET_IGNORES`] it lacks added at its
//!   end: `COPY . .` never takes a secret or `.pyenvx` (a database's data) into the image.
//! * All or nothing: everything is checked, then staged beside its target, then renamed, so a
//!   refusal never leaves half an export or an empty `--out` directory.
//! * `cache` (with `[services.cache]`) runs `redis:<major>` with `requirepass` from
//!   `.env.docker`'s `REDIS_PASSWORD`, written by the container's shell into a 0600 file inside
//!   the container (never on a command line, which `ps` on the host shows); healthy once an
//!   authenticated `PING` answers `PONG`. Like `db`, it publishes no host port: `web` reaches it
//!   on the compose network as `cache:6379`.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use super::{current_lock, requirements, wheel_platform};
use crate::project::{environment, Lock, Project};
use crate::services::{self, DbConfig, DbEngine};
use crate::user_error;

mod templates;
mod write;

pub use templates::*;
use write::*;

pub const DOCKERFILE: &str = "Dockerfile";
pub const COMPOSE_FILE: &str = "docker-compose.yml";
pub const DOCKERIGNORE: &str = ".dockerignore";
pub const REQUIREMENTS: &str = "requirements.txt";
pub const ENV_FILE: &str = ".env.docker";
/// Where the requirements go when the export is outside the project: inside the build
/// context, in pyenvx's own directory (which `.dockerignore` lets through for this file only).
const OUTSIDE_REQUIREMENTS: &str = ".pyenvx/export/requirements.txt";

/// Where the Dockerfile's requirements are written.
fn requirements_path(root: &Path, out: &Path, spec: &Spec) -> PathBuf {
    match spec.context {
        Some(_) => root.join(OUTSIDE_REQUIREMENTS),
        None => out.join(REQUIREMENTS),
    }
}
/// The cache image for settings that use Redis without a `[services.cache]`.
const DEFAULT_REDIS_IMAGE: &str = "redis:7";

/// What `export docker` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where the files go; default the project root.
    pub out: Option<PathBuf>,
    /// Replace existing files (never `.env.docker`).
    pub force: bool,
    /// Instead of `python:X.Y-slim`.
    pub base_image: Option<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Replaced,
    /// An existing secrets file, left as it was.
    Kept,
    /// The user's own file (a `.dockerignore`), used as it is.
    Yours,
    /// A file pyenvx wrote that already holds exactly what this export would write (the
    /// `requirements.txt` of `export requirements`, a second export): left alone, so it is no
    /// clash and needs no --force.
    Unchanged,
    /// The user's own `.dockerignore`, with the lines it lacked to keep secrets and pyenvx's
    /// state out of the image added at its end.
    Amended(Vec<String>),
}

/// The result of an export, for the command to report.
#[derive(Debug, Clone)]
pub struct Exported {
    pub files: Vec<(PathBuf, Outcome)>,
    /// The directory holding `docker-compose.yml`.
    pub out: PathBuf,
    pub spec: Spec,
    /// Web variables left out of `.env.docker` (no value without the shell), with why.
    pub skipped: Vec<(String, String)>,
}

/// Everything the templates need, gathered from the project and its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The compose project name (`name:`).
    pub name: String,
    /// The locked interpreter, e.g. `3.12.1`.
    pub python: String,
    pub base_image: String,
    pub django: Option<String>,
    /// The Django project package (`library` for `library/settings.py`).
    pub module: String,
    /// What gunicorn serves: the settings' `WSGI_APPLICATION` (`config.wsgi`), else
    /// `<module>.wsgi`.
    pub wsgi: String,
    /// Locked packages with no wheel a Linux container can install: built in a builder stage.
    pub source_builds: super::runs::SourceBuilds,
    pub gunicorn: bool,
    /// Whether the project root has `manage.py`, which the default command runs.
    pub has_manage_py: bool,
    pub db: Option<DbSpec>,
    /// `[services.cache]`: the Redis image.
    pub cache: Option<String>,
    /// The output directory relative to the project root; empty for the root itself (and for
    /// a directory outside the project, see `context`).
    pub rel_out: PathBuf,
    /// For an output directory outside the project: where the build context is from there.
    pub context: Option<OutsideContext>,
    /// `[tool.pyenvx] index-url`, when containers can reach it too.
    pub index_url: Option<String>,
    /// Whether the web service reads `.env.docker` (a database, or the project's own variables).
    pub env_file: bool,
}

/// An export outside the project: the project (the build context) relative to the export's
/// directory, and the Dockerfile relative to the project, as compose reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideContext {
    pub context: String,
    pub dockerfile: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSpec {
    pub engine: DbEngine,
    pub image: String,
    pub major: u32,
    /// MariaDB: the user and database `.env.docker` names (`MARIADB_USER`,
    /// `MARIADB_DATABASE`), whom the `db` service's init SQL grants Django's test databases;
    /// `None` when that file names no user.
    pub test_grant: Option<(String, String)>,
}

impl DbSpec {
    /// Where the official image keeps its data: PostgreSQL 18 moved it one level up, so that
    /// `pg_upgrade --link` can see old and new clusters in one volume.
    pub fn data_dir(&self) -> &'static str {
        if self.major >= 18 {
            "/var/lib/postgresql"
        } else {
            "/var/lib/postgresql/data"
        }
    }
}

pub use super::runs::{generated_by_pyenvx, GENERATED_MARK};

/// Gather the spec, check it can work, and write the files: all of them or, on any refusal
/// or failure, none (and no `--out` directory either).
pub fn export(project: &Project, opts: &Options) -> Result<Exported> {
    let lock = current_lock(project)?;
    let root = fs_err::canonicalize(&project.root)?;
    let out = match &opts.out {
        Some(dir) => resolve_existing_prefix(&lexical_absolute(dir)?)?,
        None => root.clone(),
    };
    let db = services::db_config(project)?;
    let (spec, web) = full_spec(project, opts, &lock, db.as_ref(), &root, &out)?;
    let env_path = out.join(ENV_FILE);

    let plan: Vec<(PathBuf, String)> = vec![
        (out.join(DOCKERFILE), dockerfile(&spec)),
        (out.join(COMPOSE_FILE), compose(&spec)),
        (root.join(DOCKERIGNORE), dockerignore()),
        (requirements_path(&root, &out, &spec), requirements(&lock)?),
    ];
    let (keep_yours, unchanged) = check_targets(&plan, &root, &spec, opts.force)?;
    let env_text = if spec.env_file && std::fs::symlink_metadata(&env_path).is_err() {
        let mut text = env_file(project, db.as_ref(), web.as_ref())?;
        if spec.cache.is_some() {
            text.push_str(&cache_env()?);
        }
        Some(text)
    } else {
        None
    };
    let secrets = env_text.as_deref().map(|text| (env_path.as_path(), text));
    let mut files = write_all(&out, &plan, &keep_yours, &unchanged, secrets)?;
    if spec.env_file {
        if env_text.is_none() {
            files.push((env_path.clone(), add_cache_to_env_file(&env_path, &spec)?));
        }
        if spec.context.is_none() {
            ignore_in_git(&root, ENV_FILE)?;
        }
    }
    Ok(Exported {
        files,
        out,
        spec,
        skipped: web.map(|w| w.skipped()).unwrap_or_default(),
    })
}

/// The spec with what only a real export knows: where the files go relative to the project,
/// the cache its settings need, the variables of the project's own compose file, and the user
/// a kept `.env.docker` names. Also returns those compose variables.
fn full_spec(
    project: &Project,
    opts: &Options,
    lock: &Lock,
    db: Option<&DbConfig>,
    root: &Path,
    out: &Path,
) -> Result<(Spec, Option<environment::WebEnv>)> {
    // Outside the project, the build context is still the project: the compose file points
    // back at it and hands the export's directory to the build as a second context.
    let (rel_out, context) = match relative_inside(root, out) {
        Some(rel) => (rel, None),
        None => (
            PathBuf::new(),
            Some(OutsideContext {
                context: relative_path(out, root),
                dockerfile: format!("{}/{DOCKERFILE}", relative_path(root, out)),
            }),
        ),
    };
    let cache = services::redis::cache_config(project)?;
    let mut spec = spec(project, lock, db, opts.base_image.as_deref(), rel_out)?;
    spec.context = context;
    // A project whose settings use Redis gets a cache service even before [services.cache]
    // declares one: its containers would not start without it.
    spec.cache = cache
        .as_ref()
        .map(|c| c.image())
        .or_else(|| super::runs::settings_use_redis(root).then(|| DEFAULT_REDIS_IMAGE.to_string()));
    // The variables the project's own compose file gives its web service; not when that file
    // is one pyenvx generated.
    let web = match environment::compose_file(root) {
        Some(f) if !generated_by_pyenvx(&f) => environment::web_environment(root)?,
        _ => None,
    };
    let web_vars = web.as_ref().is_some_and(|w| !w.vars.is_empty());
    let mut spec = Spec {
        env_file: spec.env_file || web_vars || spec.cache.is_some(),
        ..spec
    };
    // The grant must name the user the container actually creates: a kept `.env.docker` says
    // who that is (the project may have been renamed since it was written), and a GRANT to a
    // user that does not exist would stop the image's first start.
    if let (Some(db), Ok(existing)) = (
        spec.db.as_mut(),
        std::fs::read_to_string(out.join(ENV_FILE)),
    ) {
        if db.engine == DbEngine::Mariadb {
            let value = |key: &str| dotenv_value(&existing, key);
            db.test_grant = value("MARIADB_USER").map(|user| {
                let database = value("MARIADB_DATABASE").unwrap_or_else(|| user.clone());
                (user, database)
            });
        }
    }
    Ok((spec, web))
}

/// A kept `.env.docker`, with the cache's lines added when a cache was declared after the first
/// export; the rest stays. (Redis keeps no credentials in its volume, so a new password is
/// harmless.)
fn add_cache_to_env_file(env_path: &Path, spec: &Spec) -> Result<Outcome> {
    let existing = fs_err::read_to_string(env_path)?;
    if spec.cache.is_none() || existing.lines().any(|l| l.starts_with("REDIS_PASSWORD=")) {
        return Ok(Outcome::Kept);
    }
    let sep = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    crate::fs::write_private(
        env_path,
        format!("{existing}{sep}{}", cache_env()?).as_bytes(),
    )?;
    Ok(Outcome::Replaced)
}

/// The spec for a project and its lock; fails when no container could run the lock.
pub fn spec(
    project: &Project,
    lock: &Lock,
    db: Option<&DbConfig>,
    base_image: Option<&str>,
    rel_out: PathBuf,
) -> Result<Spec> {
    let minor = lock.python_minor();
    let base_image = match base_image {
        Some(image) => {
            let image = image.trim();
            if image.is_empty() || image.contains(char::is_whitespace) {
                return Err(user_error!(
                    hint = "name an image like `python:3.12-slim` or `registry.example/python:3.12`",
                    "`{image}` is not an image name"
                ));
            }
            image.to_string()
        }
        None if lock.python.freethreaded => {
            return Err(user_error!(
                hint = format!(
                    "pass `--base-image` with a free-threaded CPython {minor} image; its wheels are for `{minor}t` only"
                ),
                "the sandbox runs free-threaded Python {}, and there is no official image of it",
                lock.python.version
            ))
        }
        None => format!("python:{minor}-slim"),
    };
    // A release whose every file is a wheel for macOS or Windows cannot install in a Linux
    // container: say so now rather than at the end of a failed build. Where any Linux or pure
    // wheel (or an sdist) is listed, pip in the container picks it.
    let foreign: Vec<&str> = lock
        .packages
        .iter()
        .filter(|p| {
            !p.files.is_empty()
                && p.files.iter().all(|f| {
                    wheel_platform(&f.file).is_some_and(|t| t != "any" && !t.contains("linux"))
                })
        })
        .flat_map(|p| p.files.iter().map(|f| f.file.as_str()))
        .collect();
    if !foreign.is_empty() {
        return Err(user_error!(
            hint = "lock the project on Linux (for example in CI) and export there",
            "the lock holds wheels for this machine's platform, which a Linux container cannot install: {}",
            foreign.join(", ")
        ));
    }
    // A requirement by URL on this machine (`file://`, loopback) is not there in the build.
    let local: Vec<String> = lock
        .packages
        .iter()
        .filter(|p| p.direct)
        .flat_map(|p| &p.files)
        .filter(|f| !reachable_from_containers(&f.url))
        .map(|f| f.url.clone())
        .collect();
    if !local.is_empty() {
        return Err(user_error!(
            hint = "require those packages from an index or a URL the image build can reach",
            "the lock installs files from this machine only, which a container build cannot fetch: {}",
            local.join(", ")
        ));
    }
    let module = django_module(project);
    // Containers run any major: the one the project's own compose file runs, rather than the
    // nearest one this machine could run natively.
    let compose_major = super::runs::compose_postgres_major(&project.root);
    Ok(Spec {
        name: compose_name(&project.config.name),
        python: lock.python.version.clone(),
        base_image,
        django: lock.package("django").map(|p| p.version.clone()),
        wsgi: super::runs::wsgi_application(&project.root)
            .unwrap_or_else(|| format!("{module}.wsgi")),
        module,
        source_builds: super::runs::source_builds(lock),
        gunicorn: lock.package("gunicorn").is_some(),
        has_manage_py: project.root.join("manage.py").is_file(),
        db: db
            .map(|d| {
                let own = compose_major.filter(|_| {
                    d.engine == DbEngine::Postgres && d.image() == format!("postgres:{}", d.major)
                });
                (d, own)
            })
            .map(|(d, own)| DbSpec {
                engine: d.engine,
                image: own.map_or_else(|| d.image(), |m| format!("postgres:{m}")),
                major: own.unwrap_or(d.major),
                test_grant: (d.engine == DbEngine::Mariadb).then(|| {
                    let name = services::sql_name(&project.config.name);
                    (name.clone(), name)
                }),
            }),
        cache: None,
        rel_out,
        context: None,
        index_url: project
            .config
            .index_url
            .clone()
            .filter(|u| reachable_from_containers(u)),
        env_file: db.is_some(),
    })
}

/// The Django project package, from `manage.py`'s `DJANGO_SETTINGS_MODULE` default; else the
/// name `pyenvx init` would have given it.
fn django_module(project: &Project) -> String {
    // `config.settings` and `config.settings.production` alike: the package before `.settings`.
    super::runs::settings_module(&project.root)
        .and_then(|m| {
            m.split_once(".settings")
                .map(|(package, _)| package.to_string())
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| crate::django::module_name(&project.config.name))
}

/// A compose project name: lower-case letters, digits, `-` and `_`, starting with a letter or
/// digit (what `docker compose` accepts).
pub fn compose_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['-', '_']);
    if trimmed.is_empty() {
        "app".into()
    } else {
        trimmed.to_string()
    }
}

/// An index on loopback or a local path is this machine's, not the container's.
fn reachable_from_containers(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    !matches!(host, "localhost" | "127.0.0.1" | "[" | "") && !host.starts_with("127.")
}

/// `key`'s value in a dotenv text, as compose's `env_file` reads it.
fn dotenv_value(text: &str, key: &str) -> Option<String> {
    dotenvy::from_read_iter(text.as_bytes())
        .filter_map(Result::ok)
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .last()
        .filter(|v| !v.is_empty())
}

/// `.env.docker`'s cache lines: the password the `cache` service requires, and `web`'s URL.
fn cache_env() -> Result<String> {
    let password = crate::secrets::random_password(32)?;
    Ok(format!(
        "# Redis ([services.cache]): the password the cache service requires.\n\
         REDIS_PASSWORD={password}\n\
         REDIS_URL=redis://:{password}@cache:6379/0\n"
    ))
}

/// `.env.docker`: the database's role, password and name, and the web service's URL to it;
/// then the variables the project's own compose file gave its web service, secrets fresh.
fn env_file(
    project: &Project,
    db: Option<&DbConfig>,
    web: Option<&environment::WebEnv>,
) -> Result<String> {
    let mut out = String::from(
        "# Secrets for docker-compose.yml, written once by `pyenvx export docker`; keep it out of git.\n",
    );
    if let Some(db) = db.filter(|d| d.engine == DbEngine::Mariadb) {
        let name = services::sql_name(&project.config.name);
        let password = crate::secrets::random_password(32)?;
        out.push_str(&format!(
            "# The db container creates this user and database on its first start and its volume keeps\n\
             # them: to change them, `docker compose down --volumes` (deletes the data) first.\n\
             # MariaDB ({image}); root gets a random password nobody needs.\n\
             MARIADB_USER={name}\n\
             MARIADB_PASSWORD={password}\n\
             MARIADB_DATABASE={name}\n\
             MARIADB_RANDOM_ROOT_PASSWORD=1\n\
             DATABASE_URL=mysql://{name}:{password}@db:3306/{name}\n",
            image = db.image(),
        ));
    } else if let Some(db) = db {
        let name = services::sql_name(&project.config.name);
        let password = crate::secrets::random_password(32)?;
        out.push_str(&format!(
            "# The db container creates this role and database on its first start and its volume keeps\n\
             # them: to change them, `docker compose down --volumes` (deletes the data) first.\n\
             # PostgreSQL {major} ({image}).\n\
             POSTGRES_USER={name}\n\
             POSTGRES_PASSWORD={password}\n\
             POSTGRES_DB={name}\n\
             DATABASE_URL=postgres://{name}:{password}@db:5432/{name}\n",
            major = db.major,
            image = db.image(),
        ));
    }
    if let Some(web) = web.filter(|w| !w.vars.is_empty()) {
        let values = web.resolved()?;
        let skipped = web.skipped();
        out.push_str(&format!(
            "# What {}'s `{}` service sets, secrets generated fresh.\n",
            web.file, web.service
        ));
        for (k, v, _) in values {
            out.push_str(&format!("{k}={}\n", environment::dotenv_quote(&v)));
        }
        for (k, why) in skipped {
            out.push_str(&format!("# {k}=  ({why}: set it here)\n"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(db: Option<u32>) -> Spec {
        Spec {
            name: "library".into(),
            python: "3.12.1".into(),
            base_image: "python:3.12-slim".into(),
            django: Some("5.2.19".into()),
            module: "library".into(),
            wsgi: "library.wsgi".into(),
            source_builds: Default::default(),
            gunicorn: false,
            has_manage_py: true,
            db: db.map(|major| DbSpec {
                engine: DbEngine::Postgres,
                image: format!("postgres:{major}"),
                major,
                test_grant: None,
            }),
            cache: None,
            rel_out: PathBuf::new(),
            context: None,
            index_url: None,
            env_file: db.is_some(),
        }
    }

    #[test]
    fn dockerfile_installs_hashed_requirements_before_the_code() {
        let text = dockerfile(&spec(None));
        let pos = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
        };
        assert!(text.contains("FROM python:3.12-slim\n"), "{text}");
        assert!(
            pos("--require-hashes") < pos("COPY --chown=app:app . ."),
            "{text}"
        );
        assert!(
            pos("COPY requirements.txt") < pos("--require-hashes"),
            "{text}"
        );
        assert!(pos("COPY --chown=app:app . .") < pos("USER app"), "{text}");
        for needle in ["PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "useradd"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(text.contains("\"runserver\", \"0.0.0.0:8000\"]"), "{text}");
        let gunicorn = dockerfile(&Spec {
            gunicorn: true,
            ..spec(None)
        });
        assert!(
            gunicorn.contains("CMD [\"gunicorn\", \"--bind\", \"0.0.0.0:8000\", \"library.wsgi\"]"),
            "{gunicorn}"
        );
        let nested = dockerfile(&Spec {
            rel_out: PathBuf::from("deploy/docker"),
            ..spec(None)
        });
        assert!(
            nested.contains("COPY deploy/docker/requirements.txt "),
            "{nested}"
        );
    }

    #[test]
    fn packages_without_wheels_build_in_a_builder_stage() {
        let text = dockerfile(&Spec {
            gunicorn: true,
            wsgi: "config.wsgi".into(),
            source_builds: crate::export::runs::SourceBuilds {
                packages: vec!["psycopg2".into()],
                build_deps: vec!["libpq-dev".into()],
                run_deps: vec!["libpq5".into()],
            },
            ..spec(None)
        });
        let pos = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
        };
        assert!(
            text.contains("FROM python:3.12-slim AS builder\n"),
            "{text}"
        );
        assert!(
            pos("build-essential libpq-dev") < pos("pip wheel --require-hashes"),
            "{text}"
        );
        // The runtime stage has the library, not the compiler.
        let runtime = &text[text.rfind("FROM python:3.12-slim\n").unwrap()..];
        assert!(
            runtime.contains("install -y --no-install-recommends libpq5")
                && !runtime.contains("build-essential")
                && runtime.contains("COPY --from=builder /wheels /wheels"),
            "{text}"
        );
        assert!(
            text.contains("CMD [\"gunicorn\", \"--bind\", \"0.0.0.0:8000\", \"config.wsgi\"]"),
            "{text}"
        );
    }

    #[test]
    fn compose_runs_mariadb_with_its_healthcheck() {
        let text = compose(&Spec {
            db: Some(DbSpec {
                engine: DbEngine::Mariadb,
                image: "mariadb:11".into(),
                major: 0,
                test_grant: Some(("library".into(), "library".into())),
            }),
            env_file: true,
            ..spec(None)
        });
        for needle in [
            "  db:\n",
            "image: \"mariadb:11\"",
            "db-data:/var/lib/mysql\n",
            "healthcheck.sh\", \"--connect\"",
            "      db:\n        condition: service_healthy\n",
            "DATABASE_URL=mysql://…@db:3306/…",
            "  db-data:\n",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(
            !text.contains("pg_isready") && !text.contains("POSTGRES"),
            "{text}"
        );
        // Like PostgreSQL's, the database publishes no host port: web reaches it as db:3306.
        assert_eq!(text.matches("ports:").count(), 1, "{text}");
    }

    #[test]
    fn mariadb_lets_the_project_user_make_djangos_test_databases() {
        let mariadb = |test_grant: Option<(&str, &str)>| {
            compose(&Spec {
                db: Some(DbSpec {
                    engine: DbEngine::Mariadb,
                    image: "mariadb:11".into(),
                    major: 0,
                    test_grant: test_grant.map(|(u, d)| (u.into(), d.into())),
                }),
                env_file: true,
                ..spec(None)
            })
        };
        let text = mariadb(Some(("library_api", "library_api")));
        for needle in [
            "    configs:\n      - source: db-test-databases\n        \
             target: /docker-entrypoint-initdb.d/pyenvx-test-databases.sql\n",
            "\nconfigs:\n  db-test-databases:\n    content: |\n      -- Generated by ",
            // `_` is a wildcard in a grant's database: escaped, so only this project's
            // test_library_api and its --parallel clones match.
            "\n      GRANT ALL PRIVILEGES ON `test\\_library\\_api%`.* TO 'library_api'@'%';\n",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        // The grant goes in the db service, after the volumes (the top-level sections).
        let pos = |n: &str| text.find(n).unwrap_or_else(|| panic!("{n}: {text}"));
        assert!(pos("    configs:") < pos("\nvolumes:"), "{text}");
        assert!(pos("\nvolumes:") < pos("\nconfigs:"), "{text}");
        assert!(!text.contains("*.*"), "{text}");
        // Quotes and compose's `$` in names from an edited .env.docker stay inert.
        let odd = mariadb(Some(("o'brien$x", "shop%1")));
        assert!(
            odd.contains("ON `test\\_shop\\%1%`.* TO 'o''brien$$x'@'%';"),
            "{odd}"
        );
        // No user to grant to: no config.
        let none = mariadb(None);
        assert!(!none.contains("configs:"), "{none}");
        // PostgreSQL's user is the image's superuser already.
        assert!(!compose(&spec(Some(15))).contains("configs:"));
        assert_eq!(
            dotenv_value(
                "# x\nMARIADB_USER=shop\nMARIADB_DATABASE='my db'\n",
                "MARIADB_DATABASE"
            ),
            Some("my db".into())
        );
        assert_eq!(dotenv_value("MARIADB_USER=\n", "MARIADB_USER"), None);
    }

    #[test]
    fn compose_runs_the_cache_with_a_password_healthcheck() {
        let both = compose(&Spec {
            cache: Some("redis:7".into()),
            ..spec(Some(15))
        });
        println!("{both}");
        for needle in [
            "  cache:\n",
            "image: \"redis:7\"",
            "requirepass",
            "redis-cli ping | grep -q PONG",
            "      db:\n        condition: service_healthy\n",
            "      cache:\n        condition: service_healthy\n",
            "  db-data:\n  cache-data:\n",
            "cache-data:/data",
        ] {
            assert!(both.contains(needle), "{needle}: {both}");
        }
        assert!(!both.contains("REDIS_PASSWORD="), "{both}");
        // Published ports: web's only, on 127.0.0.1.
        assert_eq!(both.matches("ports:").count(), 1, "{both}");
        let only = compose(&Spec {
            cache: Some("redis:7".into()),
            ..spec(None)
        });
        assert!(
            only.contains("env_file: .env.docker") && !only.contains("  db:"),
            "{only}"
        );
        assert!(cache_env().unwrap().contains("REDIS_URL=redis://:"));
    }

    #[test]
    fn compose_follows_the_database_major() {
        let text = compose(&spec(Some(15)));
        for needle in [
            "name: \"library\"",
            "image: \"postgres:15\"",
            "db-data:/var/lib/postgresql/data\n",
            "pg_isready -h 127.0.0.1",
            "condition: service_healthy",
            "\"127.0.0.1:${WEB_PORT:-8000}:8000\"",
            "env_file: .env.docker",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(!text.contains("POSTGRES_PASSWORD="), "{text}");
        let pg18 = compose(&spec(Some(18)));
        assert!(pg18.contains("db-data:/var/lib/postgresql\n"), "{pg18}");
        let none = compose(&spec(None));
        assert!(
            !none.contains("db:") && !none.contains("env_file"),
            "{none}"
        );
        let nested = compose(&Spec {
            rel_out: PathBuf::from("deploy"),
            ..spec(None)
        });
        assert!(
            nested.contains("context: \"..\"")
                && nested.contains("dockerfile: \"deploy/Dockerfile\""),
            "{nested}"
        );
    }

    #[test]
    fn the_projects_variables_alone_give_web_an_env_file() {
        let text = compose(&Spec {
            env_file: true,
            ..spec(None)
        });
        assert!(
            text.contains("env_file: .env.docker") && !text.contains("  db:"),
            "{text}"
        );
    }

    #[test]
    fn whose_file_and_where_an_export_goes() {
        let dir = crate::test_machine::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(DOCKERFILE), dockerfile(&spec(None))).unwrap();
        std::fs::write(root.join(COMPOSE_FILE), compose(&spec(None))).unwrap();
        std::fs::write(root.join(DOCKERIGNORE), dockerignore()).unwrap();
        std::fs::write(root.join("mine"), "FROM python:3.12\n").unwrap();
        for f in [DOCKERFILE, COMPOSE_FILE, DOCKERIGNORE] {
            assert!(generated_by_pyenvx(&root.join(f)), "{f}");
        }
        assert!(!generated_by_pyenvx(&root.join("mine")));
        assert!(!generated_by_pyenvx(&root.join("absent")));
        let canonical = std::fs::canonicalize(root).unwrap();
        let deep = root.join("a/b/c");
        assert_eq!(first_missing(&deep), Some(root.join("a")));
        assert_eq!(first_missing(root), None);
        assert_eq!(
            resolve_existing_prefix(&deep).unwrap(),
            canonical.join("a/b/c")
        );
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        assert_eq!(
            resolve_existing_prefix(&root.join("link/x")).unwrap(),
            canonical.join("real/x")
        );
    }

    #[test]
    fn names() {
        assert_eq!(compose_name("Library API"), "library-api");
        assert_eq!(compose_name("_x"), "x");
        assert_eq!(compose_name("@@"), "app");
        assert_eq!(services::sql_name("Library API"), "library_api");
        assert_eq!(services::sql_name("9lives"), "app_9lives");
        assert!(reachable_from_containers("https://pypi.example/simple/"));
        assert!(!reachable_from_containers("http://127.0.0.1:8080/simple/"));
        assert!(!reachable_from_containers("file:///wheels"));
    }
}
