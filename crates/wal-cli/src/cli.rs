//! The command line: commands, arguments and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

// What `-h` shows after every command's options: the exit codes. `--help`
// adds the notes that apply to the command (like ripgrep and fd: short
// help with -h, the long notes with --help).
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 success; 1 corruption found; 2 bad usage or an I/O error \
         (a missing directory, not a log directory, a missing or wrong key, a \
         disk error). Errors go to standard error, one line with their causes."
    };
}

macro_rules! key_file_notes {
    () => {
        "Key file (--key-file): the hexadecimal of a 256-bit key (64 hex digits), \
         a trailing newline allowed; that key has id 1. Or several lines `ID:HEX` \
         (ID from 1 to 4294967295; blank lines and lines starting with # are \
         ignored): all are used to read, and the highest ID encrypts what is \
         appended. `groupwal keygen --out FILE` makes one. A key file is a regular \
         file or a pipe (`--key-file <(command)`) of at most 8192 bytes; anything \
         else is refused (exit 2). A key file that group or others may access \
         gets a warning: make it private (chmod 600)."
    };
}

macro_rules! log_entry_notes {
    () => {
        "Log directory entries are never followed or opened unless they are \
         regular files, and none blocks a command: a symbolic link, FIFO, device \
         or directory under a segment's name is corruption (exit 1); under LOCK, \
         append refuses to lock the directory through it (exit 2; dump, verify and \
         stat never open LOCK); under CLEAN or a spare's name (spare-N.spare) it \
         is ignored."
    };
}

/// After `-h`: the exit codes.
const SHORT_AFTER: &str = exit_codes!();
/// After `--help` of a command that reads or writes a log.
const LOG_AFTER: &str = concat!(
    exit_codes!(),
    "\n\n",
    key_file_notes!(),
    "\n\n",
    log_entry_notes!()
);
/// After the tool's own help.
const TOP_AFTER: &str = concat!(
    exit_codes!(),
    "\n\n`groupwal COMMAND --help` shows a command's options and notes."
);

// The help above and below states these bounds in words.
const _: () = assert!(
    groupwal::io::MIN_SEGMENT_SIZE == 4096 && groupwal::io::LogOptions::MAX_SEGMENT_SIZE == 1 << 30
);
#[cfg(feature = "encryption")]
const _: () = assert!(crate::keys::MAX_KEY_FILE == 8192);

/// groupwal: append to, read, check and measure groupwal write-ahead logs.
#[derive(Debug, Parser)]
#[command(name = "groupwal", version, after_help = TOP_AFTER)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Append one record per line of standard input.
    ///
    /// Each line (without its newline) is submitted as soon as it arrives.
    /// Prints the last LSN at the end, or with --ack each record's LSN as
    /// soon as it is durable. With --stream, each line is an entry of that
    /// stream, and each line printed is `INDEX<TAB>LSN`.
    #[command(after_help = SHORT_AFTER, after_long_help = LOG_AFTER)]
    Append(AppendArgs),
    /// Print records in LSN order (read-only).
    ///
    /// Each record as `LSN<TAB>length<TAB>preview`, a stream record as
    /// `LSN<TAB>length<TAB>stream ID OP INDEX<TAB>preview` (the length and
    /// preview of its entry; a stream record whose header does not decode
    /// is shown, and is corruption, exit 1). With --stream, the live
    /// entries of one stream in index order. A --from past the end of the
    /// log (more than its last LSN + 1) is an error (exit 2); --from its
    /// last LSN + 1 prints nothing.
    #[command(after_help = SHORT_AFTER, after_long_help = LOG_AFTER)]
    Dump(DumpArgs),
    /// Check every record of a log, without changing it.
    ///
    /// Exit 0 when consistent (a torn tail is reported and still 0), exit 1
    /// with one line per finding (segment file, byte offset, LSNs) when
    /// there is corruption before the tail.
    #[command(after_help = SHORT_AFTER, after_long_help = LOG_AFTER)]
    Verify(VerifyArgs),
    /// Show what a log directory holds (read-only).
    ///
    /// Segments, LSN range, sizes, key ids, compression ratio, how the tail
    /// ends, streams. The compression ratio is logical payload bytes over
    /// stored ones, the 16-byte authentication tag of each encrypted record
    /// not counted (it is encryption's, not compression's).
    ///
    /// --json fields: dir, segments, file_bytes (segment files, preallocated
    /// space included), data_bytes (each segment's bytes up to the end of
    /// the last record read from it: damage skipped before that counts),
    /// records, first_lsn, last_lsn, key_ids, stored_payload_bytes and
    /// logical_payload_bytes (payloads as stored, tags included, and as
    /// read), compression_ratio (as above; null when unknown or the log is
    /// damaged), tail ("clean", "zero-filled", "stale", "torn"), tail_clean,
    /// torn_detail, corrupt_ranges, read_error (why the logical fields are
    /// null, e.g. a missing key: exit 2), segment_files (file, first_lsn,
    /// size, data_bytes, records, stored_payload_bytes, key_id), streams
    /// (how many), stream_list (every stream by id: id, first_index and
    /// last_index of its live entries, null when none; entries, live;
    /// next_index, the index its next append takes; first_lsn),
    /// stream_error (why the streams are unknown: a stream record that
    /// contradicts the others is corruption, exit 1). A segment whose
    /// header does not verify is corruption (exit 1), as for verify.
    #[command(after_help = SHORT_AFTER, after_long_help = LOG_AFTER)]
    Stat(StatArgs),
    /// Measure durable concurrent appends.
    ///
    /// For each writer count, writers append for a while on a fresh log
    /// (each append returns once its record is durable); prints records/s,
    /// syncs/s, MB/s, p50/p99 append latency and the average group size,
    /// as measured.
    #[command(after_help = SHORT_AFTER)]
    Bench(BenchArgs),
    /// Make a fresh 256-bit key for --key-file.
    ///
    /// 64 hex digits from the OS random source. With --out FILE, written
    /// to a new file with mode 0600. Without it, printed on standard
    /// output: redirect it to a file only you can read, created under a
    /// restrictive umask (`(umask 077; groupwal keygen > wal.key)`); when
    /// standard output is a regular file that group or others may access,
    /// keygen first sets its mode to 0600 (and prints nothing, exit 2, if
    /// it cannot); on a terminal it says where to put it.
    #[command(after_help = SHORT_AFTER)]
    Keygen(KeygenArgs),
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
    /// Encrypt with the key file's key (its format: --help).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Compress payloads with zstd where that makes them smaller.
    #[arg(long)]
    pub(crate) compress: bool,
    /// Print each record's LSN on its own line as soon as it is durable,
    /// in order, and nothing else.
    #[arg(long)]
    pub(crate) ack: bool,
    /// Append the lines as entries of stream ID.
    ///
    /// ID is 0 to 2^64-1; each line goes at the stream's next index.
    /// Prints `INDEX<TAB>LSN` where it would print an LSN: the last entry's
    /// at the end (with no input, the stream's last index, 0 if it has
    /// none, and the log's last LSN), or with --ack each entry's.
    #[arg(long, value_name = "ID")]
    pub(crate) stream: Option<u64>,
    /// Segment file size in bytes: at least 4096, at most 1073741824. By
    /// default, 64 MiB.
    ///
    /// Each segment is reserved whole on the disk.
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
    /// Only the live entries of stream ID, in index order.
    ///
    /// ID is 0 to 2^64-1. Each line starts with the entry's index:
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
    /// One JSON object per line.
    ///
    /// Fields: lsn, len, type ("data", "checkpoint" or "stream"), flags
    /// (list of "compressed", "encrypted"), payload (base64); for a stream
    /// record also stream (its id), op ("append",
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
    /// The key file of an encrypted log.
    ///
    /// Needed for the logical size, the compression ratio and the streams.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Where to create the benchmark logs. By default, a temporary directory.
    ///
    /// A fresh subdirectory per run, removed afterwards. Measure on the
    /// disk you care about: /tmp may be a RAM file system, where a sync
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
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
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

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Write the key to FILE instead of standard output.
    ///
    /// FILE is created with mode 0600 (readable by you alone); an existing
    /// file is never overwritten (exit 2).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}
