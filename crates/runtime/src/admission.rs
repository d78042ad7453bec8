//! Admission: everything checked about a module before it is compiled.
//!
//! One pass over the binary validates it, measures it against the host's
//! [`AdmissionLimits`] (so a hostile module cannot make compilation itself
//! expensive) and records its imports, exports, memories and tables in a
//! [`ModuleReport`]. Import checking against a grant set happens on that
//! report, still before any compilation.
//!
//! A module with a start function is rewritten here: its `start` section is
//! removed and the function exported as [`START_EXPORT`], which the host
//! calls right after instantiation. It then runs under the invocation's fuel
//! budget, deadline and typed outcomes like any other guest code, rather
//! than inside wasmer's instantiation on a compile-time budget.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bitvault_abi::{Grants, HostFn, INITIALIZE_EXPORT, Signature, ValType};
use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

use crate::config::{AdmissionLimit, AdmissionLimits};
use crate::error::{DeniedImport, DenyReason, InvalidModule, LoadError};
use crate::extism::{self, ExtismFn, UserFunction, UserFunctions, UserType};
use crate::wasi::{self, WasiFn};

/// The export under which a module's start function is called.
pub const START_EXPORT: &str = "__bitvault_start";

/// Export-name prefixes reserved for the host (the start export and the
/// metering globals the engine adds).
const RESERVED_EXPORT_PREFIXES: &[&str] = &["__bitvault_", "wasmer_metering_"];

/// A WebAssembly value type, as it appears in a module's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// Any reference type.
    Ref,
}

impl WasmType {
    fn from_parser(t: wasmparser::ValType) -> WasmType {
        match t {
            wasmparser::ValType::I32 => WasmType::I32,
            wasmparser::ValType::I64 => WasmType::I64,
            wasmparser::ValType::F32 => WasmType::F32,
            wasmparser::ValType::F64 => WasmType::F64,
            wasmparser::ValType::V128 => WasmType::V128,
            wasmparser::ValType::Ref(_) => WasmType::Ref,
        }
    }

    fn from_user(t: UserType) -> WasmType {
        match t {
            UserType::I32 => WasmType::I32,
            UserType::I64 => WasmType::I64,
            UserType::F32 => WasmType::F32,
            UserType::F64 => WasmType::F64,
        }
    }

    fn from_abi(t: ValType) -> WasmType {
        match t {
            ValType::I32 => WasmType::I32,
            ValType::I64 => WasmType::I64,
        }
    }
}

impl fmt::Display for WasmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WasmType::I32 => "i32",
            WasmType::I64 => "i64",
            WasmType::F32 => "f32",
            WasmType::F64 => "f64",
            WasmType::V128 => "v128",
            WasmType::Ref => "ref",
        })
    }
}

/// A function signature found in a module.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<WasmType>,
    /// Result types.
    pub results: Vec<WasmType>,
}

impl FuncType {
    /// Whether this is exactly the ABI signature `sig`.
    pub fn matches(&self, sig: Signature) -> bool {
        self.params
            .iter()
            .copied()
            .eq(sig.params.iter().map(|t| WasmType::from_abi(*t)))
            && self
                .results
                .iter()
                .copied()
                .eq(sig.results.iter().map(|t| WasmType::from_abi(*t)))
    }

    /// Whether this is `() -> i32`, the type of an invocable export.
    pub fn is_entry_point(&self) -> bool {
        self.params.is_empty() && self.results == [WasmType::I32]
    }

    /// Whether an export of this type named `export` can be invoked: any
    /// `() -> i32` function, and a WASI command's
    /// [`_start`](crate::wasi::COMMAND_EXPORT) of type `() -> ()`.
    pub fn is_invocable_as(&self, export: &str) -> bool {
        self.is_entry_point() || (export == wasi::COMMAND_EXPORT && self.is_command())
    }

    /// Whether this is `() -> ()`.
    fn is_command(&self) -> bool {
        self.params.is_empty() && self.results.is_empty()
    }

    fn from_parser(t: &wasmparser::FuncType) -> FuncType {
        FuncType {
            params: t
                .params()
                .iter()
                .map(|v| WasmType::from_parser(*v))
                .collect(),
            results: t
                .results()
                .iter()
                .map(|v| WasmType::from_parser(*v))
                .collect(),
        }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[WasmType]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({})", list(&self.params))?;
        match self.results.as_slice() {
            [one] => write!(f, " -> {one}"),
            many => write!(f, " -> ({})", list(many)),
        }
    }
}

/// A declared linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryDecl {
    /// Initial size in 64 KiB pages.
    pub min_pages: u64,
    /// Maximum size in pages, if declared.
    pub max_pages: Option<u64>,
    /// Whether the memory is shared (threads proposal).
    pub shared: bool,
    /// Whether the memory is 64-bit indexed.
    pub memory64: bool,
}

/// A declared table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDecl {
    /// Initial number of elements.
    pub min: u64,
    /// Maximum number of elements, if declared.
    pub max: Option<u64>,
}

/// What an import or export refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternDesc {
    /// A function with its signature.
    Func(FuncType),
    /// A linear memory.
    Memory(MemoryDecl),
    /// A table.
    Table(TableDecl),
    /// A global.
    Global,
    /// An exception tag.
    Tag,
}

impl ExternDesc {
    /// The lower-case kind name (`func`, `memory`, `table`, `global`, `tag`).
    pub fn kind(&self) -> &'static str {
        match self {
            ExternDesc::Func(_) => "func",
            ExternDesc::Memory(_) => "memory",
            ExternDesc::Table(_) => "table",
            ExternDesc::Global => "global",
            ExternDesc::Tag => "tag",
        }
    }
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The import module (namespace).
    pub module: String,
    /// The field name.
    pub name: String,
    /// What is imported.
    pub desc: ExternDesc,
}

/// One export of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The export name.
    pub name: String,
    /// What is exported.
    pub desc: ExternDesc,
}

/// What admission learnt about a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    /// The module's size in bytes.
    pub size: usize,
    /// Imports, in declaration order.
    pub imports: Vec<Import>,
    /// Exports, in declaration order (the host's start export excluded).
    pub exports: Vec<Export>,
    /// Memories the module defines.
    pub memories: Vec<MemoryDecl>,
    /// Tables the module defines.
    pub tables: Vec<TableDecl>,
    /// Functions the module defines (imports excluded).
    pub functions: u32,
    /// Whether the module has a start function.
    pub has_start: bool,
}

impl ModuleReport {
    /// The import namespaces the module uses, in first-use order: the ABIs it
    /// speaks (`bitvault_v1`, `wasi_snapshot_preview1`, `extism:host/env`,
    /// or anything else it names).
    pub fn namespaces(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for i in &self.imports {
            if !seen.contains(&i.module.as_str()) {
                seen.push(&i.module);
            }
        }
        seen
    }

    /// The signature of export `name` if it is a function.
    pub fn export_func(&self, name: &str) -> Option<&FuncType> {
        self.exports.iter().find_map(|e| match &e.desc {
            ExternDesc::Func(t) if e.name == name => Some(t),
            _ => None,
        })
    }

    /// Checks every import against `grants` and returns the host functions
    /// to link, in import order: `bitvault_v1` and `extism:host/env`
    /// functions the grants permit, any `wasi_snapshot_preview1` function
    /// (the shim links under every grant set; what each may do is decided
    /// when it is called), and `extism:host/user` functions that are both
    /// in `user` and granted by name.
    ///
    /// # Errors
    /// [`LoadError::CapabilityDenied`] naming every import that is unknown,
    /// ungranted, of the wrong kind or of the wrong signature.
    pub fn link_plan(&self, grants: &Grants, user: &UserFunctions) -> Result<Vec<Link>, LoadError> {
        let mut plan = Vec::with_capacity(self.imports.len());
        let mut denied = Vec::new();
        for import in &self.imports {
            let deny = |reason| DeniedImport {
                module: import.module.clone(),
                name: import.name.clone(),
                reason,
            };
            if import.module == extism::USER_NAMESPACE {
                match link_user(import, grants, user) {
                    Ok(f) => plan.push(Link::User(f)),
                    Err(reason) => denied.push(deny(reason)),
                }
                continue;
            }
            let Some(f) = LinkedFn::lookup(&import.module, &import.name) else {
                denied.push(deny(DenyReason::Unknown));
                continue;
            };
            let ExternDesc::Func(ty) = &import.desc else {
                denied.push(deny(DenyReason::NotAFunction {
                    kind: import.desc.kind(),
                }));
                continue;
            };
            if !ty.matches(f.signature()) {
                denied.push(deny(DenyReason::WrongSignature {
                    expected: f.signature().to_string(),
                    found: ty.to_string(),
                }));
                continue;
            }
            match f {
                LinkedFn::Native(h) if !grants.permits(h) => {
                    denied.push(deny(DenyReason::NotGranted {
                        capability: h.capability(),
                    }));
                }
                LinkedFn::Extism(e) if !grants.grants(e.capability()) => {
                    denied.push(deny(DenyReason::NotGranted {
                        capability: e.capability(),
                    }));
                }
                _ => plan.push(Link::Host(f)),
            }
        }
        if denied.is_empty() {
            Ok(plan)
        } else {
            Err(LoadError::CapabilityDenied { imports: denied })
        }
    }
}

/// The registered function an `extism:host/user` import links to, or why
/// it does not.
fn link_user(
    import: &Import,
    grants: &Grants,
    user: &UserFunctions,
) -> Result<Arc<UserFunction>, DenyReason> {
    let f = user.get(&import.name).ok_or(DenyReason::Unknown)?;
    let ExternDesc::Func(ty) = &import.desc else {
        return Err(DenyReason::NotAFunction {
            kind: import.desc.kind(),
        });
    };
    let same = |wasm: &[WasmType], user: &[UserType]| {
        wasm.iter()
            .copied()
            .eq(user.iter().map(|t| WasmType::from_user(*t)))
    };
    if !same(&ty.params, f.params()) || !same(&ty.results, f.results()) {
        return Err(DenyReason::WrongSignature {
            expected: f.signature(),
            found: ty.to_string(),
        });
    }
    if !grants.grants_host_function(&import.name) {
        return Err(DenyReason::NotGranted {
            capability: bitvault_abi::CapabilityKind::HostFunctions,
        });
    }
    Ok(f.clone())
}

/// One import of a module's link plan: a function the host defines, or one
/// the embedder registered for `extism:host/user`.
#[derive(Debug, Clone)]
pub enum Link {
    /// A function of the native ABI, the WASI shim, the Extism kernel or
    /// AssemblyScript's `abort`.
    Host(LinkedFn),
    /// A registered `extism:host/user` function.
    User(Arc<UserFunction>),
}

impl Link {
    /// The host-defined function, when it is one.
    pub fn host(&self) -> Option<LinkedFn> {
        match self {
            Link::Host(f) => Some(*f),
            Link::User(_) => None,
        }
    }

    /// Whether the import belongs to Extism (`extism:host/env` or
    /// `extism:host/user`), which needs the kernel's state.
    pub fn is_extism(&self) -> bool {
        matches!(self, Link::Host(LinkedFn::Extism(_)) | Link::User(_))
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Host(h) => h.fmt(f),
            Link::User(u) => write!(f, "{}.{}", extism::USER_NAMESPACE, u.name()),
        }
    }
}

/// A host function linked into a module's instances: one of the native
/// `bitvault_v1` ABI, of the `wasi_snapshot_preview1` shim or of the
/// Extism kernel (`extism:host/env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkedFn {
    /// A function of the native ABI, linked when its capability is granted.
    Native(HostFn),
    /// A function of the WASI shim, linked under every grant set.
    Wasi(WasiFn),
    /// A function of the Extism kernel, linked when its capability is
    /// granted.
    Extism(ExtismFn),
    /// AssemblyScript's `env.abort(message, file, line, column)`, linked
    /// under every grant set: it ends the call with a trap carrying the
    /// message.
    Abort,
}

/// The namespace of AssemblyScript's `abort`.
pub const ABORT_MODULE: &str = "env";
/// The name of AssemblyScript's `abort`.
pub const ABORT_NAME: &str = "abort";

impl LinkedFn {
    /// The host function imported as `module`.`name`, in any namespace the
    /// host offers.
    pub fn lookup(module: &str, name: &str) -> Option<LinkedFn> {
        HostFn::lookup(module, name)
            .map(LinkedFn::Native)
            .or_else(|| WasiFn::lookup(module, name).map(LinkedFn::Wasi))
            .or_else(|| ExtismFn::lookup(module, name).map(LinkedFn::Extism))
            .or_else(|| (module == ABORT_MODULE && name == ABORT_NAME).then_some(LinkedFn::Abort))
    }

    /// The import module (namespace).
    pub const fn module(self) -> &'static str {
        match self {
            LinkedFn::Native(_) => bitvault_abi::NAMESPACE,
            LinkedFn::Wasi(_) => wasi::NAMESPACE,
            LinkedFn::Extism(_) => extism::NAMESPACE,
            LinkedFn::Abort => ABORT_MODULE,
        }
    }

    /// The import name inside [`LinkedFn::module`].
    pub const fn name(self) -> &'static str {
        match self {
            LinkedFn::Native(f) => f.name(),
            LinkedFn::Wasi(f) => f.name(),
            LinkedFn::Extism(f) => f.name(),
            LinkedFn::Abort => ABORT_NAME,
        }
    }

    /// The exact signature a module must import the function with.
    pub const fn signature(self) -> Signature {
        match self {
            LinkedFn::Native(f) => f.signature(),
            LinkedFn::Wasi(f) => f.signature(),
            LinkedFn::Extism(f) => f.signature(),
            LinkedFn::Abort => Signature {
                params: &[ValType::I32, ValType::I32, ValType::I32, ValType::I32],
                results: &[],
            },
        }
    }
}

impl fmt::Display for LinkedFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module(), self.name())
    }
}

/// A module that passed admission.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) report: ModuleReport,
    /// The bytes to compile when they differ from the input (start
    /// function rewritten into an export).
    pub(crate) rewritten: Option<Vec<u8>>,
}

/// The wasm features the host accepts. Threads (shared memories), 64-bit
/// memories, the component model and stack switching are refused.
fn features() -> WasmFeatures {
    let mut f = WasmFeatures::default();
    f.remove(WasmFeatures::THREADS);
    f.remove(WasmFeatures::SHARED_EVERYTHING_THREADS);
    f.remove(WasmFeatures::MEMORY64);
    f.remove(WasmFeatures::COMPONENT_MODEL);
    f.remove(WasmFeatures::STACK_SWITCHING);
    f
}

fn limit(limit: AdmissionLimit, value: u64, max: u64) -> Result<(), LoadError> {
    if value > max {
        return Err(LoadError::InvalidModule(InvalidModule::AdmissionLimit {
            limit,
            value,
            max,
        }));
    }
    Ok(())
}

fn malformed(e: wasmparser::BinaryReaderError) -> LoadError {
    LoadError::InvalidModule(InvalidModule::Malformed {
        offset: e.offset() as usize,
        message: one_line(e.message()),
    })
}

/// The decoder's message on one line (some span several).
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Validates `wasm`, measures it against `limits` and reports on it.
///
/// # Errors
/// [`LoadError::InvalidModule`] for a module that is malformed, invalid,
/// uses a refused feature, exports a reserved name or exceeds an admission
/// limit.
pub(crate) fn admit(wasm: &[u8], limits: &AdmissionLimits) -> Result<Admitted, LoadError> {
    use AdmissionLimit as L;
    limit(L::ModuleBytes, wasm.len() as u64, limits.module_bytes)?;

    let mut validator = Validator::new_with_features(features());
    let mut report = ModuleReport {
        size: wasm.len(),
        imports: Vec::new(),
        exports: Vec::new(),
        memories: Vec::new(),
        tables: Vec::new(),
        functions: 0,
        has_start: false,
    };
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut start: Option<(u32, Range<usize>)> = None;
    let mut export_section: Option<Range<usize>> = None;
    let mut imported_funcs = 0u64;

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        match &payload {
            Payload::Version { encoding, .. } if *encoding != wasmparser::Encoding::Module => {
                return Err(LoadError::InvalidModule(InvalidModule::Unsupported {
                    feature: "components".into(),
                }));
            }
            Payload::TypeSection(s) => {
                limit(L::Types, u64::from(s.count()), limits.types)?;
                for ty in s.clone().into_iter_err_on_gc_types() {
                    types.push(Some(FuncType::from_parser(&ty.map_err(malformed)?)));
                }
            }
            Payload::ImportSection(s) => {
                for import in s.clone().into_imports() {
                    let import = import.map_err(malformed)?;
                    let desc = match import.ty {
                        TypeRef::Func(i) | TypeRef::FuncExact(i) => {
                            imported_funcs += 1;
                            func_types.push(i);
                            ExternDesc::Func(types.get(i as usize).cloned().flatten().unwrap_or(
                                FuncType {
                                    params: vec![],
                                    results: vec![],
                                },
                            ))
                        }
                        TypeRef::Memory(m) => ExternDesc::Memory(memory_decl(&m)),
                        TypeRef::Table(t) => ExternDesc::Table(TableDecl {
                            min: t.initial,
                            max: t.maximum,
                        }),
                        TypeRef::Global(_) => ExternDesc::Global,
                        TypeRef::Tag(_) => ExternDesc::Tag,
                    };
                    report.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        desc,
                    });
                    limit(L::Imports, report.imports.len() as u64, limits.imports)?;
                }
            }
            Payload::FunctionSection(s) => {
                limit(
                    L::Functions,
                    imported_funcs + u64::from(s.count()),
                    limits.functions,
                )?;
                for t in s.clone() {
                    func_types.push(t.map_err(malformed)?);
                }
                report.functions = s.count();
            }
            Payload::TableSection(s) => {
                limit(L::Tables, u64::from(s.count()), limits.tables)?;
                for t in s.clone() {
                    let t = t.map_err(malformed)?;
                    limit(L::TableMinElements, t.ty.initial, limits.table_min_elements)?;
                    report.tables.push(TableDecl {
                        min: t.ty.initial,
                        max: t.ty.maximum,
                    });
                }
            }
            Payload::MemorySection(s) => {
                limit(L::Memories, u64::from(s.count()), limits.memories)?;
                for m in s.clone() {
                    let m = memory_decl(&m.map_err(malformed)?);
                    limit(L::MemoryMinPages, m.min_pages, limits.memory_min_pages)?;
                    report.memories.push(m);
                }
            }
            Payload::GlobalSection(s) => {
                limit(L::Globals, u64::from(s.count()), limits.globals)?;
            }
            Payload::ExportSection(s) => {
                limit(L::Exports, u64::from(s.count()), limits.exports)?;
                export_section = Some(to_usize(s.range()));
                for e in s.clone() {
                    let e = e.map_err(malformed)?;
                    if RESERVED_EXPORT_PREFIXES
                        .iter()
                        .any(|p| e.name.starts_with(p))
                    {
                        return Err(LoadError::InvalidModule(InvalidModule::ReservedExport {
                            name: e.name.to_string(),
                        }));
                    }
                    let desc = match e.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            ExternDesc::Func(func_type(&types, &func_types, e.index))
                        }
                        wasmparser::ExternalKind::Memory => {
                            ExternDesc::Memory(
                                report.memories.get(e.index as usize).copied().unwrap_or(
                                    MemoryDecl {
                                        min_pages: 0,
                                        max_pages: None,
                                        shared: false,
                                        memory64: false,
                                    },
                                ),
                            )
                        }
                        wasmparser::ExternalKind::Table => ExternDesc::Table(
                            report
                                .tables
                                .get(e.index as usize)
                                .copied()
                                .unwrap_or(TableDecl { min: 0, max: None }),
                        ),
                        wasmparser::ExternalKind::Global => ExternDesc::Global,
                        wasmparser::ExternalKind::Tag => ExternDesc::Tag,
                    };
                    report.exports.push(Export {
                        name: e.name.to_string(),
                        desc,
                    });
                }
            }
            Payload::StartSection { func, range } => {
                start = Some((*func, to_usize(range.clone())));
                report.has_start = true;
            }
            Payload::ElementSection(s) => {
                limit(
                    L::ElementSegments,
                    u64::from(s.count()),
                    limits.element_segments,
                )?;
            }
            Payload::DataSection(s) => {
                limit(L::DataSegments, u64::from(s.count()), limits.data_segments)?;
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().end - body.range().start;
                limit(L::FunctionBodyBytes, size, limits.function_body_bytes)?;
                let mut locals = 0u64;
                for l in body.get_locals_reader().map_err(malformed)? {
                    let (count, _) = l.map_err(malformed)?;
                    locals += u64::from(count);
                }
                limit(L::LocalsPerFunction, locals, limits.locals_per_function)?;
            }
            _ => {}
        }
        let invalid = |e: wasmparser::BinaryReaderError| {
            LoadError::InvalidModule(InvalidModule::Validation {
                offset: e.offset() as usize,
                message: one_line(e.message()),
            })
        };
        if let wasmparser::ValidPayload::Func(func, body) =
            validator.payload(&payload).map_err(invalid)?
        {
            func.into_validator(Default::default())
                .validate(&body)
                .map_err(invalid)?;
        }
    }

    if let Some(e) = report.exports.iter().find(|e| e.name == INITIALIZE_EXPORT) {
        let ok =
            matches!(&e.desc, ExternDesc::Func(t) if t.params.is_empty() && t.results.is_empty());
        if !ok {
            return Err(LoadError::InvalidModule(InvalidModule::ExportType {
                name: INITIALIZE_EXPORT.to_owned(),
                expected: "a function () -> ()".to_owned(),
                found: match &e.desc {
                    ExternDesc::Func(t) => format!("a function {t}"),
                    other => format!("a {}", other.kind()),
                },
            }));
        }
    }

    let rewritten =
        start.map(|(func, start_range)| rewrite_start(wasm, func, start_range, export_section));
    Ok(Admitted { report, rewritten })
}

fn to_usize(r: Range<u64>) -> Range<usize> {
    r.start as usize..r.end as usize
}

fn memory_decl(m: &wasmparser::MemoryType) -> MemoryDecl {
    MemoryDecl {
        min_pages: m.initial,
        max_pages: m.maximum,
        shared: m.shared,
        memory64: m.memory64,
    }
}

fn func_type(types: &[Option<FuncType>], func_types: &[u32], index: u32) -> FuncType {
    func_types
        .get(index as usize)
        .and_then(|t| types.get(*t as usize))
        .cloned()
        .flatten()
        .unwrap_or(FuncType {
            params: vec![],
            results: vec![],
        })
}

/// Re-encodes `wasm` with its start section removed and the start function
/// exported as [`START_EXPORT`]. Only called on a module that validated.
fn rewrite_start(
    wasm: &[u8],
    start_func: u32,
    start_range: Range<usize>,
    export_section: Option<Range<usize>>,
) -> Vec<u8> {
    use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};

    let mut exports = ExportSection::new();
    if let Some(range) = &export_section {
        let reader = wasmparser::ExportSectionReader::new(wasmparser::BinaryReader::new(
            &wasm[range.clone()],
            range.start as u64,
        ))
        .expect("export section validated during admission");
        for e in reader {
            let e = e.expect("export section validated during admission");
            let kind = match e.kind {
                wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                    ExportKind::Func
                }
                wasmparser::ExternalKind::Table => ExportKind::Table,
                wasmparser::ExternalKind::Memory => ExportKind::Memory,
                wasmparser::ExternalKind::Global => ExportKind::Global,
                wasmparser::ExternalKind::Tag => ExportKind::Tag,
            };
            exports.export(e.name, kind, e.index);
        }
    }
    exports.export(START_EXPORT, ExportKind::Func, start_func);

    let mut out = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.expect("module validated during admission");
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let range = to_usize(range);
        if Some(&range) == export_section.as_ref() {
            out.section(&exports);
        } else if range == start_range {
            // The export section precedes the start section in a module's
            // section order, so a module without one gets it here.
            if export_section.is_none() {
                out.section(&exports);
            }
        } else {
            out.section(&RawSection {
                id,
                data: &wasm[range],
            });
        }
    }
    out.finish()
}
