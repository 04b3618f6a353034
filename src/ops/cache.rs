//! `pyenvx cache clean`: everything under `PYENVX_CACHE_DIR` can be fetched or computed again
//! (downloads, catalogs, resolutions, uv's cache), so all of it goes. The store of installed
//! packages lives under `PYENVX_HOME` because sandboxes hard-link it: it is not a cache.

use std::path::Path;

use anyhow::{Context, Result};

use crate::dirs::Dirs;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Top-level entries removed.
    pub entries: usize,
    pub bytes: u64,
}

pub fn clean(dirs: &Dirs) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let Ok(entries) = std::fs::read_dir(dirs.cache()) else {
        return Ok(report);
    };
    for entry in entries {
        let path = entry?.path();
        report.bytes += size_and_unlock(&path);
        if std::fs::symlink_metadata(&path)?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .with_context(|| format!("cannot remove {}", path.display()))?;
        report.entries += 1;
    }
    Ok(report)
}

/// Bytes in the files under `path`, and every directory made writable on the way: uv marks
/// its cache's directories read-only, and removal would fail on them.
fn size_and_unlock(path: &Path) -> u64 {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    if meta.permissions().mode() & 0o700 != 0o700 {
        let mode = meta.permissions().mode() | 0o700;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size_and_unlock(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_empties_the_cache_dir_and_counts_what_went() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let dirs = Dirs::new(tmp.path().join("home"), tmp.path().join("cache"));
        std::fs::create_dir_all(dirs.cache().join("resolutions")).unwrap();
        std::fs::write(dirs.cache().join("resolutions/a.json"), b"12345").unwrap();
        std::fs::write(dirs.cache().join("catalog.json"), b"123").unwrap();
        let report = clean(&dirs).unwrap();
        assert_eq!(
            report,
            CleanReport {
                entries: 2,
                bytes: 8
            }
        );
        assert_eq!(std::fs::read_dir(dirs.cache()).unwrap().count(), 0);
        assert_eq!(clean(&dirs).unwrap(), CleanReport::default());
    }
}
