//! `pyenvx lock`: resolve `pyenvx.toml` and write `pyenvx.lock` without touching `.venv`, or
//! (`--check`) only say whether the lock still answers `pyenvx.toml`, for CI and hooks.

use std::path::PathBuf;

use anyhow::Result;

use crate::project::lock::Lock;
use crate::project::sync::{self, SyncReport};
use crate::project::{Env, Project};
use crate::user_error;

#[derive(Debug, Clone, Default)]
pub struct LockInput {
    /// Only compare; write nothing.
    pub check: bool,
    /// Ask the index again for everything.
    pub upgrade: bool,
    /// Only these may move from their locked versions.
    pub upgrade_packages: Vec<String>,
}

/// One package whose locked version changed: `None` on the side where it is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug)]
pub struct LockReport {
    pub path: PathBuf,
    /// Whether the lock was written (a fresh lock is left as it is).
    pub written: bool,
    pub python: String,
    pub packages: usize,
    pub changes: Vec<Change>,
}

pub fn lock(project: &Project, input: &LockInput, env: &Env) -> Result<LockReport> {
    let path = project.lock_path();
    if input.check {
        return check(project);
    }
    let guard = sync::project_lock(project, env.reporter)?;
    // Read again under the lock: an `add` or `pin` may have changed pyenvx.toml meanwhile.
    let project = Project::load(&project.root)?;
    let existing = Lock::load(&path)?;
    let interp = sync::interpreter(&project, existing.as_ref(), env)?;
    if !input.upgrade_packages.is_empty() {
        env.keep_versions(sync::keep_all_but(
            existing.as_ref(),
            &input.upgrade_packages,
        )?);
    }
    let fresh = existing.as_ref().is_some_and(|l| {
        l.inputs == sync::lock_inputs(&project) && l.python.version == interp.version().to_string()
    });
    let upgrade = input.upgrade || !input.upgrade_packages.is_empty();
    if fresh && !upgrade {
        let lock = existing.expect("fresh means it exists");
        return Ok(LockReport {
            path,
            written: false,
            python: lock.python.version.clone(),
            packages: lock.packages.len(),
            changes: Vec::new(),
        });
    }
    let index = env.index(&project.config);
    let get_uv = || env.uv(&index);
    let mut scratch = SyncReport::default();
    let (lock, _) = sync::relock(
        &project,
        &interp,
        &index,
        (upgrade, false),
        env,
        &get_uv,
        &mut scratch,
    )?;
    drop(guard);
    Ok(LockReport {
        path,
        written: true,
        python: lock.python.version.clone(),
        packages: lock.packages.len(),
        changes: changes(existing.as_ref(), &lock),
    })
}

/// The project's lock, which `what` (a command) needs: missing, it is an error saying so.
pub fn existing(project: &Project, what: &str) -> Result<Lock> {
    let path = project.lock_path();
    Lock::load(&path)?.ok_or_else(|| {
        user_error!(
            hint = "run `pyenvx lock` to create it (`pyenvx sync` also installs it)",
            "{} does not exist, and {what} reads it",
            path.display()
        )
    })
}

/// `--check`: a missing or stale lock is an error (exit 1), so scripts can stop on it.
fn check(project: &Project) -> Result<LockReport> {
    let path = project.lock_path();
    let lock = existing(project, "`pyenvx lock --check`")?;
    if lock.inputs != sync::lock_inputs(project) {
        return Err(user_error!(
            hint = "run `pyenvx lock` to update it, then commit it",
            "{} is out of date with {} (--check)",
            path.display(),
            project.config_path().display()
        ));
    }
    Ok(LockReport {
        path,
        written: false,
        python: lock.python.version.clone(),
        packages: lock.packages.len(),
        changes: Vec::new(),
    })
}

/// What moved between two locks, by name.
pub fn changes(old: Option<&Lock>, new: &Lock) -> Vec<Change> {
    let mut names: Vec<&str> = new.packages.iter().map(|p| p.name.as_str()).collect();
    if let Some(old) = old {
        names.extend(old.packages.iter().map(|p| p.name.as_str()));
    }
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let before = old.and_then(|l| l.package(name)).map(|p| p.version.clone());
            let after = new.package(name).map(|p| p.version.clone());
            (before != after).then(|| Change {
                name: name.to_string(),
                old: before,
                new: after,
            })
        })
        .collect()
}
