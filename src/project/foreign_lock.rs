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
    /// What pip-compile leaves to the environment ("considered to be unsafe in a requirements
    /// file": setuptools, pip), unpinned: the project ran with the environment's own.
    pub from_environment: Vec<String>,
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
        (!pairs.is_empty()).then(|| Self::from_pairs(file, pairs).with_environment(text))
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
        (!pairs.is_empty()).then(|| Self::from_pairs(file, pairs).with_environment(text))
    }

    /// The `# name` lines under pip-compile's "considered to be unsafe" header.
    fn with_environment(mut self, text: &str) -> Self {
        let mut lines = text
            .lines()
            .skip_while(|l| !l.contains("considered to be unsafe"));
        lines.next();
        self.from_environment = lines
            .map_while(|l| l.trim().strip_prefix('#'))
            .map(|n| normalize_name(n.trim()))
            .filter(|n| !n.is_empty() && !self.versions.contains_key(n))
            .collect();
        self
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
            from_environment: Vec::new(),
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

/// A version of the project's own lock that pyenvx's could not keep, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unkept {
    /// `name==version`, as the lock has it.
    pub pin: String,
    /// The resolver's words about it, in one short line.
    pub why: String,
}

/// The most resolutions one adoption may try before it gives up on the lock's versions: a
/// stale lock conflicts in a handful of places, and each try is a resolver run.
const MAX_TRIES: usize = 24;

/// Resolve with as many of `seeds` (`name==version`) as hold: when `resolve` fails because
/// some cannot (no solution, or a locked release that does not build here), the pins its
/// explanation names are left out and it runs again; when it names none of them, the smallest
/// failing prefix of the pins is found by bisection and its last pin left out. Every other
/// locked version is kept, so one stale pin does not cost the other hundred. Other failures
/// (an unreachable index) are returned as they are, and so is the failure without any pin,
/// which is the requirements' own.
pub fn resolve_keeping<T>(
    seeds: &[String],
    mut resolve: impl FnMut(&[String]) -> Result<T>,
) -> Result<(T, Vec<Unkept>)> {
    let mut kept: Vec<String> = seeds.to_vec();
    let mut unkept: Vec<Unkept> = Vec::new();
    let mut tries = 0;
    loop {
        tries += 1;
        let err = match resolve(&kept) {
            Ok(t) => return Ok((t, unkept)),
            Err(e) if kept.is_empty() || !crate::installer::is_seed_conflict(&e) => return Err(e),
            Err(e) => e,
        };
        let text = format!("{err:#}");
        let named: Vec<String> = kept
            .iter()
            .filter(|pin| names_pin(&text, pin))
            .cloned()
            .collect();
        if tries >= MAX_TRIES {
            // Too tangled to untie one pin at a time: the requirements alone decide.
            let why = format!("not tried: more than {MAX_TRIES} resolutions found conflicts");
            unkept.extend(kept.drain(..).map(|pin| Unkept {
                pin,
                why: why.clone(),
            }));
            continue;
        }
        if !named.is_empty() {
            for pin in named {
                kept.retain(|k| *k != pin);
                let why = reason(&text, &pin);
                unkept.push(Unkept { pin, why });
            }
            continue;
        }
        // The explanation names none of the pins (a conflict through their dependencies):
        // pins only ever narrow a resolution, so the first prefix that fails ends in a culprit.
        let (mut ok, mut fails) = (0, kept.len());
        let mut failure = err;
        while ok < fails && tries < MAX_TRIES {
            let mid = (ok + fails) / 2;
            tries += 1;
            match resolve(&kept[..mid]) {
                Ok(_) => ok = mid + 1,
                Err(e) if !crate::installer::is_seed_conflict(&e) => return Err(e),
                Err(e) => {
                    fails = mid;
                    failure = e;
                }
            }
        }
        if fails == 0 {
            // Without a single pin it fails: the requirements themselves do not resolve.
            return Err(failure);
        }
        let pin = kept.remove(fails - 1);
        unkept.push(Unkept {
            pin,
            why: "conflicts with the requirements or the other locked versions".to_string(),
        });
    }
}

/// Whether `text` names `pin` (`name==version`) as a whole, not as the start of a longer
/// version or the end of a longer name.
fn names_pin(text: &str, pin: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    text.match_indices(pin).any(|(at, m)| {
        let before = text[..at].chars().next_back();
        let mut after = text[at + m.len()..].chars();
        // `1.0` is not named by `1.0.1` nor `1.0+local`; a sentence's full stop is no digit.
        let continues = match after.next() {
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, '+' | '*') => true,
            Some('.') => after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        };
        !before.is_some_and(name_char) && !continues
    })
}

/// The resolver's sentence about `pin`, shortened to what it says: uv's "Because …, we can
/// conclude that …" becomes its reason, and a build failure its first words.
fn reason(text: &str, pin: &str) -> String {
    let sentence = text
        .split(['\n', ';'])
        .flat_map(|l| l.split(". "))
        .map(str::trim)
        .find(|s| names_pin(s, pin))
        .unwrap_or("");
    let sentence = sentence
        .trim_start_matches("cause:")
        .trim()
        .trim_start_matches("Because ")
        .trim_start_matches("And because ")
        .trim_start_matches("and because ");
    let sentence = sentence
        .split(", we can conclude")
        .next()
        .unwrap_or(sentence)
        .trim_end_matches('.');
    let mut out: String = sentence.chars().take(140).collect();
    if out.len() < sentence.len() {
        out.push('…');
    }
    if out.is_empty() {
        out = "does not resolve for this Python".to_string();
    }
    out
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
        let dir = crate::test_machine::tempdir().unwrap();
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
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(dir.path().join("Pipfile.lock"), "{").unwrap();
        let err = ForeignLock::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Pipfile.lock: not a lock"), "{err}");
    }

    /// A resolver stand-in: `conflict` holds pins that cannot all be kept together; `named`
    /// says whether its explanation names them, as uv's usually does.
    fn resolver<'a>(
        conflict: &'static [&'static str],
        named: bool,
        runs: &'a std::cell::Cell<usize>,
    ) -> impl FnMut(&[String]) -> Result<usize> + 'a {
        move |kept: &[String]| {
            runs.set(runs.get() + 1);
            if conflict.iter().all(|c| kept.iter().any(|k| k == c)) {
                let because = if named {
                    format!("Because you require {}", conflict.join(" and "))
                } else {
                    "Because some dependency conflicts".to_string()
                };
                return Err(anyhow::Error::new(
                    crate::error::UserError::new(format!(
                        "no versions satisfy x:\n  {because}, we can conclude that your requirements are unsatisfiable."
                    ))
                    .kind(crate::error::Kind::NoSolution),
                ));
            }
            Ok(kept.len())
        }
    }

    fn pins(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_pins_the_resolver_names_are_left_out() {
        let runs = std::cell::Cell::new(0);
        let seeds = pins(&["a==1", "b==2.0", "b==2.0.1x", "c==3"]);
        let (kept, unkept) =
            resolve_keeping(&seeds, resolver(&["b==2.0", "c==3"], true, &runs)).unwrap();
        assert_eq!(kept, 2, "a==1 and the longer b version stay");
        assert_eq!(runs.get(), 2);
        let left: Vec<&str> = unkept.iter().map(|u| u.pin.as_str()).collect();
        assert_eq!(left, ["b==2.0", "c==3"]);
        assert_eq!(unkept[0].why, "you require b==2.0 and c==3");
    }

    #[test]
    fn unnamed_conflicts_are_bisected_to_one_pin() {
        let runs = std::cell::Cell::new(0);
        let seeds: Vec<String> = (0..16).map(|i| format!("p{i}==1")).collect();
        let (kept, unkept) =
            resolve_keeping(&seeds, resolver(&["p3==1", "p9==1"], false, &runs)).unwrap();
        assert_eq!(kept, 15);
        assert_eq!(unkept.len(), 1);
        assert_eq!(
            unkept[0].pin, "p9==1",
            "the later of the two, the first failing prefix's last"
        );
        assert!(runs.get() <= 8, "{} runs", runs.get());
    }

    #[test]
    fn the_requirements_own_failure_and_other_errors_come_back() {
        let runs = std::cell::Cell::new(0);
        // Fails even with no pin: the requirements' own conflict, returned.
        let err = resolve_keeping(&pins(&["a==1"]), resolver(&[], false, &runs)).unwrap_err();
        assert!(err.to_string().starts_with("no versions satisfy"), "{err}");
        let err = resolve_keeping(&pins(&["a==1"]), |_: &[String]| -> Result<()> {
            Err(user_error!("the package index is unreachable (dns error)"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("unreachable"), "{err}");
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
        assert!(lock.from_environment.is_empty());
        let unsafe_ = format!(
            "{compiled}\n# The following packages are considered to be unsafe in a requirements file:\n# pip\n# setuptools\n"
        );
        let lock = ForeignLock::from_compiled_requirements("requirements.txt", &unsafe_).unwrap();
        assert_eq!(lock.from_environment, ["pip", "setuptools"]);
    }
}
