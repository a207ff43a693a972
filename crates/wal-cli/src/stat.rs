//! `groupwal stat`: what a log directory holds (read-only).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use groupwal::format::{ENCRYPTION_TAG_LEN, Flags};
use groupwal::reader::{RecoveryMode, TailKind};
use groupwal::{Lsn, StreamInfo, StreamReplay};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::StatArgs;
use crate::error::{self, Code};

/// How many streams the text output lists (`--json` lists every one).
const STREAM_LINES: usize = 20;

pub(crate) fn run(args: &StatArgs) -> Outcome {
    crate::logdir::check_dir(&args.dir)?;
    let options = crate::logdir::options(args.key_file.as_deref())?;
    let mut reader =
        crate::logdir::reader(&args.dir, &options, RecoveryMode::SkipAnyCorruptedRecords)?;
    let mut segments: Vec<SegmentStat> = reader
        .segments()
        .map(|(path, header)| SegmentStat {
            path: path.to_path_buf(),
            first_lsn: header.first_lsn,
            size: std::fs::symlink_metadata(path).map_or(0, |m| m.len()),
            key_id: header.key_id.get(),
            data_end: groupwal::format::SEGMENT_HEADER_LEN as u64,
            records: 0,
            stored: 0,
        })
        .collect();
    let key_ids: BTreeSet<u32> = segments
        .iter()
        .map(|s| s.key_id)
        .filter(|&id| id != 0)
        .collect();
    let read = read_all(&mut reader, &mut segments);
    let stored: u64 = segments.iter().map(|s| s.stored).sum();
    let file_bytes: u64 = segments.iter().map(|s| s.size).sum();
    let data_bytes: u64 = segments.iter().map(|s| s.data_end).sum();
    let (records, first, last, logical, tags, read_error) = match &read {
        Ok(r) => (
            Some(r.records),
            r.first.map(Lsn::get),
            r.last.map(Lsn::get),
            Some(r.logical),
            r.tags,
            None,
        ),
        Err(e) => (None, None, None, None, 0, Some(e.to_string())),
    };
    let (streams, stream_error) = match read.as_ref().map(|r| &r.streams) {
        Ok(Ok(list)) => (Some(list.as_slice()), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (None, None),
    };
    let stream_values: Option<Vec<Value>> = streams.map(|list| {
        list.iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "first_index": s.first_index,
                    "last_index": s.last_index,
                    "entries": s.entries,
                    "next_index": s.next_index,
                    "first_lsn": s.first_lsn.map(Lsn::get),
                })
            })
            .collect()
    });
    let end = reader.end();
    let tail = end.as_ref().map(|e| e.tail);
    let torn_detail = end.as_ref().and_then(|e| e.torn_detail.clone());
    let corrupt = reader.skipped().len();
    // Compression's ratio: what encryption adds (a tag per record) is not
    // compression's.
    let compressed = stored.saturating_sub(tags);
    let ratio = logical
        .filter(|_| compressed > 0 && corrupt == 0)
        .map(|l| l as f64 / compressed as f64);
    let seg_values: Vec<Value> = segments
        .iter()
        .map(|s| {
            json!({
                "file": s.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "first_lsn": s.first_lsn.get(),
                "size": s.size,
                "data_bytes": s.data_end,
                "records": s.records,
                "stored_payload_bytes": s.stored,
                "key_id": s.key_id,
            })
        })
        .collect();
    let value = json!({
        "dir": args.dir.display().to_string(),
        "segments": segments.len(),
        "file_bytes": file_bytes,
        "data_bytes": data_bytes,
        "records": records,
        "first_lsn": first,
        "last_lsn": last,
        "key_ids": key_ids.iter().collect::<Vec<_>>(),
        "stored_payload_bytes": stored,
        "logical_payload_bytes": logical,
        "compression_ratio": ratio,
        "tail": tail.map(tail_name),
        "tail_clean": tail.map(|t| t != TailKind::Torn),
        "torn_detail": torn_detail,
        "corrupt_ranges": read.as_ref().ok().map(|_| corrupt),
        "read_error": read_error,
        "segment_files": seg_values,
        "streams": streams.map(<[StreamInfo]>::len),
        "stream_list": stream_values,
        "stream_error": stream_error,
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer(&mut out, &value).map_err(|e| error::output(e.into()))?;
        writeln!(out).map_err(error::output)?;
    } else {
        write_text(&mut out, &value).map_err(error::output)?;
    }
    out.flush().map_err(error::output)?;
    match read {
        // Damage reported is corruption, whatever else was shown; so is a
        // stream record that contradicts the others.
        Ok(r) if corrupt > 0 || r.streams.is_err() => Ok(Code::Corrupt),
        Ok(_) => Ok(Code::Ok),
        // What was shown is partial: say why, as every failing command
        // does, on standard error.
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "groupwal: {e}");
            Ok(e.code())
        }
    }
}

/// What `stat` shows of one segment.
struct SegmentStat {
    path: PathBuf,
    first_lsn: Lsn,
    size: u64,
    key_id: u32,
    /// Where its valid records end (the header's end if it has none).
    data_end: u64,
    /// Logical records read from it.
    records: u64,
    /// Their payload bytes as stored.
    stored: u64,
}

struct ReadAll {
    records: u64,
    first: Option<Lsn>,
    last: Option<Lsn>,
    logical: u64,
    /// The authentication tags of the encrypted records, in bytes: stored,
    /// but encryption's, not compression's.
    tags: u64,
    /// Every stream by id, or why they are unknown (a stream record that
    /// contradicts the others).
    streams: Result<Vec<StreamInfo>, groupwal::Error>,
}

/// Reads every record (skipping damage, which the reader counts) for the
/// logical view and the streams, and counts each segment's records as the
/// reader finds them.
fn read_all(
    reader: &mut groupwal::reader::LogReader,
    segments: &mut [SegmentStat],
) -> Result<ReadAll, crate::error::CliError> {
    let mut all = ReadAll {
        records: 0,
        first: None,
        last: None,
        logical: 0,
        tags: 0,
        streams: Ok(Vec::new()),
    };
    let mut replay = Ok(StreamReplay::new());
    loop {
        let (lsn, len, encrypted) = match reader.next_record() {
            Ok(Some(record)) => {
                if let Ok(r) = &mut replay {
                    if record.after_damage {
                        r.skipped_damage();
                    }
                    if let Err(e) = r.apply(record.lsn, record.kind, record.payload) {
                        // The streams' state is not the log's from here on.
                        replay = Err(e);
                    }
                }
                let encrypted = record.flags.contains(Flags::ENCRYPTED);
                (record.lsn, record.payload.len() as u64, encrypted)
            }
            Ok(None) => break,
            Err(e) => return Err(crate::error::CliError::wal("reading", e.into())),
        };
        all.records += 1;
        all.first.get_or_insert(lsn);
        all.last = Some(lsn);
        all.logical += len;
        if encrypted {
            all.tags += ENCRYPTION_TAG_LEN as u64;
        }
        if let Some(pos) = reader.last_position()
            && let Some(seg) = segments.iter_mut().find(|s| s.path == pos.segment)
        {
            seg.records += 1;
            seg.stored += pos.stored_len as u64;
            seg.data_end = seg.data_end.max(pos.end);
        }
    }
    all.streams = replay.and_then(|mut r| {
        if !reader.skipped().is_empty() {
            r.skipped_damage();
        }
        r.finish()?;
        let mut list = r.streams();
        list.sort_unstable_by_key(|s| s.id);
        Ok(list)
    });
    Ok(all)
}

fn tail_name(t: TailKind) -> &'static str {
    match t {
        TailKind::ZeroFilled => "zero-filled",
        TailKind::Stale => "stale",
        TailKind::Torn => "torn",
        _ => "clean",
    }
}

fn write_text(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let show = |v: &Value| match v {
        Value::Null => "unknown".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    writeln!(out, "directory:        {}", show(&v["dir"]))?;
    writeln!(out, "segments:         {}", show(&v["segments"]))?;
    writeln!(
        out,
        "lsn range:        {} ..= {} ({} records)",
        show(&v["first_lsn"]),
        show(&v["last_lsn"]),
        show(&v["records"])
    )?;
    writeln!(
        out,
        "bytes:            {} in files, {} of records",
        show(&v["file_bytes"]),
        show(&v["data_bytes"])
    )?;
    writeln!(
        out,
        "payload bytes:    {} logical, {} stored",
        show(&v["logical_payload_bytes"]),
        show(&v["stored_payload_bytes"])
    )?;
    let ratio = v["compression_ratio"].as_f64().map_or_else(
        || "unknown".to_string(),
        |r| format!("{r:.2} (logical / stored, encryption tags not counted)"),
    );
    writeln!(out, "compression:      {ratio}")?;
    let keys = v["key_ids"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map_or_else(
            || "none (not encrypted)".to_string(),
            |a| {
                a.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    writeln!(out, "key ids:          {keys}")?;
    let tail = match v["tail"].as_str() {
        Some("zero-filled") => crate::verify::tail_phrase(TailKind::ZeroFilled),
        Some("stale") => crate::verify::tail_phrase(TailKind::Stale),
        Some("torn") => crate::verify::tail_phrase(TailKind::Torn),
        Some(_) => crate::verify::tail_phrase(TailKind::Clean),
        None => "unknown",
    };
    writeln!(out, "tail:             {tail}")?;
    if let Some(d) = v["torn_detail"].as_str() {
        writeln!(out, "torn tail:        {d}")?;
    }
    if v["corrupt_ranges"].as_u64().is_some_and(|n| n > 0) {
        writeln!(
            out,
            "corrupt ranges:   {} (run `groupwal verify`)",
            show(&v["corrupt_ranges"])
        )?;
    }
    if let Some(e) = v["read_error"].as_str() {
        writeln!(out, "read error:       {e}")?;
    }
    write_streams(out, v)?;
    writeln!(out, "segment files:")?;
    if let Some(segs) = v["segment_files"].as_array() {
        for s in segs {
            writeln!(
                out,
                "  {}  first lsn {}  {} bytes ({} of records)  key id {}",
                show(&s["file"]),
                show(&s["first_lsn"]),
                show(&s["size"]),
                show(&s["data_bytes"]),
                show(&s["key_id"])
            )?;
        }
    }
    Ok(())
}

/// The streams, if the log has any (or why they are unknown): how many,
/// then a table of the first [`STREAM_LINES`] by id.
fn write_streams(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    if let Some(e) = v["stream_error"].as_str() {
        return writeln!(out, "streams:          unknown: {e}");
    }
    let Some(list) = v["stream_list"].as_array().filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    writeln!(out, "streams:          {}", list.len())?;
    let cell = |v: &Value| match v {
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let mut rows = vec![["id", "first", "last", "entries", "next"].map(String::from)];
    rows.extend(list.iter().take(STREAM_LINES).map(|s| {
        ["id", "first_index", "last_index", "entries", "next_index"].map(|k| cell(&s[k]))
    }));
    let mut widths = [0; 5];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        writeln!(out, "  {}", cells.join("  "))?;
    }
    if let Some(more) = list.len().checked_sub(STREAM_LINES).filter(|&n| n > 0) {
        writeln!(out, "  ... {more} more (stat --json lists every stream)")?;
    }
    Ok(())
}
