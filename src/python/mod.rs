//! CPython interpreters: requests, the download catalog, managed installs, and the ones already
//! on the machine. `find` and `find_or_install` are what every other part of pyenvx calls.

pub mod archive;
pub mod catalog;
pub mod discovery;
pub mod install;
pub mod managed;
pub mod request;

use std::path::PathBuf;

use anyhow::Result;
use pep440_rs::Version;

use crate::platform::Platform;
use crate::reporter::Reporter;
use crate::settings::Settings;
use crate::user_error;

pub use request::{PythonRequest, VersionRequest};

/// An interpreter that satisfies a request, wherever it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpreter {
    Managed(managed::Installed),
    System(discovery::Found),
}

impl Interpreter {
    pub fn version(&self) -> &Version {
        match self {
            Interpreter::Managed(m) => m.version(),
            Interpreter::System(f) => &f.version,
        }
    }

    pub fn freethreaded(&self) -> bool {
        match self {
            Interpreter::Managed(m) => m.freethreaded(),
            Interpreter::System(f) => f.freethreaded,
        }
    }

    pub fn executable(&self) -> PathBuf {
        match self {
            Interpreter::Managed(m) => m.executable(),
            Interpreter::System(f) => f.path.clone(),
        }
    }

    /// The version of `name` (`setuptools`) that this interpreter's `ensurepip` bundles, which
    /// `python -m venv` installs before 3.12: what a project that leaves it to its environment
    /// ran with. `None` when the standard library has no such wheel (3.12 dropped setuptools;
    /// some distributions strip `ensurepip`).
    pub fn bundled_version(&self, name: &str) -> Option<String> {
        let exe = std::fs::canonicalize(self.executable()).ok()?;
        let r = self.version().release();
        let bundled = exe.parent()?.parent()?.join(format!(
            "lib/python{}.{}/ensurepip/_bundled",
            r.first()?,
            r.get(1)?
        ));
        let prefix = format!("{name}-");
        std::fs::read_dir(bundled)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find_map(|f| {
                let rest = f.strip_prefix(&prefix)?.strip_suffix(".whl")?;
                Some(rest.split('-').next()?.to_string())
            })
    }
}

/// The global pin (`pyenvx python pin --global`), if one is set: the first line that is not a
/// comment.
pub fn global_pin(dirs: &crate::dirs::Dirs) -> Option<String> {
    std::fs::read_to_string(dirs.global_python_version())
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
        })
}

/// The best installed or found interpreter for `request`, honouring the preference order:
/// the first source (managed or system) with a match wins, and within it the newest version.
pub fn find(
    settings: &Settings,
    platform: &Platform,
    request: &PythonRequest,
) -> Result<Option<Interpreter>> {
    if let VersionRequest::Path(path) = &request.version {
        let exe = if path.is_dir() {
            path.join("bin").join("python3")
        } else {
            path.clone()
        };
        return Ok(discovery::inspect(&exe).map(Interpreter::System));
    }
    let pref = settings.preference;
    if pref.system_first() {
        match best_system(settings, request)? {
            Some(i) => Ok(Some(i)),
            None => best_managed(settings, platform, request),
        }
    } else {
        match best_managed(settings, platform, request)? {
            Some(i) => Ok(Some(i)),
            None => best_system(settings, request),
        }
    }
}

/// The newest interpreter for `request` among every source the preference allows, whichever
/// it is in (a new project's default: the newest Python this machine has).
pub fn find_newest(
    settings: &Settings,
    platform: &Platform,
    request: &PythonRequest,
) -> Result<Option<Interpreter>> {
    let managed = best_managed(settings, platform, request)?;
    let system = best_system(settings, request)?;
    Ok(match (managed, system) {
        (Some(m), Some(s)) if s.version() > m.version() => Some(s),
        (Some(m), _) => Some(m),
        (None, s) => s,
    })
}

/// The newest managed build matching `request`, when the preference allows managed builds.
fn best_managed(
    settings: &Settings,
    platform: &Platform,
    request: &PythonRequest,
) -> Result<Option<Interpreter>> {
    if !settings.preference.allows_managed() {
        return Ok(None);
    }
    let installs = managed::list(&settings.dirs, platform)?;
    Ok(request::select_best(request, installs.iter(), |i| {
        (i.version(), i.freethreaded())
    })
    .cloned()
    .map(Interpreter::Managed))
}

/// The newest interpreter found on the machine matching `request`, when the preference allows
/// them; only candidates whose names allow the request's minor are asked.
fn best_system(settings: &Settings, request: &PythonRequest) -> Result<Option<Interpreter>> {
    if !settings.preference.allows_system() {
        return Ok(None);
    }
    let found = discovery::find_for(&settings.dirs, &settings.shim_dirs(), request)?;
    Ok(
        request::select_best(request, found.iter(), |f| (&f.version, f.freethreaded))
            .cloned()
            .map(Interpreter::System),
    )
}

/// The error for a request only a Python older than python-build-standalone's builds satisfies
/// (2.7, 3.5): no catalog can list one, so none is loaded, and the way to get one is named.
pub fn legacy_refusal(request: &PythonRequest) -> Option<anyhow::Error> {
    if !request.only_legacy() {
        return None;
    }
    let Some(version) = request.legacy_suggestion() else {
        return Some(user_error!(
            hint = "pin Python 2.7, or 3.5 or newer",
            "`{request}` asks for a Python older than pyenvx works with: 2.7, and 3.5 or newer \
             (pip 20.3.4, which installs for the old ones, runs on neither 2.6 nor 3.0-3.4)"
        ));
    };
    let minor: String = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    Some(user_error!(
        hint = format!(
            "install it with pyenv (`pyenv install {version}`) or put `python{minor}` on PATH; \
             pyenvx finds either"
        ),
        "no Python on this machine matches `{request}`, and python-build-standalone has no \
         builds of Python {minor} to download"
    ))
}

/// The download `request` resolves to on this platform.
pub fn resolve_download(
    settings: &Settings,
    platform: &Platform,
    request: &PythonRequest,
    reporter: &dyn Reporter,
) -> Result<catalog::Download> {
    if let Some(refusal) = legacy_refusal(request) {
        return Err(refusal);
    }
    let downloads = catalog::load(
        &settings.dirs,
        &settings.catalog,
        platform,
        settings.offline,
        reporter,
    )?;
    request::select_best(request, downloads.iter(), |d| {
        (&d.version, d.freethreaded())
    })
    .cloned()
    .ok_or_else(|| {
        let mut minors: Vec<String> = downloads
            .iter()
            .filter(|d| d.freethreaded() == request.freethreaded)
            .map(|d| {
                let r = d.version.release();
                format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0))
            })
            .collect();
        minors.dedup();
        let hint = if minors.is_empty() {
            format!("the catalog lists no builds for {platform}")
        } else {
            format!("available for {platform}: {}", minors.join(", "))
        };
        user_error!(hint = hint, "no downloadable Python matches `{request}`")
    })
}

/// An interpreter for `request`: installed or found if possible, downloaded otherwise.
pub fn find_or_install(
    settings: &Settings,
    platform: &Platform,
    request: &PythonRequest,
    reporter: &dyn Reporter,
) -> Result<Interpreter> {
    if let Some(found) = find(settings, platform, request)? {
        return Ok(found);
    }
    if request.is_path() {
        return Err(user_error!(
            hint =
                "give the path of a Python 3 executable or of a directory containing bin/python3",
            "`{request}` is not a working Python interpreter"
        ));
    }
    if !settings.preference.allows_managed() {
        return Err(user_error!(
            hint = "install it on the machine, or allow managed builds with PYENVX_PYTHON_PREFERENCE=system",
            "no Python on this machine matches `{request}` and PYENVX_PYTHON_PREFERENCE=only-system"
        ));
    }
    let download = resolve_download(settings, platform, request, reporter)?;
    let opts = install::InstallOptions {
        reinstall: false,
        offline: settings.offline,
        mirror: settings.mirror.clone(),
    };
    let outcome = install::install(&settings.dirs, platform, &download, &opts, reporter)?;
    Ok(Interpreter::Managed(outcome.installed().clone()))
}
