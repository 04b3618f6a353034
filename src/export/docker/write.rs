//! Writing an export all or nothing: every target checked (a file of the user's is never
//! replaced, one of pyenvx's only with `--force`), then staged beside its target, then renamed;
//! and the paths `--out` is given as.

use super::*;

/// Every target checked before any is written: a file the user wrote is never replaced (a
/// `.dockerignore` of theirs is kept and used), one pyenvx wrote only with `force`. Returns the
/// user's own files to keep, and pyenvx's that already hold what this export would write (left
/// alone: no clash, no --force needed).
pub(super) fn check_targets(
    plan: &[(PathBuf, String)],
    root: &Path,
    spec: &Spec,
    force: bool,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut yours = Vec::new();
    let mut generated = Vec::new();
    let mut keep_yours = Vec::new();
    let mut unchanged = Vec::new();
    for (path, text) in plan {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        // A link is never read through: only a regular file can be what we would write.
        let same = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
            && std::fs::read(path).is_ok_and(|bytes| bytes == text.as_bytes());
        if generated_by_pyenvx(path) && same {
            unchanged.push(path.clone());
        } else if generated_by_pyenvx(path) {
            generated.push(display_rel(root, path));
        } else if path.ends_with(DOCKERIGNORE) {
            keep_yours.push(path.clone());
        } else {
            yours.push(display_rel(root, path));
        }
    }
    let verb = |list: &[String]| if list.len() == 1 { "is" } else { "are" };
    if !yours.is_empty() {
        let hint = if spec.rel_out.as_os_str().is_empty() {
            "export beside them: `pyenvx export docker --out docker` (the build context stays the project)".to_string()
        } else {
            "choose another directory with `--out`, or move them".to_string()
        };
        return Err(user_error!(
            hint = hint,
            "{} {} yours (no pyenvx header); pyenvx export docker never replaces a file you wrote, not even with --force",
            yours.join(", "),
            verb(&yours)
        ));
    }
    if !force && !generated.is_empty() {
        return Err(user_error!(
            hint = "compare or move them, then run `pyenvx export docker --force` to replace them",
            "{} already {}; pyenvx export docker never overwrites without --force",
            generated.join(", "),
            if generated.len() == 1 {
                "exists"
            } else {
                "exist"
            }
        ));
    }
    Ok((keep_yours, unchanged))
}

/// A `.dockerignore` of the user's with the lines it lacks added: `COPY . .` must never take a
/// secret or a database's data directory into the image (the last matching line wins in a
/// `.dockerignore`). Each with its new text and the lines added; those that lack none are left
/// out.
fn amend_dockerignores(keep_yours: &[PathBuf]) -> Result<Vec<(PathBuf, String, Vec<String>)>> {
    let mut amended = Vec::new();
    for path in keep_yours {
        let existing = fs_err::read_to_string(path)?;
        let missing = missing_ignores(&existing);
        if !missing.is_empty() {
            let sep = if existing.is_empty() || existing.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            let text = format!(
                "{existing}{sep}# Added by `pyenvx export docker`: secrets, pyenvx's state and the sandbox never go into an image.\n{}\n",
                missing.join("\n")
            );
            amended.push((path.clone(), text, missing));
        }
    }
    Ok(amended)
}

/// Stage every file beside its target (`secrets`: `.env.docker` and its text, 0600), then rename
/// them all: a failure while staging leaves nothing behind, not even the `out` directory.
/// Returns each file with what happened to it, the user's kept ones included.
pub(super) fn write_all(
    out: &Path,
    plan: &[(PathBuf, String)],
    keep_yours: &[PathBuf],
    unchanged: &[PathBuf],
    secrets: Option<(&Path, &str)>,
) -> Result<Vec<(PathBuf, Outcome)>> {
    let made_dir = first_missing(out);
    let amended = amend_dockerignores(keep_yours)?;
    let staged = (|| -> Result<Vec<(tempfile::NamedTempFile, PathBuf, bool)>> {
        fs_err::create_dir_all(out)?;
        let mut staged = Vec::new();
        for (path, text, _) in &amended {
            let mode = std::fs::metadata(path).map_or(0o644, |m| {
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
            });
            staged.push((
                crate::fs::stage(path, text.as_bytes(), mode)?,
                path.clone(),
                false,
            ));
        }
        for (path, text) in plan {
            if keep_yours.contains(path) || unchanged.contains(path) {
                continue;
            }
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent)?;
            }
            staged.push((
                crate::fs::stage(path, text.as_bytes(), 0o644)?,
                path.clone(),
                false,
            ));
        }
        if let Some((env_path, text)) = secrets {
            staged.push((
                crate::fs::stage(env_path, text.as_bytes(), 0o600)?,
                env_path.to_path_buf(),
                true,
            ));
        }
        Ok(staged)
    })();
    let staged = match staged {
        Ok(s) => s,
        Err(e) => {
            if let Some(dir) = &made_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    let mut files = Vec::new();
    for (tmp, path, secret) in staged {
        let outcome = if let Some((_, _, missing)) = amended.iter().find(|(p, ..)| *p == path) {
            Outcome::Amended(missing.clone())
        } else if path.exists() {
            Outcome::Replaced
        } else {
            Outcome::Created
        };
        // The secrets file only ever appears, never replaces.
        let persisted = if secret {
            tmp.persist_noclobber(&path).map(|_| ())
        } else {
            tmp.persist(&path).map(|_| ())
        };
        persisted.map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        files.push((path, outcome));
    }
    for path in keep_yours {
        if !amended.iter().any(|(p, ..)| p == path) {
            files.push((path.clone(), Outcome::Yours));
        }
    }
    files.extend(unchanged.iter().map(|p| (p.clone(), Outcome::Unchanged)));
    Ok(files)
}

/// The outermost directory of `dir` that does not exist yet (what creating `dir` makes).
pub(super) fn first_missing(dir: &Path) -> Option<PathBuf> {
    let mut missing = None;
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if std::fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing = Some(d.to_path_buf());
        cur = d.parent();
    }
    missing
}

/// `dir` with its longest existing prefix resolved through links, the rest kept by name.
pub(super) fn resolve_existing_prefix(dir: &Path) -> Result<PathBuf> {
    let mut existing = dir.to_path_buf();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
            break;
        };
        rest.push(name);
        existing.pop();
    }
    let mut out = fs_err::canonicalize(&existing)?;
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    Ok(out)
}

/// Add `name` to the project's `.gitignore` unless a line already says it.
pub(super) fn ignore_in_git(root: &Path, name: &str) -> Result<()> {
    let path = root.join(".gitignore");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if existing.lines().any(|l| l.trim() == name) {
        return Ok(());
    }
    let sep = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    crate::fs::write_atomic(&path, format!("{existing}{sep}{name}\n").as_bytes())
}

/// `dir` made absolute against the working directory, `.` and `..` resolved by name.
pub(super) fn lexical_absolute(dir: &Path) -> Result<PathBuf> {
    let joined = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `dir` relative to `root` when it is `root` or below it.
/// `to` relative to `from` (both absolute): `../project` for a sibling.
pub(super) fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let parts: Vec<String> = std::iter::repeat_n("..".to_string(), from.len() - common)
        .chain(
            to[common..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

pub(super) fn relative_inside(root: &Path, dir: &Path) -> Option<PathBuf> {
    let rel = dir.strip_prefix(root).ok()?;
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| rel.to_path_buf())
}

pub(super) fn display_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}
