//! `groupwal stat`: what a log directory holds (read-only).

use std::collections::BTreeSet;
use std::io::Write;

use groupwal::Lsn;
use groupwal::reader::{RecoveryMode, TailKind};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::StatArgs;
use crate::error::{self, Code};

/// The largest physical payload the scan accepts (the facade's fragment
/// size plus room for an authentication tag).
const MAX_PAYLOAD: u32 = (1 << 20) + 64;

pub(crate) fn run(args: &StatArgs) -> Outcome {
    let segments = crate::logdir::segments(&args.dir)?;
    let mut seg_values = Vec::new();
    let mut key_ids = BTreeSet::new();
    let mut stored = 0u64;
    let mut file_bytes = 0u64;
    let mut data_bytes = 0u64;
    for seg in &segments {
        let scan = crate::logdir::scan(seg, MAX_PAYLOAD)?;
        stored += scan.stored_payload;
        file_bytes += seg.size;
        data_bytes += scan.data_end;
        let key_id = seg.header.as_ref().ok().map(|h| h.key_id.get());
        if let Some(id) = key_id.filter(|&id| id != 0) {
            key_ids.insert(id);
        }
        seg_values.push(json!({
            "file": seg.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "first_lsn": seg.first_lsn.get(),
            "size": seg.size,
            "data_bytes": scan.data_end,
            "records": scan.records,
            "stored_payload_bytes": scan.stored_payload,
            "key_id": key_id,
            "header_error": seg.header.as_ref().err().map(ToString::to_string),
        }));
    }

    // A full read for the logical view: LSN range, logical bytes, the tail.
    let options = crate::logdir::options(args.key_file.as_deref())?;
    let read = read_all(&args.dir, &options);
    let (records, first, last, logical, tail, torn_detail, corrupt, read_error) = match read {
        Ok(r) => (
            Some(r.records),
            r.first.map(Lsn::get),
            r.last.map(Lsn::get),
            Some(r.logical),
            Some(r.tail),
            r.torn_detail,
            Some(r.corrupt),
            None,
        ),
        Err(e) => (
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(e.to_string()),
        ),
    };
    // The scan stops at the first damage in a segment while the read skips
    // it, so the two cover the same records only in an undamaged log.
    let ratio = logical
        .filter(|_| stored > 0 && corrupt == Some(0))
        .map(|l| l as f64 / stored as f64);
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
        "corrupt_ranges": corrupt,
        "read_error": read_error,
        "segment_files": seg_values,
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
    Ok(Code::Ok)
}

struct ReadAll {
    records: u64,
    first: Option<Lsn>,
    last: Option<Lsn>,
    logical: u64,
    tail: TailKind,
    torn_detail: Option<String>,
    corrupt: usize,
}

/// Reads every record (skipping damage, counting it) for the logical view.
fn read_all(
    dir: &std::path::Path,
    options: &groupwal::WalOptions,
) -> Result<ReadAll, crate::error::CliError> {
    let mut reader = crate::logdir::reader(dir, options, RecoveryMode::SkipAnyCorruptedRecords)?;
    let mut all = ReadAll {
        records: 0,
        first: None,
        last: None,
        logical: 0,
        tail: TailKind::Clean,
        torn_detail: None,
        corrupt: 0,
    };
    while let Some(record) = reader
        .next_record()
        .map_err(|e| crate::error::CliError::wal("reading", e.into()))?
    {
        all.records += 1;
        all.first.get_or_insert(record.lsn);
        all.last = Some(record.lsn);
        all.logical += record.payload.len() as u64;
    }
    if let Some(end) = reader.end() {
        all.tail = end.tail;
        all.torn_detail = end.torn_detail;
    }
    all.corrupt = reader.skipped().len();
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
        |r| format!("{r:.2} (logical / stored)"),
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
    writeln!(out, "tail:             {}", show(&v["tail"]))?;
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
