//! `bitvault-plugin inspect`: what a module imports, exports and declares,
//! from admission alone (nothing is compiled).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use bitvault_abi::{CapabilityKind, HostFn};
use bitvault_runtime::extism::{self, ExtismFn};
use bitvault_runtime::wasi::WasiFn;
use bitvault_runtime::{ExternDesc, Import, LinkedFn, ModuleReport};

use crate::host;
use crate::json::{self, Failure};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module: a `.wasm` binary or WebAssembly text.
    module: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs the command and returns the exit status.
///
/// # Errors
/// Host errors: the module cannot be read, the runtime cannot start, stdout
/// cannot be written.
pub fn inspect(args: &Args) -> Result<u8> {
    let wasm = host::read_module(&args.module)?;
    let runtime = host::runtime()?;
    let report = match wasm.and_then(|w| runtime.inspect(&w).map_err(|e| Failure::from_load(&e))) {
        Ok(r) => r,
        Err(failure) => return host::fail_before_running(&failure, args.json),
    };
    if args.json {
        host::print_json(&json::report(&report))?;
    } else {
        host::write_stdout(human(&report).as_bytes())?;
    }
    Ok(crate::exit::SUCCESS)
}

/// The host function that would be linked for `import` if its capability
/// were granted: a `bitvault_v1` function imported with the ABI's signature.
pub fn offered(import: &Import) -> Option<HostFn> {
    let f = HostFn::lookup(&import.module, &import.name)?;
    match &import.desc {
        ExternDesc::Func(t) if t.matches(f.signature()) => Some(f),
        _ => None,
    }
}

/// The `extism:host/env` function linked for `import` if its capability
/// were granted, imported with Extism's signature.
pub fn extism(import: &Import) -> Option<ExtismFn> {
    let f = ExtismFn::lookup(&import.module, &import.name)?;
    match &import.desc {
        ExternDesc::Func(t) if t.matches(f.signature()) => Some(f),
        _ => None,
    }
}

/// The capability that links `import`, if the host offers it under one.
pub fn capability(import: &Import) -> Option<CapabilityKind> {
    offered(import)
        .map(HostFn::capability)
        .or_else(|| extism(import).map(ExtismFn::capability))
        .or_else(|| {
            (import.module == extism::USER_NAMESPACE).then_some(CapabilityKind::HostFunctions)
        })
}

/// The interfaces a module speaks, by its imports and exports: `bitvault_v1`
/// (it imports the native ABI), `extism` (it imports `extism:host/env`),
/// `wasi-command` (it imports WASI and exports `_start`), `wasi-reactor`
/// (WASI without `_start`).
pub fn speaks(r: &ModuleReport) -> Vec<&'static str> {
    let mut out = Vec::new();
    let imports = |ns: &str| r.imports.iter().any(|i| i.module == ns);
    if imports(bitvault_abi::NAMESPACE) {
        out.push("bitvault_v1");
    }
    if imports(extism::NAMESPACE) {
        out.push("extism");
    }
    if imports("wasi_snapshot_preview1") {
        if r.exports.iter().any(|e| e.name == "_start") {
            out.push("wasi-command");
        } else {
            out.push("wasi-reactor");
        }
    }
    out
}

/// The capabilities a grant needs for every import to link, in the ABI's
/// order (soft capabilities included: withheld, their functions answer
/// `not_permitted`).
pub fn needs(r: &ModuleReport) -> Vec<CapabilityKind> {
    let mut out: Vec<CapabilityKind> = r.imports.iter().filter_map(capability).collect();
    const ORDER: [CapabilityKind; 9] = [
        CapabilityKind::Io,
        CapabilityKind::Log,
        CapabilityKind::Config,
        CapabilityKind::Clock,
        CapabilityKind::Random,
        CapabilityKind::Kv,
        CapabilityKind::Events,
        CapabilityKind::Http,
        CapabilityKind::HostFunctions,
    ];
    out.sort_by_key(|k| ORDER.iter().position(|x| x == k));
    out.dedup();
    out
}

/// The extension points whose every export the module has.
pub fn points(r: &ModuleReport) -> Vec<&'static str> {
    bitvault_extpoints::implemented(r.exports.iter().map(|e| e.name.as_str()))
        .into_iter()
        .map(|p| p.name())
        .collect()
}

/// The WASI shim function linked for `import` under any grants: a
/// `wasi_snapshot_preview1` function imported with its preview1 signature.
pub fn wasi(import: &Import) -> Option<WasiFn> {
    let f = WasiFn::lookup(&import.module, &import.name)?;
    match &import.desc {
        ExternDesc::Func(t) if t.matches(f.signature()) => Some(f),
        _ => None,
    }
}

/// Whether `import` is AssemblyScript's `env.abort` with its signature,
/// which links under any grants.
pub fn abort(import: &Import) -> bool {
    let f = LinkedFn::Abort;
    import.module == f.module()
        && import.name == f.name()
        && matches!(&import.desc, ExternDesc::Func(t) if t.matches(f.signature()))
}

/// Whether an export can be invoked: a `() -> i32` function, or a WASI
/// command's `_start` of type `() -> ()`.
pub fn invocable(name: &str, desc: &ExternDesc) -> bool {
    matches!(desc, ExternDesc::Func(t) if t.is_invocable_as(name))
}

fn signature(desc: &ExternDesc) -> String {
    match desc {
        ExternDesc::Func(t) => t.to_string(),
        _ => "-".to_owned(),
    }
}

fn host_column(import: &Import) -> String {
    if import.module == extism::USER_NAMESPACE {
        return "the embedder's, if registered (capability host_functions)".to_owned();
    }
    if let Some(k) = capability(import) {
        return format!("grantable (capability {k})");
    }
    if wasi(import).is_some() {
        return "linked (wasi shim)".to_owned();
    }
    if abort(import) {
        return "linked (AssemblyScript abort)".to_owned();
    }
    if let Some(f) = HostFn::lookup(&import.module, &import.name) {
        return format!("not offered (the ABI defines {})", f.signature());
    }
    match WasiFn::lookup(&import.module, &import.name) {
        Some(f) => format!("not offered (preview1 defines {})", f.signature()),
        None => "not offered".to_owned(),
    }
}

fn max(m: Option<u64>) -> String {
    m.map_or_else(|| "none".to_owned(), |m| m.to_string())
}

fn human(r: &ModuleReport) -> String {
    let mut out = String::new();
    let abi = r.namespaces();
    let abi = if abi.is_empty() {
        "none (no imports)".to_owned()
    } else {
        abi.join(", ")
    };
    let _ = writeln!(out, "size: {} bytes", r.size);
    let _ = writeln!(out, "abi: {abi}");
    let join = |v: Vec<&str>| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(out, "speaks: {}", join(speaks(r)));
    let _ = writeln!(
        out,
        "needs granted: {}",
        join(needs(r).iter().map(|k| k.name()).collect())
    );
    let _ = writeln!(out, "extension points: {}", join(points(r)));
    let _ = writeln!(out, "defined functions: {}", r.functions);
    let start = if r.has_start { "yes" } else { "no" };
    let _ = writeln!(out, "start function: {start}");

    let imports: Vec<Vec<String>> = r
        .imports
        .iter()
        .map(|i| {
            vec![
                i.module.clone(),
                i.name.clone(),
                i.desc.kind().to_owned(),
                signature(&i.desc),
                host_column(i),
            ]
        })
        .collect();
    section(
        &mut out,
        "imports",
        &["MODULE", "NAME", "KIND", "SIGNATURE", "HOST"],
        &imports,
    );

    let exports: Vec<Vec<String>> = r
        .exports
        .iter()
        .map(|e| {
            let note = if invocable(&e.name, &e.desc) {
                "invocable"
            } else {
                ""
            };
            vec![
                e.name.clone(),
                e.desc.kind().to_owned(),
                signature(&e.desc),
                note.to_owned(),
            ]
        })
        .collect();
    section(
        &mut out,
        "exports",
        &["NAME", "KIND", "SIGNATURE", ""],
        &exports,
    );

    let memories: Vec<Vec<String>> = r
        .memories
        .iter()
        .enumerate()
        .map(|(i, m)| vec![i.to_string(), m.min_pages.to_string(), max(m.max_pages)])
        .collect();
    section(
        &mut out,
        "memories",
        &["INDEX", "MIN PAGES", "MAX PAGES"],
        &memories,
    );

    let tables: Vec<Vec<String>> = r
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| vec![i.to_string(), t.min.to_string(), max(t.max)])
        .collect();
    section(&mut out, "tables", &["INDEX", "MIN", "MAX"], &tables);
    out
}

/// A titled table with aligned columns, or `title: none`.
fn section(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    out.push('\n');
    if rows.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title} ({}):", rows.len());
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::from(" ");
        for (w, cell) in widths.iter().zip(row) {
            let _ = write!(line, " {cell:<w$} ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
