//! The engine under the reader, the tailer and recovery: walks the segments
//! of a log in order, checks LSN continuity, fragment chains and batches,
//! and classifies every place where the records stop (clean end, torn tail,
//! corruption), as the recovery mode says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{
    BatchMarker, CleanMarker, CommitMarker, Flags, LogicalKind, Lsn, Record, RecordHeader,
    RecordType, SEGMENT_HEADER_LEN,
};
use wal_io::Storage;

use crate::ahead::ReadAhead;
use crate::error::{Error, Result};
use crate::options::{ReadOptions, RecoveryMode};
use crate::report::{CorruptRange, CorruptionKind, TailKind};
use crate::scan::{Phys, Scanner, Span, Stop};
use crate::segments::{self, Segment};

/// The first format version with streams ([`Flags::STREAM`]).
const STREAMS_VERSION: u16 = 3;

/// Where a yielded record's payload is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    /// In the scanner's window (a full record or checkpoint).
    Window(Span),
    /// In the assembly buffer (a reassembled fragment chain).
    Assembled,
}

/// A logical record found by the walker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) lsn: Lsn,
    pub(crate) kind: LogicalKind,
    pub(crate) flags: Flags,
    /// The offset of its first physical record.
    pub(crate) offset: u64,
    /// The offset after its last physical record.
    pub(crate) end: u64,
    /// Where the unit holding it (the record, or its batch) starts, and
    /// the LSN there: where a log cut before it ends.
    pub(crate) unit: (u64, Lsn),
    pub(crate) loc: Loc,
}

/// What [`Walker::advance`] found.
#[derive(Debug)]
pub(crate) enum Step {
    Record(Found),
    /// The end of the log's data.
    End,
    /// (Live mode) the next record is not durable yet.
    Wait,
}

/// How the log ended, once the walker got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndState {
    /// The segment the data ends in (index into the walker's list), if any.
    pub(crate) segment: Option<usize>,
    /// The offset after the last record kept.
    pub(crate) offset: u64,
    /// The LSN the next record takes.
    pub(crate) next_lsn: Lsn,
    pub(crate) tail: TailKind,
    pub(crate) torn_detail: Option<String>,
    pub(crate) dropped: Option<(Lsn, Lsn)>,
    /// Whether bytes after `offset` in that segment are not data and must
    /// be cut (a torn tail, stale records, or, in point-in-time mode,
    /// everything after the damage).
    pub(crate) cut: bool,
    /// Point-in-time mode: the damage ended the log early; later segments
    /// must go.
    pub(crate) early: bool,
}

#[derive(Clone, Copy, Debug)]
struct Chain {
    lsn: Lsn,
    flags: Flags,
    offset: u64,
    len: usize,
}

#[derive(Clone, Copy, Debug)]
struct Batch {
    /// The LSN after the batch's last record.
    end: Lsn,
}

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
    fn bad_by_itself(self) -> bool {
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
enum Fault {
    /// The bytes there are not a valid record of the segment.
    Stop(Stop),
    /// A valid record that does not fit the sequence.
    Sequence(SeqFault),
}

impl Fault {
    /// What a corruption report says of it.
    fn describe(&self) -> String {
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

/// The unit at a stop ([`Walker::unit_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UnitAt {
    /// The last unit read is whole: the stop is at the commit point.
    Whole,
    /// A unit is in progress: records of it were read past the commit
    /// point, or a batch or fragment chain is open.
    Pending,
}

/// A stop of the records, as [`Walker::classify`] hands it to the
/// classification of the segment it is in.
#[derive(Debug)]
struct StopSite<'a> {
    /// The offset where the records stop.
    x: u64,
    /// What the bytes at `x` are.
    stop: &'a Stop,
    /// `stop`, as the fault a corruption report names.
    fault: &'a Fault,
    /// The LSN after the batch in progress, if one is.
    batch_end: Option<Lsn>,
    unit: UnitAt,
}

/// What made a stop in the last segment corruption: the evidence that the
/// first record not kept was acknowledged, and the highest LSN of the valid
/// records found after the stop.
#[derive(Clone, Copy, Debug)]
struct Acked {
    evidence: Evidence,
    high: Option<Lsn>,
}

/// Where the strongest evidence of durability came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EvidenceAt {
    /// Nothing: no record is known to have been acknowledged.
    Nothing,
    /// The clean-close marker.
    CleanClose,
    /// A commit marker: segment index and offset.
    Marker(usize, u64),
}

/// The highest LSN the log's own evidence proves was durable (and
/// acknowledged), and where that evidence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Evidence {
    lsn: Lsn,
    at: EvidenceAt,
}

impl Evidence {
    const NONE: Evidence = Evidence {
        lsn: Lsn::ZERO,
        at: EvidenceAt::Nothing,
    };

    fn max(self, other: Evidence) -> Evidence {
        if other.lsn > self.lsn { other } else { self }
    }
}

/// What the bytes after a stop in the last segment hold.
#[derive(Clone, Copy, Debug)]
struct Survey {
    /// The first commit marker found that proves the first record not kept
    /// was acknowledged (the nearest proof, so a report names the same
    /// one however much of the tail was cut since).
    proof: Option<Evidence>,
    /// The highest LSN of the valid records found with an LSN the log has
    /// not reached.
    high: Option<Lsn>,
}

impl Survey {
    /// Nothing found (nothing follows the end of the file).
    const NOTHING: Survey = Survey {
        proof: None,
        high: None,
    };
}

/// What a stop is, once classified; the recovery mode then decides what
/// to do about it ([`Walker::apply`]).
#[derive(Debug)]
enum Verdict {
    /// The segment's data ends cleanly and a later segment follows.
    NextSegment,
    /// Damaged bytes after the last record of a sealed segment, which the
    /// next segment continues: no record lost.
    SealedSlack,
    /// The log's data ends here, cleanly.
    End(TailKind),
    /// A torn tail: the end of the last write(s), never proven
    /// acknowledged. `dropped`: valid records found after the damage.
    Torn {
        detail: String,
        dropped: Option<(Lsn, Lsn)>,
    },
    /// Damage to what had been written: corruption. `resync` is where
    /// valid data resumes in this segment, if anywhere.
    Corrupt {
        range: CorruptRange,
        resync: Option<Phys>,
    },
}

/// Which records a search after damage looks for ([`Walker::find_valid`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    /// Any valid record: evidence that something was written after the
    /// stop.
    AnyRecord,
    /// A record that starts a unit (full record, first fragment,
    /// checkpoint, batch or commit marker): where the walk can resume.
    UnitStart,
}

/// Whether opening a segment checks that its first LSN (its name)
/// continues where the previous segment's records ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continuity {
    /// Check it: moving on from a segment whose data ended cleanly.
    Checked,
    /// Take whatever it starts with: a seek, the first segment, or after
    /// damage was skipped.
    Any,
}

/// What opening a segment came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opened {
    /// The segment is open (or there is none at that index).
    Reading,
    /// Point-in-time mode: the segment does not continue the LSNs, so the
    /// log ends where the previous segment's data ends.
    LogEndsBefore,
}

/// The result of checking a physical record against the sequence.
enum Accept {
    /// Consumed (a marker, a fragment).
    Continue,
    /// A logical record completed.
    Done(Found),
    /// The record does not fit the sequence.
    Break(SeqFault),
    /// A batch marker whose batch does not complete: the fault found at an
    /// offset after it, and the LSN after the batch.
    BatchFault(u64, Fault, Lsn),
    /// (Live mode) a batch that is not wholly durable yet.
    Wait,
}

/// The state of following a live log (a tailer); inert otherwise.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// The highest LSN that may be yielded: the durable watermark
    /// (`None`: not live, everything on the disk may be).
    pub(crate) limit: Option<Lsn>,
    /// How often the unit at this LSN was retried ([`Walker::live_retry`]).
    retries: (Lsn, u8),
}

/// What the log itself proves was acknowledged, gathered as the walk goes:
/// the clean-close marker and the commit markers walked so far.
#[derive(Debug)]
struct Proof {
    /// The strongest evidence of durability seen.
    best: Evidence,
    /// The clean-close marker, when it verified and names this log.
    clean: Option<CleanMarker>,
}

/// The sparse seek index, noted while reading (nothing is stored on disk).
#[derive(Debug, Default)]
struct SeekIndex {
    /// Per segment (by first LSN and salt), unit boundaries (LSN, offset)
    /// about `index_interval` bytes apart.
    points: BTreeMap<(Lsn, u64), Vec<(Lsn, u64)>>,
    /// The offset of the last boundary noted in the segment being read.
    last: u64,
}

impl SeekIndex {
    /// Notes the unit boundary at `end` of `seg` (the next LSN there:
    /// `next`) if it is `interval` bytes or more past the last one noted.
    fn note(&mut self, seg: &Segment, next: Lsn, end: u64, interval: u64) {
        if end.saturating_sub(self.last) < interval {
            return;
        }
        self.last = end;
        let points = self
            .points
            .entry((seg.first_lsn(), seg.header.salt.get()))
            .or_default();
        if points.last().is_none_or(|&(l, _)| l < next) {
            points.push((next, end));
        }
    }
}

/// The largest buffer capacities seen, for `ReadOptions::memory_bound`'s
/// test: the read window (with the read-ahead's buffers) of the segments
/// already left, and the assembly buffer.
#[derive(Debug, Default)]
struct HighWater {
    window: usize,
    asm: usize,
}

/// Where the walk stands in the log's sequence.
#[derive(Debug)]
struct Position {
    /// The index of the segment being read, if one is open.
    seg_idx: usize,
    /// The LSN the next logical record must have (`None`: any, for the
    /// first segment read, or after a gap skipped).
    expected: Option<Lsn>,
    /// The offset after the last complete unit (record or batch): where a
    /// log cut now would end.
    commit: u64,
    /// The LSN after the last complete unit.
    commit_lsn: Lsn,
}

/// The unit in progress past the commit point: a fragment chain, a batch
/// (at most one of each: a chain may be inside a batch).
#[derive(Debug, Default)]
struct OpenUnit {
    chain: Option<Chain>,
    batch: Option<Batch>,
}

/// What the key checks found, with keys configured.
#[derive(Debug, Default)]
struct KeyChecks {
    /// The segment being read's decryptor, to authenticate its markers.
    #[cfg(feature = "encryption")]
    auth: Option<wal_crypto::SegmentDecryptor>,
    /// The segments whose key check fails under a key that opens the
    /// log's other segments of the same key id (forged), by index
    /// ([`Walker::check_keys`]).
    forged: Vec<usize>,
}

/// The walker.
#[derive(Debug)]
pub(crate) struct Walker {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    pub(crate) opts: ReadOptions,
    pub(crate) segments: Vec<Segment>,
    pub(crate) scanner: Option<Scanner>,
    /// Following a live log: the watermark, the retries at a stop.
    pub(crate) live: Live,
    /// Where the walk stands: segment, next LSN, the last complete unit.
    pos: Position,
    /// The fragment chain and batch in progress, if any.
    open: OpenUnit,
    pub(crate) asm: Vec<u8>,
    /// The largest buffers seen.
    high: HighWater,
    /// Records below this LSN are walked over but not yielded.
    skip_below: Lsn,
    /// Ranges skipped or discarded, in log order.
    pub(crate) corrupt: Vec<CorruptRange>,
    pub(crate) end: Option<EndState>,
    /// The highest LSN handed out.
    yielded: Lsn,
    /// The evidence of durability seen so far.
    proof: Proof,
    /// The sparse seek index.
    index: SeekIndex,
    /// (Skipping mode) where the walk last resumed after damage.
    last_resync: Option<(usize, u64)>,
    /// What the searches after damage may still read in the segment being
    /// read (set at the first search; see [`Scanner::find_valid`]).
    scan_budget: Option<u64>,
    /// With keys: the current segment's decryptor, the forged segments.
    keys: KeyChecks,
}

impl Walker {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        opts: ReadOptions,
        segments: Vec<Segment>,
    ) -> Walker {
        Walker {
            storage,
            keys: KeyChecks::default(),
            open: OpenUnit::default(),
            pos: Position {
                seg_idx: 0,
                expected: None,
                commit: SEGMENT_HEADER_LEN as u64,
                commit_lsn: Lsn::ZERO,
            },
            high: HighWater::default(),
            index: SeekIndex::default(),
            proof: Proof {
                best: Evidence::NONE,
                clean: None,
            },
            live: Live::default(),
            dir,
            opts,
            segments,
            scanner: None,
            asm: Vec::new(),
            skip_below: Lsn::ZERO,
            corrupt: Vec::new(),
            end: None,
            yielded: Lsn::ZERO,
            last_resync: None,
            scan_budget: None,
        }
    }

    /// With keys configured, checks every encrypted segment's key before
    /// anything is read: a key id the provider lacks, or a key that fails
    /// the key check of every segment under its id, is a configuration
    /// problem ([`Error::Key`]); a segment that fails the key check of a
    /// key that opens other segments of its id was not written with it
    /// (noted, and reported as corruption when the walk gets there).
    /// Without keys (or the `encryption` feature) there is nothing to check
    /// here: encrypted payloads fail when they are decoded.
    pub(crate) fn check_keys(&mut self) -> Result<()> {
        #[cfg(feature = "encryption")]
        if let Some(keys) = self.opts.keys.clone() {
            use std::collections::BTreeMap as Map;
            // Per key id: (segments that pass, first failure).
            let mut by_id: Map<u32, (usize, Option<(usize, wal_crypto::Error)>)> = Map::new();
            let mut failed = Vec::new();
            for (i, seg) in self.segments.iter().enumerate() {
                if seg.header.key_id.is_none() {
                    continue;
                }
                let entry = by_id.entry(seg.header.key_id.get()).or_default();
                match wal_crypto::SegmentDecryptor::open(&*keys, &seg.header) {
                    Ok(_) => entry.0 += 1,
                    Err(e @ wal_crypto::Error::MissingKey { .. }) => {
                        return Err(Error::Key {
                            path: seg.path.clone(),
                            source: e,
                        });
                    }
                    Err(e) => {
                        failed.push(i);
                        entry.1.get_or_insert((i, e));
                    }
                }
            }
            for (passed, first_failure) in by_id.values() {
                if let (0, Some((i, e))) = (passed, first_failure) {
                    let path = self
                        .segments
                        .get(*i)
                        .map(|s| s.path.clone())
                        .unwrap_or_default();
                    return Err(Error::Key {
                        path,
                        source: e.clone(),
                    });
                }
            }
            self.keys.forged = failed;
        }
        Ok(())
    }

    /// Whether segment `idx` can be trusted to be this log's where it
    /// stands: a segment without a key after one with a key (nothing is
    /// ever written in plaintext to an encrypted log), or, with keys, one
    /// whose key check or header tag fails (forged, spliced in, or moved:
    /// the tag binds the segment before it), is corruption in every mode.
    fn check_segment(&mut self, idx: usize, seg: &Segment) -> Result<()> {
        if seg.header.key_id.is_none() {
            self.check_plaintext_segment(idx, seg)?;
            #[cfg(feature = "encryption")]
            {
                self.keys.auth = None;
            }
            return Ok(());
        }
        if self.keys.forged.contains(&idx) {
            return Err(unauthenticated(
                seg,
                format!(
                    "its key check fails under the key that opens the log's other segments of key id {}",
                    seg.header.key_id
                ),
            ));
        }
        #[cfg(feature = "encryption")]
        {
            self.keys.auth = None;
            self.keys.auth = self.authenticate_segment(idx, seg)?;
        }
        Ok(())
    }

    /// A segment without a key (`seg`, at `idx`) may not follow one with a
    /// key.
    fn check_plaintext_segment(&self, idx: usize, seg: &Segment) -> Result<()> {
        let earlier = self.segments.get(..idx).unwrap_or_default();
        match earlier.iter().find(|s| !s.header.key_id.is_none()) {
            Some(keyed) => Err(unauthenticated(
                seg,
                format!(
                    "a segment without a key after an encrypted one ({})",
                    keyed.path.display()
                ),
            )),
            None => Ok(()),
        }
    }

    /// With keys, the decryptor of the encrypted segment `seg` (at `idx`),
    /// once its header tag authenticates it after the segment before it;
    /// without keys, none.
    #[cfg(feature = "encryption")]
    fn authenticate_segment(
        &self,
        idx: usize,
        seg: &Segment,
    ) -> Result<Option<wal_crypto::SegmentDecryptor>> {
        let Some(keys) = self.opts.keys.clone() else {
            return Ok(None);
        };
        let dec = wal_crypto::SegmentDecryptor::open(&*keys, &seg.header).map_err(|source| {
            Error::Key {
                path: seg.path.clone(),
                source,
            }
        })?;
        // The oldest segment's predecessor may have been purged: its link
        // cannot be checked (dropping a prefix of a log looks like a purge).
        if let Some(prev) = idx.checked_sub(1).and_then(|i| self.segments.get(i)) {
            let link = wal_crypto::Link::to(&prev.header);
            if dec.verify_header(&seg.header, link).is_err() {
                return Err(unauthenticated(
                    seg,
                    format!(
                        "its header tag does not authenticate it after {}",
                        prev.path.display()
                    ),
                ));
            }
        }
        Ok(Some(dec))
    }

    /// The highest LSN the evidence seen so far proves was acknowledged.
    pub(crate) fn proven_lsn(&self) -> Lsn {
        self.proof.best.lsn
    }

    /// Takes the clean-close marker as evidence: every record below its
    /// next LSN was durable when the log was closed.
    pub(crate) fn set_clean_marker(&mut self, clean: Option<CleanMarker>) {
        self.proof.clean = clean;
        if let Some(c) = clean {
            self.proof.best = self.proof.best.max(Evidence {
                lsn: c.last_lsn(),
                at: EvidenceAt::CleanClose,
            });
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the segment being read.
    pub(crate) fn current_segment(&self) -> Option<&Path> {
        self.segments
            .get(self.pos.seg_idx)
            .map(|s| s.path.as_path())
    }

    /// The largest buffer capacities seen: the window and the assembly
    /// buffer.
    pub(crate) fn high_water(&self) -> usize {
        let window = self
            .scanner
            .as_ref()
            .map_or(0, Scanner::window_capacity)
            .max(self.high.window);
        window.saturating_add(self.high.asm.max(self.asm.capacity()))
    }

    /// The oldest LSN in the listed segments.
    pub(crate) fn oldest(&self) -> Lsn {
        self.segments.first().map_or(Lsn::ZERO, Segment::first_lsn)
    }

    pub(crate) fn relist(&mut self) -> Result<()> {
        self.segments = segments::list(&*self.storage, &self.dir)?;
        Ok(())
    }

    fn is_last(&self) -> bool {
        self.pos.seg_idx.saturating_add(1) >= self.segments.len()
    }

    fn current_path(&self) -> PathBuf {
        self.segments
            .get(self.pos.seg_idx)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.clone())
    }

    /// Positions the walker so the next record yielded is `lsn` (or the
    /// first after it). Uses the segment names (binary search) and the
    /// sparse index, then walks forward.
    pub(crate) fn seek(&mut self, lsn: Lsn) -> Result<()> {
        self.end = None;
        self.yielded = Lsn::ZERO;
        self.corrupt.clear();
        self.last_resync = None;
        let oldest = self.oldest();
        if self.segments.is_empty() {
            self.pos.seg_idx = 0;
            self.scanner = None;
            self.pos.expected = None;
            self.skip_below = lsn;
            return Ok(());
        }
        if lsn < oldest && lsn != Lsn::ZERO {
            return Err(Error::Purged { lsn, oldest });
        }
        let idx = self
            .segments
            .partition_point(|s| s.first_lsn() <= lsn)
            .saturating_sub(1);
        self.open_segment(idx, Continuity::Any)?;
        if let Some(seg) = self.segments.get(idx) {
            let key = (seg.first_lsn(), seg.header.salt.get());
            if let Some(points) = self.index.points.get(&key) {
                let i = points.partition_point(|&(l, _)| l <= lsn);
                if let Some(&(l, off)) = i.checked_sub(1).and_then(|i| points.get(i)) {
                    if let Some(s) = self.scanner.as_mut() {
                        s.offset = off;
                    }
                    self.pos.commit = off;
                    self.pos.commit_lsn = l;
                    self.pos.expected = Some(l);
                    self.index.last = off;
                }
            }
        }
        self.skip_below = lsn;
        Ok(())
    }

    /// Opens segment `idx`, checking that it continues the LSNs when
    /// `continuity` says so and the walker knows what comes next. Returns
    /// [`Opened::LogEndsBefore`] when it does not and the mode (point in
    /// time) ends the log there.
    fn open_segment(&mut self, idx: usize, continuity: Continuity) -> Result<Opened> {
        let (buf, ahead) = self.take_buffers();
        let Some(seg) = self.segments.get(idx).cloned() else {
            return Ok(Opened::Reading);
        };
        self.enter_segment(idx);
        if continuity == Continuity::Checked
            && let Some(range) = self.lsn_break(&seg)
            && self.on_lsn_break(range)? == Opened::LogEndsBefore
        {
            return Ok(Opened::LogEndsBefore);
        }
        self.check_segment(idx, &seg)?;
        let first = seg.first_lsn();
        self.pos.expected = Some(first);
        self.pos.commit_lsn = first;
        self.scan_budget = None;
        self.scanner = Some(Scanner::open(
            &*self.storage,
            &seg,
            self.opts.max_payload_len,
            self.opts.buffer_size,
            buf,
            ahead,
        )?);
        Ok(Opened::Reading)
    }

    /// Closes the segment being read, if any, and keeps its buffers for
    /// the next one: the read window, and the read-ahead (made here when
    /// the options ask for one and there is none yet).
    fn take_buffers(&mut self) -> (Vec<u8>, Option<ReadAhead>) {
        let mut buf = Vec::new();
        let mut ahead = None;
        if let Some(s) = self.scanner.take() {
            self.high.window = self.high.window.max(s.window_capacity());
            (buf, ahead) = s.into_parts();
        }
        if ahead.is_none() && self.opts.read_ahead {
            ahead = Some(ReadAhead::new(self.opts.buffer_size));
        }
        (buf, ahead)
    }

    /// The walk stands at the start of segment `idx`: no unit open, the
    /// commit point after its header.
    fn enter_segment(&mut self, idx: usize) {
        self.pos.seg_idx = idx;
        self.open.chain = None;
        self.open.batch = None;
        self.pos.commit = SEGMENT_HEADER_LEN as u64;
        self.index.last = self.pos.commit;
    }

    /// The break in the LSNs when `seg` does not start where the walk
    /// expects the next record (a gap, or an overlap), if the walk expects
    /// a particular one.
    fn lsn_break(&self, seg: &Segment) -> Option<CorruptRange> {
        let first = seg.first_lsn();
        let expected = self.pos.expected.filter(|&e| e != first)?;
        let (kind, lsns, detail) = if first > expected {
            (
                CorruptionKind::LsnGap,
                Some((expected, first.checked_prev().unwrap_or(first))),
                format!(
                    "the previous segment ends before lsn {expected}, this one starts at {first}"
                ),
            )
        } else {
            (
                CorruptionKind::Overlap,
                Some((first, expected.checked_prev().unwrap_or(expected))),
                format!(
                    "the previous segment reaches lsn {}, this one starts at {first}",
                    expected.checked_prev().unwrap_or(expected)
                ),
            )
        };
        Some(CorruptRange {
            kind,
            segment: seg.path.clone(),
            offset: 0,
            end_offset: SEGMENT_HEADER_LEN as u64,
            lsns,
            detail,
        })
    }

    /// Does what the recovery mode says about a break in the LSNs between
    /// segments: an error, the end of the log before this segment (point
    /// in time), or noted and read on (the skipping mode).
    fn on_lsn_break(&mut self, range: CorruptRange) -> Result<Opened> {
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                // The log ends where the previous segment's data ends;
                // `self.end` was prepared by the caller.
                tracing::warn!(%range, "point-in-time recovery: discarding the log from here");
                self.corrupt.push(range);
                Ok(Opened::LogEndsBefore)
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                tracing::warn!(%range, "skipping corrupt range");
                self.corrupt.push(range);
                Ok(Opened::Reading)
            }
        }
    }

    /// Walks to the next logical record to yield.
    #[inline]
    pub(crate) fn advance(&mut self) -> Result<Step> {
        match self.next_full() {
            Some(found) => Ok(Step::Record(found)),
            None => self.advance_slow(),
        }
    }

    /// The common case of [`Walker::advance`], without reading, stops or
    /// state changes beyond one record: the next record is a valid full
    /// record, whole in the scanner's window, that continues the sequence
    /// and is to be yielded. `None` for anything else, with nothing
    /// changed: [`Walker::advance_slow`] then takes it from the start.
    #[inline]
    fn next_full(&mut self) -> Option<Found> {
        if self.end.is_some() || self.live.limit.is_some() {
            return None;
        }
        let scanner = self.scanner.as_mut()?;
        let at = scanner.offset;
        let phys = scanner.next_in_window()?;
        let h = phys.header;
        if h.record_type != RecordType::Full
            || h.lsn < self.skip_below
            || self.pos.expected.is_none()
            || self.breaks_full(&phys).is_some()
        {
            if let Some(s) = self.scanner.as_mut() {
                s.offset = at;
            }
            return None;
        }
        let kind = LogicalKind::of(h.record_type, h.flags).unwrap_or(LogicalKind::Data);
        let found = self.complete_full(&phys, kind);
        self.progressed(found.lsn);
        Some(found)
    }

    /// A record at `lsn` is handed out: the tries at a stop below it are
    /// over (re-walking records before a stop after a seek does not count:
    /// they are not handed out again), and nothing at or below it is ever
    /// handed out again.
    fn progressed(&mut self, lsn: Lsn) {
        if lsn >= self.live.retries.0 {
            self.live.retries = (Lsn::ZERO, 0);
        }
        self.yielded = self.yielded.max(lsn);
    }

    /// Why the full record or checkpoint `phys` cannot come next, if it
    /// cannot.
    fn breaks_full(&self, phys: &Phys) -> Option<SeqFault> {
        let h = &phys.header;
        if h.lsn == Lsn::MAX {
            // No record can follow it.
            Some(SeqFault::LsnAtMax)
        } else if self.open.chain.is_some() {
            Some(SeqFault::ChainInterrupted)
        } else if h.lsn != self.pos.expected.unwrap_or(h.lsn) {
            Some(SeqFault::LsnOutOfSequence)
        } else if phys.payload_len > self.stored_max(h.flags) {
            Some(SeqFault::TooLong)
        } else {
            self.breaks_flags(phys)
        }
    }

    /// The largest stored payload of a logical record with `flags`: the
    /// maximum record size, plus the tag when it is encrypted (the writer
    /// limits the logical size; compression never grows a payload).
    fn stored_max(&self, flags: Flags) -> usize {
        stored_max(self.opts.max_record_len, flags)
    }

    /// Whether the flags of `phys` (a full record, a checkpoint or a first
    /// fragment) contradict its segment, as no writer would have written
    /// them: the encrypted flag must match whether the segment has a key,
    /// and a compressed plaintext payload starts with its length prefix and
    /// a zstd frame's magic. Checked here, on the structure, before any
    /// payload is decoded.
    fn breaks_flags(&self, phys: &Phys) -> Option<SeqFault> {
        let flags = phys.header.flags;
        if let Some(fault) = self.breaks_encryption(flags) {
            return Some(fault);
        }
        if flags.contains(Flags::STREAM)
            && (LogicalKind::of(phys.header.record_type, flags).is_none()
                || self
                    .scanner
                    .as_ref()
                    .is_some_and(|s| s.seg.header.version < STREAMS_VERSION))
        {
            return Some(SeqFault::MisplacedStreamFlag);
        }
        if flags.contains(Flags::COMPRESSED) && !flags.contains(Flags::ENCRYPTED) {
            const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
            let payload = self.scanner.as_ref().map(|s| s.payload(phys))?;
            let len = payload
                .first_chunk::<4>()
                .map(|b| u32::from_le_bytes(*b) as usize);
            let magic = payload.get(4..8);
            if len.is_none_or(|l| l > self.opts.max_record_len) || magic != Some(&ZSTD_MAGIC[..]) {
                return Some(SeqFault::BadCompressedPayload);
            }
        }
        None
    }

    /// Whether the encrypted flag in `flags` contradicts the segment being
    /// read: a segment with a key holds nothing else, one without a key
    /// holds nothing encrypted.
    fn breaks_encryption(&self, flags: Flags) -> Option<SeqFault> {
        let keyed = self
            .scanner
            .as_ref()
            .is_some_and(|s| !s.seg.header.key_id.is_none());
        match (flags.contains(Flags::ENCRYPTED), keyed) {
            (true, false) => Some(SeqFault::EncryptedInPlainSegment),
            (false, true) => Some(SeqFault::PlaintextInEncryptedSegment),
            _ => None,
        }
    }

    /// The batch or commit marker `phys`, decoded by `decode`, if it may
    /// come where it stands: not inside a batch or fragment chain, at the
    /// `expected` LSN, well formed, and not contradicting its segment
    /// ([`Walker::breaks_marker`]).
    fn marker<M>(
        &self,
        phys: &Phys,
        expected: Lsn,
        decode: fn(&Record<'_>) -> wal_format::Result<M>,
    ) -> std::result::Result<M, SeqFault> {
        let h = phys.header;
        if self.open.chain.is_some() || self.open.batch.is_some() {
            return Err(SeqFault::MarkerInsideUnit);
        }
        if h.lsn != expected {
            return Err(SeqFault::MarkerLsn);
        }
        let record = Record {
            header: h,
            payload: self.scanner.as_ref().map_or(&[][..], |s| s.payload(phys)),
        };
        let Ok(marker) = decode(&record) else {
            return Err(if h.record_type == RecordType::Batch {
                SeqFault::BadBatchMarker
            } else {
                SeqFault::BadCommitMarker
            });
        };
        match self.breaks_marker(&record) {
            Some(fault) => Err(fault),
            None => Ok(marker),
        }
    }

    /// Whether a batch or commit marker contradicts its segment: flagged
    /// encrypted (authenticated) exactly in a segment with a key, and,
    /// with keys, its tag authenticates it.
    fn breaks_marker(&self, record: &Record<'_>) -> Option<SeqFault> {
        if let Some(fault) = self.breaks_encryption(record.header.flags) {
            return Some(fault);
        }
        #[cfg(feature = "encryption")]
        if let Some(auth) = &self.keys.auth
            && auth.verify_marker(record).is_err()
        {
            return Some(SeqFault::UnauthenticatedMarker);
        }
        None
    }

    /// Completes the full record or checkpoint `phys` (which
    /// [`Walker::breaks_full`] accepted).
    fn complete_full(&mut self, phys: &Phys, kind: LogicalKind) -> Found {
        self.complete(
            phys.header,
            kind,
            phys.offset,
            phys.end(),
            Loc::Window(phys.span()),
        )
    }

    /// [`Walker::advance`] in general: walks record by record, opening
    /// segments and handling stops, until a record to yield, the end of
    /// the log's data, or (live) the next record is not durable yet.
    #[inline(never)]
    fn advance_slow(&mut self) -> Result<Step> {
        loop {
            if self.end.is_some() {
                return Ok(Step::End);
            }
            let step = if self.scanner.is_none() {
                self.no_segment_open()?
            } else if self.not_durable_yet() {
                Some(Step::Wait)
            } else {
                self.walk_one()?
            };
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// No segment is open: the walk starts. With no segment file the log
    /// is empty (after checking the clean-close marker agrees), or, live,
    /// has no segment yet; else the segment to read is opened. Returns a
    /// step to hand out, or `None` to carry on walking.
    fn no_segment_open(&mut self) -> Result<Option<Step>> {
        if self.live.limit.is_some() {
            return self.live_start();
        }
        if self.segments.is_empty() {
            self.check_clean_without_segments()?;
            self.end_empty();
            return Ok(None);
        }
        self.open_segment(self.pos.seg_idx, Continuity::Any)?;
        Ok(None)
    }

    /// No segment file, yet the clean-close marker says the log was
    /// closed after records (its next LSN is past the first): those
    /// records were durable, and their segments are gone. Corruption,
    /// handled by the mode (an error, or noted).
    fn check_clean_without_segments(&mut self) -> Result<()> {
        let Some(clean) = self.proof.clean.filter(|c| c.next_lsn > Lsn::FIRST) else {
            return Ok(());
        };
        let range = CorruptRange {
            kind: CorruptionKind::LsnGap,
            segment: self.dir.join(wal_io::CLEAN_FILE),
            offset: 0,
            end_offset: 0,
            lsns: Some((clean.segment.max(Lsn::FIRST), clean.last_lsn())),
            detail: format!(
                "no segment file, but the log was closed cleanly after lsn {}",
                clean.last_lsn()
            ),
        };
        self.proof.clean = None;
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            _ => {
                self.corrupt.push(range);
                Ok(())
            }
        }
    }

    /// Ends the walk of a log without segments: clean, its next LSN the
    /// one asked for (or the first).
    fn end_empty(&mut self) {
        self.end = Some(EndState {
            segment: None,
            offset: SEGMENT_HEADER_LEN as u64,
            next_lsn: self.skip_below.max(Lsn::FIRST),
            tail: TailKind::Clean,
            torn_detail: None,
            dropped: None,
            cut: false,
            early: false,
        });
    }

    /// Live: no segment is open; the log may have had none yet. Lists the
    /// directory again and seeks to where the tailer is; waits if there
    /// is still nothing to read.
    fn live_start(&mut self) -> Result<Option<Step>> {
        self.relist()?;
        if self.segments.is_empty() {
            return Ok(Some(Step::Wait));
        }
        let target = self.skip_below;
        self.seek(target)?;
        if self.scanner.is_none() {
            return Ok(Some(Step::Wait));
        }
        Ok(None)
    }

    /// Live: the next unit would start past the durable watermark (no
    /// batch or fragment chain is open): do not start it yet.
    fn not_durable_yet(&self) -> bool {
        matches!(
            (self.live.limit, self.pos.expected, self.open.chain, self.open.batch),
            (Some(limit), Some(expected), None, None) if expected > limit
        )
    }

    /// Reads the next physical record and takes it into the sequence
    /// ([`Walker::accept`]), or handles the stop where there is none
    /// ([`Walker::stopped`]). Returns a step to hand out, or `None` to
    /// carry on walking.
    fn walk_one(&mut self) -> Result<Option<Step>> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let at = scanner.offset;
        let phys = match scanner.next()? {
            Ok(phys) => phys,
            Err(stop) => return self.stopped(at, Fault::Stop(stop), None),
        };
        match self.accept(phys)? {
            Accept::Continue => Ok(None),
            Accept::Wait => Ok(Some(Step::Wait)),
            Accept::Done(found) if found.lsn >= self.skip_below => {
                self.progressed(found.lsn);
                Ok(Some(Step::Record(found)))
            }
            // Walked over: below where the walk was asked to start.
            Accept::Done(_) => Ok(None),
            Accept::Break(fault) => self.stopped(phys.offset, Fault::Sequence(fault), None),
            Accept::BatchFault(x, f, end) => self.stopped(x, f, Some(end)),
        }
    }

    /// Checks a physical record against the sequence and does what it
    /// says, by its type.
    fn accept(&mut self, phys: Phys) -> Result<Accept> {
        let h = phys.header;
        if h.lsn == Lsn::MAX {
            // No record can follow it.
            return Ok(Accept::Break(SeqFault::LsnAtMax));
        }
        let expected = self.pos.expected.unwrap_or(h.lsn);
        match h.record_type {
            RecordType::Commit => Ok(self.accept_commit(&phys, expected)),
            RecordType::Batch => self.accept_batch(&phys, expected),
            RecordType::Full | RecordType::Checkpoint => Ok(self.accept_full(&phys)),
            RecordType::First => self.accept_first(&phys, expected),
            RecordType::Middle | RecordType::Last => self.accept_fragment(&phys),
            _ => Ok(Accept::Break(SeqFault::UnexpectedType)),
        }
    }

    /// A commit marker: evidence that every record below its durable LSN
    /// was acknowledged (the marker is on the disk, and authenticated with
    /// keys). It starts its group: the commit point stays before it, so a
    /// marker whose records never made it is an unfinished write, cut
    /// with it.
    fn accept_commit(&mut self, phys: &Phys, expected: Lsn) -> Accept {
        let marker = match self.marker(phys, expected, CommitMarker::decode) {
            Ok(marker) => marker,
            Err(fault) => return Accept::Break(fault),
        };
        self.proof.best = self.proof.best.max(Evidence {
            lsn: marker.durable(),
            at: EvidenceAt::Marker(self.pos.seg_idx, phys.offset),
        });
        self.pos.expected = Some(phys.header.lsn);
        Accept::Continue
    }

    /// A batch marker: its batch is yielded only if its records all follow
    /// it, whole, on the disk ([`Walker::verify_batch`] reads ahead to
    /// see); else the batch is what is lost and the fault found is where
    /// the trouble is. Live, a batch is durable as a whole or not at all:
    /// wait until the watermark covers its last record.
    fn accept_batch(&mut self, phys: &Phys, expected: Lsn) -> Result<Accept> {
        let h = phys.header;
        let marker = match self.marker(phys, expected, BatchMarker::decode) {
            Ok(marker) => marker,
            Err(fault) => return Ok(Accept::Break(fault)),
        };
        let Some(end) = h.lsn.checked_add(u64::from(marker.count())) else {
            return Ok(Accept::Break(SeqFault::BadBatchMarker));
        };
        if let Some(limit) = self.live.limit
            && end.checked_prev().is_some_and(|last| last > limit)
        {
            if let Some(s) = self.scanner.as_mut() {
                s.offset = phys.offset;
            }
            return Ok(Accept::Wait);
        }
        match self.verify_batch(phys.end(), h.lsn, end)? {
            None => {
                self.pos.expected = Some(h.lsn);
                self.open.batch = Some(Batch { end });
                Ok(Accept::Continue)
            }
            // The batch (from `commit`, its marker) is what is lost; the
            // trouble is further on.
            Some((at, fault)) => Ok(Accept::BatchFault(at, fault, end)),
        }
    }

    /// A full record or checkpoint: complete by itself, if it fits the
    /// sequence and its segment ([`Walker::breaks_full`]).
    fn accept_full(&mut self, phys: &Phys) -> Accept {
        if let Some(reason) = self.breaks_full(phys) {
            return Accept::Break(reason);
        }
        // Checked by `breaks_full`: a checkpoint is never a stream's.
        let h = phys.header;
        let kind = LogicalKind::of(h.record_type, h.flags).unwrap_or(LogicalKind::Data);
        Accept::Done(self.complete_full(phys, kind))
    }

    /// A first fragment: opens a chain, if none is open, at the expected
    /// LSN, with flags that fit its segment.
    fn accept_first(&mut self, phys: &Phys, expected: Lsn) -> Result<Accept> {
        let h = phys.header;
        if self.open.chain.is_some() {
            return Ok(Accept::Break(SeqFault::ChainInterrupted));
        }
        if h.lsn != expected {
            return Ok(Accept::Break(SeqFault::LsnOutOfSequence));
        }
        if let Some(fault) = self.breaks_flags(phys) {
            return Ok(Accept::Break(fault));
        }
        self.open.chain = Some(Chain {
            lsn: h.lsn,
            flags: h.flags,
            offset: phys.offset,
            len: 0,
        });
        self.asm.clear();
        self.grow_chain(phys)
    }

    /// A middle or last fragment: continues the open chain (same LSN and
    /// flags as its first fragment, within the maximum record size); the
    /// last completes the logical record.
    fn accept_fragment(&mut self, phys: &Phys) -> Result<Accept> {
        let h = phys.header;
        let Some(chain) = self.open.chain else {
            return Ok(Accept::Break(SeqFault::FragmentWithoutFirst));
        };
        if chain.lsn != h.lsn {
            return Ok(Accept::Break(SeqFault::FragmentLsn));
        }
        if chain.flags != h.flags {
            return Ok(Accept::Break(SeqFault::FragmentFlags));
        }
        if let Accept::Break(r) = self.grow_chain(phys)? {
            return Ok(Accept::Break(r));
        }
        if h.record_type != RecordType::Last {
            return Ok(Accept::Continue);
        }
        self.open.chain = None;
        let kind = LogicalKind::of(RecordType::First, chain.flags).unwrap_or(LogicalKind::Data);
        Ok(Accept::Done(self.complete(
            h,
            kind,
            chain.offset,
            phys.end(),
            Loc::Assembled,
        )))
    }

    fn grow_chain(&mut self, phys: &Phys) -> Result<Accept> {
        let stored_max = self.stored_max(phys.header.flags);
        let Some(chain) = self.open.chain.as_mut() else {
            return Ok(Accept::Continue);
        };
        chain.len = chain.len.saturating_add(phys.payload_len);
        if chain.len > stored_max {
            return Ok(Accept::Break(SeqFault::ChainTooLong));
        }
        if chain.lsn >= self.skip_below {
            let Some(scanner) = self.scanner.as_ref() else {
                return Ok(Accept::Continue);
            };
            let payload = scanner.payload(phys);
            let need = self.asm.len().saturating_add(payload.len());
            if need > self.asm.capacity() {
                // Double, but never past the maximum record size.
                let target = need
                    .max(self.asm.capacity().saturating_mul(2))
                    .min(stored_max);
                self.asm
                    .reserve_exact(target.saturating_sub(self.asm.len()));
            }
            self.asm.extend_from_slice(payload);
            self.high.asm = self.high.asm.max(self.asm.capacity());
        }
        Ok(Accept::Continue)
    }

    /// A logical record is complete: advance the sequence.
    fn complete(
        &mut self,
        h: RecordHeader,
        kind: LogicalKind,
        offset: u64,
        end: u64,
        loc: Loc,
    ) -> Found {
        let unit = (self.pos.commit, self.pos.commit_lsn);
        let next = h.lsn.checked_next().unwrap_or(Lsn::MAX);
        self.pos.expected = Some(next);
        let unit_done = match self.open.batch {
            Some(b) => next >= b.end,
            None => true,
        };
        if unit_done {
            self.open.batch = None;
            self.pos.commit = end;
            self.pos.commit_lsn = next;
            if let Some(seg) = self.segments.get(self.pos.seg_idx) {
                self.index.note(seg, next, end, self.opts.index_interval);
            }
        }
        Found {
            lsn: h.lsn,
            kind,
            flags: h.flags,
            offset,
            end,
            unit,
            loc,
        }
    }

    /// The payload of `found` (just yielded) failed to decode: a record
    /// whose checksums are right but whose ciphertext does not
    /// authenticate or whose compressed payload does not decompress (no
    /// torn write makes one: it was changed by someone, or written wrong).
    /// Corruption, handled as the mode says: an error, the end of the log
    /// before its unit (point in time), or skipped (the skipping mode; its
    /// batch's other records may already have been handed out: decoding
    /// happens as records are read). A live log is never ended early: a
    /// tailer skips it in the skipping mode and stops at it otherwise, as
    /// for corruption it meets in the walk ([`Walker::live_trouble`]).
    pub(crate) fn payload_fault(&mut self, found: Found, source: &wal_crypto::Error) -> Result<()> {
        let kind = if matches!(source, wal_crypto::Error::Authentication { .. }) {
            CorruptionKind::Unauthenticated
        } else {
            CorruptionKind::DamagedRecord
        };
        let range = CorruptRange {
            kind,
            segment: self.current_path(),
            offset: found.offset,
            end_offset: found.end,
            lsns: Some((found.lsn, found.lsn)),
            detail: source.to_string(),
        };
        match self.opts.mode {
            RecoveryMode::SkipAnyCorruptedRecords => {
                tracing::warn!(%range, "skipping corrupt range");
                self.corrupt.push(range);
                Ok(())
            }
            _ if self.live.limit.is_some() => Err(Error::Corruption(Box::new(range))),
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                (self.pos.commit, self.pos.commit_lsn) = found.unit;
                self.end_at_corruption(range);
                Ok(())
            }
        }
    }
}

impl Walker {
    /// Checks, without yielding anything, that the batch whose marker ends
    /// at `from` is complete: records `first .. end` follow, whole. Returns
    /// where and why it is not. The scanner is left at `from`.
    fn verify_batch(&mut self, from: u64, first: Lsn, end: Lsn) -> Result<Option<(u64, Fault)>> {
        let mut check = BatchCheck {
            expected: first,
            chain: None,
            max_record_len: self.opts.max_record_len,
        };
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let result = loop {
            let at = scanner.offset;
            let p = match scanner.next()? {
                Ok(p) => p,
                Err(stop) => break Some((at, Fault::Stop(stop))),
            };
            match check.take(&p) {
                Err(fault) => break Some((p.offset, Fault::Sequence(fault))),
                Ok(Taken::Record) if check.expected >= end => break None,
                Ok(Taken::Record | Taken::Fragment) => {}
            }
        };
        scanner.offset = from;
        Ok(result)
    }

    /// The first valid record after `from` in the current segment with an
    /// LSN at or above `min`, of the kinds `wanted` names.
    fn find_valid(&mut self, from: u64, min: Lsn, wanted: Wanted) -> Result<Option<Phys>> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(None);
        };
        let accept = |h: &RecordHeader| {
            h.lsn >= min
                && (wanted == Wanted::AnyRecord
                    || matches!(
                        h.record_type,
                        RecordType::Full
                            | RecordType::First
                            | RecordType::Checkpoint
                            | RecordType::Batch
                            | RecordType::Commit
                    ))
        };
        if self.scan_budget.is_none() {
            // Four passes over the segment, and some: plenty for every
            // search one stop makes, and a bound on what crafted content
            // can make them cost.
            let size = scanner.file_size()?;
            self.scan_budget = Some(size.saturating_mul(4).saturating_add(4 << 20));
        }
        let budget = self.scan_budget.get_or_insert(0);
        scanner.find_valid(from, &accept, budget)
    }

    /// What the rest of the current segment holds after a stop at `from`:
    /// every valid record of the segment from there on (followed record
    /// by record, and found again by the salt search after each stop), the
    /// first of their commit markers that proves `min` was acknowledged,
    /// and the highest LSN at or above `min`. Reads the rest of the segment
    /// once.
    fn survey(&mut self, from: u64, min: Lsn) -> Result<Survey> {
        let mut survey = Survey::NOTHING;
        let mut at = from;
        while let Some(first) = self.find_valid(at, Lsn::ZERO, Wanted::AnyRecord)? {
            match self.follow(first, min, &mut survey)? {
                Followed::StoppedAt(stop_at) => at = stop_at.saturating_add(1),
                Followed::Ended => break,
            }
        }
        Ok(survey)
    }

    /// Follows the segment's records from `first` (found valid), record by
    /// record, noting each in `survey`, until one does not read or the
    /// search budget is spent.
    fn follow(&mut self, first: Phys, min: Lsn, survey: &mut Survey) -> Result<Followed> {
        let seg_idx = self.pos.seg_idx;
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(Followed::Ended);
        };
        let mut p = first;
        loop {
            if p.header.lsn >= min {
                survey.high = Some(survey.high.map_or(p.header.lsn, |h| h.max(p.header.lsn)));
            }
            if survey.proof.is_none() {
                survey.proof = commit_proof(scanner, &self.keys, &p, min).map(|lsn| Evidence {
                    lsn,
                    at: EvidenceAt::Marker(seg_idx, p.offset),
                });
            }
            let here = scanner.offset;
            // Following records spends the search budget too.
            let budget = self.scan_budget.get_or_insert(0);
            *budget = budget.saturating_sub(p.end().saturating_sub(p.offset));
            if *budget == 0 {
                return Ok(Followed::Ended);
            }
            p = match scanner.next()? {
                Ok(p) => p,
                Err(_) => return Ok(Followed::StoppedAt(here)),
            };
        }
    }

    fn file_size(&self) -> Result<u64> {
        match self.scanner.as_ref() {
            Some(s) => s.file_size(),
            None => Ok(0),
        }
    }

    /// Ends the walk: the log's data ends at `commit` in the current
    /// segment.
    fn finish(&mut self, tail: TailKind, detail: Option<String>, dropped: Option<(Lsn, Lsn)>) {
        let cut = !matches!(tail, TailKind::Clean | TailKind::ZeroFilled);
        if let Some(detail) = &detail {
            tracing::info!(
                segment = %self.current_path().display(),
                offset = self.pos.commit,
                next_lsn = %self.pos.commit_lsn,
                %detail,
                "end of the log's data"
            );
        }
        self.end = Some(EndState {
            segment: Some(self.pos.seg_idx),
            offset: self.pos.commit,
            next_lsn: self.pos.commit_lsn,
            tail,
            torn_detail: detail,
            dropped,
            cut,
            early: false,
        });
        self.open.chain = None;
        self.open.batch = None;
    }

    /// Point-in-time mode: the log's data ends at the commit point, before
    /// the corruption `range`; everything after it must go.
    fn end_at_corruption(&mut self, range: CorruptRange) {
        tracing::warn!(%range, "point-in-time recovery: discarding the log from here");
        self.corrupt.push(range);
        self.finish(
            TailKind::Torn,
            Some("point-in-time recovery stopped at corruption".into()),
            None,
        );
        if let Some(end) = self.end.as_mut() {
            end.cut = true;
            end.early = true;
        }
    }

    /// Moves on to the next segment after a clean end of this one's data.
    fn next_segment(&mut self) -> Result<()> {
        let (prev_idx, prev_commit, prev_lsn) =
            (self.pos.seg_idx, self.pos.commit, self.pos.commit_lsn);
        if self.open_segment(prev_idx.saturating_add(1), Continuity::Checked)?
            == Opened::LogEndsBefore
        {
            // Point in time: the log ends where the previous segment's
            // data ended; the segments from here go.
            self.pos.seg_idx = prev_idx;
            self.pos.commit = prev_commit;
            self.pos.commit_lsn = prev_lsn;
            self.end = Some(EndState {
                segment: Some(prev_idx),
                offset: prev_commit,
                next_lsn: prev_lsn,
                tail: TailKind::Torn,
                torn_detail: Some("point-in-time recovery stopped at an lsn gap".into()),
                dropped: None,
                cut: false,
                early: true,
            });
        }
        Ok(())
    }

    /// The records stop at `x` in the current segment, for `fault`:
    /// classify that ([`Walker::classify`]), then do what the recovery mode
    /// says ([`Walker::apply`]). Returns a step to hand out, or `None` to
    /// carry on walking.
    fn stopped(&mut self, x: u64, fault: Fault, batch_end: Option<Lsn>) -> Result<Option<Step>> {
        if self.live.limit.is_some() {
            return self.live_trouble(x, &fault, batch_end);
        }
        let verdict = self.classify(x, &fault, batch_end)?;
        self.apply(verdict)
    }

    /// The unit at a stop at `x`: pending when records of it were read
    /// past the commit point, or a batch or fragment chain is open; else
    /// the last unit is whole.
    fn unit_at(&self, x: u64, batch_end: Option<Lsn>) -> UnitAt {
        if x > self.pos.commit || batch_end.is_some() || self.open.chain.is_some() {
            UnitAt::Pending
        } else {
            UnitAt::Whole
        }
    }

    /// Whether valid records of the current segment follow the stop at `x`
    /// with LSNs the log has not reached (past the unit in progress, when
    /// one is pending): a segment is written in order, so those records
    /// were written after the bytes at `x`, and what stopped the walk there
    /// is a hole, never the end of the segment's writes. Nothing follows
    /// the end of the file, nor bytes cut short by it.
    fn written_after(&mut self, x: u64, stop: &Stop, unit: UnitAt) -> Result<bool> {
        if matches!(stop, Stop::Eof | Stop::Incomplete) {
            return Ok(false);
        }
        let min = match unit {
            UnitAt::Pending => self.pos.commit_lsn.checked_next().unwrap_or(Lsn::MAX),
            UnitAt::Whole => self.pos.commit_lsn,
        };
        Ok(self
            .find_valid(x.saturating_add(1), min, Wanted::AnyRecord)?
            .is_some())
    }

    /// Decides what a stop at `x` is, from what is on the disk alone: in a
    /// segment that another follows, [`Walker::classify_followed`]; in the
    /// last segment, [`Walker::classify_last`]. A valid record that breaks
    /// the sequence is corruption anywhere: no write leaves one (it was
    /// written whole, and where it stands is wrong).
    fn classify(&mut self, x: u64, fault: &Fault, batch_end: Option<Lsn>) -> Result<Verdict> {
        let batch_end = batch_end.or(self.open.batch.map(|b| b.end));
        let Fault::Stop(stop) = fault else {
            return self.corrupt(x, fault, batch_end, None);
        };
        let site = StopSite {
            x,
            stop,
            fault,
            batch_end,
            unit: self.unit_at(x, batch_end),
        };
        if self.is_last() {
            self.classify_last(&site)
        } else {
            self.classify_followed(&site)
        }
    }

    /// A stop in a segment that another follows. The later segment exists
    /// only because this one was synced first, so nothing here is an
    /// unfinished write. Valid records of this segment after the stop make
    /// it a hole ([`Walker::written_after`]); a unit cut short is
    /// corruption; a clean stop after a whole unit is the end of the
    /// segment's data; damaged bytes after a whole unit are slack after its
    /// last record (no record lost) when the next segment starts at the
    /// next LSN (its name says so), else corruption.
    fn classify_followed(&mut self, site: &StopSite<'_>) -> Result<Verdict> {
        // Searched first, whatever the unit: the search spends the budget
        // later searches in this segment share.
        if self.written_after(site.x, site.stop, site.unit)? || site.unit == UnitAt::Pending {
            return self.corrupt_at(site, None);
        }
        if site.stop.is_clean() {
            return Ok(Verdict::NextSegment);
        }
        let next_first = self
            .segments
            .get(self.pos.seg_idx.saturating_add(1))
            .map(Segment::first_lsn);
        if next_first == Some(self.pos.commit_lsn) {
            return Ok(Verdict::SealedSlack);
        }
        self.corrupt_at(site, None)
    }

    /// A stop in the last segment: corruption when the log's evidence (a
    /// commit marker anywhere in the log, the clean-close marker) shows
    /// that the first record not kept had been acknowledged; else a torn
    /// tail (the end of the writes in flight when the writer stopped, with
    /// the valid records found after the damage reported as dropped), or a
    /// clean end (a clean stop after a whole unit, nothing valid after it).
    fn classify_last(&mut self, site: &StopSite<'_>) -> Result<Verdict> {
        let c_lsn = self.pos.commit_lsn;
        let clean_end = site.stop.is_clean() && site.unit == UnitAt::Whole;
        if clean_end && self.at_clean_close_end() {
            return Ok(Verdict::End(clean_tail(site.fault)));
        }
        let survey = match site.stop {
            // Nothing follows the end of the file.
            Stop::Eof | Stop::Incomplete => Survey::NOTHING,
            _ => self.survey(site.x.saturating_add(1), c_lsn)?,
        };
        // The first record not kept had been acknowledged: a commit marker
        // after the damage (the nearest) or before it, or the clean close,
        // says so.
        let proof = survey
            .proof
            .or((self.proof.best.lsn >= c_lsn).then_some(self.proof.best));
        if let Some(evidence) = proof.filter(|_| c_lsn != Lsn::ZERO) {
            let acked = Acked {
                evidence,
                high: survey.high,
            };
            return self.corrupt_at(site, Some(acked));
        }
        let dropped = survey.high.map(|h| (c_lsn, h));
        if clean_end && dropped.is_none() {
            return Ok(Verdict::End(clean_tail(site.fault)));
        }
        Ok(torn(site, dropped))
    }

    /// Whether the walk stands exactly where the clean-close marker says
    /// the log's data ends (its segment, offset and next LSN): nothing
    /// more to look for there.
    fn at_clean_close_end(&self) -> bool {
        self.proof.clean.is_some_and(|clean| {
            self.pos.commit_lsn == clean.next_lsn
                && self.segments.get(self.pos.seg_idx).map(Segment::first_lsn)
                    == Some(clean.segment)
                && self.pos.commit == clean.end_offset
        })
    }

    /// [`Walker::corrupt`] at a classified stop.
    fn corrupt_at(&mut self, site: &StopSite<'_>, acked: Option<Acked>) -> Result<Verdict> {
        self.corrupt(site.x, site.fault, site.batch_end, acked)
    }

    /// The corruption found at `x`: its range, and where valid data
    /// resumes in this segment (for the skipping mode). `acked`: the
    /// evidence that made it corruption in the last segment, and the
    /// highest LSN found after it.
    fn corrupt(
        &mut self,
        x: u64,
        fault: &Fault,
        batch_end: Option<Lsn>,
        acked: Option<Acked>,
    ) -> Result<Verdict> {
        let c_lsn = self.pos.commit_lsn;
        let kind = self.corruption_kind(fault, batch_end);
        let resync = self.resync_after(x, fault, batch_end.unwrap_or(c_lsn).max(c_lsn))?;
        let (end_offset, upper) = self.corruption_end(resync, acked)?;
        let offset = if kind == CorruptionKind::Unfinished {
            self.pos.commit
        } else {
            x
        };
        let range = CorruptRange {
            kind,
            segment: self.current_path(),
            offset,
            end_offset,
            lsns: upper.map(|u| (c_lsn, u.max(c_lsn))),
            detail: self.corruption_detail(fault, acked),
        };
        Ok(Verdict::Corrupt { range, resync })
    }

    /// The kind of corruption `fault` is: a valid record out of place, a
    /// batch or fragment chain cut short (not a group whose marker made it
    /// and whose records did not: that is a hole), a hole, or damaged
    /// bytes.
    fn corruption_kind(&self, fault: &Fault, batch_end: Option<Lsn>) -> CorruptionKind {
        let unfinished = batch_end.is_some() || self.open.chain.is_some();
        match fault {
            Fault::Sequence(_) => CorruptionKind::BadSequence,
            Fault::Stop(s) if s.is_clean() && unfinished => CorruptionKind::Unfinished,
            Fault::Stop(s) if s.is_clean() => CorruptionKind::Hole,
            Fault::Stop(_) => CorruptionKind::DamagedRecord,
        }
    }

    /// Where valid data resumes after the corruption at `x`: a unit start
    /// in this segment at or above `min`, if any. A valid record that broke
    /// the sequence only where it stands (an LSN out of sequence, a record
    /// inside a chain) may be where the walk resumes; one that is bad by
    /// itself (too long, a bad marker), or one the walk already resumed
    /// at, is skipped.
    fn resync_after(&mut self, x: u64, fault: &Fault, min: Lsn) -> Result<Option<Phys>> {
        let again = self.last_resync == Some((self.pos.seg_idx, x));
        let from = match fault {
            Fault::Sequence(f) if !again && !f.bad_by_itself() => x,
            _ => x.saturating_add(1),
        };
        self.find_valid(from, min, Wanted::UnitStart)
    }

    /// Where a corruption ends, and the highest LSN it may hold: at
    /// `resync`, before its record; else at the end of the file, below the
    /// next segment's first LSN or, in the last segment, up to what
    /// `acked` found.
    fn corruption_end(
        &self,
        resync: Option<Phys>,
        acked: Option<Acked>,
    ) -> Result<(u64, Option<Lsn>)> {
        Ok(match resync {
            Some(p) => (p.offset, p.header.lsn.checked_prev()),
            None => (
                self.file_size()?,
                self.segments
                    .get(self.pos.seg_idx.saturating_add(1))
                    .and_then(|s| s.first_lsn().checked_prev())
                    .or(acked.and_then(|a| a.high.max(Some(a.evidence.lsn)))),
            ),
        })
    }

    /// What a corruption report says of `fault`, and of what made it
    /// corruption: later segments, or the evidence in `acked`.
    fn corruption_detail(&self, fault: &Fault, acked: Option<Acked>) -> String {
        let mut detail = fault.describe();
        if !self.is_last() {
            detail.push_str(" (later segments exist)");
        } else if let Some(acked) = acked {
            detail.push_str(&format!(
                " (records up to lsn {} were acknowledged: {})",
                acked.evidence.lsn,
                self.describe_evidence(acked.evidence.at)
            ));
        }
        detail
    }

    fn describe_evidence(&self, at: EvidenceAt) -> String {
        match at {
            EvidenceAt::Nothing => "no evidence".into(),
            EvidenceAt::CleanClose => "the log was closed cleanly after them".into(),
            EvidenceAt::Marker(seg, offset) => format!(
                "commit marker in {} at offset {offset}",
                self.segments.get(seg).map_or_else(
                    || self.dir.display().to_string(),
                    |s| s.path.display().to_string()
                )
            ),
        }
    }

    /// Does what the recovery mode says about a classified stop.
    fn apply(&mut self, verdict: Verdict) -> Result<Option<Step>> {
        match verdict {
            Verdict::NextSegment => {
                self.next_segment()?;
                Ok(None)
            }
            Verdict::SealedSlack => {
                tracing::warn!(
                    segment = %self.current_path().display(),
                    offset = self.pos.commit,
                    "damaged bytes after the last record of a sealed segment; no record lost"
                );
                self.next_segment()?;
                Ok(None)
            }
            Verdict::End(tail) => {
                self.finish(tail, None, None);
                Ok(None)
            }
            Verdict::Torn { detail, dropped } => {
                if self.opts.mode == RecoveryMode::AbsoluteConsistency {
                    return Err(Error::TornTail {
                        path: self.current_path(),
                        offset: self.pos.commit,
                    });
                }
                self.finish(TailKind::Torn, Some(detail), dropped);
                Ok(None)
            }
            Verdict::Corrupt { range, resync } => self.apply_corruption(range, resync),
        }
    }

    /// Does what the recovery mode says about corruption: an error, the
    /// end of the log before it (point in time), or skipped
    /// ([`Walker::skip_corruption`]).
    fn apply_corruption(
        &mut self,
        range: CorruptRange,
        resync: Option<Phys>,
    ) -> Result<Option<Step>> {
        match self.opts.mode {
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                Err(Error::Corruption(Box::new(range)))
            }
            RecoveryMode::PointInTime => {
                self.end_at_corruption(range);
                Ok(None)
            }
            RecoveryMode::SkipAnyCorruptedRecords => {
                self.skip_corruption(range, resync)?;
                Ok(None)
            }
        }
    }

    /// The skipping mode: notes the corruption `range` and resumes the
    /// walk at `resync`, else at the next segment (whatever it starts
    /// with), else ends the log's data before the damage.
    fn skip_corruption(&mut self, range: CorruptRange, resync: Option<Phys>) -> Result<()> {
        let last = self.is_last();
        tracing::warn!(%range, "skipping corrupt range");
        self.corrupt.push(range);
        self.open.chain = None;
        self.open.batch = None;
        match resync {
            Some(p) => {
                self.last_resync = Some((self.pos.seg_idx, p.offset));
                if let Some(s) = self.scanner.as_mut() {
                    s.offset = p.offset;
                }
                self.pos.commit = p.offset;
                self.pos.commit_lsn = p.header.lsn;
                self.pos.expected = Some(p.header.lsn);
            }
            None if !last => {
                // Accept whatever the next segment starts with.
                self.pos.expected = None;
                self.open_segment(self.pos.seg_idx.saturating_add(1), Continuity::Any)?;
            }
            None => self.finish(
                TailKind::Torn,
                Some("nothing to resume at after skipped damage".into()),
                None,
            ),
        }
        Ok(())
    }

    /// Trouble while following a live log: everything up to the limit is
    /// durable, so the records must be there. First re-read the file (the
    /// window may hold bytes read before they were written), then list the
    /// directory again and seek (a rotation or a purge): [`Walker::live_retry`].
    /// If the records still stop there: where the segment is followed by
    /// another, or the stop is damage at rest in the last segment
    /// ([`Walker::damage_at_rest`]), the stop is judged as for any reader
    /// ([`Walker::live_verdict`]). Records that are simply not there: give
    /// up.
    fn live_trouble(&mut self, x: u64, t: &Fault, batch_end: Option<Lsn>) -> Result<Option<Step>> {
        let lsn = self.pos.commit_lsn;
        let tries = if self.live.retries.0 == lsn {
            self.live.retries.1
        } else {
            0
        };
        self.live.retries = (lsn, tries.saturating_add(1));
        tracing::trace!(offset = x, %lsn, tries, trouble = ?t, "tailing: record not found yet");
        if tries > 1 && (!self.is_last() || self.damage_at_rest(x, t, batch_end)?) {
            return self.live_verdict(x, t, batch_end, lsn);
        }
        self.live_retry(tries, lsn)
    }

    /// In the last segment of a live log, after the retries: whether the
    /// stop at `x` is damage at rest. Damage that is still there is; so is
    /// a clean stop (zeros, stale bytes) that valid records of the segment
    /// follow, with LSNs the log has not reached ([`Walker::written_after`]):
    /// they were written after the bytes at the stop, so those bytes were
    /// lost at rest, not yet to come. A clean stop with nothing valid after
    /// it is records not there.
    fn damage_at_rest(&mut self, x: u64, t: &Fault, batch_end: Option<Lsn>) -> Result<bool> {
        match t {
            Fault::Stop(stop) if stop.is_clean() => {
                let unit = self.unit_at(x, batch_end.or(self.open.batch.map(|b| b.end)));
                self.written_after(x, stop, unit)
            }
            _ => Ok(true),
        }
    }

    /// A live stop that re-reading did not make go away: in a segment
    /// another follows, classified as for any reader (the end of a sealed
    /// segment, slack after its last record, or corruption); in the last
    /// segment, corruption (damage at rest). The recovery mode decides what
    /// corruption does: the skipping mode skips it, as recovery did, and
    /// waits where the damage ends if nothing valid follows it yet; the
    /// other modes fail. `lsn`: the unit the walk could not read.
    fn live_verdict(
        &mut self,
        x: u64,
        t: &Fault,
        batch_end: Option<Lsn>,
        lsn: Lsn,
    ) -> Result<Option<Step>> {
        let verdict = if self.is_last() {
            self.corrupt(x, t, batch_end, None)?
        } else {
            self.classify(x, t, batch_end)?
        };
        match verdict {
            Verdict::Corrupt { range, resync } => {
                if self.opts.mode != RecoveryMode::SkipAnyCorruptedRecords {
                    return Err(Error::Corruption(Box::new(range)));
                }
                self.live.retries = (Lsn::ZERO, 0);
                if resync.is_none() && self.is_last() {
                    // Nothing valid after it yet: what follows is not
                    // written; wait for it where the damage ends.
                    if self.corrupt.last() != Some(&range) {
                        tracing::warn!(%range, "skipping corrupt range");
                        self.corrupt.push(range);
                    }
                    return Ok(Some(Step::Wait));
                }
                self.apply_corruption(range, resync)
            }
            Verdict::NextSegment | Verdict::SealedSlack => {
                self.live.retries = (Lsn::ZERO, 0);
                self.apply(verdict)
            }
            // Not reached for a segment another follows.
            Verdict::End(_) | Verdict::Torn { .. } => Err(Error::Missing {
                lsn,
                path: self.dir.clone(),
            }),
        }
    }

    /// The retries of a live stop at the unit starting at `lsn`: the first
    /// re-reads the file from the unit's start, the second lists the
    /// directory again and seeks to it; after those the records are not
    /// there ([`Error::Missing`]).
    fn live_retry(&mut self, tries: u8, lsn: Lsn) -> Result<Option<Step>> {
        self.open.chain = None;
        self.open.batch = None;
        self.pos.expected = Some(lsn);
        // Both retries walk again from the start of a unit (a batch whose
        // first records were handed out, say): never hand those out again.
        let handed_out = self.yielded.checked_next().unwrap_or(Lsn::MAX);
        let handed_out = if self.yielded == Lsn::ZERO {
            Lsn::ZERO
        } else {
            handed_out
        };
        match tries {
            0 => {
                if let Some(s) = self.scanner.as_mut() {
                    s.offset = self.pos.commit;
                    s.invalidate();
                }
                self.skip_below = self.skip_below.max(handed_out);
                Ok(None)
            }
            1 => {
                self.relist()?;
                let (skip, yielded) = (self.skip_below, self.yielded);
                self.seek(lsn)?;
                self.yielded = yielded;
                self.skip_below = skip.max(lsn).max(handed_out);
                Ok(None)
            }
            _ => Err(Error::Missing {
                lsn,
                path: self.dir.clone(),
            }),
        }
    }
}

/// A torn tail at the classified stop `site`, with the valid records
/// found after it (`dropped`) named in its detail.
fn torn(site: &StopSite<'_>, dropped: Option<(Lsn, Lsn)>) -> Verdict {
    let (x, fault) = (site.x, site.fault);
    let detail = match dropped {
        Some((c_lsn, high)) => format!(
            "{}; valid records up to lsn {high} after it were never proven acknowledged (no commit marker or clean close covers lsn {c_lsn})",
            torn_detail(x, fault, site.unit)
        ),
        None => torn_detail(x, fault, site.unit),
    };
    Verdict::Torn { detail, dropped }
}

/// What a torn tail's report says of the stop at `x`.
fn torn_detail(x: u64, fault: &Fault, unit: UnitAt) -> String {
    match fault {
        Fault::Stop(Stop::Damaged(e)) => format!("damaged record at offset {x} ({e})"),
        Fault::Stop(Stop::Incomplete) => format!("record cut short at offset {x}"),
        Fault::Stop(Stop::ZeroFilled | Stop::Stale) if unit == UnitAt::Whole => {
            format!("a hole (zeros or an earlier use of the file) at offset {x}")
        }
        Fault::Stop(_) if unit == UnitAt::Pending => {
            format!("unfinished batch or fragment chain, data ends at offset {x}")
        }
        Fault::Stop(_) => format!("data ends at offset {x}"),
        Fault::Sequence(f) => format!("{f} at offset {x}"),
    }
}

/// How the data ends at a clean stop.
fn clean_tail(fault: &Fault) -> TailKind {
    match fault {
        Fault::Stop(Stop::ZeroFilled) => TailKind::ZeroFilled,
        Fault::Stop(Stop::Stale) => TailKind::Stale,
        _ => TailKind::Clean,
    }
}

/// Corruption: segment `seg` cannot be trusted to be this log's where it
/// stands, for the reason `detail` gives.
fn unauthenticated(seg: &Segment, detail: String) -> Error {
    Error::Corruption(Box::new(CorruptRange {
        kind: CorruptionKind::Unauthenticated,
        segment: seg.path.clone(),
        offset: 0,
        end_offset: SEGMENT_HEADER_LEN as u64,
        lsns: None,
        detail,
    }))
}

/// The largest stored payload of a logical record with `flags`, for a
/// maximum record size of `max_record_len`: plus the tag when it is
/// encrypted (the writer limits the logical size; compression never grows
/// a payload).
fn stored_max(max_record_len: usize, flags: Flags) -> usize {
    if flags.contains(Flags::ENCRYPTED) {
        max_record_len.saturating_add(wal_format::ENCRYPTION_TAG_LEN)
    } else {
        max_record_len
    }
}

/// What [`BatchCheck::take`] made of a record of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taken {
    /// A logical record completed: the next LSN is expected.
    Record,
    /// A fragment that does not complete its chain.
    Fragment,
}

/// The records of a batch checked so far ([`Walker::verify_batch`]): the
/// structure alone, nothing yielded.
#[derive(Debug)]
struct BatchCheck {
    /// The LSN the next record must have.
    expected: Lsn,
    /// The open fragment chain: its LSN, flags and length so far.
    chain: Option<(Lsn, Flags, usize)>,
    max_record_len: usize,
}

impl BatchCheck {
    /// Takes the next physical record of the batch, or says why it does
    /// not fit.
    fn take(&mut self, p: &Phys) -> std::result::Result<Taken, SeqFault> {
        let h = p.header;
        let taken = match (h.record_type, self.chain) {
            (RecordType::Full | RecordType::Checkpoint, None) => {
                if h.lsn != self.expected {
                    return Err(SeqFault::LsnOutOfSequence);
                }
                if p.payload_len > stored_max(self.max_record_len, h.flags) {
                    return Err(SeqFault::TooLong);
                }
                Taken::Record
            }
            (RecordType::First, None) => {
                if h.lsn != self.expected {
                    return Err(SeqFault::LsnOutOfSequence);
                }
                self.chain = Some((h.lsn, h.flags, p.payload_len));
                Taken::Fragment
            }
            (RecordType::Middle | RecordType::Last, Some(chain)) => self.grow_chain(p, chain)?,
            (RecordType::Batch | RecordType::Commit, _) => return Err(SeqFault::MarkerInsideUnit),
            (RecordType::Middle | RecordType::Last, None) => {
                return Err(SeqFault::FragmentWithoutFirst);
            }
            _ => return Err(SeqFault::ChainInterrupted),
        };
        if taken == Taken::Record {
            self.expected = self.expected.checked_next().unwrap_or(Lsn::MAX);
        }
        Ok(taken)
    }

    /// A middle or last fragment `p` of the open `chain`.
    fn grow_chain(
        &mut self,
        p: &Phys,
        (lsn, flags, len): (Lsn, Flags, usize),
    ) -> std::result::Result<Taken, SeqFault> {
        let h = p.header;
        let len = len.saturating_add(p.payload_len);
        if lsn != h.lsn {
            Err(SeqFault::FragmentLsn)
        } else if flags != h.flags {
            Err(SeqFault::FragmentFlags)
        } else if len > stored_max(self.max_record_len, flags) {
            Err(SeqFault::ChainTooLong)
        } else if h.record_type == RecordType::Last {
            self.chain = None;
            Ok(Taken::Record)
        } else {
            self.chain = Some((lsn, flags, len));
            Ok(Taken::Fragment)
        }
    }
}

/// Where following the records after a stop came to ([`Walker::follow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Followed {
    /// The record after the one ending here does not read: the search for
    /// valid records goes on after it.
    StoppedAt(u64),
    /// Nothing more to follow: the search budget is spent.
    Ended,
}

/// The durable LSN of `p`, if it is a commit marker (authenticated, with
/// keys) that proves `min` was acknowledged.
#[cfg_attr(not(feature = "encryption"), allow(unused_variables))]
fn commit_proof(scanner: &Scanner, keys: &KeyChecks, p: &Phys, min: Lsn) -> Option<Lsn> {
    if p.header.record_type != RecordType::Commit {
        return None;
    }
    let record = Record {
        header: p.header,
        payload: scanner.payload(p),
    };
    #[cfg(feature = "encryption")]
    let authentic = keys
        .auth
        .as_ref()
        .is_none_or(|a| a.verify_marker(&record).is_ok());
    #[cfg(not(feature = "encryption"))]
    let authentic = true;
    let marker = CommitMarker::decode(&record).ok()?;
    (authentic && marker.durable() >= min).then(|| marker.durable())
}
