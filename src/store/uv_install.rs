//! What the store leaves to uv: one `uv pip install --target` of the distributions it could not
//! unpack itself (sdists, wheels with data files, anything offline), hash-checked.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::installer::{run_uv, IndexSettings, Uv};
use crate::reporter::Reporter;
use crate::resolution::Dist;

fn describe<'a>(mut dists: impl ExactSizeIterator<Item = &'a Dist>) -> String {
    let n = dists.len();
    match dists.next() {
        Some(first) if n > 1 => format!("{} {} and {} more", first.name, first.version, n - 1),
        Some(first) => format!("{} {}", first.name, first.version),
        None => String::new(),
    }
}

/// One `uv pip install --target` of what the store could not unpack itself, with the settings
/// every run shares.
pub(super) struct UvInstall<'a> {
    pub(super) uv: &'a Uv,
    pub(super) python: &'a Path,
    pub(super) index: &'a IndexSettings,
    pub(super) offline: bool,
    pub(super) uv_cache: &'a Path,
}

impl UvInstall<'_> {
    /// Install `wanted` into `target`, without dependencies (the lock has them all).
    pub(super) fn install(
        &self,
        staging: &Path,
        target: &Path,
        wanted: &BTreeMap<String, &Dist>,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let subject = describe(wanted.values().copied());
        // Hash-checked files in one uv call; git checkouts, which have no hash to check, in
        // another (`--require-hashes` refuses them).
        let (checked, checkouts): (Vec<&Dist>, Vec<&Dist>) =
            wanted.values().copied().partition(|r| !r.vcs);
        for (i, group) in [checked, checkouts].into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let requirements = staging.join(format!("requirements-{i}.txt"));
            let lines: String = group
                .iter()
                .map(|r| format!("{}\n", r.requirement_line()))
                .collect();
            fs_err::write(&requirements, lines)?;
            let mut cmd = self.uv.command(self.uv_cache, self.offline, staging);
            cmd.args(["pip", "install", "--target"])
                .arg(target)
                .arg("--python")
                .arg(self.python)
                .arg("--no-deps")
                .args(if group[0].vcs {
                    None
                } else {
                    Some("--require-hashes")
                })
                .arg("-r")
                .arg(&requirements)
                .args(self.index.args());
            let id = reporter.download_start(&subject, None);
            let ran = run_uv(cmd, "install", &subject);
            reporter.download_done(id);
            ran?;
        }
        Ok(())
    }
}
