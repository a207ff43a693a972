//! Strategies and helpers shared by the scenarios.

use proptest::prelude::*;
use wal_format::{Flags, Lsn, RecordHeader, RecordType, Salt};

pub(crate) fn record_type() -> impl Strategy<Value = RecordType> {
    proptest::sample::select(RecordType::ALL.to_vec())
}

pub(crate) fn flags() -> impl Strategy<Value = Flags> {
    (0u8..=Flags::KNOWN.bits()).prop_map(|b| Flags::from_bits(b).unwrap())
}

pub(crate) fn header() -> impl Strategy<Value = RecordHeader> {
    (any::<u64>(), any::<u64>(), record_type(), flags()).prop_map(
        |(lsn, salt, record_type, flags)| RecordHeader {
            lsn: Lsn::new(lsn),
            salt: Salt::new(salt),
            record_type,
            flags,
        },
    )
}

pub(crate) fn header_of(ty: RecordType, lsn: u64, salt: Salt) -> RecordHeader {
    RecordHeader {
        lsn: Lsn::new(lsn),
        salt,
        record_type: ty,
        flags: Flags::EMPTY,
    }
}
