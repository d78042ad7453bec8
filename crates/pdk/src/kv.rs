//! The plugin's key-value namespace (capability `kv`). The host binds it
//! to the tenant and plugin; keys are opaque bytes inside it.

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
    decode(&staged(len)).ok_or(HostError::Other(0))
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

/// Decodes the page encoding of `docs/abi.md` §5.10.
pub(crate) fn decode(b: &[u8]) -> Option<Page> {
    fn u32_at(b: &[u8], at: usize) -> Option<usize> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
    }
    let count = u32_at(b, 0)?;
    let mut at = 4;
    let mut keys = Vec::with_capacity(count.min(1000));
    for _ in 0..count {
        let n = u32_at(b, at)?;
        keys.push(b.get(at + 4..at + 4 + n)?.to_vec());
        at += 4 + n;
    }
    let next = match b.get(at)? {
        0 => None,
        _ => {
            let n = u32_at(b, at + 1)?;
            Some(b.get(at + 5..at + 5 + n)?.to_vec())
        }
    };
    Some(Page { keys, next })
}

/// Encodes a page (the host's side; used by the test host).
#[cfg(not(target_family = "wasm"))]
pub(crate) fn encode(keys: &[Vec<u8>], next: Option<&[u8]>) -> Vec<u8> {
    let mut out = (keys.len() as u32).to_le_bytes().to_vec();
    for k in keys {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    match next {
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&(n.len() as u32).to_le_bytes());
            out.extend_from_slice(n);
        }
        None => out.push(0),
    }
    out
}
