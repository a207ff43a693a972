//! The header a stream record's payload starts with (format version 3 on;
//! `docs/FORMAT.md`, "Streams").
//!
//! A stream is a logical log inside the log, named by a `u64` id, whose
//! entries are numbered densely by a `u64` index of its own. Every record
//! about a stream is a logical record of kind [`crate::LogicalKind::Stream`]
//! (a data record with [`crate::Flags::STREAM`]); its logical payload is
//! this header and then, for an entry, the entry's bytes. The header is
//! part of the logical payload, so the record checksum covers it, and in an
//! encrypted log it is encrypted and authenticated with the rest (the
//! associated data also binds the kind and the flags).

use crate::error::{Error, Result};

/// What a stream record does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamOp {
    /// The stream's entry at `index`; the rest of the payload is the
    /// entry. `index` is the stream's next index (its last plus one), or
    /// any index when the stream holds no entry.
    Append,
    /// Removes the stream's entries below `index` (nothing follows the
    /// header). Later appends go on from where they were.
    Purge,
    /// Removes the stream's entries at and after `index` (nothing follows
    /// the header); the next append takes `index` again.
    Truncate,
    /// The stream's live entry at `index`, copied forward from an older
    /// segment so that segment can be removed: from here on this copy is
    /// the entry (same bytes).
    Copy,
}

impl StreamOp {
    const fn as_u8(self) -> u8 {
        match self {
            StreamOp::Append => 1,
            StreamOp::Purge => 2,
            StreamOp::Truncate => 3,
            StreamOp::Copy => 4,
        }
    }

    const fn from_u8(b: u8) -> Option<StreamOp> {
        match b {
            1 => Some(StreamOp::Append),
            2 => Some(StreamOp::Purge),
            3 => Some(StreamOp::Truncate),
            4 => Some(StreamOp::Copy),
            _ => None,
        }
    }

    /// Whether an entry's bytes follow the header.
    #[must_use]
    pub const fn carries_entry(self) -> bool {
        matches!(self, StreamOp::Append | StreamOp::Copy)
    }
}

/// The header at the start of a stream record's logical payload.
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 1 | op: 1 append, 2 purge, 3 truncate, 4 copy |
/// | 1 | 8 | stream id (u64) |
/// | 9 | 8 | index (u64, at least 1) |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamHeader {
    /// What the record does.
    pub op: StreamOp,
    /// The stream.
    pub stream: u64,
    /// The entry's index (append, copy) or the bound (purge, truncate).
    pub index: u64,
}

impl StreamHeader {
    /// The encoded length.
    pub const ENCODED_LEN: usize = 17;

    /// Appends the encoded header to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.op.as_u8());
        out.extend_from_slice(&self.stream.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
    }

    /// Splits a stream record's logical payload into its header and what
    /// follows it (the entry, empty for a purge or truncation).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a payload shorter than the header, an unknown
    /// op, an index of 0, or bytes after the header of a purge or
    /// truncation.
    pub fn decode(payload: &[u8]) -> Result<(StreamHeader, &[u8])> {
        let invalid = |reason| Error::Invalid {
            field: "stream header",
            reason,
        };
        let Some((head, rest)) = payload.split_first_chunk::<{ Self::ENCODED_LEN }>() else {
            return Err(invalid("shorter than 17 bytes"));
        };
        let (op, ids) = head.split_at(1);
        let op = op
            .first()
            .copied()
            .and_then(StreamOp::from_u8)
            .ok_or_else(|| invalid("unknown op"))?;
        let (stream, index) = ids.split_at(8);
        let word = |b: &[u8]| b.try_into().map(u64::from_le_bytes).unwrap_or(0);
        let header = StreamHeader {
            op,
            stream: word(stream),
            index: word(index),
        };
        if header.index == 0 {
            return Err(invalid("index 0"));
        }
        if !op.carries_entry() && !rest.is_empty() {
            return Err(invalid("bytes after a purge or truncation"));
        }
        Ok((header, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let h = StreamHeader {
            op: StreamOp::Append,
            stream: 0x0102_0304_0506_0708,
            index: 42,
        };
        let mut buf = Vec::new();
        h.encode_into(&mut buf);
        assert_eq!(buf.len(), StreamHeader::ENCODED_LEN);
        assert_eq!(buf[0], 1);
        assert_eq!(&buf[1..9], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&buf[9..17], &42u64.to_le_bytes());
        buf.extend_from_slice(b"entry");
        assert_eq!(StreamHeader::decode(&buf), Ok((h, &b"entry"[..])));
    }

    #[test]
    fn refuses_what_no_writer_makes() {
        let encode = |op, index: u64, tail: &[u8]| {
            let mut buf = Vec::new();
            StreamHeader {
                op,
                stream: 7,
                index,
            }
            .encode_into(&mut buf);
            buf.extend_from_slice(tail);
            buf
        };
        assert!(StreamHeader::decode(&encode(StreamOp::Append, 1, b"")[..16]).is_err());
        assert!(StreamHeader::decode(&encode(StreamOp::Append, 0, b"")).is_err());
        assert!(StreamHeader::decode(&encode(StreamOp::Purge, 3, b"x")).is_err());
        assert!(StreamHeader::decode(&encode(StreamOp::Truncate, 3, b"")).is_ok());
        let mut unknown = encode(StreamOp::Copy, 3, b"");
        unknown[0] = 9;
        assert!(StreamHeader::decode(&unknown).is_err());
        assert!(StreamHeader::decode(&[]).is_err());
    }
}
