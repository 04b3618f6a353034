//! What the user asked for when they typed a Python version.
//!
//! Accepted forms: `3`, `3.12`, `3.12.1`, `3.14.0rc1`, `3.13t` (free-threaded), `cpython@3.12`,
//! `cpython-3.12`, `cp312`, PEP 440 specifiers such as `>=3.11,<3.13` or `==3.12.*`, `any`, and a
//! path to an interpreter.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;
use pep440_rs::{Version, VersionSpecifiers};

use crate::user_error;

/// A parsed interpreter request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonRequest {
    pub version: VersionRequest,
    /// `3.13t`: only free-threaded builds match; without it only the default (GIL) builds do.
    pub freethreaded: bool,
    raw: String,
}

/// The version part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRequest {
    /// Any CPython 3 (`any`, `cpython`, or an empty request): Python 2.7 only when asked for.
    Any,
    /// `3`, `3.12`, `3.12.1`, or an exact prerelease `3.14.0rc1`: the release segments given must match.
    Prefix(Version),
    /// PEP 440 specifiers.
    Specifiers(VersionSpecifiers),
    /// A path to a specific interpreter (or to the prefix holding `bin/python3`).
    Path(PathBuf),
}

impl PythonRequest {
    pub fn parse(input: &str) -> Result<Self> {
        let raw = input.trim().to_string();
        let invalid = || {
            user_error!(
                hint = "use a version like `3.12`, `3.12.1`, `3.13t`, `cpython@3.12` or a specifier like `>=3.11,<3.13`",
                "invalid Python request `{raw}`"
            )
        };
        if raw.contains('/') {
            return Ok(Self {
                version: VersionRequest::Path(PathBuf::from(&raw)),
                freethreaded: false,
                raw,
            });
        }
        let lower = raw.to_ascii_lowercase();
        let mut rest = lower.as_str();
        for prefix in ["cpython@", "cpython-", "cpython", "python@", "python"] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r;
                break;
            }
        }
        if rest.is_empty() || rest == "any" {
            return Ok(Self {
                version: VersionRequest::Any,
                freethreaded: false,
                raw,
            });
        }
        // `cp312` is the wheel-tag spelling of 3.12.
        let owned;
        if let Some(digits) = rest.strip_prefix("cp") {
            if digits.len() >= 2 && digits.chars().all(|c| c.is_ascii_digit()) {
                owned = format!("{}.{}", &digits[..1], &digits[1..]);
                rest = &owned;
            } else {
                return Err(invalid());
            }
        }
        let (rest, freethreaded) = match rest.strip_suffix('t') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if rest.starts_with(['<', '>', '=', '!', '~']) {
            let specs = VersionSpecifiers::from_str(rest).map_err(|e| {
                user_error!(
                    hint = "PEP 440 specifiers look like `>=3.11,<3.13` or `==3.12.*`",
                    "invalid Python version specifier `{raw}`: {e}"
                )
            })?;
            return Ok(Self {
                version: VersionRequest::Specifiers(specs),
                freethreaded,
                raw,
            });
        }
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let version = Version::from_str(rest).map_err(|_| invalid())?;
        if version.release().len() > 3
            || version.is_local()
            || version.is_post()
            || version.is_dev()
        {
            return Err(invalid());
        }
        Ok(Self {
            version: VersionRequest::Prefix(version),
            freethreaded,
            raw,
        })
    }

    pub fn any() -> Self {
        Self {
            version: VersionRequest::Any,
            freethreaded: false,
            raw: "any".to_string(),
        }
    }

    pub fn is_path(&self) -> bool {
        matches!(self.version, VersionRequest::Path(_))
    }

    /// Whether the request itself names a prerelease, which lets prereleases win over releases.
    pub fn wants_prerelease(&self) -> bool {
        match &self.version {
            VersionRequest::Prefix(v) => v.any_prerelease(),
            VersionRequest::Specifiers(specs) => specs.iter().any(|s| s.version().any_prerelease()),
            VersionRequest::Any | VersionRequest::Path(_) => false,
        }
    }

    /// Does a CPython of `version` (free-threaded or not) satisfy this request?
    pub fn matches(&self, version: &Version, freethreaded: bool) -> bool {
        if freethreaded != self.freethreaded {
            return false;
        }
        match &self.version {
            // A project that names no Python must not land on a 2.7 that happens to be here.
            VersionRequest::Any => version.release().first() == Some(&3),
            VersionRequest::Path(_) => false,
            VersionRequest::Prefix(want) => {
                if want.any_prerelease() {
                    return version.release() == want.release() && version.pre() == want.pre();
                }
                let have = version.release();
                want.release()
                    .iter()
                    .enumerate()
                    .all(|(i, w)| have.get(i).copied().unwrap_or(0) == *w)
            }
            VersionRequest::Specifiers(specs) => specs.contains(version),
        }
    }

    /// Whether only a Python older than python-build-standalone's builds (2.x, 3.0–3.5) satisfies
    /// this request: then no download can, and the error says where to get one instead.
    pub fn only_legacy(&self) -> bool {
        let probe = |major: u64, minor: u64, patch: u64| {
            self.matches(&Version::new([major, minor, patch]), self.freethreaded)
        };
        let modern =
            (6..=30).any(|minor| (0..=30).any(|patch| probe(3, minor, patch))) || probe(4, 0, 0);
        let legacy = (0..=7).any(|minor| (0..=18).any(|patch| probe(2, minor, patch)))
            || (0..=5).any(|minor| (0..=10).any(|patch| probe(3, minor, patch)));
        legacy && !modern
    }

    /// The newest release of the old minor pyenvx can use (2.7 or 3.5) that this request names,
    /// for the hint that says how to get one (`pyenv install 2.7.18`); `None` when the request
    /// names only older ones (2.6, 3.4), which pyenvx does not use.
    pub fn legacy_suggestion(&self) -> Option<&'static str> {
        ["2.7.18", "3.5.10"]
            .into_iter()
            .find(|v| Version::from_str(v).is_ok_and(|v| self.matches(&v, self.freethreaded)))
    }

    /// A `major.minor` when the request pins one, for `.python-version` and messages.
    pub fn minor(&self) -> Option<(u64, u64)> {
        match &self.version {
            VersionRequest::Prefix(v) if v.release().len() >= 2 => {
                Some((v.release()[0], v.release()[1]))
            }
            _ => None,
        }
    }
}

impl FromStr for PythonRequest {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for PythonRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Of `candidates` matching `request`, the one to use: the newest release, or the newest
/// prerelease when the request asks for one or no release matches.
pub fn select_best<'a, T>(
    request: &PythonRequest,
    candidates: impl IntoIterator<Item = &'a T>,
    version_of: impl Fn(&T) -> (&Version, bool),
) -> Option<&'a T> {
    let matching: Vec<&T> = candidates
        .into_iter()
        .filter(|c| {
            let (v, ft) = version_of(c);
            request.matches(v, ft)
        })
        .collect();
    let newest = |items: &mut dyn Iterator<Item = &'a T>| {
        items.max_by(|a, b| version_of(a).0.cmp(version_of(b).0))
    };
    if !request.wants_prerelease() {
        if let Some(best) = newest(
            &mut matching
                .iter()
                .copied()
                .filter(|c| !version_of(c).0.any_prerelease()),
        ) {
            return Some(best);
        }
    }
    newest(&mut matching.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    #[test]
    fn parses_the_documented_forms() {
        for (input, version, ft) in [
            ("3", "3", false),
            ("3.12", "3.12", false),
            ("3.12.1", "3.12.1", false),
            ("3.13t", "3.13", true),
            ("cpython@3.12", "3.12", false),
            ("cpython-3.12", "3.12", false),
            ("cp312", "3.12", false),
            ("3.14.0rc1", "3.14.0rc1", false),
        ] {
            let r = PythonRequest::parse(input).unwrap();
            assert_eq!(r.version, VersionRequest::Prefix(v(version)), "{input}");
            assert_eq!(r.freethreaded, ft, "{input}");
        }
        let r = PythonRequest::parse(">=3.11,<3.13").unwrap();
        assert!(matches!(r.version, VersionRequest::Specifiers(_)));
        assert!(r.matches(&v("3.12.9"), false));
        assert!(!r.matches(&v("3.13.0"), false));
        assert!(PythonRequest::parse("banana").is_err());
        assert!(PythonRequest::parse("3.12.1.4").is_err());
        assert!(PythonRequest::parse("any")
            .unwrap()
            .matches(&v("3.9.1"), false));
    }

    #[test]
    fn any_means_python_3_and_old_requests_are_recognised() {
        let any = PythonRequest::any();
        assert!(any.matches(&v("3.12.1"), false));
        assert!(!any.matches(&v("2.7.18"), false));
        assert!(PythonRequest::parse("2")
            .unwrap()
            .matches(&v("2.7.18"), false));
        for old in ["2.7", "2", "3.5", "3.4.10", "cp27", "<3.6", "==2.7.*"] {
            assert!(PythonRequest::parse(old).unwrap().only_legacy(), "{old}");
        }
        for new in ["3", "3.6", "3.13", ">=3.5", ">=2.7", "any"] {
            assert!(!PythonRequest::parse(new).unwrap().only_legacy(), "{new}");
        }
        let suggest = |r: &str| PythonRequest::parse(r).unwrap().legacy_suggestion();
        assert_eq!(suggest("2.7"), Some("2.7.18"));
        assert_eq!(suggest("<3.6"), Some("2.7.18"));
        assert_eq!(suggest("3.5"), Some("3.5.10"));
        assert_eq!(suggest("3.4"), None);
        assert_eq!(suggest("2.6"), None);
    }

    #[test]
    fn prefix_matching_and_freethreading() {
        let r = PythonRequest::parse("3.12").unwrap();
        assert!(r.matches(&v("3.12.0"), false));
        assert!(r.matches(&v("3.12.7"), false));
        assert!(!r.matches(&v("3.1.2"), false));
        assert!(!r.matches(&v("3.12.7"), true));
        let t = PythonRequest::parse("3.13t").unwrap();
        assert!(t.matches(&v("3.13.1"), true));
        assert!(!t.matches(&v("3.13.1"), false));
    }

    #[test]
    fn newest_release_wins_prerelease_only_when_needed() {
        let all = [v("3.12.1"), v("3.12.4"), v("3.13.0"), v("3.14.0rc1")];
        let pick = |req: &str| {
            select_best(&PythonRequest::parse(req).unwrap(), all.iter(), |x| {
                (x, false)
            })
            .map(|x| x.to_string())
        };
        assert_eq!(pick("3").as_deref(), Some("3.13.0"));
        assert_eq!(pick("3.12").as_deref(), Some("3.12.4"));
        assert_eq!(pick("3.14").as_deref(), Some("3.14.0rc1"));
        assert_eq!(pick("3.14.0rc1").as_deref(), Some("3.14.0rc1"));
        assert_eq!(pick(">=3.12").as_deref(), Some("3.13.0"));
        assert_eq!(pick("3.11"), None);
    }
}
