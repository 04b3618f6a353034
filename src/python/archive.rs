//! Unpacking a `.tar.gz` safely.
//!
//! Every entry is checked before it touches the disk: no absolute paths, no `..`, no links that
//! point outside the archive's top-level folder, and nothing is ever created beneath a symlink
//! the archive made. A hostile or broken archive fails the install; it never writes outside the
//! temporary directory it is given.
//!
//! The work is spread over threads: one decompresses, the calling thread reads the tar stream
//! and makes directories, links and large files, and a few writer threads create the many small
//! files (creating a file is the expensive part on some file systems). The unpack loop is our
//! own rather than `tar::Entry::unpack_in`: it knows which directories and symlinks it made, so
//! it needs no `canonicalize` per entry, and it writes file contents in large blocks.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Scope;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::download::{self, ChunkReader};
use crate::user_error;

/// Decompressed bytes travel to the unpacking thread in chunks this big.
const CHUNK: usize = 1 << 20;
/// How many decompressed chunks may wait for the unpacker.
const DEPTH: usize = 4;
/// Large files are written in blocks of up to this size.
const WRITE_BLOCK: usize = 256 << 10;
/// Files up to this size are read into memory and handed to a writer thread.
const SMALL_FILE: u64 = 4 << 20;
/// At most this many bytes of small files wait for the writer threads.
const IN_FLIGHT: usize = 16 << 20;

/// Unpack the gzip-compressed tar stream `reader` into `dest` (an empty directory).
/// `origin` names the archive in errors.
///
/// The gzip stream is decompressed on a helper thread. On success `reader` comes back read to
/// its very end (past the gzip trailer), so a hashing reader has seen every byte.
pub fn unpack_tar_gz<R: BufRead + Send>(reader: R, dest: &Path, origin: &str) -> Result<R> {
    std::thread::scope(|scope| {
        // flate2 checks the gzip header, the CRC-32 and the length trailer itself.
        let gz = flate2::bufread::GzDecoder::new(reader);
        let (tar, gunzip) =
            download::read_ahead(scope, "gunzip", gz, CHUNK, DEPTH, |_: &[u8]| Ok(()))
                .context("cannot start the decompression thread")?;
        // Dropping the pipe (on success or failure) is what lets the gunzip thread finish.
        let result = unpack_tar(scope, tar, dest, origin);
        let (gz, _, _) = gunzip
            .join()
            .map_err(|_| anyhow::anyhow!("the decompression thread of {origin} panicked"))?;
        result?;
        // Whatever follows the gzip member still belongs to the download: a hash of the whole
        // body must see it.
        let mut inner = gz.into_inner();
        io::copy(&mut inner, &mut io::sink()).map_err(|e| corrupt(origin, e))?;
        Ok(inner)
    })
}

fn corrupt(origin: &str, e: io::Error) -> anyhow::Error {
    user_error!(
        hint = "the download may be incomplete or the mirror serves a broken file; retry, or check the mirror",
        "corrupt archive {origin}: {e}"
    )
}

fn cannot_unpack(origin: &str, path: &Path, e: io::Error) -> anyhow::Error {
    user_error!("cannot unpack {} from {origin}: {e}", path.display())
}

/// Unpack the (uncompressed) tar stream `reader` into `dest`, then read the stream to its end
/// (a broken gzip stream or trailer shows up there).
fn unpack_tar<'scope>(
    scope: &'scope Scope<'scope, '_>,
    reader: ChunkReader,
    dest: &Path,
    origin: &str,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut unpacker = Unpacker::new(scope, dest, origin)?;
    for entry in archive.entries().map_err(|e| corrupt(origin, e))? {
        let mut entry = entry.map_err(|e| corrupt(origin, e))?;
        unpacker.entry(&mut entry)?;
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| corrupt(origin, e))?;
    unpacker.finish()
}

/// The most an unpacked file or directory may allow: no setuid, setgid or sticky bit, and no
/// write for group or others.
const SAFE_MODE: u32 = 0o755;

/// The state of one unpack: what it created so far, as paths relative to `dest`.
struct Unpacker<'a> {
    dest: &'a Path,
    origin: &'a str,
    /// Directories known to exist as real directories (made here, or found as directories).
    dirs: HashSet<PathBuf>,
    /// Everything else made here (files, links), written yet or not.
    others: HashSet<PathBuf>,
    /// Symlinks made here, with their targets. Nothing is ever created beneath one.
    symlinks: HashMap<PathBuf, PathBuf>,
    /// Directory modes to apply once everything is written (a read-only directory must still
    /// receive its files).
    dir_modes: Vec<(PathBuf, u32)>,
    /// The process umask, when known: modes it leaves intact need no `chmod`.
    umask: Option<u32>,
    writers: Writers,
    buf: Vec<u8>,
}

impl<'a> Unpacker<'a> {
    fn new<'scope>(
        scope: &'scope Scope<'scope, '_>,
        dest: &'a Path,
        origin: &'a str,
    ) -> Result<Self> {
        let umask = current_umask();
        Ok(Self {
            dest,
            origin,
            dirs: HashSet::new(),
            others: HashSet::new(),
            symlinks: HashMap::new(),
            dir_modes: Vec::new(),
            umask,
            writers: Writers::start(scope, dest, origin, umask, writer_threads())
                .context("cannot start the file writer threads")?,
            buf: Vec::new(),
        })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let origin = self.origin;
        let path = entry.path().map_err(|e| corrupt(origin, e))?.into_owned();
        let rel = checked_relative(&path)
            .ok_or_else(|| escape_error(origin, &path.display().to_string()))?;
        // Never create anything beneath a symlink: it could lead anywhere.
        if self.under_symlink(&rel) {
            return Err(escape_error(origin, &path.display().to_string()));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        }
        // A second entry at a path (or beneath it) that a writer may still be creating: that
        // file must land first, so this entry replaces it, or fails on it, like in tar.
        if self.writers.pending > 0 && rel.ancestors().any(|a| self.others.contains(a)) {
            self.writers.wait_all(origin)?;
        }
        let cannot = |e: io::Error| cannot_unpack(origin, &path, e);
        // Permission bits as `chmod` would take them, less setuid, setgid, sticky and write
        // for group and others: an interpreter must be neither a way up to root nor writable
        // by other users. A header without a readable mode gets none.
        let mode = entry.header().mode().ok().map(|m| m & SAFE_MODE);
        let is_dir = kind.is_dir()
            // Old (pre-POSIX) archives mark directories with a trailing slash only.
            || (!kind.is_symlink()
                && !kind.is_hard_link()
                && entry.header().as_ustar().is_none()
                && entry.path_bytes().ends_with(b"/"));
        if is_dir {
            self.make_parent(&rel).map_err(cannot)?;
            return self.make_dir(&rel, mode).map_err(cannot);
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| corrupt(origin, e))?
                .ok_or_else(|| {
                    user_error!(
                        "corrupt archive {origin}: link {} has no target",
                        path.display()
                    )
                })?
                .into_owned();
            let escape = || {
                escape_error(
                    origin,
                    &format!("{} -> {}", path.display(), target.display()),
                )
            };
            if kind.is_symlink() {
                if !symlink_stays_inside(&rel, &target) {
                    return Err(escape());
                }
                if target.as_os_str().is_empty() {
                    return Err(cannot(io::Error::other("symlink target is empty")));
                }
                self.make_parent(&rel).map_err(cannot)?;
                let dst = self.dest.join(&rel);
                replace_with(&dst, || std::os::unix::fs::symlink(&target, &dst)).map_err(cannot)?;
                self.others.insert(rel.clone());
                self.symlinks.insert(rel, target);
            } else {
                let source = checked_relative(&target).ok_or_else(escape)?;
                if self.under_symlink(&source) {
                    return Err(escape());
                }
                // A hard link to a symlink is a copy of it at a new place, where its target
                // must stay inside too.
                let link_target = self.symlinks.get(&source).cloned();
                if let Some(t) = &link_target {
                    if !symlink_stays_inside(&rel, t) {
                        return Err(escape());
                    }
                }
                // The source may still be with a writer.
                self.writers.wait_all(origin)?;
                self.make_parent(&rel).map_err(cannot)?;
                let dst = self.dest.join(&rel);
                replace_with(&dst, || fs::hard_link(self.dest.join(&source), &dst))
                    .map_err(cannot)?;
                self.symlinks.remove(&rel);
                self.others.insert(rel.clone());
                if let Some(t) = link_target {
                    self.symlinks.insert(rel, t);
                }
            }
            return Ok(());
        }
        // Everything else, including types we do not know, is written as a regular file, like
        // POSIX asks of unknown type flags.
        let meta = FileMeta {
            mode,
            mtime: entry.header().mtime().ok(),
        };
        self.make_parent(&rel).map_err(cannot)?;
        // From here on `rel` is a file (whatever it was is replaced when the file is created).
        self.symlinks.remove(&rel);
        self.others.insert(rel.clone());
        let size = entry.size();
        if size <= SMALL_FILE {
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| corrupt(origin, e))?;
            return self.writers.submit(FileJob { rel, data, meta }, origin);
        }
        self.write_large_file(&rel, entry, meta)
            .map_err(|e| match e {
                // The archive stream broke off or is garbage.
                FileError::Read(e) => corrupt(origin, e),
                FileError::Write(e) => cannot(e),
            })
    }

    /// Whether a proper ancestor of `rel` is a symlink made by this unpack.
    fn under_symlink(&self, rel: &Path) -> bool {
        !self.symlinks.is_empty()
            && rel
                .ancestors()
                .skip(1)
                .any(|a| self.symlinks.contains_key(a))
    }

    /// Make sure the directory that will hold `rel` exists.
    fn make_parent(&mut self, rel: &Path) -> io::Result<()> {
        let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(());
        };
        if self.dirs.contains(parent) {
            return Ok(());
        }
        // No ancestor is a symlink (checked by the caller), so this stays inside `dest`.
        fs::create_dir_all(self.dest.join(parent))?;
        for dir in parent.ancestors() {
            if dir.as_os_str().is_empty() || !self.dirs.insert(dir.to_path_buf()) {
                break;
            }
        }
        Ok(())
    }

    fn make_dir(&mut self, rel: &Path, mode: Option<u32>) -> io::Result<()> {
        let path = self.dest.join(rel);
        // Owner access while unpacking; the archive's own mode comes at the end.
        let create_mode = mode.map_or(SAFE_MODE, |m| m | 0o700);
        let created = if self.dirs.contains(rel) {
            None
        } else {
            match fs::DirBuilder::new().mode(create_mode).create(&path) {
                Ok(()) => Some(create_mode),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !fs::symlink_metadata(&path)?.is_dir() {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("{e} when creating dir {}", path.display()),
                        ));
                    }
                    None
                }
                Err(e) => return Err(e),
            }
        };
        self.dirs.insert(rel.to_path_buf());
        if let Some(mode) = mode {
            if created.is_none_or(|c| !umask_keeps(self.umask, c, mode)) {
                self.dir_modes.push((rel.to_path_buf(), mode));
            }
        }
        Ok(())
    }

    /// Stream a large file to disk from this thread, in big blocks.
    fn write_large_file(
        &mut self,
        rel: &Path,
        data: &mut impl Read,
        meta: FileMeta,
    ) -> Result<(), FileError> {
        let mut file =
            create_file(&self.dest.join(rel), meta.create_mode()).map_err(FileError::Write)?;
        if self.buf.is_empty() {
            self.buf = vec![0; WRITE_BLOCK];
        }
        loop {
            // Fill the block before writing: fewer, larger writes.
            let mut filled = 0;
            while filled < self.buf.len() {
                match data.read(&mut self.buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(FileError::Read(e)),
                }
            }
            if filled == 0 {
                break;
            }
            file.write_all(&self.buf[..filled])
                .map_err(FileError::Write)?;
            if filled < self.buf.len() {
                break;
            }
        }
        meta.apply(&file, self.umask).map_err(FileError::Write)
    }

    /// Wait for the writers, then apply the directory modes held back while unpacking.
    fn finish(mut self) -> Result<()> {
        self.writers.wait_all(self.origin)?;
        // Deepest first, so a read-only parent never blocks a child's chmod.
        let mut modes = std::mem::take(&mut self.dir_modes);
        modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mode) in modes {
            let path = self.dest.join(&rel);
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| cannot_unpack(self.origin, &rel, e))?;
        }
        Ok(())
    }
}

/// Why writing a file failed: reading its contents from the archive, or writing them out.
enum FileError {
    Read(io::Error),
    Write(io::Error),
}

/// What a file gets from its header besides its contents.
#[derive(Clone, Copy)]
struct FileMeta {
    mode: Option<u32>,
    mtime: Option<u64>,
}

impl FileMeta {
    fn create_mode(self) -> u32 {
        self.mode.unwrap_or(0o644)
    }

    /// Set the mtime, and the mode where the umask changed it at creation.
    fn apply(self, file: &File, umask: Option<u32>) -> io::Result<()> {
        if let Some(mtime) = self.mtime {
            // Like tar: never a zero mtime. Python's .pyc checks compare source mtimes.
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime.max(1));
            file.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))?;
        }
        if let Some(mode) = self.mode {
            if !umask_keeps(umask, self.create_mode(), mode) {
                file.set_permissions(fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(())
    }
}

/// Create a new file at `dst`. `create_new` never follows a symlink or reuses an inode: whatever
/// was there (a symlink, a hard link to another entry) is unlinked first, like tar does.
fn create_file(dst: &Path, mode: u32) -> io::Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(dst)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            match fs::remove_file(dst) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            open()
        }
        other => other,
    }
}

/// Whether creating with `create_mode` under `umask` yields exactly `mode`.
fn umask_keeps(umask: Option<u32>, create_mode: u32, mode: u32) -> bool {
    umask.is_some_and(|umask| mode & !0o777 == 0 && create_mode & !umask == mode)
}

/// Run `create`; if `dst` already exists, unlink it (it is never a directory) and try once more.
fn replace_with(dst: &Path, create: impl Fn() -> io::Result<()>) -> io::Result<()> {
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(dst)?;
            create()
        }
        other => other,
    }
}

/// Writer threads for small files: at least two, so file creation overlaps even on two cores.
fn writer_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// The process umask, read without changing it (Linux reports it in /proc since 4.7).
fn current_umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// A small file, read in full, for a writer thread to create.
struct FileJob {
    rel: PathBuf,
    data: Vec<u8>,
    meta: FileMeta,
}

/// What a writer reports per job: its size, and the error if it failed.
type JobDone = (usize, Result<()>);

/// Threads that create small files. The unpacking thread has made their directories already and
/// keeps every path it hands over out of reach of symlinks; it waits for them before anything
/// that depends on a file they may not have written yet (a hard link to it, a second entry at the
/// same path).
struct Writers {
    jobs: SyncSender<FileJob>,
    done: Receiver<JobDone>,
    /// Set when the unpack is abandoned: queued files are not worth writing any more.
    cancelled: Arc<AtomicBool>,
    /// Jobs handed over and not reported back yet.
    pending: usize,
    /// Their bytes.
    in_flight: usize,
}

impl Writers {
    /// Start `threads` writers into `dest`; `origin` names the archive in their errors.
    fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        dest: &Path,
        origin: &str,
        umask: Option<u32>,
        threads: usize,
    ) -> io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<FileJob>(256);
        let queue = Arc::new(Mutex::new(queue));
        let (done_tx, done) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let done_tx: Sender<JobDone> = done_tx.clone();
            let cancelled = Arc::clone(&cancelled);
            let dest = dest.to_path_buf();
            let origin = origin.to_string();
            std::thread::Builder::new()
                .name(format!("unpack-{i}"))
                .spawn_scoped(scope, move || loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    // The sender is gone once the unpack is over, whichever way it went.
                    let Ok(job) = job else { break };
                    if cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    let size = job.data.len();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        write_small_file(&dest, &job, umask)
                    }))
                    .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")))
                    .map_err(|e| cannot_unpack(&origin, &job.rel, e));
                    if done_tx.send((size, result)).is_err() {
                        break;
                    }
                })?;
        }
        Ok(Self {
            jobs,
            done,
            cancelled,
            pending: 0,
            in_flight: 0,
        })
    }

    /// Hand `job` to a writer, after collecting what they finished (and failing on their first
    /// error). Waits while too many bytes are queued.
    fn submit(&mut self, job: FileJob, origin: &str) -> Result<()> {
        while let Ok(done) = self.done.try_recv() {
            self.complete(done)?;
        }
        while self.pending > 0 && self.in_flight + job.data.len() > IN_FLIGHT {
            self.wait_one(origin)?;
        }
        let size = job.data.len();
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the file writers of {origin} stopped unexpectedly"))?;
        self.pending += 1;
        self.in_flight += size;
        Ok(())
    }

    /// Wait until every job handed over so far is on disk.
    fn wait_all(&mut self, origin: &str) -> Result<()> {
        while self.pending > 0 {
            self.wait_one(origin)?;
        }
        Ok(())
    }

    fn wait_one(&mut self, origin: &str) -> Result<()> {
        let done = self
            .done
            .recv()
            .map_err(|_| anyhow::anyhow!("the file writers of {origin} stopped unexpectedly"))?;
        self.complete(done)
    }

    fn complete(&mut self, (size, result): JobDone) -> Result<()> {
        self.pending -= 1;
        self.in_flight -= size;
        result
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        // After a failure nobody waits for what is still queued. (After success nothing is.)
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

fn write_small_file(dest: &Path, job: &FileJob, umask: Option<u32>) -> io::Result<()> {
    let mut file = create_file(&dest.join(&job.rel), job.meta.create_mode())?;
    file.write_all(&job.data)?;
    job.meta.apply(&file, umask)
}

fn escape_error(origin: &str, what: &str) -> anyhow::Error {
    user_error!(
        hint = "this archive is unsafe to unpack; nothing was installed. Report it to whoever serves it",
        "archive {origin} has an entry that escapes its root: {what}"
    )
}

/// The path with `.` components removed, if it is relative and never climbs with `..`.
fn checked_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// A relative symlink at `link` (relative to the archive root) pointing at `target` must resolve
/// inside the archive's top-level folder: that folder (`python/`) is what gets renamed into place,
/// so a link to a sibling of it would dangle into whatever lies next to the install.
fn symlink_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 1 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Builds a `.tar.gz` in memory; names and link targets go in raw, unchecked.
    struct Tgz(tar::Builder<Vec<u8>>);

    impl Tgz {
        fn new() -> Self {
            Tgz(tar::Builder::new(Vec::new()))
        }

        fn add(
            mut self,
            kind: tar::EntryType,
            name: &str,
            link: &str,
            data: &[u8],
            mode: u32,
        ) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_mtime(1_000_000_000);
            h.set_size(data.len() as u64);
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        fn dir(self, name: &str) -> Self {
            self.add(tar::EntryType::Directory, name, "", b"", 0o755)
        }

        fn file(self, name: &str, data: &[u8]) -> Self {
            self.add(tar::EntryType::Regular, name, "", data, 0o644)
        }

        fn symlink(self, name: &str, target: &str) -> Self {
            self.add(tar::EntryType::Symlink, name, target, b"", 0o777)
        }

        fn hardlink(self, name: &str, target: &str) -> Self {
            self.add(tar::EntryType::Link, name, target, b"", 0o644)
        }

        fn gz(self) -> Vec<u8> {
            let tar = self.0.into_inner().unwrap();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        }
    }

    /// Unpack `tgz` into a fresh `<tmp>/staging`; the temp dir is returned so a test can check
    /// that nothing landed beside the staging directory.
    fn unpack(tgz: &[u8]) -> (tempfile::TempDir, Result<()>) {
        let tmp = crate::test_machine::tempdir().unwrap();
        let staging = tmp.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let result = unpack_tar_gz(tgz, &staging, "test.tar.gz").map(drop);
        (tmp, result)
    }

    fn err_text(result: Result<()>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn unpacks_files_links_modes_and_mtimes() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let tgz = Tgz::new()
            .dir("python")
            .dir("python/bin")
            .add(
                tar::EntryType::Regular,
                "python/bin/python3.12",
                "",
                b"#!exe",
                0o755,
            )
            .symlink("python/bin/python3", "python3.12")
            .file("python/lib/big.bin", &big)
            .file("python/lib/empty", b"")
            .add(tar::EntryType::Directory, "python/ro", "", b"", 0o555)
            .file("python/ro/inside", b"x")
            .hardlink("python/lib/big-again", "python/lib/big.bin")
            .gz();
        let (tmp, result) = unpack(&tgz);
        result.unwrap();
        let root = tmp.path().join("staging/python");
        assert_eq!(fs::read(root.join("lib/big.bin")).unwrap(), big);
        assert_eq!(fs::read(root.join("lib/empty")).unwrap(), b"");
        assert_eq!(fs::read(root.join("ro/inside")).unwrap(), b"x");
        assert_eq!(
            fs::read_link(root.join("bin/python3")).unwrap(),
            Path::new("python3.12")
        );
        let exe = fs::metadata(root.join("bin/python3.12")).unwrap();
        assert_eq!(exe.mode() & 0o7777, 0o755);
        assert_eq!(exe.mtime(), 1_000_000_000);
        assert_eq!(
            fs::metadata(root.join("ro")).unwrap().mode() & 0o7777,
            0o555
        );
        let big_meta = fs::metadata(root.join("lib/big.bin")).unwrap();
        assert_eq!(big_meta.mtime(), 1_000_000_000);
        assert_eq!(
            fs::metadata(root.join("lib/big-again")).unwrap().ino(),
            big_meta.ino()
        );
        fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn drops_setuid_setgid_sticky_and_group_or_world_write() {
        let big: Vec<u8> = vec![7; 3_000_000];
        let tgz = Tgz::new()
            .dir("python")
            .add(tar::EntryType::Directory, "python/bin", "", b"", 0o1777)
            .add(
                tar::EntryType::Regular,
                "python/bin/suid",
                "",
                b"#!x",
                0o6777,
            )
            .add(tar::EntryType::Regular, "python/bin/big", "", &big, 0o4775)
            .add(tar::EntryType::Regular, "python/shared", "", b"x", 0o666)
            .add(tar::EntryType::Directory, "python/ro", "", b"", 0o2575)
            .gz();
        let (tmp, result) = unpack(&tgz);
        result.unwrap();
        let root = tmp.path().join("staging/python");
        for (rel, want) in [
            ("bin", 0o755),
            ("bin/suid", 0o755),
            ("bin/big", 0o755),
            ("shared", 0o644),
            ("ro", 0o555),
        ] {
            let mode = fs::metadata(root.join(rel)).unwrap().mode() & 0o7777;
            assert_eq!(mode, want, "{rel}: {mode:o}");
        }
        fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn never_writes_through_a_symlink() {
        // An inside-pointing link is allowed, but nothing may be created beneath it.
        let tgz = Tgz::new()
            .dir("python")
            .dir("python/lib")
            .symlink("python/link", "lib")
            .file("python/link/file", b"through the link")
            .gz();
        let (tmp, result) = unpack(&tgz);
        assert!(err_text(result).contains("escapes its root"));
        assert!(!tmp.path().join("staging/python/lib/file").exists());

        // The test-suite case: `python/escape -> ../..` then `python/escape/x`.
        let tgz = Tgz::new()
            .dir("python")
            .symlink("python/escape", "../..")
            .file("python/escape/pwned", b"x")
            .gz();
        let (tmp, result) = unpack(&tgz);
        assert!(err_text(result).contains("escapes its root"));
        assert!(!tmp.path().join("pwned").exists());

        // A file entry at a symlink's path replaces the link; its target is untouched.
        let tgz = Tgz::new()
            .dir("python")
            .file("python/target", b"original")
            .symlink("python/s", "target")
            .file("python/s", b"new")
            .file("python/s2/x", b"fine: s2 is a directory")
            .gz();
        let (tmp, result) = unpack(&tgz);
        result.unwrap();
        let root = tmp.path().join("staging/python");
        assert_eq!(fs::read(root.join("target")).unwrap(), b"original");
        assert_eq!(fs::read(root.join("s")).unwrap(), b"new");
        assert!(!fs::symlink_metadata(root.join("s")).unwrap().is_symlink());
    }

    #[test]
    fn hard_links_cannot_smuggle_symlinks_or_paths_out() {
        // A hard link to a symlink moves it; its target must still stay inside from there.
        let tgz = Tgz::new()
            .dir("python")
            .dir("python/a")
            .dir("python/a/b")
            .symlink("python/a/b/up", "../..")
            .hardlink("python/up", "python/a/b/up")
            .gz();
        let (_tmp, result) = unpack(&tgz);
        assert!(err_text(result).contains("escapes its root"));

        // Nor can a hard link's source be reached through a symlink.
        let tgz = Tgz::new()
            .dir("python")
            .dir("python/lib")
            .file("python/lib/f", b"x")
            .symlink("python/l", "lib")
            .hardlink("python/g", "python/l/f")
            .gz();
        let (_tmp, result) = unpack(&tgz);
        assert!(err_text(result).contains("escapes its root"));

        for name in [
            "../outside",
            "/tmp/pyenvx-archive-test-abs",
            "python/../../x",
        ] {
            let tgz = Tgz::new().dir("python").file(name, b"x").gz();
            let (_tmp, result) = unpack(&tgz);
            assert!(err_text(result).contains("escapes its root"), "{name}");
        }
        assert!(!Path::new("/tmp/pyenvx-archive-test-abs").exists());
    }

    #[test]
    fn later_entries_see_earlier_ones_written() {
        // Small files go to writer threads; what follows must still see them in place.
        let tgz = Tgz::new()
            .dir("python")
            .file("python/a", b"first")
            .file("python/a", b"second")
            .file("python/b", b"linked")
            .hardlink("python/c", "python/b")
            .file("python/d", b"soon a link")
            .symlink("python/d", "a")
            .symlink("python/e", "a")
            .file("python/e", b"no longer a link")
            .gz();
        let (tmp, result) = unpack(&tgz);
        result.unwrap();
        let root = tmp.path().join("staging/python");
        assert_eq!(fs::read(root.join("a")).unwrap(), b"second");
        assert_eq!(fs::read(root.join("c")).unwrap(), b"linked");
        assert_eq!(fs::read_link(root.join("d")).unwrap(), Path::new("a"));
        assert_eq!(fs::read(root.join("e")).unwrap(), b"no longer a link");
        assert_eq!(fs::read(root.join("a")).unwrap(), b"second");

        // A file where a directory is needed fails; it is not a path escape.
        let tgz = Tgz::new()
            .dir("python")
            .file("python/f", b"a file")
            .file("python/f/g", b"beneath a file")
            .gz();
        let (_tmp, result) = unpack(&tgz);
        let err = err_text(result);
        assert!(err.contains("cannot unpack python/f/g"), "{err}");
    }

    #[test]
    fn gzip_headers_with_every_optional_field() {
        let tar = Tgz::new()
            .dir("python")
            .file("python/x", b"data")
            .0
            .into_inner()
            .unwrap();
        let mut gz = flate2::GzBuilder::new()
            .filename("archive.tar")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .mtime(12345)
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let mut bytes = gz.finish().unwrap();
        let (tmp, result) = unpack(&bytes);
        result.unwrap();
        assert_eq!(
            fs::read(tmp.path().join("staging/python/x")).unwrap(),
            b"data"
        );

        // With a header checksum (FHCRC), right and wrong.
        let mut header = bytes[..10].to_vec();
        header[3] |= 1 << 1;
        let fields_end = 10 + 2 + 4 + b"archive.tar\0".len() + b"a comment\0".len();
        header.extend_from_slice(&bytes[10..fields_end]);
        let mut crc = flate2::Crc::new();
        crc.update(&header);
        let mut with_hcrc = header.clone();
        with_hcrc.extend_from_slice(&(crc.sum() as u16).to_le_bytes());
        with_hcrc.extend_from_slice(&bytes[fields_end..]);
        let (_tmp, result) = unpack(&with_hcrc);
        result.unwrap();
        let at = fields_end;
        with_hcrc[at] ^= 0xff;
        let (_tmp, result) = unpack(&with_hcrc);
        assert!(err_text(result).contains("checksum"));

        // Reserved flag bits are refused.
        bytes[3] |= 0x80;
        let (_tmp, result) = unpack(&bytes);
        assert!(err_text(result).contains("invalid gzip header"));
    }

    #[test]
    fn broken_streams_are_errors_not_hangs() {
        let big: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let tgz = Tgz::new().dir("python").file("python/big", &big).gz();

        // Cut off: the gzip stream ends early.
        let (_tmp, result) = unpack(&tgz[..tgz.len() / 2]);
        assert!(err_text(result).contains("corrupt archive"));

        // Damaged in the middle.
        let mut bad = tgz.clone();
        let mid = bad.len() / 2;
        bad[mid..mid + 64].iter_mut().for_each(|b| *b ^= 0xff);
        let (_tmp, result) = unpack(&bad);
        assert!(err_text(result).contains("corrupt archive"));

        // A wrong checksum in the trailer.
        let mut bad_crc = tgz.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        let (_tmp, result) = unpack(&bad_crc);
        let err = err_text(result);
        assert!(
            err.contains("corrupt archive") && err.contains("checksum"),
            "{err}"
        );

        // No trailer at all.
        let (_tmp, result) = unpack(&tgz[..tgz.len() - 8]);
        assert!(err_text(result).contains("corrupt archive"));

        // Not gzip.
        let (_tmp, result) = unpack(b"PK\x03\x04 not a gzip file at all");
        assert!(err_text(result).contains("invalid gzip header"));

        // Bytes after the gzip stream are read too (they count towards the download's hash).
        let mut trailing = tgz.clone();
        trailing.extend_from_slice(b"trailing bytes");
        let tmp = crate::test_machine::tempdir().unwrap();
        let rest = unpack_tar_gz(&trailing[..], tmp.path(), "t").unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn symlink_containment() {
        assert!(symlink_stays_inside(
            Path::new("python/bin/python"),
            Path::new("python3.12")
        ));
        assert!(symlink_stays_inside(
            Path::new("python/lib/x"),
            Path::new("../bin/y")
        ));
        assert!(!symlink_stays_inside(
            Path::new("python/bin/x"),
            Path::new("../../../etc/passwd")
        ));
        assert!(!symlink_stays_inside(
            Path::new("python/bin/x"),
            Path::new("/etc/passwd")
        ));
        assert!(!symlink_stays_inside(
            Path::new("python/lib/x"),
            Path::new("../../outside")
        ));
        assert!(!symlink_stays_inside(
            Path::new("python/escape"),
            Path::new("../..")
        ));
        assert!(checked_relative(Path::new("python/../../evil")).is_none());
        assert!(checked_relative(Path::new("/abs")).is_none());
    }
}
