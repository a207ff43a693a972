//! Damage to acknowledged records is corruption, never a torn tail: on the
//! release path a user takes (`append` sessions, then `verify`, then
//! `append` again), with and without the clean-close marker. And every
//! command that reads a log reaches the verdict the opener reaches.

use std::path::{Path, PathBuf};

use groupwal::format::{RecordType, SEGMENT_HEADER_LEN};

use crate::{
    COMMIT_MARKER, RECORD_HEADER, findings, records, run, run_ok, s, segment_files, text,
    verify_damaged,
};

/// Where the data record with `lsn` is: its segment file, the offset of its
/// header (markers aside) and its length on disk.
fn locate(log: &Path, lsn: u64) -> (PathBuf, usize, usize) {
    for seg in segment_files(log) {
        let found = records(&std::fs::read(&seg).unwrap())
            .into_iter()
            .find(|(_, h, _)| h.lsn.get() == lsn && !h.record_type.is_marker());
        if let Some((at, _, payload)) = found {
            return (seg, at, RECORD_HEADER as usize + payload.len());
        }
    }
    panic!("lsn {lsn} not found in {}", log.display());
}

/// A log of 50 records of 30 bytes, each a group of its own (acknowledged
/// before the next was sent), as a crash leaves it: no clean-close marker.
fn crashed_log(dir: &Path) -> PathBuf {
    let log = dir.join("log");
    crate::append_lockstep(&log, 50, 30, &[]);
    let _ = std::fs::remove_file(log.join("CLEAN"));
    log
}

/// Cuts the segment holding the record at `lsn` in the middle of that
/// record (all after it goes too), as a torn last write leaves it.
fn cut_in_half(log: &Path, lsn: u64) {
    let (seg, at, len) = locate(log, lsn);
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len((at + len / 2) as u64).unwrap();
}

fn lines(from: usize, n: usize) -> Vec<u8> {
    (from..from + n)
        .map(|i| format!("line {i:05} of the log\n"))
        .collect::<String>()
        .into_bytes()
}

/// Every file of the log directory (the lock file aside) and its bytes.
fn snapshot(log: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Flips one payload byte of the record at `lsn`; returns the segment and
/// the record's offset.
fn flip(log: &Path, lsn: u64) -> (PathBuf, usize) {
    let (seg, at, len) = locate(log, lsn);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at + len - 2] ^= 0x04;
    std::fs::write(&seg, &bytes).unwrap();
    (seg, at)
}

/// verify exits 1 naming the segment, the offset and the LSN; opening for
/// writing fails (exit 1) with the same finding and changes nothing.
fn assert_refused(log: &Path, seg: &Path, at: usize, lsn: u64) {
    let stdout = verify_damaged(log, &[]);
    let finding = *findings(&stdout)
        .first()
        .unwrap_or_else(|| panic!("no finding: {stdout}"));
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(finding.contains(name), "{finding}");
    assert!(finding.contains(&format!("at offset {at} ")), "{finding}");
    assert!(
        finding.contains(&format!("(lsn {lsn})")) || finding.contains(&format!("(lsns {lsn}..=")),
        "{finding}"
    );
    assert!(!stdout.contains("verify: ok"), "{stdout}");

    let before = snapshot(log);
    let out = run(&["append", s(log)], b"one more\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(stderr.contains(&format!("at offset {at} ")), "{stderr}");
    assert!(stderr.contains(&format!("lsns {lsn}..=")), "{stderr}");
    assert!(before == snapshot(log), "a refused open changed the log");
}

#[test]
fn a_flipped_byte_after_five_clean_sessions_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    for session in 0..5 {
        run_ok(&["append", s(&log)], &lines(session * 400, 400));
    }
    let (seg, at) = flip(&log, 100);
    assert_refused(&log, &seg, at, 100);
    // dump stops at the damage with exit 1.
    let out = run(&["dump", s(&log)], b"");
    assert_eq!(out.status.code(), Some(1));

    // Without the clean-close marker, the commit markers written after
    // record 100 prove it was acknowledged: the same verdict.
    std::fs::remove_file(log.join("CLEAN")).unwrap();
    assert_refused(&log, &seg, at, 100);
}

#[test]
fn a_flipped_byte_inside_one_large_group_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], &lines(0, 5000));
    let (seg, at) = flip(&log, 2500);
    assert_refused(&log, &seg, at, 2500);
}

#[test]
fn a_real_torn_tail_is_still_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    // As a crash during the last write leaves it: the last record cut
    // short.
    let log = crashed_log(dir.path());
    cut_in_half(&log, 50);

    let out = run(&["verify", s(&log)], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("torn tail"), "{stdout}");
    assert!(stdout.contains("49 records"), "{stdout}");
    // dump shows the records before it (exit 0) and says, on standard
    // error, that those after it are not shown.
    let out = run(&["dump", s(&log), "--payload"], b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout).lines().count(), 49);
    assert!(stderr.contains("torn tail"), "{stderr}");
    assert!(
        stderr.contains("the records after lsn 49 are not shown"),
        "{stderr}"
    );

    let out = run(&["append", s(&log)], b"after the crash\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("torn tail cut"), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "50",
        "the new record takes lsn 50"
    );
}

/// Valid records after the damage that ends a torn tail are never proven
/// acknowledged: verify names them as what opening the log drops (exit 0).
#[test]
fn verify_names_the_records_a_torn_tail_drops() {
    let dir = tempfile::tempdir().unwrap();
    let log = crashed_log(dir.path());
    // Record 49 damaged, and the commit marker of record 50's group (the
    // one that said 49 was acknowledged): record 50 stays valid.
    let (seg, at, _) = locate(&log, 50);
    flip(&log, 49);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at - COMMIT_MARKER as usize + RECORD_HEADER as usize] ^= 0x04;
    std::fs::write(&seg, &bytes).unwrap();

    let out = run(&["verify", s(&log)], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("48 records"), "{stdout}");
    assert!(stdout.contains("torn tail"), "{stdout}");
    assert!(stdout.contains("drops lsns 49..=50"), "{stdout}");
}

/// In verify's skipping mode, damage to acknowledged records with nothing
/// valid after it ends the data: the finding, and a tail that says so
/// (never a torn write).
#[test]
fn verify_says_the_data_ends_at_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], &lines(0, 50));
    assert!(log.join("CLEAN").exists(), "closed cleanly");
    // The clean close proves record 50 was acknowledged; cut it short.
    cut_in_half(&log, 50);

    let stdout = verify_damaged(&log, &[]);
    assert_eq!(findings(&stdout).len(), 1, "{stdout}");
    assert!(
        stdout.contains("tail: the data ends at the last finding"),
        "{stdout}"
    );
    assert!(!stdout.contains("torn tail"), "{stdout}");
}

/// Damage that no reader would be right to ignore, checked through both
/// doors: `verify` and `append` exit 1, together.
#[test]
fn verify_and_append_agree_on_foreign_and_crafted_segments() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, n: usize| {
        let log = dir.path().join(name);
        run_ok(&["append", s(&log)], &lines(0, n));
        log
    };
    let verdicts = |log: &Path| {
        let verify = run(&["verify", s(log)], b"").status.code();
        let append = run(&["append", s(log)], b"x\n").status.code();
        (verify, append)
    };

    // A segment copied in from another log, named to follow this one's.
    let log = make("copied", 20);
    let other = make("other", 40);
    let theirs = segment_files(&other).pop().unwrap();
    std::fs::copy(&theirs, log.join("00000000000000000021.wal")).unwrap();
    assert_eq!(verdicts(&log), (Some(1), Some(1)), "a foreign segment");

    // A symlink named like a segment (never followed).
    let log = make("symlink", 20);
    std::os::unix::fs::symlink(&theirs, log.join("00000000000000000021.wal")).unwrap();
    assert_eq!(verdicts(&log), (Some(1), Some(1)), "a symlinked segment");

    // A batch marker with valid checksums over the first record of the
    // last segment.
    let log = make("marker", 20);
    let seg = segment_files(&log).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let first = records(&bytes)[0].1;
    let mut forged = Vec::new();
    let marker = groupwal::format::BatchMarker::new(3).unwrap().encode();
    let h = groupwal::format::RecordHeader {
        record_type: RecordType::Batch,
        ..first
    };
    groupwal::format::encode_record(&mut forged, &h, &marker).unwrap();
    bytes[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + forged.len()].copy_from_slice(&forged);
    std::fs::write(&seg, &bytes).unwrap();
    let (verify, append) = verdicts(&log);
    assert_eq!(verify, append, "a forged batch marker");
    assert_eq!(
        verify,
        Some(1),
        "a forged batch marker over acknowledged records"
    );
}
