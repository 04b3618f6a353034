//! The platform triple a build must match: os, arch and libc, named as uv's catalog names them.

use std::fmt;

/// What this machine can run, in catalog terms (`linux`, `x86_64`, `gnu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub libc: String,
}

impl Platform {
    pub fn current() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        }
        .to_string();
        let arch = std::env::consts::ARCH.to_string();
        let libc = if os == "linux" {
            detect_libc().to_string()
        } else {
            "none".to_string()
        };
        Self { os, arch, libc }
    }

    /// The suffix of install directory names, `linux-x86_64-gnu`.
    pub fn key(&self) -> String {
        format!("{}-{}-{}", self.os, self.arch, self.libc)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// musl systems have a musl dynamic loader and no glibc one; checking the loader is cheaper and
/// more reliable than running `ldd --version`.
fn detect_libc() -> &'static str {
    let Ok(entries) = std::fs::read_dir("/lib") else {
        return "gnu";
    };
    let musl = entries
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"));
    if musl {
        "musl"
    } else {
        "gnu"
    }
}
