//! `db snapshot`: named points in time of the project's database to jump back to.
//!
//! Decisions and why:
//! * A snapshot is a copy made inside the running cluster, `CREATE DATABASE pyenvx_snapshot_<name>
//!   TEMPLATE <db> STRATEGY = FILE_COPY`: PostgreSQL copies the database's files (no dump, no
//!   parse, no index rebuild), without stopping the server, and the same SQL works for every
//!   backend. Copying the stopped data directory would need a stop and a start around every
//!   snapshot and, on filesystems without reflinks (ext4), copies every database of the cluster.
//! * The copy refuses while anyone is connected to the database it copies, so those sessions are
//!   ended first (as `db restore` does); a client that reconnects in between makes it try again.
//! * Snapshot databases refuse connections (`ALLOW_CONNECTIONS false`): nobody can change one by
//!   accident, and nobody's session can block a restore from it.
//! * What a snapshot is lives in `.pyenvx/snapshots/db/<name>.json` (time, size, major, backend):
//!   listing needs no server. A snapshot belongs to its cluster, so one of another major or the
//!   other backend is refused, and `db reset` (a new cluster) forgets them all.
//! * A restore is a rename, not a copy. Each snapshot has a ready copy, its spare
//!   (`pyenvx_spare_<name>`), made in the background after the snapshot was taken and after
//!   each restore used it (`pyenvx db snapshot prepare`, a detached process holding
//!   `.pyenvx/snapshots/db/background.lock`). A restore takes that lock, so it waits for a copy
//!   still being made rather than missing it, then renames the spare into the project database's
//!   place in one transaction with the ending of its sessions ([`super::transfer::swap_from`]).
//!   The database it replaced is left as `<db>_pyenvx_old` for the background work to drop: the
//!   command returns after the renames. The snapshot itself is never renamed or opened, so it
//!   stays restorable; two restores in a row both work, the second waiting for the spare the
//!   first one's background work makes.
//! * Without a spare (the background work was killed, failed, or the server was down), a restore
//!   copies the snapshot into the scratch database of [`super::transfer`] and swaps it in only
//!   when the copy succeeded, as before.
//! * A kill at any moment leaves the project's database whole: `CREATE DATABASE` and the
//!   renames are each one transaction, a spare is either complete or absent, and what a killed
//!   restore leaves (`<db>_pyenvx_old`, a scratch database) is dropped by the next one.
//! * Reflinks: from PostgreSQL 18 every copy asks for `file_copy_method = clone`
//!   ([`super::transfer::run_copy`]: reflinks where the filesystem has them); before 18 files
//!   are copied with reads and writes, and this machine's ext4 has no reflinks anyway. The spare
//!   is what makes a restore constant-time on every filesystem.
//! * MariaDB has no template copy: its backends copy table by table inside the server
//!   ([`super::mariadb`]) and use the records, names, ready copies, background lock and checks
//!   here; its ready copy is complete once `<name>.spare-ready` is written (a copy of many
//!   tables is not one statement), and a restore moves its tables in with one `RENAME TABLE`. Its snapshots are checked
//!   by engine and backend, not by major: they live in one data directory, which a MariaDB
//!   upgrade keeps.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::config::{BackendKind, DbEngine};
use super::credentials::Identity;
use super::transfer;
use crate::project::Project;
use crate::user_error;

/// Names are a part of a database name (63 bytes at most with the prefix) and of a file name.
const MAX_NAME: usize = 40;
const DB_PREFIX: &str = "pyenvx_snapshot_";
/// A snapshot's ready copy, renamed into place by a restore.
const SPARE_PREFIX: &str = "pyenvx_spare_";

/// One snapshot, as recorded in `.pyenvx/snapshots/db/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    /// When it was taken, UTC, RFC 3339 (as the server's clock said).
    pub created: String,
    /// The same instant in microseconds since the epoch: orders snapshots of the same second.
    pub created_us: i64,
    /// The snapshot database's size on disk.
    pub size_bytes: u64,
    /// The major of the server that holds it.
    pub major: u32,
    pub backend: BackendKind,
    /// Records from before MariaDB are PostgreSQL's.
    #[serde(default)]
    pub engine: DbEngine,
    /// The database inside the cluster that holds the copy.
    pub database: String,
}

/// `.pyenvx/snapshots/db/`.
pub fn dir(project: &Project) -> PathBuf {
    project
        .state_dir()
        .join("snapshots")
        .join(super::config::DB)
}

pub fn record_path(project: &Project, name: &str) -> PathBuf {
    dir(project).join(format!("{name}.json"))
}

/// The database a snapshot called `name` lives in.
pub fn database_name(name: &str) -> String {
    format!("{DB_PREFIX}{name}")
}

/// The ready copy of snapshot `name` that a restore renames into place.
pub fn spare_name(name: &str) -> String {
    format!("{SPARE_PREFIX}{name}")
}

/// MariaDB: written once a snapshot's ready copy is complete, removed before a restore uses it
/// (a copy of many tables is not one statement, so its schema existing says nothing).
pub fn spare_ready_path(project: &Project, name: &str) -> PathBuf {
    dir(project).join(format!("{name}.spare-ready"))
}

/// Held by the background work (dropping what a restore replaced, making spares) and by every
/// restore, take and removal, so they never meet halfway.
pub fn background_lock(project: &Project) -> Result<crate::filelock::FileLock> {
    crate::fs::owned_dirs(&project.root, &dir(project))?;
    crate::filelock::FileLock::acquire(&dir(project).join("background.lock"), || {})
}

/// Where the background work writes what went wrong.
pub fn background_log(project: &Project) -> PathBuf {
    dir(project).join("background.log")
}

/// Lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 40.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        // The subcommands of `db snapshot`.
        && !matches!(name, "list" | "restore" | "rm" | "prepare");
    if ok {
        Ok(())
    } else {
        Err(user_error!(
            hint = format!("use lower-case letters, digits, `-` and `_`, at most {MAX_NAME} characters, e.g. `before-migration`"),
            "`{name}` is not a snapshot name"
        ))
    }
}

/// Every recorded snapshot, oldest first.
pub fn list(project: &Project) -> Result<Vec<Snapshot>> {
    let dir = dir(project);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = fs_err::read_to_string(&path)?;
        let snap: Snapshot = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a snapshot record", path.display()))?;
        out.push(snap);
    }
    out.sort_by(|a, b| (a.created_us, &a.name).cmp(&(b.created_us, &b.name)));
    Ok(out)
}

/// The snapshot called `name`, or the newest with `None`.
pub fn find(project: &Project, name: Option<&str>) -> Result<Snapshot> {
    let all = list(project)?;
    let found = match name {
        Some(n) => all.into_iter().find(|s| s.name == n),
        None => all.into_iter().next_back(),
    };
    found.ok_or_else(|| match name {
        Some(n) => user_error!(
            hint = "`pyenvx db snapshot list` shows the snapshots",
            "no snapshot called `{n}`"
        ),
        None => user_error!(
            hint = "`pyenvx db snapshot` takes one",
            "this project has no snapshot"
        ),
    })
}

fn session(identity: &Identity) -> Result<super::pgwire::Connection> {
    transfer::admin_session(identity)
}

fn first(rows: Vec<Vec<Option<String>>>) -> Option<String> {
    rows.into_iter().next()?.into_iter().next()?
}

/// Copy the project's database into a new snapshot (the caller holds the lock and checked that
/// the server runs).
pub fn take(
    project: &Project,
    identity: &Identity,
    major: u32,
    backend: BackendKind,
    name: Option<&str>,
) -> Result<Snapshot> {
    let mut admin = session(identity)?;
    // The moment the copy starts is the snapshot's; the server's clock, as the data's.
    let now_row = admin
        .query(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD-HH24MISS'), \
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    (extract(epoch FROM now()) * 1000000)::bigint",
        )?
        .into_iter()
        .next()
        .context("the server did not say what time it is")?;
    let clock = |i: usize| now_row.get(i).cloned().flatten().unwrap_or_default();
    let name = name.map_or_else(|| clock(0), str::to_string);
    check_name(&name)?;
    check_free(project, &name)?;
    let db = &identity.credentials.database;
    let snap_db = database_name(&name);
    // A database without its record is what a killed snapshot leaves: not a snapshot. Nor is
    // its spare, which a removal killed halfway may have left.
    let _background = background_lock(project)?;
    transfer::drop_db(identity, major, &snap_db)?;
    transfer::drop_db(identity, major, &spare_name(&name))?;
    // Two statements: CREATE DATABASE cannot share an implicit transaction.
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
           WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    );
    let copy = format!(
        "CREATE DATABASE \"{snap_db}\" TEMPLATE \"{db}\"{}",
        transfer::copy_strategy(major)
    );
    // A client reconnecting between the terminate and the copy: "being accessed by other
    // users". Ending it again is what the user asked for by taking a snapshot.
    super::pgwire::while_in_use(Duration::from_secs(1), Duration::from_millis(200), || {
        admin.query(&terminate)?;
        transfer::run_copy(&mut admin, major, &copy)
    })
    .with_context(|| format!("cannot copy {db} into a snapshot"))?;
    let recorded = (|| -> Result<Snapshot> {
        admin.query(&format!(
            "ALTER DATABASE \"{snap_db}\" ALLOW_CONNECTIONS false"
        ))?;
        let size = first(admin.query(&format!("SELECT pg_database_size('{snap_db}')"))?)
            .unwrap_or_default();
        let snap = Snapshot {
            name: name.clone(),
            created: clock(1),
            created_us: clock(2).parse().unwrap_or(0),
            size_bytes: size.parse().unwrap_or(0),
            major,
            backend,
            engine: DbEngine::Postgres,
            database: snap_db.clone(),
        };
        record(project, &snap)?;
        Ok(snap)
    })();
    if recorded.is_err() {
        let _ = transfer::drop_db(identity, major, &snap_db);
    }
    recorded
}

/// Write a snapshot's record.
pub fn record(project: &Project, snap: &Snapshot) -> Result<()> {
    crate::fs::owned_dirs(&project.root, &dir(project))?;
    crate::fs::write_atomic(
        &record_path(project, &snap.name),
        serde_json::to_string_pretty(snap)?.as_bytes(),
    )
}

/// A user error unless no snapshot called `name` is recorded.
pub fn check_free(project: &Project, name: &str) -> Result<()> {
    if record_path(project, name).exists() {
        return Err(user_error!(
            hint = format!("choose another name, or `pyenvx db snapshot rm {name}` first"),
            "a snapshot called `{name}` exists"
        ));
    }
    Ok(())
}

/// Refuse a snapshot that does not belong to the server now running.
pub fn check_restorable(
    snap: &Snapshot,
    engine: DbEngine,
    major: u32,
    backend: BackendKind,
) -> Result<()> {
    if snap.engine != engine {
        return Err(user_error!(
            hint = format!(
                "it lives in the {} server: set `engine = \"{}\"` in [services.db] to restore it there",
                snap.engine.title(),
                snap.engine
            ),
            "snapshot `{}` was taken with {}, and this project's database is {}",
            snap.name,
            snap.engine.title(),
            engine.title()
        ));
    }
    if engine == DbEngine::Postgres && snap.major != major {
        return Err(user_error!(
            hint = format!(
                "it lives in the PostgreSQL {0} cluster: set `version = \"{0}\"` in [services.db] to restore it there, then move the data with `pyenvx db dump` / `db restore`",
                snap.major
            ),
            "snapshot `{}` was taken with PostgreSQL {}, and this project's database is PostgreSQL {major}",
            snap.name,
            snap.major
        ));
    }
    if snap.backend != backend {
        return Err(user_error!(
            hint = format!(
                "`pyenvx db down`, then `pyenvx db up --backend {}` to restore it there",
                snap.backend
            ),
            "snapshot `{}` was taken with the {} backend, and the database runs with the {backend} backend",
            snap.name,
            snap.backend
        ));
    }
    Ok(())
}

/// The error of a snapshot whose database is no longer on the server.
pub(super) fn gone(snap: &Snapshot) -> anyhow::Error {
    user_error!(
        hint = format!(
            "`pyenvx db snapshot rm {}` forgets it; nothing was changed",
            snap.name
        ),
        "snapshot `{}` is gone from the database server (its database {} does not exist)",
        snap.name,
        snap.database
    )
}

fn exists(admin: &mut super::pgwire::Connection, database: &str) -> Result<bool> {
    Ok(first(admin.query(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{database}'"
    ))?)
    .is_some_and(|n| n != "0"))
}

/// How a restore went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// The spare was renamed into place (else the snapshot was copied).
    pub renamed: bool,
    /// Sessions on the project's database that were ended.
    pub ended: u64,
}

/// Put the snapshot's copy in place of the project's database (the caller holds the lock and
/// checked the snapshot with [`check_restorable`]): its spare by rename when there is one,
/// else a fresh copy. The caller starts the background work afterwards, which makes the next
/// spare.
pub fn restore(project: &Project, identity: &Identity, snap: &Snapshot) -> Result<Restored> {
    // Waits for background work still making this spare.
    let _background = background_lock(project)?;
    let mut admin = session(identity)?;
    if !exists(&mut admin, &snap.database)? {
        return Err(gone(snap));
    }
    let spare = spare_name(&snap.name);
    if exists(&mut admin, &spare)? {
        let ended = transfer::swap_from(identity, snap.major, &spare, transfer::Swap::Spare)?;
        return Ok(Restored {
            renamed: true,
            ended,
        });
    }
    transfer::create_scratch_from(identity, snap.major, Some(&snap.database))
        .with_context(|| format!("cannot copy snapshot `{}`; nothing was changed", snap.name))?;
    let scratch = transfer::scratch_name(&identity.credentials.database);
    let ended = transfer::swap_from(identity, snap.major, &scratch, transfer::Swap::Scratch)?;
    Ok(Restored {
        renamed: false,
        ended,
    })
}

/// The background work after a take or a restore: drop the database a restore replaced, and
/// make the spare of every snapshot of this server that lacks one.
pub fn prepare(
    project: &Project,
    identity: &Identity,
    major: u32,
    backend: BackendKind,
) -> Result<()> {
    let _background = background_lock(project)?;
    transfer::drop_db(
        identity,
        major,
        &transfer::old_name(&identity.credentials.database),
    )?;
    let mut admin = session(identity)?;
    // Read under the lock: a removal that came first has dropped its record.
    for snap in list(project)? {
        if snap.engine != DbEngine::Postgres || snap.major != major || snap.backend != backend {
            continue;
        }
        let spare = spare_name(&snap.name);
        if !exists(&mut admin, &snap.database)? || exists(&mut admin, &spare)? {
            continue;
        }
        // One statement: the spare is complete or absent, whenever this process is killed.
        transfer::run_copy(
            &mut admin,
            major,
            &format!(
                "CREATE DATABASE \"{spare}\" TEMPLATE \"{}\"{}",
                snap.database,
                transfer::copy_strategy(major)
            ),
        )
        .with_context(|| format!("cannot make the ready copy of snapshot `{}`", snap.name))?;
    }
    Ok(())
}

/// Delete the snapshot's database and its spare, then its record.
pub fn remove(project: &Project, identity: &Identity, snap: &Snapshot) -> Result<()> {
    let _background = background_lock(project)?;
    transfer::drop_db(identity, snap.major, &spare_name(&snap.name))?;
    transfer::drop_db(identity, snap.major, &snap.database)?;
    fs_err::remove_file(record_path(project, &snap.name))?;
    Ok(())
}

/// Forget the snapshots of `engine` (its server's data was deleted); another engine's, in a
/// server that still has them, stay listed.
pub fn forget_engine(project: &Project, engine: DbEngine) -> Result<()> {
    let dir = dir(project);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let other = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Snapshot>(&t).ok())
            .is_some_and(|s| s.engine != engine);
        if !other {
            fs_err::remove_file(&path)?;
        }
    }
    // Only when nothing is left.
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "before-migration", "20261201-233500", "x_1"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "list",
            "-x",
            "A",
            "a b",
            "a/b",
            "a.json",
            &"x".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(database_name(&"x".repeat(MAX_NAME)).len() <= 63);
        assert_eq!(database_name("before-x"), "pyenvx_snapshot_before-x");
    }

    fn snap(major: u32, backend: BackendKind) -> Snapshot {
        Snapshot {
            name: "s".into(),
            created: String::new(),
            created_us: 0,
            size_bytes: 0,
            major,
            backend,
            engine: DbEngine::Postgres,
            database: database_name("s"),
        }
    }

    #[test]
    fn another_major_or_backend_is_refused() {
        let pg = DbEngine::Postgres;
        check_restorable(&snap(15, BackendKind::Native), pg, 15, BackendKind::Native).unwrap();
        let err = check_restorable(&snap(14, BackendKind::Native), pg, 15, BackendKind::Native)
            .unwrap_err();
        assert!(format!("{err:#}").contains("PostgreSQL 14"), "{err:#}");
        assert!(check_restorable(
            &snap(15, BackendKind::Container),
            pg,
            15,
            BackendKind::Native
        )
        .is_err());
        // Another engine's snapshot is in another server; MariaDB's are not tied to a major.
        let err = check_restorable(
            &snap(15, BackendKind::Native),
            DbEngine::Mariadb,
            10,
            BackendKind::Native,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("taken with PostgreSQL"),
            "{err:#}"
        );
        let maria = Snapshot {
            engine: DbEngine::Mariadb,
            ..snap(10, BackendKind::Native)
        };
        check_restorable(&maria, DbEngine::Mariadb, 11, BackendKind::Native).unwrap();
    }
}
