//! `pyenvx-shim`: the program behind every name in `$PYENVX_HOME/shims/`.
//!
//! `pyenvx shims install` hard-links this binary under `python`, `pip`, `django-admin`, … and
//! the name it was started as (argv[0]'s file name) is the command to run. It resolves that
//! name with [`pyenvx_shim::resolve`] — a few `stat`s — and replaces itself with the result
//! (`exec`, never spawn-and-wait: signals, stdin and the exit status belong to the program).
//! Only a request that needs a real interpreter search (the slow path) goes through pyenvx,
//! again by `exec`.
//!
//! The target's argv[0] is its full path, not the name typed: CPython finds `pyvenv.cfg`
//! relative to argv[0], and a bare `python` would be looked up on PATH — back to this shim.
//!
//! `no_main`: std's runtime set-up before `fn main` (reading `/proc/self/maps` for the stack
//! guard, an alternate signal stack, SIGPIPE, checking fds 0–2) measured 0.1 ms of the
//! launcher's 0.85 ms on the reference machine, and none of it matters to a program whose job
//! is one `exec`. Arguments are taken from C `main`'s own parameters, which every libc passes
//! (std's own capture of them outside `lang_start` is glibc-only).

#![no_main]

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{exit, Command};

use pyenvx_shim::{
    loop_failure, next_hops, on_path, path_without_shims, pyenvx_exe, resolve, service_env,
    set_by_pyenvx, Context, Failure, Resolution, Why, DEPTH_VAR, MASTER, MAX_HOPS,
    ORIGINAL_PATH_VAR, RESOLVING_VAR, SET_PROJECT_VAR, SET_VAR,
};

/// The C entry point.
///
/// # Safety
///
/// `argv` holds `argc` valid, NUL-terminated strings: what the C runtime passes to `main`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let args = (0..usize::try_from(argc).unwrap_or(0)).map(|i| {
        // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings in `argv`.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        OsStr::from_bytes(arg.to_bytes()).to_os_string()
    });
    run(args.collect())
}

fn run(args: Vec<OsString>) -> c_int {
    let mut args = args.into_iter();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if matches!(name.as_str(), "" | "pyenvx-shim" | MASTER) {
        eprintln!(
            "pyenvx-shim: the launcher behind pyenvx's shims; run `pyenvx shims install`, then \
             call it as `python`, `pip`, …"
        );
        exit(2);
    }
    let rest: Vec<OsString> = args.collect();

    let pid = std::process::id();
    let hops = next_hops(std::env::var_os(DEPTH_VAR).as_deref(), pid);
    let mut ctx = Context::from_env();
    ctx.shim_exe = std::env::current_exe().ok();
    if hops > MAX_HOPS {
        fail(&loop_failure(&ctx, &name, hops - 1));
    }
    let depth = format!("{pid}:{hops}");
    // Under the slow path's pyenvx (an interpreter search may start `python3`), only PATH counts.
    let resolution = if std::env::var_os(RESOLVING_VAR).is_some() {
        on_path(&ctx, &name, None)
    } else {
        resolve(&ctx, &name)
    };
    match resolution {
        Resolution::Run(target) => {
            let mut command = Command::new(&target.program);
            command.args(&rest).env(DEPTH_VAR, &depth);
            if let Why::Project { root } = &target.why {
                project_env(&mut command, root);
            }
            let err = command.exec();
            cannot_run(&target.program, &err);
        }
        Resolution::Find(_) => {
            let Some(pyenvx) = pyenvx_exe(&ctx) else {
                eprintln!(
                    "pyenvx: `{name}` needs pyenvx to find its Python, and no pyenvx was found; \
                     run `pyenvx shims rehash`"
                );
                exit(1);
            };
            let mut command = Command::new(&pyenvx);
            command
                .args(["shims", "exec", &name, "--"])
                .args(&rest)
                .env(DEPTH_VAR, &depth)
                .env(RESOLVING_VAR, "1");
            if let (Some(original), Some(stripped)) = (&ctx.path, path_without_shims(&ctx)) {
                command
                    .env(ORIGINAL_PATH_VAR, original)
                    .env("PATH", stripped);
            }
            let err = command.exec();
            cannot_run(&pyenvx, &err);
        }
        Resolution::Fail(failure) => fail(&failure),
    }
}

/// The service variables of the project at `root`. As under `pyenvx run`, the process
/// environment wins over them, except what pyenvx set for another project (a shim run under
/// `pyenvx run` in a project next door): that is taken away and replaced.
fn project_env(command: &mut Command, root: &Path) {
    let other_project =
        std::env::var_os(SET_PROJECT_VAR).is_some_and(|p| !p.is_empty() && Path::new(&p) != root);
    let stale = if other_project {
        set_by_pyenvx(std::env::var_os(SET_VAR).as_deref())
    } else {
        Vec::new()
    };
    let vars = service_env(root).unwrap_or_else(|why| {
        eprintln!("pyenvx: warning: {why}");
        Vec::new()
    });
    let mut set = Vec::new();
    for (key, value) in vars {
        if std::env::var_os(&key).is_none() || stale.contains(&key) {
            command.env(&key, value);
            set.push(key);
        }
    }
    if other_project {
        for key in stale.iter().filter(|k| !set.contains(k)) {
            command.env_remove(key);
        }
        command
            .env(SET_PROJECT_VAR, root)
            .env(SET_VAR, set.join(":"));
    }
}

fn fail(failure: &Failure) -> ! {
    eprintln!("pyenvx: {failure}");
    exit(failure.exit_code());
}

/// exec returned: the program could not be started at all. 127 and 126 as a shell would say.
fn cannot_run(program: &Path, err: &std::io::Error) -> ! {
    eprintln!("pyenvx: cannot run {}: {err}", program.display());
    exit(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    });
}
