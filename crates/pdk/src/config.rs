//! The install-time configuration (capability `config`).

use crate::{HostError, backend, staged};

/// The configuration value of `key`, or `None` if there is none.
///
/// # Errors
/// [`HostError`] for any refusal other than a missing key.
pub fn get(key: &str) -> Result<Option<String>, HostError> {
    match HostError::check(backend::config_get(key.as_bytes())) {
        Ok(len) => Ok(Some(
            String::from_utf8(staged(len)).map_err(|_| HostError::InvalidUtf8)?,
        )),
        Err(HostError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
