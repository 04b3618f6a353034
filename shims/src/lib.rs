//! What `python`, `pip`, `django-admin` or `pytest` means in a directory: the resolution behind
//! pyenvx's shims.
//!
//! Both the launcher (`pyenvx-shim`, hard-linked under every shim name) and pyenvx itself
//! (`pyenvx which`, and `pyenvx shims exec` for the slow path) call [`resolve`], so the
//! explanation a user reads comes from the code that runs. It links nothing but std and touches
//! the file system with `stat`s and at most one small read (a `.python-version`, the global
//! pin, or the record of a project's sandbox; a project's services file besides): every
//! `python` an editor, a test runner or a Makefile starts pays for it.
//!
//! First hit wins:
//! 1. `PYENVX_PYTHON`: an interpreter, an environment or prefix directory, or a version request;
//! 2. the nearest project (`pyenvx.toml`) at or above the working directory: its `.venv/bin/NAME`,
//!    when pyenvx recorded making that `.venv` (under `PYENVX_HOME`); a `.venv` that came with a
//!    clone is skipped with one line on stderr, and the search goes on below;
//! 3. the nearest `.python-version`: that interpreter's `bin/NAME`;
//! 4. the global pin (`$PYENVX_HOME/python-version`): likewise;
//! 5. the next `NAME` on PATH that is not a shim.
//!
//! A project beats a nearer `.python-version` below it, so inside a project `python` is always
//! what `pyenvx run python` runs. A `python3.X` name asks for that minor: where the selected
//! environment has no `python3.X`, the managed 3.X is used, else the next one on PATH.
//!
//! A request only a full interpreter search can answer (a `3.11` pyenvx did not install, a
//! range, any request under a `system` preference) comes back as [`Resolution::Find`]; the
//! launcher hands those to `pyenvx shims exec`, which searches like `pyenvx python find`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The file that makes a directory a project.
pub const PROJECT_FILE: &str = "pyenvx.toml";
/// pyenv's and uv's per-directory interpreter request.
pub const VERSION_FILE: &str = ".python-version";
/// The global pin, under `PYENVX_HOME`.
pub const GLOBAL_PIN: &str = "python-version";
/// The shims directory, under `PYENVX_HOME`.
pub const SHIMS_DIR: &str = "shims";
/// The launcher's own copy in the shims directory; every shim is a hard link to it, so one
/// inode identifies them all.
pub const MASTER: &str = ".pyenvx-shim";
/// A link in the shims directory to the pyenvx executable that wrote it, for the slow path.
pub const PYENVX_LINK: &str = ".pyenvx";

/// `<pid>:<n>`: `n` shims in a row have exec'd within process `pid`. exec keeps the pid, so a
/// shim that finds this with its own pid was started by a shim's exec without a fork between:
/// a shim resolving to a shim. Legitimate chains are short (a `#!/usr/bin/env python3` script
/// reached through a shim is two); a loop grows until [`MAX_HOPS`].
pub const DEPTH_VAR: &str = "PYENVX_SHIM_DEPTH";
/// How many shims in a row one process may pass through before it is called a loop.
pub const MAX_HOPS: u32 = 8;
/// Set for the pyenvx process of the slow path: any shim it (or an interpreter it queries)
/// starts goes straight to PATH, so an interpreter search can never recurse into itself.
pub const RESOLVING_VAR: &str = "PYENVX_SHIM_RESOLVING";
/// The caller's PATH, kept while the slow path runs pyenvx with the shims taken off PATH.
pub const ORIGINAL_PATH_VAR: &str = "PYENVX_SHIM_PATH";

/// Which interpreters the fast paths may pick without a full search (`PYENVX_PYTHON_PREFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// Managed builds first; an exact pyenv version directory is also taken directly.
    #[default]
    Managed,
    /// Managed builds only.
    OnlyManaged,
    /// `system`, `only-system` or a value pyenvx will reject: always the full search, which
    /// ranks the machine's interpreters (and reports a bad value).
    Search,
}

impl Preference {
    pub fn from_value(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") | Some("managed") => Self::Managed,
            Some("only-managed") => Self::OnlyManaged,
            Some(_) => Self::Search,
        }
    }
}

/// Everything resolution reads besides the file system.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The working directory; `None` when it was deleted (no project can be found then).
    pub cwd: Option<PathBuf>,
    /// `PYENVX_HOME`, resolved as pyenvx resolves it.
    pub home: Option<PathBuf>,
    /// `PYENV_ROOT`, else `~/.pyenv`.
    pub pyenv_root: Option<PathBuf>,
    pub path: Option<OsString>,
    /// `PYENVX_PYTHON`.
    pub python: Option<OsString>,
    pub preference: Preference,
    /// The running launcher, when the caller is one: its directory is a shims directory and its
    /// inode marks every hard link of it, wherever on PATH one turns up.
    pub shim_exe: Option<PathBuf>,
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Context {
    /// Read the environment. The defaults repeat pyenvx's (`src/dirs.rs`, which uses the
    /// `dirs` crate) without the crate: the launcher links nothing but std.
    pub fn from_env() -> Self {
        let cwd = std::env::current_dir().ok();
        let home = match env_path("PYENVX_HOME") {
            Some(p) if p.is_absolute() => Some(p),
            Some(p) => cwd.as_ref().map(|c| c.join(p)),
            None => data_dir().map(|d| d.join("pyenvx")),
        };
        let pyenv_root = env_path("PYENV_ROOT").or_else(|| home_dir().map(|h| h.join(".pyenv")));
        let preference =
            Preference::from_value(std::env::var("PYENVX_PYTHON_PREFERENCE").ok().as_deref());
        Self {
            cwd,
            home,
            pyenv_root,
            path: std::env::var_os("PATH"),
            python: std::env::var_os("PYENVX_PYTHON").filter(|v| !v.is_empty()),
            preference,
            shim_exe: None,
        }
    }

    /// `$PYENVX_HOME/shims`.
    pub fn shims_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(SHIMS_DIR))
    }
}

/// `$HOME`. (The `dirs` crate falls back to the password database when HOME is unset; without
/// libc bindings the launcher cannot, so then only projects and PATH are consulted.)
fn home_dir() -> Option<PathBuf> {
    env_path("HOME")
}

/// The `dirs` crate's data directory: `$XDG_DATA_HOME` when absolute, else `~/.local/share`;
/// `~/Library/Application Support` on macOS.
fn data_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return home_dir().map(|h| h.join("Library/Application Support"));
    }
    env_path("XDG_DATA_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| home_dir().map(|h| h.join(".local/share")))
}

/// Why a name resolved to what it did; `Display` is the explanation `pyenvx which` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// `PYENVX_PYTHON`.
    PythonVar,
    /// The sandbox of the project at `root`.
    Project { root: PathBuf },
    /// A `.python-version` file and the request it holds.
    VersionFile { file: PathBuf, request: String },
    /// The global pin file and the request it holds.
    GlobalPin { file: PathBuf, request: String },
    /// A `python3.X` name, answered by the managed 3.X.
    Minor { minor: String },
    /// The next match on PATH, in `dir`.
    Path { dir: PathBuf },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::PythonVar => f.write_str("PYENVX_PYTHON"),
            Why::Project { root } => write!(f, "project {} (pyenvx.toml)", root.display()),
            Why::VersionFile { file, request } => write!(
                f,
                ".python-version in {} (`{request}`)",
                file.parent().unwrap_or(file).display()
            ),
            Why::GlobalPin { file, request } => {
                write!(f, "global pin `{request}` ({})", file.display())
            }
            Why::Minor { minor } => write!(f, "the name asks for Python {minor} (managed)"),
            Why::Path { dir } => write!(f, "PATH ({})", dir.display()),
        }
    }
}

/// A program to exec, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub program: PathBuf,
    pub why: Why,
}

/// An interpreter request the fast paths could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub request: String,
    pub why: Why,
}

/// Why nothing can run; `Display` is the one line the launcher prints after `pyenvx: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A project without a sandbox.
    NoVenv { root: PathBuf },
    /// A sandbox whose interpreter is gone (uninstalled, or moved).
    BrokenVenv { root: PathBuf },
    /// `pip` in a sandbox made without pip: falling through to another pip would install into
    /// the wrong environment, so this stops instead.
    NoPipInVenv { root: PathBuf, name: String },
    /// `PYENVX_PYTHON` names a path that does not exist.
    BadPythonVar { value: OsString },
    /// Nothing provides the name.
    NotFound {
        name: String,
        project: Option<PathBuf>,
    },
    /// A shim kept resolving to a shim.
    Loop { name: String, hops: u32 },
    /// A shim resolved to pyenv's shim in `shims`, which handed the name back to PATH, where
    /// pyenvx's shim comes first: pyenv's loop, not a copy of a pyenvx shim.
    PyenvLoop {
        name: String,
        hops: u32,
        shims: PathBuf,
    },
}

impl Failure {
    /// What went wrong.
    pub fn message(&self) -> String {
        match self {
            Failure::NoVenv { root } => format!("no .venv in {}", root.display()),
            Failure::BrokenVenv { root } => format!(
                "the .venv in {} is broken (its Python is gone)",
                root.display()
            ),
            Failure::NoPipInVenv { root, name } => format!(
                "`{name}` is not installed in {}/.venv (it was made without pip)",
                root.display()
            ),
            Failure::BadPythonVar { value } => format!(
                "PYENVX_PYTHON is {}, which does not exist",
                Path::new(value).display()
            ),
            Failure::NotFound {
                name,
                project: Some(root),
            } => format!(
                "`{name}` is neither in {}/.venv/bin nor on PATH",
                root.display()
            ),
            Failure::NotFound {
                name,
                project: None,
            } => format!(
                "`{name}` not found: no project, .python-version or global pin here provides it, \
                 and it is not on PATH"
            ),
            Failure::Loop { name, hops } => format!(
                "`{name}` resolved to a pyenvx shim {hops} times in a row (a copy of a shim on PATH?)"
            ),
            Failure::PyenvLoop { name, hops, shims } => format!(
                "`{name}` went round {hops} times between pyenvx's shim and pyenv's shims in {}: \
                 pyenv's `system` version hands it back to PATH, where pyenvx's shim comes first",
                shims.display()
            ),
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Failure::NoVenv { .. } | Failure::BrokenVenv { .. } => "run `pyenvx sync`".into(),
            Failure::NoPipInVenv { .. } => {
                "set `seed = true` under [tool.pyenvx] in pyenvx.toml, then run `pyenvx sync`"
                    .into()
            }
            Failure::BadPythonVar { .. } => {
                "unset it, or point it at an interpreter or an environment".into()
            }
            Failure::NotFound {
                name,
                project: Some(_),
            } => format!("add it with `pyenvx add {name}`"),
            Failure::NotFound { name, .. } if is_python_name(name) => {
                "pin one with `pyenvx python pin --global 3.12`".into()
            }
            Failure::NotFound { name, .. } => format!("`pyenvx which {name}` shows the search"),
            Failure::Loop { name, .. } => format!(
                "remove copies of pyenvx shims from PATH; `pyenvx which {name}` shows the search"
            ),
            Failure::PyenvLoop { name, shims, .. } => format!(
                "give pyenv a version of its own (`pyenv global 3.12`), or take {} off PATH; \
                 `pyenvx which {name}` shows the search",
                shims.display()
            ),
        }
    }

    /// 127 for "command not found", as a shell would say it; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::NotFound { .. } => 127,
            _ => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.message(), self.fix())
    }
}

/// The outcome of resolving a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Run(Target),
    /// Needs pyenvx's interpreter search; finish with [`in_interpreter`].
    Find(Pending),
    Fail(Failure),
}

/// A `python3.X` (or `python3.Xt`) name's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Minor {
    major: u32,
    minor: u32,
    freethreaded: bool,
}

/// What kind of command a shim name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `python`, `python3`, or `python3.X` with its minor.
    Python(Option<Minor>),
    /// `pip`, `pip3`, `pip3.X`: never taken from another environment than the one selected.
    Pip,
    Other,
}

impl Kind {
    fn of(name: &str) -> Self {
        match name {
            "python" | "python3" => return Kind::Python(None),
            "pip" | "pip3" => return Kind::Pip,
            _ => {}
        }
        if let Some(rest) = name.strip_prefix("python") {
            if let Some(v) = parse_simple(rest).filter(|v| v.patch.is_none()) {
                return Kind::Python(Some(Minor {
                    major: v.major,
                    minor: v.minor,
                    freethreaded: v.freethreaded,
                }));
            }
        }
        if name
            .strip_prefix("pip3.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        {
            return Kind::Pip;
        }
        Kind::Other
    }
}

/// `python`, `python3`, `python3.12`, `python3.13t`.
pub fn is_python_name(name: &str) -> bool {
    matches!(Kind::of(name), Kind::Python(_))
}

/// A version request simple enough to map onto a directory name: `3.12`, `3.12.1`, `3.13t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Simple {
    major: u32,
    minor: u32,
    patch: Option<u32>,
    freethreaded: bool,
}

fn parse_simple(text: &str) -> Option<Simple> {
    let (text, freethreaded) = match text.strip_suffix('t') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let mut parts = text.split('.');
    let mut number = || -> Option<u32> {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4 {
            return None;
        }
        p.parse().ok()
    };
    let major = number()?;
    let minor = number()?;
    let patch = match number() {
        Some(p) => Some(p),
        None if text.matches('.').count() == 1 => None,
        None => return None,
    };
    if parts.next().is_some() || major != 3 {
        return None;
    }
    Some(Simple {
        major,
        minor,
        patch,
        freethreaded,
    })
}

/// `cpython@3.12` and `python3.12` name the same thing as `3.12`, as in pyenvx's own parser.
fn strip_implementation(request: &str) -> &str {
    for prefix in ["cpython@", "cpython-", "cpython", "python@", "python"] {
        if let Some(rest) = request.strip_prefix(prefix) {
            return rest;
        }
    }
    request
}

/// Resolve `name` (a shim's file name) in `ctx`.
pub fn resolve(ctx: &Context, name: &str) -> Resolution {
    let kind = Kind::of(name);
    if let Some(value) = &ctx.python {
        return python_var(ctx, name, kind, value);
    }
    let (project, version_file) = match &ctx.cwd {
        Some(cwd) => walk_up(cwd),
        None => (None, None),
    };
    if let Some(root) = project {
        if let Some(resolution) = in_project(ctx, name, kind, root) {
            return resolution;
        }
    }
    if let Some(file) = version_file {
        // An empty or unreadable file asks for nothing; pyenv and uv skip it too. A path is
        // skipped as well: a cloned repository must not choose the program `python` runs (the
        // class of pyenv's CVE-2022-35861), so only version requests count here.
        if let Some(request) = read_request(&file).filter(|r| !refuse_path(&file, r)) {
            let why = Why::VersionFile {
                file,
                request: request.clone(),
            };
            return interpreter(ctx, name, kind, &request, why);
        }
    }
    if let Some(home) = &ctx.home {
        let file = home.join(GLOBAL_PIN);
        if let Some(request) = read_request(&file) {
            let why = Why::GlobalPin {
                file,
                request: request.clone(),
            };
            return interpreter(ctx, name, kind, &request, why);
        }
    }
    fallback(ctx, name, kind)
}

/// The nearest project root and the nearest `.python-version` at or above `cwd`, in one walk.
/// The search for a project goes on past a `.python-version`: a project wins (see the module
/// docs), while the `.python-version` that counts is the nearest.
fn walk_up(cwd: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut version_file = None;
    for dir in cwd.ancestors() {
        if is_file(&dir.join(PROJECT_FILE)) {
            return (Some(dir.to_path_buf()), version_file);
        }
        if version_file.is_none() {
            let file = dir.join(VERSION_FILE);
            if is_file(&file) {
                version_file = Some(file);
            }
        }
    }
    (None, version_file)
}

/// Whether `request`, read from `file`, names a path rather than a version; if so, say on
/// stderr that it is ignored.
fn refuse_path(file: &Path, request: &str) -> bool {
    // `~/py` is a path, `~=3.12` a version range.
    let is_path = request.contains(['/', '\\']) || request.starts_with('.') || request == "~";
    if is_path {
        eprintln!(
            "pyenvx: warning: ignoring {}: `{request}` is a path; a .python-version may hold \
             only a version request (such as `3.12`)",
            file.display()
        );
    }
    is_path
}

/// The first line that is neither blank nor a comment, as pyenvx reads its global pin.
fn read_request(file: &Path) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

fn python_var(ctx: &Context, name: &str, kind: Kind, value: &OsStr) -> Resolution {
    let text = value.to_string_lossy();
    if text.contains('/') {
        return path_interpreter(ctx, name, Path::new(value), Why::PythonVar).unwrap_or_else(
            || {
                Resolution::Fail(Failure::BadPythonVar {
                    value: value.to_owned(),
                })
            },
        );
    }
    interpreter(ctx, name, kind, &text, Why::PythonVar)
}

/// An interpreter given as a path: the executable itself, or a directory (an environment or an
/// install prefix) whose `bin/` holds it. `None` when the path does not exist.
fn path_interpreter(ctx: &Context, name: &str, path: &Path, why: Why) -> Option<Resolution> {
    let path = match (&ctx.cwd, path.is_absolute()) {
        (Some(cwd), false) => cwd.join(path),
        _ => path.to_path_buf(),
    };
    let meta = fs::metadata(&path).ok()?;
    if meta.is_dir() {
        let bin = path.join("bin");
        let bin = if bin.is_dir() { bin } else { path };
        let exe = lookup(&bin, "python3").unwrap_or_else(|| bin.join("python3"));
        return Some(in_interpreter(ctx, name, &exe, why));
    }
    Some(in_interpreter(ctx, name, &path, why))
}

/// `name` in the project's sandbox; `None` (after one line on stderr) when `.venv` is there but
/// pyenvx did not make it, so resolution goes on as if there were no project.
fn in_project(ctx: &Context, name: &str, kind: Kind, root: PathBuf) -> Option<Resolution> {
    let venv = root.join(".venv");
    let Ok(meta) = fs::symlink_metadata(&venv) else {
        return Some(Resolution::Fail(Failure::NoVenv { root }));
    };
    // A cloned repository can commit `.venv/bin/python`: only a sandbox pyenvx recorded making
    // at this very place is run (see [`venv_record`]).
    if !is_recorded_venv(ctx.home.as_deref(), &root, &meta) {
        eprintln!(
            "pyenvx: warning: ignoring {}, which pyenvx did not make (a .venv that came with the \
             files is never run); `pyenvx sync` makes the project's own",
            venv.display()
        );
        return None;
    }
    let bin = venv.join("bin");
    if !is_executable(&bin.join("python")) {
        return Some(Resolution::Fail(Failure::BrokenVenv { root }));
    }
    if let Some(program) = lookup(&bin, name) {
        return Some(Resolution::Run(Target {
            program,
            why: Why::Project { root },
        }));
    }
    Some(match kind {
        // Another minor than the sandbox's: the user asked for that Python by name.
        Kind::Python(_) => fallback(ctx, name, kind),
        Kind::Pip => Resolution::Fail(Failure::NoPipInVenv {
            root,
            name: name.to_string(),
        }),
        Kind::Other => on_path(ctx, name, Some(root)),
    })
}

/// Where pyenvx records the sandboxes it made, under `PYENVX_HOME`: outside every repository,
/// so no clone can vouch for its own `.venv`.
pub const VENV_RECORDS: &str = "venvs";

/// The record of the sandbox of the project at `root` (canonical, as the working directory
/// is): one small file named by a hash of the path, which the record repeats (a collision is
/// a miss, never a match).
pub fn venv_record_path(home: &Path, root: &Path) -> PathBuf {
    // FNV-1a: a few lines of std, and the name needs no resistance to collisions.
    let hash = root
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    home.join(VENV_RECORDS).join(format!("{hash:016x}"))
}

/// What the record of a sandbox holds: the identity of the `.venv` directory pyenvx made
/// (device, inode, and birth time where the file system keeps one, so a clone at a deleted
/// project's path cannot inherit a reused inode) and the project root. `venv` is the
/// `symlink_metadata` of `.venv`.
pub fn venv_record(root: &Path, venv: &fs::Metadata) -> Vec<u8> {
    let birth = venv
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(|| "-".to_string(), |d| d.as_nanos().to_string());
    let mut record = format!("pyenvx-venv 1 {} {} {birth}\n", venv.dev(), venv.ino()).into_bytes();
    record.extend_from_slice(root.as_os_str().as_bytes());
    record.push(b'\n');
    record
}

/// Whether pyenvx recorded making the `.venv` (whose `symlink_metadata` is `venv`) of the
/// project at `root`: one small read.
pub fn is_recorded_venv(home: Option<&Path>, root: &Path, venv: &fs::Metadata) -> bool {
    venv.is_dir()
        && home.is_some_and(|home| {
            fs::read(venv_record_path(home, root)).is_ok_and(|r| r == venv_record(root, venv))
        })
}

/// The interpreter `request` names, then `name` beside it.
fn interpreter(ctx: &Context, name: &str, kind: Kind, request: &str, why: Why) -> Resolution {
    // pyenv's word for "whatever PATH has".
    if request == "system" {
        return on_path(ctx, name, None);
    }
    if request.contains('/') {
        if let Some(found) = path_interpreter(ctx, name, Path::new(request), why.clone()) {
            return found;
        }
        return Resolution::Find(Pending {
            request: request.to_string(),
            why,
        });
    }
    let lower = request.to_ascii_lowercase();
    let simple = parse_simple(strip_implementation(&lower));
    // A python3.X name asks for that minor; a request for another minor cannot provide it.
    if let (Kind::Python(Some(m)), Some(v)) = (kind, simple) {
        if (m.major, m.minor, m.freethreaded) != (v.major, v.minor, v.freethreaded) {
            return fallback(ctx, name, kind);
        }
    }
    match locate(ctx, request, simple) {
        Some(bin) => {
            let exe = match simple {
                Some(v) => bin.join(executable_name(v.major, v.minor, v.freethreaded)),
                None => bin.join("python3"),
            };
            in_interpreter(ctx, name, &exe, why)
        }
        None => Resolution::Find(Pending {
            request: request.to_string(),
            why,
        }),
    }
}

/// `name` for the interpreter `exe`: `python`/`python3` are `exe` itself (a found interpreter
/// may share `/usr/bin` with other versions, so `bin/python3` could be another Python), other
/// names come from the directory beside it. What it lacks falls through as if unselected.
pub fn in_interpreter(ctx: &Context, name: &str, exe: &Path, why: Why) -> Resolution {
    let kind = Kind::of(name);
    if kind == Kind::Python(None) && is_executable(exe) {
        return Resolution::Run(Target {
            program: exe.to_path_buf(),
            why,
        });
    }
    if let Some(program) = exe.parent().and_then(|bin| lookup(bin, name)) {
        return Resolution::Run(Target { program, why });
    }
    fallback(ctx, name, kind)
}

/// `python3.12` / `python3.13t`.
fn executable_name(major: u32, minor: u32, freethreaded: bool) -> String {
    let t = if freethreaded { "t" } else { "" };
    format!("python{major}.{minor}{t}")
}

/// Where no environment is selected: a `python3.X` name gets the managed 3.X, anything else
/// the next one on PATH.
fn fallback(ctx: &Context, name: &str, kind: Kind) -> Resolution {
    if let Kind::Python(Some(m)) = kind {
        if ctx.preference != Preference::Search {
            let wanted = Simple {
                major: m.major,
                minor: m.minor,
                patch: None,
                freethreaded: m.freethreaded,
            };
            if let Some(bin) = managed_bin(ctx, wanted) {
                return Resolution::Run(Target {
                    program: bin.join(name),
                    why: Why::Minor {
                        minor: format!("{}.{}", m.major, m.minor),
                    },
                });
            }
        }
    }
    on_path(ctx, name, None)
}

/// The next `name` on PATH that is not a shim.
pub fn on_path(ctx: &Context, name: &str, project: Option<PathBuf>) -> Resolution {
    match search_path(ctx, name) {
        Some(program) => {
            let dir = program.parent().map(Path::to_path_buf).unwrap_or_default();
            Resolution::Run(Target {
                program,
                why: Why::Path { dir },
            })
        }
        None => Resolution::Fail(Failure::NotFound {
            name: name.to_string(),
            project,
        }),
    }
}

/// The `bin` directory of an interpreter the fast paths can name without a search: a managed
/// build (`cpython-3.12-<platform>` is the minor link, `cpython-3.12.1-<platform>` the build),
/// or a pyenv version directory named exactly as the request.
fn locate(ctx: &Context, request: &str, simple: Option<Simple>) -> Option<PathBuf> {
    if ctx.preference == Preference::Search {
        return None;
    }
    if let Some(bin) = simple.and_then(|v| managed_bin(ctx, v)) {
        return Some(bin);
    }
    if ctx.preference == Preference::Managed
        && !request.is_empty()
        && !matches!(request, "." | "..")
        && !request.contains('/')
    {
        let bin = ctx
            .pyenv_root
            .as_ref()?
            .join("versions")
            .join(request)
            .join("bin");
        if bin.is_dir() {
            return Some(bin);
        }
    }
    None
}

/// `$PYENVX_HOME/python/cpython-<version>[+freethreaded]-<platform>/bin`, if it holds the
/// interpreter.
fn managed_bin(ctx: &Context, v: Simple) -> Option<PathBuf> {
    let pythons = ctx.home.as_ref()?.join("python");
    let version = match v.patch {
        Some(patch) => format!("{}.{}.{patch}", v.major, v.minor),
        None => format!("{}.{}", v.major, v.minor),
    };
    let variant = if v.freethreaded { "+freethreaded" } else { "" };
    let exe = executable_name(v.major, v.minor, v.freethreaded);
    platform_keys().into_iter().find_map(|key| {
        let bin = pythons
            .join(format!("cpython-{version}{variant}-{key}"))
            .join("bin");
        is_executable(&bin.join(&exe)).then_some(bin)
    })
}

/// pyenvx's platform keys (`linux-x86_64-gnu`), most likely first. pyenvx tells glibc from
/// musl by listing `/lib`; trying both names costs one `stat` at most and no directory read.
fn platform_keys() -> Vec<String> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = std::env::consts::ARCH;
    let libcs: &[&str] = if os != "linux" {
        &["none"]
    } else if cfg!(target_env = "musl") {
        &["musl", "gnu"]
    } else {
        &["gnu", "musl"]
    };
    libcs
        .iter()
        .map(|libc| format!("{os}-{arch}-{libc}"))
        .collect()
}

/// `name` in `bin`; `python` may be spelled `python3` there (python-build-standalone releases
/// before mid-2024 have no `python`), and `pip` `pip3`.
fn lookup(bin: &Path, name: &str) -> Option<PathBuf> {
    let alias = match name {
        "python" => Some("python3"),
        "pip" => Some("pip3"),
        _ => None,
    };
    std::iter::once(name)
        .chain(alias)
        .map(|n| bin.join(n))
        .find(|p| is_executable(p))
}

fn is_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// A file's or directory's identity. Comparing identities is what comparing canonical paths
/// means, for one `stat` instead of a `realpath` per component.
type Identity = (u64, u64);

fn identity(meta: &fs::Metadata) -> Identity {
    (meta.dev(), meta.ino())
}

/// What counts as "a shim" when searching PATH.
struct Shims {
    /// Shims directories, however PATH spells them (twice, through a symlink, with a `/.`).
    dirs: Vec<Identity>,
    /// The launcher's inode: every hard-linked shim has it, wherever it sits.
    files: Vec<Identity>,
}

impl Shims {
    fn of(ctx: &Context) -> Self {
        let mut dir_paths: Vec<PathBuf> = Vec::new();
        let mut file_paths: Vec<PathBuf> = Vec::new();
        if let Some(exe) = &ctx.shim_exe {
            file_paths.push(exe.clone());
            if let Some(dir) = exe.parent() {
                dir_paths.push(dir.to_path_buf());
            }
        }
        if let Some(dir) = ctx.shims_dir() {
            file_paths.push(dir.join(MASTER));
            dir_paths.push(dir);
        }
        let ids = |paths: Vec<PathBuf>| -> Vec<Identity> {
            paths
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| identity(&m))
                .collect()
        };
        Self {
            dirs: ids(dir_paths),
            files: ids(file_paths),
        }
    }

    fn is_shims_dir(&self, dir: &Path) -> bool {
        !self.dirs.is_empty() && fs::metadata(dir).is_ok_and(|m| self.dirs.contains(&identity(&m)))
    }
}

/// The first executable `name` on PATH outside the shims directories and not a hard link of
/// the launcher. Empty entries (the current directory, by POSIX) are skipped, as pyenvx's
/// interpreter search skips them.
pub fn search_path(ctx: &Context, name: &str) -> Option<PathBuf> {
    let path = ctx.path.as_ref()?;
    let shims = Shims::of(ctx);
    for dir in std::env::split_paths(path) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join(name);
        let Ok(meta) = fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() || meta.mode() & 0o111 == 0 {
            continue;
        }
        if shims.files.contains(&identity(&meta)) || shims.is_shims_dir(&dir) {
            continue;
        }
        return Some(candidate);
    }
    None
}

/// PATH without the shims directories: what pyenvx searches with on the slow path, so its
/// interpreter discovery never mistakes a shim for an interpreter.
pub fn path_without_shims(ctx: &Context) -> Option<OsString> {
    let path = ctx.path.as_ref()?;
    let shims = Shims::of(ctx);
    let kept: Vec<PathBuf> = std::env::split_paths(path)
        .filter(|dir| dir.as_os_str().is_empty() || !shims.is_shims_dir(dir))
        .collect();
    std::env::join_paths(kept).ok()
}

/// The pyenvx executable for the slow path: the link `pyenvx shims rehash` leaves in the
/// shims directory, else `pyenvx` on PATH.
pub fn pyenvx_exe(ctx: &Context) -> Option<PathBuf> {
    let own_dir = ctx
        .shim_exe
        .as_ref()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    own_dir
        .into_iter()
        .chain(ctx.shims_dir())
        .map(|dir| dir.join(PYENVX_LINK))
        .find(|p| is_executable(p))
        .or_else(|| search_path(ctx, "pyenvx"))
}

/// What to say when `name` looped `hops` times: pyenv's loop when the next program is one of
/// pyenv's shims (what pyenv's `system` passes back to PATH reaches pyenvx's shim again),
/// else a shim that resolves to a shim. Only on the failure path: it may read a file.
pub fn loop_failure(ctx: &Context, name: &str, hops: u32) -> Failure {
    let next = match resolve(ctx, name) {
        Resolution::Run(target) => Some(target.program),
        _ => search_path(ctx, name),
    };
    match next.and_then(|program| pyenv_shims_dir(ctx, &program)) {
        Some(shims) => Failure::PyenvLoop {
            name: name.to_string(),
            hops,
            shims,
        },
        None => Failure::Loop {
            name: name.to_string(),
            hops,
        },
    }
}

/// The directory of `program` when it is one of pyenv's shims: in `$PYENV_ROOT/shims`, or a
/// script that execs pyenv (a pyenv root elsewhere).
fn pyenv_shims_dir(ctx: &Context, program: &Path) -> Option<PathBuf> {
    let dir = program.parent()?;
    let in_root = ctx.pyenv_root.as_ref().is_some_and(|root| {
        let ids = |p: &Path| fs::metadata(p).ok().map(|m| identity(&m));
        ids(&root.join("shims")).is_some_and(|id| Some(id) == ids(dir))
    });
    let mut head = [0u8; 512];
    let mut script = || {
        use std::io::Read;
        let n = fs::File::open(program)
            .and_then(|mut f| f.read(&mut head))
            .unwrap_or(0);
        head.starts_with(b"#!") && head[..n].windows(5).any(|w| w == b"pyenv")
    };
    (in_root || script()).then(|| dir.to_path_buf())
}

/// The hop count for a shim in process `pid`, given the inherited [`DEPTH_VAR`].
pub fn next_hops(inherited: Option<&OsStr>, pid: u32) -> u32 {
    let parsed = inherited
        .and_then(OsStr::to_str)
        .and_then(|v| v.split_once(':'))
        .and_then(|(p, n)| Some((p.parse::<u32>().ok()?, n.parse::<u32>().ok()?)));
    match parsed {
        Some((p, n)) if p == pid => n.saturating_add(1),
        _ => 1,
    }
}

/// Where `pyenvx db up` leaves the service variables of the project at `root`, one
/// `KEY=VALUE` per line (the same values `pyenvx run` sets).
pub const SERVICE_ENV: &str = ".pyenvx/services/env";

/// The only variables pyenvx writes to [`SERVICE_ENV`]: a file naming any other (`PYTHONPATH`,
/// `LD_PRELOAD`) came from somewhere else and is ignored whole.
pub const SERVICE_ENV_NAMES: [&str; 7] = [
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "REDIS_URL",
];

/// The names of the variables `pyenvx run` (or a shim) set for a project, `:`-separated, so a
/// `pyenvx run` or a shim for another project started below it replaces them instead of
/// taking them for the user's own.
pub const SET_VAR: &str = "PYENVX_SET";
/// The root of the project whose variables [`SET_VAR`] names.
pub const SET_PROJECT_VAR: &str = "PYENVX_PROJECT";

/// The names [`SET_VAR`] holds in `value`.
pub fn set_by_pyenvx(value: Option<&OsStr>) -> Vec<String> {
    value
        .and_then(OsStr::to_str)
        .map(|v| {
            v.split(':')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

extern "C" {
    fn geteuid() -> u32;
}

/// The effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory of ours.
    unsafe { geteuid() }
}

/// The service variables (`DATABASE_URL`, `PG*`, `REDIS_URL`) a program run for the project at
/// `root` gets: one small read, nothing when the project has no started service. `Err` says in
/// one line why the file is ignored: it is pyenvx's only when it is a regular file owned by
/// this user, mode 0600, naming only [`SERVICE_ENV_NAMES`] (a clone brings files 0644 or
/// 0755, and a tarball whatever it likes).
pub fn service_env(root: &Path) -> Result<Vec<(String, String)>, String> {
    let path = root.join(SERVICE_ENV);
    let Ok(link) = fs::symlink_metadata(&path) else {
        return Ok(Vec::new());
    };
    let ignored = |why: &str| format!("ignoring {}: {why}", path.display());
    if !link.is_file() {
        return Err(ignored("it is not a regular file"));
    }
    if link.uid() != effective_uid() {
        return Err(ignored("another user owns it"));
    }
    if link.mode() & 0o7777 != 0o600 {
        return Err(ignored(&format!(
            "its mode is {:o}, not the 600 pyenvx writes",
            link.mode() & 0o7777
        )));
    }
    let text = fs::read_to_string(&path).map_err(|e| ignored(&e.to_string()))?;
    let mut vars = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) if SERVICE_ENV_NAMES.contains(&k) => {
                vars.push((k.to_string(), v.to_string()));
            }
            _ => {
                let key = line.split_once('=').map_or(line, |(k, _)| k);
                return Err(ignored(&format!(
                    "`{}` is not a variable pyenvx writes there",
                    key.escape_debug()
                )));
            }
        }
    }
    Ok(vars)
}
