//! The container engine every pyenvx container runs on (PostgreSQL's in [`super::container`],
//! MariaDB's, the Redis cache's): Docker or Podman, found and asked through its own CLI; the
//! containers' and volumes' names, `inspect`, volumes, `run_engine`, the error of an image the
//! engine cannot get and that of a container that stopped while starting.
//!
//! The CLI, not the engine's API: it is what the user has configured (contexts, `DOCKER_HOST`,
//! rootless Podman), and Podman's `docker`-compatible CLI works unchanged. The engine is
//! identified by asking it (`<cli> version --format '{{json .}}'`), not by the binary's name:
//! `docker` is Podman on many machines.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::project::Project;
use crate::settings::Settings;
use crate::user_error;

/// Variable naming the engine's CLI (a name on PATH or a path), read and checked by `Settings`.
pub const ENGINE_VAR: &str = crate::settings::CONTAINER_ENGINE_VAR;

pub(super) const NATIVE_HINT: &str = "start the engine, set PYENVX_CONTAINER_ENGINE to its CLI, or run the database natively: \
                           backend = \"native\" in [services.db] (or `pyenvx db up --backend native`)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

/// A container engine that answered.
#[derive(Debug, Clone)]
pub struct Engine {
    pub program: PathBuf,
    pub kind: EngineKind,
    /// The server's (or, for Podman without a service, the client's) version.
    pub version: String,
}

impl Engine {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub(super) fn name(&self) -> &'static str {
        match self.kind {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }
}

pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Find and ask the engine: `PYENVX_CONTAINER_ENGINE`, else `docker`, else `podman` on PATH.
pub fn engine(settings: &Settings) -> Result<Engine> {
    let chosen = settings.programs.container_engine.as_ref();
    let program = match &chosen {
        Some(name) => find_on_path(name).ok_or_else(|| {
            user_error!(
                hint = NATIVE_HINT,
                "{ENGINE_VAR}={name}, but there is no such program"
            )
        })?,
        None => ["docker", "podman"]
            .iter()
            .find_map(|n| find_on_path(n))
            .ok_or_else(|| {
                user_error!(
                    hint = NATIVE_HINT,
                    "no container engine: neither `docker` nor `podman` is installed"
                )
            })?,
    };
    let out = Command::new(&program)
        .args(["version", "--format", "{{json .}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            user_error!(
                hint = NATIVE_HINT,
                "cannot run the container engine {}: {e}",
                program.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    let kind = engine_kind(&json, &stdout);
    let server = &json["Server"];
    let running = out.status.success()
        && match kind {
            Some(EngineKind::Docker) => server.is_object(),
            // Podman needs no service: the client runs containers itself.
            Some(EngineKind::Podman) => true,
            None => false,
        };
    if !running {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("it gave no answer");
        return Err(match kind {
            None if out.status.success() => user_error!(
                hint = NATIVE_HINT,
                "{} does not answer like Docker or Podman",
                program.display()
            ),
            _ => user_error!(
                hint = NATIVE_HINT,
                "the container engine ({}) is not running: {reason}",
                program.display()
            ),
        });
    }
    let kind = kind.unwrap_or(EngineKind::Docker);
    let version = server["Version"]
        .as_str()
        .or_else(|| json["Client"]["Version"].as_str())
        .unwrap_or("?")
        .to_string();
    Ok(Engine {
        program,
        kind,
        version,
    })
}

/// Docker's `version` JSON has `Client.ApiVersion` and an `Engine` component; Podman's has
/// `Client.APIVersion` and `OsArch`, and Podman's docker alias mentions itself.
pub(super) fn engine_kind(json: &serde_json::Value, raw: &str) -> Option<EngineKind> {
    let client = &json["Client"];
    if client.get("OsArch").is_some()
        || client.get("APIVersion").is_some()
        || raw.to_ascii_lowercase().contains("podman")
    {
        return Some(EngineKind::Podman);
    }
    let has_engine = json["Server"]["Components"]
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x["Name"] == "Engine"));
    if client.get("ApiVersion").is_some() || has_engine {
        return Some(EngineKind::Docker);
    }
    None
}

/// `pyenvx-<name>-<hash>-db`: the container's and the volume's name.
pub fn stem(project: &Project) -> String {
    let mut name: String = project
        .config
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    name.truncate(40);
    if name.is_empty() {
        name = "project".into();
    }
    format!(
        "pyenvx-{name}-{}-db",
        super::shared::short_hash(&project.root)
    )
}

/// What `container inspect` tells of a pyenvx container (its labels; `major` only for the database).
#[derive(Debug)]
pub(super) struct ContainerInfo {
    pub(super) running: bool,
    pub(super) port: Option<u16>,
    pub(super) image: String,
    pub(super) major: Option<u32>,
}

pub(super) fn inspect(engine: &Engine, name: &str) -> Result<Option<ContainerInfo>> {
    let out = engine
        .command()
        .args([
            "container",
            "inspect",
            "--format",
            "{{.State.Running}}|{{index .Config.Labels \"pyenvx.port\"}}|{{index .Config.Labels \"pyenvx.image\"}}|{{index .Config.Labels \"pyenvx.major\"}}",
            name,
        ])
        .output()
        .context("cannot run the container engine")?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split('|').collect();
    Ok(Some(ContainerInfo {
        running: fields.first() == Some(&"true"),
        port: fields.get(1).and_then(|p| p.parse().ok()),
        image: fields.get(2).unwrap_or(&"").to_string(),
        major: fields.get(3).and_then(|m| m.parse().ok()),
    }))
}

/// Whether the volume `name` exists.
pub(super) fn volume_exists(engine: &Engine, name: &str) -> Result<bool> {
    let out = engine
        .command()
        .args(["volume", "inspect", "--format", "{{.Name}}", name])
        .output()
        .context("cannot run the container engine")?;
    Ok(out.status.success())
}

/// Create the volume `name` with `labels` (`key=value`).
pub(super) fn create_volume(engine: &Engine, name: &str, labels: &[String]) -> Result<()> {
    let mut create = engine.command();
    create.args(["volume", "create"]);
    for l in labels {
        create.args(["--label", l]);
    }
    create.arg(name);
    run_engine(create, &format!("create volume {name}")).map(drop)
}

/// The error of a `run` from `image`: when the engine could not get the image, the user's error
/// that `puller` cannot pull it, with `[services.<section>] image` among the ways out; any other
/// failure as it was.
pub(super) fn image_unavailable(
    err: anyhow::Error,
    engine: &Engine,
    image: &str,
    puller: &str,
    section: &str,
) -> anyhow::Error {
    let text = format!("{err:#}");
    let cannot_pull = [
        "pull access denied",
        "Unable to find image",
        "manifest unknown",
        "failed to resolve reference",
        "dial tcp",
    ]
    .iter()
    .any(|m| text.contains(m));
    if !cannot_pull {
        return err;
    }
    err.context(
        crate::error::UserError::new(format!(
            "the image {image} is not available, and {puller} cannot pull it"
        ))
        .hint(format!(
            "pull it (`{} pull {image}`), set [services.{section}] image to one you have, or use backend = \"native\"",
            engine.program.display()
        )),
    )
}

/// Fails, with the end of its log, once the container `name` stopped (it was starting).
pub(super) fn check_running(engine: &Engine, name: &str) -> Result<()> {
    if inspect(engine, name)?.is_some_and(|i| !i.running) {
        return Err(anyhow::anyhow!(
            "container {name} stopped while starting:\n{}",
            container_log_tail(engine, name)
        ));
    }
    Ok(())
}

pub(super) fn run_engine(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run the container engine to {what}"))?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "cannot {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(super) fn container_log_tail(engine: &Engine, name: &str) -> String {
    engine
        .command()
        .args(["logs", "--tail", "20", name])
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .trim()
            .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn tells_docker_from_podman() {
        let docker: serde_json::Value = serde_json::from_str(
            r#"{"Client":{"Version":"28.2.2","ApiVersion":"1.41"},"Server":{"Components":[{"Name":"Engine","Version":"20.10.24"}],"Version":"20.10.24"}}"#,
        )
        .unwrap();
        assert_eq!(engine_kind(&docker, ""), Some(EngineKind::Docker));
        let podman: serde_json::Value = serde_json::from_str(
            r#"{"Client":{"APIVersion":"4.9.3","Version":"4.9.3","OsArch":"linux/amd64"}}"#,
        )
        .unwrap();
        assert_eq!(engine_kind(&podman, ""), Some(EngineKind::Podman));
        assert_eq!(engine_kind(&serde_json::Value::Null, "hello"), None);
    }

    #[test]
    fn names_per_project() {
        let project = |name: &str, root: &str| Project {
            root: PathBuf::from(root),
            config: crate::project::Config::parse(
                &format!("[project]\nname = \"{name}\"\n"),
                Path::new("/x/pyenvx.toml"),
            )
            .unwrap(),
        };
        let a = stem(&project("My Library!", "/home/a/lib"));
        assert!(
            a.starts_with("pyenvx-my-library-") && a.ends_with("-db"),
            "{a}"
        );
        assert_ne!(a, stem(&project("My Library!", "/home/b/lib")));
    }
}
