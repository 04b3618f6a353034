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

/// The interpreter for the project: the locked version when it still satisfies the pin,
/// otherwise the best match for the pin (installing a build when none is on the machine).
pub fn interpreter(project: &Project, lock: Option<&Lock>, env: &Env) -> Result<Interpreter> {
    let request = project
        .config
        .python
        .clone()
        .unwrap_or_else(PythonRequest::any);
    if let Some(lock) = lock {
        if let Ok(exact) = PythonRequest::parse(&format!(
            "{}{}",
            lock.python.version,
            if lock.python.freethreaded { "t" } else { "" }
        )) {
            let version = pep440_rs::Version::from_str(&lock.python.version).ok();
            if version.is_some_and(|v| request.matches(&v, lock.python.freethreaded)) {
                if let Some(found) = python::find(env.settings, &env.platform, &exact)? {
                    return Ok(found);
                }
            }
        }
    }
    let found = python::find_or_install(env.settings, &env.platform, &request, env.reporter)?;
    env.reporter.detail(&format!(
        "Python `{request}` is {} ({})",
        found.executable().display(),
        found.version()
    ));
    Ok(found)
}

pub fn locked_python(interp: &Interpreter) -> LockedPython {
    match interp {
        Interpreter::Managed(m) => LockedPython {
            version: m.version().to_string(),
            implementation: "cpython".into(),
            freethreaded: m.freethreaded(),
            source: "managed".into(),
            build: Some(m.receipt.build.clone()),
            sha256: Some(m.receipt.sha256.clone()),
        },
        Interpreter::System(f) => LockedPython {
            version: f.version.to_string(),
            implementation: "cpython".into(),
            freethreaded: f.freethreaded,
            source: "system".into(),
            build: None,
            sha256: None,
        },
    }
}

/// `cp312`, `cp313t`: the wheel tag of an interpreter, for store keys of built sdists.
pub fn python_tag(interp: &Interpreter) -> String {
    let r = interp.version().release();
    format!(
        "cp{}{}{}",
        r[0],
        r.get(1).copied().unwrap_or(0),
        if interp.freethreaded() { "t" } else { "" }
    )
}

/// The wheel tags `interp` accepts on `platform`, best first.
pub fn interpreter_tags(interp: &Interpreter, platform: &Platform) -> crate::tags::Tags {
    let r = interp.version().release();
    crate::tags::Tags::cpython(
        r[0] as u32,
        r.get(1).copied().unwrap_or(0) as u32,
        interp.freethreaded(),
        &crate::tags::platform_tags(platform),
    )
}

/// `3.12` or `3.13t`, as `.python-version` and pyenv/uv expect.
pub fn minor_string(interp: &Interpreter) -> String {
    let r = interp.version().release();
    format!(
        "{}.{}{}",
        r[0],
        r.get(1).copied().unwrap_or(0),
        if interp.freethreaded() { "t" } else { "" }
    )
}

fn venv_spec_home(interp: &Interpreter, env: &Env) -> PathBuf {
    match interp {
        // Through the minor-version link, so the sandbox survives a patch upgrade.
        Interpreter::Managed(m) => m.minor_link(&env.settings.dirs).join("bin"),
        Interpreter::System(f) => f.path.parent().map(Path::to_path_buf).unwrap_or_default(),
    }
}

/// Make `.venv` a pyenvx environment on `interp`: create it, retarget it to another patch, or
/// rebuild it for another minor version. Returns the venv and whether it was (re)built.
pub fn ensure_venv(
    project: &Project,
    interp: &Interpreter,
    replace_foreign: bool,
    env: &Env,
) -> Result<(Venv, bool)> {
    let dir = project.venv_dir();
    let home = venv_spec_home(interp, env);
    let version = interp.version().clone();
    let spec = VenvSpec {
        interpreter_home: &home,
        version: &version,
        freethreaded: interp.freethreaded(),
        prompt: &project.config.name,
    };
    if std::fs::symlink_metadata(&dir).is_ok() {
        if let Some(kind) = venv::foreign_venv_kind(&dir) {
            if !replace_foreign {
                return Err(user_error!(
                    hint = "pyenvx never deletes it silently: move it away, or run `pyenvx sync --replace-venv` to replace it (packages are reinstalled from the lock)",
                    "{} exists and was made by {kind}, not pyenvx",
                    dir.display()
                ));
            }
            move_aside(project, &dir)?;
        } else if !is_recorded_venv(env.settings.dirs.home(), project) {
            // It says pyenvx made it, but pyenvx has no record of making it here: it came with
            // the files (a clone, a copy, a moved project). Its `pyvenv.cfg` proves nothing and its
            // site-packages may hold a `.pth` that runs at start-up, so it is rebuilt from the
            // lock rather than adopted.
            env.reporter.detail(&format!(
                "{} was not made by pyenvx here: rebuilding it",
                dir.display()
            ));
            move_aside(project, &dir)?;
        } else {
            let existing = Venv::open(&dir)?;
            let cfg = existing.cfg()?;
            let same_minor = cfg
                .version()
                .is_some_and(|v| v.release().get(..2) == version.release().get(..2));
            let same_variant = existing
                .site_packages()
                .map(|p| {
                    p.to_string_lossy()
                        .contains(&format!("{}t/", minor_of(&version)))
                        == interp.freethreaded()
                })
                .unwrap_or(false);
            let moved = cfg.home().as_deref() != Some(home.as_path())
                || cfg.version().as_ref() != Some(&version);
            // A Python 2 environment holds a copy of its interpreter: another one means a rebuild.
            let rebuild = moved && venv::is_legacy(&version);
            if same_minor && same_variant && existing.python().exists() && !rebuild {
                if moved {
                    existing.retarget(&spec)?;
                }
                record_venv(env.settings.dirs.home(), project)?;
                return Ok((existing, false));
            }
            move_aside(project, &dir)?;
        }
    }
    let created = venv::create(&dir, &spec)?;
    record_venv(env.settings.dirs.home(), project)?;
    clean_aside(project);
    Ok((created, true))
}

/// Record that pyenvx made (or checked, as above) the project's `.venv`, outside the project:
/// the shims and `pyenvx run` use only a sandbox recorded at this place, so a `.venv` that came
/// with a clone never runs (see `pyenvx_shim::venv_record`).
pub fn record_venv(home: &Path, project: &Project) -> Result<()> {
    let root = fs_err::canonicalize(&project.root)?;
    let meta = fs_err::symlink_metadata(root.join(".venv"))?;
    let path = pyenvx_shim::venv_record_path(home, &root);
    let record = pyenvx_shim::venv_record(&root, &meta);
    if std::fs::read(&path).is_ok_and(|r| r == record) {
        return Ok(());
    }
    crate::fs::write_atomic(&path, &record)
}

/// Whether the project's `.venv` is one pyenvx recorded making (see [`record_venv`]).
pub fn is_recorded_venv(home: &Path, project: &Project) -> bool {
    let Ok(root) = std::fs::canonicalize(&project.root) else {
        return false;
    };
    std::fs::symlink_metadata(root.join(".venv"))
        .is_ok_and(|meta| pyenvx_shim::is_recorded_venv(Some(home), &root, &meta))
}

fn minor_of(v: &pep440_rs::Version) -> String {
    let r = v.release();
    format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0))
}

/// Rename an environment out of the way; it is deleted once its replacement exists, so an
/// interruption never leaves the project with nothing but a half-built `.venv`.
fn move_aside(project: &Project, dir: &Path) -> Result<()> {
    let aside = project
        .state_dir()
        .join(format!("old-venv-{}", std::process::id()));
    crate::fs::owned_dirs(&project.root, &project.state_dir())?;
    fs_err::rename(dir, &aside).with_context(|| format!("cannot move {} aside", dir.display()))?;
    Ok(())
}

fn clean_aside(project: &Project) {
    if let Ok(entries) = std::fs::read_dir(project.state_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("old-venv-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Make the packages in `venv` exactly the lock's: remove extras and other versions, link the
/// missing from the store (fetching into the store through uv what it lacks).
#[allow(clippy::too_many_arguments)]
pub fn install_locked(
    venv: &Venv,
    root: &Path,
    lock: &Lock,
    interp: &Interpreter,
    index: &IndexSettings,
    env: &Env,
    uv: &dyn Fn() -> Result<Uv>,
) -> Result<(Vec<String>, Vec<String>)> {
    let tags = interpreter_tags(interp, &env.platform);
    // The file each release installs from on this interpreter; the same lock picks the same
    // files on every machine with the same platform tags.
    // Local directories have no file to pick: installed from the directory (see `local`).
    let (dirs, indexed): (Vec<&Resolved>, Vec<&Resolved>) =
        lock.packages.iter().partition(|p| p.directory.is_some());
    let picks: Vec<Dist> = indexed
        .iter()
        .map(|p| p.pick(&tags))
        .collect::<Result<_>>()?;
    let installed = store::installed_dists(venv)?;
    let mut removed = Vec::new();
    let mut present: Vec<(String, String)> = Vec::new();
    let mut dirs_present: Vec<&str> = Vec::new();
    for dist in &installed {
        if let Some(d) = dirs.iter().find(|d| d.name == dist.name) {
            if local::is_installed(&dist.dist_info, d, root) {
                dirs_present.push(&d.name);
            } else {
                store::remove_dist(venv, dist)?;
                removed.push(format!("{}=={}", dist.name, dist.version));
            }
            continue;
        }
        if local::installed_directory(&dist.dist_info).is_some_and(|(_, e)| e) {
            // Installed editable by hand (`pip install -e`): the user's work in progress, even
            // over a locked release of the same name, which a sync must not take away.
            match picks.iter().find(|p| p.name == dist.name) {
                Some(p) => {
                    env.reporter.detail(&format!(
                        "{} {} is installed editable: left alone, instead of the locked {}",
                        dist.name, dist.version, p.version
                    ));
                    present.push((p.name.clone(), p.version.clone()));
                }
                None => env.reporter.detail(&format!(
                    "{} {} is installed editable and not locked: left alone",
                    dist.name, dist.version
                )),
            }
            continue;
        }
        let wanted = picks.iter().find(|p| p.name == dist.name);
        let matches = wanted.is_some_and(|p| is_installed(dist, p));
        if let (Some(p), false) = (wanted, matches) {
            if p.version == dist.version {
                // Same name and version, another file: the lock's hash was edited, or the
                // distribution was replaced by hand. Reinstalled from the locked file.
                env.reporter.detail(&format!(
                    "{} {} in .venv is not the locked file {} (sha256 {})",
                    dist.name, dist.version, p.file, p.sha256
                ));
            }
        }
        if matches {
            present.push((dist.name.clone(), dist.version.clone()));
        } else {
            // Set aside rather than deleted, so switching back is a few renames.
            if !store::park_dist(venv, dist, &installed)? {
                store::remove_dist(venv, dist)?;
            }
            removed.push(format!("{}=={}", dist.name, dist.version));
        }
    }
    if !removed.is_empty() && venv::is_legacy(interp.version()) {
        venv::sweep_orphan_bytecode(&venv.site_packages()?)?;
    }
    let mut added = Vec::new();
    let mut missing: Vec<Dist> = Vec::new();
    for p in picks {
        if present.iter().any(|(n, v)| *n == p.name && *v == p.version) {
            continue;
        }
        if store::unpark_dist(venv, &p.name, &p.version)? && unparked_matches(venv, &p)? {
            env.reporter.detail(&format!(
                "{}=={} set back from .venv's parked copies",
                p.name, p.version
            ));
            added.push(format!("{}=={}", p.name, p.version));
        } else {
            missing.push(p);
        }
    }
    let dirs_missing: Vec<&Resolved> = dirs
        .into_iter()
        .filter(|d| !dirs_present.contains(&d.name.as_str()))
        .collect();
    if !dirs_missing.is_empty() {
        let uv = uv()?;
        // A build of the project's own package: a second or more (its build backend runs).
        let names: Vec<&str> = dirs_missing.iter().map(|d| d.name.as_str()).collect();
        crate::reporter::spinning(
            env.reporter,
            &format!("building {} from its directory", names.join(", ")),
            || {
                local::install(
                    &uv,
                    venv,
                    root,
                    &dirs_missing,
                    index,
                    env.settings.offline,
                    &env.uv_cache(),
                )
            },
        )?;
        for d in &dirs_missing {
            added.push(d.name.clone());
        }
    }
    if missing.is_empty() {
        return Ok((added, removed));
    }
    let store = Store::new(&env.settings.dirs);
    let tag = python_tag(interp);
    let to_fetch: Vec<Dist> = missing
        .iter()
        .filter(|p| store.get(&Store::key(p, &tag)).is_none())
        .cloned()
        .collect();
    env.reporter.detail(&format!(
        "{} linked from the store {}, {} to fetch",
        missing.len() - to_fetch.len(),
        store.root().display(),
        to_fetch.len()
    ));
    let legacy = installer::legacy::needs_pip(interp.version());
    if legacy {
        // uv, which builds sdists for the store, refuses these interpreters: say so before
        // anything is fetched.
        let sdists: Vec<String> = to_fetch
            .iter()
            .filter(|p| !p.is_wheel())
            .map(|p| format!("{} ({})", p.name, p.file))
            .collect();
        if !sdists.is_empty() {
            return Err(user_error!(
                hint = "pin releases that publish a wheel for this Python",
                "cannot install {} into a Python {} environment: only wheels install on Pythons \
                 before 3.6, and these would have to be built",
                sdists.join(", "),
                minor_string(interp)
            ));
        }
    }
    if !to_fetch.is_empty() {
        let uv = if legacy {
            installer::legacy::no_uv()
        } else {
            uv()?
        };
        let fetched = store.fetch(
            &uv,
            &interp.executable(),
            &tag,
            &to_fetch,
            index,
            env.settings.offline,
            &env.uv_cache(),
            env.reporter,
        );
        if legacy {
            // The store unpacks plain wheels itself; what it leaves to uv (wheels with data
            // files, or anything when offline) uv cannot install for this Python.
            fetched.with_context(|| {
                format!(
                    "cannot install into the Python {} environment, where only wheels that \
                     pyenvx unpacks itself install (online, without data files)",
                    minor_string(interp)
                )
            })?;
        } else {
            fetched?;
        }
    }
    for p in &missing {
        let entry = store.get(&Store::key(p, &tag)).ok_or_else(|| {
            user_error!(
                "the installer did not produce {}=={} ({})",
                p.name,
                p.version,
                p.file
            )
        })?;
        store::link_into(&entry, venv)?;
        added.push(format!("{}=={}", p.name, p.version));
    }
    Ok((added, removed))
}

/// Whether `dist` in `.venv` is `p`: the same version, installed by pyenvx from the file with
/// `p`'s hash. Name and version alone would let an edited hash, or a distribution replaced by
/// hand, pass as synced.
fn is_installed(dist: &store::InstalledDist, p: &Dist) -> bool {
    dist.version == p.version && store::installed_sha256(dist).as_deref() == Some(&p.sha256)
}

/// After a parked copy of `p` was set back: whether it is `p`'s file; if not, it is removed.
fn unparked_matches(venv: &Venv, p: &Dist) -> Result<bool> {
    let installed = store::installed_dists(venv)?;
    let Some(dist) = installed
        .iter()
        .find(|d| d.name == p.name && d.version == p.version)
    else {
        return Ok(false);
    };
    if is_installed(dist, p) {
        return Ok(true);
    }
    store::remove_dist(venv, dist)?;
    Ok(false)
}

/// The locked distributions `installed` holds another file of (by name and version, with another
/// hash), as `name version`: what `status` reports and the next sync reinstalls.
fn mismatched(
    installed: &[store::InstalledDist],
    lock: &Lock,
    tags: &crate::tags::Tags,
) -> Vec<String> {
    lock.packages
        .iter()
        .filter_map(|p| p.pick(tags).ok())
        .filter(|p| {
            installed.iter().any(|d| {
                d.name == p.name
                    && d.version == p.version
                    && !is_installed(d, p)
                    && local::installed_directory(&d.dist_info).is_none_or(|(_, e)| !e)
            })
        })
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

/// The tags of the interpreter `lock` names, on `platform`.
pub fn lock_tags(lock: &Lock, platform: &Platform) -> Option<crate::tags::Tags> {
    let version = pep440_rs::Version::from_str(&lock.python.version).ok()?;
    let r = version.release();
    Some(crate::tags::Tags::cpython(
        r[0] as u32,
        r.get(1).copied().unwrap_or(0) as u32,
        lock.python.freethreaded,
        &crate::tags::platform_tags(platform),
    ))
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

/// How `.venv`'s distributions differ from the lock, as `name==version`: those it holds that the
/// lock does not (installed by hand, or another version), and the lock's that it lacks. The stamp
/// behind [`is_fresh`] cannot see a `pip install` made after the sync; this looks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VenvDrift {
    pub unlocked: Vec<String>,
    pub missing: Vec<String>,
    /// Installed editable and not locked (`pip install -e` by hand): kept by sync, not drift.
    pub editable: Vec<String>,
    /// Locked name and version, but another file than the lock's hash names (see [`mismatched`]).
    pub mismatched: Vec<String>,
}

/// [`VenvDrift`] for `.venv`, from one scan of its distributions; `platform` gives the tags the
/// locked files are chosen by.
pub fn venv_drift(project: &Project, lock: &Lock, platform: &Platform) -> Result<VenvDrift> {
    let venv = Venv::open(&project.venv_dir())?;
    let installed = store::installed_dists(&venv)?;
    // A local directory's version is whatever it builds: matched by name.
    let same = |p: &Resolved, d: &store::InstalledDist| {
        p.name == d.name && (p.directory.is_some() || p.version == d.version)
    };
    // Installed editable by hand (not a locked directory): kept by sync, so not drift.
    let hand_editable = |d: &store::InstalledDist| {
        lock.package(&d.name).is_none_or(|p| p.directory.is_none())
            && local::installed_directory(&d.dist_info).is_some_and(|(_, e)| e)
    };
    let editable = installed
        .iter()
        .filter(|d| hand_editable(d))
        .map(|d| format!("{}=={}", d.name, d.version))
        .collect();
    let unlocked = installed
        .iter()
        .filter(|d| !hand_editable(d))
        .filter(|d| lock.package(&d.name).is_none_or(|p| !same(p, d)))
        .map(|d| format!("{}=={}", d.name, d.version))
        .collect();
    // A group a plain sync leaves out is not missing.
    let wanted = lock.selected(&GroupRequest::default().selection(&project.config)?);
    let missing = wanted
        .packages
        .iter()
        .filter(|p| {
            !installed
                .iter()
                .any(|d| same(p, d) || (d.name == p.name && hand_editable(d)))
        })
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect();
    let mut mismatched =
        lock_tags(lock, platform).map_or_else(Vec::new, |tags| mismatched(&installed, lock, &tags));
    if let Some(build) = other_python_build(&venv, lock) {
        mismatched.push(build);
    }
    Ok(VenvDrift {
        unlocked,
        missing,
        editable,
        mismatched,
    })
}

/// `python <version> (build <tag>)` when the lock names a managed build by its hash and
/// `.venv` runs on a managed build with another: the lock's Python hash was edited (or the
/// lock was made on another platform, whose archive differs), which no stamp would show.
fn other_python_build(venv: &Venv, lock: &Lock) -> Option<String> {
    let locked = lock.python.sha256.as_deref()?;
    let home = venv.cfg().ok()?.home()?;
    let installed = python::managed::read(home.parent()?)?;
    (!installed.receipt.sha256.eq_ignore_ascii_case(locked)).then(|| {
        format!(
            "python {} (build {}, sha256 {})",
            lock.python.version,
            lock.python.build.as_deref().unwrap_or("?"),
            locked
        )
    })
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
    let index = env.index(project);
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

/// Whether `pair` may run: allowed on the command line, or recorded in `pyenvx.toml`.
fn opts_allow(project: &Project, allow_unsupported: bool, pair: Pair) -> bool {
    allow_unsupported || project.config.allow_unsupported.contains(&pair)
}

/// The locked Django on the locked Python, checked against Django's support table.
fn check_locked_pair(
    project: &Project,
    lock: &Lock,
    interp: &Interpreter,
    opts: &SyncOptions,
    env: &Env,
) -> Result<Option<Pair>> {
    let Some(django) = lock.package("django") else {
        return Ok(None);
    };
    let allow = |pair: Pair| opts_allow(project, opts.allow_unsupported, pair);
    let available = available_minors_fn(env);
    let suggest = |key: &str, value: &str| format!("`pyenvx pin {key} {value}`");
    let policy = Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    let (warnings, allowed) = support::check_resolved(&django.version, interp.version(), &policy)?;
    for w in warnings {
        env.reporter.warn(&w);
    }
    Ok(allowed)
}

/// Add an unsupported pair the user let through to `pyenvx.toml`, so later commands accept it.
pub fn record_allowed(project: &Project, pair: Pair) -> Result<()> {
    if project.config.allow_unsupported.contains(&pair) {
        return Ok(());
    }
    let mut edit = ConfigEdit::open(&project.config_path())?;
    edit.allow_unsupported(pair)?;
    edit.save()
}

/// Resolve the project's requirements for `interp` after checking its Django against Django's
/// own support table: an unsupported pair is refused before anything is resolved or written,
/// unless `policy` lets it through; where only later patch releases support the pair, their
/// floor joins the resolution (Django 3.2 on 3.10 resolves `>=3.2.9`). The main dependencies
/// and every dependency group are resolved together, so one version of each package serves
/// them all; which part needs which package is then found by resolving each part alone under
/// those versions. `seeds` (`name==version`, a project's own lock adopted by `init`) constrain
/// the resolution where they can; those that cannot hold for this Python are left out one by
/// one (`foreign_lock::resolve_keeping`) and returned with the reason.
pub fn resolve_supported(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    config: &Config,
    index: &IndexSettings,
    (upgrade, seeds): (bool, &[String]),
    policy: &Policy,
) -> Result<Supported> {
    let checked = support::check_pin(
        &config.requirements(),
        config.django.as_ref(),
        interp.version(),
        policy,
    )?;
    for w in &checked.warnings {
        env.reporter.warn(w);
    }
    // uv runs in a scratch directory: project-relative paths are made absolute for it, and
    // written back as the project gave them.
    let root = config.path.parent().unwrap_or(Path::new("."));
    let for_uv = |reqs: &[String]| -> Result<Vec<String>> {
        reqs.iter().map(|r| local::for_resolver(r, root)).collect()
    };
    let main = for_uv(&checked.requirements)?;
    let mut all = main.clone();
    let mut every_requirement = checked.requirements.clone();
    for reqs in config.groups.values() {
        for (r, u) in reqs.iter().zip(for_uv(reqs)?) {
            if !all.contains(&u) {
                all.push(u);
                every_requirement.push(r.clone());
            }
        }
    }
    let blame = |e: anyhow::Error| blame_groups(e, config, &checked.requirements);
    let (mut packages, unkept) = match seeds {
        [] => resolve_constrained(env, get_uv, interp, &all, &[], index, upgrade)
            .map(|p| (p, Vec::new())),
        seeds => super::foreign_lock::resolve_keeping(seeds, |kept| {
            resolve_constrained(env, get_uv, interp, &all, kept, index, upgrade)
        }),
    }
    .map_err(blame)?;
    for u in &unkept {
        env.reporter.detail(&format!(
            "{} left out for Python {}: {}",
            u.pin,
            interp.version(),
            u.why
        ));
    }
    local::for_lock(&mut packages, &every_requirement, &config.editable);
    let membership = if config.groups.is_empty() {
        None
    } else {
        Some(membership(
            env, get_uv, interp, config, &main, &packages, index, &for_uv,
        )?)
    };
    let mut allowed = checked.allowed;
    // A range pin, or Django pulled in by a dependency: the release chosen is what runs.
    let named_series = config.django.as_ref().and_then(|d| d.series()).is_some();
    if !named_series {
        if let Some(django) = packages.iter().find(|p| p.name == "django") {
            let (warnings, let_through) =
                support::check_resolved(&django.version, interp.version(), policy)?;
            for w in warnings {
                env.reporter.warn(&w);
            }
            allowed = allowed.or(let_through);
        }
    }
    Ok(Supported {
        resolution: Resolution {
            packages,
            membership,
        },
        allowed,
        unkept,
    })
}

/// A resolution under Django's support policy.
#[derive(Debug)]
pub struct Supported {
    pub resolution: Resolution,
    /// The unsupported Django × Python pair that was let through.
    pub allowed: Option<Pair>,
    /// The seeds (an adopted project's own lock) that could not be kept, and why.
    pub unkept: Vec<super::foreign_lock::Unkept>,
}

/// A failed resolution whose first line names a package only a dependency group requires: the
/// group is named first, since the main dependencies are not what failed.
fn blame_groups(err: anyhow::Error, config: &Config, main: &[String]) -> anyhow::Error {
    let first = err.to_string();
    let first = first.lines().next().unwrap_or("");
    let words: Vec<String> = first
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map(config::normalize_name)
        .collect();
    let main: Vec<String> = main
        .iter()
        .filter_map(|r| config::requirement_name(r).ok())
        .collect();
    let mut blamed: Vec<String> = Vec::new();
    for (group, reqs) in &config.groups {
        for name in reqs.iter().filter_map(|r| config::requirement_name(r).ok()) {
            if !main.contains(&name) && words.contains(&name) {
                blamed.push(format!("`{group}` ({name})"));
            }
        }
    }
    if blamed.is_empty() {
        return err;
    }
    let line = format!(
        "dependency group {}: {}",
        blamed.join(", "),
        first.trim_end_matches(':')
    );
    let line = match line.char_indices().nth(199) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    };
    err.context(line)
}

/// Which packages of `packages` the main dependencies and each group need: each part resolved
/// alone with every version held to the whole resolution's, so the answer is a subset of it.
/// Pythons uv cannot serve resolve through pip, which is not asked again: there every group is
/// taken to need everything.
#[allow(clippy::too_many_arguments)]
fn membership(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    config: &Config,
    main: &[String],
    packages: &[Resolved],
    index: &IndexSettings,
    for_uv: &dyn Fn(&[String]) -> Result<Vec<String>>,
) -> Result<Membership> {
    let everything: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    if installer::legacy::needs_pip(interp.version()) {
        return Ok(Membership {
            main: everything.clone(),
            groups: config
                .groups
                .keys()
                .map(|g| (g.clone(), everything.clone()))
                .collect(),
        });
    }
    // Packages by URL, git or directory are requirements themselves; the rest are held.
    let pins: Vec<String> = packages
        .iter()
        .filter(|p| !p.direct && p.vcs.is_none() && p.directory.is_none())
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect();
    let names = |reqs: &[String]| -> Result<Vec<String>> {
        let part = resolve_constrained(env, get_uv, interp, reqs, &pins, index, false)?;
        Ok(part.into_iter().map(|p| p.name).collect())
    };
    let mut groups = std::collections::BTreeMap::new();
    for (name, reqs) in &config.groups {
        groups.insert(name.clone(), names(&for_uv(reqs)?)?);
    }
    Ok(Membership {
        main: names(main)?,
        groups,
    })
}

/// Python minors on this machine or downloadable, listed once on first need (only a refusal
/// needs them, to suggest a Python that can be had).
pub fn available_minors_fn<'a>(env: &'a Env<'a>) -> impl Fn(Minor) -> bool + 'a {
    let cell = std::cell::OnceCell::new();
    move |minor: Minor| cell.get_or_init(|| available_minors(env)).contains(&minor)
}

/// Every stable Python minor managed, found, or in the download catalog.
pub fn available_minors(env: &Env) -> Vec<Minor> {
    let mut minors: Vec<Minor> = available_versions(env)
        .iter()
        .map(support::minor_of)
        .collect();
    minors.dedup();
    minors
}

/// Every stable Python version managed, found, or in the download catalog, oldest first.
pub fn available_versions(env: &Env) -> Vec<pep440_rs::Version> {
    let mut versions: Vec<pep440_rs::Version> = Vec::new();
    if let Ok(installs) = python::managed::list(&env.settings.dirs, &env.platform) {
        versions.extend(installs.iter().map(|i| i.version().clone()));
    }
    if let Ok(found) = python::discovery::find_all(&env.settings.dirs, &env.settings.shim_dirs()) {
        versions.extend(found.into_iter().map(|f| f.version));
    }
    if let Ok(downloads) = python::catalog::load(
        &env.settings.dirs,
        &env.settings.catalog,
        &env.platform,
        true,
        env.reporter,
    ) {
        versions.extend(downloads.into_iter().map(|d| d.version));
    }
    versions.retain(|v| !v.any_prerelease());
    versions.sort();
    versions.dedup();
    versions
}

/// Resolve `requirements` for `interp`, reusing an earlier answer for the very same inputs and
/// starting uv only on a miss (or with `upgrade`).
pub fn resolve_with(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    requirements: &[String],
    index: &IndexSettings,
    upgrade: bool,
) -> Result<Vec<Resolved>> {
    resolve_constrained(env, get_uv, interp, requirements, &[], index, upgrade)
}

/// [`resolve_with`] under `constraints` (`name==version`: versions a package must have if it
/// is installed at all, as pip's `-c`).
pub fn resolve_constrained(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
    upgrade: bool,
) -> Result<Vec<Resolved>> {
    // `sync --upgrade-package` holds every other locked version through the env's constraints.
    let mut constraints = constraints.to_vec();
    constraints.extend(env.constraints());
    let cache = resolution_cache_path(env, interp, requirements, &constraints, index);
    if !upgrade {
        if let Some(hit) = std::fs::read_to_string(&cache)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<Resolved>>(&t).ok())
            // A cache entry is only a file on disk: what reaches the lock and uv is checked.
            .filter(|hit| crate::project::lock::validate_packages(hit).is_ok())
        {
            env.reporter.detail(&format!(
                "resolution of {} reused from {}",
                requirements.join(", "),
                cache.display()
            ));
            return Ok(hit);
        }
    }
    if requirements.is_empty() {
        return Ok(Vec::new());
    }
    // uv refuses Pythons before 3.6: pip 20.3.4, run by the interpreter itself, resolves for them.
    let legacy = installer::legacy::needs_pip(interp.version());
    let (resolver, pip_dir, uv) = if legacy {
        let pip = installer::legacy::pip_dir(
            &env.settings.dirs,
            &interp.executable(),
            index,
            env.settings.offline,
            env.reporter,
        )?;
        (pip.clone(), Some(pip), None)
    } else {
        let uv = get_uv()?;
        (uv.exe.clone(), None, Some(uv))
    };
    env.reporter.detail(&format!(
        "resolving {} for Python {} with {}",
        requirements.join(", "),
        interp.version(),
        resolver.display()
    ));
    // A resolution over the network can take seconds: a spinner says something is happening.
    let spinner = env.reporter.download_start(
        &format!("resolving {} requirements", requirements.len()),
        None,
    );
    let resolved = match (&uv, &pip_dir) {
        (Some(uv), _) => installer::resolve_constrained(
            uv,
            &interp.executable(),
            requirements,
            &constraints,
            index,
            env.settings.offline,
            &env.uv_cache(),
        ),
        (None, Some(pip)) => installer::legacy::resolve(
            pip,
            &interp.executable(),
            requirements,
            &constraints,
            index,
            env.settings.offline,
        ),
        (None, None) => unreachable!("one resolver was chosen above"),
    };
    env.reporter.download_done(spinner);
    let resolved = resolved?;
    // A local directory's name, version and dependencies are its files', which can change
    // under the same requirement: never reused.
    if resolved.iter().all(|p| p.directory.is_none()) {
        crate::fs::write_atomic(&cache, serde_json::to_string(&resolved)?.as_bytes())?;
    }
    Ok(resolved)
}

/// Where the resolution of exactly these inputs is cached: interpreter version and variant,
/// index settings, and the requirements in any order.
fn resolution_cache_path(
    env: &Env,
    interp: &Interpreter,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "v2\n{}\n{}\n{}\n",
        interp.version(),
        interp.freethreaded(),
        index.cache_key()
    ));
    let mut sorted = requirements.to_vec();
    sorted.sort();
    for r in &sorted {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    // Unconstrained keys stay as they were, so earlier resolutions are still found.
    for c in constraints {
        hasher.update(b"-c ");
        hasher.update(c.as_bytes());
        hasher.update(b"\n");
    }
    let key = hex::encode(&hasher.finalize()[..16]);
    env.settings
        .dirs
        .cache()
        .join("resolutions")
        .join(format!("{key}.json"))
}

fn write_python_version(project: &Project, interp: &Interpreter) -> Result<()> {
    let minor = minor_string(interp);
    let want = format!("{minor}\n");
    let path = project.python_version_file();
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    // A project's own `.python-version` (`3.10.4`, from before pyenvx) is kept while it names
    // the minor in use: pyenvx never rewrites a project's file to say the same thing.
    let same_minor = existing.lines().next().is_some_and(|l| {
        let l = l.trim();
        l == minor
            || l.strip_prefix(minor.as_str())
                .is_some_and(|r| r.starts_with('.'))
    });
    if existing != want && !same_minor {
        crate::fs::write_atomic(&path, want.as_bytes())?;
    }
    Ok(())
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
