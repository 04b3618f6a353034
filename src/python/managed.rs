//! Interpreters pyenvx installed: listing, minor-version links, uninstalling.
//!
//! Layout under `$PYENVX_HOME/python/`:
//! - `cpython-3.12.1-linux-x86_64-gnu/` — one build, with `.pyenvx-install.json` describing it;
//! - `cpython-3.12-linux-x86_64-gnu` — a symlink to the newest installed 3.12.x, which
//!   environments point at so they survive a patch upgrade.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::platform::Platform;

/// The receipt written into every install.
pub const RECEIPT: &str = ".pyenvx-install.json";

/// What `.pyenvx-install.json` records about an install.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    pub key: String,
    pub version: Version,
    pub variant: Option<String>,
    pub build: String,
    pub url: String,
    pub sha256: String,
    pub platform: String,
}

/// An installed managed interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub receipt: Receipt,
    pub dir: PathBuf,
}

impl Installed {
    pub fn version(&self) -> &Version {
        &self.receipt.version
    }

    pub fn freethreaded(&self) -> bool {
        self.receipt.variant.as_deref() == Some("freethreaded")
    }

    /// `bin/python3.12` (or `python3.13t`), the interpreter itself.
    pub fn executable(&self) -> PathBuf {
        self.dir
            .join("bin")
            .join(executable_name(self.version(), self.freethreaded()))
    }

    /// The minor-version link's directory path, e.g. `…/python/cpython-3.12-linux-x86_64-gnu`.
    pub fn minor_link(&self, dirs: &Dirs) -> PathBuf {
        dirs.pythons().join(minor_key(
            self.version(),
            self.freethreaded(),
            &self.receipt.platform,
        ))
    }
}

/// `python3.12` or `python3.13t`.
pub fn executable_name(version: &Version, freethreaded: bool) -> String {
    let r = version.release();
    let t = if freethreaded { "t" } else { "" };
    format!("python{}.{}{t}", r[0], r.get(1).copied().unwrap_or(0))
}

/// `cpython-3.12-linux-x86_64-gnu` / `cpython-3.13+freethreaded-linux-x86_64-gnu`.
pub fn minor_key(version: &Version, freethreaded: bool, platform_key: &str) -> String {
    let r = version.release();
    let variant = if freethreaded { "+freethreaded" } else { "" };
    format!(
        "cpython-{}.{}{variant}-{platform_key}",
        r[0],
        r.get(1).copied().unwrap_or(0)
    )
}

/// Every managed install for `platform`, newest first. Unreadable or half-written entries are skipped.
pub fn list(dirs: &Dirs, platform: &Platform) -> Result<Vec<Installed>> {
    let root = dirs.pythons();
    let entries = match fs_err::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let suffix = format!("-{}", platform.key());
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("cpython-") || !name.ends_with(&suffix) {
            continue;
        }
        if entry.file_type()?.is_symlink() {
            continue;
        }
        if let Some(installed) = read(&entry.path()) {
            out.push(installed);
        }
    }
    out.sort_by(|a, b| b.version().cmp(a.version()));
    Ok(out)
}

/// Read one install directory's receipt.
pub fn read(dir: &Path) -> Option<Installed> {
    let text = std::fs::read_to_string(dir.join(RECEIPT)).ok()?;
    let receipt: Receipt = serde_json::from_str(&text).ok()?;
    Some(Installed {
        receipt,
        dir: dir.to_path_buf(),
    })
}

/// Point the minor link for `version`'s series at the newest installed patch, or remove it
/// when none is left. The link is swapped atomically (new link under a temp name, then rename).
pub fn update_minor_link(
    dirs: &Dirs,
    platform: &Platform,
    version: &Version,
    freethreaded: bool,
) -> Result<()> {
    let installs = list(dirs, platform)?;
    let series = |v: &Version| v.release().get(..2) == version.release().get(..2);
    let link = dirs
        .pythons()
        .join(minor_key(version, freethreaded, &platform.key()));
    let newest = installs
        .iter()
        .filter(|i| series(i.version()) && i.freethreaded() == freethreaded)
        .filter(|i| !i.version().any_prerelease())
        .chain(
            installs
                .iter()
                .filter(|i| series(i.version()) && i.freethreaded() == freethreaded),
        )
        .next();
    match newest {
        Some(target) => {
            let name = target.dir.file_name().context("install dir has no name")?;
            crate::fs::replace_symlink(Path::new(name), &link)?;
        }
        None => match fs_err::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

/// Remove one managed build. Under its install lock (an install or another uninstall of the same
/// build waits), the directory is renamed aside first so readers see it whole or not at all,
/// then the minor link moves to the newest patch left (or goes), then the files are deleted.
pub fn uninstall(
    dirs: &Dirs,
    platform: &Platform,
    target: &Installed,
    reporter: &dyn crate::reporter::Reporter,
) -> Result<()> {
    let key = &target.receipt.key;
    let _lock =
        crate::filelock::FileLock::acquire(&dirs.locks().join(format!("{key}.lock")), || {
            reporter.waiting_for_lock(&format!("another pyenvx is using {key}"))
        })?;
    // Rename first so the removal is atomic for readers: either the install is there, or not.
    let trash = dirs
        .pythons()
        .join(format!(".tmp-{key}-old-{}", std::process::id()));
    fs_err::rename(&target.dir, &trash)?;
    update_minor_link(dirs, platform, target.version(), target.freethreaded())?;
    fs_err::remove_dir_all(&trash)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A managed build as `install` leaves it: the directory with its receipt.
    fn fake_install(dirs: &Dirs, platform: &Platform, version: &str) -> Installed {
        let key = format!("cpython-{version}-{}", platform.key());
        let dir = dirs.pythons().join(&key);
        fs_err::create_dir_all(dir.join("bin")).unwrap();
        let receipt = Receipt {
            key,
            version: version.parse().unwrap(),
            variant: None,
            build: "20250101".into(),
            url: String::new(),
            sha256: String::new(),
            platform: platform.key(),
        };
        fs_err::write(dir.join(RECEIPT), serde_json::to_string(&receipt).unwrap()).unwrap();
        Installed { receipt, dir }
    }

    #[test]
    fn uninstall_moves_the_minor_link_then_removes_it_with_the_last_patch() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let dirs = Dirs::new(tmp.path().join("home"), tmp.path().join("cache"));
        let platform = Platform::current();
        let old = fake_install(&dirs, &platform, "3.12.1");
        let new = fake_install(&dirs, &platform, "3.12.8");
        update_minor_link(&dirs, &platform, new.version(), false).unwrap();
        let link = new.minor_link(&dirs);
        let points_at = || fs_err::read_link(&link).unwrap();
        assert_eq!(points_at(), Path::new(new.dir.file_name().unwrap()));

        uninstall(&dirs, &platform, &new, &crate::reporter::Silent).unwrap();
        assert!(!new.dir.exists());
        assert_eq!(points_at(), Path::new(old.dir.file_name().unwrap()));
        assert_eq!(list(&dirs, &platform).unwrap(), std::slice::from_ref(&old));

        uninstall(&dirs, &platform, &old, &crate::reporter::Silent).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err());
        // Nothing left beside them: no renamed-aside directory outlives the removal.
        let left: Vec<_> = fs_err::read_dir(dirs.pythons())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
