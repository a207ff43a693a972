//! The same on the real file system.

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

use wal_commit::Committer;
use wal_io::{FileStorage, LogOptions, Storage};
use wal_reader::{TailKind, recover};

use crate::support::*;

#[test]
fn round_trip_torn_tail_and_append_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let written = write_mixed(storage.clone(), &dir, 120, 9);
    let got = read_all(storage.clone(), &dir, &read_options()).unwrap();
    assert_eq!(as_expected(&got), written);

    let options: LogOptions = log_options();
    let (log, report) = recover(storage.clone(), &dir, &options, &read_options()).unwrap();
    drop(log);
    assert_eq!(report.last_lsn.get(), written.len() as u64);
    assert_eq!(report.tail, TailKind::ZeroFilled);
    let end = report.durable_end.unwrap();

    // A torn write after the last record.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&end.segment)
        .unwrap();
    f.seek(SeekFrom::Start(end.offset)).unwrap();
    f.write_all(&[0xAB; 50]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let (log, report) = recover(storage.clone(), &dir, &options, &read_options()).unwrap();
    assert_eq!(report.tail, TailKind::Torn);
    assert!(report.truncated_bytes >= 50);
    assert_eq!(report.last_lsn.get(), written.len() as u64);
    let c = Committer::from_log(log, &commit_options()).unwrap();
    c.append(b"after").unwrap();
    c.close().unwrap();
    let (_, report) = recover(storage.clone(), &dir, &options, &read_options()).unwrap();
    assert_eq!(report.last_lsn.get(), written.len() as u64 + 1);
    assert_ne!(report.tail, TailKind::Torn);
}
