//! The crate's modules form one acyclic order (drawn in `src/lib.rs`): every file may use only
//! modules to the left of its own, never one on its right nor a neighbour on its own layer.
//! This test reads each library file's `crate::` paths (and `super::super::` paths that reach
//! the crate root) and fails on the first that reaches up or across.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first; modules on one layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["io"],
    &["kernels"],
    &["model"],
    &["quant"],
    &["metrics"],
    &["lm"],
    &["recipe"],
    &["check", "bench"],
    &["format"],
    &["scenario", "report"],
    &["tui"],
];

/// Files of the binary, which sits above every library module.
const BINARY_FILES: &[&str] = &["main.rs", "cli.rs", "dashboard.rs", "signals.rs"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`None` for `lib.rs` and the binary).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    if first == "lib.rs" || BINARY_FILES.contains(&first) {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// The names `lib.rs` re-exports at the crate root, with the module each comes from
/// (`pub use kernels::{Kernel, ...};` makes `crate::Kernel` a use of `kernels`).
fn root_reexports(lib: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let flat = lib.replace('\n', " ");
    for statement in flat.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, rest) = path.split_once("::").unwrap_or((path, ""));
        let list = rest.trim_start_matches('{').trim_end_matches('}');
        for name in list.split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                names.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    names
}

/// The first path segment after each `crate::` in `code`, expanding `crate::{a, b::c}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            let mut depth = 0;
            let mut item = String::new();
            for ch in group[..end].chars().chain(std::iter::once(',')) {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_segment(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(ch);
            }
        } else {
            found.push(first_segment(after));
        }
        rest = after;
    }
    found.retain(|s| !s.is_empty());
    found
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 1;
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every module a file's code uses, by its top-level name (comments skipped).
fn modules_used(
    source: &str,
    relative: &Path,
    reexports: &HashMap<String, String>,
) -> Vec<(usize, String)> {
    // `super::` repeated once per folder level below `src/` reaches the crate root.
    let depth = relative.components().count() - 1;
    let is_mod_file = relative.file_name().is_some_and(|f| f == "mod.rs");
    let to_root = if is_mod_file { depth } else { depth + 1 };
    // Inline modules (`mod tests {`) add a level for the lines after them; they come last in
    // a file, so counting their openings is enough.
    let mut inline_modules = 0;
    let mut used = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let declaration = code
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        if declaration.starts_with("mod ") && code.trim_end().ends_with('{') {
            inline_modules += 1;
        }
        let levels = to_root + inline_modules;
        let mut code = code.to_string();
        if levels >= 2 {
            code = code.replace("super::".repeat(levels).as_str(), "crate::");
        }
        for name in crate_paths(&code) {
            let module = reexports.get(&name).cloned().unwrap_or(name);
            used.push((n + 1, module));
        }
    }
    used
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every violation of the order in the tree under `src`.
fn violations(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src").to_path_buf();
        let Some(module) = module_of(&relative) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "src/{}: module '{module}' is in no layer of LAYERS",
                relative.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("source file");
        for (line, used) in modules_used(&source, &relative, &reexports) {
            if used == module || used == "self" {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "src/{}:{line}: '{module}' uses '{used}', which is not below it",
                    relative.display()
                )),
                None => problems.push(format!(
                    "src/{}:{line}: '{module}' uses '{used}', which is in no layer",
                    relative.display()
                )),
            }
        }
    }
    problems
}

#[test]
fn every_module_uses_only_the_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "the module order is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_upward_and_sideways_uses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("kernels")).unwrap();
    std::fs::create_dir_all(src.join("report")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub use quant::{Scheme};\n").unwrap();
    std::fs::write(
        src.join("kernels/mod.rs"),
        "use crate::{error::DynqError, quant::Scheme};\n",
    )
    .unwrap();
    std::fs::write(src.join("kernels/x.rs"), "fn f() -> crate::Scheme {}\n").unwrap();
    std::fs::write(
        src.join("report/json.rs"),
        "use super::super::scenario::Preset;\n",
    )
    .unwrap();
    std::fs::write(src.join("model.rs"), "// crate::tui in a comment is fine\n").unwrap();
    std::fs::write(
        src.join("report/csv.rs"),
        "mod tests {\n    use super::super::tests::sample;\n}\n",
    )
    .unwrap();
    let problems = violations(src);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("kernels/mod.rs:1: 'kernels' uses 'quant'"));
    assert!(problems[1].contains("kernels/x.rs:1: 'kernels' uses 'quant'"));
    assert!(problems[2].contains("report/json.rs:1: 'report' uses 'scenario'"));
}
