//! Keeping pyenvx's files out of an adopted project's git without touching its tracked files.
//!
//! Why `.git/info/exclude`: an adopted project's `.gitignore` is tracked, so an edit to it shows
//! up in every `git status` and ends in someone's commit. Git reads `.git/info/exclude` as well
//! and never tracks it. What `.gitignore` (or the user's global excludes) covers already is
//! not written anywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Whether git ignores `pattern` (`.venv/`, `.env`) in `dir` already.
fn ignored(dir: &Path, pattern: &str) -> bool {
    git(dir)
        .args(["check-ignore", "-q", "--no-index", "--", pattern])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `.git/info/exclude` of the checkout `dir` is the top of; `None` outside a checkout or in a
/// subdirectory of one (git reads exclude patterns relative to the top).
fn exclude_file(dir: &Path) -> Option<PathBuf> {
    let top = git(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    let out = git(dir)
        .args(["rev-parse", "--git-path", "info/exclude"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some(if path.is_absolute() {
        path
    } else {
        dir.join(path)
    })
}

/// Where pyenvx's ignore lines went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Git ignores them already.
    Already,
    /// Added to the checkout's `.git/info/exclude`.
    Exclude(PathBuf),
    /// Not a git checkout: `.gitignore` it is.
    Gitignore,
}

/// Keep `lines` out of git in the adopted project `dir`: nothing when git ignores them already,
/// `.git/info/exclude` in a git checkout, else `.gitignore`.
pub fn ignore(dir: &Path, lines: &[&str]) -> Result<Ignored> {
    let Some(exclude) = exclude_file(dir) else {
        append_missing(&dir.join(".gitignore"), lines)?;
        return Ok(Ignored::Gitignore);
    };
    let missing: Vec<&str> = lines.iter().copied().filter(|l| !ignored(dir, l)).collect();
    if missing.is_empty() {
        return Ok(Ignored::Already);
    }
    if let Some(parent) = exclude.parent() {
        fs_err::create_dir_all(parent)?;
    }
    append_missing(&exclude, &missing)?;
    Ok(Ignored::Exclude(exclude))
}

/// Append the `lines` the file lacks (a line is there when its trimmed text is).
pub fn append_missing(path: &Path, lines: &[&str]) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut add = String::new();
    for &line in lines {
        if !existing.lines().any(|l| l.trim() == line) {
            add.push_str(line);
            add.push('\n');
        }
    }
    if add.is_empty() {
        return Ok(());
    }
    let sep = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    crate::fs::write_atomic(path, format!("{existing}{sep}{add}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_checkout_gets_exclude_lines_and_its_gitignore_stays() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join(".gitignore"), ".venv\n").unwrap();
        sh(dir, &["init", "-q"]);
        let before = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
        let got = ignore(dir, &[".venv/", ".pyenvx/", ".env"]).unwrap();
        let exclude = dir.join(".git/info/exclude");
        assert_eq!(got, Ignored::Exclude(exclude.clone()));
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
            before
        );
        let text = std::fs::read_to_string(&exclude).unwrap();
        assert!(
            text.ends_with(".pyenvx/\n.env\n") && !text.contains(".venv/"),
            "{text}"
        );
        assert_eq!(
            ignore(dir, &[".pyenvx/", ".env"]).unwrap(),
            Ignored::Already
        );
    }

    #[test]
    fn outside_git_the_gitignore_it_is() {
        let tmp = crate::test_machine::tempdir().unwrap();
        assert_eq!(ignore(tmp.path(), &[".venv/"]).unwrap(), Ignored::Gitignore);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(".gitignore")).unwrap(),
            ".venv/\n"
        );
    }
}
