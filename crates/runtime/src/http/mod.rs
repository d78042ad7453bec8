//! The HTTP client of scoped HTTP: it sends a request only where the
//! network policy ([`crate::net`]) allows, and only within size and time
//! bounds. Plugins reach it through the `http_request` host function
//! (bound to an invocation with
//! [`CallContext::with_http`](crate::CallContext::with_http)); embedders
//! may use it directly.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bitvault_runtime::http::{HttpClient, HttpError, HttpLimits, HttpRequest};
//! use bitvault_runtime::net::{Allowlist, Method, NetError, StubResolver};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = HttpClient::new(None)?; // owns a one-worker tokio runtime
//! let policy = Allowlist::parse(["https://api.example.com/v1/"], [])?;
//! let request = HttpRequest {
//!     method: Method::Get,
//!     url: "https://evil.example/".into(),
//!     headers: vec![("accept".into(), b"application/json".to_vec())],
//!     body: Vec::new(),
//! };
//! let deadline = Instant::now() + Duration::from_secs(1);
//! let refused = client.send(&policy, &StubResolver::new(), request, &HttpLimits::standard(), deadline);
//! // Refused before any name is resolved or any connection made.
//! assert!(matches!(refused, Err(HttpError::Policy { hop: 0, source: NetError::NotAllowed { .. } })));
//! # Ok(()) }
//! ```
//!
//! # What the client guarantees
//! - **Only checked addresses.** Each hop's URL is checked with
//!   [`Allowlist::check_url`] (or [`Allowlist::check_redirect_as`]), its
//!   host resolved once through the caller's [`Resolver`] by
//!   [`Allowlist::resolve_checked_by`], which answers by the exchange's
//!   time bound, and the TCP connection goes to one of the returned socket
//!   addresses, tried in order, and to nothing else: the
//!   client never resolves a name itself, uses no proxy and reads no
//!   environment variable. The request line and `Host` header are built from
//!   the checked [`Target`], never from the caller's string; for `https` the
//!   certificate must name that host.
//! - **Redirects re-checked.** 301, 302, 303, 307 and 308 are followed by
//!   the client, never by the HTTP library, at most
//!   [`HttpLimits::max_redirects`] times. Each `Location` is checked like a
//!   new request and resolved and checked again; a refusal is
//!   [`HttpError::Policy`] with the hop that was refused. 303, and 301/302
//!   after a `POST`, continue as `GET` (a `HEAD` stays `HEAD`) without the
//!   body and its `Content-*` headers; a hop to another origin (scheme, host
//!   or port) drops `Authorization` and `Cookie`.
//! - **Bounded sizes.** The request body, the request headers, the
//!   response head and the response body each have a limit
//!   ([`HttpLimits`]). A response body is never buffered past its limit: a
//!   declared `Content-Length` over the limit fails before the body is read,
//!   and a body without one fails as soon as it would pass the limit. Below
//!   the client, the HTTP library reads ahead into a buffer of at most
//!   `max_header_bytes` + 8 KiB.
//! - **Bounded time.** Every step of [`HttpClient::send`], redirects
//!   included, ends by the earlier of `now + timeout` and the caller's
//!   deadline; the exchange runs as a tokio task with its own timer, and the
//!   calling thread also stops waiting at that instant (plus
//!   [`STOP_GRACE`]), so a runtime that cannot make progress cannot hold the
//!   caller either.
//! - **Client-owned framing.** The caller cannot set `Host`,
//!   `Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`,
//!   `TE`, `Trailer`, `Upgrade` or any `Proxy-*` header
//!   ([`HttpError::ForbiddenHeader`]). Each hop is one HTTP/1.1 request on a
//!   fresh connection sent with `Connection: close`; nothing is pooled, so no
//!   connection made for one grant serves another.
//!
//! # Runtime
//! [`HttpClient::new`] takes a tokio [`Handle`] to run on, or `None` to own
//! a runtime with one worker thread. [`HttpClient::send`] is synchronous:
//! call it from a thread that may block (a `spawn_blocking` thread, the
//! thread running a wasm call), **not** from an async task, where it would
//! block a worker thread (on a runtime with one worker, the exchange then
//! cannot run and fails at its time bound). It never calls `block_on`: the
//! exchange is spawned on the runtime and the calling thread waits for its
//! answer, bounded by the exchange's time bound, so a misplaced call cannot
//! panic. tokio offers no public way to tell a worker thread from a
//! blocking-pool thread (both see a current runtime and a current task), so
//! the misuse is documented rather than detected.
//!
//! # Not done yet
//! - Connection attempts share one time bound: a checked address that
//!   never answers can use it all before the next one is tried.
//! - HTTP/1.1 only (no HTTP/2), no response decompression, no cookies, no
//!   connection reuse; a 3xx response with a `Location` is always followed,
//!   never returned.

mod error;
mod exchange;

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LOCATION, CONTENT_TYPE,
    COOKIE, HOST, HeaderMap, HeaderName, HeaderValue,
};
use hyper::{Request, Uri, Version};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::runtime::Handle;
use tokio_rustls::TlsConnector;

use crate::net::{Allowlist, Host, Method, Resolver, Scheme, Target};

pub use error::{HttpError, Phase};

use error::excerpt;
use exchange::{Hop, HopOutcome, Progress, TimeBound, TlsHop};

/// How long past an exchange's time bound the calling thread keeps waiting
/// for the exchange's own timeout before giving up on it: the exchange's
/// timer normally fires first and names the phase precisely.
pub const STOP_GRACE: Duration = Duration::from_millis(50);

/// A request as the caller (a plugin, through `http_request`) asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute `http` or `https` URL, checked against the allowlist
    /// before anything else happens.
    pub url: String,
    /// Header names and values, in order; a repeated name sends each value.
    /// Forbidden names are listed on [`HttpError::ForbiddenHeader`].
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
}

/// The final response, after any redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case with their values, in the order
    /// received, except that the values of a repeated name come together,
    /// at the place of its first occurrence.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
    /// The URL that answered, after redirects, as it was checked.
    pub final_url: String,
}

/// The bounds of one [`HttpClient::send`]. There is no `Default`: start
/// from [`HttpLimits::standard`] and change what differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest response body, in bytes.
    pub max_response_bytes: usize,
    /// Most headers in the request, and in each response.
    pub max_headers: usize,
    /// Largest request headers (names and values, in bytes), and largest
    /// response head (status line and headers as received).
    pub max_header_bytes: usize,
    /// Time for the whole request, redirects included, from the call to
    /// the last byte of the response.
    pub timeout: Duration,
    /// Redirects followed before [`HttpError::TooManyRedirects`].
    pub max_redirects: u32,
}

impl HttpLimits {
    /// The standard limits: request body 1 MiB, response body 4 MiB, 64
    /// headers and 16 KiB of headers each way, a 10 s timeout (the
    /// caller's deadline usually ends the request earlier), and 5
    /// redirects.
    pub const fn standard() -> HttpLimits {
        HttpLimits {
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_headers: 64,
            max_header_bytes: 16 << 10,
            timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

/// The tokio runtime the exchanges run on: the embedder's, or one the
/// client created.
enum Executor {
    Shared(Handle),
    Owned(OwnedRuntime),
}

impl Executor {
    fn handle(&self) -> &Handle {
        match self {
            Executor::Shared(h) => h,
            Executor::Owned(o) => &o.handle,
        }
    }
}

/// A runtime the client created. Dropped with `shutdown_background`, which
/// neither blocks nor panics, so the last clone of a client may be dropped
/// anywhere, an async task included.
struct OwnedRuntime {
    handle: Handle,
    /// Taken only by `drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The scoped-HTTP client. Cheap to clone; clones share the runtime and
/// the TLS configuration.
///
/// Defaults: `https` trusts the Mozilla root certificates of
/// `webpki-roots` (compiled in; the system store is not read), TLS 1.2
/// and 1.3 through `rustls` with the `ring` provider, ALPN `http/1.1`; no
/// proxy; no cookies; no connection reuse.
#[derive(Clone)]
pub struct HttpClient {
    executor: Arc<Executor>,
    tls: TlsConnector,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runtime = match *self.executor {
            Executor::Shared(_) => "shared",
            Executor::Owned(_) => "owned",
        };
        f.debug_struct("HttpClient")
            .field("runtime", &runtime)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client whose exchanges run on `handle`'s runtime, or, with `None`,
    /// on a multi-thread runtime of one worker thread (named
    /// `bitvault-http`) that the client creates now and shuts down when its
    /// last clone is dropped.
    ///
    /// # Errors
    /// [`HttpError::Runtime`] if the owned runtime cannot start;
    /// [`HttpError::TlsConfig`] if the TLS configuration cannot be built.
    pub fn new(handle: Option<Handle>) -> Result<HttpClient, HttpError> {
        let executor = match handle {
            Some(h) => Executor::Shared(h),
            None => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .max_blocking_threads(1)
                    .thread_name("bitvault-http")
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(|source| HttpError::Runtime { source })?;
                Executor::Owned(OwnedRuntime {
                    handle: runtime.handle().clone(),
                    runtime: Some(runtime),
                })
            }
        };
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Ok(HttpClient {
            executor: Arc::new(executor),
            tls: tls_connector(roots)?,
        })
    }

    /// The same client trusting exactly `certificates` (DER-encoded
    /// certificates, each a trust anchor) for `https`, instead of the
    /// Mozilla roots: for a private certificate authority, and for tests.
    /// The runtime is shared with `self`.
    ///
    /// # Errors
    /// [`HttpError::TlsConfig`] if a certificate cannot be parsed as a
    /// trust anchor.
    pub fn with_trust_anchors<C: AsRef<[u8]>>(
        &self,
        certificates: impl IntoIterator<Item = C>,
    ) -> Result<HttpClient, HttpError> {
        let mut roots = rustls::RootCertStore::empty();
        for der in certificates {
            roots
                .add(CertificateDer::from(der.as_ref().to_vec()))
                .map_err(|source| HttpError::TlsConfig { source })?;
        }
        Ok(HttpClient {
            executor: self.executor.clone(),
            tls: tls_connector(roots)?,
        })
    }

    /// Sends `request` under `policy`, resolving names only through
    /// `resolver`, within `limits` and by `deadline`, following redirects
    /// as described in the [module documentation](self).
    ///
    /// Blocks the calling thread until the response is read or a bound is
    /// hit: call it from a thread that may block, not from an async task.
    ///
    /// # Errors
    /// Before anything is sent: [`HttpError::RequestBodyTooLarge`],
    /// [`HttpError::RequestHeadersTooLarge`],
    /// [`HttpError::InvalidHeaderName`], [`HttpError::InvalidHeaderValue`],
    /// [`HttpError::ForbiddenHeader`], and [`HttpError::Policy`] (hop 0)
    /// when the URL or every address of its host is not allowed.
    /// During the exchange: [`HttpError::Connect`], [`HttpError::Tls`],
    /// [`HttpError::Protocol`], [`HttpError::InvalidTarget`],
    /// [`HttpError::ResponseHeadTooLarge`],
    /// [`HttpError::ResponseBodyTooLarge`], [`HttpError::Timeout`] or
    /// [`HttpError::Deadline`] naming the [`Phase`], and
    /// [`HttpError::RuntimeStopped`]. On a redirect:
    /// [`HttpError::Policy`] with the hop that was refused,
    /// [`HttpError::BadLocation`] and [`HttpError::TooManyRedirects`].
    pub fn send(
        &self,
        policy: &Allowlist,
        resolver: &dyn Resolver,
        request: HttpRequest,
        limits: &HttpLimits,
        deadline: Instant,
    ) -> Result<HttpResponse, HttpError> {
        let bound = TimeBound::new(Instant::now(), limits.timeout, deadline);
        let HttpRequest {
            method,
            url,
            headers,
            body,
        } = request;
        if body.len() > limits.max_request_bytes {
            return Err(HttpError::RequestBodyTooLarge {
                size: body.len(),
                limit: limits.max_request_bytes,
            });
        }
        let mut headers = request_headers(&headers, limits)?;
        let mut body = Bytes::from(body);
        let mut target = policy
            .check_url(method.as_str(), &url)
            .map_err(|source| HttpError::Policy { hop: 0, source })?;
        let mut hop: u32 = 0;
        loop {
            bound.check(Phase::Resolve)?;
            let addrs = match policy.resolve_checked_by(&target, resolver, bound.end) {
                Ok(addrs) => addrs,
                Err(source) => {
                    // A lookup cut off by the bound is the bound's error.
                    bound.check(Phase::Resolve)?;
                    return Err(HttpError::Policy { hop, source });
                }
            };
            bound.check(Phase::Resolve)?;
            let outcome = self.run_hop(Hop {
                addrs,
                tls: self.tls_for(&target)?,
                request: build_request(&target, &headers, body.clone())?,
                max_headers: limits.max_headers,
                max_header_bytes: limits.max_header_bytes,
                max_response_bytes: limits.max_response_bytes,
                head: target.method() == Method::Head,
                bound,
            })?;
            let (status, location) = match outcome {
                HopOutcome::Response {
                    status,
                    headers,
                    body,
                } => {
                    return Ok(HttpResponse {
                        status: status.as_u16(),
                        headers: headers
                            .iter()
                            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                            .collect(),
                        body,
                        final_url: target.url().to_string(),
                    });
                }
                HopOutcome::Redirect { status, location } => (status, location),
            };
            let location = std::str::from_utf8(&location)
                .map_err(|_| HttpError::BadLocation { status, hop })?;
            if hop >= limits.max_redirects {
                return Err(HttpError::TooManyRedirects {
                    max: limits.max_redirects,
                    location: excerpt(location),
                });
            }
            hop += 1;
            let method = redirect_method(status, target.method());
            let next = policy
                .check_redirect_as(&target, method, location)
                .map_err(|source| HttpError::Policy { hop, source })?;
            if method != target.method() {
                body = Bytes::new();
                for name in [
                    CONTENT_TYPE,
                    CONTENT_ENCODING,
                    CONTENT_LANGUAGE,
                    CONTENT_LOCATION,
                ] {
                    headers.remove(name);
                }
            }
            if !same_origin(&target, &next) {
                headers.remove(AUTHORIZATION);
                headers.remove(COOKIE);
            }
            target = next;
        }
    }

    /// Runs one hop as a task on the runtime and waits for it, at most
    /// until the hop's time bound plus [`STOP_GRACE`].
    fn run_hop(&self, hop: Hop) -> Result<HopOutcome, HttpError> {
        let bound = hop.bound;
        let progress = Arc::new(Progress::new(Phase::Connect));
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.executor.handle().spawn({
            let progress = progress.clone();
            async move {
                // The receiver is gone only if the caller stopped waiting.
                let _ = tx.send(exchange::run(hop, progress).await);
            }
        });
        let wait = bound.end.saturating_duration_since(Instant::now()) + STOP_GRACE;
        match rx.recv_timeout(wait) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                task.abort();
                Err(bound.expired(progress.get()))
            }
            Err(RecvTimeoutError::Disconnected) => Err(HttpError::RuntimeStopped),
        }
    }

    /// The TLS part of a hop to `target`, if it is `https`.
    fn tls_for(&self, target: &Target) -> Result<Option<TlsHop>, HttpError> {
        if target.scheme() != Scheme::Https {
            return Ok(None);
        }
        let server_name = match target.host() {
            Host::Domain(name) => {
                ServerName::try_from(name.clone()).map_err(|_| HttpError::InvalidTarget {
                    url: excerpt(target.url().as_str()),
                })?
            }
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        };
        Ok(Some(TlsHop {
            connector: self.tls.clone(),
            server_name,
        }))
    }
}

/// A TLS connector trusting `roots`, with the `ring` provider and ALPN
/// `http/1.1`.
fn tls_connector(roots: rustls::RootCertStore) -> Result<TlsConnector, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| HttpError::TlsConfig { source })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Whether the client, not the caller, owns header `name`: framing,
/// connection management and the target host.
fn is_forbidden(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
    ) || name.starts_with("proxy-")
}

/// Checks the caller's headers against the limits and HTTP's syntax.
fn request_headers(
    list: &[(String, Vec<u8>)],
    limits: &HttpLimits,
) -> Result<HeaderMap, HttpError> {
    let bytes = list
        .iter()
        .map(|(n, v)| n.len().saturating_add(v.len()))
        .fold(0usize, usize::saturating_add);
    let too_large = || HttpError::RequestHeadersTooLarge {
        count: list.len(),
        bytes,
        max_headers: limits.max_headers,
        max_header_bytes: limits.max_header_bytes,
    };
    if list.len() > limits.max_headers || bytes > limits.max_header_bytes {
        return Err(too_large());
    }
    let mut map = HeaderMap::new();
    for (name, value) in list {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::InvalidHeaderName {
                name: excerpt(name),
            })?;
        if is_forbidden(&name) {
            return Err(HttpError::ForbiddenHeader {
                name: name.as_str().to_owned(),
            });
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| HttpError::InvalidHeaderValue {
            name: name.as_str().to_owned(),
        })?;
        map.try_append(name, value).map_err(|_| too_large())?;
    }
    Ok(map)
}

/// The request for one hop: origin-form target and `Host` from the checked
/// target, the caller's headers, `Connection: close`.
fn build_request(
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, HttpError> {
    let url = target.url();
    let invalid = || HttpError::InvalidTarget {
        url: excerpt(url.as_str()),
    };
    let uri: Uri = url[url::Position::BeforePath..url::Position::AfterQuery]
        .parse()
        .map_err(|_| invalid())?;
    let mut host = target.host().to_string();
    if target.port() != target.scheme().default_port() {
        host = format!("{host}:{}", target.port());
    }
    let host = HeaderValue::try_from(host).map_err(|_| invalid())?;

    let mut request = Request::new(Full::new(body));
    *request.method_mut() = match target.method() {
        Method::Get => hyper::Method::GET,
        Method::Head => hyper::Method::HEAD,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Delete => hyper::Method::DELETE,
        Method::Patch => hyper::Method::PATCH,
        Method::Options => hyper::Method::OPTIONS,
    };
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    let h = request.headers_mut();
    h.insert(HOST, host);
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    for (name, value) in headers {
        h.try_append(name.clone(), value.clone())
            .map_err(|_| invalid())?;
    }
    Ok(request)
}

/// The method after a redirect, as browsers and the fetch standard do:
/// 303 turns everything but `HEAD` into `GET`; 301 and 302 turn `POST`
/// into `GET`; 307 and 308 keep the method.
fn redirect_method(status: u16, method: Method) -> Method {
    match (status, method) {
        (303, Method::Head) => Method::Head,
        (303, _) | (301 | 302, Method::Post) => Method::Get,
        _ => method,
    }
}

/// Same scheme, host and port.
fn same_origin(a: &Target, b: &Target) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port() == b.port()
}
