//! Reopening after a close gives back exactly what was stored: entries,
//! vote, last log id, last purged log id (also when every entry was
//! purged); truncated indexes are taken again; several groups share one
//! log; bytes that are not what this crate wrote are an error, not a panic.

use groupwal_openraft::{Error, LogStore, META_BIT};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{RaftLogReader, Vote};

use crate::sm::TypeConfig;
use crate::support::{all_entries, close, entry, log_id, open_store, open_wal, options, runtime};

#[test]
fn reopen_after_close_gives_back_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut want = Vec::new();
    {
        let wal = open_wal(dir.path(), &options());
        let mut store = open_store(&rt, &wal, 1);
        rt.block_on(store.save_vote(&Vote::new(1, 1))).unwrap();
        for batch in (0..100).collect::<Vec<u64>>().chunks(7) {
            let entries: Vec<_> = batch.iter().map(|&i| entry(1, i)).collect();
            rt.block_on(store.blocking_append(entries.clone())).unwrap();
            want.extend(entries);
        }
        // A new leader overwrites the suffix from 80 on.
        rt.block_on(store.save_vote(&Vote::new(2, 2))).unwrap();
        rt.block_on(store.truncate(log_id(1, 80))).unwrap();
        want.truncate(80);
        let more: Vec<_> = (80..120).map(|i| entry(2, i)).collect();
        rt.block_on(store.blocking_append(more.clone())).unwrap();
        want.extend(more);
        // A snapshot covers through 30.
        rt.block_on(store.purge(log_id(1, 30))).unwrap();
        want.drain(..31);
        drop(store);
        close(wal);
    }
    let wal = open_wal(dir.path(), &options());
    let mut store = open_store(&rt, &wal, 1);
    let state = rt.block_on(store.get_log_state()).unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 30)));
    assert_eq!(state.last_log_id, Some(log_id(2, 119)));
    assert_eq!(
        rt.block_on(store.read_vote()).unwrap(),
        Some(Vote::new(2, 2))
    );
    assert_eq!(rt.block_on(all_entries(&mut store)), want);
    assert!(
        rt.block_on(store.try_get_log_entries(0..31))
            .unwrap()
            .is_empty()
    );
    // The reader gives the same; appends go on at the next index.
    let mut reader = rt.block_on(store.get_log_reader());
    assert_eq!(
        rt.block_on(reader.try_get_log_entries(31..=119)).unwrap(),
        want
    );
    rt.block_on(store.blocking_append([entry(3, 120)])).unwrap();
    drop((store, reader));
    close(wal);
}

#[test]
fn the_last_purged_log_id_survives_when_every_entry_was_purged() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    for (purge_at, last) in [(9, 9), (20, 20)] {
        {
            let wal = open_wal(dir.path(), &options());
            let mut store = open_store(&rt, &wal, purge_at);
            rt.block_on(store.blocking_append((0..10).map(|i| entry(1, i))))
                .unwrap();
            rt.block_on(store.purge(log_id(1, purge_at))).unwrap();
            drop(store);
            close(wal);
        }
        let wal = open_wal(dir.path(), &options());
        let mut store = open_store(&rt, &wal, purge_at);
        let state = rt.block_on(store.get_log_state()).unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, purge_at)));
        assert_eq!(state.last_log_id, Some(log_id(1, last)));
        assert!(rt.block_on(all_entries(&mut store)).is_empty());
        // The next append follows the purged id, and survives a restart.
        rt.block_on(store.blocking_append([entry(2, last + 1)]))
            .unwrap();
        drop(store);
        close(wal);
        let wal = open_wal(dir.path(), &options());
        let mut store = open_store(&rt, &wal, purge_at);
        assert_eq!(rt.block_on(all_entries(&mut store)), [entry(2, last + 1)]);
        drop(store);
        close(wal);
    }
}

#[test]
fn truncated_indexes_are_taken_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    {
        let wal = open_wal(dir.path(), &options());
        let mut store = open_store(&rt, &wal, 1);
        rt.block_on(store.blocking_append((0..10).map(|i| entry(1, i))))
            .unwrap();
        rt.block_on(store.truncate(log_id(1, 0))).unwrap();
        let state = rt.block_on(store.get_log_state()).unwrap();
        assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));
        drop(store);
        close(wal);
    }
    let wal = open_wal(dir.path(), &options());
    let mut store = open_store(&rt, &wal, 1);
    assert!(rt.block_on(all_entries(&mut store)).is_empty());
    rt.block_on(store.blocking_append((0..3).map(|i| entry(2, i))))
        .unwrap();
    rt.block_on(store.truncate(log_id(2, 2))).unwrap();
    rt.block_on(store.blocking_append([entry(3, 2)])).unwrap();
    drop(store);
    close(wal);
    let wal = open_wal(dir.path(), &options());
    let mut store = open_store(&rt, &wal, 1);
    assert_eq!(
        rt.block_on(all_entries(&mut store)),
        [entry(2, 0), entry(2, 1), entry(3, 2)]
    );
    assert_eq!(
        rt.block_on(store.get_log_state()).unwrap().last_log_id,
        Some(log_id(3, 2))
    );
    drop(store);
    close(wal);
}

#[test]
fn groups_share_one_log_and_keep_their_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let groups = [0u64, 1, 2, 1 << 32, META_BIT - 1];
    {
        let wal = open_wal(dir.path(), &options());
        let mut stores: Vec<_> = groups.iter().map(|&g| open_store(&rt, &wal, g)).collect();
        for round in 0..20u64 {
            for (n, store) in stores.iter_mut().enumerate() {
                let i = round * 3;
                rt.block_on(store.blocking_append((i..i + 3).map(|i| entry(n as u64 + 1, i))))
                    .unwrap();
            }
        }
        for (n, store) in stores.iter_mut().enumerate() {
            rt.block_on(store.save_vote(&Vote::new(n as u64 + 1, 1)))
                .unwrap();
            rt.block_on(store.purge(log_id(n as u64 + 1, n as u64 * 5)))
                .unwrap();
        }
        drop(stores);
        close(wal);
    }
    let wal = open_wal(dir.path(), &options());
    for (n, &g) in groups.iter().enumerate() {
        let term = n as u64 + 1;
        let mut store = open_store(&rt, &wal, g);
        assert_eq!(
            rt.block_on(store.read_vote()).unwrap(),
            Some(Vote::new(term, 1))
        );
        let state = rt.block_on(store.get_log_state()).unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(term, n as u64 * 5)));
        assert_eq!(
            rt.block_on(all_entries(&mut store)),
            (n as u64 * 5 + 1..60)
                .map(|i| entry(term, i))
                .collect::<Vec<_>>()
        );
    }
    close(wal);
}

#[test]
fn a_purge_cut_short_by_a_crash_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    {
        let wal = open_wal(dir.path(), &options());
        let mut store = open_store(&rt, &wal, 4);
        rt.block_on(store.blocking_append((0..10).map(|i| entry(1, i))))
            .unwrap();
        drop(store);
        // What `purge` writes first; the crash comes before the entries go.
        let meta = serde_json::json!({"v": 1, "vote": null, "last_purged": log_id(1, 5)});
        wal.stream(4 | META_BIT)
            .append(&serde_json::to_vec(&meta).unwrap())
            .unwrap();
        close(wal);
    }
    let wal = open_wal(dir.path(), &options());
    let mut store = open_store(&rt, &wal, 4);
    assert_eq!(wal.stream(4).first_index(), Some(7));
    assert_eq!(
        rt.block_on(all_entries(&mut store)),
        (6..10).map(|i| entry(1, i)).collect::<Vec<_>>()
    );
    drop(store);
    close(wal);
}

#[test]
fn bytes_this_crate_did_not_write_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open_wal(dir.path(), &options());
    // Not JSON; JSON of something else; an entry stored at the wrong index.
    wal.stream(1).append(b"\xff not json").unwrap();
    wal.stream(2).append(b"{\"a\": 1}").unwrap();
    wal.stream(3)
        .append(&serde_json::to_vec(&entry(1, 5)).unwrap())
        .unwrap();
    wal.stream(4 | META_BIT).append(b"[1, 2]").unwrap();
    let open = |g| LogStore::<TypeConfig>::open(wal.clone(), g).unwrap_err();
    assert!(
        matches!(open(1), Error::Decode { what: "entry", .. }),
        "{:?}",
        open(1)
    );
    assert!(
        matches!(open(2), Error::Decode { what: "entry", .. }),
        "{:?}",
        open(2)
    );
    assert!(
        matches!(
            open(3),
            Error::Misplaced {
                index: 0,
                found: 5,
                ..
            }
        ),
        "{:?}",
        open(3)
    );
    assert!(
        matches!(
            open(4),
            Error::Decode {
                what: "metadata",
                ..
            }
        ),
        "{:?}",
        open(4)
    );
    assert!(matches!(open(META_BIT | 9), Error::GroupId(_)));
    close(wal);
}
