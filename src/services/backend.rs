//! The [`Backend`] trait: how a database server runs for one project, whatever engine and
//! whatever runs it. The facade ([`super`]) does what is the same for every engine and backend
//! (configuration, the lock, the identity, the port move, the shims' file, the dump target's
//! temp-and-rename) and asks the backend for what differs.
//!
//! What differs per engine and is therefore behind the trait: the binaries and how a data
//! directory is initialised (`up` on first use), start, stop and readiness (`up`, `down`), where
//! the data is (`destroy`, `status`), the client shell, and the dump format with its safe
//! restore (a scratch database swapped in only once loaded: PostgreSQL renames databases,
//! MariaDB moves tables), and how a snapshot is copied inside the server. What differs per engine in words (name, URL scheme, client, default
//! image) is [`super::config::DbEngine`].
//!
//! Implementations: PostgreSQL as [`super::native::Native`] (a `postgres` process from real
//! binaries) and [`super::container::Container`] (the official image under Docker or Podman);
//! MariaDB as [`super::mariadb::Native`] (the machine's `mariadbd`) and
//! [`super::mariadb::Container`] (the official `mariadb` image). [`super::open`] picks one from
//! `[services.db] engine` and `backend`. Redis stays outside: it is a cache with no database,
//! dump or shell of ours, and its facade ([`super::redis`]) is a third of this one.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::config::BackendKind;
use super::credentials::Identity;
use super::shared::{Logs, Status, UpReport};
use super::snapshot::{Restored, Snapshot};
use super::transfer::{DumpTarget, RestorePlan};

/// A project's database server, as one engine and backend run it.
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

    /// The engine's interactive client (`psql`, `mariadb`), logged in, with `args` appended.
    fn shell(&self, identity: &Identity, args: &[OsString]) -> Result<Command>;

    /// Write the whole database, in the engine's dump format, into `target`'s temporary file
    /// ([`super::transfer`] moves it into place).
    fn dump(&self, identity: &Identity, target: &DumpTarget) -> Result<()>;

    /// Check `file` before anything is touched (not empty, in a format this engine loads) and
    /// say whether the database holds data a restore would replace. `shown` is the name the
    /// user gave, for messages.
    fn check_restore(&self, identity: &Identity, file: &Path, shown: &Path) -> Result<RestorePlan>;

    /// Replace the database's contents with a checked dump: loaded into a scratch database that
    /// takes the project database's place only once the load succeeded. The caller holds the
    /// lock.
    fn restore(&self, identity: &Identity, plan: &RestorePlan) -> Result<()>;

    /// Copy the running database into a new snapshot inside the server (`name`, else the
    /// server's UTC time) and record it. The caller holds the lock.
    fn snapshot_take(&self, identity: &Identity, name: Option<&str>) -> Result<Snapshot>;

    /// Put a snapshot (checked with [`super::snapshot::check_restorable`]) in place of the
    /// database: the snapshot's ready copy renamed into place when it has one (PostgreSQL the
    /// database, MariaDB its tables); otherwise a copy into a scratch database, swapped in only
    /// once the copy succeeded. The snapshot stays.
    fn snapshot_restore(&self, identity: &Identity, snap: &Snapshot) -> Result<Restored>;

    /// The work a take or a restore leaves for after the command returned: the replaced
    /// database (MariaDB: tables) dropped, the snapshots' ready copies made. Nothing by default.
    fn snapshot_prepare(&self, _identity: &Identity) -> Result<()> {
        Ok(())
    }

    /// Delete a snapshot's copy, then its record.
    fn snapshot_remove(&self, identity: &Identity, snap: &Snapshot) -> Result<()>;
}
