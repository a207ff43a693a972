//! append then dump, in every output format.

use base64::Engine;

use crate::{run_ok, s, text};

/// Lines with spaces, tabs, an empty line, UTF-8 and control bytes, and a
/// last line without its newline.
const INPUT: &[u8] = b"first record\n\tindented with a tab\n\nunicode \xc3\xa9\xe2\x82\xac\nbytes \x00\x01\x7f\xff end\nlast line without newline";

fn records() -> Vec<&'static [u8]> {
    INPUT.split(|&b| b == b'\n').collect()
}

#[test]
fn payload_dump_gives_the_lines_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = run_ok(&["append", s(&log)], INPUT);
    assert_eq!(text(&out), "6\n", "append prints the last LSN");

    let dumped = run_ok(&["dump", s(&log), "--payload"], b"");
    let mut expected = INPUT.to_vec();
    expected.push(b'\n');
    assert_eq!(dumped, expected);

    // A second run continues the LSNs.
    let out = run_ok(&["append", s(&log)], b"seven\neight\n");
    assert_eq!(text(&out), "8\n");
    let dumped = run_ok(&["dump", s(&log), "--payload", "--from", "7"], b"");
    assert_eq!(dumped, b"seven\neight\n");
}

#[test]
fn default_dump_is_lsn_length_preview() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], INPUT);
    let long = "y".repeat(200);
    run_ok(&["append", s(&log)], long.as_bytes());

    let dumped = text(&run_ok(&["dump", s(&log)], b""));
    let lines: Vec<&str> = dumped.lines().collect();
    assert_eq!(
        lines,
        [
            "1\t12\tfirst record",
            "2\t20\t.indented with a tab",
            "3\t0\t",
            "4\t13\tunicode .....",
            "5\t14\tbytes .... end",
            "6\t25\tlast line without newline",
            &format!("7\t200\t{}...", "y".repeat(64)),
        ]
    );
}

#[test]
fn json_dump_parses_and_carries_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], INPUT);
    let dumped = text(&run_ok(&["dump", s(&log), "--json"], b""));
    let expected = records();
    let mut n = 0;
    for (i, line) in dumped.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(v["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(payload, expected[i]);
        assert_eq!(v["lsn"], i as u64 + 1);
        assert_eq!(v["len"], expected[i].len());
        assert_eq!(v["type"], "data");
        assert_eq!(v["flags"], serde_json::json!([]));
        n += 1;
    }
    assert_eq!(n, expected.len());
}

#[test]
fn from_and_to_select_an_inclusive_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input: String = (1..=20).map(|i| format!("r{i}\n")).collect();
    run_ok(&["append", s(&log)], input.as_bytes());

    let dumped = run_ok(
        &["dump", s(&log), "--payload", "--from", "5", "--to", "8"],
        b"",
    );
    assert_eq!(text(&dumped), "r5\nr6\nr7\nr8\n");
    let dumped = run_ok(&["dump", s(&log), "--payload", "--from", "19"], b"");
    assert_eq!(text(&dumped), "r19\nr20\n");
    let dumped = run_ok(&["dump", s(&log), "--payload", "--to", "2"], b"");
    assert_eq!(text(&dumped), "r1\nr2\n");
    let dumped = run_ok(&["dump", s(&log), "--payload", "--from", "21"], b"");
    assert_eq!(text(&dumped), "");
}

#[cfg(feature = "compression")]
#[test]
fn compressed_records_round_trip_and_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let line = "compressible ".repeat(100);
    let input = format!("{line}\nshort\n");
    run_ok(&["append", s(&log), "--compress"], input.as_bytes());
    assert_eq!(
        run_ok(&["dump", s(&log), "--payload"], b""),
        input.as_bytes()
    );
    let dumped = text(&run_ok(&["dump", s(&log), "--json"], b""));
    let first: serde_json::Value = serde_json::from_str(dumped.lines().next().unwrap()).unwrap();
    assert_eq!(first["flags"], serde_json::json!(["compressed"]));
}
