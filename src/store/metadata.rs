//! Reading and checking what a wheel says about itself: the dist-info (name and version),
//! `entry_points.txt`, `RECORD` rows and their hashes, the names a wheel may use, and the
//! distributions an environment has installed. Split from the store so that building an
//! entry, linking and removal share one reading of these formats.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use super::layout::{Script, SOURCE};
use crate::names::normalize_name;
use crate::venv::Venv;

/// Normalized name → (dist-info directory name, version) for everything uv put in `target`.
pub(super) fn scan_dist_infos(target: &Path) -> Result<HashMap<String, (String, String)>> {
    let mut found = HashMap::new();
    for entry in fs_err::read_dir(target)? {
        let entry = entry?;
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        if !dir_name.ends_with(".dist-info") || !entry.file_type()?.is_dir() {
            continue;
        }
        let (name, version) = name_and_version(&entry.path(), &dir_name);
        found.insert(normalize_name(&name), (dir_name, version));
    }
    Ok(found)
}

/// `Name` and `Version` from METADATA, else from the directory name (`name-version.dist-info`,
/// where the name's own dashes are escaped as underscores).
pub(super) fn name_and_version(dist_info: &Path, dir_name: &str) -> (String, String) {
    let (mut name, mut version) = (None, None);
    if let Ok(text) = std::fs::read_to_string(dist_info.join("METADATA")) {
        for line in text.lines().take_while(|l| !l.trim().is_empty()) {
            if let Some((key, value)) = line.split_once(':') {
                let value = value.trim().to_string();
                if key.trim().eq_ignore_ascii_case("name") {
                    name.get_or_insert(value);
                } else if key.trim().eq_ignore_ascii_case("version") {
                    version.get_or_insert(value);
                }
            }
        }
    }
    let stem = dir_name.trim_end_matches(".dist-info");
    let (dir_dist, dir_version) = stem.split_once('-').unwrap_or((stem, ""));
    (
        name.unwrap_or_else(|| dir_dist.to_string()),
        version.unwrap_or_else(|| dir_version.to_string()),
    )
}

/// `[console_scripts]` and `[gui_scripts]` of an `entry_points.txt`, keeping only entries whose
/// target is a valid `module:attr` (anything else could not be launched anyway, and the text
/// ends up in generated Python).
pub(super) fn parse_entry_points(text: &str) -> (Vec<Script>, Vec<Script>) {
    let (mut console, mut gui) = (Vec::new(), Vec::new());
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim();
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if check_component(name).is_err() || parse_entry_point(value).is_none() {
            continue;
        }
        let pair = (name.to_string(), value.to_string());
        match section {
            "console_scripts" => console.push(pair),
            "gui_scripts" => gui.push(pair),
            _ => {}
        }
    }
    (console, gui)
}

/// `module.sub:obj.attr [extra]` → (`module.sub`, `obj.attr`).
pub(super) fn parse_entry_point(value: &str) -> Option<(&str, &str)> {
    let value = value.split('[').next()?.trim();
    let (module, attr) = value.split_once(':')?;
    let (module, attr) = (module.trim(), attr.trim());
    (is_dotted_identifier(module) && is_dotted_identifier(attr)).then_some((module, attr))
}

pub(super) fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// A file name that cannot escape its directory.
pub(super) fn check_component(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        bail!("{name:?} is not a usable file name");
    }
    Ok(())
}

/// A RECORD path relative to the staging root that stays inside it.
pub(super) fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for component in p.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// One line of a RECORD file: the path, and the rest (`hash,size`) kept as written.
pub(super) struct RecordRow {
    pub(super) path: String,
}

impl RecordRow {
    /// RECORD is CSV: a path containing a comma or quote is quoted, with `""` for a quote.
    pub(super) fn parse(line: &str) -> Option<RecordRow> {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            return None;
        }
        let Some(quoted) = line.strip_prefix('"') else {
            let path = line.split_once(',').map_or(line, |(p, _)| p);
            return Some(RecordRow {
                path: path.to_string(),
            });
        };
        let mut path = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    return Some(RecordRow { path });
                }
            }
            path.push(c);
        }
        None
    }

    /// A full line (with its newline) for `path` and `rest` (`hash,size`).
    pub(super) fn render(path: &str, rest: &str) -> String {
        if path.contains([',', '"', '\n', '\r']) {
            format!("\"{}\",{rest}\n", path.replace('"', "\"\""))
        } else {
            format!("{path},{rest}\n")
        }
    }

    /// A line for a file we wrote with `content`.
    pub(super) fn for_content(path: &str, content: &[u8]) -> String {
        Self::render(
            path,
            &format!(
                "sha256={},{}",
                base64_urlsafe_nopad(&Sha256::digest(content)),
                content.len()
            ),
        )
    }
}

/// RECORD's hash encoding: URL-safe base64 without padding.
pub(super) fn base64_urlsafe_nopad(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A distribution found in an environment's site-packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDist {
    /// PEP 503 normalized.
    pub name: String,
    pub version: String,
    pub dist_info: PathBuf,
}

/// The SHA-256 of the file `dist` was installed from, when pyenvx linked it.
pub fn installed_sha256(dist: &InstalledDist) -> Option<String> {
    let text = std::fs::read_to_string(dist.dist_info.join(SOURCE)).ok()?;
    text.trim().strip_prefix("sha256=").map(str::to_string)
}

/// Every `*.dist-info` in `venv`'s site-packages, by name.
pub fn installed_dists(venv: &Venv) -> Result<Vec<InstalledDist>> {
    let site = venv.site_packages()?;
    let mut found = Vec::new();
    for entry in fs_err::read_dir(&site)? {
        let entry = entry?;
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        if !dir_name.ends_with(".dist-info") || !entry.file_type()?.is_dir() {
            continue;
        }
        let (name, version) = name_and_version(&entry.path(), &dir_name);
        found.push(InstalledDist {
            name: normalize_name(&name),
            version,
            dist_info: entry.path(),
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_rows_and_hashes() {
        // The line uv writes for an INSTALLER holding "uv".
        assert_eq!(
            RecordRow::for_content("x/INSTALLER", b"uv"),
            "x/INSTALLER,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2\n"
        );
        assert_eq!(base64_urlsafe_nopad(b""), "");
        assert_eq!(base64_urlsafe_nopad(b"f"), "Zg");
        assert_eq!(base64_urlsafe_nopad(b"fo"), "Zm8");
        assert_eq!(base64_urlsafe_nopad(b"foo"), "Zm9v");
        assert_eq!(base64_urlsafe_nopad(&[0xfb, 0xff]), "-_8");

        let parse = |l: &str| RecordRow::parse(l).map(|r| r.path);
        assert_eq!(parse("a/b.py,sha256=x,1").as_deref(), Some("a/b.py"));
        assert_eq!(parse("\"a,b.py\",sha256=x,1").as_deref(), Some("a,b.py"));
        assert_eq!(parse("\"q\"\"uote\",,").as_deref(), Some("q\"uote"));
        assert_eq!(parse("").as_deref(), None);
        assert_eq!(parse("\"unterminated,,").as_deref(), None);
        for path in ["plain.py", "a,b.py", "q\"uote"] {
            let line = RecordRow::render(path, ",");
            assert_eq!(parse(line.trim_end()).as_deref(), Some(path));
        }
    }
}
