//! Drives the real `groupwal` binary.

mod ack;
#[cfg(feature = "encryption")]
mod encryption;
mod evidence;
mod first_hour;
mod hostile;
#[cfg(feature = "encryption")]
mod mutations;
mod round_trip;
mod stat;
mod streams;
mod usage;
mod verify;

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use groupwal::format::{RecordDecoder, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader};

/// The binary under test.
pub(crate) fn groupwal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_groupwal"))
}

/// Starts `groupwal args...` with its standard streams piped.
fn spawn(args: &[&str]) -> Child {
    groupwal()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `groupwal args...` with `stdin` as standard input.
pub(crate) fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    // A command that fails early (a bad argument) may exit before reading
    // its input.
    if let Err(e) = input.write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs and checks the exit code; returns stdout.
pub(crate) fn run_ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "groupwal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Appends `n` fixed-size records one group at a time: with `--ack`, each
/// line is written only after the previous one was acknowledged, so every
/// record is its own group and segments rotate at the segment size (a group
/// is never split across segments).
pub(crate) fn append_lockstep(log: &Path, n: usize, len: usize, extra: &[&str]) {
    append_lockstep_from(log, 1, n, len, extra);
}

/// [`append_lockstep`] on a log whose next record is `first`.
pub(crate) fn append_lockstep_from(log: &Path, first: u64, n: usize, len: usize, extra: &[&str]) {
    use std::io::BufRead;
    let (child, mut stdin, mut stdout) =
        start_acked_append(log, &[&["--sync", "none"], extra].concat());
    let lines = fixed_lines(n, len);
    for (lsn, line) in (first..).zip(lines.split_inclusive(|&b| b == b'\n')) {
        stdin.write_all(line).unwrap();
        stdin.flush().unwrap();
        let mut ack = String::new();
        stdout.read_line(&mut ack).unwrap();
        if ack.trim() != lsn.to_string() {
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            panic!(
                "record {lsn} not acknowledged (got {ack:?}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `groupwal append LOG --ack EXTRA...` with its standard streams
/// piped; returns the process, its standard input, and its standard output,
/// where each record's LSN comes on a line of its own once the record is
/// durable.
pub(crate) fn start_acked_append(
    log: &Path,
    extra: &[&str],
) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut child = spawn(&[&["append", s(log), "--ack"], extra].concat());
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdin, stdout)
}

/// The findings in what `groupwal verify` printed: its `corruption:` lines.
pub(crate) fn findings(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("corruption:"))
        .collect()
}

/// Runs `groupwal verify LOG EXTRA...` on a log with damage it must report:
/// checks that it exits 1 (corruption); returns its standard output, whose
/// [`findings`] the caller checks.
pub(crate) fn verify_damaged(log: &Path, extra: &[&str]) -> String {
    let out = run(&[&["verify", s(log)], extra].concat(), b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    stdout
}

/// The physical records of a segment file's bytes, markers included:
/// (offset, header, stored payload), up to the end of its valid records;
/// none if its header does not decode.
pub(crate) fn records(bytes: &[u8]) -> Vec<(usize, RecordHeader, Vec<u8>)> {
    let Ok(header) = SegmentHeader::decode(bytes) else {
        return Vec::new();
    };
    let decoder = RecordDecoder::new(header.salt, 64 << 20);
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while let Ok(r) = decoder.decode(&bytes[at..]) {
        out.push((at, r.header, r.payload.to_vec()));
        at += r.encoded_len();
    }
    out
}

/// The segment files of a log directory, by name (so by first LSN).
pub(crate) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// The first LSN a segment file's name gives.
pub(crate) fn first_lsn(segment: &Path) -> u64 {
    segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Bytes of a segment header, of a record header, and of the commit marker
/// that starts every group (docs/FORMAT.md).
pub(crate) const SEGMENT_HEADER: u64 = 96;
pub(crate) const RECORD_HEADER: u64 = 32;
pub(crate) const COMMIT_MARKER: u64 = RECORD_HEADER + 8;

/// `n` lines of exactly `len` bytes each (without the newline), numbered.
pub(crate) fn fixed_lines(n: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=n {
        let mut line = format!("record {i:06} ").into_bytes();
        line.resize(len, b'x');
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out
}
