//! The crate's error type.

use std::sync::Arc;

/// Everything that can go wrong appending. Clonable: one failed group
/// fails every waiter in it with the same error.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A write, sync or rotation failed. The log is poisoned.
    #[error("i/o failed")]
    Io(#[source] Arc<wal_io::Error>),
    /// Compressing or encrypting a payload failed; nothing of its group was
    /// written. The log is poisoned.
    #[error("payload transform failed")]
    Crypto(#[source] wal_crypto::Error),
    /// An earlier failure poisoned the log: nothing after it was or will be
    /// acknowledged until the log is reopened (which recovers it).
    #[error("the log is poisoned by an earlier failure; reopen it to recover")]
    Poisoned(#[source] Arc<Error>),
    /// The log was closed.
    #[error("the log is closed")]
    Closed,
    /// A record is larger than the configured maximum.
    #[error("record of {len} bytes exceeds the maximum record size of {max} bytes")]
    TooLarge {
        /// The record's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// An empty batch, or a batch over the limits.
    #[error("invalid batch: {0}")]
    InvalidBatch(&'static str),
    /// An option that makes no sense.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The I/O thread could not be started or ended abnormally.
    #[error("the log's i/o thread failed: {0}")]
    Thread(String),
}

impl Error {
    /// The root cause, looking through [`Error::Poisoned`].
    #[must_use]
    pub fn root(&self) -> &Error {
        match self {
            Error::Poisoned(cause) => cause.root(),
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
