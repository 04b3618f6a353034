//! Making a project's sandbox match its pins: choose the interpreter, lock, build or repair
//! `.venv`, and link every locked distribution from the shared store.
//!
//! The slow parts are cached so that a switch between versions this machine has seen before
//! needs no network and no installer run: resolutions are cached by their inputs, and installed
//! wheel trees live in the content-addressed store (`crate::store`), hard-linked into `.venv`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::django::support::{self, Minor, Pair, Policy};
use crate::filelock::FileLock;
use crate::installer::{self, IndexSettings, Uv};
use crate::platform::Platform;
use crate::project::config::{self, Config, ConfigEdit};
use crate::project::local;
use crate::project::lock::{
    Dist, Lock, LockInputs, LockedPython, Membership, Resolution, Resolved, Selection,
};
use crate::project::Project;
use crate::python::{self, Interpreter, PythonRequest};
use crate::reporter::Reporter;
use crate::store::{self, Store};
use crate::user_error;
use crate::venv::{self, Venv, VenvSpec};

use super::env::Env;

mod install;
mod interpreter;
mod resolve;

pub use install::*;
pub use interpreter::*;
pub use resolve::*;

/// How strictly to treat the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Re-lock when `pyenvx.toml` changed.
    #[default]
    Normal,
    /// Fail if `pyenvx.toml` and the lock disagree.
    Locked,
    /// Use the lock as it is, without checking it against `pyenvx.toml`.
    Frozen,
}

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub mode: LockMode,
    /// Ignore cached resolutions and ask the index again.
    pub upgrade: bool,
    /// Replace a `.venv` that another tool made.
    pub replace_venv: bool,
    /// Let a Django/Python pair Django does not support through, with a warning, and record it
    /// in `pyenvx.toml` (`--allow-unsupported`).
    pub allow_unsupported: bool,
    /// The dependency groups to install (`--group`, `--no-group`, `--only-group`).
    pub groups: GroupRequest,
    /// Re-resolve with only these packages free to move from their locked versions.
    pub upgrade_packages: Vec<String>,
}

/// The dependency groups a sync was asked for, as uv takes them: main + `dev` by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRequest {
    /// `--group NAME`: installed besides the default ones.
    pub with: Vec<String>,
    /// `--no-group NAME`: left out, even when asked for or a default.
    pub without: Vec<String>,
    /// `--only-group NAME`: these groups, without the main dependencies.
    pub only: Vec<String>,
    /// `--all-groups`.
    pub all: bool,
}

/// The group every sync installs unless told otherwise, as uv's default.
pub const DEFAULT_GROUP: &str = "dev";

impl GroupRequest {
    /// What to install from `config`'s groups; a group it does not declare is an error.
    pub fn selection(&self, config: &Config) -> Result<Selection> {
        let known: Vec<&String> = config.groups.keys().collect();
        for name in self.with.iter().chain(&self.without).chain(&self.only) {
            if config.group(name).is_none() {
                return Err(user_error!(
                    hint = if known.is_empty() {
                        "declare it in pyenvx.toml's [dependency-groups], or `pyenvx add --group NAME PKG`".to_string()
                    } else {
                        format!(
                            "the groups are {}",
                            known
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    "{} has no dependency group `{name}`",
                    config.path.display()
                ));
            }
        }
        let norm =
            |v: &[String]| -> Vec<String> { v.iter().map(|n| config::normalize_name(n)).collect() };
        if !self.only.is_empty() {
            return Ok(Selection {
                main: false,
                groups: norm(&self.only),
            });
        }
        let without = norm(&self.without);
        let mut groups: Vec<String> = if self.all {
            config.groups.keys().cloned().collect()
        } else {
            config
                .groups
                .keys()
                .filter(|g| g.as_str() == DEFAULT_GROUP)
                .cloned()
                .collect()
        };
        for g in norm(&self.with) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups.retain(|g| !without.contains(g));
        Ok(Selection { main: true, groups })
    }
}

/// What a sync changed, for the summary line.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub installed: Vec<String>,
    pub removed: Vec<String>,
    pub relocked: bool,
    pub venv_created: bool,
    pub python: String,
    /// The unsupported Django/Python pair this sync let through, if any.
    pub allowed: Option<Pair>,
}

/// The inputs `pyenvx.toml` gives the resolver.
pub fn lock_inputs(project: &Project) -> LockInputs {
    LockInputs {
        python: project
            .config
            .python
            .as_ref()
            .map_or_else(|| "any".to_string(), ToString::to_string),
        requirements: project.config.requirements(),
        editable: project.config.editable.clone(),
        groups: project.config.groups.clone(),
    }
}

/// A stamp in `.venv` recording which lock it was last synced to, so `pyenvx run` can skip
/// the sync with one small read.
const SYNC_STAMP: &str = ".pyenvx-synced";

pub fn lock_fingerprint(lock_path: &Path) -> Option<String> {
    let bytes = std::fs::read(lock_path).ok()?;
    Some(hex::encode(&Sha256::digest(&bytes)[..16]))
}

/// Whether `.venv` is pyenvx's (recorded under `home`), was synced to the current lock, and
/// the lock matches `pyenvx.toml`. A stamp committed with a `.venv` proves nothing.
///
/// `pyenvx run` asks this before every command, so it parses no lock: the stamp holds the
/// lock's fingerprint and that of the inputs the lock records, and the inputs `pyenvx.toml` asks
/// for now are fingerprinted the same way.
pub fn is_fresh(home: &Path, project: &Project) -> bool {
    if !is_recorded_venv(home, project) {
        return false;
    }
    let Some(lock) = lock_fingerprint(&project.lock_path()) else {
        return false;
    };
    let Ok(stamp) = std::fs::read_to_string(project.venv_dir().join(SYNC_STAMP)) else {
        return false;
    };
    let mut parts = stamp.split_whitespace();
    parts.next() == Some(lock.as_str())
        && parts.next() == Some(inputs_fingerprint(&lock_inputs(project)).as_str())
        && parts.next().is_none()
}

fn inputs_fingerprint(inputs: &LockInputs) -> String {
    let bytes = serde_json::to_vec(inputs).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// After a sync to `lock`: its fingerprint and that of the inputs it records (not the project's:
/// `--frozen` installs a lock whatever `pyenvx.toml` says now, and that `.venv` is not fresh).
fn write_stamp(project: &Project, lock: &Lock) -> Result<()> {
    if let Some(fp) = lock_fingerprint(&project.lock_path()) {
        let stamp = format!("{fp} {}\n", inputs_fingerprint(&lock.inputs));
        crate::fs::write_atomic(&project.venv_dir().join(SYNC_STAMP), stamp.as_bytes())?;
    }
    Ok(())
}

/// Take the project's sync lock: two pyenvx processes never edit one `.venv` at once.
pub fn project_lock(project: &Project, reporter: &dyn Reporter) -> Result<FileLock> {
    crate::fs::owned_dirs(&project.root, &project.state_dir())?;
    FileLock::acquire(&project.state_dir().join("sync.lock"), || {
        reporter.waiting_for_lock(&format!(
            "another pyenvx is syncing {}",
            project.root.display()
        ))
    })
}

/// The whole sync: lock if needed (per `opts.mode`), then make `.venv` match.
pub fn sync(project: &Project, opts: &SyncOptions, env: &Env) -> Result<SyncReport> {
    let guard = project_lock(project, env.reporter)?;
    // `project` was read before the lock: an `add` or `pin` that held it may have changed
    // pyenvx.toml since, and syncing to the older text would undo that change in `.venv`.
    let current = Project::load(&project.root)?;
    sync_held(&current, opts, env, &guard)
}

/// [`sync`] for a caller that holds the project's sync lock (taken with [`project_lock`]) and
/// read `project` under it: an edit of pyenvx.toml and the sync that follows are one step that
/// no other pyenvx interleaves with.
pub fn sync_held(
    project: &Project,
    opts: &SyncOptions,
    env: &Env,
    _held: &FileLock,
) -> Result<SyncReport> {
    let lock_path = project.lock_path();
    let existing = Lock::load(&lock_path)?;
    let inputs = lock_inputs(project);
    let stale = existing.as_ref().is_none_or(|l| l.inputs != inputs);
    let index = env.index(&project.config);
    let get_uv = || env.uv(&index);
    let mut report = SyncReport::default();

    let (lock, interp) = match (opts.mode, existing) {
        (LockMode::Frozen, Some(lock)) => {
            let interp = interpreter(project, Some(&lock), env)?;
            (lock, interp)
        }
        (LockMode::Frozen, None) => {
            return Err(user_error!(
                hint = "run `pyenvx sync` without --frozen to create it",
                "--frozen needs {}, which does not exist",
                lock_path.display()
            ))
        }
        (LockMode::Locked, _) if stale => {
            return Err(user_error!(
                hint = "run `pyenvx sync` to update the lock, then commit it",
                "{} is out of date with {} (--locked)",
                lock_path.display(),
                project.config_path().display()
            ))
        }
        (_, existing) => {
            let interp = interpreter(project, existing.as_ref(), env)?;
            if !opts.upgrade_packages.is_empty() {
                env.keep_versions(keep_all_but(existing.as_ref(), &opts.upgrade_packages)?);
            }
            // A fresh lock is kept while its interpreter is still the one in use.
            let keep = existing.filter(|lock| {
                !stale
                    && !opts.upgrade
                    && opts.upgrade_packages.is_empty()
                    && lock.python.version == interp.version().to_string()
            });
            match keep {
                Some(lock) => (lock, interp),
                None => relock(
                    project,
                    &interp,
                    &index,
                    (
                        opts.upgrade || !opts.upgrade_packages.is_empty(),
                        opts.allow_unsupported,
                    ),
                    env,
                    &get_uv,
                    &mut report,
                )?,
            }
        }
    };

    // A lock made before the support table, or by hand, is checked too: before .venv changes.
    let allowed = if report.relocked {
        report.allowed
    } else {
        check_locked_pair(project, &lock, &interp, opts, env)?
    };
    if let (true, Some(pair)) = (opts.allow_unsupported, allowed) {
        record_allowed(project, pair)?;
    }
    report.allowed = allowed;

    let (venv, created) = ensure_venv(project, &interp, opts.replace_venv, env)?;
    report.venv_created = created;
    let selection = opts.groups.selection(&project.config)?;
    let (added, removed) = install_locked(
        &venv,
        &project.root,
        &lock.selected(&selection),
        &interp,
        &index,
        env,
        &get_uv,
    )?;
    report.installed = added;
    report.removed = removed;
    report.python = interp.version().to_string();
    write_python_version(project, &interp)?;
    write_stamp(project, &lock)?;
    Ok(report)
}

/// The lock's versions (`name==version`) of every indexed package but `names`, for a
/// resolution where only `names` may move; a name the lock does not hold is an error.
pub fn keep_all_but(lock: Option<&Lock>, names: &[String]) -> Result<Vec<String>> {
    let Some(lock) = lock else {
        return Err(user_error!(
            hint = "run `pyenvx lock` first: there is nothing to keep yet",
            "--upgrade-package needs pyenvx.lock, which does not exist"
        ));
    };
    let names: Vec<String> = names.iter().map(|n| installer::normalize_name(n)).collect();
    if let Some(unknown) = names.iter().find(|n| lock.package(n).is_none()) {
        return Err(user_error!(
            hint = "`pyenvx tree` lists the locked packages; `pyenvx add NAME` adds one",
            "{unknown} is not in pyenvx.lock"
        ));
    }
    Ok(lock
        .packages
        .iter()
        // Local directories and VCS checkouts are whatever their source holds: not pinnable.
        .filter(|p| p.directory.is_none() && p.vcs.is_none() && !names.contains(&p.name))
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect())
}

/// Re-resolve `pyenvx.toml` for `interp` and write the lock.
pub(crate) fn relock(
    project: &Project,
    interp: &Interpreter,
    index: &IndexSettings,
    (upgrade, allow_unsupported): (bool, bool),
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    report: &mut SyncReport,
) -> Result<(Lock, Interpreter)> {
    let policy_allow = |pair: Pair| opts_allow(project, allow_unsupported, pair);
    let available = available_minors_fn(env);
    let suggest = |key: &str, value: &str| format!("`pyenvx pin {key} {value}`");
    let policy = Policy {
        allow: &policy_allow,
        suggest: &suggest,
        available: &available,
    };
    let Supported {
        resolution,
        allowed,
        ..
    } = resolve_supported(
        env,
        get_uv,
        interp,
        &project.config,
        index,
        (upgrade, &[]),
        &policy,
    )?;
    let lock = write_lock(project, interp, resolution)?;
    report.relocked = true;
    report.allowed = allowed;
    Ok((lock, interp.clone()))
}

/// Write `pyenvx.lock` for `project` as it is now: `packages` resolved for `interp`, with the
/// inputs they answer. The one place a lock is made, for `init`, `pin` and a relocking sync.
pub fn write_lock(project: &Project, interp: &Interpreter, resolution: Resolution) -> Result<Lock> {
    let lock = Lock::new(locked_python(interp), lock_inputs(project), resolution);
    lock.save(&project.lock_path())?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(groups: &str) -> Config {
        let text = format!("[project]\nname = \"x\"\n\n[dependency-groups]\n{groups}");
        Config::parse(&text, Path::new("pyenvx.toml")).unwrap()
    }

    fn pick(request: GroupRequest, config: &Config) -> (bool, Vec<String>) {
        let s = request.selection(config).unwrap();
        (s.main, s.groups)
    }

    #[test]
    fn groups_are_selected_as_uv_selects_them() {
        let c = config("dev = [\"pytz\"]\ntest = [{include-group = \"dev\"}, \"pytest\"]\nDocs = [\"sphinx\"]\n");
        assert_eq!(c.group("test").unwrap(), ["pytz", "pytest"]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(pick(GroupRequest::default(), &c), (true, s(&["dev"])));
        let with = GroupRequest {
            with: s(&["docs"]),
            ..Default::default()
        };
        assert_eq!(pick(with, &c), (true, s(&["dev", "docs"])));
        let without = GroupRequest {
            without: s(&["dev"]),
            all: true,
            ..Default::default()
        };
        assert_eq!(pick(without, &c), (true, s(&["docs", "test"])));
        let only = GroupRequest {
            only: s(&["test"]),
            ..Default::default()
        };
        assert_eq!(pick(only, &c), (false, s(&["test"])));
        let unknown = GroupRequest {
            with: s(&["lint"]),
            ..Default::default()
        };
        let err = unknown.selection(&c).unwrap_err().to_string();
        assert!(err.contains("no dependency group `lint`"), "{err}");
        // A group that includes itself is refused with the file, line and key.
        let err = Config::parse(
            "[project]\nname = \"x\"\n[dependency-groups]\na = [{include-group = \"a\"}]\n",
            Path::new("pyenvx.toml"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("pyenvx.toml:4:"), "{err:#}");
    }
}
