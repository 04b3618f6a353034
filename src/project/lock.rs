//! `pyenvx.lock`: what was resolved — the exact interpreter and every distribution — plus the
//! inputs it was resolved from, so drift between `pyenvx.toml` and the lock is detectable.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::resolution::{
    check_commit, check_dir_path, check_file_name, check_name, check_sha256, check_url,
    check_version,
};
pub use crate::resolution::{validate_packages, Directory, Dist, DistFile, Resolved, Vcs};
use crate::user_error;

pub const LOCK_FILE: &str = "pyenvx.lock";
/// 2: every file of each release (`[[package.files]]`); 1 held one file per package and is still
/// read (as a release with that one file).
const LOCK_VERSION: u32 = 2;
const OLDEST_READABLE: u32 = 1;
const RELOCK_HINT: &str =
    "restore it from version control, or delete it and run `pyenvx sync` to lock again";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    pub python: LockedPython,
    pub inputs: LockInputs,
    /// Which packages the main dependencies and each dependency group need; absent in a lock
    /// without groups, where every package is the main dependencies'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    #[serde(default, rename = "package")]
    pub packages: Vec<Resolved>,
}

/// The packages (normalized names) each part of the project needs, so `sync` installs a subset
/// (main + `dev`, `--only-group test`) and `export` the main dependencies without resolving again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Everything the main dependencies (Django's pin included) need.
    pub main: Vec<String>,
    /// Per group, everything its requirements need (packages of `main` included).
    #[serde(default)]
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
}

/// A resolution of the whole project: every package, and which part needs which.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub packages: Vec<Resolved>,
    pub membership: Option<Membership>,
}

impl Resolution {
    /// A resolution with no groups: every package is the main dependencies'.
    pub fn main_only(packages: Vec<Resolved>) -> Self {
        Self {
            packages,
            membership: None,
        }
    }
}

/// Which parts of the project a sync installs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The main dependencies (false with `--only-group`).
    pub main: bool,
    /// The groups, normalized.
    pub groups: Vec<String>,
}

impl Selection {
    /// The main dependencies alone, as `export` takes them.
    pub fn main_only() -> Self {
        Self {
            main: true,
            groups: Vec::new(),
        }
    }
}

/// The interpreter the sandbox runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPython {
    pub version: String,
    pub implementation: String,
    #[serde(default)]
    pub freethreaded: bool,
    /// `managed` (a python-build-standalone build) or `system` (found on the machine).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The build archive's SHA-256, for managed interpreters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What the lock was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInputs {
    pub python: String,
    pub requirements: Vec<String>,
    /// Names of the local directories installed editable (`[tool.pyenvx] editable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editable: Vec<String>,
    /// `[dependency-groups]`, includes expanded.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
}

impl Lock {
    pub fn new(python: LockedPython, inputs: LockInputs, resolution: Resolution) -> Self {
        let Resolution {
            mut packages,
            membership,
        } = resolution;
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            version: LOCK_VERSION,
            python,
            inputs,
            membership,
            packages,
        }
    }

    /// This lock with only the packages `selection` needs: what a sync installs. A lock
    /// without groups is whole for any selection that takes the main dependencies.
    pub fn selected(&self, selection: &Selection) -> Lock {
        let mut out = self.clone();
        let Some(membership) = &self.membership else {
            if !selection.main {
                out.packages.clear();
            }
            return out;
        };
        let wanted = |name: &String| {
            (selection.main && membership.main.contains(name))
                || selection
                    .groups
                    .iter()
                    .any(|g| membership.groups.get(g).is_some_and(|m| m.contains(name)))
        };
        out.packages.retain(|p| wanted(&p.name));
        out
    }

    /// `None` when there is no lock file yet.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::fs::read_text(path, RELOCK_HINT)?;
        Self::parse(&text, path).map(Some)
    }

    /// The lock in `text`, read from `path` (named in errors, with the line).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let not_valid = |offset: Option<usize>, message: &str| {
            let line = offset.map_or(String::new(), |o| {
                format!(":{}", crate::fs::line_col(text, o).0)
            });
            user_error!(
                hint = RELOCK_HINT,
                "{}{line}: not a valid lock: {message}",
                path.display()
            )
        };
        let lock: Lock = toml::from_str(text)
            .map_err(|e| not_valid(e.span().map(|s| s.start), e.message().trim()))?;
        // Every value that reaches uv's requirements files, the store's directory names or an
        // export is checked here, where the file and line can still be named.
        let spanned: SpannedLock = toml::from_str(text)
            .map_err(|e| not_valid(e.span().map(|s| s.start), e.message().trim()))?;
        spanned
            .validate()
            .map_err(|(offset, message)| not_valid(Some(offset), &message))?;
        if !(OLDEST_READABLE..=LOCK_VERSION).contains(&lock.version) {
            return Err(user_error!(
                hint = "upgrade pyenvx, or delete the lock and run `pyenvx sync`",
                "{} has lock format {}, this pyenvx reads {LOCK_VERSION}",
                path.display(),
                lock.version
            ));
        }
        Ok(lock)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        validate_packages(&self.packages).map_err(|m| anyhow::anyhow!("refusing to lock: {m}"))?;
        let body = toml::to_string(self).context("cannot serialise the lock")?;
        let text = format!("# Generated by pyenvx from pyenvx.toml; do not edit by hand.\n{body}");
        crate::fs::write_atomic(path, text.as_bytes())
    }

    pub fn package(&self, name: &str) -> Option<&Resolved> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// `major.minor` of the locked interpreter.
    pub fn python_minor(&self) -> String {
        self.python
            .version
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// The lock's packages again, with the position of every value, to say where a bad one is.
#[derive(Deserialize)]
struct SpannedLock {
    python: SpannedPython,
    #[serde(default, rename = "package")]
    packages: Vec<SpannedPackage>,
}

#[derive(Deserialize)]
struct SpannedPython {
    version: Spanned<String>,
    #[serde(default)]
    sha256: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct SpannedPackage {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    files: Vec<SpannedFile>,
    file: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
    vcs: Option<SpannedVcs>,
    directory: Option<SpannedDirectory>,
}

#[derive(Deserialize)]
struct SpannedDirectory {
    path: Spanned<String>,
}

#[derive(Deserialize)]
struct SpannedVcs {
    url: Spanned<String>,
    commit: Spanned<String>,
}

#[derive(Deserialize)]
struct SpannedFile {
    file: Spanned<String>,
    url: Spanned<String>,
    sha256: Spanned<String>,
}

impl SpannedLock {
    /// The first bad value: its byte offset and what is wrong with it.
    fn validate(&self) -> std::result::Result<(), (usize, String)> {
        let at = |s: &Spanned<String>, check: fn(&str) -> std::result::Result<(), String>| {
            check(s.get_ref()).map_err(|m| (s.span().start, m))
        };
        at(&self.python.version, check_version)?;
        if let Some(h) = &self.python.sha256 {
            at(h, check_sha256)?;
        }
        for p in &self.packages {
            at(&p.name, check_name)?;
            // A local directory's version is whatever it builds (uv reports none).
            if p.directory.is_none() || !p.version.get_ref().is_empty() {
                at(&p.version, check_version)?;
            }
            if let Some(dir) = &p.directory {
                at(&dir.path, check_dir_path)?;
            }
            for f in &p.files {
                at(&f.file, check_file_name)?;
                at(&f.url, check_url)?;
                at(&f.sha256, check_sha256)?;
            }
            for (value, check) in [
                (&p.file, check_file_name as fn(&str) -> _),
                (&p.url, check_url),
                (&p.sha256, check_sha256),
            ] {
                if let Some(v) = value {
                    at(v, check)?;
                }
            }
            if let Some(vcs) = &p.vcs {
                at(&vcs.url, check_url)?;
                at(&vcs.commit, check_commit)?;
            }
            if p.files.is_empty() && p.sha256.is_none() && p.vcs.is_none() && p.directory.is_none()
            {
                return Err((
                    p.name.span().start,
                    format!("{} lists no file", p.name.get_ref()),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# Generated by pyenvx
version = 2

[python]
version = "3.12.1"
implementation = "cpython"
source = "system"

[inputs]
python = "3.12"
requirements = ["django~=5.2.0"]

[[package]]
name = "django"
version = "5.2.19"

[[package.files]]
file = "django-5.2.19-py3-none-any.whl"
url = "http://127.0.0.1:1/files/django-5.2.19-py3-none-any.whl"
sha256 = "abababababababababababababababababababababababababababababababab"
"#;

    fn load(text: &str) -> Result<Option<Lock>> {
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        fs_err::write(&path, text).unwrap();
        Lock::load(&path)
    }

    #[test]
    fn a_good_lock_loads_and_old_formats_still_read() {
        let lock = load(GOOD).unwrap().unwrap();
        assert_eq!(lock.packages[0].files.len(), 1);
        let v1 = GOOD
            .replace("version = 2", "version = 1")
            .replace("\n[[package.files]]\n", "");
        let lock = load(&v1).unwrap().unwrap();
        assert_eq!(
            lock.packages[0].files[0].file,
            "django-5.2.19-py3-none-any.whl"
        );
    }

    #[test]
    fn bad_values_name_the_file_and_line() {
        let line_of = |needle: &str| GOOD.lines().position(|l| l.contains(needle)).unwrap() + 1;
        for (from, to, line) in [
            (
                "name = \"django\"",
                "name = \"django\\n--index-url http://127.0.0.1:9/simple\"",
                line_of("name = \"django\""),
            ),
            (
                "name = \"django\"",
                "name = \"Django\"",
                line_of("name = \"django\""),
            ),
            (
                "version = \"5.2.19\"",
                "version = \"5.2.19 --x\"",
                line_of("version = \"5.2.19\""),
            ),
            ("sha256 = \"abab", "sha256 = \"zzab", line_of("sha256 = ")),
            ("url = \"http://", "url = \"ftp://", line_of("url = ")),
            (
                "file = \"django-5.2.19-py3-none-any.whl\"",
                "file = \"../x.whl\"",
                line_of("file = "),
            ),
            (
                "version = \"3.12.1\"",
                "version = \"three\"",
                line_of("version = \"3.12.1\""),
            ),
        ] {
            let text = GOOD.replacen(from, to, 1);
            let err = load(&text).unwrap_err();
            let user = err
                .downcast_ref::<crate::error::UserError>()
                .unwrap_or_else(|| panic!("{err:#}"));
            assert!(
                user.message
                    .contains(&format!("{LOCK_FILE}:{line}: not a valid lock")),
                "{to}: {}",
                user.message
            );
        }
        let garbage = load("\u{0}\u{1}binary").unwrap_err();
        assert!(
            garbage.to_string().contains(":1: not a valid lock"),
            "{garbage:#}"
        );
    }

    #[test]
    fn a_local_directory_locks_without_file_or_version() {
        let dir = format!(
            "{GOOD}\n[[package]]\nname = \"localpkg\"\nversion = \"\"\ndirect = true\n\n\
             [package.directory]\npath = \"libs/pkg\"\neditable = true\n"
        );
        let lock = load(&dir).unwrap().unwrap();
        let local = lock.package("localpkg").unwrap();
        assert_eq!(local.directory.as_ref().unwrap().path, "libs/pkg");
        assert!(local.directory.as_ref().unwrap().editable);
        assert!(validate_packages(&lock.packages).is_ok());
        // Written back, it reads the same.
        let text = toml::to_string(&lock).unwrap();
        assert_eq!(Lock::parse(&text, Path::new("x")).unwrap(), lock);

        let line = dir.lines().position(|l| l.starts_with("path =")).unwrap() + 1;
        let err =
            load(&dir.replace("path = \"libs/pkg\"", "path = \"--index-url=x\"")).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{LOCK_FILE}:{line}: not a valid lock")),
            "{err:#}"
        );
        // Only a directory may go without a version.
        let err = load(&GOOD.replace("version = \"5.2.19\"", "version = \"\"")).unwrap_err();
        assert!(err.to_string().contains("not a valid lock"), "{err:#}");
    }
}
