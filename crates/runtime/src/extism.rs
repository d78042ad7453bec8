//! Extism compatibility: the `extism:host/env` kernel, provided natively.
//!
//! Plugins built with the official Extism PDKs (Rust, Go, C, JS, …) import
//! their host interface from the module [`NAMESPACE`]: the kernel's memory
//! functions (`alloc`, `load_u64`, `store_u64`, …), input and output,
//! errors, and the host functions `config_get`, `var_get`/`var_set`,
//! `http_request` and `log_*`. This host serves every one of them natively,
//! without Extism's kernel module, under the same grants and limits as the
//! native `bitvault_v1` ABI:
//!
//! - Each [`ExtismFn`] belongs to a [`CapabilityKind`]; an import whose
//!   capability is not granted is refused at admission, naming it.
//! - The kernel memory is a per-invocation arena of blocks addressed by
//!   `u64` offsets, kept on the host and charged against the invocation's
//!   `memory_bytes` ceiling together with linear memory
//!   ([`BLOCK_OVERHEAD`] per block). It starts empty but for the input and
//!   ends with the call.
//! - Variables live in a [`VarStore`] bound to the invocation with
//!   [`CallContext::with_vars`](crate::CallContext::with_vars), scoped to
//!   (tenant, plugin) and bounded ([`DEFAULT_MAX_VAR_BYTES`]).
//! - Failures that Extism's host reports by failing the call (an invalid
//!   handle, an HTTP request outside the grant, a full variable store) end
//!   the call as a trap with code [`HOST_ERROR_TRAP_CODE`] and Extism's
//!   message.
//!
//! `docs/extism.md` is the normative description, with every deviation from
//! Extism's own host.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use bitvault_abi::{CapabilityKind, Signature, ValType};

pub use crate::extism_host::{UserCall, UserCallError};

/// The import module of the Extism kernel and host functions.
pub const NAMESPACE: &str = "extism:host/env";

/// The import module of host functions an Extism host registers itself
/// (`extism:host/user`, the PDKs' `#[host_fn]`). The embedder registers
/// them as [`UserFunctions`] in the
/// [`RuntimeConfig`](crate::RuntimeConfig); a module may import one only
/// when it is registered, imported with its exact signature and granted by
/// name ([`Grants::host_functions`](bitvault_abi::Grants::host_functions)).
pub const USER_NAMESPACE: &str = "extism:host/user";

/// The trap code of a call ended by an Extism host function, as Extism's
/// host ends it (an invalid handle, an HTTP request outside the grant, a
/// full variable store, disabled variables); the trap's message is the
/// function's name and Extism's message.
pub const HOST_ERROR_TRAP_CODE: &str = "extism_host_error";

/// The bytes each arena block is charged beyond its length: the host's
/// bookkeeping, so that many tiny blocks cannot use more host memory than
/// the ceiling accounts for.
pub const BLOCK_OVERHEAD: u64 = 64;

/// The default bound on the bytes of one plugin's variables (keys plus
/// values), Extism's default `max_var_bytes` (1 MiB).
pub const DEFAULT_MAX_VAR_BYTES: u64 = 1 << 20;

use ValType::{I32, I64};

/// Declares [`ExtismFn`]: each variant with its import name, exact
/// signature, capability and one line of documentation, in one table.
macro_rules! extism_functions {
    ($($variant:ident $name:literal ($($p:ident),*) -> ($($r:ident),*) $cap:ident $doc:literal;)*) => {
        /// Every function of `extism:host/env` this host provides, with its
        /// exact signature and the capability that links it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ExtismFn {
            $(#[doc = $doc] $variant,)*
        }

        impl ExtismFn {
            /// Every function, kernel first, then the host functions.
            pub const ALL: &'static [ExtismFn] = &[$(ExtismFn::$variant,)*];

            /// The import name inside [`NAMESPACE`].
            pub const fn name(self) -> &'static str {
                match self {
                    $(ExtismFn::$variant => $name,)*
                }
            }

            /// The exact signature a module must import the function with.
            pub const fn signature(self) -> Signature {
                match self {
                    $(ExtismFn::$variant => Signature {
                        params: &[$($p),*],
                        results: &[$($r),*],
                    },)*
                }
            }

            /// The capability that links the function.
            pub const fn capability(self) -> CapabilityKind {
                match self {
                    $(ExtismFn::$variant => CapabilityKind::$cap,)*
                }
            }
        }
    };
}

extism_functions! {
    Alloc "alloc" (I64) -> (I64) Io "Allocates a zeroed block of `n` bytes; returns its offset (0 for `n` = 0).";
    Free "free" (I64) -> () Io "Frees the block at an offset; anything else is ignored.";
    Length "length" (I64) -> (I64) Io "The length of the block at an offset, or 0 when no block starts there.";
    LengthUnsafe "length_unsafe" (I64) -> (I64) Io "Like `length` (this host checks the offset either way).";
    LoadU8 "load_u8" (I64) -> (I32) Io "The byte at an offset inside a block, or 0.";
    LoadU64 "load_u64" (I64) -> (I64) Io "The little-endian u64 at an offset inside a block, or 0.";
    StoreU8 "store_u8" (I64, I32) -> () Io "Stores a byte inside a block; ignored elsewhere.";
    StoreU64 "store_u64" (I64, I64) -> () Io "Stores a little-endian u64 inside a block; ignored elsewhere.";
    InputLength "input_length" () -> (I64) Io "The length of the input.";
    InputOffset "input_offset" () -> (I64) Io "The offset of the block holding the input (0 when empty).";
    InputLoadU8 "input_load_u8" (I64) -> (I32) Io "The input byte at an offset, or 0 past its end.";
    InputLoadU64 "input_load_u64" (I64) -> (I64) Io "The little-endian u64 of input at an offset, or 0 past its end.";
    InputSet "input_set" (I64, I64) -> () Io "Makes a range of a block the input; ignored unless inside one block.";
    OutputSet "output_set" (I64, I64) -> () Io "Makes a range of a block the output (copied now); ignored unless inside one block.";
    OutputLength "output_length" () -> (I64) Io "The length given to the last effective `output_set`.";
    OutputOffset "output_offset" () -> (I64) Io "The offset given to the last effective `output_set`.";
    ErrorSet "error_set" (I64) -> () Io "Makes the block at an offset the call's error message (0 clears it).";
    ErrorGet "error_get" () -> (I64) Io "The offset given to the last effective `error_set`, or 0.";
    Reset "reset" () -> () Io "Frees every block and clears input, output and error.";
    MemoryBytes "memory_bytes" () -> (I64) Io "The bytes the arena currently holds, blocks' overhead included.";
    ConfigGet "config_get" (I64) -> (I64) Config "The configuration value of a key (a block, freed): a new block, or 0.";
    VarGet "var_get" (I64) -> (I64) Kv "The variable of a key (a block, freed): a new block, or 0.";
    VarSet "var_set" (I64, I64) -> () Kv "Sets a variable (both blocks freed); value offset 0 removes it.";
    HttpRequest "http_request" (I64, I64) -> (I64) Http "Sends the JSON request (and body block) under the HTTP grant: the response body block, or 0.";
    HttpStatusCode "http_status_code" () -> (I32) Http "The status of the last response (0 before any).";
    HttpHeaders "http_headers" () -> (I64) Http "The last response's headers as a JSON object in a new block.";
    LogTrace "log_trace" (I64) -> () Log "Logs a block (freed) at level trace.";
    LogDebug "log_debug" (I64) -> () Log "Logs a block (freed) at level debug.";
    LogInfo "log_info" (I64) -> () Log "Logs a block (freed) at level info.";
    LogWarn "log_warn" (I64) -> () Log "Logs a block (freed) at level warn.";
    LogError "log_error" (I64) -> () Log "Logs a block (freed) at level error.";
    GetLogLevel "get_log_level" () -> (I32) Log "The lowest level delivered (0 trace … 4 error), the grant's `min_level`.";
}

impl ExtismFn {
    /// The function imported as `module`.`name`, if this host provides it.
    pub fn lookup(module: &str, name: &str) -> Option<ExtismFn> {
        if module != NAMESPACE {
            return None;
        }
        ExtismFn::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Whether the function is part of Extism's kernel (memory, input,
    /// output and error) rather than a host function. Kernel functions are
    /// wasm code in Extism, so here they are not counted against the
    /// `host_calls` limit: the guest pays for each call in fuel.
    pub const fn is_kernel(self) -> bool {
        !matches!(
            self,
            ExtismFn::ConfigGet
                | ExtismFn::VarGet
                | ExtismFn::VarSet
                | ExtismFn::HttpRequest
                | ExtismFn::HttpStatusCode
                | ExtismFn::HttpHeaders
                | ExtismFn::LogTrace
                | ExtismFn::LogDebug
                | ExtismFn::LogInfo
                | ExtismFn::LogWarn
                | ExtismFn::LogError
                | ExtismFn::GetLogLevel
        )
    }
}

impl fmt::Display for ExtismFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAMESPACE}.{}", self.name())
    }
}

/// Whose variables a [`VarStore`] call works on: the host binds it to the
/// invocation's tenant and plugin, never to anything the guest names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarScope {
    tenant: Arc<str>,
    plugin: Arc<str>,
}

impl VarScope {
    /// The variables of `plugin` installed for `tenant`.
    pub fn new(tenant: impl Into<Arc<str>>, plugin: impl Into<Arc<str>>) -> VarScope {
        VarScope {
            tenant: tenant.into(),
            plugin: plugin.into(),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The plugin.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}

/// Why a [`VarStore`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// The write would take the scope's variables (keys plus values) past
    /// the bound.
    #[error("Variable store is full: {needed} bytes needed, {max_bytes} allowed")]
    Full {
        /// The bytes the scope would hold after the write.
        needed: u64,
        /// The bound.
        max_bytes: u64,
    },
    /// The store cannot serve the request.
    #[error("variable store unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// Where Extism variables (`var_get`, `var_set`) persist between calls.
/// Each [`VarScope`] is separate; the size of a scope is the sum of its
/// keys' and values' lengths, and a write that would take it past the
/// bound the caller gives is refused whole.
///
/// Implementations must be safe to call concurrently from invocations of
/// the same plugin, and must not block for long: they run inside the
/// invocation, on its deadline.
pub trait VarStore: Send + Sync {
    /// The value of `key` in `scope`, if set.
    ///
    /// # Errors
    /// [`VarError::Unavailable`] when the store cannot answer.
    fn get(&self, scope: &VarScope, key: &str) -> Result<Option<Vec<u8>>, VarError>;

    /// Sets `key` to `value` in `scope`, unless the scope's size would then
    /// exceed `max_bytes`.
    ///
    /// # Errors
    /// [`VarError::Full`] for a write past the bound (nothing changes);
    /// [`VarError::Unavailable`] when the store cannot write.
    fn set(
        &self,
        scope: &VarScope,
        key: &str,
        value: &[u8],
        max_bytes: u64,
    ) -> Result<(), VarError>;

    /// Removes `key` from `scope`; removing a missing key succeeds.
    ///
    /// # Errors
    /// [`VarError::Unavailable`] when the store cannot write.
    fn remove(&self, scope: &VarScope, key: &str) -> Result<(), VarError>;
}

/// The variables of one scope in a [`MemoryVarStore`].
#[derive(Debug, Default)]
struct Vars {
    values: BTreeMap<String, Vec<u8>>,
    bytes: u64,
}

/// A [`VarStore`] in memory: variables last as long as the store (the
/// lifetime of an Extism plugin instance, which is what Extism gives them).
#[derive(Debug, Default)]
pub struct MemoryVarStore {
    scopes: Mutex<HashMap<VarScope, Vars>>,
}

impl MemoryVarStore {
    /// An empty store.
    pub fn new() -> MemoryVarStore {
        MemoryVarStore::default()
    }

    /// The bytes `scope` holds (keys plus values).
    pub fn bytes(&self, scope: &VarScope) -> u64 {
        self.lock().get(scope).map_or(0, |v| v.bytes)
    }

    /// Drops every variable of `scope` (a plugin uninstalled or upgraded).
    pub fn clear(&self, scope: &VarScope) {
        self.lock().remove(scope);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VarScope, Vars>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn entry_bytes(key: &str, value: &[u8]) -> u64 {
    key.len() as u64 + value.len() as u64
}

impl VarStore for MemoryVarStore {
    fn get(&self, scope: &VarScope, key: &str) -> Result<Option<Vec<u8>>, VarError> {
        Ok(self
            .lock()
            .get(scope)
            .and_then(|v| v.values.get(key).cloned()))
    }

    fn set(
        &self,
        scope: &VarScope,
        key: &str,
        value: &[u8],
        max_bytes: u64,
    ) -> Result<(), VarError> {
        let mut scopes = self.lock();
        let vars = scopes.entry(scope.clone()).or_default();
        let old = vars.values.get(key).map_or(0, |v| entry_bytes(key, v));
        let needed = (vars.bytes - old).saturating_add(entry_bytes(key, value));
        if needed > max_bytes {
            return Err(VarError::Full { needed, max_bytes });
        }
        vars.values.insert(key.to_owned(), value.to_vec());
        vars.bytes = needed;
        Ok(())
    }

    fn remove(&self, scope: &VarScope, key: &str) -> Result<(), VarError> {
        let mut scopes = self.lock();
        if let Some(vars) = scopes.get_mut(scope) {
            if let Some(v) = vars.values.remove(key) {
                vars.bytes -= entry_bytes(key, &v);
            }
            if vars.values.is_empty() {
                scopes.remove(scope);
            }
        }
        Ok(())
    }
}

/// The variables an invocation's `var_get` and `var_set` work on: a store,
/// the scope the host bound, and its bound in bytes.
#[derive(Clone)]
pub struct VarBinding {
    /// The store.
    pub store: Arc<dyn VarStore>,
    /// The scope, bound by the host to (tenant, plugin).
    pub scope: VarScope,
    /// The most bytes (keys plus values) the scope may hold.
    pub max_bytes: u64,
}

impl fmt::Debug for VarBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VarBinding")
            .field("scope", &self.scope)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The type of a parameter or result of a [`UserFunction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserType {
    /// `i32`
    I32,
    /// `i64`: what the PDKs pass kernel-memory offsets as.
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserType::I32 => "i32",
            UserType::I64 => "i64",
            UserType::F32 => "f32",
            UserType::F64 => "f64",
        })
    }
}

/// A value passed to or returned by a [`UserFunction`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserVal {
    /// An `i32`.
    I32(i32),
    /// An `i64`; the PDKs pass kernel-memory offsets as `i64`.
    I64(i64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
}

impl UserVal {
    /// The value's type.
    pub const fn ty(self) -> UserType {
        match self {
            UserVal::I32(_) => UserType::I32,
            UserVal::I64(_) => UserType::I64,
            UserVal::F32(_) => UserType::F32,
            UserVal::F64(_) => UserType::F64,
        }
    }

    /// The value as a kernel-memory offset: an `i64` read as `u64`.
    pub const fn offset(self) -> Option<u64> {
        match self {
            UserVal::I64(v) => Some(v as u64),
            _ => None,
        }
    }
}

/// What a [`UserFunction`]'s handler does: it gets the call (the kernel
/// memory, the tenant and plugin) and the arguments, already of the
/// declared types, and returns the results, of the declared types, or a
/// message that fails the plugin's call (as an error from an Extism host
/// function does).
pub type UserHandler =
    dyn Fn(&mut UserCall<'_>, &[UserVal]) -> Result<Vec<UserVal>, String> + Send + Sync;

/// Why a [`UserFunction`] cannot be made or registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserFunctionError {
    /// The name is empty, longer than 128 bytes, or not made of ASCII
    /// letters, digits, `_`, `-` and `.`.
    #[error("invalid host function name {0:?}: 1 to 128 of A-Z, a-z, 0-9, `_`, `-`, `.`")]
    InvalidName(String),
    /// A function of that name is already registered.
    #[error("host function `{0}` is already registered")]
    Duplicate(String),
}

/// A host function of `extism:host/user` that the embedder provides: a name,
/// an exact signature and a handler.
///
/// The handler runs on the invocation's thread, inside the call: it is
/// counted against `host_calls`, the deadline is checked before and after
/// it, and a panic in it ends the call as `host_panic`. The guest cannot be
/// interrupted while the handler runs, so handlers must return promptly.
/// Blocks it creates with [`UserCall::new_block`] are charged against the
/// call's memory ceiling.
pub struct UserFunction {
    name: Arc<str>,
    params: Vec<UserType>,
    results: Vec<UserType>,
    handler: Box<UserHandler>,
}

impl UserFunction {
    /// A function imported as `extism:host/user`.`name` with the given
    /// parameter and result types.
    ///
    /// # Errors
    /// [`UserFunctionError::InvalidName`].
    pub fn new(
        name: &str,
        params: impl Into<Vec<UserType>>,
        results: impl Into<Vec<UserType>>,
        handler: impl Fn(&mut UserCall<'_>, &[UserVal]) -> Result<Vec<UserVal>, String>
        + Send
        + Sync
        + 'static,
    ) -> Result<UserFunction, UserFunctionError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(UserFunctionError::InvalidName(name.to_owned()));
        }
        Ok(UserFunction {
            name: name.into(),
            params: params.into(),
            results: results.into(),
            handler: Box::new(handler),
        })
    }

    /// The import name inside [`USER_NAMESPACE`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter types.
    pub fn params(&self) -> &[UserType] {
        &self.params
    }

    /// The result types.
    pub fn results(&self) -> &[UserType] {
        &self.results
    }

    /// The signature as admission messages show it: `(i64) -> i64`.
    pub fn signature(&self) -> String {
        let list = |v: &[UserType]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.results.as_slice() {
            [one] => format!("({}) -> {one}", list(&self.params)),
            many => format!("({}) -> ({})", list(&self.params), list(many)),
        }
    }

    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    pub(crate) fn call(
        &self,
        call: &mut UserCall<'_>,
        args: &[UserVal],
    ) -> Result<Vec<UserVal>, String> {
        (self.handler)(call, args)
    }
}

impl fmt::Debug for UserFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserFunction")
            .field("name", &self.name)
            .field("signature", &self.signature())
            .finish_non_exhaustive()
    }
}

/// The host functions an embedder registers for `extism:host/user`, by
/// name. Empty by default: a module importing from `extism:host/user` is
/// then refused at admission.
#[derive(Clone, Default)]
pub struct UserFunctions {
    functions: BTreeMap<Arc<str>, Arc<UserFunction>>,
}

impl UserFunctions {
    /// No functions.
    pub fn new() -> UserFunctions {
        UserFunctions::default()
    }

    /// Adds `function`.
    ///
    /// # Errors
    /// [`UserFunctionError::Duplicate`] when its name is taken.
    pub fn register(&mut self, function: UserFunction) -> Result<(), UserFunctionError> {
        if self.functions.contains_key(function.name()) {
            return Err(UserFunctionError::Duplicate(function.name().to_owned()));
        }
        self.functions
            .insert(function.shared_name(), Arc::new(function));
        Ok(())
    }

    /// The function named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<UserFunction>> {
        self.functions.get(name)
    }

    /// Every function, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<UserFunction>> {
        self.functions.values()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

impl fmt::Debug for UserFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.functions.values()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_in_the_table_once() {
        for f in ExtismFn::ALL {
            assert_eq!(ExtismFn::lookup(NAMESPACE, f.name()), Some(*f));
            assert_eq!(ExtismFn::lookup(USER_NAMESPACE, f.name()), None);
        }
        let mut names: Vec<_> = ExtismFn::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ExtismFn::ALL.len());
    }

    #[test]
    fn signatures_are_the_kernels() {
        let sig = |f: ExtismFn| f.signature().to_string();
        assert_eq!(sig(ExtismFn::Alloc), "(i64) -> i64");
        assert_eq!(sig(ExtismFn::StoreU8), "(i64, i32) -> ()");
        assert_eq!(sig(ExtismFn::LoadU8), "(i64) -> i32");
        assert_eq!(sig(ExtismFn::OutputSet), "(i64, i64) -> ()");
        assert_eq!(sig(ExtismFn::HttpStatusCode), "() -> i32");
        assert_eq!(sig(ExtismFn::InputLength), "() -> i64");
    }

    #[test]
    fn user_functions_have_plain_names_registered_once() {
        let ok = |_: &mut UserCall<'_>, _: &[UserVal]| Ok(Vec::new());
        for bad in ["", "a b", "ns/fn", &"x".repeat(129)] {
            assert!(matches!(
                UserFunction::new(bad, [], [], ok),
                Err(UserFunctionError::InvalidName(_))
            ));
        }
        let mut fns = UserFunctions::new();
        let f = UserFunction::new("lookup_user", [UserType::I64], [UserType::I64], ok).unwrap();
        assert_eq!(f.signature(), "(i64) -> i64");
        fns.register(f).unwrap();
        let again = UserFunction::new("lookup_user", [], [], ok).unwrap();
        assert_eq!(
            fns.register(again),
            Err(UserFunctionError::Duplicate("lookup_user".into()))
        );
        assert_eq!(fns.get("lookup_user").map(|f| f.params().len()), Some(1));
        assert!(fns.get("other").is_none());
    }

    #[test]
    fn the_memory_store_bounds_each_scope_and_counts_replacements_once() {
        let store = MemoryVarStore::new();
        let a = VarScope::new("t", "a");
        let b = VarScope::new("t", "b");
        store.set(&a, "k", &[0; 10], 16).unwrap();
        assert_eq!(store.bytes(&a), 11);
        // Replacing a value counts the new one only.
        store.set(&a, "k", &[0; 15], 16).unwrap();
        assert_eq!(
            store.set(&a, "k2", &[0; 1], 16),
            Err(VarError::Full {
                needed: 19,
                max_bytes: 16
            })
        );
        assert_eq!(store.get(&b, "k").unwrap(), None);
        store.remove(&a, "k").unwrap();
        assert_eq!(store.bytes(&a), 0);
        assert_eq!(store.get(&a, "k").unwrap(), None);
    }
}
