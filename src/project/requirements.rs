//! Reading pip requirements files, for `pyenvx add -r requirements.txt`: what a project moving
//! from pip brings with it.
//!
//! Requirement lines become dependencies; `-r` files are followed; per-requirement `--hash`
//! options are dropped (the lock records hashes of its own); options that only steer pip's
//! index are reported as ignored, since pyenvx takes those from `[tool.pyenvx]` or the
//! environment. For `add -r`, `-e ./path` lines become editable local packages, as
//! `pyenvx add --editable` makes them (adoption, which writes no `[tool.pyenvx] editable`, still
//! refuses them). Editable VCS checkouts, constraints files and bare URLs or paths have no place
//! in `dependencies` and are refused with the file and line.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::user_error;

/// What a requirements file (and the files it includes) asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// PEP 508 requirements, in file order.
    pub requirements: Vec<String>,
    /// Options that were not taken over, each as `file:line: option`.
    pub ignored: Vec<String>,
    /// `-e ./path` lines, in file order.
    pub editable: Vec<Editable>,
    /// `--index-url` / `-i` (the last one given), also listed in `ignored` for `add -r`.
    pub index_url: Option<String>,
    /// `--extra-index-url` values, in file order (also in `ignored`).
    pub extra_index_urls: Vec<String>,
}

/// A local directory a requirements file installs editable (`-e ./libs/pkg`).
#[derive(Debug, PartialEq, Eq)]
pub struct Editable {
    /// As written (`./libs/pkg`, `file:///srv/pkg`), with `./` put before a bare relative path.
    /// Relative to the working directory, not to the file: pip and uv read `-e` paths so (only
    /// `-r` and `-c` are relative to the file naming them).
    pub path: String,
    /// `file:line`, for errors about it.
    pub at: String,
}

/// Nested `-r` files deeper than this are taken for a cycle.
const MAX_DEPTH: usize = 16;

/// A requirements file and everything it includes may hold this many bytes in all: real ones
/// are a few kilobytes, and `-r /dev/zero` must not fill the memory.
pub const MAX_BYTES: u64 = 1 << 20;
/// The longest line (joined at `\`) taken, which leaves room for dozens of `--hash` options.
pub const MAX_LINE: usize = 64 << 10;

/// The requirements of `path` and its includes; an `-e` line is refused with its file and line.
pub fn read(path: &Path) -> Result<Imported> {
    read_with(path, false)
}

/// As [`read`], with `-e ./path` lines taken into [`Imported::editable`]: what `add -r` takes.
pub fn read_with_editables(path: &Path) -> Result<Imported> {
    read_with(path, true)
}

fn read_with(path: &Path, editables: bool) -> Result<Imported> {
    let mut imported = Imported::default();
    let mut walk = Walk {
        budget: MAX_BYTES,
        editables,
    };
    read_into(path, 0, &mut walk, &mut imported)?;
    Ok(imported)
}

/// What reading a file and its includes shares: the bytes left to read, and whether `-e`
/// lines are taken.
struct Walk {
    budget: u64,
    editables: bool,
}

/// The text of `path`, at most `budget` bytes of it, which are then spent.
fn read_bounded(path: &Path, budget: &mut u64) -> Result<String> {
    let cannot = |e: std::io::Error| {
        user_error!(
            hint = "give the path of a pip requirements file",
            "cannot read {}: {e}",
            path.display()
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(*budget + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > *budget {
        return Err(user_error!(
            hint = "requirements files (with the files they include) may hold 1 MiB in all; split off what is not a dependency",
            "{}: too large for a requirements file",
            path.display()
        ));
    }
    *budget -= bytes.len() as u64;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        user_error!(
            hint = "give the path of a pip requirements file",
            "{}:{line}: not UTF-8 text (a binary file?)",
            path.display()
        )
    })
}

fn read_into(path: &Path, depth: usize, walk: &mut Walk, imported: &mut Imported) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(user_error!(
            hint = "check the `-r` lines for a file that includes itself",
            "{}: requirements files nested more than {MAX_DEPTH} deep",
            path.display()
        ));
    }
    let text = read_bounded(path, &mut walk.budget)?;
    parse_into(&text, path, depth, walk, imported)
}

/// The requirements in `text`, read from `path` (named in errors; `-r` lines are relative to it).
pub fn parse(text: &str, path: &Path) -> Result<Imported> {
    let mut imported = Imported::default();
    let mut walk = Walk {
        budget: MAX_BYTES.saturating_sub(text.len() as u64),
        editables: false,
    };
    parse_into(text, path, 0, &mut walk, &mut imported)?;
    Ok(imported)
}

fn parse_into(
    text: &str,
    path: &Path,
    depth: usize,
    walk: &mut Walk,
    imported: &mut Imported,
) -> Result<()> {
    for (number, line) in logical_lines(text) {
        let at = format!("{}:{number}", path.display());
        if line.len() > MAX_LINE {
            return Err(user_error!(
                hint = "a requirement line holds one requirement and its options",
                "{at}: line longer than {} KiB",
                MAX_LINE >> 10
            ));
        }
        if let Some(included) = option_value(&line, &["-r", "--requirement"]) {
            read_into(&relative_to(path, &included), depth + 1, walk, imported)?;
            continue;
        }
        if let Some(value) = option_value(&line, &["-e", "--editable"]) {
            if !walk.editables {
                return Err(user_error!(
                    hint = "install it by hand inside the sandbox (`pyenvx run -- pip install -e …` with --seed), or publish it as a package",
                    "{at}: editable installs (`{line}`) are not project dependencies"
                ));
            }
            imported.editable.push(editable(&value, &at)?);
            continue;
        }
        if option_value(&line, &["-c", "--constraint"]).is_some() {
            return Err(user_error!(
                hint = "add the pins you need to the requirements themselves",
                "{at}: constraints files (`{line}`) are not supported"
            ));
        }
        if line.starts_with('-') {
            if let Some(url) = option_value(&line, &["-i", "--index-url"]) {
                imported.index_url = Some(url);
            } else if let Some(url) = option_value(&line, &["--extra-index-url"]) {
                if !imported.extra_index_urls.contains(&url) {
                    imported.extra_index_urls.push(url);
                }
            }
            imported.ignored.push(format!("{at}: {line}"));
            continue;
        }
        // Per-requirement options (`--hash=…`, `--config-settings …`) follow the requirement.
        let requirement = match line.find(" --") {
            Some(i) => line[..i].trim(),
            None => line.as_str(),
        };
        super::config::requirement_name(requirement).map_err(|e| {
            user_error!(
                hint = "pyenvx takes named requirements such as `djangorestframework>=3.15`; URLs and paths are not supported",
                "{at}: {e}"
            )
        })?;
        imported.requirements.push(requirement.to_string());
    }
    Ok(())
}

/// Lines joined where they end in `\`, without comments or blanks, each with the number of the
/// line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        // pip's comments: `#` at the start of a line or after whitespace.
        let line = if raw.trim_start().starts_with('#') {
            ""
        } else {
            match raw.find(" #").or_else(|| raw.find("\t#")) {
                Some(at) => &raw[..at],
                None => raw,
            }
        };
        let (line, continues) = match line.trim_end().strip_suffix('\\') {
            Some(head) => (head, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        if !entry.1.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(line.trim());
        if !continues {
            if let Some((n, l)) = current.take() {
                if !l.is_empty() {
                    out.push((n, l));
                }
            }
        }
    }
    if let Some((n, l)) = current.filter(|(_, l)| !l.is_empty()) {
        out.push((n, l));
    }
    out
}

/// The value of `line` when it is one of `names` (`-r file`, `-rfile`, `--requirement=file`).
fn option_value(line: &str, names: &[&str]) -> Option<String> {
    for name in names {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if name.starts_with("--") {
            match rest.strip_prefix('=') {
                Some(v) => v,
                None if rest.starts_with(char::is_whitespace) => rest,
                None => continue,
            }
        } else {
            rest
        };
        let value = value.trim();
        if !value.is_empty() {
            return Some(value.to_string());
        }
    }
    None
}

/// The directory an `-e` line names; a VCS URL or any other URL is refused, since an editable
/// checkout is not something a lock can pin.
fn editable(value: &str, at: &str) -> Result<Editable> {
    // `-e ./pkg --config-settings …`: the options after the path are pip's.
    let value = value.split_whitespace().next().unwrap_or(value);
    let scheme = value
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| s.len() > 1 && !s.contains('/'));
    if let Some(scheme) = scheme.filter(|s| *s != "file") {
        let name = value
            .split_once("#egg=")
            .map_or("name", |(_, egg)| egg.split('&').next().unwrap_or("name"));
        let url = value.split_once('#').map_or(value, |(u, _)| u);
        let hint = if ["git+", "hg+", "svn+", "bzr+"]
            .iter()
            .any(|vcs| scheme.starts_with(vcs))
        {
            format!(
                "lock the checkout instead: `pyenvx add '{name} @ {url}'` (installed from the \
                 resolved commit), or clone it and add the clone with `-e ./path`"
            )
        } else {
            "`-e` takes a local directory here, such as `-e ./libs/pkg`".to_string()
        };
        return Err(user_error!(
            hint = hint,
            "{at}: editable installs from a URL (`-e {value}`) are not supported"
        ));
    }
    let explicit = ["./", "../", "/", "file:"]
        .iter()
        .any(|p| value.starts_with(p))
        || value == "."
        || value == "..";
    let path = if explicit {
        value.to_string()
    } else {
        format!("./{value}")
    };
    Ok(Editable {
        path,
        at: at.to_string(),
    })
}

fn relative_to(file: &Path, included: &str) -> PathBuf {
    let included = Path::new(included);
    if included.is_absolute() {
        included.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(included)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_pip_writes() {
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.txt"),
            "# shared\nasgiref>=3.8  # for channels\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("requirements.txt"),
            "-r base.txt\n\
             --index-url https://mirror.example.invalid/simple\n\
             Django==4.2.30 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n\
             \n\
             psycopg[binary]>=3.1 ; python_version >= \"3.10\"\n",
        )
        .unwrap();
        let imported = read(&dir.path().join("requirements.txt")).unwrap();
        assert_eq!(
            imported.requirements,
            [
                "asgiref>=3.8",
                "Django==4.2.30",
                "psycopg[binary]>=3.1 ; python_version >= \"3.10\""
            ]
        );
        assert_eq!(imported.ignored.len(), 1);
        assert!(
            imported.ignored[0]
                .ends_with("requirements.txt:2: --index-url https://mirror.example.invalid/simple"),
            "{:?}",
            imported.ignored
        );
    }

    #[test]
    fn refuses_what_is_not_a_dependency_with_file_and_line() {
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join("requirements.txt");
        for (text, expected) in [
            ("django\n-e .\n", "requirements.txt:2: editable installs"),
            (
                "-c constraints.txt\n",
                "requirements.txt:1: constraints files",
            ),
            (
                "./vendor/thing.whl\n",
                "requirements.txt:1: invalid requirement",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", read(&path).unwrap_err());
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        std::fs::write(&path, "-r requirements.txt\n").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("nested more than"), "{err}");
    }

    #[test]
    fn editable_lines_name_local_directories() {
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join("requirements.txt");
        std::fs::write(
            &path,
            "-e ./libs/a\n--editable=libs/b\n-e file:///srv/c\n-e .\ndjango\n",
        )
        .unwrap();
        let imported = read_with_editables(&path).unwrap();
        let paths: Vec<&str> = imported.editable.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["./libs/a", "./libs/b", "file:///srv/c", "."]);
        assert!(imported.editable[1].at.ends_with("requirements.txt:2"));
        assert_eq!(imported.requirements, ["django"]);

        std::fs::write(&path, "-e hg+https://example.invalid/repo#egg=thing\n").unwrap();
        let err = read_with_editables(&path).unwrap_err();
        assert!(
            err.to_string().contains("editable installs from a URL"),
            "{err:#}"
        );
        let hint = crate::error::find_hint(&err).unwrap();
        assert!(
            hint.contains("pyenvx add 'thing @ hg+https://example.invalid/repo'"),
            "{hint}"
        );
    }

    #[test]
    fn endless_and_missing_files_are_refused_plainly() {
        let err = format!("{:#}", read(Path::new("/dev/zero")).unwrap_err());
        assert!(err.contains("/dev/zero: too large"), "{err}");
        let err = format!("{:#}", read(Path::new("/nonexistent")).unwrap_err());
        assert_eq!(
            err.lines().next().unwrap(),
            "cannot read /nonexistent: No such file or directory (os error 2)"
        );
        let dir = crate::test_machine::tempdir().unwrap();
        let path = dir.path().join("long.txt");
        let hashes = format!("  --hash=sha256:{} \\\n", "a".repeat(64)).repeat(1000);
        std::fs::write(&path, format!("django \\\n{hashes}\n")).unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("long.txt:1: line longer than"), "{err}");
        // Includes share the bound: a file that includes itself twice per level.
        std::fs::write(
            &path,
            format!("-r long.txt\n-r long.txt\n#{}\n", "x".repeat(40_000)),
        )
        .unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("too large") || err.contains("nested"), "{err}");
    }
}
