//! One hop of a request, on tokio: connect to a checked address, run TLS
//! for `https`, send the request over one HTTP/1.1 connection and read the
//! response within the size limits. Everything here is bounded by the
//! exchange's [`TimeBound`]; the connection is driven inside the same task,
//! so nothing outlives the exchange.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{CONTENT_LENGTH, HeaderMap, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::error::{HttpError, Phase};

/// When an exchange must end: the earlier of the per-request timeout and
/// the caller's deadline, remembering which one it is so that running out
/// names the right limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimeBound {
    pub(super) end: Instant,
    /// `Some(timeout)` when the timeout ends first, `None` when the
    /// deadline does.
    timeout: Option<Duration>,
}

impl TimeBound {
    pub(super) fn new(start: Instant, timeout: Duration, deadline: Instant) -> TimeBound {
        match start.checked_add(timeout) {
            Some(end) if end < deadline => TimeBound {
                end,
                timeout: Some(timeout),
            },
            _ => TimeBound {
                end: deadline,
                timeout: None,
            },
        }
    }

    pub(super) fn expired(&self, phase: Phase) -> HttpError {
        match self.timeout {
            Some(timeout) => HttpError::Timeout { timeout, phase },
            None => HttpError::Deadline { phase },
        }
    }

    /// Fails if the bound has passed.
    pub(super) fn check(&self, phase: Phase) -> Result<(), HttpError> {
        if Instant::now() >= self.end {
            Err(self.expired(phase))
        } else {
            Ok(())
        }
    }

    /// Runs `fut` until the bound, failing with the phase `progress` shows
    /// when time runs out.
    async fn run<T>(
        &self,
        progress: &Progress,
        fut: impl Future<Output = Result<T, HttpError>>,
    ) -> Result<T, HttpError> {
        let end = tokio::time::Instant::from_std(self.end);
        match tokio::time::timeout_at(end, fut).await {
            Ok(r) => r,
            Err(_elapsed) => Err(self.expired(progress.get())),
        }
    }
}

/// The phase an exchange has reached, shared with the thread that waits for
/// it so that a timeout seen from outside names it too.
#[derive(Debug)]
pub(super) struct Progress(AtomicU8);

impl Progress {
    pub(super) fn new(phase: Phase) -> Progress {
        Progress(AtomicU8::new(phase.to_u8()))
    }

    pub(super) fn get(&self) -> Phase {
        Phase::from_u8(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, phase: Phase) {
        self.0.store(phase.to_u8(), Ordering::Relaxed);
    }
}

/// TLS for an `https` hop: the connector and the name the certificate must
/// carry.
pub(super) struct TlsHop {
    pub(super) connector: TlsConnector,
    pub(super) server_name: ServerName<'static>,
}

/// Everything one hop needs, owned, so it can run as a task.
pub(super) struct Hop {
    /// Checked addresses, tried in order.
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) tls: Option<TlsHop>,
    pub(super) request: Request<Full<Bytes>>,
    pub(super) max_headers: usize,
    pub(super) max_header_bytes: usize,
    pub(super) max_response_bytes: usize,
    /// Whether the request is `HEAD` (its response has no body).
    pub(super) head: bool,
    pub(super) bound: TimeBound,
}

/// What a hop ended with.
pub(super) enum HopOutcome {
    /// A final response, body read.
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// A redirect; its body was not read.
    Redirect { status: u16, location: Bytes },
}

/// Whether `status` is a redirect the client follows.
pub(super) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Runs one hop. `progress` is updated as the hop moves through its
/// phases.
pub(super) async fn run(hop: Hop, progress: Arc<Progress>) -> Result<HopOutcome, HttpError> {
    let bound = hop.bound;
    bound.run(&progress, exchange(hop, &progress)).await
}

async fn exchange(hop: Hop, progress: &Progress) -> Result<HopOutcome, HttpError> {
    progress.set(Phase::Connect);
    let tcp = connect(&hop.addrs).await?;
    // Small requests go out at once; a failure here changes nothing else.
    let _ = tcp.set_nodelay(true);
    let Hop {
        tls,
        request,
        max_headers,
        max_header_bytes,
        max_response_bytes,
        head,
        ..
    } = hop;
    let limits = ResponseLimits {
        max_headers,
        max_header_bytes,
        max_response_bytes,
        head,
    };
    match tls {
        None => http1_exchange(TokioIo::new(tcp), request, limits, progress).await,
        Some(TlsHop {
            connector,
            server_name,
        }) => {
            progress.set(Phase::Tls);
            let host = server_name.to_str().into_owned();
            let stream = connector
                .connect(server_name, tcp)
                .await
                .map_err(|source| HttpError::Tls { host, source })?;
            http1_exchange(TokioIo::new(stream), request, limits, progress).await
        }
    }
}

/// Connects to the first checked address that accepts, in order. There is
/// no other address: the client never resolves a name itself.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(HttpError::Connect {
        addrs: addrs.to_vec(),
        source: last.unwrap_or_else(|| std::io::Error::other("no checked address")),
    })
}

#[derive(Debug, Clone, Copy)]
struct ResponseLimits {
    max_headers: usize,
    max_header_bytes: usize,
    max_response_bytes: usize,
    head: bool,
}

impl ResponseLimits {
    fn protocol(&self, phase: Phase, source: hyper::Error) -> HttpError {
        // `hyper::Error::is_parse_too_large` exists only with hyper's
        // server feature; the kind's description is stable ("message head
        // is too large") and a test holds it.
        if source.is_parse() && source.to_string().contains("too large") {
            HttpError::ResponseHeadTooLarge {
                max_headers: self.max_headers,
                max_header_bytes: self.max_header_bytes,
            }
        } else {
            HttpError::Protocol { phase, source }
        }
    }
}

/// One request and its response over one HTTP/1.1 connection, driving the
/// connection in the same future.
async fn http1_exchange<T>(
    io: T,
    request: Request<Full<Bytes>>,
    limits: ResponseLimits,
    progress: &Progress,
) -> Result<HopOutcome, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    progress.set(Phase::Request);
    let (mut sender, conn) = http1::Builder::new()
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(read_buffer(limits.max_header_bytes))
        .handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| limits.protocol(Phase::Request, e))?;

    let work = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| limits.protocol(Phase::Request, e))?;
        read_response(response, limits, progress).await
    };

    let mut conn = pin!(conn);
    let mut work = pin!(work);
    let mut conn_error = None;
    let mut conn_done = false;
    poll_fn(|cx| {
        if !conn_done && let Poll::Ready(r) = conn.as_mut().poll(cx) {
            conn_done = true;
            conn_error = r.err();
        }
        if let Poll::Ready(r) = work.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match conn_error.take() {
            // The connection failed and the exchange did not see it.
            Some(e) => Poll::Ready(Err(limits.protocol(progress.get(), e))),
            None => Poll::Pending,
        }
    })
    .await
}

/// The most the HTTP library buffers from the connection: room for the
/// largest allowed head and one read beyond it, and never below hyper's
/// minimum of 8 KiB.
fn read_buffer(max_header_bytes: usize) -> usize {
    max_header_bytes.saturating_add(8 << 10)
}

async fn read_response(
    response: Response<Incoming>,
    limits: ResponseLimits,
    progress: &Progress,
) -> Result<HopOutcome, HttpError> {
    let status = response.status();
    if response.headers().len() > limits.max_headers {
        return Err(HttpError::ResponseHeadTooLarge {
            max_headers: limits.max_headers,
            max_header_bytes: limits.max_header_bytes,
        });
    }
    if is_redirect(status)
        && let Some(location) = response.headers().get(LOCATION)
    {
        return Ok(HopOutcome::Redirect {
            status: status.as_u16(),
            location: Bytes::copy_from_slice(location.as_bytes()),
        });
    }
    let (parts, mut body) = response.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = limits.max_response_bytes;
    let too_large = || HttpError::ResponseBodyTooLarge { limit, declared };
    if !limits.head && declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }

    progress.set(Phase::Body);
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| limits.protocol(Phase::Body, e))?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buf.len() {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(HopOutcome::Response {
        status,
        headers: parts.headers,
        body: buf,
    })
}
