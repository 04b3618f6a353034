//! Where the tests find this machine's fixtures, in one place for the unit tests
//! (`crate::test_machine`) and the integration tests (`tests/common` includes this file): the
//! pyenv-built CPythons and the PostgreSQL binaries. Each is an environment variable with the
//! default of the machine kind the suite targets; a missing fixture fails the test that needs it,
//! naming what is missing and the variable, so no test passes having checked nothing.
//!
//! Plain `std` only: the integration tests compile this file as their own module.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pyenv root whose `versions/` holds the source interpreters: this variable, else pyenv's
/// own `PYENV_ROOT`, else pyenv's default `~/.pyenv`.
pub const PYENV_ROOT_VAR: &str = "PYENVX_TEST_PYENV_ROOT";

/// The directory holding `postgres`, `initdb` and `pg_ctl` of the machine's PostgreSQL 15.
pub const PG_BIN_VAR: &str = "PYENVX_TEST_PG_BIN";
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The machine's MariaDB server (Debian's mariadb-server puts it in /usr/sbin; pyenvx finds it
/// there or on PATH by itself, this only checks the fixture is present).
pub const MARIADBD_VAR: &str = "PYENVX_TEST_MARIADBD";
pub const DEFAULT_MARIADBD: &str = "/usr/sbin/mariadbd";

fn from_env(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

pub fn pyenv_root() -> PathBuf {
    [PYENV_ROOT_VAR, "PYENV_ROOT"]
        .iter()
        .find_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
        .unwrap_or_else(|| PathBuf::from(".pyenv"))
}

pub fn pyenv_versions_dir() -> PathBuf {
    pyenv_root().join("versions")
}

/// A pyenv-built CPython.
#[derive(Debug, Clone)]
pub struct PyenvPython {
    /// `3.12.1`.
    pub version: String,
    /// `3.12`.
    pub minor: String,
    /// `<root>/versions/3.12.1`.
    pub prefix: PathBuf,
}

impl PyenvPython {
    pub fn bin(&self) -> PathBuf {
        self.prefix.join("bin")
    }

    /// `bin/python3.12`.
    pub fn python(&self) -> PathBuf {
        self.bin().join(format!("python{}", self.minor))
    }
}

/// The newest patch release of `minor` (`3.12`) under [`pyenv_versions_dir`], if any.
pub fn find_pyenv_python(minor: &str) -> Option<PyenvPython> {
    find_pyenv_python_in(&pyenv_versions_dir(), minor)
}

/// [`find_pyenv_python`] in `dir` (a pyenv root's `versions/`): the newest patch release that
/// has its interpreter.
pub fn find_pyenv_python_in(dir: &Path, minor: &str) -> Option<PyenvPython> {
    let mut found: Vec<(Vec<u64>, String)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let patch = name.strip_prefix(minor)?.strip_prefix('.')?;
            patch.parse::<u64>().ok()?;
            let key = name.split('.').map(|p| p.parse().unwrap_or(0)).collect();
            Some((key, name))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .rev()
        .map(|(_, version)| PyenvPython {
            prefix: dir.join(&version),
            version,
            minor: minor.to_string(),
        })
        .find(|python| python.python().is_file())
}

/// [`find_pyenv_python`], or a failure that says what is missing and how to point at it.
pub fn pyenv_python(minor: &str) -> PyenvPython {
    find_pyenv_python(minor).unwrap_or_else(|| {
        panic!(
            "this test needs a pyenv-built CPython {minor}.* under {} \
             (set {PYENV_ROOT_VAR} to another pyenv root)",
            pyenv_versions_dir().display()
        )
    })
}

/// The PostgreSQL 15 binaries directory, whether or not it exists.
pub fn pg_bin() -> PathBuf {
    from_env(PG_BIN_VAR, DEFAULT_PG_BIN)
}

pub fn have_pg_bin() -> bool {
    pg_bin().join("postgres").is_file()
}

/// [`pg_bin`], or a failure that says it is missing and how to point at it.
pub fn require_pg_bin() -> PathBuf {
    let bin = pg_bin();
    assert!(
        bin.join("postgres").is_file(),
        "this test needs PostgreSQL 15's binaries at {} (install Debian's postgresql-15, or set \
         {PG_BIN_VAR})",
        bin.display()
    );
    bin
}

/// [`MARIADBD_VAR`]'s `mariadbd`, or a failure that says it is missing and how to get it.
pub fn require_mariadbd() -> PathBuf {
    let server = from_env(MARIADBD_VAR, DEFAULT_MARIADBD);
    assert!(
        server.is_file(),
        "this test needs MariaDB's server at {} (`apt-get install mariadb-server`; .ci/run installs \
         it), or set {MARIADBD_VAR}",
        server.display()
    );
    server
}

/// Whether `program args…` runs and succeeds.
pub fn runs(program: impl AsRef<Path>, args: &[&str]) -> bool {
    Command::new(program.as_ref())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test, naming `what`, unless `program args…` runs and succeeds.
pub fn require(program: &str, args: &[&str], what: &str) {
    assert!(
        runs(program, args),
        "this test needs {what} (`{program} {}` did not succeed)",
        args.join(" ")
    );
}
