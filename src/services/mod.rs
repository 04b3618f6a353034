//! Development services declared in `pyenvx.toml`: `[services.db]`, a PostgreSQL per project
//! (a native process from real PostgreSQL binaries or a Docker/Podman container) or a MariaDB
//! ([`mariadb`]); `[services.cache]`, a Redis ([`redis`]).
//!
//! This module is the facade the `db` commands call. It does what is the same for every backend
//! (configuration in [`config`], identity in [`credentials`] and [`ports`], the lock, port moves,
//! the shims' variables, the dump and restore sequences of [`transfer`]) and asks the active
//! [`Backend`] ([`open`]) for the rest.
//!
//! Both backends share what a consumer sees, so switching backends changes nothing for Django:
//! the credentials (generated once per project, kept in `.pyenvx/services/db/credentials.json`,
//! mode 0600) and the port (allocated once per project in the registry, [`ports`]). `pyenvx run`,
//! `db url` and `db psql` all read those two files and nothing else; none of them starts a
//! server or asks one which port it chose.
//!
//! Layout of a project's `.pyenvx/services/db/`:
//!
//! ```text
//! credentials.json      user, password, database (0600)
//! backend               the backend `db up` last started ("native" / "container")
//! pg15/                 native data directory of PostgreSQL 15 (owned by the server's user)
//! pg15.initialized      written only once the role and the database exist
//! postgres.log          the native server's log
//! mariadb/, mariadb.*   MariaDB's data directory, marker, log and temporary files ([`mariadb`])
//! client.cnf            MariaDB's clients' login (0600)
//! db.lock               serializes up / down / reset / restore of this project
//! ```

pub mod backend;
pub mod branch_hook;
pub mod branches;
pub mod config;
pub mod container;
pub mod credentials;
pub mod engine;
pub mod extensions;
pub mod mariadb;
pub mod native;
pub mod pgwire;
pub mod ports;
pub mod postgres;
pub mod redis;
pub mod script;
pub mod server;
pub mod shared;
pub mod snapshot;
pub mod transfer;
pub mod upgrade;

pub use backend::Backend;
pub use config::{db_config, init_table, require_db, BackendKind, DbConfig, DbEngine, DB};
pub use credentials::{credentials, identity, sql_name, Credentials, Identity};
pub use shared::{short_hash, state_dir, Logs, Status, UpReport};
pub use transfer::RestorePlan;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::filelock::FileLock;
use crate::fs::{write_private, write_private_new};
use crate::project::Env;
use crate::project::Project;
use crate::settings::Settings;
use crate::user_error;

/// The variables `pyenvx run` adds when the project declares a database: `DATABASE_URL` and the
/// libpq `PG*` variables. Reads the registry and the credentials; starts nothing.
pub fn env_vars(settings: &Settings, project: &Project) -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    if db_config(project)?.is_some() {
        vars = identity(settings, project)?.vars();
    }
    vars.extend(redis::env_vars(settings, project)?);
    Ok(vars)
}

/// Rewrite the shims' variables file from every declared service's variables: the shims cannot
/// afford to read the registry and credentials on every `python`.
pub fn write_shim_env(settings: &Settings, project: &Project) -> Result<()> {
    let vars: String = env_vars(settings, project)?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    write_private(&shim_env_path(project), vars.as_bytes())
}

/// What `pyenvx init --db …` or `--cache redis` sets up besides the `[services.*]` tables: the
/// identities, and `.env` (mode 0600) with every service's URL (`DATABASE_URL`, `REDIS_URL`) for
/// tools that read `.env` themselves. A key `.env` holds already is the user's and stays.
pub fn init_project(settings: &Settings, project: &Project) -> Result<()> {
    let mut wanted: Vec<(&str, String, &str)> = Vec::new();
    if db_config(project)?.is_some() {
        wanted.push((
            "DATABASE_URL",
            identity(settings, project)?.url(),
            "# The development database (`pyenvx db up`); pyenvx keeps this line current.\n",
        ));
    }
    if redis::cache_config(project)?.is_some() {
        wanted.push((
            "REDIS_URL",
            redis::identity(settings, project)?.url(),
            "# The project's Redis (`pyenvx redis up`).\n",
        ));
    }
    let path = project.dotenv_path();
    let existing = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(text) => Some(text),
    };
    let text = existing.clone().unwrap_or_default();
    let mut added = String::new();
    for (key, url, header) in wanted {
        if !text.lines().any(|l| l.starts_with(&format!("{key}="))) {
            added.push_str(&format!("{header}{key}={url}\n"));
        }
    }
    match existing {
        None if !added.is_empty() => {
            write_private_new(&path, added.as_bytes())?;
        }
        Some(existing) if !added.is_empty() => {
            let sep = if existing.is_empty() || existing.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            write_private(&path, format!("{existing}{sep}{added}").as_bytes())?;
        }
        _ => {}
    }
    Ok(())
}

/// Serve the role and database the project's settings write in (Django, asked, named them) on
/// the running server, and make them the project's: the identity, `.env`'s `DATABASE_URL` and
/// the shims' variables follow. Whether it was done (a stopped server, or a name that needs
/// quoting: not).
pub fn serve_settings_role(
    settings: &Settings,
    project: &Project,
    given: &Credentials,
) -> Result<bool> {
    let old = identity(settings, project)?;
    if old.engine != DbEngine::Postgres || !credentials::serve_given(project, &old, given)? {
        return Ok(false);
    }
    let new = identity(settings, project)?;
    update_dotenv(project, &old.url(), &new.url())?;
    write_shim_env(settings, project)?;
    Ok(true)
}

/// After a port move, `.env` lines pyenvx wrote (`DATABASE_URL=<old url>`) follow.
fn update_dotenv(project: &Project, old_url: &str, new_url: &str) -> Result<()> {
    let path = project.dotenv_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let old_line = format!("DATABASE_URL={old_url}");
    if !text.lines().any(|l| l.trim_end() == old_line) {
        return Ok(());
    }
    let updated: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_end() == old_line {
                l.replacen(old_url, new_url, 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    write_private(&path, updated.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Operations, dispatched to the backend

/// `db up` options.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Overrides `[services.db] backend` for this start.
    pub backend: Option<BackendKind>,
    /// Move the project to this port (remembered in the registry).
    pub port: Option<u16>,
}

/// The backend `kind` of the project's `[services.db]` engine ([`Backend`]'s implementations).
pub fn open<'a>(
    kind: BackendKind,
    env: &'a Env<'a>,
    project: &'a Project,
    config: &'a DbConfig,
) -> Box<dyn Backend + 'a> {
    match (config.engine, kind) {
        (DbEngine::Postgres, BackendKind::Native) => Box::new(native::Native {
            env,
            project,
            config,
        }),
        (DbEngine::Postgres, BackendKind::Container) => Box::new(container::Container {
            env,
            project,
            config,
        }),
        (DbEngine::Mariadb, BackendKind::Native) => Box::new(mariadb::Native {
            settings: env.settings,
            project,
            config,
        }),
        (DbEngine::Mariadb, BackendKind::Container) => Box::new(mariadb::Container {
            settings: env.settings,
            project,
            config,
        }),
    }
}

fn backend_file(project: &Project) -> PathBuf {
    state_dir(project).join("backend")
}

/// The backend `db up` last started, else the configured one: `down`, `status` and the rest act
/// on what is actually running even after `db up --backend …`.
pub fn active_backend(project: &Project, config: &DbConfig) -> BackendKind {
    std::fs::read_to_string(backend_file(project))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(config.backend)
}

/// Hold the project's database lock for the duration of one operation.
fn lock(project: &Project, env: &Env) -> Result<FileLock> {
    // Every database command takes this lock first: the directories it writes in are checked
    // once, here (see `fs::owned_dirs`).
    crate::fs::owned_dirs(&project.root, &state_dir(project))?;
    FileLock::acquire(&state_dir(project).join("db.lock"), || {
        env.reporter
            .waiting_for_lock("another pyenvx is working on this project's database")
    })
}

/// Start the database (creating it on first use) and return once a login succeeded.
/// Stop what a killed pyenvx left running (see [`native::stop_leftovers`]), saying so.
pub fn stop_leftovers(env: &Env, project: &Project) {
    for said in native::stop_leftovers(project) {
        env.reporter.warn(&said);
    }
}

pub fn up(env: &Env, project: &Project, opts: &UpOptions) -> Result<UpReport> {
    let config = require_db(project)?;
    stop_leftovers(env, project);
    let backend = opts.backend.unwrap_or(config.backend);
    let _lock = lock(project, env)?;
    let settings = env.settings;
    let mut identity = identity(settings, project)?;
    if let Some(port) = opts.port.filter(|p| *p != identity.port) {
        if port < 1024 {
            return Err(user_error!(
                hint = format!(
                    "ports {}–{} are pyenvx's usual range",
                    settings.db_ports.first, settings.db_ports.last
                ),
                "port {port} is a privileged port"
            ));
        }
        let old_url = identity.url();
        ports::assign(env.settings, &ports::key(&project.root, DB), port)?;
        identity.port = port;
        update_dotenv(project, &old_url, &identity.url())?;
    }
    // The other backend may hold the port (and be what `pyenvx run` talks to): one at a time.
    let previous = active_backend(project, &config);
    if previous != backend
        && open(previous, env, project, &config)
            .is_running()
            .unwrap_or(false)
    {
        return Err(user_error!(
            hint = "`pyenvx db down` stops it; the two backends keep separate data",
            "this project's database is running with the {previous} backend"
        ));
    }
    let report = open(backend, env, project, &config).up(&identity)?;
    if previous != backend || !backend_file(project).exists() {
        crate::fs::write_atomic(&backend_file(project), format!("{backend}\n").as_bytes())?;
    }
    // The shims cannot afford to read the registry and credentials on every `python`; they
    // read one small file instead.
    write_shim_env(settings, project)?;
    // Last: a missing extension fails `db up` with the server running and recorded, so
    // `db down` and the rest still find it.
    if config.engine == DbEngine::Postgres {
        extensions::ensure(&identity, config.major, backend, &config.extensions)?;
    }
    Ok(report)
}

/// `KEY=VALUE` lines of the service variables, for the shims (`.pyenvx/services/env`, 0600).
pub fn shim_env_path(project: &Project) -> PathBuf {
    project.root.join(pyenvx_shim::SERVICE_ENV)
}

/// Stop the database; the data stays. Returns whether something was running.
pub fn down(env: &Env, project: &Project) -> Result<bool> {
    let config = require_db(project)?;
    let _lock = lock(project, env)?;
    stop_leftovers(env, project);
    let stopped = active(env, project, &config).down();
    stopped
}

/// Where the database stands.
pub fn status(env: &Env, project: &Project) -> Result<Status> {
    let config = require_db(project)?;
    stop_leftovers(env, project);
    let identity = identity(env.settings, project)?;
    let status = active(env, project, &config).status(&identity);
    status
}

/// Delete the data (every major's) and start again from nothing.
pub fn reset(env: &Env, project: &Project, opts: &UpOptions) -> Result<UpReport> {
    let config = require_db(project)?;
    {
        let _lock = lock(project, env)?;
        active(env, project, &config).destroy()?;
        // Snapshots and branches live inside the server whose data was just deleted.
        snapshot::forget_engine(project, config.engine)?;
        branches::forget(project)?;
    }
    up(env, project, opts)
}

/// The backend `db up` last started (else the configured one).
fn active<'a>(
    env: &'a Env<'a>,
    project: &'a Project,
    config: &'a DbConfig,
) -> Box<dyn Backend + 'a> {
    open(active_backend(project, config), env, project, config)
}

/// The configuration and identity of a running database, or a user error saying to start it.
fn require_running(env: &Env, project: &Project) -> Result<(DbConfig, Identity)> {
    let config = require_db(project)?;
    let identity = identity(env.settings, project)?;
    if !active(env, project, &config).is_running()? {
        return Err(user_error!(
            hint = "`pyenvx db up` starts it",
            "this project's database is not running"
        ));
    }
    Ok((config, identity))
}

/// Write the database to `file` in pg_dump's custom format (for `db restore` / `pg_restore`):
/// through a temporary file beside it, renamed over it only when complete; an existing `file`
/// only with `replace`. `shown` is the name the user gave, for messages.
pub fn dump(env: &Env, project: &Project, file: &Path, shown: &Path, replace: bool) -> Result<()> {
    let (config, identity) = require_running(env, project)?;
    let target = transfer::DumpTarget::new(file, shown, replace)?;
    active(env, project, &config).dump(&identity, &target)?;
    target.commit(shown)
}

/// Check `file` for `db restore` without touching the database: not empty, in a format the
/// engine loads; and whether there is data it would replace.
pub fn check_restore(
    env: &Env,
    project: &Project,
    file: &Path,
    shown: &Path,
) -> Result<RestorePlan> {
    let (config, identity) = require_running(env, project)?;
    let plan = active(env, project, &config).check_restore(&identity, file, shown);
    plan
}

/// Replace the database's contents with a checked dump: loaded into a scratch database, which
/// takes the project database's place only when the load succeeded.
pub fn restore(env: &Env, project: &Project, plan: &RestorePlan) -> Result<()> {
    let (config, identity) = require_running(env, project)?;
    let _lock = lock(project, env)?;
    let restored = active(env, project, &config).restore(&identity, plan);
    restored
}

/// Copy the running database into a new snapshot (`name`, else the current UTC time).
pub fn snapshot_take(
    env: &Env,
    project: &Project,
    name: Option<&str>,
) -> Result<snapshot::Snapshot> {
    if let Some(n) = name {
        snapshot::check_name(n)?;
    }
    let (config, identity) = require_running(env, project)?;
    let _lock = lock(project, env)?;
    let taken = active(env, project, &config).snapshot_take(&identity, name)?;
    start_background(project);
    Ok(taken)
}

/// Start `pyenvx db snapshot prepare` detached in the project (its own process group, so a
/// Ctrl-C of the terminal does not reach it), writing to the background log. A failure to
/// start is not the command's: the next restore copies instead of renaming.
pub fn start_background(project: &Project) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let Ok(log) = crate::fs::open_log(&snapshot::background_log(project)) else {
        return;
    };
    let Ok(err) = log.try_clone() else {
        return;
    };
    let _ = std::process::Command::new(exe)
        .args(["--quiet", "db", "snapshot", "prepare"])
        .current_dir(&project.root)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn();
}

/// The background work of snapshots (`pyenvx db snapshot prepare`): the database a restore
/// replaced dropped, every snapshot's ready copy made. Nothing when the server is not running.
pub fn snapshot_prepare(env: &Env, project: &Project) -> Result<()> {
    let config = require_db(project)?;
    let identity = identity(env.settings, project)?;
    let backend = active(env, project, &config);
    if !backend.is_running()? {
        return Ok(());
    }
    backend.snapshot_prepare(&identity)
}

/// Whether `snap` belongs to the server the project runs now.
fn check_restorable(project: &Project, config: &DbConfig, snap: &snapshot::Snapshot) -> Result<()> {
    snapshot::check_restorable(
        snap,
        config.engine,
        config.major,
        active_backend(project, config),
    )
}

/// The snapshot to restore (`name`, else the newest), checked against the running database
/// before anything is asked or touched.
pub fn snapshot_check(
    env: &Env,
    project: &Project,
    name: Option<&str>,
) -> Result<snapshot::Snapshot> {
    let config = require_db(project)?;
    let snap = snapshot::find(project, name)?;
    check_restorable(project, &config, &snap)?;
    require_running(env, project)?;
    Ok(snap)
}

/// Put a checked snapshot in place of the database (its ready copy renamed in, else a copy);
/// then the background work makes the next ready copy.
pub fn snapshot_restore(
    env: &Env,
    project: &Project,
    snap: &snapshot::Snapshot,
) -> Result<snapshot::Restored> {
    let (config, identity) = require_running(env, project)?;
    let _lock = lock(project, env)?;
    check_restorable(project, &config, snap)?;
    let restored = active(env, project, &config).snapshot_restore(&identity, snap)?;
    start_background(project);
    Ok(restored)
}

/// Delete a snapshot (its copy in the server, then its record).
pub fn snapshot_remove(env: &Env, project: &Project, name: &str) -> Result<()> {
    let snap = snapshot::find(project, Some(name))?;
    let (config, identity) = require_running(env, project)?;
    // Another server's snapshot is not in this one: dropping nothing here would lose track of
    // its copy there.
    check_restorable(project, &config, &snap)?;
    let _lock = lock(project, env)?;
    let removed = active(env, project, &config).snapshot_remove(&identity, &snap);
    removed
}

// ---------------------------------------------------------------------------------------------
// Branches

/// The configuration and identity of a running PostgreSQL for branch work, or one clear
/// refusal.
fn require_branches(env: &Env, project: &Project) -> Result<(DbConfig, Identity)> {
    let config = require_db(project)?;
    if config.engine != DbEngine::Postgres {
        return Err(user_error!(
            hint = "snapshots (`pyenvx db snapshot`) work with MariaDB; branches need `engine = \"postgres\"`",
            "database branches need PostgreSQL: MariaDB cannot rename a database, and moving every table between schemas on each switch is not constant time"
        ));
    }
    let running = require_running(env, project)?;
    Ok(running)
}

/// [`require_branches`], then the database lock, then the check that this server holds the
/// branches (under the lock: the record is written there).
fn lock_branches(env: &Env, project: &Project) -> Result<(DbConfig, Identity, FileLock)> {
    let (config, identity) = require_branches(env, project)?;
    let lock = lock(project, env)?;
    branches::claim(project, active_backend(project, &config))?;
    Ok((config, identity, lock))
}

/// Whether git has another branch checked out than the database holds. The first time (no
/// record yet) the branch the database holds is recorded, under the lock, and nothing is
/// wanted: it is git's branch now.
fn recorded_then_wanted(env: &Env, project: &Project) -> Result<bool> {
    if branches::load(project)?.is_none() {
        if branches::git_head(&project.root).is_none() {
            return Ok(false);
        }
        let _lock = lock(project, env)?;
        branches::record_initial(project)?;
    }
    Ok(branches::wanted(project)?.is_some())
}

/// `db branch hook install`: the hook, and the branch the database holds recorded before git
/// moves, so the first checkout the hook sees switches away from it.
pub fn branch_hook_install(
    env: &Env,
    project: &Project,
    pyenvx: &Path,
) -> Result<branch_hook::HookInstalled> {
    let config = require_db(project)?;
    if config.engine != DbEngine::Postgres {
        require_branches(env, project)?;
    }
    let installed = branch_hook::install_hook(project, pyenvx)?;
    let _lock = lock(project, env)?;
    branches::record_initial(project)?;
    Ok(installed)
}

/// `db branch list`: every branch, its size, and its migrations against the checkout; with
/// what an interrupted command left, repaired.
pub fn branch_list(env: &Env, project: &Project) -> Result<branches::ListReport> {
    let (_, identity, _lock) = lock_branches(env, project)?;
    branches::list(project, &identity)
}

/// `db branch new NAME [--from BRANCH | --empty]` (from the branch in use by default).
pub fn branch_new(
    env: &Env,
    project: &Project,
    name: &str,
    from: Option<&str>,
    empty: bool,
) -> Result<branches::NewReport> {
    branches::check_name(name)?;
    let (config, identity, _lock) = lock_branches(env, project)?;
    let source = match (empty, from) {
        (true, _) => branches::Source::Empty,
        (false, Some(b)) => branches::Source::Branch(b.to_string()),
        (false, None) => branches::Source::Branch(branches::load_or_initial(project)?.current),
    };
    branches::new(project, &identity, config.major, name, &source)
}

/// `db branch switch NAME`.
pub fn branch_switch(env: &Env, project: &Project, name: &str) -> Result<branches::SwitchReport> {
    let (_, identity, _lock) = lock_branches(env, project)?;
    branches::switch(project, &identity, name)
}

/// `db branch rm NAME`.
pub fn branch_rm(env: &Env, project: &Project, name: &str) -> Result<()> {
    let (config, identity, _lock) = lock_branches(env, project)?;
    branches::remove(project, &identity, config.major, name)
}

/// `db branch follow` (and the post-checkout hook): the database of the branch git has
/// checked out, made on first sight. `None` when it is in use already or git has no branch
/// checked out.
pub fn branch_follow(env: &Env, project: &Project) -> Result<Option<branches::FollowReport>> {
    let config = require_db(project)?;
    if config.engine != DbEngine::Postgres || !recorded_then_wanted(env, project)? {
        return Ok(None);
    }
    let (config, identity, _lock) = lock_branches(env, project)?;
    // Asked again under the lock: another pyenvx may have followed meanwhile.
    let Some(head) = branches::wanted(project)? else {
        return Ok(None);
    };
    branches::follow(project, &identity, config.major, &head).map(Some)
}

/// What `pyenvx run`, `up` and `db up` do with `[services.db] branches = "git"`: nothing
/// without the setting (no file is read), else one read of `.git/HEAD` and of the record, and a
/// switch when they differ.
pub fn follow_if_set(env: &Env, project: &Project) -> Result<Option<branches::FollowReport>> {
    match db_config(project)? {
        Some(config) if config.follow_git => {
            if !recorded_then_wanted(env, project)? {
                return Ok(None);
            }
            // A stopped server follows when `up` or `db up` starts it: a `run` meanwhile (tests
            // on SQLite, a script) has nothing to switch.
            if !active(env, project, &config).is_running()? {
                return Ok(None);
            }
            branch_follow(env, project)
        }
        _ => Ok(None),
    }
}

pub fn logs(env: &Env, project: &Project, follow: bool) -> Result<Logs> {
    let config = require_db(project)?;
    let logs = active(env, project, &config).logs(follow);
    logs
}

/// The engine's client (`psql`, `mariadb`) connected to the database, to run (or exec) with
/// `args` appended.
pub fn shell(
    env: &Env,
    project: &Project,
    args: &[std::ffi::OsString],
) -> Result<std::process::Command> {
    let (config, identity) = require_running(env, project)?;
    let shell = active(env, project, &config).shell(&identity, args);
    shell
}

/// `db psql`: the shell of a PostgreSQL database; another engine's is `db shell`.
pub fn psql(
    env: &Env,
    project: &Project,
    args: &[std::ffi::OsString],
) -> Result<std::process::Command> {
    let config = require_db(project)?;
    if config.engine != DbEngine::Postgres {
        return Err(user_error!(
            hint = format!(
                "`pyenvx db shell` runs {} for every engine",
                config.engine.client()
            ),
            "this project's database is {}, not PostgreSQL: psql cannot talk to it",
            config.engine.title()
        ));
    }
    shell(env, project, args)
}
