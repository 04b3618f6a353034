//! The interpreter a sync runs on and the `.venv` made for it: chosen from the pin and the
//! lock, recorded for the shims, and moved aside when it belongs to another interpreter.

use super::*;

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

pub(super) fn venv_spec_home(interp: &Interpreter, env: &Env) -> PathBuf {
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

pub(super) fn minor_of(v: &pep440_rs::Version) -> String {
    let r = v.release();
    format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0))
}

/// Rename an environment out of the way; it is deleted once its replacement exists, so an
/// interruption never leaves the project with nothing but a half-built `.venv`.
pub(super) fn move_aside(project: &Project, dir: &Path) -> Result<()> {
    let aside = project
        .state_dir()
        .join(format!("old-venv-{}", std::process::id()));
    crate::fs::owned_dirs(&project.root, &project.state_dir())?;
    fs_err::rename(dir, &aside).with_context(|| format!("cannot move {} aside", dir.display()))?;
    Ok(())
}

pub(super) fn clean_aside(project: &Project) {
    if let Ok(entries) = std::fs::read_dir(project.state_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("old-venv-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

pub(super) fn write_python_version(project: &Project, interp: &Interpreter) -> Result<()> {
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
