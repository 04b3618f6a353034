//! Linking a stored entry into an environment: hard links (copies where the filesystem cannot
//! link) for the shared files, and fresh per-environment files — scripts bound to the
//! environment's interpreter, `INSTALLER`, the source hash and a `RECORD` that pip and
//! [`super::remove_dist`] uninstall from.

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::layout::{StoreEntry, INSTALLER, PER_VENV, SAFE_MODE, SCRIPTS, SITE, SOURCE};
use super::metadata::{check_component, safe_relative, RecordRow};
use super::scripts::{bind_script, launcher, shebang_for};
use crate::venv::Venv;

/// Hard links files, falling back to copies where the filesystem cannot link.
///
/// `std::fs` rather than `fs_err` here: this runs thousands of times per environment, and the
/// context is attached only on failure.
#[derive(Default)]
pub(super) struct Linker {
    /// Set once linking crossed filesystems: every later file would fail the same way.
    copy: bool,
}

impl Linker {
    /// Link `files` (paths relative to `from`, as RECORD lists them) to the same paths under
    /// `to`, creating directories as real directories. Driven by the list rather than by walking
    /// `from`: Django has some 2,500 directories, and listing each would cost three more
    /// syscalls apiece.
    ///
    /// [`super::layout::writer_threads`] share the work, each making the directories its files need:
    /// making a directory costs as much as creating a file, so that is shared out too.
    pub(super) fn link_listed(from: &Path, to: &Path, files: &[String]) -> Result<()> {
        super::layout::in_parallel(files, |chunk| {
            let mut made: HashSet<&str> = HashSet::new();
            let mut linker = Linker::default();
            for rel in chunk {
                if let Some((parent, _)) = rel.rsplit_once('/') {
                    make_dirs(to, parent, &mut made)?;
                }
                linker.link_file(&from.join(rel), &to.join(rel))?;
            }
            Ok(())
        })
    }

    pub(super) fn link_file(&mut self, from: &Path, to: &Path) -> Result<()> {
        if !self.copy {
            let mut result = std::fs::hard_link(from, to);
            if matches!(&result, Err(e) if e.kind() == ErrorKind::AlreadyExists) {
                // Replace, never write into: the old file may itself be a link into the store.
                remove_existing(to)?;
                result = std::fs::hard_link(from, to);
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::CrossesDevices => self.copy = true,
                // Filesystems without hard links, or an inode at its link limit: copy this one.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::PermissionDenied
                            | ErrorKind::TooManyLinks
                            | ErrorKind::Unsupported
                    ) => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot link {} to {}", from.display(), to.display())
                    })
                }
            }
        }
        remove_existing(to)?;
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        Ok(())
    }
}

pub(super) fn remove_existing(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// `to/rel` and its missing parents, remembering what exists so each is created once.
pub(super) fn make_dirs<'a>(to: &Path, rel: &'a str, made: &mut HashSet<&'a str>) -> Result<()> {
    if made.contains(rel) {
        return Ok(());
    }
    if let Some((parent, _)) = rel.rsplit_once('/') {
        make_dirs(to, parent, made)?;
    }
    let dir = to.join(rel);
    match std::fs::DirBuilder::new().mode(SAFE_MODE).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    made.insert(rel);
    Ok(())
}

/// Create `path` anew with `bytes`; whatever was there is unlinked first, never written through.
pub(super) fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    remove_existing(path)?;
    write_new(path, bytes, mode)
}

pub(super) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Install a stored distribution into `venv`: its files hard-linked into site-packages, its
/// scripts generated for the environment's interpreter, and a `RECORD` that pip and
/// [`remove_dist`] can uninstall from. Another version of the same distribution must have been
/// removed first; files already present are replaced.
pub fn link_into(entry: &StoreEntry, venv: &Venv) -> Result<()> {
    let meta = &entry.meta;
    check_component(&meta.dist_info)?;
    let site = venv.site_packages()?;
    let bin = venv.bin();
    let context = || {
        format!(
            "cannot install {} {} into {}",
            meta.name,
            meta.version,
            venv.root.display()
        )
    };
    // The stored RECORD lists exactly the entry's files: it is the manifest to link from, and
    // the start of this environment's RECORD.
    let record_path = format!("{}/RECORD", meta.dist_info);
    let stored = fs_err::read_to_string(entry.dir.join(SITE).join(&record_path))?;
    let per_venv: Vec<String> = PER_VENV
        .iter()
        .map(|f| format!("{}/{f}", meta.dist_info))
        .collect();
    let mut files = Vec::new();
    let mut kept = String::with_capacity(stored.len());
    for line in stored.lines() {
        let Some(row) = RecordRow::parse(line) else {
            continue;
        };
        if row.path.starts_with("bin/") || per_venv.contains(&row.path) {
            continue;
        }
        if safe_relative(&row.path).is_none() || row.path.split('/').any(|c| c.is_empty()) {
            bail!(
                "the stored {} {} is damaged: its RECORD lists {:?}",
                meta.name,
                meta.version,
                row.path
            );
        }
        kept.push_str(line);
        kept.push('\n');
        files.push(row.path);
    }
    // A path listed twice is linked once: the writer threads must not race on one file.
    let mut seen = HashSet::with_capacity(files.len());
    files.retain(|f| seen.insert(f.clone()));
    Linker::link_listed(&entry.dir.join(SITE), &site, &files).with_context(context)?;

    let shebang = shebang_for(&venv.python());
    let to_bin = relative_bin(&site, venv);
    let mut rows = String::new();
    for (name, target) in meta.console_scripts.iter().chain(&meta.gui_scripts) {
        check_component(name)?;
        let text = launcher(&shebang, target).with_context(context)?;
        replace_file(&bin.join(name), text.as_bytes(), 0o755).with_context(context)?;
        rows.push_str(&RecordRow::for_content(
            &format!("{to_bin}/{name}"),
            text.as_bytes(),
        ));
    }
    for name in &meta.other_scripts {
        check_component(name)?;
        let content = fs_err::read(entry.dir.join(SCRIPTS).join(name))?;
        let bound = bind_script(&content, &shebang);
        replace_file(&bin.join(name), &bound, 0o755).with_context(context)?;
        rows.push_str(&RecordRow::for_content(&format!("{to_bin}/{name}"), &bound));
    }

    let info = site.join(&meta.dist_info);
    let installer_path = format!("{}/INSTALLER", meta.dist_info);
    replace_file(&info.join("INSTALLER"), INSTALLER, 0o644).with_context(context)?;
    rows.push_str(&RecordRow::for_content(&installer_path, INSTALLER));
    let source = format!("sha256={}\n", meta.sha256);
    replace_file(&info.join(SOURCE), source.as_bytes(), 0o644).with_context(context)?;
    rows.push_str(&RecordRow::for_content(
        &format!("{}/{SOURCE}", meta.dist_info),
        source.as_bytes(),
    ));
    let mut record = String::with_capacity(stored.len() + rows.len() + 64);
    record.push_str(&kept);
    record.push_str(&rows);
    record.push_str(&RecordRow::render(&record_path, ","));
    replace_file(&info.join("RECORD"), record.as_bytes(), 0o644).with_context(context)
}

/// `bin` as RECORD names it from site-packages: `../../../bin`.
pub(super) fn relative_bin(site: &Path, venv: &Venv) -> String {
    match site.strip_prefix(&venv.root) {
        Ok(rel) => "../".repeat(rel.components().count()) + "bin",
        Err(_) => venv.bin().to_string_lossy().into_owned(),
    }
}
