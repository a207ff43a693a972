//! Preallocation: each mode reserves (or does not reserve) what it says.

use std::os::unix::fs::MetadataExt;

use wal_format::Lsn;
use wal_io::{LogOptions, Preallocation, SegmentLog, SyncMode};

use crate::support::{append, disks, range, read_log, seed};

const SIZE: u64 = 256 * 1024;

fn options(how: Preallocation) -> LogOptions {
    let mut options = LogOptions::new();
    options
        .segment_size(SIZE)
        .preallocation(how)
        .sync_mode(SyncMode::Data)
        .max_payload_len(1 << 20);
    options
}

#[test]
fn each_mode_reserves_what_it_says() {
    for how in [
        Preallocation::None,
        Preallocation::SetLen,
        Preallocation::Allocate,
        Preallocation::ZeroFill,
    ] {
        for disk in disks(seed()) {
            let opts = options(how);
            let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &opts).unwrap();
            append(&mut log, 100).unwrap();
            log.sync().unwrap();
            let info = log.segments()[0].clone();
            let reader = log.open_segment(Lsn::FIRST).unwrap();
            let len = reader.size().unwrap();
            match how {
                Preallocation::None => assert_eq!(len, 96 + 132, "{how:?} {}", disk.name),
                _ => assert_eq!(len, SIZE, "{how:?} {}", disk.name),
            }
            if disk.sim.is_none() {
                // Blocks really reserved: st_blocks counts 512-byte units.
                let meta = std::fs::metadata(info.path()).unwrap();
                let reserved = meta.blocks() * 512;
                match how {
                    Preallocation::None | Preallocation::SetLen => {
                        assert!(reserved < SIZE / 2, "{how:?}: sparse, {reserved} bytes")
                    }
                    _ => assert!(reserved >= SIZE, "{how:?}: {reserved} bytes reserved"),
                }
            }
            if how == Preallocation::ZeroFill || how == Preallocation::Allocate {
                // The space after the data reads as zeros.
                let mut buf = vec![1u8; (SIZE - 4096) as usize];
                reader.read_at(&mut buf, 4096).unwrap();
                assert!(buf.iter().all(|&b| b == 0));
            }
            drop(reader);
            log.close().unwrap();
            let contents = read_log(disk.storage.clone(), &disk.dir, &opts);
            assert_eq!(contents.lsns, range(1, 2));
        }
    }
}

#[test]
fn zero_fill_writes_the_zeros_on_the_simulated_disk() {
    // On the simulated disk zero-fill is visible as data made durable: a
    // crash right after the segment was created keeps the whole file.
    let disk = disks(seed()).remove(0);
    let sim = disk.sim.clone().unwrap();
    let opts = options(Preallocation::ZeroFill);
    let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &opts).unwrap();
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    drop(log);
    sim.crash();
    let path = disk.dir.join(wal_format::segment_file_name(Lsn::FIRST));
    assert_eq!(sim.contents(&path).unwrap().len() as u64, SIZE);
}

#[test]
fn zero_fill_covers_the_whole_spare_with_or_without_o_direct() {
    // The aligned part goes through O_DIRECT where it is allowed, the rest
    // (and everything where it is refused, as on tmpfs) through the page
    // cache; either way the whole file reads as zeros and is durable.
    let size = 3 * 4096 + 1000;
    for direct in [true, false] {
        for disk in disks(seed()) {
            match &disk.sim {
                Some(sim) => sim.set_direct_supported(direct),
                None if !direct => continue,
                None => {}
            }
            let mut opts = options(Preallocation::ZeroFill);
            opts.segment_size(size);
            let mut log = SegmentLog::open(disk.storage.clone(), &disk.dir, &opts).unwrap();
            log.prepare_next().unwrap();
            assert_eq!(log.spare_count(), 1);
            drop(log);
            let spare = disk.dir.join("spare-0.spare");
            let contents = match &disk.sim {
                Some(sim) => {
                    sim.crash();
                    sim.contents(&spare).unwrap()
                }
                None => std::fs::read(&spare).unwrap(),
            };
            assert_eq!(contents.len() as u64, size, "{} direct={direct}", disk.name);
            assert!(
                contents.iter().all(|&b| b == 0),
                "{} direct={direct}",
                disk.name
            );
        }
    }
}

#[test]
fn a_rotation_that_outruns_the_preparer_allocates_instead_of_zero_filling() {
    // With spares prepared elsewhere (prepare_ahead off) and none ready, a
    // rotation creates its file inline: allocated, not zero-filled (that
    // would stall every appender for a segment's worth of writes). With
    // prepare_ahead on, the log prepares its own spares and zero-fills.
    for prepare_ahead in [false, true] {
        let sim = wal_io::sim::SimStorage::new(seed());
        let halting = wal_io::sim::HaltingStorage::new(std::sync::Arc::new(sim));
        let storage: std::sync::Arc<dyn wal_io::Storage> = std::sync::Arc::new(halting.clone());
        let dir = std::path::PathBuf::from("/wal");
        let mut opts = options(Preallocation::ZeroFill);
        opts.prepare_ahead(prepare_ahead);
        let mut log = SegmentLog::open(storage, &dir, &opts).unwrap();
        append(&mut log, 100).unwrap();
        halting.reset_count();
        while log.segments().len() < 2 {
            append(&mut log, 4000).unwrap();
        }
        let spare_writes = halting
            .calls()
            .iter()
            .filter(|c| c.op == "write" && c.path.to_string_lossy().ends_with(".spare"))
            .count();
        let allocations = halting
            .calls()
            .iter()
            .filter(|c| c.op == "allocate")
            .count();
        assert!(allocations >= 1, "prepare_ahead {prepare_ahead}");
        if prepare_ahead {
            // Zero-filled: the zeros, then the header.
            assert!(spare_writes > 1, "prepare_ahead on: {spare_writes} writes");
        } else {
            // Only the header is written before the rename.
            assert_eq!(spare_writes, 1, "prepare_ahead off");
        }
    }
}
