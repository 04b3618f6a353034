//! A PEP 503 "simple" package index built from the real wheels in the shared wheelhouse,
//! served on loopback by [`TestServer`], plus the uv binary shipped in the wheelhouse.
//!
//! Layout of [`package_index`] (built once, cached under `target/tmp/pyenvx-fixtures/index-v1`):
//!
//! ```text
//! simple/index.html                 every project, `<a href="<name>/">`
//! simple/<normalized-name>/index.html
//!     <a href="../../files/<wheel>#sha256=<hex>" data-requires-python="&gt;=3.10"><wheel></a>
//! files/<wheel>                     hard links to (or copies of) the wheelhouse files
//! KEY                               SHA-256 of the wheelhouse's SHA256SUMS it was built from
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use super::pbs::{fixtures_dir, sha256_bytes, sha256_file};
use super::server::TestServer;

/// Bump whenever the index layout changes (the directory name carries it).
pub const INDEX_FORMAT_VERSION: u32 = 1;

/// The wheelhouse ([`super::machine::wheelhouse`]); a test that needs it fails naming it when
/// it is not there.
pub fn wheelhouse_dir() -> PathBuf {
    let dir = super::machine::wheelhouse();
    assert!(
        dir.join("SHA256SUMS").is_file(),
        "no wheelhouse at {} (its SHA256SUMS is missing): put `shared/wheelhouse` beside the \
         checkout or set {}",
        dir.display(),
        super::machine::WHEELHOUSE_VAR
    );
    dir
}

/// PEP 503 normalization: runs of `-`, `_`, `.` become one `-`, lower-cased.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

/// One wheel of the wheelhouse.
#[derive(Debug, Clone)]
pub struct Wheel {
    /// File name, e.g. `django-5.2.19-py3-none-any.whl`.
    pub file_name: String,
    /// PEP 503 normalized project name, e.g. `django`, `psycopg-binary`.
    pub project: String,
    /// Version from the file name, e.g. `5.2.19`.
    pub version: String,
    /// Lower-case hex SHA-256 (from `SHA256SUMS`).
    pub sha256: String,
}

/// Every wheel listed in the wheelhouse's `SHA256SUMS`, in file-name order.
pub fn wheelhouse_wheels() -> Vec<Wheel> {
    let sums = wheelhouse_dir().join("SHA256SUMS");
    let text = fs::read_to_string(&sums).unwrap_or_else(|e| {
        panic!(
            "read {}: {e}; the package-index fixtures need the shared wheelhouse",
            sums.display()
        )
    });
    let mut wheels: Vec<Wheel> = text
        .lines()
        .filter_map(|line| {
            let (sha256, file_name) = line.split_once(char::is_whitespace)?;
            let file_name = file_name.trim().trim_start_matches('*');
            let stem = file_name.strip_suffix(".whl")?;
            let mut parts = stem.split('-');
            let (dist, version) = (parts.next()?, parts.next()?);
            Some(Wheel {
                file_name: file_name.to_string(),
                project: normalize_name(dist),
                version: version.to_string(),
                sha256: sha256.to_ascii_lowercase(),
            })
        })
        .collect();
    wheels.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    wheels
}

/// `Requires-Python` from a wheel's `*.dist-info/METADATA` (None when the wheel has none).
///
/// `name` is a wheelhouse file name (`django-6.1.3-py3-none-any.whl`), a `project==version`
/// (`Django==6.1.3`, first matching wheel), or a path to any wheel.
pub fn wheel_requires_python(name: &str) -> Option<String> {
    let path = if let Some((project, version)) = name.split_once("==") {
        let project = normalize_name(project.trim());
        let wheel = wheelhouse_wheels()
            .into_iter()
            .find(|w| w.project == project && w.version == version.trim())
            .unwrap_or_else(|| panic!("no wheel for {name} in the wheelhouse"));
        wheelhouse_dir().join(wheel.file_name)
    } else if name.contains('/') {
        PathBuf::from(name)
    } else {
        wheelhouse_dir().join(name)
    };
    requires_python_of(&path)
}

fn requires_python_of(wheel: &Path) -> Option<String> {
    let metadata = read_zip_entry(wheel, |entry| {
        entry.ends_with(".dist-info/METADATA") && entry.matches('/').count() == 1
    })
    .unwrap_or_else(|e| panic!("read METADATA of {}: {e}", wheel.display()));
    let text = String::from_utf8_lossy(&metadata);
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("Requires-Python")
                .then(|| value.trim().to_string())
        })
}

/// Escapes text for HTML content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The index

/// The built index directory (`simple/`, `files/`); built on first use, shared by every test.
pub fn package_index() -> &'static Path {
    static INDEX: OnceLock<PathBuf> = OnceLock::new();
    INDEX.get_or_init(cached_index)
}

/// A running server for [`package_index`]; stops when dropped, so keep it alive.
pub struct ServedIndex {
    /// The server (for `hits`, `requests`, `fault`: paths look like `/simple/django/`,
    /// `/files/django-5.2.19-py3-none-any.whl`).
    pub server: TestServer,
}

impl ServedIndex {
    /// `http://127.0.0.1:PORT/simple/`, for `--index-url` / `PYENVX_INDEX_URL`.
    pub fn simple_url(&self) -> String {
        format!("{}/simple/", self.server.url())
    }

    /// The plain wheelhouse directory, for `--find-links` style tests.
    pub fn find_links_dir() -> PathBuf {
        wheelhouse_dir()
    }
}

/// Builds (or reuses) the index and serves it on loopback.
pub fn serve_index() -> ServedIndex {
    ServedIndex {
        server: TestServer::start(package_index()),
    }
}

fn cached_index() -> PathBuf {
    let wheelhouse = wheelhouse_dir();
    let sums = fs::read(wheelhouse.join("SHA256SUMS"))
        .unwrap_or_else(|e| panic!("read {}/SHA256SUMS: {e}", wheelhouse.display()));
    let key = sha256_bytes(&sums);
    let base = fixtures_dir();
    let dir = base.join(format!("index-v{INDEX_FORMAT_VERSION}"));
    let is_current = || fs::read_to_string(dir.join("KEY")).is_ok_and(|k| k.trim() == key);
    if is_current() {
        return dir;
    }

    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
    // Every test process may get here at once; one builds, the rest wait and reuse.
    let lock = File::create(base.join(format!(".index-v{INDEX_FORMAT_VERSION}.lock")))
        .expect("create index lock file");
    lock.lock().expect("lock index fixture");
    if is_current() {
        return dir;
    }

    let started = Instant::now();
    let tmp = base.join(format!(
        ".index-v{INDEX_FORMAT_VERSION}.tmp-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    let count = build_index(&wheelhouse, &tmp);
    fs::write(tmp.join("KEY"), format!("{key}\n")).expect("write index KEY");
    if dir.exists() {
        // Stale (the wheelhouse changed): move it aside, then drop it once the new one is in.
        let old = base.join(format!(
            ".index-v{INDEX_FORMAT_VERSION}.old-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&old);
        fs::rename(&dir, &old).expect("move stale index aside");
        fs::rename(&tmp, &dir).expect("rename index into place");
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(&tmp, &dir).expect("rename index into place");
    }
    eprintln!(
        "[fixtures] built package index ({count} wheels) in {:.1?}",
        started.elapsed()
    );
    drop(lock);
    dir
}

/// Writes `simple/` and `files/` under `dest`; returns the number of wheels.
fn build_index(wheelhouse: &Path, dest: &Path) -> usize {
    let files = dest.join("files");
    fs::create_dir_all(&files).expect("create index files dir");
    let mut projects: BTreeMap<String, Vec<(Wheel, Option<String>)>> = BTreeMap::new();
    let wheels = wheelhouse_wheels();
    for wheel in &wheels {
        let src = wheelhouse.join(&wheel.file_name);
        let actual = sha256_file(&src);
        assert_eq!(
            actual,
            wheel.sha256,
            "{} does not match the wheelhouse's SHA256SUMS",
            src.display()
        );
        let target = files.join(&wheel.file_name);
        if fs::hard_link(&src, &target).is_err() {
            fs::copy(&src, &target)
                .unwrap_or_else(|e| panic!("copy {} into the index: {e}", src.display()));
        }
        let requires_python = requires_python_of(&src);
        projects
            .entry(wheel.project.clone())
            .or_default()
            .push((wheel.clone(), requires_python));
    }

    let simple = dest.join("simple");
    let mut root = String::from(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"1.0\">\n    <title>Simple index</title>\n  </head>\n  <body>\n",
    );
    for (project, wheels) in &projects {
        let name = html_escape(project);
        root.push_str(&format!("    <a href=\"{name}/\">{name}</a><br/>\n"));
        let mut page = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
             content=\"1.0\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    \
             <h1>Links for {name}</h1>\n"
        );
        for (wheel, requires_python) in wheels {
            let file = html_escape(&wheel.file_name);
            let attr = requires_python
                .as_deref()
                .map(|rp| format!(" data-requires-python=\"{}\"", html_escape(rp)))
                .unwrap_or_default();
            page.push_str(&format!(
                "    <a href=\"../../files/{file}#sha256={}\"{attr}>{file}</a><br/>\n",
                wheel.sha256
            ));
        }
        page.push_str("  </body>\n</html>\n");
        let project_dir = simple.join(project);
        fs::create_dir_all(&project_dir).expect("create project dir");
        fs::write(project_dir.join("index.html"), page).expect("write project page");
    }
    root.push_str("  </body>\n</html>\n");
    fs::write(simple.join("index.html"), root).expect("write simple index");
    wheels.len()
}

// ---------------------------------------------------------------------------------------------
// uv

/// The wheelhouse's uv wheel as (version, path).
fn uv_wheel() -> (String, PathBuf) {
    let wheel = wheelhouse_wheels()
        .into_iter()
        .find(|w| w.project == "uv")
        .expect("a uv wheel in the wheelhouse");
    (wheel.version, wheelhouse_dir().join(wheel.file_name))
}

/// The uv binary from the wheelhouse's uv wheel, extracted once into
/// `target/tmp/pyenvx-fixtures/uv-<version>/uv` (mode 0755).
pub fn shared_uv() -> &'static Path {
    static UV: OnceLock<PathBuf> = OnceLock::new();
    UV.get_or_init(|| {
        let (version, wheel) = uv_wheel();
        let dir = fixtures_dir().join(format!("uv-{version}"));
        let bin = dir.join("uv");
        if bin.is_file() {
            return bin;
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let lock = File::create(dir.join(".lock")).expect("create uv lock file");
        lock.lock().expect("lock uv fixture");
        if bin.is_file() {
            return bin;
        }
        let started = Instant::now();
        let entry = format!("uv-{version}.data/scripts/uv");
        let tmp = dir.join(format!(".uv.tmp-{}", std::process::id()));
        {
            let mut out = BufWriter::new(File::create(&tmp).expect("create uv temp file"));
            copy_zip_entry(&wheel, |name| name == entry, &mut out)
                .unwrap_or_else(|e| panic!("extract {entry} from {}: {e}", wheel.display()));
            out.into_inner()
                .expect("flush uv")
                .sync_all()
                .expect("sync uv");
        }
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod uv");
        fs::rename(&tmp, &bin).expect("rename uv into place");
        eprintln!(
            "[fixtures] extracted uv {version} in {:.1?}",
            started.elapsed()
        );
        drop(lock);
        bin
    })
}

// ---------------------------------------------------------------------------------------------
// A minimal zip reader (stored and deflated entries, CRC-checked): enough for wheels.

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

struct ZipEntry {
    method: u64,
    crc32: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// The first central-directory entry whose name satisfies `want`.
fn find_zip_entry(file: &mut File, want: &dyn Fn(&str) -> bool) -> io::Result<ZipEntry> {
    let len = file.metadata()?.len();
    let tail_len = len.min(66 * 1024);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let (mut cd_size, mut cd_offset) = (le32(&tail, eocd + 12), le32(&tail, eocd + 16));
    if cd_offset == 0xffff_ffff || cd_size == 0xffff_ffff {
        // Zip64: the locator sits right before the EOCD and points at the zip64 EOCD record.
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..l + 4] == [0x50, 0x4b, 0x06, 0x07])
            .ok_or_else(|| bad("zip64 locator missing"))?;
        let mut rec = [0u8; 56];
        file.seek(SeekFrom::Start(le64(&tail, loc + 8)))?;
        file.read_exact(&mut rec)?;
        if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
            return Err(bad("bad zip64 end-of-central-directory record"));
        }
        cd_size = le64(&rec, 40);
        cd_offset = le64(&rec, 48);
    }
    let mut cd = vec![0u8; cd_size as usize];
    file.seek(SeekFrom::Start(cd_offset))?;
    file.read_exact(&mut cd)?;

    let mut at = 0;
    while at + 46 <= cd.len() && cd[at..at + 4] == [0x50, 0x4b, 0x01, 0x02] {
        let name_len = le16(&cd, at + 28) as usize;
        let extra_len = le16(&cd, at + 30) as usize;
        let comment_len = le16(&cd, at + 32) as usize;
        let name = String::from_utf8_lossy(&cd[at + 46..at + 46 + name_len]);
        if want(&name) {
            let mut entry = ZipEntry {
                method: le16(&cd, at + 10),
                crc32: le32(&cd, at + 16) as u32,
                compressed: le32(&cd, at + 20),
                uncompressed: le32(&cd, at + 24),
                local_offset: le32(&cd, at + 42),
            };
            // Zip64 extra field: present values replace the 0xffffffff placeholders in order.
            let extra = &cd[at + 46 + name_len..at + 46 + name_len + extra_len];
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, size) = (le16(extra, e), le16(extra, e + 2) as usize);
                if id == 1 {
                    let mut field = e + 4;
                    for value in [
                        &mut entry.uncompressed,
                        &mut entry.compressed,
                        &mut entry.local_offset,
                    ] {
                        if *value == 0xffff_ffff && field + 8 <= e + 4 + size {
                            *value = le64(extra, field);
                            field += 8;
                        }
                    }
                }
                e += 4 + size;
            }
            return Ok(entry);
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Err(bad("no matching entry"))
}

/// Streams the first entry whose name satisfies `want` into `out`, checking size and CRC-32.
fn copy_zip_entry(path: &Path, want: impl Fn(&str) -> bool, out: &mut dyn Write) -> io::Result<()> {
    let mut file = File::open(path)?;
    let entry = find_zip_entry(&mut file, &want)?;
    let mut local = [0u8; 30];
    file.seek(SeekFrom::Start(entry.local_offset))?;
    file.read_exact(&mut local)?;
    if local[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return Err(bad("bad local file header"));
    }
    let data_start = entry.local_offset + 30 + le16(&local, 26) + le16(&local, 28);
    file.seek(SeekFrom::Start(data_start))?;
    let raw = BufReader::with_capacity(1 << 20, file).take(entry.compressed);
    let mut reader: Box<dyn Read> = match entry.method {
        0 => Box::new(raw),
        8 => Box::new(flate2::read::DeflateDecoder::new(raw)),
        m => return Err(bad(format!("unsupported compression method {m}"))),
    };
    let mut crc = flate2::Crc::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    if u64::from(crc.amount()) != entry.uncompressed & 0xffff_ffff || crc.sum() != entry.crc32 {
        return Err(bad("size or CRC-32 mismatch"));
    }
    Ok(())
}

/// The bytes of the first entry whose name satisfies `want`.
fn read_zip_entry(path: &Path, want: impl Fn(&str) -> bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    copy_zip_entry(path, want, &mut out)?;
    Ok(out)
}
