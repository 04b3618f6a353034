use std::process::ExitCode;

use clap::Parser;

use pyenvx::cli::Cli;
use pyenvx::error::exit;
use pyenvx::printer::Printer;
use pyenvx::settings::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::from_args(&cli.global);
    let code = match Settings::from_env(cli.global.offline)
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
