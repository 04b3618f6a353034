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
//!   else every row in one transaction with a consistent snapshot. A restore moves the tables
//!   of the snapshot's ready copy (made the same way by the background work) in with one
//!   `RENAME TABLE`; without a complete ready copy it copies the snapshot into the scratch
//!   database and swaps it in as `db restore` does.
//! * Branches (`db branch`) are refused: MariaDB cannot rename a database, and moving tables
//!   between schemas would carry no views, triggers, routines or events.
//!
//! Its parts: this module runs the native server; [`container`] the container backend;
//! [`clients`] the client programs and what is done through them (dump, the restore's swap,
//! snapshot copies), the same for both backends.

mod clients;
mod container;

pub use container::{container_name, Container};

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::backend::Backend;
use super::config::{BackendKind, DbConfig, DbEngine};
use super::credentials::Identity;
use super::ports;
use super::postgres::{self, ServerUser};
use super::server::ServerChild;
use super::shared::{state_dir, Logs, Status, UpReport};
use super::snapshot::Snapshot;
use super::transfer::{DumpTarget, RestorePlan};
use crate::fs::write_private;
use crate::process::{Pace, Signal};
use crate::project::Project;
use crate::user_error;
use clients::{
    ident, literal, restore, snapshot_prepare, snapshot_remove, snapshot_restore, snapshot_take,
    Clients,
};

const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

const INSTALL_HINT: &str = "install it (Debian and Ubuntu: `apt-get install mariadb-server`; Homebrew: `brew install mariadb`), \
                            or set `bin_dir` in [services.db] to the directory holding `mariadbd`";

/// The native MariaDB backend of a project's `[services.db]`.
pub struct Native<'a> {
    pub settings: &'a crate::settings::Settings,
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
        up(self.settings, self.project, self.config, identity)
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

    fn snapshot_restore(
        &self,
        identity: &Identity,
        snap: &Snapshot,
    ) -> Result<crate::services::snapshot::Restored> {
        snapshot_restore(
            &Clients::new(self.project, self.config, identity)?,
            self.project,
            snap,
        )
    }

    fn snapshot_prepare(&self, identity: &Identity) -> Result<()> {
        let clients = Clients::new(self.project, self.config, identity)?;
        snapshot_prepare(&clients, self.project, BackendKind::Native)
    }

    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        let clients = Clients::new(self.project, self.config, identity)?;
        snapshot_remove(&clients, self.project, snap)
    }
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
    let (pid, _) = crate::process::from_pid_file(&pid_path(project))?;
    let mut want = std::ffi::OsString::from("--datadir=");
    want.push(data_dir(project));
    crate::process::runs_with(pid, &[&want]).then_some(pid)
}

/// The port a running server was started with.
fn running_port(pid: u32) -> Option<u16> {
    crate::process::args(pid)?
        .iter()
        .find_map(|a| a.to_str()?.strip_prefix("--port=")?.parse().ok())
}

/// A short private directory (0700, the server's user's) for the server's Unix socket: socket
/// paths are limited to ~107 bytes, project paths are not.
fn socket_dir(project: &Project, user: Option<&ServerUser>) -> Result<PathBuf> {
    super::server::private_socket_dir(project, user, "my", "mysqld.sock.lock", "MariaDB")
}

fn remove_socket_dir(project: &Project) {
    let user = server_user().ok().flatten();
    super::server::remove_socket_dirs(project, user.as_ref(), "my");
}

/// The settings every start passes; install-db gets the same InnoDB sizes so the files it makes
/// fit them. The buffer pool is MariaDB's default (memory is taken as pages are used; 32 MiB
/// made bulk copies a third slower); the redo log a third of the default, since every project
/// keeps one on disk.
const INNODB: [&str; 2] = [
    "--innodb-buffer-pool-size=128M",
    "--innodb-log-file-size=32M",
];

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

fn up(
    settings: &crate::settings::Settings,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
) -> Result<UpReport> {
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
    crate::fs::owned_dirs(&project.root, &state_dir(project))?;
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
        return Err(ports::taken(settings, identity.port));
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
        crate::fs::write_atomic(
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
    super::server::give(data, user)?;
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
        .current_dir(state_dir(project));
    let out = super::server::output_as(cmd, user)?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "mariadb-install-db failed ({}):\n{}",
            out.status,
            super::server::last_lines(
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
    super::server::ensure_private_dir(&dir, user)?;
    Ok(dir)
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
    cmd.current_dir(data).env("TMPDIR", &tmp);
    ServerChild::launch(cmd, log_path(project), user)
}

/// Poll logins until one succeeds; returns the server's version. With `child`, a server that
/// exits meanwhile fails the wait at once, with its log.
fn wait_ready(
    clients: &Clients,
    socket: Option<&Path>,
    mut child: Option<&mut ServerChild>,
    timeout: Duration,
) -> Result<String> {
    let pace = Pace::backoff(Duration::from_millis(10), Duration::from_millis(100));
    let ready = crate::process::wait_until(timeout, pace, || {
        if let Some(c) = child.as_deref_mut() {
            c.check_alive("MariaDB", clients.identity.port, |log| {
                log.contains("Address already in use")
            })?;
        }
        // A client login only once the server made its socket (it opens its TCP port at the
        // same moment): a bare TCP probe would leave an "aborted connection" in its log.
        if !socket.is_none_or(|s| s.join("mysqld.sock").exists()) {
            return Ok(None);
        }
        match clients.server_version() {
            Ok(v) => Ok(Some(v)),
            // Access denied is final; anything else (still starting) is tried again.
            Err(e) if format!("{e:#}").contains("Access denied") => Err(e.context(format!(
                "MariaDB on port {} refused the project's credentials",
                clients.identity.port
            ))),
            Err(_) => Ok(None),
        }
    })?;
    ready.ok_or_else(|| ServerChild::not_ready(child.as_deref(), "MariaDB", timeout))
}

/// SIGTERM (MariaDB's clean shutdown: InnoDB flushes and exits) and wait until it is gone.
fn stop(project: &Project, pid: u32) -> Result<()> {
    crate::process::signal(pid, Signal::Terminate)
        .with_context(|| format!("cannot stop mariadbd (pid {pid})"))?;
    let stopped =
        crate::process::wait_for(STOP_TIMEOUT, Pace::every(Duration::from_millis(20)), || {
            running(project) != Some(pid)
        });
    if !stopped {
        return Err(anyhow::anyhow!(
            "mariadbd (pid {pid}) did not stop within {} s; see {}",
            STOP_TIMEOUT.as_secs(),
            log_path(project).display()
        ));
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
