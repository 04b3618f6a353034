//! Virtual environments, written directly instead of by running `python -m venv`.
//!
//! A venv is a handful of directories, three symlinks, `pyvenv.cfg` and the activation scripts;
//! CPython's own `venv` module spends ~70 ms starting an interpreter (and more bootstrapping pip)
//! to produce them. Writing them ourselves costs about sixteen file creations and no process,
//! which matters because pyenvx creates and repairs environments implicitly on every `run`/`sync`.
//! The result is the standard layout that editors, `source .venv/bin/activate`,
//! `importlib.metadata` and pip understand:
//!
//! ```text
//! .venv/
//!   pyvenv.cfg            home = <interpreter bin dir>, version, pyenvx = <our version>, …
//!   bin/python            -> <interpreter bin dir>/python3.12 (absolute)
//!   bin/python3           -> python
//!   bin/python3.12        -> python
//!   bin/activate, bin/activate.fish
//!   lib/python3.12/site-packages/
//!   lib64                 -> lib (64-bit, non-macOS, as `venv` does)
//!   include/
//!   .gitignore, CACHEDIR.TAG
//! ```
//!
//! The interpreter's `bin` directory is used exactly as given: for managed interpreters it is the
//! minor-version link (`cpython-3.12-…/bin`), so a patch upgrade that moves the link carries every
//! environment along without touching it.

use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use pep440_rs::Version;

use crate::user_error;

mod legacy;
mod spec;
pub use legacy::{is_legacy, sweep_orphan_bytecode};
use spec::minor_of;
pub use spec::VenvSpec;

/// The file that makes a directory a virtual environment (PEP 405).
pub const PYVENV_CFG: &str = "pyvenv.cfg";

/// The `pyvenv.cfg` key that marks an environment as ours; its value is the pyenvx version.
const OURS_KEY: &str = "pyenvx";

/// An existing virtual environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    pub root: PathBuf,
}

/// Build a new environment at `venv_dir`, which must not exist yet.
///
/// Everything is written into a temporary directory beside `venv_dir` and renamed into place, so
/// an interrupted run leaves either no environment or a complete one, never a half-written
/// `.venv` that later commands would trust.
pub fn create(venv_dir: &Path, spec: &VenvSpec) -> Result<Venv> {
    // Absolute but not canonical: the scripts bake this path in, and it should read the way the
    // user sees their project, symlinks included.
    let root = std::path::absolute(venv_dir)
        .with_context(|| format!("cannot resolve {}", venv_dir.display()))?;
    if root.symlink_metadata().is_ok() {
        return Err(user_error!("{} already exists", root.display()));
    }
    check_interpreter(spec)?;
    let parent = root
        .parent()
        .context("the environment path has no parent directory")?;
    let name = root
        .file_name()
        .context("the environment path has no file name")?;
    fs_err::create_dir_all(parent)?;

    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.tmp-", name.to_string_lossy()))
        // DirBuilder applies the umask, so the environment ends up 0755 like any directory the
        // user makes, rather than tempfile's private 0700.
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    populate(tmp.path(), &root, spec)
        .with_context(|| format!("cannot create the virtual environment {}", root.display()))?;

    // rename(2) would also replace an empty directory that appeared since the check above; that
    // race only loses an empty directory, so it is not worth a platform-specific RENAME_NOREPLACE.
    match std::fs::rename(tmp.path(), &root) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
            ) =>
        {
            return Err(user_error!("{} already exists", root.display()));
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot move the new environment into place at {}",
                    root.display()
                )
            })
        }
    }
    // The directory now lives at `root`; the guard must not delete whatever reuses its old name.
    let _ = tmp.keep();
    Ok(Venv { root })
}

/// Write the environment's contents into `dir`, which will become `root`.
fn populate(dir: &Path, root: &Path, spec: &VenvSpec) -> Result<()> {
    let home = utf8(spec.interpreter_home, "interpreter directory")?;
    let root_str = utf8(root, "environment path")?;
    let versioned = spec.versioned_name();

    let bin = dir.join("bin");
    if legacy::is_legacy(spec.version) {
        legacy::populate(dir, spec)?;
    } else {
        fs_err::create_dir(&bin)?;
        write_python_links(&bin, spec)?;

        // One level at a time: create_dir_all would first try the full path and fail its way up.
        let lib = dir.join("lib");
        fs_err::create_dir(&lib)?;
        fs_err::create_dir(lib.join(&versioned))?;
        fs_err::create_dir(lib.join(&versioned).join("site-packages"))?;
        // `venv` adds this on 64-bit Linux so tools that hard-code `lib64` (some build backends,
        // old distro patches) find the same site-packages.
        #[cfg(all(target_pointer_width = "64", not(target_os = "macos")))]
        symlink("lib", dir.join("lib64")).context("cannot create lib64")?;
        fs_err::create_dir(dir.join("include"))?;
    }

    fs_err::write(dir.join(PYVENV_CFG), new_cfg(home, spec).render())?;
    let prompt = one_line(spec.prompt);
    fs_err::write(bin.join("activate"), render_activate_sh(root_str, &prompt))?;
    fs_err::write(
        bin.join("activate.fish"),
        render_activate_fish(root_str, &prompt),
    )?;

    // The environment is machine-specific and rebuildable: keep it out of git and out of backups.
    fs_err::write(dir.join(".gitignore"), "*\n")?;
    fs_err::write(dir.join("CACHEDIR.TAG"), CACHEDIR_TAG)?;
    Ok(())
}

/// `bin/python` points at the interpreter through `interpreter_home` (the minor link for managed
/// Pythons); the other names point at `python` so a retarget only has one real link to move.
fn write_python_links(bin: &Path, spec: &VenvSpec) -> Result<()> {
    let (major, minor) = spec.minor();
    let target = spec.interpreter_home.join(spec.versioned_name());
    symlink(&target, bin.join("python")).context("cannot create bin/python")?;
    symlink("python", bin.join(format!("python{major}"))).context("cannot create bin/python3")?;
    symlink("python", bin.join(format!("python{major}.{minor}")))
        .context("cannot create bin/python3.X")?;
    if spec.freethreaded {
        symlink("python", bin.join(spec.versioned_name()))
            .context("cannot create bin/python3.Xt")?;
    }
    Ok(())
}

/// An environment whose `bin/python` dangles fails later with a baffling "No such file"; one
/// stat now turns that into a clear error.
fn check_interpreter(spec: &VenvSpec) -> Result<()> {
    let exe = spec.interpreter_home.join(spec.versioned_name());
    if exe.is_file() {
        Ok(())
    } else {
        Err(user_error!(
            "cannot create a virtual environment from {}: no such interpreter",
            exe.display()
        ))
    }
}

fn new_cfg(home: &str, spec: &VenvSpec) -> PyvenvCfg {
    let version = spec.version.to_string();
    let mut cfg = PyvenvCfg::default();
    // `home` and `include-system-site-packages` are what the interpreter itself reads (getpath and
    // site.py); `version` is what `venv` writes and `version_info` what uv and virtualenv write —
    // tools read one or the other, so both are kept.
    cfg.set("home", home);
    cfg.set("implementation", "CPython");
    cfg.set("version", &version);
    cfg.set("version_info", &version);
    cfg.set("include-system-site-packages", "false");
    cfg.set("prompt", &one_line(spec.prompt));
    cfg.set(OURS_KEY, env!("CARGO_PKG_VERSION"));
    cfg
}

impl Venv {
    /// An existing environment; `root` must hold a `pyvenv.cfg`.
    pub fn open(root: &Path) -> Result<Venv> {
        if !root.join(PYVENV_CFG).is_file() {
            return Err(user_error!(
                "{} is not a virtual environment (it has no {PYVENV_CFG})",
                root.display()
            ));
        }
        Ok(Venv {
            root: root.to_path_buf(),
        })
    }

    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// `bin/python`, the environment's interpreter.
    pub fn python(&self) -> PathBuf {
        self.bin().join("python")
    }

    /// `lib/python3.X/site-packages`, or `lib/python3.Xt/site-packages` for a free-threaded build.
    pub fn site_packages(&self) -> Result<PathBuf> {
        let lib = self.root.join("lib");
        // pyvenv.cfg does not say whether the interpreter is free-threaded, so the layout on disk
        // decides between the two names.
        if let Some((major, minor)) = self.cfg()?.version().map(|v| minor_of(&v)) {
            for suffix in ["", "t"] {
                let candidate = lib
                    .join(format!("python{major}.{minor}{suffix}"))
                    .join("site-packages");
                if candidate.is_dir() {
                    return Ok(candidate);
                }
            }
        }
        // No usable version key (hand-written or unusual cfg): take the only python* directory.
        let mut found = Vec::new();
        if let Ok(entries) = fs_err::read_dir(&lib) {
            for entry in entries.flatten() {
                let candidate = entry.path().join("site-packages");
                if entry.file_name().to_string_lossy().starts_with("python") && candidate.is_dir() {
                    found.push(candidate);
                }
            }
        }
        match <[PathBuf; 1]>::try_from(found) {
            Ok([only]) => Ok(only),
            Err(_) => Err(user_error!(
                hint = "recreate the environment",
                "cannot find the site-packages directory of {}",
                self.root.display()
            )),
        }
    }

    /// The parsed `pyvenv.cfg`.
    pub fn cfg(&self) -> Result<PyvenvCfg> {
        let text = fs_err::read_to_string(self.root.join(PYVENV_CFG))?;
        Ok(PyvenvCfg::parse(&text))
    }

    /// Whether pyenvx made this environment (and may therefore rebuild it without asking).
    pub fn is_ours(&self) -> bool {
        self.cfg().is_ok_and(|cfg| cfg.get(OURS_KEY).is_some())
    }

    /// Point the environment at another interpreter of the same minor version (and build
    /// flavour), keeping installed packages: after a patch upgrade, or when an environment made
    /// from a system Python should go through a managed one.
    pub fn retarget(&self, spec: &VenvSpec) -> Result<()> {
        if legacy::is_legacy(spec.version) {
            // Its interpreter is a copy and its standard library links name the old prefix.
            return Err(user_error!(
                hint = "recreate the environment",
                "{} is a Python 2 environment, which cannot be pointed at another interpreter",
                self.root.display()
            ));
        }
        let home = utf8(spec.interpreter_home, "interpreter directory")?;
        let mut cfg = self.cfg()?;
        let (major, minor) = spec.minor();
        let site = self
            .root
            .join("lib")
            .join(spec.versioned_name())
            .join("site-packages");
        let same_minor = cfg.version().is_none_or(|v| minor_of(&v) == (major, minor));
        // Packages with compiled extensions are built for one minor version and one ABI; the
        // site-packages directory name encodes both, so its presence is the real test.
        if !same_minor || !site.is_dir() {
            let had = cfg.get("version_info").or(cfg.get("version")).map_or_else(
                || "a different Python".to_string(),
                |v| format!("Python {v}"),
            );
            let flavour = if spec.freethreaded {
                " (free-threaded)"
            } else {
                ""
            };
            return Err(user_error!(
                hint = "recreate the environment; its packages were built for the old interpreter",
                "{} was made for {had}, not Python {}{flavour}",
                self.root.display(),
                spec.version
            ));
        }

        check_interpreter(spec)?;
        let bin = self.bin();
        let target = spec.interpreter_home.join(spec.versioned_name());
        crate::fs::replace_symlink(&target, &bin.join("python"))?;
        // Rewritten rather than left alone so that environments laid out by `venv` (where
        // `python3.12` is the absolute link) end up pointing at the new interpreter too.
        let mut names = vec![format!("python{major}"), format!("python{major}.{minor}")];
        if spec.freethreaded {
            names.push(spec.versioned_name());
        }
        for name in names {
            crate::fs::replace_symlink(Path::new("python"), &bin.join(name))?;
        }

        let version = spec.version.to_string();
        cfg.set("home", home);
        cfg.set("version", &version);
        cfg.set("version_info", &version);
        // `venv` records the old interpreter's path and command line; both would now be wrong.
        cfg.remove("executable");
        cfg.remove("command");
        crate::fs::write_replacing(&self.root.join(PYVENV_CFG), cfg.render().as_bytes())
    }
}

/// Which tool made the environment at `root`, when it was not pyenvx: `"uv"`, `"virtualenv"`,
/// `"venv"` (any other `pyvenv.cfg`, which is what CPython's module writes), or `"unknown"` when
/// something exists at `root` without a readable `pyvenv.cfg`. `None` when nothing is there or
/// the environment is ours — the cases where pyenvx can go ahead without `--force`.
pub fn foreign_venv_kind(root: &Path) -> Option<String> {
    root.symlink_metadata().ok()?;
    let Ok(text) = fs_err::read_to_string(root.join(PYVENV_CFG)) else {
        return Some("unknown".to_string());
    };
    let cfg = PyvenvCfg::parse(&text);
    if cfg.get(OURS_KEY).is_some() {
        return None;
    }
    let kind = if cfg.get("uv").is_some() {
        "uv"
    } else if cfg.get("virtualenv").is_some() {
        "virtualenv"
    } else {
        "venv"
    };
    Some(kind.to_string())
}

/// The `key = value` lines of a `pyvenv.cfg`, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyvenvCfg {
    entries: Vec<(String, String)>,
}

impl PyvenvCfg {
    /// Parse the way CPython's `site.py` does: split at the first `=`, trim both sides, lowercase
    /// the key, ignore lines without `=`.
    pub fn parse(text: &str) -> PyvenvCfg {
        let mut cfg = PyvenvCfg::default();
        for line in text.lines() {
            if let Some((key, value)) = line.split_once('=') {
                cfg.set(&key.trim().to_lowercase(), value.trim());
            }
        }
        cfg
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The base interpreter's `bin` directory.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("home").map(PathBuf::from)
    }

    /// The base interpreter's version, from `version_info` (uv, virtualenv, pyenvx) or `version`
    /// (`venv`). virtualenv's `3.12.1.final.0` is read as `3.12.1`.
    pub fn version(&self) -> Option<Version> {
        let raw = self.get("version_info").or(self.get("version"))?;
        Version::from_str(raw).ok().or_else(|| {
            let numeric: Vec<&str> = raw
                .split('.')
                .take_while(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .collect();
            Version::from_str(&numeric.join(".")).ok()
        })
    }

    /// The pyenvx version that made the environment, if pyenvx did.
    pub fn pyenvx_version(&self) -> Option<&str> {
        self.get(OURS_KEY)
    }

    /// The prompt name; `venv` writes it as a Python string literal, so its quotes are dropped.
    pub fn prompt(&self) -> Option<&str> {
        let raw = self.get("prompt")?;
        let unquoted = ['\'', '"'].iter().find_map(|q| {
            raw.strip_prefix(*q)
                .and_then(|r| r.strip_suffix(*q))
                .filter(|_| raw.len() >= 2)
        });
        Some(unquoted.unwrap_or(raw))
    }

    /// Set a key, keeping its position when it already exists.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect()
    }
}

/// Paths end up in a line-based config file and in shell scripts, so they must be text on one line.
fn utf8<'p>(path: &'p Path, what: &str) -> Result<&'p str> {
    match path.to_str() {
        Some(s) if !s.contains(['\n', '\r']) => Ok(s),
        _ => Err(user_error!(
            hint = "use a path made of printable UTF-8 characters",
            "the {what} {} cannot be recorded in a virtual environment",
            path.display()
        )),
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by pyenvx.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// Single-quote for POSIX shells: nothing inside is special except the quote itself.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Single-quote for fish, where backslash and quote are the only escapes inside.
fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The prompt decoration for PS1. bash re-expands `$`, `` ` ``, `\` and `!` in PS1 each time it
/// draws the prompt and zsh expands `%`, so a project name containing them would run commands or
/// garble the prompt; VIRTUAL_ENV_PROMPT keeps the exact name.
fn ps1_safe(prompt: &str) -> String {
    prompt.replace(['$', '`', '\\', '!', '%'], "_")
}

// The environment's path is baked into the scripts, as `venv`, uv and virtualenv do, rather than
// computed from the script's location: it then works the same in every shell (POSIX sh has no way
// to learn a sourced file's path), and a moved environment is broken anyway because installers
// write its absolute path into the shebang of every script in bin/ — rebuilding is the fix for a
// moved project, not relocatable scripts.
//
// The `_OLD_VIRTUAL_*` variable names (and `_old_fish_prompt`) are the ones every venv tool uses,
// so activating this environment while another tool's is active restores that one's state first.

const ACTIVATE_SH: &str = r#"# Activate the virtual environment for the current shell session.
# Source it, don't run it: `source .venv/bin/activate` (bash, zsh) or `. .venv/bin/activate` (sh).
# Afterwards `deactivate` undoes every change.
# Written by pyenvx __PYENVX_VERSION__.

deactivate () {
    if [ -n "${_OLD_VIRTUAL_PATH+set}" ]; then
        PATH=$_OLD_VIRTUAL_PATH
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${_OLD_VIRTUAL_PYTHONHOME+set}" ]; then
        PYTHONHOME=$_OLD_VIRTUAL_PYTHONHOME
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    if [ -n "${_OLD_VIRTUAL_PS1+set}" ]; then
        PS1=$_OLD_VIRTUAL_PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    # The shell caches where commands live; PATH just changed under it.
    hash -r 2>/dev/null
    # Activation calls this with `nondestructive` to clean up first while keeping the function.
    if [ "${1-}" != nondestructive ]; then
        unset -f deactivate
    fi
}

deactivate nondestructive

VIRTUAL_ENV=__VIRTUAL_ENV__
export VIRTUAL_ENV
VIRTUAL_ENV_PROMPT=__PROMPT__
export VIRTUAL_ENV_PROMPT

_OLD_VIRTUAL_PATH=$PATH
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH

# PYTHONHOME would make the interpreter ignore pyvenv.cfg and use another installation's stdlib.
if [ -n "${PYTHONHOME+set}" ]; then
    _OLD_VIRTUAL_PYTHONHOME=$PYTHONHOME
    unset PYTHONHOME
fi

if [ -z "${VIRTUAL_ENV_DISABLE_PROMPT-}" ]; then
    _OLD_VIRTUAL_PS1=${PS1-}
    PS1=__PS1_PREFIX__"${PS1-}"
fi

hash -r 2>/dev/null
"#;

const ACTIVATE_FISH: &str = r#"# Activate the virtual environment for the current fish session.
# Source it, don't run it: `source .venv/bin/activate.fish`. Afterwards `deactivate` undoes it.
# Written by pyenvx __PYENVX_VERSION__.

function deactivate -d 'Leave the virtual environment'
    if set -q _OLD_VIRTUAL_PATH
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if set -q _OLD_VIRTUAL_PYTHONHOME
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
    if set -q _OLD_FISH_PROMPT_OVERRIDE
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    # Activation calls this with `nondestructive` to clean up first while keeping the function.
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end

deactivate nondestructive

set -gx VIRTUAL_ENV __VIRTUAL_ENV__
set -gx VIRTUAL_ENV_PROMPT __PROMPT__

set -g _OLD_VIRTUAL_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/bin" $PATH

# PYTHONHOME would make the interpreter ignore pyvenv.cfg and use another installation's stdlib.
if set -q PYTHONHOME
    set -g _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    functions -c fish_prompt _old_fish_prompt
    function fish_prompt
        set -l last_status $status
        printf '(%s) ' "$VIRTUAL_ENV_PROMPT"
        # Hand the wrapped prompt the status it would have seen, for prompts that show failures.
        echo "exit $last_status" | source
        _old_fish_prompt
    end
    set -g _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
"#;

fn render_activate_sh(root: &str, prompt: &str) -> String {
    ACTIVATE_SH
        .replace("__PYENVX_VERSION__", env!("CARGO_PKG_VERSION"))
        .replace("__VIRTUAL_ENV__", &sh_quote(root))
        .replace("__PROMPT__", &sh_quote(prompt))
        .replace(
            "__PS1_PREFIX__",
            &sh_quote(&format!("({}) ", ps1_safe(prompt))),
        )
}

fn render_activate_fish(root: &str, prompt: &str) -> String {
    ACTIVATE_FISH
        .replace("__PYENVX_VERSION__", env!("CARGO_PKG_VERSION"))
        .replace("__VIRTUAL_ENV__", &fish_quote(root))
        .replace("__PROMPT__", &fish_quote(prompt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    /// The base interpreter: this machine's pyenv CPython 3.12 (`crate::test_machine` says
    /// where, and fails the test if it is missing).
    fn base() -> &'static crate::test_machine::PyenvPython {
        static BASE: std::sync::OnceLock<crate::test_machine::PyenvPython> =
            std::sync::OnceLock::new();
        BASE.get_or_init(|| crate::test_machine::pyenv_python("3.12"))
    }

    fn base_home() -> PathBuf {
        base().bin()
    }

    fn base_prefix() -> &'static str {
        base().prefix.to_str().unwrap()
    }

    fn base_version() -> Version {
        Version::from_str(&base().version).unwrap()
    }

    fn v3121() -> Version {
        Version::from_str("3.12.1").unwrap()
    }

    fn spec<'a>(home: &'a Path, version: &'a Version) -> VenvSpec<'a> {
        VenvSpec {
            interpreter_home: home,
            version,
            freethreaded: false,
            prompt: "demo",
        }
    }

    fn output(cmd: &mut Command) -> String {
        let out = cmd.output().expect("cannot run command");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `[sys.prefix, sys.base_prefix, purelib]` as the environment's own interpreter sees them.
    fn python_paths(venv: &Venv) -> Vec<String> {
        let code = "import sys, sysconfig, json; \
                    print(json.dumps([sys.prefix, sys.base_prefix, sysconfig.get_paths()['purelib']]))";
        let text = output(
            Command::new(venv.python())
                .args(["-c", code])
                .env_remove("PYTHONHOME"),
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn free_threaded_layout() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let version = Version::from_str("3.13.1").unwrap();
        let home = tmp.path().join("python/bin");
        fs_err::create_dir_all(&home).unwrap();
        fs_err::write(home.join("python3.13t"), "").unwrap();
        let mut s = spec(&home, &version);
        s.freethreaded = true;
        let venv = create(&tmp.path().join(".venv"), &s).unwrap();
        assert_eq!(
            venv.site_packages().unwrap(),
            venv.root.join("lib/python3.13t/site-packages")
        );
        assert_eq!(
            fs_err::read_link(venv.python()).unwrap(),
            home.join("python3.13t")
        );
        assert_eq!(
            fs_err::read_link(venv.bin().join("python3.13t")).unwrap(),
            Path::new("python")
        );
        assert_eq!(
            fs_err::read_link(venv.bin().join("python3.13")).unwrap(),
            Path::new("python")
        );
    }

    #[test]
    fn parses_pyvenv_cfg_like_site_py() {
        let cfg = PyvenvCfg::parse(
            "Home = /a/b = c\n\njunk line\nprompt = 'my app'\nversion=3.13.0rc1\n",
        );
        assert_eq!(cfg.get("home"), Some("/a/b = c"));
        assert_eq!(cfg.prompt(), Some("my app"));
        assert_eq!(cfg.version().unwrap().to_string(), "3.13.0rc1");
        assert_eq!(cfg.get("junk line"), None);
        assert_eq!(PyvenvCfg::parse(&cfg.render()), cfg);
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        #[test]
        fn bash_activation_as_specified() {
            let home = base_home();
            let tmp = crate::test_machine::tempdir().unwrap();
            let version = base_version();
            let venv = create(&tmp.path().join(".venv"), &spec(&home, &version)).unwrap();
            let script = format!(
                "source {} && echo $VIRTUAL_ENV && command -v python && deactivate && echo ${{VIRTUAL_ENV:-unset}}",
                sh_quote(venv.bin().join("activate").to_str().unwrap())
            );
            let text = output(Command::new("bash").args(["-c", &script]));
            let root = venv.root.to_str().unwrap();
            assert_eq!(
                text.lines().collect::<Vec<_>>(),
                [root, &format!("{root}/bin/python"), "unset"]
            );
        }

        #[test]
        fn bash_and_sh_activation_round_trip() {
            let home = base_home();
            let tmp = crate::test_machine::tempdir().unwrap();
            let version = base_version();
            // Quotes and `$` in the path and prompt must survive the shell's quoting.
            let dir = tmp.path().join("it's a $project");
            let mut s = spec(&home, &version);
            s.prompt = "it's $(echo pwned)";
            let venv = create(&dir.join(".venv"), &s).unwrap();
            let activate = venv.bin().join("activate");
            let script = r#"
                PS1='$ '
                PYTHONHOME=/nowhere; export PYTHONHOME
                before=$PATH
                . "$1"
                echo "$VIRTUAL_ENV"
                echo "$VIRTUAL_ENV_PROMPT"
                command -v python
                echo "$PS1"
                echo "${PYTHONHOME:-unset}"
                python -c 'import sys; print(sys.prefix)'
                deactivate
                echo "${VIRTUAL_ENV:-unset}"
                echo "$PS1"
                echo "$PYTHONHOME"
                [ "$PATH" = "$before" ] && echo path-restored
                command -v deactivate >/dev/null || echo deactivate-gone
            "#;
            for shell in ["bash", "dash"] {
                crate::test_machine::require(shell, &["-c", "true"], shell);
                // Only the system directories: pyenv-virtualenv puts a `deactivate` command on PATH.
                let text = output(
                    Command::new(shell)
                        .args(["-c", script, shell])
                        .arg(&activate)
                        .env("PATH", "/usr/bin:/bin"),
                );
                let lines: Vec<&str> = text.lines().collect();
                let root = venv.root.to_str().unwrap();
                assert_eq!(
                    lines,
                    [
                        root,
                        "it's $(echo pwned)",
                        &format!("{root}/bin/python"),
                        "(it's _(echo pwned)) $ ",
                        "unset",
                        root,
                        "unset",
                        "$ ",
                        "/nowhere",
                        "path-restored",
                        "deactivate-gone",
                    ],
                    "{shell}"
                );
            }
        }

        #[test]
        fn create_refuses_an_existing_path() {
            let tmp = crate::test_machine::tempdir().unwrap();
            let version = base_version();
            let home = base_home();
            let dir = tmp.path().join(".venv");
            fs_err::create_dir(&dir).unwrap();
            let err = create(&dir, &spec(&home, &version)).unwrap_err();
            assert!(err.to_string().contains("already exists"), "{err:#}");
            assert!(err.downcast_ref::<crate::error::UserError>().is_some());
            // The failed attempt leaves nothing beside it.
            assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 1);
            assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 0);

            let missing = tmp.path().join("no-python/bin");
            let err = create(&tmp.path().join("other"), &spec(&missing, &version)).unwrap_err();
            assert!(err.to_string().contains("no such interpreter"), "{err:#}");
            assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 1);
        }

        #[test]
        fn creation_time() {
            let version = base_version();
            let home = base_home();
            // Creating inodes costs very different amounts on different filesystems: a benchmark
            // asks for several places (see `measure_places`).
            let places = crate::test_machine::measure_places();
            let runs = 50;
            for place in places {
                let Ok(tmp) = tempfile::tempdir_in(&place) else {
                    continue;
                };
                let start = Instant::now();
                for i in 0..runs {
                    create(&tmp.path().join(format!("v{i}")), &spec(&home, &version)).unwrap();
                }
                let per = start.elapsed() / runs;
                // Each environment is one pyenvx made, for this interpreter, and usable.
                for i in 0..runs {
                    let venv = Venv::open(&tmp.path().join(format!("v{i}"))).unwrap();
                    assert!(venv.is_ours());
                    assert_eq!(venv.cfg().unwrap().version().unwrap(), version);
                    assert_eq!(
                        fs_err::read_link(venv.python()).unwrap(),
                        home.join("python3.12")
                    );
                }
                println!(
                    "venv::create took {per:?} per environment in {} (mean of {runs})",
                    place.display()
                );
            }
        }

        #[test]
        fn interpreter_sees_the_environment() {
            let home = base_home();
            let tmp = crate::test_machine::tempdir().unwrap();
            let version = base_version();
            let venv = create(&tmp.path().join(".venv"), &spec(&home, &version)).unwrap();
            assert_eq!(venv.root, tmp.path().join(".venv"));

            let paths = python_paths(&venv);
            assert_eq!(paths[0], venv.root.to_str().unwrap());
            assert_eq!(paths[1], base_prefix());
            assert_eq!(Path::new(&paths[2]), venv.site_packages().unwrap());
            assert_eq!(
                venv.site_packages().unwrap(),
                venv.root.join("lib/python3.12/site-packages")
            );

            assert_eq!(
                fs_err::read_link(venv.python()).unwrap(),
                home.join("python3.12")
            );
            assert_eq!(
                fs_err::read_link(venv.bin().join("python3.12")).unwrap(),
                Path::new("python")
            );
            assert!(venv.root.join("lib64").join("python3.12").is_dir());
            assert_eq!(
                fs_err::read_to_string(venv.root.join(".gitignore")).unwrap(),
                "*\n"
            );
            assert!(venv.root.join("CACHEDIR.TAG").is_file());
            // Nothing left behind from the build directory.
            let leftovers: Vec<_> = fs_err::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(leftovers, vec![std::ffi::OsString::from(".venv")]);

            let cfg = venv.cfg().unwrap();
            assert_eq!(cfg.home().unwrap(), home);
            assert_eq!(cfg.version().unwrap(), version);
            assert_eq!(cfg.get("include-system-site-packages"), Some("false"));
            assert_eq!(cfg.prompt(), Some("demo"));
            assert_eq!(cfg.pyenvx_version(), Some(env!("CARGO_PKG_VERSION")));
            assert!(venv.is_ours());
            assert_eq!(foreign_venv_kind(&venv.root), None);
        }

        #[test]
        fn recognises_other_tools_environments() {
            let tmp = crate::test_machine::tempdir().unwrap();
            assert_eq!(foreign_venv_kind(&tmp.path().join("missing")), None);

            let write = |name: &str, cfg: &str| {
                let dir = tmp.path().join(name);
                fs_err::create_dir(&dir).unwrap();
                fs_err::write(dir.join(PYVENV_CFG), cfg).unwrap();
                dir
            };
            let uv = write(
                "uv",
                "home = /usr/bin\nimplementation = CPython\nuv = 0.5.1\nversion_info = 3.12.1\n",
            );
            let virtualenv = write(
                "ve",
                "home = /usr/bin\nvirtualenv = 20.28.0\nversion_info = 3.12.1.final.0\n",
            );
            let ours = write("ours", "home = /usr/bin\nPyenvx = 0.1.0\n");
            assert_eq!(foreign_venv_kind(&uv).as_deref(), Some("uv"));
            assert_eq!(
                foreign_venv_kind(&virtualenv).as_deref(),
                Some("virtualenv")
            );
            assert_eq!(foreign_venv_kind(&ours), None);
            assert!(Venv::open(&ours).unwrap().is_ours());
            assert!(!Venv::open(&uv).unwrap().is_ours());
            assert_eq!(
                Venv::open(&virtualenv)
                    .unwrap()
                    .cfg()
                    .unwrap()
                    .version()
                    .unwrap(),
                v3121()
            );

            let not_a_venv = tmp.path().join("plain");
            fs_err::create_dir(&not_a_venv).unwrap();
            assert_eq!(foreign_venv_kind(&not_a_venv).as_deref(), Some("unknown"));
            assert!(Venv::open(&not_a_venv).is_err());

            let home = base_home();
            let made_by_venv = tmp.path().join("stdlib-venv");
            output(
                Command::new(home.join("python3.12"))
                    .args(["-m", "venv", "--without-pip", "--prompt", "x"])
                    .arg(&made_by_venv),
            );
            assert_eq!(foreign_venv_kind(&made_by_venv).as_deref(), Some("venv"));
            let venv = Venv::open(&made_by_venv).unwrap();
            assert!(!venv.is_ours());
            assert_eq!(venv.cfg().unwrap().prompt(), Some("x"));
            assert_eq!(
                venv.site_packages().unwrap(),
                made_by_venv.join("lib/python3.12/site-packages")
            );
        }

        #[test]
        fn retargets_to_another_home_of_the_same_minor() {
            let home_a = base_home();
            let tmp = crate::test_machine::tempdir().unwrap();
            // Home B reaches the same installation through a link, like a managed minor link.
            let link = tmp.path().join("cpython-3.12-link");
            symlink(base_prefix(), &link).unwrap();
            let home_b = link.join("bin");

            let old = base_version();
            let new = Version::from_str("3.12.2").unwrap();
            let venv = create(&tmp.path().join(".venv"), &spec(&home_a, &old)).unwrap();
            fs_err::write(venv.site_packages().unwrap().join("marker.py"), "").unwrap();
            venv.retarget(&spec(&home_b, &new)).unwrap();

            let cfg = venv.cfg().unwrap();
            assert_eq!(cfg.home().unwrap(), home_b);
            assert_eq!(cfg.get("version"), Some("3.12.2"));
            assert_eq!(cfg.get("version_info"), Some("3.12.2"));
            assert!(venv.is_ours());
            assert_eq!(
                fs_err::read_link(venv.python()).unwrap(),
                home_b.join("python3.12")
            );
            assert!(venv.site_packages().unwrap().join("marker.py").is_file());
            let paths = python_paths(&venv);
            assert_eq!(paths[0], venv.root.to_str().unwrap());
            assert_eq!(Path::new(&paths[2]), venv.site_packages().unwrap());
            assert!(
                [base_prefix(), link.to_str().unwrap()].contains(&paths[1].as_str()),
                "{}",
                paths[1]
            );
            // No temporary links or files left in bin/ or the root.
            for dir in [venv.root.clone(), venv.bin()] {
                for entry in fs_err::read_dir(dir).unwrap() {
                    let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                    assert!(!name.contains(".tmp-"), "{name}");
                }
            }

            let other_minor = Version::from_str("3.13.0").unwrap();
            let err = venv.retarget(&spec(&home_b, &other_minor)).unwrap_err();
            assert!(
                err.to_string().contains("made for Python 3.12.2"),
                "{err:#}"
            );
            let mut ft = spec(&home_b, &new);
            ft.freethreaded = true;
            assert!(venv.retarget(&ft).is_err());
            assert_eq!(venv.cfg().unwrap().home().unwrap(), home_b);
        }

        #[test]
        #[ignore = "needs the fish shell; .ci/run runs it where fish is installed"]
        fn fish_activation_round_trip() {
            let home = base_home();
            crate::test_machine::require("fish", &["-c", "true"], "the fish shell");
            let tmp = crate::test_machine::tempdir().unwrap();
            let version = base_version();
            let venv = create(
                &tmp.path().join("it's \\ here/.venv"),
                &spec(&home, &version),
            )
            .unwrap();
            let script = "source $argv[1]; and echo $VIRTUAL_ENV; and command -v python; \
                          and deactivate; and echo (set -q VIRTUAL_ENV; and echo set; or echo unset)";
            let text = output(
                Command::new("fish")
                    .args(["--no-config", "-c", script])
                    .arg(venv.bin().join("activate.fish")),
            );
            let root = venv.root.to_str().unwrap();
            assert_eq!(
                text.lines().collect::<Vec<_>>(),
                [root, &format!("{root}/bin/python"), "unset"]
            );
        }
    }
}
