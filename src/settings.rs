//! Global settings: command-line flags merged with `PYENVX_*` environment variables, resolved
//! once per run into one plain struct that commands receive.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;

use crate::dirs::Dirs;
use crate::python::catalog::{CatalogSource, LiveSources};
use crate::user_error;

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
