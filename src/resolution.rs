//! What a resolution is made of: each release with every file the resolver listed
//! (`Resolved`, `DistFile`, `Directory`, `Vcs`) and the one file chosen for an interpreter
//! (`Dist`), with the checks every value passes before it reaches uv's requirements files, the
//! store's directory names or an export. The installer produces them, the store installs them,
//! `project::lock` writes them into `pyenvx.lock`: they live below all three so that none of
//! the lower layers depends on the lock file's module.

use std::str::FromStr;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::user_error;
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
pub fn check_name(name: &str) -> std::result::Result<(), String> {
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

pub fn check_version(version: &str) -> std::result::Result<(), String> {
    match pep440_rs::Version::from_str(version) {
        Ok(_) if !version.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!("{version:?} is not a PEP 440 version")),
    }
}

pub fn check_sha256(hash: &str) -> std::result::Result<(), String> {
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
pub fn check_commit(commit: &str) -> std::result::Result<(), String> {
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
pub fn check_dir_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() || path.starts_with('-') || path.chars().any(char::is_control) {
        Err(format!("{path:?} is not a directory path"))
    } else {
        Ok(())
    }
}

/// A file name: one path segment, printable, no spaces.
pub fn check_file_name(file: &str) -> std::result::Result<(), String> {
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
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let scheme_ok = ["https://", "http://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if scheme_ok && !url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http(s) or file URL"))
    }
}

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
