//! AES-256-GCM over record payloads, with a subkey per segment.
//!
//! The scheme (docs/FORMAT.md, "Encryption"):
//!
//! - Each segment written under a key gets a fresh random 128-bit key seed.
//!   `prk = HKDF-Extract(salt = seed, ikm = key)` (SHA-256); the segment's
//!   AES-256-GCM key is `HKDF-Expand(prk, "groupwal v1 record key" ‖ ids,
//!   32)` and its key check `HKDF-Expand(prk, "groupwal v1 key check" ‖
//!   ids, 16)`, where `ids = log id ‖ salt ‖ key id` (little-endian).
//! - The nonce of a record is its LSN (8 bytes, little-endian) followed by
//!   four zero bytes.
//! - The associated data binds the ciphertext to its place: log id, segment
//!   salt, key id, LSN, logical kind, flags and the stored length.
//!
//! Why no nonce repeats under a subkey: an encrypting cipher
//! ([`SegmentEncryptor`]) can only be made for a new segment, with a seed
//! drawn here from the OS; it refuses an LSN at or below one it already
//! used. A reopened log, a truncated suffix rewritten at the same LSNs, a
//! recycled file, a second log with the same key: each writes into a new
//! segment with a new seed, hence a new subkey.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use wal_format::{Flags, KeyId, LogId, LogicalKind, Lsn, RecordType, Salt, SegmentHeader};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::KeyProvider;

/// The length of the authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Records one segment may encrypt before it must be rotated.
pub const MAX_RECORDS_PER_SEGMENT: u64 = 1 << 32;
/// Plaintext bytes one segment may encrypt before it must be rotated (64 GiB,
/// 2^32 AES blocks: the distinguishing advantage stays under 2^-64).
pub const MAX_BYTES_PER_SEGMENT: u64 = 1 << 36;

const INFO_RECORD_KEY: &[u8] = b"groupwal v1 record key";
const INFO_KEY_CHECK: &[u8] = b"groupwal v1 key check";
const AD_DOMAIN: &[u8; 4] = b"GWAD";

/// Decrypts the records of one segment (and is the shared half of a
/// [`SegmentEncryptor`]).
pub struct SegmentDecryptor {
    aead: Aes256Gcm,
    log_id: LogId,
    salt: Salt,
    key_id: KeyId,
}

impl std::fmt::Debug for SegmentDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentDecryptor")
            .field("log_id", &self.log_id)
            .field("salt", &self.salt)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct Derived {
    aead: Aes256Gcm,
    check: [u8; 16],
}

fn derive(
    provider: &dyn KeyProvider,
    key_id: KeyId,
    seed: &[u8; 16],
    log_id: LogId,
    salt: Salt,
) -> Result<Derived> {
    let key = provider.key(key_id).ok_or(Error::MissingKey { key_id })?;
    let hk = Hkdf::<Sha256>::new(Some(seed), key.bytes());
    let log_id = log_id.get().to_le_bytes();
    let salt = salt.get().to_le_bytes();
    let kid = key_id.get().to_le_bytes();
    let mut record_key = Zeroizing::new([0u8; 32]);
    let mut check = [0u8; 16];
    let bad = |_| Error::InvalidKey("key derivation failed");
    hk.expand_multi_info(
        &[INFO_RECORD_KEY, &log_id, &salt, &kid],
        &mut record_key[..],
    )
    .map_err(bad)?;
    hk.expand_multi_info(&[INFO_KEY_CHECK, &log_id, &salt, &kid], &mut check)
        .map_err(bad)?;
    let aead = Aes256Gcm::new_from_slice(&record_key[..])
        .map_err(|_| Error::InvalidKey("derived key has the wrong length"))?;
    Ok(Derived { aead, check })
}

impl SegmentDecryptor {
    /// A decryptor for the segment with this header, with its key from
    /// `provider`.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] if the segment has no key id,
    /// [`Error::MissingKey`] if the provider lacks its key,
    /// [`Error::WrongKey`] if the provided key fails the key check.
    pub fn open(provider: &dyn KeyProvider, header: &SegmentHeader) -> Result<Self> {
        if header.key_id.is_none() {
            return Err(Error::Inconsistent {
                lsn: header.first_lsn,
                reason: "segment has no key id",
            });
        }
        let derived = derive(
            provider,
            header.key_id,
            &header.key_seed,
            header.log_id,
            header.salt,
        )?;
        if !constant_time_eq(&derived.check, &header.key_check) {
            return Err(Error::WrongKey {
                key_id: header.key_id,
            });
        }
        Ok(SegmentDecryptor {
            aead: derived.aead,
            log_id: header.log_id,
            salt: header.salt,
            key_id: header.key_id,
        })
    }

    /// The key id of the segment.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Decrypts `buf` (ciphertext followed by the tag) in place; on success
    /// `buf` holds the plaintext. `flags` are the record's flags as stored.
    ///
    /// # Errors
    ///
    /// [`Error::Authentication`] if the record does not authenticate.
    pub fn decrypt(
        &self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let stored_len = buf.len();
        let Some(body_len) = stored_len.checked_sub(TAG_LEN) else {
            return Err(Error::Authentication { lsn });
        };
        let Some(tag_bytes) = buf.get(body_len..) else {
            return Err(Error::Authentication { lsn });
        };
        let tag = Tag::try_from(tag_bytes).map_err(|_| Error::Authentication { lsn })?;
        let ad = self.associated_data(lsn, kind, flags, stored_len)?;
        buf.truncate(body_len);
        self.aead
            .decrypt_inout_detached(&nonce(lsn), &ad, buf.as_mut_slice().into(), &tag)
            .map_err(|_| {
                buf.clear();
                Error::Authentication { lsn }
            })
    }

    fn associated_data(
        &self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        stored_len: usize,
    ) -> Result<[u8; 40]> {
        let stored_len = u32::try_from(stored_len).map_err(|_| Error::Encrypt {
            lsn,
            reason: "payload longer than a record can hold",
        })?;
        let mut ad = [0u8; 40];
        let parts: [&[u8]; 9] = [
            AD_DOMAIN,
            &self.log_id.get().to_le_bytes(),
            &self.salt.get().to_le_bytes(),
            &self.key_id.get().to_le_bytes(),
            &lsn.get().to_le_bytes(),
            &[kind_byte(kind)],
            &[flags.bits()],
            &[0, 0],
            &stored_len.to_le_bytes(),
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = ad.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        debug_assert_eq!(at, ad.len());
        Ok(ad)
    }
}

/// Encrypts the records of one new segment. The only way to make one is
/// [`SegmentEncryptor::new_segment`], which draws a fresh key seed: an
/// existing segment is never encrypted into again.
pub struct SegmentEncryptor {
    inner: SegmentDecryptor,
    last: Option<Lsn>,
    records: u64,
    bytes: u64,
}

impl std::fmt::Debug for SegmentEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentEncryptor")
            .field("segment", &self.inner)
            .field("last", &self.last)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl SegmentEncryptor {
    /// Prepares `header` (a segment about to be written) for encryption under
    /// the provider's current key: sets its key id, a fresh random key seed
    /// and the key check, and returns the segment's encryptor. Write the
    /// header after this call.
    ///
    /// # Errors
    ///
    /// [`Error::MissingKey`] if the provider lacks its current key,
    /// [`Error::InvalidKey`] if the current key id is 0, [`Error::Random`]
    /// if the OS random source fails.
    pub fn new_segment(provider: &dyn KeyProvider, header: &mut SegmentHeader) -> Result<Self> {
        let key_id = provider.current();
        if key_id.is_none() {
            return Err(Error::InvalidKey(
                "key id 0 is reserved for unencrypted segments",
            ));
        }
        let mut seed = [0u8; 16];
        getrandom::fill(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
        let derived = derive(provider, key_id, &seed, header.log_id, header.salt)?;
        header.key_id = key_id;
        header.key_seed = seed;
        header.key_check = derived.check;
        Ok(SegmentEncryptor {
            inner: SegmentDecryptor {
                aead: derived.aead,
                log_id: header.log_id,
                salt: header.salt,
                key_id,
            },
            last: None,
            records: 0,
            bytes: 0,
        })
    }

    /// Encrypts `buf` in place and appends the tag. `flags` are the flags
    /// the payload has so far (compressed or not); the result adds
    /// [`Flags::ENCRYPTED`] and is what the record must carry.
    ///
    /// # Errors
    ///
    /// [`Error::NonceReuse`] for an LSN at or below the last one encrypted,
    /// [`Error::KeyUsageLimit`] when the segment must be rotated,
    /// [`Error::Encrypt`] if the payload is too long. On error nothing may
    /// be written: `buf` is cleared.
    pub fn encrypt(
        &mut self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        buf: &mut Vec<u8>,
    ) -> Result<Flags> {
        let result = self.encrypt_inner(lsn, kind, flags, buf);
        if result.is_err() {
            buf.clear();
        }
        result
    }

    fn encrypt_inner(
        &mut self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        buf: &mut Vec<u8>,
    ) -> Result<Flags> {
        if let Some(last) = self.last.filter(|&last| lsn <= last) {
            return Err(Error::NonceReuse { lsn, last });
        }
        let bytes = self.bytes.saturating_add(buf.len() as u64);
        if self.records >= MAX_RECORDS_PER_SEGMENT {
            return Err(Error::KeyUsageLimit {
                limit: "2^32 records per segment",
            });
        }
        if bytes > MAX_BYTES_PER_SEGMENT {
            return Err(Error::KeyUsageLimit {
                limit: "64 GiB per segment",
            });
        }
        let flags = flags | Flags::ENCRYPTED;
        let ad = self
            .inner
            .associated_data(lsn, kind, flags, buf.len().saturating_add(TAG_LEN))?;
        let tag = self
            .inner
            .aead
            .encrypt_inout_detached(&nonce(lsn), &ad, buf.as_mut_slice().into())
            .map_err(|_| Error::Encrypt {
                lsn,
                reason: "the cipher refused the payload",
            })?;
        buf.extend_from_slice(tag.as_slice());
        self.last = Some(lsn);
        self.records += 1;
        self.bytes = bytes;
        Ok(flags)
    }

    /// The decrypting half, for reading back what this segment holds.
    #[must_use]
    pub fn decryptor(&self) -> &SegmentDecryptor {
        &self.inner
    }
}

fn nonce(lsn: Lsn) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    let (head, _) = n.split_at_mut(8);
    head.copy_from_slice(&lsn.get().to_le_bytes());
    Nonce::from(n)
}

fn kind_byte(kind: LogicalKind) -> u8 {
    match kind {
        LogicalKind::Checkpoint => RecordType::Checkpoint.as_u8(),
        _ => RecordType::Full.as_u8(),
    }
}

fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Key, Keyring};

    fn ring(byte: u8) -> Keyring {
        Keyring::new(KeyId::new(1), Key::from_bytes([byte; 32])).unwrap()
    }

    fn header() -> SegmentHeader {
        SegmentHeader::new(Lsn::new(1), Salt::new(9), LogId::new(7))
    }

    #[test]
    fn encrypt_then_decrypt() {
        let mut h = header();
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h).unwrap();
        assert_eq!(h.key_id, KeyId::new(1));
        assert_ne!(h.key_seed, [0; 16]);
        let mut buf = b"secret".to_vec();
        let flags = enc
            .encrypt(Lsn::new(1), LogicalKind::Data, Flags::EMPTY, &mut buf)
            .unwrap();
        assert_eq!(flags, Flags::ENCRYPTED);
        assert_eq!(buf.len(), 6 + TAG_LEN);
        assert_ne!(&buf[..6], b"secret");
        let dec = SegmentDecryptor::open(&ring(1), &h).unwrap();
        dec.decrypt(Lsn::new(1), LogicalKind::Data, flags, &mut buf)
            .unwrap();
        assert_eq!(buf, b"secret");
    }

    #[test]
    fn missing_wrong_and_tampered_are_distinct() {
        let mut h = header();
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h).unwrap();
        let mut buf = b"secret".to_vec();
        let flags = enc
            .encrypt(Lsn::new(1), LogicalKind::Data, Flags::EMPTY, &mut buf)
            .unwrap();

        let other_id = Keyring::new(KeyId::new(2), Key::from_bytes([1; 32])).unwrap();
        assert_eq!(
            SegmentDecryptor::open(&other_id, &h).unwrap_err(),
            Error::MissingKey {
                key_id: KeyId::new(1)
            }
        );
        assert_eq!(
            SegmentDecryptor::open(&ring(2), &h).unwrap_err(),
            Error::WrongKey {
                key_id: KeyId::new(1)
            }
        );
        let dec = SegmentDecryptor::open(&ring(1), &h).unwrap();
        let mut tampered = buf.clone();
        tampered[0] ^= 1;
        assert_eq!(
            dec.decrypt(Lsn::new(1), LogicalKind::Data, flags, &mut tampered),
            Err(Error::Authentication { lsn: Lsn::new(1) })
        );
        assert!(
            tampered.is_empty(),
            "no unauthenticated bytes are left behind"
        );
    }

    #[test]
    fn refuses_to_reuse_an_lsn() {
        let mut h = header();
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h).unwrap();
        let mut buf = b"a".to_vec();
        enc.encrypt(Lsn::new(5), LogicalKind::Data, Flags::EMPTY, &mut buf)
            .unwrap();
        for lsn in [5, 4] {
            let mut again = b"b".to_vec();
            assert_eq!(
                enc.encrypt(Lsn::new(lsn), LogicalKind::Data, Flags::EMPTY, &mut again),
                Err(Error::NonceReuse {
                    lsn: Lsn::new(lsn),
                    last: Lsn::new(5)
                })
            );
            assert!(again.is_empty());
        }
        let mut next = b"c".to_vec();
        assert!(
            enc.encrypt(Lsn::new(6), LogicalKind::Data, Flags::EMPTY, &mut next)
                .is_ok()
        );
    }

    #[test]
    fn every_new_segment_gets_its_own_seed_and_check() {
        let mut a = header();
        let mut b = header();
        SegmentEncryptor::new_segment(&ring(1), &mut a).unwrap();
        SegmentEncryptor::new_segment(&ring(1), &mut b).unwrap();
        assert_ne!(a.key_seed, b.key_seed);
        assert_ne!(a.key_check, b.key_check);
    }
}
