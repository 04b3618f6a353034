//! Which PostgreSQL process is the project's, and the recovery of starts that went wrong: a
//! killed server's leftovers, a first start that died half-way (its data directory set aside
//! once nothing works in it), and the servers an interrupted `db upgrade` left running.

use std::ffi::OsStr;

use super::*;
use crate::process::{Pace, Signal};

/// How long a start that fails because the killed server's children are still exiting is retried.
pub(super) const STALE_RETRY: Duration = Duration::from_secs(15);

/// The parts of `postmaster.pid` we use.
#[derive(Debug, Clone)]
pub struct PidFile {
    pub pid: u32,
    pub port: Option<u16>,
}

pub(super) fn read_pid_file(data: &Path) -> Option<PidFile> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(PidFile {
        pid: lines.first()?.trim().parse().ok()?,
        port: lines.get(3).and_then(|p| p.trim().parse().ok()),
    })
}

/// Whether `pid` is a live postgres serving `data` (a recycled pid is someone else).
pub(super) fn is_our_server(pid: u32, data: &Path) -> bool {
    crate::process::runs_with(pid, &[OsStr::new("-D"), data.as_os_str()])
}

/// The running server of this project's current major, if any.
pub fn running(project: &Project, config: &DbConfig) -> Result<Option<PidFile>> {
    let data = data_dir(project, config.major);
    Ok(read_pid_file(&data).filter(|p| is_our_server(p.pid, &data)))
}

/// The error of a start that found a killed server's children still attached to its shared
/// memory. They notice their postmaster is gone and exit within moments, so the start is
/// retried: PostgreSQL's interlock is what keeps two generations of processes from writing the
/// same files, and pyenvx only ever waits for it.
pub(super) fn is_stale_start(err: &anyhow::Error) -> bool {
    format!("{err:#}").contains("pre-existing shared memory block")
}

/// A killed server left `postmaster.pid` (and socket lock files) behind. PostgreSQL removes them
/// itself when their pid is gone, but refuses while that pid exists: a zombie nobody reaped yet
/// (containers and VMs whose init is slow to reap, or never does), or a recycled pid. So: wait
/// until no live process works in the data directory (every server process has it as its working
/// directory, the killed server's children included, until they notice and exit), then remove
/// what a pid that is not our server still claims.
pub(super) fn clear_after_crash(data: &Path, socket: &Path) -> Result<()> {
    wait_idle(data)?;
    if let Some(old) = read_pid_file(data) {
        if crate::process::exists(old.pid) && !is_our_server(old.pid, data) {
            fs_err::remove_file(data.join("postmaster.pid"))?;
            if let Ok(entries) = std::fs::read_dir(socket) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where the data directory of a first start that died is moved before it is deleted.
pub(super) fn interrupted_dir(project: &Project, major: u32) -> PathBuf {
    state_dir(project).join(format!("pg{major}.interrupted"))
}

/// Clear the data directory of a first start that died (no marker: it never held the project's
/// database). An initdb of a killed pyenvx may still be writing there, by path: wait until no
/// process works in it or names it, then move it aside (the name is free at once for the new
/// initdb) and delete it.
pub(super) fn set_aside_interrupted(project: &Project, major: u32, data: &Path) -> Result<()> {
    wait_idle(data)?;
    let aside = interrupted_dir(project, major);
    if aside.exists() {
        fs_err::remove_dir_all(&aside)?;
    }
    fs_err::rename(data, &aside)?;
    fs_err::remove_dir_all(&aside)?;
    Ok(())
}

/// Wait until no live process works in `data`: PostgreSQL's processes have it as their working
/// directory; initdb (and a server) name it after `-D`.
pub(super) fn wait_idle(data: &Path) -> Result<()> {
    let canonical = fs_err::canonicalize(data)?;
    let mut busy = None;
    let idle =
        crate::process::wait_for(STALE_RETRY, Pace::every(Duration::from_millis(50)), || {
            busy = process_in(&canonical).or_else(|| process_naming(data, &canonical));
            busy.is_none()
        });
    match busy {
        Some(pid) if !idle => Err(user_error!(
            hint = "stop that process (a PostgreSQL server, one of its children, or initdb), then `pyenvx db up`",
            "process {pid} still works in {}, though no server of this project runs there",
            data.display()
        )),
        _ => Ok(()),
    }
}

/// A live process whose working directory is `dir`.
pub(super) fn process_in(dir: &Path) -> Option<u32> {
    crate::process::all()
        .into_iter()
        .find(|pid| crate::process::cwd(*pid).is_some_and(|cwd| cwd == dir))
}

/// A live process with `-D <dir>` on its command line (initdb, postgres, pg_ctl).
pub(super) fn process_naming(dir: &Path, canonical: &Path) -> Option<u32> {
    let me = std::process::id();
    crate::process::all().into_iter().find(|pid| {
        *pid != me
            && [dir, canonical]
                .iter()
                .any(|d| crate::process::runs_with(*pid, &[OsStr::new("-D"), d.as_os_str()]))
    })
}

pub(super) fn retry_stale(
    bins: &Binaries,
    project: &Project,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    database: Option<&str>,
) -> Result<String> {
    let mut last = None;
    // A start that fails because the killed server's children are still exiting is tried again
    // until they are gone; any other outcome ends the wait.
    std::thread::sleep(Duration::from_millis(100));
    crate::process::wait_until(STALE_RETRY, Pace::every(Duration::from_millis(100)), || {
        let mut child = spawn(bins, project, data, socket, user, identity.port)?;
        match wait_ready(identity, database, Some(&mut child), START_TIMEOUT) {
            Err(e) if is_stale_start(&e) => {
                last = Some(e);
                Ok(None)
            }
            other => other.map(Some),
        }
    })?
    .map_or_else(
        || Err(last.unwrap_or_else(|| anyhow::anyhow!("the server did not start"))),
        Ok,
    )
}

/// Stop the servers a killed pyenvx left running on the project's scratch data directories
/// (`pg<major>.upgrading`, where `db upgrade` checks the new cluster): nothing else uses them,
/// and one still running holds the port and the lock file every later start trips over.
/// Returns a sentence for each one stopped.
pub fn stop_leftovers(project: &Project) -> Vec<String> {
    let mut said = Vec::new();
    let Ok(entries) = std::fs::read_dir(state_dir(project)) else {
        return said;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("pg") && name.ends_with(".upgrading")) {
            continue;
        }
        // postmaster.pid's first line is the postmaster's pid.
        let pid_file = entry.path().join("postmaster.pid");
        let Some((pid, program)) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse().ok())
            .and_then(|pid| Some((pid, crate::process::name(pid)?)))
        else {
            continue;
        };
        if !program.starts_with("postgres") {
            continue;
        }
        // SIGINT: a fast shutdown. Give it a while, then SIGQUIT.
        let _ = crate::process::signal(pid, Signal::Interrupt);
        let gone = crate::process::wait_for(
            Duration::from_secs(30),
            Pace::every(Duration::from_millis(50)),
            || !crate::process::is_alive(pid),
        );
        if !gone {
            let _ = crate::process::signal(pid, Signal::Quit);
        }
        said.push(format!(
            "stopped a PostgreSQL server (pid {pid}) that an interrupted `pyenvx db upgrade` left running on {}",
            entry.path().display()
        ));
    }
    said
}
