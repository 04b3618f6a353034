//! Global settings: command-line flags merged with `PYENVX_*` environment variables, resolved
//! once per run into one plain struct that commands receive.
//!
//! The values settings hold are defined here too (where the Python catalog comes from, and its
//! default URLs), so that settings depends on nothing but `dirs`: `python` and every other
//! module read `Settings`, never the other way round.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;

use crate::dirs::Dirs;
use crate::user_error;

/// python-build-standalone's NDJSON version index: one line per release with its artifacts.
pub const NDJSON_INDEX_URL: &str =
    "https://releases.astral.sh/github/versions/main/v1/python-build-standalone.ndjson";
/// The GitHub releases API, used when the NDJSON index is unavailable.
pub const GITHUB_RELEASES_API: &str =
    "https://api.github.com/repos/astral-sh/python-build-standalone/releases?per_page=10";

/// Where the catalog comes from.
#[derive(Debug, Clone)]
pub enum CatalogSource {
    /// A uv-format file or URL.
    UvJson(String),
    /// python-build-standalone's published release data.
    Live(LiveSources),
}

/// Where the live list is read: python-build-standalone's NDJSON index, then the GitHub
/// releases API. Both can be pointed elsewhere (`PYENVX_PYTHON_RELEASES_NDJSON`,
/// `PYENVX_PYTHON_RELEASES_API`): a company's mirror of the index, or a test's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSources {
    pub ndjson: String,
    pub releases_api: String,
}

impl Default for LiveSources {
    fn default() -> Self {
        Self {
            ndjson: NDJSON_INDEX_URL.to_string(),
            releases_api: GITHUB_RELEASES_API.to_string(),
        }
    }
}

/// Which interpreters to consider, and in which order (`PYENVX_PYTHON_PREFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PythonPreference {
    /// Managed builds first, then interpreters found on the machine.
    #[default]
    Managed,
    OnlyManaged,
    /// Interpreters found on the machine first, then managed builds.
    System,
    OnlySystem,
}

impl FromStr for PythonPreference {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "managed" => Self::Managed,
            "only-managed" => Self::OnlyManaged,
            "system" => Self::System,
            "only-system" => Self::OnlySystem,
            other => {
                return Err(user_error!(
                    hint = "use one of `managed`, `only-managed`, `system`, `only-system`",
                    "invalid PYENVX_PYTHON_PREFERENCE `{other}`"
                ))
            }
        })
    }
}

impl PythonPreference {
    pub fn allows_managed(self) -> bool {
        self != Self::OnlySystem
    }
    pub fn allows_system(self) -> bool {
        self != Self::OnlyManaged
    }
    pub fn system_first(self) -> bool {
        matches!(self, Self::System | Self::OnlySystem)
    }
}

/// Everything a command needs to know beyond its own arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dirs: Dirs,
    pub offline: bool,
    pub preference: PythonPreference,
    pub catalog: CatalogSource,
    pub mirror: Option<String>,
}

/// Truthy environment values: `1`, `true`, `yes`, `on`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Resolve from the environment; `offline_flag` is the `--offline` switch.
    pub fn from_env(offline_flag: bool) -> Result<Self> {
        let preference = match env_nonempty("PYENVX_PYTHON_PREFERENCE") {
            Some(v) => v.parse()?,
            None => PythonPreference::default(),
        };
        let catalog = match env_nonempty("PYENVX_PYTHON_DOWNLOADS_JSON") {
            Some(loc) => CatalogSource::UvJson(loc),
            None => {
                let defaults = LiveSources::default();
                CatalogSource::Live(LiveSources {
                    ndjson: env_nonempty("PYENVX_PYTHON_RELEASES_NDJSON")
                        .unwrap_or(defaults.ndjson),
                    releases_api: env_nonempty("PYENVX_PYTHON_RELEASES_API")
                        .unwrap_or(defaults.releases_api),
                })
            }
        };
        Ok(Self {
            dirs: Dirs::from_env()?,
            offline: offline_flag || env_flag("PYENVX_OFFLINE"),
            preference,
            catalog,
            mirror: env_nonempty("PYENVX_PYTHON_MIRROR"),
        })
    }

    /// Directories never searched for interpreters: our own shims would find themselves.
    pub fn shim_dirs(&self) -> Vec<PathBuf> {
        vec![self.dirs.home().join("shims")]
    }
}
