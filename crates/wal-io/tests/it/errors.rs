//! Bad input gets a typed error naming the path: a missing or unwritable
//! directory, a segment header that does not verify, a segment of another
//! log; foreign files are reported and left alone.

use std::sync::Arc;

use wal_format::{Lsn, segment_file_name};
use wal_io::{Error, FileStorage, LogOptions, SegmentLog, SyncMode};

use crate::support::{disks, real_tempdir, seed, small_options};

#[test]
fn a_missing_directory_is_created_or_reported() {
    for disk in disks(seed()) {
        let mut options = LogOptions::new();
        options.create(false);
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::MissingDir { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("wal directory {} does not exist", disk.dir.display())
        );
        options.create(true);
        disk.open(&options).unwrap();
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
        drop(disk.log_of_segments(&options, 3));
        let foreign = disk.dir.join("notes.txt");
        disk.create_file(&foreign, b"mine");
        let mut log = disk.open(&options).unwrap();
        assert_eq!(log.foreign_files(), std::slice::from_ref(&foreign));
        let last = log.segments()[2].first_lsn();
        log.purge_below(last).unwrap();
        log.truncate_from(last).unwrap();
        drop(log);
        assert_eq!(disk.read_file(&foreign), b"mine", "{}", disk.name);
    }
}

#[test]
fn a_damaged_segment_header_is_reported_with_its_path() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let path = disk.one_record_log(&options);
        disk.write_at(&path, 20, &[0xff]);
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::BadSegmentHeader { .. }), "{e}");
        assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}

#[test]
fn a_segment_under_another_name_or_of_another_log_is_reported() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        // A copy of segment 1 named as segment 7.
        let from = disk.one_record_log(&options);
        let to = disk.dir.join(segment_file_name(Lsn::new(7)));
        let bytes = disk.read_file(&from);
        disk.create_file(&to, &bytes);
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::NameMismatch { .. }), "{e}");
        // The same segment with another log id, under its right name.
        let mut header = wal_format::SegmentHeader::decode(&bytes).unwrap();
        header.first_lsn = Lsn::new(7);
        header.log_id = wal_format::LogId::new(header.log_id.get() ^ 1);
        disk.write_at(&to, 0, &header.encode());
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::ForeignSegment { .. }), "{e}");
        assert!(e.to_string().contains(to.to_str().unwrap()), "{e}");
    }
}

#[test]
fn options_that_make_no_sense_are_refused() {
    for disk in disks(seed()) {
        let mut options = LogOptions::new();
        options.segment_size(100);
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e}");
        options
            .segment_size(4096 * 3 + 1)
            .sync_mode(SyncMode::Direct);
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e}");
    }
}

/// The listing readers use (no lock) finds what the log holds, and makes
/// the log's own checks.
#[test]
fn the_lock_free_listing_agrees_with_the_log() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let log = disk.log_of_segments(&options, 3);
        let listed = wal_io::list_segments(&*disk.storage, &disk.dir).unwrap();
        assert_eq!(listed, log.segments(), "{}", disk.name);
        // A damaged header: the same finding, naming the file.
        let path = disk.dir.join(segment_file_name(Lsn::FIRST));
        disk.write_at(&path, 20, &[0xff]);
        drop(log);
        match wal_io::list_segments(&*disk.storage, &disk.dir) {
            Err(Error::BadSegmentHeader { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{}: {other:?}", disk.name),
        }
        let e = disk.open(&options).unwrap_err();
        assert!(matches!(e, Error::BadSegmentHeader { .. }), "{e}");
    }
}
