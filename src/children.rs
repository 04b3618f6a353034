//! Child processes that must not outlive pyenvx.
//!
//! uv runs for seconds to minutes on pyenvx's behalf (resolving, installing into the store's
//! staging directory). If pyenvx is killed (`kill -9`, a closed terminal, a CI timeout), an
//! orphaned uv would go on writing into a directory the next run removes, holding the network
//! and the cache lock for nobody.

use std::process::Command;

/// Have the kernel send SIGTERM to the child when pyenvx exits, however it exits (Linux).
///
/// The signal follows the thread that spawned the child, so spawn from a thread that lives as
/// long as the wait (every caller waits on the spawning thread).
#[cfg(target_os = "linux")]
pub fn die_with_pyenvx(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // pyenvx may have died between the fork and the prctl: nobody would signal then.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

#[cfg(not(target_os = "linux"))]
pub fn die_with_pyenvx(cmd: &mut Command) -> &mut Command {
    cmd
}

/// Run `cmd` to completion with its stdout and stderr captured, as `Command::output` does, but
/// kill it once `deadline` has passed (`None` then), or once a caught SIGINT/SIGTERM says the
/// command is being interrupted (an `Interrupted` error). A subprocess that does network work (uv)
/// has only per-read timeouts of its own, which a trickling server never trips.
pub fn output_within(
    cmd: &mut Command,
    deadline: std::time::Duration,
) -> std::io::Result<Option<std::process::Output>> {
    use std::io::Read;
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::interrupt::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        if started.elapsed() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            // The readers end when the pipes close, which a grandchild may delay: not waited for.
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    Ok(Some(std::process::Output {
        status,
        stdout,
        stderr,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    #[test]
    #[cfg(target_os = "linux")]
    fn the_child_dies_with_the_thread_that_spawned_it() {
        // A thread stands in for pyenvx: the signal follows the spawning thread's exit.
        let mut child = std::thread::spawn(|| {
            die_with_pyenvx(Command::new("sleep").arg("30"))
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("the child outlived its parent by 5 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn a_child_past_its_deadline_is_killed() {
        let started = Instant::now();
        let ran = output_within(
            Command::new("sh").args(["-c", "echo hi; sleep 30"]),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(ran.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        let ran = output_within(
            Command::new("sh").args(["-c", "echo hi; echo there >&2"]),
            Duration::from_secs(30),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ran.stdout, b"hi\n");
        assert_eq!(ran.stderr, b"there\n");
    }
}
