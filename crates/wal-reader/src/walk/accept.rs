//! Taking a physical record into the sequence: commit and batch markers,
//! full records and checkpoints, fragment chains; what makes a valid record
//! not fit where it stands ([`SeqFault`]); completing a logical record.

use wal_format::{
    BatchMarker, CommitMarker, Flags, LogicalKind, Lsn, Record, RecordHeader, RecordType,
};

use super::evidence::{Evidence, EvidenceAt};
use super::fault::{Fault, SeqFault};
use super::{Batch, Chain, Found, Loc, Walker};
use crate::error::Result;
use crate::scan::Phys;

/// The first format version with streams ([`Flags::STREAM`]).
const STREAMS_VERSION: u16 = 3;

/// The result of checking a physical record against the sequence.
pub(super) enum Accept {
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

impl Walker {
    /// Why the full record or checkpoint `phys` cannot come next, if it
    /// cannot.
    pub(super) fn breaks_full(&self, phys: &Phys) -> Option<SeqFault> {
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

    /// The largest stored payload of a logical record with `flags`, under
    /// the options' maximum record size ([`stored_max`]).
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
    pub(super) fn complete_full(&mut self, phys: &Phys, kind: LogicalKind) -> Found {
        self.complete(
            phys.header,
            kind,
            phys.offset,
            phys.end(),
            Loc::Window(phys.span()),
        )
    }

    /// Checks a physical record against the sequence and does what it
    /// says, by its type.
    pub(super) fn accept(&mut self, phys: Phys) -> Result<Accept> {
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
}

/// The largest stored payload of a logical record with `flags`, for a
/// maximum record size of `max_record_len`: plus the tag when it is
/// encrypted (the writer limits the logical size; compression never grows
/// a payload).
pub(super) fn stored_max(max_record_len: usize, flags: Flags) -> usize {
    if flags.contains(Flags::ENCRYPTED) {
        max_record_len.saturating_add(wal_format::ENCRYPTION_TAG_LEN)
    } else {
        max_record_len
    }
}
