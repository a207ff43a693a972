//! Key files and `groupwal keygen`.
//!
//! A key file is the hexadecimal of one 256-bit key (id 1), or lines
//! `ID:HEX` for several keys (the highest id encrypts new segments).

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

#[cfg(feature = "encryption")]
fn install(options: &mut WalOptions, path: &Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(format!("reading key file {}", path.display()), e))?;
    let keyring = parse(&text)
        .map_err(|reason| CliError::usage(format!("key file {}: {reason}", path.display())))?;
    options.encryption(std::sync::Arc::new(keyring));
    Ok(())
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

/// `groupwal keygen`.
#[cfg(feature = "encryption")]
pub(crate) fn keygen() -> Outcome {
    use std::io::Write;
    let key =
        groupwal::crypto::Key::generate().map_err(|e| CliError::failure("generating a key", e))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", key.to_hex()).map_err(crate::error::output)?;
    out.flush().map_err(crate::error::output)?;
    Ok(crate::error::Code::Ok)
}

/// `groupwal keygen` without the `encryption` feature.
#[cfg(not(feature = "encryption"))]
pub(crate) fn keygen() -> Outcome {
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
