//! The dependencies of an adopted project, each in its role: what production runs becomes the
//! main dependencies, development and test requirements become PEP 735 dependency groups, the
//! project's own lock seeds pyenvx's, and its index settings are kept.
//!
//! A requirements file's role comes from its name (`base`, `prod` → main; `dev`, `local` →
//! `dev`; `test` → `test`; …), then from the `-r` chain (a file a production file includes is
//! production), then from the Dockerfile (a file it installs is production). Poetry
//! (`[tool.poetry]`, groups included), PEP 621 (`[project]`, `[dependency-groups]`, and
//! optional dependencies named like development ones) and Pipfile (`[dev-packages]` included)
//! are read the same way.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;
use pep440_rs::VersionSpecifiers;

use super::{read_dir_sorted, rel, Adopted, PythonSource};
use crate::project::config::{normalize_name, requirement_name};
use crate::project::foreign_lock::ForeignLock;
use crate::user_error;

/// The project's own index settings, kept in `[tool.pyenvx]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexKeys {
    /// The index replacing the default one.
    pub index_url: Option<String>,
    /// Indexes searched besides it (before it, by uv).
    pub extra_index_urls: Vec<String>,
}

impl IndexKeys {
    /// `pyenvx.toml`'s `text` with these settings in `[tool.pyenvx]`.
    pub fn apply(&self, text: &str) -> String {
        if self.index_url.is_none() && self.extra_index_urls.is_empty() {
            return text.to_string();
        }
        let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
            return text.to_string();
        };
        let tool = doc["tool"].or_insert(toml_edit::Item::Table(toml_edit::Table::new()));
        if let Some(t) = tool.as_table_mut() {
            t.set_implicit(true);
        }
        let pyenvx = &mut tool["pyenvx"];
        if pyenvx.is_none() {
            *pyenvx = toml_edit::Item::Table(toml_edit::Table::new());
        }
        if let Some(url) = &self.index_url {
            pyenvx["index-url"] = toml_edit::value(url.as_str());
        }
        if !self.extra_index_urls.is_empty() {
            let mut list = toml_edit::Array::new();
            for url in &self.extra_index_urls {
                list.push(url.as_str());
            }
            pyenvx["extra-index-url"] = toml_edit::value(list);
        }
        doc.to_string()
    }

    fn add_extra(&mut self, url: &str) {
        if !self.extra_index_urls.iter().any(|u| u == url) {
            self.extra_index_urls.push(url.to_string());
        }
    }
}

/// Where a requirements file belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Main,
    Group(String),
}

/// The role a file's name says, if it says one: `requirements.txt`, `base.txt`, `prod.txt` are
/// production; `requirements-dev.txt`, `local.txt` the `dev` group; `tests.txt` the `test` group.
fn role_by_name(file: &Path) -> Option<Role> {
    let stem = stem(file);
    let group = |g: &str| Some(Role::Group(g.to_string()));
    match stem.as_str() {
        "" | "base" | "common" | "prod" | "production" | "main" | "core" | "deploy"
        | "deployment" | "default" | "runtime" | "app" | "web" => Some(Role::Main),
        "dev" | "devel" | "develop" | "development" | "local" => group("dev"),
        "test" | "tests" | "testing" | "ci" => group("test"),
        "doc" | "docs" | "documentation" => group("docs"),
        "lint" | "linting" | "linters" | "style" | "typing" | "mypy" | "quality" => group("lint"),
        _ => None,
    }
}

/// `requirements-dev.txt` → `dev`, `requirements/tests.txt` → `tests`, `dev-requirements.in` →
/// `dev`: the name without `requirements` and separators.
fn stem(file: &Path) -> String {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.replace("requirements", "");
    normalize_name(name.trim_matches(['-', '_', '.']))
}

/// The group name for a file whose name says no role.
fn group_of_stem(file: &Path) -> String {
    match stem(file) {
        s if s.is_empty() => "dev".to_string(),
        s => s,
    }
}

/// `*requirements*.txt` at the top, then `requirements/*.txt`, in name order.
pub(super) fn requirements_files(dir: &Path) -> Vec<PathBuf> {
    let mut top: Vec<PathBuf> = read_dir_sorted(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("requirements") && n.ends_with(".txt"))
        })
        .collect();
    top.extend(
        read_dir_sorted(&dir.join("requirements"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "txt")),
    );
    top.retain(|p| p.is_file());
    top
}

/// The `-r` files `text` (read from `file`) includes, resolved against its directory.
fn includes(file: &Path, text: &str) -> Vec<PathBuf> {
    let re = regex::Regex::new(r"(?m)^\s*(?:-r|--requirement)[\s=]*(\S+)").expect("valid regex");
    let base = file.parent().unwrap_or(Path::new("."));
    re.captures_iter(text)
        .map(|c| lexical(&base.join(&c[1])))
        .collect()
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Every Dockerfile a production image is built from: `Dockerfile*` at the top and under
/// `docker/`, `compose/` and `.docker/` (three levels), except those in a directory or with a
/// name that says development (`local`, `dev`).
fn production_dockerfiles(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        for p in read_dir_sorted(dir) {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if p.is_dir() && depth > 0 {
                if !["local", "dev", "development", "test", "tests"].contains(&name.as_str()) {
                    walk(&p, depth - 1, out);
                }
            } else if p.is_file()
                && name.starts_with("dockerfile")
                && !name.contains("dev")
                && !name.contains("local")
                && !name.contains("test")
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    for sub in ["docker", "compose", ".docker"] {
        walk(&dir.join(sub), 3, &mut out);
    }
    out
}

/// The requirements files (relative to `dir`) the production Dockerfiles install with
/// `pip install -r`, following a `COPY src dst` that put the file where pip reads it.
fn docker_installs(dir: &Path) -> Vec<String> {
    let install = regex::Regex::new(r"(?:-r|--requirement)[\s=]+([^\s;&|]+)").expect("valid regex");
    let copy = regex::Regex::new(r"(?im)^\s*(?:COPY|ADD)\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$")
        .expect("valid regex");
    let mut out = Vec::new();
    for file in production_dockerfiles(dir) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let copies: Vec<(String, String)> = copy
            .captures_iter(&text)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        for line in text.lines().filter(|l| l.contains("install")) {
            for c in install.captures_iter(line) {
                let mut path = c[1].trim_matches(['"', '\'']).to_string();
                for (src, dst) in &copies {
                    let name = Path::new(src)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let into_dir = format!("{}/{name}", dst.trim_end_matches('/'));
                    if path == *dst || path == into_dir {
                        path = src.clone();
                    }
                }
                out.push(path.trim_start_matches("./").to_string());
            }
        }
    }
    out
}

/// Whether the Dockerfile's path `installed` names the project file `file` (`/app/requirements/prod.txt`
/// names `requirements/prod.txt`).
fn names_file(installed: &str, file: &str) -> bool {
    installed == file || installed.ends_with(&format!("/{file}"))
}

impl Adopted {
    /// A group's requirements, made when missing.
    fn group_mut(&mut self, group: &str) -> &mut Vec<String> {
        let group = normalize_name(group);
        if let Some(i) = self.groups.iter().position(|(g, _)| *g == group) {
            return &mut self.groups[i].1;
        }
        self.groups.push((group, Vec::new()));
        &mut self.groups.last_mut().expect("just pushed").1
    }

    /// Take `requirements` into `role`: Django's pin noted (its extras kept as `django[…]`),
    /// packages already taken for that role skipped. Returns how many were taken.
    fn take_into(&mut self, role: &Role, file: &str, requirements: &[String]) -> Result<usize> {
        if *role == Role::Main {
            return self.take_requirements(file, requirements);
        }
        let Role::Group(group) = role else {
            unreachable!("main was handled above")
        };
        let mut taken = 0;
        for req in requirements {
            let name = requirement_name(req)?;
            let req = if name == "django" {
                if let Some(pin) = super::django_pin(req)? {
                    self.django.push((file.to_string(), pin));
                }
                match super::django_extras(req)? {
                    Some(extras) => extras,
                    None => continue,
                }
            } else {
                req.clone()
            };
            // What production installs already is not the group's to repeat.
            let in_main = |d: &String| requirement_name(d).is_ok_and(|n| n == name);
            if !req.starts_with("django[") && self.dependencies.iter().any(in_main) {
                continue;
            }
            let list = self.group_mut(group);
            if !list
                .iter()
                .any(|d| requirement_name(d).is_ok_and(|n| n == name) && *d == req)
            {
                list.push(req);
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Once every file is read: a group keeps only what the main dependencies lack, and an
    /// emptied group goes.
    pub(super) fn settle_groups(&mut self) {
        let main: Vec<String> = self
            .dependencies
            .iter()
            .filter_map(|d| requirement_name(d).ok())
            .collect();
        for (_, reqs) in &mut self.groups {
            reqs.retain(|r| {
                requirement_name(r).is_ok_and(|n| !main.contains(&n) || r.starts_with("django["))
            });
        }
        self.groups.retain(|(_, reqs)| !reqs.is_empty());
    }

    fn describe_role(&self, role: &Role, file: &str, taken: usize, extra: &[String]) -> String {
        match role {
            Role::Main => self.describe(file, taken, extra),
            Role::Group(g) => {
                let mut parts = extra.to_vec();
                parts.push(format!(
                    "{taken} dependenc{}",
                    if taken == 1 { "y" } else { "ies" }
                ));
                format!("group `{g}`: {}", parts.join(", "))
            }
        }
    }

    /// The requirements files in `dir` (the root, or the Django project's `app/`), named in the
    /// table relative to `root`.
    pub(super) fn read_requirements(&mut self, dir: &Path, root: &Path) -> Result<()> {
        let files = requirements_files(dir);
        let texts: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        let docker = docker_installs(dir);
        let mut roles: Vec<Option<Role>> = files.iter().map(|f| role_by_name(f)).collect();
        // The `-r` chain: what a production file includes is production; what only a group's
        // file includes is that group's.
        for _ in 0..files.len() {
            for i in 0..files.len() {
                let Some(role) = roles[i].clone() else {
                    continue;
                };
                for included in includes(&files[i], &texts[i]) {
                    if let Some(j) = files.iter().position(|f| lexical(f) == included) {
                        match (&roles[j], &role) {
                            (None, _) | (Some(Role::Group(_)), Role::Main) => {
                                roles[j] = Some(role.clone())
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        let installed_by_docker = |f: &Path| docker.iter().any(|d| names_file(d, &rel(dir, f)));
        let any_main =
            roles.contains(&Some(Role::Main)) || files.iter().any(|f| installed_by_docker(f));
        let roles: Vec<Role> = files
            .iter()
            .zip(roles)
            .map(|(f, role)| match role {
                Some(role) => role,
                None if installed_by_docker(f) || !any_main => Role::Main,
                None => Role::Group(group_of_stem(f)),
            })
            .collect();
        // Main files first, so a group's file keeps only what production lacks.
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by_key(|i| roles[*i] != Role::Main);
        let mut rows = vec![None; files.len()];
        for i in order {
            let (path, role) = (&files[i], &roles[i]);
            let file = rel(root, path);
            // pip-tools: `X.in` holds the requirements, `X.txt` the versions they resolved to.
            let source = path.with_extension("in");
            let (source, compiled) = if source.is_file() {
                (source, true)
            } else {
                (path.clone(), false)
            };
            if self.locked.is_none() {
                self.locked = ForeignLock::from_hashed_requirements(&file, &texts[i]);
            }
            // pip-compile's output without hashes is the project's resolution all the same:
            // `X.in`'s loose names must not float to releases the project never ran.
            if self.locked.is_none() && compiled && *role == Role::Main {
                self.locked = ForeignLock::from_compiled_requirements(&file, &texts[i]);
            }
            // A line pyenvx cannot take (`-e git+…`) leaves that file out, said in the report,
            // rather than stopping the adoption. A local `-e .` (common in a dev file) is left
            // for the user to add: the rest of the file is taken.
            let imported = match crate::project::requirements::read_with_editables(&source) {
                Ok(imported) => imported,
                Err(e) => {
                    rows[i] = Some((file, format!("not read: {e}")));
                    continue;
                }
            };
            let taken = self.take_into(role, &file, &imported.requirements)?;
            let mut extra = Vec::new();
            if compiled {
                extra.push(format!("requirements from {}", rel(root, &source)));
            }
            if let Some(url) = &imported.index_url {
                self.index.index_url = Some(url.clone());
                extra.push("its --index-url kept".to_string());
            }
            for url in &imported.extra_index_urls {
                self.index.add_extra(url);
            }
            if !imported.extra_index_urls.is_empty() {
                extra.push("its --extra-index-url kept".to_string());
            }
            let index_lines =
                usize::from(imported.index_url.is_some()) + imported.extra_index_urls.len();
            let ignored = imported.ignored.len().saturating_sub(index_lines);
            if ignored > 0 {
                extra.push(format!("{ignored} option(s) ignored"));
            }
            for e in &imported.editable {
                extra.push(format!(
                    "`-e {}` left out (`pyenvx add -e {}` adds it)",
                    e.path, e.path
                ));
            }
            if matches!(role, Role::Main)
                && installed_by_docker(path)
                && role_by_name(path).is_none()
            {
                extra.push("the Dockerfile installs it".to_string());
            }
            let row = self.describe_role(role, &file, taken, &extra);
            rows[i] = Some((file, row));
        }
        self.rows.extend(rows.into_iter().flatten());
        Ok(())
    }

    pub(super) fn read_pyproject(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("pyproject.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let doc: toml::Table = toml::from_str(&text)
            .map_err(|e| user_error!("{}: {}", path.display(), e.message().trim()))?;
        let file = "pyproject.toml";
        let mut extra = Vec::new();
        let mut taken = 0;
        let mut grouped: Vec<String> = Vec::new();
        if let Some(project) = doc.get("project").and_then(|p| p.as_table()) {
            if let Some(rp) = project.get("requires-python").and_then(|v| v.as_str()) {
                let specs = VersionSpecifiers::from_str(rp).map_err(|e| {
                    user_error!("{}: invalid requires-python `{rp}`: {e}", path.display())
                })?;
                self.python.push((file.into(), PythonSource::Range(specs)));
                extra.push(format!("Python {rp}"));
            }
            taken += self.take_requirements(file, &strings(project.get("dependencies")))?;
            // Optional dependencies named like development ones are what PEP 735 groups are for.
            if let Some(optional) = project
                .get("optional-dependencies")
                .and_then(|o| o.as_table())
            {
                for (name, reqs) in optional {
                    let fake = PathBuf::from(format!("{name}.txt"));
                    if let Some(Role::Group(g)) = role_by_name(&fake) {
                        self.take_into(&Role::Group(g.clone()), file, &strings(Some(reqs)))?;
                        grouped.push(g);
                    }
                }
            }
        }
        if let Some(groups) = doc.get("dependency-groups").and_then(|g| g.as_table()) {
            for (name, reqs) in groups {
                // `{include-group = …}` entries are left to the groups they name.
                self.take_into(&Role::Group(name.clone()), file, &strings(Some(reqs)))?;
                grouped.push(normalize_name(name));
            }
        }
        let tool = doc.get("tool").and_then(|t| t.as_table());
        if let Some(poetry) = tool
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.as_table())
        {
            taken += self.read_poetry(poetry, &mut extra, &mut grouped)?;
        }
        if let Some(uv) = tool.and_then(|t| t.get("uv")).and_then(|u| u.as_table()) {
            self.read_uv_indexes(uv, &mut extra);
        }
        grouped.sort();
        grouped.dedup();
        if !grouped.is_empty() {
            extra.push(format!("groups {}", grouped.join(", ")));
        }
        let row = self.describe(file, taken, &extra);
        self.rows.push((file.into(), row));
        Ok(())
    }

    /// `[tool.poetry]`: `dependencies` (with `python`), `dev-dependencies` and
    /// `group.<name>.dependencies`, and `source` indexes. Returns how many main ones were taken.
    fn read_poetry(
        &mut self,
        poetry: &toml::Table,
        extra: &mut Vec<String>,
        grouped: &mut Vec<String>,
    ) -> Result<usize> {
        let file = "pyproject.toml";
        let mut taken = 0;
        if let Some(deps) = poetry.get("dependencies").and_then(|d| d.as_table()) {
            if let Some(python) = deps.get("python").and_then(|p| p.as_str()) {
                if let Some(specs) = poetry_specifier(python)
                    .filter(|s| !s.is_empty())
                    .and_then(|s| VersionSpecifiers::from_str(&s).ok())
                {
                    self.python.push((file.into(), PythonSource::Range(specs)));
                    extra.push(format!("Python {python}"));
                }
            }
            let reqs = poetry_requirements(deps);
            taken += self.take_requirements(file, &reqs)?;
        }
        let mut groups: Vec<(String, &toml::Table)> = Vec::new();
        if let Some(dev) = poetry.get("dev-dependencies").and_then(|d| d.as_table()) {
            groups.push(("dev".into(), dev));
        }
        if let Some(all) = poetry.get("group").and_then(|g| g.as_table()) {
            for (name, group) in all {
                if let Some(deps) = group.get("dependencies").and_then(|d| d.as_table()) {
                    groups.push((name.clone(), deps));
                }
            }
        }
        for (name, deps) in groups {
            self.take_into(&Role::Group(name.clone()), file, &poetry_requirements(deps))?;
            grouped.push(normalize_name(&name));
        }
        for (source, url) in tables_with_url(poetry.get("source")) {
            let priority = source.get("priority").and_then(|p| p.as_str());
            let default = source.get("default").and_then(|d| d.as_bool()) == Some(true)
                || matches!(priority, Some("default" | "primary"))
                    && self.index.index_url.is_none();
            if default {
                self.index.index_url = Some(url.to_string());
            } else {
                self.index.add_extra(url);
            }
            extra.push(format!(
                "index {} kept",
                source.get("name").and_then(|n| n.as_str()).unwrap_or(url)
            ));
        }
        Ok(taken)
    }

    /// `[tool.uv]`: `index-url`, `extra-index-url` and `[[tool.uv.index]]` (the default one
    /// replaces the index; the others, explicit ones included, are searched besides it, first).
    fn read_uv_indexes(&mut self, uv: &toml::Table, extra: &mut Vec<String>) {
        if let Some(url) = uv.get("index-url").and_then(|u| u.as_str()) {
            self.index.index_url = Some(url.to_string());
            extra.push("[tool.uv] index-url kept".into());
        }
        for url in strings(uv.get("extra-index-url")) {
            self.index.add_extra(&url);
            extra.push("[tool.uv] extra-index-url kept".into());
        }
        for (index, url) in tables_with_url(uv.get("index")) {
            if index.get("default").and_then(|d| d.as_bool()) == Some(true) {
                self.index.index_url = Some(url.to_string());
            } else {
                self.index.add_extra(url);
            }
            extra.push(format!(
                "uv index {} kept",
                index.get("name").and_then(|n| n.as_str()).unwrap_or(url)
            ));
        }
    }

    pub(super) fn read_pipfile(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("Pipfile");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let doc: toml::Table = toml::from_str(&text)
            .map_err(|e| user_error!("{}: {}", path.display(), e.message().trim()))?;
        let mut extra = Vec::new();
        let requires = doc.get("requires").and_then(|r| r.as_table());
        let version = requires.and_then(|r| {
            r.get("python_full_version")
                .or_else(|| r.get("python_version"))
                .and_then(|v| v.as_str())
        });
        if let Some(minor) = version.and_then(super::leading_minor) {
            self.python
                .push(("Pipfile".into(), PythonSource::Minor(minor)));
            extra.push(format!("Python {}.{}", minor.0, minor.1));
        }
        let packages = pipfile_requirements(doc.get("packages"));
        let taken = self.take_requirements("Pipfile", &packages)?;
        let dev = pipfile_requirements(doc.get("dev-packages"));
        if !dev.is_empty() {
            let n = self.take_into(&Role::Group("dev".into()), "Pipfile", &dev)?;
            extra.push(format!(
                "group `dev`: {n} dependenc{}",
                if n == 1 { "y" } else { "ies" }
            ));
        }
        for (_, url) in tables_with_url(doc.get("source")) {
            // Pipenv's first source is its index; the others are searched besides it.
            let first = self.index.index_url.is_none() && self.index.extra_index_urls.is_empty();
            if first && !url.contains("pypi.org") {
                self.index.index_url = Some(url.to_string());
                extra.push("its index kept".into());
            } else if !first {
                self.index.add_extra(url);
                extra.push("its extra index kept".into());
            }
        }
        let row = self.describe("Pipfile", taken, &extra);
        self.rows.push(("Pipfile".into(), row));
        Ok(())
    }
}

/// The tables of an array of tables (`[[tool.uv.index]]`, `[[source]]`) that have a `url`,
/// with it.
fn tables_with_url(value: Option<&toml::Value>) -> Vec<(&toml::Value, &str)> {
    value
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t, t.get("url")?.as_str()?)))
        .collect()
}

fn strings(value: Option<&toml::Value>) -> Vec<String> {
    value
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `[packages]` or `[dev-packages]` of a Pipfile as PEP 508 requirements: `"*"`, `"==4.0.4"`,
/// or `{version = "…", extras = […], markers = "…"}`; git and path entries have no place in
/// the lock and are left out.
fn pipfile_requirements(table: Option<&toml::Value>) -> Vec<String> {
    let mut reqs = Vec::new();
    for (name, value) in table.and_then(|p| p.as_table()).into_iter().flatten() {
        let (version, extras, markers) = match value {
            toml::Value::String(s) => (s.clone(), Vec::new(), None),
            toml::Value::Table(t)
                if !["path", "git", "file", "editable", "ref"]
                    .iter()
                    .any(|k| t.contains_key(*k)) =>
            {
                (
                    t.get("version")
                        .and_then(|v| v.as_str())
                        .unwrap_or("*")
                        .to_string(),
                    strings(t.get("extras")),
                    t.get("markers")
                        .and_then(|m| m.as_str())
                        .map(str::to_string),
                )
            }
            _ => continue,
        };
        reqs.push(requirement(name, &extras, &version, markers.as_deref()));
    }
    reqs
}

/// `name[extras]version ; markers`, with `*` for no version.
fn requirement(name: &str, extras: &[String], version: &str, markers: Option<&str>) -> String {
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!("[{}]", extras.join(","))
    };
    let version = match version.trim() {
        "*" | "" => String::new(),
        v => v.to_string(),
    };
    match markers {
        Some(m) if !m.trim().is_empty() => format!("{name}{extras}{version} ; {m}"),
        _ => format!("{name}{extras}{version}"),
    }
}

/// Poetry's dependency tables as PEP 508 requirements: versions translated (`^4.2` →
/// `>=4.2,<5`; one with no PEP 440 form leaves the package unpinned), extras and markers kept,
/// git sources as `name @ git+url@rev`; `python`, optional dependencies (extras of the package
/// itself) and local paths left out.
fn poetry_requirements(table: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in table {
        if name == "python" {
            continue;
        }
        let req = match value {
            // A constraint with no PEP 440 form (`^1 || ^2`) keeps the package, unpinned.
            toml::Value::String(v) => Some(requirement(
                name,
                &[],
                &poetry_specifier(v).unwrap_or_default(),
                None,
            )),
            toml::Value::Table(t) => {
                if t.get("optional").and_then(|o| o.as_bool()) == Some(true)
                    || t.contains_key("path")
                {
                    None
                } else if let Some(git) = t.get("git").and_then(|g| g.as_str()) {
                    let rev = ["rev", "tag", "branch"]
                        .iter()
                        .find_map(|k| t.get(*k).and_then(|v| v.as_str()));
                    Some(match rev {
                        Some(rev) => format!("{name} @ git+{git}@{rev}"),
                        None => format!("{name} @ git+{git}"),
                    })
                } else if let Some(url) = t.get("url").and_then(|u| u.as_str()) {
                    Some(format!("{name} @ {url}"))
                } else {
                    let version = t.get("version").and_then(|v| v.as_str()).unwrap_or("*");
                    Some(requirement(
                        name,
                        &strings(t.get("extras")),
                        &poetry_specifier(version).unwrap_or_default(),
                        t.get("markers").and_then(|m| m.as_str()),
                    ))
                }
            }
            _ => None,
        };
        out.extend(req.filter(|r| requirement_name(r).is_ok()));
    }
    out
}

/// A Poetry version constraint as PEP 440 specifiers (empty for any version): `^1.2.3` →
/// `>=1.2.3,<2.0.0`, `~1.2` → `>=1.2,<1.3`, `1.2.3` → `==1.2.3`, `>=1,<2` as it is. `None`
/// for what has no PEP 440 form (`^1 || ^2`).
fn poetry_specifier(constraint: &str) -> Option<String> {
    let c = constraint.trim();
    if c.contains("||") || c.contains('|') {
        return None;
    }
    if c == "*" || c.is_empty() {
        return Some(String::new());
    }
    let mut parts = Vec::new();
    for part in c.split(',').flat_map(|p| {
        // `>=1.2 <2` (space-separated) is also Poetry's.
        let p = p.trim();
        if p.contains(' ') && !p.starts_with(['=', '<', '>', '!', '~', '^']) {
            vec![p.to_string()]
        } else {
            split_spaced(p)
        }
    }) {
        let part = part.trim();
        if let Some(v) = part.strip_prefix('^') {
            let release = release(v)?;
            let first = release
                .iter()
                .position(|n| *n != 0)
                .unwrap_or(release.len() - 1);
            parts.push(format!(">={v}"));
            parts.push(format!("<{}", bump(&release, first)));
        } else if let Some(v) = part.strip_prefix("~=") {
            parts.push(format!("~={v}"));
        } else if let Some(v) = part.strip_prefix('~') {
            let release = release(v)?;
            let at = if release.len() >= 2 { 1 } else { 0 };
            parts.push(format!(">={v}"));
            parts.push(format!("<{}", bump(&release, at)));
        } else if part.starts_with(['=', '<', '>', '!']) {
            let part = match part.strip_prefix('=') {
                Some(v) if !v.starts_with('=') => format!("=={v}"),
                _ => part.to_string(),
            };
            parts.push(part.replace(' ', ""));
        } else {
            parts.push(format!("=={part}"));
        }
    }
    let spec = parts.join(",");
    VersionSpecifiers::from_str(&spec).ok().map(|_| spec)
}

/// `>=1.2 <2` → [`>=1.2`, `<2`]; operators separated from their versions by a space are kept
/// together.
fn split_spaced(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match out.last_mut() {
            Some(last) if last.chars().all(|c| "<>=!~^".contains(c)) => last.push_str(word),
            _ => out.push(word.to_string()),
        }
    }
    out
}

fn release(version: &str) -> Option<Vec<u64>> {
    version
        .trim()
        .split('.')
        .map(|n| n.parse::<u64>().ok())
        .collect()
}

/// `release` with the number at `at` raised by one and the rest dropped: the upper bound of a
/// caret or tilde range (`[1, 2, 3]`, 0 → `2.0.0`).
fn bump(release: &[u64], at: usize) -> String {
    release
        .iter()
        .enumerate()
        .map(|(i, n)| match i.cmp(&at) {
            std::cmp::Ordering::Less => n.to_string(),
            std::cmp::Ordering::Equal => (n + 1).to_string(),
            std::cmp::Ordering::Greater => "0".to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_constraints_become_pep440() {
        for (poetry, pep440) in [
            ("^4.2", ">=4.2,<5.0"),
            ("^1.2.3", ">=1.2.3,<2.0.0"),
            ("^0.2.3", ">=0.2.3,<0.3.0"),
            ("~1.2.3", ">=1.2.3,<1.3.0"),
            ("~1", ">=1,<2"),
            ("4.2.30", "==4.2.30"),
            ("*", ""),
            (">=1.2,<2", ">=1.2,<2"),
            (">= 1.2, < 2", ">=1.2,<2"),
            ("~=3.1", "~=3.1"),
            ("4.2.*", "==4.2.*"),
        ] {
            assert_eq!(
                poetry_specifier(poetry).as_deref(),
                Some(pep440),
                "{poetry}"
            );
        }
        assert_eq!(poetry_specifier("^1 || ^2"), None);
    }

    #[test]
    fn files_take_their_roles_from_names_chains_and_the_dockerfile() {
        let dir = crate::test_machine::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("requirements/base.txt", "Django==4.2.30\nsqlparse\n");
        write("requirements/prod.txt", "-r base.txt\ngunicorn\n");
        write(
            "requirements/dev.txt",
            "-r base.txt\ndjango-debug-toolbar\n",
        );
        write("requirements/tests.txt", "-r dev.txt\npytest-django\n");
        write("requirements/heroku.txt", "-r prod.txt\nwhitenoise\n");
        write("requirements/worker.txt", "celery\n");
        write(
            "docker/Dockerfile",
            "FROM python:3.12\nCOPY requirements/worker.txt /tmp/w.txt\nRUN pip install -r /tmp/w.txt\n",
        );
        let mut a = Adopted::default();
        a.read_requirements(dir.path(), dir.path()).unwrap();
        a.settle_groups();
        assert_eq!(
            a.dependencies,
            ["sqlparse", "gunicorn", "celery"],
            "{:?}",
            a.rows
        );
        let group = |g: &str| {
            a.groups
                .iter()
                .find(|(n, _)| n == g)
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        assert_eq!(group("dev"), ["django-debug-toolbar"]);
        assert_eq!(group("test"), ["django-debug-toolbar", "pytest-django"]);
        assert_eq!(group("heroku"), ["whitenoise"]);
        let row = |f: &str| a.rows.iter().find(|r| r.0 == f).unwrap().1.clone();
        assert!(row("requirements/tests.txt").starts_with("group `test`"));
        assert!(row("requirements/worker.txt").contains("the Dockerfile installs it"));
    }

    #[test]
    fn poetry_pipfile_and_uv_settings() {
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            r#"[tool.poetry]
name = "site"
[tool.poetry.dependencies]
python = "^3.10"
Django = "4.2.30"
psycopg = { version = "^3.1", extras = ["binary"] }
lib = { git = "https://example.invalid/lib.git", tag = "v1" }
opt = { version = "*", optional = true }
[tool.poetry.group.dev.dependencies]
pytest = "^8"
[tool.uv]
[[tool.uv.index]]
name = "cpu"
url = "https://example.invalid/cpu"
explicit = true
"#,
        )
        .unwrap();
        let mut a = Adopted::default();
        a.read_pyproject(dir.path()).unwrap();
        assert_eq!(a.django_pin().unwrap().as_deref(), Some("4.2.30"));
        assert_eq!(
            a.dependencies,
            [
                "lib @ git+https://example.invalid/lib.git@v1",
                "psycopg[binary]>=3.1,<4.0"
            ]
        );
        assert_eq!(
            a.groups,
            [("dev".to_string(), vec!["pytest>=8,<9".to_string()])]
        );
        assert_eq!(a.index.extra_index_urls, ["https://example.invalid/cpu"]);
        assert!(matches!(a.python[0].1, PythonSource::Range(_)));
        let text = a.index.apply("[project]\nname = \"x\"\n");
        assert!(
            text.contains("[tool.pyenvx]\nextra-index-url = [\"https://example.invalid/cpu\"]"),
            "{text}"
        );

        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Pipfile"),
            "[packages]\ndjango = \"==4.2.30\"\n[dev-packages]\npytest = {version = \"*\", markers = \"python_version >= '3.8'\"}\n",
        )
        .unwrap();
        let mut a = Adopted::default();
        a.read_pipfile(dir.path()).unwrap();
        assert_eq!(
            a.groups,
            [(
                "dev".to_string(),
                vec!["pytest ; python_version >= '3.8'".to_string()]
            )]
        );
    }
}
