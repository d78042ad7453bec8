//! The `extism:host/env` functions and the per-invocation state they work
//! on: the kernel's memory arena, input, output and error, variables, the
//! last HTTP response.
//!
//! The arena is host memory: blocks addressed by `u64` offsets (0 is never
//! a block), each a byte buffer of its own, charged against the call's
//! memory ceiling. Every offset and length a guest passes is checked with
//! overflow-safe arithmetic against one live block: a load outside every
//! block answers 0 and a store there is ignored, as Extism's kernel (built
//! with its default bounds checking) answers accesses outside its memory.
//! No guest linear memory is touched here: Extism's interface moves bytes
//! only through these functions.
//!
//! Kernel functions (memory, input, output, error) are wasm code in Extism
//! and are not counted against `host_calls` here; they check the deadline
//! and contain panics. Host functions (`config_get`, `var_*`, `http_*`,
//! `log_*`, `get_log_level`) go through [`guarded`] like every native host
//! function.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bitvault_abi::{LimitName, LogLevel};
use bytes::Bytes;
use wasmer::{Function, FunctionEnv, FunctionEnvMut, Store};

use crate::extism::{
    BLOCK_OVERHEAD, ExtismFn, USER_NAMESPACE, UserFunction, UserType, UserVal, VarBinding, VarError,
};
use crate::host::{HostResult, HostState, LogRecord, Termination, guarded, panic_message};
use crate::tunables::{CallCeilings, Refusal};

/// The offset of the first block: never 0, which means "no block".
const BASE: u64 = 64;

/// Unused bytes left between blocks, so that running off the end of one
/// block is an access outside every block, not one inside the next.
const GAP: u64 = 8;

/// Offsets stay below 2^53, so that PDKs holding them in doubles (the JS
/// PDK) see them exactly.
const MAX_OFFSET: u64 = 1 << 53;

/// The bytes of one block: the request shared with the invocation until the
/// guest writes to it, or a buffer of the block's own.
enum Data {
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Shared(b) => b,
            Data::Owned(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        if let Data::Shared(b) = self {
            *self = Data::Owned(b.to_vec());
        }
        match self {
            Data::Owned(v) => v,
            Data::Shared(_) => &mut [],
        }
    }
}

struct Block {
    data: Data,
    /// What the block is charged against the ceiling.
    charged: u64,
}

/// The kernel memory: live blocks by start offset.
struct Arena {
    blocks: BTreeMap<u64, Block>,
    /// Where the next block starts.
    next: u64,
    /// Bytes charged for the live blocks.
    held: u64,
    ceilings: Arc<CallCeilings>,
}

/// The end of a block starting at `start` of `len` bytes, rounded up to 8
/// and followed by the gap: where the next block may start.
fn after(start: u64, len: u64) -> Option<u64> {
    start
        .checked_add(len)?
        .checked_add(7)
        .map(|e| e & !7)?
        .checked_add(GAP)
}

impl Arena {
    fn new(ceilings: Arc<CallCeilings>) -> Arena {
        Arena {
            blocks: BTreeMap::new(),
            next: BASE,
            held: 0,
            ceilings,
        }
    }

    /// Adds a block of `len` bytes holding `data`, charging `len` plus the
    /// overhead against the ceiling.
    fn insert(&mut self, len: u64, data: impl FnOnce() -> Data) -> Result<u64, Termination> {
        let cost = len.saturating_add(BLOCK_OVERHEAD);
        self.ceilings
            .charge_host(cost)
            .map_err(Termination::Memory)?;
        let start = self.next;
        let Some(next) = after(start, len).filter(|n| *n <= MAX_OFFSET) else {
            self.ceilings.release_host(cost);
            return Err(fail("alloc", "the kernel's offset space is exhausted"));
        };
        self.blocks.insert(
            start,
            Block {
                data: data(),
                charged: cost,
            },
        );
        self.next = next;
        self.held += cost;
        Ok(start)
    }

    /// A zeroed block of `n` bytes; 0 for `n` = 0, as the kernel answers.
    fn alloc(&mut self, n: u64) -> Result<u64, Termination> {
        if n == 0 {
            return Ok(0);
        }
        // A request past the ceiling is refused before any host memory is
        // reserved; `charge_host` records it.
        let len = usize::try_from(n).map_err(|_| {
            Termination::Memory(Refusal {
                resource: crate::Resource::Memory,
                requested: n,
                allowed: 0,
            })
        })?;
        self.insert(n, || Data::Owned(vec![0; len]))
    }

    /// A new block holding `bytes`; 0 for no bytes (Extism's null handle).
    fn new_block(&mut self, bytes: &[u8]) -> Result<u64, Termination> {
        if bytes.is_empty() {
            return Ok(0);
        }
        self.insert(bytes.len() as u64, || Data::Owned(bytes.to_vec()))
    }

    /// Frees the block starting at `p`; whether there was one.
    fn free(&mut self, p: u64) -> bool {
        let Some(block) = self.blocks.remove(&p) else {
            return false;
        };
        self.ceilings.release_host(block.charged);
        self.held -= block.charged;
        // Freeing the topmost block gives its offsets back, so that an
        // allocate-and-free loop does not walk through the offset space.
        if self.blocks.range(p..).next().is_none() {
            self.next = self
                .blocks
                .last_key_value()
                .and_then(|(s, b)| after(*s, b.data.bytes().len() as u64))
                .unwrap_or(BASE);
        }
        true
    }

    /// Frees every block.
    fn clear(&mut self) {
        self.ceilings.release_host(self.held);
        self.blocks.clear();
        self.held = 0;
        self.next = BASE;
    }

    /// The bytes of the block starting exactly at `p`.
    fn handle(&self, p: u64) -> Option<&[u8]> {
        self.blocks.get(&p).map(|b| b.data.bytes())
    }

    /// The block holding `p .. p + width` whole, with the offset of `p` in
    /// it.
    fn locate(&self, p: u64, width: u64) -> Option<(u64, usize)> {
        let (start, block) = self.blocks.range(..=p).next_back()?;
        let at = p - start;
        let end = at.checked_add(width)?;
        if end > block.data.bytes().len() as u64 {
            return None;
        }
        Some((*start, usize::try_from(at).ok()?))
    }

    /// `width` bytes at `p`, when they lie inside one block.
    fn load(&self, p: u64, width: u64) -> Option<&[u8]> {
        let (start, at) = self.locate(p, width)?;
        let bytes = self.blocks.get(&start)?.data.bytes();
        bytes.get(at..at.checked_add(usize::try_from(width).ok()?)?)
    }

    /// Stores `src` at `p` when it fits inside one block; whether it did.
    fn store(&mut self, p: u64, src: &[u8]) -> bool {
        let Some((start, at)) = self.locate(p, src.len() as u64) else {
            return false;
        };
        let Some(block) = self.blocks.get_mut(&start) else {
            return false;
        };
        match block.data.bytes_mut().get_mut(at..at + src.len()) {
            Some(dst) => {
                dst.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// The Extism part of one invocation's state.
pub(crate) struct ExtismState {
    arena: Arena,
    /// The input: the offset of its block and its length.
    input: (u64, u64),
    /// The last effective `output_set`.
    output: (u64, u64),
    /// The block given to the last effective `error_set`, 0 for none.
    error: u64,
    vars: Option<VarBinding>,
    /// The status of the last HTTP response, 0 before any.
    http_status: u16,
    /// The headers of the last HTTP response.
    http_headers: BTreeMap<String, String>,
}

impl ExtismState {
    /// The state of a call with `input` as its request, which becomes the
    /// first block and is charged like any other.
    pub(crate) fn new(
        input: Bytes,
        ceilings: Arc<CallCeilings>,
        vars: Option<VarBinding>,
    ) -> Result<ExtismState, Refusal> {
        let mut arena = Arena::new(ceilings);
        let len = input.len() as u64;
        let offset = if input.is_empty() {
            0
        } else {
            match arena.insert(len, || Data::Shared(input)) {
                Ok(offset) => offset,
                Err(Termination::Memory(r)) => return Err(r),
                // The first block cannot exhaust the offset space.
                Err(_) => 0,
            }
        };
        Ok(ExtismState {
            arena,
            input: (offset, len),
            output: (0, 0),
            error: 0,
            vars,
            http_status: 0,
            http_headers: BTreeMap::new(),
        })
    }

    /// Whether the guest set an error message (which makes the call fail
    /// whatever its return code, as in Extism).
    pub(crate) fn error_is_set(&self) -> bool {
        self.error != 0
    }
}

fn missing() -> Termination {
    Termination::Panic("the Extism state is missing".to_owned())
}

fn fail(function: &'static str, message: impl Into<String>) -> Termination {
    Termination::HostError {
        namespace: crate::extism::NAMESPACE,
        function: function.into(),
        message: message.into(),
    }
}

/// Runs a kernel function: the deadline check and panic containment, not
/// counted against `host_calls`.
fn kernel<T>(
    env: &mut FunctionEnvMut<'_, HostState>,
    body: impl FnOnce(&mut HostState, &mut ExtismState) -> Result<T, Termination>,
) -> HostResult<T> {
    let state = env.data_mut();
    if Instant::now() >= state.deadline {
        return Err(Termination::Deadline);
    }
    match catch_unwind(AssertUnwindSafe(|| {
        let mut ext = state.extism.take().ok_or_else(missing)?;
        let r = body(state, &mut ext);
        state.extism = Some(ext);
        r
    })) {
        Ok(r) => r,
        Err(payload) => Err(Termination::Panic(panic_message(payload.as_ref()))),
    }
}

/// Runs a host function: counted and guarded like the native ones.
fn host<T>(
    env: &mut FunctionEnvMut<'_, HostState>,
    body: impl FnOnce(&mut HostState, &mut ExtismState) -> Result<T, Termination>,
) -> HostResult<T> {
    guarded(env, |env| {
        let state = env.data_mut();
        let mut ext = state.extism.take().ok_or_else(missing)?;
        let r = body(state, &mut ext);
        state.extism = Some(ext);
        r
    })
}

fn alloc(mut env: FunctionEnvMut<'_, HostState>, n: u64) -> HostResult<u64> {
    kernel(&mut env, |_, e| e.arena.alloc(n))
}

fn free(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    kernel(&mut env, |_, e| {
        if p != 0 && e.arena.free(p) && p == e.input.0 {
            // The input's bytes are gone, as in the kernel.
            e.input.1 = 0;
        }
        Ok(())
    })
}

fn length(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<u64> {
    kernel(&mut env, |_, e| {
        Ok(e.arena.handle(p).map_or(0, |b| b.len() as u64))
    })
}

fn load_u8(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<u32> {
    kernel(&mut env, |_, e| {
        Ok(e.arena.load(p, 1).map_or(0, |b| u32::from(b[0])))
    })
}

fn le_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

fn load_u64(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(le_u64(e.arena.load(p, 8))))
}

fn store_u8(mut env: FunctionEnvMut<'_, HostState>, p: u64, x: u32) -> HostResult<()> {
    kernel(&mut env, |_, e| {
        e.arena.store(p, &[x as u8]);
        Ok(())
    })
}

fn store_u64(mut env: FunctionEnvMut<'_, HostState>, p: u64, x: u64) -> HostResult<()> {
    kernel(&mut env, |_, e| {
        e.arena.store(p, &x.to_le_bytes());
        Ok(())
    })
}

fn input_length(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.input.1))
}

fn input_offset(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.input.0))
}

/// The input bytes `offset .. offset + width`, when they lie in the input.
fn input_bytes(e: &ExtismState, offset: u64, width: u64) -> Option<&[u8]> {
    if offset.checked_add(width)? > e.input.1 {
        return None;
    }
    e.arena.load(e.input.0.checked_add(offset)?, width)
}

fn input_load_u8(mut env: FunctionEnvMut<'_, HostState>, offset: u64) -> HostResult<u32> {
    kernel(&mut env, |_, e| {
        Ok(input_bytes(e, offset, 1).map_or(0, |b| u32::from(b[0])))
    })
}

fn input_load_u64(mut env: FunctionEnvMut<'_, HostState>, offset: u64) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(le_u64(input_bytes(e, offset, 8))))
}

fn input_set(mut env: FunctionEnvMut<'_, HostState>, p: u64, len: u64) -> HostResult<()> {
    kernel(&mut env, |_, e| {
        if len == 0 || e.arena.locate(p, len).is_some() {
            e.input = (p, len);
        }
        Ok(())
    })
}

fn output_set(mut env: FunctionEnvMut<'_, HostState>, p: u64, len: u64) -> HostResult<()> {
    kernel(&mut env, |state, e| {
        if len > state.limits.output_bytes {
            return Err(Termination::OutputLimit {
                limit: state.limits.output_bytes,
                attempted: len,
            });
        }
        if len == 0 {
            state.output.clear();
            e.output = (p, 0);
        } else if let Some(bytes) = e.arena.load(p, len) {
            state.output.clear();
            state.output.extend_from_slice(bytes);
            e.output = (p, len);
        }
        Ok(())
    })
}

fn output_length(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.output.1))
}

fn output_offset(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.output.0))
}

/// `bytes` as text, cut to at most `max` bytes on a character boundary.
fn message(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn error_set(mut env: FunctionEnvMut<'_, HostState>, h: u64) -> HostResult<()> {
    kernel(&mut env, |state, e| {
        if h == 0 {
            e.error = 0;
            state.error_message = None;
        } else if let Some(bytes) = e.arena.handle(h) {
            e.error = h;
            state.error_message = Some(message(bytes, state.limits.error_message_bytes as usize));
        }
        Ok(())
    })
}

fn error_get(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.error))
}

fn reset(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<()> {
    kernel(&mut env, |state, e| {
        e.arena.clear();
        e.input = (0, 0);
        e.output = (0, 0);
        e.error = 0;
        state.output.clear();
        state.error_message = None;
        Ok(())
    })
}

fn memory_bytes(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    kernel(&mut env, |_, e| Ok(e.arena.held))
}

/// Takes the text of the block at `p` (0 is the empty text) and frees it,
/// as Extism's host functions take ownership of the handles they are given.
fn take_text(
    e: &mut ExtismState,
    p: u64,
    function: &'static str,
    what: &str,
) -> Result<String, Termination> {
    if p == 0 {
        return Ok(String::new());
    }
    let Some(bytes) = e.arena.handle(p) else {
        return Err(fail(
            function,
            format!("invalid handle offset for {what}: {p}"),
        ));
    };
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| fail(function, format!("{what} is not valid UTF-8")))?;
    e.arena.free(p);
    Ok(text)
}

fn config_get(mut env: FunctionEnvMut<'_, HostState>, k: u64) -> HostResult<u64> {
    host(&mut env, |state, e| {
        let key = take_text(e, k, "config_get", "config key")?;
        match state.config.get(&key) {
            Some(value) => e.arena.new_block(value.as_bytes()),
            None => Ok(0),
        }
    })
}

fn var_get(mut env: FunctionEnvMut<'_, HostState>, k: u64) -> HostResult<u64> {
    host(&mut env, |_, e| {
        let key = take_text(e, k, "var_get", "var key")?;
        let Some(vars) = e.vars.clone() else {
            return Ok(0);
        };
        match vars.store.get(&vars.scope, &key) {
            Ok(Some(value)) => e.arena.new_block(&value),
            Ok(None) => Ok(0),
            Err(err) => Err(fail("var_get", err.to_string())),
        }
    })
}

fn var_set(mut env: FunctionEnvMut<'_, HostState>, k: u64, v: u64) -> HostResult<()> {
    host(&mut env, |_, e| {
        let Some(vars) = e.vars.clone() else {
            return Err(fail(
                "var_set",
                "Vars are disabled by this host: no variable store is bound to the invocation",
            ));
        };
        let key = take_text(e, k, "var_set", "var key")?;
        if v == 0 {
            return vars
                .store
                .remove(&vars.scope, &key)
                .map_err(|err| fail("var_set", err.to_string()));
        }
        let Some(value) = e.arena.handle(v) else {
            return Err(fail(
                "var_set",
                format!("invalid handle offset for var value: {v}"),
            ));
        };
        let result = vars.store.set(&vars.scope, &key, value, vars.max_bytes);
        e.arena.free(v);
        // A full store fails the call with Extism's message, "Variable
        // store is full".
        result.map_err(|err: VarError| fail("var_set", err.to_string()))
    })
}

/// The JSON request of Extism's `http_request`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtismHttpRequest {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    method: Option<String>,
}

fn http_request(mut env: FunctionEnvMut<'_, HostState>, req: u64, body: u64) -> HostResult<u64> {
    host(&mut env, |state, e| {
        e.http_status = 0;
        e.http_headers.clear();
        let Some(raw) = e.arena.handle(req) else {
            return Err(fail(
                "http_request",
                format!("invalid handle offset for http request: {req}"),
            ));
        };
        let request: ExtismHttpRequest = serde_json::from_slice(raw)
            .map_err(|err| fail("http_request", format!("invalid HTTP request: {err}")))?;
        e.arena.free(req);
        let body = if body == 0 {
            Vec::new()
        } else {
            let Some(bytes) = e.arena.handle(body) else {
                return Err(fail(
                    "http_request",
                    format!("invalid handle offset for http request body: {body}"),
                ));
            };
            let bytes = bytes.to_vec();
            e.arena.free(body);
            bytes
        };
        let head = bitvault_abi::wire::HttpRequestHead {
            method: request
                .method
                .as_deref()
                .unwrap_or("GET")
                .to_ascii_uppercase(),
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect(),
        };
        send(state, e, &head, body)
    })
}

#[cfg(feature = "http-client")]
fn send(
    state: &mut HostState,
    e: &mut ExtismState,
    head: &bitvault_abi::wire::HttpRequestHead,
    body: Vec<u8>,
) -> Result<u64, Termination> {
    use bitvault_abi::ErrorCode;

    match crate::host_http::perform(state, head, body, Instant::now()) {
        Ok(response) => {
            e.http_status = response.status;
            for (name, value) in &response.headers {
                // Extism keeps the headers whose values are text.
                let Ok(value) = std::str::from_utf8(value) else {
                    continue;
                };
                let name = name.to_ascii_lowercase();
                match e.http_headers.get_mut(&name) {
                    Some(v) => {
                        v.push_str(", ");
                        v.push_str(value);
                    }
                    None => {
                        e.http_headers.insert(name, value.to_owned());
                    }
                }
            }
            e.arena.new_block(&response.body)
        }
        Err(refused) => {
            if refused.code == ErrorCode::TimedOut && Instant::now() >= state.deadline {
                return Err(Termination::Deadline);
            }
            let url = crate::host_http::redacted(&head.url);
            Err(fail(
                "http_request",
                if refused.code == ErrorCode::NotPermitted {
                    format!("HTTP request to {url} is not allowed: {}", refused.error)
                } else {
                    format!("HTTP request to {url} failed: {}", refused.error)
                },
            ))
        }
    }
}

#[cfg(not(feature = "http-client"))]
fn send(
    _state: &mut HostState,
    _e: &mut ExtismState,
    head: &bitvault_abi::wire::HttpRequestHead,
    _body: Vec<u8>,
) -> Result<u64, Termination> {
    Err(fail(
        "http_request",
        format!(
            "HTTP request to {} is not allowed: the runtime was built without the `http-client` feature",
            head.url
        ),
    ))
}

fn http_status_code(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<i32> {
    host(&mut env, |_, e| Ok(i32::from(e.http_status)))
}

fn http_headers(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<u64> {
    host(&mut env, |_, e| {
        let json = serde_json::to_vec(&e.http_headers)
            .map_err(|err| Termination::Panic(format!("cannot encode headers: {err}")))?;
        e.arena.new_block(&json)
    })
}

/// Logs the block at `p` (0 is the empty message) at `level` and frees it:
/// counted against `log_lines` and `log_bytes`, delivered when the level
/// reaches the grant's `min_level`.
fn log_at(env: &mut FunctionEnvMut<'_, HostState>, level: LogLevel, p: u64) -> HostResult<()> {
    let function = match level {
        LogLevel::Trace => "log_trace",
        LogLevel::Debug => "log_debug",
        LogLevel::Info => "log_info",
        LogLevel::Warn => "log_warn",
        LogLevel::Error => "log_error",
    };
    host(env, |state, e| {
        let text = if p == 0 {
            String::new()
        } else {
            let Some(bytes) = e.arena.handle(p) else {
                return Err(fail(
                    function,
                    format!("invalid handle offset for log message: {p}"),
                ));
            };
            let text = String::from_utf8_lossy(bytes).into_owned();
            e.arena.free(p);
            text
        };
        let lines = state.log_lines + 1;
        if lines > state.limits.log_lines {
            return Err(Termination::Limit {
                limit: LimitName::LogLines,
                value: u64::from(state.limits.log_lines),
            });
        }
        let bytes = state.log_bytes + text.len() as u64;
        if bytes > state.limits.log_bytes {
            return Err(Termination::Limit {
                limit: LimitName::LogBytes,
                value: state.limits.log_bytes,
            });
        }
        state.log_lines = lines;
        state.log_bytes = bytes;
        if level >= state.tags.min_level {
            let t = &state.tags;
            t.sink.log(&LogRecord {
                tenant: &t.tenant,
                plugin: &t.plugin,
                invocation_id: t.invocation_id,
                level,
                message: &text,
            });
        }
        Ok(())
    })
}

fn log_trace(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    log_at(&mut env, LogLevel::Trace, p)
}

fn log_debug(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    log_at(&mut env, LogLevel::Debug, p)
}

fn log_info(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    log_at(&mut env, LogLevel::Info, p)
}

fn log_warn(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    log_at(&mut env, LogLevel::Warn, p)
}

fn log_error(mut env: FunctionEnvMut<'_, HostState>, p: u64) -> HostResult<()> {
    log_at(&mut env, LogLevel::Error, p)
}

fn get_log_level(mut env: FunctionEnvMut<'_, HostState>) -> HostResult<i32> {
    host(&mut env, |state, _| Ok(state.tags.min_level as i32))
}

/// Builds the Extism function `f` for one invocation's store.
pub(crate) fn function(store: &mut Store, env: &FunctionEnv<HostState>, f: ExtismFn) -> Function {
    use ExtismFn as E;
    macro_rules! f {
        ($body:expr) => {
            Function::new_typed_with_env(store, env, $body)
        };
    }
    match f {
        E::Alloc => f!(alloc),
        E::Free => f!(free),
        E::Length | E::LengthUnsafe => f!(length),
        E::LoadU8 => f!(load_u8),
        E::LoadU64 => f!(load_u64),
        E::StoreU8 => f!(store_u8),
        E::StoreU64 => f!(store_u64),
        E::InputLength => f!(input_length),
        E::InputOffset => f!(input_offset),
        E::InputLoadU8 => f!(input_load_u8),
        E::InputLoadU64 => f!(input_load_u64),
        E::InputSet => f!(input_set),
        E::OutputSet => f!(output_set),
        E::OutputLength => f!(output_length),
        E::OutputOffset => f!(output_offset),
        E::ErrorSet => f!(error_set),
        E::ErrorGet => f!(error_get),
        E::Reset => f!(reset),
        E::MemoryBytes => f!(memory_bytes),
        E::ConfigGet => f!(config_get),
        E::VarGet => f!(var_get),
        E::VarSet => f!(var_set),
        E::HttpRequest => f!(http_request),
        E::HttpStatusCode => f!(http_status_code),
        E::HttpHeaders => f!(http_headers),
        E::LogTrace => f!(log_trace),
        E::LogDebug => f!(log_debug),
        E::LogInfo => f!(log_info),
        E::LogWarn => f!(log_warn),
        E::LogError => f!(log_error),
        E::GetLogLevel => f!(get_log_level),
    }
}

/// One call of a [`UserFunction`](crate::extism::UserFunction): what its
/// handler may see and do. Arguments the PDKs pass are offsets of blocks in
/// the plugin's kernel memory; the handler reads them with
/// [`UserCall::block`] and answers with blocks made by
/// [`UserCall::new_block`].
pub struct UserCall<'a> {
    ext: &'a mut ExtismState,
    tenant: &'a str,
    plugin: &'a str,
    config: &'a crate::PluginConfig,
    /// The first refusal of the arena: it ends the call whatever the
    /// handler returns.
    refused: Option<Termination>,
}

impl UserCall<'_> {
    /// The tenant the invocation runs for.
    pub fn tenant(&self) -> &str {
        self.tenant
    }

    /// The plugin invoked.
    pub fn plugin(&self) -> &str {
        self.plugin
    }

    /// The configuration value of `key` in the invocation's configuration.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }

    /// The bytes of the block starting exactly at `offset`, if there is
    /// one (0 is never a block).
    pub fn block(&self, offset: u64) -> Option<&[u8]> {
        self.ext.arena.handle(offset)
    }

    /// A new block holding `bytes`, charged against the call's memory
    /// ceiling; its offset, or 0 for no bytes (Extism's null handle).
    ///
    /// # Errors
    /// [`UserCallError::MemoryLimit`] when the ceiling or the offset space
    /// refuses it; the plugin's call then ends with that refusal whatever
    /// the handler returns.
    pub fn new_block(&mut self, bytes: &[u8]) -> Result<u64, UserCallError> {
        match self.ext.arena.new_block(bytes) {
            Ok(offset) => Ok(offset),
            Err(t) => {
                self.refused.get_or_insert(t);
                Err(UserCallError::MemoryLimit)
            }
        }
    }

    /// Frees the block starting at `offset`; whether there was one.
    pub fn free(&mut self, offset: u64) -> bool {
        self.ext.arena.free(offset)
    }
}

/// Why a [`UserCall`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserCallError {
    /// The block would take the call past its memory ceiling.
    #[error("the call's memory limit refuses the block")]
    MemoryLimit,
}

fn to_wasmer(v: UserVal) -> wasmer::Value {
    match v {
        UserVal::I32(x) => wasmer::Value::I32(x),
        UserVal::I64(x) => wasmer::Value::I64(x),
        UserVal::F32(x) => wasmer::Value::F32(x),
        UserVal::F64(x) => wasmer::Value::F64(x),
    }
}

fn from_wasmer(v: &wasmer::Value) -> Option<UserVal> {
    Some(match v {
        wasmer::Value::I32(x) => UserVal::I32(*x),
        wasmer::Value::I64(x) => UserVal::I64(*x),
        wasmer::Value::F32(x) => UserVal::F32(*x),
        wasmer::Value::F64(x) => UserVal::F64(*x),
        _ => return None,
    })
}

fn wasmer_type(t: UserType) -> wasmer::Type {
    match t {
        UserType::I32 => wasmer::Type::I32,
        UserType::I64 => wasmer::Type::I64,
        UserType::F32 => wasmer::Type::F32,
        UserType::F64 => wasmer::Type::F64,
    }
}

/// Runs the handler of `f` for the guest's `args`: counted and guarded like
/// every host function, with the deadline checked again when it returns.
fn call_user(
    env: &mut FunctionEnvMut<'_, HostState>,
    f: &UserFunction,
    args: &[wasmer::Value],
) -> HostResult<Vec<wasmer::Value>> {
    let user_fail = |message: String| Termination::HostError {
        namespace: USER_NAMESPACE,
        function: f.name().to_owned().into(),
        message,
    };
    let results = guarded(env, |env| {
        let state = env.data_mut();
        let args: Vec<UserVal> = args
            .iter()
            .map(|a| {
                from_wasmer(a).ok_or_else(|| user_fail("an argument of a reference type".into()))
            })
            .collect::<Result<_, _>>()?;
        let mut ext = state.extism.take().ok_or_else(missing)?;
        let mut call = UserCall {
            ext: &mut ext,
            tenant: &state.tags.tenant,
            plugin: &state.tags.plugin,
            config: &state.config,
            refused: None,
        };
        let r = f.call(&mut call, &args);
        let refused = call.refused.take();
        state.extism = Some(ext);
        if let Some(t) = refused {
            return Err(t);
        }
        if Instant::now() >= state.deadline {
            return Err(Termination::Deadline);
        }
        r.map_err(user_fail)
    })?;
    let types: Vec<UserType> = results.iter().map(|v| v.ty()).collect();
    if types != f.results() {
        return Err(Termination::Panic(format!(
            "host function `{}` returned ({}) but declares {}",
            f.name(),
            types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            f.signature()
        )));
    }
    Ok(results.into_iter().map(to_wasmer).collect())
}

/// Builds the registered function `f` of `extism:host/user` for one
/// invocation's store.
pub(crate) fn user_function(
    store: &mut Store,
    env: &FunctionEnv<HostState>,
    f: Arc<UserFunction>,
) -> Function {
    let ty = wasmer::FunctionType::new(
        f.params()
            .iter()
            .copied()
            .map(wasmer_type)
            .collect::<Vec<_>>(),
        f.results()
            .iter()
            .copied()
            .map(wasmer_type)
            .collect::<Vec<_>>(),
    );
    Function::new_with_env(store, env, ty, move |mut env, args| {
        call_user(&mut env, &f, args).map_err(|t| wasmer::RuntimeError::user(Box::new(t)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(bytes: u64) -> Arena {
        Arena::new(Arc::new(CallCeilings::new(bytes, 0)))
    }

    #[test]
    fn blocks_never_start_at_zero_and_keep_a_gap() {
        let mut a = arena(1 << 20);
        let p = a.alloc(3).unwrap();
        let q = a.alloc(8).unwrap();
        assert!(p >= BASE && q >= p + 3 + GAP, "{p} {q}");
        assert_eq!(a.alloc(0).unwrap(), 0);
        assert_eq!(a.handle(p).map(<[u8]>::len), Some(3));
        // Running off the end of a block is outside every block.
        assert!(a.load(p + 2, 2).is_none());
        assert!(!a.store(p + 3, &[1]));
        assert!(a.load(p + 3, 1).is_none());
    }

    #[test]
    fn overflowing_offsets_and_widths_are_outside_every_block() {
        let mut a = arena(1 << 20);
        let p = a.alloc(16).unwrap();
        assert!(a.load(u64::MAX, 8).is_none());
        assert!(a.load(p, u64::MAX).is_none());
        assert!(a.load(p + 8, u64::MAX - 7).is_none());
        assert!(!a.store(u64::MAX - 3, &[0; 8]));
        assert!(a.locate(p, 16).is_some());
    }

    #[test]
    fn the_arena_is_charged_and_bounded_by_the_ceiling() {
        let mut a = arena(1 << 16);
        let p = a.alloc(1 << 15).unwrap();
        assert_eq!(a.held, (1 << 15) + BLOCK_OVERHEAD);
        assert!(matches!(a.alloc(1 << 15), Err(Termination::Memory(_))));
        assert!(matches!(a.alloc(u64::MAX), Err(Termination::Memory(_))));
        assert!(a.free(p));
        assert_eq!(a.held, 0);
        // Freeing the top block gives its offsets back.
        assert_eq!(a.alloc(1).unwrap(), p);
    }

    #[test]
    fn shared_blocks_are_copied_on_write() {
        let mut a = arena(1 << 16);
        let input = Bytes::from_static(b"hello");
        let p = a.insert(5, || Data::Shared(input.clone())).unwrap();
        assert!(a.store(p, b"J"));
        assert_eq!(a.handle(p), Some(&b"Jello"[..]));
        assert_eq!(&input[..], b"hello");
    }
}
