//! Bounds-checked, single-copy access to guest linear memory.
//!
//! Every `(ptr, len)` pair a guest passes is checked here with
//! overflow-safe arithmetic before any byte moves: `ptr + len` is computed in
//! `u64`, so a pair that wraps past 2^32 is refused, never reduced modulo
//! 2^32. The copy itself is one `copy_nonoverlapping` between host memory and
//! guest memory; wasmer's safe `MemoryView::read`/`write` copy through a
//! volatile byte loop, several times slower than `memcpy`.
//!
//! This is the one module of the crate that builds pointers into guest
//! memory; no host function does so without going through it.
#![allow(unsafe_code)]

use bitvault_abi::ErrorCode;
use wasmer::MemoryView;

/// Checks that `ptr .. ptr + len` lies inside a memory of `size` bytes and
/// returns the start offset as `usize`.
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when the range does not fit.
pub(crate) fn check(ptr: u32, len: u32, size: u64) -> Result<usize, ErrorCode> {
    let end = u64::from(ptr) + u64::from(len);
    if end > size {
        return Err(ErrorCode::OutOfBounds);
    }
    usize::try_from(ptr).map_err(|_| ErrorCode::OutOfBounds)
}

/// Appends `len` bytes of guest memory at `ptr` to `dst`.
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when the range does not lie in `view`; `dst` is
/// then unchanged.
pub(crate) fn read_into(
    view: &MemoryView<'_>,
    ptr: u32,
    len: u32,
    dst: &mut Vec<u8>,
) -> Result<(), ErrorCode> {
    let start = check(ptr, len, view.data_size())?;
    let len = len as usize;
    dst.reserve(len);
    let old = dst.len();
    // SAFETY: `check` proved `start + len <= view.data_size()`, so the source
    // range lies inside the memory's current allocation, which starts at
    // `view.data_ptr()`; the memory cannot grow or move during this call
    // because no guest code runs while a host function executes, and the
    // view borrows the store. The destination has `len` bytes of spare
    // capacity after `old` (reserved above). The ranges cannot overlap: one
    // is guest linear memory, the other a host `Vec` allocation. `u8` has no
    // invalid bit patterns, so the copied bytes initialise the new length.
    unsafe {
        std::ptr::copy_nonoverlapping(view.data_ptr().add(start), dst.as_mut_ptr().add(old), len);
        dst.set_len(old + len);
    }
    Ok(())
}

/// Copies `src` into guest memory at `ptr`.
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when `ptr .. ptr + src.len()` does not lie in
/// `view`; guest memory is then unchanged.
pub(crate) fn write(view: &MemoryView<'_>, ptr: u32, src: &[u8]) -> Result<(), ErrorCode> {
    let len = u32::try_from(src.len()).map_err(|_| ErrorCode::OutOfBounds)?;
    let start = check(ptr, len, view.data_size())?;
    // SAFETY: `check` proved `start + src.len() <= view.data_size()`, so the
    // destination lies inside the memory's current allocation starting at
    // `view.data_ptr()`, which cannot grow or move while the host function
    // runs (no guest code runs, and the view borrows the store). `src` is a
    // host slice and cannot overlap guest linear memory: host functions never
    // hold slices into guest memory across this call.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), view.data_ptr().add(start), src.len());
    }
    Ok(())
}

/// Reads `N` bytes of guest memory at `ptr` into an array (a fixed-size
/// field of a guest structure: an iovec, a subscription, an integer).
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when `ptr .. ptr + N` does not lie in `view`.
pub(crate) fn read_array<const N: usize>(
    view: &MemoryView<'_>,
    ptr: u32,
) -> Result<[u8; N], ErrorCode> {
    let len = u32::try_from(N).map_err(|_| ErrorCode::OutOfBounds)?;
    let start = check(ptr, len, view.data_size())?;
    let mut out = [0u8; N];
    // SAFETY: `check` proved `start + N <= view.data_size()`, so the source
    // range lies inside the memory's current allocation starting at
    // `view.data_ptr()`, which cannot grow or move while the host function
    // runs (no guest code runs, and the view borrows the store). The
    // destination is a local array of exactly `N` bytes, which cannot
    // overlap guest linear memory.
    unsafe {
        std::ptr::copy_nonoverlapping(view.data_ptr().add(start), out.as_mut_ptr(), N);
    }
    Ok(out)
}

/// Writes `value` as a little-endian `u32` at `ptr`.
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when the four bytes do not lie in `view`;
/// guest memory is then unchanged.
pub(crate) fn write_u32(view: &MemoryView<'_>, ptr: u32, value: u32) -> Result<(), ErrorCode> {
    write(view, ptr, &value.to_le_bytes())
}

/// Writes `value` as a little-endian `u64` at `ptr`.
///
/// # Errors
/// [`ErrorCode::OutOfBounds`] when the eight bytes do not lie in `view`;
/// guest memory is then unchanged.
pub(crate) fn write_u64(view: &MemoryView<'_>, ptr: u32, value: u64) -> Result<(), ErrorCode> {
    write(view, ptr, &value.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_bounds_ranges_pass() {
        assert_eq!(check(0, 0, 0), Ok(0));
        assert_eq!(check(0, 10, 10), Ok(0));
        assert_eq!(check(10, 0, 10), Ok(10));
        assert_eq!(check(65_535, 1, 65_536), Ok(65_535));
    }

    #[test]
    fn out_of_bounds_and_wrapping_ranges_fail() {
        assert_eq!(check(10, 1, 10), Err(ErrorCode::OutOfBounds));
        assert_eq!(check(11, 0, 10), Err(ErrorCode::OutOfBounds));
        // Wraps to 0 in 32-bit arithmetic.
        assert_eq!(check(u32::MAX, 1, 65_536), Err(ErrorCode::OutOfBounds));
        assert_eq!(check(1, u32::MAX, 65_536), Err(ErrorCode::OutOfBounds));
        assert_eq!(check(u32::MAX, u32::MAX, u64::MAX), Ok(u32::MAX as usize));
    }
}
