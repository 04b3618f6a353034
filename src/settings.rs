//! Global settings: command-line flags merged with `PYENVX_*` environment variables, resolved
//! once per run into one plain struct that commands receive.
//!
//! The values settings hold are defined here too (where the Python catalog comes from, and its
//! default URLs), so that settings depends on nothing but `dirs`: `python` and every other
//! module read `Settings`, never the other way round.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
    /// Where packages come from and how long a server may stay silent.
    pub network: Network,
    /// Programs the user pointed pyenvx at, instead of searching for them.
    pub programs: Programs,
    /// The range the services' ports are handed out from (`PYENVX_DB_PORTS`).
    pub db_ports: PortRange,
}

/// `PYENVX_INDEX_URL`, `PYENVX_FIND_LINKS` and `PYENVX_HTTP_TIMEOUT`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    /// The index uv and pip use instead of their own defaults.
    pub index_url: Option<String>,
    /// Directories (made absolute, since uv runs in a scratch directory) or URLs of flat file
    /// listings, split at whitespace as pip splits `PIP_FIND_LINKS`.
    pub find_links: Vec<String>,
    /// The connect and idle timeout; `None` when unset, so uv keeps its own.
    pub http_timeout: Option<Duration>,
}

/// `PYENVX_UV`, `PYENVX_CONTAINER_ENGINE` and `PYENVX_REDIS_SERVER`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Programs {
    /// The uv binary to drive (checked for a working, supported uv when first needed).
    pub uv: Option<PathBuf>,
    /// `docker`, `podman`, or a path to either.
    pub container_engine: Option<String>,
    /// The `redis-server` to run.
    pub redis_server: Option<PathBuf>,
}

/// The first and last port handed out to services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Above PostgreSQL's 5432 and the 5433… of side-by-side system clusters. (Linux hands out
/// 32768+ for outgoing connections, so one of these can be busy for a moment; the registry's
/// bind check skips such a port.)
impl Default for PortRange {
    fn default() -> Self {
        Self {
            first: 54320,
            last: 54999,
        }
    }
}

pub const HTTP_TIMEOUT_VAR: &str = "PYENVX_HTTP_TIMEOUT";
pub const DB_PORTS_VAR: &str = "PYENVX_DB_PORTS";
pub const CONTAINER_ENGINE_VAR: &str = "PYENVX_CONTAINER_ENGINE";
pub const INDEX_URL_VAR: &str = "PYENVX_INDEX_URL";

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
    /// The defaults, under `dirs`: what no variable is set means.
    pub fn new(dirs: Dirs) -> Self {
        Self {
            dirs,
            offline: false,
            preference: PythonPreference::default(),
            catalog: CatalogSource::Live(LiveSources::default()),
            mirror: None,
            network: Network::default(),
            programs: Programs::default(),
            db_ports: PortRange::default(),
        }
    }

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
            network: Network {
                index_url: env_nonempty(INDEX_URL_VAR)
                    .map(|v| parse_index_url(&v))
                    .transpose()?,
                find_links: env_nonempty("PYENVX_FIND_LINKS")
                    .map(|v| parse_find_links(&v))
                    .unwrap_or_default(),
                http_timeout: env_nonempty(HTTP_TIMEOUT_VAR)
                    .map(|v| parse_http_timeout(&v))
                    .transpose()?,
            },
            programs: Programs {
                uv: env_nonempty("PYENVX_UV").map(PathBuf::from),
                container_engine: env_nonempty(CONTAINER_ENGINE_VAR)
                    .map(|v| parse_container_engine(&v))
                    .transpose()?,
                redis_server: env_nonempty("PYENVX_REDIS_SERVER").map(PathBuf::from),
            },
            db_ports: env_nonempty(DB_PORTS_VAR)
                .map(|v| parse_port_range(&v))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The connect and idle timeout of every download: `PYENVX_HTTP_TIMEOUT`, else 30 s.
    pub fn http_timeout(&self) -> Duration {
        self.network.http_timeout.unwrap_or(DEFAULT_HTTP_TIMEOUT)
    }

    /// Directories never searched for interpreters: our own shims would find themselves.
    pub fn shim_dirs(&self) -> Vec<PathBuf> {
        vec![self.dirs.home().join("shims")]
    }
}

/// How long a connection may take to open, and how long a server may then stay silent (before
/// its answer, or in the middle of a body), unless `PYENVX_HTTP_TIMEOUT` says otherwise.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// `PYENVX_HTTP_TIMEOUT`: seconds, fractions allowed, above 0 and at most a day.
fn parse_http_timeout(value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            user_error!(
                hint = "give a number of seconds, such as `60`",
                "{HTTP_TIMEOUT_VAR} is `{value}`, not a number of seconds above 0 and at most 86400"
            )
        })
}

/// `PYENVX_DB_PORTS=FIRST-LAST`: unprivileged ports, first not above last.
fn parse_port_range(text: &str) -> Result<PortRange> {
    let default = PortRange::default();
    text.trim()
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
        .filter(|(a, b)| *a >= 1024 && a <= b)
        .map(|(first, last)| PortRange { first, last })
        .ok_or_else(|| {
            user_error!(
                hint = format!(
                    "set it like `{DB_PORTS_VAR}={}-{}` (unprivileged ports), or unset it",
                    default.first, default.last
                ),
                "{DB_PORTS_VAR}={text} is not a port range"
            )
        })
}

/// `PYENVX_INDEX_URL`: one URL (or a path, as uv and pip take it), passed to them as one
/// argument; whitespace inside would be a second setting in the requirements files uv reads.
fn parse_index_url(value: &str) -> Result<String> {
    let url = value.trim();
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(user_error!(
            hint = "give one index URL, such as `https://pypi.example.com/simple`; for folders of wheels use PYENVX_FIND_LINKS",
            "{INDEX_URL_VAR} is `{value}`, which is not one URL"
        ));
    }
    Ok(url.to_string())
}

/// `PYENVX_FIND_LINKS`, split at whitespace; relative directories made absolute here, because
/// uv runs in a scratch directory.
fn parse_find_links(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .map(|location| {
            if location.contains("://") {
                return location.to_string();
            }
            std::path::absolute(location)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| location.to_string())
        })
        .collect()
}

/// `PYENVX_CONTAINER_ENGINE`: a program name or path, one word.
fn parse_container_engine(value: &str) -> Result<String> {
    let name = value.trim();
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(user_error!(
            hint = "name the program alone: `docker`, `podman`, or a path to one of them",
            "{CONTAINER_ENGINE_VAR} is `{value}`, not a program"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn bad_values_name_their_variable() {
        for (err, var) in [
            (parse_http_timeout("soon").unwrap_err(), HTTP_TIMEOUT_VAR),
            (parse_http_timeout("0").unwrap_err(), HTTP_TIMEOUT_VAR),
            (parse_port_range("80-90").unwrap_err(), DB_PORTS_VAR),
            (parse_port_range("6000-5000").unwrap_err(), DB_PORTS_VAR),
            (
                parse_index_url("http://a/simple http://b").unwrap_err(),
                INDEX_URL_VAR,
            ),
            (
                parse_container_engine("docker --tls").unwrap_err(),
                CONTAINER_ENGINE_VAR,
            ),
        ] {
            assert!(err.to_string().contains(var), "{err:#}");
        }
    }

    #[test]
    fn good_values_parse() {
        assert_eq!(
            parse_http_timeout(" 1.5 ").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_port_range("60000 - 60010").unwrap(),
            PortRange {
                first: 60000,
                last: 60010
            }
        );
        assert_eq!(
            parse_index_url(" http://a/simple ").unwrap(),
            "http://a/simple"
        );
        let links = parse_find_links(" /a  rel/b http://c/links ");
        assert_eq!(links[0], "/a");
        assert!(Path::new(&links[1]).is_absolute() && links[1].ends_with("rel/b"));
        assert_eq!(links[2], "http://c/links");
    }
}
