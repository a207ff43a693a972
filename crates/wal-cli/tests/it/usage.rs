//! Usage errors: exit 2 with a one-line message, never a panic.

use crate::{run, s, text};

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
        "0  success",
        "1  corruption",
        "2  usage",
        "3  I/O",
        "Key file",
        "ID:HEX",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
