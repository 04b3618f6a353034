//! Resolving for interpreters uv refuses (Python 2.7 and 3.0–3.5), with pip 20.3.4.
//!
//! uv will neither resolve for nor install into a Python older than 3.6, and pip 20.3.4 is the
//! last pip that runs on 2.7 (and on 3.5). So for those interpreters pyenvx runs that pip, from
//! its unpacked wheel, under the project's
//! own interpreter, so markers and `Requires-Python` are judged by the Python that will run the
//! code. It resolves with `pip download` into a scratch directory, with the project's index
//! settings as flags and otherwise the user's pip configuration, exactly as pip would alone.
//! pyenvx then hashes each downloaded file and records where pip found it, so the lock is the
//! same `pyenvx.lock` as for a modern project: every file pinned by SHA-256, exported the same
//! way, checked the same way by `sync --locked` and `status`.
//!
//! Installing needs no pip: the store unpacks plain wheels itself (see `crate::store`) and links
//! them into `.venv` like any other. What the store leaves to an installer (sdists to build,
//! wheels with data files) is refused with a clear error, since uv cannot install it there.
//!
//! Two differences from a modern lock: pip names the one file it chose for this interpreter, not
//! every file of a release, so a lock of a package with compiled wheels fits this platform only;
//! and pip's resolver (the legacy one, on Python 2) is slower than uv's, though a resolution is
//! cached by its inputs like any other.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use pep440_rs::Version;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{normalize_name, DistFile, IndexSettings, Resolved, Uv};
use crate::dirs::Dirs;
use crate::filelock::FileLock;
use crate::reporter::Reporter;
use crate::user_error;

/// The last pip for Python 2.7 and 3.5, pinned by its hash: it runs with the project's
/// interpreter and decides what goes into the lock.
const PIP_VERSION: &str = "20.3.4";
const PIP_WHEEL: &str = "pip-20.3.4-py2.py3-none-any.whl";
const PIP_SHA256: &str = "217ae5161a0e08c0fb873858806e3478c9775caffce5168b50ec885e358c199d";

/// How to get an old interpreter's packages when uv cannot.
const WAYS_OUT: &str = "set PYENVX_INDEX_URL (or PYENVX_FIND_LINKS) to an index that serves \
                        pip 20.3.4, or install pip into the interpreter (`python -m ensurepip`)";

/// What the store gets instead of uv for these interpreters. It unpacks plain wheels itself and
/// hands only the rest to uv, which refuses Pythons before 3.6 anyway, so finding or installing uv
/// (on a machine with only a Python 2, by downloading a Python 3 to bootstrap it) would buy
/// nothing. Anything that reaches this one fails to start, and the caller says why.
pub fn no_uv() -> Uv {
    Uv {
        exe: PathBuf::from("/nonexistent/uv-refuses-python-before-3.6"),
        version: String::new(),
    }
}

/// Whether uv refuses `version` and pip resolves for it instead.
pub fn needs_pip(version: &Version) -> bool {
    match version.release() {
        [2, ..] => true,
        [3, minor, ..] => *minor < 6,
        _ => false,
    }
}

/// Runs under the project's interpreter (2.7 or 3.x): pip's `download` with one hook that
/// records, for each file pip saves, the URL pip found it at and the version it is. The hook is
/// on pip 20.3.4's `RequirementPreparer.save_linked_requirement`, which is stable because the pip
/// is pinned.
const DRIVER: &str = r#"
import json, sys
sys.path = [p for p in sys.path if p not in ("", ".")]
pip_dir, out_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, pip_dir)
from pip._internal.operations import prepare
saved = []
original = prepare.RequirementPreparer.save_linked_requirement
def save(self, req):
    version = None
    try:
        version = str(req.metadata["Version"])
    except Exception:
        pass
    saved.append({"name": req.name, "version": version, "file": req.link.filename,
                  "url": req.link.url_without_fragment})
    return original(self, req)
prepare.RequirementPreparer.save_linked_requirement = save
from pip._internal.cli.main import main
status = main(sys.argv[3:])
with open(out_path, "w") as f:
    json.dump(saved, f)
sys.exit(status)
"#;

#[derive(Debug, Deserialize)]
struct Saved {
    name: String,
    version: Option<String>,
    file: String,
    url: String,
}

/// pip 20.3.4, unpacked under `tools/pip-legacy/pip-20.3.4/` (a directory to put on `sys.path`):
/// its wheel fetched once, hash-checked, by the interpreter's own pip or by the pip wheel its
/// `ensurepip` bundles. Unpacked rather than run as a zip because pip's vendored certifi cannot
/// hand its CA bundle to OpenSSL from inside a zip.
pub fn pip_dir(
    dirs: &Dirs,
    python: &Path,
    index: &IndexSettings,
    offline: bool,
    reporter: &dyn Reporter,
) -> Result<PathBuf> {
    let dir = dirs.tools().join("pip-legacy");
    let unpacked = dir.join(format!("pip-{PIP_VERSION}"));
    if unpacked.join("pip").is_dir() {
        return Ok(unpacked);
    }
    let _lock = FileLock::acquire(&dirs.locks().join("pip-legacy.lock"), || {
        reporter.waiting_for_lock("pip 20.3.4")
    })?;
    if unpacked.join("pip").is_dir() {
        return Ok(unpacked);
    }
    fs_err::create_dir_all(&dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".tmp-pip-")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot create a temporary directory in {}", dir.display()))?;
    let requirements = staging.path().join("requirements.txt");
    fs_err::write(
        &requirements,
        format!("pip=={PIP_VERSION} --hash=sha256:{PIP_SHA256}\n"),
    )?;
    let own_pip = [std::ffi::OsString::from("-m"), "pip".into()];
    let bundled;
    let mut runner: &[std::ffi::OsString] = &own_pip;
    let has_pip = Command::new(python)
        .args(["-E", "-s", "-c", "import pip"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pip {
        let wheel = super::bootstrap::bundled_pip(python).map_err(|e| {
            user_error!(
                hint = WAYS_OUT,
                "cannot get pip {PIP_VERSION} for {}: it has no pip, and {e}",
                python.display()
            )
        })?;
        bundled = [wheel.join("pip").into_os_string()];
        runner = &bundled;
    }
    let id = reporter.download_start(&format!("pip {PIP_VERSION}"), None);
    let mut cmd = Command::new(python);
    crate::children::die_with_pyenvx(&mut cmd);
    cmd.arg("-E")
        .arg("-s")
        .args(runner)
        .args(["download", "--no-deps", "--only-binary", ":all:"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .arg("--dest")
        .arg(staging.path())
        .arg("-r")
        .arg(&requirements)
        .args(index.args())
        .args(offline.then_some("--no-index"))
        .current_dir(staging.path())
        .stdin(Stdio::null());
    crate::certs::for_pip(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", python.display()));
    reporter.download_done(id);
    let out = out?;
    if !out.status.success() {
        return Err(super::bootstrap::pip_error(
            &format!("cannot get pip {PIP_VERSION}"),
            &String::from_utf8_lossy(&out.stderr),
            WAYS_OUT,
        ));
    }
    let tree = staging.path().join("tree");
    zip::ZipArchive::new(fs_err::File::open(staging.path().join(PIP_WHEEL))?)
        .and_then(|mut zip| zip.extract(&tree))
        .with_context(|| format!("cannot unpack {PIP_WHEEL}"))?;
    fs_err::rename(&tree, &unpacked)?;
    Ok(unpacked)
}

/// Resolve `requirements` for the old interpreter `python` with pip 20.3.4: every release to
/// install, with the file pip chose for it, sorted by name.
pub fn resolve(
    pip: &Path,
    python: &Path,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
    offline: bool,
) -> Result<Vec<Resolved>> {
    if requirements.is_empty() {
        return Ok(Vec::new());
    }
    let tmp = tempfile::Builder::new()
        .prefix("pyenvx-resolve-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let input = super::write_input(tmp.path(), requirements, constraints)?;
    let dest = tmp.path().join("files");
    let record = tmp.path().join("saved.json");
    let mut cmd = Command::new(python);
    crate::children::die_with_pyenvx(&mut cmd);
    cmd.args(["-E", "-s", "-c", DRIVER])
        .arg(pip)
        .arg(&record)
        .args(["download", "--prefer-binary", "--progress-bar", "off"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .arg("--dest")
        .arg(&dest)
        .arg("-r")
        .arg(&input)
        .args(index.args())
        .args(offline.then_some("--no-index"))
        .current_dir(tmp.path())
        .stdin(Stdio::null());
    crate::certs::for_pip(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(no_solution_or_failure(&requirements.join(", "), &stderr));
    }
    let saved: Vec<Saved> = serde_json::from_slice(&fs_err::read(&record)?)
        .context("cannot read what pip downloaded")?;
    let mut packages = Vec::new();
    for s in saved {
        let path = dest.join(&s.file);
        let bytes = fs_err::read(&path)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let version = s
            .version
            .or_else(|| version_from_file(&s.file))
            .with_context(|| format!("cannot tell the version of {}", s.file))?;
        packages.push(Resolved {
            name: normalize_name(&s.name),
            version,
            files: vec![DistFile {
                file: s.file,
                url: without_credentials(&s.url),
                sha256,
            }],
            direct: false,
            vcs: None,
            directory: None,
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    crate::resolution::validate_packages(&packages)
        .map_err(|e| anyhow::anyhow!("pip's resolution cannot be locked: {e}"))?;
    Ok(packages)
}

/// A wheel's version (its second dash-separated field), or an sdist's (after the last dash).
fn version_from_file(file: &str) -> Option<String> {
    if let Some(stem) = file.strip_suffix(".whl") {
        return stem.split('-').nth(1).map(str::to_string);
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    stem.rsplit_once('-').map(|(_, v)| v.to_string())
}

/// The lock is committed: an index URL's `user:password@` must not end up in it.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

/// pip's `ERROR:` lines as a user error; "no matching distribution" as a resolution failure.
fn no_solution_or_failure(subject: &str, stderr: &str) -> anyhow::Error {
    if stderr.contains("No matching distribution found")
        || stderr.contains("Could not find a version that satisfies")
        || stderr.contains("ResolutionImpossible")
        || stderr.contains("conflicting dependencies")
    {
        let err = super::bootstrap::pip_error(
            &format!("no versions satisfy {subject} on this Python (pip 20.3.4)"),
            stderr,
            "check the pins against what the index offers for this Python version",
        );
        // A certificate pip could not verify stays that error; anything else is no solution.
        if crate::certs::classify(stderr).is_some() {
            return err;
        }
        return match err.downcast::<crate::error::UserError>() {
            Ok(user) => anyhow::Error::new(user.kind(crate::error::Kind::NoSolution)),
            Err(other) => other,
        };
    }
    super::bootstrap::pip_error(
        &format!("pip 20.3.4 could not resolve {subject}"),
        stderr,
        "use --offline to work from pip's cache, or set PYENVX_INDEX_URL / PYENVX_FIND_LINKS",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn pip_resolves_for_python_2_and_3_before_3_6() {
        let v = |s: &str| Version::from_str(s).unwrap();
        for old in ["2.7.18", "3.5.10", "3.4.10"] {
            assert!(needs_pip(&v(old)), "{old}");
        }
        for new in ["3.6.15", "3.7.16", "3.13.0"] {
            assert!(!needs_pip(&v(new)), "{new}");
        }
    }

    #[test]
    fn versions_and_urls_from_pips_links() {
        assert_eq!(
            version_from_file("Django-1.11.29-py2.py3-none-any.whl").as_deref(),
            Some("1.11.29")
        );
        assert_eq!(
            version_from_file("python-dateutil-2.8.2.tar.gz").as_deref(),
            Some("2.8.2")
        );
        assert_eq!(
            without_credentials("https://u:p@host/files/a.whl"),
            "https://host/files/a.whl"
        );
        assert_eq!(
            without_credentials("file:///srv/wheels/a.whl"),
            "file:///srv/wheels/a.whl"
        );
    }
}
