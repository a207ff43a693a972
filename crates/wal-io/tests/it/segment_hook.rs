//! The segment hook: every new segment's header passes through it before
//! it is written (an encrypting writer fills the key fields there), and a
//! segment it did not prepare is never appended to while it is installed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use wal_format::{KeyId, Lsn, SegmentHeader};
use wal_io::{Error, SegmentLog, SyncMode};

use crate::support::{SIM_DIR, append, range, read_log, seed, sim, small_options};

/// A hook that marks each header with key id 7 and a counter as its seed,
/// and records the first LSNs it saw; the header it is given as the one
/// before must be the last one it marked.
fn marking_hook(seen: Arc<Mutex<Vec<Lsn>>>) -> wal_io::SegmentHook {
    let counter = AtomicU32::new(1);
    Box::new(
        move |header: &mut SegmentHeader, prev: Option<&SegmentHeader>| {
            let last = seen.lock().unwrap().last().copied();
            if let Some(last) = last {
                assert_eq!(prev.map(|p| p.first_lsn), Some(last), "the segment before");
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            header.key_id = KeyId::new(7);
            header.key_seed = [0; 16];
            header.key_seed[..4].copy_from_slice(&n.to_le_bytes());
            header.key_check = [0xaa; 16];
            seen.lock().unwrap().push(header.first_lsn);
            Ok(())
        },
    )
}

#[test]
fn every_new_segment_header_goes_through_the_hook_and_is_kept() {
    let s = sim(seed());
    let options = small_options(SyncMode::Data);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    log.set_segment_hook(marking_hook(seen.clone()));
    for _ in 0..60 {
        append(&mut log, 900).unwrap();
    }
    log.sync().unwrap();
    drop(log);

    let log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    let firsts: Vec<Lsn> = log.segments().iter().map(|i| i.first_lsn()).collect();
    assert!(firsts.len() >= 3, "expected rotations, got {firsts:?}");
    assert_eq!(*seen.lock().unwrap(), firsts);
    let mut seeds: Vec<[u8; 16]> = log.segments().iter().map(|i| i.header().key_seed).collect();
    for info in log.segments() {
        assert_eq!(info.header().key_id, KeyId::new(7));
        assert_eq!(info.header().key_check, [0xaa; 16]);
    }
    seeds.dedup();
    assert_eq!(seeds.len(), firsts.len(), "each segment got its own seed");
    drop(log);
    assert_eq!(
        read_log(Arc::new(s), SIM_DIR.as_ref(), &options).lsns,
        range(1, 61)
    );
}

#[derive(Debug, thiserror::Error)]
#[error("no key today")]
struct NoKey;

#[test]
fn a_refusing_hook_fails_the_batch_before_anything_is_written() {
    let s = sim(seed());
    let options = small_options(SyncMode::Data);
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    for _ in 0..3 {
        append(&mut log, 100).unwrap();
    }
    log.set_segment_hook(Box::new(
        |_: &mut SegmentHeader, _: Option<&SegmentHeader>| Err(Box::new(NoKey) as _),
    ));
    let e = append(&mut log, 100).unwrap_err();
    match &e {
        Error::Hook { source, .. } => assert!(source.downcast_ref::<NoKey>().is_some(), "{e}"),
        other => panic!("expected a hook error, got {other}"),
    }
    assert_eq!(log.segments().len(), 1, "no segment was created");
    // Nothing changed: with a working hook the same LSN goes through.
    let seen = Arc::new(Mutex::new(Vec::new()));
    log.set_segment_hook(marking_hook(seen.clone()));
    assert_eq!(append(&mut log, 100).unwrap(), Lsn::new(4));
    log.sync().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Lsn::new(4)]);
    drop(log);
    assert_eq!(
        read_log(Arc::new(s), SIM_DIR.as_ref(), &options).lsns,
        range(1, 5)
    );
}

#[test]
fn resume_and_truncation_with_a_hook_continue_in_a_new_segment() {
    let s = sim(seed());
    let options = small_options(SyncMode::Data);
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    for _ in 0..5 {
        append(&mut log, 100).unwrap();
    }
    log.sync().unwrap();
    drop(log);

    let end = read_log(Arc::new(s.clone()), SIM_DIR.as_ref(), &options)
        .end_offset
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    log.set_segment_hook(marking_hook(seen.clone()));
    log.resume(end, Lsn::new(6)).unwrap();
    append(&mut log, 100).unwrap();
    append(&mut log, 100).unwrap();
    // The segment the hook prepared takes appends while it has room.
    assert_eq!(*seen.lock().unwrap(), vec![Lsn::new(6)]);
    // A suffix truncation inside it: the records after go to a new one.
    log.truncate_from(Lsn::new(7)).unwrap();
    assert_eq!(append(&mut log, 100).unwrap(), Lsn::new(7));
    log.sync().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Lsn::new(6), Lsn::new(7)]);
    drop(log);
    let contents = read_log(Arc::new(s), SIM_DIR.as_ref(), &options);
    assert_eq!(contents.lsns, range(1, 8));
    assert_eq!(
        contents.segments,
        vec![Lsn::new(1), Lsn::new(6), Lsn::new(7)]
    );
}

#[test]
fn an_empty_segment_is_replaced_by_the_hooks_own() {
    let s = sim(seed());
    let options = small_options(SyncMode::Data);
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    // A segment with a header and no record (a crash right after rotating).
    log.begin_batch(Lsn::FIRST, 100).unwrap();
    drop(log);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    assert_eq!(log.segments().len(), 1);
    log.resume(wal_format::SEGMENT_HEADER_LEN as u64, Lsn::FIRST)
        .unwrap();
    log.set_segment_hook(marking_hook(seen.clone()));
    append(&mut log, 100).unwrap();
    log.sync().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Lsn::FIRST]);
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.segments()[0].header().key_id, KeyId::new(7));
    drop(log);
    let log = SegmentLog::open(Arc::new(s.clone()), SIM_DIR, &options).unwrap();
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.segments()[0].header().key_id, KeyId::new(7));
    drop(log);
    assert_eq!(
        read_log(Arc::new(s), SIM_DIR.as_ref(), &options).lsns,
        range(1, 2)
    );
}
