//! Key files and `groupwal keygen`.
//!
//! A key file is the hexadecimal of one 256-bit key (id 1), or lines
//! `ID:HEX` for several keys (the highest id encrypts new segments).
//!
//! A key file is read with a bound (`MAX_KEY_FILE` bytes: a larger one
//! is refused before it is read whole), only if it is a regular file or a
//! pipe (`--key-file <(command)`, `/dev/stdin`): a device such as
//! `/dev/zero`, a directory or a socket is refused. A regular key file
//! that group or others may access gets a warning on standard error, once.
//! The text read, and the key `keygen` prints, are wiped from memory once
//! used (`zeroize`; the keys themselves wipe themselves).

use std::path::Path;

use groupwal::WalOptions;

use crate::Outcome;
use crate::error::CliError;

/// Reads the key file (if any) and installs its keys in `options`.
pub(crate) fn apply(options: &mut WalOptions, key_file: Option<&Path>) -> Result<(), CliError> {
    let Some(path) = key_file else {
        return Ok(());
    };
    install(options, path)
}

/// The largest key file read, in bytes: some hundred `ID:HEX` lines. A
/// key file is a few dozen bytes a key; anything larger is a mistake (the
/// wrong file, a device), refused without reading it all.
#[cfg(feature = "encryption")]
pub(crate) const MAX_KEY_FILE: usize = 8 << 10;

#[cfg(feature = "encryption")]
fn install(options: &mut WalOptions, path: &Path) -> Result<(), CliError> {
    let bytes = read_key_file(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        CliError::usage(format!(
            "key file {}: not text (expected hexadecimal digits)",
            path.display()
        ))
    })?;
    let keyring = parse(text)
        .map_err(|reason| CliError::usage(format!("key file {}: {reason}", path.display())))?;
    options.encryption(std::sync::Arc::new(keyring));
    Ok(())
}

/// Reads a key file: a regular file or a pipe, at most [`MAX_KEY_FILE`]
/// bytes, into a buffer wiped when dropped. Warns (once) when a regular
/// key file is accessible by group or others.
#[cfg(feature = "encryption")]
fn read_key_file(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    let reading = || format!("reading key file {}", path.display());
    // Followed if a symbolic link (mounted secrets are links). The type
    // is checked before the open (opening a device may block, or do
    // something); a FIFO is a pipe, read like a file, whose writer is the
    // caller's (`--key-file <(command)`): its open waits for that writer,
    // as any reader's does.
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(reading(), e))?;
    check_type(path, meta.file_type())?;
    let file = std::fs::File::open(path).map_err(|e| CliError::io(reading(), e))?;
    // What was opened, if the name changed meanwhile.
    let meta = file.metadata().map_err(|e| CliError::io(reading(), e))?;
    check_type(path, meta.file_type())?;
    if meta.is_file() {
        warn_if_exposed(path, meta.permissions().mode());
    }
    // Room for one byte more than the bound, allocated once: the buffer
    // never grows (a growing buffer would leave copies of the key behind,
    // unwiped), and a file that fills it is too large.
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE + 1));
    file.take(MAX_KEY_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(reading(), e))?;
    if bytes.len() > MAX_KEY_FILE {
        return Err(CliError::usage(format!(
            "key file {} is larger than {MAX_KEY_FILE} bytes: not a key file (one key of 64 hexadecimal digits, or lines ID:HEX)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Refuses a key file that is neither a regular file nor a pipe.
#[cfg(feature = "encryption")]
fn check_type(path: &Path, file_type: std::fs::FileType) -> Result<(), CliError> {
    use std::os::unix::fs::FileTypeExt;

    let kind = if file_type.is_file() || file_type.is_fifo() {
        return Ok(());
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(CliError::usage(format!(
        "key file {} is {kind}: expected a regular file or a pipe",
        path.display()
    )))
}

/// Warns on standard error, once per process, that the key file at `path`
/// (of permission bits `mode`) is accessible by group or others.
#[cfg(feature = "encryption")]
fn warn_if_exposed(path: &Path, mode: u32) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    static WARNED: AtomicBool = AtomicBool::new(false);
    if mode & 0o077 == 0 || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "groupwal: warning: key file {} is accessible by group or others (mode {:04o}); it should be readable by its owner only: chmod 600 {}",
        path.display(),
        mode & 0o7777,
        path.display()
    );
}

#[cfg(not(feature = "encryption"))]
fn install(_options: &mut WalOptions, _path: &Path) -> Result<(), CliError> {
    Err(CliError::usage(
        "--key-file needs a groupwal built with the `encryption` feature",
    ))
}

/// Parses a key file (see the module docs).
#[cfg(feature = "encryption")]
pub(crate) fn parse(text: &str) -> Result<groupwal::crypto::Keyring, String> {
    use groupwal::crypto::{Key, Keyring};
    use groupwal::format::KeyId;

    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let bad_key = |e: groupwal::crypto::Error| e.to_string();
    match lines.as_slice() {
        [] => Err("empty: expected 64 hexadecimal digits".into()),
        [one] if !one.contains(':') => {
            let key = Key::from_hex(one).map_err(bad_key)?;
            Keyring::new(KeyId::new(1), key).map_err(bad_key)
        }
        _ => {
            let mut keys = Vec::new();
            for (n, line) in lines.iter().enumerate() {
                let Some((id, hex)) = line.split_once(':') else {
                    return Err(format!(
                        "line {}: expected ID:HEX when the file has several keys",
                        n + 1
                    ));
                };
                let id: u32 = id
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&id| id != 0)
                    .ok_or_else(|| format!("line {}: key id must be 1 to 4294967295", n + 1))?;
                let key = Key::from_hex(hex).map_err(|e| format!("line {}: {e}", n + 1))?;
                if keys.iter().any(|(other, _)| *other == id) {
                    return Err(format!("line {}: key id {id} appears twice", n + 1));
                }
                keys.push((id, key));
            }
            keys.sort_by_key(|(id, _)| *id);
            let mut iter = keys.into_iter().rev();
            let Some((current, key)) = iter.next() else {
                return Err("no keys".into());
            };
            let mut ring = Keyring::new(KeyId::new(current), key).map_err(bad_key)?;
            for (id, key) in iter {
                ring = ring.with_key(KeyId::new(id), key).map_err(bad_key)?;
            }
            Ok(ring)
        }
    }
}

/// `groupwal keygen`: prints a fresh key. When standard output is a
/// regular file that group or others may access (`groupwal keygen > key`
/// under the usual umask), it is first made private (mode 0600); if that
/// fails, nothing is printed. The key goes straight to the descriptor, not
/// through standard output's buffer, from a line wiped once written.
#[cfg(feature = "encryption")]
pub(crate) fn keygen(args: &crate::cli::KeygenArgs) -> Outcome {
    use std::io::{IsTerminal, Write};
    use std::os::fd::AsFd;

    let key =
        groupwal::crypto::Key::generate().map_err(|e| CliError::failure("generating a key", e))?;
    let mut line = zeroize::Zeroizing::new(key.to_hex());
    line.push('\n');
    if let Some(path) = &args.out {
        return write_new_key_file(path, line.as_bytes());
    }
    if std::io::stdout().is_terminal() {
        // Nothing to do if the terminal is gone.
        let _ = writeln!(
            std::io::stderr().lock(),
            "groupwal: the key below is a secret: keep it in a file only you can read \
             (`groupwal keygen --out wal.key` makes one with mode 0600)"
        );
    }
    let out = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(crate::error::output)?;
    let mut out = std::fs::File::from(out);
    make_private(&out)?;
    out.write_all(line.as_bytes())
        .map_err(crate::error::output)?;
    Ok(crate::error::Code::Ok)
}

/// `keygen --out PATH`: a new file, mode 0600 from its creation (never
/// readable by others, whatever the umask), never an existing one (nor
/// through a symbolic link); written and synced.
#[cfg(feature = "encryption")]
fn write_new_key_file(path: &std::path::Path, line: &[u8]) -> Outcome {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let what = || format!("writing the key to {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::usage(format!(
                    "{} exists: keygen never overwrites a file (a key lost is a log lost)",
                    path.display()
                ))
            } else {
                CliError::io(what(), e)
            }
        })?;
    file.write_all(line)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io(what(), e))?;
    Ok(crate::error::Code::Ok)
}

/// If `out` (standard output) is a regular file that group or others may
/// access, sets its mode to 0600 (`fchmod`), before a key is written to
/// it.
#[cfg(feature = "encryption")]
fn make_private(out: &std::fs::File) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;

    let what = "making the key file on standard output private (mode 0600)";
    let meta = out.metadata().map_err(|e| CliError::io(what, e))?;
    if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
        out.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::io(what, e))?;
    }
    Ok(())
}

/// `groupwal keygen` without the `encryption` feature.
#[cfg(not(feature = "encryption"))]
pub(crate) fn keygen(_: &crate::cli::KeygenArgs) -> Outcome {
    Err(CliError::usage(
        "keygen needs a groupwal built with the `encryption` feature",
    ))
}

#[cfg(all(test, feature = "encryption"))]
mod tests {
    use super::*;
    use groupwal::crypto::KeyProvider;
    use groupwal::format::KeyId;

    #[test]
    fn one_key_is_id_one() {
        let ring = parse(&format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(ring.current(), KeyId::new(1));
        assert!(ring.key(KeyId::new(1)).is_some());
    }

    #[test]
    fn several_keys_highest_is_current() {
        let text = format!("# keys\n2:{}\n\n7:{}\n", "01".repeat(32), "02".repeat(32));
        let ring = parse(&text).unwrap();
        assert_eq!(ring.current(), KeyId::new(7));
        assert!(ring.key(KeyId::new(2)).is_some());
        assert!(ring.key(KeyId::new(1)).is_none());
    }

    #[test]
    fn bad_files_are_rejected() {
        for bad in [
            String::new(),
            "00".into(),
            format!("0:{}", "01".repeat(32)),
            format!("1:{}\n1:{}", "01".repeat(32), "02".repeat(32)),
            format!("{}\n{}", "01".repeat(32), "02".repeat(32)),
            format!("x:{}", "01".repeat(32)),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
