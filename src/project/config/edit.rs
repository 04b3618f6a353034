//! Writing `pyenvx.toml`: a new one (`render_new`), and edits in place through `toml_edit`
//! that keep every comment, order and format the user wrote (`ConfigEdit`).

use super::*;

/// The text of a new `pyenvx.toml`.
pub fn render_new(
    name: &str,
    python: &str,
    django: Option<&str>,
    dependencies: &[String],
    groups: &[(String, Vec<String>)],
    seed: bool,
) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    let mut project = toml_edit::Table::new();
    project.insert("name", toml_edit::value(name));
    project.insert("python", toml_edit::value(python));
    if let Some(django) = django {
        project.insert("django", toml_edit::value(django));
    }
    let mut deps = toml_edit::Array::new();
    for d in dependencies {
        deps.push(d.as_str());
    }
    project.insert("dependencies", toml_edit::value(deps));
    doc.insert("project", toml_edit::Item::Table(project));
    if !groups.is_empty() {
        let mut table = toml_edit::Table::new();
        for (group, reqs) in groups {
            let mut list = toml_edit::Array::new();
            for r in reqs {
                list.push(r.as_str());
            }
            table.insert(group, toml_edit::value(list));
        }
        doc.insert("dependency-groups", toml_edit::Item::Table(table));
    }
    if seed {
        let mut tool = toml_edit::Table::new();
        tool.set_implicit(true);
        let mut pyenvx = toml_edit::Table::new();
        pyenvx.insert("seed", toml_edit::value(true));
        tool.insert("pyenvx", toml_edit::Item::Table(pyenvx));
        doc.insert("tool", toml_edit::Item::Table(tool));
    }
    doc.to_string()
}

/// An in-place edit of `pyenvx.toml` that keeps everything the user wrote.
pub struct ConfigEdit {
    path: PathBuf,
    doc: toml_edit::DocumentMut,
}

impl ConfigEdit {
    pub fn open(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path)?;
        let doc = text
            .parse::<toml_edit::DocumentMut>()
            .with_context(|| format!("cannot parse {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            doc,
        })
    }

    fn project(&mut self) -> Result<&mut toml_edit::Table> {
        self.doc["project"]
            .as_table_mut()
            .with_context(|| format!("{} has no [project] table", self.path.display()))
    }

    /// Set a string key of `[project]`, keeping the comment after the old value.
    pub fn set_project_str(&mut self, key: &str, value: &str) -> Result<()> {
        let project = self.project()?;
        match project.get_mut(key).and_then(|i| i.as_value_mut()) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = toml_edit::Value::from(value);
                *old.decor_mut() = decor;
            }
            None => {
                project.insert(key, toml_edit::value(value));
            }
        }
        Ok(())
    }

    /// Set `key` of an existing table (`["services", "db"]`) to a string, keeping the comment
    /// after the old value, and its type: an integer stays an integer (`version = 15`).
    pub fn set_table_str(&mut self, table: &[&str], key: &str, value: &str) -> Result<()> {
        let mut item = self.doc.as_item_mut();
        for name in table {
            item = item
                .get_mut(*name)
                .filter(|i| i.is_table_like())
                .with_context(|| {
                    format!("{} has no [{}] table", self.path.display(), table.join("."))
                })?;
        }
        let table = item.as_table_like_mut().context("not a table")?;
        match table.get_mut(key).and_then(|i| i.as_value_mut()) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = match (old.is_integer(), value.parse::<i64>()) {
                    (true, Ok(n)) => toml_edit::Value::from(n),
                    _ => toml_edit::Value::from(value),
                };
                *old.decor_mut() = decor;
            }
            None => {
                table.insert(key, toml_edit::value(value));
            }
        }
        Ok(())
    }

    fn dependencies(&mut self) -> Result<&mut toml_edit::Array> {
        let project = self.project()?;
        if !project.contains_key("dependencies") {
            project.insert("dependencies", toml_edit::value(toml_edit::Array::new()));
        }
        project["dependencies"]
            .as_array_mut()
            .context("`project.dependencies` is not an array")
    }

    /// Add requirements, replacing an existing entry for the same package in place.
    pub fn add_dependencies(&mut self, reqs: &[String]) -> Result<()> {
        upsert_requirements(self.dependencies()?, reqs)
    }

    /// The array of the dependency group `group` (made when missing and `create`).
    fn group_array(&mut self, group: &str, create: bool) -> Result<Option<&mut toml_edit::Array>> {
        let want = normalize_name(group);
        if self.doc.get("dependency-groups").is_none() {
            if !create {
                return Ok(None);
            }
            self.doc.insert(
                "dependency-groups",
                toml_edit::Item::Table(toml_edit::Table::new()),
            );
        }
        let table = self.doc["dependency-groups"]
            .as_table_like_mut()
            .context("`dependency-groups` is not a table")?;
        let key = table
            .iter()
            .map(|(k, _)| k.to_string())
            .find(|k| normalize_name(k) == want);
        let key = match key {
            Some(k) => k,
            None if create => {
                table.insert(&want, toml_edit::value(toml_edit::Array::new()));
                want
            }
            None => return Ok(None),
        };
        table
            .get_mut(&key)
            .and_then(|i| i.as_array_mut())
            .with_context(|| format!("`dependency-groups.{key}` is not an array"))
            .map(Some)
    }

    /// Add requirements to the dependency group `group`, replacing an entry for the same
    /// package in place.
    pub fn add_to_group(&mut self, group: &str, reqs: &[String]) -> Result<()> {
        let list = self
            .group_array(group, true)?
            .context("the group was just made")?;
        upsert_requirements(list, reqs)
    }

    /// Remove packages from the dependency group `group`; returns the names that were not in it.
    pub fn remove_from_group(&mut self, group: &str, names: &[String]) -> Result<Vec<String>> {
        let Some(list) = self.group_array(group, false)? else {
            return Ok(names.to_vec());
        };
        Ok(retain_requirements(list, names))
    }

    /// Mark the dependency `name` editable or not in `[tool.pyenvx] editable`.
    pub fn set_editable(&mut self, name: &str, editable: bool) -> Result<()> {
        let name = normalize_name(name);
        if !editable && self.doc.get("tool").is_none() {
            return Ok(());
        }
        let tool = self.doc["tool"].or_insert(toml_edit::Item::Table(toml_edit::Table::new()));
        let tool = tool.as_table_mut().context("`tool` is not a table")?;
        tool.set_implicit(true);
        let pyenvx = tool
            .entry("pyenvx")
            .or_insert(toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_mut()
            .context("`tool.pyenvx` is not a table")?;
        if !pyenvx.contains_key("editable") {
            if !editable {
                return Ok(());
            }
            pyenvx.insert("editable", toml_edit::value(toml_edit::Array::new()));
        }
        let list = pyenvx["editable"]
            .as_array_mut()
            .context("`tool.pyenvx.editable` is not an array")?;
        list.retain(|v| v.as_str().map(normalize_name).as_deref() != Some(name.as_str()));
        if editable {
            list.push(name);
        } else if list.is_empty() {
            pyenvx.remove("editable");
        }
        Ok(())
    }

    /// Record an unsupported Django/Python pair the user chose to run (once).
    pub fn allow_unsupported(&mut self, pair: Pair) -> Result<()> {
        let project = self.project()?;
        if !project.contains_key("allow-unsupported") {
            project.insert(
                "allow-unsupported",
                toml_edit::value(toml_edit::Array::new()),
            );
        }
        let list = project["allow-unsupported"]
            .as_array_mut()
            .context("`project.allow-unsupported` is not an array")?;
        let entry = pair.to_string();
        if !list.iter().any(|v| v.as_str() == Some(entry.as_str())) {
            list.push(entry);
        }
        Ok(())
    }

    /// Remove requirements by package name; returns the names that were not there.
    pub fn remove_dependencies(&mut self, names: &[String]) -> Result<Vec<String>> {
        let missing = retain_requirements(self.dependencies()?, names);
        for name in names {
            self.set_editable(name, false)?;
        }
        Ok(missing)
    }

    pub fn save(&self) -> Result<()> {
        crate::fs::write_atomic(&self.path, self.doc.to_string().as_bytes())
    }

    pub fn text(&self) -> String {
        self.doc.to_string()
    }
}

/// Add `reqs` to a requirements array, replacing an entry for the same package in place (its
/// comment kept).
fn upsert_requirements(list: &mut toml_edit::Array, reqs: &[String]) -> Result<()> {
    for req in reqs {
        let name = requirement_name(req)?;
        let existing = list.iter().position(|v| {
            v.as_str().and_then(|s| requirement_name(s).ok()).as_deref() == Some(name.as_str())
        });
        match existing {
            Some(i) => {
                let decor = list.get(i).map(|v| v.decor().clone());
                list.replace(i, req.as_str());
                if let (Some(decor), Some(v)) = (decor, list.get_mut(i)) {
                    *v.decor_mut() = decor;
                }
            }
            None => list.push(req.as_str()),
        }
    }
    Ok(())
}

/// Drop the entries naming `names` from a requirements array; returns the names it lacked.
fn retain_requirements(list: &mut toml_edit::Array, names: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for name in names {
        let want = normalize_name(name);
        let before = list.len();
        list.retain(|v| {
            v.as_str().and_then(|s| requirement_name(s).ok()).as_deref() != Some(want.as_str())
        });
        if list.len() == before {
            missing.push(name.clone());
        }
    }
    missing
}
