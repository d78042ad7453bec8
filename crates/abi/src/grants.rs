//! Capability grants: which host functions a plugin is linked against, and
//! with what scope.

use crate::{CapabilityKind, HostFn, LogLevel};
use serde::{Deserialize, Serialize};

/// The scope of a `log` grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogGrant {
    /// Messages below this level are accepted and counted against the log
    /// limits but not delivered to the host's log sink.
    pub min_level: LogLevel,
}

/// The capabilities given to one plugin, each with its scope.
///
/// There is deliberately no `Default`: a grant set is built from
/// [`Grants::none`] (nothing at all) or [`Grants::core`] (request, response
/// and logging) and widened explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Whether the invocation's request and response functions are linked.
    #[serde(default)]
    pub io: bool,
    /// The `log` function and its scope; `None` withholds it.
    #[serde(default)]
    pub log: Option<LogGrant>,
    /// Whether `config_get` is linked.
    #[serde(default)]
    pub config: bool,
    /// Whether `clock_now` answers (it is linked either way).
    #[serde(default)]
    pub clock: bool,
    /// Whether `random_fill` answers (it is linked either way).
    #[serde(default)]
    pub random: bool,
    /// Whether the `kv_*` functions are linked.
    #[serde(default)]
    pub kv: bool,
    /// `emit_event` and the topics it may publish on; `None` withholds it.
    #[serde(default)]
    pub events: Option<EventsGrant>,
    /// Stdio mode, for command-style modules of the WASI shim: when set,
    /// `fd_read` on fd 0 reads the invocation's request and `fd_write` on
    /// fd 1 appends to its response (bounded by `output_bytes`); fd 2 still
    /// goes to the log. When unset, fd 0 has nothing to read (`EBADF`) and
    /// fd 1 goes to the log like fd 2. It links no function and grants no
    /// authority beyond the invocation's own request and response.
    #[serde(default)]
    pub stdio: bool,
    /// `http_request`, the origins it may reach and how often; `None`
    /// withholds it.
    #[serde(default)]
    pub http: Option<HttpGrant>,
    /// The functions of `extism:host/user` that may be imported, by name:
    /// each must also be registered by the embedding host. Empty withholds
    /// them all. Left out of a serialized grant set when empty, so that
    /// grant sets which do not use it keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_functions: Vec<String>,
}

/// The scope of an `http` grant. The host parses it when a plugin is
/// prepared; an entry it cannot parse refuses the preparation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// The origins requests may go to: scheme, host and port exactly, and
    /// optionally a path prefix and a set of methods.
    pub origins: Vec<HttpOrigin>,
    /// Address ranges (`127.0.0.0/8`, `10.1.2.3`, `fd00::/8`) that requests
    /// may reach although they are not public: loopback, private,
    /// link-local, cloud metadata and the like are refused unless listed
    /// here. A metadata address is allowed only by naming it exactly.
    #[serde(default)]
    pub allow_private: Vec<String>,
    /// Requests per invocation, redirects not counted; the next one is
    /// refused with `quota_exceeded`.
    #[serde(default = "HttpGrant::default_max_requests")]
    pub max_requests: u32,
}

impl HttpGrant {
    /// The `max_requests` of a grant that names none.
    pub const DEFAULT_MAX_REQUESTS: u32 = 16;

    fn default_max_requests() -> u32 {
        HttpGrant::DEFAULT_MAX_REQUESTS
    }

    /// A grant of `origins` (URLs, any method), no private ranges and the
    /// default request count.
    pub fn to<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> HttpGrant {
        HttpGrant {
            origins: origins.into_iter().map(HttpOrigin::any_method).collect(),
            allow_private: Vec::new(),
            max_requests: HttpGrant::DEFAULT_MAX_REQUESTS,
        }
    }
}

/// One origin of an [`HttpGrant`]. In a grant file it is either a URL
/// string (`"https://api.example.com/v1/"`, any method) or a table
/// `{ url = "…", methods = ["GET", "HEAD"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OriginEntry")]
pub struct HttpOrigin {
    /// `scheme://host[:port][/path-prefix]`.
    pub url: String,
    /// The methods allowed; `None` allows every method the host supports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

impl HttpOrigin {
    /// `url` with every method allowed.
    pub fn any_method(url: impl Into<String>) -> HttpOrigin {
        HttpOrigin {
            url: url.into(),
            methods: None,
        }
    }
}

/// The two spellings of an origin in a grant file.
#[derive(Deserialize)]
#[serde(untagged)]
enum OriginEntry {
    Url(String),
    Table(OriginTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginTable {
    url: String,
    methods: Option<Vec<String>>,
}

impl From<OriginEntry> for HttpOrigin {
    fn from(e: OriginEntry) -> HttpOrigin {
        match e {
            OriginEntry::Url(url) => HttpOrigin { url, methods: None },
            OriginEntry::Table(t) => HttpOrigin {
                url: t.url,
                methods: t.methods,
            },
        }
    }
}

/// The scope of an `events` grant: the topics a plugin may publish on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsGrant {
    /// Topic patterns: an exact topic (`thumbnails.created`), or a prefix
    /// ending in `.*` that matches every topic below it (`thumbnails.*`
    /// matches `thumbnails.created` but not `thumbnails`).
    pub topics: Vec<String>,
}

impl EventsGrant {
    /// Whether `topic` is one of the granted topics.
    pub fn allows(&self, topic: &str) -> bool {
        self.topics.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('.') => {
                topic.len() > prefix.len() && topic.starts_with(prefix)
            }
            _ => p == topic,
        })
    }
}

/// A grant file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid grant file: {message}")]
pub struct GrantFileError {
    /// What is wrong, with its position where known.
    pub message: String,
}

impl Grants {
    /// Nothing granted:
    /// - no request or response functions (`io` false),
    /// - no logging (`log` none),
    /// - no configuration (`config` false),
    /// - clocks and randomness withheld (`clock`, `random` false: linked,
    ///   answering `not_permitted`),
    /// - no key-value store (`kv` false),
    /// - no events (`events` none),
    /// - no stdio mode (`stdio` false: WASI stdout and stderr go to the
    ///   log, which is withheld too, so their bytes are dropped),
    /// - no HTTP (`http` none).
    ///
    /// A module importing any other `bitvault_v1` function fails admission
    /// under it.
    pub fn none() -> Grants {
        Grants {
            io: false,
            log: None,
            config: false,
            clock: false,
            random: false,
            kv: false,
            events: None,
            stdio: false,
            http: None,
            host_functions: Vec::new(),
        }
    }

    /// The core ABI: request and response functions, logging at every
    /// level, configuration, the coarse clocks and randomness; no
    /// key-value store, no events, no stdio mode, no HTTP. This is what
    /// `bitvault-plugin run` grants.
    pub fn core() -> Grants {
        Grants {
            io: true,
            log: Some(LogGrant {
                min_level: LogLevel::Trace,
            }),
            config: true,
            clock: true,
            random: true,
            kv: false,
            events: None,
            stdio: false,
            http: None,
            host_functions: Vec::new(),
        }
    }

    /// Reads a grant file (TOML). Every capability absent from the file is
    /// withheld; unknown keys are refused.
    ///
    /// ```toml
    /// io = true
    /// config = true
    /// clock = true
    /// random = false
    /// stdio = true
    /// host_functions = ["lookup_user"]
    ///
    /// [log]
    /// min_level = "info"
    ///
    /// [http]
    /// origins = ["https://api.example.com/v1/", { url = "https://hooks.example.com", methods = ["POST"] }]
    /// allow_private = []
    /// max_requests = 4
    /// ```
    ///
    /// # Errors
    /// [`GrantFileError`] for TOML syntax errors, unknown keys or values of
    /// the wrong type.
    pub fn from_toml(text: &str) -> Result<Grants, GrantFileError> {
        toml::from_str(text).map_err(|e| {
            let position = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            GrantFileError {
                message: format!("{}{}", position.unwrap_or_default(), e.message().trim()),
            }
        })
    }

    /// [`Grants::core`] plus the plugin's key-value namespace.
    pub fn core_with_kv() -> Grants {
        Grants {
            kv: true,
            ..Grants::core()
        }
    }

    /// Whether the capability is granted.
    pub fn grants(&self, kind: CapabilityKind) -> bool {
        match kind {
            CapabilityKind::Io => self.io,
            CapabilityKind::Log => self.log.is_some(),
            CapabilityKind::Config => self.config,
            CapabilityKind::Clock => self.clock,
            CapabilityKind::Random => self.random,
            CapabilityKind::Kv => self.kv,
            CapabilityKind::Events => self.events.is_some(),
            CapabilityKind::Http => self.http.is_some(),
            CapabilityKind::HostFunctions => !self.host_functions.is_empty(),
        }
    }

    /// Whether the host function `name` of `extism:host/user` is granted.
    pub fn grants_host_function(&self, name: &str) -> bool {
        self.host_functions.iter().any(|n| n == name)
    }

    /// Whether a module may import `f` under these grants: its capability
    /// is granted, or is soft ([`CapabilityKind::is_soft`]).
    pub fn permits(&self, f: HostFn) -> bool {
        f.capability().is_soft() || self.grants(f.capability())
    }

    /// The host functions these grants link, in [`HostFn::ALL`] order.
    pub fn linked(&self) -> impl Iterator<Item = HostFn> + '_ {
        HostFn::ALL.iter().copied().filter(|f| self.permits(*f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_links_only_soft_functions_and_core_links_everything() {
        let none: Vec<_> = Grants::none().linked().collect();
        assert_eq!(none, [HostFn::ClockNow, HostFn::RandomFill]);
        assert!(!Grants::none().grants(CapabilityKind::Clock));
        let all = Grants {
            events: Some(EventsGrant { topics: vec![] }),
            http: Some(HttpGrant::to(["https://example.com"])),
            ..Grants::core_with_kv()
        };
        assert_eq!(all.linked().count(), HostFn::ALL.len());
        assert!(!Grants::core().permits(HostFn::KvPut));
    }

    #[test]
    fn grant_files_deny_what_they_do_not_name() -> Result<(), GrantFileError> {
        let g = Grants::from_toml("io = true\n[log]\nmin_level = \"warn\"\n")?;
        assert!(g.io && !g.config && !g.clock && !g.random && !g.stdio);
        assert_eq!(g.log.map(|l| l.min_level), Some(LogLevel::Warn));
        assert_eq!(Grants::from_toml("")?, Grants::none());
        let h = Grants::from_toml("host_functions = [\"lookup\"]\n")?;
        assert!(h.grants_host_function("lookup") && !h.grants_host_function("other"));
        assert!(h.grants(CapabilityKind::HostFunctions));
        assert!(!Grants::core().grants(CapabilityKind::HostFunctions));
        Ok(())
    }

    #[test]
    fn topic_patterns_match_exactly_or_below_a_prefix() {
        let g = EventsGrant {
            topics: vec!["thumbnails.*".into(), "audit.login".into()],
        };
        assert!(g.allows("thumbnails.created"));
        assert!(g.allows("thumbnails.a.b"));
        assert!(!g.allows("thumbnails"));
        assert!(!g.allows("thumbnails."));
        assert!(!g.allows("thumbnailsX.created"));
        assert!(g.allows("audit.login"));
        assert!(!g.allows("audit.login.extra"));
        assert!(!g.allows("audit"));
        // A bare `*` is an exact topic named `*`, not a wildcard.
        let star = EventsGrant {
            topics: vec!["*".into()],
        };
        assert!(!star.allows("anything"));
    }

    #[test]
    fn grant_files_carry_event_topics() -> Result<(), GrantFileError> {
        let g = Grants::from_toml("[events]\ntopics = [\"a.*\"]\n")?;
        assert!(g.events.is_some_and(|e| e.allows("a.b")));
        Ok(())
    }

    #[test]
    fn stdio_mode_is_off_unless_named() -> Result<(), GrantFileError> {
        assert!(!Grants::none().stdio && !Grants::core().stdio);
        let g = Grants::from_toml("io = true\nstdio = true\n")?;
        assert!(g.stdio);
        assert_eq!(
            g,
            Grants {
                io: true,
                stdio: true,
                ..Grants::none()
            }
        );
        Ok(())
    }

    #[test]
    fn grant_files_refuse_unknown_keys_and_wrong_types() {
        let e = Grants::from_toml("io = true\nnetwork = true\n").unwrap_err();
        assert!(
            e.message
                .starts_with("line 2, column 1: unknown field `network`"),
            "{e}"
        );
        assert!(Grants::from_toml("io = \"yes\"").is_err());
        assert!(Grants::from_toml("[log]\nmin_level = \"loud\"").is_err());
    }

    #[test]
    fn http_grants_take_urls_or_tables_and_default_their_count() -> Result<(), GrantFileError> {
        let g = Grants::from_toml(
            "[http]\norigins = [\"https://a.example\", { url = \"http://127.0.0.1:8080/v1/\", methods = [\"GET\"] }]\nallow_private = [\"127.0.0.0/8\"]\n",
        )?;
        let http = g.http.expect("http granted");
        assert_eq!(http.origins[0], HttpOrigin::any_method("https://a.example"));
        assert_eq!(
            http.origins[1].methods.as_deref(),
            Some(&["GET".to_owned()][..])
        );
        assert_eq!(http.allow_private, ["127.0.0.0/8"]);
        assert_eq!(http.max_requests, HttpGrant::DEFAULT_MAX_REQUESTS);
        assert!(
            Grants::from_toml("[http]\norigins = []\nmax_requests = 2\n")?
                .http
                .is_some()
        );
        // Unknown keys are refused, in the grant and in an origin table.
        assert!(Grants::from_toml("[http]\norigins = []\nproxy = \"x\"\n").is_err());
        assert!(
            Grants::from_toml("[http]\norigins = [{ url = \"https://a\", port = 1 }]\n").is_err()
        );
        assert!(
            Grants::from_toml("[http]\n").is_err(),
            "origins are required"
        );
        Ok(())
    }

    #[test]
    fn log_can_be_withheld_alone() {
        let g = Grants {
            log: None,
            ..Grants::core()
        };
        assert!(g.permits(HostFn::WriteOutput));
        assert!(!g.permits(HostFn::Log));
    }
}
