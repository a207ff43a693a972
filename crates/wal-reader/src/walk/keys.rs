//! Whether a segment can be trusted to be this log's where it stands: the
//! key checks before anything is read, and each segment's key and header
//! tag as it is opened.

use wal_format::SEGMENT_HEADER_LEN;

use super::Walker;
use crate::error::{Error, Result};
use crate::report::{CorruptRange, CorruptionKind};
use crate::segments::Segment;

/// What the key checks found, with keys configured.
#[derive(Debug, Default)]
pub(super) struct KeyChecks {
    /// The segment being read's decryptor, to authenticate its markers.
    #[cfg(feature = "encryption")]
    pub(super) auth: Option<wal_crypto::SegmentDecryptor>,
    /// The segments whose key check fails under a key that opens the
    /// log's other segments of the same key id (forged), by index
    /// ([`Walker::check_keys`]).
    forged: Vec<usize>,
}

impl Walker {
    /// With keys configured, checks every encrypted segment's key before
    /// anything is read: a key id the provider lacks, or a key that fails
    /// the key check of every segment under its id, is a configuration
    /// problem ([`Error::Key`]); a segment that fails the key check of a
    /// key that opens other segments of its id was not written with it
    /// (noted, and reported as corruption when the walk gets there).
    /// Without keys (or the `encryption` feature) there is nothing to check
    /// here: encrypted payloads fail when they are decoded.
    pub(crate) fn check_keys(&mut self) -> Result<()> {
        #[cfg(feature = "encryption")]
        if let Some(keys) = self.opts.keys.clone() {
            use std::collections::BTreeMap as Map;
            // Per key id: (segments that pass, first failure).
            let mut by_id: Map<u32, (usize, Option<(usize, wal_crypto::Error)>)> = Map::new();
            let mut failed = Vec::new();
            for (i, seg) in self.segments.iter().enumerate() {
                if seg.header.key_id.is_none() {
                    continue;
                }
                let entry = by_id.entry(seg.header.key_id.get()).or_default();
                match wal_crypto::SegmentDecryptor::open(&*keys, &seg.header) {
                    Ok(_) => entry.0 += 1,
                    Err(e @ wal_crypto::Error::MissingKey { .. }) => {
                        return Err(Error::Key {
                            path: seg.path.clone(),
                            source: e,
                        });
                    }
                    Err(e) => {
                        failed.push(i);
                        entry.1.get_or_insert((i, e));
                    }
                }
            }
            for (passed, first_failure) in by_id.values() {
                if let (0, Some((i, e))) = (passed, first_failure) {
                    let path = self
                        .segments
                        .get(*i)
                        .map(|s| s.path.clone())
                        .unwrap_or_default();
                    return Err(Error::Key {
                        path,
                        source: e.clone(),
                    });
                }
            }
            self.keys.forged = failed;
        }
        Ok(())
    }

    /// Whether segment `idx` can be trusted to be this log's where it
    /// stands: a segment without a key after one with a key (nothing is
    /// ever written in plaintext to an encrypted log), or, with keys, one
    /// whose key check or header tag fails (forged, spliced in, or moved:
    /// the tag binds the segment before it), is corruption in every mode.
    pub(super) fn check_segment(&mut self, idx: usize, seg: &Segment) -> Result<()> {
        if seg.header.key_id.is_none() {
            self.check_plaintext_segment(idx, seg)?;
            #[cfg(feature = "encryption")]
            {
                self.keys.auth = None;
            }
            return Ok(());
        }
        if self.keys.forged.contains(&idx) {
            return Err(unauthenticated(
                seg,
                format!(
                    "its key check fails under the key that opens the log's other segments of key id {}",
                    seg.header.key_id
                ),
            ));
        }
        #[cfg(feature = "encryption")]
        {
            self.keys.auth = None;
            self.keys.auth = self.authenticate_segment(idx, seg)?;
        }
        Ok(())
    }

    /// A segment without a key (`seg`, at `idx`) may not follow one with a
    /// key.
    fn check_plaintext_segment(&self, idx: usize, seg: &Segment) -> Result<()> {
        let earlier = self.segments.get(..idx).unwrap_or_default();
        match earlier.iter().find(|s| !s.header.key_id.is_none()) {
            Some(keyed) => Err(unauthenticated(
                seg,
                format!(
                    "a segment without a key after an encrypted one ({})",
                    keyed.path.display()
                ),
            )),
            None => Ok(()),
        }
    }

    /// With keys, the decryptor of the encrypted segment `seg` (at `idx`),
    /// once its header tag authenticates it after the segment before it;
    /// without keys, none.
    #[cfg(feature = "encryption")]
    fn authenticate_segment(
        &self,
        idx: usize,
        seg: &Segment,
    ) -> Result<Option<wal_crypto::SegmentDecryptor>> {
        let Some(keys) = self.opts.keys.clone() else {
            return Ok(None);
        };
        let dec = wal_crypto::SegmentDecryptor::open(&*keys, &seg.header).map_err(|source| {
            Error::Key {
                path: seg.path.clone(),
                source,
            }
        })?;
        // The oldest segment's predecessor may have been purged: its link
        // cannot be checked (dropping a prefix of a log looks like a purge).
        if let Some(prev) = idx.checked_sub(1).and_then(|i| self.segments.get(i)) {
            let link = wal_crypto::Link::to(&prev.header);
            if dec.verify_header(&seg.header, link).is_err() {
                return Err(unauthenticated(
                    seg,
                    format!(
                        "its header tag does not authenticate it after {}",
                        prev.path.display()
                    ),
                ));
            }
        }
        Ok(Some(dec))
    }
}

/// Corruption: segment `seg` cannot be trusted to be this log's where it
/// stands, for the reason `detail` gives.
fn unauthenticated(seg: &Segment, detail: String) -> Error {
    Error::Corruption(Box::new(CorruptRange {
        kind: CorruptionKind::Unauthenticated,
        segment: seg.path.clone(),
        offset: 0,
        end_offset: SEGMENT_HEADER_LEN as u64,
        lsns: None,
        detail,
    }))
}
