//! A windowed scan of one segment's physical records, in bounded memory.
//!
//! The scanner holds one buffer (the *window*) over the file: at least
//! `buffer_size` bytes, grown to one whole record when a record is larger,
//! never more (a length field is checked against the maximum before it
//! sizes anything). Records are decoded in place and their payloads
//! borrowed from the window.

use wal_format::{RECORD_HEADER_LEN, RecordDecoder, RecordHeader, SEGMENT_HEADER_LEN};
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

impl Phys {
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
    file: Box<dyn StorageFile>,
    pub(crate) seg: Segment,
    decoder: RecordDecoder,
    salt: [u8; 8],
    buf: Vec<u8>,
    /// The file offset of `buf[0]`.
    buf_start: u64,
    /// Valid bytes in `buf`.
    buf_len: usize,
    /// The offset of the next record.
    pub(crate) offset: u64,
    chunk: usize,
}

const HDR: usize = RECORD_HEADER_LEN;

impl Scanner {
    /// Opens `seg` for scanning. `buf` is the window's memory, passed on
    /// from the previous segment's scanner ([`Scanner::into_buffer`]) so a
    /// walk over many segments allocates and zeroes it once.
    pub(crate) fn open(
        storage: &dyn Storage,
        seg: &Segment,
        max_payload_len: u32,
        chunk: usize,
        buf: Vec<u8>,
    ) -> Result<Scanner> {
        let file = storage
            .open(&seg.path, OpenOptions::read())
            .map_err(io_err("open", &seg.path))?;
        Ok(Scanner {
            file,
            seg: seg.clone(),
            decoder: RecordDecoder::new(seg.header.salt, max_payload_len),
            salt: seg.header.salt.get().to_le_bytes(),
            buf,
            buf_start: 0,
            buf_len: 0,
            offset: SEGMENT_HEADER_LEN as u64,
            chunk,
        })
    }

    /// Gives back the window's memory, for the next segment's scanner.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The capacity of the window.
    pub(crate) fn window_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Forgets the window, so the next read sees the file as it is now (for
    /// a file that is being appended to).
    pub(crate) fn invalidate(&mut self) {
        self.buf_len = 0;
    }

    /// The file's current size.
    pub(crate) fn file_size(&self) -> Result<u64> {
        self.file.size().map_err(io_err("stat", &self.seg.path))
    }

    fn rel(&self, at: u64) -> usize {
        at.saturating_sub(self.buf_start) as usize
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
        }
        let rel = self.rel(at);
        let avail = self.buf_len.saturating_sub(rel);
        if avail >= need {
            return Ok(avail);
        }
        if rel > 0 {
            self.buf.copy_within(rel..self.buf_len, 0);
            self.buf_start = at;
            self.buf_len = avail;
        }
        let want = need.max(self.chunk);
        if self.buf.len() < want {
            // Bounded: `need` is a header or a record whose length was
            // checked against the maximum payload length.
            self.buf.resize(want, 0);
        }
        while self.buf_len < need {
            let Some(dst) = self.buf.get_mut(self.buf_len..) else {
                break;
            };
            let n = self
                .file
                .read_at(dst, self.buf_start.saturating_add(self.buf_len as u64))
                .map_err(io_err("read", &self.seg.path))?;
            if n == 0 {
                break;
            }
            self.buf_len = self.buf_len.saturating_add(n);
        }
        Ok(self.buf_len)
    }

    /// The payload of a record just returned by [`Scanner::next`].
    pub(crate) fn payload(&self, phys: &Phys) -> &[u8] {
        self.window(phys.payload_rel, phys.payload_len)
    }

    /// Decodes the record at the scanner's offset and moves past it, or
    /// says why there is none (the offset stays).
    pub(crate) fn next(&mut self) -> Result<Result<Phys, Stop>> {
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
    /// field matches the segment's salt. Leaves the scanner's offset just
    /// after the record found (or at the end of the file).
    pub(crate) fn find_valid(
        &mut self,
        from: u64,
        accept: &dyn Fn(&RecordHeader) -> bool,
    ) -> Result<Option<Phys>> {
        let mut at = from;
        loop {
            let avail = self.fill(at, self.chunk.max(HDR))?;
            if avail < HDR {
                self.offset = at.saturating_add(avail as u64);
                return Ok(None);
            }
            let rel = self.rel(at);
            let slice = self.window(rel, avail);
            let salt = self.salt;
            // Candidate record starts are the offsets `i` whose bytes
            // `i + 16 .. i + 24` are the salt.
            let found = find_salt(
                slice.get(16..).unwrap_or_default(),
                &salt,
                avail.saturating_sub(HDR).saturating_add(1),
            );
            match found {
                Some(i) => {
                    let candidate = at.saturating_add(i as u64);
                    self.offset = candidate;
                    if let Ok(phys) = self.next()?
                        && accept(&phys.header)
                    {
                        return Ok(Some(phys));
                    }
                    at = candidate.saturating_add(1);
                }
                None => {
                    // No candidate starts in `at .. at + avail - 31`.
                    at = at.saturating_add(avail.saturating_sub(HDR).saturating_add(1) as u64);
                }
            }
        }
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

/// The index of the first non-zero byte.
fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(64);
    let mut base = 0usize;
    for chunk in &mut chunks {
        let mut acc = 0u64;
        for word in chunk.chunks_exact(8) {
            if let Ok(w) = <[u8; 8]>::try_from(word) {
                acc |= u64::from_ne_bytes(w);
            }
        }
        if acc != 0 {
            return chunk
                .iter()
                .position(|&b| b != 0)
                .map(|p| base.saturating_add(p));
        }
        base = base.saturating_add(64);
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b != 0)
        .map(|p| base.saturating_add(p))
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
