//! Name resolution behind a trait: [`Resolver`], the operating system's
//! [`SystemResolver`], and the scripted [`StubResolver`] that tests use to
//! model DNS answers, including rebinding, without sending a packet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Mutex, PoisonError};

use super::error::{NetError, excerpt};

/// Turns a DNS name into addresses.
/// [`Allowlist::resolve_checked`](super::Allowlist::resolve_checked) calls it once per request (and once
/// per redirect hop) and checks every address it returns.
///
/// An implementation must not filter or reorder by policy itself: it
/// answers what the name resolves to, and the allowlist decides.
pub trait Resolver: Send + Sync {
    /// The addresses of `host` (a normalised DNS name, never an IP literal
    /// when called by the allowlist), for a connection to `port`.
    ///
    /// # Errors
    /// [`NetError::Resolve`] when the lookup fails.
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, NetError>;
}

/// The operating system's resolver, through `std`'s `ToSocketAddrs`
/// (`getaddrinfo` on unix): `/etc/hosts`, the configured DNS servers and
/// search domains.
///
/// The lookup blocks and has no timeout of its own. The scoped-HTTP host
/// functions must bound it by the invocation's remaining deadline (run it
/// on a worker and stop waiting when the deadline passes); this type does
/// not. A search domain may expand a name into another one; whatever it
/// resolves to is still checked address by address.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, NetError> {
        (host, port)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|source| NetError::Resolve {
                host: excerpt(host),
                source,
            })
    }
}

#[derive(Debug, Default)]
struct Script {
    answers: Vec<Vec<IpAddr>>,
    lookups: usize,
}

/// A resolver that answers from a script, for tests: each name has a list
/// of answers given in turn, the last one repeating; unknown names fail
/// with [`NetError::Resolve`] (`NotFound`). It counts lookups per name, so
/// a test can show that a request resolved its host exactly once.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use bitvault_runtime::net::{Resolver, StubResolver};
///
/// # fn main() -> Result<(), bitvault_runtime::net::NetError> {
/// let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
/// let stub = StubResolver::new()
///     .answer("rebind.example", [public])
///     .answer("rebind.example", [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
/// assert_eq!(stub.resolve("rebind.example", 443)?, [public]);
/// assert_eq!(stub.resolve("rebind.example", 443)?, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
/// assert_eq!(stub.lookups("rebind.example"), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct StubResolver {
    names: Mutex<HashMap<String, Script>>,
}

impl StubResolver {
    /// A resolver that knows no name.
    pub fn new() -> StubResolver {
        StubResolver::default()
    }

    /// Appends the next answer for `host` (matched case-insensitively).
    pub fn answer(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> StubResolver {
        self.names
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(host.to_ascii_lowercase())
            .or_default()
            .answers
            .push(addrs.into_iter().collect());
        self
    }

    /// How many times `host` has been looked up.
    pub fn lookups(&self, host: &str) -> usize {
        self.lock()
            .get(&host.to_ascii_lowercase())
            .map_or(0, |s| s.lookups)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Script>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Resolver for StubResolver {
    fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, NetError> {
        let mut names = self.lock();
        let script = names.entry(host.to_ascii_lowercase()).or_default();
        let turn = script.lookups;
        script.lookups += 1;
        match script.answers.get(turn).or_else(|| script.answers.last()) {
            Some(answer) => Ok(answer.clone()),
            None => Err(NetError::Resolve {
                host: excerpt(host),
                source: io::Error::new(io::ErrorKind::NotFound, "no stub answer for this name"),
            }),
        }
    }
}
