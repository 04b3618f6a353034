//! A project: the directory holding `pyenvx.toml`, its lock, its `.python-version` and its
//! `.venv`, found by walking up from the working directory.

pub mod adopt;
pub mod config;
pub mod env;
pub mod envfile;
pub mod environment;
pub mod foreign_lock;
pub mod ignore;
pub mod local;
pub mod lock;
pub mod pep508;
pub mod requirements;
pub mod sync;
pub mod undo;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::user_error;
pub use config::{Config, CONFIG_FILE};
pub use env::Env;
pub use lock::{Lock, LOCK_FILE};

/// A located project and its parsed configuration.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
}

impl Project {
    /// The nearest `pyenvx.toml` at or above `start`.
    pub fn discover(start: &Path) -> Result<Self> {
        let root = find_root(start).ok_or_else(|| {
            user_error!(
                hint = "run `pyenvx init` to make this directory a project",
                "no pyenvx.toml in {} or any parent directory",
                start.display()
            )
        })?;
        Self::load(&root)
    }

    pub fn load(root: &Path) -> Result<Self> {
        let config = Config::load(&root.join(CONFIG_FILE))?;
        Ok(Self {
            root: root.to_path_buf(),
            config,
        })
    }

    pub fn from_cwd() -> Result<Self> {
        let cwd = std::env::current_dir()?;
        Self::discover(&cwd)
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    pub fn venv_dir(&self) -> PathBuf {
        self.root.join(".venv")
    }

    /// Project-local state pyenvx owns (locks, service data); listed in `.gitignore`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".pyenvx")
    }

    pub fn python_version_file(&self) -> PathBuf {
        self.root.join(".python-version")
    }

    pub fn dotenv_path(&self) -> PathBuf {
        self.root.join(".env")
    }

    /// Re-read `pyenvx.toml` after an edit.
    pub fn reload(&mut self) -> Result<()> {
        self.config = Config::load(&self.config_path())?;
        Ok(())
    }
}

/// Walk up from `start` to the first directory holding `pyenvx.toml`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(CONFIG_FILE).is_file())
        .map(Path::to_path_buf)
}
