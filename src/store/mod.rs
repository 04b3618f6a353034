//! The content-addressed store of installed packages, and linking it into environments.
//!
//! Installing Django means unpacking some 3,700 files; switching a project to a Django version the
//! machine has seen before should not do that again. Every distribution uv installs for pyenvx is
//! kept once, unpacked, under `$PYENVX_HOME/store/v1/<key>/` — keyed by the SHA-256 of the file it
//! came from, plus the interpreter tag for builds from source — and environments get hard links
//! to its files. A switch is then a few thousand `link(2)` calls: no network, no unpacking, no uv.
//!
//! Hard links also keep environments independent: pip and uv uninstall by unlinking and install
//! by writing new files, so nothing run inside one sandbox changes the store or another project.
//! The files that differ per environment — `RECORD`, `INSTALLER`, and the scripts in `bin/`, which
//! name the environment's interpreter — are written fresh, never edited through a link.
//! Directories are real in each environment, so `__pycache__` stays per environment too. What
//! links cannot prevent is editing a package's file in place (a debugging `print` in Django's
//! source): that edit shows in every environment sharing the file, as with uv's own hard links.
//!
//! ```text
//! store/v1/<key>/
//!   meta.json     EntryMeta: name, version, the dist-info name, the scripts to generate
//!   site/         files as they go into site-packages, the .dist-info included
//!   scripts/      the wheel's own scripts (`.data/scripts`), with the `#!python` placeholder
//! ```
//!
//! Entries are assembled in a staging directory beside them and renamed into place, so a reader
//! sees a complete entry or none, and two processes fetching the same file both succeed.
//!
//! This module builds and finds entries; what a wheel says about itself (dist-info, entry
//! points, `RECORD`) is read in `metadata`, scripts are unbound and bound in `scripts`, entries
//! go into an environment through `link`, come out through `remove`, and are set aside by `park`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::dirs::Dirs;
use crate::installer::{IndexSettings, Uv};
use crate::reporter::Reporter;
use crate::resolution::Dist;

mod layout;
mod link;
mod metadata;
mod park;
mod remove;
mod scripts;
mod uv_install;

pub use layout::{EntryMeta, Script, StoreEntry};
pub use link::link_into;
pub use metadata::{installed_dists, installed_sha256, InstalledDist};
pub use park::{park_dist, unpark_dist};
pub use remove::remove_dist;

use layout::{in_parallel, DROPPED, META, SAFE_MODE, SCRIPTS, SITE};
use link::{make_dirs, write_new, Linker};
use metadata::{check_component, parse_entry_points, safe_relative, scan_dist_infos, RecordRow};
use scripts::unbind_script;
use uv_install::UvInstall;

/// `$PYENVX_HOME/store/v1`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(dirs: &Dirs) -> Self {
        Self { root: dirs.store() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Wheels: their SHA-256. Sdists: SHA-256 and the interpreter tag (`cp312`), because what a
    /// build produces depends on the interpreter it ran for.
    pub fn key(r: &Dist, python_tag: &str) -> String {
        if r.is_wheel() {
            r.sha256.clone()
        } else {
            format!("{}-{python_tag}", r.sha256)
        }
    }

    /// The complete entry for `key`, if stored.
    pub fn get(&self, key: &str) -> Option<StoreEntry> {
        if !is_key(key) {
            return None;
        }
        let dir = self.root.join(key);
        let bytes = std::fs::read(dir.join(META)).ok()?;
        let meta = serde_json::from_slice(&bytes).ok()?;
        Some(StoreEntry { dir, meta })
    }

    /// Download and unpack `missing` (for the interpreter `python`): plain wheels by pyenvx
    /// itself, the rest with one uv call, then file each distribution as an entry. Every
    /// download is checked against the locked hash (by pyenvx, or by uv).
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &self,
        uv: &Uv,
        python: &Path,
        python_tag: &str,
        missing: &[Dist],
        index: &IndexSettings,
        offline: bool,
        uv_cache: &Path,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let mut wanted: BTreeMap<String, &Dist> = BTreeMap::new();
        for r in missing {
            let key = Self::key(r, python_tag);
            if !is_key(&key) {
                bail!("cannot store {} {}: bad key {key:?}", r.name, r.version);
            }
            // Another process may have stored it since the caller looked.
            if self.get(&key).is_none() {
                wanted.insert(key, r);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        fs_err::create_dir_all(&self.root)?;
        self.clean_stale();
        // Held while it is in use: a run that finds it unheld removes it (see `clean_stale`).
        let (staging, _held) = crate::leftovers::create_held(
            || {
                tempfile::Builder::new()
                    .prefix(".tmp-")
                    .tempdir_in(&self.root)
            },
            |t| t.path(),
        )
        .with_context(|| {
            format!(
                "cannot create a staging directory in {}",
                self.root.display()
            )
        })?;
        if !offline {
            wanted = self.unpack_directly(staging.path(), wanted, reporter)?;
            if wanted.is_empty() {
                return Ok(());
            }
        }
        let target = staging.path().join("target");
        let run = UvInstall {
            uv,
            python,
            index,
            offline,
            uv_cache,
        };
        run.install(staging.path(), &target, &wanted, reporter)?;
        self.store_installed(staging.path(), &target, wanted)
    }

    /// Wheels whose files all go to site-packages or scripts, unpacked here straight from the
    /// download into their entry: one write per file, where uv would unpack into its cache and
    /// then link each file into its staging install. Returns what is left to uv (sdists, data
    /// files, a download pyenvx's client cannot make).
    fn unpack_directly<'a>(
        &self,
        staging: &Path,
        wanted: BTreeMap<String, &'a Dist>,
        reporter: &dyn Reporter,
    ) -> Result<BTreeMap<String, &'a Dist>> {
        let direct = staging.join("direct");
        fs_err::create_dir(&direct)?;
        let mut rest = BTreeMap::new();
        for (key, r) in wanted {
            let dir = direct.join(&key);
            let id = reporter.download_start(&format!("{} {}", r.name, r.version), None);
            let done = unpack_wheel(r, &direct, &dir);
            reporter.download_done(id);
            if done? {
                self.publish(&dir, &key)?;
            } else {
                rest.insert(key, r);
            }
        }
        Ok(rest)
    }

    /// Turn what uv installed into `target` into store entries, each checked against its lock
    /// entry, and publish them.
    fn store_installed(
        &self,
        staging: &Path,
        target: &Path,
        wanted: BTreeMap<String, &Dist>,
    ) -> Result<()> {
        let installed = scan_dist_infos(target)?;
        let whole = exclusive_top_dirs(target, installed.values().map(|(d, _)| d.as_str()))?;
        let entries = staging.join("entries");
        make_dir_all(&entries)?;
        for (key, r) in wanted {
            let (dist_info, version) = installed
                .get(&r.name)
                .with_context(|| format!("uv did not install {} {}", r.name, r.version))?;
            if !same_version(version, &r.version) {
                bail!(
                    "uv installed {} {version}, not the locked {}",
                    r.name,
                    r.version
                );
            }
            let dir = entries.join(&key);
            build_entry(target, dist_info, r, &dir, &whole)
                .with_context(|| format!("cannot store {} {}", r.name, r.version))?;
            self.publish(&dir, &key)?;
        }
        Ok(())
    }

    /// Rename a finished entry into place. Losing the race to another process is success.
    fn publish(&self, built: &Path, key: &str) -> Result<()> {
        let dest = self.root.join(key);
        match std::fs::rename(built, &dest) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
                ) =>
            {
                if self.get(key).is_some() {
                    return Ok(());
                }
                // Something unreadable holds the name (not one of our renames, which are whole):
                // set it aside and take its place.
                let trash = self
                    .root
                    .join(format!(".trash-{key}-{}", std::process::id()));
                fs_err::rename(&dest, &trash)?;
                let _ = std::fs::remove_dir_all(&trash);
                fs_err::rename(built, &dest)?;
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("cannot move {} into place", dest.display())),
        }
    }

    /// Best effort: staging directories of killed runs (no process holds them), and entries
    /// set aside by `publish`.
    fn clean_stale(&self) {
        crate::leftovers::sweep(&self.root, &[".tmp-", ".trash-"]);
    }
}

/// `path` and its missing parents, at most [`SAFE_MODE`] whatever the umask allows.
fn make_dir_all(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(SAFE_MODE)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Clear the bits [`SAFE_MODE`] does not allow from the file at `path` (never through a link).
fn restrict_mode(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_file() && mode & !SAFE_MODE != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & SAFE_MODE))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    }
    Ok(())
}

/// [`restrict_mode`] for every file under `dir`, and directories kept at most [`SAFE_MODE`].
fn restrict_tree(dir: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        return restrict_mode(dir);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & !SAFE_MODE != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & SAFE_MODE))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    for entry in fs_err::read_dir(dir)? {
        restrict_tree(&entry?.path())?;
    }
    Ok(())
}

/// Keys name directories: hex digests and interpreter tags only.
fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn same_version(a: &str, b: &str) -> bool {
    match (
        pep440_rs::Version::from_str(a),
        pep440_rs::Version::from_str(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Wheels up to this size are downloaded into memory and unpacked from there: no scratch copy
/// written to disk and read back. Larger ones (a few machine-learning wheels) go to a file.
const IN_MEMORY_WHEEL: u64 = 256 << 20;

/// A downloaded wheel, whole and hash-checked.
enum Wheel {
    Memory(Vec<u8>),
    File(PathBuf),
}

impl Wheel {
    /// An archive reader of its own, one per writer thread.
    fn archive(&self, name: &str) -> Result<zip::ZipArchive<WheelReader<'_>>> {
        let reader = match self {
            Wheel::Memory(bytes) => WheelReader::Memory(std::io::Cursor::new(bytes)),
            Wheel::File(path) => WheelReader::File(std::io::BufReader::new(
                fs_err::File::open(path)?.into_file(),
            )),
        };
        zip::ZipArchive::new(reader).with_context(|| format!("{name} is not a wheel"))
    }
}

enum WheelReader<'a> {
    Memory(std::io::Cursor<&'a [u8]>),
    File(std::io::BufReader<std::fs::File>),
}

impl std::io::Read for WheelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            WheelReader::Memory(c) => c.read(buf),
            WheelReader::File(f) => f.read(buf),
        }
    }
}

impl std::io::Seek for WheelReader<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match self {
            WheelReader::Memory(c) => c.seek(pos),
            WheelReader::File(f) => f.seek(pos),
        }
    }
}

/// Download `r` (into memory, or into `scratch` when large) and check it against its locked
/// hash. `Ok(None)`: pyenvx's client could not fetch it, and uv is to try.
fn download_wheel(r: &Dist, scratch: &Path) -> Result<Option<Wheel>> {
    use std::io::Read;
    let Ok(body) = crate::download::open(&r.url, &[]) else {
        return Ok(None);
    };
    let mut reader = crate::download::HashingReader::new(body.reader, |_| {});
    let wheel = match body.len.filter(|n| *n <= IN_MEMORY_WHEEL) {
        Some(len) => {
            let mut bytes = Vec::with_capacity(len as usize);
            // The announced length is only a hint: read at most one byte past the limit.
            let read = (&mut reader)
                .take(IN_MEMORY_WHEEL + 1)
                .read_to_end(&mut bytes);
            if read.is_err() || bytes.len() as u64 > IN_MEMORY_WHEEL {
                return Ok(None);
            }
            Wheel::Memory(bytes)
        }
        None => {
            let file = scratch.join(format!("{}.whl", r.sha256));
            let mut out = fs_err::File::create(&file)?;
            if std::io::copy(&mut reader, &mut out).is_err() {
                return Ok(None);
            }
            Wheel::File(file)
        }
    };
    let (sha256, _) = reader.finish()?;
    if !sha256.eq_ignore_ascii_case(&r.sha256) {
        return Err(crate::user_error!(
            hint = "the index now serves a different file under the same name; resolve again, and \
                    distrust the index if the change is unexpected",
            "a downloaded file does not match its locked hash:\n  {} has SHA-256 {sha256}, the \
             lock says {}",
            r.file,
            r.sha256
        ));
    }
    Ok(Some(wheel))
}

/// One archive member to write: its index in the archive and where it goes (`/`-separated,
/// under `site/`, or a file name under `scripts/`).
struct Member {
    index: usize,
    script: bool,
    rel: String,
}

/// Download the wheel `r` (checked against its locked hash) and build its entry in `dest` from
/// the archive itself. `Ok(false)`: not a wheel this can install (data files, headers, an
/// unusual layout) or not downloadable by pyenvx's client; uv does it instead.
fn unpack_wheel(r: &Dist, scratch: &Path, dest: &Path) -> Result<bool> {
    use std::io::Read;
    if !r.is_wheel() || !(crate::download::is_remote(&r.url) || r.url.starts_with("file://")) {
        return Ok(false);
    }
    let Some(wheel) = download_wheel(r, scratch)? else {
        return Ok(false);
    };
    let mut zip = wheel.archive(&r.file)?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()?;
    let dist_info = names
        .iter()
        .filter_map(|n| n.split_once('/').map(|(top, _)| top))
        .find(|top| top.ends_with(".dist-info"))
        .map(str::to_string);
    let Some(dist_info) = dist_info else {
        return Ok(false);
    };
    let record_path = format!("{dist_info}/RECORD");
    let Some(members) = plan_members(&names, &dist_info, &record_path)? else {
        return Ok(false);
    };

    let info_text = |zip: &mut zip::ZipArchive<WheelReader>, file: &str| -> Result<String> {
        let mut text = String::new();
        if let Ok(mut entry) = zip.by_name(&format!("{dist_info}/{file}")) {
            entry.read_to_string(&mut text)?;
        }
        Ok(text)
    };
    let record = info_text(&mut zip, "RECORD")?;
    let (console_scripts, gui_scripts) =
        parse_entry_points(&info_text(&mut zip, "entry_points.txt")?);

    let site = dest.join(SITE);
    let scripts = dest.join(SCRIPTS);
    make_dir_all(&site.join(&dist_info))?;
    make_dir_all(&scripts)?;
    let other_scripts: Vec<String> = members
        .iter()
        .filter(|m| m.script)
        .map(|m| m.rel.clone())
        .collect();
    drop(zip);
    in_parallel(&members, |chunk| {
        write_members(&mut wheel.archive(&r.file)?, chunk, &site, &scripts)
    })?;

    let rows = installed_record(&record, &dist_info, &record_path);
    write_new(&site.join(&record_path), rows.as_bytes(), 0o644)?;

    let meta = EntryMeta {
        name: r.name.clone(),
        version: r.version.clone(),
        file: r.file.clone(),
        sha256: r.sha256.clone(),
        dist_info,
        console_scripts,
        gui_scripts,
        other_scripts,
    };
    write_new(&dest.join(META), &serde_json::to_vec_pretty(&meta)?, 0o644)?;
    if let Wheel::File(file) = &wheel {
        fs_err::remove_file(file)?;
    }
    Ok(true)
}

/// Where each archive member goes: `site/…` or `scripts/…`; `None` when something is uv's to
/// place (data files, headers, an unsafe or unusual path). RECORD and the files an install
/// drops are left out.
fn plan_members(
    names: &[String],
    dist_info: &str,
    record_path: &str,
) -> Result<Option<Vec<Member>>> {
    let mut members = Vec::with_capacity(names.len());
    // `file_names` lists the archive in index order.
    for (index, name) in names.iter().enumerate() {
        if name.ends_with('/') {
            continue;
        }
        let Some(rel) = safe_relative(name) else {
            return Ok(None);
        };
        let mut parts = name.splitn(3, '/');
        let (top, kind, rest) = (parts.next(), parts.next(), parts.next());
        let (script, rel) = match (top, kind, rest) {
            (Some(t), Some("purelib" | "platlib"), Some(p)) if t.ends_with(".data") => {
                let Some(p) = safe_relative(p) else {
                    return Ok(None);
                };
                (false, p)
            }
            (Some(t), Some("scripts"), Some(p)) if t.ends_with(".data") && !p.contains('/') => {
                (true, PathBuf::from(p))
            }
            (Some(t), _, _) if t.ends_with(".data") => return Ok(None),
            _ => (false, rel),
        };
        // Normal components only (`safe_relative`), from a UTF-8 name: joined back losslessly.
        let rel = rel.to_string_lossy().into_owned();
        if *name == record_path
            || name
                .strip_prefix(&format!("{dist_info}/"))
                .is_some_and(|f| DROPPED.contains(&f))
        {
            continue;
        }
        if script {
            check_component(&rel)?;
        }
        members.push(Member { index, script, rel });
    }
    Ok(Some(members))
}

/// The wheel's RECORD as an install writes it: paths as installed, scripts under `bin/`
/// (hashed per environment), and itself last.
fn installed_record(record: &str, dist_info: &str, record_path: &str) -> String {
    let mut rows = String::with_capacity(record.len());
    for line in record.lines() {
        let Some(row) = RecordRow::parse(line) else {
            continue;
        };
        if row.path == record_path
            || row
                .path
                .strip_prefix(&format!("{dist_info}/"))
                .is_some_and(|f| DROPPED.contains(&f))
        {
            continue;
        }
        let mut parts = row.path.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some("purelib" | "platlib"), Some(p)) if t.ends_with(".data") => {
                // `path,hash,size`: hashes and sizes hold no commas, paths may.
                let fields: Vec<&str> = line.trim_end_matches('\r').rsplitn(3, ',').collect();
                let rest = match fields.as_slice() {
                    [size, hash, _] => format!("{hash},{size}"),
                    _ => ",".to_string(),
                };
                rows.push_str(&RecordRow::render(p, &rest));
            }
            (Some(t), Some("scripts"), Some(p)) if t.ends_with(".data") => {
                rows.push_str(&RecordRow::render(&format!("bin/{p}"), ","));
            }
            _ => {
                rows.push_str(line);
                rows.push('\n');
            }
        }
    }
    rows.push_str(&RecordRow::render(record_path, ","));
    rows
}

/// Write `members` of the wheel `zip` into the entry's `site` and `scripts`, making the
/// directories they need (parents first, each once per thread; another thread may have made it).
fn write_members(
    zip: &mut zip::ZipArchive<WheelReader<'_>>,
    members: &[Member],
    site: &Path,
    scripts: &Path,
) -> Result<()> {
    use std::io::Read;
    let mut content = Vec::new();
    let mut made: HashSet<&str> = HashSet::new();
    for m in members {
        let mut entry = zip.by_index(m.index)?;
        content.clear();
        // The declared size is the archive's word only: reserve no more than a sane amount.
        content.reserve(entry.size().min(64 << 20) as usize);
        entry.read_to_end(&mut content)?;
        if m.script {
            write_new(&scripts.join(&m.rel), &unbind_script(&content), 0o755)?;
            continue;
        }
        let mode = if entry.unix_mode().is_some_and(|m| m & 0o111 != 0) {
            0o755
        } else {
            0o644
        };
        if let Some((parent, _)) = m.rel.rsplit_once('/') {
            make_dirs(site, parent, &mut made)?;
        }
        write_new(&site.join(&m.rel), &content, mode)?;
    }
    Ok(())
}

/// The top-level directories of the staging install `target` that one distribution alone lists
/// files in (`django/`, not a namespace such as `google/`), mapped to it: [`build_entry`] moves
/// each with one rename instead of linking its thousands of files one by one.
fn exclusive_top_dirs<'a>(
    target: &Path,
    dist_infos: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, String>> {
    let mut owners: HashMap<String, BTreeSet<String>> = HashMap::new();
    for dist_info in dist_infos {
        let record = fs_err::read_to_string(target.join(dist_info).join("RECORD"))?;
        for line in record.lines() {
            let Some(row) = RecordRow::parse(line) else {
                continue;
            };
            let Some(rel) = safe_relative(&row.path) else {
                continue;
            };
            let mut parts = rel.components();
            let (Some(top), Some(_)) = (parts.next(), parts.next()) else {
                continue;
            };
            let top = top.as_os_str().to_string_lossy().into_owned();
            owners.entry(top).or_default().insert(dist_info.to_string());
        }
    }
    Ok(owners
        .into_iter()
        .filter(|(top, dists)| {
            // Scripts and the dist-info (RECORD is rewritten, some files dropped) go file by file.
            dists.len() == 1 && top != "bin" && !top.ends_with(".dist-info")
        })
        .filter_map(|(top, dists)| Some((top, dists.into_iter().next()?)))
        .collect())
}

/// Assemble the entry for one distribution of the staging install `target` in `dest`, linking
/// files rather than copying them (same filesystem); a top-level directory only this
/// distribution fills (`whole`) is moved there in one rename.
fn build_entry(
    target: &Path,
    dist_info: &str,
    r: &Dist,
    dest: &Path,
    whole: &HashMap<String, String>,
) -> Result<EntryMeta> {
    let info = target.join(dist_info);
    let record = fs_err::read_to_string(info.join("RECORD"))?;
    let (console_scripts, gui_scripts) =
        match std::fs::read_to_string(info.join("entry_points.txt")) {
            Ok(text) => parse_entry_points(&text),
            Err(e) if e.kind() == ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e).context("cannot read entry_points.txt"),
        };
    // uv wrote these launchers with the staging interpreter inside; each environment gets its own.
    let launchers: HashSet<&str> = console_scripts
        .iter()
        .chain(&gui_scripts)
        .map(|(name, _)| name.as_str())
        .collect();

    let site = dest.join(SITE);
    let scripts = dest.join(SCRIPTS);
    make_dir_all(&site.join(dist_info))?;
    make_dir_all(&scripts)?;
    let mut made: HashSet<PathBuf> = HashSet::new();
    let mut moved: HashSet<String> = HashSet::new();
    let mut linker = Linker::default();
    let mut rows = String::with_capacity(record.len());
    let mut other_scripts = Vec::new();
    let record_path = format!("{dist_info}/RECORD");
    for line in record.lines() {
        let Some(row) = RecordRow::parse(line) else {
            continue;
        };
        let rel = safe_relative(&row.path)
            .with_context(|| format!("unexpected path {:?} in RECORD", row.path))?;
        if row.path == record_path {
            continue;
        }
        if let Some(file) = row.path.strip_prefix(&format!("{dist_info}/")) {
            if DROPPED.contains(&file) {
                continue;
            }
        }
        if let Some(name) = row.path.strip_prefix("bin/") {
            if launchers.contains(name) {
                continue;
            }
            check_component(name)?;
            let content = fs_err::read(target.join(&rel))?;
            write_new(&scripts.join(name), &unbind_script(&content), 0o755)?;
            other_scripts.push(name.to_string());
            // Hashed per environment, where the shebang is known.
            rows.push_str(&RecordRow::render(&row.path, ","));
            continue;
        }
        let top = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if rel.components().nth(1).is_some()
            && whole.get(&top).is_some_and(|owner| owner == dist_info)
        {
            if moved.insert(top.clone()) {
                fs_err::rename(target.join(&top), site.join(&top))?;
                // Moved, not linked one by one: its modes are clamped here instead.
                restrict_tree(&site.join(&top))?;
            }
            rows.push_str(line);
            rows.push('\n');
            continue;
        }
        let to = site.join(&rel);
        if let Some(parent) = to.parent() {
            if made.insert(parent.to_path_buf()) {
                make_dir_all(parent)?;
            }
        }
        linker.link_file(&target.join(&rel), &to)?;
        restrict_mode(&to)?;
        rows.push_str(line);
        rows.push('\n');
    }
    rows.push_str(&RecordRow::render(&record_path, ","));
    write_new(&site.join(&record_path), rows.as_bytes(), 0o644)?;

    let meta = EntryMeta {
        name: r.name.clone(),
        version: r.version.clone(),
        file: r.file.clone(),
        sha256: r.sha256.clone(),
        dist_info: dist_info.to_string(),
        console_scripts,
        gui_scripts,
        other_scripts,
    };
    write_new(&dest.join(META), &serde_json::to_vec_pretty(&meta)?, 0o644)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::process::{Command, Output};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::installer::resolve;
    use crate::installer::test_support::{fixtures, python, python_version, wheelhouse_index};
    use crate::reporter::Silent;
    use crate::venv::Venv;
    use crate::venv::{self, VenvSpec};
    use sha2::{Digest, Sha256};

    const TAG: &str = "cp312";
    const IMPORT_DJANGO: &str =
        "import django, importlib.metadata as m; print(django.get_version(), m.version('django'))";

    fn new_venv(dir: &Path) -> Venv {
        let home = python().parent().unwrap();
        let version = pep440_rs::Version::from_str(python_version()).unwrap();
        let spec = VenvSpec {
            interpreter_home: home,
            version: &version,
            freethreaded: false,
            prompt: "test",
        };
        venv::create(dir, &spec).unwrap()
    }

    fn output(cmd: &mut Command) -> Output {
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    }

    /// stdout of a command that must succeed, trimmed.
    fn run(cmd: &mut Command) -> String {
        let out = output(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn ino(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    /// (file count, digest of every relative path and content): proof that a tree is unchanged.
    fn tree_digest(dir: &Path) -> (usize, String) {
        fn walk(base: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, files);
                } else {
                    let rel = path
                        .strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    files.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut files = Vec::new();
        walk(dir, dir, &mut files);
        files.sort();
        let mut hasher = Sha256::new();
        for (rel, content) in &files {
            hasher.update(rel.as_bytes());
            hasher.update([0]);
            hasher.update(Sha256::digest(content));
        }
        (files.len(), hex::encode(hasher.finalize()))
    }

    /// A wheel with what Django lacks: a `.data/scripts` file and a GUI script.
    fn demo_wheel(dir: &Path) {
        let script = r##"
import base64, hashlib, sys, zipfile
files = {
    "demo_pkg/__init__.py": b"def main():\n    print('demo main')\n    return 0\n\ndef gui():\n    return 0\n",
    "demo_pkg/sub/__init__.py": b"",
    "demo-1.0.data/scripts/demo-tool": b"#!python\nimport sys\nprint('demo tool', sys.prefix)\n",
    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\n",
    "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: pyenvx-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "demo-1.0.dist-info/entry_points.txt": b"[console_scripts]\ndemo = demo_pkg:main\n\n[gui_scripts]\ndemo-gui = demo_pkg:gui\n",
}
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(data)}")
record.append("demo-1.0.dist-info/RECORD,,")
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, data in files.items():
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o755 if "scripts" in name else 0o6777 if "sub" in name else 0o644) << 16
        z.writestr(info, data)
    z.writestr("demo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"##;
        fs_err::create_dir_all(dir).unwrap();
        run(Command::new(python())
            .args(["-c", script])
            .arg(dir.join("demo-1.0-py3-none-any.whl")));
    }

    /// A store holding Django 5.2.19, its dependencies and the demo wheel.
    struct Fixture {
        tmp: tempfile::TempDir,
        index: IndexSettings,
        store: Store,
        resolved: Vec<Dist>,
        fetch_time: Duration,
    }

    impl Fixture {
        fn new() -> Fixture {
            Self::new_in(&crate::test_machine::test_tmp_dir())
        }

        /// Store, venvs and uv's cache all under `base`: one filesystem, so files are linked.
        fn new_in(base: &Path) -> Fixture {
            let uv = fixtures();
            let tmp = tempfile::tempdir_in(base).unwrap();
            let wheels = tmp.path().join("wheels");
            demo_wheel(&wheels);
            let mut index = wheelhouse_index();
            index.find_links.push(wheels.to_string_lossy().into_owned());
            let requirements = ["django~=5.2.0".to_string(), "demo".to_string()];
            let uv_cache = tmp.path().join("uv-cache");
            let resolved = resolve(&uv, python(), &requirements, &index, false, &uv_cache).unwrap();
            let resolved = crate::installer::test_support::picked(&resolved);
            let store = Store::new(&Dirs::new(
                tmp.path().join("home"),
                tmp.path().join("cache"),
            ));
            let started = Instant::now();
            store
                .fetch(
                    &uv,
                    python(),
                    TAG,
                    &resolved,
                    &index,
                    false,
                    &uv_cache,
                    &Silent,
                )
                .unwrap();
            let fetch_time = started.elapsed();
            Fixture {
                tmp,
                index,
                store,
                resolved,
                fetch_time,
            }
        }

        fn entry(&self, name: &str) -> StoreEntry {
            let r = self.resolved.iter().find(|r| r.name == name).unwrap();
            self.store.get(&Store::key(r, TAG)).unwrap()
        }

        fn link_all(&self, venv: &Venv) {
            for r in &self.resolved {
                link_into(&self.store.get(&Store::key(r, TAG)).unwrap(), venv).unwrap();
            }
        }
    }

    #[test]
    fn entries_keep_no_setuid_setgid_or_group_and_world_write() {
        // uv keeps only the executable bit of a wheel's modes today; the store does not rely
        // on that: a staging file marked 06777 is stored 0755, whether its directory is linked
        // file by file or moved whole.
        for move_whole in [false, true] {
            let tmp = crate::test_machine::tempdir().unwrap();
            let target = tmp.path().join("target");
            let info = target.join("demo-1.0.dist-info");
            fs_err::create_dir_all(&info).unwrap();
            fs_err::create_dir_all(target.join("demo")).unwrap();
            fs_err::write(target.join("demo/x.py"), "x = 1\n").unwrap();
            fs_err::write(target.join("demo/y.py"), "y = 1\n").unwrap();
            fs_err::write(info.join("METADATA"), "Name: demo\nVersion: 1.0\n").unwrap();
            fs_err::write(
            info.join("RECORD"),
            "demo/x.py,,\ndemo/y.py,,\ndemo-1.0.dist-info/METADATA,,\ndemo-1.0.dist-info/RECORD,,\n",
        )
        .unwrap();
            for (file, mode) in [("demo/x.py", 0o6777), ("demo/y.py", 0o1666)] {
                std::fs::set_permissions(target.join(file), std::fs::Permissions::from_mode(mode))
                    .unwrap();
            }
            let r: Dist = serde_json::from_value(serde_json::json!({
                "name": "demo", "version": "1.0", "file": "demo-1.0-py3-none-any.whl",
                "url": "file:///x", "sha256": "00",
            }))
            .unwrap();
            let dest = tmp.path().join("entry");
            let whole: HashMap<String, String> = if move_whole {
                [("demo".to_string(), "demo-1.0.dist-info".to_string())].into()
            } else {
                HashMap::new()
            };
            build_entry(&target, "demo-1.0.dist-info", &r, &dest, &whole).unwrap();
            for (file, want) in [("demo/x.py", 0o755), ("demo/y.py", 0o644)] {
                let mode = std::fs::metadata(dest.join(SITE).join(file))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777;
                assert_eq!(mode, want, "{file} (moved whole: {move_whole}): {mode:o}");
            }
        }
    }

    #[test]
    fn only_directories_one_distribution_fills_are_moved_whole() {
        let target = crate::test_machine::tempdir().unwrap();
        let record = |dist_info: &str, rows: &[&str]| {
            let dir = target.path().join(dist_info);
            fs_err::create_dir_all(&dir).unwrap();
            let mut text: String = rows.iter().map(|r| format!("{r},,\n")).collect();
            text.push_str(&format!("{dist_info}/RECORD,,\n"));
            fs_err::write(dir.join("RECORD"), text).unwrap();
        };
        record(
            "a-1.dist-info",
            &[
                "a/__init__.py",
                "a/sub/x.py",
                "ns/a.py",
                "a_mod.py",
                "bin/a-tool",
            ],
        );
        record(
            "b-1.dist-info",
            &["ns/b.py", "b/__init__.py", "a-1.dist-info/odd"],
        );
        let whole = exclusive_top_dirs(
            target.path(),
            ["a-1.dist-info", "b-1.dist-info"].into_iter(),
        )
        .unwrap();
        let expected: HashMap<String, String> = [
            ("a".to_string(), "a-1.dist-info".to_string()),
            ("b".to_string(), "b-1.dist-info".to_string()),
        ]
        .into();
        // Not `ns` (shared), `a_mod.py` (a file), `bin` (scripts), nor a dist-info.
        assert_eq!(whole, expected);
    }

    #[test]
    fn keys_and_lookups() {
        let mut r = Dist {
            name: "demo".into(),
            version: "1.0".into(),
            file: "demo-1.0-py3-none-any.whl".into(),
            url: "file:///w/demo-1.0-py3-none-any.whl".into(),
            sha256: "ab".repeat(32),
            direct: false,
            vcs: false,
        };
        assert_eq!(Store::key(&r, TAG), "ab".repeat(32));
        r.file = "demo-1.0.tar.gz".into();
        assert_eq!(Store::key(&r, TAG), format!("{}-cp312", "ab".repeat(32)));
        let tmp = crate::test_machine::tempdir().unwrap();
        let store = Store::new(&Dirs::new(tmp.path().to_path_buf(), tmp.path().join("c")));
        assert_eq!(store.root(), tmp.path().join("store/v1"));
        for bad in ["", "..", "../x", "a/b", ".tmp-1", "A"] {
            assert!(store.get(bad).is_none(), "{bad}");
        }
        assert!(store.get(&"ab".repeat(32)).is_none());
    }

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        #[test]
        fn fetch_link_run_and_remove() {
            let fx = Fixture::new();
            println!(
                "cold fetch of {} distributions (django, asgiref, sqlparse, demo) took {:?}",
                fx.resolved.len(),
                fx.fetch_time
            );
            let names: Vec<&str> = fx.resolved.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["asgiref", "demo", "django", "sqlparse"]);
            // Entries only: the staging directory is gone.
            for entry in fs_err::read_dir(fx.store.root()).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                assert!(is_key(&name), "{name}");
            }

            let django = fx.entry("django");
            assert_eq!(django.meta.dist_info, "django-5.2.19.dist-info");
            assert_eq!(
                django.meta.console_scripts,
                [(
                    "django-admin".to_string(),
                    "django.core.management:execute_from_command_line".to_string()
                )]
            );
            assert!(django.meta.other_scripts.is_empty());
            assert!(!django.dir.join("site/bin").exists());
            let info = django.dir.join("site/django-5.2.19.dist-info");
            for dropped in ["INSTALLER", "REQUESTED", "uv_cache.json"] {
                assert!(!info.join(dropped).exists(), "{dropped}");
            }
            let demo = fx.entry("demo");
            // The wheel marks demo_pkg/sub/__init__.py 06777; the store keeps neither the setuid
            // and setgid bits nor write for others, on any file or directory of an entry.
            let mut stack = vec![demo.dir.clone(), django.dir.clone()];
            while let Some(path) = stack.pop() {
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let mode = meta.permissions().mode() & 0o7777;
                assert_eq!(mode & !0o755, 0, "{}: {mode:o}", path.display());
                if meta.is_dir() {
                    stack.extend(fs_err::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                }
            }
            assert_eq!(
                demo.meta.gui_scripts,
                [("demo-gui".to_string(), "demo_pkg:gui".to_string())]
            );
            assert_eq!(demo.meta.other_scripts, ["demo-tool"]);
            let tool = fs_err::read_to_string(demo.dir.join("scripts/demo-tool")).unwrap();
            assert!(tool.starts_with("#!python\nimport sys\n"), "{tool}");
            let before = tree_digest(&django.dir);
            assert!(before.0 > 3000, "{before:?}");

            // Everything stored: no uv call at all (this one could not run).
            let no_uv = Uv {
                exe: PathBuf::from("/nonexistent/uv"),
                version: "0.13.9".into(),
            };
            let cache = fx.tmp.path().join("uv-cache");
            fx.store
                .fetch(
                    &no_uv,
                    python(),
                    TAG,
                    &fx.resolved,
                    &fx.index,
                    true,
                    &cache,
                    &Silent,
                )
                .unwrap();

            let venv1 = new_venv(&fx.tmp.path().join("p1/.venv"));
            // A path the kernel cannot put in a `#!` line: scripts go through /bin/sh.
            let venv2 = new_venv(&fx.tmp.path().join("it's a project/.venv"));
            fx.link_all(&venv1);
            fx.link_all(&venv2);

            let site1 = venv1.site_packages().unwrap();
            let site2 = venv2.site_packages().unwrap();
            assert_eq!(
                ino(&site1.join("django/__init__.py")),
                ino(&django.dir.join("site/django/__init__.py"))
            );
            let record_path = "django-5.2.19.dist-info/RECORD";
            assert_ne!(
                ino(&site1.join(record_path)),
                ino(&django.dir.join("site").join(record_path))
            );
            let record = fs_err::read_to_string(site1.join(record_path)).unwrap();
            assert!(
                record.contains("\n../../../bin/django-admin,sha256="),
                "{record}"
            );
            assert!(record.contains("\ndjango-5.2.19.dist-info/INSTALLER,sha256="));
            assert!(record.ends_with("\ndjango-5.2.19.dist-info/RECORD,,\n"));
            assert!(!record.contains("\nbin/"));
            assert_eq!(
                fs_err::read_to_string(site1.join("django-5.2.19.dist-info/INSTALLER")).unwrap(),
                "pyenvx\n"
            );

            for venv in [&venv1, &venv2] {
                let python = venv.python();
                assert_eq!(
                    run(Command::new(&python).args(["-c", IMPORT_DJANGO])),
                    "5.2.19 5.2.19"
                );
                assert_eq!(
                    run(Command::new(venv.bin().join("django-admin")).arg("--version")),
                    "5.2.19"
                );
                assert_eq!(run(&mut Command::new(venv.bin().join("demo"))), "demo main");
                assert_eq!(
                    run(&mut Command::new(venv.bin().join("demo-tool"))),
                    format!("demo tool {}", venv.root.display())
                );
                let mode = std::fs::metadata(venv.bin().join("demo-gui"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o755);
            }
            let head = fs_err::read_to_string(venv2.bin().join("django-admin")).unwrap();
            assert!(head.starts_with("#!/bin/sh\n'''exec' '"), "{head}");

            let dists = installed_dists(&venv1).unwrap();
            let found: Vec<(&str, &str)> = dists
                .iter()
                .map(|d| (d.name.as_str(), d.version.as_str()))
                .collect();
            assert_eq!(
                found,
                [
                    ("asgiref", "3.13.0"),
                    ("demo", "1.0"),
                    ("django", "5.2.19"),
                    ("sqlparse", "0.6.1")
                ]
            );

            // pip itself uninstalls from our RECORD, and only from its own environment.
            run(Command::new(python())
                .args(["-m", "pip", "--python"])
                .arg(venv2.python())
                .args(["uninstall", "--yes", "django"])
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                .env("PIP_ROOT_USER_ACTION", "ignore"));
            assert!(!site2.join("django").exists());
            assert!(!venv2.bin().join("django-admin").exists());
            assert_eq!(
                run(Command::new(venv1.python()).args(["-c", IMPORT_DJANGO])),
                "5.2.19 5.2.19"
            );
            assert_eq!(tree_digest(&django.dir), before);

            // Our own removal: the import ran, so there is bytecode to clean up too.
            let dist = dists.iter().find(|d| d.name == "django").unwrap();
            let started = Instant::now();
            remove_dist(&venv1, dist).unwrap();
            println!("remove_dist of Django took {:?}", started.elapsed());
            let failed = output(Command::new(venv1.python()).args(["-c", "import django"]));
            assert!(!failed.status.success());
            assert!(!site1.join("django").exists());
            assert!(!dist.dist_info.exists());
            assert!(!venv1.bin().join("django-admin").exists());
            assert!(venv1.python().exists() && site1.is_dir());
            run(Command::new(venv1.python()).args(["-c", "import asgiref, sqlparse, demo_pkg"]));
            assert_eq!(tree_digest(&django.dir), before);
            assert_eq!(
                installed_dists(&venv1)
                    .unwrap()
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>(),
                ["asgiref", "demo", "sqlparse"]
            );

            // And back, from the store alone.
            link_into(&django, &venv1).unwrap();
            assert_eq!(
                run(Command::new(venv1.python()).args(["-c", IMPORT_DJANGO])),
                "5.2.19 5.2.19"
            );
            assert_eq!(tree_digest(&django.dir), before);
        }

        /// Django linked into ten environments and removed again, on disk and, where there is one,
        /// in memory: every environment holds the store's files (the same inodes) and loses them
        /// all on removal, the store keeping its own. It prints the timings, which
        /// `bench/link-speed.sh` runs in a release build to measure.
        #[test]
        fn link_and_remove_in_ten_environments() {
            // Django needs some 2,500 directories: bench/link-speed.sh times this on disk and
            // in memory (see `measure_places`).
            for place in crate::test_machine::measure_places() {
                let fx = Fixture::new_in(&place);
                let django = fx.entry("django");
                let store_before = tree_digest(&django.dir);
                let store_init = django.dir.join(SITE).join("django/__init__.py");
                let runs = 10;
                let venvs: Vec<Venv> = (0..runs)
                    .map(|i| new_venv(&fx.tmp.path().join(format!("v{i}/.venv"))))
                    .collect();
                let mut link_times = Vec::new();
                let mut remove_times = Vec::new();
                for venv in &venvs {
                    let started = Instant::now();
                    link_into(&django, venv).unwrap();
                    link_times.push(started.elapsed());
                    let site = venv.site_packages().unwrap();
                    assert_eq!(
                        ino(&site.join("django/__init__.py")),
                        ino(&store_init),
                        "linked from the store, not copied"
                    );
                }
                for venv in &venvs {
                    let mut dists = installed_dists(venv).unwrap();
                    assert_eq!(dists.len(), 1, "{dists:?}");
                    let dist = dists.remove(0);
                    assert_eq!(
                        (dist.name.as_str(), dist.version.as_str()),
                        ("django", "5.2.19")
                    );
                    let started = Instant::now();
                    remove_dist(venv, &dist).unwrap();
                    remove_times.push(started.elapsed());
                    let site = venv.site_packages().unwrap();
                    assert!(installed_dists(venv).unwrap().is_empty());
                    assert!(!site.join("django").exists(), "removal left Django's files");
                }
                assert_eq!(
                    tree_digest(&django.dir),
                    store_before,
                    "the store kept its files"
                );
                let profile = if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                };
                let files = tree_digest(&django.dir.join(SITE)).0;
                let mean = |t: &[Duration]| t.iter().sum::<Duration>() / t.len() as u32;
                println!(
                    "link_into Django 5.2.19 ({files} files, {profile}) in {}: mean {:?}, best {:?}; \
                     remove_dist: mean {:?}, best {:?} ({runs} environments)",
                    place.display(),
                    mean(&link_times),
                    link_times.iter().min().unwrap(),
                    mean(&remove_times),
                    remove_times.iter().min().unwrap(),
                );
            }
        }

        #[test]
        fn removal_never_leaves_the_environment() {
            let tmp = crate::test_machine::tempdir().unwrap();
            let outside = tmp.path().join("outside");
            fs_err::create_dir(&outside).unwrap();
            fs_err::write(outside.join("keep.txt"), "keep").unwrap();
            fs_err::write(outside.join("evil.py"), "").unwrap();
            let venv = new_venv(&tmp.path().join("v/.venv"));
            let site = venv.site_packages().unwrap();
            symlink(&outside, site.join("escape")).unwrap();
            fs_err::create_dir_all(site.join("evil/deep")).unwrap();
            fs_err::write(site.join("evil/__init__.py"), "").unwrap();
            fs_err::write(site.join("evil/deep/mod.py"), "").unwrap();
            fs_err::create_dir(site.join("evil/deep/__pycache__")).unwrap();
            fs_err::write(site.join("evil/deep/__pycache__/mod.cpython-312.pyc"), "").unwrap();
            fs_err::write(site.join("evil/deep/__pycache__/other.cpython-312.pyc"), "").unwrap();
            fs_err::write(venv.bin().join("evil"), "").unwrap();
            let info = site.join("evil-1.0.dist-info");
            fs_err::create_dir(&info).unwrap();
            fs_err::write(info.join("METADATA"), "Name: Evil\nVersion: 1.0\n").unwrap();
            let record = format!(
                "evil/__init__.py,,\n\"evil/deep/mod.py\",,\n../../../../../outside/keep.txt,,\n\
                 {}/keep.txt,,\nescape/evil.py,,\n../../../bin/evil,,\n../../../bin/python,,\n\
                 evil-1.0.dist-info/RECORD,,\n",
                outside.display()
            );
            fs_err::write(info.join("RECORD"), record).unwrap();

            let dists = installed_dists(&venv).unwrap();
            assert_eq!(dists.len(), 1);
            assert_eq!(
                (dists[0].name.as_str(), dists[0].version.as_str()),
                ("evil", "1.0")
            );
            remove_dist(&venv, &dists[0]).unwrap();

            assert!(outside.join("keep.txt").is_file());
            assert!(outside.join("evil.py").is_file());
            assert!(site.join("escape").is_symlink());
            assert!(!site.join("evil/__init__.py").exists());
            // Another module's bytecode keeps its directory alive; the listed ones are gone.
            assert!(!site.join("evil/deep/mod.py").exists());
            assert!(!site
                .join("evil/deep/__pycache__/mod.cpython-312.pyc")
                .exists());
            assert!(site
                .join("evil/deep/__pycache__/other.cpython-312.pyc")
                .exists());
            assert!(!info.exists());
            assert!(!venv.bin().join("evil").exists());
            // RECORD may list the interpreter link itself; pip would remove it too, and so do we,
            // but the skeleton directories survive.
            assert!(venv.bin().is_dir() && site.is_dir());

            let not_in_site = InstalledDist {
                name: "x".into(),
                version: "1".into(),
                dist_info: outside.clone(),
            };
            assert!(remove_dist(&venv, &not_in_site).is_err());
            assert!(outside.is_dir());
        }

        /// Wheels are unpacked by pyenvx itself (no uv runs), into entries identical to those
        /// filed from uv's own install.
        #[test]
        fn wheels_are_unpacked_without_uv_into_the_same_entries() {
            let fx = Fixture::new();
            let no_uv = Uv {
                exe: PathBuf::from("/nonexistent/uv"),
                version: "0.13.9".into(),
            };
            let direct = Store::new(&Dirs::new(
                fx.tmp.path().join("direct-home"),
                fx.tmp.path().join("direct-cache"),
            ));
            let cache = fx.tmp.path().join("direct-uv-cache");
            direct
                .fetch(
                    &no_uv,
                    python(),
                    TAG,
                    &fx.resolved,
                    &fx.index,
                    false,
                    &cache,
                    &Silent,
                )
                .unwrap();
            // Offline, the same files come through uv (its cache holds them from the fixture).
            let uv = fixtures();
            let via_uv = Store::new(&Dirs::new(
                fx.tmp.path().join("uv-home"),
                fx.tmp.path().join("uv-cache-home"),
            ));
            via_uv
                .fetch(
                    &uv,
                    python(),
                    TAG,
                    &fx.resolved,
                    &fx.index,
                    true,
                    &fx.tmp.path().join("uv-cache"),
                    &Silent,
                )
                .unwrap();
            let listing = |dir: &Path| -> Vec<(String, Vec<u8>)> {
                let mut out = Vec::new();
                let mut stack = vec![dir.to_path_buf()];
                while let Some(d) = stack.pop() {
                    for e in fs_err::read_dir(&d).unwrap() {
                        let e = e.unwrap();
                        let path = e.path();
                        if e.file_type().unwrap().is_dir() {
                            stack.push(path);
                        } else {
                            let rel = path
                                .strip_prefix(dir)
                                .unwrap()
                                .to_string_lossy()
                                .into_owned();
                            let mut content = fs_err::read(&path).unwrap();
                            if rel.ends_with("RECORD") {
                                let mut lines: Vec<&str> =
                                    std::str::from_utf8(&content).unwrap().lines().collect();
                                lines.sort();
                                content = lines.join("\n").into_bytes();
                            }
                            out.push((rel, content));
                        }
                    }
                }
                out.sort();
                out
            };
            for r in &fx.resolved {
                let key = Store::key(r, TAG);
                let a = direct.get(&key).expect("stored without uv");
                let b = via_uv.get(&key).expect("stored through uv");
                assert_eq!(a.meta, b.meta, "{}", r.name);
                let (la, lb) = (listing(&a.dir), listing(&b.dir));
                let names =
                    |l: &[(String, Vec<u8>)]| l.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
                assert_eq!(names(&la), names(&lb), "{}", r.name);
                assert!(la == lb, "{}: the entries' contents differ", r.name);
            }
        }
    }
}
