//! The C and Zig plugins on the raw `bitvault_v1` ABI, built with zig
//! (`python3 -m ziglang` from PyPI, or the executable named by
//! `BITVAULT_ZIG`) into [`crate::polyglot::out_dir`]:
//!
//! - `plugins/c/wordsearch` (search analyzer and preview, against
//!   `crates/abi/include/bitvault.h`) as `wordsearch.wasm`. Its Unicode
//!   tables, `unicode.h`, are generated here from the Rust standard
//!   library's (`char::is_alphanumeric`, `char::to_lowercase`) and rewritten
//!   when the toolchain's Unicode version changes them.
//! - `plugins/zig/linenum` (content transform, with the bindings
//!   `plugins/zig/bitvault.zig` as the module `bitvault`) as `linenum.wasm`,
//!   after the unit tests of its protobuf reader (`zig test wire.zig`).
//!
//! A module is rebuilt only when a source (or this program) is newer than
//! it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The C plugins: directory under `plugins/c` and its translation units.
const C_PLUGINS: &[(&str, &[&str])] = &[("wordsearch", &["wordsearch.c"])];

/// The Zig plugins: directory under `plugins/zig`, root source file, the
/// entry points to export, and the files whose `test` blocks run (natively,
/// `zig test`) before each build.
const ZIG_PLUGINS: &[(&str, &str, &[&str], &[&str])] = &[(
    "linenum",
    "linenum.zig",
    &["content_transform_v1_transform"],
    &["wire.zig"],
)];

/// The zig command: `$BITVAULT_ZIG`, else `python3 -m ziglang`.
fn zig() -> Command {
    match std::env::var_os("BITVAULT_ZIG") {
        Some(path) => Command::new(path),
        None => {
            let mut c = Command::new("python3");
            c.args(["-m", "ziglang"]);
            c
        }
    }
}

fn ensure_zig() -> bool {
    if crate::ensure_zig() {
        return true;
    }
    eprintln!(
        "xtask: cannot install {}; install it with `python3 -m pip install {0}` or set BITVAULT_ZIG to a zig executable",
        crate::ZIGLANG
    );
    false
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `out` exists and is newer than every source and than this
/// program (whose build flags may have changed).
fn up_to_date(out: &Path, sources: &[PathBuf]) -> bool {
    let Some(built) = modified(out) else {
        return false;
    };
    let exe = std::env::current_exe().ok();
    sources
        .iter()
        .chain(exe.as_ref())
        .all(|s| modified(s).is_some_and(|t| t < built))
}

/// The files of `dir` (not recursive).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the C plugins.
pub fn build_c(root: &Path) -> bool {
    let out_dir = crate::polyglot::out_dir(root);
    let include = root.join("crates/abi/include");
    for (name, units) in C_PLUGINS {
        let dir = root.join("plugins/c").join(name);
        if *name == "wordsearch" && !write_unicode_header(&dir.join("unicode.h")) {
            return false;
        }
        let out = out_dir.join(format!("{name}.wasm"));
        let mut sources = files_in(&dir);
        sources.push(include.join("bitvault.h"));
        if up_to_date(&out, &sources) {
            continue;
        }
        if !ensure_zig() {
            return false;
        }
        let mut cmd = zig();
        cmd.args(["cc", "--target=wasm32-freestanding", "-O2", "-nostdlib"])
            .args([
                "-Wl,--no-entry",
                "-Wl,-z,stack-size=65536",
                "-Wl,--strip-all",
            ])
            .args(["-Wall", "-Wextra", "-Werror"])
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(&out)
            .args(units.iter().map(|u| dir.join(u)));
        if !crate::run(&mut cmd) {
            return false;
        }
    }
    true
}

/// Builds the Zig plugins.
pub fn build_zig(root: &Path) -> bool {
    let out_dir = crate::polyglot::out_dir(root);
    let bindings = root.join("plugins/zig/bitvault.zig");
    for (name, main, exports, tests) in ZIG_PLUGINS {
        let dir = root.join("plugins/zig").join(name);
        let out = out_dir.join(format!("{name}.wasm"));
        let mut sources = files_in(&dir);
        sources.push(bindings.clone());
        if up_to_date(&out, &sources) {
            continue;
        }
        if !ensure_zig() {
            return false;
        }
        for test in *tests {
            if !crate::run(zig().arg("test").arg(dir.join(test))) {
                return false;
            }
        }
        let mut cmd = zig();
        cmd.args([
            "build-exe",
            "-target",
            "wasm32-freestanding",
            "-O",
            "ReleaseSmall",
        ])
        .args(["-fno-entry", "-fstrip", "--stack", "65536"])
        .args(exports.iter().map(|e| format!("--export={e}")))
        .args(["--dep", "bitvault"])
        .arg(format!("-Mroot={}", dir.join(main).display()))
        .arg(format!("-Mbitvault={}", bindings.display()))
        .arg(format!("-femit-bin={}", out.display()));
        if !crate::run(&mut cmd) {
            return false;
        }
    }
    true
}

/// Writes the analyzer's Unicode tables to `path` unless it already holds
/// them.
fn write_unicode_header(path: &Path) -> bool {
    let text = unicode_header();
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return true;
    }
    let (major, minor, update) = char::UNICODE_VERSION;
    eprintln!(
        "xtask: writing {} (Unicode {major}.{minor}.{update})",
        path.display()
    );
    match std::fs::write(path, text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("xtask: cannot write {}: {e}", path.display());
            false
        }
    }
}

/// The inclusive ranges of non-ASCII code points that are alphanumeric.
fn alphanumeric_ranges() -> Vec<(u32, u32)> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for c in (0x80..=0x10_FFFF).filter_map(char::from_u32) {
        if !c.is_alphanumeric() {
            continue;
        }
        let c = u32::from(c);
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == c => *last = c,
            _ => ranges.push((c, c)),
        }
    }
    ranges
}

/// A run of lower-case mappings: every `stride`-th code point from `first`
/// to `last` maps to itself plus `delta`.
struct CaseRun {
    first: u32,
    last: u32,
    delta: i64,
    stride: u32,
}

/// The simple lower-case mappings of non-ASCII code points that keep the
/// UTF-8 length, as runs.
fn lower_runs() -> Vec<CaseRun> {
    let mut runs: Vec<CaseRun> = Vec::new();
    for c in (0x80..=0x10_FFFF).filter_map(char::from_u32) {
        let mut lower = c.to_lowercase();
        let (Some(l), None) = (lower.next(), lower.next()) else {
            continue;
        };
        if l == c || l.len_utf8() != c.len_utf8() {
            continue;
        }
        let (c, delta) = (
            u32::from(c),
            i64::from(u32::from(l)) - i64::from(u32::from(c)),
        );
        if let Some(r) = runs.last_mut().filter(|r| r.delta == delta) {
            let gap = c - r.last;
            if r.first == r.last && (gap == 1 || gap == 2) {
                r.stride = gap;
                r.last = c;
                continue;
            }
            if r.first != r.last && gap == r.stride {
                r.last = c;
                continue;
            }
        }
        runs.push(CaseRun {
            first: c,
            last: c,
            delta,
            stride: 1,
        });
    }
    runs
}

/// The text of `plugins/c/wordsearch/unicode.h`.
pub fn unicode_header() -> String {
    let (major, minor, update) = char::UNICODE_VERSION;
    let mut s = format!(
        "/*\n * unicode.h: the Unicode tables of the wordsearch analyzer, Unicode {major}.{minor}.{update}.\n \
         * Generated by `cargo xtask build-plugins` (xtask/src/lang_c_zig.rs) from\n \
         * the Rust standard library's `char::is_alphanumeric` and\n \
         * `char::to_lowercase`: do not edit.\n */\n\
         #ifndef WORDSEARCH_UNICODE_H\n#define WORDSEARCH_UNICODE_H\n\n#include <stdint.h>\n\n\
         /* The non-ASCII alphanumeric code points: sorted inclusive ranges. */\n\
         static const uint32_t ws_alnum[][2] = {{\n"
    );
    for chunk in alphanumeric_ranges().chunks(4) {
        s.push_str("   ");
        for (first, last) in chunk {
            let _ = write!(s, " {{0x{first:x}, 0x{last:x}}},");
        }
        s.push('\n');
    }
    s.push_str(
        "};\n\n/* Lower-case mappings of non-ASCII code points that keep the UTF-8\n \
         * length: every `stride`-th code point from `first` to `last` maps to\n \
         * itself plus `delta`. Sorted, not overlapping. */\n\
         typedef struct {\n    uint32_t first, last;\n    int32_t delta;\n    uint32_t stride;\n} ws_case_run;\n\n\
         static const ws_case_run ws_lower[] = {\n",
    );
    for chunk in lower_runs().chunks(3) {
        s.push_str("   ");
        for r in chunk {
            let _ = write!(
                s,
                " {{0x{:x}, 0x{:x}, {}, {}}},",
                r.first, r.last, r.delta, r.stride
            );
        }
        s.push('\n');
    }
    s.push_str("};\n\n#endif /* WORDSEARCH_UNICODE_H */\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_runs_reproduce_every_mapping_they_cover() {
        let runs = lower_runs();
        let lookup = |c: u32| {
            runs.iter()
                .find(|r| (r.first..=r.last).contains(&c))
                .filter(|r| (c - r.first).is_multiple_of(r.stride))
                .map_or(c, |r| (i64::from(c) + r.delta) as u32)
        };
        for c in (0x80..=0x10_FFFF).filter_map(char::from_u32) {
            let mut lower = c.to_lowercase();
            let expected = match (lower.next(), lower.next()) {
                (Some(l), None) if l.len_utf8() == c.len_utf8() => u32::from(l),
                _ => u32::from(c),
            };
            assert_eq!(lookup(u32::from(c)), expected, "U+{:04X}", u32::from(c));
        }
        assert!(runs.windows(2).all(|w| w[0].last < w[1].first));
    }

    #[test]
    fn the_alphanumeric_ranges_are_sorted_and_apart() {
        let ranges = alphanumeric_ranges();
        assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        assert!(ranges.iter().any(|&(a, b)| (a..=b).contains(&0x65e5)));
    }
}
