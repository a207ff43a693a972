//! Committed sample files pin format versions 2 and 3: they must decode to
//! the records listed here, and encoding those records must give the same
//! bytes (the clean-close marker, which names no version of its own but
//! the current one, only for the current version).
//!
//! A deliberate format change bumps the version, adds new golden files and a
//! line to the version history in docs/FORMAT.md; the files of earlier
//! versions stay, and stay readable or are refused with
//! `UnsupportedVersion` (version 1 is refused). To write the files anew
//! (only ever for a new version): `GROUPWAL_BLESS=1 cargo test -p
//! wal-format --test it golden`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use wal_format::{
    BatchMarker, CleanMarker, CommitMarker, Error, Flags, LogId, LogicalKind, Lsn, Reassembler,
    RecordDecoder, RecordHeader, RecordType, SEGMENT_HEADER_LEN, Salt, SegmentHeader, StreamHeader,
    StreamOp, encode_record, parse_segment_file_name, segment_file_name, split_fragments,
};

const FIRST_LSN: Lsn = Lsn::new(100);
const SALT: Salt = Salt::new(0x5a17_5a17_0000_0001);
const LOG_ID: LogId = LogId::new(0x0123_4567_89ab_cdef);
const FRAGMENT: usize = 16;
const FRAGMENTED: &[u8] = b"a fragmented record payload, split in three";
/// Zero bytes after the last record: preallocated, never written space.
const ZERO_TAIL: usize = 64;

fn golden_dir(version: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/v{version}"))
}

fn golden_path(version: u16) -> PathBuf {
    golden_dir(version).join(segment_file_name(FIRST_LSN))
}

fn segment_header(version: u16) -> SegmentHeader {
    SegmentHeader {
        version,
        ..SegmentHeader::new(FIRST_LSN, SALT, LOG_ID)
    }
}

/// A stream record's logical payload: its header, then `entry`.
fn stream_payload(op: StreamOp, stream: u64, index: u64, entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    StreamHeader { op, stream, index }.encode_into(&mut out);
    out.extend_from_slice(entry);
    out
}

/// The physical records of the sample of `version`, in order: version 3
/// adds a group of stream records.
fn records(version: u16) -> Vec<(RecordHeader, Vec<u8>)> {
    let h = |lsn: u64, record_type, flags| RecordHeader {
        lsn: Lsn::new(lsn),
        salt: SALT,
        record_type,
        flags,
    };
    let commit = |lsn: u64, durable: u64| {
        (
            h(lsn, RecordType::Commit, Flags::EMPTY),
            CommitMarker::new(Lsn::new(durable)).encode().to_vec(),
        )
    };
    // Three commit groups, each starting with its marker: the durable LSN
    // each carries is the last LSN of the group before it.
    let mut out = vec![
        commit(100, 99),
        (
            h(100, RecordType::Full, Flags::EMPTY),
            b"hello, groupwal".to_vec(),
        ),
        commit(101, 100),
        (
            h(101, RecordType::Batch, Flags::EMPTY),
            BatchMarker::new(2).unwrap().encode().to_vec(),
        ),
        (
            h(101, RecordType::Full, Flags::EMPTY),
            b"batch member one".to_vec(),
        ),
        (
            h(102, RecordType::Full, Flags::EMPTY),
            b"batch member two".to_vec(),
        ),
        commit(103, 102),
    ];
    for (ty, part) in split_fragments(FRAGMENTED, NonZeroUsize::new(FRAGMENT).unwrap()) {
        out.push((h(103, ty, Flags::EMPTY), part.to_vec()));
    }
    out.push((
        h(104, RecordType::Checkpoint, Flags::EMPTY),
        100u64.to_le_bytes().to_vec(),
    ));
    out.push((
        h(105, RecordType::Full, Flags::COMPRESSED),
        b"flag pinned, bytes opaque".to_vec(),
    ));
    out.push((h(106, RecordType::Full, Flags::EMPTY), Vec::new()));
    if version >= 3 {
        out.push(commit(107, 106));
        out.push((
            h(107, RecordType::Full, Flags::STREAM),
            stream_payload(StreamOp::Append, 7, 1, b"stream seven, entry one"),
        ));
        out.push((
            h(108, RecordType::Full, Flags::STREAM),
            stream_payload(StreamOp::Truncate, 7, 1, b""),
        ));
    }
    out
}

/// The LSN after the sample's last record.
fn next_lsn(version: u16) -> u64 {
    if version >= 3 { 109 } else { 107 }
}

/// The clean-close marker of a log whose only segment is the sample,
/// closed after its last record.
fn clean_marker(version: u16) -> CleanMarker {
    let records_len: usize = records(version).iter().map(|(_, p)| 32 + p.len()).sum();
    CleanMarker {
        log_id: LOG_ID,
        next_lsn: Lsn::new(next_lsn(version)),
        segment: FIRST_LSN,
        salt: SALT,
        end_offset: (SEGMENT_HEADER_LEN + records_len) as u64,
    }
}

fn encode_sample(version: u16) -> Vec<u8> {
    let mut buf = segment_header(version).encode().to_vec();
    for (h, p) in records(version) {
        encode_record(&mut buf, &h, &p).unwrap();
    }
    buf.extend_from_slice(&[0u8; ZERO_TAIL]);
    buf
}

#[test]
fn v2_sample_segment_decodes_and_re_encodes_identically() {
    check_sample(2);
}

#[test]
fn v3_sample_segment_decodes_and_re_encodes_identically() {
    check_sample(3);
}

fn check_sample(version: u16) {
    let path = golden_path(version);
    if std::env::var_os("GROUPWAL_BLESS").is_some() && version == wal_format::FORMAT_VERSION {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, encode_sample(version)).unwrap();
        std::fs::write(
            golden_dir(version).join("CLEAN"),
            clean_marker(version).encode(),
        )
        .unwrap();
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(parse_segment_file_name(name), Some(FIRST_LSN));

    let header = SegmentHeader::decode(&bytes).unwrap();
    assert_eq!(header, segment_header(version));

    // Walk the records as a reader would, up to the zero-filled tail.
    let decoder = RecordDecoder::new(header.salt, 1024);
    let mut rest = &bytes[SEGMENT_HEADER_LEN..];
    let mut physical = Vec::new();
    let end = loop {
        match decoder.decode(rest) {
            Ok(rec) => {
                physical.push((rec.header, rec.payload.to_vec()));
                rest = &rest[rec.encoded_len()..];
            }
            Err(e) => break e,
        }
    };
    assert_eq!(end, Error::ZeroFilled);
    assert_eq!(rest.len(), ZERO_TAIL);
    assert_eq!(physical, records(version));

    // Logical view: markers aside, one record per LSN, fragments joined.
    let mut reassembler = Reassembler::new(1024);
    let mut logical = Vec::new();
    let mut durable = Vec::new();
    for (h, p) in &physical {
        let rec = wal_format::Record {
            header: *h,
            payload: p,
        };
        if h.record_type == RecordType::Commit {
            durable.push(CommitMarker::decode(&rec).unwrap().durable().get());
            continue;
        }
        if h.record_type == RecordType::Batch {
            continue;
        }
        let rec = wal_format::Record {
            header: *h,
            payload: p,
        };
        if let Some(l) = reassembler.push(rec).unwrap() {
            logical.push((l.lsn.get(), l.kind, l.payload.to_vec()));
        }
    }
    let lsns: Vec<u64> = logical.iter().map(|l| l.0).collect();
    assert_eq!(lsns, (100..next_lsn(version)).collect::<Vec<_>>());
    assert_eq!(&durable[..3], [99, 100, 102]);
    assert_eq!(logical[3].2, FRAGMENTED);
    assert_eq!(logical[4].1, LogicalKind::Checkpoint);
    if version >= 3 {
        assert_eq!(logical[7].1, LogicalKind::Stream);
        let (head, entry) = StreamHeader::decode(&logical[7].2).unwrap();
        assert_eq!((head.op, head.stream, head.index), (StreamOp::Append, 7, 1));
        assert_eq!(entry, b"stream seven, entry one");
        let (head, entry) = StreamHeader::decode(&logical[8].2).unwrap();
        assert_eq!(
            (head.op, head.index, entry),
            (StreamOp::Truncate, 1, &b""[..])
        );
    }

    // The encoder of this build writes exactly the pinned bytes.
    assert_eq!(
        encode_sample(version),
        bytes,
        "encoder output differs from the v{version} golden file"
    );

    // The clean-close marker of that log (written by this build in the
    // current version only).
    let clean = std::fs::read(golden_dir(version).join("CLEAN")).unwrap();
    assert_eq!(CleanMarker::decode(&clean), Ok(clean_marker(version)));
    if version == wal_format::FORMAT_VERSION {
        assert_eq!(clean, clean_marker(version).encode());
    }
    assert_eq!(
        clean_marker(version).end_offset as usize,
        bytes.len() - ZERO_TAIL
    );
}

/// Version 1 (no commit markers, an empty clean-close marker) is refused
/// by name: its logs hold no evidence of what was acknowledged.
#[test]
fn a_v1_segment_is_refused_naming_its_version() {
    let path = golden_dir(1).join(segment_file_name(FIRST_LSN));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[8..10], &[1, 0]);
    let err = SegmentHeader::decode(&bytes).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedVersion {
            found: 1,
            supported: 3
        }
    );
    assert!(err.to_string().contains('1'), "{err}");
}

#[test]
fn v2_sample_header_bytes_are_as_documented() {
    let bytes = std::fs::read(golden_path(2)).unwrap();
    // docs/FORMAT.md: magic, version 2, header length 96, first LSN at 16.
    assert_eq!(&bytes[0..8], b"\x89GWAL\r\n\x1a");
    assert_eq!(&bytes[8..10], &[2, 0]);
    assert_eq!(&bytes[10..12], &[96, 0]);
    assert_eq!(&bytes[40..44], &[0, 0, 0, 0], "key id: none");
    assert_eq!(&bytes[16..24], &100u64.to_le_bytes());
    assert_eq!(&bytes[24..32], &SALT.get().to_le_bytes());
    // First record, a commit marker: LSN at +8, salt at +16, length at
    // +24, type at +28, the durable LSN as its payload.
    let r = &bytes[SEGMENT_HEADER_LEN..];
    assert_eq!(&r[8..16], &100u64.to_le_bytes());
    assert_eq!(&r[16..24], &SALT.get().to_le_bytes());
    assert_eq!(&r[24..28], &8u32.to_le_bytes());
    assert_eq!(r[28], 7);
    assert_eq!(r[29], 0);
    assert_eq!(&r[32..40], &99u64.to_le_bytes());
    // Then the first data record.
    let r = &r[40..];
    assert_eq!(&r[8..16], &100u64.to_le_bytes());
    assert_eq!(&r[24..28], &15u32.to_le_bytes());
    assert_eq!(r[28], 1);
}
