//! The container database backend on this machine's Docker engine, which has no registry: the
//! image is a stand-in built from this machine's PostgreSQL 15 ([`pg_image`]) that honours the
//! official image's contract. One test drives every scenario so that the image is imported once
//! and removed, with every container and volume the tests made, at the end.

mod common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use common::*;

/// Database projects on the container backend with the stand-in image; dropping it removes
/// every container and volume they made, then the image.
struct Db {
    projects: DbProjects,
    image: String,
}

impl Db {
    fn new(image: String) -> Self {
        // The engine is asked through its CLI, which must be on PATH.
        let projects = DbProjects::new(|ctx| {
            ctx.with_path(DEFAULT_PATH);
        });
        Self { projects, image }
    }

    fn services(&self, version: u32) -> String {
        format!(
            "[services.db]\nengine = \"postgres\"\nversion = \"{version}\"\nbackend = \"container\"\nimage = \"{}\"\n",
            self.image
        )
    }

    /// A Django project made by `pyenvx init --db postgres`, switched to the container backend.
    fn django(&self, name: &str) -> PathBuf {
        self.projects.django(name, Some(&self.services(15)))
    }
}

impl std::ops::Deref for Db {
    type Target = DbProjects;
    fn deref(&self) -> &DbProjects {
        &self.projects
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.projects.remove_containers_then(&self.image);
    }
}

fn docker(args: &[&str]) -> String {
    let out = must(Command::new("docker").args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_django_project_on_a_container() {
    require_pg15();
    require_docker();
    let started = Instant::now();
    let db = Db::new(pg_image());
    println!("stand-in image ready in {:?}", started.elapsed());
    let dir = db.django("shelf");
    let url = db.url(&dir);
    let port = port_of(&url);

    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("cold container db up: {:?}", started.elapsed());
    assert!(up.contains("(container, new database)"), "{up}");
    let again = db.ok(&dir, &["db", "up"]);
    assert!(again.contains("already running"), "{again}");

    // The container and volume are named and labelled per project, published on 127.0.0.1.
    let root = dir.to_string_lossy().into_owned();
    let name = docker(&[
        "ps",
        "--filter",
        &format!("label=pyenvx.project={root}"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(
        name.starts_with("pyenvx-shelf-") && name.ends_with("-db"),
        "{name}"
    );
    assert_eq!(
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=pyenvx.project={root}")
        ]),
        name
    );
    assert_eq!(
        docker(&["port", &name, "5432"]),
        format!("127.0.0.1:{port}")
    );
    assert!(docker(&["inspect", "--format", "{{.Config.Image}}", &name]) == db.image);

    // Django through DATABASE_URL, into the container.
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
    let expected_url = format!(
        "postgres://{}:{}@127.0.0.1:{}/{}",
        seen.split(' ').nth(3).unwrap(),
        seen.split(' ').nth(4).unwrap(),
        seen.split(' ').nth(2).unwrap(),
        seen.split(' ').nth(5).unwrap()
    );
    assert_eq!(expected_url, url, "Django used {seen}");
    assert!(
        seen.starts_with("postgresql 127.0.0.1 ") && seen.contains(" 5432 "),
        "{seen}"
    );
    assert_eq!(psql(&db.ctx, &dir, "select count(*) from auth_user"), "1");

    // down keeps the volume; up again keeps the row.
    db.ok(&dir, &["db", "down"]);
    assert_eq!(db_status(&db.ctx, &dir)["running"], false);
    let started = Instant::now();
    db.ok(&dir, &["db", "up"]);
    println!("warm container db up: {:?}", started.elapsed());
    assert_eq!(db.users(&dir), "ada");

    // kill -9 of the server (the container's PID 1) right after a commit.
    db.add_user(&dir, "bob");
    docker(&["kill", "--signal", "KILL", &name]);
    db.ok(&dir, &["db", "up"]);
    assert_eq!(db.users(&dir), "ada,bob");

    // dump / restore round trip.
    let dump = db.ctx.root().join("shelf.dump");
    db.ok(&dir, &["db", "dump", dump.to_str().unwrap()]);
    assert!(fs::read(&dump).unwrap().starts_with(b"PGDMP"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&dump).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a dump holds every row: private");
    }
    // An existing file is kept without --force.
    let before = fs::read(&dump).unwrap();
    let err = db.fails(&dir, &["db", "dump", dump.to_str().unwrap()]);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(fs::read(&dump).unwrap(), before);
    db.add_user(&dir, "carol");

    // What cannot load changes nothing: an empty file, a truncated dump, a SQL script with an
    // error on line 2; over data, no restore without --yes when there is no terminal.
    let empty = db.ctx.root().join("empty.dump");
    fs::write(&empty, "").unwrap();
    let truncated = db.ctx.root().join("truncated.dump");
    fs::write(&truncated, &before[..before.len() * 3 / 4]).unwrap();
    let stub = db.ctx.root().join("stub.dump");
    fs::write(&stub, &before[..100]).unwrap();
    let script = db.ctx.root().join("broken.sql");
    fs::write(
        &script,
        "create table from_script (x int);\nselect no_such_column from no_such_table;\n",
    )
    .unwrap();
    for bad in [&empty, &truncated, &stub, &script] {
        let err = db.fails(&dir, &["db", "restore", "--yes", bad.to_str().unwrap()]);
        assert!(
            err.contains("not touched") || err.contains("not changed"),
            "{}: {err}",
            bad.display()
        );
        assert_eq!(db.users(&dir), "ada,bob,carol", "after {}", bad.display());
    }
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from pg_database where datname like '%pyenvx%'"
        ),
        "0"
    );
    let err = db.fails(&dir, &["db", "restore", dump.to_str().unwrap()]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(db.users(&dir), "ada,bob,carol");

    db.ok(&dir, &["db", "restore", "--yes", dump.to_str().unwrap()]);
    assert_eq!(db.users(&dir), "ada,bob");

    // Snapshots: the same in-server copy through the published port.
    db.ok(&dir, &["db", "snapshot", "shelved"]);
    psql(
        &db.ctx,
        &dir,
        "create table after_snapshot (x int); delete from auth_user where username = 'bob'",
    );
    db.ok(&dir, &["db", "snapshot", "restore", "shelved", "--yes"]);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select to_regclass('after_snapshot') is null"
        ),
        "t"
    );
    assert_eq!(db.users(&dir), "ada,bob");
    let list = db.ok(&dir, &["db", "snapshot", "list"]);
    assert!(
        list.contains("shelved") && list.contains("container"),
        "{list}"
    );
    let logs = db.ok(&dir, &["db", "logs"]);
    assert!(logs.contains("ready to accept connections"), "{logs}");

    // Two projects at once, each on its own port.
    let other = db.bare("rack", &db.services(15));
    let up = db.ok(&other, &["db", "up"]);
    assert!(up.contains("new database"), "{up}");
    let other_url = db.url(&other);
    assert_ne!(port_of(&other_url), port);
    psql(&db.ctx, &other, "create table only_in_rack (x int)");
    assert_eq!(
        psql(&db.ctx, &dir, "select to_regclass('only_in_rack') is null"),
        "t"
    );
    assert_eq!(db.users(&dir), "ada,bob");

    // A port taken by a stranger: said so, with a way out.
    db.ok(&other, &["db", "down"]);
    let stranger = TcpListener::bind((Ipv4Addr::LOCALHOST, port_of(&other_url))).unwrap();
    let err = db.fails(&other, &["db", "up"]);
    assert!(
        err.contains(&format!("port {}", port_of(&other_url)))
            && err.contains("taken by another program")
            && err.contains("--port"),
        "{err}"
    );
    drop(stranger);

    // Data of another major is refused, and kept.
    fs::write(
        other.join("pyenvx.toml"),
        format!("[project]\nname = \"rack\"\n\n{}", db.services(16)),
    )
    .unwrap();
    let err = db.fails(&other, &["db", "up"]);
    assert!(
        err.contains("holds PostgreSQL 15 data") && err.contains("asks for PostgreSQL 16"),
        "{err}"
    );
    let volume = name.replace("shelf", "rack");
    let volumes = docker(&["volume", "ls", "-q"]);
    assert!(
        volumes.lines().any(|v| v.starts_with("pyenvx-rack-")),
        "the volume is kept: {volumes} ({volume})"
    );

    // reset: an empty database on the same port and credentials.
    db.ok(&dir, &["db", "reset", "--yes"]);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from pg_tables where tablename = 'auth_user'"
        ),
        "0"
    );
    assert_eq!(db.url(&dir), url);
    let status = db_status(&db.ctx, &dir);
    assert_eq!(status["backend"], "container");
    assert_eq!(status["container"], name.as_str());
    assert_eq!(status["accepting_connections"], true);
    db.ok(&dir, &["db", "down"]);
}

#[test]
fn a_missing_or_stopped_engine_is_one_clear_error() {
    let ctx = TestContext::new();
    let dir = ctx.work().join("p");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("pyenvx.toml"),
        "[project]\nname = \"p\"\n\n[services.db]\nversion = \"15\"\nbackend = \"container\"\n",
    )
    .unwrap();
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = ctx.cmd();
        cmd.current_dir(&dir).args(["db", "up"]);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        assert_failure(&cmd.output().unwrap())
    };
    // Neither docker nor podman on PATH.
    let empty = ctx.root().join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let err = run(&[("PATH", empty.to_str().unwrap())]);
    assert!(
        err.contains("no container engine") && err.contains("backend = \"native\""),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    // Named, but not there.
    let err = run(&[("PYENVX_CONTAINER_ENGINE", "/nonexistent/podman")]);
    assert!(
        err.contains("PYENVX_CONTAINER_ENGINE") && err.contains("backend = \"native\""),
        "{err}"
    );
    // Installed but not running (its daemon unreachable).
    require("docker", &["--version"], "the docker CLI");
    let err = run(&[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert!(
        err.contains("is not running") && err.contains("backend = \"native\""),
        "{err}"
    );
    if have_docker() {
        remove_project_containers(&dir);
    }
    // `db up --backend native` is the way out the hint names.
    require_pg15();
    let mut ctx = TestContext::new();
    ctx.env("PYENVX_DB_PORTS", port_range());
    open_for_postgres(&ctx);
    let dir = ctx.work().join("p");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("pyenvx.toml"),
        "[project]\nname = \"p\"\n\n[services.db]\nversion = \"15\"\nbackend = \"container\"\n",
    )
    .unwrap();
    let empty = ctx.root().join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let out = ctx
        .cmd()
        .current_dir(&dir)
        .env("PATH", &empty)
        .args(["db", "up", "--backend", "native"])
        .output()
        .unwrap();
    assert_success(&out);
    let status = db_status(&ctx, &dir);
    assert_eq!(status["backend"], "native");
    let out = ctx
        .cmd()
        .current_dir(&dir)
        .args(["db", "down"])
        .output()
        .unwrap();
    assert_success(&out);
}
