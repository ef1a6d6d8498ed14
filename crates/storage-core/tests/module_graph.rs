//! storage-core's modules depend on each other in one direction: the `crate::` and `super::` paths of every module
//! (names re-exported by `lib.rs` resolved to the module defining them) form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every module under `src/` (lib.rs excepted) by its path without extension (`storage/mod.rs` is `storage`), and
/// its source up to its unit tests, comments left out.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut directories = vec![src.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in fs::read_dir(&directory).expect("src/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src/").with_extension("");
            let name = relative.to_string_lossy().replace('\\', "/");
            let name = name.strip_suffix("/mod").unwrap_or(&name).to_owned();
            if name == "lib" || path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let text = fs::read_to_string(&path).expect("a module");
            let code: Vec<&str> = text
                .lines()
                .take_while(|line| line.trim() != "#[cfg(test)]")
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect();
            found.insert(name, code.join("\n"));
        }
    }
    found
}

/// Which module `lib.rs` re-exports each name from (`pub use backend::{Backend, …}` → `Backend` is `backend`'s).
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else { continue };
        let Some((module, items)) = path.split_once("::") else { continue };
        for item in items.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace()).split(',') {
            let item = item.trim();
            if !item.is_empty() {
                names.insert(item.to_owned(), module.to_owned());
            }
        }
    }
    names
}

/// The first path segment of each item a path after `crate::` or `super::` names: `a::b` → `[a]`,
/// `{a::b, c}` → `[a, c]`.
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |text: &str| text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
    let (mut depth, mut items, mut start) = (0, Vec::new(), 0);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..at]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.into_iter().map(|item| ident(item.trim())).filter(|item| !item.is_empty()).collect()
}

/// Each module's dependencies on the others.
fn edges(
    modules: &BTreeMap<String, String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (name, code) in modules {
        let parent = name.rsplit_once('/').map(|(parent, _)| parent);
        let mut targets = BTreeSet::new();
        for (prefix, base) in [("crate::", None), ("super::", parent)] {
            if prefix == "super::" && base.is_none() {
                continue; // `super` of a top-level module is the crate root
            }
            for (at, _) in code.match_indices(prefix) {
                let preceded_by_ident = code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                if preceded_by_ident {
                    continue;
                }
                for segment in first_segments(&code[at + prefix.len()..]) {
                    let within = |module: &str| match base {
                        Some(base) => format!("{base}/{module}"),
                        None => module.to_owned(),
                    };
                    let target = if modules.contains_key(&within(&segment)) {
                        within(&segment)
                    } else if let Some(base) = base {
                        base.to_owned()
                    } else if let Some(module) = reexports.get(&segment) {
                        module.clone()
                    } else {
                        continue; // a macro or an item of lib.rs itself
                    };
                    if &target != name {
                        targets.insert(target);
                    }
                }
            }
        }
        edges.insert(name.clone(), targets);
    }
    edges
}

/// A cycle in `edges`, as the modules along it, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|on_path| on_path == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn storage_core_modules_form_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let reexports = reexports(&fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let edges = edges(&modules, &reexports);
    let read = edges.get("storage/save").is_some_and(|targets| targets.contains("storage") && targets.contains("name"));
    assert!(read && edges.len() >= 10, "the modules were read: {edges:?}");
    if let Some(cycle) = cycle(&edges) {
        panic!("storage-core's modules import each other in a cycle: {}", cycle.join(" -> "));
    }
}
