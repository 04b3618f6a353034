//! `pyenvx db branch hook install`: the git `post-checkout` hook that runs `pyenvx db branch
//! follow` after each checkout of a branch ([`super::branches`]).
//!
//! Decisions and why:
//! * The hook goes where git looks (`git rev-parse --git-path hooks`, so `core.hooksPath`
//!   counts), and runs pyenvx in the project's directory relative to the work tree's top, where
//!   git runs hooks: a project in a subdirectory of its repository works.
//! * A hook the project has is kept: renamed `post-checkout.pre-pyenvx`, run first with the
//!   same arguments, its failure still the hook's. Installing twice changes nothing.
//! * A follow that fails is a warning, never the checkout's failure: the files are checked out
//!   already, and `pyenvx db branch follow` tries again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::project::Project;
use crate::user_error;

/// The line that marks the post-checkout hook as pyenvx's.
const HOOK_MARK: &str = "# pyenvx: the database follows the checked-out branch";
/// What a hook the project had is renamed to; pyenvx's hook runs it first.
const HOOK_KEPT: &str = "post-checkout.pre-pyenvx";

/// What `db branch hook install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookInstalled {
    New(PathBuf),
    /// The project's own hook was kept (renamed to this), and runs first.
    Beside {
        hook: PathBuf,
        kept: PathBuf,
    },
    Already(PathBuf),
}

/// Add a `post-checkout` hook that runs `pyenvx db branch follow` after a branch checkout,
/// keeping a hook the project has (renamed beside it, run first, its exit status kept). The
/// caller records the branch the database holds ([`super::branches::record_initial`]).
pub fn install_hook(project: &Project, pyenvx: &Path) -> Result<HookInstalled> {
    let git = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&project.root)
            .args(args)
            .output()
            .context("cannot run git")?;
        if !out.status.success() {
            return Err(user_error!(
                hint = "`git init` makes it one; the hook lives in the repository",
                "{} is not in a git repository: {}",
                project.root.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Where git looks for hooks (`core.hooksPath` included), and where the project sits in the
    // work tree, for a hook that git runs at the top of it.
    let hooks = project
        .root
        .join(git(&["rev-parse", "--git-path", "hooks"])?);
    let prefix = git(&["rev-parse", "--show-prefix"])?;
    fs_err::create_dir_all(&hooks)?;
    // `../.git/hooks` from a project in a subdirectory: said as the place it is.
    let hooks = fs_err::canonicalize(&hooks)?;
    let hook = hooks.join("post-checkout");
    let kept = hooks.join(HOOK_KEPT);
    let existing = match std::fs::read(&hook) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", hook.display())),
    };
    if existing
        .as_ref()
        .is_some_and(|b| String::from_utf8_lossy(b).contains(HOOK_MARK))
    {
        return Ok(HookInstalled::Already(hook));
    }
    if existing.is_some() && std::fs::symlink_metadata(&kept).is_ok() {
        return Err(user_error!(
            hint = format!("move one of them away; nothing was changed"),
            "{} exists and so does {}: pyenvx would have to replace one",
            hook.display(),
            kept.display()
        ));
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let script = format!(
        "#!/bin/sh\n\
         {HOOK_MARK} (`pyenvx db branch hook install`).\n\
         # A hook that was here before is {HOOK_KEPT}: it runs first, as it did.\n\
         here=$(dirname \"$0\")\n\
         if [ -x \"$here/{HOOK_KEPT}\" ]; then\n\
         \x20   \"$here/{HOOK_KEPT}\" \"$@\" || exit $?\n\
         fi\n\
         # $3 is 1 for a checkout of a branch, 0 for one of files.\n\
         [ \"$3\" = 1 ] || exit 0\n\
         pyenvx={exe}\n\
         [ -x \"$pyenvx\" ] || pyenvx=pyenvx\n\
         \"$pyenvx\" -C ./{prefix} db branch follow ||\n\
         \x20   echo \"pyenvx: the database did not follow the checkout (above); \\`pyenvx db branch follow\\` tries again\" >&2\n\
         exit 0\n",
        exe = quote(&pyenvx.to_string_lossy()),
        prefix = quote(&prefix),
    );
    if existing.is_some() {
        fs_err::rename(&hook, &kept)?;
    }
    crate::fs::write_atomic_mode(&hook, script.as_bytes(), 0o755)?;
    Ok(match existing {
        Some(_) => HookInstalled::Beside { hook, kept },
        None => HookInstalled::New(hook),
    })
}
