//! Parking: setting a distribution aside inside the environment instead of deleting it.
//!
//! Removing Django file by file costs thousands of unlinks and rmdirs, and linking it back costs
//! as many mkdirs and links — on an ordinary disk that is most of a second each way. A switch
//! between versions a project has used before instead renames Django's few top-level entries
//! (`django/`, its dist-info, `bin/django-admin`) into `.venv/.pyenvx-parked/<name>-<version>/`
//! and back. The parking area is inside the environment but off `sys.path`, so Python, pip and
//! editors see exactly the locked set. Only what pyenvx itself linked is parked, and only when no
//! other installed distribution shares a top-level entry with it (namespace packages); anything
//! else is removed the ordinary way.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::layout::INSTALLER;
use super::metadata::{InstalledDist, RecordRow};
use super::remove::lexical_join;
use crate::venv::Venv;

const PARKED: &str = ".pyenvx-parked";
const MANIFEST: &str = "parked.json";
/// Parked versions kept per environment; older ones are deleted when a new one arrives.
const KEEP: usize = 12;

/// What was moved, relative to the environment root, so it can be moved back.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// Top-level entries of site-packages, the dist-info last.
    site: Vec<String>,
    /// Scripts in `bin/`.
    bin: Vec<String>,
}

fn parked_root(venv: &Venv) -> PathBuf {
    venv.root.join(PARKED)
}

fn slot(name: &str, version: &str) -> String {
    format!("{name}-{version}")
}

/// The top-level site-packages entries and `bin/` scripts a RECORD covers; `None` if it lists
/// anything elsewhere (data files under the venv root, paths outside), which parking would miss.
fn top_level(record: &str, site: &Path, bin: &Path) -> Option<(HashSet<String>, HashSet<String>)> {
    let mut site_items = HashSet::new();
    let mut bin_items = HashSet::new();
    for row in record.lines().filter_map(RecordRow::parse) {
        let path = lexical_join(site, &row.path)?;
        if let Ok(rel) = path.strip_prefix(site) {
            let first = rel.components().next()?;
            site_items.insert(first.as_os_str().to_string_lossy().into_owned());
        } else if let Ok(rel) = path.strip_prefix(bin) {
            let mut parts = rel.components();
            let first = parts.next()?;
            if parts.next().is_some() {
                return None;
            }
            bin_items.insert(first.as_os_str().to_string_lossy().into_owned());
        } else {
            return None;
        }
    }
    Some((site_items, bin_items))
}

/// Move `dist` into the parking area. `Ok(false)` means it cannot be parked and the caller
/// should remove it instead; nothing has been moved then.
pub fn park_dist(venv: &Venv, dist: &InstalledDist, others: &[InstalledDist]) -> Result<bool> {
    let installer = std::fs::read(dist.dist_info.join("INSTALLER")).unwrap_or_default();
    if installer != INSTALLER {
        return Ok(false);
    }
    let Ok(record) = std::fs::read_to_string(dist.dist_info.join("RECORD")) else {
        return Ok(false);
    };
    let site = venv.site_packages()?;
    let bin = venv.bin();
    let Some(dist_info_name) = dist
        .dist_info
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return Ok(false);
    };
    let Some((mut site_items, bin_items)) = top_level(&record, &site, &bin) else {
        return Ok(false);
    };
    // Top-level modules share `site-packages/__pycache__`, which cannot move with them.
    if site_items
        .iter()
        .any(|i| i.ends_with(".py") || i == "__pycache__")
    {
        return Ok(false);
    }
    for other in others.iter().filter(|o| o.dist_info != dist.dist_info) {
        let Ok(text) = std::fs::read_to_string(other.dist_info.join("RECORD")) else {
            continue;
        };
        let Some((theirs, their_bin)) = top_level(&text, &site, &bin) else {
            continue;
        };
        if !theirs.is_disjoint(&site_items) || !their_bin.is_disjoint(&bin_items) {
            return Ok(false);
        }
    }
    site_items.remove(&dist_info_name);
    let mut manifest = Manifest {
        site: site_items
            .into_iter()
            .filter(|i| site.join(i).exists())
            .collect(),
        bin: bin_items
            .into_iter()
            .filter(|i| bin.join(i).exists())
            .collect(),
    };
    manifest.site.sort();
    manifest.bin.sort();
    // The dist-info goes first: from then on the environment no longer claims the
    // distribution, so an interruption can only leave it missing (and re-linked by the next
    // sync), never present with its files gone.
    manifest.site.insert(0, dist_info_name);

    let root = parked_root(venv);
    let target = root.join(slot(&dist.name, &dist.version));
    let staging = root.join(format!(
        ".tmp-{}-{}",
        slot(&dist.name, &dist.version),
        std::process::id()
    ));
    fs_err::create_dir_all(staging.join("site"))?;
    fs_err::create_dir_all(staging.join("bin"))?;
    for item in &manifest.site {
        fs_err::rename(site.join(item), staging.join("site").join(item))?;
    }
    for item in &manifest.bin {
        fs_err::rename(bin.join(item), staging.join("bin").join(item))?;
    }
    // Written after the moves, and the dist-info restored last on the way back, so the manifest
    // lists it first for parking and `unpark_dist` reverses the order.
    fs_err::write(staging.join(MANIFEST), serde_json::to_vec(&manifest)?)?;
    if target.exists() {
        fs_err::remove_dir_all(&target)?;
    }
    fs_err::rename(&staging, &target)?;
    evict(&root);
    Ok(true)
}

/// Move a parked `name==version` back into site-packages. `Ok(false)` if none is parked or it
/// cannot return cleanly (something now occupies its place); the caller links it instead.
pub fn unpark_dist(venv: &Venv, name: &str, version: &str) -> Result<bool> {
    let dir = parked_root(venv).join(slot(name, version));
    let Ok(bytes) = std::fs::read(dir.join(MANIFEST)) else {
        return Ok(false);
    };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(false);
    };
    let site = venv.site_packages()?;
    let bin = venv.bin();
    let complete = manifest
        .site
        .iter()
        .all(|i| dir.join("site").join(i).exists())
        && manifest
            .bin
            .iter()
            .all(|i| dir.join("bin").join(i).exists());
    let free = manifest
        .site
        .iter()
        .all(|i| std::fs::symlink_metadata(site.join(i)).is_err())
        && manifest
            .bin
            .iter()
            .all(|i| std::fs::symlink_metadata(bin.join(i)).is_err());
    if !complete || !free {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(false);
    }
    // Scripts and packages first, the dist-info (first in the list) last.
    for item in &manifest.bin {
        fs_err::rename(dir.join("bin").join(item), bin.join(item))?;
    }
    for item in manifest.site.iter().rev() {
        fs_err::rename(dir.join("site").join(item), site.join(item))
            .with_context(|| format!("cannot restore parked {name} {version}"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(true)
}

/// Keep the newest `KEEP` parked versions; also drop staging left by an interrupted park.
fn evict(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut slots: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            let pid_alive = name
                .rsplit('-')
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| p == std::process::id());
            if !pid_alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
            continue;
        }
        let mtime = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        slots.push((mtime, e.path()));
    }
    if slots.len() > KEEP {
        slots.sort();
        for (_, path) in &slots[..slots.len() - KEEP] {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
