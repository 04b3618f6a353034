//! Installing a lock into `.venv`: what is there already, what parked copies give back, what
//! the store links or fetches; and `.venv`'s drift from the lock, which `status` reports.

use super::*;

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
    let kept = keep_or_set_aside(venv, root, &dirs, &picks, env)?;
    let removed = kept.removed;
    if !removed.is_empty() && venv::is_legacy(interp.version()) {
        venv::sweep_orphan_bytecode(&venv.site_packages()?)?;
    }
    let mut added = Vec::new();
    let mut missing: Vec<Dist> = Vec::new();
    for p in picks {
        if kept
            .present
            .iter()
            .any(|(n, v)| *n == p.name && *v == p.version)
        {
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
        .filter(|d| !kept.dirs_present.contains(&d.name))
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
    if !missing.is_empty() {
        added.extend(link_from_store(venv, &missing, interp, index, env, uv)?);
    }
    Ok((added, removed))
}

/// What [`keep_or_set_aside`] left in `.venv`.
struct Kept {
    /// `name==version` of each distribution taken out (parked or removed).
    removed: Vec<String>,
    /// (name, version) of the locked files already in place (and of editables left alone).
    present: Vec<(String, String)>,
    /// The local directories installed as locked.
    dirs_present: Vec<String>,
}

/// Go through what `.venv` holds: keep what the lock wants (and the user's editables), park
/// (else remove) the rest.
fn keep_or_set_aside(
    venv: &Venv,
    root: &Path,
    dirs: &[&Resolved],
    picks: &[Dist],
    env: &Env,
) -> Result<Kept> {
    let installed = store::installed_dists(venv)?;
    let mut kept = Kept {
        removed: Vec::new(),
        present: Vec::new(),
        dirs_present: Vec::new(),
    };
    for dist in &installed {
        if let Some(d) = dirs.iter().find(|d| d.name == dist.name) {
            if local::is_installed(&dist.dist_info, d, root) {
                kept.dirs_present.push(d.name.clone());
            } else {
                store::remove_dist(venv, dist)?;
                kept.removed
                    .push(format!("{}=={}", dist.name, dist.version));
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
                    kept.present.push((p.name.clone(), p.version.clone()));
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
            kept.present.push((dist.name.clone(), dist.version.clone()));
        } else {
            // Set aside rather than deleted, so switching back is a few renames.
            if !store::park_dist(venv, dist, &installed)? {
                store::remove_dist(venv, dist)?;
            }
            kept.removed
                .push(format!("{}=={}", dist.name, dist.version));
        }
    }
    Ok(kept)
}

/// Link `missing` into `.venv` from the store, fetching into the store first what it lacks;
/// returns `name==version` of each.
fn link_from_store(
    venv: &Venv,
    missing: &[Dist],
    interp: &Interpreter,
    index: &IndexSettings,
    env: &Env,
    uv: &dyn Fn() -> Result<Uv>,
) -> Result<Vec<String>> {
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
    if !to_fetch.is_empty() {
        fetch_into_store(&store, &to_fetch, interp, &tag, index, env, uv)?;
    }
    let mut added = Vec::new();
    for p in missing {
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
    Ok(added)
}

/// Fetch `to_fetch` into the store: through uv, or for Pythons uv refuses, the wheels the store
/// unpacks itself and nothing else.
fn fetch_into_store(
    store: &Store,
    to_fetch: &[Dist],
    interp: &Interpreter,
    tag: &str,
    index: &IndexSettings,
    env: &Env,
    uv: &dyn Fn() -> Result<Uv>,
) -> Result<()> {
    let legacy = installer::legacy::needs_pip(interp.version());
    if !legacy {
        return store.fetch(
            &uv()?,
            &interp.executable(),
            tag,
            to_fetch,
            index,
            env.settings.offline,
            &env.uv_cache(),
            env.reporter,
        );
    }
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
    // The store unpacks plain wheels itself; what it leaves to uv (wheels with data files, or
    // anything when offline) uv cannot install for this Python.
    store
        .fetch(
            &installer::legacy::no_uv(),
            &interp.executable(),
            tag,
            to_fetch,
            index,
            env.settings.offline,
            &env.uv_cache(),
            env.reporter,
        )
        .with_context(|| {
            format!(
                "cannot install into the Python {} environment, where only wheels that \
                 pyenvx unpacks itself install (online, without data files)",
                minor_string(interp)
            )
        })
}

/// Whether `dist` in `.venv` is `p`: the same version, installed by pyenvx from the file with
/// `p`'s hash. Name and version alone would let an edited hash, or a distribution replaced by
/// hand, pass as synced.
pub(super) fn is_installed(dist: &store::InstalledDist, p: &Dist) -> bool {
    dist.version == p.version && store::installed_sha256(dist).as_deref() == Some(&p.sha256)
}

/// After a parked copy of `p` was set back: whether it is `p`'s file; if not, it is removed.
pub(super) fn unparked_matches(venv: &Venv, p: &Dist) -> Result<bool> {
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
pub(super) fn mismatched(
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
pub(super) fn other_python_build(venv: &Venv, lock: &Lock) -> Option<String> {
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
