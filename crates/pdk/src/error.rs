//! Plugin errors and host refusals.

use std::fmt;

/// An error an entry point returns: a non-zero code and a message, which
/// the host reports as the `plugin_error` outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The export's return code; must not be 0.
    pub code: i32,
    /// The message passed to `set_error`.
    pub message: String,
}

impl Error {
    /// The code [`FromInput`](crate::FromInput) uses for a request it cannot
    /// convert.
    pub const BAD_INPUT: i32 = 2;
    /// The code a [`HostError`] becomes when `?` converts it.
    pub const HOST: i32 = 3;

    /// An error with `code` (0 is replaced by 1, since 0 means success) and
    /// `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error {
            code: if code == 0 { 1 } else { code },
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        Error::new(Error::HOST, format!("host refused: {e}"))
    }
}

/// A refusal from a host function: the negative codes of `docs/abi.md` §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// -1: a buffer outside the plugin's memory.
    OutOfBounds,
    /// -2: the module exports no memory.
    NoMemory,
    /// -3: an argument out of range.
    InvalidArgument,
    /// -4: an argument over its size bound.
    TooLarge,
    /// -5: text that is not UTF-8.
    InvalidUtf8,
    /// -6: no such key, or nothing staged.
    NotFound,
    /// -7: a withheld capability, an ungranted topic, or a URL, address or
    /// redirect outside the HTTP grant.
    NotPermitted,
    /// -8: a KV quota would be exceeded, or the HTTP request count.
    QuotaExceeded,
    /// -9: no store, bus or HTTP client, or it failed.
    Unavailable,
    /// -10: the event chain is too deep.
    DepthExceeded,
    /// -11: an HTTP request hit its timeout or the deadline.
    TimedOut,
    /// -12: the HTTP peer could not be reached or spoke badly.
    ConnectionFailed,
    /// A code this SDK does not know.
    Other(i32),
}

impl HostError {
    /// The error for a negative result.
    pub fn from_code(code: i32) -> HostError {
        match code {
            -1 => HostError::OutOfBounds,
            -2 => HostError::NoMemory,
            -3 => HostError::InvalidArgument,
            -4 => HostError::TooLarge,
            -5 => HostError::InvalidUtf8,
            -6 => HostError::NotFound,
            -7 => HostError::NotPermitted,
            -8 => HostError::QuotaExceeded,
            -9 => HostError::Unavailable,
            -10 => HostError::DepthExceeded,
            -11 => HostError::TimedOut,
            -12 => HostError::ConnectionFailed,
            other => HostError::Other(other),
        }
    }

    /// The code the host returned.
    pub fn code(self) -> i32 {
        match self {
            HostError::OutOfBounds => -1,
            HostError::NoMemory => -2,
            HostError::InvalidArgument => -3,
            HostError::TooLarge => -4,
            HostError::InvalidUtf8 => -5,
            HostError::NotFound => -6,
            HostError::NotPermitted => -7,
            HostError::QuotaExceeded => -8,
            HostError::Unavailable => -9,
            HostError::DepthExceeded => -10,
            HostError::TimedOut => -11,
            HostError::ConnectionFailed => -12,
            HostError::Other(c) => c,
        }
    }

    /// `Ok(result)` for a non-negative result, the error otherwise.
    ///
    /// # Errors
    /// The [`HostError`] for a negative result.
    pub fn check(result: i32) -> Result<i32, HostError> {
        if result < 0 {
            Err(HostError::from_code(result))
        } else {
            Ok(result)
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = bitvault_abi::ErrorCode::from_code(self.code()).map_or("unknown", |c| c.name());
        write!(f, "{name} ({})", self.code())
    }
}

impl std::error::Error for HostError {}

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_abi::ErrorCode;

    #[test]
    fn codes_and_names_match_the_abi() {
        for c in ErrorCode::ALL {
            let e = HostError::from_code(c.code());
            assert!(!matches!(e, HostError::Other(_)), "{c} has no variant");
            assert_eq!(e.code(), c.code());
            assert_eq!(e.to_string(), c.to_string());
        }
        assert_eq!(HostError::from_code(-99), HostError::Other(-99));
    }

    #[test]
    fn an_error_never_has_code_zero() {
        assert_eq!(Error::new(0, "x").code, 1);
    }
}
