//! What a log costs on disk, on a real directory with the default
//! options: a small log holds one segment and no spare; the spare comes
//! once the segment being written is half full.

use std::path::Path;

use groupwal::{Wal, WalOptions};

/// The log's segment and spare files, by kind.
fn files(dir: &Path) -> (usize, usize) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let segments = names.iter().filter(|n| n.ends_with(".wal")).count();
    let spares = names.iter().filter(|n| n.ends_with(".spare")).count();
    (segments, spares)
}

#[test]
fn a_small_log_takes_one_segment_and_no_spare() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::new();
    let (wal, _) = Wal::open(dir.path(), &options).unwrap();
    wal.append(b"one").unwrap();
    wal.append(b"two").unwrap();
    // Close joins the preparing thread: a spare it was asked for exists.
    wal.close().unwrap();
    assert_eq!(files(dir.path()), (1, 0));

    // Reopened, appended to, closed: still no spare.
    let (wal, _) = Wal::open(dir.path(), &options).unwrap();
    wal.append(b"three").unwrap();
    wal.close().unwrap();
    assert_eq!(files(dir.path()), (1, 0));
}

#[test]
fn a_segment_past_its_half_gets_a_spare() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = WalOptions::new();
    options.segment_size(1 << 20);
    let (wal, _) = Wal::open(dir.path(), &options).unwrap();
    // Just over half of the first segment, in one group.
    let records: Vec<Vec<u8>> = (0..9).map(|_| vec![7u8; 64 << 10]).collect();
    wal.append_batch(&records).unwrap();
    wal.close().unwrap();
    assert_eq!(files(dir.path()), (1, 1));

    // A log reopened past its half gets its spare at once.
    let spare = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "spare"))
        .unwrap();
    std::fs::remove_file(spare).unwrap();
    let (wal, _) = Wal::open(dir.path(), &options).unwrap();
    wal.close().unwrap();
    assert_eq!(files(dir.path()), (1, 1));
}
