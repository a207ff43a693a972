//! The command line: commands, arguments and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  corruption found (verify; dump when it reaches damage)
  2  it did not work: bad arguments, a missing directory, not a groupwal
     log directory, a missing or wrong key, a bad key file, an I/O error
Errors go to standard error on one line, with their causes.

Key file (--key-file): the hexadecimal of a 256-bit key (64 hex digits), a
trailing newline allowed; that key has id 1. Or several lines `ID:HEX`
(ID from 1 to 4294967295; blank lines and lines starting with # are
ignored): all are used to read, and the highest ID encrypts what is
appended. `groupwal keygen` prints a fresh key. A key file is a regular
file or a pipe (`--key-file <(command)`) of at most 8192 bytes; anything
else (a device, a directory, a larger file) is refused (exit 2). A key file
that group or others may access gets a warning on standard error: make it
private (chmod 600).

Log directory entries are never followed or opened unless they are regular
files, and none blocks a command: a symbolic link, FIFO, device or
directory under a segment's name is corruption (exit 1); under LOCK, append
refuses to lock the directory through it (exit 2; dump, verify and stat
never open LOCK); under CLEAN or a spare's name (spare-N.spare) it is
ignored: no clean-close evidence, never written, never reused.";

// The help above and below states these bounds in words.
const _: () = assert!(
    groupwal::io::MIN_SEGMENT_SIZE == 4096 && groupwal::io::LogOptions::MAX_SEGMENT_SIZE == 1 << 30
);
#[cfg(feature = "encryption")]
const _: () = assert!(crate::keys::MAX_KEY_FILE == 8192);

/// groupwal: append to, read, check and measure groupwal write-ahead logs.
#[derive(Debug, Parser)]
#[command(name = "groupwal", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Append one record per line of standard input (without its newline),
    /// each submitted as soon as its line arrives. Prints the last LSN at
    /// the end, or with --ack each record's LSN as soon as it is durable.
    /// With --stream, each line is an entry of that stream, and each line
    /// printed is `INDEX<TAB>LSN`.
    #[command(after_help = AFTER_HELP)]
    Append(AppendArgs),
    /// Print records in LSN order (read-only): `LSN<TAB>length<TAB>preview`,
    /// a stream record as `LSN<TAB>length<TAB>stream ID OP INDEX<TAB>preview`
    /// (the length and preview of its entry; a stream record whose header
    /// does not decode is shown, and is corruption, exit 1). With
    /// --stream, the live entries of one stream in index order.
    #[command(after_help = AFTER_HELP)]
    Dump(DumpArgs),
    /// Read the whole log and check every record, without changing it.
    /// Exit 0 when consistent (a torn tail is reported and still 0), exit 1
    /// with one line per finding (segment file, byte offset, LSNs) when
    /// there is corruption before the tail.
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
    /// Segments, LSN range, sizes, key ids, compression ratio and how the
    /// tail ends (read-only).
    ///
    /// --json fields: dir, segments, file_bytes (segment files, preallocated
    /// space included), data_bytes (each segment's bytes up to the end of
    /// the last record read from it: damage skipped before that counts),
    /// records, first_lsn, last_lsn,
    /// key_ids, stored_payload_bytes and logical_payload_bytes (payloads as
    /// stored and as read), compression_ratio (logical / stored; null when
    /// unknown or the log is damaged), tail ("clean", "zero-filled",
    /// "stale", "torn"), tail_clean, torn_detail, corrupt_ranges,
    /// read_error (why the logical fields are null, e.g. a missing key),
    /// segment_files (file, first_lsn, size, data_bytes, records,
    /// stored_payload_bytes, key_id), streams (how many), stream_list
    /// (every stream by id: id, first_index and last_index of its live
    /// entries, null when none; entries, live; next_index, the index its
    /// next append takes; first_lsn), stream_error (why the streams are
    /// unknown: a stream record that contradicts the others is corruption,
    /// exit 1). A segment whose header does not verify is corruption (exit
    /// 1), as for verify.
    #[command(after_help = AFTER_HELP)]
    Stat(StatArgs),
    /// The durable concurrent-append benchmark: for each writer count,
    /// writers append for a while on a fresh log; prints commits/s, MB/s,
    /// p50/p99 commit latency and the average group size, as measured.
    #[command(after_help = AFTER_HELP)]
    Bench(BenchArgs),
    /// Print a fresh 256-bit key (64 hex digits) from the OS random source,
    /// for --key-file.
    ///
    /// The key is a secret: redirect it to a file that only you can read,
    /// created under a restrictive umask, for example
    /// `(umask 077; groupwal keygen > wal.key)`. When standard output is a
    /// regular file that group or others may access, keygen first sets its
    /// mode to 0600, and prints nothing (exit 2) if it cannot.
    #[command(after_help = AFTER_HELP)]
    Keygen,
}

/// How appends become durable (see `groupwal::SyncMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SyncArg {
    /// No sync: survives a process crash, not a power loss.
    None,
    /// fdatasync after each group (the default).
    Data,
    /// fsync after each group.
    All,
    /// Files opened with O_DSYNC.
    Dsync,
    /// O_DIRECT | O_DSYNC (refused where the file system cannot do it).
    Direct,
}

impl From<SyncArg> for groupwal::SyncMode {
    fn from(s: SyncArg) -> Self {
        match s {
            SyncArg::None => groupwal::SyncMode::None,
            SyncArg::Data => groupwal::SyncMode::Data,
            SyncArg::All => groupwal::SyncMode::All,
            SyncArg::Dsync => groupwal::SyncMode::Dsync,
            SyncArg::Direct => groupwal::SyncMode::Direct,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    /// The log directory (created if missing).
    pub(crate) dir: PathBuf,
    /// How appends become durable.
    #[arg(long = "sync", value_enum, default_value = "data")]
    pub(crate) sync: SyncArg,
    /// Encrypt with the key file's key (see the key file format below).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Compress payloads with zstd where that makes them smaller.
    #[arg(long)]
    pub(crate) compress: bool,
    /// Print each record's LSN on its own line as soon as it is durable,
    /// in order, and nothing else.
    #[arg(long)]
    pub(crate) ack: bool,
    /// Append the lines as entries of stream ID (0 to 2^64-1), each at the
    /// stream's next index. Prints `INDEX<TAB>LSN` where it would print an
    /// LSN: the last entry's at the end (with no input, the stream's last
    /// index, 0 if it has none, and the log's last LSN), or with --ack each
    /// entry's.
    #[arg(long, value_name = "ID")]
    pub(crate) stream: Option<u64>,
    /// Segment file size in bytes: at least 4096, at most 1073741824
    /// (1 GiB; each segment is reserved whole on the disk). By default,
    /// 64 MiB.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u64)
            .range(groupwal::io::MIN_SEGMENT_SIZE..=groupwal::io::LogOptions::MAX_SEGMENT_SIZE)
    )]
    pub(crate) segment_size: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The log directory.
    pub(crate) dir: PathBuf,
    /// The first LSN to print (with --stream, the first index).
    #[arg(long, value_name = "LSN")]
    pub(crate) from: Option<u64>,
    /// The last LSN to print, inclusive (with --stream, the last index).
    #[arg(long, value_name = "LSN")]
    pub(crate) to: Option<u64>,
    /// Only the live entries of stream ID (0 to 2^64-1), in index order,
    /// each line starting with its index:
    /// `INDEX<TAB>LSN<TAB>length<TAB>preview`. The log is read twice: once
    /// to learn which entries are live (replaying every stream record),
    /// once to print them; damage anywhere in the log, or a stream record
    /// that contradicts the others, stops it before anything is printed
    /// (exit 1). A stream the log holds nothing of prints nothing.
    #[arg(long, value_name = "ID")]
    pub(crate) stream: Option<u64>,
    /// The key file of an encrypted log.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// One JSON object per line: lsn, len, type ("data", "checkpoint" or
    /// "stream"), flags (list of "compressed", "encrypted"), payload
    /// (base64); for a stream record also stream (its id), op ("append",
    /// "purge", "truncate", "copy") and index, with len and payload those
    /// of the entry after the stream header (or, for a header that does
    /// not decode, stream, op and index null, an error, and the whole
    /// payload).
    #[arg(long, conflicts_with = "payload")]
    pub(crate) json: bool,
    /// Each payload as is, followed by a newline; for a stream record, its
    /// entry (purges and truncations, which carry none, print nothing).
    #[arg(long)]
    pub(crate) payload: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The log directory.
    pub(crate) dir: PathBuf,
    /// The key file of an encrypted log (records are authenticated too).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct StatArgs {
    /// The log directory.
    pub(crate) dir: PathBuf,
    /// One JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// The key file of an encrypted log (needed for the logical size and
    /// the compression ratio).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Where to create the benchmark logs (a fresh subdirectory per run,
    /// removed afterwards). By default, a temporary directory. Measure on
    /// the disk you care about: /tmp may be a RAM file system, where a sync
    /// costs nothing.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Writer thread counts to run, comma separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "1,4,16,64"
    )]
    pub(crate) writers: Vec<usize>,
    /// Payload bytes per record.
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub(crate) size: usize,
    /// Seconds each writer count runs (unless --count ends it first).
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub(crate) seconds: f64,
    /// Records each writer appends, at most.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// How appends become durable.
    #[arg(long = "sync", value_enum, default_value = "data")]
    pub(crate) sync: SyncArg,
    /// One JSON object per writer count instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}
