//! The network policy of scoped HTTP: which URLs a plugin may request and
//! which addresses the host may connect to for it. This module decides; it
//! sends nothing. The HTTP client (`http`, feature `http-client`) behind the
//! `http_request` host function enforces its answers.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use bitvault_runtime::net::{AddrClass, Allowlist, NetError, StubResolver};
//!
//! # fn main() -> Result<(), NetError> {
//! let allowlist = Allowlist::parse(["https://api.example.com/v1/"], [])?;
//! let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
//! let dns = StubResolver::new()
//!     .answer("api.example.com", [public])
//!     .answer("api.example.com", [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
//!
//! let target = allowlist.check_url("GET", "https://API.example.com./v1/items?page=2")?;
//! let addrs = allowlist.resolve_checked(&target, &dns)?;
//! assert_eq!(addrs, [SocketAddr::new(public, 443)]); // connect only to these
//!
//! // The name now points at loopback (DNS rebinding): refused.
//! let again = allowlist.resolve_checked(&target, &dns);
//! assert!(matches!(again, Err(NetError::AddressRefused { class: AddrClass::Loopback, .. })));
//! # Ok(()) }
//! ```
//!
//! # Threat model
//! A plugin is untrusted and chooses the URLs it asks the host to fetch. The
//! host's network position is valuable: it can reach loopback services, the
//! private network, link-local addresses and the cloud metadata endpoints
//! that hand out credentials. Server-side request forgery (SSRF) is the
//! attack: making the host send a request the grant did not intend. This
//! layer refuses, with a typed [`NetError`]:
//! - **Origins not granted.** A request must match an allowlisted
//!   [`Origin`] exactly in scheme, host and port, lie under its path prefix
//!   (segment-wise, after dot segments are resolved; encoded `/` or `\`
//!   refused) and use one of its methods ([`Allowlist::check_url`]).
//! - **Disguised hosts.** Entries and requests go through the same WHATWG
//!   URL parser and the same normalisation ([`Host`]): case, IDNA and
//!   full-width forms, one trailing dot, percent-encoding in the host,
//!   decimal/octal/hex/short IPv4 (`2130706433`, `0x7f.1`, `017700000001`,
//!   `127.1`), IPv4-mapped and IPv4-compatible IPv6 (`[::ffff:127.0.0.1]`).
//!   A URL with userinfo (`http://allowed.com@evil.com/`) is refused
//!   outright ([`NetError::UserInfo`]), naming its real host.
//! - **Non-public addresses.** Every address the host would connect to is
//!   classified ([`classify`]): loopback, private, unique-local, link-local,
//!   site-local, CGNAT, unspecified, multicast, broadcast, documentation,
//!   benchmarking, reserved and metadata addresses are refused unless the
//!   grant names a range containing them ([`Allowlist::with_private`]);
//!   metadata addresses need a range of exactly that address. IPv6 forms
//!   that carry an IPv4 address (NAT64, SIIT, 6to4, Teredo) are judged by
//!   that address.
//! - **Names that resolve inward, and DNS rebinding.** A DNS name is
//!   resolved once, by the host, and every answer is checked; one refused
//!   answer refuses the request, so a round-robin mix of public and private
//!   answers cannot win by chance. The checked socket addresses are
//!   returned ([`Allowlist::resolve_checked`]), and they are the only ones
//!   the client may use: there is no second resolution whose answer could
//!   differ.
//! - **Redirects.** Each `Location` is resolved against the current URL and
//!   checked like a new request ([`Allowlist::check_redirect`]).
//!
//! # What the HTTP client must do
//! The checks hold only if the client:
//! 1. sends the request built from [`Target::url`], never from the guest's
//!    original string, which another parser could read differently;
//! 2. connects only to a socket address from
//!    [`Allowlist::resolve_checked`] for that target: no resolution of its
//!    own, no proxy (in particular none taken from `HTTP_PROXY` and similar
//!    environment variables), and no happy-eyeballs fallback to other
//!    addresses; the TLS server name and the `Host` header come from
//!    [`Target::host`];
//! 3. follows no redirect by itself: for each one it calls
//!    [`Allowlist::check_redirect`] and then `resolve_checked` again,
//!    counting hops against a limit;
//! 4. bounds every step (resolution, connection, transfer) by the
//!    invocation's remaining deadline: [`SystemResolver`] blocks with no
//!    timeout of its own;
//! 5. may, as defence in depth, pass the connected peer address to
//!    [`Allowlist::check_addr`].
//!
//! # Not covered here
//! Request and response sizes, request counts and timeouts (the host
//! functions bound them); what an allowlisted server does with a request
//! (a granted origin that proxies onward extends the grant); HTTP proxies;
//! IPv6 zone identifiers (the URL parser rejects them).

mod addr;
mod error;
mod origin;
mod resolve;

use std::net::{IpAddr, SocketAddr};

pub use addr::{AddrClass, AddrRange, METADATA_ADDRS, canonical, classify};
pub use error::{MAX_ERROR_TEXT, NetError, OriginProblem, RangeProblem, Refusal};
pub use origin::{Host, Method, Origin, Scheme};
pub use resolve::{MAX_SYSTEM_LOOKUPS, Resolver, StubResolver, SystemResolver};
/// The URL type of [`Target::url`] and the parse error inside
/// [`NetError::BadUrl`], from the `url` crate.
pub use url::{ParseError as UrlParseError, Url};

use error::excerpt;

/// An [`HttpGrant`](bitvault_abi::HttpGrant), parsed: what the host checks
/// each `http_request` of a plugin against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// The origins and private ranges allowed.
    pub allowlist: Allowlist,
    /// Requests per invocation.
    pub max_requests: u32,
}

impl HttpPolicy {
    /// Parses a grant: each origin with [`Origin::parse`] and its methods
    /// with [`Method::parse`], each private range with
    /// [`AddrRange::parse`].
    ///
    /// # Errors
    /// [`NetError::BadOrigin`], [`NetError::BadMethod`] or
    /// [`NetError::BadRange`] for the first entry that does not parse.
    pub fn from_grant(grant: &bitvault_abi::HttpGrant) -> Result<HttpPolicy, NetError> {
        let mut allowlist = Allowlist::new();
        for o in &grant.origins {
            let mut origin = Origin::parse(&o.url)?;
            if let Some(methods) = &o.methods {
                let methods = methods
                    .iter()
                    .map(|m| Method::parse(m))
                    .collect::<Result<Vec<_>, _>>()?;
                origin = origin.with_methods(methods);
            }
            allowlist = allowlist.with_origin(origin);
        }
        for r in &grant.allow_private {
            allowlist = allowlist.with_private(AddrRange::parse(r)?);
        }
        Ok(HttpPolicy {
            allowlist,
            max_requests: grant.max_requests,
        })
    }
}

/// The network part of an HTTP grant: allowed origins, and the address
/// ranges allowed although not public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    origins: Vec<Origin>,
    private: Vec<AddrRange>,
}

impl Allowlist {
    /// An allowlist that allows nothing: no origin, and no address that is
    /// not [`AddrClass::Public`].
    pub fn new() -> Allowlist {
        Allowlist::default()
    }

    /// Parses origin entries (see [`Origin::parse`]) and `allow_private`
    /// ranges (see [`AddrRange::parse`]).
    ///
    /// # Errors
    /// [`NetError::BadOrigin`] or [`NetError::BadRange`] for the first
    /// entry that does not parse.
    pub fn parse<'a>(
        origins: impl IntoIterator<Item = &'a str>,
        allow_private: impl IntoIterator<Item = &'a str>,
    ) -> Result<Allowlist, NetError> {
        let mut list = Allowlist::new();
        for o in origins {
            list = list.with_origin(Origin::parse(o)?);
        }
        for r in allow_private {
            list = list.with_private(AddrRange::parse(r)?);
        }
        Ok(list)
    }

    /// Also allows `origin`.
    pub fn with_origin(mut self, origin: Origin) -> Allowlist {
        self.origins.push(origin);
        self
    }

    /// Also allows the addresses in `range` although they are not public.
    /// A [`AddrClass::Metadata`] address is allowed only by a range that is
    /// exactly that address (`169.254.169.254/32`), never by a wider one
    /// such as `169.254.0.0/16`.
    pub fn with_private(mut self, range: AddrRange) -> Allowlist {
        self.private.push(range);
        self
    }

    /// The allowed origins.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }

    /// The ranges allowed although not public.
    pub fn private_ranges(&self) -> &[AddrRange] {
        &self.private
    }

    /// Checks a request before anything is resolved: `method` and `url`
    /// must match an allowed origin (scheme, host and port exactly), lie
    /// under its path prefix and use one of its methods.
    ///
    /// The URL is parsed and normalised as described on [`Host`]; its
    /// fragment is dropped (it is never sent). The returned [`Target`] is
    /// what the client sends; its addresses come from
    /// [`Allowlist::resolve_checked`].
    ///
    /// # Errors
    /// [`NetError::BadMethod`] for an unsupported method;
    /// [`NetError::BadUrl`] if the URL does not parse;
    /// [`NetError::UserInfo`] if it carries credentials;
    /// [`NetError::NotAllowed`] with the [`Refusal`] otherwise.
    pub fn check_url(&self, method: &str, url: &str) -> Result<Target, NetError> {
        let method = Method::parse(method)?;
        let parsed = Url::parse(url).map_err(|source| NetError::BadUrl {
            url: excerpt(url),
            source,
        })?;
        self.check_parsed(method, parsed)
    }

    /// Checks a redirect from `from` to `location` (a `Location` header,
    /// absolute or relative to `from`'s URL) like a new request with the
    /// same method.
    ///
    /// # Errors
    /// [`NetError::BadRedirect`] if `location` does not parse against the
    /// current URL; otherwise as [`Allowlist::check_url`].
    pub fn check_redirect(&self, from: &Target, location: &str) -> Result<Target, NetError> {
        self.check_redirect_as(from, from.method, location)
    }

    /// [`Allowlist::check_redirect`] for a client that changes the method
    /// on the way (`303 See Other`, or `POST` becoming `GET` on 301/302).
    ///
    /// # Errors
    /// As [`Allowlist::check_redirect`].
    pub fn check_redirect_as(
        &self,
        from: &Target,
        method: Method,
        location: &str,
    ) -> Result<Target, NetError> {
        let url = from
            .url
            .join(location)
            .map_err(|source| NetError::BadRedirect {
                location: excerpt(location),
                source,
            })?;
        self.check_parsed(method, url)
    }

    /// Resolves the target's host once (an IP literal is not resolved),
    /// checks **every** address with [`Allowlist::check_addr`], and returns
    /// the socket addresses the client may connect to, in the resolver's
    /// order, without duplicates.
    ///
    /// # Errors
    /// [`NetError::AddressRefused`] for the first refused address (one
    /// refused address refuses the request); [`NetError::Resolve`] from the
    /// resolver; [`NetError::NoAddresses`] if it answered none.
    pub fn resolve_checked(
        &self,
        target: &Target,
        resolver: &dyn Resolver,
    ) -> Result<Vec<SocketAddr>, NetError> {
        self.resolve_checked_with(target, |name, port| resolver.resolve(name, port))
    }

    /// As [`Allowlist::resolve_checked`], with the lookup answering by
    /// `deadline` ([`Resolver::resolve_by`]).
    ///
    /// # Errors
    /// As [`Allowlist::resolve_checked`]; a lookup still running at the
    /// deadline is [`NetError::Resolve`] of kind `TimedOut`.
    pub fn resolve_checked_by(
        &self,
        target: &Target,
        resolver: &dyn Resolver,
        deadline: std::time::Instant,
    ) -> Result<Vec<SocketAddr>, NetError> {
        self.resolve_checked_with(target, |name, port| {
            resolver.resolve_by(name, port, deadline)
        })
    }

    fn resolve_checked_with(
        &self,
        target: &Target,
        resolve: impl FnOnce(&str, u16) -> Result<Vec<IpAddr>, NetError>,
    ) -> Result<Vec<SocketAddr>, NetError> {
        let addrs = match &target.host {
            Host::Ip(ip) => vec![*ip],
            Host::Domain(name) => {
                let found = resolve(name, target.port)?;
                if found.is_empty() {
                    return Err(NetError::NoAddresses {
                        host: excerpt(name),
                    });
                }
                found
            }
        };
        let host = target.host.to_string();
        let mut checked: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let addr = SocketAddr::new(self.check_addr(&host, addr)?, target.port);
            if !checked.contains(&addr) {
                checked.push(addr);
            }
        }
        Ok(checked)
    }

    /// Checks one address of `host`: allowed if it is
    /// [`AddrClass::Public`] or lies in an allowed range (for a
    /// [`AddrClass::Metadata`] address, a range of exactly that address).
    /// Returns the address in [`canonical`] form, the one to connect to.
    ///
    /// # Errors
    /// [`NetError::AddressRefused`] with the address's class.
    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<IpAddr, NetError> {
        let addr = canonical(addr);
        let class = classify(addr);
        let granted =
            |r: &AddrRange| r.contains(addr) && (class != AddrClass::Metadata || r.is_single());
        if class.is_public() || self.private.iter().any(granted) {
            Ok(addr)
        } else {
            Err(NetError::AddressRefused {
                host: excerpt(host),
                addr,
                class,
            })
        }
    }

    fn check_parsed(&self, method: Method, mut url: Url) -> Result<Target, NetError> {
        if !url.username().is_empty() || url.password().is_some() {
            let host = Host::of(&url).map(|h| h.to_string()).unwrap_or_default();
            // Both fail only for URLs without a host, which have no userinfo.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            return Err(NetError::UserInfo {
                url: excerpt(url.as_str()),
                host: excerpt(&host),
            });
        }
        url.set_fragment(None);
        let not_allowed = |url: &Url, reason| NetError::NotAllowed {
            url: excerpt(url.as_str()),
            reason,
        };
        let Some(scheme) = Scheme::of(&url) else {
            let scheme = url.scheme().to_owned();
            return Err(not_allowed(&url, Refusal::Scheme { scheme }));
        };
        let Some(host) = Host::of(&url) else {
            // The WHATWG parser gives http(s) URLs a non-empty host.
            return Err(NetError::BadUrl {
                url: excerpt(url.as_str()),
                source: url::ParseError::EmptyHost,
            });
        };
        let port = url.port_or_known_default().unwrap_or(scheme.default_port());
        // Send what was checked: the host in its normalised form (no
        // trailing dot, IPv4 rather than IPv4-mapped IPv6).
        let rewritten = match &host {
            Host::Domain(name) => url.set_host(Some(name)),
            Host::Ip(ip) => url
                .set_ip_host(*ip)
                .map_err(|()| url::ParseError::EmptyHost),
        };
        if let Err(source) = rewritten {
            return Err(NetError::BadUrl {
                url: excerpt(url.as_str()),
                source,
            });
        }

        let same: Vec<&Origin> = self
            .origins
            .iter()
            .filter(|o| o.same_origin(scheme, &host, port))
            .collect();
        if same.is_empty() {
            let origin = format!("{scheme}://{host}:{port}");
            return Err(not_allowed(&url, Refusal::Origin { origin }));
        }

        let path = url.path();
        let ambiguous = has_encoded_separator(path);
        let under: Vec<&Origin> = same
            .iter()
            .copied()
            .filter(|o| o.under_prefix(path) && (o.path_prefix().is_none() || !ambiguous))
            .collect();
        if under.is_empty() {
            let reason = if ambiguous && same.iter().any(|o| o.under_prefix(path)) {
                Refusal::AmbiguousPath {
                    path: excerpt(path),
                }
            } else {
                Refusal::Path {
                    path: excerpt(path),
                }
            };
            return Err(not_allowed(&url, reason));
        }
        let Some(origin) = under.iter().find(|o| o.permits_method(method)) else {
            return Err(not_allowed(&url, Refusal::Method { method }));
        };
        Ok(Target {
            method,
            scheme,
            port,
            origin: (*origin).clone(),
            host,
            url,
        })
    }
}

/// Whether a path contains a percent-encoded `/` or `\`, which a server may
/// decode into path separators the prefix check did not see.
fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    })
}

/// A request the allowlist accepted: what to send, to which host and port,
/// and the origin entry that allowed it. Made only by
/// [`Allowlist::check_url`] and [`Allowlist::check_redirect`]; pass it to
/// [`Allowlist::resolve_checked`] of the same allowlist for the addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    method: Method,
    scheme: Scheme,
    host: Host,
    port: u16,
    origin: Origin,
}

impl Target {
    /// The URL to send: normalised, its host written as [`Target::host`],
    /// without fragment or credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The normalised host: the TLS server name and `Host` header for a
    /// DNS name.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The allowlist entry that allowed the request.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}
