//! Outbound HTTP to the origins the grant allows (capability `http`).
//!
//! The host sends the request: it checks the URL against the grant's
//! origins, resolves the name itself and connects only to addresses it has
//! checked, follows redirects only within the grant, and bounds sizes,
//! time and the number of requests per invocation. A refusal is a
//! [`HostError`]; the host keeps the detailed reason in its own record.
//!
//! ```
//! use bitvault_pdk::http::{Request, Response};
//! use bitvault_pdk::testing::Host;
//!
//! fn fetch() -> Result<String, bitvault_pdk::Error> {
//!     let response = Request::get("https://api.example.com/v1/status")
//!         .header("accept", "text/plain")
//!         .send()?;
//!     Ok(format!("{} {}", response.status, response.text().unwrap_or("")))
//! }
//!
//! let out = Host::new()
//!     .http(|request| {
//!         assert_eq!(request.header_value("accept"), Some(&b"text/plain"[..]));
//!         Ok(Response::new(200, b"up".to_vec()))
//!     })
//!     .run(|| bitvault_pdk::run(|_: Vec<u8>| fetch()));
//! assert_eq!(out.output, b"200 up");
//! ```

use bitvault_abi::wire;

use crate::{HostError, backend, staged};

/// A request to send. Build it with [`Request::new`] or [`Request::get`]
/// and the builder methods, then [`Request::send`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method: `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH` or
    /// `OPTIONS`.
    pub method: String,
    /// The absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values, in order. The host sets `Host`,
    /// `Content-Length`, `Connection` and the other framing headers itself
    /// and refuses a request that sets them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` to `url`, no headers and no body.
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST", url).body(body)
    }

    /// Adds a header (a repeated name sends each value).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&[u8]> {
        find(&self.headers, name)
    }

    /// Sends the request and waits for the final response (after any
    /// redirects the grant allows). Any status, 4xx and 5xx included, is a
    /// response, not an error.
    ///
    /// # Errors
    /// - [`HostError::NotPermitted`]: the URL, method, an address of the
    ///   host or a redirect is outside the grant; nothing was sent there.
    /// - [`HostError::QuotaExceeded`]: the invocation used up its requests.
    /// - [`HostError::TooLarge`]: the request or the response exceeds the
    ///   host's bounds.
    /// - [`HostError::TimedOut`], [`HostError::ConnectionFailed`].
    /// - [`HostError::InvalidArgument`]: an unsupported method, a URL that
    ///   does not parse, or a header the host owns or HTTP forbids.
    /// - [`HostError::Unavailable`]: the host has no HTTP client.
    pub fn send(&self) -> Result<Response, HostError> {
        let head = wire::encode_http_request(&wire::HttpRequestHead {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
        });
        let len = HostError::check(backend::http_request(&head, &self.body))?;
        let r = wire::decode_http_response(&staged(len)).map_err(|_| HostError::Other(0))?;
        Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// Sends a `GET` of `url`; see [`Request::send`].
///
/// # Errors
/// As [`Request::send`].
pub fn get(url: &str) -> Result<Response, HostError> {
    Request::get(url).send()
}

/// The final response to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names in lower case with their values, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status` and `body` and no headers (for tests).
    pub fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find(&self.headers, name)
    }

    /// The body as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn find<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}
