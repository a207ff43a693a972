//! Exit codes and the tool's error type: a message, the cause chain, and
//! the exit code it maps to.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

use groupwal::{commit, crypto, io, reader};

/// The exit codes of the tool (documented in `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// Success.
    Ok,
    /// Corruption found.
    Corrupt,
    /// Bad usage: arguments, a missing directory, not a log directory, a
    /// missing or wrong key.
    Usage,
    /// An I/O or other error (the same code as bad usage, as the tool's
    /// contract says: 2 is "it did not work", 1 is "corruption found").
    Failure,
}

impl Code {
    /// The process exit status.
    pub(crate) fn number(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Corrupt => 1,
            Code::Usage | Code::Failure => 2,
        }
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code.number())
    }
}

/// An error of the tool: what was being done, the cause chain, the exit
/// code.
#[derive(Debug)]
pub(crate) struct CliError {
    code: Code,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    /// What to do about it, when the tool knows.
    hint: Option<&'static str>,
}

impl CliError {
    /// A usage error without a cause.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: Code::Usage,
            message: message.into(),
            source: None,
            hint: None,
        }
    }

    /// Another error while doing `what` (exit code 2).
    pub(crate) fn failure(
        what: impl Into<String>,
        e: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CliError {
            code: Code::Failure,
            message: what.into(),
            source: Some(Box::new(e)),
            hint: None,
        }
    }

    /// A standard I/O error while doing `what` (usage for a missing file or
    /// a permission problem, failure otherwise).
    pub(crate) fn io(what: impl Into<String>, e: std::io::Error) -> Self {
        let code = io_code(&e);
        CliError {
            code,
            message: what.into(),
            source: Some(Box::new(e)),
            hint: None,
        }
    }

    /// A groupwal error while doing `what`, classified by its cause.
    pub(crate) fn wal(what: impl Into<String>, e: groupwal::Error) -> Self {
        let code = classify(&e);
        let hint = missing_key(&e).then_some("pass the log's key file with --key-file");
        CliError {
            code,
            message: what.into(),
            source: Some(Box::new(e)),
            hint,
        }
    }

    /// The exit code.
    pub(crate) fn code(&self) -> Code {
        self.code
    }

    /// Whether standard output went away (`groupwal dump | head`): not an
    /// error for the tool.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        chain(
            self.source
                .as_deref()
                .map(|e| e as &(dyn StdError + 'static)),
        )
        .any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl fmt::Display for CliError {
    /// The message and every cause, separated by `": "`, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut last = String::new();
        for cause in chain(
            self.source
                .as_deref()
                .map(|e| e as &(dyn StdError + 'static)),
        ) {
            let text = cause.to_string();
            // Transparent wrappers repeat their inner message.
            if text != last {
                write!(f, ": {text}")?;
            }
            last = text;
        }
        if let Some(hint) = self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Writing to standard output or error failed.
pub(crate) fn output(e: std::io::Error) -> CliError {
    CliError {
        code: Code::Failure,
        message: "writing output".into(),
        source: Some(Box::new(e)),
        hint: None,
    }
}

/// `e` and its sources.
fn chain<'a>(
    e: Option<&'a (dyn StdError + 'static)>,
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(e, |&e| e.source())
}

fn io_code(e: &std::io::Error) -> Code {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::InvalidInput
        | ErrorKind::ReadOnlyFilesystem => Code::Usage,
        _ => Code::Failure,
    }
}

/// The exit code a groupwal error maps to: its case, or for the cases
/// that keep a layer's error, the first cause that tells.
fn classify(e: &groupwal::Error) -> Code {
    use groupwal::Error as E;
    match e {
        E::TooLarge { .. }
        | E::InvalidBatch { .. }
        | E::InvalidOption { .. }
        | E::Locked { .. }
        | E::MissingDir { .. }
        | E::MissingKey { .. }
        | E::WrongKey { .. } => Code::Usage,
        // Checksums pass, but no writer wrote that: damage, as for verify.
        E::StreamRecord { .. } => Code::Corrupt,
        E::Io { source, .. } => io_code(source),
        // The layer's error decides (what verify calls a finding is
        // corruption; a segment that reads back differently is not).
        E::Poisoned { .. } | E::Corruption { .. } | E::Other { .. } => chain(e.source())
            .find_map(classify_one)
            .unwrap_or(Code::Failure),
        // Closed, no space, a torn tail in absolute consistency mode, a
        // truncation inside a batch, purged records, the stream errors.
        _ => Code::Failure,
    }
}

/// Whether the log directory is locked by another opener.
pub(crate) fn is_locked(e: &groupwal::Error) -> bool {
    matches!(e, groupwal::Error::Locked { .. })
}

/// Whether a segment could not be read for want of a key.
fn missing_key(e: &groupwal::Error) -> bool {
    matches!(
        e,
        groupwal::Error::MissingKey {
            segment: Some(_),
            ..
        }
    )
}

fn classify_one(e: &(dyn StdError + 'static)) -> Option<Code> {
    if let Some(r) = e.downcast_ref::<reader::Error>() {
        // Damage is what verify reports as a finding: one decision.
        if crate::logdir::finding(r).is_some() {
            return Some(Code::Corrupt);
        }
        return matches!(r, reader::Error::InvalidOption { .. }).then_some(Code::Usage);
    }
    let io_err = e
        .downcast_ref::<io::Error>()
        .or_else(|| e.downcast_ref::<std::sync::Arc<io::Error>>().map(|a| &**a));
    if let Some(w) = io_err {
        return match w {
            io::Error::MissingDir { .. }
            | io::Error::Unwritable { .. }
            | io::Error::Locked { .. }
            | io::Error::UnsupportedSyncMode { .. }
            | io::Error::InvalidOption { .. }
            | io::Error::ForeignSegment { .. } => Some(Code::Usage),
            io::Error::BadSegmentHeader { .. } | io::Error::NameMismatch { .. } => {
                Some(Code::Corrupt)
            }
            _ => None,
        };
    }
    if let Some(c) = e.downcast_ref::<commit::Error>() {
        return match c {
            commit::Error::InvalidOption { .. }
            | commit::Error::InvalidBatch(_)
            | commit::Error::TooLarge { .. } => Some(Code::Usage),
            _ => None,
        };
    }
    if let Some(c) = e.downcast_ref::<crypto::Error>() {
        return match c {
            crypto::Error::MissingKey { .. }
            | crypto::Error::WrongKey { .. }
            | crypto::Error::InvalidKey(_)
            | crypto::Error::FeatureDisabled { .. }
            | crypto::Error::Unsupported { .. } => Some(Code::Usage),
            crypto::Error::Authentication { .. }
            | crypto::Error::Decompress { .. }
            | crypto::Error::DecompressedTooLarge { .. } => Some(Code::Corrupt),
            _ => None,
        };
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return Some(io_code(io));
    }
    None
}
