//! Keys and key providers.

use std::collections::BTreeMap;
use std::fmt;

use wal_format::KeyId;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// The length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// A 256-bit key. Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Key {}

impl Key {
    /// A key from its bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(bytes)
    }

    /// A key from 64 hexadecimal digits (either case), as in a key file;
    /// surrounding whitespace (a trailing newline) is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.len() != 2 * KEY_LEN {
            return Err(Error::InvalidKey("a key is 64 hexadecimal digits"));
        }
        // Built in place in the key (wiped on drop, whatever path returns).
        let mut key = Key([0u8; KEY_LEN]);
        for (byte, pair) in key.0.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            match pair {
                [hi, lo] => match (digit(*hi), digit(*lo)) {
                    (Some(h), Some(l)) => *byte = (h * 16 + l) as u8,
                    _ => return Err(Error::InvalidKey("a key is 64 hexadecimal digits")),
                },
                _ => return Err(Error::InvalidKey("a key is 64 hexadecimal digits")),
            }
        }
        Ok(key)
    }

    /// A fresh key from the operating system's random source.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the random source fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Key(bytes))
    }

    /// The key as 64 lower-case hexadecimal digits (for writing a key file).
    /// The caller owns the secret this returns.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Gives the key for a key id, and names the key new segments use.
///
/// Implement it to fetch keys from a KMS or a secrets store; [`Keyring`] is
/// the in-memory implementation. Rotation: make a new key current; segments
/// written under older keys stay readable as long as their keys are still
/// provided.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The key with this id, if known.
    fn key(&self, id: KeyId) -> Option<Key>;

    /// The id of the key new segments are encrypted under.
    fn current(&self) -> KeyId;
}

/// An in-memory [`KeyProvider`]: a current key and any number of older
/// ones, by id.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: BTreeMap<KeyId, Key>,
    current: KeyId,
}

impl Keyring {
    /// A keyring whose current key is `key`, under `id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if `id` is [`KeyId::NONE`] (0 means "not
    /// encrypted" on disk).
    pub fn new(id: KeyId, key: Key) -> Result<Self> {
        if id.is_none() {
            return Err(Error::InvalidKey(
                "key id 0 is reserved for unencrypted segments",
            ));
        }
        let mut keys = BTreeMap::new();
        keys.insert(id, key);
        Ok(Keyring { keys, current: id })
    }

    /// Adds an older key, for reading segments written under it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if `id` is [`KeyId::NONE`].
    pub fn with_key(mut self, id: KeyId, key: Key) -> Result<Self> {
        if id.is_none() {
            return Err(Error::InvalidKey(
                "key id 0 is reserved for unencrypted segments",
            ));
        }
        self.keys.insert(id, key);
        Ok(self)
    }

    /// Makes `id` (already in the ring) the key for new segments.
    ///
    /// # Errors
    ///
    /// [`Error::MissingKey`] if the ring has no such key.
    pub fn rotate_to(&mut self, id: KeyId) -> Result<()> {
        if !self.keys.contains_key(&id) {
            return Err(Error::MissingKey { key_id: id });
        }
        self.current = id;
        Ok(())
    }
}

impl KeyProvider for Keyring {
    fn key(&self, id: KeyId) -> Option<Key> {
        self.keys.get(&id).cloned()
    }

    fn current(&self) -> KeyId {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        let key = Key::from_hex(&format!("{}\n", "0f".repeat(32))).unwrap();
        assert_eq!(key.bytes(), &[0x0f; 32]);
        assert_eq!(key.to_hex(), "0f".repeat(32));
        assert_eq!(
            Key::from_hex(&"AB".repeat(32)).unwrap().bytes(),
            &[0xab; 32]
        );
        for bad in [
            "",
            "00",
            &"0".repeat(63),
            &"0".repeat(65),
            &"zz".repeat(32),
            &"+1".repeat(32),
        ] {
            assert!(
                matches!(Key::from_hex(bad), Err(Error::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = Key::from_bytes([0xab; 32]);
        let ring = Keyring::new(KeyId::new(1), key.clone()).unwrap();
        for text in [format!("{key:?}"), format!("{ring:?}")] {
            assert!(
                !text.to_lowercase().contains("ab, ab") && !text.contains("171"),
                "{text}"
            );
            assert!(text.contains("redacted"), "{text}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            Key::generate().unwrap().bytes(),
            Key::generate().unwrap().bytes()
        );
    }

    #[test]
    fn keyring_rotation() {
        let mut ring = Keyring::new(KeyId::new(1), Key::from_bytes([1; 32]))
            .unwrap()
            .with_key(KeyId::new(2), Key::from_bytes([2; 32]))
            .unwrap();
        assert_eq!(ring.current(), KeyId::new(1));
        ring.rotate_to(KeyId::new(2)).unwrap();
        assert_eq!(ring.current(), KeyId::new(2));
        assert_eq!(ring.key(KeyId::new(1)).unwrap().bytes(), &[1; 32]);
        assert!(ring.key(KeyId::new(3)).is_none());
        assert!(ring.rotate_to(KeyId::new(3)).is_err());
        assert!(Keyring::new(KeyId::NONE, Key::from_bytes([0; 32])).is_err());
    }
}
