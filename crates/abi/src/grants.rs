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
}

impl CapabilityKind {
    /// The stable lower-case name used in grant files and messages.
    pub const fn name(self) -> &'static str {
        match self {
            CapabilityKind::Io => "io",
            CapabilityKind::Log => "log",
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
}

impl Grants {
    /// Nothing granted:
    /// - no request or response functions (`io` false),
    /// - no logging (`log` none).
    ///
    /// A module with any `bitvault_v1` import fails admission under it.
    pub fn none() -> Grants {
        Grants {
            io: false,
            log: None,
        }
    }

    /// The core ABI: request and response functions, and logging at every
    /// level. This is what `bitvault-plugin run` grants.
    pub fn core() -> Grants {
        Grants {
            io: true,
            log: Some(LogGrant {
                min_level: LogLevel::Trace,
            }),
        }
    }

    /// Whether the capability family is granted.
    pub fn grants(&self, kind: CapabilityKind) -> bool {
        match kind {
            CapabilityKind::Io => self.io,
            CapabilityKind::Log => self.log.is_some(),
        }
    }

    /// Whether `f` would be linked under these grants.
    pub fn permits(&self, f: HostFn) -> bool {
        self.grants(f.capability())
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
    fn none_links_nothing_and_core_links_everything() {
        assert_eq!(Grants::none().linked().count(), 0);
        assert_eq!(Grants::core().linked().count(), HostFn::ALL.len());
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
