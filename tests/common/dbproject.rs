//! Projects with a database, for the native and container backend tests alike: a context with
//! Pythons to download, the wheelhouse as the index, the shared uv and a port range of its own,
//! and the Django-side helpers both backends' tests ask the same questions with.
//!
//! It cleans nothing up itself: each backend's test wraps it and, on drop, stops or removes
//! what it made ([`DbProjects::projects`] lists every project directory; [`DbProjects::down_all`]
//! stops every server). [`NativePg`] is that wrapper for this machine's PostgreSQL 15.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use super::{
    assert_failure, assert_success, open_for_postgres, port_range, remove_pg_image,
    remove_project_containers, require_mariadbd, require_pg15, stderr, stdout, Mirror, ServedIndex,
    TestContext, TestServer,
};

pub struct DbProjects {
    pub ctx: TestContext,
    _pythons: (TestServer, Mirror),
    pub index: ServedIndex,
    projects: Mutex<Vec<PathBuf>>,
}

impl DbProjects {
    /// `prepare` adjusts the context before anything runs in it (PATH for an engine, the
    /// permissions a server running as another user needs).
    pub fn new(prepare: impl FnOnce(&mut TestContext)) -> Self {
        let mut ctx = TestContext::new();
        let pythons = ctx.serve_pythons(&["3.12"]);
        let index = ctx.with_index();
        ctx.with_shared_uv();
        ctx.env("PYENVX_DB_PORTS", port_range());
        prepare(&mut ctx);
        Self {
            ctx,
            _pythons: pythons,
            index,
            projects: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.ctx.work().join(name)
    }

    /// Record a project made otherwise, for the owner's clean-up.
    pub fn track(&self, dir: PathBuf) {
        self.projects.lock().unwrap().push(dir);
    }

    /// Every project directory made so far, for the owner's clean-up.
    pub fn projects(&self) -> Vec<PathBuf> {
        self.projects.lock().unwrap().clone()
    }

    /// `pyenvx <down…>` (`db down`, `down`) in every project made so far, for the owner's
    /// clean-up; failures are ignored, as a project may have no server running.
    pub fn down_all(&self, down: &[&str]) {
        for dir in self.projects() {
            let _ = self.out(&dir, down);
        }
    }

    /// A Django project made by `pyenvx init --db postgres`; `services`, when given, replaces
    /// the `[services.db]` table init wrote.
    pub fn django(&self, name: &str, services: Option<&str>) -> PathBuf {
        let dir = self.dir(name);
        // Recorded first, so a failing init still has its database cleaned up.
        self.projects.lock().unwrap().push(dir.clone());
        self.ok(
            &self.ctx.work(),
            &[
                "init", name, "--python", "3.12", "--django", "5.2", "--db", "postgres",
            ],
        );
        if let Some(services) = services {
            let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
            let start = toml.find("[services.db]").unwrap();
            fs::write(
                dir.join("pyenvx.toml"),
                format!("{}{services}", &toml[..start]),
            )
            .unwrap();
        }
        dir
    }

    /// A bare project (no sandbox) whose pyenvx.toml has `services`.
    pub fn bare(&self, name: &str, services: &str) -> PathBuf {
        let dir = self.dir(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("pyenvx.toml"),
            format!("[project]\nname = \"{name}\"\npython = \"3.12\"\n\n{services}"),
        )
        .unwrap();
        self.projects.lock().unwrap().push(dir.clone());
        dir
    }

    pub fn out(&self, dir: &Path, args: &[&str]) -> Output {
        self.ctx.cmd().current_dir(dir).args(args).output().unwrap()
    }

    /// `sql` through `db psql` against `database` of the project's server (not only the
    /// project's own: a branch's, a snapshot's, `template1`), unaligned, tuples only.
    pub fn psql_in(&self, dir: &Path, database: &str, sql: &str) -> String {
        let out = self.out(
            dir,
            &[
                "db",
                "psql",
                "--",
                "-X",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database,
                "-c",
                sql,
            ],
        );
        assert_success(&out).trim().to_string()
    }

    /// Remove every container and volume of the projects made so far, then the stand-in
    /// `image` they ran: the clean-up of container tests.
    pub fn remove_containers_then(&self, image: &str) {
        for dir in self.projects() {
            remove_project_containers(&dir);
        }
        remove_pg_image(image);
    }

    /// `pyenvx <args>` in `a` and in `b` at the same moment; both must succeed.
    pub fn ok_at_once(&self, a: &Path, b: &Path, args: &[&str]) {
        let (ra, rb) = std::thread::scope(|s| {
            let ha = s.spawn(|| self.out(a, args));
            let hb = s.spawn(|| self.out(b, args));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        assert_success(&ra);
        assert_success(&rb);
    }

    /// stdout + stderr of a command that must succeed.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.out(dir, args);
        assert_success(&out);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// stderr of a command that must fail.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        assert_failure(&self.out(dir, args))
    }

    /// Python run by Django's `manage.py shell` in the sandbox; returns its stdout.
    pub fn django_shell(&self, dir: &Path, code: &str) -> String {
        let out = self.out(
            dir,
            &["run", "--", "python", "manage.py", "shell", "-c", code],
        );
        // Django 5.2's shell first reports the objects it imported: answers start with `=`.
        let text = assert_success(&out);
        text.lines()
            .filter_map(|l| l.strip_prefix('='))
            .next_back()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// The usernames in Django's user table, in insertion order, comma-separated.
    pub fn users(&self, dir: &Path) -> String {
        self.django_shell(
            dir,
            "from django.contrib.auth.models import User; print('=' + ','.join(u.username for u in User.objects.order_by('id')))",
        )
    }

    pub fn add_user(&self, dir: &Path, name: &str) {
        self.django_shell(
            dir,
            &format!(
                "from django.contrib.auth.models import User; User.objects.create_user('{name}')"
            ),
        );
    }

    /// What `pyenvx db url` prints.
    pub fn url(&self, dir: &Path) -> String {
        self.ok(dir, &["db", "url"]).trim().to_string()
    }
}

/// Database projects on this machine's PostgreSQL 15 (a test fails, saying so, without it);
/// every project made gets `db down` when it is dropped (whichever major it ended on).
pub struct NativePg(pub DbProjects);

impl NativePg {
    pub fn new() -> Self {
        require_pg15();
        Self(DbProjects::new(|ctx| open_for_postgres(ctx)))
    }

    /// A Django project made by `pyenvx init --db postgres`, on the native backend.
    pub fn django(&self, name: &str) -> PathBuf {
        self.0.django(name, None)
    }
}

impl std::ops::Deref for NativePg {
    type Target = DbProjects;
    fn deref(&self) -> &DbProjects {
        &self.0
    }
}

impl Drop for NativePg {
    fn drop(&mut self) {
        self.0.down_all(&["db", "down"]);
    }
}

/// MariaDB projects on this machine's `mariadbd`; every project made gets `db down` when it is dropped.
pub struct NativeMaria {
    pub projects: DbProjects,
    /// `bin_dir` for `[services.db]`: where the machine's `mariadbd` is.
    pub bin_dir: PathBuf,
}

impl NativeMaria {
    pub fn new() -> Self {
        let server = require_mariadbd();
        Self {
            // As root the server runs as `mysql`, which must reach the projects.
            projects: DbProjects::new(|ctx| open_for_postgres(ctx)),
            bin_dir: server.parent().unwrap().to_path_buf(),
        }
    }

    pub fn table(&self, extra: &str) -> String {
        format!(
            "[services.db]\nengine = \"mariadb\"\nbin_dir = \"{}\"\n{extra}",
            self.bin_dir.display()
        )
    }

    /// A bare project declaring MariaDB.
    pub fn project(&self, name: &str) -> PathBuf {
        self.bare(name, &self.table(""))
    }

    /// `sql` through `pyenvx db shell`: tab-separated rows, no column names, trimmed.
    pub fn sql(&self, dir: &Path, sql: &str) -> String {
        let out = self.out(
            dir,
            &[
                "db",
                "shell",
                "--",
                "--batch",
                "--skip-column-names",
                "-e",
                sql,
            ],
        );
        assert_success(&out);
        stdout(&out).trim().to_string()
    }
}

impl std::ops::Deref for NativeMaria {
    type Target = DbProjects;
    fn deref(&self) -> &DbProjects {
        &self.projects
    }
}

impl Drop for NativeMaria {
    fn drop(&mut self) {
        self.projects.down_all(&["db", "down"]);
    }
}

/// Local addresses (hex, as /proc shows them) of every listening TCP socket on `port`, IPv4
/// and IPv6.
pub fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found
}

/// The port of a `postgres://…@host:port/db` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}
