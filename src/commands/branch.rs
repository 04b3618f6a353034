//! `pyenvx db branch list | new | switch | rm | follow | hook install`, and the lines `run`,
//! `up` and `db up` print when the database followed git.

use std::time::Instant;

use anyhow::Result;

use crate::cli::{DbBranchCommand, DbBranchHookCommand};
use crate::error::exit;
use crate::printer::Printer;
use crate::project::{Env, Project};
use crate::services::{self, branches};

pub fn run(env: &Env, project: &Project, cmd: DbBranchCommand, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    match cmd {
        DbBranchCommand::List(args) => {
            let report = services::branch_list(env, project)?;
            say_repaired(printer, report.repaired.as_deref());
            if args.json {
                printer.data(serde_json::to_string_pretty(&report.branches)?);
            } else {
                print_list(printer, &report.branches);
            }
            for database in &report.unrecorded {
                printer.warn(format!(
                    "the server has a branch database {database} that no recorded branch names (kept; `DROP DATABASE` in `pyenvx db psql` deletes it)"
                ));
            }
        }
        DbBranchCommand::New(args) => {
            let report =
                services::branch_new(env, project, &args.name, args.from.as_deref(), args.empty)?;
            say_repaired(printer, report.repaired.as_deref());
            say_new(printer, &report, started);
        }
        DbBranchCommand::Switch(args) => {
            let report = services::branch_switch(env, project, &args.name)?;
            say_switch(printer, &report, started);
        }
        DbBranchCommand::Rm(args) => {
            services::branch_rm(env, project, &args.name)?;
            printer.success(format!("Deleted database branch {}", args.name));
        }
        DbBranchCommand::Follow => match services::branch_follow(env, project)? {
            Some(report) => say_follow(printer, &report, started),
            None => printer.info(match branches::git_head(&project.root) {
                Some(head) => format!("The database is branch {head}'s already"),
                None => {
                    "git has no branch checked out here: the database stays as it is".to_string()
                }
            }),
        },
        DbBranchCommand::Hook(DbBranchHookCommand::Install) => {
            let exe = std::env::current_exe()?;
            match services::branch_hook_install(env, project, &exe)? {
                services::branch_hook::HookInstalled::New(hook) => printer.success(format!(
                    "Installed {}: the database follows each branch checkout",
                    hook.display()
                )),
                services::branch_hook::HookInstalled::Beside { hook, kept } => {
                    printer.success(format!(
                        "Installed {}; the project's own hook is now {} and runs first",
                        hook.display(),
                        kept.display()
                    ))
                }
                services::branch_hook::HookInstalled::Already(hook) => {
                    printer.info(format!("{} is pyenvx's already", hook.display()))
                }
            }
            if !services::require_db(project)?.follow_git {
                printer.info(format!(
                    "  add {} to [services.db] so that `pyenvx run` and `up` follow too",
                    printer.code("branches = \"git\"")
                ));
            }
        }
    }
    Ok(exit::OK)
}

fn say_repaired(printer: &Printer, repaired: Option<&str>) {
    if let Some(r) = repaired {
        printer.warn(format!("repaired: {r}"));
    }
}

fn say_new(printer: &Printer, report: &branches::NewReport, started: Instant) {
    let what = match &report.from {
        Some(from) => format!("a copy of {from}"),
        None => "empty".to_string(),
    };
    printer.success(format!(
        "Made database branch {} ({what}) in {} ms",
        report.name,
        started.elapsed().as_millis()
    ));
    say_closed(printer, &report.closed, "to copy it");
    printer.info(format!(
        "  {} uses it",
        printer.code(format!("pyenvx db branch switch {}", report.name))
    ));
}

fn say_closed(printer: &Printer, closed: &[branches::Session], why: &str) {
    if closed.is_empty() {
        return;
    }
    let n = closed.len();
    let s = if n == 1 { "" } else { "s" };
    printer.info(format!("  closed {n} session{s} on the database {why}:"));
    for session in closed {
        printer.info(format!("    {session}"));
    }
}

/// What a switch says: where the database went, the sessions closed, migrations the checkout
/// lacks.
pub fn say_switch(printer: &Printer, report: &branches::SwitchReport, started: Instant) {
    say_repaired(printer, report.repaired.as_deref());
    if report.from == report.to {
        printer.info(format!("The database is branch {}'s already", report.to));
        return;
    }
    printer.success(format!(
        "Switched the database to branch {} (from {}) in {} ms",
        report.to,
        report.from,
        started.elapsed().as_millis()
    ));
    say_closed(printer, &report.closed, "switched away from");
    say_missing(printer, &report.to, &report.applied_missing);
}

fn say_missing(printer: &Printer, branch: &str, missing: &[(String, String)]) {
    if missing.is_empty() {
        return;
    }
    let mut by: Vec<&str> = missing.iter().map(|(_, b)| b.as_str()).collect();
    by.sort_unstable();
    by.dedup();
    let s = if by.len() == 1 { "" } else { "es" };
    printer.warn(format!(
        "the database of {branch} holds migrations this checkout lacks: {} (applied on branch{s} {})",
        missing
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        by.join(", ")
    ));
}

/// What following git says (for `db branch follow`, `run`, `up` and `db up`).
pub fn say_follow(printer: &Printer, report: &branches::FollowReport, started: Instant) {
    if let Some(from) = &report.created_from {
        printer.info(format!(
            "Made database branch {} (a copy of {from})",
            report.switch.to
        ));
    }
    say_switch(printer, &report.switch, started);
}

/// `run`, `up` and `db up` with `branches = "git"`: follow, and say so; a failure is a warning,
/// as the command itself goes on.
pub fn follow_quietly_failing(env: &Env, project: &Project, printer: &Printer) {
    let started = Instant::now();
    match services::follow_if_set(env, project) {
        Ok(Some(report)) => say_follow(printer, &report, started),
        Ok(None) => {}
        Err(e) => printer.warn(format!(
            "the database did not follow git's branch: {e:#} (`pyenvx db branch follow` tries again)"
        )),
    }
}

fn print_list(printer: &Printer, listed: &[branches::Listed]) {
    let name_w = listed
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let db_w = listed
        .iter()
        .map(|b| b.database.len())
        .max()
        .unwrap_or(8)
        .max(8);
    printer.data(format!(
        "  {:name_w$}  {:db_w$}  {:>10}  {:12}  MIGRATIONS",
        "BRANCH", "DATABASE", "SIZE", "FROM"
    ));
    for b in listed {
        let size = b
            .size_bytes
            .map_or_else(|| "gone".to_string(), crate::printer::human_size);
        let migrations = if b.size_bytes.is_none() {
            "-".to_string()
        } else if b.unmigrated {
            "not migrated".to_string()
        } else if b.applied_missing.is_empty() && b.unapplied.is_empty() {
            "as this checkout".to_string()
        } else {
            let mut parts = Vec::new();
            if !b.applied_missing.is_empty() {
                parts.push(format!(
                    "{} applied that this checkout lacks",
                    b.applied_missing.len()
                ));
            }
            if !b.unapplied.is_empty() {
                parts.push(format!("{} to apply", b.unapplied.len()));
            }
            parts.join(", ")
        };
        printer.data(format!(
            "{} {:name_w$}  {:db_w$}  {size:>10}  {:12}  {migrations}",
            if b.current { "*" } else { " " },
            b.name,
            b.database,
            b.from.as_deref().unwrap_or("-"),
        ));
        for (m, by) in &b.applied_missing {
            printer.data(format!(
                "      applied, not in this checkout: {m} (by {by})"
            ));
        }
        for m in &b.unapplied {
            printer.data(format!("      not applied: {m}"));
        }
    }
}
