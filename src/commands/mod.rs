//! One function per command: arguments and settings in, exit code out. The project commands
//! and `python uninstall` call a workflow in `ops` and print the report it returns.

pub mod branch;
pub mod cache;
pub mod db;
pub mod export;
pub mod project;
pub mod python;
pub mod redis;
pub mod shims;
pub mod verbs;

use anyhow::Result;

use crate::cli::{Command, ExportCommand, PinCommand, PythonCommand, ShimsCommand};
use crate::printer::Printer;
use crate::settings::Settings;

/// Run the parsed command; returns the process exit code.
pub fn run(command: Command, settings: &Settings, printer: &Printer) -> Result<i32> {
    match command {
        Command::Python(cmd) => match cmd {
            PythonCommand::Install(args) => python::install(args, settings, printer),
            PythonCommand::List(args) => python::list(args, settings, printer),
            PythonCommand::Find(args) => python::find(args, settings, printer),
            PythonCommand::Uninstall(args) => python::uninstall(args, settings, printer),
            PythonCommand::Pin(args) => python::pin(args, settings, printer),
        },
        Command::Init(args) => project::init(args, settings, printer),
        Command::Pin(PinCommand::Python(args)) => project::pin_python(args, settings, printer),
        Command::Pin(PinCommand::Django(args)) => project::pin_django(args, settings, printer),
        Command::Sync(args) => project::sync(args, settings, printer),
        Command::Run(args) => project::run(args, settings, printer),
        Command::Add(args) => project::add(args, settings, printer),
        Command::Remove(args) => project::remove(args, settings, printer),
        Command::Status(args) => project::status(args, settings, printer),
        Command::Db(cmd) => db::run(cmd, settings, printer),
        Command::Redis(cmd) => redis::run(cmd, settings, printer),
        Command::Cache(cmd) => cache::run(cmd, settings, printer),
        Command::Up => redis::up_all(settings, printer),
        Command::Down => redis::down_all(settings, printer),
        Command::Shims(cmd) => match cmd {
            ShimsCommand::Install => shims::install(settings, printer),
            ShimsCommand::Rehash => shims::rehash(settings, printer),
            ShimsCommand::List => shims::list(settings, printer),
            ShimsCommand::Remove => shims::remove(settings, printer),
            ShimsCommand::Exec(args) => shims::exec(args, settings, printer),
        },
        Command::ShellInit(args) => shims::shell_init(args, settings, printer),
        Command::Which(args) => shims::which(args, settings, printer),
        Command::Export(cmd) => match cmd {
            ExportCommand::Requirements(args) => export::requirements(args, settings, printer),
            ExportCommand::Docker(args) => export::docker(args, settings, printer),
        },
        Command::Lock(args) => verbs::lock(args, settings, printer),
        Command::Tree(args) => verbs::tree(args, settings, printer),
        Command::Outdated(args) => verbs::outdated(args, settings, printer),
        Command::Env(args) => verbs::env(args, settings, printer),
        Command::Upgrade(_) => Err(crate::user_error!(
            hint = "`pyenvx sync --upgrade` re-resolves every package, `pyenvx sync --upgrade-package NAME` one; `pyenvx db upgrade MAJOR` moves PostgreSQL",
            "pyenvx has no `upgrade` command"
        )),
    }
}
