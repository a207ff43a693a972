//! No (subkey, nonce) pair is ever used twice under one key: not after a
//! suffix truncation rewritten at the same LSNs, not after a reopen, not by
//! two logs sharing the key.
//!
//! The subkey of a segment is not observable, but its key check is derived
//! from the same inputs (key, seed, log id, salt, key id) by the same HKDF,
//! so distinct key checks mean distinct derivation inputs; the nonce is the
//! LSN. The test records (key check, LSN) for every encryption.

use std::collections::HashSet;

use wal_crypto::{Error, Key, Keyring, SegmentEncryptor};
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};

struct Log {
    log_id: LogId,
    used: Vec<([u8; 16], u64)>,
}

impl Log {
    /// Starts a segment at `first`, as a writer does on open, after a
    /// truncation, or at rotation, and appends `lsns` to it.
    fn write_segment(&mut self, keys: &Keyring, first: u64, lsns: std::ops::RangeInclusive<u64>) {
        // The salt may repeat (here it always does): uniqueness must not rest on it.
        let mut header = SegmentHeader::new(Lsn::new(first), Salt::new(1), self.log_id);
        let mut enc = SegmentEncryptor::new_segment(keys, &mut header).unwrap();
        for lsn in lsns {
            let mut buf = format!("record {lsn}").into_bytes();
            enc.encrypt(Lsn::new(lsn), LogicalKind::Data, Flags::EMPTY, &mut buf)
                .unwrap();
            self.used.push((header.key_check, lsn));
        }
        // Continuing at an LSN already used in this segment is refused.
        let mut buf = b"again".to_vec();
        assert!(matches!(
            enc.encrypt(Lsn::new(first), LogicalKind::Data, Flags::EMPTY, &mut buf),
            Err(Error::NonceReuse { .. })
        ));
    }
}

#[test]
fn truncate_reopen_and_reappend_never_repeat_a_nonce() {
    let keys = Keyring::new(KeyId::new(1), Key::from_bytes([3; 32])).unwrap();
    let mut a = Log {
        log_id: LogId::new(1),
        used: Vec::new(),
    };
    // Append 1..=100, truncate the suffix from 51, append 51..=120 again.
    a.write_segment(&keys, 1, 1..=100);
    a.write_segment(&keys, 51, 51..=120);
    // Reopen (a new writing session) and append more; then truncate from 101
    // and reappend once more.
    a.write_segment(&keys, 121, 121..=150);
    a.write_segment(&keys, 101, 101..=160);
    // A second log configured with the same key, the same LSNs, the same salt.
    let mut b = Log {
        log_id: LogId::new(1),
        used: Vec::new(),
    };
    b.write_segment(&keys, 1, 1..=160);

    let all: Vec<_> = a.used.iter().chain(&b.used).collect();
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 100 + 70 + 30 + 60 + 160);
    assert_eq!(
        distinct.len(),
        all.len(),
        "a (subkey, nonce) pair was used twice"
    );
    // The same LSNs were encrypted several times: under different subkeys.
    let lsn_51: HashSet<_> = all
        .iter()
        .filter(|(_, l)| *l == 51)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(lsn_51.len(), 3);
}
