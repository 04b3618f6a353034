//! `db branch`: one database per branch of the project, the one in use always under the
//! project's database name, so `DATABASE_URL`, `.env` and a running `runserver`'s settings never
//! change.
//!
//! Decisions and why:
//! * A branch not in use is a database of the same server called `pyenvx_branch_<name>_<hash>`
//!   ([`database_name`]: the name made an identifier, shortened, with a hash of the real name so
//!   two names never meet). A switch is two `ALTER DATABASE … RENAME` in one transaction, with
//!   the ending of the sessions on the outgoing database: constant time whatever the size, and
//!   a kill at any moment leaves either both renames or neither.
//! * What the branches are lives in `.pyenvx/branches/db/record.json` (which is in use, where
//!   each came from and when). Before any rename, copy or drop, the operation is written to
//!   `journal.json` beside it; the next branch command (or `run` / `up` following git) reads it,
//!   ends the sessions a killed pyenvx left running on the server (they carry the application
//!   name `pyenvx-branch`), looks at which databases exist, and makes the record say what the
//!   server holds. The server is the truth; the record is brought to it.
//! * A new branch is a `CREATE DATABASE … TEMPLATE` of the branch it starts from (the sessions
//!   on that database ended first, as a copy needs), or an empty database. Either is complete
//!   or absent.
//! * The database that was there before any branch is the branch git has checked out when the
//!   project is in a git repository, else `main`.
//! * With `[services.db] branches = "git"`, [`follow`] switches to the checked-out branch; a
//!   branch seen for the first time is made from the known branch git's merge-base says it was
//!   made from (fewest commits since the fork point), else the original branch.
//! * PostgreSQL only: MariaDB has no `RENAME DATABASE` (the facade refuses in one line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::BackendKind;
use super::credentials::Identity;
use super::pgwire::Connection;
use super::transfer;
use crate::project::Project;
use crate::user_error;

mod git;
mod list;

pub use git::*;
pub use list::*;

const PREFIX: &str = "pyenvx_branch_";
/// The application name of pyenvx's sessions for branch work: the next command ends those a
/// killed pyenvx left behind before it looks at the server.
const APP: &str = "pyenvx-branch";
/// The branch of a project outside git.
pub const DEFAULT: &str = "main";

/// One branch, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Branch {
    /// The branch whose data it was copied from; `None` for the original database and for an
    /// empty one.
    pub from: Option<String>,
    /// When it was made, in microseconds since the epoch by the server's clock; 0 for the
    /// original database.
    pub created_us: i64,
    /// Made with `--empty`.
    #[serde(default)]
    pub empty: bool,
}

/// `.pyenvx/branches/db/record.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The branch whose data the project's database holds.
    pub current: String,
    pub branches: BTreeMap<String, Branch>,
    /// The backend whose server holds the branches' databases (the other backend's server has
    /// none of them); set by the first command that runs with a server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
}

impl Record {
    /// The branch that was there before any other: where a branch git has no merge-base for
    /// starts from.
    pub fn original(&self) -> String {
        self.branches
            .iter()
            .filter(|(_, b)| b.from.is_none() && !b.empty)
            .min_by_key(|(_, b)| b.created_us)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| self.current.clone())
    }

    /// The branch that applied a migration found in `branch`'s database at `applied_us`: the
    /// branch itself when it was applied after the copy was made, else (back along `from`) the
    /// branch the data was copied from.
    pub fn applied_by(&self, branch: &str, applied_us: i64) -> String {
        let mut name = branch.to_string();
        for _ in 0..self.branches.len() {
            match self.branches.get(&name) {
                Some(b) if applied_us < b.created_us => match &b.from {
                    Some(parent) => name = parent.clone(),
                    None => break,
                },
                _ => break,
            }
        }
        name
    }
}

/// What was about to happen, written before it happens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Journal {
    Switch { from: String, to: String },
    New { name: String, branch: Branch },
    Remove { name: String },
}

/// `.pyenvx/branches/db/`.
pub fn dir(project: &Project) -> PathBuf {
    project.state_dir().join("branches").join(super::config::DB)
}

fn record_path(project: &Project) -> PathBuf {
    dir(project).join("record.json")
}

fn journal_path(project: &Project) -> PathBuf {
    dir(project).join("journal.json")
}

/// The database a branch not in use lives in.
pub fn database_name(branch: &str) -> String {
    let stem: String = branch
        .chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let hash = hex::encode(&Sha256::digest(branch.as_bytes())[..4]);
    format!("{PREFIX}{stem}_{hash}")
}

/// A name git could give a branch: no spaces, control characters or `~^:?*[\`, no `..`, not
/// starting with `-`, at most 200 bytes.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && name
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c));
    if ok {
        Ok(())
    } else {
        Err(user_error!(
            hint = "use a name git accepts for a branch, e.g. `feature/isbn`",
            "`{name}` is not a branch name"
        ))
    }
}

/// The record, or `None` before the first branch command.
pub fn load(project: &Project) -> Result<Option<Record>> {
    let path = record_path(project);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not pyenvx's record of branches", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The record, or the one branch there is before any command: git's checked-out branch, else
/// `main`.
pub fn load_or_initial(project: &Project) -> Result<Record> {
    Ok(load(project)?.unwrap_or_else(|| {
        let name = git_head(&project.root).unwrap_or_else(|| DEFAULT.to_string());
        Record {
            current: name.clone(),
            branches: BTreeMap::from([(
                name,
                Branch {
                    from: None,
                    created_us: 0,
                    empty: false,
                },
            )]),
            backend: None,
        }
    }))
}

/// Refuse branch work on a server that does not hold the branches (the project switched
/// backends); the first command to run with a server records its backend.
pub fn claim(project: &Project, backend: BackendKind) -> Result<()> {
    let Some(mut record) = load(project)? else {
        return Ok(());
    };
    match record.backend {
        Some(b) if b != backend => Err(user_error!(
            hint = format!("`pyenvx db down`, then `pyenvx db up --backend {b}` to use them"),
            "this project's database branches live in the {b} backend's server, and the database runs with the {backend} backend"
        )),
        Some(_) => Ok(()),
        None => {
            record.backend = Some(backend);
            save(project, &record)
        }
    }
}

pub fn save(project: &Project, record: &Record) -> Result<()> {
    crate::fs::owned_dirs(&project.root, &dir(project))?;
    crate::fs::write_atomic(
        &record_path(project),
        serde_json::to_string_pretty(record)?.as_bytes(),
    )
}

fn write_journal(project: &Project, journal: &Journal) -> Result<()> {
    crate::fs::owned_dirs(&project.root, &dir(project))?;
    crate::fs::write_atomic(
        &journal_path(project),
        serde_json::to_string(journal)?.as_bytes(),
    )
}

fn clear_journal(project: &Project) -> Result<()> {
    match std::fs::remove_file(journal_path(project)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot delete {}", journal_path(project).display()))
        }
        _ => Ok(()),
    }
}

/// Forget every branch (the server's data was deleted: `db reset`).
pub fn forget(project: &Project) -> Result<()> {
    match std::fs::remove_dir_all(dir(project)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot delete {}", dir(project).display()))
        }
        _ => Ok(()),
    }
}

/// An administrative session for branch work, named so that the next command can end it if
/// this pyenvx is killed.
pub fn session(identity: &Identity) -> Result<Connection> {
    let mut admin = transfer::admin_session(identity)?;
    admin.query(&format!("SET application_name = '{APP}'"))?;
    Ok(admin)
}

fn exists(admin: &mut Connection, database: &str) -> Result<bool> {
    Ok(!admin
        .query(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{database}'"
        ))?
        .is_empty())
}

/// The server's clock, in microseconds since the epoch.
fn now_us(admin: &mut Connection) -> Result<i64> {
    admin
        .query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .and_then(|v| v.parse().ok())
        .context("the server did not say what time it is")
}

/// End what a killed pyenvx left running on the server (a copy, the renames), and wait until
/// it is gone: only then does the server say what happened.
fn end_orphans(admin: &mut Connection) -> Result<()> {
    let list = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{APP}' AND pid <> pg_backend_pid()"
    );
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
           WHERE application_name = '{APP}' AND pid <> pg_backend_pid()"
    );
    let pace = crate::process::Pace::every(Duration::from_millis(50));
    let gone = crate::process::wait_until(Duration::from_secs(5), pace, || {
        if admin.query(&list)?.is_empty() {
            return Ok(Some(()));
        }
        admin.query(&terminate)?;
        Ok::<_, anyhow::Error>(None)
    })?;
    gone.ok_or_else(|| {
        anyhow::anyhow!("a session of a killed pyenvx is still running on the server")
    })
}

/// Finish or forget what an interrupted branch command was doing, from what the server holds.
/// Returns what was repaired, for the user. The caller holds the database lock.
pub fn repair(project: &Project, admin: &mut Connection) -> Result<Option<String>> {
    let path = journal_path(project);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Written atomically: whole, or not there at all.
    let journal: Journal = serde_json::from_str(&text)
        .with_context(|| format!("{} is not pyenvx's branch journal", path.display()))?;
    end_orphans(admin)?;
    let mut record = load_or_initial(project)?;
    let said = match journal {
        Journal::Switch { from, to } => {
            if exists(admin, &database_name(&to))? {
                record.current = from.clone();
                format!("an interrupted switch from {from} to {to} renamed nothing: {from} stays in use")
            } else {
                record.current = to.clone();
                format!("an interrupted switch from {from} to {to} had renamed the databases: {to} is in use")
            }
        }
        Journal::New { name, branch } => {
            if exists(admin, &database_name(&name))? {
                record.branches.insert(name.clone(), branch);
                format!("an interrupted `db branch new {name}` had made its database: the branch is kept")
            } else {
                format!("an interrupted `db branch new {name}` made nothing")
            }
        }
        Journal::Remove { name } => {
            if exists(admin, &database_name(&name))? {
                format!("an interrupted `db branch rm {name}` deleted nothing: the branch is kept")
            } else {
                record.branches.remove(&name);
                format!("an interrupted `db branch rm {name}` had deleted its database: the branch is gone")
            }
        }
    };
    save(project, &record)?;
    clear_journal(project)?;
    Ok(Some(said))
}

/// A session that a switch or a copy ended, as the user is told about it.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub pid: i64,
    pub user: String,
    pub application: String,
    pub client: String,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let app = if self.application.is_empty() {
            "a client"
        } else {
            &self.application
        };
        write!(
            f,
            "pid {} ({app}, user {}, from {})",
            self.pid, self.user, self.client
        )
    }
}

/// The sessions on `database` besides ours.
fn sessions_on(admin: &mut Connection, database: &str) -> Result<Vec<Session>> {
    let rows = admin.query(&format!(
        "SELECT pid, usename, coalesce(application_name, ''), \
                coalesce(host(client_addr), 'the local socket') \
           FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid() \
           ORDER BY pid"
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Session {
                pid: get(0).parse().unwrap_or(0),
                user: get(1),
                application: get(2),
                client: get(3),
            }
        })
        .collect())
}

/// Run `sql` after ending the sessions on `databases`, trying again while a client
/// reconnecting in between makes the server say the database is in use. With `together`, the
/// ending and `sql` are one transaction (the renames); `CREATE DATABASE` cannot be in one.
fn with_sessions_ended(
    admin: &mut Connection,
    databases: &[&str],
    sql: &str,
    together: bool,
    major: u32,
) -> Result<()> {
    let list = databases
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
           WHERE datname IN ({list}) AND pid <> pg_backend_pid()"
    );
    let statement = if together {
        format!("{terminate}; {sql}")
    } else {
        sql.to_string()
    };
    super::pgwire::while_in_use(
        Duration::from_millis(2500),
        Duration::from_millis(100),
        || {
            if together {
                admin.query(&statement).map(drop)
            } else {
                admin.query(&terminate)?;
                // A copy: PostgreSQL 18 clones where it can.
                transfer::run_copy(admin, major, &statement)
            }
        },
    )
}

/// What a switch did.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchReport {
    pub from: String,
    pub to: String,
    /// The sessions on the outgoing database that were ended.
    pub closed: Vec<Session>,
    /// An interrupted command the switch found and repaired first.
    pub repaired: Option<String>,
    /// Migrations applied in the database now in use that the checkout lacks, each with the
    /// branch that applied it.
    pub applied_missing: Vec<(String, String)>,
}

/// Put branch `to`'s database under the project's name (the caller holds the lock).
pub fn switch(project: &Project, identity: &Identity, to: &str) -> Result<SwitchReport> {
    check_name(to)?;
    let mut admin = session(identity)?;
    let repaired = repair(project, &mut admin)?;
    let mut record = load_or_initial(project)?;
    let from = record.current.clone();
    if from == to {
        return Ok(SwitchReport {
            from,
            to: to.to_string(),
            closed: Vec::new(),
            repaired,
            applied_missing: Vec::new(),
        });
    }
    if !record.branches.contains_key(to) {
        return Err(user_error!(
            hint = format!(
                "`pyenvx db branch new {to}` makes it (a copy of {from}), `--empty` an empty one"
            ),
            "there is no database branch `{to}`"
        ));
    }
    let db = identity.credentials.database.clone();
    let (from_db, to_db) = (database_name(&from), database_name(to));
    if !exists(&mut admin, &to_db)? {
        return Err(user_error!(
            hint = format!("`pyenvx db branch rm {to}` forgets it; nothing was changed"),
            "branch `{to}`'s database {to_db} is gone from the server"
        ));
    }
    if exists(&mut admin, &from_db)? {
        return Err(user_error!(
            hint = format!(
                "look at it with `pyenvx db psql -- -d {from_db}`, and drop it (`DROP DATABASE \"{from_db}\"`) if it holds nothing you need; nothing was changed"
            ),
            "a database called {from_db}, where branch `{from}` would go, exists already"
        ));
    }
    let closed = sessions_on(&mut admin, &db)?;
    write_journal(
        project,
        &Journal::Switch {
            from: from.clone(),
            to: to.to_string(),
        },
    )?;
    let renamed = with_sessions_ended(
        &mut admin,
        &[&db, &to_db],
        &format!(
            "ALTER DATABASE \"{db}\" RENAME TO \"{from_db}\"; \
             ALTER DATABASE \"{to_db}\" RENAME TO \"{db}\""
        ),
        true,
        0,
    );
    if let Err(e) = renamed {
        // The server says what happened, if it can be asked; else the next command will.
        let _ = repair(project, &mut admin);
        return Err(e.context(format!("cannot switch the database from {from} to {to}")));
    }
    record.current = to.to_string();
    save(project, &record)?;
    clear_journal(project)?;
    // Said, never refused: the switch is done, and the user decides what to do about it.
    let applied_missing = migration_drift(project, identity, &record, to, &db)
        .map(|m| m.applied_missing)
        .unwrap_or_default();
    Ok(SwitchReport {
        from,
        to: to.to_string(),
        closed,
        repaired,
        applied_missing,
    })
}

/// Where a new branch's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A copy of this branch's database.
    Branch(String),
    Empty,
}

/// What `db branch new` did.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    pub name: String,
    /// The branch it was copied from (`None`: empty).
    pub from: Option<String>,
    /// Sessions ended on the database copied (a copy needs it to itself).
    pub closed: Vec<Session>,
    pub repaired: Option<String>,
}

/// Make branch `name` from `source` (the caller holds the lock).
pub fn new(
    project: &Project,
    identity: &Identity,
    major: u32,
    name: &str,
    source: &Source,
) -> Result<NewReport> {
    check_name(name)?;
    let mut admin = session(identity)?;
    let repaired = repair(project, &mut admin)?;
    let mut record = load_or_initial(project)?;
    if record.branches.contains_key(name) {
        return Err(user_error!(
            hint = format!(
                "`pyenvx db branch switch {name}` uses it; `pyenvx db branch rm {name}` deletes it"
            ),
            "a database branch `{name}` exists"
        ));
    }
    let db = identity.credentials.database.clone();
    let template = match source {
        Source::Empty => None,
        Source::Branch(b) if !record.branches.contains_key(b) => {
            return Err(user_error!(
                hint = "`pyenvx db branch list` shows the branches",
                "there is no database branch `{b}` to copy"
            ))
        }
        Source::Branch(b) if *b == record.current => Some(db.clone()),
        Source::Branch(b) => Some(database_name(b)),
    };
    let new_db = database_name(name);
    // Not in the record after the repair, so not left by a killed `new` (the repair keeps
    // those): a record lost or restored from elsewhere. Its data is someone's; never dropped.
    if exists(&mut admin, &new_db)? {
        return Err(user_error!(
            hint = format!(
                "look at it with `pyenvx db psql -- -d {new_db}`; drop it (`DROP DATABASE \"{new_db}\"`) if it holds nothing you need, or choose another name. Nothing was changed"
            ),
            "the server has a database {new_db} for a branch `{name}` that pyenvx has no record of"
        ));
    }
    let branch = Branch {
        from: match source {
            Source::Branch(b) => Some(b.clone()),
            Source::Empty => None,
        },
        created_us: now_us(&mut admin)?,
        empty: *source == Source::Empty,
    };
    write_journal(
        project,
        &Journal::New {
            name: name.to_string(),
            branch: branch.clone(),
        },
    )?;
    let mut closed = Vec::new();
    let made = match &template {
        None => admin
            .query(&format!("CREATE DATABASE \"{new_db}\""))
            .map(drop),
        Some(t) => {
            closed = sessions_on(&mut admin, t)?;
            with_sessions_ended(
                &mut admin,
                &[t],
                &format!(
                    "CREATE DATABASE \"{new_db}\" TEMPLATE \"{t}\"{}",
                    transfer::copy_strategy(major)
                ),
                false,
                major,
            )
        }
    };
    if let Err(e) = made {
        let _ = repair(project, &mut admin);
        return Err(e.context(format!("cannot make the database of branch {name}")));
    }
    record.branches.insert(name.to_string(), branch.clone());
    save(project, &record)?;
    clear_journal(project)?;
    Ok(NewReport {
        name: name.to_string(),
        from: branch.from,
        closed,
        repaired,
    })
}

/// Delete branch `name` and its database (never the one in use; the caller holds the lock).
pub fn remove(project: &Project, identity: &Identity, major: u32, name: &str) -> Result<()> {
    let mut admin = session(identity)?;
    repair(project, &mut admin)?;
    let mut record = load_or_initial(project)?;
    if record.current == name {
        return Err(user_error!(
            hint = "switch to another branch first (`pyenvx db branch switch NAME`)",
            "branch `{name}` is in use: its database is the project's"
        ));
    }
    if !record.branches.contains_key(name) {
        return Err(user_error!(
            hint = "`pyenvx db branch list` shows the branches",
            "there is no database branch `{name}`"
        ));
    }
    write_journal(
        project,
        &Journal::Remove {
            name: name.to_string(),
        },
    )?;
    if let Err(e) = transfer::drop_db(identity, major, &database_name(name)) {
        let _ = repair(project, &mut admin);
        return Err(e.context(format!("cannot delete the database of branch {name}")));
    }
    record.branches.remove(name);
    save(project, &record)?;
    clear_journal(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_identifiers_apart() {
        let a = database_name("feature/isbn");
        assert!(a.starts_with("pyenvx_branch_feature_isbn_"), "{a}");
        assert_ne!(a, database_name("feature-isbn"));
        assert!(database_name(&"x".repeat(200)).len() <= 63);
        assert!(database_name("Ünïcode").is_ascii());
    }

    #[test]
    fn names_are_checked_as_git_would() {
        for good in ["main", "feature/isbn", "fix-1.2", "ÜBER"] {
            check_name(good).unwrap();
        }
        for bad in ["", "-x", "a b", "a..b", "x.lock", "a:b", "/x", "x/"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn git_head_reads_a_branch_a_worktree_and_nothing_detached() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/feature/x\n").unwrap();
        assert_eq!(git_head(&repo).as_deref(), Some("feature/x"));
        // A project in a subdirectory of the repository.
        std::fs::create_dir_all(repo.join("site")).unwrap();
        assert_eq!(git_head(&repo.join("site")).as_deref(), Some("feature/x"));
        // A worktree: `.git` is a file.
        let wt = tmp.path().join("wt");
        std::fs::create_dir_all(repo.join(".git/worktrees/wt")).unwrap();
        std::fs::write(
            repo.join(".git/worktrees/wt/HEAD"),
            "ref: refs/heads/other\n",
        )
        .unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(
            wt.join(".git"),
            format!("gitdir: {}\n", repo.join(".git/worktrees/wt").display()),
        )
        .unwrap();
        assert_eq!(git_head(&wt).as_deref(), Some("other"));
        std::fs::write(repo.join(".git/HEAD"), "0123456789abcdef\n").unwrap();
        assert_eq!(git_head(&repo), None);
    }

    #[test]
    fn branches_belong_to_the_backend_that_first_ran_them() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("pyenvx.toml"),
            "[project]\nname = \"b\"\n\n[services.db]\nversion = \"15\"\n",
        )
        .unwrap();
        let project = Project::load(tmp.path()).unwrap();
        // No record: nothing to claim, nothing written.
        claim(&project, BackendKind::Native).unwrap();
        assert!(load(&project).unwrap().is_none());
        record_initial(&project).unwrap();
        let record = load(&project).unwrap().unwrap();
        assert_eq!((record.current.as_str(), record.backend), ("main", None));
        claim(&project, BackendKind::Native).unwrap();
        assert_eq!(
            load(&project).unwrap().unwrap().backend,
            Some(BackendKind::Native)
        );
        let err = claim(&project, BackendKind::Container).unwrap_err();
        assert!(
            format!("{err:#}").contains("live in the native backend's server"),
            "{err:#}"
        );
        claim(&project, BackendKind::Native).unwrap();
    }

    #[test]
    fn a_migration_is_applied_by_the_branch_that_held_the_data_then() {
        let b = |from: Option<&str>, at: i64| Branch {
            from: from.map(str::to_string),
            created_us: at,
            empty: false,
        };
        let record = Record {
            current: "main".into(),
            branches: BTreeMap::from([
                ("main".into(), b(None, 0)),
                ("feature".into(), b(Some("main"), 100)),
                ("sub".into(), b(Some("feature"), 200)),
            ]),
            backend: None,
        };
        assert_eq!(record.applied_by("sub", 250), "sub");
        assert_eq!(record.applied_by("sub", 150), "feature");
        assert_eq!(record.applied_by("sub", 50), "main");
        assert_eq!(record.applied_by("main", 50), "main");
        assert_eq!(record.original(), "main");
    }
}
