//! What a new user meets in the first hour: each case of the CLI that once
//! surprised one, held to what the README and `--help` say.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::{run, run_ok, s, start_acked_append, text};

/// A log of `n` records `r1`, `r2`, ... in `dir/log`.
fn small_log(dir: &Path, n: usize) -> PathBuf {
    let log = dir.join("log");
    let input: String = (1..=n).map(|i| format!("r{i}\n")).collect();
    run_ok(&["append", s(&log)], input.as_bytes());
    log
}

/// A fresh key in `dir/name`, made by `keygen --out`.
#[cfg(feature = "encryption")]
fn key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    run_ok(&["keygen", "--out", s(&path)], b"");
    path
}

#[cfg(feature = "encryption")]
#[test]
fn stat_with_a_wrong_or_missing_key_exits_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let key = key_file(dir.path(), "key");
    run_ok(&["append", s(&log), "--key-file", s(&key)], b"one\ntwo\n");
    let wrong = key_file(dir.path(), "wrong");
    // Another key under id 2: the log's key id 1 is missing.
    let other_id = dir.path().join("other-id");
    std::fs::write(
        &other_id,
        format!("2:{}", std::fs::read_to_string(&wrong).unwrap()),
    )
    .unwrap();
    std::fs::set_permissions(
        &other_id,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--key-file", s(&wrong)], "wrong key"),
        (&["--key-file", s(&other_id)], "key id 1"),
        (&[], "key id 1"),
    ];
    for (extra, says) in cases {
        for json in [false, true] {
            let mut args = vec!["stat", s(&log)];
            args.extend(extra);
            if json {
                args.push("--json");
            }
            let out = run(&args, b"");
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
}

#[test]
fn dump_from_past_the_end_is_an_error_and_from_the_next_lsn_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), 5);
    assert_eq!(
        text(&run_ok(&["dump", s(&log), "--from", "5", "--payload"], b"")),
        "r5\n"
    );
    // The next LSN: nothing yet, not an error.
    assert!(run_ok(&["dump", s(&log), "--from", "6"], b"").is_empty());
    for from in ["7", "100"] {
        let out = run(&["dump", s(&log), "--from", from], b"");
        assert_eq!(out.status.code(), Some(2), "--from {from}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("--from {from} is past the end")) && err.contains("lsn is 5"),
            "{err}"
        );
    }
}

#[test]
fn stat_and_verify_describe_the_tail_in_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), 3);
    let phrase = "clean (preallocated space follows)";
    let stat = text(&run_ok(&["stat", s(&log)], b""));
    let verify = text(&run_ok(&["verify", s(&log)], b""));
    let tail_line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("tail:"))
            .map(|l| l.to_string())
            .unwrap_or_else(|| panic!("no tail line in:\n{out}"))
    };
    assert!(tail_line(&stat).contains(phrase), "{stat}");
    assert!(tail_line(&verify).contains(phrase), "{verify}");
    // The JSON keeps its machine name.
    let v: serde_json::Value =
        serde_json::from_slice(&run_ok(&["stat", s(&log), "--json"], b"")).unwrap();
    assert_eq!(v["tail"], "zero-filled");
}

#[cfg(feature = "encryption")]
#[test]
fn the_compression_ratio_of_an_encrypted_log_does_not_count_its_tags() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "key");
    let stat = |log: &Path| -> serde_json::Value {
        serde_json::from_slice(&run_ok(
            &["stat", s(log), "--json", "--key-file", s(&key)],
            b"",
        ))
        .unwrap()
    };
    // Encrypted, not compressed: a ratio of exactly 1, though every record
    // stores a 16-byte tag.
    let plain = dir.path().join("plain");
    run_ok(
        &["append", s(&plain), "--key-file", s(&key)],
        b"first record\nsecond record\nthird\n",
    );
    let v = stat(&plain);
    assert_eq!(v["logical_payload_bytes"], 30);
    assert_eq!(v["stored_payload_bytes"], 30 + 3 * 16);
    assert_eq!(v["compression_ratio"], 1.0, "{v}");
    let text_out = text(&run_ok(&["stat", s(&plain), "--key-file", s(&key)], b""));
    assert!(text_out.contains("compression:      1.00"), "{text_out}");
    #[cfg(feature = "compression")]
    {
        // Encrypted and compressed: the ratio is compression's alone.
        let packed = dir.path().join("packed");
        let line = format!("{}\n", "abcd".repeat(500));
        run_ok(
            &["append", s(&packed), "--key-file", s(&key), "--compress"],
            line.as_bytes(),
        );
        let v = stat(&packed);
        let logical = v["logical_payload_bytes"].as_f64().unwrap();
        let stored = v["stored_payload_bytes"].as_f64().unwrap();
        let ratio = v["compression_ratio"].as_f64().unwrap();
        assert_eq!(ratio, logical / (stored - 16.0), "{v}");
    }
}

#[test]
fn bench_reports_records_and_syncs_per_second_with_1_kib_records_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "bench",
        "--dir",
        s(dir.path()),
        "--writers",
        "1",
        "--count",
        "5",
    ];
    let json = text(&run_ok(&[&base[..], &["--json"]].concat(), b""));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["size"], 1024, "{v}");
    assert_eq!(v["records"], 5, "{v}");
    assert!(v["records_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["syncs_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v.get("commits_per_sec").is_none(), "{v}");
    let table = text(&run_ok(&base, b""));
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("records/s") && header.contains("syncs/s") && !header.contains("commits"),
        "{header}"
    );
}

/// The notes about key files and log directory entries, in `--help` only
/// where they apply; the exit codes in every command's help, long or short.
#[test]
fn help_is_short_and_its_notes_only_where_they_apply() {
    let key_notes = "Key file (--key-file):";
    let entry_notes = "Log directory entries";
    let help = |args: &[&str]| text(&run_ok(args, b""));
    for cmd in ["append", "dump", "verify", "stat", "bench", "keygen"] {
        let short = help(&[cmd, "-h"]);
        let long = help(&[cmd, "--help"]);
        for (name, out) in [("-h", &short), ("--help", &long)] {
            assert!(out.contains("Exit codes: 0 success"), "{cmd} {name}");
        }
        assert!(
            !short.contains(key_notes) && !short.contains(entry_notes),
            "{cmd} -h"
        );
        assert!(short.lines().count() < long.lines().count(), "{cmd}");
        let reads_logs = !matches!(cmd, "bench" | "keygen");
        assert_eq!(long.contains(key_notes), reads_logs, "{cmd} --help");
        assert_eq!(long.contains(entry_notes), reads_logs, "{cmd} --help");
    }
    let top = help(&["--help"]);
    assert!(
        !top.contains(key_notes) && !top.contains(entry_notes),
        "{top}"
    );
    assert!(top.lines().count() < 25, "{top}");
}

#[cfg(feature = "encryption")]
#[test]
fn keygen_out_writes_a_new_private_file_and_never_overwrites_one() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.key");
    let out = run(&["keygen", "--out", s(&path)], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "the key goes to the file only");
    let key = std::fs::read_to_string(&path).unwrap();
    assert_eq!(key.len(), 65, "{key:?}");
    assert!(key.ends_with('\n') && key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // The key works.
    let log = dir.path().join("log");
    run_ok(&["append", s(&log), "--key-file", s(&path)], b"x\n");
    // An existing file stays as it was.
    let out = run(&["keygen", "--out", s(&path)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
}

/// On a terminal, plain `keygen` says where a key belongs; into a pipe or a
/// file it prints the key alone.
#[cfg(feature = "encryption")]
#[test]
fn keygen_on_a_terminal_says_where_to_put_the_key() {
    use std::process::Stdio;

    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    use crate::groupwal;

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let out = groupwal()
        .arg("keygen")
        .stdin(Stdio::null())
        .stdout(terminal)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    drop(master);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("keygen --out"), "{err}");

    let piped = run(&["keygen"], b"");
    assert_eq!(piped.status.code(), Some(0));
    assert!(piped.stderr.is_empty(), "{}", text(&piped.stderr));
    assert_eq!(piped.stdout.len(), 65);
}

#[test]
fn a_locked_log_names_its_directory_and_the_holder_s_pid() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // A writer that holds the log open: acknowledged once the log is open.
    let (mut holder, mut stdin, mut acks) = start_acked_append(&log, &[]);
    stdin.write_all(b"held\n").unwrap();
    stdin.flush().unwrap();
    let mut ack = String::new();
    acks.read_line(&mut ack).unwrap();
    assert_eq!(ack.trim(), "1");

    let out = run(&["append", s(&log)], b"second writer\n");
    drop(stdin);
    let held = holder.wait().unwrap();
    assert!(held.success());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(s(&log)), "names the directory: {err}");
    if Path::new("/proc/locks").exists() {
        assert!(
            err.contains(&format!("(pid {})", holder.id())),
            "names the holder: {err}"
        );
    }
}
