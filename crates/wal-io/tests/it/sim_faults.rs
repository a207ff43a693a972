//! The simulated disk does what it claims: each fault and each part of the
//! crash model is observed here.

use std::io;
use std::path::Path;
use std::sync::Arc;

use wal_io::sim::{Fault, HaltingStorage, SIM_SECTOR, SimStorage};
use wal_io::{OpenOptions, Storage};

use crate::support::{seed, sim};

const DIR: &str = "/d";

fn file(sim: &SimStorage, name: &str) -> Box<dyn wal_io::StorageFile> {
    sim.create_dir_all(Path::new(DIR)).unwrap();
    sim.open(&Path::new(DIR).join(name), OpenOptions::create())
        .unwrap()
}

fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

#[test]
fn synced_data_survives_a_crash_and_unsynced_data_can_vanish() {
    let s = sim(seed());
    let f = file(&s, "a");
    s.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&[1u8; 4096], 0).unwrap();
    f.sync_data().unwrap();
    f.write_all_at(&[2u8; 4096], 4096).unwrap();
    s.crash();
    let after = s.contents(&Path::new(DIR).join("a")).unwrap();
    assert_eq!(&after[..4096], &[1u8; 4096][..], "synced data is durable");
    // The unsynced sectors each survived or not: the stats account for all 8.
    let st = s.stats();
    assert_eq!(st.sectors_lost + st.sectors_kept, 8);
    // Over a few seeds, some sector is lost and some kept (the model is
    // random, not all-or-nothing).
    let (mut lost, mut kept) = (0, 0);
    for sd in 0..16u64 {
        let s = SimStorage::new(sd);
        let f = file(&s, "a");
        s.sync_dir(Path::new(DIR)).unwrap();
        f.write_all_at(&[2u8; 8 * 512], 0).unwrap();
        s.crash();
        lost += s.stats().sectors_lost;
        kept += s.stats().sectors_kept;
    }
    assert!(lost > 0 && kept > 0, "lost {lost}, kept {kept}");
}

#[test]
fn a_crash_can_tear_a_write_at_a_sector_boundary() {
    // Find a seed where a 4-sector write survives in part: then the file
    // holds new sectors next to old ones, never a torn sector.
    for sd in 0..64u64 {
        let s = SimStorage::new(sd);
        let f = file(&s, "a");
        f.write_all_at(&[0xaa; 4 * 512], 0).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(Path::new(DIR)).unwrap();
        f.write_all_at(&[0xbb; 4 * 512], 0).unwrap();
        s.crash();
        let data = s.contents(&Path::new(DIR).join("a")).unwrap();
        let sectors: Vec<u8> = data.chunks(512).map(|c| c[0]).collect();
        for c in data.chunks(512) {
            assert!(c.iter().all(|&b| b == c[0]), "a sector is never torn");
        }
        if sectors.contains(&0xaa) && sectors.contains(&0xbb) {
            return;
        }
    }
    panic!("no seed tore the write");
}

#[test]
fn new_files_need_a_directory_sync() {
    // Without a directory sync a created (and fsynced) file may vanish; with
    // one it stays.
    let mut vanished = 0;
    for sd in 0..16u64 {
        let s = SimStorage::new(sd);
        let f = file(&s, "new");
        f.write_all_at(b"x", 0).unwrap();
        f.sync_all().unwrap();
        s.crash();
        if s.contents(&Path::new(DIR).join("new")).is_err() {
            vanished += 1;
        }
        let s = SimStorage::new(sd);
        let f = file(&s, "new");
        f.write_all_at(b"x", 0).unwrap();
        f.sync_all().unwrap();
        s.sync_dir(Path::new(DIR)).unwrap();
        s.crash();
        assert_eq!(s.contents(&Path::new(DIR).join("new")).unwrap(), b"x");
    }
    assert!(vanished > 0, "an unsynced create always survived");
}

#[test]
fn renames_and_removes_need_a_directory_sync() {
    let mut undone = 0;
    for sd in 0..16u64 {
        let s = SimStorage::new(sd);
        let f = file(&s, "a");
        f.write_all_at(b"a", 0).unwrap();
        f.sync_all().unwrap();
        let g = file(&s, "b");
        g.sync_all().unwrap();
        s.sync_dir(Path::new(DIR)).unwrap();
        s.rename(&Path::new(DIR).join("a"), &Path::new(DIR).join("c"))
            .unwrap();
        s.remove_file(&Path::new(DIR).join("b")).unwrap();
        s.crash();
        let names: Vec<String> = s
            .list_dir(Path::new(DIR))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        // A crash keeps a prefix of the changes: never neither name.
        assert!(names.contains(&"a".into()) || names.contains(&"c".into()));
        if names.contains(&"a".into()) || names.contains(&"b".into()) {
            undone += 1;
        }
    }
    assert!(undone > 0, "unsynced renames and removes always survived");
}

#[test]
fn size_changes_are_durable_only_after_a_sync() {
    let mut reverted = 0;
    for sd in 0..16u64 {
        let s = SimStorage::new(sd);
        let f = file(&s, "a");
        f.write_all_at(&[1; 1000], 0).unwrap();
        f.sync_all().unwrap();
        s.sync_dir(Path::new(DIR)).unwrap();
        f.set_len(10).unwrap();
        s.crash();
        let len = s.contents(&Path::new(DIR).join("a")).unwrap().len();
        assert!(len == 10 || len == 1000);
        if len == 1000 {
            reverted += 1;
        }
        // After a sync the new size is durable.
        let f = s
            .open(&Path::new(DIR).join("a"), OpenOptions::write())
            .unwrap();
        f.set_len(10).unwrap();
        f.sync_data().unwrap();
        s.crash();
        assert_eq!(s.contents(&Path::new(DIR).join("a")).unwrap().len(), 10);
    }
    assert!(reverted > 0);
}

#[test]
fn write_eio_and_enospc_write_nothing() {
    let s = sim(seed());
    let f = file(&s, "a");
    s.inject(Fault::WriteEio);
    let e = f.write_at(b"abc", 0).unwrap_err();
    assert_eq!(errno(&e), Some(libc::EIO));
    s.inject(Fault::WriteEnospc);
    let e = f.write_at(b"abc", 0).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    assert_eq!(f.size().unwrap(), 0);
    // The next write, with no fault queued, works.
    assert_eq!(f.write_at(b"abc", 0).unwrap(), 3);
    assert_eq!(s.stats().faults, 2);
}

#[test]
fn short_writes_and_a_full_disk() {
    let s = sim(seed());
    let f = file(&s, "a");
    s.inject(Fault::ShortWrite);
    assert_eq!(f.write_at(&[7; 4096], 0).unwrap(), 2048);
    // A capacity: the write that crosses it is short, the next gets ENOSPC.
    s.set_capacity(Some(3000));
    assert_eq!(f.write_at(&[7; 2048], 2048).unwrap(), 952);
    let e = f.write_at(&[7; 10], 3000).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    let e = f.allocate(3000, 4096).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    // Overwriting allocated space still works on a full disk.
    assert_eq!(f.write_at(&[8; 100], 0).unwrap(), 100);
}

#[test]
fn read_eio_and_bit_flips() {
    let s = sim(seed());
    let f = file(&s, "a");
    f.write_all_at(&[0u8; 64], 0).unwrap();
    s.inject(Fault::ReadEio);
    let mut buf = [0u8; 64];
    assert_eq!(errno(&f.read_at(&mut buf, 0).unwrap_err()), Some(libc::EIO));
    s.inject(Fault::BitFlipOnRead);
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 64);
    let ones: u32 = buf.iter().map(|b| b.count_ones()).sum();
    assert_eq!(ones, 1, "exactly one bit flipped");
    // The stored data is unharmed.
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [0u8; 64]);
}

#[test]
fn a_failed_fsync_then_reports_success_but_the_data_is_gone() {
    let s = sim(seed());
    let f = file(&s, "a");
    f.write_all_at(&[1; 512], 0).unwrap();
    f.sync_data().unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&[2; 512], 0).unwrap();
    s.inject(Fault::SyncEioForgets);
    assert_eq!(errno(&f.sync_data().unwrap_err()), Some(libc::EIO));
    // The retry "succeeds", and reads still see the new data (page cache)...
    f.sync_data().unwrap();
    let mut buf = [0u8; 512];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf, [2; 512]);
    // ...but it never reached the disk.
    s.crash();
    assert_eq!(s.contents(&Path::new(DIR).join("a")).unwrap(), vec![1; 512]);
}

#[test]
fn a_plain_sync_eio_keeps_the_data_dirty() {
    let s = sim(seed());
    let f = file(&s, "a");
    s.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&[3; 512], 0).unwrap();
    s.inject(Fault::SyncEio);
    assert!(f.sync_data().is_err());
    f.sync_data().unwrap();
    s.crash();
    assert_eq!(s.contents(&Path::new(DIR).join("a")).unwrap(), vec![3; 512]);
}

#[test]
fn a_lost_write_is_acknowledged_visible_and_then_gone() {
    let s = sim(seed());
    let f = file(&s, "a");
    f.write_all_at(&[1; 1024], 0).unwrap();
    f.sync_data().unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    s.inject(Fault::LostWrite);
    assert_eq!(f.write_at(&[9; 512], 512).unwrap(), 512);
    let mut buf = [0u8; 512];
    f.read_exact_at(&mut buf, 512).unwrap();
    assert_eq!(buf, [9; 512], "visible before the crash");
    f.sync_data().unwrap();
    s.crash();
    assert_eq!(
        s.contents(&Path::new(DIR).join("a")).unwrap(),
        vec![1; 1024]
    );
}

#[test]
fn faults_at_a_seeded_rate_are_deterministic() {
    let run = |sd: u64| {
        let s = SimStorage::new(sd);
        s.set_fault_rate(Fault::WriteEio, 200_000);
        let f = file(&s, "a");
        (0..100u64)
            .map(|i| f.write_at(&[1], i).is_err())
            .collect::<Vec<bool>>()
    };
    let a = run(seed());
    assert_eq!(a, run(seed()), "same seed, same faults");
    let n = a.iter().filter(|&&e| e).count();
    assert!((5..=40).contains(&n), "about 20% of 100 writes failed: {n}");
}

#[test]
fn o_dsync_writes_are_durable_at_once_and_o_direct_checks_alignment() {
    let s = sim(seed());
    s.create_dir_all(Path::new(DIR)).unwrap();
    let path = Path::new(DIR).join("a");
    let f = s.open(&path, OpenOptions::create().dsync(true)).unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&[5; 1000], 0).unwrap();
    s.crash();
    assert_eq!(s.contents(&path).unwrap(), vec![5; 1000]);

    let f = s.open(&path, OpenOptions::write().direct(true)).unwrap();
    let e = f.write_at(&[1; 100], 0).unwrap_err();
    assert_eq!(
        errno(&e),
        Some(libc::EINVAL),
        "unaligned O_DIRECT write refused"
    );
    s.set_direct_supported(false);
    let e = s
        .open(&path, OpenOptions::write().direct(true))
        .unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "O_DIRECT refused like tmpfs");
}

#[test]
fn a_crash_kills_old_handles_and_locks() {
    let s = sim(seed());
    let f = file(&s, "a");
    let lock = s.lock_dir(Path::new(DIR), "LOCK").unwrap();
    assert_eq!(
        s.lock_dir(Path::new(DIR), "LOCK").unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    s.crash_process();
    assert_eq!(errno(&f.write_at(b"x", 0).unwrap_err()), Some(libc::EBADF));
    let _again = s.lock_dir(Path::new(DIR), "LOCK").unwrap();
    drop(lock); // an old guard does not release the new holder's lock
    assert!(s.lock_dir(Path::new(DIR), "LOCK").is_err());
}

#[test]
fn halting_storage_numbers_calls_and_stops_at_the_kth() {
    let s = sim(seed());
    let h = HaltingStorage::new(Arc::new(s.clone()));
    h.create_dir_all(Path::new(DIR)).unwrap();
    let f = h
        .open(&Path::new(DIR).join("a"), OpenOptions::create())
        .unwrap();
    f.write_all_at(b"one", 0).unwrap();
    f.sync_data().unwrap();
    let ops: Vec<&str> = h.calls().iter().map(|c| c.op).collect();
    assert_eq!(ops, ["create_dir_all", "create", "write", "sync_data"]);
    assert_eq!(h.calls_made(), 4);
    h.halt_at(5);
    f.write_all_at(b"two", 3).unwrap(); // call 4 runs
    assert!(f.sync_data().is_err()); // call 5 is refused
    assert!(f.write_at(b"x", 0).is_err());
    let mut buf = [0u8; 1];
    assert!(
        f.read_at(&mut buf, 0).is_err(),
        "after a halt, reads fail too"
    );
    assert_eq!(s.contents(&Path::new(DIR).join("a")).unwrap(), b"onetwo");
    let _ = SIM_SECTOR;
}

#[test]
fn a_fork_is_independent_and_crash_with_is_determined_by_its_seed() {
    use wal_io::sim::LostSectors;
    let s = sim(seed());
    let f = file(&s, "a");
    s.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&[1u8; 4096], 0).unwrap();
    f.sync_data().unwrap();
    f.write_all_at(&[2u8; 8192], 2048).unwrap();
    let path = Path::new(DIR).join("a");
    let (a, b) = (s.fork(), s.fork());
    a.crash_with(42, LostSectors::Old);
    b.crash_with(42, LostSectors::Old);
    assert_eq!(a.contents(&path).unwrap(), b.contents(&path).unwrap());
    // The original is untouched by the forks' crashes, and its handle
    // still works (it never reaches the forks).
    assert_eq!(s.contents(&path).unwrap().len(), 10240);
    f.write_all_at(&[3u8; 10], 0).unwrap();
    assert_eq!(a.contents(&path).unwrap()[..4], [1u8; 4][..]);
    // Different seeds give different post-crash states of one disk.
    let states: std::collections::BTreeSet<Vec<u8>> = (0..16)
        .map(|k| {
            let c = s.fork();
            c.crash_with(k, LostSectors::Old);
            c.contents(&path).unwrap()
        })
        .collect();
    assert!(states.len() > 1);
}

#[test]
fn lost_sectors_can_be_zeroed_or_garbage_where_the_lost_writes_changed_them() {
    use wal_io::sim::LostSectors;
    let path = Path::new(DIR).join("a");
    for lost in [LostSectors::Zeroed, LostSectors::Garbage] {
        let s = sim(seed());
        let f = file(&s, "a");
        s.sync_dir(Path::new(DIR)).unwrap();
        f.write_all_at(&[1u8; 8192], 0).unwrap();
        f.sync_data().unwrap();
        // Overwrite the second half of each sector with 2s, unsynced.
        for sector in 0..16u64 {
            f.write_all_at(&[2u8; 256], sector * SIM_SECTOR + 256)
                .unwrap();
        }
        let mut seen_lost = false;
        for k in 0..8 {
            let c = s.fork();
            c.crash_with(k, lost);
            let after = c.contents(&path).unwrap();
            assert_eq!(after.len(), 8192);
            for sector in after.chunks(SIM_SECTOR as usize) {
                // Bytes no lost write changed keep their durable value.
                assert!(sector[..256].iter().all(|&b| b == 1), "{lost:?}");
                let tail = &sector[256..];
                if tail.iter().all(|&b| b == 2) {
                    continue; // kept
                }
                seen_lost = true;
                match lost {
                    LostSectors::Zeroed => assert!(tail.iter().all(|&b| b == 0)),
                    _ => assert!(tail.iter().any(|&b| b != 0 && b != 1 && b != 2)),
                }
            }
        }
        assert!(seen_lost, "{lost:?}: no sector lost in 8 crashes");
    }
}
