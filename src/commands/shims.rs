//! `pyenvx shims install|rehash|list|remove|exec`, `pyenvx shell-init` and `pyenvx which`.

use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Shell, ShellInitArgs, ShimsExecArgs, WhichArgs};
use crate::error::exit;
use crate::platform::Platform;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::shims;
use crate::user_error;

/// The last line of every command that installs or removes something: keep the shims in step.
/// A failure here must not turn a finished install or sync into an error, so it only warns.
pub fn after_change(settings: &Settings, printer: &Printer, project: Option<&Path>) {
    if let Err(e) = shims::after_change(&settings.dirs, project) {
        printer.warn(format!(
            "the shims were not updated ({e:#}); run `pyenvx shims rehash`"
        ));
    }
}

pub fn install(settings: &Settings, printer: &Printer) -> Result<i32> {
    let launcher = shims::launcher()?;
    let pyenvx = std::env::current_exe().context("cannot find the running pyenvx executable")?;
    let summary = shims::install(&settings.dirs, &Platform::current(), &launcher, &pyenvx)?;
    printer.success(format!(
        "Installed {} shims in {}",
        summary.names.len(),
        printer.dim(summary.dir.display())
    ));
    if !on_path(&summary.dir) {
        printer.info(format!(
            "  next: put them first on PATH with {} in your shell's rc file",
            printer.code("eval \"$(pyenvx shell-init bash)\"")
        ));
    }
    Ok(exit::OK)
}

pub fn rehash(settings: &Settings, printer: &Printer) -> Result<i32> {
    let launcher = shims::launcher().ok();
    let pyenvx = std::env::current_exe().ok();
    let summary = shims::rehash(
        &settings.dirs,
        &Platform::current(),
        launcher.as_ref(),
        pyenvx.as_deref(),
    )?;
    for name in &summary.added {
        printer.info(format!(" {} {name}", printer.code("+")));
    }
    for name in &summary.removed {
        printer.info(format!(" {} {name}", printer.dim("-")));
    }
    printer.success(format!(
        "Rehashed {} shims in {}",
        summary.names.len(),
        printer.dim(summary.dir.display())
    ));
    Ok(exit::OK)
}

pub fn list(settings: &Settings, printer: &Printer) -> Result<i32> {
    if !shims::is_installed(&settings.dirs) {
        return Err(user_error!(
            hint = "create them with `pyenvx shims install`",
            "no shims in {}",
            settings.dirs.shims().display()
        ));
    }
    let origins = shims::wanted(&settings.dirs, &Platform::current())?;
    let names = shims::installed_names(&settings.dirs)?;
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for name in names {
        let from = origins.get(&name).map_or_else(
            || "stale: run `pyenvx shims rehash`".to_string(),
            |o| o.join(", "),
        );
        printer.data(format!("{name:width$}  {}", printer.dim(from)));
    }
    Ok(exit::OK)
}

pub fn remove(settings: &Settings, printer: &Printer) -> Result<i32> {
    if shims::remove(&settings.dirs)? {
        printer.success(format!("Removed {}", settings.dirs.shims().display()));
        printer.info("  next: drop the `pyenvx shell-init` line from your shell's rc file");
    } else {
        printer.info(format!("No shims in {}", settings.dirs.shims().display()));
    }
    Ok(exit::OK)
}

pub fn which(args: WhichArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let resolved = shims::resolve(settings, &args.name)?;
    printer.data(resolved.program.display().to_string());
    printer.info(printer.dim(format!("because: {}", resolved.why)));
    Ok(exit::OK)
}

/// The slow path of a shim: resolve with the full interpreter search, then become the program.
pub fn exec(args: ShimsExecArgs, settings: &Settings, _printer: &Printer) -> Result<i32> {
    let resolved = shims::resolve(settings, &args.name)?;
    let mut command = std::process::Command::new(&resolved.program);
    command
        .args(&args.args)
        .env_remove(pyenvx_shim::RESOLVING_VAR);
    // The launcher took the shims off PATH for this process's search; the program gets the
    // caller's PATH back, so a `python` it starts goes through the shims again.
    if let Some(original) = std::env::var_os(pyenvx_shim::ORIGINAL_PATH_VAR) {
        command
            .env("PATH", original)
            .env_remove(pyenvx_shim::ORIGINAL_PATH_VAR);
    }
    let err = command.exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {}", resolved.program.display())))
}

pub fn shell_init(args: ShellInitArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let dir = settings.dirs.shims();
    let mut out = match args.shell {
        Shell::Bash | Shell::Zsh => posix_path_setup(&dir),
        Shell::Fish => fish_path_setup(&dir),
    };
    if !shims::is_installed(&settings.dirs) {
        out.push_str("# pyenvx: no shims yet; create them with `pyenvx shims install`\n");
    }
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut completions = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pyenvx", &mut completions);
    let completions = String::from_utf8(completions).context("completions are not UTF-8")?;
    if args.shell == Shell::Zsh {
        // The script registers itself with `compdef`, which exists only after `compinit`.
        out.push_str("if (( $+functions[compdef] )); then\n");
        out.push_str(&completions);
        out.push_str("\nfi\n");
    } else {
        out.push_str(&completions);
    }
    printer.data(out.trim_end());
    Ok(exit::OK)
}

/// bash and zsh: the shims directory first on PATH, once. Earlier copies are taken out rather
/// than skipped, so evaluating it again (after something else prepended to PATH) moves the
/// shims back to the front instead of leaving them behind; `hash -r` drops remembered paths.
fn posix_path_setup(dir: &Path) -> String {
    format!(
        r#"# pyenvx: shims first on PATH (evaluating this again moves them back to the front).
__pyenvx_shims={dir}
__pyenvx_path=":${{PATH}}:"
while [[ "$__pyenvx_path" == *":${{__pyenvx_shims}}:"* ]]; do
    __pyenvx_path="${{__pyenvx_path//":${{__pyenvx_shims}}:"/:}}"
done
__pyenvx_path="${{__pyenvx_path#:}}"
__pyenvx_path="${{__pyenvx_path%:}}"
export PATH="${{__pyenvx_shims}}${{__pyenvx_path:+:${{__pyenvx_path}}}}"
unset __pyenvx_shims __pyenvx_path
hash -r 2>/dev/null
"#,
        dir = posix_quote(&dir.to_string_lossy())
    )
}

fn fish_path_setup(dir: &Path) -> String {
    format!(
        r#"# pyenvx: shims first on PATH (evaluating this again moves them back to the front).
set -l __pyenvx_shims {dir}
set -l __pyenvx_path
for __pyenvx_dir in $PATH
    if test "$__pyenvx_dir" != "$__pyenvx_shims"
        set -a __pyenvx_path $__pyenvx_dir
    end
end
set -gx PATH $__pyenvx_shims $__pyenvx_path
"#,
        dir = fish_quote(&dir.to_string_lossy())
    )
}

/// Single quotes, with `'` written as `'\''`.
fn posix_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// fish's single quotes escape only `\` and `'`.
fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// Whether `dir` is on PATH already, however PATH spells it.
fn on_path(dir: &Path) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    let canonical = std::fs::canonicalize(dir).ok();
    std::env::split_paths(&path)
        .any(|p| p == dir || (canonical.is_some() && std::fs::canonicalize(&p).ok() == canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_spaces_quotes_and_non_ascii() {
        assert_eq!(posix_quote("/a b/ü'x"), r"'/a b/ü'\''x'");
        assert_eq!(fish_quote(r"/a b/ü'x\y"), r"'/a b/ü\'x\\y'");
    }
}
