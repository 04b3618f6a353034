//! Installing one python-build-standalone build.
//!
//! One pass over the bytes: download (or cached file) -> SHA-256 -> gunzip -> safe untar into a
//! temporary directory beside the destination; the archive is teed into the download cache at the
//! same time. The three stages run on their own threads, connected by bounded pipes. Only when
//! the hash matches is anything renamed into place, so an interrupted or failed install leaves
//! nothing behind but a temporary directory the next attempt removes.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::dirs::Dirs;
use crate::download::{self, PumpEnd};
use crate::filelock::FileLock;
use crate::platform::Platform;
use crate::python::archive;
use crate::python::catalog::Download;
use crate::python::managed::{self, Installed, Receipt, RECEIPT};
use crate::reporter::Reporter;
use crate::user_error;

/// Install options that come from settings, not from the build itself.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    pub reinstall: bool,
    pub offline: bool,
    pub mirror: Option<String>,
}

/// What `install` did.
#[derive(Debug)]
pub enum Outcome {
    Installed(Installed),
    AlreadyInstalled(Installed),
}

impl Outcome {
    pub fn installed(&self) -> &Installed {
        match self {
            Outcome::Installed(i) | Outcome::AlreadyInstalled(i) => i,
        }
    }
}

/// Unpack the archive into `target`'s staging directory: from the download cache when it holds
/// the archive and it still verifies (a bad one is discarded), else downloaded (into the cache).
fn unpack_cached_or_fetched(
    dirs: &Dirs,
    download: &Download,
    url: &str,
    offline: bool,
    cached: &Path,
    target: &Unpack,
) -> Result<()> {
    if cached.is_file() {
        // Re-verified on every reuse: a cache file can rot or be swapped.
        match unpack_verified(&cached.display().to_string(), cached, target) {
            Ok(()) => {}
            Err(e) => {
                let _ = fs_err::remove_file(cached);
                target.reporter.warn(&format!(
                    "discarded the cached archive {}: {e:#}",
                    cached.display()
                ));
                if offline {
                    return Err(e);
                }
                clear_dir(target.staging)?;
                fetch_and_unpack(dirs, url, cached, target)?;
            }
        }
    } else if offline {
        return Err(user_error!(
            hint = "run the same command without --offline once to download it",
            "offline, and {} is not in the download cache ({} is missing)",
            download.file_name(),
            cached.display()
        ));
    } else {
        fetch_and_unpack(dirs, url, cached, target)?;
    }
    Ok(())
}

/// Install `download`, unless it already is (or `reinstall` is set).
pub fn install(
    dirs: &Dirs,
    platform: &Platform,
    download: &Download,
    opts: &InstallOptions,
    reporter: &dyn Reporter,
) -> Result<Outcome> {
    let key = download.key();
    let pythons = dirs.pythons();
    fs_err::create_dir_all(&pythons)?;
    let dest = pythons.join(&key);
    let _lock = FileLock::acquire(&dirs.locks().join(format!("{key}.lock")), || {
        reporter.waiting_for_lock(&format!("another pyenvx is installing {key}"))
    })?;
    remove_leftovers(&pythons, &key);
    // Partial downloads of killed runs (a live one is held by its process), swept once here,
    // before anything below can download.
    crate::leftovers::sweep(&dirs.downloads(), &[".partial-"]);

    if !opts.reinstall {
        if let Some(existing) = managed::read(&dest) {
            managed::update_minor_link(dirs, platform, &download.version, download.freethreaded())?;
            return Ok(Outcome::AlreadyInstalled(existing));
        }
    }

    let expected = download.sha256.clone().ok_or_else(|| {
        user_error!(
            hint =
                "use a catalog that lists a sha256 for every build (PYENVX_PYTHON_DOWNLOADS_JSON)",
            "refusing to install {key}: the catalog gives no SHA-256 for {}",
            download.url
        )
    })?;
    let url = download.resolved_url(opts.mirror.as_deref());
    // Held while in use: another run removes it only once this process is gone.
    let (staging, _held) = crate::leftovers::create_held(
        || {
            tempfile::Builder::new()
                .prefix(&format!(".tmp-{key}-"))
                .tempdir_in(&pythons)
        },
        |t| t.path(),
    )
    .with_context(|| {
        format!(
            "cannot create a temporary directory in {}",
            pythons.display()
        )
    })?;

    let cached = dirs.downloads().join(download.file_name());
    let target = Unpack {
        label: &key,
        expected: &expected,
        staging: staging.path(),
        reporter,
    };
    unpack_cached_or_fetched(dirs, download, &url, opts.offline, &cached, &target)?;

    let root = staging.path().join("python");
    if !root.join("bin").is_dir() {
        return Err(user_error!(
            hint = "only python-build-standalone `install_only` archives are supported",
            "archive {url} does not contain python/bin"
        ));
    }
    finish_layout(&root, &dest, download)?;
    let receipt = Receipt {
        key: key.clone(),
        version: download.version.clone(),
        variant: download.variant.clone(),
        build: download.build.clone(),
        url: download.url.clone(),
        sha256: expected,
        platform: platform.key(),
    };
    // The receipt goes in last: a directory without one is never treated as installed.
    crate::fs::write_atomic(
        &root.join(RECEIPT),
        serde_json::to_string_pretty(&receipt)?.as_bytes(),
    )?;

    if dest.exists() {
        let old = pythons.join(format!(".tmp-{key}-old-{}", std::process::id()));
        fs_err::rename(&dest, &old)?;
        fs_err::rename(&root, &dest)?;
        let _ = fs_err::remove_dir_all(&old);
    } else {
        fs_err::rename(&root, &dest)?;
    }
    managed::update_minor_link(dirs, platform, &download.version, download.freethreaded())?;
    let installed =
        managed::read(&dest).context("install receipt unreadable right after writing it")?;
    Ok(Outcome::Installed(installed))
}

/// Where an archive goes and what it must hash to.
struct Unpack<'a> {
    /// What the progress bar names: the build's key, not the archive's long file name.
    label: &'a str,
    expected: &'a str,
    staging: &'a Path,
    reporter: &'a dyn Reporter,
}

/// Download `url` into `target.staging`, keeping a verified copy at `cache_path`.
fn fetch_and_unpack(dirs: &Dirs, url: &str, cache_path: &Path, target: &Unpack) -> Result<()> {
    let downloads = dirs.downloads();
    fs_err::create_dir_all(&downloads)?;
    let (mut partial, _held) = crate::leftovers::create_held(
        || {
            tempfile::Builder::new()
                .prefix(".partial-")
                .tempfile_in(&downloads)
        },
        |t| t.path(),
    )
    .context("cannot create a file in the download cache")?;
    {
        let body = download::open(url, &[])?;
        unpack_stream(
            url,
            body.reader,
            Some(partial.as_file_mut()),
            body.len,
            target,
        )?;
    }
    partial.persist(cache_path).with_context(|| {
        format!(
            "cannot store {} in the download cache",
            cache_path.display()
        )
    })?;
    Ok(())
}

fn unpack_verified(origin: &str, path: &Path, target: &Unpack) -> Result<()> {
    let file = fs_err::File::open(path)?;
    let len = file.metadata().ok().map(|m| m.len());
    unpack_stream(origin, file, None, len, target)
}

/// Compressed bytes are read in chunks this big, each hashed and cached in one go.
const RAW_CHUNK: usize = 256 << 10;
/// How many compressed chunks may wait for the decompressor.
const RAW_DEPTH: usize = 8;

/// Hash, gunzip and untar `reader` into `staging`, then check length and hash; every byte read
/// is also written to `cache` when given.
///
/// Three threads overlap: one reads, hashes and caches the compressed bytes, one decompresses
/// (in [`archive::unpack_tar_gz`]), and this one writes the files.
fn unpack_stream(
    origin: &str,
    reader: impl Read + Send,
    cache: Option<&mut std::fs::File>,
    len: Option<u64>,
    target: &Unpack,
) -> Result<()> {
    let &Unpack {
        label,
        expected,
        staging,
        reporter,
    } = target;
    let id = reporter.download_start(label, len);
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut cache = cache.map(|file| BufWriter::with_capacity(1 << 20, file));
    let scoped = std::thread::scope(|scope| {
        let on_chunk = |chunk: &[u8]| -> std::io::Result<()> {
            hasher.update(chunk);
            received += chunk.len() as u64;
            reporter.download_progress(id, chunk.len() as u64);
            match cache.as_mut() {
                Some(cache) => cache.write_all(chunk),
                None => Ok(()),
            }
        };
        let (compressed, source) =
            download::read_ahead(scope, "download", reader, RAW_CHUNK, RAW_DEPTH, on_chunk)
                .context("cannot start the download thread")?;
        // On failure the pipe is dropped inside, which stops the reading thread.
        let result = archive::unpack_tar_gz(compressed, staging, origin).map(drop);
        let source_end = source.join().map(|(_, _, end)| end);
        anyhow::Ok((result, source_end))
    });
    reporter.download_done(id);
    let (result, source_end) = scoped?;
    let source_end =
        source_end.map_err(|_| anyhow::anyhow!("the thread reading {origin} panicked"))?;
    // The source stopped on its own (its end, or a read error) rather than because unpacking
    // gave up: a short count then means the body was cut off.
    let source_stopped = source_end != PumpEnd::Closed;
    match (result, len) {
        (Ok(()), _) => {}
        // A body that stops early breaks the gzip stream too; the short count is the real story.
        (Err(e), Some(len)) if source_stopped && received < len => {
            return Err(e.context(
                crate::error::UserError::new(format!(
                    "download failed: {origin} ended after {received} of {len} bytes"
                ))
                .hint("the connection was cut; retry the command"),
            ))
        }
        (Err(e), _) => return Err(e),
    }
    let (actual, count) = (hex::encode(hasher.finalize()), received);
    if let Some(len) = len {
        if count != len {
            return Err(user_error!(
                hint = "the connection was cut; retry the command",
                "download failed: {origin} ended after {count} of {len} bytes"
            ));
        }
    }
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(user_error!(
            hint = "the file differs from the one the catalog describes; nothing was installed. Check the mirror, or report a tampered download",
            "hash mismatch for {origin}: expected sha256 {expected}, got {actual}"
        ));
    }
    if let Some(cache) = cache.as_mut() {
        cache
            .flush()
            .context("cannot write to the download cache")?;
    }
    Ok(())
}

/// The last touches that make an archive a usable interpreter in its final place.
fn finish_layout(root: &Path, dest: &Path, download: &Download) -> Result<()> {
    let bin = root.join("bin");
    let exe = managed::executable_name(&download.version, download.freethreaded());
    if !bin.join(&exe).exists() {
        return Err(user_error!(
            "archive {} lacks python/bin/{exe}",
            download.file_name()
        ));
    }
    // Releases before mid-2024 have no `bin/python`.
    for name in ["python", "python3"] {
        let link = bin.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(&exe, &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
        }
    }
    rewrite_build_paths(root, dest)
}

/// python-build-standalone records its build prefix `/install` in sysconfig; compiling an
/// extension (any sdist with C code) would then look for headers under `/install`. Point those
/// paths at the final location instead.
fn rewrite_build_paths(root: &Path, dest: &Path) -> Result<()> {
    let lib = root.join("lib");
    let Ok(entries) = fs_err::read_dir(&lib) else {
        return Ok(());
    };
    let dest = dest.to_str().context("install path is not valid UTF-8")?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("python3") {
            continue;
        }
        for inner in fs_err::read_dir(entry.path())?.flatten() {
            let inner_name = inner.file_name().to_string_lossy().into_owned();
            if inner_name.starts_with("_sysconfigdata") && inner_name.ends_with(".py") {
                files.push(inner.path());
            } else if inner_name.starts_with("config-") && inner.path().is_dir() {
                files.push(inner.path().join("Makefile"));
            }
            if inner_name == "_sysconfig_vars" || inner_name.starts_with("_sysconfig_vars") {
                files.push(inner.path());
            }
        }
    }
    if let Ok(pc) = fs_err::read_dir(lib.join("pkgconfig")) {
        files.extend(pc.flatten().map(|e| e.path()));
    }
    for entry in fs_err::read_dir(root.join("bin"))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-config") && !entry.file_type()?.is_symlink() {
            files.push(entry.path());
        }
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let rewritten = replace_prefix(&text, "/install", dest);
        if rewritten != text {
            let perms = fs_err::metadata(&file)?.permissions();
            crate::fs::write_atomic(&file, rewritten.as_bytes())?;
            fs_err::set_permissions(&file, perms)?;
        }
    }
    Ok(())
}

/// Replace `prefix` where it stands as a whole path (followed by `/`, a quote, whitespace or the
/// end), never inside a longer name like `/installer`.
fn replace_prefix(text: &str, prefix: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(prefix) {
        let before_ok = rest[..pos]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back())
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '/' || c == '.' || c == '-'));
        let after = rest[pos + prefix.len()..].chars().next();
        let after_ok = after
            .is_none_or(|c| c == '/' || c == '\'' || c == '"' || c.is_whitespace() || c == ':');
        out.push_str(&rest[..pos]);
        out.push_str(if before_ok && after_ok {
            replacement
        } else {
            prefix
        });
        rest = &rest[pos + prefix.len()..];
    }
    out.push_str(rest);
    out
}

/// Temporary directories left by a killed install of `key`; safe to delete because we hold
/// the install lock for that key.
/// Temporary directories of killed installs: those of `key` (whose lock this process holds),
/// and those of any other build that no live process holds.
fn remove_leftovers(pythons: &Path, key: &str) {
    let prefix = format!(".tmp-{key}-");
    if let Ok(entries) = std::fs::read_dir(pythons) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    crate::leftovers::sweep(pythons, &[".tmp-"]);
}

fn clear_dir(dir: &Path) -> Result<()> {
    for entry in fs_err::read_dir(dir)?.flatten() {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs_err::remove_dir_all(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::replace_prefix;

    #[test]
    fn rewrites_only_whole_install_paths() {
        let text = "'prefix': '/install',\n'INCLUDEPY': '/install/include/python3.12',\nprefix=\t/install\nx=/installer /x/install";
        let out = replace_prefix(text, "/install", "/home/u/py");
        assert_eq!(
            out,
            "'prefix': '/home/u/py',\n'INCLUDEPY': '/home/u/py/include/python3.12',\nprefix=\t/home/u/py\nx=/installer /x/install"
        );
    }
}
