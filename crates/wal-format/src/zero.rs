//! Finding where zeros end: preallocated space after a segment's records
//! is zeros, and both the writer (is a segment's tail still all zeros?)
//! and the reader (skip zero runs while searching for records after
//! damage) scan for the first non-zero byte.

/// The index of the first non-zero byte of `bytes`, checked a 64-byte
/// block at a time (a byte-wise search does not vectorize).
#[must_use]
pub fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(64);
    let mut base = 0usize;
    for block in &mut blocks {
        let mut acc = 0u64;
        for word in block.chunks_exact(8) {
            if let Ok(w) = <[u8; 8]>::try_from(word) {
                acc |= u64::from_ne_bytes(w);
            }
        }
        if acc != 0 {
            return block
                .iter()
                .position(|&b| b != 0)
                .map(|p| base.saturating_add(p));
        }
        base = base.saturating_add(64);
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b != 0)
        .map(|p| base.saturating_add(p))
}

#[cfg(test)]
mod tests {
    use super::first_nonzero;

    #[test]
    fn finds_the_first_nonzero_byte_anywhere() {
        for len in [0usize, 1, 7, 8, 63, 64, 65, 127, 128, 1000] {
            let mut bytes = vec![0u8; len];
            assert_eq!(first_nonzero(&bytes), None, "len {len}");
            for at in 0..len {
                bytes[at] = 0x10;
                assert_eq!(first_nonzero(&bytes), Some(at), "len {len}, byte {at}");
                // A later non-zero byte does not hide it.
                if at + 1 < len {
                    bytes[len - 1] = 1;
                    assert_eq!(first_nonzero(&bytes), Some(at), "len {len}, byte {at}");
                    bytes[len - 1] = 0;
                }
                bytes[at] = 0;
            }
        }
    }
}
