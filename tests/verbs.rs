//! The everyday verbs a uv user reaches for: `lock`, `tree`, `outdated`, `sync --upgrade-package`,
//! `env`, `--directory`, `python pin` in a project, `cache dir/clean` beside `redis`, and the
//! typo tips that must not send `upgrade` to `up` — run as the binary, against the wheelhouse.

mod common;

use std::fs;

use common::*;

/// A project whose lock holds sqlparse 0.4.4 while pyenvx.toml now allows 0.6.1: the state an
/// `outdated` and an `--upgrade-package` are for.
/// Returns the sandbox's sqlparse version before pyenvx.toml was edited.
fn project_behind(sb: &Sandbox, name: &str) -> String {
    sb.init_bare(name, "3.12", "5.2");
    sb.ok(name, &["add", "sqlparse<0.5"]);
    let installed = sb.run_in(
        name,
        &[
            "run",
            "--",
            "python",
            "-c",
            "import sqlparse; print(sqlparse.__version__)",
        ],
    );
    let installed = assert_success(&installed).trim().to_string();
    let toml_path = sb.dir(name).join("pyenvx.toml");
    let toml = read(&toml_path);
    assert!(toml.contains("\"sqlparse<0.5\""), "{toml}");
    fs::write(&toml_path, toml.replace("\"sqlparse<0.5\"", "\"sqlparse\"")).unwrap();
    installed
}

fn locked_version(sb: &Sandbox, name: &str, package: &str) -> String {
    let lock = read(sb.dir(name).join("pyenvx.lock"));
    let at = lock
        .find(&format!("name = \"{package}\"\nversion = \""))
        .unwrap_or_else(|| panic!("{package} not locked:\n{lock}"));
    let rest = &lock[at..];
    let start = rest.find("version = \"").unwrap() + "version = \"".len();
    rest[start..start + rest[start..].find('"').unwrap()].to_string()
}

#[test]
fn lock_check_upgrade_package_and_outdated() {
    let sb = Sandbox::new(&["3.12"]);
    let installed = project_behind(&sb, "shop");
    assert_eq!(installed, "0.4.4");
    assert_eq!(locked_version(&sb, "shop", "sqlparse"), "0.4.4");

    // pyenvx.toml changed: --check says so and fails, writing nothing.
    let lock_before = read(sb.dir("shop").join("pyenvx.lock"));
    let err = sb.fails("shop", &["lock", "--check"]);
    assert!(
        err.contains("is out of date with") && err.contains("pyenvx lock"),
        "{err}"
    );
    assert_eq!(read(sb.dir("shop").join("pyenvx.lock")), lock_before);

    // Only django may move: sqlparse keeps its locked 0.4.4 though 0.6.1 is allowed now.
    let out = sb.ok("shop", &["lock", "--upgrade-package", "django"]);
    assert!(
        out.contains("Locked") && out.contains(".venv is untouched"),
        "{out}"
    );
    assert_eq!(locked_version(&sb, "shop", "sqlparse"), "0.4.4");
    assert_eq!(locked_version(&sb, "shop", "django"), "5.2.19");
    sb.ok("shop", &["lock", "--check"]);
    // `lock` never touched .venv: its stamp still names the lock it was synced to, not this one.
    let status = sb.ok("shop", &["status"]);
    assert!(status.contains(".venv differs from the lock"), "{status}");

    // outdated: sqlparse is behind what pyenvx.toml allows; django behind the newest release.
    let json = sb.ok("shop", &["outdated", "--json", "-q"]);
    let rows: serde_json::Value = serde_json::from_str(&json).expect(&json);
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {json}"))
    };
    let sqlparse = row("sqlparse");
    assert_eq!(sqlparse["locked"], "0.4.4");
    assert_eq!(sqlparse["allowed"], "0.6.1");
    assert_eq!(sqlparse["newest"], "0.6.1");
    let django = row("django");
    assert_eq!(django["locked"], "5.2.19");
    assert_eq!(django["allowed"], "5.2.19");
    assert_eq!(django["newest"], "6.1.3");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "asgiref"),
        "asgiref is newest already: {json}"
    );
    let table = sb.ok("shop", &["outdated"]);
    assert!(
        table.contains("package") && table.contains("sqlparse") && table.contains("0.4.4"),
        "{table}"
    );

    // sync --upgrade-package: the named package moves, and .venv follows.
    let out = sb.ok("shop", &["sync", "--upgrade-package", "sqlparse"]);
    assert!(out.contains("sqlparse==0.6.1"), "{out}");
    assert_eq!(locked_version(&sb, "shop", "sqlparse"), "0.6.1");
    let err = sb.fails("shop", &["sync", "--upgrade-package", "flask"]);
    assert!(err.contains("flask is not in pyenvx.lock"), "{err}");
}

#[test]
fn tree_and_why_a_package_is_here() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("lib", "3.12", "5.2");
    sb.ok("lib", &["add", "psycopg[binary]"]);
    let tree = sb.ok("lib", &["tree", "-q"]);
    assert_eq!(
        tree.lines().collect::<Vec<_>>(),
        [
            "django v5.2.19",
            "├── asgiref v3.13.0",
            "└── sqlparse v0.6.1",
            "psycopg v3.3.9",
            "├── psycopg-binary v3.3.9 (extra: binary)",
            "└── typing-extensions v4.16.0",
        ],
        "{tree}"
    );
    let why = sb.ok("lib", &["tree", "--invert", "sqlparse", "-q"]);
    assert_eq!(
        why.lines().collect::<Vec<_>>(),
        ["sqlparse v0.6.1", "└── django v5.2.19 (pyenvx.toml)"],
        "{why}"
    );
    let err = sb.fails("lib", &["tree", "--invert", "flask"]);
    assert!(err.contains("flask is not in pyenvx.lock"), "{err}");
}

#[test]
fn directory_python_pin_env_and_the_cache_names() {
    let sb = Sandbox::new(&["3.12", "3.13"]);
    sb.init_bare("app", "3.12", "5.2");
    let elsewhere = sb.dir("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let app = sb.dir("app");

    // -C: every command as if started in DIR.
    let out = sb.ok("elsewhere", &["-C", app.to_str().unwrap(), "python", "pin"]);
    assert_eq!(out.trim(), "3.12");
    // `python pin` without --global pins the project, as uv's does.
    let out = sb.ok(
        "elsewhere",
        &[
            "--directory",
            app.to_str().unwrap(),
            "python",
            "pin",
            "3.13",
        ],
    );
    assert!(out.contains("Pinned python to `3.13`"), "{out}");
    assert!(read(app.join("pyenvx.toml")).contains("python = \"3.13\""));
    assert_eq!(sb.python_version("app").rsplit_once('.').unwrap().0, "3.13");
    let err = sb.fails("elsewhere", &["python", "pin", "3.12"]);
    assert!(err.contains("--global"), "{err}");
    let err = sb.fails("elsewhere", &["-C", "no-such-dir", "status"]);
    assert!(err.contains("cannot enter no-such-dir"), "{err}");

    // env: what `run` gives, as dotenv and as shell exports.
    fs::write(app.join(".env"), "SECRET_KEY=\"it's a secret\"\n").unwrap();
    let dotenv = sb.ok("app", &["env", "-q"]);
    let venv = app.join(".venv");
    assert!(
        dotenv.contains(&format!("VIRTUAL_ENV={}", venv.display()))
            && dotenv.contains("SECRET_KEY=\"it's a secret\"")
            && !dotenv.contains("PYTHONHOME"),
        "{dotenv}"
    );
    let shell = sb.ok("app", &["env", "--shell", "-q"]);
    assert!(
        shell.contains("unset PYTHONHOME")
            && shell.contains(r"export SECRET_KEY='it'\''s a secret'")
            && shell.contains(&format!("export PATH='{}/bin:", venv.display())),
        "{shell}"
    );
    // The shell reads it back as `run` would set it.
    let out = sb
        .ctx
        .command("sh")
        .current_dir(&app)
        .args(["-c", "eval \"$(\"$0\" env --shell)\" && python -c 'import os,sys; print(sys.prefix); print(os.environ[\"SECRET_KEY\"])'"])
        .arg(env!("CARGO_BIN_EXE_pyenvx"))
        .output()
        .unwrap();
    let printed = assert_success(&out);
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [venv.to_str().unwrap(), "it's a secret"]
    );

    // `cache` is pyenvx's caches now; the Redis verbs are `redis`.
    let dir = sb.ok("app", &["cache", "dir"]);
    assert_eq!(dir.trim(), sb.ctx.cache_dir().to_str().unwrap());
    assert!(sb.ctx.cache_dir().join("resolutions").is_dir());
    let out = sb.ok("app", &["cache", "clean"]);
    assert!(
        out.contains("Removed") && out.contains("the package store stays"),
        "{out}"
    );
    assert_eq!(fs::read_dir(sb.ctx.cache_dir()).unwrap().count(), 0);
    // The sandbox still syncs from the store, with nothing cached.
    sb.ok("app", &["sync", "--offline"]);
    let err = sb.fails("app", &["redis", "url"]);
    assert!(err.contains("[services.cache]"), "{err}");
    let err = sb.fails("app", &["cache", "url"]);
    assert!(err.contains("now `pyenvx redis url`"), "{err}");

    // Typo tips that would do the wrong thing.
    let err = sb.fails("app", &["upgrade"]);
    assert!(
        err.contains("no `upgrade` command")
            && err.contains("--upgrade-package")
            && !err.contains("'up'"),
        "{err}"
    );
    let err = sb.fails("app", &["run"]);
    assert!(
        err.contains("needs a command") && err.contains("pyenvx run -- python"),
        "{err}"
    );
}

#[test]
fn export_docker_takes_o_like_export_requirements() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("web", "3.12", "5.2");
    sb.ok("web", &["export", "requirements", "-o", "requirements.txt"]);
    let out = sb.ok("web", &["export", "docker", "-o", "deploy"]);
    assert!(sb.dir("web").join("deploy/Dockerfile").is_file(), "{out}");
}

#[test]
fn dotenv_holds_every_services_url_and_env_prints_them() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "svc",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--no-startproject",
            "--db",
            "postgres",
            "--cache",
            "redis",
        ],
    );
    let dotenv = read(sb.dir("svc").join(".env"));
    let url = |key: &str| {
        dotenv
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in .env:\n{dotenv}"))
            .to_string()
    };
    assert!(url("DATABASE_URL").starts_with("postgres://"), "{dotenv}");
    assert!(url("REDIS_URL").starts_with("redis://:"), "{dotenv}");
    // What `env` prints is what `run` gives, services included (nothing needs to run).
    let printed = sb.ok("svc", &["env", "-q"]);
    for key in ["DATABASE_URL", "REDIS_URL"] {
        assert!(
            printed.lines().any(|l| l == format!("{key}={}", url(key))),
            "{key}:\n{printed}"
        );
    }
    let run = sb.ok(
        "svc",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import os; print(os.environ['REDIS_URL'])",
        ],
    );
    assert_eq!(run.trim(), url("REDIS_URL"));
}

#[test]
fn init_takes_the_newest_python_the_django_pin_supports_or_the_global_pin() {
    let sb = Sandbox::new(&["3.12", "3.13"]);
    sb.ok("", &["python", "install", "3.12", "3.13"]);
    // Django 4.2 supports up to 3.12: 3.13 is here too, and not taken.
    let out = sb.ok("lts", &["init", "--django", "4.2", "--no-startproject"]);
    assert!(
        out.contains("Python 3.12: the newest here (else to download) that Django 4.2 supports"),
        "{out}"
    );
    assert_eq!(sb.python_version("lts").rsplit_once('.').unwrap().0, "3.12");
    assert_eq!(sb.django_version("lts"), "4.2.30");

    // The global pin, when the Django pin supports it.
    sb.ok("", &["python", "pin", "--global", "3.12"]);
    let out = sb.ok("pinned", &["init", "--django", "5.2", "--no-startproject"]);
    assert!(out.contains("the global pin `3.12`"), "{out}");
    assert_eq!(
        sb.python_version("pinned").rsplit_once('.').unwrap().0,
        "3.12"
    );
    sb.ok("", &["python", "pin", "--global", "3.13"]);
    let out = sb.ok("plain", &["init", "--no-startproject"]);
    assert!(out.contains("the global pin `3.13`"), "{out}");
    assert_eq!(
        sb.python_version("plain").rsplit_once('.').unwrap().0,
        "3.13"
    );
    // ... and not when it does not: 4.2 on the global 3.13 would be refused.
    let out = sb.ok("older", &["init", "--django", "4.2", "--no-startproject"]);
    assert!(!out.contains("global pin"), "{out}");
    assert_eq!(
        sb.python_version("older").rsplit_once('.').unwrap().0,
        "3.12"
    );

    // A refusal names the nearest pins that work, the LTS first.
    let err = sb.fails(
        "refused",
        &[
            "init",
            "--python",
            "3.13",
            "--django",
            "4.2",
            "--no-startproject",
        ],
    );
    assert!(
        err.contains("nearest pins that work: `--django 5.2` or `--django 6.1` or `--python 3.12`"),
        "{err}"
    );
}

/// No warning said twice in one command's output.
#[track_caller]
fn warnings_once(out: &str) {
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("warning:")).collect();
    let mut unique = warnings.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(warnings.len(), unique.len(), "a warning repeated:\n{out}");
}

#[test]
fn the_seed_scenario_python_2_7_with_django_1_5() {
    pyenv_python("2.7");
    let mut sb = Sandbox::new(&[]);
    sb.ctx.with_pyenv_root(pyenv_root());
    // Before 1.9 there is no `python -m django`: the project is made by django-admin.py.
    let out = sb.ok("", &["init", "old", "--python", "2.7", "--django", "1.5"]);
    assert!(
        out.contains("Initialized old (Python 2.7.18, Django 1.5.12)"),
        "{out}"
    );
    assert!(
        out.contains("manage.py syncdb"),
        "1.5 has no migrate: {out}"
    );
    warnings_once(&out);
    let dir = sb.dir("old");
    assert!(dir.join("manage.py").is_file() && dir.join("old/settings.py").is_file());
    // 1.5's checks: `validate` (`check` arrived in 1.7).
    let checked = sb.ok("old", &["run", "--", "python", "manage.py", "validate"]);
    assert!(checked.contains("0 errors found"), "{checked}");
    assert_eq!(sb.django_version("old"), "1.5.12");

    // An unsupported pair let through is warned about once, not by each step that checks it.
    let out = sb.ok(
        "",
        &[
            "init",
            "odd",
            "--python",
            "3.6",
            "--django",
            "1.5",
            "--allow-unsupported",
            "--no-startproject",
        ],
    );
    assert!(
        out.contains("Django 1.5 does not support Python 3.6"),
        "{out}"
    );
    warnings_once(&out);
}

#[test]
fn django_2_1_on_python_3_6() {
    // Django 2.1 runs on 3.5-3.7; this machine has no 3.5, so its 3.6 stands in.
    pyenv_python("3.6");
    let mut sb = Sandbox::new(&[]);
    sb.ctx.with_pyenv_root(pyenv_root());
    let out = sb.ok("", &["init", "mid", "--python", "3.6", "--django", "2.1"]);
    assert!(out.contains("Django 2.1.15"), "{out}");
    warnings_once(&out);
    let checked = sb.ok("mid", &["run", "--", "python", "manage.py", "check"]);
    assert!(
        checked.contains("System check identified no issues"),
        "{checked}"
    );
}
