//! Installing uv for pyenvx's own use, with no `pip install`.
//!
//! uv ships as a wheel whose one useful file is a static binary (`uv-X.data/scripts/uv`). When a
//! source is known (pyenvx's index settings, or the index the user's uv or pip configuration
//! names) pyenvx picks the wheel for this machine itself, downloads it with its own HTTP client
//! and unpacks the binary as the bytes arrive, into a staging directory that becomes pyenvx's uv
//! only once the whole file's hash checked out: no Python runs, so an interpreter without pip is
//! no obstacle. With nothing configured, the default index is whatever the machine's own installer
//! uses (pyenvx names none): pip, or the pip wheel `ensurepip` bundles where the interpreter has
//! no pip, downloads that one wheel, and it is unpacked here all the same.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

use super::index::IndexSettings;
use super::uv::{managed_uv, managed_uv_exe, numeric_version, too_old, tools_dir, Uv, MIN_UV};
use crate::dirs::Dirs;
use crate::download;
use crate::filelock::FileLock;
use crate::reporter::Reporter;
use crate::user_error;

/// What pip is asked for when it fetches the wheel.
const UV_REQUIREMENT: &str = "uv>=0.8";

/// Every way to get pyenvx a uv, for the error when none worked.
const WAYS_OUT: &str = "set PYENVX_UV to a uv binary, put uv on PATH, or set PYENVX_INDEX_URL to \
                        a package index (or PYENVX_FIND_LINKS to a folder of wheels) that serves uv";

/// Install uv into `tools/uv/bin/uv`: fetched into a temporary directory beside it, then renamed
/// into place, all under `locks/uv.lock` so that concurrent first runs install once and the rest
/// reuse it.
pub(super) fn install(
    dirs: &Dirs,
    index: &IndexSettings,
    offline: bool,
    bootstrap_python: &dyn Fn() -> Result<PathBuf>,
    reporter: &dyn Reporter,
) -> Result<Uv> {
    let _lock = FileLock::acquire(&dirs.locks().join("uv.lock"), || {
        reporter.waiting_for_lock("uv")
    })?;
    if let Some(uv) = managed_uv(dirs) {
        return Ok(uv);
    }
    let tools = tools_dir(dirs);
    let staging = crate::fs::temp_dir_in(&tools, ".tmp-uv-")?;
    let downloads = staging.path().join("wheel");
    fs_err::create_dir_all(&downloads)?;

    let id = reporter.download_start("uv", None);
    let bin = staging.path().join("bin");
    let fetched = fetch_wheel(index, offline, bootstrap_python, &downloads, &bin);
    reporter.download_done(id);
    match fetched? {
        Wheel::Unpacked => {}
        Wheel::File(path) => {
            let file = std::io::BufReader::new(fs_err::File::open(&path)?);
            unpack(file, &path.display().to_string(), &bin)?
        }
    }
    fs_err::remove_dir_all(&downloads)?;

    let dest = tools.join("uv");
    // Only an unusable or outdated copy can be here (a good one returned above); replace it.
    if dest.symlink_metadata().is_ok() {
        fs_err::remove_dir_all(&dest)?;
    }
    crate::fs::publish_dir(staging, &dest)?;
    let uv = Uv::at(&managed_uv_exe(dirs))
        .context("the uv binary unpacked from its wheel does not run")?;
    if !uv.is_supported() {
        return Err(too_old(&uv, "PYENVX_UV"));
    }
    Ok(uv)
}

/// A fetched uv wheel: already unpacked when pyenvx downloaded it, or the file the machine's
/// installer wrote.
#[derive(Debug)]
enum Wheel {
    Unpacked,
    File(PathBuf),
}

/// The most pyenvx reads into memory as a uv wheel (they are some 20 MB).
const MAX_WHEEL: u64 = 256 << 20;

/// The uv wheel for this machine: downloaded and unpacked into `bin`, or fetched by pip into
/// `dest`.
fn fetch_wheel(
    index: &IndexSettings,
    offline: bool,
    bootstrap_python: &dyn Fn() -> Result<PathBuf>,
    dest: &Path,
    bin: &Path,
) -> Result<Wheel> {
    let index_url = index
        .index_url
        .clone()
        .or_else(super::index::user_index_url);
    if index_url.is_none() && index.find_links.is_empty() {
        let python = bootstrap_python().map_err(|e| {
            user_error!(
                hint = WAYS_OUT,
                "cannot install uv: no index is configured and no Python can fetch it ({e:#})"
            )
        })?;
        return pip_download(&python, dest, &[]).map(Wheel::File);
    }

    let target = WheelTarget::current();
    let mut candidates = Vec::new();
    let mut problems = Vec::new();
    let mut sources = index.find_links.clone();
    if let (Some(url), false) = (&index_url, offline) {
        sources.push(url.clone());
    }
    for link in &index.find_links {
        match find_links_files(link) {
            Ok(files) => candidates.extend(files),
            Err(e) => problems.push(e),
        }
    }
    if let (Some(url), false) = (&index_url, offline) {
        match index_files(url) {
            Ok(files) => candidates.extend(files),
            Err(e) => problems.push(e),
        }
    }
    // A certificate problem has its own remedy, which the ways out below would hide.
    if let Some(i) = problems
        .iter()
        .position(|e| crate::error::find_hint(e) == Some(crate::certs::CERT_HINT))
    {
        return Err(problems.swap_remove(i));
    }
    let Some(best) = choose(candidates, &target) else {
        let (a, b, c) = MIN_UV;
        let detail = if problems.is_empty() {
            format!(
                "no uv {a}.{b}.{c} or newer for {} in {}",
                target.describe(),
                sources.join(", ")
            )
        } else {
            problems
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(user_error!(hint = WAYS_OUT, "cannot install uv: {detail}"));
    };
    download_checked(&best, bin).map(|()| Wheel::Unpacked)
}

/// One uv wheel a source offers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    file: String,
    /// Without the `#sha256=` fragment.
    location: String,
    sha256: Option<String>,
    version: (u64, u64, u64),
    /// The glibc (or musl) level its best platform tag needs, to prefer the newest build.
    level: (u32, u32),
}

/// The platform tags this machine can run: arch, libc, and the glibc version.
#[derive(Debug, Clone)]
struct WheelTarget {
    arch: &'static str,
    musl: bool,
    glibc: (u32, u32),
}

impl WheelTarget {
    fn current() -> Self {
        let platform = crate::platform::Platform::current();
        WheelTarget {
            arch: std::env::consts::ARCH,
            musl: platform.libc == "musl",
            glibc: glibc_version().unwrap_or((2, 17)),
        }
    }

    fn describe(&self) -> String {
        if self.musl {
            format!("musllinux {}", self.arch)
        } else {
            let (a, b) = self.glibc;
            format!("{} with glibc {a}.{b}", self.arch)
        }
    }

    /// The level a platform tag (`manylinux_2_17_x86_64`, `manylinux2014_x86_64`,
    /// `musllinux_1_2_aarch64`) needs, if this machine runs it.
    fn fits(&self, tag: &str) -> Option<(u32, u32)> {
        let rest = tag.strip_suffix(self.arch)?.strip_suffix('_')?;
        let legacy = |level| Some(level).filter(|_| !self.musl);
        let level = match rest {
            "manylinux1" => legacy((2, 5))?,
            "manylinux2010" => legacy((2, 12))?,
            "manylinux2014" => legacy((2, 17))?,
            _ => {
                let (family, version) = rest.split_once('_')?;
                let (major, minor) = version.split_once('_')?;
                let level = (major.parse().ok()?, minor.parse().ok()?);
                match (family, self.musl) {
                    ("manylinux", false) if level <= self.glibc => level,
                    // musl keeps its ABI across 1.x; every musllinux_1_x build runs.
                    ("musllinux", true) if level.0 == 1 => level,
                    _ => return None,
                }
            }
        };
        Some(level)
    }
}

#[cfg(target_env = "gnu")]
fn glibc_version() -> Option<(u32, u32)> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let text = text.to_str().ok()?;
    let (major, minor) = text.split_once('.')?;
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(not(target_env = "gnu"))]
fn glibc_version() -> Option<(u32, u32)> {
    None
}

/// `uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl` → a candidate, if it is a
/// final release this machine runs and pyenvx can drive.
fn candidate(
    file: &str,
    location: String,
    sha256: Option<String>,
    target: &WheelTarget,
) -> Option<Candidate> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let [name, version, .., platforms] = parts.as_slice() else {
        return None;
    };
    if !name.eq_ignore_ascii_case("uv") || parts.len() < 5 {
        return None;
    }
    // Pre-releases and local versions are never picked.
    if !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let version = numeric_version(version).filter(|v| *v >= MIN_UV)?;
    let level = platforms.split('.').filter_map(|t| target.fits(t)).max()?;
    Some(Candidate {
        file: file.to_string(),
        location,
        sha256,
        version,
        level,
    })
}

/// The newest release, and within it the build for the newest platform level.
fn choose(candidates: Vec<Candidate>, _target: &WheelTarget) -> Option<Candidate> {
    candidates
        .into_iter()
        .max_by(|a, b| (a.version, a.level).cmp(&(b.version, b.level)))
}

/// The uv wheels of a find-links entry: a local folder, or a flat HTML page of links.
fn find_links_files(link: &str) -> Result<Vec<Candidate>> {
    let target = WheelTarget::current();
    if let Some(dir) = download::local_path(link) {
        let entries = fs_err::read_dir(&dir)?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let location = entry.path().to_string_lossy().into_owned();
            out.extend(candidate(&name, location, None, &target));
        }
        return Ok(out);
    }
    let page = download::fetch_text(link, &[])?;
    Ok(html_links(&page, link)
        .into_iter()
        .filter_map(|(file, url, sha)| candidate(&file, url, sha, &target))
        .collect())
}

/// The uv wheels a PEP 503 (HTML) or PEP 691 (JSON) simple index lists on its `uv/` page.
fn index_files(index_url: &str) -> Result<Vec<Candidate>> {
    let target = WheelTarget::current();
    let page_url = format!("{}/uv/", index_url.trim_end_matches('/'));
    let accept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, \
                  text/html;q=0.01";
    let page = download::fetch_text(&page_url, &[("Accept", accept.to_string())])?;
    let files = if page.trim_start().starts_with('{') {
        json_links(&page, &page_url)?
    } else {
        html_links(&page, &page_url)
    };
    Ok(files
        .into_iter()
        .filter_map(|(file, url, sha)| candidate(&file, url, sha, &target))
        .collect())
}

/// (file name, URL without fragment, sha256) of every non-yanked anchor of an HTML page.
fn html_links(page: &str, base: &str) -> Vec<(String, String, Option<String>)> {
    static ANCHOR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let anchor = ANCHOR.get_or_init(|| {
        regex::Regex::new(r#"(?is)<a\s([^>]*?)href\s*=\s*["']([^"']*)["']([^>]*)>"#).unwrap()
    });
    anchor
        .captures_iter(page)
        .filter(|c| !format!("{}{}", &c[1], &c[3]).contains("data-yanked"))
        .filter_map(|c| link(&unescape(&c[2]), base, None))
        .collect()
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    yanked: serde_json::Value,
}

fn json_links(page: &str, base: &str) -> Result<Vec<(String, String, Option<String>)>> {
    let page: JsonPage =
        serde_json::from_str(page).with_context(|| format!("cannot read the index page {base}"))?;
    Ok(page
        .files
        .into_iter()
        .filter(|f| {
            matches!(
                f.yanked,
                serde_json::Value::Null | serde_json::Value::Bool(false)
            )
        })
        .filter_map(|f| {
            let sha = f.hashes.get("sha256").cloned();
            link(&f.url, base, sha).map(|(_, url, sha)| (f.filename, url, sha))
        })
        .collect())
}

/// Resolve `href` against `base`; the file name is the last path segment, the hash the
/// `#sha256=` fragment unless `sha` already gives one.
fn link(href: &str, base: &str, sha: Option<String>) -> Option<(String, String, Option<String>)> {
    let url = reqwest::Url::parse(base).ok()?.join(href).ok()?;
    let fragment_sha = url
        .fragment()
        .and_then(|f| f.strip_prefix("sha256="))
        .map(str::to_ascii_lowercase);
    let mut plain = url.clone();
    plain.set_fragment(None);
    let file = plain.path_segments()?.next_back()?;
    let file = percent_encoding::percent_decode_str(file)
        .decode_utf8_lossy()
        .into_owned();
    Some((file, plain.to_string(), sha.or(fragment_sha)))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#43;", "+")
        .replace("&quot;", "\"")
}

/// Download `wheel` and unpack its binary into `bin` while the bytes arrive (the download runs
/// on a thread of its own, so inflating overlaps it), then check the whole file's SHA-256 against
/// the one the index gave: a mismatch removes what was unpacked and refuses the wheel. A wheel
/// whose local headers do not give the sizes is unpacked from memory once complete instead.
fn download_checked(wheel: &Candidate, bin: &Path) -> Result<()> {
    use sha2::Digest;
    struct Received {
        hasher: sha2::Sha256,
        bytes: Vec<u8>,
    }
    let body = download::open(&wheel.location, &[])?;
    let announced = body.len;
    let mut got = Received {
        hasher: sha2::Sha256::new(),
        bytes: Vec::with_capacity(announced.unwrap_or(0).min(MAX_WHEEL) as usize),
    };
    let streamed = std::thread::scope(|scope| -> Result<bool> {
        let got = &mut got;
        let (mut pipe, pump) = download::read_ahead(
            scope,
            "uv-download",
            body.reader,
            1 << 20,
            8,
            move |chunk: &[u8]| {
                if (got.bytes.len() + chunk.len()) as u64 > MAX_WHEEL {
                    return Err(std::io::Error::other(format!(
                        "larger than {} MiB, which no uv wheel is",
                        MAX_WHEEL >> 20
                    )));
                }
                got.hasher.update(chunk);
                got.bytes.extend_from_slice(chunk);
                Ok(())
            },
        )?;
        let streamed = unpack_stream(&mut pipe, bin);
        // The hash covers the whole file: read what follows the binary too.
        let drained = std::io::copy(&mut pipe, &mut std::io::sink());
        drop(pipe);
        // How it ended is in `drained`: a read error reaches the pipe's reader.
        let _ended = pump
            .join()
            .map_err(|_| anyhow!("the thread downloading uv stopped unexpectedly"))?;
        drained
            .map_err(|e| user_error!("download failed: error reading {}: {e}", wheel.location))?;
        streamed
    });
    let refuse = |e: anyhow::Error| {
        let _ = std::fs::remove_file(bin.join("uv"));
        e
    };
    let streamed = streamed.map_err(refuse)?;
    let len = got.bytes.len() as u64;
    if let Some(announced) = announced.filter(|n| *n != len) {
        return Err(refuse(user_error!(
            hint = "try again; a proxy or the index cut the download short",
            "download of {} stopped after {len} of {announced} bytes",
            wheel.location
        )));
    }
    let actual = hex::encode(got.hasher.finalize());
    if let Some(expected) = &wheel.sha256 {
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(refuse(user_error!(
                hint = "the index serves a file other than the one it lists; distrust it, or set \
                        PYENVX_UV to a uv binary",
                "refusing {}: its SHA-256 is {actual}, the index lists {expected}",
                wheel.file
            )));
        }
    }
    if !streamed {
        unpack(std::io::Cursor::new(&got.bytes), &wheel.file, bin)?;
    }
    Ok(())
}

/// Unpack the uv binary from a wheel as it streams by, reading its local headers in turn.
/// `Ok(false)` when the stream cannot be read so (sizes only in data descriptors, a damaged
/// entry): nothing is left in `bin`, and the caller unpacks the whole file instead.
fn unpack_stream(stream: &mut impl Read, bin: &Path) -> Result<bool> {
    loop {
        let mut entry = match zip::read::read_zipfile_from_stream(stream) {
            Ok(Some(entry)) => entry,
            Ok(None) | Err(_) => return Ok(false),
        };
        if !entry.name().is_ok_and(|n| is_uv_binary(&n)) {
            // Dropping the entry skips to the next header.
            continue;
        }
        return match write_binary(&mut entry, bin)? {
            Ok(()) => Ok(true),
            Err(_) => {
                fs_err::remove_file(bin.join("uv"))?;
                Ok(false)
            }
        };
    }
}

/// `uv-0.13.9.data/scripts/uv`: the wheel's scripts, at the top of its data directory.
fn is_uv_binary(name: &str) -> bool {
    name.ends_with(".data/scripts/uv") && name.matches('/').count() == 2
}

/// Write what `from` inflates to `bin/uv`, executable, in large writes (no copy of the binary in
/// memory). `Ok(Err(_))`: reading `from` failed, not writing.
fn write_binary(from: &mut impl Read, bin: &Path) -> Result<std::io::Result<()>> {
    fs_err::create_dir_all(bin)?;
    let exe = bin.join("uv");
    let mut out = fs_err::File::create(&exe)?;
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(e)),
        };
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    Ok(Ok(()))
}

/// Let the machine's own installer fetch the wheel from its own default index: the
/// interpreter's pip, else the pip wheel bundled with `ensurepip`.
///
/// `env` is added to pip's environment (tests point pip at a local folder this way).
fn pip_download(python: &Path, dest: &Path, env: &[(&str, &str)]) -> Result<PathBuf> {
    let with_pip = run_pip_download(python, &["-m".as_ref(), "pip".as_ref()], dest, env)?;
    let stderr = match with_pip {
        Ok(wheel) => return Ok(wheel),
        Err(stderr) => stderr,
    };
    if !stderr.contains("No module named pip") {
        return Err(pip_failure(python, &stderr));
    }
    let bundled = bundled_pip(python).map_err(|e| {
        user_error!(
            hint = WAYS_OUT,
            "cannot install uv: {} has no pip, and {e}",
            python.display()
        )
    })?;
    // A pip wheel runs in place: `python pip-X.whl/pip …` (pip supports this for bootstrapping).
    let main = bundled.join("pip");
    match run_pip_download(python, &[main.as_os_str()], dest, env)? {
        Ok(wheel) => Ok(wheel),
        Err(stderr) => Err(pip_failure(python, &stderr)),
    }
}

/// `Ok(Ok(wheel))` when pip fetched it, `Ok(Err(stderr))` when pip failed.
fn run_pip_download(
    python: &Path,
    pip: &[&std::ffi::OsStr],
    dest: &Path,
    env: &[(&str, &str)],
) -> Result<std::result::Result<PathBuf, String>> {
    let mut cmd = Command::new(python);
    crate::children::die_with_pyenvx(&mut cmd);
    cmd.args(pip)
        .args(["download", "--no-deps", "--only-binary", ":all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--dest",
        ])
        .arg(dest)
        .arg(UV_REQUIREMENT)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    crate::certs::for_pip(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        return Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let wheel = fs_err::read_dir(dest)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"));
    Ok(wheel.ok_or_else(|| "pip downloaded no wheel".to_string()))
}

/// The pip wheel in the interpreter's `ensurepip/_bundled`.
pub(super) fn bundled_pip(python: &Path) -> Result<PathBuf, String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !out.status.success() {
        return Err("it has no ensurepip either".to_string());
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("_bundled");
    fs_err::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("pip-") && name.ends_with(".whl")
        })
        .ok_or_else(|| format!("its ensurepip bundles no pip wheel in {}", dir.display()))
}

fn pip_failure(python: &Path, stderr: &str) -> anyhow::Error {
    pip_error(
        &format!(
            "cannot install uv: {} -m pip could not fetch it",
            python.display()
        ),
        stderr,
        WAYS_OUT,
    )
}

/// pip's failure as one user error: a certificate problem as such, else `what` with pip's
/// `ERROR:` lines (or its last lines when it printed none) and `hint`.
pub(super) fn pip_error(what: &str, stderr: &str, hint: &str) -> anyhow::Error {
    if let Some(e) = crate::certs::classify(stderr) {
        return e;
    }
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ERROR:"))
        .collect();
    let detail = if errors.is_empty() {
        last_lines(stderr, 8)
    } else {
        errors.join("\n")
    };
    user_error!(hint = hint.to_string(), "{what}:\n{detail}")
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Copy the wheel's `uv-X.data/scripts/uv` to `bin/uv`, executable; `name` names the wheel in
/// errors.
fn unpack(wheel: impl Read + std::io::Seek, name: &str, bin: &Path) -> Result<()> {
    let mut archive =
        zip::ZipArchive::new(wheel).with_context(|| format!("{name} is not a wheel"))?;
    let index = archive
        .file_names()
        .position(|n| n.is_ok_and(|n| is_uv_binary(&n)))
        .ok_or_else(|| anyhow!("{name} holds no uv binary"))?;
    let mut entry = archive.by_index(index)?;
    write_binary(&mut entry, bin)?.with_context(|| format!("cannot unpack uv from {name}"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fixtures, python, uv_binary, WHEELHOUSE};
    use super::*;
    use crate::error::UserError;

    fn target(musl: bool, glibc: (u32, u32)) -> WheelTarget {
        WheelTarget {
            arch: "x86_64",
            musl,
            glibc,
        }
    }

    #[test]
    fn picks_the_newest_uv_this_machine_runs() {
        let gnu = target(false, (2, 28));
        let names = [
            "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "uv-0.14.0-py3-none-musllinux_1_1_x86_64.whl",
            "uv-0.14.1-py3-none-manylinux_2_31_x86_64.whl",
            "uv-0.14.2-py3-none-manylinux_2_17_aarch64.whl",
            "uv-0.15.0a1-py3-none-manylinux_2_17_x86_64.whl",
            "uv-0.7.9-py3-none-manylinux_2_17_x86_64.whl",
            "uv-0.13.10-py3-none-manylinux_2_28_x86_64.whl",
            "uv-0.13.10.tar.gz",
            "uvicorn-0.30.0-py3-none-any.whl",
        ];
        let pick = |t: &WheelTarget| {
            let all = names
                .iter()
                .filter_map(|n| candidate(n, format!("/w/{n}"), None, t))
                .collect();
            choose(all, t).map(|c| c.file)
        };
        assert_eq!(
            pick(&gnu).as_deref(),
            Some("uv-0.13.10-py3-none-manylinux_2_28_x86_64.whl")
        );
        assert_eq!(
            pick(&target(false, (2, 17))).as_deref(),
            Some("uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        );
        assert_eq!(
            pick(&target(true, (0, 0))).as_deref(),
            Some("uv-0.14.0-py3-none-musllinux_1_1_x86_64.whl")
        );
    }

    #[test]
    fn reads_html_and_json_index_pages() {
        let html = r#"<a href="../../files/uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl#sha256=AB12">x</a>
            <a data-yanked="" href="/f/uv-0.13.8-py3-none-manylinux_2_17_x86_64.whl#sha256=cd">y</a>"#;
        let links = html_links(html, "http://127.0.0.1:1/simple/uv/");
        assert_eq!(
            links,
            [(
                "uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl".to_string(),
                "http://127.0.0.1:1/files/uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl".to_string(),
                Some("ab12".to_string())
            )]
        );
        let json = r#"{"meta":{"api-version":"1.1"},"name":"uv","files":[
            {"filename":"uv-0.13.9-py3-none-any.whl","url":"https://h/p/uv-0.13.9-py3-none-any.whl",
             "hashes":{"sha256":"ff"}},
            {"filename":"uv-0.13.8-py3-none-any.whl","url":"x.whl","hashes":{},"yanked":"bad"}]}"#;
        let links = json_links(json, "https://h/simple/uv/").unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].1, "https://h/p/uv-0.13.9-py3-none-any.whl");
        assert_eq!(links[0].2.as_deref(), Some("ff"));
    }

    /// A wheel streamed by a writer that cannot seek gives its sizes only after each entry
    /// (data descriptors): the stream cannot be read header by header, and the binary comes out
    /// of the whole file instead, still hash-checked.
    #[test]
    fn a_wheel_with_data_descriptors_is_unpacked_from_memory() {
        use std::io::Write as _;
        let dir = crate::test_machine::tempdir().unwrap();
        let binary = b"#!/bin/sh\necho uv 0.13.9\n".repeat(1000);
        let mut zip = zip::ZipWriter::new_stream(Vec::new());
        let options = zip::write::SimpleFileOptions::default();
        for (name, data) in [
            ("uv/__init__.py", &b""[..]),
            ("uv-0.13.9.data/scripts/uv", &binary[..]),
            ("uv-0.13.9.dist-info/RECORD", &b""[..]),
        ] {
            zip.start_file(name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        let wheel = dir.path().join("uv.whl");
        fs_err::write(&wheel, &bytes).unwrap();
        let bin = dir.path().join("bin");
        assert!(
            !unpack_stream(&mut &bytes[..], &bin).unwrap(),
            "streamable?"
        );
        assert!(!bin.join("uv").exists());
        let candidate = Candidate {
            file: "uv.whl".into(),
            location: wheel.to_string_lossy().into_owned(),
            sha256: Some(crate::download::sha256_file(&wheel).unwrap()),
            version: (0, 13, 9),
            level: (2, 17),
        };
        download_checked(&candidate, &bin).unwrap();
        assert_eq!(fs_err::read(bin.join("uv")).unwrap(), binary);
    }

    /// Every way failing ends in one error that lists the ways out.
    #[test]
    fn with_no_way_to_get_uv_the_error_lists_the_ways_out() {
        let tmp = crate::test_machine::tempdir().unwrap();
        // A "Python" with neither pip nor ensurepip.
        let python = tmp.path().join("python");
        fs_err::write(
            &python,
            "#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let no_pip = pip_download(&python, tmp.path(), &[]).unwrap_err();
        // A configured folder without uv, so no Python is asked.
        let empty = tmp.path().join("empty");
        fs_err::create_dir_all(&empty).unwrap();
        let index = IndexSettings {
            index_url: None,
            find_links: vec![empty.to_string_lossy().into_owned()],
            extra_index_urls: Vec::new(),
        };
        let no_python = || -> Result<PathBuf> { panic!("no Python is needed for find-links") };
        let no_wheel = fetch_wheel(
            &index,
            false,
            &no_python,
            tmp.path(),
            &tmp.path().join("bin"),
        )
        .unwrap_err();
        assert!(
            no_wheel.to_string().contains("no uv 0.8.0 or newer"),
            "{no_wheel:#}"
        );
        let errors = [no_pip, no_wheel];
        for err in errors {
            assert!(err.downcast_ref::<UserError>().is_some(), "{err:#}");
            let text = format!("{err:#} {}", crate::error::find_hint(&err).unwrap_or(""));
            for way in ["PYENVX_UV", "PATH", "PYENVX_INDEX_URL"] {
                assert!(text.contains(way), "{way} missing from {text}");
            }
        }
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        #[test]
        fn a_wheel_whose_hash_differs_is_refused() {
            fixtures();
            let wheel = super::super::super::test_support::uv_wheel();
            let dest = crate::test_machine::tempdir().unwrap();
            let mut bad = Candidate {
                file: "uv.whl".into(),
                location: wheel.to_string_lossy().into_owned(),
                sha256: Some("00".repeat(32)),
                version: (0, 13, 9),
                level: (2, 17),
            };
            let bin = dest.path().join("bin");
            let err = download_checked(&bad, &bin).unwrap_err();
            assert!(err.downcast_ref::<UserError>().is_some(), "{err:#}");
            assert!(err.to_string().contains("refusing uv.whl"), "{err:#}");
            assert!(!bin.join("uv").exists(), "a refused wheel leaves no binary");
            bad.sha256 = Some(crate::download::sha256_file(&wheel).unwrap());
            download_checked(&bad, &bin).unwrap();
            // The real wheel is read header by header, the binary written as it streams by.
            let streamed = dest.path().join("streamed");
            let mut file = fs_err::File::open(&wheel).unwrap();
            assert!(unpack_stream(&mut file, &streamed).unwrap());
            assert_eq!(
                fs_err::read(streamed.join("uv")).unwrap(),
                fs_err::read(bin.join("uv")).unwrap()
            );
            assert_eq!(
                crate::download::sha256_file(&dest.path().join("bin/uv")).unwrap(),
                crate::download::sha256_file(uv_binary().unwrap()).unwrap()
            );
        }

        /// An interpreter without pip: the pip wheel its `ensurepip` bundles fetches uv (here from the
        /// wheelhouse, named the way a user's pip configuration would name it).
        #[test]
        fn an_interpreter_without_pip_fetches_uv_with_the_bundled_pip() {
            fixtures();
            let tmp = crate::test_machine::tempdir().unwrap();
            let venv = tmp.path().join("venv");
            let made = Command::new(python())
                .args(["-m", "venv", "--without-pip"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(made.success());
            let python = venv.join("bin/python");
            let no_pip = Command::new(&python)
                .args(["-c", "import pip"])
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(!no_pip.success(), "the venv should have no pip");

            let dest = tmp.path().join("dl");
            fs_err::create_dir_all(&dest).unwrap();
            let env = [("PIP_NO_INDEX", "1"), ("PIP_FIND_LINKS", WHEELHOUSE)];
            let wheel = pip_download(&python, &dest, &env).unwrap();
            assert_eq!(
                wheel.file_name(),
                super::super::super::test_support::uv_wheel().file_name()
            );
        }
    }
}
