//! Encrypted logs: a key file round trip, and clear failures without the
//! key or with the wrong one.

use std::path::{Path, PathBuf};

use groupwal::format::{RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader, encode_record};

use crate::{findings, records, run, run_ok, s, segment_files, text, verify_damaged};

fn key_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let key = run_ok(&["keygen"], b"");
    let key = text(&key);
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    path
}

const SECRET: &str = "the secret plaintext that must not be on disk";

#[test]
fn encrypted_round_trip_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let key = key_file(dir.path(), "key");
    let input = format!("{SECRET}\nsecond\n");
    run_ok(
        &["append", s(&log), "--key-file", s(&key), "--compress"],
        input.as_bytes(),
    );

    // Not on disk in the clear.
    for seg in segment_files(&log) {
        let bytes = std::fs::read(seg).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }

    // With the key: the records come back, flagged as encrypted.
    let dumped = run_ok(&["dump", s(&log), "--key-file", s(&key), "--payload"], b"");
    assert_eq!(text(&dumped), input);
    let json = text(&run_ok(
        &["dump", s(&log), "--key-file", s(&key), "--json"],
        b"",
    ));
    let v: serde_json::Value = serde_json::from_str(json.lines().nth(1).unwrap()).unwrap();
    assert!(
        v["flags"].as_array().unwrap().contains(&"encrypted".into()),
        "{v}"
    );
    let verified = run(&["verify", s(&log), "--key-file", s(&key)], b"");
    assert_eq!(verified.status.code(), Some(0));
    let st: serde_json::Value = serde_json::from_slice(&run_ok(
        &["stat", s(&log), "--json", "--key-file", s(&key)],
        b"",
    ))
    .unwrap();
    assert_eq!(st["key_ids"], serde_json::json!([1]));
    assert_eq!(st["records"], 2);

    // Without the key: exit 2, a message naming the missing key.
    let out = run(&["dump", s(&log)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("encrypted with key id 1"), "{err}");
    assert!(err.contains("--key-file"), "{err}");

    // With another key: exit 2, "wrong key", not corruption.
    let other = key_file(dir.path(), "other");
    for cmd in ["dump", "verify"] {
        let out = run(&[cmd, s(&log), "--key-file", s(&other)], b"");
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("wrong key"), "{cmd}: {err}");
        assert!(!text(&out.stdout).contains("corruption:"), "{cmd}");
    }

    // A writer without the key, or with another key, is refused before
    // anything is written (exit 2, naming the key id), and the log still
    // reads back whole with its key.
    let before: Vec<Vec<u8>> = segment_files(&log)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    for args in [vec![], vec!["--key-file", s(&other)]] {
        let mut argv = vec!["append", s(&log)];
        argv.extend(args.iter().copied());
        let out = run(&argv, b"written without the key\n");
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        let err = text(&out.stderr);
        assert!(err.contains("key id 1"), "{argv:?}: {err}");
    }
    let after: Vec<Vec<u8>> = segment_files(&log)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a refused writer changed the log");
    let dumped = run_ok(&["dump", s(&log), "--key-file", s(&key), "--payload"], b"");
    assert_eq!(text(&dumped), input);
}

/// The largest record (a 64 MiB line) appended with a key is read back by
/// every command, and the log takes appends after it; one byte more is
/// refused and nothing is written.
#[test]
fn the_largest_record_round_trips_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let key = key_file(dir.path(), "key");
    let mut line = vec![b'x'; 64 << 20];
    line.push(b'\n');
    run_ok(&["append", s(&log), "--key-file", s(&key)], &line);
    let out = run(&["verify", s(&log), "--key-file", s(&key)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    run_ok(&["append", s(&log), "--key-file", s(&key)], b"after\n");
    let mut longer = vec![b'x'; (64 << 20) + 1];
    longer.push(b'\n');
    let out = run(&["append", s(&log), "--key-file", s(&key)], &longer);
    assert_eq!(out.status.code(), Some(2));
    let st: serde_json::Value = serde_json::from_slice(&run_ok(
        &["stat", s(&log), "--json", "--key-file", s(&key)],
        b"",
    ))
    .unwrap();
    assert_eq!(st["records"], 2, "{st}");
    assert_eq!(st["logical_payload_bytes"], (64u64 << 20) + 5, "{st}");
}

#[test]
fn a_key_file_with_several_keys_reads_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let k1 = text(&run_ok(&["keygen"], b"")).trim().to_string();
    let k2 = text(&run_ok(&["keygen"], b"")).trim().to_string();
    let one = dir.path().join("one");
    std::fs::write(&one, format!("{k1}\n")).unwrap();
    let both = dir.path().join("both");
    std::fs::write(&both, format!("# rotated\n1:{k1}\n2:{k2}\n")).unwrap();

    run_ok(
        &["append", s(&log), "--key-file", s(&one)],
        b"under key 1\n",
    );
    run_ok(
        &["append", s(&log), "--key-file", s(&both)],
        b"under key 2\n",
    );
    let dumped = run_ok(&["dump", s(&log), "--key-file", s(&both), "--payload"], b"");
    assert_eq!(text(&dumped), "under key 1\nunder key 2\n");
    let st: serde_json::Value = serde_json::from_slice(&run_ok(
        &["stat", s(&log), "--json", "--key-file", s(&both)],
        b"",
    ))
    .unwrap();
    assert_eq!(st["key_ids"], serde_json::json!([1, 2]));
}

#[test]
fn a_bad_key_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "not hex\n").unwrap();
    let out = run(
        &["append", s(&dir.path().join("log")), "--key-file", s(&bad)],
        b"x\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("key file"));
    let out = run(
        &[
            "dump",
            s(dir.path()),
            "--key-file",
            s(&dir.path().join("missing")),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
}

/// An encrypted log of three records ("first", "second", "third") in one
/// segment, and the second data record of that segment (commit and batch
/// markers aside), as stored.
struct SecondRecord {
    log: PathBuf,
    key: PathBuf,
    segment: PathBuf,
    offset: usize,
    header: RecordHeader,
    payload: Vec<u8>,
}

impl SecondRecord {
    fn write(dir: &Path) -> SecondRecord {
        let log = dir.join("log");
        let key = key_file(dir, "key");
        run_ok(
            &["append", s(&log), "--key-file", s(&key)],
            b"first\nsecond\nthird\n",
        );
        let segment = segment_files(&log)[0].clone();
        let (offset, header, payload) = records(&std::fs::read(&segment).unwrap())
            .into_iter()
            .filter(|(_, h, _)| !h.record_type.is_marker())
            .nth(1)
            .expect("a second data record");
        SecondRecord {
            log,
            key,
            segment,
            offset,
            header,
            payload,
        }
    }

    /// Writes a record of `header` and `payload` (of the stored payload's
    /// length, so the records after it stay in place) over it, checksums
    /// recomputed; returns the segment's bytes.
    fn replace(&self, header: &RecordHeader, payload: &[u8]) -> Vec<u8> {
        assert_eq!(payload.len(), self.payload.len());
        let mut bytes = std::fs::read(&self.segment).unwrap();
        let mut record = Vec::new();
        encode_record(&mut record, header, payload).unwrap();
        bytes[self.offset..self.offset + record.len()].copy_from_slice(&record);
        std::fs::write(&self.segment, &bytes).unwrap();
        bytes
    }
}

/// A record whose checksums are right but whose ciphertext was changed (so
/// only authentication catches it) is a finding of verify, and verify reads
/// on after it.
#[test]
fn a_record_failing_authentication_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let second = SecondRecord::write(dir.path());
    let (log, key, offset) = (&second.log, &second.key, second.offset);
    assert_eq!(second.header.lsn.get(), 2);
    // Change the ciphertext and write the record again with its checksums
    // recomputed.
    let mut payload = second.payload.clone();
    payload[0] ^= 1;
    second.replace(&second.header, &payload);

    let stdout = verify_damaged(log, &["--key-file", s(key)]);
    let findings = findings(&stdout);
    assert_eq!(findings.len(), 1, "{stdout}");
    let name = second.segment.file_name().unwrap().to_str().unwrap();
    assert!(findings[0].contains(name), "{stdout}");
    assert!(
        findings[0].contains(&format!("at offset {offset} (lsn 2)")),
        "{stdout}"
    );
    assert!(stdout.contains("verify: 2 records"), "{stdout}");

    // dump stops there with exit 1 (corruption), after the first record.
    let out = run(&["dump", s(log), "--key-file", s(key), "--payload"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "first\n");
}

/// A plaintext record with valid checksums put into an encrypted segment
/// (forgery): corruption for every command that reads the log with its
/// key, exit 1 (without the key a reader stops at the first encrypted
/// record: exit 2, "encrypted", never "corrupt"); the opener changes
/// nothing.
#[test]
fn a_forged_plaintext_record_is_corruption_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let second = SecondRecord::write(dir.path());
    let (log, key) = (&second.log, &second.key);
    // The second data record, replaced by a plaintext one of the same
    // length.
    let mut h = second.header;
    h.flags = groupwal::format::Flags::EMPTY;
    let bytes = second.replace(&h, &vec![b'!'; second.payload.len()]);

    for args in [
        vec!["verify", s(log), "--key-file", s(key)],
        vec!["dump", s(log), "--key-file", s(key)],
        vec!["stat", s(log), "--key-file", s(key)],
        vec!["append", s(log), "--key-file", s(key)],
    ] {
        let out = run(&args, b"");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let said = if args[0] == "stat" {
            "corrupt ranges:   1"
        } else {
            "plaintext record in an encrypted segment"
        };
        assert!(all.contains(said), "{args:?}: {all}");
    }
    let out = run(&["verify", s(log)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("encrypted with key id 1"));
    assert_eq!(
        std::fs::read(&second.segment).unwrap(),
        bytes,
        "nothing changed"
    );
}

/// Damage verify skips, then damage it cannot read past (a segment whose
/// header tag does not authenticate): both are findings, in log order.
#[test]
fn verify_reports_what_it_skipped_before_damage_it_cannot_read_past() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "key");
    let log = dir.path().join("log");
    crate::append_lockstep(
        &log,
        120,
        40,
        &["--segment-size", "4096", "--key-file", s(&key)],
    );
    let segments = segment_files(&log);
    assert!(segments.len() >= 2, "{segments:?}");

    // A payload byte of the last record of the first segment: nothing
    // valid follows it there, so the walk skips to the next segment.
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let (last, _, _) = records(&bytes).pop().expect("records in the first segment");
    bytes[last + 40] ^= 0x01;
    std::fs::write(&segments[0], &bytes).unwrap();

    // The second segment's header tag changed, its checksum recomputed.
    let mut bytes = std::fs::read(&segments[1]).unwrap();
    let mut header = SegmentHeader::decode(&bytes).unwrap();
    header.header_tag[0] ^= 0x01;
    bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&header.encode());
    std::fs::write(&segments[1], &bytes).unwrap();

    let stdout = verify_damaged(&log, &["--key-file", s(&key)]);
    let findings = findings(&stdout);
    assert_eq!(findings.len(), 2, "{stdout}");
    let first = segments[0].file_name().unwrap().to_str().unwrap();
    let second = segments[1].file_name().unwrap().to_str().unwrap();
    assert!(findings[0].contains(first), "{stdout}");
    assert!(findings[1].contains(second), "{stdout}");
    assert!(stdout.contains("verify: 2 finding(s)"), "{stdout}");
}
