//! The module graph of `src/`: every module uses only modules of a lower
//! layer (the layers listed in `src/lib.rs`), so the graph has no cycle.
//! Read from the source: each `crate::<module>` a file mentions, outside
//! comments, is an edge from the module the file belongs to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of each top-level module, lowest first.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("version", 0),
    ("protocol", 1),
    ("trust", 1),
    ("log", 2),
    ("invoke", 2),
    ("result", 2),
    ("template", 2),
    ("overrides", 2),
    ("config", 3),
    ("metrics", 3),
    ("plan", 4),
    ("state", 5),
    ("engine", 6),
    ("plugin", 7),
    ("cli", 8),
    ("admin", 8),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None`: lib.rs, main.rs).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "arena")).then(|| name.to_string())
}

/// The modules `crate::` paths in `text` name, comments left out; a
/// `crate::{...}` group may span lines and nest.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                // The top-level entries of the group: split at depth 0.
                let (mut depth, mut start) = (0, 0);
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            out.extend(first_segment(&group[start..i]));
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.extend(first_segment(&group[start..i]));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
            }
            None => out.extend(first_segment(rest)),
        }
    }
    out
}

/// `config` of `config::Target` (`None` for an empty entry).
fn first_segment(path: &str) -> Option<String> {
    let name = path
        .trim()
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    (!name.is_empty()).then(|| name.to_string())
}

#[test]
fn modules_use_only_lower_layers_and_the_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(module) = owner(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read");
        let deps = graph.entry(module.clone()).or_default();
        for used in uses(&text) {
            if used != module && layer(&used).is_some() {
                deps.insert(used);
            }
        }
    }
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        let Some(own) = layer(module) else {
            wrong.push(format!("module {module} has no layer in tests/layers.rs"));
            continue;
        };
        for d in deps {
            let theirs = layer(d).unwrap_or(u32::MAX);
            // Same layer: allowed while it makes no cycle.
            let upward = theirs > own || (theirs == own && reaches(&graph, d, module));
            if upward {
                wrong.push(format!("{module} (layer {own}) uses {d} (layer {theirs})"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // Every module of the list exists: the list is the map, kept true.
    for (m, _) in LAYERS {
        assert!(graph.contains_key(*m), "no module {m} in src/");
    }
}

/// Whether `from` reaches `to` in `graph`.
fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        if m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            todo.extend(graph.get(&m).into_iter().flatten().cloned());
        }
    }
    false
}

#[test]
fn the_reader_finds_grouped_and_plain_paths_and_skips_comments() {
    let text = "use crate::{config::Target, log};\nlet x = crate::plan::Planner::new();\n// crate::engine is only mentioned\nuse crate::{\n    invoke::{Call, Failure},\n    state,\n};\n";
    let got: Vec<String> = uses(text).into_iter().collect();
    assert_eq!(got, ["config", "invoke", "log", "plan", "state"]);
}
