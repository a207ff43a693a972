//! What is wrong where the records stop: bytes that are not a valid record
//! of the segment (the scanner's `Stop`), or a valid record that does not
//! fit the sequence where it stands ([`SeqFault`]).

use crate::scan::Stop;

/// A valid record that does not fit the sequence where it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqFault {
    /// An LSN at the largest value: no record could follow it.
    LsnAtMax,
    /// A record whose LSN is not the next one.
    LsnOutOfSequence,
    /// A batch or commit marker whose LSN is not the next record's.
    MarkerLsn,
    /// A batch or commit marker inside a batch or fragment chain.
    MarkerInsideUnit,
    /// Another record between the fragments of a chain.
    ChainInterrupted,
    /// A middle or last fragment without a first.
    FragmentWithoutFirst,
    /// A fragment whose LSN differs from its first fragment's.
    FragmentLsn,
    /// A fragment whose flags differ from its first fragment's.
    FragmentFlags,
    /// A record longer than the maximum record size.
    TooLong,
    /// A fragment chain longer than the maximum record size.
    ChainTooLong,
    /// A batch marker that does not decode (count, flags, length).
    BadBatchMarker,
    /// A commit marker that does not decode, or claims a durable LSN at or
    /// above its own.
    BadCommitMarker,
    /// A record type this reader does not expect in a log.
    UnexpectedType,
    /// A record flagged encrypted in a segment without a key.
    EncryptedInPlainSegment,
    /// A data or checkpoint record without the encrypted flag in a segment
    /// with a key: nothing is ever written in plaintext there.
    PlaintextInEncryptedSegment,
    /// A record flagged compressed (and not encrypted) whose payload does
    /// not start as a compressed payload does (a length prefix within the
    /// maximum record size, then a zstd frame's magic).
    BadCompressedPayload,
    /// A marker of an encrypted segment whose tag does not authenticate it.
    #[cfg_attr(not(feature = "encryption"), allow(dead_code))]
    UnauthenticatedMarker,
    /// The stream flag on a checkpoint, or in a segment of a format version
    /// without streams: no writer puts it there.
    MisplacedStreamFlag,
}

impl SeqFault {
    fn describe(self) -> &'static str {
        match self {
            SeqFault::LsnAtMax => "lsn at the largest value",
            SeqFault::LsnOutOfSequence => "lsn out of sequence",
            SeqFault::MarkerLsn => "marker lsn out of sequence",
            SeqFault::MarkerInsideUnit => "marker inside a batch or fragment chain",
            SeqFault::ChainInterrupted => "fragment chain interrupted by another record",
            SeqFault::FragmentWithoutFirst => "fragment without a first fragment",
            SeqFault::FragmentLsn => "fragment lsn differs from its first fragment's",
            SeqFault::FragmentFlags => "fragment flags differ from its first fragment's",
            SeqFault::TooLong => "record longer than the maximum record size",
            SeqFault::ChainTooLong => "fragment chain longer than the maximum record size",
            SeqFault::BadBatchMarker => "invalid batch marker",
            SeqFault::BadCommitMarker => "invalid commit marker",
            SeqFault::UnexpectedType => "unexpected record type",
            SeqFault::EncryptedInPlainSegment => "encrypted record in a segment without a key",
            SeqFault::PlaintextInEncryptedSegment => "plaintext record in an encrypted segment",
            SeqFault::BadCompressedPayload => {
                "record flagged compressed whose payload is not a compressed payload"
            }
            SeqFault::UnauthenticatedMarker => "marker that does not authenticate (forged)",
            SeqFault::MisplacedStreamFlag => {
                "stream flag on a checkpoint or in a segment of a version without streams"
            }
        }
    }

    /// Whether the record is bad by itself, not only where it stands: the
    /// walk never resumes at it.
    pub(super) fn bad_by_itself(self) -> bool {
        matches!(
            self,
            SeqFault::TooLong
                | SeqFault::ChainTooLong
                | SeqFault::BadBatchMarker
                | SeqFault::BadCommitMarker
                | SeqFault::UnexpectedType
                | SeqFault::EncryptedInPlainSegment
                | SeqFault::PlaintextInEncryptedSegment
                | SeqFault::BadCompressedPayload
                | SeqFault::UnauthenticatedMarker
        )
    }
}

impl std::fmt::Display for SeqFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// What is wrong where the records stop.
#[derive(Clone, Debug)]
pub(super) enum Fault {
    /// The bytes there are not a valid record of the segment.
    Stop(Stop),
    /// A valid record that does not fit the sequence.
    Sequence(SeqFault),
}

impl Fault {
    /// What a corruption report says of it.
    pub(super) fn describe(&self) -> String {
        match self {
            Fault::Sequence(f) => f.describe().to_string(),
            Fault::Stop(Stop::Damaged(e)) => e.to_string(),
            Fault::Stop(Stop::Incomplete) => "record cut short by the end of the file".into(),
            Fault::Stop(Stop::ZeroFilled) => "zeros where a record should be".into(),
            Fault::Stop(Stop::Stale) => "a record of an earlier use of the file".into(),
            Fault::Stop(Stop::Eof) => "the file ends".into(),
        }
    }
}
