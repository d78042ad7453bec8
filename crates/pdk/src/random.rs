//! Random bytes from the host's CSPRNG (capability `random`, soft).

use crate::{HostError, backend};

/// The most bytes one host call fills; [`fill`] loops over larger buffers.
pub const CHUNK: usize = 64 * 1024;

/// Fills `buf` with random bytes.
///
/// # Errors
/// [`HostError::NotPermitted`] when randomness is withheld.
pub fn fill(buf: &mut [u8]) -> Result<(), HostError> {
    for chunk in buf.chunks_mut(CHUNK) {
        HostError::check(backend::random_fill(chunk))?;
    }
    Ok(())
}

/// A random `u64`.
///
/// # Errors
/// [`HostError::NotPermitted`] when randomness is withheld.
pub fn u64() -> Result<u64, HostError> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
