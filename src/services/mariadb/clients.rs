//! The MariaDB client programs, logged in as the project, natively or inside the container,
//! and what pyenvx does through them: dumps, the restore's load and swap, snapshot copies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::{client_cnf, data_dir, find_tool, server_user};
use crate::fs::write_private;
use crate::project::Project;
use crate::services::config::{BackendKind, DbConfig, DbEngine};
use crate::services::credentials::Identity;
use crate::services::postgres::DumpKind;
use crate::services::snapshot::{self, Snapshot};
use crate::services::transfer::{self, DumpTarget, RestorePlan};
use crate::user_error;

/// `SELECT`-able string literal.
pub(super) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A quoted identifier.
pub(super) fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Where the client programs run.
pub(super) enum Runner<'a> {
    /// The machine's, logged in through `client.cnf`.
    Native {
        config: &'a DbConfig,
        cnf: PathBuf,
        /// The data directory, for copies of table files.
        data: PathBuf,
    },
    /// The container's own (`<engine> exec`), over its loopback, the password passed through
    /// the engine CLI's environment: the host needs no MariaDB client.
    Exec { engine: PathBuf, container: String },
}

/// The MariaDB client programs, logged in as the project.
pub(super) struct Clients<'a> {
    pub(super) identity: &'a Identity,
    pub(super) runner: Runner<'a>,
}

impl<'a> Clients<'a> {
    /// Write `client.cnf` (0600) from the identity: the port may have moved since last time.
    pub(super) fn new(
        project: &Project,
        config: &'a DbConfig,
        identity: &'a Identity,
    ) -> Result<Self> {
        let c = &identity.credentials;
        let cnf = client_cnf(project);
        let text = format!(
            "# Written by pyenvx before each client it runs; edits are lost.\n\
             [client]\nuser={}\npassword={}\nhost=127.0.0.1\nport={}\nprotocol=TCP\n\
             default-character-set=utf8mb4\n",
            c.user, c.password, identity.port
        );
        if std::fs::read_to_string(&cnf).ok().as_deref() != Some(text.as_str()) {
            write_private(&cnf, text.as_bytes())?;
        }
        Ok(Self {
            identity,
            runner: Runner::Native {
                config,
                cnf,
                data: data_dir(project),
            },
        })
    }

    /// The clients inside `container`.
    pub(super) fn exec(
        engine: &crate::services::engine::Engine,
        container: String,
        identity: &'a Identity,
    ) -> Self {
        Self {
            identity,
            runner: Runner::Exec {
                engine: engine.program.clone(),
                container,
            },
        }
    }

    /// `tool`, logged in as the project, ready for more arguments.
    pub(super) fn command(&self, tool: &str) -> Result<Command> {
        self.command_tty(tool, false)
    }

    pub(super) fn command_tty(&self, tool: &str, tty: bool) -> Result<Command> {
        match &self.runner {
            Runner::Native { config, cnf, .. } => {
                let mut cmd = Command::new(find_tool(config, tool)?);
                // The option must come first.
                cmd.arg(format!("--defaults-file={}", cnf.display()));
                Ok(cmd)
            }
            Runner::Exec { engine, container } => {
                let mut cmd = Command::new(engine);
                cmd.args(["exec", "--interactive"]);
                if tty {
                    cmd.arg("--tty");
                }
                cmd.args(["--env", "MYSQL_PWD"])
                    .env("MYSQL_PWD", &self.identity.credentials.password)
                    .arg(container)
                    .arg(tool)
                    .arg(format!("--user={}", self.identity.credentials.user))
                    .args([
                        "--host=127.0.0.1",
                        "--port=3306",
                        "--protocol=TCP",
                        "--default-character-set=utf8mb4",
                    ]);
                Ok(cmd)
            }
        }
    }

    /// `db shell`: the `mariadb` client in the project's database.
    pub(super) fn shell(&self, args: &[OsString]) -> Result<Command> {
        use std::io::IsTerminal;
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let mut cmd = self.command_tty("mariadb", tty)?;
        cmd.arg(format!("--database={}", self.identity.credentials.database))
            .args(args);
        Ok(cmd)
    }

    /// `mariadb-dump` of the project's database into the dump's temporary file.
    pub(super) fn dump(&self, target: &DumpTarget) -> Result<()> {
        let mut cmd = self.command("mariadb-dump")?;
        // One consistent read of InnoDB tables without locking out the application.
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
        ])
        .arg(&self.identity.credentials.database)
        .stdin(Stdio::null())
        .stdout(Stdio::from(target.file()?));
        transfer::run_client(cmd, "mariadb-dump", transfer::dump_failed).map(drop)
    }

    /// A SQL script, not empty; and whether the project's database holds tables.
    pub(super) fn check_restore(&self, file: &Path, shown: &Path) -> Result<RestorePlan> {
        let kind = transfer::check_file_of(file, shown, "mariadb-dump")?;
        if kind != DumpKind::Sql || has_nul(file)? {
            return Err(user_error!(
                hint = "give a SQL file written by `pyenvx db dump` or mariadb-dump; the database was not touched",
                "{} is not a SQL script (a PostgreSQL archive?): MariaDB loads SQL dumps only",
                shown.display()
            ));
        }
        rewritten(file, shown, &self.identity.credentials.database)?;
        let tables = self.query(&format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {}",
            literal(&self.identity.credentials.database)
        ))?;
        Ok(RestorePlan {
            file: file.to_path_buf(),
            kind,
            replaces_data: tables.trim() != "0",
        })
    }

    /// Run `sql` (in the project's database); returns the rows, tab-separated.
    pub(super) fn query(&self, sql: &str) -> Result<String> {
        let mut cmd = self.command("mariadb")?;
        cmd.args(["--batch", "--skip-column-names", "--execute", sql])
            .arg(format!("--database={}", self.identity.credentials.database))
            .stdin(Stdio::null());
        transfer::run_client(cmd, "mariadb", |what, status, detail| {
            anyhow::anyhow!("{what} failed ({status}): {}", detail.trim())
        })
    }

    pub(super) fn server_version(&self) -> Result<String> {
        Ok(self.query("SELECT VERSION()")?.trim().to_string())
    }
}

/// The script as the restore loads it: statements naming the project's own database blanked,
/// anything reaching beyond the scratch database refused (see `services::script`).
fn rewritten(file: &Path, shown: &Path, db: &str) -> Result<Vec<u8>> {
    crate::services::script::maria_rewrite(&fs_err::read(file)?, db).map_err(|r| {
        user_error!(
            hint = "the database was not touched; a restore loads SQL into the project's own database only: \
                    remove the line, or dump the project's database with `pyenvx db dump`",
            "{} line {}: `{}` reaches beyond the project's database",
            shown.display(),
            r.line,
            r.what
        )
    })
}

/// A NUL byte in the first 64 KiB: a binary file, not a SQL script.
fn has_nul(file: &Path) -> Result<bool> {
    use std::io::Read;
    let mut buf = Vec::new();
    fs_err::File::open(file)?
        .take(64 * 1024)
        .read_to_end(&mut buf)?;
    Ok(buf.contains(&0))
}

/// Objects `RENAME TABLE` cannot carry between databases, in `db`.
pub(super) fn unmovable(clients: &Clients, db: &str) -> Result<u64> {
    let db = literal(db);
    let count = clients.query(&format!(
        "SELECT (SELECT COUNT(*) FROM information_schema.views WHERE table_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = {db}) \
              + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = {db})"
    ))?;
    Ok(count.trim().parse().unwrap_or(0))
}

pub(super) fn tables(clients: &Clients, db: &str) -> Result<Vec<String>> {
    Ok(clients
        .query(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
             AND table_type = 'BASE TABLE' ORDER BY table_name",
            literal(db)
        ))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Drop what an interrupted restore left and make an empty scratch database; its name.
fn fresh_scratch(clients: &Clients) -> Result<String> {
    let db = &clients.identity.credentials.database;
    let scratch = transfer::scratch_name(db);
    clients.query(&format!(
        "DROP DATABASE IF EXISTS {s}; DROP DATABASE IF EXISTS {o}; \
         CREATE DATABASE {s} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        s = ident(&scratch),
        o = ident(&transfer::old_name(db))
    ))?;
    Ok(scratch)
}

fn drop_database(clients: &Clients, name: &str) -> Result<()> {
    clients
        .query(&format!("DROP DATABASE IF EXISTS {}", ident(name)))
        .map(drop)
}

/// Load `file` into a scratch database, then swap it in.
pub(super) fn restore(clients: &Clients, file: &Path) -> Result<()> {
    use std::io::{Seek, Write};
    let script = rewritten(file, file, &clients.identity.credentials.database)?;
    // Unlinked from the start: a copy of every row must not outlive the restore.
    let mut input = tempfile::tempfile().context("cannot make a temporary file")?;
    input.write_all(&script)?;
    input.rewind()?;
    let scratch = fresh_scratch(clients)?;
    let mut load = clients.command("mariadb")?;
    // Binary mode: no client command (`system`, `source`, `connect`, `use`) but DELIMITER.
    // Not `--one-database`: it skips every statement until a `USE` of the scratch database,
    // and `USE` is what the check above refused or blanked.
    load.arg("--binary-mode")
        .arg(format!("--database={scratch}"))
        .stdin(Stdio::from(input))
        .stdout(Stdio::null());
    if let Err(e) = transfer::run_client(load, "mariadb", transfer::load_failed) {
        return Err(transfer::after_failed_load(
            e,
            drop_database(clients, &scratch),
            &scratch,
        ));
    }
    swap_in(clients)
}

/// Put the filled scratch database's tables in place of the project's, in one `RENAME TABLE`
/// (every table moves, or none does), then drop what is left.
fn swap_in(clients: &Clients) -> Result<()> {
    let scratch = transfer::scratch_name(&clients.identity.credentials.database);
    swap_from(clients, &scratch, transfer::Swap::Scratch)
}

/// Move `source`'s tables in place of the project's in one `RENAME TABLE` (the project's go to
/// `<db>_pyenvx_old`). A scratch source is dropped on failure and, with the replaced tables,
/// after success; a snapshot's ready copy is kept on failure, and the replaced tables are left
/// for the background work to drop, so the restore returns after the renames.
fn swap_from(clients: &Clients, source: &str, kind: transfer::Swap) -> Result<()> {
    let db = &clients.identity.credentials.database;
    let old = transfer::old_name(db);
    let discard_source = || {
        if kind == transfer::Swap::Scratch {
            let _ = drop_database(clients, source);
        }
    };
    let (theirs, ours) = (unmovable(clients, source)?, unmovable(clients, db)?);
    if theirs + ours > 0 {
        discard_source();
        return Err(user_error!(
            hint =
                "the database was not changed; load a dump yourself with `pyenvx db shell < FILE`",
            "the new data or the database holds views, triggers, routines or events, which pyenvx \
             cannot swap in safely on MariaDB"
        ));
    }
    // What a restore before this one left for its background work.
    drop_database(clients, &old)?;
    let mut moves = Vec::new();
    for t in tables(clients, db)? {
        moves.push(format!(
            "{}.{} TO {}.{}",
            ident(db),
            ident(&t),
            ident(&old),
            ident(&t)
        ));
    }
    for t in tables(clients, source)? {
        moves.push(format!(
            "{}.{} TO {}.{}",
            ident(source),
            ident(&t),
            ident(db),
            ident(&t)
        ));
    }
    if !moves.is_empty() {
        // A session holding a table open makes the rename wait; give up after a while instead
        // of hanging.
        let swap = format!(
            "CREATE DATABASE IF NOT EXISTS {db_} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; \
             CREATE DATABASE {o}; SET SESSION lock_wait_timeout = 60; RENAME TABLE {}",
            moves.join(", "),
            db_ = ident(db),
            o = ident(&old)
        );
        if let Err(e) = clients.query(&swap) {
            discard_source();
            let _ = drop_database(clients, &old);
            return Err(e.context(format!(
                "cannot put the new tables in place of {db}'s (it is unchanged)"
            )));
        }
    }
    if kind == transfer::Swap::Spare {
        return Ok(());
    }
    clients
        .query(&format!(
            "DROP DATABASE IF EXISTS {}; DROP DATABASE IF EXISTS {}",
            ident(&old),
            ident(source)
        ))
        .map_err(|e| transfer::leftover_error(e, &format!("{old} or {source}")))?;
    Ok(())
}

/// Undo the client's batch escaping of `\n`, `\t`, `\\` and `\0`.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Copy every table of `from` into the new database `to`, inside the server: each table's own
/// definition (`SHOW CREATE TABLE`: indexes, foreign keys, the auto-increment counter), then
/// the data. Natively the data is the tables' own files, moved as transportable tablespaces
/// (`FLUSH TABLES … FOR EXPORT`, a file copy, `IMPORT TABLESPACE`): no row is read or written
/// one by one. Where that cannot be (a container, a table kind InnoDB cannot export), every
/// row is copied in one transaction reading one consistent point in time. No dump either way.
fn copy_database(clients: &Clients, from: &str, to: &str) -> Result<()> {
    if unmovable(clients, from)? > 0 {
        return Err(user_error!(
            hint = "`pyenvx db dump FILE` keeps a copy of it",
            "the database holds views, triggers, routines or events, which MariaDB snapshots do not copy yet"
        ));
    }
    let names = tables(clients, from)?;
    create_like(clients, from, to, &names)?;
    if names.is_empty() {
        return Ok(());
    }
    if let Runner::Native { data, .. } = &clients.runner {
        if copy_tablespaces(clients, data, from, to, &names).is_ok() {
            return Ok(());
        }
        // Start again the slow way, from empty tables.
        drop_database(clients, to)?;
        create_like(clients, from, to, &names)?;
    }
    copy_rows(clients, from, to, &names)
}

/// `CREATE DATABASE to` with every table of `from` as `SHOW CREATE TABLE` gives it.
fn create_like(clients: &Clients, from: &str, to: &str, names: &[String]) -> Result<()> {
    let mut ddl = format!(
        "SET FOREIGN_KEY_CHECKS = 0; \
         CREATE DATABASE {to_} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE {to_};\n",
        to_ = ident(to)
    );
    for t in names {
        let row = clients.query(&format!("SHOW CREATE TABLE {}.{}", ident(from), ident(t)))?;
        let create = row
            .trim_end_matches('\n')
            .split_once('\t')
            .map(|(_, c)| unescape(c))
            .with_context(|| format!("SHOW CREATE TABLE {t} answered {row:?}"))?;
        ddl.push_str(&create);
        ddl.push_str(";\n");
    }
    clients.query(&ddl).map(drop)
}

/// Every row, in one transaction with a consistent snapshot; generated columns compute
/// themselves.
fn copy_rows(clients: &Clients, from: &str, to: &str, names: &[String]) -> Result<()> {
    let columns = clients.query(&format!(
        "SELECT table_name, GROUP_CONCAT(CONCAT('`', REPLACE(column_name, '`', '``'), '`') \
                ORDER BY ordinal_position SEPARATOR ', ') \
         FROM information_schema.columns WHERE table_schema = {} AND extra NOT LIKE '%GENERATED%' \
         GROUP BY table_name",
        literal(from)
    ))?;
    let mut copy = String::from(
        "SET FOREIGN_KEY_CHECKS = 0; SET UNIQUE_CHECKS = 0; \
         START TRANSACTION WITH CONSISTENT SNAPSHOT;\n",
    );
    for line in columns.lines() {
        let Some((table, cols)) = line.split_once('\t') else {
            continue;
        };
        let table = unescape(table);
        if !names.contains(&table) {
            continue; // a view's columns
        }
        copy.push_str(&format!(
            "INSERT INTO {to_}.{t} ({cols}) SELECT {cols} FROM {from_}.{t};\n",
            to_ = ident(to),
            from_ = ident(from),
            t = ident(&table),
        ));
    }
    copy.push_str("COMMIT;");
    clients.query(&copy).map(drop)
}

/// A database or table name as MariaDB names its directory or file: letters, digits and `_`
/// as they are, any other character as `@` and four hex digits.
fn filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("@{:04x}", c as u32)
            }
        })
        .collect()
}

/// Move the data of `names` from `from` to `to` (whose tables exist, empty) as files: the
/// target tablespaces are discarded, `FLUSH TABLES … FOR EXPORT` holds the sources still and
/// consistent while their `.ibd` and `.cfg` files are copied (reflinked where the file system
/// can), then the copies are imported.
fn copy_tablespaces(
    clients: &Clients,
    data: &Path,
    from: &str,
    to: &str,
    names: &[String],
) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let each = |verb: &str| -> String {
        names
            .iter()
            .map(|t| format!("ALTER TABLE {}.{} {verb};\n", ident(to), ident(t)))
            .collect()
    };
    clients.query(&format!(
        "SET FOREIGN_KEY_CHECKS = 0;\n{}",
        each("DISCARD TABLESPACE")
    ))?;
    // One session holds the export lock while the files are copied.
    let mut cmd = clients.command("mariadb")?;
    // Unbuffered: the marker must reach us while the session still holds the lock.
    cmd.args(["--batch", "--skip-column-names", "--unbuffered"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut session = cmd.spawn().context("cannot run mariadb")?;
    let mut input = session.stdin.take().context("no stdin")?;
    let list: Vec<String> = names
        .iter()
        .map(|t| format!("{}.{}", ident(from), ident(t)))
        .collect();
    // A session holding one of the tables would make the flush wait; not for ever.
    writeln!(
        input,
        "SET SESSION lock_wait_timeout = 60; FLUSH TABLES {} FOR EXPORT; SELECT 'pyenvx-exported';",
        list.join(", ")
    )?;
    input.flush()?;
    let mut output = BufReader::new(session.stdout.take().context("no stdout")?);
    let mut line = String::new();
    let exported = loop {
        line.clear();
        if output.read_line(&mut line)? == 0 {
            break false;
        }
        if line.trim() == "pyenvx-exported" {
            break true;
        }
    };
    let copied = exported.then(|| -> Result<()> {
        let user = server_user()?;
        let (src, dst) = (data.join(filename(from)), data.join(filename(to)));
        for t in names {
            for ext in ["ibd", "cfg"] {
                let file = format!("{}.{ext}", filename(t));
                let target = dst.join(&file);
                fs_err::copy(src.join(&file), &target)?;
                if let Some(u) = &user {
                    std::os::unix::fs::chown(&target, Some(u.uid), Some(u.gid))?;
                }
            }
        }
        Ok(())
    });
    let _ = writeln!(input, "UNLOCK TABLES;");
    drop(input);
    let out = session.wait_with_output()?;
    match copied {
        Some(result) => result?,
        None => {
            return Err(anyhow::anyhow!(
                "FLUSH TABLES … FOR EXPORT failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
    clients.query(&format!(
        "SET FOREIGN_KEY_CHECKS = 0;\n{}",
        each("IMPORT TABLESPACE")
    ))?;
    // The server does not know the copied `.cfg` files: left there, they would make its
    // `DROP DATABASE` fail on a directory that is not empty.
    let dst = data.join(filename(to));
    for t in names {
        let _ = std::fs::remove_file(dst.join(format!("{}.cfg", filename(t))));
    }
    Ok(())
}

/// The server's UTC time: the default snapshot name, RFC 3339, microseconds since the epoch.
fn server_clock(clients: &Clients) -> Result<(String, String, i64)> {
    let row = clients.query(
        "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y%m%d-%H%i%s'), \
                DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%sZ'), \
                FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000000)",
    )?;
    let fields: Vec<&str> = row.trim().split('\t').collect();
    match fields[..] {
        [name, created, us] => Ok((name.into(), created.into(), us.parse().unwrap_or(0))),
        _ => Err(anyhow::anyhow!(
            "the server did not say what time it is ({row:?})"
        )),
    }
}

/// `db snapshot` for MariaDB: a copy of the project's database inside the server.
pub(super) fn snapshot_take(
    clients: &Clients,
    project: &Project,
    backend: BackendKind,
    name: Option<&str>,
) -> Result<Snapshot> {
    let (clock_name, created, created_us) = server_clock(clients)?;
    let name = name.map_or(clock_name, str::to_string);
    snapshot::check_name(&name)?;
    snapshot::check_free(project, &name)?;
    let db = &clients.identity.credentials.database;
    let snap_db = snapshot::database_name(&name);
    // A database without its record is what a killed snapshot leaves: not a snapshot. Nor is
    // its ready copy.
    let _background = snapshot::background_lock(project)?;
    drop_database(clients, &snap_db)?;
    forget_spare(clients, project, &name)?;
    let recorded = (|| -> Result<Snapshot> {
        copy_database(clients, db, &snap_db)
            .with_context(|| format!("cannot copy {db} into a snapshot"))?;
        let size = clients.query(&format!(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables \
             WHERE table_schema = {}",
            literal(&snap_db)
        ))?;
        let major = clients
            .server_version()?
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let snap = Snapshot {
            name: name.clone(),
            created,
            created_us,
            size_bytes: size.trim().parse().unwrap_or(0),
            major,
            backend,
            engine: DbEngine::Mariadb,
            database: snap_db.clone(),
        };
        snapshot::record(project, &snap)?;
        Ok(snap)
    })();
    if recorded.is_err() {
        let _ = drop_database(clients, &snap_db);
    }
    recorded
}

fn schema_exists(clients: &Clients, name: &str) -> Result<bool> {
    Ok(clients
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {}",
            literal(name)
        ))?
        .trim()
        != "0")
}

/// Drop a snapshot's ready copy, its marker first (a marker never names a partial copy).
fn forget_spare(clients: &Clients, project: &Project, name: &str) -> Result<()> {
    match std::fs::remove_file(snapshot::spare_ready_path(project, name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).context("cannot delete a ready copy's marker")
        }
        _ => {}
    }
    drop_database(clients, &snapshot::spare_name(name))
}

/// Put the snapshot in place of the project's tables: its ready copy's tables moved in by one
/// `RENAME TABLE` when the background work made one, else a copy of the snapshot swapped in.
/// The snapshot stays.
pub(super) fn snapshot_restore(
    clients: &Clients,
    project: &Project,
    snap: &Snapshot,
) -> Result<snapshot::Restored> {
    // Waits for background work still making this ready copy.
    let _background = snapshot::background_lock(project)?;
    if !schema_exists(clients, &snap.database)? {
        return Err(crate::services::snapshot::gone(snap));
    }
    let spare = snapshot::spare_name(&snap.name);
    let marker = snapshot::spare_ready_path(project, &snap.name);
    if marker.exists() && schema_exists(clients, &spare)? {
        // Gone before the move: after it the ready copy is empty, and a kill in between only
        // costs the next restore a copy.
        fs_err::remove_file(&marker)?;
        swap_from(clients, &spare, transfer::Swap::Spare)?;
        return Ok(snapshot::Restored {
            renamed: true,
            ended: 0,
        });
    }
    // `copy_database` makes the scratch database itself.
    let scratch = fresh_scratch(clients)?;
    drop_database(clients, &scratch)?;
    if let Err(e) = copy_database(clients, &snap.database, &scratch) {
        let _ = drop_database(clients, &scratch);
        return Err(e.context(format!(
            "cannot copy snapshot `{}`; nothing was changed",
            snap.name
        )));
    }
    swap_in(clients)?;
    Ok(snapshot::Restored {
        renamed: false,
        ended: 0,
    })
}

/// The background work after a take or a restore: drop the tables a restore replaced, and make
/// the ready copy of every snapshot of this server that lacks one.
pub(super) fn snapshot_prepare(
    clients: &Clients,
    project: &Project,
    backend: BackendKind,
) -> Result<()> {
    let _background = snapshot::background_lock(project)?;
    drop_database(
        clients,
        &transfer::old_name(&clients.identity.credentials.database),
    )?;
    for snap in snapshot::list(project)? {
        if snap.engine != DbEngine::Mariadb || snap.backend != backend {
            continue;
        }
        if snapshot::spare_ready_path(project, &snap.name).exists()
            || !schema_exists(clients, &snap.database)?
        {
            continue;
        }
        let spare = snapshot::spare_name(&snap.name);
        // What a restore emptied, or a copy a kill cut short.
        drop_database(clients, &spare)?;
        copy_database(clients, &snap.database, &spare)
            .with_context(|| format!("cannot make the ready copy of snapshot `{}`", snap.name))?;
        crate::fs::write_atomic(&snapshot::spare_ready_path(project, &snap.name), b"")?;
    }
    Ok(())
}

/// Delete the snapshot's database and its ready copy, then its record.
pub(super) fn snapshot_remove(clients: &Clients, project: &Project, snap: &Snapshot) -> Result<()> {
    let _background = snapshot::background_lock(project)?;
    forget_spare(clients, project, &snap.name)?;
    drop_database(clients, &snap.database)?;
    fs_err::remove_file(snapshot::record_path(project, &snap.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_unescaping() {
        assert_eq!(filename("pyenvx_snapshot_a-1"), "pyenvx_snapshot_a@002d1");
        assert_eq!(filename("Books_2"), "Books_2");
        assert_eq!(unescape("a\\nb\\tc\\\\d\\x"), "a\nb\tc\\d\\x");
    }
}
