//! `[services.cache]`: a Redis per project, run natively from the machine's `redis-server`.
//!
//! Same identity rules as the database: a password generated once (`password`, mode 0600) and a
//! port from the shared registry ([`super::ports`], key `<root>#cache`), so `pyenvx run` builds
//! `REDIS_URL` from two files without asking a server. The password reaches the server only in
//! its configuration file (0600), never on a command line (`ps` shows command lines to everyone).
//!
//! Layout of `.pyenvx/services/cache/`:
//!
//! ```text
//! password        the generated `requirepass` (0600)
//! redis.conf      written at every start from the identity (0600)
//! data/           Redis's working directory: the append-only file (appendonlydir/), dump.rdb
//! redis.pid       written by the server
//! redis.log       the server's log
//! cache.lock      serializes up / down
//! ```
//!
//! Durability: `appendonly yes` with `appendfsync everysec`. Redis hands every write to the
//! kernel before it answers the client, so a `kill -9` of the server loses no acknowledged
//! write; only an operating-system crash can lose the last second.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::config::BackendKind;
use super::ports;
use crate::filelock::FileLock;
use crate::fs::{write_private, write_private_new};
use crate::process::{Pace, Signal};
use crate::project::config::{config_error, toml_error};
use crate::project::Project;
use crate::secrets::random_password;
use crate::settings::Settings;
use crate::user_error;

pub mod container;

/// The service's name in `[services.*]`, the registry and `.pyenvx/services/`.
pub use super::config::CACHE;

/// `[services.cache]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Redis major version asked for; `None` takes what the machine has.
    pub major: Option<u32>,
    pub backend: BackendKind,
    /// Container image; default the official `redis:<major>` (7 when unpinned).
    pub image: Option<String>,
}

impl CacheConfig {
    pub fn image(&self) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("redis:{}", self.major.unwrap_or(7)))
    }
}

#[derive(Deserialize)]
struct RawFile {
    services: Option<RawServices>,
}

#[derive(Deserialize)]
struct RawServices {
    cache: Option<Spanned<RawCache>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    engine: Option<Spanned<String>>,
    version: Option<Spanned<toml::Value>>,
    backend: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
}

/// `[services.cache]` of the project, or `None` when it declares none.
pub fn cache_config(project: &Project) -> Result<Option<CacheConfig>> {
    if !project.config.services.contains_key(CACHE) {
        return Ok(None);
    }
    let path = &project.config.path;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => toml::to_string(&std::collections::BTreeMap::from([(
            "services",
            &project.config.services,
        )]))?,
    };
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Option<CacheConfig>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let Some(cache) = raw.services.and_then(|s| s.cache) else {
        return Ok(None);
    };
    let cache = cache.into_inner();
    let err = |at: usize, key: &str, msg: String| config_error(path, text, at, key, msg);
    if let Some(engine) = &cache.engine {
        if engine.get_ref() != "redis" {
            return Err(err(
                engine.span().start,
                "services.cache.engine",
                format!(
                    "unsupported engine `{}`; pyenvx runs \"redis\"",
                    engine.get_ref()
                ),
            ));
        }
    }
    let major = match &cache.version {
        None => None,
        Some(v) => {
            let s = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match s.trim().parse::<u32>() {
                Ok(m) if (2..=99).contains(&m) => Some(m),
                _ => {
                    return Err(err(
                        v.span().start,
                        "services.cache.version",
                        format!("`{s}` is not a Redis major version such as \"7\""),
                    ))
                }
            }
        }
    };
    let backend = match &cache.backend {
        None => BackendKind::Native,
        Some(b) => b.get_ref().parse().map_err(|e: anyhow::Error| {
            err(b.span().start, "services.cache.backend", e.to_string())
        })?,
    };
    let image = match &cache.image {
        Some(i) if i.get_ref().trim().is_empty() => {
            return Err(err(
                i.span().start,
                "services.cache.image",
                "the image is empty".into(),
            ))
        }
        Some(i) => Some(i.get_ref().trim().to_string()),
        None => None,
    };
    Ok(Some(CacheConfig {
        major,
        backend,
        image,
    }))
}

/// `[services.cache]` or a user error saying how to declare it.
pub fn require_cache(project: &Project) -> Result<CacheConfig> {
    cache_config(project)?.ok_or_else(|| {
        user_error!(
            hint = format!(
                "add to {}:\n{}",
                project.config_path().display(),
                init_table().trim()
            ),
            "{} declares no cache",
            project.config_path().display()
        )
    })
}

/// The table `pyenvx init --cache redis` appends.
pub fn init_table() -> String {
    "\n[services.cache]\nengine = \"redis\"\nbackend = \"native\"\n".to_string()
}

// ---------------------------------------------------------------------------------------------
// Identity

pub fn state_dir(project: &Project) -> PathBuf {
    project.state_dir().join("services").join(CACHE)
}

fn data_dir(project: &Project) -> PathBuf {
    state_dir(project).join("data")
}

fn pid_path(project: &Project) -> PathBuf {
    state_dir(project).join("redis.pid")
}

pub fn log_path(project: &Project) -> PathBuf {
    state_dir(project).join("redis.log")
}

pub fn password_path(project: &Project) -> PathBuf {
    state_dir(project).join("password")
}

/// Password and port: what a client needs, read without touching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheIdentity {
    pub password: String,
    pub port: u16,
}

impl CacheIdentity {
    /// `redis://:password@127.0.0.1:port/0`; the generated password needs no escaping.
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/0", self.password, self.port)
    }

    pub fn vars(&self) -> Vec<(String, String)> {
        vec![("REDIS_URL".to_string(), self.url())]
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// Password and port, each generated or allocated on first use. Starts nothing.
pub fn identity(settings: &Settings, project: &Project) -> Result<CacheIdentity> {
    let path = password_path(project);
    if !path.exists() {
        crate::fs::owned_dirs(&project.root, &state_dir(project))?;
        write_private_new(&path, format!("{}\n", random_password(32)?).as_bytes())?;
    }
    let password = fs_err::read_to_string(&path)?.trim().to_string();
    if password.is_empty() || !password.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(user_error!(
            hint = "delete it (with the cache stopped) and a new one is generated",
            "{} is damaged",
            path.display()
        ));
    }
    let port = ports::ensure(settings, &ports::key(&project.root, CACHE))?;
    Ok(CacheIdentity { password, port })
}

// ---------------------------------------------------------------------------------------------
// The protocol: just enough RESP for AUTH and PING.

/// Why a readiness probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// Nothing listening yet, or the connection broke: try again.
    Unreachable(std::io::Error),
    /// The server answered, and not as it should (a wrong password, another program).
    Refused(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "{e}"),
            Self::Refused(m) => f.write_str(m),
        }
    }
}

fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// AUTH with the password, then PING; returns the server's version (from INFO server).
pub fn probe(identity: &CacheIdentity, timeout: Duration) -> Result<String, ProbeError> {
    let stream =
        super::ports::connect(identity.addr(), timeout).map_err(ProbeError::Unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(ProbeError::Unreachable)?;
    let mut writer = stream.try_clone().map_err(ProbeError::Unreachable)?;
    let mut reader = BufReader::new(stream);
    let mut ask = |args: &[&str]| -> Result<String, ProbeError> {
        writer
            .write_all(&command(args))
            .map_err(ProbeError::Unreachable)?;
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(ProbeError::Unreachable)?;
        if n == 0 {
            return Err(ProbeError::Unreachable(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            )));
        }
        let line = line.trim_end().to_string();
        if let Some(len) = line.strip_prefix('$') {
            let len: usize = len
                .parse()
                .map_err(|_| ProbeError::Refused(format!("unexpected reply {line:?}")))?;
            let mut body = vec![0u8; len + 2];
            std::io::Read::read_exact(&mut reader, &mut body).map_err(ProbeError::Unreachable)?;
            return Ok(String::from_utf8_lossy(&body[..len]).into_owned());
        }
        if let Some(error) = line.strip_prefix('-') {
            return Err(ProbeError::Refused(error.to_string()));
        }
        Ok(line)
    };
    let auth = ask(&["AUTH", &identity.password])?;
    if auth != "+OK" {
        return Err(ProbeError::Refused(format!("AUTH answered {auth:?}")));
    }
    let pong = ask(&["PING"])?;
    if pong != "+PONG" {
        return Err(ProbeError::Refused(format!("PING answered {pong:?}")));
    }
    let info = ask(&["INFO", "server"]).unwrap_or_default();
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_string())
}

// ---------------------------------------------------------------------------------------------
// The native server

/// The machine's `redis-server`: `PYENVX_REDIS_SERVER`, else `PATH`, else `/usr/bin`.
fn find_server(settings: &Settings) -> Result<PathBuf> {
    if let Some(p) = &settings.programs.redis_server {
        return Ok(p.clone());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            user_error!(
                hint = "install it (Debian and Ubuntu: `apt-get install redis-server`; Homebrew: `brew install redis`), or set PYENVX_REDIS_SERVER to its path",
                "no redis-server on this machine"
            )
        })
}

/// `redis-server --version` → (major, full version).
fn server_version(server: &Path) -> Result<(u32, String)> {
    let out = Command::new(server)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", server.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "Redis server v=7.0.15 sha=…"
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .with_context(|| format!("{} --version printed {text:?}", server.display()))?
        .to_string();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("cannot read the version {version:?}"))?;
    Ok((major, version))
}

/// The live server of this project, if any: the pid file's process, still a redis-server (not
/// a zombie, not a recycled pid) working in this project's data directory.
fn running_pid(project: &Project) -> Option<u32> {
    let (pid, name) = crate::process::from_pid_file(&pid_path(project))?;
    if !name.contains("redis-server") {
        return None;
    }
    let cwd = crate::process::cwd(pid)?;
    let data = data_dir(project).canonicalize().ok()?;
    (cwd == data).then_some(pid)
}

fn lock(project: &Project) -> Result<FileLock> {
    // Every cache command takes this lock first: its directories are checked here.
    crate::fs::owned_dirs(&project.root, &state_dir(project))?;
    FileLock::acquire(&state_dir(project).join("cache.lock"), || {})
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct CacheUp {
    pub version: String,
    pub port: u16,
    pub already_running: bool,
}

/// Where the cache stands.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    pub engine: &'static str,
    pub backend: BackendKind,
    pub running: bool,
    /// AUTH + PING with the project's password succeeded just now.
    pub accepting_connections: bool,
    pub port: u16,
    /// Native: the server's process id.
    pub pid: Option<u32>,
    /// Native: the data directory.
    pub data: PathBuf,
    /// Container: the container's (and its volume's) name.
    pub container: Option<String>,
    pub url: String,
}

fn redis_conf(project: &Project, identity: &CacheIdentity) -> String {
    let q = |p: &Path| format!("\"{}\"", p.display().to_string().replace('"', "\\\""));
    format!(
        "# Written by pyenvx at every `up`; edits are lost.\n\
         bind 127.0.0.1\n\
         protected-mode yes\n\
         port {port}\n\
         requirepass {password}\n\
         daemonize no\n\
         dir {dir}\n\
         pidfile {pid}\n\
         logfile {log}\n\
         appendonly yes\n\
         appendfsync everysec\n\
         save 300 1\n",
        port = identity.port,
        password = identity.password,
        dir = q(&data_dir(project)),
        pid = q(&pid_path(project)),
        log = q(&log_path(project)),
    )
}

/// Start the cache (creating its data directory on first use); returns once AUTH + PING work.
pub fn up(settings: &Settings, project: &Project) -> Result<CacheUp> {
    let config = require_cache(project)?;
    let identity = identity(settings, project)?;
    let _lock = lock(project)?;
    if config.backend == BackendKind::Container {
        if running_pid(project).is_some() {
            return Err(user_error!(
                hint = "`pyenvx redis down` stops it; the two backends keep separate data",
                "this project's cache is running with the native backend"
            ));
        }
        let (version, already_running) = container::up(settings, project, &config, &identity)?;
        return Ok(CacheUp {
            version,
            port: identity.port,
            already_running,
        });
    }
    if running_pid(project).is_some() {
        if let Ok(version) = probe(&identity, Duration::from_secs(2)) {
            return Ok(CacheUp {
                version,
                port: identity.port,
                already_running: true,
            });
        }
    }
    let server = find_server(settings)?;
    let (major, version) = server_version(&server)?;
    if let Some(want) = config.major.filter(|w| *w != major) {
        return Err(user_error!(
            hint =
                format!("set `version = \"{major}\"` in [services.cache], or install Redis {want}"),
            "[services.cache] asks for Redis {want}, and this machine's {} is {version}",
            server.display()
        ));
    }
    if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, identity.port)).is_err() {
        return Err(user_error!(
            hint = format!(
                "stop that program, or remove this project's `#cache` entry from {} to get another port",
                settings.dirs.service_ports().display()
            ),
            "port {}, this project's cache port, is taken by another program",
            identity.port
        ));
    }
    crate::fs::owned_dirs(&project.root, &data_dir(project))?;
    // Redis opens its log itself, following links: made (or checked) here first.
    drop(crate::fs::open_log(&log_path(project))?);
    // The cached values are the project's data: nobody else reads them.
    std::fs::set_permissions(
        data_dir(project),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    // A pid file left by a killed server would name a pid that may be someone else's by now.
    let _ = std::fs::remove_file(pid_path(project));
    let conf = state_dir(project).join("redis.conf");
    write_private(&conf, redis_conf(project, &identity).as_bytes())?;
    let mut cmd = Command::new(&server);
    cmd.arg(&conf)
        .current_dir(data_dir(project))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C meant for pyenvx is not for it.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let pace = Pace::backoff(Duration::from_millis(5), Duration::from_millis(50));
    let version = crate::process::wait_until(Duration::from_secs(30), pace, || {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_path(project)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(anyhow::anyhow!(
                "redis-server exited during start ({status}):\n{}",
                tail.join("\n")
            ));
        }
        match probe(&identity, Duration::from_secs(2)) {
            Ok(version) => Ok(Some(version)),
            // Loading a large append-only file answers -LOADING until done.
            Err(ProbeError::Refused(m)) if m.starts_with("LOADING") => Ok(None),
            Err(ProbeError::Refused(m)) => Err(anyhow::anyhow!(
                "Redis on port {} refused the project's password: {m}",
                identity.port
            )),
            Err(ProbeError::Unreachable(_)) => Ok(None),
        }
    })?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "Redis did not answer within 30 s; see {}",
            log_path(project).display()
        )
    })?;
    Ok(CacheUp {
        version,
        port: identity.port,
        already_running: false,
    })
}

/// Stop the cache (SIGTERM: Redis flushes its append-only file and exits); the data stays.
/// Returns whether it was running.
pub fn down(settings: &Settings, project: &Project) -> Result<bool> {
    let config = require_cache(project)?;
    let _lock = lock(project)?;
    let Some(pid) = running_pid(project) else {
        if config.backend == BackendKind::Container {
            return container::down(settings, project);
        }
        return Ok(false);
    };
    crate::process::signal(pid, Signal::Terminate)
        .with_context(|| format!("cannot stop redis-server (pid {pid})"))?;
    let stopped = crate::process::wait_for(
        Duration::from_secs(30),
        Pace::every(Duration::from_millis(20)),
        || running_pid(project) != Some(pid),
    );
    if !stopped {
        return Err(anyhow::anyhow!(
            "redis-server (pid {pid}) did not stop within 30 s; see {}",
            log_path(project).display()
        ));
    }
    Ok(true)
}

/// Where the cache stands, asked now.
pub fn status(settings: &Settings, project: &Project) -> Result<CacheStatus> {
    let config = require_cache(project)?;
    let identity = identity(settings, project)?;
    let pid = running_pid(project);
    let (backend, running) = match pid {
        Some(_) => (BackendKind::Native, true),
        None if config.backend == BackendKind::Container => (
            BackendKind::Container,
            container::is_running(settings, project)?,
        ),
        None => (BackendKind::Native, false),
    };
    let accepting = running && probe(&identity, Duration::from_secs(2)).is_ok();
    Ok(CacheStatus {
        engine: "redis",
        backend,
        running,
        accepting_connections: accepting,
        port: identity.port,
        pid,
        data: data_dir(project),
        container: (backend == BackendKind::Container).then(|| container::name(project)),
        url: identity.url(),
    })
}

/// The variables `pyenvx run` adds when the project declares a cache.
pub fn env_vars(settings: &Settings, project: &Project) -> Result<Vec<(String, String)>> {
    if cache_config(project)?.is_none() {
        return Ok(Vec::new());
    }
    Ok(identity(settings, project)?.vars())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Option<CacheConfig>> {
        parse(text, Path::new("/p/pyenvx.toml"))
    }

    #[test]
    fn parses_the_cache_table() {
        let c = parse_str("[services.cache]\nengine = \"redis\"\nversion = 7\n")
            .unwrap()
            .unwrap();
        assert_eq!(c.major, Some(7));
        assert_eq!(c.backend, BackendKind::Native);
        assert!(parse_str("[services.db]\n").unwrap().is_none());
        for (text, at, key) in [
            (
                "[services.cache]\nengine = \"memcached\"\n",
                "/p/pyenvx.toml:2:10",
                "services.cache.engine",
            ),
            (
                "[services.cache]\nbackend = \"vm\"\n",
                "/p/pyenvx.toml:2:11",
                "services.cache.backend",
            ),
            (
                "[services.cache]\nversion = \"7.x\"\n",
                "/p/pyenvx.toml:2:11",
                "services.cache.version",
            ),
            ("[services.cache]\nport = 1\n", "/p/pyenvx.toml:2:1", ""),
        ] {
            let msg = format!("{:#}", parse_str(text).unwrap_err());
            assert!(msg.starts_with(at), "{text:?}: {msg}");
            assert!(msg.contains(key), "{text:?}: {msg}");
        }
    }

    #[test]
    fn resp_commands_and_url() {
        assert_eq!(
            command(&["AUTH", "pw"]),
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n".to_vec()
        );
        let id = CacheIdentity {
            password: "abc".into(),
            port: 54400,
        };
        assert_eq!(id.url(), "redis://:abc@127.0.0.1:54400/0");
    }
}
