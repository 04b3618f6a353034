//! The MariaDB container backend: the official `mariadb` image under Docker or Podman, its
//! clients run inside the container ([`super::clients`]).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;

use super::clients::{
    literal, restore, snapshot_prepare, snapshot_remove, snapshot_restore, snapshot_take, Clients,
    Runner,
};
use super::START_TIMEOUT;
use crate::process::Pace;
use crate::project::Project;
use crate::services::backend::Backend;
use crate::services::config::{BackendKind, DbConfig, DbEngine};
use crate::services::credentials::Identity;
use crate::services::engine;
use crate::services::snapshot::Snapshot;
use crate::services::transfer::{DumpTarget, RestorePlan};
use crate::services::{ports, Logs, Status, UpReport};
use crate::user_error;

/// The MariaDB container backend: the official `mariadb` image under Docker or Podman.
pub struct Container<'a> {
    pub settings: &'a crate::settings::Settings,
    pub project: &'a Project,
    pub config: &'a DbConfig,
}

impl Backend for Container<'_> {
    fn kind(&self) -> BackendKind {
        BackendKind::Container
    }

    fn is_running(&self) -> Result<bool> {
        let engine = engine::engine(self.settings)?;
        Ok(engine::inspect(&engine, &container_name(self.project))?.is_some_and(|i| i.running))
    }

    fn up(&self, identity: &Identity) -> Result<UpReport> {
        container_up(self.settings, self.project, self.config, identity)
    }

    fn down(&self) -> Result<bool> {
        let engine = engine::engine(self.settings)?;
        let name = container_name(self.project);
        if !engine::inspect(&engine, &name)?.is_some_and(|i| i.running) {
            return Ok(false);
        }
        // SIGTERM is MariaDB's clean shutdown; `stop` sends it and waits.
        let mut stop = engine.command();
        stop.args(["stop", "--time", "60", &name]);
        engine::run_engine(stop, &format!("stop container {name}"))?;
        Ok(true)
    }

    fn destroy(&self) -> Result<()> {
        let engine = engine::engine(self.settings)?;
        let name = container_name(self.project);
        if engine::inspect(&engine, &name)?.is_some() {
            let mut rm = engine.command();
            rm.args(["rm", "--force", "--volumes", &name]);
            engine::run_engine(rm, &format!("remove container {name}"))?;
        }
        if engine::volume_exists(&engine, &name)? {
            let mut rm = engine.command();
            rm.args(["volume", "rm", "--force", &name]);
            engine::run_engine(rm, &format!("remove volume {name}"))?;
        }
        Ok(())
    }

    fn status(&self, identity: &Identity) -> Result<Status> {
        let engine = engine::engine(self.settings)?;
        let name = container_name(self.project);
        let running = engine::inspect(&engine, &name)?.is_some_and(|i| i.running);
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
            initialized: engine::volume_exists(&engine, &name)?,
        })
    }

    fn logs(&self, follow: bool) -> Result<Logs> {
        let engine = engine::engine(self.settings)?;
        let mut cmd = engine.command();
        cmd.arg("logs");
        if follow {
            cmd.arg("--follow");
        }
        cmd.arg(container_name(self.project));
        Ok(Logs::Command(cmd))
    }

    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command> {
        let engine = engine::engine(self.settings)?;
        let mut cmd = Clients::exec(&engine, container_name(self.project), identity).shell(args)?;
        cmd.stdin(Stdio::inherit());
        Ok(cmd)
    }

    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()> {
        let engine = engine::engine(self.settings)?;
        Clients::exec(&engine, container_name(self.project), identity).dump(target)
    }

    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan> {
        let engine = engine::engine(self.settings)?;
        Clients::exec(&engine, container_name(self.project), identity).check_restore(file, shown)
    }

    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()> {
        let engine = engine::engine(self.settings)?;
        restore(
            &Clients::exec(&engine, container_name(self.project), identity),
            &plan.file,
        )
    }

    fn snapshot_take(&self, identity: &Identity, name: Option<&str>) -> Result<Snapshot> {
        let engine = engine::engine(self.settings)?;
        let clients = Clients::exec(&engine, container_name(self.project), identity);
        snapshot_take(&clients, self.project, BackendKind::Container, name)
    }

    fn snapshot_restore(
        &self,
        identity: &Identity,
        snap: &Snapshot,
    ) -> Result<crate::services::snapshot::Restored> {
        let engine = engine::engine(self.settings)?;
        snapshot_restore(
            &Clients::exec(&engine, container_name(self.project), identity),
            self.project,
            snap,
        )
    }

    fn snapshot_prepare(&self, identity: &Identity) -> Result<()> {
        let engine = engine::engine(self.settings)?;
        let clients = Clients::exec(&engine, container_name(self.project), identity);
        snapshot_prepare(&clients, self.project, BackendKind::Container)
    }

    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()> {
        let engine = engine::engine(self.settings)?;
        let clients = Clients::exec(&engine, container_name(self.project), identity);
        snapshot_remove(&clients, self.project, snap)
    }
}

/// `pyenvx-<name>-<hash>-mariadb`: the container's and the volume's name, apart from the
/// PostgreSQL ones so that changing `engine` never mounts one engine's data into the other.
pub fn container_name(project: &Project) -> String {
    let stem = engine::stem(project);
    format!("{}-mariadb", stem.strip_suffix("-db").unwrap_or(&stem))
}

/// Start the project's container (creating it and its volume on first use), wait for a login,
/// and give the project's user every privilege (the image grants only its database; restores
/// and Django's test database need more, as on the native backend).
fn container_up(
    settings: &crate::settings::Settings,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
) -> Result<UpReport> {
    let engine = engine::engine(settings)?;
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
    let mut existing = engine::inspect(&engine, &name)?;
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
            engine::run_engine(rm, "remove the old container")?;
            existing = None;
        }
    }
    if !ports::is_free(identity.port) {
        return Err(ports::taken(settings, identity.port));
    }
    let had_volume = engine::volume_exists(&engine, &name)?;
    let labels = [
        format!("pyenvx.project={}", project.root.display()),
        format!("pyenvx.service={}", crate::services::config::DB),
        "pyenvx.engine=mariadb".to_string(),
    ];
    if existing.is_some() {
        let mut start = engine.command();
        start.args(["start", &name]);
        engine::run_engine(start, &format!("start container {name}"))?;
    } else {
        if !had_volume {
            engine::create_volume(&engine, &name, &labels)?;
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
        engine::run_engine(run, &format!("start a container from {image}")).map_err(|e| {
            engine::image_unavailable(e, &engine, &image, "the container engine", "db")
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
    crate::services::transfer::run_client(
        cmd,
        "mariadb (as root, in the container)",
        |what, status, detail| anyhow::anyhow!("{what} failed ({status}): {}", detail.trim()),
    )
    .map(drop)
}

/// Poll logins inside the container until one succeeds; a container that stops meanwhile
/// fails the wait with its log.
fn container_ready(
    engine: &engine::Engine,
    clients: &Clients,
    timeout: Duration,
) -> Result<String> {
    let Runner::Exec {
        container: name, ..
    } = &clients.runner
    else {
        unreachable!("container clients run in the container");
    };
    let mut last_error = String::new();
    let pace = Pace::every(Duration::from_millis(200));
    let ready = crate::process::wait_until(timeout, pace, || {
        last_error = match clients.server_version() {
            Ok(version) if published(clients.identity) => return Ok(Some(version)),
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
        engine::check_running(engine, name)?;
        Ok(None)
    })?;
    ready.ok_or_else(|| {
        anyhow::anyhow!(
            "MariaDB in container {name} did not accept connections within {} s ({})\n{}",
            timeout.as_secs(),
            last_error.trim(),
            engine::container_log_tail(engine, name)
        )
    })
}

/// The published port answers with MariaDB's greeting (protocol version 10), so a client on
/// the host reaches the server, not just the engine's proxy.
fn published(identity: &Identity) -> bool {
    use std::io::Read;
    let Ok(mut stream) = crate::services::ports::connect(identity.addr(), Duration::from_secs(2))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && head[4] == 10
}
