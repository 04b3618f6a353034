//! The layers `docs/architecture.md` states, held by a test: every `crate::` and `super::` path
//! in the library's production code is an arrow from one module to another, and no arrow may
//! point up the table below, nor close a cycle. Inside `services/`, whose files are many and
//! close together, no cycle either.
//!
//! A test rather than a workspace of crates: the layers move while the code settles (this is the
//! second pass at them), and a test names the offending file and path where a crate boundary
//! would give a build error far from the cause. `KNOWN_*` list what is still against the table,
//! to go; the test fails on a new arrow against it and on a listed one that is gone, so the list
//! only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom: a top-level module imports from its own row and the rows below it.
const ROWS: &[&[&str]] = &[
    &["main", "cli", "printer", "commands"],
    &["ops"],
    &["export", "shims"],
    &["services"],
    &["project"],
    &["store", "venv", "django"],
    &["installer", "python", "download"],
    &["resolution"],
    &["tags"],
    &[
        "settings",
        "dirs",
        "fs",
        "filelock",
        "leftovers",
        "platform",
        "reporter",
        "error",
        "children",
        "process",
        "interrupt",
        "certs",
        "names",
        "secrets",
    ],
];

/// Arrows against the table that are still there (`from`, `to`), each to go.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

/// Cycles still inside `services/` (each a sorted list of its files; `mod` is `services/mod.rs`).
const KNOWN_SERVICES_CYCLES: &[&[&str]] = &[];

/// Cycles still among the files of other modules, by module: mostly a `mod.rs` facade that
/// calls its files while they use its types.
const KNOWN_INNER_CYCLES: &[(&str, &[&[&str]])] = &[];

/// Files that are test support only, compiled under `#[cfg(test)]`.
const TEST_ONLY: &[&str] = &["fuzz", "test_machine", "test_machine_tests", "layers_test"];

struct Source {
    /// `["services", "native"]` for `src/services/native.rs`; `[]` for `lib.rs`.
    module: Vec<String>,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            // `a/mod.rs` is module `a`, so `super` from it and from `a/b.rs` both reach `a`'s
            // parent and `a` respectively, counting segments alike.
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            if module
                .first()
                .is_some_and(|m| TEST_ONLY.contains(&m.as_str()))
            {
                continue;
            }
            let text = production_part(&std::fs::read_to_string(&path).unwrap());
            out.push(Source { module, text });
        }
    }
    out
}

/// The file without its test modules (from the first `#[cfg(test)]` that opens a `mod`) and
/// without comments.
fn production_part(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod ") || next.contains(" mod "))
        {
            break;
        }
        let code = trimmed.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every path `text` names from `crate::` or `super::`, resolved to absolute segments; `{a,
/// b::c}` groups expanded one level.
fn paths(source: &Source) -> Vec<Vec<String>> {
    let text = &source.text;
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let at_word = i == 0 || !ident(bytes[i - 1]);
        let rest = &text[i..];
        let (base, skip): (Vec<String>, usize) = if at_word && rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if at_word && rest.starts_with("super::") {
            let mut ups = 0;
            let mut j = 0;
            while text[i + j..].starts_with("super::") {
                ups += 1;
                j += "super::".len();
            }
            let keep = source.module.len().saturating_sub(ups);
            (source.module[..keep].to_vec(), j)
        } else {
            i += 1;
            continue;
        };
        i += skip;
        let tail = &text[i..];
        if let Some(group) = tail.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let segs = segments(part.trim());
                if !segs.is_empty() {
                    out.push(base.iter().cloned().chain(segs).collect());
                }
            }
            continue;
        }
        let segs = segments(tail);
        if !segs.is_empty() {
            out.push(base.iter().cloned().chain(segs).collect());
        }
    }
    out
}

/// The leading `a::b::c` of `text`, as segments.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out
}

/// The top-level module a path is in.
fn unit(path: &[String]) -> Option<String> {
    path.first().cloned()
}

fn row_of(unit: &str) -> Option<usize> {
    ROWS.iter().position(|row| row.contains(&unit))
}

/// Strongly connected components with more than one node, each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|s| s.iter()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for &start in &nodes {
        let mut stack = vec![(start.clone(), false)];
        while let Some((node, done)) = stack.pop() {
            if done {
                order.push(node);
                continue;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            stack.push((node.clone(), true));
            for next in graph.get(&node).into_iter().flatten() {
                if !seen.contains(next) {
                    stack.push((next.clone(), false));
                }
            }
        }
    }
    let mut reversed: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (from, tos) in graph {
        for to in tos {
            reversed.entry(to).or_default().push(from);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for node in order.iter().rev() {
        if assigned.contains(node) {
            continue;
        }
        let mut component = Vec::new();
        let mut stack = vec![node];
        assigned.insert(node.clone());
        while let Some(n) = stack.pop() {
            component.push(n.clone());
            for &prev in reversed.get(n).into_iter().flatten() {
                if assigned.insert(prev.clone()) {
                    stack.push(prev);
                }
            }
        }
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out.sort();
    out
}

#[test]
fn every_module_has_a_row() {
    let missing: BTreeSet<String> = sources()
        .iter()
        .filter_map(|s| unit(&s.module))
        .filter(|u| row_of(u).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from the layer table (and from docs/architecture.md): {missing:?}"
    );
}

#[test]
fn no_arrow_points_up_and_none_closes_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward: BTreeMap<(String, String), String> = BTreeMap::new();
    for source in sources() {
        let Some(from) = unit(&source.module) else {
            continue;
        };
        for path in paths(&source) {
            let Some(to) = unit(&path) else { continue };
            if to == from || row_of(&to).is_none() {
                // Macros (`crate::user_error!`) and the crate's own items resolve to no row.
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
            if row_of(&to) < row_of(&from) {
                upward.entry((from.clone(), to.clone())).or_insert_with(|| {
                    format!("{}: {}", source.module.join("::"), path.join("::"))
                });
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<&String> = upward
        .iter()
        .filter(|(k, _)| !known.contains(*k))
        .map(|(_, at)| at)
        .collect();
    assert!(new.is_empty(), "arrows up the layer table: {new:#?}");
    let gone: Vec<&(String, String)> = known.iter().filter(|k| !upward.contains_key(*k)).collect();
    assert!(
        gone.is_empty(),
        "these arrows are gone: take them out of KNOWN_UPWARD: {gone:?}"
    );
    // A cycle needs an upward arrow or two modules of one row importing each other.
    let within_rows: Vec<Vec<String>> = cycles(&graph)
        .into_iter()
        .filter(|c| {
            !c.iter()
                .any(|u| known.iter().any(|(a, b)| a == u || b == u))
        })
        .collect();
    assert!(
        within_rows.is_empty(),
        "cycles between top-level modules: {within_rows:?}"
    );
}

/// `services/` is held to no cycle at all (and also by [`no_cycle_inside_any_module`]).
#[test]
fn no_cycle_inside_services() {
    let found = cycles_inside("services");
    let known: Vec<Vec<String>> = KNOWN_SERVICES_CYCLES
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(
        found, known,
        "cycles inside services/ (update KNOWN_SERVICES_CYCLES only when one is broken)"
    );
}

/// Every module with files of its own holds the same rule inside: its files import each other
/// without a cycle.
#[test]
fn no_cycle_inside_any_module() {
    let parents: BTreeSet<String> = sources()
        .iter()
        .filter(|s| s.module.len() >= 2)
        .map(|s| s.module[0].clone())
        .collect();
    let found: BTreeMap<String, Vec<Vec<String>>> = parents
        .into_iter()
        .map(|p| (p.clone(), cycles_inside(&p)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let known: BTreeMap<String, Vec<Vec<String>>> = KNOWN_INNER_CYCLES
        .iter()
        .map(|(p, c)| {
            (
                p.to_string(),
                c.iter()
                    .map(|c| c.iter().map(|s| s.to_string()).collect())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        found, known,
        "cycles among a module's files (update KNOWN_INNER_CYCLES only when one is broken)"
    );
}

/// The cycles among the first-level files of `parent/` (`mod` is `parent/mod.rs`).
fn cycles_inside(parent: &str) -> Vec<Vec<String>> {
    let sources = sources();
    let children: BTreeSet<String> = sources
        .iter()
        .filter(|s| s.module.len() >= 2 && s.module[0] == parent)
        .map(|s| s.module[1].clone())
        .collect();
    let node = |path: &[String]| -> Option<String> {
        if path.first().map(String::as_str) != Some(parent) {
            return None;
        }
        match path.get(1) {
            Some(child) if children.contains(child) => Some(child.clone()),
            // An item of `parent/mod.rs` itself.
            Some(_) => Some("mod".into()),
            None => None,
        }
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let Some(from) = node(&source.module).or_else(|| {
            (source.module.len() == 1 && source.module[0] == parent).then(|| "mod".into())
        }) else {
            continue;
        };
        let mut targets: Vec<Vec<String>> = paths(source);
        if from == "mod" {
            // `mod.rs` names its children without `self::`: `backend::open`, `use ports::…`.
            for child in &children {
                let needle = format!("{child}::");
                if source.text.match_indices(&needle).any(|(at, _)| {
                    at == 0 || {
                        let b = source.text.as_bytes()[at - 1];
                        !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                    }
                }) {
                    targets.push(vec![parent.to_string(), child.clone()]);
                }
            }
        }
        for path in targets {
            if let Some(to) = node(&path) {
                if to != from {
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    cycles(&graph)
}
