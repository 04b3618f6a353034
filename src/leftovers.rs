//! Temporary files and directories that a killed run leaves behind (`store/v1/.tmp-*`,
//! `downloads/.partial-*`, `python/.tmp-*`).
//!
//! A live one is held under an advisory lock on its own inode by the process writing it; flock
//! locks die with their process, so the next run that finds one it can lock knows nobody is
//! using it and removes it, however young it is.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Proof that this process is using the file or directory it locked; released when dropped.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] File);

/// Lock `path`, a file or directory this process just created, for as long as the result
/// lives. `None` when a sweep removed it before the lock was taken: make another.
pub fn hold(path: &Path) -> io::Result<Option<Held>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Blocking: a sweep holding it is removing it, and this answers once it is done.
    file.lock()?;
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() && held.nlink() > 0 => {
            Ok(Some(Held(file)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Create something with `make` (which returns its path and a guard that removes it on drop,
/// such as a `TempDir`) and hold it; retried when a concurrent sweep removed it first.
pub fn create_held<T>(
    mut make: impl FnMut() -> io::Result<T>,
    path_of: impl Fn(&T) -> &Path,
) -> io::Result<(T, Held)> {
    for _ in 0..8 {
        let made = make()?;
        if let Some(held) = hold(path_of(&made))? {
            return Ok((made, held));
        }
    }
    Err(io::Error::other(
        "a temporary file kept being removed by another pyenvx as it was made",
    ))
}

/// Remove every entry of `dir` whose name starts with one of `prefixes` and that no process
/// holds. Best effort: what cannot be removed now is tried again by a later run.
pub fn sweep(dir: &Path, prefixes: &[&str]) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_what_nobody_holds_and_nothing_else() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let dir = tmp.path();
        let (live, _held) = create_held(
            || tempfile::Builder::new().prefix(".tmp-").tempdir_in(dir),
            |t| t.path(),
        )
        .unwrap();
        fs::write(live.path().join("f"), "x").unwrap();
        let dead = dir.join(".tmp-dead");
        fs::create_dir_all(dead.join("sub")).unwrap();
        fs::write(dead.join("sub/f"), "x").unwrap();
        fs::write(dir.join(".partial-dead"), "x").unwrap();
        let (live_file, _held_file) = create_held(
            || {
                tempfile::Builder::new()
                    .prefix(".partial-")
                    .tempfile_in(dir)
            },
            |t| t.path(),
        )
        .unwrap();
        fs::write(dir.join("keep"), "x").unwrap();

        assert_eq!(sweep(dir, &[".tmp-", ".partial-"]), 2);
        assert!(live.path().join("f").exists());
        assert!(live_file.path().exists());
        assert!(!dead.exists() && !dir.join(".partial-dead").exists());
        assert!(dir.join("keep").exists());
    }

    #[test]
    fn a_hold_after_a_sweep_removed_the_path_says_so() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let path = tmp.path().join(".tmp-x");
        fs::create_dir(&path).unwrap();
        let early = File::open(&path).unwrap();
        fs::remove_dir(&path).unwrap();
        drop(early);
        assert!(hold(&path).unwrap().is_none());
        // Replaced by another directory of the same name: not the one that was made either.
        fs::create_dir(&path).unwrap();
        assert!(hold(&path).unwrap().is_some());
    }
}
