//! Every directory pyenvx reads or writes, named once.
//!
//! All state lives under `PYENVX_HOME` and everything that can be re-downloaded under
//! `PYENVX_CACHE_DIR`; no other module builds a path under either by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::user_error;

/// The resolved state and cache roots.
#[derive(Debug, Clone)]
pub struct Dirs {
    home: PathBuf,
    cache: PathBuf,
}

impl Dirs {
    /// `PYENVX_HOME` / `PYENVX_CACHE_DIR`, else the XDG data and cache dirs plus `pyenvx`.
    pub fn from_env() -> Result<Self> {
        let home = match std::env::var_os("PYENVX_HOME").filter(|v| !v.is_empty()) {
            Some(p) => absolute(PathBuf::from(p))?,
            None => ::dirs::data_dir()
                .ok_or_else(|| {
                    user_error!(
                        hint = "set PYENVX_HOME to the directory pyenvx should keep its state in",
                        "cannot determine a data directory (HOME is unset)"
                    )
                })?
                .join("pyenvx"),
        };
        let cache = match std::env::var_os("PYENVX_CACHE_DIR").filter(|v| !v.is_empty()) {
            Some(p) => absolute(PathBuf::from(p))?,
            None => ::dirs::cache_dir()
                .ok_or_else(|| {
                    user_error!(
                        hint = "set PYENVX_CACHE_DIR to the directory pyenvx should cache downloads in",
                        "cannot determine a cache directory (HOME is unset)"
                    )
                })?
                .join("pyenvx"),
        };
        Ok(Self { home, cache })
    }

    pub fn new(home: PathBuf, cache: PathBuf) -> Self {
        Self { home, cache }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn cache(&self) -> &Path {
        &self.cache
    }

    /// Managed interpreters: `python/cpython-3.12.1-linux-x86_64-gnu/` plus minor-version links.
    pub fn pythons(&self) -> PathBuf {
        self.home.join("python")
    }

    /// Installed wheel trees, content-addressed, hard-linked into every sandbox.
    pub fn store(&self) -> PathBuf {
        self.home.join("store").join("v1")
    }

    /// Tools pyenvx drives, such as uv (`tools/uv/bin/uv`).
    pub fn tools(&self) -> PathBuf {
        self.home.join("tools")
    }

    /// Lock files guarding installs, one per install key.
    pub fn locks(&self) -> PathBuf {
        self.home.join("locks")
    }

    /// The global interpreter pin written by `pyenvx python pin --global`.
    pub fn global_python_version(&self) -> PathBuf {
        self.home.join("python-version")
    }

    /// Shims (`python`, `pip`, console scripts), hard links of `pyenvx-shim`, for PATH.
    pub fn shims(&self) -> PathBuf {
        self.home.join(pyenvx_shim::SHIMS_DIR)
    }

    /// Project roots pyenvx has synced, whose sandboxes' console scripts get shims.
    pub fn known_projects(&self) -> PathBuf {
        self.home.join("projects.json")
    }

    /// Verified archives, kept so a reinstall or a second machine user needs no network.
    pub fn downloads(&self) -> PathBuf {
        self.cache.join("downloads")
    }

    /// Cached download catalogs (the live build list).
    pub fn catalogs(&self) -> PathBuf {
        self.cache.join("catalogs")
    }

    /// Answers of interpreters found on the machine, keyed by path and mtime.
    pub fn interpreter_cache(&self) -> PathBuf {
        self.cache.join("interpreters-v1.json")
    }

    /// The port registry of project services (`services/ports.json`).
    pub fn service_ports(&self) -> PathBuf {
        self.home.join("services").join("ports.json")
    }

    /// Relocatable PostgreSQL builds pyenvx unpacked, one directory per version.
    pub fn postgres(&self) -> PathBuf {
        self.home.join("postgres")
    }
}

fn absolute(p: PathBuf) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p)
    } else {
        Ok(std::env::current_dir()
            .context("cannot read the current directory")?
            .join(p))
    }
}
