//! `groupwal dump`: records in LSN order.

use std::io::Write;

use base64::Engine;
use groupwal::format::Flags;
use groupwal::reader::{LogRecord, RecoveryMode, TailKind};
use groupwal::{LogicalKind, Lsn};

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
    let mut reader = crate::logdir::reader(
        &args.dir,
        &options,
        RecoveryMode::TolerateCorruptedTailRecords,
    )?;
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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => {
                out.flush().map_err(error::output)?;
                return Err(CliError::wal(
                    format!("reading {}", args.dir.display()),
                    e.into(),
                ));
            }
        };
        if record.lsn > to {
            break;
        }
        if args.json {
            write_json(&mut out, &record)?;
        } else if args.payload {
            out.write_all(record.payload).map_err(error::output)?;
            out.write_all(b"\n").map_err(error::output)?;
        } else {
            write_line(&mut out, &record)?;
        }
    }
    out.flush().map_err(error::output)?;
    if let Some(end) = reader.end().filter(|e| e.tail == TailKind::Torn) {
        // Not an error (nothing acknowledged is lost), but the records
        // after it are not shown: say so.
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
    Ok(Code::Ok)
}

/// `LSN<TAB>length<TAB>preview`: printable ASCII as is, other bytes as
/// `.`, at most [`PREVIEW`] bytes, then `...` if there is more.
fn write_line(out: &mut impl Write, record: &LogRecord<'_>) -> Result<(), CliError> {
    let shown = record.payload.get(..PREVIEW).unwrap_or(record.payload);
    let preview: String = shown
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    let more = if shown.len() < record.payload.len() {
        "..."
    } else {
        ""
    };
    writeln!(
        out,
        "{}\t{}\t{preview}{more}",
        record.lsn,
        record.payload.len()
    )
    .map_err(error::output)
}

fn write_json(out: &mut impl Write, record: &LogRecord<'_>) -> Result<(), CliError> {
    let value = serde_json::json!({
        "lsn": record.lsn.get(),
        "len": record.payload.len(),
        "type": kind_name(record.kind),
        "flags": flag_names(record.flags),
        "payload": base64::engine::general_purpose::STANDARD.encode(record.payload),
    });
    serde_json::to_writer(&mut *out, &value).map_err(|e| error::output(e.into()))?;
    out.write_all(b"\n").map_err(error::output)
}

/// `"data"` or `"checkpoint"`.
pub(crate) fn kind_name(kind: LogicalKind) -> &'static str {
    match kind {
        LogicalKind::Checkpoint => "checkpoint",
        _ => "data",
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
