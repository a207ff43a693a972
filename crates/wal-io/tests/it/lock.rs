//! The directory lock: a second opener, in this process or another, gets
//! `Error::Locked`; the lock goes with the log.

use std::process::Command;
use std::sync::Arc;

use wal_io::{Error, FileStorage, LogOptions, SegmentLog};

use crate::support::{disks, seed};

const CHILD_ENV: &str = "WAL_IO_LOCK_CHILD_DIR";

#[test]
fn a_second_opener_in_this_process_is_refused() {
    for disk in disks(seed()) {
        let options = LogOptions::new();
        let log = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
        let e = SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap_err();
        let Error::Locked { pid, .. } = &e else {
            panic!("{}: {e}", disk.name);
        };
        assert!(e.to_string().contains(disk.dir.to_str().unwrap()), "{e}");
        // The real file system on Linux names the holder: this process.
        if disk.sim.is_none() && proc_locks() {
            assert_eq!(*pid, Some(std::process::id()), "{e}");
            assert!(e.to_string().contains("(this process)"), "{e}");
        } else {
            assert_eq!(*pid, None, "{}: {e}", disk.name);
        }
        drop(log);
        // Released with the log.
        SegmentLog::open(disk.storage.clone(), &disk.dir, &options).unwrap();
    }
}

/// Not a test on its own: run by `a_second_opener_in_another_process_is_refused`
/// in a child process, it tries to open the directory named in its
/// environment and exits 17 if the lock was refused.
#[test]
fn lock_child_helper() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    match SegmentLog::open(Arc::new(FileStorage::new()), dir, &LogOptions::new()) {
        // Refused, naming the holder (the parent) where the system tells.
        Err(Error::Locked { pid, .. })
            if !proc_locks() || pid == Some(std::os::unix::process::parent_id()) =>
        {
            std::process::exit(17)
        }
        Err(e) => {
            eprintln!("unexpected error: {e}");
            std::process::exit(1)
        }
        Ok(_) => std::process::exit(0),
    }
}

#[test]
fn a_second_opener_in_another_process_is_refused() {
    let tmp = crate::support::real_tempdir();
    let dir = tmp.path().join("wal");
    let run_child = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "lock::lock_child_helper", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .status()
            .unwrap()
            .code()
    };
    let log = SegmentLog::open(Arc::new(FileStorage::new()), &dir, &LogOptions::new()).unwrap();
    assert_eq!(run_child(), Some(17), "the child was not refused");
    drop(log);
    assert_eq!(
        run_child(),
        Some(0),
        "the child could not open a free directory"
    );
}

/// Whether the system lists its locks (Linux's `/proc/locks`).
fn proc_locks() -> bool {
    std::path::Path::new("/proc/locks").exists()
}
