//! The environment a project's compose file gives its web service, carried over to `.env` (for
//! `pyenvx run`) and `.env.docker` (for `pyenvx export docker`), so the code sees outside its
//! containers what it saw inside them.
//!
//! Decisions and why:
//! * The web service is the one named `web`, else the first built from the project (`build:`):
//!   that is the container running the Django code.
//! * `env_file:` is read first and `environment:` wins over it, as Compose does.
//! * Secrets (a name with SECRET, PASSWORD, TOKEN or PRIVATE in it) are generated fresh, never
//!   copied: a compose file's secret is a placeholder or a production value, neither of which
//!   belongs in a development sandbox.
//! * `DATABASE_URL` and libpq's `PG*` are left out: inside the containers they name the `db`
//!   service, which does not resolve here, and pyenvx sets its own for its database.
//! * A value Compose would interpolate from the shell (`${X}`) has no value here unless it has
//!   a default (`${X:-d}`); it is reported, not guessed.
//! * Existing keys of the target file are never overwritten: the user's values stay.
//! * A value naming another compose service as its host (`POSTGRES_HOST=db`,
//!   `CELERY_BROKER_URL=redis://redis:6379/0`) is not copied to `.env`: that name resolves only
//!   inside the containers, and outside it would send the code to a host that does not exist.
//!   It is reported instead. `.env.docker` keeps it: there it resolves.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::user_error;

/// The compose file names Compose looks for, in its order.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// One variable as the compose file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A value to copy.
    Plain(String),
    /// A secret: a fresh one is generated wherever it is written.
    Secret,
    /// Interpolated from the shell without a default: nothing to copy.
    Unresolved(String),
}

/// The web service's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebEnv {
    /// The compose file, relative to the project.
    pub file: String,
    pub service: String,
    /// In the compose file's order, each key once (the last definition wins).
    pub vars: Vec<(String, Value)>,
    /// `env_file:` entries that could not be read, with why.
    pub missing: Vec<String>,
    /// `env_file:` entries that are not there, and the committed sample read instead.
    pub samples: Vec<(String, String)>,
    /// The compose file's service names: host names inside its containers only.
    pub services: Vec<String>,
    /// Those of them that run a `redis` image.
    pub redis_services: Vec<String>,
    /// pyenvx's Redis (`redis://:…@127.0.0.1:port/0`) when the project has `[services.cache]`:
    /// a URL naming a Redis service of the compose file becomes this one, its database kept.
    pub local_redis: Option<String>,
}

/// A variable with its value to write: (key, value, whether it is a fresh secret).
pub type Resolved = (String, String, bool);

/// What merging into a dotenv file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// Keys added; `true` for a fresh secret.
    pub added: Vec<(String, bool)>,
    /// Keys the file had already, left as they were.
    pub kept: Vec<String>,
    /// Keys with no value to write, with why.
    pub skipped: Vec<(String, String)>,
    /// Keys added (also in `added`) whose value named the compose file's Redis and now names
    /// pyenvx's.
    pub local: Vec<String>,
}

/// Whether a variable name says it holds a secret.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    ["SECRET", "PASSWORD", "PASSWD", "TOKEN", "PRIVATE"]
        .iter()
        .any(|w| k.contains(w))
}

/// Variables pyenvx sets itself for its database; a compose file's would point at its `db`.
fn pyenvx_owned(key: &str) -> bool {
    key == "DATABASE_URL"
        || matches!(
            key,
            "PGHOST" | "PGPORT" | "PGUSER" | "PGPASSWORD" | "PGDATABASE"
        )
}

/// Where projects keep their compose files besides the root.
pub const COMPOSE_DIRS: [&str; 3] = ["", "docker", "docker/compose"];

/// The first compose file in `root`, else in `docker/`, else in `docker/compose/`.
pub fn compose_file(root: &Path) -> Option<PathBuf> {
    COMPOSE_DIRS
        .iter()
        .flat_map(|d| COMPOSE_FILES.iter().map(move |n| root.join(d).join(n)))
        .find(|p| p.is_file())
}

/// The committed sample of an env file that is not there (`.env` → `.env.example`,
/// `.env.dev` → `.env.dev-sample`), beside it or under `docker/`.
pub fn sample_for(dir: &Path, root: &Path, env_file: &str) -> Option<PathBuf> {
    // `docker/../.env` is `.env`: said as the user would write it.
    let wanted: PathBuf = dir
        .join(env_file)
        .components()
        .fold(PathBuf::new(), |mut p, c| {
            match c {
                std::path::Component::ParentDir => {
                    p.pop();
                }
                std::path::Component::CurDir => {}
                other => p.push(other),
            }
            p
        });
    let name = wanted.file_name()?.to_string_lossy().into_owned();
    let parent = wanted.parent().unwrap_or(dir).to_path_buf();
    let mut places = vec![parent];
    for d in [root.to_path_buf(), root.join("docker")] {
        if !places.contains(&d) {
            places.push(d);
        }
    }
    let suffixes = [
        ".example",
        ".sample",
        "-sample",
        ".dist",
        ".template",
        "-example",
    ];
    // `.env` → `env.example` too (a sample that is not hidden).
    let names: Vec<String> = std::iter::once(name.clone())
        .chain(name.strip_prefix('.').map(str::to_string))
        .collect();
    let mut candidates = Vec::new();
    for p in &places {
        for n in &names {
            for s in suffixes {
                candidates.push(p.join(format!("{n}{s}")));
            }
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// The web service's environment from the project's compose file; `None` without a compose file
/// or a web service.
pub fn web_environment(root: &Path) -> Result<Option<WebEnv>> {
    let Some(path) = compose_file(root) else {
        return Ok(None);
    };
    let text = fs_err::read_to_string(&path)?;
    let file = rel_to(root, &path);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        user_error!(
            hint = "fix the file (`docker compose config` checks it), then run the command again",
            "{}{at}: not valid YAML: {e}",
            path.display()
        )
    })?;
    let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) else {
        return Ok(None);
    };
    let web = services
        .iter()
        .find(|(k, _)| k.as_str() == Some("web"))
        .or_else(|| services.iter().find(|(_, v)| v.get("build").is_some()));
    let Some((name, service)) = web else {
        return Ok(None);
    };
    let mut out = WebEnv {
        file,
        service: name.as_str().unwrap_or("web").to_string(),
        services: services
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        redis_services: services
            .iter()
            .filter(|(_, v)| {
                v.get("image")
                    .and_then(|i| i.as_str())
                    .is_some_and(is_redis_image)
            })
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect(),
        ..WebEnv::default()
    };
    let dir = path.parent().unwrap_or(root);
    for env_file in env_files(service.get("env_file")) {
        let full = dir.join(&env_file);
        let source = if full.is_file() {
            full
        } else if let Some(sample) = sample_for(dir, root, &env_file) {
            // The project commits a sample for its uncommitted env file: its values that are
            // not secret are the development ones (the secrets are made fresh).
            out.samples.push((env_file.clone(), rel_to(root, &sample)));
            sample
        } else {
            out.missing.push(env_file);
            continue;
        };
        for (k, v) in super::envfile::read(&source)? {
            out.set(k, &v);
        }
    }
    match service.get("environment") {
        Some(serde_yaml_ng::Value::Mapping(map)) => {
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                match scalar(v) {
                    Some(v) => out.set(k.to_string(), &v),
                    // `KEY:` with no value: Compose takes it from the shell.
                    None => out.set(k.to_string(), &format!("${{{k}}}")),
                }
            }
        }
        Some(serde_yaml_ng::Value::Sequence(list)) => {
            for item in list.iter().filter_map(|v| v.as_str()) {
                match item.split_once('=') {
                    Some((k, v)) => out.set(k.trim().to_string(), v),
                    None => out.set(item.trim().to_string(), &format!("${{{}}}", item.trim())),
                }
            }
        }
        _ => {}
    }
    // A path inside the container that a bind mount of the project's own files serves
    // (`./db:/srv/db`, `DATABASE_NAME=/srv/db/example.db`) is that file here; as it is, the
    // SQLite file or upload directory would be looked for at a path this machine lacks.
    let mounts = bind_mounts(service.get("volumes"));
    for (_, value) in out.vars.iter_mut() {
        if let Value::Plain(v) = value {
            if let Some(local) = on_host(v, &mounts, dir) {
                *v = local;
            }
        }
    }
    Ok(Some(out))
}

/// The service's bind mounts of relative host paths (`./db:/srv/db`, or the long form with
/// `type: bind`): (container path, host path relative to the compose file).
fn bind_mounts(volumes: Option<&serde_yaml_ng::Value>) -> Vec<(String, String)> {
    let Some(list) = volumes.and_then(|v| v.as_sequence()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list {
        let (source, target) = match item {
            serde_yaml_ng::Value::String(short) => {
                let mut parts = short.split(':');
                match (parts.next(), parts.next()) {
                    (Some(s), Some(t)) => (s.to_string(), t.to_string()),
                    _ => continue,
                }
            }
            serde_yaml_ng::Value::Mapping(_) => {
                let get = |k: &str| item.get(k).and_then(|v| v.as_str()).map(str::to_string);
                match (get("source"), get("target")) {
                    (Some(s), Some(t)) => (s, t),
                    _ => continue,
                }
            }
            _ => continue,
        };
        // Only the project's own files: `.`/`..`-relative sources, never a named volume or
        // a path of the host outside the project.
        if (source == "." || source.starts_with("./") || source.starts_with("../"))
            && target.starts_with('/')
            && target.len() > 1
        {
            out.push((target.trim_end_matches('/').to_string(), source));
        }
    }
    out
}

/// `value` when it is a path under one of `mounts`' container paths: the same path under the
/// host directory (absolute, `dir` being the compose file's directory).
fn on_host(value: &str, mounts: &[(String, String)], dir: &Path) -> Option<String> {
    let (source, rest) = mounts.iter().find_map(|(t, s)| {
        let rest = value.strip_prefix(t.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some((s, rest))
    })?;
    let host = std::path::absolute(dir.join(source)).ok()?;
    let host = host.to_string_lossy().trim_end_matches('/').to_string();
    // `absolute` keeps `.` and `..` as written: normalize the common `./x` form.
    let host = host.replace("/./", "/");
    let host = host.strip_suffix("/.").unwrap_or(&host).to_string();
    Some(format!("{host}{rest}"))
}

fn rel_to(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The project's `.env` sample (`.env.example`, `.env.sample`, …, at the root or under
/// `docker/`) as the variables to start `.env` with, when there is no `.env` yet. `services`
/// are the compose file's service names: values naming them stay out of `.env`.
pub fn sample_environment(root: &Path, services: &[String]) -> Result<Option<WebEnv>> {
    if root.join(".env").exists() {
        return Ok(None);
    }
    let Some(sample) = sample_for(root, root, ".env") else {
        return Ok(None);
    };
    let mut out = WebEnv {
        file: rel_to(root, &sample),
        services: services.to_vec(),
        ..WebEnv::default()
    };
    for (k, v) in super::envfile::read(&sample)? {
        out.set(k, &v);
    }
    Ok(Some(out))
}

/// `env_file:` as a string, a list of strings, or a list of `{path: …}`.
fn env_files(value: Option<&serde_yaml_ng::Value>) -> Vec<String> {
    match value {
        Some(serde_yaml_ng::Value::String(s)) => vec![s.clone()],
        Some(serde_yaml_ng::Value::Sequence(list)) => list
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .or_else(|| v.get("path").and_then(|p| p.as_str()))
                    .map(str::to_string)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Compose's interpolation, as far as it can be done without the shell: `${X:-d}` and `${X-d}`
/// give `d`; any other `$` reference leaves the value unresolved. `$$` is a literal `$`.
fn interpolate(raw: &str) -> Result<String, String> {
    let re = regex::Regex::new(r"\$\$|\$\{([A-Za-z_]\w*)(:?-([^}]*))?\}|\$([A-Za-z_]\w*)")
        .expect("valid regex");
    let mut unresolved = None;
    let out = re.replace_all(raw, |c: &regex::Captures| {
        if &c[0] == "$$" {
            return "$".to_string();
        }
        match c.get(3) {
            Some(default) => default.as_str().to_string(),
            None => {
                unresolved.get_or_insert_with(|| c[0].to_string());
                String::new()
            }
        }
    });
    match unresolved {
        Some(r) => Err(r),
        None => Ok(out.into_owned()),
    }
}

impl WebEnv {
    fn set(&mut self, key: String, raw: &str) {
        if key.is_empty() || pyenvx_owned(&key) {
            return;
        }
        let value = if is_secret(&key) {
            Value::Secret
        } else {
            match interpolate(raw) {
                Ok(v) => Value::Plain(v),
                Err(r) => Value::Unresolved(r),
            }
        };
        match self.vars.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key, value)),
        }
    }

    /// The variables with a value to write: copies, and a fresh secret for each secret (the rest
    /// are [`Self::skipped`]).
    pub fn resolved(&self) -> Result<Vec<Resolved>> {
        let mut values = Vec::new();
        for (k, v) in &self.vars {
            match v {
                Value::Plain(v) => values.push((k.clone(), v.clone(), false)),
                Value::Secret => values.push((k.clone(), fresh_secret()?, true)),
                Value::Unresolved(_) => {}
            }
        }
        Ok(values)
    }

    /// The variables left out, each with why: their value comes from the shell.
    pub fn skipped(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Unresolved(r) => Some((k.clone(), format!("{r} comes from the shell"))),
                _ => None,
            })
            .collect()
    }

    /// The compose service `value` names as its host: the whole value (`db`, `db:5432`) or a
    /// URL's host (`redis://redis:6379/0`, `postgres://u:p@db/x`).
    ///
    /// A bare word is a host only under a host's name (`POSTGRES_HOST=db`): `DB=postgres` is a
    /// switch and `DB_NAME=app` a database name, whatever services the compose file has.
    fn service_host(&self, key: &str, value: &str) -> Option<&str> {
        let v = value.trim();
        let hostish = ["HOST", "ADDR", "SERVER", "URL", "DSN", "ENDPOINT", "BROKER"]
            .iter()
            .any(|w| key.to_ascii_uppercase().contains(w));
        if !hostish && !v.contains("://") && !v.contains(':') {
            return None;
        }
        let host = host_of(value);
        self.services
            .iter()
            .find(|s| s.eq_ignore_ascii_case(host))
            .map(String::as_str)
    }

    /// Add the variables `path` (a dotenv file) lacks, keeping every key it has; the file ends
    /// up mode 0600 (it holds secrets).
    pub fn merge_into(&self, path: &Path) -> Result<Merged> {
        let existing = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let have = dotenv_keys(&existing);
        let values = self.resolved()?;
        let mut skipped = self.skipped();
        let mut local = Vec::new();
        let values: Vec<Resolved> = values
            .into_iter()
            .map(|(k, v, secret)| match self.on_local_redis(&k, &v) {
                Some(url) => {
                    local.push(k.clone());
                    (k, url, secret)
                }
                None => (k, v, secret),
            })
            .collect();
        let values: Vec<Resolved> = values
            .into_iter()
            .filter(|(k, v, _)| match self.service_host(k, v).filter(|_| !local.contains(k)) {
                Some(service) => {
                    skipped.push((
                        k.clone(),
                        format!(
                            "it names the compose service `{service}`, which resolves only inside the containers"
                        ),
                    ));
                    false
                }
                None => true,
            })
            .collect();
        local.retain(|k| !have.contains(k));
        let mut merged = Merged {
            skipped,
            local,
            ..Merged::default()
        };
        let mut block = String::new();
        for (k, v, secret) in values {
            if have.contains(&k) {
                merged.kept.push(k);
                continue;
            }
            block.push_str(&format!("{k}={}\n", dotenv_quote(&v)));
            merged.added.push((k, secret));
        }
        if block.is_empty() {
            return Ok(merged);
        }
        let sep = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        let header = if self.service.is_empty() {
            format!(
                "# From {} (pyenvx init); secrets generated fresh for development.\n",
                self.file
            )
        } else {
            format!(
                "# From {}'s `{}` service (pyenvx init); secrets generated fresh for development.\n",
                self.file, self.service
            )
        };
        crate::fs::write_atomic_mode(
            path,
            format!("{existing}{sep}{header}{block}").as_bytes(),
            0o600,
        )?;
        Ok(merged)
    }
}

impl WebEnv {
    /// pyenvx's Redis for a URL `value` of `key` that names one of the compose file's Redis
    /// services (`redis://redis:6379/1` → `redis://:…@127.0.0.1:port/1`), when there is one.
    fn on_local_redis(&self, key: &str, value: &str) -> Option<String> {
        let local = self.local_redis.as_deref()?;
        let service = self.service_host(key, value)?;
        let (scheme, rest) = value.trim().split_once("://")?;
        if !scheme.starts_with("redis") || !self.redis_services.iter().any(|s| s == service) {
            return None;
        }
        // The database number (and any query) the project chose stays; pyenvx's URL ends in `/0`.
        let path = rest.find('/').map_or("", |at| &rest[at..]);
        let base = local.rsplit_once('/').map_or(local, |(b, _)| b);
        Some(if path.is_empty() {
            local.to_string()
        } else {
            format!("{base}{path}")
        })
    }
}

/// Whether a compose `image:` is Redis (`redis`, `redis:7-alpine`, `bitnami/redis:7.2`), not
/// a tool named after it (`redis-commander`, `redisinsight`).
pub fn is_redis_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split([':', '@']).next().unwrap_or(last);
    name == "redis"
}

/// The host a value names, if it is a host, `host:port` or a URL; otherwise the value itself
/// (which then matches a service name only when it is one).
fn host_of(value: &str) -> &str {
    let v = value.trim();
    let rest = v.split_once("://").map_or(v, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    }
}

/// A development secret: 50 characters, like Django's own `get_random_secret_key`.
pub fn fresh_secret() -> Result<String> {
    crate::secrets::random_password(50)
}

/// The keys a dotenv text defines (`KEY=…`, `export KEY=…`).
pub fn dotenv_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, _) = l.split_once('=')?;
            let k = k.trim();
            (!k.is_empty() && !k.starts_with('#')).then(|| k.to_string())
        })
        .collect()
}

pub use super::envfile::dotenv_quote;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_of_bind_mounts_become_the_projects_files() {
        let volumes: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "- ./db:/srv/db\n- ../../allauth:/code/allauth\n- data:/var/lib/data\n\
             - /etc/ssl:/etc/ssl:ro\n- type: bind\n  source: ./media\n  target: /app/media/\n",
        )
        .unwrap();
        let mounts = bind_mounts(Some(&volumes));
        assert_eq!(
            mounts,
            [
                ("/srv/db".to_string(), "./db".to_string()),
                ("/code/allauth".to_string(), "../../allauth".to_string()),
                ("/app/media".to_string(), "./media".to_string()),
            ]
        );
        let dir = Path::new("/p/example");
        assert_eq!(
            on_host("/srv/db/example.db", &mounts, dir).as_deref(),
            Some("/p/example/db/example.db")
        );
        assert_eq!(
            on_host("/app/media", &mounts, dir).as_deref(),
            Some("/p/example/media")
        );
        assert_eq!(on_host("/srv/dbx", &mounts, dir), None);
        assert_eq!(on_host("/var/lib/data/x", &mounts, dir), None);
    }
    use std::os::unix::fs::PermissionsExt;

    const COMPOSE: &str = "services:\n  db:\n    image: postgres:13\n    environment:\n      POSTGRES_PASSWORD: x\n  web:\n    build: .\n    env_file: .env.web\n    environment:\n      - DJANGO_SECRET_KEY=changeme\n      - DJANGO_DEBUG=1\n      - DJANGO_ALLOWED_HOSTS=${HOSTS:-localhost,127.0.0.1}\n      - SENTRY_DSN=${SENTRY_DSN}\n      - DATABASE_URL=postgres://u:p@db:5432/u\n      - FROM_FILE=overridden\n";

    fn project() -> tempfile::TempDir {
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), COMPOSE).unwrap();
        std::fs::write(
            dir.path().join(".env.web"),
            "FROM_FILE=file\nDJANGO_SECURE_SSL_REDIRECT=False\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn reads_the_web_service() {
        let dir = project();
        let env = web_environment(dir.path()).unwrap().unwrap();
        assert_eq!(env.service, "web");
        assert_eq!(
            env.vars,
            [
                ("FROM_FILE".into(), Value::Plain("overridden".into())),
                (
                    "DJANGO_SECURE_SSL_REDIRECT".into(),
                    Value::Plain("False".into())
                ),
                ("DJANGO_SECRET_KEY".into(), Value::Secret),
                ("DJANGO_DEBUG".into(), Value::Plain("1".into())),
                (
                    "DJANGO_ALLOWED_HOSTS".into(),
                    Value::Plain("localhost,127.0.0.1".into())
                ),
                (
                    "SENTRY_DSN".into(),
                    Value::Unresolved("${SENTRY_DSN}".into())
                ),
            ]
        );
        // A map form and a service found by its `build:`.
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  django:\n    build: .\n    environment:\n      DEBUG: true\n      PORT: 8000\n",
        )
        .unwrap();
        let env = web_environment(dir.path()).unwrap().unwrap();
        assert_eq!(env.service, "django");
        assert_eq!(env.vars[0], ("DEBUG".into(), Value::Plain("true".into())));
        assert_eq!(env.vars[1], ("PORT".into(), Value::Plain("8000".into())));
    }

    #[test]
    fn merging_keeps_existing_keys_and_makes_secrets_fresh() {
        let dir = project();
        let env = web_environment(dir.path()).unwrap().unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "DJANGO_DEBUG=0\nDATABASE_URL=postgres://mine").unwrap();
        let merged = env.merge_into(&dotenv).unwrap();
        assert_eq!(merged.kept, ["DJANGO_DEBUG"]);
        assert!(merged.added.contains(&("DJANGO_SECRET_KEY".into(), true)));
        assert_eq!(merged.skipped[0].0, "SENTRY_DSN");
        let text = std::fs::read_to_string(&dotenv).unwrap();
        assert!(text.starts_with("DJANGO_DEBUG=0\nDATABASE_URL=postgres://mine\n# From"));
        assert!(
            !text.contains("changeme") && !text.contains("@db:"),
            "{text}"
        );
        let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&dotenv)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let get = |k: &str| parsed.iter().find(|p| p.0 == k).map(|p| p.1.clone());
        assert_eq!(
            get("DJANGO_ALLOWED_HOSTS").as_deref(),
            Some("localhost,127.0.0.1")
        );
        assert_eq!(get("DJANGO_SECRET_KEY").unwrap().len(), 50);
        let mode = std::fs::metadata(&dotenv).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Again: nothing new, nothing replaced.
        let before = std::fs::read_to_string(&dotenv).unwrap();
        let again = env.merge_into(&dotenv).unwrap();
        assert!(again.added.is_empty());
        assert_eq!(std::fs::read_to_string(&dotenv).unwrap(), before);
    }

    #[test]
    fn values_naming_a_compose_service_stay_out_of_dotenv() {
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  db:\n    image: postgres:16\n  cache:\n    image: redis:7\n  web:\n    build: .\n    environment:\n      \
             POSTGRES_HOST: db\n      DB_ADDR: \"db:5432\"\n      CELERY_BROKER_URL: redis://cache:6379/0\n      \
             SEARCH_URL: http://user:pw@DB/x\n      DJANGO_ALLOWED_HOSTS: db.example.com,localhost\n      \
             DJANGO_DB_HINT: dbx\n      SITE_URL: https://example.com:8443/db\n",
        )
        .unwrap();
        let env = web_environment(dir.path()).unwrap().unwrap();
        assert_eq!(env.services, ["db", "cache", "web"]);
        let dotenv = dir.path().join(".env");
        let merged = env.merge_into(&dotenv).unwrap();
        let skipped: Vec<(&str, &str)> = merged
            .skipped
            .iter()
            .map(|(k, why)| (k.as_str(), why.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("POSTGRES_HOST", "it names the compose service `db`, which resolves only inside the containers"),
                ("DB_ADDR", "it names the compose service `db`, which resolves only inside the containers"),
                ("CELERY_BROKER_URL", "it names the compose service `cache`, which resolves only inside the containers"),
                ("SEARCH_URL", "it names the compose service `db`, which resolves only inside the containers"),
            ]
        );
        let added: Vec<&str> = merged.added.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            added,
            ["DJANGO_ALLOWED_HOSTS", "DJANGO_DB_HINT", "SITE_URL"]
        );
        // The containers resolve them: `resolved()`, which `.env.docker` is written from, keeps them.
        assert_eq!(env.resolved().unwrap().len(), 7);
    }

    #[test]
    fn a_url_naming_the_compose_redis_becomes_pyenvxs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  cache:\n    image: redis:7-alpine\n  queue:\n    image: rabbitmq:3\n  \
             web:\n    build: .\n    environment:\n      - CELERY_BROKER_URL=redis://cache:6379/2\n      \
             - AMQP_URL=amqp://queue:5672\n      - REDIS_HOST=cache\n",
        )
        .unwrap();
        let mut web = web_environment(dir.path()).unwrap().unwrap();
        assert_eq!(web.redis_services, ["cache"]);
        web.local_redis = Some("redis://:pw@127.0.0.1:6390/0".into());
        let dotenv = dir.path().join(".env");
        let merged = web.merge_into(&dotenv).unwrap();
        assert_eq!(merged.local, ["CELERY_BROKER_URL"]);
        let text = std::fs::read_to_string(&dotenv).unwrap();
        assert!(
            text.contains("CELERY_BROKER_URL=redis://:pw@127.0.0.1:6390/2\n"),
            "{text}"
        );
        // Not Redis, or not a URL: still the containers' only, and said.
        let skipped: Vec<&str> = merged.skipped.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(skipped, ["AMQP_URL", "REDIS_HOST"]);
    }

    #[test]
    fn quoting_round_trips() {
        for v in ["plain", "a b#c", "it's", "say \"hi\" it's", "$x"] {
            let line = format!("K={}\n", dotenv_quote(v));
            let parsed: Vec<_> = dotenvy::from_read_iter(line.as_bytes())
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(parsed[0].1, v, "{line}");
        }
    }
}
