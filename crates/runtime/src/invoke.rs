//! One invocation: a fresh store and instance, limits, deadline, outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitvault_abi::{INITIALIZE_EXPORT, LimitName, Limits, LogLevel, MEMORY_EXPORT};
use bytes::Bytes;
use wasmer::sys::NativeEngineExt;
use wasmer::{
    Extern, FunctionEnv, Instance, InstantiationError, RuntimeError, Store, TypedFunction,
};
use wasmer_middlewares::metering::{self, MeteringPoints};

use crate::admission::{Link, LinkedFn, START_EXPORT};
use crate::error::{Frame, InvokeError, TrapInfo};
use crate::events::{EventBinding, EventBus, EventLimits};
use crate::extism::{VarBinding, VarScope, VarStore};
use crate::extism_host::ExtismState;
use crate::host::{
    self, HostState, KvBinding, LogSink, PluginConfig, Tags, Termination, TracingLogSink,
};
use crate::kv::{KvError, KvQuotas, KvStore, Namespace};
use crate::tunables::{CallCeilings, CallTunables};
use crate::{Prepared, wasi};

/// Who an invocation runs for, under which limits, and where its log goes.
#[derive(Clone)]
pub struct CallContext {
    /// The tenant, for log tags and spans.
    pub tenant: Arc<str>,
    /// The plugin, for log tags and spans.
    pub plugin: Arc<str>,
    /// The limits asked for; each is bounded by the runtime's maxima.
    pub limits: Limits,
    /// Where the plugin's log messages go.
    pub log: Arc<dyn LogSink>,
    /// The plugin's install-time configuration, read with `config_get`.
    pub config: Arc<PluginConfig>,
    /// The key-value namespace of the `kv_*` functions, if any.
    pub kv: Option<KvBinding>,
    /// The bus `emit_event` publishes on, if any.
    pub events: Option<EventBinding>,
    /// The client `http_request` sends with, if any. Without one, a plugin
    /// granted HTTP gets `unavailable`.
    #[cfg(feature = "http-client")]
    pub http: Option<crate::HttpBinding>,
    /// The variables of Extism's `var_get` and `var_set`, if any. Without
    /// them, `var_get` finds nothing and `var_set` fails the call
    /// ("Vars are disabled by this host").
    pub vars: Option<VarBinding>,
}

impl CallContext {
    /// A context with tenant and plugin `"-"`, the given limits, the
    /// [`TracingLogSink`] and an empty configuration.
    pub fn new(limits: Limits) -> CallContext {
        CallContext {
            tenant: Arc::from("-"),
            plugin: Arc::from("-"),
            limits,
            log: Arc::new(TracingLogSink),
            config: Arc::new(PluginConfig::new()),
            kv: None,
            events: None,
            #[cfg(feature = "http-client")]
            http: None,
            vars: None,
        }
    }

    /// The same context with Extism variables in `store`, scoped to this
    /// context's tenant and plugin (set them first with
    /// [`CallContext::for_plugin`]) and bounded to `max_bytes` of keys and
    /// values ([`DEFAULT_MAX_VAR_BYTES`](crate::extism::DEFAULT_MAX_VAR_BYTES)
    /// is Extism's default). Variables persist across calls for as long as
    /// the store keeps them; `var_*` are linked only under the `kv` grant.
    pub fn with_vars(mut self, store: Arc<dyn VarStore>, max_bytes: u64) -> CallContext {
        self.vars = Some(VarBinding {
            store,
            scope: VarScope::new(self.tenant.clone(), self.plugin.clone()),
            max_bytes,
        });
        self
    }

    /// The same context sending `http_request`s with `client`, resolving
    /// every name through `resolver`, each request within `limits` and the
    /// invocation's deadline. What a plugin may reach is its grant's.
    #[cfg(feature = "http-client")]
    pub fn with_http(
        mut self,
        client: crate::http::HttpClient,
        resolver: Arc<dyn crate::net::Resolver>,
        limits: crate::http::HttpLimits,
    ) -> CallContext {
        self.http = Some(crate::HttpBinding {
            client,
            resolver,
            limits,
        });
        self
    }

    /// The same context publishing on `bus`, for an invocation that
    /// handles an event of causal depth `depth` (0 when not handling an
    /// event).
    pub fn with_events(
        mut self,
        bus: Arc<dyn EventBus>,
        depth: u32,
        limits: EventLimits,
    ) -> CallContext {
        self.events = Some(EventBinding { bus, depth, limits });
        self
    }

    /// The same context with a key-value namespace in `store`, bound to
    /// this context's tenant and plugin (set them first with
    /// [`CallContext::for_plugin`]) and narrowed to `path` when given.
    ///
    /// # Errors
    /// [`KvError`] when the tenant, plugin or path cannot name a namespace
    /// (empty, or too long).
    pub fn with_kv(
        mut self,
        store: Arc<dyn KvStore>,
        quotas: KvQuotas,
        path: Option<&str>,
    ) -> Result<CallContext, KvError> {
        let mut namespace = Namespace::new(&*self.tenant, &*self.plugin)?;
        if let Some(path) = path {
            namespace = namespace.narrowed(path)?;
        }
        self.kv = Some(KvBinding {
            store,
            namespace,
            quotas,
        });
        Ok(self)
    }

    /// The same context with another configuration.
    pub fn with_config(mut self, config: PluginConfig) -> CallContext {
        self.config = Arc::new(config);
        self
    }

    /// The same context for another tenant and plugin. A variable binding
    /// made before follows the new tenant and plugin.
    pub fn for_plugin(mut self, tenant: &str, plugin: &str) -> CallContext {
        self.tenant = Arc::from(tenant);
        self.plugin = Arc::from(plugin);
        if let Some(vars) = &mut self.vars {
            vars.scope = VarScope::new(self.tenant.clone(), self.plugin.clone());
        }
        self
    }

    /// The same context with another log sink.
    pub fn with_log(mut self, sink: Arc<dyn LogSink>) -> CallContext {
        self.log = sink;
        self
    }
}

/// What one invocation cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Fuel consumed (start function, `_initialize` and the export).
    pub fuel_used: u64,
    /// Wall time from the start of the invocation to its end.
    pub wall: Duration,
    /// Largest linear-memory size reached, in bytes (with, for Extism
    /// plugins, the kernel memory arena held on the host).
    pub memory_peak_bytes: u64,
    /// Size of the request.
    pub input_bytes: u64,
    /// Size of the response written.
    pub output_bytes: u64,
    /// Host-function calls made.
    pub host_calls: u64,
    /// Log messages accepted.
    pub log_lines: u32,
    /// Log bytes accepted.
    pub log_bytes: u64,
}

/// The result of one invocation: the response or a typed failure, and the
/// metrics either way.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The invocation's id, unique within its runtime.
    pub invocation_id: u64,
    /// The response bytes, or how the call failed.
    pub result: Result<Vec<u8>, InvokeError>,
    /// What the call cost.
    pub metrics: Metrics,
    /// Every HTTP request the plugin made, in order, with what became of
    /// it (requests refused before they could be counted, such as
    /// malformed heads, are not recorded).
    pub http: Vec<crate::HttpRecord>,
}

impl Outcome {
    /// Whether the invocation succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// What the call path needs from an instance once it exists.
struct Live {
    instance: Instance,
    /// The fuel budget set on the instance before any guest code ran.
    budget: u64,
}

pub(crate) fn invoke(p: &Prepared, export: &str, input: Bytes, ctx: &CallContext) -> Outcome {
    let started = Instant::now();
    let rt = &p.runtime;
    let invocation_id = rt.next_invocation_id();
    let limits = rt.config.limits.bound(&ctx.limits);
    let _span = tracing::debug_span!(
        "invoke",
        tenant = &*ctx.tenant,
        plugin = &*ctx.plugin,
        invocation = invocation_id,
        export
    )
    .entered();

    let mut metrics = Metrics {
        input_bytes: input.len() as u64,
        ..Metrics::default()
    };
    let fail = |e: InvokeError, mut m: Metrics| Outcome {
        invocation_id,
        result: Err(e),
        metrics: {
            m.wall = started.elapsed();
            m
        },
        http: Vec::new(),
    };

    let command = match p.check_export(export) {
        Ok(command) => command,
        Err(e) => return fail(e, metrics),
    };
    if input.len() as u64 > limits.input_bytes {
        return fail(
            InvokeError::LimitExceeded {
                limit: LimitName::InputBytes,
                value: limits.input_bytes,
            },
            metrics,
        );
    }

    let ceilings = Arc::new(CallCeilings::new(
        limits.memory_bytes,
        limits.table_elements,
    ));
    let mut engine = p.module.engine.clone();
    engine.set_tunables(CallTunables::new(ceilings.clone()));
    let mut store = Store::new(engine);
    let deadline = started + limits.deadline();
    let extism = if p.extism {
        match ExtismState::new(input.clone(), ceilings.clone(), ctx.vars.clone()) {
            Ok(state) => Some(Box::new(state)),
            Err(r) => {
                return fail(
                    InvokeError::MemoryLimit {
                        resource: r.resource,
                        requested: r.requested,
                        allowed: r.allowed,
                        trap: None,
                    },
                    metrics,
                );
            }
        }
    } else {
        None
    };
    let env = FunctionEnv::new(
        &mut store,
        HostState {
            input,
            staged: None,
            config: ctx.config.clone(),
            clock: p.clock,
            random: p.random,
            started,
            kv: ctx.kv.clone(),
            events: ctx.events.clone(),
            topics: p.topics.clone(),
            http: p.http.clone().map(|policy| {
                crate::host_http::HttpHost::new(
                    policy,
                    #[cfg(feature = "http-client")]
                    ctx.http.clone(),
                )
            }),
            output: Vec::new(),
            error_message: None,
            memory: None,
            limits,
            deadline,
            host_calls: 0,
            log_lines: 0,
            log_bytes: 0,
            tags: Tags {
                tenant: ctx.tenant.clone(),
                plugin: ctx.plugin.clone(),
                invocation_id,
                sink: ctx.log.clone(),
                min_level: p.log_min_level.unwrap_or(LogLevel::Error),
            },
            wasi: wasi::WasiState::new(p.stdio, p.log_min_level.is_some()),
            extism,
        },
    );
    let imports: Vec<Extern> = p
        .plan
        .iter()
        .map(|f| {
            Extern::Function(match f {
                Link::Host(LinkedFn::Native(h)) => host::function(&mut store, &env, *h),
                Link::Host(LinkedFn::Wasi(w)) => wasi::function(&mut store, &env, *w),
                Link::Host(LinkedFn::Extism(x)) => {
                    crate::extism_host::function(&mut store, &env, *x)
                }
                Link::Host(LinkedFn::Abort) => {
                    wasmer::Function::new_typed_with_env(&mut store, &env, host::abort)
                }
                Link::User(u) => crate::extism_host::user_function(&mut store, &env, u.clone()),
            })
        })
        .collect();

    let armed = rt.watchdog.arm(deadline, store.interrupter());
    let mut live: Option<Live> = None;
    let entry = Entry { export, command };
    let result = run(
        p, entry, &mut store, &env, &imports, &limits, deadline, &mut live,
    );
    drop(armed);

    // Metrics, whatever happened.
    let state = env.as_mut(&mut store);
    // Unterminated lines of WASI stdout and stderr end with the call.
    wasi::flush(state);
    metrics.output_bytes = state.output.len() as u64;
    metrics.host_calls = state.host_calls;
    metrics.log_lines = state.log_lines;
    metrics.log_bytes = state.log_bytes;
    metrics.memory_peak_bytes = ceilings.peak_bytes();
    // An Extism error message fails the call whatever the return code, as
    // in Extism.
    let extism_error = state.extism.as_ref().is_some_and(|e| e.error_is_set());
    let http = state
        .http
        .as_mut()
        .map(|h| std::mem::take(&mut h.records))
        .unwrap_or_default();
    let exhausted = match &live {
        Some(l) => match metering::get_remaining_points(&mut store, &l.instance) {
            MeteringPoints::Remaining(r) => {
                metrics.fuel_used = l.budget.saturating_sub(r);
                false
            }
            MeteringPoints::Exhausted => {
                metrics.fuel_used = l.budget;
                true
            }
        },
        None => false,
    };

    let result = match result {
        Ok(0) if extism_error => Err(InvokeError::PluginError {
            code: 0,
            message: env.as_mut(&mut store).error_message.take(),
        }),
        Ok(0) => Ok(std::mem::take(&mut env.as_mut(&mut store).output)),
        Ok(code) => Err(InvokeError::PluginError {
            code,
            message: env.as_mut(&mut store).error_message.take(),
        }),
        Err(Failure::Early(e)) => Err(e),
        Err(Failure::Terminated(t)) => Err(t.into_error(&limits)),
        Err(Failure::Instantiate(message)) => Err(match ceilings.refusal() {
            Some(r) => InvokeError::MemoryLimit {
                resource: r.resource,
                requested: r.requested,
                allowed: r.allowed,
                trap: None,
            },
            None => InvokeError::Trap(TrapInfo {
                code: None,
                message: format!("instantiation failed: {message}"),
                frames: Vec::new(),
            }),
        }),
        Err(Failure::Runtime(err)) => Err(match classify(err, &limits, exhausted, &ceilings) {
            // A guest that set an error message before trapping (the
            // Rust PDK does on a panic) had something to say about it.
            InvokeError::Trap(mut t) => {
                if let Some(m) = env.as_mut(&mut store).error_message.take() {
                    t.message = format!("{}; the plugin's error message: {m}", t.message);
                }
                InvokeError::Trap(t)
            }
            other => other,
        }),
    };
    metrics.wall = started.elapsed();
    if let Err(e) = &result {
        tracing::debug!(kind = e.kind().name(), error = %e, "invocation failed");
    }
    Outcome {
        invocation_id,
        result,
        metrics,
        http,
    }
}

enum Failure {
    /// Classified before or outside guest execution.
    Early(InvokeError),
    /// A host function ended the call.
    Terminated(Termination),
    /// Instantiation failed before any guest code ran (a ceiling refused a
    /// declared memory or table, or linking failed).
    Instantiate(String),
    /// A runtime error from guest execution, to classify.
    Runtime(RuntimeError),
}

/// The export to run and how to call it.
#[derive(Clone, Copy)]
struct Entry<'a> {
    export: &'a str,
    /// A WASI command's `_start`, `() -> ()`, rather than `() -> i32`.
    command: bool,
}

/// What a guest call's error means: WASI `proc_exit` is the call's result
/// code, a host function's [`Termination`] is already classified, anything
/// else is classified later.
fn ended(e: RuntimeError) -> Result<i32, Failure> {
    match e.downcast::<Termination>() {
        Ok(Termination::Exit(code)) => Ok(code),
        Ok(t) => Err(Failure::Terminated(t)),
        Err(e) => Err(Failure::Runtime(e)),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    p: &Prepared,
    entry: Entry<'_>,
    store: &mut Store,
    env: &FunctionEnv<HostState>,
    imports: &[Extern],
    limits: &Limits,
    deadline: Instant,
    live: &mut Option<Live>,
) -> Result<i32, Failure> {
    let instance = match Instance::new_by_index(store, &p.module.module, imports) {
        Ok(i) => i,
        Err(InstantiationError::Start(e)) => return ended(e),
        Err(e) => return Err(Failure::Instantiate(e.to_string())),
    };
    metering::set_remaining_points(store, &instance, limits.fuel);
    env.as_mut(store).memory = instance.exports.get_memory(MEMORY_EXPORT).ok().cloned();
    *live = Some(Live {
        instance: instance.clone(),
        budget: limits.fuel,
    });

    let deadline_passed = || {
        Err(Failure::Early(InvokeError::Deadline {
            deadline_ms: limits.deadline_ms,
        }))
    };
    // A `proc_exit` in the start function or `_initialize` ends the call
    // with its code, as it would end a process.
    for (run_it, name) in [
        (p.module.report.has_start, START_EXPORT),
        (p.has_initialize, INITIALIZE_EXPORT),
    ] {
        if !run_it {
            continue;
        }
        if Instant::now() >= deadline {
            return deadline_passed();
        }
        let f: TypedFunction<(), ()> = instance
            .exports
            .get_typed_function(store, name)
            .map_err(|e| Failure::Early(internal(e)))?;
        if let Err(e) = f.call(store) {
            return ended(e);
        }
    }
    if Instant::now() >= deadline {
        return deadline_passed();
    }
    if entry.command {
        let f: TypedFunction<(), ()> = instance
            .exports
            .get_typed_function(store, entry.export)
            .map_err(|e| Failure::Early(internal(e)))?;
        return f.call(store).map_or_else(ended, |()| Ok(0));
    }
    let f: TypedFunction<(), i32> = instance
        .exports
        .get_typed_function(store, entry.export)
        .map_err(|e| Failure::Early(internal(e)))?;
    f.call(store).or_else(ended)
}

/// An export that admission saw but the instance does not offer as typed:
/// reported as a trap with the engine's words.
fn internal(e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Trap(TrapInfo {
        code: None,
        message: e.to_string(),
        frames: Vec::new(),
    })
}

fn classify(
    err: RuntimeError,
    limits: &Limits,
    fuel_exhausted: bool,
    ceilings: &CallCeilings,
) -> InvokeError {
    let code = err.clone().to_trap();
    if code == Some(wasmer::sys::vm::TrapCode::HostInterrupt) {
        return InvokeError::Deadline {
            deadline_ms: limits.deadline_ms,
        };
    }
    if fuel_exhausted {
        return InvokeError::FuelExhausted { limit: limits.fuel };
    }
    let trap = trap_info(&err, code);
    if let Some(r) = ceilings.refusal() {
        return InvokeError::MemoryLimit {
            resource: r.resource,
            requested: r.requested,
            allowed: r.allowed,
            trap: Some(trap),
        };
    }
    if code == Some(wasmer::sys::vm::TrapCode::StackOverflow) {
        return InvokeError::StackExhausted;
    }
    InvokeError::Trap(trap)
}

fn trap_info(err: &RuntimeError, code: Option<wasmer::sys::vm::TrapCode>) -> TrapInfo {
    TrapInfo {
        code: code.map(|c| snake_case(&format!("{c:?}"))),
        message: err.message(),
        frames: err
            .trace()
            .iter()
            .map(|f| Frame {
                module: f.module_name().to_owned(),
                func_index: f.func_index(),
                func_name: f.function_name().map(str::to_owned),
                module_offset: f.module_offset(),
            })
            .collect(),
    }
}

fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn trap_codes_become_snake_case() {
        assert_eq!(
            super::snake_case("HeapAccessOutOfBounds"),
            "heap_access_out_of_bounds"
        );
        assert_eq!(super::snake_case("StackOverflow"), "stack_overflow");
    }
}
