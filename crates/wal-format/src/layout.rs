//! Fixed layouts (the segment header, the clean-close marker): fields
//! written and read in order, closed by the CRC-32 of the bytes before it.

use crate::error::{Checksum, Error, Result};

/// Writes consecutive fields into a fixed buffer.
pub(crate) struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    /// Writes `bytes` next. The layouts fit their buffers; were one not
    /// to, what does not fit is left out (never a panic).
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let buf = std::mem::take(&mut self.0);
        let n = bytes.len().min(buf.len());
        let (head, tail) = buf.split_at_mut(n);
        head.copy_from_slice(bytes.get(..n).unwrap_or_default());
        self.0 = tail;
    }
}

/// Reads consecutive fixed-size fields from a layout known to be long
/// enough.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        match self.0.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.0 = tail;
                *head
            }
            // Callers read no more than the layout's length from a buffer
            // of that length, so this arm is never taken; zeros keep it
            // total.
            None => [0; N],
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

/// A layout of `N` bytes: the fields `fill` writes, then, in the last four
/// bytes, the CRC-32 of the bytes before them.
pub(crate) fn seal<const N: usize>(fill: impl FnOnce(&mut Writer<'_>)) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some((body, crc)) = out.split_last_chunk_mut::<4>() {
        fill(&mut Writer(body));
        *crc = crc32fast::hash(body).to_le_bytes();
    }
    out
}

/// Checks a layout whose last four bytes are the CRC-32 of the bytes
/// before them.
///
/// # Errors
///
/// [`Error::ChecksumMismatch`] (naming `which`) if they are not.
pub(crate) fn check_crc(which: Checksum, bytes: &[u8]) -> Result<()> {
    let (body, stored) = match bytes.split_last_chunk::<4>() {
        Some((body, crc)) => (body, u32::from_le_bytes(*crc)),
        None => (bytes, 0),
    };
    let computed = crc32fast::hash(body);
    if computed == stored {
        Ok(())
    } else {
        Err(Error::ChecksumMismatch {
            which,
            stored,
            computed,
        })
    }
}
