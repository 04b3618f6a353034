//! What any native server is to pyenvx, whatever its engine (PostgreSQL in
//! [`super::native`], MariaDB in [`super::mariadb`], Redis in [`super::redis`]): the short
//! private socket directory, the programs run as the server's user, the launched child with its
//! log ([`ServerChild`]) and the errors of a start that failed (which process is whose is
//! [`crate::process`]'s).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::postgres::{self, ServerUser};
use crate::project::Project;
use crate::user_error;

/// Logs beyond this size (`postgres.log`, `mariadb.log`) are rotated to `<log>.1` at the next start.
pub(super) const LOG_ROTATE_BYTES: u64 = 10 << 20;

/// Where a native server's socket directory `pyenvx-<tag>-…` may be, most wanted first.
///
/// Socket paths are limited to ~107 bytes and project paths can be long, so it lives under the
/// runtime directory (or the temporary directory) under a hash of the project's path. As root,
/// the runtime directory is usually root-only, and the temporary directory is taken instead.
pub(super) fn socket_dir_candidates(
    project: &Project,
    user: Option<&ServerUser>,
    tag: &str,
) -> Vec<PathBuf> {
    let hash = super::shared::short_hash(&project.root);
    let uid = user.map_or_else(postgres::effective_uid, |u| u.uid);
    let mut candidates = Vec::new();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(runtime).join(format!("pyenvx-{tag}-{hash}")));
    }
    candidates.push(std::env::temp_dir().join(format!("pyenvx-{tag}-{uid}-{hash}")));
    candidates.push(PathBuf::from(format!("/tmp/pyenvx-{tag}-{uid}-{hash}")));
    candidates
}

/// The first [`socket_dir_candidates`] where `lock_name` (the server's longest file there) fits
/// a socket path and the server's user can reach, made private to that user.
pub(super) fn private_socket_dir(
    project: &Project,
    user: Option<&ServerUser>,
    tag: &str,
    lock_name: &str,
    server: &str,
) -> Result<PathBuf> {
    let fits = |p: &Path| p.as_os_str().len() + 1 + lock_name.len() <= 100;
    let reachable = |p: &Path| match (user, p.parent()) {
        (Some(u), Some(parent)) => postgres::check_reachable(u, parent).is_ok(),
        _ => true,
    };
    let dir = socket_dir_candidates(project, user, tag)
        .into_iter()
        .find(|p| fits(p) && reachable(p))
        .with_context(|| {
            format!("no directory short enough for {server}'s socket (runtime and temporary directories are too deep)")
        })?;
    ensure_private_dir(&dir, user)?;
    Ok(dir)
}

/// Remove the socket directory `pyenvx-<tag>-…` wherever it was made.
pub(super) fn remove_socket_dirs(project: &Project, user: Option<&ServerUser>, tag: &str) {
    for dir in socket_dir_candidates(project, user, tag) {
        // Only when empty: a running server's socket keeps it.
        let _ = std::fs::remove_dir(dir);
    }
}

/// Create `dir` 0700 for the server's user, or accept it if it already is exactly that (a
/// shared /tmp could hold someone else's directory or symlink under the same name).
pub(super) fn ensure_private_dir(dir: &Path, user: Option<&ServerUser>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let uid = user.map_or_else(postgres::effective_uid, |u| u.uid);
    match std::fs::create_dir(dir) {
        Ok(()) => give(dir, user)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    let meta = fs_err::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(user_error!(
            hint = format!("remove {} (it is not pyenvx's)", dir.display()),
            "{} exists but is not a directory owned by uid {uid}",
            dir.display()
        ));
    }
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Run `cmd` (one of a server's programs) to completion as the server's user, its output
/// captured.
pub(super) fn output_as(mut cmd: Command, user: Option<&ServerUser>) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = user {
        u.apply(&mut cmd);
    }
    let program = PathBuf::from(cmd.get_program());
    cmd.output()
        .with_context(|| format!("cannot run {}", program.display()))
}

/// Hand a path to the server's user (as root), as what runs as that user must own it.
pub(super) fn give(path: &Path, user: Option<&ServerUser>) -> Result<()> {
    if let Some(u) = user {
        std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
            .with_context(|| format!("cannot hand {} to {}", path.display(), u.name))?;
    }
    Ok(())
}

/// A server we just launched: its process, and where its log output for this start begins.
pub(super) struct ServerChild {
    child: Child,
    log_path: PathBuf,
    log_offset: u64,
}

impl ServerChild {
    /// Start `cmd` (a native server) as the server's user, detached into its own process group,
    /// its output appended to `log_path`, which is rotated to `<log>.1` first once it grew
    /// beyond [`LOG_ROTATE_BYTES`].
    pub(super) fn launch(
        mut cmd: Command,
        log_path: PathBuf,
        user: Option<&ServerUser>,
    ) -> Result<ServerChild> {
        if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
            let _ = std::fs::rename(&log_path, log_path.with_extension("log.1"));
        }
        let log = crate::fs::open_log(&log_path)?;
        let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C meant for pyenvx (or for `pyenvx run`) is not for it.
            .process_group(0);
        if let Some(u) = user {
            u.apply(&mut cmd);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", Path::new(cmd.get_program()).display()))?;
        Ok(ServerChild {
            child,
            log_path,
            log_offset,
        })
    }

    fn log_since_start(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.seek(SeekFrom::Start(self.log_offset));
            let _ = f.take(64 * 1024).read_to_string(&mut text);
        }
        text
    }

    /// Fails, with the end of this start's log, once the server (`name`) exited; as the user's
    /// error of a port another program took meanwhile when `port_taken` finds that in the log.
    pub(super) fn check_alive(
        &mut self,
        name: &str,
        port: u16,
        port_taken: fn(&str) -> bool,
    ) -> Result<()> {
        let Some(status) = self.child.try_wait()? else {
            return Ok(());
        };
        let log = self.log_since_start();
        let detail = last_lines(&log, 12);
        if port_taken(&log) {
            return Err(user_error!(
                hint = "stop that program, or move this project's database with `pyenvx db up --port N`",
                "port {port} was taken by another program while {name} started:\n{detail}"
            ));
        }
        Err(anyhow::anyhow!(
            "{name} exited during start ({status}):\n{detail}"
        ))
    }

    /// The error of a start that did not become ready in time, with the end of this start's log
    /// when the server is ours.
    pub(super) fn not_ready(child: Option<&Self>, name: &str, timeout: Duration) -> anyhow::Error {
        let log = child
            .map(|c| last_lines(&c.log_since_start(), 12))
            .unwrap_or_default();
        anyhow::anyhow!(
            "{name} did not accept connections within {} s\n{log}",
            timeout.as_secs()
        )
    }
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
