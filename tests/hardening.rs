//! Hostile or broken input gives one clear error, never a panic: names pep508_rs cannot take,
//! configuration that is not what the docs allow, files that never end.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

/// A project directory holding `toml` as its `pyenvx.toml`.
fn project(ctx: &TestContext, name: &str, toml: &[u8]) -> PathBuf {
    let dir = ctx.work().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("pyenvx.toml"), toml).unwrap();
    dir
}

fn run_in(ctx: &TestContext, dir: &PathBuf, args: &[&str]) -> std::process::Output {
    ctx.cmd().current_dir(dir).args(args).output().unwrap()
}

/// Exit 1 with one `error:` line and a hint; returns stderr.
fn user_error(out: &std::process::Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    assert!(!err.contains("internal error"), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("\nhint: "),
        "{err}"
    );
    err
}

#[test]
fn names_pep508_rs_panics_on_are_user_errors_everywhere() {
    let ctx = TestContext::new();
    for name in ["django-ñ", "x-日本", "a_ñ", "a[b-]"] {
        let toml =
            format!("[project]\nname = \"x\"\npython = \"3.12\"\ndependencies = [\"{name}\"]\n");
        let dir = project(&ctx, "bad", toml.as_bytes());
        for args in [
            &["status"][..],
            &["sync"],
            &["run", "--", "true"],
            &["export", "requirements"],
            &["add", "six"],
            &["remove", "six"],
        ] {
            let err = user_error(&run_in(&ctx, &dir, args));
            assert!(
                err.contains("pyenvx.toml:4:") && err.contains("project.dependencies[0]"),
                "{name} {args:?}: {err}"
            );
        }
        let dir = project(
            &ctx,
            "good",
            b"[project]\nname = \"x\"\npython = \"3.12\"\n",
        );
        let err = user_error(&run_in(&ctx, &dir, &["add", name]));
        assert!(err.contains("invalid requirement"), "{name}: {err}");
        assert!(!fs::read_to_string(dir.join("pyenvx.toml"))
            .unwrap()
            .contains(name));
    }
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let ctx = TestContext::new();
    // An unknown service, at the commands that do not start one too (as the docs say).
    let dir = project(
        &ctx,
        "svc",
        b"[project]\nname = \"x\"\npython = \"3.12\"\n\n[services.queue]\nengine = \"rabbitmq\"\n",
    );
    for args in [&["status"][..], &["sync"]] {
        let err = user_error(&run_in(&ctx, &dir, args));
        assert!(
            err.contains("pyenvx.toml:5:") && err.contains("services.queue"),
            "{args:?}: {err}"
        );
    }
    // A duplicated table names itself.
    let dir = project(
        &ctx,
        "dup",
        b"[project]\nname = \"x\"\n\n[project]\nname = \"y\"\n",
    );
    let err = user_error(&run_in(&ctx, &dir, &["status"]));
    assert!(
        err.contains("pyenvx.toml:4:") && err.contains("`[project]`"),
        "{err}"
    );
    // Binary garbage: the file, a line and a hint.
    let dir = project(
        &ctx,
        "bin",
        b"[project]\nname = \"x\"\n\xff\xfe\x00\x01garbage\n",
    );
    let err = user_error(&run_in(&ctx, &dir, &["status"]));
    assert!(
        err.contains("pyenvx.toml:3:") && err.contains("not UTF-8"),
        "{err}"
    );
    let dir = project(
        &ctx,
        "lock",
        b"[project]\nname = \"x\"\npython = \"3.12\"\n",
    );
    fs::write(dir.join("pyenvx.lock"), b"version = 1\n\n\x00\xff\xfe").unwrap();
    let err = user_error(&run_in(&ctx, &dir, &["status"]));
    assert!(
        err.contains("pyenvx.lock:3:") && err.contains("not UTF-8"),
        "{err}"
    );
    fs::write(dir.join("pyenvx.lock"), b"version = 1\n\x01\x02 = [[\n").unwrap();
    let err = user_error(&run_in(&ctx, &dir, &["status"]));
    assert!(
        err.contains("pyenvx.lock:2:") && err.contains("not a valid lock"),
        "{err}"
    );
}

#[test]
fn requirements_files_that_cannot_be_read_or_never_end() {
    let ctx = TestContext::new();
    let dir = project(&ctx, "p", b"[project]\nname = \"x\"\npython = \"3.12\"\n");
    let err = user_error(&run_in(&ctx, &dir, &["add", "-r", "/nonexistent"]));
    assert_eq!(
        err.lines().next().unwrap(),
        "error: cannot read /nonexistent: No such file or directory (os error 2)"
    );
    let started = std::time::Instant::now();
    let err = user_error(&run_in(&ctx, &dir, &["add", "-r", "/dev/zero"]));
    assert!(err.contains("/dev/zero: too large"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// The pids of `pid`'s children named `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after its `)`.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map_or("", |(_, c)| c);
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == name && ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Whether `pid` is still a running (not zombie) process.
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[test]
fn a_killed_run_leaves_no_uv_running_and_the_next_run_removes_its_leftovers() {
    use std::time::{Duration, Instant};
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");

    // uv busy on a wheel that trickles in; pyenvx killed meanwhile.
    let server = &sb.index.as_ref().unwrap().server;
    let wheel = "/files/idna-3.10-py3-none-any.whl";
    server.fault(
        wheel,
        Fault::Throttle {
            bytes_per_sec: 2_000,
        },
    );
    let mut pyenvx = sb
        .ctx
        .cmd()
        .current_dir(sb.dir("p"))
        .args(["add", "idna"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let uv = loop {
        if let Some(&uv) = children_named(pyenvx.id(), "uv").first() {
            if server.hits(wheel) > 0 {
                break uv;
            }
        }
        assert!(Instant::now() < deadline, "uv never started on the wheel");
        std::thread::sleep(Duration::from_millis(20));
    };
    pyenvx.kill().unwrap();
    pyenvx.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(uv) {
        assert!(
            Instant::now() < deadline,
            "uv (pid {uv}) outlived the killed pyenvx by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.clear_fault(wheel);

    // What killed runs leave, however young: store staging, partial downloads, install dirs.
    let home = sb.ctx.pyenvx_home();
    let leftovers = [
        home.join("store/v1/.tmp-killed"),
        home.join("python/.tmp-cpython-3.11.9-linux-x86_64-gnu-killed"),
        sb.ctx.cache_dir().join("downloads/.partial-killed"),
    ];
    for (i, path) in leftovers.iter().enumerate() {
        if i < 2 {
            fs::create_dir_all(path.join("target")).unwrap();
            fs::write(path.join("target/file"), "x").unwrap();
        } else {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
    }
    sb.ok("p", &["add", "idna"]);
    assert!(!leftovers[0].exists(), "{}", leftovers[0].display());
    sb.ok("p", &["python", "install", "3.12"]);
    for path in &leftovers {
        assert!(!path.exists(), "{}", path.display());
    }
    // Nothing else went with them.
    assert!(sb.python("p", "3.12").exists());
}

/// uv's own requests get the same timeout as pyenvx's when `PYENVX_HTTP_TIMEOUT` is set.
#[test]
fn the_http_timeout_reaches_uv() {
    use std::os::unix::fs::PermissionsExt;
    let mut ctx = TestContext::new();
    let seen = ctx.root().join("uv-env.txt");
    let uv = ctx.root().join("fake-uv");
    fs::write(
        &uv,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'uv 0.9.0'; exit 0; fi\n\
             echo \"UV_HTTP_TIMEOUT=$UV_HTTP_TIMEOUT\" >> {}\necho 'error: fake uv' >&2\nexit 2\n",
            seen.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&uv, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.env("PYENVX_UV", &uv)
        .env("PYENVX_HTTP_TIMEOUT", "6.5")
        .env("PYENVX_PYTHON_PREFERENCE", "only-system")
        .with_pyenv_root(pyenv_root());
    let dir = project(&ctx, "p", b"[project]\nname = \"x\"\npython = \"3.12\"\n");
    assert_failure(&run_in(&ctx, &dir, &["add", "idna"]));
    let seen = fs::read_to_string(&seen).expect("the fake uv never ran");
    assert!(seen.lines().all(|l| l == "UV_HTTP_TIMEOUT=7"), "{seen}");
}
