//! The JSON the CLI prints with `--json` (outcome format version 1, see
//! `docs/cli.md`), and [`Failure`], the one description of a failed load or
//! invocation from which the JSON error object, the plain `error:` line and
//! the exit status are all derived.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bitvault_runtime::{
    DeniedImport, DenyReason, ErrorKind, ExternDesc, InvalidModule, InvokeError, LoadError,
    Metrics, ModuleReport, TrapInfo,
};
use serde_json::{Map, Value, json};

use crate::{bench, exit, inspect};

/// A failed load or invocation: its kind, a human message and the kind's
/// structured fields.
#[derive(Debug, Clone)]
pub struct Failure {
    kind: ErrorKind,
    message: String,
    fields: Map<String, Value>,
}

impl Failure {
    fn new(kind: ErrorKind, message: String, fields: Value) -> Failure {
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Failure {
            kind,
            message,
            fields,
        }
    }

    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human description, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        exit::code(self.kind)
    }

    /// Describes how an invocation failed.
    pub fn from_invoke(e: &InvokeError) -> Failure {
        let fields = match e {
            InvokeError::FuelExhausted { limit } => json!({ "limit": limit }),
            InvokeError::MemoryLimit {
                resource,
                requested,
                allowed,
                trap,
            } => json!({
                "resource": resource.name(),
                "requested": requested,
                "allowed": allowed,
                "trap": trap.as_ref().map(trap_json),
            }),
            InvokeError::LimitExceeded { limit, value } => {
                json!({ "limit": limit.name(), "value": value })
            }
            InvokeError::Deadline { deadline_ms } => json!({ "deadline_ms": deadline_ms }),
            InvokeError::Trap(t) => {
                let fields = json!({ "code": t.code, "frames": frames(t) });
                return Failure::new(e.kind(), t.to_string(), fields);
            }
            InvokeError::StackExhausted | InvokeError::HostPanic { .. } => json!({}),
            InvokeError::OutputLimit { limit, attempted } => {
                json!({ "limit": limit, "attempted": attempted })
            }
            InvokeError::Load(load) => return Failure::from_load(load),
            InvokeError::MissingExport { export, found } => {
                json!({ "export": export, "found": found })
            }
            // The plugin's own message replaces the host's description.
            InvokeError::PluginError { code, message } => {
                json!({ "code": code, "message": message })
            }
        };
        Failure::new(e.kind(), e.to_string(), fields)
    }

    /// Describes why a module was refused at load time.
    pub fn from_load(e: &LoadError) -> Failure {
        match e {
            LoadError::CapabilityDenied { imports } => {
                let imports: Vec<Value> = imports.iter().map(denied_json).collect();
                Failure::new(e.kind(), e.to_string(), json!({ "imports": imports }))
            }
            LoadError::InvalidGrant { capability, reason } => Failure::new(
                e.kind(),
                e.to_string(),
                json!({
                    "imports": [],
                    "grant": { "capability": capability.name(), "reason": reason },
                }),
            ),
            LoadError::InvalidModule(m) => {
                let fields = match m {
                    InvalidModule::Malformed { offset, .. } => {
                        json!({ "reason": "malformed", "offset": offset })
                    }
                    InvalidModule::Validation { offset, .. } => {
                        json!({ "reason": "validation", "offset": offset })
                    }
                    InvalidModule::AdmissionLimit { limit, value, max } => json!({
                        "reason": "admission_limit",
                        "limit": limit.name(),
                        "value": value,
                        "max": max,
                    }),
                    InvalidModule::Unsupported { feature } => {
                        json!({ "reason": "unsupported", "feature": feature })
                    }
                    InvalidModule::ReservedExport { name } => {
                        json!({ "reason": "reserved_export", "name": name })
                    }
                    InvalidModule::ExportType {
                        name,
                        expected,
                        found,
                    } => json!({
                        "reason": "export_type",
                        "name": name,
                        "expected": expected,
                        "found": found,
                    }),
                    InvalidModule::Compile { .. } => json!({ "reason": "compile" }),
                };
                Failure::new(e.kind(), m.to_string(), fields)
            }
        }
    }

    /// Describes WebAssembly text that does not parse: `invalid_module`,
    /// reason `malformed`, without an offset.
    pub fn unparsable_text(e: &wat::Error) -> Failure {
        Failure::new(
            ErrorKind::InvalidModule,
            format!("cannot parse the WebAssembly text: {e}"),
            json!({ "reason": "malformed" }),
        )
    }

    /// The JSON error object: `kind`, `message`, then the structured fields
    /// (for `plugin_error`, `message` is the plugin's own, or null).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("kind".into(), self.kind.name().into());
        map.insert("message".into(), self.message.clone().into());
        map.extend(self.fields.clone());
        Value::Object(map)
    }
}

fn trap_json(t: &TrapInfo) -> Value {
    json!({ "code": t.code, "message": t.message, "frames": frames(t) })
}

fn frames(t: &TrapInfo) -> Vec<Value> {
    t.frames
        .iter()
        .map(|f| {
            json!({
                "module": f.module,
                "func_index": f.func_index,
                "func_name": f.func_name,
                "module_offset": f.module_offset,
            })
        })
        .collect()
}

fn denied_json(d: &DeniedImport) -> Value {
    let mut v = json!({ "module": d.module, "name": d.name });
    let extra = match &d.reason {
        DenyReason::Unknown => json!({ "reason": "unknown" }),
        DenyReason::NotGranted { capability } => {
            json!({ "reason": "not_granted", "capability": capability.name() })
        }
        DenyReason::WrongSignature { expected, found } => {
            json!({ "reason": "wrong_signature", "expected": expected, "found": found })
        }
        DenyReason::NotAFunction { kind } => json!({ "reason": "not_a_function", "kind": kind }),
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

/// Whole microseconds, saturating.
pub fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub fn metrics(m: &Metrics) -> Value {
    json!({
        "fuel_used": m.fuel_used,
        "wall_us": micros(m.wall),
        "memory_peak_bytes": m.memory_peak_bytes,
        "input_bytes": m.input_bytes,
        "output_bytes": m.output_bytes,
        "host_calls": m.host_calls,
        "log_lines": m.log_lines,
        "log_bytes": m.log_bytes,
    })
}

/// The outcome object of `run --json` (and of any command whose module is
/// refused before running, with `invocation_id` 0 and zero metrics).
pub fn outcome(invocation_id: u64, result: &Result<Vec<u8>, Failure>, m: &Metrics) -> Value {
    let output: &[u8] = result.as_deref().unwrap_or_default();
    json!({
        "ok": result.is_ok(),
        "output_base64": BASE64.encode(output),
        "error": result.as_ref().err().map(Failure::to_json),
        "metrics": metrics(m),
        "invocation_id": invocation_id,
    })
}

/// The object of `inspect --json`.
pub fn report(r: &ModuleReport) -> Value {
    let signature = |d: &ExternDesc| match d {
        ExternDesc::Func(t) => Some(t.to_string()),
        _ => None,
    };
    let imports: Vec<Value> = r
        .imports
        .iter()
        .map(|i| {
            let capability = inspect::capability(i);
            json!({
                "module": i.module,
                "name": i.name,
                "kind": i.desc.kind(),
                "signature": signature(&i.desc),
                // WASI shim functions link under any grants.
                "grantable": capability.is_some()
                    || inspect::wasi(i).is_some()
                    || inspect::abort(i),
                "capability": capability.map(|k| k.name()),
            })
        })
        .collect();
    let exports: Vec<Value> = r
        .exports
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "kind": e.desc.kind(),
                "signature": signature(&e.desc),
                "invocable": inspect::invocable(&e.name, &e.desc),
            })
        })
        .collect();
    let memories: Vec<Value> = r
        .memories
        .iter()
        .map(|m| {
            json!({
                "min_pages": m.min_pages,
                "max_pages": m.max_pages,
                "shared": m.shared,
                "memory64": m.memory64,
            })
        })
        .collect();
    let tables: Vec<Value> = r
        .tables
        .iter()
        .map(|t| json!({ "min": t.min, "max": t.max }))
        .collect();
    json!({
        "ok": true,
        "error": null,
        "size": r.size,
        "abi": r.namespaces(),
        "speaks": inspect::speaks(r),
        "needs": inspect::needs(r).iter().map(|k| k.name()).collect::<Vec<_>>(),
        "extension_points": inspect::points(r),
        "imports": imports,
        "exports": exports,
        "memories": memories,
        "tables": tables,
        "functions": r.functions,
        "has_start": r.has_start,
    })
}

/// The object of `bench --json`.
pub fn bench(s: &bench::Summary) -> Value {
    let failures: Map<String, Value> = s
        .failures
        .iter()
        .map(|(kind, n)| (kind.name().to_owned(), (*n).into()))
        .collect();
    json!({
        "ok": s.first_failure.is_none(),
        "error": s.first_failure.as_ref().map(Failure::to_json),
        "calls": s.calls,
        "failed": s.failed(),
        "failures": failures,
        "load_us": s.load_us,
        "latency_us": {
            "p50": s.latency.p50,
            "p90": s.latency.p90,
            "p99": s.latency.p99,
            "max": s.latency.max,
            "mean": s.latency.mean,
        },
        "fuel_per_call_median": s.fuel_median,
    })
}
