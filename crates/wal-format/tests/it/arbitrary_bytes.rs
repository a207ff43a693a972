//! The decoders against damaged and forged input that is close to valid:
//! valid record streams (records of every type, with random flags, LSNs and
//! payloads, behind a segment header or not) are generated first, then
//! mutated (bit flips, truncation, two streams spliced together, a record
//! duplicated, a field changed with the checksums recomputed, a length
//! forged past the maximum), so that the accept paths run as often as the
//! reject paths.
//!
//! On every input the decoders' contract holds: no panic; a decoded record
//! re-encodes to exactly the bytes it was decoded from (the encoding is
//! canonical); a length above the maximum is refused from the header alone,
//! before the payload is needed; a decoded segment header re-encodes to its
//! bytes. Where the mutation determines the outcome, the outcome is checked
//! exactly: which records are accepted, and which error stops the walk.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use wal_format::{
    Checksum, Error, Flags, KeyId, LogId, Lsn, RECORD_HEADER_LEN, Reassembler, RecordDecoder,
    RecordHeader, RecordType, SEGMENT_HEADER_LEN, Salt, SegmentHeader, encode_record,
};

use crate::support::{flags, record_type};

/// The maximum payload most cases decode with (some use a small one).
const MAX: u32 = 1 << 20;

/// A record to generate, its salt given by the stream it goes into.
#[derive(Clone, Debug)]
struct Spec {
    lsn: u64,
    record_type: RecordType,
    flags: Flags,
    payload: Vec<u8>,
}

impl Spec {
    fn header(&self, salt: Salt) -> RecordHeader {
        RecordHeader {
            lsn: Lsn::new(self.lsn),
            salt,
            record_type: self.record_type,
            flags: self.flags,
        }
    }
}

/// A record as the decoder should return it.
type Decoded = (RecordHeader, Vec<u8>);

/// An encoded stream and where each of its records lies.
struct Stream {
    bytes: Vec<u8>,
    spans: Vec<Range<usize>>,
    records: Vec<Decoded>,
}

fn encode(specs: &[Spec], salt: Salt) -> Stream {
    let mut s = Stream {
        bytes: Vec::new(),
        spans: Vec::new(),
        records: Vec::new(),
    };
    for spec in specs {
        let header = spec.header(salt);
        let start = s.bytes.len();
        encode_record(&mut s.bytes, &header, &spec.payload).unwrap();
        s.spans.push(start..s.bytes.len());
        s.records.push((header, spec.payload.clone()));
    }
    s
}

/// How a walk over the records must go.
#[derive(Debug)]
struct Expect {
    /// Exactly these records, in order...
    records: Vec<Decoded>,
    /// ...then this.
    then: Then,
}

#[derive(Debug)]
enum Then {
    /// The input ends right after them.
    End,
    /// This error.
    Error(Error),
    /// Some error (damage whose exact detection is not determined).
    SomeError,
    /// Anything the contract allows (bytes of unknown meaning follow).
    Anything,
}

/// `records`, then `then`; but a record whose payload is above `max` is
/// where the walk stops, refused as too long.
fn expect(records: &[Decoded], max: u32, then: Then) -> Expect {
    match records.iter().position(|(_, p)| p.len() > max as usize) {
        Some(i) => Expect {
            records: records[..i].to_vec(),
            then: Then::Error(Error::TooLong {
                len: records[i].1.len() as u64,
                max: u64::from(max),
            }),
        },
        None => Expect {
            records: records.to_vec(),
            then,
        },
    }
}

/// A field of one record changed, with the checksums recomputed.
#[derive(Clone, Debug)]
enum Field {
    /// The reserved bytes 30..32, to a nonzero value.
    Reserved(u16),
    /// The type byte, to a value no type has.
    Type(u8),
    /// The flags byte, with some reserved bit set.
    Flags(u8),
    /// Another salt (a stale record that verifies).
    Salt(u64),
    /// A length above the maximum (only the header checksum recomputed: the
    /// payload it claims is not there).
    TooLong(u32),
    /// A shorter length, both checksums recomputed over the shorter record:
    /// valid, and followed by the rest of its old payload.
    Shorter(usize),
}

#[derive(Clone, Debug)]
enum Mutation {
    None,
    /// Flip these bits (positions taken modulo the input's length in bits).
    Flip(Vec<usize>),
    /// Keep this many bytes (modulo the input's length plus one).
    Truncate(usize),
    /// The first `at` bytes (or records, at a record boundary) of this
    /// stream, then the bytes (records) of another from `from` on, written
    /// with the same salt or with another.
    Splice {
        other: Vec<Spec>,
        same_salt: bool,
        boundary: bool,
        at: usize,
        from: usize,
    },
    /// A copy of record `which` inserted before record `at`.
    Duplicate {
        which: usize,
        at: usize,
    },
    /// Record `which` re-encoded with another LSN, type or flags.
    Reencode {
        which: usize,
        lsn: Option<u64>,
        record_type: Option<RecordType>,
        flags: Option<Flags>,
    },
    /// A field of record `which` changed, the checksums recomputed.
    Forge {
        which: usize,
        field: Field,
    },
}

impl Mutation {
    fn name(&self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::Flip(_) => "bit flips",
            Mutation::Truncate(_) => "truncation",
            Mutation::Splice { .. } => "splice",
            Mutation::Duplicate { .. } => "duplicate",
            Mutation::Reencode { .. } => "re-encoded field",
            Mutation::Forge { .. } => "forged field",
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    salt: u64,
    specs: Vec<Spec>,
    /// A segment header in front of the records (its salt the records').
    segment: Option<SegmentHeader>,
    max: u32,
    mutation: Mutation,
}

fn lsn() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..1000, any::<u64>()]
}

fn spec() -> impl Strategy<Value = Spec> {
    (lsn(), record_type(), flags(), vec(any::<u8>(), 0..160)).prop_map(
        |(lsn, record_type, flags, payload)| Spec {
            lsn,
            record_type,
            flags,
            payload,
        },
    )
}

fn segment_header() -> impl Strategy<Value = SegmentHeader> {
    (
        1u64..u64::MAX,
        any::<u64>(),
        any::<u32>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(first, log_id, key_id, seed, check)| {
            let mut h = SegmentHeader::new(Lsn::new(first), Salt::new(0), LogId::new(log_id));
            if key_id != 0 {
                h.key_id = KeyId::new(key_id);
                h.key_seed = seed;
                h.key_check = check;
            }
            h
        })
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        (1u16..).prop_map(Field::Reserved),
        prop_oneof![Just(0u8), 8u8..].prop_map(Field::Type),
        (0u8..=255)
            .prop_filter("a reserved flag bit", |b| b & !Flags::KNOWN.bits() != 0)
            .prop_map(Field::Flags),
        (1u64..).prop_map(Field::Salt),
        any::<u32>().prop_map(Field::TooLong),
        any::<usize>().prop_map(Field::Shorter),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::None),
        vec(any::<usize>(), 1..=3).prop_map(Mutation::Flip),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            vec(spec(), 0..6),
            any::<bool>(),
            any::<bool>(),
            any::<usize>(),
            any::<usize>()
        )
            .prop_map(|(other, same_salt, boundary, at, from)| Mutation::Splice {
                other,
                same_salt,
                boundary,
                at,
                from,
            }),
        (any::<usize>(), any::<usize>()).prop_map(|(which, at)| Mutation::Duplicate { which, at }),
        (
            any::<usize>(),
            proptest::option::of(lsn()),
            proptest::option::of(record_type()),
            proptest::option::of(flags())
        )
            .prop_map(|(which, lsn, record_type, flags)| Mutation::Reencode {
                which,
                lsn,
                record_type,
                flags,
            }),
        (any::<usize>(), field()).prop_map(|(which, field)| Mutation::Forge { which, field }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        vec(spec(), 1..8),
        proptest::option::of(segment_header()),
        prop_oneof![4 => Just(MAX), 1 => 0u32..200],
        mutation(),
    )
        .prop_map(|(salt, specs, segment, max, mutation)| Case {
            salt,
            specs,
            segment: segment.map(|mut h| {
                h.salt = Salt::new(salt);
                h
            }),
            max,
            mutation,
        })
}

/// CRC-32 (IEEE), bit by bit: an independent check of the checksum the
/// format documents, without depending on crc32fast here.
fn reference_crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Recomputes the checksums of the record at the start of `rec`: the
/// header's, and the record's over the header fields and `payload_len`
/// bytes of payload (if `whole`; else the record checksum is left).
fn rechecksum(rec: &mut [u8], payload_len: usize, whole: bool) {
    let hc = reference_crc32(&rec[8..RECORD_HEADER_LEN]);
    rec[4..8].copy_from_slice(&hc.to_le_bytes());
    if whole {
        let rc = reference_crc32(&rec[8..RECORD_HEADER_LEN + payload_len]);
        rec[0..4].copy_from_slice(&rc.to_le_bytes());
    }
}

/// The record bytes of a case after its mutation (bit flips and truncation
/// are applied to the whole input later, as they may hit the segment
/// header), and how a walk over them must go.
fn mutate_records(case: &Case) -> (Vec<u8>, Expect) {
    let salt = Salt::new(case.salt);
    let max = case.max;
    let s = encode(&case.specs, salt);
    let n = s.records.len();
    let all = |records: &[Decoded]| expect(records, max, Then::End);
    match &case.mutation {
        Mutation::None | Mutation::Flip(_) | Mutation::Truncate(_) => {
            let e = all(&s.records);
            (s.bytes, e)
        }
        Mutation::Splice {
            other,
            same_salt,
            boundary,
            at,
            from,
        } => {
            let other_salt = if *same_salt {
                salt
            } else {
                Salt::new(case.salt ^ 0x5a5a)
            };
            let o = encode(other, other_salt);
            if *boundary {
                let i = at % (n + 1);
                let j = from % (o.records.len() + 1);
                let mut bytes =
                    s.bytes[..s.spans.get(i).map_or(s.bytes.len(), |r| r.start)].to_vec();
                bytes.extend_from_slice(
                    &o.bytes[o.spans.get(j).map_or(o.bytes.len(), |r| r.start)..],
                );
                let mut records = s.records[..i].to_vec();
                let e = if *same_salt || j == o.records.len() {
                    records.extend_from_slice(&o.records[j..]);
                    all(&records)
                } else {
                    expect(
                        &records,
                        max,
                        Then::Error(Error::WrongSalt {
                            expected: salt,
                            found: other_salt,
                        }),
                    )
                };
                (bytes, e)
            } else {
                let i = at % (s.bytes.len() + 1);
                let j = from % (o.bytes.len() + 1);
                let mut bytes = s.bytes[..i].to_vec();
                bytes.extend_from_slice(&o.bytes[j..]);
                let whole = s.spans.iter().take_while(|r| r.end <= i).count();
                let e = expect(&s.records[..whole], max, Then::Anything);
                (bytes, e)
            }
        }
        Mutation::Duplicate { which, at } => {
            let k = which % n;
            let p = at % (n + 1);
            let mut bytes = s.bytes[..s.spans.get(p).map_or(s.bytes.len(), |r| r.start)].to_vec();
            bytes.extend_from_slice(&s.bytes[s.spans[k].clone()]);
            bytes.extend_from_slice(&s.bytes[s.spans.get(p).map_or(s.bytes.len(), |r| r.start)..]);
            let mut records = s.records.clone();
            records.insert(p, s.records[k].clone());
            (bytes, all(&records))
        }
        Mutation::Reencode {
            which,
            lsn,
            record_type,
            flags,
        } => {
            let k = which % n;
            let mut specs = case.specs.clone();
            let spec = &mut specs[k];
            spec.lsn = lsn.unwrap_or(spec.lsn);
            spec.record_type = record_type.unwrap_or(spec.record_type);
            spec.flags = flags.unwrap_or(spec.flags);
            let s = encode(&specs, salt);
            let e = all(&s.records);
            (s.bytes, e)
        }
        Mutation::Forge { which, field } => {
            let k = which % n;
            let span = s.spans[k].clone();
            let len = span.len() - RECORD_HEADER_LEN;
            let mut bytes = s.bytes.clone();
            let rec = &mut bytes[span];
            let (error, shorter) = match *field {
                Field::Reserved(v) => {
                    rec[30..32].copy_from_slice(&v.to_le_bytes());
                    let error = Error::ReservedBits {
                        field: "record header reserved field",
                        value: u64::from(v),
                    };
                    (Some(error), None)
                }
                Field::Type(t) => {
                    rec[28] = t;
                    (Some(Error::UnknownType(t)), None)
                }
                Field::Flags(f) => {
                    rec[29] = f;
                    let error = Error::ReservedBits {
                        field: "record flags",
                        value: u64::from(f & !Flags::KNOWN.bits()),
                    };
                    (Some(error), None)
                }
                Field::Salt(delta) => {
                    let found = Salt::new(case.salt.wrapping_add(delta));
                    rec[16..24].copy_from_slice(&found.get().to_le_bytes());
                    let error = Error::WrongSalt {
                        expected: salt,
                        found,
                    };
                    (Some(error), None)
                }
                Field::TooLong(v) => {
                    let claimed = max + 1 + v % (u32::MAX - max);
                    rec[24..28].copy_from_slice(&claimed.to_le_bytes());
                    let error = Error::TooLong {
                        len: u64::from(claimed),
                        max: u64::from(max),
                    };
                    (Some(error), None)
                }
                Field::Shorter(v) if len > 0 => {
                    let shorter = v % len;
                    rec[24..28].copy_from_slice(&(shorter as u32).to_le_bytes());
                    (None, Some(shorter))
                }
                Field::Shorter(_) => (None, None),
            };
            let whole = !matches!(field, Field::TooLong(_));
            rechecksum(rec, shorter.unwrap_or(len), whole);
            let e = match (error, shorter) {
                (Some(error), _) => expect(&s.records[..k], max, Then::Error(error)),
                (None, Some(shorter)) => {
                    let mut records = s.records[..k].to_vec();
                    let (h, p) = &s.records[k];
                    records.push((*h, p[..shorter].to_vec()));
                    expect(&records, max, Then::Anything)
                }
                (None, None) => all(&s.records),
            };
            (bytes, e)
        }
    }
}

/// What one input made the decoders do.
#[derive(Default)]
struct Walk {
    records: Vec<Decoded>,
    /// The error that ended the walk, if it did not end with the input.
    end: Option<Error>,
}

/// Walks the records at the start of `bytes` as a reader does, checking
/// the contract at every step.
fn walk(bytes: &[u8], salt: Salt, max: u32) -> Result<Walk, TestCaseError> {
    let decoder = RecordDecoder::new(salt, max);
    let mut reassembler = Reassembler::new(512);
    let mut out = Walk::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = decoder.decode_header(rest);
        match decoder.decode(rest) {
            Ok(rec) => {
                let len = rec.encoded_len();
                prop_assert!(len <= rest.len());
                // Canonical: it re-encodes to the very bytes it came from.
                let mut again = Vec::new();
                encode_record(&mut again, &rec.header, rec.payload).unwrap();
                prop_assert_eq!(&again[..], &rest[..len]);
                // The header alone says the same, and the payload verifies.
                let h = header.unwrap();
                prop_assert_eq!(h.header, rec.header);
                prop_assert_eq!(h.payload_len as usize, rec.payload.len());
                prop_assert!(h.payload_len <= max);
                prop_assert_eq!(h.verify_payload(rec.payload), Ok(rec));
                if !rec.header.record_type.is_marker()
                    && let Ok(Some(logical)) = reassembler.push(rec)
                {
                    prop_assert!(logical.payload.len() <= 512);
                }
                out.records.push((rec.header, rec.payload.to_vec()));
                rest = &rest[len..];
            }
            Err(e) => {
                match (&e, header) {
                    // A length above the maximum is refused from the header
                    // alone, before the payload is needed.
                    (Error::TooLong { len, max: m }, h) => {
                        prop_assert_eq!(*m, u64::from(max));
                        prop_assert!(*len > u64::from(max));
                        prop_assert_eq!(h, Err(e.clone()));
                        let head = &rest[..RECORD_HEADER_LEN];
                        prop_assert_eq!(decoder.decode(head), Err(e.clone()));
                    }
                    // A header that verifies fails only for its payload:
                    // missing, or not matching the record checksum.
                    (_, Ok(h)) => prop_assert!(
                        matches!(
                            e,
                            Error::Incomplete { needed }
                                if needed == h.encoded_len() - rest.len()
                        ) || matches!(
                            e,
                            Error::ChecksumMismatch {
                                which: Checksum::Record,
                                ..
                            }
                        ),
                        "{:?} after a verified header {:?}",
                        e,
                        h
                    ),
                    // Otherwise the header's own failure.
                    (_, Err(he)) => prop_assert_eq!(&e, &he),
                }
                out.end = Some(e);
                break;
            }
        }
    }
    Ok(out)
}

/// What the walks did.
#[derive(Debug, Default)]
struct Tally {
    /// Per mutation: inputs walked, inputs with a record accepted, records
    /// accepted.
    by_mutation: BTreeMap<&'static str, (u64, u64, u64)>,
    /// How the walks ended.
    ends: BTreeMap<&'static str, u64>,
}

fn end_name(end: Option<&Error>) -> &'static str {
    match end {
        None => "end of input",
        Some(Error::Incomplete { .. }) => "incomplete",
        Some(Error::ChecksumMismatch { .. }) => "checksum",
        Some(Error::TooLong { .. }) => "too long",
        Some(Error::UnknownType(_)) => "unknown type",
        Some(Error::ReservedBits { .. }) => "reserved bits",
        Some(Error::WrongSalt { .. }) => "wrong salt",
        Some(_) => "other",
    }
}

fn check(case: &Case, tally: &RefCell<Tally>) -> Result<(), TestCaseError> {
    let salt = Salt::new(case.salt);
    let (records, mut expected) = mutate_records(case);
    let mut input = case
        .segment
        .map(|h| h.encode().to_vec())
        .unwrap_or_default();
    let start = input.len();
    input.extend_from_slice(&records);
    let mut header_damaged = false;
    match &case.mutation {
        Mutation::Flip(bits) => {
            // A bit flipped twice is not flipped.
            let mut flipped = std::collections::BTreeSet::new();
            for &bit in bits {
                let bit = bit % (input.len() * 8);
                if !flipped.insert(bit) {
                    flipped.remove(&bit);
                }
            }
            let mut first = usize::MAX;
            for bit in flipped {
                input[bit / 8] ^= 1 << (bit % 8);
                if bit / 8 < start {
                    header_damaged = true;
                } else {
                    first = first.min(bit / 8 - start);
                }
            }
            // The first record a flip hits is refused (up to three flipped
            // bits in a record are always detected), unless the walk
            // stopped before it.
            let s = encode(&case.specs, salt);
            if let Some(k) = s.spans.iter().position(|r| r.contains(&first))
                && k <= expected.records.len()
            {
                expected = expect(&s.records[..k], case.max, Then::SomeError);
            }
        }
        Mutation::Truncate(keep) => {
            let keep = keep % (input.len() + 1);
            input.truncate(keep);
            header_damaged = keep < start;
            let cut = keep.saturating_sub(start);
            let s = encode(&case.specs, salt);
            if let Some(k) = s.spans.iter().position(|r| r.end > cut) {
                let r = &s.spans[k];
                let got = cut - r.start;
                let then = if got == 0 {
                    Then::End
                } else if got < RECORD_HEADER_LEN {
                    Then::Error(Error::Incomplete {
                        needed: RECORD_HEADER_LEN - got,
                    })
                } else if r.len() - RECORD_HEADER_LEN > case.max as usize {
                    Then::Error(Error::TooLong {
                        len: (r.len() - RECORD_HEADER_LEN) as u64,
                        max: u64::from(case.max),
                    })
                } else {
                    Then::Error(Error::Incomplete {
                        needed: r.end - cut,
                    })
                };
                if k <= expected.records.len() {
                    expected = expect(&s.records[..k], case.max, then);
                }
            }
        }
        _ => {}
    }

    // The segment header: intact, it decodes to what was encoded, which
    // re-encodes to its bytes; damaged, it is refused.
    if let Some(h) = case.segment {
        match SegmentHeader::decode(&input) {
            Ok(got) => {
                prop_assert!(!header_damaged, "a damaged segment header decoded");
                prop_assert_eq!(got, h);
                prop_assert_eq!(&got.encode()[..], &input[..SEGMENT_HEADER_LEN]);
            }
            Err(e) => prop_assert!(header_damaged, "{:?}", e),
        }
    }
    if input.len() < start {
        return Ok(());
    }

    let got = walk(&input[start..], salt, case.max)?;
    {
        let mut tally = tally.borrow_mut();
        let t = tally.by_mutation.entry(case.mutation.name()).or_default();
        t.0 += 1;
        t.1 += u64::from(!got.records.is_empty());
        t.2 += got.records.len() as u64;
        *tally.ends.entry(end_name(got.end.as_ref())).or_default() += 1;
    }
    match expected.then {
        Then::Anything => {
            prop_assert!(got.records.len() >= expected.records.len());
            prop_assert_eq!(
                &got.records[..expected.records.len()],
                &expected.records[..]
            );
        }
        then => {
            prop_assert_eq!(&got.records, &expected.records);
            match then {
                Then::End => prop_assert_eq!(got.end, None),
                Then::Error(e) => prop_assert_eq!(got.end, Some(e)),
                Then::SomeError => prop_assert!(got.end.is_some()),
                Then::Anything => unreachable!(),
            }
        }
    }
    Ok(())
}

#[test]
#[allow(clippy::print_stderr)] // the counts, for `--nocapture`
fn mutated_valid_streams_keep_the_decoders_contract() {
    const CASES: u32 = 4096;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let tally = RefCell::new(Tally::default());
    runner
        .run(&case(), |case| check(&case, &tally))
        .unwrap_or_else(|e| panic!("{e}"));

    // The accept paths ran: most inputs had records decoded, and so did
    // every kind of mutation; and every way of refusing a record was seen.
    let tally = tally.into_inner();
    let (cases, accepting, records) = tally
        .by_mutation
        .values()
        .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2));
    eprintln!(
        "arbitrary_bytes: {cases} walks, {accepting} with a record accepted, {records} records accepted; {tally:?}"
    );
    assert!(
        accepting * 10 >= cases * 6,
        "only {accepting} of {cases} inputs reached the accept path"
    );
    assert_eq!(tally.by_mutation.len(), 7, "{tally:?}");
    for (name, &(n, accepted, _)) in &tally.by_mutation {
        assert!(
            accepted * 4 >= n,
            "{name}: {accepted} of {n} inputs had a record accepted"
        );
    }
    for end in [
        "end of input",
        "incomplete",
        "checksum",
        "too long",
        "unknown type",
        "reserved bits",
        "wrong salt",
    ] {
        assert!(
            tally.ends.get(end).copied().unwrap_or(0) >= 10,
            "{end}: {tally:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Arbitrary bytes: the same contract (random junk is refused: two
    /// CRC-32s essentially never match).
    #[test]
    fn arbitrary_bytes_keep_the_contract(bytes in vec(any::<u8>(), 0..512), salt in any::<u64>(), max in any::<u32>()) {
        let got = walk(&bytes, Salt::new(salt), max)?;
        prop_assert!(got.records.is_empty());
        let _ = SegmentHeader::decode(&bytes);
    }
}

/// A header claiming a 4 GiB payload is refused by the length check, before
/// anything would read or allocate that much.
#[test]
fn huge_length_in_a_valid_header_is_refused() {
    let salt = Salt::new(5);
    let mut buf = Vec::new();
    wal_format::encode_record(
        &mut buf,
        &crate::support::header_of(wal_format::RecordType::Full, 1, salt),
        b"",
    )
    .unwrap();
    buf[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    let hc = reference_crc32(&buf[8..32]);
    buf[4..8].copy_from_slice(&hc.to_le_bytes());
    let got = RecordDecoder::new(salt, 1 << 20).decode(&buf);
    assert_eq!(
        got,
        Err(Error::TooLong {
            len: u64::from(u32::MAX),
            max: 1 << 20
        })
    );
}

#[test]
fn reference_crc_matches_the_documented_check_value() {
    // The CRC-32/ISO-HDLC check value.
    assert_eq!(reference_crc32(b"123456789"), 0xCBF4_3926);
}
