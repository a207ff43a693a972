//! Reserving a segment file's space: `set_len`, `fallocate`, and the
//! zero-fill of a new spare (through `O_DIRECT` where it can).
//!
//! Only ever touches `from..segment_size` of a file the log owns; syncing
//! what it reserved is the caller's.

use std::path::Path;

use crate::aligned::{AlignedBuf, round_down};
use crate::error::{Result, io_err};
use crate::options::{LogOptions, Preallocation};
use crate::storage::{OpenOptions, Storage, StorageFile};

/// Zeros are written in chunks of this size when a segment is zero-filled.
pub(super) const ZERO_CHUNK: usize = 1 << 20;

/// The size of each `O_DIRECT` write of a zero-fill. Small: the zeros go
/// to the disk while the log's syncs do, and a sync's flush waits for the
/// writes in flight, so a large one adds its whole duration to some
/// appends' latency.
const DIRECT_ZERO_CHUNK: usize = 128 << 10;

/// Reserves `from..segment_size` of a file as configured; zero-fills it
/// too when asked and configured.
pub(super) fn preallocate(
    options: &LogOptions,
    file: &dyn StorageFile,
    path: &Path,
    from: u64,
) -> Result<()> {
    let size = options.segment_size;
    if from >= size {
        return Ok(());
    }
    match options.preallocation {
        Preallocation::None => {}
        Preallocation::SetLen => {
            let len = file.size().map_err(io_err("stat", path))?;
            if len < size {
                file.set_len(size).map_err(io_err("set_len", path))?;
            }
        }
        Preallocation::Allocate | Preallocation::ZeroFill => {
            file.allocate(from, size - from)
                .map_err(io_err("allocate", path))?;
        }
    }
    Ok(())
}

/// The size of a buffer of zeros for `len` bytes written (or read) in
/// chunks of at most `chunk`: the same chunks, without allocating (and
/// zeroing) a whole chunk for a smaller range.
pub(super) fn chunk_for(len: u64, chunk: usize) -> usize {
    usize::try_from(len).map_or(chunk, |len| len.min(chunk))
}

/// Writes zeros over `0..size` of a new spare file, so its extents are
/// written ones and a steady-state `fdatasync` of the segment flushes data
/// only. Through `O_DIRECT` where the file system takes it: the zeros then
/// go from one aligned buffer to the disk, neither copied into nor
/// crowding the page cache (buffered, the copy cost as much CPU as the
/// records later written over them). Whatever `O_DIRECT` cannot do (an
/// unaligned end, a refused open or write) goes through `file`.
pub(super) fn zero_fill(
    storage: &dyn Storage,
    file: &dyn StorageFile,
    path: &Path,
    size: u64,
) -> Result<()> {
    let mut at = 0u64;
    let aligned_end = round_down(size);
    if aligned_end > 0
        && let Ok(direct) = storage.open(path, OpenOptions::write().direct(true))
    {
        let zeros = AlignedBuf::new(chunk_for(aligned_end, DIRECT_ZERO_CHUNK));
        while at < aligned_end {
            let n = (aligned_end - at).min(DIRECT_ZERO_CHUNK as u64) as usize;
            if let Err(e) = direct.write_all_at(zeros.get(..n).unwrap_or_default(), at) {
                tracing::debug!(path = %path.display(), error = %e, "O_DIRECT zero-fill refused; writing through the page cache");
                break;
            }
            at += n as u64;
        }
    }
    let zeros = vec![0u8; chunk_for(size - at.min(size), ZERO_CHUNK)];
    while at < size {
        let n = (size - at).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(zeros.get(..n).unwrap_or_default(), at)
            .map_err(io_err("zero-fill", path))?;
        at += n as u64;
    }
    Ok(())
}
