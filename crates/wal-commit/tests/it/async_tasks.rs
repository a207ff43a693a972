//! Appending from async tasks, on a runtime the log knows nothing about.

use std::path::Path;
use std::sync::Arc;

use wal_io::sim::SimStorage;

use crate::support::{DIR, open, payload, read_all};

#[test]
fn tasks_on_a_single_threaded_runtime_all_get_durable_lsns() {
    let storage = SimStorage::new(10);
    let log = Arc::new(open(&storage));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut lsns: Vec<u64> = rt.block_on(async {
        let tasks: Vec<_> = (0..32u64)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    for s in 0..10 {
                        got.push(log.append_async(&payload(t, s)).await.unwrap().get());
                    }
                    let (a, b) = log
                        .append_batch_async(&[b"x".as_slice(), b"y"])
                        .await
                        .unwrap();
                    got.extend([a.get(), b.get()]);
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    lsns.sort_unstable();
    assert_eq!(lsns, (1..=32 * 12).collect::<Vec<_>>());
    // With one runtime thread, tasks only make progress if the log never
    // blocks it: 32 tasks queued at once means groups larger than one.
    assert!(log.stats().max_group > 1);
    Arc::into_inner(log).unwrap().close().unwrap();
    assert_eq!(read_all(Arc::new(storage), Path::new(DIR)).len(), 32 * 12);
}

#[test]
fn durability_follows_appends_and_reports_close() {
    let storage = wal_io::sim::SimStorage::new(31);
    let log = crate::support::open(&storage);
    let durability = log.durability();
    let follower = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut at = wal_format::Lsn::ZERO;
        loop {
            match durability.wait_past(at) {
                Ok(d) => {
                    assert!(d > at);
                    seen.push(d);
                    at = d;
                }
                Err(e) => return (seen, e),
            }
        }
    });
    for i in 0..20u8 {
        log.append(&[i; 10]).unwrap();
    }
    log.close().unwrap();
    let (seen, end) = follower.join().unwrap();
    assert_eq!(seen.last().map(|l| l.get()), Some(20));
    assert!(matches!(end, wal_commit::Error::Closed), "{end:?}");
}
