//! Coarse clocks (capability `clock`, soft): whole milliseconds.

use crate::{HostError, backend};

/// Milliseconds since the Unix epoch.
///
/// # Errors
/// [`HostError::NotPermitted`] when the clock is withheld.
pub fn wall_ms() -> Result<i64, HostError> {
    check(backend::clock_now(0))
}

/// Milliseconds since the invocation began.
///
/// # Errors
/// [`HostError::NotPermitted`] when the clock is withheld.
pub fn monotonic_ms() -> Result<i64, HostError> {
    check(backend::clock_now(1))
}

fn check(v: i64) -> Result<i64, HostError> {
    if v < 0 {
        Err(HostError::from_code(v as i32))
    } else {
        Ok(v)
    }
}
