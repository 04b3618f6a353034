//! A project playground: managed Pythons to download, the wheelhouse as the package index, the
//! shared uv, and a database port range of its own — what project-level tests start from.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::{
    assert_failure, assert_success, port_range, stderr, stdout, Mirror, ServedIndex, TestContext,
    TestServer,
};

pub struct Sandbox {
    pub ctx: TestContext,
    /// `None` once a test has taken the index away (offline scenarios).
    pub index: Option<ServedIndex>,
    _pythons: (TestServer, Mirror),
}

impl Sandbox {
    pub fn new(minors: &[&str]) -> Self {
        let mut ctx = TestContext::new();
        let pythons = ctx.serve_pythons(minors);
        let index = ctx.with_index();
        ctx.with_shared_uv();
        ctx.env("PYENVX_DB_PORTS", port_range());
        Self {
            ctx,
            index: Some(index),
            _pythons: pythons,
        }
    }

    /// The simple-index URL the sandbox's installer uses.
    pub fn index_url(&self) -> String {
        self.index
            .as_ref()
            .expect("the index was taken away")
            .simple_url()
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.ctx.work().join(name)
    }

    /// pyenvx with `args`, run inside project directory `name` (created if missing).
    pub fn run_in(&self, name: &str, args: &[&str]) -> Output {
        let dir = self.dir(name);
        fs::create_dir_all(&dir).unwrap();
        self.ctx.cmd().current_dir(dir).args(args).output().unwrap()
    }

    /// Runs pyenvx in project `name`, which must succeed; returns stdout + stderr.
    pub fn ok(&self, name: &str, args: &[&str]) -> String {
        let out = self.run_in(name, args);
        assert_success(&out);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// Runs pyenvx in project `name`, which must fail; returns stderr.
    pub fn fails(&self, name: &str, args: &[&str]) -> String {
        assert_failure(&self.run_in(name, args))
    }

    /// `pyenvx init --python PYTHON --django DJANGO --no-startproject` in project `name`;
    /// returns stdout + stderr.
    pub fn init_bare(&self, name: &str, python: &str, django: &str) -> String {
        self.ok(
            name,
            &[
                "init",
                "--python",
                python,
                "--django",
                django,
                "--no-startproject",
            ],
        )
    }

    /// The managed interpreter for `minor`, as `pyenvx python find` reports it.
    pub fn python(&self, name: &str, minor: &str) -> PathBuf {
        let out = self.run_in(name, &["python", "find", minor]);
        PathBuf::from(assert_success(&out).trim())
    }

    /// `django.get_version()` as the project's sandbox sees it (through `pyenvx run`).
    pub fn django_version(&self, name: &str) -> String {
        self.run_python(name, "import django; print(django.get_version())")
    }

    /// `platform.python_version()` inside the project's sandbox.
    pub fn python_version(&self, name: &str) -> String {
        self.run_python(name, "import platform; print(platform.python_version())")
    }

    fn run_python(&self, name: &str, code: &str) -> String {
        let out = self.run_in(name, &["run", "--", "python", "-c", code]);
        assert_success(&out).trim().to_string()
    }
}

/// A file's text, or a panic naming the file.
pub fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}
