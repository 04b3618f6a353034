//! What an environment is built from, apart from how: both layouts (`venv` and the classic
//! virtualenv of `venv::legacy`) read it.

use std::path::Path;

use pep440_rs::Version;

use crate::python::managed::executable_name;

/// What to build an environment from.
#[derive(Debug, Clone, Copy)]
pub struct VenvSpec<'a> {
    /// The directory holding the base interpreter's binaries, e.g.
    /// `$PYENVX_HOME/python/cpython-3.12-linux-x86_64-gnu/bin`. Deliberately not canonicalized.
    pub interpreter_home: &'a Path,
    /// The interpreter's full version, recorded in `pyvenv.cfg`.
    pub version: &'a Version,
    pub freethreaded: bool,
    /// Shown in the shell prompt while the environment is active; usually the project name.
    pub prompt: &'a str,
}

impl VenvSpec<'_> {
    /// `3.12`, the part of the version that decides the `lib/python3.12` layout.
    pub(super) fn minor(&self) -> (u64, u64) {
        minor_of(self.version)
    }

    /// `python3.12` or `python3.13t`: both the interpreter's file name in `interpreter_home` and
    /// the directory under `lib/`.
    pub(super) fn versioned_name(&self) -> String {
        executable_name(self.version, self.freethreaded)
    }
}

/// `(major, minor)` of `version`, 3.0 when it names none.
pub(super) fn minor_of(version: &Version) -> (u64, u64) {
    let r = version.release();
    (
        r.first().copied().unwrap_or(3),
        r.get(1).copied().unwrap_or(0),
    )
}
