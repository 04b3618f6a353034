//! python-build-standalone (PBS) style `install_only_stripped` archives, built from the
//! pyenv interpreters under `/root/.pyenv/versions`, cached across tests and test runs.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::machine::{pyenv_versions_dir, PYENV_ROOT_VAR};

/// Release tag of the fake PBS release; far in the future so it never collides with a real one.
pub const RELEASE_TAG: &str = "20990101";

/// Bump whenever the archive layout changes so every cached fixture is rebuilt.
pub const FIXTURE_FORMAT_VERSION: u32 = 1;

/// Target triple in the archive names (the only platform the fixtures exist for).
pub const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// The prefix PBS builds with; it shows up in sysconfig data, Makefiles and pkg-config files.
pub const PBS_BUILD_PREFIX: &str = "/install";

/// The minors CI machines are expected to have (any other `3.N` in pyenv works too).
pub const FIXTURE_MINORS: [&str; 4] = ["3.10", "3.11", "3.12", "3.13"];

/// Path absolute-path entries in [`Malicious::AbsolutePath`] point at; must never appear.
pub const ABSOLUTE_ESCAPE_TARGET: &str = "/tmp/pyenvx-fixture-absolute-escape";

/// File name a `python/../../` entry of [`Malicious::ParentTraversal`] tries to create.
pub const PARENT_ESCAPE_NAME: &str = "pyenvx-fixture-parent-escape";

/// A cached PBS-layout archive of one interpreter.
#[derive(Debug, Clone)]
pub struct PbsArchive {
    /// Full version, e.g. `3.12.1`.
    pub version: String,
    /// Minor version, e.g. `3.12`.
    pub minor: String,
    /// PBS file name, e.g. `cpython-3.12.1+20990101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`.
    pub file_name: String,
    /// The cached archive; never modify it (mirrors hard-link it).
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
}

/// The file name PBS gives the `install_only_stripped` build of `version` in [`RELEASE_TAG`].
pub fn pbs_file_name(version: &str) -> String {
    format!("cpython-{version}+{RELEASE_TAG}-{TRIPLE}-install_only_stripped.tar.gz")
}

/// Root of every cached fixture (inside cargo's per-target tmp dir, so `cargo clean` drops it).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenvx-fixtures")
}

/// Full version of the newest pyenv interpreter for `minor` (`"3.12"` -> `"3.12.1"` here);
/// panics with a clear message when this machine lacks one.
pub fn full_version(minor: &str) -> String {
    let prefix = format!("{minor}.");
    let newest = fs::read_dir(pyenv_versions_dir())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let patch: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((patch, name))
        })
        .max();
    match newest {
        Some((_, version)) => version,
        None => panic!(
            "no pyenv-built Python {minor} under {}; the PBS test fixtures are built from it \
             (install it with `pyenv install {minor}`, or set {PYENV_ROOT_VAR})",
            pyenv_versions_dir().display()
        ),
    }
}

/// The PBS-layout archive for `minor` (e.g. `"3.12"`), built on first use and cached.
pub fn pbs_archive(minor: &str) -> &'static PbsArchive {
    // One cell per minor, created under a short lock, so different minors build in parallel.
    static CELLS: Mutex<BTreeMap<String, &'static OnceLock<PbsArchive>>> =
        Mutex::new(BTreeMap::new());
    let cell = {
        let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
        *cells
            .entry(minor.to_string())
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
    };
    cell.get_or_init(|| cached_archive(minor, &full_version(minor)))
}

/// Every archive in [`FIXTURE_MINORS`], oldest Python first.
pub fn all_pbs_archives() -> Vec<&'static PbsArchive> {
    FIXTURE_MINORS
        .iter()
        .map(|minor| pbs_archive(minor))
        .collect()
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read for hashing");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex::encode(hasher.finalize())
}

/// Lower-case hex SHA-256 of a byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// Cache

/// What `meta.json` records about a finished archive; size and mtime catch in-place edits.
struct Meta {
    sha256: String,
    size: u64,
    mtime_ns: i128,
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn cached_archive(minor: &str, version: &str) -> PbsArchive {
    let src = pyenv_versions_dir().join(version);
    let exe = src.join("bin").join(format!("python{minor}"));
    let exe_meta = fs::metadata(&exe).unwrap_or_else(|e| {
        panic!("fixture interpreter {} is missing ({e}); the PBS fixtures need pyenv's Python {version}", exe.display())
    });

    // Key: source path, its binary's identity, and the format version.
    let key_material = format!(
        "{FIXTURE_FORMAT_VERSION}\0{RELEASE_TAG}\0{}\0{}\0{}",
        src.display(),
        exe_meta.ino(),
        mtime_ns(&exe_meta)
    );
    let key = &sha256_bytes(key_material.as_bytes())[..12];
    let dir = fixtures_dir().join(format!("{version}-v{FIXTURE_FORMAT_VERSION}-{key}"));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

    let file_name = pbs_file_name(version);
    let path = dir.join(&file_name);
    let meta_path = dir.join("meta.json");
    let make = |meta: Meta| PbsArchive {
        version: version.to_string(),
        minor: minor.to_string(),
        file_name: file_name.clone(),
        path: path.clone(),
        sha256: meta.sha256,
        size: meta.size,
    };

    if let Some(meta) = load_meta(&path, &meta_path) {
        return make(meta);
    }
    // Every test process may get here at once; one builds, the rest wait and reuse.
    let lock = File::create(dir.join(".lock")).expect("create fixture lock file");
    lock.lock().expect("lock fixture dir");
    if let Some(meta) = load_meta(&path, &meta_path) {
        return make(meta);
    }

    let started = Instant::now();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let (sha256, size) = build_archive(&src, minor, &tmp, &dir);
    fs::rename(&tmp, &path).expect("rename fixture archive into place");
    let stat = fs::metadata(&path).expect("stat fixture archive");
    assert_eq!(
        stat.len(),
        size,
        "fixture archive size changed while writing"
    );
    let json = serde_json::json!({
        "sha256": sha256,
        "size": size,
        "mtime_ns": mtime_ns(&stat).to_string(),
        "source": src.display().to_string(),
    });
    let meta_tmp = dir.join(format!(".meta.json.tmp-{}", std::process::id()));
    fs::write(&meta_tmp, serde_json::to_vec_pretty(&json).unwrap()).expect("write fixture meta");
    fs::rename(&meta_tmp, &meta_path).expect("rename fixture meta into place");
    eprintln!(
        "[fixtures] built {file_name}: {:.1} MiB in {:.1?}",
        size as f64 / (1024.0 * 1024.0),
        started.elapsed()
    );
    drop(lock);
    load_meta(&path, &meta_path)
        .map(make)
        .expect("fixture just built is readable")
}

fn load_meta(path: &Path, meta_path: &Path) -> Option<Meta> {
    let json: serde_json::Value = serde_json::from_slice(&fs::read(meta_path).ok()?).ok()?;
    let meta = Meta {
        sha256: json["sha256"].as_str()?.to_string(),
        size: json["size"].as_u64()?,
        mtime_ns: json["mtime_ns"].as_str()?.parse().ok()?,
    };
    let stat = fs::metadata(path).ok()?;
    if stat.len() != meta.size || mtime_ns(&stat) != meta.mtime_ns {
        eprintln!("[fixtures] {} was modified; rebuilding", path.display());
        return None;
    }
    Some(meta)
}

// ---------------------------------------------------------------------------------------------
// Building

/// Counts and hashes everything written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct BuildCtx<'a> {
    src: &'a Path,
    minor: &'a str,
    /// Scratch dir for stripped ELF copies.
    scratch: PathBuf,
    strip_available: bool,
}

/// Writes the archive of `src` to `dest`; returns (sha256, size).
fn build_archive(src: &Path, minor: &str, dest: &Path, work_dir: &Path) -> (String, u64) {
    let scratch = work_dir.join(format!(".strip-{}", std::process::id()));
    fs::create_dir_all(&scratch).expect("create strip scratch dir");
    let ctx = BuildCtx {
        src,
        minor,
        scratch: scratch.clone(),
        strip_available: Command::new("strip")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
    };
    if !ctx.strip_available {
        eprintln!("[fixtures] `strip` not found; archives keep debug info and will be larger");
    }

    let file = File::create(dest).unwrap_or_else(|e| panic!("create {}: {e}", dest.display()));
    let hashing = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut builder = tar::Builder::new(GzEncoder::new(hashing, Compression::new(1)));
    builder.follow_symlinks(false);

    append_dir(
        &mut builder,
        Path::new("python"),
        &fs::metadata(src).unwrap(),
    );
    for top in ["bin", "include", "lib"] {
        add_tree(&mut builder, &ctx, Path::new(top));
    }

    let gz = builder.into_inner().expect("finish tar");
    let mut hashing = gz.finish().expect("finish gzip");
    hashing.flush().expect("flush archive");
    hashing.inner.get_ref().sync_all().ok();
    let _ = fs::remove_dir_all(&scratch);
    (hex::encode(hashing.hasher.finalize()), hashing.count)
}

/// Whether `rel` (relative to the interpreter prefix) belongs in the archive.
fn include(rel: &Path, minor: &str, is_dir: bool) -> bool {
    let parts: Vec<&str> = rel
        .iter()
        .map(|p| p.to_str().expect("utf-8 path"))
        .collect();
    let name = *parts.last().unwrap();
    if name == "__pycache__" || name.ends_with(".pyc") {
        return false;
    }
    let stdlib = format!("python{minor}");
    match parts.as_slice() {
        // PBS releases before mid-2024 have no unversioned `python`; pyenvx must add it.
        ["bin", name] => {
            !matches!(*name, "python" | "python-config" | "pip" | "pydoc" | "idle")
                && !name.starts_with("idle3")
                && !name.ends_with("-gdb.py")
        }
        ["lib", dir, name, ..] if *dir == stdlib => match (*name, parts.len()) {
            ("test" | "idlelib" | "tkinter" | "turtledemo", 3) => false,
            (_, 3) => true,
            ("site-packages", 4) => {
                let pkg = parts[3];
                pkg == "pip" || (pkg.starts_with("pip-") && pkg.ends_with(".dist-info"))
            }
            (config, 4) if config.starts_with("config-") => !parts[3].ends_with(".a"),
            _ => true,
        },
        ["lib", dir] if *dir == stdlib => is_dir,
        ["lib", name] => name.starts_with("libpython") || *name == "pkgconfig",
        _ => true,
    }
}

fn add_tree<W: Write>(builder: &mut tar::Builder<W>, ctx: &BuildCtx, rel: &Path) {
    let path = ctx.src.join(rel);
    let meta =
        fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    let archive_path = Path::new("python").join(rel);
    let file_type = meta.file_type();
    if !include(rel, ctx.minor, file_type.is_dir()) {
        return;
    }
    if file_type.is_dir() {
        append_dir(builder, &archive_path, &meta);
        let mut children: Vec<_> = fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("read dir {}: {e}", path.display()))
            .map(|e| e.expect("dir entry").file_name())
            .collect();
        children.sort();
        for child in children {
            add_tree(builder, ctx, &rel.join(child));
        }
    } else if file_type.is_symlink() {
        let target = fs::read_link(&path).unwrap();
        assert!(
            points_inside(rel, &target),
            "fixture source symlink {} -> {} leaves the prefix",
            path.display(),
            target.display()
        );
        let mut header = header_for(&meta, tar::EntryType::Symlink);
        header.set_link_name(&target).expect("symlink target fits");
        builder
            .append_data(&mut header, &archive_path, io::empty())
            .expect("append symlink");
    } else if file_type.is_file() {
        let bytes = file_contents(ctx, rel, &path);
        let mut header = header_for(&meta, tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        builder
            .append_data(&mut header, &archive_path, bytes.as_slice())
            .expect("append file");
    }
}

fn header_for(meta: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.permissions().mode() & 0o7777);
    header.set_mtime(meta.mtime().max(0) as u64);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(0);
    header
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, archive_path: &Path, meta: &fs::Metadata) {
    let mut header = header_for(meta, tar::EntryType::Directory);
    builder
        .append_data(&mut header, archive_path, io::empty())
        .expect("append dir");
}

/// Whether a symlink at `rel` with `target` stays inside the prefix.
fn points_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = rel.components().count() as isize - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// A file's archived bytes: ELF files stripped, build paths rewritten to PBS's `/install`,
/// and `bin/` script shebangs made relocatable the way PBS's `fix_shebangs.py` does.
fn file_contents(ctx: &BuildCtx, rel: &Path, path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if bytes.starts_with(b"\x7fELF") {
        return strip_elf(ctx, path).unwrap_or(bytes);
    }
    let prefix = ctx.src.to_str().unwrap().as_bytes();
    let name = rel.file_name().unwrap().to_str().unwrap();
    let in_bin = rel.parent() == Some(Path::new("bin"));
    let parent_name = rel
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");

    if in_bin
        && bytes.starts_with(b"#!")
        && first_line(&bytes)
            .windows(prefix.len())
            .any(|w| w == prefix)
    {
        // `#!/root/.pyenv/versions/3.12.1/bin/python3.12` -> PBS's relocatable sh trampoline.
        let rest = &bytes[first_line(&bytes).len()..];
        let mut out = format!(
            "#!/bin/sh\n\"exec\" \"$(dirname $0)/python{}\" \"$0\" \"$@\"\n",
            ctx.minor
        )
        .into_bytes();
        out.extend_from_slice(rest);
        return out;
    }
    let rewrite = in_bin
        || (name.starts_with("_sysconfigdata_") && name.ends_with(".py"))
        || (parent_name.starts_with("config-")
            && (name == "Makefile" || name == "python-config.py"))
        || (parent_name == "pkgconfig" && name.ends_with(".pc"));
    if rewrite {
        replace_all(&bytes, prefix, PBS_BUILD_PREFIX.as_bytes())
    } else {
        bytes
    }
}

/// The first line including its `\n`.
fn first_line(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => bytes,
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(replacement);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// `strip --strip-debug` into a scratch copy (PBS ships `_stripped` builds); None if unavailable.
fn strip_elf(ctx: &BuildCtx, path: &Path) -> Option<Vec<u8>> {
    if !ctx.strip_available {
        return None;
    }
    let out = ctx.scratch.join("stripped");
    let status = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(path)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let bytes = fs::read(&out).ok();
    let _ = fs::remove_file(&out);
    bytes
}

// ---------------------------------------------------------------------------------------------
// Malicious archives

/// Kinds of hostile archive an installer must refuse to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malicious {
    /// A `python/../../pyenvx-fixture-parent-escape` entry.
    ParentTraversal,
    /// An entry with the absolute path [`ABSOLUTE_ESCAPE_TARGET`].
    AbsolutePath,
    /// `python/bin/evil -> /etc/passwd`.
    SymlinkAbsolute,
    /// `python/lib/evil -> ../../outside`.
    SymlinkParent,
    /// `python/escape -> ../..`, then a file `python/escape/pyenvx-fixture-symlink-write`.
    SymlinkThenWrite,
}

impl Malicious {
    /// Every kind, for tests that loop over them.
    pub const ALL: [Malicious; 5] = [
        Malicious::ParentTraversal,
        Malicious::AbsolutePath,
        Malicious::SymlinkAbsolute,
        Malicious::SymlinkParent,
        Malicious::SymlinkThenWrite,
    ];

    fn slug(self) -> &'static str {
        match self {
            Malicious::ParentTraversal => "parent-traversal",
            Malicious::AbsolutePath => "absolute-path",
            Malicious::SymlinkAbsolute => "symlink-absolute",
            Malicious::SymlinkParent => "symlink-parent",
            Malicious::SymlinkThenWrite => "symlink-then-write",
        }
    }
}

/// A tiny PBS-looking `.tar.gz` (python/bin/python3.12, python/lib/python3.12/os.py) with one
/// hostile entry; returns (path, sha256). Add it to a [`crate::common::Mirror`] with `add_file`.
pub fn malicious_archive(kind: Malicious) -> (PathBuf, String) {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::new(1)));
    let dir = |builder: &mut tar::Builder<_>, path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        builder.append_data(&mut h, path, io::empty()).unwrap();
    };
    let file = |builder: &mut tar::Builder<_>, path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        builder.append_data(&mut h, path, data).unwrap();
    };
    // Raw header: the name (and link name) bytes go in as-is, bypassing the tar crate's checks.
    let raw = |builder: &mut tar::Builder<_>,
               kind: tar::EntryType,
               name: &str,
               link: &str,
               data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Symlink {
            0o777
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        builder.append(&h, data).unwrap();
    };

    for d in [
        "python",
        "python/bin",
        "python/lib",
        "python/lib/python3.12",
    ] {
        dir(&mut builder, d);
    }
    file(
        &mut builder,
        "python/bin/python3.12",
        b"#!/bin/sh\necho fake python\n",
        0o755,
    );
    file(
        &mut builder,
        "python/lib/python3.12/os.py",
        b"# not really os\n",
        0o644,
    );
    let payload = b"pwned by a malicious archive\n";
    match kind {
        Malicious::ParentTraversal => {
            let name = format!("python/../../{PARENT_ESCAPE_NAME}");
            raw(&mut builder, tar::EntryType::Regular, &name, "", payload);
        }
        Malicious::AbsolutePath => {
            raw(
                &mut builder,
                tar::EntryType::Regular,
                ABSOLUTE_ESCAPE_TARGET,
                "",
                payload,
            );
        }
        Malicious::SymlinkAbsolute => {
            raw(
                &mut builder,
                tar::EntryType::Symlink,
                "python/bin/evil",
                "/etc/passwd",
                b"",
            );
        }
        Malicious::SymlinkParent => {
            raw(
                &mut builder,
                tar::EntryType::Symlink,
                "python/lib/evil",
                "../../outside",
                b"",
            );
        }
        Malicious::SymlinkThenWrite => {
            raw(
                &mut builder,
                tar::EntryType::Symlink,
                "python/escape",
                "../..",
                b"",
            );
            raw(
                &mut builder,
                tar::EntryType::Regular,
                "python/escape/pyenvx-fixture-symlink-write",
                "",
                payload,
            );
        }
    }
    let bytes = builder.into_inner().unwrap().finish().unwrap();

    let dir = fixtures_dir().join("malicious");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.tar.gz", kind.slug()));
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:?}",
        kind.slug(),
        std::process::id(),
        std::thread::current().id()
    ));
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &path).unwrap();
    (path, sha256_bytes(&bytes))
}
