//! Conformance suites for the BitVault Plugins extension points: for each
//! point, cases that any plugin implementing it must pass, whatever it does
//! inside. A case drives the plugin through the typed host API
//! (`bitvault-extpoints`), so every response is also checked against the
//! contract's invariants, and then asserts the behaviour the contract
//! promises: statuses, ranges, pagination, idempotence, sanitised output,
//! refusals of malformed requests.
//!
//! ```no_run
//! use bitvault_conformance::{Subject, run, table};
//! use bitvault_extpoints::Point;
//! use bitvault_runtime::{Runtime, RuntimeConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig::new())?;
//! let subject = Subject::new("textsearch", std::fs::read("textsearch.wasm")?);
//! let report = run(&runtime, &subject, &[Point::Search])?;
//! println!("{}", table(&report));
//! assert!(report.passed());
//! # Ok(()) }
//! ```
//!
//! Each case runs with a fresh key-value namespace and event bus, a fixed
//! context time ([`Subject::now_unix_ms`]), and the subject's grants,
//! configuration and limits. `cargo xtask
//! conformance` runs the suites over the reference plugins (and over any
//! module given on its command line) and prints one table per plugin.
#![forbid(unsafe_code)]

pub mod reference;
mod suites;

use std::fmt::Write as _;
use std::sync::Arc;

use bitvault_abi::{EventsGrant, Grants, LimitPolicy, Limits};
use bitvault_extpoints::{ExtLoadError, ExtPlugin, Invocation, Point};
use bitvault_runtime::events::{EventBus, EventLimits, InProcessBus};
use bitvault_runtime::kv::{KvQuotas, MemoryKv};
use bitvault_runtime::{CallContext, InvokeError, Outcome, PluginConfig, Runtime};

/// A sample input for a content transform that the plugin is expected to
/// accept.
#[derive(Debug, Clone)]
pub struct TransformSample {
    /// The content's media type.
    pub media_type: String,
    /// The content.
    pub content: Vec<u8>,
    /// Transform parameters.
    pub parameters: Vec<(String, String)>,
}

/// A credential an auth provider is expected to accept at the subject's
/// time, and the subject it must name.
#[derive(Debug, Clone)]
pub struct TokenSample {
    /// The credential.
    pub token: String,
    /// The subject of the identity it yields.
    pub subject: String,
    /// A time (ms since the epoch) at which it has expired, if it expires.
    pub expired_at_unix_ms: Option<i64>,
}

/// The plugin under test and how to run it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// A name for the report.
    pub name: String,
    /// The module.
    pub wasm: Vec<u8>,
    /// Its grants: by default the core ABI, a KV namespace and the event
    /// topics in [`Subject::topics`].
    pub grants: Grants,
    /// Its install-time configuration.
    pub config: PluginConfig,
    /// The limits of every call (bounded by the runtime's maxima); by
    /// default the runtime's defaults. A plugin's suites pass under the
    /// limits it would be installed with.
    pub limits: Limits,
    /// The context time of every case.
    pub now_unix_ms: i64,
    /// Inputs a content transform must accept; the sample-based cases fail
    /// without one.
    pub transform_samples: Vec<TransformSample>,
    /// Credentials an auth provider must accept; the sample-based cases fail
    /// without one.
    pub token_samples: Vec<TokenSample>,
}

/// The context time of the suites by default: 2026-01-01T10:00:00Z.
pub const DEFAULT_NOW_UNIX_MS: i64 = 1_767_261_600_000;

impl Subject {
    /// `wasm` named `name`, with the default grants (the core ABI and a KV
    /// namespace), no configuration, the default time and no samples.
    pub fn new(name: impl Into<String>, wasm: Vec<u8>) -> Subject {
        Subject {
            name: name.into(),
            wasm,
            grants: Grants::core_with_kv(),
            config: PluginConfig::new(),
            limits: LimitPolicy::standard().default,
            now_unix_ms: DEFAULT_NOW_UNIX_MS,
            transform_samples: Vec::new(),
            token_samples: Vec::new(),
        }
    }

    /// The same subject, allowed to emit on `topics` (patterns as in
    /// grants).
    pub fn topics(mut self, topics: &[&str]) -> Subject {
        self.grants.events = Some(EventsGrant {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        });
        self
    }

    /// The same subject with a fuel budget of `fuel` per call.
    pub fn fuel(mut self, fuel: u64) -> Subject {
        self.limits.fuel = fuel;
        self
    }

    /// The same subject with configuration `key` = `value`.
    pub fn config(mut self, key: &str, value: &str) -> Subject {
        self.config.insert(key.into(), value.into());
        self
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The point whose suite it belongs to.
    pub point: Point,
    /// The case's name.
    pub case: &'static str,
    /// `Err` with the reason when it failed.
    pub outcome: Result<(), String>,
}

/// The results for one plugin.
#[derive(Debug, Clone)]
pub struct Report {
    /// The subject's name.
    pub plugin: String,
    /// Every case run, in suite order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_ok())
    }

    /// The failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| r.outcome.is_err())
    }
}

/// What a case has to work with: the plugin, a fresh namespace and bus,
/// and the subject's samples.
pub struct Ctx<'a> {
    plugin: &'a ExtPlugin,
    subject: &'a Subject,
    inv: Invocation,
}

impl<'a> Ctx<'a> {
    /// The invocation of every call of this case.
    pub fn inv(&self) -> &Invocation {
        &self.inv
    }

    /// The same invocation at another context time.
    pub fn inv_at(&self, unix_ms: i64) -> Invocation {
        self.inv.clone().at(unix_ms)
    }

    /// The plugin.
    pub fn plugin(&self) -> &ExtPlugin {
        self.plugin
    }

    /// The subject.
    pub fn subject(&self) -> &'a Subject {
        self.subject
    }

    /// Calls an export with raw bytes as the request.
    pub fn raw(&self, export: &str, input: Vec<u8>) -> Outcome {
        self.plugin.prepared().invoke(export, input, &self.inv.call)
    }
}

/// One case of a suite.
pub struct Case {
    /// Its name, in snake case.
    pub name: &'static str,
    /// The case: `Err` with a readable reason when the plugin fails it.
    pub run: fn(&Ctx<'_>) -> Result<(), String>,
}

/// The cases of `point`'s suite.
pub fn suite(point: Point) -> &'static [Case] {
    suites::of(point)
}

/// Runs the suites of `points` against `subject`. The module is loaded
/// once for all of them (a load failure is the error); each case gets a
/// fresh KV namespace and event bus.
///
/// # Errors
/// [`ExtLoadError`] when the module cannot be loaded for the points.
pub fn run(runtime: &Runtime, subject: &Subject, points: &[Point]) -> Result<Report, ExtLoadError> {
    let plugin = ExtPlugin::load(runtime, &subject.wasm, &subject.grants, points)?;
    let mut results = Vec::new();
    for &point in points {
        for case in suite(point) {
            let call = CallContext::new(subject.limits)
                .for_plugin("conformance", &subject.name)
                .with_config(subject.config.clone())
                .with_events(
                    Arc::new(InProcessBus::new(1024)) as Arc<dyn EventBus>,
                    0,
                    EventLimits::standard(),
                );
            let call = match call.with_kv(Arc::new(MemoryKv::new()), KvQuotas::standard(), None) {
                Ok(c) => c,
                Err(e) => {
                    results.push(CaseResult {
                        point,
                        case: case.name,
                        outcome: Err(format!("cannot bind a KV namespace: {e}")),
                    });
                    continue;
                }
            };
            let ctx = Ctx {
                plugin: &plugin,
                subject,
                inv: Invocation::new(call).at(subject.now_unix_ms),
            };
            let outcome = (case.run)(&ctx);
            results.push(CaseResult {
                point,
                case: case.name,
                outcome,
            });
        }
    }
    Ok(Report {
        plugin: subject.name.clone(),
        results,
    })
}

/// The report as a table: one row per case with its point, `pass` or
/// `FAIL`, and the reason; then a summary line.
pub fn table(report: &Report) -> String {
    let width = report
        .results
        .iter()
        .map(|r| r.point.name().len() + 1 + r.case.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(out, "{}", report.plugin);
    let _ = writeln!(out, "  {:<width$}  result  reason", "case");
    for r in &report.results {
        let name = format!("{}/{}", r.point.name(), r.case);
        let (verdict, reason) = match &r.outcome {
            Ok(()) => ("pass", ""),
            Err(reason) => ("FAIL", reason.as_str()),
        };
        let _ = writeln!(out, "  {name:<width$}  {verdict:<6}  {reason}");
    }
    let failed = report.failures().count();
    let _ = writeln!(
        out,
        "  {} cases, {} passed, {failed} failed",
        report.results.len(),
        report.results.len() - failed
    );
    out
}

/// Whether an outcome is a plugin error (not a trap, limit or success).
pub(crate) fn is_plugin_error(o: &Outcome) -> bool {
    matches!(o.result, Err(InvokeError::PluginError { .. }))
}

/// Describes an outcome in a few words, for reasons.
pub(crate) fn describe(o: &Outcome) -> String {
    match &o.result {
        Ok(out) => format!("success with {} bytes", out.len()),
        Err(e) => format!("{} ({e})", e.kind().name()),
    }
}
