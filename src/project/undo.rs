//! Putting a directory back as it was before a command that failed halfway: what the command
//! created goes, what existed before stays (a file it changed gets its old bytes back).
//!
//! `pyenvx init` writes pyenvx.toml, the lock, `.venv`, `.env` and more before the step that can
//! still fail (Django's `startproject`, a sync): without this a second `init` refuses, because
//! the first one's files are there.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// What one entry of the directory was before the command.
#[derive(Debug)]
enum Before {
    Absent,
    /// A regular file, with its bytes and mode, restored if the command changed it.
    File(Vec<u8>, u32),
    /// Anything else (a directory, a link): never touched.
    Kept,
}

/// The state of some entries of a directory, taken before a command writes to them.
#[derive(Debug)]
pub struct Snapshot {
    dir: PathBuf,
    entries: Vec<(String, Before)>,
}

impl Snapshot {
    /// Record `names` (entries of `dir`, not paths) as they are now.
    pub fn take(dir: &Path, names: &[&str]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let entries = names
            .iter()
            .map(|name| {
                let path = dir.join(name);
                let before = match std::fs::symlink_metadata(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Before::Absent,
                    Ok(m) if m.is_file() => match std::fs::read(&path) {
                        Ok(bytes) => Before::File(bytes, m.permissions().mode() & 0o7777),
                        Err(_) => Before::Kept,
                    },
                    _ => Before::Kept,
                };
                (name.to_string(), before)
            })
            .collect();
        Self {
            dir: dir.to_path_buf(),
            entries,
        }
    }

    /// Remove every recorded entry that did not exist and does now; give a changed file its
    /// old bytes and mode back. Returns what could not be put back, with why, so the caller can
    /// say so: a half-undone directory must not look like a clean one.
    pub fn restore(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (name, before) in &self.entries {
            let path = self.dir.join(name);
            let result = match before {
                Before::Absent => remove_any(&path),
                Before::File(bytes, mode) => {
                    if std::fs::read(&path).ok().as_ref() == Some(bytes) {
                        Ok(())
                    } else {
                        crate::fs::write_atomic_mode(&path, bytes, *mode)
                    }
                }
                Before::Kept => Ok(()),
            };
            if let Err(e) = result {
                failed.push(format!("{}: {e:#}", path.display()));
            }
        }
        failed
    }
}

/// Remove `path` whatever it is (a link itself, never its target); absent is fine.
fn remove_any(path: &Path) -> Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn removes_what_was_made_and_restores_what_was_changed() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join(".gitignore"), "node_modules/\n").unwrap();
        fs::write(d.join(".env"), "SECRET=1\n").unwrap();
        fs::set_permissions(d.join(".env"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::create_dir(d.join(".pyenvx")).unwrap();
        fs::write(d.join(".pyenvx/keep"), "mine").unwrap();
        let names = [
            ".gitignore",
            ".env",
            ".pyenvx",
            ".venv",
            "pyenvx.toml",
            "ghost",
        ];
        let snapshot = Snapshot::take(d, &names);

        fs::write(d.join(".gitignore"), "node_modules/\n.venv/\n").unwrap();
        fs::write(d.join(".env"), "SECRET=1\nDATABASE_URL=x\n").unwrap();
        fs::set_permissions(d.join(".env"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(d.join(".pyenvx/sync.lock"), "").unwrap();
        fs::create_dir_all(d.join(".venv/lib")).unwrap();
        fs::write(d.join(".venv/lib/x"), "x").unwrap();
        fs::write(d.join("pyenvx.toml"), "[project]\n").unwrap();
        fs::write(d.join("unrelated"), "not recorded").unwrap();

        assert!(snapshot.restore().is_empty());
        assert_eq!(
            fs::read_to_string(d.join(".gitignore")).unwrap(),
            "node_modules/\n"
        );
        assert_eq!(fs::read_to_string(d.join(".env")).unwrap(), "SECRET=1\n");
        let mode = fs::metadata(d.join(".env")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_to_string(d.join(".pyenvx/keep")).unwrap(), "mine");
        assert!(!d.join(".venv").exists());
        assert!(!d.join("pyenvx.toml").exists());
        assert!(!d.join("ghost").exists());
        assert_eq!(
            fs::read_to_string(d.join("unrelated")).unwrap(),
            "not recorded"
        );
    }

    #[test]
    fn a_link_made_in_place_of_an_entry_is_removed_not_followed() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("precious"), "keep").unwrap();
        let d = tmp.path().join("project");
        fs::create_dir(&d).unwrap();
        let snapshot = Snapshot::take(&d, &[".venv"]);
        std::os::unix::fs::symlink(&outside, d.join(".venv")).unwrap();
        assert!(snapshot.restore().is_empty());
        assert!(fs::symlink_metadata(d.join(".venv")).is_err());
        assert_eq!(
            fs::read_to_string(outside.join("precious")).unwrap(),
            "keep"
        );
    }
}
