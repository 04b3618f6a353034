//! The project's env files: reading them as Compose and python-dotenv do, and writing the
//! variables pyenvx sets for the project's own settings (`DB_HOST=127.0.0.1`, …).
//!
//! Why a parser of our own: the projects' files are written for python-dotenv and Compose, which
//! take `KEY=a b c` (an unquoted value with spaces) that stricter parsers refuse; `pyenvx run`
//! must read what the project's own tools read.
//!
//! Where pyenvx writes: `.env`, which `pyenvx run` reads, unless git tracks it. A tracked `.env`
//! is the project's, never written; pyenvx's variables then go to `.pyenvx/env`, which is never
//! tracked (`.pyenvx/` is ignored) and which `run` reads over `.env`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Project;
use crate::user_error;

/// `.pyenvx/env`: pyenvx's variables when `.env` is tracked.
pub fn overlay_path(project: &Project) -> PathBuf {
    project.state_dir().join("env")
}

/// Whether git tracks `rel` in `root` (false without git or outside a checkout).
pub fn git_tracks(root: &Path, rel: &str) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "--error-unmatch", "--", rel])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The file pyenvx writes the project's variables to: `.env`, or `.pyenvx/env` when git
/// tracks `.env`.
pub fn target(project: &Project) -> PathBuf {
    if git_tracks(&project.root, ".env") {
        overlay_path(project)
    } else {
        project.dotenv_path()
    }
}

/// The variables `run` reads from files: `.env`, then `.pyenvx/env` over it.
pub fn project_vars(project: &Project) -> Result<Vec<(String, String)>> {
    let mut out = read(&project.dotenv_path())?;
    for (k, v) in read(&overlay_path(project))? {
        out.retain(|(o, _)| *o != k);
        out.push((k, v));
    }
    Ok(out)
}

/// The variables of the env file at `path`; none when it does not exist. A line that is not
/// `KEY=value` is an error naming the file and the line.
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text).map_err(|(line, why)| {
        user_error!(
            hint = "lines look like `KEY=value`",
            "{}:{line}: {why}",
            path.display()
        )
    })
}

/// Parse an env file as python-dotenv and Compose do: `export` allowed, `#` comments, single
/// quotes literal, double quotes with escapes (and across lines), unquoted values trimmed and
/// cut at ` #`, `${VAR}` / `${VAR:-default}` expanded from earlier keys and the process (not in
/// single quotes). An error is the 1-based line and why.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, rest)) = line.split_once('=') else {
            return Err((number, format!("`{}` is not KEY=value", line.trim())));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err((number, format!("`{key}` is not a variable name")));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => return Err((number, "a single quote is not closed".into())),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut raw = body.to_string();
            loop {
                if let Some(end) = closing_quote(&raw) {
                    raw.truncate(end);
                    break;
                }
                if i >= lines.len() {
                    return Err((number, "a double quote is not closed".into()));
                }
                raw.push('\n');
                raw.push_str(lines[i]);
                i += 1;
            }
            expand(&unescape(&raw), &out)
        } else {
            let cut = rest.find(" #").map_or(rest, |at| &rest[..at]);
            expand(cut.trim(), &out)
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `${VAR}`, `${VAR:-default}` and `$VAR` from the keys before, else the process; unknown is
/// empty, as python-dotenv has it.
/// `pyenvx run` reads `.env` on every command: most values hold no `$`, and the pattern is
/// compiled once, with ASCII classes (Unicode's `\w` alone costs a millisecond to compile).
fn expand(value: &str, before: &[(String, String)]) -> String {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)",
        )
        .expect("valid regex")
    });
    if !value.contains('$') {
        return value.to_string();
    }
    RE.replace_all(value, |c: &regex::Captures| {
        let name = c.get(1).or(c.get(3)).map_or("", |m| m.as_str());
        before
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
            .or_else(|| c.get(2).map(|d| d.as_str().to_string()))
            .unwrap_or_default()
    })
    .into_owned()
}

/// Set `vars` in the env file at `path` (0600): a key's existing line is replaced in place, the
/// others are appended under `header`. Returns whether the file changed.
pub fn upsert(path: &Path, vars: &[(String, String)], header: &str) -> Result<bool> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let key_of = |line: &str| -> Option<String> {
        let l = line.trim_start();
        let l = l.strip_prefix("export ").unwrap_or(l);
        let (k, _) = l.split_once('=')?;
        let k = k.trim();
        (!k.is_empty() && !k.starts_with('#')).then(|| k.to_string())
    };
    let mut done: Vec<&str> = Vec::new();
    let mut text = String::new();
    for line in existing.split_inclusive('\n') {
        let found = key_of(line).and_then(|k| vars.iter().find(|(v, _)| *v == k));
        match found {
            Some((k, v)) => {
                done.push(k);
                text.push_str(&format!("{k}={}\n", dotenv_quote(v)));
            }
            None => text.push_str(line),
        }
    }
    let mut block = String::new();
    for (k, v) in vars {
        if !done.contains(&k.as_str()) {
            block.push_str(&format!("{k}={}\n", dotenv_quote(v)));
        }
    }
    if !block.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(header);
        text.push_str(&block);
    }
    if text == existing {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    crate::fs::write_atomic_mode(path, text.as_bytes(), 0o600)?;
    Ok(true)
}

/// A value as a dotenv line writes it: bare when safe, else single-quoted (no escapes inside),
/// else double-quoted.
pub fn dotenv_quote(v: &str) -> String {
    let safe = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/@+%".contains(c));
    if safe {
        v.to_string()
    } else if !v.contains(['\'', '\n']) {
        format!("'{v}'")
    } else {
        format!(
            "\"{}\"",
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    #[test]
    fn reads_what_compose_and_python_dotenv_read() {
        let text = "# comment\nexport A=1\nB=a b c\nC='x $A y'\nD=\"two\\nlines\"\nE=v # note\n\
                    F=${A}-${MISSING_PYENVX_TEST:-dflt}\nG=\"multi\nline\"\nH=\n  I = spaced \n";
        let want: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "a b c"),
            ("C", "x $A y"),
            ("D", "two\nlines"),
            ("E", "v"),
            ("F", "1-dflt"),
            ("G", "multi\nline"),
            ("H", ""),
            ("I", "spaced"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parsed(text), want);
        assert_eq!(parse("A=1\nnot a line\n").unwrap_err().0, 2);
        assert_eq!(parse("A='open\n").unwrap_err().0, 1);
    }

    #[test]
    fn upsert_replaces_in_place_and_appends_the_rest() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let path = tmp.path().join(".env");
        std::fs::write(&path, "DEBUG=1\nDB_HOST=db\nexport DB_PORT=5432").unwrap();
        let vars = [
            ("DB_HOST".to_string(), "127.0.0.1".to_string()),
            ("DB_PORT".to_string(), "5433".to_string()),
            ("DB_NAME".to_string(), "site".to_string()),
        ];
        assert!(upsert(&path, &vars, "# pyenvx\n").unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "DEBUG=1\nDB_HOST=127.0.0.1\nDB_PORT=5433\n# pyenvx\nDB_NAME=site\n"
        );
        assert!(!upsert(&path, &vars, "# pyenvx\n").unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
