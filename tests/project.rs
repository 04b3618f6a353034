//! Project sandboxes: `pyenvx init`, pins, sync, run, add/remove — with managed builds from the
//! local PBS mirror and real wheels from the local package index.

mod common;

use std::fs;

use common::*;

#[test]
fn init_makes_a_working_django_project() {
    let sb = Sandbox::new(&["3.12"]);
    let out = sb.ok(
        "library",
        &["init", "--python", "3.12", "--django", "5.2", "--drf"],
    );
    assert!(out.contains("Initialized library"), "{out}");
    let dir = sb.dir("library");
    for f in [
        "pyenvx.toml",
        "pyenvx.lock",
        ".python-version",
        ".venv/pyvenv.cfg",
        "manage.py",
        "library/settings.py",
        ".gitignore",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    assert_eq!(read(dir.join(".python-version")).trim(), "3.12");
    // Ordinary files are world-readable (a container's non-root user must read them).
    for f in [
        "pyenvx.toml",
        "pyenvx.lock",
        ".python-version",
        "library/settings.py",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{f} has mode {mode:o}");
    }
    let toml = read(dir.join("pyenvx.toml"));
    assert!(
        toml.contains("name = \"library\"")
            && toml.contains("django = \"5.2\"")
            && toml.contains("djangorestframework"),
        "{toml}"
    );
    let lock = read(dir.join("pyenvx.lock"));
    for needle in [
        "version = \"3.12.1\"",
        "source = \"managed\"",
        "name = \"django\"",
        "version = \"5.2.19\"",
        "django-5.2.19-py3-none-any.whl",
        "sha256 = ",
    ] {
        assert!(lock.contains(needle), "lock lacks {needle}:\n{lock}");
    }
    let settings = read(dir.join("library/settings.py"));
    assert!(
        settings.contains("'rest_framework',") || settings.contains("\"rest_framework\","),
        "{settings}"
    );
    assert_eq!(sb.django_version("library"), "5.2.19");
    let check = sb.ok("library", &["run", "--", "python", "manage.py", "check"]);
    assert!(
        check.contains("System check identified no issues"),
        "{check}"
    );
    sb.ok(
        "library",
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    assert!(dir.join("db.sqlite3").exists());
    // A standard environment: the interpreter and metadata agree without pyenvx.
    let meta = sb.ctx.command(dir.join(".venv/bin/python"))
        .args(["-c", "import importlib.metadata as m, sys; print(m.version('djangorestframework'), sys.prefix)"])
        .output()
        .unwrap();
    let meta = assert_success(&meta);
    assert!(
        meta.starts_with("3.18.3 ") && meta.trim().ends_with(".venv"),
        "{meta}"
    );
    // Status reads back what was resolved.
    let status: serde_json::Value = serde_json::from_str(&assert_success(
        &sb.run_in("library", &["status", "--json"]),
    ))
    .unwrap();
    assert_eq!(status["django"], "5.2.19");
    assert_eq!(status["synced"], true);
    let packages = status["packages"].as_array().unwrap();
    assert!(
        packages
            .iter()
            .any(|p| p["name"] == "djangorestframework" && p["version"] == "3.18.3"),
        "{status}"
    );
}

#[test]
fn init_with_each_django_series() {
    // The wheelhouse's asgiref needs Python >= 3.11, so 4.2 is tried on 3.11.
    let sb = Sandbox::new(&["3.11", "3.12", "3.13"]);
    for (series, python, expected) in [
        ("4.2", "3.11", "4.2.30"),
        ("5.1", "3.12", "5.1.15"),
        ("6.0", "3.12", "6.0.10"),
        ("6.1", "3.13", "6.1.3"),
    ] {
        let name = format!("p{}", series.replace('.', ""));
        sb.ok(&name, &["init", "--python", python, "--django", series]);
        assert_eq!(sb.django_version(&name), expected, "series {series}");
        let check = sb.ok(&name, &["run", "--", "python", "manage.py", "check"]);
        assert!(check.contains("no issues"), "{series}: {check}");
    }
}

#[test]
fn default_django_is_the_newest_lts_for_the_python() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok("site", &["init", "--python", "3.12", "--no-startproject"]);
    let toml = read(sb.dir("site").join("pyenvx.toml"));
    assert!(toml.contains("django = \"5.2\""), "{toml}");
    assert_eq!(sb.django_version("site"), "5.2.19");
}

#[test]
fn switching_django_back_and_forth() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("app", "3.12", "5.2");
    for (pin, version) in [
        ("4.2", "4.2.30"),
        ("6.0", "6.0.10"),
        ("5.2", "5.2.19"),
        ("4.2", "4.2.30"),
    ] {
        let out = sb.ok("app", &["pin", "django", pin]);
        assert!(out.contains(&format!("Django {version}")), "{out}");
        assert!(!out.contains("· "), "details only with -v: {out}");
        assert_eq!(sb.django_version("app"), version, "after pin {pin}");
        let toml = read(sb.dir("app").join("pyenvx.toml"));
        assert!(toml.contains(&format!("django = \"{pin}\"")), "{toml}");
    }
    // The old version's files are gone, not merely shadowed.
    let leftovers: Vec<_> = fs::read_dir(sb.dir("app").join(".venv/lib/python3.12/site-packages"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("django-") || n.starts_with("Django-"))
        .collect();
    assert_eq!(leftovers, ["django-4.2.30.dist-info"]);

    // -v says where each piece came from: the second switch to 6.0 reuses the resolution and
    // sets Django back from the parked copy, with no installer run.
    let out = sb.ok("app", &["-v", "pin", "django", "6.0"]);
    assert!(out.contains("· Python `3.12` is "), "{out}");
    assert!(
        out.contains("· resolution of django~=6.0.0 reused from "),
        "{out}"
    );
    assert!(
        out.contains("· django==6.0.10 set back from .venv's parked copies"),
        "{out}"
    );
}

#[test]
fn an_incompatible_pin_changes_nothing() {
    // 3.12 is downloadable, not installed: the suggestion to move Python may name it.
    let sb = Sandbox::new(&["3.11", "3.12"]);
    sb.init_bare("old", "3.11", "5.2");
    let dir = sb.dir("old");
    let before = (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock")));
    let err = sb.fails("old", &["pin", "django", "6.1"]);
    assert!(
        err.contains("6.1") && err.contains("3.11"),
        "names both: {err}"
    );
    assert!(
        err.contains("pyenvx pin django 5.2"),
        "suggests the nearest Django: {err}"
    );
    assert_eq!(
        (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock"))),
        before
    );
    assert_eq!(sb.django_version("old"), "5.2.19");
    // An unknown version says so.
    let err = sb.fails("old", &["pin", "django", "7.0"]);
    assert!(err.contains("7.0"), "{err}");
    assert!(
        err.contains("nearest pins that work: `pyenvx pin django 5.2`"),
        "names the newest series that exists for Python 3.11: {err}"
    );
    assert_eq!(read(dir.join("pyenvx.toml")), before.0);

    // The same refusal at init suggests init's own flags and leaves no directory behind.
    let out = sb
        .ctx
        .cmd()
        .current_dir(sb.ctx.work())
        .args(["init", "fresh", "--python", "3.11", "--django", "6.0"])
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(
        err.contains("`--django 5.2`") && err.contains("`--python 3.12`"),
        "{err}"
    );
    assert!(!sb.dir("fresh").exists());
}

#[test]
fn switching_python_keeps_django() {
    let sb = Sandbox::new(&["3.12", "3.13"]);
    sb.init_bare("api", "3.12", "5.2");
    assert_eq!(sb.python_version("api"), "3.12.1");
    sb.ok("api", &["pin", "python", "3.13"]);
    assert_eq!(sb.python_version("api"), "3.13.0");
    assert_eq!(sb.django_version("api"), "5.2.19");
    assert_eq!(read(sb.dir("api").join(".python-version")).trim(), "3.13");
    assert!(read(sb.dir("api").join("pyenvx.lock")).contains("version = \"3.13.0\""));
}

fn pip_freeze(sb: &Sandbox, name: &str) -> String {
    let out = sb
        .ctx
        .command(sb.dir(name).join(".venv/bin/python"))
        .args(["-m", "pip", "freeze", "--all"])
        .output()
        .unwrap();
    assert_success(&out)
}

#[test]
fn deleting_the_venv_then_sync_restores_it_exactly() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "p",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--drf",
            "--seed",
            "--no-startproject",
        ],
    );
    let before = pip_freeze(&sb, "p");
    assert!(
        before.contains("Django==5.2.19") && before.contains("pip=="),
        "{before}"
    );
    fs::remove_dir_all(sb.dir("p").join(".venv")).unwrap();
    sb.ok("p", &["sync"]);
    assert_eq!(pip_freeze(&sb, "p"), before);
    // Extras installed by hand are removed: the lock is the truth.
    let out = sb
        .ctx
        .command(sb.dir("p").join(".venv/bin/python"))
        .args(["-m", "pip", "uninstall", "-y", "sqlparse"])
        .output()
        .unwrap();
    assert_success(&out);
    sb.ok("p", &["sync"]);
    assert_eq!(pip_freeze(&sb, "p"), before);
}

#[test]
fn locked_detects_drift_and_frozen_trusts_the_lock() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    sb.ok("p", &["sync", "--locked"]);
    let toml_path = sb.dir("p").join("pyenvx.toml");
    let toml = read(&toml_path).replace("django = \"5.2\"", "django = \"4.2\"");
    fs::write(&toml_path, toml).unwrap();
    let err = sb.fails("p", &["sync", "--locked"]);
    assert!(
        err.contains("out of date") && err.contains("pyenvx.lock"),
        "{err}"
    );
    sb.ok("p", &["sync", "--frozen"]);
    assert_eq!(sb_django_direct(&sb, "p"), "5.2.19");
    sb.ok("p", &["sync"]);
    assert_eq!(sb.django_version("p"), "4.2.30");
}

/// Django's version straight from the venv interpreter, without `pyenvx run` (which syncs).
fn sb_django_direct(sb: &Sandbox, name: &str) -> String {
    let out = sb
        .ctx
        .command(sb.dir(name).join(".venv/bin/python"))
        .args(["-c", "import django; print(django.get_version())"])
        .output()
        .unwrap();
    assert_success(&out).trim().to_string()
}

#[test]
fn add_and_remove_keep_comments_and_order() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let toml_path = sb.dir("p").join("pyenvx.toml");
    let commented = read(&toml_path)
        .replace("[project]", "# The library API\n[project]")
        .replace("django = \"5.2\"", "django = \"5.2\"  # LTS until 2028");
    fs::write(&toml_path, &commented).unwrap();
    sb.ok(
        "p",
        &["add", "djangorestframework>=3.15", "dj-database-url"],
    );
    let after_add = read(&toml_path);
    assert!(
        after_add.contains("# The library API") && after_add.contains("# LTS until 2028"),
        "{after_add}"
    );
    let drf = after_add.find("djangorestframework").unwrap();
    assert!(
        drf < after_add.find("dj-database-url").unwrap(),
        "order kept: {after_add}"
    );
    assert!(read(sb.dir("p").join("pyenvx.lock")).contains("name = \"djangorestframework\""));
    sb.ok("p", &["remove", "dj-database-url"]);
    let after_remove = read(&toml_path);
    assert!(
        !after_remove.contains("dj-database-url") && after_remove.contains("# LTS until 2028"),
        "{after_remove}"
    );
    let site = sb.dir("p").join(".venv/lib/python3.12/site-packages");
    assert!(
        !site.join("dj_database_url").exists(),
        "removed package still installed"
    );
    let err = sb.fails("p", &["remove", "nothere"]);
    assert!(err.contains("nothere"), "{err}");
}

#[test]
fn pip_uninstall_in_one_sandbox_leaves_another_intact() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "a",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--seed",
            "--no-startproject",
        ],
    );
    sb.init_bare("b", "3.12", "5.2");
    let out = sb
        .ctx
        .command(sb.dir("a").join(".venv/bin/python"))
        .args(["-m", "pip", "uninstall", "-y", "django"])
        .output()
        .unwrap();
    assert_success(&out);
    let broken = sb
        .ctx
        .command(sb.dir("a").join(".venv/bin/python"))
        .args(["-c", "import django"])
        .output()
        .unwrap();
    assert!(!broken.status.success());
    assert_eq!(sb_django_direct(&sb, "b"), "5.2.19");
    let admin = sb
        .ctx
        .command(sb.dir("b").join(".venv/bin/django-admin"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(assert_success(&admin).trim(), "5.2.19");
    // And `a` comes back from the store without the index.
    sb.ok("a", &["sync"]);
    assert_eq!(sb_django_direct(&sb, "a"), "5.2.19");
}

#[test]
fn concurrent_syncs_leave_a_working_env() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    fs::remove_dir_all(sb.dir("p").join(".venv")).unwrap();
    let spawn = || {
        sb.ctx
            .cmd()
            .current_dir(sb.dir("p"))
            .arg("sync")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    assert_success(&a.wait_with_output().unwrap());
    assert_success(&b.wait_with_output().unwrap());
    assert_eq!(sb_django_direct(&sb, "p"), "5.2.19");
}

/// Three edits of one project at once, twenty times: `add`, `add` and `pin` each read, resolve
/// and write pyenvx.toml under the project's sync lock, so every change that reports success
/// is in pyenvx.toml, in the lock and in `.venv` at the end (or its command fails, saying so).
#[test]
fn concurrent_edits_keep_every_change() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let dir = sb.dir("p");
    let site = dir.join(".venv/lib/python3.12/site-packages");
    let spawn = |args: &[&str]| {
        sb.ctx
            .cmd()
            .current_dir(&dir)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..20 {
        // Even rounds add both packages and pin 4.2; odd rounds take them away and pin 5.2 back,
        // so every round changes all three things at once.
        let adding = round % 2 == 0;
        let (verb, django) = if adding {
            ("add", ("4.2", "4.2.30"))
        } else {
            ("remove", ("5.2", "5.2.19"))
        };
        let children = [
            (vec![verb, "pytz"], "pytz"),
            (vec![verb, "redis"], "redis"),
            (vec!["pin", "django", django.0], "django"),
        ]
        .map(|(args, what)| (spawn(&args), what));
        let mut kept = Vec::new();
        for (child, what) in children {
            let out = child.wait_with_output().unwrap();
            if out.status.success() {
                kept.push(what);
            } else {
                assert!(
                    stderr(&out).contains("error"),
                    "round {round}: a failed {what} edit says why:\n{}",
                    describe(&out)
                );
            }
        }
        let toml = read(dir.join("pyenvx.toml"));
        let lock = read(dir.join("pyenvx.lock"));
        for package in ["pytz", "redis"] {
            if !kept.contains(&package) {
                continue;
            }
            assert_eq!(
                toml.contains(&format!("\"{package}\"")),
                adding,
                "round {round}: `{verb} {package}` succeeded but pyenvx.toml says otherwise:\n{toml}"
            );
            assert_eq!(
                lock.contains(&format!("name = \"{package}\"")),
                adding,
                "round {round}: `{verb} {package}` succeeded but the lock says otherwise"
            );
            assert_eq!(
                site.join(package).is_dir(),
                adding,
                "round {round}: `{verb} {package}` succeeded but .venv says otherwise"
            );
        }
        if kept.contains(&"django") {
            assert!(
                toml.contains(&format!("django = \"{}\"", django.0)),
                "round {round}: the pin was lost:\n{toml}"
            );
            let dist_info = format!("django-{}.dist-info", django.1);
            assert!(
                fs::read_dir(&site).unwrap().any(|e| e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .to_lowercase()
                    == dist_info),
                "round {round}: .venv lacks Django {}",
                django.1
            );
        }
        assert_eq!(
            kept.len(),
            3,
            "round {round}: every edit succeeds when serialized"
        );
    }
}

/// Entries of `dir`, sorted.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Django refuses the name `site` only after init has written pyenvx.toml, the lock, `.venv`,
/// `.env` and more: a failed init takes back what it made, keeps what was there, and a second
/// init then works.
#[test]
fn a_failed_init_leaves_the_directory_as_it_was() {
    let sb = Sandbox::new(&["3.12"]);
    let init = [
        "init", "--python", "3.12", "--django", "5.2", "--db", "postgres",
    ];

    // A directory init made itself goes entirely.
    let mut args = init.to_vec();
    args.push("site");
    let err = sb.fails("outer", &args);
    assert!(err.contains("startproject"), "{err}");
    assert_eq!(entries(&sb.dir("outer")), Vec::<String>::new());

    // In an existing directory, only what init made goes; files it edited get their text back.
    let dir = sb.dir("site");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    fs::write(dir.join(".gitignore"), "node_modules/\n").unwrap();
    fs::write(dir.join(".env"), "SECRET_KEY=mine\n").unwrap();
    let err = sb.fails("site", &init);
    assert!(err.contains("startproject"), "{err}");
    assert_eq!(entries(&dir), [".env", ".gitignore", "notes.txt"]);
    assert_eq!(read(dir.join(".gitignore")), "node_modules/\n");
    assert_eq!(read(dir.join(".env")), "SECRET_KEY=mine\n");

    // Nothing is left to clash with: init runs again, under a name Django accepts.
    let mut args = init.to_vec();
    args.extend(["--name", "mysite"]);
    sb.ok("site", &args);
    assert!(dir.join("manage.py").is_file() && dir.join("mysite/settings.py").is_file());
    assert_eq!(read(dir.join("notes.txt")), "mine\n");
    assert!(read(dir.join(".env")).starts_with("SECRET_KEY=mine\n"));
}

/// `status` looks into `.venv`: a package installed by hand, or one uninstalled by hand, is not
/// "in sync", and `--json` names it.
#[test]
fn status_reports_packages_installed_by_hand() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let status = |sb: &Sandbox| -> (String, serde_json::Value) {
        let text = sb.ok("p", &["status"]);
        let json = assert_success(&sb.run_in("p", &["status", "--json"]));
        (text, serde_json::from_str(&json).unwrap())
    };
    let (text, json) = status(&sb);
    assert!(text.contains("in sync"), "{text}");
    assert_eq!(json["unlocked"], serde_json::json!([]), "{json}");

    let uv_pip = |args: &[&str]| {
        let out = sb
            .ctx
            .command(shared_uv())
            .current_dir(sb.dir("p"))
            .args(["pip"])
            .args(args)
            .args(["--python", ".venv/bin/python"])
            .env("UV_CACHE_DIR", sb.ctx.cache_dir().join("uv-by-hand"))
            .output()
            .unwrap();
        assert_success(&out);
    };
    uv_pip(&["install", "pytz", "--index-url", &sb.index_url()]);
    uv_pip(&["uninstall", "sqlparse"]);
    let (text, json) = status(&sb);
    assert!(!text.contains("in sync"), "{text}");
    assert!(text.contains("unlocked  pytz==2024.2"), "{text}");
    assert!(text.contains("missing   sqlparse=="), "{text}");
    assert_eq!(json["synced"], false, "{json}");
    assert_eq!(
        json["unlocked"],
        serde_json::json!(["pytz==2024.2"]),
        "{json}"
    );
    assert!(
        json["missing"][0]
            .as_str()
            .unwrap()
            .starts_with("sqlparse=="),
        "{json}"
    );

    // `sync` makes `.venv` the lock's again.
    sb.ok("p", &["sync"]);
    let (text, json) = status(&sb);
    assert!(text.contains("in sync"), "{text}");
    assert_eq!(json["unlocked"], serde_json::json!([]), "{json}");
    assert_eq!(json["missing"], serde_json::json!([]), "{json}");
}

#[test]
fn run_passes_exit_codes_env_and_dotenv() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    fs::write(
        sb.dir("p").join(".env"),
        "GREETING=\"hello from dotenv\"\n# comment\nexport OTHER=1\n",
    )
    .unwrap();
    let out = sb.run_in("p", &["run", "--", "python", "-c", "import os, sys; print(os.environ['GREETING']); print(os.environ['VIRTUAL_ENV']); sys.exit(7)"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("hello from dotenv") && text.trim().ends_with(".venv"),
        "{text}"
    );
    // From a subdirectory, the project is found by walking up.
    fs::create_dir_all(sb.dir("p").join("sub/deeper")).unwrap();
    let out = sb.ok(
        "p/sub/deeper",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import django; print(django.__file__)",
        ],
    );
    assert!(out.contains("/p/.venv/"), "{out}");
    let err = sb.fails("p", &["run", "--", "no-such-command-here"]);
    assert!(err.contains("no-such-command-here"), "{err}");

    // SIGTERM and SIGINT sent to `pyenvx run` reach the command, whose answer is the exit code.
    for (signal, code) in [("TERM", 3), ("INT", 4)] {
        let ready = sb.dir("p").join(format!("ready-{signal}"));
        let script = format!(
            "import signal, sys, time, pathlib\n\
             signal.signal(signal.SIG{signal}, lambda *a: sys.exit({code}))\n\
             pathlib.Path({ready:?}).touch()\n\
             time.sleep(60)\n",
            ready = ready.display().to_string()
        );
        let mut child = sb
            .ctx
            .cmd()
            .current_dir(sb.dir("p"))
            .args(["run", "--", "python", "-c", &script])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the command never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert_eq!(child.wait().unwrap().code(), Some(code), "SIG{signal}");
    }
}

#[test]
fn errors_users_will_hit() {
    let sb = Sandbox::new(&["3.12"]);
    let err = sb.fails("nowhere", &["sync"]);
    assert!(
        err.contains("no pyenvx.toml") && err.contains("pyenvx init"),
        "{err}"
    );
    fs::create_dir_all(sb.dir("broken")).unwrap();
    fs::write(
        sb.dir("broken").join("pyenvx.toml"),
        "[project]\nname = \"b\"\npython = \"3.12\"\ndjango = 5.2\n",
    )
    .unwrap();
    let err = sb.fails("broken", &["sync"]);
    assert!(
        err.contains("pyenvx.toml:4:") && err.contains("project.django"),
        "{err}"
    );
    // A .venv made by another tool is never deleted silently.
    fs::create_dir_all(sb.dir("foreign")).unwrap();
    let venv = sb
        .ctx
        .command(pyenv_python("3.12").python())
        .args(["-m", "venv", "--without-pip"])
        .arg(sb.dir("foreign").join(".venv"))
        .output()
        .unwrap();
    assert_success(&venv);
    fs::write(
        sb.dir("foreign").join("pyenvx.toml"),
        "[project]\nname = \"f\"\npython = \"3.12\"\ndjango = \"5.2\"\n",
    )
    .unwrap();
    let err = sb.fails("foreign", &["sync"]);
    assert!(
        err.contains("not pyenvx") && err.contains("--replace-venv"),
        "{err}"
    );
    assert!(sb.dir("foreign/.venv/pyvenv.cfg").exists());
    sb.ok("foreign", &["sync", "--replace-venv"]);
    assert_eq!(sb_django_direct(&sb, "foreign"), "5.2.19");
    // init never overwrites: options that would change the project are refused, and init
    // alone succeeds and changes nothing (issue 20).
    let toml = fs::read_to_string(sb.dir("foreign").join("pyenvx.toml")).unwrap();
    let err = sb.fails("foreign", &["init", "--django", "4.2"]);
    assert!(
        err.contains("already has") && err.contains("pyenvx.toml"),
        "{err}"
    );
    let again = sb.ok("foreign", &["init", "--no-startproject"]);
    assert!(again.contains("is a pyenvx project already"), "{again}");
    assert_eq!(
        fs::read_to_string(sb.dir("foreign").join("pyenvx.toml")).unwrap(),
        toml
    );
}

#[test]
fn an_unreachable_index_says_so() {
    let mut sb = Sandbox::new(&["3.12"]);
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sb.ctx.env(
        "PYENVX_INDEX_URL",
        format!("http://127.0.0.1:{port}/simple/"),
    );
    sb.ctx.env("UV_HTTP_RETRIES", "0");
    let err = sb.fails(
        "p",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--no-startproject",
        ],
    );
    assert!(err.contains("unreachable"), "{err}");
    assert!(
        err.contains("--offline") && err.contains("PYENVX_INDEX_URL"),
        "{err}"
    );
    assert!(
        !sb.dir("p").join("pyenvx.toml").exists(),
        "nothing is written when resolution fails"
    );
}

#[test]
fn switching_back_needs_no_network() {
    let mut sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    sb.ok("p", &["pin", "django", "4.2"]);
    sb.ok("p", &["pin", "django", "5.2"]);
    // The index goes away entirely.
    sb.index = None;
    sb.ctx.env("PYENVX_OFFLINE", "1");
    sb.ok("p", &["pin", "django", "4.2"]);
    assert_eq!(sb.django_version("p"), "4.2.30");
    sb.ok("p", &["pin", "django", "5.2"]);
    assert_eq!(sb.django_version("p"), "5.2.19");
    // A version never resolved here cannot be had offline, and nothing changes.
    let before = read(sb.dir("p").join("pyenvx.toml"));
    let err = sb.fails("p", &["pin", "django", "6.0"]);
    assert!(err.contains("6.0"), "{err}");
    assert_eq!(read(sb.dir("p").join("pyenvx.toml")), before);
}

#[test]
fn add_takes_a_pip_requirements_file() {
    let sb = Sandbox::new(&["3.12"]);
    // An existing pip project: init adopts it and says what it read from its requirements file
    // (nothing, here); `add -r` takes what the file gains later.
    let dir = sb.dir("moving");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("requirements.txt"), "").unwrap();
    let out = sb.init_bare("moving", "3.12", "5.2");
    assert!(
        out.contains("Adopting the project") && out.contains("requirements.txt"),
        "{out}"
    );
    fs::write(
        dir.join("base.txt"),
        "# shared by every environment\nsqlparse>=0.4\n",
    )
    .unwrap();
    fs::write(
        dir.join("requirements.txt"),
        "-r base.txt\n\
         --index-url https://mirror.example.invalid/simple\n\
         Django==4.2.30 \\\n    --hash=sha256:0000\n\
         asgiref>=3.8  # Django's own, pinned here too\n",
    )
    .unwrap();
    let out = sb.ok("moving", &["add", "-r", "requirements.txt"]);
    assert!(
        out.contains("ignored requirements.txt:2: --index-url"),
        "index options are reported, not taken: {out}"
    );
    let toml = read(dir.join("pyenvx.toml"));
    assert!(
        toml.contains("django = \"4.2.30\""),
        "the Django line moves the pin: {toml}"
    );
    assert!(
        toml.contains(r#"dependencies = ["sqlparse>=0.4", "asgiref>=3.8"]"#),
        "{toml}"
    );
    assert_eq!(sb.django_version("moving"), "4.2.30");

    // What cannot be a dependency is refused with the file and line, and nothing changes.
    fs::write(
        dir.join("dev.txt"),
        "pytest\n-e git+https://example.invalid/x.git@v1#egg=x\n",
    )
    .unwrap();
    let err = sb.fails("moving", &["add", "-r", "dev.txt"]);
    assert!(
        err.contains("dev.txt:2: editable installs from a URL"),
        "{err}"
    );
    assert_eq!(read(dir.join("pyenvx.toml")), toml);
    // `-e .` where there is no package to install: named with the file and line.
    fs::write(dir.join("dev.txt"), "pytest\n-e .\n").unwrap();
    let err = sb.fails("moving", &["add", "-r", "dev.txt"]);
    assert!(err.contains("dev.txt:2: cannot add `-e .`"), "{err}");
    assert!(err.contains("has no pyproject.toml"), "{err}");
    assert_eq!(read(dir.join("pyenvx.toml")), toml);
    let err = sb.fails("moving", &["remove", "django"]);
    assert!(err.contains("Django is the project's pin"), "{err}");
    assert_eq!(read(dir.join("pyenvx.toml")), toml);
}
