//! A PBS release download area on disk ([`Mirror`]) and uv-format `download-metadata.json`
//! catalogs describing it ([`write_catalog`]).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::pbs::{pbs_archive, pbs_file_name, sha256_file, PbsArchive, RELEASE_TAG};

/// The real PBS download prefix; catalogs using it exercise `PYENVX_PYTHON_MIRROR` rewriting.
pub const GITHUB_DOWNLOAD_BASE: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";

/// One catalog entry: a CPython build and where to download it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Full version, e.g. `3.12.1` or `3.14.0rc1`.
    pub version: String,
    /// The archive's file name in the release.
    pub file_name: String,
    /// Expected SHA-256 (hex); change it to build a hash-mismatch catalog.
    pub sha256: String,
    /// Replaces the computed `<base>/<tag>/<file_name>` URL when set.
    pub url: Option<String>,
}

impl CatalogEntry {
    /// The entry for a cached fixture archive.
    pub fn for_archive(archive: &PbsArchive) -> Self {
        CatalogEntry {
            version: archive.version.clone(),
            file_name: archive.file_name.clone(),
            sha256: archive.sha256.clone(),
            url: None,
        }
    }

    /// uv's catalog key, e.g. `cpython-3.12.1-linux-x86_64-gnu`.
    pub fn key(&self) -> String {
        format!("cpython-{}-linux-x86_64-gnu", self.version)
    }

    /// The download URL this entry gets in a catalog written with `base`.
    pub fn url_for(&self, base: &str) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| release_url(base, &self.file_name))
    }
}

/// `<base>/<RELEASE_TAG>/<file_name>` with the file name percent-encoded (`+` -> `%2B`).
pub fn release_url(base: &str, file_name: &str) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        release_url_path(file_name)
    )
}

/// The URL path of a release file, e.g. `/20990101/cpython-3.12.1%2B20990101-...tar.gz`.
pub fn release_url_path(file_name: &str) -> String {
    format!("/{RELEASE_TAG}/{}", percent_encode(file_name))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as GitHub URLs need for `+`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

/// (major, minor, patch, prerelease), e.g. `(3, 14, 0, "rc1")`.
type VersionParts = (u64, u64, u64, String);

/// Splits `3.12.1` / `3.14.0rc1` into its parts.
fn parse_version(version: &str) -> VersionParts {
    let mut parts = version.splitn(3, '.');
    let mut num = || {
        parts
            .next()
            .unwrap_or_else(|| panic!("bad version {version}"))
    };
    let major = num()
        .parse()
        .unwrap_or_else(|_| panic!("bad version {version}"));
    let minor = num()
        .parse()
        .unwrap_or_else(|_| panic!("bad version {version}"));
    let rest = num();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let patch = rest[..digits]
        .parse()
        .unwrap_or_else(|_| panic!("bad version {version}"));
    (major, minor, patch, rest[digits..].to_string())
}

/// The catalog text in uv's `download-metadata.json` format (field order and newest-first
/// entry order as uv writes them).
pub fn catalog_json(entries: &[CatalogEntry], base: &str) -> String {
    let mut sorted: Vec<(&CatalogEntry, VersionParts)> = entries
        .iter()
        .map(|e| (e, parse_version(&e.version)))
        .collect();
    // Newest first; a final release sorts above its pre-releases.
    sorted.sort_by(|(_, a), (_, b)| {
        (b.0, b.1, b.2, b.3.is_empty(), &b.3).cmp(&(a.0, a.1, a.2, a.3.is_empty(), &a.3))
    });
    let s = |v: &str| serde_json::to_string(v).unwrap();
    let mut out = String::from("{\n");
    for (i, (entry, (major, minor, patch, pre))) in sorted.iter().enumerate() {
        let fields = [
            ("name", s("cpython")),
            (
                "arch",
                r#"{"family": "x86_64", "variant": null}"#.to_string(),
            ),
            ("os", s("linux")),
            ("libc", s("gnu")),
            ("major", major.to_string()),
            ("minor", minor.to_string()),
            ("patch", patch.to_string()),
            ("prerelease", s(pre)),
            ("url", s(&entry.url_for(base))),
            ("sha256", s(&entry.sha256)),
            ("variant", "null".to_string()),
            ("build", s(RELEASE_TAG)),
        ];
        writeln!(out, "  {}: {{", s(&entry.key())).unwrap();
        for (j, (name, value)) in fields.iter().enumerate() {
            let comma = if j + 1 < fields.len() { "," } else { "" };
            writeln!(out, "    \"{name}\": {value}{comma}").unwrap();
        }
        let comma = if i + 1 < sorted.len() { "," } else { "" };
        writeln!(out, "  }}{comma}").unwrap();
    }
    out.push_str("}\n");
    out
}

/// Writes [`catalog_json`] to `path`.
pub fn write_catalog(path: &Path, entries: &[CatalogEntry], base: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, catalog_json(entries, base))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A directory laid out like PBS's GitHub release downloads: `<root>/<RELEASE_TAG>/<file>` plus
/// `SHA256SUMS`, serveable by [`crate::common::TestServer`] or as a `file://` mirror.
#[derive(Debug)]
pub struct Mirror {
    root: PathBuf,
    entries: Vec<CatalogEntry>,
}

impl Mirror {
    /// An empty release directory under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        fs::create_dir_all(root.join(RELEASE_TAG)).unwrap();
        let mirror = Mirror {
            root,
            entries: Vec::new(),
        };
        mirror.write_sha256sums();
        mirror
    }

    /// A release directory holding the fixture archives of `minors` (e.g. `&["3.12"]`).
    pub fn with_pythons(root: impl Into<PathBuf>, minors: &[&str]) -> Self {
        let mut mirror = Mirror::new(root);
        for minor in minors {
            mirror.add(pbs_archive(minor));
        }
        mirror
    }

    /// Adds a cached archive by hard link (copy across filesystems). Never edit mirror files in
    /// place: that would corrupt the shared cache. Use [`Mirror::add_file`] or server faults.
    pub fn add(&mut self, archive: &PbsArchive) -> &mut Self {
        let dest = self.release_dir().join(&archive.file_name);
        let _ = fs::remove_file(&dest);
        if fs::hard_link(&archive.path, &dest).is_err() {
            fs::copy(&archive.path, &dest).unwrap();
        }
        self.push(CatalogEntry::for_archive(archive))
    }

    /// Copies any file into the release as the PBS archive of `version` (e.g. a
    /// [`crate::common::malicious_archive`] or a hand-corrupted copy), hashing it.
    pub fn add_file(&mut self, version: &str, src: &Path) -> &mut Self {
        let file_name = pbs_file_name(version);
        let dest = self.release_dir().join(&file_name);
        let _ = fs::remove_file(&dest);
        fs::copy(src, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        let sha256 = sha256_file(&dest);
        self.push(CatalogEntry {
            version: version.to_string(),
            file_name,
            sha256,
            url: None,
        })
    }

    fn push(&mut self, entry: CatalogEntry) -> &mut Self {
        self.entries.retain(|e| e.version != entry.version);
        self.entries.push(entry);
        self.write_sha256sums();
        self
    }

    fn write_sha256sums(&self) {
        let sums: String = self
            .entries
            .iter()
            .map(|e| format!("{}  {}\n", e.sha256, e.file_name))
            .collect();
        fs::write(self.release_dir().join("SHA256SUMS"), sums).unwrap();
    }

    /// The mirror root (what `PYENVX_PYTHON_MIRROR` or the server's root points at).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<RELEASE_TAG>`.
    pub fn release_dir(&self) -> PathBuf {
        self.root.join(RELEASE_TAG)
    }

    /// Where the archive of `version` lives in this mirror.
    pub fn archive_path(&self, version: &str) -> PathBuf {
        self.release_dir().join(pbs_file_name(version))
    }

    /// `file://<root>`, for `PYENVX_PYTHON_MIRROR`.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// Catalog entries for everything added so far; edit and pass to [`write_catalog`].
    pub fn entries(&self) -> Vec<CatalogEntry> {
        self.entries.clone()
    }

    /// Writes `<root>/download-metadata.json` with URLs under `base` and returns its path.
    pub fn write_catalog(&self, base: &str) -> PathBuf {
        let path = self.root.join("download-metadata.json");
        write_catalog(&path, &self.entries, base);
        path
    }
}
