//! The capability families that grants give or withhold.

use std::fmt;

/// A family of host functions that is granted or withheld as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "grants", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "grants", serde(rename_all = "snake_case"))]
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
    /// Outbound HTTP to granted origins: `http_request`.
    Http,
    /// Functions the embedding host registers for Extism-style plugins
    /// (imports from `extism:host/user`), each granted by name.
    HostFunctions,
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
            CapabilityKind::Http => "http",
            CapabilityKind::HostFunctions => "host_functions",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
