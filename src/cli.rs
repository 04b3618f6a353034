//! The command line, as clap structs. No logic lives here: `main` hands these to `commands`.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Per-project Python/Django sandboxes: a pinned standalone CPython, a pinned Django and a
/// development database, natively or in a container.
#[derive(Debug, Parser)]
#[command(name = "pyenvx", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `pyenvx run CMD …` and `pyenvx run -- CMD …` with no option before `run` and a command that
/// does not start with `-`: what clap would make of them, without building clap's definition of
/// every command, which costs a quarter of what `run` does before it `exec`s. Anything else is
/// `None`, for clap.
pub fn run_shortcut(args: &[std::ffi::OsString]) -> Option<Cli> {
    let [_, verb, rest @ ..] = args else {
        return None;
    };
    if verb != "run" {
        return None;
    }
    let rest = match rest {
        [dashes, after @ ..] if dashes == "--" => after,
        _ => rest,
    };
    let first = rest.first()?.to_str()?;
    if first.is_empty() || first.starts_with('-') {
        return None;
    }
    Some(Cli {
        global: GlobalArgs::default(),
        command: Command::Run(RunArgs {
            command: rest.to_vec(),
        }),
    })
}

#[derive(Debug, Default, Args)]
pub struct GlobalArgs {
    /// Print only errors and the data a command was asked for.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Explain more of what happens (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Use only what is installed or cached; never touch the network (also PYENVX_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    /// When to use colours; `auto` honours NO_COLOR and FORCE_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Never draw progress bars (also PYENVX_NO_PROGRESS=1).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Run as if pyenvx was started in DIR (relative paths in arguments are taken from there).
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub directory: Option<std::path::PathBuf>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, list, find and remove Python interpreters.
    #[command(subcommand)]
    Python(PythonCommand),
    /// Create a project: pyenvx.toml, pyenvx.lock, .python-version, .venv and a Django project.
    Init(InitArgs),
    /// Change the project's Python or Django pin; the lock and .venv follow.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Make .venv exactly match the lock (locking first if pyenvx.toml changed).
    Sync(SyncArgs),
    /// Run a command inside the sandbox (.venv active, .env and service variables set).
    Run(RunArgs),
    /// Add dependencies to pyenvx.toml, then lock and sync.
    Add(AddArgs),
    /// Remove dependencies from pyenvx.toml, then lock and sync.
    Remove(RemoveArgs),
    /// Show the project: pins, resolved versions, sync state.
    Status(StatusArgs),
    /// Run the project's development database (PostgreSQL), natively or in a container.
    #[command(subcommand)]
    Db(DbCommand),
    /// Run the project's Redis ([services.cache]) from the machine's redis-server or a container.
    #[command(subcommand)]
    Redis(RedisCommand),
    /// pyenvx's own caches: where they are, and cleaning them.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Start every service pyenvx.toml declares ([services.db], [services.cache]).
    Up,
    /// Stop every running service of the project; the data stays.
    Down,
    /// Manage the shims: `python`, `pip`, `django-admin` and console scripts that run the
    /// project's own, put first on PATH by `pyenvx shell-init`.
    #[command(subcommand)]
    Shims(ShimsCommand),
    /// Print what to `eval` in a shell's rc file: the shims first on PATH, and completions.
    ShellInit(ShellInitArgs),
    /// Print the program a shim named NAME would run here, and why (on stderr).
    Which(WhichArgs),
    /// Write files that reproduce the sandbox elsewhere: hashed requirements, container files.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Resolve pyenvx.toml and write pyenvx.lock, without touching .venv.
    Lock(LockArgs),
    /// Show the locked packages as a tree of who requires whom.
    Tree(TreeArgs),
    /// List locked packages with newer releases: the newest pyenvx.toml allows, and the newest.
    Outdated(OutdatedArgs),
    /// Print the variables `pyenvx run` sets (dotenv lines, or shell exports with --shell).
    Env(EnvArgs),
    /// Not a command: says what upgrades what (so clap's typo tip does not offer `up`).
    #[command(hide = true)]
    Upgrade(UpgradeArgs),
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Write nothing; exit non-zero when pyenvx.lock is missing or does not match pyenvx.toml.
    #[arg(long)]
    pub check: bool,
    /// Re-resolve against the index instead of reusing earlier resolutions.
    #[arg(long, conflicts_with = "check")]
    pub upgrade: bool,
    /// Re-resolve letting only NAME move from its locked version (repeatable).
    #[arg(short = 'P', long, value_name = "NAME", conflicts_with = "check")]
    pub upgrade_package: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Show what requires PKG, up to the project's own requirements ("why is PKG here").
    #[arg(long, value_name = "PKG")]
    pub invert: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Shell `export` lines (`eval "$(pyenvx env --shell)"`, direnv's .envrc) instead of dotenv.
    #[arg(long)]
    pub shell: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A pip requirements file from pyenvx.lock, with a `--hash=sha256:` for every
    /// distribution (`pip install --require-hashes -r` reproduces the sandbox).
    Requirements(ExportRequirementsArgs),
    /// Dockerfile, docker-compose.yml and .dockerignore (plus requirements.txt, and
    /// .env.docker for the database's secrets) that run the project in containers.
    Docker(ExportDockerArgs),
}

#[derive(Debug, Args)]
pub struct ExportRequirementsArgs {
    /// Write to FILE (replacing it) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportDockerArgs {
    /// Where to write the files (inside the project); default the project root.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Replace files pyenvx generated before (never one you wrote, nor .env.docker, whose
    /// secrets the data volume keeps).
    #[arg(long)]
    pub force: bool,
    /// Base image instead of `python:X.Y-slim` for the locked Python's X.Y.
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ShimsCommand {
    /// Create $PYENVX_HOME/shims with a shim per installed Python minor and per known script.
    Install,
    /// Bring the shims in step with what is installed (pyenvx does this after every change).
    Rehash,
    /// List the shims and where each name comes from.
    List,
    /// Delete the shims directory.
    Remove,
    /// Run NAME as a shim would; the shims call this when only a full interpreter search can
    /// answer.
    #[command(hide = true)]
    Exec(ShimsExecArgs),
}

#[derive(Debug, Args)]
pub struct ShimsExecArgs {
    /// The shim's name (`python`, `pip`, `pytest`, …).
    pub name: String,
    /// Arguments for the program (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ShellInitArgs {
    /// The shell to print code for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct WhichArgs {
    /// A shim name: `python`, `python3.12`, `pip`, `django-admin`, `pytest`, …
    pub name: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory (created if missing); default the current directory.
    pub dir: Option<std::path::PathBuf>,
    /// Project name; default the directory's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Python request; default the global pin when the Django pin supports it, else the newest
    /// Python the Django pin supports, else the newest stable CPython here (else downloadable).
    #[arg(long)]
    pub python: Option<String>,
    /// Django pin (`5.2`, `5.2.19`, `>=4.2,<5`); default the newest LTS that supports the Python.
    #[arg(long)]
    pub django: Option<String>,
    /// Add Django REST Framework (dependency and INSTALLED_APPS).
    #[arg(long)]
    pub drf: bool,
    /// A development database service.
    /// Adopting a project whose compose file runs PostgreSQL takes that database unless `--db`
    /// says otherwise (`none` for no database).
    #[arg(long, value_enum)]
    pub db: Option<DbArg>,
    /// A cache service ([services.cache] and the `redis` client).
    /// Adopting a project whose compose file runs Redis, or whose settings' cache or Celery
    /// broker is Redis, takes that cache unless `--cache` says otherwise (`none` for no cache).
    #[arg(long, value_enum)]
    pub cache: Option<CacheArg>,
    /// Do not run Django's startproject.
    #[arg(long)]
    pub no_startproject: bool,
    /// Install pip into the sandbox.
    #[arg(long)]
    pub seed: bool,
    /// Proceed even when Django does not support the project's Python (Django's own table):
    /// a warning, and the pair is recorded in pyenvx.toml's `allow-unsupported`.
    #[arg(long)]
    pub allow_unsupported: bool,
    /// In an existing project whose settings hard-code DATABASES, add the lines that make them
    /// read DATABASE_URL (the dict stays as the fallback).
    #[arg(long)]
    pub wire_settings: bool,
    /// In an existing project, load its settings in the sandbox (this runs the project's code)
    /// to see where Django connects, and point the project's own database variables at
    /// pyenvx's database.
    #[arg(long)]
    pub ask_django: bool,
}

/// `init --db`'s values; the workflow's own `ops::init::DbChoice` knows no clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbArg {
    Postgres,
    /// MariaDB, through Django's MySQL backend (`mysqlclient`).
    Mariadb,
    None,
}

impl From<DbArg> for crate::ops::init::DbChoice {
    fn from(arg: DbArg) -> Self {
        match arg {
            DbArg::Postgres => Self::Postgres,
            DbArg::Mariadb => Self::Mariadb,
            DbArg::None => Self::None,
        }
    }
}

/// `init --cache`'s values (`ops::init::CacheChoice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheArg {
    Redis,
    None,
}

impl From<CacheArg> for crate::ops::init::CacheChoice {
    fn from(arg: CacheArg) -> Self {
        match arg {
            CacheArg::Redis => Self::Redis,
            CacheArg::None => Self::None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Pin the project's Python (`3.13`, `3.12.1`, `>=3.11,<3.13`).
    Python(PinArgs),
    /// Pin the project's Django (`4.2`, `5.2.19`, `>=4.2,<5`).
    Django(PinArgs),
}

#[derive(Debug, Args)]
pub struct PinArgs {
    pub spec: String,
    /// Ask the index again instead of reusing a resolution made before.
    #[arg(long)]
    pub upgrade: bool,
    /// Proceed even when Django does not support the project's Python (Django's own table):
    /// a warning, and the pair is recorded in pyenvx.toml's `allow-unsupported`.
    #[arg(long)]
    pub allow_unsupported: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Fail if pyenvx.toml and pyenvx.lock disagree.
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Use pyenvx.lock as it is, without checking it against pyenvx.toml.
    #[arg(long)]
    pub frozen: bool,
    /// Re-resolve against the index instead of reusing earlier resolutions.
    #[arg(long)]
    pub upgrade: bool,
    /// Re-resolve letting only NAME move from its locked version (repeatable), then sync.
    #[arg(short = 'P', long, value_name = "NAME", conflicts_with_all = ["locked", "frozen"])]
    pub upgrade_package: Vec<String>,
    /// Replace a .venv that another tool made (it is moved aside, then deleted).
    #[arg(long)]
    pub replace_venv: bool,
    /// Proceed even when Django does not support the project's Python (Django's own table):
    /// a warning, and the pair is recorded in pyenvx.toml's `allow-unsupported`.
    #[arg(long)]
    pub allow_unsupported: bool,
    /// Also install the dependency group NAME (`[dependency-groups]`); main + `dev` by default.
    #[arg(long = "group", value_name = "NAME")]
    pub group: Vec<String>,
    /// Leave the dependency group NAME out (`--no-group dev`), even a default one.
    #[arg(long = "no-group", value_name = "NAME")]
    pub no_group: Vec<String>,
    /// Install only the dependency group NAME, without the main dependencies.
    #[arg(long = "only-group", value_name = "NAME", conflicts_with_all = ["group", "all_groups"])]
    pub only_group: Vec<String>,
    /// Install every dependency group.
    #[arg(long)]
    pub all_groups: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command and its arguments (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// PEP 508 requirements: `djangorestframework>=3.15`, `psycopg[binary]`. A Django
    /// requirement with a version (`django==4.2.30`) moves the Django pin instead.
    #[arg(required_unless_present = "requirements")]
    pub packages: Vec<String>,
    /// Also every requirement of a pip requirements file (following its `-r` lines; `--hash`
    /// and index options are left to pyenvx's own lock and settings).
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub requirements: Vec<std::path::PathBuf>,
    /// Install the given local directories (`./libs/pkg`) editable: edits to their source
    /// show without a sync.
    #[arg(short = 'e', long)]
    pub editable: bool,
    /// Add to the `dev` dependency group instead of the main dependencies.
    #[arg(long, conflicts_with = "group")]
    pub dev: bool,
    /// Add to the dependency group NAME (`[dependency-groups]`, made when missing).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Proceed even when Django does not support the project's Python (Django's own table):
    /// a warning, and the pair is recorded in pyenvx.toml's `allow-unsupported`.
    #[arg(long)]
    pub allow_unsupported: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Package names.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Remove from the `dev` dependency group instead of the main dependencies.
    #[arg(long, conflicts_with = "group")]
    pub dev: bool,
    /// Remove from the dependency group NAME.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PythonCommand {
    /// Download and install python-build-standalone builds (several at once in parallel).
    Install(PythonInstallArgs),
    /// List installed, found and downloadable versions for this platform.
    List(PythonListArgs),
    /// Print the path of the best interpreter matching a request.
    Find(PythonFindArgs),
    /// Remove managed installs.
    Uninstall(PythonUninstallArgs),
    /// Pin the project's Python (as `pyenvx pin python`); with --global, the interpreter used
    /// outside any project.
    Pin(PythonPinArgs),
}

#[derive(Debug, Args)]
pub struct PythonInstallArgs {
    /// Versions to install: `3.12`, `3.12.1`, `3.13t`, `>=3.11,<3.13`, `cpython@3.12`.
    /// Without one, the global pin, else the newest release.
    pub requests: Vec<String>,
    /// Install again even if installed, and move the minor-version link to the result.
    #[arg(long)]
    pub reinstall: bool,
}

#[derive(Debug, Args)]
pub struct PythonListArgs {
    /// Only interpreters that are installed or found on this machine.
    #[arg(long)]
    pub installed: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PythonFindArgs {
    /// The version to look for; without one, the global pin, else any.
    pub request: Option<String>,
}

#[derive(Debug, Args)]
pub struct PythonUninstallArgs {
    /// Versions to remove (`3.12.1`, or `3.12` for every installed 3.12.x).
    #[arg(required = true)]
    pub versions: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PythonPinArgs {
    /// Pin the default interpreter used outside any project, not the project's.
    #[arg(long)]
    pub global: bool,
    /// The request to pin, e.g. `3.12`. Without one, print the current pin.
    pub request: Option<String>,
    /// Project pin: ask the index again instead of reusing a resolution made before.
    #[arg(long, conflicts_with = "global")]
    pub upgrade: bool,
    /// Project pin: proceed even when Django does not support the Python (Django's own table).
    #[arg(long, conflicts_with = "global")]
    pub allow_unsupported: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Start the database, creating it on first use; returns once it accepts a login.
    Up(DbUpArgs),
    /// Stop the database; the data stays.
    Down,
    /// Show whether the database runs, where, and how to reach it.
    Status(DbStatusArgs),
    /// Print the server's log.
    Logs(DbLogsArgs),
    /// Run the engine's client (psql, mariadb) connected to the database (arguments after `--`
    /// go to it).
    Shell(DbPsqlArgs),
    /// Run psql connected to a PostgreSQL database (arguments after `--` go to psql).
    Psql(DbPsqlArgs),
    /// Print the DATABASE_URL that `pyenvx run` sets.
    Url,
    /// Delete the database and start again with an empty one.
    Reset(DbResetArgs),
    /// Write the database to FILE (PostgreSQL: pg_dump's custom format; MariaDB: mariadb-dump's SQL).
    Dump(DbDumpArgs),
    /// Replace the database with FILE (a pg_dump archive or a SQL script; MariaDB: a SQL script).
    Restore(DbRestoreArgs),
    /// Take a snapshot of the database (a copy inside the server); `list`, `restore`, `rm`.
    Snapshot(DbSnapshotArgs),
    /// A database per branch (PostgreSQL): `list`, `new`, `switch`, `rm`, `follow`, `hook
    /// install`; the one in use keeps the project's database name.
    #[command(subcommand)]
    Branch(DbBranchCommand),
    /// Move the database to a newer PostgreSQL major (pg_upgrade natively, dump and load in a
    /// container); the old data is kept until you delete it.
    Upgrade(DbUpgradeArgs),
}

#[derive(Debug, Args)]
pub struct DbUpgradeArgs {
    /// The PostgreSQL major to move to, e.g. 18.
    pub major: u32,
    /// Container backend: the new major's image (needed when [services.db] image is set; it
    /// replaces that setting).
    #[arg(long)]
    pub image: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DbSnapshotArgs {
    /// The snapshot's name (lower-case letters, digits, `-`, `_`); default the UTC time.
    pub name: Option<String>,
    #[command(subcommand)]
    pub command: Option<DbSnapshotCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DbSnapshotCommand {
    /// List the snapshots: name, time, size, PostgreSQL major.
    List(DbStatusArgs),
    /// Replace the database with a snapshot (the snapshot stays).
    Restore(DbSnapshotRestoreArgs),
    /// Delete a snapshot.
    Rm(DbSnapshotRmArgs),
    /// The background work after a take or a restore (started by them): the replaced database
    /// dropped, the snapshots' ready copies made.
    #[command(hide = true)]
    Prepare,
}

#[derive(Debug, Subcommand)]
pub enum DbBranchCommand {
    /// List the branches: size, where each came from, and migrations against this checkout.
    List(DbStatusArgs),
    /// Make a branch: a copy of the branch in use (or `--from`), or an empty database.
    New(DbBranchNewArgs),
    /// Put a branch's database under the project's name (sessions on the old one are closed).
    Switch(DbBranchNameArgs),
    /// Delete a branch and its database (not the one in use).
    Rm(DbBranchNameArgs),
    /// Switch to the branch git has checked out, making its database on first sight.
    Follow,
    /// The git post-checkout hook that runs `follow`.
    #[command(subcommand)]
    Hook(DbBranchHookCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbBranchHookCommand {
    /// Add the post-checkout hook (a hook already there is kept and runs first).
    Install,
}

#[derive(Debug, Args)]
pub struct DbBranchNewArgs {
    /// The branch's name (as git names branches, e.g. `feature/isbn`).
    pub name: String,
    /// Copy this branch's database instead of the one in use.
    #[arg(long, conflicts_with = "empty")]
    pub from: Option<String>,
    /// Start with an empty database.
    #[arg(long)]
    pub empty: bool,
}

#[derive(Debug, Args)]
pub struct DbBranchNameArgs {
    /// The branch.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct DbSnapshotRestoreArgs {
    /// The snapshot to restore.
    #[arg(required_unless_present = "latest", conflicts_with = "latest")]
    pub name: Option<String>,
    /// Restore the newest snapshot.
    #[arg(long)]
    pub latest: bool,
    /// Do not ask before replacing the database.
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DbSnapshotRmArgs {
    /// The snapshot to delete.
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// Start Redis, creating it on first use; returns once AUTH and PING succeed.
    Up,
    /// Stop Redis; the data stays.
    Down,
    /// Show whether Redis runs, where, and how to reach it.
    Status(DbStatusArgs),
    /// Print the REDIS_URL that `pyenvx run` sets.
    Url,
}

/// `pyenvx cache` manages pyenvx's caches, as `uv cache` does; the Redis verbs it once held
/// stay as hidden aliases of `pyenvx redis` (none of their names clashes).
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory (PYENVX_CACHE_DIR).
    Dir,
    /// Delete the caches: downloads, catalogs, resolutions and uv's cache. The store of
    /// installed packages (under PYENVX_HOME), which sandboxes link to, stays.
    Clean,
    #[command(hide = true)]
    Up,
    #[command(hide = true)]
    Down,
    #[command(hide = true)]
    Status(DbStatusArgs),
    #[command(hide = true)]
    Url,
}

#[derive(Debug, Args)]
pub struct DbUpArgs {
    /// Run it this way this time, whatever `[services.db] backend` says.
    #[arg(long, value_enum)]
    pub backend: Option<DbBackend>,
    /// Move the project's database to this port; remembered, and every later command follows.
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbBackend {
    Native,
    Container,
}

#[derive(Debug, Args)]
pub struct DbStatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbLogsArgs {
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct DbPsqlArgs {
    /// Arguments for the client.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct DbResetArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Start it again with this backend, whatever `[services.db] backend` says.
    #[arg(long, value_enum)]
    pub backend: Option<DbBackend>,
}

#[derive(Debug, Args)]
pub struct DbDumpArgs {
    /// The file to write.
    pub file: std::path::PathBuf,
    /// Replace FILE if it exists (only once the new dump is complete).
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DbRestoreArgs {
    /// The dump file.
    pub file: std::path::PathBuf,
    /// Do not ask before replacing a database that holds data.
    #[arg(short, long)]
    pub yes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// The shortcut takes only what clap would parse to the same thing, and leaves the rest.
    #[test]
    fn the_run_shortcut_agrees_with_clap() {
        let taken: &[&[&str]] = &[
            &["pyenvx", "run", "python", "-c", "pass"],
            &["pyenvx", "run", "--", "python", "manage.py", "runserver"],
            &["pyenvx", "run", "pytest", "--", "-x"],
            &["pyenvx", "run", "echo", "-q", "--offline"],
        ];
        for argv in taken {
            let argv = args(argv);
            let fast = run_shortcut(&argv).unwrap_or_else(|| panic!("not taken: {argv:?}"));
            let clap = Cli::try_parse_from(&argv).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{argv:?}");
        }
        let left: &[&[&str]] = &[
            &["pyenvx", "run"],
            &["pyenvx", "run", "--"],
            &["pyenvx", "-q", "run", "python"],
            &["pyenvx", "run", "-q", "python"],
            &["pyenvx", "run", "--help"],
            &["pyenvx", "sync"],
            &["pyenvx", "run", ""],
            &["pyenvx", "run", "--", "--weird"],
        ];
        for argv in left {
            assert!(run_shortcut(&args(argv)).is_none(), "{argv:?}");
        }
    }
}
