//! Per-invocation limits, and the host policy that bounds them.

use std::fmt;
use std::time::Duration;

/// One per-invocation limit, by name. The names are stable: they appear in
/// the CLI's `--json` outcome (`"limit": "<name>"`) and in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "grants", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "grants", serde(rename_all = "snake_case"))]
pub enum LimitName {
    /// Metering points (one per executed wasm operator).
    Fuel,
    /// Bytes of the request.
    InputBytes,
    /// Bytes of linear memory, summed over all memories.
    MemoryBytes,
    /// Elements of every table.
    TableElements,
    /// Wall-clock time from the start of the invocation to its return.
    DeadlineMs,
    /// Bytes written with `write_output`.
    OutputBytes,
    /// Bytes of log messages.
    LogBytes,
    /// Number of log messages.
    LogLines,
    /// Number of host-function calls.
    HostCalls,
    /// Bytes of the message given to `set_error`.
    ErrorMessageBytes,
}

impl LimitName {
    /// Every limit, in declaration order.
    pub const ALL: &'static [LimitName] = &[
        LimitName::Fuel,
        LimitName::InputBytes,
        LimitName::MemoryBytes,
        LimitName::TableElements,
        LimitName::DeadlineMs,
        LimitName::OutputBytes,
        LimitName::LogBytes,
        LimitName::LogLines,
        LimitName::HostCalls,
        LimitName::ErrorMessageBytes,
    ];

    /// The stable snake-case name.
    pub const fn name(self) -> &'static str {
        match self {
            LimitName::Fuel => "fuel",
            LimitName::InputBytes => "input_bytes",
            LimitName::MemoryBytes => "memory_bytes",
            LimitName::TableElements => "table_elements",
            LimitName::DeadlineMs => "deadline_ms",
            LimitName::OutputBytes => "output_bytes",
            LimitName::LogBytes => "log_bytes",
            LimitName::LogLines => "log_lines",
            LimitName::HostCalls => "host_calls",
            LimitName::ErrorMessageBytes => "error_message_bytes",
        }
    }
}

impl fmt::Display for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The budgets of one invocation. Each is enforced by the host; exhausting
/// one ends the call with an outcome that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "grants", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "grants", serde(deny_unknown_fields))]
pub struct Limits {
    /// Metering points for the invoked export (and `_initialize`).
    pub fuel: u64,
    /// Bytes of the request (at most `i32::MAX`, as `input_len` returns
    /// an `i32`).
    pub input_bytes: u64,
    /// Ceiling on linear memory, in bytes (rounded down to 64 KiB pages).
    pub memory_bytes: u64,
    /// Ceiling on the number of elements of each table.
    pub table_elements: u32,
    /// Wall-clock deadline of the whole invocation, in milliseconds.
    pub deadline_ms: u64,
    /// Bytes the plugin may write as its response.
    pub output_bytes: u64,
    /// Bytes of log messages per invocation.
    pub log_bytes: u64,
    /// Log messages per invocation.
    pub log_lines: u32,
    /// Host-function calls per invocation.
    pub host_calls: u64,
    /// Bytes of the `set_error` message.
    pub error_message_bytes: u32,
}

impl Limits {
    /// The value of one limit, widened to `u64`.
    pub fn get(&self, name: LimitName) -> u64 {
        match name {
            LimitName::Fuel => self.fuel,
            LimitName::InputBytes => self.input_bytes,
            LimitName::MemoryBytes => self.memory_bytes,
            LimitName::TableElements => u64::from(self.table_elements),
            LimitName::DeadlineMs => self.deadline_ms,
            LimitName::OutputBytes => self.output_bytes,
            LimitName::LogBytes => self.log_bytes,
            LimitName::LogLines => u64::from(self.log_lines),
            LimitName::HostCalls => self.host_calls,
            LimitName::ErrorMessageBytes => u64::from(self.error_message_bytes),
        }
    }

    /// The deadline as a [`Duration`].
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Each limit lowered to `max`'s where it exceeds it.
    pub fn clamped_to(&self, max: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(max.fuel),
            input_bytes: self.input_bytes.min(max.input_bytes),
            memory_bytes: self.memory_bytes.min(max.memory_bytes),
            table_elements: self.table_elements.min(max.table_elements),
            deadline_ms: self.deadline_ms.min(max.deadline_ms),
            output_bytes: self.output_bytes.min(max.output_bytes),
            log_bytes: self.log_bytes.min(max.log_bytes),
            log_lines: self.log_lines.min(max.log_lines),
            host_calls: self.host_calls.min(max.host_calls),
            error_message_bytes: self.error_message_bytes.min(max.error_message_bytes),
        }
    }

    /// The limits of `self` that exceed `max`, with their values.
    pub fn exceeding(&self, max: &Limits) -> Vec<(LimitName, u64)> {
        LimitName::ALL
            .iter()
            .filter(|n| self.get(**n) > max.get(**n))
            .map(|n| (*n, self.get(*n)))
            .collect()
    }
}

/// The host's limit policy: the defaults an invocation gets when it asks for
/// nothing, and the maxima no request may exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "grants", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "grants", serde(deny_unknown_fields))]
pub struct LimitPolicy {
    /// Limits applied when a caller names none.
    pub default: Limits,
    /// Upper bounds on any requested limit.
    pub max: Limits,
}

impl LimitPolicy {
    /// The built-in policy.
    ///
    /// | limit | default | maximum |
    /// |---|---|---|
    /// | fuel | 100 000 000 | 10 000 000 000 |
    /// | input_bytes | 16 MiB | 256 MiB |
    /// | memory_bytes | 64 MiB | 1 GiB |
    /// | table_elements | 10 000 | 100 000 |
    /// | deadline_ms | 1 000 | 60 000 |
    /// | output_bytes | 16 MiB | 256 MiB |
    /// | log_bytes | 64 KiB | 1 MiB |
    /// | log_lines | 256 | 10 000 |
    /// | host_calls | 100 000 | 10 000 000 |
    /// | error_message_bytes | 4 KiB | 64 KiB |
    pub const fn standard() -> LimitPolicy {
        LimitPolicy {
            default: Limits {
                fuel: 100_000_000,
                input_bytes: 16 << 20,
                memory_bytes: 64 << 20,
                table_elements: 10_000,
                deadline_ms: 1_000,
                output_bytes: 16 << 20,
                log_bytes: 64 << 10,
                log_lines: 256,
                host_calls: 100_000,
                error_message_bytes: 4 << 10,
            },
            max: Limits {
                fuel: 10_000_000_000,
                input_bytes: 256 << 20,
                memory_bytes: 1 << 30,
                table_elements: 100_000,
                deadline_ms: 60_000,
                output_bytes: 256 << 20,
                log_bytes: 1 << 20,
                log_lines: 10_000,
                host_calls: 10_000_000,
                error_message_bytes: 64 << 10,
            },
        }
    }

    /// `requested` bounded by the maxima.
    pub fn bound(&self, requested: &Limits) -> Limits {
        requested.clamped_to(&self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_defaults_sit_within_the_maxima() {
        let p = LimitPolicy::standard();
        assert!(p.default.exceeding(&p.max).is_empty());
    }

    #[test]
    fn clamping_lowers_only_what_exceeds() {
        let p = LimitPolicy::standard();
        let asked = Limits {
            fuel: u64::MAX,
            log_lines: 1,
            ..p.default
        };
        let got = p.bound(&asked);
        assert_eq!(got.fuel, p.max.fuel);
        assert_eq!(got.log_lines, 1);
        assert_eq!(asked.exceeding(&p.max), vec![(LimitName::Fuel, u64::MAX)]);
    }

    #[test]
    fn every_limit_has_a_distinct_name() {
        let mut names: Vec<_> = LimitName::ALL.iter().map(|l| l.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LimitName::ALL.len());
    }
}
