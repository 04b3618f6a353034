//! A stand-in for the official `python:X.Y-slim` image, for a Docker engine with no registry.
//!
//! `docker import` of a root filesystem assembled from this machine's files: the pyenv CPython
//! of that minor at its own prefix (its `libpython` has RUNPATH `/root/.pyenv/versions/X/lib`,
//! so nothing needs patching), `python`/`python3`/`pip` in `/usr/local/bin` as in the official
//! image, and what a generated Dockerfile's `RUN` lines use (`/bin/sh`, `useradd`, `chown`,
//! `rm`) with every shared library they link (from `ldd`). The layout copies the host's merged
//! `/usr` (`/bin -> usr/bin`, …).
//!
//! The root filesystem is cached under target/tmp by a key of its contents; the image is tagged
//! `pyenvx-test/python:X.Y-slim` and labelled with the key, so test processes share it. Each
//! user holds a shared lock while it uses the image; the last one out (the one that gets the
//! lock exclusively) removes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::machine::pyenv_versions_dir;
use super::pbs::{fixtures_dir, full_version, sha256_bytes};
use super::pgimage::must;

/// Bump when the root filesystem's layout changes.
const PYIMAGE_FORMAT_VERSION: u32 = 1;

/// Label carrying the root filesystem's key.
const KEY_LABEL: &str = "pyenvx-test.pyimage";

/// The programs the generated Dockerfile runs besides Python.
const TOOLS: &[&str] = &[
    "/bin/sh",
    "/usr/sbin/useradd",
    "/usr/bin/chown",
    "/usr/bin/rm",
];

/// A stand-in image in use; dropping the last user removes it from the engine.
pub struct PythonImage {
    pub tag: String,
    use_lock: Option<File>,
    use_lock_path: PathBuf,
}

impl Drop for PythonImage {
    fn drop(&mut self) {
        drop(self.use_lock.take());
        // Nobody else holds it shared: this was the last user.
        let Ok(lock) = File::options()
            .read(true)
            .write(true)
            .open(&self.use_lock_path)
        else {
            return;
        };
        if lock.try_lock().is_ok() {
            let _ = Command::new("docker")
                .args(["image", "rm", "--force", &self.tag])
                .stdin(Stdio::null())
                .output();
        }
    }
}

/// `pyenvx-test/python:<minor>-slim`, imported if the engine lacks this exact root filesystem.
pub fn python_image(minor: &str) -> PythonImage {
    let version = full_version(minor);
    let dir = fixtures_dir().join("pyimage");
    fs::create_dir_all(&dir).unwrap();
    let tag = format!("pyenvx-test/python:{minor}-slim");
    // Shared while in use (taken first, so a last user's removal cannot slip in between the
    // check below and the use); the build lock makes one process import while the rest wait.
    let use_lock_path = dir.join(format!("{minor}.use.lock"));
    let use_lock = File::create(&use_lock_path).unwrap();
    use_lock.lock_shared().unwrap();
    let build_lock = File::create(dir.join(format!("{minor}.build.lock"))).unwrap();
    build_lock.lock().unwrap();

    let files = rootfs_files(&version);
    let mut key_input = format!("{PYIMAGE_FORMAT_VERSION}\n{version}\n");
    for (path, entry) in &files {
        key_input.push_str(&format!("{}:{entry:?}\n", path.display()));
    }
    let key = sha256_bytes(key_input.as_bytes())[..16].to_string();
    let current = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Config.Labels \"{KEY_LABEL}\"}}}}"),
            &tag,
        ])
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if current.as_deref() != Some(key.as_str()) {
        let started = Instant::now();
        let tar = rootfs_tar(&dir, minor, &key, &files);
        must(
            Command::new("docker")
                .arg("import")
                .args([
                    "--change",
                    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                ])
                .args(["--change", "ENV LANG=C.UTF-8"])
                .args(["--change", &format!("ENV PYTHON_VERSION={version}")])
                .args(["--change", &format!("LABEL {KEY_LABEL}={key}")])
                .args(["--change", r#"CMD ["python3"]"#])
                .arg(&tar)
                .arg(&tag),
        );
        eprintln!(
            "[fixtures] imported {tag} (Python {version}) in {:.1?}",
            started.elapsed()
        );
    }
    drop(build_lock);
    PythonImage {
        tag,
        use_lock: Some(use_lock),
        use_lock_path,
    }
}

/// One entry of the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A host file copied as is (size and mtime in the key).
    File {
        size: u64,
        mtime: i64,
    },
    Symlink(PathBuf),
    Dir(u32),
    /// Written by the builder.
    Text(u32, String),
}

/// Everything in the image, by absolute path.
fn rootfs_files(version: &str) -> BTreeMap<PathBuf, Entry> {
    let prefix = pyenv_versions_dir().join(version);
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let mut files = BTreeMap::new();
    let mut elf = Vec::new();

    // The interpreter: what an official slim image has (no tests, no tkinter/idle, pip only).
    let mut walk = vec![prefix.join("bin"), prefix.join("lib")];
    while let Some(p) = walk.pop() {
        let rel = p.strip_prefix(&prefix).unwrap();
        if !keep(rel, &minor) {
            continue;
        }
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            files.insert(p.clone(), Entry::Dir(0o755));
            for e in fs::read_dir(&p).unwrap().flatten() {
                walk.push(e.path());
            }
        } else if meta.file_type().is_symlink() {
            files.insert(p.clone(), Entry::Symlink(fs::read_link(&p).unwrap()));
        } else {
            if p.extension().is_some_and(|e| e == "so") || is_elf(&p) {
                elf.push(p.clone());
            }
            files.insert(p.clone(), host_file(&meta));
        }
    }
    let python = prefix.join(format!("bin/python{minor}"));
    for (name, target) in [
        ("python", python.clone()),
        ("python3", python.clone()),
        ("pip", prefix.join(format!("bin/pip{minor}"))),
        ("pip3", prefix.join(format!("bin/pip{minor}"))),
    ] {
        files.insert(
            PathBuf::from("/usr/local/bin").join(name),
            Entry::Symlink(target),
        );
    }
    for tool in TOOLS {
        add_host_path(&mut files, Path::new(tool));
        elf.push(fs::canonicalize(tool).unwrap());
    }
    // All of glibc, as every Debian image has it: wheels bundle libraries that link parts of
    // it no interpreter module does (psycopg-binary's libpq wants libpthread.so.0).
    for lib in glibc_libraries() {
        add_host_path(&mut files, &lib);
    }
    // Shared libraries, following ldd's paths through the merged-/usr links.
    for binary in elf {
        let out = Command::new("ldd").arg(&binary).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line
                .split("=>")
                .last()
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(path) = path {
                add_host_path(&mut files, Path::new(path));
            }
        }
    }
    // The merged /usr of Debian, as links at the top.
    for name in ["bin", "lib", "lib64", "sbin"] {
        let top = Path::new("/").join(name);
        if let Ok(target) = fs::read_link(&top) {
            files.insert(top, Entry::Symlink(target));
        }
    }
    // What useradd reads and writes, and the directories every image has.
    let text = |mode, s: &str| Entry::Text(mode, s.to_string());
    files.insert(
        "/etc/passwd".into(),
        text(0o644, "root:x:0:0:root:/root:/bin/sh\n"),
    );
    files.insert("/etc/group".into(), text(0o644, "root:x:0:\n"));
    files.insert(
        "/etc/shadow".into(),
        text(0o640, "root:*:19000:0:99999:7:::\n"),
    );
    files.insert("/etc/gshadow".into(), text(0o640, "root:*::\n"));
    files.insert(
        "/etc/login.defs".into(),
        host_file(&fs::metadata("/etc/login.defs").unwrap()),
    );
    for (dir, mode) in [
        ("/etc/skel", 0o755),
        ("/home", 0o755),
        ("/tmp", 0o1777),
        ("/root", 0o755),
        ("/var/tmp", 0o1777),
    ] {
        files.insert(dir.into(), Entry::Dir(mode));
    }
    files
}

/// The shared objects of Debian's `libc6` package (none when dpkg cannot say).
fn glibc_libraries() -> Vec<PathBuf> {
    let Ok(out) = Command::new("dpkg").args(["-L", "libc6"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(".so") && !l.contains("/gconv/") && !l.starts_with("/etc"))
        .map(PathBuf::from)
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()))
        .collect()
}

/// Whether `rel` (below the interpreter's prefix) is in the image.
fn keep(rel: &Path, minor: &str) -> bool {
    let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap()).collect();
    let name = parts.last().copied().unwrap_or_default();
    if name == "__pycache__" || name.ends_with(".pyc") || name.ends_with(".a") {
        return false;
    }
    let stdlib = format!("python{minor}");
    match parts.as_slice() {
        ["lib", dir, sub, ..] if *dir == stdlib => match (*sub, parts.len()) {
            ("test" | "idlelib" | "tkinter" | "turtledemo" | "ensurepip", 3) => false,
            ("site-packages", 4) => {
                name == "pip" || (name.starts_with("pip-") && name.ends_with(".dist-info"))
            }
            ("lib-dynload", 4) => !name.starts_with("_tkinter"),
            _ => true,
        },
        ["lib", name] if *name != stdlib => name.starts_with("libpython") && !name.ends_with(".a"),
        _ => true,
    }
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

fn host_file(meta: &fs::Metadata) -> Entry {
    Entry::File {
        size: meta.len(),
        mtime: meta.mtime(),
    }
}

/// A host path at its real location (directories resolved), plus whatever its links lead to.
fn add_host_path(files: &mut BTreeMap<PathBuf, Entry>, path: &Path) {
    let parent = fs::canonicalize(path.parent().unwrap()).unwrap();
    let real = parent.join(path.file_name().unwrap());
    if files.contains_key(&real) {
        return;
    }
    let meta = fs::symlink_metadata(&real).unwrap_or_else(|e| panic!("{}: {e}", real.display()));
    if meta.file_type().is_symlink() {
        let target = fs::read_link(&real).unwrap();
        files.insert(real.clone(), Entry::Symlink(target.clone()));
        add_host_path(files, &parent.join(target));
    } else {
        files.insert(real, host_file(&meta));
    }
}

/// The root filesystem as a tar file for `docker import` (cached by key).
fn rootfs_tar(dir: &Path, minor: &str, key: &str, files: &BTreeMap<PathBuf, Entry>) -> PathBuf {
    let name = format!("rootfs-{minor}-{key}.tar");
    let path = dir.join(&name);
    if path.is_file() {
        return path;
    }
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut tar = tar::Builder::new(File::create(&tmp).unwrap());
    tar.follow_symlinks(false);
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(size);
        h.set_mtime(0);
        h
    };
    for (abs, entry) in files {
        // Parents first (the map is sorted, but parents may not be listed themselves).
        for parent in abs
            .ancestors()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if parent == Path::new("/") || files.contains_key(parent) {
                continue;
            }
            if dirs.insert(parent.to_path_buf()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, rel(parent), std::io::empty())
                    .unwrap();
            }
        }
        match entry {
            Entry::Dir(mode) => {
                let mut h = header(tar::EntryType::Directory, *mode, 0);
                tar.append_data(&mut h, rel(abs), std::io::empty()).unwrap();
            }
            Entry::Symlink(target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut h, rel(abs), target).unwrap();
            }
            Entry::Text(mode, body) => {
                let mut h = header(tar::EntryType::Regular, *mode, body.len() as u64);
                tar.append_data(&mut h, rel(abs), body.as_bytes()).unwrap();
            }
            Entry::File { .. } => {
                let meta = fs::metadata(abs).unwrap();
                let mut h = header(tar::EntryType::Regular, meta.mode() & 0o7777, meta.len());
                tar.append_data(&mut h, rel(abs), File::open(abs).unwrap())
                    .unwrap_or_else(|e| panic!("add {}: {e}", abs.display()));
            }
        }
    }
    tar.into_inner().unwrap().sync_all().unwrap();
    fs::rename(&tmp, &path).unwrap();
    // Older root filesystems of this minor are of no further use.
    let path_name = name;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("rootfs-{minor}-")) && name != path_name {
            let _ = fs::remove_file(e.path());
        }
    }
    path
}

fn rel(abs: &Path) -> &Path {
    abs.strip_prefix("/").unwrap_or(abs)
}

/// The PostgreSQL stand-in ([`pg_image`](super::pgimage::pg_image)) as compose files use it:
/// with the server's programs on PATH, as the official image has them (the generated
/// healthcheck runs `pg_isready` by name). Returns the tag and every tag to remove afterwards
/// (with [`remove_pg_image`](super::pgimage::remove_pg_image)).
pub fn compose_pg_image() -> (String, Vec<String>) {
    let base = super::pgimage::pg_image();
    let out = must(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &base,
    ]));
    if String::from_utf8_lossy(&out.stdout).contains("/usr/lib/postgresql/15/bin") {
        return (base.clone(), vec![base]);
    }
    let tag = format!("{base}-path");
    let mut build = Command::new("docker")
        .args(["build", "--quiet", "--tag", &tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut build.stdin.take().unwrap(),
        format!(
            "FROM {base}\nENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let out = build.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build of {tag} failed\n{}",
        super::context::describe(&out)
    );
    (tag.clone(), vec![tag, base])
}
