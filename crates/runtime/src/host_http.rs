//! The `http_request` host function: it decodes the guest's request head,
//! counts the request against the grant, sends it through the scoped-HTTP
//! client (which applies the network policy on every hop) and stages the
//! response. Each request leaves an [`HttpRecord`] on the [`Outcome`].
//!
//! [`Outcome`]: crate::Outcome

use std::sync::Arc;
use std::time::Duration;

use bitvault_abi::ErrorCode;
use wasmer::FunctionEnvMut;

use crate::host::{HostResult, HostState, code, guarded};
use crate::net::HttpPolicy;

/// What the host did with one `http_request`: the host-side record that
/// accompanies the code the guest saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRecord {
    /// The method as the guest gave it (at most 16 bytes).
    pub method: String,
    /// The URL without credentials: the final URL after redirects when a
    /// response arrived, else the URL as the guest gave it (at most 512
    /// bytes).
    pub url: String,
    /// The final response's status, when one arrived.
    pub status: Option<u16>,
    /// The code the guest saw, when the request failed.
    pub code: Option<ErrorCode>,
    /// Why it failed, with every cause in the chain.
    pub error: Option<String>,
    /// From the call to its answer.
    pub elapsed: Duration,
}

/// The most bytes of a request head beyond its header bytes: the method,
/// the URL and the framing.
#[cfg(feature = "http-client")]
const HEAD_OVERHEAD: usize = 16 * 1024;

/// The per-invocation HTTP state. Without the `http-client` feature only
/// its presence matters: every request answers `unavailable`.
#[cfg_attr(not(feature = "http-client"), allow(dead_code))]
pub(crate) struct HttpHost {
    pub(crate) policy: Arc<HttpPolicy>,
    #[cfg(feature = "http-client")]
    pub(crate) binding: Option<HttpBinding>,
    /// Requests counted against `policy.max_requests`.
    pub(crate) sent: u32,
    /// Whether a request past the count was already recorded.
    pub(crate) quota_recorded: bool,
    pub(crate) records: Vec<HttpRecord>,
}

impl HttpHost {
    pub(crate) fn new(
        policy: Arc<HttpPolicy>,
        #[cfg(feature = "http-client")] binding: Option<HttpBinding>,
    ) -> HttpHost {
        HttpHost {
            policy,
            #[cfg(feature = "http-client")]
            binding,
            sent: 0,
            quota_recorded: false,
            records: Vec::new(),
        }
    }
}

/// What an invocation's `http_request` sends with: the client, the
/// resolver every name goes through, and the bounds of each request. The
/// invocation's deadline bounds each request too.
#[cfg(feature = "http-client")]
#[derive(Clone)]
pub struct HttpBinding {
    /// The client (and the tokio runtime it runs on).
    pub client: crate::http::HttpClient,
    /// The resolver of every host name.
    pub resolver: Arc<dyn crate::net::Resolver>,
    /// Sizes, timeout and redirects of each request.
    pub limits: crate::http::HttpLimits,
}

#[cfg(feature = "http-client")]
impl std::fmt::Debug for HttpBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBinding")
            .field("client", &self.client)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "http-client")]
/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// `url` without user name and password, for a record.
#[cfg(feature = "http-client")]
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            // Fails only for URLs that cannot have credentials.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            cut(u.as_str(), 512)
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// `e` and each of its sources, joined by `: `.
#[cfg(feature = "http-client")]
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Why a request failed: the code a native guest sees, and the error with
/// every cause in the chain.
#[cfg(feature = "http-client")]
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) code: ErrorCode,
    pub(crate) error: String,
}

/// Records a request that failed with `code`, logs it, and returns why.
#[cfg(feature = "http-client")]
fn refused(
    state: &mut HostState,
    head: &bitvault_abi::wire::HttpRequestHead,
    started: std::time::Instant,
    error_code: ErrorCode,
    error: String,
) -> Refused {
    let t = &state.tags;
    tracing::warn!(
        tenant = &*t.tenant,
        plugin = &*t.plugin,
        invocation = t.invocation_id,
        method = %cut(&head.method, 16),
        url = %redacted(&head.url),
        code = error_code.name(),
        error = %error,
        "http request refused"
    );
    if let Some(http) = state.http.as_mut() {
        http.records.push(HttpRecord {
            method: cut(&head.method, 16),
            url: redacted(&head.url),
            status: None,
            code: Some(error_code),
            error: Some(error.clone()),
            elapsed: started.elapsed(),
        });
    }
    Refused {
        code: error_code,
        error,
    }
}

pub(crate) fn http_request(
    mut env: FunctionEnvMut<'_, HostState>,
    head_ptr: i32,
    head_len: i32,
    body_ptr: i32,
    body_len: i32,
) -> HostResult {
    guarded(&mut env, |env| {
        // Whatever happens, no earlier result stays staged.
        env.data_mut().staged = None;
        send(env, head_ptr, head_len, body_ptr, body_len)
    })
}

#[cfg(not(feature = "http-client"))]
fn send(
    env: &mut FunctionEnvMut<'_, HostState>,
    _head_ptr: i32,
    _head_len: i32,
    _body_ptr: i32,
    _body_len: i32,
) -> HostResult {
    let t = &env.data().tags;
    tracing::warn!(
        tenant = &*t.tenant,
        plugin = &*t.plugin,
        invocation = t.invocation_id,
        "http request refused: the runtime was built without the `http-client` feature"
    );
    code(ErrorCode::Unavailable)
}

#[cfg(feature = "http-client")]
fn send(
    env: &mut FunctionEnvMut<'_, HostState>,
    head_ptr: i32,
    head_len: i32,
    body_ptr: i32,
    body_len: i32,
) -> HostResult {
    use std::time::Instant;

    use bitvault_abi::wire;

    let started = Instant::now();
    let Some(binding) = env.data().http.as_ref().map(|h| h.binding.clone()) else {
        // Not linked without a grant; a grant always sets the state.
        return code(ErrorCode::NotPermitted);
    };
    let Some(limits) = binding.map(|b| b.limits) else {
        unbound(env.data());
        return code(ErrorCode::Unavailable);
    };
    // Refuse oversized buffers before copying them out of the guest.
    let max_head = limits.max_header_bytes + 8 * limits.max_headers + HEAD_OVERHEAD;
    if head_len as u32 as usize > max_head || body_len as u32 as usize > limits.max_request_bytes {
        return code(ErrorCode::TooLarge);
    }
    let head = match crate::host::read_guest(env, head_ptr, head_len) {
        Ok(h) => h,
        Err(e) => return code(e),
    };
    let head = match wire::decode_http_request(&head) {
        Ok(h) => h,
        Err(wire::WireError::InvalidUtf8) => return code(ErrorCode::InvalidUtf8),
        Err(_) => return code(ErrorCode::InvalidArgument),
    };
    let body = match crate::host::read_guest(env, body_ptr, body_len) {
        Ok(b) => b,
        Err(e) => return code(e),
    };

    let state = env.data_mut();
    match perform(state, &head, body, started) {
        Ok(response) => {
            let bytes =
                wire::encode_http_response(response.status, &response.headers, &response.body);
            let Ok(len) = i32::try_from(bytes.len()) else {
                return code(ErrorCode::TooLarge);
            };
            state.staged = Some(bytes::Bytes::from(bytes));
            Ok(len)
        }
        Err(refused) => code(refused.code),
    }
}

/// Logs a request refused because no client is bound to the invocation.
#[cfg(feature = "http-client")]
pub(crate) fn unbound(state: &HostState) {
    let t = &state.tags;
    tracing::warn!(
        tenant = &*t.tenant,
        plugin = &*t.plugin,
        invocation = t.invocation_id,
        "http request refused: no HTTP client bound to the invocation"
    );
}

/// Sends one request of the invocation under its grant, with the client
/// the embedder bound: counts it against `max_requests`, applies the
/// network policy on every hop (in the client), and records it on the
/// outcome whatever becomes of it. Shared by `bitvault_v1.http_request` and
/// the Extism `http_request`.
#[cfg(feature = "http-client")]
pub(crate) fn perform(
    state: &mut HostState,
    head: &bitvault_abi::wire::HttpRequestHead,
    body: Vec<u8>,
    started: std::time::Instant,
) -> Result<crate::http::HttpResponse, Refused> {
    use crate::http::HttpRequest;
    use crate::net::Method;

    let Some((policy, binding)) = state
        .http
        .as_ref()
        .map(|h| (h.policy.clone(), h.binding.clone()))
    else {
        return Err(Refused {
            code: ErrorCode::NotPermitted,
            error: "HTTP is not granted".to_owned(),
        });
    };
    let Some(binding) = binding else {
        unbound(state);
        return Err(Refused {
            code: ErrorCode::Unavailable,
            error: "no HTTP client is bound to the invocation".to_owned(),
        });
    };
    let limits = binding.limits;
    let deadline = state.deadline;
    let Some(http) = state.http.as_mut() else {
        return Err(Refused {
            code: ErrorCode::NotPermitted,
            error: "HTTP is not granted".to_owned(),
        });
    };
    if http.sent >= policy.max_requests {
        let error = format!(
            "more than {} requests in one invocation",
            policy.max_requests
        );
        if http.quota_recorded {
            return Err(Refused {
                code: ErrorCode::QuotaExceeded,
                error,
            });
        }
        http.quota_recorded = true;
        return Err(refused(
            state,
            head,
            started,
            ErrorCode::QuotaExceeded,
            error,
        ));
    }
    http.sent += 1;
    let method = match Method::parse(&head.method) {
        Ok(m) => m,
        Err(e) => {
            let error = e.to_string();
            return Err(refused(
                state,
                head,
                started,
                ErrorCode::InvalidArgument,
                error,
            ));
        }
    };
    let request = HttpRequest {
        method,
        url: head.url.clone(),
        headers: head.headers.clone(),
        body,
    };
    let result = binding.client.send(
        &policy.allowlist,
        &*binding.resolver,
        request,
        &limits,
        deadline,
    );
    match result {
        Ok(response) => {
            let t = &state.tags;
            tracing::debug!(
                tenant = &*t.tenant,
                plugin = &*t.plugin,
                invocation = t.invocation_id,
                method = method.as_str(),
                url = %redacted(&response.final_url),
                status = response.status,
                "http request"
            );
            if let Some(http) = state.http.as_mut() {
                http.records.push(HttpRecord {
                    method: method.as_str().to_owned(),
                    url: redacted(&response.final_url),
                    status: Some(response.status),
                    code: None,
                    error: None,
                    elapsed: started.elapsed(),
                });
            }
            Ok(response)
        }
        Err(e) => {
            let error = chain(&e);
            Err(refused(state, head, started, e.guest_code(), error))
        }
    }
}
