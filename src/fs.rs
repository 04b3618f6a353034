//! Filesystem primitives every writer shares, so that "no data may be lost by any command, file
//! or signal" is kept in one place rather than re-derived at each call site: a file is written
//! beside its target and renamed over it (readers see the old contents or the new, never half),
//! secrets are 0600 from their first byte, and directories are built under a temporary name and
//! renamed into place.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Write via a temporary file and rename, so readers never see half a file. The file keeps the
/// mode it had, and a new one is 0644 (temporary files are created 0600, which would make
/// `pyenvx.toml` or a `settings.py` unreadable to a container's non-root user); secrets such
/// as `.env` are created 0600 by their writers and stay so.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    write_atomic_mode(path, bytes, mode)
}

/// [`write_atomic`] with an explicit mode, set before the file appears under its name.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let parent = path.parent().context("path has no parent")?;
    fs_err::create_dir_all(parent)?;
    stage(path, bytes, mode)?
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Replace `path` atomically with a 0600 file (never readable by others, not even briefly).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

/// A temporary file holding `bytes` with `mode`, in `path`'s directory (which must exist), for
/// writers that stage several files before renaming any of them.
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile> {
    let parent = path.parent().context("path has no parent")?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(tmp)
}

/// The name a replacement of `path` is made under: beside it (so the rename stays on one file
/// system), hidden, and starting with `.tmp-` so that the leftover sweeps of the directories
/// that have them (`crate::leftovers`) remove what a killed run left.
pub fn sibling_temp(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".tmp-{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ))
}

/// Replace `path` with what `make` creates at the temporary name it is given (a file, a link,
/// a hard link…), by one rename: a reader finds the old entry or the new one, never nothing.
/// A failure removes the temporary entry.
pub fn replace_with(path: &Path, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = sibling_temp(path);
    let _ = std::fs::remove_file(&tmp);
    let made = make(&tmp).and_then(|()| Ok(fs_err::rename(&tmp, path)?));
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made
}

/// Point the symbolic link `link` at `target`, atomically.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    replace_with(link, |tmp| {
        std::os::unix::fs::symlink(target, tmp)
            .with_context(|| format!("cannot create link {}", tmp.display()))
    })
}

/// Replace a file's contents atomically with the umask-derived mode a plain write would give
/// (where [`write_atomic`] keeps the old file's mode).
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |tmp| Ok(fs_err::write(tmp, bytes)?))
}

/// Write `bytes` to `path` with mode 0600, atomically; never replaces an existing file.
/// Returns false when the file already existed.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    let dir = path.parent().context("no parent directory")?;
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // A hard link fails if the name exists: two first runs cannot both win.
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// A directory to build something in before [`publish_dir`] renames it into place: created in
/// `parent` (made if missing) so the rename stays on one file system, named `prefix…` so a
/// leftover sweep recognises it, and removed when dropped unpublished.
pub fn temp_dir_in(parent: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    fs_err::create_dir_all(parent)?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })
}

/// Rename a directory built by [`temp_dir_in`] to `dest` (which must not be a non-empty
/// directory), and stop its guard from deleting whatever later reuses the temporary name.
pub fn publish_dir(staging: tempfile::TempDir, dest: &Path) -> Result<()> {
    fs_err::rename(staging.path(), dest)?;
    let _ = staging.keep();
    Ok(())
}

/// 1-based line and column (in characters) of byte `offset` in `text`; an offset inside a
/// character counts as that character's start.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The text of a file pyenvx parses, refused with its line when it is not UTF-8 (a binary file,
/// or one in another encoding): the message and hint a user gets for any malformed config.
pub fn read_text(path: &Path, hint: &str) -> Result<String> {
    let bytes = fs_err::read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(valid);
        let (line, col) = line_col(&text, text.len());
        anyhow::Error::new(
            crate::error::UserError::new(format!(
                "{}:{line}:{col}: not UTF-8 text (a binary file, or another encoding?)",
                path.display()
            ))
            .hint(hint.to_string()),
        )
    })
}

/// Create `dir`, which lies under `root` (a project), with every directory between them, or
/// accept those that exist, refusing any that is a symbolic link, not a directory, or owned by
/// another user: a repository can commit `.pyenvx/services/db -> /somewhere`, and pyenvx (root,
/// perhaps) must not write its state, logs and data through it. `root` itself is the user's.
pub fn owned_dirs(root: &Path, dir: &Path) -> Result<()> {
    let rel = dir
        .strip_prefix(root)
        .with_context(|| format!("{} is not under {}", dir.display(), root.display()))?;
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::create_dir(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", at.display())),
        }
        let meta = fs_err::symlink_metadata(&at)?;
        refuse_foreign(&at, &meta, meta.is_dir(), "directory")?;
    }
    Ok(())
}

/// A user error unless `path` (whose `symlink_metadata` is `meta`) is a `kind` (`is_kind`) of
/// this user's, not a link.
fn refuse_foreign(path: &Path, meta: &std::fs::Metadata, is_kind: bool, kind: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let hint = "pyenvx keeps its state under .pyenvx in plain files and directories of its own; \
                remove it (a repository may have committed it) and run the command again";
    if meta.file_type().is_symlink() {
        return Err(crate::user_error!(
            hint = hint,
            "{} is a symbolic link; pyenvx does not write through it",
            path.display()
        ));
    }
    if !is_kind {
        return Err(crate::user_error!(
            hint = hint,
            "{} is not a {kind}",
            path.display()
        ));
    }
    // SAFETY: geteuid takes nothing and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(crate::user_error!(
            hint = hint,
            "{} belongs to another user (uid {}); pyenvx writes its state only where it is the owner",
            path.display(),
            meta.uid()
        ));
    }
    Ok(())
}

/// Open the log at `path` for appending, creating it 0600: never through a symbolic link (a
/// planted `postgres.log -> /etc/…` would have a server run as root append lines any local
/// client can choose), and only a regular file of this user's. The directories above it are
/// [`owned_dirs`]' to check.
pub fn open_log(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // A fifo or a device is refused before opening it, which could block or act on it.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        refuse_foreign(path, &meta, meta.is_file(), "regular file")?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            let meta = fs_err::symlink_metadata(path)?;
            refuse_foreign(path, &meta, false, "regular file")?;
            return Err(e).with_context(|| format!("cannot open {}", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    refuse_foreign(path, &meta, meta.is_file(), "regular file")?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_never_written_through_a_link() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let root = tmp.path().join("p");
        let outside = tmp.path().join("outside");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        owned_dirs(&root, &root.join(".pyenvx/services/db")).unwrap();
        assert!(root.join(".pyenvx/services/db").is_dir());

        std::os::unix::fs::symlink(&outside, root.join(".pyenvx/services/cache")).unwrap();
        let err = owned_dirs(&root, &root.join(".pyenvx/services/cache/data")).unwrap_err();
        assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
        assert!(!outside.join("data").exists());

        let target = outside.join("passwd");
        fs_err::write(&target, b"root:x:0:0\n").unwrap();
        let log = root.join(".pyenvx/services/db/postgres.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        let err = open_log(&log).unwrap_err();
        assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
        assert_eq!(fs_err::read(&target).unwrap(), b"root:x:0:0\n");

        let fifo = root.join(".pyenvx/services/db/fifo.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_log(&fifo).unwrap_err();
        assert!(
            format!("{err:#}").contains("is not a regular file"),
            "{err:#}"
        );

        let fine = root.join(".pyenvx/services/db/ok.log");
        use std::io::Write;
        open_log(&fine).unwrap().write_all(b"one\n").unwrap();
        open_log(&fine).unwrap().write_all(b"two\n").unwrap();
        assert_eq!(fs_err::read(&fine).unwrap(), b"one\ntwo\n");
        assert_eq!(mode(&fine), 0o600);
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn write_atomic_keeps_the_mode_and_makes_new_files_0644() {
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join("sub/file");
        write_atomic(&path, b"one").unwrap();
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode(&path)),
            (b"two".to_vec(), 0o600)
        );
        write_private(&dir.path().join("secret"), b"s").unwrap();
        assert_eq!(mode(&dir.path().join("secret")), 0o600);
    }

    #[test]
    fn private_new_never_replaces_and_leaves_no_temporary() {
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join("creds");
        assert!(write_private_new(&path, b"one").unwrap());
        assert!(!write_private_new(&path, b"two").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_with_swaps_in_one_rename_and_cleans_up_a_failure() {
        let dir = crate::test_machine::tempdir().unwrap();
        let link = dir.path().join("python");
        replace_symlink(Path::new("a"), &link).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("b"));
        let err = replace_with(&link, |tmp| {
            fs_err::write(tmp, b"half")?;
            anyhow::bail!("failed")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("b"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_published_directory_outlives_its_guard() {
        let dir = crate::test_machine::tempdir().unwrap();
        let staging = temp_dir_in(&dir.path().join("tools"), ".tmp-x-").unwrap();
        fs_err::write(staging.path().join("f"), b"x").unwrap();
        let dest = dir.path().join("tools/x");
        publish_dir(staging, &dest).unwrap();
        assert!(dest.join("f").is_file());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tools")).unwrap().count(),
            1
        );
    }
}
