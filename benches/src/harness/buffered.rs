//! The buffered-throughput workload (one writer streams records without a
//! sync per record, then one final sync) and the recovery workload (reopen
//! what it wrote and read every record back, checked).
//!
//! Every record's payload starts with its index (8 bytes, little-endian),
//! so the recovery check can tell a missing, repeated or reordered record
//! from a complete log.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::DurableLog;

/// The smallest payload the buffered workload takes (it holds the index).
pub const MIN_PAYLOAD: usize = 8;

/// The records of the buffered workload: `count` payloads of one length,
/// each stamped with its index.
#[derive(Debug, Clone)]
pub struct RecordSource {
    payload: Vec<u8>,
    next: u64,
    count: u64,
}

impl RecordSource {
    /// `count` records of `payload_len` bytes (at least [`MIN_PAYLOAD`]).
    #[must_use]
    pub fn new(count: u64, payload_len: usize) -> Self {
        Self {
            payload: crate::payload(payload_len.max(MIN_PAYLOAD)),
            next: 0,
            count,
        }
    }

    /// The next record, or `None` after the last.
    pub fn next_record(&mut self) -> Option<&[u8]> {
        if self.next == self.count {
            return None;
        }
        stamp(&mut self.payload, self.next);
        self.next += 1;
        Some(&self.payload)
    }

    /// Records handed out so far.
    #[must_use]
    pub fn produced(&self) -> u64 {
        self.next
    }

    /// Records in all.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Payload bytes per record.
    #[must_use]
    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }
}

fn stamp(payload: &mut [u8], index: u64) {
    if let Some(head) = payload.get_mut(..MIN_PAYLOAD) {
        head.copy_from_slice(&index.to_le_bytes());
    }
}

/// Checks the records an engine reads back: in order, each with the length
/// and index the buffered workload gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verifier {
    payload_len: usize,
    /// Records seen.
    pub records: u64,
    /// Payload bytes seen.
    pub bytes: u64,
    /// The first mismatch, if any.
    pub error: Option<String>,
}

impl Verifier {
    /// Expects payloads of `payload_len` bytes, indexed from 0.
    #[must_use]
    pub fn new(payload_len: usize) -> Self {
        Self {
            payload_len,
            ..Self::default()
        }
    }

    /// Checks the next record read back.
    pub fn visit(&mut self, payload: &[u8]) {
        if self.error.is_none() {
            let index = payload
                .get(..MIN_PAYLOAD)
                .and_then(|h| h.try_into().ok())
                .map(u64::from_le_bytes);
            if payload.len() != self.payload_len {
                self.error = Some(format!(
                    "record {}: {} bytes, expected {}",
                    self.records,
                    payload.len(),
                    self.payload_len
                ));
            } else if index != Some(self.records) {
                self.error = Some(format!("record {}: carries index {index:?}", self.records));
            }
        }
        self.records += 1;
        self.bytes += payload.len() as u64;
    }

    /// `Ok` if exactly `expected` records were seen, all as written.
    ///
    /// # Errors
    ///
    /// A message naming the first difference.
    pub fn finish(&self, expected: u64) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.records != expected {
            return Err(format!(
                "read back {} records, {expected} were written",
                self.records
            ));
        }
        Ok(())
    }
}

/// The figures of one buffered run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferedResult {
    /// The engine's name.
    pub engine: String,
    /// Records written.
    pub records: u64,
    /// Payload bytes per record.
    pub payload_len: usize,
    /// From the first append to the end of the final sync, in seconds.
    pub elapsed_secs: f64,
    /// Payload MB (10^6 bytes) per second over `elapsed_secs`.
    pub mb_per_sec: f64,
    /// Records per second over `elapsed_secs`.
    pub records_per_sec: f64,
    /// Closing the engine afterwards (not in `elapsed_secs`), in seconds.
    pub close_secs: f64,
    /// Bytes the engine's directory holds after closing (files' lengths).
    pub disk_bytes: u64,
}

/// The figures of one recovery run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryResult {
    /// The engine's name.
    pub engine: String,
    /// Records read back (all checked).
    pub records: u64,
    /// Payload bytes read back.
    pub bytes: u64,
    /// From opening the directory to the last record read, in seconds.
    pub elapsed_secs: f64,
    /// Payload MB per second.
    pub mb_per_sec: f64,
    /// Records per second.
    pub records_per_sec: f64,
    /// Whether the engine's files were evicted from the page cache first
    /// (`posix_fadvise(DONTNEED)`), so the data came from the disk.
    pub cold: bool,
    /// The bare read of the same directory right after the recovery
    /// ([`bare_read`]; evicted again first when `cold`): the yardstick
    /// the recovery is measured against.
    #[serde(default)]
    pub bare: Option<BareRead>,
}

/// A bare read of an engine's directory ([`bare_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BareRead {
    /// Bytes read: the files' whole lengths.
    pub bytes: u64,
    /// From the first open to the last byte's CRC, in seconds.
    pub secs: f64,
}

/// The size of [`bare_read`]'s buffer.
pub const BARE_READ_BUFFER: usize = 1 << 20;

/// Reads every file under `dir`, one after another, each from start to
/// end with plain `read`s into one [`BARE_READ_BUFFER`]-byte buffer,
/// and runs CRC-32 (`crc32fast`) over every byte, timed: what reading
/// and checking the engine's bytes costs with nothing else done. One
/// thread, no hints to the kernel (its own read-ahead only).
///
/// It reads whole files, including any space an engine preallocated
/// and never wrote (which that engine's recovery may never read), and
/// files other than its log (metadata, locks): its byte count is shown
/// next to its time so a reader can tell. It leaves out groupwal's spare
/// segments (`wal_io::is_spare_name`): files kept ready for the next
/// segments, which hold no records and which no recovery reads (read,
/// they made the yardstick slower and flattered groupwal's ratio). No
/// other engine here has files of that name.
///
/// # Errors
///
/// Errors of listing, opening or reading.
pub fn bare_read(dir: &Path) -> io::Result<BareRead> {
    let mut buf = vec![0u8; BARE_READ_BUFFER];
    let mut hasher = crc32fast::Hasher::new();
    let mut bytes = 0u64;
    let start = Instant::now();
    walk(dir, &mut |path, meta| {
        let spare = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(wal_io::is_spare_name);
        if meta.is_file() && !spare {
            let mut file = File::open(path)?;
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                hasher.update(buf.get(..n).unwrap_or_default());
                bytes += n as u64;
            }
        }
        Ok(())
    })?;
    std::hint::black_box(hasher.finalize());
    Ok(BareRead {
        bytes,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Runs the buffered workload on `log`: `total_bytes / payload_len` records
/// through [`DurableLog::write_buffered`], timed from the first append to
/// the end of the final sync; then closes the engine.
///
/// # Errors
///
/// The engine's errors (`Unsupported` if it has no buffered mode), or
/// fewer records taken than offered.
pub fn run_buffered(
    engine: &str,
    log: Box<dyn DurableLog>,
    dir: &Path,
    payload_len: usize,
    total_bytes: u64,
) -> io::Result<BufferedResult> {
    let payload_len = payload_len.max(MIN_PAYLOAD);
    let count = (total_bytes / payload_len as u64).max(1);
    let mut source = RecordSource::new(count, payload_len);
    let start = Instant::now();
    let written = log.write_buffered(&mut source);
    let elapsed = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let closed = log.close();
    let close_secs = t.elapsed().as_secs_f64();
    written?;
    closed?;
    if source.produced() != count {
        return Err(io::Error::other(format!(
            "the engine took {} of {count} records",
            source.produced()
        )));
    }
    let per_sec = |x: f64| if elapsed > 0.0 { x / elapsed } else { 0.0 };
    Ok(BufferedResult {
        engine: engine.to_owned(),
        records: count,
        payload_len,
        elapsed_secs: elapsed,
        mb_per_sec: per_sec(count as f64 * payload_len as f64) / 1e6,
        records_per_sec: per_sec(count as f64),
        close_secs,
        disk_bytes: dir_bytes(dir),
    })
}

/// An engine's way to reopen a directory and read back every record in
/// order, handing each payload to the verifier.
pub type RecoverFn = fn(&Path, &mut Verifier) -> io::Result<()>;

/// Runs `recover` on `dir` (after evicting its files from the page cache
/// when `cold`), timed, and checks that it read back exactly `expected`
/// records of `payload_len` bytes, in order. Then times a [`bare_read`]
/// of the same directory, warm or (evicted again) cold as the recovery.
///
/// # Errors
///
/// The engine's error, `InvalidData` naming the first record that
/// differs, or an error of the bare read.
pub fn run_recovery(
    engine: &str,
    recover: RecoverFn,
    dir: &Path,
    expected: u64,
    payload_len: usize,
    cold: bool,
) -> io::Result<RecoveryResult> {
    if cold {
        evict(dir)?;
    }
    let mut verifier = Verifier::new(payload_len.max(MIN_PAYLOAD));
    let start = Instant::now();
    recover(dir, &mut verifier)?;
    let elapsed = start.elapsed().as_secs_f64();
    verifier
        .finish(expected)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if cold {
        evict(dir)?;
    }
    let bare = bare_read(dir)?;
    let per_sec = |x: f64| if elapsed > 0.0 { x / elapsed } else { 0.0 };
    Ok(RecoveryResult {
        engine: engine.to_owned(),
        records: verifier.records,
        bytes: verifier.bytes,
        elapsed_secs: elapsed,
        mb_per_sec: per_sec(verifier.bytes as f64) / 1e6,
        records_per_sec: per_sec(verifier.records as f64),
        cold,
        bare: Some(bare),
    })
}

/// Sum of the lengths of the files under `dir` (0 where unreadable).
#[must_use]
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let _ = walk(dir, &mut |path, meta| {
        if meta.is_file() {
            total += meta.len();
        }
        let _ = path;
        Ok(())
    });
    total
}

/// Evicts every file under `dir` from the page cache (`fdatasync`, then
/// `posix_fadvise(POSIX_FADV_DONTNEED)`): only these files, nothing else on
/// the machine.
///
/// # Errors
///
/// Errors of opening, syncing or advising a file.
pub fn evict(dir: &Path) -> io::Result<()> {
    walk(dir, &mut |path, meta| {
        if meta.is_file() {
            let file = File::open(path)?;
            file.sync_data()?;
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
        }
        Ok(())
    })
}

fn walk(
    dir: &Path,
    f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&path, f)?;
        } else {
            f(&path, &meta)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_stamped_and_verified_in_order() {
        let mut src = RecordSource::new(3, 16);
        let mut v = Verifier::new(16);
        while let Some(p) = src.next_record() {
            v.visit(p);
        }
        assert_eq!(src.produced(), 3);
        assert_eq!((v.records, v.bytes), (3, 48));
        assert_eq!(v.finish(3), Ok(()));
        assert!(v.finish(4).unwrap_err().contains("read back 3"));

        // A short payload is padded to hold the index.
        assert_eq!(RecordSource::new(1, 2).payload_len(), MIN_PAYLOAD);
    }

    #[test]
    fn the_verifier_names_the_first_difference() {
        let mut src = RecordSource::new(3, 16);
        let a = src.next_record().unwrap().to_vec();
        let _ = src.next_record();
        let c = src.next_record().unwrap().to_vec();
        let mut v = Verifier::new(16);
        v.visit(&a);
        v.visit(&c);
        assert!(v.finish(2).unwrap_err().contains("record 1"));
        let mut v = Verifier::new(16);
        v.visit(&a[..10]);
        assert!(v.finish(1).unwrap_err().contains("10 bytes"));
    }

    #[test]
    fn eviction_and_sizes_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [1u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [2u8; 50]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 150);
        evict(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("sub/b")).unwrap(), [2u8; 50]);
        // The bare read reads whole files, more than one buffer's worth.
        std::fs::write(dir.path().join("c"), vec![3u8; BARE_READ_BUFFER + 7]).unwrap();
        let bare = bare_read(dir.path()).unwrap();
        assert_eq!(bare.bytes, 150 + BARE_READ_BUFFER as u64 + 7);
        // groupwal's spare segments hold no records: left out.
        std::fs::write(dir.path().join("spare-3.spare"), [0u8; 4096]).unwrap();
        assert_eq!(bare_read(dir.path()).unwrap().bytes, bare.bytes);
        assert!(bare.secs >= 0.0);
    }
}
