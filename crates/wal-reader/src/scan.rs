//! A windowed scan of one segment's physical records, in bounded memory.
//!
//! The scanner holds one buffer (the *window*) over the file: at least
//! `buffer_size` bytes, grown to one whole record when a record is larger,
//! never more (a length field is checked against the maximum before it
//! sizes anything). Records are decoded in place and their payloads
//! borrowed from the window.

use std::sync::Arc;

use wal_format::{
    RECORD_HEADER_LEN, RecordDecoder, RecordHeader, SEGMENT_HEADER_LEN, first_nonzero,
};
use wal_io::{OpenOptions, Storage, StorageFile};

use crate::ahead::ReadAhead;
use crate::error::Result;
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
            .map_err(wal_io::io_err("open", &seg.path))?
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
        Ok(self
            .file
            .size()
            .map_err(wal_io::io_err("stat", &self.seg.path))?)
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
    /// From the window as it is, else from the read-ahead's next chunk,
    /// else by reading inline.
    fn fill(&mut self, at: u64, need: usize) -> Result<usize> {
        self.recenter(at);
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
        self.move_to_front(at);
        self.read_inline(need)
    }

    /// The file offset just after the window.
    fn window_end(&self) -> u64 {
        self.buf_start.saturating_add(self.buf_len as u64)
    }

    /// When `at` is outside the window (neither in it nor just after it),
    /// empties the window to start at `at`; what the read-ahead has in
    /// flight is for elsewhere, and is thrown away.
    fn recenter(&mut self, at: u64) {
        if at < self.buf_start || at > self.window_end() {
            self.buf_start = at;
            self.buf_len = 0;
            self.head = 0;
            if let Some(a) = self.ahead.as_mut() {
                a.cancel();
            }
        }
    }

    /// Moves what the window holds from `at` to the front of the buffer,
    /// so a read inline can append to it.
    fn move_to_front(&mut self, at: u64) {
        let rel = self.rel(at);
        let avail = self.avail(at);
        if rel > 0 {
            self.buf.copy_within(rel..rel.saturating_add(avail), 0);
            self.head = 0;
            self.buf_start = at;
            self.buf_len = avail;
        }
    }

    /// Reads after the window (at the front of the buffer) until it holds
    /// `need` bytes or the file ends; returns the bytes it holds.
    fn read_inline(&mut self, need: usize) -> Result<usize> {
        let want = need.max(self.chunk);
        if self.buf.len() < want {
            // Bounded: `need` is a header or a record whose length was
            // checked against the maximum payload length.
            self.buf.resize(want, 0);
        }
        let ended = self.read_until(need)?;
        // A full buffer: the file likely goes on, so read its next chunk
        // on the side.
        if !ended && self.buf_len == self.buf.len() {
            let next = self.window_end();
            if let Some(a) = self.ahead.as_mut() {
                a.start(&self.file, next);
            }
        }
        Ok(self.buf_len)
    }

    /// Reads into the buffer after the window until the window holds
    /// `need` bytes; returns whether the file ended first.
    fn read_until(&mut self, need: usize) -> Result<bool> {
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
                read => read.map_err(wal_io::io_err("read", &self.seg.path))?,
            };
            if n == 0 {
                return Ok(true);
            }
            self.buf_len = self.buf_len.saturating_add(n);
        }
        Ok(false)
    }

    /// Bytes the window holds from `at` (which it covers).
    fn avail(&self, at: u64) -> usize {
        self.window_end().saturating_sub(at) as usize
    }

    /// Swaps in the read-ahead's chunk if it starts where the window ends,
    /// keeping the window's bytes from `at` in front of it (in the
    /// chunk's headroom). Returns whether it did; a read error of the
    /// read-ahead is this read's error. A chunk that read nothing, or a
    /// remainder longer than the headroom (a large record), is not
    /// swapped in: the read-ahead is cancelled and the read is inline.
    fn take_ahead(&mut self, at: u64) -> Result<bool> {
        let end = self.window_end();
        let keep = end.saturating_sub(at) as usize;
        let rel = self.rel(at);
        let Some((mut next, n)) = self.ahead_chunk(end)? else {
            return Ok(false);
        };
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(false);
        };
        let room = ahead.headroom();
        let remainder = self.buf.get(rel..rel.saturating_add(keep));
        if n == 0 || !carry_over(remainder, &mut next, room) {
            ahead.give_back(next);
            ahead.cancel();
            return Ok(false);
        }
        std::mem::swap(&mut self.buf, &mut next);
        ahead.give_back(next);
        self.head = room.saturating_sub(keep);
        self.buf_start = at;
        self.buf_len = keep.saturating_add(n);
        if n == ahead.chunk() {
            ahead.start(&self.file, end.saturating_add(n as u64));
        }
        Ok(true)
    }

    /// The read-ahead's chunk that starts at `end`, if it has one: its
    /// buffer and the bytes read into it after its headroom. A read error
    /// of the read-ahead is this read's error.
    fn ahead_chunk(&mut self, end: u64) -> Result<Option<(Vec<u8>, usize)>> {
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(None);
        };
        let Some(done) = ahead.take(end) else {
            return Ok(None);
        };
        match done.read {
            Ok(n) => Ok(Some((done.buf, n))),
            Err(e) => {
                ahead.give_back(done.buf);
                Err(wal_io::io_err("read", &self.seg.path)(e).into())
            }
        }
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
        let mut at = from;
        loop {
            if *budget == 0 {
                self.offset = at;
                return Ok(None);
            }
            let avail = self.search_window(at)?;
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
            if let Some(phys) = self.try_candidate(candidate, accept, budget)? {
                return Ok(Some(phys));
            }
            at = candidate.saturating_add(1);
        }
    }

    /// The bytes the window holds from `at` for the search: what it holds
    /// if that is a header or more, else the window refilled from `at` (a
    /// chunk).
    fn search_window(&mut self, at: u64) -> Result<usize> {
        let in_window = if at >= self.buf_start {
            self.avail(at)
        } else {
            0
        };
        if in_window >= HDR {
            Ok(in_window)
        } else {
            self.fill(at, self.chunk.max(HDR))
        }
    }

    /// The record at `candidate` (in the window, its salt matching), if
    /// its header verifies, `accept` takes it, the budget covers its
    /// payload (or it is small: a marker) and the payload verifies. The
    /// header is checked from the window, reading nothing; the payload
    /// costs the budget its length.
    fn try_candidate(
        &mut self,
        candidate: u64,
        accept: &dyn Fn(&RecordHeader) -> bool,
        budget: &mut u64,
    ) -> Result<Option<Phys>> {
        /// Payloads this small are always checked (markers are 4 and 8).
        const SMALL: u64 = 64;
        let header = self
            .decoder
            .decode_header(self.window(self.rel(candidate), HDR));
        let Ok(v) = header else {
            return Ok(None);
        };
        let len = u64::from(v.payload_len);
        if !accept(&v.header) || (len > SMALL && len > *budget) {
            return Ok(None);
        }
        *budget = budget.saturating_sub(len);
        self.offset = candidate;
        Ok(self.next()?.ok())
    }
}

/// Copies `remainder` (the window's bytes from where the scan is) to the
/// end of the headroom of `room` bytes at the front of `next` (a
/// read-ahead chunk), just before the chunk's bytes. Whether it fits.
fn carry_over(remainder: Option<&[u8]>, next: &mut [u8], room: usize) -> bool {
    let Some(src) = remainder.filter(|r| r.len() <= room) else {
        return false;
    };
    match next.get_mut(room.saturating_sub(src.len())..room) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
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
}
