//! The crate's error type.

use wal_format::{KeyId, Lsn};

/// Everything that can go wrong transforming a payload.
///
/// A missing key, a wrong key and a record that fails authentication are
/// three different variants: a wrong key is a configuration mistake, not
/// corruption, and is never reported as such.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The segment names a key the key provider does not have.
    #[error("the log is encrypted with key id {key_id}, and no key with that id was provided")]
    MissingKey {
        /// The key the segment needs.
        key_id: KeyId,
    },
    /// The key provided under this id is not the one the segment was
    /// encrypted with (its key check does not match).
    #[error("wrong key for key id {key_id}: the segment's key check does not match")]
    WrongKey {
        /// The key id whose key is wrong.
        key_id: KeyId,
    },
    /// A record failed authentication under the right key: its ciphertext,
    /// tag or header fields were changed, or it was moved from elsewhere.
    #[error("record at lsn {lsn} failed authentication (tampered, damaged or moved)")]
    Authentication {
        /// The record's LSN.
        lsn: Lsn,
    },
    /// A segment header or a marker of an encrypted segment does not
    /// authenticate under the right key: its fields, its place in the log
    /// (the segment before it) or the marker were changed, or it was made
    /// by someone without the key.
    #[error("{what} does not authenticate (forged, moved or changed)")]
    Unauthenticated {
        /// What failed: "segment header" or "marker at lsn N".
        what: String,
    },
    /// Encryption failed; nothing was written.
    #[error("encryption failed at lsn {lsn}: {reason}")]
    Encrypt {
        /// The record's LSN.
        lsn: Lsn,
        /// Why.
        reason: &'static str,
    },
    /// An encrypting segment cipher was asked to encrypt an LSN at or below
    /// one it already encrypted: that would reuse a nonce, so it refuses.
    #[error("refusing to encrypt lsn {lsn} after lsn {last} in the same segment (nonce reuse)")]
    NonceReuse {
        /// The LSN asked for.
        lsn: Lsn,
        /// The last LSN encrypted.
        last: Lsn,
    },
    /// A segment reached its key-usage limit; start a new segment.
    #[error("segment key-usage limit reached ({limit}); rotate to a new segment")]
    KeyUsageLimit {
        /// Which limit.
        limit: &'static str,
    },
    /// A key is malformed (for example, a key file that is not 64 hex digits).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// Compression failed; nothing was written.
    #[error("compression failed: {0}")]
    Compress(String),
    /// A compressed payload could not be decompressed.
    #[error("decompression failed at lsn {lsn}: {reason}")]
    Decompress {
        /// The record's LSN.
        lsn: Lsn,
        /// Why.
        reason: String,
    },
    /// A compressed payload declares a length over the maximum record size;
    /// it was refused before anything was allocated.
    #[error("record at lsn {lsn} would decompress to {len} bytes, over the maximum of {max}")]
    DecompressedTooLarge {
        /// The record's LSN.
        lsn: Lsn,
        /// The declared length.
        len: u64,
        /// The maximum record size.
        max: u64,
    },
    /// A record needs a transform this build does not have.
    #[error(
        "record at lsn {lsn} is {what}, but groupwal was built without the `{feature}` feature"
    )]
    FeatureDisabled {
        /// The record's LSN.
        lsn: Lsn,
        /// "encrypted" or "compressed".
        what: &'static str,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// An option needs a cargo feature this build does not have.
    #[error("this option needs groupwal's `{feature}` feature, which this build lacks")]
    Unsupported {
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// A record is flagged encrypted but its segment has no key id, or the
    /// reverse.
    #[error("record at lsn {lsn}: {reason}")]
    Inconsistent {
        /// The record's LSN.
        lsn: Lsn,
        /// What does not fit.
        reason: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
