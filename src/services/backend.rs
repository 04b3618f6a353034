//! The [`Backend`] trait: how a service's server runs for one project, whatever runs it. The
//! facade ([`super`]) does what is the same for every backend (configuration, the lock, the
//! identity, the port move, the shims' file, the safe dump and restore sequences of
//! [`super::transfer`]) and asks the backend only for what differs.
//!
//! Two implementations today, both of the PostgreSQL engine: [`super::native::Native`] (a
//! `postgres` process from real binaries) and [`super::container::Container`] (the official
//! image under Docker or Podman). The engine shows in the vocabulary (a [`DumpKind`], a
//! database to load into, a shell that is `psql`); an engine of the services issue (Redis,
//! MariaDB) plugs in as its own native and container implementations, chosen by [`open`] from
//! `[services.<name>] engine` and `backend`, with [`Identity`] carrying its password and port.
//! An operation an engine does not have (Redis has no SQL dump) answers with a user error
//! saying so.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::config::{BackendKind, DbConfig};
use super::credentials::Identity;
use super::postgres::DumpKind;
use super::transfer::DumpTarget;
use super::{container, native, Logs, Status, UpReport};
use crate::project::sync::Env;
use crate::project::Project;

/// A service's server for one project, as one backend runs it.
pub trait Backend {
    /// Which backend this is (what `.pyenvx/services/<name>/backend` records).
    fn kind(&self) -> BackendKind;

    /// Whether this backend's server for the project runs now.
    fn is_running(&self) -> Result<bool>;

    /// Start the server, creating it on first use, and return once a login with `identity`
    /// succeeded. The caller holds the service's lock and has checked that no other backend of
    /// the project runs.
    fn up(&self, identity: &Identity) -> Result<UpReport>;

    /// Stop the server; the data stays. Returns whether it was running.
    fn down(&self) -> Result<bool>;

    /// Stop the server and delete its data.
    fn destroy(&self) -> Result<()>;

    /// Where the server stands, asked now.
    fn status(&self, identity: &Identity) -> Result<Status>;

    /// How to show the server's log.
    fn logs(&self, follow: bool) -> Result<Logs>;

    /// The engine's interactive client (`psql`), logged in, with `args` appended.
    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command>;

    /// Write the whole database, in the engine's archive format, into `target`'s temporary
    /// file ([`super::transfer`] moves it into place).
    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()>;

    /// Check that `file` (an archive, not a script) is readable before anything is touched.
    /// `shown` is the name the user gave, for messages.
    fn check_dump(
        &self,
        identity: &Identity,
        file: &Path,
        kind: DumpKind,
        shown: &Path,
    ) -> Result<()>;

    /// Load `file` into `database`, an empty scratch database the caller made and drops again
    /// if this fails.
    fn load(&self, identity: &Identity, file: &Path, kind: DumpKind, database: &str) -> Result<()>;
}

/// The backend `kind` for the project's `[services.db]`.
pub fn open<'a>(
    kind: BackendKind,
    env: &'a Env<'a>,
    project: &'a Project,
    config: &'a DbConfig,
) -> Box<dyn Backend + 'a> {
    match kind {
        BackendKind::Native => Box::new(native::Native {
            env,
            project,
            config,
        }),
        BackendKind::Container => Box::new(container::Container {
            env,
            project,
            config,
        }),
    }
}
