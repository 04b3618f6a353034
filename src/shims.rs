//! Shims: `$PYENVX_HOME/shims/`, put first on PATH by `pyenvx shell-init`, holds hard links of
//! the `pyenvx-shim` launcher named `python`, `python3`, `pip`, `pip3`, `django-admin`,
//! `python3.X` for each managed minor, and every console script of the sandboxes pyenvx has
//! synced. Typing `python` then runs what `pyenvx run python` would, for a few `stat`s and one
//! `exec` (the launcher and its resolution are in `shims/`).
//!
//! This module keeps the directory in step with what is installed — install, rehash (after every
//! install, uninstall and sync, via [`after_change`]), list, remove — keeps the registry of known
//! project roots whose scripts get shims, and finishes resolution where the launcher cannot:
//! requests that need the full interpreter search (the slow path, `pyenvx shims exec`) and the
//! explanation `pyenvx which` prints. It never prints.
//!
//! Layout of the directory (it belongs to pyenvx; anything else in it is removed on rehash):
//! - `.pyenvx-shim`: pyenvx's own copy of the launcher — the static one it embeds (see
//!   build.rs), else the one beside it. Every shim is a hard link to it: links within one
//!   directory always work (the launcher beside pyenvx may be on another file system), and
//!   `cargo install` replacing that launcher never changes a running shim. `.pyenvx-shim.id`
//!   names an embedded launcher's build.
//! - `.pyenvx`: a link to the pyenvx executable, which the slow path execs.
//! - one hard link per name.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use pyenvx_shim::{Context, Pending, Resolution, MASTER, ORIGINAL_PATH_VAR, PYENVX_LINK};
use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::filelock::FileLock;
use crate::platform::Platform;
use crate::python::{self, managed, PythonRequest};
use crate::settings::{PythonPreference, Settings};
use crate::user_error;

/// Shims every installation has, whatever is installed: the names people type.
pub const ALWAYS: [&str; 5] = ["python", "python3", "pip", "pip3", "django-admin"];

/// File name of the launcher beside the pyenvx executable.
pub const LAUNCHER: &str = "pyenvx-shim";

/// What a rehash did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub dir: PathBuf,
    /// Every shim now in the directory.
    pub names: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The launcher a shims directory gets its copy from.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// The statically linked launcher this pyenvx carries (see build.rs): no dynamic loader
    /// at each `python`. `id` names this very build of it.
    Embedded {
        bytes: &'static [u8],
        id: &'static str,
    },
    /// A launcher binary on disk: `pyenvx-shim` beside pyenvx where no static one could be built.
    File(PathBuf),
}

/// The launcher this pyenvx installs: its own static one when the build made one, otherwise
/// the one beside the executable.
pub fn launcher() -> Result<Launcher> {
    #[cfg(pyenvx_static_shim)]
    {
        Ok(Launcher::Embedded {
            bytes: include_bytes!(env!("PYENVX_STATIC_SHIM_PATH")),
            id: env!("PYENVX_STATIC_SHIM_ID"),
        })
    }
    #[cfg(not(pyenvx_static_shim))]
    {
        launcher_beside_current_exe().map(Launcher::File)
    }
}

/// The launcher installed beside the running pyenvx (`cargo install` and `cargo build` put both
/// binaries in one directory, and so does a wheel's install).
pub fn launcher_beside_current_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running pyenvx executable")?;
    launcher_beside(&exe).ok_or_else(|| {
        user_error!(
            hint =
                "reinstall pyenvx the way you installed it (`uv tool install`, `pip install` or \
                    `cargo install --path .`): each installs both pyenvx and pyenvx-shim",
            "the shim launcher {} is missing",
            exe.with_file_name(LAUNCHER).display()
        )
    })
}

/// The launcher beside `exe`, or beside the file `exe` links to: `uv tool install` puts a
/// symlink to the tool environment's `bin/pyenvx` in its bin directory, and where the running
/// executable's path is not already resolved (it is on Linux), the launcher is beside the target.
fn launcher_beside(exe: &Path) -> Option<PathBuf> {
    let beside = exe.with_file_name(LAUNCHER);
    if beside.is_file() {
        return Some(beside);
    }
    let beside_target = fs_err::canonicalize(exe).ok()?.with_file_name(LAUNCHER);
    beside_target.is_file().then_some(beside_target)
}

/// Whether `pyenvx shims install` has made the directory.
pub fn is_installed(dirs: &Dirs) -> bool {
    dirs.shims().join(MASTER).is_file()
}

/// Create or refresh the shims directory from `launcher`, with `.pyenvx` pointing at `pyenvx`.
pub fn install(
    dirs: &Dirs,
    platform: &Platform,
    launcher: &Launcher,
    pyenvx: &Path,
) -> Result<Summary> {
    let _lock = lock(dirs)?;
    fs_err::create_dir_all(dirs.shims())?;
    refresh(dirs, platform, Some(launcher), Some(pyenvx))
}

/// Bring an installed shims directory in step with what is installed. `launcher` and `pyenvx`
/// replace the copies in it when given and different.
pub fn rehash(
    dirs: &Dirs,
    platform: &Platform,
    launcher: Option<&Launcher>,
    pyenvx: Option<&Path>,
) -> Result<Summary> {
    let _lock = lock(dirs)?;
    if !is_installed(dirs) {
        return Err(user_error!(
            hint = "create them with `pyenvx shims install`",
            "no shims in {}",
            dirs.shims().display()
        ));
    }
    refresh(dirs, platform, launcher, pyenvx)
}

/// Delete the shims directory; false when there was none.
pub fn remove(dirs: &Dirs) -> Result<bool> {
    let _lock = lock(dirs)?;
    let dir = dirs.shims();
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(false);
    }
    // Renamed first, so PATH never sees a half-deleted directory.
    let trash = dirs
        .home()
        .join(format!(".tmp-shims-old-{}", std::process::id()));
    fs_err::rename(&dir, &trash)?;
    fs_err::remove_dir_all(&trash)?;
    Ok(true)
}

/// The hook every command that installs or removes something calls last: remember `project`
/// (whose console scripts get shims), then rehash — only if shims are installed, so it costs a
/// read of `projects.json` and a `stat` for everyone else. A newer launcher beside the running
/// pyenvx replaces the copy in the directory.
pub fn after_change(dirs: &Dirs, project: Option<&Path>) -> Result<Option<Summary>> {
    if let Some(root) = project {
        register_project(dirs, root)?;
    }
    if !is_installed(dirs) {
        return Ok(None);
    }
    let launcher = launcher().ok();
    let pyenvx = std::env::current_exe().ok();
    rehash(
        dirs,
        &Platform::current(),
        launcher.as_ref(),
        pyenvx.as_deref(),
    )
    .map(Some)
}

/// Shims are rewritten by one pyenvx at a time: two syncs finishing together must not each
/// remove the other's new scripts.
fn lock(dirs: &Dirs) -> Result<FileLock> {
    FileLock::acquire(&dirs.locks().join("shims.lock"), || {})
}

fn refresh(
    dirs: &Dirs,
    platform: &Platform,
    launcher: Option<&Launcher>,
    pyenvx: Option<&Path>,
) -> Result<Summary> {
    let dir = dirs.shims();
    let master = dir.join(MASTER);
    if let Some(launcher) = launcher {
        update_master(launcher, &master)?;
    }
    if let Some(pyenvx) = pyenvx {
        update_link(pyenvx, &dir.join(PYENVX_LINK))?;
    }
    let master_meta = fs_err::metadata(&master)?;
    let wanted = wanted(dirs, platform)?;
    let mut summary = Summary {
        dir: dir.clone(),
        ..Summary::default()
    };
    for name in wanted.keys() {
        let path = dir.join(name);
        let current = std::fs::symlink_metadata(&path).ok();
        if current
            .as_ref()
            .is_some_and(|m| m.dev() == master_meta.dev() && m.ino() == master_meta.ino())
        {
            continue;
        }
        // Made under a temporary name and renamed over the old one: a `python` started during
        // a rehash finds either the old shim or the new one, never nothing.
        crate::fs::replace_with(&path, |tmp| {
            if std::fs::hard_link(&master, tmp).is_err() {
                // File systems without hard links get copies; only the directory identifies them.
                fs_err::copy(&master, tmp)?;
            }
            Ok(())
        })?;
        if current.is_none() {
            summary.added.push(name.clone());
        }
    }
    for entry in fs_err::read_dir(&dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') || wanted.contains_key(&name) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs_err::remove_dir_all(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
        summary.removed.push(name);
    }
    summary.names = wanted.into_keys().collect();
    Ok(summary)
}

/// Copy the launcher into the directory when it differs, without reading the installed copy
/// (the hook after every sync runs this): an embedded launcher is known by its id, kept in a
/// file beside the copy; a file by size and modification time (the copy takes the source's).
fn update_master(launcher: &Launcher, master: &Path) -> Result<()> {
    match launcher {
        Launcher::Embedded { bytes, id } => update_master_embedded(bytes, id, master),
        Launcher::File(path) => update_master_from_file(path, master),
    }
}

fn update_master_embedded(bytes: &[u8], id: &str, master: &Path) -> Result<()> {
    let id_file = master.with_file_name(format!("{MASTER}.id"));
    let same_id = std::fs::read_to_string(&id_file).is_ok_and(|current| current == id);
    let same_len = std::fs::metadata(master).is_ok_and(|m| m.len() == bytes.len() as u64);
    if same_id && same_len {
        return Ok(());
    }
    crate::fs::replace_with(master, |tmp| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        std::io::Write::write_all(&mut file, bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))
    })?;
    crate::fs::write_atomic(&id_file, id.as_bytes())
}

fn update_master_from_file(launcher: &Path, master: &Path) -> Result<()> {
    let source = fs_err::metadata(launcher)?;
    if let Ok(current) = std::fs::metadata(master) {
        if current.len() == source.len() && current.modified().ok() == source.modified().ok() {
            return Ok(());
        }
    }
    crate::fs::replace_with(master, |tmp| {
        fs_err::copy(launcher, tmp)?;
        if let Ok(mtime) = source.modified() {
            let file = fs_err::OpenOptions::new().write(true).open(tmp)?;
            file.file().set_modified(mtime).with_context(|| {
                format!("cannot set the modification time of {}", tmp.display())
            })?;
        }
        Ok(())
    })?;
    // The copy is no longer an embedded launcher: its id would misname it.
    let _ = std::fs::remove_file(master.with_file_name(format!("{MASTER}.id")));
    Ok(())
}

/// Point `link` at `target` (absolute), atomically, unless it already does.
fn update_link(target: &Path, link: &Path) -> Result<()> {
    if std::fs::read_link(link).ok().as_deref() == Some(target) {
        return Ok(());
    }
    crate::fs::replace_symlink(target, link)
}

/// Every shim there should be, each with where it comes from (for `pyenvx shims list`).
pub fn wanted(dirs: &Dirs, platform: &Platform) -> Result<BTreeMap<String, Vec<String>>> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in ALWAYS {
        names
            .entry(name.to_string())
            .or_default()
            .push("pyenvx".into());
    }
    for install in managed::list(dirs, platform)? {
        let name = managed::executable_name(install.version(), install.freethreaded());
        names
            .entry(name)
            .or_default()
            .push(format!("managed {}", install.version()));
    }
    for root in known_projects(dirs)? {
        for name in venv_commands(&root.join(".venv").join("bin")) {
            names
                .entry(name)
                .or_default()
                .push(root.display().to_string());
        }
    }
    Ok(names)
}

/// The commands in a sandbox's `bin/`: executable files, less the activation scripts and
/// pyenvx's own names (a shim called `pyenvx` would shadow pyenvx itself).
fn venv_commands(bin: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(bin) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let skip = name.starts_with('.')
            || name.starts_with("activate")
            || name.starts_with("Activate")
            || name == "deactivate"
            || name == "pyenvx"
            || name == LAUNCHER;
        if skip {
            continue;
        }
        let executable =
            std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0);
        if executable {
            out.push(name);
        }
    }
    out
}

/// `projects.json`: the roots of the projects pyenvx has initialised or synced.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    projects: Vec<PathBuf>,
}

fn read_registry(dirs: &Dirs) -> Registry {
    // A damaged registry only costs shims for other projects' scripts until their next sync.
    std::fs::read_to_string(dirs.known_projects())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_registry(dirs: &Dirs, registry: &Registry) -> Result<()> {
    let text = serde_json::to_string_pretty(registry)?;
    crate::fs::write_atomic(&dirs.known_projects(), format!("{text}\n").as_bytes())
}

/// Remember a project root so its console scripts get shims.
pub fn register_project(dirs: &Dirs, root: &Path) -> Result<()> {
    let _lock = lock(dirs)?;
    let mut registry = read_registry(dirs);
    if registry.projects.iter().any(|p| p == root) {
        return Ok(());
    }
    registry.projects.push(root.to_path_buf());
    registry.projects.sort();
    write_registry(dirs, &registry)
}

/// The registered roots that are still projects; the others are forgotten.
fn known_projects(dirs: &Dirs) -> Result<Vec<PathBuf>> {
    let mut registry = read_registry(dirs);
    let before = registry.projects.len();
    registry
        .projects
        .retain(|root| root.join(pyenvx_shim::PROJECT_FILE).is_file());
    if registry.projects.len() != before {
        write_registry(dirs, &registry)?;
    }
    Ok(registry.projects)
}

/// The names in the shims directory now.
pub fn installed_names(dirs: &Dirs) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs_err::read_dir(dirs.shims())?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// What a shim would exec, and why.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub program: PathBuf,
    pub why: String,
}

/// The launcher's view of this process: the same environment, with pyenvx's own resolution of
/// `PYENVX_HOME` and the preference, and the caller's PATH when the launcher set it aside.
pub fn context(settings: &Settings) -> Context {
    let mut ctx = Context::from_env();
    ctx.home = Some(settings.dirs.home().to_path_buf());
    ctx.preference = match settings.preference {
        PythonPreference::Managed => pyenvx_shim::Preference::Managed,
        PythonPreference::OnlyManaged => pyenvx_shim::Preference::OnlyManaged,
        PythonPreference::System | PythonPreference::OnlySystem => pyenvx_shim::Preference::Search,
    };
    if let Some(original) = std::env::var_os(ORIGINAL_PATH_VAR) {
        ctx.path = Some(original);
    }
    ctx
}

/// Resolve `name` as a shim in the working directory would, finishing the slow path with the
/// interpreter search of `pyenvx python find`.
pub fn resolve(settings: &Settings, name: &str) -> Result<Resolved> {
    let ctx = context(settings);
    let resolution = match pyenvx_shim::resolve(&ctx, name) {
        Resolution::Find(pending) => find(settings, &ctx, name, pending)?,
        other => other,
    };
    match resolution {
        Resolution::Run(target) => {
            if is_shim(&settings.dirs, &target.program) {
                let failure = pyenvx_shim::Failure::Loop {
                    name: name.to_string(),
                    hops: 1,
                };
                return Err(user_error!(hint = failure.fix(), "{}", failure.message()));
            }
            Ok(Resolved {
                program: target.program,
                why: target.why.to_string(),
            })
        }
        Resolution::Fail(failure) => {
            Err(user_error!(hint = failure.fix(), "{}", failure.message()))
        }
        Resolution::Find(pending) => Err(anyhow::anyhow!(
            "resolution of `{name}` stopped at `{}` ({})",
            pending.request,
            pending.why
        )),
    }
}

fn find(settings: &Settings, ctx: &Context, name: &str, pending: Pending) -> Result<Resolution> {
    let request = PythonRequest::parse(&pending.request)
        .with_context(|| format!("cannot use the Python request of {}", pending.why))?;
    match python::find(settings, &Platform::current(), &request)? {
        Some(interpreter) => Ok(pyenvx_shim::in_interpreter(
            ctx,
            name,
            &interpreter.executable(),
            pending.why,
        )),
        None => Err(user_error!(
            hint = format!(
                "install it with `pyenvx python install {}`",
                pending.request
            ),
            "no Python on this machine matches `{}` ({})",
            pending.request,
            pending.why
        )),
    }
}

/// Whether `program` is one of the shims (a hard link of the launcher's copy).
fn is_shim(dirs: &Dirs, program: &Path) -> bool {
    let (Ok(a), Ok(b)) = (
        std::fs::metadata(program),
        std::fs::metadata(dirs.shims().join(MASTER)),
    ) else {
        return false;
    };
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(test)]
mod tests {
    //! The launcher's resolution order on fake trees (files with an exec bit stand in for
    //! interpreters); tests/shims.rs runs the real binaries.

    use std::os::unix::fs::PermissionsExt;

    use pyenvx_shim::{next_hops, Preference, Resolution, Why};

    use super::*;

    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Tree {
        fn new() -> Self {
            let tmp = crate::test_machine::tempdir().unwrap();
            let root = fs_err::canonicalize(tmp.path()).unwrap();
            Self { _tmp: tmp, root }
        }

        fn exe(&self, rel: &str) -> PathBuf {
            let path = self.root.join(rel);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, "#!/bin/sh\n").unwrap();
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        fn file(&self, rel: &str, text: &str) {
            let path = self.root.join(rel);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }

        fn ctx(&self, cwd: &str, path: &[&str]) -> Context {
            let cwd = self.root.join(cwd);
            fs_err::create_dir_all(&cwd).unwrap();
            let dirs: Vec<PathBuf> = path.iter().map(|d| self.root.join(d)).collect();
            Context {
                cwd: Some(cwd),
                home: Some(self.root.join("home")),
                pyenv_root: Some(self.root.join("pyenv")),
                path: Some(std::env::join_paths(dirs).unwrap()),
                python: None,
                preference: Preference::Managed,
                shim_exe: None,
            }
        }

        /// What `sync` leaves when it makes the `.venv` of the project at `rel`: its record
        /// under `home`, without which the shims skip the `.venv`.
        fn recorded(&self, rel: &str) {
            let root = self.root.join(rel);
            let meta = fs_err::symlink_metadata(root.join(".venv")).unwrap();
            let record = pyenvx_shim::venv_record_path(&self.root.join("home"), &root);
            fs_err::create_dir_all(record.parent().unwrap()).unwrap();
            fs_err::write(record, pyenvx_shim::venv_record(&root, &meta)).unwrap();
        }

        /// A managed 3.X under `home/python`, with its minor-link name.
        fn managed(&self, minor: &str) {
            let platform = Platform::current().key();
            self.exe(&format!(
                "home/python/cpython-{minor}-{platform}/bin/python{minor}"
            ));
        }
    }

    fn run(resolution: Resolution) -> (PathBuf, Why) {
        match resolution {
            Resolution::Run(t) => (t.program, t.why),
            other => panic!("expected a program, got {other:?}"),
        }
    }

    #[test]
    fn a_project_wins_over_a_nearer_python_version_and_the_pin() {
        let t = Tree::new();
        t.file("p/pyenvx.toml", "");
        let python = t.exe("p/.venv/bin/python");
        t.recorded("p");
        t.file("p/sub/.python-version", "3.11\n");
        t.file("home/python-version", "3.12\n");
        let (program, why) = run(pyenvx_shim::resolve(&t.ctx("p/sub/deep", &[]), "python"));
        assert_eq!(program, python);
        assert_eq!(
            why,
            Why::Project {
                root: t.root.join("p")
            }
        );
    }

    #[test]
    fn a_python_version_uses_the_managed_minor_link_or_asks_for_a_search() {
        let t = Tree::new();
        t.managed("3.12");
        t.file("a/.python-version", "# pinned by pyenv\n3.12\n");
        let (program, why) = run(pyenvx_shim::resolve(&t.ctx("a/b", &[]), "python"));
        assert!(program.ends_with("bin/python3.12"), "{program:?}");
        assert!(matches!(why, Why::VersionFile { ref request, .. } if request == "3.12"));
        // A range needs pyenvx's search; so does every request under a `system` preference.
        t.file("r/.python-version", ">=3.11,<3.13\n");
        assert!(matches!(
            pyenvx_shim::resolve(&t.ctx("r", &[]), "python"),
            Resolution::Find(_)
        ));
        let mut ctx = t.ctx("a", &[]);
        ctx.preference = Preference::Search;
        assert!(matches!(
            pyenvx_shim::resolve(&ctx, "python"),
            Resolution::Find(_)
        ));
    }

    #[test]
    fn a_path_in_a_python_version_is_ignored() {
        // pyenv's CVE-2022-35861: a repository must not pick the program run as `python`.
        let t = Tree::new();
        t.managed("3.12");
        t.file("home/python-version", "3.12\n");
        for (dir, request) in [
            ("a", "tools/py"),
            ("b", "../../x/tools/py"),
            ("c", "./py"),
            ("d", "/usr/bin/python3"),
        ] {
            t.exe(&format!("{dir}/tools/py"));
            t.exe(&format!("{dir}/py"));
            t.file(&format!("{dir}/.python-version"), &format!("{request}\n"));
            let (program, why) = run(pyenvx_shim::resolve(&t.ctx(dir, &[]), "python"));
            assert!(
                program.ends_with("bin/python3.12"),
                "{request}: {program:?}"
            );
            assert!(matches!(why, Why::GlobalPin { .. }), "{request}: {why:?}");
        }
        // A compatible-release range is a version request, not a home-relative path.
        t.file("e/.python-version", "~=3.12\n");
        assert!(matches!(
            pyenvx_shim::resolve(&t.ctx("e", &[]), "python"),
            Resolution::Find(_)
        ));
    }

    #[test]
    fn an_exact_pyenv_version_is_taken_without_a_search() {
        let t = Tree::new();
        let python = t.exe("pyenv/versions/3.11.7/bin/python3.11");
        let pip = t.exe("pyenv/versions/3.11.7/bin/pip");
        t.file("w/.python-version", "3.11.7\n");
        assert_eq!(
            run(pyenvx_shim::resolve(&t.ctx("w", &[]), "python")).0,
            python
        );
        assert_eq!(run(pyenvx_shim::resolve(&t.ctx("w", &[]), "pip")).0, pip);
        // Only managed builds may be taken under `only-managed`.
        let mut ctx = t.ctx("w", &[]);
        ctx.preference = Preference::OnlyManaged;
        assert!(matches!(
            pyenvx_shim::resolve(&ctx, "python"),
            Resolution::Find(_)
        ));
    }

    #[test]
    fn a_python3_x_name_asks_for_that_minor() {
        let t = Tree::new();
        t.managed("3.13");
        t.file("p/pyenvx.toml", "");
        t.exe("p/.venv/bin/python");
        t.exe("p/.venv/bin/python3.12");
        t.recorded("p");
        let (program, why) = run(pyenvx_shim::resolve(&t.ctx("p", &[]), "python3.13"));
        assert!(program.ends_with("bin/python3.13"), "{program:?}");
        assert_eq!(
            why,
            Why::Minor {
                minor: "3.13".into()
            }
        );
        // Under a pin for another minor, too.
        t.file("home/python-version", "3.12\n");
        let (_, why) = run(pyenvx_shim::resolve(&t.ctx("", &[]), "python3.13"));
        assert!(matches!(why, Why::Minor { .. }));
    }

    #[test]
    fn the_python_variable_comes_first() {
        let t = Tree::new();
        t.file("p/pyenvx.toml", "");
        t.exe("p/.venv/bin/python");
        let env_python = t.exe("env/bin/python");
        let mut ctx = t.ctx("p", &[]);
        ctx.python = Some(t.root.join("env").into_os_string());
        let (program, why) = run(pyenvx_shim::resolve(&ctx, "python"));
        assert_eq!((program, why), (env_python, Why::PythonVar));
        ctx.python = Some(t.root.join("missing").into_os_string());
        assert!(matches!(
            pyenvx_shim::resolve(&ctx, "python"),
            Resolution::Fail(pyenvx_shim::Failure::BadPythonVar { .. })
        ));
    }

    #[test]
    fn the_launcher_is_found_beside_the_target_of_a_linked_pyenvx() {
        // `uv tool install`'s layout: the bin directory on PATH holds a symlink to the tool
        // environment's `bin/pyenvx`, beside which the wheel put `pyenvx-shim`.
        let t = Tree::new();
        let exe = t.exe("tools/pyenvx/bin/pyenvx");
        let launcher = t.exe("tools/pyenvx/bin/pyenvx-shim");
        fs_err::create_dir_all(t.root.join("bin")).unwrap();
        std::os::unix::fs::symlink(&exe, t.root.join("bin/pyenvx")).unwrap();
        assert_eq!(
            launcher_beside(&t.root.join("bin/pyenvx")),
            Some(launcher.clone())
        );
        // pip's layout (and cargo's): both in one directory, nothing to resolve.
        assert_eq!(launcher_beside(&exe), Some(launcher));
        assert_eq!(launcher_beside(&t.exe("lonely/pyenvx")), None);
    }

    #[test]
    fn path_search_skips_the_shims_however_they_are_spelled() {
        let t = Tree::new();
        let shims = t.root.join("home/shims");
        t.exe("home/shims/.pyenvx-shim");
        fs_err::hard_link(shims.join(".pyenvx-shim"), {
            fs_err::create_dir_all(t.root.join("elsewhere")).unwrap();
            t.root.join("elsewhere/python3")
        })
        .unwrap();
        fs_err::hard_link(shims.join(".pyenvx-shim"), shims.join("python3")).unwrap();
        std::os::unix::fs::symlink(&shims, t.root.join("alias")).unwrap();
        let real = t.exe("usr/bin/python3");
        let ctx = t.ctx(
            "w",
            &[
                "home/shims",
                "alias",
                "home/shims/.",
                "elsewhere",
                "usr/bin",
            ],
        );
        let (program, why) = run(pyenvx_shim::resolve(&ctx, "python3"));
        assert_eq!(program, real);
        assert_eq!(
            why,
            Why::Path {
                dir: t.root.join("usr/bin")
            }
        );
        let stripped = pyenvx_shim::path_without_shims(&ctx).unwrap();
        let kept: Vec<PathBuf> = std::env::split_paths(&stripped).collect();
        assert_eq!(kept, [t.root.join("elsewhere"), t.root.join("usr/bin")]);
    }

    #[test]
    fn missing_sandboxes_and_pip_fail_with_the_fix() {
        let t = Tree::new();
        t.file("p/pyenvx.toml", "");
        let Resolution::Fail(failure) = pyenvx_shim::resolve(&t.ctx("p", &[]), "pytest") else {
            panic!("expected a failure");
        };
        assert_eq!(
            failure.to_string(),
            format!(
                "no .venv in {}; run `pyenvx sync`",
                t.root.join("p").display()
            )
        );
        t.exe("p/.venv/bin/python");
        t.recorded("p");
        t.exe("bin/pip");
        let resolution = pyenvx_shim::resolve(&t.ctx("p", &["bin"]), "pip");
        assert!(
            matches!(
                resolution,
                Resolution::Fail(pyenvx_shim::Failure::NoPipInVenv { .. })
            ),
            "{resolution:?}"
        );
    }

    #[test]
    fn a_venv_without_pyenvx_s_record_is_skipped() {
        let t = Tree::new();
        t.file("p/pyenvx.toml", "");
        t.exe("p/.venv/bin/python");
        let system = t.exe("usr/bin/python");
        // Came with the files: as if there were no project.
        let (program, why) = run(pyenvx_shim::resolve(
            &t.ctx("p/app", &["usr/bin"]),
            "python",
        ));
        assert_eq!(program, system);
        assert!(matches!(why, Why::Path { .. }), "{why:?}");
        // Recorded by a sync: the project's.
        t.recorded("p");
        let (program, _) = run(pyenvx_shim::resolve(
            &t.ctx("p/app", &["usr/bin"]),
            "python",
        ));
        assert_eq!(program, t.root.join("p/.venv/bin/python"));
        // Replaced since (a clone at a deleted project's path): another directory, no match.
        fs_err::rename(t.root.join("p/.venv"), t.root.join("p/old")).unwrap();
        t.exe("p/.venv/bin/python");
        let (program, _) = run(pyenvx_shim::resolve(
            &t.ctx("p/app", &["usr/bin"]),
            "python",
        ));
        assert_eq!(program, system);
        // A record for another path never vouches for this one.
        t.file("q/pyenvx.toml", "");
        t.exe("q/.venv/bin/python");
        let (program, _) = run(pyenvx_shim::resolve(&t.ctx("q", &["usr/bin"]), "python"));
        assert_eq!(program, system);
    }

    #[test]
    fn the_services_file_counts_only_when_pyenvx_could_have_written_it() {
        let t = Tree::new();
        let file = t.root.join("p").join(pyenvx_shim::SERVICE_ENV);
        let mode = |m: u32| {
            fs_err::set_permissions(&file, std::fs::Permissions::from_mode(m)).unwrap();
        };
        assert_eq!(pyenvx_shim::service_env(&t.root.join("p")), Ok(Vec::new()));
        t.file(
            "p/.pyenvx/services/env",
            "DATABASE_URL=postgres://x\nREDIS_URL=redis://y\n",
        );
        mode(0o600);
        assert_eq!(
            pyenvx_shim::service_env(&t.root.join("p")),
            Ok(vec![
                ("DATABASE_URL".to_string(), "postgres://x".to_string()),
                ("REDIS_URL".to_string(), "redis://y".to_string())
            ])
        );
        mode(0o644);
        let err = pyenvx_shim::service_env(&t.root.join("p")).unwrap_err();
        assert!(err.contains("its mode is 644"), "{err}");
        t.file("p/.pyenvx/services/env", "PGHOST=x\nLD_PRELOAD=/tmp/x.so\n");
        mode(0o600);
        let err = pyenvx_shim::service_env(&t.root.join("p")).unwrap_err();
        assert!(
            err.contains("`LD_PRELOAD` is not a variable pyenvx writes"),
            "{err}"
        );
    }

    #[test]
    fn every_variable_pyenvx_writes_for_the_shims_is_one_they_accept() {
        let creds = crate::services::credentials::Credentials {
            user: "u".into(),
            password: "p".into(),
            database: "d".into(),
        };
        for engine in [
            crate::services::DbEngine::Postgres,
            crate::services::DbEngine::Mariadb,
        ] {
            let identity = crate::services::credentials::Identity {
                credentials: creds.clone(),
                port: 5433,
                engine,
            };
            for (k, _) in identity.vars() {
                assert!(pyenvx_shim::SERVICE_ENV_NAMES.contains(&k.as_str()), "{k}");
            }
        }
        let cache = crate::services::redis::CacheIdentity {
            password: "p".into(),
            port: 6380,
        };
        for (k, _) in cache.vars() {
            assert!(pyenvx_shim::SERVICE_ENV_NAMES.contains(&k.as_str()), "{k}");
        }
    }

    #[test]
    fn hops_count_only_within_one_process() {
        assert_eq!(next_hops(None, 42), 1);
        assert_eq!(next_hops(Some("42:3".as_ref()), 42), 4);
        assert_eq!(next_hops(Some("41:3".as_ref()), 42), 1);
        assert_eq!(next_hops(Some("garbage".as_ref()), 42), 1);
    }

    #[test]
    fn rehash_links_every_name_and_removes_stale_ones() {
        let t = Tree::new();
        let dirs = Dirs::new(t.root.join("home"), t.root.join("cache"));
        let launcher = t.exe("bin/pyenvx-shim");
        let pyenvx = t.exe("bin/pyenvx");
        let platform = Platform::current();
        install(&dirs, &platform, &Launcher::File(launcher.clone()), &pyenvx).unwrap();
        assert_eq!(
            fs_err::read_link(dirs.shims().join(PYENVX_LINK)).unwrap(),
            pyenvx
        );
        t.file("p/pyenvx.toml", "");
        t.exe("p/.venv/bin/pytest");
        t.file("p/.venv/bin/activate", "");
        t.exe("home/shims/leftover");
        let summary = after_change(&dirs, Some(&t.root.join("p")))
            .unwrap()
            .unwrap();
        assert_eq!(summary.added, ["pytest"]);
        assert_eq!(summary.removed, ["leftover"]);
        assert_eq!(
            installed_names(&dirs).unwrap(),
            ["django-admin", "pip", "pip3", "pytest", "python", "python3"]
        );
        // Nothing changed: nothing rewritten.
        let again = rehash(
            &dirs,
            &platform,
            Some(&Launcher::File(launcher.clone())),
            None,
        )
        .unwrap();
        assert!(again.added.is_empty() && again.removed.is_empty());
        assert!(remove(&dirs).unwrap());
        assert!(!dirs.shims().exists());
        // No shims directory: the hook only remembers the project.
        assert!(after_change(&dirs, Some(&t.root.join("p")))
            .unwrap()
            .is_none());
    }
}
