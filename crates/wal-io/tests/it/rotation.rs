//! Rotation: segments named by their first LSN, rotated at the configured
//! size on batch boundaries, with the next one prepared ahead.

use wal_format::{Lsn, SEGMENT_HEADER_LEN, parse_segment_file_name};
use wal_io::{SegmentLog, SyncMode};

use crate::support::{append, append_batch, disks, range, read_log, seed, small_options};

#[test]
fn rotates_at_the_segment_size_on_batch_boundaries() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        // 40 single records of ~1 KiB and 10 batches of 3: about 80 KiB, so
        // about four 16 KiB segments.
        for i in 0..40 {
            append(&mut log, 1000).unwrap();
            if i % 4 == 0 {
                append_batch(&mut log, 3, 500).unwrap();
            }
            log.sync().unwrap();
        }
        let next = log.next_lsn().unwrap();
        assert_eq!(next, Lsn::new(71), "{}", disk.name);
        let segments: Vec<Lsn> = log.segments().iter().map(|s| s.first_lsn()).collect();
        assert!(segments.len() >= 4, "{}: {segments:?}", disk.name);
        assert_eq!(segments[0], Lsn::FIRST);
        for info in log.segments() {
            let name = info.path().file_name().unwrap().to_str().unwrap();
            assert_eq!(parse_segment_file_name(name), Some(info.first_lsn()));
            assert_eq!(info.header().log_id, log.log_id());
            // No segment's data goes past the segment size.
            let reader = log.open_segment(info.first_lsn()).unwrap();
            let mut iter = reader.records(1 << 20);
            let last_end = iter.by_ref().map(|r| r.unwrap().end()).max().unwrap();
            assert!(last_end <= 16 * 1024, "{}: {last_end}", disk.name);
            assert!(iter.end().unwrap().is_clean());
        }
        // Salts differ between segments.
        let mut salts: Vec<u64> = log
            .segments()
            .iter()
            .map(|s| s.header().salt.get())
            .collect();
        salts.dedup();
        assert_eq!(salts.len(), log.segments().len());
        // The next segment is ready before it is needed.
        assert_eq!(log.spare_count(), 1, "{}", disk.name);
        log.close().unwrap();

        // read_log checks every segment starts on a record (and so on a
        // batch) boundary: a batch's marker has the LSN of its first record,
        // and the first record of a segment has the segment's LSN.
        let contents = read_log(disk.storage.clone(), &disk.dir, &options);
        assert_eq!(contents.lsns, range(1, 71), "{}", disk.name);
        assert_eq!(contents.segments, segments);
    }
}

#[test]
fn a_batch_larger_than_a_segment_gets_a_segment_of_its_own() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        append(&mut log, 100).unwrap();
        append(&mut log, 40_000).unwrap();
        append(&mut log, 100).unwrap();
        log.sync().unwrap();
        let segments: Vec<Lsn> = log.segments().iter().map(|s| s.first_lsn()).collect();
        assert_eq!(
            segments,
            [Lsn::new(1), Lsn::new(2), Lsn::new(3)],
            "{}",
            disk.name
        );
        drop(log);
        let contents = read_log(disk.storage.clone(), &disk.dir, &options);
        assert_eq!(contents.lsns, range(1, 4));
    }
}

#[test]
fn resume_appends_after_the_end_of_data_and_cuts_what_follows() {
    for disk in disks(seed()) {
        let options = small_options(SyncMode::Data);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        for _ in 0..5 {
            append(&mut log, 100).unwrap();
        }
        log.sync().unwrap();
        let (_, end) = log.append_position().unwrap();
        drop(log);
        // A reopened log must be told where its data ends.
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        assert!(matches!(
            append(&mut log, 10),
            Err(wal_io::Error::NotResumed { .. })
        ));
        // Resume before the last record, as if it were torn: it is cut off.
        let fifth = end - (32 + 100);
        log.resume(fifth, Lsn::new(5)).unwrap();
        assert_eq!(append(&mut log, 100).unwrap(), Lsn::new(5));
        log.sync().unwrap();
        drop(log);
        let contents = read_log(disk.storage.clone(), &disk.dir, &options);
        assert_eq!(contents.lsns, range(1, 6), "{}", disk.name);
        assert!(contents.end_offset.unwrap() >= SEGMENT_HEADER_LEN as u64);
    }
}

#[test]
fn appends_must_continue_the_lsns() {
    for disk in disks(seed()) {
        let mut log = SegmentLog::open(
            disk.storage.clone(),
            &disk.dir,
            &small_options(SyncMode::Data),
        )
        .unwrap();
        append(&mut log, 10).unwrap();
        let e = log.begin_batch(Lsn::new(7), 42).unwrap_err();
        assert!(matches!(e, wal_io::Error::LsnMismatch { .. }), "{e}");
        assert!(e.to_string().contains(disk.dir.to_str().unwrap()));
    }
}

#[test]
fn a_spare_prepared_on_another_thread_is_used_by_the_next_rotation() {
    for disk in disks(seed()) {
        let mut options = small_options(SyncMode::Data);
        options.prepare_ahead(false);
        let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        append(&mut log, 100).unwrap();
        assert_eq!(log.spare_count(), 0);
        let preparer = log.spare_preparer();
        assert!(preparer.is_needed());
        let made = std::thread::spawn(move || preparer.prepare().unwrap())
            .join()
            .unwrap();
        assert!(made);
        assert_eq!(log.spare_count(), 1);
        assert!(!log.spare_preparer().prepare().unwrap(), "one is enough");
        let before = log.segments().len();
        while log.segments().len() == before {
            append(&mut log, 1000).unwrap();
        }
        assert_eq!(
            log.spare_count(),
            0,
            "{}: the rotation took the spare",
            disk.name
        );
        // The new segment is the prepared file, renamed: no spare left on disk.
        let names: Vec<String> = disk
            .storage
            .list_dir(&disk.dir)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".spare")), "{names:?}");
        log.sync().unwrap();
    }
}
