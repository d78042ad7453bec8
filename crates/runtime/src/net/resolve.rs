//! Name resolution behind a trait: [`Resolver`], the operating system's
//! [`SystemResolver`], and the scripted [`StubResolver`] that tests use to
//! model DNS answers, including rebinding, without sending a packet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

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

    /// As [`Resolver::resolve`], answering by `deadline`: a lookup still
    /// running then fails with [`NetError::Resolve`] of kind `TimedOut`.
    /// The default calls [`Resolver::resolve`], which suits resolvers that
    /// answer without blocking (a stub, a cache); resolvers that block
    /// override it.
    ///
    /// # Errors
    /// As [`Resolver::resolve`].
    fn resolve_by(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, NetError> {
        let _ = deadline;
        self.resolve(host, port)
    }
}

/// System lookups running at once, at most, counting those whose caller
/// stopped waiting; the next one fails at once instead of starting a
/// thread.
pub const MAX_SYSTEM_LOOKUPS: usize = 64;

/// System lookups running now.
static SYSTEM_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// The operating system's resolver, through `std`'s `ToSocketAddrs`
/// (`getaddrinfo` on unix): `/etc/hosts`, the configured DNS servers and
/// search domains.
///
/// `getaddrinfo` blocks and has no timeout but the system's own, so
/// [`Resolver::resolve_by`] runs it on a thread of its own and stops
/// waiting at the deadline: the caller gets `TimedOut` on time, and the
/// abandoned lookup ends on the system's timeouts. At most
/// [`MAX_SYSTEM_LOOKUPS`] run at once. A search domain may expand a name
/// into another one; whatever it resolves to is still checked address by
/// address.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

fn system_lookup(host: &str, port: u16) -> Result<Vec<IpAddr>, NetError> {
    (host, port)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .map_err(|source| NetError::Resolve {
            host: excerpt(host),
            source,
        })
}

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, NetError> {
        system_lookup(host, port)
    }

    fn resolve_by(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, NetError> {
        on_worker(host, port, deadline, system_lookup)
    }
}

fn resolve_error(host: &str, kind: io::ErrorKind, message: &str) -> NetError {
    NetError::Resolve {
        host: excerpt(host),
        source: io::Error::new(kind, message.to_owned()),
    }
}

/// Runs `lookup` on a thread of its own and waits for it until `deadline`.
fn on_worker(
    host: &str,
    port: u16,
    deadline: Instant,
    lookup: fn(&str, u16) -> Result<Vec<IpAddr>, NetError>,
) -> Result<Vec<IpAddr>, NetError> {
    let timed_out = || resolve_error(host, io::ErrorKind::TimedOut, "no answer by the deadline");
    let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
        return Err(timed_out());
    };
    if SYSTEM_LOOKUPS.fetch_add(1, Ordering::AcqRel) >= MAX_SYSTEM_LOOKUPS {
        SYSTEM_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        return Err(resolve_error(
            host,
            io::ErrorKind::WouldBlock,
            "too many lookups in flight",
        ));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("bitvault-resolve".into())
        .spawn(move || {
            let answer = lookup(&name, port);
            SYSTEM_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
            // The caller may have stopped waiting; the answer is dropped.
            let _ = tx.send(answer);
        });
    if let Err(source) = spawned {
        SYSTEM_LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        return Err(NetError::Resolve {
            host: excerpt(host),
            source,
        });
    }
    match rx.recv_timeout(wait) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => Err(timed_out()),
        Err(RecvTimeoutError::Disconnected) => Err(resolve_error(
            host,
            io::ErrorKind::Other,
            "the lookup ended without an answer",
        )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn slow(_: &str, _: u16) -> Result<Vec<IpAddr>, NetError> {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
    }

    fn fast(_: &str, _: u16) -> Result<Vec<IpAddr>, NetError> {
        Ok(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))])
    }

    #[test]
    fn a_lookup_on_a_worker_answers_by_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(100);
        match on_worker("slow.example", 443, deadline, slow) {
            Err(NetError::Resolve { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::TimedOut)
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // Well before the lookup itself would have ended.
        assert!(start.elapsed() < Duration::from_millis(1200));
        let answer = on_worker(
            "fast.example",
            443,
            Instant::now() + Duration::from_secs(5),
            fast,
        );
        assert_eq!(
            answer.ok(),
            Some(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))])
        );
        // A deadline already passed starts nothing.
        let past = Instant::now() - Duration::from_millis(1);
        assert!(matches!(
            on_worker("fast.example", 443, past, fast),
            Err(NetError::Resolve { .. })
        ));
    }

    #[test]
    fn the_system_resolver_answers_for_localhost_by_a_deadline() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addrs = SystemResolver
            .resolve_by("localhost", 80, deadline)
            .expect("localhost resolves");
        assert!(addrs.iter().all(IpAddr::is_loopback), "{addrs:?}");
    }
}
