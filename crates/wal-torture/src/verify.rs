//! Reopening a crashed log and holding it to the [`Model`].

use std::sync::Arc;

use groupwal::io::sim::SimStorage;
use groupwal::{Lsn, OwnedRecord, Wal};

use crate::model::Model;
use crate::workload::{DIR, Plan};

/// What a successful verification found.
#[derive(Clone, Copy, Debug)]
pub struct Verified {
    /// The last LSN recovered.
    pub last: u64,
    /// The LSN of the probe record appended after recovery.
    pub probe: u64,
}

/// Opens the log on `sim` (default recovery mode), checks what it holds
/// against `model`, closes it, recovers it a second time (the same result
/// is required), appends a probe record, reads it back and closes.
///
/// # Errors
///
/// A description of the violation.
pub fn verify(
    plan: &Plan,
    sim: &SimStorage,
    model: &Model,
    probe: &[u8],
) -> Result<Verified, String> {
    let options = plan.options(Arc::new(sim.clone()));
    let (wal, report) =
        Wal::open(DIR, &options).map_err(|e| format!("recovery failed: {e} ({e:?})"))?;
    let last = report.last_lsn.get();
    let records = read(&wal, report.first_lsn, "recovered")?;
    model.check(last, &records)?;
    wal.close()
        .map_err(|e| format!("closing the recovered log failed: {e}"))?;

    let (wal, again) =
        Wal::open(DIR, &options).map_err(|e| format!("second recovery failed: {e} ({e:?})"))?;
    if again.last_lsn != report.last_lsn {
        return Err(format!(
            "recovery not idempotent: last lsn {} then {}",
            report.last_lsn, again.last_lsn
        ));
    }
    let records_again = read(&wal, again.first_lsn, "recovered twice")?;
    if records_again != records {
        return Err(format!(
            "recovery not idempotent: {} records then {} (first lsn {} then {})",
            records.len(),
            records_again.len(),
            report.first_lsn,
            again.first_lsn
        ));
    }
    let lsn = wal
        .append(probe)
        .map_err(|e| format!("appending after recovery failed: {e} ({e:?})"))?;
    if lsn.get() != last + 1 {
        return Err(format!(
            "the first append after recovery got lsn {lsn}, expected {}",
            last + 1
        ));
    }
    let back = read(&wal, lsn, "the append after recovery")?;
    if back.len() != 1 || back.first().is_none_or(|r| r.payload != probe) {
        return Err(format!(
            "the append after recovery does not read back ({} records from lsn {lsn})",
            back.len()
        ));
    }
    wal.close()
        .map_err(|e| format!("closing after the append after recovery failed: {e}"))?;
    Ok(Verified {
        last,
        probe: lsn.get(),
    })
}

/// Every durable record from `from` (or the log's first) on.
fn read(wal: &Wal, from: Lsn, what: &str) -> Result<Vec<OwnedRecord>, String> {
    let from = from.max(Lsn::FIRST);
    wal.read_from(from)
        .map_err(|e| format!("reading {what} log from lsn {from} failed: {e} ({e:?})"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {what} log from lsn {from} failed: {e} ({e:?})"))
}
