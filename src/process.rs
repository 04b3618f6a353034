//! Other processes, as the services see them: whether a pid is alive, what it runs (its name,
//! its arguments, its working directory, so a recycled pid is not taken for our server), signals
//! to it, and waiting for something to become true with a deadline and a backoff.
//!
//! Signals and liveness go through `rustix` (`kill(2)`, no `unsafe`), which works on every
//! Unix. What a process runs is read from `/proc` on Linux, where it costs a few reads; where
//! there is no `/proc` (macOS, the BSDs) it is asked of `ps` (and the working directory of
//! `lsof`), so the same questions get answers there. Only the Linux path runs in this
//! repository's tests.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid};

/// The signals pyenvx sends to the servers it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// PostgreSQL's fast shutdown.
    Interrupt,
    /// A clean shutdown for MariaDB and Redis.
    Terminate,
    /// PostgreSQL's immediate shutdown.
    Quit,
}

impl Signal {
    fn raw(self) -> rustix::process::Signal {
        match self {
            Signal::Interrupt => rustix::process::Signal::INT,
            Signal::Terminate => rustix::process::Signal::TERM,
            Signal::Quit => rustix::process::Signal::QUIT,
        }
    }
}

fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Send `signal` to `pid`. A process that is already gone is not an error (`Ok(false)`).
pub fn signal(pid: u32, signal: Signal) -> io::Result<bool> {
    let Some(pid) = pid_of(pid) else {
        return Ok(false);
    };
    match kill_process(pid, signal.raw()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether `pid` is a live process: it exists (ours or another user's) and is not a zombie (dead,
/// not yet reaped by its parent).
pub fn is_alive(pid: u32) -> bool {
    exists(pid) && !is_zombie(pid)
}

/// Whether `pid` exists at all, a zombie included (what a pid file's check by `kill(pid, 0)`
/// sees).
pub fn exists(pid: u32) -> bool {
    pid_of(pid).is_some_and(|raw| {
        matches!(
            test_kill_process(raw),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    })
}

fn has_proc() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// `/proc/PID/stat`'s state field (after the parenthesised name), or `ps`'s `stat`.
fn is_zombie(pid: u32) -> bool {
    if has_proc() {
        return std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
    }
    ps(pid, "stat=").is_some_and(|s| s.trim_start().starts_with('Z'))
}

/// The program name of a live process (`postgres`, `redis-server`), `None` once it is gone.
pub fn name(pid: u32) -> Option<String> {
    if !is_alive(pid) {
        return None;
    }
    if has_proc() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (name, _) = stat.rsplit_once(')')?;
        return Some(name.split_once('(').map_or(name, |(_, n)| n).to_string());
    }
    let comm = ps(pid, "comm=")?;
    let comm = comm.trim();
    Some(comm.rsplit('/').next().unwrap_or(comm).to_string())
}

/// The live process named in a single-line pid file, with its program name.
pub fn from_pid_file(pid_file: &Path) -> Option<(u32, String)> {
    let pid = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some((pid, name(pid)?))
}

/// The command line of a live process, one entry per argument. Without `/proc`, from `ps`, split
/// at whitespace: an argument with a space inside comes back as two.
pub fn args(pid: u32) -> Option<Vec<OsString>> {
    if has_proc() {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if is_zombie(pid) {
            return None;
        }
        return Some(
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| OsString::from_vec(a.to_vec()))
                .collect(),
        );
    }
    if !is_alive(pid) {
        return None;
    }
    let line = ps(pid, "command=")?;
    Some(line.split_whitespace().map(OsString::from).collect())
}

/// Whether a live process's command line holds `sequence`, consecutive arguments such as
/// `["-D", "<dir>"]` or `["--datadir=<dir>"]`: what tells our server from a recycled pid.
pub fn runs_with(pid: u32, sequence: &[&OsStr]) -> bool {
    args(pid).is_some_and(|args| {
        !sequence.is_empty()
            && args
                .windows(sequence.len())
                .any(|w| w.iter().zip(sequence).all(|(a, b)| a == b))
    })
}

/// The working directory of a live process, when the system tells (not for other users'
/// processes unless we are root).
pub fn cwd(pid: u32) -> Option<PathBuf> {
    if has_proc() {
        return std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    }
    // lsof's field output: a `p<pid>` line, then `n<path>` for the cwd descriptor.
    let out = Command::new("lsof")
        .args(["-a", "-d", "cwd", "-Fn", "-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix('n'))
        .map(PathBuf::from)
}

/// Every process id the system lists.
pub fn all() -> Vec<u32> {
    if has_proc() {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        return entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
    }
    Command::new("ps")
        .args(["-A", "-o", "pid="])
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The process listening on TCP `port` (any local address): from `/proc/net/tcp{,6}` and the
/// processes' descriptors on Linux, from `lsof` elsewhere. Only processes we may inspect are
/// found: all of them as root, our own otherwise.
pub fn listening_on(port: u16) -> Option<u32> {
    if !has_proc() {
        let out = Command::new("lsof")
            .args(["-t", "-nP", &format!("-iTCP:{port}"), "-sTCP:LISTEN"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        return String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().parse().ok());
    }
    let needle = format!("socket:[{}]", listening_inode(port)?);
    all().into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == needle.as_str())
            })
        })
    })
}

/// The socket inode of a listener on `port` from /proc/net/tcp{,6}.
fn listening_inode(port: u16) -> Option<String> {
    let port_hex = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, rem_address, st (0A = LISTEN), …, inode is the 10th field.
            if fields.len() > 9 && fields[1].ends_with(&port_hex) && fields[3] == "0A" {
                return Some(fields[9].to_string());
            }
        }
    }
    None
}

/// The program file a live process runs: `/proc/PID/exe` on Linux; elsewhere `ps`'s command
/// name when it is a full path (macOS gives one).
pub fn executable(pid: u32) -> Option<PathBuf> {
    if has_proc() {
        return std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    }
    let comm = PathBuf::from(ps(pid, "comm=")?.trim());
    comm.is_absolute().then_some(comm)
}

/// One `ps` column for `pid`; `None` when it lists no such process.
fn ps(pid: u32, column: &str) -> Option<String> {
    let out = Command::new("ps")
        .args(["-ww", "-o", column, "-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// How often a wait looks again: from `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub first: Duration,
    pub max: Duration,
}

impl Pace {
    /// The same delay every time.
    pub const fn every(delay: Duration) -> Self {
        Self {
            first: delay,
            max: delay,
        }
    }

    /// Quick at first (a server that is nearly up), then no faster than `max`.
    pub const fn backoff(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }
}

/// Ask `check` until it gives a value (`Ok(Some(value))`), it fails (the error, at once), or
/// `timeout` has passed since the first ask (`Ok(None)`, after one last ask). Between asks it
/// sleeps as `pace` says, never past the deadline.
pub fn wait_until<T, E>(
    timeout: Duration,
    pace: Pace,
    mut check: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = Instant::now() + timeout;
    let mut delay = pace.first;
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(pace.max);
    }
}

/// [`wait_until`] for a condition that cannot fail: whether it became true in time.
pub fn wait_for(timeout: Duration, pace: Pace, mut done: impl FnMut() -> bool) -> bool {
    wait_until(timeout, pace, || {
        Ok::<_, std::convert::Infallible>(done().then_some(()))
    })
    .is_ok_and(|r| r.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_not_a_reaped_child() {
        let me = std::process::id();
        assert!(is_alive(me));
        assert!(name(me).is_some_and(|n| !n.is_empty()));
        assert!(args(me).is_some_and(|a| !a.is_empty()));
        assert_eq!(
            cwd(me).map(|p| p.canonicalize().unwrap()),
            Some(std::env::current_dir().unwrap().canonicalize().unwrap())
        );
        assert!(all().contains(&me));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(is_alive(pid));
        // Between fork and exec the child still runs this test's program.
        assert!(wait_for(
            Duration::from_secs(5),
            Pace::every(Duration::from_millis(5)),
            || runs_with(pid, &[OsStr::new("sleep"), OsStr::new("30")])
        ));
        assert!(!runs_with(pid, &[OsStr::new("31")]));
        assert!(signal(pid, Signal::Terminate).unwrap());
        // Dead but not reaped: a zombie is not alive.
        assert!(wait_for(
            Duration::from_secs(5),
            Pace::every(Duration::from_millis(5)),
            || { !is_alive(pid) }
        ));
        child.wait().unwrap();
        assert!(!is_alive(pid));
        assert!(!signal(pid, Signal::Terminate).unwrap());
        assert_eq!(name(pid), None);
    }

    #[test]
    fn a_wait_ends_with_the_value_the_error_or_the_deadline() {
        let mut n = 0;
        let got = wait_until(
            Duration::from_secs(5),
            Pace::every(Duration::from_millis(1)),
            || {
                n += 1;
                Ok::<_, String>((n == 3).then_some(n))
            },
        );
        assert_eq!(got, Ok(Some(3)));
        let failed = wait_until(
            Duration::from_secs(5),
            Pace::every(Duration::from_millis(1)),
            || Err::<Option<()>, _>("no"),
        );
        assert_eq!(failed, Err("no"));
        let started = Instant::now();
        let timed_out = wait_until(
            Duration::from_millis(30),
            Pace::backoff(Duration::from_millis(1), Duration::from_millis(10)),
            || Ok::<Option<()>, ()>(None),
        );
        assert_eq!(timed_out, Ok(None));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
