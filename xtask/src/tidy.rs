//! Structural rules of the repository, checked by `cargo xtask tidy` and by
//! `cargo test`:
//! - every `.rs` file begins with a `//!` doc comment, except generated
//!   code (`// This file is @generated`), which is `include!`d;
//! - internal dependencies point only in the allowed direction (`abi`
//!   depends on no internal crate; `registry` never on `runtime`, so it
//!   cannot run guest code; …);
//! - `unsafe` appears only in the modules that touch guest memory or engine
//!   internals;
//! - no stubs (`todo!`, `unimplemented!`) and no ignored or
//!   panic-expecting tests.

use std::fs;
use std::path::{Path, PathBuf};

/// For each crate folder, the internal crates it may depend on (normal
/// dependencies; dev-dependencies are not restricted).
const ALLOWED_DEPS: &[(&str, &[&str])] = &[
    ("abi", &[]),
    ("runtime", &["bitvault-abi"]),
    ("extpoints", &["bitvault-abi", "bitvault-runtime"]),
    ("registry", &["bitvault-abi"]),
    (
        "conformance",
        &["bitvault-abi", "bitvault-runtime", "bitvault-extpoints"],
    ),
    ("pdk", &["bitvault-abi", "bitvault-extpoints"]),
    (
        "facade",
        &[
            "bitvault-abi",
            "bitvault-runtime",
            "bitvault-extpoints",
            "bitvault-registry",
        ],
    ),
    (
        "cli",
        &[
            "bitvault-abi",
            "bitvault-runtime",
            "bitvault-extpoints",
            "bitvault-registry",
            "bitvault-conformance",
            "bitvault-plugins",
        ],
    ),
];

/// Files allowed to contain `unsafe` code, relative to the root: the
/// runtime's guest-memory and engine modules, the guest SDK's imports, and
/// the Extism test plugin that calls host functions (the Extism PDK's
/// `#[host_fn]` declares them `unsafe fn`). Benches may use it for the
/// raw-engine baselines they measure against.
const UNSAFE_ALLOWED: &[&str] = &[
    "crates/runtime/src/guest_mem.rs",
    "crates/runtime/src/tunables.rs",
    "crates/runtime/src/cache.rs",
    "crates/pdk/src/backend.rs",
    "plugins/extism-hostfns/src/lib.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every problem found under `root`, as readable lines.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "plugins"] {
        rust_files(&root.join(dir), &mut files);
    }
    let stub_patterns = [
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
        concat!("#[", "ignore"),
        concat!("#[", "should_panic"),
    ];
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(text) = fs::read_to_string(f) else {
            problems.push(format!("{rel}: unreadable"));
            continue;
        };
        // Generated code is `include!`d, where inner doc comments cannot
        // stand; its module (`proto/mod.rs`) carries the documentation.
        let generated = text.starts_with("// This file is @generated");
        if !text.starts_with("//!") && !generated {
            problems.push(format!("{rel}: does not begin with a `//!` doc comment"));
        }
        let in_bench = rel.contains("/benches/");
        if !in_bench && !UNSAFE_ALLOWED.contains(&rel.as_str()) {
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(concat!("unsafe", " {"))
                    || code.contains(concat!("unsafe", " fn"))
                    || code.contains(concat!("unsafe", " impl"))
                {
                    problems.push(format!(
                        "{rel}:{}: `unsafe` outside the allowed modules",
                        i + 1
                    ));
                }
            }
        }
        for (i, line) in text.lines().enumerate() {
            if stub_patterns.iter().any(|p| line.contains(p)) {
                problems.push(format!("{rel}:{}: stub or ignored test", i + 1));
            }
        }
    }
    for (krate, allowed) in ALLOWED_DEPS {
        let manifest = root.join("crates").join(krate).join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            problems.push(format!("crates/{krate}/Cargo.toml: missing"));
            continue;
        };
        for dep in normal_internal_deps(&text) {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!(
                    "crates/{krate}: depends on {dep}, against the layering in ARCHITECTURE.md"
                ));
            }
        }
    }
    problems
}

/// Internal (`bitvault-*`) crates named in the `[dependencies]` table.
fn normal_internal_deps(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && line.starts_with("bitvault-") {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            deps.push(name);
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_tidy() {
        let root = crate::root();
        let problems = check(&root);
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn dependency_tables_are_read_precisely() {
        let manifest = "[dependencies]\nbitvault-abi.workspace = true\nserde = \"1\"\n\n[dev-dependencies]\nbitvault-runtime.workspace = true\n";
        assert_eq!(normal_internal_deps(manifest), ["bitvault-abi"]);
    }
}
