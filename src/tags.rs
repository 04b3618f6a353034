//! Wheel compatibility tags (PEP 425 / PEP 600 / PEP 656): which wheels an interpreter can
//! install, and which of several it prefers.
//!
//! A resolution lists every file of a release that may fit (uv's pylock names the `cp313`,
//! `abi3` and `py3-none-any` wheels side by side); the install must pick the same one pip and
//! uv would, or the sandbox would differ from theirs. The order here is that of
//! `packaging.tags.sys_tags()` for CPython, which both follow: the interpreter's own ABI before
//! `abi3` before `none`, and within each, the most specific platform first (the highest
//! manylinux level the machine's glibc allows down to `manylinux1`, then plain `linux`).

use std::collections::HashMap;

use crate::platform::Platform;

/// The platform tags this machine accepts, best first (`manylinux_2_36_x86_64`, …,
/// `manylinux1_x86_64`, `linux_x86_64`).
pub fn platform_tags(platform: &Platform) -> Vec<String> {
    match platform.os.as_str() {
        "linux" => {
            let (glibc, musl) = match platform.libc.as_str() {
                "musl" => (None, musl_version(&platform.arch)),
                _ => (glibc_version(), None),
            };
            linux_platform_tags(&platform.arch, glibc, musl)
        }
        // Other systems have no wheels we could rank reliably; pure wheels and sdists still fit.
        _ => Vec::new(),
    }
}

/// [`platform_tags`] from known facts, so tests need not be on the machine they describe.
pub fn linux_platform_tags(
    arch: &str,
    glibc: Option<(u32, u32)>,
    musl: Option<(u32, u32)>,
) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some((major, minor)) = glibc.filter(|(major, _)| *major == 2) {
        // PEP 600: the oldest glibc a manylinux wheel may assume on this architecture.
        let oldest = if matches!(arch, "x86_64" | "i686") {
            5
        } else {
            17
        };
        for m in (oldest..=minor).rev() {
            tags.push(format!("manylinux_{major}_{m}_{arch}"));
            let legacy = match m {
                17 => Some("manylinux2014"),
                12 => Some("manylinux2010"),
                5 => Some("manylinux1"),
                _ => None,
            };
            // The legacy aliases exist for the architectures they were defined for only.
            let legacy_arch = match m {
                17 => matches!(
                    arch,
                    "x86_64" | "i686" | "aarch64" | "armv7l" | "ppc64" | "ppc64le" | "s390x"
                ),
                _ => matches!(arch, "x86_64" | "i686"),
            };
            if let (Some(legacy), true) = (legacy, legacy_arch) {
                tags.push(format!("{legacy}_{arch}"));
            }
        }
    }
    if let Some((major, minor)) = musl {
        for m in (0..=minor).rev() {
            tags.push(format!("musllinux_{major}_{m}_{arch}"));
        }
    }
    tags.push(format!("linux_{arch}"));
    tags
}

/// The running glibc's `(major, minor)`, as `packaging` reads it (`confstr`, here through
/// `gnu_get_libc_version`, which is the same string).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn glibc_version() -> Option<(u32, u32)> {
    // SAFETY: returns a pointer to a static NUL-terminated string owned by glibc.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    parse_major_minor(text.to_str().ok()?)
}

/// A pyenvx built against another libc asks `getconf`, as `ldd` would.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn glibc_version() -> Option<(u32, u32)> {
    let out = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    // `glibc 2.36`
    let text = String::from_utf8_lossy(&out.stdout);
    parse_major_minor(text.split_whitespace().nth(1)?)
}

/// musl's version, printed by its dynamic loader when run without arguments (`Version 1.2.4`),
/// which is how `packaging` reads it too.
fn musl_version(arch: &str) -> Option<(u32, u32)> {
    let loader = format!("/lib/ld-musl-{arch}.so.1");
    let out = std::process::Command::new(loader)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Version "))
        .and_then(parse_major_minor)
}

fn parse_major_minor(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// Every tag one interpreter accepts, each with its priority (0 is best).
#[derive(Debug, Clone)]
pub struct Tags {
    ordered: Vec<(String, String, String)>,
    rank: HashMap<(String, String, String), usize>,
}

impl Tags {
    /// The tags of CPython `major.minor` (free-threaded or not) on `platforms` (best first), in
    /// `packaging.tags.sys_tags()` order.
    pub fn cpython(major: u32, minor: u32, freethreaded: bool, platforms: &[String]) -> Self {
        let interp = format!("cp{major}{minor}");
        // The ABI flags of the build, as `packaging.tags` reads them from SOABI: pymalloc's `m`
        // until 3.8 dropped it (psycopg2 2.7's wheels are `cp37-cp37m`: without it the sdist
        // was built instead, with a setuptools that no longer runs its 2to3), and before 3.3
        // the wide-unicode `u` of Linux builds (pyenv's, Debian's, manylinux1's `cp27mu`).
        let flags = match (major, minor) {
            (2, _) => "mu",
            (3, m) if m < 8 => "m",
            _ if freethreaded => "t",
            _ => "",
        };
        let abi = format!("{interp}{flags}");
        // abi3 is the limited API of the GIL build: a free-threaded interpreter cannot load it.
        let abi3 = major == 3 && minor >= 2 && !freethreaded;
        let mut ordered = Vec::new();
        let mut push = |py: &str, abi: &str, plat: &str| {
            ordered.push((py.to_string(), abi.to_string(), plat.to_string()));
        };
        for plat in platforms {
            push(&interp, &abi, plat);
        }
        if abi3 {
            for plat in platforms {
                push(&interp, "abi3", plat);
            }
        }
        for plat in platforms {
            push(&interp, "none", plat);
        }
        if abi3 {
            for older in (2..minor).rev() {
                for plat in platforms {
                    push(&format!("cp{major}{older}"), "abi3", plat);
                }
            }
        }
        // `py313`, `py3`, `py312`, …, `py30`.
        let mut py_versions = vec![format!("py{major}{minor}"), format!("py{major}")];
        py_versions.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for py in &py_versions {
            for plat in platforms {
                push(py, "none", plat);
            }
        }
        push(&interp, "none", "any");
        for py in &py_versions {
            push(py, "none", "any");
        }
        let mut rank = HashMap::with_capacity(ordered.len());
        for (i, tag) in ordered.iter().enumerate() {
            rank.entry(tag.clone()).or_insert(i);
        }
        Self { ordered, rank }
    }

    /// The best priority among a wheel's tags (`None`: the wheel does not fit, or the name is
    /// not a wheel's). Compressed tag sets (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`)
    /// count as every combination.
    pub fn rank(&self, wheel_file: &str) -> Option<usize> {
        let (py, abi, plat) = wheel_tags(wheel_file)?;
        let mut best: Option<usize> = None;
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    let key = (p.to_string(), a.to_string(), pl.to_string());
                    if let Some(&r) = self.rank.get(&key) {
                        best = Some(best.map_or(r, |b| b.min(r)));
                    }
                }
            }
        }
        best
    }

    /// The first `n` tags, for messages (`cp312-cp312-manylinux_2_36_x86_64`).
    pub fn first(&self, n: usize) -> Vec<String> {
        self.ordered
            .iter()
            .take(n)
            .map(|(p, a, pl)| format!("{p}-{a}-{pl}"))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

/// `(python, abi, platform)` of a wheel file name; the optional build tag is skipped.
pub fn wheel_tags(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return None;
    }
    let n = parts.len();
    Some((parts[n - 3], parts[n - 2], parts[n - 1]))
}

/// A wheel's build tag (`1` in `x-1.0-1-py3-none-any.whl`), which breaks ties between wheels of
/// equal tags: the larger number wins, as pip and uv decide.
pub fn build_number(file: &str) -> Option<(u64, String)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 6 {
        return None;
    }
    let build = parts[2];
    let digits: String = build.chars().take_while(char::is_ascii_digit).collect();
    Some((digits.parse().ok()?, build[digits.len()..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86_glibc(minor: u32) -> Vec<String> {
        linux_platform_tags("x86_64", Some((2, minor)), None)
    }

    #[test]
    fn manylinux_levels_from_the_glibc_down() {
        let tags = x86_glibc(28);
        assert_eq!(tags[0], "manylinux_2_28_x86_64");
        let at = |t: &str| tags.iter().position(|x| x == t).unwrap();
        assert_eq!(at("manylinux2014_x86_64"), at("manylinux_2_17_x86_64") + 1);
        assert_eq!(at("manylinux2010_x86_64"), at("manylinux_2_12_x86_64") + 1);
        assert_eq!(at("manylinux1_x86_64"), at("manylinux_2_5_x86_64") + 1);
        assert_eq!(tags.last().unwrap(), "linux_x86_64");
        assert!(!tags.iter().any(|t| t.contains("musllinux")));
        assert!(!tags.iter().any(|t| t == "manylinux_2_29_x86_64"));

        // aarch64 starts at 2.17 and has only the 2014 alias.
        let arm = linux_platform_tags("aarch64", Some((2, 17)), None);
        assert_eq!(
            arm,
            [
                "manylinux_2_17_aarch64",
                "manylinux2014_aarch64",
                "linux_aarch64"
            ]
        );

        // musl: no manylinux at all.
        let musl = linux_platform_tags("x86_64", None, Some((1, 2)));
        assert_eq!(
            musl,
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
                "linux_x86_64"
            ]
        );
    }

    #[test]
    fn this_machine_has_glibc_tags() {
        let platform = Platform::current();
        if platform.os == "linux" && platform.libc == "gnu" {
            let (major, minor) = glibc_version().expect("glibc version");
            assert_eq!(major, 2);
            let tags = platform_tags(&platform);
            assert_eq!(
                tags[0],
                format!("manylinux_2_{minor}_{}", std::env::consts::ARCH)
            );
        }
    }

    #[test]
    fn sys_tags_order() {
        let tags = Tags::cpython(3, 12, false, &x86_glibc(36));
        let first = tags.first(2);
        assert_eq!(
            first,
            [
                "cp312-cp312-manylinux_2_36_x86_64",
                "cp312-cp312-manylinux_2_35_x86_64"
            ]
        );
        let r = |f: &str| tags.rank(f);
        let specific = r(
            "charset_normalizer-3.4.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        let abi3 = r("x-1.0-cp37-abi3-manylinux_2_17_x86_64.whl").unwrap();
        let pure = r("charset_normalizer-3.4.0-py3-none-any.whl").unwrap();
        assert!(specific < abi3 && abi3 < pure);
        // Higher manylinux level first, within one ABI.
        assert!(
            r("cryptography-43.0.3-cp39-abi3-manylinux_2_28_x86_64.whl").unwrap()
                < r("cryptography-43.0.3-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
                    .unwrap()
        );
        // A newer abi3 floor is more specific than an older one.
        assert!(
            r("a-1-cp311-abi3-linux_x86_64.whl").unwrap()
                < r("a-1-cp37-abi3-manylinux1_x86_64.whl").unwrap()
        );
        // cpXY-none-<platform> between abi3 of this minor and older abi3.
        assert!(r("a-1-cp312-none-linux_x86_64.whl").unwrap() < abi3);
        // py3-none-<platform> before any pure wheel; py313 and py2 don't fit.
        assert!(r("a-1-py3-none-manylinux1_x86_64.whl").unwrap() < pure);
        assert!(r("a-1-py312-none-any.whl").unwrap() < pure);
        assert!(r("a-1-py3-none-any.whl").unwrap() < r("a-1-py311-none-any.whl").unwrap());
        assert_eq!(r("a-1-py2.py3-none-any.whl"), Some(pure));
        assert_eq!(r("a-1-py313-none-any.whl"), None);
        assert_eq!(r("a-1-py2-none-any.whl"), None);
        // Other interpreters, libcs, platforms, levels.
        assert_eq!(r("a-1-cp313-cp313-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(r("a-1-cp312-cp312-musllinux_1_2_x86_64.whl"), None);
        assert_eq!(r("a-1-cp312-cp312-macosx_11_0_arm64.whl"), None);
        assert_eq!(r("a-1-cp312-cp312-manylinux_2_37_x86_64.whl"), None);
        assert_eq!(r("a-1-cp312-cp312-win_amd64.whl"), None);
        assert_eq!(r("a-1.tar.gz"), None);
        // A build tag is skipped for matching.
        assert_eq!(r("a-1-2-py3-none-any.whl"), Some(pure));
        assert_eq!(
            build_number("a-1-2b-py3-none-any.whl"),
            Some((2, "b".into()))
        );
        assert_eq!(build_number("a-1-py3-none-any.whl"), None);
    }

    #[test]
    fn pythons_before_3_8_carry_their_abi_flags() {
        let glibc = x86_glibc(36);
        let py37 = Tags::cpython(3, 7, false, &glibc);
        assert!(py37
            .rank("psycopg2-2.7.7-cp37-cp37m-manylinux1_x86_64.whl")
            .is_some());
        assert!(py37.rank("x-1-cp37-cp37-manylinux1_x86_64.whl").is_none());
        assert!(Tags::cpython(2, 7, false, &glibc)
            .rank("psycopg2-2.7.7-cp27-cp27mu-manylinux1_x86_64.whl")
            .is_some());
        assert!(Tags::cpython(3, 8, false, &glibc)
            .rank("x-1-cp38-cp38-manylinux1_x86_64.whl")
            .is_some());
    }

    #[test]
    fn free_threaded_takes_no_abi3() {
        let tags = Tags::cpython(3, 13, true, &x86_glibc(36));
        assert_eq!(tags.first(1), ["cp313-cp313t-manylinux_2_36_x86_64"]);
        assert_eq!(tags.rank("a-1-cp39-abi3-manylinux_2_28_x86_64.whl"), None);
        assert_eq!(tags.rank("a-1-cp313-cp313-manylinux_2_28_x86_64.whl"), None);
        assert!(tags.rank("a-1-py3-none-any.whl").is_some());
        let gil = Tags::cpython(3, 13, false, &x86_glibc(36));
        assert_eq!(gil.rank("a-1-cp313-cp313t-manylinux_2_28_x86_64.whl"), None);
    }

    #[test]
    fn parses_glibc_versions() {
        assert_eq!(parse_major_minor("2.36"), Some((2, 36)));
        assert_eq!(parse_major_minor("2.28-x"), Some((2, 28)));
        assert_eq!(parse_major_minor("1.2.4\n"), Some((1, 2)));
        assert_eq!(parse_major_minor("x"), None);
    }
}
