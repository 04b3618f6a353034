use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use pyenvx::cli::Cli;
use pyenvx::error::exit;
use pyenvx::printer::Printer;
use pyenvx::settings::Settings;

fn main() -> ExitCode {
    report_bugs_as_bugs();
    let cli = parse();
    let printer = Printer::from_args(&cli.global);
    let code = match enter(cli.global.directory.as_deref())
        .and_then(|()| Settings::from_env(cli.global.offline))
        .inspect(pyenvx::download::configure)
        .and_then(|settings| pyenvx::commands::run(cli.command, &settings, &printer))
    {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            pyenvx::error::exit_code(&err)
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(exit::INTERNAL as u8))
}

/// `Cli::parse` without dropping clap's command tree: freeing every subcommand's definitions
/// costs a sixth of what `pyenvx run` does before it `exec`s, and the process ends (or becomes
/// the command) soon anyway.
fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(cli) = pyenvx::cli::run_shortcut(&args) {
        return cli;
    }
    let mut command = Cli::command();
    let matches = command
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| e.exit());
    std::mem::forget(command);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut Cli::command()).exit())
}

/// `--directory DIR`: every command, and every relative path in its arguments, starts from DIR.
fn enter(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let Some(dir) = dir else {
        return Ok(());
    };
    std::env::set_current_dir(dir).map_err(|e| {
        pyenvx::user_error!(
            hint = "give --directory (-C) an existing directory",
            "cannot enter {}: {e}",
            dir.display()
        )
    })
}

/// A panic is a bug in pyenvx, never the user's doing: say so in one line with what to do, and
/// keep Rust's backtrace for those who ask for it with `RUST_BACKTRACE`.
fn report_bugs_as_bugs() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
            return;
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: pyenvx hit an internal error{place}: {what}");
        eprintln!(
            "hint: this is a bug in pyenvx {}; please report it with the command you ran \
             (RUST_BACKTRACE=1 adds a backtrace)",
            env!("CARGO_PKG_VERSION")
        );
    }));
}
