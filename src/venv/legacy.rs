//! Python 2.7 environments, in the classic virtualenv layout.
//!
//! Python 2 knows nothing of `pyvenv.cfg` (PEP 405 arrived in 3.3): it finds its standard library
//! by walking up from the executable's own directory to a `lib/python2.7/os.py`, resolving a
//! symlinked executable first. So the environment holds a copy of the interpreter (17 KB for a
//! shared-library build such as pyenv's) and a `lib/python2.7` whose entries are symlinks to the
//! base interpreter's standard library: `sys.prefix` is then the environment, `site.py` adds its
//! own `site-packages`, and the base's is never on the path. `site.py` itself is a copy with the
//! user site turned off and `sys.real_prefix` set, as virtualenv's did, because pip and editors
//! recognise a Python 2 environment by that attribute.
//!
//! virtualenv 20.15.1 would do the same from a script, but it needs six, distlib, filelock and
//! platformdirs on the Python 2 side and ~400 ms; writing the layout costs a few hundred symlinks.
//! `pyvenv.cfg` is still written (Python 2 ignores it) because pyenvx, editors and uv read the
//! environment's version and owner there, exactly as for a modern one.
//!
//! ```text
//! .venv/
//!   pyvenv.cfg            as for any environment (home, version, pyenvx)
//!   bin/python            a copy of <home>/python2.7
//!   bin/python2, bin/python2.7 -> python
//!   bin/activate, bin/activate.fish
//!   lib/python2.7/        every entry of <prefix>/lib/python2.7 as a symlink, except:
//!     site.py             the base's, user site off, sys.real_prefix set
//!     site-packages/      the environment's own
//!     orig-prefix.txt, no-global-site-packages.txt   virtualenv's markers
//!   lib64 -> lib
//!   include/python2.7 -> <prefix>/include/python2.7   headers for building extensions
//! ```

use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::{Context, Result};
use pep440_rs::Version;

use super::spec::VenvSpec;
use crate::user_error;

/// Whether environments for `version` take this layout (Python 2; 3.3 and later read
/// `pyvenv.cfg`).
pub fn is_legacy(version: &Version) -> bool {
    version.release().first() == Some(&2)
}

/// The line of the base `site.py` that decides the user site; replaced so `~/.local` packages
/// never leak into the sandbox (`venv` and virtualenv both turn it off).
const USER_SITE_LINE: &str = "ENABLE_USER_SITE = None";

/// Write `dir` (which becomes `root`) as a Python 2 environment for `spec`.
pub(super) fn populate(dir: &Path, spec: &VenvSpec) -> Result<()> {
    let (major, minor) = spec.minor();
    let versioned = format!("python{major}.{minor}");
    let prefix = spec
        .interpreter_home
        .parent()
        .context("the interpreter directory has no parent")?;
    let stdlib = prefix.join("lib").join(&versioned);
    if !stdlib.join("os.py").is_file() {
        return Err(user_error!(
            hint = "use a complete Python installation (pyenv's, or the system's python2.7)",
            "cannot create a Python {major}.{minor} environment: {} has no standard library",
            stdlib.display()
        ));
    }

    let bin = dir.join("bin");
    fs_err::create_dir(&bin)?;
    // A copy, not a link: Python 2 resolves a symlinked executable and would take the base
    // installation as its prefix.
    fs_err::copy(spec.interpreter_home.join(&versioned), bin.join("python"))?;
    symlink("python", bin.join(format!("python{major}"))).context("cannot create bin/python2")?;
    symlink("python", bin.join(&versioned)).context("cannot create bin/python2.X")?;

    let lib = dir.join("lib");
    let own = lib.join(&versioned);
    fs_err::create_dir(&lib)?;
    fs_err::create_dir(&own)?;
    fs_err::create_dir(own.join("site-packages"))?;
    for entry in fs_err::read_dir(&stdlib)? {
        let entry = entry?;
        let name = entry.file_name();
        let skip = name == "site-packages"
            || name
                .to_str()
                .is_some_and(|n| n.strip_prefix("site.py").is_some_and(|r| r.len() <= 1));
        if !skip {
            symlink(entry.path(), own.join(&name))
                .with_context(|| format!("cannot link {}", entry.path().display()))?;
        }
    }
    let site = fs_err::read_to_string(stdlib.join("site.py"))?;
    fs_err::write(own.join("site.py"), patched_site(&site, prefix)?)?;
    let prefix_text = prefix
        .to_str()
        .context("the interpreter's prefix is not UTF-8")?;
    fs_err::write(own.join("orig-prefix.txt"), prefix_text)?;
    fs_err::write(own.join("no-global-site-packages.txt"), "")?;
    #[cfg(all(target_pointer_width = "64", not(target_os = "macos")))]
    symlink("lib", dir.join("lib64")).context("cannot create lib64")?;

    let include = dir.join("include");
    fs_err::create_dir(&include)?;
    let headers = prefix.join("include").join(&versioned);
    if headers.is_dir() {
        symlink(&headers, include.join(&versioned)).context("cannot link the C headers")?;
    }
    Ok(())
}

/// Delete `.pyc`/`.pyo` files under `site` whose `.py` is gone, then the directories that leaves
/// empty. Python 2 writes bytecode beside the source and imports it without the source, so a
/// removed or set-aside package (whose RECORD never listed bytecode written later) would stay
/// importable from its leftovers; Python 3's `__pycache__` does not have that problem.
pub fn sweep_orphan_bytecode(site: &Path) -> Result<()> {
    sweep_dir(site, true).map(|_| ())
}

/// Returns whether `dir` is now empty (and was removed, unless it is `site` itself).
fn sweep_dir(dir: &Path, top: bool) -> Result<bool> {
    let mut left = 0usize;
    let mut removed_any = false;
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !sweep_dir(&path, false)? {
                left += 1;
            } else {
                removed_any = true;
            }
            continue;
        }
        let orphan = path.extension().is_some_and(|e| e == "pyc" || e == "pyo")
            && !path.with_extension("py").exists();
        if orphan {
            fs_err::remove_file(&path)?;
            removed_any = true;
        } else {
            left += 1;
        }
    }
    // Only a directory this sweep emptied goes: an empty package directory the user made stays.
    if left == 0 && removed_any && !top {
        fs_err::remove_dir(dir)?;
        return Ok(true);
    }
    Ok(false)
}

/// The base `site.py` with the user site off and `sys.real_prefix` naming the base prefix.
fn patched_site(site: &str, prefix: &Path) -> Result<String> {
    let Some(at) = site.lines().position(|l| l.trim_end() == USER_SITE_LINE) else {
        return Err(user_error!(
            hint = "use an unmodified CPython 2.7 installation",
            "cannot create a Python 2 environment: its site.py has no `{USER_SITE_LINE}` line"
        ));
    };
    let mut out = String::with_capacity(site.len() + 256);
    for (i, line) in site.lines().enumerate() {
        if i == at {
            out.push_str("# pyenvx: a sandbox never sees ~/.local, as with venv and virtualenv.\n");
            out.push_str("ENABLE_USER_SITE = False\n");
            out.push_str("# pyenvx: how pip and editors recognise a Python 2 environment.\n");
            out.push_str(&format!(
                "sys.real_prefix = {}\n",
                py2_str_literal(prefix.as_os_str().as_encoded_bytes())
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// A Python 2 byte-string literal for `bytes`: ASCII as is, everything else escaped, so the file
/// needs no coding declaration.
fn py2_str_literal(bytes: &[u8]) -> String {
    let mut out = String::from("'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_without_its_source_goes_with_the_directories_it_leaves_empty() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let site = tmp.path();
        for (file, text) in [
            ("kept/__init__.py", ""),
            ("kept/__init__.pyc", "x"),
            ("kept/gone.pyc", "x"),
            ("removed/__init__.pyc", "x"),
            ("removed/sub/mod.pyo", "x"),
            ("lone.pyc", "x"),
            ("data.txt", ""),
        ] {
            let path = site.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir(site.join("empty_by_user")).unwrap();
        sweep_orphan_bytecode(site).unwrap();
        assert!(site.join("kept/__init__.pyc").is_file());
        assert!(!site.join("kept/gone.pyc").exists());
        assert!(!site.join("removed").exists());
        assert!(!site.join("lone.pyc").exists());
        assert!(site.join("data.txt").is_file());
        assert!(site.join("empty_by_user").is_dir());
    }

    #[test]
    fn literals_escape_quotes_backslashes_and_non_ascii() {
        assert_eq!(py2_str_literal(b"/root/.pyenv"), "'/root/.pyenv'");
        assert_eq!(
            py2_str_literal("/a'b\\é".as_bytes()),
            "'/a\\'b\\\\\\xc3\\xa9'"
        );
    }

    #[test]
    fn site_py_without_the_user_site_line_is_refused() {
        assert!(patched_site("import sys\n", Path::new("/p")).is_err());
        let patched = patched_site(
            "import sys\nENABLE_USER_SITE = None\nmain()\n",
            Path::new("/p"),
        )
        .unwrap();
        assert!(patched.contains("ENABLE_USER_SITE = False\n"));
        assert!(patched.contains("sys.real_prefix = '/p'\n"));
        assert!(!patched.contains("= None"));
    }
}

/// A real Python 2.7 from this machine's pyenv, in an environment written by [`super::create`].
#[cfg(test)]
mod needs_machine {
    use std::process::Command;
    use std::str::FromStr;

    use pep440_rs::Version;

    use crate::venv::{create, Venv, VenvSpec};

    #[test]
    fn a_python_2_7_environment_is_its_own_prefix_with_its_own_site_packages() {
        let py = crate::test_machine::pyenv_python("2.7");
        let version = Version::from_str(&py.version).unwrap();
        let tmp = crate::test_machine::tempdir().unwrap();
        let home = py.bin();
        let started = std::time::Instant::now();
        let venv = create(
            &tmp.path().join(".venv"),
            &VenvSpec {
                interpreter_home: &home,
                version: &version,
                freethreaded: false,
                prompt: "old",
            },
        )
        .unwrap();
        eprintln!("Python 2.7 environment written in {:?}", started.elapsed());
        let venv = Venv::open(&venv.root).unwrap();
        assert_eq!(venv.cfg().unwrap().version(), Some(version));
        let site = venv.site_packages().unwrap();
        assert!(site.ends_with("lib/python2.7/site-packages"), "{site:?}");
        std::fs::write(site.join("marker_mod.py"), "X = 1\n").unwrap();
        let out = Command::new(venv.python())
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .current_dir(tmp.path())
            .args([
                "-c",
                "import sys, os, marker_mod, json, ctypes; \
                 print(json.dumps([sys.prefix, sys.real_prefix, \
                 [p for p in sys.path if p.endswith('site-packages')]]))",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let (prefix, real, sites): (String, String, Vec<String>) =
            serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(std::path::Path::new(&prefix), venv.root);
        assert_eq!(std::path::Path::new(&real), py.prefix);
        assert_eq!(sites, vec![site.to_string_lossy().into_owned()]);
        // Retargeting is for modern environments; a Python 2 one is rebuilt instead.
        assert!(venv
            .retarget(&VenvSpec {
                interpreter_home: &home,
                version: &Version::from_str("2.7.17").unwrap(),
                freethreaded: false,
                prompt: "old",
            })
            .is_err());
    }
}
