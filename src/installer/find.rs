//! Finding the uv binary pyenvx drives: `PYENVX_UV`, pyenvx's own copy, or `uv` on `PATH`;
//! when there is none, [`super::bootstrap`] installs one, possibly ahead of need on a
//! background thread ([`prefetch`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::bootstrap;
use super::index::IndexSettings;
use super::uv::{managed_uv, too_old, tools_dir, Uv};
use crate::dirs::Dirs;
use crate::reporter::Reporter;
use crate::settings::Settings;
use crate::user_error;

/// Find uv, or install it: `PYENVX_UV`, then pyenvx's own copy in `$PYENVX_HOME/tools/uv`, then
/// `uv` on `PATH` (not through pyenvx's shims), else `pip install uv` into `tools/uv` with the
/// interpreter `bootstrap_python` supplies.
///
/// Offline, the bootstrap only runs when the index settings are find-links alone (no server).
pub fn ensure_uv(
    settings: &Settings,
    index: &IndexSettings,
    bootstrap_python: &dyn Fn() -> Result<PathBuf>,
    reporter: &dyn Reporter,
) -> Result<Uv> {
    let (dirs, offline) = (&settings.dirs, settings.offline);
    if let Some(uv) = prefetched(dirs, index, offline, reporter) {
        return Ok(uv);
    }
    find_or_bootstrap(
        dirs,
        settings.programs.uv.clone(),
        std::env::var_os("PATH"),
        index,
        offline,
        bootstrap_python,
        reporter,
    )
}

/// A search for uv started ahead of need by [`prefetch`], for these dirs and index settings.
struct Prefetch {
    tools: PathBuf,
    index: IndexSettings,
    offline: bool,
    handle: std::thread::JoinHandle<Result<Uv>>,
}

static PREFETCH: std::sync::Mutex<Option<Prefetch>> = std::sync::Mutex::new(None);

/// Waits, when dropped, for a [`prefetch`] nobody took: pyenvx must not exit halfway through
/// unpacking uv (its staging directory would be left behind).
#[must_use = "the prefetch is waited for when this is dropped"]
pub struct PrefetchGuard(());

impl Drop for PrefetchGuard {
    fn drop(&mut self) {
        let pending = PREFETCH.lock().ok().and_then(|mut slot| slot.take());
        if let Some(p) = pending {
            let _ = p.handle.join();
        }
    }
}

/// Start [`ensure_uv`]'s search on a background thread, so that a cold start installs uv from
/// the index while the caller does work of its own (init finds its interpreter meanwhile). Only
/// what needs no Python runs there, silently; [`ensure_uv`] for the same dirs and settings takes
/// the result, and does the search again itself (with progress, and pip as a way out) if the
/// thread found nothing.
pub fn prefetch(settings: &Settings, index: &IndexSettings) -> PrefetchGuard {
    prefetch_with(
        &settings.dirs,
        settings.programs.uv.clone(),
        std::env::var_os("PATH"),
        index,
        settings.offline,
    )
}

fn prefetch_with(
    dirs: &Dirs,
    from_env: Option<PathBuf>,
    path_var: Option<OsString>,
    index: &IndexSettings,
    offline: bool,
) -> PrefetchGuard {
    let Ok(mut slot) = PREFETCH.lock() else {
        return PrefetchGuard(());
    };
    if slot.is_none() {
        let (thread_dirs, thread_index) = (dirs.clone(), index.clone());
        let spawned = std::thread::Builder::new()
            .name("uv-prefetch".into())
            .spawn(move || {
                let no_python =
                    || -> Result<PathBuf> { Err(anyhow!("no Python is started to prefetch uv")) };
                find_or_bootstrap(
                    &thread_dirs,
                    from_env,
                    path_var,
                    &thread_index,
                    offline,
                    &no_python,
                    &crate::reporter::Silent,
                )
            });
        if let Ok(handle) = spawned {
            *slot = Some(Prefetch {
                tools: tools_dir(dirs),
                index: index.clone(),
                offline,
                handle,
            });
        }
    }
    PrefetchGuard(())
}

/// The uv a [`prefetch`] for the same dirs and settings found, waiting for it if needed.
fn prefetched(
    dirs: &Dirs,
    index: &IndexSettings,
    offline: bool,
    reporter: &dyn Reporter,
) -> Option<Uv> {
    let p = {
        let mut slot = PREFETCH.lock().ok()?;
        let same = slot.as_ref().is_some_and(|p| {
            p.tools == tools_dir(dirs) && p.index == *index && p.offline == offline
        });
        if !same {
            return None;
        }
        slot.take()?
    };
    let id = (!p.handle.is_finished()).then(|| reporter.download_start("uv", None));
    let found = p.handle.join();
    if let Some(id) = id {
        reporter.download_done(id);
    }
    found.ok()?.ok()
}

/// [`ensure_uv`] with its environment passed in, so tests need not mutate the process's.
fn find_or_bootstrap(
    dirs: &Dirs,
    from_env: Option<PathBuf>,
    path_var: Option<OsString>,
    index: &IndexSettings,
    offline: bool,
    bootstrap_python: &dyn Fn() -> Result<PathBuf>,
    reporter: &dyn Reporter,
) -> Result<Uv> {
    if let Some(exe) = from_env {
        let uv = Uv::at(&exe).map_err(|e| {
            user_error!(
                hint = "point PYENVX_UV at a uv binary, or unset it",
                "PYENVX_UV does not name a working uv: {e:#}"
            )
        })?;
        if !uv.is_supported() {
            return Err(too_old(&uv, "PYENVX_UV"));
        }
        return Ok(uv);
    }
    if let Some(uv) = managed_uv(dirs) {
        return Ok(uv);
    }
    if let Some(uv) = path_var.and_then(|p| uv_on_path(dirs, &p)) {
        return Ok(uv);
    }
    if offline && !index.is_find_links_only() {
        return Err(user_error!(
            hint = "run once without --offline so pyenvx can install uv, put uv on PATH, or set \
                    PYENVX_UV to a uv binary",
            "uv is not installed, and --offline forbids downloading it"
        ));
    }
    bootstrap::install(dirs, index, offline, bootstrap_python, reporter)
}

fn uv_on_path(dirs: &Dirs, path_var: &OsString) -> Option<Uv> {
    // A `uv` shim would run pyenvx again instead of uv.
    let shims = dirs.home().join("shims");
    let shims_canon = fs_err::canonicalize(&shims).ok();
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty() && *dir != shims)
        .filter(|dir| shims_canon.is_none() || fs_err::canonicalize(dir).ok() != shims_canon)
        .map(|dir| dir.join("uv"))
        .filter(|exe| is_executable(exe))
        // An old uv first on PATH is passed over, not fatal: the bootstrap provides a new one.
        .find_map(|exe| Uv::at(&exe).ok().filter(Uv::is_supported))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_support::{fixtures, python, uv_binary, wheelhouse_index};
    use super::super::uv::managed_uv_exe;
    use super::*;
    use crate::error::UserError;
    use crate::reporter::Silent;

    /// Tests that need this machine's fixtures (a pyenv CPython, the shared wheelhouse, a
    /// server): outside the fast tier (`cargo test --lib -- --skip needs_machine`).
    mod needs_machine {
        use super::*;

        /// A prefetch installs uv in the background, and `ensure_uv` for the same settings takes it
        /// (starting no Python); one nobody takes is waited for when its guard drops.
        #[test]
        fn a_prefetch_installs_uv_in_the_background() {
            fixtures();
            let home = crate::test_machine::tempdir().unwrap();
            let dirs = Dirs::new(home.path().join("home"), home.path().join("cache"));
            let index = wheelhouse_index();
            let guard = prefetch_with(&dirs, None, None, &index, false);
            let other = IndexSettings::default();
            assert_eq!(prefetched(&dirs, &other, false, &Silent), None);
            let uv = prefetched(&dirs, &index, false, &Silent).expect("the prefetch installs uv");
            assert_eq!(uv.exe, managed_uv_exe(&dirs));
            assert_eq!(
                prefetched(&dirs, &index, false, &Silent),
                None,
                "taken once"
            );
            drop(guard);

            let untaken = Dirs::new(home.path().join("home2"), home.path().join("cache2"));
            drop(prefetch_with(&untaken, None, None, &index, false));
            assert!(
                managed_uv(&untaken).is_some(),
                "the guard waited for the install"
            );
            let tools: Vec<_> = fs_err::read_dir(tools_dir(&untaken))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(tools, ["uv"], "nothing half-made is left");
        }

        #[test]
        fn bootstrap_failure_is_a_user_error() {
            fixtures();
            let home = crate::test_machine::tempdir().unwrap();
            let dirs = Dirs::new(home.path().join("home"), home.path().join("cache"));
            let empty = crate::test_machine::tempdir().unwrap();
            let index = IndexSettings {
                index_url: None,
                find_links: vec![empty.path().to_string_lossy().into_owned()],
                extra_index_urls: Vec::new(),
            };
            let python = || -> Result<PathBuf> { Ok(python().to_path_buf()) };
            let err =
                find_or_bootstrap(&dirs, None, None, &index, false, &python, &Silent).unwrap_err();
            assert!(err.downcast_ref::<UserError>().is_some(), "{err:#}");
            assert!(err.to_string().contains("cannot install uv"), "{err:#}");
            assert!(!dirs.home().join("tools/uv").exists());
        }

        #[test]
        fn bootstraps_uv_from_find_links_without_python() {
            fixtures();
            let home = crate::test_machine::tempdir().unwrap();
            let dirs = Dirs::new(home.path().join("home"), home.path().join("cache"));
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let python = || -> Result<PathBuf> {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(python().to_path_buf())
            };
            let started = Instant::now();
            // Offline is fine: find-links alone need no server.
            let uv = find_or_bootstrap(
                &dirs,
                None,
                Some(OsString::new()),
                &wheelhouse_index(),
                true,
                &python,
                &Silent,
            )
            .unwrap();
            println!(
                "bootstrap of uv from its wheel took {:?}",
                started.elapsed()
            );
            assert_eq!(uv.exe, dirs.home().join("tools/uv/bin/uv"));
            assert_eq!(uv.version, "0.13.9");
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "no Python runs"
            );
            // Nothing left behind in tools/ but the install.
            let names: Vec<String> = fs_err::read_dir(dirs.home().join("tools"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["uv"]);

            // Second time: reused, no pip.
            let again = find_or_bootstrap(
                &dirs,
                None,
                None,
                &IndexSettings::default(),
                true,
                &python,
                &Silent,
            )
            .unwrap();
            assert_eq!(again, uv);
            assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);

            // The shipped binary matches the wheel's.
            let extracted = uv_binary().unwrap();
            assert_eq!(
                crate::download::sha256_file(&uv.exe).unwrap(),
                crate::download::sha256_file(extracted).unwrap()
            );
        }

        #[test]
        fn finds_uv_from_the_environment_and_path() {
            let uv = fixtures();
            let home = crate::test_machine::tempdir().unwrap();
            let dirs = Dirs::new(home.path().join("home"), home.path().join("cache"));
            let no_python = || -> Result<PathBuf> { panic!("no bootstrap expected") };
            let found = find_or_bootstrap(
                &dirs,
                Some(uv.exe.clone()),
                None,
                &IndexSettings::default(),
                true,
                &no_python,
                &Silent,
            )
            .unwrap();
            assert_eq!(found, uv);
            assert_eq!(found.version, "0.13.9");

            let err = find_or_bootstrap(
                &dirs,
                Some(python().to_path_buf()),
                None,
                &IndexSettings::default(),
                true,
                &no_python,
                &Silent,
            )
            .unwrap_err();
            assert!(err.to_string().contains("PYENVX_UV"), "{err:#}");

            // On PATH, but the copy in the shims directory is skipped.
            let shims = dirs.home().join("shims");
            fs_err::create_dir_all(&shims).unwrap();
            std::os::unix::fs::symlink(python(), shims.join("uv")).unwrap();
            let path = std::env::join_paths([shims.as_path(), uv.exe.parent().unwrap()]).unwrap();
            let found = find_or_bootstrap(
                &dirs,
                None,
                Some(path),
                &IndexSettings::default(),
                true,
                &no_python,
                &Silent,
            )
            .unwrap();
            assert_eq!(found.exe, uv.exe);

            // Nothing anywhere, offline, with a server index configured: a user error.
            let err = find_or_bootstrap(
                &dirs,
                None,
                Some(shims.into_os_string()),
                &IndexSettings::default(),
                true,
                &no_python,
                &Silent,
            )
            .unwrap_err();
            assert!(err.downcast_ref::<UserError>().is_some(), "{err:#}");
            assert!(err.to_string().contains("--offline"), "{err:#}");
        }
    }
}
