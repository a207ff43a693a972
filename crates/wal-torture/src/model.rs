//! The model of what a log may hold after a crash, and the oracle that
//! compares a recovered log with it.
//!
//! The model keeps every unit (a record, or an atomic batch) ever
//! submitted in the current history, in LSN order from LSN 1, with the
//! highest acknowledged LSN, the highest purge point requested and any
//! suffix truncation under way. A recovered log satisfies it when:
//!
//! - its LSNs run from some `first` to `last` without a gap, and each
//!   record is, bit for bit and in kind, the one submitted at its LSN (so
//!   nothing is invented, and nothing cut off by an acknowledged
//!   `truncate_from` comes back: new records took those LSNs);
//! - `last` is at least the highest acknowledged LSN (lowered only by an
//!   acknowledged truncation, or by one under way, which may have cut
//!   anything from its point on) and at most the last submitted one;
//! - `first` is 1, or at most the highest purge point requested (purging
//!   drops whole segments below it, oldest first);
//! - both ends fall on unit boundaries: no batch is half present.
//!
//! # Streams
//!
//! For the streams workload ([`Workload::Streams`]) the model keeps the
//! stream changes instead: each unit is one call (an append, an
//! `append_at` or a cross-stream `append_streams` batch, a purge, a
//! truncation) as the [`StreamRecord`]s it writes, in submission order,
//! which is LSN order. The log also writes records of its own (the state
//! of an emptied stream written forward before the segment holding it
//! goes, entries copied forward), which change no stream, so the model
//! does not place streams at LSNs: it says what the streams hold. What
//! every stream holds after recovery, read through the facade
//! ([`StreamSet`]), must be exactly what replaying the units up to some
//! unit boundary gives, at or past the last acknowledged unit
//! ([`Model::check_streams`]). So, for every stream: every acknowledged
//! entry is there, at its index, bit-exact, unless an acknowledged purge
//! or truncation removed it; nothing an acknowledged truncation removed
//! comes back (the bytes at a reused index are the new ones); a batch is
//! there in every stream or in none; the indexes are dense; the next
//! index is the replayed one; what was not acknowledged is there or not,
//! whole. The log itself must still be gap-free and hold only stream
//! records ([`Model::check`]).

use std::collections::BTreeMap;

use groupwal::format::StreamHeader;
use groupwal::{LogicalKind, OwnedRecord};

use crate::workload::Workload;

/// One record as submitted.
#[derive(Clone, Debug)]
struct Rec {
    payload: Vec<u8>,
    checkpoint: bool,
}

/// A record, or an atomic batch.
#[derive(Clone, Debug)]
struct Unit {
    first: u64,
    records: Vec<Rec>,
}

impl Unit {
    fn last(&self) -> u64 {
        self.first + self.records.len() as u64 - 1
    }
}

/// What was submitted and acknowledged: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Model {
    workload: Workload,
    units: Vec<Unit>,
    acked: u64,
    purge_floor: u64,
    truncating: Option<u64>,
    checkpoint: Option<u64>,
    streams: StreamHistory,
}

impl Model {
    /// The model of an empty log that `workload` will run on
    /// (`Model::default()` is that of [`Workload::Records`]).
    #[must_use]
    pub fn new(workload: Workload) -> Model {
        Model {
            workload,
            ..Model::default()
        }
    }

    /// The workload the model follows.
    #[must_use]
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// The LSN the next submitted record takes.
    #[must_use]
    pub fn next_lsn(&self) -> u64 {
        self.units.last().map_or(1, |u| u.last() + 1)
    }

    /// The highest acknowledged LSN.
    #[must_use]
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Notes the submission of one unit; returns its first and last LSN.
    pub fn push(&mut self, payloads: &[Vec<u8>], checkpoint: bool) -> (u64, u64) {
        let first = self.next_lsn();
        let unit = Unit {
            first,
            records: payloads
                .iter()
                .map(|p| Rec {
                    payload: p.clone(),
                    checkpoint,
                })
                .collect(),
        };
        let last = unit.last();
        self.units.push(unit);
        (first, last)
    }

    /// Notes that everything up to `lsn` was acknowledged.
    pub fn ack(&mut self, lsn: u64) {
        self.acked = self.acked.max(lsn);
    }

    /// Notes that the checkpoint record at `lsn` was acknowledged (the
    /// point [`Model::last_checkpoint`] purges below).
    pub fn checkpointed(&mut self, lsn: u64) {
        self.checkpoint = Some(lsn);
    }

    /// The LSN of the last acknowledged checkpoint still in the history.
    #[must_use]
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.checkpoint
    }

    /// Notes a purge below `lsn` (requested: it may have happened, in part
    /// or whole, from now on).
    pub fn purging(&mut self, lsn: u64) {
        self.purge_floor = self.purge_floor.max(lsn);
    }

    /// The first LSN of the `n`-th last unit, if it lies above every purge
    /// point (truncating into purged segments is not what this workload
    /// tests).
    #[must_use]
    pub fn truncation_point(&self, n: usize) -> Option<u64> {
        let i = self.units.len().checked_sub(n)?;
        let first = self.units.get(i)?.first;
        (first > self.purge_floor).then_some(first)
    }

    /// Notes a `truncate_from(lsn)` under way.
    pub fn truncating(&mut self, lsn: u64) {
        self.truncating = Some(lsn);
    }

    /// Notes that `truncate_from(lsn)` returned: records from `lsn` on are
    /// gone, and their LSNs go to new records.
    pub fn truncated(&mut self, lsn: u64) {
        self.units.retain(|u| u.first < lsn);
        self.acked = self.acked.min(lsn.saturating_sub(1));
        self.truncating = None;
        if self.checkpoint.is_some_and(|c| c >= lsn) {
            self.checkpoint = None;
        }
    }

    /// Notes that a recovered log ending at `last` (checked by
    /// [`Model::check`]) was reopened and built on: what it holds is the
    /// history now, and must survive like acknowledged records.
    pub fn rebase(&mut self, last: u64) {
        self.units.retain(|u| u.first <= last);
        self.acked = last;
        self.truncating = None;
        if self.checkpoint.is_some_and(|c| c > last) {
            self.checkpoint = None;
        }
    }

    fn unit_of(&self, lsn: u64) -> Option<&Unit> {
        let i = self.units.partition_point(|u| u.last() < lsn);
        self.units.get(i).filter(|u| u.first <= lsn)
    }

    fn record(&self, lsn: u64) -> Option<&Rec> {
        let unit = self.unit_of(lsn)?;
        unit.records.get(usize::try_from(lsn - unit.first).ok()?)
    }

    /// The oracle: whether a recovered log whose last LSN is `last` (from
    /// the recovery report) and whose records are `records` (read from the
    /// oldest on) is one the model allows. The error says what is wrong.
    ///
    /// # Errors
    ///
    /// A description of the violation.
    pub fn check(&self, last: u64, records: &[OwnedRecord]) -> Result<(), String> {
        let first = records.first().map_or(last + 1, |r| r.lsn.get());
        check_shape(first, last, records)?;
        match self.workload {
            Workload::Records => self.check_records(first, last, records),
            Workload::Streams => check_stream_records(records),
        }
    }

    fn check_records(&self, first: u64, last: u64, records: &[OwnedRecord]) -> Result<(), String> {
        let submitted = self.next_lsn() - 1;
        if last > submitted {
            return Err(format!(
                "invented records: recovered up to lsn {last}, only {submitted} were submitted"
            ));
        }
        let must_reach = match self.truncating {
            Some(t) => self.acked.min(t.saturating_sub(1)),
            None => self.acked,
        };
        if last < must_reach {
            return Err(format!(
                "acknowledged records lost: recovered up to lsn {last}, acknowledged up to {must_reach}{}",
                if self.truncating.is_some() {
                    " (below a truncation under way)"
                } else {
                    ""
                }
            ));
        }
        if first > 1 && first > self.purge_floor {
            return Err(format!(
                "records lost at the start: the log starts at lsn {first}, the highest purge point is {}",
                self.purge_floor
            ));
        }
        if last > 0
            && let Some(u) = self.unit_of(last)
            && u.last() != last
        {
            return Err(format!(
                "half a batch at the end: recovered up to lsn {last}, inside the batch {}..={}",
                u.first,
                u.last()
            ));
        }
        if first <= last
            && let Some(u) = self.unit_of(first)
            && u.first != first
        {
            return Err(format!(
                "half a batch at the start: the log starts at lsn {first}, inside the batch {}..={}",
                u.first,
                u.last()
            ));
        }
        for r in records {
            let Some(want) = self.record(r.lsn.get()) else {
                return Err(format!("lsn {} was never submitted", r.lsn));
            };
            if r.payload != want.payload {
                return Err(format!(
                    "lsn {}: payload differs from what was submitted ({} bytes read, {} submitted)",
                    r.lsn,
                    r.payload.len(),
                    want.payload.len()
                ));
            }
            let is_checkpoint = r.kind == LogicalKind::Checkpoint;
            if is_checkpoint != want.checkpoint {
                return Err(format!("lsn {}: kind {:?} differs", r.lsn, r.kind));
            }
        }
        Ok(())
    }
}

/// The LSNs read back run from `first` to `last` without a gap.
fn check_shape(first: u64, last: u64, records: &[OwnedRecord]) -> Result<(), String> {
    for (i, r) in records.iter().enumerate() {
        if r.lsn.get() != first + i as u64 {
            return Err(format!(
                "gap: record {i} read back has lsn {}, expected {}",
                r.lsn,
                first + i as u64
            ));
        }
    }
    match records.last() {
        Some(r) if r.lsn.get() != last => Err(format!(
            "the recovery report says the last lsn is {last}, the last record read is {}",
            r.lsn
        )),
        _ => Ok(()),
    }
}

/// A streams workload writes stream records only, each with a header
/// that decodes (what they hold is [`Model::check_streams`]'s business).
fn check_stream_records(records: &[OwnedRecord]) -> Result<(), String> {
    for r in records {
        if r.kind != LogicalKind::Stream {
            return Err(format!(
                "lsn {}: a {:?} record in a log only streams were written to",
                r.lsn, r.kind
            ));
        }
        StreamHeader::decode(&r.payload)
            .map_err(|e| format!("lsn {}: stream header: {e}", r.lsn))?;
    }
    Ok(())
}

/// One stream record as a workload submits it (`docs/FORMAT.md`,
/// "Streams"; the copies the log writes on its own change nothing and are
/// not modelled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRecord {
    /// Entry `index` of `stream`.
    Append {
        /// The stream.
        stream: u64,
        /// The entry's index.
        index: u64,
        /// The entry.
        entry: Vec<u8>,
    },
    /// The entries of `stream` below `below` go.
    Purge {
        /// The stream.
        stream: u64,
        /// The bound.
        below: u64,
    },
    /// The entries of `stream` from `from` on go; the next append takes
    /// `from` (past the stream's next index, nothing changes).
    Truncate {
        /// The stream.
        stream: u64,
        /// The bound.
        from: u64,
    },
}

impl StreamRecord {
    /// The stream it is about.
    #[must_use]
    pub fn stream(&self) -> u64 {
        match *self {
            StreamRecord::Append { stream, .. }
            | StreamRecord::Purge { stream, .. }
            | StreamRecord::Truncate { stream, .. } => stream,
        }
    }

    /// The record read back from a log: its logical payload decoded
    /// (`None` for a copy, which changes no stream).
    ///
    /// # Errors
    ///
    /// The header does not decode.
    pub fn from_payload(payload: &[u8]) -> Result<Option<StreamRecord>, String> {
        use groupwal::format::StreamOp;
        let (h, entry) = StreamHeader::decode(payload).map_err(|e| e.to_string())?;
        Ok(match h.op {
            StreamOp::Append => Some(StreamRecord::Append {
                stream: h.stream,
                index: h.index,
                entry: entry.to_vec(),
            }),
            StreamOp::Purge => Some(StreamRecord::Purge {
                stream: h.stream,
                below: h.index,
            }),
            StreamOp::Truncate => Some(StreamRecord::Truncate {
                stream: h.stream,
                from: h.index,
            }),
            _ => None,
        })
    }

    /// Its logical payload: the stream header, then the entry.
    #[must_use]
    pub fn payload(&self) -> Vec<u8> {
        use groupwal::format::StreamOp;
        let (op, stream, index, entry) = match self {
            StreamRecord::Append {
                stream,
                index,
                entry,
            } => (StreamOp::Append, *stream, *index, entry.as_slice()),
            StreamRecord::Purge { stream, below } => (StreamOp::Purge, *stream, *below, &[][..]),
            StreamRecord::Truncate { stream, from } => {
                (StreamOp::Truncate, *stream, *from, &[][..])
            }
        };
        let mut out = Vec::with_capacity(StreamHeader::ENCODED_LEN + entry.len());
        StreamHeader { op, stream, index }.encode_into(&mut out);
        out.extend_from_slice(entry);
        out
    }
}

/// What one stream holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamContent {
    /// The index its next append takes.
    pub next: u64,
    /// Its live entries, by index.
    pub entries: BTreeMap<u64, Vec<u8>>,
}

impl StreamContent {
    /// Its first live index.
    #[must_use]
    pub fn first(&self) -> Option<u64> {
        self.entries.keys().next().copied()
    }

    /// Its last live index.
    #[must_use]
    pub fn last(&self) -> Option<u64> {
        self.entries.keys().next_back().copied()
    }
}

/// Every stream of a log, by id: what replaying stream records gives, or
/// what a recovered log holds (`verify::read_streams`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamSet(pub BTreeMap<u64, StreamContent>);

impl StreamSet {
    /// What stream `id` holds, if the log holds anything of it.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&StreamContent> {
        self.0.get(&id)
    }

    /// The index the next append to `id` takes: 1 for a stream the log
    /// holds nothing of.
    #[must_use]
    pub fn next_index(&self, id: u64) -> u64 {
        self.get(id).map_or(1, |s| s.next)
    }

    /// How many streams exist but hold no entry.
    #[must_use]
    pub fn empty_streams(&self) -> usize {
        self.0.values().filter(|s| s.entries.is_empty()).count()
    }

    /// Applies one record as `docs/FORMAT.md` ("Streams") says a reader
    /// does.
    ///
    /// # Errors
    ///
    /// A record no writer would write: an append at an index that is not
    /// the stream's next (of a stream the log holds something of), an
    /// index 0.
    pub fn apply(&mut self, record: &StreamRecord) -> Result<(), String> {
        self.apply_as(record, false)
    }

    /// [`StreamSet::apply`] after a recovery that skipped damaged records
    /// (`docs/FORMAT.md`, "Streams"): an append past the next index leaves
    /// a gap (a skipped append), one below it truncates first (a skipped
    /// truncation).
    ///
    /// # Errors
    ///
    /// An index 0.
    pub fn apply_skipping(&mut self, record: &StreamRecord) -> Result<(), String> {
        self.apply_as(record, true)
    }

    fn apply_as(&mut self, record: &StreamRecord, skipping: bool) -> Result<(), String> {
        let id = record.stream();
        let known = self.0.contains_key(&id);
        let s = self.0.entry(id).or_default();
        match record {
            StreamRecord::Append { index, entry, .. } => {
                if *index == 0 || (known && *index != s.next && !skipping) {
                    return Err(format!(
                        "stream {id}: an append at index {index}, its next index is {}",
                        s.next
                    ));
                }
                s.entries.retain(|&i, _| i < *index);
                s.entries.insert(*index, entry.clone());
                s.next = index + 1;
            }
            StreamRecord::Purge { below, .. } => {
                if *below == 0 {
                    return Err(format!("stream {id}: a purge below index 0"));
                }
                s.entries.retain(|&i, _| i >= *below);
                s.next = s.next.max(*below);
            }
            StreamRecord::Truncate { from, .. } => {
                if *from == 0 {
                    return Err(format!("stream {id}: a truncation from index 0"));
                }
                // Past the next index, nothing is removed and the next
                // index stays.
                if !known || *from <= s.next {
                    s.entries.retain(|&i, _| i < *from);
                    s.next = *from;
                }
            }
        }
        Ok(())
    }

    /// The first way `got` differs from this set (the model's), or `None`.
    #[must_use]
    pub fn difference(&self, got: &StreamSet) -> Option<String> {
        let ids = self.0.keys().chain(got.0.keys()).copied();
        let ids: std::collections::BTreeSet<u64> = ids.collect();
        ids.into_iter()
            .find_map(|id| stream_difference(id, self.get(id), got.get(id)))
    }
}

fn span(s: &StreamContent) -> String {
    match (s.first(), s.last()) {
        (Some(a), Some(b)) => format!("entries {a}..={b}, next {}", s.next),
        _ => format!("no entry, next {}", s.next),
    }
}

fn stream_difference(
    id: u64,
    want: Option<&StreamContent>,
    got: Option<&StreamContent>,
) -> Option<String> {
    let (want, got) = match (want, got) {
        (None, None) => return None,
        (Some(w), None) => return Some(format!("stream {id} ({}) is missing", span(w))),
        (None, Some(g)) => {
            return Some(format!(
                "stream {id} ({}) is there, nothing was written to it",
                span(g)
            ));
        }
        (Some(w), Some(g)) => (w, g),
    };
    let both = format!("recovered {}, expected {}", span(got), span(want));
    for (index, entry) in &want.entries {
        match got.entries.get(index) {
            None => return Some(format!("stream {id}: entry {index} is missing ({both})")),
            Some(e) if e != entry => {
                return Some(format!(
                    "stream {id}: entry {index} differs, {} bytes read, {} expected (an entry removed by a truncation came back?) ({both})",
                    e.len(),
                    entry.len()
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(index) = got.entries.keys().find(|i| !want.entries.contains_key(i)) {
        return Some(format!(
            "stream {id}: entry {index} is there, the model has none (purged, truncated or never appended) ({both})"
        ));
    }
    (got.next != want.next).then(|| format!("stream {id}: next index differs ({both})"))
}

/// The stream units of a model: see the module docs.
#[derive(Clone, Debug, Default)]
struct StreamHistory {
    /// The state after every unit up to the last of the acknowledged
    /// prefix.
    acked: StreamSet,
    /// The state after every unit submitted.
    latest: StreamSet,
    /// Units folded into `acked`.
    acked_units: usize,
    /// The units after them, each with whether it was acknowledged.
    pending: Vec<(Vec<StreamRecord>, bool)>,
}

impl Model {
    /// What the streams hold once every unit submitted is applied: where
    /// the next appends go.
    #[must_use]
    pub fn streams(&self) -> &StreamSet {
        &self.streams.latest
    }

    /// Notes the submission of one stream unit (one call's records, an
    /// atomic batch if several); returns its number.
    ///
    /// # Errors
    ///
    /// A record the model refuses ([`StreamSet::apply`]): the workload is
    /// wrong, not the log.
    pub fn push_streams(&mut self, records: Vec<StreamRecord>) -> Result<usize, String> {
        let h = &mut self.streams;
        let mut latest = h.latest.clone();
        for r in &records {
            latest.apply(r)?;
        }
        h.latest = latest;
        h.pending.push((records, false));
        Ok(h.acked_units + h.pending.len() - 1)
    }

    /// Notes that stream unit `unit` was acknowledged.
    pub fn ack_streams(&mut self, unit: usize) {
        let h = &mut self.streams;
        if let Some(p) = unit
            .checked_sub(h.acked_units)
            .and_then(|i| h.pending.get_mut(i))
        {
            p.1 = true;
        }
        while h.pending.first().is_some_and(|p| p.1) {
            let (records, _) = h.pending.remove(0);
            for r in &records {
                // Applied once already, to `latest`, in the same order.
                let _ = h.acked.apply(r);
            }
            h.acked_units += 1;
        }
    }

    /// The oracle for streams: whether `got` (every stream of a recovered
    /// log) is what replaying the stream units up to some unit boundary at
    /// or past the acknowledged prefix gives; returns how many units that
    /// is. The error says how `got` differs from each allowed state.
    ///
    /// # Errors
    ///
    /// A description of the violation.
    pub fn check_streams(&self, got: &StreamSet) -> Result<usize, String> {
        let h = &self.streams;
        let mut state = h.acked.clone();
        let mut misses = Vec::new();
        for k in 0..=h.pending.len() {
            if k > 0 {
                for r in h.pending.get(k - 1).map_or(&[][..], |p| p.0.as_slice()) {
                    state.apply(r)?;
                }
            }
            match state.difference(got) {
                None => return Ok(h.acked_units + k),
                Some(d) => misses.push(format!(
                    "{} units ({}): {d}",
                    h.acked_units + k,
                    if k == 0 {
                        "the acknowledged ones"
                    } else {
                        "with unacknowledged ones"
                    }
                )),
            }
        }
        Err(format!(
            "the recovered streams are no state the model allows: against {}",
            misses.join("; against ")
        ))
    }

    /// Notes that a recovered log whose streams are the first `units`
    /// units' (as [`Model::check_streams`] found) was reopened and built
    /// on: they are the history now, and must survive like acknowledged
    /// ones.
    pub fn rebase_streams(&mut self, units: usize) {
        let h = &mut self.streams;
        h.pending.truncate(units.saturating_sub(h.acked_units));
        for (records, _) in h.pending.drain(..) {
            for r in &records {
                // Applied once already, to `latest`, in the same order.
                let _ = h.acked.apply(r);
            }
            h.acked_units += 1;
        }
        h.latest = h.acked.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupwal::Lsn;
    use groupwal::format::Flags;

    fn rec(lsn: u64, payload: &[u8]) -> OwnedRecord {
        OwnedRecord {
            lsn: Lsn::new(lsn),
            kind: LogicalKind::Data,
            flags: Flags::EMPTY,
            payload: payload.to_vec(),
        }
    }

    fn model() -> Model {
        let mut m = Model::default();
        m.push(&[b"a".to_vec()], false);
        m.push(&[b"b".to_vec(), b"c".to_vec()], false);
        m.ack(3);
        m.push(&[b"d".to_vec()], false);
        m
    }

    #[test]
    fn the_oracle_accepts_allowed_prefixes_and_refuses_the_rest() {
        let m = model();
        let all = [rec(1, b"a"), rec(2, b"b"), rec(3, b"c"), rec(4, b"d")];
        assert!(m.check(3, &all[..3]).is_ok());
        assert!(m.check(4, &all).is_ok());
        // Acknowledged lost, half a batch, a gap, an invented or changed record.
        assert!(m.check(1, &all[..1]).unwrap_err().contains("lost"));
        assert!(m.check(2, &all[..2]).is_err());
        assert!(
            m.check(4, &[rec(1, b"a"), rec(2, b"b"), rec(4, b"d")])
                .is_err()
        );
        assert!(
            m.check(
                5,
                &[
                    all[0].clone(),
                    all[1].clone(),
                    all[2].clone(),
                    all[3].clone(),
                    rec(5, b"e")
                ]
            )
            .is_err()
        );
        assert!(
            m.check(3, &[rec(1, b"a"), rec(2, b"b"), rec(3, b"X")])
                .is_err()
        );
        // Starting late needs a purge.
        assert!(m.check(4, &all[3..]).is_err());
        let mut purged = m.clone();
        purged.purging(4);
        assert!(purged.check(4, &all[3..]).is_ok());
        assert!(
            purged.check(4, &all[2..]).is_err(),
            "half a batch at the start"
        );
    }

    #[test]
    fn truncation_reuses_lsns_and_the_old_records_must_not_return() {
        let mut m = model();
        m.truncating(2);
        // Under way: anything from 2 on may be gone.
        assert!(m.check(1, &[rec(1, b"a")]).is_ok());
        m.truncated(2);
        m.push(&[b"new".to_vec()], false);
        m.ack(2);
        assert!(m.check(2, &[rec(1, b"a"), rec(2, b"new")]).is_ok());
        assert!(m.check(2, &[rec(1, b"a"), rec(2, b"b")]).is_err());
        assert!(m.check(1, &[rec(1, b"a")]).is_err());
    }

    fn append(stream: u64, index: u64, entry: &[u8]) -> StreamRecord {
        StreamRecord::Append {
            stream,
            index,
            entry: entry.to_vec(),
        }
    }

    /// Streams 1 and 2: entries 1..=3 of stream 1 and entry 1 of stream 2
    /// acknowledged, then stream 1 truncated from 3 and entry 3 appended
    /// again (acknowledged), then a batch across both streams in flight.
    fn streams_model() -> (Model, StreamSet) {
        let mut m = Model::new(Workload::Streams);
        let u = m
            .push_streams(vec![append(1, 1, b"a"), append(1, 2, b"b")])
            .unwrap();
        m.ack_streams(u);
        let u = m.push_streams(vec![append(1, 3, b"c")]).unwrap();
        m.ack_streams(u);
        let u = m.push_streams(vec![append(2, 1, b"x")]).unwrap();
        m.ack_streams(u);
        let u = m
            .push_streams(vec![StreamRecord::Truncate { stream: 1, from: 3 }])
            .unwrap();
        m.ack_streams(u);
        let u = m.push_streams(vec![append(1, 3, b"C")]).unwrap();
        m.ack_streams(u);
        let acked = m.streams().clone();
        m.push_streams(vec![append(1, 4, b"d"), append(2, 2, b"y")])
            .unwrap();
        (m, acked)
    }

    #[test]
    fn the_stream_oracle_accepts_the_acknowledged_state_or_the_unit_in_flight() {
        let (m, acked) = streams_model();
        assert_eq!(m.check_streams(&acked), Ok(5));
        assert_eq!(m.check_streams(m.streams()), Ok(6));
        assert_eq!(m.streams().next_index(1), 5);
        assert_eq!(m.streams().next_index(9), 1);
    }

    #[test]
    fn the_stream_oracle_refuses_losses_resurrections_half_batches_and_gaps() {
        let (m, acked) = streams_model();
        let bad = |f: &dyn Fn(&mut StreamSet)| {
            let mut got = acked.clone();
            f(&mut got);
            m.check_streams(&got).unwrap_err()
        };
        let stream = |s: &mut StreamSet, id: u64| s.0.get_mut(&id).unwrap().clone();
        // An acknowledged entry lost.
        assert!(
            bad(&|s| {
                s.0.get_mut(&2).unwrap().entries.clear();
            })
            .contains("stream 2: entry 1 is missing")
        );
        // The entry the truncation removed, back at its index.
        assert!(
            bad(&|s| {
                s.0.get_mut(&1).unwrap().entries.insert(3, b"c".to_vec());
            })
            .contains("entry 3 differs")
        );
        // Half the batch in flight.
        assert!(
            bad(&|s| {
                let one = s.0.get_mut(&1).unwrap();
                one.entries.insert(4, b"d".to_vec());
                one.next = 5;
            })
            .contains("no state the model allows")
        );
        // A gap, or a next index moved.
        assert!(
            bad(&|s| {
                s.0.get_mut(&1).unwrap().entries.remove(&2);
            })
            .contains("entry 2 is missing")
        );
        assert!(
            bad(&|s| {
                s.0.get_mut(&1).unwrap().next = 9;
            })
            .contains("next index differs")
        );
        // A stream invented, or lost whole.
        assert!(
            bad(&|s| {
                let two = stream(s, 2);
                s.0.insert(7, two);
            })
            .contains("stream 7")
        );
        assert!(
            bad(&|s| {
                s.0.remove(&1);
            })
            .contains("stream 1 (entries 1..=3, next 4) is missing")
        );
    }

    #[test]
    fn the_stream_model_applies_purges_and_truncations_as_the_format_says() {
        let mut s = StreamSet::default();
        for i in 5..=9 {
            s.apply(&append(3, i, b"e")).unwrap();
        }
        assert!(s.apply(&append(3, 11, b"gap")).is_err());
        s.apply(&StreamRecord::Purge {
            stream: 3,
            below: 7,
        })
        .unwrap();
        assert_eq!(
            (s.get(3).unwrap().first(), s.get(3).unwrap().last()),
            (Some(7), Some(9))
        );
        s.apply(&StreamRecord::Purge {
            stream: 3,
            below: 12,
        })
        .unwrap();
        assert_eq!((s.get(3).unwrap().first(), s.next_index(3)), (None, 12));
        assert_eq!(s.empty_streams(), 1);
        s.apply(&append(3, 12, b"f")).unwrap();
        s.apply(&StreamRecord::Truncate {
            stream: 3,
            from: 12,
        })
        .unwrap();
        assert_eq!(s.next_index(3), 12);
        // Past the next index, a truncation changes nothing.
        s.apply(&StreamRecord::Truncate {
            stream: 3,
            from: 20,
        })
        .unwrap();
        assert_eq!((s.get(3).unwrap().last(), s.next_index(3)), (None, 12));
        // Payloads round-trip through the format's header.
        for r in [
            append(1 << 40, 7, b"entry"),
            StreamRecord::Purge {
                stream: 2,
                below: 3,
            },
            StreamRecord::Truncate { stream: 2, from: 1 },
        ] {
            assert_eq!(StreamRecord::from_payload(&r.payload()), Ok(Some(r)));
        }
    }

    #[test]
    fn rebasing_streams_makes_the_recovered_units_the_history() {
        let (mut m, acked) = streams_model();
        let all = m.streams().clone();
        m.rebase_streams(6);
        assert_eq!(m.check_streams(&all), Ok(6));
        assert!(m.check_streams(&acked).is_err());
        let (mut m, acked) = streams_model();
        m.rebase_streams(5);
        assert_eq!(m.streams(), &acked);
        assert!(m.check_streams(&all).is_err());
    }
}
