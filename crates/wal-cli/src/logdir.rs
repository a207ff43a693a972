//! Opening a log directory for reading: checks that it is one, lists its
//! segments, and builds a read-only reader.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use groupwal::format::{
    Lsn, RECORD_HEADER_LEN, RecordDecoder, RecordType, SEGMENT_HEADER_LEN, SegmentHeader,
    parse_segment_file_name,
};
use groupwal::reader::{LogReader, RecoveryMode};
use groupwal::{WalOptions, commit, io};

use crate::error::CliError;

/// A segment file of the directory.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub(crate) path: PathBuf,
    pub(crate) first_lsn: Lsn,
    pub(crate) size: u64,
    /// The verified header, or why it does not verify.
    pub(crate) header: Result<SegmentHeader, groupwal::format::Error>,
}

/// The segment files of `dir`, by first LSN. Fails with a usage error when
/// `dir` is missing, not a directory, or holds neither segments nor a lock
/// file (not a groupwal log directory).
pub(crate) fn segments(dir: &Path) -> Result<Vec<SegmentFile>, CliError> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| CliError::io(format!("log directory {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let listing = std::fs::read_dir(dir)
        .map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?;
    let mut out = Vec::new();
    let mut lock = false;
    for entry in listing {
        let entry = entry.map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == io::LOCK_FILE {
            lock = true;
            continue;
        }
        let Some(first_lsn) = parse_segment_file_name(name) else {
            continue;
        };
        let path = entry.path();
        let mut file = File::open(&path)
            .map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
        let size = file
            .metadata()
            .map_err(|e| CliError::io(format!("stat {}", path.display()), e))?
            .len();
        let mut bytes = Vec::with_capacity(SEGMENT_HEADER_LEN);
        (&mut file)
            .take(SEGMENT_HEADER_LEN as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        out.push(SegmentFile {
            path,
            first_lsn,
            size,
            header: SegmentHeader::decode(&bytes),
        });
    }
    if out.is_empty() && !lock {
        return Err(CliError::usage(format!(
            "{} is not a groupwal log directory (no segment files)",
            dir.display()
        )));
    }
    out.sort_by_key(|s| s.first_lsn);
    Ok(out)
}

/// Options with the key file's keys, if any.
pub(crate) fn options(key_file: Option<&Path>) -> Result<WalOptions, CliError> {
    let mut options = WalOptions::new();
    crate::keys::apply(&mut options, key_file)?;
    Ok(options)
}

/// A read-only reader over `dir` in `mode`, with the torn-write window a
/// log opened with the default options has (so the tail is judged as
/// `Wal::open` would).
pub(crate) fn reader(
    dir: &Path,
    options: &WalOptions,
    mode: RecoveryMode,
) -> Result<LogReader, CliError> {
    let mut read = options.read_options().clone();
    let mut commit = commit::CommitOptions::new();
    commit.fragment_size(1 << 20).max_record_len(64 << 20);
    read.mode(mode).torn_write_window(commit.max_write_len());
    LogReader::open(Arc::new(io::FileStorage::new()), dir, &read)
        .map_err(|e| CliError::wal(format!("opening {}", dir.display()), e.into()))
}

/// What a plain scan of one segment's physical records found (for `stat`:
/// the bytes records take as stored).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scan {
    /// Physical records (fragments and batch markers included).
    pub(crate) records: u64,
    /// Their payload bytes as stored (compressed, encrypted), data records
    /// only (not batch markers).
    pub(crate) stored_payload: u64,
    /// Where the valid records end.
    pub(crate) data_end: u64,
}

/// Scans the records of a segment from its start until the first thing
/// that is not a valid record of it (the end of its data, or damage).
/// Memory: one record at a time.
pub(crate) fn scan(seg: &SegmentFile, max_payload_len: u32) -> Result<Scan, CliError> {
    let mut scan = Scan {
        data_end: SEGMENT_HEADER_LEN as u64,
        ..Scan::default()
    };
    let Ok(header) = &seg.header else {
        return Ok(scan);
    };
    let file = File::open(&seg.path)
        .map_err(|e| CliError::io(format!("opening {}", seg.path.display()), e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    std::io::copy(
        &mut (&mut reader).take(SEGMENT_HEADER_LEN as u64),
        &mut std::io::sink(),
    )
    .map_err(|e| CliError::io(format!("reading {}", seg.path.display()), e))?;
    let decoder = RecordDecoder::new(header.salt, max_payload_len);
    let mut head = [0u8; RECORD_HEADER_LEN];
    let mut payload = Vec::new();
    loop {
        if read_exact_or_eof(&mut reader, &mut head)
            .map_err(|e| CliError::io(format!("reading {}", seg.path.display()), e))?
            .is_none()
        {
            return Ok(scan);
        }
        let Ok(verified) = decoder.decode_header(&head) else {
            return Ok(scan);
        };
        payload.resize(verified.payload_len as usize, 0);
        if read_exact_or_eof(&mut reader, &mut payload)
            .map_err(|e| CliError::io(format!("reading {}", seg.path.display()), e))?
            .is_none()
        {
            return Ok(scan);
        }
        if verified.verify_payload(&payload).is_err() {
            return Ok(scan);
        }
        scan.records += 1;
        if verified.header.record_type != RecordType::Batch {
            scan.stored_payload += u64::from(verified.payload_len);
        }
        scan.data_end += verified.encoded_len() as u64;
    }
}

/// Fills `buf`; `None` if the file ends first.
fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<Option<()>> {
    match r.read_exact(buf) {
        Ok(()) => Ok(Some(())),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}
