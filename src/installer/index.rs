//! Where packages come from: pyenvx's index settings, passed to uv and pip unchanged.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Index settings passed through to the installer (from `Settings`' `PYENVX_INDEX_URL` /
/// `PYENVX_FIND_LINKS` and the project's `[tool.pyenvx]` `index-url` / `find-links`). Our code
/// names no public index: when unset, uv's/pip's own defaults and the user's own config apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSettings {
    pub index_url: Option<String>,
    /// Directories or URLs of flat file listings. Given alone (no `index_url`), they are the only
    /// source: uv and pip get `--no-index`.
    pub find_links: Vec<String>,
    /// Indexes searched besides `index_url` (the project's `extra-index-url`, kept from its
    /// requirements files or `[tool.uv]` on adoption).
    pub extra_index_urls: Vec<String>,
}

impl IndexSettings {
    /// `PYENVX_INDEX_URL` and `PYENVX_FIND_LINKS`, as `Settings` read and checked them (find-links
    /// directories already absolute, because uv runs in a scratch directory).
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        Self {
            index_url: settings.network.index_url.clone(),
            find_links: settings.network.find_links.clone(),
            extra_index_urls: Vec::new(),
        }
    }

    /// These settings with the project's extra indexes, which no variable overrides.
    pub fn with_extra_indexes(mut self, urls: &[String]) -> Self {
        self.extra_index_urls = urls.to_vec();
        self
    }

    /// These settings over the project's: each setting from the environment wins over the
    /// project's as a whole (find-links lists are not concatenated). Project directories should
    /// already be absolute (relative to the project root).
    pub fn merged(&self, project_index_url: Option<&str>, project_find_links: &[String]) -> Self {
        Self {
            index_url: self
                .index_url
                .clone()
                .or_else(|| project_index_url.map(str::to_string)),
            find_links: if self.find_links.is_empty() {
                project_find_links.to_vec()
            } else {
                self.find_links.clone()
            },
            extra_index_urls: self.extra_index_urls.clone(),
        }
    }

    /// A short digest identifying these settings, for keying anything derived from a resolution.
    /// A digest rather than the text because index URLs may carry credentials.
    pub fn cache_key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"index-url\0");
        hasher.update(self.index_url.as_deref().unwrap_or("").as_bytes());
        for link in &self.find_links {
            hasher.update(b"\0find-links\0");
            hasher.update(link.as_bytes());
        }
        for url in &self.extra_index_urls {
            hasher.update(b"\0extra-index-url\0");
            hasher.update(url.as_bytes());
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// Only local or flat sources: nothing here needs an index server.
    pub(super) fn is_find_links_only(&self) -> bool {
        self.index_url.is_none() && self.extra_index_urls.is_empty() && !self.find_links.is_empty()
    }

    /// The flags uv and pip share for these settings.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(url) = &self.index_url {
            args.extend(["--index-url".to_string(), url.clone()]);
        } else if !self.find_links.is_empty() && self.extra_index_urls.is_empty() {
            args.push("--no-index".to_string());
        }
        for url in &self.extra_index_urls {
            args.extend(["--extra-index-url".to_string(), url.clone()]);
        }
        for link in &self.find_links {
            args.extend(["--find-links".to_string(), link.clone()]);
        }
        args
    }
}

/// The index the user's own uv or pip configuration names, for fetching uv itself when pyenvx's
/// settings name none: `UV_INDEX_URL` / `UV_DEFAULT_INDEX`, `uv.toml`, `PIP_INDEX_URL`, then
/// `pip.conf` (user files before system ones, as each tool ranks them).
pub(super) fn user_index_url() -> Option<String> {
    user_index_url_from(&|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

fn user_index_url_from(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let config_home = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".config")));
    let home = var("HOME").map(PathBuf::from);

    let uv_env = var("UV_INDEX_URL").or_else(|| var("UV_DEFAULT_INDEX"));
    let uv_files = var("UV_CONFIG_FILE").map(PathBuf::from).into_iter().chain(
        config_home
            .iter()
            .map(|c| c.join("uv/uv.toml"))
            .chain([PathBuf::from("/etc/uv/uv.toml")]),
    );
    let pip_files = var("PIP_CONFIG_FILE").map(PathBuf::from).into_iter().chain(
        config_home
            .iter()
            .map(|c| c.join("pip/pip.conf"))
            .chain(home.iter().map(|h| h.join(".pip/pip.conf")))
            .chain([
                PathBuf::from("/etc/pip.conf"),
                PathBuf::from("/etc/xdg/pip/pip.conf"),
            ]),
    );
    uv_env
        .or_else(|| uv_files.into_iter().find_map(|f| uv_toml_index(&f)))
        .or_else(|| var("PIP_INDEX_URL"))
        .or_else(|| pip_files.into_iter().find_map(|f| pip_conf_index(&f)))
        .map(|u| u.trim().to_string())
}

/// `index-url = "…"`, or the `[[index]]` marked `default = true`.
fn uv_toml_index(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    if let Some(url) = doc.get("index-url").and_then(|v| v.as_str()) {
        return Some(url.to_string());
    }
    doc.get("index")?
        .as_array()?
        .iter()
        .filter_map(|i| i.as_table())
        .find(|i| i.get("default").and_then(|d| d.as_bool()) == Some(true))
        .and_then(|i| i.get("url")?.as_str().map(str::to_string))
}

/// `index-url` (or `index_url`) in pip's `[global]`, `[download]` or `[install]` section.
fn pip_conf_index(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        let key = key.trim().replace('_', "-").to_ascii_lowercase();
        if key == "index-url" && ["global", "download", "install"].contains(&section.as_str()) {
            return Some(value.trim().to_string()).filter(|v| !v.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{wheelhouse_index, WHEELHOUSE};
    use super::*;

    #[test]
    fn index_settings_flags_and_merging() {
        assert!(IndexSettings::default().args().is_empty());
        let local = wheelhouse_index();
        assert_eq!(
            local.args(),
            ["--no-index", "--find-links", WHEELHOUSE].map(String::from)
        );
        let both = IndexSettings {
            index_url: Some("http://127.0.0.1:1/simple/".into()),
            find_links: vec!["/w".into()],
            extra_index_urls: Vec::new(),
        };
        assert_eq!(
            both.args(),
            [
                "--index-url",
                "http://127.0.0.1:1/simple/",
                "--find-links",
                "/w"
            ]
            .map(String::from)
        );

        let mut settings =
            crate::settings::Settings::new(crate::dirs::Dirs::new("/h".into(), "/c".into()));
        settings.network.find_links = vec!["/a".into(), "/b".into()];
        let env = IndexSettings::from_settings(&settings);
        assert_eq!(env.index_url, None);
        assert_eq!(env.find_links, ["/a", "/b"]);

        let project_links = vec!["/project/wheels".to_string()];
        let from_project = IndexSettings::default().merged(Some("http://p/simple"), &project_links);
        assert_eq!(from_project.index_url.as_deref(), Some("http://p/simple"));
        assert_eq!(from_project.find_links, project_links);
        let env_wins = both.merged(Some("http://p/simple"), &project_links);
        assert_eq!(env_wins, both);

        assert_eq!(local.cache_key(), wheelhouse_index().cache_key());
        assert_ne!(local.cache_key(), both.cache_key());
        assert_ne!(local.cache_key(), IndexSettings::default().cache_key());
        assert_eq!(local.cache_key().len(), 16);
    }

    #[test]
    fn finds_the_index_the_users_uv_or_pip_names() {
        let dir = crate::test_machine::tempdir().unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let lookup = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let with_home = |extra: Vec<(&'static str, String)>| {
            let mut pairs = vec![("HOME", home.clone())];
            pairs.extend(extra);
            lookup(pairs)
        };
        assert_eq!(user_index_url_from(&with_home(vec![])), None);

        fs_err::create_dir_all(dir.path().join(".pip")).unwrap();
        fs_err::write(
            dir.path().join(".pip/pip.conf"),
            "[global]\ntimeout = 5\nindex-url = http://pip.example/simple\n",
        )
        .unwrap();
        assert_eq!(
            user_index_url_from(&with_home(vec![])).as_deref(),
            Some("http://pip.example/simple")
        );
        let pip_env = with_home(vec![("PIP_INDEX_URL", "http://pipenv/simple".into())]);
        assert_eq!(
            user_index_url_from(&pip_env).as_deref(),
            Some("http://pipenv/simple")
        );

        fs_err::create_dir_all(dir.path().join(".config/uv")).unwrap();
        fs_err::write(
            dir.path().join(".config/uv/uv.toml"),
            "[[index]]\nurl = \"http://other/simple\"\n\n[[index]]\nurl = \"http://uv/simple\"\ndefault = true\n",
        )
        .unwrap();
        assert_eq!(
            user_index_url_from(&pip_env).as_deref(),
            Some("http://uv/simple")
        );
        let uv_env = with_home(vec![("UV_DEFAULT_INDEX", "http://uvenv/simple".into())]);
        assert_eq!(
            user_index_url_from(&uv_env).as_deref(),
            Some("http://uvenv/simple")
        );
    }
}
