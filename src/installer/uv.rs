//! The uv binary pyenvx drives: what answers as uv, which versions pyenvx can drive, and where
//! pyenvx keeps its own copy. Finding one is [`super::find`]'s; installing one
//! [`super::bootstrap`]'s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context, Result};

use crate::dirs::Dirs;
use crate::user_error;

/// The oldest uv we drive. `pip compile --format pylock.toml` appeared as a preview in 0.6.15 and
/// its output settled over the following releases; older binaries are passed over (or, for
/// `PYENVX_UV`, refused) rather than producing lock files we would misread.
pub(super) const MIN_UV: (u64, u64, u64) = (0, 8, 0);
/// A uv binary that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uv {
    pub exe: PathBuf,
    /// `0.13.9`.
    pub version: String,
}

impl Uv {
    /// Run `exe --version`; fails unless it answers like uv.
    pub fn at(exe: &Path) -> Result<Uv> {
        let out = Command::new(exe)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        match (out.status.success(), words.next(), words.next()) {
            (true, Some("uv"), Some(version)) => Ok(Uv {
                exe: exe.to_path_buf(),
                version: version.to_string(),
            }),
            _ => Err(anyhow!(
                "{} is not uv (`--version` printed {:?})",
                exe.display(),
                text.trim()
            )),
        }
    }

    pub(super) fn is_supported(&self) -> bool {
        numeric_version(&self.version).is_some_and(|v| v >= MIN_UV)
    }

    /// A uv command carrying the settings every call shares; `cwd` should be a scratch directory.
    pub(crate) fn command(&self, uv_cache: &Path, offline: bool, cwd: &Path) -> Command {
        let mut cmd = Command::new(&self.exe);
        crate::children::die_with_pyenvx(&mut cmd);
        if let Some(secs) = crate::download::uv_http_timeout() {
            cmd.env("UV_HTTP_TIMEOUT", secs);
        }
        // A scratch working directory keeps a project's own `uv.toml` / `[tool.uv]` (workspace
        // members, `required-version`, …) out of calls whose every input we pass explicitly; the
        // user's global uv configuration still applies.
        cmd.current_dir(cwd)
            .env("UV_CACHE_DIR", uv_cache)
            // Interpreters are pyenvx's business: uv must use the one given, never fetch one.
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_PROGRESS", "1")
            // The store writes INSTALLER itself, per environment; uv's REQUESTED and
            // uv_cache.json would describe the staging install rather than any environment.
            .env("UV_NO_INSTALLER_METADATA", "1")
            .stdin(Stdio::null())
            // Plain text, whatever FORCE_COLOR says: the error classification reads stderr.
            .args(["--color", "never", "--quiet"]);
        crate::certs::for_uv(&mut cmd, numeric_version(&self.version));
        if offline {
            cmd.arg("--offline");
        }
        cmd
    }
}

/// `0.13.9` → (0, 13, 9); suffixes such as `-dev` or `+local` are ignored.
pub(super) fn numeric_version(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

pub(super) fn too_old(uv: &Uv, source: &str) -> anyhow::Error {
    let (a, b, c) = MIN_UV;
    user_error!(
        hint = format!("upgrade it (uv self update) or point {source} at uv {a}.{b}.{c} or newer"),
        "{} is uv {}, older than {a}.{b}.{c}, the oldest pyenvx can drive",
        uv.exe.display(),
        uv.version
    )
}

/// `$PYENVX_HOME/tools`: programs pyenvx installs for its own use.
pub(super) fn tools_dir(dirs: &Dirs) -> PathBuf {
    dirs.tools()
}

/// pip's `--target` layout puts the wheel's scripts in `bin/`.
pub(super) fn managed_uv_exe(dirs: &Dirs) -> PathBuf {
    tools_dir(dirs).join("uv").join("bin").join("uv")
}

pub(super) fn managed_uv(dirs: &Dirs) -> Option<Uv> {
    let exe = managed_uv_exe(dirs);
    if !exe.is_file() {
        return None;
    }
    Uv::at(&exe).ok().filter(Uv::is_supported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uv_versions() {
        assert_eq!(numeric_version("0.13.9"), Some((0, 13, 9)));
        assert_eq!(numeric_version("0.8.0-dev+abc"), Some((0, 8, 0)));
        assert_eq!(numeric_version("1.2"), Some((1, 2, 0)));
        assert_eq!(numeric_version("x"), None);
        assert!(numeric_version("0.7.22").unwrap() < MIN_UV);
    }
}
