//! The list of downloadable builds.
//!
//! Two sources: a catalog file in the exact format of uv's `download-metadata.json`
//! (`PYENVX_PYTHON_DOWNLOADS_JSON`, a path or URL), or — by default — python-build-standalone's own
//! published release data, so new CPython patch releases show up without a pyenvx upgrade. The live
//! list is cached for 24 hours and used stale when offline or unreachable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::download;
use crate::platform::Platform;
use crate::settings::{CatalogSource, LiveSources};
use crate::user_error;

/// The prefix every python-build-standalone release URL starts with; `PYENVX_PYTHON_MIRROR`
/// replaces it.
pub const GITHUB_DOWNLOAD_PREFIX: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";
/// Where the project lived before it moved to astral-sh; old catalogs still carry it.
const LEGACY_DOWNLOAD_PREFIX: &str =
    "https://github.com/indygreg/python-build-standalone/releases/download";
const LIVE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// One downloadable build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Download {
    pub version: Version,
    pub os: String,
    pub arch: String,
    pub libc: String,
    /// `None` for the default build, `Some("freethreaded")` for a free-threaded one.
    pub variant: Option<String>,
    pub url: String,
    pub sha256: Option<String>,
    /// The python-build-standalone release tag, e.g. `20250115`.
    pub build: String,
}

impl Download {
    pub fn freethreaded(&self) -> bool {
        self.variant.as_deref() == Some("freethreaded")
    }

    /// The name of the install directory, as uv names it: `cpython-3.13.1+freethreaded-linux-x86_64-gnu`.
    pub fn key(&self) -> String {
        let variant = self
            .variant
            .as_deref()
            .map(|v| format!("+{v}"))
            .unwrap_or_default();
        format!(
            "cpython-{}{variant}-{}-{}-{}",
            self.version, self.os, self.arch, self.libc
        )
    }

    /// The archive's file name (the last URL segment, decoded).
    pub fn file_name(&self) -> String {
        let last = self.url.rsplit('/').next().unwrap_or(&self.url);
        percent_encoding::percent_decode_str(last)
            .decode_utf8_lossy()
            .into_owned()
    }

    /// The URL after the mirror setting has been applied.
    pub fn resolved_url(&self, mirror: Option<&str>) -> String {
        apply_mirror(&self.url, mirror)
    }
}

/// Replace the python-build-standalone download prefix with a mirror's.
pub fn apply_mirror(url: &str, mirror: Option<&str>) -> String {
    let Some(mirror) = mirror else {
        return url.to_string();
    };
    for prefix in [GITHUB_DOWNLOAD_PREFIX, LEGACY_DOWNLOAD_PREFIX] {
        if let Some(rest) = url.strip_prefix(prefix) {
            return format!("{}{rest}", mirror.trim_end_matches('/'));
        }
    }
    url.to_string()
}

/// Load every download for `platform`, honouring `offline`.
pub fn load(
    dirs: &Dirs,
    source: &CatalogSource,
    platform: &Platform,
    offline: bool,
    reporter: &dyn crate::reporter::Reporter,
) -> Result<Vec<Download>> {
    let all = match source {
        CatalogSource::UvJson(location) => load_uv_json(dirs, location, offline, reporter)?,
        CatalogSource::Live(sources) => load_live(dirs, sources, offline, reporter)?,
    };
    let mut mine: Vec<Download> = all
        .into_iter()
        .filter(|d| d.os == platform.os && d.arch == platform.arch && d.libc == platform.libc)
        .collect();
    mine.sort_by(|a, b| {
        b.version
            .cmp(&a.version)
            .then_with(|| b.build.cmp(&a.build))
    });
    // One entry per (version, variant): the newest build tag wins.
    let mut seen = std::collections::HashSet::new();
    mine.retain(|d| seen.insert(d.key()));
    Ok(mine)
}

#[derive(Deserialize)]
struct UvArch {
    family: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct UvEntry {
    name: String,
    arch: UvArch,
    os: String,
    libc: String,
    major: u64,
    minor: u64,
    patch: u64,
    #[serde(default)]
    prerelease: String,
    url: String,
    sha256: Option<String>,
    variant: Option<String>,
    #[serde(default)]
    build: Option<String>,
}

/// Parse a uv `download-metadata.json`. `origin` names the file in errors.
pub fn parse_uv_json(text: &str, origin: &str) -> Result<Vec<Download>> {
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        user_error!(
            hint = "the file must be in the format of uv's download-metadata.json",
            "malformed Python downloads catalog {origin}: {e}"
        )
    })?;
    let mut out = Vec::new();
    for (key, value) in raw {
        // Newer catalog formats carry a top-level "version" marker next to the entries.
        if !value.is_object() {
            continue;
        }
        let entry: UvEntry = serde_json::from_value(value).map_err(|e| {
            user_error!(
                hint = "the file must be in the format of uv's download-metadata.json",
                "malformed Python downloads catalog {origin}: entry `{key}`: {e}"
            )
        })?;
        // Only CPython, baseline CPU builds, default or free-threaded.
        if entry.name != "cpython" || entry.arch.variant.is_some() {
            continue;
        }
        if !matches!(entry.variant.as_deref(), None | Some("freethreaded")) {
            continue;
        }
        let version = Version::from_str(&format!(
            "{}.{}.{}{}",
            entry.major, entry.minor, entry.patch, entry.prerelease
        ))
        .map_err(|e| {
            user_error!("malformed Python downloads catalog {origin}: entry `{key}`: {e}")
        })?;
        out.push(Download {
            version,
            os: entry.os,
            arch: entry.arch.family,
            libc: entry.libc,
            variant: entry.variant,
            build: entry
                .build
                .unwrap_or_else(|| build_tag_from_url(&entry.url)),
            url: entry.url,
            sha256: entry.sha256.map(|s| s.to_ascii_lowercase()),
        });
    }
    Ok(out)
}

fn build_tag_from_url(url: &str) -> String {
    parse_asset_name(
        &percent_encoding::percent_decode_str(url.rsplit('/').next().unwrap_or(""))
            .decode_utf8_lossy(),
    )
    .map(|a| a.build)
    .unwrap_or_default()
}

fn load_uv_json(
    dirs: &Dirs,
    location: &str,
    offline: bool,
    reporter: &dyn crate::reporter::Reporter,
) -> Result<Vec<Download>> {
    if !download::is_remote(location) {
        let path = download::local_path(location).unwrap_or_else(|| PathBuf::from(location));
        let text = fs_err::read_to_string(&path).map_err(|e| {
            user_error!(
                hint = "PYENVX_PYTHON_DOWNLOADS_JSON must name a readable file or an http(s) URL",
                "cannot read the Python downloads catalog: {e}"
            )
        })?;
        return parse_uv_json(&text, &path.display().to_string());
    }
    let cache = dirs
        .catalogs()
        .join(format!("uv-{}.json", short_hash(location)));
    // A team's own catalog URL is re-read every time (it is small and they may have just
    // updated it); the cached copy only serves offline runs and outages.
    let text = cached(&cache, None, offline, reporter, || {
        crate::reporter::spinning(reporter, "fetching the list of Python builds", || {
            download::fetch_text(location, &[])
        })
    })?;
    parse_uv_json(&text, location)
}

/// Return the document cached at `cache` if younger than `ttl`, else `fetch` it and cache it;
/// fall back to any cached copy when offline or when fetching fails.
fn cached(
    cache: &std::path::Path,
    ttl: Option<Duration>,
    offline: bool,
    reporter: &dyn crate::reporter::Reporter,
    fetch: impl FnOnce() -> Result<String>,
) -> Result<String> {
    let cached_age = fs_err::metadata(cache)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    let fresh = matches!((cached_age, ttl), (Some(age), Some(ttl)) if age < ttl);
    if fresh || (offline && cached_age.is_some()) {
        reporter.detail(&format!(
            "list of builds from {} ({} min old)",
            cache.display(),
            cached_age.map_or(0, |a| a.as_secs() / 60)
        ));
        return Ok(fs_err::read_to_string(cache)?);
    }
    if offline {
        return Err(user_error!(
            hint = "run once without --offline to fetch the list of builds, or set PYENVX_PYTHON_DOWNLOADS_JSON to a local catalog",
            "offline, and no cached list of Python builds ({} is missing)",
            cache.display()
        ));
    }
    match fetch() {
        Ok(text) => {
            crate::fs::write_atomic(cache, text.as_bytes())?;
            Ok(text)
        }
        Err(e) if cached_age.is_some() => {
            // A stale list beats no list; each archive's own hash still guards the install.
            reporter.warn(&format!("{e:#}; using the cached list of Python builds"));
            Ok(fs_err::read_to_string(cache)?)
        }
        Err(e) => Err(e),
    }
}

fn load_live(
    dirs: &Dirs,
    sources: &LiveSources,
    offline: bool,
    reporter: &dyn crate::reporter::Reporter,
) -> Result<Vec<Download>> {
    // One cache per pair of sources: a list from a mirror never passes for the upstream one.
    let cache = dirs.catalogs().join(format!(
        "live-v1-{}.json",
        short_hash(&format!("{}\n{}", sources.ndjson, sources.releases_api))
    ));
    let text = cached(&cache, Some(LIVE_TTL), offline, reporter, || {
        reporter.detail(&format!(
            "fetching the list of builds from {}",
            sources.ndjson
        ));
        // The whole list of builds, a few MB: seconds on a slow link.
        let list = crate::reporter::spinning(reporter, "fetching the list of Python builds", || {
            fetch_ndjson(&sources.ndjson)
        })
        .or_else(|ndjson_err| {
            reporter.detail(&format!(
                "{ndjson_err:#}; trying {} instead",
                sources.releases_api
            ));
            fetch_github_api(&sources.releases_api).map_err(|api_err| {
                user_error!(
                    hint = "check your network, set GITHUB_TOKEN if rate-limited, or point PYENVX_PYTHON_DOWNLOADS_JSON at a catalog",
                    "cannot fetch the list of Python builds: {ndjson_err:#}; fallback: {api_err:#}"
                )
            })
        })?;
        Ok(serde_json::to_string(&list)?)
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("corrupt cached catalog {}; delete it", cache.display()))
}

/// The API's headers; `GITHUB_TOKEN` goes only to GitHub's own API, never to a mirror that
/// `PYENVX_PYTHON_RELEASES_API` names.
fn github_headers(url: &str, token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("Accept", "application/vnd.github+json".to_string())];
    let to_github = url.starts_with("https://api.github.com/");
    if let Some(token) = token.filter(|t| to_github && !t.is_empty()) {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
    headers
}

#[derive(Deserialize)]
struct NdjsonRelease {
    #[serde(default)]
    artifacts: Vec<NdjsonArtifact>,
}

#[derive(Deserialize)]
struct NdjsonArtifact {
    url: String,
    sha256: Option<String>,
}

fn fetch_ndjson(url: &str) -> Result<Vec<Download>> {
    let text = download::fetch_text(url, &[])?;
    parse_ndjson(&text, url)
}

/// Parse python-build-standalone's NDJSON index: one JSON object per line, each a release with
/// `artifacts: [{url, sha256, …}]`. The build facts come from the asset file names.
pub fn parse_ndjson(text: &str, origin: &str) -> Result<Vec<Download>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let release: NdjsonRelease = serde_json::from_str(line)
            .with_context(|| format!("malformed release index {origin}, line {}", n + 1))?;
        for artifact in release.artifacts {
            if let Some(d) = download_from_asset(&artifact.url, artifact.sha256) {
                out.push(d);
            }
        }
    }
    Ok(prefer_stripped(out))
}

#[derive(Deserialize)]
struct GithubRelease {
    assets: Vec<GithubAsset>,
}

#[derive(Deserialize)]
struct GithubAsset {
    name: String,
    browser_download_url: String,
    #[serde(default)]
    digest: Option<String>,
}

fn fetch_github_api(url: &str) -> Result<Vec<Download>> {
    let headers = github_headers(url, std::env::var("GITHUB_TOKEN").ok().as_deref());
    let text = download::fetch_text(url, &headers)?;
    let releases: Vec<GithubRelease> =
        serde_json::from_str(&text).context("unexpected answer from the GitHub releases API")?;
    let mut out = Vec::new();
    for release in releases {
        // Older assets lack `digest`; the release's SHA256SUMS then supplies the hashes.
        let sums_url = release
            .assets
            .iter()
            .find(|a| a.name == "SHA256SUMS")
            .map(|a| a.browser_download_url.clone());
        let mut sums: Option<BTreeMap<String, String>> = None;
        for asset in &release.assets {
            let Some(parsed) = parse_asset_name(&asset.name) else {
                continue;
            };
            if !parsed.wanted() {
                continue;
            }
            let mut sha = asset
                .digest
                .as_deref()
                .and_then(|d| d.strip_prefix("sha256:"))
                .map(str::to_string);
            if sha.is_none() {
                if sums.is_none() {
                    sums = Some(match &sums_url {
                        Some(url) => parse_sha256sums(&download::fetch_text(url, &[])?),
                        None => BTreeMap::new(),
                    });
                }
                sha = sums.as_ref().and_then(|s| s.get(&asset.name).cloned());
            }
            if let Some(d) = download_from_asset(&asset.browser_download_url, sha) {
                out.push(d);
            }
        }
    }
    Ok(prefer_stripped(out))
}

/// `{sha256}  {file}` lines, as in a release's SHA256SUMS.
pub fn parse_sha256sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let sha = parts.next()?;
            let name = parts.next()?.trim_start_matches('*');
            Some((name.to_string(), sha.to_ascii_lowercase()))
        })
        .collect()
}

/// The facts in a python-build-standalone asset name such as
/// `cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetName {
    pub version: Version,
    pub build: String,
    pub arch: String,
    /// CPU level suffix of the arch (`x86_64_v3` -> `v3`), if any.
    pub arch_variant: Option<String>,
    pub os: String,
    pub libc: String,
    pub freethreaded: bool,
    pub stripped: bool,
}

impl AssetName {
    fn wanted(&self) -> bool {
        self.arch_variant.is_none()
    }
}

pub fn parse_asset_name(name: &str) -> Option<AssetName> {
    let stem = name.strip_suffix(".tar.gz")?;
    let (stem, stripped) = if let Some(s) = stem.strip_suffix("-install_only_stripped") {
        (s, true)
    } else {
        (stem.strip_suffix("-install_only")?, false)
    };
    let (stem, freethreaded) = match stem.strip_suffix("-freethreaded") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let rest = stem.strip_prefix("cpython-")?;
    let (version, rest) = rest.split_once('+')?;
    let (build, triple) = rest.split_once('-')?;
    let version = Version::from_str(version).ok()?;
    let mut parts = triple.split('-');
    let arch_full = parts.next()?;
    let (arch, arch_variant) = match arch_full.split_once("_v") {
        Some((a, v)) if v.chars().all(|c| c.is_ascii_digit()) => {
            (a.to_string(), Some(format!("v{v}")))
        }
        _ => (arch_full.to_string(), None),
    };
    let rest: Vec<&str> = parts.collect();
    let (os, libc) = match rest.as_slice() {
        ["unknown", "linux", libc] => ("linux", libc.to_string()),
        ["apple", "darwin"] => ("darwin", "none".to_string()),
        ["pc", "windows", "msvc"] => ("windows", "none".to_string()),
        _ => return None,
    };
    Some(AssetName {
        version,
        build: build.to_string(),
        arch,
        arch_variant,
        os: os.to_string(),
        libc,
        freethreaded,
        stripped,
    })
}

fn download_from_asset(url: &str, sha256: Option<String>) -> Option<Download> {
    let name = percent_encoding::percent_decode_str(url.rsplit('/').next()?)
        .decode_utf8_lossy()
        .into_owned();
    let a = parse_asset_name(&name)?;
    if !a.wanted() {
        return None;
    }
    Some(Download {
        version: a.version,
        os: a.os,
        arch: a.arch,
        libc: a.libc,
        variant: a.freethreaded.then(|| "freethreaded".to_string()),
        url: url.to_string(),
        sha256: sha256.map(|s| s.to_ascii_lowercase()),
        build: a.build,
    })
}

/// Per (build, key), keep the `install_only_stripped` asset when both flavours exist.
fn prefer_stripped(list: Vec<Download>) -> Vec<Download> {
    let mut best: BTreeMap<(String, String), Download> = BTreeMap::new();
    for d in list {
        let stripped = d.file_name().contains("install_only_stripped");
        let k = (d.build.clone(), d.key());
        match best.get(&k) {
            Some(existing)
                if existing.file_name().contains("install_only_stripped") || !stripped => {}
            _ => {
                best.insert(k, d);
            }
        }
    }
    best.into_values().collect()
}

fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::GITHUB_RELEASES_API;

    #[test]
    fn parses_asset_names() {
        let a = parse_asset_name(
            "cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz",
        )
        .unwrap();
        assert_eq!(a.version.to_string(), "3.12.1");
        assert_eq!(
            (a.os.as_str(), a.arch.as_str(), a.libc.as_str()),
            ("linux", "x86_64", "gnu")
        );
        assert!(a.stripped && !a.freethreaded);
        let ft = parse_asset_name(
            "cpython-3.13.1+20250115-aarch64-apple-darwin-freethreaded-install_only.tar.gz",
        )
        .unwrap();
        assert!(ft.freethreaded && !ft.stripped);
        assert_eq!(ft.os, "darwin");
        let v3 = parse_asset_name(
            "cpython-3.12.1+20240107-x86_64_v3-unknown-linux-musl-install_only.tar.gz",
        )
        .unwrap();
        assert_eq!(v3.arch_variant.as_deref(), Some("v3"));
        assert!(parse_asset_name(
            "cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-debug-full.tar.zst"
        )
        .is_none());
    }

    #[test]
    fn ndjson_prefers_stripped_and_reads_hashes() {
        let base = GITHUB_DOWNLOAD_PREFIX;
        let text = format!(
            r#"{{"version":"20990101","artifacts":[{{"platform":"x86_64-unknown-linux-gnu","variant":"install_only","url":"{base}/20990101/cpython-3.12.1%2B20990101-x86_64-unknown-linux-gnu-install_only.tar.gz","archive_format":"tar.gz","sha256":"AA"}},{{"platform":"x86_64-unknown-linux-gnu","variant":"install_only_stripped","url":"{base}/20990101/cpython-3.12.1%2B20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz","archive_format":"tar.gz","sha256":"bb"}}]}}
"#
        );
        let list = parse_ndjson(&text, "test").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sha256.as_deref(), Some("bb"));
        assert_eq!(list[0].key(), "cpython-3.12.1-linux-x86_64-gnu");
    }

    #[test]
    fn uv_json_errors_name_line_and_column() {
        let err = parse_uv_json(
            "{\n  \"cpython-3.12.1-linux-x86_64-gnu\": {\n    \"name\": \n",
            "cat.json",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cat.json") && msg.contains("line"), "{msg}");
    }

    #[test]
    fn the_github_token_goes_to_github_only() {
        let auth = |url: &str| {
            github_headers(url, Some("sekrit"))
                .into_iter()
                .find(|(k, _)| *k == "Authorization")
                .map(|(_, v)| v)
        };
        assert_eq!(auth(GITHUB_RELEASES_API).as_deref(), Some("Bearer sekrit"));
        assert_eq!(auth("https://mirror.example.invalid/releases"), None);
        assert_eq!(auth("http://api.github.com.example.invalid/"), None);
        assert!(github_headers(GITHUB_RELEASES_API, Some(""))
            .iter()
            .all(|(k, _)| *k != "Authorization"));
    }

    #[test]
    fn mirror_replaces_the_release_prefix() {
        let url = format!("{GITHUB_DOWNLOAD_PREFIX}/20990101/x.tar.gz");
        assert_eq!(
            apply_mirror(&url, Some("file:///m/")),
            "file:///m/20990101/x.tar.gz"
        );
        assert_eq!(
            apply_mirror("http://other/x", Some("file:///m")),
            "http://other/x"
        );
    }
}
