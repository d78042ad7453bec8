//! Allowlist entries: [`Origin`] (scheme, normalised [`Host`], port,
//! optional path prefix and methods), parsed with the WHATWG URL parser of
//! the `url` crate, the same parser that reads request URLs, so an entry and
//! a request are normalised alike.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::Url;

use super::addr::canonical;
use super::error::{NetError, OriginProblem, excerpt};

/// The URL schemes this layer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    /// The scheme of `url`, if it is `http` or `https`.
    pub fn of(url: &Url) -> Option<Scheme> {
        match url.scheme() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// The lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised host: a DNS name in lower-case ASCII (IDNA applied,
/// trailing dot removed), or an IP literal in [`canonical`] form (so
/// `[::ffff:127.0.0.1]` is `127.0.0.1`, and so are `2130706433`, `0x7f.1`
/// and `017700000001`, which the URL parser already reads as IPv4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, to be resolved.
    Domain(String),
    /// An IP literal: never resolved, checked as it is.
    Ip(IpAddr),
}

impl Host {
    /// The normalised host of `url`, if it has one.
    pub fn of(url: &Url) -> Option<Host> {
        Some(match url.host()? {
            url::Host::Domain(d) => {
                let d = d.strip_suffix('.').unwrap_or(d);
                Host::Domain(d.to_ascii_lowercase())
            }
            url::Host::Ipv4(a) => Host::Ip(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Host::Ip(canonical(IpAddr::V6(a))),
        })
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// The HTTP methods a plugin may use. `CONNECT` (a tunnel to anywhere) and
/// `TRACE` (reflects headers) are deliberately absent; names are
/// case-sensitive, as in HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// Every supported method.
    pub const ALL: &'static [Method] = &[
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
    ];

    /// Parses an upper-case method name.
    ///
    /// # Errors
    /// [`NetError::BadMethod`] for anything else, including lower-case
    /// names, `CONNECT` and `TRACE`.
    pub fn parse(method: &str) -> Result<Method, NetError> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == method)
            .ok_or_else(|| NetError::BadMethod {
                method: excerpt(method),
            })
    }

    /// The upper-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
        }
    }
}

impl FromStr for Method {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Method, NetError> {
        Method::parse(s)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One allowlist entry: requests may go to exactly this scheme, host and
/// port, under the path prefix if there is one, with the listed methods if
/// they are restricted.
///
/// Built by [`Origin::parse`] (and narrowed by [`Origin::with_methods`]),
/// so it is always normalised; the fields are read through accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: Scheme,
    host: Host,
    port: u16,
    path_prefix: Option<String>,
    methods: Option<Vec<Method>>,
}

impl Origin {
    /// Parses an entry such as `https://api.example.com`,
    /// `http://127.0.0.1:8080/v1/` or `https://[::1]:8443`.
    ///
    /// Normalisation: the port defaults to the scheme's; the host is
    /// lower-cased, IDNA-mapped to ASCII, and loses one trailing dot; IP
    /// literals take their [`canonical`] form; a path other than `/` becomes
    /// a prefix without its trailing `/` (`/v1/` allows `/v1` and `/v1/…`,
    /// never `/v10`). Any method is allowed until
    /// [`Origin::with_methods`] restricts them.
    ///
    /// # Errors
    /// [`NetError::BadOrigin`] naming the [`OriginProblem`]: not a URL, a
    /// scheme other than http/https, an empty host, a wildcard, userinfo,
    /// a query, a fragment, or port 0.
    pub fn parse(entry: &str) -> Result<Origin, NetError> {
        let bad = |problem| NetError::BadOrigin {
            entry: excerpt(entry),
            problem,
        };
        let url = Url::parse(entry).map_err(|source| {
            bad(match source {
                url::ParseError::EmptyHost => OriginProblem::EmptyHost,
                source => OriginProblem::Syntax { source },
            })
        })?;
        let scheme = Scheme::of(&url).ok_or_else(|| {
            bad(OriginProblem::Scheme {
                scheme: url.scheme().to_owned(),
            })
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(OriginProblem::UserInfo));
        }
        if url.query().is_some() {
            return Err(bad(OriginProblem::Query));
        }
        if url.fragment().is_some() {
            return Err(bad(OriginProblem::Fragment));
        }
        let host = match Host::of(&url) {
            None => return Err(bad(OriginProblem::EmptyHost)),
            Some(Host::Domain(d)) if d.is_empty() => return Err(bad(OriginProblem::EmptyHost)),
            Some(Host::Domain(d)) if d.contains('*') => return Err(bad(OriginProblem::Wildcard)),
            Some(host) => host,
        };
        let port = url.port_or_known_default().unwrap_or(scheme.default_port());
        if port == 0 {
            return Err(bad(OriginProblem::PortZero));
        }
        let prefix = url.path().trim_end_matches('/');
        Ok(Origin {
            scheme,
            host,
            port,
            path_prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            methods: None,
        })
    }

    /// The same origin, allowing only `methods` (none at all if empty).
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Origin {
        let mut list: Vec<Method> = Vec::new();
        for m in methods {
            if !list.contains(&m) {
                list.push(m);
            }
        }
        self.methods = Some(list);
        self
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The normalised host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path prefix without a trailing `/`; `None` allows every path.
    pub fn path_prefix(&self) -> Option<&str> {
        self.path_prefix.as_deref()
    }

    /// The allowed methods; `None` allows every [`Method`].
    pub fn methods(&self) -> Option<&[Method]> {
        self.methods.as_deref()
    }

    pub(super) fn same_origin(&self, scheme: Scheme, host: &Host, port: u16) -> bool {
        self.scheme == scheme && self.port == port && &self.host == host
    }

    /// Whether `path` is the prefix or below it, segment-wise.
    pub(super) fn under_prefix(&self, path: &str) -> bool {
        match &self.path_prefix {
            None => true,
            Some(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }

    pub(super) fn permits_method(&self, method: Method) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(&method))
    }
}

impl FromStr for Origin {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Origin, NetError> {
        Origin::parse(s)
    }
}

impl fmt::Display for Origin {
    /// `scheme://host:port[/prefix]`, the port always written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)?;
        if let Some(prefix) = &self.path_prefix {
            f.write_str(prefix)?;
        }
        Ok(())
    }
}
