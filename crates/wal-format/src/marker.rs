//! The evidence a writer leaves of what it had acknowledged: the commit
//! marker at the start of every group it writes, and the content of the
//! clean-close marker file. Recovery reads both to tell a torn write (never
//! acknowledged, cut) from damage to acknowledged records (corruption,
//! reported); see `docs/FORMAT.md`, "Evidence of durability".

use crate::error::{Checksum, Error, Result};
use crate::layout::{Reader, check_crc, seal};
use crate::record::{Flags, Record, RecordType};
use crate::{LogId, Lsn, Salt};

/// The length of the tag a marker in an encrypted segment carries after its
/// body (a MAC made and checked by `wal-crypto`).
pub const MARKER_TAG_LEN: usize = 16;

/// The body of a batch or commit marker of `body_len` bytes: the whole
/// payload of a marker without flags (a segment without a key), or the
/// payload before its tag when the marker is flagged
/// [`Flags::ENCRYPTED`] (in an encrypted segment, markers are
/// authenticated: body, then a [`MARKER_TAG_LEN`]-byte tag). Checks the
/// flags and the length; the tag itself is `wal-crypto`'s to check.
///
/// # Errors
///
/// [`Error::Invalid`] for a compressed marker, or a payload of the wrong
/// length for its flags.
pub fn marker_body<'a>(record: &Record<'a>, body_len: usize) -> Result<&'a [u8]> {
    let flags = record.header.flags;
    let tag_len = if flags.is_empty() {
        0
    } else if flags == Flags::ENCRYPTED {
        MARKER_TAG_LEN
    } else {
        return Err(Error::Invalid {
            field: "marker",
            reason: "a marker is never compressed",
        });
    };
    if record.payload.len() != body_len.saturating_add(tag_len) {
        return Err(Error::Invalid {
            field: "marker",
            reason: "payload length does not match the marker's kind and flags",
        });
    }
    Ok(record.payload.get(..body_len).unwrap_or_default())
}

/// The payload of a [`RecordType::Commit`] marker.
///
/// A writer starts every write of a commit group with one. The marker's
/// header carries the LSN of the group's first logical record (it takes no
/// LSN of its own); its payload is the LSN through which the log was
/// durable, and every record up to it acknowledged, when the group was
/// written ([`Lsn::ZERO`]: nothing yet). A surviving marker therefore
/// proves that every record up to [`CommitMarker::durable`] reached the
/// disk: damage to one of them is corruption, never a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommitMarker {
    durable: Lsn,
}

impl CommitMarker {
    /// The encoded payload length.
    pub const ENCODED_LEN: usize = 8;

    /// A marker saying the log was durable through `durable`.
    #[must_use]
    pub const fn new(durable: Lsn) -> Self {
        CommitMarker { durable }
    }

    /// The LSN through which the log was durable when the group was
    /// written.
    #[must_use]
    pub const fn durable(self) -> Lsn {
        self.durable
    }

    /// The marker's payload.
    #[must_use]
    pub fn encode(self) -> [u8; Self::ENCODED_LEN] {
        self.durable.get().to_le_bytes()
    }

    /// Parses a marker record (type and flags included).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the record is not a commit marker, is
    /// compressed, has a payload of the wrong length for its flags (see
    /// [`marker_body`]), or claims a durable LSN at or above its own (the
    /// group it starts cannot be durable before it is written).
    pub fn decode(record: &Record<'_>) -> Result<Self> {
        let invalid = |reason| Error::Invalid {
            field: "commit marker",
            reason,
        };
        if record.header.record_type != RecordType::Commit {
            return Err(invalid("record is not a commit marker"));
        }
        let body = marker_body(record, Self::ENCODED_LEN)?;
        let Ok(bytes) = <[u8; Self::ENCODED_LEN]>::try_from(body) else {
            return Err(invalid("payload must be 8 bytes"));
        };
        let durable = Lsn::new(u64::from_le_bytes(bytes));
        if durable >= record.header.lsn {
            return Err(invalid(
                "durable lsn at or above the lsn of the group it starts",
            ));
        }
        Ok(CommitMarker { durable })
    }
}

/// The content of the clean-close marker file (`CLEAN`, written by
/// `wal-io` when a log is closed with everything durable): where the log's
/// data ended and which LSN comes next. Recovery treats every record below
/// [`CleanMarker::next_lsn`] as acknowledged (so after a clean close
/// nothing is a torn tail), and skips rewriting the last segment when the
/// log still ends exactly there.
///
/// Layout (60 bytes, little-endian):
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 8 | magic `89 47 57 43 4C 4E 0A 1A` (`\x89GWCLN\n\x1a`) |
/// | 8 | 2 | format version (2) |
/// | 10 | 2 | length (60) |
/// | 12 | 4 | reserved, zero |
/// | 16 | 8 | log id |
/// | 24 | 8 | next LSN (the last record's LSN + 1) |
/// | 32 | 8 | the last segment's first LSN (0: no segment) |
/// | 40 | 8 | the last segment's salt |
/// | 48 | 8 | the offset after the last record in the last segment |
/// | 56 | 4 | CRC-32 of bytes 0..56 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CleanMarker {
    /// The log the marker belongs to.
    pub log_id: LogId,
    /// The LSN the next record takes: every record below it was durable at
    /// the close.
    pub next_lsn: Lsn,
    /// The first LSN of the last segment ([`Lsn::ZERO`] if the log had no
    /// segment).
    pub segment: Lsn,
    /// The salt of the last segment.
    pub salt: Salt,
    /// The offset after the last record of the last segment.
    pub end_offset: u64,
}

/// The magic bytes a clean-close marker starts with.
const CLEAN_MAGIC: [u8; 8] = *b"\x89GWCLN\n\x1a";

impl CleanMarker {
    /// The encoded length.
    pub const ENCODED_LEN: usize = 60;

    /// Encodes the marker, checksum included.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        seal(|w| {
            w.put(&CLEAN_MAGIC);
            w.put(&crate::FORMAT_VERSION.to_le_bytes());
            w.put(&(Self::ENCODED_LEN as u16).to_le_bytes());
            w.put(&[0; 4]);
            w.put(&self.log_id.get().to_le_bytes());
            w.put(&self.next_lsn.get().to_le_bytes());
            w.put(&self.segment.get().to_le_bytes());
            w.put(&self.salt.get().to_le_bytes());
            w.put(&self.end_offset.to_le_bytes());
        })
    }

    /// Decodes and verifies a marker file's content.
    ///
    /// # Errors
    ///
    /// [`Error::Incomplete`] (shorter than a marker: for example the empty
    /// file format version 1 left), [`Error::BadMagic`],
    /// [`Error::UnsupportedVersion`], [`Error::ChecksumMismatch`],
    /// [`Error::Invalid`] (a wrong length, trailing bytes, reserved bytes
    /// set, or an end offset inside the segment header).
    pub fn decode(buf: &[u8]) -> Result<CleanMarker> {
        let Some(bytes) = buf.first_chunk::<{ Self::ENCODED_LEN }>() else {
            return Err(Error::Incomplete {
                needed: Self::ENCODED_LEN.saturating_sub(buf.len()),
            });
        };
        let invalid = |reason| Error::Invalid {
            field: "clean-close marker",
            reason,
        };
        let mut r = Reader(bytes);
        let magic: [u8; 8] = r.take();
        if magic != CLEAN_MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = r.u16();
        if !(crate::OLDEST_READ_VERSION..=crate::FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: crate::FORMAT_VERSION,
            });
        }
        check_crc(Checksum::CleanMarker, bytes)?;
        if usize::from(r.u16()) != Self::ENCODED_LEN || buf.len() != Self::ENCODED_LEN {
            return Err(invalid("length must be 60 bytes"));
        }
        if r.take::<4>() != [0; 4] {
            return Err(invalid("reserved bytes must be zero"));
        }
        let marker = CleanMarker {
            log_id: LogId::new(r.u64()),
            next_lsn: Lsn::new(r.u64()),
            segment: Lsn::new(r.u64()),
            salt: Salt::new(r.u64()),
            end_offset: r.u64(),
        };
        if marker.next_lsn == Lsn::ZERO {
            return Err(invalid("next lsn must be at least 1"));
        }
        if marker.segment != Lsn::ZERO
            && (marker.end_offset < crate::SEGMENT_HEADER_LEN as u64
                || marker.segment > marker.next_lsn)
        {
            return Err(invalid("end outside the last segment's records"));
        }
        Ok(marker)
    }

    /// The last LSN the marker says was durable ([`Lsn::ZERO`]: none).
    #[must_use]
    pub fn last_lsn(&self) -> Lsn {
        self.next_lsn.checked_prev().unwrap_or(Lsn::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecordHeader;

    fn marker_record(lsn: u64, payload: &[u8]) -> Record<'_> {
        Record {
            header: RecordHeader {
                lsn: Lsn::new(lsn),
                salt: Salt::new(7),
                record_type: RecordType::Commit,
                flags: Flags::EMPTY,
            },
            payload,
        }
    }

    #[test]
    fn commit_marker_round_trips_and_refuses_a_durable_lsn_at_its_own() {
        let m = CommitMarker::new(Lsn::new(41));
        let bytes = m.encode();
        assert_eq!(CommitMarker::decode(&marker_record(42, &bytes)), Ok(m));
        // A group cannot have been durable before it was written.
        assert!(CommitMarker::decode(&marker_record(41, &bytes)).is_err());
        assert!(CommitMarker::decode(&marker_record(42, &bytes[..7])).is_err());
        let mut flagged = marker_record(42, &bytes);
        flagged.header.flags = Flags::COMPRESSED;
        assert!(CommitMarker::decode(&flagged).is_err());
        // Authenticated (encrypted segment): the body, then a tag.
        flagged.header.flags = Flags::ENCRYPTED;
        assert!(CommitMarker::decode(&flagged).is_err(), "no tag");
        let mut tagged = bytes.to_vec();
        tagged.extend_from_slice(&[7; MARKER_TAG_LEN]);
        flagged.payload = &tagged;
        assert_eq!(CommitMarker::decode(&flagged), Ok(m));
        let mut full = marker_record(42, &bytes);
        full.header.record_type = RecordType::Full;
        assert!(CommitMarker::decode(&full).is_err());
        let zero = CommitMarker::new(Lsn::ZERO);
        assert_eq!(
            CommitMarker::decode(&marker_record(1, &zero.encode())),
            Ok(zero)
        );
    }

    fn clean() -> CleanMarker {
        CleanMarker {
            log_id: LogId::new(0xfeed),
            next_lsn: Lsn::new(2001),
            segment: Lsn::new(1601),
            salt: Salt::new(0xabcd),
            end_offset: 4242,
        }
    }

    #[test]
    fn clean_marker_round_trips() {
        let m = clean();
        assert_eq!(CleanMarker::decode(&m.encode()), Ok(m));
        assert_eq!(m.last_lsn(), Lsn::new(2000));
    }

    #[test]
    fn every_bit_flip_of_a_clean_marker_is_refused() {
        let bytes = clean().encode();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(CleanMarker::decode(&b).is_err(), "bit {bit} undetected");
        }
    }

    #[test]
    fn a_version_1_marker_and_trailing_bytes_are_refused() {
        // Version 1 wrote an empty file.
        assert!(matches!(
            CleanMarker::decode(&[]),
            Err(Error::Incomplete { needed: 60 })
        ));
        let mut long = clean().encode().to_vec();
        long.push(0);
        assert!(CleanMarker::decode(&long).is_err());
    }
}
