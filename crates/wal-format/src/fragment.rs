//! Fragmentation of large payloads, their reassembly, and batch markers.
//!
//! A logical payload longer than the writer's fragment size is written as a
//! chain of records `First, Middle*, Last`: consecutive in one segment, all
//! with the logical record's LSN and the same flags. Flags describe the whole
//! logical payload (it is compressed and encrypted before it is split).

use std::num::NonZeroUsize;

use crate::Lsn;
use crate::error::{Error, Result};
use crate::record::{Flags, Record, RecordType};

/// Splits `payload` into the records that carry it: one [`RecordType::Full`]
/// when it fits in `max_fragment` bytes (an empty payload included), else a
/// `First, Middle*, Last` chain of fragments of at most `max_fragment` bytes.
///
/// ```
/// # use std::num::NonZeroUsize;
/// # use wal_format::{split_fragments, RecordType};
/// let parts: Vec<_> = split_fragments(b"abcdefg", NonZeroUsize::new(3).unwrap()).collect();
/// assert_eq!(parts, [
///     (RecordType::First, &b"abc"[..]),
///     (RecordType::Middle, &b"def"[..]),
///     (RecordType::Last, &b"g"[..]),
/// ]);
/// ```
pub fn split_fragments(payload: &[u8], max_fragment: NonZeroUsize) -> Fragments<'_> {
    Fragments {
        rest: payload,
        max: max_fragment.get(),
        started: false,
        done: false,
    }
}

/// The iterator returned by [`split_fragments`].
#[derive(Clone, Debug)]
pub struct Fragments<'a> {
    rest: &'a [u8],
    max: usize,
    started: bool,
    done: bool,
}

impl<'a> Iterator for Fragments<'a> {
    type Item = (RecordType, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.rest.len() <= self.max {
            self.done = true;
            let ty = if self.started {
                RecordType::Last
            } else {
                RecordType::Full
            };
            return Some((ty, std::mem::take(&mut self.rest)));
        }
        let (head, tail) = self.rest.split_at(self.max);
        self.rest = tail;
        let ty = if self.started {
            RecordType::Middle
        } else {
            RecordType::First
        };
        self.started = true;
        Some((ty, head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = if self.done {
            0
        } else {
            self.rest.len().div_ceil(self.max).max(1)
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fragments<'_> {}

/// What a logical record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogicalKind {
    /// An ordinary record (full or reassembled from fragments).
    Data,
    /// A checkpoint record.
    Checkpoint,
    /// A stream record (full or reassembled): its payload starts with a
    /// [`crate::StreamHeader`]. Stored as a data record with
    /// [`Flags::STREAM`].
    Stream,
}

impl LogicalKind {
    /// The kind of the logical record that a full record, a checkpoint or
    /// a first fragment of type `record_type` with `flags` starts; `None`
    /// for a marker, a middle or last fragment, and a checkpoint flagged as
    /// a stream entry (no writer makes one).
    #[must_use]
    pub fn of(record_type: RecordType, flags: Flags) -> Option<LogicalKind> {
        let stream = flags.contains(Flags::STREAM);
        match record_type {
            RecordType::Full | RecordType::First if stream => Some(LogicalKind::Stream),
            RecordType::Full | RecordType::First => Some(LogicalKind::Data),
            RecordType::Checkpoint if !stream => Some(LogicalKind::Checkpoint),
            _ => None,
        }
    }

    /// The flags every record of this kind carries whatever its
    /// transforms: [`Flags::STREAM`] for a stream record, none otherwise.
    #[must_use]
    pub const fn flags(self) -> Flags {
        match self {
            LogicalKind::Stream => Flags::STREAM,
            LogicalKind::Data | LogicalKind::Checkpoint => Flags::EMPTY,
        }
    }
}

/// A whole logical record, borrowing its payload from the input record or
/// from the reassembler's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogicalRecord<'a> {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Data or checkpoint.
    pub kind: LogicalKind,
    /// How the (whole) payload is transformed.
    pub flags: Flags,
    /// The payload, still compressed or encrypted if the flags say so.
    pub payload: &'a [u8],
}

/// Turns a stream of decoded records back into logical records.
///
/// It holds at most `max_record_len` bytes of fragments (a longer chain is
/// rejected as it grows, never allocated up front) and reuses its buffer.
/// Batch markers are not its business: pass them elsewhere, and reject one
/// that arrives while [`Reassembler::is_pending`].
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    max_record_len: usize,
    pending: Option<(Lsn, Flags)>,
}

impl Reassembler {
    /// A reassembler for logical records of at most `max_record_len` bytes.
    #[must_use]
    pub fn new(max_record_len: usize) -> Self {
        Reassembler {
            buf: Vec::new(),
            max_record_len,
            pending: None,
        }
    }

    /// Whether a fragment chain has started and not yet ended.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The LSN of the chain in progress, if any.
    #[must_use]
    pub fn pending_lsn(&self) -> Option<Lsn> {
        self.pending.map(|(lsn, _)| lsn)
    }

    /// Drops any chain in progress (for example, at the end of a segment
    /// whose last chain was torn).
    pub fn reset(&mut self) {
        self.pending = None;
        self.buf.clear();
    }

    /// Feeds the next record; returns the logical record it completes, if
    /// any.
    ///
    /// # Errors
    ///
    /// [`Error::Sequence`] for a broken chain (a middle or last fragment
    /// without a first, a first or full record while a chain is pending, a
    /// fragment with another LSN or other flags, a batch or commit marker),
    /// and
    /// [`Error::TooLong`] when the chain grows past the maximum. The chain in
    /// progress is dropped on error.
    pub fn push<'a>(&'a mut self, record: Record<'a>) -> Result<Option<LogicalRecord<'a>>> {
        let h = record.header;
        let seq_err = |reason| Error::Sequence { lsn: h.lsn, reason };
        let result = match (h.record_type, self.pending) {
            (RecordType::Full | RecordType::Checkpoint, None) => {
                if record.payload.len() > self.max_record_len {
                    Err(Error::TooLong {
                        len: record.payload.len() as u64,
                        max: self.max_record_len as u64,
                    })
                } else if let Some(kind) = LogicalKind::of(h.record_type, h.flags) {
                    return Ok(Some(LogicalRecord {
                        lsn: h.lsn,
                        kind,
                        flags: h.flags,
                        payload: record.payload,
                    }));
                } else {
                    Err(seq_err("a checkpoint flagged as a stream entry"))
                }
            }
            (RecordType::First, None) => {
                self.buf.clear();
                self.append(record.payload).map(|()| {
                    self.pending = Some((h.lsn, h.flags));
                })
            }
            (RecordType::Middle | RecordType::Last, None) => {
                Err(seq_err("fragment without a first fragment"))
            }
            (RecordType::Middle | RecordType::Last, Some((lsn, flags))) => {
                if lsn != h.lsn {
                    Err(seq_err("fragment lsn differs from its first fragment's"))
                } else if flags != h.flags {
                    Err(seq_err("fragment flags differ from its first fragment's"))
                } else {
                    self.append(record.payload)
                }
            }
            (RecordType::Batch | RecordType::Commit, None) => {
                Err(seq_err("marker given to the reassembler"))
            }
            (_, Some(_)) => Err(seq_err("fragment chain interrupted by another record")),
        };
        if let Err(e) = result {
            self.reset();
            return Err(e);
        }
        if h.record_type == RecordType::Last {
            self.pending = None;
            return Ok(Some(LogicalRecord {
                lsn: h.lsn,
                kind: LogicalKind::of(RecordType::First, h.flags).unwrap_or(LogicalKind::Data),
                flags: h.flags,
                payload: &self.buf,
            }));
        }
        Ok(None)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let len = self.buf.len().saturating_add(bytes.len());
        if len > self.max_record_len {
            return Err(Error::TooLong {
                len: len as u64,
                max: self.max_record_len as u64,
            });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

/// The payload of a [`RecordType::Batch`] marker.
///
/// The marker carries the LSN of the batch's first record; the `count`
/// logical records that follow it (LSNs `lsn .. lsn + count`) form one
/// atomic batch. A reader yields them only once all are present, and a
/// recovery that finds the batch cut short discards all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchMarker {
    count: u32,
}

impl BatchMarker {
    /// The encoded payload length.
    pub const ENCODED_LEN: usize = 4;

    /// A marker for a batch of `count` records (at least two: a single
    /// record is atomic by itself).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for fewer than two records.
    pub fn new(count: u32) -> Result<Self> {
        if count < 2 {
            return Err(Error::Invalid {
                field: "batch count",
                reason: "a batch marker needs at least two records",
            });
        }
        Ok(BatchMarker { count })
    }

    /// The number of logical records in the batch.
    #[must_use]
    pub const fn count(self) -> u32 {
        self.count
    }

    /// The marker's payload.
    #[must_use]
    pub fn encode(self) -> [u8; Self::ENCODED_LEN] {
        self.count.to_le_bytes()
    }

    /// Parses a marker record (type and flags included).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the record is not a batch marker, is
    /// compressed, has a payload of the wrong length for its flags (see
    /// [`crate::marker_body`]), or a count under two.
    pub fn decode(record: &Record<'_>) -> Result<Self> {
        if record.header.record_type != RecordType::Batch {
            return Err(Error::Invalid {
                field: "batch marker",
                reason: "record is not a batch marker",
            });
        }
        let body = crate::marker_body(record, Self::ENCODED_LEN)?;
        let Ok(bytes) = <[u8; Self::ENCODED_LEN]>::try_from(body) else {
            return Err(Error::Invalid {
                field: "batch marker",
                reason: "payload must be 4 bytes",
            });
        };
        BatchMarker::new(u32::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Salt;
    use crate::record::RecordHeader;

    fn rec(lsn: u64, ty: RecordType, flags: Flags, payload: &[u8]) -> Record<'_> {
        Record {
            header: RecordHeader {
                lsn: Lsn::new(lsn),
                salt: Salt::new(1),
                record_type: ty,
                flags,
            },
            payload,
        }
    }

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn split_edges() {
        let v: Vec<_> = split_fragments(b"", nz(4)).collect();
        assert_eq!(v, [(RecordType::Full, &b""[..])]);
        let v: Vec<_> = split_fragments(b"abcd", nz(4)).collect();
        assert_eq!(v, [(RecordType::Full, &b"abcd"[..])]);
        let v: Vec<_> = split_fragments(b"abcde", nz(4)).collect();
        assert_eq!(
            v,
            [
                (RecordType::First, &b"abcd"[..]),
                (RecordType::Last, &b"e"[..])
            ]
        );
        let it = split_fragments(&[0; 10], nz(3));
        assert_eq!(it.len(), 4);
        assert_eq!(it.count(), 4);
    }

    #[test]
    fn reassembles_a_chain() {
        let mut r = Reassembler::new(100);
        let f = Flags::COMPRESSED;
        assert_eq!(r.push(rec(5, RecordType::First, f, b"ab")).unwrap(), None);
        assert!(r.is_pending());
        assert_eq!(r.pending_lsn(), Some(Lsn::new(5)));
        assert_eq!(r.push(rec(5, RecordType::Middle, f, b"cd")).unwrap(), None);
        let out = r.push(rec(5, RecordType::Last, f, b"e")).unwrap().unwrap();
        assert_eq!(out.payload, b"abcde");
        assert_eq!(out.lsn, Lsn::new(5));
        assert_eq!(out.flags, f);
        assert_eq!(out.kind, LogicalKind::Data);
        assert!(!r.is_pending());
        let cp = r
            .push(rec(6, RecordType::Checkpoint, Flags::EMPTY, b"c"))
            .unwrap()
            .unwrap();
        assert_eq!(cp.kind, LogicalKind::Checkpoint);
    }

    #[test]
    fn broken_chains_are_errors_and_reset() {
        let e = Flags::EMPTY;
        let mut r = Reassembler::new(100);
        assert!(matches!(
            r.push(rec(1, RecordType::Middle, e, b"x")),
            Err(Error::Sequence { .. })
        ));
        assert!(matches!(
            r.push(rec(1, RecordType::Last, e, b"x")),
            Err(Error::Sequence { .. })
        ));

        r.push(rec(1, RecordType::First, e, b"x")).unwrap();
        assert!(matches!(
            r.push(rec(2, RecordType::Last, e, b"x")),
            Err(Error::Sequence { .. })
        ));
        assert!(!r.is_pending());

        r.push(rec(1, RecordType::First, e, b"x")).unwrap();
        assert!(matches!(
            r.push(rec(1, RecordType::Last, Flags::ENCRYPTED, b"x")),
            Err(Error::Sequence { .. })
        ));

        for interloper in [
            RecordType::Full,
            RecordType::First,
            RecordType::Checkpoint,
            RecordType::Batch,
        ] {
            r.push(rec(1, RecordType::First, e, b"x")).unwrap();
            assert!(
                matches!(
                    r.push(rec(2, interloper, e, b"y")),
                    Err(Error::Sequence { .. })
                ),
                "{interloper:?}"
            );
            assert!(!r.is_pending());
        }
        assert!(matches!(
            r.push(rec(1, RecordType::Batch, e, b"y")),
            Err(Error::Sequence { .. })
        ));
    }

    #[test]
    fn chain_longer_than_the_maximum_is_rejected_as_it_grows() {
        let e = Flags::EMPTY;
        let mut r = Reassembler::new(5);
        r.push(rec(1, RecordType::First, e, b"abc")).unwrap();
        assert_eq!(
            r.push(rec(1, RecordType::Middle, e, b"def")),
            Err(Error::TooLong { len: 6, max: 5 })
        );
        assert!(r.buf.capacity() < 16);
        assert!(matches!(
            r.push(rec(2, RecordType::Full, e, b"123456")),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn batch_marker_codec() {
        let m = BatchMarker::new(3).unwrap();
        let bytes = m.encode();
        let record = rec(9, RecordType::Batch, Flags::EMPTY, &bytes);
        assert_eq!(BatchMarker::decode(&record), Ok(m));
        assert!(BatchMarker::new(1).is_err());
        assert!(
            BatchMarker::decode(&rec(9, RecordType::Batch, Flags::EMPTY, &[1, 0, 0, 0])).is_err()
        );
        assert!(BatchMarker::decode(&rec(9, RecordType::Batch, Flags::EMPTY, &[3, 0, 0])).is_err());
        assert!(BatchMarker::decode(&rec(9, RecordType::Full, Flags::EMPTY, &bytes)).is_err());
        assert!(
            BatchMarker::decode(&rec(9, RecordType::Batch, Flags::COMPRESSED, &bytes)).is_err()
        );
    }
}
