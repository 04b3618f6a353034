//! `pyenvx python install|list|find|uninstall|pin`.

use anyhow::Result;

use crate::cli::{
    PythonFindArgs, PythonInstallArgs, PythonListArgs, PythonPinArgs, PythonUninstallArgs,
};
use crate::error::exit;
use crate::ops;
use crate::platform::Platform;
use crate::printer::Printer;
use crate::python::install::Outcome;
use crate::python::{self, discovery, managed, PythonRequest};
use crate::settings::Settings;
use crate::user_error;

/// The global pin, if one is set.
pub fn global_pin(settings: &Settings) -> Option<String> {
    python::global_pin(&settings.dirs)
}

pub fn install(args: PythonInstallArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let report = ops::python::install(
        &args.requests,
        args.reinstall,
        settings,
        &printer.reporter(),
    )?;
    let mut failed = 0;
    for (download, result) in report.results {
        match result {
            Ok(Outcome::Installed(i)) => printer.success(format!(
                "Installed {} in {:.1}s {}",
                i.receipt.key,
                report.elapsed.as_secs_f64(),
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

pub fn list(args: PythonListArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let report = ops::python::list(args.installed, settings, &printer.reporter())?;
    if let Some(e) = &report.catalog_error {
        let hint = crate::error::find_hint(e)
            .map(|h| format!("\n  hint: {h}"))
            .unwrap_or_default();
        printer.warn(format!(
            "{e:#}; showing installed and found versions only{hint}"
        ))
    }
    let rows = report.rows;
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
        None => ops::python::default_request(settings)?,
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
