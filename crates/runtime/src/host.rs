//! The core host functions of `bitvault_v1` and the per-invocation state
//! they (and the WASI shim in [`wasi`](crate::wasi)) work on.
//!
//! Every host function counts itself against the host-call limit, checks the
//! deadline, runs inside `catch_unwind` (a panic becomes
//! [`InvokeError::HostPanic`], never an unwind through the engine), and
//! reaches guest memory only through [`guest_mem`](crate::guest_mem).
//! Refusals the guest can handle are returned as [`ErrorCode`]s; what ends
//! the call is returned as a [`Termination`], which the engine turns into a
//! trap that the invocation maps back to a typed outcome.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bitvault_abi::{ClockId, ErrorCode, HostFn, LimitName, Limits, LogLevel, RANDOM_FILL_MAX};
use bytes::Bytes;
use wasmer::{Function, FunctionEnv, FunctionEnvMut, Memory, Store};

use crate::error::InvokeError;
use crate::events::{Event, EventBinding};
use crate::guest_mem;
use crate::kv::KvQuotas;
use crate::kv::{KvError, KvStore, MAX_LIST_LIMIT, Namespace};
use crate::wasi::WasiState;

/// One log message from a plugin, tagged with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// The tenant the invocation ran for.
    pub tenant: &'a str,
    /// The plugin that logged.
    pub plugin: &'a str,
    /// The invocation's id (unique within a [`Runtime`](crate::Runtime)).
    pub invocation_id: u64,
    /// The level the plugin gave.
    pub level: LogLevel,
    /// The message, valid UTF-8.
    pub message: &'a str,
}

/// Where plugin log messages go. Implementations must not block for long:
/// they run inside the invocation, on its deadline.
pub trait LogSink: Send + Sync {
    /// Receives one message.
    fn log(&self, record: &LogRecord<'_>);
}

/// A [`LogSink`] that emits each message as a `tracing` event under the
/// `bitvault::plugin` target, with tenant, plugin and invocation fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLogSink;

impl LogSink for TracingLogSink {
    fn log(&self, r: &LogRecord<'_>) {
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(
                    target: "bitvault::plugin",
                    tenant = r.tenant,
                    plugin = r.plugin,
                    invocation = r.invocation_id,
                    "{}",
                    r.message
                )
            };
        }
        match r.level {
            LogLevel::Trace => emit!(trace),
            LogLevel::Debug => emit!(debug),
            LogLevel::Info => emit!(info),
            LogLevel::Warn => emit!(warn),
            LogLevel::Error => emit!(error),
        }
    }
}

/// A log message kept by [`MemoryLogSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLogRecord {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// The invocation id.
    pub invocation_id: u64,
    /// The level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
}

/// A [`LogSink`] that keeps every message in memory.
#[derive(Debug, Default)]
pub struct MemoryLogSink {
    records: Mutex<Vec<OwnedLogRecord>>,
}

impl MemoryLogSink {
    /// An empty sink.
    pub fn new() -> MemoryLogSink {
        MemoryLogSink::default()
    }

    /// Takes the messages received so far.
    pub fn take(&self) -> Vec<OwnedLogRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl LogSink for MemoryLogSink {
    fn log(&self, r: &LogRecord<'_>) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(OwnedLogRecord {
                tenant: r.tenant.to_owned(),
                plugin: r.plugin.to_owned(),
                invocation_id: r.invocation_id,
                level: r.level,
                message: r.message.to_owned(),
            });
    }
}

/// Why a host function ended the call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Termination {
    #[error("output limit")]
    OutputLimit { limit: u64, attempted: u64 },
    #[error("limit {limit} exceeded")]
    Limit { limit: LimitName, value: u64 },
    #[error("deadline")]
    Deadline,
    #[error("host function panicked: {0}")]
    Panic(String),
    /// WASI `proc_exit`: not a failure in itself; the invocation maps the
    /// code to success (0) or `plugin_error`.
    #[error("exit with code {0}")]
    Exit(i32),
    /// Host-side guest memory (the Extism arena) refused by the ceiling.
    #[error("memory limit")]
    Memory(crate::tunables::Refusal),
    /// An Extism host function (of the kernel or registered by the
    /// embedder) failed the call, as Extism's host does.
    #[error("{namespace}.{function}: {message}")]
    HostError {
        namespace: &'static str,
        function: std::borrow::Cow<'static, str>,
        message: String,
    },
    /// AssemblyScript's `env.abort`: the module gave up, with a message.
    #[error("abort: {0}")]
    Abort(String),
}

impl Termination {
    pub(crate) fn into_error(self, limits: &Limits) -> InvokeError {
        match self {
            Termination::OutputLimit { limit, attempted } => {
                InvokeError::OutputLimit { limit, attempted }
            }
            Termination::Limit { limit, value } => InvokeError::LimitExceeded { limit, value },
            Termination::Deadline => InvokeError::Deadline {
                deadline_ms: limits.deadline_ms,
            },
            Termination::Panic(message) => InvokeError::HostPanic { message },
            // The call path turns an exit into a result before it can get
            // here; a non-zero code is the plugin's error either way.
            Termination::Exit(code) => InvokeError::PluginError {
                code,
                message: None,
            },
            Termination::Memory(r) => InvokeError::MemoryLimit {
                resource: r.resource,
                requested: r.requested,
                allowed: r.allowed,
                trap: None,
            },
            t @ Termination::HostError { .. } => InvokeError::Trap(crate::error::TrapInfo {
                code: Some(crate::extism::HOST_ERROR_TRAP_CODE.to_owned()),
                message: t.to_string(),
                frames: Vec::new(),
            }),
            t @ Termination::Abort(_) => InvokeError::Trap(crate::error::TrapInfo {
                code: Some(ABORT_TRAP_CODE.to_owned()),
                message: t.to_string(),
                frames: Vec::new(),
            }),
        }
    }
}

/// Who is calling, for log tags.
#[derive(Clone)]
pub(crate) struct Tags {
    pub(crate) tenant: Arc<str>,
    pub(crate) plugin: Arc<str>,
    pub(crate) invocation_id: u64,
    pub(crate) sink: Arc<dyn LogSink>,
    pub(crate) min_level: LogLevel,
}

/// A plugin's install-time configuration: read-only UTF-8 keys and values.
pub type PluginConfig = BTreeMap<String, String>;

/// The key-value namespace an invocation's `kv_*` functions work on: a
/// store, the namespace the host bound, and its quotas.
#[derive(Clone)]
pub struct KvBinding {
    /// The store.
    pub store: Arc<dyn KvStore>,
    /// The namespace, bound by the host to (tenant, plugin[, path]).
    pub namespace: Namespace,
    /// The namespace's quotas.
    pub quotas: KvQuotas,
}

impl std::fmt::Debug for KvBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvBinding")
            .field("namespace", &self.namespace)
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

/// The state of one invocation, owned by its store.
pub(crate) struct HostState {
    pub(crate) input: Bytes,
    /// The last variable-size result, read with `result_read`.
    pub(crate) staged: Option<Bytes>,
    pub(crate) config: Arc<PluginConfig>,
    pub(crate) clock: bool,
    pub(crate) random: bool,
    pub(crate) started: Instant,
    pub(crate) kv: Option<KvBinding>,
    pub(crate) events: Option<EventBinding>,
    pub(crate) topics: Option<Arc<bitvault_abi::EventsGrant>>,
    /// The `http_request` state, when HTTP is granted.
    pub(crate) http: Option<crate::host_http::HttpHost>,
    pub(crate) output: Vec<u8>,
    pub(crate) error_message: Option<String>,
    pub(crate) memory: Option<Memory>,
    pub(crate) limits: Limits,
    pub(crate) deadline: Instant,
    pub(crate) host_calls: u64,
    pub(crate) log_lines: u32,
    pub(crate) log_bytes: u64,
    pub(crate) tags: Tags,
    /// The WASI shim's descriptors and line buffers.
    pub(crate) wasi: WasiState,
    /// The Extism kernel's state, when the module imports `extism:host/env`.
    pub(crate) extism: Option<Box<crate::extism_host::ExtismState>>,
}

pub(crate) type HostResult<T = i32> = Result<T, Termination>;

impl HostState {
    /// Accounts for one host call and checks the deadline.
    fn enter(&mut self) -> Result<(), Termination> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(Termination::Limit {
                limit: LimitName::HostCalls,
                value: self.limits.host_calls,
            });
        }
        if Instant::now() >= self.deadline {
            return Err(Termination::Deadline);
        }
        Ok(())
    }
}

/// Runs a host function body with call accounting, the deadline check and
/// panic containment.
pub(crate) fn guarded<T>(
    env: &mut FunctionEnvMut<'_, HostState>,
    body: impl FnOnce(&mut FunctionEnvMut<'_, HostState>) -> Result<T, Termination>,
) -> HostResult<T> {
    env.data_mut().enter()?;
    match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(r) => r,
        Err(payload) => Err(Termination::Panic(panic_message(payload.as_ref()))),
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

pub(crate) fn code(e: ErrorCode) -> HostResult {
    Ok(e.code())
}

/// Reads guest bytes `(ptr, len)` as a fresh `Vec`.
pub(crate) fn read_guest(
    env: &mut FunctionEnvMut<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<Vec<u8>, ErrorCode> {
    let (state, store) = env.data_and_store_mut();
    let memory = state.memory.as_ref().ok_or(ErrorCode::NoMemory)?;
    let view = memory.view(&store);
    let mut buf = Vec::new();
    guest_mem::read_into(&view, ptr as u32, len as u32, &mut buf)?;
    Ok(buf)
}

fn input_len(mut env: FunctionEnvMut<'_, HostState>) -> HostResult {
    guarded(&mut env, |env| Ok(env.data().input.len() as i32))
}

/// Copies `source[offset..]` into the guest buffer `(ptr, len)`: the read
/// half of the variable-size pattern, shared by `read_input` and
/// `result_read`.
fn copy_out(
    env: &mut FunctionEnvMut<'_, HostState>,
    source: impl FnOnce(&HostState) -> Option<Bytes>,
    offset: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    let (state, store) = env.data_and_store_mut();
    let Some(source) = source(state) else {
        return code(ErrorCode::NotFound);
    };
    let offset = offset as u32 as usize;
    let Some(rest) = source.get(offset..) else {
        return code(ErrorCode::InvalidArgument);
    };
    let n = rest.len().min(len as u32 as usize).min(i32::MAX as usize);
    let Some(memory) = state.memory.as_ref() else {
        return code(ErrorCode::NoMemory);
    };
    let view = memory.view(&store);
    // The whole buffer the guest offered must be its own memory.
    if let Err(e) = guest_mem::check(ptr as u32, len as u32, view.data_size()) {
        return code(e);
    }
    match guest_mem::write(&view, ptr as u32, &rest[..n]) {
        Ok(()) => Ok(n as i32),
        Err(e) => code(e),
    }
}

fn read_input(
    mut env: FunctionEnvMut<'_, HostState>,
    offset: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        copy_out(env, |s| Some(s.input.clone()), offset, ptr, len)
    })
}

fn result_read(
    mut env: FunctionEnvMut<'_, HostState>,
    offset: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        copy_out(env, |s| s.staged.clone(), offset, ptr, len)
    })
}

fn config_get(mut env: FunctionEnvMut<'_, HostState>, key_ptr: i32, key_len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let key = match read_guest(env, key_ptr, key_len) {
            Ok(k) => k,
            Err(e) => return code(e),
        };
        let Ok(key) = std::str::from_utf8(&key) else {
            return code(ErrorCode::InvalidUtf8);
        };
        let state = env.data_mut();
        match state.config.get(key) {
            Some(value) if value.len() <= i32::MAX as usize => {
                let len = value.len() as i32;
                state.staged = Some(Bytes::copy_from_slice(value.as_bytes()));
                Ok(len)
            }
            Some(_) => code(ErrorCode::TooLarge),
            None => {
                state.staged = None;
                code(ErrorCode::NotFound)
            }
        }
    })
}

fn clock_now(mut env: FunctionEnvMut<'_, HostState>, clock: i32) -> HostResult<i64> {
    guarded(&mut env, |env| {
        let state = env.data();
        if !state.clock {
            return Ok(i64::from(ErrorCode::NotPermitted.code()));
        }
        // Milliseconds: the coarsening that keeps clocks from serving as a
        // fine timer for side channels.
        Ok(match ClockId::from_i32(clock) {
            Some(ClockId::Wall) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Some(ClockId::Monotonic) => state.started.elapsed().as_millis() as i64,
            None => i64::from(ErrorCode::InvalidArgument.code()),
        })
    })
}

fn random_fill(mut env: FunctionEnvMut<'_, HostState>, ptr: i32, len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let (state, store) = env.data_and_store_mut();
        if !state.random {
            return code(ErrorCode::NotPermitted);
        }
        if len as u32 > RANDOM_FILL_MAX {
            return code(ErrorCode::TooLarge);
        }
        let Some(memory) = state.memory.as_ref() else {
            return code(ErrorCode::NoMemory);
        };
        let view = memory.view(&store);
        if let Err(e) = guest_mem::check(ptr as u32, len as u32, view.data_size()) {
            return code(e);
        }
        let mut buf = vec![0u8; len as u32 as usize];
        if let Err(e) = getrandom::fill(&mut buf) {
            return Err(Termination::Panic(format!("host CSPRNG failed: {e}")));
        }
        match guest_mem::write(&view, ptr as u32, &buf) {
            Ok(()) => Ok(0),
            Err(e) => code(e),
        }
    })
}
fn write_output(mut env: FunctionEnvMut<'_, HostState>, ptr: i32, len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let (state, store) = env.data_and_store_mut();
        let Some(memory) = state.memory.as_ref() else {
            return code(ErrorCode::NoMemory);
        };
        let view = memory.view(&store);
        // A bad pair is the guest's error to handle, checked before the
        // limit that would end the call.
        if let Err(e) = guest_mem::check(ptr as u32, len as u32, view.data_size()) {
            return code(e);
        }
        let attempted = state.output.len() as u64 + u64::from(len as u32);
        if attempted > state.limits.output_bytes {
            return Err(Termination::OutputLimit {
                limit: state.limits.output_bytes,
                attempted,
            });
        }
        match guest_mem::read_into(&view, ptr as u32, len as u32, &mut state.output) {
            Ok(()) => Ok(0),
            Err(e) => code(e),
        }
    })
}

fn set_error(mut env: FunctionEnvMut<'_, HostState>, ptr: i32, len: i32) -> HostResult {
    guarded(&mut env, |env| {
        if len as u32 > env.data().limits.error_message_bytes {
            return code(ErrorCode::TooLarge);
        }
        let bytes = match read_guest(env, ptr, len) {
            Ok(b) => b,
            Err(e) => return code(e),
        };
        match String::from_utf8(bytes) {
            Ok(message) => {
                // An empty message clears any earlier one.
                env.data_mut().error_message = Some(message).filter(|m| !m.is_empty());
                Ok(0)
            }
            Err(_) => code(ErrorCode::InvalidUtf8),
        }
    })
}

fn log(mut env: FunctionEnvMut<'_, HostState>, level: i32, ptr: i32, len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let Some(level) = LogLevel::from_i32(level) else {
            return code(ErrorCode::InvalidArgument);
        };
        // A bad pair is the guest's error to handle, checked before the
        // limits that would end the call.
        {
            let (state, store) = env.data_and_store_mut();
            let Some(memory) = state.memory.as_ref() else {
                return code(ErrorCode::NoMemory);
            };
            if let Err(e) =
                guest_mem::check(ptr as u32, len as u32, memory.view(&store).data_size())
            {
                return code(e);
            }
        }
        let state = env.data_mut();
        let lines = state.log_lines + 1;
        if lines > state.limits.log_lines {
            return Err(Termination::Limit {
                limit: LimitName::LogLines,
                value: u64::from(state.limits.log_lines),
            });
        }
        let bytes = state.log_bytes + u64::from(len as u32);
        if bytes > state.limits.log_bytes {
            return Err(Termination::Limit {
                limit: LimitName::LogBytes,
                value: state.limits.log_bytes,
            });
        }
        let raw = match read_guest(env, ptr, len) {
            Ok(b) => b,
            Err(e) => return code(e),
        };
        let Ok(message) = std::str::from_utf8(&raw) else {
            return code(ErrorCode::InvalidUtf8);
        };
        let state = env.data_mut();
        state.log_lines = lines;
        state.log_bytes = bytes;
        if level >= state.tags.min_level {
            let t = &state.tags;
            t.sink.log(&LogRecord {
                tenant: &t.tenant,
                plugin: &t.plugin,
                invocation_id: t.invocation_id,
                level,
                message,
            });
        }
        Ok(0)
    })
}

/// The code the guest sees for a store refusal; storage failures are also
/// recorded host-side.
fn kv_code(e: &KvError, op: &'static str, b: &KvBinding) -> HostResult {
    match e {
        KvError::KeyTooLarge { .. }
        | KvError::ValueTooLarge { .. }
        | KvError::TooManyKeys { .. }
        | KvError::NamespaceFull { .. } => code(ErrorCode::QuotaExceeded),
        other => {
            tracing::warn!(
                op,
                tenant = b.namespace.tenant(),
                plugin = b.namespace.plugin(),
                error = %other,
                "kv store failed"
            );
            code(ErrorCode::Unavailable)
        }
    }
}

/// Reads a guest buffer and the invocation's KV binding, or the code to
/// return instead.
fn kv_args(
    env: &mut FunctionEnvMut<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<(Vec<u8>, KvBinding), ErrorCode> {
    let key = read_guest(env, ptr, len)?;
    let binding = env.data().kv.clone().ok_or(ErrorCode::Unavailable)?;
    Ok((key, binding))
}

fn kv_get(mut env: FunctionEnvMut<'_, HostState>, key_ptr: i32, key_len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let (key, b) = match kv_args(env, key_ptr, key_len) {
            Ok(v) => v,
            Err(e) => return code(e),
        };
        match b.store.get(&b.namespace, &key) {
            Ok(Some(value)) if value.len() <= i32::MAX as usize => {
                let len = value.len() as i32;
                env.data_mut().staged = Some(Bytes::from(value));
                Ok(len)
            }
            Ok(Some(_)) => code(ErrorCode::TooLarge),
            Ok(None) => {
                env.data_mut().staged = None;
                code(ErrorCode::NotFound)
            }
            Err(e) => kv_code(&e, "get", &b),
        }
    })
}

fn kv_put(
    mut env: FunctionEnvMut<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        let (key, b) = match kv_args(env, key_ptr, key_len) {
            Ok(v) => v,
            Err(e) => return code(e),
        };
        // Refuse an oversized value before copying it out of the guest.
        if u64::from(value_len as u32) > b.quotas.max_value_bytes as u64 {
            return code(ErrorCode::QuotaExceeded);
        }
        let value = match read_guest(env, value_ptr, value_len) {
            Ok(v) => v,
            Err(e) => return code(e),
        };
        match b.store.put(&b.namespace, &key, &value, &b.quotas) {
            Ok(()) => Ok(0),
            Err(e) => kv_code(&e, "put", &b),
        }
    })
}

fn kv_delete(mut env: FunctionEnvMut<'_, HostState>, key_ptr: i32, key_len: i32) -> HostResult {
    guarded(&mut env, |env| {
        let (key, b) = match kv_args(env, key_ptr, key_len) {
            Ok(v) => v,
            Err(e) => return code(e),
        };
        match b.store.delete(&b.namespace, &key) {
            Ok(existed) => Ok(i32::from(existed)),
            Err(e) => kv_code(&e, "delete", &b),
        }
    })
}

fn kv_list(
    mut env: FunctionEnvMut<'_, HostState>,
    prefix_ptr: i32,
    prefix_len: i32,
    cursor_ptr: i32,
    cursor_len: i32,
    limit: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        if limit < 1 || limit as usize > MAX_LIST_LIMIT {
            return code(ErrorCode::InvalidArgument);
        }
        let (prefix, b) = match kv_args(env, prefix_ptr, prefix_len) {
            Ok(v) => v,
            Err(e) => return code(e),
        };
        let cursor = if cursor_len == -1 {
            None
        } else {
            match read_guest(env, cursor_ptr, cursor_len) {
                Ok(c) => Some(c),
                Err(e) => return code(e),
            }
        };
        match b
            .store
            .list(&b.namespace, &prefix, cursor.as_deref(), limit as usize)
        {
            Ok(page) => {
                let bytes = bitvault_abi::wire::encode_kv_page(&page.keys, page.next.as_deref());
                let Ok(len) = i32::try_from(bytes.len()) else {
                    return code(ErrorCode::TooLarge);
                };
                env.data_mut().staged = Some(Bytes::from(bytes));
                Ok(len)
            }
            Err(e) => kv_code(&e, "list", &b),
        }
    })
}

fn emit_event(
    mut env: FunctionEnvMut<'_, HostState>,
    topic_ptr: i32,
    topic_len: i32,
    payload_ptr: i32,
    payload_len: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        let topic = match read_guest(env, topic_ptr, topic_len) {
            Ok(t) => t,
            Err(e) => return code(e),
        };
        let Ok(topic) = String::from_utf8(topic) else {
            return code(ErrorCode::InvalidUtf8);
        };
        let state = env.data();
        if !state.topics.as_ref().is_some_and(|g| g.allows(&topic)) {
            return code(ErrorCode::NotPermitted);
        }
        let Some(binding) = state.events.clone() else {
            return code(ErrorCode::Unavailable);
        };
        if payload_len as u32 > binding.limits.max_payload_bytes {
            return code(ErrorCode::TooLarge);
        }
        let depth = binding.depth.saturating_add(1);
        if depth > binding.limits.max_depth {
            let t = &state.tags;
            tracing::warn!(
                tenant = &*t.tenant,
                plugin = &*t.plugin,
                invocation = t.invocation_id,
                topic,
                depth,
                max_depth = binding.limits.max_depth,
                "event refused: causal chain too deep"
            );
            return code(ErrorCode::DepthExceeded);
        }
        let payload = match read_guest(env, payload_ptr, payload_len) {
            Ok(p) => p,
            Err(e) => return code(e),
        };
        let t = &env.data().tags;
        let event = Event {
            tenant: t.tenant.to_string(),
            source: t.plugin.to_string(),
            invocation_id: t.invocation_id,
            topic,
            payload: Bytes::from(payload),
            depth,
        };
        match binding.bus.publish(event) {
            Ok(()) => Ok(0),
            Err(e) => {
                tracing::warn!(error = %e, "event not published");
                code(ErrorCode::Unavailable)
            }
        }
    })
}

/// Builds the host function `f` for one invocation's store.
/// The trap code of a call ended by AssemblyScript's `env.abort`.
pub const ABORT_TRAP_CODE: &str = "abort";

/// The most UTF-16 code units of an abort message or file name read.
const ABORT_TEXT_UNITS: u32 = 1024;

/// Reads an AssemblyScript string: UTF-16LE code units at `ptr`, whose
/// byte length is the `u32` just before it (the object header's size).
/// `None` for a null or unreadable pointer; a long string is cut.
fn assemblyscript_string(env: &mut FunctionEnvMut<'_, HostState>, ptr: i32) -> Option<String> {
    let at = (ptr as u32).checked_sub(4).filter(|_| ptr != 0)?;
    let header = read_guest(env, at as i32, 4).ok()?;
    let bytes = u32::from_le_bytes(header.try_into().ok()?).min(2 * ABORT_TEXT_UNITS);
    let raw = read_guest(env, ptr, bytes as i32).ok()?;
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// `env.abort(message, file, line, column)`, AssemblyScript's failure
/// path: ends the call with a trap (code [`ABORT_TRAP_CODE`]) whose message
/// is the module's, with its source position.
pub(crate) fn abort(
    mut env: FunctionEnvMut<'_, HostState>,
    message: i32,
    file: i32,
    line: i32,
    column: i32,
) -> HostResult<()> {
    guarded(&mut env, |env| {
        let message =
            assemblyscript_string(env, message).unwrap_or_else(|| "(no message)".to_owned());
        let place = match assemblyscript_string(env, file) {
            Some(file) => format!(" at {file}:{line}:{column}"),
            None => String::new(),
        };
        Err(Termination::Abort(format!("{message}{place}")))
    })
}

pub(crate) fn function(store: &mut Store, env: &FunctionEnv<HostState>, f: HostFn) -> Function {
    match f {
        HostFn::InputLen => Function::new_typed_with_env(store, env, input_len),
        HostFn::ReadInput => Function::new_typed_with_env(store, env, read_input),
        HostFn::WriteOutput => Function::new_typed_with_env(store, env, write_output),
        HostFn::SetError => Function::new_typed_with_env(store, env, set_error),
        HostFn::Log => Function::new_typed_with_env(store, env, log),
        HostFn::ResultRead => Function::new_typed_with_env(store, env, result_read),
        HostFn::ConfigGet => Function::new_typed_with_env(store, env, config_get),
        HostFn::ClockNow => Function::new_typed_with_env(store, env, clock_now),
        HostFn::RandomFill => Function::new_typed_with_env(store, env, random_fill),
        HostFn::KvGet => Function::new_typed_with_env(store, env, kv_get),
        HostFn::KvPut => Function::new_typed_with_env(store, env, kv_put),
        HostFn::KvDelete => Function::new_typed_with_env(store, env, kv_delete),
        HostFn::KvList => Function::new_typed_with_env(store, env, kv_list),
        HostFn::EmitEvent => Function::new_typed_with_env(store, env, emit_event),
        HostFn::HttpRequest => {
            Function::new_typed_with_env(store, env, crate::host_http::http_request)
        }
    }
}
