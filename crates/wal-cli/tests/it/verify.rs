//! verify: clean, torn tail, corruption before the tail; read-only.

use crate::{
    COMMIT_MARKER, RECORD_HEADER, SEGMENT_HEADER, append_lockstep, findings, first_lsn, run, s,
    segment_files, text, verify_damaged,
};

/// Payload bytes of each record in these tests (fixed, so offsets can be
/// computed from LSNs).
const LEN: usize = 40;

/// A log of `n` fixed-size records in 4 KiB segments.
fn small_segment_log(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    append_lockstep(&log, n, LEN, &["--segment-size", "4096"]);
    (dir, log)
}

/// The offset of record `lsn` in a segment whose first LSN is `first`
/// (each record is a group of its own, after its commit marker).
fn offset_of(first: u64, lsn: u64) -> u64 {
    SEGMENT_HEADER + (lsn - first) * (COMMIT_MARKER + RECORD_HEADER + LEN as u64) + COMMIT_MARKER
}

#[test]
fn a_clean_log_verifies() {
    let (_dir, log) = small_segment_log(200);
    assert!(segment_files(&log).len() >= 3);
    let out = run(&["verify", s(&log)], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("200 records, lsns 1..=200"), "{stdout}");
    assert!(stdout.contains("verify: ok"), "{stdout}");
    assert!(!stdout.contains("corruption"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn a_torn_tail_is_reported_and_still_exits_0() {
    let (_dir, log) = small_segment_log(200);
    let segments = segment_files(&log);
    let last = segments.last().unwrap();
    // Cut the last record in half.
    let cut = offset_of(first_lsn(last), 200) + RECORD_HEADER + (LEN as u64) / 2;
    let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    file.set_len(cut).unwrap();
    drop(file);

    let out = run(&["verify", s(&log)], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("torn tail"), "{stdout}");
    assert!(stdout.contains("199 records, lsns 1..=199"), "{stdout}");
    assert!(findings(&stdout).is_empty(), "{stdout}");
    // Read-only: the torn record's bytes are still there.
    assert_eq!(std::fs::metadata(last).unwrap().len(), cut);
}

#[test]
fn a_flipped_byte_in_an_early_segment_is_named_and_exits_1() {
    let (_dir, log) = small_segment_log(300);
    let segments = segment_files(&log);
    assert!(segments.len() >= 3, "{segments:?}");
    let first = &segments[0];
    let next_first = first_lsn(&segments[1]);
    // A record in the middle of the first segment.
    let lsn = next_first / 2;
    let offset = offset_of(1, lsn);
    let mut bytes = std::fs::read(first).unwrap();
    bytes[(offset + RECORD_HEADER + 7) as usize] ^= 0x10;
    std::fs::write(first, &bytes).unwrap();
    let before: Vec<Vec<u8>> = segments.iter().map(|p| std::fs::read(p).unwrap()).collect();

    let stdout = verify_damaged(&log, &[]);
    let findings = findings(&stdout);
    assert_eq!(findings.len(), 1, "{stdout}");
    let finding = findings[0];
    let name = first.file_name().unwrap().to_str().unwrap();
    assert!(finding.contains(name), "{finding}");
    assert!(
        finding.contains(&format!("at offset {offset} ")),
        "{finding}"
    );
    assert!(
        finding.contains(&format!("(lsn {lsn})")) || finding.contains(&format!("(lsns {lsn}..=")),
        "{finding}"
    );
    // Every other record was still read.
    assert!(stdout.contains("299 records"), "{stdout}");
    // stat counts the damage (exit 1, as verify) and does not make up a
    // compression ratio.
    let out = run(&["stat", s(&log), "--json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["corrupt_ranges"], 1);
    assert_eq!(v["records"], 299);
    assert!(v["compression_ratio"].is_null(), "{v}");

    // Read-only: nothing changed on disk.
    let after: Vec<Vec<u8>> = segments.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(before == after, "verify changed the log");
    assert_eq!(segment_files(&log), segments);
}

#[test]
fn a_segment_whose_name_disagrees_with_its_header_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    crate::run_ok(&["append", s(&log)], b"one\ntwo\n");
    let seg = &segment_files(&log)[0];
    let renamed = log.join("00000000000000000005.wal");
    std::fs::rename(seg, &renamed).unwrap();
    let stdout = verify_damaged(&log, &[]);
    assert!(
        stdout.contains("corruption: segment header gives first lsn 1, not the 5 of its name"),
        "{stdout}"
    );
    assert!(
        stdout.contains("00000000000000000005.wal at offset 0 (lsn 5)"),
        "{stdout}"
    );
}
