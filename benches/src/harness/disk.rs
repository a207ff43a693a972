//! The disk's own limits, measured in the same run as the engines: what a
//! write+`fdatasync` loop costs, and how fast sequential writes go, buffered
//! and with `O_DIRECT`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::runner::{LatencySummary, new_histogram, summarize};

/// The block the fsync loop overwrites.
pub const BLOCK: usize = 4096;
/// The alignment of `O_DIRECT` buffers, offsets and lengths.
pub const DIRECT_ALIGN: usize = 4096;

/// What to measure, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskConfig {
    /// How long the fsync loop runs.
    pub fsync_duration: Duration,
    /// Size of the preallocated, zero-filled file the fsync loop overwrites
    /// block by block (wrapping around).
    pub fsync_file_bytes: u64,
    /// Bytes written by each sequential-bandwidth test.
    pub seq_bytes: u64,
    /// Size of each `write` in the sequential tests (a multiple of
    /// [`DIRECT_ALIGN`]).
    pub seq_chunk: usize,
}

impl Default for DiskConfig {
    /// 3 s of fsync loop over a 16 MiB file; 256 MiB written sequentially in
    /// 1 MiB writes.
    fn default() -> Self {
        Self {
            fsync_duration: Duration::from_secs(3),
            fsync_file_bytes: 16 << 20,
            seq_bytes: 256 << 20,
            seq_chunk: 1 << 20,
        }
    }
}

/// The 4 KiB overwrite + `fdatasync` loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FsyncLoop {
    /// Bytes per write.
    pub block: usize,
    /// Write+fdatasync pairs done.
    pub ops: u64,
    /// Time they took, in seconds.
    pub elapsed_secs: f64,
    /// `ops / elapsed_secs`.
    pub ops_per_sec: f64,
    /// Latency of each write+fdatasync pair.
    pub latency: LatencySummary,
}

/// One sequential-bandwidth test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeqWrite {
    /// `buffered` (page cache, one `fdatasync` at the end) or `direct`
    /// (`O_DIRECT`, one `fdatasync` at the end for the file size).
    pub mode: &'static str,
    /// Bytes written.
    pub bytes: u64,
    /// From the first write to the end of the final `fdatasync`, in seconds.
    pub elapsed_secs: f64,
    /// `bytes / elapsed_secs` in GB/s (10^9 bytes), if the test ran.
    pub gb_per_sec: Option<f64>,
    /// Why the test did not run (for example: the file system refuses
    /// `O_DIRECT`).
    pub unsupported: Option<String>,
}

/// All of the disk's limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskLimits {
    /// The write+fdatasync loop.
    pub fsync_loop: FsyncLoop,
    /// Sequential writes through the page cache.
    pub buffered: SeqWrite,
    /// Sequential writes with `O_DIRECT`.
    pub direct: SeqWrite,
}

/// Measures everything in `dir` (files are created there and removed).
///
/// # Errors
///
/// An I/O error of the fsync loop or the buffered test; `O_DIRECT` being
/// refused is reported in [`SeqWrite::unsupported`] instead.
pub fn measure(dir: &Path, config: &DiskConfig) -> io::Result<DiskLimits> {
    Ok(DiskLimits {
        fsync_loop: fsync_loop(dir, config.fsync_duration, config.fsync_file_bytes)?,
        buffered: seq_write_buffered(dir, config.seq_bytes, config.seq_chunk)?,
        direct: seq_write_direct(dir, config.seq_bytes, config.seq_chunk),
    })
}

/// Overwrites a preallocated, zero-filled file of `file_bytes` 4 KiB at a
/// time, front to back and around again, with an `fdatasync` after each
/// write, for `duration`.
///
/// # Errors
///
/// Any I/O error.
pub fn fsync_loop(dir: &Path, duration: Duration, file_bytes: u64) -> io::Result<FsyncLoop> {
    let path = dir.join("disk-fsync-loop.dat");
    let result = fsync_loop_in(&path, duration, file_bytes);
    let _ = fs::remove_file(&path);
    result
}

fn fsync_loop_in(path: &Path, duration: Duration, file_bytes: u64) -> io::Result<FsyncLoop> {
    let blocks = (file_bytes / BLOCK as u64).max(1);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // Really allocated: written with zeros and synced, so the loop's
    // fdatasync flushes data, not allocation metadata.
    let zeros = vec![0u8; 1 << 20];
    let mut left = blocks * BLOCK as u64;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;

    let block = crate::payload(BLOCK);
    let mut histogram = new_histogram();
    let start = Instant::now();
    let mut ops = 0u64;
    while ops == 0 || start.elapsed() < duration {
        let offset = (ops % blocks) * BLOCK as u64;
        let t0 = Instant::now();
        file.write_all_at(&block, offset)?;
        file.sync_data()?;
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.saturating_record(ns.max(1));
        ops += 1;
    }
    let elapsed_secs = start.elapsed().as_secs_f64();
    Ok(FsyncLoop {
        block: BLOCK,
        ops,
        elapsed_secs,
        ops_per_sec: ops as f64 / elapsed_secs,
        latency: summarize(&histogram),
    })
}

/// Writes `bytes` to a new file through the page cache, `chunk` at a time,
/// then one `fdatasync`.
///
/// # Errors
///
/// Any I/O error.
pub fn seq_write_buffered(dir: &Path, bytes: u64, chunk: usize) -> io::Result<SeqWrite> {
    let path = dir.join("disk-seq-buffered.dat");
    let result = (|| {
        let mut file = File::create(&path)?;
        let buf = crate::payload(chunk.max(1));
        let start = Instant::now();
        let written = write_chunks(&mut file, &buf, bytes)?;
        file.sync_data()?;
        Ok(seq_result("buffered", written, start.elapsed()))
    })();
    let _ = fs::remove_file(&path);
    result
}

/// Writes `bytes` (rounded down to whole chunks) to a new file opened with
/// `O_DIRECT`, from a 4 KiB-aligned buffer, then one `fdatasync` (for the
/// file size). A file system that refuses `O_DIRECT` (tmpfs, for one) is
/// reported in [`SeqWrite::unsupported`].
#[must_use]
pub fn seq_write_direct(dir: &Path, bytes: u64, chunk: usize) -> SeqWrite {
    let path = dir.join("disk-seq-direct.dat");
    let chunk = chunk.div_ceil(DIRECT_ALIGN).max(1) * DIRECT_ALIGN;
    let bytes = bytes / chunk as u64 * chunk as u64;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(direct_flag())
            .open(&path)?;
        let mut storage = vec![0u8; chunk + DIRECT_ALIGN];
        let buf = aligned_slice(&mut storage, chunk, DIRECT_ALIGN);
        buf.copy_from_slice(&crate::payload(chunk));
        let start = Instant::now();
        let written = write_chunks(&mut file, buf, bytes)?;
        file.sync_data()?;
        Ok::<_, io::Error>(seq_result("direct", written, start.elapsed()))
    })();
    let _ = fs::remove_file(&path);
    result.unwrap_or_else(|e| SeqWrite {
        mode: "direct",
        bytes: 0,
        elapsed_secs: 0.0,
        gb_per_sec: None,
        unsupported: Some(format!("O_DIRECT refused or failed: {e}")),
    })
}

fn direct_flag() -> i32 {
    // O_DIRECT fits in an i32 (it is 0o40000 on x86-64).
    i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0)
}

fn write_chunks(file: &mut File, chunk: &[u8], bytes: u64) -> io::Result<u64> {
    let mut written = 0u64;
    while written < bytes {
        let n = (bytes - written).min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        written += n as u64;
    }
    Ok(written)
}

fn seq_result(mode: &'static str, bytes: u64, elapsed: Duration) -> SeqWrite {
    let secs = elapsed.as_secs_f64();
    SeqWrite {
        mode,
        bytes,
        elapsed_secs: secs,
        gb_per_sec: (secs > 0.0).then(|| bytes as f64 / secs / 1e9),
        unsupported: None,
    }
}

/// A `len`-byte subslice of `storage` that starts at a multiple of `align`
/// (`storage` must hold `len + align` bytes).
///
/// # Panics
///
/// If `storage` is too short.
pub fn aligned_slice(storage: &mut [u8], len: usize, align: usize) -> &mut [u8] {
    let offset = storage.as_ptr().align_offset(align);
    &mut storage[offset..offset + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_slices_are_aligned() {
        let mut storage = vec![0u8; 3 * 4096 + 4096];
        for start in 0..64 {
            let s = aligned_slice(&mut storage[start..], 2 * 4096, 4096);
            assert_eq!(s.as_ptr() as usize % 4096, 0);
            assert_eq!(s.len(), 2 * 4096);
        }
    }

    #[test]
    fn small_measurements_run_and_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = fsync_loop(dir.path(), Duration::ZERO, 64 << 10).unwrap();
        assert_eq!(f.block, BLOCK);
        assert!(f.ops >= 1);
        assert_eq!(f.latency.count, f.ops);
        let b = seq_write_buffered(dir.path(), (1 << 20) + 5, 64 << 10).unwrap();
        assert_eq!(b.bytes, (1 << 20) + 5);
        assert!(b.unsupported.is_none());
        let d = seq_write_direct(dir.path(), (1 << 20) + 5, 60 << 10);
        // Either it ran, on whole aligned chunks, or it says why not.
        match d.unsupported {
            None => assert_eq!(d.bytes % DIRECT_ALIGN as u64, 0),
            Some(ref why) => assert!(why.contains("O_DIRECT"), "{why}"),
        }
        // Nothing is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
