//! The payload pipeline: compress (if that pays), then encrypt, on the way
//! in; authenticate and decrypt, then decompress, on the way out.

use wal_format::{Flags, LogicalKind, Lsn};

#[cfg(feature = "compression")]
use crate::compress::{Compressor, Decompressor};
use crate::error::{Error, Result};
use crate::{SegmentDecryptor, SegmentEncryptor};

/// Turns logical payloads into stored payloads. Holds reusable buffers and
/// the compression context: one per writer.
#[derive(Debug)]
pub struct PayloadEncoder {
    #[cfg(feature = "compression")]
    compressor: Option<Compressor>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

impl PayloadEncoder {
    /// An encoder that compresses at zstd `compression_level`, or not at all
    /// for `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a level without the `compression` feature,
    /// [`Error::Compress`] if zstd cannot set up at that level.
    pub fn new(compression_level: Option<i32>) -> Result<Self> {
        #[cfg(feature = "compression")]
        let compressor = compression_level.map(Compressor::new).transpose()?;
        #[cfg(not(feature = "compression"))]
        if compression_level.is_some() {
            return Err(Error::Unsupported {
                feature: "compression",
            });
        }
        Ok(PayloadEncoder {
            #[cfg(feature = "compression")]
            compressor,
            scratch: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Whether this encoder compresses.
    #[must_use]
    pub fn compresses(&self) -> bool {
        #[cfg(feature = "compression")]
        return self.compressor.is_some();
        #[cfg(not(feature = "compression"))]
        false
    }

    /// Compresses `payload` into `scratch` if this encoder compresses and it
    /// pays; returns whether it did.
    fn compress(&mut self, payload: &[u8]) -> bool {
        #[cfg(feature = "compression")]
        if let Some(c) = self.compressor.as_mut() {
            return c.compress(payload, &mut self.scratch);
        }
        let _ = payload;
        false
    }

    /// The stored form of `payload` and the flags its record must carry.
    /// Borrows `payload` itself when nothing is transformed.
    ///
    /// With a `cipher`, the result is always encrypted: a failure to encrypt
    /// is an error, never a fallback to plaintext.
    ///
    /// # Errors
    ///
    /// Those of `SegmentEncryptor::encrypt` (feature `encryption`).
    pub fn encode<'a>(
        &'a mut self,
        lsn: Lsn,
        kind: LogicalKind,
        payload: &'a [u8],
        cipher: Option<&mut SegmentEncryptor>,
    ) -> Result<(Flags, &'a [u8])> {
        let compressed = self.compress(payload);
        let flags = if compressed {
            kind.flags() | Flags::COMPRESSED
        } else {
            kind.flags()
        };
        let Some(cipher) = cipher else {
            return Ok(if compressed {
                (flags, &self.scratch[..])
            } else {
                (flags, payload)
            });
        };
        let buf = if compressed {
            &mut self.scratch
        } else {
            self.out.clear();
            self.out.extend_from_slice(payload);
            &mut self.out
        };
        let flags = encrypt(cipher, lsn, kind, flags, buf)?;
        Ok((flags, &buf[..]))
    }
}

#[cfg(feature = "encryption")]
fn encrypt(
    c: &mut SegmentEncryptor,
    lsn: Lsn,
    kind: LogicalKind,
    flags: Flags,
    buf: &mut Vec<u8>,
) -> Result<Flags> {
    c.encrypt(lsn, kind, flags, buf)
}

#[cfg(not(feature = "encryption"))]
fn encrypt(
    c: &mut SegmentEncryptor,
    _: Lsn,
    _: LogicalKind,
    _: Flags,
    _: &mut Vec<u8>,
) -> Result<Flags> {
    match *c {}
}

/// Turns stored payloads back into logical payloads, within a bound on the
/// logical record size. Holds reusable buffers: one per reader.
#[derive(Debug)]
pub struct PayloadDecoder {
    max_record_len: usize,
    #[cfg(feature = "compression")]
    decompressor: Option<Decompressor>,
    plain: Vec<u8>,
    inflated: Vec<u8>,
}

impl PayloadDecoder {
    /// A decoder for logical records of at most `max_record_len` bytes.
    #[must_use]
    pub fn new(max_record_len: usize) -> Self {
        PayloadDecoder {
            max_record_len,
            #[cfg(feature = "compression")]
            decompressor: None,
            plain: Vec::new(),
            inflated: Vec::new(),
        }
    }

    /// The logical payload of a stored one. `cipher` is the segment's
    /// decryptor, or `None` for a segment without a key.
    ///
    /// # Errors
    ///
    /// As [`PayloadDecoder::transform`].
    pub fn decode<'a>(
        &'a mut self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        payload: &'a [u8],
        cipher: Option<&SegmentDecryptor>,
    ) -> Result<&'a [u8]> {
        let decoded = self.transform(lsn, kind, flags, payload, cipher)?;
        Ok(self.output(payload, decoded))
    }

    /// Undoes a stored payload's transforms into the decoder's buffers and
    /// says where the logical payload is ([`PayloadDecoder::output`] gives
    /// it): for a caller that must decide what to do about a failure
    /// before it borrows the result. `cipher` is the segment's decryptor,
    /// or `None` for a segment without a key.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] for an encrypted record in a segment without
    /// a key, or a plaintext record in a segment with one (nothing is ever
    /// written in plaintext to an encrypted segment, so such a record was
    /// put there by someone else); [`Error::Authentication`];
    /// [`Error::DecompressedTooLarge`] and [`Error::Decompress`];
    /// [`Error::FeatureDisabled`] when this build lacks the transform.
    pub fn transform(
        &mut self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        payload: &[u8],
        cipher: Option<&SegmentDecryptor>,
    ) -> Result<Decoded> {
        let encrypted = flags.contains(Flags::ENCRYPTED);
        let decrypted = match (encrypted, cipher) {
            (false, None) => false,
            (true, None) => {
                return Err(Error::Inconsistent {
                    lsn,
                    reason: "encrypted record in a segment without a key",
                });
            }
            (false, Some(_)) => {
                return Err(Error::Inconsistent {
                    lsn,
                    reason: "plaintext record in an encrypted segment",
                });
            }
            (true, Some(c)) => {
                self.plain.clear();
                self.plain.extend_from_slice(payload);
                decrypt(c, lsn, kind, flags, &mut self.plain)?;
                true
            }
        };
        if !flags.contains(Flags::COMPRESSED) {
            return Ok(if decrypted {
                Decoded::Decrypted
            } else {
                Decoded::Stored
            });
        }
        #[cfg(feature = "compression")]
        {
            let current: &[u8] = if decrypted { &self.plain } else { payload };
            let d = match &mut self.decompressor {
                Some(d) => d,
                slot => slot.insert(Decompressor::new()?),
            };
            d.decompress(lsn, current, self.max_record_len, &mut self.inflated)?;
            Ok(Decoded::Decompressed)
        }
        #[cfg(not(feature = "compression"))]
        {
            let _ = (&self.inflated, self.max_record_len);
            Err(Error::FeatureDisabled {
                lsn,
                what: "compressed",
                feature: "compression",
            })
        }
    }

    /// The logical payload [`PayloadDecoder::transform`] made of `stored`.
    #[must_use]
    pub fn output<'a>(&'a self, stored: &'a [u8], decoded: Decoded) -> &'a [u8] {
        match decoded {
            Decoded::Stored => stored,
            Decoded::Decrypted => &self.plain,
            Decoded::Decompressed => &self.inflated,
        }
    }
}

/// Where [`PayloadDecoder::transform`] left the logical payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// The stored payload is the logical one (no transform).
    Stored,
    /// In the decoder's decryption buffer.
    Decrypted,
    /// In the decoder's decompression buffer.
    Decompressed,
}

#[cfg(feature = "encryption")]
fn decrypt(
    c: &SegmentDecryptor,
    lsn: Lsn,
    kind: LogicalKind,
    flags: Flags,
    buf: &mut Vec<u8>,
) -> Result<()> {
    c.decrypt(lsn, kind, flags, buf)
}

#[cfg(not(feature = "encryption"))]
fn decrypt(c: &SegmentDecryptor, _: Lsn, _: LogicalKind, _: Flags, _: &mut Vec<u8>) -> Result<()> {
    match *c {}
}
