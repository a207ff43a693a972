//! A windowed scan of one segment's physical records, in bounded memory.
//!
//! The scanner holds one buffer (the *window*) over the file: at least
//! `buffer_size` bytes, grown to one whole record when a record is larger,
//! never more (a length field is checked against the maximum before it
//! sizes anything). Records are decoded in place and their payloads
//! borrowed from the window.

use std::collections::VecDeque;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use wal_format::{
    RECORD_HEADER_LEN, RecordDecoder, RecordHeader, SEGMENT_HEADER_LEN, first_nonzero,
};
use wal_io::{OpenOptions, Storage, StorageFile};

use crate::error::{Result, io_err};
use crate::segments::Segment;

/// Why the records of a segment stop at the scanner's offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The end of the file, at a record boundary.
    Eof,
    /// Zeros where a record header should be (preallocated space).
    ZeroFilled,
    /// A valid record of an earlier use of the file (another salt).
    Stale,
    /// The file ends inside a record.
    Incomplete,
    /// Bytes that are not a valid record of this segment.
    Damaged(wal_format::Error),
}

impl Stop {
    /// Whether the data ends without damage (end of file, zeros, stale
    /// records of a recycled file).
    pub(crate) fn is_clean(&self) -> bool {
        matches!(self, Stop::Eof | Stop::ZeroFilled | Stop::Stale)
    }
}

/// One verified physical record; its payload is in the scanner's window
/// until the scanner moves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phys {
    pub(crate) offset: u64,
    pub(crate) header: RecordHeader,
    payload_rel: usize,
    pub(crate) payload_len: usize,
}

/// Where a payload is in the scanner's window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    rel: usize,
    len: usize,
}

impl Span {
    /// Its length in bytes.
    pub(crate) fn len(self) -> usize {
        self.len
    }
}

impl Phys {
    /// Where its payload is in the window (valid until the scanner moves).
    pub(crate) fn span(&self) -> Span {
        Span {
            rel: self.payload_rel,
            len: self.payload_len,
        }
    }

    /// The offset just after the record.
    pub(crate) fn end(&self) -> u64 {
        self.offset
            .saturating_add(RECORD_HEADER_LEN as u64)
            .saturating_add(self.payload_len as u64)
    }
}

/// A scan over one segment file.
#[derive(Debug)]
pub(crate) struct Scanner {
    file: Arc<dyn StorageFile>,
    pub(crate) seg: Segment,
    decoder: RecordDecoder,
    salt: [u8; 8],
    buf: Vec<u8>,
    /// Where in `buf` the window starts.
    head: usize,
    /// The file offset of `buf[head]`.
    buf_start: u64,
    /// Valid bytes in `buf` from `head`.
    buf_len: usize,
    ahead: Option<ReadAhead>,
    /// The offset of the next record.
    pub(crate) offset: u64,
    chunk: usize,
}

const HDR: usize = RECORD_HEADER_LEN;

impl Scanner {
    /// Opens `seg` for scanning. `buf` is the window's memory, passed on
    /// from the previous segment's scanner ([`Scanner::into_parts`]) so a
    /// walk over many segments allocates and zeroes it once.
    pub(crate) fn open(
        storage: &dyn Storage,
        seg: &Segment,
        max_payload_len: u32,
        chunk: usize,
        buf: Vec<u8>,
        ahead: Option<ReadAhead>,
    ) -> Result<Scanner> {
        let file: Arc<dyn StorageFile> = storage
            .open(&seg.path, OpenOptions::read())
            .map_err(io_err("open", &seg.path))?
            .into();
        Ok(Scanner {
            file,
            seg: seg.clone(),
            decoder: RecordDecoder::new(seg.header.salt, max_payload_len),
            salt: seg.header.salt.get().to_le_bytes(),
            buf,
            head: 0,
            buf_start: 0,
            buf_len: 0,
            ahead,
            offset: SEGMENT_HEADER_LEN as u64,
            chunk,
        })
    }

    /// Gives back the window's memory and the read-ahead, for the next
    /// segment's scanner.
    pub(crate) fn into_parts(mut self) -> (Vec<u8>, Option<ReadAhead>) {
        let mut ahead = self.ahead.take();
        if let Some(a) = ahead.as_mut() {
            a.cancel();
        }
        (std::mem::take(&mut self.buf), ahead)
    }

    /// The capacity of the window (and of the read-ahead's buffer).
    pub(crate) fn window_capacity(&self) -> usize {
        self.buf
            .capacity()
            .saturating_add(self.ahead.as_ref().map_or(0, ReadAhead::capacity))
    }

    /// Forgets the window, so the next read sees the file as it is now (for
    /// a file that is being appended to).
    pub(crate) fn invalidate(&mut self) {
        self.buf_len = 0;
        if let Some(a) = self.ahead.as_mut() {
            a.cancel();
        }
    }

    /// The file's current size.
    pub(crate) fn file_size(&self) -> Result<u64> {
        self.file.size().map_err(io_err("stat", &self.seg.path))
    }

    fn rel(&self, at: u64) -> usize {
        self.head
            .saturating_add(at.saturating_sub(self.buf_start) as usize)
    }

    fn window(&self, rel: usize, len: usize) -> &[u8] {
        self.buf
            .get(rel..rel.saturating_add(len))
            .unwrap_or_default()
    }

    /// Makes at least `need` bytes from `at` present in the window, if the
    /// file has them; returns how many bytes from `at` the window holds.
    fn fill(&mut self, at: u64, need: usize) -> Result<usize> {
        let window_end = self.buf_start.saturating_add(self.buf_len as u64);
        if at < self.buf_start || at > window_end {
            self.buf_start = at;
            self.buf_len = 0;
            self.head = 0;
            if let Some(a) = self.ahead.as_mut() {
                a.cancel();
            }
        }
        let avail = self.avail(at);
        if avail >= need {
            return Ok(avail);
        }
        if self.take_ahead(at)? {
            let avail = self.avail(at);
            if avail >= need {
                return Ok(avail);
            }
        }
        // Read inline: what the window holds from `at` to the front, then
        // as much as the buffer takes.
        let rel = self.rel(at);
        let avail = self.avail(at);
        if rel > 0 {
            self.buf.copy_within(rel..rel.saturating_add(avail), 0);
            self.head = 0;
            self.buf_start = at;
            self.buf_len = avail;
        }
        let want = need.max(self.chunk);
        if self.buf.len() < want {
            // Bounded: `need` is a header or a record whose length was
            // checked against the maximum payload length.
            self.buf.resize(want, 0);
        }
        let mut ended = false;
        while self.buf_len < need {
            let Some(dst) = self.buf.get_mut(self.buf_len..) else {
                break;
            };
            // One read (not `read_full_at`): the window takes what the
            // kernel gives beyond `need`, and reads more only while short.
            let n = match self
                .file
                .read_at(dst, self.buf_start.saturating_add(self.buf_len as u64))
            {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => read.map_err(io_err("read", &self.seg.path))?,
            };
            if n == 0 {
                ended = true;
                break;
            }
            self.buf_len = self.buf_len.saturating_add(n);
        }
        // A full buffer: the file likely goes on, so read its next chunk
        // on the side.
        if !ended && self.buf_len == self.buf.len() {
            let next = self.buf_start.saturating_add(self.buf_len as u64);
            if let Some(a) = self.ahead.as_mut() {
                a.start(&self.file, next);
            }
        }
        Ok(self.buf_len)
    }

    /// Bytes the window holds from `at` (which it covers).
    fn avail(&self, at: u64) -> usize {
        let end = self.buf_start.saturating_add(self.buf_len as u64);
        end.saturating_sub(at) as usize
    }

    /// Swaps in the read-ahead's chunk if it starts where the window ends,
    /// keeping the window's bytes from `at` in front of it. Returns whether
    /// it did; a read error of the read-ahead is this read's error.
    fn take_ahead(&mut self, at: u64) -> Result<bool> {
        let end = self.buf_start.saturating_add(self.buf_len as u64);
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(false);
        };
        let Some(done) = ahead.take(end) else {
            return Ok(false);
        };
        let n = match done.read {
            Ok(n) => n,
            Err(e) => {
                ahead.give_back(done.buf);
                return Err(io_err("read", &self.seg.path)(e));
            }
        };
        let keep = end.saturating_sub(at) as usize;
        let rel = self
            .head
            .saturating_add(at.saturating_sub(self.buf_start) as usize);
        let room = ahead.headroom;
        let mut next = done.buf;
        let fits = n > 0 && keep <= room;
        let copied = fits
            && match (
                next.get_mut(room.saturating_sub(keep)..room),
                self.buf.get(rel..rel.saturating_add(keep)),
            ) {
                (Some(dst), Some(src)) => {
                    dst.copy_from_slice(src);
                    true
                }
                _ => false,
            };
        if !copied {
            // A longer remainder (a large record): read inline instead.
            ahead.give_back(next);
            ahead.cancel();
            return Ok(false);
        }
        std::mem::swap(&mut self.buf, &mut next);
        ahead.give_back(next);
        self.head = room.saturating_sub(keep);
        self.buf_start = at;
        self.buf_len = keep.saturating_add(n);
        if n == ahead.chunk {
            ahead.start(&self.file, end.saturating_add(n as u64));
        }
        Ok(true)
    }

    /// The payload of a record just returned by [`Scanner::next`].
    pub(crate) fn payload(&self, phys: &Phys) -> &[u8] {
        self.span(phys.span())
    }

    /// The bytes of a [`Span`] of a record just returned.
    pub(crate) fn span(&self, span: Span) -> &[u8] {
        self.window(span.rel, span.len)
    }

    /// Decodes the record at the scanner's offset and moves past it, or
    /// says why there is none (the offset stays).
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Result<Phys, Stop>> {
        match self.next_in_window() {
            Some(phys) => Ok(Ok(phys)),
            None => self.next_slow(),
        }
    }

    /// The common case of [`Scanner::next`]: the record at the offset is
    /// whole in the window and valid. `None` for anything else (bytes to
    /// read, a stop to classify), which [`Scanner::next_slow`] then does
    /// from the start.
    #[inline]
    pub(crate) fn next_in_window(&mut self) -> Option<Phys> {
        let at = self.offset;
        let skip = usize::try_from(at.checked_sub(self.buf_start)?).ok()?;
        let rel = self.head.checked_add(skip)?;
        let end = self.head.checked_add(self.buf_len)?;
        let record = self.decoder.decode(self.buf.get(rel..end)?).ok()?;
        let total = record.encoded_len();
        let phys = Phys {
            offset: at,
            header: record.header,
            payload_rel: rel.checked_add(HDR)?,
            payload_len: record.payload.len(),
        };
        self.offset = at.checked_add(total as u64)?;
        Some(phys)
    }

    /// [`Scanner::next`] when the record is not whole in the window or
    /// does not verify: reads what is missing and classifies the stop.
    #[inline(never)]
    fn next_slow(&mut self) -> Result<Result<Phys, Stop>> {
        let at = self.offset;
        let avail = self.fill(at, HDR)?;
        if avail == 0 {
            return Ok(Err(Stop::Eof));
        }
        let rel = self.rel(at);
        if avail < HDR {
            let zero = self.window(rel, avail).iter().all(|&b| b == 0);
            return Ok(Err(if zero {
                Stop::ZeroFilled
            } else {
                Stop::Incomplete
            }));
        }
        let verified = match self.decoder.decode_header(self.window(rel, HDR)) {
            Ok(v) => v,
            Err(wal_format::Error::ZeroFilled) => return Ok(Err(Stop::ZeroFilled)),
            Err(wal_format::Error::WrongSalt { .. }) => return Ok(Err(Stop::Stale)),
            Err(e) => return Ok(Err(Stop::Damaged(e))),
        };
        let total = verified.encoded_len();
        let avail = self.fill(at, total)?;
        if avail < total {
            return Ok(Err(Stop::Incomplete));
        }
        let rel = self.rel(at);
        let payload_rel = rel.saturating_add(HDR);
        let payload_len = total.saturating_sub(HDR);
        if let Err(e) = verified.verify_payload(self.window(payload_rel, payload_len)) {
            return Ok(Err(Stop::Damaged(e)));
        }
        self.offset = at.saturating_add(total as u64);
        Ok(Ok(Phys {
            offset: at,
            header: verified.header,
            payload_rel,
            payload_len,
        }))
    }

    /// The first valid record of this segment at or after `from` whose
    /// header satisfies `accept`, found by testing every offset whose salt
    /// field matches the segment's salt: the header checksum first (from
    /// the window, reading nothing), then, for a header `accept` takes,
    /// the payload. Leaves the scanner's offset just after the record found
    /// (or where the search stopped).
    ///
    /// Linear in the bytes searched, whatever the content: the window is
    /// read once as the search moves on (never refilled per candidate),
    /// and the search spends `budget` (bytes passed over, and the payload
    /// bytes of candidates whose header verifies), stopping with `None`
    /// when it runs out. A candidate whose payload is larger than what is
    /// left of the budget is passed over unless it is small (a marker), so
    /// crafted headers claiming large payloads at every offset cannot make
    /// the search quadratic.
    pub(crate) fn find_valid(
        &mut self,
        from: u64,
        accept: &dyn Fn(&RecordHeader) -> bool,
        budget: &mut u64,
    ) -> Result<Option<Phys>> {
        /// Payloads this small are always checked (markers are 4 and 8).
        const SMALL: u64 = 64;
        let mut at = from;
        loop {
            if *budget == 0 {
                self.offset = at;
                return Ok(None);
            }
            let in_window = if at >= self.buf_start {
                self.avail(at)
            } else {
                0
            };
            let avail = if in_window >= HDR {
                in_window
            } else {
                self.fill(at, self.chunk.max(HDR))?
            };
            if avail < HDR {
                self.offset = at.saturating_add(avail as u64);
                return Ok(None);
            }
            let rel = self.rel(at);
            let span = avail.saturating_sub(HDR).saturating_add(1);
            // Candidate record starts are the offsets `i` whose bytes
            // `i + 16 .. i + 24` are the salt.
            let found = find_salt(
                self.window(rel, avail).get(16..).unwrap_or_default(),
                &self.salt,
                span,
            );
            let Some(i) = found else {
                *budget = budget.saturating_sub(span as u64);
                at = at.saturating_add(span as u64);
                continue;
            };
            *budget = budget.saturating_sub(i as u64 + 1);
            let candidate = at.saturating_add(i as u64);
            let header = self
                .decoder
                .decode_header(self.window(rel.saturating_add(i), HDR));
            if let Ok(v) = header
                && accept(&v.header)
            {
                let len = u64::from(v.payload_len);
                if len <= SMALL || len <= *budget {
                    *budget = budget.saturating_sub(len);
                    self.offset = candidate;
                    if let Ok(phys) = self.next()? {
                        return Ok(Some(phys));
                    }
                }
            }
            at = candidate.saturating_add(1);
        }
    }
}

/// Room kept at the front of a read-ahead buffer of `chunk` bytes for the
/// part of a record the window already holds when the next chunk is
/// swapped in (a longer remainder falls back to an ordinary read): a
/// sixteenth of the chunk, 4 to 64 KiB.
pub(crate) fn headroom(chunk: usize) -> usize {
    (chunk / 16).clamp(4096, 64 << 10)
}

/// A thread that reads the next chunk of a segment while the records of
/// the current one are checked (`ReadOptions::read_ahead`): with the page
/// cache warm, the copy out of the cache then overlaps the checksums and
/// the per-record work instead of adding to them. Up to [`DEPTH`] jobs in
/// flight, each with its own buffer; a job's result is used only if the
/// scan asks for exactly the bytes that follow its window, else it (and
/// the jobs after it) are thrown away.
///
/// Each job also asks the kernel to fetch the file from its offset to
/// [`PREFETCH`] bytes past its end into the page cache
/// ([`StorageFile::prefetch`]; only what no earlier job asked for), on
/// the thread, before its read: with the page cache cold, the disk then
/// has that much to read ahead of the scan instead of the kernel's own
/// read-ahead window.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    worker: Option<Worker>,
    /// Buffers no job has.
    spares: Vec<Vec<u8>>,
    /// The jobs in flight, oldest first (the thread does them in order):
    /// the file offset each reads from and its buffer's capacity.
    pending: VecDeque<(u64, usize)>,
    /// The job size.
    chunk: usize,
    /// [`headroom`] of `chunk`.
    headroom: usize,
    /// Where the range asked for with [`StorageFile::prefetch`] ends (0
    /// when nothing is, since the last [`ReadAhead::cancel`]).
    prefetched: u64,
    /// Could not start a thread: read without one.
    disabled: bool,
}

#[derive(Debug)]
struct Worker {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    handle: JoinHandle<()>,
}

struct Job {
    file: Arc<dyn StorageFile>,
    offset: u64,
    buf: Vec<u8>,
    headroom: usize,
    /// The range to prefetch (a hint) before reading.
    prefetch: Option<(u64, u64)>,
}

struct Done {
    buf: Vec<u8>,
    /// Bytes read into `buf[headroom..]`.
    read: std::io::Result<usize>,
}

/// Read-ahead jobs in flight at most: with one, the thread sat idle from
/// the end of its read until the scan took it and sent the next, and the
/// scan waited whenever a read ran late; two keep the thread reading.
pub(crate) const DEPTH: usize = 2;

/// How far past the end of each read-ahead job the file is prefetched.
/// The kernel's own read-ahead starts its next window only as the reads
/// reach the current one, and starts it late when the CPUs are busy
/// checking records; asked for this far ahead, the disk always has the
/// next bytes to read. Recovering 1 GiB of 1 KiB records with the page
/// cache cold (2-core VM, virtio disk, an 8 MiB kernel read-ahead window)
/// went from 0.63-1.96 s (median 0.73) to 0.55-1.02 s (median 0.57).
pub(crate) const PREFETCH: u64 = 16 << 20;

impl ReadAhead {
    pub(crate) fn new(chunk: usize) -> ReadAhead {
        ReadAhead {
            worker: None,
            spares: Vec::new(),
            pending: VecDeque::new(),
            chunk,
            headroom: headroom(chunk),
            prefetched: 0,
            disabled: false,
        }
    }

    /// The bytes its buffers hold, in flight or not (for the memory
    /// high-water mark).
    pub(crate) fn capacity(&self) -> usize {
        let spare: usize = self.spares.iter().map(Vec::capacity).sum();
        let busy: usize = self.pending.iter().map(|&(_, c)| c).sum();
        spare.saturating_add(busy)
    }

    fn worker(&mut self) -> Option<&Worker> {
        if self.worker.is_none() && !self.disabled {
            let (jobs, rx) = mpsc::channel::<Job>();
            let (tx, done) = mpsc::channel::<Done>();
            let spawned = std::thread::Builder::new()
                .name("groupwal-readahead".into())
                .spawn(move || {
                    for mut job in rx {
                        if let Some((at, len)) = job.prefetch {
                            // A hint: a failure only costs speed, and a
                            // read of the range reports what is wrong.
                            let _ = job.file.prefetch(at, len);
                        }
                        let read = read_full(&*job.file, &mut job.buf, job.headroom, job.offset);
                        if tx.send(Done { buf: job.buf, read }).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(handle) => {
                    self.worker = Some(Worker { jobs, done, handle });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no read-ahead thread; reading inline");
                    self.disabled = true;
                }
            }
        }
        self.worker.as_ref()
    }

    /// Reads ahead from `offset`: starts a job there unless the oldest job
    /// in flight reads from there (jobs elsewhere are thrown away), then
    /// queues the chunks that follow the last job, up to [`DEPTH`] jobs. (A
    /// job past the end of the file reads nothing, and one past a short
    /// read is thrown away by [`ReadAhead::take`].)
    fn start(&mut self, file: &Arc<dyn StorageFile>, offset: u64) {
        if self.pending.front().is_some_and(|&(at, _)| at != offset) {
            self.cancel();
        }
        let mut next = self
            .pending
            .back()
            .map_or(offset, |&(at, _)| at.saturating_add(self.chunk as u64));
        while self.pending.len() < DEPTH && !self.disabled {
            self.send(file, next);
            next = next.saturating_add(self.chunk as u64);
        }
    }

    /// Sends a job reading `chunk` bytes of `file` at `offset`, and
    /// prefetching what is not yet asked for up to [`PREFETCH`] past them.
    fn send(&mut self, file: &Arc<dyn StorageFile>, offset: u64) {
        let chunk = self.chunk;
        let ahead = offset.saturating_add(chunk as u64).saturating_add(PREFETCH);
        let from = self.prefetched.max(offset);
        let prefetch = (ahead > from).then(|| (from, ahead.saturating_sub(from)));
        let mut buf = self.spares.pop().unwrap_or_default();
        let len = self.headroom.saturating_add(chunk);
        // Exactly: a doubling here would hold twice the memory for nothing.
        buf.reserve_exact(len.saturating_sub(buf.len()));
        buf.resize(len, 0);
        let job = Job {
            file: Arc::clone(file),
            offset,
            buf,
            headroom: self.headroom,
            prefetch,
        };
        let capacity = job.buf.capacity();
        let Some(worker) = self.worker() else {
            self.spares.push(job.buf);
            return;
        };
        match worker.jobs.send(job) {
            Ok(()) => {
                self.pending.push_back((offset, capacity));
                self.prefetched = self.prefetched.max(ahead);
            }
            Err(mpsc::SendError(job)) => {
                self.spares.push(job.buf);
                self.disabled = true;
            }
        }
    }

    /// The result of the oldest job in flight, if it read from `offset`;
    /// else every job in flight is waited for and thrown away.
    fn take(&mut self, offset: u64) -> Option<Done> {
        let (at, _) = self.pending.pop_front()?;
        let done = self.worker.as_ref()?.done.recv().ok()?;
        if at == offset {
            Some(done)
        } else {
            self.spares.push(done.buf);
            self.cancel();
            None
        }
    }

    /// Gives back a buffer (the window's old one, or a job's unused). One
    /// the window grew for a large record is cut back to a chunk's size,
    /// so only the window itself is ever larger than a chunk (the bound
    /// of `ReadOptions::memory_bound`).
    fn give_back(&mut self, mut buf: Vec<u8>) {
        let limit = self.headroom.saturating_add(self.chunk);
        if buf.capacity() > limit {
            buf.clear();
            buf.shrink_to(limit);
        }
        self.spares.push(buf);
    }

    /// Waits for the jobs in flight and keeps their buffers; what comes
    /// next (another place, another file) is prefetched afresh.
    fn cancel(&mut self) {
        self.prefetched = 0;
        while self.pending.pop_front().is_some() {
            match self.worker.as_ref().and_then(|w| w.done.recv().ok()) {
                Some(done) => self.spares.push(done.buf),
                None => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.cancel();
        if let Some(worker) = self.worker.take() {
            drop(worker.jobs);
            // The thread ends once its channel is closed; at most one read
            // was left (just waited for).
            let _ = worker.handle.join();
        }
    }
}

/// Reads `buf[headroom..]` from `offset` until it is full or the file ends.
fn read_full(
    file: &dyn StorageFile,
    buf: &mut [u8],
    headroom: usize,
    offset: u64,
) -> std::io::Result<usize> {
    file.read_full_at(buf.get_mut(headroom..).unwrap_or_default(), offset)
}

/// The first `i < candidates` with `hay[i..i + 8] == salt`. Runs of zero
/// bytes (preallocated space) are skipped a block at a time: a window that
/// equals a non-zero salt holds a non-zero byte.
fn find_salt(hay: &[u8], salt: &[u8; 8], candidates: usize) -> Option<usize> {
    let salt_is_zero = salt.iter().all(|&b| b == 0);
    let mut i = 0;
    while i < candidates {
        let start = if salt_is_zero {
            i
        } else {
            // The next non-zero byte at or after `i`; windows that hold it
            // start at most 7 bytes before it.
            let z = i.saturating_add(first_nonzero(hay.get(i..).unwrap_or_default())?);
            z.saturating_sub(7).max(i)
        };
        let end = start.saturating_add(4096).min(candidates);
        let found = hay
            .get(start..end.saturating_add(7))
            .unwrap_or_default()
            .windows(8)
            .position(|w| w == salt);
        if let Some(p) = found {
            return Some(start.saturating_add(p));
        }
        i = end.max(i.saturating_add(1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_search_matches_a_naive_one() {
        let salt = [1, 0, 0, 7, 0, 0, 0, 9];
        for at in [0usize, 1, 7, 8, 63, 64, 65, 4095, 4096, 4100, 9000] {
            let mut hay = vec![0u8; 10_000];
            hay[at..at + 8].copy_from_slice(&salt);
            // Decoys: a partial match and noise before it.
            if at > 20 {
                hay[at - 20] = 1;
                hay[at - 17] = 7;
            }
            let candidates = hay.len() - 7;
            let naive = hay.windows(8).position(|w| w == salt);
            assert_eq!(find_salt(&hay, &salt, candidates), naive, "at {at}");
            assert_eq!(find_salt(&hay, &salt, at), None, "at {at}: limited");
        }
        assert_eq!(find_salt(&[0; 100], &salt, 93), None);
        let zero = [0u8; 8];
        assert_eq!(find_salt(&[0; 100], &zero, 93), Some(0));
    }

    /// 40,000 bytes of a pattern in a file on the simulated disk, and a
    /// handle that reads it.
    #[allow(clippy::unwrap_used)]
    fn sample_file() -> (Vec<u8>, Box<dyn StorageFile>) {
        use wal_io::sim::SimStorage;
        let storage = SimStorage::new(7);
        storage.create_dir_all(std::path::Path::new("/d")).unwrap();
        let path = std::path::Path::new("/d/f");
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let file = storage.open(path, OpenOptions::create_new()).unwrap();
        assert_eq!(file.write_at(&data, 0).unwrap(), data.len());
        (data, storage.open(path, OpenOptions::read()).unwrap())
    }

    /// The read-ahead keeps `DEPTH` chunks in flight, in file order, hands
    /// over only the one asked for, and after a jump throws away every job
    /// in flight, keeping their buffers (none is lost or leaked).
    #[test]
    #[allow(clippy::unwrap_used)]
    fn read_ahead_queues_chunks_in_order_and_drops_them_on_a_jump() {
        let (data, file) = sample_file();
        let file: Arc<dyn StorageFile> = file.into();

        let chunk = 8192;
        let mut ahead = ReadAhead::new(chunk);
        let room = ahead.headroom;
        ahead.start(&file, 0);
        assert_eq!(ahead.pending.len(), DEPTH);
        let per_buffer = ahead.capacity() / DEPTH;
        assert_eq!(ahead.capacity() % DEPTH, 0);
        assert!(per_buffer >= room + chunk);
        // Chunk after chunk, each exactly the file's bytes there.
        let mut at = 0usize;
        for _ in 0..3 {
            let done = ahead.take(at as u64).unwrap();
            let n = done.read.unwrap();
            assert_eq!(n, chunk);
            assert_eq!(&done.buf[room..room + n], &data[at..at + n]);
            ahead.give_back(done.buf);
            at += n;
            ahead.start(&file, at as u64);
            assert_eq!(ahead.pending.len(), DEPTH);
            assert_eq!(ahead.pending.front().map(|p| p.0), Some(at as u64));
        }
        // The scan jumps elsewhere: nothing is handed over, nothing stays
        // in flight, and every buffer is back.
        assert!(ahead.take(1).is_none());
        assert!(ahead.pending.is_empty());
        assert_eq!(ahead.spares.len(), DEPTH);
        assert_eq!(ahead.capacity(), per_buffer * DEPTH);
        // Past the end of the file a job reads nothing.
        ahead.start(&file, 40_000);
        let done = ahead.take(40_000).unwrap();
        assert_eq!(done.read.unwrap(), 0);
        ahead.give_back(done.buf);
        ahead.cancel();
        assert!(ahead.pending.is_empty());
        // A window grown for a large record comes back at a chunk's size.
        let before = ahead.capacity();
        ahead.give_back(Vec::with_capacity(64 * per_buffer));
        assert!(ahead.capacity() - before <= per_buffer);
    }

    /// A file whose prefetch hints are noted and fail.
    #[derive(Debug)]
    struct HintedFile {
        inner: Box<dyn StorageFile>,
        hints: std::sync::Mutex<Vec<(u64, u64)>>,
    }

    impl StorageFile for HintedFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            self.inner.read_at(buf, offset)
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<usize> {
            self.inner.write_at(buf, offset)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.inner.sync_data()
        }
        fn sync_all(&self) -> std::io::Result<()> {
            self.inner.sync_all()
        }
        fn allocate(&self, offset: u64, len: u64) -> std::io::Result<()> {
            self.inner.allocate(offset, len)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
        fn size(&self) -> std::io::Result<u64> {
            self.inner.size()
        }
        fn prefetch(&self, offset: u64, len: u64) -> std::io::Result<()> {
            if let Ok(mut hints) = self.hints.lock() {
                hints.push((offset, len));
            }
            Err(std::io::Error::other("no hints here"))
        }
    }

    /// Each read-ahead job prefetches what no job asked for before, from
    /// its offset to `PREFETCH` past its end, so the hints tile the file
    /// ahead of the reads; a jump starts afresh; a failing hint changes
    /// nothing that is read.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn read_ahead_prefetches_each_range_once_and_ignores_hint_errors() {
        let (data, inner) = sample_file();
        let hinted = Arc::new(HintedFile {
            inner,
            hints: std::sync::Mutex::new(Vec::new()),
        });
        let file: Arc<dyn StorageFile> = hinted.clone();

        let chunk = 8192usize;
        let c = chunk as u64;
        let mut ahead = ReadAhead::new(chunk);
        let room = ahead.headroom;
        ahead.start(&file, 0);
        let mut at = 0usize;
        for _ in 0..3 {
            let done = ahead.take(at as u64).unwrap();
            let n = done.read.unwrap();
            assert_eq!(&done.buf[room..room + n], &data[at..at + n]);
            ahead.give_back(done.buf);
            at += n;
            ahead.start(&file, at as u64);
        }
        ahead.cancel();
        // Five jobs: the first asks from 0 to `PREFETCH` past its end, each
        // later one the chunk after what was asked for.
        let hints = hinted.hints.lock().unwrap().clone();
        let mut expected = vec![(0, c + PREFETCH)];
        for k in 1..5 {
            expected.push((k * c + PREFETCH, c));
        }
        assert_eq!(hints, expected);

        // After a jump, from the new offset again.
        ahead.start(&file, 100);
        ahead.cancel();
        let hints = hinted.hints.lock().unwrap().clone();
        assert_eq!(hints.get(5), Some(&(100, c + PREFETCH)));
        assert_eq!(hints.get(6), Some(&(100 + c + PREFETCH, c)));
    }
}
