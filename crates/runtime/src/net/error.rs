//! Typed refusals of the network policy: [`NetError`] and the reasons it
//! carries.
//!
//! Strings that come from a guest (URLs, methods, redirect locations) are
//! cut to [`MAX_ERROR_TEXT`] bytes before they are stored, so an error is
//! bounded in size whatever the guest sent; URLs lose any credentials.

use std::fmt;
use std::io;
use std::net::IpAddr;

use thiserror::Error;

use super::addr::AddrClass;
use super::origin::Method;

/// The longest guest-supplied text an error keeps, in bytes; longer text is
/// cut at a character boundary and ends with `…`.
pub const MAX_ERROR_TEXT: usize = 512;

/// Guest-supplied text, cut to [`MAX_ERROR_TEXT`].
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

/// Why an allowlist entry is not an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginProblem {
    /// The entry does not parse as a URL.
    Syntax {
        /// The URL parser's complaint.
        source: url::ParseError,
    },
    /// The scheme is not `http` or `https`.
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// The entry has no host, or an empty one.
    EmptyHost,
    /// The host contains `*`: wildcards are not supported, list each host.
    Wildcard,
    /// The entry carries a user name or password.
    UserInfo,
    /// The entry has a query (`?…`).
    Query,
    /// The entry has a fragment (`#…`).
    Fragment,
    /// The port is 0, which nothing can connect to.
    PortZero,
}

impl fmt::Display for OriginProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginProblem::Syntax { source } => write!(f, "not a URL ({source})"),
            OriginProblem::Scheme { scheme } => {
                write!(f, "scheme `{scheme}` is not http or https")
            }
            OriginProblem::EmptyHost => f.write_str("no host"),
            OriginProblem::Wildcard => f.write_str("wildcards are not supported; list each host"),
            OriginProblem::UserInfo => f.write_str("credentials (userinfo) are not allowed"),
            OriginProblem::Query => f.write_str("a query is not allowed"),
            OriginProblem::Fragment => f.write_str("a fragment is not allowed"),
            OriginProblem::PortZero => f.write_str("port 0 is not allowed"),
        }
    }
}

/// Why an `allow_private` entry is not an address range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeProblem {
    /// Not `address` or `address/prefix-length`.
    Syntax,
    /// The prefix length exceeds the address width.
    PrefixTooLong {
        /// 32 or 128.
        max: u8,
    },
    /// The address has bits set beyond the prefix.
    HostBitsSet {
        /// The range probably meant.
        network: String,
    },
    /// An IPv4-mapped or IPv4-compatible IPv6 range; write it as IPv4.
    Ipv4Mapped,
}

impl fmt::Display for RangeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeProblem::Syntax => f.write_str("expected an address or address/prefix-length"),
            RangeProblem::PrefixTooLong { max } => {
                write!(f, "prefix length over {max}")
            }
            RangeProblem::HostBitsSet { network } => {
                write!(f, "bits set beyond the prefix; did you mean {network}?")
            }
            RangeProblem::Ipv4Mapped => {
                f.write_str("an IPv4-mapped IPv6 range never matches; write it as IPv4")
            }
        }
    }
}

/// Why a request URL was refused by the allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The scheme is not `http` or `https`.
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// No allowlisted origin has this scheme, host and port.
    Origin {
        /// The request's normalised origin, `scheme://host:port`.
        origin: String,
    },
    /// The origin is allowlisted but the path is under none of its
    /// prefixes.
    Path {
        /// The request's (normalised) path.
        path: String,
    },
    /// The path contains an encoded `/` or `\` (`%2F`, `%5C`), which a
    /// server may decode into a different path than the one checked.
    AmbiguousPath {
        /// The request's path.
        path: String,
    },
    /// The origin and path are allowlisted but not for this method.
    Method {
        /// The request's method.
        method: Method,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Scheme { scheme } => write!(f, "scheme `{scheme}` is not http or https"),
            Refusal::Origin { origin } => write!(f, "origin {origin} is not on the allowlist"),
            Refusal::Path { path } => {
                write!(f, "path `{path}` is under no allowlisted prefix")
            }
            Refusal::AmbiguousPath { path } => {
                write!(f, "path `{path}` contains an encoded slash or backslash")
            }
            Refusal::Method { method } => {
                write!(f, "method {method} is not allowed for this origin and path")
            }
        }
    }
}

/// A refusal by the network policy, or a failure to apply it.
///
/// Every variant names what was refused; none carries credentials.
#[derive(Debug, Error)]
pub enum NetError {
    /// An allowlist entry is not a valid origin.
    #[error("allowlist entry `{entry}` is not a valid origin: {problem}")]
    BadOrigin {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        problem: OriginProblem,
    },
    /// An `allow_private` entry is not a valid address range.
    #[error("`{entry}` is not an address range such as 127.0.0.0/8: {problem}")]
    BadRange {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        problem: RangeProblem,
    },
    /// The method is not one this layer supports (`GET`, `HEAD`, `POST`,
    /// `PUT`, `DELETE`, `PATCH`, `OPTIONS`, upper-case).
    #[error(
        "unsupported HTTP method `{method}`; use GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS"
    )]
    BadMethod {
        /// The method as given.
        method: String,
    },
    /// The request URL does not parse.
    #[error("`{url}` is not a valid URL")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// The URL parser's complaint.
        #[source]
        source: url::ParseError,
    },
    /// The URL carries a user name or password (`http://user@host/`). Such
    /// URLs are refused whatever their host, since `allowed.com@evil.com`
    /// is a classic way to make a URL look like another; credentials belong
    /// in a header.
    #[error(
        "URL `{url}` to host `{host}` carries credentials (userinfo); send them in a header instead"
    )]
    UserInfo {
        /// The URL with its credentials removed.
        url: String,
        /// The host the URL really points at.
        host: String,
    },
    /// The URL is not on the allowlist.
    #[error("request to `{url}` is not allowed: {reason}")]
    NotAllowed {
        /// The URL, normalised, without credentials.
        url: String,
        /// Which rule refused it.
        reason: Refusal,
    },
    /// The host is, or resolved to, an address the grant does not allow.
    /// One refused address refuses the whole request.
    #[error("`{host}` has address {addr}, which is {class} and not allowed by the grant")]
    AddressRefused {
        /// The host as normalised (a DNS name or an IP literal).
        host: String,
        /// The refused address, in canonical form.
        addr: IpAddr,
        /// Its class.
        class: AddrClass,
    },
    /// The resolver failed.
    #[error("cannot resolve `{host}`")]
    Resolve {
        /// The DNS name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The resolver answered no address.
    #[error("`{host}` resolved to no address")]
    NoAddresses {
        /// The DNS name.
        host: String,
    },
    /// A redirect's `Location` does not parse against the current URL.
    #[error("redirect location `{location}` is not a valid URL")]
    BadRedirect {
        /// The location as given.
        location: String,
        /// The URL parser's complaint.
        #[source]
        source: url::ParseError,
    },
}

impl NetError {
    /// The code a guest sees for this refusal: `not_permitted` when the
    /// grant does not allow the URL, its credentials or an address;
    /// `invalid_argument` for a method or URL that cannot be a request;
    /// `connection_failed` when the name does not resolve or a redirect's
    /// location is malformed.
    pub fn guest_code(&self) -> bitvault_abi::ErrorCode {
        use bitvault_abi::ErrorCode;
        match self {
            NetError::NotAllowed { .. }
            | NetError::AddressRefused { .. }
            | NetError::UserInfo { .. } => ErrorCode::NotPermitted,
            NetError::BadMethod { .. } | NetError::BadUrl { .. } => ErrorCode::InvalidArgument,
            NetError::Resolve { .. }
            | NetError::NoAddresses { .. }
            | NetError::BadRedirect { .. } => ErrorCode::ConnectionFailed,
            // Grant entries: checked when a plugin is prepared, so a
            // request cannot meet them.
            NetError::BadOrigin { .. } | NetError::BadRange { .. } => ErrorCode::InvalidArgument,
        }
    }
}
