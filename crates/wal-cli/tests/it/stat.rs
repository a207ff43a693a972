//! stat --json.

use crate::{append_lockstep, run_ok, s, segment_files};

fn stat_json(log: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["stat", s(log), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_slice(&run_ok(&args, b"")).unwrap()
}

#[test]
fn stat_json_describes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    append_lockstep(&log, 150, 40, &["--segment-size", "4096"]);
    let v = stat_json(&log, &[]);
    let files = segment_files(&log);
    assert_eq!(v["segments"], files.len());
    assert!(files.len() >= 2);
    assert_eq!(v["first_lsn"], 1);
    assert_eq!(v["last_lsn"], 150);
    assert_eq!(v["records"], 150);
    assert_eq!(v["logical_payload_bytes"], 150 * 40);
    assert_eq!(v["stored_payload_bytes"], 150 * 40);
    assert_eq!(v["compression_ratio"], 1.0);
    assert_eq!(v["key_ids"], serde_json::json!([]));
    assert_eq!(v["tail_clean"], true);
    assert_eq!(v["corrupt_ranges"], 0);
    let sizes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(v["file_bytes"], sizes);
    let segs = v["segment_files"].as_array().unwrap();
    assert_eq!(segs.len(), files.len());
    assert_eq!(segs[0]["first_lsn"], 1);
    assert_eq!(
        segs[0]["file"],
        files[0].file_name().unwrap().to_str().unwrap()
    );
    let records: u64 = segs.iter().map(|s| s["records"].as_u64().unwrap()).sum();
    assert_eq!(records, 150);
}

#[cfg(feature = "compression")]
#[test]
fn stat_json_shows_the_compression_ratio_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let line = "abcd".repeat(500);
    let input = format!("{line}\n{line}\n{line}\n");
    run_ok(&["append", s(&log), "--compress"], input.as_bytes());
    let v = stat_json(&log, &[]);
    assert_eq!(v["logical_payload_bytes"], 3 * 2000);
    let stored = v["stored_payload_bytes"].as_u64().unwrap();
    assert!(stored < 3 * 2000 / 4, "{v}");
    let ratio = v["compression_ratio"].as_f64().unwrap();
    assert!((ratio - 6000.0 / stored as f64).abs() < 1e-9, "{v}");

    // Cut the last record short. The log was closed cleanly: its marker
    // proves record 3 was acknowledged, so that is damage (exit 1).
    let seg = &segment_files(&log)[0];
    let data_end = v["data_bytes"].as_u64().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(data_end - 3).unwrap();
    drop(f);
    let out = crate::run(&["stat", s(&log), "--json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["corrupt_ranges"], 1, "{v}");
    // Without the marker (as a crash before the close leaves the log),
    // nothing proves the last group was acknowledged: a torn tail.
    std::fs::remove_file(log.join("CLEAN")).unwrap();
    let v = stat_json(&log, &[]);
    assert_eq!(v["tail"], "torn");
    assert_eq!(v["tail_clean"], false);
    assert_eq!(v["last_lsn"], 2);
}
