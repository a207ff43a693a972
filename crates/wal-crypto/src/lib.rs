//! Payload transforms for groupwal: AES-256-GCM encryption with a fresh
//! subkey per segment, and zstd compression with bounded decompression.
//!
//! # Overview
//!
//! - [`PayloadEncoder`] turns a logical payload into what a record stores:
//!   compressed if that makes it smaller, then encrypted when the segment
//!   has a [`SegmentEncryptor`]. It returns the flags the record must carry.
//! - [`PayloadDecoder`] reverses it: authenticates and decrypts with the
//!   segment's [`SegmentDecryptor`], then decompresses, never allocating
//!   more than the maximum record size.
//! - Keys come from a [`KeyProvider`] ([`Keyring`] holds them in memory);
//!   a [`Key`] is wiped when dropped and never printed.
//!
//! The nonce scheme, associated data and key-usage limits are written down
//! in `docs/FORMAT.md` ("Encryption") with the argument for why no nonce
//! repeats under a key.
//!
//! # Example
//!
//! ```
//! # #[cfg(all(feature = "encryption", feature = "compression"))]
//! # fn main() -> Result<(), wal_crypto::Error> {
//! use wal_crypto::{Key, Keyring, Link, PayloadDecoder, PayloadEncoder, SegmentDecryptor, SegmentEncryptor};
//! use wal_format::{KeyId, LogId, LogicalKind, Lsn, Salt, SegmentHeader};
//!
//! let keys = Keyring::new(KeyId::new(1), Key::generate()?)?;
//! let mut header = SegmentHeader::new(Lsn::new(1), Salt::new(42), LogId::new(7));
//! let mut cipher = SegmentEncryptor::new_segment(&keys, &mut header, Link::NONE)?; // sets key id, seed, check, tag
//!
//! let mut encoder = PayloadEncoder::new(Some(3))?;
//! let payload = b"an order of 12 widgets; ".repeat(20);
//! let (flags, stored) = encoder.encode(Lsn::new(1), LogicalKind::Data, &payload, Some(&mut cipher))?;
//! let stored = stored.to_vec();
//! assert!(stored.len() < payload.len());
//!
//! let reader = SegmentDecryptor::open(&keys, &header)?; // checks the key
//! let mut decoder = PayloadDecoder::new(1 << 20);
//! let back = decoder.decode(Lsn::new(1), LogicalKind::Data, flags, &stored, Some(&reader))?;
//! assert_eq!(back, &payload[..]);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "encryption", feature = "compression")))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! - `encryption`: AES-256-GCM (RustCrypto `aes-gcm`), HKDF-SHA256,
//!   `zeroize`, `getrandom`. Without it, [`SegmentEncryptor`] and
//!   [`SegmentDecryptor`] are uninhabited types (no value can exist), so
//!   code above can name them without `cfg`s, and an encrypted record is
//!   refused with [`Error::FeatureDisabled`].
//! - `compression`: zstd (builds the C library). Without it, a compressed
//!   record is refused with [`Error::FeatureDisabled`].
//!
//! # Non-goals
//!
//! This crate does not frame records or touch files; it never logs keys or
//! plaintext (it logs nothing at all). It does not compress across records.

// Without the `encryption` feature the key types are not built: their
// links go to the published docs, which are built with every feature.
#![cfg_attr(
    not(feature = "encryption"),
    doc = "",
    doc = "[`KeyProvider`]: https://docs.rs/wal-crypto/latest/wal_crypto/trait.KeyProvider.html",
    doc = "[`Keyring`]: https://docs.rs/wal-crypto/latest/wal_crypto/struct.Keyring.html",
    doc = "[`Key`]: https://docs.rs/wal-crypto/latest/wal_crypto/struct.Key.html"
)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![forbid(unsafe_code)]

#[cfg(feature = "encryption")]
mod cipher;
#[cfg(feature = "compression")]
mod compress;
mod error;
#[cfg(feature = "encryption")]
mod keys;
mod payload;

#[cfg(feature = "encryption")]
pub use cipher::{
    Link, MAX_BYTES_PER_SEGMENT, MAX_RECORDS_PER_SEGMENT, SegmentDecryptor, SegmentEncryptor,
    TAG_LEN,
};
#[cfg(feature = "compression")]
pub use compress::{Compressor, DEFAULT_LEVEL, Decompressor, LEN_PREFIX, MIN_COMPRESS_LEN};
pub use error::{Error, Result};
#[cfg(feature = "encryption")]
pub use keys::{KEY_LEN, Key, KeyProvider, Keyring};
pub use payload::{Decoded, PayloadDecoder, PayloadEncoder};

/// Stand-in when the `encryption` feature is off: no value of it can exist.
#[cfg(not(feature = "encryption"))]
#[derive(Debug)]
pub enum SegmentEncryptor {}

/// Stand-in when the `encryption` feature is off: no value of it can exist.
#[cfg(not(feature = "encryption"))]
#[derive(Debug)]
pub enum SegmentDecryptor {}
