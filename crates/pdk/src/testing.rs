//! An in-memory host for unit-testing plugin logic natively.
//!
//! On targets other than wasm, every SDK function talks to the
//! [`Host`] installed by [`Host::run`] on the current thread. It follows
//! the ABI's semantics (`docs/abi.md`): the request and response, the
//! staged result, configuration, the soft clock and random capabilities,
//! a key-value namespace with paging, and events on granted topics.
//!
//! ```
//! use bitvault_pdk::{kv, testing::Host};
//!
//! let out = Host::new()
//!     .kv_entry(b"hits", b"41")
//!     .run(|| {
//!         let n: u32 = String::from_utf8(kv::get(b"hits").unwrap().unwrap())
//!             .unwrap()
//!             .parse()
//!             .unwrap();
//!         kv::put(b"hits", (n + 1).to_string().as_bytes()).unwrap();
//!         0
//!     });
//! assert_eq!(out.kv[&b"hits".to_vec()], b"42");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::HostError;
use crate::http::{Request, Response};
use crate::log::Level;

/// What [`Host::http`] answers requests with.
pub(crate) type HttpHandler = Rc<dyn Fn(&Request) -> Result<Response, HostError>>;

#[derive(Clone, Default)]
struct Handler(Option<HttpHandler>);

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// A configured in-memory host, and after [`Host::run`], what the plugin
/// did.
#[derive(Debug, Clone, Default)]
pub struct Host {
    request: Vec<u8>,
    config: BTreeMap<String, String>,
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    topics: Vec<String>,
    clock_ms: Option<i64>,
    random: bool,
    staged: Option<Vec<u8>>,
    response: Vec<u8>,
    error: Option<String>,
    logs: Vec<(Level, String)>,
    events: Vec<(String, Vec<u8>)>,
    http: Handler,
    requests: Vec<Request>,
}

/// What a plugin did during [`Host::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The entry point's return code.
    pub code: i32,
    /// The response written.
    pub output: Vec<u8>,
    /// The `set_error` message.
    pub error: Option<String>,
    /// Log messages, in order.
    pub logs: Vec<(Level, String)>,
    /// The key-value namespace afterwards.
    pub kv: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Published events, as (topic, payload).
    pub events: Vec<(String, Vec<u8>)>,
    /// HTTP requests made, in order.
    pub requests: Vec<Request>,
}

thread_local! {
    static CURRENT: RefCell<Option<Host>> = const { RefCell::new(None) };
}

/// Runs `f` on the installed host.
///
/// # Panics
/// Outside [`Host::run`]: an SDK function was called natively with no test
/// host installed.
pub(crate) fn with_host<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    CURRENT.with(|c| {
        let mut slot = c.borrow_mut();
        let host = slot
            .as_mut()
            .expect("bitvault-pdk: natively, SDK calls run only inside testing::Host::run");
        f(host)
    })
}

const OK: i32 = 0;
const INVALID_ARGUMENT: i32 = -3;
const TOO_LARGE: i32 = -4;
const INVALID_UTF8: i32 = -5;
const NOT_FOUND: i32 = -6;
const NOT_PERMITTED: i32 = -7;

impl Host {
    /// A host with an empty request, no configuration, an empty KV
    /// namespace, no event topics, and clocks and randomness withheld.
    pub fn new() -> Host {
        Host::default()
    }

    /// Sets the request.
    pub fn input(mut self, bytes: &[u8]) -> Host {
        self.request = bytes.to_vec();
        self
    }

    /// Adds a configuration value.
    pub fn config(mut self, key: &str, value: &str) -> Host {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Adds a key-value entry.
    pub fn kv_entry(mut self, key: &[u8], value: &[u8]) -> Host {
        self.kv.insert(key.to_vec(), value.to_vec());
        self
    }

    /// Grants a topic pattern (exact, or a prefix ending in `.*`).
    pub fn topic(mut self, pattern: &str) -> Host {
        self.topics.push(pattern.into());
        self
    }

    /// Grants the clocks, frozen at `wall_ms` (the monotonic clock reads 0).
    pub fn clock(mut self, wall_ms: i64) -> Host {
        self.clock_ms = Some(wall_ms);
        self
    }

    /// Grants randomness (a fixed, non-random sequence, for repeatable
    /// tests).
    pub fn random(mut self) -> Host {
        self.random = true;
        self
    }

    /// Grants HTTP, answering every request with `handler` (which plays
    /// the network and the grant: return `Err(HostError::NotPermitted)` to
    /// act out a refusal). Without it, requests answer
    /// [`HostError::NotPermitted`].
    pub fn http(
        mut self,
        handler: impl Fn(&Request) -> Result<Response, HostError> + 'static,
    ) -> Host {
        self.http = Handler(Some(Rc::new(handler)));
        self
    }

    /// Installs the host on this thread, runs `entry` (an entry point, for
    /// example `|| bitvault_pdk::run(handler)`), and returns what it did.
    pub fn run(self, entry: impl FnOnce() -> i32) -> Outcome {
        CURRENT.with(|c| *c.borrow_mut() = Some(self));
        let code = entry();
        let host = CURRENT
            .with(|c| c.borrow_mut().take())
            .expect("installed above");
        Outcome {
            code,
            output: host.response,
            error: host.error,
            logs: host.logs,
            kv: host.kv,
            events: host.events,
            requests: host.requests,
        }
    }

    fn copy_from(source: Option<&[u8]>, offset: usize, buf: &mut [u8]) -> i32 {
        let Some(source) = source else {
            return NOT_FOUND;
        };
        let Some(rest) = source.get(offset..) else {
            return INVALID_ARGUMENT;
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        n as i32
    }

    fn stage(&mut self, value: Option<Vec<u8>>) -> i32 {
        let len = value.as_ref().map_or(NOT_FOUND, |v| v.len() as i32);
        self.staged = value;
        len
    }

    pub(crate) fn input_len(&mut self) -> i32 {
        self.request.len() as i32
    }
    pub(crate) fn read_input(&mut self, offset: usize, buf: &mut [u8]) -> i32 {
        Host::copy_from(Some(&self.request), offset, buf)
    }
    pub(crate) fn write_output(&mut self, b: &[u8]) -> i32 {
        self.response.extend_from_slice(b);
        OK
    }
    pub(crate) fn set_error(&mut self, b: &[u8]) -> i32 {
        match std::str::from_utf8(b) {
            Ok(m) => {
                self.error = Some(m.to_owned()).filter(|m| !m.is_empty());
                OK
            }
            Err(_) => INVALID_UTF8,
        }
    }
    pub(crate) fn log(&mut self, level: i32, b: &[u8]) -> i32 {
        let Some(level) = Level::from_value(level) else {
            return INVALID_ARGUMENT;
        };
        match std::str::from_utf8(b) {
            Ok(m) => {
                self.logs.push((level, m.to_owned()));
                OK
            }
            Err(_) => INVALID_UTF8,
        }
    }
    pub(crate) fn result_read(&mut self, offset: usize, buf: &mut [u8]) -> i32 {
        Host::copy_from(self.staged.as_deref(), offset, buf)
    }
    pub(crate) fn config_get(&mut self, key: &[u8]) -> i32 {
        let Ok(key) = std::str::from_utf8(key) else {
            return INVALID_UTF8;
        };
        let value = self.config.get(key).map(|v| v.as_bytes().to_vec());
        self.stage(value)
    }
    pub(crate) fn clock_now(&mut self, clock: i32) -> i64 {
        match (self.clock_ms, clock) {
            (None, _) => i64::from(NOT_PERMITTED),
            (Some(ms), 0) => ms,
            (Some(_), 1) => 0,
            _ => i64::from(INVALID_ARGUMENT),
        }
    }
    pub(crate) fn random_fill(&mut self, buf: &mut [u8]) -> i32 {
        if !self.random {
            return NOT_PERMITTED;
        }
        if buf.len() > crate::random::CHUNK {
            return TOO_LARGE;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        OK
    }
    pub(crate) fn kv_get(&mut self, key: &[u8]) -> i32 {
        let value = self.kv.get(key).cloned();
        self.stage(value)
    }
    pub(crate) fn kv_put(&mut self, key: &[u8], value: &[u8]) -> i32 {
        self.kv.insert(key.to_vec(), value.to_vec());
        OK
    }
    pub(crate) fn kv_delete(&mut self, key: &[u8]) -> i32 {
        i32::from(self.kv.remove(key).is_some())
    }
    pub(crate) fn kv_list(&mut self, prefix: &[u8], cursor: Option<&[u8]>, limit: i32) -> i32 {
        if !(1..=1000).contains(&limit) {
            return INVALID_ARGUMENT;
        }
        let mut matching = self
            .kv
            .keys()
            .filter(|k| k.starts_with(prefix) && cursor.is_none_or(|c| k.as_slice() > c));
        let keys: Vec<Vec<u8>> = matching.by_ref().take(limit as usize).cloned().collect();
        let next = matching.next().and(keys.last().cloned());
        let page = bitvault_abi::wire::encode_kv_page(&keys, next.as_deref());
        self.stage(Some(page))
    }
    pub(crate) fn emit_event(&mut self, topic: &[u8], payload: &[u8]) -> i32 {
        let Ok(topic) = std::str::from_utf8(topic) else {
            return INVALID_UTF8;
        };
        let allowed = self.topics.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('.') => {
                topic.len() > prefix.len() && topic.starts_with(prefix)
            }
            _ => p == topic,
        });
        if !allowed {
            return NOT_PERMITTED;
        }
        self.events.push((topic.to_owned(), payload.to_vec()));
        OK
    }
    pub(crate) fn http_begin(
        &mut self,
        head: &[u8],
        body: &[u8],
    ) -> Result<(Request, HttpHandler), i32> {
        self.staged = None;
        let head = match bitvault_abi::wire::decode_http_request(head) {
            Ok(h) => h,
            Err(bitvault_abi::wire::WireError::InvalidUtf8) => return Err(INVALID_UTF8),
            Err(_) => return Err(INVALID_ARGUMENT),
        };
        let request = Request {
            method: head.method,
            url: head.url,
            headers: head.headers,
            body: body.to_vec(),
        };
        let handler = self.http.0.clone();
        self.requests.push(request.clone());
        handler.map(|h| (request, h)).ok_or(NOT_PERMITTED)
    }
    pub(crate) fn http_end(&mut self, answer: Result<Response, HostError>) -> i32 {
        match answer {
            Ok(r) => {
                let bytes = bitvault_abi::wire::encode_http_response(r.status, &r.headers, &r.body);
                self.stage(Some(bytes))
            }
            Err(e) => e.code(),
        }
    }
}
