//! What every part of `services` shares and the facade ([`super`]) re-exports: the service's
//! name and state directory, per-project names outside the project, and the reports a backend
//! gives (`db up`, `db status`, `db logs`). Below every other file of `services`, so that none
//! of them imports the facade.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::{BackendKind, DbEngine, DB};
use crate::project::Project;

/// `.pyenvx/services/db/`.
pub fn state_dir(project: &Project) -> PathBuf {
    project.state_dir().join("services").join(DB)
}

/// First 8 hex digits of the SHA-256 of the project's path: names per-project things outside
/// the project (containers, volumes, socket directories) without colliding.
pub fn short_hash(root: &Path) -> String {
    hex::encode(&Sha256::digest(root.as_os_str().as_encoded_bytes())[..4])
}

/// What `db up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub engine: DbEngine,
    pub backend: BackendKind,
    /// Server version as it reported itself at login, e.g. `15.18 (Debian 15.18-0+deb12u1)`,
    /// `10.11.19-MariaDB-0+deb12u1`.
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
    pub engine: DbEngine,
    pub backend: BackendKind,
    /// The engine's major version (PostgreSQL 15; MariaDB 10 or 11).
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

/// How to show the server's log.
pub enum Logs {
    /// A file to print (and follow).
    File(PathBuf),
    /// A command that prints (and follows) it.
    Command(std::process::Command),
}
