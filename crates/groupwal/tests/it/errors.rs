//! A user matches each case of `groupwal::Error` itself, whichever layer
//! found it: each test provokes one and matches the flat case with its
//! fields.

use std::error::Error as _;
use std::path::Path;

use groupwal::io::sim::{Fault, SimStorage};
use groupwal::{Error, Lsn, Wal};

use crate::support::{DIR, open, options, payload};

#[test]
fn a_record_over_the_maximum_is_too_large() {
    let storage = SimStorage::new(1);
    let wal = open(&storage);
    let big = vec![7u8; 100_001];
    match wal.append(&big) {
        Err(Error::TooLarge { len, max }) => assert_eq!((len, max), (100_001, 100_000)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The log goes on: a refused record poisons nothing.
    assert_eq!(wal.append(b"small").unwrap(), Lsn::FIRST);
    wal.close().unwrap();
}

#[test]
fn calls_after_close_get_closed() {
    let storage = SimStorage::new(2);
    let wal = open(&storage);
    wal.append(b"one").unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.append(b"two"), Err(Error::Closed)));
    assert!(matches!(wal.submit(b"three"), Err(Error::Closed)));
    assert!(matches!(wal.stream(1).append(b"entry"), Err(Error::Closed)));
}

#[test]
fn a_failed_sync_poisons_the_log_with_its_cause() {
    let storage = SimStorage::new(3);
    let wal = open(&storage);
    wal.append(b"before").unwrap();
    storage.inject(Fault::SyncEio);
    // The call whose sync failed and every later one say the same.
    for what in ["the failed append", "a later append"] {
        let e = wal.append(b"lost").unwrap_err();
        assert!(e.is_poisoned(), "{what}: {e:?}");
        let Error::Poisoned { cause } = &e else {
            panic!("{what}: expected Poisoned, got {e:?}");
        };
        assert!(
            matches!(cause, groupwal::commit::Error::Io(_)),
            "{what}: {cause:?}"
        );
        // The chain reaches the system's error.
        let mut eio = None;
        let mut cause = e.source();
        while let Some(c) = cause {
            eio = eio.or_else(|| c.downcast_ref::<std::io::Error>());
            cause = c.source();
        }
        assert_eq!(
            eio.and_then(std::io::Error::raw_os_error),
            Some(5),
            "{what}: {e:?}"
        );
    }
    assert!(matches!(wal.poisoned(), Some(Error::Poisoned { .. })));
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
}

#[test]
fn a_read_below_the_purged_records_is_purged() {
    let storage = SimStorage::new(4);
    let wal = open(&storage);
    for s in 0..120 {
        wal.append(&payload(1, s)).unwrap();
    }
    assert!(wal.purge_below(Lsn::new(100)).unwrap() > 0);
    let oldest = wal.first_lsn();
    match wal.read_from(Lsn::FIRST) {
        Err(Error::Purged { lsn, oldest: o }) => assert_eq!((lsn, o), (Lsn::FIRST, oldest)),
        other => panic!("expected Purged, got {:?}", other.map(|_| ())),
    }
    wal.close().unwrap();
}

#[test]
fn a_second_opener_finds_the_directory_locked() {
    let storage = SimStorage::new(5);
    let wal = open(&storage);
    match Wal::open(DIR, &options(&storage)) {
        Err(Error::Locked { dir, .. }) => assert_eq!(dir, Path::new(DIR)),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    wal.close().unwrap();
    open(&storage).close().unwrap();
}

#[test]
fn a_truncation_inside_a_batch_is_refused_as_such() {
    let storage = SimStorage::new(6);
    let wal = open(&storage);
    wal.append(b"alone").unwrap();
    let (first, last) = wal.append_batch(&[&b"a"[..], b"b", b"c"]).unwrap();
    match wal.truncate_from(Lsn::new(first.get() + 1)) {
        Err(Error::InsideBatch { lsn, batch }) => {
            assert_eq!((lsn, batch), (Lsn::new(first.get() + 1), first));
        }
        other => panic!("expected InsideBatch, got {other:?}"),
    }
    // Nothing changed, and the log goes on.
    assert_eq!(wal.last_lsn(), last);
    assert_eq!(wal.truncate_from(first).unwrap(), first);
    wal.close().unwrap();
}

#[test]
fn a_nonsense_argument_is_an_invalid_option() {
    let storage = SimStorage::new(7);
    let wal = open(&storage);
    assert!(matches!(
        wal.tail_async(Lsn::FIRST, 0),
        Err(Error::InvalidOption {
            name: "capacity",
            ..
        })
    ));
    // An LSN not assigned yet, refused by the commit layer.
    assert!(matches!(
        wal.wait_for(Lsn::new(50)),
        Err(Error::InvalidOption { .. })
    ));
    wal.close().unwrap();
}

#[cfg(feature = "encryption")]
#[test]
fn another_key_under_the_same_id_is_the_wrong_key() {
    use std::sync::Arc;

    use groupwal::crypto::{Key, Keyring};
    use groupwal::format::KeyId;

    let storage = SimStorage::new(8);
    let key = |byte| Arc::new(Keyring::new(KeyId::new(3), Key::from_bytes([byte; 32])).unwrap());
    let mut o = options(&storage);
    o.encryption(key(1));
    let (wal, _) = Wal::open(DIR, &o).unwrap();
    wal.append(b"secret").unwrap();
    wal.close().unwrap();

    let mut wrong = options(&storage);
    wrong.encryption(key(2));
    match Wal::open(DIR, &wrong) {
        Err(Error::WrongKey {
            key_id,
            segment: Some(segment),
        }) => {
            assert_eq!(key_id, KeyId::new(3));
            assert!(segment.starts_with(DIR), "{}", segment.display());
        }
        other => panic!("expected WrongKey, got {:?}", other.map(|_| ())),
    }
    // Without any key: the key is missing, not wrong.
    match Wal::open(DIR, &options(&storage)) {
        Err(Error::MissingKey { key_id, .. }) => assert_eq!(key_id, KeyId::new(3)),
        other => panic!("expected MissingKey, got {:?}", other.map(|_| ())),
    }
    // A configuration mistake changed nothing: the right key opens it.
    let (wal, report) = Wal::open(DIR, &o).unwrap();
    assert_eq!(report.last_lsn, Lsn::FIRST);
    wal.close().unwrap();
}
