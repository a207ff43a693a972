//! Seeking lands on every LSN; purged LSNs are a clear error.

use wal_format::Lsn;
use wal_reader::{Error, LogReader};

use crate::support::*;

#[test]
fn seek_lands_on_every_lsn() {
    let (_sim, storage) = sim(3);
    let written = write_mixed(storage.clone(), &dir(), 120, 3);
    let n = written.len() as u64;
    let mut options = read_options();
    // A dense index, so seeks use it once the log was read.
    options.index_interval(512);
    let mut reader = LogReader::open(storage, dir(), &options).unwrap();
    for pass in 0..2 {
        for lsn in (1..=n).rev() {
            reader.seek(Lsn::new(lsn)).unwrap();
            let r = reader.next_record().unwrap().unwrap();
            let want = &written[lsn as usize - 1];
            assert_eq!(
                (r.lsn, r.kind, r.payload),
                (want.0, want.1, &want.2[..]),
                "pass {pass} lsn {lsn}"
            );
            if lsn < n {
                let r = reader.next_record().unwrap().unwrap();
                assert_eq!(r.lsn, Lsn::new(lsn + 1));
            }
        }
        // Read everything once, so the second pass seeks through the index.
        reader.seek(Lsn::ZERO).unwrap();
        assert_eq!(reader.by_ref().count() as u64, n);
    }
    reader.seek(Lsn::new(n + 1)).unwrap();
    assert!(reader.next_record().unwrap().is_none());
    reader.seek(Lsn::new(n + 100)).unwrap();
    assert!(reader.next_record().unwrap().is_none());
}

#[test]
fn seek_below_the_oldest_segment_is_purged() {
    let (_sim, storage) = sim(4);
    let mut w = SegWriter::open(storage.clone(), &log_options());
    for i in 1..=60u64 {
        w.append(&payload(i, 1500));
    }
    let purged = w.log.purge_below(Lsn::new(40)).unwrap();
    assert!(purged > 0);
    let oldest = w.log.segments()[0].first_lsn();
    drop(w);
    let mut reader = LogReader::open(storage, dir(), &read_options()).unwrap();
    match reader.seek(Lsn::new(1)) {
        Err(Error::Purged { lsn, oldest: o }) => {
            assert_eq!(lsn, Lsn::new(1));
            assert_eq!(o, oldest);
        }
        other => panic!("expected Purged, got {other:?}"),
    }
    reader.seek(oldest).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().lsn, oldest);
    // From the start: the oldest record, then every one after it.
    reader.seek(Lsn::ZERO).unwrap();
    let lsns: Vec<u64> = reader.map(|r| r.unwrap().lsn.get()).collect();
    assert_eq!(lsns, (oldest.get()..=60).collect::<Vec<_>>());
}
