//! PostgreSQL test support: a port range per test, making a test root reachable for the
//! `postgres` account, and a stand-in for the official `postgres` image ([`pg_image`]) for a
//! Docker engine with no registry.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use super::context::TestContext;
use super::pbs::{fixtures_dir, sha256_bytes};

/// This machine's PostgreSQL 15 (`PYENVX_TEST_PG_BIN`, default Debian's layout), which the
/// database tests need: without it they fail, saying so.
pub fn require_pg15() -> PathBuf {
    super::machine::require_pg_bin()
}

/// A `PYENVX_DB_PORTS` range of its own for each test: every test context has its own port
/// registry, so tests running in parallel would otherwise hand out the same first port. Other
/// test runs share the machine too (other checkouts, CI jobs), and one that starts a server on
/// a port this run's registry just found free makes a start fail with "port taken": so each
/// test process claims blocks of ports machine-wide, with a lock file held until it exits, and
/// hands out ranges only from its own blocks.
pub fn port_range() -> String {
    const WIDTH: u16 = 10;
    static CLAIM: Mutex<Option<(u16, u16)>> = Mutex::new(None);
    let mut claim = CLAIM.lock().unwrap();
    let (start, next) = match *claim {
        Some((block, next)) if next + WIDTH <= block + PORT_BLOCK => (block, next),
        _ => {
            let block = claim_port_block();
            (block, block)
        }
    };
    *claim = Some((start, next + WIDTH));
    format!("{next}-{}", next + WIDTH - 1)
}

const FIRST_TEST_PORT: u16 = 55_000;
const PORT_BLOCK: u16 = 100;
const PORT_BLOCKS: u16 = 40;

/// The first port of a block no other live test process holds; the lock stays with this
/// process (its file handle lives as long as the process).
fn claim_port_block() -> u16 {
    static HELD: Mutex<Vec<fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("pyenvx-test-ports");
    fs::create_dir_all(&dir).unwrap();
    // Start at a place that moves with the process id, so that runs rarely even try the same.
    let first = std::process::id() as u16 % PORT_BLOCKS;
    let mut held = HELD.lock().unwrap();
    for i in 0..PORT_BLOCKS {
        let block = (first + i) % PORT_BLOCKS;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("block-{block}.lock")))
            .unwrap();
        if file.try_lock().is_ok() {
            held.push(file);
            return FIRST_TEST_PORT + block * PORT_BLOCK;
        }
    }
    panic!(
        "every block of test ports ({FIRST_TEST_PORT}–{}) is held by another test process",
        FIRST_TEST_PORT + PORT_BLOCKS * PORT_BLOCK - 1
    );
}

/// As root, the server runs as `postgres`, which must enter the test root (a 0700 temp dir).
pub fn open_for_postgres(ctx: &TestContext) {
    for dir in [ctx.root().to_path_buf(), ctx.root().join("tmp")] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `sql` through `pyenvx db psql` in `dir`: tuples only, unaligned; returns stdout trimmed.
pub fn psql(ctx: &TestContext, dir: &Path, sql: &str) -> String {
    let out = ctx
        .cmd()
        .current_dir(dir)
        .args([
            "db",
            "psql",
            "--",
            "-X",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql:?} failed:\n{}",
        super::context::describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `db status --json` in `dir`.
pub fn db_status(ctx: &TestContext, dir: &Path) -> serde_json::Value {
    let out = ctx
        .cmd()
        .current_dir(dir)
        .args(["db", "status", "--json"])
        .output()
        .unwrap();
    let text = super::context::assert_success(&out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status json: {e}\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// The stand-in image

/// Run a command, panicking with its output on failure.
pub fn must(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\n{}",
        super::context::describe(&out)
    );
    out
}

/// Whether a Docker engine answers here.
pub fn have_docker() -> bool {
    super::machine::runs("docker", &["version", "--format", "{{.Server.Version}}"])
}

/// Fails the test, saying so, unless a Docker engine answers.
pub fn require_docker() {
    super::machine::require(
        "docker",
        &["version", "--format", "{{.Server.Version}}"],
        "a running Docker engine",
    );
}

/// The entrypoint of the stand-in: the official image's contract (POSTGRES_USER, _PASSWORD,
/// _DB; data in $PGDATA; first-run setup; `host all all all scram-sha-256`; listen on all
/// addresses, port 5432), in POSIX sh, running as the image's `postgres` user.
const ENTRYPOINT: &str = r#"#!/bin/sh
set -e
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PATH=/usr/lib/postgresql/15/bin:/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ]; then
    echo "error: POSTGRES_PASSWORD is required" >&2
    exit 1
  fi
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile -E UTF8 --locale=C --no-instructions
  : > /tmp/pwfile
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != "postgres" ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" -j postgres > /dev/null
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/var/run/postgresql "$@"
"#;

/// What goes into the root filesystem: PostgreSQL 15's programs, libraries and share files,
/// `/bin/sh`, and every shared library they link (from `ldd`). Every path is given with its
/// directories resolved (`/lib64/ld-linux…` becomes `/usr/lib64/ld-linux…`): the image gets the
/// host's merged-/usr links (`/bin -> usr/bin`, …) at the top instead, so each path the programs
/// ask for resolves as it does on the host. Symbolic links are kept, with their targets.
pub(crate) fn rootfs_files(roots: &[&str]) -> Vec<PathBuf> {
    fn normalize(p: &Path) -> Option<PathBuf> {
        let parent = fs::canonicalize(p.parent()?).ok()?;
        Some(parent.join(p.file_name()?))
    }
    fn add(files: &mut BTreeSet<PathBuf>, p: &Path) {
        let Some(p) = normalize(p) else { return };
        let Ok(meta) = fs::symlink_metadata(&p) else {
            return;
        };
        if !files.insert(p.clone()) {
            return;
        }
        if meta.file_type().is_symlink() {
            if let Ok(target) = fs::canonicalize(&p) {
                add(files, &target);
            }
        }
    }
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut walk: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
    while let Some(p) = walk.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                walk.push(e.path());
            }
        } else {
            add(&mut files, &p);
        }
    }
    let elf: Vec<PathBuf> = files
        .iter()
        .filter(|p| fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF")))
        .cloned()
        .collect();
    for binary in elf {
        let out = Command::new("ldd").arg(&binary).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)` or `/lib64/ld-linux… (0x…)`.
            let path = line
                .split("=>")
                .last()
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(path) = path {
                add(&mut files, Path::new(path));
            }
        }
    }
    files.into_iter().collect()
}

/// The host's top-level links into /usr (`bin -> usr/bin`, …), for the image.
fn merged_usr_links() -> Vec<(PathBuf, PathBuf)> {
    ["/bin", "/sbin", "/lib", "/lib64"]
        .iter()
        .filter_map(|p| Some((PathBuf::from(p), fs::read_link(p).ok()?)))
        .collect()
}

/// What a stand-in image's root filesystem holds besides the host's files.
pub(crate) struct Rootfs<'a> {
    /// The directory under the fixtures that caches the archive.
    pub cache: &'a str,
    /// Host files and directories to copy (with every library their programs link).
    pub roots: &'a [&'a str],
    /// `/usr/local/bin/docker-entrypoint.sh`.
    pub entrypoint: &'a str,
    /// Directories to create: path, mode, owner (uid = gid).
    pub dirs: &'a [(&'a str, u32, u64)],
    pub passwd: &'a str,
    pub group: &'a str,
}

/// PostgreSQL 15's programs, libraries and share files, `/bin/sh`, and time zones.
const PG_ROOTFS: Rootfs = Rootfs {
    cache: "pgimage",
    roots: &[
        "/usr/lib/postgresql/15",
        "/usr/share/postgresql/15",
        "/usr/share/zoneinfo/UTC",
        "/usr/share/zoneinfo/Etc/UTC",
        "/bin/sh",
    ],
    entrypoint: ENTRYPOINT,
    dirs: &[
        ("/var", 0o755, 0),
        ("/var/lib", 0o755, 0),
        ("/var/lib/postgresql", 0o755, 999),
        ("/var/lib/postgresql/data", 0o700, 999),
        ("/var/run", 0o755, 0),
        ("/var/run/postgresql", 0o775, 999),
        ("/tmp", 0o1777, 0),
        ("/etc", 0o755, 0),
    ],
    passwd:
        "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n",
    group: "root:x:0:\npostgres:x:999:\n",
};

/// The image's root filesystem as a tar archive (cached under target/tmp by a key of its
/// contents' list and the entrypoint), for `docker import`.
pub(crate) fn rootfs_tar(spec: &Rootfs) -> PathBuf {
    let files = rootfs_files(spec.roots);
    let mut key_input = spec.entrypoint.to_string();
    for f in &files {
        let len = fs::symlink_metadata(f).map(|m| m.len()).unwrap_or(0);
        key_input.push_str(&format!("{}:{len}\n", f.display()));
    }
    let key = &sha256_bytes(key_input.as_bytes())[..16];
    let dir = fixtures_dir().join(spec.cache);
    let tar_path = dir.join(format!("rootfs-{key}.tar"));
    if tar_path.is_file() {
        return tar_path;
    }
    fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".rootfs-{key}-{}.tar", std::process::id()));
    let file = fs::File::create(&tmp).unwrap();
    let mut tar = tar::Builder::new(file);
    tar.follow_symlinks(false);
    let mut dirs_done: BTreeSet<PathBuf> = BTreeSet::new();
    let add_dir = |tar: &mut tar::Builder<fs::File>, path: &Path, mode: u32, uid: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(
            &mut h,
            path.strip_prefix("/").unwrap_or(path),
            std::io::empty(),
        )
        .unwrap();
    };
    for (link, target) in merged_usr_links() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_link(&mut h, link.strip_prefix("/").unwrap(), &target)
            .unwrap();
        dirs_done.insert(link);
    }
    for f in &files {
        for parent in f.ancestors().skip(1).collect::<Vec<_>>().into_iter().rev() {
            if parent == Path::new("/") || !dirs_done.insert(parent.to_path_buf()) {
                continue;
            }
            add_dir(&mut tar, parent, 0o755, 0);
        }
        tar.append_path_with_name(f, f.strip_prefix("/").unwrap())
            .unwrap_or_else(|e| panic!("add {}: {e}", f.display()));
    }
    // The account the server runs as, its directories, and a world-writable /tmp.
    for &(path, mode, uid) in spec.dirs {
        if dirs_done.insert(PathBuf::from(path)) {
            add_dir(&mut tar, Path::new(path), mode, uid);
        }
    }
    let mut add_file = |path: &str, mode: u32, body: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(body.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path.trim_start_matches('/'), body)
            .unwrap();
    };
    add_file("/etc/passwd", 0o644, spec.passwd.as_bytes());
    add_file("/etc/group", 0o644, spec.group.as_bytes());
    add_file(
        "/usr/local/bin/docker-entrypoint.sh",
        0o755,
        spec.entrypoint.as_bytes(),
    );
    tar.into_inner().unwrap().sync_all().unwrap();
    fs::rename(&tmp, &tar_path).unwrap();
    tar_path
}

/// Label on everything the container tests create, for the sweep of leftovers.
pub const TEST_LABEL: &str = "pyenvx-test=pgimage";

/// The stand-in image, imported into the engine once per test process; its tag carries the
/// rootfs key. [`remove_pg_image`] deletes it at the end.
pub fn pg_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    IMAGE
        .get_or_init(|| {
            import_rootfs(
                &PG_ROOTFS,
                "pyenvx-test-postgres:15",
                &[
                    "ENV PGDATA=/var/lib/postgresql/data",
                    "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin",
                    "EXPOSE 5432",
                    "VOLUME /var/lib/postgresql/data",
                ],
            )
        })
        .clone()
}

/// Import `spec`'s root file system as the image `<name>-<key>-<pid>` (the rootfs key, and the
/// process id: two test runs at once each remove only their own), after sweeping what killed
/// runs left. It runs as uid 999 the entrypoint `spec` carries, with the test label and
/// `changes` (its environment, port and volume).
pub(crate) fn import_rootfs(spec: &Rootfs, name: &str, changes: &[&str]) -> String {
    let tar = rootfs_tar(spec);
    let key = tar
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("rootfs-")
        .to_string();
    sweep_leftovers();
    let tag = format!("{name}-{key}-{}", std::process::id());
    let mut import = Command::new("docker");
    import.arg("import").args(["--change", "USER 999"]);
    for change in changes {
        import.args(["--change", change]);
    }
    import
        .args(["--change", &format!("LABEL {TEST_LABEL}")])
        .args([
            "--change",
            r#"ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]"#,
        ])
        .arg(&tar)
        .arg(&tag);
    must(&mut import);
    tag
}

/// What test runs that were killed before their cleanup left: their images (by the label and
/// the dead process id in the tag), and containers and volumes of test projects whose
/// directory is gone.
pub(crate) fn sweep_leftovers() {
    let out = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let images = out(&[
        "images",
        "--filter",
        &format!("label={TEST_LABEL}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    for tag in images.lines() {
        let pid = tag.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = out(&["image", "rm", "--force", tag]);
        }
    }
    for kind in ["container", "volume"] {
        let listing = if kind == "container" {
            out(&[
                "ps",
                "-a",
                "--filter",
                "label=pyenvx.project",
                "--format",
                "{{.Names}} {{.Label \"pyenvx.project\"}}",
            ])
        } else {
            out(&[
                "volume",
                "ls",
                "--filter",
                "label=pyenvx.project",
                "--format",
                "{{.Name}} {{.Label \"pyenvx.project\"}}",
            ])
        };
        for line in listing.lines() {
            let Some((name, project)) = line.split_once(' ') else {
                continue;
            };
            let ours = project.contains("/pyenvx-test-");
            if ours && !Path::new(project).exists() {
                if kind == "container" {
                    let _ = out(&["rm", "--force", "--volumes", name]);
                } else {
                    let _ = out(&["volume", "rm", "--force", name]);
                }
            }
        }
    }
}

/// Remove the image (after the last container using it is gone).
pub fn remove_pg_image(tag: &str) {
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", tag])
        .stdin(Stdio::null())
        .output();
}

/// Remove containers and volumes labelled with `project` (a project root).
pub fn remove_project_containers(project: &Path) {
    let filter = format!("label=pyenvx.project={}", project.display());
    for (list, rm) in [
        (
            vec!["ps", "-aq", "--filter", &filter],
            vec!["rm", "-f", "-v"],
        ),
        (
            vec!["volume", "ls", "-q", "--filter", &filter],
            vec!["volume", "rm", "-f"],
        ),
    ] {
        let out = Command::new("docker").args(&list).output().unwrap();
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("docker").args(&rm).arg(id).output();
        }
    }
}
