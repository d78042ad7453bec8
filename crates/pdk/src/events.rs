//! Publishing events (capability `events`, on the granted topics).

use crate::{HostError, backend};

/// Publishes `payload` on `topic`.
///
/// # Errors
/// [`HostError::NotPermitted`] for a topic outside the grant,
/// [`HostError::DepthExceeded`], [`HostError::TooLarge`],
/// [`HostError::Unavailable`].
pub fn emit(topic: &str, payload: &[u8]) -> Result<(), HostError> {
    HostError::check(backend::emit_event(topic.as_bytes(), payload)).map(drop)
}
