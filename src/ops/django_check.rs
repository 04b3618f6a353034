//! Where Django connects, asked of Django: the project's settings loaded in the sandbox with the
//! environment `pyenvx run` gives (`django::probe`), `DATABASES['default']` compared with the
//! pyenvx database, and the project's own variables (`DB_HOST`, `SQL_PORT`, …) pointed at it.
//!
//! When this runs the project's code, and why (issue 19: a cloned repository runs nothing until
//! the user asks):
//! * `pyenvx run … manage.py …`: the command imports the same settings anyway, so the check runs
//!   nothing new. The first such run checks (and wires) before the command starts, and records
//!   the project as trusted.
//! * `pyenvx init --ask-django`: the user asks in so many words.
//! * `pyenvx up`, `db up` and `status`: only for a project trusted by one of the above. The
//!   record lives in `PYENVX_HOME` (`trusted-projects`), not in the project, so a repository
//!   cannot commit its own trust.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::django::probe::{self, Answer, Database};
use crate::project::{envfile, Env, Project};
use crate::services::DbEngine;

/// One key of `DATABASES['default']` that does not lead to the pyenvx database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub key: &'static str,
    /// What Django has (a password is never shown).
    pub value: String,
    /// What it should be.
    pub want: String,
    /// Where the value comes from: a variable and its file, or the settings file.
    pub from: String,
}

/// What Django said, and what pyenvx did about it.
#[derive(Debug, Clone, Default)]
pub struct DjangoCheck {
    pub settings_module: Option<String>,
    /// `DATABASES['default']`, the password left out.
    pub database: Option<Database>,
    /// The settings did not load: why, from the exception.
    pub error: Option<String>,
    /// The project's variables pyenvx set, and the file (relative to the project).
    pub wired: Vec<String>,
    pub wired_file: Option<PathBuf>,
    pub mismatches: Vec<Mismatch>,
    /// The command or edit that makes Django reach the pyenvx database.
    pub fix: Option<String>,
    /// Whether the project declares a database (`[services.db]`): else only the cache is asked.
    pub db_checked: bool,
    /// The role and database the settings write in, which pyenvx's server was given
    /// (`app on app`).
    pub served_role: Option<String>,
    /// A Redis cache that is not pyenvx's Redis (`[services.cache]`): its location, where it
    /// comes from, and the fix.
    pub cache_mismatch: Option<Mismatch>,
}

impl DjangoCheck {
    /// Whether `migrate` would reach the pyenvx database (or there is none to reach).
    pub fn reaches(&self) -> bool {
        self.error.is_none()
            && (!self.db_checked || self.database.is_some())
            && self.mismatches.is_empty()
    }
}

/// The directory of the project's `manage.py`.
pub fn manage_dir(project: &Project) -> Option<PathBuf> {
    crate::django::manage_dir(&project.root)
}

fn trust_file(env: &Env) -> PathBuf {
    env.settings.dirs.home().join("trusted-projects")
}

/// Whether the user has run this project's code through pyenvx (or asked init to ask Django).
pub fn is_trusted(env: &Env, project: &Project) -> bool {
    let root = project.root.to_string_lossy();
    std::fs::read_to_string(trust_file(env)).is_ok_and(|t| t.lines().any(|l| l == root.as_ref()))
}

/// Record that the user ran this project's code through pyenvx.
pub fn trust(env: &Env, project: &Project) -> Result<()> {
    if is_trusted(env, project) {
        return Ok(());
    }
    let path = trust_file(env);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&project.root.to_string_lossy());
    text.push('\n');
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    crate::fs::write_atomic(&path, text.as_bytes())
}

/// What `DATABASES['default']` must hold to reach the pyenvx database.
fn wanted(identity: &crate::services::Identity) -> Vec<(&'static str, String)> {
    let c = &identity.credentials;
    let engine = match identity.engine {
        DbEngine::Postgres => "django.db.backends.postgresql",
        DbEngine::Mariadb => "django.db.backends.mysql",
    };
    vec![
        ("ENGINE", engine.to_string()),
        ("NAME", c.database.clone()),
        ("USER", c.user.clone()),
        ("PASSWORD", c.password.clone()),
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", identity.port.to_string()),
    ]
}

/// The keys of `db` that do not lead to the pyenvx database. An empty HOST, PORT, USER, NAME or
/// PASSWORD is fine on PostgreSQL: libpq takes `PGHOST`, `PGPORT`, … which `pyenvx run` sets.
fn differences(
    db: &Database,
    identity: &crate::services::Identity,
) -> Vec<(&'static str, String, String)> {
    let libpq = identity.engine == DbEngine::Postgres;
    let mut out = Vec::new();
    for (key, want) in wanted(identity) {
        let value = db.get(key);
        let ok = match key {
            "ENGINE" => match identity.engine {
                DbEngine::Postgres => value.contains("postg"),
                DbEngine::Mariadb => value.contains("mysql"),
            },
            "HOST" => ["127.0.0.1", "localhost"].contains(&value) || (value.is_empty() && libpq),
            _ => value == want || (value.is_empty() && libpq),
        };
        if !ok {
            out.push((key, value.to_string(), want));
        }
    }
    // The engine decides the rest: SQLite's NAME is a file, not pyenvx's database.
    if out.iter().any(|(k, _, _)| *k == "ENGINE") {
        out.retain(|(k, _, _)| *k == "ENGINE");
    }
    out
}

/// Ask Django where the project's default database is; with `wire`, first point the project's
/// own variables at the pyenvx database. `None` when there is nothing to ask: no `manage.py`,
/// no `[services.db]`, or no `.venv` yet.
pub fn check(project: &Project, env: &Env, wire: bool) -> Result<Option<DjangoCheck>> {
    let Some(dir) = manage_dir(project) else {
        return Ok(None);
    };
    let has_db = crate::services::db_config(project)?.is_some();
    let redis = match crate::services::redis::cache_config(project)? {
        Some(_) => Some(crate::services::redis::identity(env.settings, project)?),
        None => None,
    };
    if !has_db && redis.is_none() {
        return Ok(None);
    }
    let python = project.venv_dir().join("bin/python");
    if !python.exists() {
        return Ok(None);
    }
    let identity = if has_db {
        Some(crate::services::identity(env.settings, project)?)
    } else {
        None
    };
    let mut load = |set: &[(String, String)]| -> Result<Answer> {
        let vars = super::run::environment(project, env)?;
        probe::ask(&dir, &python, &vars, set)
    };
    let mut answer = load(&[])?;
    let mut out = DjangoCheck {
        db_checked: has_db,
        ..DjangoCheck::default()
    };
    if let (Some(redis), None) = (&redis, &answer.error) {
        if cache_off(answer.cache.as_ref(), redis).is_some() {
            let candidates: Vec<String> = answer
                .reads
                .iter()
                .filter(|r| probe::is_cache_variable(r))
                .cloned()
                .collect();
            let cache_feeds = probe::trace_cache(&candidates, &mut load)?;
            let mut vars: Vec<(String, String)> = Vec::new();
            for feed in &cache_feeds {
                let value = match feed.part {
                    probe::CachePart::Url => redis.url(),
                    probe::CachePart::Host => "127.0.0.1".to_string(),
                    probe::CachePart::Port => redis.port.to_string(),
                    probe::CachePart::Password => redis.password.clone(),
                };
                vars.push((feed.var.clone(), value));
            }
            if wire && !vars.is_empty() {
                write_vars(
                    project,
                    &vars,
                    "# The project's own cache variables, pointed at pyenvx's Redis (pyenvx keeps them current).\n",
                    &mut out,
                )?;
                answer = load(&[])?;
            }
            if let Some(why) = cache_off(answer.cache.as_ref(), redis) {
                let cache = answer.cache.clone().unwrap_or_default();
                let sources = envfile::project_vars(project).unwrap_or_default();
                let from = match cache_feeds.first() {
                    Some(f) if std::env::var_os(&f.var).is_some() => {
                        format!("{} in your shell's environment", f.var)
                    }
                    Some(f) if sources.iter().any(|(k, _)| *k == f.var) => {
                        format!("{} in {}", f.var, where_set(project, &f.var))
                    }
                    Some(f) => format!("{} (not set: the settings' default)", f.var),
                    None => format!(
                        "written in {}",
                        settings_rel(project, answer.settings_file.as_deref())
                    ),
                };
                out.cache_mismatch = Some(Mismatch {
                    key: "LOCATION",
                    value: hide_password(&cache.location),
                    want: format!("{} (`pyenvx redis url`)", why),
                    from,
                });
            }
        }
    }
    let Some(identity) = identity else {
        out.settings_module = answer.settings_module.clone();
        out.error = answer.error.clone();
        out.fix = fix(project, &out);
        return Ok(Some(out));
    };
    let mut feeds = Vec::new();
    let off = |a: &Answer| {
        a.database
            .as_ref()
            .is_some_and(|db| !differences(db, &identity).is_empty())
    };
    if answer.error.is_none() && off(&answer) {
        let candidates: Vec<String> = answer
            .reads
            .iter()
            .filter(|r| probe::is_db_variable(r) && !pyenvx_sets(r))
            .cloned()
            .collect();
        feeds = probe::trace(&candidates, &mut load)?;
        if wire {
            let want = wanted(&identity);
            let mut vars: Vec<(String, String)> = Vec::new();
            for feed in &feeds {
                let Some((_, w)) = want.iter().find(|(k, _)| *k == feed.key) else {
                    continue;
                };
                if let Some(value) = feed.value_for(w) {
                    if !vars.iter().any(|(k, _)| *k == feed.var) {
                        vars.push((feed.var.clone(), value));
                    }
                }
            }
            if !vars.is_empty() {
                write_vars(
                    project,
                    &vars,
                    "# The project's own database variables, pointed at pyenvx's database (pyenvx keeps them current).\n",
                    &mut out,
                )?;
                answer = load(&[])?;
            }
        }
    }
    out.settings_module = answer.settings_module.clone();
    out.error = answer.error.clone();
    let mut identity = identity;
    if let Some(db) = answer.database.as_ref().filter(|_| wire) {
        // Settings that write in their role, password and database where the text scan could
        // not read them (computed, or in a file it does not open), on pyenvx's host and port:
        // the server is pyenvx's, so it gets that role, as init gives one it can read.
        let diffs = differences(db, &identity);
        let role_only = !diffs.is_empty()
            && diffs.iter().all(|(k, _, _)| {
                matches!(*k, "NAME" | "USER" | "PASSWORD") && !feeds.iter().any(|f| f.key == *k)
            })
            && ![&db.user, &db.password, &db.name]
                .iter()
                .any(|v| v.is_empty());
        if role_only {
            let given = crate::services::Credentials {
                user: db.user.clone(),
                password: db.password.clone(),
                database: db.name.clone(),
            };
            if crate::services::serve_settings_role(env.settings, project, &given)? {
                identity = crate::services::identity(env.settings, project)?;
                out.served_role = Some(format!("{} on {}", db.user, db.name));
            }
        }
    }
    if let Some(db) = &answer.database {
        let sources = envfile::project_vars(project).unwrap_or_default();
        for (key, value, want) in differences(db, &identity) {
            let from = match feeds.iter().find(|f| f.key == key) {
                Some(f) if std::env::var_os(&f.var).is_some() => {
                    format!("{} in your shell's environment", f.var)
                }
                Some(f) if sources.iter().any(|(k, _)| *k == f.var) => {
                    format!("{} in {}", f.var, where_set(project, &f.var))
                }
                Some(f) => format!("{} (not set: the settings' default)", f.var),
                None => format!(
                    "written in {}",
                    settings_rel(project, answer.settings_file.as_deref())
                ),
            };
            let value = if key == "PASSWORD" {
                "(another password)".to_string()
            } else {
                value
            };
            let want = if key == "PASSWORD" {
                "(pyenvx's)".to_string()
            } else {
                want
            };
            out.mismatches.push(Mismatch {
                key,
                value,
                want,
                from,
            });
        }
        let mut shown = db.clone();
        shown.password = String::new();
        out.database = Some(shown);
    }
    out.fix = fix(project, &out);
    Ok(Some(out))
}

/// Write the project's own variables (pyenvx's values under its names) to `.env`, or
/// `.pyenvx/env` when git tracks `.env`, and note them in `out`.
fn write_vars(
    project: &Project,
    vars: &[(String, String)],
    header: &str,
    out: &mut DjangoCheck,
) -> Result<()> {
    let target = envfile::target(project);
    if target == project.dotenv_path() {
        // Secrets: never in git.
        crate::project::ignore::ignore(&project.root, &[".env"])?;
    }
    envfile::upsert(&target, vars, header)?;
    for (k, _) in vars {
        if !out.wired.contains(k) {
            out.wired.push(k.clone());
        }
    }
    out.wired_file = Some(
        target
            .strip_prefix(&project.root)
            .unwrap_or(&target)
            .to_path_buf(),
    );
    Ok(())
}

/// Why a Redis cache does not reach pyenvx's Redis (what it should be instead), or `None` when
/// it does, or when the cache is not a Redis one (then it is not pyenvx's business).
fn cache_off(
    cache: Option<&probe::Cache>,
    redis: &crate::services::redis::CacheIdentity,
) -> Option<String> {
    let cache = cache.filter(|c| c.is_redis())?;
    let want = format!("redis://:…@127.0.0.1:{}/0", redis.port);
    let Some((host, port, password)) = probe::redis_location(&cache.location) else {
        return Some(want);
    };
    let password = if password.is_empty() {
        cache.password.clone()
    } else {
        password
    };
    let local = ["127.0.0.1", "localhost"].contains(&host.as_str());
    (!local || port != redis.port || password != redis.password).then_some(want)
}

/// A location with its password replaced, for printing.
fn hide_password(location: &str) -> String {
    match probe::redis_location(location) {
        Some((host, port, password)) if !password.is_empty() => {
            let scheme = location.split("://").next().unwrap_or("redis");
            let path = location
                .split_once("://")
                .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()))
                .unwrap_or_default();
            format!("{scheme}://:…@{host}:{port}{path}")
        }
        _ => location.to_string(),
    }
}

/// Variables pyenvx sets itself for every project with a database.
fn pyenvx_sets(name: &str) -> bool {
    name == "DATABASE_URL" || name.starts_with("PG")
}

fn where_set(project: &Project, var: &str) -> String {
    let overlay = envfile::read(&envfile::overlay_path(project)).unwrap_or_default();
    if overlay.iter().any(|(k, _)| k == var) {
        ".pyenvx/env".to_string()
    } else {
        ".env".to_string()
    }
}

fn settings_rel(project: &Project, file: Option<&str>) -> String {
    match file {
        Some(f) => Path::new(f)
            .strip_prefix(&project.root)
            .unwrap_or(Path::new(f))
            .display()
            .to_string(),
        None => "the settings".to_string(),
    }
}

/// The one thing that makes Django reach the pyenvx database, when pyenvx could not do it.
fn fix(project: &Project, check: &DjangoCheck) -> Option<String> {
    if let Some(e) = &check.error {
        return Some(format!(
            "the settings must load first ({e}); set what they need in .env, then `pyenvx db up` asks Django again"
        ));
    }
    let first = check.mismatches.first()?;
    if first.from.contains("your shell's environment") {
        let var = first.from.split_whitespace().next().unwrap_or("");
        return Some(format!(
            "`unset {var}` (the shell's value wins over .env), then `pyenvx db up`"
        ));
    }
    // A role, password and database written in: the server takes them once it runs.
    let postgres = crate::services::db_config(project)
        .ok()
        .flatten()
        .is_some_and(|c| c.engine == DbEngine::Postgres);
    if postgres
        && check.mismatches.iter().all(|m| {
            matches!(m.key, "NAME" | "USER" | "PASSWORD") && m.from.starts_with("written in")
        })
    {
        return Some(
            "`pyenvx db up` (the running server is given the role, password and database the \
             settings write in)"
                .to_string(),
        );
    }
    // A port written in the settings (or left to MySQL's default): the server moves there.
    if first.key == "PORT" && first.from.starts_with("written in") {
        let port = if first.value.is_empty() || first.value == "(empty)" {
            "3306".to_string()
        } else {
            first.value.clone()
        };
        if check.mismatches.len() == 1 {
            return Some(format!(
                "`pyenvx db up --port {port}` (the settings write port {port} in; pyenvx's server moves there)"
            ));
        }
    }
    if crate::django::settings_scan::literal_advice(&project.root).is_some() {
        return Some(
            "`pyenvx init --wire-settings` (adds three lines after DATABASES that read DATABASE_URL)"
                .to_string(),
        );
    }
    Some(
        "make DATABASES['default'] read DATABASE_URL (`pyenvx add dj-database-url`, then \
         `DATABASES = {\"default\": dj_database_url.config()}`)"
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{Credentials, Identity};

    fn identity() -> Identity {
        Identity {
            credentials: Credentials {
                user: "site".into(),
                password: "pw".into(),
                database: "site".into(),
            },
            port: 5433,
            engine: DbEngine::Postgres,
        }
    }

    fn db(engine: &str, host: &str, port: &str) -> Database {
        Database {
            engine: engine.into(),
            name: "site".into(),
            user: "site".into(),
            password: "pw".into(),
            host: host.into(),
            port: port.into(),
        }
    }

    #[test]
    fn the_pyenvx_database_and_what_misses_it() {
        let id = identity();
        let pg = "django.db.backends.postgresql";
        assert!(differences(&db(pg, "127.0.0.1", "5433"), &id).is_empty());
        assert!(differences(&db(pg, "localhost", "5433"), &id).is_empty());
        // libpq fills what the settings leave empty from PG*, which `pyenvx run` sets.
        assert!(differences(&db(pg, "", ""), &id).is_empty());
        let keys = |d: &Database| -> Vec<&str> {
            differences(d, &id).into_iter().map(|(k, _, _)| k).collect()
        };
        assert_eq!(keys(&db(pg, "db", "5432")), ["HOST", "PORT"]);
        // SQLite: the engine alone is said, not its file name.
        assert_eq!(keys(&db("django.db.backends.sqlite3", "", "")), ["ENGINE"]);
    }
}
