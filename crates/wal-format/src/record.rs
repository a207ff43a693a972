//! Record headers: types, flags, encoding and zero-copy decoding.
//!
//! Layout (little-endian), see `docs/FORMAT.md`:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | record CRC: CRC-32 of bytes 8..32, then the payload |
//! | 4 | 4 | header CRC: CRC-32 of bytes 8..32 |
//! | 8 | 8 | LSN |
//! | 16 | 8 | segment salt |
//! | 24 | 4 | payload length |
//! | 28 | 1 | record type |
//! | 29 | 1 | flags |
//! | 30 | 2 | reserved, zero |

use crate::error::{Checksum, Error, Result};
use crate::{Lsn, Salt};

/// The size of an encoded record header in bytes.
pub const RECORD_HEADER_LEN: usize = 32;

/// The bytes encryption adds to a stored payload: an encrypted payload is
/// the ciphertext followed by a 16-byte AES-GCM tag (`docs/FORMAT.md`). A
/// logical record of `n` bytes is stored in at most `n` plus this (it is
/// compressed only when that makes it shorter), which is what a reader must
/// accept for a record the writer accepted at its size limit.
pub const ENCRYPTION_TAG_LEN: usize = 16;

/// The largest payload one record can carry, whatever the configuration: the
/// length field is 32 bits. Decoders are normally configured far lower.
pub const MAX_PAYLOAD_LEN: u32 = u32::MAX;

/// The kind of a record.
///
/// A *logical* record is what a user appended: a [`RecordType::Full`] record,
/// a chain [`RecordType::First`], [`RecordType::Middle`]*,
/// [`RecordType::Last`] of fragments, or a [`RecordType::Checkpoint`]. Each
/// logical record takes one LSN. A [`RecordType::Batch`] or
/// [`RecordType::Commit`] marker takes none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum RecordType {
    /// A whole logical record.
    Full = 1,
    /// The first fragment of a logical record too large for one record.
    First = 2,
    /// A fragment between the first and the last.
    Middle = 3,
    /// The last fragment; the logical record is complete.
    Last = 4,
    /// A batch marker: the next `count` logical records (its payload) form
    /// one atomic batch, all present or all discarded on recovery.
    Batch = 5,
    /// A checkpoint: a logical record with a payload meaningful to the
    /// application (for example, the LSN below which the log may be purged).
    Checkpoint = 6,
    /// A commit marker: starts each write of a commit group and carries the
    /// LSN through which the log was durable when the group was written
    /// ([`crate::CommitMarker`]), the evidence recovery uses to tell a torn
    /// write from damage to acknowledged records. Takes no LSN.
    Commit = 7,
}

impl RecordType {
    /// Every record type, in numeric order.
    pub const ALL: [RecordType; 7] = [
        RecordType::Full,
        RecordType::First,
        RecordType::Middle,
        RecordType::Last,
        RecordType::Batch,
        RecordType::Checkpoint,
        RecordType::Commit,
    ];

    /// The on-disk value.
    #[must_use]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Decodes an on-disk value.
    pub const fn from_u8(value: u8) -> Result<Self> {
        Ok(match value {
            1 => RecordType::Full,
            2 => RecordType::First,
            3 => RecordType::Middle,
            4 => RecordType::Last,
            5 => RecordType::Batch,
            6 => RecordType::Checkpoint,
            7 => RecordType::Commit,
            other => return Err(Error::UnknownType(other)),
        })
    }

    /// Whether this is a marker (batch or commit): a record that takes no
    /// LSN and carries the LSN of the logical record after it.
    #[must_use]
    pub const fn is_marker(self) -> bool {
        matches!(self, RecordType::Batch | RecordType::Commit)
    }

    /// Whether this is one of the fragment types (first, middle, last).
    #[must_use]
    pub const fn is_fragment(self) -> bool {
        matches!(
            self,
            RecordType::First | RecordType::Middle | RecordType::Last
        )
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordType::Full => "full",
            RecordType::First => "first",
            RecordType::Middle => "middle",
            RecordType::Last => "last",
            RecordType::Batch => "batch",
            RecordType::Checkpoint => "checkpoint",
            RecordType::Commit => "commit",
        })
    }
}

/// Per-record flags describing how the payload is transformed.
///
/// Bits other than [`Flags::COMPRESSED`], [`Flags::ENCRYPTED`] and
/// [`Flags::STREAM`] are reserved: they are never set by an encoder and rejected by a decoder.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flags: the payload is stored as given.
    pub const EMPTY: Flags = Flags(0);
    /// The payload is zstd-compressed (compression happens before encryption).
    pub const COMPRESSED: Flags = Flags(0b0000_0001);
    /// The payload is AES-256-GCM ciphertext followed by its tag.
    pub const ENCRYPTED: Flags = Flags(0b0000_0010);
    /// The logical payload starts with a stream entry header
    /// ([`crate::StreamHeader`]): the record belongs to a stream (format
    /// version 3 on). Not a transform: the header is part of the payload
    /// that is compressed and encrypted.
    pub const STREAM: Flags = Flags(0b0000_0100);
    /// Every bit with a meaning in this format version.
    pub const KNOWN: Flags = Flags(0b0000_0111);

    /// Flags from raw bits; `Err` carries the reserved bits that were set.
    pub const fn from_bits(bits: u8) -> Result<Flags, u8> {
        let reserved = bits & !Flags::KNOWN.0;
        if reserved == 0 {
            Ok(Flags(bits))
        } else {
            Err(reserved)
        }
    }

    /// The raw bits.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag in `other` is set in `self`.
    #[must_use]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of both sets of flags.
    #[must_use]
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` without the flags in `other`.
    #[must_use]
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        *self = self.union(rhs);
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_set();
        if self.contains(Flags::COMPRESSED) {
            list.entry(&"COMPRESSED");
        }
        if self.contains(Flags::ENCRYPTED) {
            list.entry(&"ENCRYPTED");
        }
        if self.contains(Flags::STREAM) {
            list.entry(&"STREAM");
        }
        list.finish()
    }
}

/// The fields of a record header other than its length and checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// The record's LSN. Fragments of one logical record share its LSN; a
    /// batch marker carries the LSN of the batch's first record.
    pub lsn: Lsn,
    /// The salt of the segment the record is written to.
    pub salt: Salt,
    /// The record's type.
    pub record_type: RecordType,
    /// How the payload is transformed.
    pub flags: Flags,
}

impl RecordHeader {
    /// Encodes this header for `payload`, checksums included.
    ///
    /// This is the building block for writers that place the payload in
    /// their buffer first (for example, encrypting in place) and fill in the
    /// header afterwards; [`encode_record`] is the everyday form.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] if the payload does not fit the 32-bit length field.
    pub fn encode(&self, payload: &[u8]) -> Result<[u8; RECORD_HEADER_LEN]> {
        let len = u32::try_from(payload.len()).map_err(|_| Error::TooLong {
            len: payload.len() as u64,
            max: u64::from(MAX_PAYLOAD_LEN),
        })?;
        let mut fields = [0u8; FIELDS_LEN];
        let (lsn, rest) = fields.split_at_mut(8);
        lsn.copy_from_slice(&self.lsn.get().to_le_bytes());
        let (salt, rest) = rest.split_at_mut(8);
        salt.copy_from_slice(&self.salt.get().to_le_bytes());
        let (len_field, rest) = rest.split_at_mut(4);
        len_field.copy_from_slice(&len.to_le_bytes());
        if let [ty, flags, _reserved0, _reserved1] = rest {
            *ty = self.record_type.as_u8();
            *flags = self.flags.bits();
        }
        let header_crc = crc32fast::hash(&fields);
        let record_crc = continue_crc(header_crc, payload);
        let mut out = [0u8; RECORD_HEADER_LEN];
        let (crcs, tail) = out.split_at_mut(8);
        let (rc, hc) = crcs.split_at_mut(4);
        rc.copy_from_slice(&record_crc.to_le_bytes());
        hc.copy_from_slice(&header_crc.to_le_bytes());
        tail.copy_from_slice(&fields);
        Ok(out)
    }
}

/// The number of header bytes both checksums cover (bytes 8..32).
const FIELDS_LEN: usize = RECORD_HEADER_LEN - 8;

/// Continues a CRC-32 over more bytes: `continue_crc(hash(a), b) == hash(a ++ b)`.
fn continue_crc(crc: u32, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(bytes);
    hasher.finalize()
}

/// Appends one encoded record (header, then payload) to `dst` and returns
/// the number of bytes appended. Allocates only if `dst` must grow.
///
/// # Errors
///
/// [`Error::TooLong`] if the payload does not fit the 32-bit length field;
/// `dst` is then left unchanged.
pub fn encode_record(dst: &mut Vec<u8>, header: &RecordHeader, payload: &[u8]) -> Result<usize> {
    let encoded = header.encode(payload)?;
    let len = RECORD_HEADER_LEN.saturating_add(payload.len());
    dst.reserve(len);
    dst.extend_from_slice(&encoded);
    dst.extend_from_slice(payload);
    Ok(len)
}

/// A decoded record, borrowing its payload from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The verified header.
    pub header: RecordHeader,
    /// The payload, exactly as stored (still compressed or encrypted if the
    /// flags say so).
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// The number of bytes the record occupies on disk.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_LEN.saturating_add(self.payload.len())
    }
}

/// A header that passed its own checksum: its length can be trusted to size
/// a read, but the payload is not yet verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedHeader {
    /// The header fields.
    pub header: RecordHeader,
    /// The payload length.
    pub payload_len: u32,
    /// The stored record checksum, to verify the payload against.
    record_crc: u32,
    /// The header checksum (the starting point of the record checksum).
    header_crc: u32,
}

impl VerifiedHeader {
    /// The number of bytes the whole record occupies on disk.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_LEN.saturating_add(self.payload_len as usize)
    }

    /// Verifies `payload` (exactly `payload_len` bytes) against the record
    /// checksum.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the length differs from the header's, and
    /// [`Error::ChecksumMismatch`] if the bytes do not match.
    pub fn verify_payload<'a>(&self, payload: &'a [u8]) -> Result<Record<'a>> {
        if payload.len() != self.payload_len as usize {
            return Err(Error::Invalid {
                field: "payload",
                reason: "length differs from the record header's",
            });
        }
        self.check_record_crc(continue_crc(self.header_crc, payload))?;
        Ok(Record {
            header: self.header,
            payload,
        })
    }

    /// Checks the record checksum computed over the fields and payload.
    fn check_record_crc(&self, computed: u32) -> Result<()> {
        if computed == self.record_crc {
            Ok(())
        } else {
            Err(Error::ChecksumMismatch {
                which: Checksum::Record,
                stored: self.record_crc,
                computed,
            })
        }
    }
}

/// Decodes and verifies records of one segment.
///
/// It knows the segment's salt (records with another are stale) and the
/// largest payload to accept (a longer length is rejected before any read or
/// allocation is sized by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordDecoder {
    salt: Salt,
    max_payload_len: u32,
}

impl RecordDecoder {
    /// A decoder for records of the segment with this salt.
    #[must_use]
    pub const fn new(salt: Salt, max_payload_len: u32) -> Self {
        RecordDecoder {
            salt,
            max_payload_len,
        }
    }

    /// The salt records must carry.
    #[must_use]
    pub const fn salt(&self) -> Salt {
        self.salt
    }

    /// The largest payload accepted.
    #[must_use]
    pub const fn max_payload_len(&self) -> u32 {
        self.max_payload_len
    }

    /// Decodes and verifies the header at the start of `buf`.
    ///
    /// Checks, in order: enough bytes for a header ([`Error::Incomplete`]);
    /// the header checksum ([`Error::ChecksumMismatch`], or
    /// [`Error::ZeroFilled`] when the header is all zeros); the reserved
    /// field, the type, the flags, the salt and the length against the
    /// maximum. The payload is not read.
    ///
    /// # Errors
    ///
    /// As listed above.
    pub fn decode_header(&self, buf: &[u8]) -> Result<VerifiedHeader> {
        let bytes = header_bytes(buf)?;
        self.check_header(bytes, crc32fast::hash(fields_of(bytes)))
    }

    /// The checks of [`RecordDecoder::decode_header`] once the header
    /// checksum over the fields is `computed`.
    fn check_header(
        &self,
        bytes: &[u8; RECORD_HEADER_LEN],
        computed: u32,
    ) -> Result<VerifiedHeader> {
        let [r0, r1, r2, r3, h0, h1, h2, h3, fields @ ..] = bytes;
        let record_crc = u32::from_le_bytes([*r0, *r1, *r2, *r3]);
        let header_crc = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
        if computed != header_crc {
            if record_crc == 0 && header_crc == 0 && fields.iter().all(|&b| b == 0) {
                return Err(Error::ZeroFilled);
            }
            return Err(Error::ChecksumMismatch {
                which: Checksum::RecordHeader,
                stored: header_crc,
                computed,
            });
        }
        let fields = Fields::parse(fields);
        if fields.reserved != 0 {
            return Err(Error::ReservedBits {
                field: "record header reserved field",
                value: u64::from(fields.reserved),
            });
        }
        let record_type = RecordType::from_u8(fields.record_type)?;
        let flags = Flags::from_bits(fields.flags).map_err(|bits| Error::ReservedBits {
            field: "record flags",
            value: u64::from(bits),
        })?;
        let salt = Salt::new(fields.salt);
        if salt != self.salt {
            return Err(Error::WrongSalt {
                expected: self.salt,
                found: salt,
            });
        }
        if fields.len > self.max_payload_len {
            return Err(Error::TooLong {
                len: u64::from(fields.len),
                max: u64::from(self.max_payload_len),
            });
        }
        Ok(VerifiedHeader {
            header: RecordHeader {
                lsn: Lsn::new(fields.lsn),
                salt,
                record_type,
                flags,
            },
            payload_len: fields.len,
            record_crc,
            header_crc,
        })
    }

    /// Decodes and verifies the record at the start of `buf`, borrowing its
    /// payload. Bytes after the record are ignored; use
    /// [`Record::encoded_len`] to step to the next one.
    ///
    /// # Errors
    ///
    /// Those of [`RecordDecoder::decode_header`]; then
    /// [`Error::Incomplete`] if the payload is cut short and
    /// [`Error::ChecksumMismatch`] if it does not verify.
    ///
    /// Both checksums are computed in one pass (the record checksum
    /// continues the header's), which makes this the cheaper call when the
    /// whole record is at hand.
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<Record<'a>> {
        let bytes = header_bytes(buf)?;
        let mut hasher = new_hasher();
        hasher.update(fields_of(bytes));
        let header = self.check_header(bytes, hasher.clone().finalize())?;
        let end = header.encoded_len();
        let Some(payload) = buf.get(RECORD_HEADER_LEN..end) else {
            return Err(Error::Incomplete {
                needed: end.saturating_sub(buf.len()),
            });
        };
        hasher.update(payload);
        header.check_record_crc(hasher.finalize())?;
        Ok(Record {
            header: header.header,
            payload,
        })
    }
}

/// A CRC-32 hasher from zero. `crc32fast::Hasher::new` detects the CPU's
/// features on every call; a clone of one made once skips that (35 of the
/// 625 instructions a 128-byte record's scan took, measured).
fn new_hasher() -> crc32fast::Hasher {
    static PROTOTYPE: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    PROTOTYPE.get_or_init(crc32fast::Hasher::new).clone()
}

/// The header at the start of `buf`.
fn header_bytes(buf: &[u8]) -> Result<&[u8; RECORD_HEADER_LEN]> {
    buf.first_chunk::<RECORD_HEADER_LEN>()
        .ok_or(Error::Incomplete {
            needed: RECORD_HEADER_LEN.saturating_sub(buf.len()),
        })
}

/// The bytes both checksums cover (after the two checksums).
fn fields_of(bytes: &[u8; RECORD_HEADER_LEN]) -> &[u8; FIELDS_LEN] {
    let [_, _, _, _, _, _, _, _, fields @ ..] = bytes;
    fields
}

/// The raw header fields after the two checksums.
struct Fields {
    lsn: u64,
    salt: u64,
    len: u32,
    record_type: u8,
    flags: u8,
    reserved: u16,
}

impl Fields {
    fn parse(bytes: &[u8; FIELDS_LEN]) -> Fields {
        let [
            l0,
            l1,
            l2,
            l3,
            l4,
            l5,
            l6,
            l7,
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
            n0,
            n1,
            n2,
            n3,
            ty,
            flags,
            r0,
            r1,
        ] = *bytes;
        Fields {
            lsn: u64::from_le_bytes([l0, l1, l2, l3, l4, l5, l6, l7]),
            salt: u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
            len: u32::from_le_bytes([n0, n1, n2, n3]),
            record_type: ty,
            flags,
            reserved: u16::from_le_bytes([r0, r1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: Salt = Salt::new(0x5eed_5eed_5eed_5eed);

    fn header(ty: RecordType) -> RecordHeader {
        RecordHeader {
            lsn: Lsn::new(7),
            salt: SALT,
            record_type: ty,
            flags: Flags::EMPTY,
        }
    }

    fn decoder() -> RecordDecoder {
        RecordDecoder::new(SALT, 1 << 20)
    }

    #[test]
    fn round_trip_and_length() {
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, &header(RecordType::Full), b"hello").unwrap();
        assert_eq!(n, RECORD_HEADER_LEN + 5);
        assert_eq!(buf.len(), n);
        let rec = decoder().decode(&buf).unwrap();
        assert_eq!(rec.header, header(RecordType::Full));
        assert_eq!(rec.payload, b"hello");
        assert_eq!(rec.encoded_len(), n);
    }

    #[test]
    fn both_checksums_are_crc32_of_documented_ranges() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(RecordType::Full), b"abc").unwrap();
        let stored_record = u32::from_le_bytes(buf[0..4].try_into().unwrap());
        let stored_header = u32::from_le_bytes(buf[4..8].try_into().unwrap());
        assert_eq!(stored_header, crc32fast::hash(&buf[8..32]));
        assert_eq!(stored_record, crc32fast::hash(&buf[8..]));
    }

    #[test]
    fn short_input_says_how_much_is_missing() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(RecordType::Full), &[9; 100]).unwrap();
        assert_eq!(
            decoder().decode(&buf[..10]),
            Err(Error::Incomplete { needed: 22 })
        );
        assert_eq!(
            decoder().decode(&buf[..RECORD_HEADER_LEN + 40]),
            Err(Error::Incomplete { needed: 60 })
        );
    }

    #[test]
    fn zero_filled_header_is_recognised() {
        assert_eq!(decoder().decode(&[0u8; 64]), Err(Error::ZeroFilled));
    }

    #[test]
    fn stale_record_is_wrong_salt_not_corruption() {
        let mut buf = Vec::new();
        let mut h = header(RecordType::Full);
        h.salt = Salt::new(1);
        encode_record(&mut buf, &h, b"old").unwrap();
        assert_eq!(
            decoder().decode(&buf),
            Err(Error::WrongSalt {
                expected: SALT,
                found: Salt::new(1)
            })
        );
    }

    #[test]
    fn over_long_length_is_rejected_before_the_payload_is_needed() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(RecordType::Full), &[1; 300]).unwrap();
        let small = RecordDecoder::new(SALT, 299);
        // Only the header is given: the length check must not wait for the payload.
        assert_eq!(
            small.decode(&buf[..RECORD_HEADER_LEN]),
            Err(Error::TooLong { len: 300, max: 299 })
        );
    }

    /// Re-encodes a header with raw field bytes and valid checksums, to reach
    /// checks that sit behind the header checksum.
    fn forge(ty: u8, flags: u8, reserved: u16) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(RecordType::Full), b"x").unwrap();
        buf[28] = ty;
        buf[29] = flags;
        buf[30..32].copy_from_slice(&reserved.to_le_bytes());
        let hc = crc32fast::hash(&buf[8..32]);
        let rc = crc32fast::hash(&buf[8..]);
        buf[0..4].copy_from_slice(&rc.to_le_bytes());
        buf[4..8].copy_from_slice(&hc.to_le_bytes());
        buf
    }

    #[test]
    fn unknown_type_reserved_flags_and_reserved_field_are_rejected() {
        assert_eq!(
            decoder().decode(&forge(0, 0, 0)),
            Err(Error::UnknownType(0))
        );
        assert_eq!(
            decoder().decode(&forge(8, 0, 0)),
            Err(Error::UnknownType(8))
        );
        assert_eq!(
            decoder().decode(&forge(1, 0b1000, 0)),
            Err(Error::ReservedBits {
                field: "record flags",
                value: 0b1000
            })
        );
        assert!(matches!(
            decoder().decode(&forge(1, 0, 1)),
            Err(Error::ReservedBits { .. })
        ));
        assert!(decoder().decode(&forge(1, 0b11, 0)).is_ok());
    }

    #[test]
    fn payload_damage_is_a_record_checksum_mismatch() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(RecordType::Full), b"payload").unwrap();
        buf[RECORD_HEADER_LEN + 2] ^= 1;
        assert!(matches!(
            decoder().decode(&buf),
            Err(Error::ChecksumMismatch {
                which: Checksum::Record,
                ..
            })
        ));
    }

    /// The encoders against the layout of `docs/FORMAT.md`, built here
    /// field by field with its own checksums (not through `encode`).
    #[test]
    fn encoders_write_the_documented_layout() {
        for ty in RecordType::ALL {
            let h = RecordHeader {
                lsn: Lsn::new(0x0102_0304_0506_0708),
                salt: Salt::new(0x1112_1314_1516_1718),
                record_type: ty,
                flags: Flags::COMPRESSED | Flags::ENCRYPTED,
            };
            let payload = b"payload bytes";
            let mut fields = Vec::new();
            fields.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
            fields.extend_from_slice(&0x1112_1314_1516_1718u64.to_le_bytes());
            fields.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            fields.push(ty as u8);
            fields.push(0b11);
            fields.extend_from_slice(&[0, 0]);
            let header_crc = crc32fast::hash(&fields);
            let mut covered = fields.clone();
            covered.extend_from_slice(payload);
            let record_crc = crc32fast::hash(&covered);
            let mut expected = Vec::new();
            expected.extend_from_slice(&record_crc.to_le_bytes());
            expected.extend_from_slice(&header_crc.to_le_bytes());
            expected.extend_from_slice(&fields);
            assert_eq!(h.encode(payload).unwrap()[..], expected[..], "{ty}");
            expected.extend_from_slice(payload);
            let mut buf = vec![0xee];
            let n = encode_record(&mut buf, &h, payload).unwrap();
            assert_eq!(n, expected.len());
            assert_eq!(buf[0], 0xee, "encode_record appends");
            assert_eq!(buf[1..], expected[..], "{ty}");
        }
    }

    #[test]
    fn flags_reject_reserved_bits() {
        assert_eq!(
            Flags::from_bits(0b11),
            Ok(Flags::COMPRESSED | Flags::ENCRYPTED)
        );
        assert_eq!(Flags::from_bits(0b1010), Err(0b1000));
        assert_eq!(Flags::from_bits(0b0100), Ok(Flags::STREAM));
        assert!(Flags::KNOWN.contains(Flags::ENCRYPTED));
        assert_eq!(
            Flags::KNOWN.difference(Flags::ENCRYPTED),
            Flags::COMPRESSED | Flags::STREAM
        );
        assert_eq!(
            format!("{:?}", Flags::KNOWN),
            r#"{"COMPRESSED", "ENCRYPTED", "STREAM"}"#
        );
    }

    #[test]
    fn record_type_values_are_stable() {
        for (i, ty) in RecordType::ALL.iter().enumerate() {
            assert_eq!(usize::from(ty.as_u8()), i + 1);
            assert_eq!(RecordType::from_u8(ty.as_u8()), Ok(*ty));
        }
        assert!(RecordType::Middle.is_fragment());
        assert!(!RecordType::Batch.is_fragment());
    }
}
