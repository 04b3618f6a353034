//! Adopting a project that already exists: reading what its own files say about its Python,
//! its Django and its database, so `pyenvx init` in a cloned Django project builds the sandbox
//! the project was written for instead of the newest one.
//!
//! Nothing here writes: the project's files stay as the project wrote them. What each file
//! gave is kept with its name, so `init` can show the user where every choice came from, and
//! sources that disagree are reported rather than one picked silently.
//!
//! One choice departs from the files on purpose: a compose file's `postgres:N` this machine
//! cannot run natively becomes the nearest newer major it can ([`postgres_major`]), because a
//! developer adopting a project expects `db up` to work; the table and `pyenvx.toml` say so and
//! how to get N itself.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;
use pep440_rs::{Version, VersionSpecifiers};

use crate::django::support::{self, Minor, Verdict};
use crate::project::foreign_lock::ForeignLock;

mod deps;
use crate::django::DjangoSpec;
use crate::user_error;
pub use deps::IndexKeys;

/// What one of the project's files said about the Python it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonSource {
    /// One minor (`FROM python:3.10.4-slim`, `python-3.10.2`, `python_version = "3.10"`).
    Minor(Minor),
    /// A range (`requires-python = ">=3.10"`).
    Range(VersionSpecifiers),
}

/// Everything read from an existing project.
#[derive(Debug, Default)]
pub struct Adopted {
    /// One row per file read: the file (relative to the project) and what was taken from it.
    pub rows: Vec<(String, String)>,
    /// What each file said about Python.
    pub python: Vec<(String, PythonSource)>,
    /// Django pins as the files wrote them (`4.0.4`, `>=4.0,<4.1`), with their file.
    pub django: Vec<(String, String)>,
    /// The other requirements, as written, first occurrence of each package kept.
    pub dependencies: Vec<String>,
    /// Development and test requirements, as PEP 735 groups (name, requirements).
    pub groups: Vec<(String, Vec<String>)>,
    /// The project's own lock file, which seeds pyenvx's.
    pub locked: Option<ForeignLock>,
    /// The project's own index settings.
    pub index: IndexKeys,
    /// The PostgreSQL major of a compose file's `image: postgres:N`.
    pub postgres: Option<(String, u32)>,
    /// The compose file whose service runs a `redis` image.
    pub redis: Option<String>,
}

/// The `[services.db]` major adoption chose for a compose file's `image: postgres:N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresPick {
    /// The compose file.
    pub file: String,
    /// The major the compose file runs.
    pub wanted: u32,
    /// The major `[services.db]` gets.
    pub major: u32,
    /// The majors this machine runs natively, for the report.
    pub runnable: Vec<u32>,
}

/// The major for a project whose compose file runs `wanted`, on a machine whose native backend
/// runs `runnable`: `wanted` when it is there; else the nearest newer one, because a newer
/// server reads the older one's dumps and runs its SQL, while an older one may not; else (the
/// project is newer than anything here) `wanted`, which `db up` then asks the user to provide.
pub fn postgres_major(wanted: u32, runnable: &[u32]) -> u32 {
    if runnable.contains(&wanted) {
        return wanted;
    }
    runnable
        .iter()
        .copied()
        .filter(|m| *m > wanted)
        .min()
        .unwrap_or(wanted)
}

impl PostgresPick {
    fn majors_text(&self) -> String {
        self.runnable
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How to get the compose file's major exactly.
    fn exact_hint(&self) -> String {
        let w = self.wanted;
        format!(
            "for {w} exactly: `version = \"{w}\"` in [services.db], with PostgreSQL {w} installed \
             (e.g. `apt install postgresql-{w}`, or `bin_dir`), or with `backend = \"container\"`"
        )
    }

    /// The adoption table's text for the compose file: what it said, what was taken and why,
    /// and how to get the compose file's major exactly when it is not what `db up` will run.
    pub fn row(&self) -> String {
        let (w, m) = (self.wanted, self.major);
        if self.missing() {
            format!(
                "PostgreSQL {w} ([services.db]): this machine runs {}, none of them {w} or newer\n{}",
                self.majors_text(),
                self.exact_hint()
            )
        } else if w != m {
            format!(
                "PostgreSQL {w} → {m} ([services.db]): this machine has no PostgreSQL {w}; {m} is \
                 the nearest newer major it runs ({})\n{}",
                self.majors_text(),
                self.exact_hint()
            )
        } else {
            format!("PostgreSQL {w} ([services.db])")
        }
    }

    /// Whether `db up` on the native backend will find nothing to run.
    pub fn missing(&self) -> bool {
        !self.runnable.contains(&self.major)
    }

    /// `#` lines for `pyenvx.toml` above `[services.db]` when the major is not the compose
    /// file's, so the file itself says why.
    pub fn toml_comment(&self) -> String {
        if self.wanted == self.major {
            return String::new();
        }
        format!(
            "# {} runs postgres:{}; this machine has no PostgreSQL {}, so {} (the nearest newer).\n\
             # For {} exactly: version = \"{}\" with PostgreSQL {} installed (or bin_dir), or backend = \"container\".\n",
            self.file, self.wanted, self.wanted, self.major, self.wanted, self.wanted, self.wanted
        )
    }
}

/// The PostgreSQL drivers Django's backend imports (normalized names).
const PG_DRIVERS: [&str; 4] = ["psycopg", "psycopg-binary", "psycopg2", "psycopg2-binary"];

/// The files that make a directory an existing project to adopt.
pub fn is_existing_project(dir: &Path) -> bool {
    crate::django::manage_dir(dir).is_some()
        || dir.join("pyproject.toml").is_file()
        || dir.join("Pipfile").is_file()
        || !deps::requirements_files(dir).is_empty()
}

/// Package names that say where settings live, not what the project is (cookiecutter-django's
/// `config`, `core`, `project`, …): the project's name is looked for elsewhere then.
const GENERIC_MODULES: [&str; 12] = [
    "config",
    "conf",
    "core",
    "settings",
    "project",
    "django_project",
    "src",
    "app",
    "main",
    "backend",
    "server",
    "web",
];

/// An existing project's name: the package of its Django settings (`hello_django.settings` →
/// `hello_django`), unless that is a generic name such as `config`; then the name its
/// `pyproject.toml` gives (`[project]`, or Poetry's). `None` leaves the directory's name.
/// Why not the directory: a checkout is named after the repository (`django-on-docker`,
/// `main`, a fork's name), while the Django module is what the code calls itself.
pub fn project_name(dir: &Path) -> Option<String> {
    let module = crate::django::settings_scan::settings_module(dir);
    let package = module
        .as_deref()
        .and_then(|m| m.split('.').next())
        .filter(|p| !p.is_empty());
    if let Some(p) = package.filter(|p| !GENERIC_MODULES.contains(&p.to_ascii_lowercase().as_str()))
    {
        return Some(p.to_string());
    }
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    let name = |t: Option<&toml::Value>| {
        t.and_then(|t| t.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string)
    };
    name(doc.get("project"))
        .or_else(|| name(doc.get("tool").and_then(|t| t.get("poetry"))))
        .filter(|n| !n.trim().is_empty())
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// `X.Y` from the start of `text` (`3.10.4-slim`, `3.10`).
fn leading_minor(text: &str) -> Option<Minor> {
    let re = regex::Regex::new(r"^(\d+)\.(\d+)").ok()?;
    let c = re.captures(text.trim())?;
    Some((c[1].parse().ok()?, c[2].parse().ok()?))
}

impl Adopted {
    /// Read every source pyenvx understands in `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let mut out = Self {
            locked: ForeignLock::read(dir)?,
            ..Self::default()
        };
        out.read_pyproject(dir)?;
        out.read_requirements(dir, dir)?;
        // A Django project in `app/` or `src/` keeps its requirements and Dockerfile there.
        let sub = crate::django::manage_dir(dir).filter(|m| m != dir);
        if let Some(sub) = &sub {
            out.read_requirements(sub, dir)?;
        }
        out.read_pipfile(dir)?;
        out.settle_groups();
        out.read_runtime_txt(dir);
        out.read_python_version(dir);
        out.read_dockerfile(dir, dir);
        if let Some(sub) = sub.filter(|_| !dir.join("Dockerfile").is_file()) {
            out.read_dockerfile(&sub, dir);
        }
        out.read_compose(dir);
        if let Some(locked) = &out.locked {
            let row = format!(
                "{} locked versions, kept where they resolve for the chosen Python",
                locked.versions.len()
            );
            match out.rows.iter_mut().find(|r| r.0 == locked.file) {
                Some(r) => r.1 = format!("{}; {row}", r.1),
                None => out.rows.push((locked.file.clone(), row)),
            }
        }
        Ok(out)
    }

    fn take_requirements(&mut self, file: &str, requirements: &[String]) -> Result<usize> {
        let mut taken = 0;
        for req in requirements {
            let name = super::config::requirement_name(req)?;
            if name == "django" {
                if let Some(pin) = django_pin(req)? {
                    self.django.push((file.to_string(), pin));
                }
                // `Django[argon2]==6.1`: the pin is Django's, the extras a dependency.
                if let Some(extras) = django_extras(req)? {
                    if !self.dependencies.contains(&extras) {
                        self.dependencies.push(extras);
                        taken += 1;
                    }
                }
                continue;
            }
            let known = self
                .dependencies
                .iter()
                .any(|d| super::config::requirement_name(d).is_ok_and(|n| n == name));
            if !known {
                self.dependencies.push(req.clone());
                taken += 1;
            }
        }
        Ok(taken)
    }

    fn describe(&self, file: &str, deps: usize, extra: &[String]) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some((_, pin)) = self.django.iter().rev().find(|(f, _)| f == file) {
            parts.push(format!("Django {pin}"));
        }
        parts.extend(extra.iter().cloned());
        if deps > 0 {
            parts.push(format!(
                "{deps} dependenc{}",
                if deps == 1 { "y" } else { "ies" }
            ));
        }
        if parts.is_empty() {
            "nothing new".to_string()
        } else {
            parts.join(", ")
        }
    }

    fn read_runtime_txt(&mut self, dir: &Path) {
        let Ok(text) = std::fs::read_to_string(dir.join("runtime.txt")) else {
            return;
        };
        let value = text.trim();
        if let Some(minor) = leading_minor(value.trim_start_matches("python-")) {
            self.python
                .push(("runtime.txt".into(), PythonSource::Minor(minor)));
            self.rows
                .push(("runtime.txt".into(), format!("Python {value}")));
        }
    }

    fn read_python_version(&mut self, dir: &Path) {
        let Ok(text) = std::fs::read_to_string(dir.join(".python-version")) else {
            return;
        };
        let first = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .find(|l| !l.is_empty());
        if let Some((line, minor)) = first.and_then(|l| Some((l, leading_minor(l)?))) {
            self.python
                .push((".python-version".into(), PythonSource::Minor(minor)));
            self.rows
                .push((".python-version".into(), format!("Python {line}")));
        }
    }

    fn read_dockerfile(&mut self, dir: &Path, root: &Path) {
        let path = dir.join("Dockerfile");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let name = rel(root, &path);
        let re = regex::Regex::new(
            r"(?im)^\s*FROM\s+(?:--platform=\S+\s+)?(?:\S+/)?python:(\d+\.\d+[^\s]*)",
        )
        .expect("valid regex");
        // A multi-stage build names the runtime last.
        if let Some(c) = re.captures_iter(&text).last() {
            if let Some(minor) = leading_minor(&c[1]) {
                self.python.push((name.clone(), PythonSource::Minor(minor)));
                self.rows.push((
                    name,
                    format!("Python {}.{} (FROM python:{})", minor.0, minor.1, &c[1]),
                ));
            }
        }
    }

    fn read_compose(&mut self, dir: &Path) {
        let postgres = regex::Regex::new(r#"(?m)^\s*image:\s*["']?(?:\S+/)?postgres:(\d+)"#)
            .expect("valid regex");
        // `redis`, `redis:7-alpine`, `bitnami/redis:7.2`; not `redis-commander` nor `redisinsight`.
        let redis = regex::Regex::new(r#"(?m)^\s*image:\s*["']?(?:\S+/)?redis(?:[:@"'\s]|$)"#)
            .expect("valid regex");
        let names = super::environment::COMPOSE_DIRS.iter().flat_map(|d| {
            super::environment::COMPOSE_FILES
                .iter()
                .map(move |n| Path::new(d).join(n).to_string_lossy().into_owned())
        });
        for name in names {
            let Ok(text) = std::fs::read_to_string(dir.join(&name)) else {
                continue;
            };
            let major = postgres
                .captures(&text)
                .and_then(|c| c[1].parse::<u32>().ok())
                .filter(|_| self.postgres.is_none());
            let has_redis = self.redis.is_none() && redis.is_match(&text);
            let mut took = Vec::new();
            if let Some(major) = major {
                self.postgres = Some((name.clone(), major));
                took.push(format!("PostgreSQL {major} ([services.db])"));
            }
            if has_redis {
                self.redis = Some(name.clone());
                took.push("Redis ([services.cache])".to_string());
            }
            if !took.is_empty() {
                self.rows.push((name, took.join(", ")));
            }
        }
    }

    /// Whether the project's own requirements cover `requirement`, one pyenvx would add for an
    /// `init` option (`--db postgres`, `--drf`, `--cache redis`): they name its package, or, for
    /// a PostgreSQL driver, any driver (a project on psycopg2 needs no psycopg beside it). The
    /// project's requirement, as it pinned it, then stands alone.
    pub fn covers(&self, requirement: &str) -> bool {
        let Ok(name) = super::config::requirement_name(requirement) else {
            return false;
        };
        let names: Vec<String> = self
            .dependencies
            .iter()
            .filter_map(|d| super::config::requirement_name(d).ok())
            .collect();
        let is_driver = |n: &str| PG_DRIVERS.contains(&n);
        names
            .iter()
            .any(|n| *n == name || (is_driver(&name) && is_driver(n)))
    }

    /// Settle the `[services.db]` major for the compose file's PostgreSQL against the majors
    /// this machine runs ([`postgres_major`]), and make the compose file's row say what was
    /// taken and why.
    pub fn settle_postgres(&mut self, runnable: &[u32]) -> Option<PostgresPick> {
        let (file, wanted) = self.postgres.clone()?;
        let pick = PostgresPick {
            major: postgres_major(wanted, runnable),
            file,
            wanted,
            runnable: runnable.to_vec(),
        };
        if let Some(row) = self.rows.iter_mut().find(|r| r.0 == pick.file) {
            // The same file's Redis stays: beside the database, or below its explanation.
            let redis = row.1.find(", Redis").map(|at| row.1[at + 2..].to_string());
            let text = pick.row();
            row.1 = match redis {
                Some(redis) if text.contains('\n') => format!("{text}\n{redis}"),
                Some(redis) => format!("{text}, {redis}"),
                None => text,
            };
        }
        Some(pick)
    }

    /// The Django pin every source agrees on; sources that disagree are an error naming them.
    pub fn django_pin(&self) -> Result<Option<String>> {
        let mut pins: Vec<&(String, String)> = Vec::new();
        for entry in &self.django {
            if !pins.iter().any(|p| p.1 == entry.1) {
                pins.push(entry);
            }
        }
        // `Django==4.0.4` in requirements.txt and `django>=4.0,<4.1` in pyproject.toml agree:
        // the exact pin is the one every other allows.
        let specs: Vec<Option<DjangoSpec>> =
            pins.iter().map(|p| DjangoSpec::parse(&p.1).ok()).collect();
        let exact: Vec<(usize, Version)> = specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.as_ref()?.exact()?)))
            .collect();
        if let [(i, version)] = exact.as_slice() {
            if specs
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| s.contains(version)))
            {
                return Ok(Some(pins[*i].1.clone()));
            }
        }
        match pins.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.1.clone())),
            many => Err(user_error!(
                hint = "pass the one to use: `pyenvx init --django …` (the project's files stay as they are)",
                "the project's files pin Django differently: {}",
                many.iter()
                    .map(|(f, p)| format!("{p} in {f}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The newest Python in `offered` that every source allows and Django supports. Sources
    /// naming different minors are an error naming them, not a guess.
    pub fn choose_python(&self, offered: &[Version], django: Option<&DjangoSpec>) -> Result<Minor> {
        let minors: Vec<&(String, PythonSource)> = self
            .python
            .iter()
            .filter(|(_, s)| matches!(s, PythonSource::Minor(_)))
            .collect();
        let first_minor = minors.first().and_then(|(_, s)| match s {
            PythonSource::Minor(m) => Some(*m),
            PythonSource::Range(_) => None,
        });
        if let Some(first) = first_minor {
            if minors.iter().any(|(_, s)| *s != PythonSource::Minor(first)) {
                return Err(user_error!(
                    hint = "pass the one to use: `pyenvx init --python 3.X` (the project's files stay as they are)",
                    "the project's files name different Pythons: {}",
                    self.describe_python()
                ));
            }
        }
        let allows = |v: &Version| {
            self.python.iter().all(|(_, s)| match s {
                PythonSource::Minor(m) => support::minor_of(v) == *m,
                PythonSource::Range(r) => r.contains(v),
            })
        };
        let django_ok = |v: &Version| {
            let Some(spec) = django else { return true };
            let Some(series) = spec.series() else {
                return true;
            };
            let py = support::minor_of(v);
            let verdict = match spec.exact() {
                Some(exact) => support::check_version(&exact, py),
                None => support::check_series(series, py),
            };
            !matches!(verdict, Verdict::Unsupported | Verdict::TooOld { .. })
        };
        let best = offered
            .iter()
            .filter(|v| !v.any_prerelease() && allows(v) && django_ok(v))
            .max();
        match best {
            Some(v) => Ok(support::minor_of(v)),
            None => {
                let django_text = django.map_or_else(String::new, |d| {
                    let supported = d
                        .series()
                        .map(support::pythons_for)
                        .unwrap_or_default()
                        .iter()
                        .map(|(a, b)| format!("{a}.{b}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(" and Django {d} (Python {supported})")
                });
                Err(user_error!(
                    hint = "install one (`pyenvx python install 3.X`), or pass `--python`",
                    "no Python on offer satisfies {}{django_text}",
                    if self.python.is_empty() {
                        "the project".to_string()
                    } else {
                        self.describe_python()
                    }
                ))
            }
        }
    }

    fn describe_python(&self) -> String {
        self.python
            .iter()
            .map(|(f, s)| match s {
                PythonSource::Minor((a, b)) => format!("{a}.{b} in {f}"),
                PythonSource::Range(r) => format!("{r} in {f}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `django[argon2]` for a Django requirement naming extras (without its version, which is the
/// pin's), `None` without extras.
fn django_extras(req: &str) -> Result<Option<String>> {
    let parsed = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(req)
        .map_err(|e| user_error!("invalid requirement `{req}`: {}", e.message))?;
    if parsed.extras.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = parsed.extras.iter().map(ToString::to_string).collect();
    Ok(Some(format!("django[{}]", names.join(","))))
}

/// The Django pin a requirement carries, as `pyproject.toml` would write it: `==4.0.4` becomes
/// the exact pin `4.0.4`, and `==6.1` stays `==6.1` (the bare `6.1` would be the series, whose
/// newest patch installs); a range stays a range, no version is no pin.
fn django_pin(req: &str) -> Result<Option<String>> {
    let parsed = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(req)
        .map_err(|e| user_error!("invalid requirement `{req}`: {}", e.message))?;
    let Some(pep508_rs::VersionOrUrl::VersionSpecifier(v)) = &parsed.version_or_url else {
        return Ok(None);
    };
    let text = v.to_string();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(match text.strip_prefix("==") {
        Some(exact) if !exact.contains([',', '*']) && exact.split('.').count() >= 3 => {
            exact.to_string()
        }
        _ => text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_machine::tempdir_with as project;

    #[test]
    fn the_name_comes_from_the_django_module() {
        let manage = |m: &str| {
            format!("import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"{m}\")\n")
        };
        let d = project(&[("app/manage.py", &manage("hello_django.settings"))]);
        assert_eq!(project_name(d.path()).as_deref(), Some("hello_django"));
        // cookiecutter-django's `config`: the pyproject's name instead.
        let d = project(&[
            ("manage.py", &manage("config.settings.local")),
            (
                "pyproject.toml",
                "[project]\nname = \"my_awesome_project\"\n",
            ),
        ]);
        assert_eq!(
            project_name(d.path()).as_deref(),
            Some("my_awesome_project")
        );
        let d = project(&[("manage.py", &manage("config.settings"))]);
        assert_eq!(project_name(d.path()), None);
    }

    fn versions(list: &[&str]) -> Vec<Version> {
        list.iter().map(|v| Version::from_str(v).unwrap()).collect()
    }

    #[test]
    fn reads_a_cloned_django_project() {
        let dir = project(&[
            ("manage.py", ""),
            (
                "requirements.txt",
                "-r requirements/base.txt\ngunicorn==21.2.0\n",
            ),
            (
                "requirements/base.txt",
                "Django==4.0.4\nenvirons[django]>=9\n",
            ),
            ("Dockerfile", "FROM python:3.10.4-slim AS base\nRUN true\n"),
            (
                "docker-compose.yml",
                "services:\n  db:\n    image: postgres:13\n  web:\n    build: .\n",
            ),
        ]);
        assert!(is_existing_project(dir.path()));
        let a = Adopted::read(dir.path()).unwrap();
        assert_eq!(a.django_pin().unwrap().as_deref(), Some("4.0.4"));
        assert_eq!(a.dependencies, ["environs[django]>=9", "gunicorn==21.2.0"]);
        assert_eq!(a.postgres, Some(("docker-compose.yml".into(), 13)));
        let django = DjangoSpec::parse("4.0.4").unwrap();
        let offered = versions(&["3.8.18", "3.10.13", "3.12.1", "3.13.0"]);
        assert_eq!(a.choose_python(&offered, Some(&django)).unwrap(), (3, 10));
        let files: Vec<&str> = a.rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            files,
            [
                "requirements.txt",
                "requirements/base.txt",
                "Dockerfile",
                "docker-compose.yml"
            ]
        );
    }

    #[test]
    fn newest_python_every_source_and_django_allow() {
        let dir = project(&[(
            "pyproject.toml",
            "[project]\nname='x'\nrequires-python='>=3.8'\ndependencies=['django>=4.2,<5', 'requests']\n",
        )]);
        let a = Adopted::read(dir.path()).unwrap();
        assert_eq!(a.django_pin().unwrap().as_deref(), Some(">=4.2, <5"));
        let offered = versions(&["3.7.16", "3.8.18", "3.12.1", "3.13.0"]);
        // A range pin is checked on what it resolves to; the Python follows the sources.
        assert_eq!(a.choose_python(&offered, None).unwrap(), (3, 13));
        let series = DjangoSpec::parse("4.2").unwrap();
        assert_eq!(a.choose_python(&offered, Some(&series)).unwrap(), (3, 12));
    }

    #[test]
    fn pipfile_and_runtime_txt() {
        let dir = project(&[
            (
                "Pipfile",
                "[packages]\ndjango = \"==4.2.30\"\npsycopg = {version = \"*\", extras = [\"binary\"]}\nmine = {path = \".\"}\n\n[requires]\npython_version = \"3.11\"\n",
            ),
            ("runtime.txt", "python-3.11.7\n"),
        ]);
        let a = Adopted::read(dir.path()).unwrap();
        assert_eq!(a.django_pin().unwrap().as_deref(), Some("4.2.30"));
        assert_eq!(a.dependencies, ["psycopg[binary]"]);
        let offered = versions(&["3.11.7", "3.12.1"]);
        assert_eq!(a.choose_python(&offered, None).unwrap(), (3, 11));
    }

    #[test]
    fn agreeing_pins_and_unreadable_files() {
        let dir = project(&[
            (
                "pyproject.toml",
                "[project]\nname='x'\ndependencies=['django>=4.0,<4.1']\n",
            ),
            ("requirements.txt", "Django==4.0.10\n"),
            (
                "requirements-dev.txt",
                "-r requirements.txt\n-e .\npytest\n",
            ),
            (
                "requirements-vcs.txt",
                "-e git+https://example.invalid/x.git#egg=x\n",
            ),
        ]);
        let a = Adopted::read(dir.path()).unwrap();
        assert_eq!(a.django_pin().unwrap().as_deref(), Some("4.0.10"));
        let row = |name: &str| a.rows.iter().find(|r| r.0 == name).unwrap().1.clone();
        // The local `-e .` is named for the user to add; the rest of the file is taken.
        let dev = row("requirements-dev.txt");
        assert!(
            dev.contains("`-e ./.` left out") || dev.contains("`-e .` left out"),
            "{dev}"
        );
        // A development file's requirements are the `dev` group's, not the main ones.
        assert!(a.dependencies.is_empty(), "{:?}", a.dependencies);
        assert_eq!(a.groups, [("dev".to_string(), vec!["pytest".to_string()])]);
        // What pyenvx cannot take at all leaves the file out, said in the report.
        assert!(row("requirements-vcs.txt").starts_with("not read:"));
    }

    #[test]
    fn the_projects_own_requirements_cover_what_init_options_add() {
        let dir = project(&[(
            "requirements.txt",
            "Django==4.0.10\ndj-database-url==3.1.2\npsycopg2-binary==2.9.9\n",
        )]);
        let a = Adopted::read(dir.path()).unwrap();
        assert!(a.covers("dj-database-url"));
        assert!(a.covers("dj_database_url"));
        // Any driver covers any other: Django imports the one the project installs.
        assert!(a.covers("psycopg[binary]"));
        assert!(!a.covers("redis"));
        assert!(!a.covers("djangorestframework"));
    }

    #[test]
    fn a_compose_redis_declares_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("requirements.txt"), "Django==4.2.30\n").unwrap();
        std::fs::write(
            tmp.path().join("docker-compose.yml"),
            "services:\n  db:\n    image: postgres:13\n  cache:\n    image: \"bitnami/redis:7.2\"\n  \
             ui:\n    image: rediscommander/redis-commander\n",
        )
        .unwrap();
        let mut a = Adopted::read(tmp.path()).unwrap();
        assert_eq!(a.redis.as_deref(), Some("docker-compose.yml"));
        a.settle_postgres(&[13]);
        let row = &a
            .rows
            .iter()
            .find(|r| r.0 == "docker-compose.yml")
            .unwrap()
            .1;
        assert_eq!(
            row,
            "PostgreSQL 13 ([services.db]), Redis ([services.cache])"
        );
        a.settle_postgres(&[15]);
        let row = &a
            .rows
            .iter()
            .find(|r| r.0 == "docker-compose.yml")
            .unwrap()
            .1;
        assert!(row.ends_with("\nRedis ([services.cache])"), "{row}");
        std::fs::write(
            tmp.path().join("docker-compose.yml"),
            "services:\n  ui:\n    image: rediscommander/redis-commander:latest\n",
        )
        .unwrap();
        assert_eq!(Adopted::read(tmp.path()).unwrap().redis, None);
    }

    #[test]
    fn postgres_major_keeps_the_projects_or_takes_the_nearest_newer() {
        // This machine: Debian's 15, and 18 downloadable.
        let here = [15, 18];
        assert_eq!(postgres_major(15, &here), 15);
        assert_eq!(postgres_major(18, &here), 18);
        assert_eq!(postgres_major(13, &here), 15);
        assert_eq!(postgres_major(16, &here), 18);
        // Never an older one: nothing here runs 19, so 19 stays and `db up` says what to do.
        assert_eq!(postgres_major(19, &here), 19);
        assert_eq!(postgres_major(13, &[]), 13);

        let dir = project(&[(
            "docker-compose.yml",
            "services:\n  db:\n    image: postgres:13\n",
        )]);
        let mut a = Adopted::read(dir.path()).unwrap();
        let pick = a.settle_postgres(&here).unwrap();
        assert_eq!((pick.wanted, pick.major), (13, 15));
        let row = &a
            .rows
            .iter()
            .find(|r| r.0 == "docker-compose.yml")
            .unwrap()
            .1;
        assert!(
            row.starts_with("PostgreSQL 13 → 15 ([services.db]): this machine has no PostgreSQL 13; 15 is the nearest newer major it runs (15, 18)\n")
                && row.contains("`apt install postgresql-13`")
                && row.contains("`backend = \"container\"`"),
            "{row}"
        );
        assert!(pick.toml_comment().starts_with(
            "# docker-compose.yml runs postgres:13; this machine has no PostgreSQL 13, so 15"
        ));

        let mut a = Adopted::read(dir.path()).unwrap();
        let pick = a.settle_postgres(&[13, 15]).unwrap();
        assert_eq!(pick.major, 13);
        assert_eq!(a.rows[0].1, "PostgreSQL 13 ([services.db])");
        assert_eq!(pick.toml_comment(), "");

        let mut a = Adopted::read(dir.path()).unwrap();
        let pick = a.settle_postgres(&[11, 12]).unwrap();
        assert!(pick.missing());
        assert!(
            a.rows[0].1.starts_with(
                "PostgreSQL 13 ([services.db]): this machine runs 11, 12, none of them 13 or newer\n"
            ),
            "{}",
            a.rows[0].1
        );
    }

    #[test]
    fn conflicting_sources_are_reported() {
        let dir = project(&[
            ("runtime.txt", "python-3.9.1\n"),
            ("Dockerfile", "FROM python:3.10-slim\n"),
            ("requirements.txt", "Django==4.0.4\n"),
            ("requirements-dev.txt", "Django==4.1\n"),
        ]);
        let a = Adopted::read(dir.path()).unwrap();
        let err = format!("{:#}", a.django_pin().unwrap_err());
        assert!(
            err.contains("4.0.4 in requirements.txt")
                && err.contains("4.1 in requirements-dev.txt"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            a.choose_python(&versions(&["3.9.18", "3.10.13"]), None)
                .unwrap_err()
        );
        assert!(
            err.contains("3.9 in runtime.txt") && err.contains("3.10 in Dockerfile"),
            "{err}"
        );
        // Django's table rules out what the files allow.
        let dir = project(&[("Dockerfile", "FROM python:3.12\n")]);
        let a = Adopted::read(dir.path()).unwrap();
        let old = DjangoSpec::parse("3.2").unwrap();
        let err = format!(
            "{:#}",
            a.choose_python(&versions(&["3.12.1"]), Some(&old))
                .unwrap_err()
        );
        assert!(err.contains("Django 3.2 (Python 3.6"), "{err}");
    }
}
