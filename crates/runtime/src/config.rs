//! Host configuration: compiler, admission limits, limit policy, cache.

use std::fmt;
use std::path::PathBuf;

use bitvault_abi::LimitPolicy;

use crate::cache::CacheKey;

/// The compiler backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compiler {
    /// Cranelift: optimising, the production default.
    Cranelift,
    /// Singlepass: linear-time compilation, slower code; for when compile
    /// latency matters more than run time.
    Singlepass,
}

impl Compiler {
    /// The lower-case name (`cranelift`, `singlepass`).
    pub const fn name(self) -> &'static str {
        match self {
            Compiler::Cranelift => "cranelift",
            Compiler::Singlepass => "singlepass",
        }
    }
}

/// One admission limit, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdmissionLimit {
    /// Size of the module in bytes.
    ModuleBytes,
    /// Number of functions, imported and defined.
    Functions,
    /// Size of one function body in bytes.
    FunctionBodyBytes,
    /// Locals declared by one function.
    LocalsPerFunction,
    /// Number of imports.
    Imports,
    /// Number of exports.
    Exports,
    /// Number of type definitions.
    Types,
    /// Number of globals.
    Globals,
    /// Number of memories.
    Memories,
    /// Number of tables.
    Tables,
    /// Declared initial size of a memory, in pages.
    MemoryMinPages,
    /// Declared initial size of a table, in elements.
    TableMinElements,
    /// Number of data segments.
    DataSegments,
    /// Number of element segments.
    ElementSegments,
}

impl AdmissionLimit {
    /// The stable snake-case name.
    pub const fn name(self) -> &'static str {
        match self {
            AdmissionLimit::ModuleBytes => "module_bytes",
            AdmissionLimit::Functions => "functions",
            AdmissionLimit::FunctionBodyBytes => "function_body_bytes",
            AdmissionLimit::LocalsPerFunction => "locals_per_function",
            AdmissionLimit::Imports => "imports",
            AdmissionLimit::Exports => "exports",
            AdmissionLimit::Types => "types",
            AdmissionLimit::Globals => "globals",
            AdmissionLimit::Memories => "memories",
            AdmissionLimit::Tables => "tables",
            AdmissionLimit::MemoryMinPages => "memory_min_pages",
            AdmissionLimit::TableMinElements => "table_min_elements",
            AdmissionLimit::DataSegments => "data_segments",
            AdmissionLimit::ElementSegments => "element_segments",
        }
    }
}

impl fmt::Display for AdmissionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bounds a module must respect before it is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Module size in bytes.
    pub module_bytes: u64,
    /// Functions, imported and defined.
    pub functions: u64,
    /// Bytes of one function body.
    pub function_body_bytes: u64,
    /// Locals of one function.
    pub locals_per_function: u64,
    /// Imports.
    pub imports: u64,
    /// Exports.
    pub exports: u64,
    /// Type definitions.
    pub types: u64,
    /// Globals.
    pub globals: u64,
    /// Memories.
    pub memories: u64,
    /// Tables.
    pub tables: u64,
    /// Declared initial memory size, in 64 KiB pages.
    pub memory_min_pages: u64,
    /// Declared initial table size, in elements.
    pub table_min_elements: u64,
    /// Data segments.
    pub data_segments: u64,
    /// Element segments.
    pub element_segments: u64,
}

impl AdmissionLimits {
    /// The built-in admission limits.
    ///
    /// | limit | value |
    /// |---|---|
    /// | module_bytes | 32 MiB |
    /// | functions | 100 000 |
    /// | function_body_bytes | 2 MiB |
    /// | locals_per_function | 50 000 |
    /// | imports | 1 000 |
    /// | exports | 10 000 |
    /// | types | 100 000 |
    /// | globals | 10 000 |
    /// | memories | 1 |
    /// | tables | 100 |
    /// | memory_min_pages | 16 384 (1 GiB) |
    /// | table_min_elements | 100 000 |
    /// | data_segments | 100 000 |
    /// | element_segments | 100 000 |
    pub const fn standard() -> AdmissionLimits {
        AdmissionLimits {
            module_bytes: 32 << 20,
            functions: 100_000,
            function_body_bytes: 2 << 20,
            locals_per_function: 50_000,
            imports: 1_000,
            exports: 10_000,
            types: 100_000,
            globals: 10_000,
            memories: 1,
            tables: 100,
            memory_min_pages: 16_384,
            table_min_elements: 100_000,
            data_segments: 100_000,
            element_segments: 100_000,
        }
    }
}

/// Where compiled modules are kept on disk, and the key that authenticates
/// them.
#[derive(Clone)]
pub struct DiskCache {
    /// The cache directory (created if missing).
    pub dir: PathBuf,
    /// The MAC key. An artifact is loaded only if it carries a valid MAC
    /// under this key.
    pub key: CacheKey,
}

impl fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("key", &"<secret>")
            .finish()
    }
}

/// Everything a [`Runtime`](crate::Runtime) is built from.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The compiler backend.
    pub compiler: Compiler,
    /// Bounds checked before compilation.
    pub admission: AdmissionLimits,
    /// Per-invocation defaults and maxima.
    pub limits: LimitPolicy,
    /// Compiled modules kept in memory, at most (least recently used out).
    pub memory_cache_entries: usize,
    /// The on-disk artifact cache, if any.
    pub disk_cache: Option<DiskCache>,
    /// The functions of `extism:host/user` this host offers; a plugin
    /// imports one only when its grant names it.
    pub user_functions: crate::extism::UserFunctions,
}

impl RuntimeConfig {
    /// A configuration with:
    /// - the Cranelift compiler,
    /// - [`AdmissionLimits::standard`],
    /// - [`LimitPolicy::standard`],
    /// - up to 256 compiled modules cached in memory,
    /// - no on-disk cache,
    /// - no `extism:host/user` functions.
    ///
    /// It grants nothing: capabilities are given per module with
    /// [`Grants`](bitvault_abi::Grants).
    pub fn new() -> RuntimeConfig {
        RuntimeConfig {
            compiler: Compiler::Cranelift,
            admission: AdmissionLimits::standard(),
            limits: LimitPolicy::standard(),
            memory_cache_entries: 256,
            disk_cache: None,
            user_functions: crate::extism::UserFunctions::new(),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::new()
    }
}
