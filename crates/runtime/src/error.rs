//! Typed failures: refusals at load time ([`LoadError`]) and the ways an
//! invocation can end other than successfully ([`InvokeError`]).
//!
//! What the guest sees (an ABI error code returned as a value) is kept apart
//! from what ends the call: an [`InvokeError`] always ends the call, and
//! both carry an [`ErrorKind`], the stable name used by the CLI's `--json`
//! outcome.

use std::fmt;

use bitvault_abi::{CapabilityKind, LimitName};
use thiserror::Error;

use crate::config::AdmissionLimit;
use crate::tunables::Resource;

/// The stable name of every way a load or an invocation can fail. These
/// strings are a contract: they appear as `error.kind` in the CLI's `--json`
/// outcome and decide its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The fuel (metering) budget ran out.
    FuelExhausted,
    /// A memory or table ceiling refused an allocation.
    MemoryLimit,
    /// Another per-invocation limit was exceeded.
    LimitExceeded,
    /// The wall-clock deadline passed.
    Deadline,
    /// The guest trapped.
    Trap,
    /// The guest exhausted its call stack.
    StackExhausted,
    /// The guest wrote more output than allowed.
    OutputLimit,
    /// The module imports something it was not granted.
    CapabilityDenied,
    /// The module is malformed, invalid or over an admission limit.
    InvalidModule,
    /// The requested export is missing or has the wrong type.
    MissingExport,
    /// The plugin returned a non-zero code.
    PluginError,
    /// A host function panicked.
    HostPanic,
}

impl ErrorKind {
    /// Every kind, in exit-code order.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::FuelExhausted,
        ErrorKind::MemoryLimit,
        ErrorKind::LimitExceeded,
        ErrorKind::Deadline,
        ErrorKind::Trap,
        ErrorKind::StackExhausted,
        ErrorKind::OutputLimit,
        ErrorKind::CapabilityDenied,
        ErrorKind::InvalidModule,
        ErrorKind::MissingExport,
        ErrorKind::PluginError,
        ErrorKind::HostPanic,
    ];

    /// The stable snake-case name.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::FuelExhausted => "fuel_exhausted",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Trap => "trap",
            ErrorKind::StackExhausted => "stack_exhausted",
            ErrorKind::OutputLimit => "output_limit",
            ErrorKind::CapabilityDenied => "capability_denied",
            ErrorKind::InvalidModule => "invalid_module",
            ErrorKind::MissingExport => "missing_export",
            ErrorKind::PluginError => "plugin_error",
            ErrorKind::HostPanic => "host_panic",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an import was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// No host function of that name exists in any namespace the host
    /// offers.
    Unknown,
    /// The host function exists but its capability was not granted.
    NotGranted {
        /// The capability that would link it.
        capability: CapabilityKind,
    },
    /// The host function exists but the module imports it with another
    /// signature.
    WrongSignature {
        /// The ABI's signature.
        expected: String,
        /// The module's.
        found: String,
    },
    /// The host offers only functions; the module imports a memory, table,
    /// global or tag.
    NotAFunction {
        /// What the module imports.
        kind: &'static str,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::Unknown => f.write_str("no such host function"),
            DenyReason::NotGranted { capability } => {
                write!(f, "capability `{capability}` not granted")
            }
            DenyReason::WrongSignature { expected, found } => {
                write!(f, "imported as {found}, the ABI defines {expected}")
            }
            DenyReason::NotAFunction { kind } => {
                write!(f, "imports a {kind}; the host offers only functions")
            }
        }
    }
}

/// One refused import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedImport {
    /// The import module.
    pub module: String,
    /// The field name.
    pub name: String,
    /// Why it was refused.
    pub reason: DenyReason,
}

impl fmt::Display for DeniedImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} ({})", self.module, self.name, self.reason)
    }
}

/// Why a module is not a valid plugin module.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidModule {
    /// The bytes are not a WebAssembly binary module.
    #[error("malformed module at byte {offset}: {message}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// The decoder's message.
        message: String,
    },
    /// The module decodes but does not validate.
    #[error("invalid module at byte {offset}: {message}")]
    Validation {
        /// Byte offset of the problem.
        offset: usize,
        /// The validator's message.
        message: String,
    },
    /// The module exceeds a host admission limit.
    #[error("{limit} is {value}, over the admission limit of {max}")]
    AdmissionLimit {
        /// Which admission limit.
        limit: AdmissionLimit,
        /// The module's value.
        value: u64,
        /// The host's maximum.
        max: u64,
    },
    /// The module uses a feature the host does not run.
    #[error("unsupported feature: {feature}")]
    Unsupported {
        /// The feature.
        feature: String,
    },
    /// The module exports a name reserved for the host.
    #[error("export `{name}` uses a name reserved for the host")]
    ReservedExport {
        /// The export name.
        name: String,
    },
    /// An export the host calls by name has the wrong type.
    #[error("export `{name}` must be {expected}, found {found}")]
    ExportType {
        /// The export name.
        name: String,
        /// The type the host calls it with.
        expected: String,
        /// What the module exports under that name.
        found: String,
    },
    /// The compiler refused the module.
    #[error("compilation failed: {message}")]
    Compile {
        /// The compiler's message.
        message: String,
    },
}

/// A module refused before it could run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The module imports what it was not granted.
    #[error("capability denied for {}", list(imports))]
    CapabilityDenied {
        /// Every refused import.
        imports: Vec<DeniedImport>,
    },
    /// The module is not a valid plugin module.
    #[error("invalid module: {0}")]
    InvalidModule(#[source] InvalidModule),
    /// The grant cannot be applied: an entry of a capability's scope does
    /// not parse (an HTTP origin, method or private range). Its kind is
    /// `capability_denied`: nothing can be granted from it.
    #[error("invalid {capability} grant: {reason}")]
    InvalidGrant {
        /// The capability whose scope is wrong.
        capability: bitvault_abi::CapabilityKind,
        /// What is wrong, naming the entry.
        reason: String,
    },
}

fn list(imports: &[DeniedImport]) -> String {
    imports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl LoadError {
    /// The stable kind name.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::CapabilityDenied { .. } | LoadError::InvalidGrant { .. } => {
                ErrorKind::CapabilityDenied
            }
            LoadError::InvalidModule(_) => ErrorKind::InvalidModule,
        }
    }
}

/// One frame of a wasm backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The module's name (from its name section), if any.
    pub module: String,
    /// The function index.
    pub func_index: u32,
    /// The function's name (from the name section), if any.
    pub func_name: Option<String>,
    /// Byte offset of the trapping instruction in the module.
    pub module_offset: usize,
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func_name {
            Some(n) => write!(f, "{}!{n} @ {:#x}", self.module, self.module_offset),
            None => write!(
                f,
                "{}!<func {}> @ {:#x}",
                self.module, self.func_index, self.module_offset
            ),
        }
    }
}

/// A trap raised by guest code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapInfo {
    /// The trap code (`unreachable`, `heap_access_out_of_bounds`, …), when
    /// the engine reports one.
    pub code: Option<String>,
    /// The engine's message.
    pub message: String,
    /// The wasm backtrace, innermost frame first.
    pub frames: Vec<Frame>,
}

impl fmt::Display for TrapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(top) = self.frames.first() {
            write!(f, " in {top}")?;
        }
        Ok(())
    }
}

/// How an invocation ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvokeError {
    /// The fuel budget ran out.
    #[error("fuel exhausted after {limit} units")]
    FuelExhausted {
        /// The budget.
        limit: u64,
    },
    /// A memory or table ceiling refused an allocation. When the refusal
    /// was followed by a trap, the trap is the cause.
    #[error(
        "{} limit: {requested} requested, {allowed} allowed",
        resource.name()
    )]
    MemoryLimit {
        /// Which ceiling.
        resource: Resource,
        /// Requested size (bytes for memory, elements for tables).
        requested: u64,
        /// The ceiling.
        allowed: u64,
        /// The trap that followed the refusal, if the guest trapped.
        trap: Option<TrapInfo>,
    },
    /// A per-invocation limit other than fuel, memory, deadline or output.
    #[error("limit `{limit}` of {value} exceeded")]
    LimitExceeded {
        /// Which limit.
        limit: LimitName,
        /// The limit's value.
        value: u64,
    },
    /// The wall-clock deadline passed.
    #[error("deadline of {deadline_ms} ms exceeded")]
    Deadline {
        /// The deadline.
        deadline_ms: u64,
    },
    /// Guest code trapped.
    #[error("trap: {0}")]
    Trap(TrapInfo),
    /// The guest's call stack overflowed.
    #[error("call stack exhausted")]
    StackExhausted,
    /// The guest wrote more output than allowed.
    #[error("output limit of {limit} bytes exceeded (attempted {attempted})")]
    OutputLimit {
        /// The limit.
        limit: u64,
        /// Bytes the output would have reached.
        attempted: u64,
    },
    /// The module was refused at load time.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The export does not exist, or is not a `() -> i32` function (nor a
    /// WASI command's `_start` of type `() -> ()`).
    #[error("{}", missing_export(export, found))]
    MissingExport {
        /// The export asked for.
        export: String,
        /// The type found instead, if the name exists.
        found: Option<String>,
    },
    /// The plugin returned a non-zero code.
    #[error("plugin error {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    PluginError {
        /// The code the export returned.
        code: i32,
        /// The message it set with `set_error`, if any.
        message: Option<String>,
    },
    /// A host function panicked; the panic was contained.
    #[error("host function panicked: {message}")]
    HostPanic {
        /// The panic message.
        message: String,
    },
}

fn missing_export(export: &str, found: &Option<String>) -> String {
    match found {
        None => format!("missing export `{export}`"),
        Some(t) if export == crate::wasi::COMMAND_EXPORT => {
            format!("export `{export}` is {t}, expected a function () -> () or () -> i32")
        }
        Some(t) => format!("export `{export}` is {t}, expected a function () -> i32"),
    }
}

impl InvokeError {
    /// The stable kind name.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvokeError::FuelExhausted { .. } => ErrorKind::FuelExhausted,
            InvokeError::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            InvokeError::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            InvokeError::Deadline { .. } => ErrorKind::Deadline,
            InvokeError::Trap(_) => ErrorKind::Trap,
            InvokeError::StackExhausted => ErrorKind::StackExhausted,
            InvokeError::OutputLimit { .. } => ErrorKind::OutputLimit,
            InvokeError::Load(e) => e.kind(),
            InvokeError::MissingExport { .. } => ErrorKind::MissingExport,
            InvokeError::PluginError { .. } => ErrorKind::PluginError,
            InvokeError::HostPanic { .. } => ErrorKind::HostPanic,
        }
    }
}

/// A failure to set up a [`Runtime`](crate::Runtime).
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The watchdog thread could not be started.
    #[error("cannot start the deadline watchdog thread")]
    Watchdog(#[source] std::io::Error),
    /// The on-disk cache directory or key could not be prepared.
    #[error("cannot prepare the module cache at {path}")]
    Cache {
        /// The path involved.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
