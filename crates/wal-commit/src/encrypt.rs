//! Encryption on the I/O thread: a segment hook that gives every new
//! segment a fresh key seed and hands its cipher to the committer.
//!
//! A segment's cipher exists only in the session that created the segment
//! (`wal_crypto::SegmentEncryptor::new_segment` draws the seed), so with
//! encryption on the committer never appends to a segment it did not
//! create: `wal_io::SegmentLog::set_segment_hook` makes the next batch start
//! a new segment after opening, and again after a suffix truncation. That
//! is what keeps a GCM nonce (the LSN) from meeting the same subkey twice.

use wal_format::{Flags, LogicalKind, Lsn};
use wal_io::SegmentLog;

use crate::error::Result;
use crate::options::CommitOptions;

#[cfg(feature = "encryption")]
mod on {
    use std::sync::{Arc, Mutex, PoisonError};

    use wal_crypto::{KeyProvider, Link, SegmentEncryptor, TAG_LEN};
    use wal_format::{Flags, Lsn, RecordHeader, SegmentHeader};
    use wal_io::SegmentLog;

    use crate::error::{Error, Result};

    // What encryption adds is what readers allow for above the fragment
    // size (`crate::MAX_STORED_GROWTH`).
    const _: () = assert!(TAG_LEN <= crate::MAX_STORED_GROWTH);

    type Slot = Arc<Mutex<Option<SegmentEncryptor>>>;

    /// The cipher of the segment being written.
    #[derive(Debug)]
    pub(crate) struct Cipher {
        /// Filled by the segment hook when a new segment is created.
        slot: Slot,
        current: Option<SegmentEncryptor>,
    }

    impl Cipher {
        pub(crate) fn install(log: &mut SegmentLog, keys: Arc<dyn KeyProvider>) -> Self {
            let slot: Slot = Arc::default();
            let hook_slot = slot.clone();
            log.set_segment_hook(Box::new(
                move |header: &mut SegmentHeader, prev: Option<&SegmentHeader>| {
                    let prev = prev.map_or(Link::NONE, Link::to);
                    let cipher = SegmentEncryptor::new_segment(&*keys, header, prev)?;
                    *hook_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(cipher);
                    Ok(())
                },
            ));
            Cipher {
                slot,
                current: None,
            }
        }

        /// Bytes encryption adds to a stored payload.
        pub(crate) fn overhead(&self) -> usize {
            TAG_LEN
        }

        /// Before a group of `records` stored payloads totalling `bytes`
        /// (tags included): starts a new segment if this one's key would
        /// pass its usage limit (`SegmentEncryptor::has_room`).
        pub(crate) fn before_group(&mut self, log: &mut SegmentLog, records: u64, bytes: u64) {
            if self
                .current
                .as_ref()
                .is_some_and(|c| !c.has_room(records, bytes))
            {
                tracing::debug!("segment key near its usage limit; starting a new segment");
                log.start_new_segment();
            }
        }

        /// After `begin_batch`: picks up the cipher of a segment it created.
        pub(crate) fn after_begin(&mut self) {
            if let Some(new) = self
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                self.current = Some(new);
            }
        }

        /// The flags and payload of a marker (`header`'s type and LSN,
        /// `body`) in the current segment: flagged encrypted, its body
        /// followed by its tag.
        pub(crate) fn seal_marker(
            &self,
            mut header: RecordHeader,
            body: &[u8],
        ) -> Result<(Flags, Vec<u8>)> {
            let cipher = self.current.as_ref().ok_or_else(|| no_cipher(header.lsn))?;
            header.flags = Flags::ENCRYPTED;
            let payload = cipher.seal_marker(&header, body).map_err(Error::Crypto)?;
            Ok((Flags::ENCRYPTED, payload))
        }

        /// The cipher of the current segment, for a record at `lsn`.
        pub(crate) fn encryptor(&mut self, lsn: Lsn) -> Result<&mut SegmentEncryptor> {
            self.current.as_mut().ok_or_else(|| no_cipher(lsn))
        }
    }

    /// The hook ran before any record of this session was written, so
    /// there is always a cipher; refuse rather than write plaintext if that
    /// ever breaks.
    fn no_cipher(lsn: Lsn) -> Error {
        Error::Crypto(wal_crypto::Error::Encrypt {
            lsn,
            reason: "no cipher for the current segment",
        })
    }
}

/// The committer's encryption state: nothing when no keys are configured.
#[derive(Debug)]
pub(crate) struct Encryption {
    #[cfg(feature = "encryption")]
    cipher: Option<on::Cipher>,
}

impl Encryption {
    /// Installs the segment hook on `log` if `options` configure keys.
    pub(crate) fn install(log: &mut SegmentLog, options: &CommitOptions) -> Self {
        #[cfg(feature = "encryption")]
        return Encryption {
            cipher: options
                .keys
                .clone()
                .map(|keys| on::Cipher::install(log, keys)),
        };
        #[cfg(not(feature = "encryption"))]
        {
            let _ = (log, options);
            Encryption {}
        }
    }

    /// Bytes encryption adds to each stored payload.
    pub(crate) fn overhead(&self) -> usize {
        #[cfg(feature = "encryption")]
        if let Some(c) = &self.cipher {
            return c.overhead();
        }
        0
    }

    /// Bytes encryption adds to each batch or commit marker (its tag).
    pub(crate) fn marker_overhead(&self) -> usize {
        #[cfg(feature = "encryption")]
        if self.cipher.is_some() {
            return wal_format::MARKER_TAG_LEN;
        }
        0
    }

    /// The flags and payload of a marker with `header` (type, LSN, salt)
    /// and `body`: as they are without encryption, else authenticated (see
    /// `Cipher::seal_marker`).
    pub(crate) fn seal_marker(
        &self,
        header: wal_format::RecordHeader,
        body: &[u8],
    ) -> Result<(Flags, Vec<u8>)> {
        #[cfg(feature = "encryption")]
        if let Some(c) = &self.cipher {
            return c.seal_marker(header, body);
        }
        let _ = header;
        Ok((Flags::EMPTY, body.to_vec()))
    }

    /// See `Cipher::before_group`.
    pub(crate) fn before_group(&mut self, log: &mut SegmentLog, records: u64, bytes: u64) {
        #[cfg(feature = "encryption")]
        if let Some(c) = &mut self.cipher {
            c.before_group(log, records, bytes);
        }
        let _ = (log, records, bytes);
    }

    /// See `Cipher::after_begin`.
    pub(crate) fn after_begin(&mut self) {
        #[cfg(feature = "encryption")]
        if let Some(c) = &mut self.cipher {
            c.after_begin();
        }
    }

    /// Encrypts `buf` in place if encryption is on; returns the flags the
    /// record must carry.
    pub(crate) fn seal(
        &mut self,
        lsn: Lsn,
        kind: LogicalKind,
        flags: Flags,
        buf: &mut Vec<u8>,
    ) -> Result<Flags> {
        #[cfg(feature = "encryption")]
        if let Some(c) = &mut self.cipher {
            return c
                .encryptor(lsn)?
                .encrypt(lsn, kind, flags, buf)
                .map_err(crate::error::Error::Crypto);
        }
        let _ = (lsn, kind, buf);
        Ok(flags)
    }
}
