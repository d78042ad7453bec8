//! The plugin's key-value namespace (capability `kv`). The host binds it
//! to the tenant and plugin; keys are opaque bytes inside it.

use bitvault_abi::wire;

use crate::{HostError, backend, staged};

/// The value of `key`, or `None`.
///
/// # Errors
/// [`HostError::Unavailable`] when the store is missing or failing.
pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
    match HostError::check(backend::kv_get(key)) {
        Ok(len) => Ok(Some(staged(len))),
        Err(HostError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores `value` under `key`; durable when this returns.
///
/// # Errors
/// [`HostError::QuotaExceeded`] (nothing changed) or
/// [`HostError::Unavailable`].
pub fn put(key: &[u8], value: &[u8]) -> Result<(), HostError> {
    HostError::check(backend::kv_put(key, value)).map(drop)
}

/// Deletes `key`; whether it existed.
///
/// # Errors
/// [`HostError::Unavailable`].
pub fn delete(key: &[u8]) -> Result<bool, HostError> {
    HostError::check(backend::kv_delete(key)).map(|r| r == 1)
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Keys in byte order.
    pub keys: Vec<Vec<u8>>,
    /// The cursor for the next page, `None` at the end.
    pub next: Option<Vec<u8>>,
}

/// Keys starting with `prefix` after `cursor`, at most `limit` (1..=1000).
///
/// # Errors
/// [`HostError::InvalidArgument`] for a limit out of range;
/// [`HostError::Unavailable`]; `HostError::Other(0)` for a page that does
/// not decode (a host bug).
pub fn list(prefix: &[u8], cursor: Option<&[u8]>, limit: u32) -> Result<Page, HostError> {
    let len = HostError::check(backend::kv_list(prefix, cursor, limit as i32))?;
    let page = wire::decode_kv_page(&staged(len)).map_err(|_| HostError::Other(0))?;
    Ok(Page {
        keys: page.keys,
        next: page.next,
    })
}

/// Every key starting with `prefix`, following pages to the end.
///
/// # Errors
/// As [`list`].
pub fn keys(prefix: &[u8]) -> Result<Vec<Vec<u8>>, HostError> {
    let mut all = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let page = list(prefix, cursor.as_deref(), 1000)?;
        all.extend(page.keys);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(all),
        }
    }
}
