//! zstd compression of record payloads, bounded on the way back.
//!
//! A compressed payload is `u32` (little-endian) uncompressed length, then a
//! zstd frame without checksum (the record's CRC and, when encrypted, its
//! tag already cover it). The declared length is checked against the
//! reader's maximum record size before anything is allocated, and the frame
//! may not produce more than it declares.

use std::io::Cursor;

use wal_format::Lsn;
use zstd::zstd_safe::CParameter;

use crate::error::{Error, Result};

/// The length of the uncompressed-length prefix.
pub const LEN_PREFIX: usize = 4;

/// Payloads shorter than this are never compressed: the prefix and frame
/// header would eat any gain.
pub const MIN_COMPRESS_LEN: usize = 64;

/// The default zstd level: fast, and most of the gain on log records.
pub const DEFAULT_LEVEL: i32 = 1;

/// Compresses payloads, keeping its zstd context between calls.
pub struct Compressor {
    inner: zstd::bulk::Compressor<'static>,
    level: i32,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .finish()
    }
}

impl Compressor {
    /// A compressor at this zstd level (1 to 22; negative levels are faster
    /// still).
    ///
    /// # Errors
    ///
    /// [`Error::Compress`] if zstd cannot set up a context at that level.
    pub fn new(level: i32) -> Result<Self> {
        let mut inner =
            zstd::bulk::Compressor::new(level).map_err(|e| Error::Compress(e.to_string()))?;
        for p in [
            CParameter::ChecksumFlag(false),
            CParameter::ContentSizeFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            inner
                .set_parameter(p)
                .map_err(|e| Error::Compress(e.to_string()))?;
        }
        Ok(Compressor { inner, level })
    }

    /// The zstd level.
    #[must_use]
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Compresses `src` into `dst` (replacing its contents) if that makes it
    /// smaller; returns whether it did. When it returns `false`, store `src`
    /// as it is. A zstd failure also returns `false`: storing the payload
    /// uncompressed is always correct.
    pub fn compress(&mut self, src: &[u8], dst: &mut Vec<u8>) -> bool {
        dst.clear();
        let Ok(len) = u32::try_from(src.len()) else {
            return false;
        };
        if src.len() < MIN_COMPRESS_LEN {
            return false;
        }
        dst.reserve(src.len());
        dst.extend_from_slice(&len.to_le_bytes());
        let mut cursor = Cursor::new(&mut *dst);
        cursor.set_position(LEN_PREFIX as u64);
        let ok = self.inner.compress_to_buffer(src, &mut cursor).is_ok();
        if ok && dst.len() < src.len() {
            true
        } else {
            dst.clear();
            false
        }
    }
}

/// Decompresses payloads within a bound.
pub struct Decompressor {
    inner: zstd::bulk::Decompressor<'static>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A new decompressor.
    ///
    /// # Errors
    ///
    /// [`Error::Compress`] if zstd cannot set up a context.
    pub fn new() -> Result<Self> {
        let inner = zstd::bulk::Decompressor::new().map_err(|e| Error::Compress(e.to_string()))?;
        Ok(Decompressor { inner })
    }

    /// Decompresses `src` (as written by [`Compressor::compress`]) into
    /// `dst`, replacing its contents.
    ///
    /// # Errors
    ///
    /// [`Error::DecompressedTooLarge`] if the declared length exceeds
    /// `max_len` (checked before allocating), [`Error::Decompress`] if the
    /// frame is malformed or does not produce exactly the declared length.
    pub fn decompress(
        &mut self,
        lsn: Lsn,
        src: &[u8],
        max_len: usize,
        dst: &mut Vec<u8>,
    ) -> Result<()> {
        dst.clear();
        let Some((len, frame)) = src.split_first_chunk::<LEN_PREFIX>() else {
            return Err(Error::Decompress {
                lsn,
                reason: "payload shorter than its length prefix".into(),
            });
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > max_len {
            return Err(Error::DecompressedTooLarge {
                lsn,
                len: len as u64,
                max: max_len as u64,
            });
        }
        dst.reserve_exact(len);
        let produced =
            self.inner
                .decompress_to_buffer(frame, dst)
                .map_err(|e| Error::Decompress {
                    lsn,
                    reason: e.to_string(),
                })?;
        if produced != len || dst.len() != len {
            dst.clear();
            return Err(Error::Decompress {
                lsn,
                reason: format!("frame produced {produced} bytes, {len} declared"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_payload_round_trips_and_shrinks() {
        let src = b"abcdefgh".repeat(100);
        let mut c = Compressor::new(DEFAULT_LEVEL).unwrap();
        let mut packed = Vec::new();
        assert!(c.compress(&src, &mut packed));
        assert!(packed.len() < src.len() / 4);
        let mut d = Decompressor::new().unwrap();
        let mut out = Vec::new();
        d.decompress(Lsn::new(1), &packed, src.len(), &mut out)
            .unwrap();
        assert_eq!(out, src);
    }

    #[test]
    fn incompressible_or_short_payloads_are_left_alone() {
        let mut c = Compressor::new(3).unwrap();
        let mut dst = vec![1, 2, 3];
        assert!(!c.compress(b"short", &mut dst));
        assert!(dst.is_empty());
        let mut state = 1u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 33) as u8
            })
            .collect();
        assert!(!c.compress(&noise, &mut dst));
    }

    #[test]
    fn declared_length_over_the_maximum_is_refused_before_allocating() {
        let mut packed = Vec::new();
        Compressor::new(1)
            .unwrap()
            .compress(&[0u8; 1000], &mut packed);
        packed[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut out = Vec::new();
        let err = Decompressor::new()
            .unwrap()
            .decompress(Lsn::new(3), &packed, 1 << 20, &mut out)
            .unwrap_err();
        assert_eq!(
            err,
            Error::DecompressedTooLarge {
                lsn: Lsn::new(3),
                len: u64::from(u32::MAX),
                max: 1 << 20
            }
        );
        assert_eq!(out.capacity(), 0);
    }
}
