//! What a build without a transform does with records that need it.

use wal_crypto::{Error, PayloadDecoder, PayloadEncoder};
use wal_format::{Flags, LogicalKind, Lsn};

#[test]
fn plain_records_pass_through_untouched() {
    let mut enc = PayloadEncoder::new(None).unwrap();
    let (flags, bytes) = enc
        .encode(Lsn::new(1), LogicalKind::Data, b"as is", None)
        .unwrap();
    assert_eq!((flags, bytes), (Flags::EMPTY, &b"as is"[..]));
    let mut dec = PayloadDecoder::new(16);
    assert_eq!(
        dec.decode(Lsn::new(1), LogicalKind::Data, flags, b"as is", None)
            .unwrap(),
        b"as is"
    );
}

#[cfg(not(feature = "compression"))]
#[test]
fn compression_needs_the_feature() {
    assert_eq!(
        PayloadEncoder::new(Some(3)).unwrap_err(),
        Error::Unsupported {
            feature: "compression"
        }
    );
    let mut dec = PayloadDecoder::new(16);
    assert!(matches!(
        dec.decode(
            Lsn::new(1),
            LogicalKind::Data,
            Flags::COMPRESSED,
            b"xx",
            None
        ),
        Err(Error::FeatureDisabled {
            feature: "compression",
            ..
        })
    ));
}

#[test]
fn an_encrypted_record_without_a_cipher_is_refused() {
    let mut dec = PayloadDecoder::new(16);
    assert!(matches!(
        dec.decode(
            Lsn::new(1),
            LogicalKind::Data,
            Flags::ENCRYPTED,
            b"xx",
            None
        ),
        Err(Error::Inconsistent { .. })
    ));
}
