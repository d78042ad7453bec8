//! Typed failures of the HTTP client: [`HttpError`] and the [`Phase`] of an
//! exchange that a timeout or protocol error names.
//!
//! Text that comes from a guest or a server (header names, redirect
//! locations) is cut to [`MAX_ERROR_TEXT`] bytes before it is stored, so an
//! error is bounded in size whatever they sent.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::net::{MAX_ERROR_TEXT, NetError};

/// Guest- or server-supplied text, cut to [`MAX_ERROR_TEXT`] bytes at a
/// character boundary, ending with `…` when cut.
pub(super) fn excerpt(s: &str) -> String {
    if s.len() <= MAX_ERROR_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A step of one request-response exchange (one hop of a redirect chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Resolving the host and checking its addresses (before any
    /// connection).
    Resolve,
    /// Opening the TCP connection to a checked address.
    Connect,
    /// The TLS handshake of an `https` request.
    Tls,
    /// Sending the request and waiting for the response head.
    Request,
    /// Reading the response body.
    Body,
}

impl Phase {
    /// A stable snake-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Request => "request",
            Phase::Body => "body",
        }
    }

    pub(super) const fn to_u8(self) -> u8 {
        match self {
            Phase::Resolve => 0,
            Phase::Connect => 1,
            Phase::Tls => 2,
            Phase::Request => 3,
            Phase::Body => 4,
        }
    }

    pub(super) const fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Resolve,
            1 => Phase::Connect,
            2 => Phase::Tls,
            3 => Phase::Request,
            _ => Phase::Body,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an HTTP request failed. Every limit that can be hit has a variant
/// naming it; the network policy's refusals keep their [`NetError`] as the
/// source.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The network policy refused the request or a redirect, or the host
    /// did not resolve: the URL is not allowlisted, an address is not
    /// allowed, or the name has no address. Nothing was sent for this hop.
    #[error("request refused by the network policy (hop {hop})")]
    Policy {
        /// 0 for the request as made, `n` for the `n`-th redirect.
        hop: u32,
        /// The policy's refusal.
        #[source]
        source: NetError,
    },
    /// A request header name is not a valid HTTP field name.
    #[error("request header name `{name}` is not a valid HTTP field name")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
    /// A request header value contains bytes HTTP forbids (CR, LF, NUL or
    /// other control characters).
    #[error("value of request header `{name}` contains bytes HTTP forbids")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
    },
    /// A request header that the client owns: `Host`, `Content-Length`,
    /// `Transfer-Encoding`, `Connection`, `Keep-Alive`, `TE`, `Trailer`,
    /// `Upgrade` and every `Proxy-*` header.
    #[error("request header `{name}` is set by the host and cannot be overridden")]
    ForbiddenHeader {
        /// The header's name, in lower case.
        name: String,
    },
    /// The request body is larger than
    /// [`HttpLimits::max_request_bytes`](super::HttpLimits::max_request_bytes).
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    RequestBodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request has more headers than
    /// [`HttpLimits::max_headers`](super::HttpLimits::max_headers), or
    /// more name and value bytes than
    /// [`HttpLimits::max_header_bytes`](super::HttpLimits::max_header_bytes).
    #[error(
        "request has {count} headers of {bytes} bytes; the limits are {max_headers} headers \
         and {max_header_bytes} bytes"
    )]
    RequestHeadersTooLarge {
        /// Headers in the request.
        count: usize,
        /// Their names and values, in bytes.
        bytes: usize,
        /// The count limit.
        max_headers: usize,
        /// The byte limit.
        max_header_bytes: usize,
    },
    /// The response head has more headers than
    /// [`HttpLimits::max_headers`](super::HttpLimits::max_headers) or is
    /// larger than
    /// [`HttpLimits::max_header_bytes`](super::HttpLimits::max_header_bytes).
    #[error(
        "response head exceeds the limits of {max_headers} headers and {max_header_bytes} bytes"
    )]
    ResponseHeadTooLarge {
        /// The count limit.
        max_headers: usize,
        /// The byte limit.
        max_header_bytes: usize,
    },
    /// The response body is larger than
    /// [`HttpLimits::max_response_bytes`](super::HttpLimits::max_response_bytes).
    /// Reading stopped at the limit (or before reading, when the declared
    /// `Content-Length` already exceeded it).
    #[error("response body exceeds the limit of {limit} bytes")]
    ResponseBodyTooLarge {
        /// The limit.
        limit: usize,
        /// The `Content-Length` the server declared, if it declared one.
        declared: Option<u64>,
    },
    /// A redirect chain longer than
    /// [`HttpLimits::max_redirects`](super::HttpLimits::max_redirects).
    #[error("more than {max} redirects; the last pointed to `{location}`")]
    TooManyRedirects {
        /// The limit.
        max: u32,
        /// The `Location` of the redirect that was not followed.
        location: String,
    },
    /// A redirect whose `Location` header is not UTF-8.
    #[error("redirect {status} at hop {hop} has a Location that is not UTF-8")]
    BadLocation {
        /// The redirect's status code.
        status: u16,
        /// The hop that answered it.
        hop: u32,
    },
    /// The per-request timeout
    /// ([`HttpLimits::timeout`](super::HttpLimits::timeout)) ran out.
    #[error("request timed out after {timeout:?} during {phase}")]
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// What the exchange was doing.
        phase: Phase,
    },
    /// The caller's deadline (the invocation's) passed before the request
    /// finished.
    #[error("deadline passed during {phase}")]
    Deadline {
        /// What the exchange was doing.
        phase: Phase,
    },
    /// No checked address accepted a connection.
    #[error("cannot connect to any of {addrs:?}")]
    Connect {
        /// The checked addresses tried, in order.
        addrs: Vec<SocketAddr>,
        /// The error of the last attempt.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (for instance the certificate is not
    /// trusted or does not name the host).
    #[error("TLS handshake with `{host}` failed")]
    Tls {
        /// The host the certificate was checked for.
        host: String,
        /// The TLS error.
        #[source]
        source: io::Error,
    },
    /// A trust anchor given to
    /// [`HttpClient::with_trust_anchors`](super::HttpClient::with_trust_anchors)
    /// is not a usable certificate, or the TLS configuration could not be
    /// built.
    #[error("invalid TLS configuration")]
    TlsConfig {
        /// The TLS library's complaint.
        #[source]
        source: rustls::Error,
    },
    /// The server broke the HTTP protocol or closed the connection early.
    #[error("HTTP exchange failed during {phase}")]
    Protocol {
        /// What the exchange was doing.
        phase: Phase,
        /// The HTTP library's error.
        #[source]
        source: hyper::Error,
    },
    /// The request target could not be written as an HTTP request line.
    #[error("`{url}` cannot be sent as an HTTP request target")]
    InvalidTarget {
        /// The checked URL.
        url: String,
    },
    /// The client's own runtime could not be started.
    #[error("cannot start the HTTP client's runtime")]
    Runtime {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The tokio runtime shut down (or the exchange's task panicked) before
    /// the exchange finished.
    #[error("the HTTP runtime stopped before the request finished")]
    RuntimeStopped,
}

impl HttpError {
    /// The code a guest sees for this failure (`docs/abi.md`, `http_request`).
    pub fn guest_code(&self) -> bitvault_abi::ErrorCode {
        use bitvault_abi::ErrorCode;
        match self {
            HttpError::Policy { source, .. } => source.guest_code(),
            HttpError::InvalidHeaderName { .. }
            | HttpError::InvalidHeaderValue { .. }
            | HttpError::ForbiddenHeader { .. }
            | HttpError::InvalidTarget { .. } => ErrorCode::InvalidArgument,
            HttpError::RequestBodyTooLarge { .. }
            | HttpError::RequestHeadersTooLarge { .. }
            | HttpError::ResponseHeadTooLarge { .. }
            | HttpError::ResponseBodyTooLarge { .. } => ErrorCode::TooLarge,
            HttpError::Timeout { .. } | HttpError::Deadline { .. } => ErrorCode::TimedOut,
            HttpError::TooManyRedirects { .. }
            | HttpError::BadLocation { .. }
            | HttpError::Connect { .. }
            | HttpError::Tls { .. }
            | HttpError::Protocol { .. } => ErrorCode::ConnectionFailed,
            HttpError::TlsConfig { .. } | HttpError::Runtime { .. } | HttpError::RuntimeStopped => {
                ErrorCode::Unavailable
            }
        }
    }
}
