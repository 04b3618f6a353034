//! `pyenvx redis up | down | status | url` (also under their old name, `pyenvx cache`), and
//! `pyenvx up | down` for every declared service.

use std::time::Duration;

use anyhow::Result;

use crate::cli::RedisCommand;
use crate::error::exit;
use crate::ops::{self, up::UpStep};
use crate::printer::Printer;
use crate::project::Env;
use crate::project::Project;
use crate::services::{self, redis};
use crate::settings::Settings;

pub fn run(cmd: RedisCommand, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    match cmd {
        RedisCommand::Up => {
            cache_up(settings, &project, printer)?;
        }
        RedisCommand::Down => cache_down(settings, &project, printer)?,
        RedisCommand::Url => {
            redis::require_cache(&project)?;
            printer.data(redis::identity(settings, &project)?.url());
        }
        RedisCommand::Status(args) => {
            let status = redis::status(settings, &project)?;
            if args.json {
                printer.data(serde_json::to_string_pretty(&status)?);
                return Ok(exit::OK);
            }
            let state = match (status.running, status.accepting_connections) {
                (false, _) => "stopped",
                (true, true) => "running, accepting AUTH + PING",
                (true, false) => "running, not answering (yet?)",
            };
            let pid = status
                .pid
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            printer.data(format!("cache     Redis on 127.0.0.1:{}", status.port));
            printer.data(format!("backend   {}", status.backend));
            printer.data(format!("state     {state}{pid}"));
            printer.data(format!("data      {}", status.data.display()));
        }
    }
    Ok(exit::OK)
}

fn cache_up(settings: &Settings, project: &Project, printer: &Printer) -> Result<()> {
    let (report, took) = ops::up::cache_up(settings, project)?;
    print_cache_up(printer, &report, took);
    Ok(())
}

fn print_cache_up(printer: &Printer, report: &redis::CacheUp, took: Duration) {
    if report.already_running {
        printer.success(format!(
            "Redis {} is already running on 127.0.0.1:{}",
            report.version, report.port
        ));
    } else {
        printer.success(format!(
            "Redis {} up on 127.0.0.1:{} in {} ms",
            report.version,
            report.port,
            took.as_millis()
        ));
    }
}

fn cache_down(settings: &Settings, project: &Project, printer: &Printer) -> Result<()> {
    if redis::down(settings, project)? {
        printer.success("Stopped the cache (the data stays)");
    } else {
        printer.info("The cache is not running");
    }
    Ok(())
}

/// `pyenvx up`: the database first (Django's migrations need it), then the cache.
pub fn up_all(settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let (has_db, has_cache) = ops::up::declared(&project)?;
    if !has_db && !has_cache {
        printer.info(format!(
            "{} declares no services ([services.db], [services.cache])",
            project.config_path().display()
        ));
        return Ok(exit::OK);
    }
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    ops::up::up_all(&env, &project, &mut |step| match step {
        UpStep::Database(report, took) => {
            let version = report
                .server_version
                .split_whitespace()
                .next()
                // MariaDB's `10.11.19-MariaDB-0+deb12u1`.
                .and_then(|v| v.split('-').next())
                .unwrap_or("?");
            let engine = report.engine.title();
            if report.already_running {
                printer.success(format!(
                    "{engine} {version} is already running on 127.0.0.1:{} ({})",
                    report.port, report.backend
                ));
            } else {
                printer.success(format!(
                    "{engine} {version} up on 127.0.0.1:{} ({}) in {} ms",
                    report.port,
                    report.backend,
                    took.as_millis()
                ));
            }
            super::branch::follow_quietly_failing(&env, &project, printer);
        }
        UpStep::Cache(report, took) => print_cache_up(printer, &report, took),
    })?;
    if has_db {
        super::project::ask_django_after_up(&env, &project, printer);
    }
    Ok(exit::OK)
}

/// `pyenvx down`: every declared service, each tried even when another fails.
pub fn down_all(settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    if project.config.services.is_empty() {
        printer.info(format!(
            "{} declares no services ([services.db], [services.cache])",
            project.config_path().display()
        ));
        return Ok(exit::OK);
    }
    let mut first_error = None;
    if redis::cache_config(&project)?.is_some() {
        if let Err(e) = cache_down(settings, &project, printer) {
            first_error = Some(e);
        }
    }
    if services::db_config(&project)?.is_some() {
        let reporter = printer.reporter();
        let env = Env::new(settings, &reporter);
        match services::down(&env, &project) {
            Ok(true) => printer.success("Stopped the database (the data stays)"),
            Ok(false) => printer.info("The database is not running"),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(exit::OK),
    }
}
