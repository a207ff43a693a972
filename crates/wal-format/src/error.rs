//! The crate's error type.

use crate::{Lsn, Salt};

/// Which checksum failed to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// The record header checksum (bytes 8..32 of a record header).
    RecordHeader,
    /// The record checksum (header fields and payload).
    Record,
    /// The segment header checksum.
    SegmentHeader,
    /// The clean-close marker's checksum.
    CleanMarker,
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Checksum::RecordHeader => "record header",
            Checksum::Record => "record",
            Checksum::SegmentHeader => "segment header",
            Checksum::CleanMarker => "clean-close marker",
        })
    }
}

/// Everything that can go wrong encoding or decoding the format.
///
/// Decoding errors tell apart the cases a reader must handle differently:
/// [`Error::Incomplete`] (read more bytes, or at the end of a file: a torn
/// tail), [`Error::ZeroFilled`] (the end of data in preallocated space),
/// [`Error::WrongSalt`] (a stale record from an earlier use of the file), and
/// damage ([`Error::ChecksumMismatch`] and the rest).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the structure does.
    #[error("incomplete input: {needed} more bytes needed")]
    Incomplete {
        /// How many more bytes are needed, at least.
        needed: usize,
    },
    /// The header is all zero bytes: unwritten (preallocated or zero-filled)
    /// space, which is how the end of data is recognised.
    #[error("zero-filled space where a header was expected")]
    ZeroFilled,
    /// A checksum does not match the bytes it covers.
    #[error("{which} checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which checksum.
        which: Checksum,
        /// The value stored in the input.
        stored: u32,
        /// The value computed over the input.
        computed: u32,
    },
    /// A payload length exceeds the configured maximum.
    #[error("payload length {len} exceeds the maximum of {max} bytes")]
    TooLong {
        /// The length found (or requested, when encoding).
        len: u64,
        /// The maximum allowed.
        max: u64,
    },
    /// An unknown record type (perhaps written by a newer version).
    #[error("unknown record type {0}")]
    UnknownType(u8),
    /// A reserved field or bit is not zero.
    #[error("reserved bits set in {field}: {value:#x}")]
    ReservedBits {
        /// The field's name.
        field: &'static str,
        /// The offending value (reserved bits only).
        value: u64,
    },
    /// A record carries another segment's salt: it is left over from an
    /// earlier use of the file and is not part of this segment.
    #[error("record belongs to another segment (salt {found}, expected {expected})")]
    WrongSalt {
        /// The salt of the segment being read.
        expected: Salt,
        /// The salt in the record header.
        found: Salt,
    },
    /// The segment header does not start with the format's magic bytes.
    #[error("not a groupwal segment (bad magic {found:02x?})")]
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The segment was written in a format version this build cannot read.
    #[error("unsupported segment format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Fragments or batch members out of sequence.
    #[error("bad record sequence at lsn {lsn}: {reason}")]
    Sequence {
        /// The LSN of the record that broke the sequence.
        lsn: Lsn,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
