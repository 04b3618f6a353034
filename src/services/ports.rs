//! The port registry: one TCP port per project service, allocated once and remembered in
//! `$PYENVX_HOME/services/ports.json`.
//!
//! Why a registry rather than "the first free port at start": a port picked at start time moves
//! whenever another program happens to hold it, and then whatever read the old one (a shell, an
//! IDE, `.env`) silently talks to another project's database. Here a port is chosen once, under
//! a lock, never handed to two projects, and every consumer (`db up`, `pyenvx run`, `db url`)
//! reads it from the same file. When a stranger later occupies a registered port, `db up` says
//! so instead of moving; `db up --port N` moves the project deliberately.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::filelock::FileLock;
use crate::settings::{PortRange, Settings};
use crate::user_error;

/// The variable that narrows or moves the range (a firewall's open range, or several users on
/// one machine, each with their own registry), read and checked by `Settings`.
pub const RANGE_VAR: &str = crate::settings::DB_PORTS_VAR;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    version: u32,
    /// `"<project root>#<service>"` → port.
    ports: BTreeMap<String, u16>,
}

/// The registry key of a project's service.
pub fn key(root: &Path, service: &str) -> String {
    format!("{}#{service}", root.display())
}

fn path(dirs: &Dirs) -> PathBuf {
    dirs.service_ports()
}

fn lock(dirs: &Dirs) -> Result<FileLock> {
    FileLock::acquire(&dirs.locks().join("ports.lock"), || {})
}

fn load(dirs: &Dirs) -> Result<Registry> {
    let path = path(dirs);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            user_error!(
                hint = format!(
                    "fix or delete {} (projects then get new ports on their next `pyenvx db up`)",
                    path.display()
                ),
                "the port registry {} is not valid JSON: {e}",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry {
            version: 1,
            ..Registry::default()
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(dirs: &Dirs, registry: &Registry) -> Result<()> {
    let text = serde_json::to_string_pretty(registry)?;
    // Written whole and renamed, so readers without the lock never see half a file.
    crate::fs::write_atomic(&path(dirs), text.as_bytes())
}

/// The registered port, without locking or allocating (for readers such as `pyenvx run`).
pub fn lookup(dirs: &Dirs, key: &str) -> Result<Option<u16>> {
    Ok(load(dirs)?.ports.get(key).copied())
}

/// The registered port, or a newly allocated one.
pub fn ensure(settings: &Settings, key: &str) -> Result<u16> {
    let dirs = &settings.dirs;
    if let Some(port) = lookup(dirs, key)? {
        return Ok(port);
    }
    let _lock = lock(dirs)?;
    let mut registry = load(dirs)?;
    if let Some(port) = registry.ports.get(key) {
        return Ok(*port);
    }
    prune(&mut registry);
    let range = settings.db_ports;
    let (first, last) = (range.first, range.last);
    let port = free_port(&registry, range, None).ok_or_else(|| {
        user_error!(
            hint = format!(
                "stop other projects' databases, remove entries from {}, or widen {RANGE_VAR}",
                path(dirs).display()
            ),
            "no free port left between {first} and {last}"
        )
    })?;
    registry.ports.insert(key.to_string(), port);
    save(dirs, &registry)?;
    Ok(port)
}

/// Give `key` the port `port` (`db up --port`). Fails if another project has it; returns the
/// port `key` had before.
pub fn assign(settings: &Settings, key: &str, port: u16) -> Result<Option<u16>> {
    let dirs = &settings.dirs;
    let _lock = lock(dirs)?;
    let mut registry = load(dirs)?;
    prune(&mut registry);
    if let Some((owner, _)) = registry
        .ports
        .iter()
        .find(|(k, p)| **p == port && k.as_str() != key)
    {
        let owner = owner
            .rsplit_once('#')
            .map_or(owner.as_str(), |(root, _)| root);
        return Err(user_error!(
            hint = match free_port(&registry, settings.db_ports, None) {
                Some(free) => format!("`pyenvx db up --port {free}` is free"),
                None => "choose another port".to_string(),
            },
            "port {port} belongs to the project at {owner}"
        ));
    }
    let old = registry.ports.insert(key.to_string(), port);
    save(dirs, &registry)?;
    Ok(old)
}

/// A port no project has and nothing listens on, for suggestions; `after` skips ports up to it.
pub fn suggest(settings: &Settings, after: Option<u16>) -> Option<u16> {
    let registry = load(&settings.dirs).ok()?;
    free_port(&registry, settings.db_ports, after)
        .or_else(|| free_port(&registry, settings.db_ports, None))
}

fn free_port(registry: &Registry, range: PortRange, after: Option<u16>) -> Option<u16> {
    let start = after.map_or(range.first, |a| a.saturating_add(1).max(range.first));
    (start..=range.last).find(|p| !registry.ports.values().any(|q| q == p) && is_free(*p))
}

/// Entries of projects that no longer exist give their ports back.
fn prune(registry: &mut Registry) {
    registry.ports.retain(|k, _| {
        let root = k.rsplit_once('#').map_or(k.as_str(), |(root, _)| root);
        Path::new(root).join(crate::project::CONFIG_FILE).is_file()
    });
}

/// Whether nothing listens on 127.0.0.1:`port` (we can bind it ourselves).
pub fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Who listens on TCP `port` (any local address), as "pid 123 (nginx)", when the system tells.
/// Only processes we may inspect are found: all of them as root, our own otherwise.
pub fn listener(port: u16) -> Option<String> {
    let pid = crate::process::listening_on(port)?;
    let name = crate::process::name(pid).unwrap_or_default();
    Some(format!("pid {pid} ({name})"))
}

/// The error for a registered port that a stranger holds, naming it when /proc tells, with a
/// free port to move to.
pub fn taken(settings: &Settings, port: u16) -> anyhow::Error {
    let who = listener(port)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let hint = match suggest(settings, Some(port)) {
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

/// A TCP connection to a local server's port that is not a connection to itself.
///
/// Our ports lie inside Linux's range for outgoing connections, so while nothing listens yet a
/// connection can be given the very port it calls and meet itself (TCP simultaneous open): a
/// readiness probe would then hear its own words (a PostgreSQL login waits forever for them),
/// and the server, finding its port held, would exit. Such a connection is dropped and reported
/// as refused. Once a real listener holds the port the kernel gives it to no outgoing
/// connection, so a connection that passed this check reached the server.
pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    check_not_self(&stream)?;
    Ok(stream)
}

fn check_not_self(stream: &TcpStream) -> std::io::Result<()> {
    if stream.local_addr().ok() == stream.peer_addr().ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connected to itself: nothing listens there yet",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hang `db up` could meet: a socket bound to a port and connected to that same port
    /// succeeds on Linux and then hears only itself.
    #[test]
    fn a_connection_to_itself_counts_as_refused() {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let own = socket.local_addr().unwrap().as_socket().unwrap();
        socket.connect(&own.into()).unwrap();
        let stream: TcpStream = socket.into();
        assert_eq!(stream.peer_addr().unwrap(), own);
        let err = check_not_self(&stream).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    fn project(dir: &Path, name: &str) -> PathBuf {
        let root = dir.join(name);
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(root.join("pyenvx.toml"), "[project]\nname = \"x\"\n").unwrap();
        root
    }

    #[test]
    fn allocates_once_never_twice_and_prunes() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let settings = Settings::new(Dirs::new(tmp.path().join("home"), tmp.path().join("cache")));
        let a = key(&project(tmp.path(), "a"), "db");
        let b = key(&project(tmp.path(), "b"), "db");
        let pa = ensure(&settings, &a).unwrap();
        let pb = ensure(&settings, &b).unwrap();
        assert_ne!(pa, pb);
        assert_eq!(ensure(&settings, &a).unwrap(), pa, "stable");
        assert_eq!(lookup(&settings.dirs, &b).unwrap(), Some(pb));

        let err = assign(&settings, &a, pb).unwrap_err();
        assert!(
            err.to_string().contains("belongs to the project"),
            "{err:#}"
        );
        let free = suggest(&settings, None).unwrap();
        assert_eq!(assign(&settings, &a, free).unwrap(), Some(pa));
        assert_eq!(lookup(&settings.dirs, &a).unwrap(), Some(free));

        // A deleted project's port goes back to the pool.
        fs_err::remove_file(tmp.path().join("b/pyenvx.toml")).unwrap();
        let c = key(&project(tmp.path(), "c"), "db");
        ensure(&settings, &c).unwrap();
        assert_eq!(lookup(&settings.dirs, &b).unwrap(), None);
    }

    #[test]
    fn skips_ports_in_use_and_names_the_listener() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let settings = Settings::new(Dirs::new(tmp.path().join("home"), tmp.path().join("cache")));
        // Other tests take ports too: hold whichever is free first.
        let (first, held) = (PortRange::default().first..=PortRange::default().last)
            .find_map(|p| {
                TcpListener::bind((Ipv4Addr::LOCALHOST, p))
                    .ok()
                    .map(|l| (p, l))
            })
            .unwrap();
        assert!(!is_free(first));
        let port = ensure(&settings, &key(&project(tmp.path(), "a"), "db")).unwrap();
        assert_ne!(port, first);
        let who = listener(first).unwrap();
        assert!(
            who.contains(&std::process::id().to_string()),
            "{who} is this test process"
        );
        drop(held);
    }
}
