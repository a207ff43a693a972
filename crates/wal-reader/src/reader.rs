//! [`LogReader`]: logical records of a log directory, in LSN order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "encryption")]
use wal_crypto::SegmentDecryptor;
use wal_crypto::{Decoded, PayloadDecoder};
use wal_format::{CleanMarker, Flags, KeyId, LogicalKind, Lsn, SegmentHeader};
use wal_io::Storage;

use crate::error::{Error, Result};
use crate::options::ReadOptions;
use crate::report::{CorruptRange, TailKind};
use crate::segments::{self, Segment};
use crate::walk::{Found, Loc, Step, Walker};

/// A logical record, its payload borrowed from the reader (valid until the
/// reader moves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Data or checkpoint.
    pub kind: LogicalKind,
    /// The transforms the record was stored with ([`Flags::COMPRESSED`],
    /// [`Flags::ENCRYPTED`]); the payload here has them undone.
    pub flags: Flags,
    /// The logical payload: reassembled, decrypted and decompressed.
    pub payload: &'a [u8],
    /// Whether the reader skipped damaged records before this one
    /// ([`crate::RecoveryMode::SkipAnyCorruptedRecords`]; listed by
    /// [`LogReader::skipped`]): a consumer that checks records against
    /// each other (a sequence, an index) must allow for what the skipped
    /// ones held from here on, and only from here on.
    pub after_damage: bool,
}

impl LogRecord<'_> {
    /// An owned copy.
    #[must_use]
    pub fn to_owned_record(&self) -> OwnedRecord {
        OwnedRecord {
            lsn: self.lsn,
            kind: self.kind,
            flags: self.flags,
            payload: self.payload.to_vec(),
        }
    }
}

/// A logical record with its own payload (what the iterator yields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Data or checkpoint.
    pub kind: LogicalKind,
    /// The transforms the record was stored with.
    pub flags: Flags,
    /// The logical payload.
    pub payload: Vec<u8>,
}

/// Where the record a reader yielded last is stored
/// ([`LogReader::last_position`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordPosition<'a> {
    /// Its segment file.
    pub segment: &'a Path,
    /// The offset of its first physical record (for a batch member, of the
    /// record itself, not of the batch marker).
    pub offset: u64,
    /// The offset after its last physical record.
    pub end: u64,
    /// Its payload as stored (fragments joined; compressed, encrypted and
    /// with its tag, as the flags say).
    pub stored_len: usize,
}

/// How the log's data ended, once a reader got there.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogEnd {
    /// The LSN after the last record (the next one to be written).
    pub next_lsn: Lsn,
    /// The segment the data ends in, and the offset.
    pub position: Option<(PathBuf, u64)>,
    /// How the data ends.
    pub tail: TailKind,
    /// Why the tail is torn, for [`TailKind::Torn`].
    pub torn_detail: Option<String>,
    /// Valid records found after the damage that ends a torn tail (never
    /// proven acknowledged; recovery drops them), as an inclusive range.
    pub dropped: Option<(Lsn, Lsn)>,
}

/// Reads the logical records of a log directory in LSN order, across
/// segments, in bounded memory.
///
/// - Streams: one read window per reader (`ReadOptions::buffer_size`, or
///   one record if larger), one fragment-assembly buffer (at most the
///   maximum record size), and the payload decoder's buffers; never a whole
///   segment.
/// - Checks every record's checksums and salt, LSN continuity within and
///   across segments, fragment chains and batches; yields a batch only once
///   all of it is known to be present.
/// - Decrypts and decompresses as each record's flags say (features
///   `encryption` and `compression`, keys in [`ReadOptions`]).
/// - Damage is handled as the [`crate::RecoveryMode`] says: by default a
///   torn tail ends the records quietly ([`LogReader::end`] says how) and
///   corruption before the tail is an [`Error::Corruption`].
///
/// It takes no lock and writes nothing, so it can read a log another
/// process or thread is writing; it sees what was in the directory when it
/// was opened (use [`crate::TailReader`] to follow a live log).
///
/// ```
/// use std::sync::Arc;
/// use wal_reader::{LogReader, ReadOptions};
/// # use wal_format::Lsn;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let storage: Arc<dyn wal_io::Storage> = Arc::new(wal_io::FileStorage::new());
/// # let (segments, _) = wal_reader::recover(storage.clone(), dir.path(), &wal_io::LogOptions::new(), &ReadOptions::new())?;
/// # let log = wal_commit::Committer::from_log(segments, &wal_commit::CommitOptions::new())?;
/// # for i in 0..10u32 { log.append(format!("record {i}").as_bytes())?; }
/// # log.close()?;
/// let mut reader = LogReader::open(storage, dir.path(), &ReadOptions::new())?;
/// reader.seek(Lsn::new(3))?;
/// let mut n = 0;
/// while let Some(record) = reader.next_record()? {
///     assert_eq!(record.payload, format!("record {}", record.lsn.get() - 1).as_bytes());
///     n += 1;
/// }
/// assert_eq!(n, 8);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LogReader {
    pub(crate) walker: Walker,
    decoder: PayloadDecoder,
    #[cfg(feature = "encryption")]
    cipher: Option<((PathBuf, u64), SegmentDecryptor)>,
    decoded_high: usize,
    failed: bool,
    /// The record yielded last.
    last: Option<Found>,
}

impl LogReader {
    /// Opens a reader at the start of the log in `dir` (its oldest record).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`], [`Error::Io`] (the directory cannot be
    /// listed, a bad segment header or a header that disagrees with its
    /// file name), [`Error::Corruption`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: impl Into<PathBuf>,
        options: &ReadOptions,
    ) -> Result<LogReader> {
        options.validate()?;
        let dir = dir.into();
        let segs = segments::list(&*storage, &dir)?;
        let clean = segments::clean_marker(&*storage, &dir, &segs)?;
        Self::with_segments(storage, dir, options, segs, clean)
    }

    pub(crate) fn with_segments(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        options: &ReadOptions,
        segs: Vec<Segment>,
        clean: Option<CleanMarker>,
    ) -> Result<LogReader> {
        tracing::debug!(dir = %dir.display(), segments = segs.len(), "opened a wal reader");
        let mut walker = Walker::new(storage, dir, options.clone(), segs);
        walker.set_clean_marker(clean);
        walker.check_keys()?;
        Ok(LogReader {
            walker,
            decoder: PayloadDecoder::new(options.max_record_len),
            #[cfg(feature = "encryption")]
            cipher: None,
            decoded_high: 0,
            failed: false,
            last: None,
        })
    }

    /// Positions the reader at `lsn`: the next record is the one with that
    /// LSN, or the first after it (or none, past the end).
    ///
    /// Cost: a binary search of the segments by first LSN (their names),
    /// then a scan from the nearest point of the reader's sparse index (a
    /// record boundary noted every `ReadOptions::index_interval` bytes
    /// while reading), or from the segment's start if that part was not
    /// read yet. Records before `lsn` are checked but not decoded.
    ///
    /// # Errors
    ///
    /// [`Error::Purged`] if `lsn` is older than the oldest segment.
    pub fn seek(&mut self, lsn: Lsn) -> Result<()> {
        self.failed = false;
        self.walker.seek(lsn)
    }

    /// The next logical record, or `None` at the end of the log's data.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] (with the segment, offset and LSNs),
    /// [`Error::TornTail`] (absolute consistency mode), [`Error::Key`],
    /// [`Error::Payload`], [`Error::Io`]. After an error the reader
    /// returns `None` until [`LogReader::seek`] is called.
    pub fn next_record(&mut self) -> Result<Option<LogRecord<'_>>> {
        match self.next_decoded()? {
            Some((found, decoded)) => Ok(Some(self.view(found, decoded))),
            None => Ok(None),
        }
    }

    /// Walks to the next record and decodes its payload into the reader's
    /// buffers. A payload that fails to decode for damage (authentication,
    /// decompression) is corruption the walker handles as the mode says
    /// (an error; or the end of the log; or skipped, and the walk goes on).
    pub(crate) fn next_decoded(&mut self) -> Result<Option<(Found, Decoded)>> {
        loop {
            let Some(found) = self.step()? else {
                return Ok(None);
            };
            match self.transform(found) {
                Ok(decoded) => return Ok(Some((found, decoded))),
                Err(Error::Payload { source, .. }) if is_damage(&source) => {
                    self.walker
                        .payload_fault(found, &source)
                        .inspect_err(|_| self.failed = true)?;
                }
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
    }

    /// Walks to the next record without decoding its payload.
    fn step(&mut self) -> Result<Option<Found>> {
        if self.failed {
            return Ok(None);
        }
        match self.walker.advance() {
            Ok(Step::Record(found)) => {
                self.last = Some(found);
                Ok(Some(found))
            }
            Ok(Step::End | Step::Wait) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Undoes the transforms of `found`'s payload (decrypt, decompress)
    /// into the decoder's buffers.
    fn transform(&mut self, found: Found) -> Result<Decoded> {
        let (salt, key_id) = match self.walker.scanner.as_ref() {
            Some(s) => (s.seg.header.salt.get(), s.seg.header.key_id),
            None => (0, KeyId::NONE),
        };
        let encrypted = !key_id.is_none();
        if encrypted {
            let path = self.segment_path();
            self.open_cipher(&path, salt)
                .inspect_err(|_| self.failed = true)?;
        }
        if found.flags.is_empty() && !encrypted {
            return Ok(Decoded::Stored);
        }
        #[cfg(feature = "encryption")]
        let cipher = self.cipher.as_ref().map(|(_, c)| c);
        #[cfg(not(feature = "encryption"))]
        let cipher = None;
        let raw = stored(&self.walker, found);
        match self
            .decoder
            .transform(found.lsn, found.kind, found.flags, raw, cipher)
        {
            Ok(decoded) => {
                let len = self.decoder.output(raw, decoded).len();
                self.decoded_high = self.decoded_high.max(len);
                Ok(decoded)
            }
            Err(source) => Err(Error::Payload {
                path: self.segment_path(),
                offset: found.offset,
                lsn: found.lsn,
                source,
            }),
        }
    }

    /// The record `found` with the payload `transform` left.
    pub(crate) fn view(&self, found: Found, decoded: Decoded) -> LogRecord<'_> {
        LogRecord {
            lsn: found.lsn,
            kind: found.kind,
            flags: found.flags,
            payload: self.decoder.output(stored(&self.walker, found), decoded),
            after_damage: !self.walker.corrupt.is_empty(),
        }
    }

    fn segment_path(&self) -> PathBuf {
        match self.walker.scanner.as_ref() {
            Some(s) => s.seg.path.clone(),
            None => self.walker.dir().to_path_buf(),
        }
    }

    #[cfg(feature = "encryption")]
    fn open_cipher(&mut self, path: &std::path::Path, salt: u64) -> Result<()> {
        if self
            .cipher
            .as_ref()
            .is_some_and(|((p, s), _)| p == path && *s == salt)
        {
            return Ok(());
        }
        self.cipher = None;
        let Some(header) = self.walker.scanner.as_ref().map(|s| s.seg.header) else {
            return Ok(());
        };
        let key_err = |source| Error::Key {
            path: path.to_path_buf(),
            source,
        };
        let Some(keys) = self.walker.opts.keys.as_deref() else {
            return Err(key_err(wal_crypto::Error::MissingKey {
                key_id: header.key_id,
            }));
        };
        let cipher = SegmentDecryptor::open(keys, &header).map_err(key_err)?;
        self.cipher = Some(((path.to_path_buf(), salt), cipher));
        Ok(())
    }

    #[cfg(not(feature = "encryption"))]
    #[allow(clippy::unused_self)]
    fn open_cipher(&mut self, path: &std::path::Path, _salt: u64) -> Result<()> {
        Err(Error::Key {
            path: path.to_path_buf(),
            source: wal_crypto::Error::Unsupported {
                feature: "encryption",
            },
        })
    }

    /// How the log's data ended, once the reader reached the end.
    #[must_use]
    pub fn end(&self) -> Option<LogEnd> {
        let end = self.walker.end.as_ref()?;
        let position = end
            .segment
            .and_then(|i| self.walker.segments.get(i))
            .map(|s| (s.path.clone(), end.offset));
        Some(LogEnd {
            next_lsn: end.next_lsn,
            position,
            tail: end.tail,
            torn_detail: end.torn_detail.clone(),
            dropped: end.dropped,
        })
    }

    /// Where the record yielded last is stored (`None` before the first).
    #[must_use]
    pub fn last_position(&self) -> Option<RecordPosition<'_>> {
        let found = self.last?;
        let stored_len = match found.loc {
            Loc::Window(span) => span.len(),
            Loc::Assembled => self.walker.asm.len(),
        };
        Some(RecordPosition {
            segment: self.walker.current_segment()?,
            offset: found.offset,
            end: found.end,
            stored_len,
        })
    }

    /// The segment files the reader found when it was opened (or last
    /// listed the directory), in LSN order, with their verified headers.
    pub fn segments(&self) -> impl Iterator<Item = (&Path, &SegmentHeader)> {
        self.walker
            .segments
            .iter()
            .map(|s| (s.path.as_path(), &s.header))
    }

    /// The ranges skipped so far ([`crate::RecoveryMode::SkipAnyCorruptedRecords`])
    /// or that ended the records early ([`crate::RecoveryMode::PointInTime`]).
    #[must_use]
    pub fn skipped(&self) -> &[CorruptRange] {
        &self.walker.corrupt
    }

    /// The largest number of bytes the reader's own buffers held so far:
    /// the read window plus the fragment-assembly buffer, plus the largest
    /// decrypted or decompressed payload (the payload decoder holds a copy
    /// of the stored and of the logical payload). Never more than
    /// [`ReadOptions::memory_bound`].
    #[must_use]
    pub fn buffer_high_water(&self) -> usize {
        self.walker
            .high_water()
            .saturating_add(self.decoded_high.saturating_mul(2))
    }

    /// The log directory.
    #[must_use]
    pub fn dir(&self) -> &std::path::Path {
        self.walker.dir()
    }
}

/// The stored payload of `found`, a record `walker` just yielded: in its
/// window or its assembly buffer. A free function, so the payload decoder
/// can be borrowed beside it.
fn stored(walker: &Walker, found: Found) -> &[u8] {
    match found.loc {
        Loc::Window(span) => walker.scanner.as_ref().map_or(&[][..], |s| s.span(span)),
        Loc::Assembled => &walker.asm,
    }
}

/// Whether a payload error is damage to the record (not a configuration
/// problem such as a missing key or feature): the rule this crate skips or
/// reports by, for callers that classify the same errors.
#[must_use]
pub fn is_damage(e: &wal_crypto::Error) -> bool {
    matches!(
        e,
        wal_crypto::Error::Authentication { .. }
            | wal_crypto::Error::Decompress { .. }
            | wal_crypto::Error::DecompressedTooLarge { .. }
            | wal_crypto::Error::Inconsistent { .. }
    )
}

/// Yields owned copies of the records; ends after the first error.
impl Iterator for LogReader {
    type Item = Result<OwnedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
            .map(|r| r.map(|r| r.to_owned_record()))
            .transpose()
    }
}
