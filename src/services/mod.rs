//! Development services declared in `pyenvx.toml` (`[services.db]`): a PostgreSQL per project,
//! as a native process from real PostgreSQL binaries or as a Docker/Podman container.
//!
//! Both backends share what a consumer sees, so switching backends changes nothing for Django:
//! the credentials (generated once per project, kept in `.pyenvx/services/db/credentials.json`,
//! mode 0600) and the port (allocated once per project in the registry, [`ports`]). `pyenvx run`,
//! `db url` and `db psql` all read those two files and nothing else; none of them starts a
//! server or asks one which port it chose.
//!
//! Layout of a project's `.pyenvx/services/db/`:
//!
//! ```text
//! credentials.json      user, password, database (0600)
//! backend               the backend `db up` last started ("native" / "container")
//! pg15/                 native data directory of PostgreSQL 15 (owned by the server's user)
//! pg15.initialized      written only once the role and the database exist
//! postgres.log          the native server's log
//! db.lock               serializes up / down / reset / restore of this project
//! ```

pub mod container;
pub mod native;
pub mod pgwire;
pub mod ports;
pub mod postgres;
pub mod transfer;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::dirs::Dirs;
use crate::filelock::FileLock;
use crate::project::config::{config_error, toml_error};
use crate::project::sync::Env;
use crate::project::Project;
use crate::user_error;

/// The only service name pyenvx knows so far; the `pyenvx db` commands drive it.
pub const DB: &str = "db";

/// How the database runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A `postgres` process from real PostgreSQL binaries, data in the project.
    Native,
    /// A Docker or Podman container from the official image, data in a named volume.
    Container,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Container => "container",
        })
    }
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(Self::Native),
            "container" => Ok(Self::Container),
            other => Err(anyhow::anyhow!(
                "unknown backend `{other}`; use \"native\" or \"container\""
            )),
        }
    }
}

/// `[services.db]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// PostgreSQL major version, e.g. 15.
    pub major: u32,
    pub backend: Backend,
    /// Container image; default the official `postgres:<major>`.
    pub image: Option<String>,
    /// Native binaries to use before looking anywhere else (absolute).
    pub bin_dir: Option<PathBuf>,
}

impl DbConfig {
    pub fn image(&self) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("postgres:{}", self.major))
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[derive(Deserialize)]
struct RawNames {
    #[serde(default)]
    services: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
struct RawFile {
    services: Option<RawServices>,
}

#[derive(Deserialize)]
struct RawServices {
    db: Option<Spanned<RawDb>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDb {
    engine: Option<Spanned<String>>,
    version: Option<Spanned<toml::Value>>,
    backend: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    bin_dir: Option<Spanned<String>>,
}

/// `[services.db]` of the project, or `None` when it declares no database.
pub fn db_config(project: &Project) -> Result<Option<DbConfig>> {
    if project.config.services.is_empty() {
        return Ok(None);
    }
    let path = &project.config.path;
    // The file again, for positions: `Config` keeps the tables but not where they were.
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => toml::to_string(&BTreeMap::from([("services", &project.config.services)]))?,
    };
    parse(&text, path, &project.root)
}

fn parse(text: &str, path: &Path, root: &Path) -> Result<Option<DbConfig>> {
    let err_at = |e: toml::de::Error| toml_error(path, text, &e);
    let names: RawNames = toml::from_str(text).map_err(err_at)?;
    for (name, value) in &names.services {
        if name != DB {
            return Err(config_error(
                path,
                text,
                value.span().start,
                &format!("services.{name}"),
                format!("unknown service `{name}`: pyenvx runs one database, [services.db]"),
            ));
        }
        if !value.get_ref().is_table() {
            return Err(config_error(
                path,
                text,
                value.span().start,
                "services.db",
                "[services.db] must be a table",
            ));
        }
    }
    let raw: RawFile = toml::from_str(text).map_err(err_at)?;
    let Some(db) = raw.services.and_then(|s| s.db) else {
        return Ok(None);
    };
    let db = db.into_inner();
    if let Some(engine) = &db.engine {
        match engine.get_ref().as_str() {
            "postgres" | "postgresql" => {}
            other => {
                return Err(config_error(
                    path,
                    text,
                    engine.span().start,
                    "services.db.engine",
                    format!("unsupported engine `{other}`; pyenvx runs \"postgres\""),
                ))
            }
        }
    }
    let major = match &db.version {
        None => postgres::default_major(),
        Some(v) => {
            let s = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                other => other.to_string(),
            };
            match s.trim().parse::<u32>() {
                Ok(m) if (9..=99).contains(&m) => m,
                _ => {
                    return Err(config_error(
                        path,
                        text,
                        v.span().start,
                        "services.db.version",
                        format!("`{s}` is not a PostgreSQL major version such as \"16\""),
                    ))
                }
            }
        }
    };
    let backend = match &db.backend {
        None => Backend::Native,
        Some(b) => b.get_ref().parse().map_err(|e: anyhow::Error| {
            config_error(
                path,
                text,
                b.span().start,
                "services.db.backend",
                e.to_string(),
            )
        })?,
    };
    let image = match &db.image {
        Some(i) if i.get_ref().trim().is_empty() => {
            return Err(config_error(
                path,
                text,
                i.span().start,
                "services.db.image",
                "the image is empty",
            ))
        }
        Some(i) => Some(i.get_ref().trim().to_string()),
        None => None,
    };
    let bin_dir = db.bin_dir.as_ref().map(|b| root.join(b.get_ref()));
    Ok(Some(DbConfig {
        major,
        backend,
        image,
        bin_dir,
    }))
}

/// `[services.db]` or a user error saying how to declare it.
pub fn require_db(project: &Project) -> Result<DbConfig> {
    db_config(project)?.ok_or_else(|| {
        user_error!(
            hint = format!(
                "add to {}:\n{}",
                project.config_path().display(),
                init_table(postgres::default_major()).trim()
            ),
            "{} declares no database",
            project.config_path().display()
        )
    })
}

/// The `[services.db]` table `pyenvx init --db postgres` appends to a new `pyenvx.toml`.
pub fn init_table(major: u32) -> String {
    format!(
        "\n[services.db]\nengine = \"postgres\"\nversion = \"{major}\"\nbackend = \"native\"  # or \"container\" (Docker/Podman)\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Identity: credentials and port

/// What clients log in with; generated once per project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub database: String,
}

/// Credentials and port: everything a client needs, read without touching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub credentials: Credentials,
    pub port: u16,
}

impl Identity {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `postgres://user:password@127.0.0.1:port/database`; the generated names and password need
    /// no escaping.
    pub fn url(&self) -> String {
        let c = &self.credentials;
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            c.user, c.password, self.port, c.database
        )
    }

    /// The variables `pyenvx run` sets.
    pub fn vars(&self) -> Vec<(String, String)> {
        let c = &self.credentials;
        [
            ("DATABASE_URL", self.url()),
            ("PGHOST", "127.0.0.1".to_string()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", c.user.clone()),
            ("PGPASSWORD", c.password.clone()),
            ("PGDATABASE", c.database.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Log in to `database` (default the project's) within `timeout`.
    pub fn connect(
        &self,
        database: Option<&str>,
        timeout: Duration,
    ) -> Result<pgwire::Connection, pgwire::ConnectError> {
        let c = &self.credentials;
        pgwire::Connection::connect(
            &pgwire::Target {
                addr: self.addr(),
                user: &c.user,
                password: &c.password,
                database: database.unwrap_or(&c.database),
            },
            timeout,
        )
    }
}

/// `.pyenvx/services/db/`.
pub fn state_dir(project: &Project) -> PathBuf {
    project.state_dir().join("services").join(DB)
}

fn credentials_path(project: &Project) -> PathBuf {
    state_dir(project).join("credentials.json")
}

/// A role and database name from the project name: lower-case letters, digits and `_`.
/// `export docker` names the container database the same way, so a dump restores into either.
pub fn sql_name(project_name: &str) -> String {
    let mut name: String = project_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches('_').to_string();
    if name.is_empty() {
        name = "app".into();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.starts_with("pg_") {
        // Identifiers cannot start with a digit unquoted; `pg_` role names are reserved.
        name = format!("app_{name}");
    }
    name.truncate(63);
    name
}

/// Random bytes from the kernel.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return buf;
        }
    }
    // No /dev/urandom (a very bare chroot): hash what differs between runs.
    let mut seed = Sha256::new();
    seed.update(format!(
        "{:?}{:?}{}",
        std::time::SystemTime::now(),
        std::thread::current().id(),
        std::process::id()
    ));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let block = seed.clone().finalize();
        out.extend_from_slice(&block);
        seed.update(block);
    }
    out.truncate(n);
    out
}

/// A password of `len` letters and digits: safe in URLs, YAML, shells and `.env` files without
/// quoting.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < len {
        for b in random_bytes(len + 8) {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Write `bytes` to `path` with mode 0600, atomically; never replaces an existing file.
/// Returns false when the file already existed.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().context("no parent directory")?;
    fs_err::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        hex::encode(random_bytes(4))
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    // A hard link fails if the name exists: two first runs cannot both win.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The project's credentials, generated on first use.
pub fn credentials(project: &Project) -> Result<Credentials> {
    let path = credentials_path(project);
    if !path.exists() {
        let name = sql_name(&project.config.name);
        let fresh = Credentials {
            user: name.clone(),
            password: random_password(24),
            database: name,
        };
        write_private_new(&path, serde_json::to_string_pretty(&fresh)?.as_bytes())?;
    }
    let text = fs_err::read_to_string(&path)?;
    serde_json::from_str(&text).map_err(|e| {
        user_error!(
            hint = "delete it together with the database (`pyenvx db reset --yes`) to start over",
            "{} is damaged: {e}",
            path.display()
        )
    })
}

/// Credentials and port, allocating either on first use. Starts nothing.
pub fn identity(dirs: &Dirs, project: &Project) -> Result<Identity> {
    let credentials = credentials(project)?;
    let port = ports::ensure(dirs, &ports::key(&project.root, DB))?;
    Ok(Identity { credentials, port })
}

/// The variables `pyenvx run` adds when the project declares a database: `DATABASE_URL` and the
/// libpq `PG*` variables. Reads the registry and the credentials; starts nothing.
pub fn env_vars(dirs: &Dirs, project: &Project) -> Result<Vec<(String, String)>> {
    if db_config(project)?.is_none() {
        return Ok(Vec::new());
    }
    Ok(identity(dirs, project)?.vars())
}

/// What `pyenvx init --db postgres` sets up besides `[services.db]`: the identity, and `.env`
/// (mode 0600) with `DATABASE_URL` for tools that read `.env` themselves.
pub fn init_project(dirs: &Dirs, project: &Project) -> Result<()> {
    let identity = identity(dirs, project)?;
    let path = project.dotenv_path();
    let line = format!("DATABASE_URL={}\n", identity.url());
    let header = "# The development database (`pyenvx db up`); pyenvx keeps this line current.\n";
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_private_new(&path, format!("{header}{line}").as_bytes())?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(existing) if existing.lines().any(|l| l.starts_with("DATABASE_URL=")) => {}
        Ok(existing) => {
            let sep = if existing.is_empty() || existing.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            write_private(&path, format!("{existing}{sep}{header}{line}").as_bytes())?;
        }
    }
    Ok(())
}

/// Replace `path` atomically with a 0600 file (never readable by others, not even briefly).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::python::catalog::write_atomic_mode(path, bytes, 0o600)
}

/// After a port move, `.env` lines pyenvx wrote (`DATABASE_URL=<old url>`) follow.
fn update_dotenv(project: &Project, old_url: &str, new_url: &str) -> Result<()> {
    let path = project.dotenv_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let old_line = format!("DATABASE_URL={old_url}");
    if !text.lines().any(|l| l.trim_end() == old_line) {
        return Ok(());
    }
    let updated: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_end() == old_line {
                l.replacen(old_url, new_url, 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    write_private(&path, updated.as_bytes())
}

/// First 8 hex digits of the SHA-256 of the project's path: names per-project things outside
/// the project (containers, volumes, socket directories) without colliding.
pub fn short_hash(root: &Path) -> String {
    hex::encode(&Sha256::digest(root.as_os_str().as_encoded_bytes())[..4])
}

/// The error for a registered port that a stranger holds, naming it when /proc tells, with a
/// free port to move to.
fn port_taken(env: &Env, port: u16) -> anyhow::Error {
    let who = ports::listener(port)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let hint = match ports::suggest(&env.settings.dirs, Some(port)) {
        Some(free) => format!(
            "stop that program, or move this project's database with `pyenvx db up --port {free}` \
             (remembered; `pyenvx run` and `pyenvx db url` follow)"
        ),
        None => {
            "stop that program, or move this project's database with `pyenvx db up --port N`".into()
        }
    };
    user_error!(
        hint = hint,
        "port {port}, this project's database port, is taken by another program{who}"
    )
}

// ---------------------------------------------------------------------------------------------
// Operations, dispatched to the backend

/// `db up` options.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Overrides `[services.db] backend` for this start.
    pub backend: Option<Backend>,
    /// Move the project to this port (remembered in the registry).
    pub port: Option<u16>,
}

/// What `db up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub backend: Backend,
    /// Server version as it reported itself at login, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub server_version: String,
    pub port: u16,
    /// It was already running and accepting connections.
    pub already_running: bool,
    /// The database was created by this start.
    pub initialized: bool,
    /// Where the native binaries came from, or the container image.
    pub source: String,
}

/// A point-in-time view for `db status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub backend: Backend,
    pub version: u32,
    pub running: bool,
    /// A login with the project's credentials succeeded just now.
    pub accepting_connections: bool,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// Native: the server's process id.
    pub pid: Option<u32>,
    /// Native: the data directory; container: the volume.
    pub data: String,
    /// Container: the container's name.
    pub container: Option<String>,
    pub initialized: bool,
}

fn backend_file(project: &Project) -> PathBuf {
    state_dir(project).join("backend")
}

/// The backend `db up` last started, else the configured one: `down`, `status` and the rest act
/// on what is actually running even after `db up --backend …`.
pub fn active_backend(project: &Project, config: &DbConfig) -> Backend {
    std::fs::read_to_string(backend_file(project))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(config.backend)
}

/// Hold the project's database lock for the duration of one operation.
fn lock(project: &Project, env: &Env) -> Result<FileLock> {
    FileLock::acquire(&state_dir(project).join("db.lock"), || {
        env.reporter
            .waiting_for_lock("another pyenvx is working on this project's database")
    })
}

/// Start the database (creating it on first use) and return once a login succeeded.
pub fn up(env: &Env, project: &Project, opts: &UpOptions) -> Result<UpReport> {
    let config = require_db(project)?;
    let backend = opts.backend.unwrap_or(config.backend);
    let _lock = lock(project, env)?;
    let dirs = &env.settings.dirs;
    let mut identity = identity(dirs, project)?;
    if let Some(port) = opts.port.filter(|p| *p != identity.port) {
        if port < 1024 {
            return Err(user_error!(
                hint = format!(
                    "ports {}–{} are pyenvx's usual range",
                    ports::FIRST_PORT,
                    ports::LAST_PORT
                ),
                "port {port} is a privileged port"
            ));
        }
        let old_url = identity.url();
        ports::assign(dirs, &ports::key(&project.root, DB), port)?;
        identity.port = port;
        update_dotenv(project, &old_url, &identity.url())?;
    }
    // The other backend may hold the port (and be what `pyenvx run` talks to): one at a time.
    let previous = active_backend(project, &config);
    if previous != backend {
        let other_running = match previous {
            Backend::Native => native::running(project, &config)?.is_some(),
            Backend::Container => container::is_running(env, project, &config).unwrap_or(false),
        };
        if other_running {
            return Err(user_error!(
                hint = "`pyenvx db down` stops it; the two backends keep separate data",
                "this project's database is running with the {previous} backend"
            ));
        }
    }
    let report = match backend {
        Backend::Native => native::up(env, project, &config, &identity)?,
        Backend::Container => container::up(env, project, &config, &identity)?,
    };
    if previous != backend || !backend_file(project).exists() {
        crate::python::catalog::write_atomic(
            &backend_file(project),
            format!("{backend}\n").as_bytes(),
        )?;
    }
    // The shims cannot afford to read the registry and credentials on every `python`; they
    // read this one small file instead.
    let vars: String = identity
        .vars()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    write_private(&shim_env_path(project), vars.as_bytes())?;
    Ok(report)
}

/// `KEY=VALUE` lines of the service variables, for the shims (`.pyenvx/services/env`, 0600).
pub fn shim_env_path(project: &Project) -> PathBuf {
    project.root.join(pyenvx_shim::SERVICE_ENV)
}

/// Stop the database; the data stays. Returns whether something was running.
pub fn down(env: &Env, project: &Project) -> Result<bool> {
    let config = require_db(project)?;
    let _lock = lock(project, env)?;
    match active_backend(project, &config) {
        Backend::Native => native::down(project, &config),
        Backend::Container => container::down(env, project, &config),
    }
}

/// Where the database stands.
pub fn status(env: &Env, project: &Project) -> Result<Status> {
    let config = require_db(project)?;
    let identity = identity(&env.settings.dirs, project)?;
    match active_backend(project, &config) {
        Backend::Native => native::status(project, &config, &identity),
        Backend::Container => container::status(env, project, &config, &identity),
    }
}

/// Delete the data (every major's) and start again from nothing.
pub fn reset(env: &Env, project: &Project, opts: &UpOptions) -> Result<UpReport> {
    let config = require_db(project)?;
    {
        let _lock = lock(project, env)?;
        match active_backend(project, &config) {
            Backend::Native => native::destroy(project, &config)?,
            Backend::Container => container::destroy(env, project, &config)?,
        }
    }
    up(env, project, opts)
}

/// The running backend or a user error saying to start it.
fn require_running(env: &Env, project: &Project) -> Result<(DbConfig, Backend, Identity)> {
    let config = require_db(project)?;
    let identity = identity(&env.settings.dirs, project)?;
    let backend = active_backend(project, &config);
    let running = match backend {
        Backend::Native => native::running(project, &config)?.is_some(),
        Backend::Container => container::is_running(env, project, &config)?,
    };
    if !running {
        return Err(user_error!(
            hint = "`pyenvx db up` starts it",
            "this project's database is not running"
        ));
    }
    Ok((config, backend, identity))
}

/// Write the database to `file` in pg_dump's custom format (for `db restore` / `pg_restore`):
/// through a temporary file beside it, renamed over it only when complete; an existing `file`
/// only with `replace`. `shown` is the name the user gave, for messages.
pub fn dump(env: &Env, project: &Project, file: &Path, shown: &Path, replace: bool) -> Result<()> {
    let (config, backend, identity) = require_running(env, project)?;
    let target = transfer::DumpTarget::new(file, shown, replace)?;
    match backend {
        Backend::Native => native::dump(env, project, &config, &identity, &target)?,
        Backend::Container => container::dump(project, &identity, &target)?,
    }
    target.commit(shown)
}

/// A dump file that passed the checks a restore makes before touching anything.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub file: PathBuf,
    pub kind: postgres::DumpKind,
    /// The project's database holds tables (or schemas) the restore would replace.
    pub replaces_data: bool,
}

/// Check `file` for `db restore` without touching the database: not empty, and an archive
/// `pg_restore --list` reads (or a SQL script); and whether there is data it would replace.
pub fn check_restore(
    env: &Env,
    project: &Project,
    file: &Path,
    shown: &Path,
) -> Result<RestorePlan> {
    let (config, backend, identity) = require_running(env, project)?;
    let kind = transfer::check_file(file, shown)?;
    if kind != postgres::DumpKind::Sql {
        match backend {
            Backend::Native => native::check_archive(env, project, &config, file, shown)?,
            Backend::Container => container::check_archive(project, &identity, file, kind, shown)?,
        }
    }
    Ok(RestorePlan {
        file: file.to_path_buf(),
        kind,
        replaces_data: transfer::has_data(&identity)?,
    })
}

/// Replace the database's contents with a checked dump: loaded into a scratch database, which
/// takes the project database's place only when the load succeeded.
pub fn restore(env: &Env, project: &Project, plan: &RestorePlan) -> Result<()> {
    let (config, backend, identity) = require_running(env, project)?;
    let _lock = lock(project, env)?;
    let scratch = transfer::create_scratch(&identity, config.major)?;
    let loaded = match backend {
        Backend::Native => native::load(
            env, project, &config, &identity, &plan.file, plan.kind, &scratch,
        ),
        Backend::Container => container::load(project, &identity, &plan.file, plan.kind, &scratch),
    };
    if let Err(e) = loaded {
        let _ = transfer::discard_scratch(&identity, config.major);
        return Err(e);
    }
    transfer::swap_in(&identity, config.major)
}

/// How to show the server's log.
pub enum Logs {
    /// A file to print (and follow).
    File(PathBuf),
    /// A command that prints (and follows) it.
    Command(std::process::Command),
}

pub fn logs(env: &Env, project: &Project, follow: bool) -> Result<Logs> {
    let config = require_db(project)?;
    match active_backend(project, &config) {
        Backend::Native => Ok(Logs::File(native::log_path(project))),
        Backend::Container => container::logs(env, project, &config, follow).map(Logs::Command),
    }
}

/// A `psql` connected to the database, to run (or exec) with `args` appended.
pub fn psql(
    env: &Env,
    project: &Project,
    args: &[std::ffi::OsString],
) -> Result<std::process::Command> {
    let (config, backend, identity) = require_running(env, project)?;
    match backend {
        Backend::Native => native::psql(env, project, &config, &identity, args),
        Backend::Container => container::psql(env, project, &config, &identity, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/p";

    fn parse_str(text: &str) -> Result<Option<DbConfig>> {
        parse(text, Path::new("/p/pyenvx.toml"), Path::new(ROOT))
    }

    #[test]
    fn parses_the_db_table() {
        let text = "[project]\nname = \"x\"\n\n[services.db]\nengine = \"postgres\"\nversion = \"16\"\nbackend = \"container\"\nimage = \"postgres:16-alpine\"\nbin_dir = \"pg/bin\"\n";
        let db = parse_str(text).unwrap().unwrap();
        assert_eq!(
            db,
            DbConfig {
                major: 16,
                backend: Backend::Container,
                image: Some("postgres:16-alpine".into()),
                bin_dir: Some(PathBuf::from("/p/pg/bin")),
            }
        );
        let db = parse_str("[services.db]\nversion = 15\n").unwrap().unwrap();
        assert_eq!((db.major, db.backend), (15, Backend::Native));
        assert_eq!(db.image(), "postgres:15");
        assert!(parse_str("[project]\nname = \"x\"\n").unwrap().is_none());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[project]\nname = \"x\"\n[services.db]\nbackend = \"dokker\"\n",
                "/p/pyenvx.toml:4:11",
                "services.db.backend",
            ),
            (
                "[services.db]\nversion = \"16.2\"\n",
                "/p/pyenvx.toml:2:11",
                "services.db.version",
            ),
            (
                "[services.db]\nengine = \"redis\"\n",
                "/p/pyenvx.toml:2:10",
                "services.db.engine",
            ),
            (
                "[services.cache]\nengine = \"redis\"\n",
                "/p/pyenvx.toml:",
                "services.cache",
            ),
            (
                "[services.db]\nvresion = \"16\"\n",
                "/p/pyenvx.toml:2:1",
                "",
            ),
        ];
        for (text, at, key) in cases {
            let err = parse_str(text).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.starts_with(at), "{text:?}: {msg}");
            assert!(msg.contains(key), "{text:?}: {msg}");
            assert!(err.downcast_ref::<crate::error::UserError>().is_some());
        }
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(sql_name("Library"), "library");
        assert_eq!(sql_name("my-site 2"), "my_site_2");
        assert_eq!(sql_name("2fa"), "app_2fa");
        assert_eq!(sql_name("pg_tools"), "app_pg_tools");
        assert_eq!(sql_name("---"), "app");
        let a = random_password(24);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_password(24));
    }

    #[test]
    fn private_files_are_0600_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/creds.json");
        assert!(write_private_new(&path, b"one").unwrap());
        assert!(!write_private_new(&path, b"two").unwrap());
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "one");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs_err::read_dir(tmp.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn url_and_vars() {
        let id = Identity {
            credentials: Credentials {
                user: "lib".into(),
                password: "pw".into(),
                database: "lib".into(),
            },
            port: 54321,
        };
        assert_eq!(id.url(), "postgres://lib:pw@127.0.0.1:54321/lib");
        let vars = id.vars();
        assert_eq!(vars.len(), 6);
        assert!(vars.contains(&("PGPORT".into(), "54321".into())));
    }
}
