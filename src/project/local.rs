//! Local directory requirements (`name @ file:./libs/pkg`, `name @ file:///abs/dir`), plain or
//! editable.
//!
//! A directory has no hash, so it cannot go through the content-addressed store: it is locked
//! by path (relative to the project root when given relative, so a clone elsewhere works) and
//! installed into `.venv` straight from the directory at sync, by uv. Only its path is
//! reproducible, not its contents.
//!
//! An editable install is recognised by what every installer writes, `direct_url.json` with
//! `"dir_info": {"editable": true}`: sync keeps those, locked or installed by hand.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::installer::{self, IndexSettings, Uv};
use crate::project::lock::Resolved;
use crate::user_error;
use crate::venv::Venv;

/// A requirement on a local directory, split: what precedes `@` (`pkg[extra]`), the path as
/// written (a relative path, or the absolute path of a `file://` URL), and any `; marker`.
#[derive(Debug, PartialEq, Eq)]
pub struct LocalRequirement<'a> {
    pub head: &'a str,
    pub path: String,
    pub relative: bool,
    pub rest: &'a str,
}

/// `Some` when `req` names a local directory or file rather than an index release or a URL.
pub fn parse(req: &str) -> Option<LocalRequirement<'_>> {
    let (head, location) = req.split_once('@')?;
    let location = location.trim_start();
    let end = location
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(location.len());
    let (target, rest) = location.split_at(end);
    let (path, relative) = if let Some(abs) = target.strip_prefix("file://") {
        let decoded = percent_encoding::percent_decode_str(abs)
            .decode_utf8()
            .ok()?;
        (decoded.into_owned(), false)
    } else if let Some(rel) = target.strip_prefix("file:") {
        (rel.to_string(), !rel.starts_with('/'))
    } else if target.starts_with("./") || target.starts_with("../") || target == "." {
        (target.to_string(), true)
    } else if target.starts_with('/') {
        (target.to_string(), false)
    } else {
        return None;
    };
    Some(LocalRequirement {
        head: head.trim_end(),
        path,
        relative,
        rest,
    })
}

/// What uv is handed: a local requirement with the path made an absolute `file://` URL (uv
/// runs in a scratch directory); any other requirement as it is.
pub fn for_resolver(req: &str, root: &Path) -> Result<String> {
    let Some(local) = parse(req) else {
        return Ok(req.to_string());
    };
    let abs = absolute(&local.path, root);
    Ok(format!(
        "{} @ {}{}",
        local.head,
        installer::file_url(&abs)?,
        local.rest
    ))
}

/// A locked (or configured) path made absolute: relative ones are relative to `root`.
pub fn absolute(path: &str, root: &Path) -> PathBuf {
    let p = Path::new(path);
    normalize(&if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    })
}

/// After a resolution: each directory package's path in the form the project gave it
/// (relative to the root, `/`-separated, when it was relative), and editable as configured.
pub fn for_lock(packages: &mut [Resolved], requirements: &[String], editable: &[String]) {
    for p in packages.iter_mut() {
        let Some(dir) = p.directory.as_mut() else {
            continue;
        };
        let configured = requirements.iter().find_map(|r| {
            let local = parse(r)?;
            (crate::project::config::requirement_name(r).ok()? == p.name).then_some(local)
        });
        if let Some(local) = configured.filter(|l| l.relative) {
            dir.path = lexical_relative(&local.path);
        }
        dir.editable = editable.contains(&p.name);
    }
}

/// `./libs/pkg/` → `libs/pkg`; `../x` stays.
fn lexical_relative(path: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if parts.last().is_some_and(|l| l != "..") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// `.` and `..` resolved without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to `from` (both absolute, normalized), `/`-separated.
fn relative_to(to: &Path, from: &Path) -> String {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// What `pyenvx add` writes for `arg` when it names a local directory: a bare path
/// (`./libs/pkg`, taking the name from its `pyproject.toml`) or `name @ path`, with a relative
/// path re-expressed from `cwd` to the project root. `None` for any other requirement.
pub fn for_config(arg: &str, cwd: &Path, root: &Path) -> Result<Option<String>> {
    let bare = !arg.contains('@')
        && (arg.starts_with("./")
            || arg.starts_with("../")
            || arg.starts_with('/')
            || arg == "."
            || arg.starts_with("file:"));
    let probe;
    let local = if bare {
        probe = format!("x @ {arg}");
        parse(&probe)
    } else {
        parse(arg)
    };
    let Some(local) = local else {
        return Ok(None);
    };
    let dir = absolute(&local.path, cwd);
    // A wheel or sdist on disk is an archive with a hash, locked as any URL requirement.
    if dir.is_file() && !bare {
        return Ok(None);
    }
    if !dir.is_dir() {
        return Err(user_error!(
            hint = "give the path of a directory holding a pyproject.toml, or a wheel or sdist \
                    as `name @ file:///…/name-1.0.tar.gz`",
            "{} is not a directory",
            dir.display()
        ));
    }
    let head = if bare {
        project_name(&dir)?
    } else {
        local.head.to_string()
    };
    let (relative, rest) = (local.relative, local.rest);
    let location = if relative {
        // `file:` because PEP 508 wants a URL; `./` because pip and uv read it so.
        match relative_to(&dir, &normalize(root)) {
            r if r.starts_with("..") => format!("file:{r}"),
            r => format!("file:./{r}"),
        }
    } else {
        installer::file_url(&dir)?
    };
    Ok(Some(format!("{head} @ {location}{rest}")))
}

/// The `[project] name` of the directory's `pyproject.toml`.
fn project_name(dir: &Path) -> Result<String> {
    let hint = format!("name the package: `pyenvx add 'name @ {}'`", dir.display());
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).map_err(|_| {
        user_error!(
            hint = hint.clone(),
            "{} has no pyproject.toml",
            dir.display()
        )
    })?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| {
        user_error!(
            hint = hint.clone(),
            "cannot read {}: {}",
            dir.join("pyproject.toml").display(),
            e.message()
        )
    })?;
    value
        .get("project")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            user_error!(
                hint = hint,
                "{} has no [project] name",
                dir.join("pyproject.toml").display()
            )
        })
}

/// What an installed distribution's `direct_url.json` says about a local directory: its path
/// and whether it is editable. `None` when it was installed from an index or a file.
pub fn installed_directory(dist_info: &Path) -> Option<(PathBuf, bool)> {
    let text = std::fs::read_to_string(dist_info.join("direct_url.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let dir_info = json.get("dir_info")?;
    let url = json.get("url")?.as_str()?.strip_prefix("file://")?;
    let path = percent_encoding::percent_decode_str(url)
        .decode_utf8()
        .ok()?
        .into_owned();
    let editable = dir_info
        .get("editable")
        .and_then(|e| e.as_bool())
        .unwrap_or(false);
    Some((PathBuf::from(path), editable))
}

/// Whether `dist_info` is the locked directory `p` (same directory, same editable mode).
pub fn is_installed(dist_info: &Path, p: &Resolved, root: &Path) -> bool {
    let Some(dir) = &p.directory else {
        return false;
    };
    let Some((path, editable)) = installed_directory(dist_info) else {
        return false;
    };
    let want = absolute(&dir.path, root);
    let same = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    editable == dir.editable && same(&path, &want)
}

/// Install the locked directories `dirs` into `venv` with uv, straight from the directories
/// (built for this interpreter; editable ones as editables), without their dependencies,
/// which the lock holds.
pub fn install(
    uv: &Uv,
    venv: &Venv,
    root: &Path,
    dirs: &[&Resolved],
    index: &IndexSettings,
    offline: bool,
    uv_cache: &Path,
) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("pyenvx-local-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    for p in dirs {
        let Some(dir) = &p.directory else { continue };
        let path = absolute(&dir.path, root);
        if !path.is_dir() {
            return Err(user_error!(
                hint = "restore the directory, or `pyenvx remove` the dependency",
                "{} is locked from the local directory {}, which does not exist",
                p.name,
                path.display()
            ));
        }
        let mut cmd = uv.command(uv_cache, offline, scratch.path());
        // direct_url.json is how the next sync (and any other installer) tells an editable.
        cmd.env_remove("UV_NO_INSTALLER_METADATA")
            .args(["pip", "install", "--python"])
            .arg(venv.python())
            .args(["--no-deps", "--reinstall-package"])
            .arg(&p.name)
            .args(if dir.editable { Some("-e") } else { None })
            .arg(&path)
            .args(index.args());
        installer::run_uv(
            cmd,
            "install",
            &format!("{} from {}", p.name, path.display()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_local_requirements() {
        let l = parse("pkg[x] @ ./libs/pkg ; python_version > '3'").unwrap();
        assert_eq!(
            (l.head, l.path.as_str(), l.relative),
            ("pkg[x]", "./libs/pkg", true)
        );
        assert_eq!(l.rest, " ; python_version > '3'");
        let l = parse("pkg @ file:///srv/a%20b").unwrap();
        assert_eq!((l.path.as_str(), l.relative), ("/srv/a b", false));
        assert!(parse("pkg @ https://x/pkg-1.0.tar.gz").is_none());
        assert!(parse("pkg @ git+file:///srv/repo").is_none());
        assert!(parse("pkg>=1").is_none());
        assert_eq!(
            for_resolver("pkg @ ./libs/pkg", Path::new("/p/r")).unwrap(),
            "pkg @ file:///p/r/libs/pkg"
        );
        assert_eq!(for_resolver("django", Path::new("/p")).unwrap(), "django");
        let l = parse("pkg @ file:./libs/pkg").unwrap();
        assert_eq!((l.path.as_str(), l.relative), ("./libs/pkg", true));
        // What `add` writes is what pyenvx.toml's validation takes.
        assert!(crate::project::pep508::parse("pkg @ file:./libs/pkg").is_ok());
        assert!(crate::project::pep508::parse("pkg @ file:../x").is_ok());
    }

    #[test]
    fn paths_relative_to_the_root() {
        assert_eq!(lexical_relative("./libs/pkg/"), "libs/pkg");
        assert_eq!(lexical_relative("../shared/x"), "../shared/x");
        assert_eq!(relative_to(Path::new("/a/b/c"), Path::new("/a/b")), "c");
        assert_eq!(relative_to(Path::new("/a/x"), Path::new("/a/b")), "../x");
        assert_eq!(
            absolute("libs/pkg", Path::new("/p")),
            Path::new("/p/libs/pkg")
        );
        assert_eq!(absolute("/abs/x", Path::new("/p")), Path::new("/abs/x"));
    }
}
