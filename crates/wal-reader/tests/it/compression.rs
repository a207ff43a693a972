//! Compressed records (without encryption) read back as written.

use std::num::NonZeroUsize;

use wal_crypto::PayloadEncoder;
use wal_format::{Flags, LogicalKind, Lsn, split_fragments};

use crate::support::*;

#[test]
fn compressed_records_read_back() {
    let (_sim, storage) = sim(80);
    let mut encoder = PayloadEncoder::new(Some(3)).unwrap();
    let mut seg = RawSeg::new(1, 81);
    let mut written = Vec::new();
    for lsn in 1..=30u64 {
        // Repetitive payloads compress; the short ones are stored as is.
        let p = payload(lsn, if lsn % 2 == 0 { 9000 } else { 30 });
        let (flags, stored) = encoder
            .encode(Lsn::new(lsn), LogicalKind::Data, &p, None)
            .unwrap();
        for (ty, part) in split_fragments(stored, NonZeroUsize::new(3000).unwrap()) {
            seg.rec(lsn, ty, flags, part);
        }
        written.push((Lsn::new(lsn), LogicalKind::Data, p));
    }
    seg.write(&*storage, 0);
    let got = read_all(storage, &dir(), &read_options()).unwrap();
    assert_eq!(as_expected(&got), written);
    assert!(got.iter().filter(|r| r.flags == Flags::COMPRESSED).count() >= 15);
}
