//! `Env`, the context every project operation needs (settings, platform, reporter, and uv found
//! on first need), in its own module because sync, the services, the cache commands and export
//! all take it; it lived in `project::sync` when sync was its only user.

use std::path::PathBuf;

use anyhow::Result;

use crate::installer::{self, IndexSettings, Uv};
use crate::platform::Platform;
use crate::project::config::Config;
use crate::python::{self, PythonRequest};
use crate::reporter::Reporter;
use crate::settings::Settings;

/// The context every project operation needs.
pub struct Env<'a> {
    pub settings: &'a Settings,
    pub platform: Platform,
    pub reporter: &'a dyn Reporter,
    /// Found (or bootstrapped) on first need only: a warm switch never starts uv at all.
    uv: std::cell::OnceCell<Uv>,
    /// `name==version` lines every resolution of this operation keeps (`--upgrade-package`: the
    /// lock's versions of all the other packages).
    constraints: std::cell::RefCell<Vec<String>>,
}

impl<'a> Env<'a> {
    pub fn new(settings: &'a Settings, reporter: &'a dyn Reporter) -> Self {
        Self {
            settings,
            platform: Platform::current(),
            reporter,
            uv: std::cell::OnceCell::new(),
            constraints: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Keep these versions (`name==version`) in every later resolution of this operation.
    pub fn keep_versions(&self, constraints: Vec<String>) {
        *self.constraints.borrow_mut() = constraints;
    }

    pub fn constraints(&self) -> Vec<String> {
        self.constraints.borrow().clone()
    }

    /// The index settings of a project (its `config`): `PYENVX_INDEX_URL` / `PYENVX_FIND_LINKS`
    /// over its `[tool.pyenvx]` ones, with its extra indexes.
    pub fn index(&self, config: &Config) -> IndexSettings {
        IndexSettings::from_settings(self.settings)
            .merged(config.index_url.as_deref(), &config.find_links)
            .with_extra_indexes(&config.extra_index_urls)
    }

    /// uv, bootstrapped on first use with pip from a managed (or found) interpreter.
    pub fn uv(&self, index: &IndexSettings) -> Result<Uv> {
        if let Some(uv) = self.uv.get() {
            return Ok(uv.clone());
        }
        let settings = self.settings;
        let platform = &self.platform;
        let reporter = self.reporter;
        let uv = installer::ensure_uv(
            settings,
            index,
            &|| {
                let interp = python::find_or_install(
                    settings,
                    platform,
                    &PythonRequest::parse("3")?,
                    reporter,
                )?;
                Ok(interp.executable())
            },
            reporter,
        )?;
        Ok(self.uv.get_or_init(|| uv).clone())
    }

    pub(crate) fn uv_cache(&self) -> PathBuf {
        self.settings.dirs.cache().join("uv")
    }
}
