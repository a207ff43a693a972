//! Opening a log directory for the commands: checks that it is one, and
//! builds a read-only reader. Every command reads through
//! `groupwal::reader` (listing, records, the classification of where they
//! stop), so `verify`, `dump` and `stat` reach the verdict that opening the
//! log for writing (`append`) reaches on the same bytes.

use std::path::Path;
use std::sync::Arc;

use groupwal::WalOptions;
use groupwal::format::parse_segment_file_name;
use groupwal::io::{self, Storage};
use groupwal::reader::{self, LogReader, RecoveryMode};

use crate::error::CliError;

/// Checks that `dir` is a groupwal log directory: it exists, is a
/// directory, and holds segment files or a lock file. Fails with a usage
/// error otherwise. Lists names only; opens nothing.
pub(crate) fn check_dir(dir: &Path) -> Result<(), CliError> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| CliError::io(format!("log directory {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if !holds_a_log(dir)? {
        return Err(CliError::usage(format!(
            "{} is not a groupwal log directory (no segment files)",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether `dir` holds segment files (by name) or a lock file.
pub(crate) fn holds_a_log(dir: &Path) -> Result<bool, CliError> {
    let entries = io::FileStorage::new()
        .list_dir(dir)
        .map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?;
    Ok(entries
        .iter()
        .any(|e| e.name == io::LOCK_FILE || parse_segment_file_name(&e.name).is_some()))
}

/// Options with the key file's keys, if any.
pub(crate) fn options(key_file: Option<&Path>) -> Result<WalOptions, CliError> {
    let mut options = WalOptions::new();
    crate::keys::apply(&mut options, key_file)?;
    Ok(options)
}

/// A read-only reader over `dir` in `mode`; the reader's own error.
pub(crate) fn open_reader(
    dir: &Path,
    options: &WalOptions,
    mode: RecoveryMode,
) -> Result<LogReader, reader::Error> {
    let mut read = options.read_options().clone();
    read.mode(mode);
    LogReader::open(Arc::new(io::FileStorage::new()), dir, &read)
}

/// [`open_reader`], its error as the tool's.
pub(crate) fn reader(
    dir: &Path,
    options: &WalOptions,
    mode: RecoveryMode,
) -> Result<LogReader, CliError> {
    open_reader(dir, options, mode)
        .map_err(|e| CliError::wal(format!("opening {}", dir.display()), e.into()))
}

/// The damage a reader error reports, as one finding line, or `None` if
/// the error is not damage (a missing key, an I/O error).
pub(crate) fn finding(e: &reader::Error) -> Option<String> {
    match e {
        reader::Error::Corruption(range) => Some(crate::verify::finding(range)),
        reader::Error::Io(io::Error::BadSegmentHeader { path, source }) => Some(format!(
            "corruption: bad segment header: {source} in {} at offset 0",
            path.display()
        )),
        reader::Error::Io(io::Error::NameMismatch {
            path,
            in_header,
            in_name,
        }) => Some(format!(
            "corruption: segment header gives first lsn {in_header}, not the {in_name} of its name in {} at offset 0 (lsn {in_name})",
            path.display()
        )),
        _ => None,
    }
}
