//! Attacks on what pyenvx keeps, as a hostile file or an unlucky moment would make them: SQL
//! that tries to leave a restore's scratch database, device nodes as dump targets, kills and
//! interrupts at several points, a server that trickles. Each checks the state before and after
//! (rows counted, files compared), not only the message.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

type Db = NativePg;

/// Rows of `table` in the project's database.
fn count(db: &Db, dir: &Path, table: &str) -> String {
    psql(&db.ctx, dir, &format!("select count(*) from {table}"))
}

/// Databases a restore made besides the project's (none may survive one).
fn restore_leftovers(db: &Db, dir: &Path) -> String {
    psql(
        &db.ctx,
        dir,
        "select count(*) from pg_database where datname like '%pyenvx%'",
    )
}

/// The database name at the end of `db url`.
fn database_of(url: &str) -> String {
    url.rsplit_once('/').unwrap().1.to_string()
}

/// A PostgreSQL project with `small` (1,000 rows) and `odd` (text psql would misread).
fn pg_project(db: &Db, name: &str) -> PathBuf {
    let dir = db.bare(name, "[services.db]\nversion = \"15\"\n");
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table small as select g as x from generate_series(1, 1000) g; \
         create table odd (s text); \
         insert into odd values (E'a\\\\b'), (E'\\\\.'), (E'two\\nlines'), ('\\connect x'), (E'tab\\there')",
    );
    dir
}

#[test]
fn psql_commands_in_a_sql_restore_are_refused_before_anything_runs() {
    let db = Db::new();
    let dir = pg_project(&db, "metacmd");
    let live = database_of(&db.url(&dir));
    let marker = db.ctx.root().join("shell-ran");
    let unchanged = |what: &str| {
        assert_eq!(count(&db, &dir, "small"), "1000", "after {what}");
        assert_eq!(count(&db, &dir, "odd"), "5", "after {what}");
        assert_eq!(restore_leftovers(&db, &dir), "0", "after {what}");
        assert!(!marker.exists(), "{what}: a shell command ran");
    };
    for (name, script, line, command) in [
        (
            "connect.sql",
            format!("create table t (x int);\n\\connect {live}\ndrop table small;\n"),
            2,
            "\\connect",
        ),
        (
            "c.sql",
            format!("select 1;\n\\c {live}\ndelete from odd;\n"),
            2,
            "\\c",
        ),
        (
            "shell.sql",
            format!("select 1; \\! touch {}\n", marker.display()),
            1,
            "\\!",
        ),
        (
            "include.sql",
            "select 1;\n\n\\i /dev/null\n".to_string(),
            3,
            "\\i",
        ),
        (
            "output.sql",
            format!("\\o {}\nselect 1;\n", marker.display()),
            1,
            "\\o",
        ),
        // SQL that acts on the live database from another: the role is a superuser.
        (
            "dropdb.sql",
            format!("commit;\ndrop database \"{live}\";\n"),
            2,
            "drop database",
        ),
        // After COPY data, commands are commands again.
        (
            "after-copy.sql",
            format!(
                "create table c (s text);\ncopy c (s) from stdin;\n\\\\connect\n\\.\n\\connect {live}\ndrop table small;\n"
            ),
            5,
            "\\connect",
        ),
    ] {
        let file = db.ctx.root().join(name);
        fs::write(&file, script).unwrap();
        let err = db.fails(&dir, &["db", "restore", "--yes", file.to_str().unwrap()]);
        assert!(
            err.contains(&format!("line {line}"))
                && err.contains(command)
                && err.contains("not touched"),
            "{name}: {err}"
        );
        unchanged(name);
    }
}

#[test]
fn a_plain_pg_dump_restores_into_the_scratch_database_only() {
    let db = Db::new();
    let dir = pg_project(&db, "plaindump");
    let url = db.url(&dir);
    let pg_dump = require_pg_bin().join("pg_dump");
    let dump = |file: &str, extra: &[&str]| -> PathBuf {
        let path = db.ctx.root().join(file);
        let out = Command::new(&pg_dump)
            .args(["--format=plain", "--no-owner", "--file"])
            .arg(&path)
            .args(extra)
            .arg(format!("--dbname={url}"))
            .output()
            .unwrap();
        assert_success(&out);
        path
    };
    let plain = dump("plain.sql", &[]);
    let odd = "select string_agg(s, '|' order by s) from odd";
    let before = psql(&db.ctx, &dir, odd);
    psql(
        &db.ctx,
        &dir,
        "delete from small where x > 10; delete from odd",
    );
    db.ok(&dir, &["db", "restore", "--yes", plain.to_str().unwrap()]);
    assert_eq!(count(&db, &dir, "small"), "1000");
    assert_eq!(
        psql(&db.ctx, &dir, odd),
        before,
        "COPY data restored as it was"
    );
    assert_eq!(restore_leftovers(&db, &dir), "0");

    // pg_dump -C writes CREATE DATABASE and `\connect`: refused, with the way out, and nothing
    // changes.
    let created = dump("created.sql", &["--create"]);
    psql(&db.ctx, &dir, "delete from small where x > 500");
    let err = db.fails(&dir, &["db", "restore", "--yes", created.to_str().unwrap()]);
    assert!(
        err.contains("CREATE DATABASE") && err.contains("-C") && err.contains("not touched"),
        "{err}"
    );
    assert_eq!(count(&db, &dir, "small"), "500");
    assert_eq!(restore_leftovers(&db, &dir), "0");

    // A script failing after its own COMMIT still changes nothing outside the scratch database.
    let sneaky = db.ctx.root().join("sneaky.sql");
    fs::write(
        &sneaky,
        "commit;\ncreate table small (x int);\nselect no_such_column from no_such_table;\n",
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "restore", "--yes", sneaky.to_str().unwrap()]);
    assert!(
        err.contains("line 3") && err.contains("no_such_table") && err.contains("now dropped"),
        "{err}"
    );
    assert_eq!(count(&db, &dir, "small"), "500");
    assert_eq!(restore_leftovers(&db, &dir), "0");
}

type Maria = NativeMaria;

#[test]
fn a_mariadb_script_stays_in_the_scratch_database() {
    let db = Maria::new();
    let dir = db.project("shop");
    db.ok(&dir, &["db", "up"]);
    let live = database_of(&db.url(&dir));
    db.sql(
        &dir,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20)); \
         INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    let marker = db.ctx.root().join("shell-ran");
    let databases =
        "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata \
         WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')";
    let unchanged = |what: &str| {
        assert_eq!(
            db.sql(&dir, "SELECT COUNT(*) FROM items"),
            "3",
            "after {what}"
        );
        assert_eq!(db.sql(&dir, databases), live, "after {what}");
        assert!(!marker.exists(), "{what}: a shell command ran");
    };
    unchanged("the start");

    // `USE` of the project's own database (as `mariadb-dump --databases` writes it) keeps the
    // load in the scratch database: there the DROP finds no table, and the load fails.
    let own = dir.join("own.sql");
    fs::write(
        &own,
        format!("USE `{live}`;\nDROP TABLE items;\nCREATE TABLE items (id INT);\n"),
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "restore", "--yes", "own.sql"]);
    assert!(err.contains("now dropped"), "{err}");
    unchanged("USE of the project's database");

    // Whatever reaches another database, or the client's shell, is refused before it runs.
    for (name, script, line) in [
        (
            "other.sql",
            "SELECT 1;\nUSE mysql;\nDROP TABLE items;\n".to_string(),
            2,
        ),
        (
            "dropdb.sql",
            format!("CREATE TABLE x (a INT);\n/*!40000 DROP DATABASE IF EXISTS `{live}_x`*/;\n"),
            2,
        ),
        (
            "system.sql",
            format!("SELECT 1;\nsystem touch {}\n", marker.display()),
            2,
        ),
        (
            "bang.sql",
            format!("SELECT 1;\n\\! touch {}\n", marker.display()),
            2,
        ),
        (
            "connect.sql",
            format!("connect {live}\nDROP TABLE items;\n"),
            1,
        ),
    ] {
        fs::write(dir.join(name), script).unwrap();
        let err = db.fails(&dir, &["db", "restore", "--yes", name]);
        assert!(
            err.contains(&format!("line {line}")) && err.contains("not touched"),
            "{name}: {err}"
        );
        unchanged(name);
    }

    // A dump of the project itself written with --databases (CREATE DATABASE, USE, and
    // DROP DATABASE with --add-drop-database) restores, into the scratch database first.
    db.ok(&dir, &["db", "dump", "plain.sql"]);
    let body = fs::read_to_string(dir.join("plain.sql")).unwrap();
    fs::write(
        dir.join("databases.sql"),
        format!(
            "/*!40000 DROP DATABASE IF EXISTS `{live}`*/;\n\
             CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{live}` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n\
             \nUSE `{live}`;\n{body}"
        ),
    )
    .unwrap();
    db.sql(&dir, "DELETE FROM items WHERE id > 1");
    db.ok(&dir, &["db", "restore", "--yes", "databases.sql"]);
    unchanged("a --databases dump of the project");
}

#[test]
fn dump_force_replaces_only_regular_files() {
    let db = Db::new();
    let dir = pg_project(&db, "devices");
    // A device node of our own (what /dev/null is), a pipe, and a link to the device.
    let dev = db.ctx.root().join("null");
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success(), "mknod (the tests run as root)");
    let fifo = db.ctx.root().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let link = db.ctx.root().join("link.dump");
    std::os::unix::fs::symlink(&dev, &link).unwrap();
    for (target, says) in [
        (&dev, "is a device"),
        (&fifo, "is a pipe"),
        (&link, "is a device"),
    ] {
        let err = db.fails(&dir, &["db", "dump", "--force", target.to_str().unwrap()]);
        assert!(err.contains(says) && err.contains("not replaced"), "{err}");
    }
    assert!(fs::metadata(&dev).unwrap().file_type().is_char_device());
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // No temporary file is left beside them either.
    let left: Vec<_> = fs::read_dir(db.ctx.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A regular file is still replaced.
    let file = db.ctx.root().join("real.dump");
    fs::write(&file, "old").unwrap();
    db.ok(&dir, &["db", "dump", "--force", file.to_str().unwrap()]);
    assert!(fs::read(&file).unwrap().starts_with(b"PGDMP"));
}

/// A server that sends one byte every 2 s is never idle for `PYENVX_HTTP_TIMEOUT=3`; the
/// low-speed limit ends `python install`, `python list` and `add` in bounded time, naming the URL.
#[test]
fn a_trickling_server_fails_in_bounded_time() {
    use std::time::{Duration, Instant};
    let trickle = Fault::Trickle(Duration::from_secs(2));
    let bounded = Duration::from_secs(90);

    let sandbox = Sandbox::new(&["3.12"]);
    let mut ctx = TestContext::new();
    let (server, _mirror) = ctx.serve_pythons(&["3.12"]);
    ctx.env("PYENVX_HTTP_TIMEOUT", "3");
    let archive = release_url_path(&pbs_archive("3.12").file_name);
    server.fault(&archive, trickle.clone());
    let started = Instant::now();
    let err = assert_failure(&ctx.run(&["python", "install", "3.12"]));
    assert!(
        started.elapsed() < bounded,
        "install took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&server.url()) && err.contains("bytes per 3 s"),
        "{err}"
    );

    // The catalog file, served from the mirror's root.
    let catalog = "/trickling-catalog.json";
    let file = PathBuf::from(ctx.env_value("PYENVX_PYTHON_DOWNLOADS_JSON").unwrap());
    fs::copy(&file, _mirror.root().join(&catalog[1..])).unwrap();
    server.fault(catalog, trickle.clone());
    ctx.with_catalog(format!("{}{catalog}", server.url()));
    let started = Instant::now();
    let out = ctx.run(&["python", "list"]);
    assert!(
        started.elapsed() < bounded,
        "list took {:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains(catalog) && err.contains("bytes per 3 s"),
        "{err}"
    );

    // `add`, whose index pages and wheels trickle.
    sandbox.init_bare("slow", "3.12", "5.2");
    let index = &sandbox.index.as_ref().unwrap().server;
    // A byte every 0.7 s: within uv's own 1 s read timeout.
    for path in ["/simple/pytz/", "/simple/"] {
        index.fault(path, Fault::Trickle(Duration::from_millis(700)));
    }
    let toml = read(sandbox.dir("slow").join("pyenvx.toml"));
    let lock = read(sandbox.dir("slow").join("pyenvx.lock"));
    let started = Instant::now();
    let out = sandbox
        .ctx
        .cmd()
        .current_dir(sandbox.dir("slow"))
        // uv's own timeout is per read: pyenvx gives its run a deadline of 60 timeouts.
        .env("PYENVX_HTTP_TIMEOUT", "1")
        .args(["add", "pytz"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < bounded,
        "add took {:?}",
        started.elapsed()
    );
    let err = assert_failure(&out);
    assert!(err.contains("within 60 s"), "{err}");
    assert_eq!(read(sandbox.dir("slow").join("pyenvx.toml")), toml);
    assert_eq!(read(sandbox.dir("slow").join("pyenvx.lock")), lock);
}

/// Settings that were ignored or misreported are one clear error naming the variable.
#[test]
fn bad_settings_are_one_clear_error() {
    let sandbox = Sandbox::new(&["3.12"]);
    let dir = sandbox.dir("ports");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("pyenvx.toml"),
        "[project]\nname = \"ports\"\npython = \"3.12\"\n\n[services.db]\nversion = \"15\"\n",
    )
    .unwrap();
    // The port is registered by a first use; a malformed range must not pass unnoticed after.
    sandbox.ok("ports", &["db", "url"]);
    let out = sandbox
        .ctx
        .cmd()
        .current_dir(&dir)
        .env("PYENVX_DB_PORTS", "abc")
        .args(["db", "url"])
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(
        err.contains("PYENVX_DB_PORTS=abc is not a port range") && err.contains("hint:"),
        "{err}"
    );

    let out = sandbox
        .ctx
        .cmd()
        .env("PYENVX_HTTP_TIMEOUT", "0")
        .args(["python", "install", "3.12"])
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(
        err.contains("PYENVX_HTTP_TIMEOUT is `0`")
            && err.contains("above 0")
            && !err.contains("between 0"),
        "{err}"
    );
}

/// Send `signal` to pyenvx once `path` was asked for on `server` (the command is then mid-way,
/// its first writes done), and wait for it to end.
fn interrupt_when_fetching(
    mut cmd: Command,
    server: &TestServer,
    path: &str,
    signal: &str,
) -> std::process::Output {
    use std::time::{Duration, Instant};
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.hits(path) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{path} was never fetched"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(30),
        "pyenvx took {:?} to stop",
        stopped.elapsed()
    );
    out
}

/// SIGTERM during `add` and SIGINT during `init` take back what they wrote, as a failure does,
/// and `init` then runs again.
#[test]
fn an_interrupt_takes_back_what_add_and_init_wrote() {
    let sandbox = Sandbox::new(&["3.12"]);
    let index = &sandbox.index.as_ref().unwrap().server;
    let slow = Fault::Throttle {
        bytes_per_sec: 2000,
    };

    sandbox.init_bare("added", "3.12", "5.2");
    let dir = sandbox.dir("added");
    let (toml, lock) = (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock")));
    let wheel = "/files/pytz-2024.2-py2.py3-none-any.whl";
    index.fault(wheel, slow.clone());
    let mut add = sandbox.ctx.cmd();
    add.current_dir(&dir).args(["add", "pytz"]);
    let out = interrupt_when_fetching(add, index, wheel, "TERM");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", describe(&out));
    assert_eq!(read(dir.join("pyenvx.toml")), toml);
    assert_eq!(read(dir.join("pyenvx.lock")), lock);
    index.clear_fault(wheel);

    let wheel = "/files/django-5.2.19-py3-none-any.whl";
    index.fault(wheel, slow);
    let fresh = sandbox.dir("fresh");
    fs::create_dir_all(&fresh).unwrap();
    let mut init = sandbox.ctx.cmd();
    init.current_dir(&fresh)
        .args(["init", "--python", "3.12", "--django", "5.2"]);
    let out = interrupt_when_fetching(init, index, wheel, "INT");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let left: Vec<String> = fs::read_dir(&fresh)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "init left {left:?}");
    index.clear_fault(wheel);
    let again = sandbox
        .ctx
        .cmd()
        .current_dir(&fresh)
        .args(["init", "--python", "3.12", "--django", "5.2"])
        .output()
        .unwrap();
    assert_success(&again);
    assert!(fresh.join("manage.py").is_file());
}

/// A server a killed `db upgrade` left on `pg<new>.upgrading` is recognised, stopped and named
/// by the next `db status` (and `up`, `down`, `upgrade`).
#[test]
fn a_server_left_by_a_killed_upgrade_is_stopped_and_named() {
    use std::time::{Duration, Instant};
    let db = Db::new();
    let dir = db.bare("orphan", "[services.db]\nversion = \"15\"\n");
    db.ok(&dir, &["db", "up"]);
    db.ok(&dir, &["db", "down"]);
    let data = dir.join(".pyenvx/services/db/pg18.upgrading");
    fs::create_dir_all(&data).unwrap();
    let bin = require_pg_bin();
    let as_postgres = |program: &str| {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.join(program));
        cmd
    };
    assert!(Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&data)
        .status()
        .unwrap()
        .success());
    let out = as_postgres("initdb")
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);
    // Started the way a pyenvx that is gone started it: nobody waits for it.
    let mut orphan = as_postgres("postgres");
    orphan
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=", "-c"])
        .arg(format!("unix_socket_directories={}", data.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut runner = orphan.spawn().unwrap();
    let started = Instant::now();
    let pid = loop {
        if let Some(pid) = fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = db.out(&dir, &["db", "status"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("pg18.upgrading"),
        "{}",
        describe(&out)
    );
    let gone = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        let _ = runner.try_wait();
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "pid {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = runner.wait();
    // Nothing left to say the next time.
    let out = db.out(&dir, &["db", "status"]);
    assert!(!stderr(&out).contains("stopped"), "{}", describe(&out));
}
