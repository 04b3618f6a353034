//! `pyenvx python install`: the builds the requests name, installed side by side;
//! `python list`: what is installed, found on the machine and downloadable;
//! `python uninstall`: which managed builds a list of requests names. Removing one is
//! `python::managed::uninstall`'s (lock, rename, minor link), so the command can say what it
//! removed one build at a time.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::platform::Platform;
use crate::python::catalog::{self, Download};
use crate::python::discovery::{self, Found, Origin};
use crate::python::install::{InstallOptions, Outcome};
use crate::python::managed::{self, Installed};
use crate::python::{self, PythonRequest};
use crate::reporter::Reporter;
use crate::settings::Settings;
use crate::user_error;

/// What `python install` installed: each build chosen, with its outcome.
pub struct InstallReport {
    pub results: Vec<(Download, Result<Outcome>)>,
    /// From the first download to the last install's end.
    pub elapsed: Duration,
}

/// The request `python install` and `python find` take when given none: the global pin, else
/// any version.
pub fn default_request(settings: &Settings) -> Result<PythonRequest> {
    match python::global_pin(&settings.dirs) {
        Some(pin) => PythonRequest::parse(&pin),
        None => Ok(PythonRequest::any()),
    }
}

/// Install the newest build each request names (each build once), in parallel; `requests`
/// empty: the default request. Fails before any download on a request that cannot be
/// installed (a path, a Python pyenvx does not build).
pub fn install(
    requests: &[String],
    reinstall: bool,
    settings: &Settings,
    reporter: &dyn Reporter,
) -> Result<InstallReport> {
    let platform = Platform::current();
    let requests: Vec<PythonRequest> = if requests.is_empty() {
        vec![default_request(settings)?]
    } else {
        requests
            .iter()
            .map(|r| PythonRequest::parse(r))
            .collect::<Result<_>>()?
    };
    if let Some(path) = requests.iter().find(|r| r.is_path()) {
        return Err(user_error!(
            hint = "give a version such as `3.12`",
            "`{path}` is a path; only versions can be installed"
        ));
    }
    if let Some(refusal) = requests.iter().find_map(python::legacy_refusal) {
        return Err(refusal);
    }
    let downloads = catalog::load(
        &settings.dirs,
        &settings.catalog,
        &platform,
        settings.offline,
        reporter,
    )?;
    let mut chosen: Vec<Download> = Vec::new();
    for request in &requests {
        let download = python::request::select_best(request, downloads.iter(), |d| {
            (&d.version, d.freethreaded())
        })
        .cloned()
        .map_or_else(
            || python::resolve_download(settings, &platform, request, reporter),
            Ok,
        )?;
        if !chosen.iter().any(|d| d.key() == download.key()) {
            chosen.push(download);
        }
    }
    let opts = InstallOptions {
        reinstall,
        offline: settings.offline,
        mirror: settings.mirror.clone(),
    };
    let started = Instant::now();
    let outcomes: Vec<Result<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|d| {
                let (opts, platform) = (&opts, &platform);
                scope.spawn(move || {
                    python::install::install(&settings.dirs, platform, d, opts, reporter)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("install thread panicked")))
            })
            .collect()
    });
    Ok(InstallReport {
        results: chosen.into_iter().zip(outcomes).collect(),
        elapsed: started.elapsed(),
    })
}

/// One interpreter `python list` shows (and one row of `python list --json`).
#[derive(Debug, Serialize)]
pub struct ListRow {
    pub key: String,
    pub version: String,
    pub implementation: &'static str,
    pub variant: Option<String>,
    /// `managed`, `system`, `pyenv` or `download`.
    pub source: &'static str,
    pub path: Option<String>,
    pub url: Option<String>,
}

/// What `python list` shows: the rows, newest first; and why the build list could not be
/// read, when it could not (what is on the machine is listed all the same).
pub struct ListReport {
    pub rows: Vec<ListRow>,
    pub catalog_error: Option<anyhow::Error>,
}

/// Installed builds, interpreters found on the machine and (unless `installed_only`) the builds
/// that can be downloaded, as the preference allows them.
pub fn list(
    installed_only: bool,
    settings: &Settings,
    reporter: &dyn Reporter,
) -> Result<ListReport> {
    let platform = Platform::current();
    let mut rows = Vec::new();
    if settings.preference.allows_managed() {
        for i in managed::list(&settings.dirs, &platform)? {
            rows.push(ListRow {
                key: i.receipt.key.clone(),
                version: i.version().to_string(),
                implementation: "cpython",
                variant: i.receipt.variant.clone(),
                source: "managed",
                path: Some(i.executable().display().to_string()),
                url: None,
            });
        }
    }
    if settings.preference.allows_system() {
        for f in discovery::find_all(&settings.dirs, &settings.shim_dirs())? {
            rows.push(found_row(&f, &platform));
        }
    }
    let mut catalog_error = None;
    if !installed_only && settings.preference.allows_managed() {
        match catalog::load(
            &settings.dirs,
            &settings.catalog,
            &platform,
            settings.offline,
            reporter,
        ) {
            Ok(downloads) => {
                for d in downloads {
                    if rows
                        .iter()
                        .any(|r| r.source == "managed" && r.key == d.key())
                    {
                        continue;
                    }
                    rows.push(ListRow {
                        key: d.key(),
                        version: d.version.to_string(),
                        implementation: "cpython",
                        variant: d.variant.clone(),
                        source: "download",
                        path: None,
                        url: Some(d.resolved_url(settings.mirror.as_deref())),
                    });
                }
            }
            // What is on the machine is worth listing even when the build list is out of
            // reach (offline, behind a proxy, rate-limited).
            Err(e) => catalog_error = Some(e),
        }
    }
    rows.sort_by(|a, b| {
        let va = a.version.parse::<pep440_rs::Version>().ok();
        let vb = b.version.parse::<pep440_rs::Version>().ok();
        vb.cmp(&va).then_with(|| a.source.cmp(b.source))
    });
    Ok(ListReport {
        rows,
        catalog_error,
    })
}

fn found_row(f: &Found, platform: &Platform) -> ListRow {
    ListRow {
        key: format!(
            "cpython-{}{}-{}",
            f.version,
            if f.freethreaded { "+freethreaded" } else { "" },
            platform.key()
        ),
        version: f.version.to_string(),
        implementation: "cpython",
        variant: f.freethreaded.then(|| "freethreaded".to_string()),
        source: match f.origin {
            Origin::Path => "system",
            Origin::Pyenv => "pyenv",
        },
        path: Some(f.path.display().to_string()),
        url: None,
    }
}

/// The installs `versions` (requests such as `3.12`, `3.13.1`, `3.13t`) name, each once, in the
/// order asked; a request that matches nothing is a user error before anything is removed.
/// `found` (the interpreters pyenv or PATH provide) only explains a request that names one of
/// them: pyenvx never removes what it did not install.
pub fn uninstall_targets(
    installed: &[Installed],
    found: &[Found],
    versions: &[String],
) -> Result<Vec<Installed>> {
    let mut targets = Vec::new();
    for raw in versions {
        let request = PythonRequest::parse(raw)?;
        let matching: Vec<_> = installed
            .iter()
            .filter(|i| request.matches(i.version(), i.freethreaded()))
            .collect();
        if matching.is_empty() {
            // pyenv's first: a request for a version is more likely about an install than
            // about the system's python3.
            let mut candidates: Vec<&Found> = found
                .iter()
                .filter(|f| request.matches(&f.version, f.freethreaded))
                .collect();
            candidates.sort_by_key(|f| f.origin != Origin::Pyenv);
            if let Some(other) = candidates.first() {
                let (whose, hint) = match other.origin {
                    Origin::Pyenv => (
                        "pyenv's",
                        format!("`pyenv uninstall {}` removes it", other.version),
                    ),
                    Origin::Path => (
                        "on PATH, not installed by pyenvx",
                        "remove it with the tool that installed it (the system's package manager)"
                            .to_string(),
                    ),
                };
                return Err(user_error!(
                    hint = hint,
                    "Python {} ({}) is {whose}: pyenvx uninstalls only the builds it installed",
                    other.version,
                    other.path.display()
                ));
            }
            return Err(user_error!(
                hint = "`pyenvx python list --installed` shows what is installed",
                "no managed Python matches `{raw}`"
            ));
        }
        for m in matching {
            if !targets.iter().any(|t: &Installed| t.dir == m.dir) {
                targets.push(m.clone());
            }
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::managed::Receipt;

    fn build(version: &str, variant: Option<&str>) -> Installed {
        let key = format!(
            "cpython-{version}{}-linux-x86_64-gnu",
            variant.map_or(String::new(), |v| format!("+{v}"))
        );
        Installed {
            receipt: Receipt {
                key: key.clone(),
                version: version.parse().unwrap(),
                variant: variant.map(str::to_string),
                build: "20250101".into(),
                url: String::new(),
                sha256: String::new(),
                platform: "linux-x86_64-gnu".into(),
            },
            dir: std::path::PathBuf::from("/pythons").join(key),
        }
    }

    fn keys(targets: &[Installed]) -> Vec<&str> {
        targets.iter().map(|t| t.receipt.key.as_str()).collect()
    }

    #[test]
    fn each_build_once_in_the_order_asked() {
        let installed = [
            build("3.13.1", None),
            build("3.13.1", Some("freethreaded")),
            build("3.12.8", None),
            build("3.12.1", None),
        ];
        let asked = ["3.12.1".to_string(), "3.12".to_string()];
        assert_eq!(
            keys(&uninstall_targets(&installed, &[], &asked).unwrap()),
            [
                "cpython-3.12.1-linux-x86_64-gnu",
                "cpython-3.12.8-linux-x86_64-gnu"
            ]
        );
        let asked = ["3.13t".to_string()];
        assert_eq!(
            keys(&uninstall_targets(&installed, &[], &asked).unwrap()),
            ["cpython-3.13.1+freethreaded-linux-x86_64-gnu"]
        );
    }

    #[test]
    fn a_request_that_matches_nothing_removes_nothing() {
        let installed = [build("3.12.8", None)];
        let asked = ["3.12".to_string(), "3.11".to_string()];
        let err = uninstall_targets(&installed, &[], &asked).unwrap_err();
        assert_eq!(format!("{err}"), "no managed Python matches `3.11`");
        assert!(uninstall_targets(&installed, &[], &["3.x".to_string()]).is_err());
    }

    #[test]
    fn a_python_pyenv_installed_is_named_as_pyenvs() {
        let pyenv = Found {
            path: "/home/u/.pyenv/versions/3.11.7/bin/python3.11".into(),
            version: "3.11.7".parse().unwrap(),
            freethreaded: false,
            prefix: "/home/u/.pyenv/versions/3.11.7".into(),
            origin: Origin::Pyenv,
        };
        let err = uninstall_targets(&[build("3.12.8", None)], &[pyenv], &["3.11".to_string()])
            .unwrap_err();
        assert_eq!(
            format!("{err}"),
            "Python 3.11.7 (/home/u/.pyenv/versions/3.11.7/bin/python3.11) is pyenv's: pyenvx uninstalls only the builds it installed"
        );
        assert_eq!(
            crate::error::find_hint(&err),
            Some("`pyenv uninstall 3.11.7` removes it")
        );
    }
}
