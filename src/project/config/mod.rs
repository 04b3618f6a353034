//! `pyenvx.toml`: the project's pins, written for humans.
//!
//! Reading goes through serde with spans, so every error names the file, line, column and key.
//! Writing goes through `toml_edit`, so a user's comments, order and formatting survive
//! `pyenvx pin`, `add` and `remove`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use toml::Spanned;

use crate::django::support::Pair;
use crate::django::DjangoSpec;
use crate::error::UserError;
use crate::fs::{line_col, read_text};
use crate::python::{PythonRequest, VersionRequest};

mod edit;

pub use edit::{render_new, ConfigEdit};

pub const CONFIG_FILE: &str = "pyenvx.toml";

/// The validated contents of `pyenvx.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub name: String,
    pub python: Option<PythonRequest>,
    pub django: Option<DjangoSpec>,
    pub dependencies: Vec<String>,
    /// PEP 735 `[dependency-groups]`, `include-group` entries expanded, by normalized name.
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    pub index_url: Option<String>,
    /// Indexes searched besides `index_url` (`[tool.pyenvx] extra-index-url`).
    pub extra_index_urls: Vec<String>,
    pub find_links: Vec<String>,
    /// Install pip into the sandbox too (`pyenvx init --seed`).
    pub seed: bool,
    /// Normalized names of local-directory dependencies installed editable
    /// (`[tool.pyenvx] editable`, written by `pyenvx add --editable`).
    pub editable: Vec<String>,
    /// `[services.*]` tables, interpreted by the services module.
    pub services: toml::Table,
    /// Django/Python pairs Django does not support that the user chose to run anyway
    /// (`allow-unsupported = ["django 3.2 on python 3.13"]`).
    pub allow_unsupported: Vec<Pair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: Option<Spanned<RawProject>>,
    tool: Option<RawTool>,
    services: Option<std::collections::BTreeMap<String, Spanned<toml::Value>>>,
    #[serde(rename = "dependency-groups")]
    dependency_groups: Option<std::collections::BTreeMap<String, Vec<Spanned<toml::Value>>>>,
}

/// The services pyenvx runs (see `crate::services`).
const SERVICES: &[&str] = &["db", "cache"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Option<Spanned<String>>,
    python: Option<Spanned<String>>,
    django: Option<Spanned<String>>,
    #[serde(default)]
    dependencies: Vec<Spanned<String>>,
    #[serde(default, rename = "allow-unsupported")]
    allow_unsupported: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawTool {
    pyenvx: Option<RawToolPyenvx>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawToolPyenvx {
    index_url: Option<String>,
    #[serde(default)]
    extra_index_url: Vec<String>,
    #[serde(default)]
    find_links: Vec<String>,
    #[serde(default)]
    seed: bool,
    #[serde(default)]
    editable: Vec<String>,
}

/// A syntax or type error from serde, which knows the span but not the key: the key is found
/// from the span.
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let offset = e.span().map_or(0, |s| s.start);
    let message = e.message().trim();
    // A repeated key or table makes the whole document unparsable, so `key_at` cannot name it:
    // the span holds the name itself.
    if message.starts_with("duplicate key") {
        if let Some(name) = e.span().and_then(|s| text.get(s)) {
            let line_start = text
                .get(..offset)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |i| i + 1);
            let what = if text[line_start..].trim_start().starts_with('[') {
                format!("the table `[{name}]` appears more than once")
            } else {
                format!("the key `{name}` appears more than once")
            };
            return config_error(path, text, offset, name, what);
        }
    }
    let key = key_at(text, offset).unwrap_or_default();
    config_error(path, text, offset, &key, message)
}

/// The dotted key (`project.django`, `project.dependencies[1]`) whose key or value holds the
/// byte `offset`: serde's errors carry a span but not the key, and users look for the key.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    key_in_table(doc.as_table(), offset, &mut path).then(|| path.join("."))
}

fn covers(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

fn key_in_table(table: &toml_edit::Table, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, item) in table.iter() {
        path.push(key.to_string());
        let found = match item {
            toml_edit::Item::Table(t) => key_in_table(t, offset, path),
            toml_edit::Item::ArrayOfTables(tables) => {
                let name = path.pop().unwrap_or_default();
                let mut hit = false;
                for (i, t) in tables.iter().enumerate() {
                    path.push(format!("{name}[{i}]"));
                    if key_in_table(t, offset, path) || covers(t.span(), offset) {
                        hit = true;
                        break;
                    }
                    path.pop();
                }
                if !hit {
                    path.push(name);
                }
                hit
            }
            toml_edit::Item::Value(v) => {
                key_in_value(v, offset, path)
                    || covers(table.key(key).and_then(|k| k.span()), offset)
            }
            toml_edit::Item::None => false,
        };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn key_in_value(value: &toml_edit::Value, offset: usize, path: &mut Vec<String>) -> bool {
    match value {
        toml_edit::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if covers(item.span(), offset) {
                    let last = path.pop().unwrap_or_default();
                    path.push(format!("{last}[{i}]"));
                    return true;
                }
            }
            covers(value.span(), offset)
        }
        toml_edit::Value::InlineTable(t) => {
            for (key, item) in t.iter() {
                path.push(key.to_string());
                if key_in_value(item, offset, path)
                    || covers(t.key(key).and_then(|k| k.span()), offset)
                {
                    return true;
                }
                path.pop();
            }
            covers(value.span(), offset)
        }
        _ => covers(value.span(), offset),
    }
}

/// `PATH:LINE:COL: MESSAGE (key `KEY`)` with a hint to fix the file: how every error in a
/// project's configuration reads, whichever module checks it.
/// Why `request`, read from the `pyenvx.toml` at `file`, may not be used: a path relative to
/// the project, or one inside it, would have `sync` run a program the repository supplies
/// (it starts the interpreter to ask its version). A version request, or an interpreter the
/// user installed outside the project, is fine.
fn repository_python(request: &PythonRequest, file: &Path) -> Option<String> {
    let VersionRequest::Path(given) = &request.version else {
        return None;
    };
    let refusal = "`python` takes a version request (such as \"3.12\") or the absolute path of \
                   an interpreter outside the project";
    if !given.is_absolute() {
        return Some(format!(
            "`{}` is a relative path; {refusal}",
            given.display()
        ));
    }
    let root = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    // Through its links, as `sync` would reach it: a link outside pointing back in counts as in.
    let real = std::fs::canonicalize(given).unwrap_or_else(|_| given.clone());
    (real.starts_with(&root) || given.starts_with(&root))
        .then(|| format!("`{}` is inside the project; {refusal}", given.display()))
}

/// `[project] name`: present and not blank.
fn parse_name(
    path: &Path,
    text: &str,
    name: Option<Spanned<String>>,
    project_at: usize,
) -> Result<String> {
    match name {
        Some(n) if !n.get_ref().trim().is_empty() => Ok(n.into_inner()),
        Some(n) => Err(config_error(
            path,
            text,
            n.span().start,
            "project.name",
            "the name is empty",
        )),
        None => Err(config_error(
            path,
            text,
            project_at,
            "project.name",
            "missing the project name",
        )),
    }
}

/// `[project] python`: a request, and one this repository's own files do not contradict.
fn parse_python(path: &Path, text: &str, p: Spanned<String>) -> Result<PythonRequest> {
    let request = PythonRequest::parse(p.get_ref())
        .map_err(|e| config_error(path, text, p.span().start, "project.python", format!("{e}")))?;
    if let Some(why) = repository_python(&request, path) {
        return Err(config_error(
            path,
            text,
            p.span().start,
            "project.python",
            why,
        ));
    }
    Ok(request)
}

/// `[project] dependencies`: each a PEP 508 requirement.
fn parse_dependencies(path: &Path, text: &str, deps: Vec<Spanned<String>>) -> Result<Vec<String>> {
    let mut dependencies = Vec::new();
    for (i, dep) in deps.into_iter().enumerate() {
        if let Err(e) = super::pep508::parse(dep.get_ref()) {
            return Err(config_error(
                path,
                text,
                dep.span().start,
                &format!("project.dependencies[{i}]"),
                format!("invalid requirement `{}`: {e}", dep.get_ref()),
            ));
        }
        dependencies.push(dep.into_inner());
    }
    Ok(dependencies)
}

/// `[services.*]`: only the services pyenvx runs; their tables are read by `services`.
fn parse_services(
    path: &Path,
    text: &str,
    raw: std::collections::BTreeMap<String, Spanned<toml::Value>>,
) -> Result<toml::Table> {
    let mut services = toml::Table::new();
    for (name, value) in raw {
        if !SERVICES.contains(&name.as_str()) {
            return Err(config_error(
                path,
                text,
                value.span().start,
                &format!("services.{name}"),
                format!("unknown service `{name}`: pyenvx runs [services.db] and [services.cache]"),
            ));
        }
        services.insert(name, value.into_inner());
    }
    Ok(services)
}

pub(crate) fn config_error(
    path: &Path,
    text: &str,
    offset: usize,
    key: &str,
    message: impl std::fmt::Display,
) -> anyhow::Error {
    let (line, col) = line_col(text, offset);
    let key = if key.is_empty() {
        String::new()
    } else {
        format!(" (key `{key}`)")
    };
    anyhow::Error::new(
        UserError::new(format!("{}:{line}:{col}: {message}{key}", path.display()))
            .hint(format!("fix {} and run the command again", path.display())),
    )
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(
            path,
            &format!("fix {} and run the command again", path.display()),
        )?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let Some(project) = raw.project else {
            return Err(config_error(
                path,
                text,
                0,
                "project",
                "missing the [project] table",
            ));
        };
        let project_span = project.span();
        let project = project.into_inner();
        let name = parse_name(path, text, project.name, project_span.start)?;
        let python = project
            .python
            .map(|p| parse_python(path, text, p))
            .transpose()?;
        let django = match project.django {
            Some(d) => Some(DjangoSpec::parse(d.get_ref()).map_err(|e| {
                config_error(path, text, d.span().start, "project.django", format!("{e}"))
            })?),
            None => None,
        };
        let dependencies = parse_dependencies(path, text, project.dependencies)?;
        let services = parse_services(path, text, raw.services.unwrap_or_default())?;
        let mut allow_unsupported = Vec::new();
        for (i, pair) in project.allow_unsupported.into_iter().enumerate() {
            let parsed = pair.get_ref().parse::<Pair>().map_err(|e| {
                config_error(
                    path,
                    text,
                    pair.span().start,
                    &format!("project.allow-unsupported[{i}]"),
                    e,
                )
            })?;
            allow_unsupported.push(parsed);
        }
        let groups = parse_groups(path, text, raw.dependency_groups.unwrap_or_default())?;
        let tool = raw.tool.and_then(|t| t.pyenvx);
        Ok(Self {
            path: path.to_path_buf(),
            name,
            python,
            django,
            dependencies,
            groups,
            index_url: tool.as_ref().and_then(|t| t.index_url.clone()),
            extra_index_urls: tool
                .as_ref()
                .map(|t| t.extra_index_url.clone())
                .unwrap_or_default(),
            find_links: tool
                .as_ref()
                .map(|t| t.find_links.clone())
                .unwrap_or_default(),
            seed: tool.as_ref().is_some_and(|t| t.seed),
            editable: tool
                .as_ref()
                .map(|t| t.editable.iter().map(|n| normalize_name(n)).collect())
                .unwrap_or_default(),
            services,
            allow_unsupported,
        })
    }

    /// What the installer resolves: Django's pin, the dependencies, pip when seeding.
    pub fn requirements(&self) -> Vec<String> {
        let mut reqs = Vec::new();
        if let Some(django) = &self.django {
            reqs.push(django.requirement());
        }
        reqs.extend(self.dependencies.iter().cloned());
        if self.seed {
            reqs.push("pip".to_string());
        }
        reqs
    }

    /// The requirements of the group `name` (normalized), includes expanded.
    pub fn group(&self, name: &str) -> Option<&[String]> {
        self.groups.get(&normalize_name(name)).map(Vec::as_slice)
    }
}

/// `[dependency-groups]` checked and flattened: each entry a requirement or
/// `{include-group = "name"}` (PEP 735), names normalized, includes expanded (a cycle is an
/// error naming the group).
fn parse_groups(
    path: &Path,
    text: &str,
    raw: std::collections::BTreeMap<String, Vec<Spanned<toml::Value>>>,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    enum Entry {
        Requirement(String),
        Include(String, usize),
    }
    let mut entries: std::collections::BTreeMap<String, Vec<Entry>> = Default::default();
    for (group, items) in raw {
        let name = normalize_name(&group);
        let mut list = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let key = format!("dependency-groups.{group}[{i}]");
            let at = item.span().start;
            match item.into_inner() {
                toml::Value::String(req) => {
                    if let Err(e) = super::pep508::parse(&req) {
                        return Err(config_error(
                            path,
                            text,
                            at,
                            &key,
                            format!("invalid requirement `{req}`: {e}"),
                        ));
                    }
                    list.push(Entry::Requirement(req));
                }
                toml::Value::Table(t)
                    if t.len() == 1
                        && matches!(t.get("include-group"), Some(toml::Value::String(_))) =>
                {
                    if let Some(toml::Value::String(other)) = t.get("include-group") {
                        list.push(Entry::Include(normalize_name(other), at));
                    }
                }
                _ => {
                    return Err(config_error(
                        path,
                        text,
                        at,
                        &key,
                        "a group entry is a requirement or `{include-group = \"name\"}`",
                    ))
                }
            }
        }
        entries.insert(name, list);
    }
    fn expand(
        name: &str,
        entries: &std::collections::BTreeMap<String, Vec<Entry>>,
        seen: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> std::result::Result<(), (String, usize)> {
        seen.push(name.to_string());
        for entry in entries.get(name).into_iter().flatten() {
            match entry {
                Entry::Requirement(r) => {
                    if !out.contains(r) {
                        out.push(r.clone());
                    }
                }
                Entry::Include(other, at) => {
                    if seen.contains(other) || !entries.contains_key(other) {
                        return Err((other.clone(), *at));
                    }
                    expand(other, entries, seen, out)?;
                }
            }
        }
        seen.pop();
        Ok(())
    }
    let mut groups = std::collections::BTreeMap::new();
    for name in entries.keys() {
        let mut out = Vec::new();
        expand(name, &entries, &mut Vec::new(), &mut out).map_err(|(other, at)| {
            config_error(
                path,
                text,
                at,
                &format!("dependency-groups.{name}"),
                format!("`include-group = \"{other}\"` names no group, or includes itself"),
            )
        })?;
        groups.insert(name.clone(), out);
    }
    Ok(groups)
}

pub use crate::names::normalize_name;

/// The normalized package name of a PEP 508 requirement.
pub fn requirement_name(req: &str) -> Result<String> {
    let parsed = super::pep508::parse(req).map_err(|e| {
        crate::user_error!(
            hint = "requirements look like `djangorestframework>=3.15` or `psycopg[binary]`",
            "invalid requirement `{req}`: {e}"
        )
    })?;
    Ok(normalize_name(parsed.name.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_is_never_a_path_the_repository_supplies() {
        let parse = |python: &str| {
            let text = format!("[project]\nname = \"x\"\npython = \"{python}\"\n");
            Config::parse(&text, Path::new("/p/pyenvx.toml")).map_err(|e| format!("{e:#}"))
        };
        for (python, says) in [
            ("tools/py", "`tools/py` is a relative path"),
            ("./py", "`./py` is a relative path"),
            ("/p/tools/py", "`/p/tools/py` is inside the project"),
        ] {
            let msg = parse(python).unwrap_err();
            assert!(
                msg.contains("/p/pyenvx.toml:3:10")
                    && msg.contains("project.python")
                    && msg.contains(says),
                "{msg}"
            );
        }
        for fine in [
            "3.12",
            ">=3.11,<3.13",
            "/usr/bin/python3",
            "/opt/py/bin/python3.12",
        ] {
            assert!(parse(fine).is_ok(), "{fine}: {:?}", parse(fine).err());
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "[project]\nname = \"x\"\npython = \"banana\"\n";
        let err = Config::parse(text, Path::new("/p/pyenvx.toml")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("/p/pyenvx.toml:3:10") && msg.contains("project.python"),
            "{msg}"
        );
        let err = Config::parse(
            "[project]\nname = \"x\"\npyhton = \"3.12\"\n",
            Path::new("f.toml"),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("f.toml:3:1") && format!("{err:#}").contains("pyhton"),
            "{err:#}"
        );
        // Type errors come from serde with a span only; the key is found from it.
        let err = Config::parse(
            "[project]\nname = \"x\"\ndjango = 5.2\n",
            Path::new("f.toml"),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("f.toml:3:10") && msg.contains("(key `project.django`)"),
            "{msg}"
        );
        let err = Config::parse(
            "[project]\nname = \"x\"\n[services.db]\nengine = \"postgres\"\n[tool.pyenvx]\nfind-links = [\"a\", 3]\n",
            Path::new("f.toml"),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("f.toml:6:") && msg.contains("tool.pyenvx.find-links[1]"),
            "{msg}"
        );
        let err = Config::parse(
            "[project]\nname = \"x\"\ndependencies = [\"dj ango\"]\n",
            Path::new("f.toml"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("dependencies[0]"), "{err:#}");
    }

    #[test]
    fn edits_keep_comments() {
        let text = "# my project\n[project]\nname = \"lib\"\npython = \"3.12\"  # the runtime\ndjango = \"5.2\"\ndependencies = [\n  \"djangorestframework>=3.15\",  # api\n  \"requests\",\n]\n";
        let path = std::env::temp_dir().join(format!("pyenvx-edit-{}.toml", std::process::id()));
        fs_err::write(&path, text).unwrap();
        let mut edit = ConfigEdit::open(&path).unwrap();
        edit.set_project_str("python", "3.13").unwrap();
        edit.add_dependencies(&["gunicorn".into(), "Requests>=2".into()])
            .unwrap();
        assert!(edit.remove_dependencies(&["nope".into()]).unwrap() == ["nope"]);
        let out = edit.text();
        assert!(
            out.contains("# my project") && out.contains("python = \"3.13\"  # the runtime"),
            "{out}"
        );
        assert!(
            out.contains("\"djangorestframework>=3.15\",  # api"),
            "{out}"
        );
        assert!(
            out.contains("Requests>=2") && !out.contains("\"requests\""),
            "{out}"
        );
        assert!(out.contains("gunicorn"), "{out}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(
            normalize_name("Django_REST.framework"),
            "django-rest-framework"
        );
        assert_eq!(requirement_name("psycopg[binary]>=3").unwrap(), "psycopg");
    }
}
