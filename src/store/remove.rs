//! Uninstalling a distribution from an environment as pip does, from its `RECORD`, without
//! ever leaving the environment: nothing is followed through a symlink that leads out of it,
//! and store files are only unlinked.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::link::remove_existing;
use super::metadata::{InstalledDist, RecordRow};
use crate::venv::Venv;

/// Uninstall `dist` from `venv` as pip does: every file its RECORD lists, the bytecode of its
/// modules, directories left empty, and the dist-info. Nothing outside the environment is touched,
/// whatever RECORD says, and nothing is followed through a symlink that leads out of it; store
/// files are only unlinked.
pub fn remove_dist(venv: &Venv, dist: &InstalledDist) -> Result<()> {
    let root = std::path::absolute(&venv.root)?;
    let site = lexical_join(&root, &venv.site_packages()?.to_string_lossy())
        .context("site-packages has no usable path")?;
    let info = &dist.dist_info;
    let is_dist_info = info.parent() == Some(site.as_path())
        && info
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".dist-info"))
        && std::fs::symlink_metadata(info).is_ok_and(|m| m.is_dir());
    if !is_dist_info {
        bail!(
            "{} is not a distribution in {}",
            info.display(),
            site.display()
        );
    }
    let record = match std::fs::read_to_string(info.join("RECORD")) {
        Ok(text) => text,
        // Without RECORD (a hand-made or damaged install) only the dist-info can go.
        Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context(format!("cannot read {}/RECORD", info.display())),
    };

    let mut inside = Inside::new(&root)?;
    let mut touched: HashSet<PathBuf> = HashSet::new();
    let mut modules: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for row in record.lines().filter_map(RecordRow::parse) {
        let Some(path) = lexical_join(&site, &row.path) else {
            continue;
        };
        if !path.starts_with(&root) || path.starts_with(info) {
            continue;
        }
        let Some(parent) = path.parent() else {
            continue;
        };
        if !inside.dir(parent) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            // Gone already (say, an earlier removal was interrupted), or a directory, which
            // RECORD should not list and which pruning takes care of if it is empty.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
        if !touched.contains(parent) {
            touched.insert(parent.to_path_buf());
        }
        if path.extension() == Some(OsStr::new("py")) {
            if let Some(stem) = path.file_stem() {
                modules
                    .entry(parent.to_path_buf())
                    .or_default()
                    .push(stem.to_string_lossy().into_owned());
            }
        }
    }
    for (dir, stems) in modules {
        let cache = dir.join("__pycache__");
        if !inside.dir(&cache) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&cache) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if stems.iter().any(|s| is_bytecode_of(&name, s)) {
                remove_existing(&entry.path())?;
            }
        }
        touched.insert(cache);
    }
    fs_err::remove_dir_all(info)?;
    prune(&root, &site, venv, touched);
    Ok(())
}

/// `mod.cpython-312.pyc`, `mod.cpython-312.opt-1.pyc` for the module `mod`.
pub(super) fn is_bytecode_of(file: &OsStr, stem: &str) -> bool {
    file.to_str()
        .and_then(|f| f.strip_prefix(stem))
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.ends_with(".pyc"))
}

/// Remove the directories in `touched`, and their parents, that are now empty — never the
/// environment's own skeleton (`bin`, `include`, `lib/python3.X/site-packages`).
pub(super) fn prune(root: &Path, site: &Path, venv: &Venv, touched: HashSet<PathBuf>) {
    let mut protected: HashSet<PathBuf> = site
        .ancestors()
        .take_while(|a| a.starts_with(root))
        .map(Path::to_path_buf)
        .collect();
    protected.extend([root.to_path_buf(), venv.bin(), root.join("include")]);
    let mut candidates: BTreeSet<(usize, PathBuf)> = BTreeSet::new();
    for dir in touched {
        for d in dir.ancestors() {
            if !d.starts_with(root) || protected.contains(d) {
                break;
            }
            candidates.insert((d.components().count(), d.to_path_buf()));
        }
    }
    // Deepest first, so a directory is tried after everything below it.
    for (_, dir) in candidates.into_iter().rev() {
        let _ = std::fs::remove_dir(&dir);
    }
}

/// `base` joined with a RECORD path (relative, maybe with `..`, or absolute), resolved lexically.
pub(super) fn lexical_join(base: &Path, path: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => out = PathBuf::from("/"),
        }
    }
    Some(out)
}

/// Answers "is this directory really inside the environment", one `lstat` per directory: a
/// symlink on the way (say `site-packages/x -> /usr/lib/x`) must not lead removals outside.
pub(super) struct Inside {
    root: PathBuf,
    root_canonical: PathBuf,
    known: HashMap<PathBuf, bool>,
}

impl Inside {
    pub(super) fn new(root: &Path) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            root_canonical: fs_err::canonicalize(root)?,
            known: HashMap::new(),
        })
    }

    pub(super) fn dir(&mut self, dir: &Path) -> bool {
        if dir == self.root {
            return true;
        }
        if !dir.starts_with(&self.root) {
            return false;
        }
        if let Some(&known) = self.known.get(dir) {
            return known;
        }
        let parent_inside = dir.parent().is_some_and(|p| self.dir(p));
        let inside = parent_inside
            && match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(dir)
                    .is_ok_and(|target| target.starts_with(&self.root_canonical)),
                _ => true,
            };
        self.known.insert(dir.to_path_buf(), inside);
        inside
    }
}
