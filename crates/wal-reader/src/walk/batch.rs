//! A batch is yielded only whole: checking, without yielding anything,
//! that all its records follow its marker on the disk.

use wal_format::{Flags, Lsn, RecordType};

use super::Walker;
use super::accept::stored_max;
use super::fault::{Fault, SeqFault};
use crate::error::Result;
use crate::scan::Phys;

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

impl Walker {
    /// Checks, without yielding anything, that the batch whose marker ends
    /// at `from` is complete: records `first .. end` follow, whole. Returns
    /// where and why it is not. The scanner is left at `from`.
    pub(super) fn verify_batch(
        &mut self,
        from: u64,
        first: Lsn,
        end: Lsn,
    ) -> Result<Option<(u64, Fault)>> {
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
}
