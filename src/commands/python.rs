//! `pyenvx python install|list|find|uninstall|pin`.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{
    PythonFindArgs, PythonInstallArgs, PythonListArgs, PythonPinArgs, PythonUninstallArgs,
};
use crate::error::exit;
use crate::platform::Platform;
use crate::printer::Printer;
use crate::python::install::{InstallOptions, Outcome};
use crate::python::{self, catalog, discovery, managed, PythonRequest};
use crate::settings::Settings;
use crate::user_error;

/// The global pin, if one is set.
pub fn global_pin(settings: &Settings) -> Option<String> {
    python::global_pin(&settings.dirs)
}

fn default_request(settings: &Settings) -> Result<PythonRequest> {
    match global_pin(settings) {
        Some(pin) => PythonRequest::parse(&pin),
        None => Ok(PythonRequest::any()),
    }
}

pub fn install(args: PythonInstallArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let platform = Platform::current();
    let requests: Vec<PythonRequest> = if args.requests.is_empty() {
        vec![default_request(settings)?]
    } else {
        args.requests
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
        &printer.reporter(),
    )?;
    let mut chosen = Vec::new();
    for request in &requests {
        let download = python::request::select_best(request, downloads.iter(), |d| {
            (&d.version, d.freethreaded())
        })
        .cloned()
        .map_or_else(
            || python::resolve_download(settings, &platform, request, &printer.reporter()),
            Ok,
        )?;
        if !chosen
            .iter()
            .any(|d: &catalog::Download| d.key() == download.key())
        {
            chosen.push(download);
        }
    }
    let opts = InstallOptions {
        reinstall: args.reinstall,
        offline: settings.offline,
        mirror: settings.mirror.clone(),
    };
    let reporter = printer.reporter();
    let started = Instant::now();
    let results: Vec<Result<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|d| {
                let (reporter, opts, platform) = (&reporter, &opts, &platform);
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
    let mut failed = 0;
    for (download, result) in chosen.iter().zip(results) {
        match result {
            Ok(Outcome::Installed(i)) => printer.success(format!(
                "Installed {} in {:.1}s {}",
                i.receipt.key,
                started.elapsed().as_secs_f64(),
                printer.dim(i.dir.display())
            )),
            Ok(Outcome::AlreadyInstalled(i)) => printer.info(format!(
                "{} is already installed {}",
                i.receipt.key,
                printer.dim(i.dir.display())
            )),
            Err(e) => {
                failed += 1;
                printer.error(&e.context(format!("cannot install {}", download.key())));
            }
        }
    }
    super::shims::after_change(settings, printer, None);
    Ok(if failed > 0 { exit::FAILURE } else { exit::OK })
}

/// One row of `python list --json`.
#[derive(Debug, Serialize)]
struct ListRow {
    key: String,
    version: String,
    implementation: &'static str,
    variant: Option<String>,
    /// `managed`, `system`, `pyenv` or `download`.
    source: &'static str,
    path: Option<String>,
    url: Option<String>,
}

pub fn list(args: PythonListArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
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
            let variant = f.freethreaded.then(|| "freethreaded".to_string());
            rows.push(ListRow {
                key: format!(
                    "cpython-{}{}-{}",
                    f.version,
                    if f.freethreaded { "+freethreaded" } else { "" },
                    platform.key()
                ),
                version: f.version.to_string(),
                implementation: "cpython",
                variant,
                source: match f.origin {
                    discovery::Origin::Path => "system",
                    discovery::Origin::Pyenv => "pyenv",
                },
                path: Some(f.path.display().to_string()),
                url: None,
            });
        }
    }
    if !args.installed && settings.preference.allows_managed() {
        match catalog::load(
            &settings.dirs,
            &settings.catalog,
            &platform,
            settings.offline,
            &printer.reporter(),
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
            // reach (offline, behind a proxy, rate-limited): say so and list the rest.
            Err(e) => {
                let hint = crate::error::find_hint(&e)
                    .map(|h| format!("\n  hint: {h}"))
                    .unwrap_or_default();
                printer.warn(format!(
                    "{e:#}; showing installed and found versions only{hint}"
                ))
            }
        }
    }
    rows.sort_by(|a, b| {
        let va = a.version.parse::<pep440_rs::Version>().ok();
        let vb = b.version.parse::<pep440_rs::Version>().ok();
        vb.cmp(&va).then_with(|| a.source.cmp(b.source))
    });
    if args.json {
        printer.data(serde_json::to_string_pretty(&rows)?);
        return Ok(exit::OK);
    }
    let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    for row in &rows {
        let place = match (&row.path, row.source) {
            (Some(p), "managed") => p.clone(),
            (Some(p), source) => format!("{p} {}", printer.dim(format!("({source})"))),
            (None, _) => printer.dim("<download available>"),
        };
        printer.data(format!("{:width$}    {place}", row.key));
    }
    Ok(exit::OK)
}

pub fn find(args: PythonFindArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let platform = Platform::current();
    let request = match &args.request {
        Some(r) => PythonRequest::parse(r)?,
        None => default_request(settings)?,
    };
    match python::find(settings, &platform, &request)? {
        Some(interpreter) => {
            printer.data(interpreter.executable().display().to_string());
            Ok(exit::OK)
        }
        // Suggest an install only of a build that exists.
        None => Err(
            match python::resolve_download(settings, &platform, &request, &printer.reporter()) {
                Ok(build) => user_error!(
                    hint = format!(
                        "`pyenvx python install {request}` installs {}",
                        build.version
                    ),
                    "no Python interpreter on this machine matches `{request}`"
                ),
                Err(e) if e.to_string().starts_with("no downloadable Python matches") => {
                    let hint = crate::error::find_hint(&e).unwrap_or_default();
                    user_error!(
                        hint = format!("{hint}; `pyenvx python list` shows every one"),
                        "no Python interpreter matches `{request}`, here or to download"
                    )
                }
                // The build list could not be read: whether one exists is unknown.
                Err(e) => user_error!(
                    hint = format!(
                        "`pyenvx python list --installed` shows what is here; the list of downloads could not be read: {}",
                        e.to_string().lines().next().unwrap_or("")
                    ),
                    "no Python interpreter on this machine matches `{request}`"
                ),
            },
        ),
    }
}

pub fn uninstall(args: PythonUninstallArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let platform = Platform::current();
    let installed = managed::list(&settings.dirs, &platform)?;
    let found = discovery::find_all(&settings.dirs, &settings.shim_dirs()).unwrap_or_default();
    let targets = crate::ops::python::uninstall_targets(&installed, &found, &args.versions)?;
    let reporter = printer.reporter();
    for target in targets {
        managed::uninstall(&settings.dirs, &platform, &target, &reporter)?;
        printer.success(format!("Uninstalled {}", target.receipt.key));
    }
    super::shims::after_change(settings, printer, None);
    Ok(exit::OK)
}

pub fn pin(args: PythonPinArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    if !args.global {
        return super::project::python_pin_project(args, settings, printer);
    }
    let Some(raw) = args.request else {
        match global_pin(settings) {
            Some(pin) => printer.data(pin),
            None => {
                return Err(user_error!(
                    hint = "set one with `pyenvx python pin --global 3.12`",
                    "no global Python pin"
                ))
            }
        }
        return Ok(exit::OK);
    };
    let request = PythonRequest::parse(&raw)?;
    let path = settings.dirs.global_python_version();
    crate::fs::write_atomic(&path, format!("{request}\n").as_bytes())?;
    printer.success(format!(
        "Pinned the global Python to `{request}` {}",
        printer.dim(path.display())
    ));
    Ok(exit::OK)
}
