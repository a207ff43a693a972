//! A heap buffer aligned for `O_DIRECT`.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

/// The alignment of `O_DIRECT` I/O: file offsets, lengths and buffer
/// addresses are multiples of it. 4096 covers every common logical block
/// size (512 and 4096).
pub const DIRECT_ALIGN: usize = 4096;

/// A zero-initialised byte buffer whose address and length are multiples of
/// [`DIRECT_ALIGN`].
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer owns its allocation exclusively (like a `Box<[u8]>`),
// so moving it to or sharing it with another thread is as safe as for a
// `Vec<u8>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: as above; `&AlignedBuf` only gives out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A buffer of at least `len` bytes (rounded up to a multiple of
    /// [`DIRECT_ALIGN`], at least one block), all zero.
    pub(crate) fn new(len: usize) -> Self {
        let len = round_up(len.max(1));
        let layout = match Layout::from_size_align(len, DIRECT_ALIGN) {
            Ok(layout) => layout,
            Err(_) => handle_alloc_error(Layout::new::<u8>()),
        };
        // SAFETY: the layout has a non-zero size (at least DIRECT_ALIGN).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        AlignedBuf { ptr, len }
    }

    /// Grows the buffer to at least `len` bytes, keeping its content; new
    /// bytes are zero.
    pub(crate) fn grow(&mut self, len: usize) {
        if len <= self.len {
            return;
        }
        let mut bigger = AlignedBuf::new(len.max(self.len.saturating_mul(2)));
        if let Some(dst) = bigger.get_mut(..self.len) {
            dst.copy_from_slice(self);
        }
        *self = bigger;
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised (zeroed at allocation)
        // bytes owned by `self`, alive as long as the borrow of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated in `new` with exactly this layout
        // (`len` is a non-zero multiple of DIRECT_ALIGN, so it is valid),
        // and is freed only here.
        unsafe {
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.len, DIRECT_ALIGN),
            );
        }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .finish()
    }
}

/// `n` rounded up to a multiple of [`DIRECT_ALIGN`] (saturating).
pub(crate) const fn round_up(n: usize) -> usize {
    match n.checked_add(DIRECT_ALIGN - 1) {
        Some(v) => v / DIRECT_ALIGN * DIRECT_ALIGN,
        None => usize::MAX / DIRECT_ALIGN * DIRECT_ALIGN,
    }
}

/// `n` rounded down to a multiple of [`DIRECT_ALIGN`].
pub(crate) const fn round_down(n: u64) -> u64 {
    n / DIRECT_ALIGN as u64 * DIRECT_ALIGN as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_grows() {
        let mut buf = AlignedBuf::new(10);
        assert_eq!(buf.len(), DIRECT_ALIGN);
        assert_eq!(buf.as_ptr() as usize % DIRECT_ALIGN, 0);
        assert!(buf.iter().all(|&b| b == 0));
        buf[5] = 7;
        buf.grow(3 * DIRECT_ALIGN + 1);
        assert_eq!(buf.len(), 4 * DIRECT_ALIGN);
        assert_eq!(buf.as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(buf[5], 7);
        assert!(buf[6..].iter().all(|&b| b == 0));
        assert_eq!(round_up(0), 0);
        assert_eq!(round_up(1), DIRECT_ALIGN);
        assert_eq!(round_down(4097), 4096);
    }
}
