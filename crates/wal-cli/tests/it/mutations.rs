//! A mutation run through the binary, as an attacker or a failing disk
//! would meet it: logs written by `append` (plain, and encrypted with a key
//! file), closed cleanly, then changed (bits flipped, sectors zeroed or
//! filled with garbage, files cut, records re-encoded with valid checksums
//! and another LSN, type, flags or payload, markers written over records).
//! On every one: no panic and no hang, `verify` and `append` reach the same
//! verdict (the same exit code), and a log changed in acknowledged bytes
//! never passes (`verify` exits 1 or 2; plain logs whose checksums were
//! recomputed aside: nothing but a key authenticates a record).

use std::path::{Path, PathBuf};

use groupwal::format::{
    BatchMarker, Flags, Lsn, RecordHeader, RecordType, SEGMENT_HEADER_LEN, encode_record,
};
use wal_io::sim::SplitMix64 as Rng;

use crate::{records, run, run_ok, s, segment_files};

/// Changes one segment of the log in `dir`; returns what it did, whether
/// it recomputed checksums, and whether acknowledged bytes (the header and
/// the records) changed.
fn mutate(dir: &Path, rng: &mut Rng) -> (String, bool, bool) {
    let segs = segment_files(dir);
    let seg = &segs[rng.below(segs.len() as u64) as usize];
    let mut bytes = std::fs::read(seg).unwrap();
    let original = bytes.clone();
    let recs = records(&bytes);
    let end = recs
        .last()
        .map_or(SEGMENT_HEADER_LEN, |(at, _, p)| at + 32 + p.len());
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    let mut crafted = false;
    let what = match rng.below(7) {
        0 | 1 => {
            let at = rng.below(end as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            format!("{name}: bit flip at {at}")
        }
        2 => {
            let at = SEGMENT_HEADER_LEN + rng.below((end - SEGMENT_HEADER_LEN) as u64) as usize;
            bytes.truncate(at);
            format!("{name}: cut at {at}")
        }
        3 => {
            let sector = rng.below(end as u64 / 512 + 1) as usize * 512;
            let stop = (sector + 512).min(bytes.len());
            let garbage = rng.below(2) == 0;
            for b in &mut bytes[sector..stop] {
                *b = if garbage { rng.next_u64() as u8 } else { 0 };
            }
            format!("{name}: sector at {sector}, garbage {garbage}")
        }
        4 | 5 if !recs.is_empty() => {
            crafted = true;
            let (at, mut h, mut payload) = recs[rng.below(recs.len() as u64) as usize].clone();
            let what = match rng.below(4) {
                0 => {
                    h.lsn = Lsn::new(h.lsn.get() + 1);
                    "lsn"
                }
                1 => {
                    h.record_type = RecordType::ALL[rng.below(7) as usize];
                    "type"
                }
                2 => {
                    h.flags = Flags::from_bits(rng.below(4) as u8).unwrap();
                    "flags"
                }
                _ if !payload.is_empty() => {
                    let i = rng.below(payload.len() as u64) as usize;
                    payload[i] ^= 1;
                    "payload"
                }
                _ => "nothing",
            };
            let mut enc = Vec::new();
            encode_record(&mut enc, &h, &payload).unwrap();
            bytes[at..at + enc.len()].copy_from_slice(&enc);
            format!("{name}: record at {at} re-encoded with another {what}")
        }
        _ if !recs.is_empty() => {
            crafted = true;
            let (at, h, _) = recs[rng.below(recs.len() as u64) as usize].clone();
            let header = RecordHeader {
                record_type: RecordType::Batch,
                flags: Flags::EMPTY,
                ..h
            };
            let mut enc = Vec::new();
            encode_record(&mut enc, &header, &BatchMarker::new(2).unwrap().encode()).unwrap();
            let stop = (at + enc.len()).min(bytes.len());
            bytes[at..stop].copy_from_slice(&enc[..stop - at]);
            format!("{name}: batch marker written at {at}")
        }
        _ => {
            let at = rng.below(end as u64) as usize;
            bytes[at] ^= 0x80;
            format!("{name}: bit flip at {at}")
        }
    };
    std::fs::write(seg, &bytes).unwrap();
    let changed = bytes.len() < end || bytes[..end] != original[..end];
    (what, crafted, changed)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn verify_and_append_agree_and_no_changed_log_passes() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, run_ok(&["keygen"], b"")).unwrap();
    let mut originals: Vec<(PathBuf, bool)> = Vec::new();
    for (i, encrypted) in [false, true, false, true].into_iter().enumerate() {
        let log = dir.path().join(format!("log{i}"));
        let mut args = vec!["append", s(&log), "--segment-size", "8192"];
        if encrypted {
            args.extend(["--key-file", s(&key)]);
        }
        for session in 0..3 {
            let lines: String = (0..40)
                .map(|n| format!("session {session} line {n} {}\n", "x".repeat(n * 7 % 300)))
                .collect();
            run_ok(&args, lines.as_bytes());
        }
        assert!(segment_files(&log).len() >= 3, "rotations");
        originals.push((log, encrypted));
    }
    let mut rng = Rng::new(0x6d75_7461);
    let mut cases = 0;
    let mut refused = 0;
    for round in 0..30 {
        for (original, encrypted) in &originals {
            let case_dir = dir.path().join(format!("case-{round}-{}", cases));
            copy_dir(original, &case_dir);
            let (what, crafted, changed) = mutate(&case_dir, &mut rng);
            let with_key = |cmd: &'static str| {
                let mut args = vec![cmd, s(&case_dir)];
                if *encrypted {
                    args.extend(["--key-file", s(&key)]);
                }
                args
            };
            let verify = run(&with_key("verify"), b"").status.code();
            let append = run(&with_key("append"), b"").status.code();
            let case = format!("{what} (encrypted: {encrypted})");
            assert!(
                matches!(verify, Some(0..=2)),
                "{case}: verify exited {verify:?}"
            );
            assert_eq!(verify, append, "{case}: verify and append disagree");
            if changed && (*encrypted || !crafted) {
                assert_ne!(verify, Some(0), "{case}: a changed log passed");
                refused += 1;
            }
            cases += 1;
            std::fs::remove_dir_all(&case_dir).unwrap();
        }
    }
    assert_eq!(cases, 120);
    assert!(refused >= 60, "{refused} of {cases}");
}
