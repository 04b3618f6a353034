//! The MariaDB engine (`[services.db] engine = "mariadb"`) on the native backend, against this
//! machine's real `mariadbd` (Debian's mariadb-server; `.ci/run` installs it). The wheelhouse
//! has no MySQL driver for Django, so the server is checked through `pyenvx db shell` (the real
//! `mariadb` client) rather than through Django.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use common::*;

type Maria = NativeMaria;

impl NativeMaria {
    fn status(&self, dir: &Path) -> serde_json::Value {
        serde_json::from_str(&self.ok(dir, &["db", "status", "--json"])).unwrap()
    }

    /// Names of the databases on the project's server, comma-separated.
    fn databases(&self, dir: &Path) -> String {
        self.sql(
            dir,
            "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata \
             WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')",
        )
    }
}

/// Wait for the snapshots' background work: the ready copy of `name` made, and no replaced
/// tables left.
fn settled(db: &Maria, dir: &Path, name: &str) {
    let marker = dir.join(format!(".pyenvx/snapshots/db/{name}.spare-ready"));
    let started = std::time::Instant::now();
    while !marker.exists() || db.databases(dir).contains("_pyenvx_old") {
        assert!(
            started.elapsed().as_secs() < 60,
            "the background work never finished: {}",
            db.databases(dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn kill9(pid: &str) {
    assert!(std::process::Command::new("kill")
        .args(["-9", pid])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_project_database_on_native_mariadb() {
    let db = Maria::new();
    let dir = db.project("shop");
    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("cold mariadb up: {:?}", started.elapsed());
    assert!(
        up.contains("MariaDB ") && up.contains("up on 127.0.0.1:") && up.contains("new database"),
        "{up}"
    );

    // DATABASE_URL is mysql:// with the generated user and password, kept in a 0600 file.
    let url = db.url(&dir);
    let port = port_of(&url);
    let creds: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.join(".pyenvx/services/db/credentials.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        url,
        format!(
            "mysql://{}:{}@127.0.0.1:{port}/{}",
            creds["user"].as_str().unwrap(),
            creds["password"].as_str().unwrap(),
            creds["database"].as_str().unwrap()
        )
    );
    assert_eq!(creds["user"], "shop");
    for file in ["credentials.json", "client.cnf"] {
        assert_eq!(
            mode(&dir.join(".pyenvx/services/db").join(file)),
            0o600,
            "{file}"
        );
    }
    // The init file with the password is gone once the first start is over.
    assert!(!dir.join(".pyenvx/services/db/mariadb-init.sql").exists());

    // A real client logs in as the project's user, into its database, in utf8mb4.
    assert_eq!(
        db.sql(
            &dir,
            "SELECT CONCAT_WS(' ', CURRENT_USER(), DATABASE(), @@character_set_database, @@port)"
        ),
        format!("shop@127.0.0.1 shop utf8mb4 {port}")
    );
    db.sql(
        &dir,
        "CREATE TABLE books (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(100)); \
         INSERT INTO books (title) VALUES ('Dune'), ('Emma')",
    );

    // The password is on no command line; the server listens on 127.0.0.1 only.
    let status = db.status(&dir);
    assert_eq!(status["engine"], "mariadb");
    assert_eq!(status["running"], true);
    assert_eq!(status["accepting_connections"], true);
    assert_eq!(status["url"], url.as_str());
    let pid = status["pid"].as_u64().unwrap();
    let cmdline = String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(
        !cmdline.contains(creds["password"].as_str().unwrap()),
        "{cmdline}"
    );
    assert!(cmdline.contains("--bind-address=127.0.0.1"), "{cmdline}");
    assert_eq!(listeners(port), vec!["0100007F".to_string()]);

    // `pyenvx run` gives the program the URL.
    let out = db.out(&dir, &["run", "--", "printenv", "DATABASE_URL"]);
    assert_eq!(assert_success(&out).trim(), url);

    // down / up keeps the rows.
    let down = db.ok(&dir, &["db", "down"]);
    assert!(down.contains("Stopped"), "{down}");
    assert_eq!(db.status(&dir)["running"], false);
    assert_eq!(listeners(port), Vec::<String>::new());
    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("warm mariadb up: {:?}", started.elapsed());
    assert!(!up.contains("new database"), "{up}");
    assert_eq!(
        db.sql(&dir, "SELECT GROUP_CONCAT(title ORDER BY id) FROM books"),
        "Dune,Emma"
    );
    let again = db.ok(&dir, &["db", "up"]);
    assert!(again.contains("already running"), "{again}");

    // kill -9 right after a commit: the next `up` recovers it.
    db.sql(&dir, "INSERT INTO books (title) VALUES ('after the kill')");
    let pid = db.status(&dir)["pid"].as_u64().unwrap().to_string();
    kill9(&pid);
    // SIGKILL is delivered at once, but a server with many threads takes a moment to die.
    let killed = Instant::now();
    while db.status(&dir)["running"] == true {
        assert!(killed.elapsed().as_secs() < 10, "mariadbd outlived kill -9");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let up = db.ok(&dir, &["db", "up"]);
    assert!(
        !up.contains("already running") && !up.contains("new database"),
        "{up}"
    );
    assert_ne!(db.status(&dir)["pid"].as_u64().unwrap().to_string(), pid);
    assert_eq!(
        db.sql(&dir, "SELECT GROUP_CONCAT(title ORDER BY id) FROM books"),
        "Dune,Emma,after the kill"
    );

    // `db psql` says what to use instead.
    let err = db.fails(&dir, &["db", "psql"]);
    assert!(
        err.contains("MariaDB") && err.contains("pyenvx db shell"),
        "{err}"
    );

    // `pyenvx status` and `pyenvx down` see it as the project's database.
    let overall = db.ok(&dir, &["status"]);
    let major = db.status(&dir)["version"].as_u64().unwrap();
    assert!(
        overall.contains(&format!(
            "MariaDB {major} (native) on 127.0.0.1:{port}, running"
        )),
        "{overall}"
    );
    db.ok(&dir, &["down"]);
    assert_eq!(db.status(&dir)["running"], false);
}

#[test]
fn two_projects_get_their_own_ports_users_and_data() {
    let db = Maria::new();
    let a = db.project("alpha");
    let b = db.project("beta");
    db.ok_at_once(&a, &b, &["db", "up"]);
    let (ua, ub) = (db.url(&a), db.url(&b));
    assert_ne!(port_of(&ua), port_of(&ub));
    assert_ne!(
        ua.split('@').next(),
        ub.split('@').next(),
        "users and passwords are per project"
    );
    db.sql(
        &a,
        "CREATE TABLE only_in_alpha (x INT); INSERT INTO only_in_alpha VALUES (1)",
    );
    assert_eq!(db.sql(&a, "SELECT COUNT(*) FROM only_in_alpha"), "1");
    assert_eq!(
        db.sql(
            &b,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_alpha'"
        ),
        "0"
    );
    // Stable across restarts: the registry, not the moment, decides.
    db.ok(&a, &["db", "down"]);
    db.ok(&a, &["db", "up"]);
    assert_eq!(db.url(&a), ua);
}

#[test]
fn dump_and_restore_never_lose_data() {
    let db = Maria::new();
    let dir = db.project("store");
    db.ok(&dir, &["db", "up"]);
    db.sql(
        &dir,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20)); \
         INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    let dump = db.ok(&dir, &["db", "dump", "backup.sql"]);
    assert!(dump.contains("Wrote backup.sql"), "{dump}");
    let file = dir.join("backup.sql");
    assert_eq!(mode(&file), 0o600, "a dump holds every row");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("CREATE TABLE `items`"), "{text}");

    // An existing file is replaced only with --force.
    let err = db.fails(&dir, &["db", "dump", "backup.sql"]);
    assert!(err.contains("backup.sql"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), text);

    // Change the data; then neither an empty file, a broken script nor a PostgreSQL archive
    // touches it.
    db.sql(
        &dir,
        "INSERT INTO items VALUES (4, 'four'); CREATE TABLE later (x INT)",
    );
    fs::write(dir.join("empty.sql"), "").unwrap();
    fs::write(
        dir.join("broken.sql"),
        "CREATE TABLE half (x INT);\nINSERT INTO half VALUES (1);\nthis is not SQL;\n",
    )
    .unwrap();
    fs::write(dir.join("pg.dump"), b"PGDMP\x01\x0e\x00\x04\x08\x01\x01").unwrap();
    for (file, says) in [
        ("empty.sql", "is empty"),
        ("broken.sql", "mariadb failed"),
        ("pg.dump", "not a SQL script"),
        ("missing.sql", "does not exist"),
    ] {
        let err = db.fails(&dir, &["db", "restore", file, "--yes"]);
        assert!(err.contains(says), "{file}: {err}");
        assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM items"), "4", "{file}");
        assert_eq!(
            db.databases(&dir),
            "store",
            "{file}: a scratch database is left"
        );
    }

    // The hints name MariaDB's dump program, not PostgreSQL's.
    let err = db.fails(&dir, &["db", "restore", "empty.sql", "--yes"]);
    assert!(
        err.contains("mariadb-dump") && !err.contains("pg_dump"),
        "{err}"
    );

    // Without --yes and without a terminal, a restore over data asks and refuses.
    let err = db.fails(&dir, &["db", "restore", "backup.sql"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM items"), "4");

    // A good dump replaces the tables, all of them at once.
    let restored = db.ok(&dir, &["db", "restore", "backup.sql", "--yes"]);
    assert!(restored.contains("Restored backup.sql"), "{restored}");
    assert_eq!(
        db.sql(&dir, "SELECT GROUP_CONCAT(name ORDER BY id) FROM items"),
        "one,two,three"
    );
    assert_eq!(
        db.sql(
            &dir,
            "SELECT GROUP_CONCAT(table_name) FROM information_schema.tables WHERE table_schema = 'store'"
        ),
        "items"
    );
    assert_eq!(db.databases(&dir), "store");

    // A dump replaced with --force is the new one, written whole.
    db.sql(&dir, "INSERT INTO items VALUES (5, 'five')");
    db.ok(&dir, &["db", "dump", "backup.sql", "--force"]);
    assert!(fs::read_to_string(&file).unwrap().contains("'five'"));
}

#[test]
fn snapshots_take_list_restore_and_remove() {
    let db = Maria::new();
    let dir = db.project("snaps");
    db.ok(&dir, &["db", "up"]);
    // Foreign keys, a generated column and an auto-increment counter survive the copy.
    db.sql(
        &dir,
        "CREATE TABLE authors (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20)); \
         CREATE TABLE books (id INT PRIMARY KEY, author_id INT, twice INT AS (id * 2) VIRTUAL, \
           FOREIGN KEY (author_id) REFERENCES authors (id)); \
         INSERT INTO authors (name) VALUES ('Le Guin'), ('Herbert'); \
         INSERT INTO books (id, author_id) VALUES (1, 1), (2, 2)",
    );
    // A table with holes: copied as a file it keeps its size; rebuilt row by row it would not.
    db.sql(
        &dir,
        "CREATE TABLE big (id INT PRIMARY KEY, body VARCHAR(200)); \
         INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_20000; \
         DELETE FROM big WHERE id % 2 = 0",
    );
    let took = db.ok(&dir, &["db", "snapshot", "before-migration"]);
    let data = dir.join(".pyenvx/services/db/mariadb");
    let size = |path: &str| fs::metadata(data.join(path)).unwrap().len();
    assert_eq!(
        size("pyenvx_snapshot_before@002dmigration/big.ibd"),
        size("snaps/big.ibd"),
        "natively a snapshot copies the table's file"
    );
    assert!(
        !data
            .join("pyenvx_snapshot_before@002dmigration/big.cfg")
            .exists(),
        "the export's metadata file is not left behind"
    );
    assert!(
        took.contains("Took snapshot before-migration") && took.contains("MariaDB"),
        "{took}"
    );
    let list = db.ok(&dir, &["db", "snapshot", "list"]);
    assert!(
        list.contains("MARIADB") && list.contains("before-migration"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&db.ok(&dir, &["db", "snapshot", "list", "--json"])).unwrap();
    assert_eq!(json[0]["engine"], "mariadb");
    assert_eq!(json[0]["backend"], "native");

    // Change everything, then go back.
    db.sql(
        &dir,
        "DELETE FROM books; DELETE FROM authors; INSERT INTO authors (name) VALUES ('Nobody'); \
         CREATE TABLE later (x INT)",
    );
    let err = db.fails(&dir, &["db", "snapshot", "restore", "before-migration"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM later"), "0");
    db.sql(&dir, "DELETE FROM big");
    // The ready copy the background work made after the take moves in by one RENAME TABLE.
    settled(&db, &dir, "before-migration");
    let out = db.ok(&dir, &["db", "snapshot", "restore", "--latest", "--yes"]);
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(
        db.sql(
            &dir,
            "SELECT GROUP_CONCAT(CONCAT(b.id, a.name, b.twice) ORDER BY b.id) \
             FROM books b JOIN authors a ON a.id = b.author_id"
        ),
        "1Le Guin2,2Herbert4"
    );
    assert_eq!(
        db.sql(
            &dir,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'snaps' AND table_name = 'later'"
        ),
        "0"
    );
    assert_eq!(
        db.sql(
            &dir,
            "SELECT COUNT(*) FROM information_schema.referential_constraints WHERE constraint_schema = 'snaps'"
        ),
        "1",
        "the foreign key came back"
    );
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM big"), "10000");
    db.sql(&dir, "INSERT INTO authors (name) VALUES ('Next')");
    assert_eq!(
        db.sql(&dir, "SELECT MAX(id) FROM authors"),
        "3",
        "the counter came back"
    );
    // The snapshot stays, and can be restored again (twice in a row: the second waits for the
    // ready copy the first one's background work makes); rm deletes it and its copies.
    db.sql(&dir, "DELETE FROM big");
    db.ok(
        &dir,
        &["db", "snapshot", "restore", "before-migration", "--yes"],
    );
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM big"), "10000");
    db.sql(&dir, "DELETE FROM big");
    let out = db.ok(
        &dir,
        &["db", "snapshot", "restore", "before-migration", "--yes"],
    );
    assert!(out.contains("renamed into place"), "{out}");
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM big"), "10000");
    settled(&db, &dir, "before-migration");
    assert_eq!(
        db.databases(&dir),
        "pyenvx_snapshot_before-migration,pyenvx_spare_before-migration,snaps"
    );
    db.ok(&dir, &["db", "snapshot", "rm", "before-migration"]);
    assert_eq!(db.databases(&dir), "snaps");
    let err = db.fails(
        &dir,
        &["db", "snapshot", "restore", "before-migration", "--yes"],
    );
    assert!(err.contains("no snapshot called"), "{err}");
}

#[test]
fn a_first_start_that_died_heals_and_a_marked_directory_is_kept() {
    let db = Maria::new();
    let dir = db.project("heal");
    // What a pyenvx killed during its first start leaves: a data directory, no marker.
    let data = dir.join(".pyenvx/services/db/mariadb");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("ibdata1"), "half-written").unwrap();
    let up = db.ok(&dir, &["db", "up"]);
    assert!(up.contains("new database"), "{up}");
    db.sql(
        &dir,
        "CREATE TABLE kept (x INT); INSERT INTO kept VALUES (7)",
    );
    db.ok(&dir, &["db", "down"]);

    // With the marker, a directory that lost its system tables is neither started nor deleted.
    let system = data.join("mysql");
    let aside = dir.join("mysql-aside");
    fs::rename(&system, &aside).unwrap();
    let err = db.fails(&dir, &["db", "up"]);
    assert!(err.contains("neither starts nor deletes"), "{err}");
    assert!(
        data.join("heal/kept.frm").exists(),
        "the data is still there"
    );
    fs::rename(&aside, &system).unwrap();
    db.ok(&dir, &["db", "up"]);
    assert_eq!(db.sql(&dir, "SELECT x FROM kept"), "7");
}

#[test]
fn configuration_errors_and_a_version_this_machine_lacks() {
    let db = Maria::new();
    let dir = db.bare("cfg", &db.table("version = \"9.9\"\n"));
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("asks for MariaDB 9.9") && err.contains("version = \""),
        "{err}"
    );
    assert!(!dir.join(".pyenvx/services/db/mariadb").exists());

    let dir = db.bare("bad", &db.table("extensions = [\"hstore\"]\n"));
    let err = db.fails(&dir, &["db", "up"]);
    assert!(
        err.contains("pyenvx.toml:") && err.contains("services.db.extensions"),
        "{err}"
    );
}

/// Container projects on the stand-in `mariadb` image; their containers, volumes and the
/// image are removed when it is dropped.
struct Boxed {
    db: Maria,
    image: String,
}

impl Drop for Boxed {
    fn drop(&mut self) {
        self.db.down_all(&["db", "down"]);
        self.db.remove_containers_then(&self.image);
    }
}

#[test]
fn a_project_database_in_a_mariadb_container() {
    require_docker();
    let boxed = Boxed {
        db: Maria::new(),
        image: maria_image(),
    };
    let db = &boxed.db;
    let dir = db.bare(
        "boxed",
        &format!(
            "[services.db]\nengine = \"mariadb\"\nbackend = \"container\"\nimage = \"{}\"\n",
            boxed.image
        ),
    );
    let started = Instant::now();
    let up = db.ok(&dir, &["db", "up"]);
    println!("cold mariadb container up: {:?}", started.elapsed());
    assert!(
        up.contains("MariaDB ") && up.contains("(container, new database)"),
        "{up}"
    );
    let url = db.url(&dir);
    assert!(url.starts_with("mysql://boxed:"), "{url}");
    let port = port_of(&url);
    // Published on 127.0.0.1 only.
    assert_eq!(listeners(port), vec!["0100007F".to_string()]);
    let status = db.status(&dir);
    assert_eq!(status["backend"], "container");
    assert_eq!(status["accepting_connections"], true);
    let name = status["container"].as_str().unwrap().to_string();
    assert!(name.ends_with("-mariadb"), "{name}");

    // The shell is the container's own client, as the project's user, with every privilege
    // (the image grants only its database; restores need more).
    db.sql(
        &dir,
        "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(20)); \
         INSERT INTO notes VALUES (1, 'kept'), (2, 'also kept')",
    );
    assert_eq!(
        db.sql(
            &dir,
            "SELECT CONCAT_WS(' ', DATABASE(), @@character_set_server)"
        ),
        "boxed utf8mb4"
    );
    assert!(
        db.sql(&dir, "SHOW GRANTS")
            .contains("GRANT ALL PRIVILEGES ON *.*"),
        "the project's user can create the restore's scratch database"
    );

    // down / up, and a kill of the server, keep the rows.
    db.ok(&dir, &["db", "down"]);
    assert_eq!(db.status(&dir)["running"], false);
    db.ok(&dir, &["db", "up"]);
    db.sql(&dir, "INSERT INTO notes VALUES (3, 'before kill')");
    must(std::process::Command::new("docker").args(["kill", "--signal", "KILL", &name]));
    assert_eq!(db.status(&dir)["running"], false);
    let up = db.ok(&dir, &["db", "up"]);
    assert!(!up.contains("new database"), "{up}");
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM notes"), "3");

    // Dump and restore through the container's clients, with the same safety.
    db.ok(&dir, &["db", "dump", "notes.sql"]);
    db.sql(&dir, "DELETE FROM notes WHERE id = 1");
    fs::write(
        dir.join("broken.sql"),
        "CREATE TABLE t (x INT);\nnot SQL;\n",
    )
    .unwrap();
    let err = db.fails(&dir, &["db", "restore", "broken.sql", "--yes"]);
    assert!(err.contains("the database was not changed"), "{err}");
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM notes"), "2");
    db.ok(&dir, &["db", "restore", "notes.sql", "--yes"]);
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM notes"), "3");
    assert_eq!(db.databases(&dir), "boxed");

    // Snapshots through the container's clients too.
    db.ok(&dir, &["db", "snapshot", "boxed-1"]);
    db.sql(&dir, "DELETE FROM notes");
    db.ok(&dir, &["db", "snapshot", "restore", "boxed-1", "--yes"]);
    assert_eq!(db.sql(&dir, "SELECT COUNT(*) FROM notes"), "3");

    // reset: an empty database, the same identity, no snapshots.
    db.ok(&dir, &["db", "reset", "--yes"]);
    let list = db.ok(&dir, &["db", "snapshot", "list"]);
    assert!(list.contains("No snapshots"), "{list}");
    assert_eq!(db.url(&dir), url);
    assert_eq!(
        db.sql(
            &dir,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'boxed'"
        ),
        "0"
    );
}

#[test]
fn a_kill_at_any_point_of_a_snapshot_restore_loses_nothing() {
    let db = Maria::new();
    let dir = db.project("killrest");
    db.ok(&dir, &["db", "up"]);
    db.sql(
        &dir,
        "CREATE TABLE big (id INT PRIMARY KEY, body VARCHAR(200)); \
         INSERT INTO big SELECT seq, MD5(seq) FROM seq_1_to_100000; \
         CREATE TABLE small (x INT); INSERT INTO small VALUES (1), (2)",
    );
    // Every table's rows and a checksum of them.
    let fingerprint = || {
        db.sql(
            &dir,
            "SELECT CONCAT((SELECT COUNT(*) FROM big), ' ', \
               (SELECT BIT_XOR(CRC32(CONCAT_WS('|', id, body))) FROM big), ' ', \
               (SELECT GROUP_CONCAT(x ORDER BY x) FROM small))",
        )
    };
    db.ok(&dir, &["db", "snapshot", "s"]);
    let snapshot = fingerprint();
    db.sql(&dir, "DELETE FROM big WHERE id % 3 = 0; DELETE FROM small");
    let changed = fingerprint();
    assert_ne!(snapshot, changed);
    for delay_ms in [2u64, 15, 40, 80, 150, 300, 600] {
        let mut child = db
            .ctx
            .cmd()
            .current_dir(&dir)
            .args(["db", "snapshot", "restore", "s", "--yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // A client the killed pyenvx started may still be finishing its one RENAME TABLE.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = fingerprint();
        assert!(
            now == snapshot || now == changed,
            "restore killed after {delay_ms} ms left {now}"
        );
        db.ok(&dir, &["db", "snapshot", "restore", "s", "--yes"]);
        assert_eq!(fingerprint(), snapshot, "after a kill at {delay_ms} ms");
        db.sql(&dir, "DELETE FROM big WHERE id % 3 = 0; DELETE FROM small");
        assert_eq!(fingerprint(), changed);
    }
}
