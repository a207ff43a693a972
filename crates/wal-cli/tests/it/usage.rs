//! Usage errors: exit 2 with a one-line message, never a panic.

use crate::{run, run_ok, s, text};

fn assert_usage(args: &[&str], needle: &str) {
    let out = run(args, b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn user_mistakes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    for cmd in ["dump", "verify", "stat"] {
        assert_usage(&[cmd, s(&missing)], "No such file");
        assert_usage(&[cmd, s(dir.path())], "not a groupwal log directory");
    }
    assert_usage(
        &["dump", s(dir.path()), "--json", "--payload"],
        "cannot be used with",
    );
    assert_usage(
        &["append", s(dir.path()), "--sync", "sometimes"],
        "invalid value",
    );
    assert_usage(&["frobnicate"], "unrecognized subcommand");
    assert_usage(&["bench", "--writers", "0"], "--writers");
    assert_usage(&["bench", "--size", "99999999999"], "--size");
    assert_usage(
        &["dump", s(dir.path()), "--from", "5", "--to", "3"],
        "after --to",
    );
    assert_usage(
        &[
            "append",
            s(&dir.path().join("new")),
            "--segment-size",
            "100",
        ],
        "segment",
    );
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert_usage(&["stat", s(&file)], "not a directory");
}

#[test]
fn help_documents_exit_codes_and_the_key_file() {
    let out = run(&["--help"], b"");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "Exit codes:",
        "0 success",
        "1 corruption found",
        "2 bad usage or an I/O error",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    // The key file's format where a key file is taken.
    let help = text(&run_ok(&["append", "--help"], b""));
    for needle in ["Exit codes:", "Key file", "ID:HEX"] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn append_refuses_a_directory_of_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = run(&["append", s(dir.path())], b"x\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a groupwal log directory"));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing was created");
}

#[test]
fn a_closed_stdout_ends_dump_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input: String = (0..5000).map(|i| format!("{i:0100}\n")).collect();
    crate::run_ok(&["append", s(&log), "--sync", "none"], input.as_bytes());
    // 500 KB of output, more than a pipe holds: dump must meet the closed
    // pipe.
    let mut child = crate::groupwal()
        .args(["dump", s(&log), "--payload"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), format!("{:0100}", 0));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}
