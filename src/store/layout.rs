//! What an entry of the store is made of, shared by the store and the files that link,
//! park and remove its distributions: the entry's layout (`site/`, `scripts/`, `meta.json`),
//! the per-environment files, the safe modes, and the writer threads that fill an entry.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub(super) const META: &str = "meta.json";
pub(super) const SITE: &str = "site";
pub(super) const SCRIPTS: &str = "scripts";
/// Written per environment by [`link_into`], so never linked from the store.
pub(super) const PER_VENV: [&str; 3] = ["RECORD", "INSTALLER", SOURCE];
/// In each linked dist-info: `sha256=<hex>` of the file it was installed from, so a sync can
/// tell an installed distribution from another file of the same name and version.
pub(super) const SOURCE: &str = "pyenvx-source";
/// uv's notes about its staging install (uv before `UV_NO_INSTALLER_METADATA` writes them).
pub(super) const DROPPED: [&str; 3] = ["INSTALLER", "REQUESTED", "uv_cache.json"];
pub(super) const INSTALLER: &[u8] = b"pyenvx\n";

/// The most a stored file or directory may allow. Entries are shared by every environment on
/// the machine: a wheel's setuid, setgid or sticky bits, or write for group and others, would
/// let one user change (or run as root) what another imports.
pub(super) const SAFE_MODE: u32 = 0o755;

/// One stored distribution.
#[derive(Debug, Clone)]
pub struct StoreEntry {
    pub dir: PathBuf,
    pub meta: EntryMeta,
}

/// A script name and its entry point, `module:function`.
pub type Script = (String, String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// PEP 503 normalized.
    pub name: String,
    pub version: String,
    /// The wheel (or sdist) it was installed from.
    pub file: String,
    pub sha256: String,
    /// The `.dist-info` directory's name, e.g. `django-5.2.19.dist-info`.
    pub dist_info: String,
    /// (name, `module:function`) pairs from `entry_points.txt`; the launchers are generated per
    /// environment because they embed its interpreter.
    pub console_scripts: Vec<Script>,
    pub gui_scripts: Vec<Script>,
    /// Names of the files under `scripts/`.
    pub other_scripts: Vec<String>,
}

impl StoreEntry {
    /// The entry's `.dist-info` directory (its `METADATA` names what it requires).
    pub fn dist_info_dir(&self) -> PathBuf {
        self.dir.join(SITE).join(&self.meta.dist_info)
    }
}

/// Writer threads for an entry's files: at least two, so file creation overlaps even on two
/// cores (it waits on the file system more than on the CPU).
pub(super) fn writer_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// Run `work` on consecutive chunks of `items` (neighbours share directories), one per writer
/// thread, the first on this thread; the first error wins. Few items stay on this thread.
pub(super) fn in_parallel<T: Sync>(
    items: &[T],
    work: impl Fn(&[T]) -> Result<()> + Sync,
) -> Result<()> {
    const PER_THREAD: usize = 64;
    let threads = writer_threads()
        .min(items.len().div_ceil(PER_THREAD))
        .max(1);
    if threads == 1 {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks = items.chunks(chunk);
    let first = chunks.next().unwrap_or(&[]);
    std::thread::scope(|scope| {
        let work = &work;
        let others: Vec<_> = chunks.map(|c| scope.spawn(move || work(c))).collect();
        let mut result = work(first);
        for handle in others {
            let done = handle
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread panicked")));
            result = result.and(done);
        }
        result
    })
}
