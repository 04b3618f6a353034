//! The container backend: the official PostgreSQL image under Docker or Podman, driven through
//! the engine's own command-line client.
//!
//! Decisions and why:
//! * The CLI, not the engine's API: it is what the user has configured (contexts, `DOCKER_HOST`,
//!   rootless Podman), and Podman's `docker`-compatible CLI works unchanged.
//! * The engine is identified by asking it (`<cli> version --format '{{json .}}'`), not by the
//!   binary's name: `docker` is Podman on many machines.
//! * Per project: container and named volume `pyenvx-<name>-<hash of the project path>-db`,
//!   labelled with the project's path, the major and the port; the port is published on
//!   127.0.0.1 only. `down` stops the container and keeps the volume; `reset` removes both.
//! * The official image's contract: `POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`, data at
//!   `/var/lib/postgresql/data` (18+: `/var/lib/postgresql`), port 5432. The password reaches the
//!   CLI through its environment (`-e NAME` without a value), never its command line.
//! * Ready means a login from the host succeeded, through the published port.
//!
//! The engine plumbing every pyenvx container uses is [`super::engine`]'s.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::backend::Backend;
use super::config::{BackendKind, DbConfig, DbEngine};
use super::credentials::Identity;
use super::engine::{
    check_running, container_log_tail, create_volume, engine, image_unavailable, inspect,
    run_engine, stem, Engine,
};
use super::pgwire::{ConnectError, SqlState};
use super::ports;
use super::postgres::DumpKind;
use super::shared::{Logs, Status, UpReport};
use super::snapshot::{self, Snapshot};
use super::transfer::{self, DumpTarget, RestorePlan};
use crate::process::Pace;
use crate::project::Env;
use crate::project::Project;
use crate::settings::Settings;
use crate::user_error;

const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The container backend of a project's `[services.db]`.
pub struct Container<'a> {
    pub env: &'a Env<'a>,
    pub project: &'a Project,
    pub config: &'a DbConfig,
}

impl Backend for Container<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Container
    }

    fn is_running(&self) -> Result<bool> {
        is_running(self.env.settings, self.project)
    }

    fn up(&self, identity: &Identity) -> Result<UpReport> {
        up(self.env, self.project, self.config, identity)
    }

    fn down(&self) -> Result<bool> {
        down(self.env.settings, self.project)
    }

    fn destroy(&self) -> Result<()> {
        destroy(self.env.settings, self.project)
    }

    fn status(&self, identity: &Identity) -> Result<Status> {
        status(self.env.settings, self.project, self.config, identity)
    }

    fn logs(&self, follow: bool) -> Result<Logs> {
        logs(self.env.settings, self.project, follow).map(Logs::Command)
    }

    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command> {
        psql(self.env.settings, self.project, identity, args)
    }

    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()> {
        dump(self.env.settings, self.project, identity, target)
    }

    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan> {
        transfer::pg_check_restore(identity, file, shown, |kind| {
            check_archive(self.env.settings, self.project, identity, file, kind, shown)
        })
    }

    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()> {
        transfer::pg_restore(identity, self.config.major, |database| {
            load(
                self.env.settings,
                self.project,
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

/// Where the official image keeps its data for `major`.
fn data_mount(major: u32) -> &'static str {
    if major >= 18 {
        "/var/lib/postgresql"
    } else {
        "/var/lib/postgresql/data"
    }
}

/// The major recorded on the volume, `Some(None)` for a volume without our label, `None` when
/// there is no volume.
fn volume_major(engine: &Engine, name: &str) -> Result<Option<Option<u32>>> {
    let out = engine
        .command()
        .args([
            "volume",
            "inspect",
            "--format",
            "{{index .Labels \"pyenvx.major\"}}",
            name,
        ])
        .output()
        .context("cannot run the container engine")?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&out.stdout).trim().parse().ok(),
    ))
}

fn labels(project: &Project, config: &DbConfig, port: Option<u16>) -> Vec<String> {
    let mut out = vec![
        format!("pyenvx.project={}", project.root.display()),
        format!("pyenvx.service={}", super::config::DB),
        format!("pyenvx.major={}", config.major),
    ];
    if let Some(port) = port {
        out.push(format!("pyenvx.port={port}"));
        out.push(format!("pyenvx.image={}", config.image()));
    }
    out
}

fn is_running(settings: &Settings, project: &Project) -> Result<bool> {
    let engine = engine(settings)?;
    Ok(inspect(&engine, &stem(project))?.is_some_and(|i| i.running))
}

/// Start the project's container (creating it and its volume on first use) and wait for a login.
fn up(env: &Env, project: &Project, config: &DbConfig, identity: &Identity) -> Result<UpReport> {
    let engine = engine(env.settings)?;
    let name = stem(project);
    let image = config.image();
    match volume_major(&engine, &name)? {
        Some(Some(major)) if major != config.major => {
            return Err(user_error!(
                hint = format!(
                    "keep using it with `version = \"{major}\"` in [services.db]; to move the data to PostgreSQL {}, \
                     `pyenvx db dump FILE` with version {major}, then `pyenvx db reset --yes` (deletes it) and \
                     `pyenvx db restore FILE`",
                    config.major
                ),
                "the volume {name} holds PostgreSQL {major} data, but the project asks for PostgreSQL {}; \
                 pyenvx neither starts nor deletes it",
                config.major
            ))
        }
        _ => {}
    }
    let report = |server_version: String, already_running: bool, initialized: bool| UpReport {
        engine: DbEngine::Postgres,
        backend: BackendKind::Container,
        server_version,
        port: identity.port,
        already_running,
        initialized,
        source: format!("{image} ({} {})", engine.name(), engine.version),
    };
    let mut existing = inspect(&engine, &name)?;
    if let Some(info) = &existing {
        let current = info.port == Some(identity.port)
            && info.image == image
            && info.major == Some(config.major);
        if current && info.running {
            if let Ok(version) = wait_ready(&engine, &name, identity, Duration::from_secs(30)) {
                return Ok(report(version, true, false));
            }
        }
        if !current || info.running {
            // Another port or image: containers cannot change either, so make a new one; the
            // data is in the volume.
            let mut rm = engine.command();
            rm.args(["rm", "--force", &name]);
            run_engine(rm, "remove the old container")?;
            existing = None;
        }
    }
    if !ports::is_free(identity.port) {
        return Err(ports::taken(env.settings, identity.port));
    }
    let had_volume = volume_major(&engine, &name)?.is_some();
    if existing.is_some() {
        let mut start = engine.command();
        start.args(["start", &name]);
        run_engine(start, &format!("start container {name}"))?;
    } else {
        if !had_volume {
            create_volume(&engine, &name, &labels(project, config, None))?;
        }
        let c = &identity.credentials;
        let mut run = engine.command();
        run.args(["run", "--detach", "--name", &name]);
        for l in labels(project, config, Some(identity.port)) {
            run.args(["--label", &l]);
        }
        run.args([
            "-e",
            "POSTGRES_USER",
            "-e",
            "POSTGRES_PASSWORD",
            "-e",
            "POSTGRES_DB",
        ])
        .env("POSTGRES_USER", &c.user)
        .env("POSTGRES_PASSWORD", &c.password)
        .env("POSTGRES_DB", &c.database)
        .arg("--volume")
        .arg(format!("{name}:{}", data_mount(config.major)))
        .arg("--publish")
        .arg(format!("127.0.0.1:{}:5432", identity.port))
        .arg(&image);
        run_engine(run, &format!("start a container from {image}"))
            .map_err(|e| image_unavailable(e, &engine, &image, engine.name(), "db"))?;
    }
    let version = wait_ready(&engine, &name, identity, START_TIMEOUT)?;
    Ok(report(version, false, !had_volume))
}

/// Poll logins through the published port; a container that stops meanwhile fails the wait with
/// its log.
fn wait_ready(
    engine: &Engine,
    name: &str,
    identity: &Identity,
    timeout: Duration,
) -> Result<String> {
    let mut last_check = Instant::now();
    let mut last_error = String::new();
    let pace = Pace::every(Duration::from_millis(50));
    let ready = crate::process::wait_until(timeout, pace, || {
        match identity.connect(None, Duration::from_secs(2)) {
            Ok(mut conn) => return Ok(Some(conn.server_version().unwrap_or_default())),
            Err(e) if e.is_transient() => last_error = e.to_string(),
            Err(ConnectError::Rejected { code, message }) if code == SqlState::INVALID_PASSWORD
                || code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                return Err(user_error!(
                    hint = "the volume was made with other credentials (was .pyenvx deleted?); `pyenvx db reset --yes` \
                            recreates it empty",
                    "the database in the container rejected the project's credentials: {message}"
                ))
            }
            // The database does not exist *yet* while the image's first-run script works.
            Err(ConnectError::Rejected { code, .. }) if code == SqlState::INVALID_CATALOG_NAME => {
                last_error = "the database does not exist yet".into()
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("the server in container {name} refused the login")))
            }
        }
        if last_check.elapsed() > Duration::from_millis(500) {
            last_check = Instant::now();
            check_running(engine, name)?;
        }
        Ok(None)
    })?;
    ready.ok_or_else(|| {
        anyhow::anyhow!(
            "PostgreSQL in container {name} did not accept connections within {} s ({last_error})\n{}",
            timeout.as_secs(),
            container_log_tail(engine, name)
        )
    })
}

fn down(settings: &Settings, project: &Project) -> Result<bool> {
    let engine = engine(settings)?;
    let name = stem(project);
    if !inspect(&engine, &name)?.is_some_and(|i| i.running) {
        return Ok(false);
    }
    // SIGINT is PostgreSQL's fast shutdown (what `pg_ctl -m fast` sends): sessions are cut and
    // the checkpoint written. An image's own stop signal may be SIGTERM, a "smart" shutdown that
    // waits for every client (a runserver's pooled connection) to leave. `stop` then waits for
    // the exit, and forces it only if the server hangs.
    let _ = engine
        .command()
        .args(["kill", "--signal", "INT", &name])
        .output();
    let mut stop = engine.command();
    stop.args(["stop", "--time", "60", &name]);
    run_engine(stop, &format!("stop container {name}"))?;
    Ok(true)
}

/// Remove the container and its volume.
fn destroy(settings: &Settings, project: &Project) -> Result<()> {
    let engine = engine(settings)?;
    let name = stem(project);
    if inspect(&engine, &name)?.is_some() {
        let mut rm = engine.command();
        rm.args(["rm", "--force", "--volumes", &name]);
        run_engine(rm, &format!("remove container {name}"))?;
    }
    if volume_major(&engine, &name)?.is_some() {
        let mut rm = engine.command();
        rm.args(["volume", "rm", "--force", &name]);
        run_engine(rm, &format!("remove volume {name}"))?;
    }
    Ok(())
}

fn status(
    settings: &Settings,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
) -> Result<Status> {
    let engine = engine(settings)?;
    let name = stem(project);
    let info = inspect(&engine, &name)?;
    let running = info.as_ref().is_some_and(|i| i.running);
    let accepting = running && identity.connect(None, Duration::from_secs(2)).is_ok();
    Ok(Status {
        engine: DbEngine::Postgres,
        backend: BackendKind::Container,
        version: config.major,
        running,
        accepting_connections: accepting,
        port: identity.port,
        user: identity.credentials.user.clone(),
        database: identity.credentials.database.clone(),
        pid: None,
        data: format!("volume {name}"),
        container: Some(name.clone()),
        initialized: volume_major(&engine, &name)?.is_some(),
    })
}

fn logs(settings: &Settings, project: &Project, follow: bool) -> Result<Command> {
    let engine = engine(settings)?;
    let mut cmd = engine.command();
    cmd.arg("logs");
    if follow {
        cmd.arg("--follow");
    }
    cmd.arg(stem(project));
    Ok(cmd)
}

/// `<engine> exec` of a client inside the container, as the project's user over the local
/// socket (the image trusts it), so the host needs no PostgreSQL client of the right version.
fn exec_client(
    engine: &Engine,
    project: &Project,
    identity: &Identity,
    database: Option<&str>,
    interactive: bool,
    tty: bool,
) -> Command {
    let mut cmd = engine.command();
    cmd.arg("exec");
    if interactive {
        cmd.arg("--interactive");
    }
    if tty {
        cmd.arg("--tty");
    }
    cmd.args(["--env", "PGUSER", "--env", "PGDATABASE"])
        .env("PGUSER", &identity.credentials.user)
        .env(
            "PGDATABASE",
            database.unwrap_or(&identity.credentials.database),
        )
        .arg(stem(project));
    cmd
}

fn psql(
    settings: &Settings,
    project: &Project,
    identity: &Identity,
    args: &[OsString],
) -> Result<Command> {
    let engine = engine(settings)?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut cmd = exec_client(&engine, project, identity, None, true, tty);
    cmd.arg("psql").args(args).stdin(Stdio::inherit());
    Ok(cmd)
}

/// `pg_dump --format=custom` inside the container, into the dump's temporary file.
fn dump(
    settings: &Settings,
    project: &Project,
    identity: &Identity,
    target: &DumpTarget,
) -> Result<()> {
    let engine = engine(settings)?;
    let mut cmd = exec_client(&engine, project, identity, None, false, false);
    cmd.args(["pg_dump", "--format=custom", "--no-owner"])
        .stdout(Stdio::from(target.file()?))
        .stderr(Stdio::piped());
    let result = cmd.output().context("cannot run the container engine")?;
    if !result.status.success() {
        return Err(transfer::dump_failed(
            "pg_dump in the container",
            result.status,
            &String::from_utf8_lossy(&result.stderr),
        ));
    }
    Ok(())
}

/// Run a client in the container with `file` on its stdin.
fn with_input(mut cmd: Command, file: &Path) -> Result<std::process::Output> {
    let input = fs_err::File::open(file)?;
    cmd.stdin(Stdio::from(input.into_parts().0))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run the container engine")
}

fn no_directories(kind: DumpKind) -> Result<()> {
    if kind == DumpKind::Directory {
        return Err(user_error!(
            hint = "write the dump in the custom format (`pyenvx db dump FILE` or `pg_dump -Fc`)",
            "directory-format dumps cannot be streamed into a container"
        ));
    }
    Ok(())
}

/// `pg_restore --list` inside the container: the archive's table of contents is readable.
fn check_archive(
    settings: &Settings,
    project: &Project,
    identity: &Identity,
    file: &Path,
    kind: DumpKind,
    shown: &Path,
) -> Result<()> {
    no_directories(kind)?;
    let engine = engine(settings)?;
    let mut cmd = exec_client(&engine, project, identity, None, true, false);
    cmd.args(["pg_restore", "--list"]);
    let result = with_input(cmd, file)?;
    if !result.status.success() {
        return Err(transfer::unreadable_archive(
            shown,
            &String::from_utf8_lossy(&result.stderr),
        ));
    }
    Ok(())
}

/// Load `file` into `database` (the restore's scratch database) inside the container.
fn load(
    settings: &Settings,
    project: &Project,
    identity: &Identity,
    file: &Path,
    kind: DumpKind,
    database: &str,
) -> Result<()> {
    no_directories(kind)?;
    if kind == DumpKind::Sql {
        // Over the published port, not psql in the container: see `transfer::pg_load_script`.
        return transfer::pg_load_script(identity, database, file);
    }
    let engine = engine(settings)?;
    let mut cmd = exec_client(&engine, project, identity, Some(database), true, false);
    cmd.args([
        "pg_restore",
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        "--dbname",
        database,
    ]);
    let what = "pg_restore in the container";
    let result = with_input(cmd, file)?;
    if !result.status.success() {
        return Err(transfer::load_failed(
            what,
            result.status,
            &String::from_utf8_lossy(&result.stderr),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_path_follows_the_official_image() {
        assert_eq!(data_mount(17), "/var/lib/postgresql/data");
        assert_eq!(data_mount(18), "/var/lib/postgresql");
    }
}
