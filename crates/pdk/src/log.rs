//! Levelled logging (capability `log`).

use crate::HostError;
use crate::backend;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
}

impl Level {
    /// The ABI value.
    pub fn value(self) -> i32 {
        self as i32
    }

    /// The level of an ABI value.
    pub fn from_value(v: i32) -> Option<Level> {
        Some(match v {
            0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            4 => Level::Error,
            _ => return None,
        })
    }
}

/// Logs `message` at `level`. Past the log limits the invocation ends.
///
/// # Errors
/// [`HostError`] if the host refuses the message.
pub fn log(level: Level, message: &str) -> Result<(), HostError> {
    HostError::check(backend::log(level.value(), message.as_bytes())).map(drop)
}

/// Logs at [`Level::Debug`], ignoring refusals.
pub fn debug(message: &str) {
    let _ = log(Level::Debug, message);
}

/// Logs at [`Level::Info`], ignoring refusals.
pub fn info(message: &str) {
    let _ = log(Level::Info, message);
}

/// Logs at [`Level::Warn`], ignoring refusals.
pub fn warn(message: &str) {
    let _ = log(Level::Warn, message);
}

/// Logs at [`Level::Error`], ignoring refusals.
pub fn error(message: &str) {
    let _ = log(Level::Error, message);
}
