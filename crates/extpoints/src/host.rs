//! The host side: a plugin loaded for the extension points it implements,
//! one typed Rust trait per point, and the lifecycle steps around them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bitvault_abi::Grants;
use bitvault_runtime::{
    CallContext, Digest, HttpRecord, InvokeError, LoadError, Metrics, Prepared, Runtime, WasmType,
};
use prost::Message;

use crate::contract::{self, Violation};
use crate::point::{MissingExports, Operation, Point};
use crate::proto::auth_provider::v1 as auth;
use crate::proto::common::v1::Context;
use crate::proto::content_transform::v1 as transform;
use crate::proto::event_handler::v1 as events;
use crate::proto::policy_hook::v1 as policy;
use crate::proto::search::v1 as search;
use crate::proto::storage_provider::v1 as storage;

/// Why a typed call failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtError {
    /// The plugin does not implement the point (it was not loaded for it).
    #[error("the plugin does not implement the extension point {point}")]
    NotImplemented {
        /// The point asked for.
        point: Point,
    },
    /// The invocation failed: a limit, a trap, the plugin's own error.
    #[error("{export} failed: {error}")]
    Invoke {
        /// The export called.
        export: &'static str,
        /// How it failed.
        error: Box<InvokeError>,
        /// What the call cost.
        metrics: Metrics,
    },
    /// The plugin's output is not the response message.
    #[error("{export} returned bytes that are not its response message: {source}")]
    Decode {
        /// The export called.
        export: &'static str,
        /// The protobuf decoder's complaint.
        source: prost::DecodeError,
    },
    /// The response decodes but breaks the contract.
    #[error("{export} broke its contract: {violation}")]
    Contract {
        /// The export called.
        export: &'static str,
        /// How.
        violation: Violation,
    },
}

/// A typed response with what the call cost.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The response message.
    pub message: T,
    /// The runtime's id of the invocation.
    pub invocation_id: u64,
    /// What the call cost.
    pub metrics: Metrics,
    /// The HTTP requests the plugin made.
    pub http: Vec<HttpRecord>,
}

/// Who a typed call is for: the runtime's [`CallContext`] (tenant, plugin,
/// limits, capabilities) plus what the request's `Context` message tells
/// the plugin: the host's time and the triggering path.
#[derive(Clone)]
pub struct Invocation {
    /// The runtime context of the call.
    pub call: CallContext,
    /// The host's time in milliseconds since the Unix epoch.
    pub now_unix_ms: i64,
    /// The triggering path; empty for none.
    pub path: String,
}

impl Invocation {
    /// A call at the current system time, without a path.
    pub fn new(call: CallContext) -> Invocation {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Invocation {
            call,
            now_unix_ms: now,
            path: String::new(),
        }
    }

    /// The same call at the fixed time `unix_ms` (for deterministic tests
    /// and replays).
    pub fn at(mut self, unix_ms: i64) -> Invocation {
        self.now_unix_ms = unix_ms;
        self
    }

    /// The same call triggered by the object at `path`.
    pub fn on_path(mut self, path: impl Into<String>) -> Invocation {
        self.path = path.into();
        self
    }

    /// The `Context` message for one request.
    fn context(&self) -> Context {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Context {
            tenant: self.call.tenant.to_string(),
            plugin: self.call.plugin.to_string(),
            invocation_id: format!("x{:016x}", NEXT.fetch_add(1, Ordering::Relaxed)),
            now_unix_ms: self.now_unix_ms,
            path: self.path.clone(),
        }
    }
}

/// A refusal to load a plugin for its points.
#[derive(Debug, thiserror::Error)]
pub enum ExtLoadError {
    /// The runtime refused the module (admission, grants, compilation).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The module claims a point but lacks one of its exports.
    #[error(transparent)]
    MissingExports(#[from] MissingExports),
    /// An export of a claimed point is not a `() -> i32` function.
    #[error("export {export} of extension point {point} must be a function () -> i32")]
    ExportType {
        /// The point.
        point: Point,
        /// The export.
        export: &'static str,
    },
}

/// A plugin prepared for the extension points it implements.
///
/// Cheap to clone; clones share the compiled module. Dropping the last
/// clone releases it, while calls already running keep their own
/// reference and finish.
#[derive(Debug, Clone)]
pub struct ExtPlugin {
    prepared: Prepared,
    points: Vec<Point>,
}

impl ExtPlugin {
    /// Takes a prepared plugin for `points`, checking that it exports every
    /// operation of each as a `() -> i32` function.
    ///
    /// # Errors
    /// [`ExtLoadError::MissingExports`] naming the point and every missing
    /// export, or [`ExtLoadError::ExportType`].
    pub fn new(prepared: Prepared, points: &[Point]) -> Result<ExtPlugin, ExtLoadError> {
        let report = prepared.module().report();
        let names: Vec<&str> = report.exports.iter().map(|e| e.name.as_str()).collect();
        crate::point::check_exports(names.iter().copied(), points)?;
        for &point in points {
            for op in point.operations() {
                let ok = report
                    .export_func(op.export)
                    .is_some_and(|t| t.params.is_empty() && t.results == [WasmType::I32]);
                if !ok {
                    return Err(ExtLoadError::ExportType {
                        point,
                        export: op.export,
                    });
                }
            }
        }
        let mut points = points.to_vec();
        points.sort_unstable();
        points.dedup();
        Ok(ExtPlugin { prepared, points })
    }

    /// Loads `wasm` under `grants` (admission, the grant check and
    /// compilation, or a cache hit) and checks it implements `points`.
    ///
    /// # Errors
    /// As [`Runtime::load`] and [`ExtPlugin::new`].
    pub fn load(
        runtime: &Runtime,
        wasm: &[u8],
        grants: &Grants,
        points: &[Point],
    ) -> Result<ExtPlugin, ExtLoadError> {
        ExtPlugin::new(runtime.load(wasm, grants)?, points)
    }

    /// The points it was loaded for.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The runtime's prepared plugin.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Encodes `req`, invokes the operation's export, decodes the response
    /// and checks it with `check`.
    fn call<Q: Message, R: Message + Default>(
        &self,
        op: &'static Operation,
        inv: &Invocation,
        req: &Q,
        check: impl FnOnce(&R) -> Result<(), Violation>,
    ) -> Result<Reply<R>, ExtError> {
        if !self.points.contains(&op.point) {
            return Err(ExtError::NotImplemented { point: op.point });
        }
        let outcome = self
            .prepared
            .invoke(op.export, req.encode_to_vec(), &inv.call);
        let output = outcome.result.map_err(|error| ExtError::Invoke {
            export: op.export,
            error: Box::new(error),
            metrics: outcome.metrics,
        })?;
        let message = R::decode(output.as_slice()).map_err(|source| ExtError::Decode {
            export: op.export,
            source,
        })?;
        check(&message).map_err(|violation| ExtError::Contract {
            export: op.export,
            violation,
        })?;
        Ok(Reply {
            message,
            invocation_id: outcome.invocation_id,
            metrics: outcome.metrics,
            http: outcome.http,
        })
    }
}

fn op(point: Point, i: usize) -> &'static Operation {
    &point.operations()[i]
}

/// Content transform: derive bytes from bytes.
pub trait ContentTransform {
    /// Transforms `req.content`; the request's context is set by the host.
    ///
    /// # Errors
    /// [`ExtError`].
    fn transform(
        &self,
        inv: &Invocation,
        req: transform::TransformRequest,
    ) -> Result<Reply<transform::TransformResponse>, ExtError>;
}

impl ContentTransform for ExtPlugin {
    fn transform(
        &self,
        inv: &Invocation,
        mut req: transform::TransformRequest,
    ) -> Result<Reply<transform::TransformResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(
            op(Point::ContentTransform, 0),
            inv,
            &req,
            contract::transform,
        )
    }
}

/// Event handler: the event types handled, and handling one event.
pub trait EventHandler {
    /// The event types the plugin handles.
    ///
    /// # Errors
    /// [`ExtError`].
    fn describe(&self, inv: &Invocation) -> Result<Reply<events::DescribeResponse>, ExtError>;

    /// Handles one event.
    ///
    /// # Errors
    /// [`ExtError`].
    fn handle(
        &self,
        inv: &Invocation,
        event: events::DomainEvent,
    ) -> Result<Reply<events::HandleResponse>, ExtError>;
}

impl EventHandler for ExtPlugin {
    fn describe(&self, inv: &Invocation) -> Result<Reply<events::DescribeResponse>, ExtError> {
        let req = events::DescribeRequest {
            context: Some(inv.context()),
        };
        self.call(op(Point::EventHandler, 0), inv, &req, contract::describe)
    }

    fn handle(
        &self,
        inv: &Invocation,
        event: events::DomainEvent,
    ) -> Result<Reply<events::HandleResponse>, ExtError> {
        let req = events::HandleRequest {
            context: Some(inv.context()),
            event: Some(event),
        };
        self.call(op(Point::EventHandler, 1), inv, &req, contract::handle)
    }
}

/// Storage provider: an object store.
pub trait StorageProvider {
    /// Stores an object.
    ///
    /// # Errors
    /// [`ExtError`].
    fn put(
        &self,
        inv: &Invocation,
        req: storage::PutRequest,
    ) -> Result<Reply<storage::PutResponse>, ExtError>;
    /// Reads an object or a range of it.
    ///
    /// # Errors
    /// [`ExtError`].
    fn get(
        &self,
        inv: &Invocation,
        req: storage::GetRequest,
    ) -> Result<Reply<storage::GetResponse>, ExtError>;
    /// Reads an object's metadata.
    ///
    /// # Errors
    /// [`ExtError`].
    fn head(
        &self,
        inv: &Invocation,
        req: storage::HeadRequest,
    ) -> Result<Reply<storage::HeadResponse>, ExtError>;
    /// Deletes an object.
    ///
    /// # Errors
    /// [`ExtError`].
    fn delete(
        &self,
        inv: &Invocation,
        req: storage::DeleteRequest,
    ) -> Result<Reply<storage::DeleteResponse>, ExtError>;
    /// Lists one page of objects.
    ///
    /// # Errors
    /// [`ExtError`].
    fn list(
        &self,
        inv: &Invocation,
        req: storage::ListRequest,
    ) -> Result<Reply<storage::ListResponse>, ExtError>;
}

impl StorageProvider for ExtPlugin {
    fn put(
        &self,
        inv: &Invocation,
        mut req: storage::PutRequest,
    ) -> Result<Reply<storage::PutResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::StorageProvider, 0), inv, &req, |r| {
            contract::put(&req, r)
        })
    }

    fn get(
        &self,
        inv: &Invocation,
        mut req: storage::GetRequest,
    ) -> Result<Reply<storage::GetResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::StorageProvider, 1), inv, &req, |r| {
            contract::get(&req, r)
        })
    }

    fn head(
        &self,
        inv: &Invocation,
        mut req: storage::HeadRequest,
    ) -> Result<Reply<storage::HeadResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::StorageProvider, 2), inv, &req, |r| {
            contract::head(&req, r)
        })
    }

    fn delete(
        &self,
        inv: &Invocation,
        mut req: storage::DeleteRequest,
    ) -> Result<Reply<storage::DeleteResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::StorageProvider, 3), inv, &req, |r| {
            contract::delete(&req, r)
        })
    }

    fn list(
        &self,
        inv: &Invocation,
        mut req: storage::ListRequest,
    ) -> Result<Reply<storage::ListResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::StorageProvider, 4), inv, &req, |r| {
            contract::list(&req, r)
        })
    }
}

/// Auth provider: a credential to an identity or a reasoned rejection.
pub trait AuthProvider {
    /// Authenticates a token.
    ///
    /// # Errors
    /// [`ExtError`].
    fn authenticate(
        &self,
        inv: &Invocation,
        req: auth::AuthenticateRequest,
    ) -> Result<Reply<auth::AuthenticateResponse>, ExtError>;
}

impl AuthProvider for ExtPlugin {
    fn authenticate(
        &self,
        inv: &Invocation,
        mut req: auth::AuthenticateRequest,
    ) -> Result<Reply<auth::AuthenticateResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::AuthProvider, 0), inv, &req, |r| {
            contract::authenticate(&req, r)
        })
    }
}

/// Policy hook: a contribution to an access decision.
pub trait PolicyHook {
    /// Evaluates one request for access.
    ///
    /// # Errors
    /// [`ExtError`].
    fn evaluate(
        &self,
        inv: &Invocation,
        req: policy::EvaluateRequest,
    ) -> Result<Reply<policy::EvaluateResponse>, ExtError>;
}

impl PolicyHook for ExtPlugin {
    fn evaluate(
        &self,
        inv: &Invocation,
        mut req: policy::EvaluateRequest,
    ) -> Result<Reply<policy::EvaluateResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::PolicyHook, 0), inv, &req, contract::evaluate)
    }
}

/// Search: text analysis and previews.
pub trait Search {
    /// Analyses text into tokens.
    ///
    /// # Errors
    /// [`ExtError`].
    fn analyze(
        &self,
        inv: &Invocation,
        req: search::AnalyzeRequest,
    ) -> Result<Reply<search::AnalyzeResponse>, ExtError>;
    /// Renders a preview.
    ///
    /// # Errors
    /// [`ExtError`].
    fn preview(
        &self,
        inv: &Invocation,
        req: search::PreviewRequest,
    ) -> Result<Reply<search::PreviewResponse>, ExtError>;
}

impl Search for ExtPlugin {
    fn analyze(
        &self,
        inv: &Invocation,
        mut req: search::AnalyzeRequest,
    ) -> Result<Reply<search::AnalyzeResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::Search, 0), inv, &req, |r| {
            contract::analyze(&req, r)
        })
    }

    fn preview(
        &self,
        inv: &Invocation,
        mut req: search::PreviewRequest,
    ) -> Result<Reply<search::PreviewResponse>, ExtError> {
        req.context = Some(inv.context());
        self.call(op(Point::Search, 1), inv, &req, |r| {
            contract::preview(&req, r)
        })
    }
}

/// A module found by [`discover`].
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The file name without `.wasm`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// SHA-256 of its bytes.
    pub digest: Digest,
    /// The points it implements, judged by its exports.
    pub points: Vec<Point>,
}

/// Discovery for one tenant on the embedded default: the modules in
/// `root/<tenant>/` (see [`discover`]). The tenant name is checked first,
/// so it cannot leave `root`: it must be non-empty, at most 128 bytes, of
/// ASCII letters, digits, `-`, `_` and `.`, and not `.` or `..`. A tenant
/// without a directory has no plugins.
///
/// # Errors
/// [`DiscoverError`] for a tenant name that is not allowed (kind
/// `InvalidInput`) or a directory that cannot be read.
pub fn discover_for_tenant(
    runtime: &Runtime,
    root: &Path,
    tenant: &str,
) -> Result<Vec<Discovered>, DiscoverError> {
    let allowed = !tenant.is_empty()
        && tenant.len() <= 128
        && tenant != "."
        && tenant != ".."
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !allowed {
        return Err(DiscoverError {
            path: root.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{}` is not a tenant name", tenant.escape_debug()),
            ),
        });
    }
    let dir = root.join(tenant);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    discover(runtime, &dir)
}

/// A plugin directory that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the plugin directory `{}`", path.display())]
pub struct DiscoverError {
    /// The directory.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

/// Discovery on the embedded default: every `*.wasm` file directly in
/// `dir`, with the points it implements, in file-name order. A file that is
/// not a valid module, or implements no point, is skipped (it cannot serve
/// any point); nothing is compiled.
///
/// # Errors
/// [`DiscoverError`] when the directory or a file cannot be read.
pub fn discover(runtime: &Runtime, dir: &Path) -> Result<Vec<Discovered>, DiscoverError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DiscoverError { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let wasm = std::fs::read(&path).map_err(err(&path))?;
        let Ok(report) = runtime.inspect(&wasm) else {
            continue;
        };
        let points = crate::point::implemented(report.exports.iter().map(|e| e.name.as_str()));
        if points.is_empty() {
            continue;
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.push(Discovered {
            name,
            digest: bitvault_runtime::sha256(&wasm),
            path,
            points,
        });
    }
    Ok(found)
}
