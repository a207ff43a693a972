//! `groupwal verify`: reads the whole log and reports every damaged range,
//! without changing anything.
//!
//! It uses a [`groupwal::reader::LogReader`] (which never writes) in
//! [`RecoveryMode::SkipAnyCorruptedRecords`]: every damaged range is listed
//! and reading goes on after it (a record whose payload does not
//! authenticate or decompress included), so one run finds every finding; a
//! torn tail ends the data and is reported as such. With the key file of
//! an encrypted log, everything recovery authenticates is authenticated
//! here too: segment headers and their order, markers, records. Stream
//! records are replayed as opening the log replays them
//! ([`groupwal::StreamReplay`]): one that contradicts the others is a
//! finding.

use std::io::{IsTerminal, Write};

use groupwal::reader::{CorruptRange, RecoveryMode, TailKind};
use groupwal::{Lsn, StreamReplay};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::cli::VerifyArgs;
use crate::error::{self, CliError, Code};

pub(crate) fn run(args: &VerifyArgs) -> Outcome {
    crate::logdir::check_dir(&args.dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut findings = 0u64;

    let options = crate::logdir::options(args.key_file.as_deref())?;
    // Damage that stops the log from being read at all (a segment header
    // that does not verify, a foreign segment): one finding.
    let mut reader = match crate::logdir::open_reader(
        &args.dir,
        &options,
        RecoveryMode::SkipAnyCorruptedRecords,
    ) {
        Ok(reader) => reader,
        Err(e) => match crate::logdir::finding(&e) {
            Some(line) => return damaged(&mut out, &line, 1),
            None => {
                return Err(CliError::wal(
                    format!("opening {}", args.dir.display()),
                    e.into(),
                ));
            }
        },
    };
    let segments: Vec<(std::path::PathBuf, Lsn, u64)> = reader
        .segments()
        .map(|(path, header)| {
            let size = std::fs::symlink_metadata(path).map_or(0, |m| m.len());
            (path.to_path_buf(), header.first_lsn, size)
        })
        .collect();
    let total: u64 = segments.iter().map(|s| s.2).sum();
    let progress = progress_bar(total);
    // Progress by segment: the bytes of every segment whose records were
    // all passed.
    let mut passed = 0usize;
    let mut records = 0u64;
    let mut first: Option<Lsn> = None;
    let mut last: Option<Lsn> = None;
    let mut reported = 0usize;
    // Until a stream record contradicts the others. After damage the
    // skipping mode skipped, the replay takes what the skipped records
    // leave, as `Wal::open` does in that mode: a contradiction it still
    // finds is one the open refuses.
    let mut replay = Some(StreamReplay::new());
    loop {
        let (lsn, contradiction) = match reader.next_record() {
            Ok(Some(record)) => {
                let applied = replay.as_mut().map(|r| {
                    if record.after_damage {
                        r.skipped_damage();
                    }
                    r.apply(record.lsn, record.kind, record.payload)
                });
                (record.lsn, applied.and_then(Result::err))
            }
            Ok(None) => break,
            Err(e) => {
                progress.finish_and_clear();
                // What was skipped before it, then the error.
                for range in reader.skipped().get(reported..).unwrap_or_default() {
                    findings += 1;
                    writeln!(out, "{}", finding(range)).map_err(error::output)?;
                }
                if let Some(line) = crate::logdir::finding(&e) {
                    // Damage the skipping mode cannot read past.
                    return damaged(&mut out, &line, findings + 1);
                }
                out.flush().map_err(error::output)?;
                return Err(CliError::wal(
                    format!("reading {}", args.dir.display()),
                    e.into(),
                ));
            }
        };
        if let Some(e) = contradiction {
            replay = None;
            findings += 1;
            progress
                .suspend(|| writeln!(out, "corruption: {e}"))
                .map_err(error::output)?;
        }
        records += 1;
        first.get_or_insert(lsn);
        last = Some(lsn);
        for range in reader.skipped().get(reported..).unwrap_or_default() {
            findings += 1;
            progress
                .suspend(|| writeln!(out, "{}", finding(range)))
                .map_err(error::output)?;
        }
        reported = reader.skipped().len();
        while segments.get(passed + 1).is_some_and(|next| next.1 <= lsn) {
            progress.inc(segments.get(passed).map_or(0, |s| s.2));
            passed += 1;
        }
    }
    progress.finish_and_clear();
    for range in reader.skipped().get(reported..).unwrap_or_default() {
        findings += 1;
        writeln!(out, "{}", finding(range)).map_err(error::output)?;
    }
    if let Some(Err(e)) = replay.map(|mut r| {
        if !reader.skipped().is_empty() {
            r.skipped_damage();
        }
        r.finish()
    }) {
        findings += 1;
        writeln!(out, "corruption: {e}").map_err(error::output)?;
    }

    let range = match (first, last) {
        (Some(a), Some(b)) => format!("lsns {a}..={b}"),
        _ => "no records".to_string(),
    };
    writeln!(
        out,
        "verify: {records} records, {range}, {} segment(s)",
        segments.len()
    )
    .map_err(error::output)?;
    if let Some(end) = reader.end() {
        let at = end
            .position
            .as_ref()
            .map(|(path, offset)| format!(" in {} at offset {offset}", path.display()))
            .unwrap_or_default();
        // In the skipping mode, corruption with nothing valid after it ends
        // the data too: that is the finding above, not a torn write.
        let at_a_finding = end.position.as_ref().is_some_and(|(path, offset)| {
            reader
                .skipped()
                .last()
                .is_some_and(|r| &r.segment == path && r.offset >= *offset)
        });
        match end.tail {
            TailKind::Torn if at_a_finding => {
                writeln!(out, "tail: the data ends at the last finding{at}")
            }
            TailKind::Torn => writeln!(
                out,
                "torn tail{at}: {} (the end of a write no evidence shows was acknowledged, not damage: opening the log for writing cuts it{})",
                end.torn_detail.as_deref().unwrap_or("a partial write"),
                end.dropped
                    .map(|(a, b)| format!(" and drops lsns {a}..={b}"))
                    .unwrap_or_default()
            ),
            other => writeln!(out, "tail: {}{at}", tail_phrase(other)),
        }
        .map_err(error::output)?;
    }
    if findings > 0 {
        writeln!(
            out,
            "verify: {findings} finding(s) of corruption before the tail"
        )
        .map_err(error::output)?;
        out.flush().map_err(error::output)?;
        Ok(Code::Corrupt)
    } else {
        writeln!(out, "verify: ok").map_err(error::output)?;
        out.flush().map_err(error::output)?;
        Ok(Code::Ok)
    }
}

/// Damage that ends the reading: its finding line, and the count of
/// findings (this one included).
fn damaged(out: &mut impl Write, line: &str, findings: u64) -> Outcome {
    writeln!(out, "{line}").map_err(error::output)?;
    writeln!(out, "verify: {findings} finding(s); the log is damaged").map_err(error::output)?;
    out.flush().map_err(error::output)?;
    Ok(Code::Corrupt)
}

/// One line for a damaged range: kind, segment file, byte offset, LSNs.
pub(crate) fn finding(range: &CorruptRange) -> String {
    let lsns = match range.lsns {
        Some((a, b)) if a == b => format!("lsn {a}"),
        Some((a, b)) => format!("lsns {a}..={b}"),
        None => "lsn unknown".to_string(),
    };
    format!(
        "corruption: {} in {} at offset {} ({lsns}), valid data resumes at offset {}: {}",
        range.kind,
        range.segment.display(),
        range.offset,
        range.end_offset,
        range.detail
    )
}

/// A bar over the log's bytes on standard error, drawn only when standard
/// error is a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("verify {bar:40} {bytes}/{total_bytes} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// How the data ends, in the words `verify` and `stat` both use.
pub(crate) fn tail_phrase(tail: TailKind) -> &'static str {
    match tail {
        TailKind::ZeroFilled => "clean (preallocated space follows)",
        TailKind::Stale => "clean (an earlier use of the file follows)",
        TailKind::Torn => "torn (the end of a write no evidence shows was acknowledged)",
        _ => "clean",
    }
}
