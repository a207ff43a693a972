//! Every sync mode, on the simulated disk (where durability is checked
//! with a crash) and on the real one.

use std::sync::Arc;

use wal_format::Lsn;
use wal_io::{Error, FileStorage, LogOptions, SegmentLog, SyncMode};

use crate::support::{
    SIM_DIR, append, disks, range, read_log, real_tempdir, seed, sim, small_options,
};

const ALL: [SyncMode; 5] = [
    SyncMode::None,
    SyncMode::Data,
    SyncMode::All,
    SyncMode::Dsync,
    SyncMode::Direct,
];

/// Whether O_DIRECT works on the file system of the real test directory.
fn real_direct_supported() -> Result<(), String> {
    let tmp = real_tempdir();
    let path = tmp.path().join("probe");
    std::fs::write(&path, b"").map_err(|e| e.to_string())?;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn every_mode_writes_what_reads_back() {
    for mode in ALL {
        for disk in disks(seed()) {
            if disk.sim.is_none()
                && mode == SyncMode::Direct
                && let Err(why) = real_direct_supported()
            {
                eprintln!("skipping O_DIRECT on the real disk: {why}");
                continue;
            }
            let options = small_options(mode);
            let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
            // Odd sizes, so Direct rewrites partly filled blocks, across
            // several rotations.
            for i in 0..60 {
                append(&mut log, 37 + (i * 101) % 1500).unwrap();
                log.sync().unwrap();
            }
            let next = log.next_lsn().unwrap();
            assert!(log.segments().len() > 2);
            log.close().unwrap();
            let contents = read_log(disk.storage.clone(), &disk.dir, &options);
            assert_eq!(
                contents.lsns,
                range(1, next.get()),
                "{mode:?} {}",
                disk.name
            );
        }
    }
}

#[test]
fn synced_appends_survive_a_power_loss_in_every_durable_mode() {
    for mode in [
        SyncMode::Data,
        SyncMode::All,
        SyncMode::Dsync,
        SyncMode::Direct,
    ] {
        for round in 0..8 {
            let s = sim(seed() + round);
            let options = small_options(mode);
            let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
            for i in 0..30 {
                append(&mut log, 200 + i * 37).unwrap();
                // Dsync and Direct are durable without a sync call.
                if !mode.is_dsync() {
                    log.sync().unwrap();
                }
            }
            drop(log);
            s.crash();
            let contents = read_log(Arc::new(s.clone()), SIM_DIR.as_ref(), &options);
            assert_eq!(contents.lsns, range(1, 31), "{mode:?} round {round}");
        }
    }
}

#[test]
fn without_a_sync_a_power_loss_loses_appends() {
    // The converse, so the test above means something: in mode None (and
    // in mode Data without a sync call) some appends are lost.
    for mode in [SyncMode::None, SyncMode::Data] {
        let mut lost = false;
        for round in 0..8 {
            let s = sim(seed() + round);
            let options = small_options(mode);
            let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
            for _ in 0..10 {
                append(&mut log, 600).unwrap();
            }
            if mode == SyncMode::None {
                log.sync().unwrap(); // does nothing
            }
            drop(log);
            s.crash();
            let contents = read_log(Arc::new(s.clone()), SIM_DIR.as_ref(), &options);
            lost |= contents.lsns.len() < 10;
        }
        assert!(lost, "{mode:?}: nothing was ever lost");
    }
}

#[test]
fn direct_is_refused_where_the_file_system_cannot_do_it() {
    let s = sim(seed());
    s.set_direct_supported(false);
    let e = SegmentLog::open(Arc::new(s), SIM_DIR, &small_options(SyncMode::Direct)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedSyncMode {
                mode: SyncMode::Direct,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(SIM_DIR), "{e}");

    // tmpfs rejects O_DIRECT: if /dev/shm is a tmpfs, the real storage must
    // refuse there too.
    let shm = std::path::Path::new("/dev/shm");
    let Ok(tmp) = tempfile::tempdir_in(shm) else {
        eprintln!("skipping the tmpfs case: no writable /dev/shm");
        return;
    };
    let r = SegmentLog::open(
        Arc::new(FileStorage::new()),
        tmp.path().join("wal"),
        &small_options(SyncMode::Direct),
    );
    match r {
        Err(Error::UnsupportedSyncMode { .. }) => {}
        Ok(_) => eprintln!("/dev/shm accepts O_DIRECT here (not tmpfs?): nothing to check"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn a_failed_sync_fails_the_log_until_reopened() {
    let s = sim(seed());
    let options = small_options(SyncMode::Data);
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    append(&mut log, 100).unwrap();
    s.inject(wal_io::sim::Fault::SyncEioForgets);
    assert!(matches!(log.sync(), Err(Error::Io { .. })));
    // The retry would "succeed" on the disk; the log refuses instead.
    assert!(matches!(log.sync(), Err(Error::Failed { .. })));
    assert!(matches!(append(&mut log, 100), Err(Error::Failed { .. })));
    drop(log);
    let log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    assert_eq!(log.segments().len(), 1);
    let _ = Lsn::FIRST;
    let _: LogOptions = options;
}

#[test]
fn one_sync_covers_appends_made_before_a_rotation() {
    // The caller syncs once per group of appends; a rotation in the middle
    // of the group must not leave the earlier segment's appends unsynced.
    for mode in [SyncMode::Data, SyncMode::All] {
        for round in 0..8 {
            let s = sim(seed() + round);
            let options = small_options(mode);
            let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
            for _ in 0..40 {
                append(&mut log, 1000).unwrap();
            }
            assert!(log.segments().len() >= 2);
            log.sync().unwrap();
            drop(log);
            s.crash();
            let contents = read_log(Arc::new(s.clone()), SIM_DIR.as_ref(), &options);
            assert_eq!(contents.lsns, range(1, 41), "{mode:?} round {round}");
        }
    }
}

/// `writeback_bytes`: once that many bytes were written since the last
/// sync (or the last start), their writeback is started, over exactly
/// those bytes; a sync starts the count again; off at 0 and in the modes
/// whose writes need no sync.
#[test]
fn writeback_starts_every_writeback_bytes_written_without_a_sync() {
    // Records of 1000 payload bytes are 1032 bytes on disk: the third
    // crosses 3000 (3096 bytes pending), and so does every third after.
    let run = |mode: SyncMode, threshold: u64, appends: usize, sync_after: Option<usize>| {
        let sim = sim(seed());
        let mut options = small_options(mode);
        options.segment_size(1 << 20).writeback_bytes(threshold);
        let mut log = SegmentLog::open(Arc::new(sim.clone()), SIM_DIR, &options).unwrap();
        for i in 0..appends {
            append(&mut log, 1000).unwrap();
            if sync_after == Some(i) {
                log.sync().unwrap();
            }
        }
        let stats = sim.stats();
        log.close().unwrap();
        (stats.writebacks, stats.writeback_bytes)
    };
    assert_eq!(run(SyncMode::Data, 3000, 9, None), (3, 3 * 3096));
    assert_eq!(run(SyncMode::All, 3000, 10, None), (3, 3 * 3096));
    // A sync after the second record: the count starts again after it.
    assert_eq!(run(SyncMode::Data, 3000, 9, Some(1)), (2, 2 * 3096));
    assert_eq!(run(SyncMode::Data, 0, 9, None), (0, 0));
    for mode in [SyncMode::None, SyncMode::Dsync, SyncMode::Direct] {
        assert_eq!(run(mode, 3000, 9, None), (0, 0), "{mode:?}");
    }
}
