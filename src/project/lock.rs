//! `pyenvx.lock`: what was resolved — the exact interpreter and every distribution — plus the
//! inputs it was resolved from, so drift between `pyenvx.toml` and the lock is detectable.

use std::path::Path;

use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

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

/// The same checks over packages in memory (a resolution about to be locked or reused).
pub fn validate_packages(packages: &[Resolved]) -> std::result::Result<(), String> {
    for p in packages {
        check_name(&p.name)?;
        if p.directory.is_none() || !p.version.is_empty() {
            check_version(&p.version)?;
        }
        if let Some(dir) = &p.directory {
            check_dir_path(&dir.path)?;
        } else if let Some(vcs) = &p.vcs {
            check_url(&vcs.url)?;
            check_commit(&vcs.commit)?;
        } else if p.files.is_empty() {
            return Err(format!("{} lists no file", p.name));
        }
        for f in &p.files {
            check_file_name(&f.file)?;
            check_url(&f.url)?;
            check_sha256(&f.sha256)?;
        }
    }
    Ok(())
}

/// PEP 503 normalized: lower-case ASCII letters and digits in runs joined by single `-`.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a normalized package name"))
    }
}

fn check_version(version: &str) -> std::result::Result<(), String> {
    match pep440_rs::Version::from_str(version) {
        Ok(_) if !version.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!("{version:?} is not a PEP 440 version")),
    }
}

fn check_sha256(hash: &str) -> std::result::Result<(), String> {
    if hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{hash:?} is not a lower-case hex SHA-256"))
    }
}

/// A git commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
fn check_commit(commit: &str) -> std::result::Result<(), String> {
    if matches!(commit.len(), 40 | 64)
        && commit
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{commit:?} is not a git commit id"))
    }
}

/// A local directory's path: one line that no requirements file or command line reads as an
/// option.
fn check_dir_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() || path.starts_with('-') || path.chars().any(char::is_control) {
        Err(format!("{path:?} is not a directory path"))
    } else {
        Ok(())
    }
}

/// A file name: one path segment, printable, no spaces.
fn check_file_name(file: &str) -> std::result::Result<(), String> {
    let ok = !file.is_empty()
        && file != "."
        && file != ".."
        && file
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '/' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(format!("{file:?} is not a file name"))
    }
}

/// An `http(s)://` or `file://` URL without whitespace or control characters (a line break
/// would start a new line in the requirements files handed to uv).
fn check_url(url: &str) -> std::result::Result<(), String> {
    let scheme_ok = ["https://", "http://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if scheme_ok && !url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http(s) or file URL"))
    }
}

// The lock's content, as the installer produces it (`installer::resolve` parses uv's pylock
// into these) and as sync, the store and export consume it. Owned here so that the lock's
// format does not depend on the uv driver.

/// One file of a locked release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistFile {
    /// The wheel's (or sdist's) file name.
    pub file: String,
    /// Where uv found it (`https://…`, or `file://…` for find-links directories).
    pub url: String,
    /// Lower-case hex.
    pub sha256: String,
}

impl DistFile {
    pub fn is_wheel(&self) -> bool {
        self.file.ends_with(".whl")
    }
}

/// One release of a resolution with every file the resolver listed for it: the wheels for
/// several platforms and ABIs, and the sdist. Which one installs is decided per interpreter
/// by [`Resolved::pick`], so the lock (and the requirements exported from it) keeps them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ResolvedOnDisk")]
pub struct Resolved {
    /// PEP 503 normalized, e.g. `psycopg-binary`.
    pub name: String,
    pub version: String,
    /// Sorted by file name, so a lock is byte-identical for the same resolution.
    pub files: Vec<DistFile>,
    /// Required by URL (`name @ https://…/x.whl`) rather than by name from an index: installed
    /// from that URL, and exported as `name @ url`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
    /// A git checkout (`name @ git+https://…@ref`), locked at the commit the ref resolved to.
    /// It has no files and no hash: installed by commit, and not exportable hash-pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcs: Option<Vcs>,
    /// A local project directory (`name @ ./libs/pkg`): no file, no hash, built and installed
    /// from the directory at sync, outside the store (see `project::local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
}

/// A local directory requirement as locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Relative to the project root (`libs/pkg`, `/`-separated) when inside it, so a clone
    /// elsewhere works; absolute otherwise. As uv reported it until the project rewrites it.
    pub path: String,
    /// Installed editable (`--editable`): source edits are live without a sync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub editable: bool,
}

/// Where a git requirement comes from, and the commit it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vcs {
    /// The repository, without `git+` (`https://host/repo.git`, `file:///srv/repo`).
    pub url: String,
    /// Full lower-case hex commit id.
    pub commit: String,
}

impl Vcs {
    /// `git+<url>@<commit>`, as pip and uv take it after `name @`.
    pub fn requirement_url(&self) -> String {
        format!("git+{}@{}", self.url, self.commit)
    }
}

/// What `Resolved` reads: lock format 1 (and resolution caches of pyenvx before it) held one
/// file per package in `file`/`url`/`sha256`; format 2 holds `files`.
#[derive(Deserialize)]
struct ResolvedOnDisk {
    name: String,
    version: String,
    #[serde(default)]
    files: Vec<DistFile>,
    file: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
    #[serde(default)]
    direct: bool,
    #[serde(default)]
    vcs: Option<Vcs>,
    #[serde(default)]
    directory: Option<Directory>,
}

impl From<ResolvedOnDisk> for Resolved {
    fn from(raw: ResolvedOnDisk) -> Self {
        let mut files = raw.files;
        if let (Some(file), Some(url), Some(sha256)) = (raw.file, raw.url, raw.sha256) {
            files.push(DistFile { file, url, sha256 });
        }
        Resolved {
            name: raw.name,
            version: raw.version,
            files,
            direct: raw.direct,
            vcs: raw.vcs,
            directory: raw.directory,
        }
    }
}

/// The one file of a release chosen for one interpreter: what the store fetches and installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dist {
    /// PEP 503 normalized, e.g. `psycopg-binary`.
    pub name: String,
    pub version: String,
    /// The wheel's (or sdist's) file name.
    pub file: String,
    /// Where uv found it (`https://…`, or `file://…` for find-links directories).
    pub url: String,
    /// Lower-case hex.
    pub sha256: String,
    /// Installed from `url` itself (see [`Resolved::direct`]).
    #[serde(default)]
    pub direct: bool,
    /// A git checkout: `url` is `git+…@commit`, `sha256` holds the commit id instead (what
    /// identifies the source in store keys and in `.venv`), and no hash can be checked.
    #[serde(default)]
    pub vcs: bool,
}

impl Dist {
    /// This file as one line of a hash-checked requirements file.
    pub fn requirement_line(&self) -> String {
        if self.vcs {
            format!("{} @ {}", self.name, self.url)
        } else if self.direct {
            format!("{} @ {} --hash=sha256:{}", self.name, self.url, self.sha256)
        } else {
            format!(
                "{}=={} --hash=sha256:{}",
                self.name, self.version, self.sha256
            )
        }
    }

    pub fn is_wheel(&self) -> bool {
        self.file.ends_with(".whl")
    }
}

/// How many of the interpreter's tags an error message lists.
const TAGS_SHOWN: usize = 6;

impl Resolved {
    /// The file to install on the interpreter `tags` describes, exactly as pip and uv choose:
    /// the wheel whose best tag ranks first (ties: the higher build number, then the file name,
    /// so the choice is reproducible), else the sdist (built for this interpreter), else a user
    /// error naming the tags this interpreter accepts.
    pub fn pick(&self, tags: &crate::tags::Tags) -> Result<Dist> {
        if let Some(dir) = &self.directory {
            bail!(
                "{} is the local directory {}, installed from there rather than from a file",
                self.name,
                dir.path
            );
        }
        if let Some(vcs) = &self.vcs {
            let url = vcs.requirement_url();
            return Ok(Dist {
                name: self.name.clone(),
                version: self.version.clone(),
                file: url.clone(),
                url,
                sha256: vcs.commit.clone(),
                direct: true,
                vcs: true,
            });
        }
        let best_wheel = self
            .files
            .iter()
            .filter(|f| f.is_wheel())
            .filter_map(|f| tags.rank(&f.file).map(|rank| (rank, f)))
            .min_by(|(ra, a), (rb, b)| {
                ra.cmp(rb)
                    .then_with(|| {
                        crate::tags::build_number(&b.file).cmp(&crate::tags::build_number(&a.file))
                    })
                    .then_with(|| a.file.cmp(&b.file))
            })
            .map(|(_, f)| f);
        let chosen = best_wheel.or_else(|| self.files.iter().find(|f| !f.is_wheel()));
        let Some(file) = chosen else {
            let listed: Vec<&str> = self.files.iter().map(|f| f.file.as_str()).collect();
            return Err(user_error!(
                hint = "pin a release that publishes a wheel for this platform (or an sdist), \
                        or use a Python it has wheels for",
                "no file of {} {} installs on this interpreter: the lock lists {}; this \
                 interpreter accepts {}, … ({} tags)",
                self.name,
                self.version,
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(", ")
                },
                tags.first(TAGS_SHOWN).join(", "),
                tags.len()
            ));
        };
        Ok(Dist {
            name: self.name.clone(),
            version: self.version.clone(),
            file: file.file.clone(),
            url: file.url.clone(),
            sha256: file.sha256.clone(),
            direct: self.direct,
            vcs: false,
        })
    }

    /// Every file's SHA-256, in the lock's order.
    pub fn hashes(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.sha256.as_str())
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
