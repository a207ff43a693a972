//! Finds where appending resumes in an existing log: after the last logical
//! record of the last segment that is complete and not part of an
//! unfinished batch. A torn tail (a cut record, a fragment chain or batch
//! cut short) is left behind and cut off by `SegmentLog::resume`.
//!
//! This looks only at the last segment; classifying damage before the tail
//! and checking the earlier segments is the reader's job (`wal-reader`).

use wal_format::{BatchMarker, Lsn, Record, RecordType, SEGMENT_HEADER_LEN};
use wal_io::SegmentLog;

use crate::error::{Error, Result};

/// Where the data of the last segment ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// The offset after the last committed record.
    pub(crate) end: u64,
    /// The LSN the next record takes.
    pub(crate) next_lsn: Lsn,
    /// Bytes of valid-looking records after `end` that are dropped (an
    /// unfinished batch or fragment chain).
    pub(crate) dropped: u64,
}

pub(crate) fn find_tail(log: &SegmentLog, max_payload_len: u32) -> Result<Option<Tail>> {
    let Some(last) = log.segments().last() else {
        return Ok(None);
    };
    let first = last.first_lsn();
    let reader = log
        .open_segment(first)
        .map_err(|e| Error::Recovery(e.to_string()))?;
    let mut committed = Tail {
        end: SEGMENT_HEADER_LEN as u64,
        next_lsn: first,
        dropped: 0,
    };
    let mut expected = first;
    // Logical records still owed by the batch in progress.
    let mut batch_left: u32 = 0;
    let mut scanned_end = committed.end;
    for item in reader.records(max_payload_len) {
        let rec = item.map_err(|e| Error::Recovery(e.to_string()))?;
        scanned_end = rec.end();
        let h = rec.header;
        match h.record_type {
            RecordType::Batch => {
                let marker = BatchMarker::decode(&Record {
                    header: h,
                    payload: &rec.payload,
                });
                match marker {
                    Ok(m) if batch_left == 0 && h.lsn == expected => batch_left = m.count(),
                    _ => break,
                }
            }
            RecordType::First | RecordType::Middle => {
                if h.lsn != expected {
                    break;
                }
            }
            _ => {
                // Full, Last, Checkpoint: a logical record ends here.
                if h.lsn != expected {
                    break;
                }
                expected = match expected.checked_next() {
                    Some(n) => n,
                    None => break,
                };
                batch_left = batch_left.saturating_sub(1);
                if batch_left == 0 {
                    committed.end = rec.end();
                    committed.next_lsn = expected;
                }
            }
        }
    }
    committed.dropped = scanned_end.saturating_sub(committed.end);
    Ok(Some(committed))
}
