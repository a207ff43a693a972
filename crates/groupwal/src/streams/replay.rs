//! The streams of a log rebuilt by a reader that does not open it for
//! writing: the same replay [`Wal::open`](crate::Wal::open) does, fed by
//! the caller.

use wal_format::{LogicalKind, Lsn};

use super::{StreamInfo, Streams};
use crate::error::Result;

/// The state of every stream of a log, as replaying the log's records in
/// LSN order gives it, by the rules [`Wal::open`](crate::Wal::open) uses
/// (`docs/FORMAT.md`, "Streams"). For read-only tools: feed it the records
/// of a [`read_log`](crate::read_log) reader, call [`StreamReplay::finish`],
/// then ask which entries are live and at which LSN: no lock, no
/// recovery, nothing written.
///
/// ```
/// use groupwal::{StreamReplay, Wal, WalOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let (wal, _) = Wal::open(dir.path(), &WalOptions::new())?;
/// wal.stream(7).append(b"one")?;
/// wal.stream(7).append(b"two")?;
/// wal.stream(7).purge_below(2)?;
/// wal.close()?;
///
/// let mut reader = groupwal::read_log(dir.path(), &WalOptions::new())?;
/// let mut replay = StreamReplay::new();
/// while let Some(record) = reader.next_record()? {
///     replay.apply(record.lsn, record.kind, record.payload)?;
/// }
/// replay.finish()?;
/// let info = replay.stream(7).expect("stream 7 has records");
/// assert_eq!((info.first_index, info.last_index), (Some(2), Some(2)));
/// assert_eq!(replay.lsn(7, 2).map(|l| l.get()), Some(2));
/// assert_eq!(replay.lsn(7, 1), None); // purged
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct StreamReplay {
    streams: Streams,
}

impl StreamReplay {
    /// An empty replay: no stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the log's record at `lsn`. Give every record the log holds,
    /// from its oldest, in LSN order; records that are not stream records
    /// are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::StreamRecord`](crate::Error::StreamRecord) for a stream
    /// record whose header does not decode or that contradicts the
    /// streams' state (an append out of order, a copy of an entry that is
    /// not live): the error `Wal::open` fails with on the same log. The
    /// state after an error is not the log's: stop there.
    pub fn apply(&mut self, lsn: Lsn, kind: LogicalKind, payload: &[u8]) -> Result<()> {
        self.streams.replay(lsn, kind, payload)
    }

    /// Tells the replay that the reader skipped damaged records before the
    /// next record (a record's [`after_damage`](crate::reader::LogRecord::after_damage),
    /// or, before [`StreamReplay::finish`], damage the reader listed):
    /// from then on it takes what skipped records leave (a gap, an append
    /// below the next index, copies that no longer join) as
    /// `Wal::open` does after the same damage. Before it, a contradiction
    /// is an error.
    pub fn skipped_damage(&mut self) {
        self.streams.skipped_damage();
    }

    /// Ends the replay, after the log's last record: joins the entries
    /// whose only record left is a copy (their original went with its
    /// segment) to the stream's live entries, as `Wal::open` does.
    ///
    /// # Errors
    ///
    /// [`Error::StreamRecord`](crate::Error::StreamRecord) for copies that
    /// do not join the live entries: the error `Wal::open` fails with.
    pub fn finish(&mut self) -> Result<()> {
        self.streams.finish_replay()
    }

    /// Every stream the records applied so far hold (any order).
    #[must_use]
    pub fn streams(&self) -> Vec<StreamInfo> {
        let st = self.streams.lock();
        st.index
            .streams()
            .map(|(id, s)| super::info(id, s))
            .collect()
    }

    /// What stream `id` holds; `None` if no record applied was about it.
    #[must_use]
    pub fn stream(&self, id: u64) -> Option<StreamInfo> {
        let st = self.streams.lock();
        st.index.get(id).map(|s| super::info(id, s))
    }

    /// The LSN of the record that is stream `id`'s live entry at `index`
    /// (the append, or the copy that replaced it); `None` if that entry is
    /// not live.
    #[must_use]
    pub fn lsn(&self, id: u64, index: u64) -> Option<Lsn> {
        let st = self.streams.lock();
        st.index.get(id).and_then(|s| s.lsn(index))
    }
}
