//! `db dump` and `db restore`: the sequences that keep the user's data whatever fails, the same
//! for every backend. The backends only run the clients (`pg_dump`, `pg_restore`, `psql`).
//!
//! Decisions and why:
//! * A dump is written to a temporary file beside the target (mode 0600: it holds every row),
//!   fsynced, and renamed over the target only once complete: a killed or failed `pg_dump`
//!   never costs the previous backup. An existing target is replaced only with `--force`.
//! * A restore never drops anything first. The file is checked (not empty, an archive
//!   `pg_restore --list` can read), then loaded into a scratch database `<db>_pyenvx_restore`;
//!   only when the load succeeded are the names swapped in one transaction (old → `<db>_pyenvx_old`,
//!   scratch → `<db>`) and the old database dropped. A failed load drops the scratch database and
//!   leaves the project's untouched.
//! * A SQL script runs with `ON_ERROR_STOP=1` in a single transaction: an error on any line
//!   is a failed load, not half a database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::credentials::Identity;
use super::postgres::DumpKind;
use crate::user_error;

/// PostgreSQL truncates identifiers to 63 bytes; the suffix must survive.
const MAX_IDENT: usize = 63;

/// `<db><suffix>`, shortened so that the whole name stays a distinct identifier.
pub fn aside_name(db: &str, suffix: &str) -> String {
    let keep = MAX_IDENT.saturating_sub(suffix.len()).min(db.len());
    format!("{}{suffix}", &db[..keep])
}

/// The scratch database a restore loads into.
pub fn scratch_name(db: &str) -> String {
    aside_name(db, "_pyenvx_restore")
}

/// The name the replaced database has between the swap and its drop.
pub fn old_name(db: &str) -> String {
    aside_name(db, "_pyenvx_old")
}

/// Refuse what cannot be a dump before anything is touched: a missing or empty file, a SQL
/// script with nothing in it. Archives are further checked by the backend (`pg_restore --list`).
pub fn check_file(file: &Path, shown: &Path) -> Result<DumpKind> {
    check_file_of(file, shown, "pg_dump")
}

/// [`check_file`], the hints naming `writer`, the engine's own dump program.
pub fn check_file_of(file: &Path, shown: &Path, writer: &str) -> Result<DumpKind> {
    let hint = format!(
        "give a file written by `pyenvx db dump` or {writer}; the database was not touched"
    );
    let meta = std::fs::metadata(file)
        .map_err(|e| user_error!(hint = hint.clone(), "cannot read {}: {e}", shown.display()))?;
    if meta.is_file() && meta.len() == 0 {
        return Err(user_error!(
            hint = hint.clone(),
            "{} is empty: there is nothing to restore",
            shown.display()
        ));
    }
    if meta.is_dir() && writer != "pg_dump" {
        return Err(user_error!(
            hint = hint.clone(),
            "{} is a directory: there is nothing to restore",
            shown.display()
        ));
    }
    let kind = DumpKind::of(file)?;
    if kind == DumpKind::Sql {
        let text = fs_err::read(file)?;
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(user_error!(
                hint = hint,
                "{} holds no SQL: there is nothing to restore",
                shown.display()
            ));
        }
    }
    Ok(kind)
}

/// The error for an archive `pg_restore --list` cannot read.
pub fn unreadable_archive(shown: &Path, detail: &str) -> anyhow::Error {
    user_error!(
        hint = "the database was not touched; give a complete file written by `pyenvx db dump` or pg_dump",
        "{} is not a readable pg_dump archive:\n{}",
        shown.display(),
        detail.trim()
    )
}

/// Run a client program (either engine's) to completion and return its stdout; a failure
/// becomes the error `fail` makes of (what, status, stderr).
pub(super) fn run_client(
    mut cmd: Command,
    what: &str,
    fail: fn(&str, std::process::ExitStatus, &str) -> anyhow::Error,
) -> Result<String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        return Err(fail(
            what,
            out.status,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The error for a load into the scratch database that failed; [`after_failed_load`] says
/// whether the scratch database is gone.
pub fn load_failed(what: &str, status: impl std::fmt::Display, detail: &str) -> anyhow::Error {
    user_error!("{what} failed ({status}):\n{}", detail.trim())
}

/// A failed load's error, with the hint saying what is true once the scratch database was
/// dropped (`dropped`) or could not be.
pub fn after_failed_load(err: anyhow::Error, dropped: Result<()>, scratch: &str) -> anyhow::Error {
    let hint = match dropped {
        Ok(()) => "the database was not changed: the file was loaded into a scratch database, now dropped".to_string(),
        Err(e) => format!(
            "the database was not changed, but the scratch database {scratch} it was loaded into could not be dropped ({e:#}); \
             the next `pyenvx db restore` drops it, or `DROP DATABASE {scratch}` in `pyenvx db shell`"
        ),
    };
    with_hint(err, hint)
}

/// `err` with `hint` in place of the hint it had.
fn with_hint(mut err: anyhow::Error, hint: String) -> anyhow::Error {
    if let Some(u) = err.downcast_mut::<crate::error::UserError>() {
        u.hint = Some(hint);
        return err;
    }
    let message = format!("{err}");
    err.context(crate::error::UserError::new(message).hint(hint))
}

/// The error for a restore that is done while `leftover` (the replaced data or the scratch
/// database) could not be dropped.
pub fn leftover_error(err: anyhow::Error, leftover: &str) -> anyhow::Error {
    with_hint(
        err.context(format!("restored, but {leftover} is still there")),
        format!(
            "the project's database holds the restored data; the next `pyenvx db restore` drops {leftover}, \
             or `DROP DATABASE {leftover}` in `pyenvx db shell` frees its space now"
        ),
    )
}

/// The error for a dump that failed; the target file is as it was.
pub fn dump_failed(what: &str, status: impl std::fmt::Display, detail: &str) -> anyhow::Error {
    user_error!(
        hint = "the file was not written (an existing one is unchanged); `pyenvx db logs` shows the server's side",
        "{what} failed ({status}):\n{}",
        detail.trim()
    )
}

/// Whether the project's database holds anything a restore would replace: a table, view,
/// sequence or index outside the system schemas, or a schema besides `public`.
pub fn has_data(identity: &Identity) -> Result<bool> {
    let mut conn = match identity.connect(None, Duration::from_secs(10)) {
        Ok(c) => c,
        // The project's database does not exist: nothing to lose.
        Err(super::pgwire::ConnectError::Rejected { code, .. })
            if code == super::pgwire::SqlState::INVALID_CATALOG_NAME =>
        {
            return Ok(false)
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot connect to the database")),
    };
    let rows = conn.query(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_%') \
              + (SELECT count(*) FROM pg_namespace \
                 WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%')",
    )?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .is_some_and(|n| n != "0"))
}

/// An administrative session on the cluster's `postgres` database.
fn admin(identity: &Identity) -> Result<super::pgwire::Connection> {
    identity
        .connect(Some("postgres"), Duration::from_secs(10))
        .map_err(|e| anyhow::Error::new(e).context("cannot connect to the database server"))
}

/// `DROP DATABASE IF EXISTS`, ending other sessions first.
fn drop_database(admin: &mut super::pgwire::Connection, major: u32, name: &str) -> Result<()> {
    if major >= 13 {
        admin.query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
    } else {
        admin.query(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))?;
        admin.query(&format!("DROP DATABASE IF EXISTS \"{name}\""))?;
    }
    Ok(())
}

/// Make an empty scratch database for a restore (dropping one an interrupted restore left) and
/// return its name.
pub fn create_scratch(identity: &Identity, major: u32) -> Result<String> {
    create_scratch_from(identity, major, None)
}

/// Make the scratch database for a restore as a copy of `template` (a snapshot), or empty, and
/// return its name. [`swap_in`] then puts it in place.
pub fn create_scratch_from(
    identity: &Identity,
    major: u32,
    template: Option<&str>,
) -> Result<String> {
    let db = &identity.credentials.database;
    let scratch = scratch_name(db);
    let mut admin = admin(identity)?;
    drop_database(&mut admin, major, &scratch)?;
    drop_database(&mut admin, major, &old_name(db))?;
    let sql = match template {
        None => format!("CREATE DATABASE \"{scratch}\""),
        Some(t) => format!(
            "CREATE DATABASE \"{scratch}\" TEMPLATE \"{t}\"{}",
            copy_strategy(major)
        ),
    };
    run_copy(&mut admin, major, &sql)
        .context("cannot create the scratch database for the restore")?;
    Ok(scratch)
}

/// The clause that makes `CREATE DATABASE … TEMPLATE` copy files instead of writing every
/// block to the WAL (PostgreSQL 15's default, many times slower for a large database).
pub fn copy_strategy(major: u32) -> &'static str {
    if major >= 15 {
        " STRATEGY = FILE_COPY"
    } else {
        ""
    }
}

/// Run `sql`, a `CREATE DATABASE … TEMPLATE … STRATEGY = FILE_COPY`, with PostgreSQL 18's
/// `file_copy_method = clone` where the server offers it: on Linux that is `copy_file_range`,
/// which reflinks on filesystems that can (Btrfs, XFS) and copies in the kernel elsewhere. A
/// server that cannot clone a file copies it as before.
pub fn run_copy(admin: &mut super::pgwire::Connection, major: u32, sql: &str) -> Result<()> {
    if major < 18 {
        return admin.query(sql).map(drop);
    }
    // Unknown to a build without copy_file_range: it then copies, as it would anyway.
    let _ = admin.query("SET file_copy_method = clone");
    match admin.query(sql) {
        Err(e) if format!("{e:#}").contains("could not clone") => {
            admin.query("SET file_copy_method = copy")?;
            admin.query(sql).map(drop)
        }
        other => other.map(drop),
    }
}

/// An administrative session on the server, for operations across databases.
pub fn admin_session(identity: &Identity) -> Result<super::pgwire::Connection> {
    admin(identity)
}

/// `DROP DATABASE IF EXISTS name`, ending its sessions first.
pub fn drop_db(identity: &Identity, major: u32, name: &str) -> Result<()> {
    drop_database(&mut admin(identity)?, major, name)
}

/// Drop the scratch database after a failed load.
pub fn discard_scratch(identity: &Identity, major: u32) -> Result<()> {
    let mut admin = admin(identity)?;
    drop_database(
        &mut admin,
        major,
        &scratch_name(&identity.credentials.database),
    )
}

/// Put the loaded scratch database in the project database's place, then drop the old one.
/// Other sessions on the project's database are ended in the same transaction as the renames;
/// one that reconnects in between makes the rename fail, and the swap is tried again.
pub fn swap_in(identity: &Identity, major: u32) -> Result<()> {
    let scratch = scratch_name(&identity.credentials.database);
    swap_from(identity, major, &scratch, Swap::Scratch)?;
    Ok(())
}

/// What [`swap_from`] puts in place, which decides what happens around the renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// A scratch database made for this restore: dropped when the swap fails, and the replaced
    /// database dropped once it succeeded.
    Scratch,
    /// A snapshot's ready copy: kept when the swap fails (it is still the snapshot's), and the
    /// replaced database left as `<db>_pyenvx_old` for the background work to drop, so the
    /// command returns after the renames alone.
    Spare,
}

/// Rename `source` into the project database's place (the old one becomes `<db>_pyenvx_old`),
/// in one transaction with the ending of the sessions on both. Returns the sessions ended.
pub fn swap_from(identity: &Identity, major: u32, source: &str, kind: Swap) -> Result<u64> {
    let db = &identity.credentials.database;
    let old = old_name(db);
    let mut admin = admin(identity)?;
    let exists = !admin
        .query(&format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"))?
        .is_empty();
    if exists {
        // What an interrupted swap, or a spare swap whose leftover was not dropped yet, left.
        drop_database(&mut admin, major, &old)?;
    }
    let swap = if exists {
        format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
               WHERE datname IN ('{db}', '{source}') AND pid <> pg_backend_pid(); \
             ALTER DATABASE \"{db}\" RENAME TO \"{old}\"; \
             ALTER DATABASE \"{source}\" RENAME TO \"{db}\""
        )
    } else {
        format!("ALTER DATABASE \"{source}\" RENAME TO \"{db}\"")
    };
    // Several statements in one simple query run as one implicit transaction; the rows are
    // those of the first statement (the renames return none).
    let swapped =
        super::pgwire::while_in_use(Duration::from_secs(1), Duration::from_millis(200), || {
            admin.query(&swap)
        });
    let ended: u64 = match swapped {
        Ok(rows) => rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0),
        Err(e) => {
            if kind == Swap::Scratch {
                let _ = drop_database(&mut admin, major, source);
            }
            return Err(e.context(format!(
                "cannot put the restored database in place of {db} (it is unchanged)"
            )));
        }
    };
    if exists && kind == Swap::Scratch {
        drop_database(&mut admin, major, &old)
            .map_err(|e| leftover_error(e, &format!("the old database {old}")))?;
    }
    Ok(ended)
}

/// A dump file that passed the checks a restore makes before touching anything.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub file: PathBuf,
    /// PostgreSQL: an archive or a script. MariaDB's dumps are always scripts.
    pub kind: DumpKind,
    /// The project's database holds tables (or schemas) the restore would replace.
    pub replaces_data: bool,
}

/// PostgreSQL's checks for `db restore`: not empty, an archive `check_archive` (the backend's
/// `pg_restore --list`) reads or a SQL script; and whether there is data it would replace.
pub fn pg_check_restore(
    identity: &Identity,
    file: &Path,
    shown: &Path,
    check_archive: impl FnOnce(DumpKind) -> Result<()>,
) -> Result<RestorePlan> {
    let kind = check_file(file, shown)?;
    if kind == DumpKind::Sql {
        super::script::pg_split(&fs_err::read(file)?).map_err(|r| meta_refused(shown, &r))?;
    } else {
        check_archive(kind)?;
    }
    Ok(RestorePlan {
        file: file.to_path_buf(),
        kind,
        replaces_data: has_data(identity)?,
    })
}

/// PostgreSQL's restore: `load` (the backend's client) fills a scratch database, which takes the
/// project database's place only when the load succeeded.
pub fn pg_restore(
    identity: &Identity,
    major: u32,
    load: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    let scratch = create_scratch(identity, major)?;
    if let Err(e) = load(&scratch) {
        return Err(after_failed_load(
            e,
            discard_scratch(identity, major),
            &scratch,
        ));
    }
    swap_in(identity, major)
}

/// Load a SQL script into `database` (the scratch database) over one connection, in one
/// transaction, statement by statement: no psql, so no meta-command and no other database
/// (see [`super::script`]).
pub fn pg_load_script(identity: &Identity, database: &str, file: &Path) -> Result<()> {
    use super::script::{pg_split, Piece};
    let text = fs_err::read(file)?;
    let pieces = pg_split(&text).map_err(|r| meta_refused(file, &r))?;
    let mut conn = identity
        .connect(Some(database), Duration::from_secs(10))
        .map_err(|e| anyhow::Error::new(e).context("cannot connect to the scratch database"))?;
    let fail = |line: usize, chunk: &[u8], (message, position): (String, Option<u32>)| {
        // The server counts characters from 1 in what it was sent.
        let at = position.map_or(line, |p| {
            let before: String = String::from_utf8_lossy(chunk)
                .chars()
                .take(p.saturating_sub(1) as usize)
                .collect();
            line + before.matches('\n').count()
        });
        load_failed(
            &format!("the SQL at line {at} of {}", file.display()),
            "the load stopped there",
            &message,
        )
    };
    let utf8 = |range: std::ops::Range<usize>, line: usize| {
        std::str::from_utf8(&text[range]).map_err(|_| {
            load_failed(
                &format!("the SQL at line {line} of {}", file.display()),
                "not UTF-8",
                "pyenvx loads UTF-8 scripts; convert it with iconv",
            )
        })
    };
    conn.execute_batch("BEGIN").map_err(|e| fail(1, b"", e))?;
    // Statements go in batches of about a megabyte: one round trip each would make a script
    // of INSERTs slow.
    let mut batch: Option<(std::ops::Range<usize>, usize)> = None;
    let flush = |conn: &mut super::pgwire::Connection,
                 batch: &mut Option<(std::ops::Range<usize>, usize)>|
     -> Result<()> {
        if let Some((range, line)) = batch.take() {
            let sql = utf8(range.clone(), line)?;
            conn.execute_batch(sql)
                .map_err(|e| fail(line, sql.as_bytes(), e))?;
        }
        Ok(())
    };
    for piece in pieces {
        match piece {
            Piece::Sql { text: range, line } => {
                batch = Some(match batch.take() {
                    Some((b, l)) if range.start == b.end && b.len() < (1 << 20) => {
                        (b.start..range.end, l)
                    }
                    Some(b) => {
                        flush(&mut conn, &mut Some(b))?;
                        (range, line)
                    }
                    None => (range, line),
                });
            }
            Piece::Copy { stmt, data, line } => {
                flush(&mut conn, &mut batch)?;
                let sql = utf8(stmt, line)?;
                conn.copy_in(sql, &text[data])
                    .map_err(|e| fail(line, b"", e))?;
            }
        }
    }
    flush(&mut conn, &mut batch)?;
    conn.execute_batch("COMMIT")
        .map_err(|e| fail(1 + text.iter().filter(|&&b| b == b'\n').count(), b"", e))
}

/// The error for a script holding a psql meta-command or a statement beyond its database.
pub fn meta_refused(shown: &Path, refused: &super::script::Refused) -> anyhow::Error {
    let why = if refused.what.starts_with('\\') {
        "is a psql command, which a restore does not run"
    } else {
        "reaches beyond the database being restored"
    };
    user_error!(
        hint = "the database was not touched; pyenvx runs a script's SQL only, in the scratch database: \
                remove the line, or dump without -C (`pyenvx db dump` writes a file that restores)",
        "{} line {}: `{}` {why}",
        shown.display(),
        refused.line,
        refused.what
    )
}

/// A temporary file beside `target` (mode 0600) that [`DumpTarget::commit`] renames over it.
pub struct DumpTarget {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    replace: bool,
}

impl DumpTarget {
    /// Refuse an existing `target` unless `replace`; create the temporary file beside it.
    pub fn new(target: &Path, shown: &Path, replace: bool) -> Result<Self> {
        if std::fs::symlink_metadata(target).is_ok() {
            if !replace {
                return Err(exists_error(shown));
            }
            not_a_file(target, shown)?;
        }
        let dir = target.parent().context("the dump file has no directory")?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // NamedTempFile is created 0600: a dump holds every row, passwords' hashes included.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            replace,
        })
    }

    /// The open temporary file, for a client's output.
    pub fn file(&self) -> Result<std::fs::File> {
        Ok(self.tmp.as_file().try_clone()?)
    }

    /// The temporary file's path, for a client that writes the file itself.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// fsync the dump, move it into place, fsync the directory.
    pub fn commit(self, shown: &Path) -> Result<()> {
        self.tmp
            .as_file()
            .sync_all()
            .context("cannot flush the dump to disk")?;
        let persisted = if self.replace {
            // What is there may have changed since `new` looked.
            if std::fs::symlink_metadata(&self.target).is_ok() {
                not_a_file(&self.target, shown)?;
            }
            self.tmp.persist(&self.target).map(|_| ())
        } else {
            // A link, not a rename: a file that appeared meanwhile is not replaced either.
            self.tmp.persist_noclobber(&self.target).map(|_| ())
        };
        if let Err(e) = persisted {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(exists_error(shown));
            }
            return Err(anyhow::Error::new(e.error)
                .context(format!("cannot write {}", self.target.display())));
        }
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// `--force` replaces a regular file (or a link to one), never a device, a directory or a pipe:
/// run as root, a rename over `/dev/null` would replace the device node itself.
fn not_a_file(target: &Path, shown: &Path) -> Result<()> {
    match std::fs::metadata(target) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => {
            let ft = meta.file_type();
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_dir() {
                "a directory"
            } else if ft.is_char_device() || ft.is_block_device() {
                "a device"
            } else if ft.is_fifo() {
                "a pipe"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            };
            Err(user_error!(
                hint = "--force replaces only a regular file; choose a file name",
                "{} is {kind}: not replaced",
                shown.display()
            ))
        }
        // A link to nothing: replacing the link loses nothing.
        Err(_) => Ok(()),
    }
}

fn exists_error(shown: &Path) -> anyhow::Error {
    user_error!(
        hint = "pass --force to replace it (only once the new dump is complete), or choose another name",
        "{} exists",
        shown.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aside_names_stay_distinct_identifiers() {
        assert_eq!(scratch_name("lib"), "lib_pyenvx_restore");
        assert_eq!(old_name("lib"), "lib_pyenvx_old");
        let long = "x".repeat(63);
        assert_eq!(scratch_name(&long).len(), 63);
        assert!(scratch_name(&long).ends_with("_pyenvx_restore"));
        assert_ne!(scratch_name(&long), old_name(&long));
    }

    #[test]
    fn empty_and_blank_files_are_refused() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let empty = tmp.path().join("empty.dump");
        fs_err::write(&empty, "").unwrap();
        let err = format!("{:#}", check_file(&empty, &empty).unwrap_err());
        assert!(err.contains("is empty"), "{err}");
        let blank = tmp.path().join("blank.sql");
        fs_err::write(&blank, "\n  \n").unwrap();
        let err = format!("{:#}", check_file(&blank, &blank).unwrap_err());
        assert!(err.contains("holds no SQL"), "{err}");
        let missing = tmp.path().join("missing.sql");
        assert!(check_file(&missing, &missing).is_err());
        let sql = tmp.path().join("a.sql");
        fs_err::write(&sql, "select 1;\n").unwrap();
        assert_eq!(check_file(&sql, &sql).unwrap(), DumpKind::Sql);
    }

    #[test]
    fn dump_targets_replace_only_when_told_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = crate::test_machine::tempdir().unwrap();
        let target = tmp.path().join("a.dump");
        fs_err::write(&target, "old").unwrap();
        assert!(DumpTarget::new(&target, &target, false).is_err());
        let t = DumpTarget::new(&target, &target, true).unwrap();
        std::io::Write::write_all(&mut t.file().unwrap(), b"new").unwrap();
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "old");
        t.commit(&target).unwrap();
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "new");
        let mode = fs_err::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Dropped without commit: nothing left behind.
        let other = tmp.path().join("b.dump");
        drop(DumpTarget::new(&other, &other, false).unwrap());
        assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn force_replaces_only_regular_files() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let dev = Path::new("/dev/null");
        let err = format!("{:#}", DumpTarget::new(dev, dev, true).err().unwrap());
        assert!(err.contains("is a device"), "{err}");
        let err = format!(
            "{:#}",
            DumpTarget::new(tmp.path(), tmp.path(), true).err().unwrap()
        );
        assert!(err.contains("is a directory"), "{err}");
        // A link to a device is no better.
        let link = tmp.path().join("null.dump");
        std::os::unix::fs::symlink(dev, &link).unwrap();
        assert!(DumpTarget::new(&link, &link, true).is_err());
        // A link to a regular file is replaced (the link, not the file).
        let file = tmp.path().join("real.dump");
        fs_err::write(&file, "old").unwrap();
        let link = tmp.path().join("to-real.dump");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        DumpTarget::new(&link, &link, true)
            .unwrap()
            .commit(&link)
            .unwrap();
        assert_eq!(fs_err::read_to_string(&file).unwrap(), "old");
    }
}
