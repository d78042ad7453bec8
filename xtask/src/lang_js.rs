//! Building the JavaScript plugins of `plugins/js/` with Porffor, an
//! ahead-of-time JavaScript to WebAssembly compiler from the npm registry
//! (pinned by `plugins/js/package.json` and its lock file, installed with
//! `npm ci` under `target/polyglot-tools/js`, outside the source tree).
//!
//! Each plugin is a directory with a `main.js`. `plugins/js/porffor-wasi.mjs`
//! compiles the shared prelude (`plugins/js/prelude.js`: `readInput`,
//! `writeOutput`, `log`, `console.log`) and the plugin into a WASI command
//! module that imports nothing but `wasi_snapshot_preview1`, run in stdio
//! mode (`docs/abi.md` §13.3), and writes it to
//! [`crate::polyglot::out_dir`]. A module is rebuilt only when a source (or
//! this program) is newer than it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The plugins, each a directory of `plugins/js/`.
const PLUGINS: &[&str] = &["wordfreq", "selftest"];

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `out` exists and is newer than every file in `sources` (files,
/// or directories taken with the files directly in them) and than this
/// program.
pub(crate) fn up_to_date(out: &Path, sources: &[PathBuf]) -> bool {
    let Some(built) = modified(out) else {
        return false;
    };
    let mut files: Vec<PathBuf> = std::env::current_exe().into_iter().collect();
    for s in sources {
        match std::fs::read_dir(s) {
            Ok(entries) => {
                files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()))
            }
            Err(_) => files.push(s.clone()),
        }
    }
    files.iter().all(|f| modified(f).is_some_and(|t| t < built))
}

/// Where the toolchains of the polyglot plugins are installed.
pub(crate) fn tools_dir(root: &Path) -> PathBuf {
    root.join("target/polyglot-tools")
}

/// Installs Porffor with `npm ci` under `target/polyglot-tools/js` when it
/// is missing or older than `plugins/js/package-lock.json`; returns its
/// package directory.
fn ensure_porffor(root: &Path) -> Option<PathBuf> {
    let src = root.join("plugins/js");
    let dir = tools_dir(root).join("js");
    let porffor = dir.join("node_modules/porffor");
    let lock = src.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    if modified(&installed)
        .zip(modified(&lock))
        .is_some_and(|(i, l)| i >= l)
        && porffor.join("compiler/index.js").is_file()
    {
        return Some(porffor);
    }
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("xtask: Node.js is missing; installing Debian's nodejs and npm");
        let ok = crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "nodejs", "npm"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        if !ok {
            eprintln!("xtask: cannot install Node.js; install nodejs and npm");
            return None;
        }
    }
    let copied = std::fs::create_dir_all(&dir).is_ok()
        && ["package.json", "package-lock.json"]
            .iter()
            .all(|f| std::fs::copy(src.join(f), dir.join(f)).is_ok());
    // Porffor's optional dependencies are other parsers: acorn, the
    // default, is a regular one.
    let ok = copied
        && crate::run(
            Command::new("nice")
                .args([
                    "-n19",
                    "npm",
                    "ci",
                    "--omit=optional",
                    "--no-audit",
                    "--no-fund",
                ])
                .current_dir(&dir),
        );
    if ok && porffor.join("compiler/index.js").is_file() {
        Some(porffor)
    } else {
        eprintln!(
            "xtask: cannot install Porffor with `npm ci` in {}",
            dir.display()
        );
        None
    }
}

/// Builds every JavaScript plugin into [`crate::polyglot::out_dir`].
pub fn build(root: &Path) -> bool {
    let base = root.join("plugins/js");
    let out_dir = crate::polyglot::out_dir(root);
    let shared = [
        base.join("porffor-wasi.mjs"),
        base.join("prelude.js"),
        base.join("package-lock.json"),
    ];
    let stale: Vec<&str> = PLUGINS
        .iter()
        .copied()
        .filter(|name| {
            let mut sources = shared.to_vec();
            sources.push(base.join(name));
            !up_to_date(&out_dir.join(format!("{name}.wasm")), &sources)
        })
        .collect();
    if stale.is_empty() {
        return true;
    }
    let Some(porffor) = ensure_porffor(root) else {
        return false;
    };
    stale.iter().all(|name| {
        crate::run(
            Command::new("nice")
                .args(["-n19", "node"])
                .arg(base.join("porffor-wasi.mjs"))
                .arg(&porffor)
                .arg(out_dir.join(format!("{name}.wasm")))
                .arg(base.join("prelude.js"))
                .arg(base.join(name).join("main.js")),
        )
    })
}
