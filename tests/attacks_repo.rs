//! Attacks from a cloned repository (issue 19): a stranger's repository, cloned and entered,
//! must run none of its own code when the user types `python` or runs `pyenvx sync`/`run`, and
//! must not make pyenvx write outside the project. Each test plants what a hostile repository
//! can commit (a `.venv`, a services env file, symlinks under `.pyenvx/`, a relative `python`)
//! and checks, through the real binary and the real shims, that nothing of it ran or was
//! written. Every planted program leaves a marker file when run: its absence is the proof.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A script that leaves `marker` when run, then fails: what a repository would commit.
fn planted(path: &Path, marker: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        format!("#!/bin/sh\necho pwned > '{}'\nexit 42\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `$PYENVX_HOME/shims` first on PATH, after `pyenvx shims install`.
fn install_shims(ctx: &mut TestContext) -> PathBuf {
    assert_success(&ctx.run(&["shims", "install"]));
    let shims = ctx.pyenvx_home().join("shims");
    let mut path = vec![shims.clone()];
    path.extend(std::env::split_paths(DEFAULT_PATH));
    ctx.with_path(std::env::join_paths(path).unwrap());
    shims
}

/// `name args…` as a shell runs it (looked up on the context's PATH) in `dir`.
fn shim(ctx: &TestContext, dir: &Path, name: &str, args: &[&str]) -> Output {
    ctx.command(name)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

/// A cloned repository: `pyenvx.toml` and an `app/` subdirectory.
fn repository(ctx: &TestContext, name: &str) -> PathBuf {
    let root = ctx.work().join(name);
    fs::create_dir_all(root.join("app")).unwrap();
    fs::write(
        root.join("pyenvx.toml"),
        format!("[project]\nname = \"{name}\"\npython = \"3.12\"\ndjango = \"5.2\"\n"),
    )
    .unwrap();
    // What the shell reports as the working directory: the shims see canonical paths.
    fs::canonicalize(root).unwrap()
}

#[test]
fn a_committed_venv_is_never_run_by_the_shims() {
    let mut ctx = TestContext::new();
    install_shims(&mut ctx);
    let system = assert_success(
        &ctx.command("/usr/bin/env")
            .args(["python3", "-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap(),
    );
    for (name, cfg) in [
        ("bare", None),
        ("venv-made", Some("home = /usr/bin\nversion = 3.12.1\n")),
        // It even claims to be pyenvx's: only pyenvx's own record counts.
        (
            "claims-pyenvx",
            Some("home = /usr/bin\nversion_info = 3.12.1\npyenvx = 0.1.0\n"),
        ),
    ] {
        let root = repository(&ctx, name);
        let marker = root.join("pwned");
        for exe in ["python", "python3", "pip", "django-admin"] {
            planted(&root.join(".venv/bin").join(exe), &marker);
        }
        if let Some(cfg) = cfg {
            fs::write(root.join(".venv/pyvenv.cfg"), cfg).unwrap();
        }
        for dir in [root.clone(), root.join("app")] {
            let out = shim(
                &ctx,
                &dir,
                "python3",
                &["-c", "import sys; print(sys.executable)"],
            );
            assert!(
                !marker.exists(),
                "{name}: the committed .venv ran: {}",
                describe(&out)
            );
            // It falls through to the next interpreter (here the machine's), saying so once.
            assert_eq!(stdout(&out), system, "{name}: {}", describe(&out));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{name}: {}", describe(&out));
            assert!(
                err.starts_with(&format!(
                    "pyenvx: warning: ignoring {}/.venv, which pyenvx did not make",
                    root.display()
                )),
                "{err}"
            );
            let out = shim(&ctx, &dir, "django-admin", &["--version"]);
            assert!(!marker.exists(), "{name}: {}", describe(&out));
        }
        // `pyenvx which` tells the same story.
        let out = ctx
            .cmd()
            .current_dir(&root)
            .args(["which", "python3"])
            .output()
            .unwrap();
        assert!(!stdout(&out).contains(".venv"), "{}", describe(&out));
        assert!(!marker.exists());
    }
}

/// A project pyenvx made (init, synced) in a sandbox with shims on PATH.
fn made_by_pyenvx(name: &str) -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::new(&["3.12"]);
    install_shims(&mut sb.ctx);
    sb.init_bare(name, "3.12", "5.2");
    let root = fs::canonicalize(sb.dir(name)).unwrap();
    (sb, root)
}

#[test]
fn sync_rebuilds_a_committed_venv_that_claims_to_be_pyenvx_s() {
    let (sb, root) = made_by_pyenvx("site");
    // The same files, as a clone brings them: another place, a `.venv` whose pyvenv.cfg is
    // pyenvx's but whose python is the repository's.
    let clone = sb.dir("clone");
    assert!(std::process::Command::new("cp")
        .args(["-a"])
        .arg(&root)
        .arg(&clone)
        .status()
        .unwrap()
        .success());
    let clone = fs::canonicalize(clone).unwrap();
    let marker = clone.join("pwned");
    fs::remove_file(clone.join(".venv/bin/python")).unwrap();
    planted(&clone.join(".venv/bin/python"), &marker);
    fs::write(
        clone.join(".venv/lib/python3.12/site-packages/evil.pth"),
        format!(
            "import os; open('{}', 'w').write('pth')\n",
            marker.display()
        ),
    )
    .unwrap();

    let out = shim(&sb.ctx, &clone, "python", &["-c", "pass"]);
    assert!(!marker.exists(), "{}", describe(&out));
    // `pyenvx run` does not take the committed stamp for a synced sandbox: it syncs, and the
    // sync rebuilds rather than adopts.
    let out = sb.ok(
        "clone",
        &["run", "--", "python", "-c", "import sys; print(sys.prefix)"],
    );
    assert!(!marker.exists(), "{out}");
    assert!(out.contains(&format!("{}/.venv", clone.display())), "{out}");
    assert!(!clone
        .join(".venv/lib/python3.12/site-packages/evil.pth")
        .exists());
    // Now it is pyenvx's: the shim runs it, and the original project was never disturbed.
    let out = assert_success(&shim(
        &sb.ctx,
        &clone,
        "python",
        &["-c", "import sys; print(sys.prefix)"],
    ));
    assert_eq!(out.trim(), clone.join(".venv").display().to_string());
    let out = assert_success(&shim(
        &sb.ctx,
        &root,
        "python",
        &["-c", "import sys; print(sys.prefix)"],
    ));
    assert_eq!(out.trim(), root.join(".venv").display().to_string());
}

#[test]
fn the_services_env_file_counts_only_when_pyenvx_could_have_written_it() {
    let (sb, root) = made_by_pyenvx("svc");
    let env_file = root.join(".pyenvx/services/env");
    fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    let show = "import os; print(os.environ.get('DATABASE_URL'), os.environ.get('PYTHONPATH'))";
    fs::create_dir_all(root.join("app")).unwrap();
    let read = |text: &str, mode: u32| {
        fs::write(&env_file, text).unwrap();
        fs::set_permissions(&env_file, fs::Permissions::from_mode(mode)).unwrap();
        let out = shim(&sb.ctx, &root.join("app"), "python", &["-c", show]);
        assert_success(&out);
        (stdout(&out).trim().to_string(), stderr(&out))
    };
    // What pyenvx writes: read.
    let (out, err) = read("DATABASE_URL=postgres://u:p@127.0.0.1:5433/d\n", 0o600);
    assert_eq!(out, "postgres://u:p@127.0.0.1:5433/d None");
    assert_eq!(err, "");
    // A variable pyenvx never writes there: the whole file is ignored, in one line.
    let (out, err) = read("DATABASE_URL=postgres://x\nPYTHONPATH=/tmp/evil\n", 0o600);
    assert_eq!(out, "None None");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`PYTHONPATH` is not a variable pyenvx writes there"),
        "{err}"
    );
    let (out, err) = read("LD_PRELOAD=/tmp/evil.so\n", 0o600);
    assert_eq!(out, "None None");
    assert!(err.contains("LD_PRELOAD"), "{err}");
    // As a clone brings it (0644): ignored too.
    let (out, err) = read("DATABASE_URL=postgres://x\n", 0o644);
    assert_eq!(out, "None None");
    assert!(err.contains("its mode is 644"), "{err}");
    // A link to a file elsewhere: not a file pyenvx wrote.
    let elsewhere = sb.ctx.root().join("elsewhere");
    fs::write(&elsewhere, "DATABASE_URL=postgres://x\n").unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(&env_file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &env_file).unwrap();
    let out = shim(&sb.ctx, &root, "python", &["-c", show]);
    assert_eq!(stdout(&out).trim(), "None None", "{}", describe(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_nested_run_for_another_project_replaces_what_pyenvx_set() {
    let (sb, a) = made_by_pyenvx("a");
    sb.init_bare("b", "3.12", "5.2");
    let b = fs::canonicalize(sb.dir("b")).unwrap();
    fs::write(a.join(".env"), "DATABASE_URL=postgres://a\nA_SECRET=a\n").unwrap();
    fs::write(b.join(".env"), "DATABASE_URL=postgres://b\n").unwrap();
    let show = "import os, sys; print(sys.prefix, os.environ.get('DATABASE_URL'), \
                os.environ.get('A_SECRET'), os.environ.get('MINE'), \
                any(p.startswith(os.path.join(sys.argv[1], '.venv')) for p in os.environ['PATH'].split(':')))";
    let pyenvx = env!("CARGO_BIN_EXE_pyenvx");
    let python = sb.ctx.pyenvx_home().join("shims/python");
    // `pyenvx run` in A starts a shell that goes to B and runs `pyenvx run` there, and `python`
    // through the shims there; the user's own variable set inside is kept.
    let script = format!(
        "cd '{b}' && export MINE=mine && '{pyenvx}' run -- python -c \"$1\" '{a}' && '{python}' -c \"$1\" '{a}'",
        b = b.display(),
        a = a.display(),
        python = python.display(),
    );
    let out = sb.ok("a", &["run", "--", "sh", "-c", &script, "sh", show]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('/')).collect();
    let want = format!("{}/.venv postgres://b None mine False", b.display());
    assert_eq!(lines.first().copied(), Some(want.as_str()), "{out}");
    // The shim in B has no .env to read, but A's variables are not B's.
    let want = format!("{}/.venv None None mine", b.display());
    assert!(lines.get(1).is_some_and(|l| l.starts_with(&want)), "{out}");
    // Inside A itself, the shims keep A's.
    let script = format!("'{}' -c \"$1\" x", python.display());
    let out = sb.ok("a", &["run", "--", "sh", "-c", &script, "sh", show]);
    assert!(out.contains("postgres://a a None"), "{out}");
}

#[test]
fn python_in_pyenvx_toml_is_never_a_program_of_the_repository() {
    let sb = Sandbox::new(&["3.12"]);
    for (name, python) in [
        ("relative", "tools/py"),
        ("dotted", "./tools/py"),
        ("inside", ""),
    ] {
        let root = fs::canonicalize({
            let d = sb.dir(name);
            fs::create_dir_all(&d).unwrap();
            d
        })
        .unwrap();
        let marker = root.join("pwned");
        planted(&root.join("tools/py"), &marker);
        let python = if python.is_empty() {
            root.join("tools/py").display().to_string()
        } else {
            python.to_string()
        };
        fs::write(
            root.join("pyenvx.toml"),
            format!("[project]\nname = \"{name}\"\npython = \"{python}\"\n"),
        )
        .unwrap();
        for cmd in [
            &["sync"][..],
            &["run", "--", "python", "-c", "pass"],
            &["status"],
        ] {
            let err = sb.fails(name, cmd);
            assert!(
                !marker.exists(),
                "{name} {cmd:?} ran the repository's python: {err}"
            );
            assert!(
                err.contains("pyenvx.toml:3:10") && err.contains("project.python"),
                "{err}"
            );
        }
    }
}

#[test]
fn a_loop_through_pyenv_s_shims_is_called_pyenv_s() {
    let mut ctx = TestContext::new();
    let pyenv = ctx.root().join("pyenv");
    // pyenv's shim with the `system` version: `pyenv exec` runs the next `python3` on PATH
    // after its own shims, by exec (the same process) — which is pyenvx's shim again.
    let pyenv_shims = pyenv.join("shims");
    fs::create_dir_all(&pyenv_shims).unwrap();
    let shim_script = pyenv_shims.join("python3");
    fs::write(
        &shim_script,
        "#!/bin/sh\n# pyenv's shim: `pyenv exec python3` with the system version\nexec python3 \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&shim_script, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.with_pyenv_root(&pyenv);
    let shims = install_shims(&mut ctx);
    let mut path: Vec<PathBuf> = vec![shims, pyenv_shims.clone()];
    path.extend(std::env::split_paths(DEFAULT_PATH));
    ctx.with_path(std::env::join_paths(path).unwrap());
    let out = shim(&ctx, &ctx.work(), "python3", &["-c", "pass"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "went round 8 times between pyenvx's shim and pyenv's shims in {}",
            pyenv_shims.display()
        )) && err.contains("pyenv global"),
        "{err}"
    );
    assert!(!err.contains("a copy of a shim"), "{err}");
}

#[test]
fn planted_links_under_dot_pyenvx_are_never_written_through() {
    let db = NativePg::new();
    let outside = db.ctx.root().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let precious = outside.join("precious");
    fs::write(&precious, "precious\n").unwrap();
    let postgres = "[services.db]\nversion = \"15\"\n";
    let redis = "[services.cache]\nengine = \"redis\"\nbackend = \"native\"\n";
    let untouched = |what: &str, err: &str| {
        assert_eq!(
            fs::read_to_string(&precious).unwrap(),
            "precious\n",
            "{what}: {err}"
        );
        let listed: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            listed.len(),
            1,
            "{what} wrote beside it: {listed:?} ({err})"
        );
    };
    // The server logs, as a repository commits them: the servers run as root here.
    for (name, services, log, up) in [
        (
            "pglog",
            postgres,
            ".pyenvx/services/db/postgres.log",
            ["db", "up"],
        ),
        (
            "redislog",
            redis,
            ".pyenvx/services/cache/redis.log",
            ["redis", "up"],
        ),
    ] {
        let dir = db.bare(name, services);
        let log = dir.join(log);
        fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&precious, &log).unwrap();
        let err = db.fails(&dir, &up);
        assert!(
            err.contains(&format!("{} is a symbolic link", log.display())) && err.contains("hint:"),
            "{err}"
        );
        untouched(name, &err);
    }
    // A directory of pyenvx's state linked elsewhere.
    for (name, services, link, up) in [
        ("pgdir", postgres, ".pyenvx", ["db", "up"]),
        ("redisdir", redis, ".pyenvx/services", ["redis", "up"]),
    ] {
        let dir = db.bare(name, services);
        let link = dir.join(link);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = db.fails(&dir, &up);
        assert!(
            err.contains(&format!("{} is a symbolic link", link.display())),
            "{err}"
        );
        untouched(name, &err);
        if link.ends_with(".pyenvx") {
            // The sandbox's lock and old environments live there too.
            let err = db.fails(&dir, &["sync"]);
            assert!(err.contains("is a symbolic link"), "{err}");
            untouched(name, &err);
        }
    }
    // A directory of someone else's.
    let dir = db.bare("stranger", postgres);
    let state = dir.join(".pyenvx/services/db");
    fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains(&format!("{} belongs to another user", state.display())),
        "{err}"
    );
    assert_eq!(fs::read_dir(&state).unwrap().count(), 0, "{err}");
}

#[test]
fn an_edited_python_build_hash_in_the_lock_is_not_in_sync() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("hashed", "3.12", "5.2");
    let status = sb.ok("hashed", &["status"]);
    assert!(status.contains("in sync"), "{status}");
    let lock_path = sb.dir("hashed").join("pyenvx.lock");
    let lock = read(&lock_path);
    let python = &lock[lock.find("[python]").expect("a [python] table")..];
    let line = python
        .lines()
        .find(|l| l.starts_with("sha256 = "))
        .expect("the managed build's hash");
    let edited = format!("sha256 = \"{}\"", "0".repeat(64));
    fs::write(&lock_path, lock.replacen(line, &edited, 1)).unwrap();
    // Even once a sync has stamped the edited lock (it keeps a lock whose version still fits).
    sb.ok("hashed", &["sync"]);
    let status = sb.ok("hashed", &["status"]);
    assert!(!status.contains("in sync"), "{status}");
    assert!(
        status.contains("mismatch  python 3.12") && status.contains(&"0".repeat(64)),
        "{status}"
    );
}

/// Build the image `pyenvx export docker --out pyenvx-export` describes (the build context is
/// the project, as its compose file says) and list the files under `/app` in it.
fn files_in_exported_image(sb: &Sandbox, dir: &Path, tag: &str) -> Vec<String> {
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert_success(&out)
    };
    docker(&[
        "build",
        "--quiet",
        "--network",
        "host",
        "--build-arg",
        &format!("PIP_INDEX_URL={}", sb.index_url()),
        "-f",
        "pyenvx-export/Dockerfile",
        "-t",
        tag,
        ".",
    ]);
    // The stand-in image has Python and little else: its own walk lists the files.
    let listed = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "python",
        tag,
        "-c",
        "import os\nfor d, _, fs in os.walk('/app'):\n    for f in fs: print(os.path.join(d, f))",
    ]);
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", "-f", tag])
        .output();
    listed.lines().map(str::to_string).collect()
}

#[test]
#[ignore = "needs a Docker engine; .ci/run runs it where `docker build` works"]
fn no_secret_and_no_service_state_reaches_the_exported_image() {
    require_docker();
    let python = python_image("3.12");
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "shipped",
        &[
            "init", "--python", "3.12", "--django", "5.2", "--db", "postgres",
        ],
    );
    let dir = sb.dir("shipped");
    // Secrets at several depths, and what a database leaves under .pyenvx.
    fs::write(dir.join("shipped/.env.local"), "SECRET_KEY=nested\n").unwrap();
    fs::create_dir_all(dir.join(".pyenvx/services/db/pg15")).unwrap();
    fs::write(dir.join(".pyenvx/services/db/pg15/PG_VERSION"), "15\n").unwrap();
    let secrets = |listed: &[String]| -> Vec<String> {
        listed
            .iter()
            .filter(|f| {
                let name = f.rsplit('/').next().unwrap_or("");
                name == ".env"
                    || name.starts_with(".env.")
                    || f.contains("/.pyenvx/")
                    || f.contains("/.venv/")
            })
            .cloned()
            .collect()
    };
    for own_ignore in [None, Some("# ours\n*.log\n")] {
        let _ = fs::remove_dir_all(dir.join("pyenvx-export"));
        let _ = fs::remove_file(dir.join(".dockerignore"));
        if let Some(text) = own_ignore {
            fs::write(dir.join(".dockerignore"), text).unwrap();
        }
        let out = sb.ok(
            "shipped",
            &[
                "export",
                "docker",
                "--out",
                "pyenvx-export",
                "--base-image",
                &python.tag,
            ],
        );
        assert!(dir.join("pyenvx-export/.env.docker").is_file(), "{out}");
        if own_ignore.is_some() {
            assert!(out.contains("yours, with"), "{out}");
        }
        let listed = files_in_exported_image(
            &sb,
            &dir,
            &format!("pyenvx-test/attacks-export:{}", std::process::id()),
        );
        assert!(listed.iter().any(|f| f == "/app/manage.py"), "{listed:?}");
        assert_eq!(
            secrets(&listed),
            Vec::<String>::new(),
            "{own_ignore:?}: {out}"
        );
    }
}
