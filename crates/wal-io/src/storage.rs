//! The `Storage` trait: the file-system operations wal-io needs, and the
//! real implementation, [`FileStorage`].
//!
//! The trait is object safe; the layers above hold an `Arc<dyn Storage>`.
//! Errors are plain [`std::io::Error`]s (the simulated storage makes them
//! with [`std::io::Error::from_raw_os_error`], so `EIO` and `ENOSPC` look
//! the same as the kernel's); [`crate::Error`] adds the path and the
//! operation.
//!
//! A log directory is input like any other: whoever can write to it can put
//! a symbolic link, a FIFO or a device node under any name. The real
//! storage never follows a symbolic link at the end of a path it opens and
//! never opens anything but a regular file for its bytes (see
//! [`Storage::open`]); a FIFO cannot make an open block.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// How to open a file. Built with [`OpenOptions::read`] and the setters.
///
/// By default a file is opened read-only, must exist, and is buffered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Open for writing as well as reading.
    pub write: bool,
    /// Create the file if it does not exist (implies `write`).
    pub create: bool,
    /// Fail if the file exists; create it (implies `create`).
    pub create_new: bool,
    /// `O_DIRECT`: bypass the page cache. Offsets, lengths and buffer
    /// addresses of reads and writes must be multiples of
    /// [`crate::DIRECT_ALIGN`].
    pub direct: bool,
    /// `O_DSYNC`: every write returns only once its data (and the metadata
    /// needed to read it back) is on stable storage.
    pub dsync: bool,
}

impl OpenOptions {
    /// Read-only, the file must exist.
    #[must_use]
    pub const fn read() -> Self {
        OpenOptions {
            write: false,
            create: false,
            create_new: false,
            direct: false,
            dsync: false,
        }
    }

    /// Read and write, the file must exist.
    #[must_use]
    pub const fn write() -> Self {
        OpenOptions {
            write: true,
            ..OpenOptions::read()
        }
    }

    /// Read and write; create the file, which must not exist.
    #[must_use]
    pub const fn create_new() -> Self {
        OpenOptions {
            write: true,
            create: true,
            create_new: true,
            ..OpenOptions::read()
        }
    }

    /// Read and write; create the file if it does not exist.
    #[must_use]
    pub const fn create() -> Self {
        OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::read()
        }
    }

    /// Sets `O_DIRECT`.
    #[must_use]
    pub const fn direct(mut self, on: bool) -> Self {
        self.direct = on;
        self
    }

    /// Sets `O_DSYNC`.
    #[must_use]
    pub const fn dsync(mut self, on: bool) -> Self {
        self.dsync = on;
        self
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    /// The file name (lossily converted to UTF-8; a name that is not UTF-8
    /// is never a segment).
    pub name: String,
    /// Whether the entry is a regular file (not a directory, a symbolic
    /// link, a FIFO, a device or a socket). Told without following a
    /// symbolic link.
    pub is_file: bool,
}

/// The cause of the [`io::Error`] a storage gives when a path it was asked
/// to open is not a regular file (a symbolic link, a FIFO, a device, a
/// socket or a directory): it is never followed, nor opened for its bytes.
#[derive(Debug)]
pub(crate) struct NotRegularFile;

impl fmt::Display for NotRegularFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not a regular file (a symbolic link, FIFO, device, socket or directory): never followed or opened",
        )
    }
}

impl std::error::Error for NotRegularFile {}

/// The error for a path that is not a regular file ([`NotRegularFile`]).
pub(crate) fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, NotRegularFile)
}

/// Whether `e` says the path is not a regular file ([`not_regular`]).
pub(crate) fn is_not_regular(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<NotRegularFile>())
}

/// An open file: positional reads and writes, syncs, allocation.
///
/// Methods take `&self` so one handle can be shared (for example, synced
/// from one thread while written from another).
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns the number read
    /// (0 at or past the end of the file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `offset`; returns the number
    /// written, which may be short (for example when the disk fills up).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// `fdatasync`: makes the file's data, and the metadata needed to read
    /// it (its size, its allocation), durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: makes the file's data and all its metadata durable.
    fn sync_all(&self) -> io::Result<()>;
    /// `fallocate`: reserves blocks for `offset..offset + len`, extending
    /// the file if needed. The new range reads as zeros. Not a sparse
    /// `set_len`: the blocks are really allocated.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Truncates or extends (sparsely, with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current size.
    fn size(&self) -> io::Result<u64>;

    /// Starts writing back the dirty pages of `offset..offset + len`
    /// without waiting for them (`sync_file_range` with
    /// `SYNC_FILE_RANGE_WRITE` on Linux): a hint that makes a later sync
    /// shorter. It makes nothing durable, and its errors are not the
    /// data's (a later sync reports those). By default, nothing.
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }

    /// Starts reading `offset..offset + len` into the page cache without
    /// waiting for it (`posix_fadvise` with `POSIX_FADV_WILLNEED` on
    /// Linux), so that reads of the range soon after find it there: a
    /// hint for the kernel's read-ahead. It changes nothing, and its
    /// errors are not the data's: a caller goes on as if it had worked
    /// (the reads themselves report what is wrong). By default, nothing.
    fn prefetch(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }

    /// Reads at `offset` until `buf` is full or the file ends, retrying
    /// short and interrupted reads; returns the bytes read (fewer than
    /// `buf.len()` only at the end of the file). Every "read this much, or
    /// what there is" in the workspace goes through it.
    fn read_full_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut got = 0usize;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            match self.read_at(rest, offset.saturating_add(got as u64)) {
                Ok(0) => break,
                Ok(n) => got = got.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self.read_full_at(buf, offset)? < buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`, retrying short writes; a write that
    /// makes no progress fails with [`io::ErrorKind::WriteZero`].
    fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = buf.get(n..).unwrap_or_default();
                    offset = offset.saturating_add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A held exclusive lock on a directory; released when dropped.
pub trait DirLock: Send + Sync + fmt::Debug {}

/// The file-system operations wal-io needs. Object safe: hold it as
/// `Arc<dyn Storage>`.
///
/// Implementations: [`FileStorage`] (the real file system) and, with the
/// `sim` feature, `sim::SimStorage` (a simulated disk that crashes and
/// fails on purpose).
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Lists a directory (not recursive, without `.` and `..`).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// Opens (or creates) a file.
    ///
    /// Only a regular file is ever opened: a symbolic link as the last
    /// component of `path` is not followed (so a create never creates
    /// its target), and a FIFO, device, socket or directory is refused,
    /// without blocking, with an [`io::ErrorKind::InvalidData`] error
    /// whose message says "not a regular file". (The real storage opens
    /// with `O_NOFOLLOW | O_NONBLOCK`, checks the type with `fstat`, then
    /// clears `O_NONBLOCK`.)
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (files created, renamed or removed in
    /// it) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the directory (through the lock file
    /// `lock_file` inside it, created if missing). Fails with
    /// [`io::ErrorKind::WouldBlock`] if another holder, in this process or
    /// another, has it. A lock file that is not a regular file (a
    /// symbolic link, a FIFO, ...) is refused as [`Storage::open`] refuses
    /// one: nothing is created through a symbolic link.
    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>>;
    /// The process holding the lock [`Storage::lock_dir`] takes on `path`,
    /// when the system tells (the real file system on Linux reads
    /// `/proc/locks`); `None` when unknown. Only for the error that says
    /// the directory is taken.
    fn lock_holder(&self, path: &Path, lock_file: &str) -> Option<u32> {
        let _ = (path, lock_file);
        None
    }
    /// A random 64-bit value (salts and log ids). The real storage reads
    /// the kernel's random source; the simulated one is deterministic from
    /// its seed.
    fn random_u64(&self) -> io::Result<u64>;
    /// The bytes an unprivileged writer may still use on the file system
    /// holding the directory `path` (`statvfs`: free blocks available to
    /// non-root users, times the block size), or `None` when it cannot be
    /// told. Checked before a spare segment file is made, so a spare never
    /// fills the disk. By default, `None`: no check.
    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        let _ = path;
        Ok(None)
    }
}

/// The real file system (Linux and other Unix systems).
///
/// `allocate` is `fallocate(2)` on Linux; elsewhere it reports
/// [`io::ErrorKind::Unsupported`]. `O_DIRECT` is Linux only.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileStorage;

impl FileStorage {
    /// The real file system.
    #[must_use]
    pub const fn new() -> Self {
        FileStorage
    }
}

/// A file of the real file system.
#[derive(Debug)]
struct RealFile {
    file: File,
}

#[derive(Debug)]
struct RealLock {
    // Holding the descriptor holds the flock; closing it releases the lock.
    _file: File,
}

impl DirLock for RealLock {}

fn open_flags(options: OpenOptions) -> io::Result<i32> {
    let mut flags = libc::O_CLOEXEC;
    if options.dsync {
        flags |= libc::O_DSYNC;
    }
    if options.direct {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            flags |= libc::O_DIRECT;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "O_DIRECT is not available on this platform",
            ));
        }
    }
    Ok(flags | NOT_THROUGH_LINKS)
}

/// Flags of every open of the real storage: never follow a symbolic link
/// at the end of the path, and never block in the open itself (a FIFO
/// without a writer would; [`regular_only`] then refuses it and clears
/// `O_NONBLOCK`).
const NOT_THROUGH_LINKS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// `O_NOFOLLOW` refuses a symbolic link with `ELOOP` (`EMLINK` on FreeBSD):
/// say what it is.
fn refused_link(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP | libc::EMLINK) => not_regular(),
        _ => e,
    }
}

/// Refuses an open file that is not a regular file (a FIFO, a device, a
/// socket, a directory), then clears the `O_NONBLOCK` it was opened with
/// (it only kept a FIFO from blocking the open; regular files are read and
/// written as if it were not set, but no file system need be trusted on
/// that).
fn regular_only(file: File) -> io::Result<File> {
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    if flags.contains(rustix::fs::OFlags::NONBLOCK) {
        rustix::fs::fcntl_setfl(&file, flags.difference(rustix::fs::OFlags::NONBLOCK))?;
    }
    Ok(file)
}

impl Storage for FileStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let is_file = entry.file_type()?.is_file();
            out.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_file,
            });
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(options.write || options.create || options.create_new)
            .create(options.create && !options.create_new)
            .create_new(options.create_new)
            .custom_flags(open_flags(options)?)
            .open(path)
            .map_err(refused_link)?;
        let file = regular_only(file)?;
        Ok(Box::new(RealFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // O_DIRECTORY: whatever replaced the directory (a FIFO) fails the
        // open instead of blocking it.
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
            .open(path)?
            .sync_all()
    }

    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_CLOEXEC | NOT_THROUGH_LINKS)
            .open(path.join(lock_file))
            .map_err(refused_link)?;
        // A FIFO, a device or a directory under the lock file's name is
        // refused (never locked through), as a symbolic link is above.
        let file = regular_only(file)?;
        // flock locks belong to the open file description, so a second open
        // of the lock file in this process conflicts too (unlike fcntl locks).
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
        Ok(Box::new(RealLock { _file: file }))
    }

    fn lock_holder(&self, path: &Path, lock_file: &str) -> Option<u32> {
        crate::lock_holder::holder_pid(&path.join(lock_file))
    }

    fn random_u64(&self) -> io::Result<u64> {
        let mut bytes = [0u8; 8];
        File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        let stat = rustix::fs::statvfs(path)?;
        // A file system that reports no blocks at all (some FUSE and
        // network ones) does not know: no figure rather than zero.
        if stat.f_blocks == 0 {
            return Ok(None);
        }
        let unit = if stat.f_frsize != 0 {
            stat.f_frsize
        } else {
            stat.f_bsize
        };
        Ok(Some(stat.f_bavail.saturating_mul(unit)))
    }
}

impl StorageFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.file.write_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), offset, len)?;
            Ok(())
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (offset, len);
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "fallocate is not available on this platform",
            ))
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn prefetch(&self, offset: u64, len: u64) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(len) = std::num::NonZeroU64::new(len) {
            rustix::fs::fadvise(&self.file, offset, Some(len), rustix::fs::Advice::WillNeed)?;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (offset, len);
        Ok(())
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
                return Ok(());
            };
            // SAFETY: a plain system call on a descriptor this handle owns;
            // no memory is passed.
            let rc = unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    offset,
                    len,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `len` bytes (each its offset, as a byte) whose reads give
    /// at most 3 bytes and fail with `EINTR` every other call.
    #[derive(Debug)]
    struct Stingy {
        len: u64,
        calls: std::sync::atomic::AtomicU32,
    }

    impl StorageFile for Stingy {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let call = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if call.is_multiple_of(2) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf
                .len()
                .min(3)
                .min(self.len.saturating_sub(offset) as usize);
            for (i, b) in buf.iter_mut().take(n).enumerate() {
                *b = (offset as usize + i) as u8;
            }
            Ok(n)
        }
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> io::Result<()> {
            Ok(())
        }
        fn allocate(&self, _: u64, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn set_len(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn size(&self) -> io::Result<u64> {
            Ok(self.len)
        }
    }

    #[test]
    fn full_reads_retry_short_and_interrupted_reads_and_stop_at_the_end() {
        let file = Stingy {
            len: 20,
            calls: 0.into(),
        };
        let mut buf = [0u8; 10];
        assert_eq!(file.read_full_at(&mut buf, 4).ok(), Some(10));
        assert_eq!(buf, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        // The end of the file: what there is.
        assert_eq!(file.read_full_at(&mut buf, 15).ok(), Some(5));
        assert_eq!(buf.get(..5), Some(&[15, 16, 17, 18, 19][..]));
        assert_eq!(file.read_full_at(&mut buf, 20).ok(), Some(0));
        // Exactly, or UnexpectedEof.
        assert!(file.read_exact_at(&mut buf, 10).is_ok());
        assert_eq!(
            file.read_exact_at(&mut buf, 11).map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
    }

    /// A prefetch of the real storage asks and changes nothing: any range
    /// (empty, past the end) is taken, and the bytes read are the same.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn prefetch_is_only_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = FileStorage::new()
            .open(&path, OpenOptions::create_new())
            .unwrap();
        file.write_all_at(&[7u8; 10_000], 0).unwrap();
        file.prefetch(0, 4096).unwrap();
        file.prefetch(4096, 0).unwrap();
        file.prefetch(1 << 40, 1 << 20).unwrap();
        let mut buf = [0u8; 10_000];
        file.read_exact_at(&mut buf, 0).unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        assert_eq!(file.size().unwrap(), 10_000);
    }
}
