//! The facade's error type.

/// Everything that can go wrong with a [`crate::Wal`]. The layer that
/// failed is kept as the source, so `match` on it when the details matter
/// (for example [`wal_reader::Error::Corruption`] names the damaged
/// segment, offset and LSNs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Appending, syncing, truncating or closing failed (see
    /// [`wal_commit::Error`]; `Poisoned` once a write or sync failed).
    #[error(transparent)]
    Commit(#[from] wal_commit::Error),
    /// Recovery or reading failed (see [`wal_reader::Error`]).
    #[error(transparent)]
    Read(#[from] wal_reader::Error),
    /// An option that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Whether the log was poisoned by a failed write or sync (reopen it to
    /// recover).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Commit(wal_commit::Error::Poisoned(_)))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
