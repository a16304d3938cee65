//! The layer order of `core/src`, kept true: every top-level module may name (`crate::m`) only
//! modules listed before it in [`LAYERS`], so no module imports one that imports it back.
//! docs/design.md draws the same order.
//!
//! The test reads the source files themselves (every `crate::` path outside a comment), so a
//! new import that breaks the order fails here, naming the file and the line.

use std::path::{Path, PathBuf};

/// Bottom first. A module may depend on modules before it, never on one after it.
const LAYERS: &[&str] = &[
    "error",
    "limits",
    "types",
    "storage",
    "vector",
    "op",
    "namespace",
    "query",
    "index",
    "collections",
    "journal",
    "check",
    "engine",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("source directory readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
}

/// The top-level module a file of `src` belongs to (`None` for lib.rs, which re-exports).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib").then_some(name)
}

/// Every `crate::name` in `line` before a `//` comment.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        names.push(after[..end].to_owned());
        rest = &after[end..];
    }
    names
}

#[test]
fn modules_depend_only_on_earlier_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut violations = Vec::new();
    let mut seen_modules = std::collections::BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            violations.push(format!("{}: module {module} is not in LAYERS", file.display()));
            continue;
        };
        seen_modules.insert(module.clone());
        let text = std::fs::read_to_string(file).expect("source readable");
        for (n, line) in text.lines().enumerate() {
            for used in crate_paths(line) {
                if used == module {
                    continue;
                }
                // Crate-root re-exports (lib.rs) count as the module they come from.
                let used = match used.as_str() {
                    "Engine" | "EngineConfig" | "Hit" | "Scratch" | "Stats" => "engine".to_owned(),
                    "Op" | "OpKind" => "op".to_owned(),
                    "Error" | "Result" => "error".to_owned(),
                    "Creds" => "namespace".to_owned(),
                    "INDEX_XATTR" | "IndexConfig" | "VECTOR_XATTR" => "collections".to_owned(),
                    _ => used,
                };
                if used == module {
                    continue;
                }
                match rank(&used) {
                    Some(r) if r < own => {}
                    Some(_) => violations.push(format!(
                        "{}:{}: {module} uses {used}, which is not below it",
                        file.display(),
                        n + 1
                    )),
                    // Other crate-root items: the plain values of `types`, re-exported.
                    None => {}
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layer order broken:\n{}",
        violations.join("\n")
    );
    // The list names real modules only, so a renamed module cannot escape the check.
    for l in LAYERS {
        assert!(
            seen_modules.contains(*l),
            "LAYERS names {l}, which is not a module of core/src"
        );
    }
}

#[test]
fn the_scanner_sees_imports() {
    assert_eq!(crate_paths("use crate::engine::Op; // crate::x"), vec!["engine"]);
    assert_eq!(crate_paths("let k = crate::op::OpKind::ALL;"), vec!["op"]);
    assert!(crate_paths("// use crate::engine").is_empty());
}
