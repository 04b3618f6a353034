//! `pyenvx lock | tree | outdated | env`: the lock and the sandbox seen from outside, without
//! changing `.venv` (the verbs a uv user reaches for).

use std::time::Instant;

use anyhow::Result;

use crate::cli::{EnvArgs, LockArgs, OutdatedArgs, TreeArgs};
use crate::error::exit;
use crate::ops;
use crate::printer::Printer;
use crate::project::{Env, Project};
use crate::settings::Settings;

pub fn lock(args: LockArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let input = ops::lock::LockInput {
        check: args.check,
        upgrade: args.upgrade,
        upgrade_packages: args.upgrade_package,
    };
    let report = ops::lock::lock(&project, &input, &env)?;
    for change in &report.changes {
        let line = match (&change.old, &change.new) {
            (Some(old), Some(new)) => {
                format!(" {} {} {old} -> {new}", printer.code("~"), change.name)
            }
            (None, Some(new)) => format!(" {} {}=={new}", printer.code("+"), change.name),
            (Some(old), None) => format!(" {} {}=={old}", printer.dim("-"), change.name),
            (None, None) => continue,
        };
        printer.info(line);
    }
    let ms = started.elapsed().as_millis();
    if args.check {
        printer.success(format!(
            "{} matches pyenvx.toml ({} packages, Python {})",
            report.path.display(),
            report.packages,
            report.python
        ));
    } else if report.written {
        printer.success(format!(
            "Locked {} packages for Python {} in {ms} ms ({} changed); .venv is untouched: `pyenvx sync` installs them",
            report.packages,
            report.python,
            report.changes.len()
        ));
    } else {
        printer.success(format!(
            "{} is up to date ({} packages, Python {})",
            report.path.display(),
            report.packages,
            report.python
        ));
    }
    Ok(exit::OK)
}

pub fn tree(args: TreeArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let graph = ops::tree::graph(&project, &env)?;
    if graph.stale {
        printer.warn("pyenvx.toml changed since the lock: this is the lock's tree (`pyenvx lock` updates it)");
    }
    let lines = match &args.invert {
        Some(package) => graph.inverted_lines(package)?,
        None => graph.lines(),
    };
    for line in lines {
        printer.data(line);
    }
    Ok(exit::OK)
}

pub fn outdated(args: OutdatedArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let rows = ops::outdated::outdated(&project, &env)?;
    if args.json {
        printer.data(serde_json::to_string_pretty(&rows)?);
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        printer.success("Every locked package is the newest release");
        return Ok(exit::OK);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(7);
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    printer.data(format!(
        "{:<width$}  {:<10}  {:<10}  newest",
        "package", "locked", "allowed"
    ));
    for r in &rows {
        printer.data(format!(
            "{:<width$}  {:<10}  {:<10}  {}",
            r.name,
            r.locked,
            or_dash(&r.allowed),
            or_dash(&r.newest)
        ));
    }
    printer.info(format!(
        "  {} moves to `allowed`; a newer `newest` needs a pin changed in pyenvx.toml (`{}`)",
        printer.code("pyenvx sync --upgrade"),
        printer.code("pyenvx pin django X.Y")
    ));
    Ok(exit::OK)
}

pub fn env(args: EnvArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let vars = ops::env::variables(&project, &env)?;
    let lines = if args.shell {
        ops::env::shell_lines(&vars)
    } else {
        ops::env::dotenv_lines(&vars)
    };
    for line in lines {
        printer.data(line);
    }
    Ok(exit::OK)
}
