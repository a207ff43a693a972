//! A log directory, a key file and the options are input like any other:
//! damaged, misconfigured, or crafted by someone with write access. No
//! command follows a symbolic link or blocks on a FIFO planted in the log
//! directory, nothing outside it is created or written, key files are read
//! with a bound, and the segment size has bounds.
//!
//! FIFOs are first "held" by the test (opened for reading and writing,
//! which never blocks on Linux, with bytes in them), so that no open of
//! them can block and whether a command read them shows in the bytes left.
//! The same scenarios then run with FIFOs nobody holds, where an open for
//! reading would block: a regression there shows as a test that does not
//! end.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
#[cfg(feature = "encryption")]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
#[cfg(feature = "encryption")]
use std::path::PathBuf;
use std::process::{Command, Output};

#[cfg(feature = "encryption")]
use crate::groupwal;
use crate::{append_lockstep_from, run, run_ok, s, text};

/// A segment's name, a FIFO under which is corruption.
const SEGMENT: &str = "00000000000000000099.wal";
/// A spare's name no spare of the test logs has.
const SPARE: &str = "spare-9.spare";

/// Bytes put in a held FIFO.
const HELD: usize = 61;
/// Ends what is left in a held FIFO; the held bytes are never this value.
const SENTINEL: u8 = 0xff;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// A FIFO the test keeps open for reading and writing, with [`HELD`] bytes
/// in it.
struct HeldFifo {
    file: File,
}

impl HeldFifo {
    fn new(path: &Path) -> HeldFifo {
        mkfifo(path);
        // Read and write: Linux opens a FIFO so without waiting for a peer.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        file.write_all(&[0x55; HELD]).unwrap();
        HeldFifo { file }
    }

    /// How many of the held bytes nobody read (they stay in the FIFO).
    /// Never blocks: a sentinel is written first, and the count stops at
    /// it.
    fn unread(&mut self) -> usize {
        self.file.write_all(&[SENTINEL]).unwrap();
        let mut count = 0;
        let mut buf = [0u8; 256];
        loop {
            let n = self.file.read(&mut buf).unwrap();
            if let Some(at) = buf[..n].iter().position(|&b| b == SENTINEL) {
                let count = count + at;
                self.file.write_all(&vec![0x55; count]).unwrap();
                return count;
            }
            count += n;
        }
    }
}

/// A small log (4 KiB segments) of two records, closed cleanly.
fn small_log(dir: &Path) {
    run_ok(&["append", s(dir), "--segment-size", "4096"], b"a\nb\n");
}

/// A copy of the log directory `from` (regular files only) at `to`.
fn copy_log(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Runs one command of the tool on `dir`.
fn command(cmd: &str, dir: &Path) -> Output {
    match cmd {
        "append" => run(&["append", s(dir), "--segment-size", "4096"], b"x\n"),
        _ => run(&[cmd, s(dir)], b""),
    }
}

/// The exit code a command gives with a FIFO under `name` (documented in
/// `--help`): corruption under a segment's name, a refused lock under
/// LOCK for append (the readers never open LOCK), ignored elsewhere.
fn expected_code(name: &str, cmd: &str) -> i32 {
    match name {
        SEGMENT => 1,
        "LOCK" if cmd == "append" => 2,
        _ => 0,
    }
}

fn check_outcome(out: &Output, name: &str, cmd: &str) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(expected_code(name, cmd)),
        "{cmd} with a FIFO named {name}: {all}"
    );
    match expected_code(name, cmd) {
        1 => assert!(all.contains("not a regular file"), "{cmd} {name}: {all}"),
        2 => assert!(
            all.contains("lock file") && all.contains("not a regular file"),
            "{cmd} {name}: {all}"
        ),
        _ => {}
    }
}

#[test]
fn fifos_in_a_log_directory_block_no_command() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    small_log(&base);
    let mut case = 0;
    for held in [true, false] {
        for name in [SEGMENT, "CLEAN", "LOCK", SPARE] {
            for cmd in ["verify", "dump", "stat", "append"] {
                case += 1;
                let dir = tmp.path().join(format!("case-{case}"));
                copy_log(&base, &dir);
                let path = dir.join(name);
                let _ = std::fs::remove_file(&path);
                let mut fifo = if held {
                    Some(HeldFifo::new(&path))
                } else {
                    mkfifo(&path);
                    None
                };
                let out = command(cmd, &dir);
                check_outcome(&out, name, cmd);
                assert!(is_fifo(&path), "{cmd} replaced the FIFO {name}");
                if let Some(fifo) = fifo.as_mut() {
                    assert_eq!(fifo.unread(), HELD, "{cmd} read or wrote the FIFO {name}");
                }
            }
        }
    }
}

/// A spare's name taken by a FIFO is never reused: appends that rotate
/// through many segments skip it, and leave it as it was.
#[test]
fn fifo_spare_names_are_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    small_log(&log);
    let mut fifos = Vec::new();
    for n in 0..8 {
        let path = log.join(format!("spare-{n}.spare"));
        if !path.exists() {
            fifos.push((path.clone(), HeldFifo::new(&path)));
        }
    }
    assert!(fifos.len() >= 6);
    // 4 KiB segments and 100-byte records: a rotation every few records.
    append_lockstep_from(&log, 3, 60, 100, &["--segment-size", "4096"]);
    let dumped = run_ok(&["dump", s(&log), "--payload"], b"");
    assert_eq!(text(&dumped).lines().count(), 62);
    for (path, fifo) in &mut fifos {
        assert!(is_fifo(path), "{} was replaced", path.display());
        assert_eq!(
            fifo.unread(),
            HELD,
            "{} was read or written",
            path.display()
        );
    }
}

/// A clean close never creates or writes `CLEAN` through a symbolic link,
/// and no reader follows one to a marker elsewhere.
#[test]
fn a_symlinked_clean_marker_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    small_log(&log);
    std::fs::remove_file(log.join("CLEAN")).unwrap();

    // Dangling: the close would create the target.
    let outside = tmp.path().join("somewhere-outside");
    std::os::unix::fs::symlink(&outside, log.join("CLEAN")).unwrap();
    run_ok(&["append", s(&log), "--segment-size", "4096"], b"c\n");
    assert!(!outside.exists(), "the close created the link's target");
    assert!(is_symlink(&log.join("CLEAN")));

    // To an existing file: neither truncated nor written.
    std::fs::write(&outside, b"precious").unwrap();
    run_ok(&["append", s(&log), "--segment-size", "4096"], b"d\n");
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");

    // To a valid marker of another log: not followed, so not a finding
    // (a marker of another log in the directory itself would be one).
    let other = tmp.path().join("other");
    small_log(&other);
    std::fs::remove_file(log.join("CLEAN")).unwrap();
    std::os::unix::fs::symlink(other.join("CLEAN"), log.join("CLEAN")).unwrap();
    for cmd in ["verify", "dump", "stat"] {
        let out = run(&[cmd, s(&log)], b"");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let dumped = run_ok(&["dump", s(&log), "--payload"], b"");
    assert_eq!(text(&dumped), "a\nb\nc\nd\n");
}

/// `append` refuses to lock a directory through a symbolic link, and
/// creates nothing through it.
#[test]
fn a_symlinked_lock_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    small_log(&log);
    std::fs::remove_file(log.join("LOCK")).unwrap();
    let outside = tmp.path().join("somewhere-outside");
    std::os::unix::fs::symlink(&outside, log.join("LOCK")).unwrap();
    let out = run(&["append", s(&log)], b"x\n");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lock file") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(!outside.exists(), "the lock created the link's target");
    assert!(is_symlink(&log.join("LOCK")));
}

/// The segment size is refused outside 4096..=1073741824 (exit 2, naming
/// the bounds), before the directory is created; the help states both.
#[test]
fn the_segment_size_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    for size in [
        "18446744073709551615",
        "1099511627776",
        "1073741825",
        "4095",
    ] {
        let out = run(&["append", s(&log), "--segment-size", size], b"x\n");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{size}: {err}");
        assert!(err.contains("4096..=1073741824"), "{size}: {err}");
        assert!(!log.exists(), "{size}: the directory was created");
    }
    let help = text(&run_ok(&["append", "--help"], b""));
    assert!(help.contains("at least 4096, at most 1073741824"), "{help}");
}

#[cfg(feature = "encryption")]
fn private_file(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An encrypted log of two records and its key file (mode 0600).
#[cfg(feature = "encryption")]
fn encrypted_log(dir: &Path) -> (PathBuf, PathBuf, String) {
    let key = text(&run_ok(&["keygen"], b"")).trim().to_string();
    let key_file = dir.join("key");
    private_file(&key_file, format!("{key}\n").as_bytes());
    let log = dir.join("log");
    run_ok(
        &["append", s(&log), "--key-file", s(&key_file)],
        b"one\ntwo\n",
    );
    (log, key_file, key)
}

/// Key file text of exactly `len` bytes: the key, then a comment.
#[cfg(feature = "encryption")]
fn padded_key(key: &str, len: usize) -> Vec<u8> {
    let mut out = format!("{key}\n#").into_bytes();
    out.resize(len - 1, b'x');
    out.push(b'\n');
    out
}

/// A key file is read with a bound: 8192 bytes are read, a byte more is
/// refused (exit 2) without reading the file whole; from a pipe too.
#[cfg(feature = "encryption")]
#[test]
fn key_files_are_read_with_a_size_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, _, key) = encrypted_log(tmp.path());

    let fits = tmp.path().join("fits");
    private_file(&fits, &padded_key(&key, 8192));
    run_ok(&["verify", s(&log), "--key-file", s(&fits)], b"");

    for len in [8193, 1 << 20] {
        let big = tmp.path().join(format!("big-{len}"));
        private_file(&big, &padded_key(&key, len));
        let out = run(&["verify", s(&log), "--key-file", s(&big)], b"");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{len}: {err}");
        assert!(err.contains("larger than 8192 bytes"), "{len}: {err}");
    }

    // A pipe (`--key-file <(command)`, here standard input): read, and
    // bounded the same way.
    let dumped = run_ok(
        &["dump", s(&log), "--key-file", "/dev/stdin", "--payload"],
        format!("{key}\n").as_bytes(),
    );
    assert_eq!(text(&dumped), "one\ntwo\n");
    let out = run(
        &["verify", s(&log), "--key-file", "/dev/stdin"],
        &padded_key(&key, 1 << 20),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 8192 bytes"), "{err}");
}

/// A device, a directory or a socket is not a key file: refused at once
/// (exit 2), never read (`/dev/zero` would never end).
#[cfg(feature = "encryption")]
#[test]
fn key_files_that_are_not_files_or_pipes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, _, _) = encrypted_log(tmp.path());
    for (path, kind) in [
        (PathBuf::from("/dev/zero"), "character device"),
        (tmp.path().to_path_buf(), "directory"),
    ] {
        let out = run(&["verify", s(&log), "--key-file", s(&path)], b"");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(err.contains(kind), "{}: {err}", path.display());
    }
}

/// A key file that group or others may access gets one warning on
/// standard error (the command still works); a private one gets none.
#[cfg(feature = "encryption")]
#[test]
fn an_exposed_key_file_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, key_file, _) = encrypted_log(tmp.path());
    let out = run(&["verify", s(&log), "--key-file", s(&key_file)], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    for mode in [0o644, 0o640, 0o604, 0o620] {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(&["verify", s(&log), "--key-file", s(&key_file)], b"");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{mode:o}: {err}");
        assert_eq!(err.matches("warning").count(), 1, "{mode:o}: {err}");
        assert!(err.contains(&format!("{mode:04o}")), "{mode:o}: {err}");
        assert!(err.contains("chmod 600"), "{mode:o}: {err}");
    }
}

/// `groupwal keygen > file` leaves the file private (mode 0600) whatever
/// the umask made it, and the help says to use a restrictive umask.
#[cfg(feature = "encryption")]
#[test]
fn keygen_makes_its_output_file_private() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("key");
    let file = File::create(&path).unwrap();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let status = groupwal().arg("keygen").stdout(file).status().unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let key = std::fs::read_to_string(&path).unwrap();
    assert_eq!(key.len(), 65);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));

    let help = text(&run_ok(&["keygen", "--help"], b""));
    assert!(help.contains("umask 077"), "{help}");
    assert!(help.contains("0600"), "{help}");
}
