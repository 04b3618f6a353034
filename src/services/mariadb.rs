//! `[services.db] engine = "mariadb"`: a MariaDB per project for Django's MySQL backend, run
//! natively from the machine's `mariadbd` (Debian's `mariadb-server`) or as a container of the
//! official `mariadb` image.
//!
//! Same identity rules as PostgreSQL ([`super::credentials`]): a user, password and database
//! generated once (0600), a port from the shared registry; `DATABASE_URL=mysql://…`.
//!
//! Decisions and why:
//! * The server runs with `--no-defaults` and every setting on its command line: the machine's
//!   `/etc/mysql` is the system service's, not this project's, and a port move rewrites nothing.
//!   It listens on 127.0.0.1 only, with its socket in a short private directory (0700) like
//!   PostgreSQL's. As root it runs as the `mysql` account, which owns the data directory.
//! * First start: `mariadb-install-db` (root only through the socket, as the OS user that owns
//!   it), then the server with `--init-file` creating the project's user (on `127.0.0.1` and
//!   `localhost`, every privilege, as PostgreSQL's role is superuser: the restore's scratch
//!   database needs it) and database (utf8mb4, which Django expects). The init file (0600) is
//!   deleted once a login worked; only then is `mariadb.initialized` written. A data directory
//!   without the marker is a first start that died and is made again; one with it is never
//!   deleted by `up`. After that, crash safety is InnoDB's own: a `kill -9` loses no commit.
//! * Clients (`mariadb`, `mariadb-dump`) read the password from `client.cnf` (0600, rewritten
//!   from the identity before each use), never from their command line, which `ps` shows.
//! * Ready means a login with the project's credentials returned the server's version.
//! * `db restore`: the file (a SQL script, as `mariadb-dump` writes) loads into a scratch
//!   database; only when that succeeded is one `RENAME TABLE` moving every table (atomic in
//!   MariaDB) the swap: the project's tables into `<db>_pyenvx_old`, the scratch's into the
//!   project's database. Views, triggers, routines and events cannot move between databases
//!   that way, so a restore involving them is refused before anything changes.
//! * Container backend: the official image's contract (`MARIADB_USER`, `MARIADB_PASSWORD`,
//!   `MARIADB_DATABASE`, data in `/var/lib/mysql`, port 3306), published on 127.0.0.1 only;
//!   container and volume `pyenvx-<name>-<hash>-mariadb`, apart from PostgreSQL's. Root's
//!   password is the project's (root is reachable only as the project could be), used once to
//!   grant the project's user every privilege as on the native backend. The clients are the
//!   container's own (`<engine> exec`), so the host needs none. Ready means a login inside the
//!   container over TCP (the image's first-run setup allows none) and MariaDB's greeting on the
//!   published port.
//! * Snapshots: MariaDB has no template copy, so `db snapshot` copies every table inside the
//!   server into `pyenvx_snapshot_<name>`: each table's own definition, then natively its
//!   files as transportable tablespaces (8–12× faster than a dump and restore of 184 MiB),
//!   else every row in one transaction with a consistent snapshot. A restore copies it the
//!   same way into the scratch database and swaps it in as `db restore` does.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::backend::Backend;
use super::config::{BackendKind, DbConfig, DbEngine};
use super::credentials::{write_private, Identity};
use super::postgres::{self, DumpKind, ServerUser};
use super::snapshot::{self, Snapshot};
use super::transfer::{self, DumpTarget, RestorePlan};
use super::{container, ports, state_dir, Logs, Status, UpReport};
use crate::project::Project;
use crate::user_error;

const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Logs beyond this size are rotated to `mariadb.log.1` at the next start.
const LOG_ROTATE_BYTES: u64 = 10 << 20;

const INSTALL_HINT: &str = "install it (Debian and Ubuntu: `apt-get install mariadb-server`; Homebrew: `brew install mariadb`), \
                            or set `bin_dir` in [services.db] to the directory holding `mariadbd`";

/// The native MariaDB backend of a project's `[services.db]`.
pub struct Native<'a> {
    pub project: &'a Project,
    pub config: &'a DbConfig,
}

impl Backend for Native<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }

    fn is_running(&self) -> Result<bool> {
        Ok(running(self.project).is_some())
    }

    fn up(&self, identity: &Identity) -> Result<UpReport> {
        up(self.project, self.config, identity)
    }

    fn down(&self) -> Result<bool> {
        down(self.project)
    }

    fn destroy(&self) -> Result<()> {
        destroy(self.project)
    }

    fn status(&self, identity: &Identity) -> Result<Status> {
        let pid = running(self.project);
        let accepting = pid.is_some()
            && Clients::new(self.project, self.config, identity)
                .and_then(|c| c.server_version())
                .is_ok();
        let version = self.config.major.max(
            find_tool(self.config, "mariadbd")
                .and_then(|p| server_version(&p))
                .map_or(0, |(major, _)| major),
        );
        Ok(Status {
            engine: DbEngine::Mariadb,
            backend: BackendKind::Native,
            version,
            running: pid.is_some(),
            accepting_connections: accepting,
            port: identity.port,
            user: identity.credentials.user.clone(),
            database: identity.credentials.database.clone(),
            pid,
            data: data_dir(self.project).display().to_string(),
            container: None,
            initialized: marker(self.project).exists(),
        })
    }

    fn logs(&self, _follow: bool) -> Result<Logs> {
        Ok(Logs::File(log_path(self.project)))
    }

    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command> {
        Clients::new(self.project, self.config, identity)?.shell(args)
    }

    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()> {
        Clients::new(self.project, self.config, identity)?.dump(target)
    }

    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan> {
        Clients::new(self.project, self.config, identity)?.check_restore(file, shown)
    }

    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()> {
        restore(
            &Clients::new(self.project, self.config, identity)?,
            &plan.file,
        )
    }

    fn snapshot_take(&self, identity: &Identity, name: Option<&str>) -> Result<Snapshot> {
        let clients = Clients::new(self.project, self.config, identity)?;
        snapshot_take(&clients, self.project, BackendKind::Native, name)
    }

    fn snapshot_restore(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        snapshot_restore(&Clients::new(self.project, self.config, identity)?, snap)
    }

    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        let clients = Clients::new(self.project, self.config, identity)?;
        snapshot_remove(&clients, self.project, snap)
    }
}

/// The MariaDB container backend: the official `mariadb` image under Docker or Podman.
pub struct Container<'a> {
    pub project: &'a Project,
    pub config: &'a DbConfig,
}

impl Backend for Container<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Container
    }

    fn is_running(&self) -> Result<bool> {
        let engine = container::engine()?;
        Ok(container::inspect(&engine, &container_name(self.project))?.is_some_and(|i| i.running))
    }

    fn up(&self, identity: &Identity) -> Result<UpReport> {
        container_up(self.project, self.config, identity)
    }

    fn down(&self) -> Result<bool> {
        let engine = container::engine()?;
        let name = container_name(self.project);
        if !container::inspect(&engine, &name)?.is_some_and(|i| i.running) {
            return Ok(false);
        }
        // SIGTERM is MariaDB's clean shutdown; `stop` sends it and waits.
        let mut stop = engine.command();
        stop.args(["stop", "--time", "60", &name]);
        container::run_engine(stop, &format!("stop container {name}"))?;
        Ok(true)
    }

    fn destroy(&self) -> Result<()> {
        let engine = container::engine()?;
        let name = container_name(self.project);
        if container::inspect(&engine, &name)?.is_some() {
            let mut rm = engine.command();
            rm.args(["rm", "--force", "--volumes", &name]);
            container::run_engine(rm, &format!("remove container {name}"))?;
        }
        if volume_exists(&engine, &name)? {
            let mut rm = engine.command();
            rm.args(["volume", "rm", "--force", &name]);
            container::run_engine(rm, &format!("remove volume {name}"))?;
        }
        Ok(())
    }

    fn status(&self, identity: &Identity) -> Result<Status> {
        let engine = container::engine()?;
        let name = container_name(self.project);
        let running = container::inspect(&engine, &name)?.is_some_and(|i| i.running);
        let clients = Clients::exec(&engine, name.clone(), identity);
        let version = running.then(|| clients.server_version().ok()).flatten();
        Ok(Status {
            engine: DbEngine::Mariadb,
            backend: BackendKind::Container,
            version: version
                .as_deref()
                .and_then(|v| v.split('.').next()?.parse().ok())
                .unwrap_or(self.config.major),
            running,
            accepting_connections: version.is_some(),
            port: identity.port,
            user: identity.credentials.user.clone(),
            database: identity.credentials.database.clone(),
            pid: None,
            data: format!("volume {name}"),
            container: Some(name.clone()),
            initialized: volume_exists(&engine, &name)?,
        })
    }

    fn logs(&self, follow: bool) -> Result<Logs> {
        let engine = container::engine()?;
        let mut cmd = engine.command();
        cmd.arg("logs");
        if follow {
            cmd.arg("--follow");
        }
        cmd.arg(container_name(self.project));
        Ok(Logs::Command(cmd))
    }

    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command> {
        let engine = container::engine()?;
        let mut cmd = Clients::exec(&engine, container_name(self.project), identity).shell(args)?;
        cmd.stdin(Stdio::inherit());
        Ok(cmd)
    }

    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()> {
        let engine = container::engine()?;
        Clients::exec(&engine, container_name(self.project), identity).dump(target)
    }

    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan> {
        let engine = container::engine()?;
        Clients::exec(&engine, container_name(self.project), identity).check_restore(file, shown)
    }

    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()> {
        let engine = container::engine()?;
        restore(
            &Clients::exec(&engine, container_name(self.project), identity),
            &plan.file,
        )
    }

    fn snapshot_take(&self, identity: &Identity, name: Option<&str>) -> Result<Snapshot> {
        let engine = container::engine()?;
        let clients = Clients::exec(&engine, container_name(self.project), identity);
        snapshot_take(&clients, self.project, BackendKind::Container, name)
    }

    fn snapshot_restore(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        let engine = container::engine()?;
        snapshot_restore(
            &Clients::exec(&engine, container_name(self.project), identity),
            snap,
        )
    }

    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        let engine = container::engine()?;
        let clients = Clients::exec(&engine, container_name(self.project), identity);
        snapshot_remove(&clients, self.project, snap)
    }
}

/// `pyenvx-<name>-<hash>-mariadb`: the container's and the volume's name, apart from the
/// PostgreSQL ones so that changing `engine` never mounts one engine's data into the other.
pub fn container_name(project: &Project) -> String {
    let stem = container::stem(project);
    format!("{}-mariadb", stem.strip_suffix("-db").unwrap_or(&stem))
}

fn volume_exists(engine: &container::Engine, name: &str) -> Result<bool> {
    let out = engine
        .command()
        .args(["volume", "inspect", "--format", "{{.Name}}", name])
        .output()
        .context("cannot run the container engine")?;
    Ok(out.status.success())
}

/// Start the project's container (creating it and its volume on first use), wait for a login,
/// and give the project's user every privilege (the image grants only its database; restores
/// and Django's test database need more, as on the native backend).
fn container_up(project: &Project, config: &DbConfig, identity: &Identity) -> Result<UpReport> {
    let engine = container::engine()?;
    let name = container_name(project);
    let image = config.image();
    let report = |server_version: String, already_running: bool, initialized: bool| UpReport {
        engine: DbEngine::Mariadb,
        backend: BackendKind::Container,
        server_version,
        port: identity.port,
        already_running,
        initialized,
        source: format!("{image} ({})", engine.program.display()),
    };
    let clients = Clients::exec(&engine, name.clone(), identity);
    let mut existing = container::inspect(&engine, &name)?;
    if let Some(info) = &existing {
        let current = info.port == Some(identity.port) && info.image == image;
        if current && info.running {
            if let Ok(version) = container_ready(&engine, &clients, Duration::from_secs(30)) {
                return Ok(report(version, true, false));
            }
        }
        if !current || info.running {
            // Another port or image: containers cannot change either; the data is in the volume.
            let mut rm = engine.command();
            rm.args(["rm", "--force", &name]);
            container::run_engine(rm, "remove the old container")?;
            existing = None;
        }
    }
    if !ports::is_free(identity.port) {
        let dirs = crate::dirs::Dirs::from_env()?;
        return Err(ports::taken(&dirs, identity.port));
    }
    let had_volume = volume_exists(&engine, &name)?;
    let labels = [
        format!("pyenvx.project={}", project.root.display()),
        format!("pyenvx.service={}", super::DB),
        "pyenvx.engine=mariadb".to_string(),
    ];
    if existing.is_some() {
        let mut start = engine.command();
        start.args(["start", &name]);
        container::run_engine(start, &format!("start container {name}"))?;
    } else {
        if !had_volume {
            let mut create = engine.command();
            create.args(["volume", "create"]);
            for l in &labels {
                create.args(["--label", l]);
            }
            create.arg(&name);
            container::run_engine(create, &format!("create volume {name}"))?;
        }
        let c = &identity.credentials;
        let mut run = engine.command();
        run.args(["run", "--detach", "--name", &name]);
        for l in labels.iter().cloned().chain([
            format!("pyenvx.port={}", identity.port),
            format!("pyenvx.image={image}"),
        ]) {
            run.args(["--label", &l]);
        }
        // Values through the CLI's environment, never its command line.
        run.args([
            "-e",
            "MARIADB_USER",
            "-e",
            "MARIADB_PASSWORD",
            "-e",
            "MARIADB_DATABASE",
            "-e",
            "MARIADB_ROOT_PASSWORD",
        ])
        .env("MARIADB_USER", &c.user)
        .env("MARIADB_PASSWORD", &c.password)
        .env("MARIADB_DATABASE", &c.database)
        .env("MARIADB_ROOT_PASSWORD", &c.password)
        .arg("--volume")
        .arg(format!("{name}:/var/lib/mysql"))
        .arg("--publish")
        .arg(format!("127.0.0.1:{}:3306", identity.port))
        .arg(&image)
        .args([
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]);
        container::run_engine(run, &format!("start a container from {image}")).map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("pull access denied")
                || text.contains("Unable to find image")
                || text.contains("manifest unknown")
                || text.contains("failed to resolve reference")
                || text.contains("dial tcp")
            {
                e.context(
                    crate::error::UserError::new(format!(
                        "the image {image} is not available, and the container engine cannot pull it"
                    ))
                    .hint(format!(
                        "pull it (`{} pull {image}`), set [services.db] image to one you have, or use backend = \"native\"",
                        engine.program.display()
                    )),
                )
            } else {
                e
            }
        })?;
    }
    let version = container_ready(&engine, &clients, START_TIMEOUT)?;
    if !had_volume {
        grant_everything(&clients)?;
    }
    Ok(report(version, false, !had_volume))
}

/// `GRANT ALL ON *.*` to the project's user, as the image's root (whose password is the
/// project's), inside the container.
fn grant_everything(clients: &Clients) -> Result<()> {
    let Runner::Exec { engine, container } = &clients.runner else {
        return Ok(());
    };
    let c = &clients.identity.credentials;
    let mut cmd = Command::new(engine);
    cmd.args(["exec", "--env", "MYSQL_PWD"])
        .env("MYSQL_PWD", &c.password)
        .arg(container)
        .args([
            "mariadb",
            "--user=root",
            "--host=127.0.0.1",
            "--port=3306",
            "--protocol=TCP",
            "--execute",
        ])
        .arg(format!(
            "GRANT ALL PRIVILEGES ON *.* TO {}@'%' WITH GRANT OPTION",
            literal(&c.user)
        ))
        .stdin(Stdio::null());
    run(
        cmd,
        "mariadb (as root, in the container)",
        |what, status, detail| anyhow::anyhow!("{what} failed ({status}): {}", detail.trim()),
    )
    .map(drop)
}

/// Poll logins inside the container until one succeeds; a container that stops meanwhile
/// fails the wait with its log.
fn container_ready(
    engine: &container::Engine,
    clients: &Clients,
    timeout: Duration,
) -> Result<String> {
    let Runner::Exec {
        container: name, ..
    } = &clients.runner
    else {
        unreachable!("container clients run in the container");
    };
    let started = Instant::now();
    loop {
        let last_error = match clients.server_version() {
            Ok(version) if published(clients.identity) => return Ok(version),
            Ok(_) => "the published port does not answer yet".to_string(),
            Err(e) => {
                let text = format!("{e:#}");
                if text.contains("Access denied") {
                    return Err(user_error!(
                        hint = "the volume was made with other credentials (was .pyenvx deleted?); `pyenvx db reset --yes` \
                                recreates it empty",
                        "the database in the container rejected the project's credentials: {}",
                        text.lines().last().unwrap_or_default()
                    ));
                }
                text
            }
        };
        if container::inspect(engine, name)?.is_some_and(|i| !i.running) {
            return Err(anyhow::anyhow!(
                "container {name} stopped while starting:\n{}",
                container::container_log_tail(engine, name)
            ));
        }
        if started.elapsed() > timeout {
            return Err(anyhow::anyhow!(
                "MariaDB in container {name} did not accept connections within {} s ({})\n{}",
                timeout.as_secs(),
                last_error.trim(),
                container::container_log_tail(engine, name)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The published port answers with MariaDB's greeting (protocol version 10), so a client on
/// the host reaches the server, not just the engine's proxy.
fn published(identity: &Identity) -> bool {
    use std::io::Read;
    let Ok(mut stream) =
        std::net::TcpStream::connect_timeout(&identity.addr(), Duration::from_secs(2))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && head[4] == 10
}

// ---------------------------------------------------------------------------------------------
// Layout

pub fn data_dir(project: &Project) -> PathBuf {
    state_dir(project).join("mariadb")
}

fn marker(project: &Project) -> PathBuf {
    state_dir(project).join("mariadb.initialized")
}

pub fn log_path(project: &Project) -> PathBuf {
    state_dir(project).join("mariadb.log")
}

fn pid_path(project: &Project) -> PathBuf {
    data_dir(project).join("mariadbd.pid")
}

/// The server's temporary files (large sorts, `ALTER TABLE` copies): the caller's TMPDIR may be
/// one the server's user cannot write (root's, as root).
fn tmp_dir(project: &Project) -> PathBuf {
    state_dir(project).join("mariadb.tmp")
}

fn init_file(project: &Project) -> PathBuf {
    state_dir(project).join("mariadb-init.sql")
}

fn client_cnf(project: &Project) -> PathBuf {
    state_dir(project).join("client.cnf")
}

// ---------------------------------------------------------------------------------------------
// Binaries

/// `name` from `[services.db] bin_dir`, else `PATH`, else the usual places (Debian puts
/// `mariadbd` in /usr/sbin, which a regular user's PATH often lacks).
fn find_tool(config: &DbConfig, name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = config.bin_dir.iter().cloned().collect();
    if let Some(bin) = &config.bin_dir {
        // A prefix's `sbin` beside its `bin`.
        dirs.extend(bin.parent().map(|p| p.join("sbin")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(
        [
            "/usr/sbin",
            "/usr/bin",
            "/usr/local/sbin",
            "/usr/local/bin",
            "/opt/homebrew/bin",
        ]
        .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| user_error!(hint = INSTALL_HINT, "no {name} on this machine"))
}

/// `mariadbd --version` → (major, full version), from "mariadbd  Ver 10.11.19-MariaDB-… for …".
fn server_version(server: &Path) -> Result<(u32, String)> {
    let out = Command::new(server)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", server.display()))?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("cannot read the version of {}", server.display()))
}

fn parse_version(text: &str) -> Option<(u32, String)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "Ver")?;
    let full = words.get(at + 1)?;
    let version = full.split('-').next()?.to_string();
    let major = version.split('.').next()?.parse().ok()?;
    Some((major, version))
}

/// Whether `version` (`10.11.19`) is what `[services.db] version` (`10.11`, `10`) asks for.
fn version_matches(asked: &str, version: &str) -> bool {
    let have: Vec<&str> = version.split('.').collect();
    asked
        .split('.')
        .enumerate()
        .all(|(i, part)| have.get(i) == Some(&part))
}

/// As root the server runs as the `mysql` account (it refuses root, as PostgreSQL does).
fn server_user() -> Result<Option<ServerUser>> {
    if postgres::effective_uid() != 0 {
        return Ok(None);
    }
    postgres::account("mysql").map(Some).ok_or_else(|| {
        user_error!(
            hint = "run pyenvx as a regular user, or create the account (`useradd --system --user-group mysql`)",
            "MariaDB is not run as root, and this machine has no `mysql` account to run it as"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The server

/// The live server of this project: the pid file's process, not a zombie, serving this data
/// directory (a recycled pid is someone else).
fn running(project: &Project) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_path(project))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    if stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let want = format!("--datadir={}", data_dir(project).display());
    cmdline
        .split(|b| *b == 0)
        .any(|a| a == want.as_bytes())
        .then_some(pid)
}

/// The port a running server was started with.
fn running_port(pid: u32) -> Option<u16> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline.split(|b| *b == 0).find_map(|a| {
        std::str::from_utf8(a)
            .ok()?
            .strip_prefix("--port=")?
            .parse()
            .ok()
    })
}

/// A short private directory (0700, the server's user) for the server's Unix socket: socket
/// paths are limited to ~107 bytes, project paths are not.
fn socket_dir(project: &Project, user: Option<&ServerUser>) -> Result<PathBuf> {
    let hash = super::short_hash(&project.root);
    let uid = user.map_or_else(postgres::effective_uid, |u| u.uid);
    let mut candidates = Vec::new();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(runtime).join(format!("pyenvx-my-{hash}")));
    }
    candidates.push(std::env::temp_dir().join(format!("pyenvx-my-{uid}-{hash}")));
    candidates.push(PathBuf::from(format!("/tmp/pyenvx-my-{uid}-{hash}")));
    let fits = |p: &Path| p.as_os_str().len() + "/mysqld.sock.lock".len() <= 100;
    let reachable = |p: &Path| match (user, p.parent()) {
        (Some(u), Some(parent)) => postgres::check_reachable(u, parent).is_ok(),
        _ => true,
    };
    let dir = candidates
        .into_iter()
        .find(|p| fits(p) && reachable(p))
        .context("no directory short enough for MariaDB's socket (runtime and temporary directories are too deep)")?;
    super::native::ensure_private_dir(&dir, user)?;
    Ok(dir)
}

fn remove_socket_dir(project: &Project) {
    let hash = super::short_hash(&project.root);
    let uid = server_user()
        .ok()
        .flatten()
        .map_or_else(postgres::effective_uid, |u| u.uid);
    let mut candidates = vec![
        std::env::temp_dir().join(format!("pyenvx-my-{uid}-{hash}")),
        PathBuf::from(format!("/tmp/pyenvx-my-{uid}-{hash}")),
    ];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(runtime).join(format!("pyenvx-my-{hash}")));
    }
    for dir in candidates {
        // Only when empty: a running server's socket keeps it.
        let _ = std::fs::remove_dir(dir);
    }
}

/// The settings every start passes; install-db gets the same InnoDB sizes so the files it makes
/// fit them. The buffer pool is MariaDB's default (memory is taken as pages are used; 32 MiB
/// made bulk copies a third slower); the redo log a third of the default, since every project
/// keeps one on disk.
const INNODB: [&str; 2] = [
    "--innodb-buffer-pool-size=128M",
    "--innodb-log-file-size=32M",
];

/// `SELECT`-able string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A quoted identifier.
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The SQL of the first start: the project's user and database.
fn init_sql(identity: &Identity) -> String {
    let c = &identity.credentials;
    let mut sql = format!(
        "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n",
        ident(&c.database)
    );
    for host in ["127.0.0.1", "localhost"] {
        let account = format!("{}@{}", literal(&c.user), literal(host));
        sql.push_str(&format!(
            "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {};\n\
             GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;\n",
            literal(&c.password)
        ));
    }
    sql
}

fn up(project: &Project, config: &DbConfig, identity: &Identity) -> Result<UpReport> {
    let server = find_tool(config, "mariadbd")?;
    let (_, version) = server_version(&server)?;
    if let Some(asked) = config.version.as_deref() {
        if !version_matches(asked, &version) {
            return Err(user_error!(
                hint = format!(
                    "set `version = \"{}\"` in [services.db], or install MariaDB {asked}",
                    version.rsplit_once('.').map_or(version.as_str(), |v| v.0)
                ),
                "[services.db] asks for MariaDB {asked}, and this machine's {} is {version}",
                server.display()
            ));
        }
    }
    let user = server_user()?;
    let data = data_dir(project);
    fs_err::create_dir_all(state_dir(project))?;
    if let Some(u) = &user {
        postgres::check_reachable(u, &state_dir(project))?;
    }
    let report = |server_version: String, already_running: bool, initialized: bool| UpReport {
        engine: DbEngine::Mariadb,
        backend: BackendKind::Native,
        server_version,
        port: identity.port,
        already_running,
        initialized,
        source: server.display().to_string(),
    };
    let clients = Clients::new(project, config, identity)?;
    let marked = marker(project).exists();
    if marked && !data.join("mysql").is_dir() {
        return Err(user_error!(
            hint = format!(
                "move {} away to start with an empty database, or `pyenvx db reset --yes` to delete it",
                data.display()
            ),
            "{} was initialized by pyenvx but holds no MariaDB data (no mysql/); pyenvx neither starts nor deletes it",
            data.display()
        ));
    }
    if let Some(pid) = running(project) {
        if marked && running_port(pid) == Some(identity.port) {
            let version = wait_ready(&clients, None, None, Duration::from_secs(30))?;
            return Ok(report(version, true, false));
        }
        // Serving the old port (after `--port`) or a first start that died: start again.
        stop(project, pid)?;
    }
    if !ports::is_free(identity.port) {
        let dirs = crate::dirs::Dirs::from_env()?;
        return Err(ports::taken(&dirs, identity.port));
    }
    let socket = socket_dir(project, user.as_ref())?;
    // A killed server's socket would pass for the new one's.
    let _ = std::fs::remove_file(socket.join("mysqld.sock"));
    if !marked {
        if data.exists() {
            // A first start that died half-way: nothing of the user's is in it yet.
            let aside = state_dir(project).join("mariadb.interrupted");
            if aside.exists() {
                fs_err::remove_dir_all(&aside)?;
            }
            fs_err::rename(&data, &aside)?;
            fs_err::remove_dir_all(&aside)?;
        }
        install_db(project, config, &data, user.as_ref())?;
        let init = init_file(project);
        write_private(&init, init_sql(identity).as_bytes())?;
        if let Some(u) = &user {
            std::os::unix::fs::chown(&init, Some(u.uid), Some(u.gid))?;
        }
    }
    let mut child = spawn(
        project,
        &server,
        &data,
        &socket,
        user.as_ref(),
        identity,
        !marked,
    )?;
    let ready = wait_ready(&clients, Some(&socket), Some(&mut child), START_TIMEOUT);
    let _ = std::fs::remove_file(init_file(project));
    let version = ready?;
    if !marked {
        crate::python::catalog::write_atomic(
            &marker(project),
            format!(
                "MariaDB {version} initialized by pyenvx for {}\n",
                project.root.display()
            )
            .as_bytes(),
        )?;
    }
    Ok(report(version, false, !marked))
}

/// `mariadb-install-db` into a new `data` (0700, the server's user's).
fn install_db(
    project: &Project,
    config: &DbConfig,
    data: &Path,
    user: Option<&ServerUser>,
) -> Result<()> {
    let tool = find_tool(config, "mariadb-install-db")?;
    let tmp = private_tmp(project, user)?;
    fs_err::create_dir_all(data)?;
    fs_err::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
    if let Some(u) = user {
        std::os::unix::fs::chown(data, Some(u.uid), Some(u.gid))
            .with_context(|| format!("cannot hand {} to {}", data.display(), u.name))?;
    }
    let mut cmd = Command::new(&tool);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
        ])
        .args(INNODB)
        .env("TMPDIR", &tmp)
        .current_dir(state_dir(project))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = user {
        u.apply(&mut cmd);
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "mariadb-install-db failed ({}):\n{}",
            out.status,
            super::native::last_lines(
                &format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                12
            )
        ));
    }
    Ok(())
}

/// [`tmp_dir`], 0700 and the server's user's.
fn private_tmp(project: &Project, user: Option<&ServerUser>) -> Result<PathBuf> {
    let dir = tmp_dir(project);
    super::native::ensure_private_dir(&dir, user)?;
    Ok(dir)
}

/// A server we just launched, and where its log output for this start begins.
struct ServerChild {
    child: Child,
    log_path: PathBuf,
    log_offset: u64,
}

impl ServerChild {
    fn log_since_start(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.seek(SeekFrom::Start(self.log_offset));
            let _ = f.take(64 * 1024).read_to_string(&mut text);
        }
        text
    }
}

fn spawn(
    project: &Project,
    server: &Path,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    first: bool,
) -> Result<ServerChild> {
    let log_path = log_path(project);
    if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&log_path, log_path.with_extension("log.1"));
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let tmp = private_tmp(project, user)?;
    let mut cmd = Command::new(server);
    // `--no-defaults` must come first.
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={}", identity.port))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", socket.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", pid_path(project).display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args([
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ])
        .args(INNODB);
    if first {
        cmd.arg(format!("--init-file={}", init_file(project).display()));
    }
    cmd.current_dir(data)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for pyenvx is not for it.
        .process_group(0);
    if let Some(u) = user {
        u.apply(&mut cmd);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    Ok(ServerChild {
        child,
        log_path,
        log_offset,
    })
}

/// Poll logins until one succeeds; returns the server's version. With `child`, a server that
/// exits meanwhile fails the wait at once, with its log.
fn wait_ready(
    clients: &Clients,
    socket: Option<&Path>,
    mut child: Option<&mut ServerChild>,
    timeout: Duration,
) -> Result<String> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        if let Some(c) = child.as_deref_mut() {
            if let Some(status) = c.child.try_wait()? {
                let log = c.log_since_start();
                let detail = super::native::last_lines(&log, 12);
                if log.contains("Address already in use") {
                    return Err(user_error!(
                        hint = "stop that program, or move this project's database with `pyenvx db up --port N`",
                        "port {} was taken by another program while MariaDB started:\n{detail}",
                        clients.identity.port
                    ));
                }
                return Err(anyhow::anyhow!(
                    "MariaDB exited during start ({status}):\n{detail}"
                ));
            }
        }
        // A client login only once the server made its socket (it opens its TCP port at the
        // same moment): a bare TCP probe would leave an "aborted connection" in its log.
        if socket.is_none_or(|s| s.join("mysqld.sock").exists()) {
            match clients.server_version() {
                Ok(v) => return Ok(v),
                // Access denied is final; anything else (still starting) is tried again.
                Err(e) if format!("{e:#}").contains("Access denied") => {
                    return Err(e.context(format!(
                        "MariaDB on port {} refused the project's credentials",
                        clients.identity.port
                    )))
                }
                Err(_) => {}
            }
        }
        if started.elapsed() > timeout {
            let log = child
                .as_deref()
                .map(|c| super::native::last_lines(&c.log_since_start(), 12))
                .unwrap_or_default();
            return Err(anyhow::anyhow!(
                "MariaDB did not accept connections within {} s\n{log}",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// SIGTERM (MariaDB's clean shutdown: InnoDB flushes and exits) and wait until it is gone.
fn stop(project: &Project, pid: u32) -> Result<()> {
    // SAFETY: kill(2) with a pid we just checked is this project's server.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    while running(project) == Some(pid) {
        if started.elapsed() > STOP_TIMEOUT {
            return Err(anyhow::anyhow!(
                "mariadbd (pid {pid}) did not stop within {} s; see {}",
                STOP_TIMEOUT.as_secs(),
                log_path(project).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn down(project: &Project) -> Result<bool> {
    let Some(pid) = running(project) else {
        return Ok(false);
    };
    stop(project, pid)?;
    remove_socket_dir(project);
    Ok(true)
}

fn destroy(project: &Project) -> Result<()> {
    down(project)?;
    let _ = std::fs::remove_file(marker(project));
    let _ = std::fs::remove_file(init_file(project));
    for dir in [
        data_dir(project),
        state_dir(project).join("mariadb.interrupted"),
        tmp_dir(project),
    ] {
        if dir.exists() {
            fs_err::remove_dir_all(dir)?;
        }
    }
    remove_socket_dir(project);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Where the client programs run.
enum Runner<'a> {
    /// The machine's, logged in through `client.cnf`.
    Native {
        config: &'a DbConfig,
        cnf: PathBuf,
        /// The data directory, for copies of table files.
        data: PathBuf,
    },
    /// The container's own (`<engine> exec`), over its loopback, the password passed through
    /// the engine CLI's environment: the host needs no MariaDB client.
    Exec { engine: PathBuf, container: String },
}

/// The MariaDB client programs, logged in as the project.
struct Clients<'a> {
    identity: &'a Identity,
    runner: Runner<'a>,
}

impl<'a> Clients<'a> {
    /// Write `client.cnf` (0600) from the identity: the port may have moved since last time.
    fn new(project: &Project, config: &'a DbConfig, identity: &'a Identity) -> Result<Self> {
        let c = &identity.credentials;
        let cnf = client_cnf(project);
        let text = format!(
            "# Written by pyenvx before each client it runs; edits are lost.\n\
             [client]\nuser={}\npassword={}\nhost=127.0.0.1\nport={}\nprotocol=TCP\n\
             default-character-set=utf8mb4\n",
            c.user, c.password, identity.port
        );
        if std::fs::read_to_string(&cnf).ok().as_deref() != Some(text.as_str()) {
            write_private(&cnf, text.as_bytes())?;
        }
        Ok(Self {
            identity,
            runner: Runner::Native {
                config,
                cnf,
                data: data_dir(project),
            },
        })
    }

    /// The clients inside `container`.
    fn exec(engine: &super::container::Engine, container: String, identity: &'a Identity) -> Self {
        Self {
            identity,
            runner: Runner::Exec {
                engine: engine.program.clone(),
                container,
            },
        }
    }

    /// `tool`, logged in as the project, ready for more arguments.
    fn command(&self, tool: &str) -> Result<Command> {
        self.command_tty(tool, false)
    }

    fn command_tty(&self, tool: &str, tty: bool) -> Result<Command> {
        match &self.runner {
            Runner::Native { config, cnf, .. } => {
                let mut cmd = Command::new(find_tool(config, tool)?);
                // The option must come first.
                cmd.arg(format!("--defaults-file={}", cnf.display()));
                Ok(cmd)
            }
            Runner::Exec { engine, container } => {
                let mut cmd = Command::new(engine);
                cmd.args(["exec", "--interactive"]);
                if tty {
                    cmd.arg("--tty");
                }
                cmd.args(["--env", "MYSQL_PWD"])
                    .env("MYSQL_PWD", &self.identity.credentials.password)
                    .arg(container)
                    .arg(tool)
                    .arg(format!("--user={}", self.identity.credentials.user))
                    .args([
                        "--host=127.0.0.1",
                        "--port=3306",
                        "--protocol=TCP",
                        "--default-character-set=utf8mb4",
                    ]);
                Ok(cmd)
            }
        }
    }

    /// `db shell`: the `mariadb` client in the project's database.
    fn shell(&self, args: &[OsString]) -> Result<Command> {
        use std::io::IsTerminal;
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let mut cmd = self.command_tty("mariadb", tty)?;
        cmd.arg(format!("--database={}", self.identity.credentials.database))
            .args(args);
        Ok(cmd)
    }

    /// `mariadb-dump` of the project's database into the dump's temporary file.
    fn dump(&self, target: &DumpTarget) -> Result<()> {
        let mut cmd = self.command("mariadb-dump")?;
        // One consistent read of InnoDB tables without locking out the application.
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
        ])
        .arg(&self.identity.credentials.database)
        .stdin(Stdio::null())
        .stdout(Stdio::from(target.file()?));
        run(cmd, "mariadb-dump", transfer::dump_failed).map(drop)
    }

    /// A SQL script, not empty; and whether the project's database holds tables.
    fn check_restore(&self, file: &Path, shown: &Path) -> Result<RestorePlan> {
        let kind = transfer::check_file_of(file, shown, "mariadb-dump")?;
        if kind != DumpKind::Sql || has_nul(file)? {
            return Err(user_error!(
                hint = "give a SQL file written by `pyenvx db dump` or mariadb-dump; the database was not touched",
                "{} is not a SQL script (a PostgreSQL archive?): MariaDB loads SQL dumps only",
                shown.display()
            ));
        }
        let tables = self.query(&format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {}",
            literal(&self.identity.credentials.database)
        ))?;
        Ok(RestorePlan {
            file: file.to_path_buf(),
            kind,
            replaces_data: tables.trim() != "0",
        })
    }

    /// Run `sql` (in the project's database); returns the rows, tab-separated.
    fn query(&self, sql: &str) -> Result<String> {
        let mut cmd = self.command("mariadb")?;
        cmd.args(["--batch", "--skip-column-names", "--execute", sql])
            .arg(format!("--database={}", self.identity.credentials.database))
            .stdin(Stdio::null());
        run(cmd, "mariadb", |what, status, detail| {
            anyhow::anyhow!("{what} failed ({status}): {}", detail.trim())
        })
    }

    fn server_version(&self) -> Result<String> {
        Ok(self.query("SELECT VERSION()")?.trim().to_string())
    }
}

/// Run a client to completion; returns its stdout, or the error `fail` makes of (what, status,
/// stderr).
fn run(
    mut cmd: Command,
    what: &str,
    fail: fn(&str, std::process::ExitStatus, &str) -> anyhow::Error,
) -> Result<String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        return Err(fail(
            what,
            out.status,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A NUL byte in the first 64 KiB: a binary file, not a SQL script.
fn has_nul(file: &Path) -> Result<bool> {
    use std::io::Read;
    let mut buf = Vec::new();
    fs_err::File::open(file)?
        .take(64 * 1024)
        .read_to_end(&mut buf)?;
    Ok(buf.contains(&0))
}

/// Objects `RENAME TABLE` cannot carry between databases, in `db`.
fn unmovable(clients: &Clients, db: &str) -> Result<u64> {
    let db = literal(db);
    let count = clients.query(&format!(
        "SELECT (SELECT COUNT(*) FROM information_schema.views WHERE table_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = {db})"
    ))?;
    Ok(count.trim().parse().unwrap_or(0))
}

fn tables(clients: &Clients, db: &str) -> Result<Vec<String>> {
    Ok(clients
        .query(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
             AND table_type = 'BASE TABLE' ORDER BY table_name",
            literal(db)
        ))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Drop what an interrupted restore left and make an empty scratch database; its name.
fn fresh_scratch(clients: &Clients) -> Result<String> {
    let db = &clients.identity.credentials.database;
    let scratch = transfer::scratch_name(db);
    clients.query(&format!(
        "DROP DATABASE IF EXISTS {s}; DROP DATABASE IF EXISTS {o}; \
         CREATE DATABASE {s} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        s = ident(&scratch),
        o = ident(&transfer::old_name(db))
    ))?;
    Ok(scratch)
}

fn drop_database(clients: &Clients, name: &str) -> Result<()> {
    clients
        .query(&format!("DROP DATABASE IF EXISTS {}", ident(name)))
        .map(drop)
}

/// Load `file` into a scratch database, then swap it in.
fn restore(clients: &Clients, file: &Path) -> Result<()> {
    let scratch = fresh_scratch(clients)?;
    let mut load = clients.command("mariadb")?;
    load.arg(format!("--database={scratch}"))
        .stdin(Stdio::from(
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
        ))
        .stdout(Stdio::null());
    if let Err(e) = run(load, "mariadb", transfer::load_failed) {
        let _ = drop_database(clients, &scratch);
        return Err(e);
    }
    swap_in(clients)
}

/// Put the filled scratch database's tables in place of the project's, in one `RENAME TABLE`
/// (every table moves, or none does), then drop what is left.
fn swap_in(clients: &Clients) -> Result<()> {
    let db = &clients.identity.credentials.database;
    let scratch = transfer::scratch_name(db);
    let old = transfer::old_name(db);
    let (theirs, ours) = (unmovable(clients, &scratch)?, unmovable(clients, db)?);
    if theirs + ours > 0 {
        let _ = drop_database(clients, &scratch);
        return Err(user_error!(
            hint =
                "the database was not changed; load a dump yourself with `pyenvx db shell < FILE`",
            "the new data or the database holds views, triggers, routines or events, which pyenvx \
             cannot swap in safely on MariaDB"
        ));
    }
    let mut moves = Vec::new();
    for t in tables(clients, db)? {
        moves.push(format!(
            "{}.{} TO {}.{}",
            ident(db),
            ident(&t),
            ident(&old),
            ident(&t)
        ));
    }
    for t in tables(clients, &scratch)? {
        moves.push(format!(
            "{}.{} TO {}.{}",
            ident(&scratch),
            ident(&t),
            ident(db),
            ident(&t)
        ));
    }
    if !moves.is_empty() {
        // A session holding a table open makes the rename wait; give up after a while instead
        // of hanging.
        let swap = format!(
            "CREATE DATABASE IF NOT EXISTS {db_} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; \
             CREATE DATABASE {o}; SET SESSION lock_wait_timeout = 60; RENAME TABLE {}",
            moves.join(", "),
            db_ = ident(db),
            o = ident(&old)
        );
        if let Err(e) = clients.query(&swap) {
            let _ = drop_database(clients, &scratch);
            let _ = drop_database(clients, &old);
            return Err(e.context(format!(
                "cannot put the new tables in place of {db}'s (it is unchanged)"
            )));
        }
    }
    clients
        .query(&format!(
            "DROP DATABASE IF EXISTS {}; DROP DATABASE IF EXISTS {}",
            ident(&old),
            ident(&scratch)
        ))
        .with_context(|| format!("done, but {old} or {scratch} is still there"))?;
    Ok(())
}

/// Undo the client's batch escaping of `\n`, `\t`, `\\` and `\0`.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Copy every table of `from` into the new database `to`, inside the server: each table's own
/// definition (`SHOW CREATE TABLE`: indexes, foreign keys, the auto-increment counter), then
/// the data. Natively the data is the tables' own files, moved as transportable tablespaces
/// (`FLUSH TABLES … FOR EXPORT`, a file copy, `IMPORT TABLESPACE`): no row is read or written
/// one by one. Where that cannot be (a container, a table kind InnoDB cannot export), every
/// row is copied in one transaction reading one consistent point in time. No dump either way.
fn copy_database(clients: &Clients, from: &str, to: &str) -> Result<()> {
    if unmovable(clients, from)? > 0 {
        return Err(user_error!(
            hint = "`pyenvx db dump FILE` keeps a copy of it",
            "the database holds views, triggers, routines or events, which MariaDB snapshots do not copy yet"
        ));
    }
    let names = tables(clients, from)?;
    create_like(clients, from, to, &names)?;
    if names.is_empty() {
        return Ok(());
    }
    if let Runner::Native { data, .. } = &clients.runner {
        if copy_tablespaces(clients, data, from, to, &names).is_ok() {
            return Ok(());
        }
        // Start again the slow way, from empty tables.
        drop_database(clients, to)?;
        create_like(clients, from, to, &names)?;
    }
    copy_rows(clients, from, to, &names)
}

/// `CREATE DATABASE to` with every table of `from` as `SHOW CREATE TABLE` gives it.
fn create_like(clients: &Clients, from: &str, to: &str, names: &[String]) -> Result<()> {
    let mut ddl = format!(
        "SET FOREIGN_KEY_CHECKS = 0; \
         CREATE DATABASE {to_} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE {to_};\n",
        to_ = ident(to)
    );
    for t in names {
        let row = clients.query(&format!("SHOW CREATE TABLE {}.{}", ident(from), ident(t)))?;
        let create = row
            .trim_end_matches('\n')
            .split_once('\t')
            .map(|(_, c)| unescape(c))
            .with_context(|| format!("SHOW CREATE TABLE {t} answered {row:?}"))?;
        ddl.push_str(&create);
        ddl.push_str(";\n");
    }
    clients.query(&ddl).map(drop)
}

/// Every row, in one transaction with a consistent snapshot; generated columns compute
/// themselves.
fn copy_rows(clients: &Clients, from: &str, to: &str, names: &[String]) -> Result<()> {
    let columns = clients.query(&format!(
        "SELECT table_name, GROUP_CONCAT(CONCAT('`', REPLACE(column_name, '`', '``'), '`') \
                ORDER BY ordinal_position SEPARATOR ', ') \
         FROM information_schema.columns WHERE table_schema = {} AND extra NOT LIKE '%GENERATED%' \
         GROUP BY table_name",
        literal(from)
    ))?;
    let mut copy = String::from(
        "SET FOREIGN_KEY_CHECKS = 0; SET UNIQUE_CHECKS = 0; \
         START TRANSACTION WITH CONSISTENT SNAPSHOT;\n",
    );
    for line in columns.lines() {
        let Some((table, cols)) = line.split_once('\t') else {
            continue;
        };
        let table = unescape(table);
        if !names.contains(&table) {
            continue; // a view's columns
        }
        copy.push_str(&format!(
            "INSERT INTO {to_}.{t} ({cols}) SELECT {cols} FROM {from_}.{t};\n",
            to_ = ident(to),
            from_ = ident(from),
            t = ident(&table),
        ));
    }
    copy.push_str("COMMIT;");
    clients.query(&copy).map(drop)
}

/// A database or table name as MariaDB names its directory or file: letters, digits and `_`
/// as they are, any other character as `@` and four hex digits.
fn filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("@{:04x}", c as u32)
            }
        })
        .collect()
}

/// Move the data of `names` from `from` to `to` (whose tables exist, empty) as files: the
/// target tablespaces are discarded, `FLUSH TABLES … FOR EXPORT` holds the sources still and
/// consistent while their `.ibd` and `.cfg` files are copied (reflinked where the file system
/// can), then the copies are imported.
fn copy_tablespaces(
    clients: &Clients,
    data: &Path,
    from: &str,
    to: &str,
    names: &[String],
) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let each = |verb: &str| -> String {
        names
            .iter()
            .map(|t| format!("ALTER TABLE {}.{} {verb};\n", ident(to), ident(t)))
            .collect()
    };
    clients.query(&format!(
        "SET FOREIGN_KEY_CHECKS = 0;\n{}",
        each("DISCARD TABLESPACE")
    ))?;
    // One session holds the export lock while the files are copied.
    let mut cmd = clients.command("mariadb")?;
    // Unbuffered: the marker must reach us while the session still holds the lock.
    cmd.args(["--batch", "--skip-column-names", "--unbuffered"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut session = cmd.spawn().context("cannot run mariadb")?;
    let mut input = session.stdin.take().context("no stdin")?;
    let list: Vec<String> = names
        .iter()
        .map(|t| format!("{}.{}", ident(from), ident(t)))
        .collect();
    // A session holding one of the tables would make the flush wait; not for ever.
    writeln!(
        input,
        "SET SESSION lock_wait_timeout = 60; FLUSH TABLES {} FOR EXPORT; SELECT 'pyenvx-exported';",
        list.join(", ")
    )?;
    input.flush()?;
    let mut output = BufReader::new(session.stdout.take().context("no stdout")?);
    let mut line = String::new();
    let exported = loop {
        line.clear();
        if output.read_line(&mut line)? == 0 {
            break false;
        }
        if line.trim() == "pyenvx-exported" {
            break true;
        }
    };
    let copied = exported.then(|| -> Result<()> {
        let user = server_user()?;
        let (src, dst) = (data.join(filename(from)), data.join(filename(to)));
        for t in names {
            for ext in ["ibd", "cfg"] {
                let file = format!("{}.{ext}", filename(t));
                let target = dst.join(&file);
                fs_err::copy(src.join(&file), &target)?;
                if let Some(u) = &user {
                    std::os::unix::fs::chown(&target, Some(u.uid), Some(u.gid))?;
                }
            }
        }
        Ok(())
    });
    let _ = writeln!(input, "UNLOCK TABLES;");
    drop(input);
    let out = session.wait_with_output()?;
    match copied {
        Some(result) => result?,
        None => {
            return Err(anyhow::anyhow!(
                "FLUSH TABLES … FOR EXPORT failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
    clients.query(&format!(
        "SET FOREIGN_KEY_CHECKS = 0;\n{}",
        each("IMPORT TABLESPACE")
    ))?;
    // The server does not know the copied `.cfg` files: left there, they would make its
    // `DROP DATABASE` fail on a directory that is not empty.
    let dst = data.join(filename(to));
    for t in names {
        let _ = std::fs::remove_file(dst.join(format!("{}.cfg", filename(t))));
    }
    Ok(())
}

/// The server's UTC time: the default snapshot name, RFC 3339, microseconds since the epoch.
fn server_clock(clients: &Clients) -> Result<(String, String, i64)> {
    let row = clients.query(
        "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y%m%d-%H%i%s'), \
                DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%sZ'), \
                FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000000)",
    )?;
    let fields: Vec<&str> = row.trim().split('\t').collect();
    match fields[..] {
        [name, created, us] => Ok((name.into(), created.into(), us.parse().unwrap_or(0))),
        _ => Err(anyhow::anyhow!(
            "the server did not say what time it is ({row:?})"
        )),
    }
}

/// `db snapshot` for MariaDB: a copy of the project's database inside the server.
fn snapshot_take(
    clients: &Clients,
    project: &Project,
    backend: BackendKind,
    name: Option<&str>,
) -> Result<Snapshot> {
    let (clock_name, created, created_us) = server_clock(clients)?;
    let name = name.map_or(clock_name, str::to_string);
    snapshot::check_name(&name)?;
    snapshot::check_free(project, &name)?;
    let db = &clients.identity.credentials.database;
    let snap_db = snapshot::database_name(&name);
    // A database without its record is what a killed snapshot leaves: not a snapshot.
    drop_database(clients, &snap_db)?;
    let recorded = (|| -> Result<Snapshot> {
        copy_database(clients, db, &snap_db)
            .with_context(|| format!("cannot copy {db} into a snapshot"))?;
        let size = clients.query(&format!(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables \
             WHERE table_schema = {}",
            literal(&snap_db)
        ))?;
        let major = clients
            .server_version()?
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let snap = Snapshot {
            name: name.clone(),
            created,
            created_us,
            size_bytes: size.trim().parse().unwrap_or(0),
            major,
            backend,
            engine: DbEngine::Mariadb,
            database: snap_db.clone(),
        };
        snapshot::record(project, &snap)?;
        Ok(snap)
    })();
    if recorded.is_err() {
        let _ = drop_database(clients, &snap_db);
    }
    recorded
}

/// Copy the snapshot into the scratch database and swap it in; the snapshot stays.
fn snapshot_restore(clients: &Clients, snap: &Snapshot) -> Result<()> {
    let exists = clients.query(&format!(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {}",
        literal(&snap.database)
    ))?;
    if exists.trim() == "0" {
        return Err(user_error!(
            hint = format!(
                "`pyenvx db snapshot rm {}` forgets it; nothing was changed",
                snap.name
            ),
            "snapshot `{}` is gone from the database server (its database {} does not exist)",
            snap.name,
            snap.database
        ));
    }
    // `copy_database` makes the scratch database itself.
    let scratch = fresh_scratch(clients)?;
    drop_database(clients, &scratch)?;
    if let Err(e) = copy_database(clients, &snap.database, &scratch) {
        let _ = drop_database(clients, &scratch);
        return Err(e.context(format!(
            "cannot copy snapshot `{}`; nothing was changed",
            snap.name
        )));
    }
    swap_in(clients)
}

/// Delete the snapshot's database, then its record.
fn snapshot_remove(clients: &Clients, project: &Project, snap: &Snapshot) -> Result<()> {
    drop_database(clients, &snap.database)?;
    fs_err::remove_file(snapshot::record_path(project, &snap.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Credentials;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version(
                "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n"
            ),
            Some((10, "10.11.19".to_string()))
        );
        assert_eq!(parse_version("nonsense"), None);
        assert!(version_matches("10.11", "10.11.19"));
        assert!(version_matches("10", "10.11.19"));
        assert!(!version_matches("11", "10.11.19"));
        assert!(!version_matches("10.1", "10.11.19"));
    }

    #[test]
    fn file_names_and_unescaping() {
        assert_eq!(filename("pyenvx_snapshot_a-1"), "pyenvx_snapshot_a@002d1");
        assert_eq!(filename("Books_2"), "Books_2");
        assert_eq!(unescape("a\\nb\\tc\\\\d\\x"), "a\nb\tc\\d\\x");
    }

    #[test]
    fn quoting_and_first_start_sql() {
        assert_eq!(literal("it's"), "'it\\'s'");
        assert_eq!(ident("a`b"), "`a``b`");
        let id = Identity {
            credentials: Credentials {
                user: "lib".into(),
                password: "pw".into(),
                database: "lib".into(),
            },
            port: 1,
            engine: DbEngine::Mariadb,
        };
        let sql = init_sql(&id);
        assert!(sql.contains("CREATE DATABASE IF NOT EXISTS `lib` CHARACTER SET utf8mb4"));
        assert!(sql.contains("'lib'@'127.0.0.1' IDENTIFIED BY 'pw'"));
        assert!(sql.contains("'lib'@'localhost' IDENTIFIED BY 'pw'"));
    }
}
