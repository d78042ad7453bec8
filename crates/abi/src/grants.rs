//! Capability grants: which host functions a plugin is linked against, and
//! with what scope.

use crate::{HostFn, LogLevel};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A family of host functions that is granted or withheld as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityKind {
    /// The invocation's own request and response: `input_len`, `read_input`,
    /// `write_output`, `set_error`.
    Io,
    /// Levelled, bounded logging: `log`.
    Log,
    /// The install-time configuration: `config_get`.
    Config,
    /// Coarse (1 ms) wall-clock and monotonic time: `clock_now`. A soft
    /// capability: always linked; withheld, it answers `not_permitted`.
    Clock,
    /// Random bytes from the host's CSPRNG: `random_fill`. A soft
    /// capability: always linked; withheld, it answers `not_permitted`.
    Random,
    /// The plugin's key-value namespace: `kv_get`, `kv_put`, `kv_delete`,
    /// `kv_list`. The host binds the namespace to the tenant and plugin.
    Kv,
    /// Publishing events on granted topics: `emit_event`.
    Events,
}

impl CapabilityKind {
    /// Whether a module may import the capability's functions even when it
    /// is not granted (they then answer `not_permitted`). Clocks and
    /// randomness are soft so that a host or grant can withhold them without
    /// making common toolchains' modules fail admission.
    pub const fn is_soft(self) -> bool {
        matches!(self, CapabilityKind::Clock | CapabilityKind::Random)
    }

    /// The stable lower-case name used in grant files and messages.
    pub const fn name(self) -> &'static str {
        match self {
            CapabilityKind::Io => "io",
            CapabilityKind::Log => "log",
            CapabilityKind::Config => "config",
            CapabilityKind::Clock => "clock",
            CapabilityKind::Random => "random",
            CapabilityKind::Kv => "kv",
            CapabilityKind::Events => "events",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    ///   log, which is withheld too, so their bytes are dropped).
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
        }
    }

    /// The core ABI: request and response functions, logging at every
    /// level, configuration, the coarse clocks and randomness; no
    /// key-value store, no events, no stdio mode. This is what
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
    ///
    /// [log]
    /// min_level = "info"
    /// ```
    ///
    /// # Errors
    /// [`GrantFileError`] for TOML syntax errors, unknown keys or values of
    /// the wrong type.
    pub fn from_toml(text: &str) -> Result<Grants, GrantFileError> {
        toml::from_str(text).map_err(|e| GrantFileError {
            message: e.to_string().trim().replace('\n', " "),
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
        }
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
        assert!(e.message.contains("network"), "{e}");
        assert!(Grants::from_toml("io = \"yes\"").is_err());
        assert!(Grants::from_toml("[log]\nmin_level = \"loud\"").is_err());
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
