//! Keeps the crate's layers pointing one way (ARCHITECTURE.md): reads every source
//! file's `crate::` paths, and fails on a reference to a higher layer or on any import
//! circle between files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer: a file may use its own layer and those below.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("kusto_types", 0),
    ("results", 0),
    ("stable_hash", 0),
    ("output", 0),
    ("command", 0),
    ("catalog_objects", 1),
    ("query", 1),
    ("export", 2),
    ("continuous", 3),
    ("engine", 4),
    ("cli", 5),
];

fn layer(module: &[String]) -> Option<u8> {
    let top = module.first()?;
    LAYERS.iter().find(|(m, _)| m == top).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/engine/commands/export.rs` → `engine::commands::export`; `mod.rs` is its folder.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn ident(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| (&text[..end], &text[end..]))
}

/// The module paths a `crate::…` reference names, `{…}` groups expanded.
fn paths_after(mut rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let start_len = rest.len();
    let mut path = prefix;
    loop {
        rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            rest = group;
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let used = paths_after(rest, path.clone(), out);
                rest = &rest[used..];
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                }
                if used == 0 && !rest.starts_with('}') {
                    // Not a path (`self`, `*`, …): skip one character.
                    rest = rest.get(1..).unwrap_or("");
                }
            }
            return start_len - rest.len();
        }
        match ident(rest) {
            Some((name, after)) => {
                path.push(name.to_string());
                rest = after;
                if let Some(after) = rest.strip_prefix("::") {
                    rest = after;
                    continue;
                }
                out.push(path);
                return start_len - rest.len();
            }
            None => {
                if !path.is_empty() {
                    out.push(path);
                }
                return start_len - rest.len();
            }
        }
    }
}

/// The longest prefix of `path` that is a module file.
fn resolve<'a>(path: &[String], modules: &'a BTreeSet<Vec<String>>) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n].to_vec()))
}

#[test]
fn layers_point_one_way_and_files_import_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let from = module_of(&src, file);
        // Code only: comments (doc links included) are no imports.
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut referenced = Vec::new();
        // `crate::a::b`, `super::b` (from the parent), and `child::x` in a file whose
        // module has that child.
        let parent: Vec<String> = from[..from.len().saturating_sub(1)].to_vec();
        let children: Vec<&Vec<String>> = modules
            .iter()
            .filter(|m| m.len() == from.len() + 1 && m.starts_with(&from))
            .collect();
        let mut prefixes: Vec<(String, Vec<String>)> =
            vec![("crate::".into(), Vec::new()), ("super::".into(), parent)];
        for child in children {
            let name = child.last().unwrap().clone();
            prefixes.push((format!("{name}::"), child.clone()));
        }
        for (prefix, base) in &prefixes {
            for (at, _) in text.match_indices(prefix.as_str()) {
                let before = text[..at].chars().last();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue; // part of a longer path: `other_crate::`, `a::super::`
                }
                paths_after(&text[at + prefix.len()..], base.clone(), &mut referenced);
            }
        }
        for path in referenced {
            let Some(to) = resolve(&path, &modules) else {
                continue;
            };
            // A file naming itself, a parent using its children (a facade re-exports
            // them) and a child using its parent's re-exports are structure, not
            // circles: only references across branches count.
            if to.starts_with(&from) || from.starts_with(to) {
                continue;
            }
            if let (Some(a), Some(b)) = (layer(&from), layer(to)) {
                if b > a {
                    violations.push(format!(
                        "{} (layer {a}) uses crate::{} (layer {b})",
                        from.join("::"),
                        path.join("::")
                    ));
                }
            }
            edges.entry(from.clone()).or_default().insert(to.clone());
        }
    }
    // The scan sees the crate's structure (a reference it must find).
    assert!(
        edges
            .get(&vec!["continuous".to_string(), "run".to_string()])
            .is_some_and(|to| to.contains(&vec!["export".to_string(), "to_table".to_string()])),
        "the scan found no reference from continuous::run to export::to_table"
    );
    // Circles: a file that reaches itself again through others.
    let mut circles = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = trail.iter().map(|m| m.join("::")).collect();
                    let first = names
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| *n)
                        .map(|(i, _)| i);
                    names.rotate_left(first.unwrap_or(0));
                    circles.insert(names.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        violations.is_empty() && circles.is_empty(),
        "layer violations:\n  {}\nimport circles:\n  {}",
        violations.join("\n  "),
        circles.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}
