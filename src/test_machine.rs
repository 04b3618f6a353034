//! Where the tests find this machine's fixtures, in one place for the unit tests
//! (`crate::test_machine`) and the integration tests (`tests/common` includes this file): the
//! pyenv-built CPythons and the PostgreSQL binaries. Each is an environment variable with the
//! default of the machine kind the suite targets; a missing fixture fails the test that needs it,
//! naming what is missing and the variable, so no test passes having checked nothing.
//!
//! Plain `std` (and `tempfile`) only: the integration tests compile this file as their own module.

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

/// Where the tests make their temporary roots (sandboxes, projects, servers' data): this
/// variable, else `/dev/shm/pyenvx-tests` when the machine has a writable memory filesystem
/// there, else the system's temporary directory. A sandbox creates thousands of directories
/// (an interpreter, a venv, the store); on this kind of machine's disk each costs about 0.7 ms,
/// in memory about 6 µs, which is most of the suite's system time.
pub const TMPDIR_VAR: &str = "PYENVX_TEST_TMPDIR";

pub fn test_tmp_dir() -> PathBuf {
    // Asked for every sandbox: the probe below writes a file, so it runs once per process.
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(find_test_tmp_dir).clone()
}

fn find_test_tmp_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TMPDIR_VAR).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let dir = Path::new("/dev/shm").join("pyenvx-tests");
    if Path::new("/dev/shm").is_dir() && std::fs::create_dir_all(&dir).is_ok() && ours(&dir) {
        return dir;
    }
    std::env::temp_dir()
}

/// Set to 1 (as `bench/link-speed.sh` does) to make the measuring tests time their work on the
/// disk and in memory too, not only in [`test_tmp_dir`].
pub const EVERY_PLACE_VAR: &str = "PYENVX_TEST_EVERY_PLACE";

/// Where the measuring tests (venv creation, linking from the store) time their work: creating
/// inodes costs very different amounts on different filesystems, so a benchmark asks for the
/// system's temporary directory and `/dev/shm` as well; the suite itself only checks the
/// result, in [`test_tmp_dir`].
pub fn measure_places() -> Vec<PathBuf> {
    let mut places = vec![test_tmp_dir()];
    if std::env::var_os(EVERY_PLACE_VAR).is_some_and(|v| v == "1") {
        places.push(std::env::temp_dir());
        if Path::new("/dev/shm").is_dir() {
            places.push(PathBuf::from("/dev/shm"));
        }
    }
    places
}

/// A temporary directory under [`test_tmp_dir`], removed on drop.
pub fn tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("pyenvx-unit-")
        .tempdir_in(test_tmp_dir())
}

/// A [`tempdir`] holding `files` (relative path, text), their directories made: a project's
/// files for the tests that read one.
pub fn tempdir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempdir().expect("a temporary directory");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a file under the directory"))
            .expect("create the file's directory");
        std::fs::write(path, text).expect("write the file");
    }
    dir
}

/// Whether this process can write in `dir` and owns it (a directory another user made there
/// is not ours to fill, nor to trust); a read-only or full memory filesystem says no.
fn ours(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let owner = std::fs::write(&probe, b"").and_then(|()| std::fs::metadata(&probe));
    let _ = std::fs::remove_file(&probe);
    match (owner, std::fs::metadata(dir)) {
        (Ok(file), Ok(dir)) => file.uid() == dir.uid(),
        _ => false,
    }
}

/// The shared wheelhouse (real wheels the tests serve as an index): this variable, else
/// `shared/wheelhouse` beside the checkout, where CI and developers keep it.
pub const WHEELHOUSE_VAR: &str = "PYENVX_TEST_WHEELHOUSE";

pub fn wheelhouse() -> PathBuf {
    if let Some(dir) = std::env::var_os(WHEELHOUSE_VAR).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/wheelhouse");
    std::fs::canonicalize(&beside).unwrap_or(beside)
}

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
