//! Streams through the command line: `append --stream`, `dump --stream`,
//! stream records in a plain dump, streams in `stat` and `verify`.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use groupwal::format::{StreamHeader, StreamOp};
use groupwal::{LogicalKind, Wal, WalOptions};
use serde_json::Value;

use crate::{run, run_ok, s, text, verify_damaged};

fn lines(out: &[u8]) -> Vec<String> {
    text(out).lines().map(str::to_owned).collect()
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What `dump LOG --stream ID --payload EXTRA...` prints: the payloads of
/// the stream's live entries, a line each.
fn stream_payloads(log: &Path, stream: &str, extra: &[&str]) -> String {
    text(&run_ok(
        &[&["dump", s(log), "--stream", stream, "--payload"], extra].concat(),
        b"",
    ))
}

fn base64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// A stream record's logical payload: the header, then the entry.
fn stream_payload(op: StreamOp, stream: u64, index: u64, entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    StreamHeader { op, stream, index }.encode_into(&mut out);
    out.extend_from_slice(entry);
    out
}

/// Appends records of `kind` as one batch through the commit layer, after
/// a recovery that replays no stream: stream records whatever they say
/// (what the facade never writes), and records after them (what the
/// facade would refuse to open the log for).
fn append_raw(log: &Path, kind: LogicalKind, payloads: Vec<Vec<u8>>) {
    use groupwal::{commit, io, reader};
    let storage = Arc::new(io::FileStorage::new());
    let (seg_log, _) = reader::recover_with(
        storage,
        log,
        &io::LogOptions::new(),
        &reader::ReadOptions::new(),
        |_| {},
    )
    .unwrap();
    let committer = commit::Committer::from_log(seg_log, &commit::CommitOptions::new()).unwrap();
    committer
        .submit_owned(kind, payloads)
        .unwrap()
        .wait()
        .unwrap();
    committer.close().unwrap();
}

/// Streams 7 and 8 interleaved with plain records, in four runs:
///
/// | lsn | record |
/// |---:|---|
/// | 1-3 | stream 7, entries 1-3 (`seven 1` ...) |
/// | 4-5 | stream 8, entries 1-2 (`eight 1` ...) |
/// | 6 | plain `plain` |
/// | 7-8 | stream 7, entries 4-5 |
fn two_streams(log: &Path) {
    let out = run_ok(
        &["append", s(log), "--stream", "7"],
        b"seven 1\nseven 2\nseven 3\n",
    );
    assert_eq!(text(&out), "3\t3\n", "the last entry's index and lsn");
    let out = run_ok(
        &["append", s(log), "--stream", "8", "--ack"],
        b"eight 1\neight 2\n",
    );
    assert_eq!(text(&out), "1\t4\n2\t5\n", "each entry's index and lsn");
    assert_eq!(text(&run_ok(&["append", s(log)], b"plain\n")), "6\n");
    let out = run_ok(
        &["append", s(log), "--stream", "7", "--ack"],
        b"seven 4\nseven 5\n",
    );
    assert_eq!(text(&out), "4\t7\n5\t8\n", "indexes go on across runs");
}

#[test]
fn append_to_two_streams_and_dump_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    two_streams(&log);

    let dumped = run_ok(&["dump", s(&log), "--stream", "7"], b"");
    assert_eq!(
        lines(&dumped),
        [
            "1\t1\t7\tseven 1",
            "2\t2\t7\tseven 2",
            "3\t3\t7\tseven 3",
            "4\t7\t7\tseven 4",
            "5\t8\t7\tseven 5",
        ]
    );
    assert_eq!(stream_payloads(&log, "8", &[]), "eight 1\neight 2\n");

    let dumped = run_ok(&["dump", s(&log), "--stream", "7", "--json"], b"");
    let entries = json_lines(&dumped);
    assert_eq!(entries.len(), 5);
    for (i, (v, lsn)) in entries.iter().zip([1, 2, 3, 7, 8]).enumerate() {
        let index = i as u64 + 1;
        assert_eq!(v["type"], "stream", "{v}");
        assert_eq!(v["stream"], 7, "{v}");
        assert_eq!(v["op"], "append", "{v}");
        assert_eq!(v["index"], index, "{v}");
        assert_eq!(v["lsn"], lsn, "{v}");
        assert_eq!(v["len"], 7, "{v}");
        assert_eq!(base64(&v["payload"]), format!("seven {index}").as_bytes());
    }

    // --from and --to are indexes here; a range past the live entries is
    // cut to them.
    for (range, want) in [
        (
            &["--from", "2", "--to", "4"][..],
            "seven 2\nseven 3\nseven 4\n",
        ),
        (&["--from", "4", "--to", "99"], "seven 4\nseven 5\n"),
        (&["--from", "6"], ""),
    ] {
        assert_eq!(stream_payloads(&log, "7", range), want, "{range:?}");
    }

    // A stream the log holds nothing of: nothing, as an empty range of a
    // plain dump.
    assert_eq!(run_ok(&["dump", s(&log), "--stream", "9"], b""), b"");
    // Appending nothing prints where the stream and the log end.
    let out = run_ok(&["append", s(&log), "--stream", "8"], b"");
    assert_eq!(text(&out), "2\t8\n");
    let out = run_ok(&["append", s(&log), "--stream", "9"], b"");
    assert_eq!(text(&out), "0\t8\n");
}

#[test]
fn a_plain_dump_shows_stream_records_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    two_streams(&log);
    let (wal, _) = Wal::open(&log, &WalOptions::new()).unwrap();
    wal.stream(7).truncate_from(5).unwrap(); // lsn 9
    wal.stream(8).purge_below(2).unwrap(); // lsn 10
    wal.close().unwrap();

    let dumped = run_ok(&["dump", s(&log)], b"");
    assert_eq!(
        lines(&dumped),
        [
            "1\t7\tstream 7 append 1\tseven 1",
            "2\t7\tstream 7 append 2\tseven 2",
            "3\t7\tstream 7 append 3\tseven 3",
            "4\t7\tstream 8 append 1\teight 1",
            "5\t7\tstream 8 append 2\teight 2",
            "6\t5\tplain",
            "7\t7\tstream 7 append 4\tseven 4",
            "8\t7\tstream 7 append 5\tseven 5",
            "9\t0\tstream 7 truncate 5\t",
            "10\t0\tstream 8 purge 2\t",
        ]
    );

    let records = json_lines(&run_ok(&["dump", s(&log), "--json"], b""));
    assert_eq!(records.len(), 10);
    let first = &records[0];
    assert_eq!(first["type"], "stream");
    assert_eq!(
        (&first["stream"], &first["op"], &first["index"]),
        (&7.into(), &"append".into(), &1.into())
    );
    assert_eq!(
        base64(&first["payload"]),
        b"seven 1",
        "the entry, no header"
    );
    assert_eq!(first["len"], 7);
    let plain = &records[5];
    assert_eq!(plain["type"], "data");
    assert_eq!(plain["stream"], Value::Null);
    assert!(plain.get("op").is_none(), "{plain}");
    let purge = &records[9];
    assert_eq!(
        (
            &purge["stream"],
            &purge["op"],
            &purge["index"],
            &purge["len"]
        ),
        (&8.into(), &"purge".into(), &2.into(), &0.into())
    );

    // Payloads: entries and plain records; purges and truncations carry
    // nothing.
    let dumped = run_ok(&["dump", s(&log), "--payload", "--from", "5"], b"");
    assert_eq!(text(&dumped), "eight 2\nplain\nseven 4\nseven 5\n");
}

#[test]
fn dump_stream_shows_the_entries_live_after_purges_and_truncations() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    two_streams(&log);
    let (wal, _) = Wal::open(&log, &WalOptions::new()).unwrap();
    let seven = wal.stream(7);
    seven.truncate_from(3).unwrap(); // entries 3, 4, 5 go
    assert_eq!(seven.append(b"seven 3 again").unwrap(), 3);
    seven.purge_below(2).unwrap(); // entry 1 goes
    assert_eq!(seven.append(b"seven 4 again").unwrap(), 4);
    wal.stream(8).purge_below(5).unwrap(); // all of stream 8, next index 5
    wal.close().unwrap();

    let dumped = run_ok(&["dump", s(&log), "--stream", "7"], b"");
    assert_eq!(
        lines(&dumped),
        [
            "2\t2\t7\tseven 2",
            "3\t10\t13\tseven 3 again",
            "4\t12\t13\tseven 4 again",
        ]
    );
    // From below the first live index: from the first, as a plain dump
    // from below the oldest record.
    assert_eq!(
        stream_payloads(&log, "7", &["--from", "1", "--to", "3"]),
        "seven 2\nseven 3 again\n"
    );
    // A stream with no live entry prints nothing; its next index stays.
    assert_eq!(run_ok(&["dump", s(&log), "--stream", "8"], b""), b"");
    assert_eq!(
        text(&run_ok(&["append", s(&log), "--stream", "8"], b"eight 5\n")),
        "5\t14\n"
    );

    let v: Value = serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["streams"], 2);
    let list = v["stream_list"].as_array().unwrap();
    assert_eq!(list[0]["id"], 7);
    assert_eq!(
        (&list[0]["first_index"], &list[0]["last_index"]),
        (&2.into(), &4.into())
    );
    assert_eq!(list[0]["entries"], 3);
    assert_eq!(list[0]["next_index"], 5);
    assert_eq!(list[0]["first_lsn"], 2);
    assert_eq!(list[1]["id"], 8);
    assert_eq!(
        (&list[1]["first_index"], &list[1]["last_index"]),
        (&5.into(), &5.into())
    );
}

/// A copy record (written forward by a rewrite) is the entry from there
/// on: the dump reads it there, in index order, though its LSN is past the
/// entries after it.
#[test]
fn a_copied_entry_is_read_from_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log), "--stream", "7"], b"one\ntwo\nthree\n");
    append_raw(
        &log,
        LogicalKind::Stream,
        vec![
            stream_payload(StreamOp::Copy, 7, 1, b"one"),
            stream_payload(StreamOp::Copy, 7, 2, b"two"),
        ],
    );
    let dumped = run_ok(&["dump", s(&log), "--stream", "7"], b"");
    assert_eq!(
        lines(&dumped),
        ["1\t4\t3\tone", "2\t5\t3\ttwo", "3\t3\t5\tthree"]
    );
    let records = json_lines(&run_ok(&["dump", s(&log), "--stream", "7", "--json"], b""));
    let ops: Vec<&Value> = records.iter().map(|r| &r["op"]).collect();
    assert_eq!(ops, ["copy", "copy", "append"]);
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
}

/// A stream that never purges, its entries copied forward by the rewrite
/// and their original records gone with their segments: the dump reads
/// every entry from its copy, and stat and verify agree.
#[test]
fn a_rewritten_stream_dumps_from_its_copies() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut options = WalOptions::new();
    options
        .segment_size(32 * 1024)
        .sync_mode(groupwal::SyncMode::None)
        .stream_rewrite_segments(Some(4));
    let (wal, _) = Wal::open(&log, &options).unwrap();
    for i in 1..=5 {
        wal.stream(1)
            .append(format!("lagging {i}").as_bytes())
            .unwrap();
    }
    let big = vec![b'b'; 3000];
    for _ in 0..12 {
        for _ in 0..20 {
            wal.stream(2).append(&big).unwrap();
        }
        let last = wal.stream(2).last_index().unwrap();
        wal.stream(2).purge_below(last).unwrap();
    }
    assert!(wal.stream(1).info().unwrap().copied >= 5);
    wal.close().unwrap();
    let first_segment = crate::first_lsn(&crate::segment_files(&log)[0]);
    assert!(first_segment > 5, "the original appends are gone");

    let want: String = (1..=5).map(|i| format!("lagging {i}\n")).collect();
    assert_eq!(stream_payloads(&log, "1", &[]), want);
    let records = json_lines(&run_ok(&["dump", s(&log), "--stream", "1", "--json"], b""));
    assert!(records.iter().all(|r| r["op"] == "copy"), "{records:?}");
    let v: Value = serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["stream_list"][0]["id"], 1);
    assert_eq!(v["stream_list"][0]["entries"], 5);
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
}

#[test]
fn stat_lists_streams() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    two_streams(&log);
    let out = text(&run_ok(&["stat", s(&log)], b""));
    let at = out.find("streams:").unwrap_or_else(|| panic!("{out}"));
    let table: Vec<&str> = out[at..].lines().take(4).collect();
    assert_eq!(
        table,
        [
            "streams:          2",
            "  id  first  last  entries  next",
            "   7      1     5        5     6",
            "   8      1     2        2     3",
        ],
        "{out}"
    );
    let v: Value = serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["streams"], 2);
    assert_eq!(v["stream_error"], Value::Null);
    assert_eq!(
        v["stream_list"],
        serde_json::json!([
            {"id": 7, "first_index": 1, "last_index": 5, "entries": 5, "next_index": 6, "first_lsn": 1},
            {"id": 8, "first_index": 1, "last_index": 2, "entries": 2, "next_index": 3, "first_lsn": 4},
        ])
    );
}

#[test]
fn stat_caps_its_stream_table_and_json_lists_every_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (wal, _) = Wal::open(&log, &WalOptions::new()).unwrap();
    let entries: Vec<(u64, &[u8])> = (100..125).map(|id| (id, &b"x"[..])).collect();
    wal.append_streams(&entries).unwrap();
    wal.close().unwrap();

    let out = text(&run_ok(&["stat", s(&log)], b""));
    assert!(out.contains("streams:          25\n"), "{out}");
    let rows = out.lines().filter(|l| l.ends_with("  1        1     2"));
    assert_eq!(rows.count(), 20, "{out}");
    assert!(out.contains("\n  100  "), "{out}");
    assert!(out.contains("\n  119  "), "{out}");
    assert!(!out.contains("\n  120  "), "{out}");
    assert!(
        out.contains("  ... 5 more (stat --json lists every stream)\n"),
        "{out}"
    );

    let v: Value = serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["streams"], 25);
    let ids: Vec<u64> = v["stream_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (100..125).collect::<Vec<_>>());
}

#[test]
fn a_log_without_streams_stats_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], b"one\ntwo\n");
    let out = text(&run_ok(&["stat", s(&log)], b""));
    assert!(!out.contains("stream"), "{out}");
    let v: Value = serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["streams"], 0);
    assert_eq!(v["stream_list"], serde_json::json!([]));
}

#[cfg(feature = "encryption")]
#[test]
fn encrypted_streams_with_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let key = dir.path().join("key");
    std::fs::write(&key, run_ok(&["keygen"], b"")).unwrap();
    let k = s(&key);
    let secret = "a secret stream entry";
    let out = run_ok(
        &["append", s(&log), "--stream", "3", "--key-file", k],
        format!("{secret}\nsecond\n").as_bytes(),
    );
    assert_eq!(text(&out), "2\t2\n");
    run_ok(
        &["append", s(&log), "--stream", "4", "--key-file", k],
        b"other\n",
    );
    for seg in crate::segment_files(&log) {
        let bytes = std::fs::read(seg).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    assert_eq!(
        stream_payloads(&log, "3", &["--key-file", k]),
        format!("{secret}\nsecond\n")
    );
    let records = json_lines(&run_ok(
        &["dump", s(&log), "--stream", "3", "--key-file", k, "--json"],
        b"",
    ));
    assert_eq!(records[0]["flags"], serde_json::json!(["encrypted"]));
    assert_eq!(base64(&records[0]["payload"]), secret.as_bytes());
    let v: Value =
        serde_json::from_slice(&run_ok(&["stat", s(&log), "--json", "--key-file", k], b""))
            .unwrap();
    assert_eq!(v["streams"], 2);

    // Without the key: exit 2, the key named, nothing printed.
    let out = run(&["dump", s(&log), "--stream", "3"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("--key-file"),
        "{}",
        text(&out.stderr)
    );
    // stat says why it cannot tell.
    let v: Value = serde_json::from_slice(&run(&["stat", s(&log), "--json"], b"").stdout).unwrap();
    assert_eq!(v["streams"], Value::Null);
    assert!(v["read_error"].as_str().unwrap().contains("key"), "{v}");
}

/// A stream record with good checksums that contradicts the others: every
/// command that replays the streams says corruption (exit 1), as opening
/// the log for writing does.
#[test]
fn a_stream_record_that_contradicts_the_others_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log), "--stream", "7"], b"one\ntwo\n");
    // Entry 5 where entry 3 is next.
    append_raw(
        &log,
        LogicalKind::Stream,
        vec![stream_payload(StreamOp::Append, 7, 5, b"five")],
    );

    let stdout = verify_damaged(&log, &[]);
    assert!(
        stdout.contains(
            "corruption: invalid stream record at lsn 3: stream 7: an append whose index is not the stream's next"
        ),
        "{stdout}"
    );
    let out = run(&["dump", s(&log), "--stream", "7"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing is known to be live");
    assert!(
        text(&out.stderr).contains("invalid stream record at lsn 3"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["stat", s(&log), "--json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["streams"], Value::Null);
    assert!(v["stream_error"].as_str().unwrap().contains("lsn 3"), "{v}");
    let out = run(&["append", s(&log)], b"x\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // A plain dump shows the records as they are.
    let dumped = run_ok(&["dump", s(&log)], b"");
    assert_eq!(lines(&dumped)[2], "3\t4\tstream 7 append 5\tfive");
}

#[test]
fn a_stream_header_that_does_not_decode_is_shown_and_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(&["append", s(&log)], b"plain\n");
    append_raw(&log, LogicalKind::Stream, vec![b"short".to_vec()]);
    append_raw(&log, LogicalKind::Data, vec![b"after".to_vec()]);

    let out = run(&["dump", s(&log)], b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1\t5\tplain",
            "2\t5\tstream, invalid: invalid stream header: shorter than 17 bytes\tshort",
            "3\t5\tafter",
        ]
    );
    assert!(
        text(&out.stderr).contains("invalid stream record at lsn 2"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dump", s(&log), "--json"], b"");
    let records = json_lines(&out.stdout);
    assert_eq!(records[1]["type"], "stream");
    assert_eq!(records[1]["stream"], Value::Null);
    assert_eq!(base64(&records[1]["payload"]), b"short");
    assert!(records[1]["error"].as_str().is_some(), "{}", records[1]);
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(1));
}

#[test]
fn a_stream_id_that_is_not_a_u64_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    run_ok(
        &["append", s(&log), "--stream", "18446744073709551615"],
        b"max\n",
    );
    assert_eq!(
        text(&run_ok(
            &["dump", s(&log), "--stream", "18446744073709551615"],
            b""
        )),
        "1\t1\t3\tmax\n"
    );
    for bad in ["x", "-1", "18446744073709551616", "1.5", ""] {
        for cmd in ["append", "dump"] {
            let out = run(&[cmd, s(&log), "--stream", bad], b"y\n");
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} --stream {bad:?}: {err}");
            // clap takes "-1" for an option of its own.
            let named = if bad == "-1" { "'-1'" } else { "--stream <ID>" };
            assert!(err.contains(named), "{cmd} --stream {bad:?}: {err}");
        }
    }
    let out = run(
        &["dump", s(&log), "--stream", "1", "--from", "5", "--to", "3"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    // Nothing was appended by the refused commands.
    assert_eq!(text(&run_ok(&["dump", s(&log), "--payload"], b"")), "max\n");
}
