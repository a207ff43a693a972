//! Recycling: purged segments become spares, reused with a new salt; the
//! records left in them are never taken for new ones.

use std::os::unix::fs::MetadataExt;

use wal_format::{Error as FormatError, Lsn, RECORD_HEADER_LEN, RecordDecoder, SEGMENT_HEADER_LEN};
use wal_io::{ScanEnd, SegmentLog, SyncMode};

use crate::support::{append, disks, range, read_log, seed, small_options};

#[test]
fn purged_segments_are_reused_with_a_new_salt_and_stale_records_rejected() {
    for disk in disks(seed()) {
        let mut options = small_options(SyncMode::Data);
        options.max_spares(4).prepare_ahead(false);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        // Fill three segments with 1 KiB records.
        while log.segments().len() < 3 {
            append(&mut log, 1000).unwrap();
        }
        log.sync().unwrap();
        let first = log.segments()[0].clone();
        let old_salt = first.header().salt;
        let old_ino = (disk.sim.is_none()).then(|| std::fs::metadata(first.path()).unwrap().ino());
        let second_lsn = log.segments()[1].first_lsn();
        assert_eq!(log.purge_below(second_lsn).unwrap(), 1);
        assert_eq!(log.spare_count(), 1);
        assert!(!log.segments().iter().any(|s| s.first_lsn() == Lsn::FIRST));

        // The next rotation takes the spare: a new name, a new salt.
        let before = log.segments().len();
        while log.segments().len() == before {
            append(&mut log, 1000).unwrap();
        }
        // Same size as the old records, so the new data ends on an old
        // record's boundary. The write pads the rest of its last page with
        // zeros (so the kernel need not read that page first); the next
        // old record after the pad is a stale one.
        append(&mut log, 1000).unwrap();
        log.sync().unwrap();
        assert_eq!(log.spare_count(), 0, "{}", disk.name);
        let newest = log.segments().last().unwrap().clone();
        assert_ne!(newest.header().salt, old_salt);
        if let Some(ino) = old_ino {
            assert_eq!(
                std::fs::metadata(newest.path()).unwrap().ino(),
                ino,
                "same file reused"
            );
        }
        // Its records: the new ones, then zeros to the end of the page.
        let reader = log.open_segment(newest.first_lsn()).unwrap();
        let mut iter = reader.records(1 << 20);
        let records: Vec<_> = iter.by_ref().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].header.lsn, newest.first_lsn());
        let end = match iter.end().unwrap() {
            ScanEnd::NotARecord {
                reason: FormatError::ZeroFilled,
                offset,
            } => *offset,
            other => panic!("{}: expected the zero pad, got {other:?}", disk.name),
        };
        // After the pad, the old records are still there, and rejected as
        // stale: the first old record boundary past the page end holds a
        // header with the old salt, which the new salt's decoder refuses.
        let record_len = (RECORD_HEADER_LEN + 1000) as u64;
        let page_end = end.div_ceil(4096) * 4096;
        let stale_at = SEGMENT_HEADER_LEN as u64
            + (page_end - SEGMENT_HEADER_LEN as u64).div_ceil(record_len) * record_len;
        let file = disk
            .storage
            .open(newest.path(), wal_io::OpenOptions::read())
            .unwrap();
        let mut header = [0u8; RECORD_HEADER_LEN];
        file.read_exact_at(&mut header, stale_at).unwrap();
        let decoder = RecordDecoder::new(newest.header().salt, 1 << 20);
        match decoder.decode_header(&header) {
            Err(FormatError::WrongSalt { found, .. }) => {
                assert_eq!(found, old_salt, "{}", disk.name);
            }
            other => panic!("{}: expected a stale record, got {other:?}", disk.name),
        }
        let next = log.next_lsn().unwrap();
        drop(reader);
        log.close().unwrap();
        let contents = read_log(disk.storage.clone(), &disk.dir, &options);
        assert_eq!(contents.lsns, range(second_lsn.get(), next.get()));
    }
}

#[test]
fn without_recycling_purged_segments_are_removed() {
    for disk in disks(seed()) {
        let mut options = small_options(SyncMode::Data);
        options.max_spares(0).prepare_ahead(false);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        while log.segments().len() < 4 {
            append(&mut log, 1000).unwrap();
        }
        let keep = log.segments()[2].first_lsn();
        // Purging below an LSN inside segment 3 drops segments 1 and 2 only.
        assert_eq!(log.purge_below(keep.checked_add(1).unwrap()).unwrap(), 2);
        assert_eq!(log.spare_count(), 0);
        // The last segment is never purged.
        assert_eq!(log.purge_below(Lsn::MAX).unwrap(), 1);
        assert_eq!(log.segments().len(), 1);
        let files = disk.storage.list_dir(&disk.dir).unwrap();
        let names: Vec<&str> = files.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), 2, "{}: {names:?}", disk.name); // LOCK + 1 segment
    }
}
