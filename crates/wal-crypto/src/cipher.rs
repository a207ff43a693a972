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
use hkdf::hmac::{Hmac, Mac};
use sha2::Sha256;
use wal_format::{
    Flags, HEADER_TAG_LEN, KeyId, LogId, LogicalKind, Lsn, MARKER_TAG_LEN, Record, RecordHeader,
    RecordType, SEGMENT_HEADER_LEN, Salt, SegmentHeader,
};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::KeyProvider;

/// The length of the authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = wal_format::ENCRYPTION_TAG_LEN;

/// Records one segment may encrypt before it must be rotated.
pub const MAX_RECORDS_PER_SEGMENT: u64 = 1 << 32;
/// Plaintext bytes one segment may encrypt before it must be rotated (64 GiB,
/// 2^32 AES blocks: the distinguishing advantage stays under 2^-64).
pub const MAX_BYTES_PER_SEGMENT: u64 = 1 << 36;

const INFO_RECORD_KEY: &[u8] = b"groupwal v1 record key";
const INFO_KEY_CHECK: &[u8] = b"groupwal v1 key check";
const INFO_HEADER_KEY: &[u8] = b"groupwal v2 header tag";
const INFO_MARKER_KEY: &[u8] = b"groupwal v2 marker tag";
const AD_DOMAIN: &[u8; 4] = b"GWAD";
const HEADER_DOMAIN: &[u8; 4] = b"GWSH";
const MARKER_DOMAIN: &[u8; 4] = b"GWMK";

type HmacSha256 = Hmac<Sha256>;

/// The segment before a segment in its log, as the segment's header tag
/// covers it: that segment's whole encoded header (first LSN, salt, key
/// seed, its own tag...), or [`Link::NONE`] for a log's first segment.
/// Dropping, replacing or reordering a segment of an encrypted log breaks
/// the next segment's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    header: [u8; SEGMENT_HEADER_LEN],
}

impl Link {
    /// No segment before: the first segment of a log.
    pub const NONE: Link = Link {
        header: [0; SEGMENT_HEADER_LEN],
    };

    /// The link to the segment with this header.
    #[must_use]
    pub fn to(header: &SegmentHeader) -> Link {
        Link {
            header: header.encode(),
        }
    }
}

/// Decrypts the records of one segment (and is the shared half of a
/// [`SegmentEncryptor`]).
pub struct SegmentDecryptor {
    aead: Aes256Gcm,
    log_id: LogId,
    salt: Salt,
    key_id: KeyId,
    /// The MAC keys of the segment's header tag and of its markers.
    header_key: Zeroizing<[u8; 32]>,
    marker_key: Zeroizing<[u8; 32]>,
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
    header_key: Zeroizing<[u8; 32]>,
    marker_key: Zeroizing<[u8; 32]>,
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
    let mut header_key = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(
        &[INFO_HEADER_KEY, &log_id, &salt, &kid],
        &mut header_key[..],
    )
    .map_err(bad)?;
    let mut marker_key = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(
        &[INFO_MARKER_KEY, &log_id, &salt, &kid],
        &mut marker_key[..],
    )
    .map_err(bad)?;
    let aead = Aes256Gcm::new_from_slice(&record_key[..])
        .map_err(|_| Error::InvalidKey("derived key has the wrong length"))?;
    Ok(Derived {
        aead,
        check,
        header_key,
        marker_key,
    })
}

/// The first `N` bytes of the HMAC-SHA256 of `parts` under `key` (a tag).
fn mac<const N: usize>(key: &[u8; 32], parts: &[&[u8]]) -> Result<[u8; N]> {
    let mut m = <HmacSha256 as hkdf::hmac::KeyInit>::new_from_slice(key)
        .map_err(|_| Error::InvalidKey("derived MAC key has the wrong length"))?;
    for part in parts {
        m.update(part);
    }
    let full: [u8; 32] = m.finalize().into_bytes().into();
    full.first_chunk::<N>()
        .copied()
        .ok_or(Error::InvalidKey("tag longer than its MAC"))
}

/// The header tag of `header` (its bytes before the tag) after `prev`.
fn header_tag(key: &[u8; 32], header: &SegmentHeader, prev: Link) -> Result<[u8; HEADER_TAG_LEN]> {
    mac(key, &[HEADER_DOMAIN, &header.tagged_bytes(), &prev.header])
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
            header_key: derived.header_key,
            marker_key: derived.marker_key,
        })
    }

    /// Checks the header tag of `header` (the segment this decryptor was
    /// opened for), which binds its fields and the segment before it in
    /// the log (`prev`; [`Link::NONE`] for a log's first segment) to the
    /// key.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthenticated`] if the tag does not match.
    pub fn verify_header(&self, header: &SegmentHeader, prev: Link) -> Result<()> {
        let want = header_tag(&self.header_key, header, prev)?;
        if constant_time_eq_n(&want, &header.header_tag) {
            Ok(())
        } else {
            Err(Error::Unauthenticated {
                what: "segment header".into(),
            })
        }
    }

    /// The tag of a batch or commit marker with `header` and `body`.
    ///
    /// # Errors
    ///
    /// [`Error::Encrypt`] if the body is too long (over 4 GiB).
    fn marker_tag(&self, header: &RecordHeader, body: &[u8]) -> Result<[u8; MARKER_TAG_LEN]> {
        let body_len = u32::try_from(body.len()).map_err(|_| Error::Encrypt {
            lsn: header.lsn,
            reason: "marker body too long",
        })?;
        mac(
            &self.marker_key,
            &[
                MARKER_DOMAIN,
                &self.log_id.get().to_le_bytes(),
                &self.salt.get().to_le_bytes(),
                &self.key_id.get().to_le_bytes(),
                &header.lsn.get().to_le_bytes(),
                &[header.record_type.as_u8(), header.flags.bits()],
                &body_len.to_le_bytes(),
                body,
            ],
        )
    }

    /// Checks a marker of this segment: its payload is the body followed by
    /// the tag (`wal_format::marker_body`), and the tag covers the body,
    /// the LSN, the type and the flags.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthenticated`] if the marker has no tag or it does not
    /// match.
    pub fn verify_marker(&self, record: &Record<'_>) -> Result<()> {
        let unauthenticated = || Error::Unauthenticated {
            what: format!("marker at lsn {}", record.header.lsn),
        };
        let split = record.payload.len().checked_sub(MARKER_TAG_LEN);
        let Some((body, tag)) = split.map(|at| record.payload.split_at(at)) else {
            return Err(unauthenticated());
        };
        let want = self
            .marker_tag(&record.header, body)
            .map_err(|_| unauthenticated())?;
        if record.header.flags == Flags::ENCRYPTED && constant_time_eq_n(&want, tag) {
            Ok(())
        } else {
            Err(unauthenticated())
        }
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
#[derive(Debug)]
pub struct SegmentEncryptor {
    inner: SegmentDecryptor,
    last: Option<Lsn>,
    records: u64,
    bytes: u64,
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
    pub fn new_segment(
        provider: &dyn KeyProvider,
        header: &mut SegmentHeader,
        prev: Link,
    ) -> Result<Self> {
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
        header.header_tag = header_tag(&derived.header_key, header, prev)?;
        Ok(SegmentEncryptor {
            inner: SegmentDecryptor {
                aead: derived.aead,
                log_id: header.log_id,
                salt: header.salt,
                key_id,
                header_key: derived.header_key,
                marker_key: derived.marker_key,
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
        let flags = flags | Flags::ENCRYPTED;
        let len = buf.len() as u64;
        let sealed = self.admit(lsn, len).and_then(|()| {
            let ad =
                self.inner
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
            Ok(())
        });
        if let Err(e) = sealed {
            buf.clear();
            return Err(e);
        }
        self.last = Some(lsn);
        self.records += 1;
        self.bytes = self.bytes.saturating_add(len);
        Ok(flags)
    }

    /// Whether `records` more payloads of `bytes` plaintext bytes in all
    /// fit within this segment's key-usage limits
    /// ([`MAX_RECORDS_PER_SEGMENT`], [`MAX_BYTES_PER_SEGMENT`]): a writer
    /// starts a new segment before a group that would not.
    #[must_use]
    pub fn has_room(&self, records: u64, bytes: u64) -> bool {
        self.limit_passed(records, bytes).is_none()
    }

    /// The key-usage limit `records` more payloads of `bytes` bytes would
    /// pass, if any.
    fn limit_passed(&self, records: u64, bytes: u64) -> Option<&'static str> {
        if self.records.saturating_add(records) > MAX_RECORDS_PER_SEGMENT {
            Some("2^32 records per segment")
        } else if self.bytes.saturating_add(bytes) > MAX_BYTES_PER_SEGMENT {
            Some("64 GiB per segment")
        } else {
            None
        }
    }

    /// Whether one more payload of `len` bytes may be encrypted at `lsn`:
    /// above the last LSN (the nonce) and within the key-usage limits.
    fn admit(&self, lsn: Lsn, len: u64) -> Result<()> {
        if let Some(last) = self.last.filter(|&last| lsn <= last) {
            return Err(Error::NonceReuse { lsn, last });
        }
        match self.limit_passed(1, len) {
            Some(limit) => Err(Error::KeyUsageLimit { limit }),
            None => Ok(()),
        }
    }

    /// The payload of a marker of this segment (a batch or commit marker
    /// with `header`, whose flags must be [`Flags::ENCRYPTED`]): `body`
    /// followed by its tag.
    ///
    /// # Errors
    ///
    /// [`Error::Encrypt`] if `header` is not flagged encrypted or the body
    /// is too long.
    pub fn seal_marker(&self, header: &RecordHeader, body: &[u8]) -> Result<Vec<u8>> {
        if header.flags != Flags::ENCRYPTED {
            return Err(Error::Encrypt {
                lsn: header.lsn,
                reason: "a marker of an encrypted segment is flagged encrypted",
            });
        }
        let tag = self.inner.marker_tag(header, body)?;
        let mut out = Vec::with_capacity(body.len().saturating_add(MARKER_TAG_LEN));
        out.extend_from_slice(body);
        out.extend_from_slice(&tag);
        Ok(out)
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

/// The logical kind in the associated data: the record type that stores
/// it (a stream record is a data record whose flags, also in the
/// associated data, say stream).
fn kind_byte(kind: LogicalKind) -> u8 {
    match kind {
        LogicalKind::Checkpoint => RecordType::Checkpoint.as_u8(),
        _ => RecordType::Full.as_u8(),
    }
}

fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    constant_time_eq_n(a, b)
}

fn constant_time_eq_n(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h, Link::NONE).unwrap();
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
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h, Link::NONE).unwrap();
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
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h, Link::NONE).unwrap();
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
    fn the_key_usage_limits_are_asked_before_and_kept_at_encryption() {
        let mut h = header();
        let mut enc = SegmentEncryptor::new_segment(&ring(1), &mut h, Link::NONE).unwrap();
        assert!(enc.has_room(MAX_RECORDS_PER_SEGMENT, MAX_BYTES_PER_SEGMENT));
        assert!(!enc.has_room(MAX_RECORDS_PER_SEGMENT + 1, 0));
        assert!(!enc.has_room(0, MAX_BYTES_PER_SEGMENT + 1));
        let mut buf = b"abc".to_vec();
        enc.encrypt(Lsn::new(1), LogicalKind::Data, Flags::EMPTY, &mut buf)
            .unwrap();
        // What was encrypted counts (the plaintext bytes).
        assert!(enc.has_room(MAX_RECORDS_PER_SEGMENT - 1, MAX_BYTES_PER_SEGMENT - 3));
        assert!(!enc.has_room(MAX_RECORDS_PER_SEGMENT, 0));
        assert!(!enc.has_room(0, MAX_BYTES_PER_SEGMENT - 2));

        // At either limit, encryption is refused and nothing is left behind.
        for (records, bytes, limit) in [
            (1, MAX_BYTES_PER_SEGMENT - 1, "64 GiB per segment"),
            (MAX_RECORDS_PER_SEGMENT, 0, "2^32 records per segment"),
        ] {
            (enc.records, enc.bytes) = (records, bytes);
            let mut two = b"xy".to_vec();
            assert_eq!(
                enc.encrypt(Lsn::new(2), LogicalKind::Data, Flags::EMPTY, &mut two),
                Err(Error::KeyUsageLimit { limit })
            );
            assert!(two.is_empty(), "{limit}");
        }
    }

    #[test]
    fn the_header_tag_binds_the_header_and_the_segment_before() {
        let first = header();
        let mut h = SegmentHeader::new(Lsn::new(10), Salt::new(11), LogId::new(7));
        SegmentEncryptor::new_segment(&ring(1), &mut h, Link::to(&first)).unwrap();
        let dec = SegmentDecryptor::open(&ring(1), &h).unwrap();
        assert!(dec.verify_header(&h, Link::to(&first)).is_ok());
        // Another segment before it (one dropped or replaced), none, or a
        // changed field: refused.
        let other = SegmentHeader::new(Lsn::new(1), Salt::new(12), LogId::new(7));
        assert!(dec.verify_header(&h, Link::to(&other)).is_err());
        assert!(dec.verify_header(&h, Link::NONE).is_err());
        let mut moved = h;
        moved.first_lsn = Lsn::new(11);
        assert!(dec.verify_header(&moved, Link::to(&first)).is_err());
    }

    #[test]
    fn markers_are_authenticated() {
        let mut h = header();
        let enc = SegmentEncryptor::new_segment(&ring(1), &mut h, Link::NONE).unwrap();
        let rh = RecordHeader {
            lsn: Lsn::new(5),
            salt: h.salt,
            record_type: RecordType::Commit,
            flags: Flags::ENCRYPTED,
        };
        let payload = enc.seal_marker(&rh, &4u64.to_le_bytes()).unwrap();
        assert_eq!(payload.len(), 8 + MARKER_TAG_LEN);
        let dec = SegmentDecryptor::open(&ring(1), &h).unwrap();
        let verifies =
            |header: RecordHeader, payload: &[u8]| dec.verify_marker(&Record { header, payload });
        assert!(verifies(rh, &payload).is_ok());
        // A forged durable lsn, another lsn, another type: refused.
        let mut forged = payload.clone();
        forged[0] ^= 1;
        assert!(verifies(rh, &forged).is_err());
        let moved = RecordHeader {
            lsn: Lsn::new(6),
            ..rh
        };
        assert!(verifies(moved, &payload).is_err());
        let batch = RecordHeader {
            record_type: RecordType::Batch,
            ..rh
        };
        assert!(verifies(batch, &payload).is_err());
        // A marker without the flag is never sealed.
        let plain = RecordHeader {
            flags: Flags::EMPTY,
            ..rh
        };
        assert!(enc.seal_marker(&plain, &[0; 8]).is_err());
    }

    #[test]
    fn every_new_segment_gets_its_own_seed_and_check() {
        let mut a = header();
        let mut b = header();
        SegmentEncryptor::new_segment(&ring(1), &mut a, Link::NONE).unwrap();
        SegmentEncryptor::new_segment(&ring(1), &mut b, Link::NONE).unwrap();
        assert_ne!(a.key_seed, b.key_seed);
        assert_ne!(a.key_check, b.key_check);
    }
}
