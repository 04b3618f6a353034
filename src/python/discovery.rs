//! Interpreters already on the machine: `python3.X` (and the old `python2.7`) on PATH and pyenv's
//! own installs.
//!
//! Each candidate is asked once for its facts (version, free-threading, prefix); the answers are
//! cached by path, size and mtime, so a later run pays for a few `stat`s only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::UNIX_EPOCH;

use anyhow::Result;
use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::fs::write_atomic;
use crate::python::request::PythonRequest;

/// Where a found interpreter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Path,
    Pyenv,
}

/// An interpreter found on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub path: PathBuf,
    pub version: Version,
    pub freethreaded: bool,
    pub prefix: PathBuf,
    pub origin: Origin,
}

/// The answers an interpreter gives about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Facts {
    version: String,
    implementation: String,
    freethreaded: bool,
    prefix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    mtime_ns: u128,
    size: u64,
    facts: Option<Facts>,
}

/// Runs under every Python from 2.7 on, so an old interpreter answers instead of crashing. Python
/// 2 has no `-I`, so the working directory is dropped from `sys.path` here instead: a `json.py`
/// in it must not answer for the interpreter.
const QUERY: &str = r#"
import sys
sys.path = [p for p in sys.path if p not in ("", ".")]
import json, platform
try:
    import sysconfig
    ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
except Exception:
    ft = False
v = sys.version_info
pre = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v[3], "")
ver = "%d.%d.%d" % (v[0], v[1], v[2]) + (pre + str(v[4]) if pre else "")
print(json.dumps({"version": ver, "implementation": platform.python_implementation().lower(),
                  "freethreaded": ft, "prefix": sys.prefix}))
"#;

/// Candidate executables, in search order: PATH (skipping `skip_dirs`, e.g. our own shims), then
/// `$PYENV_ROOT/versions/*/bin/python3` (`bin/python2.7` or `bin/python` for a pyenv 2.7, which
/// has no `python3`).
pub fn candidates(skip_dirs: &[PathBuf]) -> Vec<(PathBuf, Origin)> {
    let mut out = Vec::new();
    let pyenv = pyenv_root();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // pyenv's own shims (and its plugins') are bash scripts that re-dispatch on the
            // working directory; its real interpreters are found under `versions/` below.
            let pyenv_shims = pyenv.as_ref().is_some_and(|root| dir.starts_with(root));
            if dir.as_os_str().is_empty() || pyenv_shims || skip_dirs.iter().any(|s| s == &dir) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_python_name(n))
                .collect();
            names.sort();
            out.extend(names.into_iter().map(|n| (dir.join(n), Origin::Path)));
        }
    }
    if let Some(root) = pyenv {
        if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
            let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for dir in dirs {
                if let Some(exe) = pyenv_executable(&dir) {
                    out.push((exe, Origin::Pyenv));
                }
            }
        }
    }
    out
}

fn pyenv_root() -> Option<PathBuf> {
    match std::env::var_os("PYENV_ROOT").filter(|v| !v.is_empty()) {
        Some(root) => Some(PathBuf::from(root)),
        None => ::dirs::home_dir().map(|h| h.join(".pyenv")),
    }
}

/// The interpreter of one pyenv `versions/<name>` directory: `bin/python3`, else the versioned
/// name its directory implies (`2.7.18` → `bin/python2.7`), else `bin/python`.
fn pyenv_executable(dir: &Path) -> Option<PathBuf> {
    let bin = dir.join("bin");
    let versioned = dir.file_name().and_then(|n| {
        let mut parts = n.to_str()?.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits(major) && digits(minor)).then(|| format!("python{major}.{minor}"))
    });
    ["python3".to_string()]
        .into_iter()
        .chain(versioned)
        .chain(["python".to_string()])
        .map(|name| bin.join(name))
        .find(|exe| exe.exists())
}

/// `python3` or `python3.12` / `python3.13t`, and the Python 2 names `python2` / `python2.7`; not
/// `python3-config`, not `python3.12-gdb.py`, not a bare `python` (on most systems a link to one
/// of the others, or to Python 2 where a distribution still ships it as `python`).
fn is_python_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("python3")
        .or_else(|| name.strip_prefix("python2"))
    else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(minor) = rest.strip_prefix('.') else {
        return false;
    };
    let minor = minor.strip_suffix('t').unwrap_or(minor);
    !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit())
}

/// Whether pyenvx can use an interpreter of `version`: CPython 3.5 or newer, or 2.7. Older ones
/// are left out because pip 20.3.4, which resolves for the old ones, runs on neither 2.6 nor
/// 3.0–3.4 (and no Django still in use supports them).
pub fn is_usable_version(version: &Version) -> bool {
    match version.release() {
        [2, 7, ..] => true,
        [3, minor, ..] => *minor >= 5,
        _ => false,
    }
}

/// Every CPython 3 (and 2.7) found on the machine, each real binary once.
pub fn find_all(dirs: &Dirs, skip_dirs: &[PathBuf]) -> Result<Vec<Found>> {
    find_where(dirs, skip_dirs, None)
}

/// What [`find_all`] finds that can satisfy `request`, for less: a request for one minor
/// (`3.12`) asks only the candidates whose name allows it (`python3.12`, pyenv's `3.12.*`, and
/// names that say no version such as `python3`, unless the file they link to does), not every
/// interpreter on the machine, each of which costs an interpreter start-up when its answer is
/// not cached.
pub fn find_for(dirs: &Dirs, skip_dirs: &[PathBuf], request: &PythonRequest) -> Result<Vec<Found>> {
    find_where(dirs, skip_dirs, request.minor())
}

/// Whether the candidate `path` can be a Python `minor`, judged by its name alone: the minor in
/// `python3.12` / `python3.13t` on PATH, or in pyenv's version directory (`3.12.1`, `3.13.0t`,
/// `3.14-dev`). A name that says nothing (`python3`, a pyenv virtualenv's `myproject`) can.
fn may_be(path: &Path, origin: Origin, minor: (u64, u64)) -> bool {
    let name = match origin {
        Origin::Path => path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("python")),
        Origin::Pyenv => path
            .parent()
            .and_then(Path::parent)
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str()),
    };
    name.and_then(leading_minor).is_none_or(|m| m == minor)
}

/// `3.12` from `3.12`, `3.12.1`, `3.13t`, `3.14-dev`; `None` when the name does not start with
/// a major and a minor.
fn leading_minor(name: &str) -> Option<(u64, u64)> {
    let (major, rest) = name.split_once('.')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if major.is_empty() || !major.chars().all(|c| c.is_ascii_digit()) || digits == 0 {
        return None;
    }
    Some((major.parse().ok()?, rest[..digits].parse().ok()?))
}

fn find_where(dirs: &Dirs, skip_dirs: &[PathBuf], minor: Option<(u64, u64)>) -> Result<Vec<Found>> {
    find_among(dirs, candidates(skip_dirs), minor)
}

/// The interpreters among `candidates` (in search order), asking only those that may be
/// `minor` when one is given.
fn find_among(
    dirs: &Dirs,
    candidates: Vec<(PathBuf, Origin)>,
    minor: Option<(u64, u64)>,
) -> Result<Vec<Found>> {
    let cache_path = dirs.interpreter_cache();
    let mut cache: BTreeMap<String, CacheEntry> = std::fs::read_to_string(&cache_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut dirty = false;

    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::new();
    for (path, origin) in candidates {
        if minor.is_some_and(|m| !may_be(&path, origin, m)) {
            continue;
        }
        let Ok(real) = std::fs::canonicalize(&path) else {
            continue;
        };
        // `python3` says no version, but the binary it links to usually does (`python3.11`).
        if minor.is_some_and(|m| !may_be(&real, Origin::Path, m)) {
            continue;
        }
        if seen.insert(real.clone()) {
            unique.push((path, real, origin));
        }
    }

    // Query the uncached ones in parallel: each costs one interpreter start-up.
    let stamps: Vec<Option<(u128, u64)>> = unique.iter().map(|(_, real, _)| stamp(real)).collect();
    let to_query: Vec<usize> = (0..unique.len())
        .filter(|&i| {
            let key = unique[i].1.to_string_lossy().into_owned();
            match (cache.get(&key), stamps[i]) {
                (Some(e), Some((m, s))) => e.mtime_ns != m || e.size != s,
                (None, Some(_)) => true,
                (_, None) => false,
            }
        })
        .collect();
    let answers: Vec<(usize, Option<Facts>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = to_query
            .iter()
            .map(|&i| {
                let path = unique[i].1.clone();
                scope.spawn(move || (i, query(&path)))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (i, facts) in answers {
        if let Some((mtime_ns, size)) = stamps[i] {
            cache.insert(
                unique[i].1.to_string_lossy().into_owned(),
                CacheEntry {
                    mtime_ns,
                    size,
                    facts,
                },
            );
            dirty = true;
        }
    }
    if dirty {
        if let Ok(text) = serde_json::to_string(&cache) {
            let _ = write_atomic(&cache_path, text.as_bytes());
        }
    }

    let mut found = Vec::new();
    for (path, real, origin) in unique {
        let Some(entry) = cache.get(real.to_string_lossy().as_ref()) else {
            continue;
        };
        let Some(facts) = &entry.facts else { continue };
        if facts.implementation != "cpython" {
            continue;
        }
        let Ok(version) = Version::from_str(&facts.version) else {
            continue;
        };
        if !is_usable_version(&version) {
            continue;
        }
        found.push(Found {
            path,
            version,
            freethreaded: facts.freethreaded,
            prefix: PathBuf::from(&facts.prefix),
            origin,
        });
    }
    Ok(found)
}

fn stamp(path: &Path) -> Option<(u128, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((mtime, meta.len()))
}

/// Ask an interpreter about itself; `None` when it does not answer like a Python.
fn query(path: &Path) -> Option<Facts> {
    let output = Command::new(path)
        // Not `-I`: Python 2 rejects it. `-E` and `-s` are its parts that every version accepts,
        // `-S` skips site-packages altogether, and QUERY drops the working directory itself.
        .args(["-E", "-s", "-S", "-c", QUERY])
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// Ask one specific interpreter (a path the user gave).
pub fn inspect(path: &Path) -> Option<Found> {
    let facts = query(path)?;
    let version = Version::from_str(&facts.version).ok()?;
    Some(Found {
        path: path.to_path_buf(),
        version,
        freethreaded: facts.freethreaded,
        prefix: PathBuf::from(facts.prefix),
        origin: Origin::Path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::request::select_best;

    #[test]
    fn reads_the_minor_a_name_promises() {
        for (name, minor) in [
            ("3.12", Some((3, 12))),
            ("3.12.1", Some((3, 12))),
            ("3.13.0t", Some((3, 13))),
            ("3.14-dev", Some((3, 14))),
            ("3.1", Some((3, 1))),
            ("3", None),
            ("3.", None),
            ("pypy3.10-7.3.17", None),
            ("myproject", None),
        ] {
            assert_eq!(leading_minor(name), minor, "{name}");
        }
        let path = |p: &str| PathBuf::from(p);
        assert!(may_be(&path("/usr/bin/python3"), Origin::Path, (3, 12)));
        assert!(may_be(&path("/usr/bin/python3.12"), Origin::Path, (3, 12)));
        assert!(may_be(&path("/usr/bin/python3.13t"), Origin::Path, (3, 13)));
        assert!(!may_be(&path("/usr/bin/python3.1"), Origin::Path, (3, 12)));
        assert!(!may_be(&path("/usr/bin/python3.11"), Origin::Path, (3, 12)));
        let pyenv = |v: &str| PathBuf::from(format!("/p/versions/{v}/bin/python3"));
        assert!(may_be(&pyenv("3.12.1"), Origin::Pyenv, (3, 12)));
        assert!(may_be(&pyenv("venv-of-anything"), Origin::Pyenv, (3, 12)));
        assert!(!may_be(&pyenv("3.10.13"), Origin::Pyenv, (3, 12)));
    }

    #[test]
    fn recognises_interpreter_names() {
        for ok in [
            "python3",
            "python3.12",
            "python3.13t",
            "python3.5",
            "python2.7",
            "python2",
        ] {
            assert!(is_python_name(ok), "{ok}");
        }
        for bad in [
            "python3-config",
            "python3.12-config",
            "python3.12-gdb.py",
            "python",
            "python2.7-config",
            "python3.",
        ] {
            assert!(!is_python_name(bad), "{bad}");
        }
    }

    #[test]
    fn python_2_7_and_3_5_are_usable_older_ones_are_not() {
        let v = |s: &str| Version::from_str(s).unwrap();
        for ok in ["2.7.18", "3.5.10", "3.13.0"] {
            assert!(is_usable_version(&v(ok)), "{ok}");
        }
        for bad in ["2.6.9", "1.6", "3.4.10", "3.0.1", "4.0"] {
            assert!(!is_usable_version(&v(bad)), "{bad}");
        }
    }

    #[test]
    fn a_pyenv_2_7_is_found_by_its_versioned_name() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let old = tmp.path().join("2.7.18");
        std::fs::create_dir_all(old.join("bin")).unwrap();
        std::fs::write(old.join("bin/python"), "").unwrap();
        assert_eq!(pyenv_executable(&old), Some(old.join("bin/python")));
        std::fs::write(old.join("bin/python2.7"), "").unwrap();
        assert_eq!(pyenv_executable(&old), Some(old.join("bin/python2.7")));
        let new = tmp.path().join("3.12.1");
        std::fs::create_dir_all(new.join("bin")).unwrap();
        std::fs::write(new.join("bin/python3.12"), "").unwrap();
        std::fs::write(new.join("bin/python3"), "").unwrap();
        assert_eq!(pyenv_executable(&new), Some(new.join("bin/python3")));
        assert_eq!(pyenv_executable(&tmp.path().join("empty")), None);
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        /// Asking only the candidates whose names allow the minor picks what asking all of them
        /// picks, and leaves the rest unasked (nothing about them in the cache).
        #[test]
        fn a_request_for_one_minor_asks_only_the_interpreters_that_can_be_it() {
            let versions = crate::test_machine::pyenv_versions_dir();
            let mut all: Vec<(PathBuf, Origin)> = std::fs::read_dir(&versions)
                .unwrap_or_else(|e| panic!("no pyenv versions at {}: {e}", versions.display()))
                .flatten()
                .map(|e| (e.path().join("bin/python3"), Origin::Pyenv))
                .filter(|(p, _)| p.exists())
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            let minors: Vec<String> = ["3.10", "3.12", "3.13"]
                .into_iter()
                .filter(|m| crate::test_machine::find_pyenv_python(m).is_some())
                .map(String::from)
                .collect();
            assert_eq!(
                minors.len(),
                3,
                "needs pyenv's 3.10, 3.12 and 3.13 under {} (set {})",
                versions.display(),
                crate::test_machine::PYENV_ROOT_VAR
            );
            let tmp = crate::test_machine::tempdir().unwrap();
            // A `python3` on PATH says no version; the binary it links to does.
            let path_dir = tmp.path().join("bin");
            std::fs::create_dir(&path_dir).unwrap();
            let py310 = crate::test_machine::find_pyenv_python("3.10").map(|p| p.python());
            if let Some(target) = &py310 {
                std::os::unix::fs::symlink(target, path_dir.join("python3")).unwrap();
                all.insert(0, (path_dir.join("python3"), Origin::Path));
            }
            let every = Dirs::new(tmp.path().join("all"), tmp.path().join("all-cache"));
            let found_all = find_among(&every, all.clone(), None).unwrap();
            for minor in &minors {
                let request = PythonRequest::parse(minor).unwrap();
                let dirs = Dirs::new(
                    tmp.path().join(minor),
                    tmp.path().join(format!("{minor}-c")),
                );
                let found = find_among(&dirs, all.clone(), request.minor()).unwrap();
                let pick = |f: &[Found]| {
                    select_best(&request, f, |f| (&f.version, f.freethreaded)).cloned()
                };
                let picked = pick(&found);
                assert!(picked.is_some(), "{minor}: nothing found in {found:?}");
                assert_eq!(picked, pick(&found_all), "{minor}");
                let cache = std::fs::read_to_string(dirs.interpreter_cache()).unwrap();
                let asked: BTreeMap<String, CacheEntry> = serde_json::from_str(&cache).unwrap();
                assert!(
                    asked.keys().all(|k| k.contains(&format!("/{minor}"))),
                    "{minor}: asked {:?}",
                    asked.keys()
                );
            }
        }

        /// The query itself must run on Python 2.7, which rejects `-I` and `print(…, end=…)`.
        #[test]
        fn python_2_7_answers_the_query() {
            let py = crate::test_machine::pyenv_python("2.7");
            let found = inspect(&py.python()).expect("2.7 answered the query");
            assert_eq!(found.version.to_string(), py.version);
            assert!(!found.freethreaded);
            assert_eq!(found.prefix, py.prefix);
        }

        /// A `json.py` in the working directory does not answer for the interpreter (`-I` kept
        /// it out before; Python 2 has no `-I`).
        #[test]
        fn the_working_directory_does_not_shadow_the_query() {
            let py = crate::test_machine::pyenv_python("3.12");
            let tmp = crate::test_machine::tempdir().unwrap();
            std::fs::write(tmp.path().join("json.py"), "raise SystemExit(3)\n").unwrap();
            let output = Command::new(py.python())
                .current_dir(tmp.path())
                .args(["-E", "-s", "-S", "-c", QUERY])
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
        }
    }
}
