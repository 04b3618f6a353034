//! Another tool's lock file in an adopted project (`uv.lock`, `poetry.lock`, `Pipfile.lock`,
//! or pip-tools' hashed requirements): the versions it holds, which seed `pyenvx.lock` so that
//! adopting a project installs what its authors run rather than whatever is newest today.
//!
//! Only releases from a package index are taken: git checkouts, local directories and the
//! project itself are requirements of their own. A package locked at two versions (a lock
//! forked by markers) is left to the resolver.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::config::normalize_name;
use super::lock::Resolved;
use crate::user_error;

/// The versions another tool locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignLock {
    /// The lock file, relative to the project.
    pub file: String,
    /// Normalized name → version, one per package.
    pub versions: BTreeMap<String, String>,
}

/// The lock files read, in this order: the first found is the project's.
const LOCK_FILES: [&str; 3] = ["uv.lock", "poetry.lock", "Pipfile.lock"];

impl ForeignLock {
    /// The project's lock file in `dir`, if it has one; an unreadable one is an error naming it.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        for name in LOCK_FILES {
            let path = dir.join(name);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let pairs = match name {
                "Pipfile.lock" => pipfile_lock(&text),
                _ => toml_lock(&text, name == "uv.lock"),
            }
            .map_err(|e| {
                user_error!(
                    hint = "fix or delete the lock file; pyenvx only reads its versions",
                    "{}: not a lock pyenvx can read: {e}",
                    path.display()
                )
            })?;
            return Ok(Some(Self::from_pairs(name, pairs)));
        }
        Ok(None)
    }

    /// pip-tools' output: a requirements file whose every requirement is `name==version`
    /// with `--hash` options. `None` for any other requirements file.
    pub fn from_hashed_requirements(file: &str, text: &str) -> Option<Self> {
        if !text.contains("--hash") {
            return None;
        }
        let mut pairs = Vec::new();
        for line in text.lines() {
            let line = line.trim().trim_end_matches('\\').trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
                continue;
            }
            let requirement = line.split(" --").next().unwrap_or(line);
            let requirement = requirement.split(';').next().unwrap_or("").trim();
            let (name, version) = requirement.split_once("==")?;
            let name = name.split('[').next().unwrap_or(name);
            pairs.push((name.trim().to_string(), version.trim().to_string()));
        }
        (!pairs.is_empty()).then(|| Self::from_pairs(file, pairs))
    }

    /// pip-compile's output without hashes: `X.txt` beside the `X.in` it was compiled from.
    /// Its `name==version` lines are the project's resolution; lines of another form (a URL,
    /// `-e`) are left to the requirements read from `X.in`.
    pub fn from_compiled_requirements(file: &str, text: &str) -> Option<Self> {
        let mut pairs = Vec::new();
        for line in text.lines() {
            let line = line.trim().trim_end_matches('\\').trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
                continue;
            }
            let requirement = line.split(" --").next().unwrap_or(line);
            let requirement = requirement.split(';').next().unwrap_or("").trim();
            let Some((name, version)) = requirement.split_once("==") else {
                continue;
            };
            let name = name.split('[').next().unwrap_or(name);
            pairs.push((name.trim().to_string(), version.trim().to_string()));
        }
        (!pairs.is_empty()).then(|| Self::from_pairs(file, pairs))
    }

    fn from_pairs(file: &str, pairs: Vec<(String, String)>) -> Self {
        let mut versions: BTreeMap<String, String> = BTreeMap::new();
        let mut forked = Vec::new();
        for (name, version) in pairs {
            let name = normalize_name(&name);
            match versions.get(&name) {
                Some(v) if *v != version => forked.push(name),
                _ => {
                    versions.insert(name, version);
                }
            }
        }
        for name in forked {
            versions.remove(&name);
        }
        Self {
            file: file.to_string(),
            versions,
        }
    }

    /// The versions as constraints for the resolver.
    pub fn constraints(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|(name, version)| format!("{name}=={version}"))
            .collect()
    }

    /// How many of `resolved` have the version this lock gives them.
    pub fn kept(&self, resolved: &[Resolved]) -> usize {
        resolved
            .iter()
            .filter(|p| self.versions.get(&p.name) == Some(&p.version))
            .count()
    }
}

/// `uv.lock` and `poetry.lock`: `[[package]]` tables with `name`, `version` and a `source`
/// saying where the release comes from.
fn toml_lock(text: &str, uv: bool) -> Result<Vec<(String, String)>, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
    let packages = doc
        .get("package")
        .and_then(|p| p.as_array())
        .ok_or("no [[package]] tables")?;
    let mut out = Vec::new();
    for package in packages {
        let (Some(name), Some(version)) = (
            package.get("name").and_then(|v| v.as_str()),
            package.get("version").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let source = package.get("source").and_then(|s| s.as_table());
        let from_index = if uv {
            // uv: `source = { registry = "…" }`; editable, virtual, git, path and url are not.
            source.is_some_and(|s| s.contains_key("registry"))
        } else {
            // Poetry: no source for the default index, `type = "legacy"` for another one.
            source.is_none_or(|s| {
                s.get("type")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t == "legacy")
            })
        };
        if from_index {
            out.push((name.to_string(), version.to_string()));
        }
    }
    Ok(out)
}

/// `Pipfile.lock`: JSON, `default` and `develop` mapping names to `{"version": "==X"}`; git
/// and path entries have no `version`.
fn pipfile_lock(text: &str) -> Result<Vec<(String, String)>, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for section in ["default", "develop"] {
        let Some(entries) = doc.get(section).and_then(|s| s.as_object()) else {
            continue;
        };
        for (name, entry) in entries {
            if let Some(version) = entry
                .get("version")
                .and_then(|v| v.as_str())
                .and_then(|v| v.strip_prefix("=="))
            {
                out.push((name.clone(), version.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(files: &[(&str, &str)]) -> Option<ForeignLock> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        ForeignLock::read(dir.path()).unwrap()
    }

    #[test]
    fn uv_lock_keeps_registry_releases_only() {
        let lock = read(&[(
            "uv.lock",
            r#"version = 1
requires-python = ">=3.12"

[[package]]
name = "Django"
version = "4.2.30"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "site"
version = "0.1.0"
source = { virtual = "." }

[[package]]
name = "lib"
version = "1.0"
source = { git = "https://example.invalid/lib.git?rev=v1#abc" }

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "numpy"
version = "2.1.0"
source = { registry = "https://example.invalid/simple" }
"#,
        )])
        .unwrap();
        assert_eq!(lock.file, "uv.lock");
        assert_eq!(lock.constraints(), ["django==4.2.30"]);
    }

    #[test]
    fn poetry_and_pipfile_locks() {
        let lock = read(&[(
            "poetry.lock",
            "[[package]]\nname = \"sqlparse\"\nversion = \"0.4.4\"\n\n[[package]]\nname = \"mine\"\nversion = \"1\"\n[package.source]\ntype = \"directory\"\nurl = \"libs/mine\"\n",
        )])
        .unwrap();
        assert_eq!(lock.constraints(), ["sqlparse==0.4.4"]);
        let lock = read(&[(
            "Pipfile.lock",
            r#"{"_meta": {}, "default": {"django": {"version": "==4.2.30", "hashes": []}, "x": {"git": "https://example.invalid/x.git"}}, "develop": {"pytz": {"version": "==2024.2"}}}"#,
        )])
        .unwrap();
        assert_eq!(lock.constraints(), ["django==4.2.30", "pytz==2024.2"]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Pipfile.lock"), "{").unwrap();
        let err = ForeignLock::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Pipfile.lock: not a lock"), "{err}");
    }

    #[test]
    fn pip_tools_output_is_a_lock() {
        let text = "#\n# pip-compile --generate-hashes\n#\nasgiref==3.7.2 \\\n    --hash=sha256:aa\n    # via django\ndjango==4.2.30 ; python_version >= \"3.8\" \\\n    --hash=sha256:bb\n";
        let lock = ForeignLock::from_hashed_requirements("requirements.txt", text).unwrap();
        assert_eq!(lock.constraints(), ["asgiref==3.7.2", "django==4.2.30"]);
        assert!(ForeignLock::from_hashed_requirements("r.txt", "django==4.2\n").is_none());
        let compiled = "# pip-compile\nasgiref==3.6.0\n    # via django\ndjango-recaptcha==3.0.0\n\
            -e ./local\nx @ https://example.invalid/x.whl\n";
        let lock = ForeignLock::from_compiled_requirements("requirements.txt", compiled).unwrap();
        assert_eq!(
            lock.constraints(),
            ["asgiref==3.6.0", "django-recaptcha==3.0.0"]
        );
    }
}
