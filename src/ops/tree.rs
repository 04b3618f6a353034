//! `pyenvx tree`: the locked packages as a graph of who requires whom, drawn from the project's
//! requirements down, or (`--invert PKG`) from one package up to the requirements that bring it.
//!
//! `pyenvx.lock` holds versions and files, not edges: what each release requires is read from
//! its own `METADATA` (the store's entry for the locked file, else `.venv`'s copy), with its
//! markers evaluated for the locked Python on this platform and the extras asked of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder};

use crate::installer::normalize_name;
use crate::platform::Platform;
use crate::project::lock::Lock;
use crate::project::pep508::Requirement;
use crate::project::{sync, Env, Project};
use crate::store::{self, Store};
use crate::user_error;
use crate::venv::Venv;

/// One requirement edge: the package required and, when only an extra of the requirer asks
/// for it, that extra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub name: String,
    pub extra: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub version: String,
    pub requires: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The packages pyenvx.toml asks for, in its order.
    pub roots: Vec<String>,
    pub nodes: BTreeMap<String, Node>,
    /// The lock no longer answers pyenvx.toml: the tree is the lock's, which `pyenvx lock` redoes.
    pub stale: bool,
}

/// The graph of the project's lock.
pub fn graph(project: &Project, env: &Env) -> Result<Graph> {
    let lock = super::lock::existing(project, "`pyenvx tree`")?;
    let markers = marker_environment(&lock.python.version, &env.platform)?;
    let mut metadata = BTreeMap::new();
    for p in &lock.packages {
        let text = metadata_text(project, &lock, &p.name, &p.version, env)?;
        metadata.insert(p.name.clone(), requires_dist(&text));
    }
    let roots: Vec<(String, Vec<ExtraName>)> = lock
        .inputs
        .requirements
        .iter()
        .filter_map(|r| Requirement::from_str(r).ok())
        .map(|r| (normalize_name(r.name.as_ref()), r.extras))
        .collect();
    let mut graph = build(&lock, &roots, &metadata, &markers);
    graph.stale = lock.inputs != sync::lock_inputs(project);
    Ok(graph)
}

/// Edges from each package's requirements, with extras carried down from whoever asks for them
/// (`psycopg[binary]` makes psycopg's `extra == "binary"` requirements count).
fn build(
    lock: &Lock,
    roots: &[(String, Vec<ExtraName>)],
    metadata: &BTreeMap<String, Vec<Requirement>>,
    markers: &MarkerEnvironment,
) -> Graph {
    let mut extras: BTreeMap<String, BTreeSet<ExtraName>> = BTreeMap::new();
    for (name, asked) in roots {
        extras
            .entry(name.clone())
            .or_default()
            .extend(asked.iter().cloned());
    }
    let wanted = |name: &str, req: &Requirement, extras: &BTreeMap<String, BTreeSet<ExtraName>>| {
        let own: Vec<ExtraName> = extras
            .get(name)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        req.marker.evaluate(markers, &own)
            && lock.package(&normalize_name(req.name.as_ref())).is_some()
    };
    loop {
        let mut changed = false;
        for (name, reqs) in metadata {
            for req in reqs {
                if !wanted(name, req, &extras) {
                    continue;
                }
                let set = extras.entry(normalize_name(req.name.as_ref())).or_default();
                for e in &req.extras {
                    changed |= set.insert(e.clone());
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut nodes = BTreeMap::new();
    for p in &lock.packages {
        let mut requires: Vec<Edge> = Vec::new();
        for req in metadata.get(&p.name).into_iter().flatten() {
            if !wanted(&p.name, req, &extras) {
                continue;
            }
            let dep = normalize_name(req.name.as_ref());
            if requires.iter().any(|e| e.name == dep) {
                continue;
            }
            let extra = if req.marker.evaluate(markers, &[]) {
                None
            } else {
                extras
                    .get(&p.name)
                    .into_iter()
                    .flatten()
                    .find(|e| req.marker.evaluate(markers, std::slice::from_ref(*e)))
                    .map(ToString::to_string)
            };
            requires.push(Edge { name: dep, extra });
        }
        requires.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.insert(
            p.name.clone(),
            Node {
                version: p.version.clone(),
                requires,
            },
        );
    }
    let mut root_names: Vec<String> = Vec::new();
    for (name, _) in roots {
        if nodes.contains_key(name) && !root_names.contains(name) {
            root_names.push(name.clone());
        }
    }
    Graph {
        roots: root_names,
        nodes,
        stale: false,
    }
}

impl Graph {
    /// The tree from the project's requirements down; a package drawn before shows `(*)`
    /// instead of its requirements again.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for root in &self.roots {
            self.down(root, None, "", None, &mut seen, &mut out);
        }
        out
    }

    fn down(
        &self,
        name: &str,
        extra: Option<&str>,
        prefix: &str,
        branch: Option<bool>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        let Some(node) = self.nodes.get(name) else {
            return;
        };
        let repeat = !seen.insert(name.to_string()) && !node.requires.is_empty();
        let (lead, child_prefix) = match branch {
            None => (String::new(), String::new()),
            Some(last) => (
                format!("{prefix}{}", if last { "└── " } else { "├── " }),
                format!("{prefix}{}", if last { "    " } else { "│   " }),
            ),
        };
        let extra = extra.map(|e| format!(" (extra: {e})")).unwrap_or_default();
        let star = if repeat { " (*)" } else { "" };
        out.push(format!("{lead}{name} v{}{extra}{star}", node.version));
        if repeat {
            return;
        }
        for (i, edge) in node.requires.iter().enumerate() {
            let last = i + 1 == node.requires.len();
            self.down(
                &edge.name,
                edge.extra.as_deref(),
                &child_prefix,
                Some(last),
                seen,
                out,
            );
        }
    }

    /// `--invert PKG`: PKG, then what requires it, up to the project's requirements.
    pub fn inverted_lines(&self, package: &str) -> Result<Vec<String>> {
        let name = normalize_name(package);
        if !self.nodes.contains_key(&name) {
            return Err(user_error!(
                hint = "`pyenvx tree` lists the locked packages",
                "{package} is not in pyenvx.lock"
            ));
        }
        let mut out = Vec::new();
        self.up(&name, "", None, &mut vec![], &mut out);
        Ok(out)
    }

    fn up(
        &self,
        name: &str,
        prefix: &str,
        branch: Option<bool>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) {
        let node = &self.nodes[name];
        let (lead, child_prefix) = match branch {
            None => (String::new(), String::new()),
            Some(last) => (
                format!("{prefix}{}", if last { "└── " } else { "├── " }),
                format!("{prefix}{}", if last { "    " } else { "│   " }),
            ),
        };
        let own = if self.roots.iter().any(|r| r == name) {
            " (pyenvx.toml)"
        } else {
            ""
        };
        out.push(format!("{lead}{name} v{}{own}", node.version));
        if path.iter().any(|p| p == name) {
            return;
        }
        path.push(name.to_string());
        let parents: Vec<&String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.requires.iter().any(|e| e.name == name))
            .map(|(k, _)| k)
            .collect();
        for (i, parent) in parents.iter().enumerate() {
            self.up(
                parent,
                &child_prefix,
                Some(i + 1 == parents.len()),
                path,
                out,
            );
        }
        path.pop();
    }
}

/// The marker environment of CPython `version` on `platform` (what `python_version`,
/// `sys_platform` and the like evaluate to for the sandbox).
pub fn marker_environment(version: &str, platform: &Platform) -> Result<MarkerEnvironment> {
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let (system, sys_platform) = match platform.os.as_str() {
        "darwin" => ("Darwin", "darwin"),
        "windows" => ("Windows", "win32"),
        _ => ("Linux", "linux"),
    };
    let machine = match (platform.os.as_str(), platform.arch.as_str()) {
        ("darwin", "aarch64") => "arm64",
        (_, arch) => arch,
    };
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: version,
        os_name: if platform.os == "windows" {
            "nt"
        } else {
            "posix"
        },
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: system,
        platform_version: "",
        python_full_version: version,
        python_version: &minor,
        sys_platform,
    })
    .with_context(|| format!("the locked Python version `{version}` is not a version"))
}

/// The `Requires-Dist` lines of a `METADATA` text (its headers end at the first blank line).
pub fn requires_dist(metadata: &str) -> Vec<Requirement> {
    metadata
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("Requires-Dist:"))
        .filter_map(|r| Requirement::from_str(r.trim()).ok())
        .collect()
}

/// The `METADATA` of the locked `name` `version`: from the store's entry for the locked file,
/// else from `.venv`.
fn metadata_text(
    project: &Project,
    lock: &Lock,
    name: &str,
    version: &str,
    env: &Env,
) -> Result<String> {
    let from_store = sync::lock_tags(lock, &env.platform)
        .and_then(|tags| lock.package(name)?.pick(&tags).ok())
        .and_then(|dist| {
            let t = if lock.python.freethreaded { "t" } else { "" };
            let tag = format!("cp{}{t}", lock.python_minor().replace('.', ""));
            Store::new(&env.settings.dirs).get(&Store::key(&dist, &tag))
        })
        .map(|entry| entry.dist_info_dir());
    let dist_info = from_store.or_else(|| in_venv(&project.venv_dir(), name, version));
    let Some(dir) = dist_info else {
        return Err(user_error!(
            hint = "run `pyenvx sync`: the tree reads what each package requires from its installed metadata",
            "{name} {version} is locked but not installed on this machine"
        ));
    };
    fs_err::read_to_string(dir.join("METADATA"))
        .with_context(|| format!("cannot read what {name} {version} requires"))
}

fn in_venv(venv: &Path, name: &str, version: &str) -> Option<PathBuf> {
    let venv = Venv::open(venv).ok()?;
    store::installed_dists(&venv)
        .ok()?
        .into_iter()
        // A local directory's version is whatever it builds: matched by name.
        .find(|d| d.name == name && (d.version == version || version.is_empty()))
        .map(|d| d.dist_info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::lock::{LockInputs, LockedPython, Resolved};

    fn lock(requirements: &[&str], packages: &[(&str, &str)]) -> Lock {
        Lock::new(
            LockedPython {
                version: "3.12.1".into(),
                implementation: "cpython".into(),
                freethreaded: false,
                source: "managed".into(),
                build: None,
                sha256: None,
            },
            LockInputs {
                python: "3.12".into(),
                requirements: requirements.iter().map(|s| s.to_string()).collect(),
                editable: vec![],
                groups: Default::default(),
            },
            crate::project::lock::Resolution::main_only(
                packages
                    .iter()
                    .map(|(n, v)| Resolved {
                        name: n.to_string(),
                        version: v.to_string(),
                        files: vec![],
                        direct: false,
                        vcs: None,
                        directory: None,
                    })
                    .collect(),
            ),
        )
    }

    fn graph_of(requirements: &[&str], meta: &[(&str, &str, &str)]) -> Graph {
        let packages: Vec<(&str, &str)> = meta.iter().map(|(n, v, _)| (*n, *v)).collect();
        let lock = lock(requirements, &packages);
        let metadata = meta
            .iter()
            .map(|(n, _, m)| (n.to_string(), requires_dist(m)))
            .collect();
        let roots: Vec<(String, Vec<ExtraName>)> = requirements
            .iter()
            .map(|r| Requirement::from_str(r).unwrap())
            .map(|r| (normalize_name(r.name.as_ref()), r.extras))
            .collect();
        let platform = Platform {
            os: "linux".into(),
            arch: "x86_64".into(),
            libc: "gnu".into(),
        };
        build(
            &lock,
            &roots,
            &metadata,
            &marker_environment("3.12.1", &platform).unwrap(),
        )
    }

    const DJANGO: &str = "Metadata-Version: 2.4\nName: Django\nRequires-Dist: asgiref>=3.8.1\nRequires-Dist: sqlparse>=0.3.1\nRequires-Dist: tzdata; sys_platform == \"win32\"\nRequires-Dist: argon2-cffi>=19.1.0; extra == \"argon2\"\n\nRequires-Dist: not-a-header\n";
    const PSYCOPG: &str = "Name: psycopg\nRequires-Dist: typing-extensions>=4.6; python_version < \"3.13\"\nRequires-Dist: psycopg-binary==3.3.9; implementation_name != \"pypy\" and extra == \"binary\"\n\n";

    #[test]
    fn markers_and_extras_decide_the_edges() {
        let g = graph_of(
            &["django~=5.2.0", "psycopg[binary]"],
            &[
                ("asgiref", "3.13.0", "Name: asgiref\n\n"),
                ("django", "5.2.19", DJANGO),
                ("psycopg", "3.3.9", PSYCOPG),
                ("psycopg-binary", "3.3.9", "Name: psycopg-binary\n\n"),
                ("sqlparse", "0.6.1", "Name: sqlparse\n\n"),
                ("typing-extensions", "4.16.0", "Name: typing-extensions\n\n"),
            ],
        );
        assert_eq!(
            g.lines(),
            [
                "django v5.2.19",
                "├── asgiref v3.13.0",
                "└── sqlparse v0.6.1",
                "psycopg v3.3.9",
                "├── psycopg-binary v3.3.9 (extra: binary)",
                "└── typing-extensions v4.16.0",
            ]
        );
        assert_eq!(
            g.inverted_lines("Typing_Extensions").unwrap(),
            [
                "typing-extensions v4.16.0",
                "└── psycopg v3.3.9 (pyenvx.toml)"
            ]
        );
        assert!(g.inverted_lines("flask").is_err());
    }

    #[test]
    fn a_package_drawn_before_is_marked_not_repeated() {
        let g = graph_of(
            &["a", "b"],
            &[
                ("a", "1", "Requires-Dist: c\n\n"),
                ("b", "1", "Requires-Dist: a\n\n"),
                ("c", "1", "\n"),
            ],
        );
        assert_eq!(g.lines(), ["a v1", "└── c v1", "b v1", "└── a v1 (*)"]);
        assert_eq!(
            g.inverted_lines("c").unwrap(),
            [
                "c v1",
                "└── a v1 (pyenvx.toml)",
                "    └── b v1 (pyenvx.toml)"
            ]
        );
    }
}
