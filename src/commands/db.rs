//! `pyenvx db up | down | status | logs | shell | psql | url | reset | dump | restore | snapshot |
//! upgrade` (`db branch` is [`super::branch`]).

use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::{
    DbBackend, DbCommand, DbDumpArgs, DbLogsArgs, DbResetArgs, DbRestoreArgs, DbSnapshotArgs,
    DbSnapshotCommand, DbStatusArgs, DbUpArgs, DbUpgradeArgs,
};
use crate::error::exit;
use crate::printer::Printer;
use crate::project::Env;
use crate::project::Project;
use crate::reporter::spinning;
use crate::services::{self, BackendKind, UpOptions, UpReport};
use crate::settings::Settings;
use crate::user_error;

pub fn run(cmd: DbCommand, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    match cmd {
        DbCommand::Up(args) => up(&env, &project, args, printer),
        DbCommand::Down => down(&env, &project, printer),
        DbCommand::Status(args) => status(&env, &project, args, printer),
        DbCommand::Logs(args) => logs(&env, &project, args, printer),
        DbCommand::Psql(args) => {
            let cmd = services::psql(&env, &project, &args.args)?;
            exec(cmd, "psql")
        }
        DbCommand::Shell(args) => {
            let cmd = services::shell(&env, &project, &args.args)?;
            exec(cmd, "the database client")
        }
        DbCommand::Url => {
            services::require_db(&project)?;
            printer.data(services::identity(settings, &project)?.url());
            Ok(exit::OK)
        }
        DbCommand::Reset(args) => reset(&env, &project, args, printer),
        DbCommand::Dump(args) => dump(&env, &project, args, printer),
        DbCommand::Restore(args) => restore(&env, &project, args, printer),
        DbCommand::Snapshot(args) => snapshot(&env, &project, args, printer),
        DbCommand::Branch(cmd) => super::branch::run(&env, &project, cmd, printer),
        DbCommand::Upgrade(args) => upgrade(&env, &project, args, printer),
    }
}

fn snapshot(env: &Env, project: &Project, args: DbSnapshotArgs, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    match args.command {
        None => {
            let snap = spinning(env.reporter, "taking a snapshot of the database", || {
                services::snapshot_take(env, project, args.name.as_deref())
            })?;
            printer.success(format!(
                "Took snapshot {} ({}, {} {}) in {} ms",
                snap.name,
                crate::printer::human_size(snap.size_bytes),
                snap.engine.title(),
                snap.major,
                started.elapsed().as_millis()
            ));
            printer.info(format!(
                "  {} puts it back",
                printer.code(format!("pyenvx db snapshot restore {}", snap.name))
            ));
        }
        Some(DbSnapshotCommand::List(list)) => {
            let engine = services::require_db(project)?.engine;
            let snaps = services::snapshot::list(project)?;
            if list.json {
                printer.data(serde_json::to_string_pretty(&snaps)?);
            } else if snaps.is_empty() {
                printer.info("No snapshots: `pyenvx db snapshot [NAME]` takes one");
            } else {
                let width = snaps.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
                let server = match engine {
                    services::DbEngine::Postgres => "POSTGRES",
                    services::DbEngine::Mariadb => "MARIADB",
                };
                printer.data(format!(
                    "{:width$}  {:20}  {:>10}  {server}",
                    "NAME", "TAKEN (UTC)", "SIZE"
                ));
                for s in &snaps {
                    printer.data(format!(
                        "{:width$}  {:20}  {:>10}  {} ({})",
                        s.name,
                        s.created,
                        crate::printer::human_size(s.size_bytes),
                        s.major,
                        s.backend
                    ));
                }
            }
        }
        Some(DbSnapshotCommand::Restore(r)) => {
            let snap = services::snapshot_check(env, project, r.name.as_deref())?;
            if !r.yes
                && !confirm(
                    &format!(
                        "Replace the database of {} with snapshot {} ({})",
                        project.config.name, snap.name, snap.created
                    ),
                    &format!(
                        "`pyenvx db snapshot restore` would replace the database of {} with snapshot {}",
                        project.config.name, snap.name
                    ),
                    &format!("pyenvx db snapshot restore {} --yes", snap.name),
                )?
            {
                printer.info("Nothing restored");
                return Ok(exit::OK);
            }
            let restored = spinning(
                env.reporter,
                &format!("restoring snapshot {}", snap.name),
                || services::snapshot_restore(env, project, &snap),
            )?;
            let how = if restored.renamed {
                "renamed into place"
            } else {
                "copied"
            };
            let ended = match restored.ended {
                0 => String::new(),
                1 => ", 1 session closed".to_string(),
                n => format!(", {n} sessions closed"),
            };
            printer.success(format!(
                "Restored snapshot {} in {} ms ({how}{ended})",
                snap.name,
                started.elapsed().as_millis()
            ));
        }
        Some(DbSnapshotCommand::Prepare) => {
            services::snapshot_prepare(env, project)?;
        }
        Some(DbSnapshotCommand::Rm(rm)) => {
            services::snapshot_remove(env, project, &rm.name)?;
            printer.success(format!("Deleted snapshot {}", rm.name));
        }
    }
    Ok(exit::OK)
}

fn backend(choice: Option<DbBackend>) -> Option<BackendKind> {
    choice.map(|b| match b {
        DbBackend::Native => BackendKind::Native,
        DbBackend::Container => BackendKind::Container,
    })
}

fn report_up(printer: &Printer, report: &UpReport, started: Instant, verb: &str) {
    let version = report
        .server_version
        .split_whitespace()
        .next()
        // MariaDB's `10.11.19-MariaDB-0+deb12u1`.
        .and_then(|v| v.split('-').next())
        .unwrap_or("?");
    let ms = started.elapsed().as_millis();
    let engine = report.engine.title();
    if report.already_running {
        printer.success(format!(
            "{engine} {version} is already running on 127.0.0.1:{} ({})",
            report.port, report.backend
        ));
    } else {
        let created = if report.initialized {
            ", new database"
        } else {
            ""
        };
        printer.success(format!(
            "{engine} {version} {verb} on 127.0.0.1:{} ({}{created}) in {ms} ms",
            report.port, report.backend
        ));
    }
    if printer.verbose > 0 {
        printer.info(format!("  from {}", report.source));
    }
    printer.info(format!(
        "  `pyenvx run` sets DATABASE_URL; {} prints it",
        printer.code("pyenvx db url")
    ));
}

fn up(env: &Env, project: &Project, args: DbUpArgs, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    let opts = UpOptions {
        backend: backend(args.backend),
        port: args.port,
    };
    let report = spinning(env.reporter, "starting the database", || {
        services::up(env, project, &opts)
    })?;
    report_up(printer, &report, started, "up");
    super::branch::follow_quietly_failing(env, project, printer);
    if !super::project::ask_django_after_up(env, project, printer) {
        super::project::advise_literal_settings(printer, project);
    }
    Ok(exit::OK)
}

fn down(env: &Env, project: &Project, printer: &Printer) -> Result<i32> {
    if services::down(env, project)? {
        printer.success("Stopped the database (the data stays)");
    } else {
        printer.info("The database is not running");
    }
    Ok(exit::OK)
}

#[derive(serde::Serialize)]
struct StatusJson {
    #[serde(flatten)]
    status: services::Status,
    url: String,
    /// The database branch in use, once `db branch` (or following git) has recorded one.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
}

fn status(env: &Env, project: &Project, args: DbStatusArgs, printer: &Printer) -> Result<i32> {
    let status = services::status(env, project)?;
    let url = services::identity(env.settings, project)?.url();
    let record = services::branches::load(project)?;
    if args.json {
        printer.data(serde_json::to_string_pretty(&StatusJson {
            status,
            url,
            branch: record.map(|r| r.current),
        })?);
        return Ok(exit::OK);
    }
    let state = match (status.running, status.accepting_connections) {
        (false, _) if !status.initialized => {
            "not created yet: `pyenvx db up` creates it".to_string()
        }
        (false, _) => "stopped".to_string(),
        (true, true) => "running, accepting connections".to_string(),
        (true, false) => "running, not accepting connections (yet?)".to_string(),
    };
    let pid = status
        .pid
        .map(|p| format!(" (pid {p})"))
        .unwrap_or_default();
    printer.data(format!(
        "database  {} (user {}) on 127.0.0.1:{}",
        status.database, status.user, status.port
    ));
    printer.data(format!(
        "backend   {}, {} {}",
        status.backend,
        status.engine.title(),
        status.version
    ));
    printer.data(format!("state     {state}{pid}"));
    if let Some(record) = record {
        let n = record.branches.len();
        let s = if n == 1 { "" } else { "es" };
        printer.data(format!("branch    {} ({n} branch{s})", record.current));
    }
    printer.data(format!("data      {}", status.data));
    Ok(exit::OK)
}

fn logs(env: &Env, project: &Project, args: DbLogsArgs, printer: &Printer) -> Result<i32> {
    match services::logs(env, project, args.follow)? {
        services::Logs::Command(cmd) => exec(cmd, "the container engine"),
        services::Logs::File(path) => {
            if !path.exists() && !args.follow {
                printer.info("No log yet: the database was never started natively");
                return Ok(exit::OK);
            }
            print_file(&path, args.follow)?;
            Ok(exit::OK)
        }
    }
}

/// Copy the log to stdout; with `follow`, keep copying what is appended (until interrupted),
/// starting over when the file is rotated.
fn print_file(path: &Path, follow: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut offset = 0u64;
    let mut buf = Vec::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0; // rotated
            }
            f.seek(SeekFrom::Start(offset))?;
            buf.clear();
            f.read_to_end(&mut buf)?;
            offset += buf.len() as u64;
            if stdout
                .write_all(&buf)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(()); // the reader went away (`| head`)
            }
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ask `question` on the terminal. Without one nothing can be asked: the error says what the
/// command would have done (`would`) and the hint gives the command with `--yes` (`yes`).
fn confirm(question: &str, would: &str, yes: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(user_error!(
            hint = format!("`{yes}` does it without asking"),
            "{would}; stdin is not a terminal to ask on, so nothing changed"
        ));
    }
    eprint!("{question}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn reset(env: &Env, project: &Project, args: DbResetArgs, printer: &Printer) -> Result<i32> {
    services::require_db(project)?;
    if !args.yes
        && !confirm(
            &format!(
                "Delete the database of {} and start an empty one",
                project.config.name
            ),
            &format!(
                "`pyenvx db reset` would delete the database of {} and start an empty one",
                project.config.name
            ),
            "pyenvx db reset --yes",
        )?
    {
        printer.info("Nothing deleted");
        return Ok(exit::OK);
    }
    let started = Instant::now();
    let opts = UpOptions {
        backend: backend(args.backend),
        port: None,
    };
    let report = spinning(
        env.reporter,
        "deleting the database and starting an empty one",
        || services::reset(env, project, &opts),
    )?;
    report_up(printer, &report, started, "reset and up");
    Ok(exit::OK)
}

fn upgrade(env: &Env, project: &Project, args: DbUpgradeArgs, printer: &Printer) -> Result<i32> {
    let plan = services::upgrade::check(env, project, args.major, args.image.as_deref())?;
    if !args.yes
        && !confirm(
            &format!(
                "Upgrade the database of {} from PostgreSQL {} to {} (the {} data is kept in {})",
                project.config.name,
                plan.from,
                plan.to,
                plan.from,
                plan.keep.display()
            ),
            &format!(
                "`pyenvx db upgrade` would move the database of {} from PostgreSQL {} to {}",
                project.config.name, plan.from, plan.to
            ),
            &format!("pyenvx db upgrade {} --yes", plan.to),
        )?
    {
        printer.info("Nothing upgraded");
        return Ok(exit::OK);
    }
    let started = Instant::now();
    let report = spinning(
        env.reporter,
        &format!(
            "upgrading the database from PostgreSQL {} to {}",
            plan.from, plan.to
        ),
        || services::upgrade::upgrade(env, project, &plan),
    )?;
    let carried = match report.snapshots {
        0 => String::new(),
        1 => ", 1 snapshot carried".to_string(),
        n => format!(", {n} snapshots carried"),
    };
    printer.success(format!(
        "Upgraded the database from PostgreSQL {} to {} in {} ms ({}: {} ms{carried})",
        report.from,
        report.to,
        started.elapsed().as_millis(),
        report.method,
        report.transfer_ms,
    ));
    report_up(printer, &report.up, started, "up");
    printer.info(format!(
        "  PostgreSQL {} data is kept in {}; delete it once you no longer need the way back",
        report.from,
        printer.code(report.kept.display())
    ));
    Ok(exit::OK)
}

fn absolute(file: &Path) -> Result<PathBuf> {
    Ok(if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()?.join(file)
    })
}

fn dump(env: &Env, project: &Project, args: DbDumpArgs, printer: &Printer) -> Result<i32> {
    let file = absolute(&args.file)?;
    let started = Instant::now();
    spinning(
        env.reporter,
        &format!("dumping the database to {}", args.file.display()),
        || services::dump(env, project, &file, &args.file, args.force),
    )?;
    let size = fs_err::metadata(&file).map(|m| m.len()).unwrap_or(0);
    printer.success(format!(
        "Wrote {} ({} KiB) in {} ms",
        args.file.display(),
        size.div_ceil(1024),
        started.elapsed().as_millis()
    ));
    Ok(exit::OK)
}

fn restore(env: &Env, project: &Project, args: DbRestoreArgs, printer: &Printer) -> Result<i32> {
    let file = absolute(&args.file)?;
    if !file.exists() {
        return Err(user_error!(
            hint = "give a file written by `pyenvx db dump`",
            "{} does not exist",
            args.file.display()
        ));
    }
    let plan = services::check_restore(env, project, &file, &args.file)?;
    if plan.replaces_data
        && !args.yes
        && !confirm(
            &format!(
                "Replace the database of {} (it holds data) with {}",
                project.config.name,
                args.file.display()
            ),
            &format!(
                "`pyenvx db restore` would replace the database of {}, which holds data, with {}",
                project.config.name,
                args.file.display()
            ),
            &format!("pyenvx db restore {} --yes", args.file.display()),
        )?
    {
        printer.info("Nothing restored");
        return Ok(exit::OK);
    }
    let started = Instant::now();
    spinning(
        env.reporter,
        &format!("restoring {} into the database", args.file.display()),
        || services::restore(env, project, &plan),
    )?;
    printer.success(format!(
        "Restored {} in {} ms",
        args.file.display(),
        started.elapsed().as_millis()
    ));
    Ok(exit::OK)
}

/// Replace pyenvx with `cmd`: signals (Ctrl-C in psql) reach it directly and its exit code is
/// ours.
fn exec(mut cmd: std::process::Command, what: &str) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {what} ({program})")))
}
