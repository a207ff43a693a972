//! The log a workload leaves: built once per plan on a simulated disk
//! (each case runs on a fork of it), its files' bytes (to tell whether an
//! operation changed them), and the listing of its commit markers (walked
//! with `wal_format::RecordDecoder`, not `wal-reader`) from which the
//! evidence of a case follows.

use std::sync::Arc;

use groupwal::Wal;
use groupwal::format::{CleanMarker, CommitMarker, RecordType, parse_segment_file_name};
use groupwal::io::CLEAN_FILE;
use groupwal::io::sim::{HaltingStorage, SimStorage};

use super::case::ReadFaultPlan;
use super::disk::Hit;
use crate::bitrot::Ending;
use crate::layout::{Files, Fnv, files, walk_segment};
use crate::model::Model;
use crate::rng::{self, Rng, mix};
use crate::workload::{DIR, Ended, FRAGMENT_SIZE, run};

/// The log a plan's workload left.
pub(crate) struct Built {
    /// The disk (each case runs on a fork of it).
    pub(crate) sim: SimStorage,
    /// What was submitted and acknowledged.
    pub(crate) model: Model,
    /// Its files.
    pub(crate) files: Files,
}

/// The last session's operations: appends and batches (one group each,
/// so the layout is the same on every run) of records tiny, of about
/// 1 KiB, or fragmented.
fn last_session(plan: &ReadFaultPlan) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng::new(mix(&[plan.seed, 0x6c61_7374]));
    let n = rng.range(3, 6);
    (0..n)
        .map(|i| {
            let records = if rng.percent(60) { 1 } else { rng.range(2, 3) };
            (0..records)
                .map(|j| {
                    let len = match rng.range(0, 99) {
                        0..=39 => rng.range(0, 24),
                        40..=79 => rng.range(700, 1300),
                        _ => rng.range(FRAGMENT_SIZE as u64 + 1, 2 * FRAGMENT_SIZE as u64),
                    } as usize;
                    rng::fill(
                        &mut rng,
                        format!("last {:x}/{i}/{j}:", plan.seed).into_bytes(),
                        len,
                        None,
                    )
                })
                .collect()
        })
        .collect()
}

/// Runs the plan's workload (closed cleanly), then the last session,
/// closed or crashed as the plan's ending says.
pub(crate) fn build(plan: &ReadFaultPlan) -> Result<Built, String> {
    let workload = plan.workload();
    let sim = SimStorage::new(plan.seed);
    let mut model = Model::default();
    let (wal, _) = Wal::open(DIR, &workload.options(Arc::new(sim.clone())))
        .map_err(|e| format!("opening the new log: {e} ({e:?})"))?;
    let (ended, _, _) = run(wal, &workload.operations(), &mut model)?;
    if let Ended::Failed { op, error } = ended {
        return Err(format!(
            "workload operation {op} failed: {error} ({error:?})"
        ));
    }
    let halting = HaltingStorage::new(Arc::new(sim.clone()));
    let (wal, report) = Wal::open(DIR, &workload.options(Arc::new(halting.clone())))
        .map_err(|e| format!("opening the last session: {e} ({e:?})"))?;
    if report.next_lsn.get() != model.next_lsn() || report.dropped_anything() {
        return Err(format!(
            "the last session opened at lsn {}, the model expected {}, or dropped something: {:?}",
            report.next_lsn,
            model.next_lsn(),
            report.losses()
        ));
    }
    for payloads in last_session(plan) {
        let (first, last) = model.push(&payloads, false);
        let got = if let [one] = payloads.as_slice() {
            wal.append(one).map(|l| (l, l))
        } else {
            wal.append_batch(&payloads)
        }
        .map_err(|e| format!("last session: {e} ({e:?})"))?;
        if (got.0.get(), got.1.get()) != (first, last) {
            return Err(format!(
                "last session: lsns {}..={} for {first}..={last}",
                got.0, got.1
            ));
        }
        model.ack(last);
    }
    match plan.ending {
        Ending::Clean => wal
            .close()
            .map_err(|e| format!("closing the last session: {e} ({e:?})"))?,
        Ending::Crash => {
            // The process dies right after the last acknowledgement.
            halting.halt_at(halting.calls_made());
            drop(wal);
            sim.crash_process();
        }
    }
    let files = files(&sim, false)?;
    Ok(Built { sim, model, files })
}

/// A commit marker of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marker {
    /// Its bytes in the file.
    start: u64,
    end: u64,
    /// The durable LSN it carries.
    durable: u64,
}

/// A segment of the image, walked.
#[derive(Clone, Debug)]
struct Segment {
    name: String,
    first_lsn: u64,
    markers: Vec<Marker>,
}

/// The commit markers of an image and its `CLEAN` marker: what the
/// evidence of a case is made of (see [`Listing::evidence`]).
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    segments: Vec<Segment>,
    clean_last: Option<u64>,
    /// FNV-1a over the layout: every file's name and length, and every
    /// record's offset, length, type and LSN (not the bytes: with
    /// encryption the ciphertext differs from run to run, segment key
    /// seeds coming from the OS).
    pub(crate) fingerprint: u64,
}

impl Listing {
    /// Walks every segment of `files`.
    pub(crate) fn new(files: &Files) -> Result<Listing, String> {
        let mut segments = Vec::new();
        let mut clean_last = None;
        let mut h = Fnv::new();
        for (name, bytes) in files {
            h.eat(name.as_bytes());
            h.eat_u64s(&[bytes.len() as u64]);
            if name == CLEAN_FILE {
                clean_last = CleanMarker::decode(bytes).ok().map(|m| m.last_lsn().get());
                continue;
            }
            if parse_segment_file_name(name).is_none() {
                continue;
            }
            let mut markers = Vec::new();
            let (header, _) = walk_segment(name, bytes, |at, record| {
                let len = record.encoded_len();
                h.eat_u64s(&[
                    at as u64,
                    len as u64,
                    u64::from(record.header.record_type.as_u8()),
                    record.header.lsn.get(),
                ]);
                if record.header.record_type == RecordType::Commit {
                    let m = CommitMarker::decode(record)
                        .map_err(|e| format!("{name} at {at}: commit marker: {e}"))?;
                    markers.push(Marker {
                        start: at as u64,
                        end: (at + len) as u64,
                        durable: m.durable().get(),
                    });
                }
                Ok(())
            })?;
            segments.push(Segment {
                name: name.clone(),
                first_lsn: header.first_lsn.get(),
                markers,
            });
        }
        segments.sort_by_key(|s| s.first_lsn);
        if segments.is_empty() {
            return Err("the image has no segment".into());
        }
        Ok(Listing {
            segments,
            clean_last,
            fingerprint: h.finish(),
        })
    }

    /// The segment files, in LSN order.
    pub(crate) fn segment_names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.clone()).collect()
    }

    /// E: the highest LSN the evidence that the faults left intact proves
    /// acknowledged (`docs/FORMAT.md`, "Commit markers"): the durable LSN
    /// of every commit marker no flip changed, the `CLEAN` marker's last
    /// LSN unless a fault hit a read of it, and every LSN before the last
    /// segment. A flip whose byte is not known counts against every
    /// marker of its file.
    pub(crate) fn evidence(&self, hits: &[Hit]) -> u64 {
        let spoiled = |file: &str, m: &Marker| {
            hits.iter().any(|h| {
                h.effect && h.file == file && h.flipped.is_none_or(|at| m.start <= at && at < m.end)
            })
        };
        let markers = self
            .segments
            .iter()
            .flat_map(|s| s.markers.iter().map(move |m| (s.name.as_str(), m)))
            .filter(|(file, m)| !spoiled(file, m))
            .map(|(_, m)| m.durable)
            .max()
            .unwrap_or(0);
        let clean = if hits.iter().any(|h| h.effect && h.file == CLEAN_FILE) {
            0
        } else {
            self.clean_last.unwrap_or(0)
        };
        let later_segment = self
            .segments
            .last()
            .map_or(0, |s| s.first_lsn.saturating_sub(1));
        markers.max(clean).max(later_segment)
    }
}
