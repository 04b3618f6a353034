//! [`TestContext`]: a temp root and a sealed environment for running the pyenvx binary.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::catalog::Mirror;
use super::index::{serve_index, shared_uv, ServedIndex};
use super::server::TestServer;

/// The `PATH` commands get unless a test overrides it (no pyenv shims, no ~/.local/bin).
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Variables passed through from the test runner because they only affect diagnostics/coverage.
const PASSTHROUGH: &[&str] = &["RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "LLVM_PROFILE_FILE"];

/// A temp root with `home/`, `pyenvx-home/`, `cache/`, `work/` and the environment every
/// command runs with; the root is deleted on drop.
pub struct TestContext {
    root: tempfile::TempDir,
    env: BTreeMap<OsString, OsString>,
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    /// A fresh hermetic context: nothing from the runner's environment leaks in except
    /// backtrace/coverage settings, and `PYENV_ROOT` points at an empty directory.
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("pyenvx-test-")
            .tempdir_in(super::machine::test_tmp_dir())
            .expect("create test root");
        let r = root.path().to_path_buf();
        for dir in [
            "home/.local/share",
            "home/.cache",
            "home/.config",
            "pyenvx-home",
            "cache",
            "work",
            "tmp",
            "no-pyenv",
        ] {
            fs::create_dir_all(r.join(dir)).unwrap();
        }
        let runtime = r.join("runtime");
        fs::create_dir_all(&runtime).unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();

        let mut env = BTreeMap::new();
        for name in PASSTHROUGH {
            if let Some(value) = std::env::var_os(name) {
                env.insert(OsString::from(name), value);
            }
        }
        let mut set = |k: &str, v: &Path| {
            env.insert(OsString::from(k), v.as_os_str().to_owned());
        };
        set("HOME", &r.join("home"));
        set("XDG_DATA_HOME", &r.join("home/.local/share"));
        set("XDG_CACHE_HOME", &r.join("home/.cache"));
        set("XDG_CONFIG_HOME", &r.join("home/.config"));
        set("XDG_RUNTIME_DIR", &runtime);
        set("TMPDIR", &r.join("tmp"));
        set("PYENVX_HOME", &r.join("pyenvx-home"));
        set("PYENVX_CACHE_DIR", &r.join("cache"));
        set("PYENV_ROOT", &r.join("no-pyenv"));
        set("PATH", Path::new(DEFAULT_PATH));
        // The live list of builds never leaves the machine: a test that wants it serves it.
        set(
            "PYENVX_PYTHON_RELEASES_NDJSON",
            Path::new("http://127.0.0.1:9/no-live-index.ndjson"),
        );
        set(
            "PYENVX_PYTHON_RELEASES_API",
            Path::new("http://127.0.0.1:9/no-live-api"),
        );
        set("NO_COLOR", Path::new("1"));
        set("PYENVX_NO_PROGRESS", Path::new("1"));
        TestContext { root, env }
    }

    /// The temp root (holds everything below; put mirrors and scratch files here too).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `$HOME` of every command.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// `$PYENVX_HOME` (installed interpreters, pins, locks).
    pub fn pyenvx_home(&self) -> PathBuf {
        self.root().join("pyenvx-home")
    }

    /// `$PYENVX_CACHE_DIR` (downloads, catalogs).
    pub fn cache_dir(&self) -> PathBuf {
        self.root().join("cache")
    }

    /// The working directory commands start in (a stand-in for a project directory).
    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }

    /// Sets a variable for every later command.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Unsets a variable for every later command.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.remove(key.as_ref());
        self
    }

    /// The value a variable will have in commands, if set.
    pub fn env_value(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.env.get(key.as_ref()).map(OsString::as_os_str)
    }

    /// Opts in to a real pyenv installation (e.g. `/root/.pyenv`) instead of the empty one.
    pub fn with_pyenv_root(&mut self, path: impl AsRef<OsStr>) -> &mut Self {
        self.env("PYENV_ROOT", path)
    }

    /// Points `PYENVX_PYTHON_DOWNLOADS_JSON` at a catalog file path or URL.
    pub fn with_catalog(&mut self, path_or_url: impl AsRef<OsStr>) -> &mut Self {
        self.env("PYENVX_PYTHON_DOWNLOADS_JSON", path_or_url)
    }

    /// Replaces `PATH` (default [`DEFAULT_PATH`]).
    pub fn with_path(&mut self, path: impl AsRef<OsStr>) -> &mut Self {
        self.env("PATH", path)
    }

    /// The usual download setup: a mirror of `minors` under `<root>/mirror`, served over HTTP,
    /// with a catalog file pointing at the server wired in via `with_catalog`.
    pub fn serve_pythons(&mut self, minors: &[&str]) -> (TestServer, Mirror) {
        let mirror = Mirror::with_pythons(self.root().join("mirror"), minors);
        let server = TestServer::start(mirror.root());
        let catalog = mirror.write_catalog(&server.url());
        self.with_catalog(&catalog);
        (server, mirror)
    }

    /// Serves the wheelhouse as a PEP 503 index ([`package_index`](super::index::package_index)) and sets
    /// `PYENVX_INDEX_URL` to its simple URL; keep the returned value alive for as long as
    /// commands may use the index.
    pub fn with_index(&mut self) -> ServedIndex {
        let served = serve_index();
        self.env("PYENVX_INDEX_URL", served.simple_url());
        served
    }

    /// Sets `PYENVX_UV` to the uv binary from the wheelhouse (extracted once, see [`shared_uv`]).
    pub fn with_shared_uv(&mut self) -> &mut Self {
        self.env("PYENVX_UV", shared_uv())
    }

    /// A command for any program with this context's environment and working directory
    /// (e.g. to run an installed interpreter as the user would).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(&self.env)
            .current_dir(self.work())
            .stdin(Stdio::null());
        cmd
    }

    /// A command for the pyenvx binary under test.
    pub fn cmd(&self) -> Command {
        self.command(env!("CARGO_BIN_EXE_pyenvx"))
    }

    /// Runs pyenvx with `args` and returns its output (check it with [`assert_success`]).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn pyenvx {args:?}: {e}"))
    }
}

/// Renders an output for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Panics with stdout/stderr unless the command succeeded; returns stdout.
#[track_caller]
pub fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed unexpectedly\n{}",
        describe(output)
    );
    stdout(output)
}

/// Panics with stdout/stderr unless the command failed; returns stderr.
#[track_caller]
pub fn assert_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "command succeeded unexpectedly\n{}",
        describe(output)
    );
    stderr(output)
}

/// Stdout as (lossy) UTF-8.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as (lossy) UTF-8.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
