//! `groupwal dump`: records in LSN order, or one stream's live entries in
//! index order (`--stream`).

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use groupwal::format::{Flags, StreamHeader, StreamOp};
use groupwal::reader::{LogEnd, LogReader, LogRecord, RecoveryMode, TailKind};
use groupwal::{LogicalKind, Lsn, StreamReplay};

use crate::Outcome;
use crate::cli::DumpArgs;
use crate::error::{self, CliError, Code};

/// How many payload bytes the default format previews.
const PREVIEW: usize = 64;

pub(crate) fn run(args: &DumpArgs) -> Outcome {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return Err(CliError::usage(format!("--from {from} is after --to {to}")));
    }
    crate::logdir::check_dir(&args.dir)?;
    let options = crate::logdir::options(args.key_file.as_deref())?;
    let reader = crate::logdir::reader(
        &args.dir,
        &options,
        RecoveryMode::TolerateCorruptedTailRecords,
    )?;
    match args.stream {
        Some(id) => dump_stream(args, reader, id),
        None => dump_log(args, reader),
    }
}

/// Every record from `--from` to `--to`, in LSN order.
fn dump_log(args: &DumpArgs, mut reader: LogReader) -> Outcome {
    if let Some(from) = args.from {
        match reader.seek(Lsn::new(from)) {
            Ok(()) => {}
            // Asking for records from before the oldest is no error: print
            // what is there.
            Err(groupwal::reader::Error::Purged { oldest, .. }) => reader
                .seek(oldest)
                .map_err(|e| CliError::wal("seeking", e.into()))?,
            Err(e) => return Err(CliError::wal("seeking", e.into())),
        }
    }
    let to = args.to.map_or(Lsn::MAX, Lsn::new);
    let format = Format::of(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // The first stream record whose header does not decode: shown, then
    // reported once everything is.
    let mut invalid = None;
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => {
                out.flush().map_err(error::output)?;
                return Err(reading(&args.dir, e.into()));
            }
        };
        if record.lsn > to {
            break;
        }
        let body = Body::of(&record);
        if let Body::BadStream(reason, _) = &body
            && invalid.is_none()
        {
            invalid = Some(groupwal::Error::StreamRecord {
                lsn: record.lsn,
                reason: reason.clone(),
            });
        }
        match format {
            Format::Json => write_json(&mut out, &record, &body)?,
            Format::Payload => write_payload(&mut out, &body)?,
            Format::Line => write_line(&mut out, record.lsn, &body)?,
        }
    }
    out.flush().map_err(error::output)?;
    let end = reader.end();
    // A --from past the log's next LSN names records that do not exist:
    // a mistake, not an empty answer (the next LSN itself is "what comes
    // next", empty until a writer appends it).
    if let (Some(from), Some(end)) = (args.from, &end)
        && from > end.next_lsn.get()
    {
        return Err(CliError::usage(format!(
            "--from {from} is past the end of the log: its last lsn is {}",
            end.next_lsn.checked_prev().unwrap_or(Lsn::ZERO)
        )));
    }
    note_torn_tail(end);
    match invalid {
        Some(e) => Err(reading(&args.dir, e)),
        None => Ok(Code::Ok),
    }
}

/// The live entries of stream `id` from index `--from` to `--to`, in
/// index order. A first pass replays every record (no stream's state can
/// be known before the end of the log); the second reads the entries the
/// first found live, from the LSN of each.
fn dump_stream(args: &DumpArgs, mut reader: LogReader, id: u64) -> Outcome {
    let replay = replay_all(&args.dir, &mut reader)?;
    // Before the second pass's seeks forget it.
    let end = reader.end();
    let live = replay
        .stream(id)
        .and_then(|s| Some((s.first_index?, s.last_index?)));
    let Some((first, last)) = live else {
        note_torn_tail(end);
        return Ok(Code::Ok);
    };
    let from = args.from.map_or(first, |f| f.max(first));
    let to = args.to.map_or(last, |t| t.min(last));
    let format = Format::of(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // The LSN of the record the reader gave last: entries usually follow
    // it (read on), a copied entry may lie behind it (seek back).
    let mut at: Option<Lsn> = None;
    for index in from..=to {
        let moved = Moved {
            stream: id,
            index,
            lsn: replay.lsn(id, index),
        };
        let Some(lsn) = moved.lsn else {
            return Err(moved.into());
        };
        if at.is_none_or(|at| at >= lsn) {
            reader
                .seek(lsn)
                .map_err(|e| CliError::wal("seeking", e.into()))?;
        }
        // Read on to it.
        let record = loop {
            match reader.next_record() {
                Ok(Some(record)) if record.lsn < lsn => {}
                Ok(Some(record)) => break record,
                Ok(None) => return Err(moved.into()),
                Err(e) => {
                    out.flush().map_err(error::output)?;
                    return Err(reading(&args.dir, e.into()));
                }
            }
        };
        at = Some(record.lsn);
        let body = Body::of(&record);
        let entry = match &body {
            Body::Stream(h, entry)
                if record.lsn == lsn
                    && h.stream == id
                    && h.index == index
                    && h.op.carries_entry() =>
            {
                entry
            }
            _ => return Err(moved.into()),
        };
        match format {
            Format::Json => write_json(&mut out, &record, &body)?,
            Format::Payload => write_payload(&mut out, &body)?,
            Format::Line => write_entry_line(&mut out, index, lsn, entry)?,
        }
    }
    out.flush().map_err(error::output)?;
    note_torn_tail(end);
    Ok(Code::Ok)
}

/// Every stream of the log, from a replay of all its records.
fn replay_all(dir: &Path, reader: &mut LogReader) -> Result<StreamReplay, CliError> {
    let mut replay = StreamReplay::new();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => {
                if r.after_damage {
                    replay.skipped_damage();
                }
                replay
                    .apply(r.lsn, r.kind, r.payload)
                    .map_err(|e| reading(dir, e))?;
            }
            Ok(None) => break,
            Err(e) => return Err(reading(dir, e.into())),
        }
    }
    if !reader.skipped().is_empty() {
        replay.skipped_damage();
    }
    replay.finish().map_err(|e| reading(dir, e))?;
    Ok(replay)
}

/// Reading the log in `dir` failed.
fn reading(dir: &Path, e: groupwal::Error) -> CliError {
    CliError::wal(format!("reading {}", dir.display()), e)
}

/// A torn tail is not an error (nothing acknowledged is lost), but the
/// records after it are not shown: say so on standard error.
fn note_torn_tail(end: Option<LogEnd>) {
    let Some(end) = end.filter(|e| e.tail == TailKind::Torn) else {
        return;
    };
    let at = end
        .position
        .as_ref()
        .map(|(path, offset)| format!(" in {} at offset {offset}", path.display()))
        .unwrap_or_default();
    let _ = writeln!(
        std::io::stderr().lock(),
        "groupwal: dump: torn tail{at}: {}; the records after lsn {} are not shown",
        end.torn_detail.as_deref().unwrap_or("an unfinished write"),
        end.next_lsn.checked_prev().unwrap_or(Lsn::ZERO)
    );
}

/// The second pass of `dump --stream` did not find an entry where the
/// first pass placed it: the log changed between them (a writer removed
/// or added segments).
#[derive(Debug)]
struct Moved {
    stream: u64,
    index: u64,
    /// Where the first pass placed it, if it did.
    lsn: Option<Lsn>,
}

impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Moved { stream, index, .. } = self;
        match self.lsn {
            Some(lsn) => write!(f, "stream {stream} entry {index} is no longer at lsn {lsn}"),
            None => write!(f, "stream {stream} has no entry {index} any more"),
        }?;
        f.write_str(": the log changed while it was read")
    }
}

impl std::error::Error for Moved {}

impl From<Moved> for CliError {
    fn from(e: Moved) -> CliError {
        CliError::failure("dumping a stream", e)
    }
}

/// The output format the arguments ask for.
#[derive(Clone, Copy)]
enum Format {
    /// One line per record, a preview of its payload.
    Line,
    /// One JSON object per line.
    Json,
    /// The payloads as they are.
    Payload,
}

impl Format {
    fn of(args: &DumpArgs) -> Format {
        if args.json {
            Format::Json
        } else if args.payload {
            Format::Payload
        } else {
            Format::Line
        }
    }
}

/// A record's logical payload as it is shown: a stream record split into
/// its header and its entry.
enum Body<'a> {
    /// Not a stream record: the payload.
    Plain(&'a [u8]),
    /// A stream record and its entry (empty for a purge or truncation).
    Stream(StreamHeader, &'a [u8]),
    /// A stream record whose header does not decode (why), and its whole
    /// payload.
    BadStream(String, &'a [u8]),
}

impl<'a> Body<'a> {
    fn of(record: &LogRecord<'a>) -> Body<'a> {
        if record.kind != LogicalKind::Stream {
            return Body::Plain(record.payload);
        }
        match StreamHeader::decode(record.payload) {
            Ok((header, entry)) => Body::Stream(header, entry),
            Err(e) => Body::BadStream(e.to_string(), record.payload),
        }
    }

    /// The bytes shown as the payload.
    fn bytes(&self) -> &'a [u8] {
        match *self {
            Body::Plain(b) | Body::Stream(_, b) | Body::BadStream(_, b) => b,
        }
    }
}

/// `LSN<TAB>length<TAB>preview`; a stream record as
/// `LSN<TAB>length<TAB>stream ID OP INDEX<TAB>preview` (its entry's length
/// and preview).
fn write_line(out: &mut impl Write, lsn: Lsn, body: &Body<'_>) -> Result<(), CliError> {
    let bytes = body.bytes();
    let len = bytes.len();
    let preview = preview(bytes);
    match body {
        Body::Plain(_) => writeln!(out, "{lsn}\t{len}\t{preview}"),
        Body::Stream(h, _) => writeln!(
            out,
            "{lsn}\t{len}\tstream {} {} {}\t{preview}",
            h.stream,
            op_name(h.op),
            h.index
        ),
        Body::BadStream(reason, _) => {
            writeln!(out, "{lsn}\t{len}\tstream, invalid: {reason}\t{preview}")
        }
    }
    .map_err(error::output)
}

/// `INDEX<TAB>LSN<TAB>length<TAB>preview`: a stream entry.
fn write_entry_line(
    out: &mut impl Write,
    index: u64,
    lsn: Lsn,
    entry: &[u8],
) -> Result<(), CliError> {
    writeln!(out, "{index}\t{lsn}\t{}\t{}", entry.len(), preview(entry)).map_err(error::output)
}

/// Printable ASCII as is, other bytes as `.`, at most [`PREVIEW`] bytes,
/// then `...` if there is more.
fn preview(bytes: &[u8]) -> String {
    let shown = bytes.get(..PREVIEW).unwrap_or(bytes);
    let mut preview: String = shown
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    if shown.len() < bytes.len() {
        preview.push_str("...");
    }
    preview
}

/// The payload followed by a newline; a stream record's entry, nothing for
/// a purge or truncation (they carry none).
fn write_payload(out: &mut impl Write, body: &Body<'_>) -> Result<(), CliError> {
    if let Body::Stream(h, _) = body
        && !h.op.carries_entry()
    {
        return Ok(());
    }
    out.write_all(body.bytes()).map_err(error::output)?;
    out.write_all(b"\n").map_err(error::output)
}

fn write_json(
    out: &mut impl Write,
    record: &LogRecord<'_>,
    body: &Body<'_>,
) -> Result<(), CliError> {
    let bytes = body.bytes();
    let mut value = serde_json::json!({
        "lsn": record.lsn.get(),
        "len": bytes.len(),
        "type": kind_name(record.kind),
        "flags": flag_names(record.flags),
        "payload": base64::engine::general_purpose::STANDARD.encode(bytes),
    });
    let stream = match body {
        Body::Plain(_) => None,
        Body::Stream(h, _) => Some(serde_json::json!({
            "stream": h.stream,
            "op": op_name(h.op),
            "index": h.index,
        })),
        Body::BadStream(reason, _) => Some(serde_json::json!({
            "stream": null,
            "op": null,
            "index": null,
            "error": reason,
        })),
    };
    if let (Some(serde_json::Value::Object(fields)), Some(map)) = (stream, value.as_object_mut()) {
        map.extend(fields);
    }
    serde_json::to_writer(&mut *out, &value).map_err(|e| error::output(e.into()))?;
    out.write_all(b"\n").map_err(error::output)
}

/// `"data"`, `"checkpoint"` or `"stream"`.
pub(crate) fn kind_name(kind: LogicalKind) -> &'static str {
    match kind {
        LogicalKind::Checkpoint => "checkpoint",
        LogicalKind::Stream => "stream",
        _ => "data",
    }
}

/// `"append"`, `"purge"`, `"truncate"` or `"copy"`.
fn op_name(op: StreamOp) -> &'static str {
    match op {
        StreamOp::Append => "append",
        StreamOp::Purge => "purge",
        StreamOp::Truncate => "truncate",
        StreamOp::Copy => "copy",
        _ => "unknown",
    }
}

/// The names of the transforms a record was stored with.
pub(crate) fn flag_names(flags: Flags) -> Vec<&'static str> {
    let mut names = Vec::new();
    if flags.contains(Flags::COMPRESSED) {
        names.push("compressed");
    }
    if flags.contains(Flags::ENCRYPTED) {
        names.push("encrypted");
    }
    names
}
