//! Segment headers and segment file names.
//!
//! Layout (little-endian), see `docs/FORMAT.md`:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `89 47 57 41 4c 0d 0a 1a` (`\x89GWAL\r\n\x1a`) |
//! | 8 | 2 | format version (2) |
//! | 10 | 2 | header length (96) |
//! | 12 | 4 | flags, reserved, zero |
//! | 16 | 8 | first LSN |
//! | 24 | 8 | salt |
//! | 32 | 8 | log id |
//! | 40 | 4 | key id (0: not encrypted) |
//! | 44 | 4 | reserved, zero |
//! | 48 | 16 | key seed (zero when not encrypted) |
//! | 64 | 16 | key check (zero when not encrypted) |
//! | 80 | 12 | header tag: binds the header to its key and to the segment before it (zero when not encrypted) |
//! | 92 | 4 | CRC-32 of bytes 0..92 |

use crate::error::{Checksum, Error, Result};
use crate::layout::{Reader, check_crc, seal};
use crate::{KeyId, LogId, Lsn, Salt};

/// The magic bytes every segment file starts with.
pub const SEGMENT_MAGIC: [u8; 8] = *b"\x89GWAL\r\n\x1a";

/// The format version this build writes. It reads this version and every
/// one back to [`OLDEST_READ_VERSION`]. Version 1 (no commit markers, an
/// empty clean-close marker) is refused with [`Error::UnsupportedVersion`]:
/// its logs hold no evidence of which records were acknowledged
/// (`docs/FORMAT.md`, "Version history").
pub const FORMAT_VERSION: u16 = 3;

/// The oldest format version this build reads. Version 2 differs from 3
/// only in lacking the stream flag ([`crate::Flags::STREAM`]): a version 2
/// segment reads as it always did, and a record flagged as a stream entry
/// in one is refused (no writer put it there).
pub const OLDEST_READ_VERSION: u16 = 2;

/// The size of an encoded segment header; records start at this offset.
pub const SEGMENT_HEADER_LEN: usize = 96;

/// The extension of segment file names.
pub const SEGMENT_EXTENSION: &str = "wal";

/// The number of decimal digits of the LSN in a segment file name.
const NAME_DIGITS: usize = 20;

/// The header at the start of every segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentHeader {
    /// The format version the segment was written in: [`FORMAT_VERSION`]
    /// for every segment this build creates, as old as
    /// [`OLDEST_READ_VERSION`] for one it reads.
    pub version: u16,
    /// The LSN of the first logical record the segment holds (or will hold).
    pub first_lsn: Lsn,
    /// The random salt every record of this segment carries.
    pub salt: Salt,
    /// The log this segment belongs to.
    pub log_id: LogId,
    /// The key the segment's encrypted records use, or [`KeyId::NONE`].
    pub key_id: KeyId,
    /// Random bytes from which, with the key, the segment's encryption
    /// subkey is derived (`wal-crypto`); all zero when `key_id` is none.
    pub key_seed: [u8; 16],
    /// A value derived from the key and the seed that shows whether a
    /// reader holds the right key (so a wrong key is not mistaken for
    /// corruption); all zero when `key_id` is none.
    pub key_check: [u8; 16],
    /// A MAC (made and checked by `wal-crypto`) over bytes 0..80 of the
    /// header and the whole encoded header of the segment before it in the
    /// log: splicing, reordering or dropping segments of an encrypted log
    /// is detected with the key. All zero when `key_id` is none.
    pub header_tag: [u8; HEADER_TAG_LEN],
}

/// The length of [`SegmentHeader::header_tag`].
pub const HEADER_TAG_LEN: usize = 12;

/// The header bytes the header tag covers (everything before it).
pub const HEADER_TAG_OFFSET: usize = 80;

impl SegmentHeader {
    /// The header of an unencrypted segment.
    #[must_use]
    pub const fn new(first_lsn: Lsn, salt: Salt, log_id: LogId) -> Self {
        SegmentHeader {
            version: FORMAT_VERSION,
            first_lsn,
            salt,
            log_id,
            key_id: KeyId::NONE,
            key_seed: [0; 16],
            key_check: [0; 16],
            header_tag: [0; HEADER_TAG_LEN],
        }
    }

    /// The bytes the header tag covers: the encoded header up to the tag.
    #[must_use]
    pub fn tagged_bytes(&self) -> [u8; HEADER_TAG_OFFSET] {
        let mut out = [0u8; HEADER_TAG_OFFSET];
        if let Some(head) = self.encode().first_chunk::<HEADER_TAG_OFFSET>() {
            out = *head;
        }
        out
    }

    /// Encodes the header, checksum included.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        seal(|w| {
            w.put(&SEGMENT_MAGIC);
            w.put(&self.version.to_le_bytes());
            w.put(&(SEGMENT_HEADER_LEN as u16).to_le_bytes());
            w.put(&0u32.to_le_bytes());
            w.put(&self.first_lsn.get().to_le_bytes());
            w.put(&self.salt.get().to_le_bytes());
            w.put(&self.log_id.get().to_le_bytes());
            w.put(&self.key_id.get().to_le_bytes());
            w.put(&[0; 4]);
            w.put(&self.key_seed);
            w.put(&self.key_check);
            w.put(&self.header_tag);
        })
    }

    /// Decodes and verifies a segment header from the start of `buf`.
    ///
    /// Checks, in order: length ([`Error::Incomplete`]); an all-zero header
    /// ([`Error::ZeroFilled`]: a file created but never initialised); the
    /// magic ([`Error::BadMagic`]); the version
    /// ([`Error::UnsupportedVersion`], before the checksum, since another
    /// version may lay the header out differently); the header length; the
    /// checksum; the reserved fields.
    ///
    /// # Errors
    ///
    /// As listed above.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader> {
        let Some(bytes) = buf.first_chunk::<SEGMENT_HEADER_LEN>() else {
            return Err(Error::Incomplete {
                needed: SEGMENT_HEADER_LEN.saturating_sub(buf.len()),
            });
        };
        if bytes.iter().all(|&b| b == 0) {
            return Err(Error::ZeroFilled);
        }
        let mut r = Reader(bytes);
        let magic: [u8; 8] = r.take();
        if magic != SEGMENT_MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = r.u16();
        if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let header_len = r.u16();
        if usize::from(header_len) != SEGMENT_HEADER_LEN {
            return Err(Error::Invalid {
                field: "segment header length",
                reason: "must be 96",
            });
        }
        let flags = r.u32();
        let first_lsn = r.u64();
        let salt = r.u64();
        let log_id = r.u64();
        let key_id = r.u32();
        let reserved_a: [u8; 4] = r.take();
        let key_seed: [u8; 16] = r.take();
        let key_check: [u8; 16] = r.take();
        let header_tag: [u8; HEADER_TAG_LEN] = r.take();
        check_crc(Checksum::SegmentHeader, bytes)?;
        if flags != 0 {
            return Err(Error::ReservedBits {
                field: "segment header flags",
                value: u64::from(flags),
            });
        }
        if let Some(&b) = reserved_a.iter().find(|&&b| b != 0) {
            return Err(Error::ReservedBits {
                field: "segment header reserved bytes",
                value: u64::from(b),
            });
        }
        if key_id == 0
            && (key_seed != [0; 16] || key_check != [0; 16] || header_tag != [0; HEADER_TAG_LEN])
        {
            return Err(Error::Invalid {
                field: "segment key seed",
                reason: "key seed, key check and header tag must be zero in a segment without a key",
            });
        }
        if first_lsn == 0 {
            return Err(Error::Invalid {
                field: "segment first lsn",
                reason: "must be at least 1",
            });
        }
        Ok(SegmentHeader {
            version,
            first_lsn: Lsn::new(first_lsn),
            salt: Salt::new(salt),
            log_id: LogId::new(log_id),
            key_id: KeyId::new(key_id),
            key_seed,
            key_check,
            header_tag,
        })
    }
}

/// The file name of the segment whose first LSN is `first_lsn`: twenty
/// decimal digits (zero-padded, so names sort in LSN order) and `.wal`.
///
/// ```
/// # use wal_format::{segment_file_name, Lsn};
/// assert_eq!(segment_file_name(Lsn::new(42)), "00000000000000000042.wal");
/// ```
#[must_use]
pub fn segment_file_name(first_lsn: Lsn) -> String {
    format!(
        "{:0width$}.{SEGMENT_EXTENSION}",
        first_lsn.get(),
        width = NAME_DIGITS
    )
}

/// Parses a segment file name made by [`segment_file_name`]; `None` for any
/// other name (a foreign file in the log directory).
///
/// ```
/// # use wal_format::{parse_segment_file_name, Lsn};
/// assert_eq!(parse_segment_file_name("00000000000000000042.wal"), Some(Lsn::new(42)));
/// assert_eq!(parse_segment_file_name("42.wal"), None);
/// ```
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_EXTENSION)?.strip_suffix('.')?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    (value != 0).then_some(Lsn::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentHeader {
        SegmentHeader {
            version: FORMAT_VERSION,
            first_lsn: Lsn::new(1000),
            salt: Salt::new(0x0123_4567_89ab_cdef),
            log_id: LogId::new(0xfeed_face_cafe_beef),
            key_id: KeyId::new(3),
            key_seed: [0x5e; 16],
            key_check: [0xc4; 16],
            header_tag: [0x7a; HEADER_TAG_LEN],
        }
    }

    #[test]
    fn round_trip() {
        let bytes = sample().encode();
        assert_eq!(&bytes[..8], &SEGMENT_MAGIC);
        assert_eq!(SegmentHeader::decode(&bytes), Ok(sample()));
        // Trailing bytes are ignored.
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[0xff; 10]);
        assert_eq!(SegmentHeader::decode(&longer), Ok(sample()));
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let bytes = sample().encode();
        for bit in 0..SEGMENT_HEADER_LEN * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                SegmentHeader::decode(&damaged).is_err(),
                "flip of bit {bit} not detected"
            );
        }
    }

    #[test]
    fn distinguishes_failure_kinds() {
        assert_eq!(
            SegmentHeader::decode(&[0u8; 10]),
            Err(Error::Incomplete { needed: 86 })
        );
        assert_eq!(
            SegmentHeader::decode(&[0u8; SEGMENT_HEADER_LEN]),
            Err(Error::ZeroFilled)
        );
        let mut bad = sample().encode();
        bad[0] = b'X';
        assert!(matches!(
            SegmentHeader::decode(&bad),
            Err(Error::BadMagic { .. })
        ));
        // Version 1 is refused by name, as is any version after this one;
        // version 2 reads, and says so.
        for found in [1, 4] {
            let mut other = sample().encode();
            other[8] = found as u8;
            assert_eq!(
                SegmentHeader::decode(&other),
                Err(Error::UnsupportedVersion {
                    found,
                    supported: 3
                })
            );
        }
        let v2 = SegmentHeader {
            version: 2,
            ..sample()
        };
        assert_eq!(SegmentHeader::decode(&v2.encode()), Ok(v2));
        let mut crc = sample().encode();
        crc[20] ^= 0x10;
        assert!(matches!(
            SegmentHeader::decode(&crc),
            Err(Error::ChecksumMismatch {
                which: Checksum::SegmentHeader,
                ..
            })
        ));
    }

    #[test]
    fn reserved_bytes_must_be_zero_even_with_a_valid_checksum() {
        for at in [12, 44] {
            let mut bytes = sample().encode();
            bytes[at] = 1;
            let sum = crc32fast::hash(&bytes[..92]);
            bytes[92..].copy_from_slice(&sum.to_le_bytes());
            assert!(
                matches!(
                    SegmentHeader::decode(&bytes),
                    Err(Error::ReservedBits { .. })
                ),
                "byte {at}"
            );
        }
    }

    #[test]
    fn key_fields_must_be_zero_without_a_key() {
        let mut plain = SegmentHeader::new(Lsn::new(5), Salt::new(1), LogId::new(2));
        assert_eq!(SegmentHeader::decode(&plain.encode()), Ok(plain));
        plain.key_seed[0] = 1;
        assert!(matches!(
            SegmentHeader::decode(&plain.encode()),
            Err(Error::Invalid { .. })
        ));
        let mut tagged = SegmentHeader::new(Lsn::new(5), Salt::new(1), LogId::new(2));
        tagged.header_tag[11] = 1;
        assert!(matches!(
            SegmentHeader::decode(&tagged.encode()),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn the_header_tag_covers_every_byte_before_it() {
        let h = sample();
        assert_eq!(h.tagged_bytes()[..], h.encode()[..HEADER_TAG_OFFSET]);
        assert_eq!(&h.encode()[80..92], &h.header_tag);
    }

    #[test]
    fn names_sort_in_lsn_order_and_parse_back() {
        let lsns = [1u64, 9, 10, 99, 1_000_000, u64::MAX];
        let names: Vec<String> = lsns
            .iter()
            .map(|&l| segment_file_name(Lsn::new(l)))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for (&l, name) in lsns.iter().zip(&names) {
            assert_eq!(parse_segment_file_name(name), Some(Lsn::new(l)));
        }
        for bad in [
            "",
            ".wal",
            "0000000000000000000a.wal",
            "00000000000000000000.wal",
            "00000000000000000001.log",
            "00000000000000000001.wal.tmp",
            "+0000000000000000001.wal",
            "99999999999999999999.wal",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad:?}");
        }
    }
}
