//! `[services.cache] backend = "container"`: the project's Redis in a Docker/Podman container
//! from `redis:<major>` (or `image`), the same identity as the native backend.
//!
//! Per project a container and a named volume `pyenvx-<name>-<hash>-cache` (the database's
//! naming, [`super::super::engine::stem`]), labelled `pyenvx.project`, `pyenvx.service=cache` and
//! (container) `pyenvx.port`, `pyenvx.image`. The port is published on 127.0.0.1 only. The
//! password reaches the container as `REDIS_PASSWORD` through the engine CLI's environment
//! (never its command line), and the container's shell writes it into a 0600 `redis.conf`
//! rather than passing it to `redis-server` as an argument, which `ps` on the host would show.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::super::engine::{
    check_running, container_log_tail as log_tail, create_volume, engine, image_unavailable,
    inspect, run_engine, stem, volume_exists,
};
use super::{probe, CacheConfig, CacheIdentity, ProbeError};
use crate::process::Pace;
use crate::project::Project;
use crate::settings::Settings;
use crate::user_error;

/// What the container runs: the password into a private file, then Redis on it, data in /data.
const SCRIPT: &str = "umask 077 && printf 'requirepass %s\\n' \"$REDIS_PASSWORD\" > /tmp/redis.conf \
                      && exec redis-server /tmp/redis.conf --appendonly yes --appendfsync everysec --dir /data";

pub fn name(project: &Project) -> String {
    let db = stem(project);
    format!("{}-cache", db.strip_suffix("-db").unwrap_or(&db))
}

pub fn is_running(settings: &Settings, project: &Project) -> Result<bool> {
    Ok(inspect(&engine(settings)?, &name(project))?.is_some_and(|i| i.running))
}

/// Start the container (creating it and its volume on first use); returns the server's
/// version and whether it was already running, once AUTH + PING work through the port.
pub fn up(
    settings: &Settings,
    project: &Project,
    config: &CacheConfig,
    identity: &CacheIdentity,
) -> Result<(String, bool)> {
    let engine = engine(settings)?;
    let name = name(project);
    let image = config.image();
    let mut existing = inspect(&engine, &name)?;
    if let Some(info) = &existing {
        let current = info.port == Some(identity.port) && info.image == image;
        if current && info.running {
            if let Ok(version) = probe(identity, Duration::from_secs(2)) {
                return Ok((version, true));
            }
        }
        if !current || info.running {
            // Port and image are fixed at creation: a new container, on the same volume.
            let mut rm = engine.command();
            rm.args(["rm", "--force", &name]);
            run_engine(rm, "remove the old container")?;
            existing = None;
        }
    }
    if !super::super::ports::is_free(identity.port) {
        return Err(super::super::ports::taken(settings, identity.port));
    }
    if existing.is_some() {
        let mut start = engine.command();
        start.args(["start", &name]);
        run_engine(start, &format!("start container {name}"))?;
    } else {
        let project_label = format!("pyenvx.project={}", project.root.display());
        let service_label = format!("pyenvx.service={}", super::CACHE);
        let had_volume = volume_exists(&engine, &name)?;
        if !had_volume {
            create_volume(
                &engine,
                &name,
                &[project_label.clone(), service_label.clone()],
            )?;
        }
        let mut cmd = engine.command();
        cmd.args(["run", "--detach", "--name", &name])
            .args(["--label", &project_label, "--label", &service_label])
            .args(["--label", &format!("pyenvx.port={}", identity.port)])
            .args(["--label", &format!("pyenvx.image={image}")])
            .args(["-e", "REDIS_PASSWORD"])
            .env("REDIS_PASSWORD", &identity.password)
            .arg("--volume")
            .arg(format!("{name}:/data"))
            .arg("--publish")
            .arg(format!("127.0.0.1:{}:6379", identity.port))
            .args([&image, "sh", "-c", SCRIPT]);
        let started = run_engine(cmd, &format!("start a container from {image}"));
        if started.is_err() {
            // Nothing ran: leave no container, nor a volume this attempt made.
            let _ = engine.command().args(["rm", "--force", &name]).output();
            if !had_volume {
                let _ = engine.command().args(["volume", "rm", &name]).output();
            }
        }
        started
            .map_err(|e| image_unavailable(e, &engine, &image, "the container engine", "cache"))?;
    }
    let mut last_check = Instant::now();
    let pace = Pace::every(Duration::from_millis(50));
    let version = crate::process::wait_until(Duration::from_secs(60), pace, || {
        match probe(identity, Duration::from_secs(2)) {
            Ok(version) => return Ok(Some(version)),
            Err(ProbeError::Refused(m)) if !m.starts_with("LOADING") => {
                return Err(user_error!(
                    hint = "`pyenvx redis down`, then `pyenvx redis up` again",
                    "Redis in container {name} refused the project's password: {m}"
                ))
            }
            Err(_) => {}
        }
        if last_check.elapsed() > Duration::from_millis(500) {
            last_check = Instant::now();
            check_running(&engine, &name)?;
        }
        Ok(None)
    })?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "Redis in container {name} did not answer within 60 s\n{}",
            log_tail(&engine, &name)
        )
    })?;
    Ok((version, false))
}

/// Stop the container (SIGTERM: Redis flushes its append-only file); container and volume stay.
pub fn down(settings: &Settings, project: &Project) -> Result<bool> {
    let engine = engine(settings)?;
    let name = name(project);
    if !inspect(&engine, &name)?.is_some_and(|i| i.running) {
        return Ok(false);
    }
    let mut stop = engine.command();
    stop.args(["stop", "--time", "30", &name]);
    run_engine(stop, &format!("stop container {name}"))?;
    Ok(true)
}
