//! The native backend: a `postgres` process from real PostgreSQL binaries, its data in the
//! project (`.pyenvx/services/db/pg<major>/`), no daemon besides the server itself.
//!
//! Decisions and why:
//! * The server is started directly (not through `pg_ctl start`), detached into its own process
//!   group with its output appended to `postgres.log`. Settings that differ per project (port,
//!   listen address, socket directory) go on its command line, so nothing in the data directory
//!   needs rewriting when the port moves, and no shell quoting is involved.
//! * Ready means a login with the project's credentials succeeded ([`super::pgwire`]), not a
//!   sleep, a log line or `pg_isready`.
//! * First start: `initdb` (scram-sha-256, the project's role as superuser, `--no-sync`: an
//!   empty cluster is cheap to recreate), start, `CREATE DATABASE`, and only then the
//!   `pg<major>.initialized` marker. A data directory without the marker is a first start that
//!   died half-way: once no process works in it or names it (the initdb of a killed pyenvx goes
//!   on writing by path), it is moved aside, deleted and made again, so a `kill -9` at any moment
//!   heals on the next `up`. One with the marker is never deleted by `up`. After that, crash
//!   safety is PostgreSQL's own (WAL): a killed server recovers on start and keeps every
//!   committed row.
//! * A data directory of another major is refused (never started, never deleted): starting it
//!   with the wrong binaries fails anyway, and deleting it would lose the user's data.
//! * `down` is `pg_ctl stop -m fast`: sessions are cut, the shutdown checkpoint is written.
//!
//! What any native server is to pyenvx, whatever its engine, is in [`super::server`].

use std::fs::OpenOptions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::backend::Backend;
use super::config::{BackendKind, DbConfig, DbEngine};
use super::credentials::Identity;
use super::pgwire::{ConnectError, SqlState};
use super::ports;
use super::postgres::{self, Binaries, DumpKind, ServerUser};
use super::server::{give, output_as, private_socket_dir, remove_socket_dirs, ServerChild};
use super::shared::{state_dir, Logs, Status, UpReport};
use super::snapshot::{self, Snapshot};
use super::transfer::{self, DumpTarget, RestorePlan};
use crate::dirs::Dirs;
use crate::process::Pace;
use crate::project::Env;
use crate::project::Project;
use crate::user_error;

mod recovery;
pub use recovery::*;

/// How long a start may take before we give up (crash recovery of a big database can be slow).
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The native backend of a project's `[services.db]`.
pub struct Native<'a> {
    pub env: &'a Env<'a>,
    pub project: &'a Project,
    pub config: &'a DbConfig,
}

impl Backend for Native<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }

    fn is_running(&self) -> Result<bool> {
        Ok(running(self.project, self.config)?.is_some())
    }

    fn up(&self, identity: &Identity) -> Result<UpReport> {
        up(self.env, self.project, self.config, identity)
    }

    fn down(&self) -> Result<bool> {
        down(&self.env.settings.dirs, self.project, self.config)
    }

    fn destroy(&self) -> Result<()> {
        destroy(&self.env.settings.dirs, self.project, self.config)
    }

    fn status(&self, identity: &Identity) -> Result<Status> {
        status(self.project, self.config, identity)
    }

    fn logs(&self, _follow: bool) -> Result<Logs> {
        Ok(Logs::File(log_path(self.project)))
    }

    fn shell(&self, identity: &Identity, args: &[std::ffi::OsString]) -> Result<Command> {
        psql(self.env, self.project, self.config, identity, args)
    }

    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()> {
        dump(self.env, self.project, self.config, identity, target)
    }

    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan> {
        transfer::pg_check_restore(identity, file, shown, |_| {
            check_archive(self.env, self.project, self.config, file, shown)
        })
    }

    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()> {
        transfer::pg_restore(identity, self.config.major, |database| {
            load(
                self.env,
                self.project,
                self.config,
                identity,
                &plan.file,
                plan.kind,
                database,
            )
        })
    }

    fn snapshot_take(&self, identity: &Identity, name: Option<&str>) -> Result<Snapshot> {
        snapshot::take(self.project, identity, self.config.major, self.kind(), name)
    }

    fn snapshot_restore(&self, identity: &Identity, snap: &Snapshot) -> Result<snapshot::Restored> {
        snapshot::restore(self.project, identity, snap)
    }

    fn snapshot_prepare(&self, identity: &Identity) -> Result<()> {
        snapshot::prepare(self.project, identity, self.config.major, self.kind())
    }

    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        snapshot::remove(self.project, identity, snap)
    }
}

pub fn data_dir(project: &Project, major: u32) -> PathBuf {
    state_dir(project).join(format!("pg{major}"))
}

pub(super) fn marker(project: &Project, major: u32) -> PathBuf {
    state_dir(project).join(format!("pg{major}.initialized"))
}

pub fn log_path(project: &Project) -> PathBuf {
    state_dir(project).join("postgres.log")
}

/// Refuse data directories this major's binaries must not touch.
fn check_majors(project: &Project, major: u32) -> Result<()> {
    let dir = state_dir(project);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(other) = name.strip_prefix("pg").and_then(|m| m.parse::<u32>().ok()) else {
            continue;
        };
        if !e.path().is_dir() {
            continue;
        }
        let actual = std::fs::read_to_string(e.path().join("PG_VERSION"))
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        if other != major || actual.is_some_and(|a| a != major) {
            let found = actual.unwrap_or(other);
            return Err(user_error!(
                hint = if major > found {
                    format!(
                        "keep using it with `version = \"{found}\"` in [services.db]; to move the data to PostgreSQL {major}, \
                         `pyenvx db upgrade {major}` with version {found}"
                    )
                } else {
                    format!(
                        "keep using it with `version = \"{found}\"` in [services.db]; to move the data to PostgreSQL {major}, \
                         `pyenvx db dump FILE` with version {found}, then `pyenvx db reset --yes` (deletes it) and \
                         `pyenvx db restore FILE` with version {major}"
                    )
                },
                "{} holds PostgreSQL {found} data, but the project asks for PostgreSQL {major}; \
                 pyenvx neither starts nor deletes it",
                e.path().display()
            ));
        }
    }
    Ok(())
}

/// A short directory for the server's Unix socket, owned by the server's user, mode 0700.
pub(super) fn socket_dir(project: &Project, user: Option<&ServerUser>) -> Result<PathBuf> {
    private_socket_dir(project, user, "pg", ".s.PGSQL.65535.lock", "PostgreSQL")
}

/// Start (initializing on first use) and wait until the project's database accepts a login.
fn up(env: &Env, project: &Project, config: &DbConfig, identity: &Identity) -> Result<UpReport> {
    let major = config.major;
    check_majors(project, major)?;
    let bins = postgres::binaries(env, project, major, config.bin_dir.as_deref())?;
    let user = postgres::server_user()?;
    let data = data_dir(project, major);
    if let Some(u) = &user {
        postgres::check_reachable(u, &state_dir(project))?;
        postgres::check_reachable(u, &bins.bin_dir)?;
    }
    let report = |server_version: String, already_running: bool, initialized: bool| UpReport {
        engine: DbEngine::Postgres,
        backend: BackendKind::Native,
        server_version,
        port: identity.port,
        already_running,
        initialized,
        source: bins.source.clone(),
    };

    let marked = marker(project, major).exists();
    if marked && data.exists() && !data.join("PG_VERSION").exists() {
        // The marker says a cluster was made here: whatever happened to it, it is not ours to
        // delete.
        return Err(user_error!(
            hint = format!(
                "move {} away to start with an empty database, or `pyenvx db reset --yes` to delete it",
                data.display()
            ),
            "{} was initialized by pyenvx but holds no PostgreSQL cluster (no PG_VERSION); \
             pyenvx neither starts nor deletes it",
            data.display()
        ));
    }
    let initialized_before = marked && data.join("PG_VERSION").exists();
    if let Some(pid) = running(project, config)? {
        if pid.port == Some(identity.port) && initialized_before {
            let version = wait_ready(identity, None, None, Duration::from_secs(30))?;
            return Ok(report(version, true, false));
        }
        // Serving the old port (after `--port`) or a first start that died: start again.
        stop(&bins, &data, user.as_ref(), "fast")?;
    }
    if !ports::is_free(identity.port) {
        return Err(ports::taken(env.settings, identity.port));
    }
    crate::fs::owned_dirs(&project.root, &state_dir(project))?;
    let socket = socket_dir(project, user.as_ref())?;
    if data.join("postmaster.pid").exists() {
        clear_after_crash(&data, &socket)?;
    }
    if !initialized_before {
        let _ = fs_err::remove_file(marker(project, major));
        if data.exists() {
            set_aside_interrupted(project, major, &data)?;
        }
        initdb(&bins, &data, &socket, user.as_ref(), identity)?;
    }
    let mut child = spawn(&bins, project, &data, &socket, user.as_ref(), identity.port)?;
    let first_db = (!initialized_before).then_some("postgres");
    let version = match wait_ready(identity, first_db, Some(&mut child), START_TIMEOUT) {
        Ok(v) => v,
        Err(e) if is_stale_start(&e) => retry_stale(
            &bins,
            project,
            &data,
            &socket,
            user.as_ref(),
            identity,
            first_db,
        )?,
        Err(e) => return Err(e),
    };
    if !initialized_before {
        let mut admin = identity
            .connect(Some("postgres"), Duration::from_secs(10))
            .context("cannot connect to the new server")?;
        // Settings that write in `NAME: "postgres"` get initdb's own database.
        let db = &identity.credentials.database;
        let exists = admin
            .query(&format!(
                "SELECT 1 FROM pg_database WHERE datname = '{}'",
                db.replace('\'', "''")
            ))
            .context("cannot list the server's databases")?;
        if exists.is_empty() {
            admin
                .query(&format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")))
                .context("cannot create the project's database")?;
        }
        drop(admin);
        crate::fs::write_atomic(
            &marker(project, major),
            format!(
                "PostgreSQL {} initialized by pyenvx for {}\n",
                bins.version,
                project.root.display()
            )
            .as_bytes(),
        )?;
    }
    Ok(report(version, false, !initialized_before))
}

/// The project's first cluster: UTF-8, C locale.
fn initdb(
    bins: &Binaries,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
) -> Result<()> {
    let mut options = ["-E", "UTF8", "--locale=C"].map(String::from).to_vec();
    if bins.major >= 14 {
        options.push("--no-instructions".into());
    }
    init_cluster(bins, data, socket, user, identity, &options, "initdb")
}

/// `initdb` of a new cluster in `data` (made here, 0700, the server's user's) with the project's
/// user as its superuser; the password reaches initdb through a file in `pw_dir` only the
/// server's user can read, deleted after. `options` are initdb's others (encoding, locale, …);
/// `what` names the run in its error.
pub(super) fn init_cluster(
    bins: &Binaries,
    data: &Path,
    pw_dir: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    options: &[String],
    what: &str,
) -> Result<()> {
    fs_err::create_dir(data)?;
    fs_err::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
    give(data, user)?;
    let pwfile = pw_dir.join("initdb-password");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&pwfile);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .with_context(|| format!("cannot create {}", pwfile.display()))?;
        writeln!(f, "{}", identity.credentials.password)?;
    }
    give(&pwfile, user)?;
    let mut cmd = bins.command("initdb");
    cmd.arg("-D")
        .arg(data)
        .arg("-U")
        .arg(&identity.credentials.user)
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["-A", "scram-sha-256", "--no-sync"])
        .args(options)
        .current_dir("/")
        .env_remove("PGDATA");
    let out = output_as(cmd, user);
    let _ = std::fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Launch the server in the background, its output appended to `postgres.log`.
pub(super) fn spawn(
    bins: &Binaries,
    project: &Project,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    port: u16,
) -> Result<ServerChild> {
    spawn_with(bins, project, data, socket, user, port, false)
}

/// [`spawn`], `tied` for a server that lives only while this pyenvx does (`db upgrade`'s
/// check of the new cluster): a kill of pyenvx stops it too.
pub(super) fn spawn_with(
    bins: &Binaries,
    project: &Project,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    port: u16,
    tied: bool,
) -> Result<ServerChild> {
    let mut cmd = bins.command("postgres");
    cmd.arg("-D")
        .arg(data)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", &format!("port={port}")])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", socket.display()));
    if bins.major >= 14 {
        // After a crash PostgreSQL first flushes the whole data directory, file by file (seconds
        // on a slow disk); one syncfs() of the file system does the same job at once.
        cmd.args(["-c", "recovery_init_sync_method=syncfs"]);
    }
    cmd.current_dir("/").env_remove("PGDATA");
    if tied {
        // Set after the switch to the server's user, which would clear it.
        crate::children::die_with_pyenvx(&mut cmd);
    }
    ServerChild::launch(cmd, log_path(project), user)
}

/// Poll logins until one succeeds; returns the server's version. With `child`, a server that
/// exits meanwhile fails the wait at once, with its log.
pub(super) fn wait_ready(
    identity: &Identity,
    database: Option<&str>,
    mut child: Option<&mut ServerChild>,
    timeout: Duration,
) -> Result<String> {
    let pace = Pace::backoff(Duration::from_millis(5), Duration::from_millis(50));
    let ready = crate::process::wait_until(timeout, pace, || {
        if let Some(c) = child.as_deref_mut() {
            c.check_alive("PostgreSQL", identity.port, |log| {
                log.contains("could not bind IPv4 address")
                    && log.contains("Address already in use")
            })?;
        }
        match identity.connect(database, Duration::from_secs(2)) {
            Ok(mut conn) => Ok(Some(conn.server_version().unwrap_or_default())),
            Err(e) if e.is_transient() => Ok(None),
            Err(ConnectError::Rejected { code, message }) if code == SqlState::INVALID_CATALOG_NAME => {
                Err(user_error!(
                    hint = "`pyenvx db reset` recreates it (deleting the data), or restore a dump with `pyenvx db restore FILE`",
                    "the server is up but the project's database is missing: {message}"
                ))
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "PostgreSQL on port {} refused the project's credentials",
                identity.port
            ))),
        }
    })?;
    ready.ok_or_else(|| ServerChild::not_ready(child.as_deref(), "PostgreSQL", timeout))
}

/// `pg_ctl stop -m <mode>` as the server's user; a server that is already gone is fine.
pub(super) fn stop(
    bins: &Binaries,
    data: &Path,
    user: Option<&ServerUser>,
    mode: &str,
) -> Result<()> {
    let mut cmd = bins.command("pg_ctl");
    cmd.arg("stop")
        .arg("-D")
        .arg(data)
        .args(["-m", mode, "-w", "-t", "120", "-s"])
        .current_dir("/")
        .env_remove("PGDATA");
    let out = output_as(cmd, user)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || stderr.contains("Is server running?") {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "pg_ctl stop failed ({}): {}",
        out.status,
        stderr.trim()
    ))
}

/// Stop the server if it runs; returns whether it did.
fn down(dirs: &Dirs, project: &Project, config: &DbConfig) -> Result<bool> {
    let Some(_pid) = running(project, config)? else {
        return Ok(false);
    };
    // Stopping needs the same binaries, which are on the machine (they started it).
    let bins = stop_binaries(dirs, project, config)?;
    let user = postgres::server_user()?;
    stop(
        &bins,
        &data_dir(project, config.major),
        user.as_ref(),
        "fast",
    )?;
    remove_socket_dirs(project, user.as_ref(), "pg");
    Ok(true)
}

/// The binaries that run this project's server: from the running process when it runs.
fn stop_binaries(dirs: &Dirs, project: &Project, config: &DbConfig) -> Result<Binaries> {
    let data = data_dir(project, config.major);
    if let Some(pid) = read_pid_file(&data) {
        if let Some(exe) = crate::process::executable(pid.pid) {
            if let Some(bin_dir) = exe.parent() {
                let lib_dir = bin_dir.parent().map(|r| r.join("lib"));
                let relocatable = bin_dir
                    .parent()
                    .is_some_and(|r| r.join("pyenvx-receipt.json").is_file());
                return Ok(Binaries {
                    bin_dir: bin_dir.to_path_buf(),
                    lib_dir: lib_dir.filter(|_| relocatable),
                    version: String::new(),
                    major: config.major,
                    source: bin_dir.display().to_string(),
                });
            }
        }
    }
    // A process we may not inspect: whatever the lookup finds, without downloading.
    postgres::find(dirs, config.major, config.bin_dir.as_deref())?.with_context(|| {
        format!(
            "cannot find the PostgreSQL {} binaries to stop the server with",
            config.major
        )
    })
}

/// Stop the server and delete every data directory of the project (all majors) and its markers.
fn destroy(dirs: &Dirs, project: &Project, config: &DbConfig) -> Result<()> {
    down(dirs, project, config)?;
    let dir = state_dir(project);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let user = postgres::server_user()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("pg") else {
            continue;
        };
        let major = rest
            .trim_end_matches(".initialized")
            .trim_end_matches(".interrupted");
        if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if name.ends_with(".initialized") {
            fs_err::remove_file(e.path())?;
            continue;
        }
        // Another major's server could still run on its directory; never delete under it.
        if let Some(pid) = read_pid_file(&e.path()) {
            if is_our_server(pid.pid, &e.path()) {
                return Err(user_error!(
                    hint = "stop it first (`pyenvx db down` with that version in [services.db])",
                    "a PostgreSQL server still runs on {}",
                    e.path().display()
                ));
            }
        }
        fs_err::remove_dir_all(e.path())?;
    }
    remove_socket_dirs(project, user.as_ref(), "pg");
    Ok(())
}

fn status(project: &Project, config: &DbConfig, identity: &Identity) -> Result<Status> {
    let pid = running(project, config)?;
    let accepting = pid.is_some() && identity.connect(None, Duration::from_secs(2)).is_ok();
    Ok(Status {
        engine: DbEngine::Postgres,
        backend: BackendKind::Native,
        version: config.major,
        running: pid.is_some(),
        accepting_connections: accepting,
        port: identity.port,
        user: identity.credentials.user.clone(),
        database: identity.credentials.database.clone(),
        pid: pid.map(|p| p.pid),
        data: data_dir(project, config.major).display().to_string(),
        container: None,
        initialized: marker(project, config.major).exists(),
    })
}

/// libpq's variables for the project's database, on a client command.
fn client_env(cmd: &mut Command, identity: &Identity) {
    for (k, v) in identity.vars() {
        if k != "DATABASE_URL" {
            cmd.env(k, v);
        }
    }
}

/// Client programs run as the invoking user; the server's binaries serve as its clients.
fn client(env: &Env, project: &Project, config: &DbConfig, name: &str) -> Result<Command> {
    let bins = postgres::binaries(env, project, config.major, config.bin_dir.as_deref())?;
    Ok(bins.command(name))
}

fn psql(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    args: &[std::ffi::OsString],
) -> Result<Command> {
    let mut cmd = client(env, project, config, "psql")?;
    client_env(&mut cmd, identity);
    cmd.args(args);
    Ok(cmd)
}

/// `pg_dump --format=custom` into the dump's temporary file.
fn dump(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    target: &DumpTarget,
) -> Result<()> {
    let mut cmd = client(env, project, config, "pg_dump")?;
    client_env(&mut cmd, identity);
    cmd.args(["--format=custom", "--no-owner"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(target.file()?));
    transfer::run_client(cmd, "pg_dump", transfer::dump_failed).map(drop)
}

/// `pg_restore --list`: the archive's table of contents is readable.
fn check_archive(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    file: &Path,
    shown: &Path,
) -> Result<()> {
    let mut cmd = client(env, project, config, "pg_restore")?;
    let out = cmd
        .arg("--list")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run pg_restore")?;
    if !out.status.success() {
        return Err(transfer::unreadable_archive(
            shown,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(())
}

/// Load `file` into `database` (the restore's scratch database).
fn load(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    file: &Path,
    kind: DumpKind,
    database: &str,
) -> Result<()> {
    let (mut cmd, what) = match kind {
        DumpKind::Sql => return transfer::pg_load_script(identity, database, file),
        DumpKind::Custom | DumpKind::Tar | DumpKind::Directory => {
            let mut cmd = client(env, project, config, "pg_restore")?;
            cmd.args(["--no-owner", "--no-acl", "--exit-on-error", "--dbname"])
                .arg(database)
                .arg(file);
            (cmd, "pg_restore")
        }
    };
    client_env(&mut cmd, identity);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    transfer::run_client(cmd, what, transfer::load_failed).map(drop)
}
