//! `pyenvx redis up | down | status | url` (also under their old name, `pyenvx cache`), and
//! `pyenvx up | down` for every declared service.

use std::time::Instant;

use anyhow::Result;

use crate::cli::RedisCommand;
use crate::error::exit;
use crate::printer::Printer;
use crate::project::Env;
use crate::project::Project;
use crate::reporter::spinning;
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
    let started = Instant::now();
    let report = redis::up(settings, project)?;
    // The shims read the services' variables from one file; REDIS_URL joins DATABASE_URL there.
    services::write_shim_env(settings, project)?;
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
            started.elapsed().as_millis()
        ));
    }
    Ok(())
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
    let has_db = services::db_config(&project)?.is_some();
    let has_cache = redis::cache_config(&project)?.is_some();
    if !has_db && !has_cache {
        printer.info(format!(
            "{} declares no services ([services.db], [services.cache])",
            project.config_path().display()
        ));
        return Ok(exit::OK);
    }
    if has_db {
        let reporter = printer.reporter();
        let env = Env::new(settings, &reporter);
        let started = Instant::now();
        let report = spinning(env.reporter, "starting the database", || {
            services::up(&env, &project, &services::UpOptions::default())
        })?;
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
                started.elapsed().as_millis()
            ));
        }
        super::branch::follow_quietly_failing(&env, &project, printer);
    }
    if has_cache {
        cache_up(settings, &project, printer)?;
    }
    if has_db {
        let reporter = printer.reporter();
        let env = Env::new(settings, &reporter);
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
