//! Bad input gets a typed error naming the path: a missing or unwritable
//! directory, a segment header that does not verify, a segment of another
//! log; foreign files are reported and left alone.

use std::sync::Arc;

use wal_format::{Lsn, segment_file_name};
use wal_io::{Error, FileStorage, LogOptions, SegmentLog, SyncMode};

use crate::support::{append, disks, real_tempdir, seed, small_options};

#[test]
fn a_missing_directory_is_created_or_reported() {
    for disk in disks(seed()) {
        let mut options = LogOptions::new();
        options.create(false);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::MissingDir { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("wal directory {} does not exist", disk.dir.display())
        );
        options.create(true);
        SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
    }
}

#[test]
fn an_unwritable_directory_is_reported() {
    // Running as root ignores permission bits, so make the parent a file.
    let tmp = real_tempdir();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("wal");
    let e = SegmentLog::open(Arc::new(FileStorage::new()), &dir, &LogOptions::new()).unwrap_err();
    assert!(matches!(e, Error::Unwritable { .. }), "{e}");
    assert!(e.to_string().contains(dir.to_str().unwrap()), "{e}");
}

#[test]
fn foreign_files_are_reported_and_left_alone() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        while log.segments().len() < 3 {
            append(&mut log, 1000).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        let foreign = disk.dir.join("notes.txt");
        let f = disk
            .storage
            .open(&foreign, wal_io::OpenOptions::create_new())
            .unwrap();
        f.write_all_at(b"mine", 0).unwrap();
        drop(f);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        assert_eq!(log.foreign_files(), std::slice::from_ref(&foreign));
        let last = log.segments()[2].first_lsn();
        log.purge_below(last).unwrap();
        log.truncate_from(last).unwrap();
        drop(log);
        let f = disk
            .storage
            .open(&foreign, wal_io::OpenOptions::read())
            .unwrap();
        let mut buf = [0u8; 4];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"mine", "{}", disk.name);
    }
}

#[test]
fn a_damaged_segment_header_is_reported_with_its_path() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        append(&mut log, 100).unwrap();
        log.close().unwrap();
        let path = disk.dir.join(segment_file_name(Lsn::FIRST));
        let f = disk
            .storage
            .open(&path, wal_io::OpenOptions::write())
            .unwrap();
        f.write_all_at(&[0xff], 20).unwrap();
        f.sync_data().unwrap();
        drop(f);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::BadSegmentHeader { .. }), "{e}");
        assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}

#[test]
fn a_segment_under_another_name_or_of_another_log_is_reported() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        append(&mut log, 100).unwrap();
        log.close().unwrap();
        // A copy of segment 1 named as segment 7.
        let from = disk.dir.join(segment_file_name(Lsn::FIRST));
        let to = disk.dir.join(segment_file_name(Lsn::new(7)));
        let src = disk
            .storage
            .open(&from, wal_io::OpenOptions::read())
            .unwrap();
        let mut bytes = vec![0u8; src.size().unwrap() as usize];
        src.read_exact_at(&mut bytes, 0).unwrap();
        let dst = disk
            .storage
            .open(&to, wal_io::OpenOptions::create_new())
            .unwrap();
        dst.write_all_at(&bytes, 0).unwrap();
        drop(dst);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::NameMismatch { .. }), "{e}");
        // The same segment with another log id, under its right name.
        let mut header = wal_format::SegmentHeader::decode(&bytes).unwrap();
        header.first_lsn = Lsn::new(7);
        header.log_id = wal_format::LogId::new(header.log_id.get() ^ 1);
        let dst = disk
            .storage
            .open(&to, wal_io::OpenOptions::write())
            .unwrap();
        dst.write_all_at(&header.encode(), 0).unwrap();
        drop(dst);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::ForeignSegment { .. }), "{e}");
        assert!(e.to_string().contains(to.to_str().unwrap()), "{e}");
    }
}

#[test]
fn options_that_make_no_sense_are_refused() {
    for disk in disks(seed()) {
        let mut options = LogOptions::new();
        options.segment_size(100);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e}");
        options
            .segment_size(4096 * 3 + 1)
            .sync_mode(SyncMode::Direct);
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e}");
    }
}

/// The listing readers use (no lock) finds what the log holds, and makes
/// the log's own checks.
#[test]
fn the_lock_free_listing_agrees_with_the_log() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        while log.segments().len() < 3 {
            append(&mut log, 1000).unwrap();
        }
        log.sync().unwrap();
        let listed = wal_io::list_segments(&*disk.storage, &disk.dir).unwrap();
        assert_eq!(listed, log.segments(), "{}", disk.name);
        // A damaged header: the same finding, naming the file.
        let path = disk.dir.join(segment_file_name(Lsn::FIRST));
        let f = disk
            .storage
            .open(&path, wal_io::OpenOptions::write())
            .unwrap();
        f.write_all_at(&[0xff], 20).unwrap();
        drop(f);
        drop(log);
        match wal_io::list_segments(&*disk.storage, &disk.dir) {
            Err(Error::BadSegmentHeader { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{}: {other:?}", disk.name),
        }
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        assert!(matches!(e, Error::BadSegmentHeader { .. }), "{e}");
    }
}
