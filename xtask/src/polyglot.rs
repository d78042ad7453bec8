//! Building the plugins written in languages other than Rust, each with
//! its own toolchain, into `target/plugins/polyglot/<name>.wasm`, where the
//! conformance crate's `reference::polyglot_subjects` reads them. Each
//! language's builder installs its toolchain from the registries this
//! project may use (PyPI, npm, Debian) when it is missing.

use std::path::{Path, PathBuf};

/// Where the built modules go.
pub fn out_dir(root: &Path) -> PathBuf {
    root.join("target/plugins/polyglot")
}

/// A language's builder: builds its plugins into [`out_dir`], saying why
/// on stderr when it fails.
type Builder = fn(&Path) -> bool;

/// Builds every polyglot plugin; stops at the first failure, having said
/// why on stderr.
pub fn build(root: &Path) -> bool {
    if let Err(e) = std::fs::create_dir_all(out_dir(root)) {
        eprintln!("xtask: cannot create {}: {e}", out_dir(root).display());
        return false;
    }
    let builders: &[(&str, Builder)] = &[
        ("Go", crate::lang_go::build),
        ("AssemblyScript", crate::lang_as::build),
        ("C", crate::lang_c_zig::build_c),
        ("Zig", crate::lang_c_zig::build_zig),
        ("JavaScript", crate::lang_js::build),
        ("Python", crate::lang_python::build),
    ];
    builders.iter().all(|(lang, build)| {
        let ok = build(root);
        if !ok {
            eprintln!("xtask: building the {lang} plugins failed");
        }
        ok
    })
}
