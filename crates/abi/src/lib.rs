//! The BitVault Plugins capability ABI: the contract between a host and a
//! plugin, with no engine attached.
//!
//! This crate names every host function a plugin may import (namespace
//! [`NAMESPACE`], version [`ABI_VERSION`]), their exact signatures, the
//! negative error codes they return, the per-invocation [`Limits`] and the
//! [`Grants`] that decide which functions a module is linked against. The
//! host runtime, the guest SDK and the registry all depend on it; it depends
//! on no WebAssembly engine.
//!
//! ```
//! use bitvault_abi::{Grants, HostFn, NAMESPACE};
//!
//! // Deny by default: an empty grant set links nothing at all.
//! let none = Grants::none();
//! assert!(!none.permits(HostFn::WriteOutput));
//!
//! // The core grant set is what `bitvault-plugin run` gives a module.
//! let core = Grants::core();
//! let f = HostFn::lookup(NAMESPACE, "read_input").unwrap();
//! assert!(core.permits(f));
//! assert_eq!(f.signature().to_string(), "(i32, i32, i32) -> i32");
//! ```
//!
//! # Concepts
//! - [`HostFn`]: one importable host function, its [`Signature`] and the
//!   [`CapabilityKind`] that grants it.
//! - [`ErrorCode`]: what a host function returns to the guest when it refuses
//!   a request. Failures that end the call (limits, traps) are not error
//!   codes; the host surfaces those as typed outcomes.
//! - [`Grants`]: the capabilities given to one plugin installation, with
//!   their scopes. Nothing is granted unless it is named.
//! - [`Limits`] and [`LimitPolicy`]: per-invocation budgets, and the host's
//!   defaults and maxima that bound what a plugin may ask for.
#![forbid(unsafe_code)]

mod capability;
#[cfg(feature = "grants")]
mod grants;
mod limits;
pub mod wire;

pub use capability::CapabilityKind;
#[cfg(feature = "grants")]
pub use grants::{EventsGrant, GrantFileError, Grants, HttpGrant, HttpOrigin, LogGrant};
pub use limits::{LimitName, LimitPolicy, Limits};

use std::fmt;

/// The import module name of every native host function.
pub const NAMESPACE: &str = "bitvault_v1";

/// The ABI version that [`NAMESPACE`] carries. A breaking change to any
/// function in the namespace creates a new namespace (`bitvault_v2`); adding a
/// function does not.
pub const ABI_VERSION: u32 = 1;

/// The name of the linear memory a module must export for any host function
/// that takes a `(ptr, len)` pair to work.
pub const MEMORY_EXPORT: &str = "memory";

/// The export called once on every fresh instance before the invoked export,
/// when a module has it (a WASI reactor's initialiser).
pub const INITIALIZE_EXPORT: &str = "_initialize";

/// The most bytes one `random_fill` call may ask for.
pub const RANDOM_FILL_MAX: u32 = 64 * 1024;

/// The clocks `clock_now` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ClockId {
    /// Wall-clock time: milliseconds since the Unix epoch (0).
    Wall = 0,
    /// Monotonic time: milliseconds since the invocation started (1).
    Monotonic = 1,
}

impl ClockId {
    /// The clock for a guest-supplied value, if it is one.
    pub fn from_i32(id: i32) -> Option<ClockId> {
        match id {
            0 => Some(ClockId::Wall),
            1 => Some(ClockId::Monotonic),
            _ => None,
        }
    }
}

/// A WebAssembly value type used in host function signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
        })
    }
}

/// The parameter and result types of a host function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result types, in order.
    pub results: &'static [ValType],
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, tys: &[ValType]) -> fmt::Result {
            f.write_str("(")?;
            for (i, t) in tys.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str(")")
        }
        list(f, self.params)?;
        f.write_str(" -> ")?;
        match self.results {
            [single] => write!(f, "{single}"),
            many => list(f, many),
        }
    }
}

use ValType::I32;

/// Every host function of [`NAMESPACE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostFn {
    /// `input_len() -> i32`: the length in bytes of the invocation's request.
    InputLen,
    /// `read_input(offset: i32, ptr: i32, len: i32) -> i32`: copy up to `len`
    /// request bytes starting at `offset` to guest memory at `ptr`; returns
    /// the number of bytes copied (0 at the end) or an [`ErrorCode`].
    ReadInput,
    /// `write_output(ptr: i32, len: i32) -> i32`: append `len` bytes at `ptr`
    /// to the response; 0 or an [`ErrorCode`]. Past the output limit the call
    /// ends with the `output_limit` outcome.
    WriteOutput,
    /// `set_error(ptr: i32, len: i32) -> i32`: a UTF-8 message that
    /// accompanies a non-zero return code; 0 or an [`ErrorCode`].
    SetError,
    /// `log(level: i32, ptr: i32, len: i32) -> i32`: a UTF-8 log message at
    /// a [`LogLevel`]; 0 or an [`ErrorCode`].
    Log,
    /// `result_read(offset: i32, ptr: i32, len: i32) -> i32`: copy up to
    /// `len` bytes of the staged result (set by the last call that returned
    /// a variable-size value, such as `config_get`) starting at `offset`;
    /// returns bytes copied (0 at the end) or an [`ErrorCode`].
    ResultRead,
    /// `config_get(key_ptr: i32, key_len: i32) -> i32`: look up the
    /// install-time configuration value of a UTF-8 key; returns its length
    /// and stages it for `result_read`, or an [`ErrorCode`]
    /// ([`ErrorCode::NotFound`] for an unknown key).
    ConfigGet,
    /// `clock_now(clock: i32) -> i64`: the time in milliseconds on a
    /// [`ClockId`], or an [`ErrorCode`] ([`ErrorCode::NotPermitted`] when
    /// the clock is withheld).
    ClockNow,
    /// `random_fill(ptr: i32, len: i32) -> i32`: fill `len` bytes (at most
    /// [`RANDOM_FILL_MAX`]) with bytes from the host's CSPRNG; 0 or an
    /// [`ErrorCode`] ([`ErrorCode::NotPermitted`] when randomness is
    /// withheld).
    RandomFill,
    /// `kv_get(key_ptr: i32, key_len: i32) -> i32`: look up a key in the
    /// plugin's KV namespace; returns the value's length and stages it for
    /// `result_read`, or an [`ErrorCode`] ([`ErrorCode::NotFound`]).
    KvGet,
    /// `kv_put(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32)
    /// -> i32`: store a value durably; 0 or an [`ErrorCode`]
    /// ([`ErrorCode::QuotaExceeded`], [`ErrorCode::Unavailable`]).
    KvPut,
    /// `kv_delete(key_ptr: i32, key_len: i32) -> i32`: 1 if the key
    /// existed, 0 if not, or an [`ErrorCode`].
    KvDelete,
    /// `kv_list(prefix_ptr: i32, prefix_len: i32, cursor_ptr: i32,
    /// cursor_len: i32, limit: i32) -> i32`: one page of keys under a
    /// prefix, staged for `result_read` in the documented page encoding;
    /// returns the page's length or an [`ErrorCode`]. A `cursor_len` of -1
    /// starts at the beginning.
    KvList,
    /// `emit_event(topic_ptr: i32, topic_len: i32, payload_ptr: i32,
    /// payload_len: i32) -> i32`: publish an event on a UTF-8 topic the
    /// grant allows; 0 or an [`ErrorCode`] ([`ErrorCode::NotPermitted`]
    /// for a topic outside the grant, [`ErrorCode::DepthExceeded`] when the
    /// causal chain is too deep).
    EmitEvent,
    /// `http_request(head_ptr: i32, head_len: i32, body_ptr: i32,
    /// body_len: i32) -> i32`: send an HTTP request whose head (method,
    /// URL, headers) is in the [`wire`] request encoding, to an origin the
    /// grant allows; returns the length of the response, staged for
    /// `result_read` in the [`wire`] response encoding, or an [`ErrorCode`]
    /// ([`ErrorCode::NotPermitted`] for a refused URL, method, address or
    /// redirect, [`ErrorCode::TimedOut`], [`ErrorCode::ConnectionFailed`],
    /// [`ErrorCode::TooLarge`], [`ErrorCode::QuotaExceeded`] past the
    /// grant's request count).
    HttpRequest,
}

impl HostFn {
    /// Every host function, in a fixed order.
    pub const ALL: &'static [HostFn] = &[
        HostFn::InputLen,
        HostFn::ReadInput,
        HostFn::WriteOutput,
        HostFn::SetError,
        HostFn::Log,
        HostFn::ResultRead,
        HostFn::ConfigGet,
        HostFn::ClockNow,
        HostFn::RandomFill,
        HostFn::KvGet,
        HostFn::KvPut,
        HostFn::KvDelete,
        HostFn::KvList,
        HostFn::EmitEvent,
        HostFn::HttpRequest,
    ];

    /// The import name inside [`NAMESPACE`].
    pub const fn name(self) -> &'static str {
        match self {
            HostFn::InputLen => "input_len",
            HostFn::ReadInput => "read_input",
            HostFn::WriteOutput => "write_output",
            HostFn::SetError => "set_error",
            HostFn::Log => "log",
            HostFn::ResultRead => "result_read",
            HostFn::ConfigGet => "config_get",
            HostFn::ClockNow => "clock_now",
            HostFn::RandomFill => "random_fill",
            HostFn::KvGet => "kv_get",
            HostFn::KvPut => "kv_put",
            HostFn::KvDelete => "kv_delete",
            HostFn::KvList => "kv_list",
            HostFn::EmitEvent => "emit_event",
            HostFn::HttpRequest => "http_request",
        }
    }

    /// The exact signature a module must import the function with.
    pub const fn signature(self) -> Signature {
        match self {
            HostFn::InputLen => Signature {
                params: &[],
                results: &[I32],
            },
            HostFn::ReadInput | HostFn::Log | HostFn::ResultRead => Signature {
                params: &[I32, I32, I32],
                results: &[I32],
            },
            HostFn::WriteOutput
            | HostFn::SetError
            | HostFn::ConfigGet
            | HostFn::RandomFill
            | HostFn::KvGet
            | HostFn::KvDelete => Signature {
                params: &[I32, I32],
                results: &[I32],
            },
            HostFn::ClockNow => Signature {
                params: &[I32],
                results: &[ValType::I64],
            },
            HostFn::KvPut | HostFn::EmitEvent | HostFn::HttpRequest => Signature {
                params: &[I32, I32, I32, I32],
                results: &[I32],
            },
            HostFn::KvList => Signature {
                params: &[I32, I32, I32, I32, I32],
                results: &[I32],
            },
        }
    }

    /// The capability whose grant links this function.
    pub const fn capability(self) -> CapabilityKind {
        match self {
            HostFn::InputLen
            | HostFn::ReadInput
            | HostFn::WriteOutput
            | HostFn::SetError
            | HostFn::ResultRead => CapabilityKind::Io,
            HostFn::Log => CapabilityKind::Log,
            HostFn::ConfigGet => CapabilityKind::Config,
            HostFn::ClockNow => CapabilityKind::Clock,
            HostFn::RandomFill => CapabilityKind::Random,
            HostFn::KvGet | HostFn::KvPut | HostFn::KvDelete | HostFn::KvList => CapabilityKind::Kv,
            HostFn::EmitEvent => CapabilityKind::Events,
            HostFn::HttpRequest => CapabilityKind::Http,
        }
    }

    /// Finds the host function imported as `module`.`name`, if the ABI has
    /// one.
    pub fn lookup(module: &str, name: &str) -> Option<HostFn> {
        if module != NAMESPACE {
            return None;
        }
        HostFn::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl fmt::Display for HostFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAMESPACE}.{}", self.name())
    }
}

/// The negative codes a host function returns to the guest when it refuses a
/// request. A refusal never ends the call: the guest decides what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// A `(ptr, len)` pair does not lie inside the guest's linear memory
    /// (including pairs whose end wraps past 2^32).
    OutOfBounds = -1,
    /// The module exports no linear memory named [`MEMORY_EXPORT`].
    NoMemory = -2,
    /// An argument is outside its documented range (an offset past the end
    /// of the input, an unknown log level).
    InvalidArgument = -3,
    /// A single argument exceeds its size bound (a `set_error` message
    /// longer than the `error_message_bytes` limit).
    TooLarge = -4,
    /// The bytes are not valid UTF-8 where text is required.
    InvalidUtf8 = -5,
    /// The key does not exist (`config_get`), or there is no staged result
    /// (`result_read`).
    NotFound = -6,
    /// The function is linked but its capability is withheld (`clock_now`,
    /// `random_fill`).
    NotPermitted = -7,
    /// A quota would be exceeded: a write past a quota of the plugin's KV
    /// namespace (nothing was changed), or a request past the HTTP grant's
    /// per-invocation count (nothing was sent).
    QuotaExceeded = -8,
    /// The host cannot serve the request now (no KV store bound to the
    /// invocation, or the store failed); the host records the cause.
    Unavailable = -9,
    /// Emitting would make the causal chain of events (event → handler →
    /// event …) deeper than the host allows; nothing was published.
    DepthExceeded = -10,
    /// The operation did not finish in time: an HTTP request hit its
    /// timeout or the invocation's deadline. The host records the phase.
    TimedOut = -11,
    /// The peer could not be reached or spoke badly: an HTTP connection
    /// refused or reset, a TLS failure, a malformed response or redirect,
    /// too many redirects. The host records the cause.
    ConnectionFailed = -12,
}

impl ErrorCode {
    /// Every error code, in numeric order from -1 downwards.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::OutOfBounds,
        ErrorCode::NoMemory,
        ErrorCode::InvalidArgument,
        ErrorCode::TooLarge,
        ErrorCode::InvalidUtf8,
        ErrorCode::NotFound,
        ErrorCode::NotPermitted,
        ErrorCode::QuotaExceeded,
        ErrorCode::Unavailable,
        ErrorCode::DepthExceeded,
        ErrorCode::TimedOut,
        ErrorCode::ConnectionFailed,
    ];

    /// The value returned to the guest.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The stable name of the code (as in `docs/abi.md` and `bitvault.h`).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::OutOfBounds => "out_of_bounds",
            ErrorCode::NoMemory => "no_memory",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DepthExceeded => "depth_exceeded",
            ErrorCode::TimedOut => "timed_out",
            ErrorCode::ConnectionFailed => "connection_failed",
        }
    }

    /// The code with this value, if there is one.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The level of a `log` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "grants", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "grants", serde(rename_all = "lowercase"))]
#[repr(i32)]
pub enum LogLevel {
    /// Very detailed diagnostics (0).
    Trace = 0,
    /// Diagnostics (1).
    Debug = 1,
    /// Normal operation (2).
    Info = 2,
    /// Something unexpected that the plugin handled (3).
    Warn = 3,
    /// A failure (4).
    Error = 4,
}

impl LogLevel {
    /// The level for a guest-supplied value, if it is one.
    pub fn from_i32(level: i32) -> Option<LogLevel> {
        Some(match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => return None,
        })
    }

    /// The lower-case name of the level.
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for f in HostFn::ALL {
            assert_eq!(HostFn::lookup(NAMESPACE, f.name()), Some(*f));
            assert_eq!(HostFn::lookup("env", f.name()), None);
        }
        let mut names: Vec<_> = HostFn::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HostFn::ALL.len());
    }

    #[test]
    fn error_codes_are_negative_distinct_and_round_trip() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(c.code(), -(i as i32) - 1);
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
        }
        assert_eq!(ErrorCode::from_code(0), None);
    }

    #[test]
    fn signatures_render_like_the_spec() {
        assert_eq!(HostFn::InputLen.signature().to_string(), "() -> i32");
        assert_eq!(
            HostFn::WriteOutput.signature().to_string(),
            "(i32, i32) -> i32"
        );
        assert_eq!(
            HostFn::Log.signature().to_string(),
            "(i32, i32, i32) -> i32"
        );
        assert_eq!(HostFn::ClockNow.signature().to_string(), "(i32) -> i64");
    }

    #[test]
    fn log_levels_map_from_guest_values() {
        assert_eq!(LogLevel::from_i32(0), Some(LogLevel::Trace));
        assert_eq!(LogLevel::from_i32(4), Some(LogLevel::Error));
        assert_eq!(LogLevel::from_i32(5), None);
        assert_eq!(LogLevel::from_i32(-1), None);
    }
}
