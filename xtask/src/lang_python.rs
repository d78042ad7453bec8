//! Building the Python plugins of `plugins/python/` with py2wasm (PyPI),
//! which compiles Python through Nuitka to C and links it with a CPython
//! 3.11 built for WASI (in the py2wasm package) into one WASI command
//! module, run in stdio mode (`docs/abi.md` §13.3).
//!
//! py2wasm downloads a WASI SDK from outside the registries unless
//! `WASI_SDK_DIR` names one (a directory with `bin/clang` and
//! `share/wasi-sysroot`). This builder makes one under
//! `target/polyglot-tools/python/wasi-sdk` from Debian's packages: clang 19,
//! wasm-ld and llvm-ar (`clang-19`, `lld-19`, `llvm-19`), compiler-rt for
//! wasm32 (`libclang-rt-19-dev-wasm32`) and `wasi-libc`; Nuitka also wants
//! `patchelf`. Debian's wasi-libc (2022) is older than the one CPython was
//! built against: `plugins/python/toolchain/` adds the two headers it lacks
//! (`pthread.h`, over CPython's own pthread stubs; `dlfcn.h`) and a `libdl`
//! whose functions fail. Missing packages are installed with apt-get,
//! py2wasm with pip into its own virtual environment; Nuitka needs the
//! machine's Python to be 3.11.
//!
//! Each plugin is a directory with a `main.py`, built into
//! [`crate::polyglot::out_dir`] when a source (or this program) is newer
//! than its module.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lang_js::{tools_dir, up_to_date};

/// The plugins, each a directory of `plugins/python/`.
const PLUGINS: &[&str] = &["csvstats"];

/// The py2wasm release, and the Python it runs on.
const PY2WASM: &str = "py2wasm==2.6.3";
const PYTHON: &str = "3.11";

/// Debian's packages, each with a file that shows it is installed.
const DEBIAN: &[(&str, &str)] = &[
    ("clang-19", "/usr/bin/clang-19"),
    ("lld-19", "/usr/bin/wasm-ld-19"),
    ("llvm-19", "/usr/bin/llvm-ar-19"),
    (
        "libclang-rt-19-dev-wasm32",
        "/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a",
    ),
    ("wasi-libc", "/usr/lib/wasm32-wasi/libc.a"),
    ("patchelf", "/usr/bin/patchelf"),
];

fn apt_install(packages: &[&str]) -> bool {
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    install() || (crate::run(Command::new("apt-get").args(["update", "-qq"])) && install())
}

fn ensure_debian() -> bool {
    let missing: Vec<&str> = DEBIAN
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() || apt_install(&missing) {
        return true;
    }
    eprintln!("xtask: cannot install {} with apt-get", missing.join(" "));
    false
}

/// py2wasm in `target/polyglot-tools/python/venv`, installed when missing;
/// returns its executable.
fn ensure_py2wasm(tools: &Path) -> Option<PathBuf> {
    let venv = tools.join("venv");
    let exe = venv.join("bin/py2wasm");
    let marker = venv.join("bitvault-installed");
    if exe.is_file() && std::fs::read_to_string(&marker).is_ok_and(|m| m == PY2WASM) {
        return Some(exe);
    }
    let version = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if version != PYTHON {
        eprintln!(
            "xtask: py2wasm needs Python {PYTHON} as python3, which is {}",
            if version.is_empty() {
                "missing"
            } else {
                &version
            }
        );
        return None;
    }
    let ok = crate::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        && crate::run(
            Command::new("nice")
                .args(["-n19"])
                .arg(venv.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet", PY2WASM]),
        )
        && std::fs::write(&marker, PY2WASM).is_ok();
    if ok && exe.is_file() {
        Some(exe)
    } else {
        eprintln!("xtask: cannot install {PY2WASM} into {}", venv.display());
        None
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "py2wasm's WASI SDK is made on Unix only",
    ))
}

/// Makes the WASI SDK that py2wasm is pointed at: a `clang` that targets
/// Debian's wasi-libc with the headers and libdl of
/// `plugins/python/toolchain`.
fn ensure_sdk(root: &Path, tools: &Path) -> Option<PathBuf> {
    let sdk = tools.join("wasi-sdk");
    let toolchain = root.join("plugins/python/toolchain");
    let sysroot = sdk.join("share/wasi-sysroot");
    let overlay = sdk.join("overlay");
    let made = (|| -> std::io::Result<()> {
        for dir in [
            sdk.join("bin"),
            sysroot.join("include"),
            sysroot.join("lib"),
            overlay.clone(),
        ] {
            std::fs::create_dir_all(dir)?;
        }
        symlink(
            Path::new("/usr/include/wasm32-wasi"),
            &sysroot.join("include/wasm32-wasi"),
        )?;
        symlink(
            Path::new("/usr/lib/wasm32-wasi"),
            &sysroot.join("lib/wasm32-wasi"),
        )?;
        let clang = format!(
            "#!/bin/sh\n# Made by cargo xtask build-plugins (xtask/src/lang_python.rs).\nexec clang-19 -Wno-unused-command-line-argument --sysroot={} -resource-dir=/usr/lib/llvm-19/lib/clang/19 -idirafter {} -L{} \"$@\"\n",
            sysroot.display(),
            toolchain.join("include").display(),
            overlay.display()
        );
        let path = sdk.join("bin/clang");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(clang.as_str()) {
            std::fs::write(&path, clang)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        eprintln!("xtask: cannot make the WASI SDK in {}: {e}", sdk.display());
        return None;
    }
    let libdl = overlay.join("libdl.a");
    let object = overlay.join("dl.o");
    let source = toolchain.join("dl.c");
    if !up_to_date(&libdl, std::slice::from_ref(&source)) {
        let ok = crate::run(
            Command::new(sdk.join("bin/clang"))
                .args(["--target=wasm32-wasi", "-O2", "-c"])
                .arg(&source)
                .arg("-o")
                .arg(&object),
        ) && crate::run(
            Command::new("llvm-ar-19")
                .arg("rcs")
                .arg(&libdl)
                .arg(&object),
        );
        if !ok {
            eprintln!("xtask: cannot build {}", libdl.display());
            return None;
        }
    }
    Some(sdk)
}

/// Builds every Python plugin into [`crate::polyglot::out_dir`].
pub fn build(root: &Path) -> bool {
    let base = root.join("plugins/python");
    let out_dir = crate::polyglot::out_dir(root);
    let shared = [base.join("toolchain"), base.join("toolchain/include")];
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
    let tools = tools_dir(root).join("python");
    if !ensure_debian() {
        return false;
    }
    let Some(py2wasm) = ensure_py2wasm(&tools) else {
        return false;
    };
    let Some(sdk) = ensure_sdk(root, &tools) else {
        return false;
    };
    stale.iter().all(|name| {
        // Nuitka leaves reports in its working directory: not the sources'.
        let work = tools.join("build").join(name);
        let out = out_dir.join(format!("{name}.wasm"));
        std::fs::create_dir_all(&work).is_ok()
            && crate::run(
                Command::new("nice")
                    .arg("-n19")
                    .arg(&py2wasm)
                    .arg(base.join(name).join("main.py"))
                    .arg("-o")
                    .arg(&out)
                    .env("WASI_SDK_DIR", &sdk)
                    .current_dir(&work),
            )
            && out.is_file()
    })
}
