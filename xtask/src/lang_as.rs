//! Building the AssemblyScript plugins of `plugins/assemblyscript/`: each
//! a directory with its own `package.json` and `package-lock.json`
//! (the compiler `assemblyscript` and the protobuf runtime `as-proto`, from
//! the npm registry), installed with `npm ci` when its `node_modules` is
//! missing or older than the lock file, then compiled with `asc` and the
//! plugin's `asconfig.json` (stub runtime, `abort` routed to the shared
//! bindings in `plugins/assemblyscript/bitvault/`).

use std::path::Path;
use std::process::Command;

use crate::lang_go::up_to_date;

/// The plugins, each a directory of `plugins/assemblyscript/`.
const PLUGINS: &[&str] = &["htmltext"];

/// Runs `npm ci` in `dir` unless its `node_modules` is newer than its lock
/// file.
fn ensure_packages(dir: &Path) -> bool {
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (
        std::fs::metadata(&installed).and_then(|m| m.modified()),
        std::fs::metadata(&lock).and_then(|m| m.modified()),
    ) {
        (Ok(i), Ok(l)) => i >= l,
        _ => false,
    };
    fresh
        || crate::run(
            Command::new("nice")
                .args(["-n19", "npm", "ci", "--no-audit", "--no-fund"])
                .current_dir(dir),
        )
}

/// Builds every AssemblyScript plugin into `out_dir`, skipping those newer
/// than their sources (the plugin's directory and the shared bindings).
pub fn build(root: &Path) -> bool {
    let base = root.join("plugins/assemblyscript");
    let out_dir = crate::polyglot::out_dir(root);
    PLUGINS.iter().all(|name| {
        let dir = base.join(name);
        let out = out_dir.join(format!("{name}.wasm"));
        if up_to_date(&out, &[dir.clone(), base.join("bitvault")]) {
            return true;
        }
        if !ensure_packages(&dir) {
            eprintln!(
                "xtask: `npm ci` failed in {}; Node.js and npm are needed",
                dir.display()
            );
            return false;
        }
        crate::run(
            Command::new("nice")
                .args(["-n19", "node", "node_modules/assemblyscript/bin/asc.js"])
                .args(["assembly/index.ts", "--config", "asconfig.json"])
                .args(["--target", "release", "--outFile"])
                .arg(&out)
                .current_dir(&dir),
        )
    })
}
