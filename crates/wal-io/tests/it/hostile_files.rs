//! A log directory is input like any other: whoever can write to it can put
//! a symbolic link, a FIFO or a directory under the name of any file the log
//! keeps (segments, spares, `LOCK`, `CLEAN`), and the file system can run
//! out of room. Nothing is followed, nothing blocks, nothing outside the
//! directory is created or written, and a spare is never made without room.
//!
//! FIFOs are "held" by the test (opened for reading and writing, which never
//! blocks on Linux, with bytes in them): an open of the FIFO by the code
//! under test then cannot block either, and whether it read the FIFO shows
//! in the bytes left in it. The same scenarios without a held FIFO (where
//! an open for reading would block) run after those assertions: a
//! regression there shows as a test that does not end.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use wal_format::Lsn;
use wal_io::{
    CLEAN_FILE, Error, FileStorage, LOCK_FILE, LogOptions, OpenOptions, SegmentLog, Storage,
    SyncMode, read_clean_marker,
};

use crate::support::{SIM_DIR, append, read_log, real_tempdir, seed, sim, small_options};

/// Bytes put in a held FIFO: more than a clean-close marker (60 bytes), so
/// a reader that takes up to 61 never waits for more.
const HELD: usize = 61;

/// Marks the end of what is left in a held FIFO; the held bytes are never
/// this value.
const SENTINEL: u8 = 0xff;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// A FIFO the test keeps open for reading and writing, with [`HELD`] bytes
/// in it.
struct HeldFifo {
    file: File,
}

impl HeldFifo {
    fn new(path: &Path) -> HeldFifo {
        mkfifo(path);
        // Read and write: Linux opens a FIFO so without waiting for a peer.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("the test opens its FIFO");
        file.write_all(&[0x55; HELD]).expect("bytes into the FIFO");
        HeldFifo { file }
    }

    /// How many of the held bytes nobody read (they stay in the FIFO).
    /// Never blocks: a sentinel is written first and the count stops at
    /// it.
    fn unread(&mut self) -> usize {
        self.file.write_all(&[SENTINEL]).expect("sentinel");
        let mut count = 0;
        let mut buf = [0u8; 256];
        loop {
            let n = self.file.read(&mut buf).expect("read back");
            let got = &buf[..n];
            if let Some(at) = got.iter().position(|&b| b == SENTINEL) {
                // Put them back, for the next count.
                let count = count + at;
                self.file.write_all(&vec![0x55; count]).expect("refill");
                return count;
            }
            count += n;
        }
    }
}

fn real() -> Arc<dyn Storage> {
    Arc::new(FileStorage::new())
}

fn not_regular_message(e: &std::io::Error) -> bool {
    e.to_string().contains("not a regular file")
}

/// `FileStorage::open` never follows a symbolic link (a create never
/// creates its target) and never opens a FIFO or a directory, for readers
/// and writers alike.
#[test]
fn the_real_storage_opens_regular_files_only() {
    let tmp = real_tempdir();
    let dir = tmp.path().join("wal");
    std::fs::create_dir(&dir).unwrap();
    let outside = tmp.path().join("outside");
    let storage = FileStorage::new();

    let mut fifo = HeldFifo::new(&dir.join("fifo"));
    for options in [
        OpenOptions::read(),
        OpenOptions::write(),
        OpenOptions::create(),
    ] {
        let e = storage.open(&dir.join("fifo"), options).unwrap_err();
        assert!(not_regular_message(&e), "{options:?}: {e}");
    }
    assert_eq!(fifo.unread(), HELD, "the FIFO was read");

    // A dangling link: a create would have created its target.
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    for options in [
        OpenOptions::read(),
        OpenOptions::create(),
        OpenOptions::create_new(),
    ] {
        assert!(
            storage.open(&dir.join("link"), options).is_err(),
            "{options:?}"
        );
    }
    assert!(!outside.exists(), "created through a symbolic link");
    // A link to a real file is not followed either.
    std::fs::write(&outside, b"precious").unwrap();
    let e = storage
        .open(&dir.join("link"), OpenOptions::write())
        .unwrap_err();
    assert!(not_regular_message(&e), "{e}");
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");

    std::fs::create_dir(dir.join("sub")).unwrap();
    assert!(storage.open(&dir.join("sub"), OpenOptions::read()).is_err());

    // A FIFO nobody holds: an open for reading would wait for a writer.
    mkfifo(&dir.join("lonely"));
    let e = storage
        .open(&dir.join("lonely"), OpenOptions::read())
        .unwrap_err();
    assert!(not_regular_message(&e), "{e}");

    // Regular files still open, and are written as before.
    let file = storage
        .open(&dir.join("plain"), OpenOptions::create_new())
        .unwrap();
    file.write_all_at(b"hello", 0).unwrap();
    file.sync_all().unwrap();
    assert_eq!(std::fs::read(dir.join("plain")).unwrap(), b"hello");
}

/// A lock file that is a symbolic link, a FIFO (real disk) or a directory
/// (simulated disk) is refused with `LockNotRegular`, and nothing is
/// created through the link.
#[test]
fn a_lock_file_that_is_not_a_regular_file_is_refused() {
    let tmp = real_tempdir();
    let options = LogOptions::new();

    // A dangling symbolic link: locking would have created its target.
    let dir = tmp.path().join("linked");
    std::fs::create_dir(&dir).unwrap();
    let outside = tmp.path().join("outside-lock");
    std::os::unix::fs::symlink(&outside, dir.join(LOCK_FILE)).unwrap();
    let e = SegmentLog::open(real(), &dir, &options).unwrap_err();
    assert!(
        matches!(&e, Error::LockNotRegular { path } if path == &dir.join(LOCK_FILE)),
        "{e}"
    );
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert!(!outside.exists(), "the lock created its link's target");
    assert!(is_symlink(&dir.join(LOCK_FILE)));

    // A FIFO, held, and one that is not, in every sync mode (the direct
    // and dsync modes open the lock file again to probe the flags).
    for mode in [SyncMode::Data, SyncMode::Dsync, SyncMode::Direct] {
        let mut options = LogOptions::new();
        options.sync_mode(mode);
        let dir = tmp.path().join(format!("fifo-{mode:?}"));
        std::fs::create_dir(&dir).unwrap();
        let mut fifo = HeldFifo::new(&dir.join(LOCK_FILE));
        let e = SegmentLog::open(real(), &dir, &options).unwrap_err();
        assert!(matches!(e, Error::LockNotRegular { .. }), "{mode:?}: {e}");
        assert_eq!(fifo.unread(), HELD, "{mode:?}: the FIFO was read");

        let dir = tmp.path().join(format!("lonely-{mode:?}"));
        std::fs::create_dir(&dir).unwrap();
        mkfifo(&dir.join(LOCK_FILE));
        let e = SegmentLog::open(real(), &dir, &options).unwrap_err();
        assert!(matches!(e, Error::LockNotRegular { .. }), "{mode:?}: {e}");
    }

    // The simulated disk: a directory under the name.
    let s = sim(seed());
    s.create_dir_all(&Path::new(SIM_DIR).join(LOCK_FILE))
        .unwrap();
    let e = SegmentLog::open(Arc::new(s), SIM_DIR, &options).unwrap_err();
    assert!(matches!(e, Error::LockNotRegular { .. }), "{e}");
}

/// A clean-close marker that is not a regular file is never read: no
/// evidence. A symbolic link is not followed, even to a valid marker; a
/// FIFO is never read or written, and never blocks a reader.
#[test]
fn a_clean_marker_that_is_not_a_regular_file_is_never_read() {
    let tmp = real_tempdir();

    // A valid marker, left by a clean close in another directory, and a
    // symbolic link to it.
    let other = tmp.path().join("other");
    SegmentLog::open(real(), &other, &small_options(SyncMode::Data))
        .unwrap()
        .close()
        .unwrap();
    assert!(read_clean_marker(&FileStorage::new(), &other).is_some());
    let dir = tmp.path().join("linked");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(other.join(CLEAN_FILE), dir.join(CLEAN_FILE)).unwrap();
    assert_eq!(read_clean_marker(&FileStorage::new(), &dir), None);
    let log = SegmentLog::open(real(), &dir, &small_options(SyncMode::Data)).unwrap();
    assert!(!log.opened_clean());
    assert!(log.foreign_files().contains(&dir.join(CLEAN_FILE)));
    drop(log);

    let dir = tmp.path().join("wal");
    std::fs::create_dir(&dir).unwrap();
    let mut fifo = HeldFifo::new(&dir.join(CLEAN_FILE));
    assert_eq!(read_clean_marker(&FileStorage::new(), &dir), None);
    assert_eq!(fifo.unread(), HELD, "the marker's FIFO was read");

    // Opened and closed cleanly: the FIFO is foreign, left alone, and no
    // marker is written into it.
    let mut log = SegmentLog::open(real(), &dir, &small_options(SyncMode::Data)).unwrap();
    assert!(!log.opened_clean());
    assert!(log.foreign_files().contains(&dir.join(CLEAN_FILE)));
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    assert!(is_fifo(&dir.join(CLEAN_FILE)), "the FIFO was replaced");
    assert_eq!(fifo.unread(), HELD, "the FIFO was read or written");
    drop(fifo);

    // Nobody holds it: an open for reading that can block would wait for
    // a writer forever (a regression shows as this test hanging here).
    let dir = tmp.path().join("lonely");
    std::fs::create_dir(&dir).unwrap();
    mkfifo(&dir.join(CLEAN_FILE));
    assert_eq!(read_clean_marker(&FileStorage::new(), &dir), None);
}

/// Closing never creates or writes the clean-close marker through a
/// symbolic link (dangling or not), nor through a hard link.
#[test]
fn closing_never_writes_the_marker_through_a_link() {
    let tmp = real_tempdir();
    let options = small_options(SyncMode::Data);

    // A dangling symbolic link: a create would make its target.
    let dir = tmp.path().join("dangling");
    std::fs::create_dir(&dir).unwrap();
    let outside = tmp.path().join("outside-clean");
    std::os::unix::fs::symlink(&outside, dir.join(CLEAN_FILE)).unwrap();
    let mut log = SegmentLog::open(real(), &dir, &options).unwrap();
    assert!(log.foreign_files().contains(&dir.join(CLEAN_FILE)));
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    assert!(!outside.exists(), "the close created the link's target");
    assert!(is_symlink(&dir.join(CLEAN_FILE)));

    // A link to an existing file: it is neither truncated nor written.
    let dir = tmp.path().join("linked");
    std::fs::create_dir(&dir).unwrap();
    let target = tmp.path().join("precious");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, dir.join(CLEAN_FILE)).unwrap();
    let log = SegmentLog::open(real(), &dir, &options).unwrap();
    log.close().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");

    // A hard link planted under the name of an empty log's marker: the
    // close that leaves a new marker does not write into the other file.
    let dir = tmp.path().join("hard");
    std::fs::create_dir(&dir).unwrap();
    let other = tmp.path().join("other");
    std::fs::write(&other, b"someone else's file").unwrap();
    std::fs::hard_link(&other, dir.join(CLEAN_FILE)).unwrap();
    let log = SegmentLog::open(real(), &dir, &options).unwrap();
    log.close().unwrap();
    assert_eq!(std::fs::read(&other).unwrap(), b"someone else's file");
    // The log's own marker is there, and valid.
    assert!(read_clean_marker(&FileStorage::new(), &dir).is_some());

    // The simulated disk: a directory under the name stays one.
    let s = sim(seed());
    s.create_dir_all(&Path::new(SIM_DIR).join(CLEAN_FILE))
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    let mut log = SegmentLog::open(Arc::clone(&storage), SIM_DIR, &options).unwrap();
    append(&mut log, 100).unwrap();
    log.close().unwrap();
    let listing = s.list_dir(Path::new(SIM_DIR)).unwrap();
    assert!(
        !listing.iter().any(|e| e.name == CLEAN_FILE && e.is_file),
        "{listing:?}"
    );
}

/// An entry with a spare's name that is not a regular file is foreign: its
/// number is never given to a new spare (which would fail to be created, or
/// a recycled segment renamed over it), and it is left as it was.
#[test]
fn spare_names_that_are_not_regular_files_are_never_reused() {
    let tmp = real_tempdir();
    let dir = tmp.path().join("wal");
    std::fs::create_dir(&dir).unwrap();
    let outside = tmp.path().join("outside-spare");
    let fifo_path = dir.join("spare-0.spare");
    let mut fifo = HeldFifo::new(&fifo_path);
    std::os::unix::fs::symlink(&outside, dir.join("spare-1.spare")).unwrap();
    std::fs::create_dir(dir.join("spare-2.spare")).unwrap();

    let mut options = small_options(SyncMode::Data);
    options.max_spares(2);
    let mut log = SegmentLog::open(real(), &dir, &options).unwrap();
    for name in ["spare-0.spare", "spare-1.spare", "spare-2.spare"] {
        assert!(log.foreign_files().contains(&dir.join(name)), "{name}");
    }
    assert_eq!(log.spare_count(), 0);
    // Enough to rotate several times (16 KiB segments), then purge, which
    // renames segments to spares.
    for _ in 0..60 {
        append(&mut log, 1000).unwrap();
    }
    log.sync().unwrap();
    assert!(log.segments().len() > 2, "{:?}", log.segments().len());
    let next = log.next_lsn().unwrap();
    log.purge_below(next).unwrap();
    for _ in 0..20 {
        append(&mut log, 1000).unwrap();
    }
    log.sync().unwrap();
    log.close().unwrap();

    assert!(is_fifo(&fifo_path), "the FIFO was replaced");
    assert_eq!(fifo.unread(), HELD, "the FIFO was read or written");
    assert!(is_symlink(&dir.join("spare-1.spare")));
    assert!(
        !outside.exists(),
        "a spare was made through a symbolic link"
    );
    assert!(dir.join("spare-2.spare").is_dir());
    let contents = read_log(real(), &dir, &options);
    assert_eq!(contents.lsns.last(), Some(&Lsn::new(80)));
}

/// The segment size has an upper bound (1 GiB), refused when the log is
/// opened, before the directory is created.
#[test]
fn the_segment_size_has_an_upper_bound() {
    assert_eq!(LogOptions::MAX_SEGMENT_SIZE, 1 << 30);
    let s = sim(seed());
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    for size in [LogOptions::MAX_SEGMENT_SIZE + 1, 1 << 40, u64::MAX] {
        let mut options = LogOptions::new();
        options.segment_size(size);
        let e = SegmentLog::open(Arc::clone(&storage), SIM_DIR, &options).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidOption {
                    name: "segment_size",
                    ..
                }
            ),
            "{size}: {e}"
        );
        assert!(e.to_string().contains("at most 1 GiB"), "{e}");
        assert!(
            s.list_dir(Path::new(SIM_DIR)).is_err(),
            "created the directory"
        );
    }
    // The bound itself is accepted (nothing is reserved until the first
    // segment is made).
    let mut options = LogOptions::new();
    options.segment_size(LogOptions::MAX_SEGMENT_SIZE);
    SegmentLog::open(storage, SIM_DIR, &options)
        .unwrap()
        .close()
        .unwrap();
}

/// The real storage tells the free space of a directory's file system.
#[test]
fn the_real_storage_reports_free_space() {
    let tmp = real_tempdir();
    let free = FileStorage::new().free_space(tmp.path()).unwrap();
    assert!(free.is_some_and(|n| n > 0), "{free:?}");
}

/// Files in the simulated log directory, by name.
fn names(storage: &dyn Storage) -> Vec<String> {
    let mut names: Vec<String> = storage
        .list_dir(Path::new(SIM_DIR))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    names
}

fn spares(storage: &dyn Storage) -> usize {
    names(storage)
        .iter()
        .filter(|n| n.ends_with(".spare"))
        .count()
}

/// The room a spare of the options' segment size needs (the segment size
/// and a margin of an eighth of it, at least 1 MiB).
fn needed(segment_size: u64) -> u64 {
    segment_size + (segment_size / 8).max(1 << 20)
}

/// A spare prepared ahead (as a background preparer does) is not made
/// without room for it and the margin: a typed error naming the directory,
/// the room needed and the room left, and nothing created.
#[test]
fn a_spare_is_never_prepared_without_room() {
    let s = sim(seed());
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    let mut options = small_options(SyncMode::Data);
    options.prepare_ahead(false);
    let mut log = SegmentLog::open(Arc::clone(&storage), SIM_DIR, &options).unwrap();
    append(&mut log, 100).unwrap();
    let preparer = log.spare_preparer();
    let size = options.get_segment_size();

    // One byte short.
    s.set_free_space(Some(needed(size) - 1));
    let e = preparer.prepare().unwrap_err();
    match &e {
        Error::NoSpace {
            path,
            needed: n,
            available,
        } => {
            assert_eq!(path, Path::new(SIM_DIR));
            assert_eq!(*n, needed(size));
            assert_eq!(*available, needed(size) - 1);
        }
        other => panic!("expected NoSpace, got {other}"),
    }
    let message = e.to_string();
    for needle in [
        SIM_DIR.to_string(),
        needed(size).to_string(),
        (needed(size) - 1).to_string(),
    ] {
        assert!(message.contains(&needle), "{message}");
    }
    assert_eq!(spares(&*storage), 0, "{:?}", names(&*storage));
    assert_eq!(log.spare_count(), 0);
    assert!(preparer.is_needed());

    // With room, the same call makes one.
    s.set_free_space(Some(needed(size)));
    assert!(preparer.prepare().unwrap());
    assert_eq!(spares(&*storage), 1);
    // The log still takes appends.
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
}

/// A rotation that needs a new segment file and has no room for one fails
/// the batch with `NoSpace`, creates nothing, and the log takes no more
/// writes; what was written before reads back whole.
#[test]
fn a_rotation_without_room_fails_with_no_space() {
    let s = sim(seed());
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    let mut options = small_options(SyncMode::Data);
    options.max_spares(0);
    let mut log = SegmentLog::open(Arc::clone(&storage), SIM_DIR, &options).unwrap();
    let first = append(&mut log, 1000).unwrap();
    log.sync().unwrap();
    // The first rotation prepared the next spare ahead; only that one.
    assert_eq!(spares(&*storage), 1);
    s.set_free_space(Some(4096));

    let mut last_ok = first;
    let e = loop {
        match append(&mut log, 1000) {
            Ok(lsn) => last_ok = lsn,
            Err(e) => break e,
        }
        log.sync().unwrap();
        assert!(last_ok.get() < 100, "never ran out of room");
    };
    assert!(
        matches!(&e, Error::NoSpace { path, available: 4096, .. } if path == Path::new(SIM_DIR)),
        "{e}"
    );
    // The spare prepared ahead was used, and no other was made.
    assert_eq!(spares(&*storage), 0, "{:?}", names(&*storage));
    // The log takes no more appends.
    assert!(append(&mut log, 10).is_err());
    drop(log);

    // Everything acknowledged before reads back, and with room the log
    // goes on.
    s.set_free_space(None);
    let contents = read_log(Arc::clone(&storage), Path::new(SIM_DIR), &options);
    assert_eq!(contents.lsns.last(), Some(&last_ok));
    let mut log = SegmentLog::open(Arc::clone(&storage), SIM_DIR, &options).unwrap();
    let end = contents.end_offset.unwrap();
    log.resume(end, Lsn::new(last_ok.get() + 1)).unwrap();
    append(&mut log, 1000).unwrap();
    log.sync().unwrap();
}

/// An empty log whose first segment cannot fit makes nothing.
#[test]
fn a_first_segment_without_room_is_not_made() {
    let s = sim(seed());
    s.set_free_space(Some(0));
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    let mut log = SegmentLog::open(
        Arc::clone(&storage),
        SIM_DIR,
        &small_options(SyncMode::Data),
    )
    .unwrap();
    let e = append(&mut log, 10).unwrap_err();
    assert!(matches!(e, Error::NoSpace { available: 0, .. }), "{e}");
    assert_eq!(names(&*storage), vec![LOCK_FILE.to_string()]);
}
